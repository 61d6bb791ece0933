"""hw4jax.pytorch.parity and scripts/crosscheck_torch.py: hw4jax equals the PyTorch reference."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from script_loader import load_script  # noqa: E402

from hw4jax.pytorch import interop as torch_interop  # noqa: E402
from hw4jax.pytorch import parity  # noqa: E402

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "crosscheck_torch.py"


@pytest.fixture(scope="module")
def state_dict():
    """A Net after 2 Adam steps: weights and BatchNorm statistics off their initial values."""
    sd = parity.trained_torch_state_dict(seed=0, steps=2, batch_size=4)
    assert not np.allclose(sd["conv_layer.7.running_var"], 1.0)
    return sd


@pytest.fixture(scope="module")
def batches():
    """k = 3 batches of 4 images."""
    return parity.make_batches(seed=1, steps=3, batch_size=4)


@pytest.fixture(scope="module")
def runs(state_dict, batches):
    """The computations both precisions' rows compare, made once for the module."""
    return parity.CnnRuns(state_dict, batches)


def _failed(rows):
    return [r for r in rows if not r.passed]


def _script():
    return load_script(SCRIPT.name)


def test_float64_same_function(state_dict, batches, runs):
    """float64 on both sides: eval and train logits, loss, all 24 gradients, running
    statistics and 3 steps of Adam (1e-9), SGD and momentum agree within 1e-10 (the BN-fed conv
    biases' zero gradients within 1e-12 abs), and hw4jax really computed in float64."""
    rows = parity.cnn_rows(state_dict, batches, precision="float64", runs=runs)
    assert not _failed(rows), parity.format_table(_failed(rows))
    names = [r.quantity for r in rows]
    assert "f64 dtype of logits, loss, grads, batch_stats" in names
    assert sum(n.startswith("f64 grad ") for n in names) == 24
    assert sum(n.startswith("f64 running ") for n in names) == 6
    for opt in parity.OPTIMIZER_NAMES:
        assert f"f64 {opt}: 3 steps, params" in names
    logits = next(r for r in rows if r.quantity == "f64 eval logits")
    assert logits.rel_error <= 1e-13
    assert not jax.config.jax_enable_x64  # the check's x64 did not leak


def test_float32_as_users_run_it(state_dict, batches, runs):
    """float32: every logit, loss, gradient, running statistic and the parameters after 3
    steps of each optimizer are as close to float64 (from the same float32 inputs, on each
    framework's own ReLU/max-pool branch) as PyTorch's float32 results are: within 4 times
    PyTorch's error plus 4 ulps; parameters that Adam steps on rounding noise within Adam's
    step-size bound."""
    rows = parity.cnn_rows(state_dict, batches, precision="float32", runs=runs)
    assert not _failed(rows), parity.format_table(_failed(rows))
    assert sum(r.quantity.startswith("f32 grad ") for r in rows) == 24
    judged = [r for r in rows if r.criterion == "f64ref"]
    assert len(judged) >= 24 + 3 + 6 + 2 * len(parity.OPTIMIZER_NAMES)
    assert all(r.torch_error is not None for r in judged)


def test_float32_rows_catch_a_precision_loss(state_dict, batches, runs, monkeypatch):
    """The float32 criterion can fail: gradients rounded to bfloat16 (8 bits of mantissa, as
    an accidental low-precision path would give) fail the gradient rows, though each is
    within 1% of the right value."""
    import jax.numpy as jnp

    honest = runs.get("hw4jax", "float32")
    lossy = parity.Computed(
        forward=honest.forward,
        stats=honest.stats,
        steps=honest.steps,
        dtypes=honest.dtypes,
        branches=honest.branches,
        grads={
            k: np.asarray(jnp.asarray(v, jnp.bfloat16), np.float64) for k, v in honest.grads.items()
        },
    )
    monkeypatch.setitem(runs._cache, ("hw4jax", "float32"), lossy)
    rows = parity.cnn_rows(state_dict, batches, precision="float32", runs=runs)
    failed = {r.quantity for r in _failed(rows)}
    assert sum(q.startswith("f32 grad ") for q in failed) >= 12, failed


