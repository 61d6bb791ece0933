"""Question 1 as an experiment: several optimizers, same model, same start, same data.

The homework answers "is Adam always better than SGD?" with an essay (Adam converges
faster; SGD, best with momentum, often generalizes better). This module measures it:

* ``run_study`` trains the homework CNN once per optimizer (``OptimizerSpec``: a name of
  ``hw4jax.training.optimizers.OPTIMIZERS`` and its learning rate) from the *same* initial
  state (params, BatchNorm statistics, dropout key; only ``opt_state`` is fresh for each
  optimizer's ``tx``) on the *same* batches (``Input.train_batches`` is a pure function of
  the epoch), and records per epoch the train loss, the test loss and accuracy and the
  wall time. The optimizers take turns epoch by epoch, so that a change in the machine's
  load hits all of them alike.
* Equal starts and equal data are checked, not assumed: every optimizer records a SHA-256
  fingerprint of its initial state and of each epoch's batches (labels and images, in the
  order its steps consumed them; ``hw4jax.studies.fingerprints``); a fingerprint that
  differs from the first optimizer's raises ``StudyMismatchError`` at once
  (``check_same_start_and_data``).
* ``tiny_net_losses`` is the same comparison on the homework's 2-2-1 network
  (``hw4jax.backprop.optimizer_losses``, float64, seconds): loss per iteration.
* ``run_cifar10_study`` takes CIFAR-10 through tfds (``hw4jax.training.inputs``), runs the
  study and writes ``cnn_results.json`` and ``cnn_curves.png``; ``write_tiny_net`` writes
  ``tiny_net.json`` and ``tiny_net.png``. ``scripts/compare_optimizers.py`` is their CLI.

Each optimizer's epoch is ``hw4jax.training.loop.train_epoch`` and each evaluation
``hw4jax.training.loop.evaluate``, the pieces ``train_and_evaluate`` runs: the study is
the loop's epochs with the optimizers taking turns (which is why it does not call
``train_and_evaluate`` itself, one whole run after another). A per-step observer takes the
data fingerprint and the loss curve. The steps are compiled ahead of time per optimizer,
so compilation is timed apart from training. Single process (one host, any number of
local devices).
"""

from __future__ import annotations

import dataclasses
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

from hw4jax import backprop
from hw4jax.data.cifar10_archive import IMAGE_SHAPE
from hw4jax.studies.fingerprints import BatchDigest, start_fingerprint
from hw4jax.studies.fingerprints import tree_fingerprint as tree_fingerprint  # re-exported
from hw4jax.studies.optimizer_report import (
    format_study_table,
    format_tiny_net,
    plot_study,
    plot_tiny_net,
)
from hw4jax.training import loop, sharding, steps
from hw4jax.training.config import Config, get_config
from hw4jax.training.inputs import Input, cifar10_input
from hw4jax.training.optimizers import (
    DEFAULT_LEARNING_RATES,
    DEFAULT_MOMENTUM,
    OPTIMIZERS,
    TORCH_ADAMW_WEIGHT_DECAY,
    make_optimizer,
)
from hw4jax.training.state import (
    MODEL,
    TrainState,
    cached_optimizer,
    create_train_state,
    restart_state,
)

RESULTS_FILE = "cnn_results.json"
PLOT_FILE = "cnn_curves.png"
TINY_RESULTS_FILE = "tiny_net.json"
TINY_PLOT_FILE = "tiny_net.png"

# The CPU defaults (sized for a 2-core CPU; the README gives the time); a GPU takes
# the full data: train_examples=None, test_examples=None, epochs=30.
DEFAULT_TRAIN_EXAMPLES = 5000
DEFAULT_TEST_EXAMPLES = 1000
DEFAULT_EPOCHS = 3
DEFAULT_BATCH_SIZE = 32
# The 2-2-1 net: the homework's alpha for every optimizer, over this many iterations.
TINY_LEARNING_RATE = 0.1
TINY_ITERATIONS = 100
# Points per epoch of the train-loss curve (each the mean loss over a window of steps).
CURVE_POINTS_PER_EPOCH = 20
# The StudyConfig fields every optimizer's Config shares.
_SHARED_CONFIG_FIELDS = (
    "epochs",
    "batch_size",
    "momentum",
    "weight_decay",
    "seed",
    "augment",
    "eval_batch_size",
    "train_examples",
    "test_examples",
    "data_dir",
    "archive",
)
# Evaluation reads only params and batch_stats: one optimizer-free state layout, so that
# one compiled eval step serves every optimizer.
_EVAL_TX = optax.identity()


