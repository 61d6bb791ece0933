"""Deprecated alias of ``hw4jax.cnn.conv``: its public names, re-exported for one
release after hw4jax was split into subpackages."""

from hw4jax._moved import warn_moved
from hw4jax.cnn.blocks import (  # noqa: F401
    map_batch_blocks,
)
from hw4jax.cnn.conv import (  # noqa: F401
    BATCH_CHUNK,
    INPUT_GRAD_METHODS,
    METHODS,
    Conv,
    choose_method,
    conv2d,
    extract_patches,
)

warn_moved(__name__, "hw4jax.cnn.conv")
