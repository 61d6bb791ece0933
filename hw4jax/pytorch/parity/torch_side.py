"""PyTorch's side of the CNN checks: the homework's ``Net`` from the same weights in float32 or
float64, each ReLU's and MaxPool2d's decisions recorded (in hw4jax's layout); the seeded
weights and random batches the report starts from."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping

import numpy as np

from hw4jax.pytorch import import_torch
from hw4jax.pytorch import interop as torch_interop
from hw4jax.pytorch.parity.computed import Computed, as_f64
from hw4jax.pytorch.parity.criteria import ADAM_B2, flatten

PURPOSE = "hw4jax's PyTorch cross-check"


def make_batches(*, seed: int, steps: int, batch_size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``steps`` batches of float32 N(0, 1) images [batch_size, 3, 32, 32] (NCHW, the scale
    of normalized CIFAR-10) and int64 labels [batch_size] in 0..9. float32 values, so that
    the float64 computation starts from exactly the float32 one's inputs."""
    rng = np.random.default_rng(seed)
    return [
        (
            rng.standard_normal((batch_size, 3, 32, 32)).astype(np.float32),
            rng.integers(0, 10, batch_size),
        )
        for _ in range(steps)
    ]


def trained_torch_state_dict(
    *, seed: int, steps: int = 5, batch_size: int = 8
) -> dict[str, np.ndarray]:
    """A float32 ``Net`` state_dict after ``steps`` Adam steps (lr 1e-3, dropout on) on
    random batches from ``seed``: weights and BatchNorm statistics off their initial
    values, as a checkpoint's would be."""
    torch = import_torch(PURPOSE)
    from hw4jax.pytorch import reference as torch_reference

    torch.manual_seed(seed)
    net = torch_reference.Net()
    optimizer = torch_reference.make_torch_optimizer("adam", net.parameters(), 1e-3)
    for images, labels in make_batches(seed=seed + 1, steps=steps, batch_size=batch_size):
        torch_reference.train_step(
            net, optimizer, torch.from_numpy(images).float(), torch.from_numpy(labels)
        )
    return {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}


def _torch_net(state_dict: Mapping[str, np.ndarray], dtype, device: str):
    """Net with these weights, in ``dtype`` on ``device``, every Dropout at p=0 (its masks
    cannot match across frameworks)."""
    torch = import_torch(PURPOSE)
    from hw4jax.pytorch import reference as torch_reference

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
    return flatten(torch_interop.state_dict_to_variables(sd)["params"])


def _torch_grads(net) -> dict[str, np.ndarray]:
    """The parameters' .grad in hw4jax's layout, {'conv1/kernel': array}."""
    return _torch_per_parameter(net, lambda p: p.grad)


@contextlib.contextmanager
def highest_precision():
    """No TF32 in torch matmuls and convolutions, restored afterwards."""
    torch = import_torch(PURPOSE)
    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.get_float32_matmul_precision(),
    )
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
        torch.set_float32_matmul_precision(saved[2])


# The homework Net's ReLU and MaxPool2d modules in forward order, named as hw4jax's.
_TORCH_RELUS = tuple(f"relu{i}" for i in range(1, 9))

_TORCH_POOLS = ("pool1", "pool2", "pool3")


def _torch_branch_hooks(net, record: dict[str, np.ndarray]) -> list:
    """Forward hooks that write each ReLU's and MaxPool2d's decisions into ``record``, in
    hw4jax's NHWC layout. PyTorch's max-pool routes a window's gradient to its first
    maximum in row-major order."""
    torch = import_torch(PURPOSE)

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
    return [m.register_forward_hook(relu_hook(n)) for m, n in zip(relus, _TORCH_RELUS)] + [
        m.register_forward_hook(pool_hook(n)) for m, n in zip(pools, _TORCH_POOLS)
    ]


def _torch_steps(sd, dtype, tdevice, name: str, lr: float, batches):
    """``len(batches)`` steps of optimizer ``name`` from ``sd``: float64 params and running
    stats after them, each step's branch decisions, and for Adam the elementwise minimum
    over steps of sqrt(v_hat_t) (as compute_hw4jax; None for the others)."""
    from hw4jax.pytorch import reference as torch_reference

    net = _torch_net(sd, dtype, tdevice)
    optimizer = torch_reference.make_torch_optimizer(name, net.parameters(), lr)
    recorded, rms = [], None
    for t, step_batch in enumerate(batches, start=1):
        decisions = {}
        hooks = _torch_branch_hooks(net, decisions)
        torch_reference.train_step(net, optimizer, *step_batch)
        for hook in hooks:
            hook.remove()
        recorded.append(decisions)
        if name == "adam":
            step_rms = _torch_per_parameter(
                net,
                lambda p, t=t: (optimizer.state[p]["exp_avg_sq"] / (1 - ADAM_B2**t)).sqrt(),
            )
            rms = (
                step_rms if rms is None else {k: np.minimum(v, step_rms[k]) for k, v in rms.items()}
            )
    after = torch_interop.state_dict_to_variables(_torch_state(net))
    return (
        as_f64(after["params"]),
        as_f64(after["batch_stats"]),
        recorded,
        None if rms is None else as_f64(rms),
    )


def compute_pytorch(
    sd, batches, *, x64: bool, device: str, learning_rates, optimizer_names
) -> Computed:
    """The homework's Net from ``sd`` (float32 values) in float64 or float32, recording the
    branch of every train-mode forward."""
    torch = import_torch(PURPOSE)
    tdevice = "cuda" if device == "gpu" else "cpu"
    dtype = torch.float64 if x64 else torch.float32

    def batch(images, labels):
        return (
            torch.from_numpy(images).to(device=tdevice, dtype=dtype),
            torch.from_numpy(labels).to(tdevice),
        )

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
    stats = torch_interop.state_dict_to_variables(_torch_state(net))["batch_stats"]
    steps, adam_rms = {}, {}
    for name in optimizer_names:
        params, stats_after, recorded[name], rms = _torch_steps(
            sd, dtype, tdevice, name, learning_rates[name], [batch(*b) for b in batches]
        )
        steps[name] = (params, stats_after)
        if name == "adam":
            adam_rms = rms
    return Computed(
        forward={
            "eval logits": eval_logits.cpu().numpy().astype(np.float64),
            "train logits": logits.detach().cpu().numpy().astype(np.float64),
            "train loss": np.float64(loss.item()),
        },
        grads={k: np.asarray(v, np.float64) for k, v in grads.items()},
        stats=as_f64(stats),
        steps=steps,
        dtypes=frozenset({str(dtype)}),
        branches=recorded,
        adam_rms=adam_rms,
    )
