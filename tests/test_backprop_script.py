"""Tests for scripts/backprop.py, run as a user runs it (subprocess)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hw4jax import backprop

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "backprop.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_default_run_prints_derivation_and_comparison():
    """With no flags it shows the homework's two iterations, says which loss convention it
    uses and why, and the hand comparison with its four known discrepancies."""
    p = _run()
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "Iteration 1" in out and "Iteration 2" in out
    assert "loss: half_squared, E = 1/2 (y - O_out)^2" in out
    assert "the write-up's gradients use this" in out
    assert "max |chain rule - jax.grad| = 0" in out
    assert "27 of 31 printed numbers agree; 4 differ" in out
    for reason in ("10x slip", "OCR slip: 0.982 x 0.012", "OCR slip: 0.900322", "loss convention"):
        assert reason in out


def test_json_is_the_whole_trace():
    """--json prints one JSON document whose numbers equal the library's trace."""
    p = _run("--json", "--iterations", "3", "--loss", "squared", "--optimizer", "momentum")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    setting = backprop.Setting(iterations=3, loss="squared", optimizer="momentum")
    tr = backprop.trace(setting)
    assert [it["weights_after"] for it in doc["trace"]["iterations"]] == [
        s.weights_after for s in tr.steps
    ]
    assert doc["hand_comparison"] is None
    assert "loss 'squared'" in doc["hand_comparison_skipped"]


def test_other_settings_skip_the_comparison():
    """Flags that leave the homework's setting run the trace and say the comparison is
    skipped, naming what differs."""
    p = _run(
        "--inputs",
        "1",
        "2",
        "--weights",
        "0.1",
        "0.2",
        "0.3",
        "0.4",
        "0.5",
        "0.6",
        "--target",
        "0",
        "--lr",
        "0.5",
    )
    assert p.returncode == 0, p.stderr
    assert "i1=1 i2=2" in p.stdout
    assert "Comparison with the write-up's hand numbers skipped" in p.stdout
    assert "learning_rate 0.5" in p.stdout


@pytest.mark.parametrize(
    "args, words",
    [
        (["--inputs", "3", "5", "7"], "exactly 2"),
        (["--weights", "1", "2", "nan", "4", "5", "6"], "finite"),
        (["--lr", "0"], "> 0"),
        (["--iterations", "0"], ">= 1"),
        (["--optimizer", "rmsprop"], "invalid choice"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(args, words):
    """Bad input gives exit code 2 and exactly one stderr line 'error: ...', no traceback."""
    p = _run(*args)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]
    assert p.stdout == ""


def test_plot_writes_the_network_picture(tmp_path):
    """--plot FILE writes the PNG of the net (two panels) besides printing the tables; an
    unwritable FILE is one error line and exit status 2."""
    from png_check import figure_pixels, png_size

    from hw4jax.backprop import picture

    p = _run("--plot", str(tmp_path / "net.png"))
    assert p.returncode == 0, p.stderr
    assert "27 of 31 printed numbers agree" in p.stdout
    assert png_size(tmp_path / "net.png") == figure_pixels(picture.figure_size(2), picture.DPI)
    p = _run("--plot", str(tmp_path / "missing" / "net.png"))
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith("error: cannot write --plot") and len(p.stderr.splitlines()) == 1
