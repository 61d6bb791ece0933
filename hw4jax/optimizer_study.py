"""Question 1 as an experiment: several optimizers, same model, same start, same data.

The homework answers "is Adam always better than SGD?" with an essay (Adam converges
faster; SGD, best with momentum, often generalizes better). This module measures it:

* ``run_study`` trains the homework CNN once per optimizer (``OptimizerSpec``: a name of
  ``hw4jax.optimizers.OPTIMIZERS`` and its learning rate) from the *same* initial state
  (params, BatchNorm statistics, dropout key; only ``opt_state`` is fresh for each
  optimizer's ``tx``) on the *same* batches (``input_pipeline.train_dataset`` is a pure
  function of (seed, epoch)), and records per epoch the train loss, the test loss and
  accuracy and the wall time. The optimizers take turns epoch by epoch, so that a change
  in the machine's load hits all of them alike.
* Equal starts and equal data are checked, not assumed: every optimizer records a SHA-256
  fingerprint of its initial state and of each epoch's batches (labels and images, in the
  order its steps consumed them); a fingerprint that differs from the first optimizer's
  raises ``StudyMismatchError`` at once (``check_same_start_and_data``).
* ``tiny_net_losses`` is the same comparison on the homework's 2-2-1 network
  (``hw4jax.backprop.optimizer_losses``, float64, seconds): loss per iteration.
* ``run_cifar10_study`` loads CIFAR-10 through tfds (``hw4jax.cifar10``), runs the study
  and writes ``cnn_results.json`` and ``cnn_curves.png``; ``write_tiny_net`` writes
  ``tiny_net.json`` and ``tiny_net.png``. ``scripts/compare_optimizers.py`` is their CLI.

The training step, evaluation step, mesh and sharding are ``hw4jax.train``'s; the steps are
compiled ahead of time per optimizer, so compilation is timed apart from training.
Single process (one host, any number of local devices).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hw4jax import backprop, train
from hw4jax.config import get_config
from hw4jax.models import CNN
from hw4jax.optimizers import (DEFAULT_LEARNING_RATES, DEFAULT_MOMENTUM, OPTIMIZERS,
                               TORCH_ADAMW_WEIGHT_DECAY, make_optimizer)

RESULTS_FILE = "cnn_results.json"
PLOT_FILE = "cnn_curves.png"
TINY_RESULTS_FILE = "tiny_net.json"
TINY_PLOT_FILE = "tiny_net.png"

# The CPU defaults (about 20 minutes for four optimizers on a shared 2-core machine);
# a GPU takes the full data: train_examples=None, test_examples=None, epochs=30.
DEFAULT_TRAIN_EXAMPLES = 5000
DEFAULT_TEST_EXAMPLES = 1000
DEFAULT_EPOCHS = 3
DEFAULT_BATCH_SIZE = 32
# The 2-2-1 net: the homework's alpha for every optimizer, over this many iterations.
TINY_LEARNING_RATE = 0.1
TINY_ITERATIONS = 100
# Points per epoch of the train-loss curve (each the mean loss over a window of steps).
CURVE_POINTS_PER_EPOCH = 20


class StudyMismatchError(RuntimeError):
    """Two optimizers of one study started from different states or saw different data."""


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """One contestant: an optimizer of ``hw4jax.optimizers.OPTIMIZERS`` and its learning rate."""

    name: str
    learning_rate: float

    def __post_init__(self) -> None:
        make_optimizer(self.name, self.learning_rate)  # raises ValueError naming the problem

    @property
    def label(self) -> str:
        """'adam=0.001': unique within a study (one optimizer may run at several rates)."""
        return f"{self.name}={self.learning_rate:g}"


DEFAULT_OPTIMIZERS = tuple(OptimizerSpec(name, DEFAULT_LEARNING_RATES[name])
                           for name in ("adam", "sgd", "momentum", "adamw"))


def parse_optimizer_specs(texts: Iterable[str]) -> tuple[OptimizerSpec, ...]:
    """``['adam=1e-3', 'sgd=1e-2', 'momentum']`` -> specs; a bare name takes its torch.optim
    default learning rate (``DEFAULT_LEARNING_RATES``).

    Raises:
      ValueError: an unknown name, a learning rate that is not a number > 0, a repeated
        (name, rate) pair, or no optimizer at all.
    """
    specs = []
    for text in texts:
        name, sep, rate = text.partition("=")
        name = name.strip().lower()
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r} in {text!r}: choose from "
                             f"{', '.join(OPTIMIZERS)}, e.g. adam=1e-3")
        if not sep:
            specs.append(OptimizerSpec(name, DEFAULT_LEARNING_RATES[name]))
            continue
        try:
            learning_rate = float(rate)
        except ValueError:
            raise ValueError(f"learning rate {rate!r} in {text!r} is not a number: "
                             f"write e.g. {name}=1e-3") from None
        specs.append(OptimizerSpec(name, learning_rate))
    return _checked_specs(specs)


def _checked_specs(specs: Sequence[OptimizerSpec]) -> tuple[OptimizerSpec, ...]:
    specs = tuple(specs)
    if not specs:
        raise ValueError("no optimizer given: pass e.g. adam=1e-3 sgd=1e-2")
    labels = [s.label for s in specs]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"optimizer(s) {', '.join(repeated)} given twice: give each "
                         "(optimizer, learning rate) pair once")
    return specs


@dataclasses.dataclass(frozen=True, kw_only=True)
class StudyConfig:
    """Settings of one comparison; everything but the optimizers is shared by all of them.

    Attributes:
      optimizers: the contestants, in the order they take turns.
      epochs, batch_size, eval_batch_size, seed, augment, train_examples, test_examples,
      momentum, weight_decay, data_dir, archive: as in ``hw4jax.config.Config`` (and
        validated by it); ``momentum`` is used by 'momentum', ``weight_decay`` by 'adamw'.
      progress_seconds: at most one progress line per this many seconds within an epoch.
    """

    optimizers: tuple[OptimizerSpec, ...] = DEFAULT_OPTIMIZERS
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = DEFAULT_BATCH_SIZE
    eval_batch_size: int = 256
    seed: int = 0
    augment: bool = True
    train_examples: int | None = DEFAULT_TRAIN_EXAMPLES
    test_examples: int | None = DEFAULT_TEST_EXAMPLES
    momentum: float = DEFAULT_MOMENTUM
    weight_decay: float = TORCH_ADAMW_WEIGHT_DECAY
    data_dir: str | None = None
    archive: str | None = None
    progress_seconds: float = 60.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "optimizers", _checked_specs(self.optimizers))
        for spec in self.optimizers:
            self.run_config(spec)  # Config's validation and messages for the shared fields

    def run_config(self, spec: OptimizerSpec):
        """The ``hw4jax.config.Config`` of one optimizer's run in this study."""
        return get_config(
            epochs=self.epochs, batch_size=self.batch_size, optimizer=spec.name,
            learning_rate=spec.learning_rate, momentum=self.momentum,
            weight_decay=self.weight_decay, seed=self.seed, augment=self.augment,
            eval_batch_size=self.eval_batch_size, train_examples=self.train_examples,
            test_examples=self.test_examples, data_dir=self.data_dir, archive=self.archive)

    def to_dict(self) -> dict:
        """JSON-ready: the optimizers as {'name', 'learning_rate', 'label'} dicts."""
        d = dataclasses.asdict(self)
        d["optimizers"] = [{"name": s.name, "learning_rate": s.learning_rate, "label": s.label}
                           for s in self.optimizers]
        return d


