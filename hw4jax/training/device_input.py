"""The device input (``--input device``): the uint8 splits on the device, every batch built
inside the jitted step, exactly the batches of the tf.data path.

The tf.data path (``hw4jax.data.pipeline.train_dataset``) makes each epoch a pure function
of (seed, epoch): an order, and per example a row of uniforms that fixes its augmentation.
The device input computes those with the very same functions on the host and does
everything else on the device:

* the splits are read once, in the order the tf.data path reads them
  (``pipeline.shard_in_memory``: tfds's example order), and put on the device as uint8
  images and int32 labels (150 MB + 30 MB for CIFAR-10), replicated over the mesh;
* per epoch the host computes the order (``pipeline.epoch_order``) and the uniforms
  (``pipeline.epoch_uniforms``), and sends each step only its examples' indices and
  uniform rows (int32 [B] and float32 [B, NUM_UNIFORMS]: 36 bytes an image);
* inside the jitted step the batch is gathered from the device split by index, its
  parameters mapped from the uniforms (``jax_ops.sample_params_from_uniforms``) and its
  pixels augmented and normalised (``jax_ops.apply_params_normalized``): bit for bit the
  tf.data path's images (``tf_ops`` on the same rows), and the same labels. The step draws
  nothing: the randomness has one source, the host functions both paths run;
* ``steps_per_call`` K > 1: one call scans K steps (``lax.scan``) over K batches, the same
  steps as K calls; the epoch's last call takes the steps left (and compiles once more
  where K does not divide the epoch); the loop counts the steps (``Input.steps_in``);
* evaluation gathers the test split by index too, in batches padded and masked as the
  tf.data path's (``pipeline.eval_dataset``).

Data parallel as the host path: a step's indices and uniforms are sharded over the mesh's
'data' axis, so each device builds and trains on its part of the global batch. One process
only: a multi-host run raises ValueError (use the tf.data input there).

Batches, as ``Input.train_batches`` yields them (numpy, batch axis first so that
``sharding.shard_batch`` splits it): {'index': int32 [B, k], 'uniforms': float32
[B, k, NUM_UNIFORMS] (with augmentation)}, column j the j-th of the call's k steps.
Evaluation batches: {'index': int32 [E], 'mask': bool [E]}.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from hw4jax.augment import AugmentConfig, jax_ops
from hw4jax.data import pipeline
from hw4jax.data.tf_devices import hide_gpus_from_tensorflow
from hw4jax.training import steps
from hw4jax.training.config import Config
from hw4jax.training.inputs import Input, NumpyBatch
from hw4jax.training.metrics import Totals
from hw4jax.training.sharding import batch_sharded, replicated
from hw4jax.training.state import TrainState

Split = dict[str, jax.Array]  # 'image' uint8 [N, H, W, 3], 'label' int32 [N], on the device


def build_batch(split: Split, item: dict, augment: AugmentConfig | None) -> dict:
    """The batch one step trains on, from a device split (pure; runs inside the step).

    Args:
      split: 'image' uint8 [N, H, W, 3], 'label' int32 [N].
      item: 'index' int [B] (rows of the split); 'uniforms' float32 [B, NUM_UNIFORMS]
        (with ``augment``).
      augment: the augmentation, or None (normalisation only).

    Returns:
      'image' float32 [B, H, W, 3] (augmented, ((x / 255) - 0.5) / 0.5), 'label' int32 [B].
    """
    index = item["index"]
    image = split["image"][index]
    if augment is None:
        image = jax_ops.to_float_normalized(image)
    else:
        params = jax_ops.sample_params_from_uniforms(item["uniforms"], augment)
        image = jax_ops.apply_params_normalized(image, params)
    return {"image": image, "label": split["label"][index]}


def build_eval_batch(split: Split, item: dict) -> dict:
    """An evaluation batch from a device split, as ``pipeline.eval_dataset`` makes it:
    'image' float32 (0 where padded), 'label' int32 (0 where padded), 'mask' bool [E]."""
    index, mask = item["index"], item["mask"]
    image = jax_ops.to_float_normalized(split["image"][index])
    return {
        "image": jnp.where(mask[:, None, None, None], image, 0.0),
        "label": jnp.where(mask, split["label"][index], 0),
        "mask": mask,
    }


def train_call(
    state: TrainState, split: Split, items: dict, *, augment: AugmentConfig | None
) -> tuple[TrainState, Totals]:
    """k training steps on a call's items (pure; jit it with ``make_train_step``).

    Args:
      state: the train state.
      split: the training split on the device.
      items: 'index' [B, k] and 'uniforms' [B, k, NUM_UNIFORMS]: column j is step j's.
      augment: the augmentation, or None.

    Returns:
      (state after the k steps, their ``Totals`` merged in step order):
      ``steps.train_steps`` with each step's batch built by ``build_batch``.
    """
    return steps.train_steps(
        state, items, prepare=functools.partial(build_batch, split, augment=augment)
    )


def eval_call(state: TrainState, split: Split, item: dict, *, block_size: int | None) -> Totals:
    """``steps.eval_step`` on ``build_eval_batch(split, item)`` (pure; jit it with
    ``make_eval_step``)."""
    return steps.eval_step(state, build_eval_batch(split, item), block_size=block_size)


@functools.cache
def make_train_step(mesh: Mesh, augment: AugmentConfig | None):
    """``train_call`` jitted over ``mesh``: (state, split, items) -> (state, Totals); state
    and split replicated, the state donated, the items sharded on their batch axis."""
    rep, data = replicated(mesh), batch_sharded(mesh)
    return jax.jit(
        functools.partial(train_call, augment=augment),
        in_shardings=(rep, rep, data),
        out_shardings=(rep, rep),
        donate_argnums=0,
        compiler_options=steps.train_compiler_options(mesh),
    )


@functools.cache
def make_eval_step(mesh: Mesh):
    """``eval_call`` jitted over ``mesh``: (state, split, item) -> Totals; the model runs in
    blocks on one CPU device, as ``steps.make_eval_step``."""
    rep, data = replicated(mesh), batch_sharded(mesh)
    return jax.jit(
        functools.partial(eval_call, block_size=steps.eval_block_size(mesh)),
        in_shardings=(rep, rep, data),
        out_shardings=rep,
    )


def device_input(train_ds, test_ds, config: Config) -> Input:
    """The device ``Input`` of two tf.data splits ({'image': uint8 [32, 32, 3], 'label': int
    []}, one pass each, in a deterministic order): the tf.data path's batches for ``config``
    (batch size, seed, augmentation), built on the device, ``config.steps_per_call`` steps
    per call. The splits go to the device when a mesh's step is first made.

    Raises:
      ValueError: a multi-process run, or a training split that makes no batch.
    """
    if jax.process_count() > 1:
        raise ValueError(
            f"--input device runs on one process, this run has {jax.process_count()}: use "
            "--input host (tf.data, each host reads its shard) for a multi-host run"
        )
    hide_gpus_from_tensorflow()
    train, test = read_split(train_ds), read_split(test_ds)
    plan = _EpochPlan(
        seed=config.seed,
        batch_size=config.batch_size,
        steps_per_call=config.steps_per_call,
        num_examples=len(train["label"]),
        augment=AugmentConfig() if config.augment else None,
    )
    if plan.steps == 0:
        raise ValueError(
            f"{plan.num_examples} training examples make no batch of {config.batch_size}: "
            "lower --batch-size or use more --train-examples"
        )
    on_mesh = functools.cache(
        lambda mesh: {
            name: jax.device_put(split, replicated(mesh))
            for name, split in (("train", train), ("test", test))
        }
    )

    def train_fn(mesh: Mesh):
        call, split = make_train_step(mesh, plan.augment), on_mesh(mesh)["train"]
        return lambda state, items: call(state, split, items)

    def eval_fn(mesh: Mesh):
        call, split = make_eval_step(mesh), on_mesh(mesh)["test"]
        return lambda state, item: call(state, split, item)

    n_test = len(test["label"])
    return Input(
        train_batches=plan.batches,
        eval_batches=lambda: _eval_items(n_test, config.eval_batch_size),
        steps_per_epoch=plan.steps,
        train_examples=plan.num_examples,
        test_examples=n_test,
        make_train_step=train_fn,
        make_eval_step=eval_fn,
        steps_in=lambda items: items["index"].shape[1],
    )


def read_split(ds) -> dict[str, np.ndarray]:
    """A tf.data split as the device input holds it: 'image' uint8 [N, 32, 32, 3] and
    'label' int32 [N] in ds's order (``pipeline.shard_in_memory``, as the tf.data path
    reads it); ``jax.device_put`` it to get the ``split`` of ``build_batch``."""
    _, _, images, labels = pipeline.shard_in_memory(ds, 0, 1)
    return {"image": images.numpy(), "label": labels.numpy().astype(np.int32)}


class _EpochPlan:
    """What the host computes per epoch: the tf.data path's order and uniforms, cut into the
    items of the train calls."""

    def __init__(
        self,
        *,
        seed: int,
        batch_size: int,
        steps_per_call: int,
        num_examples: int,
        augment: AugmentConfig | None,
    ):
        self.seed, self.batch_size, self.steps_per_call = seed, batch_size, steps_per_call
        self.num_examples, self.augment = num_examples, augment
        self.steps = num_examples // batch_size

    def rows(self, epoch: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Epoch ``epoch``'s examples in training order (int32 [steps * B], rows of the
        split) and their uniforms (float32 [steps * B, NUM_UNIFORMS], None without
        augmentation): ``pipeline.train_dataset``'s, from the same functions."""
        order = pipeline.epoch_order(self.seed, epoch, self.num_examples, 0).numpy()
        rows = order[: self.steps * self.batch_size].astype(np.int32)
        if self.augment is None:
            return rows, None
        _, augment_key = pipeline.epoch_keys(self.seed, epoch)
        return rows, pipeline.epoch_uniforms(augment_key, self.num_examples).numpy()[rows]

    def batches(self, epoch: int, skip: int) -> Iterator[NumpyBatch]:
        """The items of epoch ``epoch``'s calls from step ``skip`` on: ``steps_per_call``
        steps each, the last call the steps left."""
        if not 0 <= skip <= self.steps:
            raise ValueError(f"skip {skip} must lie in [0, {self.steps}] (one epoch)")
        rows, uniforms = self.rows(epoch)
        b = self.batch_size
        for start in range(skip, self.steps, self.steps_per_call):
            k = min(self.steps_per_call, self.steps - start)
            part = slice(start * b, (start + k) * b)
            item = {"index": rows[part].reshape(k, b).T}  # [B, k]: batch axis first
            if uniforms is not None:
                item["uniforms"] = uniforms[part].reshape(k, b, -1).transpose(1, 0, 2)
            yield item


def _eval_items(n: int, batch_size: int) -> Iterator[NumpyBatch]:
    """The test split's rows in batches of ``batch_size``, the last padded (row 0, mask
    False): ``pipeline.eval_dataset``'s batches, by index."""
    for b in range(math.ceil(n / batch_size)):
        index = np.arange(b * batch_size, (b + 1) * batch_size)
        mask = index < n
        yield {"index": np.where(mask, index, 0).astype(np.int32), "mask": mask}
