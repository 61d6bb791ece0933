"""hw4jax.pytorch.interop: PyTorch state_dict <-> Flax variables, .pt files, checkpoint export."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hw4jax.cnn.model import CNN  # noqa: E402
from hw4jax.pytorch import interop as torch_interop  # noqa: E402
from hw4jax.pytorch import parity  # noqa: E402
from hw4jax.pytorch import reference as torch_reference  # noqa: E402
from hw4jax.training import checkpoints  # noqa: E402
from hw4jax.training.config import get_config  # noqa: E402
from hw4jax.training.optimizers import make_optimizer  # noqa: E402
from hw4jax.training.state import TrainState  # noqa: E402
from hw4jax.training.steps import train_step  # noqa: E402


def _net_state_dict(seed: int = 0, dtype=torch.float32) -> dict[str, np.ndarray]:
    """A Net state_dict with every entry off its default (random running statistics and
    counters), so that a swapped or transposed entry cannot go unnoticed."""
    torch.manual_seed(seed)
    net = torch_reference.Net().to(dtype)
    rng = np.random.default_rng(seed)
    sd = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    for key in sd:
        if key.endswith(("running_mean", "running_var")):
            sd[key] = rng.uniform(0.5, 2.0, sd[key].shape).astype(sd[key].dtype)
        elif key.endswith("num_batches_tracked"):
            sd[key] = np.asarray(7, np.int64)
        elif key.startswith("conv_layer.") and sd[key].ndim == 1:  # BN affine, conv biases
            sd[key] = rng.normal(size=sd[key].shape).astype(sd[key].dtype)
    return sd


def test_layout_tables_match_net_and_cnn():
    """The key/shape tables equal Net().state_dict() (keys in order) and CNN's variables,
    and the index tables point at Net's conv, BatchNorm and linear layers."""
    net_sd = torch_reference.Net().state_dict()
    assert list(torch_interop.TORCH_SHAPES) == list(net_sd)
    assert torch_interop.TORCH_SHAPES == {k: tuple(v.shape) for k, v in net_sd.items()}
    shapes = jax.eval_shape(
        lambda: CNN().init({"params": jax.random.key(0)}, jnp.zeros((1, 32, 32, 3)), train=False)
    )
    assert jax.tree.map(lambda s: tuple(s.shape), shapes) == torch_interop.FLAX_SHAPES
    net = torch_reference.Net()
    assert all(
        isinstance(net.conv_layer[i], torch.nn.Conv2d)
        for i in torch_interop.TORCH_CONV_INDEX.values()
    )
    assert all(
        isinstance(net.conv_layer[i], torch.nn.BatchNorm2d)
        for i in torch_interop.TORCH_BN_INDEX.values()
    )
    assert all(
        isinstance(net.fc_layer[i], torch.nn.Linear) for i in torch_interop.TORCH_FC_INDEX.values()
    )


def test_layouts_element_by_element():
    """conv OIHW -> HWIO, linear transposed, fc1's rows from PyTorch's (C, H, W) flatten to
    hw4jax's (H, W, C), BatchNorm entries by name; num_batches_tracked dropped."""
    sd = _net_state_dict()
    v = torch_interop.state_dict_to_variables(sd)
    np.testing.assert_array_equal(
        v["params"]["conv4"]["kernel"][1, 2, 5, 7], sd["conv_layer.9.weight"][7, 5, 1, 2]
    )
    np.testing.assert_array_equal(v["params"]["fc2"]["kernel"], sd["fc_layer.4.weight"].T)
    c, h, w, out = 17, 4, 1, 100
    np.testing.assert_array_equal(
        v["params"]["fc1"]["kernel"][(h * 6 + w) * 160 + c, out],
        sd["fc_layer.2.weight"][out, (c * 6 + h) * 6 + w],
    )
    np.testing.assert_array_equal(v["params"]["bn2"]["scale"], sd["conv_layer.7.weight"])
    np.testing.assert_array_equal(v["batch_stats"]["bn3"]["var"], sd["conv_layer.14.running_var"])
    np.testing.assert_array_equal(v["batch_stats"]["bn1"]["mean"], sd["conv_layer.1.running_mean"])
    assert set(v["batch_stats"]["bn1"]) == {"mean", "var"}


