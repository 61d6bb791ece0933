"""Numerical parity of hw4jax with the homework's PyTorch code, as one table of checks.

From the same weights (a PyTorch ``Net`` trained for a few steps, so that weights and
BatchNorm statistics are off their initial values, or a given state_dict), each row
compares one quantity computed by hw4jax with the one PyTorch computes:

  float64 on both sides (JAX x64 scoped to the check, ``.double()`` in torch) proves the
  two programs are the same function: eval logits, train-mode logits and loss (dropout
  off), the gradient of every parameter, BatchNorm running statistics after a train step,
  and the parameters after k steps of Adam, SGD and SGD with momentum on the same
  batches; all within 1e-10 normwise relative error, but Adam's parameters: 1e-9 (below).

  float32, as users run it: eval logits and train-mode loss within 1e-5, every gradient
  within 2e-3 normwise relative error (float32 rounding amplified by BatchNorm's
  backward), and the parameters after k optimizer steps (SGD, momentum: 1e-5; Adam: only
  bounded, see below).

  The 2-2-1 network of Question 2 (``hw4jax.backprop`` against torch autograd) and the
  augmentation golden fixtures (``hw4jax.augment`` against torchvision's outputs), when
  this checkout has them.

Error measures: max abs error ``max|got - want|`` and normwise relative error
``max|got - want| / max|want|``, with ``want`` PyTorch's value.

The conv biases that feed a BatchNorm (conv1, conv3, conv5) have an exactly zero gradient
in train mode (BatchNorm subtracts the batch mean); both frameworks return rounding noise
there, so those rows use absolute error. Adam divides that noise by its own RMS (plus
eps = 1e-8), so in float32 it turns into steps of a good fraction of the learning rate
with random sign (measured: the biases differ by 2.5e-3 after 3 steps of lr 1e-3, and
elements of other tensors whose gradient is within rounding of zero likewise, 5e-3
normwise on fc1's kernel); those rows are shown, with the bound Adam's step size gives,
not hidden. The same holds wherever |gradient| < eps: there Adam's step is about
lr * g / eps, so gradient rounding reaches the parameters multiplied by lr / eps = 1e5.
In float64 that is 1e-11 to 3e-10 normwise (hence Adam's 1e-9 bound there, against 1e-10
elsewhere); in float32 it is up to 2 lr per step, so the float32 Adam rows bound the
difference by 2 k lr and prove nothing more: the float64 rows are the proof.

Nothing here changes a global JAX or torch setting for longer than the check: float64
runs under ``jax.enable_x64(True)``, the matmul precision under
``jax.default_matmul_precision('highest')``, and torch's TF32 switches are restored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hw4jax import torch_interop

# Tolerances, each with the figure measured on CPU (batch 8, random images) when it was set.
F64_REL = 1e-10  # measured 2e-16 (eval logits), 1e-14 (gradients), 1e-11 (3 Adam steps)
F64_NOISE_ABS = 1e-12  # zero-gradient conv biases in float64, measured 1e-16
F32_LOGITS_ABS = 1e-5  # measured 2e-8
F32_LOSS_ABS = 1e-5  # measured 2.4e-7
# Measured 3.5e-6 here; up to 9e-4 on other batches (float32 noise through BatchNorm's
# backward grows with the batch statistics' spread).
F32_GRAD_REL = 2e-3
F32_NOISE_ABS = 1e-5  # zero-gradient conv biases in float32, measured 1e-7
F32_PARAMS_REL = 1e-5  # params and running stats after k float32 SGD steps, measured ~2e-7
# After k Adam steps (see _optimizer_rows): where |gradient| < eps, Adam's step is about
# lr * g / eps, so gradient rounding reaches the parameters multiplied by lr / eps = 1e5.
# float64: measured 1e-11 (weights from torch) to 3.3e-10 (from a hw4jax checkpoint).
F64_ADAM_REL = 1e-9
ADAM_EPS = 1e-8  # hw4jax.optimizers' and torch.optim.Adam's
BACKPROP_ABS = 1e-12

# The convolutions whose output goes straight into a BatchNorm: their bias cancels in
# train mode, so its true gradient is exactly zero.
BN_FED_CONVS = ("conv1", "conv3", "conv5")
OPTIMIZER_NAMES = ("adam", "sgd", "momentum")
DEVICES = ("cpu", "gpu")

REPO_ROOT = Path(__file__).resolve().parent.parent
AUGMENT_GOLDEN = REPO_ROOT / "tests" / "data" / "augment_golden.npz"


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


def compare(
    quantity: str, got: Any, want: Any, *, tolerance: float, criterion: str = "rel",
    note: str = "",
) -> Row:
    """A ``Row`` comparing ``got`` (hw4jax) with ``want`` (PyTorch), arrays of one shape.

    A shape mismatch or a NaN fails the row rather than raising.
    """
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return Row(quantity, None, None, tolerance, criterion, False,
                   f"shape {got.shape} != PyTorch's {want.shape}")
    err = float(np.max(np.abs(got - want), initial=0.0))
    scale = float(np.max(np.abs(want), initial=0.0))
    rel = err / scale if scale > 0 else (0.0 if err == 0 else math.inf)
    value = {"rel": rel, "abs": err}[criterion]
    passed = bool(value <= tolerance)  # False for NaN
    return Row(quantity, err, rel, tolerance, criterion, passed, note)


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'conv1': {'kernel': a}} -> {'conv1/kernel': a}."""
    flat = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path + "/"))
        else:
            flat[path] = value
    return flat