def test_compare_to_reference():
    """hw4jax passes when its error against float64 is within 4x PyTorch's plus 4 ulps of the
    scale, sqrt(n) times that floor for a sum of n terms (plus a stated allowance); a NaN or
    a shape mismatch fails."""
    ref = np.array([1.0, -2.0])
    ulp4 = 4 * parity.EPS32 * 2.0
    row = parity.compare_to_reference("q", ref + [3e-7, 0], ref + [1e-7, 0], ref)
    assert row.passed and row.torch_error == pytest.approx(1e-7)
    assert row.tolerance == pytest.approx(4e-7 + ulp4)
    assert not parity.compare_to_reference("q", ref + [2e-6, 0], ref + [1e-8, 0], ref).passed
    assert parity.compare_to_reference(
        "q", ref + [2e-6, 0], ref + [1e-8, 0], ref, allowance=1.1e-6
    ).passed
    assert parity.compare_to_reference("q", ref + [5e-7, 0], ref, ref).passed  # within 4 ulps
    assert not parity.compare_to_reference("q", ref + [2e-6, 0], ref, ref).passed
    summed = parity.compare_to_reference("q", ref + [2e-6, 0], ref, ref, terms=100)
    assert summed.passed and summed.tolerance == pytest.approx(10 * ulp4)
    assert not parity.compare_to_reference("q", [np.nan, 0], ref, ref).passed
    assert not parity.compare_to_reference("q", [1.0], ref, ref).passed


def test_adam_step_ratio_bound_is_attained_and_never_exceeded():
    """R_t bounds |m_hat_t| / sqrt(v_hat_t) over every gradient sequence (Cauchy-Schwarz):
    optax's Adam (float64, eps 0) reaches it on the sequence g_i ~ a_i / c_i and stays
    below it on 2,000 random sequences; R_1 = 1."""
    import jax.numpy as jnp
    import optax

    assert parity.adam_step_ratio_bound(1) == pytest.approx(1.0)
    b1, b2 = 0.9, 0.999
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        tx = optax.scale_by_adam(b1=b1, b2=b2, eps=0.0)
        for t in (2, 3, 5):
            worst = np.array([(b1 / b2) ** (t - i) for i in range(1, t + 1)])  # a_i / c_i
            sequences = np.concatenate(
                [
                    worst[:, None],
                    rng.standard_normal((t, 2000)) * rng.uniform(0, 3, (t, 2000)) ** 4,
                ],
                axis=1,
            )
            state = tx.init(jnp.zeros(sequences.shape[1]))
            for g in sequences:
                update, state = tx.update(jnp.asarray(g), state)
            ratios = np.abs(np.asarray(update))
            bound = parity.adam_step_ratio_bound(t)
            assert ratios[0] == pytest.approx(bound, rel=1e-12)
            assert ratios.max() <= bound * (1 + 1e-12)


def test_optax_adam_float32_error_is_what_the_allowance_says():
    """optax's float32 Adam differs from exact arithmetic by optax_adam_step_error per step
    (its float32 bias corrections), torch.optim.Adam's by rounding only: on 100,000 random
    parameters after 3 steps, optax's error is within the allowance the parity rows use plus
    3 ulps, and more than PyTorch's."""
    import jax.numpy as jnp
    import optax

    lr, steps = 1e-3, 3
    rng = np.random.default_rng(1)
    p0 = (rng.standard_normal(100_000) * 0.05).astype(np.float32)
    grads = [(rng.standard_normal(100_000) * 1e-2).astype(np.float32) for _ in range(steps)]

    def optax_run(dtype):
        with jax.enable_x64(dtype == np.float64):
            tx = optax.adam(lr)
            p = jnp.asarray(p0, dtype)
            state = tx.init(p)
            for g in grads:
                update, state = tx.update(jnp.asarray(g, dtype), state, p)
                p = optax.apply_updates(p, update)
            return np.asarray(p, np.float64)

    def torch_run():
        p = torch.nn.Parameter(torch.from_numpy(p0.copy()))
        opt = torch.optim.Adam([p], lr=lr)
        for g in grads:
            p.grad = torch.from_numpy(g)
            opt.step()
        return p.detach().numpy().astype(np.float64)

    exact = optax_run(np.float64)
    optax_err = np.abs(optax_run(np.float32) - exact)
    torch_err = np.abs(torch_run() - exact)
    allowance = lr * sum(
        parity.adam_step_ratio_bound(t) * parity.optax_adam_step_error(t)
        for t in range(1, steps + 1)
    )
    ulps = 3 * parity.EPS32 * np.abs(exact)
    assert np.all(optax_err <= allowance + ulps)
    assert optax_err.max() > torch_err.max()
    assert 1e-6 < parity.optax_adam_step_error(1) < 1e-4


