"""Tests of hw4jax.training: the steps, and the whole loop end to end on tfds mock data.

The end-to-end runs share one configuration (adam, batch 4, eval batch 8, 20 mock images a
split): they reuse the steps compiled by the first run, so the file stays fast.
"""

import json
import math
import re
import shutil
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax_tools import count_compiles
from png_check import figure_pixels, png_size
from train_inputs import MOCK_EXAMPLES, poisoned_input, run, tiny_config

from hw4jax.data.cifar10_archive import CLASS_NAMES
from hw4jax.pytorch import parity
from hw4jax.training import checkpoints, loop, plots, reports, sharding, step_log, steps
from hw4jax.training.config import get_config
from hw4jax.training.state import initial_state
from hw4jax.training.tensorboard import read_scalars


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """One uninterrupted 2-epoch run, with compilations counted from a clean cache."""
    workdir = tmp_path_factory.mktemp("baseline")
    jax.clear_caches()
    with count_compiles() as compiled:
        results = run(tiny_config(), workdir)
    state, progress = checkpoints.restore_state(workdir)
    return {
        "workdir": workdir,
        "results": results,
        "compiled": compiled,
        "state": state,
        "progress": progress,
    }


def params_of(state):
    return jax.tree.map(
        np.asarray,
        {"params": state.params, "batch_stats": state.batch_stats, "opt_state": state.opt_state},
    )


def test_config_defaults_are_the_homework_run():
    """get_config() is the homework's run: 2 epochs, Adam 1e-3, batch 4, augmentation, seed 0."""
    c = get_config()
    assert (c.epochs, c.optimizer, c.learning_rate, c.batch_size, c.augment, c.seed) == (
        2,
        "adam",
        1e-3,
        4,
        True,
        0,
    )


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("batch_size", 0, "batch_size"),
        ("epochs", -1, "epochs"),
        ("learning_rate", float("nan"), "learning_rate"),
        ("optimizer", "rmsprop", "adam"),
        ("train_examples", 2, "--batch-size"),
        ("momentum", 1.0, "momentum"),
        ("no_such_field", 1, "unknown"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value, words):
    """A bad config value is a ValueError whose message names the field (and the fix)."""
    with pytest.raises(ValueError, match=words):
        get_config(**{field: value})


def test_train_step_is_pure_and_learns_a_small_set(baseline):
    """train_step is a function of (state, batch) alone (same inputs, same outputs, dropout
    from fold_in(key, step)), and repeated steps on 8 fixed images drive the loss down."""
    del baseline  # its compiled train_step (same settings and batch shape) is reused
    rng = np.random.default_rng(0)
    labels = np.arange(4, dtype=np.int32).repeat(2)
    # Class c's images are a constant c-dependent colour plus a little noise: learnable.
    images = (
        labels[:, None, None, None] / 2.0 - 0.75 + 0.1 * rng.standard_normal((8, 32, 32, 3))
    ).astype(np.float32)
    batch = {"image": images[:4], "label": labels[:4]}
    config = tiny_config()
    mesh = sharding.make_mesh(jax.devices()[:1])
    step = steps.make_train_step(mesh)
    first = initial_state(config)
    a, metrics_a = step(jax.device_put(first, sharding.replicated(mesh)), batch)
    b, metrics_b = step(jax.device_put(initial_state(config), sharding.replicated(mesh)), batch)
    np.testing.assert_array_equal(metrics_a.loss_sum, metrics_b.loss_sum)
    chex_equal = jax.tree.map(np.array_equal, params_of(a), params_of(b))
    assert all(jax.tree.leaves(chex_equal))
    assert int(a.step) == 1

    losses = []
    state = b
    for i in range(30):
        part = slice(4 * (i % 2), 4 * (i % 2) + 4)
        state, metrics = step(state, {"image": images[part], "label": labels[part]})
        losses.append(float(metrics.loss_sum) / 4)
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4]), losses


