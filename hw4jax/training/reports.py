"""What a training run leaves in its workdir and prints: metrics files, the plots, the tables.

metrics.jsonl           one JSON object per finished epoch (``hw4jax.training.loop``'s
                        history records)
results.json            the final results (losses, accuracies, per class, the confusion
                        matrix, config, device, timing)
metrics.png             train loss and accuracy every ``check_every`` steps, test per epoch
confusion_matrix.png    the test set's confusion matrix, counts and row-normalised
per_class_accuracy.png  test accuracy per class

(``steps.jsonl`` and ``tensorboard/``: ``hw4jax.training.step_log``; the pictures are
drawn by ``hw4jax.training.plots``.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from hw4jax.data.cifar10_archive import CLASS_NAMES
from hw4jax.training import plots

METRICS_FILE = "metrics.jsonl"
RESULTS_FILE = "results.json"
EVAL_RESULTS_FILE = "eval_results.json"
PLOT_FILE = "metrics.png"
CONFUSION_FILE = "confusion_matrix.png"
PER_CLASS_FILE = "per_class_accuracy.png"


def _write_atomically(path: Path, text: str) -> None:
    """Writes via a temporary file and a rename, so a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_history(workdir: str | Path, history: Sequence[dict]) -> Path:
    """Writes ``<workdir>/metrics.jsonl``, one line per epoch record (the whole history,
    so a resumed run's file is the same as an uninterrupted run's)."""
    path = Path(workdir) / METRICS_FILE
    _write_atomically(path, "".join(json.dumps(record) + "\n" for record in history))
    return path


def write_results(workdir: str | Path, results: dict, *, name: str = RESULTS_FILE) -> Path:
    """Writes ``results`` as indented JSON to ``<workdir>/<name>``."""
    path = Path(workdir) / name
    _write_atomically(path, json.dumps(results, indent=2) + "\n")
    return path


def plot_history(workdir: str | Path, history: Sequence[dict], steps: Sequence[dict] = ()) -> Path:
    """Draws ``<workdir>/metrics.png``: the train curves of the step records ``steps``
    (``hw4jax.training.step_log``) with the per-epoch ``history`` on top
    (``plots.plot_training_curves``)."""
    return plots.plot_training_curves(Path(workdir) / PLOT_FILE, history, steps)


def plot_test(workdir: str | Path, test: dict, *, prefix: str = "") -> tuple[Path, Path]:
    """Draws the test figures of ``test`` (``loop.evaluate``'s dict) into
    ``<workdir>/<prefix>confusion_matrix.png`` and ``<prefix>per_class_accuracy.png``."""
    workdir = Path(workdir)
    return (
        plots.plot_confusion_matrix(
            workdir / (prefix + CONFUSION_FILE), test["confusion"], CLASS_NAMES
        ),
        plots.plot_per_class_accuracy(
            workdir / (prefix + PER_CLASS_FILE), test["correct"], test["count"], CLASS_NAMES
        ),
    )


def epoch_line(record: dict) -> str:
    """The homework's epoch line, then the other figures of the epoch."""
    return (
        f"Epoch: {record['epoch']} \tTraining Loss: {record['train_loss_sum']:.6f}"
        f"  (mean {record['train_loss_mean']:.4f}, train acc {100 * record['train_accuracy']:.2f}%,"
        f" test loss {record['test_loss']:.4f}, test acc {100 * record['test_accuracy']:.2f}%,"
        f" {record['seconds']:.1f} s, {record['images_per_second']:.1f} images/s)"
    )


def accuracy_table(
    per_class_correct: Sequence[int], per_class_count: Sequence[int], class_names: Sequence[str]
) -> str:
    """The overall test accuracy, then one line per class (as the homework prints them)."""
    correct, count = sum(per_class_correct), sum(per_class_count)
    lines = [f"Test accuracy: {100 * correct / max(count, 1):.2f}% ({correct}/{count})"]
    for name, c, n in zip(class_names, per_class_correct, per_class_count):
        accuracy = f"{100 * c / n:5.1f}%" if n else "   n/a"
        lines.append(f"  {name:<10s} {accuracy} ({c}/{n})")
    return "\n".join(lines)


def run_results(
    history: list[dict], test: dict, *, config: dict, device: dict, step: int, seconds: float
) -> dict:
    """What ``results.json`` holds: the config, the device, the per-epoch ``history``, the
    last epoch's train figures, the ``test`` figures overall and per class, the test set's
    confusion matrix (counts; rows the true class, columns the predicted one, both in
    ``CLASS_NAMES`` order) and timings."""
    last = history[-1] if history else {}
    return {
        "config": config,
        "device": device,
        "step": step,
        "epochs": history,
        "train_loss_sum": last.get("train_loss_sum"),
        "train_loss_mean": last.get("train_loss_mean"),
        "train_accuracy": last.get("train_accuracy"),
        "test_loss": test["loss"],
        "test_accuracy": test["accuracy"],
        "per_class_accuracy": {
            n: c / k if k else None for n, c, k in zip(CLASS_NAMES, test["correct"], test["count"])
        },
        "per_class_correct": dict(zip(CLASS_NAMES, test["correct"])),
        "per_class_count": dict(zip(CLASS_NAMES, test["count"])),
        "confusion_matrix": {
            "rows": "true class",
            "columns": "predicted class",
            "classes": list(CLASS_NAMES),
            "counts": test["confusion"],
        },
        "train_seconds": sum(r["seconds"] for r in history),
        "seconds": seconds,
    }
