"""Deprecated alias of ``hw4jax.cnn.model``: its public names, re-exported for one
release after hw4jax was split into subpackages."""

from hw4jax._moved import warn_moved
from hw4jax.cnn.model import (  # noqa: F401
    BATCH_NORMS,
    BN_EPSILON,
    BN_MOMENTUM,
    CNN,
    CONV_LAYERS,
    DENSE_LAYERS,
    NUM_CLASSES,
    BatchNorm,
    max_pool_2x2,
    torch_default_bias_init,
    torch_default_kernel_init,
)
from hw4jax.data.cifar10_archive import (  # noqa: F401
    CLASS_NAMES,
)

warn_moved(__name__, "hw4jax.cnn.model")
