"""The tf.data pipelines: reproducible shuffled/augmented train epochs, padded eval batches."""

import functools

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from hw4jax import augment
from hw4jax.data import cifar10, throughput
from hw4jax.data import pipeline as ip

N = 40  # examples in the synthetic split


def _split(n: int = N) -> tf.data.Dataset:
    """A split whose example i is recognisable: label i, and pixels that differ per i."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    return tf.data.Dataset.from_tensor_slices({"image": images, "label": np.arange(n)})


def _normalised(images: np.ndarray) -> np.ndarray:
    """ToTensor + Normalize(0.5, 0.5) in float32, as the pipeline computes it."""
    x = images.astype(np.float32) / np.float32(255.0)
    return (x - np.float32(0.5)) / np.float32(0.5)


def _batches(ds) -> list[dict[str, np.ndarray]]:
    return list(ip.as_numpy_batches(ds))


def _train(**kwargs):
    kwargs = {
        "batch_size": 8,
        "seed": 0,
        "epoch": 0,
        "augment": None,
        "process_index": 0,
        "process_count": 1,
    } | kwargs
    return ip.train_dataset(kwargs.pop("ds", _split()), **kwargs)


@functools.cache
def _augmented(**kwargs) -> tuple[dict[str, np.ndarray], ...]:
    """The batches of an augmenting pipeline, built once per set of arguments: building
    (tracing the augmentation) dominates these tests' time."""
    return tuple(_batches(_train(augment=augment.AugmentConfig(), **kwargs)))


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["label"], y["label"])
        np.testing.assert_array_equal(x["image"], y["image"])