def test_imported_weights_give_pytorchs_eval_logits_float64():
    """With imported float64 weights, hw4jax's eval-mode logits equal Net's to 1e-13
    normwise: the layouts (fc1's permutation included) are the same function."""
    sd = _net_state_dict(dtype=torch.float64)
    net = torch_reference.Net().double().eval()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    x = np.random.default_rng(1).standard_normal((4, 3, 32, 32))
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    with jax.enable_x64(True):
        got = CNN().apply(
            torch_interop.state_dict_to_variables(sd),
            jnp.asarray(x.transpose(0, 2, 3, 1)),
            train=False,
        )
        assert got.dtype == jnp.float64
    assert np.max(np.abs(np.asarray(got) - want)) <= 1e-13 * np.max(np.abs(want))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_round_trip_state_dict_flax_state_dict_is_exact(dtype):
    """state_dict -> variables -> state_dict gives back every entry bit for bit, with its
    dtype, in Net's key order; num_batches_tracked is the value passed back."""
    sd = _net_state_dict(dtype=dtype)
    back = torch_interop.variables_to_state_dict(
        torch_interop.state_dict_to_variables(sd), num_batches_tracked=7
    )
    assert list(back) == list(sd)
    for key, value in sd.items():
        assert back[key].dtype == value.dtype, key
        np.testing.assert_array_equal(back[key], value, err_msg=key)


def test_round_trip_flax_state_dict_flax_is_exact():
    """CNN variables (random, of CNN's shapes: see the layout test) -> state_dict ->
    variables gives back every array bit for bit."""
    rng = np.random.default_rng(3)
    variables = jax.tree.map(
        lambda shape: jnp.asarray(rng.normal(size=shape), jnp.float32),
        torch_interop.FLAX_SHAPES,
        is_leaf=lambda x: isinstance(x, tuple),
    )
    back = torch_interop.state_dict_to_variables(torch_interop.variables_to_state_dict(variables))
    jax.tree.map(np.testing.assert_array_equal, back, jax.tree.map(np.asarray, variables))


def test_num_batches_tracked_written_back():
    """num_batches_tracked defaults to 0 (a fresh Net's value), else the given step count,
    as int64 scalars that Net.load_state_dict takes."""
    v = torch_interop.state_dict_to_variables(_net_state_dict())
    assert torch_interop.variables_to_state_dict(v)["conv_layer.1.num_batches_tracked"] == 0
    sd = torch_interop.variables_to_state_dict(v, num_batches_tracked=1234)
    for index in (1, 7, 14):
        value = sd[f"conv_layer.{index}.num_batches_tracked"]
        assert value.dtype == np.int64 and value.shape == () and value == 1234
    net = torch_reference.Net()
    net.load_state_dict({k: torch.from_numpy(x) for k, x in sd.items()})
    assert int(net.conv_layer[7].num_batches_tracked) == 1234
    with pytest.raises(ValueError, match="num_batches_tracked"):
        torch_interop.variables_to_state_dict(v, num_batches_tracked=-1)


@pytest.mark.parametrize(
    "edit, match",
    [
        (
            lambda sd: sd.pop("conv_layer.7.running_var"),
            r"missing keys \['conv_layer.7.running_var'\]",
        ),
        (lambda sd: sd.pop("conv_layer.1.num_batches_tracked"), "conv_layer.1.num_batches_tracked"),
        (lambda sd: sd.update(extra=np.zeros(1)), r"unexpected keys \['extra'\]"),
        (
            lambda sd: sd.update({"fc_layer.2.weight": np.zeros((1024, 5000), np.float32)}),
            r"state_dict\['fc_layer.2.weight'\] has shape \(1024, 5000\), expected \(1024, 5760\)",
        ),
        (
            lambda sd: sd.update({"conv_layer.0.weight": np.zeros((6, 3, 3, 3), np.int32)}),
            r"conv_layer.0.weight.*dtype int32",
        ),
    ],
)
def test_bad_state_dict_is_a_value_error_naming_the_entry(edit, match):
    """A missing, extra, wrong-shaped or non-float entry raises ValueError naming it."""
    sd = _net_state_dict()
    edit(sd)
    with pytest.raises(ValueError, match=match):
        torch_interop.state_dict_to_variables(sd)


def test_data_parallel_prefix_gets_a_hint():
    """Keys saved from nn.DataParallel ('module.' prefix) are refused with the fix named."""
    sd = {f"module.{k}": v for k, v in _net_state_dict().items()}
    with pytest.raises(ValueError, match="strip that DataParallel prefix"):
        torch_interop.state_dict_to_variables(sd)


def test_bad_variables_are_a_value_error_naming_the_entry():
    """Missing collection, missing layer, extra entry and wrong shape are each named."""
    v = torch_interop.state_dict_to_variables(_net_state_dict())
    with pytest.raises(ValueError, match="collections"):
        torch_interop.variables_to_state_dict({"params": v["params"]})
    params = dict(v["params"])
    del params["fc3"]
    with pytest.raises(ValueError, match=r"missing \['params/fc3'\]"):
        torch_interop.variables_to_state_dict({**v, "params": params})
    params = {**v["params"], "bn1": {**v["params"]["bn1"], "gamma": np.ones(6)}}
    with pytest.raises(ValueError, match=r"\['params'\]\['bn1'\] has entries"):
        torch_interop.variables_to_state_dict({**v, "params": params})
    params = {**v["params"], "conv2": {**v["params"]["conv2"], "kernel": np.zeros((3, 3, 10, 6))}}
    with pytest.raises(
        ValueError,
        match=r"\['conv2'\]\['kernel'\] has shape \(3, 3, 10, 6\), "
        r"expected \(3, 3, 6, 10\)",
    ):
        torch_interop.variables_to_state_dict({**v, "params": params})


