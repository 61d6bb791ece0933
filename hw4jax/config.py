"""Deprecated alias of ``hw4jax.training.config``: its public names, re-exported for one
release after hw4jax was split into subpackages."""

from hw4jax._moved import warn_moved
from hw4jax.training.config import (  # noqa: F401
    Config,
    get_config,
)

warn_moved(__name__, "hw4jax.training.config")
