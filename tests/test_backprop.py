"""Tests for hw4jax.backprop and hw4jax.hand_derivation (Question 2, the 2-2-1 net)."""

import dataclasses
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from matplotlib.text import Text

from hw4jax import backprop
from hw4jax.backprop import HOMEWORK, Setting, Weights, hand_derivation
from hw4jax.pytorch.reference import make_torch_optimizer


def _random_setting(seed: int, *, optimizer: str = "gd", iterations: int = 4) -> Setting:
    rng = np.random.default_rng(seed)
    return Setting(
        inputs=tuple(rng.uniform(-3, 3, 2)),
        target=float(rng.uniform(0, 1)),
        weights=tuple(rng.normal(0, 1, 6)),
        learning_rate=float(rng.uniform(0.05, 1.0)),
        iterations=iterations,
        loss=backprop.LOSS_CONVENTIONS[seed % 2],
        optimizer=optimizer,
    )


def _torch_run(setting: Setting):
    """The same net and steps in PyTorch float64 autograd: per iteration (E, grads, weights
    after the step)."""
    w = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in setting.weights]
    name = "sgd" if setting.optimizer == "gd" else setting.optimizer
    opt = make_torch_optimizer(name, w, setting.learning_rate)
    (i1, i2), y = setting.inputs, setting.target
    out = []
    for _ in range(setting.iterations):
        opt.zero_grad()
        h1, h2 = i1 * w[0] + i2 * w[1], i1 * w[2] + i2 * w[3]
        o_out = torch.sigmoid(h1 * w[4] + h2 * w[5])
        e = (y - o_out) ** 2 * (0.5 if setting.loss == "half_squared" else 1.0)
        e.backward()
        grads = [p.grad.item() for p in w]
        opt.step()
        out.append((e.item(), grads, [p.item() for p in w]))
    return out


