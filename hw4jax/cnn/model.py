"""Question 3's CIFAR-10 CNN in Flax Linen, layer for layer as the PyTorch original.

Layout is NHWC (Flax's); PyTorch's NCHW weights map onto these variables one to one
(see ``hw4jax.pytorch.interop``). Module names follow the PyTorch model's layers:

  conv1 bn1 relu | conv2 relu | pool          32 -> 16
  conv3 bn2 relu | conv4 relu (pad 2) | pool  16 -> 18 -> 9
  dropout
  conv5 bn3 relu (pad 2) | conv6 relu (pad 2) | pool   9 -> 11 -> 13 -> 6
  dropout | flatten | fc1 relu | fc2 relu | dropout | fc3

The flatten before fc1 is in Flax's (H, W, C) order; importing PyTorch weights permutes
fc1's rows from PyTorch's (C, H, W) order.

PyTorch-parity choices, each deliberate:
  * explicit symmetric paddings, never 'SAME';
  * 2x2 max pooling with stride 2 (Flax's stride defaults to 1, PyTorch's to the kernel);
  * ``BatchNorm`` below updates the running variance with the *unbiased* batch variance,
    as torch.nn.BatchNorm2d does (flax.linen.BatchNorm uses the biased one), with
    PyTorch's momentum 0.1 (Flax convention: keep 0.9 of the old value) and eps 1e-5;
  * weights and biases start from PyTorch's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    so that training from scratch behaves like the PyTorch recipe.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from hw4jax.cnn.conv import Conv

NUM_CLASSES = 10

# (name, out_channels, padding) of the six 3x3 convolutions, in order.
CONV_LAYERS = (
    ("conv1", 6, 1),
    ("conv2", 10, 1),
    ("conv3", 20, 1),
    ("conv4", 40, 2),
    ("conv5", 80, 2),
    ("conv6", 160, 2),
)
# (name, out_features) of the three linear layers.
DENSE_LAYERS = (("fc1", 1024), ("fc2", 128), ("fc3", NUM_CLASSES))
BATCH_NORMS = (("bn1", 6), ("bn2", 20), ("bn3", 80))

# torch.nn.BatchNorm2d(momentum=0.1) keeps 0.9 of the old running statistic.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


# PyTorch's default Conv2d/Linear weight init: kaiming_uniform(a=sqrt(5)), which is
# U(-b, b) with b = 1/sqrt(fan_in), i.e. variance_scaling(1/3, fan_in, uniform).
torch_default_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def torch_default_bias_init(fan_in: int) -> nn.initializers.Initializer:
    """PyTorch's default bias init for a layer with ``fan_in`` inputs: U(-1/sqrt(fan_in), ...)."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class BatchNorm(nn.Module):
    """torch.nn.BatchNorm2d over the last (channel) axis of an NHWC input.

    Variables match flax.linen.BatchNorm's names: params ``scale``, ``bias``;
    batch_stats ``mean``, ``var``. In training the input is normalized with the biased
    batch variance and the running variance is updated with the unbiased one
    (n / (n - 1), n = elements per channel), exactly as PyTorch does. Mean and variance
    are computed in two passes (mean, then mean of squared deviations) for accuracy.
    """

    use_running_average: bool
    momentum: float = BN_MOMENTUM
    epsilon: float = BN_EPSILON

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        features = x.shape[-1]
        dtype = x.dtype
        scale = self.param("scale", nn.initializers.ones, (features,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (features,), jnp.float32)
        ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((features,), jnp.float32))
        ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((features,), jnp.float32))
        if self.use_running_average:
            mean, var = ra_mean.value.astype(dtype), ra_var.value.astype(dtype)
        else:
            axes = tuple(range(x.ndim - 1))
            mean = jnp.mean(x, axis=axes)
            var = jnp.mean(jnp.square(x - mean), axis=axes)
            if not self.is_initializing():
                n = math.prod(x.shape[:-1])
                unbiased = var * (n / max(n - 1, 1))
                m = self.momentum
                ra_mean.value = (m * ra_mean.value + (1 - m) * mean).astype(ra_mean.value.dtype)
                ra_var.value = (m * ra_var.value + (1 - m) * unbiased).astype(ra_var.value.dtype)
        inv = jax.lax.rsqrt(var + self.epsilon) * scale.astype(dtype)
        return (x - mean) * inv + bias.astype(dtype)


