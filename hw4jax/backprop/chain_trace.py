"""Question 2's hand derivation, run: every chain-rule quantity per iteration, in float64.

Entry points that take plain Python numbers, validate them (``ValueError`` naming the
problem and the fix) and compute in float64 inside ``with jax.enable_x64(True):``, so x64
never leaks to the caller:

* ``trace``: every quantity of the hand derivation (``hw4jax.backprop.net.chain_rule``),
  each iteration, checked against ``jax.grad``; ``format_trace`` prints it as a table.
* ``optimizer_losses``: loss per iteration under any optax optimizer, for comparing
  optimizers on this net.

``hw4jax.backprop.hand_derivation`` holds the write-up's printed numbers and checks them
against a ``trace``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from hw4jax.backprop.net import (
    LOSS_FORMULAS,
    WEIGHT_NAMES,
    WRITEUP_LOSS,
    Weights,
    chain_rule,
    check_convention,
    loss,
    optimizer_step,
)
from hw4jax.training import optimizers

# 'gd' is plain gradient descent, w <- w - alpha * dE/dw (optax.sgd without momentum).
OPTIMIZERS = ("gd",) + tuple(name for name in optimizers.OPTIMIZERS if name != "sgd")


@dataclasses.dataclass(frozen=True)
class Setting:
    """One run of the hand derivation: data, initial weights and how to step.

    Attributes:
      inputs: (i1, i2).
      target: y.
      weights: (w1, ..., w6) before the first step.
      learning_rate: alpha, > 0.
      iterations: number of steps, >= 1.
      loss: one of ``LOSS_CONVENTIONS``.
      optimizer: one of ``OPTIMIZERS``.
    """

    inputs: tuple[float, float] = (3.0, 5.0)
    target: float = 1.0
    weights: tuple[float, ...] = (0.5,) * 6
    learning_rate: float = 0.1
    iterations: int = 2
    loss: str = WRITEUP_LOSS
    optimizer: str = "gd"


# The homework's setting (the defaults above): i = (3, 5), y = 1, all weights 0.5,
# alpha = 0.1, two iterations of plain gradient descent on 1/2 (y - O_out)^2.
HOMEWORK = Setting()


def validate_setting(setting: Setting) -> Setting:
    """Returns ``setting`` with numbers as floats, or raises ValueError naming the problem
    and the fix (wrong count of inputs or weights, non-finite numbers, learning rate <= 0,
    iterations < 1, unknown loss convention or optimizer)."""
    inputs = _finite_numbers(setting.inputs, "inputs (i1, i2)", 2)
    weights = _finite_numbers(setting.weights, "weights (w1 ... w6)", 6)
    target = _finite_number(setting.target, "target y")
    learning_rate = _finite_number(setting.learning_rate, "learning rate")
    if learning_rate <= 0:
        raise ValueError(
            f"learning rate must be > 0, got {learning_rate!r}: pass a positive step size "
            "such as 0.1"
        )
    iterations = setting.iterations
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)):
        raise ValueError(f"iterations must be an integer, got {iterations!r}: pass e.g. 2")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}: pass at least 1")
    check_convention(setting.loss)
    if setting.optimizer not in OPTIMIZERS:
        raise ValueError(
            f"unknown optimizer {setting.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}"
        )
    return dataclasses.replace(
        setting,
        inputs=tuple(inputs),
        weights=tuple(weights),
        target=target,
        learning_rate=learning_rate,
        iterations=int(iterations),
    )


@functools.lru_cache(maxsize=64)
def make_optimizer(name: str, learning_rate: float) -> optax.GradientTransformation:
    """The optax optimizer for ``name`` in ``OPTIMIZERS`` ('gd' is plain gradient descent),
    with ``hw4jax.training.optimizers``' torch.optim defaults for the others.

    Cached, so that the same (name, learning rate) is the same object and the jitted step
    that takes it as a static argument compiles once.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")
    return optimizers.make_optimizer("sgd" if name == "gd" else name, learning_rate)