def test_cpu_train_step_copies_no_weight_buffer(baseline):
    """The compiled CPU train step updates the donated weights in place: no copy of any
    buffer of 100,000 floats or more (fc1's kernel has 5.9 million; XLA's default copy
    insertion copies it every step, steps.CPU_TRAIN_COMPILER_OPTIONS removes that)."""
    del baseline  # its compiled train_step (same settings and batch shape) is reused
    mesh = sharding.make_mesh(jax.devices("cpu")[:1])
    state = jax.device_put(initial_state(tiny_config()), sharding.replicated(mesh))
    batch = {"image": np.zeros((4, 32, 32, 3), np.float32), "label": np.zeros(4, np.int32)}
    hlo = steps.make_train_step(mesh).lower(state, batch).compile().as_text()
    copies = [re.search(r"= f32\[([\d,]+)\]\S* copy\(", line) for line in hlo.splitlines()]
    big_copies = [
        m.group(0) for m in copies if m and math.prod(map(int, m.group(1).split(","))) >= 100_000
    ]
    assert not big_copies, big_copies
    assert re.search(r"f32\[5760,1024\]", hlo), "the HLO no longer names fc1's kernel"


def test_prepare_builds_the_batch_inside_the_jitted_step(baseline):
    """make_train_step(mesh, prepare) runs ``prepare`` (an Input's device-side batch
    building) inside the jitted step: uint8 images normalised there train like the same
    images normalised on the host."""
    del baseline
    mesh = sharding.make_mesh(jax.devices()[:1])
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 4).astype(np.int32)

    def prepare(batch):
        image = (batch["image"].astype(jnp.float32) / 255.0 - 0.5) / 0.5
        return {"image": image, "label": batch["label"]}

    def fresh():
        return jax.device_put(initial_state(tiny_config()), sharding.replicated(mesh))

    # The same float32 operations on the host (each correctly rounded, as XLA's): the same
    # input pixels, so the same step, bit for bit.
    one = np.float32(1)
    host_images = (images.astype(np.float32) / np.float32(255) - one / 2) / (one / 2)
    _, want = steps.make_train_step(mesh)(fresh(), {"image": host_images, "label": labels})
    _, got = steps.make_train_step(mesh, prepare)(fresh(), {"image": images, "label": labels})
    np.testing.assert_array_equal(got.loss_sum, want.loss_sum)
    assert int(got.count) == 4


def test_eval_step_counts_only_unmasked_examples(baseline):
    """eval_step's per-class counts are the unmasked labels' histogram, its confusion
    matrix counts the unmasked (label, argmax of the logits) pairs, with the per-class
    figures its diagonal and row sums, and padding adds neither loss nor counts."""
    del baseline  # its compiled eval_step is reused
    config = tiny_config()
    mesh = sharding.make_mesh(jax.devices()[:1])
    state = jax.device_put(initial_state(config), sharding.replicated(mesh))
    evaluate = steps.make_eval_step(mesh)
    rng = np.random.default_rng(1)
    images = rng.standard_normal((8, 32, 32, 3)).astype(np.float32)
    labels = np.array([0, 1, 1, 9, 3, 3, 3, 0], np.int32)
    mask = np.array([True] * 5 + [False] * 3)
    full = jax.device_get(evaluate(state, {"image": images, "label": labels, "mask": mask}))
    assert full.count.tolist() == np.bincount(labels[:5], minlength=10).tolist()
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    predicted = np.argmax(state.apply_fn(variables, images[:5], train=False), -1)
    want = np.zeros((10, 10), int)
    np.add.at(want, (labels[:5], predicted), 1)
    assert full.confusion.tolist() == want.tolist()
    assert full.correct.tolist() == np.diagonal(want).tolist()
    # Other content in the padded slots changes nothing, bit for bit: in eval mode every
    # example is computed on its own, and the masked sum adds the same values in one order.
    junk = {
        "image": np.concatenate([images[:5], 100 * images[5:]]),
        "label": np.concatenate([labels[:5], [9, 9, 9]]).astype(np.int32),
        "mask": mask,
    }
    padded = jax.device_get(evaluate(state, junk))
    np.testing.assert_array_equal(padded.loss_sum, full.loss_sum)
    assert padded.correct.tolist() == full.correct.tolist()
    assert padded.confusion.tolist() == full.confusion.tolist()
    # The same five real examples, the padding elsewhere: the same per-class counts.
    order = np.array([5, 0, 1, 6, 2, 3, 7, 4])
    part = jax.device_get(
        evaluate(state, {"image": images[order], "label": labels[order], "mask": order < 5})
    )
    assert part.count.tolist() == full.count.tolist()
    assert (full.correct <= full.count).all()


