"""Tests of the hw4jax-vs-PyTorch training comparison (hw4jax.studies.compare_*,
scripts/compare_training.py): Welch's interval, the run files and their summary, resume,
the batch files that cross the frameworks, and the whole tool on tiny data.

The PyTorch side runs in a fake interpreter (``FAKE_TORCH_PYTHON``: the recipe's command
line, made-up figures, random batch dumps), so no test needs torchvision; the hw4jax side
runs the real worker, in-process on tfds's mock data (and once as its own process).
"""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from scipy import stats
from script_loader import load_script

from hw4jax.data import pipeline
from hw4jax.studies import (
    batch_files,
    compare_runs,
    compare_stats,
    compare_training,
    compare_worker,
)
from hw4jax.studies.compare_runs import HW4JAX_OWN, PYTORCH_ON_TFDATA, PYTORCH_OWN
from hw4jax.training import loop
from hw4jax.training.config import get_config

MOCK_EXAMPLES = 20  # per split: 5 batches of 4 an epoch, as in test_train


# ----------------------------------------------------------------------------- statistics


def test_welch_equal_spreads_is_the_pooled_t_interval_with_2n_minus_2_df():
    """With equal n and equal sds, Welch's df is 2(n - 1) and the interval is the textbook
    one: 1..8 against 0..7 gives difference 1, se sqrt(6/8 + 6/8), df 14 and
    1 +- t(0.975, 14) * se with the table value t = 2.1447866879169273."""
    a = compare_stats.sample(np.arange(1, 9))
    b = compare_stats.sample(np.arange(0, 8))
    d = compare_stats.welch(a, b)
    se = math.sqrt(1.5)
    assert (a.mean, a.n) == (4.5, 8) and a.sd**2 == pytest.approx(6.0, rel=1e-15)
    assert d.difference == 1.0 and d.se == pytest.approx(se, rel=1e-15)
    assert d.df == pytest.approx(14.0, rel=1e-12)
    half = 2.1447866879169273 * se
    assert d.ci == pytest.approx((1 - half, 1 + half), rel=1e-12)
    assert d.excludes_zero is False and d.relative == pytest.approx(1 / 3.5)


def test_welch_unequal_spreads_matches_hand_df_and_scipys_ttest():
    """[1, 2, 3] against [2, 4, 6, 8, 10]: variances 1 and 10, se^2 = 1/3 + 2 = 7/3,
    df = (7/3)^2 / ((1/3)^2 / 2 + 2^2 / 4) = 98/19 by hand; the interval equals
    scipy.stats.ttest_ind(equal_var=False)'s, and random unequal samples agree too."""
    d = compare_stats.welch(compare_stats.sample([1, 2, 3]), compare_stats.sample([2, 4, 6, 8, 10]))
    assert d.difference == -4.0 and d.se == pytest.approx(math.sqrt(7 / 3), rel=1e-15)
    assert d.df == pytest.approx(98 / 19, rel=1e-12)
    rng = np.random.default_rng(0)
    cases = [([1, 2, 3], [2, 4, 6, 8, 10])]
    cases += [(rng.normal(0, 1, 3), rng.normal(0.5, 3, 8)) for _ in range(5)]
    for x, y in cases:
        d = compare_stats.welch(compare_stats.sample(x), compare_stats.sample(y))
        ref = stats.ttest_ind(x, y, equal_var=False)
        assert d.df == pytest.approx(ref.df, rel=1e-12)
        assert d.ci == pytest.approx(tuple(ref.confidence_interval(0.95)), rel=1e-10, abs=1e-12)


def test_welch_without_spread_or_runs():
    """One run a side has no interval; identical runs give se 0 and the point interval;
    an interval above 0 excludes it."""
    one = compare_stats.welch(compare_stats.sample([1.0]), compare_stats.sample([0.0, 1.0]))
    assert one.ci is None and one.excludes_zero is None and one.df is None
    flat = compare_stats.welch(compare_stats.sample([2.0, 2.0]), compare_stats.sample([1.0] * 3))
    assert flat.se == 0 and flat.ci == (1.0, 1.0) and flat.excludes_zero is True
    with pytest.raises(ValueError, match="finite"):
        compare_stats.sample([1.0, float("nan")])


