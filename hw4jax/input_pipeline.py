"""tf.data input pipelines: reproducible augmented training batches, padded evaluation batches.

Training (``train_dataset``) builds an epoch (or several in a row, ``num_epochs``), each a
pure function of (seed, epoch):

* the split is held in memory as uint8 (150 MB for CIFAR-10's 50,000 images) and the whole
  of it is shuffled by a stateless permutation drawn from (seed, epoch), so every epoch has
  its own order and the same (seed, epoch) always gives the same order;
* batches are cut with ``drop_remainder``: one shape, so the jitted step never recompiles;
  the last ``num_examples % batch_size`` examples of each epoch's order are dropped (as in
  big_vision and the flax examples; a different remainder each epoch);
* example ``i`` of the split (its position in the split as read, stable across epochs, NOT
  its position after shuffling) is augmented with the stateless seed
  ``stateless_fold_in(augment_key(seed, epoch), i)``. Its augmentation therefore depends
  only on (seed, epoch, i): not on the batch it lands in, the batch size, parallelism,
  ``tf.data`` determinism options, the number of processes, or where a run resumed;
* batches are cut first and augmented whole (``augment.random_augment_batch``: the same
  pixels as ``random_augment`` image by image, about 4x less CPU), in parallel over batches;
  images stay uint8 until augmented, then are normalised to float32 in [-1, 1] last;
* ``skip_batches=k`` starts the epoch at its k-th batch: a run interrupted after k steps of
  an epoch resumes exactly, with the same batches it would have seen.

A trainer either builds each epoch, ``train_dataset(..., epoch=e, skip_batches=k)`` (k
nonzero only for the epoch it resumes in), or all the rest at once,
``train_dataset(..., epoch=e, skip_batches=k, num_epochs=total - e)``: the same batches,
with the split read into memory once.

Evaluation (``eval_dataset``) applies only the test transform and pads the last batch with
zero images whose ``mask`` is False (as big_vision does): every example is seen exactly once
and every batch has one shape.

Multi-host: each process keeps the examples i with ``i % process_count == process_index``
(``tf.data.Dataset.shard`` on the enumerated split), truncated to
``num_examples // process_count`` so all processes take the same number of steps; the
``batch_size`` argument is the per-process batch. Evaluation is not sharded.

TensorFlow only feeds the input pipeline: ``hide_gpus_from_tensorflow`` (called by every
dataset constructor here) keeps it off the accelerator that JAX uses.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from hw4jax import augment as augment_ops

IMAGE_SHAPE = (32, 32, 3)
# Distinct streams folded into the epoch key.
_SHUFFLE_STREAM, _AUGMENT_STREAM = 0, 1


def hide_gpus_from_tensorflow() -> None:
    """Makes TensorFlow see no GPU, so tf.data never takes the accelerator's memory.

    Harmless to call often. Once TensorFlow has initialised its devices the setting can no
    longer change (TF raises RuntimeError); that is ignored: whoever came first decided.
    """
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        pass


def _process(process_index: int | None, process_count: int | None) -> tuple[int, int]:
    if process_index is None or process_count is None:
        import jax  # only for the defaults: JAX's view of the processes.

        process_index = jax.process_index() if process_index is None else process_index
        process_count = jax.process_count() if process_count is None else process_count
    if not 0 <= process_index < process_count:
        raise ValueError(
            f"process_index {process_index} must lie in [0, process_count={process_count})"
        )
    return process_index, process_count


def _count(ds: tf.data.Dataset) -> int:
    """Number of elements: the cardinality where tf.data knows it, else counted."""
    n = int(ds.cardinality())
    if n == tf.data.INFINITE_CARDINALITY:
        raise ValueError("the dataset is infinite (repeated?); pass one pass over the split")
    if n == tf.data.UNKNOWN_CARDINALITY:
        n = int(ds.reduce(np.int64(0), lambda count, _: count + 1))
    return n


def epoch_keys(seed: int, epoch: int | tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The stateless seeds of one epoch: (shuffle key, augment key), each int64 [2].

    Derived from (seed, epoch) by ``tf.random.experimental.stateless_fold_in``; example i's
    augmentation seed is ``stateless_fold_in(augment_key, i)`` (see ``example_seeds``).
    """
    base = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
    fold_in = tf.random.experimental.stateless_fold_in
    return fold_in(base, _SHUFFLE_STREAM), fold_in(base, _AUGMENT_STREAM)


