"""The CNN's rows, one small function per family: forward values, gradients, running
statistics, k optimizer steps (float32 Adam in its own units), judged in float64 against
PyTorch and in float32 against float64 (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from hw4jax.pytorch.parity.computed import Computed
from hw4jax.pytorch.parity.criteria import (
    ADAM_EPS,
    EPS32,
    F32_FACTOR,
    F32_ULPS,
    F64_ADAM_REL,
    F64_NOISE_ABS,
    F64_REL,
    OPTIMIZER_NAMES,
    Row,
    adam_step_ratio_bound,
    compare,
    compare_to_reference,
    is_bn_fed_bias,
    optax_adam_step_error,
    worst,
)
from hw4jax.pytorch.parity.runs import CnnRuns


def cnn_rows(
    state_dict: Mapping[str, np.ndarray],
    batches: list[tuple[np.ndarray, np.ndarray]],
    *,
    precision: str,
    device: str = "cpu",
    learning_rates: Mapping[str, float] | None = None,
    optimizer_names: Sequence[str] = OPTIMIZER_NAMES,
    runs: CnnRuns | None = None,
) -> list[Row]:
    """Compares hw4jax's CNN with PyTorch's Net from the same weights.

    float64: hw4jax against PyTorch, both in float64. float32: hw4jax's and PyTorch's float32
    errors against float64 from the same float32 inputs, on each one's own branch (see the
    module docstring).

    Args:
      state_dict: a Net state_dict (numpy arrays); both precisions start from its float32
        values.
      batches: [(images float [N, 3, 32, 32] NCHW, labels int [N])], rounded to float32; the
        first batch feeds the forward and gradient rows, all of them the optimizer steps
        (k = len(batches)).
      precision: 'float64' or 'float32'.
      device: 'cpu' or 'gpu' (both frameworks on it).
      learning_rates: per optimizer name; default ``hw4jax.optimizers.DEFAULT_LEARNING_RATES``.
      optimizer_names: the optimizers whose k steps are compared (default: Adam, SGD and
        SGD with momentum).
      runs: computations already made for these inputs (``CnnRuns``), shared between the
        two precisions; made here otherwise.

    Returns:
      The rows listed in the module docstring, names prefixed 'f64' or 'f32'.
    """
    if precision not in ("float64", "float32"):
        raise ValueError(f"precision must be 'float64' or 'float32', got {precision!r}")
    runs = runs or CnnRuns(
        state_dict,
        batches,
        device=device,
        learning_rates=learning_rates,
        optimizer_names=optimizer_names,
    )
    judge = _Float64Judge(runs) if precision == "float64" else _Float32Judge(runs)
    rows = judge.header_rows()
    rows += _forward_rows(judge)
    rows += _gradient_rows(judge)
    rows += _running_stat_rows(judge)
    for name in runs.optimizer_names:
        rows += _optimizer_rows(judge, name, lr=runs.learning_rates[name], steps=len(runs.batches))
    return rows


class _Float64Judge:
    """float64 rows: hw4jax against PyTorch, both computing in float64."""

    tag = "f64"

    def __init__(self, runs: CnnRuns) -> None:
        self.runs = runs
        self.got, self.want = runs.get("hw4jax", "float64"), runs.get("pytorch", "float64")
        self.other = self.want

    def header_rows(self) -> list[Row]:
        dtypes = self.got.dtypes
        return [
            Row(
                "f64 dtype of logits, loss, grads, batch_stats",
                None,
                None,
                0.0,
                "exact",
                dtypes == {"float64"},
                f"hw4jax computed in {', '.join(sorted(dtypes))}",
            )
        ]

    def row(
        self,
        quantity: str,
        pick: Callable[[Computed], np.ndarray],
        *,
        noise: bool = False,
        smooth: bool = False,
        tolerance: float = F64_REL,
        allowance: float = 0.0,
        terms: int = 1,
        note: str = "",
    ) -> Row:
        """``pick`` selects the quantity from a ``Computed``. Noise rows (exactly zero in
        exact arithmetic) compare absolute errors."""
        del smooth, allowance, terms  # float32's
        if noise:
            return compare(
                quantity,
                pick(self.got),
                pick(self.want),
                tolerance=F64_NOISE_ABS,
                criterion="abs",
                note=note,
            )
        return compare(quantity, pick(self.got), pick(self.want), tolerance=tolerance, note=note)


class _Float32Judge:
    """float32 rows: hw4jax's and PyTorch's float32 errors against float64."""

    tag = "f32"

    def __init__(self, runs: CnnRuns) -> None:
        self.runs = runs
        self.got, self.other = runs.get("hw4jax", "float32"), runs.get("pytorch", "float32")
        self.exact = runs.get("pytorch", "float64")
        self.on_branch = {f: runs.on_branch_of(f) for f in ("hw4jax", "pytorch")}

    def header_rows(self) -> list[Row]:
        ours, theirs = self.runs.differences("hw4jax"), self.runs.differences("pytorch")
        forwards = 1 + len(self.runs.optimizer_names) * len(self.runs.batches)
        return [
            Row(
                "f32 ReLU/max-pool decisions unlike float64",
                float(ours),
                None,
                0.0,
                "info",
                True,
                f"hw4jax {ours}, PyTorch {theirs} over {forwards} train-mode forwards: "
                "gradients and steps are compared with float64 on each one's own branch",
            )
        ]

    def row(
        self,
        quantity: str,
        pick: Callable[[Computed], np.ndarray],
        *,
        noise: bool = False,
        smooth: bool = False,
        tolerance: float | None = None,
        allowance: float = 0.0,
        terms: int = 1,
        note: str = "",
    ) -> Row:
        """Smooth quantities (values, not derivatives: logits, loss) are compared with the
        plain float64 run; gradients and what follows them with each one's branch.
        ``terms``: products summed into one element (see ``compare_to_reference``)."""
        del noise, tolerance  # float64's; here the bound comes from PyTorch's own error
        ours = self.exact if smooth else self.on_branch["hw4jax"]
        theirs = self.exact if smooth else self.on_branch["pytorch"]
        return compare_to_reference(
            quantity,
            pick(self.got),
            pick(self.other),
            pick(ours),
            torch_reference=pick(theirs),
            allowance=allowance,
            terms=terms,
            note=note,
        )


def _forward_rows(judge) -> list[Row]:
    """Eval logits (running statistics), then train-mode logits and loss (batch statistics,
    dropout off)."""
    return [
        judge.row(f"{judge.tag} {name}", lambda c, name=name: c.forward[name], smooth=True)
        for name in ("eval logits", "train logits", "train loss")
    ]


def gradient_terms(batch_size: int) -> dict[str, int]:
    """Per layer, how many products one element of its parameters' gradient sums: the
    batch times the layer's output positions (B for the dense layers), from the model's
    own shapes."""
    import jax
    import jax.numpy as jnp

    from hw4jax.cnn.model import CNN

    model = CNN()
    x = jnp.zeros((batch_size, 32, 32, 3), jnp.float32)
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))

    def outputs(v):
        return model.apply(
            v, x, train=False, capture_intermediates=True, mutable=["intermediates"]
        )[1]

    shapes = jax.eval_shape(outputs, variables)["intermediates"]
    return {
        name: int(np.prod(shapes[name]["__call__"][0].shape[:-1])) for name in variables["params"]
    }


def _gradient_rows(judge) -> list[Row]:
    """The first batch's gradient of every parameter, one row each; float32 floors grow
    with the products each element sums (``gradient_terms``)."""
    terms = gradient_terms(len(judge.runs.batches[0][1]))
    return [
        judge.row(
            f"{judge.tag} grad {path}",
            lambda c, path=path: c.grads[path],
            noise=is_bn_fed_bias(path),
            terms=terms[path.split("/")[0]],
            note="true gradient is 0 (feeds a BatchNorm): rounding noise"
            if is_bn_fed_bias(path)
            else "",
        )
        for path in judge.got.grads
    ]


def _running_stat_rows(judge) -> list[Row]:
    """BatchNorm running statistics after the first batch's train step (values of the
    forward, so smooth)."""
    return [
        judge.row(
            f"{judge.tag} running {path} after 1 step",
            lambda c, path=path: c.stats[path],
            smooth=True,
        )
        for path in judge.got.stats
    ]


def _optimizer_rows(judge, name: str, *, lr: float, steps: int) -> list[Row]:
    """Three rows for k steps of one optimizer: the worst tensor of all parameters but the
    BN-fed conv biases, the worst running statistic, then those biases. (float32 Adam:
    ``_adam_float32_rows``.)"""
    adam = name == "adam"
    f64 = isinstance(judge, _Float64Judge)
    if adam and not f64:
        return _adam_float32_rows(judge, lr=lr, steps=steps)
    label = f"{judge.tag} {name}: {steps} steps"
    params, stats = judge.got.steps[name]
    kept = [p for p in params if not is_bn_fed_bias(p)]
    note = "Adam scales gradient rounding by lr/eps where |g| < eps" if adam else ""
    tolerance = F64_ADAM_REL if adam else F64_REL
    rows = [
        worst(
            [
                judge.row(
                    f"{label}, params", lambda c, p=p: c.steps[name][0][p], tolerance=tolerance
                )
                for p in kept
            ],
            kept,
            note=note,
        ),
        worst(
            [
                judge.row(
                    f"{label}, running stats",
                    lambda c, p=p: c.steps[name][1][p],
                    tolerance=tolerance,
                )
                for p in stats
            ],
            list(stats),
            note=note,
        ),
    ]
    biases = [p for p in params if is_bn_fed_bias(p)]
    quantity = f"{label}, {'/'.join(b.split('/')[0] for b in biases)} bias"

    def pick(c: Computed) -> np.ndarray:
        return np.concatenate([c.steps[name][0][p] for p in biases])

    if adam:
        rows.append(_adam_noise_row(judge, quantity, pick, lr=lr, steps=steps))
    else:
        rows.append(
            judge.row(
                quantity,
                pick,
                noise=True,
                note="zero true gradient: rounding noise times the steps",
            )
        )
    return rows


def _adam_param_row(
    judge: _Float32Judge, quantity: str, path: str, *, lr: float, steps: int, allowance: float
) -> Row:
    """One parameter tensor after k float32 Adam steps, both errors in error units."""
    grad_error = np.max(np.abs(judge.other.grads[path] - judge.on_branch["pytorch"].grads[path]))
    errors = {}
    for framework, run in (("hw4jax", judge.got), ("pytorch", judge.other)):
        ref = judge.on_branch[framework]
        unit = _adam_error_unit(
            ref.steps["adam"][0][path],
            ref.adam_rms[path],
            lr=lr,
            steps=steps,
            grad_error=grad_error,
            allowance=allowance,
        )
        errors[framework] = float(
            np.max(np.abs(run.steps["adam"][0][path] - ref.steps["adam"][0][path]) / unit)
        )
    bound = F32_FACTOR * errors["pytorch"] + F32_ULPS
    return Row(
        quantity,
        errors["hw4jax"],
        None,
        bound,
        "units",
        bool(errors["hw4jax"] <= bound),
        torch_error=errors["pytorch"],
        torch_rel_error=errors["pytorch"],
    )


def _adam_float32_rows(judge: _Float32Judge, *, lr: float, steps: int) -> list[Row]:
    """k float32 Adam steps: parameters, running statistics, the BN-fed conv biases.

    Adam divides each element's gradient by its own RMS sqrt(v_hat) (plus eps), so a
    gradient rounding error reaches an element's parameter multiplied by up to
    2 lr / (sqrt(v_hat_t) + eps) per step: by 1e5 where the gradient is near eps, by about 1
    where it is large. Both frameworks' parameter errors are therefore measured in units of
    what float32 can cause at each element (``_adam_error_unit``): its own ulp, plus that
    amplification of PyTorch's float32 gradient error for the tensor, plus the allowance for
    optax's float32 bias corrections. In those units hw4jax must be within 4 times
    PyTorch's error plus 4. The BN-fed conv biases, whose true gradient is 0, get Adam's
    step-size bound (``_adam_noise_row``).
    """
    label = f"f32 adam: {steps} steps"
    params, stats = judge.got.steps["adam"]
    kept = [p for p in params if not is_bn_fed_bias(p)]
    allowance = lr * sum(
        adam_step_ratio_bound(t) * optax_adam_step_error(t) for t in range(1, steps + 1)
    )
    rows = [
        _adam_param_row(judge, f"{label}, params", path, lr=lr, steps=steps, allowance=allowance)
        for path in kept
    ]
    rows = [
        worst(
            rows,
            kept,
            note=f"errors in units of ulp + Adam's amplification of "
            f"PyTorch's gradient error + {allowance:.2g} (optax's "
            "float32 bias corrections)",
        )
    ]
    rows.append(
        worst(
            [
                judge.row(f"{label}, running stats", lambda c, p=p: c.steps["adam"][1][p])
                for p in stats
            ],
            list(stats),
        )
    )
    biases = [p for p in params if is_bn_fed_bias(p)]
    rows.append(
        _adam_noise_row(
            judge,
            f"{label}, {'/'.join(b.split('/')[0] for b in biases)} bias",
            lambda c: np.concatenate([c.steps["adam"][0][p] for p in biases]),
            lr=lr,
            steps=steps,
        )
    )
    return rows


def _adam_error_unit(
    reference: np.ndarray,
    rms: np.ndarray,
    *,
    lr: float,
    steps: int,
    grad_error: float,
    allowance: float,
) -> np.ndarray:
    """Per element, the float32 error k Adam steps can carry: the parameter's own ulp, a
    gradient error ``grad_error`` amplified by 2 lr / (sqrt(v_hat) + eps) in each of the
    ``steps`` (``rms`` is the smallest sqrt(v_hat_t) over them), and ``allowance``."""
    amplification = 2 * lr * steps / (rms + ADAM_EPS)
    return EPS32 * np.abs(reference) + amplification * grad_error + allowance


def _adam_noise_row(judge, quantity: str, pick, *, lr: float, steps: int) -> Row:
    """Parameters that Adam steps on rounding noise (the BN-fed conv biases, whose true
    gradient is exactly 0; in float32 also any element whose gradient stays within rounding
    of eps) after k Adam steps, against Adam's step-size bound.

    Each framework steps on its own rounding noise g. Adam's step t is
    lr * m_hat_t / (sqrt(v_hat_t) + eps), so its size is at most lr * R_t whatever the
    gradients (``adam_step_ratio_bound``), and at most lr * max|g| / eps where |g| < eps.
    Each framework's parameter then moves by at most lr * sum_t min(R_t, max|g| / eps) from
    the common start, and the two differ by at most twice that. In float32 that is
    2 lr sum_t R_t (about 2 k lr: a bound, not a parity proof; the float64 rows are the
    proof); in float64, where the gradient rows check |g| <= 1e-12, it is 2 k lr 1e-12 / eps.
    """
    x64 = isinstance(judge, _Float64Judge)
    ratios = [adam_step_ratio_bound(t) for t in range(1, steps + 1)]
    if x64:  # the float64 gradient rows check |g| <= F64_NOISE_ABS
        ratios = [min(r, F64_NOISE_ABS / ADAM_EPS) for r in ratios]
    bound = 2 * lr * sum(ratios)
    formula = f"min(R_t, {F64_NOISE_ABS:g}/eps)" if x64 else "R_t"
    return compare(
        quantity,
        pick(judge.got),
        pick(judge.other),
        tolerance=bound,
        criterion="abs",
        note=f"Adam steps on rounding noise: hw4jax vs PyTorch within 2 lr sum_t "
        f"{formula} = {bound:.3g}",
    )