class StudyMismatchError(RuntimeError):
    """Two optimizers of one study started from different states or saw different data."""


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """One contestant: an optimizer of ``hw4jax.training.optimizers.OPTIMIZERS`` and its
    learning rate."""

    name: str
    learning_rate: float

    def __post_init__(self) -> None:
        make_optimizer(self.name, self.learning_rate)  # raises ValueError naming the problem

    @property
    def label(self) -> str:
        """'adam=0.001': unique within a study (one optimizer may run at several rates)."""
        return f"{self.name}={self.learning_rate:g}"


DEFAULT_OPTIMIZERS = tuple(
    OptimizerSpec(name, DEFAULT_LEARNING_RATES[name])
    for name in ("adam", "sgd", "momentum", "adamw")
)


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
            raise ValueError(
                f"unknown optimizer {name!r} in {text!r}: choose from "
                f"{', '.join(OPTIMIZERS)}, e.g. adam=1e-3"
            )
        if not sep:
            specs.append(OptimizerSpec(name, DEFAULT_LEARNING_RATES[name]))
            continue
        try:
            learning_rate = float(rate)
        except ValueError:
            raise ValueError(
                f"learning rate {rate!r} in {text!r} is not a number: write e.g. {name}=1e-3"
            ) from None
        specs.append(OptimizerSpec(name, learning_rate))
    return _checked_specs(specs)


def _checked_specs(specs: Sequence[OptimizerSpec]) -> tuple[OptimizerSpec, ...]:
    specs = tuple(specs)
    if not specs:
        raise ValueError("no optimizer given: pass e.g. adam=1e-3 sgd=1e-2")
    labels = [s.label for s in specs]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(
            f"optimizer(s) {', '.join(repeated)} given twice: give each "
            "(optimizer, learning rate) pair once"
        )
    return specs


@dataclasses.dataclass(frozen=True, kw_only=True)
class StudyConfig:
    """Settings of one comparison; everything but the optimizers is shared by all of them.

    Attributes:
      optimizers: the contestants, in the order they take turns.
      epochs, batch_size, eval_batch_size, seed, augment, train_examples, test_examples,
      momentum, weight_decay, data_dir, archive: as in ``hw4jax.training.config.Config`` (and
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

    def run_config(self, spec: OptimizerSpec) -> Config:
        """The ``hw4jax.training.config.Config`` of one optimizer's run in this study."""
        shared = {name: getattr(self, name) for name in _SHARED_CONFIG_FIELDS}
        return get_config(optimizer=spec.name, learning_rate=spec.learning_rate, **shared)

    def to_dict(self) -> dict:
        """JSON-ready: the optimizers as {'name', 'learning_rate', 'label'} dicts."""
        d = dataclasses.asdict(self)
        d["optimizers"] = [
            {"name": s.name, "learning_rate": s.learning_rate, "label": s.label}
            for s in self.optimizers
        ]
        return d


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
                f"({run['start_fingerprint'][:12]} != {first['start_fingerprint'][:12]})"
            )
        for a, b in zip(first["epochs"], run["epochs"]):
            if a["data_fingerprint"] != b["data_fingerprint"]:
                raise StudyMismatchError(
                    f"{label} saw other batches than {first_label} in epoch {b['epoch']} "
                    f"({b['data_fingerprint'][:12]} != {a['data_fingerprint'][:12]}): the "
                    "input pipeline is not deterministic in (seed, epoch)"
                )


# ----------------------------------------------------------------------------------------
# The CNN study


@dataclasses.dataclass
class _Contestant:
    """One optimizer of a study: its state, its compiled steps and its record ('run')."""

    spec: OptimizerSpec
    state: TrainState
    train_fn: Any
    eval_fn: Any
    run: dict


def _eval_state(state: TrainState) -> TrainState:
    """``state`` for evaluation: the same params and batch_stats, no optimizer."""
    return state.replace(tx=_EVAL_TX, opt_state=optax.EmptyState())