def _is_bn_fed_bias(path: str) -> bool:
    layer, name = path.split("/")
    return layer in BN_FED_CONVS and name == "bias"


# ----------------------------------------------------------------------------------------
# The PyTorch side.


def _torch():
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            "the PyTorch cross-check needs torch: pip install 'hw4jax[torch]'"
        ) from e
    return torch


def make_batches(
    *, seed: int, steps: int, batch_size: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``steps`` batches of float64 N(0, 1) images [batch_size, 3, 32, 32] (NCHW, the scale
    of normalized CIFAR-10) and int64 labels [batch_size] in 0..9."""
    rng = np.random.default_rng(seed)
    return [
        (rng.standard_normal((batch_size, 3, 32, 32)), rng.integers(0, 10, batch_size))
        for _ in range(steps)
    ]


def trained_torch_state_dict(
    *, seed: int, steps: int = 5, batch_size: int = 8
) -> dict[str, np.ndarray]:
    """A float32 ``Net`` state_dict after ``steps`` Adam steps (lr 1e-3, dropout on) on
    random batches from ``seed``: weights and BatchNorm statistics off their initial
    values, as a checkpoint's would be."""
    torch = _torch()
    from hw4jax import torch_reference

    torch.manual_seed(seed)
    net = torch_reference.Net()
    optimizer = torch_reference.make_torch_optimizer("adam", net.parameters(), 1e-3)
    for images, labels in make_batches(seed=seed + 1, steps=steps, batch_size=batch_size):
        torch_reference.train_step(
            net, optimizer, torch.from_numpy(images).float(), torch.from_numpy(labels))
    return {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}


def _torch_net(state_dict: Mapping[str, np.ndarray], dtype, device: str):
    """Net with these weights, in ``dtype`` on ``device``, every Dropout at p=0 (its masks
    cannot match across frameworks)."""
    torch = _torch()
    from hw4jax import torch_reference

    net = torch_reference.Net()
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()})
    for module in net.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return net.to(device=device, dtype=dtype)


def _torch_state(net) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def _torch_grads(net) -> dict[str, np.ndarray]:
    """The parameters' .grad in hw4jax's layout, {'conv1/kernel': array}."""
    sd = _torch_state(net)
    for name, p in net.named_parameters():
        sd[name] = p.grad.detach().cpu().numpy().copy()
    return _flatten(torch_interop.state_dict_to_variables(sd)["params"])


