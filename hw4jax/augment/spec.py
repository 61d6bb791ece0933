"""The homework's augmentation as one specification, shared by both backends.

torchvision 0.29's CIFAR-10 train transform on PIL images::

    RandomHorizontalFlip() -> RandomRotation(10) -> RandomAffine(0, shear=10, scale=(0.8, 1.2))
    -> ColorJitter(0.2, 0.2, 0.2) -> ToTensor() -> Normalize((0.5,) * 3, (0.5,) * 3)

What it computes (see /work/shared/spec/augmentation.md for the derivation) is written here
once, with no array library: the configuration and the parameters, the distributions
drawn from uniforms, Pillow's warp matrices and its 16.16 fixed point, its grayscale and
blend, ToTensor + Normalize. ``tf_ops`` (TensorFlow, for tf.data) and ``jax_ops`` (JAX:
jit, vmap, any device) both call these functions: each formula is evaluated on the
backend's own numbers (TensorFlow float64 tensors; exact integer fixed point in JAX), and
a step whose arithmetic must differ between backends (a float32 product that XLA would
fuse into an FMA, say) takes that operation as an argument, ``ops``.

Importing this module imports neither TensorFlow nor JAX.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

# ----------------------------------------------------------------------------- parameters

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
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not lo <= value <= hi
    ):
        raise ValueError(f"AugmentConfig.{name} must be a number in {shown}, got {value!r}")


class AugmentParams(NamedTuple):
    """The random parameters of one image (scalars) or of many (leading axes [...]).

    Arrays of either backend. An op that is off has its identity value (no flip, angle 0,
    scale 1, shear 0, factor 1), which every op applies as an exact no-op.
    """

    flip: Any  # bool [...]: mirror left-right
    angle: Any  # float32 [...]: rotation in degrees, counter-clockwise
    scale: Any  # float32 [...]: RandomAffine scale
    shear: Any  # float32 [...]: RandomAffine x-shear in degrees
    order: Any  # int32 [..., 3]: the colour ops' order, one of JITTER_ORDERS
    brightness: Any  # float32 [...]: brightness factor
    contrast: Any  # float32 [...]: contrast factor
    saturation: Any  # float32 [...]: saturation factor


# ----------------------------------------------------------------------------- distributions

# One uniform per parameter, in these slots of one draw: each parameter depends on its own
# slot only, so switching an op off never changes the others' values.
SLOTS = ("flip", "angle", "scale", "shear", "order", "brightness", "contrast", "saturation")
NUM_UNIFORMS = len(SLOTS)  # uniforms per image (see params_from_uniforms)


class SamplingOps(NamedTuple):
    """What ``params_from_uniforms`` needs from a backend."""

    slot: Callable  # (u [..., NUM_UNIFORMS], i) -> u[..., i]
    # (lo, span, u) -> float32 lo + span * u, the product and the sum each rounded to
    # float32 (torch's uniform_; lo and span are Python floats, rounded to float32 first).
    uniform: Callable
    order: Callable  # index int32 [...] -> int32 [..., 3], rows of JITTER_ORDERS
    floor_to_int32: Callable
    minimum: Callable
    ones_like: Callable
    falses_like: Callable


def params_from_uniforms(u, config: AugmentConfig, ops: SamplingOps) -> AugmentParams:
    """torchvision's distributions from uniforms: float32 [..., NUM_UNIFORMS] in [0, 1)
    -> AugmentParams [...], elementwise (a batch gets what each image would alone).

    flip: u < 0.5; angle ~ U(-r, r); scale ~ U(lo, hi); shear ~ U(-s, s); the colour order
    uniform over the 6 ``JITTER_ORDERS``; each factor ~ U(max(0, 1 - v), 1 + v). An op that
    is off keeps its identity value.
    """
    slots = {name: ops.slot(u, i) for i, name in enumerate(SLOTS)}
    one = ops.ones_like(slots["flip"])

    def uniform(name, lo, hi):
        return ops.uniform(lo, hi - lo, slots[name])

    def factor(name, amount):  # ColorJitter: U(max(0, 1 - v), 1 + v); v = 0 leaves it out
        return uniform(name, max(0.0, 1.0 - amount), 1.0 + amount) if amount > 0 else one

    r, s = float(config.rotation_degrees), float(config.shear_degrees)
    # Uniforms take the 2^23 values k / 2^23, so floor(6 u) picks each order 1398101 or
    # 1398102 times out of 2^23: uniform to 1e-6.
    order_index = ops.minimum(ops.floor_to_int32(slots["order"] * 6.0), 5)
    return AugmentParams(
        flip=slots["flip"] < 0.5 if config.flip else ops.falses_like(slots["flip"]),
        angle=uniform("angle", -r, r) if r > 0 else 0.0 * one,
        scale=uniform("scale", *config.scale) if config.scale is not None else one,
        shear=uniform("shear", -s, s) if s > 0 else 0.0 * one,
        order=ops.order(order_index),
        brightness=factor("brightness", config.brightness),
        contrast=factor("contrast", config.contrast),
        saturation=factor("saturation", config.saturation),
    )


# ----------------------------------------------------------------------------- warps
#
# Both warps hand Pillow an inverse matrix m = (a, b, c, d, e, f): output pixel (x, y)
# reads input (a x + b y + c, d x + e y + f), NEAREST, fill 0. Pillow then takes one of
# two paths:
#   * b == d == 0: its "scale" path, per axis a float64 coordinate that starts at c + a/2
#     and grows by a per pixel (accumulated, one rounding per step), read as COORD(v) =
#     -1 if v < 0 else (int) v;
#   * otherwise 16.16 fixed point: the six FIX(fixed_point_arguments(m)) and, for output
#     pixel (x, y), source (A2 + x A0 + y A1) >> 16, (A5 + x A3 + y A4) >> 16.
# Either way a pixel whose source falls outside the image reads 0. The formulas below
# take the backend's numbers (+, -, * and / must work on them and on Python floats).

FIX_ONE = 65536  # 16.16 fixed point


def rotation_matrix(cos, sin, minus_sin, cx, cy):
    """Pillow's inverse matrix for ``Image.rotate(angle)`` (centre (cx, cy), no expand),
    with its operation order: cos and sin of -radians(angle % 360), each rounded to 15
    decimals by Pillow (``minus_sin`` is round(-sin, 15)).

    Pillow's fast paths (a copy at 0 degrees, transposes at 90, 180, 270) give the same
    pixels as this matrix on the fixed-point path does, so they need no special case.
    """
    c = (cos * -cx + sin * -cy) + cx
    f = (minus_sin * -cx + cos * -cy) + cy
    return (cos, sin, c, minus_sin, cos, f)


def affine_matrix(scale, tan_shear, cx, cy):
    """torchvision's inverse matrix for ``F.affine(angle=0, translate=(0, 0), scale,
    shear=(shear, 0))`` on a PIL image (``_get_inverse_affine_matrix``), with its
    operation order; ``tan_shear`` is tan(radians(shear)).
    """
    a = 1.0 / scale
    b = tan_shear / scale
    d = a * -0.0  # torchvision's -sin(0) * tan / cos / scale: Pillow tests d == 0 only
    c = (a * -cx + b * -cy) + cx
    f = (d * -cx + a * -cy) + cy
    return (a, b, c, d, a, f)


def fixed_point_arguments(matrix):
    """What Pillow's ``affine_fixed`` passes to FIX: the matrix with the pixel centre
    (+0.5, +0.5) folded into the offsets, in its operation order."""
    a, b, c, d, e, f = matrix
    return (a, b, c + a * 0.5 + b * 0.5, d, e, f + d * 0.5 + e * 0.5)


def fix(v, floor):
    """Pillow's FIX(v) = floor(v * 65536 + 0.5)."""
    return floor(v * float(FIX_ONE) + 0.5)