def _assert_trace_matches_torch(setting: Setting) -> None:
    tr = backprop.trace(setting)
    for step, (e, grads, after) in zip(tr.steps, _torch_run(setting), strict=True):
        names = backprop.WEIGHT_NAMES
        np.testing.assert_allclose(step.quantities["E"], e, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(
            [step.autodiff_grads[f"dE/d{n}"] for n in names], grads, rtol=1e-12, atol=1e-12
        )
        np.testing.assert_allclose(
            [step.quantities[f"dE/d{n}"] for n in names], grads, rtol=1e-12, atol=1e-12
        )
        np.testing.assert_allclose(
            [step.weights_after[n] for n in names], after, rtol=1e-12, atol=1e-12
        )


# ---- jax.grad == chain rule == torch autograd ----


@pytest.mark.parametrize(
    "setting",
    [HOMEWORK] + [_random_setting(s) for s in range(5)],
    ids=["homework"] + [f"random{s}" for s in range(5)],
)
def test_chain_rule_jax_grad_and_torch_agree(setting):
    """The written-out chain rule, jax.grad and PyTorch float64 autograd give the same E,
    gradients and updated weights (to 1e-12) at every iteration, both loss conventions."""
    tr = backprop.trace(setting)
    for step in tr.steps:
        assert step.max_grad_diff <= 1e-15
    _assert_trace_matches_torch(setting)


@pytest.mark.parametrize("optimizer", ["momentum", "adam", "adamw"])
def test_optimizers_match_torch_optim(optimizer):
    """Non-GD steps (optax via make_optimizer, float64) match torch.optim's over several
    iterations, so optimizer state is carried the same way."""
    for seed in (10, 11):
        _assert_trace_matches_torch(_random_setting(seed, optimizer=optimizer, iterations=5))


def test_homework_numbers_from_closed_form():
    """The homework's first iteration equals its closed form: O_out = sigmoid(4),
    dE/dw5 = -(1 - O) O (1 - O) 4, w1+ = 0.5 + 0.1 * 1.5 (1 - O) O (1 - O)."""
    q = backprop.trace(HOMEWORK).steps[0].quantities
    o = 1.0 / (1.0 + math.exp(-4.0))
    delta = -(1.0 - o) * o * (1.0 - o)
    assert q["O_out"] == pytest.approx(o, rel=1e-15)
    assert q["dE/dw5"] == pytest.approx(4.0 * delta, rel=1e-14)
    assert q["dE/dw2"] == pytest.approx(delta * 0.5 * 5.0, rel=1e-14)
    assert q["w1+"] == pytest.approx(0.5 - 0.1 * delta * 0.5 * 3.0, rel=1e-15)
    assert q["E"] == pytest.approx(0.5 * (1.0 - o) ** 2, rel=1e-14)


def test_squared_convention_doubles_loss_and_gradients():
    """'squared' E is twice 'half_squared' E at the same weights, and so are its gradients
    (the convention is really applied, not only printed)."""
    half = backprop.trace(HOMEWORK).steps[0]
    full = backprop.trace(dataclasses.replace(HOMEWORK, loss="squared")).steps[0]
    assert full.quantities["E"] == pytest.approx(2 * half.quantities["E"], rel=1e-15)
    for n in backprop.WEIGHT_NAMES:
        assert full.autodiff_grads[f"dE/d{n}"] == pytest.approx(
            2 * half.autodiff_grads[f"dE/d{n}"], rel=1e-15
        )


# ---- composition with jit, vmap and grad ----


def _batch_of_weights(n: int, dtype) -> Weights:
    rng = np.random.default_rng(0)
    return Weights(*(jnp.asarray(rng.normal(0, 1, n), dtype) for _ in range(6)))


def test_vmap_over_weight_sets_and_inputs():
    """vmap(grad) over a batch of weight sets, and vmap(forward) over a batch of inputs,
    equal the per-example results (float64, under a scoped enable_x64)."""
    with jax.enable_x64(True):
        x = jnp.asarray([3.0, 5.0], jnp.float64)
        y = jnp.asarray(1.0, jnp.float64)
        ws = _batch_of_weights(7, jnp.float64)
        batched = jax.jit(jax.vmap(backprop.grad, in_axes=(0, None, None)))(ws, x, y)
        for k in range(7):
            single = backprop.grad(jax.tree.map(lambda a, k=k: a[k], ws), x, y)
            np.testing.assert_allclose(
                np.array([b[k] for b in batched]), np.array(single), rtol=1e-14
            )
            np.testing.assert_allclose(
                np.array(backprop.chain_rule_grad(jax.tree.map(lambda a, k=k: a[k], ws), x, y)),
                np.array(single),
                rtol=1e-13,
                atol=1e-16,
            )
        xs = jnp.asarray(np.random.default_rng(1).normal(0, 1, (5, 2)), jnp.float64)
        w = Weights(*(jnp.asarray(0.5, jnp.float64) for _ in range(6)))
        fwd = jax.vmap(backprop.forward, in_axes=(None, 0))(w, xs)
        for k in range(5):
            np.testing.assert_allclose(
                np.array(backprop.forward(w, xs[k])), np.array([f[k] for f in fwd]), rtol=1e-15
            )


def test_jit_gd_equals_python_loop_of_steps():
    """jit(gd) (a lax.scan) gives the weights and losses of a Python loop of gd_step."""
    with jax.enable_x64(True):
        x = jnp.asarray([3.0, 5.0], jnp.float64)
        y = jnp.asarray(1.0, jnp.float64)
        w = Weights(*(jnp.asarray(v, jnp.float64) for v in (0.1, -0.4, 0.7, 0.2, -0.3, 0.9)))
        run = jax.jit(backprop.gd, static_argnames=("iterations", "convention"))
        final, losses = run(w, x, y, learning_rate=0.5, iterations=6, convention="squared")
        loop = w
        for k in range(6):
            assert float(losses[k]) == pytest.approx(
                float(backprop.loss(loop, x, y, convention="squared")), rel=1e-13
            )
            loop = backprop.gd_step(loop, x, y, learning_rate=0.5, convention="squared")
        np.testing.assert_allclose(np.array(final), np.array(loop), rtol=1e-13)


def test_grad_through_training_matches_finite_difference():
    """jax.grad composes through gd (scan of grad steps): d(final loss)/d(learning rate)
    equals a central finite difference in float64."""
    with jax.enable_x64(True):
        x = jnp.asarray([3.0, 5.0], jnp.float64)
        y = jnp.asarray(1.0, jnp.float64)
        w = Weights(*(jnp.asarray(v, jnp.float64) for v in (0.1, -0.4, 0.7, 0.2, -0.3, 0.9)))

        def final_loss(lr):
            final, _ = backprop.gd(w, x, y, learning_rate=lr, iterations=5)
            return backprop.loss(final, x, y)

        lr, eps = 0.3, 1e-6
        exact = float(jax.grad(final_loss)(lr))
        fd = float((final_loss(lr + eps) - final_loss(lr - eps)) / (2 * eps))
        assert exact != 0.0
        assert exact == pytest.approx(fd, rel=1e-6)


def test_pure_functions_keep_float32_outside_x64():
    """Without x64 the pure functions compute in float32 (they never switch x64 on)."""
    w = _batch_of_weights(3, jnp.float32)
    g = jax.vmap(backprop.grad, in_axes=(0, None, None))(
        w, jnp.asarray([3.0, 5.0]), jnp.asarray(1.0)
    )
    assert all(leaf.dtype == jnp.float32 for leaf in g)


def test_x64_does_not_leak():
    """After every float64 entry point, JAX's default dtype is float32 again."""
    assert jnp.ones(1).dtype == jnp.float32
    tr = backprop.trace(HOMEWORK)
    assert jnp.ones(1).dtype == jnp.float32
    backprop.optimizer_losses(backprop.make_optimizer("adam", 0.1), iterations=3)
    assert jnp.ones(1).dtype == jnp.float32
    hand_derivation.compare(tr)
    assert jnp.ones(1).dtype == jnp.float32
    assert isinstance(tr.steps[0].quantities["O_out"], float)


# ---- optimizer comparison helper (Question 1) ----


def test_optimizer_losses_gd_matches_trace_and_optimizers_differ():
    """optimizer_losses returns E before each step and after the last (float64); for GD it
    equals the trace's E (and its final E), and Adam reaches a lower loss than GD on the
    homework net."""
    gd = backprop.optimizer_losses(backprop.make_optimizer("gd", 0.1), iterations=3)
    assert gd.dtype == np.float64 and gd.shape == (4,)
    tr = backprop.trace(dataclasses.replace(HOMEWORK, iterations=3))
    np.testing.assert_allclose(
        gd, [s.quantities["E"] for s in tr.steps] + [tr.final_loss], rtol=1e-12
    )
    adam = backprop.optimizer_losses(backprop.make_optimizer("adam", 0.1), iterations=3)
    assert adam[0] == gd[0] and adam[-1] < gd[-1]


# ---- bad input ----


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(inputs=(3.0,)), "exactly 2"),
        (dict(inputs=(3.0, 5.0, 1.0)), "exactly 2"),
        (dict(weights=(0.5,) * 5), "exactly 6"),
        (dict(weights=(0.5, 0.5, float("nan"), 0.5, 0.5, 0.5)), "finite"),
        (dict(target=float("inf")), "finite"),
        (dict(learning_rate=0.0), "> 0"),
        (dict(learning_rate=-0.1), "> 0"),
        (dict(iterations=0), ">= 1"),
        (dict(loss="mse"), "half_squared"),
        (dict(optimizer="rmsprop"), "gd"),
    ],
)
def test_bad_settings_raise_value_error(change, words):
    """Each kind of bad input raises ValueError naming the problem and how to fix it."""
    with pytest.raises(ValueError, match="pass|choose") as err:
        backprop.trace(dataclasses.replace(HOMEWORK, **change))
    assert words in str(err.value)


