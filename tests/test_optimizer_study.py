"""hw4jax.studies.optimizer_study and scripts/compare_optimizers.py: Question 1 as an experiment."""

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np
import optax
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from script_loader import load_script as load_script_file

from hw4jax import backprop
from hw4jax.cnn.model import CNN
from hw4jax.studies import optimizer_study as study_lib
from hw4jax.studies.optimizer_study import OptimizerSpec, StudyConfig, StudyMismatchError
from hw4jax.training.inputs import dataset_input
from hw4jax.training.state import create_train_state

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "compare_optimizers.py"
# Tiny runs: 12 mock examples a split (tfds's mock data ignores split slices, so all of
# them), batch 4, eval batch 8.
MOCK_EXAMPLES = 12
TINY = dict(batch_size=4, eval_batch_size=8, epochs=2, train_examples=None, test_examples=None)
CONTESTANTS = (
    OptimizerSpec("adam", 1e-3),
    OptimizerSpec("sgd", 1e-2),
    OptimizerSpec("sgd", 1e9),
)  # the last one diverges


def load_script():
    return load_script_file(SCRIPT.name)


def in_memory(n: int, seed: int) -> tf.data.Dataset:
    rng = np.random.default_rng(seed)
    return tf.data.Dataset.from_tensor_slices(
        {
            "image": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
            "label": rng.integers(0, 10, n),
        }
    )


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    """One whole study on tfds's mock CIFAR-10 (offline): adam, sgd and a diverging sgd,
    2 epochs, augmentation on, written to a temporary directory."""
    out_dir = tmp_path_factory.mktemp("q1")
    config = StudyConfig(optimizers=CONTESTANTS, **TINY)
    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
        results = study_lib.run_cifar10_study(config, out_dir, log=lambda line: None)
    return config, results, out_dir


# ----------------------------------------------------------------------------------------
# Optimizer specs


def test_specs_parse_with_default_rates_and_unique_labels():
    """'name=lr' takes that rate, a bare name torch.optim's default, and one optimizer may
    run at two rates (distinct labels)."""
    specs = study_lib.parse_optimizer_specs(["adam=3e-4", "sgd", "momentum=0.05", "sgd=0.1"])
    assert specs == (
        OptimizerSpec("adam", 3e-4),
        OptimizerSpec("sgd", 1e-2),
        OptimizerSpec("momentum", 0.05),
        OptimizerSpec("sgd", 0.1),
    )
    assert [s.label for s in specs] == ["adam=0.0003", "sgd=0.01", "momentum=0.05", "sgd=0.1"]
    assert study_lib.DEFAULT_OPTIMIZERS == study_lib.parse_optimizer_specs(
        ["adam=1e-3", "sgd=1e-2", "momentum=1e-2", "adamw=1e-3"]
    )


@pytest.mark.parametrize(
    "texts, words",
    [
        (["rmsprop=1e-3"], "unknown optimizer 'rmsprop'"),
        (["adam=fast"], "is not a number"),
        (["sgd=0"], "learning_rate must be a finite number > 0"),
        (["adam=1e-3", "adam=0.001"], "given twice"),
        ([], "no optimizer given"),
    ],
)
def test_bad_specs_raise_value_error_naming_the_fix(texts, words):
    """Unknown names, non-numbers, rates <= 0, repeats and an empty list are ValueErrors."""
    with pytest.raises(ValueError, match=words):
        study_lib.parse_optimizer_specs(texts)


def test_study_config_validates_shared_settings_like_config():
    """The shared settings go through hw4jax.config's validation (e.g. batch size >= 1)."""
    with pytest.raises(ValueError, match="batch_size"):
        StudyConfig(batch_size=0)
    with pytest.raises(ValueError, match="smaller than one batch"):
        StudyConfig(train_examples=8, batch_size=16)


# ----------------------------------------------------------------------------------------
# Fingerprints and the check


def test_tree_fingerprint_sees_one_changed_value_dtype_or_name():
    """Equal trees hash equal; one flipped value, another dtype or another key name does not."""
    tree = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(2, np.int32)}
    same = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(2, np.int32)}
    fp = study_lib.tree_fingerprint(tree)
    assert study_lib.tree_fingerprint(same) == fp
    changed = {**same, "a": same["a"].copy()}
    changed["a"][1, 2] = np.nextafter(changed["a"][1, 2], np.float32(10))
    assert study_lib.tree_fingerprint(changed) != fp
    assert study_lib.tree_fingerprint({**tree, "b": tree["b"].astype(np.int64)}) != fp
    assert study_lib.tree_fingerprint({"a": tree["a"], "c": tree["b"]}) != fp