def _batch_spec(batch_size: int, mesh, *, mask: bool) -> dict:
    data = sharding.batch_sharded(mesh)
    spec = {
        "image": jax.ShapeDtypeStruct((batch_size, *IMAGE_SHAPE), jnp.float32, sharding=data),
        "label": jax.ShapeDtypeStruct((batch_size,), jnp.int32, sharding=data),
    }
    if mask:
        spec["mask"] = jax.ShapeDtypeStruct((batch_size,), jnp.bool_, sharding=data)
    return spec


def _contestant(spec: OptimizerSpec, start: dict, *, study: StudyConfig, mesh) -> _Contestant:
    """``spec``'s optimizer from the study's ``start`` (host params, batch_stats, key), on
    ``mesh``, with its train step (for its optimizer) and eval step (for ``_eval_state``)
    compiled ahead of time for the study's batch sizes (JAX keeps compiled programs for the
    process: a second study with the same shapes does not compile again)."""
    tx = cached_optimizer(spec.name, spec.learning_rate, study.momentum, study.weight_decay)
    state = jax.device_put(restart_state(start, tx=tx), sharding.replicated(mesh))
    t0 = time.perf_counter()
    train_fn = (
        steps.make_train_step(mesh)
        .lower(state, _batch_spec(study.batch_size, mesh, mask=False))
        .compile()
    )
    eval_fn = (
        steps.make_eval_step(mesh)
        .lower(_eval_state(state), _batch_spec(study.eval_batch_size, mesh, mask=True))
        .compile()
    )
    run = {
        "optimizer": spec.name,
        "learning_rate": spec.learning_rate,
        "start_fingerprint": start_fingerprint(state),
        "compile_seconds": time.perf_counter() - t0,
        "diverged_in_epoch": None,
        "epochs": [],
    }
    return _Contestant(spec=spec, state=state, train_fn=train_fn, eval_fn=eval_fn, run=run)


class _EpochObserver:
    """Watches one optimizer's epoch step by step (``loop.train_epoch``'s ``on_step``): the
    batches into the data fingerprint, the step metrics into the loss curve's windows of
    ``window`` steps, and a progress line at most every ``seconds``."""

    def __init__(
        self,
        *,
        window: int,
        seconds: float,
        log: Callable[[str], None],
        label: str,
        steps_per_epoch: int,
        batch_size: int,
    ) -> None:
        self.digest = BatchDigest()
        self.window, self.windows, self.current = window, [], None
        self.seconds, self.log, self.label = seconds, log, label
        self.steps, self.batch_size = steps_per_epoch, batch_size
        self.start = self.last = time.perf_counter()

    def __call__(self, event: loop.StepEvent) -> None:
        self.digest.update(event.batch)
        self.current = event.metrics if self.current is None else self.current.merge(event.metrics)
        if event.index % self.window == 0:
            self.windows.append(self.current)
            self.current = None
        now = time.perf_counter()
        if now - self.last >= self.seconds:
            self.last = now
            self.log(
                f"  {self.label} epoch {event.epoch + 1}: step {event.index}/{self.steps}, "
                f"{event.index * self.batch_size / (now - self.start):.1f} images/s"
            )

    def curve(self) -> list[float]:
        """The mean train loss of each window of steps (the last one may be shorter)."""
        windows = self.windows + ([self.current] if self.current is not None else [])
        return [w.to_host().mean_loss for w in windows]


def _train_contestant(
    c: _Contestant,
    epoch: int,
    data: Input,
    *,
    study: StudyConfig,
    mesh,
    window: int,
    log: Callable[[str], None],
) -> dict:
    """One epoch of ``c``'s optimizer (``loop.train_epoch``): its record, without the test."""
    observer = _EpochObserver(
        window=window,
        seconds=study.progress_seconds,
        log=log,
        label=c.spec.label,
        steps_per_epoch=data.steps_per_epoch,
        batch_size=study.batch_size,
    )
    t0 = time.perf_counter()
    # Built anew for every optimizer: equal fingerprints then show that the pipeline
    # really is a function of (seed, epoch), not that one list was reused.
    c.state, totals, _ = loop.train_epoch(
        c.state,
        data.train_batches(epoch, 0),
        train_fn=c.train_fn,
        mesh=mesh,
        epoch=epoch,
        steps_per_epoch=data.steps_per_epoch,
        on_step=observer,
    )
    seconds = time.perf_counter() - t0
    if totals.num_examples == 0:
        raise ValueError(
            "the epoch has no training batch: raise --train-examples or lower --batch-size"
        )
    return {
        "epoch": epoch + 1,
        "step": (epoch + 1) * data.steps_per_epoch,
        "train_loss": totals.mean_loss,
        "train_accuracy": totals.accuracy,
        "train_seconds": seconds,
        "images_per_second": data.steps_per_epoch * study.batch_size / seconds,
        "data_fingerprint": observer.digest.hexdigest(),
        "loss_curve": observer.curve(),
    }


