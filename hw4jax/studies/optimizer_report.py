"""The optimizer study's tables and figures: what ``hw4jax.studies.optimizer_study`` prints
and draws. Figures draw on a bare ``Figure`` with an Agg canvas, so matplotlib's global
backend (and any display) is never touched."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def format_study_table(results: dict) -> str:
    """Per optimizer and epoch: train loss, train and test accuracy, test loss, seconds."""
    header = (
        f"{'optimizer':<16}{'epoch':>6}{'train loss':>12}{'train acc':>11}"
        f"{'test loss':>11}{'test acc':>10}{'train s':>9}{'img/s':>8}"
    )
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
                f"{r['train_seconds']:>9.1f}{r['images_per_second']:>8.1f}"
            )
    lines.append(
        f"({results['train_examples']} train / {results['test_examples']} test "
        f"images, {results['steps_per_epoch']} steps per epoch; every optimizer "
        f"started from {results['start_fingerprint'][:12]} and saw the same batches)"
    )
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
            x += [
                (start + min((k + 1) * window, steps)) / steps for k in range(len(r["loss_curve"]))
            ]
        (line,) = loss_ax.plot(x, curve, label=label)
        done = [r for r in run["epochs"] if r["test_accuracy"] is not None]
        epochs = [r["epoch"] for r in done]
        test_loss_ax.plot(
            epochs, [r["test_loss"] for r in done], "o-", color=line.get_color(), label=label
        )
        acc_ax.plot(
            epochs,
            [100 * r["test_accuracy"] for r in done],
            "o-",
            color=line.get_color(),
            label=label,
        )
    loss_ax.set(
        xlabel="epoch",
        ylabel="cross-entropy",
        title=f"train loss (mean over {window} step{'s' if window > 1 else ''})",
    )
    test_loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="test loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="test accuracy")
    for ax in (loss_ax, test_loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(
        f"Same initial weights, same batches: {results['train_examples']} train / "
        f"{results['test_examples']} test images, batch "
        f"{results['config']['batch_size']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)


def format_tiny_net(losses: dict[str, np.ndarray]) -> str:
    """The loss of each optimizer at iterations 0, 1, 2, 5, 10, 20, 50, ... (and the last)."""
    n = len(next(iter(losses.values()))) - 1
    marks = sorted({k for k in (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if k <= n} | {n})
    labels = list(losses)
    width = max(12, *(len(label) + 2 for label in labels))
    lines = [
        "2-2-1 net, E = 1/2 (y - O_out)^2 after k steps (float64)",
        f"{'k':>6}" + "".join(f"{label:>{width}}" for label in labels),
    ]
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
    ax.set(
        xlabel="iteration",
        ylabel="E = 1/2 (y - O_out)^2",
        yscale="log",
        title="2-2-1 net (homework's start: all weights 0.5)",
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return Path(path)
