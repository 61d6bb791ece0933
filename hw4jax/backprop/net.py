"""Question 2's 2-2-1 network as pure JAX functions: forward pass, loss, gradients.

The network (no biases, linear hidden units, one sigmoid output)::

    h1 = i1*w1 + i2*w2        h2 = i1*w3 + i2*w4
    O_in = h1*w5 + h2*w6      O_out = sigmoid(O_in)

The loss convention is explicit everywhere (``convention=``):

  'half_squared'  E = 1/2 (y - O_out)^2   what the write-up's gradients follow
                                          (dE/dO_out = -(y - O_out)); the default
  'squared'       E = (y - O_out)^2       what the write-up prints as E in iteration 2

Every function here works over a ``Weights`` pytree, composes with ``jax.jit``,
``jax.vmap`` and ``jax.grad``, computes in the dtype of its arguments and never touches
JAX's settings: for float64, call them inside ``with jax.enable_x64(True):`` with float64
arrays (``hw4jax.backprop.trace`` does).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

LOSS_CONVENTIONS = ("half_squared", "squared")
# The convention the write-up's gradients follow (its printed E uses 'squared').
WRITEUP_LOSS = "half_squared"
LOSS_FORMULAS = {"half_squared": "1/2 (y - O_out)^2", "squared": "(y - O_out)^2"}

WEIGHT_NAMES = ("w1", "w2", "w3", "w4", "w5", "w6")


class Weights(NamedTuple):
    """The six weights of the 2-2-1 net: scalars, or arrays of one shape under ``vmap``."""

    w1: jax.Array
    w2: jax.Array
    w3: jax.Array
    w4: jax.Array
    w5: jax.Array
    w6: jax.Array


class Forward(NamedTuple):
    """Every intermediate of the forward pass (same shape and dtype as the weights)."""

    h1: jax.Array
    h2: jax.Array
    o_in: jax.Array
    o_out: jax.Array


def forward(weights: Weights, inputs: jax.Array) -> Forward:
    """The forward pass.

    Args:
      weights: the six weights, each a scalar (or any one shape, broadcast together).
      inputs: [2] array (i1, i2), same dtype as the weights.

    Returns:
      ``Forward(h1, h2, o_in, o_out)``, each shaped like the weights.
    """
    i1, i2 = inputs[0], inputs[1]
    h1 = i1 * weights.w1 + i2 * weights.w2
    h2 = i1 * weights.w3 + i2 * weights.w4
    o_in = h1 * weights.w5 + h2 * weights.w6
    return Forward(h1, h2, o_in, jax.nn.sigmoid(o_in))


def loss_from_output(o_out: jax.Array, target: jax.Array, *, convention: str) -> jax.Array:
    """E of one output under ``convention`` ('half_squared' or 'squared'); N = 1 here."""
    check_convention(convention)
    squared_error = jnp.square(target - o_out)
    return 0.5 * squared_error if convention == "half_squared" else squared_error


def loss(
    weights: Weights, inputs: jax.Array, target: jax.Array, *, convention: str = WRITEUP_LOSS
) -> jax.Array:
    """E(weights) for one example: scalar (per weight set under ``vmap``)."""
    return loss_from_output(forward(weights, inputs).o_out, target, convention=convention)


def grad(
    weights: Weights, inputs: jax.Array, target: jax.Array, *, convention: str = WRITEUP_LOSS
) -> Weights:
    """dE/dw for all six weights by ``jax.grad``: a ``Weights`` shaped like ``weights``."""
    return jax.grad(loss)(weights, inputs, target, convention=convention)


def chain_rule(
    weights: Weights, inputs: jax.Array, target: jax.Array, *, convention: str = WRITEUP_LOSS
) -> dict[str, jax.Array]:
    """Every quantity of the hand derivation, by the chain rule written out.

    Returns a dict keyed as in the write-up: the forward values ('h1', 'h2', 'O_in',
    'O_out', 'y - O_out', 'E'), the local derivatives ('dE/dO_out', 'dO_out/dO_in',
    'dO_in/dw5' = h1, 'dO_in/dw6' = h2, 'dO_in/dh1' = w5, 'dO_in/dh2' = w6,
    'dh1/dw1' = i1, 'dh1/dw2' = i2, 'dh2/dw3' = i1, 'dh2/dw4' = i2), the backpropagated
    errors ('dE/dO_in', 'dE/dh1', 'dE/dh2') and the gradients 'dE/dw1' ... 'dE/dw6';
    each value shaped like the weights.
    """
    fwd = forward(weights, inputs)
    i1, i2 = inputs[0], inputs[1]
    error = target - fwd.o_out
    q: dict[str, jax.Array] = {
        "h1": fwd.h1,
        "h2": fwd.h2,
        "O_in": fwd.o_in,
        "O_out": fwd.o_out,
        "y - O_out": error,
        "E": loss_from_output(fwd.o_out, target, convention=convention),
    }
    # d/dO of 1/2 (y - O)^2 is -(y - O); of (y - O)^2 it is -2 (y - O).
    q["dE/dO_out"] = -error if convention == "half_squared" else -2.0 * error
    q["dO_out/dO_in"] = fwd.o_out * (1.0 - fwd.o_out)  # sigmoid' = sigmoid (1 - sigmoid)
    q["dE/dO_in"] = q["dE/dO_out"] * q["dO_out/dO_in"]
    q["dO_in/dw5"], q["dO_in/dw6"] = fwd.h1, fwd.h2
    q["dO_in/dh1"], q["dO_in/dh2"] = weights.w5, weights.w6
    q["dE/dw5"] = q["dE/dO_in"] * q["dO_in/dw5"]
    q["dE/dw6"] = q["dE/dO_in"] * q["dO_in/dw6"]
    q["dE/dh1"] = q["dE/dO_in"] * q["dO_in/dh1"]
    q["dE/dh2"] = q["dE/dO_in"] * q["dO_in/dh2"]
    q["dh1/dw1"], q["dh1/dw2"], q["dh2/dw3"], q["dh2/dw4"] = i1, i2, i1, i2
    q["dE/dw1"] = q["dE/dh1"] * q["dh1/dw1"]
    q["dE/dw2"] = q["dE/dh1"] * q["dh1/dw2"]
    q["dE/dw3"] = q["dE/dh2"] * q["dh2/dw3"]
    q["dE/dw4"] = q["dE/dh2"] * q["dh2/dw4"]
    return q


def chain_rule_grad(
    weights: Weights, inputs: jax.Array, target: jax.Array, *, convention: str = WRITEUP_LOSS
) -> Weights:
    """dE/dw for all six weights by the written-out chain rule (compare with ``grad``)."""
    q = chain_rule(weights, inputs, target, convention=convention)
    return Weights(*(q[f"dE/d{name}"] for name in WEIGHT_NAMES))


def gd_step(
    weights: Weights,
    inputs: jax.Array,
    target: jax.Array,
    *,
    learning_rate: float,
    convention: str = WRITEUP_LOSS,
) -> Weights:
    """One step of plain gradient descent, w <- w - alpha * dE/dw."""
    g = grad(weights, inputs, target, convention=convention)
    return jax.tree.map(lambda w, gw: w - learning_rate * gw, weights, g)


def gd(
    weights: Weights,
    inputs: jax.Array,
    target: jax.Array,
    *,
    learning_rate: float,
    iterations: int,
    convention: str = WRITEUP_LOSS,
) -> tuple[Weights, jax.Array]:
    """``iterations`` steps of plain gradient descent (``lax.scan``; ``iterations`` is static).

    Returns:
      (weights after the last step, losses [iterations] where losses[k] is E at the
      weights before step k + 1).
    """

    def body(w, _):
        e = loss(w, inputs, target, convention=convention)
        return gd_step(w, inputs, target, learning_rate=learning_rate, convention=convention), e

    return jax.lax.scan(body, weights, None, length=iterations)


def optimizer_step(
    optimizer: optax.GradientTransformation,
    weights: Weights,
    opt_state: optax.OptState,
    inputs: jax.Array,
    target: jax.Array,
    *,
    convention: str = WRITEUP_LOSS,
) -> tuple[Weights, optax.OptState, jax.Array, Weights]:
    """One step of any optax optimizer.

    Returns:
      (new weights, new optimizer state, E before the step, dE/dw by ``jax.grad``).
    """
    e, g = jax.value_and_grad(loss)(weights, inputs, target, convention=convention)
    updates, opt_state = optimizer.update(g, opt_state, weights)
    return optax.apply_updates(weights, updates), opt_state, e, g


def check_convention(convention: str) -> None:
    if convention not in LOSS_CONVENTIONS:
        raise ValueError(
            f"unknown loss convention {convention!r}: choose 'half_squared' "
            "(E = 1/2 (y - O_out)^2, the write-up's gradients) or 'squared' "
            "(E = (y - O_out)^2, the write-up's printed E)"
        )