def _test_contestant(
    c: _Contestant, record: dict, data: Input, *, mesh, log: Callable[[str], None]
) -> None:
    """Evaluates ``c`` after its epoch into ``record`` (``loop.evaluate``); an optimizer
    whose train loss is NaN/inf is marked diverged instead and stops."""
    label, epoch = c.spec.label, record["epoch"]
    if not math.isfinite(record["train_loss"]):
        c.run["diverged_in_epoch"] = epoch
        record.update(test_loss=None, test_accuracy=None, eval_seconds=0.0)
        log(
            f"{label:<16} epoch {epoch}: the train loss became {record['train_loss']}; "
            "this optimizer stops here (lower its learning rate)"
        )
        return
    t0 = time.perf_counter()
    test = loop.evaluate(_eval_state(c.state), data.eval_batches(), eval_fn=c.eval_fn, mesh=mesh)
    record.update(
        test_loss=test["loss"],
        test_accuracy=test["accuracy"],
        eval_seconds=time.perf_counter() - t0,
    )
    log(
        f"{label:<16} epoch {epoch}: train loss {record['train_loss']:.4f}, train acc "
        f"{100 * record['train_accuracy']:.2f}%, test loss {test['loss']:.4f}, test acc "
        f"{100 * test['accuracy']:.2f}%, {record['train_seconds']:.1f} s "
        f"({record['images_per_second']:.1f} images/s)"
    )


def _check_study(data: Input, study: StudyConfig) -> None:
    if jax.process_count() != 1:
        raise ValueError(
            "the optimizer study runs in one process: launch it without "
            "jax.distributed (all local devices are used)"
        )
    sharding.check_batch_size(study.batch_size)
    sharding.check_batch_size(study.eval_batch_size, name="eval_batch_size")
    if data.steps_per_epoch == 0:
        raise ValueError(
            f"{data.train_examples} training examples make no batch of "
            f"{study.batch_size}: lower --batch-size or use more --train-examples"
        )


