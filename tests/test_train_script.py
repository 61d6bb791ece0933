"""scripts/train.py: flags, output and exit codes (0 done, 2 bad input, 3 NaN loss, 130 Ctrl-C)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow_datasets as tfds
from script_loader import load_script as load_script_file
from train_inputs import poisoned_input

from hw4jax.training import checkpoints, loop

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "train.py"
# The settings of tests/test_train.py's runs, so that compiled steps are shared.
TINY = ["--batch-size", "4", "--eval-batch-size", "8", "--check-every", "2", "--no-progress"]


def load_script():
    return load_script_file(SCRIPT.name)


@pytest.fixture(scope="module")
def script():
    return load_script()


def main_with_mock_data(script, argv):
    with tfds.testing.mock_data(num_examples=20):
        return script.main(argv)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_bad_flag_is_one_error_line_and_exit_2():
    """`python scripts/train.py --epochs two` exits 2 with one 'error: ...' line on stderr."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's hw4jax
    child = subprocess.run(
        [sys.executable, str(SCRIPT), "--epochs", "two"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=env,
    )
    assert child.returncode == 2
    assert child.stderr.strip().splitlines() == [
        "error: argument --epochs: invalid int value: 'two'"
    ]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--batch-size", "0"], "batch_size"),
        (["--learning-rate", "-1"], "learning_rate"),
        (["--resume", "--eval-only"], "resume"),
    ],
)
def test_bad_values_exit_2(script, capsys, tmp_path, argv, words):
    """Out-of-range values exit 2 with one error line naming the field."""
    assert script.main(argv + ["--workdir", str(tmp_path)]) == 2
    assert words in one_error_line(capsys)


def test_eval_only_without_checkpoint_exits_2(script, capsys, tmp_path):
    """--eval-only on a workdir without checkpoints exits 2 and says so."""
    assert main_with_mock_data(script, ["--eval-only", "--workdir", str(tmp_path)]) == 2
    assert "no checkpoint" in one_error_line(capsys)


def test_trains_prints_and_refuses_to_overwrite(script, capsys, tmp_path):
    """A 1-epoch run exits 0 printing the homework's epoch line and the class table; running
    again into the same workdir without --resume exits 2 and keeps the checkpoint."""
    workdir = str(tmp_path / "run")
    assert main_with_mock_data(script, TINY + ["--epochs", "1", "--workdir", workdir]) == 0
    out = capsys.readouterr().out
    assert "Epoch: 1 \tTraining Loss: " in out and "per-device batch 4" in out
    assert "Test accuracy: " in out and "truck" in out
    assert main_with_mock_data(script, TINY + ["--epochs", "1", "--workdir", workdir]) == 2
    assert "--resume" in one_error_line(capsys)
    assert checkpoints.latest_step(workdir) == 5


def test_nan_loss_exits_3(script, capsys, tmp_path, monkeypatch):
    """A NaN loss exits 3 with one error line pointing at the last good checkpoint."""
    real = loop.train_and_evaluate
    monkeypatch.setattr(
        loop,
        "train_and_evaluate",
        lambda config, workdir: real(config, workdir, input_fn=poisoned_input(from_epoch=0)),
    )
    argv = TINY + ["--epochs", "1", "--workdir", str(tmp_path)]
    assert main_with_mock_data(script, argv) == 3
    assert "no checkpoint was saved" in one_error_line(capsys)


def test_interrupt_exits_130(script, tmp_path, monkeypatch):
    """Ctrl-C (KeyboardInterrupt out of train_and_evaluate, after its checkpoint) exits 130."""

    def interrupted(config, workdir):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "train_and_evaluate", interrupted)
    assert script.main(["--workdir", str(tmp_path)]) == 130
