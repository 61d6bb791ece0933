"""Exact arithmetic for ``jax_ops`` from int32 and float32 operations only: no float64.

Pillow computes its warp matrices in float64 and rounds them to 16.16 fixed point; its
blends and torch's uniform draws are float32 products followed by a sum. JAX runs float32
(x64 stays off: library code never flips it), and XLA's CPU backend fuses a float32
multiply with the add that consumes it into one FMA, which rounds once instead of twice
(``a + b * c`` under ``jit`` differs from IEEE float32 on about a quarter of random
inputs, ``optimization_barrier`` notwithstanding). So:

* ``rounded_product`` is IEEE float32 ``a * b`` computed from the operands' integer
  mantissas: there is no float multiply for XLA to fuse into the add that follows;
  ``split`` cuts a float32 into two halves of 12 significant bits, whose products with
  a small integer are exact (and an FMA of an exact product rounds as the add alone);
* ``Fixed`` is a real number in 80-bit two's-complement fixed point (five int32 limbs
  of 16 bits, 64 bits after the binary point), with exact addition, products truncated
  at 2^-64, reciprocals by long division or Newton's method, and ``cos_sin_degrees``:
  Pillow's matrices to about 2^-60, finer than float64's own rounding of them (2^-53
  relative), and bit for bit the same on every backend (it is all integer arithmetic);
  ``LinearForm`` evaluates ``spec``'s formulas on symbols, so that a matrix entry becomes
  an exact integer combination of per-image ``Fixed`` values (``floor_linear``);
* ``Fixed.round53`` rounds a ``Fixed`` to float64's 53 significant bits (half to even),
  and ``reciprocal`` is float64's correctly rounded ``1.0 / s``: with them, Pillow's
  float64 accumulation of scale-path coordinates is replayed rounding by rounding.

Everything is elementwise over any leading shape, under ``jit`` and ``vmap``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# ----------------------------------------------------------------------------- float32


def _bits(x) -> jax.Array:
    return lax.bitcast_convert_type(jnp.asarray(x, jnp.float32), jnp.uint32)


def _float(bits) -> jax.Array:
    return lax.bitcast_convert_type(bits, jnp.float32)


def split(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """float32 x = hi + lo exactly, hi the top 12 bits of the mantissa, lo the rest (at
    most 12 significant bits): either half times an integer below 2^12 is exact.

    A bit mask, not Veltkamp's ``4097 * x``, whose product a compiler may fuse."""
    hi = _float(_bits(x) & np.uint32(0xFFFFF000))
    return hi, x - hi


def rounded_product(a, b) -> jax.Array:
    """IEEE float32 ``a * b``, rounded half to even, from integer arithmetic.

    Args:
      a, b: float32, broadcastable; normal numbers or zero (a subnormal operand or result
        gives zero, as XLA's CPU flushes them; overflow gives inf).

    Returns:
      float32 of the broadcast shape.
    """
    ba, bb = jnp.broadcast_arrays(_bits(a), _bits(b))
    sign = (ba ^ bb) & np.uint32(0x80000000)
    ea, eb = (ba >> 23) & 0xFF, (bb >> 23) & 0xFF
    ma, mb = (ba & 0x7FFFFF) | 0x800000, (bb & 0x7FFFFF) | 0x800000
    # The 48-bit product of the 24-bit mantissas as hi * 2^24 + lo, from 12-bit pieces.
    ah, al, bh, bl = ma >> 12, ma & 0xFFF, mb >> 12, mb & 0xFFF
    cross = ah * bl + al * bh  # < 2^25
    lo = al * bl + ((cross & 0xFFF) << 12)  # < 2^25
    hi = ah * bh + (cross >> 12) + (lo >> 24)  # in [2^22, 2^24)
    lo = lo & 0xFFFFFF
    top = hi >= 0x800000
    mantissa = jnp.where(top, hi, (hi << 1) | (lo >> 23))
    rest = jnp.where(top, lo, (lo << 1) & 0xFFFFFF)  # the 24 bits below the mantissa
    half = np.uint32(0x800000)
    up = (rest > half) | ((rest == half) & ((mantissa & 1) == 1))
    mantissa = mantissa + up.astype(jnp.uint32)
    carry = mantissa >> 24  # rounding up reached 2^24
    exponent = (
        ea.astype(jnp.int32)
        + eb.astype(jnp.int32)
        - 127
        + top.astype(jnp.int32)
        + carry.astype(jnp.int32)
    )
    bits = sign | (exponent.astype(jnp.uint32) << 23) | ((mantissa >> carry) & 0x7FFFFF)
    bits = jnp.where(exponent >= 255, sign | np.uint32(0x7F800000), bits)
    zero = (ea == 0) | (eb == 0) | (exponent <= 0)
    return jnp.where(zero, _float(sign), _float(bits))


