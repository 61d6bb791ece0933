"""The tables and the figure of the hw4jax-vs-PyTorch training comparison.

``format_summary`` renders ``compare_runs.summarize``'s dict as Markdown: per contrast,
each metric's means, sds, difference and Welch interval per epoch; then every run's
figures. ``format_overview`` puts every batch size's contrasts in one document, with each
side's range over seeds (the README's tables come from it). ``plot_summary`` draws every
run as a point and each run set's mean with its 95% t interval, one panel per metric and
epoch.
"""

from __future__ import annotations

from pathlib import Path

from hw4jax.studies import compare_stats

NAMES = {
    "train_loss_sum": "train loss (sum)",
    "train_loss_mean": "train loss (mean)",
    "train_accuracy": "train accuracy",
    "test_loss": "test loss",
    "test_accuracy": "test accuracy",
}
_COLOURS = {"hw4jax": "tab:blue", "pytorch": "tab:orange"}
_MARKERS = {"tfdata": "o", "torchvision": "s"}


def _accuracy(metric: str) -> bool:
    return metric.endswith("accuracy")


def value_text(metric: str, v: float | None) -> str:
    """A figure in the metric's unit: loss sums whole, losses to 4 places, accuracies in %."""
    if v is None:
        return "-"
    if _accuracy(metric):
        return f"{100 * v:.2f}%"
    return f"{v:,.0f}" if metric == "train_loss_sum" else f"{v:.4f}"


def difference_text(metric: str, d: float | None) -> str:
    """A difference in the metric's unit (accuracy: percentage points)."""
    if d is None:
        return "-"
    if _accuracy(metric):
        return f"{100 * d:+.2f} pp"
    return f"{d:+,.0f}" if metric == "train_loss_sum" else f"{d:+.4f}"


def interval_text(metric: str, ci: list[float] | None) -> str:
    """``[lo, hi]`` of a difference, or '-' where there is no interval."""
    if ci is None:
        return "-"
    return "[" + ", ".join(difference_text(metric, v) for v in ci) + "]"


def _sd_text(metric: str, s: dict) -> str:
    """`` ± sd`` in the metric's unit (accuracy: percentage points), or nothing below n = 2."""
    if s["sd"] is None:
        return ""
    if _accuracy(metric):
        return f" ± {100 * s['sd']:.2f} pp"
    return f" ± {value_text(metric, s['sd'])}"


def _sample_text(metric: str, s: dict) -> str:
    sd = _sd_text(metric, s)
    return f"{value_text(metric, s['mean'])}{sd} (n={s['n']})"


def _settings_text(settings: dict) -> str:
    def split(n, name):
        return f"whole {name} split" if n is None else f"first {n:,} {name} images"

    return (
        f"batch {settings['batch_size']}, {settings['epochs']} epochs, "
        f"{split(settings['train_examples'], 'train')}, {split(settings['test_examples'], 'test')}"
    )