@dataclasses.dataclass(frozen=True)
class Step:
    """One iteration of the trace, all numbers Python floats (float64).

    Attributes:
      iteration: 1-based.
      weights: 'w1' ... 'w6' before the step.
      quantities: everything ``chain_rule`` returns, plus the weights after the step as
        'w1+' ... 'w6+'.
      autodiff_grads: 'dE/dw1' ... 'dE/dw6' by ``jax.grad``.
      max_grad_diff: max |chain rule - jax.grad| over the six gradients.
      weights_after: 'w1' ... 'w6' after the step.
    """

    iteration: int
    weights: dict[str, float]
    quantities: dict[str, float]
    autodiff_grads: dict[str, float]
    max_grad_diff: float
    weights_after: dict[str, float]


@dataclasses.dataclass(frozen=True)
class Trace:
    """The hand derivation, iteration by iteration, for one ``Setting``; ``final_loss`` is
    E at the weights after the last step."""

    setting: Setting
    steps: tuple[Step, ...]
    final_loss: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the setting and, per iteration, the weights before, the forward
        values, E, every chain-rule quantity, each weight's gradient (chain rule and
        jax.grad) and the weights after the step."""
        steps = []
        for s in self.steps:
            q = s.quantities
            steps.append(
                {
                    "iteration": s.iteration,
                    "weights": s.weights,
                    "forward": {k: q[k] for k in ("h1", "h2", "O_in", "O_out")},
                    "loss": q["E"],
                    "gradients": {n: q[f"dE/d{n}"] for n in WEIGHT_NAMES},
                    "jax_grad": {n: s.autodiff_grads[f"dE/d{n}"] for n in WEIGHT_NAMES},
                    "max_grad_diff": s.max_grad_diff,
                    "chain_rule": {k: v for k, v in q.items() if not k.endswith("+")},
                    "weights_after": s.weights_after,
                }
            )
        setting = dataclasses.asdict(self.setting)
        setting["loss_formula"] = "E = " + LOSS_FORMULAS[self.setting.loss]
        return {"setting": setting, "iterations": steps, "final_loss": self.final_loss}


def trace(setting: Setting = HOMEWORK) -> Trace:
    """Runs ``setting`` in float64 and records every quantity of the hand derivation.

    Each iteration computes the chain-rule quantities (``chain_rule``) and the gradients by
    ``jax.grad`` at the same weights, records both and their largest difference, then steps
    with the optimizer using ``jax.grad``'s gradients. For 'gd' the step is also done by
    hand, w - alpha * (chain-rule dE/dw), and must give the same weights.

    Runs inside ``with jax.enable_x64(True):``; nothing of it leaks to the caller.

    Raises:
      ValueError: a bad setting (see ``validate_setting``).
      RuntimeError: chain rule and jax.grad disagree (a bug, never expected).
    """
    setting = validate_setting(setting)
    with jax.enable_x64(True):
        inputs = jnp.asarray(setting.inputs, jnp.float64)
        target = jnp.asarray(setting.target, jnp.float64)
        weights = Weights(*(jnp.asarray(w, jnp.float64) for w in setting.weights))
        optimizer = make_optimizer(setting.optimizer, setting.learning_rate)
        opt_state = optimizer.init(weights)
        steps = []
        for iteration in range(1, setting.iterations + 1):
            q, new_weights, opt_state, g = _traced_step(
                optimizer, weights, opt_state, inputs, target, setting.loss
            )
            steps.append(_checked_step(iteration, setting, weights, q, g, new_weights))
            weights = new_weights
        final_loss = float(loss(weights, inputs, target, convention=setting.loss))
    return Trace(setting=setting, steps=tuple(steps), final_loss=final_loss)


def _checked_step(
    iteration: int, setting: Setting, weights: Weights, q: dict, g: Weights, new_weights: Weights
) -> Step:
    """One iteration's record, after checking chain rule == jax.grad and, for 'gd', that
    the hand update w - alpha * dE/dw gives optax's weights."""
    chain = np.array([float(q[f"dE/d{n}"]) for n in WEIGHT_NAMES])
    auto = np.array([float(x) for x in g])
    max_diff = float(np.max(np.abs(chain - auto)))
    if not max_diff <= 1e-12 * max(1.0, float(np.max(np.abs(auto)))):
        raise RuntimeError(f"chain rule and jax.grad disagree by {max_diff:g}")
    after = {n: float(w) for n, w in zip(WEIGHT_NAMES, new_weights)}
    if setting.optimizer == "gd":
        by_hand = {
            n: float(w) - setting.learning_rate * c for n, w, c in zip(WEIGHT_NAMES, weights, chain)
        }
        if not all(
            math.isclose(by_hand[n], after[n], rel_tol=1e-14, abs_tol=1e-15) for n in WEIGHT_NAMES
        ):
            raise RuntimeError(f"hand update {by_hand} differs from optax {after}")
    quantities = {k: float(v) for k, v in q.items()}
    quantities.update({f"{n}+": after[n] for n in WEIGHT_NAMES})
    return Step(
        iteration=iteration,
        weights={n: float(w) for n, w in zip(WEIGHT_NAMES, weights)},
        quantities=quantities,
        autodiff_grads={f"dE/d{n}": float(x) for n, x in zip(WEIGHT_NAMES, g)},
        max_grad_diff=max_diff,
        weights_after=after,
    )


