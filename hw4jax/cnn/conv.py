"""Stride-1 2-D convolutions with gradients written as matrix multiplies, for fast CPU training.

XLA's CPU backend runs the model's forward convolutions well (YNNPACK), but the weight
gradient it derives for a convolution padded beyond 'same' (the model's conv4..conv6:
3x3, padding 2) leaves the fast path: an order of magnitude slower than the one GEMM it
is, which made a plain ``flax.linen.Conv`` CNN train several times slower than PyTorch.
A stride-1 convolution is a matrix multiply in disguise:

  y[n, h, w, :] = patches(x)[n, h, w, :] @ kernel.reshape(kh * kw * C, O) + bias

where ``patches`` gathers each output pixel's (kh, kw, C) input window (im2col). Its
gradients are matrix multiplies too, written here by hand (``jax.custom_vjp``):

  d kernel[i, j] = window(i, j) of x, transposed, @ dy     one GEMM per tap, [C, O]
  d x      = col2im(dy @ kernel^T)                          GEMM, then shifted adds, or
           = patches(dy padded by k-1-p) @ flip(kernel)^T   ("transposed conv" form)

Methods (``conv2d(method=...)``):
  'xla'      lax.conv_general_dilated and XLA's derived gradients;
  'hybrid'   XLA's forward, the weight gradient per tap as above and the input gradient
             by col2im (faster than XLA's derived gradients on CPU);
  'patches'  im2col + GEMM for the forward too (slower than XLA's forward; kept as the
             reference form of the GEMM view);
  'auto'     ``choose_method``: 'hybrid' on CPU, 'xla' elsewhere.
The backward pass of 'hybrid' and 'patches' runs over blocks of ``batch_chunk`` images (32
by default), so that each block's temporaries stay in cache. The inputs are kept for it,
not the patches: copying windows is cheap next to the multiply, and it keeps the training
step's memory at the size of the activations.

The forward is not blocked: blocks made the convolutions alone slower in evaluation (the
whole model in blocks is faster: see ``hw4jax.training.steps.make_eval_step``). The
README's Performance section has the measured figures and the command that gives them.

Every method computes exactly the function of ``jax.lax.conv_general_dilated`` with stride
1, no dilation, NHWC input, HWIO kernel and explicit padding (tests/test_conv.py checks
values and gradients in float64 to 1e-12 and float32 to 1e-5, and against torch's conv2d).

``Conv`` is a drop-in for ``flax.linen.Conv`` restricted to that case: same variable names
(``kernel`` HWIO, ``bias``), same shapes, same initializer arguments.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from hw4jax.cnn.blocks import map_batch_blocks

Padding = tuple[tuple[int, int], tuple[int, int]]

# How the input gradient is computed; see the module docstring.
INPUT_GRAD_METHODS = ("col2im", "transpose", "xla")
METHODS = ("auto", "xla", "hybrid", "patches")
# Images per block in the hand-written backward pass: the fastest of the sizes measured on
# the model's train step (16, 32, 64 and unblocked, at batch 64-256).
BATCH_CHUNK = 32


def choose_method(platform: str) -> str:
    """The ``conv2d`` method 'auto' uses on ``platform`` ('cpu', 'gpu', 'tpu', ...).

    On CPU, 'hybrid' for every layer: XLA's derived weight gradient leaves its fast path for
    padding beyond 'same' (the model's conv4..conv6), and XLA's input gradient of the
    small-channel conv2 is slower than col2im; for conv1 and conv3 the two are equal
    within the noise. Elsewhere, XLA's own
    convolutions (cuDNN on GPUs), whose gradients are fast there.
    """
    return "hybrid" if platform == "cpu" else "xla"


def _as_padding(padding: int | Sequence[Sequence[int]]) -> Padding:
    """Normalizes an int or ((top, bottom), (left, right)) to the pair-of-pairs form."""
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    (pt, pb), (pl, pr) = padding
    return ((int(pt), int(pb)), (int(pl), int(pr)))


def extract_patches(x: jax.Array, kernel_size: tuple[int, int], padding: Padding) -> jax.Array:
    """im2col for a stride-1 window: float [N, H, W, C] -> [N, Ho, Wo, kh * kw * C].

    The last axis is ordered (kh, kw, C), which is the row order of an HWIO kernel
    reshaped to [kh * kw * C, O]. Negative padding crops, as in ``lax.pad``.
    """
    kh, kw = kernel_size
    (pt, pb), (pl, pr) = padding
    xp = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (pt, pb, 0), (pl, pr, 0), (0, 0, 0)))
    ho = xp.shape[1] - kh + 1
    wo = xp.shape[2] - kw + 1
    # Window offsets in (row, column) order, each a [N, Ho, Wo, C] block: (kh, kw, C) rows.
    return jnp.concatenate(
        [xp[:, i : i + ho, j : j + wo, :] for i in range(kh) for j in range(kw)], axis=-1
    )


def _matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    """[..., K] @ [K, O] as one 2-D GEMM (XLA's CPU dot is fastest on rank-2 operands)."""
    out = jnp.dot(a.reshape(-1, a.shape[-1]), b, precision=lax.Precision.HIGHEST)
    return out.reshape(*a.shape[:-1], b.shape[-1])


def _conv_forward(x, kernel, padding):
    kh, kw, c, o = kernel.shape
    return _matmul(extract_patches(x, (kh, kw), padding), kernel.reshape(kh * kw * c, o))


def _input_grad_transpose(dy, kernel, padding, x_shape):
    """dx as a stride-1 convolution of dy with the flipped, in/out-swapped kernel."""
    kh, kw, c, o = kernel.shape
    (pt, pb), (pl, pr) = padding
    # Output pixel (h, w) saw padded-input rows h .. h+kh-1; padding dy by k-1-p on each
    # side lines every input pixel up with the kh x kw outputs that saw it.
    h, w = x_shape[1], x_shape[2]
    ho, wo = dy.shape[1], dy.shape[2]
    pad_t, pad_l = kh - 1 - pt, kw - 1 - pl
    pad_b = h - (ho + pad_t - kh + 1)
    pad_r = w - (wo + pad_l - kw + 1)
    flipped = jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2).reshape(kh * kw * o, c)
    patches = extract_patches(dy, (kh, kw), ((pad_t, pad_b), (pad_l, pad_r)))
    return _matmul(patches, flipped)


def _input_grad_col2im(dy, kernel, padding, x_shape):
    """dx as dy @ kernel^T, each window's share added back where it came from (col2im)."""
    kh, kw, c, o = kernel.shape
    (pt, pb), (pl, pr) = padding
    n, h, w, _ = x_shape
    ho, wo = dy.shape[1], dy.shape[2]
    dpatches = _matmul(dy, kernel.reshape(kh * kw * c, o).T).reshape(n, ho, wo, kh, kw, c)
    hp, wp = h + pt + pb, w + pl + pr
    zero = jnp.zeros((), dy.dtype)
    dxp = None
    for i in range(kh):
        for j in range(kw):
            part = lax.pad(
                dpatches[:, :, :, i, j, :],
                zero,
                ((0, 0, 0), (i, hp - ho - i, 0), (j, wp - wo - j, 0), (0, 0, 0)),
            )
            dxp = part if dxp is None else dxp + part
    return lax.pad(dxp, zero, ((0, 0, 0), (-pt, -pb, 0), (-pl, -pr, 0), (0, 0, 0)))


def _xla_conv(x, kernel, padding):
    return lax.conv_general_dilated(
        x,
        kernel,
        (1, 1),
        padding,
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=lax.Precision.HIGHEST,
    )


def _kernel_grad(x, dy, kernel_shape, padding):
    """d kernel[i, j] = window(i, j) of x, transposed, @ dy: one GEMM per tap (kh * kw).

    Each tap contracts over every output pixel. Slicing the tap's window out of the padded
    input copies contiguous runs of W * C floats; building the full patch matrix instead
    interleaves C-float runs, which measured slower.
    """
    kh, kw, c, o = kernel_shape
    (pt, pb), (pl, pr) = padding
    xp = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (pt, pb, 0), (pl, pr, 0), (0, 0, 0)))
    ho, wo = dy.shape[1], dy.shape[2]
    d = dy.reshape(-1, o)
    taps = [
        lax.dot_general(
            xp[:, i : i + ho, j : j + wo, :].reshape(-1, c),
            d,
            (((0,), (0,)), ((), ())),
            precision=lax.Precision.HIGHEST,
        )
        for i in range(kh)
        for j in range(kw)
    ]
    return jnp.stack(taps).reshape(kernel_shape)


