"""Trains and evaluates the homework's CIFAR-10 CNN (Question 3) with JAX.

By default the homework's run: 2 epochs, Adam 1e-3, batch size 4, the homework's
augmentation, seed 0, on every device JAX sees (data-parallel; the GPU when there is one).

  python scripts/train.py --data-dir /work/tfds_data --workdir runs/homework
  python scripts/train.py --archive cifar-10-binary.tar.gz --data-dir ~/tfds  # prepare first
  python scripts/train.py --workdir runs/homework --resume      # after Ctrl-C
  python scripts/train.py --workdir runs/homework --eval-only   # evaluate the latest checkpoint

Exit status: 0 done; 2 bad flags or input (one line "error: ..."); 3 the loss became NaN or
infinite (the last good checkpoint is kept); 130 interrupted (a checkpoint was saved first).
"""

from __future__ import annotations

import argparse
import sys

from hw4jax import cli
from hw4jax.training.config import add_config_flags, config_from_flags

EXIT_BAD_INPUT = cli.EXIT_BAD_INPUT
EXIT_NON_FINITE = 3
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    p = cli.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--workdir", default="workdir", help="checkpoints, metrics.jsonl, results.json, metrics.png"
    )
    add_config_flags(p)  # one flag per hw4jax.training.config.Config field
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = config_from_flags(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    import jax

    from hw4jax.training.loop import NonFiniteLossError, train_and_evaluate

    if config.distributed:  # before anything asks JAX about devices, as in the flax examples
        jax.distributed.initialize(
            coordinator_address=config.coordinator_address,
            num_processes=config.num_processes,
            process_id=config.process_id,
        )
    try:
        train_and_evaluate(config, args.workdir)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NonFiniteLossError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_NON_FINITE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
