"""Prototypes of train-step levers that were measured (``scripts/bench_levers.py``) and not
adopted: each is a context manager that swaps one piece of ``hw4jax.cnn.model`` while a
variant's step is traced. Benchmark code only; the library never imports it.

  fused_bn     BatchNorm's training branch with a hand-written backward (the textbook
               formula PyTorch's native_batch_norm_backward uses) instead of XLA's derived one.
  fused_all    BatchNorm + ReLU as one custom-VJP function (conv1, conv3, conv5) and ReLU +
               2x2 max-pool as another (conv2, conv4, conv6). The ReLU modules relu1..relu6
               become identities, which the parity tools' branch recording cannot follow.
  fused_pool   only ReLU + max-pool fused (routing as JAX's gradient of a max: shared on ties).
  pool_vjp     the max-pool alone with that hand-written backward (the ReLU modules stay).
  hash_dropout dropout masks from a counter-based hash (murmur3's fmix32 over iota, keyed by
               the dropout key's two words): one 32-bit hash per element, fused into the
               multiply, instead of threefry; another random stream than hw4jax's.
  rbg_dropout  dropout masks from the 'unsafe_rbg' PRNG (XLA's RngBitGenerator).
  patches123   conv1..conv3 forward as im2col + one GEMM (``conv2d(method='patches')``):
               the small-channel convolutions' taps batched into one matrix multiply.
"""

from __future__ import annotations

import contextlib
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from hw4jax.cnn import model as cnn_model


@contextlib.contextmanager
def _swapped(obj, **attrs):
    """Sets ``obj``'s attributes for the block, then restores them."""
    old = {name: getattr(obj, name) for name in attrs}
    for name, value in attrs.items():
        setattr(obj, name, value)
    try:
        yield
    finally:
        for name, value in old.items():
            setattr(obj, name, value)


def _stats(x):
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axis=axes)
    return mean, jnp.mean(jnp.square(x - mean), axis=axes)


def _bn_backward(x, mean, var, scale, dy):
    """(dx, dscale, dbias) of y = (x - mean) * rsqrt(var + eps) * scale + bias with batch
    statistics: dx = scale * rstd / m * (m * dy - sum(dy) - xhat * sum(dy * xhat))."""
    axes = tuple(range(x.ndim - 1))
    m = math.prod(x.shape[:-1])
    rstd = jax.lax.rsqrt(var + cnn_model.BN_EPSILON)
    xhat = (x - mean) * rstd
    dbias = jnp.sum(dy, axis=axes)
    dscale = jnp.sum(dy * xhat, axis=axes)
    return (scale * rstd / m) * (m * dy - dbias - xhat * dscale), dscale, dbias


def _normalize(x, mean, var, scale, bias):
    return (x - mean) * (jax.lax.rsqrt(var + cnn_model.BN_EPSILON) * scale) + bias


@jax.custom_vjp
def batch_norm_train(x, scale, bias):
    """float [..., C] -> (normalized [..., C], batch mean [C], biased batch variance [C])."""
    mean, var = _stats(x)
    return _normalize(x, mean, var, scale, bias), mean, var


def _bn_fwd(x, scale, bias):
    out = batch_norm_train(x, scale, bias)
    return out, (x, out[1], out[2], scale)


def _bn_bwd(res, cts):
    x, mean, var, scale = res
    return _bn_backward(x, mean, var, scale, cts[0])


batch_norm_train.defvjp(_bn_fwd, _bn_bwd)


@jax.custom_vjp
def batch_norm_relu_train(x, scale, bias):
    """relu(batch_norm_train(x)) with the batch mean and variance, one backward for both."""
    mean, var = _stats(x)
    return jax.nn.relu(_normalize(x, mean, var, scale, bias)), mean, var


def _bnr_fwd(x, scale, bias):
    out = batch_norm_relu_train(x, scale, bias)
    return out, (x, out[0], out[1], out[2], scale)


def _bnr_bwd(res, cts):
    x, y, mean, var, scale = res
    return _bn_backward(x, mean, var, scale, jnp.where(y > 0, cts[0], 0))


batch_norm_relu_train.defvjp(_bnr_fwd, _bnr_bwd)


def _pool(x):
    return cnn_model.pool_windows(x).max(axis=(2, 4))  # max_pool_2x2, which pool_vjp swaps


