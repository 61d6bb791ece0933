"""torchvision-exact CIFAR-10 augmentation: one specification, two backends.

* ``hw4jax.augment.spec``: what torchvision's PIL path computes, written once and
  backend-free: ``AugmentConfig``, ``AugmentParams``, the distributions drawn from
  uniforms (``params_from_uniforms``), Pillow's warp matrices and 16.16 fixed point,
  its grayscale and blend, ToTensor + Normalize, the constants.
* ``hw4jax.augment.tf_ops``: TensorFlow ops for tf.data (what ``input_pipeline`` runs).
* ``hw4jax.augment.jax_ops``: pure JAX functions (jit, vmap, CPU and GPU, no float64).
* ``hw4jax.augment.gallery``: the picture of each op in hw4jax beside torchvision's output
  for the same parameters, and their difference.

Both backends expose the same ops (``horizontal_flip``, ``rotate``, ``affine``,
``grayscale``, ``adjust_brightness``/``contrast``/``saturation``, ``color_jitter``,
``to_float_normalized``, ``apply_params``, ``apply_params_normalized``,
``sample_params_from_uniforms``, ``sample_params``, ``random_augment``; the last two
draw from a stateless seed in TensorFlow, a PRNG key in JAX) and give the same pixels as
torchvision, and as each other, for the same parameters. ::

    from hw4jax.augment import jax_ops as aug
    params = aug.sample_params(key, shape=(batch,))
    images = jax.jit(jax.vmap(aug.apply_params_normalized))(uint8_images, params)

Importing this package (or ``spec``, or ``jax_ops``) does not import TensorFlow. The
spec's names are available here directly. For one release, the TensorFlow ops are also
available here under their old names (``hw4jax.augment.rotate``, ``.apply_params``,
``.sample_params_batch``, ...): these are aliases of ``tf_ops``, imported on first use.
"""

from __future__ import annotations

import importlib
import importlib.util

from hw4jax.augment.spec import (
    BRIGHTNESS,
    CONTRAST,
    JITTER_ORDERS,
    NUM_UNIFORMS,
    SATURATION,
    AugmentConfig,
    AugmentParams,
    jitter_order_index,
)

__all__ = [
    "BRIGHTNESS",
    "CONTRAST",
    "JITTER_ORDERS",
    "NUM_UNIFORMS",
    "SATURATION",
    "AugmentConfig",
    "AugmentParams",
    "jitter_order_index",
]

_SUBMODULES = ("spec", "tf_ops", "jax_ops")


def __getattr__(name: str):
    # PEP 562: runs only for names not defined above. Submodules load on demand, and the
    # old module-level TensorFlow ops resolve to tf_ops (deprecated aliases, one release).
    if name in _SUBMODULES or importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    tf_ops = importlib.import_module(f"{__name__}.tf_ops")
    try:
        value = getattr(tf_ops, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value  # found once, then an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBMODULES))