def format_summary(summary: dict) -> str:
    """The summary as Markdown: the settings, one table per contrast, the per-seed table."""
    lines = [f"# hw4jax vs PyTorch: {_settings_text(summary['settings'])}", ""]
    for key, run_set in summary["run_sets"].items():
        lines.append(f"- {key}: {len(run_set['seeds'])} seeds {run_set['seeds']}")
    for contrast in summary["contrasts"]:
        a, b = summary["run_sets"][contrast["a"]], summary["run_sets"][contrast["b"]]
        lines += [
            "",
            f"## {contrast['name']}: {contrast['a']} - {contrast['b']} ({contrast['question']})",
            "",
            f"| epoch | metric | {contrast['a']} mean ± sd | {contrast['b']} mean ± sd "
            "| difference | relative | 95% CI (Welch) | df | excludes 0 |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for e, epoch in enumerate(contrast["epochs"]):
            for metric in summary["metrics"]:
                d = epoch[metric]
                rel = "-" if d["relative"] is None else f"{100 * d['relative']:+.2f}%"
                df = "-" if d["df"] is None else f"{d['df']:.1f}"
                excludes = {None: "-", True: "**yes**", False: "no"}[d["excludes_zero"]]
                lines.append(
                    f"| {epoch['epoch']} | {NAMES[metric]} "
                    f"| {_sample_text(metric, a['epochs'][e][metric])} "
                    f"| {_sample_text(metric, b['epochs'][e][metric])} "
                    f"| {difference_text(metric, d['difference'])} | {rel} "
                    f"| {interval_text(metric, d['ci'])} | {df} | {excludes} |"
                )
    lines += ["", "## Per seed", "", _per_seed_header(summary), *_per_seed_rows(summary)]
    return "\n".join(lines) + "\n"


def _spread_text(metric: str, s: dict) -> str:
    """``mean ± sd [min, max] (n=N)`` of one run set's sample."""
    sd = _sd_text(metric, s)
    lo, hi = (value_text(metric, v) for v in (min(s["values"]), max(s["values"])))
    return f"{value_text(metric, s['mean'])}{sd} [{lo}, {hi}] (n={s['n']})"


def format_overview(summaries: dict[int, dict]) -> str:
    """Every batch size's contrasts in one Markdown document (the README's tables): per
    contrast one table, a row per batch size, epoch and metric, with each side's mean ± sd,
    its range over seeds [min, max] and n, the difference and its Welch 95% interval."""
    names = []
    for summary in summaries.values():
        names += [c["name"] for c in summary["contrasts"] if c["name"] not in names]
    lines = ["# hw4jax vs PyTorch, every batch size", ""]
    for batch, summary in sorted(summaries.items()):
        lines.append(
            f"- b{batch}: {_settings_text(summary['settings'])}; "
            + ", ".join(f"{key} {len(s['seeds'])} seeds" for key, s in summary["run_sets"].items())
        )
    for name in names:
        found = [
            (b, s, c)
            for b, s in sorted(summaries.items())
            for c in s["contrasts"]
            if c["name"] == name
        ]
        first = found[0][2]
        lines += [
            "",
            f"## {name}: {first['a']} - {first['b']} ({first['question']})",
            "",
            f"| batch | epoch | metric | {first['a']} mean ± sd [min, max] (n) "
            f"| {first['b']} mean ± sd [min, max] (n) | difference | 95% CI (Welch) "
            "| excludes 0 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for batch, summary, contrast in found:
            a, b = summary["run_sets"][contrast["a"]], summary["run_sets"][contrast["b"]]
            for e, epoch in enumerate(contrast["epochs"]):
                for metric in summary["metrics"]:
                    d = epoch[metric]
                    rel = ""  # accuracies differ in points; a relative figure would confuse
                    if d["relative"] is not None and not _accuracy(metric):
                        rel = f" ({100 * d['relative']:+.1f}%)"
                    excludes = {None: "-", True: "**yes**", False: "no"}[d["excludes_zero"]]
                    lines.append(
                        f"| {batch} | {epoch['epoch']} | {NAMES[metric]} "
                        f"| {_spread_text(metric, a['epochs'][e][metric])} "
                        f"| {_spread_text(metric, b['epochs'][e][metric])} "
                        f"| {difference_text(metric, d['difference'])}{rel} "
                        f"| {interval_text(metric, d['ci'])} | {excludes} |"
                    )
    return "\n".join(lines) + "\n"


def _per_seed_header(summary: dict) -> str:
    epochs = summary["settings"]["epochs"]
    cells = [f"e{e} {NAMES[m]}" for e in range(1, epochs + 1) for m in summary["metrics"]]
    return "| run set | seed | " + " | ".join(cells) + " |\n|---|---|" + "---|" * len(cells)


def _per_seed_rows(summary: dict) -> list[str]:
    rows = []
    for run in summary["per_seed"]:
        cells = [value_text(m, ep[m]) for ep in run["epochs"] for m in summary["metrics"]]
        rows.append(f"| {run['run_set']} | {run['seed']} | " + " | ".join(cells) + " |")
    return rows


def plot_summary(summary: dict, path: str | Path) -> Path:
    """Draws every run (a point) and each run set's mean with its 95% t interval (a bar),
    one panel per metric (rows) and epoch (columns), into ``path`` (PNG). The panel's title
    gives the 'own' contrast's difference and interval where both sides have runs.

    A bare ``Figure`` on an Agg canvas: no pyplot, no global matplotlib state.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    metrics, epochs = summary["metrics"], summary["settings"]["epochs"]
    sets = list(summary["run_sets"].items())
    own = next((c for c in summary["contrasts"] if c["name"] == "own"), None)
    fig = Figure(figsize=(1.2 + 3.4 * epochs, 2.6 * len(metrics)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(metrics), epochs, squeeze=False)
    for row, metric in enumerate(metrics):
        for col in range(epochs):
            ax = axes[row][col]
            for x, (_, run_set) in enumerate(sets):
                _draw_run_set(ax, x, run_set, col, metric)
            ax.set_xticks(
                range(len(sets)), [f"{s['framework']}\non {s['batches']}" for _, s in sets]
            )
            ax.set_xlim(-0.6, len(sets) - 0.4)
            ax.grid(axis="y", alpha=0.3)
            title = f"{NAMES[metric]}, epoch {col + 1}"
            if own is not None:
                d = own["epochs"][col][metric]
                title += (
                    f"\nhw4jax - PyTorch: {difference_text(metric, d['difference'])} "
                    f"{interval_text(metric, d['ci'])}"
                )
            ax.set_title(title, fontsize=9)
            if _accuracy(metric):
                ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
    fig.suptitle(
        f"hw4jax vs PyTorch, {_settings_text(summary['settings'])}\n"
        "runs (points), means and 95% t intervals (bars)",
        fontsize=10,
    )
    fig.savefig(path, dpi=110)
    return Path(path)


def _draw_run_set(ax, x: int, run_set: dict, epoch: int, metric: str) -> None:
    """The run set's runs as points around ``x``, its mean and 95% t interval beside them."""
    s = run_set["epochs"][epoch][metric]
    colour, marker = _COLOURS[run_set["framework"]], _MARKERS[run_set["batches"]]
    n = len(s["values"])
    offsets = [0.25 * (i / (n - 1) - 0.5) if n > 1 else 0.0 for i in range(n)]
    ax.scatter([x + o for o in offsets], s["values"], s=14, color=colour, marker=marker, alpha=0.55)
    interval = compare_stats.mean_interval(
        compare_stats.Sample(s["mean"], s["sd"], s["n"], tuple(s["values"]))
    )
    if interval is not None:
        ax.errorbar(
            x + 0.28,
            s["mean"],
            yerr=[[s["mean"] - interval[0]], [interval[1] - s["mean"]]],
            fmt="_",
            color=colour,
            markersize=14,
            capsize=4,
            lw=1.5,
        )
    else:
        ax.plot([x + 0.28], [s["mean"]], "_", color=colour, markersize=14)