def test_check_raises_on_another_start_or_other_batches():
    """check_same_start_and_data passes equal runs and names the optimizer and the epoch
    that differ."""

    def run(start, *data):
        return {
            "start_fingerprint": start,
            "epochs": [{"epoch": e + 1, "data_fingerprint": d} for e, d in enumerate(data)],
        }

    study_lib.check_same_start_and_data({"adam": run("s", "d1", "d2"), "sgd": run("s", "d1")})
    with pytest.raises(StudyMismatchError, match="sgd starts from other weights than adam"):
        study_lib.check_same_start_and_data({"adam": run("s", "d1"), "sgd": run("t", "d1")})
    with pytest.raises(StudyMismatchError, match="sgd saw other batches than adam in epoch 2"):
        study_lib.check_same_start_and_data(
            {"adam": run("s", "d1", "d2"), "sgd": run("s", "d1", "x2")}
        )


# ----------------------------------------------------------------------------------------
# The CNN study, end to end


def test_every_optimizer_starts_from_the_seeds_weights(study_run):
    """All optimizers record one start fingerprint, and it is the fingerprint of a train
    state made independently from the seed (with yet another optimizer)."""
    config, results, _ = study_run
    starts = {run["start_fingerprint"] for run in results["runs"].values()}
    fresh = create_train_state(
        jax.random.key(config.seed), model=CNN(), tx=optax.sgd(0.5, momentum=0.5)
    )
    assert starts == {study_lib.start_fingerprint(fresh)} == {results["start_fingerprint"]}


def test_every_optimizer_sees_the_same_batches_and_epochs_differ(study_run):
    """Per epoch the data fingerprints agree across optimizers (the diverging one included,
    for the epochs it ran); epoch 2's batches differ from epoch 1's (the fingerprint
    does see the reshuffle)."""
    _, results, _ = study_run
    per_epoch = {}
    for run in results["runs"].values():
        for record in run["epochs"]:
            per_epoch.setdefault(record["epoch"], set()).add(record["data_fingerprint"])
    assert sorted(per_epoch) == [1, 2]
    assert all(len(fps) == 1 for fps in per_epoch.values()), per_epoch
    assert per_epoch[1] != per_epoch[2]


def test_records_have_every_figure_and_optimizers_differ(study_run):
    """Every converging optimizer has 2 epochs of finite train loss, test loss and accuracy
    in [0, 1], positive times and a loss curve; adam and sgd trained differently from
    the same start; the diverging sgd stopped after its first epoch and the others went on."""
    _, results, _ = study_run
    runs = results["runs"]
    assert list(runs) == ["adam=0.001", "sgd=0.01", "sgd=1e+09"]
    assert results["train_examples"] == results["test_examples"] == MOCK_EXAMPLES
    assert results["steps_per_epoch"] == 3
    for label in ("adam=0.001", "sgd=0.01"):
        run = runs[label]
        assert run["diverged_in_epoch"] is None
        assert [r["epoch"] for r in run["epochs"]] == [1, 2]
        for r in run["epochs"]:
            assert np.isfinite(r["train_loss"]) and np.isfinite(r["test_loss"])
            assert 0 <= r["test_accuracy"] <= 1 and 0 <= r["train_accuracy"] <= 1
            assert r["train_seconds"] > 0 and r["eval_seconds"] > 0
            assert len(r["loss_curve"]) == 3  # one point per step at 3 steps per epoch
        assert run["compile_seconds"] >= 0
    adam, sgd = runs["adam=0.001"]["epochs"][1], runs["sgd=0.01"]["epochs"][1]
    assert adam["train_loss"] != sgd["train_loss"]
    diverged = runs["sgd=1e+09"]
    assert diverged["diverged_in_epoch"] == 1 and len(diverged["epochs"]) == 1
    assert not np.isfinite(diverged["epochs"][0]["train_loss"])
    assert diverged["epochs"][0]["test_accuracy"] is None


