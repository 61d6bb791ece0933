"""Run files of the hw4jax-vs-PyTorch training comparison: layout, schema, summary.

Layout, under a results folder (the repository's ``results/compare_training``)::

    b{batch}/{batches}/{framework}_s{seed}.json   one run (one seed of one framework)
    b{batch}/summary.json, summary.md, comparison.png   made from all the runs of b{batch}

``framework`` is 'hw4jax' or 'pytorch'; ``batches`` names whose augmented batches the run
trained on: 'tfdata' (hw4jax's pipeline) or 'torchvision' (the homework's transforms and
DataLoader). Each framework on its own batches answers the question; each on the other's
pins a difference on the framework or on the pipeline (``CONTRASTS``).

A run file is JSON with at least::

    framework, batches, seed, batch_size,
    train_examples, test_examples      null = the whole split (smoke runs use the first N)
    epochs: [{epoch (1, 2, ...), train_loss_sum, train_loss_mean, train_accuracy,
              train_examples (images trained on that epoch), test_loss, test_accuracy,
              seconds}, ...]

plus whatever the producer adds (versions, per-class accuracy, hw4jax's config and
device). ``scripts/torch_recipe.py --out`` writes a valid PyTorch run file as it is
(recipe files written before it recorded ``train_examples``/``test_examples`` ran on whole
splits, and read as such). Runs of one b{batch} folder must share their settings
(``SETTINGS``): ``summarize`` refuses to mix them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from hw4jax.studies import compare_stats

SCHEMA = "hw4jax.compare_training.run/1"
FRAMEWORKS = ("hw4jax", "pytorch")
BATCHES = ("tfdata", "torchvision")
# The figures compared, per epoch. The loss sum is the homework's printed figure; its mean
# takes out the example count (hw4jax drops the last partial batch of an epoch).
METRICS = ("train_loss_sum", "train_loss_mean", "train_accuracy", "test_loss", "test_accuracy")
EPOCH_FIELDS = ("epoch", *METRICS, "train_examples", "seconds")
# What must match for runs to be compared (the run file's keys; 'epochs' is their count).
SETTINGS = ("batch_size", "epochs", "train_examples", "test_examples")
_RUN_NAME = re.compile(r"^(?P<framework>[a-z0-9]+)_s(?P<seed>\d+)\.json$")


@dataclasses.dataclass(frozen=True)
class RunSet:
    """The runs of one framework on one pipeline's batches."""

    framework: str
    batches: str

    @property
    def label(self) -> str:
        return f"{self.framework} on {self.batches}"

    @property
    def key(self) -> str:
        return f"{self.framework}@{self.batches}"


HW4JAX_OWN = RunSet("hw4jax", "tfdata")
PYTORCH_OWN = RunSet("pytorch", "torchvision")
PYTORCH_ON_TFDATA = RunSet("pytorch", "tfdata")
HW4JAX_ON_TORCHVISION = RunSet("hw4jax", "torchvision")
RUN_SETS = (HW4JAX_OWN, PYTORCH_OWN, PYTORCH_ON_TFDATA, HW4JAX_ON_TORCHVISION)


@dataclasses.dataclass(frozen=True)
class Contrast:
    """A difference ``a - b`` of two run sets and what it isolates."""

    name: str
    a: RunSet
    b: RunSet
    question: str


CONTRASTS = (
    Contrast("own", HW4JAX_OWN, PYTORCH_OWN, "each on its own pipeline: the question"),
    Contrast(
        "hw4jax-batches", HW4JAX_OWN, PYTORCH_ON_TFDATA, "both on tf.data's batches: framework"
    ),
    Contrast(
        "torchvision-batches",
        HW4JAX_ON_TORCHVISION,
        PYTORCH_OWN,
        "both on torchvision's batches: framework",
    ),
    Contrast(
        "pipeline-in-pytorch",
        PYTORCH_ON_TFDATA,
        PYTORCH_OWN,
        "PyTorch on tf.data's vs torchvision's batches: pipeline",
    ),
    Contrast(
        "pipeline-in-hw4jax",
        HW4JAX_OWN,
        HW4JAX_ON_TORCHVISION,
        "hw4jax on tf.data's vs torchvision's batches: pipeline",
    ),
)
ARMS = {c.name: c for c in CONTRASTS[:3]}  # what --arm runs: its two run sets


