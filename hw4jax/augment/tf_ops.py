"""torchvision-exact CIFAR-10 training augmentation, as TensorFlow ops for tf.data.

The TensorFlow backend of ``hw4jax.augment.spec`` (``jax_ops`` is the JAX one; both give
the same pixels). The homework's train transform (torchvision 0.29 on PIL images)::

    RandomHorizontalFlip() -> RandomRotation(10) -> RandomAffine(0, shear=10, scale=(0.8, 1.2))
    -> ColorJitter(0.2, 0.2, 0.2) -> ToTensor() -> Normalize((0.5,) * 3, (0.5,) * 3)

is rebuilt here so that, given the same random parameters, every op returns the same
uint8 pixels as Pillow does (see /work/shared/spec/augmentation.md for the derivation):

* the warps reproduce Pillow's NEAREST affine sampling with Pillow's own arithmetic
  (``spec``'s matrices evaluated in float64): the 16.16 fixed-point path and, for
  matrices without off-diagonal terms, its separate "scale" path; each warp is a map
  from output to source pixels, and the chain's flip, rotation and affine compose into
  one map and one gather (the rotation's formula evaluated at the affine's source pixels);
* the colour ops are Pillow's ``Image.blend`` in float32 with truncation, against black
  (brightness), the rounded mean of Pillow's integer grayscale (contrast) or that
  grayscale itself (saturation); every op returns uint8, as each PIL step does.

Each op is a pure function of the image and explicit parameters, and works on one image
``[H, W, 3]`` or a batch ``[B, H, W, 3]`` (parameters then carry the leading ``[B]``);
in tf.data, mapping the ops over a batch (after ``.batch()``) costs several times less
CPU than mapping them per image. ``apply_params_normalized`` fuses the chain with ToTensor
and Normalize (the same floats, without the uint8 round trip): what the training pipeline
runs.
``sample_params_from_uniforms`` turns uniforms into parameters with the distributions of
torchvision's ``get_params`` (``spec.params_from_uniforms``; torch's random stream itself
cannot be reproduced, only its distributions); ``sample_params`` draws them from a
stateless seed. ``random_augment`` = ``apply_params`` of ``sample_params``;
``random_augment_batch`` does the same for a batch of per-image seeds and returns exactly
what ``random_augment`` returns image by image.

Speed, on TensorFlow's CPU kernels: one gather per image of packed pixels, colour ops on
separate R, G, B planes, float arithmetic instead of integer shifts and comparisons (each
choice is explained where it is made).

Nothing here touches TensorFlow's device configuration: the input pipeline decides
where TensorFlow runs. Do not wrap these ops in XLA (``jit_compile``): a fused
multiply-add changes the float32 blends.
"""

from __future__ import annotations

import math

import tensorflow as tf

from hw4jax.augment import spec
from hw4jax.augment.spec import (  # noqa: F401  (re-exported: the shared specification)
    BRIGHTNESS,
    CONTRAST,
    JITTER_ORDERS,
    NUM_UNIFORMS,
    SATURATION,
    AugmentConfig,
    AugmentParams,
    jitter_order_index,
)

# Nothing here branches on tensor values in Python, so AutoGraph (which tf.data and
# tf.function apply to what they call) would change nothing but costs seconds of tracing.
_no_autograph = tf.autograph.experimental.do_not_convert

# ----------------------------------------------------------------------------- helpers


def _check_image(image: tf.Tensor) -> tf.Tensor:
    image = tf.convert_to_tensor(image)
    if image.dtype != tf.uint8:
        raise ValueError(f"images must be uint8 (as PIL holds them), got {image.dtype.name}")
    if image.shape.rank is not None and (image.shape.rank < 3 or image.shape[-1] not in (3, None)):
        raise ValueError(f"images must be [..., H, W, 3] RGB, got shape {image.shape}")
    return image


