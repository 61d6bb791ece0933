"""Training and evaluation of the CIFAR-10 CNN, data-parallel over every device JAX sees.

The pieces, each usable on its own:

  TrainState          one pytree: params, batch_stats, opt_state, step, key (raw uint32 [2]).
  create_train_state  a fresh state for a model and an optax transformation.
  train_step          (state, batch) -> (state, metrics): cross-entropy, gradients, optax
                      update, BatchNorm statistics; dropout's key is fold_in(key, step), so
                      the step is a pure function of state and batch.
  eval_step           (state, batch) -> metrics: masked loss sum and per-class counts.
  make_mesh, make_train_step, make_eval_step
                      jit them over a 1-D device mesh (axis 'data'): state replicated,
                      batch sharded on its first axis, the state donated.
  train_and_evaluate  the whole run (``scripts/train.py`` only parses flags and calls it).

Data parallelism is plain ``jit`` with shardings: the model takes means over the whole
(global) batch axis, so the compiler inserts the cross-device reductions and BatchNorm's
statistics, the loss and the gradients are those of the global batch, exactly as on one
device (``tests/test_sharding.py`` checks it on 4 simulated CPU devices).

Checkpoints (``hw4jax.checkpoints``): one at the end of every epoch, and one mid-epoch when
the run is interrupted (Ctrl-C / SIGINT): the state plus its position in the epoch and the
partial epoch's metric totals. ``resume`` restarts from the latest one, skipping the
batches already seen (the input pipeline is deterministic in (seed, epoch)), and ends with
the same weights as an uninterrupted run.

A NaN or infinite loss (checked every ``check_every_steps`` steps from an on-device running
sum, and at every epoch end together with the parameters) raises ``NonFiniteLossError``;
no checkpoint is written after the last good one.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training import train_state
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from hw4jax import checkpoints, metrics_io
from hw4jax.conv import map_batch_blocks
from hw4jax.config import Config
from hw4jax.models import CLASS_NAMES, CNN
from hw4jax.optimizers import make_optimizer

IMAGE_SHAPE = (32, 32, 3)
DATA_AXIS = "data"
# Images per block of make_eval_step on one CPU device: 64 measured 1,794 images/s at batch
# 256 against 1,568 unblocked and 1,235 in blocks of 32.
EVAL_BLOCK_SIZE = 64
# Config fields that must match for a resumed run to continue the same run.
RESUME_FIELDS = ("batch_size", "optimizer", "learning_rate", "momentum", "weight_decay",
                 "seed", "augment", "train_examples")


class NonFiniteLossError(FloatingPointError):
    """The training loss (or the parameters) became NaN or infinite."""


class TrainState(train_state.TrainState):
    """Everything a train step reads and writes, as one pytree.

    Attributes (beyond flax's ``step``, ``params``, ``opt_state``, ``apply_fn``, ``tx``):
      batch_stats: BatchNorm running statistics ({'bn1': {'mean', 'var'}, ...}, float32).
      key: raw PRNG key data, uint32 [2]; dropout at step s uses fold_in(key, s).
    """

    batch_stats: Any = None
    key: jax.Array | None = None


def create_train_state(key: jax.Array, *, model: nn.Module, tx: optax.GradientTransformation,
                       image_shape: tuple[int, int, int] = IMAGE_SHAPE) -> TrainState:
    """A fresh train state.

    Args:
      key: a PRNG key (typed or raw); split into the init key and the dropout base key.
      model: the Flax module (e.g. ``CNN()``), called as ``model(x, train=...)``.
      tx: the optax transformation.
      image_shape: (H, W, C) of one input image.

    Returns:
      TrainState with step int32 0 (a strong dtype, so restored and fresh states trace alike).
    """
    if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key)
    init_key, dropout_key = jax.random.split(key)
    variables = model.init({"params": init_key}, jnp.zeros((1, *image_shape), jnp.float32),
                           train=False)
    state = TrainState.create(
        apply_fn=model.apply, params=variables["params"], tx=tx,
        batch_stats=variables.get("batch_stats", {}), key=jax.random.key_data(dropout_key),
    )
    return state.replace(step=jnp.zeros((), jnp.int32))


def train_step(state: TrainState, batch: dict[str, jax.Array]) -> tuple[TrainState, dict]:
    """One optimizer step on ``batch`` (pure; jit it with ``make_train_step``).

    Args:
      state: the train state.
      batch: 'image' float32 [B, H, W, C] (normalized), 'label' int32 [B].

    Returns:
      (new state, metrics) with metrics 'loss_sum' float32 (mean loss x B, the homework's
      ``loss.item() * batch_size``), 'correct' int32, 'count' int32 (= B).
    """
    dropout_key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)

    def loss_fn(params):
        logits, updates = state.apply_fn(
            {"params": params, "batch_stats": state.batch_stats}, batch["image"], train=True,
            rngs={"dropout": dropout_key}, mutable=["batch_stats"])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
        return loss, (logits, updates["batch_stats"])

    (loss, (logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
    count = batch["label"].shape[0]
    metrics = {
        "loss_sum": loss * count,
        "correct": jnp.sum(jnp.argmax(logits, -1) == batch["label"], dtype=jnp.int32),
        "count": jnp.asarray(count, jnp.int32),
    }
    return state, metrics


def eval_step(state: TrainState, batch: dict[str, jax.Array], *,
              block_size: int | None = None) -> dict[str, jax.Array]:
    """Evaluation metrics of one (possibly padded) batch (pure; jit it with ``make_eval_step``).

    Args:
      state: the train state (BatchNorm uses its running statistics, dropout is off).
      batch: 'image' float32 [B, H, W, C], 'label' int [B], 'mask' bool [B] (False: padding).
      block_size: run the model on this many images at a time (the same logits: in eval
        mode every example is computed on its own), or None for the whole batch at once.

    Returns:
      'loss_sum' float32 (summed over real examples), 'correct' int32 [num_classes] and
      'count' int32 [num_classes]: per true class, the correct predictions and the examples.
    """
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    logits = map_batch_blocks(lambda images: state.apply_fn(variables, images, train=False),
                              block_size, batch["image"])
    mask = batch["mask"]
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
    one_hot = jax.nn.one_hot(batch["label"], logits.shape[-1], dtype=jnp.int32) * mask[:, None]
    hit = (jnp.argmax(logits, -1) == batch["label"]).astype(jnp.int32)
    return {
        "loss_sum": jnp.sum(jnp.where(mask, losses, 0.0)),
        "correct": jnp.sum(one_hot * hit[:, None], axis=0),
        "count": jnp.sum(one_hot, axis=0),
    }


def make_mesh(devices: Iterable[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh with axis 'data' over ``devices`` (default: every device, all hosts)."""
    return Mesh(np.asarray(list(jax.devices() if devices is None else devices)), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """The sharding that keeps a full copy on every device (state, metrics)."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    """The sharding that splits the leading (batch) axis over the mesh's 'data' axis."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def make_train_step(mesh: Mesh) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
    """``train_step`` jitted over ``mesh``: state replicated and donated, batch sharded."""
    rep, data = replicated(mesh), batch_sharded(mesh)
    return jax.jit(train_step, in_shardings=(rep, data), out_shardings=(rep, rep),
                   donate_argnums=0)


def make_eval_step(mesh: Mesh) -> Callable[[TrainState, dict], dict]:
    """``eval_step`` jitted over ``mesh``: state replicated, batch sharded.

    On a single CPU device the model runs in blocks of ``EVAL_BLOCK_SIZE`` images: the same
    logits, and 14-20% more images/s at batch 128-256, where a whole batch's activations
    fall out of cache. A mesh of several devices already splits the batch.
    """
    rep, data = replicated(mesh), batch_sharded(mesh)
    one_cpu = mesh.size == 1 and mesh.devices.flat[0].platform == "cpu"
    block = EVAL_BLOCK_SIZE if one_cpu else None
    return jax.jit(functools.partial(eval_step, block_size=block),
                   in_shardings=(rep, data), out_shardings=rep)


def shard_batch(batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """This process's part of a global batch -> global arrays sharded on the batch axis."""
    sharding = batch_sharded(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
            for k, v in batch.items()}


def check_batch_size(global_batch: int, *, name: str = "batch_size") -> None:
    """Raises ValueError unless ``global_batch`` splits evenly over devices and processes."""
    devices = jax.device_count()
    if global_batch % devices:
        raise ValueError(
            f"{name} {global_batch} does not split over {devices} devices: "
            f"use a multiple of {devices}"
        )
    if global_batch % jax.process_count():
        raise ValueError(f"{name} {global_batch} does not split over {jax.process_count()} hosts")


@jax.jit
def add_metrics(totals: dict, metrics: dict) -> dict:
    """Element-wise sum of two metric trees of the steps (on device: no host sync)."""
    return jax.tree.map(jnp.add, totals, metrics)


@jax.jit
def _all_finite(tree: Any) -> jax.Array:
    return jnp.all(jnp.asarray([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


@functools.lru_cache(maxsize=None)
def _model_and_optimizer(optimizer: str, learning_rate: float, momentum: float,
                         weight_decay: float) -> tuple[nn.Module, optax.GradientTransformation]:
    # The same objects for the same settings: model.apply and tx are static parts of the
    # state's tree structure, so runs in one process (tests, sweeps) reuse compiled steps.
    model = CNN()
    return model, make_optimizer(optimizer, learning_rate, momentum=momentum,
                                 weight_decay=weight_decay)


def initial_state(config: Config) -> TrainState:
    """The run's fresh state: ``CNN()`` and ``config``'s optimizer, keyed by ``config.seed``."""
    model, tx = _model_and_optimizer(config.optimizer, config.learning_rate, config.momentum,
                                     config.weight_decay)
    return create_train_state(jax.random.key(config.seed), model=model, tx=tx)


# The config fields that shape the state (the optimizer's state): read from a checkpoint.
STATE_FIELDS = ("optimizer", "learning_rate", "momentum", "weight_decay")


def restore_state(workdir: str | Path, config: Config | None = None, *,
                  step: int | None = None) -> tuple[TrainState, dict]:
    """The (state, progress) of ``workdir``'s latest checkpoint (or ``step``), on the default
    device, for use outside a run (export, evaluation). The optimizer settings (they shape
    opt_state) come from ``config``, by default from the checkpoint's own config; progress
    holds 'history' (per-epoch records) and 'config' (the run's settings).

    Raises:
      ValueError: no checkpoint there.
    """
    manager = checkpoints.checkpoint_manager(workdir, read_only=True)
    if config is None:
        saved = checkpoints.restore_progress(manager, step=step)["config"]
        config = Config(**{k: saved[k] for k in STATE_FIELDS})
    return checkpoints.restore_checkpoint(manager, initial_state(config), step=step)


def evaluate(state: TrainState, batches: Iterable[dict[str, np.ndarray]], *,
             eval_fn: Callable, mesh: Mesh) -> dict:
    """Runs ``eval_fn`` over ``batches`` (process-local numpy batches with a 'mask').

    Returns:
      {'loss': mean test loss, 'accuracy', 'loss_sum', 'correct': [10] ints, 'count': [10] ints}.
    """
    totals = None
    for batch in batches:
        metrics = eval_fn(state, shard_batch(batch, mesh))
        totals = metrics if totals is None else add_metrics(totals, metrics)
    if totals is None:
        raise ValueError("the evaluation set is empty: check --test-examples and the data")
    totals = jax.device_get(totals)
    count = int(totals["count"].sum())
    correct = int(totals["correct"].sum())
    return {
        "loss": float(totals["loss_sum"]) / max(count, 1),
        "accuracy": correct / max(count, 1),
        "loss_sum": float(totals["loss_sum"]),
        "correct": [int(c) for c in totals["correct"]],
        "count": [int(c) for c in totals["count"]],
    }


# ----------------------------------------------------------------------------------------
# Data: the data helper's modules, imported when a run needs them (TensorFlow is slow to
# import and the steps above do not need it).


@dataclasses.dataclass(frozen=True)
class _Data:
    """This process's splits and the per-process numbers the loops need."""

    train: Any              # tf.data.Dataset of examples (this process's shard)
    test: Any
    steps_per_epoch: int
    eval_batches: int       # the same on every process (short ones are padded)
    local_batch: int
    local_eval_batch: int
    train_examples: int     # global
    test_examples: int      # global


def _global_max(n: int) -> int:
    if jax.process_count() == 1:
        return n
    from jax.experimental import multihost_utils
    return int(np.max(multihost_utils.process_allgather(np.asarray(n))))


def _global_sum(n: int) -> int:
    if jax.process_count() == 1:
        return n
    from jax.experimental import multihost_utils
    return int(np.sum(multihost_utils.process_allgather(np.asarray(n))))


def _load_data(config: Config) -> _Data:
    from hw4jax import cifar10, input_pipeline

    if config.archive is not None:
        # Returns at once where the dataset is already prepared in data_dir.
        cifar10.prepare_offline(config.archive, config.data_dir)
    train_split = "train" if config.train_examples is None else f"train[:{config.train_examples}]"
    test_split = "test" if config.test_examples is None else f"test[:{config.test_examples}]"
    train = cifar10.load_split(train_split, data_dir=config.data_dir)
    test = cifar10.load_split(test_split, data_dir=config.data_dir)
    process_count, process_index = jax.process_count(), jax.process_index()
    local_batch = config.batch_size // process_count
    local_eval_batch = config.eval_batch_size // process_count
    n_train = input_pipeline.count_examples(train)
    # The training pipeline shards by process itself (equal shards); the test set is
    # sharded here, shards differing by at most one example, padded to equal batch counts.
    if process_count > 1:
        test = test.shard(process_count, process_index)
    n_test = input_pipeline.count_examples(test)
    steps = input_pipeline.steps_per_epoch(n_train, batch_size=local_batch,
                                           process_count=process_count)
    if steps == 0:
        raise ValueError(
            f"{n_train} training examples make no batch of {config.batch_size}: "
            "lower --batch-size or use more --train-examples"
        )
    return _Data(
        train=train, test=test, steps_per_epoch=steps,
        eval_batches=math.ceil(_global_max(n_test) / local_eval_batch),
        local_batch=local_batch, local_eval_batch=local_eval_batch,
        train_examples=n_train, test_examples=_global_sum(n_test),
    )


def _train_batches(data: _Data, config: Config, *, epoch: int, skip: int) -> Iterator[dict]:
    """The epoch's training batches (numpy, this process's part), from batch ``skip`` on."""
    from hw4jax import input_pipeline
    from hw4jax.augment import AugmentConfig

    ds = input_pipeline.train_dataset(
        data.train, batch_size=data.local_batch, seed=config.seed, epoch=epoch,
        augment=AugmentConfig() if config.augment else None, skip_batches=skip)
    return input_pipeline.as_numpy_batches(ds)


def _eval_batches(data: _Data) -> Iterator[dict]:
    """The test set in padded, masked batches, ``data.eval_batches`` of them on every process."""
    from hw4jax import input_pipeline

    batches = input_pipeline.eval_dataset(data.test, batch_size=data.local_eval_batch)
    empty = {
        "image": np.zeros((data.local_eval_batch, *IMAGE_SHAPE), np.float32),
        "label": np.zeros((data.local_eval_batch,), np.int32),
        "mask": np.zeros((data.local_eval_batch,), bool),
    }
    return itertools.islice(itertools.chain(input_pipeline.as_numpy_batches(batches),
                                            itertools.repeat(empty)),
                            data.eval_batches)


# ----------------------------------------------------------------------------------------
# The run.


class _InterruptFlag:
    """Turns the first SIGINT into a flag the loop checks between steps (so the state is
    never caught half-donated); a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.set = False
        self._previous = None

    def __enter__(self) -> _InterruptFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.set = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class _Progress:
    """A tqdm bar on a terminal; otherwise a plain line at most every ``interval`` seconds."""

    def __init__(self, *, epoch: int, total_images: int, done_images: int, enabled: bool,
                 interval: float = 30.0) -> None:
        self.epoch, self.total, self.done = epoch, total_images, done_images
        self.enabled, self.interval = enabled, interval
        self.start = self.last_line = time.perf_counter()
        self.start_done = done_images
        self.bar = None
        if enabled and sys.stdout.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total_images, initial=done_images, unit="img", unit_scale=True,
                            desc=f"epoch {epoch}", leave=False, dynamic_ncols=True)

    def update(self, images: int) -> None:
        self.done += images
        if self.bar is not None:
            self.bar.update(images)

    def report(self, mean_loss: float) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{mean_loss:.4f}", refresh=False)
            return
        now = time.perf_counter()
        if now - self.last_line < self.interval:
            return
        self.last_line = now
        rate = (self.done - self.start_done) / max(now - self.start, 1e-9)
        eta = (self.total - self.done) / max(rate, 1e-9)
        print(f"  epoch {self.epoch}: {self.done}/{self.total} images, loss {mean_loss:.4f},"
              f" {rate:.1f} images/s, ETA {eta:.0f} s", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _device_summary(mesh: Mesh, config: Config) -> dict:
    devices = mesh.devices.ravel()
    return {
        "platform": devices[0].platform,
        "device_kind": devices[0].device_kind,
        "device_count": int(devices.size),
        "process_count": jax.process_count(),
        "global_batch": config.batch_size,
        "per_device_batch": config.batch_size // int(devices.size),
    }


def _check_resume(saved: dict, config: Config) -> None:
    changed = [f"{f} (checkpoint {saved.get(f)!r}, now {getattr(config, f)!r})"
               for f in RESUME_FIELDS if saved.get(f) != getattr(config, f)]
    if changed:
        raise ValueError(
            "cannot resume with different settings: " + "; ".join(changed)
            + ": pass the checkpoint's values or use a new --workdir"
        )


def _results(history: list[dict], test: dict, *, config: Config, device: dict, step: int,
             seconds: float) -> dict:
    names = list(CLASS_NAMES)
    return {
        "config": config.to_dict(),
        "device": device,
        "step": step,
        "epochs": history,
        "train_loss_sum": history[-1]["train_loss_sum"] if history else None,
        "train_loss_mean": history[-1]["train_loss_mean"] if history else None,
        "train_accuracy": history[-1]["train_accuracy"] if history else None,
        "test_loss": test["loss"],
        "test_accuracy": test["accuracy"],
        "per_class_accuracy": {n: c / k if k else None
                               for n, c, k in zip(names, test["correct"], test["count"])},
        "per_class_correct": dict(zip(names, test["correct"])),
        "per_class_count": dict(zip(names, test["count"])),
        "train_seconds": sum(r["seconds"] for r in history),
        "seconds": seconds,
    }


def train_and_evaluate(config: Config, workdir: str | Path, *,
                       step_callback: Callable[[int], None] | None = None) -> dict:
    """Trains (or, with ``config.eval_only``, evaluates) and returns the final results.

    Prints the devices, per epoch the homework's line plus mean loss, accuracies, time and
    images/s, and at the end the test accuracy overall and per class. Writes into
    ``workdir``: ``checkpoints/``, ``metrics.jsonl``, ``metrics.png``, ``results.json``
    (``eval_results.json`` for ``eval_only``).

    Args:
      config: the run's settings (``hw4jax.config.get_config``).
      workdir: the run's directory (created).
      step_callback: called with the global step after every train step (tests use it to
        deliver a SIGINT at a chosen step).

    Returns:
      The results dict written to results.json: 'test_accuracy', 'test_loss',
      'per_class_accuracy', 'epochs' (per-epoch records), 'config', 'device', timings.

    Raises:
      ValueError: bad settings or data (the message says what to change).
      NonFiniteLossError: the loss became NaN/inf (the last good checkpoint is kept).
      KeyboardInterrupt: after saving a checkpoint to resume from.
    """
    if config.distributed:
        jax.distributed.initialize(coordinator_address=config.coordinator_address,
                                   num_processes=config.num_processes,
                                   process_id=config.process_id)
    started = time.perf_counter()
    workdir = Path(workdir)
    main_process = jax.process_index() == 0
    say = print if main_process else (lambda *a, **k: None)

    check_batch_size(config.batch_size)
    check_batch_size(config.eval_batch_size, name="eval_batch_size")
    saved_step = checkpoints.latest_step(workdir)
    if config.eval_only and saved_step is None:
        raise ValueError(f"no checkpoint in {workdir}: train first, or point --workdir at a run")
    if not (config.eval_only or config.resume) and saved_step is not None:
        raise ValueError(
            f"{workdir} already holds a run (checkpoint at step {saved_step}): pass --resume "
            "to continue it, or choose a new --workdir"
        )

    mesh = make_mesh()
    device = _device_summary(mesh, config)
    say(f"Devices: {device['device_count']} x {device['device_kind']} ({device['platform']}),"
        f" {device['process_count']} process(es); global batch {config.batch_size},"
        f" per-device batch {device['per_device_batch']}", flush=True)

    workdir.mkdir(parents=True, exist_ok=True)
    manager = checkpoints.checkpoint_manager(workdir, max_to_keep=config.checkpoints_to_keep)
    if saved_step is not None:
        saved = checkpoints.restore_progress(manager)["config"]
        if config.eval_only:  # evaluate whatever the run trained with
            config = config.replace(**{k: saved[k] for k in STATE_FIELDS})
        else:
            _check_resume(saved, config)
    data = _load_data(config)
    state = jax.device_put(initial_state(config), replicated(mesh))
    eval_fn = make_eval_step(mesh)

    progress = {"epoch": 0, "step_in_epoch": 0, "totals": None, "history": []}
    if saved_step is not None:
        state, progress = checkpoints.restore_checkpoint(manager, state)
        say(f"Restored step {int(state.step)} (epoch {progress['epoch'] + 1},"
            f" batch {progress['step_in_epoch']}) from {manager.directory}", flush=True)

    if config.eval_only:
        test = evaluate(state, _eval_batches(data), eval_fn=eval_fn, mesh=mesh)
        say(metrics_io.accuracy_table(test["correct"], test["count"], CLASS_NAMES), flush=True)
        results = _results(progress["history"], test, config=config, device=device,
                           step=int(state.step), seconds=time.perf_counter() - started)
        if main_process:
            metrics_io.write_results(workdir, results, name=metrics_io.EVAL_RESULTS_FILE)
        return results

    say(f"Training on {data.train_examples} images ({data.steps_per_epoch} steps per epoch),"
        f" testing on {data.test_examples}; {config.optimizer} lr {config.learning_rate},"
        f" augmentation {'on' if config.augment else 'off'}, seed {config.seed}", flush=True)
    train_fn = make_train_step(mesh)
    history: list[dict] = list(progress["history"])
    test = None

    def progress_record(epoch: int, step_in_epoch: int, totals: dict | None) -> dict:
        return {"epoch": epoch, "step_in_epoch": step_in_epoch, "totals": totals,
                "history": history, "config": config.to_dict(),
                "steps_per_epoch": data.steps_per_epoch}

    def checked(host: dict, window: dict | None) -> dict:
        """Folds the device window's totals into the host totals; stops on a bad loss."""
        if window is not None:
            window = jax.device_get(window)
            host = {"loss_sum": host["loss_sum"] + float(window["loss_sum"]),
                    "correct": host["correct"] + int(window["correct"]),
                    "count": host["count"] + int(window["count"])}
        if not math.isfinite(host["loss_sum"]):
            last = manager.latest_step()
            raise NonFiniteLossError(
                f"the training loss became {host['loss_sum']} by step {int(state.step)}; "
                + (f"the last good checkpoint is step {last} in {manager.directory}"
                   if last is not None else "no checkpoint was saved")
                + ": lower --learning-rate or change --optimizer"
            )
        return host

    with _InterruptFlag() as interrupt:
        for epoch in range(progress["epoch"], config.epochs):
            skip = progress["step_in_epoch"] if epoch == progress["epoch"] else 0
            saved_totals = progress["totals"] if epoch == progress["epoch"] else None
            host = saved_totals or {"loss_sum": 0.0, "correct": 0, "count": 0}
            bar = _Progress(epoch=epoch + 1, total_images=data.steps_per_epoch * config.batch_size,
                            done_images=skip * config.batch_size,
                            enabled=config.progress and main_process)
            t0 = time.perf_counter()
            window = None
            step_in_epoch = skip
            try:
                for batch in _train_batches(data, config, epoch=epoch, skip=skip):
                    if interrupt.set:
                        break
                    state, metrics = train_fn(state, shard_batch(batch, mesh))
                    window = metrics if window is None else add_metrics(window, metrics)
                    step_in_epoch += 1
                    bar.update(config.batch_size)
                    if step_callback is not None:
                        step_callback(epoch * data.steps_per_epoch + step_in_epoch)
                    if step_in_epoch % config.check_every_steps == 0:
                        host, window = checked(host, window), None
                        bar.report(host["loss_sum"] / max(host["count"], 1))
                host, window = checked(host, window), None
            finally:
                bar.close()
            if interrupt.set and step_in_epoch < data.steps_per_epoch:
                if not bool(_all_finite(state.params)):
                    raise NonFiniteLossError("the parameters became NaN/inf; no checkpoint saved")
                checkpoints.save_checkpoint(manager, state, progress_record(epoch, step_in_epoch, host))
                say(f"Interrupted: saved step {int(state.step)} (epoch {epoch + 1}, batch"
                    f" {step_in_epoch}) in {manager.directory}; continue with --resume", flush=True)
                raise KeyboardInterrupt
            seconds = time.perf_counter() - t0
            if not bool(_all_finite(state.params)):
                raise NonFiniteLossError(
                    f"the parameters became NaN/inf in epoch {epoch + 1}; the last good "
                    f"checkpoint is step {manager.latest_step()} in {manager.directory}")
            test = evaluate(state, _eval_batches(data), eval_fn=eval_fn, mesh=mesh)
            trained = (step_in_epoch - skip) * config.batch_size
            record = {
                "epoch": epoch + 1,
                "step": int(state.step),
                "train_loss_sum": host["loss_sum"],
                "train_loss_mean": host["loss_sum"] / host["count"],
                "train_accuracy": host["correct"] / host["count"],
                "test_loss": test["loss"],
                "test_accuracy": test["accuracy"],
                "seconds": seconds,
                "images_per_second": trained / seconds,
            }
            history.append(record)
            checkpoints.save_checkpoint(manager, state, progress_record(epoch + 1, 0, None))
            say(metrics_io.epoch_line(record), flush=True)
            if main_process:
                metrics_io.write_history(workdir, history)
                metrics_io.plot_history(workdir, history)
            if interrupt.set:
                say(f"Interrupted after epoch {epoch + 1}: saved step {int(state.step)};"
                    " continue with --resume", flush=True)
                raise KeyboardInterrupt

    if test is None:  # resumed a finished run: nothing trained, evaluate what is there
        test = evaluate(state, _eval_batches(data), eval_fn=eval_fn, mesh=mesh)
    say(metrics_io.accuracy_table(test["correct"], test["count"], CLASS_NAMES), flush=True)
    results = _results(history, test, config=config, device=device, step=int(state.step),
                       seconds=time.perf_counter() - started)
    if main_process:
        metrics_io.write_results(workdir, results)
    return results

