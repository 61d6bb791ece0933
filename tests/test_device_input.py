"""The device input (--input device): the tf.data path's batches, built inside the jitted step.

Every run here has the settings of tests/test_train.py (adam, batch 4, eval batch 8, check
every 2 steps, 20 tfds mock images a split: 5 steps an epoch, 3 eval batches), so the host
path's compiled steps are shared with that file, and the device path's are compiled once
for this one (train calls of 1 and 2 steps, one eval call).
"""

import shutil
import signal
import textwrap

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds
from jax_tools import count_compiles, run_on_cpu_devices
from train_inputs import MOCK_EXAMPLES, run, tiny_config

from hw4jax.augment import AugmentConfig
from hw4jax.data import cifar10
from hw4jax.training import checkpoints, device_input, inputs, sharding
from hw4jax.training.config import get_config
from hw4jax.training.state import initial_state

# The records of an epoch that must agree between the paths (not its wall time).
RECORD_KEYS = ("epoch", "step", "train_loss_sum", "train_accuracy", "test_loss", "test_accuracy")


def mock_inputs(config):
    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
        return inputs.cifar10_input(config)


def mock_splits():
    """The mock train and test splits as the device input puts them on the device."""
    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
        return [
            jax.device_put(device_input.read_split(cifar10.load_split(name)))
            for name in ("train", "test")
        ]


def weights_of(workdir):
    state, _ = checkpoints.restore_state(workdir)
    return jax.tree.map(
        np.asarray,
        {"params": state.params, "batch_stats": state.batch_stats, "opt_state": state.opt_state},
    )