# ----------------------------------------------------------------------------------------
# Fingerprints


def tree_fingerprint(tree: Any) -> str:
    """SHA-256 (hex) of a pytree's structure, and each leaf's path, dtype, shape and bytes."""
    digest = hashlib.sha256()
    leaves, treedef = jax.tree_util.tree_flatten_with_path(jax.device_get(tree))
    digest.update(str(treedef).encode())
    for path, leaf in leaves:
        leaf = np.asarray(leaf)
        digest.update(f"{jax.tree_util.keystr(path)}|{leaf.dtype}|{leaf.shape}|".encode())
        digest.update(np.ascontiguousarray(leaf).tobytes())
    return digest.hexdigest()


def start_fingerprint(state: train.TrainState) -> str:
    """The fingerprint of what every optimizer must share at step 0: params, batch_stats
    and the dropout key (not opt_state, which is each optimizer's own)."""
    return tree_fingerprint({"params": state.params, "batch_stats": state.batch_stats,
                             "key": state.key, "step": state.step})


def check_same_start_and_data(runs: dict[str, dict]) -> None:
    """Raises ``StudyMismatchError`` unless every run has the first run's start fingerprint
    and, for each epoch both have finished, its data fingerprint.

    Args:
      runs: label -> {'start_fingerprint': str, 'epochs': [{'data_fingerprint': str}, ...]}.
    """
    items = list(runs.items())
    if not items:
        return
    first_label, first = items[0]
    for label, run in items[1:]:
        if run["start_fingerprint"] != first["start_fingerprint"]:
            raise StudyMismatchError(
                f"{label} starts from other weights than {first_label} "
                f"({run['start_fingerprint'][:12]} != {first['start_fingerprint'][:12]})")
        for a, b in zip(first["epochs"], run["epochs"]):
            if a["data_fingerprint"] != b["data_fingerprint"]:
                raise StudyMismatchError(
                    f"{label} saw other batches than {first_label} in epoch {b['epoch']} "
                    f"({b['data_fingerprint'][:12]} != {a['data_fingerprint'][:12]}): the "
                    "input pipeline is not deterministic in (seed, epoch)")