# ----------------------------------------------------------------------------- run files


def fake_record(framework, batches, seed, *, batch_size=4, epochs=2, shift=0.0, **settings):
    """A run record with made-up figures that depend on the seed."""
    rng = np.random.default_rng(seed + 100 * (framework == "pytorch"))
    return {
        "framework": framework,
        "batches": batches,
        "seed": seed,
        "batch_size": batch_size,
        "train_examples": settings.get("train_examples"),
        "test_examples": settings.get("test_examples"),
        "epochs": [
            {
                "epoch": e + 1,
                "train_loss_sum": 80000.0 - 10000 * e + shift + rng.normal(0, 500),
                "train_loss_mean": 1.6 - 0.2 * e + rng.normal(0, 0.01),
                "train_accuracy": 0.4 + 0.1 * e + rng.normal(0, 0.01),
                "train_examples": 50000,
                "test_loss": 1.3 - 0.2 * e + rng.normal(0, 0.02),
                "test_accuracy": 0.5 + 0.08 * e + rng.normal(0, 0.01),
                "seconds": 200.0,
            }
            for e in range(epochs)
        ],
    }


def write_fake_runs(root, run_set, seeds, **kwargs):
    for seed in seeds:
        record = fake_record(run_set.framework, run_set.batches, seed, **kwargs)
        compare_runs.write_run(
            compare_runs.run_path(root, record["batch_size"], run_set, seed), record
        )


def test_run_files_lie_where_their_content_says_and_read_back(tmp_path):
    """A run file's path is b{batch}/{batches}/{framework}_s{seed}.json; it reads back with
    its settings; a file in the wrong place, or missing a field, is refused by name."""
    record = fake_record("hw4jax", "tfdata", 3, batch_size=64, train_examples=512)
    path = compare_runs.write_run(tmp_path / "b64" / "tfdata" / "hw4jax_s3.json", record)
    run = compare_runs.load_run(path)
    assert run.run_set == HW4JAX_OWN and run.seed == 3
    assert run.settings == {
        "batch_size": 64,
        "epochs": 2,
        "train_examples": 512,
        "test_examples": None,
    }
    wrong = tmp_path / "b64" / "torchvision" / "hw4jax_s3.json"
    wrong.parent.mkdir()
    wrong.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="its place is b64/tfdata/hw4jax_s3.json"):
        compare_runs.load_run(wrong)
    bad = dict(record, epochs=[{k: v for k, v in record["epochs"][0].items() if k != "test_loss"}])
    with pytest.raises(ValueError, match="test_loss"):
        compare_runs.write_run(path, bad)


def test_a_recipe_json_as_written_before_is_a_run_file(tmp_path):
    """scripts/torch_recipe.py's --out JSON of the background runs (no schema, no
    train/test_examples: whole splits) is a PyTorch-on-torchvision run file as it is."""
    recipe_out = {
        "framework": "pytorch",
        "batches": "torchvision",
        "torch": "2.14.1+cu130",
        "torchvision": "0.29.1+cu130",
        "batch_size": 64,
        "seed": 0,
        "epochs": fake_record("pytorch", "torchvision", 0)["epochs"],
        "test_accuracy": 0.5946,
        "threads": 1,
    }
    path = tmp_path / "b64" / "torchvision" / "pytorch_s0.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(recipe_out))
    run = compare_runs.load_run(path)
    assert run.run_set == PYTORCH_OWN
    assert run.settings["train_examples"] is None and run.settings["test_examples"] is None