# ----------------------------------------------------------------------------- fixed point

_LIMBS = 5  # of 16 bits, on a trailing axis
_POINT = 64  # bits after the binary point: limbs 0..3 are the fraction
_MASK16 = 0xFFFF
_INDEX = np.arange(_LIMBS, dtype=np.int32)


def _constant_limbs(value) -> list[int]:
    """The limbs of a Python number rounded to the nearest 2^-64 (host arithmetic)."""
    n = round(Fraction(value) * 2**_POINT)
    limbs = [(n >> (16 * i)) & _MASK16 for i in range(_LIMBS - 1)] + [n >> (16 * (_LIMBS - 1))]
    if not -(2**15) <= limbs[-1] < 2**15:
        raise ValueError(f"{value} is outside Fixed's range (-2^15, 2^15)")
    return limbs


def _normalize(limbs: jax.Array, balanced: bool = False) -> jax.Array:
    """The same value with limbs 0..L-2 of int32 [..., L] in [0, 2^16) (``balanced``:
    in [-2^15, 2^15)), what they held beyond moved up; the top limb takes the sign."""
    parts = [limbs[..., i] for i in range(limbs.shape[-1])]
    for i in range(len(parts) - 1):
        carry = (parts[i] + 0x8000 if balanced else parts[i]) >> 16  # arithmetic: floor
        parts[i] = parts[i] - (carry << 16)
        parts[i + 1] = parts[i + 1] + carry
    return jnp.stack(parts, axis=-1)


