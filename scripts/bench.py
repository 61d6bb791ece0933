"""Train-step and eval throughput of hw4jax's CNN against the homework's PyTorch model.

  python scripts/bench.py                                  # batch 4 20 64 128 256
  python scripts/bench.py --batch-sizes 20 256 --repeats 3 --chunk-seconds 0.5   # quick
  python scripts/bench.py --torch-compile --data-dir DIR --json
  python scripts/bench.py --steps-per-call 8     # hw4jax training with --steps-per-call 8

In one process, with the same thread count for both frameworks: images/s of the train
step (forward, backward, Adam update, BatchNorm statistics, dropout on) and of evaluation,
for hw4jax (``hw4jax.training.steps.make_train_step`` / ``make_eval_step``, what training
runs; with --steps-per-call K, ``make_train_steps``: K steps per call on K batches, as
training with ``--steps-per-call K`` runs) and for ``hw4jax.pytorch.reference.Net`` (eager;
``torch.compile`` with --torch-compile). The frameworks are timed in alternation (A B A B
...) in chunks of about --chunk-seconds, and the median chunk is reported, so a shared,
loaded machine slows both alike; the ratios are the figures to read. Also: the compile
time of JAX's first train step, a GEMM's GFLOP/s measured in the same run (the machine's
matmul limit under its current load) and each figure's share of it, the augmenting input
pipeline's images/s (with --data-dir, the prepared tfds CIFAR-10), and the load average.

Memory, beside each figure: the peak resident memory (VmHWM) of a fresh process that
imports one framework, builds its model and optimizer at that batch size and runs a few
train and eval steps (``--memory-child``): the peak while stepping (after compilation) and
the peak with compilation, each also above the process's RSS once the framework is imported
(what the model, its optimizer state, the compiler and the steps' buffers add). One process
per framework and batch size, because a process's peak cannot be split between two
frameworks sharing it; --no-memory skips them.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from hw4jax import cli
from hw4jax.cnn.model import CONV_LAYERS, DENSE_LAYERS
from hw4jax.pytorch.interop import FLATTEN_HWC, IN_CHANNELS

# Floating-point operations of one image through the model (multiply-add = 2), from the
# layer tables of hw4jax.cnn.model: each 3x3 conv's output size (after the paddings and
# pools before it), its input and output channels, then the linear layers.
_CONV_OUT_SIZES = (32, 32, 16, 18, 11, 13)
_CHANNELS = (IN_CHANNELS,) + tuple(features for _, features, _ in CONV_LAYERS)
_DENSE_IN = (FLATTEN_HWC[0] * FLATTEN_HWC[1] * FLATTEN_HWC[2],) + tuple(
    features for _, features in DENSE_LAYERS[:-1]
)
FORWARD_FLOPS = sum(
    2 * h * h * 9 * c * o for h, c, o in zip(_CONV_OUT_SIZES, _CHANNELS, _CHANNELS[1:])
) + sum(2 * i * o for i, (_, o) in zip(_DENSE_IN, DENSE_LAYERS))
# Backward costs two forwards (input and weight gradients); conv1's input gradient is
# skipped by both frameworks but is under 0.2% of the total, so it is ignored.
TRAIN_FLOPS = 3 * FORWARD_FLOPS


def _median_rate(runs: list[float]) -> float:
    return float(np.median(runs))


def _timed_chunk(step: Callable[[], object], images_per_step: int, seconds: float) -> float:
    """Calls ``step`` (which must block until done) until ``seconds`` have passed: images/s."""
    n, start = 0, time.perf_counter()
    while True:
        step()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n * images_per_step / elapsed


def _batch(batch_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(batch_size, 32, 32, 3)).astype(np.float32)
    labels = rng.integers(0, 10, batch_size).astype(np.int32)
    return images, labels


class JaxRunner:
    """hw4jax's jitted train and eval steps on one fixed batch (the state is donated);
    ``steps_per_call`` K > 1: each train call makes K steps on K different fixed batches."""

    def __init__(self, batch_size: int, steps_per_call: int = 1) -> None:
        from hw4jax.cnn.model import CNN
        from hw4jax.training import sharding, steps
        from hw4jax.training.optimizers import make_optimizer
        from hw4jax.training.state import create_train_state

        mesh = sharding.make_mesh()
        # Placed as the step's output will be, so the second step does not compile again.
        self.state = jax.device_put(
            create_train_state(jax.random.key(0), model=CNN(), tx=make_optimizer("adam", 1e-3)),
            sharding.replicated(mesh),
        )
        images, labels = _batch(batch_size, 0)
        self.batch = sharding.shard_batch({"image": images, "label": labels}, mesh)
        self.eval_batch = sharding.shard_batch(
            {"image": images, "label": labels, "mask": np.ones(batch_size, bool)}, mesh
        )
        self.steps_per_call = steps_per_call
        self._train = steps.make_train_step(mesh)
        if steps_per_call > 1:  # K batches in one call, as steps.train_steps takes them
            stack = [_batch(batch_size, seed) for seed in range(steps_per_call)]
            self.batch = sharding.shard_batch(
                steps.stack_steps([{"image": i, "label": lab} for i, lab in stack]), mesh
            )
            self._train = steps.make_train_steps(mesh)
        self._eval = steps.make_eval_step(mesh)
        start = time.perf_counter()
        self.train_step()
        self.compile_seconds = time.perf_counter() - start
        self.train_step()
        self.eval_step()

    def train_step(self) -> None:
        self.state, metrics = self._train(self.state, self.batch)
        jax.block_until_ready(metrics)

    def eval_step(self) -> None:
        jax.block_until_ready(self._eval(self.state, self.eval_batch))


class TorchRunner:
    """The homework's PyTorch Net: train step (train mode, Adam) and no_grad eval."""

    def __init__(self, batch_size: int, *, compile: bool) -> None:
        import torch

        from hw4jax.pytorch import reference

        torch.manual_seed(0)
        self.torch = torch
        self.reference = reference
        self.model = reference.Net()
        self.optimizer = reference.make_torch_optimizer("adam", self.model.parameters(), 1e-3)
        images, labels = _batch(batch_size, 0)
        self.images = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.forward = torch.compile(self.model) if compile else self.model
        start = time.perf_counter()
        self.train_step()
        self.eval_step()
        self.compile_seconds = time.perf_counter() - start

    def train_step(self) -> None:
        # The homework's step; with --torch-compile through the compiled module.
        self.reference.train_step(self.forward, self.optimizer, self.images, self.labels)

    def eval_step(self) -> None:
        self.model.eval()
        with self.torch.no_grad():
            self.forward(self.images).sum().item()