# ----------------------------------------------------------------------------------------
# The CNN study


# Compiled steps, kept for the process: a second study (or a learning-rate sweep's repeated
# optimizer) with the same shapes re-uses them; XLA on a CPU takes tens of seconds a step.
_COMPILED: dict[tuple, Any] = {}
# Evaluation reads only params and batch_stats: one optimizer-free state layout, so that
# one compiled eval step serves every optimizer.
_EVAL_TX = optax.identity()
# One model object: a state's pytree holds ``apply_fn``, a method bound to it, and bound
# methods of two equal modules are not equal (Python compares ``__self__`` by identity).
_MODEL = CNN()


def _fresh_state(start: dict, *, tx: optax.GradientTransformation, mesh) -> train.TrainState:
    """A train state at step 0 with ``start``'s (host) params, batch_stats and key and a
    fresh opt_state for ``tx``, replicated over ``mesh`` (new device buffers, so donating
    one optimizer's state never touches another's)."""
    state = train.TrainState.create(apply_fn=_MODEL.apply, params=start["params"], tx=tx,
                                    batch_stats=start["batch_stats"], key=start["key"])
    return jax.device_put(state.replace(step=jnp.zeros((), jnp.int32)), train.replicated(mesh))


@functools.lru_cache(maxsize=64)
def _tx(spec: OptimizerSpec, momentum: float, weight_decay: float) -> optax.GradientTransformation:
    """``make_optimizer``, one object per setting: the state's pytree holds the
    transformation, so an equal object keeps the compiled train step valid."""
    return make_optimizer(spec.name, spec.learning_rate, momentum=momentum,
                          weight_decay=weight_decay)


def _eval_state(state: train.TrainState) -> train.TrainState:
    """``state`` for evaluation: the same params and batch_stats, no optimizer."""
    return state.replace(tx=_EVAL_TX, opt_state=optax.EmptyState())


def _batch_spec(batch_size: int, mesh, *, mask: bool) -> dict:
    data = train.batch_sharded(mesh)
    spec = {"image": jax.ShapeDtypeStruct((batch_size, *train.IMAGE_SHAPE), jnp.float32,
                                          sharding=data),
            "label": jax.ShapeDtypeStruct((batch_size,), jnp.int32, sharding=data)}
    if mask:
        spec["mask"] = jax.ShapeDtypeStruct((batch_size,), jnp.bool_, sharding=data)
    return spec