def test_train_epoch_is_a_normalised_permutation_with_the_remainder_dropped():
    """One epoch: N // B full batches of float32 NHWC images ((x/255)-0.5)/0.5 and int32
    labels, every kept example once (a permutation, not the file order), the rest dropped."""
    n, batch = 43, 8
    images = np.stack([x["image"] for x in tfds.as_numpy(_split(n))])
    batches = _batches(_train(ds=_split(n), batch_size=batch))
    assert len(batches) == n // batch
    for b in batches:
        assert b["image"].shape == (batch, 32, 32, 3) and b["image"].dtype == np.float32
        assert b["label"].shape == (batch,) and b["label"].dtype == np.int32
        np.testing.assert_array_equal(b["image"], _normalised(images[b["label"]]))
    seen = np.concatenate([b["label"] for b in batches])
    assert len(set(seen)) == len(seen) == (n // batch) * batch
    assert not np.array_equal(seen, np.arange(len(seen)))


def test_same_seed_and_epoch_give_identical_batches_whatever_the_parallelism():
    """Same (seed, epoch): bitwise the same augmented batches with 1 or AUTOTUNE parallel
    calls, with tf.data's deterministic option off, and with augmentation chunks that do
    not line up with the batches (3 examples, batches of 8: chunks straddle batches and
    epochs, the last chunk of an epoch is short)."""
    relaxed = tf.data.Options()
    relaxed.deterministic = False
    parallel = _train(augment=augment.AugmentConfig(), num_parallel_calls=tf.data.AUTOTUNE)
    _assert_same(_augmented(num_parallel_calls=1), _batches(parallel.with_options(relaxed)))
    two_epochs = _augmented() + _augmented(epoch=1)
    _assert_same(two_epochs, _augmented(augment_chunk=3, num_epochs=2))
    with pytest.raises(ValueError, match="augment_chunk"):
        _train(augment_chunk=0)


def _augmented_by_example(batches) -> dict[int, np.ndarray]:
    return {int(i): x for b in batches for i, x in zip(b["label"], b["image"])}


def test_augmentation_depends_only_on_seed_epoch_and_example():
    """Example i's augmentation is the same whatever batch it lands in (batch sizes 4 and 8
    order examples differently), and changes with the epoch and with the seed; the order
    changes with the epoch too."""
    by_4 = _augmented_by_example(_augmented(batch_size=4))
    by_8 = _augmented_by_example(_augmented())
    assert by_4.keys() == by_8.keys()
    for i in by_8:
        np.testing.assert_array_equal(by_4[i], by_8[i])

    epoch_0 = _augmented()
    epoch_1 = _augmented(epoch=1)
    order = lambda bs: np.concatenate([b["label"] for b in bs])  # noqa: E731
    assert not np.array_equal(order(epoch_0), order(epoch_1))
    other_epoch = _augmented_by_example(epoch_1)
    other_seed = _augmented_by_example(_augmented(seed=1))
    for other in (other_epoch, other_seed):
        shared = by_8.keys() & other.keys()
        assert shared and all(not np.array_equal(by_8[i], other[i]) for i in shared)


def test_example_i_is_augmented_with_the_documented_parameters():
    """Example i in epoch e is exactly apply_params(image_i, sample_params_from_uniforms(
    epoch_uniforms(augment_key(seed, e), N)[i])), to uint8 then normalised: the chunked,
    planar pipeline changes nothing, and this is the contract a resumed or re-sharded run
    relies on."""
    config = augment.AugmentConfig()
    images = np.stack([x["image"] for x in tfds.as_numpy(_split())])
    _, key = ip.epoch_keys(0, 1)
    uniforms = ip.epoch_uniforms(key, N)
    assert uniforms.shape == (N, augment.NUM_UNIFORMS)
    for i, image in _augmented_by_example(_augmented(epoch=1)).items():
        params = augment.sample_params_from_uniforms(uniforms[i], config)
        expected = augment.apply_params(tf.constant(images[i]), params)
        np.testing.assert_array_equal(image, _normalised(expected.numpy()))


def test_skip_batches_resumes_mid_epoch_and_num_epochs_chains_epochs():
    """skip_batches=k yields exactly the epoch's batches from the k-th on; num_epochs=2
    yields epoch e then epoch e + 1 (skip applying to the first only), and the cardinality
    says how many batches."""
    epoch_0, epoch_1 = list(_augmented()), list(_augmented(epoch=1))
    _assert_same(epoch_0[2:], _augmented(skip_batches=2))
    chained = _train(augment=augment.AugmentConfig(), skip_batches=2, num_epochs=2)
    assert int(chained.cardinality()) == len(epoch_0) - 2 + len(epoch_1)
    _assert_same(epoch_0[2:] + epoch_1, _batches(chained))
    with pytest.raises(ValueError, match="skip_batches"):
        _train(skip_batches=len(epoch_0) + 1)


def test_processes_get_disjoint_equal_shards():
    """Two processes see disjoint examples, the same number of batches each, and together
    the whole split; example i is augmented the same as on one process."""
    single = _augmented_by_example(_augmented(batch_size=4))
    shards = [_augmented(batch_size=4, process_index=p, process_count=2) for p in range(2)]
    assert len(shards[0]) == len(shards[1]) == N // 2 // 4
    seen = [set(_augmented_by_example(s)) for s in shards]
    assert not seen[0] & seen[1] and seen[0] | seen[1] == set(range(N))
    for shard in shards:
        for i, image in _augmented_by_example(shard).items():
            np.testing.assert_array_equal(image, single[i])
    with pytest.raises(ValueError, match="process_index"):
        _train(process_index=2, process_count=2)


@pytest.mark.parametrize("n, batch", [(43, 8), (40, 8), (3, 8)])
def test_eval_counts_every_example_once_with_one_shape(n, batch):
    """Eval batches all have shape [B]; masked-in examples are the split, each once, with
    the test transform only; padding is zero images, label 0, mask False."""
    images = np.stack([x["image"] for x in tfds.as_numpy(_split(n))])
    batches = _batches(ip.eval_dataset(_split(n), batch_size=batch))
    assert len(batches) == -(-n // batch)
    for b in batches:
        assert b["image"].shape == (batch, 32, 32, 3) and b["image"].dtype == np.float32
        assert b["label"].shape == b["mask"].shape == (batch,) and b["mask"].dtype == bool
    mask = np.concatenate([b["mask"] for b in batches])
    labels = np.concatenate([b["label"] for b in batches])
    image = np.concatenate([b["image"] for b in batches])
    assert mask.sum() == n and mask[:n].all()
    np.testing.assert_array_equal(labels[mask], np.arange(n))
    np.testing.assert_array_equal(image[mask], _normalised(images))
    assert not image[~mask].any() and not labels[~mask].any()


def test_pipelines_run_on_tfds_mock_data():
    """Offline end to end: load_split under tfds.testing.mock_data feeds both pipelines."""
    with tfds.testing.mock_data(num_examples=20):
        train = cifar10.load_split("train")
        test = cifar10.load_split("test")
        batches = _batches(_train(ds=train, augment=augment.AugmentConfig(), batch_size=8))
        evals = _batches(ip.eval_dataset(test, batch_size=8))
    assert len(batches) == 2 and batches[0]["image"].shape == (8, 32, 32, 3)
    assert len(evals) == 3 and sum(b["mask"].sum() for b in evals) == 20


def test_tensorflow_sees_no_gpu_and_throughput_is_measured():
    """After the constructors ran, TensorFlow has no visible GPU; measure_throughput gives a
    positive rate and refuses a dataset too short to time or nothing to time;
    train_pipeline_throughput times a pipeline longer than one epoch."""
    ds = _train()
    assert tf.config.get_visible_devices("GPU") == []
    measured = throughput.measure_throughput(ds, num_batches=2, warmup=1)
    assert measured.images_per_second > 0 and measured.cpu_seconds_per_image > 0
    with pytest.raises(ValueError, match="fewer than"):
        throughput.measure_throughput(ds, num_batches=10, warmup=1)
    with pytest.raises(ValueError, match="num_batches 0"):
        throughput.measure_throughput(ds, num_batches=0)
    # The benchmark's wrapper spans epochs as needed: 1 + 6 batches of 8 from 40 examples.
    measured = throughput.train_pipeline_throughput(
        _split(), batch_size=8, num_batches=6, warmup=1, augment=None
    )
    assert measured.images_per_second > 0 and measured.cpu_seconds_per_image > 0


def test_bad_batch_size_is_a_value_error():
    """A batch larger than the split is refused (it would yield nothing)."""
    with pytest.raises(ValueError, match="batch_size"):
        _train(batch_size=N + 1)