def matmul_gflops(*, size: int = 1024, seconds: float = 0.5) -> float:
    """GFLOP/s of a float32 [size, size] @ [size, size] in JAX: the machine's current GEMM
    limit (the best a convolution network's step can approach)."""
    a = jnp.ones((size, size), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    jax.block_until_ready(f(a))
    rate = _timed_chunk(lambda: jax.block_until_ready(f(a)), 1, seconds)
    return rate * 2 * size**3 / 1e9


def pipeline_rate(data_dir: str, *, batch_size: int, num_batches: int) -> float:
    """Images/s of the augmenting train input pipeline on the prepared CIFAR-10."""
    from hw4jax import augment
    from hw4jax.data import cifar10, throughput

    return throughput.train_pipeline_throughput(
        cifar10.load_split("train", data_dir=data_dir),
        batch_size=batch_size,
        num_batches=num_batches,
        augment=augment.AugmentConfig(),
    ).images_per_second


# The framework each runner of --memory-child imports (torch_compiled: torch.compile's).
MEMORY_FRAMEWORKS = {"jax": "jax", "torch": "torch", "torch_compiled": "torch"}


def _rss_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS: now; VmHWM: the peak so far)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise ValueError(f"/proc/self/status has no {field}: peak memory needs Linux")


def memory_child(name: str, batch_size: int, steps: int = 5, steps_per_call: int = 1) -> dict:
    """In this (fresh) process: imports one framework, builds runner ``name`` ('jax',
    'torch' or 'torch_compiled') at ``batch_size`` (compiling and running its first steps),
    then runs ``steps`` train calls (of ``steps_per_call`` steps, JAX) and eval steps. In
    MiB: the peak RSS of the whole process (compilation included), and the peak while
    stepping (the high-water mark reset after the first steps), each also above the RSS once
    the framework is imported."""
    if MEMORY_FRAMEWORKS[name] == "jax":
        import hw4jax.training.steps  # noqa: F401  (the framework, before the baseline)
    else:
        import torch  # noqa: F401
    imported = _rss_kib("VmRSS")
    if name == "jax":
        runner = JaxRunner(batch_size, steps_per_call)
    else:
        runner = TorchRunner(batch_size, compile=name == "torch_compiled")
    with_compile = _rss_kib("VmHWM")
    # Hand the compilers' freed memory back to the system (glibc keeps it otherwise), so
    # that the stepping peak counts what the steps hold, not what compiling left behind.
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # Linux: resets VmHWM to the current RSS
    for _ in range(steps):
        runner.train_step()
        runner.eval_step()
    stepping = _rss_kib("VmHWM")
    return {
        "peak_mib": max(with_compile, stepping) / 1024,
        "stepping_peak_mib": stepping / 1024,
        "above_import_mib": (max(with_compile, stepping) - imported) / 1024,
        "stepping_above_import_mib": (stepping - imported) / 1024,
    }


