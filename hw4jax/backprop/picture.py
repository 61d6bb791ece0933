"""The 2-2-1 network as a picture: one panel per iteration of a ``Trace``.

Each panel draws the net (inputs i1, i2; hidden h1, h2; output O) with that iteration's
forward values on the nodes, E and dE/dO_out at the output, and on each edge its weight
before the step and dE/dw (the chain rule's, equal to ``jax.grad``'s). Given the checks of
the write-up's hand numbers (``hand_derivation.compare``), the numbers that slipped are
written in red beside the node or edge they belong to, with the exact value and why.

Drawn on a bare ``Figure`` with an Agg canvas (no pyplot: matplotlib's global backend is
never touched), saved at ``DPI``: the PNG is ``figure_size(iterations)`` times ``DPI``
pixels, as the optimizer study's 2-2-1 curves are drawn (``studies.optimizer_report``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hw4jax.backprop import hand_derivation
from hw4jax.backprop.chain_trace import Setting, Trace, trace
from hw4jax.backprop.net import LOSS_FORMULAS

DPI = 100
PANEL_SIZE = (7.4, 5.0)  # inches per iteration
COLUMNS = 2  # panels per row
MAX_ITERATIONS = 6  # more panels would not be read one by one

# Where each node sits in a panel's (x, y) data coordinates.
NODES = {"i1": (0.0, 2.4), "i2": (0.0, 0.0), "h1": (2.6, 2.4), "h2": (2.6, 0.0), "O": (5.4, 1.2)}
# Edge name -> (source, target, where along the edge its label sits, its shift up): the
# crossing edges w2 and w3 are labelled near their targets, away from the crossing; w1 and
# w4 above and below their edges, clear of the crossing's labels.
EDGES = {
    "w1": ("i1", "h1", 0.45, 0.42),
    "w2": ("i2", "h1", 0.62, 0.0),
    "w3": ("i1", "h2", 0.62, 0.0),
    "w4": ("i2", "h2", 0.45, -0.42),
    "w5": ("h1", "O", 0.45, 0.0),
    "w6": ("h2", "O", 0.45, 0.0),
}
SLIP_COLOR = "#c0392b"


def figure_size(iterations: int) -> tuple[float, float]:
    """The figure's size in inches for ``iterations`` panels (``COLUMNS`` to a row)."""
    rows = -(-iterations // COLUMNS)
    columns = min(iterations, COLUMNS)
    return PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows


def _num(x: float) -> str:
    """Six significant digits, as the printed table gives them."""
    return f"{x:.6g}"


def _place(quantity: str) -> str:
    """The node or edge a quantity of ``Step.quantities`` belongs to (for slip marks)."""
    for name in EDGES:
        if quantity in (f"dE/d{name}", f"{name}+", name) or quantity.endswith(f"/d{name}"):
            return name
    for hidden in ("h1", "h2"):
        if quantity in (hidden, f"dE/d{hidden}"):
            return hidden
    return "O"


def plot_setting(setting: Setting, path: str | Path) -> Path:
    """Traces ``setting`` and draws it (``plot_network``), with the write-up's slips marked
    when it is the homework's setting (what ``scripts/backprop.py --plot`` draws).

    Raises:
      ValueError: a bad setting (see ``hw4jax.backprop.validate_setting``), or more than
        ``MAX_ITERATIONS`` iterations.
    """
    tr = trace(setting)
    homework = not hand_derivation.homework_mismatches(tr.setting)
    return plot_network(tr, path, hand_derivation.compare(tr) if homework else ())


def plot_network(tr: Trace, path: str | Path, checks: Sequence = ()) -> Path:
    """``network_figure(tr, checks)`` saved as the PNG ``path``
    (``figure_size(len(tr.steps))`` inches at ``DPI``)."""
    path = Path(path)
    network_figure(tr, checks).savefig(path, dpi=DPI)
    return path


def network_figure(tr: Trace, checks: Sequence = ()):
    """Every iteration of ``tr`` as the net with its numbers: a matplotlib ``Figure`` on an
    Agg canvas.

    Args:
      tr: a trace (``hw4jax.backprop.trace``).
      checks: ``hand_derivation.Check``s of ``tr`` (``hand_derivation.compare``); those that
        differ are marked on their iteration's panel. Empty: nothing is marked (a setting
        other than the homework's).

    Raises:
      ValueError: more than ``MAX_ITERATIONS`` iterations, or a check's iteration is not
        one of ``tr``'s.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    iterations = len(tr.steps)
    if iterations > MAX_ITERATIONS:
        raise ValueError(
            f"the picture draws at most {MAX_ITERATIONS} iterations, one panel each; this "
            f"trace has {iterations}: run at most {MAX_ITERATIONS} iterations to draw it"
        )
    slips: dict[int, list] = {}
    for check in checks:
        if not 1 <= check.number.iteration <= iterations:
            raise ValueError(
                f"a check of iteration {check.number.iteration}, but the trace has "
                f"{iterations}: pass the checks of this trace (hand_derivation.compare(tr))"
            )
        if not check.agrees:
            slips.setdefault(check.number.iteration, []).append(check)

    fig = Figure(figsize=figure_size(iterations))
    FigureCanvasAgg(fig)
    rows = -(-iterations // COLUMNS)
    axes = fig.subplots(rows, min(iterations, COLUMNS), squeeze=False).ravel()
    for ax in axes[iterations:]:
        ax.set_axis_off()
    setting = tr.setting
    for ax, step in zip(axes, tr.steps):
        _draw_panel(ax, step, setting, slips.get(step.iteration, []))
    agreeing = sum(c.agrees for c in checks)
    title = (
        f"2-2-1 net, {setting.optimizer} lr {setting.learning_rate:g}, "
        f"E = {LOSS_FORMULAS[setting.loss]}; E after {iterations} step"
        f"{'s' if iterations > 1 else ''}: {_num(tr.final_loss)}"
    )
    if checks:
        title += (
            f"\nthe write-up's hand numbers: {agreeing} of {len(checks)} hold,"
            f" the {len(checks) - agreeing} that slipped in red"
        )
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _draw_panel(ax, step, setting, slips: list) -> None:
    q = step.quantities
    (i1, i2), target = setting.inputs, setting.target
    values = {
        "i1": f"i1 = {i1:g}",
        "i2": f"i2 = {i2:g}",
        "h1": f"h1 = {_num(q['h1'])}\ndE/dh1 = {_num(q['dE/dh1'])}",
        "h2": f"h2 = {_num(q['h2'])}\ndE/dh2 = {_num(q['dE/dh2'])}",
        "O": (
            f"O_in = {_num(q['O_in'])}\nO_out = {_num(q['O_out'])}\ny = {target:g}\n"
            f"E = {_num(q['E'])}\ndE/dO_out = {_num(q['dE/dO_out'])}"
        ),
    }
    for name, (src, dst, at, shift) in EDGES.items():
        (x0, y0), (x1, y1) = NODES[src], NODES[dst]
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={"arrowstyle": "-|>", "color": "0.55", "shrinkA": 26, "shrinkB": 30},
        )
        ax.text(
            x0 + at * (x1 - x0),
            y0 + at * (y1 - y0) + shift,
            f"{name} = {_num(step.weights[name])}\ndE/d{name} = {_num(q[f'dE/d{name}'])}",
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.25", "facecolor": "#fff8e1", "edgecolor": "0.8"},
            zorder=3,
        )
    for name, (x, y) in NODES.items():
        ax.text(
            x,
            y,
            values[name],
            ha="center",
            va="center",
            fontsize=8.5,
            bbox={"boxstyle": "round,pad=0.4", "facecolor": "#e3f2fd", "edgecolor": "C0"},
            zorder=4,
        )
    marks: dict[str, list[str]] = {}
    for check in slips:
        n = check.number
        marks.setdefault(_place(n.quantity), []).append(
            f"write-up: {n.quantity} = {n.printed}, exact {_num(check.exact)}\n"
            f"({check.explanation})"
        )
    for place, texts in marks.items():
        x, y = _mark_position(place)
        ax.text(
            x,
            y,
            "\n".join(texts),
            ha="center",
            va="top",
            fontsize=7.5,
            color=SLIP_COLOR,
            wrap=True,
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": SLIP_COLOR},
            zorder=5,
        )
    ax.set_xlim(-0.5, 6.3)
    ax.set_ylim(-1.8, 3.1)
    ax.set_axis_off()
    ax.set_title(
        f"iteration {step.iteration} (weights before the step;"
        f" max |chain rule - jax.grad| = {step.max_grad_diff:.1g})",
        fontsize=9.5,
    )


def _mark_position(place: str) -> tuple[float, float]:
    """Where a slip's note goes (its top centre): below the net, under its node or edge."""
    if place in NODES:
        x, y = NODES[place]
        return (3.6, -0.75) if place == "O" else (x, -0.75)
    src, dst, at, _ = EDGES[place]
    (x0, _), (x1, _) = NODES[src], NODES[dst]
    return x0 + at * (x1 - x0), -0.75