def test_summary_refuses_runs_of_different_settings(tmp_path):
    """A b{batch} folder whose runs differ in train_examples (or epochs) is not summarised:
    the error names the settings and files."""
    write_fake_runs(tmp_path, HW4JAX_OWN, [0, 1])
    write_fake_runs(tmp_path, PYTORCH_OWN, [0, 1], train_examples=512)
    with pytest.raises(ValueError, match="different settings.*train_examples.*pytorch_s0"):
        compare_runs.load_runs(tmp_path / "b4")
    write_fake_runs(tmp_path / "e", HW4JAX_OWN, [0, 1])
    write_fake_runs(tmp_path / "e", PYTORCH_OWN, [0], epochs=3)
    with pytest.raises(ValueError, match="different settings"):
        compare_training.write_report(tmp_path / "e" / "b4", log=lambda _: None)


def test_summary_holds_means_intervals_of_present_contrasts_and_every_seed(tmp_path):
    """summarize: per run set and epoch the sample of each metric over seeds; the contrasts
    whose two run sets have runs ('own', 'hw4jax-batches', 'pipeline-in-pytorch'; none with
    hw4jax on torchvision); one row per run."""
    write_fake_runs(tmp_path, HW4JAX_OWN, range(4), shift=3000.0)
    write_fake_runs(tmp_path, PYTORCH_OWN, range(3))
    write_fake_runs(tmp_path, PYTORCH_ON_TFDATA, range(2))
    runs = compare_runs.load_runs(tmp_path / "b4")
    summary = compare_runs.summarize(runs)
    assert [c["name"] for c in summary["contrasts"]] == [
        "own",
        "hw4jax-batches",
        "pipeline-in-pytorch",
    ]
    own = summary["contrasts"][0]["epochs"][1]["train_loss_sum"]
    a = [r.epochs[1]["train_loss_sum"] for r in runs if r.run_set == HW4JAX_OWN]
    b = [r.epochs[1]["train_loss_sum"] for r in runs if r.run_set == PYTORCH_OWN]
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert own["difference"] == pytest.approx(np.mean(a) - np.mean(b))
    assert own["ci"] == pytest.approx(list(ref.confidence_interval(0.95)), rel=1e-10)
    assert own["excludes_zero"] is True  # a shift of 3,000 against a spread of 500
    assert summary["run_sets"]["hw4jax@tfdata"]["seeds"] == [0, 1, 2, 3]
    assert len(summary["per_seed"]) == 9


# ----------------------------------------------------------------------------- batch files


def synthetic_split(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return tf.data.Dataset.from_tensor_slices(
        {
            "image": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
            "label": rng.integers(0, 10, n).astype(np.int64),
        }
    )


@pytest.mark.parametrize("augment", [True, False])
def test_uint8_batches_of_the_pipeline_normalize_to_its_float_batches_bit_for_bit(augment):
    """train_dataset(normalize=False) yields uint8 batches whose ToTensor + Normalize
    (batch_files.normalized, and tf_ops.to_float_normalized) equal the float32 batches of
    train_dataset, bit for bit, label for label, over two epochs and from a skip."""
    from hw4jax import augment as aug
    from hw4jax.augment import tf_ops

    split = synthetic_split()
    kwargs = dict(batch_size=8, seed=5, epoch=0, num_epochs=2, skip_batches=1)
    kwargs["augment"] = aug.AugmentConfig() if augment else None
    floats = list(tfds.as_numpy(pipeline.train_dataset(split, **kwargs)))
    raw = list(tfds.as_numpy(pipeline.train_dataset(split, normalize=False, **kwargs)))
    assert len(raw) == len(floats) == 2 * 5 - 1
    for r, f in zip(raw, floats):
        assert r["image"].dtype == np.uint8
        ours = batch_files.normalized(r["image"])
        np.testing.assert_array_equal(ours.view(np.uint32), f["image"].view(np.uint32))
        np.testing.assert_array_equal(tf_ops.to_float_normalized(r["image"]).numpy(), f["image"])
        np.testing.assert_array_equal(r["label"], f["label"])


def test_normalized_is_torchs_to_tensor_and_normalize_bit_for_bit():
    """batch_files.normalized equals torch's x.float().div(255).sub(0.5).div(0.5) (what
    ToTensor + Normalize(0.5, 0.5) and the recipe's --batches compute) on every uint8."""
    torch = pytest.importorskip("torch")
    images = np.arange(256, dtype=np.uint8).repeat(12).reshape(1, 32, 32, 3)
    ours = batch_files.normalized(images)
    theirs = torch.from_numpy(images).float().div(255).sub(0.5).div(0.5).numpy()
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours.view(np.uint32), theirs.view(np.uint32))