def optimizer_losses(
    optimizer: optax.GradientTransformation,
    *,
    iterations: int,
    inputs: Sequence[float] = HOMEWORK.inputs,
    target: float = HOMEWORK.target,
    weights: Sequence[float] = HOMEWORK.weights,
    convention: str = WRITEUP_LOSS,
) -> np.ndarray:
    """Loss per iteration of ``optimizer`` on the 2-2-1 net (float64): one call per
    optimizer is a comparison of optimizers on the same data and initial weights.

    Args:
      optimizer: any optax transformation, e.g. ``make_optimizer('adam', 0.1)``.
      iterations: number of steps, >= 1.
      inputs, target, weights, convention: as in ``Setting`` (the homework's by default).

    Returns:
      float64 numpy array [iterations + 1]: E at the initial weights, then after each step.
    """
    setting = validate_setting(
        Setting(
            inputs=tuple(inputs),
            target=target,
            weights=tuple(weights),
            iterations=iterations,
            loss=convention,
        )
    )
    with jax.enable_x64(True):
        w0 = Weights(*(jnp.asarray(w, jnp.float64) for w in setting.weights))
        x = jnp.asarray(setting.inputs, jnp.float64)
        y = jnp.asarray(setting.target, jnp.float64)

        @jax.jit
        def run(w):
            def body(carry, _):
                w, s = carry
                w, s, e, _ = optimizer_step(optimizer, w, s, x, y, convention=convention)
                return (w, s), e

            (w, _), losses = jax.lax.scan(
                body, (w, optimizer.init(w)), None, length=setting.iterations
            )
            return jnp.append(losses, loss(w, x, y, convention=convention))

        return np.asarray(run(w0), dtype=np.float64)


# ----------------------------------------------------------------------------------------
# Text rendering of a trace
# ----------------------------------------------------------------------------------------

_DERIVATION_ROWS = (
    # (quantity, how it is computed); 'dE/dO_out' and 'E' depend on the loss convention.
    ("h1", "i1*w1 + i2*w2"),
    ("h2", "i1*w3 + i2*w4"),
    ("O_in", "h1*w5 + h2*w6"),
    ("O_out", "sigmoid(O_in)"),
    ("E", None),
    ("dE/dO_out", None),
    ("dO_out/dO_in", "O_out (1 - O_out)"),
    ("dE/dO_in", "dE/dO_out * dO_out/dO_in"),
    ("dE/dw5", "dE/dO_in * h1"),
    ("dE/dw6", "dE/dO_in * h2"),
    ("dE/dh1", "dE/dO_in * w5"),
    ("dE/dh2", "dE/dO_in * w6"),
    ("dE/dw1", "dE/dh1 * i1"),
    ("dE/dw2", "dE/dh1 * i2"),
    ("dE/dw3", "dE/dh2 * i1"),
    ("dE/dw4", "dE/dh2 * i2"),
)


