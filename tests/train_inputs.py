"""Inputs for the training loop's tests: real batches with something wrong in them."""

import dataclasses

import numpy as np

from hw4jax.training import inputs


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