def _as_batch(image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """[..., H, W, C] -> ([B, H, W, C], the leading shape [...])."""
    shape = tf.shape(image)
    return tf.reshape(image, tf.concat([[-1], shape[-3:]], 0)), shape[:-3]


def _param(value, leading: tf.Tensor, dtype) -> tf.Tensor:
    """A per-image parameter broadcast to the leading shape and flattened to [B]."""
    return tf.reshape(tf.broadcast_to(tf.cast(value, dtype), leading), [-1])


# ----------------------------------------------------------------------------- warps
#
# Every geometric op here is nearest-neighbour: an output pixel is one input pixel or 0.
# So a warp is held as its *source map*, int32 [B, H*W]: for each output pixel (row-major)
# the flat index y*W + x of the input pixel it copies, or H*W for "outside" (0). Maps are
# computed with Pillow's own arithmetic, chained warps compose by indexing one map with
# the next (exactly what two resamplings in a row do), and the pixels move in one gather.
# (ImageProjectiveTransformV3 on a zero-padded image with the +0.5 offsets of the spec is
# also exact, but costs about four times as much as these integer maps and the gather.)


def _flat_source(row: tf.Tensor, col: tf.Tensor, height, width) -> tf.Tensor:
    """Source pixel rows and columns (int64, broadcastable to [B, H, W]) -> source map."""
    # One unsigned comparison per axis checks 0 <= v < size (negatives wrap to huge).
    inside = (tf.cast(col, tf.uint64) < tf.cast(width, tf.uint64)) & (
        tf.cast(row, tf.uint64) < tf.cast(height, tf.uint64)
    )
    flat = tf.where(inside, row * tf.cast(width, tf.int64) + col, tf.cast(height * width, tf.int64))
    return tf.reshape(tf.cast(flat, tf.int32), [tf.shape(flat)[0], -1])


def _fixed_point_source(matrix: tf.Tensor, flip: tf.Tensor, height, width) -> tf.Tensor:
    """Pillow's general NEAREST affine path (``affine_fixed`` in Geometry.c): 16.16 fixed
    point with FIX(v) = floor(v * 65536 + 0.5), the pixel centre folded into the offsets,
    source = (A2 + x A0 + y A1) >> 16, (A5 + x A3 + y A4) >> 16.

    Args:
      matrix: float64 [B, 6], Pillow's inverse matrix (a, b, c, d, e, f).
      flip: bool [B], mirror the *input* left-right first (a flip before this warp).

    Returns:
      int32 [B, H*W] source map.
    """
    coefficients = tf.cast(_fixed_point_coefficients(matrix, flip, width), tf.int64)
    coefficients = [v[:, None, None] for v in tf.unstack(coefficients, num=6, axis=-1)]
    x = tf.range(width, dtype=tf.int64)[None, None, :]
    y = tf.range(height, dtype=tf.int64)[None, :, None]
    col, row = spec.fixed_point_source(
        coefficients, x, y, lambda v: tf.bitwise.right_shift(v, 16)
    )  # arithmetic: floor
    return _flat_source(row, col, height, width)


def _scale_source(matrix: tf.Tensor, flip: tf.Tensor, height, width) -> tf.Tensor:
    """Pillow's NEAREST path for matrices with b = d = 0 (``ImagingScaleAffine``): per
    axis the source coordinate starts at c + a/2 and grows by a, accumulated in float64
    one pixel at a time; COORD(v) = -1 if v < 0 else (int)v.

    Args:
      matrix: float64 [B, 6].
      flip: bool [B], mirror the input left-right first.

    Returns:
      int32 [B, H*W] source map.
    """
    m = tf.unstack(matrix, num=6, axis=-1)
    a, e = m[0], m[4]
    x0, y0 = spec.scale_path_start(m)

    def coordinates(start, step, size):
        # cumsum adds sequentially along the axis: Pillow's running `xo += a[0]`.
        steps = tf.concat([start[:, None], tf.tile(step[:, None], [1, size - 1])], axis=1)
        coord = tf.cumsum(steps, axis=1)
        return tf.where(coord < 0.0, tf.constant(-1, tf.int64), tf.cast(coord, tf.int64))

    col = coordinates(x0, a, width)
    inside = (col >= 0) & (col < tf.cast(width, tf.int64))
    col = tf.where(flip[:, None] & inside, tf.cast(width, tf.int64) - 1 - col, col)
    row = coordinates(y0, e, height)
    return _flat_source(row[:, :, None], col[:, None, :], height, width)


def _affine_source(matrix: tf.Tensor, height, width, flip=None) -> tf.Tensor:
    """Pillow's ``Image.transform(size, AFFINE, matrix, NEAREST)`` as a source map: the
    scale path where b == d == 0 (as Pillow decides per image), else fixed point.

    Args:
      matrix: float64 [B, 6].
      flip: optional bool [B]: a left-right flip before the warp, folded into it.
    """
    _, b, _, d, _, _ = tf.unstack(matrix, num=6, axis=-1)
    is_scale = (b == 0.0) & (d == 0.0)
    if flip is None:
        flip = tf.zeros_like(is_scale)

    def scale():
        return _scale_source(matrix, flip, height, width)

    def fixed():
        return _fixed_point_source(matrix, flip, height, width)

    def mixed():
        where = tf.broadcast_to(is_scale[:, None], [tf.shape(matrix)[0], height * width])
        return tf.where(where, scale(), fixed())

    # Usually a batch needs only one path (random shears are never exactly 0): skip the other.
    return tf.cond(
        tf.reduce_all(is_scale), scale, lambda: tf.cond(tf.reduce_any(is_scale), mixed, fixed)
    )


def _fix(v: tf.Tensor) -> tf.Tensor:
    """Pillow's FIX, float64 -> int64."""
    return tf.cast(spec.fix(v, tf.floor), tf.int64)


def _fixed_point_coefficients(matrix: tf.Tensor, flip, width) -> tf.Tensor:
    """Pillow's fixed-point coefficients (A0, A1, A2, A3, A4, A5) as float64 [B, 6] holding
    integers (below 2^31 where Pillow uses them), with an optional left-right flip of
    the input (bool [B]) folded in."""
    a0, a1, a2, a3, a4, a5 = (
        _fix(v) for v in spec.fixed_point_arguments(tf.unstack(matrix, num=6, axis=-1))
    )
    if flip is not None:
        # The flip reads column W-1-col. For an integer X, W-1-(X >> 16) equals
        # (65536 W - 1 - X) >> 16 exactly, so the flip folds into the column's coefficients.
        sign = 1 - 2 * tf.cast(flip, tf.int64)
        a0, a1 = sign * a0, sign * a1
        a2 = tf.where(flip, 65536 * tf.cast(width, tf.int64) - 1 - a2, a2)
    return tf.cast(tf.stack([a0, a1, a2, a3, a4, a5], axis=-1), tf.float64)


def _padded_chain_source(
    rotation: tf.Tensor, flip: tf.Tensor, affine: tf.Tensor, height, width
) -> tf.Tensor:
    """Where each output pixel of flip -> rotation -> affine comes from, when Pillow takes
    its fixed-point path for both warps (b or d nonzero in both matrices).

    Indexes the input zero-padded by one pixel on each side, [(H + 2) * (W + 2)]: a pixel
    from outside reads the zero border. The affine's source (qy, qx) is computed on the
    output grid, and the rotation's fixed-point formula evaluated directly at it (no
    intermediate map, no gather). Everything is float64 holding integers below 2^31 (Pillow
    takes this path only while |coordinate| < 32768 at the corners, and its accumulators
    are C ints), so every operation is exact; float64 because TensorFlow's integer shifts
    and comparisons cost about ten times its float arithmetic on the CPU, and without
    broadcasting a size-1 axis other than the batch's, which costs as much again.

    Args:
      rotation, affine: float64 [B, 6], Pillow's inverse matrices.
      flip: bool [B], mirror the input left-right before the rotation.

    Returns:
      float64 [B, H * W], flat indices into the padded image, integers.
    """
    h, w = tf.cast(height, tf.float64), tf.cast(width, tf.float64)
    k = tf.range(tf.cast(height * width, tf.float64))
    y = tf.floor(k / w)
    grid = tf.stack([k - y * w, y, tf.ones_like(k)])  # [3, H*W]: x, y, 1
    f = _fixed_point_coefficients(affine, None, width)
    r = _fixed_point_coefficients(rotation, flip, width)
    unit = 1.0 / 65536.0  # >> 16 on integers = floor(v * 2^-16), exact in float64
    # The affine (the last warp) reads the rotated image at (qy, qx): spec's
    # fixed_point_source as one matrix product, exact on these integers (every partial
    # sum is an integer below 2^53).
    coefficients = tf.concat([tf.gather(f, [0, 1, 2], axis=1), tf.gather(f, [3, 4, 5], axis=1)], 0)
    q = tf.floor(tf.matmul(coefficients, grid) * unit)
    qx, qy = tf.split(q, 2, axis=0)
    # The rotation read the flipped image at (ry, rx).
    rx, ry = spec.fixed_point_source(
        tf.split(r, 6, axis=1), qx, qy, lambda v: tf.floor(v * unit)
    )  # [B, 1] coefficients
    # Clamping to [-1, size] sends what is outside to the zero border. A q outside the
    # rotated image must read 0 too: `off` >= 1 exactly then, and pushes rx out (|rx| <
    # 2^17: |q| < 2^16 where Pillow uses fixed point, and |cos|, |sin| <= 1).
    relu = tf.nn.relu
    off = relu(-qx) + relu(qx - (w - 1.0)) + relu(-qy) + relu(qy - (h - 1.0))
    rx = tf.clip_by_value(rx - off * 2.0**20, -1.0, w)
    ry = tf.clip_by_value(ry, -1.0, h)
    return (ry + 1.0) * (w + 2.0) + (rx + 1.0)


def _padded_source(source: tf.Tensor, height, width) -> tf.Tensor:
    """An int32 [B, H*W] source map (H*W = outside) -> float64 indices into the image
    zero-padded by one pixel (0, a corner of the border, for outside)."""
    row = tf.math.floordiv(source, width)
    flat = (row + 1) * (width + 2) + (source - row * width) + 1
    return tf.cast(tf.where(source < height * width, flat, 0), tf.float64)


def _chain_padded_source(
    rotation: tf.Tensor, flip: tf.Tensor, affine: tf.Tensor, height, width
) -> tf.Tensor:
    """float64 [B, H*W] indices into the zero-padded input of flip -> rotation -> affine.

    The fast path where Pillow uses fixed point for both warps (always, for random
    nonzero angles and shears); otherwise (an angle or shear of exactly 0, as when an op
    is switched off) each warp's own map, composed with ``_then``.
    """

    def fixed_point(matrix):
        _, b, _, d, _, _ = tf.unstack(matrix, num=6, axis=-1)
        return (b != 0.0) | (d != 0.0)

    def fast():
        return _padded_chain_source(rotation, flip, affine, height, width)

    def general():
        first = _affine_source(rotation, height, width, flip=flip)
        return _padded_source(_then(first, _affine_source(affine, height, width)), height, width)

    return tf.cond(tf.reduce_all(fixed_point(rotation) & fixed_point(affine)), fast, general)


def _warp_to_planes(images: tf.Tensor, padded_source: tf.Tensor) -> list[tf.Tensor]:
    """Moves the pixels and splits the channels: uint8 [B, H, W, 3] -> three float32
    [B, H*W] planes (R, G, B, integer values).

    TensorFlow's gather costs about 10 ns per gathered element on the CPU, whatever its
    size, so each pixel travels once, packed exactly into one float32 (R + 256 G + 65536 B
    < 2^24), and is unpacked with float arithmetic.
    """
    shape = tf.shape(images)
    n, height, width = shape[0], shape[1], shape[2]
    r, g, b = _to_planes(images)
    packed = tf.pad(tf.reshape(r + g * 256.0 + b * 65536.0, shape[:3]), [[0, 0], [1, 1], [1, 1]])
    size = (height + 2) * (width + 2)
    offsets = tf.cast(tf.range(n) * size, tf.float64)[:, None]
    index = tf.cast(padded_source + offsets, tf.int32)
    out = tf.gather(tf.reshape(packed, [-1]), index)  # [B, H*W]
    blue = tf.floor(out * (1.0 / 65536.0))
    rest = out - blue * 65536.0
    green = tf.floor(rest * (1.0 / 256.0))
    return [rest - green * 256.0, green, blue]


def _then(first: tf.Tensor, second: tf.Tensor) -> tf.Tensor:
    """The source map of warp `first` followed by warp `second` (both int32 [B, H*W])."""
    outside = tf.fill([tf.shape(first)[0], 1], tf.shape(first)[1])
    return tf.gather(tf.concat([first, outside], axis=1), second, batch_dims=1)


def _warp(images: tf.Tensor, source: tf.Tensor) -> tf.Tensor:
    """Moves the pixels: uint8 [B, H, W, C] and a source map -> uint8 [B, H, W, C]."""
    shape = tf.shape(images)
    flat = tf.reshape(images, [shape[0], shape[1] * shape[2], shape[3]])
    flat = tf.concat([flat, tf.zeros([shape[0], 1, shape[3]], images.dtype)], axis=1)
    return tf.reshape(tf.gather(flat, source, batch_dims=1), shape)


def _round15(x: tf.Tensor) -> tf.Tensor:
    """Python's ``round(x, 15)`` for |x| <= 1 (as Pillow rounds cos and sin).

    It can differ from Python only where x * 1e15 lies within float64 rounding of a
    half-integer, and then by 1e-15, far below the 2^-16 steps of Pillow's fixed point.
    """
    return tf.round(x * 1e15) / 1e15


def rotation_matrix(angle_degrees, height, width) -> tf.Tensor:
    """Pillow's inverse matrix for ``Image.rotate(angle)`` (centre (W/2, H/2), no expand):
    ``spec.rotation_matrix`` of Pillow's float64 cos and sin.

    Args:
      angle_degrees: float [...], counter-clockwise.
      height, width: the image size.

    Returns:
      float64 [..., 6], (a, b, c, d, e, f) as Pillow computes them, additions in its order.
    """
    angle = tf.math.floormod(tf.cast(angle_degrees, tf.float64), 360.0)
    t = -(angle * (math.pi / 180.0))  # -math.radians(angle % 360)
    cos, sin, minus_sin = _round15(tf.cos(t)), _round15(tf.sin(t)), _round15(-tf.sin(t))
    cx = spec.centre(tf.cast(width, tf.float64))
    cy = spec.centre(tf.cast(height, tf.float64))
    return tf.stack(spec.rotation_matrix(cos, sin, minus_sin, cx, cy), axis=-1)


def affine_matrix(scale, shear_degrees, height, width) -> tf.Tensor:
    """torchvision's inverse matrix for ``F.affine(angle=0, translate=(0, 0), scale,
    shear=(shear, 0))`` on a PIL image: ``spec.affine_matrix`` in float64.

    Args:
      scale: float [...], > 0.
      shear_degrees: float [...], the x-shear.
      height, width: the image size.

    Returns:
      float64 [..., 6], (a, b, c, d, e, f) with torchvision's operation order.
    """
    scale = tf.cast(scale, tf.float64)
    tan = tf.tan(tf.cast(shear_degrees, tf.float64) * (math.pi / 180.0))
    cx = spec.centre(tf.cast(width, tf.float64))
    cy = spec.centre(tf.cast(height, tf.float64))
    return tf.stack(spec.affine_matrix(scale, tan, cx, cy), axis=-1)


def _sizes(images: tf.Tensor):
    shape = tf.shape(images)
    return shape[1], shape[2]


@_no_autograph
def horizontal_flip(image: tf.Tensor, flip=True) -> tf.Tensor:
    """``F.hflip`` where ``flip`` is true.

    Args:
      image: uint8 [..., H, W, 3].
      flip: bool [...] (default: always).

    Returns:
      uint8 [..., H, W, 3].
    """
    images, leading = _as_batch(_check_image(image))
    flip = _param(flip, leading, tf.bool)
    identity = tf.broadcast_to(
        tf.constant([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], tf.float64), [tf.size(flip), 6]
    )
    return tf.reshape(
        _warp(images, _affine_source(identity, *_sizes(images), flip=flip)), tf.shape(image)
    )


@_no_autograph
def rotate(image: tf.Tensor, angle_degrees) -> tf.Tensor:
    """``F.rotate(img, angle, NEAREST, expand=False, center=None, fill=0)`` on a PIL image:
    what ``RandomRotation`` applies.

    Args:
      image: uint8 [..., H, W, 3].
      angle_degrees: float [...], counter-clockwise.

    Returns:
      uint8 [..., H, W, 3]; pixels that come from outside the image are 0.
    """
    images, leading = _as_batch(_check_image(image))
    height, width = _sizes(images)
    matrix = rotation_matrix(_param(angle_degrees, leading, tf.float32), height, width)
    return tf.reshape(_warp(images, _affine_source(matrix, height, width)), tf.shape(image))


@_no_autograph
def affine(image: tf.Tensor, scale, shear_degrees) -> tf.Tensor:
    """``F.affine(img, angle=0, translate=(0, 0), scale, shear=(shear, 0), NEAREST, fill=0)``
    on a PIL image: what ``RandomAffine(0, shear=..., scale=...)`` applies.

    Args:
      image: uint8 [..., H, W, 3].
      scale: float [...], > 0.
      shear_degrees: float [...], the x-shear.

    Returns:
      uint8 [..., H, W, 3].
    """
    images, leading = _as_batch(_check_image(image))
    height, width = _sizes(images)
    matrix = affine_matrix(
        _param(scale, leading, tf.float32),
        _param(shear_degrees, leading, tf.float32),
        height,
        width,
    )
    return tf.reshape(_warp(images, _affine_source(matrix, height, width)), tf.shape(image))


# ----------------------------------------------------------------------------- colour
#
# The colour ops run on float32 holding integers 0..255. Pillow's blend is float32 too:
# (float)D + alpha * (float)(img - D), clipped, truncated; the grayscale and the sums
# below have integer partial sums under 2^24, so float32 holds them exactly.


def _to_planes(images: tf.Tensor) -> list[tf.Tensor]:
    """uint8 [B, H, W, 3] -> float32 [B, H*W] R, G, B planes.

    The colour ops work on separate planes: every operation is then elementwise on equal
    shapes or against a per-image [B, 1] column, the cheap cases of TensorFlow's CPU
    kernels (broadcasting a gray image over an innermost channel axis costs about ten
    times as much per element, a transpose to channel-first about as much as all the
    blends).
    """
    n = tf.shape(images)[0]
    return [tf.reshape(tf.cast(c, tf.float32), [n, -1]) for c in tf.unstack(images, num=3, axis=-1)]


def _to_image(planes: list[tf.Tensor], shape: tf.Tensor) -> tf.Tensor:
    """float32 R, G, B planes holding integers 0..255 -> uint8 image(s) of ``shape``."""
    return tf.reshape(tf.cast(_interleave(planes), tf.uint8), shape)


def _gray(planes: list[tf.Tensor]) -> tf.Tensor:
    """Pillow's RGB -> 'L' (``spec.grayscale``) of float32 planes holding integers."""
    return spec.grayscale(*planes, tf.floor)


def _jitter_planes(
    planes: list[tf.Tensor], order: tf.Tensor, brightness, contrast, saturation
) -> list[tf.Tensor]:
    """ColorJitter's ops in order, each a Pillow ``Image.blend(degenerate, image, factor)``
    rounded to integers as PIL's uint8 result is.

    Each step every image applies one of the three ops; they differ only in the degenerate
    image (black, its mean gray level, its grayscale) and the factor, so those are picked
    per image with exact 0/1 weights, without branching.

    Args:
      planes: float32 [B, N] R, G, B (integer values 0..255).
      order: int32 [B, steps], op ids (BRIGHTNESS, CONTRAST, SATURATION).
      brightness, contrast, saturation: float32 [B] factors.

    Returns:
      float32 [B, N] R, G, B planes, integer values 0..255.
    """
    for step in range(order.shape[1]):
        op = order[:, step]
        is_c, is_s = (tf.cast(op == k, tf.float32)[:, None] for k in (CONTRAST, SATURATION))
        is_b = 1.0 - is_c - is_s
        gray = _gray(planes)
        total = tf.cast(tf.reduce_sum(gray, axis=1, keepdims=True), tf.float64)  # exact
        count = tf.cast(tf.shape(gray)[1], tf.float64)
        # float64 floordiv of integers below 2^53 is the exact integer quotient here.
        mean = tf.cast(spec.rounded_mean(total, count), tf.float32)
        degenerate = is_c * mean + is_s * gray  # brightness: 0
        factor = is_b * brightness[:, None] + is_c * contrast[:, None] + is_s * saturation[:, None]
        planes = [
            spec.blend(
                degenerate, x, factor, product=tf.multiply, floor=tf.floor, clip=tf.clip_by_value
            )
            for x in planes
        ]
    return planes


def _colour_op(op: int, image: tf.Tensor, factor) -> tf.Tensor:
    images, leading = _as_batch(_check_image(image))
    order = tf.fill(tf.concat([tf.shape(images)[:1], [1]], 0), op)
    factors = [tf.ones_like(_param(1.0, leading, tf.float32))] * 3
    factors[op] = _param(factor, leading, tf.float32)
    return _to_image(_jitter_planes(_to_planes(images), order, *factors), tf.shape(image))


@_no_autograph
def grayscale(image: tf.Tensor) -> tf.Tensor:
    """Pillow's RGB -> 'L': (19595 R + 38470 G + 7471 B + 32768) >> 16.

    Args:
      image: uint8 [..., H, W, 3].

    Returns:
      uint8 [..., H, W].
    """
    images, _ = _as_batch(_check_image(image))
    gray = _gray(_to_planes(images))
    return tf.reshape(tf.cast(gray, tf.uint8), tf.shape(image)[:-1])


@_no_autograph
def adjust_brightness(image: tf.Tensor, factor) -> tf.Tensor:
    """``F.adjust_brightness`` on a PIL image: blend with black.

    Args:
      image: uint8 [..., H, W, 3].
      factor: float32 [...]; 1 = unchanged.

    Returns:
      uint8 [..., H, W, 3].
    """
    return _colour_op(BRIGHTNESS, image, factor)


@_no_autograph
def adjust_contrast(image: tf.Tensor, factor) -> tf.Tensor:
    """``F.adjust_contrast`` on a PIL image: blend with the image's mean gray level
    (Pillow's integer grayscale, mean rounded half up: ``int(mean + 0.5)``).

    Args:
      image: uint8 [..., H, W, 3].
      factor: float32 [...]; 1 = unchanged.

    Returns:
      uint8 [..., H, W, 3].
    """
    return _colour_op(CONTRAST, image, factor)


@_no_autograph
def adjust_saturation(image: tf.Tensor, factor) -> tf.Tensor:
    """``F.adjust_saturation`` on a PIL image: blend with its grayscale.

    Args:
      image: uint8 [..., H, W, 3].
      factor: float32 [...]; 1 = unchanged.

    Returns:
      uint8 [..., H, W, 3].
    """
    return _colour_op(SATURATION, image, factor)


@_no_autograph
def color_jitter(image: tf.Tensor, order, brightness, contrast, saturation) -> tf.Tensor:
    """ColorJitter's ops in the given order (hue off), each rounded to uint8 as in PIL.

    Args:
      image: uint8 [..., H, W, 3].
      order: int32 [..., 3], a permutation of (BRIGHTNESS, CONTRAST, SATURATION) = (0, 1, 2),
        e.g. ``JITTER_ORDERS[i]``; ``jitter_order_index`` maps torchvision's fn_idx.
      brightness, contrast, saturation: float32 [...] factors; 1 = that op is off.

    Returns:
      uint8 [..., H, W, 3].
    """
    images, leading = _as_batch(_check_image(image))
    order = tf.reshape(tf.cast(order, tf.int32), [-1, 3])
    message = (
        "color_jitter's order must hold permutations of (0, 1, 2) (e.g. "
        "JITTER_ORDERS[i]; jitter_order_index maps torchvision's fn_idx)"
    )
    is_permutation = tf.reduce_all(tf.sort(order, axis=-1) == tf.range(3))
    if tf.executing_eagerly():
        if not bool(is_permutation):
            raise ValueError(f"{message}, got {order.numpy().tolist()}")
    else:
        with tf.control_dependencies([tf.debugging.Assert(is_permutation, [message, order])]):
            order = tf.identity(order)
    factors = [_param(v, leading, tf.float32) for v in (brightness, contrast, saturation)]
    return _to_image(_jitter_planes(_to_planes(images), order, *factors), tf.shape(image))


@_no_autograph
def to_float_normalized(image: tf.Tensor) -> tf.Tensor:
    """ToTensor then Normalize((0.5,) * 3, (0.5,) * 3), bitwise as torch computes it, but
    kept HWC (Flax's layout) instead of CHW.

    Args:
      image: uint8 [..., H, W, 3].

    Returns:
      float32 [..., H, W, 3] in [-1, 1]: (x / 255 - 0.5) / 0.5.
    """
    return _normalize(tf.cast(_check_image(image), tf.float32))


_normalize = spec.normalize  # float32 holding 0..255 -> ToTensor then Normalize


# ----------------------------------------------------------------------------- random


def _uniforms(seed: tf.Tensor) -> tf.Tensor:
    """int32/int64 [2] seed -> float32 [NUM_UNIFORMS] uniforms in [0, 1)."""
    return tf.random.stateless_uniform([NUM_UNIFORMS], seed=seed, dtype=tf.float32)


_SAMPLING = spec.SamplingOps(
    slot=lambda u, i: u[..., i],
    # torch's uniform_(lo, hi): lo + (hi - lo) * u, each rounded to float32 (no XLA here
    # to fuse them).
    uniform=lambda lo, span, u: tf.constant(lo, tf.float32) + tf.constant(span, tf.float32) * u,
    order=lambda index: tf.gather(tf.constant(JITTER_ORDERS, tf.int32), index),
    floor_to_int32=lambda v: tf.cast(tf.floor(v), tf.int32),
    minimum=tf.minimum,
    ones_like=tf.ones_like,
    falses_like=lambda v: tf.zeros_like(v, tf.bool),
)


@_no_autograph
def sample_params_from_uniforms(
    u: tf.Tensor, config: AugmentConfig = AugmentConfig()
) -> AugmentParams:
    """Parameters from uniforms: float32 [..., NUM_UNIFORMS] in [0, 1) -> AugmentParams [...].

    ``spec.params_from_uniforms``: elementwise, so a batch gets exactly the values each
    image would get alone, and ``jax_ops.sample_params_from_uniforms`` gives the same
    values for the same uniforms. ``sample_params(seed)`` is this applied to
    ``tf.random.stateless_uniform([NUM_UNIFORMS], seed)``. One stateless draw of shape
    [N, NUM_UNIFORMS] gives N images their parameters in one op (the training pipeline
    draws an epoch's this way).
    """
    return spec.params_from_uniforms(tf.convert_to_tensor(u, tf.float32), config, _SAMPLING)


@_no_autograph
def sample_params(seed: tf.Tensor, config: AugmentConfig = AugmentConfig()) -> AugmentParams:
    """Draws one image's parameters with torchvision's distributions.

    flip: u < 0.5; angle ~ U(-r, r); scale ~ U(lo, hi); shear ~ U(-s, s); the colour order
    uniform over the 6 ``JITTER_ORDERS``; each factor ~ U(max(0, 1 - v), 1 + v). An op that
    is off keeps its identity value (no flip, angle 0, scale 1, shear 0, factor 1), which
    the ops apply as exact no-ops, as torchvision leaves the op out. Each parameter has
    its own slot of one stateless draw, so switching one op off never changes the others.

    Args:
      seed: int32/int64 [2], a stateless seed (one per image, e.g. from (seed, epoch, index)).
      config: what to draw.

    Returns:
      AugmentParams of scalars (order int32 [3]).
    """
    return sample_params_from_uniforms(_uniforms(tf.convert_to_tensor(seed)), config)


@_no_autograph
def sample_params_batch(seeds: tf.Tensor, config: AugmentConfig = AugmentConfig()) -> AugmentParams:
    """``sample_params`` for each of a batch of seeds: params[i] = sample_params(seeds[i]).

    Args:
      seeds: int32/int64 [B, 2].

    Returns:
      AugmentParams with a leading [B] (order int32 [B, 3]).
    """
    return sample_params_from_uniforms(_uniforms_batch(tf.convert_to_tensor(seeds)), config)


# Stateless ops take one seed per call, hence the loop; only the draw is in it. Compiled
# as a graph so that eager callers do not run the loop op by op (tf.function builds
# nothing at import; inside tf.data it is simply inlined).
@tf.function(reduce_retracing=True)
def _uniforms_batch(seeds: tf.Tensor) -> tf.Tensor:
    """int32/int64 [B, 2] seeds -> float32 [B, NUM_UNIFORMS] uniforms, row i from seeds[i]."""
    return tf.map_fn(
        _uniforms, seeds, fn_output_signature=tf.TensorSpec([NUM_UNIFORMS], tf.float32)
    )


@_no_autograph
def apply_params(image: tf.Tensor, params: AugmentParams) -> tf.Tensor:
    """The whole PIL chain with fixed parameters: flip, rotate, affine, colour jitter.

    The three warps are composed into one source map and applied in one gather (the
    flip folded into the rotation's fixed-point coefficients); the
    result equals applying ``horizontal_flip``, ``rotate``, ``affine`` and
    ``color_jitter`` one after the other.

    Args:
      image: uint8 [..., H, W, 3].
      params: AugmentParams with the image's leading shape.

    Returns:
      uint8 [..., H, W, 3] (then ``to_float_normalized`` for ToTensor + Normalize).
    """
    images, leading = _as_batch(_check_image(image))
    return _to_image(_augment_planes(images, params, leading), tf.shape(image))


@_no_autograph
def apply_params_normalized(image: tf.Tensor, params: AugmentParams) -> tf.Tensor:
    """``to_float_normalized(apply_params(image, params))``, bit for bit, without the round
    trip through uint8: what the training pipeline feeds the model.

    Args:
      image: uint8 [..., H, W, 3].
      params: AugmentParams with the image's leading shape.

    Returns:
      float32 [..., H, W, 3] in [-1, 1].
    """
    images, leading = _as_batch(_check_image(image))
    out = _interleave([_normalize(x) for x in _augment_planes(images, params, leading)])
    return tf.reshape(out, tf.shape(image))


def _interleave(planes: list[tf.Tensor]) -> tf.Tensor:
    """Three float32 planes [B, ...] -> float32 [B, ..., 3].

    As a stack along a new first axis and a 2-D transpose: TensorFlow's CPU kernels
    interleave a new innermost axis (``tf.stack(..., axis=-1)``) at about twice the cost.
    """
    shape = tf.shape(planes[0])
    out = tf.transpose(tf.reshape(tf.stack(planes, axis=0), [len(planes), -1]))
    return tf.reshape(out, tf.concat([shape, [len(planes)]], 0))


def _augment_planes(images: tf.Tensor, params: AugmentParams, leading) -> list[tf.Tensor]:
    """uint8 [B, H, W, 3] and their parameters -> the augmented R, G, B planes, float32
    [B, H*W] holding integers 0..255."""
    height, width = _sizes(images)
    p = {
        k: _param(v, leading, tf.bool if k == "flip" else tf.float32)
        for k, v in params._asdict().items()
        if k != "order"
    }
    rotation = rotation_matrix(p["angle"], height, width)
    affine_m = affine_matrix(p["scale"], p["shear"], height, width)
    source = _chain_padded_source(rotation, p["flip"], affine_m, height, width)
    order = tf.reshape(tf.cast(params.order, tf.int32), [-1, 3])
    return _jitter_planes(
        _warp_to_planes(images, source), order, p["brightness"], p["contrast"], p["saturation"]
    )


@_no_autograph
def random_augment(
    seed: tf.Tensor, image: tf.Tensor, config: AugmentConfig = AugmentConfig()
) -> tf.Tensor:
    """The homework's random train transform on one image (up to ToTensor).

    Args:
      seed: int32/int64 [2] stateless seed (derive it from (seed, epoch, index)).
      image: uint8 [H, W, 3].
      config: the transform.

    Returns:
      uint8 [H, W, 3]. Works eagerly and inside tf.data.map / tf.function.
    """
    return apply_params(image, sample_params(seed, config))


@_no_autograph
def random_augment_batch(
    seeds: tf.Tensor, images: tf.Tensor, config: AugmentConfig = AugmentConfig()
) -> tf.Tensor:
    """``random_augment`` on a batch, image i with seeds[i]: the same pixels, faster in
    tf.data (map it after ``.batch()``).

    Args:
      seeds: int32/int64 [B, 2].
      images: uint8 [B, H, W, 3].

    Returns:
      uint8 [B, H, W, 3].
    """
    return apply_params(images, sample_params_batch(seeds, config))
