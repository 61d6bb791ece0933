"""Augmented training batches as files, so that one framework can train on another's.

The format is the PyTorch recipe's (``scripts/torch_recipe.py --batches`` reads it,
``--dump-batches`` writes it): ``DIR/epoch{E}.npz`` for E = 1, 2, ..., each holding
'image' uint8 [N, 32, 32, 3] (the augmented pixels, before ToTensor and Normalize) and
'label' int [N], in training order; training takes consecutive batches and drops the last
partial one.

``dump_tfdata_batches`` writes hw4jax's own tf.data batches of a run (its seed's order and
augmentation, ``pipeline.train_dataset(..., normalize=False)``); ``batch_file_input`` is
an ``Input`` that trains hw4jax on such files (e.g. torchvision's) and evaluates on tfds's
test split as usual. A dump is about 150 MB an epoch: write it to a temporary folder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from hw4jax.augment import spec
from hw4jax.data.cifar10_archive import IMAGE_SHAPE
from hw4jax.training.config import Config
from hw4jax.training.inputs import Input, NumpyBatch, cifar10_input


def epoch_path(directory: str | Path, epoch: int) -> Path:
    """``DIR/epoch{epoch}.npz``; epochs count from 1, as the recipe prints them."""
    return Path(directory) / f"epoch{epoch}.npz"


def write_epoch(directory: str | Path, epoch: int, images: np.ndarray, labels: np.ndarray) -> Path:
    """Writes one epoch's batches (uint8 [N, 32, 32, 3], labels [N], in training order)."""
    images, labels = _checked(np.asarray(images), np.asarray(labels), f"epoch {epoch}")
    Path(directory).mkdir(parents=True, exist_ok=True)
    path = epoch_path(directory, epoch)
    np.savez(path, image=images, label=labels.astype(np.int32))
    return path


def read_epoch(directory: str | Path, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's (images uint8 [N, 32, 32, 3], labels int32 [N]).

    Raises:
      ValueError: the file is missing or holds something else.
    """
    path = epoch_path(directory, epoch)
    if not path.is_file():
        raise ValueError(f"no batch file {path}: write the epoch's batches there first")
    with np.load(path) as f:
        if "image" not in f or "label" not in f:
            raise ValueError(f"{path} must hold 'image' and 'label', holds {sorted(f.files)}")
        return _checked(f["image"], f["label"], str(path))


def _count(directory: str | Path, epoch: int) -> int:
    """Images in one epoch's file, reading its labels only."""
    path = epoch_path(directory, epoch)
    if not path.is_file():
        raise ValueError(f"no batch file {path}: write the epoch's batches there first")
    with np.load(path) as f:
        if "label" not in f:
            raise ValueError(f"{path} must hold 'image' and 'label', holds {sorted(f.files)}")
        return len(f["label"])


def _checked(images: np.ndarray, labels: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    if images.dtype != np.uint8 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(
            f"{source}: images must be uint8 [N, 32, 32, 3], got {images.dtype} {images.shape}"
        )
    if labels.shape != images.shape[:1] or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{source}: labels must be integers [{len(images)}], got {labels.shape}")
    return images, labels.astype(np.int32)


def normalized(images: np.ndarray) -> np.ndarray:
    """uint8 [..., 32, 32, 3] -> float32 in [-1, 1]: ToTensor then Normalize(0.5, 0.5), bit
    for bit as torch computes them (``augment.spec.normalize`` in float32), kept NHWC."""
    return spec.normalize(images.astype(np.float32))


def batch_file_input(config: Config, directory: str | Path) -> Input:
    """``cifar10_input(config)`` training on ``DIR/epoch{E}.npz`` instead of its own pipeline.

    Epoch e of the run (0-based) is file ``epoch{e + 1}``; its batches are consecutive
    slices of ``config.batch_size``, the last partial one dropped (as the recipe's
    ``--batches`` does), normalized by ``normalized``. ``train_batches(epoch, skip)`` starts
    at batch ``skip`` of the same slices (exact resume). The evaluation batches are tfds's.

    Raises:
      ValueError: a file of the run's epochs is missing or bad, files hold different
        numbers of images, or fewer than one batch; several processes.
    """
    import jax

    if jax.process_count() > 1:
        raise ValueError("batch files feed a single process: run without --distributed")
    counts = {e: _count(directory, e + 1) for e in range(config.epochs)}
    if len(set(counts.values())) != 1:
        raise ValueError(f"the batch files of {directory} differ in size: {counts}")
    examples = counts[0]
    steps = examples // config.batch_size
    if steps == 0:
        raise ValueError(
            f"{directory}: {examples} images make no batch of {config.batch_size}: "
            "lower --batch-size or write more images"
        )

    def train_batches(epoch: int, skip: int) -> Iterator[NumpyBatch]:
        images, labels = read_epoch(directory, epoch + 1)
        for i in range(skip, steps):
            rows = slice(i * config.batch_size, (i + 1) * config.batch_size)
            yield {"image": normalized(images[rows]), "label": labels[rows]}

    return dataclasses.replace(
        cifar10_input(config),
        train_batches=train_batches,
        steps_per_epoch=steps,
        train_examples=examples,
    )


def dump_tfdata_batches(config: Config, directory: str | Path) -> list[Path]:
    """Writes the uint8 batches hw4jax's pipeline trains ``config``'s run on: epoch e's
    batches in training order to ``DIR/epoch{e + 1}.npz`` (``cifar10_input``'s split, seed,
    batch size and augmentation; the remainder dropped, as in training).

    Returns:
      The files written, one per epoch.
    """
    from hw4jax import augment
    from hw4jax.data import cifar10, pipeline

    if config.archive is not None:
        cifar10.prepare_offline(config.archive, config.data_dir)
    split = "train" if config.train_examples is None else f"train[:{config.train_examples}]"
    train = cifar10.load_split(split, data_dir=config.data_dir)
    paths = []
    for epoch in range(config.epochs):
        batches = list(
            pipeline.as_numpy_batches(
                pipeline.train_dataset(
                    train,
                    batch_size=config.batch_size,
                    seed=config.seed,
                    epoch=epoch,
                    augment=augment.AugmentConfig() if config.augment else None,
                    process_index=0,
                    process_count=1,
                    normalize=False,
                )
            )
        )
        images = np.concatenate([b["image"] for b in batches])
        labels = np.concatenate([b["label"] for b in batches])
        paths.append(write_epoch(directory, epoch + 1, images, labels))
    return paths
