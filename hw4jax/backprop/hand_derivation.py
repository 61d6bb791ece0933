"""The write-up's hand-computed numbers for Question 2, as data, and their check.

``HAND_NUMBERS`` holds every number the write-up prints for the two iterations of the
2-2-1 network (the table in spec/homework.md), as the printed text, so its precision is
kept, together with the rounded inputs the author computed it from. ``compare`` checks
each against an exact float64 ``hw4jax.backprop.trace`` of the homework's setting and
names every discrepancy.

When does a printed number agree?
  A number printed with d decimals stands for anything within half a unit of its last
  digit, u = 0.5 * 10**-d. It agrees if either

  (a) |printed - exact| <= u: it is the exact value, correctly rounded; or
  (b) |printed - f(x^)| <= u + sum_i |df/dx_i(x^)| * u_i: it is what the author's own
      rounded inputs x^ (numbers printed earlier, each with its half unit u_i) give under
      the correct formula f, to within its printed digits plus the first-order effect of
      those inputs' rounding (df/dx by ``jax.grad``).

  (b) is needed because the author carried rounded numbers forward: iteration-2
  h1 = 4.000544 is 3 * 0.500048 + 5 * 0.50008 (exact: 4.000540); w5 = 0.50026 after
  iteration 2 follows from 0.50013 and the rounded gradient factors (exact: 0.500254);
  -0.001272 is -0.018 * 0.017676 * 4 = -0.0012727 cut rather than rounded, which the
  half unit of -0.018 covers. A slip is farther from both values than any rounding allows.

  f is always the correct formula in the homework's convention (gradients and E from
  1/2 (y - O_out)^2), so a number the author computed with another formula differs: the
  printed E = 0.000322 is (y - O_out)^2, twice the E the gradients follow.

Known slips (spec/homework.md), each marked in ``known_slip`` and expected to differ:
the loss-convention mismatch of the printed E, the 10x slip in iteration 2 (-0.1796 for
-0.01796 in the w4 line), and two OCR slips (0.982 x 0.012 for 0.982 x 0.018; 0.900322 for
0.000322). Every other number agrees.
"""

from __future__ import annotations

import dataclasses
import decimal
import json
from collections.abc import Callable

import jax
import jax.numpy as jnp

from hw4jax import backprop

LOSS_CONVENTION_SLIP = (
    "loss convention: the printed E is (y - O_out)^2, but the gradients follow "
    "E = 1/2 (y - O_out)^2"
)


@dataclasses.dataclass(frozen=True)
class HandNumber:
    """One number as the write-up prints it.

    Attributes:
      iteration: 1 or 2.
      quantity: key of ``backprop.Step.quantities`` ('h1', 'dE/dw5', 'w5+' = w5 after the
        step, ...), or '(y - O_out)^2'.
      printed: the text as printed (clean reading); its decimals set its precision.
      where: where it is printed in the write-up.
      inputs: the rounded numbers the author computed it from, as printed.
      formula: the correct formula for ``quantity`` applied to ``inputs`` (jnp float64
        scalars; given exact numbers such as i1 = 3 or alpha = 0.1 are written in it).
      known_slip: why it is known to be wrong, or None if it should agree.
    """

    iteration: int
    quantity: str
    printed: str
    where: str
    inputs: tuple[str, ...] = ()
    formula: Callable[..., jax.Array] | None = None
    known_slip: str | None = None


def _sigmoid(o_in):
    return jax.nn.sigmoid(o_in)


def _half_squared_loss(o_out):
    return backprop.loss_from_output(o_out, 1.0, convention="half_squared")


ALPHA = 0.1  # the homework's learning rate; i1 = 3, i2 = 5 and the initial 0.5 are inline.

