"""Where a run's batches come from: the ``Input`` the training loop takes, and CIFAR-10's.

The loop never builds a dataset itself: it calls ``Input.train_batches(epoch, skip)`` for
each epoch and ``Input.eval_batches()`` for each evaluation, and hands the batches to the
jitted steps (``Input.train_fn(mesh)``, ``Input.eval_fn(mesh)``). So another source plugs
in without touching the loop: batches another framework augmented
(``dataclasses.replace(input, train_batches=...)``), uint8 batches whose images are built
on the device inside the jitted train step (``prepare``), or data that lives on the device
with steps of its own (``make_train_step``/``make_eval_step``/``steps_in``: the device
input, ``hw4jax.training.device_input``).

TensorFlow (tf.data, tfds) is imported only when ``cifar10_input`` or ``dataset_input``
runs: the steps and the loop do not need it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterable, Iterator

import jax
import numpy as np
from jax.sharding import Mesh

from hw4jax.data.cifar10_archive import IMAGE_SHAPE
from hw4jax.training import steps
from hw4jax.training.config import Config
from hw4jax.training.sharding import global_max, global_sum

NumpyBatch = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Input:
    """A run's data, as the training loop uses it.

    Attributes:
      train_batches: (epoch, skip) -> epoch ``epoch``'s training batches from batch ``skip``
        on (this process's part, numpy: 'image' float32 [B, 32, 32, 3], 'label' int32 [B]);
        the same (epoch, skip) must give the same batches (exact resume).
      eval_batches: () -> the test set in padded batches with a 'mask' (False: padding),
        the same number of batches on every process.
      steps_per_epoch: batches of one epoch.
      train_examples, test_examples: the split sizes, over all processes.
      prepare: applied to each training batch inside the jitted train step
        (``hw4jax.training.steps.train_step``), or None.
      make_train_step, make_eval_step: mesh -> the jitted step that takes this input's
        batches sharded over the mesh, (state, batch) -> (state, ``Totals``) and
        (state, batch) -> ``Totals``; None: ``steps.make_train_step(mesh, prepare)`` and
        ``steps.make_eval_step(mesh)``, for the batches described above.
      steps_in: batch -> the optimizer steps one training batch makes (an input whose step
        scans several batches per call); None: 1. Without ``make_train_step``, batches
        with a ``steps_in`` are ``steps.train_steps``'s: k batches stacked on axis 1.
    """

    train_batches: Callable[[int, int], Iterable[NumpyBatch]]
    eval_batches: Callable[[], Iterable[NumpyBatch]]
    steps_per_epoch: int
    train_examples: int
    test_examples: int
    prepare: Callable[[dict], dict] | None = None
    make_train_step: Callable[[Mesh], Callable] | None = None
    make_eval_step: Callable[[Mesh], Callable] | None = None
    steps_in: Callable[[NumpyBatch], int] | None = None

    def train_fn(self, mesh: Mesh) -> Callable:
        """The jitted train step of this input's batches on ``mesh``."""
        if self.make_train_step is not None:
            return self.make_train_step(mesh)
        if self.steps_in is not None:
            return steps.make_train_steps(mesh, self.prepare)
        return steps.make_train_step(mesh, self.prepare)

    def eval_fn(self, mesh: Mesh) -> Callable:
        """The jitted eval step of this input's batches on ``mesh``."""
        if self.make_eval_step is not None:
            return self.make_eval_step(mesh)
        return steps.make_eval_step(mesh)


def cifar10_input(config: Config) -> Input:
    """tfds's CIFAR-10 (``hw4jax.data.cifar10``), the first ``config.train_examples`` /
    ``test_examples`` of each split, prepared offline from ``config.archive`` first where
    that is given and the dataset is not yet prepared in ``config.data_dir``.

    Raises:
      ValueError: not prepared and no archive (``DatasetNotPreparedError``), or too few
        examples for one batch.
    """
    from hw4jax.data import cifar10

    if config.archive is not None:
        # Returns at once where the dataset is already prepared in data_dir.
        cifar10.prepare_offline(config.archive, config.data_dir)

    def split(name: str, n: int | None) -> str:
        return name if n is None else f"{name}[:{n}]"

    train = cifar10.load_split(split("train", config.train_examples), data_dir=config.data_dir)
    test = cifar10.load_split(split("test", config.test_examples), data_dir=config.data_dir)
    return dataset_input(train, test, config)


def dataset_input(train_ds, test_ds, config: Config) -> Input:
    """The ``Input`` of two tf.data splits ({'image': uint8 [32, 32, 3], 'label': int []},
    one pass each, in a deterministic order): ``hw4jax.data.pipeline``'s augmented training
    batches (``config``'s batch size, seed and augmentation) and padded evaluation batches.
    Each process takes its own shard of both splits. With ``config.input == 'device'``, the
    same batches built on the device instead (``hw4jax.training.device_input``).

    Raises:
      ValueError: the training split makes no batch of ``config.batch_size``.
    """
    from hw4jax import augment
    from hw4jax.data import pipeline

    process_count, process_index = jax.process_count(), jax.process_index()
    local_batch = config.batch_size // process_count
    local_eval_batch = config.eval_batch_size // process_count
    n_train = pipeline.count_examples(train_ds)
    # The training pipeline shards by process itself (equal shards); the test set is
    # sharded here, shards differing by at most one example, padded to equal batch counts.
    if process_count > 1:
        test_ds = test_ds.shard(process_count, process_index)
    n_test = pipeline.count_examples(test_ds)
    n_steps = pipeline.steps_per_epoch(n_train, batch_size=local_batch, process_count=process_count)
    if n_steps == 0:
        raise ValueError(
            f"{n_train} training examples make no batch of {config.batch_size}: "
            "lower --batch-size or use more --train-examples"
        )
    if config.input == "device":
        from hw4jax.training import device_input

        return device_input.device_input(train_ds, test_ds, config)
    augment_config = augment.AugmentConfig() if config.augment else None

    def train_batches(epoch: int, skip: int) -> Iterator[NumpyBatch]:
        return pipeline.as_numpy_batches(
            pipeline.train_dataset(
                train_ds,
                batch_size=local_batch,
                seed=config.seed,
                epoch=epoch,
                augment=augment_config,
                skip_batches=skip,
            )
        )

    eval_batches = math.ceil(global_max(n_test) / local_eval_batch)
    k = config.steps_per_call
    return Input(
        train_batches=train_batches if k == 1 else _stacked(train_batches, k),
        eval_batches=lambda: _padded_to(
            pipeline.as_numpy_batches(pipeline.eval_dataset(test_ds, batch_size=local_eval_batch)),
            eval_batches,
            local_eval_batch,
        ),
        steps_per_epoch=n_steps,
        train_examples=n_train,
        test_examples=global_sum(n_test),
        steps_in=None if k == 1 else _steps_in_stack,
    )


def _stacked(
    train_batches: Callable[[int, int], Iterable[NumpyBatch]], k: int
) -> Callable[[int, int], Iterator[NumpyBatch]]:
    """``train_batches`` with every k consecutive batches stacked (``steps.stack_steps``: the
    batches of one ``steps.train_steps`` call; the epoch's last call takes the batches left,
    and so compiles once more where k does not divide the epoch)."""

    def stacked(epoch: int, skip: int) -> Iterator[NumpyBatch]:
        batches = iter(train_batches(epoch, skip))
        while group := list(itertools.islice(batches, k)):
            yield steps.stack_steps(group)

    return stacked


def _steps_in_stack(batch: NumpyBatch) -> int:
    return batch["label"].shape[1]


def _padded_to(batches: Iterator[NumpyBatch], count: int, batch_size: int) -> Iterator[NumpyBatch]:
    """``batches`` followed by all-padding batches, ``count`` in all: every process then runs
    the same number of (collective) eval steps."""
    empty = {
        "image": np.zeros((batch_size, *IMAGE_SHAPE), np.float32),
        "label": np.zeros((batch_size,), np.int32),
        "mask": np.zeros((batch_size,), bool),
    }
    return itertools.islice(itertools.chain(batches, itertools.repeat(empty)), count)