@contextlib.contextmanager
def _torch_highest_precision():
    """No TF32 in torch matmuls and convolutions, restored afterwards."""
    torch = _torch()
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.get_float32_matmul_precision())
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
        torch.set_float32_matmul_precision(saved[2])


# ----------------------------------------------------------------------------------------
# The CNN.


def cnn_rows(
    state_dict: Mapping[str, np.ndarray], batches: list[tuple[np.ndarray, np.ndarray]], *,
    precision: str, device: str = "cpu", learning_rates: Mapping[str, float] | None = None,
    optimizer_names: Sequence[str] = OPTIMIZER_NAMES,
) -> list[Row]:
    """Compares hw4jax's CNN with PyTorch's Net from the same weights.

    Args:
      state_dict: a Net state_dict (numpy arrays); converted to ``precision`` on both sides.
      batches: [(images float [N, 3, 32, 32] NCHW, labels int [N])]; the first batch feeds
        the forward and gradient rows, all of them the optimizer steps (k = len(batches)).
      precision: 'float64' or 'float32'.
      device: 'cpu' or 'gpu' (both frameworks on it).
      learning_rates: per optimizer name; default ``hw4jax.optimizers.DEFAULT_LEARNING_RATES``.
      optimizer_names: the optimizers whose k steps are compared (default: Adam, SGD and
        SGD with momentum).

    Returns:
      The rows listed in the module docstring, names prefixed 'f64' or 'f32'.
    """
    import jax

    if precision not in ("float64", "float32"):
        raise ValueError(f"precision must be 'float64' or 'float32', got {precision!r}")
    x64 = precision == "float64"
    with contextlib.ExitStack() as stack:
        stack.enter_context(jax.enable_x64(x64))
        stack.enter_context(jax.default_matmul_precision("highest"))
        stack.enter_context(_torch_highest_precision())
        stack.enter_context(jax.default_device(_jax_device(device)))
        return _cnn_rows(state_dict, batches, x64=x64, device=device,
                         learning_rates=learning_rates, optimizer_names=optimizer_names)


def _jax_device(device: str):
    import jax

    return jax.devices("gpu" if device == "gpu" else "cpu")[0]