def test_outputs_are_the_returned_results_a_png_and_a_table(study_run):
    """cnn_results.json holds the returned results, cnn_curves.png is a PNG, and the table
    has one row per (optimizer, epoch) run, with '-' where the diverged one has no test."""
    _, results, out_dir = study_run
    assert json.loads((out_dir / study_lib.RESULTS_FILE).read_text()) == json.loads(
        json.dumps(results)
    )
    assert (out_dir / study_lib.PLOT_FILE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = study_lib.format_study_table(results).splitlines()
    rows = [line for line in table if line.split()[0] in results["runs"]]
    assert len(rows) == 5
    assert rows[-1].startswith("sgd=1e+09") and " - " in rows[-1] + " "


def test_a_pipeline_that_changes_order_between_optimizers_stops_the_study():
    """If the second optimizer were fed another order (here: another seed's), the study
    raises StudyMismatchError instead of comparing unequal runs."""
    config = StudyConfig(optimizers=CONTESTANTS[:2], augment=False, **{**TINY, "epochs": 1})
    train, test = in_memory(12, 0), in_memory(8, 1)
    data = dataset_input(train, test, config.run_config(CONTESTANTS[0]))
    other_seed = dataset_input(train, test, config.run_config(CONTESTANTS[0]).replace(seed=1))
    calls = []

    def drifting(epoch, skip):
        calls.append(epoch)
        source = data if len(calls) == 1 else other_seed
        return source.train_batches(epoch, skip)

    with pytest.raises(
        StudyMismatchError, match="sgd=0.01 saw other batches than adam=0.001 in epoch 1"
    ):
        study_lib.run_study(
            dataclasses.replace(data, train_batches=drifting), study=config, log=lambda line: None
        )
    assert calls == [0, 0]


# ----------------------------------------------------------------------------------------
# The 2-2-1 net


def test_tiny_net_sgd_is_the_homeworks_gradient_descent():
    """Plain SGD at alpha 0.1 gives, step for step, the losses of backprop.gd (the hand
    derivation's update, w - alpha dE/dw)."""
    losses = study_lib.tiny_net_losses([OptimizerSpec("sgd", 0.1)], iterations=20)
    with jax.enable_x64(True):
        w0 = backprop.Weights(*(np.float64(w) for w in backprop.HOMEWORK.weights))
        w, gd = backprop.gd(
            w0,
            np.asarray(backprop.HOMEWORK.inputs, np.float64),
            np.float64(backprop.HOMEWORK.target),
            learning_rate=0.1,
            iterations=20,
        )
        last = float(
            backprop.loss(
                w,
                np.asarray(backprop.HOMEWORK.inputs, np.float64),
                np.float64(backprop.HOMEWORK.target),
            )
        )
    np.testing.assert_allclose(losses["sgd=0.1"], np.append(np.asarray(gd), last), rtol=1e-12)


def test_tiny_net_written_printed_and_adam_fastest_at_the_same_rate(tmp_path):
    """write_tiny_net writes the curves (JSON) and a PNG and prints a table; at alpha 0.1 the
    sigmoid's small gradient barely moves SGD, while Adam's normalized step cuts the loss
    by orders of magnitude in 10 steps."""
    printed = []
    specs = study_lib.parse_optimizer_specs(["adam=0.1", "sgd=0.1", "momentum=0.1"])
    losses = study_lib.write_tiny_net(specs, tmp_path, iterations=10, log=printed.append)
    doc = json.loads((tmp_path / study_lib.TINY_RESULTS_FILE).read_text())
    assert {k: np.asarray(v) for k, v in doc["losses"].items()}.keys() == losses.keys()
    assert all(len(v) == 11 for v in doc["losses"].values())
    assert (tmp_path / study_lib.TINY_PLOT_FILE).read_bytes()[:4] == b"\x89PNG"
    assert "momentum=0.1" in printed[0]
    assert losses["adam=0.1"][10] < 1e-3 * losses["sgd=0.1"][10]
    assert losses["momentum=0.1"][10] < losses["sgd=0.1"][10] < losses["sgd=0.1"][0]


# ----------------------------------------------------------------------------------------
# The script


def test_script_tiny_only_writes_its_files(tmp_path, capsys):
    """`compare_optimizers.py --only tiny` prints the 2-2-1 table and writes its two files,
    and nothing of the CNN."""
    script = load_script()
    assert (
        script.main(["--only", "tiny", "--tiny-iterations", "5", "--out-dir", str(tmp_path)]) == 0
    )
    assert "adamw=0.1" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny_net.json", "tiny_net.png"]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--optimizers", "adam=1e-3", "lbfgs"], "unknown optimizer 'lbfgs'"),
        (["--train-examples", "many"], "neither an integer nor 'all'"),
        (["--epochs", "0"], "epochs must be an integer >= 1"),
        (["--tiny-iterations", "0"], "--tiny-iterations must be >= 1"),
    ],
)
def test_script_bad_input_is_one_error_line_and_exit_2(tmp_path, capsys, argv, words):
    """Bad flags or values: exit 2 and one 'error: ...' line naming the problem."""
    script = load_script()
    try:
        code = script.main(argv + ["--out-dir", str(tmp_path)])
    except SystemExit as e:  # argparse's own errors
        code = e.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and words in err[0], err


def test_script_defaults_are_the_librarys():
    """The flags' defaults are StudyConfig's (the CPU-sized run) and its optimizers."""
    args = load_script()._parser().parse_args([])
    config = StudyConfig()
    assert study_lib.parse_optimizer_specs(args.optimizers) == config.optimizers
    for field in (
        "epochs",
        "batch_size",
        "eval_batch_size",
        "train_examples",
        "test_examples",
        "seed",
        "momentum",
        "weight_decay",
    ):
        assert getattr(args, field) == getattr(config, field), field
    assert args.tiny_iterations == study_lib.TINY_ITERATIONS
    assert {s.learning_rate for s in study_lib.parse_optimizer_specs(args.tiny_optimizers)} == {
        study_lib.TINY_LEARNING_RATE
    }