# ----------------------------------------------------------------------------- layout


def batch_dir(results_dir: str | Path, batch_size: int) -> Path:
    return Path(results_dir) / f"b{batch_size}"


def run_path(results_dir: str | Path, batch_size: int, run_set: RunSet, seed: int) -> Path:
    """``{results_dir}/b{batch}/{batches}/{framework}_s{seed}.json``."""
    return (
        batch_dir(results_dir, batch_size) / run_set.batches / f"{run_set.framework}_s{seed}.json"
    )


def batch_dirs(results_dir: str | Path) -> list[tuple[int, Path]]:
    """The (batch size, folder) of every ``b{batch}`` folder under ``results_dir``."""
    found = []
    for path in Path(results_dir).glob("b*"):
        if path.is_dir() and re.fullmatch(r"b\d+", path.name):
            found.append((int(path.name[1:]), path))
    return sorted(found)


# ----------------------------------------------------------------------------- run files


@dataclasses.dataclass(frozen=True)
class Run:
    """One run file, read and checked."""

    path: Path
    run_set: RunSet
    seed: int
    settings: dict
    epochs: tuple[dict, ...]


def run_settings(record: dict) -> dict:
    """The ``SETTINGS`` of a run record (``epochs``: how many; missing example counts: the
    whole split)."""
    return {
        "batch_size": record["batch_size"],
        "epochs": len(record["epochs"]),
        "train_examples": record.get("train_examples"),
        "test_examples": record.get("test_examples"),
    }


def check_record(record: dict, source: str) -> None:
    """Checks a run record against the schema (see the module docstring).

    Raises:
      ValueError: naming ``source``, the missing or bad field.
    """
    for key in ("framework", "batches", "seed", "batch_size", "epochs"):
        if key not in record:
            raise ValueError(f"{source}: not a run file: no {key!r}")
    if record["framework"] not in FRAMEWORKS or record["batches"] not in BATCHES:
        raise ValueError(
            f"{source}: framework {record['framework']!r} / batches {record['batches']!r} must "
            f"be one of {FRAMEWORKS} / {BATCHES}"
        )
    epochs = record["epochs"]
    if not epochs or [e.get("epoch") for e in epochs] != list(range(1, len(epochs) + 1)):
        raise ValueError(f"{source}: 'epochs' must list epochs 1, 2, ... in order")
    for e in epochs:
        missing = [k for k in METRICS if not isinstance(e.get(k), (int, float))]
        if missing:
            raise ValueError(f"{source}: epoch {e['epoch']} has no number for {missing}")