def format_trace(tr: Trace) -> str:
    """The derivation as a readable table, iteration by iteration (like the write-up's)."""
    s = tr.setting
    out = [
        "2-2-1 network, hidden units linear, output sigmoid, no biases (float64)",
        f"  inputs i1={_num(s.inputs[0])} i2={_num(s.inputs[1])}   target y={_num(s.target)}"
        f"   learning rate alpha={_num(s.learning_rate)}   iterations={s.iterations}",
        f"  loss: {s.loss}, E = {LOSS_FORMULAS[s.loss]}"
        + (
            "   (the write-up's gradients use this; its printed E is (y - O_out)^2: --loss squared)"
            if s.loss == WRITEUP_LOSS
            else "   (not the write-up's gradients, which use 1/2 (y - O_out)^2)"
        ),
        f"  optimizer: {s.optimizer}"
        + (
            "  (plain gradient descent, w+ = w - alpha * dE/dw)"
            if s.optimizer == "gd"
            else "  (optax, torch.optim defaults)"
        ),
    ]
    how = {
        "E": LOSS_FORMULAS[s.loss],
        "dE/dO_out": "-(y - O_out)" if s.loss == "half_squared" else "-2 (y - O_out)",
    }
    for step in tr.steps:
        q = step.quantities
        out.append("")
        out.append(
            f"Iteration {step.iteration}   weights: "
            + "  ".join(f"{n}={_num(v)}" for n, v in step.weights.items())
        )
        out.append(f"  {'quantity':<14}{'computed as':<28}{'value':>22}")
        for name, formula in _DERIVATION_ROWS:
            if name == "dE/dO_out":
                out.append("  backward (chain rule)")
            out.append(f"  {name:<14}{formula or how[name]:<28}{q[name]:>22.15g}")
        out.append(
            f"  jax.grad gives the same dE/dw: max |chain rule - jax.grad| = "
            f"{step.max_grad_diff:.3g}"
        )
        rule = "w - alpha * dE/dw" if s.optimizer == "gd" else f"{s.optimizer} step"
        out.append(f"  update ({rule})")
        for n in WEIGHT_NAMES:
            out.append(f"  {n + '+':<14}{'':<28}{step.weights_after[n]:>22.15g}")
    out.append("")
    out.append(
        "E = "
        + LOSS_FORMULAS[s.loss]
        + ": "
        + ", ".join(f"{st.quantities['E']:.9g} before step {st.iteration}" for st in tr.steps[:3])
        + (", ..." if len(tr.steps) > 3 else "")
        + f", {tr.final_loss:.9g} after step {len(tr.steps)}"
    )
    return "\n".join(out)


# ----------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------


def _traced_step(optimizer, weights, opt_state, inputs, target, convention):
    q = _jit_chain_rule(weights, inputs, target, convention=convention)
    new_weights, opt_state, _, g = _jit_optimizer_step(
        optimizer, weights, opt_state, inputs, target, convention=convention
    )
    return q, new_weights, opt_state, g


_jit_chain_rule = jax.jit(chain_rule, static_argnames="convention")
_jit_optimizer_step = jax.jit(optimizer_step, static_argnums=0, static_argnames="convention")


def _finite_number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}: pass a finite number") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {value!r}: pass a finite number")
    return number


def _finite_numbers(values: Any, what: str, count: int) -> list[float]:
    try:
        values = list(values)
    except TypeError:
        raise ValueError(f"{what}: expected {count} numbers, got {values!r}") from None
    if len(values) != count:
        raise ValueError(
            f"{what}: expected exactly {count} numbers, got {len(values)}: "
            f"pass exactly {count} finite numbers"
        )
    return [_finite_number(v, f"{what} value {k + 1}") for k, v in enumerate(values)]


def _num(x: float) -> str:
    return f"{x:.10g}"
