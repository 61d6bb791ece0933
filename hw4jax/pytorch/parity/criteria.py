"""What the parity rows measure and how they are judged: the ``Row``, the comparisons, the
tolerances and the two bounds derived for Adam (its step size, optax's float32 bias
corrections)."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

# float64 on both sides: the same function up to float64 rounding.
F64_REL = 1e-10  # normwise relative

F64_NOISE_ABS = 1e-12  # quantities that are exactly 0 in exact arithmetic (BN-fed conv biases)

# After k Adam steps: where |gradient| < eps, Adam's step is about lr * g / eps, so gradient
# rounding reaches the parameters multiplied by lr / eps = 1e5 (1e-16 -> 1e-11).
F64_ADAM_REL = 1e-9

# float32: hw4jax's error against the float64 reference may be F32_FACTOR times PyTorch's,
# plus F32_ULPS float32 ulps of the quantity's scale (compare_to_reference).
F32_FACTOR = 4.0

F32_ULPS = 4.0

EPS32 = float(np.finfo(np.float32).eps)

ADAM_EPS = 1e-8  # hw4jax.optimizers' and torch.optim.Adam's

ADAM_B2 = 0.999

BACKPROP_ABS = 1e-12

# The convolutions whose output goes straight into a BatchNorm: their bias cancels in
# train mode, so its true gradient is exactly zero.
BN_FED_CONVS = ("conv1", "conv3", "conv5")

OPTIMIZER_NAMES = ("adam", "sgd", "momentum")


@dataclasses.dataclass(frozen=True)
class Row:
    """One compared quantity.

    Attributes:
      quantity: what is compared, e.g. 'f64 grad conv2/kernel'.
      max_abs_error: max |hw4jax - PyTorch| over the elements (None: not computed).
      rel_error: normwise relative error, max_abs_error / max |PyTorch| (inf when PyTorch's
        value is all zero and the error is not).
      tolerance: the bound the row must meet.
      criterion: 'rel' (rel_error <= tolerance), 'abs' (max_abs_error <= tolerance),
        'count' (number of differing elements, in max_abs_error, <= tolerance), 'exact'
        (a yes/no property, in the note) or 'n/a' (not available in this checkout).
      passed: whether the bound holds.
      note: why the row is as it is, when that is not obvious.
    """

    quantity: str
    max_abs_error: float | None
    rel_error: float | None
    tolerance: float
    criterion: str
    passed: bool
    note: str = ""
    torch_error: float | None = None
    torch_rel_error: float | None = None


def compare(
    quantity: str,
    got: Any,
    want: Any,
    *,
    tolerance: float,
    criterion: str = "rel",
    note: str = "",
) -> Row:
    """A ``Row`` comparing ``got`` (hw4jax) with ``want`` (PyTorch), arrays of one shape.

    A shape mismatch or a NaN fails the row rather than raising.
    """
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return Row(
            quantity,
            None,
            None,
            tolerance,
            criterion,
            False,
            f"shape {got.shape} != PyTorch's {want.shape}",
        )
    err = float(np.max(np.abs(got - want), initial=0.0))
    scale = float(np.max(np.abs(want), initial=0.0))
    rel = err / scale if scale > 0 else (0.0 if err == 0 else math.inf)
    value = {"rel": rel, "abs": err}[criterion]
    passed = bool(value <= tolerance)  # False for NaN
    return Row(quantity, err, rel, tolerance, criterion, passed, note)


def compare_to_reference(
    quantity: str,
    got: Any,
    torch_got: Any,
    reference: Any,
    *,
    torch_reference: Any = None,
    factor: float = F32_FACTOR,
    ulps: float = F32_ULPS,
    terms: int = 1,
    allowance: float = 0.0,
    note: str = "",
) -> Row:
    """A float32 row: hw4jax's error against the float64 ``reference`` judged by PyTorch's.

    Both errors are max abs errors against float64 (PyTorch's against ``torch_reference``,
    default ``reference``); the row passes when
    ``err_hw4jax <= factor * err_pytorch + ulps * sqrt(terms) * eps32 * max|reference|
    + allowance``: hw4jax is as close to the exact value as PyTorch is, up to ``factor``, or
    within a few float32 ulps of the quantity's scale (plus a derived ``allowance`` for a
    known, bounded difference). Neither side depends on the machine: on a CPU whose kernels
    round differently both errors move together.

    ``terms``: how many products one element of the quantity sums (a gradient: the batch
    times the layer's output positions). A float32 sum of n terms, in any order, carries a
    rounding error that grows like sqrt(n) eps32 times the terms' scale (the probabilistic
    bound of Higham and Mary, SIAM J. Sci. Comput. 2019), and the order is the kernels':
    PyTorch's CPU sums are cascaded (error growing like log n), XLA's accumulate in vector
    lanes (like sqrt(n / lanes)), so on a CPU with narrow vectors (SSE4.2: 4 lanes) a long
    reduction's error can exceed 4x PyTorch's while being an ordinary float32 sum. The
    floor allows sqrt(n) ulps of the quantity's scale for it; an 8-bit-mantissa result is
    still 2^-9 off, far above it for any batch here.

    A shape mismatch or a NaN fails the row rather than raising.
    """
    if torch_reference is None:
        torch_reference = reference
    arrays = [np.asarray(a, dtype=np.float64) for a in (got, torch_got, reference, torch_reference)]
    got, torch_got, reference, torch_reference = arrays
    if len({a.shape for a in arrays}) > 1:
        return Row(
            quantity,
            None,
            None,
            0.0,
            "f64ref",
            False,
            f"shapes differ: hw4jax {got.shape}, PyTorch {torch_got.shape}, float64 "
            f"{reference.shape}",
        )
    scale = float(np.max(np.abs(reference), initial=0.0))
    err = float(np.max(np.abs(got - reference), initial=0.0))
    torch_err = float(np.max(np.abs(torch_got - torch_reference), initial=0.0))
    bound = factor * torch_err + ulps * math.sqrt(terms) * EPS32 * scale + allowance

    def rel(e: float) -> float:
        return e / scale if scale > 0 else (0.0 if e == 0 else math.inf)

    return Row(
        quantity,
        err,
        rel(err),
        bound,
        "f64ref",
        bool(err <= bound),
        note,
        torch_error=torch_err,
        torch_rel_error=rel(torch_err),
    )


def worst(rows: list[Row], names: list[str], *, note: str = "") -> Row:
    """The row of the tensor furthest past (or least inside) its bound, named in the note."""

    def margin(row: Row) -> float:
        value = (row.rel_error if row.criterion == "rel" else row.max_abs_error) or 0.0
        if row.tolerance > 0:
            return value / row.tolerance
        return 0.0 if value == 0 else math.inf

    name, row = max(zip(names, rows), key=lambda nr: (not nr[1].passed, margin(nr[1])))
    worst = f"worst of {len(rows)} tensors: {name}"
    return dataclasses.replace(row, note=f"{worst}; {note}" if note else worst)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'conv1': {'kernel': a}} -> {'conv1/kernel': a}."""
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, path + "/"))
        else:
            flat[path] = value
    return flat