def pool_windows(x: jax.Array) -> jax.Array:
    """The 2x2 stride-2 windows of an NHWC map: [N, H, W, C] -> [N, H//2, 2, W//2, 2, C]
    (odd trailing rows and columns dropped, as PyTorch's floor mode does)."""
    n, h, w, c = x.shape
    return x[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c)


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """nn.MaxPool2d(2): 2x2 window, stride 2, no padding (floor), NHWC.

    Written as a max over a reshape instead of ``nn.max_pool`` (a reduce_window): the same
    values, and XLA's CPU gradient of a reduce over a reshape is a compare and a select,
    where reduce_window's select_and_scatter made the whole train step slower. The
    gradients agree with PyTorch's wherever a window's maximum is unique; on ties JAX shares
    the gradient among the tied inputs where PyTorch gives it to the first (row-major).
    Every pool here follows a ReLU, so tied zeros (the common case) get no gradient either
    way; ties among positive values need two equal activations, which float32 rounding
    makes of two values closer than an ulp.
    """
    return pool_windows(x).max(axis=(2, 4))


class ReLU(nn.Module):
    """``nn.relu`` as a (parameter-free) module, so that its decisions can be seen and
    pinned with ``flax.linen.intercept_methods`` (``hw4jax.pytorch.parity`` does)."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return nn.relu(x)


class MaxPool2x2(nn.Module):
    """``max_pool_2x2`` as a (parameter-free) module, for the same reason as ``ReLU``."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        return max_pool_2x2(x)


class CNN(nn.Module):
    """The homework's CIFAR-10 CNN.

    Input: float [N, 32, 32, 3] normalized images (NHWC). Output: float [N, 10] logits.
    ``train`` switches BatchNorm to batch statistics (mutable 'batch_stats') and turns
    dropout on (needs a 'dropout' RNG).
    """

    num_classes: int = NUM_CLASSES
    dropout_rate: float = 0.1
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        def conv(index: int, inputs: jax.Array) -> jax.Array:
            name, features, pad = CONV_LAYERS[index]
            fan_in = inputs.shape[-1] * 9
            # hw4jax.cnn.conv.Conv is nn.Conv (same variables, init and function) with gradients
            # that are fast on CPU (XLA's own are slow there for these layers).
            return Conv(
                features,
                (3, 3),
                padding=((pad, pad), (pad, pad)),
                name=name,
                kernel_init=torch_default_kernel_init,
                bias_init=torch_default_bias_init(fan_in),
                param_dtype=self.param_dtype,
            )(inputs)

        def dense(index: int, inputs: jax.Array) -> jax.Array:
            name, features = DENSE_LAYERS[index]
            return nn.Dense(
                features,
                name=name,
                kernel_init=torch_default_kernel_init,
                bias_init=torch_default_bias_init(inputs.shape[-1]),
                param_dtype=self.param_dtype,
            )(inputs)

        batch_norm = functools.partial(BatchNorm, use_running_average=not train)
        dropout = functools.partial(nn.Dropout, rate=self.dropout_rate, deterministic=not train)

        x = ReLU(name="relu1")(batch_norm(name="bn1")(conv(0, x)))
        x = ReLU(name="relu2")(conv(1, x))
        x = MaxPool2x2(name="pool1")(x)
        x = ReLU(name="relu3")(batch_norm(name="bn2")(conv(2, x)))
        x = ReLU(name="relu4")(conv(3, x))
        x = MaxPool2x2(name="pool2")(x)
        x = dropout()(x)
        x = ReLU(name="relu5")(batch_norm(name="bn3")(conv(4, x)))
        x = ReLU(name="relu6")(conv(5, x))
        x = MaxPool2x2(name="pool3")(x)
        x = dropout()(x)
        x = x.reshape((x.shape[0], -1))
        x = ReLU(name="relu7")(dense(0, x))
        x = ReLU(name="relu8")(dense(1, x))
        x = dropout()(x)
        return dense(2, x)