def assert_same_weights(a, b):
    assert all(jax.tree.leaves(jax.tree.map(np.array_equal, a, b)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """2-epoch runs of the same settings: the host path, the device path with 1 and with 2
    steps per call (5 steps an epoch: calls of 2, 2, 1), the host path with 2 steps per
    call, the compilations of each run counted."""
    out = {}
    for name, overrides in (
        ("host", {}),
        ("device", {"input": "device"}),
        ("device_k2", {"input": "device", "steps_per_call": 2}),
        ("host_k2", {"steps_per_call": 2}),
    ):
        workdir = tmp_path_factory.mktemp(name)
        with count_compiles() as compiled:
            results = run(tiny_config(**overrides), workdir)
        out[name] = {
            "workdir": workdir,
            "results": results,
            "weights": weights_of(workdir),
            "compiled": compiled,
        }
    return out


def test_device_batches_are_the_tf_data_batches_bit_for_bit():
    """What each step trains on, built on the device from the indices and uniforms the
    device input sends (2 steps per call, the last call of an epoch 1 step), equals the
    tf.data path's batch bit for bit (normalised float32 images and int32 labels): both
    epochs of a run, an epoch resumed at batch 3, and without augmentation; the padded,
    masked evaluation batches too."""
    for augment in (True, False):
        config = tiny_config(augment=augment)
        host = mock_inputs(config)
        device = mock_inputs(config.replace(input="device", steps_per_call=2))
        assert device.steps_per_epoch == host.steps_per_epoch == MOCK_EXAMPLES // 4
        train_split, test_split = mock_splits()
        augment_config = AugmentConfig() if augment else None
        cases = ((0, 0), (1, 0), (1, 3)) if augment else ((0, 0),)
        for epoch, skip in cases:
            want = list(host.train_batches(epoch, skip))
            got = []
            for item in device.train_batches(epoch, skip):
                for j in range(device.steps_in(item)):
                    step_item = {k: v[:, j] for k, v in item.items()}
                    got.append(device_input.build_batch(train_split, step_item, augment_config))
            assert len(got) == len(want) == host.steps_per_epoch - skip
            for w, g in zip(want, got):
                np.testing.assert_array_equal(np.asarray(g["image"]), w["image"])
                np.testing.assert_array_equal(np.asarray(g["label"]), w["label"])
    want = list(host.eval_batches())
    got = [device_input.build_eval_batch(test_split, item) for item in device.eval_batches()]
    assert len(got) == len(want) == 3
    for w, g in zip(want, got):
        for key in ("image", "label", "mask"):
            np.testing.assert_array_equal(np.asarray(g[key]), w[key])


def test_device_run_trains_exactly_like_the_host_run(runs):
    """train_and_evaluate with --input device ends with the host run's weights, BatchNorm
    statistics and optimizer state bit for bit, with the same per-epoch train and test
    figures and per-class counts, and compiles its train and eval calls once each."""
    host, device = runs["host"], runs["device"]
    assert_same_weights(device["weights"], host["weights"])
    for got, want in zip(device["results"]["epochs"], host["results"]["epochs"], strict=True):
        assert {k: got[k] for k in RECORD_KEYS} == {k: want[k] for k in RECORD_KEYS}
    assert device["results"]["per_class_correct"] == host["results"]["per_class_correct"]
    assert device["results"]["test_loss"] == host["results"]["test_loss"]
    assert device["compiled"].count("jit(train_call)") == 1, device["compiled"]
    assert device["compiled"].count("jit(eval_call)") == 1, device["compiled"]


def test_k_steps_per_call_train_like_single_steps(runs):
    """steps_per_call 2 (lax.scan over 2 batches; 5 steps an epoch, so the last call of each
    epoch makes 1), on the device input and on the host path (tf.data batches stacked in
    pairs): the same weights bit for bit as single steps, the same step count and test
    figures, and train loss sums equal up to their float32 summation order."""
    host = runs["host"]
    assert runs["host_k2"]["compiled"].count("jit(train_steps)") == 2  # calls of 2, then 1
    for k2 in (runs["device_k2"], runs["host_k2"]):
        _assert_trains_like(k2, host)


def _assert_trains_like(k2, host):
    assert_same_weights(k2["weights"], host["weights"])
    for got, want in zip(k2["results"]["epochs"], host["results"]["epochs"], strict=True):
        assert (got["step"], got["test_loss"]) == (want["step"], want["test_loss"])
        assert got["train_accuracy"] == want["train_accuracy"]
        # The same 5 float32 step losses, summed on the device in windows that differ: the
        # host path sums (1 + 2), (3 + 4), 5 at check_every = 2; calls of 2 steps sum each
        # pair in the call, then add it to the window. Positive float32 sums of at most 2
        # terms, each rounding <= eps32 / 2 of the window, windows added in float64: at most
        # eps32 = 1.2e-7 of the total apart; 1e-6 covers it.
        assert got["train_loss_sum"] == pytest.approx(want["train_loss_sum"], rel=1e-6)


def test_k_step_call_returns_the_state_and_summed_metrics_of_k_single_calls():
    """One call of 2 steps is 2 calls of 1 step on the same items: the state bit for bit,
    and the metrics equal to merging the two single steps' metrics in step order."""
    config = tiny_config(input="device", steps_per_call=2)
    device = mock_inputs(config)
    mesh = sharding.make_mesh(jax.devices()[:1])
    step = device.train_fn(mesh)
    item = next(iter(device.train_batches(0, 0)))
    assert device.steps_in(item) == 2

    def fresh():
        return jax.device_put(initial_state(config), sharding.replicated(mesh))

    both, metrics = step(fresh(), sharding.shard_batch(item, mesh))
    state = fresh()
    singles = []
    for j in range(2):
        one = {k: v[:, j : j + 1] for k, v in item.items()}
        state, m = step(state, sharding.shard_batch(one, mesh))
        singles.append(m)
    equal = jax.tree.map(np.array_equal, jax.device_get(both), jax.device_get(state))
    assert all(jax.tree.leaves(equal))
    want = jax.device_get(singles[0].merge(singles[1]))
    got = jax.device_get(metrics)
    assert (got.loss_sum, got.correct, got.count) == (want.loss_sum, want.correct, want.count)
    assert int(got.count) == 8


def test_interrupted_device_run_resumes_on_either_path_to_the_same_weights(tmp_path, capsys, runs):
    """SIGINT in a 2-steps-per-call device run lands between calls (after step 4, not 3),
    saves there, and resuming with the device input (a first call from batch 4 of 5) or
    with the host input ends bit for bit with the uninterrupted run's weights."""
    workdir = tmp_path / "interrupted"
    config = tiny_config(input="device", steps_per_call=2)

    def interrupt_at_step_3(event):
        if event.global_step >= 3:
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        run(config, workdir, on_step=interrupt_at_step_3)
    assert checkpoints.latest_step(workdir) == 4
    assert "batch 4" in capsys.readouterr().out
    shutil.copytree(workdir, tmp_path / "host")
    want = runs["host"]
    for path, resumed in ((workdir, config), (tmp_path / "host", tiny_config())):
        results = run(resumed.replace(resume=True), path)
        assert_same_weights(weights_of(path), want["weights"])
        assert results["per_class_correct"] == want["results"]["per_class_correct"]


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"input": "gpu"}, "input must be one of host, device"),
        ({"steps_per_call": 0}, "steps_per_call"),
        ({"input": "device", "steps_per_call": 1.5}, "steps_per_call"),
    ],
)
def test_bad_input_settings_are_value_errors(overrides, words):
    """An unknown input and a step count below 1 or not an integer are ValueErrors naming
    the field and the fix."""
    with pytest.raises(ValueError, match=words):
        get_config(**overrides)