def test_dump_writes_exactly_the_batches_hw4jax_trains_on(tmp_path):
    """dump_tfdata_batches's uint8 files, normalized, are the batches cifar10_input feeds the
    training loop for the same config (order, pixels, labels), epoch by epoch."""
    from hw4jax.training.inputs import cifar10_input

    config = get_config(epochs=2, batch_size=4, seed=3, progress=False)
    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
        paths = batch_files.dump_tfdata_batches(config, tmp_path)
        data = cifar10_input(config)
        for epoch in range(2):
            images, labels = batch_files.read_epoch(tmp_path, epoch + 1)
            batches = list(data.train_batches(epoch, 0))
            np.testing.assert_array_equal(
                batch_files.normalized(images), np.concatenate([b["image"] for b in batches])
            )
            np.testing.assert_array_equal(labels, np.concatenate([b["label"] for b in batches]))
    assert [p.name for p in paths] == ["epoch1.npz", "epoch2.npz"]


def write_random_epochs(directory, n=22, epochs=2, seed=0):
    rng = np.random.default_rng(seed)
    files = []
    for e in range(1, epochs + 1):
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, n)
        batch_files.write_epoch(directory, e, images, labels)
        files.append((images, labels))
    return files


def test_hw4jax_on_batch_files_trains_on_exactly_the_files_batches(tmp_path):
    """train_and_evaluate with batch_file_input takes each epoch's file in order, in
    consecutive batches (the last partial one dropped: 22 images make 5 of 4), normalized
    as torch does; train_batches(epoch, skip) is the same epoch from batch skip (resume)."""
    files = write_random_epochs(tmp_path / "batches")
    config = get_config(epochs=2, batch_size=4, eval_batch_size=8, progress=False)
    seen = []
    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
        data = batch_files.batch_file_input(config, tmp_path / "batches")
        results = loop.train_and_evaluate(
            config,
            tmp_path / "work",
            input_fn=lambda c: batch_files.batch_file_input(c, tmp_path / "batches"),
            on_step=lambda event: seen.append((event.epoch, event.batch)),
        )
    assert data.steps_per_epoch == 5 and data.train_examples == 22
    assert [e for e, _ in seen] == [0] * 5 + [1] * 5
    for epoch, (images, labels) in enumerate(files):
        got = [b for e, b in seen if e == epoch]
        expected = (images[:20].astype(np.float32) / np.float32(255) - np.float32(0.5)) / 0.5
        np.testing.assert_array_equal(np.concatenate([b["image"] for b in got]), expected)
        np.testing.assert_array_equal(np.concatenate([b["label"] for b in got]), labels[:20])
        whole = list(data.train_batches(epoch, 0))
        for skip in (1, 4, 5):
            tail = list(data.train_batches(epoch, skip))
            assert len(tail) == 5 - skip
            for x, y in zip(tail, whole[skip:]):
                np.testing.assert_array_equal(x["image"], y["image"])
    assert len(results["epochs"]) == 2