def scale_path_start(matrix):
    """Pillow's scale path (``ImagingScaleAffine``, for b == d == 0): the source x of the
    first column and y of the first row; each next column adds a, each next row e,
    accumulated in float64 one pixel at a time."""
    a, _, c, _, e, f = matrix
    return c + a * 0.5, f + e * 0.5


def fixed_point_source(coefficients, x, y, shift16):
    """The source (column, row) of output pixel (x, y) on Pillow's fixed-point path:
    ``shift16`` is an arithmetic right shift by 16 (floor(v / 65536)) in the backend's
    integer arithmetic; every term is an integer (below 2^31 where Pillow uses it)."""
    a0, a1, a2, a3, a4, a5 = coefficients
    return shift16(a2 + x * a0 + y * a1), shift16(a5 + x * a3 + y * a4)


def centre(size) -> float:
    """Pillow's and torchvision's centre of an axis of ``size`` pixels (no +0.5)."""
    return size / 2.0


# ----------------------------------------------------------------------------- colour
#
# Each ColorJitter op is Pillow's ``Image.blend(degenerate, image, factor)``: float32
# D + factor * (x - D), clipped to [0, 255], truncated to uint8 before the next op.
#   brightness: D = 0;  contrast: D = rounded_mean(grayscale);  saturation: D = grayscale.

# Pillow's RGB -> 'L' in integers: (19595 R + 38470 G + 7471 B + 32768) >> 16, exact for
# all 16.7M colours. (The textbook 0.299/0.587/0.114 with truncation is wrong on half.)
GRAY_WEIGHTS = (19595.0, 38470.0, 7471.0)
GRAY_ROUNDING = 32768.0


def grayscale(r, g, b, floor):
    """Pillow's 'L' of integer-valued R, G, B planes; every partial sum is an integer
    below 2^24, so float32 (or any wider type) computes it exactly, in any order."""
    w0, w1, w2 = GRAY_WEIGHTS
    return floor((r * w0 + g * w1 + b * w2 + GRAY_ROUNDING) * (1.0 / 65536.0))


def rounded_mean(total, count):
    """ImageEnhance.Contrast's ``int(mean + 0.5)`` of ``count`` integer levels summing to
    ``total``, as the exact integer (2 total + count) // (2 count)."""
    return (2 * total + count) // (2 * count)


def blend(degenerate, image, factor, *, product, floor, clip):
    """Pillow's ``Image.blend(degenerate, image, factor)`` on integer-valued float32:
    floor(clip(D + factor * (x - D), 0, 255)), the product and the sum each rounded to
    float32 (``product`` must round the product by itself, never fused with the add)."""
    return floor(clip(degenerate + product(factor, image - degenerate), 0.0, 255.0))


def normalize(x):
    """ToTensor then Normalize((0.5,) * 3, (0.5,) * 3) of float32 holding 0..255, in
    torch's order: (x / 255 - 0.5) / 0.5 (bitwise equal to torch in IEEE float32)."""
    return (x / 255.0 - 0.5) / 0.5
