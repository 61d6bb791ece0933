"""Measures the training input pipeline's throughput (images/s) on the prepared CIFAR-10.

  python scripts/bench_pipeline.py --data-dir DIR --batch-sizes 64 256 --num-batches 100

Prints one line per batch size: the full augmenting train pipeline (or --no-augment), as
numpy batches, after a warm-up.
"""

from __future__ import annotations

import argparse
import os
import sys

from hw4jax import augment as augment_lib
from hw4jax import cifar10, input_pipeline


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="tfds data dir (default: tfds's)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    p.add_argument("--num-batches", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
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
        ds = input_pipeline.train_dataset(
            train, batch_size=batch_size, seed=0, epoch=0, augment=augment,
            num_epochs=2, process_index=0, process_count=1,
        )
        rate = input_pipeline.measure_throughput(
            ds, num_batches=args.num_batches, warmup=args.warmup
        )
        print(f"batch {batch_size}: {rate:,.0f} images/s (augment {augment is not None})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
