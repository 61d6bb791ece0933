"""The hw4jax side of the training comparison, one run per interpreter.

``hw4jax.studies.compare_training`` starts this module once per hw4jax run and once per
dump of hw4jax's batches, each in a fresh process: every seed starts from empty JAX and
TensorFlow caches and memory (nothing one run compiled or cached can touch the next), and a
seed that crashes loses only itself. ::

  python -m hw4jax.studies.compare_worker train --config JSON --batches tfdata \\
      --workdir DIR --out RUN.json
  python -m hw4jax.studies.compare_worker train --config JSON --batches torchvision \\
      --batch-dir DUMP --workdir DIR --out RUN.json
  python -m hw4jax.studies.compare_worker dump --config JSON --out DUMP

``--config`` is a JSON object of ``hw4jax.training.config.get_config`` overrides. ``train``
runs ``train_and_evaluate`` in ``--workdir`` and writes the run file
(``compare_runs``' schema); ``dump`` writes the uint8 batches the run of that config
trains on (``batch_files.dump_tfdata_batches``). Exit status 2 with one ``error:`` line
for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hw4jax import cli
from hw4jax.studies import compare_runs
from hw4jax.training.config import Config, get_config

# Local paths: not part of what a committed run file says about the run.
_LOCAL_FIELDS = ("data_dir", "archive")


def hw4jax_run(
    config: Config,
    workdir: str | Path,
    *,
    batches: str = "tfdata",
    batch_dir: str | Path | None = None,
) -> dict:
    """Trains one hw4jax run and returns its run record.

    Args:
      config: the run's settings.
      workdir: ``train_and_evaluate``'s workdir (checkpoints, metrics; not kept).
      batches: 'tfdata' (hw4jax's own pipeline) or 'torchvision' (``batch_dir``'s files).
      batch_dir: with 'torchvision', the folder of ``epoch{E}.npz`` batch files.

    Raises:
      ValueError: bad settings or batch files.
    """
    from hw4jax.studies import batch_files
    from hw4jax.training.inputs import cifar10_input
    from hw4jax.training.loop import train_and_evaluate

    if (batches == "tfdata") != (batch_dir is None):
        raise ValueError("--batch-dir goes with --batches torchvision, and only with it")
    seen = {}

    def input_fn(c: Config):
        data = cifar10_input(c) if batch_dir is None else batch_files.batch_file_input(c, batch_dir)
        seen["images_per_epoch"] = data.steps_per_epoch * c.batch_size
        return data

    results = train_and_evaluate(config, workdir, input_fn=input_fn)
    epochs = [
        {
            **{k: e[k] for k in compare_runs.EPOCH_FIELDS if k in e},
            "train_examples": seen["images_per_epoch"],
        }
        for e in results["epochs"]
    ]
    return {
        "schema": compare_runs.SCHEMA,
        "framework": "hw4jax",
        "batches": batches,
        "seed": config.seed,
        "batch_size": config.batch_size,
        "train_examples": config.train_examples,
        "test_examples": config.test_examples,
        "epochs": epochs,
        "test_accuracy": results["test_accuracy"],
        "test_loss": results["test_loss"],
        "per_class_accuracy": results["per_class_accuracy"],
        "versions": _versions(),
        "device": results["device"],
        "config": {k: v for k, v in config.to_dict().items() if k not in _LOCAL_FIELDS},
    }


def _versions() -> dict:
    """Versions of what trained the run (all imported by then)."""
    names = ("jax", "jaxlib", "flax", "optax", "numpy", "tensorflow", "tensorflow_datasets")
    return {n: getattr(sys.modules.get(n), "__version__", None) for n in names}


def _parser() -> argparse.ArgumentParser:
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train")
    train.add_argument("--config", type=json.loads, required=True)
    train.add_argument("--batches", choices=compare_runs.BATCHES, default="tfdata")
    train.add_argument("--batch-dir", default=None)
    train.add_argument("--workdir", required=True)
    train.add_argument("--out", required=True)
    dump = sub.add_parser("dump")
    dump.add_argument("--config", type=json.loads, required=True)
    dump.add_argument("--out", required=True)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from hw4jax.studies import batch_files

    try:
        config = get_config(**args.config)
        if args.command == "dump":
            for path in batch_files.dump_tfdata_batches(config, args.out):
                print(f"wrote {path}", flush=True)
        else:
            record = hw4jax_run(
                config, args.workdir, batches=args.batches, batch_dir=args.batch_dir
            )
            compare_runs.write_run(args.out, record)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return cli.EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
