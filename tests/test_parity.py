"""hw4jax.parity and scripts/crosscheck_torch.py: hw4jax equals the PyTorch reference."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hw4jax import parity, torch_interop  # noqa: E402
from script_loader import load_script

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


def _failed(rows):
    return [r for r in rows if not r.passed]


def _script():
    return load_script(SCRIPT.name)


def test_float64_same_function(state_dict, batches):
    """float64 on both sides: eval and train logits, loss, all 24 gradients, running
    statistics and 3 steps of Adam (1e-9), SGD and momentum agree within 1e-10 (the BN-fed conv
    biases' zero gradients within 1e-12 abs), and hw4jax really computed in float64."""
    rows = parity.cnn_rows(state_dict, batches, precision="float64")
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


def test_float32_as_users_run_it(state_dict, batches):
    """float32: eval logits and loss within 1e-5, every gradient within 2e-3 normwise,
    parameters after 3 optimizer steps within the documented bounds."""
    rows = parity.cnn_rows(state_dict, batches, precision="float32")
    assert not _failed(rows), parity.format_table(_failed(rows))
    assert sum(r.quantity.startswith("f32 grad ") for r in rows) == 24


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
    assert {r.quantity for r in rows} >= {f"augment {b} {k}" for b in parity.AUGMENT_BACKENDS
                                          for k in parity.AUGMENT_REQUIRED}
    assert not _failed(rows), parity.format_table(_failed(rows))


def test_missing_fixture_is_a_failing_row_not_a_skip(tmp_path, monkeypatch):
    """A missing augmentation fixture fails, naming the path; only a checkout without
    hw4jax.augment gets a passing 'not available' row."""
    [row] = parity.augment_rows(tmp_path / "none.npz")
    assert not row.passed and "none.npz" in row.note
    monkeypatch.setattr(parity, "_has_module", lambda name: False)
    [row] = parity.augment_rows(tmp_path / "none.npz")
    assert row.passed and "not available" in row.note
    [row] = parity.backprop_rows()
    assert row.passed and "not available" in row.note


def test_table_and_json_output():
    """The table has one line per row plus header and summary; JSON carries every row and
    the overall verdict (inf as null)."""
    rows = [parity.compare("a", [1.0], [1.0], tolerance=1e-10),
            parity.compare("b", [1.0], [0.0], tolerance=1e-10, note="why")]
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


@pytest.mark.parametrize("argv, match", [
    (["--batch-size", "1"], "batch_size must be >= 2"),
    (["--steps", "0"], "steps must be >= 1"),
    (["--weights", "/nonexistent/net.pt"], "does not exist"),
    (["--device", "tpu"], "invalid choice"),
])
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
