"""Orbax checkpoints of a training run: the train state plus a small JSON of progress.

A checkpoint lives in ``<workdir>/checkpoints/<step>/`` and holds two items:

  state     the ``hw4jax.train.TrainState`` pytree (params, batch_stats, opt_state,
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

CHECKPOINT_DIR = "checkpoints"


def checkpoint_manager(workdir: str | Path, *, max_to_keep: int = 3,
                       read_only: bool = False) -> ocp.CheckpointManager:
    """The orbax manager of ``<workdir>/checkpoints`` (created unless ``read_only``)."""
    directory = Path(workdir).absolute() / CHECKPOINT_DIR
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, create=not read_only, read_only=read_only,
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
    manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), progress=ocp.args.JsonSave(progress)))
    manager.wait_until_finished()
    return True


def restore_checkpoint(manager: ocp.CheckpointManager, template: Any, *,
                       step: int | None = None) -> tuple[Any, dict]:
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
    restored = manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), progress=ocp.args.JsonRestore()))
    return restored.state, restored.progress


def restore_progress(manager: ocp.CheckpointManager, *, step: int | None = None) -> dict:
    """Only the progress JSON at ``step`` (default: the latest); see ``restore_checkpoint``."""
    step = manager.latest_step() if step is None else step
    if step is None:
        raise ValueError(f"no checkpoint in {manager.directory}: train first")
    return manager.restore(step, args=ocp.args.Composite(progress=ocp.args.JsonRestore())).progress


def latest_step(workdir: str | Path) -> int | None:
    """The latest checkpointed step in ``workdir``, or None (no checkpoint directory or none saved)."""
    if not (Path(workdir) / CHECKPOINT_DIR).is_dir():
        return None
    return checkpoint_manager(workdir, read_only=True).latest_step()