def run_study(data: Input, *, study: StudyConfig, log: Callable[[str], None] = print) -> dict:
    """Trains the CNN with every optimizer of ``study`` from one initial state on one data
    order, and evaluates after every epoch.

    Args:
      data: the batches (``hw4jax.training.inputs.cifar10_input`` of ``study.run_config``,
        or ``dataset_input`` of in-memory splits); all of it is used.
      study: the settings (``train_examples``/``test_examples`` are the input's business
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
    _check_study(data, study)
    mesh = sharding.make_mesh()
    # One initial state, kept on the host; each optimizer gets fresh device copies of it.
    base = create_train_state(jax.random.key(study.seed), model=MODEL, tx=optax.identity())
    start = jax.device_get(
        {"params": base.params, "batch_stats": base.batch_stats, "key": base.key}
    )
    contestants, runs = [], {}
    for spec in study.optimizers:
        contestants.append(_contestant(spec, start, study=study, mesh=mesh))
        runs[spec.label] = contestants[-1].run
        check_same_start_and_data(runs)
    log(_study_header(data, study, runs, mesh))
    window = max(1, data.steps_per_epoch // CURVE_POINTS_PER_EPOCH)
    for epoch in range(study.epochs):
        for c in contestants:
            if c.run["diverged_in_epoch"] is not None:
                continue
            record = _train_contestant(
                c, epoch, data, study=study, mesh=mesh, window=window, log=log
            )
            c.run["epochs"].append(record)
            check_same_start_and_data(runs)
            _test_contestant(c, record, data, mesh=mesh, log=log)
    return _study_results(data, study, runs, mesh, window)


def _study_header(data: Input, study: StudyConfig, runs: dict, mesh) -> str:
    devices = mesh.devices.ravel()
    first = runs[study.optimizers[0].label]
    return (
        f"Optimizer study: {', '.join(runs)}; {data.train_examples} train / "
        f"{data.test_examples} test images, batch {study.batch_size}, "
        f"{data.steps_per_epoch} steps per epoch, {study.epochs} epoch(s), "
        f"augmentation {'on' if study.augment else 'off'}, seed {study.seed}; "
        f"{devices.size} x {devices[0].device_kind}; one start "
        f"{first['start_fingerprint'][:12]}; compiled in "
        f"{sum(run['compile_seconds'] for run in runs.values()):.0f} s"
    )


def _study_results(data: Input, study: StudyConfig, runs: dict, mesh, window: int) -> dict:
    devices = mesh.devices.ravel()
    return {
        "config": study.to_dict(),
        "device": {
            "platform": devices[0].platform,
            "device_kind": devices[0].device_kind,
            "device_count": int(devices.size),
        },
        "train_examples": data.train_examples,
        "test_examples": data.test_examples,
        "steps_per_epoch": data.steps_per_epoch,
        "curve_window_steps": window,
        "start_fingerprint": runs[study.optimizers[0].label]["start_fingerprint"],
        "runs": runs,
    }


def run_cifar10_study(
    study: StudyConfig, out_dir: str | Path, *, log: Callable[[str], None] = print
) -> dict:
    """Takes CIFAR-10 (``cifar10_input``), runs ``run_study``, prints the table and writes
    ``<out_dir>/cnn_results.json`` and ``<out_dir>/cnn_curves.png``. Returns the results."""
    started = time.perf_counter()
    data = cifar10_input(study.run_config(study.optimizers[0]))
    results = run_study(data, study=study, log=log)
    results["seconds"] = time.perf_counter() - started
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RESULTS_FILE).write_text(json.dumps(results, indent=2) + "\n")
    plot_study(results, out_dir / PLOT_FILE)
    log(format_study_table(results))
    return results


# ----------------------------------------------------------------------------------------
# The 2-2-1 network


def tiny_net_losses(
    specs: Sequence[OptimizerSpec],
    *,
    iterations: int = TINY_ITERATIONS,
    momentum: float = DEFAULT_MOMENTUM,
    weight_decay: float = TORCH_ADAMW_WEIGHT_DECAY,
) -> dict[str, np.ndarray]:
    """Loss per iteration of every optimizer on the homework's 2-2-1 net (its inputs,
    target, all weights 0.5, E = 1/2 (y - O_out)^2), in float64.

    Returns:
      label -> float64 [iterations + 1]: E at the initial weights, then after each step.
    """
    return {
        spec.label: backprop.optimizer_losses(
            make_optimizer(
                spec.name, spec.learning_rate, momentum=momentum, weight_decay=weight_decay
            ),
            iterations=iterations,
        )
        for spec in _checked_specs(specs)
    }


def write_tiny_net(
    specs: Sequence[OptimizerSpec],
    out_dir: str | Path,
    *,
    iterations: int = TINY_ITERATIONS,
    momentum: float = DEFAULT_MOMENTUM,
    weight_decay: float = TORCH_ADAMW_WEIGHT_DECAY,
    log: Callable[[str], None] = print,
) -> dict[str, np.ndarray]:
    """``tiny_net_losses``, printed, and written to ``<out_dir>/tiny_net.json`` and
    ``<out_dir>/tiny_net.png``. Returns the losses."""
    losses = tiny_net_losses(
        specs, iterations=iterations, momentum=momentum, weight_decay=weight_decay
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / TINY_RESULTS_FILE).write_text(
        json.dumps(
            {
                "iterations": iterations,
                "loss": "1/2 (y - O_out)^2",
                "optimizers": [
                    {"name": s.name, "learning_rate": s.learning_rate, "label": s.label}
                    for s in specs
                ],
                "losses": {label: curve.tolist() for label, curve in losses.items()},
            },
            indent=2,
        )
        + "\n"
    )
    plot_tiny_net(losses, out_dir / TINY_PLOT_FILE)
    log(format_tiny_net(losses))
    return losses