HAND_NUMBERS: tuple[HandNumber, ...] = (
    # ---- iteration 1: all weights 0.5 ----
    HandNumber(1, "h1", "4", "forward: h1 = 3x0.5 + 5x0.5"),
    HandNumber(1, "h2", "4", "forward: h2 = 3x0.5 + 5x0.5"),
    HandNumber(1, "O_in", "4", "forward"),
    HandNumber(1, "O_out", "0.982", "forward: O_out = sigmoid(4)"),
    HandNumber(
        1, "dE/dO_out", "-0.018", "backward: -(1 - 0.982)", ("0.982",), lambda o: -(1.0 - o)
    ),
    HandNumber(
        1,
        "y - O_out",
        "0.018",
        "clean reading of 0.982 x (1 - 0.982)",
        ("0.982",),
        lambda o: 1.0 - o,
    ),
    HandNumber(
        1,
        "y - O_out",
        "0.012",
        "OCR of 0.982 x 0.018",
        ("0.982",),
        lambda o: 1.0 - o,
        known_slip="OCR slip: 0.982 x 0.012 for 0.982 x 0.018",
    ),
    HandNumber(
        1,
        "dO_out/dO_in",
        "0.017676",
        "0.982 x 0.018 = 0.017676",
        ("0.982",),
        lambda o: o * (1.0 - o),
    ),
    HandNumber(
        1,
        "dE/dw6",
        "-0.001272",
        "w6 update: -0.018 x 0.017676 x 4",
        ("-0.018", "0.017676"),
        lambda d, s: d * s * 4.0,
    ),
    HandNumber(
        1,
        "dE/dw5",
        "-0.001272",
        "w5 update: -0.018 x 0.017676 x 4",
        ("-0.018", "0.017676"),
        lambda d, s: d * s * 4.0,
    ),
    HandNumber(
        1,
        "w5+",
        "0.50013",
        "w5+ = 0.5 - 0.1 x (-0.001272)",
        ("-0.001272",),
        lambda g: 0.5 - ALPHA * g,
    ),
    HandNumber(
        1,
        "w6+",
        "0.50013",
        "iteration 2 starts from w5 = w6 = 0.50013",
        ("-0.001272",),
        lambda g: 0.5 - ALPHA * g,
    ),
    HandNumber(
        1,
        "dE/dO_in",
        "-0.0003182",
        "dE/dO_out x dO_out/dO_in",
        ("-0.018", "0.017676"),
        lambda d, s: d * s,
    ),
    HandNumber(
        1, "dE/dw4", "-0.0008", "-0.0003182 x 0.5 x 5", ("-0.0003182",), lambda d: d * 0.5 * 5.0
    ),
    HandNumber(
        1, "w4+", "0.50008", "w4+ = 0.5 - 0.1 x (-0.0008)", ("-0.0008",), lambda g: 0.5 - ALPHA * g
    ),
    HandNumber(
        1,
        "w2+",
        "0.50008",
        "iteration 2 starts from w2 = w4 = 0.50008",
        ("-0.0008",),
        lambda g: 0.5 - ALPHA * g,
    ),
    HandNumber(
        1,
        "w3+",
        "0.500048",
        "iteration 2 starts from w1 = w3 = 0.500048",
        ("-0.0003182",),
        lambda d: 0.5 - ALPHA * d * 0.5 * 3.0,
    ),
    HandNumber(
        1,
        "w1+",
        "0.500048",
        "iteration 2 starts from w1 = w3 = 0.500048",
        ("-0.0003182",),
        lambda d: 0.5 - ALPHA * d * 0.5 * 3.0,
    ),
    # ---- iteration 2: from the rounded weights 0.500048, 0.50008, 0.50013 ----
    HandNumber(
        2,
        "h1",
        "4.000544",
        "forward, from w1 = 0.500048, w2 = 0.50008",
        ("0.500048", "0.50008"),
        lambda a, b: 3.0 * a + 5.0 * b,
    ),
    HandNumber(
        2,
        "h2",
        "4.000544",
        "forward, from w3 = 0.500048, w4 = 0.50008",
        ("0.500048", "0.50008"),
        lambda a, b: 3.0 * a + 5.0 * b,
    ),
    HandNumber(
        2,
        "O_in",
        "4.0016",
        "forward: h1 w5 + h2 w6",
        ("4.000544", "4.000544", "0.50013", "0.50013"),
        lambda h1, h2, w5, w6: h1 * w5 + h2 * w6,
    ),
    HandNumber(2, "O_out", "0.982", "forward: O_out = sigmoid(4.0016)", ("4.0016",), _sigmoid),
    HandNumber(2, "O_out", "0.98204", "E line: (1 - 0.98204)^2", ("4.0016",), _sigmoid),
    HandNumber(
        2,
        "E",
        "0.000322",
        "E line: (1 - 0.98204)^2 = 0.000322",
        ("0.98204",),
        _half_squared_loss,
        known_slip=LOSS_CONVENTION_SLIP,
    ),
    HandNumber(
        2,
        "(y - O_out)^2",
        "0.000322",
        "E line: (1 - 0.98204)^2 = 0.000322",
        ("0.98204",),
        lambda o: (1.0 - o) ** 2,
    ),
    HandNumber(
        2,
        "(y - O_out)^2",
        "0.900322",
        "OCR of the E line",
        ("0.98204",),
        lambda o: (1.0 - o) ** 2,
        known_slip="OCR slip: 0.900322 for 0.000322",
    ),
    HandNumber(
        2, "dE/dO_out", "-0.01796", "w6 update: -(1 - 0.98204)", ("0.98204",), lambda o: -(1.0 - o)
    ),
    HandNumber(
        2,
        "dE/dO_out",
        "-0.1796",
        "w4 update line",
        ("0.98204",),
        lambda o: -(1.0 - o),
        known_slip="10x slip: -0.1796 for -0.01796",
    ),
    HandNumber(
        2,
        "dO_out/dO_in",
        "0.0176",
        "w6 update: printed 0.0176... (cut off)",
        ("0.98204",),
        lambda o: o * (1.0 - o),
    ),
    HandNumber(
        2,
        "w6+",
        "0.50026",
        "w6+ = 0.50013 - 0.1 (-0.01796 x 0.0176 x 4.000544)",
        ("0.50013", "-0.01796", "0.0176", "4.000544"),
        lambda w, d, s, h: w - ALPHA * d * s * h,
    ),
    HandNumber(
        2,
        "w5+",
        "0.50026",
        "w5+ as w6+",
        ("0.50013", "-0.01796", "0.0176", "4.000544"),
        lambda w, d, s, h: w - ALPHA * d * s * h,
    ),
)


