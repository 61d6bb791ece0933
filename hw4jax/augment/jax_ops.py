"""torchvision-exact CIFAR-10 augmentation as pure JAX functions: jit, vmap, any device.

The JAX backend of ``hw4jax.augment.spec`` (``tf_ops`` is the TensorFlow one): given the
same parameters, every op returns the pixels torchvision's PIL path returns, bit for bit,
and the same as ``tf_ops``. Each op is a pure function of uint8 images ``[..., H, W, 3]``
and explicit parameters, which are scalars or arrays that broadcast to the leading shape
``[...]``; they run eagerly, under ``jit`` and under ``vmap``, on CPU and GPU, with no
host callback and no float64 (x64 is never touched). How, without float64, when XLA fuses
float32 multiplies into the adds that follow them (``_exact`` has the arithmetic):

* Pillow's warp matrices are computed in exact fixed point from int32 arithmetic: each
  coefficient of its 16.16 fixed point is floor(65536 m + 0.5) of a matrix entry m that
  is linear, with constant dyadic coefficients, in a few per-image values (cos and sin
  of the angle; 1/s and tan(shear)/s). ``spec``'s formulas are evaluated once on symbols
  to get those coefficients, and each image's values (by exact reduction and Taylor
  series, long division, Newton's method; 64 bits after the point, finer than float64's
  own rounding) enter an exact integer sum. Output pixel (x, y) then reads
  (A2 + x A0 + y A1) >> 16, (A5 + x A3 + y A4) >> 16 in int32. Where Pillow takes its
  float64 "scale" path instead (an affine with shear exactly 0), its float64 additions
  are replayed rounding by rounding. Flip, rotation and affine compose into one source
  map and one gather.
* The colour ops are Pillow's float32 blends with the product made exact before the add
  (the factor's two 12-bit halves times the integer difference: one rounding, fused or
  not); grayscale and the contrast mean are exact integer arithmetic.
* ToTensor + Normalize is a 256-entry table (``spec.normalize`` evaluated by numpy in
  IEEE float32): XLA rewrites ``x / 255`` as ``x * (1 / 255)``, which differs.

The ops are built from a few jitted pieces (source maps, the gather, the jitter, the
output), so eager calls of different ops share compiled code, and under one ``jit`` the
pieces two ops share are compiled once.

Parameter draws: ``sample_params_from_uniforms`` is ``spec.params_from_uniforms`` (the
function the tf.data pipeline uses) with float32 products computed exactly, so the same
uniforms give the same parameters as ``tf_ops`` on any backend; ``sample_params`` and
``random_augment`` take a JAX PRNG key first (dm_pix style).

Exactness domain (beyond it the ops still run, without the guarantee): angles any
float32, shears any float32 away from +-90 degrees (tan is infinite there), scales in
[2^-10, 2^10], images up to 2048 pixels a side, and parameters for which Pillow itself
keeps to fixed point (source coordinates below 32768, as with every sane parameter).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from hw4jax.augment import _exact, spec
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

# ----------------------------------------------------------------------------- checks


def _check_image(image) -> jax.Array:
    dtype = getattr(image, "dtype", None)
    if dtype is None or np.dtype(dtype) != np.uint8:
        got = np.asarray(image).dtype if dtype is None else dtype
        raise ValueError(
            f"images must be uint8 (as PIL holds them), got {got}; convert 0..255 integers "
            "with .astype(jnp.uint8) (the ops do not rescale floats)"
        )
    shape = jnp.shape(image)
    if len(shape) < 3 or shape[-1] != 3 or shape[-2] < 1 or shape[-3] < 1:
        raise ValueError(
            f"images must be [..., H, W, 3] RGB (channels last), got shape {tuple(shape)}; "
            "transpose a CHW image with jnp.moveaxis(image, -3, -1)"
        )
    if max(shape[-3], shape[-2]) > 2048:
        raise ValueError(f"images must be at most 2048 pixels a side, got {shape[-3]}x{shape[-2]}")
    return jnp.asarray(image)


def _param(value, leading: tuple[int, ...], dtype, name: str, trailing: tuple[int, ...] = ()):
    """A parameter as ``dtype`` [*leading, *trailing], flattened to [B, *trailing]."""
    value = jnp.asarray(value, dtype)
    want = leading + trailing
    try:
        ok = np.broadcast_shapes(value.shape, want) == want
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{name} has shape {value.shape}, which does not broadcast to the images' "
            f"leading shape {leading}{' + ' + str(trailing) if trailing else ''}; pass a "
            f"scalar or one value per image"
        )
    return jnp.broadcast_to(value, want).reshape((-1,) + trailing)


def _batch(image):
    """[..., H, W, 3] -> ([B, H, W, 3], leading shape)."""
    image = _check_image(image)
    return image.reshape((-1,) + image.shape[-3:]), image.shape[:-3]


def _check_order(order) -> None:
    try:
        values = np.asarray(order)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return  # traced: the values are not known here
    if values.shape[-1:] != (3,) or not np.all(np.sort(values, axis=-1) == np.arange(3)):
        raise ValueError(
            "the colour order must hold permutations of (0, 1, 2) (e.g. JITTER_ORDERS[i]; "
            f"jitter_order_index maps torchvision's fn_idx), got {values.tolist()}"
        )


# ----------------------------------------------------------------------------- warps
#
# A nearest warp is held as its source map, int32 [B, H * W]: for each output pixel
# (row-major) the flat index y * W + x of the input pixel it copies, or H * W for
# "outside" (filled with 0). Chained warps compose by indexing one map with the next.
#
# Pillow's fixed-point coefficients are FIX of matrix entries that are linear, with
# constant dyadic coefficients, in a few per-image values: cos and sin of the angle for
# the rotation, 1/s and tan(shear)/s for the affine. So spec's formulas are evaluated
# once per image size, on symbols (``_exact.LinearForm``), and each image's coefficients
# are exact integer sums of its values (``_exact.floor_linear``).

_ROTATION_SYMBOLS = ("1", "cos", "sin")
_AFFINE_SYMBOLS = ("1", "1/s", "tan/s")  # 1.0 / scale and tan(radians(shear)) / scale


def _fix_forms(matrix) -> tuple:
    """spec.fix of spec.fixed_point_arguments(matrix) before its floor, on symbols."""
    return tuple(spec.fix(v, lambda w: w) for v in spec.fixed_point_arguments(matrix))


@functools.cache
def _rotation_forms(height: int, width: int) -> tuple:
    cos, sin = _exact.LinearForm({"cos": 1}), _exact.LinearForm({"sin": 1})
    # Pillow rotates by t = -angle: cos t = cos, sin t = -sin.
    return _fix_forms(spec.rotation_matrix(cos, -sin, sin, spec.centre(width), spec.centre(height)))


@functools.cache
def _affine_forms(height: int, width: int) -> tuple:
    scale = _exact.LinearDivisor({"1": "1/s", "tan": "tan/s"})
    tan = _exact.LinearForm({"tan": 1})
    return _fix_forms(spec.affine_matrix(scale, tan, spec.centre(width), spec.centre(height)))


def _values(*fixed: _exact.Fixed) -> _exact.Fixed:
    """Fixed [B] values, after the constant 1, as Fixed [B, 1 + len(fixed)]."""
    one = _exact.Fixed.constant(1, fixed[0].shape)
    return _exact.Fixed(jnp.stack([one.limbs] + [v.limbs for v in fixed], axis=-2))


def _fixed_point_map(coefficients, height: int, width: int):
    """Source columns and rows int32 [B, H, W] on Pillow's fixed-point path, from its
    coefficients int32 [B, 6].

    ``spec.fixed_point_source`` as one integer matrix product of each image's
    coefficients with the pixel grid (x, y, 1) (exact: every sum stays below 2^31).
    Besides, a product is where XLA stops fusing: as elementwise arithmetic, the long
    integer computation of the coefficients was fused into, and repeated for, every pixel.
    """
    x, y = (
        v.reshape(-1)
        for v in jnp.meshgrid(
            jnp.arange(width, dtype=jnp.int32), jnp.arange(height, dtype=jnp.int32)
        )
    )
    grid = jnp.stack([x, y, jnp.ones_like(x)])  # [3, H * W]
    sums = jnp.einsum("bkc,cp->bkp", coefficients.reshape(-1, 2, 3), grid)
    col, row = (sums >> 16).reshape(-1, 2, height, width).transpose(1, 0, 2, 3)
    return col, row


def _scale_path_coordinates(rounded_inverse: _exact.Fixed, height: int, width: int):
    """Pillow's ImagingScaleAffine for the affine with shear 0 (b == d == 0): the source
    column of each output column and row of each output row, int32 [B, W] and [B, H]
    (Pillow's COORD: -1 below 0), from its float64 arithmetic replayed exactly.

    With a = 1.0 / s (float64, ``rounded_inverse``) and b = d = 0, spec.affine_matrix
    gives c = (a * -cx + b * -cy) + cx = fl(fl(a * -cx) + cx) (adding b * -cy = -0.0
    changes nothing), and f likewise with cy; spec.scale_path_start then adds a * 0.5
    (exact), and each next pixel adds a. So per axis (centre m): v = fl(a * -m),
    v = fl(v + m), v = fl(v + a / 2), then COORD(v) and v = fl(v + a) per pixel: one
    loop of float64 additions, the axes x and y side by side.
    """
    a = rounded_inverse[:, None]  # [B, 1]
    centre = _exact.Fixed.constant_vector([spec.centre(width), spec.centre(height)])  # x, y
    first = a * -centre  # [B, 2], exact
    shape = first.limbs.shape
    # The additions before the pixels' own: 0 (to round a * -m), m, a / 2.
    addends = [
        jnp.zeros(shape, jnp.int32),
        jnp.broadcast_to(centre.limbs, shape),
        jnp.broadcast_to((a * 0.5).limbs, shape),
    ]
    steps = max(height, width)
    addends = jnp.stack(addends + [jnp.broadcast_to(a.limbs, shape)] * steps)

    def add(v, addend):
        # Pillow: xin = COORD(xo); ...; xo += a[0] (float64: one rounding per addition).
        return (v + _exact.Fixed(addend)).round53(), v.pillow_coord()

    _, coords = lax.scan(add, first, addends)  # [3 + steps, B, 2]; the first 3 unused
    return coords[3 : 3 + width, :, 0].T, coords[3 : 3 + height, :, 1].T


def _flat(col, row, height: int, width: int) -> jax.Array:
    """Source columns and rows [B, H, W] -> source map int32 [B, H * W]."""
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    flat = jnp.where(inside, row * width + col, height * width)
    return flat.reshape(flat.shape[0], -1)


@functools.partial(jax.jit, static_argnames=("height", "width"))
def _rotation_source(angle, flip, height: int, width: int) -> jax.Array:
    """Source map of ``rotate`` by float32 [B] degrees, after a flip (bool [B]) of its
    input.

    Always Pillow's fixed-point path: where Pillow would not take it (angles of 0 or
    180 degrees mod 360, and tiny ones), the matrix is +-identity up to an offset and
    both paths give the same source pixels.
    """
    cos, sin = _exact.cos_sin_degrees(angle)
    coefficients = _exact.floor_linear(
        _rotation_forms(height, width), _ROTATION_SYMBOLS, _values(cos, sin)
    )
    col, row = _fixed_point_map(coefficients, height, width)
    # Flipped before the rotation: the rotation reads column W - 1 - col of the input.
    col = jnp.where(flip[:, None, None] & (col >= 0) & (col < width), width - 1 - col, col)
    return _flat(col, row, height, width)


@functools.partial(jax.jit, static_argnames=("height", "width"))
def _affine_source(scale, shear, height: int, width: int) -> jax.Array:
    """Source map of ``affine`` by float32 [B] scales and shears (degrees)."""
    inverse, rounded_inverse = _exact.reciprocal(scale)
    cos, sin = _exact.cos_sin_degrees(shear)
    coefficients = _exact.floor_linear(
        _affine_forms(height, width), _AFFINE_SYMBOLS, _values(inverse, (sin / cos) * inverse)
    )
    col, row = _fixed_point_map(coefficients, height, width)
    scale_path = shear == 0  # tan(0) = 0: b == d == 0, Pillow's scale path

    def unused(v):  # no image of the batch takes the scale path (the usual case)
        n = v.limbs.shape[0]
        return jnp.zeros((n, width), jnp.int32), jnp.zeros((n, height), jnp.int32)

    cols, rows = lax.cond(
        jnp.any(scale_path),
        lambda v: _scale_path_coordinates(v, height, width),
        unused,
        rounded_inverse,
    )
    pick = scale_path[:, None, None]
    col = jnp.where(pick, jnp.broadcast_to(cols[:, None, :], col.shape), col)
    row = jnp.where(pick, jnp.broadcast_to(rows[:, :, None], row.shape), row)
    return _flat(col, row, height, width)


@functools.partial(jax.jit, static_argnames=("height", "width"))
def _flip_source(flip, height: int, width: int) -> jax.Array:
    x = jnp.arange(width, dtype=jnp.int32)
    col = jnp.where(flip[:, None, None], width - 1 - x, x)
    row = jnp.arange(height, dtype=jnp.int32)[:, None]
    shape = (flip.shape[0], height, width)
    return _flat(jnp.broadcast_to(col, shape), jnp.broadcast_to(row, shape), height, width)


# Pixels travel packed, R + 256 G + 65536 B in one int32 [B, H * W]: one gather moves all
# three channels, and one array carries them from step to step (three separate planes
# made XLA repeat the gather, and each step before, for every plane that read them).


@jax.jit
def _move(images, *sources) -> jax.Array:
    """uint8 [B, H, W, 3] moved by source maps [B, H * W], applied in order -> packed
    pixels int32 [B, H * W]; outside reads 0."""
    flat = images.reshape(images.shape[0], -1, 3).astype(jnp.int32)
    packed = flat[..., 0] | (flat[..., 1] << 8) | (flat[..., 2] << 16)
    if not sources:
        return packed
    source = sources[0]
    outside = jnp.full(source.shape[:1] + (1,), source.shape[1], source.dtype)
    for then in sources[1:]:  # warp `then` reads what the warps before it produced
        source = jnp.take_along_axis(jnp.concatenate([source, outside], axis=1), then, axis=1)
    padded = jnp.concatenate([packed, jnp.zeros_like(packed[:, :1])], axis=1)
    return jnp.take_along_axis(padded, source, axis=1)


@functools.partial(jax.jit, static_argnames="shape")
def _to_uint8(packed, shape) -> jax.Array:
    """Packed pixels int32 [B, H * W] -> uint8 ``shape`` [B, H, W, 3]."""
    channels = [(packed >> shift) & 255 for shift in (0, 8, 16)]
    return jnp.stack(channels, axis=-1).astype(jnp.uint8).reshape(shape)


def horizontal_flip(image, flip=True) -> jax.Array:
    """``F.hflip`` where ``flip`` is true.

    Args:
      image: uint8 [..., H, W, 3].
      flip: bool [...] (default: always).

    Returns:
      uint8 [..., H, W, 3].
    """
    images, leading = _batch(image)
    height, width = images.shape[1:3]
    source = _flip_source(_param(flip, leading, jnp.bool_, "flip"), height, width)
    return _to_uint8(_move(images, source), images.shape).reshape(image.shape)


def rotate(image, angle) -> jax.Array:
    """``F.rotate(img, angle, NEAREST, expand=False, center=None, fill=0)`` on a PIL
    image: what ``RandomRotation`` applies.

    Args:
      image: uint8 [..., H, W, 3].
      angle: float32 [...], degrees counter-clockwise.

    Returns:
      uint8 [..., H, W, 3]; pixels that come from outside the image are 0.
    """
    images, leading = _batch(image)
    height, width = images.shape[1:3]
    angle = _param(angle, leading, jnp.float32, "angle")
    source = _rotation_source(angle, jnp.zeros(angle.shape, bool), height, width)
    return _to_uint8(_move(images, source), images.shape).reshape(image.shape)


def affine(image, scale, shear) -> jax.Array:
    """``F.affine(img, angle=0, translate=(0, 0), scale, shear=(shear, 0), NEAREST,
    fill=0)`` on a PIL image: what ``RandomAffine(0, shear=..., scale=...)`` applies.

    Args:
      image: uint8 [..., H, W, 3].
      scale: float32 [...], > 0.
      shear: float32 [...], the x-shear in degrees.

    Returns:
      uint8 [..., H, W, 3].
    """
    images, leading = _batch(image)
    height, width = images.shape[1:3]
    source = _affine_source(
        _param(scale, leading, jnp.float32, "scale"),
        _param(shear, leading, jnp.float32, "shear"),
        height,
        width,
    )
    return _to_uint8(_move(images, source), images.shape).reshape(image.shape)


# ----------------------------------------------------------------------------- colour


def _exact_product(factor, difference):
    """float32 factor * difference rounded once, never fused into the add that follows.

    ``difference`` holds integers of at most 8 bits and a sign; each 12-bit half of the
    factor times it is exact, so their sum is the product rounded once, whether or not
    XLA fuses either multiply into that add.
    """
    hi, lo = _exact.split(factor)
    return hi * difference + lo * difference


@jax.jit
def _jitter(packed, order, brightness, contrast, saturation):
    """ColorJitter's ops in ``order`` (int32 [B, steps]) on packed pixels int32 [B, N],
    each a Pillow blend rounded to integers as PIL's uint8 result is; factors float32 [B].

    A loop over the steps, so that each step's pixels are computed once and stored: fused
    into one expression, XLA recomputed every earlier step for each use of a pixel.
    """
    count = packed.shape[1]

    def step(i, packed):
        planes = [((packed >> shift) & 255).astype(jnp.float32) for shift in (0, 8, 16)]
        op = lax.dynamic_index_in_dim(order, i, axis=1)  # [B, 1]
        gray = spec.grayscale(*planes, jnp.floor)
        total = jnp.sum(gray.astype(jnp.int32), axis=1, keepdims=True)  # exact
        mean = spec.rounded_mean(total, count).astype(jnp.float32)
        degenerate = jnp.where(op == CONTRAST, mean, jnp.where(op == SATURATION, gray, 0.0))
        factor = jnp.where(
            op == CONTRAST,
            contrast[:, None],
            jnp.where(op == SATURATION, saturation[:, None], brightness[:, None]),
        )
        r, g, b = (
            spec.blend(
                degenerate, x, factor, product=_exact_product, floor=jnp.floor, clip=jnp.clip
            ).astype(jnp.int32)
            for x in planes
        )
        return r | (g << 8) | (b << 16)

    return lax.fori_loop(0, order.shape[1], step, packed)


def _colour_op(op: int, image, factor, name: str) -> jax.Array:
    images, leading = _batch(image)
    factors = [jnp.ones(images.shape[:1], jnp.float32)] * 3
    factors[op] = _param(factor, leading, jnp.float32, name)
    order = jnp.full(images.shape[:1] + (1,), op, jnp.int32)
    return _to_uint8(_jitter(_move(images), order, *factors), images.shape).reshape(image.shape)


def grayscale(image) -> jax.Array:
    """Pillow's RGB -> 'L': (19595 R + 38470 G + 7471 B + 32768) >> 16.

    Args:
      image: uint8 [..., H, W, 3].

    Returns:
      uint8 [..., H, W].
    """
    return _grayscale(_check_image(image))


@jax.jit
def _grayscale(image):
    rgb = [image[..., i].astype(jnp.float32) for i in range(3)]
    return spec.grayscale(*rgb, jnp.floor).astype(jnp.uint8)


def adjust_brightness(image, factor) -> jax.Array:
    """``F.adjust_brightness`` on a PIL image: blend with black.

    Args:
      image: uint8 [..., H, W, 3].
      factor: float32 [...]; 1 = unchanged.

    Returns:
      uint8 [..., H, W, 3].
    """
    return _colour_op(BRIGHTNESS, image, factor, "factor")


def adjust_contrast(image, factor) -> jax.Array:
    """``F.adjust_contrast`` on a PIL image: blend with the image's mean gray level
    (Pillow's integer grayscale, mean rounded half up: ``int(mean + 0.5)``).

    Args:
      image: uint8 [..., H, W, 3].
      factor: float32 [...]; 1 = unchanged.

    Returns:
      uint8 [..., H, W, 3].
    """
    return _colour_op(CONTRAST, image, factor, "factor")


def adjust_saturation(image, factor) -> jax.Array:
    """``F.adjust_saturation`` on a PIL image: blend with its grayscale.

    Args:
      image: uint8 [..., H, W, 3].
      factor: float32 [...]; 1 = unchanged.

    Returns:
      uint8 [..., H, W, 3].
    """
    return _colour_op(SATURATION, image, factor, "factor")


def color_jitter(image, order, brightness, contrast, saturation) -> jax.Array:
    """ColorJitter's ops in the given order (hue off), each rounded to uint8 as in PIL.

    Args:
      image: uint8 [..., H, W, 3].
      order: int32 [..., 3], a permutation of (BRIGHTNESS, CONTRAST, SATURATION) =
        (0, 1, 2), e.g. ``JITTER_ORDERS[i]``; ``jitter_order_index`` maps torchvision's
        fn_idx. (Checked where its values are known, i.e. not under ``jit``.)
      brightness, contrast, saturation: float32 [...] factors; 1 = that op is off.

    Returns:
      uint8 [..., H, W, 3].
    """
    images, leading = _batch(image)
    _check_order(order)
    order = _param(order, leading, jnp.int32, "order", (3,))
    factors = [
        _param(v, leading, jnp.float32, name)
        for v, name in [
            (brightness, "brightness"),
            (contrast, "contrast"),
            (saturation, "saturation"),
        ]
    ]
    packed = _jitter(_move(images), order, *factors)
    return _to_uint8(packed, images.shape).reshape(image.shape)


# The 256 values of ToTensor + Normalize, computed once by numpy's IEEE float32 division.
_NORMALIZED = spec.normalize(np.arange(256, dtype=np.float32)).astype(np.float32)


def to_float_normalized(image) -> jax.Array:
    """ToTensor then Normalize((0.5,) * 3, (0.5,) * 3), bitwise as torch computes it,
    but kept HWC (Flax's layout) instead of CHW.

    Args:
      image: uint8 [..., H, W, 3].

    Returns:
      float32 [..., H, W, 3] in [-1, 1]: (x / 255 - 0.5) / 0.5.
    """
    return _normalized(_check_image(image))


@jax.jit
def _normalized(image):
    return jnp.asarray(_NORMALIZED)[image.astype(jnp.int32)]


@functools.partial(jax.jit, static_argnames="shape")
def _packed_normalized(packed, shape) -> jax.Array:
    """Packed pixels int32 [B, H * W] -> float32 ``shape`` [B, H, W, 3], normalized."""
    table = jnp.asarray(_NORMALIZED)
    channels = [table[(packed >> shift) & 255] for shift in (0, 8, 16)]
    return jnp.stack(channels, axis=-1).reshape(shape)


# ----------------------------------------------------------------------------- chain


def _batch_params(params: AugmentParams, leading) -> AugmentParams:
    if not isinstance(params, AugmentParams):
        raise ValueError(f"params must be an AugmentParams, got {type(params).__name__}")
    _check_order(params.order)
    dtypes = {"flip": jnp.bool_, "order": jnp.int32}
    return AugmentParams(
        **{
            name: _param(
                value,
                leading,
                dtypes.get(name, jnp.float32),
                f"params.{name}",
                (3,) if name == "order" else (),
            )
            for name, value in params._asdict().items()
        }
    )


def _chain(image, params: AugmentParams):
    """flip -> rotate -> affine (one source map, one gather) -> colour jitter: packed
    pixels int32 [B, H * W], and the batch's shape [B, H, W, 3]."""
    images, leading = _batch(image)
    p = _batch_params(params, leading)
    height, width = images.shape[1:3]
    packed = _move(
        images,
        _rotation_source(p.angle, p.flip, height, width),
        _affine_source(p.scale, p.shear, height, width),
    )
    return _jitter(packed, p.order, p.brightness, p.contrast, p.saturation), images.shape


def apply_params(image, params: AugmentParams) -> jax.Array:
    """The whole PIL chain with fixed parameters: flip, rotate, affine, colour jitter.

    Equals ``horizontal_flip``, ``rotate``, ``affine`` and ``color_jitter`` applied one
    after the other (the three warps compose into one source map and one gather).

    Args:
      image: uint8 [..., H, W, 3].
      params: AugmentParams broadcasting to the image's leading shape.

    Returns:
      uint8 [..., H, W, 3] (then ``to_float_normalized`` for ToTensor + Normalize).
    """
    packed, shape = _chain(image, params)
    return _to_uint8(packed, shape).reshape(jnp.shape(image))


def apply_params_normalized(image, params: AugmentParams) -> jax.Array:
    """``to_float_normalized(apply_params(image, params))``, bit for bit, without the
    uint8 round trip: what a training step feeds the model.

    Args:
      image: uint8 [..., H, W, 3].
      params: AugmentParams broadcasting to the image's leading shape.

    Returns:
      float32 [..., H, W, 3] in [-1, 1].
    """
    packed, shape = _chain(image, params)
    return _packed_normalized(packed, shape).reshape(jnp.shape(image))


# ----------------------------------------------------------------------------- random

_SAMPLING = spec.SamplingOps(
    slot=lambda u, i: u[..., i],
    # torch's uniform_ rounds span * u, then lo + that: the exact product keeps XLA from
    # fusing the two into one FMA.
    uniform=lambda lo, span, u: jnp.float32(lo) + _exact.rounded_product(np.float32(span), u),
    order=lambda index: jnp.asarray(JITTER_ORDERS, jnp.int32)[index],
    floor_to_int32=lambda v: jnp.floor(v).astype(jnp.int32),
    minimum=jnp.minimum,
    ones_like=jnp.ones_like,
    falses_like=lambda v: jnp.zeros(jnp.shape(v), jnp.bool_),
)


def sample_params_from_uniforms(u, config: AugmentConfig = AugmentConfig()) -> AugmentParams:
    """Parameters from uniforms: float32 [..., NUM_UNIFORMS] in [0, 1) -> AugmentParams [...].

    ``spec.params_from_uniforms``, so the same uniforms give exactly the parameters
    ``tf_ops.sample_params_from_uniforms`` gives: the tf.data pipeline's row i of an
    epoch's uniforms (``input_pipeline.epoch_uniforms``), mapped here and passed to
    ``apply_params_normalized``, gives the pipeline's pixels for example i.
    """
    u = jnp.asarray(u, jnp.float32)
    if u.ndim < 1 or u.shape[-1] != NUM_UNIFORMS:
        raise ValueError(
            f"uniforms must be float32 [..., {NUM_UNIFORMS}] (one row per image, "
            f"NUM_UNIFORMS = {NUM_UNIFORMS}), got shape {u.shape}"
        )
    if not isinstance(config, AugmentConfig):
        raise ValueError(f"config must be an AugmentConfig, got {type(config).__name__}")
    return _params_from_uniforms(u, config)


@functools.partial(jax.jit, static_argnames="config")
def _params_from_uniforms(u, config):
    return spec.params_from_uniforms(u, config, _SAMPLING)


def sample_params(
    key, config: AugmentConfig = AugmentConfig(), shape: tuple[int, ...] = ()
) -> AugmentParams:
    """Draws parameters with torchvision's distributions (see ``spec.params_from_uniforms``):
    one float32 uniform per parameter per image from ``key``.

    Args:
      key: a JAX PRNG key.
      config: what to draw.
      shape: the leading shape (one image: ``()``).

    Returns:
      AugmentParams [*shape] (order int32 [*shape, 3]).
    """
    u = jax.random.uniform(key, tuple(shape) + (NUM_UNIFORMS,), jnp.float32)
    return sample_params_from_uniforms(u, config)


def random_augment(key, image, config: AugmentConfig = AugmentConfig()) -> jax.Array:
    """The homework's random train transform (up to ToTensor): ``apply_params`` of
    ``sample_params(key, config, image.shape[:-3])``. For independent per-image keys,
    ``jax.vmap`` it over ``jax.random.split(key, n)``.

    Args:
      key: a JAX PRNG key.
      image: uint8 [..., H, W, 3].
      config: the transform.

    Returns:
      uint8 [..., H, W, 3].
    """
    image = _check_image(image)
    return apply_params(image, sample_params(key, config, image.shape[:-3]))
