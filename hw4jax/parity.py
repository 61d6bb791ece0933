"""Numerical parity of hw4jax with the homework's PyTorch code, as one table of checks.

From the same weights (a PyTorch ``Net`` trained for a few steps, so that weights and
BatchNorm statistics are off their initial values, or a given state_dict) and the same
batches, both frameworks compute: eval logits, train-mode logits and loss (dropout off),
the gradient of every parameter, BatchNorm running statistics after a train step, and the
parameters and statistics after k steps of Adam, SGD and SGD with momentum. Both start
from the float32 values of the weights and images, in both precisions.

float64 on both sides (JAX x64 scoped to the check, ``.double()`` in torch) proves the two
programs are the same function: every row within 1e-10 normwise relative error
(``max|got - want| / max|want|``), but Adam's parameters: 1e-9 (where |gradient| < eps,
Adam's step is about lr * g / eps, so rounding reaches the parameters times lr / eps = 1e5).

float32, as users run it, is judged by a criterion that no machine can move: each
framework's float32 result is compared with the float64 result from the same float32
inputs, and hw4jax passes when its error is within 4 times PyTorch's plus 4 float32 ulps of
the quantity's scale (``compare_to_reference``). On a CPU whose kernels round differently
(vector width, FMA, summation order) both errors move together; a fixed tolerance does not.
Three refinements make the criterion exact rather than lucky:

  * Branches. A ReLU or a max-pool decides (x > 0? which input is largest?); where exact
    arithmetic puts the candidates closer than float32 rounding, a float32 run may decide
    otherwise. Values barely move, but the gradient takes another route, by far more than
    rounding. Each float32 run records its decisions, and its gradients and steps are
    compared with float64 on that same branch (hw4jax's model made to follow the decisions
    through ``flax.linen.intercept_methods``; the float64 rows show it is PyTorch's
    function). The report counts the decisions that differed from exact arithmetic.
  * Adam divides each gradient by its running RMS, so a gradient's rounding reaches an
    element whose gradients stay small multiplied by up to lr / eps; its parameter rows
    measure both frameworks' errors in units of what float32 can cause at each element
    (``_adam_float32_rows``). optax also computes Adam's bias corrections 1 - b^t in
    float32, which costs each step a relative error of about 1e-5 that torch's float64
    corrections do not have: a derived allowance (``optax_adam_step_error``).
  * The conv biases that feed a BatchNorm (conv1, conv3, conv5) have an exactly zero
    gradient in train mode; both frameworks return rounding noise there. Adam turns that
    noise into steps of up to lr with random sign, so those rows hold hw4jax and PyTorch to
    Adam's step-size bound (``adam_step_ratio_bound``): a bound, not a parity proof (the
    float64 rows are the proof).

Plus the 2-2-1 network of Question 2 (``hw4jax.backprop`` against torch autograd) and the
augmentation golden fixtures (``hw4jax.augment`` against torchvision's outputs).

Nothing here changes a global JAX or torch setting for longer than the check: float64
runs under ``jax.enable_x64(True)``, the matmul precision under
``jax.default_matmul_precision('highest')``, and torch's TF32 switches are restored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
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
    torch_error: float | None = None
    torch_rel_error: float | None = None


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


def compare_to_reference(
    quantity: str, got: Any, torch_got: Any, reference: Any, *, torch_reference: Any = None,
    factor: float = F32_FACTOR, ulps: float = F32_ULPS, allowance: float = 0.0, note: str = "",
) -> Row:
    """A float32 row: hw4jax's error against the float64 ``reference`` judged by PyTorch's.

    Both errors are max abs errors against float64 (PyTorch's against ``torch_reference``,
    default ``reference``); the row passes when
    ``err_hw4jax <= factor * err_pytorch + ulps * eps32 * max|reference| + allowance``:
    hw4jax is as close to the exact value as PyTorch is, up to ``factor``, or within a few
    float32 ulps of the quantity's scale (plus a derived ``allowance`` for a known, bounded
    difference). Neither side depends on the machine: on a CPU whose kernels round
    differently both errors move together.

    A shape mismatch or a NaN fails the row rather than raising.
    """
    if torch_reference is None:
        torch_reference = reference
    arrays = [np.asarray(a, dtype=np.float64)
              for a in (got, torch_got, reference, torch_reference)]
    got, torch_got, reference, torch_reference = arrays
    if len({a.shape for a in arrays}) > 1:
        return Row(quantity, None, None, 0.0, "f64ref", False,
                   f"shapes differ: hw4jax {got.shape}, PyTorch {torch_got.shape}, float64 "
                   f"{reference.shape}")
    scale = float(np.max(np.abs(reference), initial=0.0))
    err = float(np.max(np.abs(got - reference), initial=0.0))
    torch_err = float(np.max(np.abs(torch_got - torch_reference), initial=0.0))
    bound = factor * torch_err + ulps * EPS32 * scale + allowance

    def rel(e: float) -> float:
        return e / scale if scale > 0 else (0.0 if e == 0 else math.inf)

    return Row(quantity, err, rel(err), bound, "f64ref", bool(err <= bound), note,
               torch_error=torch_err, torch_rel_error=rel(torch_err))


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
    """``steps`` batches of float32 N(0, 1) images [batch_size, 3, 32, 32] (NCHW, the scale
    of normalized CIFAR-10) and int64 labels [batch_size] in 0..9. float32 values, so that
    the float64 computation starts from exactly the float32 one's inputs."""
    rng = np.random.default_rng(seed)
    return [
        (rng.standard_normal((batch_size, 3, 32, 32)).astype(np.float32),
         rng.integers(0, 10, batch_size))
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


def _torch_per_parameter(net, value: Callable) -> dict[str, np.ndarray]:
    """``value(parameter)`` (a tensor shaped like it) for every parameter of ``net``, in
    hw4jax's layout: {'conv1/kernel': array}."""
    sd = _torch_state(net)
    for name, p in net.named_parameters():
        sd[name] = value(p).detach().cpu().numpy().copy()
    return _flatten(torch_interop.state_dict_to_variables(sd)["params"])


def _torch_grads(net) -> dict[str, np.ndarray]:
    """The parameters' .grad in hw4jax's layout, {'conv1/kernel': array}."""
    return _torch_per_parameter(net, lambda p: p.grad)


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
# The CNN: each framework computes every quantity once per precision (``Computed``), then the
# row families below compare them.
#
# Branches. A ReLU and a max-pool make discrete decisions (is x > 0? which input of the
# window is largest?). Where exact arithmetic puts two candidates closer together than
# float32 rounding, a float32 forward may decide otherwise than exact arithmetic does: the
# values barely move (both functions are continuous), but the gradient takes another route,
# which no rounding bound covers. Each framework's float32 run records the decisions it
# took (its branch); its gradients and optimizer steps are then compared with the float64
# computation on that same branch (hw4jax's model with the decisions pinned, through
# flax.linen.intercept_methods on its ReLU and MaxPool2x2 modules). Their errors are then
# rounding alone, and the report says how many decisions differed from exact arithmetic.

ReLUMask = np.ndarray  # bool, the ReLU's input shape (NHWC or [N, F]): x > 0
PoolWeights = np.ndarray  # float32 [N, H//2, 2, W//2, 2, C]: each window's gradient routing


@dataclasses.dataclass(frozen=True)
class Computed:
    """Every compared quantity of one framework at one precision, as float64 numpy arrays.

    Attributes:
      forward: 'eval logits' [N, 10], 'train logits' [N, 10] and 'train loss' [] (dropout off).
      grads: the first batch's gradient per parameter, 'conv1/kernel' ... (hw4jax's layout).
      stats: BatchNorm running statistics after that one train step, 'bn1/mean' ...
      steps: per optimizer name, (params, running statistics) after k steps.
      dtypes: the dtypes the framework computed in.
      branches: the decisions of every train-mode forward ('grad': the first batch's; per
        optimizer name, one per step): {'relu1': ReLUMask, ..., 'pool1': PoolWeights, ...}.
      adam_rms: per parameter, the smallest sqrt(v_hat_t) over Adam's k steps (the scale
        each step divides by, next to eps).
    """

    forward: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    steps: dict[str, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]
    dtypes: frozenset[str]
    branches: dict[str, Any] = dataclasses.field(default_factory=dict)
    adam_rms: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


def _as_f64(tree: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64) for k, v in _flatten(tree).items()}