def is_bn_fed_bias(path: str) -> bool:
    layer, name = path.split("/")
    return layer in BN_FED_CONVS and name == "bias"


def adam_step_ratio_bound(t: int, b1: float = 0.9, b2: float = 0.999) -> float:
    """The largest |m_hat_t| / sqrt(v_hat_t) of Adam at step t (1-based), over all gradient
    sequences g_1..g_t.

    m_t = sum_i a_i g_i and v_t = sum_i c_i g_i^2 with a_i = (1 - b1) b1^(t-i) and
    c_i = (1 - b2) b2^(t-i). By Cauchy-Schwarz, |sum_i a_i g_i| =
    |sum_i (a_i / sqrt(c_i)) (sqrt(c_i) g_i)| <= sqrt(sum_i a_i^2 / c_i) sqrt(v_t), with
    equality for g_i proportional to a_i / c_i. With the bias corrections m_hat = m / (1 -
    b1^t) and v_hat = v / (1 - b2^t):
        R_t = sqrt(sum_i a_i^2 / c_i) * sqrt(1 - b2^t) / (1 - b1^t).
    R_1 = 1, and R_t stays within 1% of 1 for the first steps at the default betas.
    """
    a = [(1 - b1) * b1 ** (t - i) for i in range(1, t + 1)]
    c = [(1 - b2) * b2 ** (t - i) for i in range(1, t + 1)]
    return math.sqrt(sum(x * x / y for x, y in zip(a, c))) * math.sqrt(1 - b2**t) / (1 - b1**t)


@functools.cache
def optax_adam_step_error(t: int, b1: float = 0.9, b2: float = 0.999) -> float:
    """The relative error of optax.scale_by_adam's float32 step t from its bias corrections.

    optax computes 1 - b^t in the moments' dtype: in float32, 0.999 is 0.99900001287 and
    1 - 0.999^1 loses 1.3e-5 of its value to that rounding alone (torch.optim.Adam computes
    its corrections in Python's float64). Every element's step is m_hat / sqrt(v_hat) scaled
    by (1 - b2^t)^(1/2) / (1 - b1^t), so every step carries the same relative error. It is
    measured here from optax itself on this machine: one float32 step t from zero moments
    with gradient 1, against the exact value of the same step.
    """
    import jax
    import jax.numpy as jnp
    import optax

    state = optax.ScaleByAdamState(
        count=jnp.asarray(t - 1, jnp.int32),
        mu=jnp.zeros((), jnp.float32),
        nu=jnp.zeros((), jnp.float32),
    )
    with jax.enable_x64(False):
        update, _ = jax.jit(optax.scale_by_adam(b1=b1, b2=b2, eps=0.0).update)(
            jnp.ones((), jnp.float32), state
        )
    exact = ((1 - b1) / (1 - b1**t)) / math.sqrt((1 - b2) / (1 - b2**t))
    return abs(float(update) / exact - 1)
