"""torchvision-exact CIFAR-10 training augmentation, as TensorFlow ops for tf.data.

The homework's train transform (torchvision 0.29 on PIL images)::

    RandomHorizontalFlip() -> RandomRotation(10) -> RandomAffine(0, shear=10, scale=(0.8, 1.2))
    -> ColorJitter(0.2, 0.2, 0.2) -> ToTensor() -> Normalize((0.5,) * 3, (0.5,) * 3)

is rebuilt here so that, given the same random parameters, every op returns the same
uint8 pixels as Pillow does (see /work/shared/spec/augmentation.md for the derivation):

* the warps reproduce Pillow's NEAREST affine sampling: the 16.16 fixed-point path
  (through ``ImageProjectiveTransformV3`` on a zero-padded image) and, for matrices
  without off-diagonal terms, Pillow's separate "scale" path;
* the colour ops are Pillow's ``Image.blend`` in float32 with truncation, against black
  (brightness), the rounded mean of Pillow's integer grayscale (contrast) or that
  grayscale itself (saturation); every op returns uint8, as each PIL step does.

Each op is a pure function of the image and explicit parameters, and works on one image
``[H, W, 3]`` or a batch ``[B, H, W, 3]`` (parameters then carry the leading ``[B]``).
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
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
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
    """[..., H, W, C] -> ([B, H, W, C], the leading shape)."""
    shape = tf.shape(image)
    return tf.reshape(image, tf.concat([[-1], shape[-3:]], 0)), shape[:-3]


def _param(value, leading: tf.Tensor, dtype) -> tf.Tensor:
    """A per-image parameter broadcast to the leading shape and flattened to [B]."""
    return tf.reshape(tf.broadcast_to(tf.cast(value, dtype), leading), [-1])


# ----------------------------------------------------------------------------- warps


def _pillow_affine_nearest(images: tf.Tensor, matrix: tf.Tensor) -> tf.Tensor:
    """Pillow's ``Image.transform(size, AFFINE, matrix, NEAREST, fillcolor=0)``.

    Args:
      images: uint8 [B, H, W, C].
      matrix: float64 [B, 6], Pillow's inverse matrix (a, b, c, d, e, f): the output
        pixel (x, y) reads the input at (a x + b y + c, d x + e y + f).

    Returns:
      uint8 [B, H, W, C], 0 where the source falls outside the image.
    """
    a, b, c, d, e, f = tf.unstack(matrix, num=6, axis=-1)
    shape = tf.shape(images)
    height, width = shape[1], shape[2]

    # Pillow's general path: 16.16 fixed point, FIX(v) = floor(v * 65536 + 0.5), the pixel
    # centre folded into the offsets, source = (A2 + x A0 + y A1) >> 16. On an image padded
    # by one zero pixel ImageProjectiveTransformV3 reproduces it exactly: every term is a
    # multiple of 2^-16 that float32 holds, +1 shifts into the padding and -0.5 turns its
    # round-half-away into the floor (spec, "The two warps").
    def fix(v):
        return tf.floor(v * 65536.0 + 0.5) / 65536.0

    zeros = tf.zeros_like(a)
    transforms = tf.stack(
        [
            fix(a),
            fix(b),
            fix(c + a * 0.5 + b * 0.5) + 0.5,
            fix(d),
            fix(e),
            fix(f + d * 0.5 + e * 0.5) + 0.5,
            zeros,
            zeros,
        ],
        axis=-1,
    )
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1], [0, 0]])
    fixed_point = tf.raw_ops.ImageProjectiveTransformV3(
        images=padded,
        transforms=tf.cast(transforms, tf.float32),
        output_shape=tf.stack([height, width]),
        fill_value=tf.constant(0.0, tf.float32),
        interpolation="NEAREST",
        fill_mode="CONSTANT",
    )

    # Pillow's scale path (b == d == 0: no rotation, no shear): per axis the source
    # coordinate starts at c + a/2 and grows by a, accumulated in float64 one step at a
    # time; a pixel is read where floor(coordinate) is inside, else it stays 0.
    # cumsum adds sequentially along the axis, which is that accumulation.
    def source_index(start, step, size):
        steps = tf.concat([start[:, None], tf.tile(step[:, None], [1, size - 1])], axis=1)
        coord = tf.cumsum(steps, axis=1)
        index = tf.cast(tf.floor(coord), tf.int32)
        inside = (coord >= 0.0) & (index < size)
        return tf.where(inside, index, size)  # `size` = the zero row/column appended below

    cols = source_index(c + a * 0.5, a, width)
    rows = source_index(f + e * 0.5, e, height)
    padded_end = tf.pad(images, [[0, 0], [0, 1], [0, 1], [0, 0]])
    scaled = tf.gather(padded_end, rows, axis=1, batch_dims=1)
    scaled = tf.gather(scaled, cols, axis=2, batch_dims=1)

    is_scale = (b == 0.0) & (d == 0.0)
    return tf.where(is_scale[:, None, None, None], scaled, fixed_point)


def _round15(x: tf.Tensor) -> tf.Tensor:
    """Python's ``round(x, 15)`` for |x| <= 1 (as Pillow rounds cos and sin).

    It can differ from Python only where x * 1e15 lies within float64 rounding of a
    half-integer, and then by 1e-15, far below the 2^-16 steps of Pillow's fixed point.
    """
    return tf.round(x * 1e15) / 1e15


def rotation_matrix(angle_degrees: tf.Tensor, height, width) -> tf.Tensor:
    """Pillow's inverse matrix for ``Image.rotate(angle)`` (centre (W/2, H/2), no expand).

    Args:
      angle_degrees: float [...], counter-clockwise.
      height, width: the image size.

    Returns:
      float64 [..., 6], (a, b, c, d, e, f) as Pillow computes them, additions in its order.
    """
    angle = tf.math.floormod(tf.cast(angle_degrees, tf.float64), 360.0)
    t = -(angle * (math.pi / 180.0))  # -math.radians(angle)
    cos, sin, minus_sin = _round15(tf.cos(t)), _round15(tf.sin(t)), _round15(-tf.sin(t))
    cx = tf.cast(width, tf.float64) / 2.0
    cy = tf.cast(height, tf.float64) / 2.0
    c = (cos * -cx + sin * -cy) + cx
    f = (minus_sin * -cx + cos * -cy) + cy
    return tf.stack([cos, sin, c, minus_sin, cos, f], axis=-1)


def affine_matrix(scale: tf.Tensor, shear_degrees: tf.Tensor, height, width) -> tf.Tensor:
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
    d = tf.zeros_like(scale) * -1.0  # -0.0 / scale: torchvision's -c with c = 0
    c = (a * -cx + b * -cy) + cx
    f = (d * -cx + a * -cy) + cy
    return tf.stack([a, b, c, d, a, f], axis=-1)


def horizontal_flip(image: tf.Tensor, flip=True) -> tf.Tensor:
    """``F.hflip`` where ``flip`` is true.

    Args:
      image: uint8 [..., H, W, 3].
      flip: bool [...] (default: always).

    Returns:
      uint8 [..., H, W, 3].
    """
    image = _check_image(image)
    flip = tf.convert_to_tensor(flip, tf.bool)
    return tf.where(flip[..., None, None, None], tf.reverse(image, axis=[-2]), image)


def rotate(image: tf.Tensor, angle_degrees) -> tf.Tensor:
    """``F.rotate(img, angle, NEAREST, expand=False, center=None, fill=0)`` on a PIL image.

    Args:
      image: uint8 [..., H, W, 3].
      angle_degrees: float [...], counter-clockwise (RandomRotation's angle).

    Returns:
      uint8 [..., H, W, 3]; corners that come from outside the image are 0.
    """
    images, leading = _as_batch(_check_image(image))
    shape = tf.shape(images)
    matrix = rotation_matrix(_param(angle_degrees, leading, tf.float32), shape[1], shape[2])
    return tf.reshape(_pillow_affine_nearest(images, matrix), tf.shape(image))


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
    shape = tf.shape(images)
    matrix = affine_matrix(
        _param(scale, leading, tf.float32),
        _param(shear_degrees, leading, tf.float32),
        shape[1],
        shape[2],
    )
    return tf.reshape(_pillow_affine_nearest(images, matrix), tf.shape(image))


# ----------------------------------------------------------------------------- colour


def grayscale(image: tf.Tensor) -> tf.Tensor:
    """Pillow's RGB -> 'L': (19595 R + 38470 G + 7471 B + 32768) >> 16.

    Args:
      image: uint8 [..., H, W, 3].

    Returns:
      int32 [..., H, W] in 0..255.
    """
    x = tf.cast(image, tf.int32)
    weighted = 19595 * x[..., 0] + 38470 * x[..., 1] + 7471 * x[..., 2] + 32768
    return tf.bitwise.right_shift(weighted, 16)


def _blend(degenerate: tf.Tensor, image: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """Pillow's ``Image.blend(degenerate, image, factor)``: float32 D + factor * (img - D),
    clipped to [0, 255] and truncated to uint8.

    Args:
      degenerate: int32, broadcastable to image.
      image: uint8 [..., H, W, 3].
      factor: float32 [...].
    """
    x = tf.cast(image, tf.int32)
    diff = tf.cast(x - degenerate, tf.float32)
    out = tf.cast(degenerate, tf.float32) + factor[..., None, None, None] * diff
    return tf.cast(tf.clip_by_value(out, 0.0, 255.0), tf.uint8)


def _contrast_mean(gray: tf.Tensor) -> tf.Tensor:
    """``int(ImageStat.Stat(L).mean[0] + 0.5)``: int32 [...] from int32 [..., H, W]."""
    total = tf.reduce_sum(tf.cast(gray, tf.int64), axis=[-2, -1])
    count = tf.cast(tf.shape(gray)[-2] * tf.shape(gray)[-1], tf.float64)
    return tf.cast(tf.floor(tf.cast(total, tf.float64) / count + 0.5), tf.int32)


def adjust_brightness(image: tf.Tensor, factor) -> tf.Tensor:
    """``F.adjust_brightness`` on a PIL image: blend with black.

    Args:
      image: uint8 [..., H, W, 3].
      factor: float32 [...]; 1 = unchanged.

    Returns:
      uint8 [..., H, W, 3].
    """
    image = _check_image(image)
    return _blend(tf.zeros([], tf.int32), image, tf.convert_to_tensor(factor, tf.float32))


def adjust_contrast(image: tf.Tensor, factor) -> tf.Tensor:
    """``F.adjust_contrast`` on a PIL image: blend with the image's mean gray level
    (Pillow's integer grayscale, its mean rounded half up).

    Args:
      image: uint8 [..., H, W, 3].
      factor: float32 [...]; 1 = unchanged.

    Returns:
      uint8 [..., H, W, 3].
    """
    image = _check_image(image)
    mean = _contrast_mean(grayscale(image))
    return _blend(mean[..., None, None, None], image, tf.convert_to_tensor(factor, tf.float32))


def adjust_saturation(image: tf.Tensor, factor) -> tf.Tensor:
    """``F.adjust_saturation`` on a PIL image: blend with its grayscale.

    Args:
      image: uint8 [..., H, W, 3].
      factor: float32 [...]; 1 = unchanged.

    Returns:
      uint8 [..., H, W, 3].
    """
    image = _check_image(image)
    gray = grayscale(image)[..., None]
    return _blend(gray, image, tf.convert_to_tensor(factor, tf.float32))


def color_jitter(image: tf.Tensor, order, brightness, contrast, saturation) -> tf.Tensor:
    """ColorJitter's ops in the given order (hue off), each rounded to uint8 as in PIL.

    Args:
      image: uint8 [..., H, W, 3].
      order: int32 [..., 3], a permutation of (BRIGHTNESS, CONTRAST, SATURATION) = (0, 1, 2),
        e.g. ``JITTER_ORDERS[i]``; see ``jitter_order_index`` for torchvision's fn_idx.
      brightness, contrast, saturation: float32 [...] factors; 1 = that op is off.

    Returns:
      uint8 [..., H, W, 3].
    """
    image = _check_image(image)
    order = tf.convert_to_tensor(order, tf.int32)
    factors = [tf.broadcast_to(tf.convert_to_tensor(v, tf.float32), tf.shape(order)[:-1])
               for v in (brightness, contrast, saturation)]
    # One blend per step: pick each image's degenerate image and factor for the op it
    # applies now (the three ops differ only in those), so a batch needs no branches.
    for step in range(3):
        op = order[..., step]
        gray = grayscale(image)
        mean = _contrast_mean(gray)
        degenerate = tf.where(
            (op == BRIGHTNESS)[..., None, None],
            tf.zeros_like(gray),
            tf.where((op == CONTRAST)[..., None, None], mean[..., None, None] + tf.zeros_like(gray), gray),
        )
        factor = tf.where(op == BRIGHTNESS, factors[0], tf.where(op == CONTRAST, factors[1], factors[2]))
        image = _blend(degenerate[..., None], image, factor)
    return image


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


def sample_params(seed: tf.Tensor, config: AugmentConfig = AugmentConfig()) -> AugmentParams:
    """Draws one image's parameters with torchvision's distributions.

    flip: u < 0.5; angle ~ U(-r, r); scale ~ U(lo, hi); shear ~ U(-s, s); the colour order
    uniform over the 6 ``JITTER_ORDERS``; each factor ~ U(max(0, 1 - v), 1 + v). An op that
    is off keeps its identity value. Each parameter owns a fixed slot of the draw, so
    switching one op off never changes the others.

    Args:
      seed: int32/int64 [2], a stateless seed (one per image, e.g. from (seed, epoch, index)).
      config: what to draw.

    Returns:
      AugmentParams of scalars (order int32 [3]).
    """
    seed = tf.convert_to_tensor(seed)
    keys = tf.random.experimental.stateless_split(seed, num=2)
    u = tf.random.stateless_uniform([7], seed=keys[0], dtype=tf.float32)
    order_index = tf.random.stateless_uniform([], seed=keys[1], minval=0, maxval=6, dtype=tf.int32)

    def uniform(slot, lo, hi):
        return tf.constant(lo, tf.float32) + tf.constant(hi - lo, tf.float32) * u[slot]

    def factor(slot, amount):
        return uniform(slot, max(0.0, 1.0 - amount), 1.0 + amount) if amount > 0 else one

    one, zero = tf.constant(1.0, tf.float32), tf.constant(0.0, tf.float32)
    r, s = float(config.rotation_degrees), float(config.shear_degrees)
    return AugmentParams(
        flip=u[0] < 0.5 if config.flip else tf.constant(False),
        angle=uniform(1, -r, r) if r > 0 else zero,
        scale=uniform(2, *config.scale) if config.scale is not None else one,
        shear=uniform(3, -s, s) if s > 0 else zero,
        order=tf.gather(tf.constant(JITTER_ORDERS, tf.int32), order_index),
        brightness=factor(4, config.brightness),
        contrast=factor(5, config.contrast),
        saturation=factor(6, config.saturation),
    )


def sample_params_batch(seeds: tf.Tensor, config: AugmentConfig = AugmentConfig()) -> AugmentParams:
    """``sample_params`` for each of a batch of seeds.

    Args:
      seeds: int32/int64 [B, 2].

    Returns:
      AugmentParams with a leading [B] (order int32 [B, 3]).
    """
    seeds = tf.convert_to_tensor(seeds)
    spec = AugmentParams(
        flip=tf.TensorSpec([], tf.bool),
        angle=tf.TensorSpec([], tf.float32),
        scale=tf.TensorSpec([], tf.float32),
        shear=tf.TensorSpec([], tf.float32),
        order=tf.TensorSpec([3], tf.int32),
        brightness=tf.TensorSpec([], tf.float32),
        contrast=tf.TensorSpec([], tf.float32),
        saturation=tf.TensorSpec([], tf.float32),
    )
    return tf.map_fn(lambda s: sample_params(s, config), seeds, fn_output_signature=spec)


def apply_params(image: tf.Tensor, params: AugmentParams) -> tf.Tensor:
    """The whole PIL chain with fixed parameters: flip, rotate, affine, colour jitter.

    Args:
      image: uint8 [..., H, W, 3].
      params: AugmentParams with the image's leading shape.

    Returns:
      uint8 [..., H, W, 3] (apply ``to_float_normalized`` for ToTensor + Normalize).
    """
    image = horizontal_flip(image, params.flip)
    image = rotate(image, params.angle)
    image = affine(image, params.scale, params.shear)
    return color_jitter(image, params.order, params.brightness, params.contrast, params.saturation)


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