def test_eval_step_in_blocks_gives_the_same_metrics(baseline):
    """eval_step in blocks of images (what make_eval_step does on one CPU device) computes
    the same metrics as on the whole batch, with a smaller last block (10 = 4 + 4 + 2)."""
    del baseline
    state = initial_state(tiny_config())
    rng = np.random.default_rng(2)
    batch = {
        "image": rng.standard_normal((10, 32, 32, 3)).astype(np.float32),
        "label": rng.integers(0, 10, 10).astype(np.int32),
        "mask": np.array([True] * 9 + [False]),
    }
    whole = jax.device_get(jax.jit(steps.eval_step)(state, batch))
    blocks = jax.device_get(jax.jit(lambda s, b: steps.eval_step(s, b, block_size=4))(state, batch))
    # Blocks of other shapes round differently: the blocked loss must be as close to the
    # float64 value as the unblocked one is (hw4jax.pytorch.parity's float32 criterion).
    with jax.enable_x64(True):
        state64 = state.replace(
            params=jax.tree.map(lambda a: a.astype(jnp.float64), state.params),
            batch_stats=jax.tree.map(lambda a: a.astype(jnp.float64), state.batch_stats),
        )
        exact = jax.device_get(
            steps.eval_step(state64, {**batch, "image": batch["image"].astype(np.float64)})
        )
    assert parity.compare_to_reference(
        "loss", blocks.loss_sum, whole.loss_sum, exact.loss_sum
    ).passed
    assert blocks.correct.tolist() == whole.correct.tolist()
    assert blocks.count.tolist() == whole.count.tolist()
    # One CPU device: make_eval_step runs the model in a loop over blocks of
    # EVAL_BLOCK_SIZE images (the plain eval_step has no loop).
    n = steps.EVAL_BLOCK_SIZE + 1
    big = {k: jax.ShapeDtypeStruct((n, *v.shape[1:]), v.dtype) for k, v in batch.items()}
    mesh = sharding.make_mesh(jax.devices()[:1])
    blocked = steps.make_eval_step(mesh).lower(state, big).as_text()
    assert "while" not in jax.jit(steps.eval_step).lower(state, big).as_text()
    assert ("while" in blocked) == (jax.devices()[0].platform == "cpu")


def test_end_to_end_writes_results_and_counts_every_test_image(baseline):
    """The whole loop on mock data: 2 epochs, per-class counts add up to the test set,
    metrics.jsonl / results.json (with the confusion matrix) / checkpoints and the
    pictures (metrics.png, confusion_matrix.png, per_class_accuracy.png) in the workdir."""
    results, workdir = baseline["results"], baseline["workdir"]
    assert sum(results["per_class_count"].values()) == MOCK_EXAMPLES
    assert list(results["per_class_accuracy"]) == list(CLASS_NAMES)
    assert results["step"] == 10 and len(results["epochs"]) == 2
    lines = (workdir / reports.METRICS_FILE).read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    saved = json.loads((workdir / reports.RESULTS_FILE).read_text())
    assert saved["test_accuracy"] == results["test_accuracy"]
    assert saved["config"]["batch_size"] == 4 and saved["device"]["device_count"] >= 1
    confusion = np.array(saved["confusion_matrix"]["counts"])
    assert saved["confusion_matrix"]["classes"] == list(CLASS_NAMES)
    assert confusion.sum() == MOCK_EXAMPLES
    assert confusion.sum(axis=1).tolist() == list(saved["per_class_count"].values())
    assert np.diagonal(confusion).tolist() == list(saved["per_class_correct"].values())
    assert png_size(workdir / reports.PLOT_FILE) == figure_pixels(plots.CURVES_SIZE, plots.DPI)
    assert png_size(workdir / reports.CONFUSION_FILE) == figure_pixels(
        plots.CONFUSION_SIZE, plots.DPI
    )
    assert png_size(workdir / reports.PER_CLASS_FILE) == figure_pixels(
        plots.PER_CLASS_SIZE, plots.DPI
    )
    assert checkpoints.latest_step(workdir) == 10
    # The homework's sum: mean loss x images.
    first = results["epochs"][0]
    assert first["train_loss_sum"] == pytest.approx(first["train_loss_mean"] * MOCK_EXAMPLES)


