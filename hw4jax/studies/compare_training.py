"""Does hw4jax train like PyTorch? Seeds of both frameworks, and Welch intervals of the gap.

``run_comparison`` trains N seeds of hw4jax (``train_and_evaluate``) and N seeds of the
homework's PyTorch recipe (``scripts/torch_recipe.py``) at one batch size, with the same
epochs and augmentation, one run file per seed (``compare_runs``' layout), then
``write_report`` summarises every run of that batch size: per epoch and metric the means,
sds and the Welch 95% interval of each contrast (``compare_stats``), a Markdown table and
a figure (``compare_report``).

Arms (``--arm``): 'own' runs each framework on its own input pipeline (the question);
'hw4jax-batches' runs PyTorch on hw4jax's tf.data batches (dumped as uint8 per seed) and
'torchvision-batches' hw4jax on torchvision's (dumped by the recipe): compared with the
'own' runs, a difference is pinned on the framework or on the pipeline. By default an
arm runs only what it adds: 'own' both frameworks, 'hw4jax-batches' PyTorch,
'torchvision-batches' hw4jax (``frameworks`` to choose).

Each run is a subprocess: hw4jax ``python -m hw4jax.studies.compare_worker`` in this
interpreter (fresh JAX/TF caches and memory per seed; a crash loses one seed), PyTorch the
recipe in ``torch_python`` (the torchvision venv: hw4jax's own environment needs no
torchvision). Seeds run in turn, both frameworks per seed, so a change in the machine's
load falls on both. A run file is written (atomically) only when its run finished; an
existing one is an error unless ``resume``, which skips it. Workdirs and batch dumps go to
a temporary folder and are deleted after each run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import hw4jax
from hw4jax.studies import compare_report, compare_runs
from hw4jax.studies.compare_runs import HW4JAX_ON_TORCHVISION, RunSet

REPO = Path(hw4jax.__file__).resolve().parents[1]
TORCH_RECIPE = REPO / "scripts" / "torch_recipe.py"
RESULTS_DIR = Path("results/compare_training")
SUMMARY_FILE, TABLE_FILE, PLOT_FILE = "summary.json", "summary.md", "comparison.png"
OVERVIEW_FILE = "overview.md"  # every batch size, in the results folder itself
# What each arm runs unless told otherwise: what it adds to the 'own' runs.
ARM_DEFAULT_FRAMEWORKS = {
    "own": ("hw4jax", "pytorch"),
    "hw4jax-batches": ("pytorch",),
    "torchvision-batches": ("hw4jax",),
}


class RunFailedError(RuntimeError):
    """A run's process failed; the runs finished before it are on disk."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plan:
    """One invocation: which runs, with which settings, where.

    ``archive`` is the CIFAR-10 binary archive the recipe reads (and hw4jax prepares tfds
    from, offline, where ``data_dir`` has none); ``train_examples``/``test_examples`` take
    the first N of a split (smoke runs; None: all). Each side takes its own first N: the
    recipe the archive's (the shared archive's test file is sorted by class: its first
    1,000 are airplanes), hw4jax tfds's stored order, so below the whole split the two sides train
    and test on different images and only the tool's plumbing is compared, never the
    figures. ``threads`` goes to the recipe.
    """

    batch_size: int
    seeds: tuple[int, ...]
    epochs: int = 2
    arm: str = "own"
    frameworks: tuple[str, ...] | None = None
    train_examples: int | None = None
    test_examples: int | None = None
    results_dir: Path = RESULTS_DIR
    data_dir: str | None = None
    archive: str | None = None
    torch_python: str | None = None
    threads: int | None = None
    cache_dir: str | None = None
    resume: bool = False

    def __post_init__(self) -> None:
        for name in ("batch_size", "epochs"):
            _check_count(name, getattr(self, name))
        for name in ("train_examples", "test_examples", "threads"):
            if getattr(self, name) is not None:
                _check_count(name, getattr(self, name))
        if not self.seeds or any(isinstance(s, bool) or s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be integers >= 0, got {list(self.seeds)}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds repeat: {list(self.seeds)}")
        if self.arm not in compare_runs.ARMS:
            raise ValueError(f"unknown arm {self.arm!r}: use one of {', '.join(compare_runs.ARMS)}")
        unknown = set(self.frameworks or ()) - set(compare_runs.FRAMEWORKS)
        if unknown or self.frameworks == ():
            raise ValueError(
                f"frameworks must be among {compare_runs.FRAMEWORKS}, got {self.frameworks}"
            )
        if self.train_examples is not None and self.train_examples < self.batch_size:
            raise ValueError(
                f"train_examples ({self.train_examples}) is smaller than one batch "
                f"({self.batch_size}): raise --train-examples or lower --batch-size"
            )

    @property
    def run_sets(self) -> tuple[RunSet, ...]:
        """The arm's run sets of the chosen frameworks, hw4jax's first."""
        arm = compare_runs.ARMS[self.arm]
        frameworks = self.frameworks or ARM_DEFAULT_FRAMEWORKS[self.arm]
        return tuple(s for s in (arm.a, arm.b) if s.framework in frameworks)

    @property
    def settings(self) -> dict:
        """The run files' ``compare_runs.SETTINGS``."""
        return {
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "train_examples": self.train_examples,
            "test_examples": self.test_examples,
        }

    def path(self, run_set: RunSet, seed: int) -> Path:
        return compare_runs.run_path(self.results_dir, self.batch_size, run_set, seed)


def _check_count(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        flag = "--" + name.replace("_", "-")
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}: pass e.g. {flag} 4")


# ----------------------------------------------------------------------------- processes

# Runs one command: (argv, environment, a prefix for its output lines) -> None, raising
# RunFailedError when it fails. Tests swap in one that runs the hw4jax worker in-process.
Runner = Callable[[Sequence[str], dict, str], None]


def run_process(argv: Sequence[str], env: dict, prefix: str) -> None:
    """Runs ``argv``, echoing its output line by line under ``prefix``.

    Raises:
      RunFailedError: it exited non-zero (the message holds the command).
    """
    with subprocess.Popen(
        list(argv),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as proc:
        for line in proc.stdout:
            print(f"{prefix} {line}", end="", flush=True)
    if proc.returncode != 0:
        raise RunFailedError(
            f"{prefix} failed (exit {proc.returncode}; its output is above): "
            + " ".join(map(str, argv))
        )


def _env() -> dict:
    """This environment, with the checkout that holds this hw4jax first on PYTHONPATH (the
    recipe imports ``hw4jax.data.cifar10_archive`` and ``hw4jax.pytorch.reference``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def check_torch_python(torch_python: str | None) -> str:
    """The interpreter that runs the recipe, checked to import torch and torchvision.

    Raises:
      ValueError: none given, not executable, or it cannot import them.
    """
    fix = (
        "pass --torch-python PATH, the python of a venv with torch and torchvision "
        "(pip install torch==2.14.1 torchvision==0.29.1)"
    )
    if torch_python is None:
        raise ValueError(f"the PyTorch runs need an interpreter with torchvision: {fix}")
    path = shutil.which(torch_python) or torch_python
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise ValueError(f"--torch-python {torch_python}: no such executable: {fix}")
    probe = subprocess.run(
        [path, "-c", "import torch, torchvision"],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        raise ValueError(
            f"--torch-python {torch_python} cannot import torch and torchvision ({last}): {fix}"
        )
    return path


# ----------------------------------------------------------------------------- runs


@dataclasses.dataclass(frozen=True)
class _Context:
    plan: Plan
    torch_python: str | None
    archive: str
    scratch: Path
    runner: Runner
    env: dict


def _hw4jax_config(plan: Plan, seed: int) -> dict:
    return {
        "batch_size": plan.batch_size,
        "epochs": plan.epochs,
        "seed": seed,
        "train_examples": plan.train_examples,
        "test_examples": plan.test_examples,
        "data_dir": plan.data_dir,
        "archive": plan.archive,
        "progress": False,
    }


def _worker(*args: str) -> list[str]:
    return [sys.executable, "-m", "hw4jax.studies.compare_worker", *args]


def _recipe(ctx: _Context, seed: int, *args: str) -> list[str]:
    plan = ctx.plan
    argv = [ctx.torch_python, str(TORCH_RECIPE), "--archive", ctx.archive]
    argv += ["--batch-size", str(plan.batch_size), "--epochs", str(plan.epochs)]
    argv += ["--seed", str(seed)]
    for flag, value in (
        ("--threads", plan.threads),
        ("--train-examples", plan.train_examples),
        ("--test-examples", plan.test_examples),
    ):
        if value is not None:
            argv += [flag, str(value)]
    return argv + list(args)


def _train_hw4jax(ctx: _Context, run_set: RunSet, seed: int, scratch: Path, prefix: str) -> None:
    config = json.dumps(_hw4jax_config(ctx.plan, seed))
    out = str(ctx.plan.path(run_set, seed))
    args = ["train", "--config", config, "--workdir", str(scratch / "workdir"), "--out", out]
    if run_set.batches == "torchvision":
        batches = scratch / "batches"
        ctx.runner(_recipe(ctx, seed, "--dump-batches", str(batches)), ctx.env, prefix)
        args += ["--batches", "torchvision", "--batch-dir", str(batches)]
    ctx.runner(_worker(*args), ctx.env, prefix)


def _train_pytorch(ctx: _Context, run_set: RunSet, seed: int, scratch: Path, prefix: str) -> None:
    out = scratch / "recipe.json"
    extra = ["--out", str(out)]
    if run_set.batches == "tfdata":
        batches = scratch / "batches"
        config = json.dumps(_hw4jax_config(ctx.plan, seed))
        ctx.runner(_worker("dump", "--config", config, "--out", str(batches)), ctx.env, prefix)
        extra += ["--batches", str(batches)]
    ctx.runner(_recipe(ctx, seed, *extra), ctx.env, prefix)
    record = json.loads(out.read_text())
    # The recipe says 'file' for batches it read from files: name whose they were.
    record.update(schema=compare_runs.SCHEMA, batches=run_set.batches)
    record.setdefault("train_examples", ctx.plan.train_examples)
    record.setdefault("test_examples", ctx.plan.test_examples)
    compare_runs.write_run(ctx.plan.path(run_set, seed), record)


def _run_one(ctx: _Context, run_set: RunSet, seed: int) -> None:
    """One seed of one run set, in a scratch folder deleted afterwards."""
    prefix = f"[b{ctx.plan.batch_size} {run_set.key} s{seed}]"
    scratch = Path(tempfile.mkdtemp(prefix=f"{run_set.framework}_s{seed}_", dir=ctx.scratch))
    try:
        train = _train_hw4jax if run_set.framework == "hw4jax" else _train_pytorch
        train(ctx, run_set, seed, scratch, prefix)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    run = compare_runs.load_run(ctx.plan.path(run_set, seed))
    if run.settings != ctx.plan.settings:
        raise RunFailedError(
            f"{run.path} was written with settings {run.settings}, not the plan's "
            f"{ctx.plan.settings}: a bug in the tool or the recipe; delete the file"
        )
    print(f"{prefix} wrote {run.path}", flush=True)


def _todo(plan: Plan) -> list[tuple[RunSet, int]]:
    """The runs still to do; checks the results folder's settings against the plan first.

    Raises:
      ValueError: runs of other settings in the folder; or done runs without ``resume``.
    """
    folder = compare_runs.batch_dir(plan.results_dir, plan.batch_size)
    existing = compare_runs.load_runs(folder) if folder.is_dir() else []
    settings = compare_runs.check_same_settings(existing, folder)
    if settings is not None and settings != plan.settings:
        raise ValueError(
            f"{folder} holds runs with settings {settings}, not {plan.settings}: one setting "
            "per results folder; pass another --results-dir"
        )
    jobs = [(s, seed) for seed in plan.seeds for s in plan.run_sets]
    done = [(s, seed) for s, seed in jobs if plan.path(s, seed).exists()]
    if done and not plan.resume:
        shown = ", ".join(str(plan.path(s, seed)) for s, seed in done[:3])
        more = " ..." if len(done) > 3 else ""
        raise ValueError(
            f"{len(done)} of these runs are done already ({shown}{more}): pass --resume to "
            "skip them, or delete them to run them again"
        )
    return [job for job in jobs if job not in done]


def run_comparison(
    plan: Plan, *, runner: Runner = run_process, log: Callable[[str], None] = print
) -> dict | None:
    """Runs the plan's missing runs, then ``write_report`` for its batch size.

    Returns:
      The summary (None when no run of that batch size exists yet).

    Raises:
      ValueError: bad plan, settings that differ from the folder's, done runs without
        ``resume``, a missing archive or a --torch-python that cannot import torchvision.
      RunFailedError: a run failed (the runs before it are kept: rerun with ``resume``).
    """
    todo = _todo(plan)
    needs_torch = any(s.framework == "pytorch" or s == HW4JAX_ON_TORCHVISION for s, _ in todo)
    archive = plan.archive
    if archive is None:
        from hw4jax.data.cifar10_archive import default_archive_path

        archive = str(default_archive_path())
    if needs_torch and not Path(archive).exists():
        raise ValueError(f"no CIFAR-10 archive at {archive}: pass --archive PATH")
    torch_python = check_torch_python(plan.torch_python) if needs_torch else None
    skipped = len(plan.seeds) * len(plan.run_sets) - len(todo)
    log(
        f"{len(todo)} run(s) to do at batch {plan.batch_size}"
        + (f", {skipped} done already (skipped)" if skipped else "")
        + f": {', '.join(s.key for s in plan.run_sets)}, seeds {list(plan.seeds)}"
    )
    scratch = Path(tempfile.mkdtemp(prefix="compare_training_", dir=plan.cache_dir))
    try:
        ctx = _Context(plan, torch_python, archive, scratch, runner, _env())
        for run_set, seed in todo:
            _run_one(ctx, run_set, seed)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    folder = compare_runs.batch_dir(plan.results_dir, plan.batch_size)
    return write_report(folder, log=log) if compare_runs.load_runs(folder) else None


# ----------------------------------------------------------------------------- report


def write_report(folder: str | Path, *, log: Callable[[str], None] = print) -> dict:
    """Summarises every run of one ``b{batch}`` folder into ``summary.json``,
    ``summary.md`` and ``comparison.png`` there, and logs the Markdown.

    Raises:
      ValueError: no runs, bad run files, or runs of different settings.
    """
    folder = Path(folder)
    summary = compare_runs.summarize(compare_runs.load_runs(folder))
    table = compare_report.format_summary(summary)
    (folder / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    (folder / TABLE_FILE).write_text(table)
    compare_report.plot_summary(summary, folder / PLOT_FILE)
    log(table)
    log(f"wrote {folder / SUMMARY_FILE}, {folder / TABLE_FILE}, {folder / PLOT_FILE}")
    return summary


def report_all(
    results_dir: str | Path = RESULTS_DIR,
    batch_size: int | None = None,
    *,
    log: Callable[[str], None] = print,
) -> dict[int, dict]:
    """``write_report`` for every ``b{batch}`` folder (or the one of ``batch_size``); over
    every folder, also ``overview.md`` in ``results_dir`` (``compare_report.format_overview``:
    the README's tables), logged last.

    Raises:
      ValueError: no such folder, or a folder's runs cannot be summarised.
    """
    folders = compare_runs.batch_dirs(results_dir)
    if batch_size is not None:
        folders = [(b, f) for b, f in folders if b == batch_size]
    if not folders:
        which = "" if batch_size is None else f"b{batch_size}/ "
        raise ValueError(f"no {which}run folders under {results_dir}: run the comparison first")
    summaries = {b: write_report(f, log=log) for b, f in folders}
    if batch_size is None:
        overview = compare_report.format_overview(summaries)
        (Path(results_dir) / OVERVIEW_FILE).write_text(overview)
        log(overview)
        log(f"wrote {Path(results_dir) / OVERVIEW_FILE}")
    return summaries


def parse_seeds(text: str) -> tuple[int, ...]:
    """'8' -> 0..7; '3-5' -> 3, 4, 5; '0,2,7' -> those.

    Raises:
      ValueError: anything else.
    """
    try:
        if "," in text:
            seeds = tuple(int(t) for t in text.split(","))
        elif "-" in text.strip("-"):
            lo, hi = (int(t) for t in text.split("-"))
            seeds = tuple(range(lo, hi + 1))
        else:
            seeds = tuple(range(int(text)))
    except ValueError:
        seeds = ()
    if not seeds or min(seeds) < 0:
        raise ValueError(
            f"seeds {text!r}: give a count N (seeds 0..N-1), a range A-B or a list A,B,C"
        )
    return seeds