def _compile(state: train.TrainState, *, batch_size: int, eval_batch_size: int, mesh):
    """``hw4jax.train``'s train step (for this state's optimizer) and eval step (for
    ``_eval_state``), compiled ahead of time for these batch sizes, or taken from the
    process's cache."""
    devices = tuple(d.id for d in mesh.devices.flat)
    train_key = ("train", state.tx, batch_size, devices)
    if train_key not in _COMPILED:
        _COMPILED[train_key] = train.make_train_step(mesh).lower(
            state, _batch_spec(batch_size, mesh, mask=False)).compile()
    eval_key = ("eval", eval_batch_size, devices)
    if eval_key not in _COMPILED:
        _COMPILED[eval_key] = train.make_eval_step(mesh).lower(
            _eval_state(state), _batch_spec(eval_batch_size, mesh, mask=True)).compile()
    return _COMPILED[train_key], _COMPILED[eval_key]


def _train_epoch(state, batches, *, train_fn, mesh, window: int, progress: Callable[[int], None]):
    """One epoch: returns (state, totals (host), data fingerprint, window mean losses)."""
    from hw4jax import input_pipeline

    digest = hashlib.sha256()
    totals, window_sums, current = None, [], None
    for step, batch in enumerate(input_pipeline.as_numpy_batches(batches), 1):
        digest.update(np.ascontiguousarray(batch["label"]).tobytes())
        digest.update(np.ascontiguousarray(batch["image"]).tobytes())
        state, metrics = train_fn(state, train.shard_batch(batch, mesh))
        totals = metrics if totals is None else train.add_metrics(totals, metrics)
        current = metrics if current is None else train.add_metrics(current, metrics)
        if step % window == 0:
            window_sums.append(current)
            current = None
        progress(step)
    if current is not None:
        window_sums.append(current)
    if totals is None:
        raise ValueError("the epoch has no training batch: raise --train-examples or lower "
                         "--batch-size")
    totals, window_sums = jax.device_get((totals, window_sums))
    curve = [float(w["loss_sum"]) / int(w["count"]) for w in window_sums]
    return state, totals, digest.hexdigest(), curve


