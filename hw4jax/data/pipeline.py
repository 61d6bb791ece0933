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
  its position after shuffling) is augmented with the parameters
  ``augment.sample_params_from_uniforms(epoch_uniforms(augment_key, num_examples)[i])``
  (``augment_key`` from ``epoch_keys(seed, epoch)``). Its augmentation therefore depends
  only on (seed, epoch, i): not on the batch it lands in, the batch size, parallelism,
  ``tf.data`` determinism options, the number of processes, or where a run resumed;
* examples are augmented in chunks of ``AUGMENT_CHUNK`` (``augment.apply_params_normalized``
  on a batch: the same pixels as image by image, several times less CPU), in parallel over
  chunks, then cut into batches; the chunk size never changes the output;
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

import dataclasses
from collections.abc import Iterator

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from hw4jax import augment as augment_ops
from hw4jax.data.cifar10_archive import IMAGE_SHAPE
from hw4jax.data.tf_devices import hide_gpus_from_tensorflow

# Examples augmented per call of the batched augmentation, independent of the batch size:
# the cheapest per image of the sizes measured (16 to 512). Smaller calls pay TensorFlow's
# per-op cost more often, larger ones fall out of the L2 cache.
AUGMENT_CHUNK = 64
# Distinct streams folded into the epoch key.
_SHUFFLE_STREAM, _AUGMENT_STREAM = 0, 1


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


def count_examples(ds: tf.data.Dataset) -> int:
    """Number of elements of one pass over a split: the cardinality where tf.data knows it,
    else counted (decoding only, nothing is augmented).

    Raises:
      ValueError: the dataset is infinite.
    """
    n = int(ds.cardinality())
    if n == tf.data.INFINITE_CARDINALITY:
        raise ValueError("the dataset is infinite (repeated?); pass one pass over the split")
    if n == tf.data.UNKNOWN_CARDINALITY:
        n = int(ds.reduce(np.int64(0), lambda count, _: count + 1))
    return n


def epoch_keys(seed: int, epoch: int | tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """The stateless seeds of one epoch: (shuffle key, augment key), each int64 [2].

    Derived from (seed, epoch) by ``tf.random.experimental.stateless_fold_in``; example i's
    augmentation is row i of ``epoch_uniforms(augment_key, num_examples)``.
    """
    base = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
    fold_in = tf.random.experimental.stateless_fold_in
    return fold_in(base, _SHUFFLE_STREAM), fold_in(base, _AUGMENT_STREAM)


def epoch_uniforms(augment_key: tf.Tensor, num_examples: int) -> tf.Tensor:
    """The uniforms that augment one epoch: float32 [num_examples, NUM_UNIFORMS], row i for
    example i of the split (``augment.sample_params_from_uniforms`` turns a row into that
    example's parameters).

    One stateless draw for the whole split: an example's row depends only on the epoch's
    augment key and i, never on the process, the batch or the chunk it lands in; and one
    op draws what a draw per example (``augment.sample_params`` from a folded-in seed)
    would make TensorFlow loop over, op by op, for every image.
    """
    return tf.random.stateless_uniform(
        [num_examples, augment_ops.NUM_UNIFORMS], seed=augment_key, dtype=tf.float32
    )


def shard_in_memory(
    ds: tf.data.Dataset, process_index: int, process_count: int
) -> tuple[int, tf.Tensor, tf.Tensor, tf.Tensor]:
    """The split's size and this process's examples as tensors: (total, index int64 [n],
    image uint8 [n, 32, 32, 3], label int64 [n]), where index is the example's position in
    the whole split: what ``train_dataset`` holds in memory (and the device input,
    ``hw4jax.training.device_input``, puts on the device)."""
    total = count_examples(ds)
    local = total // process_count
    if local == 0:
        raise ValueError(f"the split has {total} examples, fewer than {process_count} processes")
    shard = ds.enumerate().shard(process_count, process_index).take(local)
    index, example = shard.batch(local).get_single_element()
    return total, index, example["image"], example["label"]


def epoch_order(seed: int, epoch: int | tf.Tensor, num_local: int, process_index: int) -> tf.Tensor:
    """The order of one process's examples in one epoch: a permutation of
    ``range(num_local)`` (positions in the process's shard), int64 [num_local], drawn from
    (seed, epoch, process_index) alone. ``train_dataset`` takes its batches from it, the
    first ``steps * batch_size`` positions in this order."""
    shuffle_key, _ = epoch_keys(seed, epoch)
    # Processes hold different examples: give each its own order too.
    shuffle_key = tf.random.experimental.stateless_fold_in(shuffle_key, process_index)
    return tf.random.experimental.stateless_shuffle(
        tf.range(num_local, dtype=tf.int64), shuffle_key
    )


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
    augment_chunk: int = AUGMENT_CHUNK,
    normalize: bool = True,
) -> tf.data.Dataset:
    """Shuffled, augmented training batches of epochs ``epoch .. epoch + num_epochs - 1``.

    Each epoch is a pure function of (seed, that epoch): ``num_epochs=3`` yields exactly the
    batches of three calls with ``num_epochs=1``, one after the other, but reads the split
    into memory once instead of once per call.

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
      augment_chunk: examples augmented per call, whatever the batch size; it never
        changes the output (only the CPU time: see ``AUGMENT_CHUNK``).
      normalize: False yields the augmented uint8 pixels instead, the same batches before
        ToTensor and Normalize (``augment.to_float_normalized`` of them is the normalized
        output, bit for bit): for another framework to train on this pipeline's batches.

    Returns:
      A dataset of ``num_epochs * steps_per_epoch(...) - skip_batches`` batches (its
      cardinality), each {'image': float32 [B, 32, 32, 3] (NHWC, ((x / 255) - 0.5) / 0.5;
      uint8 pixels with ``normalize=False``), 'label': int32 [B]}.

    Raises:
      ValueError: batch_size larger than the shard, skip_batches out of range, or a bad
        process_index.
    """
    hide_gpus_from_tensorflow()
    process_index, process_count = _process(process_index, process_count)
    if num_epochs < 1:
        raise ValueError(f"num_epochs {num_epochs} must be at least 1")
    total, indices, images, labels = shard_in_memory(ds, process_index, process_count)
    plan = _EpochPlan(
        seed=seed,
        first_epoch=epoch,
        skip_batches=skip_batches,
        batch_size=batch_size,
        chunk=augment_chunk,
        process_index=process_index,
        total=total,
        indices=indices,
        images=images,
        labels=labels,
        augment=augment,
        normalize=normalize,
    )
    out = tf.data.Dataset.range(epoch, epoch + num_epochs).flat_map(plan.epoch_chunks)
    # deterministic=True overrides any tf.data.Options the caller sets: batches come in
    # the order drawn above, whatever the parallelism.
    out = out.map(plan.chunk_examples, num_parallel_calls=num_parallel_calls, deterministic=True)
    # Every epoch holds a multiple of batch_size examples, so no batch straddles two
    # epochs and drop_remainder drops nothing (it only gives the batch a static size).
    out = out.rebatch(batch_size, drop_remainder=True)
    out = out.apply(tf.data.experimental.assert_cardinality(num_epochs * plan.steps - skip_batches))
    return out.prefetch(tf.data.AUTOTUNE)