def read_steps(workdir):
    return [json.loads(line) for line in (workdir / step_log.STEPS_FILE).read_text().splitlines()]


def test_steps_file_and_tensorboard_hold_the_curves_within_epochs(baseline):
    """steps.jsonl has a record at every check (every 2 steps) and at each epoch's end
    (5 steps an epoch), whose windows add up to the epoch's figures; TensorBoard's event
    files hold the same train scalars per record and the test scalars per epoch."""
    workdir, epochs = baseline["workdir"], baseline["results"]["epochs"]
    records = read_steps(workdir)
    assert [r["step"] for r in records] == [2, 4, 5, 7, 9, 10]
    assert [r["window_steps"] for r in records] == [2, 2, 1, 2, 2, 1]
    assert [r["images"] for r in records] == [4 * r["step"] for r in records]
    for epoch, record in zip(epochs, [records[2], records[5]]):
        window = [r for r in records if r["epoch"] == epoch["epoch"]]
        assert record["epoch_count"] == MOCK_EXAMPLES
        assert record["epoch_loss_sum"] == epoch["train_loss_sum"]
        assert record["epoch_train_accuracy"] == epoch["train_accuracy"]
        # The windows telescope: each is a float64 difference of host totals divided by its
        # images, so undoing it and summing 3 positive terms costs a few float64 roundings
        # (each <= 2^-53 of a term no larger than the total): 1e-12 of the total covers them.
        images = [4 * r["window_steps"] for r in window]
        assert sum(n * r["train_loss"] for n, r in zip(images, window)) == pytest.approx(
            epoch["train_loss_sum"], rel=1e-12
        )
        assert sum(n * r["train_accuracy"] for n, r in zip(images, window)) == pytest.approx(
            epoch["train_accuracy"] * MOCK_EXAMPLES, rel=1e-12
        )
    # The checkpoint carries the records (a resumed run continues from them).
    assert baseline["progress"]["steps"] == records

    scalars = read_scalars(workdir / step_log.TENSORBOARD_DIR)
    assert sorted(scalars) == ["test/accuracy", "test/loss", "train/accuracy", "train/loss"]
    # TensorBoard stores float32 scalars: each value is the record's rounded once to float32.
    for tag, key in [("train/loss", "train_loss"), ("train/accuracy", "train_accuracy")]:
        assert [s for s, _ in scalars[tag]] == [r["step"] for r in records]
        assert [v for _, v in scalars[tag]] == [float(np.float32(r[key])) for r in records]
    for tag, key in [("test/loss", "test_loss"), ("test/accuracy", "test_accuracy")]:
        assert [s for s, _ in scalars[tag]] == [5, 10]
        assert [v for _, v in scalars[tag]] == [float(np.float32(r[key])) for r in epochs]


def test_nothing_recompiles_after_the_first_step(baseline):
    """Over two epochs (10 train steps, 6 eval batches, the last one padded) train_step and
    eval_step each compile exactly once."""
    compiled = baseline["compiled"]
    assert compiled.count("jit(train_step)") == 1, compiled
    assert compiled.count("jit(eval_step)") == 1, compiled


def test_prints_the_homework_epoch_line_and_class_table(tmp_path, capsys, baseline):
    """A run prints the device line, 'Epoch: N \\tTraining Loss: <sum>' per epoch and the
    per-class table; resuming a finished run trains nothing and reports the same epochs."""
    shutil.copytree(baseline["workdir"], tmp_path / "run")
    results = run(tiny_config(resume=True), tmp_path / "run")
    out = capsys.readouterr().out
    assert "Devices: " in out and "per-device batch" in out
    assert "Test accuracy:" in out and "airplane" in out
    assert results["epochs"] == baseline["results"]["epochs"]
    epoch_line = reports.epoch_line(baseline["results"]["epochs"][0])
    assert epoch_line.startswith("Epoch: 1 \tTraining Loss: ")


