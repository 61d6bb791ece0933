"""The training loop: ``train_and_evaluate(config, workdir)``, and the per-epoch pieces it
shares with the optimizer study.

``train_and_evaluate`` reads as the recipe: check the workdir, build the mesh and the
jitted steps, take the data (``input_fn``, by default tfds's CIFAR-10), create or restore
the state, then per epoch ``train_epoch``, check for NaN, ``evaluate``, checkpoint and write
the metrics. ``scripts/train.py`` only parses flags (and initialises ``jax.distributed``)
and calls it. The pieces, usable on their own:

  train_epoch  one pass over an epoch's batches with any jitted train step; reads the
               running totals every ``check_every`` steps; observers see every step.
  evaluate     the test figures of a state over padded, masked batches.

Checkpoints (``hw4jax.training.checkpoints``): one at the end of every epoch, and one
mid-epoch when the run is interrupted (Ctrl-C / SIGINT): the state plus its position in
the epoch and the partial epoch's metric totals. ``resume`` restarts from the latest one,
skipping the batches already seen (``Input.train_batches`` is deterministic in (epoch,
skip)), and ends with the same weights as an uninterrupted run.

A NaN or infinite loss (checked every ``check_every_steps`` steps from an on-device running
sum, and at every epoch end together with the parameters) raises ``NonFiniteLossError``;
no checkpoint is written after the last good one.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from jax.sharding import Mesh

from hw4jax.data.cifar10_archive import CLASS_NAMES
from hw4jax.training import checkpoints, reports, sharding
from hw4jax.training.config import Config
from hw4jax.training.inputs import Input, cifar10_input
from hw4jax.training.metrics import Totals
from hw4jax.training.progress import InterruptFlag, Progress
from hw4jax.training.state import TrainState, initial_state
from hw4jax.training.step_log import StepLog

# Config fields that must match for a resumed run to continue the same run.
RESUME_FIELDS = (
    "batch_size",
    "optimizer",
    "learning_rate",
    "momentum",
    "weight_decay",
    "seed",
    "augment",
    "train_examples",
)


class NonFiniteLossError(FloatingPointError):
    """The training loss (or the parameters) became NaN or infinite."""


class StepEvent(NamedTuple):
    """What a per-step observer (``on_step``) is told after every train step (after every
    call of the step, where one call makes several steps: ``steps``)."""

    epoch: int  # 0-based
    index: int  # steps of this epoch done, this one included (1-based)
    global_step: int  # the state's step after this one
    batch: dict[str, np.ndarray]  # the numpy batch (this process's part) it trained on
    metrics: Totals  # its metrics, on device (reading them waits for the step)
    steps: int = 1  # optimizer steps this call made (summed in ``metrics``)


OnStep = Callable[[StepEvent], None]


# ----------------------------------------------------------------------------------------
# The shared pieces.


def train_epoch(
    state: TrainState,
    batches: Iterable[dict[str, np.ndarray]],
    *,
    train_fn: Callable,
    mesh: Mesh,
    epoch: int = 0,
    skip: int = 0,
    steps_per_epoch: int = 0,
    totals: Totals | None = None,
    check_every: int | None = None,
    on_check: Callable[[Totals, int], None] | None = None,
    on_step: OnStep | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    steps_in: Callable[[dict[str, np.ndarray]], int] | None = None,
) -> tuple[TrainState, Totals, int]:
    """Trains on ``batches`` (numpy, this process's part), one ``train_fn`` call each.

    The step metrics are summed on the device; every ``check_every`` steps of the epoch
    (and at its end) the sum is read to the host and added to ``totals``, and
    ``on_check(totals, global_step)`` runs there (the loop stops on a NaN loss and shows
    progress from it). Where one call makes several steps (``steps_in``), the check comes
    after the call that reaches or passes each multiple of ``check_every``.

    Args:
      state: the state (replicated over ``mesh``; donated to ``train_fn``).
      batches: the epoch's batches, from batch ``skip`` on.
      train_fn: a jitted step (``steps.make_train_step(mesh)`` or its compiled form).
      mesh: the device mesh the batches are sharded over.
      epoch, skip, steps_per_epoch: where ``batches`` start (for the events and the step
        count; ``steps_per_epoch`` only for ``StepEvent.global_step``).
      totals: the host totals of the epoch so far (a resumed epoch's), or None.
      check_every, on_check: see above (None: only at the end, without ``on_check``).
      on_step: called after every call with a ``StepEvent``.
      should_stop: asked before every call; True ends the epoch early.
      steps_in: batch -> the steps one call of ``train_fn`` makes on it
        (``Input.steps_in``); None: one.

    Returns:
      (state, the epoch's host totals, the number of the epoch's steps done incl. ``skip``).
    """
    host = Totals() if totals is None else totals
    window, index = None, skip
    for batch in batches:
        if should_stop():
            break
        state, metrics = train_fn(state, sharding.shard_batch(batch, mesh))
        window = metrics if window is None else window.merge(metrics)
        done = 1 if steps_in is None else steps_in(batch)
        index += done
        global_step = epoch * steps_per_epoch + index
        if on_step is not None:
            on_step(StepEvent(epoch, index, global_step, batch, metrics, done))
        if check_every and index // check_every > (index - done) // check_every:
            host, window = host.merge(window.to_host()), None
            if on_check is not None:
                on_check(host, global_step)
    if window is not None:
        host = host.merge(window.to_host())
    return state, host, index


def evaluate(
    state: TrainState, batches: Iterable[dict[str, np.ndarray]], *, eval_fn: Callable, mesh: Mesh
) -> dict:
    """Runs ``eval_fn`` over ``batches`` (process-local numpy batches with a 'mask').

    Returns:
      {'loss': mean test loss, 'accuracy', 'loss_sum', 'correct': [10] ints, 'count': [10] ints,
      'confusion': [10][10] ints (rows: true class, columns: predicted class)}.
    """
    totals = None
    for batch in batches:
        metrics = eval_fn(state, sharding.shard_batch(batch, mesh))
        totals = metrics if totals is None else totals.merge(metrics)
    if totals is None:
        raise ValueError("the evaluation set is empty: check --test-examples and the data")
    totals = totals.to_host()
    return {
        "loss": totals.mean_loss,
        "accuracy": totals.accuracy,
        "loss_sum": totals.loss_sum,
        "correct": totals.correct,
        "count": totals.count,
        "confusion": totals.confusion,
    }


@jax.jit
def _all_finite(tree: Any) -> jax.Array:
    return jnp.all(jnp.asarray([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


# ----------------------------------------------------------------------------------------
# The run.


@dataclasses.dataclass(frozen=True)
class _Run:
    """What the steps of one ``train_and_evaluate`` share."""

    config: Config
    workdir: Path
    mesh: Mesh
    device: dict
    manager: ocp.CheckpointManager
    saved_step: int | None
    main_process: bool
    on_step: OnStep | None = None  # the caller's per-step observer
    interrupt: InterruptFlag = dataclasses.field(default_factory=InterruptFlag)

    def say(self, text: str) -> None:
        """Prints on the main process only."""
        if self.main_process:
            print(text, flush=True)


def train_and_evaluate(
    config: Config,
    workdir: str | Path,
    *,
    input_fn: Callable[[Config], Input] = cifar10_input,
    on_step: OnStep | None = None,
) -> dict:
    """Trains (or, with ``config.eval_only``, evaluates) and returns the final results.

    Prints the devices, per epoch the homework's line plus mean loss, accuracies, time and
    images/s, and at the end the test accuracy overall and per class. Writes into
    ``workdir``: ``checkpoints/``, ``metrics.jsonl`` (per epoch), ``steps.jsonl`` and
    ``tensorboard/`` (every ``check_every_steps`` steps, ``hw4jax.training.step_log``),
    ``metrics.png``, ``results.json``, ``confusion_matrix.png``, ``per_class_accuracy.png``
    (``eval_results.json`` and ``eval_``-prefixed pictures for ``eval_only``). A multi-host
    run (``config.distributed``) must have called ``jax.distributed.initialize`` first
    (``scripts/train.py`` does).

    Args:
      config: the run's settings (``hw4jax.training.config.get_config``).
      workdir: the run's directory (created).
      input_fn: the run's data from its (checkpoint-reconciled) config: tfds's CIFAR-10
        by default; any ``hw4jax.training.inputs.Input``.
      on_step: called after every train step with a ``StepEvent`` (tests deliver a SIGINT
        at a chosen step with it).

    Returns:
      The results dict written to results.json: 'test_accuracy', 'test_loss',
      'per_class_accuracy', 'confusion_matrix', 'epochs' (per-epoch records), 'config',
      'device', timings.

    Raises:
      ValueError: bad settings or data (the message says what to change).
      NonFiniteLossError: the loss became NaN/inf (the last good checkpoint is kept).
      KeyboardInterrupt: after saving a checkpoint to resume from.
    """
    started = time.perf_counter()
    run = _start(config, Path(workdir), on_step)
    data = input_fn(run.config)
    state, progress = _initial_or_restored(run)
    if run.config.eval_only:
        history, test = progress["history"], None
    else:
        history, test, state = _train(run, data, state, progress)
    return _finish(run, data, state, history, test, started)


def _start(config: Config, workdir: Path, on_step: OnStep | None) -> _Run:
    """Checks the settings against the workdir, prints the devices, opens the checkpoints;
    with a checkpoint there, the config is checked against (resume) or takes (eval_only)
    the checkpoint's optimizer settings."""
    sharding.check_batch_size(config.batch_size)
    sharding.check_batch_size(config.eval_batch_size, name="eval_batch_size")
    saved_step = checkpoints.latest_step(workdir)
    if config.eval_only and saved_step is None:
        raise ValueError(f"no checkpoint in {workdir}: train first, or point --workdir at a run")
    if not (config.eval_only or config.resume) and saved_step is not None:
        raise ValueError(
            f"{workdir} already holds a run (checkpoint at step {saved_step}): pass --resume "
            "to continue it, or choose a new --workdir"
        )
    mesh = sharding.make_mesh()
    device = sharding.device_summary(mesh, config.batch_size)
    run = _Run(
        config=config,
        workdir=workdir,
        mesh=mesh,
        device=device,
        manager=None,
        saved_step=saved_step,
        main_process=jax.process_index() == 0,
        on_step=on_step,
    )
    run.say(
        f"Devices: {device['device_count']} x {device['device_kind']} ({device['platform']}),"
        f" {device['process_count']} process(es); global batch {config.batch_size},"
        f" per-device batch {device['per_device_batch']}"
    )
    workdir.mkdir(parents=True, exist_ok=True)
    manager = checkpoints.checkpoint_manager(workdir, max_to_keep=config.checkpoints_to_keep)
    if saved_step is not None:
        saved = checkpoints.restore_progress(manager)["config"]
        if config.eval_only:  # evaluate whatever the run trained with
            config = config.replace(**{k: saved[k] for k in checkpoints.STATE_FIELDS})
        else:
            _check_resume(saved, config)
    return dataclasses.replace(run, config=config, manager=manager)


def _check_resume(saved: dict, config: Config) -> None:
    changed = [
        f"{f} (checkpoint {saved.get(f)!r}, now {getattr(config, f)!r})"
        for f in RESUME_FIELDS
        if saved.get(f) != getattr(config, f)
    ]
    if changed:
        raise ValueError(
            "cannot resume with different settings: "
            + "; ".join(changed)
            + ": pass the checkpoint's values or use a new --workdir"
        )


def _initial_or_restored(run: _Run) -> tuple[TrainState, dict]:
    """The fresh state on the mesh, or the latest checkpoint's, with the run's progress."""
    state = jax.device_put(initial_state(run.config), sharding.replicated(run.mesh))
    progress = {"epoch": 0, "step_in_epoch": 0, "totals": None, "history": [], "steps": []}
    if run.saved_step is not None:
        state, progress = checkpoints.restore_checkpoint(run.manager, state)
        progress.setdefault("steps", [])  # checkpoints from before step records
        run.say(
            f"Restored step {int(state.step)} (epoch {progress['epoch'] + 1},"
            f" batch {progress['step_in_epoch']}) from {run.manager.directory}"
        )
    return state, progress


class _EpochStart(NamedTuple):
    """Where an epoch starts: at batch ``skip`` (a resumed epoch), with the totals so far."""

    epoch: int
    skip: int
    totals: Totals | None


def _train(
    run: _Run, data: Input, state: TrainState, progress: dict
) -> tuple[list[dict], dict | None, TrainState]:
    """The remaining epochs: (history, the last epoch's test figures or None, state)."""
    config = run.config
    run.say(
        f"Training on {data.train_examples} images ({data.steps_per_epoch} steps per"
        f" epoch), testing on {data.test_examples}; {config.optimizer} lr"
        f" {config.learning_rate}, augmentation {'on' if config.augment else 'off'},"
        f" seed {config.seed}"
    )
    history: list[dict] = list(progress["history"])
    test = None
    log = StepLog(
        run.workdir,
        progress["steps"],
        batch_size=config.batch_size,
        steps_per_epoch=data.steps_per_epoch,
        write=run.main_process,
    )
    with run.interrupt, log:
        for epoch in range(progress["epoch"], config.epochs):
            if epoch == progress["epoch"]:  # where the run (or the checkpoint) stands
                saved = progress["totals"]
                totals = Totals(**saved) if saved else None
                start = _EpochStart(epoch, progress["step_in_epoch"], totals)
            else:
                start = _EpochStart(epoch, 0, None)
            state, test = _run_epoch(run, data, state, start, history, log)
    return history, test, state


def _run_epoch(
    run: _Run,
    data: Input,
    state: TrainState,
    start: _EpochStart,
    history: list[dict],
    log: StepLog,
) -> tuple[TrainState, dict]:
    """Trains an epoch from ``start``, then evaluates, checkpoints and writes the metrics;
    appends the epoch's record to ``history`` (its step records to ``log``). Returns
    (state, test)."""
    epoch, interrupted = start.epoch, run.interrupt
    t0 = time.perf_counter()
    state, host, index = _train_steps(run, data, state, start, log)
    if interrupted.set and index < data.steps_per_epoch:
        _save_interrupted(
            run, data, state, epoch=epoch, index=index, host=host, history=history, log=log
        )
    seconds = time.perf_counter() - t0
    _check_params(run, state, epoch)
    test = evaluate(state, data.eval_batches(), eval_fn=data.eval_fn(run.mesh), mesh=run.mesh)
    images = (index - start.skip) * run.config.batch_size
    history.append(_epoch_record(epoch, state, host, test, seconds=seconds, images=images))
    log.test(int(state.step), test["loss"], test["accuracy"])
    checkpoints.save_checkpoint(
        run.manager, state, _progress(run, data, epoch + 1, 0, None, history, log)
    )
    _write_epoch(run, history, log)
    if interrupted.set:
        run.say(
            f"Interrupted after epoch {epoch + 1}: saved step {int(state.step)};"
            " continue with --resume"
        )
        raise KeyboardInterrupt
    return state, test


def _train_steps(
    run: _Run, data: Input, state: TrainState, start: _EpochStart, log: StepLog
) -> tuple[TrainState, Totals, int]:
    """``train_epoch`` with the run's progress display, NaN checks, step records (at each
    check and at the epoch's end), Ctrl-C flag and ``on_step`` observer: (state, the
    epoch's totals, steps of the epoch done)."""
    config = run.config
    bar = Progress(
        epoch=start.epoch + 1,
        total_images=data.steps_per_epoch * config.batch_size,
        done_images=start.skip * config.batch_size,
        enabled=config.progress and run.main_process,
    )

    def observe(event: StepEvent) -> None:
        bar.update(event.steps * config.batch_size)
        if run.on_step is not None:
            run.on_step(event)

    def check(host: Totals, global_step: int) -> None:
        _check_loss(run, host, global_step)
        log.check(start.epoch, global_step, host)
        bar.report(host.mean_loss)

    try:
        state, host, index = train_epoch(
            state,
            data.train_batches(start.epoch, start.skip),
            train_fn=data.train_fn(run.mesh),
            mesh=run.mesh,
            epoch=start.epoch,
            skip=start.skip,
            steps_per_epoch=data.steps_per_epoch,
            totals=start.totals,
            check_every=config.check_every_steps,
            on_check=check,
            on_step=observe,
            should_stop=lambda: run.interrupt.set,
            steps_in=data.steps_in,
        )
        global_step = start.epoch * data.steps_per_epoch + index
        _check_loss(run, host, global_step)
        if index == data.steps_per_epoch:  # not at an interruption: the resumed run records it
            log.check(start.epoch, global_step, host)
    finally:
        bar.close()
    return state, host, index


def _check_loss(run: _Run, host: Totals, global_step: int) -> None:
    """Raises NonFiniteLossError when the running loss sum is NaN or infinite."""
    if math.isfinite(host.loss_sum):
        return
    last = run.manager.latest_step()
    raise NonFiniteLossError(
        f"the training loss became {host.loss_sum} by step {global_step}; "
        + (
            f"the last good checkpoint is step {last} in {run.manager.directory}"
            if last is not None
            else "no checkpoint was saved"
        )
        + ": lower --learning-rate or change --optimizer"
    )


def _check_params(run: _Run, state: TrainState, epoch: int) -> None:
    if not bool(_all_finite(state.params)):
        raise NonFiniteLossError(
            f"the parameters became NaN/inf in epoch {epoch + 1}; the last good "
            f"checkpoint is step {run.manager.latest_step()} in {run.manager.directory}"
        )


def _progress(
    run: _Run,
    data: Input,
    epoch: int,
    step_in_epoch: int,
    host: Totals | None,
    history: list[dict],
    log: StepLog,
) -> dict:
    """The checkpoint's progress JSON: where the state is in the run, and what came before
    (the epoch records and the step records)."""
    return {
        "epoch": epoch,
        "step_in_epoch": step_in_epoch,
        "totals": None if host is None else host.to_dict(),
        "history": history,
        "steps": log.records,
        "config": run.config.to_dict(),
        "steps_per_epoch": data.steps_per_epoch,
    }


def _save_interrupted(
    run: _Run,
    data: Input,
    state: TrainState,
    *,
    epoch: int,
    index: int,
    host: Totals,
    history: list[dict],
    log: StepLog,
) -> None:
    """Saves the state mid-epoch (with its position and partial totals), then raises
    KeyboardInterrupt."""
    if not bool(_all_finite(state.params)):
        raise NonFiniteLossError("the parameters became NaN/inf; no checkpoint saved")
    checkpoints.save_checkpoint(
        run.manager, state, _progress(run, data, epoch, index, host, history, log)
    )
    run.say(
        f"Interrupted: saved step {int(state.step)} (epoch {epoch + 1}, batch {index})"
        f" in {run.manager.directory}; continue with --resume"
    )
    raise KeyboardInterrupt


def _epoch_record(
    epoch: int, state: TrainState, host: Totals, test: dict, *, seconds: float, images: int
) -> dict:
    """One line of metrics.jsonl."""
    return {
        "epoch": epoch + 1,
        "step": int(state.step),
        "train_loss_sum": host.loss_sum,
        "train_loss_mean": host.mean_loss,
        "train_accuracy": host.accuracy,
        "test_loss": test["loss"],
        "test_accuracy": test["accuracy"],
        "seconds": seconds,
        "images_per_second": images / seconds,
    }


def _write_epoch(run: _Run, history: list[dict], log: StepLog) -> None:
    run.say(reports.epoch_line(history[-1]))
    if run.main_process:
        reports.write_history(run.workdir, history)
        reports.plot_history(run.workdir, history, log.records)


def _finish(
    run: _Run,
    data: Input,
    state: TrainState,
    history: list[dict],
    test: dict | None,
    started: float,
) -> dict:
    """Prints the per-class table and writes the results (evaluating first where no epoch
    ran: eval_only, or a resumed run that had already finished)."""
    if test is None:
        test = evaluate(state, data.eval_batches(), eval_fn=data.eval_fn(run.mesh), mesh=run.mesh)
    run.say(reports.accuracy_table(test["correct"], test["count"], CLASS_NAMES))
    results = reports.run_results(
        history,
        test,
        config=run.config.to_dict(),
        device=run.device,
        step=int(state.step),
        seconds=time.perf_counter() - started,
    )
    if run.main_process:
        name = reports.EVAL_RESULTS_FILE if run.config.eval_only else reports.RESULTS_FILE
        reports.write_results(run.workdir, results, name=name)
        reports.plot_test(run.workdir, test, prefix="eval_" if run.config.eval_only else "")
    return results
