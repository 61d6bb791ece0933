"""Question 2: the homework's 2-2-1 network, by hand (chain rule) and by ``jax.grad``.

  net              the network as pure JAX functions over a ``Weights`` pytree
                   (``forward``, ``loss``, ``grad``, ``chain_rule``, ``gd``, ``optimizer_step``).
  chain_trace      the hand derivation run in float64 and checked against ``jax.grad``
                   (``trace``, ``format_trace``), and ``optimizer_losses`` for Question 1.
  hand_derivation  the write-up's printed numbers and their check against a ``trace``.
  picture          the net as a picture, iteration by iteration, the write-up's slips marked.

The names of ``net`` and ``chain_trace`` are importable from here (``hw4jax.backprop.trace``,
``hw4jax.backprop.forward``, ...), as before the package was split.
"""

from hw4jax.backprop.chain_trace import (
    HOMEWORK,
    OPTIMIZERS,
    Setting,
    Step,
    Trace,
    format_trace,
    make_optimizer,
    optimizer_losses,
    trace,
    validate_setting,
)
from hw4jax.backprop.net import (
    LOSS_CONVENTIONS,
    LOSS_FORMULAS,
    WEIGHT_NAMES,
    WRITEUP_LOSS,
    Forward,
    Weights,
    chain_rule,
    chain_rule_grad,
    forward,
    gd,
    gd_step,
    grad,
    loss,
    loss_from_output,
    optimizer_step,
)

__all__ = [
    "HOMEWORK",
    "LOSS_CONVENTIONS",
    "LOSS_FORMULAS",
    "OPTIMIZERS",
    "WEIGHT_NAMES",
    "WRITEUP_LOSS",
    "Forward",
    "Setting",
    "Step",
    "Trace",
    "Weights",
    "chain_rule",
    "chain_rule_grad",
    "format_trace",
    "forward",
    "gd",
    "gd_step",
    "grad",
    "loss",
    "loss_from_output",
    "make_optimizer",
    "optimizer_losses",
    "optimizer_step",
    "trace",
    "validate_setting",
]
