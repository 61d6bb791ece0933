"""The augmentation gallery: real CIFAR-10 images, what each op of the homework's transform
does to them in hw4jax and in torchvision with the same parameters, and the difference.

    python scripts/show_augment.py --out gallery.png                 # torchvision if installed
    python scripts/show_augment.py --out gallery.png --source fixtures --count 2

With torchvision importable (``--source torchvision``, or ``auto``, the default), it draws
--count train images from the CIFAR-10 archive and the homework's random parameters from
--seed, and runs torchvision's transform classes with those parameters pinned. Otherwise
(``--source fixtures``) it shows the golden fixtures' first --count images: torchvision's
outputs recorded by ``scripts/make_augment_fixtures.py``, with their parameters.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from hw4jax import cli
from hw4jax.augment import gallery
from hw4jax.data import cifar10_archive

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "data" / "augment_golden.npz"


def _torchvision_examples(archive: Path, count: int, seed: int):
    """``count`` train images chosen by ``seed``, parameters drawn from ``key(seed)``,
    torchvision's outputs as the reference; and the reference's name."""
    import jax
    import numpy as np

    from hw4jax.pytorch import torchvision_ops

    if count < 1:
        raise ValueError(f"--count {count}: show at least one image")
    images, _ = cifar10_archive.read_split(archive, "train")
    chosen = np.sort(np.random.default_rng(seed).choice(len(images), count, replace=False))
    labels = [f"train #{i}" for i in chosen]
    examples = gallery.drawn_examples(
        jax.random.key(seed), images[chosen], labels, torchvision_ops.outputs
    )
    return examples, f"torchvision {torchvision_ops.version()}"


def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument(
        "--source",
        choices=("auto", "torchvision", "fixtures"),
        default="auto",
        help="the reference: torchvision run here, or the golden fixtures; auto: "
        "torchvision when it is installed (default)",
    )
    parser.add_argument("--count", type=int, default=3, help="images to show (default: 3)")
    parser.add_argument(
        "--seed", type=int, default=0, help="torchvision: seed of the images and parameters"
    )
    parser.add_argument(
        "--archive",
        type=Path,
        default=cifar10_archive.default_archive_path(),
        help="torchvision: the CIFAR-10 binary archive (default: %(default)s)",
    )
    parser.add_argument(
        "--fixtures", type=Path, default=FIXTURES, help="fixtures: the .npz (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    source = args.source
    if source == "auto":
        have = importlib.util.find_spec("torchvision") is not None
        source = "torchvision" if have else "fixtures"
    try:
        if source == "torchvision":
            examples, name = _torchvision_examples(args.archive, args.count, args.seed)
        else:
            examples, name = gallery.load_fixture_examples(args.fixtures, args.count)
        gallery.plot_gallery(args.out, examples, reference_name=name)
    except ImportError as e:
        print(
            f"error: --source torchvision needs torchvision ({e}); or pass --source fixtures",
            file=sys.stderr,
        )
        return 2
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write {args.out}: {e.strerror or e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {len(examples)} images, hw4jax vs {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