def test_branch_following_is_the_same_function(state_dict, batches, runs):
    """Following a recorded branch changes nothing where it is the run's own. A float32 run
    along the decisions it recorded gives its gradients and steps bit for bit (each ReLU and
    max-pool decides once, forward and backward alike). float64 along the exact run's own
    decisions gives them to float64 rounding (the program differs: a select where a max
    was): 1e-12 relative, the BN-fed conv biases' zero gradients within 1e-15, Adam's steps
    within parity's 1e-9 for its lr/eps amplification of rounding."""

    def check(own, following, rel, *, noise_abs, adam_rel):
        for path, grad in own.grads.items():
            err = np.max(np.abs(following.grads[path] - grad))
            bound = noise_abs if parity.is_bn_fed_bias(path) else rel * np.max(np.abs(grad))
            assert err <= bound, (path, err)
        for name, (params, _) in own.steps.items():
            for path, value in params.items():
                if parity.is_bn_fed_bias(path) and noise_abs:
                    continue  # Adam steps float64 noise: the float64 rows bound these
                err = np.max(np.abs(following.steps[name][0][path] - value))
                bound = (adam_rel if name == "adam" else rel) * np.max(np.abs(value))
                assert err <= bound, (name, path, err)

    own = runs.get("hw4jax", "float32")
    following = parity.compute_cnn(
        state_dict, batches, precision="float32", framework="hw4jax", branches=own.branches
    )
    check(own, following, 0.0, noise_abs=0.0, adam_rel=0.0)
    own = runs.get("hw4jax", "float64")
    following = parity.compute_cnn(
        state_dict, batches, precision="float64", framework="hw4jax", branches=own.branches
    )
    check(own, following, 1e-12, noise_abs=1e-15, adam_rel=parity.F64_ADAM_REL)
    assert parity.branch_differences(own.branches, own.branches) == 0


def test_a_layout_bug_fails_the_rows(state_dict, batches, monkeypatch):
    """The check can fail: fc1 imported without PyTorch's (C, H, W) row permutation makes
    the logits and gradient rows fail."""
    monkeypatch.setattr(torch_interop, "_fc1_rows_torch_to_flax", lambda w: w.T)
    rows = parity.cnn_rows(state_dict, batches[:1], precision="float32", optimizer_names=())
    failed = {r.quantity for r in _failed(rows)}
    assert {"f32 eval logits", "f32 train loss", "f32 grad fc1/kernel"} <= failed


def test_compare_measures():
    """compare: max abs error, normwise relative error, abs/rel criteria, NaN and shape
    mismatch fail."""
    row = parity.compare("q", [1.0, 2.5], [1.0, 2.0], tolerance=0.3)
    assert (row.max_abs_error, row.rel_error, row.passed) == (0.5, 0.25, True)
    assert not parity.compare("q", [1.0, 2.5], [1.0, 2.0], tolerance=0.3, criterion="abs").passed
    assert not parity.compare("q", [np.nan], [1.0], tolerance=1.0).passed
    assert not parity.compare("q", [1.0], [1.0, 1.0], tolerance=1.0).passed
    assert parity.compare("q", [0.0], [0.0], tolerance=0.0).passed


