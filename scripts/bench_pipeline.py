"""Measures the training input pipeline's throughput (images/s) on the prepared CIFAR-10.

  python scripts/bench_pipeline.py --data-dir DIR --batch-sizes 64 256

Prints one line per batch size: the full augmenting train pipeline (or --no-augment), as
numpy batches, after a warm-up.
"""

from __future__ import annotations

import os
import sys

from hw4jax import augment as augment_lib
from hw4jax import cli
from hw4jax.data import cifar10, throughput


def main(argv=None) -> int:
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="tfds data dir (default: tfds's)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    p.add_argument("--num-images", type=int, default=25_600, help="timed, per batch size")
    p.add_argument("--warmup", type=int, default=5, help="untimed batches first")
    p.add_argument("--no-augment", action="store_true")
    args = p.parse_args(argv)
    augment = None if args.no_augment else augment_lib.AugmentConfig()
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
    try:
        train = cifar10.load_split("train", data_dir=args.data_dir)
        for batch_size in args.batch_sizes:
            measured = throughput.train_pipeline_throughput(
                train,
                batch_size=batch_size,
                num_batches=args.num_images // batch_size,
                augment=augment,
                warmup=args.warmup,
            )
            # On a shared machine wall time says little: CPU time per image (all threads,
            # timed batches only) bounds what idle cores would deliver.
            cpu = measured.cpu_seconds_per_image
            print(
                f"batch {batch_size}: {measured.images_per_second:,.0f} images/s (augment "
                f"{augment is not None}); {cpu * 1e6:.0f} us CPU/image, at most "
                f"{os.cpu_count() / cpu:,.0f} images/s on {os.cpu_count()} idle cores; "
                f"load average now {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    except ValueError as e:  # unprepared data, a batch larger than the split, ...
        print(f"error: {e}", file=sys.stderr)
        return cli.EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