def example_seeds(augment_key: tf.Tensor, indices: tf.Tensor) -> tf.Tensor:
    """Per-example augmentation seeds, int64 [..., 2], for example indices int64 [...].

    Equal, element by element, to ``tf.random.experimental.stateless_fold_in(augment_key,
    i)``, which is ``[draw(augment_key), i]``: written out here so that a whole batch of
    seeds costs one op instead of one per example.
    """
    indices = tf.cast(indices, tf.int64)
    folded = tf.random.experimental.stateless_fold_in(augment_key, tf.constant(0, tf.int64))
    return tf.stack([tf.broadcast_to(folded[0], tf.shape(indices)), indices], axis=-1)


def _shard_in_memory(
    ds: tf.data.Dataset, process_index: int, process_count: int
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """This process's examples as tensors: (index int64 [n], image uint8 [n, 32, 32, 3],
    label int64 [n]), where index is the example's position in the whole split."""
    total = _count(ds)
    local = total // process_count
    if local == 0:
        raise ValueError(f"the split has {total} examples, fewer than {process_count} processes")
    shard = ds.enumerate().shard(process_count, process_index).take(local)
    index, example = shard.batch(local).get_single_element()
    return index, example["image"], example["label"]


def steps_per_epoch(num_examples: int, *, batch_size: int, process_count: int = 1) -> int:
    """Batches per epoch and process of ``train_dataset`` (the remainder is dropped)."""
    return (num_examples // process_count) // batch_size


def train_dataset(
    ds: tf.data.Dataset,
    *,
    batch_size: int,
    seed: int,
    epoch: int,
    augment: augment_ops.AugmentConfig | None,
    num_epochs: int = 1,
    skip_batches: int = 0,
    process_index: int | None = None,
    process_count: int | None = None,
    num_parallel_calls: int = tf.data.AUTOTUNE,
) -> tf.data.Dataset:
    """Shuffled, augmented training batches of epochs ``epoch .. epoch + num_epochs - 1``.

    Each epoch is a pure function of (seed, that epoch): ``num_epochs=3`` yields exactly the
    batches of three calls with ``num_epochs=1``, one after the other, but reads the split
    into memory once (about 1 s for CIFAR-10's train split when it is cached) instead of
    once per call.

    Args:
      ds: one pass over the split, {'image': uint8 [32, 32, 3], 'label': int [...]}, in a
        deterministic order (``cifar10.load_split('train')``).
      batch_size: examples per batch (per process).
      seed: the run's seed.
      epoch: the (first) epoch; each epoch has its own order and augmentations.
      augment: the random augmentation (``hw4jax.augment.AugmentConfig``), or None for none.
      num_epochs: how many epochs, one after the other; batches never straddle two.
      skip_batches: start the first epoch at this batch (exact resume after that many
        steps of it).
      process_index, process_count: this process's shard; default JAX's
        ``jax.process_index()`` and ``jax.process_count()``.
      num_parallel_calls: parallelism of the augmentation; it never changes the output.

    Returns:
      A dataset of ``num_epochs * steps_per_epoch(...) - skip_batches`` batches (its
      cardinality), each {'image': float32 [B, 32, 32, 3] (NHWC, ((x / 255) - 0.5) / 0.5),
      'label': int32 [B]}.

    Raises:
      ValueError: batch_size larger than the shard, skip_batches out of range, or a bad
        process_index.
    """
    hide_gpus_from_tensorflow()
    process_index, process_count = _process(process_index, process_count)
    if num_epochs < 1:
        raise ValueError(f"num_epochs {num_epochs} must be at least 1")
    indices, images, labels = _shard_in_memory(ds, process_index, process_count)
    n = int(indices.shape[0])
    steps = n // batch_size
    if batch_size < 1 or steps == 0:
        raise ValueError(f"batch_size {batch_size} must lie in [1, {n}] (examples per process)")
    if not 0 <= skip_batches <= steps:
        raise ValueError(f"skip_batches {skip_batches} must lie in [0, {steps}] (one epoch)")

    def epoch_positions(e):
        """Epoch e's batches: (positions int64 [B], augment key int64 [2]) each."""
        shuffle_key, augment_key = epoch_keys(seed, e)
        # Processes hold different examples: give each its own order too.
        shuffle_key = tf.random.experimental.stateless_fold_in(shuffle_key, process_index)
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), shuffle_key)
        skip = tf.where(e == epoch, skip_batches, 0)
        order = tf.reshape(order[skip * batch_size : steps * batch_size], [-1, batch_size])
        keys = tf.broadcast_to(augment_key, [tf.shape(order)[0], 2])
        return tf.data.Dataset.from_tensor_slices((order, keys))

    def make_batch(positions, augment_key):
        image = tf.gather(images, positions)
        if augment is not None:
            # Batched: the same pixels as random_augment image by image, several times faster.
            seeds = example_seeds(augment_key, tf.gather(indices, positions))
            image = augment_ops.random_augment_batch(seeds, image, augment)
        return {
            "image": augment_ops.to_float_normalized(image),
            "label": tf.cast(tf.gather(labels, positions), tf.int32),
        }

    out = tf.data.Dataset.range(epoch, epoch + num_epochs).flat_map(epoch_positions)
    # deterministic=True overrides any tf.data.Options the caller sets: batches come in
    # the order drawn above, whatever the parallelism.
    out = out.map(make_batch, num_parallel_calls=num_parallel_calls, deterministic=True)
    out = out.apply(tf.data.experimental.assert_cardinality(num_epochs * steps - skip_batches))
    return out.prefetch(tf.data.AUTOTUNE)