def _cnn_rows(state_dict, batches, *, x64: bool, device: str, learning_rates,
              optimizer_names) -> list[Row]:
    import jax
    import jax.numpy as jnp
    import optax

    from hw4jax import optimizers, torch_reference
    from hw4jax.models import CNN

    torch = _torch()
    tdevice = "cuda" if device == "gpu" else "cpu"
    np_dtype = np.float64 if x64 else np.float32
    torch_dtype = torch.float64 if x64 else torch.float32
    tag = "f64" if x64 else "f32"
    learning_rates = dict(learning_rates or optimizers.DEFAULT_LEARNING_RATES)
    sd = {k: (v if k.endswith(torch_interop.NUM_BATCHES_TRACKED) else v.astype(np_dtype))
          for k, v in state_dict.items()}
    variables = jax.tree.map(jnp.asarray, torch_interop.state_dict_to_variables(sd))
    model = CNN(dropout_rate=0.0)  # dropout off; masks cannot match across frameworks

    def loss_fn(params, batch_stats, images, labels):
        logits, updates = model.apply(
            {"params": params, "batch_stats": batch_stats}, images, train=True,
            mutable=["batch_stats"])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        return loss, (logits, updates["batch_stats"])

    grad_fn = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
    eval_fn = jax.jit(lambda v, images: model.apply(v, images, train=False))

    def jax_batch(images, labels):
        return jnp.asarray(images.transpose(0, 2, 3, 1).astype(np_dtype)), jnp.asarray(labels)

    def torch_batch(images, labels):
        return (torch.from_numpy(images).to(device=tdevice, dtype=torch_dtype),
                torch.from_numpy(labels).to(tdevice))

    rows: list[Row] = []
    images, labels = batches[0]
    ximg, xlab = jax_batch(images, labels)
    timg, tlab = torch_batch(images, labels)

    # Eval mode: running statistics.
    net = _torch_net(sd, torch_dtype, tdevice).eval()
    with torch.no_grad():
        want_eval = net(timg).cpu().numpy()
    got_eval = eval_fn(variables, ximg)
    (loss, (got_logits, got_stats)), grads = grad_fn(
        variables["params"], variables["batch_stats"], ximg, xlab)

    if x64:
        dtypes = {str(a.dtype) for a in [got_eval, loss, got_logits,
                                          *jax.tree.leaves(got_stats), *jax.tree.leaves(grads)]}
        rows.append(Row(
            "f64 dtype of logits, loss, grads, batch_stats", None, None, 0.0, "exact",
            dtypes == {"float64"}, f"hw4jax computed in {', '.join(sorted(dtypes))}"))
        rows.append(compare("f64 eval logits", got_eval, want_eval, tolerance=F64_REL))
    else:
        rows.append(compare("f32 eval logits", got_eval, want_eval, tolerance=F32_LOGITS_ABS,
                            criterion="abs"))

    # Train mode, dropout off: batch statistics, loss, gradients, running statistics.
    net.train()
    net.zero_grad()
    want_logits = net(timg)
    want_loss = torch.nn.functional.cross_entropy(want_logits, tlab)
    want_loss.backward()
    want_grads = _torch_grads(net)
    want_stats = torch_interop.state_dict_to_variables(_torch_state(net))["batch_stats"]

    if x64:
        rows.append(compare("f64 train logits", got_logits, want_logits.detach().cpu().numpy(),
                            tolerance=F64_REL))
        rows.append(compare("f64 train loss", loss, want_loss.item(), tolerance=F64_REL))
    else:
        rows.append(compare("f32 train loss", loss, want_loss.item(), tolerance=F32_LOSS_ABS,
                            criterion="abs"))
    rel_tol, noise_tol = (F64_REL, F64_NOISE_ABS) if x64 else (F32_GRAD_REL, F32_NOISE_ABS)
    for path, got in _flatten(grads).items():
        if _is_bn_fed_bias(path):
            rows.append(compare(
                f"{tag} grad {path}", got, want_grads[path], tolerance=noise_tol,
                criterion="abs", note="true gradient is 0 (feeds a BatchNorm): rounding noise"))
        else:
            rows.append(compare(f"{tag} grad {path}", got, want_grads[path], tolerance=rel_tol))
    if x64:
        for path, got in _flatten(got_stats).items():
            rows.append(compare(f"f64 running {path} after 1 step", got,
                                _flatten(want_stats)[path], tolerance=F64_REL))

    # k optimizer steps on the same batches.
    steps = len(batches)
    for name in optimizer_names:
        lr = learning_rates[name]
        net = _torch_net(sd, torch_dtype, tdevice)
        optimizer = torch_reference.make_torch_optimizer(name, net.parameters(), lr)
        tx = optimizers.make_optimizer(name, lr)

        @jax.jit
        def apply_grads(grads, opt_state, params, tx=tx):
            updates, opt_state = tx.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        params, stats = variables["params"], variables["batch_stats"]
        opt_state = jax.jit(tx.init)(params)  # one compilation, not one per zeros_like
        for images, labels in batches:
            torch_reference.train_step(net, optimizer, *torch_batch(images, labels))
            (_, (_, stats)), grads = grad_fn(params, stats, *jax_batch(images, labels))
            params, opt_state = apply_grads(grads, opt_state, params)
        want = torch_interop.state_dict_to_variables(_torch_state(net))
        rows.extend(_optimizer_rows(
            f"{tag} {name}: {steps} steps", _flatten(params), _flatten(want["params"]),
            _flatten(stats), _flatten(want["batch_stats"]), x64=x64, adam=name == "adam",
            lr=lr, steps=steps))
    return rows


