"""torchvision-exact CIFAR-10 training augmentation, as TensorFlow ops for tf.data.

The homework's train transform (torchvision 0.29 on PIL images)::

    RandomHorizontalFlip() -> RandomRotation(10) -> RandomAffine(0, shear=10, scale=(0.8, 1.2))
    -> ColorJitter(0.2, 0.2, 0.2) -> ToTensor() -> Normalize((0.5,) * 3, (0.5,) * 3)

is rebuilt here so that, given the same random parameters, every op returns the same
uint8 pixels as Pillow does (see /work/shared/spec/augmentation.md for the derivation):

* the warps reproduce Pillow's NEAREST affine sampling with Pillow's own arithmetic:
  the 16.16 fixed-point path and, for matrices without off-diagonal terms, its separate
  "scale" path; each warp is a map from output to source pixels, and the chain's flip,
  rotation and affine compose into one map and one gather (the rotation's formula
  evaluated at the affine's source pixels);
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
torchvision's ``get_params`` (torch's random stream itself cannot be reproduced, only its
distributions); ``sample_params`` draws them from a stateless seed. ``random_augment`` =
``apply_params`` of ``sample_params``; ``random_augment_batch`` does the same for a batch
of per-image seeds and returns exactly what ``random_augment`` returns image by image.

Speed, on TensorFlow's CPU kernels: one gather per image of packed pixels, colour ops on
separate R, G, B planes, float arithmetic instead of integer shifts and comparisons (each
choice is explained where it is made). About 90 us of CPU per image in the training
pipeline on the 2-core machine here.

Nothing here touches TensorFlow's device configuration: the input pipeline decides
where TensorFlow runs. Do not wrap these ops in XLA (``jit_compile``): a fused
multiply-add changes the float32 blends.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import NamedTuple

import tensorflow as tf

# Nothing here branches on tensor values in Python, so AutoGraph (which tf.data and
# tf.function apply to what they call) would change nothing but costs seconds of tracing.
_no_autograph = tf.autograph.experimental.do_not_convert

# ColorJitter's active ops, in torchvision's numbering (its fn_idx 0, 1, 2; 3 = hue is off).
BRIGHTNESS, CONTRAST, SATURATION = 0, 1, 2

# The six orders in which ColorJitter can apply brightness, contrast and saturation.
# torchvision draws ``torch.randperm(4)`` over (brightness, contrast, saturation, hue) and
# skips hue when it is off; each of the 24 permutations reduces (drop the 3) to one of
# these 6, exactly 4 permutations to each, so the 6 orders are equally likely.
JITTER_ORDERS: tuple[tuple[int, int, int], ...] = tuple(itertools.permutations(range(3)))


def jitter_order_index(torch_permutation) -> int:
    """The index into ``JITTER_ORDERS`` of a torchvision ColorJitter permutation.

    Args:
      torch_permutation: ColorJitter.get_params' ``fn_idx``, a permutation of (0, 1, 2, 3)
        (or of (0, 1, 2)).

    Returns:
      i such that ``JITTER_ORDERS[i]`` is the permutation without hue (3).
    """
    reduced = tuple(int(i) for i in torch_permutation if int(i) != 3)
    if sorted(reduced) != [0, 1, 2]:
        raise ValueError(
            f"{tuple(torch_permutation)} is not a permutation of (0, 1, 2[, 3]); pass "
            "ColorJitter.get_params' fn_idx"
        )
    return JITTER_ORDERS.index(reduced)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """The homework's train transform; every amount configurable, each op can be switched off.

    An op that is off is not applied (and nothing is drawn for it), as in torchvision
    where the transform is left out; the remaining draws do not change.
    """

    flip: bool = True  # RandomHorizontalFlip(p=0.5)
    rotation_degrees: float = 10.0  # RandomRotation(10); 0 = off
    shear_degrees: float = 10.0  # RandomAffine(0, shear=10, ...); 0 (and scale None) = off
    scale: tuple[float, float] | None = (0.8, 1.2)  # RandomAffine(..., scale=(0.8, 1.2))
    brightness: float = 0.2  # ColorJitter(brightness=0.2, ...); 0 = off
    contrast: float = 0.2
    saturation: float = 0.2

    def __post_init__(self):
        if not isinstance(self.flip, bool):
            raise ValueError(f"AugmentConfig.flip must be True or False, got {self.flip!r}")
        _check_range("rotation_degrees", self.rotation_degrees, 0.0, 360.0, "[0, 360]")
        _check_range("shear_degrees", self.shear_degrees, 0.0, 89.0, "[0, 89]")
        for name in ("brightness", "contrast", "saturation"):
            _check_range(name, getattr(self, name), 0.0, math.inf, "[0, inf)")
        if self.scale is not None:
            try:
                lo, hi = (float(v) for v in self.scale)
            except (TypeError, ValueError):
                raise ValueError(
                    f"AugmentConfig.scale must be None or a pair (lo, hi) with "
                    f"0 < lo <= hi < inf, got {self.scale!r}"
                ) from None
            if not (0.0 < lo <= hi < math.inf):
                raise ValueError(
                    f"AugmentConfig.scale must be None or a pair (lo, hi) with "
                    f"0 < lo <= hi < inf, got {self.scale!r}"
                )
            object.__setattr__(self, "scale", (lo, hi))

    @property
    def affine(self) -> bool:
        """Whether RandomAffine is part of the transform."""
        return self.shear_degrees > 0 or self.scale is not None


def _check_range(name: str, value, lo: float, hi: float, shown: str) -> None:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or not lo <= value <= hi):
        raise ValueError(f"AugmentConfig.{name} must be a number in {shown}, got {value!r}")


class AugmentParams(NamedTuple):
    """The random parameters of one image (scalars) or of a batch (leading ``[B]``).

    An op that is off has its identity value (no flip, angle 0, scale 1, shear 0,
    factor 1), which every op applies as an exact no-op.
    """

    flip: tf.Tensor  # bool []: mirror left-right
    angle: tf.Tensor  # float32 []: rotation in degrees, counter-clockwise
    scale: tf.Tensor  # float32 []: RandomAffine scale
    shear: tf.Tensor  # float32 []: RandomAffine x-shear in degrees
    order: tf.Tensor  # int32 [3]: the colour ops' order, one of JITTER_ORDERS
    brightness: tf.Tensor  # float32 []: brightness factor
    contrast: tf.Tensor  # float32 []: contrast factor
    saturation: tf.Tensor  # float32 []: saturation factor


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
    a0, a1, a2, a3, a4, a5 = (v[:, None, None] for v in tf.unstack(coefficients, num=6, axis=-1))
    x = tf.range(width, dtype=tf.int64)[None, None, :]
    y = tf.range(height, dtype=tf.int64)[None, :, None]
    col = tf.bitwise.right_shift(a2 + x * a0 + y * a1, 16)  # arithmetic shift = floor
    row = tf.bitwise.right_shift(a5 + x * a3 + y * a4, 16)
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
    a, _, c, _, e, f = tf.unstack(matrix, num=6, axis=-1)

    def coordinates(start, step, size):
        # cumsum adds sequentially along the axis: Pillow's running `xo += a[0]`.
        steps = tf.concat([start[:, None], tf.tile(step[:, None], [1, size - 1])], axis=1)
        coord = tf.cumsum(steps, axis=1)
        return tf.where(coord < 0.0, tf.constant(-1, tf.int64), tf.cast(coord, tf.int64))

    col = coordinates(c + a * 0.5, a, width)
    inside = (col >= 0) & (col < tf.cast(width, tf.int64))
    col = tf.where(flip[:, None] & inside, tf.cast(width, tf.int64) - 1 - col, col)
    row = coordinates(f + e * 0.5, e, height)
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
    """Pillow's FIX(v) = floor(v * 65536 + 0.5), float64 -> int64."""
    return tf.cast(tf.floor(v * 65536.0 + 0.5), tf.int64)