def test_the_flags_name_the_input_and_a_multi_process_run_is_refused(monkeypatch):
    """scripts/train.py gets --input {host,device} and --steps-per-call from the config,
    --help says what they do; the device input refuses a multi-process run with a
    ValueError pointing at --input host."""
    import argparse

    from hw4jax.training.config import add_config_flags, config_from_flags

    parser = argparse.ArgumentParser()
    add_config_flags(parser)
    config = config_from_flags(parser.parse_args(["--input", "device", "--steps-per-call", "8"]))
    assert (config.input, config.steps_per_call) == ("device", 8)
    assert config_from_flags(parser.parse_args([])).input == "host"
    text = " ".join(parser.format_help().split())
    assert "{host,device}" in text and "inside the jitted steps" in text
    assert "lax.scan" in text
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    with pytest.raises(ValueError, match="--input host"):
        device_input.device_input(None, None, tiny_config(input="device"))


CHILD = textwrap.dedent("""
    import json
    import jax, numpy as np, tensorflow as tf
    from hw4jax.augment import AugmentConfig
    from hw4jax.training import device_input, inputs, sharding, steps
    from hw4jax.training.config import get_config
    from hw4jax.training.state import initial_state

    assert jax.device_count() == 4, jax.devices()
    rng = np.random.default_rng(0)
    def split(n):
        return tf.data.Dataset.from_tensor_slices({
            "image": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
            "label": rng.integers(0, 10, n)})
    train, test = split(24), split(10)
    config = get_config(batch_size=8, eval_batch_size=8, optimizer="momentum",
                        learning_rate=0.01)
    host = inputs.dataset_input(train, test, config)
    device = inputs.dataset_input(train, test, config.replace(input="device", steps_per_call=2))
    mesh = sharding.make_mesh()
    fresh = lambda: jax.device_put(initial_state(config), sharding.replicated(mesh))

    # The batches, built sharded over the 4 devices (each builds its 2 images).
    train_split, test_split = (jax.device_put(device_input.read_split(ds),
                                              sharding.replicated(mesh)) for ds in (train, test))
    build = jax.jit(device_input.build_batch, static_argnums=2,
                    in_shardings=(sharding.replicated(mesh), sharding.batch_sharded(mesh)))
    host_batches = list(host.train_batches(0, 0))
    items = list(device.train_batches(0, 0))
    built = [build(train_split, {k: v[:, j] for k, v in item.items()}, AugmentConfig())
             for item in items for j in range(item["index"].shape[1])]
    shards = sorted({s.data.shape[0] for s in built[0]["image"].addressable_shards})
    batches_equal = all(np.array_equal(np.asarray(b["image"]), h["image"])
                        and np.array_equal(np.asarray(b["label"]), h["label"])
                        for b, h in zip(built, host_batches, strict=True))

    # Training: the device input's calls (2 steps, then 1) against the host step fed with
    # the tf.data batches, both on the 4-device mesh.
    state_d, state_h = fresh(), fresh()
    train_d, train_h = device.train_fn(mesh), steps.make_train_step(mesh)
    losses_d, losses_h = 0.0, 0.0
    for item in items:
        state_d, m = train_d(state_d, sharding.shard_batch(item, mesh))
        losses_d += float(m.loss_sum)
    for batch in host_batches:
        state_h, m = train_h(state_h, sharding.shard_batch(batch, mesh))
        losses_h += float(m.loss_sum)
    weights = lambda s: jax.device_get({"p": s.params, "b": s.batch_stats, "o": s.opt_state})
    equal = jax.tree.map(np.array_equal, weights(state_d), weights(state_h))

    # Evaluation, padded 10 -> 16 (2 batches of 8, sharded 2 a device).
    def evaluate(data):
        fn = data.eval_fn(mesh)
        totals = [jax.device_get(fn(state_d, sharding.shard_batch(b, mesh)))
                  for b in data.eval_batches()]
        return [[float(t.loss_sum), t.correct.tolist(), t.count.tolist()] for t in totals]
    print(json.dumps({
        "shards": shards,
        "calls": [int(item["index"].shape[1]) for item in items],
        "batches_equal": batches_equal,
        "weights_equal": all(jax.tree.leaves(equal)),
        "losses": [losses_d, losses_h],
        "eval": [evaluate(device), evaluate(host)],
    }))
""")


def test_four_devices_build_the_same_batches_and_train_like_the_host_step():
    """On 4 simulated CPU devices (batch 8, 2 images a device), the device input builds the
    tf.data batches bit for bit with the batch sharded over the devices, its calls (2 steps,
    then 1) end with the same weights, bit for bit, as the host path's sharded step on the
    tf.data batches, with the same losses, and its evaluation gives the same totals. (That
    the sharded host step trains like one device is tests/test_sharding.py's claim.)"""
    out = run_on_cpu_devices(CHILD, timeout=900)
    assert out["shards"] == [2] and out["calls"] == [2, 1]
    assert out["batches_equal"] and out["weights_equal"]
    assert out["losses"][0] == out["losses"][1]
    assert out["eval"][0] == out["eval"][1]