def _optimizer_rows(label, params, want_params, stats, want_stats, *, x64: bool, adam: bool,
                    lr: float, steps: int) -> list[Row]:
    """Three rows for one optimizer: the worst tensor of all parameters but the BN-fed conv
    biases, the worst running statistic, then those biases by absolute error.

    Adam's rows get wider bounds (see F64_ADAM_REL); in float32 they are bounds only.
    The biases' gradients are rounding noise of size <= noise (the gradient rows' own
    absolute tolerance). SGD with momentum <= 1 moves them by at most
    lr * noise * k(k+1)/2 after k steps. Adam's step lr * m / (sqrt(v) + eps) is about
    lr * min(1, |g| / eps) with random sign, so the two frameworks' biases differ by at most
    2 * k * lr * min(1, noise / eps): ~lr per step in float32, tiny in float64.
    """
    noise = F64_NOISE_ABS if x64 else F32_NOISE_ABS
    criterion, note = "rel", ""
    if x64:
        tol = F64_ADAM_REL if adam else F64_REL
        if adam:
            note = "Adam scales gradient rounding by lr/eps where |g| < eps"
    elif adam:
        criterion, tol = "abs", 2 * steps * lr
        note = ("float32: where |g| is near float32 rounding, Adam steps +-lr with random "
                "sign; bound 2k lr, not a parity proof (the f64 rows are)")
    else:
        tol = F32_PARAMS_REL
    rows = [_worst(label + ", params", params, want_params, tol, skip=_is_bn_fed_bias,
                   criterion=criterion, note=note),
            _worst(label + ", running stats", stats, want_stats, tol, criterion=criterion,
                   note=note)]
    biases = [p for p in params if _is_bn_fed_bias(p)]
    got = np.concatenate([np.asarray(params[p]) for p in biases])
    want = np.concatenate([want_params[p] for p in biases])
    quantity = f"{label}, {'/'.join(b.split('/')[0] for b in biases)} bias"
    if adam:
        bias_tol = 2 * steps * lr * min(1.0, noise / ADAM_EPS)
        rows.append(compare(
            quantity, got, want, tolerance=bias_tol, criterion="abs",
            note=f"zero true gradient: Adam steps its rounding noise by up to lr * "
                 f"min(1, noise/eps) with random sign; bound 2k lr min(1, {noise:g}/eps)"))
    else:
        rows.append(compare(quantity, got, want, tolerance=noise * lr * steps * (steps + 1) / 2,
                            criterion="abs",
                            note="zero true gradient: rounding noise times the steps"))
    return rows


def _worst(label: str, got: Mapping[str, Any], want: Mapping[str, np.ndarray], tolerance: float,
           *, criterion: str = "rel", skip: Callable[[str], bool] = lambda p: False,
           note: str = "") -> Row:
    """The row of the tensor with the largest error (by ``criterion``), named in the note."""
    rows = {p: compare(label, got[p], want[p], tolerance=tolerance, criterion=criterion)
            for p in got if not skip(p)}
    key = "rel_error" if criterion == "rel" else "max_abs_error"
    path, row = max(rows.items(),
                    key=lambda kv: (not kv[1].passed, getattr(kv[1], key) or 0.0))
    worst = f"worst of {len(rows)} tensors: {path}"
    return dataclasses.replace(row, note=f"{worst}; {note}" if note else worst)


# ----------------------------------------------------------------------------------------
# Question 2 and the augmentation fixtures: rows when this checkout has them.


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def backprop_rows() -> list[Row]:
    """hw4jax.backprop's 2-2-1 loss, gradients (chain rule and jax.grad) and weights after
    each step of the homework's setting, against torch autograd in float64. One passing
    'not available' row where this checkout has no hw4jax.backprop."""
    if not _has_module("hw4jax.backprop"):
        return [Row("backprop 2-2-1", None, None, BACKPROP_ABS, "n/a", True,
                    "not available: hw4jax.backprop is not in this checkout")]
    return _backprop_rows()