def test_batch_file_input_refuses_missing_or_uneven_files(tmp_path):
    """A missing epoch file or epochs of different sizes are ValueErrors naming the fix."""
    write_random_epochs(tmp_path / "one", epochs=1)
    config = get_config(epochs=2, batch_size=4, progress=False)
    with pytest.raises(ValueError, match="epoch2.npz"):
        batch_files.batch_file_input(config, tmp_path / "one")
    write_random_epochs(tmp_path / "uneven", epochs=1, n=22)
    write_random_epochs(tmp_path / "u2", epochs=2, n=12)
    os.replace(tmp_path / "u2" / "epoch2.npz", tmp_path / "uneven" / "epoch2.npz")
    with pytest.raises(ValueError, match="differ in size"):
        batch_files.batch_file_input(config, tmp_path / "uneven")


# ----------------------------------------------------------------------------- the tool

FAKE_TORCH_PYTHON = '''#!{python}
"""Stands in for the torchvision venv's python: the import probe passes, and the
recipe's command line writes made-up figures (or random batch dumps). Logs its argv."""
import argparse, json, sys
from pathlib import Path
import numpy as np

with open({log!r}, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1] == "-c":
    sys.exit({probe_status})
p = argparse.ArgumentParser()
for flag in ("--archive", "--out", "--batches", "--dump-batches"):
    p.add_argument(flag)
for flag in ("--batch-size", "--epochs", "--seed", "--threads", "--train-examples",
             "--test-examples"):
    p.add_argument(flag, type=int)
args = p.parse_args(sys.argv[2:])
rng = np.random.default_rng(args.seed)
n = args.train_examples or {mock_examples}
if args.seed in {fail_seeds}:
    sys.exit("fake recipe: failing as told")
if args.dump_batches:
    Path(args.dump_batches).mkdir(parents=True)
    for e in range(1, args.epochs + 1):
        np.savez(Path(args.dump_batches) / f"epoch{{e}}.npz",
                 image=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
                 label=rng.integers(0, 10, n).astype(np.int32))
    sys.exit(0)
if args.batches:
    n = len(np.load(Path(args.batches) / "epoch1.npz")["label"])
    n -= n % args.batch_size
epochs = [dict(epoch=e, train_loss_sum=2.0 * n * (1 + rng.random()), train_loss_mean=2.0,
               train_accuracy=rng.random(), train_examples=n, test_loss=rng.random(),
               test_accuracy=rng.random(), seconds=1.0) for e in range(1, args.epochs + 1)]
Path(args.out).write_text(json.dumps(dict(
    framework="pytorch", batches="torchvision" if args.batches is None else "file",
    torch="fake", torchvision="fake", batch_size=args.batch_size, seed=args.seed,
    train_examples=args.train_examples, test_examples=args.test_examples, epochs=epochs,
    test_accuracy=epochs[-1]["test_accuracy"], test_loss=epochs[-1]["test_loss"],
    threads=args.threads)))
'''


@pytest.fixture
def fake_torch(tmp_path):
    """fake_torch(probe_status=0, fail_seeds=()) -> (path of a fake --torch-python, log)."""

    def make(probe_status=0, fail_seeds=()):
        log = tmp_path / "fake_torch.log"
        path = tmp_path / f"fake_python_{probe_status}_{len(fail_seeds)}"
        path.write_text(
            FAKE_TORCH_PYTHON.format(
                python=sys.executable,
                log=str(log),
                probe_status=probe_status,
                fail_seeds=set(fail_seeds) or "()",
                mock_examples=MOCK_EXAMPLES,
            )
        )
        path.chmod(0o755)
        return str(path), log

    return make


def in_process_runner(calls):
    """A Runner: the hw4jax worker in this process on tfds's mock data (the archive, which
    only the fake recipe is given, left out of its config), anything else (the fake recipe)
    as a real subprocess; records each argv."""

    def runner(argv, env, prefix):
        calls.append(list(argv))
        if argv[1:3] == ["-m", "hw4jax.studies.compare_worker"]:
            args = list(argv[3:])
            i = args.index("--config") + 1
            args[i] = json.dumps({**json.loads(args[i]), "archive": None})
            with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
                if compare_worker.main(args) != 0:
                    raise compare_training.RunFailedError(f"{prefix} worker failed")
        else:
            compare_training.run_process(argv, env, prefix)

    return runner