@dataclasses.dataclass(frozen=True)
class Check:
    """The verdict on one ``HandNumber``.

    Attributes:
      number: the hand number.
      exact: the float64 value from the trace.
      half_unit: u, half a unit in the printed number's last digit.
      from_inputs: f(author's rounded inputs), or None when it has none.
      input_tolerance: u + propagated rounding of the inputs, or None.
      verdict: 'exact' (rule a), 'rounded inputs' (rule b only) or 'differs'.
      explanation: for 'differs', the known slip, or 'unexplained'.
    """

    number: HandNumber
    exact: float
    half_unit: float
    from_inputs: float | None
    input_tolerance: float | None
    verdict: str
    explanation: str | None

    @property
    def agrees(self) -> bool:
        return self.verdict != "differs"


def homework_mismatches(setting: backprop.Setting) -> list[str]:
    """How ``setting`` differs from the homework's (empty when the hand numbers apply).

    The write-up's numbers exist for iterations 1 and 2, so at least 2 are needed.
    """
    setting = backprop.validate_setting(setting)
    home = backprop.HOMEWORK
    out = [
        f"{field.name} {getattr(setting, field.name)!r} (homework: {getattr(home, field.name)!r})"
        for field in dataclasses.fields(setting)
        if field.name != "iterations" and getattr(setting, field.name) != getattr(home, field.name)
    ]
    if setting.iterations < 2:
        out.append(f"iterations {setting.iterations} (the write-up prints 2)")
    return out


def compare(tr: backprop.Trace) -> tuple[Check, ...]:
    """Checks every ``HAND_NUMBERS`` entry against ``tr`` (rule in the module docstring).

    Raises:
      ValueError: ``tr`` is not of the homework's setting (see ``homework_mismatches``).
    """
    mismatches = homework_mismatches(tr.setting)
    if mismatches:
        raise ValueError(
            "the write-up's numbers are for the homework's setting only; this trace has "
            + "; ".join(mismatches)
            + ": run backprop.trace(backprop.HOMEWORK) to compare"
        )
    with jax.enable_x64(True):
        return tuple(_check(number, tr) for number in HAND_NUMBERS)


