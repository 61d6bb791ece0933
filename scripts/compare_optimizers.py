"""Question 1 as an experiment: Adam, SGD, SGD with momentum and AdamW side by side.

First the homework's 2-2-1 network (seconds): loss per iteration of each optimizer from the
homework's start. Then the homework's CIFAR-10 CNN, trained once per optimizer from the
same initial weights on the same batches (both checked by fingerprints), with per epoch the
train loss, test loss and accuracy and the wall time. Writes into --out-dir:
tiny_net.json, tiny_net.png, cnn_results.json, cnn_curves.png.

The defaults are a CPU-sized run (the README gives its time): the first 5,000 train and
1,000 test images, 3 epochs, batch 32, the homework's augmentation.

  python scripts/compare_optimizers.py --data-dir /work/tfds_data --out-dir runs/q1
  python scripts/compare_optimizers.py --optimizers adam=1e-3 sgd=1e-2 momentum=1e-2 adamw=1e-3
  python scripts/compare_optimizers.py --only tiny --tiny-iterations 500
  python scripts/compare_optimizers.py --archive cifar-10-binary.tar.gz --data-dir ~/tfds

On a GPU, the full data (50,000 / 10,000 images):

  python scripts/compare_optimizers.py --data-dir ~/tfds --out-dir runs/q1_full \\
      --train-examples all --test-examples all --epochs 30 --batch-size 64

Exit status: 0 done; 2 bad flags or input (one line "error: ..."); 3 two optimizers did not
start from the same weights or did not see the same batches (a bug; nothing is written).
"""

from __future__ import annotations

import argparse
import sys

from hw4jax import cli

EXIT_BAD_INPUT = cli.EXIT_BAD_INPUT
EXIT_MISMATCH = 3


def _examples(text: str) -> int | None:
    if text.lower() == "all":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither an integer nor 'all'") from None


def _parser() -> argparse.ArgumentParser:
    p = cli.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--optimizers",
        nargs="+",
        metavar="NAME[=LR]",
        default=["adam=1e-3", "sgd=1e-2", "momentum=1e-2", "adamw=1e-3"],
        help="the CNN's contestants, each adam|sgd|momentum|adamw with an optional "
        "learning rate (bare name: torch.optim's default); one optimizer may "
        "appear with several rates (default: %(default)s)",
    )
    p.add_argument("--epochs", type=int, default=3, help="default: %(default)s")
    p.add_argument("--batch-size", type=int, default=32, help="default: %(default)s")
    p.add_argument("--eval-batch-size", type=int, default=256, help="default: %(default)s")
    p.add_argument(
        "--train-examples",
        type=_examples,
        default=5000,
        metavar="N|all",
        help="the first N training images (default: %(default)s)",
    )
    p.add_argument(
        "--test-examples",
        type=_examples,
        default=1000,
        metavar="N|all",
        help="the first N test images (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, help="weights, dropout, data order")
    p.add_argument(
        "--no-augment", action="store_true", help="train without the homework's augmentation"
    )
    p.add_argument("--momentum", type=float, default=0.9, help="for 'momentum' (default 0.9)")
    p.add_argument(
        "--weight-decay",
        type=float,
        default=0.01,
        help="for 'adamw' (default 0.01, torch.optim.AdamW's)",
    )
    p.add_argument("--data-dir", default=None, help="tfds data directory (default: tfds's)")
    p.add_argument(
        "--archive",
        default=None,
        help="CIFAR-10 binary archive to prepare the data from, offline, when it "
        "is not prepared in --data-dir",
    )
    p.add_argument("--out-dir", default="runs/q1", help="default: %(default)s")
    p.add_argument(
        "--tiny-optimizers",
        nargs="+",
        metavar="NAME[=LR]",
        default=["adam=0.1", "sgd=0.1", "momentum=0.1", "adamw=0.1"],
        help="the 2-2-1 net's contestants (default: the homework's alpha 0.1 for each)",
    )
    p.add_argument("--tiny-iterations", type=int, default=100, help="default: %(default)s")
    p.add_argument(
        "--only",
        choices=("tiny", "cnn"),
        default=None,
        help="run one part only (default: both, the 2-2-1 net first)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from hw4jax.studies import optimizer_study as study_lib

    try:
        tiny_specs = study_lib.parse_optimizer_specs(args.tiny_optimizers)
        study = study_lib.StudyConfig(
            optimizers=study_lib.parse_optimizer_specs(args.optimizers),
            epochs=args.epochs,
            batch_size=args.batch_size,
            eval_batch_size=args.eval_batch_size,
            seed=args.seed,
            augment=not args.no_augment,
            train_examples=args.train_examples,
            test_examples=args.test_examples,
            momentum=args.momentum,
            weight_decay=args.weight_decay,
            data_dir=args.data_dir,
            archive=args.archive,
        )
        if args.tiny_iterations < 1:
            raise ValueError(f"--tiny-iterations must be >= 1, got {args.tiny_iterations}")
        if args.only != "cnn":
            study_lib.write_tiny_net(
                tiny_specs,
                args.out_dir,
                iterations=args.tiny_iterations,
                momentum=args.momentum,
                weight_decay=args.weight_decay,
            )
        if args.only != "tiny":
            print(flush=True)
            study_lib.run_cifar10_study(
                study, args.out_dir, log=lambda line: print(line, flush=True)
            )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except study_lib.StudyMismatchError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_MISMATCH
    return 0


if __name__ == "__main__":
    sys.exit(main())
