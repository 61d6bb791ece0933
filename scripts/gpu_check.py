"""The prepared GPU check: CUDA JAX installed, then tests, parity, epochs and PyTorch's epoch.

On a machine with an NVIDIA GPU and this repository (no GPU, no CUDA toolkit needed beyond
the driver: the wheels bring CUDA):

  python3 scripts/gpu_check.py --archive /path/to/cifar-10-binary.tar.gz
  python3 scripts/gpu_check.py --archive ... --python .venv/bin/python   # a CUDA venv already
  python3 scripts/gpu_check.py --archive ... --only train torch --batch-sizes 512
  python3 scripts/gpu_check.py --archive ... --dry-run                   # the plan, nothing run

Steps, in order (``--only`` picks some; a step that fails is recorded and the next runs):

  install  a venv (``--venv``) with this repo, ``jax[cuda12]``, then torch and torchvision
           (PyPI's Linux torch wheels are CUDA builds; --torch-index-url for another),
           ``pip check``, and which devices each framework sees; where JAX sees no GPU the
           check stops there (the rest would run on the CPU).
  prepare  tfds's cifar10 from the archive (``scripts/prepare_cifar10.py``) in --scratch.
  tests    the tests that run JAX code (on the GPU, JAX's default device there), per test.
  parity   ``scripts/crosscheck_torch.py --device gpu --json``: every row.
  train    one homework epoch (``scripts/train.py --epochs 1``, Adam, the augmentation) on
           each input path, ``--input host`` (tf.data on the CPU) and ``--input device``
           (with --steps-per-call 1 and ``--scan-steps``), at each batch size: the epoch's
           seconds (its first step's compilation included), images/s, test accuracy, and
           the process's wall time.
  torch    the homework's PyTorch recipe for one epoch on the same GPU
           (``scripts/torch_recipe.py --device cuda``, the augmentation in DataLoader
           workers), at each batch size; and each hw4jax epoch's speed as a ratio to it.

Every figure goes to one JSON, ``<--out>/gpu_check.json`` (--out defaults to $OUT, else
runs/gpu_check), rewritten after each step so that a timeout keeps what was done; the venv,
the tfds data and the training workdirs go to --venv and --scratch, not --out. The script
uses only Python's standard library (it runs before anything is installed) and is never
needed for CI.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The check runs before hw4jax's dependencies are installed: hw4jax.cli is standard
# library only, so the script takes it from the checkout rather than an installed package.
sys.path.insert(0, str(REPO))

from hw4jax import cli  # noqa: E402

STEPS = ("install", "prepare", "tests", "parity", "train", "torch")
# The test files that run JAX code, so on a GPU machine run it on the GPU.
GPU_TESTS = (
    "tests/test_augment_jax.py",
    "tests/test_device_input.py",
    "tests/test_train.py",
    "tests/test_sharding.py",
    "tests/test_conv.py",
    "tests/test_parity.py",
    "tests/test_torch_interop.py",
    "tests/test_backprop.py",
)
TAIL = 4000  # characters of a step's output kept in the JSON


class Check:
    """The JSON being built, and the subprocess runner that records each command in it."""

    def __init__(self, out: Path, *, dry_run: bool) -> None:
        self.path = out / "gpu_check.json"
        self.dry_run = dry_run
        self.data: dict = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "dry_run": dry_run,
            "machine": machine(),
            "steps": {},
            "figures": {},
        }

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.data, indent=2, default=str))

    def run(self, name: str, cmd: list[str], *, timeout: float, env: dict | None = None) -> dict:
        """Runs ``cmd`` in the repo root, records it under steps[name] (command, exit status,
        wall seconds, the output's tail) and returns that record, with the whole output in
        'output' (not saved)."""
        record = {"command": cmd}
        self.data["steps"][name] = record
        print(f"== {name}: {' '.join(cmd)}", flush=True)
        if self.dry_run:
            record["rc"] = None
            self.save()
            return {**record, "output": ""}
        start = time.perf_counter()
        try:
            done = subprocess.run(
                cmd,
                cwd=REPO,
                env={**os.environ, **(env or {})},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
            )
            rc, output = done.returncode, done.stdout
        except subprocess.TimeoutExpired as e:
            rc = "timeout"
            output = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        except OSError as e:
            rc, output = "not run", str(e)
        record.update(rc=rc, seconds=round(time.perf_counter() - start, 2), tail=output[-TAIL:])
        print(f"   rc {rc} in {record['seconds']} s", flush=True)
        self.save()
        return {**record, "output": output}


def machine() -> dict:
    """The GPU (nvidia-smi), the CPUs, Python and the repo's commit."""
    info = {"python": platform.python_version(), "cpus": os.cpu_count()}
    for key, cmd in (
        ("gpus", ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv"]),
        ("commit", ["git", "-C", str(REPO), "rev-parse", "HEAD"]),
    ):
        try:
            info[key] = subprocess.run(
                cmd, capture_output=True, text=True, timeout=60
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as e:
            info[key] = f"unavailable: {e}"
    return info


def last_json(text: str):
    """The last line of ``text`` that parses as JSON, or the whole of it, or None."""
    for candidate in [text, *reversed(text.strip().splitlines())]:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None


def install(check: Check, args) -> str | None:
    """Creates the venv and installs (JAX first, then PyTorch, in separate pip calls so that
    a PyTorch build whose CUDA libraries clash with JAX's shows in its own step and in
    ``pip check``); returns its python, or None where JAX sees no GPU."""
    python = args.python
    if python is None:
        venv = Path(args.venv)
        python = str(venv / "bin" / "python")
        if not Path(python).exists() or args.dry_run:
            check.run("venv", [sys.executable, "-m", "venv", str(venv)], timeout=300)
        pip = [python, "-m", "pip", "install"]
        check.run("pip_upgrade", [*pip, "--upgrade", "pip"], timeout=args.step_timeout)
        check.run(
            "pip_jax",
            [*pip, "-e", f"{REPO}[test]", f"jax[{args.jax_cuda}]=={args.jax_version}"],
            timeout=args.step_timeout,
        )
        index = ["--index-url", args.torch_index_url] if args.torch_index_url else []
        check.run(
            "pip_torch",
            [*pip, *index, f"torch=={args.torch_version}"]
            + [f"torchvision=={args.torchvision_version}"],
            timeout=args.step_timeout,
        )
        check.run("pip_check", [python, "-m", "pip", "check"], timeout=300)
    probes = {
        "jax": "import json, jax; print(json.dumps({'version': jax.__version__, "
        "'backend': jax.default_backend(), 'devices': [str(d) for d in jax.devices()]}))",
        "torch": "import json, torch; print(json.dumps({'version': torch.__version__, "
        "'cuda': torch.cuda.is_available(), 'cuda_version': torch.version.cuda}))",
    }
    devices = {
        name: last_json(check.run(f"devices_{name}", [python, "-c", code], timeout=600)["output"])
        for name, code in probes.items()
    }
    check.data["figures"]["devices"] = devices
    check.save()
    if check.dry_run:
        return python
    if not isinstance(devices["jax"], dict) or devices["jax"].get("backend") != "gpu":
        print("JAX sees no GPU: stopping (the other steps would run on the CPU)", flush=True)
        return None
    return python


def junit_counts(path: Path) -> dict:
    """Passed/failed/error/skipped counts and the failing tests' names from a junit XML."""
    if not path.is_file():
        return {}
    counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0, "failing": []}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), None)
        if outcome is None:
            counts["passed"] += 1
        else:
            counts[{"failure": "failed"}.get(outcome, outcome)] += 1
            if outcome != "skipped":
                counts["failing"].append(name)
    return counts


