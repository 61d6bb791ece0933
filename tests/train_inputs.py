"""Shared pieces of the training loop's tests: a tiny config, a run on tfds's mock
CIFAR-10, and inputs with something wrong in them."""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from hw4jax.training import inputs, loop
from hw4jax.training.config import get_config

MOCK_EXAMPLES = 20  # per split: 5 steps of 4 a training epoch, 3 eval batches of 8 (padded)


def tiny_config(**overrides):
    return get_config(
        epochs=2, batch_size=4, eval_batch_size=8, check_every_steps=2, progress=False, **overrides
    )


def run(config, workdir, **kwargs):
    """train_and_evaluate on the mock splits (MOCK_EXAMPLES images each)."""
    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
        return loop.train_and_evaluate(config, workdir, **kwargs)


def poisoned_input(*, from_epoch):
    """An input_fn: CIFAR-10's batches, whose images are NaN from epoch ``from_epoch`` on."""

    def input_fn(config):
        data = inputs.cifar10_input(config)

        def train_batches(epoch, skip):
            for batch in data.train_batches(epoch, skip):
                if epoch >= from_epoch:
                    batch = {**batch, "image": np.full_like(batch["image"], np.nan)}
                yield batch

        return dataclasses.replace(data, train_batches=train_batches)

    return input_fn
