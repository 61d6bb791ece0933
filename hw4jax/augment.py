"""torchvision-exact CIFAR-10 training augmentation, as TensorFlow ops for tf.data.

The homework's train transform (torchvision 0.29 on PIL images)::

    RandomHorizontalFlip() -> RandomRotation(10) -> RandomAffine(0, shear=10, scale=(0.8, 1.2))
    -> ColorJitter(0.2, 0.2, 0.2) -> ToTensor() -> Normalize((0.5,) * 3, (0.5,) * 3)

is rebuilt here so that, given the same random parameters, every op returns the same
uint8 pixels as Pillow does (see /work/shared/spec/augmentation.md for the derivation):

* the warps reproduce Pillow's NEAREST affine sampling with Pillow's own arithmetic:
  the 16.16 fixed-point path and, for matrices without off-diagonal terms, its separate
  "scale" path; each warp is a map from output to source pixels, and the chain's flip,
  rotation and affine compose into one map and one gather;
* the colour ops are Pillow's ``Image.blend`` in float32 with truncation, against black
  (brightness), the rounded mean of Pillow's integer grayscale (contrast) or that
  grayscale itself (saturation); every op returns uint8, as each PIL step does.

Each op is a pure function of the image and explicit parameters, and works on one image
``[H, W, 3]`` or a batch ``[B, H, W, 3]`` (parameters then carry the leading ``[B]``);
in tf.data, mapping ``random_augment_batch`` after ``.batch()`` costs about a quarter of
the CPU time of mapping ``random_augment`` per image.
``sample_params`` is the only random function: it draws the parameters from a stateless
seed with the distributions of torchvision's ``get_params`` (torch's random stream itself
cannot be reproduced, only its distributions). ``random_augment`` = ``apply_params`` of
``sample_params``; ``random_augment_batch`` does the same for a batch of per-image seeds
and returns exactly what ``random_augment`` returns image by image.

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
    a, b, c, d, e, f = tf.unstack(matrix, num=6, axis=-1)

    def fix(v):
        return tf.cast(tf.floor(v * 65536.0 + 0.5), tf.int64)

    a0, a1, a3, a4 = fix(a), fix(b), fix(d), fix(e)
    a2, a5 = fix(c + a * 0.5 + b * 0.5), fix(f + d * 0.5 + e * 0.5)
    # The flip reads column W-1-col. For an integer X, W-1-(X >> 16) equals
    # (65536 W - 1 - X) >> 16 exactly, so the flip folds into the column's coefficients.
    sign = 1 - 2 * tf.cast(flip, tf.int64)
    a0, a1 = sign * a0, sign * a1
    a2 = tf.where(flip, 65536 * tf.cast(width, tf.int64) - 1 - a2, a2)
    a0, a1, a2, a3, a4, a5 = (v[:, None, None] for v in (a0, a1, a2, a3, a4, a5))
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


def _gray(x: tf.Tensor) -> tf.Tensor:
    """Pillow's RGB -> 'L', (19595 R + 38470 G + 7471 B + 32768) >> 16: float32
    [B, 3, H, W] (integer values) -> float32 [B, H, W]."""
    r, g, b = tf.unstack(x, num=3, axis=1)
    weighted = r * _GRAY_WEIGHTS[0] + g * _GRAY_WEIGHTS[1] + b * _GRAY_WEIGHTS[2] + 32768.0
    return tf.floor(weighted * (1.0 / 65536.0))


def _mean_gray(gray: tf.Tensor) -> tf.Tensor:
    """``int(ImageStat.Stat(L).mean[0] + 0.5)``: float32 [B, H, W] -> float32 [B]."""
    total = tf.cast(tf.reduce_sum(gray, axis=[1, 2]), tf.float64)  # exact: < 2^24
    count = tf.cast(tf.shape(gray)[1] * tf.shape(gray)[2], tf.float64)
    return tf.cast(tf.floor(total / count + 0.5), tf.float32)


def _blend(degenerate: tf.Tensor, x: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """Pillow's ``Image.blend(degenerate, image, factor)`` on float32 [B, 3, H, W].

    Args:
      degenerate: float32 [B, 1, H, W] (integer values).
      x: float32 [B, 3, H, W] (integer values).
      factor: float32 [B].

    Returns:
      float32 [B, 3, H, W], integer values 0..255.
    """
    out = degenerate + factor[:, None, None, None] * (x - degenerate)
    return tf.floor(tf.clip_by_value(out, 0.0, 255.0))


def _colour_op(op: int, image: tf.Tensor, factor) -> tf.Tensor:
    images, leading = _as_batch(_check_image(image))
    order = tf.fill(tf.concat([tf.shape(images)[:1], [1]], 0), op)
    factors = [tf.ones_like(_param(1.0, leading, tf.float32))] * 3
    factors[op] = _param(factor, leading, tf.float32)
    return tf.reshape(_jitter(images, order, *factors), tf.shape(image))


def _jitter(images: tf.Tensor, order: tf.Tensor, brightness, contrast, saturation) -> tf.Tensor:
    """uint8 [B, H, W, 3], int32 [B, steps] op ids, float32 [B] factors -> uint8.

    Works channel-first: the blends then broadcast the gray image over whole planes,
    which is about a third cheaper than broadcasting it over the innermost axis.
    """
    x = tf.cast(tf.transpose(images, [0, 3, 1, 2]), tf.float32)
    for step in range(order.shape[1]):
        # Each image applies one of the three ops now; they differ only in the degenerate
        # image and the factor, so pick those per image with exact 0/1 weights (no branch).
        op = order[:, step]
        is_b, is_c, is_s = (tf.cast(op == k, tf.float32) for k in (BRIGHTNESS, CONTRAST, SATURATION))
        gray = _gray(x)
        degenerate = (is_c * _mean_gray(gray))[:, None, None] + is_s[:, None, None] * gray
        factor = is_b * brightness + is_c * contrast + is_s * saturation
        x = _blend(degenerate[:, None], x, factor)
    return tf.transpose(tf.cast(x, tf.uint8), [0, 2, 3, 1])


@_no_autograph
def grayscale(image: tf.Tensor) -> tf.Tensor:
    """Pillow's RGB -> 'L': (19595 R + 38470 G + 7471 B + 32768) >> 16.

    Args:
      image: uint8 [..., H, W, 3].

    Returns:
      uint8 [..., H, W].
    """
    images, _ = _as_batch(_check_image(image))
    gray = _gray(tf.cast(tf.transpose(images, [0, 3, 1, 2]), tf.float32))
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
    factors = [_param(v, leading, tf.float32) for v in (brightness, contrast, saturation)]
    return tf.reshape(_jitter(images, order, *factors), tf.shape(image))


@_no_autograph
def to_float_normalized(image: tf.Tensor) -> tf.Tensor:
    """ToTensor then Normalize((0.5,) * 3, (0.5,) * 3), bitwise as torch computes it, but
    kept HWC (Flax's layout) instead of CHW.

    Args:
      image: uint8 [..., H, W, 3].

    Returns:
      float32 [..., H, W, 3] in [-1, 1]: (x / 255 - 0.5) / 0.5.
    """
    x = tf.cast(_check_image(image), tf.float32) / 255.0
    return (x - 0.5) / 0.5


# ----------------------------------------------------------------------------- random


# One uniform per parameter, in these slots of one stateless draw: each parameter depends
# on its own slot only, so switching an op off never changes the others' values.
_SLOTS = ("flip", "angle", "scale", "shear", "order", "brightness", "contrast", "saturation")


def _uniforms(seed: tf.Tensor) -> tf.Tensor:
    """int32/int64 [2] seed -> float32 [len(_SLOTS)] uniforms in [0, 1)."""
    return tf.random.stateless_uniform([len(_SLOTS)], seed=seed, dtype=tf.float32)


def _params_from_uniforms(u: tf.Tensor, config: AugmentConfig) -> AugmentParams:
    """float32 [..., len(_SLOTS)] uniforms -> AugmentParams [...] (elementwise, so a batch
    gets exactly the values each image would get alone)."""
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
    return _params_from_uniforms(_uniforms(tf.convert_to_tensor(seed)), config)


@_no_autograph
def sample_params_batch(seeds: tf.Tensor, config: AugmentConfig = AugmentConfig()) -> AugmentParams:
    """``sample_params`` for each of a batch of seeds: params[i] = sample_params(seeds[i]).

    Args:
      seeds: int32/int64 [B, 2].

    Returns:
      AugmentParams with a leading [B] (order int32 [B, 3]).
    """
    return _params_from_uniforms(_uniforms_batch(tf.convert_to_tensor(seeds)), config)


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
    height, width = _sizes(images)
    p = {k: _param(v, leading, tf.bool if k == "flip" else tf.float32)
         for k, v in params._asdict().items() if k != "order"}
    rotation = rotation_matrix(p["angle"], height, width)
    source = _affine_source(rotation, height, width, flip=p["flip"])  # flip, then rotation
    source = _then(source, _affine_source(affine_matrix(p["scale"], p["shear"], height, width), height, width))
    order = tf.reshape(tf.cast(params.order, tf.int32), [-1, 3])
    out = _jitter(_warp(images, source), order, p["brightness"], p["contrast"], p["saturation"])
    return tf.reshape(out, tf.shape(image))


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