def _fixed_point_coefficients(matrix: tf.Tensor, flip, width) -> tf.Tensor:
    """Pillow's fixed-point coefficients (A0, A1, A2, A3, A4, A5) as float64 [B, 6] holding
    integers (below 2^31 where Pillow uses them), with an optional left-right flip of
    the input (bool [B]) folded in."""
    a, b, c, d, e, f = tf.unstack(matrix, num=6, axis=-1)
    a0, a1, a3, a4 = _fix(a), _fix(b), _fix(d), _fix(e)
    a2, a5 = _fix(c + a * 0.5 + b * 0.5), _fix(f + d * 0.5 + e * 0.5)
    if flip is not None:
        # The flip reads column W-1-col. For an integer X, W-1-(X >> 16) equals
        # (65536 W - 1 - X) >> 16 exactly, so the flip folds into the column's coefficients.
        sign = 1 - 2 * tf.cast(flip, tf.int64)
        a0, a1 = sign * a0, sign * a1
        a2 = tf.where(flip, 65536 * tf.cast(width, tf.int64) - 1 - a2, a2)
    return tf.cast(tf.stack([a0, a1, a2, a3, a4, a5], axis=-1), tf.float64)


def _padded_chain_source(rotation: tf.Tensor, flip: tf.Tensor, affine: tf.Tensor,
                         height, width) -> tf.Tensor:
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
    # The affine (the last warp) reads the rotated image at (qy, qx): a matrix product,
    # exact on these integers (every partial sum is an integer below 2^53).
    coefficients = tf.concat([tf.gather(f, [0, 1, 2], axis=1), tf.gather(f, [3, 4, 5], axis=1)], 0)
    q = tf.floor(tf.matmul(coefficients, grid) * unit)
    qx, qy = tf.split(q, 2, axis=0)
    # The rotation read the flipped image at (ry, rx).
    r0, r1, r2, r3, r4, r5 = tf.split(r, 6, axis=1)  # [B, 1] each
    rx = tf.floor((r2 + qx * r0 + qy * r1) * unit)
    ry = tf.floor((r5 + qx * r3 + qy * r4) * unit)
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