def measure_memory(name: str, batch_size: int, threads: int, steps_per_call: int = 1) -> dict:
    """``memory_child`` in a fresh interpreter running this script."""
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", name, str(batch_size), str(steps_per_call)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": str(threads)},
    )
    if out.returncode != 0:
        raise RuntimeError(f"the {name} memory child at batch {batch_size} failed:\n{out.stderr}")
    return json.loads(out.stdout.splitlines()[-1])


def run_benchmark(
    *,
    batch_sizes: list[int],
    repeats: int,
    chunk_seconds: float,
    torch_compile: bool,
    threads: int,
    data_dir: str | None,
    log: Callable[[str], None],
    memory: bool = True,
    steps_per_call: int = 1,
) -> dict:
    """Measures everything the module docstring lists; returns a JSON-able dict."""
    import torch

    torch.set_num_threads(threads)
    result: dict = {
        "threads": threads,
        "jax": jax.__version__,
        "torch": torch.__version__,
        "jax_steps_per_call": steps_per_call,
        "train_mflop_per_image": TRAIN_FLOPS / 1e6,
        "eval_mflop_per_image": FORWARD_FLOPS / 1e6,
        "load_average_start": os.getloadavg()[0],
        "rows": [],
    }
    gemm = []
    for batch_size in batch_sizes:
        log(f"batch {batch_size}: compiling")
        runners = {
            "jax": JaxRunner(batch_size, steps_per_call),
            "torch": TorchRunner(batch_size, compile=False),
        }
        if torch_compile:
            runners["torch_compiled"] = TorchRunner(batch_size, compile=True)
        rates = {(name, kind): [] for name in runners for kind in ("train", "eval")}
        for _ in range(repeats):
            for kind in ("train", "eval"):
                for name, runner in runners.items():  # A B A B: load hits both alike
                    step = getattr(runner, f"{kind}_step")
                    per_call = steps_per_call if (name, kind) == ("jax", "train") else 1
                    rates[name, kind].append(
                        _timed_chunk(step, per_call * batch_size, chunk_seconds)
                    )
            gemm.append(matmul_gflops(seconds=chunk_seconds / 2))
        row = {"batch_size": batch_size, "jax_first_step_seconds": runners["jax"].compile_seconds}
        for (name, kind), runs in rates.items():
            row[f"{name}_{kind}"] = _median_rate(runs)
        for kind in ("train", "eval"):
            best_torch = max(row[f"{n}_{kind}"] for n in runners if n != "jax")
            row[f"{kind}_ratio_vs_best_torch"] = row[f"jax_{kind}"] / best_torch
            row[f"{kind}_ratio_vs_torch_eager"] = row[f"jax_{kind}"] / row[f"torch_{kind}"]
        del runners
        if memory:
            for name in ("jax", "torch") + (("torch_compiled",) if torch_compile else ()):
                mem = measure_memory(name, batch_size, threads, steps_per_call)
                row.update({f"{name}_{key}": value for key, value in mem.items()})
        result["rows"].append(row)
        log(
            f"batch {batch_size}: jax train {row['jax_train']:.0f}/s, torch "
            f"{row['torch_train']:.0f}/s; eval {row['jax_eval']:.0f}/s vs "
            f"{row['torch_eval']:.0f}/s"
        )
    result["gemm_gflops"] = float(np.median(gemm))
    if data_dir is not None:
        result["pipeline_images_per_second"] = pipeline_rate(
            data_dir, batch_size=max(batch_sizes), num_batches=50
        )
    else:
        result["pipeline_images_per_second"] = None
    stats = jax.devices()[0].memory_stats()
    result["jax_peak_bytes_in_use"] = None if stats is None else stats.get("peak_bytes_in_use")
    result["load_average_end"] = os.getloadavg()[0]
    return result