def float32_inputs(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The state_dict with every float tensor rounded to float32 (the counter kept): the
    inputs both precisions start from, so that the float64 run is the exact-arithmetic
    reference of the float32 runs."""
    return {k: (np.asarray(v) if k.endswith(torch_interop.NUM_BATCHES_TRACKED)
                else np.asarray(v, dtype=np.float32)) for k, v in state_dict.items()}


def _decide(module, x):
    """The ReLU's mask (x > 0) or the max-pool's gradient routing (shared equally among tied
    maxima, as JAX's gradient of a max does) that ``module`` takes on input ``x``."""
    from hw4jax.cnn.model import ReLU, pool_windows

    if isinstance(module, ReLU):
        return x > 0
    windows = pool_windows(x)
    hit = (windows == windows.max(axis=(2, 4), keepdims=True)).astype(x.dtype)
    return hit / hit.sum(axis=(2, 4), keepdims=True)


def _follow(module, x, decision):
    """``module``'s output on ``x`` along ``decision``: x where the mask is set (ReLU), the
    windows weighted by the routing (max-pool); the gradient takes the same route."""
    import jax.numpy as jnp

    from hw4jax.cnn.model import ReLU, pool_windows

    if isinstance(module, ReLU):
        return jnp.where(decision, x, 0)
    return jnp.sum(pool_windows(x) * decision.astype(x.dtype), axis=(2, 4))


def _record_branch(next_fun, args, kwargs, context):
    """flax interceptor: each ReLU and max-pool decides once, sows the decision into
    'branch' and follows it. Deciding once matters: XLA may recompute a ReLU's input for the
    backward pass in another fusion, rounded differently, so at a near-tie the natural
    program's backward can take another route than its forward; behind the optimization
    barrier both use the one recorded decision."""
    import jax

    from hw4jax.cnn.model import MaxPool2x2, ReLU

    module = context.module
    if context.method_name != "__call__" or not isinstance(module, (ReLU, MaxPool2x2)):
        return next_fun(*args, **kwargs)
    decision = jax.lax.optimization_barrier(_decide(module, args[0]))
    module.sow("branch", "decision", decision)
    return _follow(module, args[0], decision)


def _pinned_branch(branch: Mapping[str, np.ndarray]):
    """flax interceptor: each ReLU and max-pool follows the recorded decision instead of
    making its own."""
    from hw4jax.cnn.model import MaxPool2x2, ReLU

    def interceptor(next_fun, args, kwargs, context):
        module = context.module
        if context.method_name == "__call__" and isinstance(module, (ReLU, MaxPool2x2)):
            return _follow(module, args[0], branch[module.name])
        return next_fun(*args, **kwargs)

    return interceptor


@functools.lru_cache(maxsize=None)
def _jax_cnn_fns():
    """(grad_fn, eval_fn), jitted once per process: train-mode loss, gradients, new batch
    statistics and the branch (recorded, or followed when one is passed); eval logits."""
    import flax.linen as nn
    import jax
    import optax

    from hw4jax.cnn.model import CNN

    model = CNN(dropout_rate=0.0)  # dropout off; masks cannot match across frameworks

    def loss_fn(params, batch_stats, images, labels, branch):
        interceptor = _record_branch if branch is None else _pinned_branch(branch)
        with nn.intercept_methods(interceptor):
            logits, updates = model.apply(
                {"params": params, "batch_stats": batch_stats}, images, train=True,
                mutable=["batch_stats", "branch"])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        decisions = {name: d["decision"][0] for name, d in updates.get("branch", {}).items()}
        return loss, (logits, updates["batch_stats"], decisions)

    return (jax.jit(jax.value_and_grad(loss_fn, has_aux=True)),
            jax.jit(lambda v, images: model.apply(v, images, train=False)))


@functools.lru_cache(maxsize=None)
def _adam_min_rms_fn():
    """Jitted (nu, t, previous) -> min(previous, sqrt(v_hat_t)) elementwise, for Adam's
    second moment ``nu`` after step t (``previous`` None at the first step)."""
    import jax
    import jax.numpy as jnp

    def min_rms(nu, t, previous):
        rms = jax.tree.map(lambda v: jnp.sqrt(v / (1 - ADAM_B2**t)), nu)
        return rms if previous is None else jax.tree.map(jnp.minimum, rms, previous)

    return jax.jit(min_rms)


@functools.lru_cache(maxsize=None)
def _jax_optimizer_fns(name: str, learning_rate: float):
    """(init, apply_grads) of hw4jax's optimizer ``name``, jitted once per process."""
    import jax
    import optax

    from hw4jax import optimizers

    tx = optimizers.make_optimizer(name, learning_rate)

    def apply_grads(grads, opt_state, params):
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    return jax.jit(tx.init), jax.jit(apply_grads)


def _jax_side(sd, batches, *, x64: bool, learning_rates, optimizer_names,
              branches: Mapping[str, Any] | None = None) -> Computed:
    """hw4jax's CNN from ``sd`` (float32 values) in float64 or float32. Records the branch of
    every train-mode forward, or, given ``branches``, follows them."""
    import jax
    import jax.numpy as jnp
    import optax

    dtype = np.float64 if x64 else np.float32
    sd = {k: v if k.endswith(torch_interop.NUM_BATCHES_TRACKED) else v.astype(dtype)
          for k, v in sd.items()}
    variables = jax.tree.map(jnp.asarray, torch_interop.state_dict_to_variables(sd))
    grad_fn, eval_fn = _jax_cnn_fns()

    def batch(images, labels):
        return jnp.asarray(images.transpose(0, 2, 3, 1).astype(dtype)), jnp.asarray(labels)

    def pinned(key, index=None):
        if branches is None:
            return None
        return branches[key] if index is None else branches[key][index]

    images, labels = batch(*batches[0])
    eval_logits = eval_fn(variables, images)
    (loss, (logits, stats, decisions)), grads = grad_fn(
        variables["params"], variables["batch_stats"], images, labels, pinned("grad"))
    dtypes = frozenset(str(a.dtype) for a in [eval_logits, loss, logits,
                                               *jax.tree.leaves((stats, grads))])
    recorded = {"grad": jax.device_get(decisions)}
    steps, adam_rms = {}, {}
    for name in optimizer_names:
        init, apply_grads = _jax_optimizer_fns(name, learning_rates[name])
        params, step_stats = variables["params"], variables["batch_stats"]
        opt_state = init(params)
        recorded[name], rms = [], None
        for index, step_batch in enumerate(batches):
            (_, (_, step_stats, decisions)), step_grads = grad_fn(
                params, step_stats, *batch(*step_batch), pinned(name, index))
            params, opt_state = apply_grads(step_grads, opt_state, params)
            recorded[name].append(jax.device_get(decisions))
            if name == "adam":  # Adam's denominator scale at this step, its minimum so far
                nu = optax.tree_utils.tree_get(opt_state, "nu")
                rms = _adam_min_rms_fn()(nu, index + 1, rms)
        steps[name] = (_as_f64(params), _as_f64(step_stats))
        if name == "adam":
            adam_rms = _as_f64(rms)
    return Computed(
        forward={"eval logits": np.asarray(eval_logits, np.float64),
                 "train logits": np.asarray(logits, np.float64),
                 "train loss": np.asarray(loss, np.float64)},
        grads=_as_f64(grads), stats=_as_f64(stats), steps=steps, dtypes=dtypes,
        branches={} if branches is not None else recorded, adam_rms=adam_rms)


# The homework Net's ReLU and MaxPool2d modules in forward order, named as hw4jax's.
_TORCH_RELUS = tuple(f"relu{i}" for i in range(1, 9))
_TORCH_POOLS = ("pool1", "pool2", "pool3")


def _torch_branch_hooks(net, record: dict[str, np.ndarray]) -> list:
    """Forward hooks that write each ReLU's and MaxPool2d's decisions into ``record``, in
    hw4jax's NHWC layout. PyTorch's max-pool routes a window's gradient to its first
    maximum in row-major order."""
    torch = _torch()

    def nhwc(x):
        x = x.detach().cpu().numpy()
        return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x

    def relu_hook(name):
        return lambda module, inputs, output: record.__setitem__(name, nhwc(inputs[0]) > 0)

    def pool_hook(name):
        def hook(module, inputs, output):
            x = nhwc(inputs[0])
            n, h, w, c = x.shape
            windows = x[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c)
            flat = windows.transpose(0, 1, 3, 5, 2, 4).reshape(n, h // 2, w // 2, c, 4)
            first = np.eye(4, dtype=np.float32)[flat.argmax(axis=-1)]  # argmax: first max
            record[name] = first.reshape(n, h // 2, w // 2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3)
        return hook

    relus = [m for m in net.modules() if isinstance(m, torch.nn.ReLU)]
    pools = [m for m in net.modules() if isinstance(m, torch.nn.MaxPool2d)]
    return ([m.register_forward_hook(relu_hook(n)) for m, n in zip(relus, _TORCH_RELUS)]
            + [m.register_forward_hook(pool_hook(n)) for m, n in zip(pools, _TORCH_POOLS)])


def _torch_side(sd, batches, *, x64: bool, device: str, learning_rates,
                optimizer_names) -> Computed:
    """The homework's Net from ``sd`` (float32 values) in float64 or float32, recording the
    branch of every train-mode forward."""
    torch = _torch()
    from hw4jax import torch_reference

    tdevice = "cuda" if device == "gpu" else "cpu"
    dtype = torch.float64 if x64 else torch.float32

    def batch(images, labels):
        return (torch.from_numpy(images).to(device=tdevice, dtype=dtype),
                torch.from_numpy(labels).to(tdevice))

    def variables(net):
        return torch_interop.state_dict_to_variables(_torch_state(net))

    images, labels = batch(*batches[0])
    net = _torch_net(sd, dtype, tdevice).eval()
    with torch.no_grad():
        eval_logits = net(images)
    net.train()
    net.zero_grad()
    decisions: dict[str, np.ndarray] = {}
    hooks = _torch_branch_hooks(net, decisions)
    logits = net(images)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    for hook in hooks:
        hook.remove()
    recorded = {"grad": decisions}
    grads = _torch_grads(net)
    stats = variables(net)["batch_stats"]
    steps, adam_rms = {}, {}
    for name in optimizer_names:
        net = _torch_net(sd, dtype, tdevice)
        optimizer = torch_reference.make_torch_optimizer(name, net.parameters(),
                                                         learning_rates[name])
        recorded[name], rms = [], None
        for t, step_batch in enumerate(batches, start=1):
            decisions = {}
            hooks = _torch_branch_hooks(net, decisions)
            torch_reference.train_step(net, optimizer, *batch(*step_batch))
            for hook in hooks:
                hook.remove()
            recorded[name].append(decisions)
            if name == "adam":  # sqrt(v_hat_t), its minimum so far (as _jax_side)
                step_rms = _torch_per_parameter(net, lambda p, t=t: (
                    optimizer.state[p]["exp_avg_sq"] / (1 - ADAM_B2 ** t)).sqrt())
                rms = step_rms if rms is None else {k: np.minimum(v, step_rms[k])
                                                    for k, v in rms.items()}
        after = variables(net)
        steps[name] = (_as_f64(after["params"]), _as_f64(after["batch_stats"]))
        if name == "adam":
            adam_rms = _as_f64(rms)
    return Computed(
        forward={"eval logits": eval_logits.cpu().numpy().astype(np.float64),
                 "train logits": logits.detach().cpu().numpy().astype(np.float64),
                 "train loss": np.float64(loss.item())},
        grads={k: np.asarray(v, np.float64) for k, v in grads.items()},
        stats=_as_f64(stats), steps=steps, dtypes=frozenset({str(dtype)}),
        branches=recorded, adam_rms=adam_rms)


def compute_cnn(
    state_dict: Mapping[str, np.ndarray], batches: list[tuple[np.ndarray, np.ndarray]], *,
    precision: str, framework: str, device: str = "cpu",
    learning_rates: Mapping[str, float] | None = None,
    optimizer_names: Sequence[str] = OPTIMIZER_NAMES,
    branches: Mapping[str, Any] | None = None,
) -> Computed:
    """One framework's quantities, from ``float32_inputs(state_dict)`` and the batches.

    Args:
      state_dict: a Net state_dict (numpy arrays); rounded to float32 first.
      batches: [(images float32 [N, 3, 32, 32] NCHW, labels int [N])]; the first batch
        feeds the forward and gradient quantities, all of them the optimizer steps.
      precision: 'float64' or 'float32'.
      framework: 'hw4jax' or 'pytorch'.
      device: 'cpu' or 'gpu'.
      learning_rates: per optimizer name; default ``hw4jax.optimizers.DEFAULT_LEARNING_RATES``.
      optimizer_names: the optimizers whose k steps are computed.
      branches: hw4jax only: follow these recorded decisions (another run's
        ``Computed.branches``) in every train-mode forward instead of deciding.
    """
    import jax

    from hw4jax import optimizers

    if precision not in ("float64", "float32"):
        raise ValueError(f"precision must be 'float64' or 'float32', got {precision!r}")
    if framework not in ("hw4jax", "pytorch"):
        raise ValueError(f"framework must be 'hw4jax' or 'pytorch', got {framework!r}")
    if branches is not None and framework != "hw4jax":
        raise ValueError("only hw4jax's model can follow recorded branches")
    x64 = precision == "float64"
    kwargs = dict(x64=x64, learning_rates=dict(learning_rates or optimizers.DEFAULT_LEARNING_RATES),
                  optimizer_names=tuple(optimizer_names))
    sd = float32_inputs(state_dict)
    batches = [(np.asarray(images, np.float32), np.asarray(labels)) for images, labels in batches]
    with contextlib.ExitStack() as stack:
        stack.enter_context(jax.enable_x64(x64))
        stack.enter_context(jax.default_matmul_precision("highest"))
        stack.enter_context(_torch_highest_precision())
        stack.enter_context(jax.default_device(_jax_device(device)))
        if framework == "hw4jax":
            return _jax_side(sd, batches, branches=branches, **kwargs)
        return _torch_side(sd, batches, device=device, **kwargs)


def _jax_device(device: str):
    import jax

    return jax.devices("gpu" if device == "gpu" else "cpu")[0]


def _decisions(branches: Mapping[str, Any]):
    """(name, decision) of every recorded forward, in a fixed order."""
    for key in sorted(branches):
        forwards = branches[key] if isinstance(branches[key], list) else [branches[key]]
        for forward in forwards:
            for name in sorted(forward):
                yield name, forward[name]


def branch_differences(branches: Mapping[str, Any], exact: Mapping[str, Any]) -> int:
    """How many ReLU or max-pool decisions of ``branches`` differ from ``exact``'s (a float64
    run of the same framework), over every recorded forward; a max-pool window counts once."""
    count = 0
    for (name, got), (_, want) in zip(_decisions(branches), _decisions(exact), strict=True):
        differ = got != want
        count += int(np.count_nonzero(np.any(differ, axis=(2, 4)) if name.startswith("pool")
                                      else differ))
    return count


class CnnRuns:
    """The CNN computations the rows compare, each made once, when first needed.

    ``get(framework, precision)`` is one framework's ``Computed``; ``on_branch_of(framework)``
    is the float64 computation on that framework's float32 branch: PyTorch's float64 run
    where the branch is exact arithmetic's own, else hw4jax's model following the branch
    (the float64 rows show the two models are the same function).
    """

    def __init__(self, state_dict: Mapping[str, np.ndarray],
                 batches: list[tuple[np.ndarray, np.ndarray]], *, device: str = "cpu",
                 learning_rates: Mapping[str, float] | None = None,
                 optimizer_names: Sequence[str] = OPTIMIZER_NAMES) -> None:
        from hw4jax import optimizers

        self.state_dict, self.batches, self.device = state_dict, batches, device
        self.learning_rates = dict(learning_rates or optimizers.DEFAULT_LEARNING_RATES)
        self.optimizer_names = tuple(optimizer_names)
        self._cache: dict[tuple[str, ...], Computed] = {}

    def _compute(self, key: tuple[str, ...], **kwargs) -> Computed:
        if key not in self._cache:
            self._cache[key] = compute_cnn(
                self.state_dict, self.batches, device=self.device,
                learning_rates=self.learning_rates, optimizer_names=self.optimizer_names,
                **kwargs)
        return self._cache[key]

    def get(self, framework: str, precision: str) -> Computed:
        return self._compute((framework, precision), framework=framework, precision=precision)

    def differences(self, framework: str) -> int:
        """The framework's float32 decisions unlike exact arithmetic's."""
        return branch_differences(self.get(framework, "float32").branches,
                                  self.get(framework, "float64").branches)

    def on_branch_of(self, framework: str) -> Computed:
        if self.differences(framework) == 0:
            return self.get("pytorch", "float64")
        return self._compute(("hw4jax", "float64", framework), framework="hw4jax",
                             precision="float64",
                             branches=self.get(framework, "float32").branches)


def cnn_rows(
    state_dict: Mapping[str, np.ndarray], batches: list[tuple[np.ndarray, np.ndarray]], *,
    precision: str, device: str = "cpu", learning_rates: Mapping[str, float] | None = None,
    optimizer_names: Sequence[str] = OPTIMIZER_NAMES, runs: CnnRuns | None = None,
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
    runs = runs or CnnRuns(state_dict, batches, device=device, learning_rates=learning_rates,
                           optimizer_names=optimizer_names)
    judge = _Float64Judge(runs) if precision == "float64" else _Float32Judge(runs)
    rows = judge.header_rows()
    rows += _forward_rows(judge)
    rows += _gradient_rows(judge)
    rows += _running_stat_rows(judge)
    for name in runs.optimizer_names:
        rows += _optimizer_rows(judge, name, lr=runs.learning_rates[name],
                                steps=len(runs.batches))
    return rows


class _Float64Judge:
    """float64 rows: hw4jax against PyTorch, both computing in float64."""

    tag = "f64"

    def __init__(self, runs: CnnRuns) -> None:
        self.got, self.want = runs.get("hw4jax", "float64"), runs.get("pytorch", "float64")
        self.other = self.want

    def header_rows(self) -> list[Row]:
        dtypes = self.got.dtypes
        return [Row("f64 dtype of logits, loss, grads, batch_stats", None, None, 0.0, "exact",
                    dtypes == {"float64"}, f"hw4jax computed in {', '.join(sorted(dtypes))}")]

    def row(self, quantity: str, pick: Callable[[Computed], np.ndarray], *, noise: bool = False,
            smooth: bool = False, tolerance: float = F64_REL, allowance: float = 0.0,
            note: str = "") -> Row:
        """``pick`` selects the quantity from a ``Computed``. Noise rows (exactly zero in
        exact arithmetic) compare absolute errors."""
        del smooth, allowance  # float32's
        if noise:
            return compare(quantity, pick(self.got), pick(self.want), tolerance=F64_NOISE_ABS,
                           criterion="abs", note=note)
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
        return [Row("f32 ReLU/max-pool decisions unlike float64", float(ours), None, 0.0,
                    "info", True,
                    f"hw4jax {ours}, PyTorch {theirs} over {forwards} train-mode forwards: "
                    "gradients and steps are compared with float64 on each one's own branch")]

    def row(self, quantity: str, pick: Callable[[Computed], np.ndarray], *, noise: bool = False,
            smooth: bool = False, tolerance: float | None = None, allowance: float = 0.0,
            note: str = "") -> Row:
        """Smooth quantities (values, not derivatives: logits, loss) are compared with the
        plain float64 run; gradients and what follows them with each one's branch."""
        del noise, tolerance  # float64's; here the bound comes from PyTorch's own error
        ours = self.exact if smooth else self.on_branch["hw4jax"]
        theirs = self.exact if smooth else self.on_branch["pytorch"]
        return compare_to_reference(quantity, pick(self.got), pick(self.other), pick(ours),
                                    torch_reference=pick(theirs), allowance=allowance,
                                    note=note)


def _forward_rows(judge) -> list[Row]:
    """Eval logits (running statistics), then train-mode logits and loss (batch statistics,
    dropout off)."""
    return [judge.row(f"{judge.tag} {name}", lambda c, name=name: c.forward[name], smooth=True)
            for name in ("eval logits", "train logits", "train loss")]


def _gradient_rows(judge) -> list[Row]:
    """The first batch's gradient of every parameter, one row each."""
    return [judge.row(f"{judge.tag} grad {path}", lambda c, path=path: c.grads[path],
                      noise=_is_bn_fed_bias(path),
                      note="true gradient is 0 (feeds a BatchNorm): rounding noise"
                      if _is_bn_fed_bias(path) else "")
            for path in judge.got.grads]


def _running_stat_rows(judge) -> list[Row]:
    """BatchNorm running statistics after the first batch's train step (values of the
    forward, so smooth)."""
    return [judge.row(f"{judge.tag} running {path} after 1 step",
                      lambda c, path=path: c.stats[path], smooth=True)
            for path in judge.got.stats]


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
    kept = [p for p in params if not _is_bn_fed_bias(p)]
    note = "Adam scales gradient rounding by lr/eps where |g| < eps" if adam else ""
    tolerance = F64_ADAM_REL if adam else F64_REL
    rows = [
        _worst([judge.row(f"{label}, params", lambda c, p=p: c.steps[name][0][p],
                          tolerance=tolerance) for p in kept], kept, note=note),
        _worst([judge.row(f"{label}, running stats", lambda c, p=p: c.steps[name][1][p],
                          tolerance=tolerance) for p in stats], list(stats), note=note),
    ]
    biases = [p for p in params if _is_bn_fed_bias(p)]
    quantity = f"{label}, {'/'.join(b.split('/')[0] for b in biases)} bias"

    def pick(c: Computed) -> np.ndarray:
        return np.concatenate([c.steps[name][0][p] for p in biases])

    if adam:
        rows.append(_adam_noise_row(judge, quantity, pick, lr=lr, steps=steps))
    else:
        rows.append(judge.row(quantity, pick, noise=True,
                              note="zero true gradient: rounding noise times the steps"))
    return rows


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
    kept = [p for p in params if not _is_bn_fed_bias(p)]
    allowance = lr * sum(adam_step_ratio_bound(t) * optax_adam_step_error(t)
                         for t in range(1, steps + 1))
    runs = {"hw4jax": judge.got, "pytorch": judge.other}
    rows = []
    for path in kept:
        grad_error = np.max(np.abs(judge.other.grads[path]
                                   - judge.on_branch["pytorch"].grads[path]))
        errors = {}
        for framework, run in runs.items():
            ref = judge.on_branch[framework]
            unit = _adam_error_unit(ref.steps["adam"][0][path], ref.adam_rms[path], lr=lr,
                                    steps=steps, grad_error=grad_error, allowance=allowance)
            errors[framework] = float(np.max(
                np.abs(run.steps["adam"][0][path] - ref.steps["adam"][0][path]) / unit))
        bound = F32_FACTOR * errors["pytorch"] + F32_ULPS
        rows.append(Row(f"{label}, params", errors["hw4jax"], None, bound, "units",
                        bool(errors["hw4jax"] <= bound), torch_error=errors["pytorch"],
                        torch_rel_error=errors["pytorch"]))
    rows = [_worst(rows, kept, note=f"errors in units of ulp + Adam's amplification of "
                                    f"PyTorch's gradient error + {allowance:.2g} (optax's "
                                    "float32 bias corrections)")]
    rows.append(_worst([judge.row(f"{label}, running stats", lambda c, p=p: c.steps["adam"][1][p])
                        for p in stats], list(stats)))
    biases = [p for p in params if _is_bn_fed_bias(p)]
    rows.append(_adam_noise_row(
        judge, f"{label}, {'/'.join(b.split('/')[0] for b in biases)} bias",
        lambda c: np.concatenate([c.steps["adam"][0][p] for p in biases]), lr=lr, steps=steps))
    return rows


def _adam_error_unit(reference: np.ndarray, rms: np.ndarray, *, lr: float, steps: int,
                     grad_error: float, allowance: float) -> np.ndarray:
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
    return compare(quantity, pick(judge.got), pick(judge.other), tolerance=bound,
                   criterion="abs",
                   note=f"Adam steps on rounding noise: hw4jax vs PyTorch within 2 lr sum_t "
                        f"{formula} = {bound:.3g}")


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
    return math.sqrt(sum(x * x / y for x, y in zip(a, c))) * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)


@functools.lru_cache(maxsize=None)
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

    state = optax.ScaleByAdamState(count=jnp.asarray(t - 1, jnp.int32),
                                   mu=jnp.zeros((), jnp.float32), nu=jnp.zeros((), jnp.float32))
    with jax.enable_x64(False):
        update, _ = jax.jit(optax.scale_by_adam(b1=b1, b2=b2, eps=0.0).update)(
            jnp.ones((), jnp.float32), state)
    exact = ((1 - b1) / (1 - b1 ** t)) / math.sqrt((1 - b2) / (1 - b2 ** t))
    return abs(float(update) / exact - 1)


def _worst(rows: list[Row], names: list[str], *, note: str = "") -> Row:
    """The row of the tensor furthest past (or least inside) its bound, named in the note."""
    def margin(row: Row) -> float:
        value = (row.rel_error if row.criterion == "rel" else row.max_abs_error) or 0.0
        if row.tolerance > 0:
            return value / row.tolerance
        return 0.0 if value == 0 else math.inf

    name, row = max(zip(names, rows), key=lambda nr: (not nr[1].passed, margin(nr[1])))
    worst = f"worst of {len(rows)} tensors: {name}"
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
    runs = CnnRuns(state_dict, batches, device=device)  # shared by both precisions' rows
    rows = []
    for precision in ("float64", "float32"):
        rows += cnn_rows(state_dict, batches, precision=precision, runs=runs)
    rows += backprop_rows()
    rows += augment_rows(augment_golden)
    return rows


def all_passed(rows: list[Row]) -> bool:
    return all(r.passed for r in rows)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2e}"


def _tolerance_text(row: Row) -> str:
    if row.criterion in ("n/a", "info"):
        return "-"
    if row.criterion == "exact":
        return "exact"
    if row.criterion == "f64ref":
        return f"{row.tolerance:.2e} abs"
    return f"{row.tolerance:g} {row.criterion}"


def format_table(rows: list[Row]) -> str:
    """The rows as a fixed-width text table, one line per row, then a summary line.

    float64 rows show hw4jax's error against PyTorch's float64 result; float32 rows show
    hw4jax's and PyTorch's errors against float64 side by side ('rel err', 'PyTorch err'),
    and the bound that hw4jax's max abs error must meet; 'units' rows measure both errors in
    the units their note names."""
    header = ("quantity", "max abs err", "rel err", "PyTorch err", "bound", "pass")
    lines = [
        (r.quantity, _fmt(r.max_abs_error), _fmt(r.rel_error), _fmt(r.torch_rel_error),
         _tolerance_text(r), ("PASS" if r.passed else "FAIL") + (f"  {r.note}" if r.note else ""))
        for r in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header[:5])]

    def fmt(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))) + "  " + cells[5]

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