def _chain_padded_source(rotation: tf.Tensor, flip: tf.Tensor, affine: tf.Tensor,
                         height, width) -> tf.Tensor:
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
    """Pillow's inverse matrix for ``Image.rotate(angle)`` (centre (W/2, H/2), no expand).

    Pillow's fast paths (a copy at 0, transposes at 90/180/270 degrees) give the same
    pixels as this matrix does, so they need no special case.

    Args:
      angle_degrees: float [...], counter-clockwise.
      height, width: the image size.

    Returns:
      float64 [..., 6], (a, b, c, d, e, f) as Pillow computes them, additions in its order.
    """
    angle = tf.math.floormod(tf.cast(angle_degrees, tf.float64), 360.0)
    t = -(angle * (math.pi / 180.0))  # -math.radians(angle % 360)
    cos, sin, minus_sin = _round15(tf.cos(t)), _round15(tf.sin(t)), _round15(-tf.sin(t))
    cx = tf.cast(width, tf.float64) / 2.0
    cy = tf.cast(height, tf.float64) / 2.0
    c = (cos * -cx + sin * -cy) + cx
    f = (minus_sin * -cx + cos * -cy) + cy
    return tf.stack([cos, sin, c, minus_sin, cos, f], axis=-1)


def affine_matrix(scale, shear_degrees, height, width) -> tf.Tensor:
    """torchvision's inverse matrix for ``F.affine(angle=0, translate=(0, 0), scale,
    shear=(shear, 0))`` on a PIL image (``_get_inverse_affine_matrix``, centre (W/2, H/2)).

    Args:
      scale: float [...], > 0.
      shear_degrees: float [...], the x-shear.
      height, width: the image size.

    Returns:
      float64 [..., 6], (a, b, c, d, e, f) with torchvision's operation order.
    """
    scale = tf.cast(scale, tf.float64)
    tan = tf.tan(tf.cast(shear_degrees, tf.float64) * (math.pi / 180.0))
    cx = tf.cast(width, tf.float64) / 2.0
    cy = tf.cast(height, tf.float64) / 2.0
    a = 1.0 / scale
    b = tan / scale
    d = -tf.zeros_like(scale)  # -0.0 / scale; Pillow tests d == 0, so the sign is moot
    c = (a * -cx + b * -cy) + cx
    f = (d * -cx + a * -cy) + cy
    return tf.stack([a, b, c, d, a, f], axis=-1)


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
    identity = tf.broadcast_to(tf.constant([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], tf.float64), [tf.size(flip), 6])
    return tf.reshape(_warp(images, _affine_source(identity, *_sizes(images), flip=flip)), tf.shape(image))


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
        _param(scale, leading, tf.float32), _param(shear_degrees, leading, tf.float32), height, width
    )
    return tf.reshape(_warp(images, _affine_source(matrix, height, width)), tf.shape(image))


# ----------------------------------------------------------------------------- colour
#
# The colour ops run on float32 holding integers 0..255. Pillow's blend is float32 too:
# (float)D + alpha * (float)(img - D), clipped, truncated; the grayscale and the sums
# below have integer partial sums under 2^24, so float32 holds them exactly.

_GRAY_WEIGHTS = (19595.0, 38470.0, 7471.0)


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
    """Pillow's RGB -> 'L', (19595 R + 38470 G + 7471 B + 32768) >> 16, on float32 planes
    holding integers (every partial sum is an integer below 2^24: exact)."""
    r, g, b = planes
    w0, w1, w2 = _GRAY_WEIGHTS
    return tf.floor((r * w0 + g * w1 + b * w2 + 32768.0) * (1.0 / 65536.0))


