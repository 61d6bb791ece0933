"""What a training run leaves in its workdir and prints: metrics files, the plot, the tables.

metrics.jsonl  one JSON object per finished epoch (``hw4jax.training.loop``'s history records)
results.json   the final results (losses, accuracies, per class, config, device, timing)
metrics.png    loss and accuracy per epoch
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from hw4jax.data.cifar10_archive import CLASS_NAMES

METRICS_FILE = "metrics.jsonl"
RESULTS_FILE = "results.json"
EVAL_RESULTS_FILE = "eval_results.json"
PLOT_FILE = "metrics.png"


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


def plot_history(workdir: str | Path, history: Sequence[dict]) -> Path:
    """Draws train/test loss and accuracy per epoch into ``<workdir>/metrics.png``.

    Uses an Agg canvas on a bare ``Figure`` (no pyplot), so drawing never touches
    matplotlib's global backend or needs a display.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(9, 3.5))
    FigureCanvasAgg(fig)
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [r["train_loss_mean"] for r in history], "o-", label="train")
    loss_ax.plot(epochs, [r["test_loss"] for r in history], "s-", label="test")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    acc_ax.plot(epochs, [100 * r["train_accuracy"] for r in history], "o-", label="train")
    acc_ax.plot(epochs, [100 * r["test_accuracy"] for r in history], "s-", label="test")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = Path(workdir) / PLOT_FILE
    fig.savefig(path, dpi=100)
    return path


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
    last epoch's train figures, the ``test`` figures overall and per class, and timings."""
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
        "train_seconds": sum(r["seconds"] for r in history),
        "seconds": seconds,
    }
