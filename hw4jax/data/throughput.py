"""Throughput of the tf.data pipelines: what ``scripts/bench.py`` and ``scripts/bench_pipeline.py``
time (benchmark code, kept apart from the pipelines themselves)."""

from __future__ import annotations

import time
from typing import NamedTuple

import tensorflow as tf

from hw4jax import augment as augment_ops
from hw4jax.data.pipeline import as_numpy_batches, count_examples, steps_per_epoch, train_dataset


class Throughput(NamedTuple):
    """What ``measure_throughput`` measured over its timed batches."""

    images_per_second: float  # wall clock
    cpu_seconds_per_image: float  # this process's CPU time (all its threads) per image


def measure_throughput(ds: tf.data.Dataset, *, num_batches: int, warmup: int = 5) -> Throughput:
    """Images per second delivered as numpy batches, and the CPU time per image it took,
    timed over ``num_batches`` batches after ``warmup`` untimed ones (which fill the
    prefetch buffers and trace the maps; building the dataset is not timed either).

    On a busy machine the wall rate says little; ``os.cpu_count() /
    cpu_seconds_per_image`` bounds what idle cores would deliver.

    Raises:
      ValueError: ``num_batches`` < 1, or the dataset has fewer than ``warmup +
        num_batches`` batches.
    """
    if num_batches < 1:
        raise ValueError(f"num_batches {num_batches} must be at least 1 (nothing to time)")
    batches = as_numpy_batches(ds)
    try:
        for _ in range(warmup):
            next(batches)
        images = 0
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(num_batches):
            images += len(next(batches)["image"])
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    except StopIteration:
        raise ValueError(
            f"the dataset has fewer than warmup + num_batches = {warmup + num_batches} batches"
        ) from None
    return Throughput(images / elapsed, cpu / images)


def train_pipeline_throughput(
    ds: tf.data.Dataset,
    *,
    batch_size: int,
    num_batches: int,
    augment: augment_ops.AugmentConfig | None,
    warmup: int = 5,
) -> Throughput:
    """``measure_throughput`` of this process's ``train_dataset`` of ``ds`` (seed 0, from
    epoch 0, as many epochs as ``warmup + num_batches`` batches need): what a benchmark of
    the training input pipeline times.

    Raises:
      ValueError: as ``train_dataset`` (a batch larger than the split, say).
    """
    steps = steps_per_epoch(count_examples(ds), batch_size=batch_size)
    train = train_dataset(
        ds,
        batch_size=batch_size,
        seed=0,
        epoch=0,
        augment=augment,
        num_epochs=-(-(warmup + num_batches) // max(steps, 1)),
        process_index=0,
        process_count=1,
    )
    return measure_throughput(train, num_batches=num_batches, warmup=warmup)
