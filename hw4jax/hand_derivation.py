"""Deprecated alias of ``hw4jax.backprop.hand_derivation``: its public names, re-exported for one
release after hw4jax was split into subpackages."""

from hw4jax._moved import warn_moved
from hw4jax.backprop.hand_derivation import (  # noqa: F401
    ALPHA,
    HAND_NUMBERS,
    LOSS_CONVENTION_SLIP,
    Check,
    HandNumber,
    compare,
    half_unit,
    homework_mismatches,
    render,
    report,
    to_dicts,
)

warn_moved(__name__, "hw4jax.backprop.hand_derivation")
