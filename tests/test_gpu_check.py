"""scripts/gpu_check.py, the prepared GPU check, planned without a GPU (--dry-run)."""

import json

import pytest
from script_loader import load_script


def test_dry_run_writes_the_plan_of_every_step_to_one_json(tmp_path):
    """--dry-run runs nothing and writes gpu_check.json with every command the check would
    run: the CUDA install, the GPU tests, parity on the GPU, an epoch of each input path at
    each batch size (with and without --steps-per-call), and the PyTorch recipe on cuda."""
    out = tmp_path / "out"
    script = load_script("gpu_check.py")
    argv = ["--dry-run", "--archive", str(tmp_path / "a.tar.gz"), "--out", str(out)]
    assert script.main([*argv, "--batch-sizes", "4", "512", "--scan-steps", "8"]) == 0
    plan = json.loads((out / "gpu_check.json").read_text())
    commands = {name: " ".join(step["command"]) for name, step in plan["steps"].items()}
    assert "jax[cuda12]==" in commands["pip_jax"]
    assert "tests/test_device_input.py" in commands["tests"]
    assert commands["parity"].endswith("crosscheck_torch.py --device gpu --json")
    for batch in (4, 512):
        assert "--input host" in commands[f"train_host_b{batch}"]
        assert "--input device" in commands[f"train_device_b{batch}"]
        assert "--steps-per-call 8" in commands[f"train_device_k8_b{batch}"]
        assert f"--batch-size {batch} --device cuda" in commands[f"torch_b{batch}"]
    assert all(step["rc"] is None for step in plan["steps"].values())


def test_no_archive_is_one_error_line_and_exit_2(tmp_path, monkeypatch, capsys):
    """Without --archive (nor $HW4JAX_CIFAR10_ARCHIVE) the check refuses to start."""
    monkeypatch.delenv("HW4JAX_CIFAR10_ARCHIVE", raising=False)
    with pytest.raises(SystemExit) as e:
        load_script("gpu_check.py").main(["--out", str(tmp_path)])
    assert e.value.code == 2
    assert capsys.readouterr().err.startswith("error: --archive None")