def _pool_backward(x, y, dy, *, positive_only: bool):
    """dx of the 2x2 max-pool y of x: each window's dy to its maxima, shared on ties (as
    JAX's gradient of a max); ``positive_only``: only to positive maxima (a ReLU before)."""
    windows = cnn_model.pool_windows(x)
    hit = windows == y[:, :, None, :, None, :]
    if positive_only:
        hit = hit & (windows > 0)
    ties = jnp.maximum(jnp.sum(hit, axis=(2, 4), keepdims=True), 1).astype(dy.dtype)
    g = jnp.where(hit, dy[:, :, None, :, None, :] / ties, 0)
    n, h, w, c = x.shape
    g = g.reshape(n, h // 2 * 2, w // 2 * 2, c)
    return (jnp.pad(g, ((0, 0), (0, h - g.shape[1]), (0, w - g.shape[2]), (0, 0))),)


def _with_pool_backward(forward, *, positive_only: bool):
    """``forward`` (a 2x2 max-pool, maybe after a ReLU) with ``_pool_backward`` as its VJP."""
    fn = jax.custom_vjp(forward)

    def fwd(x):
        y = fn(x)
        return y, (x, y)

    def bwd(res, dy):
        return _pool_backward(*res, dy, positive_only=positive_only)

    fn.defvjp(fwd, bwd)
    return fn


# max_pool_2x2(relu(x)) and max_pool_2x2(x), float [N, H, W, C] -> [N, H // 2, W // 2, C].
relu_max_pool = _with_pool_backward(lambda x: _pool(jax.nn.relu(x)), positive_only=True)
max_pool = _with_pool_backward(_pool, positive_only=False)


def _batch_norm_class(train_fn):
    """hw4jax's BatchNorm (same variables and running-statistics update) computing the
    training branch with ``train_fn``; the running-average branch has no ReLU of its own,
    so a fused ``train_fn`` gets its ReLU there too."""
    fused_relu = train_fn is batch_norm_relu_train

    class BatchNorm(cnn_model.BatchNorm):
        @nn.compact
        def __call__(self, x):
            c = x.shape[-1]
            scale = self.param("scale", nn.initializers.ones, (c,), jnp.float32)
            bias = self.param("bias", nn.initializers.zeros, (c,), jnp.float32)
            ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((c,), jnp.float32))
            ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((c,), jnp.float32))
            if self.use_running_average:
                y = _normalize(x, ra_mean.value, ra_var.value, scale, bias)
                return jax.nn.relu(y) if fused_relu else y
            y, mean, var = train_fn(x, scale.astype(x.dtype), bias.astype(x.dtype))
            if not self.is_initializing():
                n = math.prod(x.shape[:-1])
                m = self.momentum
                unbiased = var * (n / max(n - 1, 1))
                ra_mean.value = (m * ra_mean.value + (1 - m) * mean).astype(jnp.float32)
                ra_var.value = (m * ra_var.value + (1 - m) * unbiased).astype(jnp.float32)
            return y

    return BatchNorm


def _relu_class(skip):
    class ReLU(cnn_model.ReLU):
        @nn.compact
        def __call__(self, x):
            return x if self.name in skip else jax.nn.relu(x)

    return ReLU


class _ReluMaxPool(cnn_model.MaxPool2x2):
    @nn.compact
    def __call__(self, x):
        return relu_max_pool(x)


def fused_bn():
    return _swapped(cnn_model, BatchNorm=_batch_norm_class(batch_norm_train))


def fused_pool():
    return _swapped(
        cnn_model, ReLU=_relu_class({"relu2", "relu4", "relu6"}), MaxPool2x2=_ReluMaxPool
    )


def pool_vjp():
    return _swapped(cnn_model, max_pool_2x2=max_pool)


def fused_all():
    return _swapped(
        cnn_model,
        BatchNorm=_batch_norm_class(batch_norm_relu_train),
        ReLU=_relu_class({f"relu{i}" for i in range(1, 7)}),
        MaxPool2x2=_ReluMaxPool,
    )


def _fmix32(h):
    """murmur3's 32-bit finalizer: a bijection of uint32 that mixes every bit."""
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


class HashDropout(nn.Module):
    """nn.Dropout's interface; keep iff hash(element index, key) >= rate * 2^32."""

    rate: float
    deterministic: bool = False

    @nn.compact
    def __call__(self, x):
        if self.deterministic or self.rate == 0:
            return x
        k = jax.random.key_data(self.make_rng("dropout"))
        index = jax.lax.iota(jnp.uint32, x.size).reshape(x.shape)
        h = _fmix32(_fmix32(index * jnp.uint32(0x9E3779B9) + k[0]) ^ k[1])
        keep = h >= jnp.uint32(int(self.rate * 2**32))
        return jnp.where(keep, x / (1 - self.rate), 0)


def hash_dropout():
    return _swapped(cnn_model.nn, Dropout=HashDropout)


def rbg_dropout():
    """The step's dropout key built with the 'unsafe_rbg' implementation (4 words: the
    state's 2 twice) instead of threefry."""
    wrap = jax.random.wrap_key_data

    def rbg(data, impl=None):
        return wrap(jnp.concatenate([data, data]), impl="unsafe_rbg")

    return _swapped(jax.random, wrap_key_data=rbg)


def patches123():
    conv = cnn_model.Conv

    def small_as_gemm(features, *args, name=None, **kwargs):
        if name in ("conv1", "conv2", "conv3"):
            kwargs["method"] = "patches"
        return conv(features, *args, name=name, **kwargs)

    return _swapped(cnn_model, Conv=small_as_gemm)


PROTOTYPES = {
    "fused_bn": fused_bn,
    "fused_all": fused_all,
    "fused_pool": fused_pool,
    "pool_vjp": pool_vjp,
    "hash_dropout": hash_dropout,
    "rbg_dropout": rbg_dropout,
    "patches123": patches123,
}