def test_interrupt_saves_and_resume_ends_with_the_same_weights(tmp_path, capsys, baseline):
    """SIGINT mid-epoch 1 saves a checkpoint (state, position, partial totals) and raises
    KeyboardInterrupt; --resume then ends bitwise equal to the uninterrupted run, with the
    same per-epoch losses."""
    workdir = tmp_path / "interrupted"

    def interrupt_at_step_3(event):
        if event.global_step == 3:
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        run(tiny_config(), workdir, on_step=interrupt_at_step_3)
    assert checkpoints.latest_step(workdir) == 3
    assert "continue with --resume" in capsys.readouterr().out
    with pytest.raises(ValueError, match="--resume"):
        run(tiny_config(), workdir)  # never silently overwrites a run

    results = run(tiny_config(resume=True), workdir)
    resumed, _ = checkpoints.restore_state(workdir)
    equal = jax.tree.map(np.array_equal, params_of(resumed), params_of(baseline["state"]))
    assert all(jax.tree.leaves(equal))
    expected = baseline["results"]["epochs"]
    for got, want in zip(results["epochs"], expected, strict=True):
        # The epoch's 5 float32 step losses are summed on the device in windows of
        # check_every = 2 steps, which the interruption regroups: one float32 rounding of a
        # two-step window (<= eps32 / 2 of it) can differ, so at most eps32 = 1.2e-7 of the
        # positive total; 1e-6 covers it.
        assert got["train_loss_sum"] == pytest.approx(want["train_loss_sum"], rel=1e-6)
        assert got["test_accuracy"] == want["test_accuracy"]
    assert results["per_class_correct"] == baseline["results"]["per_class_correct"]
    # The step records too: the same steps, windows and counts. The loss sums regroup as
    # above: the uninterrupted run's step-4 record holds the float32 sum of steps 3 and 4,
    # the resumed run's their float64 sum, so a window or total differs by at most eps32 / 2
    # of itself (later windows are float64 differences of totals, exact to ~1e-16 of the
    # total); 1e-6 covers it. The interrupted run's TensorBoard events end at its last
    # record, the resumed run's start after it: together each step once.
    got_steps, want_steps = read_steps(workdir), read_steps(baseline["workdir"])
    assert len(got_steps) == len(want_steps)
    for got, want in zip(got_steps, want_steps):
        for key in ("epoch", "step", "images", "window_steps", "train_accuracy", "epoch_count"):
            assert got[key] == want[key], key
        assert got["epoch_train_accuracy"] == want["epoch_train_accuracy"]
        for key in ("train_loss", "epoch_train_loss", "epoch_loss_sum"):
            assert got[key] == pytest.approx(want[key], rel=1e-6), key
    steps = [s for s, _ in read_scalars(workdir / step_log.TENSORBOARD_DIR)["train/loss"]]
    assert steps == [r["step"] for r in want_steps]


def test_resume_with_other_settings_is_refused(tmp_path, baseline):
    """Resuming with a different batch size or seed is a ValueError naming the field."""
    shutil.copytree(baseline["workdir"], tmp_path / "run")
    with pytest.raises(ValueError, match="seed"):
        run(tiny_config(resume=True, seed=1), tmp_path / "run")


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, baseline):
    """A NaN in epoch 2 raises NonFiniteLossError; the checkpoint of epoch 1 stays the
    latest one, its weights finite, and no results are written."""
    del baseline  # compiled steps
    workdir = tmp_path / "nan"
    with pytest.raises(loop.NonFiniteLossError, match="last good checkpoint is step 5"):
        run(tiny_config(), workdir, input_fn=poisoned_input(from_epoch=1))
    assert checkpoints.latest_step(workdir) == 5
    state, progress = checkpoints.restore_state(workdir)
    assert all(bool(jnp.isfinite(x).all()) for x in jax.tree.leaves(state.params))
    assert [r["epoch"] for r in progress["history"]] == [1]
    assert not (workdir / reports.RESULTS_FILE).exists()


def test_eval_only_evaluates_the_latest_checkpoint(tmp_path, baseline):
    """eval_only reproduces the trained run's test figures from its checkpoint alone."""
    shutil.copytree(baseline["workdir"], tmp_path / "run")
    results = run(tiny_config(eval_only=True), tmp_path / "run")
    assert results["per_class_correct"] == baseline["results"]["per_class_correct"]
    assert (tmp_path / "run" / reports.EVAL_RESULTS_FILE).is_file()
    with pytest.raises(ValueError, match="no checkpoint"):
        run(tiny_config(eval_only=True), tmp_path / "empty")
