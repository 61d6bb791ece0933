"""Deprecated alias of ``hw4jax.data.cifar10``: its public names, re-exported for one
release after hw4jax was split into subpackages."""

from hw4jax._moved import warn_moved
from hw4jax.data.cifar10 import (  # noqa: F401
    NAME,
    PREPARE_COMMAND,
    DatasetNotPreparedError,
    load_split,
    num_examples,
    prepare_offline,
)

warn_moved(__name__, "hw4jax.data.cifar10")
