"""The pictures a training run leaves in its workdir, each drawn from plain numbers.

plot_training_curves     train loss and accuracy every ``check_every`` steps, with each
                         epoch's test figures on top (metrics.png)
plot_confusion_matrix    the test set's confusion matrix, counts and row-normalised
plot_per_class_accuracy  test accuracy per class as bars, with the overall accuracy

Every function draws on a bare ``Figure`` with an Agg canvas (no pyplot), so it never
touches matplotlib's global state or needs a display, and saves at ``DPI``: a figure's PNG
is its ``figsize`` times ``DPI`` pixels (no tight bounding box), which the tests check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DPI = 100
CURVES_SIZE = (10.0, 4.0)  # inches: 1000 x 400 pixels
CONFUSION_SIZE = (12.0, 5.6)
PER_CLASS_SIZE = (7.0, 4.2)


def new_figure(size: tuple[float, float]):
    """A bare ``Figure`` of ``size`` inches on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def save(fig, path: str | Path) -> Path:
    """Saves ``fig`` as a PNG of exactly figsize x ``DPI`` pixels."""
    path = Path(path)
    fig.savefig(path, dpi=DPI)
    return path


def plot_training_curves(
    path: str | Path, epochs: Sequence[dict], steps: Sequence[dict] = ()
) -> Path:
    """Loss and accuracy against the training step into the PNG ``path`` (``CURVES_SIZE``).

    The train curve is the mean over each window of steps between two checks (the step
    records); each epoch adds its train mean and its test figures at its last step. Where
    there are no step records (a run checkpointed before they existed), only the epoch
    points are drawn.

    Args:
      epochs: per-epoch records, each with 'epoch', 'step', 'train_loss_mean',
        'train_accuracy', 'test_loss', 'test_accuracy' (accuracies as fractions).
      steps: step records, each with 'step', 'window_steps', 'train_loss',
        'train_accuracy'.
    """
    fig = new_figure(CURVES_SIZE)
    loss_ax, acc_ax = fig.subplots(1, 2)
    x = [r["step"] for r in steps]
    windows = Counter(r["window_steps"] for r in steps)
    window = windows.most_common(1)[0][0] if windows else None
    ends = [r["step"] for r in epochs]
    panels = (
        (loss_ax, "train_loss", "train_loss_mean", "test_loss", 1.0),
        (acc_ax, "train_accuracy", "train_accuracy", "test_accuracy", 100.0),
    )
    for ax, step_key, epoch_key, test_key, scale in panels:
        if steps:
            ax.plot(
                x,
                [scale * r[step_key] for r in steps],
                color="C0",
                linewidth=1.2,
                label=f"train, mean of each {window} step{'s' if window > 1 else ''}",
            )
        ax.plot(
            ends,
            [scale * r[epoch_key] for r in epochs],
            "o",
            markerfacecolor="white",
            markeredgecolor="C0",
            markersize=7,
            label="train, epoch mean",
        )
        ax.plot(
            ends, [scale * r[test_key] for r in epochs], "s", color="C1", markersize=7, label="test"
        )
        ax.grid(alpha=0.3)
        ax.set_xlim(left=0)
        ax.legend(fontsize=9)
    loss_ax.set(xlabel="training step", ylabel="loss (cross-entropy)")
    acc_ax.set(xlabel="training step", ylabel="accuracy (%)")
    if epochs and epochs[0]["step"] > 0:
        per_epoch = epochs[0]["step"] / epochs[0]["epoch"]
        for ax in (loss_ax, acc_ax):
            top = ax.secondary_xaxis(
                "top", functions=(lambda s: s / per_epoch, lambda e: e * per_epoch)
            )
            top.set_xlabel("epoch")
            top.set_xticks(range(0, len(epochs) + 1))
    fig.tight_layout()
    return save(fig, path)


def _cell_text(ax, values: np.ndarray, labels: Sequence[Sequence[str]]) -> None:
    """Writes each cell's label, white on the dark cells."""
    limit = values.max() if values.size else 0
    for i, row in enumerate(labels):
        for j, text in enumerate(row):
            dark = limit > 0 and values[i, j] > 0.55 * limit
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=7.5,
                color="white" if dark else "black",
            )


def plot_confusion_matrix(
    path: str | Path, confusion: Sequence[Sequence[int]], class_names: Sequence[str]
) -> Path:
    """The confusion matrix as two heat maps into the PNG ``path`` (``CONFUSION_SIZE``):
    the counts, and each row divided by its sum (the share of a true class given each
    prediction; its diagonal is the per-class accuracy).

    Args:
      confusion: int [C][C], rows the true class, columns the predicted class.
      class_names: the C names, in the rows' order.
    """
    counts = np.asarray(confusion, dtype=np.int64)
    n = len(class_names)
    if counts.shape != (n, n):
        raise ValueError(
            f"confusion has shape {counts.shape}, expected ({n}, {n}) for {n} class names: "
            "pass the matrix evaluate() returns and its class names"
        )
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    fig = new_figure(CONFUSION_SIZE)
    count_ax, share_ax = fig.subplots(1, 2)
    count_ax.imshow(counts, cmap="Blues")
    _cell_text(count_ax, counts, [[str(v) for v in row] for row in counts])
    count_ax.set_title(f"counts ({int(counts.sum())} test images)")
    share_ax.imshow(100 * shares, cmap="Blues", vmin=0, vmax=100)
    _cell_text(share_ax, 100 * shares, [[f"{100 * v:.0f}" for v in row] for row in shares])
    share_ax.set_title("row-normalised (% of each true class)")
    for ax in (count_ax, share_ax):
        ax.set_xticks(range(n), class_names, rotation=45, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(n), class_names)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
    fig.tight_layout()
    return save(fig, path)


def plot_per_class_accuracy(
    path: str | Path,
    correct: Sequence[int],
    count: Sequence[int],
    class_names: Sequence[str],
) -> Path:
    """Test accuracy per class as horizontal bars into the PNG ``path``
    (``PER_CLASS_SIZE``), each labelled with its percentage, the overall accuracy as a
    dashed line; a class without examples gets no bar.

    Args:
      correct, count: ints per class: correct predictions and examples of that true class.
      class_names: the classes' names, in the same order.
    """
    correct, count = np.asarray(correct), np.asarray(count)
    if not len(correct) == len(count) == len(class_names):
        raise ValueError(
            f"{len(correct)} correct, {len(count)} count and {len(class_names)} class names: "
            "pass one of each per class"
        )
    accuracy = np.divide(100.0 * correct, count, out=np.zeros(len(count)), where=count > 0)
    overall = 100.0 * correct.sum() / max(int(count.sum()), 1)
    fig = new_figure(PER_CLASS_SIZE)
    ax = fig.subplots()
    rows = np.arange(len(class_names))
    ax.barh(rows, np.where(count > 0, accuracy, 0.0), color="C0", height=0.7)
    for row, a, n in zip(rows, accuracy, count):
        ax.text(
            a + 1,
            row,
            f"{a:.1f}%" if n else "n/a",
            va="center",
            fontsize=9,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
            zorder=3,
        )
    ax.axvline(overall, color="C1", linestyle="--", zorder=2, label=f"overall {overall:.1f}%")
    ax.set_yticks(rows, class_names)
    ax.invert_yaxis()  # the first class on top, as in the printed table
    ax.set_xlim(0, 110)
    ax.set(xlabel="test accuracy (%)", title="test accuracy per class")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    return save(fig, path)
