"""Deprecated alias of ``hw4jax.training.optimizers``: its public names, re-exported for one
release after hw4jax was split into subpackages."""

from hw4jax._moved import warn_moved
from hw4jax.training.optimizers import (  # noqa: F401
    DEFAULT_LEARNING_RATES,
    DEFAULT_MOMENTUM,
    OPTIMIZERS,
    TORCH_ADAMW_WEIGHT_DECAY,
    check_hyperparameters,
    make_optimizer,
)

warn_moved(__name__, "hw4jax.training.optimizers")
