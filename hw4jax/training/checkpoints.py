"""Orbax checkpoints of a training run: the train state plus a small JSON of progress.

A checkpoint lives in ``<workdir>/checkpoints/<step>/`` and holds two items:

  state     the ``hw4jax.training.state.TrainState`` pytree (params, batch_stats, opt_state,
            step, key), restored onto the shardings of a template state;
  progress  JSON: where in the run the state is (``epoch``, ``step_in_epoch``), the
            partial epoch's metric totals when saved mid-epoch, the per-epoch history,
            and the config that produced it.

Checkpoints are written synchronously (the train step donates the state's buffers right
after a save, so nothing may still be reading them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from hw4jax.training.config import Config
from hw4jax.training.state import TrainState, initial_state

CHECKPOINT_DIR = "checkpoints"
# The config fields that shape the state (the optimizer's state): read from a checkpoint.
STATE_FIELDS = ("optimizer", "learning_rate", "momentum", "weight_decay")


def checkpoint_manager(
    workdir: str | Path, *, max_to_keep: int = 3, read_only: bool = False
) -> ocp.CheckpointManager:
    """The orbax manager of ``<workdir>/checkpoints`` (created unless ``read_only``)."""
    directory = Path(workdir).absolute() / CHECKPOINT_DIR
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep,
        create=not read_only,
        read_only=read_only,
        enable_async_checkpointing=False,
    )
    return ocp.CheckpointManager(directory, options=options, item_names=("state", "progress"))


def save_checkpoint(manager: ocp.CheckpointManager, state: Any, progress: dict) -> bool:
    """Saves ``state`` and ``progress`` under ``int(state.step)``.

    Returns False (and saves nothing) when that step is already saved, e.g. an interrupt
    right after an epoch's checkpoint.
    """
    step = int(jax.device_get(state.step))
    if step in manager.all_steps():
        return False
    manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), progress=ocp.args.JsonSave(progress)
        ),
    )
    manager.wait_until_finished()
    return True


def restore_checkpoint(
    manager: ocp.CheckpointManager, template: Any, *, step: int | None = None
) -> tuple[Any, dict]:
    """Restores (state, progress) at ``step`` (default: the latest).

    Args:
      manager: from ``checkpoint_manager``.
      template: a state of the same structure (e.g. a fresh ``create_train_state``);
        its arrays' shapes, dtypes and shardings say how to restore.

    Raises:
      ValueError: there is no checkpoint.
    """
    step = manager.latest_step() if step is None else step
    if step is None:
        raise ValueError(
            f"no checkpoint in {manager.directory}: train first (python scripts/train.py "
            "--workdir ...) or point --workdir at a run's directory"
        )
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    restored = manager.restore(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), progress=ocp.args.JsonRestore()
        ),
    )
    return restored.state, restored.progress


def restore_progress(manager: ocp.CheckpointManager, *, step: int | None = None) -> dict:
    """Only the progress JSON at ``step`` (default: the latest); see ``restore_checkpoint``."""
    step = manager.latest_step() if step is None else step
    if step is None:
        raise ValueError(f"no checkpoint in {manager.directory}: train first")
    return manager.restore(step, args=ocp.args.Composite(progress=ocp.args.JsonRestore())).progress


def latest_step(workdir: str | Path) -> int | None:
    """The latest checkpointed step in ``workdir``, or None (no checkpoint directory, or
    none saved)."""
    if not (Path(workdir) / CHECKPOINT_DIR).is_dir():
        return None
    return checkpoint_manager(workdir, read_only=True).latest_step()


def restore_state(
    workdir: str | Path, config: Config | None = None, *, step: int | None = None
) -> tuple[TrainState, dict]:
    """The (state, progress) of ``workdir``'s latest checkpoint (or ``step``), on the default
    device, for use outside a run (export, evaluation). The optimizer settings (they shape
    opt_state) come from ``config``, by default from the checkpoint's own config; progress
    holds 'history' (per-epoch records) and 'config' (the run's settings).

    Raises:
      ValueError: no checkpoint there.
    """
    manager = checkpoint_manager(workdir, read_only=True)
    if config is None:
        saved = restore_progress(manager, step=step)["config"]
        config = Config(**{k: saved[k] for k in STATE_FIELDS})
    return restore_checkpoint(manager, initial_state(config), step=step)