def _jitter_planes(planes: list[tf.Tensor], order: tf.Tensor, brightness, contrast,
                   saturation) -> list[tf.Tensor]:
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
        mean = tf.cast(tf.floor(total / count + 0.5), tf.float32)  # int(mean + 0.5)
        degenerate = is_c * mean + is_s * gray  # brightness: 0
        factor = is_b * brightness[:, None] + is_c * contrast[:, None] + is_s * saturation[:, None]
        planes = [tf.floor(tf.clip_by_value(degenerate + factor * (x - degenerate), 0.0, 255.0))
                  for x in planes]
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
    message = ("color_jitter's order must hold permutations of (0, 1, 2) (e.g. "
               "JITTER_ORDERS[i]; jitter_order_index maps torchvision's fn_idx)")
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


def _normalize(x: tf.Tensor) -> tf.Tensor:
    """float32 holding 0..255 -> ToTensor then Normalize(0.5, 0.5), in torch's order."""
    return (x / 255.0 - 0.5) / 0.5


# ----------------------------------------------------------------------------- random


# One uniform per parameter, in these slots of one stateless draw: each parameter depends
# on its own slot only, so switching an op off never changes the others' values.
_SLOTS = ("flip", "angle", "scale", "shear", "order", "brightness", "contrast", "saturation")
NUM_UNIFORMS = len(_SLOTS)  # uniforms per image (see sample_params_from_uniforms)


def _uniforms(seed: tf.Tensor) -> tf.Tensor:
    """int32/int64 [2] seed -> float32 [len(_SLOTS)] uniforms in [0, 1)."""
    return tf.random.stateless_uniform([len(_SLOTS)], seed=seed, dtype=tf.float32)


@_no_autograph
def sample_params_from_uniforms(u: tf.Tensor, config: AugmentConfig = AugmentConfig()) -> AugmentParams:
    """Parameters from uniforms: float32 [..., NUM_UNIFORMS] in [0, 1) -> AugmentParams [...].

    Elementwise, so a batch gets exactly the values each image would get alone;
    ``sample_params(seed)`` is this applied to ``tf.random.stateless_uniform(
    [NUM_UNIFORMS], seed)``. One stateless draw of shape [N, NUM_UNIFORMS] gives N images
    their parameters in one op (the training pipeline draws an epoch's this way).
    """
    u = dict(zip(_SLOTS, tf.unstack(u, num=len(_SLOTS), axis=-1)))
    one = tf.ones_like(u["flip"])

    def uniform(name, lo, hi):  # torch's uniform_(lo, hi): lo + (hi - lo) * u in float32
        return tf.constant(lo, tf.float32) + tf.constant(hi - lo, tf.float32) * u[name]

    def factor(name, amount):  # ColorJitter: U(max(0, 1 - v), 1 + v); v = 0 leaves it out
        return uniform(name, max(0.0, 1.0 - amount), 1.0 + amount) if amount > 0 else one

    r, s = float(config.rotation_degrees), float(config.shear_degrees)
    # u takes the 2^23 values k / 2^23, so floor(6 u) picks each order 1398101 or 1398102
    # times out of 2^23: uniform to 1e-6.
    order_index = tf.minimum(tf.cast(tf.floor(u["order"] * 6.0), tf.int32), 5)
    return AugmentParams(
        flip=u["flip"] < 0.5 if config.flip else tf.zeros_like(u["flip"], tf.bool),
        angle=uniform("angle", -r, r) if r > 0 else 0.0 * one,
        scale=uniform("scale", *config.scale) if config.scale is not None else one,
        shear=uniform("shear", -s, s) if s > 0 else 0.0 * one,
        order=tf.gather(tf.constant(JITTER_ORDERS, tf.int32), order_index),
        brightness=factor("brightness", config.brightness),
        contrast=factor("contrast", config.contrast),
        saturation=factor("saturation", config.saturation),
    )


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
    """int32/int64 [B, 2] seeds -> float32 [B, len(_SLOTS)] uniforms, row i from seeds[i]."""
    return tf.map_fn(
        _uniforms, seeds, fn_output_signature=tf.TensorSpec([len(_SLOTS)], tf.float32)
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
    p = {k: _param(v, leading, tf.bool if k == "flip" else tf.float32)
         for k, v in params._asdict().items() if k != "order"}
    rotation = rotation_matrix(p["angle"], height, width)
    affine_m = affine_matrix(p["scale"], p["shear"], height, width)
    source = _chain_padded_source(rotation, p["flip"], affine_m, height, width)
    order = tf.reshape(tf.cast(params.order, tf.int32), [-1, 3])
    return _jitter_planes(_warp_to_planes(images, source), order, p["brightness"],
                          p["contrast"], p["saturation"])


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