def _input_grad(dy, kernel, padding, x_shape, method):
    if method == "col2im":
        return _input_grad_col2im(dy, kernel, padding, x_shape)
    if method == "transpose":
        return _input_grad_transpose(dy, kernel, padding, x_shape)
    # XLA's own input gradient: a convolution of dy with the flipped kernel.
    _, input_vjp = jax.vjp(lambda x: _xla_conv(x, kernel, padding), jnp.zeros(x_shape, dy.dtype))
    return input_vjp(dy)[0]


@functools.cache
def _make_conv(padding: Padding, forward: str, input_grad: str, chunk: int | None):
    """conv(x, kernel) with the hand-written VJP; ``forward`` is 'xla' or 'patches'."""

    def apply(x, kernel):
        if forward == "xla":
            return _xla_conv(x, kernel, padding)
        return _conv_forward(x, kernel, padding)

    @jax.custom_vjp
    def conv(x, kernel):
        return apply(x, kernel)

    def fwd(x, kernel):
        # Only the inputs are kept: the backward pass recomputes what it needs from them.
        return apply(x, kernel), (x, kernel)

    def bwd(res, dy):
        x, kernel = res

        def block(xb, dyb):
            dx = _input_grad(dyb, kernel, padding, xb.shape, input_grad)
            # The block's kernel gradient, with a leading axis for the per-block sum below.
            return dx, _kernel_grad(xb, dyb, kernel.shape, padding)[None]

        dx, dkernel = map_batch_blocks(block, chunk, x, dy)
        return dx, jnp.sum(dkernel, axis=0)

    conv.defvjp(fwd, bwd)
    return conv