def run_study(train_ds, test_ds, *, study: StudyConfig,
              log: Callable[[str], None] = print) -> dict:
    """Trains the CNN with every optimizer of ``study`` from one initial state on one data
    order, and evaluates after every epoch.

    Args:
      train_ds: one pass over the training split, {'image': uint8 [32, 32, 3], 'label':
        int []}, in a deterministic order (``cifar10.load_split`` or
        ``tf.data.Dataset.from_tensor_slices`` of arrays); all of it is used.
      test_ds: the same for the test split.
      study: the settings (``train_examples``/``test_examples`` are the loader's business
        and not applied here).
      log: receives one line per finished (optimizer, epoch) and progress lines.

    Returns:
      {'config', 'device', 'train_examples', 'test_examples', 'steps_per_epoch',
       'start_fingerprint', 'runs': {label: run}}, where each run is {'optimizer',
       'learning_rate', 'start_fingerprint', 'compile_seconds', 'diverged_in_epoch' (None
       or 1-based), 'epochs': [{'epoch', 'step', 'train_loss', 'train_accuracy',
       'test_loss', 'test_accuracy', 'train_seconds', 'eval_seconds', 'images_per_second',
       'data_fingerprint', 'loss_curve': mean train loss per window of steps}]}.
      An optimizer whose loss becomes NaN/inf stops there (recorded in
      'diverged_in_epoch'); the others go on.

    Raises:
      StudyMismatchError: two optimizers started from different states or saw different
        batches (never expected: it means a bug or a non-deterministic pipeline).
      ValueError: bad settings (batch size not split over the devices, too few examples,
        more than one process).
    """
    from hw4jax import input_pipeline
    from hw4jax.augment import AugmentConfig

    if jax.process_count() != 1:
        raise ValueError("the optimizer study runs in one process: launch it without "
                         "jax.distributed (all local devices are used)")
    train.check_batch_size(study.batch_size)
    train.check_batch_size(study.eval_batch_size, name="eval_batch_size")
    n_train = input_pipeline.count_examples(train_ds)
    n_test = input_pipeline.count_examples(test_ds)
    steps = input_pipeline.steps_per_epoch(n_train, batch_size=study.batch_size)
    if steps == 0:
        raise ValueError(f"{n_train} training examples make no batch of {study.batch_size}: "
                         "lower --batch-size or use more --train-examples")
    window = max(1, steps // CURVE_POINTS_PER_EPOCH)
    mesh = train.make_mesh()
    devices = mesh.devices.ravel()

    # One initial state, kept on the host; each optimizer gets fresh device copies of it.
    base = train.create_train_state(jax.random.key(study.seed), model=_MODEL,
                                    tx=optax.identity())
    start = jax.device_get({"params": base.params, "batch_stats": base.batch_stats,
                            "key": base.key})
    runs: dict[str, dict] = {}
    states, steps_fns = {}, {}
    for spec in study.optimizers:
        config = study.run_config(spec)
        tx = _tx(spec, config.momentum, config.weight_decay)
        state = _fresh_state(start, tx=tx, mesh=mesh)
        t0 = time.perf_counter()
        steps_fns[spec.label] = _compile(state, batch_size=study.batch_size,
                                         eval_batch_size=study.eval_batch_size, mesh=mesh)
        states[spec.label] = state
        runs[spec.label] = {
            "optimizer": spec.name, "learning_rate": spec.learning_rate,
            "start_fingerprint": start_fingerprint(state),
            "compile_seconds": time.perf_counter() - t0,
            "diverged_in_epoch": None, "epochs": [],
        }
        check_same_start_and_data(runs)
    log(f"Optimizer study: {', '.join(runs)}; {n_train} train / {n_test} test images, "
        f"batch {study.batch_size}, {steps} steps per epoch, {study.epochs} epoch(s), "
        f"augmentation {'on' if study.augment else 'off'}, seed {study.seed}; "
        f"{devices.size} x {devices[0].device_kind}; one start "
        f"{runs[study.optimizers[0].label]['start_fingerprint'][:12]}; compiled in "
        f"{sum(run['compile_seconds'] for run in runs.values()):.0f} s")

    for epoch in range(study.epochs):
        for spec in study.optimizers:
            label, run = spec.label, runs[spec.label]
            if run["diverged_in_epoch"] is not None:
                continue
            train_fn, eval_fn = steps_fns[label]
            # Built anew for every optimizer: equal fingerprints then show that the
            # pipeline really is a function of (seed, epoch), not that one list was reused.
            batches = input_pipeline.train_dataset(
                train_ds, batch_size=study.batch_size, seed=study.seed, epoch=epoch,
                augment=AugmentConfig() if study.augment else None)
            t0 = last = time.perf_counter()

            def progress(step: int) -> None:
                nonlocal last
                now = time.perf_counter()
                if now - last >= study.progress_seconds:
                    last = now
                    log(f"  {label} epoch {epoch + 1}: step {step}/{steps}, "
                        f"{step * study.batch_size / (now - t0):.1f} images/s")

            state, totals, data_fingerprint, curve = _train_epoch(
                states[label], batches, train_fn=train_fn, mesh=mesh, window=window,
                progress=progress)
            train_seconds = time.perf_counter() - t0
            states[label] = state
            train_loss = float(totals["loss_sum"]) / int(totals["count"])
            record = {
                "epoch": epoch + 1, "step": (epoch + 1) * steps,
                "train_loss": train_loss,
                "train_accuracy": int(totals["correct"]) / int(totals["count"]),
                "train_seconds": train_seconds,
                "images_per_second": steps * study.batch_size / train_seconds,
                "data_fingerprint": data_fingerprint, "loss_curve": curve,
            }
            run["epochs"].append(record)
            check_same_start_and_data(runs)
            if not math.isfinite(train_loss):
                run["diverged_in_epoch"] = epoch + 1
                record.update(test_loss=None, test_accuracy=None, eval_seconds=0.0)
                log(f"{label:<16} epoch {epoch + 1}: the train loss became {train_loss}; "
                    "this optimizer stops here (lower its learning rate)")
                continue
            t0 = time.perf_counter()
            test = train.evaluate(_eval_state(state), input_pipeline.as_numpy_batches(
                input_pipeline.eval_dataset(test_ds, batch_size=study.eval_batch_size)),
                eval_fn=eval_fn, mesh=mesh)
            record.update(test_loss=test["loss"], test_accuracy=test["accuracy"],
                          eval_seconds=time.perf_counter() - t0)
            log(f"{label:<16} epoch {epoch + 1}: train loss {train_loss:.4f}, train acc "
                f"{100 * record['train_accuracy']:.2f}%, test loss {test['loss']:.4f}, test acc "
                f"{100 * test['accuracy']:.2f}%, {train_seconds:.1f} s "
                f"({record['images_per_second']:.1f} images/s)")

    return {
        "config": study.to_dict(),
        "device": {"platform": devices[0].platform, "device_kind": devices[0].device_kind,
                   "device_count": int(devices.size)},
        "train_examples": n_train, "test_examples": n_test, "steps_per_epoch": steps,
        "curve_window_steps": window,
        "start_fingerprint": runs[study.optimizers[0].label]["start_fingerprint"],
        "runs": runs,
    }


def load_cifar10(study: StudyConfig):
    """(train_ds, test_ds) of tfds's cifar10 in ``study.data_dir``, the first
    ``train_examples`` / ``test_examples`` of each split; prepared offline from
    ``study.archive`` first when that is given and the data is not yet prepared.

    Raises:
      hw4jax.cifar10.DatasetNotPreparedError (a ValueError): not prepared, no archive given.
    """
    from hw4jax import cifar10

    if study.archive is not None:
        cifar10.prepare_offline(study.archive, study.data_dir)

    def split(name: str, n: int | None) -> str:
        return name if n is None else f"{name}[:{n}]"

    return (cifar10.load_split(split("train", study.train_examples), data_dir=study.data_dir),
            cifar10.load_split(split("test", study.test_examples), data_dir=study.data_dir))


def run_cifar10_study(study: StudyConfig, out_dir: str | Path, *,
                      log: Callable[[str], None] = print) -> dict:
    """Loads CIFAR-10 (``load_cifar10``), runs ``run_study``, prints the table and writes
    ``<out_dir>/cnn_results.json`` and ``<out_dir>/cnn_curves.png``. Returns the results."""
    started = time.perf_counter()
    train_ds, test_ds = load_cifar10(study)
    results = run_study(train_ds, test_ds, study=study, log=log)
    results["seconds"] = time.perf_counter() - started
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RESULTS_FILE).write_text(json.dumps(results, indent=2) + "\n")
    plot_study(results, out_dir / PLOT_FILE)
    log(format_study_table(results))
    return results


