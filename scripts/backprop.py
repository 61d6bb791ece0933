"""Question 2: backpropagation on the 2-2-1 network, by the chain rule and by jax.grad.

Prints the derivation iteration by iteration (forward values, E, every chain-rule factor,
the gradients checked against jax.grad, the weights after each step) and then checks the
write-up's hand-computed numbers against it (homework setting only).

    python scripts/backprop.py                      # the homework: i=(3,5), y=1, w=0.5, alpha=0.1
    python scripts/backprop.py --loss squared --iterations 5 --optimizer adam
    python scripts/backprop.py --json               # the whole trace as JSON
    python scripts/backprop.py --plot net.png       # and the net with its numbers as a PNG
"""

from __future__ import annotations

import sys

from hw4jax import backprop, cli
from hw4jax.backprop import hand_derivation, picture


def main(argv: list[str] | None = None) -> int:
    home = backprop.HOMEWORK
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--inputs",
        type=float,
        nargs="+",
        default=list(home.inputs),
        metavar="I",
        help="i1 i2 (default: 3 5)",
    )
    parser.add_argument("--target", type=float, default=home.target, help="y (default: 1)")
    parser.add_argument(
        "--weights",
        type=float,
        nargs="+",
        default=list(home.weights),
        metavar="W",
        help="w1 ... w6 (default: all 0.5)",
    )
    parser.add_argument(
        "--learning-rate",
        "--lr",
        type=float,
        default=home.learning_rate,
        help="alpha (default: 0.1)",
    )
    parser.add_argument(
        "--iterations", type=int, default=home.iterations, help="number of steps (default: 2)"
    )
    parser.add_argument(
        "--loss",
        choices=backprop.LOSS_CONVENTIONS,
        default=home.loss,
        help="half_squared: E = 1/2 (y - O_out)^2, the convention the "
        "write-up's gradients use (default); squared: E = (y - O_out)^2, "
        "its printed E",
    )
    parser.add_argument(
        "--optimizer",
        choices=backprop.OPTIMIZERS,
        default=home.optimizer,
        help="gd: plain gradient descent (default); others: optax with "
        "torch.optim defaults, in float64",
    )
    parser.add_argument("--json", action="store_true", help="print the whole trace as JSON")
    parser.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw the net, each iteration's forward values on the nodes and dE/dw on "
        "the edges (the write-up's slips marked), into the PNG FILE",
    )
    args = parser.parse_args(argv)
    setting = backprop.Setting(
        inputs=tuple(args.inputs),
        target=args.target,
        weights=tuple(args.weights),
        learning_rate=args.learning_rate,
        iterations=args.iterations,
        loss=args.loss,
        optimizer=args.optimizer,
    )
    try:
        if args.plot:  # first: a bad --plot is one error line, not one after the tables
            picture.plot_setting(setting, args.plot)
        print(hand_derivation.render(setting, as_json=args.json))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write --plot {args.plot}: {e.strerror or e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