def _backprop_rows() -> list[Row]:
    from hw4jax import backprop

    torch = _torch()
    setting = backprop.HOMEWORK
    trace = backprop.trace(setting)
    i1, i2 = setting.inputs
    w = torch.tensor(setting.weights, dtype=torch.float64)
    rows = []
    for step in trace.steps:
        w.requires_grad_(True)
        h1, h2 = i1 * w[0] + i2 * w[1], i1 * w[2] + i2 * w[3]
        o_out = torch.sigmoid(h1 * w[4] + h2 * w[5])
        squared = (setting.target - o_out) ** 2
        loss = 0.5 * squared if setting.loss == "half_squared" else squared
        (grad,) = torch.autograd.grad(loss, w)
        with torch.no_grad():
            w = w - setting.learning_rate * grad
        names = backprop.WEIGHT_NAMES
        q = step.quantities
        it = f"2-2-1 iteration {step.iteration}"
        want_grad = grad.numpy()
        rows += [
            compare(f"{it}: E", q["E"], loss.item(), tolerance=BACKPROP_ABS, criterion="abs",
                    note=f"E = {backprop.LOSS_FORMULAS[setting.loss]}"),
            compare(f"{it}: dE/dw chain rule", [q[f"dE/d{n}"] for n in names], want_grad,
                    tolerance=BACKPROP_ABS, criterion="abs"),
            compare(f"{it}: dE/dw jax.grad", [step.autodiff_grads[f"dE/d{n}"] for n in names],
                    want_grad, tolerance=BACKPROP_ABS, criterion="abs"),
            compare(f"{it}: weights after the step", [step.weights_after[n] for n in names],
                    w.numpy(), tolerance=BACKPROP_ABS, criterion="abs"),
        ]
    return rows


def augment_rows(golden: str | os.PathLike | None = None) -> list[Row]:
    """hw4jax.augment's ops, in each backend (tf_ops, jax_ops), against torchvision's
    golden outputs: 0 differing pixels.

    One row per fixture array and backend ('augment tf rotated', 'augment jax rotated',
    ...). Where hw4jax.augment exists, a missing fixture file (or a missing array in it)
    is a failing row, never a skip; where the module does not exist, one passing 'not
    available' row says so."""
    if not _has_module("hw4jax.augment"):
        return [Row("augment golden", None, None, 0, "n/a", True,
                    "not available: hw4jax.augment is not in this checkout")]
    path = Path(golden) if golden is not None else AUGMENT_GOLDEN
    if not path.is_file():
        return [Row("augment golden", None, None, 0, "n/a", False,
                    f"not available: fixture {path} missing (hw4jax.augment is here, so it "
                    "should be: regenerate it or pass --augment-golden)")]
    return _augment_rows(path)


# The two backends of hw4jax.augment's specification, by row name.
AUGMENT_BACKENDS = ("tf", "jax")


