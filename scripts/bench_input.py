"""Images/s of the whole train loop with each input: tf.data on the host against the device input.

  python scripts/bench_input.py                                    # batch 4 64 256, K 1 and 8
  python scripts/bench_input.py --batch-sizes 4 --steps-per-call 1 32 --repeats 7 --json out.json

For each batch size, the training loop's epoch piece (``hw4jax.training.loop.train_epoch``:
batches, sharding, the jitted step, the on-device metric sums and their reads every
``--check-every`` steps) runs on real CIFAR-10 (the 50,000 training images of the binary
archive, the homework's augmentation, Adam) with each input: ``host`` and ``host K=k``
(tf.data augments on the CPU, ``hw4jax.data.pipeline``; ``--steps-per-call k``: k of its
batches per jitted call) and ``device K=k`` (``--input device --steps-per-call k``: the
uint8 split on the device, batches built inside the jitted step). Each input's batches run
on across epochs (per-epoch work included: tf.data reads the split into memory again, the
device input computes the order and uniforms). The inputs take turns in chunks of about
--chunk-images images (A B C A B C ...), and the median chunk is reported, so a shared,
loaded machine slows them alike; also the CPU time per image (all threads: tf.data's work
shows here even when it keeps up) and the seconds the first chunk took (compilation, the
split read, the prefetch filling), which are not timed.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jax
import numpy as np
import tensorflow as tf

from hw4jax import cli
from hw4jax.data import cifar10_archive
from hw4jax.training import inputs, loop, sharding
from hw4jax.training.config import get_config
from hw4jax.training.state import initial_state


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class Runner:
    """One input's training loop, resumable chunk by chunk."""

    def __init__(self, name: str, data: inputs.Input, config, mesh) -> None:
        self.name, self.data, self.config, self.mesh = name, data, config, mesh
        self.state = jax.device_put(initial_state(config), sharding.replicated(mesh))
        self.train_fn = data.train_fn(mesh)
        epochs = itertools.count()
        self.batches = itertools.chain.from_iterable(data.train_batches(e, 0) for e in epochs)
        self.k = config.steps_per_call

    def chunk(self, steps: int) -> int:
        """Trains about ``steps`` steps (calls of k; an epoch's last call makes fewer) and
        waits for them: the steps made."""
        self.state, _, done = loop.train_epoch(
            self.state,
            itertools.islice(self.batches, -(-steps // self.k)),
            train_fn=self.train_fn,
            mesh=self.mesh,
            check_every=self.config.check_every_steps,
            steps_in=self.data.steps_in,
        )
        jax.block_until_ready(self.state)
        return done

    def compile_remainder(self) -> None:
        """Runs an epoch's last, shorter call once (where k does not divide the epoch), so
        that its compilation does not fall into a timed chunk."""
        left = self.data.steps_per_epoch % self.k
        if left:
            item = next(iter(self.data.train_batches(0, self.data.steps_per_epoch - left)))
            self.state, _ = self.train_fn(self.state, sharding.shard_batch(item, self.mesh))
            jax.block_until_ready(self.state)


def run(splits, batch_size: int, ks: list[int], *, chunk_images: int, repeats: int) -> dict:
    """Median images/s and CPU ms/image of each input at ``batch_size``."""
    train, test = (
        tf.data.Dataset.from_tensor_slices({"image": images, "label": labels})
        for images, labels in splits
    )
    mesh = sharding.make_mesh()
    base = get_config(batch_size=batch_size, progress=False)
    configs = {"host": base}  # the reference (K=1) first, also where 1 is not in ks
    configs |= {f"host K={k}": base.replace(steps_per_call=k) for k in ks if k > 1}
    configs |= {f"device K={k}": base.replace(input="device", steps_per_call=k) for k in ks}
    step_unit = batch_size * int(np.lcm.reduce(ks))
    steps = max(1, round(chunk_images / step_unit)) * (step_unit // batch_size)
    runners, first = [], {}
    for name, config in configs.items():
        start = time.perf_counter()
        runner = Runner(name, inputs.dataset_input(train, test, config), config, mesh)
        runner.chunk(steps)  # compiles, reads the split, fills tf.data's prefetch
        runner.compile_remainder()
        first[name] = time.perf_counter() - start
        runners.append(runner)
    rates = {r.name: [] for r in runners}
    for _ in range(repeats):
        for r in runners:
            wall, cpu = time.perf_counter(), _cpu_seconds()
            images = r.chunk(steps) * batch_size
            wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
            rates[r.name].append((images / wall, 1e3 * cpu / images))
    return {
        "batch_size": batch_size,
        "chunk_images": steps * batch_size,
        "inputs": {
            name: {
                "images_per_s": float(np.median([a for a, _ in runs])),
                "cpu_ms_per_image": float(np.median([c for _, c in runs])),
                "images_per_s_all": [round(a, 1) for a, _ in runs],
                "first_chunk_s": first[name],
            }
            for name, runs in rates.items()
        },
    }


def main(argv=None) -> int:
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--archive", default=None, help="cifar-10-binary.tar.gz (default: hw4jax's usual place)"
    )
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 64, 256])
    p.add_argument("--steps-per-call", type=int, nargs="+", default=[1, 8], help="each input's K's")
    p.add_argument("--chunk-images", type=int, default=2048, help="images per timed chunk")
    p.add_argument("--repeats", type=int, default=5, help="chunks per input (median reported)")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args(argv)
    path = args.archive or cifar10_archive.default_archive_path()
    try:
        splits = list(cifar10_archive.read_splits(path, ("train", "test")).values())
    except (OSError, ValueError) as e:
        print(f"error: {e}; pass --archive or set HW4JAX_CIFAR10_ARCHIVE", file=sys.stderr)
        return cli.EXIT_BAD_INPUT
    if min(args.batch_sizes) < 1 or min(args.steps_per_call) < 1:
        print("error: batch sizes and steps per call must be at least 1", file=sys.stderr)
        return cli.EXIT_BAD_INPUT
    header = {
        "jax": jax.__version__,
        "platform": jax.devices()[0].platform,
        "device_count": jax.device_count(),
        "cpus": os.cpu_count(),
        "load_average_start": os.getloadavg()[0],
    }
    print(
        f"jax {header['jax']} on {header['device_count']} {header['platform']} device(s); "
        f"cpus {header['cpus']}, load average {header['load_average_start']:.2f}",
        flush=True,
    )
    results = []
    for batch_size in args.batch_sizes:
        result = run(
            splits,
            batch_size,
            args.steps_per_call,
            chunk_images=args.chunk_images,
            repeats=args.repeats,
        )
        host = result["inputs"]["host"]["images_per_s"]
        for name, r in result["inputs"].items():
            print(
                f"batch {batch_size:4d}  {name:14s} {r['images_per_s']:8,.0f} images/s "
                f"({r['images_per_s'] / host:4.2f}x host)  {r['cpu_ms_per_image']:6.2f} ms "
                f"CPU/image  first chunk {r['first_chunk_s']:5.1f} s",
                flush=True,
            )
        results.append(result)
    header["load_average_end"] = os.getloadavg()[0]
    print(f"load average now {header['load_average_end']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**header, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