def eval_dataset(ds: tf.data.Dataset, *, batch_size: int) -> tf.data.Dataset:
    """Evaluation batches: the test transform only, every example exactly once, one shape.

    The last batch is padded with zero images, label 0 and ``mask`` False (big_vision's
    way): weight per-example results by ``mask``. Evaluation is not sharded per process.

    Args:
      ds: one pass over the split, {'image': uint8 [32, 32, 3], 'label': int [...]}.
      batch_size: examples per batch.

    Returns:
      ``ceil(num_examples / batch_size)`` batches {'image': float32 [B, 32, 32, 3] (NHWC,
      ((x / 255) - 0.5) / 0.5; 0 where padded), 'label': int32 [B], 'mask': bool [B]}.
    """
    hide_gpus_from_tensorflow()
    if batch_size < 1:
        raise ValueError(f"batch_size {batch_size} must be at least 1")
    n = _count(ds)
    examples = ds.map(
        lambda ex: {
            "image": ex["image"],
            "label": tf.cast(ex["label"], tf.int32),
            "mask": tf.constant(True),
        }
    )
    padding = tf.data.Dataset.from_tensors(
        {
            "image": tf.zeros(IMAGE_SHAPE, tf.uint8),
            "label": tf.constant(0, tf.int32),
            "mask": tf.constant(False),
        }
    ).repeat(-n % batch_size)
    batches = examples.concatenate(padding).batch(batch_size, drop_remainder=True)

    def finish(batch):
        keep = batch["mask"][:, None, None, None]
        return {**batch, "image": tf.where(keep, augment_ops.to_float_normalized(batch["image"]), 0.0)}

    return batches.map(finish, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def as_numpy_batches(ds: tf.data.Dataset) -> Iterator[dict[str, np.ndarray]]:
    """Iterates a dataset as dicts of numpy arrays (``tfds.as_numpy``), ready for JAX."""
    return iter(tfds.as_numpy(ds))


def measure_throughput(ds: tf.data.Dataset, *, num_batches: int, warmup: int = 5) -> float:
    """Images per second delivered as numpy batches, timed over ``num_batches`` batches
    after ``warmup`` untimed ones (which fill the prefetch buffers and trace the maps).

    Raises:
      ValueError: the dataset has fewer than ``warmup + num_batches`` batches.
    """
    batches = as_numpy_batches(ds)
    try:
        for _ in range(warmup):
            next(batches)
        images = 0
        start = time.perf_counter()
        for _ in range(num_batches):
            images += len(next(batches)["image"])
        elapsed = time.perf_counter() - start
    except StopIteration:
        raise ValueError(
            f"the dataset has fewer than warmup + num_batches = {warmup + num_batches} batches"
        ) from None
    return images / elapsed
