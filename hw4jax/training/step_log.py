"""The training curves within the epochs: a record every ``check_every`` steps, written to
``steps.jsonl`` and to TensorBoard.

The loop already reads the epoch's running totals to the host every ``check_every`` steps
(for the NaN check); each such check, and the end of each epoch, makes one step record
from those totals alone, so logging adds no device sync. A record::

    {"epoch": 1, "step": 200, "images": 800, "window_steps": 100,
     "train_loss": ..., "train_accuracy": ...,              # the window since the last record
     "epoch_train_loss": ..., "epoch_train_accuracy": ...,  # the epoch so far
     "epoch_loss_sum": ..., "epoch_correct": ..., "epoch_count": ...,
     "wall_time": 1700000000.0}

A window's figures are the difference of the epoch's totals at this record and at the one
before, so a run resumed mid-epoch (whose checkpoint holds the totals up to the
interruption) records the same windows as an uninterrupted run. The records travel in the
checkpoint's progress; a resumed run rewrites ``steps.jsonl`` from them and appends from
there, so the file equals an uninterrupted run's (up to ``wall_time``).

TensorBoard (``<workdir>/tensorboard/``): train/loss and train/accuracy per record (the
window's), test/loss and test/accuracy per epoch, at the global step. A resumed run appends
a new event file; steps that a crashed run wrote after its last checkpoint come again,
earlier than the ones before them, and TensorBoard drops the orphaned ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from hw4jax.training.metrics import Totals
from hw4jax.training.tensorboard import ScalarWriter

STEPS_FILE = "steps.jsonl"
TENSORBOARD_DIR = "tensorboard"


def step_record(
    *,
    epoch: int,
    step: int,
    batch_size: int,
    totals: Totals,
    previous: dict | None,
    epoch_start_step: int,
    wall_time: float,
) -> dict:
    """The record of a check at global ``step`` (see the module docstring).

    Args:
      epoch: 0-based.
      step: the global step (the state's step after this check's last train step).
      batch_size: the global batch size (images per step).
      totals: the epoch's host totals up to ``step`` (scalar correct and count).
      previous: the record before this one in the same epoch, or None (the window then
        starts at the epoch's start).
      epoch_start_step: the global step the epoch started from.
      wall_time: seconds since the epoch (time.time()).
    """
    if previous is None:
        start, loss_sum, correct, count = epoch_start_step, 0.0, 0, 0
    else:
        start = previous["step"]
        loss_sum = previous["epoch_loss_sum"]
        correct, count = previous["epoch_correct"], previous["epoch_count"]
    window_count = totals.count - count
    return {
        "epoch": epoch + 1,
        "step": step,
        "images": step * batch_size,
        "window_steps": step - start,
        "train_loss": (totals.loss_sum - loss_sum) / max(window_count, 1),
        "train_accuracy": (totals.correct - correct) / max(window_count, 1),
        "epoch_train_loss": totals.mean_loss,
        "epoch_train_accuracy": totals.accuracy,
        "epoch_loss_sum": totals.loss_sum,
        "epoch_correct": totals.correct,
        "epoch_count": totals.count,
        "wall_time": wall_time,
    }


class StepLog:
    """The run's step records; on the process that writes (``write``), also steps.jsonl
    and the TensorBoard events in ``workdir``. Use as a context manager (closes the event
    file)."""

    def __init__(
        self,
        workdir: str | Path,
        records: Sequence[dict] = (),
        *,
        batch_size: int,
        steps_per_epoch: int,
        write: bool = True,
    ) -> None:
        """Starts from ``records`` (a restored run's; steps.jsonl is rewritten from them)."""
        self.records = list(records)
        self.batch_size, self.steps_per_epoch = batch_size, steps_per_epoch
        self.path = Path(workdir) / STEPS_FILE
        self._writer = None
        if write:
            text = "".join(json.dumps(r) + "\n" for r in self.records)
            self.path.write_text(text)
            self._writer = ScalarWriter(Path(workdir) / TENSORBOARD_DIR)

    def check(self, epoch: int, step: int, totals: Totals) -> None:
        """Records a check at global ``step`` with the epoch's host ``totals``; at most one
        record per step (the end of an epoch can fall on a check)."""
        last = self.records[-1] if self.records else None
        if last is not None and last["step"] == step:
            return
        record = step_record(
            epoch=epoch,
            step=step,
            batch_size=self.batch_size,
            totals=totals,
            previous=last if last is not None and last["epoch"] == epoch + 1 else None,
            epoch_start_step=epoch * self.steps_per_epoch,
            wall_time=time.time(),
        )
        self.records.append(record)
        if self._writer is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
            self._writer.scalars(
                step,
                {"train/loss": record["train_loss"], "train/accuracy": record["train_accuracy"]},
            )

    def test(self, step: int, loss: float, accuracy: float) -> None:
        """Writes an epoch's test figures at global ``step`` to TensorBoard."""
        if self._writer is not None:
            self._writer.scalars(step, {"test/loss": loss, "test/accuracy": accuracy})
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> StepLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
