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

EXIT_BAD_INPUT = cli.EXIT_BAD_INPUT
EXIT_NON_FINITE = 3
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    p = cli.ArgumentParser(description=__doc__.splitlines()[0],
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=4, help="global batch (all devices)")
    p.add_argument("--optimizer", default="adam", choices=("adam", "sgd", "momentum", "adamw"))
    p.add_argument("--learning-rate", type=float, default=None,
                   help="default: the optimizer's torch.optim default (adam 1e-3)")
    p.add_argument("--momentum", type=float, default=None, help="for --optimizer momentum")
    p.add_argument("--weight-decay", type=float, default=None, help="for --optimizer adamw")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None, help="tfds data directory (default: tfds's)")
    p.add_argument("--archive", default=None,
                   help="CIFAR-10 binary archive to prepare the dataset from, offline, "
                        "when it is not prepared in --data-dir")
    p.add_argument("--workdir", default="workdir",
                   help="checkpoints, metrics.jsonl, results.json, metrics.png")
    p.add_argument("--no-augment", action="store_true", help="train without augmentation")
    p.add_argument("--eval-only", action="store_true",
                   help="evaluate the latest checkpoint in --workdir")
    p.add_argument("--resume", action="store_true",
                   help="continue from the latest checkpoint in --workdir")
    p.add_argument("--train-examples", type=int, default=None, help="use the first N only")
    p.add_argument("--test-examples", type=int, default=None, help="use the first N only")
    p.add_argument("--eval-batch-size", type=int, default=256)
    p.add_argument("--check-every", type=int, default=100,
                   help="steps between NaN checks and progress updates")
    p.add_argument("--keep-checkpoints", type=int, default=3)
    p.add_argument("--distributed", action="store_true",
                   help="multi-host: call jax.distributed.initialize() first (the cluster "
                        "is detected on SLURM, Open MPI, Kubernetes, Cloud TPU)")
    p.add_argument("--coordinator-address", default=None,
                   help="with --distributed where JAX cannot detect the cluster: process 0's "
                        "host:port")
    p.add_argument("--num-processes", type=int, default=None, help="with --coordinator-address")
    p.add_argument("--process-id", type=int, default=None, help="with --coordinator-address")
    p.add_argument("--no-progress", action="store_true", help="no progress bar/lines")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from hw4jax.config import get_config
    from hw4jax.optimizers import DEFAULT_LEARNING_RATES

    overrides = {"momentum": args.momentum, "weight_decay": args.weight_decay}
    try:
        config = get_config(
            epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer,
            learning_rate=(args.learning_rate if args.learning_rate is not None
                           else DEFAULT_LEARNING_RATES[args.optimizer]),
            seed=args.seed, augment=not args.no_augment, eval_batch_size=args.eval_batch_size,
            train_examples=args.train_examples, test_examples=args.test_examples,
            data_dir=args.data_dir, archive=args.archive,
            checkpoints_to_keep=args.keep_checkpoints, check_every_steps=args.check_every,
            resume=args.resume, eval_only=args.eval_only, distributed=args.distributed,
            coordinator_address=args.coordinator_address, num_processes=args.num_processes,
            process_id=args.process_id,
            progress=not args.no_progress,
            **{k: v for k, v in overrides.items() if v is not None},
        )
        from hw4jax.train import NonFiniteLossError, train_and_evaluate
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
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