# Each golden array of tests/data/augment_golden.npz (scripts/make_augment_fixtures.py)
# and how a backend's ops (tf_ops or jax_ops: the same functions) recompute it from the
# fixture's images and parameters. Each op runs once on all the fixture's images (so
# the JAX backend compiles each op for one batch shape), and the single-op arrays are
# compared on their first M images; the coordinate-image warps run in batches of that
# size too.
def _augment_cases(augment, d) -> dict[str, Callable[[int], Any]]:
    images = d["images"]
    n = len(images)

    def jitter(x):
        return augment.color_jitter(x, d["order"], d["brightness"], d["contrast"], d["saturation"])

    def chain():
        image = augment.horizontal_flip(images, d["flip"])
        image = augment.rotate(image, d["angle"])
        image = augment.affine(image, d["scale"], d["shear"])
        return jitter(image)

    def coordinates(warp, m):
        out = []
        for start in range(0, m, n):
            index = np.arange(start, start + n) % len(d["warp_angle"])
            out.append(np.asarray(warp(np.broadcast_to(d["coordinates"], (n, 32, 32, 3)), index)))
        return np.concatenate(out)[:m]

    def levels(m):
        return augment.to_float_normalized(
            np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), 3, axis=2))[..., 0]

    whole = {
        "flipped": lambda: augment.horizontal_flip(images, True),
        "rotated": lambda: augment.rotate(images, d["angle"]),
        "affined": lambda: augment.affine(images, d["scale"], d["shear"]),
        "brightness_out": lambda: augment.adjust_brightness(images, d["brightness"]),
        "contrast_out": lambda: augment.adjust_contrast(images, d["contrast"]),
        "saturation_out": lambda: augment.adjust_saturation(images, d["saturation"]),
        "jittered": lambda: jitter(images),
        "chain": chain,
        "chain_normalized": lambda: augment.to_float_normalized(chain()),
    }
    done: dict[str, np.ndarray] = {}

    def first(name):
        def compute(m):
            if name not in done:
                done[name] = np.asarray(whole[name]())
            return done[name][:m]
        return compute

    return {
        **{name: first(name) for name in whole},
        "levels_normalized": lambda m: np.reshape(levels(m), (256,)),
        "coordinates_rotated": lambda m: coordinates(
            lambda x, i: augment.rotate(x, d["warp_angle"][i]), m),
        "coordinates_affined": lambda m: coordinates(
            lambda x, i: augment.affine(x, d["warp_scale"][i], d["warp_shear"][i]), m),
    }


# Arrays the fixture must hold; the coordinate-image warps are checked where recorded.
AUGMENT_REQUIRED = ("flipped", "rotated", "affined", "brightness_out", "contrast_out",
                    "saturation_out", "jittered", "chain", "chain_normalized",
                    "levels_normalized")