def train_runs(args) -> list[tuple[str, int, list[str]]]:
    """(label, batch size, train.py flags) of every hw4jax epoch."""
    runs = []
    for batch in args.batch_sizes:
        runs.append((f"host_b{batch}", batch, ["--input", "host"]))
        runs.append((f"device_b{batch}", batch, ["--input", "device"]))
        steps = 50_000 // batch
        if args.scan_steps > 1 and steps >= args.scan_steps:
            runs.append(
                (
                    f"device_k{args.scan_steps}_b{batch}",
                    batch,
                    ["--input", "device", "--steps-per-call", str(args.scan_steps)],
                )
            )
    return runs


def main(argv=None) -> int:
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archive", default=os.environ.get("HW4JAX_CIFAR10_ARCHIVE"))
    p.add_argument("--out", default=os.environ.get("OUT") or "runs/gpu_check")
    p.add_argument("--scratch", default="/tmp/hw4jax_gpu_check", help="tfds data, workdirs")
    p.add_argument("--venv", default="/tmp/hw4jax_gpu_venv")
    p.add_argument("--python", default=None, help="a python that has CUDA JAX: no install")
    p.add_argument("--only", nargs="+", choices=STEPS, default=list(STEPS))
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 512])
    p.add_argument("--scan-steps", type=int, default=32, help="the device input's K (or 1)")
    p.add_argument("--torch-workers", type=int, default=min(8, os.cpu_count() or 1))
    p.add_argument("--jax-version", default="0.10.2")
    p.add_argument("--jax-cuda", default="cuda12", help="the jax extra: cuda12 or cuda13")
    p.add_argument("--torch-version", default="2.14.1")
    p.add_argument("--torchvision-version", default="0.29.1")
    p.add_argument(
        "--torch-index-url",
        default=None,
        help="pip index of a torch CUDA build (e.g. https://download.pytorch.org/whl/cu128); "
        "default PyPI's",
    )
    p.add_argument("--step-timeout", type=float, default=1800, help="seconds per command")
    p.add_argument("--dry-run", action="store_true", help="record the commands, run nothing")
    args = p.parse_args(argv)
    if args.archive is None or not (args.dry_run or Path(args.archive).exists()):
        p.error(f"--archive {args.archive}: the CIFAR-10 binary archive is needed")
    if min(args.batch_sizes) < 1 or args.scan_steps < 1:
        p.error("batch sizes and --scan-steps must be at least 1")
    check = Check(Path(args.out), dry_run=args.dry_run)
    check.data["settings"] = {k: v for k, v in vars(args).items()}
    check.save()
    python = args.python or sys.executable
    if "install" in args.only or args.python is None:
        python = install(check, args)
        if python is None:
            return 1
    scratch = Path(args.scratch)
    data_dir = scratch / "tfds"
    env = {"HW4JAX_CIFAR10_ARCHIVE": str(args.archive), "TF_CPP_MIN_LOG_LEVEL": "2"}
    figures = check.data["figures"]

    if "prepare" in args.only:
        check.run(
            "prepare",
            [python, "scripts/prepare_cifar10.py", "--archive", args.archive]
            + ["--data-dir", str(data_dir)],
            timeout=args.step_timeout,
            env=env,
        )
    if "tests" in args.only:
        junit = scratch / "tests.xml"
        check.run(
            "tests",
            [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
            + list(GPU_TESTS),
            timeout=args.step_timeout,
            env=env,
        )
        figures["tests"] = junit_counts(junit)
    if "parity" in args.only:
        parity = check.run(
            "parity",
            [python, "scripts/crosscheck_torch.py", "--device", "gpu", "--json"],
            timeout=args.step_timeout,
            env=env,
        )
        figures["parity"] = last_json(parity["output"])
    if "train" in args.only:
        figures.setdefault("jax_epochs", {})
        for label, batch, flags in train_runs(args):
            workdir = scratch / "runs" / label
            shutil.rmtree(workdir, ignore_errors=True)
            record = check.run(
                f"train_{label}",
                [python, "scripts/train.py", "--epochs", "1", "--batch-size", str(batch)]
                + flags
                + ["--data-dir", str(data_dir), "--archive", args.archive]
                + ["--workdir", str(workdir), "--no-progress"],
                timeout=args.step_timeout,
                env=env,
            )
            figures["jax_epochs"][label] = epoch_figures(workdir / "results.json", record)
            check.save()
    if "torch" in args.only:
        figures.setdefault("torch_epochs", {})
        for batch in args.batch_sizes:
            out = scratch / f"torch_b{batch}.json"
            out.unlink(missing_ok=True)
            record = check.run(
                f"torch_b{batch}",
                [python, "scripts/torch_recipe.py", "--archive", args.archive]
                + ["--epochs", "1", "--batch-size", str(batch), "--device", "cuda"]
                + ["--workers", str(args.torch_workers), "--out", str(out)],
                timeout=args.step_timeout,
                env=env,
            )
            figures["torch_epochs"][f"b{batch}"] = epoch_figures(out, record)
            check.save()
    figures["speed_vs_torch"] = ratios(figures)
    check.data["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    check.save()
    print(f"wrote {check.path}")
    return 0


def epoch_figures(results: Path, record: dict) -> dict:
    """The first epoch's figures from a run's results JSON (hw4jax's results.json or the
    torch recipe's --out), and the process's wall time."""
    figures = {"process_seconds": record.get("seconds"), "rc": record.get("rc")}
    if results.is_file():
        run = json.loads(results.read_text())
        epoch = run["epochs"][0]
        figures.update(
            epoch_seconds=epoch["seconds"],
            images_per_second=epoch.get("images_per_second"),
            train_loss_sum=epoch["train_loss_sum"],
            test_accuracy=run["test_accuracy"],
        )
        if figures["images_per_second"] is None:  # the torch recipe's record
            figures["images_per_second"] = epoch["train_examples"] / epoch["seconds"]
    return figures


def ratios(figures: dict) -> dict:
    """Each hw4jax epoch's images/s over PyTorch's at the same batch size (> 1: faster)."""
    torch_runs = figures.get("torch_epochs", {})
    out = {}
    for label, run in figures.get("jax_epochs", {}).items():
        batch = label.rsplit("_b", 1)[1]
        theirs = torch_runs.get(f"b{batch}", {}).get("images_per_second")
        ours = run.get("images_per_second")
        if ours and theirs:
            out[label] = round(ours / theirs, 3)
    return out


if __name__ == "__main__":
    sys.exit(main())