def _deposit(values: jax.Array, positions: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Limbs holding sum_k values[..., k] * 2^positions[..., k] (int32, 0 <= value < 2^12,
    positions in bits from 2^-64), with bits below 2^-64 dropped, and whether any were.

    Returns:
      (int32 [..., L] limbs, bool [...]).
    """
    lost = jnp.clip(-positions, 0, 31)
    dropped = jnp.any((values & ((1 << lost) - 1)) != 0, axis=-1)
    positions = jnp.maximum(positions, 0)
    v = (values >> lost) << (positions & 15)  # < 2^28
    index = (positions >> 4)[..., None]
    limbs = jnp.where(index == _INDEX, (v & _MASK16)[..., None], 0) + jnp.where(
        index + 1 == _INDEX, (v >> 16)[..., None], 0
    )
    return jnp.sum(limbs, axis=-2), dropped


class Fixed(NamedTuple):
    """Real numbers sum_i limbs[..., i] * 2^(16 i - 64): int32 [..., 5] limbs.

    Limbs need not be normalized: sums and negations work limb by limb, and only products,
    signs, floors and roundings carry. Range (-2^15, 2^15) (Pillow's fixed-point path
    needs its coordinates inside it too), resolution 2^-64. Addition is exact, products
    keep the bits from 2^-64 up (toward -inf). Supports +, -, *, / with Fixed and Python
    numbers, so ``spec``'s matrix formulas run on it unchanged.
    """

    limbs: jax.Array

    # -- construction

    @staticmethod
    def constant(value, shape=()) -> Fixed:
        """A Python number (int, float or Fraction) to the nearest 2^-64."""
        limbs = jnp.asarray(np.array(_constant_limbs(value), np.int32))
        return Fixed(jnp.broadcast_to(limbs, tuple(shape) + (_LIMBS,)))

    @staticmethod
    def constant_vector(values) -> Fixed:
        """Python numbers, one per element of a last axis: Fixed [len(values)]."""
        return Fixed(jnp.asarray(np.array([_constant_limbs(v) for v in values], np.int32)))

    @staticmethod
    def from_float32(x) -> Fixed:
        """float32 [...] exactly from 2^-40 up (toward zero below; |x| < 2^15)."""
        bits = _bits(x)
        e = ((bits >> 23) & 0xFF).astype(jnp.int32)
        m = jnp.where(e == 0, 0, (bits & 0x7FFFFF) | 0x800000).astype(jnp.int32)
        position = e - 150 + _POINT  # of the mantissa's lowest bit
        limbs, _ = _deposit(
            jnp.stack([m & 0xFFF, m >> 12], axis=-1), jnp.stack([position, position + 12], axis=-1)
        )
        return Fixed(jnp.where(((bits >> 31) == 0)[..., None], limbs, -limbs))

    # -- structure

    @property
    def shape(self) -> tuple[int, ...]:
        return self.limbs.shape[:-1]

    def __getitem__(self, index) -> Fixed:
        """Indexes the leading axes (``x[..., 0]``)."""
        index = index if isinstance(index, tuple) else (index,)
        return Fixed(self.limbs[index + (slice(None),)])

    def normalized(self) -> Fixed:
        """The same value with limbs 0..4 in [0, 2^16): the top limb then has the sign
        and is the floor."""
        return Fixed(_normalize(self.limbs))

    def negative(self) -> jax.Array:
        return self.normalized().limbs[..., -1] < 0

    def where(self, condition, other: Fixed) -> Fixed:
        """self where ``condition`` (bool [...]), else ``other``."""
        return Fixed(jnp.where(jnp.asarray(condition)[..., None], self.limbs, other.limbs))

    def abs(self) -> Fixed:
        """|self|, normalized."""
        n = self.normalized()
        return Fixed(_normalize(jnp.where(n.limbs[..., -1:] < 0, -n.limbs, n.limbs)))

    def shift(self, bits: int) -> Fixed:
        """self * 2^bits for a Python int (at most 2^31); toward -inf where bits fall
        off the end."""
        whole, part = divmod(bits, 16)
        limbs = self.normalized().limbs
        if part:
            limbs = _normalize(limbs << part)
        if whole == 1:
            # The dropped top limb folds into the new one (int32 wraps: exact in range).
            top = limbs[..., -2:-1] + (limbs[..., -1:] << 16)
            limbs = jnp.concatenate([jnp.zeros_like(top), limbs[..., :-2], top], axis=-1)
        elif whole < 0:
            # The limbs dropped are non-negative: dropping them is the floor.
            zeros = jnp.zeros_like(limbs[..., :-whole])
            limbs = jnp.concatenate([limbs[..., -whole:], zeros], axis=-1)
        elif whole > 1:
            raise ValueError(f"shift by {bits} bits leaves Fixed's range")
        return Fixed(limbs)

    # -- arithmetic

    def __add__(self, other) -> Fixed:
        return Fixed(self.limbs + _as_fixed(other, self).limbs)

    __radd__ = __add__

    def __neg__(self) -> Fixed:
        return Fixed(-self.limbs)

    def __sub__(self, other) -> Fixed:
        return Fixed(self.limbs - _as_fixed(other, self).limbs)

    def __rsub__(self, other) -> Fixed:
        return Fixed(_as_fixed(other, self).limbs - self.limbs)

    def times(self, k: int) -> Fixed:
        """self * k for a Python int |k| < 2^15, exactly."""
        return Fixed(_normalize(self.limbs, balanced=True) * k)

    def __mul__(self, other) -> Fixed:
        if isinstance(other, (int, float, Fraction)):
            f = Fraction(other)
            odd, power = f.numerator, -(f.denominator.bit_length() - 1)
            while odd and odd % 2 == 0:
                odd, power = odd // 2, power + 1
            if f.denominator & (f.denominator - 1) == 0 and abs(odd) < 2**15:
                # A short dyadic (a centre, 0.5, 65536): exact, and cheap.
                return self.times(odd).shift(power)
            other = Fixed.constant(f, self.shape)
        return _product(self, other)

    __rmul__ = __mul__

    def reciprocal(self) -> Fixed:
        """1 / self to about 2^-62 relative (2^-13 < |self| < 2^13): Newton's method from
        float32's reciprocal, twice (from 24 correct bits to 48, then to all). The last
        bits depend on that first guess, far below any FIX boundary that matters."""
        guess = Fixed.from_float32(1.0 / self.to_float32())

        def newton(_, g):
            return g * (2 - self * g)

        return lax.fori_loop(0, 2, newton, guess)

    def __truediv__(self, other) -> Fixed:
        if isinstance(other, (int, float, Fraction)):
            return self * Fixed.constant(1 / Fraction(other), self.shape)
        return self * other.reciprocal()

    def __rtruediv__(self, other) -> Fixed:
        return _as_fixed(other, self) * self.reciprocal()

    # -- out

    def to_float32(self) -> jax.Array:
        """About the value, as float32 (each limb scaled exactly, then summed)."""
        scale = (2.0 ** (16 * _INDEX - _POINT)).astype(np.float32)
        return jnp.sum(self.limbs.astype(jnp.float32) * scale, axis=-1)

    def floor_int32(self) -> jax.Array:
        """floor(self) as int32."""
        return self.normalized().limbs[..., -1]

    def round53(self) -> Fixed:
        """The nearest float64 (53 significant bits, ties to even), as float64 arithmetic
        rounds an exact result. Exact for values from 2^-11 up (53 bits above 2^-64)."""
        negative = self.negative()
        m = self.abs().limbs
        width = 32 - lax.clz(m)  # bits in each limb
        lead = jnp.max(jnp.where(m != 0, 16 * _INDEX + width - 1, -1), axis=-1)
        p = (lead - 52)[..., None]  # bits below position p are rounded off
        low = 16 * _INDEX

        def below(position):  # per limb, the mask of the bits below `position`
            return (1 << jnp.clip(position - low, 0, 16)) - 1

        def bit(position):  # bit `position` of m (0 if there is none)
            hit = (position >= low) & (position < low + 16)
            return jnp.sum(jnp.where(hit, (m >> jnp.clip(position - low, 0, 15)) & 1, 0), axis=-1)

        sticky = jnp.any((m & below(p - 1)) != 0, axis=-1)
        up = (bit(p - 1) == 1) & (sticky | (bit(p) == 1))
        at = jnp.maximum(p, 0)
        kept = (m & ~below(p)) + jnp.where(up[..., None] & (at >> 4 == _INDEX), 1 << (at & 15), 0)
        return Fixed(jnp.where(negative[..., None], -kept, kept))

    def pillow_coord(self) -> jax.Array:
        """Pillow's ``COORD(v)``: -1 for v < 0, else (int) v; int32."""
        top = self.floor_int32()
        return jnp.where(top < 0, -1, top)


def _as_fixed(value, like: Fixed) -> Fixed:
    return value if isinstance(value, Fixed) else Fixed.constant(value, like.shape)


class LinearForm:
    """sum_k coefficient_k * symbol_k with exact rational coefficients: host algebra that
    evaluates ``spec``'s matrix formulas symbolically, where each entry is linear in a
    few runtime values (cos and sin; 1/s and tan/s) with constant dyadic coefficients.
    """

    def __init__(self, terms: dict[str, Fraction] | None = None):
        self.terms = {k: Fraction(v) for k, v in (terms or {}).items() if v != 0}

    @staticmethod
    def of(value) -> LinearForm:
        return value if isinstance(value, LinearForm) else LinearForm({"1": Fraction(value)})

    def __add__(self, other) -> LinearForm:
        terms = dict(self.terms)
        for k, v in LinearForm.of(other).terms.items():
            terms[k] = terms.get(k, 0) + v
        return LinearForm(terms)

    __radd__ = __add__

    def __neg__(self) -> LinearForm:
        return LinearForm({k: -v for k, v in self.terms.items()})

    def __sub__(self, other) -> LinearForm:
        return self + -LinearForm.of(other)

    def __rsub__(self, other) -> LinearForm:
        return LinearForm.of(other) + -self

    def __mul__(self, other) -> LinearForm:
        if isinstance(other, LinearForm):
            raise TypeError("a product of two linear forms is not linear")
        return LinearForm({k: v * Fraction(other) for k, v in self.terms.items()})

    __rmul__ = __mul__

    def __truediv__(self, other) -> LinearForm:
        if isinstance(other, (int, float, Fraction)):
            return self * (1 / Fraction(other))
        return other.__rtruediv__(self)

    def matrix(self, symbols) -> list[Fraction]:
        return [self.terms.get(k, Fraction(0)) for k in symbols]


class LinearDivisor:
    """A symbolic divisor for ``LinearForm``: dividing symbol k by it gives the symbol
    ``quotients[k]`` (e.g. 1 -> "1/s", "tan" -> "tan/s")."""

    def __init__(self, quotients: dict[str, str]):
        self.quotients = quotients

    def __rtruediv__(self, other) -> LinearForm:
        terms = LinearForm.of(other).terms
        return LinearForm({self.quotients[k]: v for k, v in terms.items()})


def floor_linear(forms, symbols, values: Fixed) -> jax.Array:
    """floor of linear forms (dyadic coefficients) of runtime values, exactly, for
    results below 2^31 in magnitude (Pillow's fixed-point coefficients are).

    Args:
      forms: a LinearForm per output (host constants), in ``symbols``.
      symbols: the names of the runtime values; "1" names the constant 1.
      values: Fixed [..., len(symbols)], the symbols' values.

    Returns:
      int32 [..., len(forms)].
    """
    rows = [form.matrix(symbols) for form in forms]
    denominator = max(v.denominator for row in rows for v in row)
    bits = denominator.bit_length() - 1
    if denominator != 1 << bits or bits > 15:
        raise ValueError("floor_linear needs dyadic coefficients (denominators up to 2^15)")
    integers = [[int(v * denominator) for v in row] for row in rows]
    if max(abs(k) for row in integers for k in row) >= 2**31 or len(symbols) > 15:
        raise ValueError("floor_linear takes coefficients below 2^31 and at most 15 symbols")
    # sum_s k_s * value_s in an accumulator of L + 2 limbs (room for results up to 2^47),
    # the integer coefficients taken in base-2^12 digits: a digit times a balanced limb
    # (|limb| <= 2^15), summed over at most 15 symbols, stays inside int32.
    limbs = _normalize(values.limbs, balanced=True)
    pad = [(0, 0)] * (limbs.ndim - 1)
    accumulator = 0
    for place in range(3):
        digits = np.array(
            [
                [(k >> (12 * place)) & 0xFFF if place < 2 else k >> 24 for k in row]
                for row in integers
            ],
            np.int32,
        )
        if not digits.any():
            continue
        term = jnp.einsum("fs,...sl->...fl", jnp.asarray(digits), limbs)
        term = _normalize(jnp.pad(term, pad + [(0, 1)]))  # L + 1 limbs, the top one small
        whole, part = divmod(12 * place, 16)
        accumulator = accumulator + jnp.pad(term << part, pad + [(whole, 1 - whole)])
    accumulator = _normalize(accumulator)
    # floor(accumulator / 2^bits): the bits from 2^(64 + bits) up, as int32 (wrapping).
    units = _POINT // 16
    low = accumulator[..., units] >> bits
    high = accumulator[..., units + 1] << (16 - bits)
    top = accumulator[..., units + 2] << (32 - bits) if bits else 0
    return low + high + top


def _diagonal_sums() -> np.ndarray:
    """int32 [L, L, 2L]: 1 where column k = i + j collects limb product (i, j)."""
    out = np.zeros((_LIMBS, _LIMBS, 2 * _LIMBS), np.int32)
    for i in range(_LIMBS):
        for j in range(_LIMBS):
            out[i, j, i + j] = 1
    return out


_DIAGONALS = _diagonal_sums()


def _product(x: Fixed, y: Fixed) -> Fixed:
    """x * y, keeping the bits from 2^-64 up (toward -inf).

    On balanced limbs (|limb| <= 2^15) every limb product fits in int32, signs and all;
    each is split at bit 16 and the halves summed along the diagonals of the limb grid.
    """
    a = _normalize(x.limbs, balanced=True)
    b = _normalize(y.limbs, balanced=True)
    p = a[..., :, None] * b[..., None, :]
    diagonals = jnp.asarray(_DIAGONALS)
    columns = jnp.einsum("...ij,ijk->...k", p & _MASK16, diagonals) + jnp.einsum(
        "...ij,ijk->...k", p >> 16, jnp.roll(diagonals, 1, axis=-1)
    )
    # The columns below the point's lie below 2^-64: only their carry is kept (the floor).
    # Column 11 folds into the top limb (int32 arithmetic wraps: exact for a product in
    # range).
    units = _POINT // 16
    low = _normalize(columns[..., : units + 1])[..., units:]
    last = units + _LIMBS - 1
    top = columns[..., last : last + 1] + (columns[..., last + 1 :] << 16)
    return Fixed(jnp.concatenate([low, columns[..., units + 1 : last], top], axis=-1))


# Digits of 2^24 / M, its units digit first: enough to reach 2^-64 for every s in range.
_DIGITS = 1 + (_POINT + 24 + 7) // 8


def reciprocal(s) -> tuple[Fixed, Fixed]:
    """1 / s for float32 s in [2^-14, 2^14], twice, from one long division:

    * to 2^-64 toward zero, with the lowest bit set when anything was cut off ("round to
      odd"): within 2^-63 of 1 / s;
    * float64's correctly rounded ``1.0 / s`` (53 significant bits, ties to even).

    s = M 2^(E - 150) with M the 24-bit mantissa, so 1 / s = 2^(126 - E) (2^24 / M): long
    division of 2^24 by M in 8-bit digits, whose remainder stays below M < 2^24, so each
    step fits in uint32. 2^24 / M lies in (1, 2]: its 53 significant bits are the units
    digit, six digits and the top half of the seventh.
    """
    bits = _bits(s)
    e = ((bits >> 23) & 0xFF).astype(jnp.int32)
    m = (bits & 0x7FFFFF) | 0x800000
    q0 = np.uint32(1 << 24) // m  # 1, or 2 when m = 2^23 (then every digit is 0)
    r = np.uint32(1 << 24) - q0 * m
    top = 126 + _POINT - e  # the position of 2^24 / M's units bit, in bits from 2^-64
    digits = [q0]
    for k in range(1, _DIGITS):
        r = r << 8
        d = r // m
        r = r - d * m
        digits.append(d)
        if k == 7:
            remainder7 = r  # all that follows digit 7 is zero exactly when this is
    digits = [d.astype(jnp.int32) for d in digits]

    def deposit(values, places):  # places: bits below the units bit
        return _deposit(jnp.stack(values, axis=-1), jnp.stack([top - p for p in places], axis=-1))

    limbs, dropped = deposit(digits, [8 * k for k in range(_DIGITS)])
    sticky = (dropped | (r != 0)).astype(jnp.int32)
    truncated = Fixed(limbs.at[..., 0].set(limbs[..., 0] | sticky))
    # float64 keeps bits down to 52 below the units bit (digit 7's top half) and rounds
    # up when what follows is above one half, or exactly one half after an odd last bit.
    kept, nibble = digits[7] >> 4, digits[7] & 0xF
    up = (nibble > 8) | ((nibble == 8) & ((remainder7 != 0) | ((kept & 1) == 1)))
    rounded, _ = deposit(
        digits[:7] + [kept, up.astype(jnp.int32)], [8 * k for k in range(7)] + [52, 52]
    )
    return truncated, Fixed(rounded)


# ----------------------------------------------------------------------------- trigonometry

# pi to 40 digits: Fixed's 2^-64 needs 20.
_PI = Fraction("3.141592653589793238462643383279502884197")


def _taylor(first: int) -> np.ndarray:
    """(-1)^k K^(2k + first) / (2k + first)! for k < 11, K = 64 pi / 180, as Fixed limbs
    int32 [11, 6]: the series of cos x (first = 0) and sin(x) / t (first = 1) in
    t = degrees / 64 (x = K t). Eleven terms are exact to 2^-64 for |x| <= pi / 4."""
    import math

    k_ = 64 * _PI / 180
    terms = [(-1) ** k * k_ ** (2 * k + first) / math.factorial(2 * k + first) for k in range(11)]
    return np.array([_constant_limbs(v) for v in terms], np.int32)


# Column 0: cos; column 1: sin / t. [11, 2, 6]
_SERIES = np.stack([_taylor(0), _taylor(1)], axis=1)


def cos_sin_degrees(degrees) -> tuple[Fixed, Fixed]:
    """cos and sin of float32 angles in degrees, to about 2^-60.

    The angle is reduced exactly: fmod by 360, then the nearest multiple of 90 taken off
    (both exact in float32: each result is a multiple of the input's ulp, and smaller).
    So multiples of 90 degrees give exactly 0 and +-1, and large angles lose nothing.

    Args:
      degrees: float32 [...].

    Returns:
      (cos, sin), Fixed [...].
    """
    degrees = jnp.asarray(degrees, jnp.float32)
    r = lax.rem(degrees, jnp.float32(360.0))
    quadrant = jnp.round(r / 90.0)
    # t = x / 64 in degrees, |t| <= 0.71: the series' coefficients carry pi / 180.
    t = Fixed.from_float32((r - quadrant * 90.0) * np.float32(1 / 64))
    # Horner's rule for cos and sin / t side by side (a new axis of 2): one loop body.
    x2 = (t * t)[..., None]
    series = jnp.asarray(_SERIES)
    count = len(_SERIES)

    def horner(k, total):
        return total * x2 + Fixed(series[count - 1 - k])

    start = Fixed(jnp.broadcast_to(series[-1], x2.shape[:-1] + (2, _LIMBS)))
    total = lax.fori_loop(1, count, horner, start)
    cos, sin = total[..., 0], t * total[..., 1]
    # cos and sin of x + 90 q degrees.
    q = quadrant.astype(jnp.int32) & 3
    odd = (q & 1) == 1
    c, s = cos.where(~odd, -sin), sin.where(~odd, cos)
    flip = q >= 2
    return c.where(~flip, -c), s.where(~flip, -s)