def test_pt_file_round_trip_with_weights_only(tmp_path):
    """save_state_dict_file writes what torch.load(weights_only=True) and Net.load_state_dict
    accept; load_state_dict_file reads it back bit for bit."""
    sd = _net_state_dict()
    path = tmp_path / "net.pt"
    torch_interop.save_state_dict_file(sd, path)
    net = torch_reference.Net()
    net.load_state_dict(torch.load(path, weights_only=True))
    back = torch_interop.load_state_dict_file(path)
    assert list(back) == list(sd)
    for key in sd:
        np.testing.assert_array_equal(back[key], sd[key])
        np.testing.assert_array_equal(net.state_dict()[key].numpy(), sd[key])


class _NotAWeight:
    pass


def test_load_refuses_pickled_objects_and_missing_files(tmp_path):
    """weights_only=True: a file holding an arbitrary object is refused (ValueError), as
    are a missing file and a file that holds no dict of tensors."""
    path = tmp_path / "object.pt"
    torch.save({"x": _NotAWeight()}, path)
    with pytest.raises(ValueError, match="weights_only=True"):
        torch_interop.load_state_dict_file(path)
    with pytest.raises(ValueError, match="does not exist"):
        torch_interop.load_state_dict_file(tmp_path / "missing.pt")
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="does not hold a state_dict"):
        torch_interop.load_state_dict_file(tmp_path / "list.pt")


def test_export_checkpoint_gives_pytorch_the_same_predictions(tmp_path):
    """A hw4jax run trained for 3 steps and checkpointed, exported with export_checkpoint,
    loads into Net (weights_only) and gives hw4jax's eval logits (float32: each as close to
    float64 as the other) and predictions; num_batches_tracked is the step count."""
    config = get_config(batch_size=8, seed=0, augment=False)
    # The run's start state from PyTorch-initialized weights (the init hw4jax's CNN uses
    # too) rather than initial_state: CNN.init's compilation costs 10-40 s on a CPU,
    # and export_checkpoint's restore already runs it once.
    variables = torch_interop.state_dict_to_variables(_net_state_dict(seed=5))
    state = TrainState.create(
        apply_fn=CNN().apply,
        params=variables["params"],
        batch_stats=variables["batch_stats"],
        tx=make_optimizer(config.optimizer, config.learning_rate),
        key=jax.random.key_data(jax.random.key(0)),
    )
    state = state.replace(step=jnp.zeros((), jnp.int32))
    step = jax.jit(train_step)
    rng = np.random.default_rng(0)
    for _ in range(3):
        batch = {
            "image": rng.standard_normal((8, 32, 32, 3)).astype(np.float32),
            "label": rng.integers(0, 10, 8).astype(np.int32),
        }
        state, _ = step(state, batch)
    manager = checkpoints.checkpoint_manager(tmp_path)
    progress = {
        "epoch": 1,
        "step_in_epoch": 0,
        "totals": None,
        "history": [],
        "config": config.to_dict(),
    }
    assert checkpoints.save_checkpoint(manager, state, progress)

    out = tmp_path / "exported.pt"
    torch_interop.export_checkpoint(tmp_path, out)
    net = torch_reference.Net().eval()
    net.load_state_dict(torch.load(out, weights_only=True))
    assert int(net.conv_layer[1].num_batches_tracked) == 3

    images = rng.standard_normal((16, 32, 32, 3)).astype(np.float32)
    labels = rng.integers(0, 10, 16)
    want = CNN().apply(
        {"params": state.params, "batch_stats": state.batch_stats}, images, train=False
    )
    with torch.no_grad():
        got = net(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()
        exact = net.double()(torch.from_numpy(images.transpose(0, 3, 1, 2)).double()).numpy()
    # float32 on both sides: hw4jax as close to the float64 logits (same float32 weights and
    # images) as PyTorch is (hw4jax.pytorch.parity's criterion; no fixed tolerance to outgrow).
    row = parity.compare_to_reference("eval logits", want, got, exact)
    assert row.passed, row
    # The predictions agree too (the top two logits of random images are far further apart
    # than float32 rounding).
    np.testing.assert_array_equal(got.argmax(-1), np.asarray(want).argmax(-1))
    assert (got.argmax(-1) == labels).mean() == (np.asarray(want).argmax(-1) == labels).mean()

    with pytest.raises(ValueError, match="no checkpoint in"):
        torch_interop.export_checkpoint(tmp_path / "empty", out)
    with pytest.raises(ValueError, match=r"no checkpoint of step 99 .* it has steps \[3\]"):
        torch_interop.export_checkpoint(tmp_path, out, step=99)