def report(tr: backprop.Trace) -> str:
    """The comparison as text, or why it is skipped when ``tr``'s setting is not the
    homework's."""
    mismatches = homework_mismatches(tr.setting)
    if mismatches:
        return (
            "Comparison with the write-up's hand numbers skipped: they are for the "
            "homework's setting only, and this run has " + "; ".join(mismatches) + "."
        )
    checks = compare(tr)
    lines = [
        "The write-up's hand numbers vs the exact trace",
        "  agrees if |printed - exact| <= half a unit in its last digit, or if it is what the",
        "  author's rounded inputs give, within that half unit plus their propagated rounding",
        f"  {'it':<3}{'quantity':<15}{'printed':>11}{'exact':>17}{'rounded inputs':>17}"
        f"{'allowed':>10}  verdict",
    ]
    for c in checks:
        n = c.number
        rounded = "" if c.from_inputs is None else f"{c.from_inputs:.9g}"
        allowed = (
            c.half_unit if c.verdict == "exact" or c.input_tolerance is None else c.input_tolerance
        )
        verdict = c.verdict if c.agrees else f"DIFFERS: {c.explanation}"
        lines.append(
            f"  {n.iteration:<3}{n.quantity:<15}{n.printed:>11}{c.exact:>17.9g}"
            f"{rounded:>17}{allowed:>10.2g}  {verdict}"
        )
    differing = [c for c in checks if not c.agrees]
    lines.append(
        f"  {len(checks) - len(differing)} of {len(checks)} printed numbers agree; "
        f"{len(differing)} differ:"
    )
    for c in differing:
        n = c.number
        lines.append(
            f"    iteration {n.iteration} {n.quantity} printed {n.printed} "
            f"({n.where}): {c.explanation}; exact {c.exact:.6g}"
        )
    return "\n".join(lines)


def to_dicts(checks: tuple[Check, ...]) -> list[dict]:
    """The checks as JSON-ready dicts (the formula left out)."""
    return [
        {
            "iteration": c.number.iteration,
            "quantity": c.number.quantity,
            "printed": c.number.printed,
            "where": c.number.where,
            "author_inputs": list(c.number.inputs),
            "exact": c.exact,
            "half_unit": c.half_unit,
            "from_inputs": c.from_inputs,
            "input_tolerance": c.input_tolerance,
            "verdict": c.verdict,
            "explanation": c.explanation,
        }
        for c in checks
    ]


def half_unit(printed: str) -> float:
    """Half a unit in the last printed digit: '0.50013' -> 5e-06, '4' -> 0.5."""
    exponent = decimal.Decimal(printed).as_tuple().exponent
    return 0.5 * 10.0**exponent


def _exact(tr: backprop.Trace, number: HandNumber) -> float:
    q = tr.steps[number.iteration - 1].quantities
    if number.quantity == "(y - O_out)^2":
        return q["y - O_out"] ** 2
    return q[number.quantity]


def _check(number: HandNumber, tr: backprop.Trace) -> Check:
    printed = float(number.printed)
    u = half_unit(number.printed)
    exact = _exact(tr, number)
    from_inputs = tolerance = None
    if number.formula is not None:
        x = jnp.asarray([float(v) for v in number.inputs], jnp.float64)
        f = lambda x: number.formula(*x)  # noqa: E731
        from_inputs = float(f(x))
        partials = jax.grad(f)(x)
        input_units = jnp.asarray([half_unit(v) for v in number.inputs], jnp.float64)
        tolerance = u + float(jnp.sum(jnp.abs(partials) * input_units))
    if abs(printed - exact) <= u:
        verdict = "exact"
    elif from_inputs is not None and abs(printed - from_inputs) <= tolerance:
        verdict = "rounded inputs"
    else:
        verdict = "differs"
    explanation = None
    if verdict == "differs":
        explanation = number.known_slip or "unexplained"
    return Check(number, exact, u, from_inputs, tolerance, verdict, explanation)


def render(setting: backprop.Setting = backprop.HOMEWORK, *, as_json: bool = False) -> str:
    """What ``scripts/backprop.py`` prints: the trace of ``setting`` as a table, iteration by
    iteration, then the comparison with the write-up's numbers (or why it is skipped); with
    ``as_json`` the same as one JSON document ('trace', 'hand_comparison' (a list, or null
    when skipped) and 'hand_comparison_skipped' (the reason, or null)).

    Raises:
      ValueError: a bad setting (see ``backprop.validate_setting``).
    """
    tr = backprop.trace(setting)
    mismatches = homework_mismatches(tr.setting)
    if as_json:
        return json.dumps(
            {
                "trace": tr.to_dict(),
                "hand_comparison": None if mismatches else to_dicts(compare(tr)),
                "hand_comparison_skipped": "; ".join(mismatches) or None,
            },
            indent=2,
        )
    return backprop.format_trace(tr) + "\n\n" + report(tr)