# ---- the write-up's hand numbers ----


def test_hand_numbers_flag_exactly_the_known_slips():
    """Every known slip (loss convention, 10x slip, two OCR slips) differs, with its reason;
    every other printed number agrees."""
    checks = hand_derivation.compare(backprop.trace(HOMEWORK))
    assert len(checks) == len(hand_derivation.HAND_NUMBERS)
    differing = {
        (c.number.iteration, c.number.quantity, c.number.printed) for c in checks if not c.agrees
    }
    assert differing == {
        (1, "y - O_out", "0.012"),
        (2, "E", "0.000322"),
        (2, "(y - O_out)^2", "0.900322"),
        (2, "dE/dO_out", "-0.1796"),
    }
    for c in checks:
        assert c.explanation == (None if c.agrees else c.number.known_slip)
    reasons = " ".join(c.explanation for c in checks if not c.agrees)
    for reason in ("loss convention", "10x slip", "0.982 x 0.012", "0.900322"):
        assert reason in reasons


def test_hand_numbers_rule_a_and_rule_b():
    """Numbers the author carried from rounded inputs agree only through rule (b), e.g.
    iteration-2 h1 = 4.000544 (exact 4.000540) and w5 = 0.50026 (exact 0.500254); the
    printed E agrees with (y - O_out)^2, not with the gradients' 1/2 (y - O_out)^2."""
    checks = {
        (c.number.iteration, c.number.quantity, c.number.printed): c
        for c in hand_derivation.compare(backprop.trace(HOMEWORK))
    }
    assert checks[(2, "h1", "4.000544")].verdict == "rounded inputs"
    assert checks[(2, "h1", "4.000544")].from_inputs == pytest.approx(4.000544, abs=1e-12)
    assert checks[(2, "w5+", "0.50026")].verdict == "rounded inputs"
    assert checks[(1, "w3+", "0.500048")].verdict == "exact"
    assert checks[(2, "(y - O_out)^2", "0.000322")].agrees
    assert checks[(2, "E", "0.000322")].exact == pytest.approx(0.000161258, rel=1e-5)