def _check_conv2d_args(
    x: jax.Array, kernel: jax.Array, *, input_grad: str, batch_chunk: int | None
) -> None:
    """Raises ValueError for what ``conv2d`` cannot compute, naming the fix."""
    if x.ndim != 4 or kernel.ndim != 4:
        raise ValueError(
            f"conv2d needs x [N, H, W, C] and kernel [kh, kw, C, O]; got shapes "
            f"{x.shape} and {kernel.shape}"
        )
    if x.shape[-1] != kernel.shape[2]:
        raise ValueError(
            f"x has {x.shape[-1]} channels but the kernel expects {kernel.shape[2]}: "
            "the kernel must be HWIO"
        )
    if input_grad not in INPUT_GRAD_METHODS:
        raise ValueError(
            f"unknown input_grad {input_grad!r}: choose one of {', '.join(INPUT_GRAD_METHODS)}"
        )
    if batch_chunk is not None and (
        isinstance(batch_chunk, bool) or not isinstance(batch_chunk, int) or batch_chunk < 1
    ):
        raise ValueError(
            f"batch_chunk must be a positive number of images or None, got {batch_chunk!r}"
        )


def conv2d(
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None = None,
    *,
    padding: int | Sequence[Sequence[int]] = 0,
    method: str = "auto",
    input_grad: str = "col2im",
    batch_chunk: int | None = BATCH_CHUNK,
) -> jax.Array:
    """Stride-1, undilated 2-D convolution (cross-correlation, like PyTorch and XLA).

    Args:
      x: float [N, H, W, C] (NHWC).
      kernel: float [kh, kw, C, O] (HWIO), same dtype as ``x``.
      bias: optional float [O], added to every output pixel.
      padding: zeros added on each side, an int or ((top, bottom), (left, right)).
      method: 'auto' (``choose_method`` for the default backend: the fastest measured),
        'xla' (``lax.conv_general_dilated`` and its derived gradients), 'hybrid' (XLA's
        forward, hand-written gradients) or 'patches' (im2col + GEMM forward and
        hand-written gradients).
      input_grad: how 'hybrid' and 'patches' compute the input gradient: 'col2im'
        (fastest measured), 'transpose' or 'xla' (XLA's derived one).
      batch_chunk: images per block in the backward pass of 'hybrid' and 'patches' (a
        positive int), or None for the whole batch at once. It changes only the order in
        which the kernel gradient's terms are summed.

    Returns:
      float [N, H + top + bottom - kh + 1, W + left + right - kw + 1, O].

    Raises:
      ValueError: shapes that do not fit together, or an unknown method.
    """
    _check_conv2d_args(x, kernel, input_grad=input_grad, batch_chunk=batch_chunk)
    pad = _as_padding(padding)
    if method == "auto":
        method = choose_method(jax.default_backend())
    if method == "xla":
        y = _xla_conv(x, kernel, pad)
    elif method == "hybrid":
        y = _make_conv(pad, "xla", input_grad, batch_chunk)(x, kernel)
    elif method == "patches":
        y = _make_conv(pad, "patches", input_grad, batch_chunk)(x, kernel)
    else:
        raise ValueError(f"unknown conv2d method {method!r}: choose one of {', '.join(METHODS)}")
    if bias is not None:
        y = y + bias.astype(y.dtype)
    return y


class Conv(nn.Module):
    """flax.linen.Conv for stride 1, no dilation, explicit padding; computed by ``conv2d``.

    Variables: ``kernel`` [kh, kw, C, features] (HWIO) and ``bias`` [features], created with
    ``kernel_init`` and ``bias_init`` exactly as flax.linen.Conv creates them.
    """

    features: int
    kernel_size: tuple[int, int]
    padding: Any = 0
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    bias_init: nn.initializers.Initializer = nn.initializers.zeros
    param_dtype: Any = jnp.float32
    method: str = "auto"
    input_grad: str = "col2im"
    batch_chunk: int | None = BATCH_CHUNK

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kh, kw = self.kernel_size
        kernel = self.param(
            "kernel", self.kernel_init, (kh, kw, x.shape[-1], self.features), self.param_dtype
        )
        bias = (
            self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias
            else None
        )
        dtype = jnp.result_type(x, kernel)
        return conv2d(
            x.astype(dtype),
            kernel.astype(dtype),
            None if bias is None else bias.astype(dtype),
            padding=self.padding,
            method=self.method,
            input_grad=self.input_grad,
            batch_chunk=self.batch_chunk,
        )
