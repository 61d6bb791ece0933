"""CIFAR-10 through tensorflow-datasets, and how to prepare it offline.

``load_split`` reads tfds's ``cifar10`` (50,000 train, 10,000 test images) from a data
directory: the argument, else tfds's default (``$TFDS_DATA_DIR`` or
``~/tensorflow_datasets``). It never downloads: where the dataset is not prepared it raises
``DatasetNotPreparedError`` with the command that prepares it.

``prepare_offline`` builds that same dataset with no network from the CIFAR-10 *binary*
archive (``cifar-10-binary.tar.gz``, or its extracted ``cifar-10-batches-bin/`` folder).
It runs tfds's own ``cifar10`` builder (its ``_split_generators`` and
``_generate_examples``, so features, ids, splits and file layout are tfds's) and replaces
only the builder's one download by the local archive. tfds's registered checksum is not
consulted: copies of the archive differ in tar metadata (see the data README). Instead the
archive is validated record by record with ``hw4jax.data.cifar10_archive.read_splits`` (sizes,
labels; records are fixed-size bytes, nothing is unpickled) before tfds writes anything, so
a truncated or corrupt archive is a ValueError naming the file, never a short dataset.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.image_classification.cifar import Cifar10

from hw4jax.data import cifar10_archive
from hw4jax.data.tf_devices import hide_gpus_from_tensorflow

NAME = "cifar10"
PREPARE_COMMAND = (
    "python scripts/prepare_cifar10.py --archive /path/to/cifar-10-binary.tar.gz "
    "--data-dir {data_dir}"
)


class DatasetNotPreparedError(ValueError):
    """tfds's cifar10 is not prepared in the data directory (and is never downloaded)."""


class _Cifar10FromFolder(Cifar10, skip_registration=True):
    """tfds's cifar10 builder whose one download is an already extracted local folder.

    Same name, version and features as the registered builder, so the prepared files are
    the ones ``tfds.load('cifar10')`` reads. Not registered: ``tfds.builder('cifar10')``
    stays tfds's own class.
    """

    name = NAME

    def __init__(self, *, source_root: Path, **kwargs):
        self._source_root = source_root
        super().__init__(**kwargs)

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download: the builder reads the local folder.
        return super()._split_generators(_LocalFolder(self._source_root))


class _LocalFolder:
    """Stands in for tfds's DownloadManager in ``Cifar10._split_generators``, the one
    method it calls answered by the local folder holding ``cifar-10-batches-bin/``."""

    def __init__(self, root: Path):
        self._root = root

    def download_and_extract(self, url: str) -> str:
        del url
        return os.fspath(self._root)


def _data_dir_or_default(data_dir: str | os.PathLike | None) -> str:
    return os.fspath(data_dir) if data_dir is not None else tfds.core.constants.DATA_DIR


def _source_root(archive: Path, workdir: Path) -> Path:
    """The folder that holds ``cifar-10-batches-bin/``, as the builder expects: the archive
    extracted by tfds into ``workdir``; a folder holding ``cifar-10-batches-bin/``; or, for
    a folder of the ``*.bin`` files itself, ``workdir`` with a link to it."""
    if archive.is_dir():
        if (archive / cifar10_archive.FOLDER).is_dir():
            return archive
        (workdir / cifar10_archive.FOLDER).symlink_to(archive.resolve(), target_is_directory=True)
        return workdir
    dl_manager = tfds.download.DownloadManager(
        download_dir=workdir / "downloads", extract_dir=workdir / "extracted"
    )
    try:
        return Path(dl_manager.extract(os.fspath(archive)))
    except Exception as e:  # tfds wraps every failure in its own ExtractError.
        raise ValueError(f"{archive}: cannot extract ({e}); it is truncated or corrupt") from e