def load_run(path: str | Path) -> Run:
    """Reads a run file and checks it, and that its place in the layout matches its content.

    Raises:
      ValueError: not JSON, not a run file, or in the wrong place (the message says which).
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e}): delete it and run that seed again") from e
    check_record(record, str(path))
    run_set = RunSet(record["framework"], record["batches"])
    root = path.parents[2]
    expected = run_path(root, record["batch_size"], run_set, record["seed"])
    if expected.relative_to(root) != path.relative_to(root):
        raise ValueError(
            f"{path}: holds {run_set.label}, seed {record['seed']}, batch "
            f"{record['batch_size']}: its place is {expected.relative_to(root)}"
        )
    return Run(
        path=path,
        run_set=run_set,
        seed=int(record["seed"]),
        settings=run_settings(record),
        epochs=tuple(record["epochs"]),
    )


def write_run(path: str | Path, record: dict) -> Path:
    """Checks ``record`` and writes it to ``path`` atomically (a crash leaves no half file)."""
    path = Path(path)
    check_record(record, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def load_runs(folder: str | Path) -> list[Run]:
    """Every run file of one ``b{batch}`` folder, checked to share one set of ``SETTINGS``.

    Raises:
      ValueError: a bad run file, or runs of different settings (the message lists them).
    """
    folder = Path(folder)
    runs = []
    for batches in BATCHES:
        for path in sorted((folder / batches).glob("*.json")):
            if _RUN_NAME.match(path.name):
                runs.append(load_run(path))
    check_same_settings(runs, folder)
    return runs


def check_same_settings(runs: Sequence[Run], where: str | Path) -> dict | None:
    """The runs' common settings (None for no runs).

    Raises:
      ValueError: the runs differ in a setting; the message shows each setting's files.
    """
    groups: dict[str, list[str]] = {}
    for run in runs:
        groups.setdefault(json.dumps(run.settings, sort_keys=True), []).append(run.path.name)
    if len(groups) > 1:
        shown = "; ".join(
            f"{settings}: {', '.join(names[:4])}{' ...' if len(names) > 4 else ''}"
            for settings, names in groups.items()
        )
        raise ValueError(
            f"{where} mixes runs of different settings ({shown}): keep one setting per "
            "results folder (smoke runs in another --results-dir)"
        )
    return runs[0].settings if runs else None


# ----------------------------------------------------------------------------- summary


def summarize(runs: Sequence[Run]) -> dict:
    """Per run set and epoch, each metric's mean and sd over seeds; per contrast whose two
    run sets both have runs, Welch's difference and 95% interval; the per-seed figures.

    Raises:
      ValueError: no runs, or runs of different settings.
    """
    if not runs:
        raise ValueError("no run files to summarize: run some seeds first")
    settings = check_same_settings(runs, "the runs")
    by_set = {}
    for run_set in RUN_SETS:
        members = sorted((r for r in runs if r.run_set == run_set), key=lambda r: r.seed)
        if members:
            by_set[run_set] = members
    samples = {s: _samples(rs, settings["epochs"]) for s, rs in by_set.items()}
    return {
        "settings": settings,
        "metrics": list(METRICS),
        "run_sets": {s.key: _run_set_summary(s, by_set[s], samples[s]) for s in by_set},
        "contrasts": [
            _contrast_summary(c, samples[c.a], samples[c.b])
            for c in CONTRASTS
            if c.a in samples and c.b in samples
        ],
        "per_seed": [_per_seed(s, r) for s, rs in by_set.items() for r in rs],
    }


def _samples(runs: Sequence[Run], epochs: int) -> list[dict[str, compare_stats.Sample]]:
    """Per epoch, each metric's sample over ``runs``."""
    return [
        {m: compare_stats.sample([r.epochs[e][m] for r in runs]) for m in METRICS}
        for e in range(epochs)
    ]


def _run_set_summary(run_set: RunSet, runs: Sequence[Run], samples: list[dict]) -> dict:
    return {
        "framework": run_set.framework,
        "batches": run_set.batches,
        "seeds": [r.seed for r in runs],
        "epochs": [
            {"epoch": e + 1, **{m: s.to_dict() for m, s in epoch.items()}}
            for e, epoch in enumerate(samples)
        ],
    }


def _contrast_summary(contrast: Contrast, a: list[dict], b: list[dict]) -> dict:
    return {
        "name": contrast.name,
        "a": contrast.a.key,
        "b": contrast.b.key,
        "question": contrast.question,
        "epochs": [
            {"epoch": e + 1, **{m: compare_stats.welch(ae[m], be[m]).to_dict() for m in METRICS}}
            for e, (ae, be) in enumerate(zip(a, b))
        ],
    }


def _per_seed(run_set: RunSet, run: Run) -> dict:
    return {
        "run_set": run_set.key,
        "seed": run.seed,
        "file": f"{run.path.parent.name}/{run.path.name}",
        "epochs": [{"epoch": ep["epoch"], **{m: ep[m] for m in METRICS}} for ep in run.epochs],
    }