def test_a_wrong_hand_number_is_flagged_unexplained(monkeypatch):
    """The check can fail: a number off by two units in its last digit, with no known slip,
    is reported as differing and 'unexplained'."""
    wrong = hand_derivation.HandNumber(
        1, "w5+", "0.50015", "test", ("-0.001272",), lambda g: 0.5 - 0.1 * g
    )
    monkeypatch.setattr(hand_derivation, "HAND_NUMBERS", (wrong,))
    (check,) = hand_derivation.compare(backprop.trace(HOMEWORK))
    assert check.verdict == "differs" and check.explanation == "unexplained"


def test_half_unit():
    """Half a unit in the last printed digit follows the printed decimals."""
    assert hand_derivation.half_unit("4") == 0.5
    assert hand_derivation.half_unit("0.50013") == pytest.approx(5e-6, rel=1e-12)
    assert hand_derivation.half_unit("-0.0003182") == pytest.approx(5e-8, rel=1e-12)


def test_comparison_only_for_the_homework_setting():
    """Other settings get no comparison: compare raises ValueError naming what differs, and
    the report says it is skipped; more than 2 homework iterations still compare."""
    other = backprop.trace(dataclasses.replace(HOMEWORK, learning_rate=0.2))
    with pytest.raises(ValueError, match="learning_rate"):
        hand_derivation.compare(other)
    assert "skipped" in hand_derivation.report(other)
    longer = backprop.trace(dataclasses.replace(HOMEWORK, iterations=3))
    assert len(hand_derivation.compare(longer)) == len(hand_derivation.HAND_NUMBERS)


def test_render_json_has_the_whole_trace():
    """The JSON has, per iteration, forward values, loss, every weight's gradient and the
    weights after the step, equal to the trace's, and the hand comparison."""
    doc = json.loads(hand_derivation.render(HOMEWORK, as_json=True))
    tr = backprop.trace(HOMEWORK)
    assert len(doc["trace"]["iterations"]) == 2
    for it, step in zip(doc["trace"]["iterations"], tr.steps):
        assert set(it["forward"]) == {"h1", "h2", "O_in", "O_out"}
        assert it["loss"] == step.quantities["E"]
        assert it["gradients"] == {n: step.quantities[f"dE/d{n}"] for n in backprop.WEIGHT_NAMES}
        assert it["weights_after"] == step.weights_after
    assert doc["hand_comparison_skipped"] is None
    assert sum(c["verdict"] == "differs" for c in doc["hand_comparison"]) == 4


def _slip_notes(fig) -> list[str]:
    """The red notes a network figure marks the write-up's slips with."""
    from hw4jax.backprop import picture

    return [t.get_text() for t in fig.findobj(Text) if t.get_color() == picture.SLIP_COLOR]


def test_network_picture_marks_exactly_the_slipped_hand_numbers(tmp_path):
    """The homework's picture is a PNG of figure_size(2) at DPI, shows each iteration's
    numbers on the net, and marks in red exactly the four hand numbers that differ, each on
    its iteration's panel; without checks nothing is marked."""
    from png_check import figure_pixels, png_size

    from hw4jax.backprop import picture

    tr = backprop.trace(HOMEWORK)
    checks = hand_derivation.compare(tr)
    path = picture.plot_network(tr, tmp_path / "net.png", checks)
    assert png_size(path) == figure_pixels(picture.figure_size(2), picture.DPI)

    fig = picture.network_figure(tr, checks)
    texts = [t.get_text() for t in fig.findobj(Text)]
    q = tr.steps[1].quantities
    assert f"dE/dw4 = {q['dE/dw4']:.6g}" in "\n".join(texts)  # an edge of iteration 2
    notes = "\n".join(_slip_notes(fig))
    slipped = [c for c in checks if not c.agrees]
    assert notes.count("write-up:") == len(slipped) == 4
    for c in slipped:
        assert f"{c.number.quantity} = {c.number.printed}" in notes
    assert _slip_notes(picture.network_figure(tr)) == []


def test_network_picture_of_another_setting_and_its_limits(tmp_path):
    """plot_setting draws any setting (one panel per iteration, no marks off the homework's
    setting) and refuses more iterations than MAX_ITERATIONS with a ValueError that says
    what to pass."""
    from png_check import figure_pixels, png_size

    from hw4jax.backprop import picture

    setting = _random_setting(3, iterations=3)
    path = picture.plot_setting(setting, tmp_path / "net.png")
    assert png_size(path) == figure_pixels(picture.figure_size(3), picture.DPI)
    assert picture.figure_size(3) == (2 * picture.PANEL_SIZE[0], 2 * picture.PANEL_SIZE[1])
    too_many = dataclasses.replace(setting, iterations=picture.MAX_ITERATIONS + 1)
    with pytest.raises(ValueError, match="at most"):
        picture.plot_setting(too_many, tmp_path / "many.png")