def prepare_offline(
    archive: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    *,
    records_per_file: int | None = cifar10_archive.RECORDS_PER_FILE,
) -> tfds.core.DatasetInfo:
    """Prepares tfds's ``cifar10`` in ``data_dir`` from the binary archive, with no network.

    Afterwards ``tfds.load('cifar10', data_dir=data_dir)`` (and ``load_split``) read it like
    any downloaded copy: features image uint8 (32, 32, 3), label ClassLabel(10), id. A
    dataset already prepared there is kept and the archive is not read.

    Args:
      archive: ``cifar-10-binary.tar.gz`` or its extracted ``cifar-10-batches-bin/`` folder
        (or the folder holding it); default ``cifar10_archive.default_archive_path()``.
      data_dir: tfds data directory; default tfds's (``$TFDS_DATA_DIR`` or
        ``~/tensorflow_datasets``).
      records_per_file: records each ``*.bin`` file must hold (the official 10,000); None
        accepts any whole number (the tiny archives tests write).

    Returns:
      The prepared dataset's ``tfds.core.DatasetInfo`` (splits and their sizes).

    Raises:
      ValueError: the archive is missing, truncated or corrupt (the message names the file).
    """
    archive = Path(archive) if archive is not None else cifar10_archive.default_archive_path()
    data_dir = _data_dir_or_default(data_dir)
    registered = tfds.builder(NAME, data_dir=data_dir)
    if registered.is_prepared():
        return registered.info
    # Every record checked before tfds writes anything: clear errors, no short dataset.
    cifar10_archive.read_splits(archive, records_per_file=records_per_file)
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cifar10-prepare-", dir=data_dir) as workdir:
        workdir = Path(workdir)
        root = _source_root(archive, workdir)
        meta = root / cifar10_archive.FOLDER / "batches.meta.txt"
        if not meta.is_file():
            raise ValueError(
                f"{archive}: no {cifar10_archive.FOLDER}/batches.meta.txt (the label names) "
                "inside; is this the CIFAR-10 *binary* archive?"
            )
        builder = _Cifar10FromFolder(source_root=root, data_dir=data_dir)
        builder.download_and_prepare(
            download_dir=workdir / "downloads",
            # Offline: never ask GCS for a ready-made copy.
            download_config=tfds.download.DownloadConfig(try_download_gcs=False),
        )
    return tfds.builder(NAME, data_dir=data_dir).info


def _builder(data_dir: str | os.PathLike | None) -> tfds.core.DatasetBuilder:
    return tfds.builder(NAME, data_dir=None if data_dir is None else os.fspath(data_dir))


def load_split(split: str, *, data_dir: str | os.PathLike | None = None) -> tf.data.Dataset:
    """One split of tfds's cifar10, read in its stored (deterministic) order, never downloaded.

    Args:
      split: 'train' (50,000) or 'test' (10,000), or any tfds split string ('train[:10%]').
      data_dir: tfds data directory; default tfds's (``$TFDS_DATA_DIR`` or
        ``~/tensorflow_datasets``).

    Returns:
      A dataset of {'image': uint8 [32, 32, 3], 'label': int64 []}, with known cardinality.
      Decoded images are cached in memory (about 150 MB for train) when first read through,
      so reuse the returned dataset across epochs.

    Raises:
      DatasetNotPreparedError (a ValueError): the dataset is not prepared in the data dir;
        the message gives the command that prepares it offline.
    """
    hide_gpus_from_tensorflow()
    builder = _builder(data_dir)
    try:
        ds = builder.as_dataset(split=split, shuffle_files=False)
    except AssertionError as e:  # tfds's way of saying "not prepared here"
        where = _data_dir_or_default(data_dir)
        raise DatasetNotPreparedError(
            f"tfds dataset {NAME!r} is not prepared in {where} (tried {builder.data_dir}) "
            "and is never downloaded here; prepare it offline from the CIFAR-10 binary "
            f"archive: {PREPARE_COMMAND.format(data_dir=where)}"
        ) from e
    ds = ds.map(
        lambda ex: {"image": ex["image"], "label": ex["label"]},
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return ds.cache()


def num_examples(split: str, *, data_dir: str | os.PathLike | None = None) -> int:
    """Examples in a split (train 50,000, test 10,000), as ``load_split`` would yield them.

    Raises:
      DatasetNotPreparedError: as ``load_split``.
    """
    return int(load_split(split, data_dir=data_dir).cardinality())