def _augment_rows(path: Path) -> list[Row]:
    from hw4jax.augment import jax_ops, tf_ops

    with np.load(path, allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    rows = []
    for backend, ops in zip(AUGMENT_BACKENDS, (tf_ops, jax_ops)):
        cases = _augment_cases(ops, d) if "images" in d else {}
        for name in dict.fromkeys([*AUGMENT_REQUIRED, *cases]):
            quantity = f"augment {backend} {name}"
            if name not in d or name not in cases:
                if name in AUGMENT_REQUIRED:
                    rows.append(Row(quantity, None, None, 0, "count", False,
                                    f"fixture {path.name} lacks {name!r}: regenerate it"))
                continue
            want = d[name]
            try:
                got = np.asarray(cases[name](len(want)))
            except Exception as e:  # an op that fails on the fixture is a failing row
                rows.append(Row(quantity, None, None, 0, "count", False,
                                f"hw4jax.augment.{backend}_ops raised {type(e).__name__}: {e}"))
                continue
            if got.shape != want.shape:
                rows.append(Row(quantity, None, None, 0, "count", False,
                                f"shape {got.shape} != fixture's {want.shape}"))
                continue
            # Differing pixels (uint8) or values (float32, bitwise): any difference fails.
            if want.ndim == 4:
                differ = np.any(got != want, axis=-1)
                what = f"pixels differ, {len(want)} images"
            else:
                differ = got != want
                what = "values differ"
            count = int(np.count_nonzero(differ))
            err = float(np.max(np.abs(got.astype(np.float64) - want), initial=0.0))
            rows.append(Row(quantity, float(count), None, 0, "count", count == 0,
                            f"{count} of {differ.size} {what} (max |diff| {err:g})"))
    return rows


# ----------------------------------------------------------------------------------------
# The whole check.


def check_device(device: str) -> None:
    """Raises ValueError unless both JAX and torch can run on ``device``."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "gpu":
        import jax

        try:
            jax.devices("gpu")
        except RuntimeError as e:
            raise ValueError(
                f"--device gpu: JAX sees no GPU on this machine ({e}); use --device cpu"
            ) from e
        if not _torch().cuda.is_available():
            raise ValueError(
                "--device gpu: this torch build sees no CUDA GPU (a CPU wheel?); use --device cpu"
            )


def crosscheck(
    *, weights: str | os.PathLike | None = None, checkpoint: str | os.PathLike | None = None,
    save_weights: str | os.PathLike | None = None, device: str = "cpu", batch_size: int = 8,
    steps: int = 3, seed: int = 0, augment_golden: str | os.PathLike | None = None,
) -> list[Row]:
    """Every row of the parity table (see the module docstring).

    Args:
      weights: a ``torch.save(Net().state_dict())`` file; default: a Net seeded with
        ``seed`` after 5 Adam steps on random data.
      checkpoint: instead of ``weights``, a hw4jax training run's workdir: its latest
        checkpoint, exported by ``torch_interop.export_checkpoint``.
      save_weights: where to also write the checked weights as a .pt state_dict.
      device: 'cpu' or 'gpu' (both frameworks; highest matmul precision either way).
      batch_size: images per batch, >= 2 (BatchNorm needs two to have a variance).
      steps: optimizer steps k compared per optimizer, >= 1.
      seed: the random batches' (and default weights') seed.
      augment_golden: the augmentation fixture; default tests/data/augment_golden.npz.

    Raises:
      ValueError: bad argument, an unreadable or mismatched weights file or checkpoint, or
        no GPU for ``device='gpu'``.
    """
    check_device(device)
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 (BatchNorm's variance), got {batch_size}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if weights is not None and checkpoint is not None:
        raise ValueError("pass weights or checkpoint, not both")
    if checkpoint is not None:
        with tempfile.TemporaryDirectory() as tmp:
            out = save_weights if save_weights is not None else Path(tmp) / "export.pt"
            state_dict = torch_interop.export_checkpoint(checkpoint, out)
    elif weights is not None:
        state_dict = torch_interop.load_state_dict_file(weights)
        torch_interop.state_dict_to_variables(state_dict)  # checks every key and shape
    else:
        state_dict = trained_torch_state_dict(seed=seed)
    if save_weights is not None and checkpoint is None:
        torch_interop.save_state_dict_file(state_dict, save_weights)
    batches = make_batches(seed=seed + 2, steps=steps, batch_size=batch_size)
    rows = []
    for precision in ("float64", "float32"):
        rows += cnn_rows(state_dict, batches, precision=precision, device=device)
    rows += backprop_rows()
    rows += augment_rows(augment_golden)
    return rows


def all_passed(rows: list[Row]) -> bool:
    return all(r.passed for r in rows)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2e}"


_TOLERANCE_TEXT = {"n/a": "-", "exact": "exact"}


def format_table(rows: list[Row]) -> str:
    """The rows as a fixed-width text table, one line per row, then a summary line."""
    header = ("quantity", "max abs err", "rel err", "tolerance", "pass")
    lines = [
        (r.quantity, _fmt(r.max_abs_error), _fmt(r.rel_error),
         _TOLERANCE_TEXT.get(r.criterion, f"{r.tolerance:g} {r.criterion}"),
         ("PASS" if r.passed else "FAIL") + (f"  {r.note}" if r.note else ""))
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header[:4])]

    def fmt(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))) + "  " + cells[4]

    failed = sum(not r.passed for r in rows)
    return "\n".join([fmt(header), *map(fmt, lines),
                      f"{len(rows) - failed}/{len(rows)} rows pass"])


def rows_as_json(rows: list[Row]) -> str:
    """The rows as JSON: {"passed": bool, "rows": [{field: value}]} (inf as null)."""
    def clean(row: Row) -> dict:
        d = dataclasses.asdict(row)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in d.items()}
    return json.dumps({"passed": all_passed(rows), "rows": [clean(r) for r in rows]}, indent=1)