@dataclasses.dataclass(frozen=True, eq=False)
class _EpochPlan:
    """One ``train_dataset`` call's shard in memory and settings; its methods are the
    tf.data functions that cut an epoch into augmentation chunks and augment a chunk."""

    seed: int
    first_epoch: int
    skip_batches: int
    batch_size: int
    chunk: int
    process_index: int
    total: int  # examples in the whole split (all processes)
    indices: tf.Tensor  # int64 [n]: each local example's position in the split
    images: tf.Tensor  # uint8 [n, 32, 32, 3]
    labels: tf.Tensor  # int64 [n]
    augment: augment_ops.AugmentConfig | None
    normalize: bool = True

    def __post_init__(self) -> None:
        n, steps = self.num_local, self.steps
        if self.batch_size < 1 or steps == 0:
            raise ValueError(
                f"batch_size {self.batch_size} must lie in [1, {n}] (examples per process)"
            )
        if self.chunk < 1:
            raise ValueError(f"augment_chunk {self.chunk} must be at least 1")
        if not 0 <= self.skip_batches <= steps:
            raise ValueError(
                f"skip_batches {self.skip_batches} must lie in [0, {steps}] (one epoch)"
            )

    @property
    def num_local(self) -> int:
        return int(self.indices.shape[0])

    @property
    def steps(self) -> int:
        """Batches per epoch of this process."""
        return self.num_local // self.batch_size

    def epoch_chunks(self, e: tf.Tensor) -> tf.data.Dataset:
        """Epoch e's examples in augmentation chunks: (positions int64 [<= chunk], their
        uniforms float32 [<= chunk, NUM_UNIFORMS]) each; the epoch's count is a multiple
        of batch_size."""
        _, augment_key = epoch_keys(self.seed, e)
        order = epoch_order(self.seed, e, self.num_local, self.process_index)
        skip = tf.where(e == self.first_epoch, self.skip_batches, 0)
        order = order[skip * self.batch_size : self.steps * self.batch_size]
        uniforms = epoch_uniforms(augment_key, self.total)

        def chunk(start):
            positions = order[start : start + self.chunk]
            return positions, tf.gather(uniforms, tf.gather(self.indices, positions))

        count = tf.cast(tf.shape(order)[0], tf.int64)
        return tf.data.Dataset.range(0, count, self.chunk).map(chunk)

    def chunk_examples(self, positions: tf.Tensor, uniforms: tf.Tensor) -> dict[str, tf.Tensor]:
        """The chunk's augmented images (normalised, or uint8) and int32 labels."""
        image = tf.gather(self.images, positions)
        if self.augment is not None:
            params = augment_ops.sample_params_from_uniforms(uniforms, self.augment)
            if not self.normalize:
                image = augment_ops.apply_params(image, params)
            else:  # fused: the same floats without the uint8 round trip
                image = augment_ops.apply_params_normalized(image, params)
        elif self.normalize:
            image = augment_ops.to_float_normalized(image)
        return {"image": image, "label": tf.cast(tf.gather(self.labels, positions), tf.int32)}


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
    n = count_examples(ds)
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
        image = tf.where(keep, augment_ops.to_float_normalized(batch["image"]), 0.0)
        return {**batch, "image": image}

    return batches.map(finish, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def as_numpy_batches(ds: tf.data.Dataset) -> Iterator[dict[str, np.ndarray]]:
    """Iterates a dataset as dicts of numpy arrays (``tfds.as_numpy``), ready for JAX."""
    return iter(tfds.as_numpy(ds))
