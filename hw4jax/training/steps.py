"""The jitted training and evaluation steps, data-parallel over a device mesh.

train_step      (state, batch) -> (state, metrics): cross-entropy, gradients, optax
                update, BatchNorm statistics; dropout's key is fold_in(key, step), so
                the step is a pure function of state and batch.
eval_step       (state, batch) -> metrics: masked loss sum, the confusion matrix and the
                per-class counts (its diagonal and row sums).
train_steps     (state, batches) -> (state, metrics): k train steps in one call, a
                ``lax.scan`` over k batches stacked on axis 1; the same numbers as k calls
                of train_step, without k dispatches.
make_train_step, make_train_steps, make_eval_step
                jit them over a 1-D device mesh (``hw4jax.training.sharding``): state
                replicated, batch sharded on its first axis, the state donated. One jitted
                function per mesh (and batch preparation), kept for the process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from hw4jax.cnn.blocks import map_batch_blocks
from hw4jax.training.metrics import Totals
from hw4jax.training.sharding import batch_sharded, replicated
from hw4jax.training.state import TrainState

# Images per block of make_eval_step on one CPU device: the fastest of 32, 64 and the
# whole batch at batch 256 when measured.
EVAL_BLOCK_SIZE = 64

# XLA options for compiling the train steps on CPU (per jitted function, never global).
# Without copy insertion's region analysis XLA copies fc1's kernel (f32[5760, 1024], 23.6 MB)
# and fc2's at the start of every step: the state is donated, so Adam writes the new weights
# into the old weights' buffer, and the default analysis cannot prove from data dependencies
# alone that the backward's read of the old weights (dx = dy W^T) comes before that write.
# The region analysis proves it and the copies go; the results are bit-identical
# (tests/test_train.py checks the HLO; scripts/bench.py's README figures measure the gain).
CPU_TRAIN_COMPILER_OPTIONS = {"xla_cpu_copy_insertion_use_region_analysis": True}

Batch = dict[str, jax.Array]


def train_step(
    state: TrainState, batch: Batch, *, prepare: Callable[[Batch], Batch] | None = None
) -> tuple[TrainState, Totals]:
    """One optimizer step on ``batch`` (pure; jit it with ``make_train_step``).

    Args:
      state: the train state.
      batch: 'image' float32 [B, H, W, C] (normalized), 'label' int32 [B]; or anything
        ``prepare`` turns into that.
      prepare: applied to ``batch`` first, inside the step (e.g. building float images from
        uint8 data on the device); None: the batch is used as it is.

    Returns:
      (new state, metrics) with metrics ``Totals``: loss_sum float32 (mean loss x B, the
      homework's ``loss.item() * batch_size``), correct int32, count int32 (= B).
    """
    if prepare is not None:
        batch = prepare(batch)
    dropout_key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)

    def loss_fn(params):
        logits, updates = state.apply_fn(
            {"params": params, "batch_stats": state.batch_stats},
            batch["image"],
            train=True,
            rngs={"dropout": dropout_key},
            mutable=["batch_stats"],
        )
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
        return loss, (logits, updates["batch_stats"])

    (loss, (logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
    count = batch["label"].shape[0]
    return state, Totals(
        loss_sum=loss * count,
        correct=jnp.sum(jnp.argmax(logits, -1) == batch["label"], dtype=jnp.int32),
        count=jnp.asarray(count, jnp.int32),
    )


def train_steps(
    state: TrainState, batches: Batch, *, prepare: Callable[[Batch], Batch] | None = None
) -> tuple[TrainState, Totals]:
    """k ``train_step``s in one call (pure; jit it with ``make_train_steps``).

    Args:
      state: the train state.
      batches: ``train_step``'s batch with a step axis after the batch axis (every leaf
        [B, k, ...]: column j is step j's batch), so that sharding still splits axis 0.
      prepare: as ``train_step``'s, applied to each step's batch.

    Returns:
      (state after the k steps, their ``Totals`` merged in step order, as a loop merges
      single steps). k = 1 is ``train_step`` itself; k > 1 a ``lax.scan`` of it, which on CPU
      trains faster than k calls (tests/test_device_input.py checks the weights are the
      same bits).
    """
    step = functools.partial(train_step, prepare=prepare)
    k = jax.tree.leaves(batches)[0].shape[1]
    if k == 1:
        return step(state, jax.tree.map(lambda x: x[:, 0], batches))
    state, metrics = jax.lax.scan(
        step, state, jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), batches)
    )
    total = jax.tree.map(lambda x: x[0], metrics)
    for j in range(1, k):  # in step order: ((m0 + m1) + m2) ..., as the loop merges steps
        total = total.merge(jax.tree.map(lambda x, j=j: x[j], metrics))
    return state, total


def eval_step(state: TrainState, batch: Batch, *, block_size: int | None = None) -> Totals:
    """Evaluation metrics of one (possibly padded) batch (pure; jit it with ``make_eval_step``).

    Args:
      state: the train state (BatchNorm uses its running statistics, dropout is off).
      batch: 'image' float32 [B, H, W, C], 'label' int [B], 'mask' bool [B] (False: padding).
      block_size: run the model on this many images at a time (the same logits: in eval
        mode every example is computed on its own), or None for the whole batch at once.

    Returns:
      ``Totals``: loss_sum float32 (summed over real examples); confusion int32
      [num_classes, num_classes], the real examples counted by (true class, predicted
      class); correct int32 [num_classes] and count int32 [num_classes], per true class the
      correct predictions and the examples (confusion's diagonal and row sums).
    """
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    logits = map_batch_blocks(
        lambda images: state.apply_fn(variables, images, train=False), block_size, batch["image"]
    )
    mask = batch["mask"]
    num_classes = logits.shape[-1]
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
    true = jax.nn.one_hot(batch["label"], num_classes, dtype=jnp.int32) * mask[:, None]
    predicted = jax.nn.one_hot(jnp.argmax(logits, -1), num_classes, dtype=jnp.int32)
    # A sum of outer products over the batch axis, not an integer matmul or a scatter:
    # exact, and an ordinary reduction for the sharded batch on every backend.
    confusion = jnp.sum(true[:, :, None] * predicted[:, None, :], axis=0)
    return Totals(
        loss_sum=jnp.sum(jnp.where(mask, losses, 0.0)),
        correct=jnp.diagonal(confusion),
        count=jnp.sum(confusion, axis=1),
        confusion=confusion,
    )


@functools.cache
def make_train_step(
    mesh: Mesh, prepare: Callable[[Batch], Batch] | None = None
) -> Callable[[TrainState, Batch], tuple[TrainState, Totals]]:
    """``train_step`` jitted over ``mesh``: state replicated and donated, batch sharded;
    ``prepare`` (see ``train_step``) runs inside the same jitted step."""
    step = train_step if prepare is None else functools.partial(train_step, prepare=prepare)
    return _jit_train(step, mesh)


@functools.cache
def make_train_steps(
    mesh: Mesh, prepare: Callable[[Batch], Batch] | None = None
) -> Callable[[TrainState, Batch], tuple[TrainState, Totals]]:
    """``train_steps`` jitted over ``mesh`` as ``make_train_step`` jits ``train_step``."""
    return _jit_train(functools.partial(train_steps, prepare=prepare), mesh)


def _jit_train(fn: Callable, mesh: Mesh) -> Callable:
    """``fn`` (state, batch) -> (state, metrics) jitted over ``mesh``: state replicated and
    donated, batch sharded on its first axis, the CPU train compile options."""
    rep, data = replicated(mesh), batch_sharded(mesh)
    return jax.jit(
        fn,
        in_shardings=(rep, data),
        out_shardings=(rep, rep),
        donate_argnums=0,
        compiler_options=train_compiler_options(mesh),
    )


def stack_steps(batches: Sequence[Batch]) -> Batch:
    """k batches (numpy, on the host) as ``train_steps`` takes them: every leaf stacked on a
    new axis 1 ([B, ...] -> [B, k, ...]), so that sharding still splits the batch axis."""
    return jax.tree.map(lambda *leaves: np.stack(leaves, axis=1), *batches)


def train_compiler_options(mesh: Mesh) -> dict | None:
    """The XLA options the train steps on ``mesh`` compile with: ``CPU_TRAIN_COMPILER_OPTIONS``
    on CPU devices, else None (XLA's defaults)."""
    return dict(CPU_TRAIN_COMPILER_OPTIONS) if _platform(mesh) == "cpu" else None


def _platform(mesh: Mesh) -> str:
    return mesh.devices.flat[0].platform


@functools.cache
def make_eval_step(mesh: Mesh) -> Callable[[TrainState, Batch], Totals]:
    """``eval_step`` jitted over ``mesh``: state replicated, batch sharded.

    On a single CPU device the model runs in blocks of ``EVAL_BLOCK_SIZE`` images: the same
    logits, and more images/s at large batches, where a whole batch's activations fall out
    of cache. A mesh of several devices already splits the batch.
    """
    rep, data = replicated(mesh), batch_sharded(mesh)
    block = eval_block_size(mesh)
    return jax.jit(
        functools.partial(eval_step, block_size=block), in_shardings=(rep, data), out_shardings=rep
    )


def eval_block_size(mesh: Mesh) -> int | None:
    """``eval_step``'s block size on ``mesh``: ``EVAL_BLOCK_SIZE`` on a single CPU device,
    else None (see ``make_eval_step``)."""
    one_cpu = mesh.size == 1 and _platform(mesh) == "cpu"
    return EVAL_BLOCK_SIZE if one_cpu else None
