"""Deprecated alias of ``hw4jax.pytorch.reference``: its public names, re-exported for one
release after hw4jax was split into subpackages."""

from hw4jax._moved import warn_moved
from hw4jax.pytorch.layout import (  # noqa: F401
    TORCH_BN_INDEX,
    TORCH_CONV_INDEX,
    TORCH_FC_INDEX,
)
from hw4jax.pytorch.reference import (  # noqa: F401
    Net,
    make_torch_optimizer,
    train_step,
)

warn_moved(__name__, "hw4jax.pytorch.reference")