def tiny_plan(tmp_path, torch_python, **overrides):
    archive = tmp_path / "archive.tar.gz"
    archive.touch()  # the fake recipe never reads it
    kwargs = dict(
        batch_size=4,
        seeds=(0, 1),
        epochs=1,
        results_dir=tmp_path / "results",
        archive=str(archive),
        torch_python=torch_python,
        threads=1,
        cache_dir=str(tmp_path),
    )
    return compare_training.Plan(**{**kwargs, **overrides})


def test_the_whole_tool_on_tiny_data_all_three_arms(tmp_path, fake_torch):
    """--arm own, hw4jax-batches, torchvision-batches on 2 seeds of 1 epoch (tfds's mock
    data: 20 images a split): every run file lands in its place with the plan's settings;
    PyTorch on tf.data reads hw4jax's dump of its seed and hw4jax on torchvision trains on
    the recipe's dump; the dumps and workdirs are
    deleted; summary.json, summary.md and comparison.png hold all five contrasts, and
    --report-only rebuilds the same summary from the files."""
    torch_python, log = fake_torch()
    calls = []
    runner = in_process_runner(calls)
    lines = []
    for arm in ("own", "hw4jax-batches", "torchvision-batches"):
        summary = compare_training.run_comparison(
            tiny_plan(tmp_path, torch_python, arm=arm), runner=runner, log=lines.append
        )
    b4 = tmp_path / "results" / "b4"
    names = sorted(str(p.relative_to(b4)) for p in b4.rglob("*_s*.json"))
    assert names == [
        f"{b}/{f}_s{s}.json"
        for b, f in [
            ("tfdata", "hw4jax"),
            ("tfdata", "pytorch"),
            ("torchvision", "hw4jax"),
            ("torchvision", "pytorch"),
        ]
        for s in (0, 1)
    ]
    for path in b4.rglob("*_s*.json"):
        run = compare_runs.load_run(path)
        assert run.settings == {
            "batch_size": 4,
            "epochs": 1,
            "train_examples": None,
            "test_examples": None,
        }
    # 20 images in batches of 4 on hw4jax's side: 5 steps an epoch, all of them dumped.
    on_tfdata = json.loads((b4 / "tfdata" / "pytorch_s1.json").read_text())
    assert on_tfdata["epochs"][0]["train_examples"] == 20
    recipe_argvs = [json.loads(x) for x in log.read_text().splitlines() if "-c" not in x]
    batches_calls = [a for a in recipe_argvs if "--batches" in a]
    dump_calls = [a for a in recipe_argvs if "--dump-batches" in a]
    assert len(batches_calls) == len(dump_calls) == 2
    assert all(a[a.index("--threads") + 1] == "1" for a in recipe_argvs)
    worker_dumps = [c for c in calls if "dump" in c]
    assert [json.loads(c[c.index("--config") + 1])["seed"] for c in worker_dumps] == [0, 1]
    assert not [p for p in tmp_path.glob("compare_training_*")]  # scratch deleted
    assert [c["name"] for c in summary["contrasts"]] == [c.name for c in compare_runs.CONTRASTS]
    for name in ("summary.json", "summary.md", "comparison.png"):
        assert (b4 / name).stat().st_size > 0
    assert json.loads((b4 / "summary.json").read_text()) == json.loads(json.dumps(summary))
    rebuilt = compare_training.report_all(tmp_path / "results", log=lambda _: None)
    assert json.loads(json.dumps(rebuilt[4])) == json.loads(json.dumps(summary))
    assert any("| 1 | test accuracy |" in line for line in lines)