def test_backprop_rows_match_torch_autograd():
    """The 2-2-1 net: hw4jax.backprop's E, gradients and weights per step equal torch
    autograd's within 1e-12."""
    rows = parity.backprop_rows()
    assert len(rows) == 8 and not _failed(rows), parity.format_table(rows)


def test_augment_rows_zero_differing_pixels():
    """Both backends of hw4jax.augment (TensorFlow, JAX) reproduce every torchvision
    golden fixture array exactly (the fixture file must be in the checkout: a missing
    one fails)."""
    rows = parity.augment_rows()
    assert {r.quantity for r in rows} >= {
        f"augment {b} {k}" for b in parity.AUGMENT_BACKENDS for k in parity.AUGMENT_REQUIRED
    }
    assert not _failed(rows), parity.format_table(_failed(rows))


def test_missing_fixture_is_a_failing_row_not_a_skip(tmp_path):
    """A missing augmentation fixture fails, naming the path and how to regenerate it."""
    [row] = parity.augment_rows(tmp_path / "none.npz")
    assert not row.passed and "none.npz" in row.note and "regenerate" in row.note


def test_table_and_json_output():
    """The table has one line per row plus header and summary; JSON carries every row and
    the overall verdict (inf as null)."""
    rows = [
        parity.compare("a", [1.0], [1.0], tolerance=1e-10),
        parity.compare("b", [1.0], [0.0], tolerance=1e-10, note="why"),
    ]
    table = parity.format_table(rows).splitlines()
    assert table[0].split()[:2] == ["quantity", "max"]
    assert "PASS" in table[1] and "FAIL  why" in table[2] and table[-1] == "1/2 rows pass"
    data = json.loads(parity.rows_as_json(rows))
    assert data["passed"] is False and data["rows"][1]["rel_error"] is None
    assert data["rows"][0]["quantity"] == "a"


def test_script_exit_codes(monkeypatch, capsys):
    """The script exits 0 when every row passes and 1 when one fails, printing the table
    (or JSON with --json)."""
    script = _script()
    good = [parity.compare("a", [1.0], [1.0], tolerance=0.0)]
    bad = good + [parity.compare("b", [1.0], [2.0], tolerance=0.0)]
    monkeypatch.setattr(parity, "crosscheck", lambda **kw: good)
    assert script.main([]) == 0
    assert "1/1 rows pass" in capsys.readouterr().out
    monkeypatch.setattr(parity, "crosscheck", lambda **kw: bad)
    assert script.main(["--json"]) == 1
    assert json.loads(capsys.readouterr().out)["passed"] is False


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--batch-size", "1"], "batch_size must be >= 2"),
        (["--steps", "0"], "steps must be >= 1"),
        (["--weights", "/nonexistent/net.pt"], "does not exist"),
        (["--device", "tpu"], "invalid choice"),
    ],
)
def test_script_bad_input_exits_2(argv, match, capsys):
    """Bad input: one line 'error: ...' on stderr and exit status 2, before any work."""
    with pytest.raises(SystemExit) as e:
        raise SystemExit(_script().main(argv))
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and match in err[0]


def test_script_weights_of_another_model_exit_2(tmp_path, capsys):
    """--weights holding another model's state_dict is bad input (exit 2), naming a key."""
    path = tmp_path / "other.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    assert _script().main(["--weights", str(path)]) == 2
    assert "missing keys ['conv_layer.0.weight'" in capsys.readouterr().err


def test_device_gpu_without_gpu_exits_2(capsys):
    """--device gpu on a machine where JAX or torch sees no GPU is a clear error, exit 2."""
    try:
        has_gpu = bool(jax.devices("gpu")) and torch.cuda.is_available()
    except RuntimeError:
        has_gpu = False
    if has_gpu:
        pytest.skip("this machine has a GPU for both frameworks")
    assert _script().main(["--device", "gpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --device gpu:") and "use --device cpu" in err
