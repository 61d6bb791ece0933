"""Cross-checks hw4jax against the homework's PyTorch code from the same weights.

Prints one table (quantity, max abs error, normwise relative error, tolerance, pass):
float64 on both sides (the same function: logits, loss, every gradient, BatchNorm
statistics, k steps of Adam / SGD / SGD with momentum), float32 as users run it, the
2-2-1 network and the augmentation golden fixtures. See ``hw4jax.pytorch.parity``.

    python scripts/crosscheck_torch.py                      # a seeded Net after 5 Adam steps
    python scripts/crosscheck_torch.py --weights net.pt     # torch.save(net.state_dict(), ...)
    python scripts/crosscheck_torch.py --checkpoint runs/a  # a hw4jax run's latest checkpoint
    python scripts/crosscheck_torch.py --device gpu --json

Exit status: 0 when every row passes, 1 when one fails, 2 for bad input.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# TensorFlow (the augmentation rows) logs at import; keep it quiet unless asked.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hw4jax import cli  # noqa: E402
from hw4jax.pytorch import parity  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--weights",
        type=Path,
        help="a Net state_dict saved with torch.save (default: a seeded Net "
        "after 5 Adam steps on random data)",
    )
    source.add_argument(
        "--checkpoint",
        type=Path,
        metavar="WORKDIR",
        help="a hw4jax training run's workdir: check its latest checkpoint, "
        "exported with hw4jax.pytorch.interop.export_checkpoint",
    )
    parser.add_argument(
        "--save-weights",
        type=Path,
        metavar="OUT_PT",
        help="also write the checked weights as a .pt state_dict",
    )
    parser.add_argument(
        "--device",
        choices=parity.DEVICES,
        default="cpu",
        help="where both frameworks run (default: cpu)",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps k (default: 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--augment-golden",
        type=Path,
        help=f"augmentation fixture (default: {parity.AUGMENT_GOLDEN})",
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    try:
        rows = parity.crosscheck(
            weights=args.weights,
            checkpoint=args.checkpoint,
            save_weights=args.save_weights,
            device=args.device,
            batch_size=args.batch_size,
            steps=args.steps,
            seed=args.seed,
            augment_golden=args.augment_golden,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(parity.rows_as_json(rows) if args.json else parity.format_table(rows))
    return 0 if parity.all_passed(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