def test_done_runs_are_refused_without_resume_and_skipped_with_it(tmp_path, fake_torch):
    """A run that fails stops the tool and leaves the runs before it; without --resume the
    done runs are an error naming --resume (nothing runs, nothing is overwritten); with it
    only the missing runs run."""
    torch_python, _ = fake_torch(fail_seeds=(1,))
    plan = tiny_plan(tmp_path, torch_python, frameworks=("pytorch",), seeds=(0, 1, 2))
    calls = []
    with pytest.raises(compare_training.RunFailedError, match="s1"):
        compare_training.run_comparison(plan, runner=in_process_runner(calls), log=print)
    done = compare_runs.run_path(tmp_path / "results", 4, PYTORCH_OWN, 0)
    before = done.read_text()
    assert not compare_runs.run_path(tmp_path / "results", 4, PYTORCH_OWN, 1).exists()

    torch_python, _ = fake_torch()
    plan = tiny_plan(tmp_path, torch_python, frameworks=("pytorch",), seeds=(0, 1, 2))
    calls.clear()
    with pytest.raises(ValueError, match="1 of these runs are done.*--resume"):
        compare_training.run_comparison(plan, runner=in_process_runner(calls), log=print)
    assert calls == []
    plan = tiny_plan(tmp_path, torch_python, frameworks=("pytorch",), seeds=(0, 1, 2), resume=True)
    compare_training.run_comparison(plan, runner=in_process_runner(calls), log=print)
    assert [c[c.index("--seed") + 1] for c in calls] == ["1", "2"]
    assert done.read_text() == before


def test_a_plan_with_other_settings_than_the_folders_runs_is_refused(tmp_path, fake_torch):
    """Runs of another --train-examples already in the results folder stop the tool before
    anything runs: one setting per results folder."""
    torch_python, _ = fake_torch()
    write_fake_runs(tmp_path / "results", HW4JAX_OWN, [0], train_examples=512)
    calls = []
    with pytest.raises(ValueError, match="one setting per results folder"):
        compare_training.run_comparison(
            tiny_plan(tmp_path, torch_python), runner=in_process_runner(calls), log=print
        )
    assert calls == []


def test_torch_python_must_import_torchvision(tmp_path, fake_torch):
    """--torch-python is checked before any run: missing, or an interpreter without
    torchvision (this venv has none), or one whose probe fails, is a ValueError saying
    which venv to pass."""
    with pytest.raises(ValueError, match="no such executable"):
        compare_training.check_torch_python(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="pass --torch-python"):
        compare_training.check_torch_python(None)
    failing, _ = fake_torch(probe_status=1)
    with pytest.raises(ValueError, match="cannot import torch and torchvision"):
        compare_training.check_torch_python(failing)
    if subprocess.run([sys.executable, "-c", "import torchvision"]).returncode != 0:
        with pytest.raises(ValueError, match="torchvision"):
            compare_training.check_torch_python(sys.executable)


def test_hw4jax_worker_runs_as_its_own_process(tmp_path):
    """The default runner starts the hw4jax worker as a subprocess of this interpreter (the
    checkout on PYTHONPATH): one seed on a tfds dataset prepared from a tiny archive writes
    a valid run file with its settings, the versions and no local paths."""
    from test_cifar10 import _write_tiny

    from hw4jax.data import cifar10

    _write_tiny(tmp_path / "cifar-10-binary.tar.gz")
    cifar10.prepare_offline(
        tmp_path / "cifar-10-binary.tar.gz", tmp_path / "tfds", records_per_file=None
    )
    plan = compare_training.Plan(
        batch_size=4,
        seeds=(2,),
        epochs=1,
        frameworks=("hw4jax",),
        train_examples=10,
        results_dir=tmp_path / "results",
        data_dir=str(tmp_path / "tfds"),
        cache_dir=str(tmp_path),
    )
    summary = compare_training.run_comparison(plan, log=print)
    record = json.loads(compare_runs.run_path(tmp_path / "results", 4, HW4JAX_OWN, 2).read_text())
    assert record["versions"]["jax"] and "data_dir" not in record["config"]
    assert record["train_examples"] == 10 and record["test_examples"] is None
    assert record["epochs"][0]["train_examples"] == 8  # the first 10 images: 2 batches of 4
    assert summary["contrasts"] == []


