"""Reads the CIFAR-10 *binary* archive (``cifar-10-binary.tar.gz``) with numpy alone.

The archive holds ``cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin``; each record
is 3,073 bytes: one label byte, then the 32x32 red, green and blue planes, row-major.
Records are read as fixed-size bytes (nothing is unpickled), and every file is checked
for its exact size, so a truncated or corrupt archive is an error naming the file, never
a silently short dataset.

This module needs only numpy so that the torchvision fixture scripts (run in a separate
virtual environment) can share it.
"""

from __future__ import annotations

import os
import tarfile
import zlib
from pathlib import Path

import numpy as np

# One image, (height, width, channels): what every hw4jax pipeline and model takes.
IMAGE_SHAPE = (32, 32, 3)
# The ten classes in label order (the archive's batches.meta.txt, tfds's ClassLabel names).
CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
RECORD_BYTES = 1 + 32 * 32 * 3
RECORDS_PER_FILE = 10_000
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILES = ("test_batch.bin",)
SPLIT_FILES = {"train": TRAIN_FILES, "test": TEST_FILES}
FOLDER = "cifar-10-batches-bin"


def decode_records(data: bytes, *, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Decodes CIFAR-10 binary records.

    Args:
      data: the bytes of one ``*.bin`` file, a whole number of 3,073-byte records.
      source: a name for error messages (the file).

    Returns:
      images uint8 [N, 32, 32, 3] (HWC), labels int64 [N] in 0..9.

    Raises:
      ValueError: the size is not a whole number of records, or a label is out of range.
    """
    if len(data) == 0 or len(data) % RECORD_BYTES:
        raise ValueError(
            f"{source}: {len(data)} bytes is not a whole number of {RECORD_BYTES}-byte "
            "CIFAR-10 records; the file is truncated or corrupt: download or copy it again"
        )
    records = np.frombuffer(data, np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise ValueError(
            f"{source}: record {bad} has label {labels[bad]}, outside 0..9; the file is corrupt"
        )
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _read_members(archive: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """The bytes of ``cifar-10-batches-bin/<name>`` for each name, from a .tar.gz (read in
    one pass: gzip cannot seek) or from an extracted folder."""
    if archive.is_dir():
        folder = archive / FOLDER if (archive / FOLDER).is_dir() else archive
        out = {}
        for name in names:
            path = folder / name
            if not path.is_file():
                raise ValueError(f"{archive}: no {name} in the extracted CIFAR-10 folder")
            out[name] = path.read_bytes()
        return out
    wanted = {f"{FOLDER}/{name}": name for name in names}
    out = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = wanted.get(member.name.removeprefix("./"))
                if name is not None and member.isfile():
                    out[name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise ValueError(
            f"{archive}: cannot read the archive ({e}); it is truncated or corrupt"
        ) from e
    missing = [n for n in names if n not in out]
    if missing:
        raise ValueError(
            f"{archive}: no {FOLDER}/{missing[0]} inside; is this the CIFAR-10 *binary* "
            "archive (cifar-10-binary.tar.gz)?"
        )
    return out


def read_splits(
    archive: str | os.PathLike,
    splits: tuple[str, ...] = ("train", "test"),
    *,
    records_per_file: int | None = RECORDS_PER_FILE,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Reads splits ('train', 'test') of the CIFAR-10 binary archive in one pass.

    Args:
      archive: ``cifar-10-binary.tar.gz`` or the extracted ``cifar-10-batches-bin`` folder
        (or the folder holding it).
      splits: which splits: 'train' (data_batch_1..5, 50,000 images), 'test' (10,000).
      records_per_file: the exact number of records each file must hold (the official
        10,000); None accepts any whole number of records (tiny archives in tests).

    Returns:
      {split: (images uint8 [N, 32, 32, 3], labels int64 [N])}, in file order.

    Raises:
      ValueError: missing file, a file not exactly 10,000 records, or a corrupt record.
    """
    for split in splits:
        if split not in SPLIT_FILES:
            raise ValueError(f"unknown split {split!r}: use 'train' or 'test'")
    archive = Path(archive)
    if not archive.exists():
        raise ValueError(f"{archive}: no such file or folder")
    names = tuple(n for split in splits for n in SPLIT_FILES[split])
    data = _read_members(archive, names)
    result = {}
    for split in splits:
        images, labels = [], []
        for name in SPLIT_FILES[split]:
            expected = None if records_per_file is None else RECORD_BYTES * records_per_file
            if expected is not None and len(data[name]) != expected:
                raise ValueError(
                    f"{archive}: {name} has {len(data[name])} bytes, expected "
                    f"{expected} ({records_per_file} records); "
                    "the archive is truncated or corrupt"
                )
            x, y = decode_records(data[name], source=f"{archive}:{name}")
            images.append(x)
            labels.append(y)
        result[split] = (np.concatenate(images), np.concatenate(labels))
    return result


def read_split(
    archive: str | os.PathLike, split: str, *, records_per_file: int | None = RECORDS_PER_FILE
) -> tuple[np.ndarray, np.ndarray]:
    """One split of ``read_splits``: (images uint8 [N, 32, 32, 3], labels int64 [N])."""
    return read_splits(archive, (split,), records_per_file=records_per_file)[split]


def default_archive_path() -> Path:
    """Where the real archive lies beside a checkout: ``$HW4JAX_CIFAR10_ARCHIVE`` or
    ``<repo>/../shared/data/cifar10/cifar-10-binary.tar.gz``."""
    env = os.environ.get("HW4JAX_CIFAR10_ARCHIVE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared/data/cifar10/cifar-10-binary.tar.gz"