def format_table(result: dict) -> str:
    """The human-readable table of ``run_benchmark``'s result."""
    compiled = any("torch_compiled_train" in r for r in result["rows"])
    memory = any("jax_peak_mib" in r for r in result["rows"])
    gemm = result["gemm_gflops"]
    head = (
        ["batch", "jax train", "torch train"]
        + (["compiled"] if compiled else [])
        + ["ratio", "%GEMM", "jax eval", "torch eval"]
        + (["compiled"] if compiled else [])
        + ["ratio", "%GEMM", "1st step s"]
        + (["jax MiB", "torch MiB"] if memory else [])
    )
    lines = ["  ".join(f"{h:>11}" for h in head)]
    for r in result["rows"]:
        cells = [f"{r['batch_size']}", f"{r['jax_train']:.0f}", f"{r['torch_train']:.0f}"]
        if compiled:
            cells.append(f"{r['torch_compiled_train']:.0f}")
        cells += [
            f"{r['train_ratio_vs_best_torch']:.2f}x",
            f"{100 * r['jax_train'] * TRAIN_FLOPS / 1e9 / gemm:.0f}%",
            f"{r['jax_eval']:.0f}",
            f"{r['torch_eval']:.0f}",
        ]
        if compiled:
            cells.append(f"{r['torch_compiled_eval']:.0f}")
        cells += [
            f"{r['eval_ratio_vs_best_torch']:.2f}x",
            f"{100 * r['jax_eval'] * FORWARD_FLOPS / 1e9 / gemm:.0f}%",
            f"{r['jax_first_step_seconds']:.1f}",
        ]
        if memory:  # peak RSS while stepping (above the imported framework)
            cells += [
                f"{r[f'{n}_stepping_peak_mib']:.0f} ({r[f'{n}_stepping_above_import_mib']:.0f})"
                for n in ("jax", "torch")
            ]
        lines.append("  ".join(f"{c:>11}" for c in cells))
    pipeline = result["pipeline_images_per_second"]
    lines += [
        "images/s, median of the interleaved chunks"
        + (
            f" (jax train: {result['jax_steps_per_call']} steps per call, lax.scan)"
            if result.get("jax_steps_per_call", 1) > 1
            else ""
        )
        + "; ratio = jax / best torch"
        + (" (eager or compiled)" if compiled else " (eager)")
        + f"; %GEMM = model GFLOP/s ({result['train_mflop_per_image']:.0f} MFLOP per train "
        f"image, {result['eval_mflop_per_image']:.0f} per eval image) / {gemm:.0f} GFLOP/s "
        "(1024^3 float32 GEMM measured in this run)",
        "input pipeline (augmenting): "
        + (
            f"{pipeline:,.0f} images/s"
            if pipeline
            else "skipped (pass --data-dir with prepared CIFAR-10)"
        ),
        "MiB: peak RSS of a process training and evaluating with that framework alone, "
        "while stepping (compilation excluded; in parentheses: above its RSS once the "
        "framework is imported; the JSON also has the peaks with compilation)"
        if memory
        else "memory: skipped (--no-memory)",
        f"threads {result['threads']} (torch.set_num_threads; XLA uses every core), "
        f"jax {result['jax']}, torch {result['torch']}, jax device peak bytes "
        f"{result['jax_peak_bytes_in_use'] or 'n/a (CPU)'}, load average "
        f"{result['load_average_start']:.1f} -> {result['load_average_end']:.1f}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 20, 64, 128, 256])
    p.add_argument("--repeats", type=int, default=5, help="timed chunks per figure")
    p.add_argument("--chunk-seconds", type=float, default=1.0, help="length of one chunk")
    p.add_argument("--torch-compile", action="store_true", help="also time torch.compile")
    p.add_argument(
        "--data-dir",
        default=None,
        help="tfds dir with prepared CIFAR-10: also time the input pipeline",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    p.add_argument(
        "--steps-per-call",
        type=int,
        default=1,
        help="hw4jax train steps per jitted call (lax.scan), as train.py --steps-per-call",
    )
    p.add_argument(
        "--memory-child",
        nargs=3,
        metavar=("FRAMEWORK", "BATCH", "STEPS_PER_CALL"),
        help=argparse.SUPPRESS,  # measure_memory's fresh process
    )
    args = p.parse_args(argv)
    if args.memory_child:
        name, batch, per_call = args.memory_child
        print(json.dumps(memory_child(name, int(batch), steps_per_call=int(per_call))))
        return 0
    if (
        min(args.batch_sizes) < 1
        or args.repeats < 1
        or args.steps_per_call < 1
        or not args.chunk_seconds > 0
    ):
        print(
            "error: batch sizes, --repeats and --steps-per-call must be >= 1, --chunk-seconds > 0",
            file=sys.stderr,
        )
        return 2
    threads = len(os.sched_getaffinity(0))
    log = (lambda s: None) if args.json else (lambda s: print(s, file=sys.stderr, flush=True))
    try:
        result = run_benchmark(
            batch_sizes=args.batch_sizes,
            repeats=args.repeats,
            chunk_seconds=args.chunk_seconds,
            torch_compile=args.torch_compile,
            threads=threads,
            data_dir=args.data_dir,
            log=log,
            memory=not args.no_memory,
            steps_per_call=args.steps_per_call,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
