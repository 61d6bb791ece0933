"""Throughput of the augmentation chain, JAX against TensorFlow, on real CIFAR-10 images.

  python scripts/bench_augment.py                       # batches of 4 and 256
  python scripts/bench_augment.py --batch-sizes 4 64 256 --chunk-seconds 1 --repeats 7

For each batch size, images/s of ``apply_params_normalized`` (flip, rotation, affine,
colour jitter, ToTensor + Normalize; the homework's random parameters, drawn beforehand)
in three forms: ``jax.jit(jax_ops.apply_params_normalized)`` on the batch,
``jax.jit(jax.vmap(...))`` over its images, and ``tf_ops.apply_params_normalized`` in a
``tf.function`` graph (how tf.data runs it; no XLA, see tf_ops). The forms are timed in
alternation in chunks of about --chunk-seconds and the median chunk is reported, so a
shared, loaded machine slows them alike; also the CPU time per image (all threads) and
each JAX form's compile time. Both frameworks use every core.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax
import numpy as np
import tensorflow as tf

from hw4jax import cli
from hw4jax.augment import jax_ops, tf_ops
from hw4jax.data import cifar10_archive


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _chunk(step, images_per_step: int, seconds: float) -> tuple[float, float]:
    """Runs ``step`` (blocking) for about ``seconds``: (images/s, CPU seconds per image)."""
    n, cpu, start = 0, _cpu_seconds(), time.perf_counter()
    while True:
        step(n)
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n * images_per_step / elapsed, (_cpu_seconds() - cpu) / (n * images_per_step)


def run(images: np.ndarray, batch_size: int, *, chunk_seconds: float, repeats: int) -> dict:
    """The three forms' median images/s, CPU us per image and JAX compile seconds."""
    pool = 8  # batches of images and parameters, cycled so no call sees its inputs twice in a row
    rng = np.random.default_rng(batch_size)
    batches = [images[rng.choice(len(images), batch_size, replace=False)] for _ in range(pool)]
    keys = jax.random.split(jax.random.key(0), pool)
    params = [jax.tree.map(np.asarray, jax_ops.sample_params(k, shape=(batch_size,))) for k in keys]
    device = [(jax.device_put(b), jax.device_put(p)) for b, p in zip(batches, params)]
    forms = {
        "jax jit": jax.jit(jax_ops.apply_params_normalized),
        "jax jit(vmap)": jax.jit(jax.vmap(jax_ops.apply_params_normalized)),
    }
    steps, compile_seconds = {}, {}
    for name, f in forms.items():
        start = time.perf_counter()
        jax.block_until_ready(f(*device[0]))
        compile_seconds[name] = time.perf_counter() - start
        steps[name] = lambda i, f=f: jax.block_until_ready(f(*device[i % pool]))
    graph = tf.function(tf_ops.apply_params_normalized)
    tf_inputs = [(tf.constant(b), jax.tree.map(tf.constant, p)) for b, p in zip(batches, params)]
    graph(*tf_inputs[0]).numpy()  # trace
    steps["tf graph"] = lambda i: graph(*tf_inputs[i % pool]).numpy()
    for f in steps.values():  # warm up
        f(1)
    rates = {name: [] for name in steps}
    for _ in range(repeats):
        for name, f in steps.items():
            rates[name].append(_chunk(f, batch_size, chunk_seconds))
    return {
        name: {
            "images_per_s": float(np.median([r for r, _ in runs])),
            "cpu_us_per_image": 1e6 * float(np.median([c for _, c in runs])),
            "compile_s": compile_seconds.get(name),
        }
        for name, runs in rates.items()
    }


def main(argv=None) -> int:
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--archive", default=None, help="cifar-10-binary.tar.gz (default: hw4jax.cifar10_archive's)"
    )
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 256])
    p.add_argument("--chunk-seconds", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=5, help="chunks per form (median reported)")
    args = p.parse_args(argv)
    path = args.archive or cifar10_archive.default_archive_path()
    try:
        images, _ = cifar10_archive.read_split(path, "test")
    except (OSError, ValueError) as e:
        print(f"error: {e}; pass --archive or set HW4JAX_CIFAR10_ARCHIVE", file=sys.stderr)
        return cli.EXIT_BAD_INPUT
    if min(args.batch_sizes) < 1 or max(args.batch_sizes) > len(images):
        print(f"error: batch sizes must lie in [1, {len(images)}]", file=sys.stderr)
        return cli.EXIT_BAD_INPUT
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}, tensorflow {tf.__version__}; "
        f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    for batch_size in args.batch_sizes:
        result = run(images, batch_size, chunk_seconds=args.chunk_seconds, repeats=args.repeats)
        for name, r in result.items():
            compiled = f", compiled in {r['compile_s']:.1f} s" if r["compile_s"] is not None else ""
            print(
                f"batch {batch_size:4d}  {name:14s} {r['images_per_s']:10,.0f} images/s  "
                f"{r['cpu_us_per_image']:7.0f} us CPU/image{compiled}",
                flush=True,
            )
    print(f"load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
