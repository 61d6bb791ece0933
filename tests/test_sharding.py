"""Data parallelism on 4 simulated CPU devices equals training on one device.

The 4 devices exist only in a child process (XLA_FLAGS=--xla_force_host_platform_device_count=4
in the child's environment; this test process keeps its own devices untouched). The child
computes in float64 (x64 on in the child only): the claim is that the two programs are the
same function, and in float64 the different reduction order across devices changes results
by float64 rounding alone (about 1e-16 relative, 1e-10 allowed as in hw4jax.pytorch.parity's float64
rows), where float32 rounding could turn a near-tie of a ReLU or max-pool the other way in
one run and not the other, which no fixed bound covers on every CPU.
"""

import textwrap

from jax_tools import run_on_cpu_devices

CHILD = textwrap.dedent("""
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)  # this child process only
    from hw4jax.training import sharding, steps
    from hw4jax.training.config import get_config
    from hw4jax.training.state import initial_state

    assert jax.device_count() == 4, jax.devices()
    config = get_config(batch_size=8, optimizer="momentum", learning_rate=0.01)
    rng = np.random.default_rng(0)
    batches = [{"image": rng.standard_normal((8, 32, 32, 3)),
                "label": rng.integers(0, 10, 8).astype(np.int32)} for _ in range(3)]
    eval_batch = {**batches[0], "mask": np.arange(8) < 6}

    def float64_state():
        state = initial_state(config)
        def f64(a):
            return a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a
        return state.replace(**{k: jax.tree.map(f64, getattr(state, k))
                                for k in ("params", "batch_stats", "opt_state")})

    runs = {}
    for name, devices in (("one", jax.devices()[:1]), ("four", jax.devices())):
        mesh = sharding.make_mesh(devices)
        state = jax.device_put(float64_state(), sharding.replicated(mesh))
        step = steps.make_train_step(mesh)
        losses = []
        for batch in batches:
            sharded = sharding.shard_batch(batch, mesh)
            state, metrics = step(state, sharded)
            losses.append(float(metrics.loss_sum))
        shards = [s.data.shape[0] for s in sharded["image"].addressable_shards]
        evaluated = jax.device_get(
            steps.make_eval_step(mesh)(state, sharding.shard_batch(eval_batch, mesh)))
        runs[name] = {"losses": losses, "shards": shards,
                      "params": jax.device_get({"params": state.params,
                                                "batch_stats": state.batch_stats}),
                      "eval": evaluated}
    one, four = runs["one"], runs["four"]
    diffs = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), one["params"], four["params"])
    try:
        sharding.check_batch_size(6)
        error = None
    except ValueError as e:
        error = str(e)
    dtypes = sorted({str(a.dtype) for a in jax.tree.leaves(four["params"])})
    print(json.dumps({
        "dtypes": dtypes,
        "losses": [one["losses"], four["losses"]],
        "shards": [one["shards"], four["shards"]],
        "max_param_diff": max(jax.tree.leaves(diffs)),
        "eval_loss": [float(one["eval"].loss_sum), float(four["eval"].loss_sum)],
        "eval_count": [one["eval"].count.tolist(), four["eval"].count.tolist()],
        "error": error,
    }))
""")


def test_four_devices_train_like_one_and_reject_an_uneven_batch():
    """On 4 devices (batch 8 split 2+2+2+2) three momentum-SGD steps give the same losses,
    weights and BatchNorm running statistics as one device on the same global batch
    (BatchNorm's statistics are those of the global batch), evaluation gives the same
    sums, all within float64 rounding (1e-10), and a global batch of 6 is a ValueError
    asking for a multiple of 4."""
    out = run_on_cpu_devices(CHILD)
    assert out["shards"] == [[8], [2, 2, 2, 2]]
    assert out["dtypes"] == ["float64"]  # the state really trained in float64
    one, four = out["losses"]
    assert all(abs(a - b) <= 1e-10 * abs(a) for a, b in zip(one, four)), out["losses"]
    assert out["max_param_diff"] < 1e-10, out["max_param_diff"]
    assert abs(out["eval_loss"][0] - out["eval_loss"][1]) <= 1e-10 * abs(out["eval_loss"][0])
    assert out["eval_count"][0] == out["eval_count"][1] and sum(out["eval_count"][0]) == 6
    assert "multiple of 4" in out["error"]
