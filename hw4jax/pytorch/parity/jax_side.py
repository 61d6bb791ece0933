"""hw4jax's side of the CNN checks: the model's quantities in float32 or float64, with each
ReLU's and max-pool's decisions recorded, or followed (a branch recorded elsewhere).

Branches. A ReLU and a max-pool make discrete decisions (is x > 0? which input of the window
is largest?). Where exact arithmetic puts two candidates closer together than float32
rounding, a float32 forward may decide otherwise than exact arithmetic does: the values
barely move (both functions are continuous), but the gradient takes another route, which no
rounding bound covers. Each float32 run records the decisions it took (its branch); its
gradients and optimizer steps are then compared with the float64 computation on that same
branch: hw4jax's model with the decisions followed, through ``flax.linen.intercept_methods``
on its ``ReLU`` and ``MaxPool2x2`` modules.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from hw4jax.pytorch import interop as torch_interop
from hw4jax.pytorch.parity.computed import Computed, as_f64
from hw4jax.pytorch.parity.criteria import ADAM_B2


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


@functools.cache
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
                {"params": params, "batch_stats": batch_stats},
                images,
                train=True,
                mutable=["batch_stats", "branch"],
            )
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        decisions = {name: d["decision"][0] for name, d in updates.get("branch", {}).items()}
        return loss, (logits, updates["batch_stats"], decisions)

    return (
        jax.jit(jax.value_and_grad(loss_fn, has_aux=True)),
        jax.jit(lambda v, images: model.apply(v, images, train=False)),
    )


@functools.cache
def _adam_min_rms_fn():
    """Jitted (nu, t, previous) -> min(previous, sqrt(v_hat_t)) elementwise, for Adam's
    second moment ``nu`` after step t (``previous`` None at the first step)."""
    import jax
    import jax.numpy as jnp

    def min_rms(nu, t, previous):
        rms = jax.tree.map(lambda v: jnp.sqrt(v / (1 - ADAM_B2**t)), nu)
        return rms if previous is None else jax.tree.map(jnp.minimum, rms, previous)

    return jax.jit(min_rms)


@functools.cache
def _jax_optimizer_fns(name: str, learning_rate: float):
    """(init, apply_grads) of hw4jax's optimizer ``name``, jitted once per process."""
    import jax
    import optax

    from hw4jax.training import optimizers

    tx = optimizers.make_optimizer(name, learning_rate)

    def apply_grads(grads, opt_state, params):
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    return jax.jit(tx.init), jax.jit(apply_grads)


def _jax_steps(grad_fn, variables, name: str, lr: float, batches, pins):
    """``len(batches)`` steps of optimizer ``name``, step t following ``pins[t]`` (None:
    recording instead): float64 params and running stats after them, each step's branch
    decisions, and for Adam the elementwise minimum over steps of sqrt(v_hat_t)."""
    import jax
    import optax

    init, apply_grads = _jax_optimizer_fns(name, lr)
    params, stats = variables["params"], variables["batch_stats"]
    opt_state = init(params)
    recorded, rms = [], None
    for index, (step_batch, pin) in enumerate(zip(batches, pins)):
        (_, (_, stats, decisions)), grads = grad_fn(params, stats, *step_batch, pin)
        params, opt_state = apply_grads(grads, opt_state, params)
        recorded.append(jax.device_get(decisions))
        if name == "adam":  # Adam's denominator scale at this step, its minimum so far
            nu = optax.tree_utils.tree_get(opt_state, "nu")
            rms = _adam_min_rms_fn()(nu, index + 1, rms)
    return as_f64(params), as_f64(stats), recorded, None if rms is None else as_f64(rms)


def compute_hw4jax(
    sd,
    batches,
    *,
    x64: bool,
    learning_rates,
    optimizer_names,
    branches: Mapping[str, Any] | None = None,
) -> Computed:
    """hw4jax's CNN from ``sd`` (float32 values) in float64 or float32. Records the branch of
    every train-mode forward, or, given ``branches``, follows them."""
    import jax
    import jax.numpy as jnp

    dtype = np.float64 if x64 else np.float32
    sd = {
        k: v if k.endswith(torch_interop.NUM_BATCHES_TRACKED) else v.astype(dtype)
        for k, v in sd.items()
    }
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
        variables["params"], variables["batch_stats"], images, labels, pinned("grad")
    )
    dtypes = frozenset(
        str(a.dtype) for a in [eval_logits, loss, logits, *jax.tree.leaves((stats, grads))]
    )
    recorded = {"grad": jax.device_get(decisions)}
    steps, adam_rms = {}, {}
    for name in optimizer_names:
        pins = [pinned(name, index) for index in range(len(batches))]
        params, step_stats, recorded[name], rms = _jax_steps(
            grad_fn, variables, name, learning_rates[name], [batch(*b) for b in batches], pins
        )
        steps[name] = (params, step_stats)
        if name == "adam":
            adam_rms = rms
    return Computed(
        forward={
            "eval logits": np.asarray(eval_logits, np.float64),
            "train logits": np.asarray(logits, np.float64),
            "train loss": np.asarray(loss, np.float64),
        },
        grads=as_f64(grads),
        stats=as_f64(stats),
        steps=steps,
        dtypes=dtypes,
        branches={} if branches is not None else recorded,
        adam_rms=adam_rms,
    )