def format_study_table(results: dict) -> str:
    """Per optimizer and epoch: train loss, train and test accuracy, test loss, seconds."""
    header = (f"{'optimizer':<16}{'epoch':>6}{'train loss':>12}{'train acc':>11}"
              f"{'test loss':>11}{'test acc':>10}{'train s':>9}{'img/s':>8}")
    lines = [header, "-" * len(header)]

    def num(x, fmt, scale=1.0):
        return format(scale * x, fmt) if x is not None else "-"

    for label, run in results["runs"].items():
        for r in run["epochs"]:
            lines.append(
                f"{label:<16}{r['epoch']:>6}{num(r['train_loss'], '.4f'):>12}"
                f"{100 * r['train_accuracy']:>10.2f}%"
                f"{num(r['test_loss'], '.4f'):>11}"
                f"{num(r['test_accuracy'], '.2f', 100.0):>9}%"
                f"{r['train_seconds']:>9.1f}{r['images_per_second']:>8.1f}")
    lines.append(f"({results['train_examples']} train / {results['test_examples']} test "
                 f"images, {results['steps_per_epoch']} steps per epoch; every optimizer "
                 f"started from {results['start_fingerprint'][:12]} and saw the same batches)")
    return "\n".join(lines)


def plot_study(results: dict, path: str | Path) -> Path:
    """Train loss (per window of steps), test loss and test accuracy per epoch, one curve
    per optimizer, side by side, into the PNG ``path``.

    Draws on a bare ``Figure`` with an Agg canvas, so matplotlib's global backend (and any
    display) is never touched.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 4))
    FigureCanvasAgg(fig)
    loss_ax, test_loss_ax, acc_ax = fig.subplots(1, 3)
    steps = results["steps_per_epoch"]
    window = results["curve_window_steps"]
    for label, run in results["runs"].items():
        curve = [v for r in run["epochs"] for v in r["loss_curve"]]
        x = []
        for r in run["epochs"]:
            start = (r["epoch"] - 1) * steps
            x += [(start + min((k + 1) * window, steps)) / steps
                  for k in range(len(r["loss_curve"]))]
        (line,) = loss_ax.plot(x, curve, label=label)
        done = [r for r in run["epochs"] if r["test_accuracy"] is not None]
        epochs = [r["epoch"] for r in done]
        test_loss_ax.plot(epochs, [r["test_loss"] for r in done], "o-", color=line.get_color(),
                          label=label)
        acc_ax.plot(epochs, [100 * r["test_accuracy"] for r in done], "o-",
                    color=line.get_color(), label=label)
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy",
                title=f"train loss (mean over {window} step{'s' if window > 1 else ''})")
    test_loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="test loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="test accuracy")
    for ax in (loss_ax, test_loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"Same initial weights, same batches: {results['train_examples']} train / "
                 f"{results['test_examples']} test images, batch "
                 f"{results['config']['batch_size']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)


# ----------------------------------------------------------------------------------------
# The 2-2-1 network


def tiny_net_losses(specs: Sequence[OptimizerSpec], *, iterations: int = TINY_ITERATIONS,
                    momentum: float = DEFAULT_MOMENTUM,
                    weight_decay: float = TORCH_ADAMW_WEIGHT_DECAY) -> dict[str, np.ndarray]:
    """Loss per iteration of every optimizer on the homework's 2-2-1 net (its inputs,
    target, all weights 0.5, E = 1/2 (y - O_out)^2), in float64.

    Returns:
      label -> float64 [iterations + 1]: E at the initial weights, then after each step.
    """
    return {spec.label: backprop.optimizer_losses(
                make_optimizer(spec.name, spec.learning_rate, momentum=momentum,
                               weight_decay=weight_decay),
                iterations=iterations)
            for spec in _checked_specs(specs)}


def format_tiny_net(losses: dict[str, np.ndarray]) -> str:
    """The loss of each optimizer at iterations 0, 1, 2, 5, 10, 20, 50, ... (and the last)."""
    n = len(next(iter(losses.values()))) - 1
    marks = sorted({k for k in (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if k <= n} | {n})
    labels = list(losses)
    width = max(12, *(len(label) + 2 for label in labels))
    lines = ["2-2-1 net, E = 1/2 (y - O_out)^2 after k steps (float64)",
             f"{'k':>6}" + "".join(f"{label:>{width}}" for label in labels)]
    for k in marks:
        lines.append(f"{k:>6}" + "".join(f"{losses[label][k]:>{width}.4e}" for label in labels))
    return "\n".join(lines)


def plot_tiny_net(losses: dict[str, np.ndarray], path: str | Path) -> Path:
    """Loss per iteration (log scale), one curve per optimizer, into the PNG ``path``
    (bare ``Figure`` with an Agg canvas: the global backend is never touched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for label, curve in losses.items():
        ax.plot(np.arange(len(curve)), curve, label=label)
    ax.set(xlabel="iteration", ylabel="E = 1/2 (y - O_out)^2", yscale="log",
           title="2-2-1 net (homework's start: all weights 0.5)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)


def write_tiny_net(specs: Sequence[OptimizerSpec], out_dir: str | Path, *,
                   iterations: int = TINY_ITERATIONS, momentum: float = DEFAULT_MOMENTUM,
                   weight_decay: float = TORCH_ADAMW_WEIGHT_DECAY,
                   log: Callable[[str], None] = print) -> dict[str, np.ndarray]:
    """``tiny_net_losses``, printed, and written to ``<out_dir>/tiny_net.json`` and
    ``<out_dir>/tiny_net.png``. Returns the losses."""
    losses = tiny_net_losses(specs, iterations=iterations, momentum=momentum,
                             weight_decay=weight_decay)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / TINY_RESULTS_FILE).write_text(json.dumps(
        {"iterations": iterations, "loss": "1/2 (y - O_out)^2",
         "optimizers": [{"name": s.name, "learning_rate": s.learning_rate, "label": s.label}
                        for s in specs],
         "losses": {label: curve.tolist() for label, curve in losses.items()}},
        indent=2) + "\n")
    plot_tiny_net(losses, out_dir / TINY_PLOT_FILE)
    log(format_tiny_net(losses))
    return losses