# ----------------------------------------------------------------------------- the script


@pytest.fixture(scope="module")
def script():
    return load_script("compare_training.py")


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--seeds", "2"], "--batch-size and --seeds are required"),
        (["--batch-size", "4", "--seeds", "x"], "give a count N"),
        (["--batch-size", "4", "--seeds", "2", "--arm", "both"], "invalid choice"),
        (["--batch-size", "0", "--seeds", "2"], "batch_size must be an integer >= 1"),
        (["--batch-size", "64", "--seeds", "2", "--train-examples", "8"], "smaller than one"),
        (["--batch-size", "4", "--seeds", "2", "--torch-python", "/no/python"], "no such"),
        (["--report-only"], "no run folders"),
    ],
)
def test_script_bad_input_is_one_error_line_and_exit_2(script, capsys, tmp_path, argv, words):
    """Bad flags or values: exit 2 and one line 'error: ...' that says what is wrong."""
    argv = argv + ["--results-dir", str(tmp_path / "r"), "--archive", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(script.main(argv))
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]


def test_script_report_only_summarises_the_files(script, capsys, tmp_path):
    """--report-only writes summary.json, summary.md and comparison.png of each b*/ folder
    from the run files alone, and overview.md over both batch sizes, whose rows carry each
    side's mean, range over seeds and the summary's Welch interval; prints the tables."""
    write_fake_runs(tmp_path, HW4JAX_OWN, range(3))
    write_fake_runs(tmp_path, PYTORCH_OWN, range(3))
    write_fake_runs(tmp_path, HW4JAX_OWN, range(2), batch_size=64)
    write_fake_runs(tmp_path, PYTORCH_OWN, range(4), batch_size=64)
    assert script.main(["--report-only", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "## own: hw4jax@tfdata - pytorch@torchvision" in out
    for batch in ("b4", "b64"):
        assert {p.name for p in (tmp_path / batch).iterdir()} >= {
            "summary.json",
            "summary.md",
            "comparison.png",
        }
    overview = (tmp_path / "overview.md").read_text()
    assert overview in out
    summary = json.loads((tmp_path / "b64" / "summary.json").read_text())
    d = summary["contrasts"][0]["epochs"][1]["test_accuracy"]
    values = summary["run_sets"]["pytorch@torchvision"]["epochs"][1]["test_accuracy"]["values"]
    row = next(r for r in overview.splitlines() if r.startswith("| 64 | 2 | test accuracy |"))
    assert f"[{100 * min(values):.2f}%, {100 * max(values):.2f}%] (n=4)" in row
    assert f"[{100 * d['ci'][0]:+.2f} pp, {100 * d['ci'][1]:+.2f} pp]" in row
    assert sum(r.startswith("| 4 | ") for r in overview.splitlines()) == 2 * 5


def test_parse_seeds_reads_a_count_a_range_or_a_list():
    """'3' is seeds 0-2, '4-6' is 4, 5, 6, '0,5' is 0 and 5."""
    assert compare_training.parse_seeds("3") == (0, 1, 2)
    assert compare_training.parse_seeds("4-6") == (4, 5, 6)
    assert compare_training.parse_seeds("0,5") == (0, 5)


def test_the_committed_overview_is_what_the_committed_run_files_make(tmp_path):
    """results/compare_training/overview.md (the README's tables) is exactly what
    --report-only makes from the committed run files: a run added or changed without
    rerunning the report fails here."""
    committed = Path(__file__).resolve().parents[1] / "results" / "compare_training"
    for path in committed.glob("b*/*/*_s*.json"):
        target = tmp_path / path.relative_to(committed)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    compare_training.report_all(tmp_path, log=lambda _: None)
    made = (tmp_path / compare_training.OVERVIEW_FILE).read_text()
    assert made == (committed / compare_training.OVERVIEW_FILE).read_text()
