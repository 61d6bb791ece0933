"""CIFAR-10 through tfds: offline preparation from the binary archive, loading, errors."""

import io
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from script_loader import load_script

from hw4jax.data import cifar10
from hw4jax.data.cifar10_archive import CLASS_NAMES, FOLDER, read_splits

TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]
RECORDS = 3  # per file in the tiny archives


def _records(rng: np.random.Generator, n: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """n valid records: (bytes, images uint8 [n, 32, 32, 3], labels [n])."""
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    planes = images.transpose(0, 3, 1, 2).reshape(n, -1)
    return np.concatenate([labels[:, None], planes], axis=1).tobytes(), images, labels


def _write_tiny(path: Path, *, corrupt: str | None = None, meta: bool = True):
    """A tiny cifar-10-binary.tar.gz (or extracted folder, if path has no .tar.gz suffix):
    RECORDS records per file, the one named by ``corrupt`` cut short by 5 bytes.

    Returns {split: (images, labels)} in file order.
    """
    rng = np.random.default_rng(0)
    files, expected = {}, {"train": ([], []), "test": ([], [])}
    for name in TRAIN_FILES + ["test_batch.bin"]:
        data, images, labels = _records(rng, RECORDS)
        files[name] = data[:-5] if name == corrupt else data
        split = "test" if name == "test_batch.bin" else "train"
        expected[split][0].append(images)
        expected[split][1].append(labels)
    if meta:
        files["batches.meta.txt"] = ("\n".join(CLASS_NAMES) + "\n\n").encode()
    if path.name.endswith(".tar.gz"):
        with tarfile.open(path, "w:gz") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(f"{FOLDER}/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    else:
        (path / FOLDER).mkdir(parents=True)
        for name, data in files.items():
            (path / FOLDER / name).write_bytes(data)
    return {k: (np.concatenate(x), np.concatenate(y)) for k, (x, y) in expected.items()}


def _by_id(split_ds) -> dict[str, dict]:
    return {ex["id"].decode(): ex for ex in tfds.as_numpy(split_ds)}


@pytest.mark.parametrize("kind", ["cifar-10-binary.tar.gz", "extracted", FOLDER])
def test_prepare_offline_tiny_archive_reads_back_through_tfds_load(tmp_path, kind):
    """A tiny archive (the tar.gz, the folder it extracts to, or the cifar-10-batches-bin
    folder inside) prepares with no network into a dataset that plain tfds.load reads:
    tfds's features, split sizes, ids, and every record's pixels and label as written."""
    source = tmp_path / "cifar-10-binary.tar.gz"
    if kind != source.name:
        source = tmp_path / "extracted"
        source.mkdir()
    expected = _write_tiny(source)
    if kind == FOLDER:
        source = source / FOLDER
    data_dir = tmp_path / "tfds"
    info = cifar10.prepare_offline(source, data_dir, records_per_file=None)
    assert {k: v.num_examples for k, v in info.splits.items()} == {"train": 15, "test": 3}

    loaded = tfds.load("cifar10", data_dir=str(data_dir), download=False)
    features = tfds.builder("cifar10", data_dir=str(data_dir)).info.features
    assert features["image"].shape == (32, 32, 3) and features["label"].num_classes == 10
    assert features["label"].names == list(CLASS_NAMES)
    for split, (images, labels) in expected.items():
        examples = _by_id(loaded[split])
        assert len(examples) == len(labels)
        for i in range(len(labels)):
            ex = examples[f"{split}_{i:05d}"]
            np.testing.assert_array_equal(ex["image"], images[i])
            assert ex["label"] == labels[i]


def test_load_split_yields_image_and_label_only(tmp_path):
    """load_split gives {'image': uint8 [32, 32, 3], 'label': int64} with a known size, and
    num_examples agrees."""
    archive = tmp_path / "cifar-10-binary.tar.gz"
    _write_tiny(archive)
    cifar10.prepare_offline(archive, tmp_path / "tfds", records_per_file=None)
    ds = cifar10.load_split("test", data_dir=tmp_path / "tfds")
    assert set(ds.element_spec) == {"image", "label"}
    assert ds.element_spec["image"].shape == (32, 32, 3)
    assert ds.element_spec["image"].dtype.name == "uint8"
    assert ds.element_spec["label"].dtype.name == "int64"
    assert cifar10.num_examples("test", data_dir=tmp_path / "tfds") == 3
    assert len(list(ds)) == 3


def test_truncated_archive_is_a_value_error_naming_the_file_and_prepares_nothing(tmp_path):
    """A file cut short is a ValueError naming it; nothing is left behind to load."""
    archive = tmp_path / "cifar-10-binary.tar.gz"
    _write_tiny(archive, corrupt="data_batch_3.bin")
    with pytest.raises(ValueError, match="data_batch_3.bin"):
        cifar10.prepare_offline(archive, tmp_path / "tfds", records_per_file=None)
    with pytest.raises(cifar10.DatasetNotPreparedError):
        cifar10.load_split("train", data_dir=tmp_path / "tfds")


def test_official_record_count_is_required_by_default(tmp_path):
    """By default each file must hold the official 10,000 records: a short-but-whole file is
    refused rather than silently giving a small dataset."""
    archive = tmp_path / "cifar-10-binary.tar.gz"
    _write_tiny(archive)
    with pytest.raises(ValueError, match="10000 records"):
        cifar10.prepare_offline(archive, tmp_path / "tfds")


def test_missing_label_names_file_is_a_value_error(tmp_path):
    """An archive without batches.meta.txt (the label names tfds reads) is a clear error."""
    archive = tmp_path / "cifar-10-binary.tar.gz"
    _write_tiny(archive, meta=False)
    with pytest.raises(ValueError, match="batches.meta.txt"):
        cifar10.prepare_offline(archive, tmp_path / "tfds", records_per_file=None)


def test_unprepared_data_dir_is_one_value_error_with_the_prepare_command(tmp_path):
    """Neither a prepared dataset nor a download: one ValueError naming the data dir and
    giving the exact offline command (and nothing is written there)."""
    data_dir = tmp_path / "empty"
    with pytest.raises(ValueError) as err:
        cifar10.load_split("train", data_dir=data_dir)
    message = str(err.value)
    assert str(data_dir) in message
    assert (
        "python scripts/prepare_cifar10.py --archive /path/to/cifar-10-binary.tar.gz "
        f"--data-dir {data_dir}" in message
    )
    assert not data_dir.exists()


def _prepare_script():
    return load_script("prepare_cifar10.py")


def test_prepare_script_exits_2_with_one_line_on_a_bad_archive(tmp_path, capsys):
    """The script prints one 'error: ...' line naming the bad file and exits with 2."""
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(b"not a tar file")
    status = _prepare_script().main(["--archive", str(archive), "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1 and err[0].startswith("error: ") and str(archive) in err[0]


# --------------------------------------------------------------------- the real archive


@pytest.fixture(scope="session")
def real_data_dir(cifar10_archive, tmp_path_factory):
    """The real archive prepared once per test session (tens of seconds: tfds encodes
    60,000 PNGs)."""
    data_dir = tmp_path_factory.mktemp("tfds_real")
    start = time.perf_counter()
    cifar10.prepare_offline(cifar10_archive, data_dir)
    print(f"prepared the real CIFAR-10 in {time.perf_counter() - start:.0f} s")
    return data_dir


def test_real_archive_prepares_to_tfds_cifar10(real_data_dir, cifar10_archive):
    """The real archive through tfds.load: 50,000 / 10,000 examples, train_00000..4 labelled
    6, 9, 9, 4, 1 with train_00000's red row starting 59, 43, 50, 68, 98 (tfds stores
    examples in its own shuffled order, so they are found by id), and the whole test split
    equal to the archive's records."""
    loaded = tfds.load("cifar10", data_dir=str(real_data_dir), download=False)
    assert {k: int(v.cardinality()) for k, v in loaded.items()} == {"train": 50_000, "test": 10_000}

    # Only the five wanted train examples are decoded.
    first = tf.constant([f"train_{i:05d}" for i in range(5)])
    train = tfds.load(
        "cifar10",
        split="train",
        data_dir=str(real_data_dir),
        download=False,
        decoders={"image": tfds.decode.SkipDecoding()},
    ).filter(lambda ex: tf.reduce_any(ex["id"] == first))
    train = {ex["id"].decode(): ex for ex in tfds.as_numpy(train)}
    assert [train[f"train_{i:05d}"]["label"] for i in range(5)] == [6, 9, 9, 4, 1]
    image = tf.io.decode_png(train["train_00000"]["image"]).numpy()
    np.testing.assert_array_equal(image[0, :5, 0], [59, 43, 50, 68, 98])

    images, labels = read_splits(cifar10_archive, ("test",))["test"]
    test = _by_id(loaded["test"])
    order = np.array([int(test[f"test_{i:05d}"]["label"]) for i in range(10_000)])
    np.testing.assert_array_equal(order, labels)
    pixels = np.stack([test[f"test_{i:05d}"]["image"] for i in range(10_000)])
    np.testing.assert_array_equal(pixels, images)
