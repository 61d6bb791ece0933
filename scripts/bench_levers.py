"""Same-process A/B of train-step variants: which performance levers pay, on this machine.

  python scripts/bench_levers.py --batch-sizes 4 64 256
  python scripts/bench_levers.py --batch-sizes 256 --variants before kept ynn_dots_convs

Each variant is hw4jax's train step jitted another way (XLA compile options, the model
without dropout, several steps per call), on one fixed random batch, from the same initial
state. They are timed in turn in chunks of --chunk-seconds, --repeats rounds (A B C A B C
...), and each variant's median images/s is reported with its ratio to the first variant.
After 3 steps each variant's weights are compared with the first's ('bit-equal': whether the
lever changes the numbers at all). The README's Performance section lists the figures.

Variants: before (XLA's defaults: the train step before the copy-insertion option), kept
(what hw4jax compiles with now: ``steps.train_compiler_options``), and on top of kept:
scheduler (concurrency-optimized scheduler), no_fusion_emitters (XLA's older elemental
fusion code generator), ynn_none / ynn_convs / ynn_dots_convs (YNNPACK off, for convolutions
only, for dots and convolutions only), no_dropout (the most that cheaper dropout masks could
give), scan8 (8 steps per call on 8 batches: ``steps.train_steps``, what training with
``--steps-per-call 8`` runs; bit-equal is then checked after 8 steps against the first
variant's 8 single steps on the same batches), and the prototypes of
``lever_prototypes.py`` (fused_bn, fused_all, fused_pool, hash_dropout, rbg_dropout,
patches123: model pieces swapped while the step is traced).
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time

import jax
import numpy as np
from bench import _batch, _timed_chunk  # scripts/bench.py, this script's sibling
from lever_prototypes import PROTOTYPES  # benchmark-only model variants, also a sibling

from hw4jax import cli
from hw4jax.cnn.model import CNN
from hw4jax.training import sharding, steps
from hw4jax.training.optimizers import make_optimizer
from hw4jax.training.state import create_train_state

_YNN = "xla_cpu_experimental_ynn_fusion_type"
_DOT, _CONV = "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT", "LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION"
# name: (XLA compile options on top of what hw4jax uses, or None for XLA's defaults alone;
# model arguments; steps per call).
VARIANTS = {
    "before": (None, {}, 1),
    "kept": ({}, {}, 1),
    "scheduler": ({"xla_cpu_enable_concurrency_optimized_scheduler": True}, {}, 1),
    "no_fusion_emitters": ({"xla_cpu_use_fusion_emitters": False}, {}, 1),
    "ynn_none": ({_YNN: ""}, {}, 1),
    "ynn_convs": ({_YNN: _CONV}, {}, 1),
    "ynn_dots_convs": ({_YNN: f"{_DOT},{_CONV}"}, {}, 1),
    "no_dropout": ({}, {"dropout_rate": 0.0}, 1),
    "scan8": ({}, {}, 8),
    **{name: ({}, {}, 1) for name in PROTOTYPES},
}
SCAN_STEPS = 8  # steps compared for bit-equality: scan8 makes them in one call


def _batches(batch_size: int) -> list[dict]:
    """SCAN_STEPS fixed random batches (numpy)."""
    return [
        {"image": images, "label": labels}
        for images, labels in (_batch(batch_size, seed) for seed in range(SCAN_STEPS))
    ]


def _variant(name: str, mesh):
    """(jitted step, initial state, steps per call) of variant ``name``."""
    extra, model_args, per_call = VARIANTS[name]
    options = None
    if extra is not None:
        options = {**(steps.train_compiler_options(mesh) or {}), **extra} or None
    rep, data = sharding.replicated(mesh), sharding.batch_sharded(mesh)
    step = jax.jit(
        steps.train_step if per_call == 1 else steps.train_steps,
        in_shardings=(rep, data),
        out_shardings=(rep, rep),
        donate_argnums=0,
        compiler_options=options,
    )
    if name in PROTOTYPES:
        jitted, swap = step, PROTOTYPES[name]

        def step(state, batch):  # the swap matters while the first call traces the step
            with swap():
                return jitted(state, batch)

    state = create_train_state(
        jax.random.key(0), model=CNN(**model_args), tx=make_optimizer("adam", 1e-3)
    )
    return step, jax.device_put(state, rep), per_call


def _calls(batches: list[dict], per_call: int, mesh) -> list[dict]:
    """What a variant's calls take, sharded over ``mesh``: the batches one by one, or
    ``per_call`` at a time as ``steps.train_steps`` takes them (``steps.stack_steps``)."""
    if per_call > 1:
        batches = [
            steps.stack_steps(batches[i : i + per_call]) for i in range(0, len(batches), per_call)
        ]
    return [sharding.shard_batch(b, mesh) for b in batches]


def run_levers(
    batch_size: int, names: list[str], *, repeats: int, chunk_seconds: float
) -> list[dict]:
    """One row per variant at ``batch_size``: images/s (median), ratio to the first, compile
    seconds, and whether its weights after SCAN_STEPS steps (on the same SCAN_STEPS batches)
    equal the first variant's bit for bit."""
    mesh = sharding.make_mesh()
    batches = _batches(batch_size)
    runs, weights, compile_s = {}, {}, {}
    for name in names:
        step, state, per_call = _variant(name, mesh)
        calls = _calls(batches, per_call, mesh)
        start = time.perf_counter()
        state, _ = jax.block_until_ready(step(state, calls[0]))
        compile_s[name] = time.perf_counter() - start
        for call in calls[1:]:
            state, _ = step(state, call)
        weights[name] = jax.tree.map(np.asarray, state.params)
        runs[name] = [step, state, per_call, [], calls]
    for _ in range(repeats):
        for run in runs.values():
            step, _, per_call, rates, calls = run
            cycle = itertools.cycle(calls)  # the same batches again and again

            def one_call(run=run, step=step, cycle=cycle):
                run[1], metrics = step(run[1], next(cycle))
                jax.block_until_ready(metrics)

            rates.append(_timed_chunk(one_call, per_call * batch_size, chunk_seconds))
    first = float(np.median(runs[names[0]][3]))
    rows = []
    for name in names:
        rate = float(np.median(runs[name][3]))
        a, b = weights[names[0]], weights[name]
        equal = all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
        rows.append(
            {
                "batch_size": batch_size,
                "variant": name,
                "images_per_second": rate,
                "ratio": rate / first,
                "compile_seconds": compile_s[name],
                "bit_equal": equal,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 64, 256])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), help=", ".join(VARIANTS))
    p.add_argument("--repeats", type=int, default=8, help="timed chunks per variant")
    p.add_argument("--chunk-seconds", type=float, default=0.75)
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = p.parse_args(argv)
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        print(
            f"error: unknown variant(s) {', '.join(unknown)}: use {', '.join(VARIANTS)}",
            file=sys.stderr,
        )
        return 2
    if min(args.batch_sizes) < 1 or args.repeats < 1 or not args.chunk_seconds > 0:
        print("error: batch sizes and --repeats must be >= 1, --chunk-seconds > 0", file=sys.stderr)
        return 2
    rows = []
    for batch_size in args.batch_sizes:
        rows += run_levers(
            batch_size, args.variants, repeats=args.repeats, chunk_seconds=args.chunk_seconds
        )
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(
                f"batch {r['batch_size']:>4}  {r['variant']:<15} {r['images_per_second']:8.1f} "
                f"img/s  x{r['ratio']:.3f}  compile {r['compile_seconds']:.1f} s  "
                f"bit-equal {r['bit_equal']}"
            )
        print(f"load average {os.getloadavg()[0]:.1f}; ratio = images/s / the first variant's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
