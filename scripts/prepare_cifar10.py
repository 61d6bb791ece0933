"""Prepares tfds's cifar10 offline from the CIFAR-10 binary archive (no network).

  python scripts/prepare_cifar10.py --archive /path/to/cifar-10-binary.tar.gz --data-dir DIR

Afterwards ``tfds.load('cifar10', data_dir=DIR)`` and ``hw4jax.data.cifar10.load_split`` read it.
A bad archive prints one line ``error: ...`` and exits with status 2.
"""

from __future__ import annotations

import sys
import time

from hw4jax import cli
from hw4jax.data import cifar10
from hw4jax.data.cifar10_archive import default_archive_path


def main(argv=None) -> int:
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--archive",
        default=str(default_archive_path()),
        help="cifar-10-binary.tar.gz or its extracted cifar-10-batches-bin/ folder",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="tfds data directory (default: tfds's, $TFDS_DATA_DIR or ~/tensorflow_datasets)",
    )
    args = p.parse_args(argv)
    start = time.perf_counter()
    try:
        info = cifar10.prepare_offline(args.archive, args.data_dir)
    except ValueError as e:
        print("error: " + " ".join(str(e).split()), file=sys.stderr)
        return 2
    sizes = ", ".join(f"{name} {split.num_examples:,}" for name, split in info.splits.items())
    print(f"cifar10 ready in {info.data_dir} ({sizes}) after {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
