"""Measures the training input pipeline's throughput (images/s) on the prepared CIFAR-10.

  python scripts/bench_pipeline.py --data-dir DIR --batch-sizes 64 256

Prints one line per batch size: the full augmenting train pipeline (or --no-augment), as
numpy batches, after a warm-up.
"""

from __future__ import annotations

import argparse
import os
import sys

from hw4jax import augment as augment_lib
from hw4jax import cifar10, input_pipeline


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="tfds data dir (default: tfds's)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    p.add_argument("--num-images", type=int, default=25_600, help="timed, per batch size")
    p.add_argument("--warmup", type=int, default=5, help="untimed batches first")
    p.add_argument("--no-augment", action="store_true")
    args = p.parse_args(argv)
    try:
        train = cifar10.load_split("train", data_dir=args.data_dir)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    augment = None if args.no_augment else augment_lib.AugmentConfig()
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    for batch_size in args.batch_sizes:
        steps = input_pipeline.steps_per_epoch(int(train.cardinality()), batch_size=batch_size)
        batches = args.warmup + args.num_images // batch_size
        ds = input_pipeline.train_dataset(
            train, batch_size=batch_size, seed=0, epoch=0, augment=augment,
            num_epochs=-(-batches // steps), process_index=0, process_count=1,
        )
        cpu_start = _cpu_seconds()
        rate = input_pipeline.measure_throughput(
            ds, num_batches=args.num_images // batch_size, warmup=args.warmup
        )
        # On a shared machine wall time says little: CPU time per image bounds what idle
        # cores would deliver (one-time start-up and warm-up included: conservative).
        cpu = (_cpu_seconds() - cpu_start) / (args.num_images // batch_size * batch_size)
        print(
            f"batch {batch_size}: {rate:,.0f} images/s (augment {augment is not None}); "
            f"{cpu * 1e6:.0f} us CPU/image, at most {os.cpu_count() / cpu:,.0f} images/s "
            f"on {os.cpu_count()} idle cores; load average now {os.getloadavg()[0]:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
