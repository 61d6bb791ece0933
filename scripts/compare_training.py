"""Does hw4jax train like PyTorch? N seeds of each at one batch size, and Welch intervals.

Trains N seeds of hw4jax (train_and_evaluate, one process per seed) and N seeds of the
homework's PyTorch recipe (scripts/torch_recipe.py in --torch-python, the torchvision
venv), same epochs and augmentation; writes one JSON per run under
--results-dir/b{batch}/{batches}/{framework}_s{seed}.json, then summarises every run of
that batch size: per epoch the mean, sd and Welch 95% interval of the hw4jax - PyTorch
difference of the epoch loss sum and mean, train accuracy, test loss and test accuracy
(summary.json, summary.md with the per-seed table, comparison.png).

  python scripts/compare_training.py --batch-size 64 --seeds 8 \\
      --torch-python /path/to/tv-venv/bin/python --threads 1 \\
      --archive cifar-10-binary.tar.gz --data-dir ~/tfds
  python scripts/compare_training.py --batch-size 64 --seeds 8 --arm hw4jax-batches ...
  python scripts/compare_training.py --report-only          # re-summarise the run files

Arms: own (each framework on its own input pipeline), hw4jax-batches (PyTorch on
hw4jax's tf.data batches), torchvision-batches (hw4jax on torchvision's batches). A
run that dies leaves the seeds done before it; --resume skips the done ones.

Exit status: 0 done; 2 bad flags or input (one line "error: ..."); 3 a run failed (the
runs finished before it are kept).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hw4jax import cli

EXIT_BAD_INPUT = cli.EXIT_BAD_INPUT
EXIT_RUN_FAILED = 3


def _seeds(text: str) -> tuple[int, ...]:
    from hw4jax.studies.compare_training import parse_seeds

    try:
        return parse_seeds(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _parser() -> argparse.ArgumentParser:
    from hw4jax.studies import compare_runs, compare_training

    p = cli.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--batch-size", type=int, default=None, help="required unless --report-only")
    p.add_argument(
        "--seeds",
        type=_seeds,
        default=None,
        metavar="N|A-B|A,B,..",
        help="N: seeds 0..N-1 (required unless --report-only)",
    )
    p.add_argument("--epochs", type=int, default=2, help="default: %(default)s (the homework's)")
    p.add_argument("--arm", choices=tuple(compare_runs.ARMS), default="own")
    p.add_argument(
        "--frameworks",
        nargs="+",
        choices=compare_runs.FRAMEWORKS,
        default=None,
        help="which frameworks' runs of the arm to do (default: what the arm adds: "
        + "; ".join(
            f"{a}: {' '.join(f)}" for a, f in compare_training.ARM_DEFAULT_FRAMEWORKS.items()
        )
        + ")",
    )
    p.add_argument(
        "--torch-python", default=None, help="python of a venv with torch and torchvision"
    )
    p.add_argument("--threads", type=int, default=None, help="the recipe's torch threads")
    p.add_argument("--data-dir", default=None, help="tfds data directory (default: tfds's)")
    p.add_argument(
        "--archive",
        default=None,
        help="CIFAR-10 binary archive: the recipe reads it, hw4jax prepares tfds from it "
        "where --data-dir has none (default: $HW4JAX_CIFAR10_ARCHIVE or ../shared/...)",
    )
    p.add_argument("--results-dir", type=Path, default=compare_training.RESULTS_DIR)
    p.add_argument(
        "--cache-dir", default=None, help="scratch for workdirs and batch dumps (default: TMPDIR)"
    )
    p.add_argument("--resume", action="store_true", help="skip the runs whose file exists")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="no training: summarise and plot the run files (every b*/ folder, or --batch-size's)",
    )
    smoke = "the first N (smoke runs: each side its own first N, different images)"
    p.add_argument("--train-examples", type=int, default=None, help=smoke)
    p.add_argument("--test-examples", type=int, default=None, help=smoke)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    from hw4jax.studies import compare_training

    if not args.report_only and (args.batch_size is None or args.seeds is None):
        parser.error("--batch-size and --seeds are required (or pass --report-only)")
    try:
        if args.report_only:
            compare_training.report_all(args.results_dir, args.batch_size)
            return 0
        plan = compare_training.Plan(
            batch_size=args.batch_size,
            seeds=args.seeds,
            epochs=args.epochs,
            arm=args.arm,
            frameworks=None if args.frameworks is None else tuple(args.frameworks),
            train_examples=args.train_examples,
            test_examples=args.test_examples,
            results_dir=args.results_dir,
            data_dir=args.data_dir,
            archive=args.archive,
            torch_python=args.torch_python,
            threads=args.threads,
            cache_dir=args.cache_dir,
            resume=args.resume,
        )
        compare_training.run_comparison(plan)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except compare_training.RunFailedError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_RUN_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
