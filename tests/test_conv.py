"""hw4jax.cnn.conv computes XLA's (and PyTorch's) stride-1 convolution, values and gradients."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from script_loader import load_script

from hw4jax.cnn import conv as conv_lib
from hw4jax.cnn import model as models
from hw4jax.pytorch import parity

# (batch, height, width, in channels, out channels, padding): the model's two kinds of layer
# ('same' padding 1, and padding 2 that grows the image) at reduced sizes, an unpadded
# non-square case and an asymmetric padding.
CASES = [
    (2, 8, 8, 3, 6, 1),
    (2, 5, 5, 8, 16, 2),
    (3, 7, 5, 4, 3, 0),
    (1, 6, 8, 2, 5, ((0, 2), (1, 0))),
]
# (method, input_grad, batch_chunk): batch_chunk 1 and 2 run the backward pass in blocks,
# with a smaller last block where the batch (1-3 here) does not divide.
METHODS = [
    ("patches", "transpose", None),
    ("hybrid", "col2im", None),
    ("hybrid", "xla", 2),
    ("hybrid", "col2im", 1),
    ("auto", "col2im", 2),
]


def _pad_pairs(padding):
    return ((padding, padding), (padding, padding)) if isinstance(padding, int) else padding


def _reference(x, kernel, bias, padding):
    return (
        jax.lax.conv_general_dilated(
            x,
            kernel,
            (1, 1),
            _pad_pairs(padding),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision=jax.lax.Precision.HIGHEST,
        )
        + bias
    )


def _inputs(case, dtype):
    """x, kernel, bias and an output cotangent, drawn with numpy (no eager JAX compiles)."""
    n, h, w, c, o, padding = case
    rng = np.random.default_rng(sum(case[:5]))
    x = rng.normal(size=(n, h, w, c)).astype(dtype)
    kernel = rng.normal(size=(3, 3, c, o)).astype(dtype)
    bias = rng.normal(size=(o,)).astype(dtype)
    y_shape = jax.eval_shape(lambda: _reference(x, kernel, bias, padding)).shape
    cotangent = rng.normal(size=y_shape).astype(dtype)
    return x, kernel, bias, cotangent


def _value_and_grads(fn, x, kernel, bias, cotangent):
    """fn's output and the gradients of <fn(x, kernel, bias), cotangent> w.r.t. all three."""
    y = fn(x, kernel, bias)
    grads = jax.grad(lambda *a: jnp.sum(fn(*a) * cotangent), argnums=(0, 1, 2))(x, kernel, bias)
    return (y, *grads)


def _max_relative_error(got, want):
    got, want = np.asarray(got), np.asarray(want)
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


@pytest.mark.parametrize("method,input_grad,batch_chunk", METHODS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:5])) + f"p{c[5]}")
def test_matches_xla_in_float64_and_float32(case, method, input_grad, batch_chunk):
    """Output, d/dx, d/dkernel and d/dbias equal lax.conv_general_dilated's to 1e-12 relative
    in float64 (the same function), and in float32 are as close to the float64 values as
    XLA's own float32 convolution is (parity.compare_to_reference: within 4 times XLA's
    error plus 4 ulps of the scale, on any CPU), under jit, whole-batch and in blocks."""
    padding = case[-1]

    def ours(x, kernel, bias):
        return conv_lib.conv2d(
            x,
            kernel,
            bias,
            padding=padding,
            method=method,
            input_grad=input_grad,
            batch_chunk=batch_chunk,
        )

    def ref(x, kernel, bias):
        return _reference(x, kernel, bias, padding)

    def run(fn, dtype, args):
        with jax.enable_x64(dtype == jnp.float64):
            args = [jnp.asarray(a, dtype) for a in args]
            out = jax.jit(lambda *a: _value_and_grads(fn, *a))(*args)
            for o in out:
                assert o.dtype == dtype
            return [np.asarray(o, np.float64) for o in out]

    # float32 inputs; the float64 runs start from exactly their values.
    args = [np.asarray(a, np.float64) for a in _inputs(case, np.float32)]
    exact, got64 = run(ref, jnp.float64, args), run(ours, jnp.float64, args)
    got32, xla32 = run(ours, jnp.float32, args), run(ref, jnp.float32, args)
    for name, g64, want, g32, x32 in zip(
        ("y", "dx", "dkernel", "dbias"), got64, exact, got32, xla32
    ):
        assert g64.shape == want.shape == g32.shape, name
        err = _max_relative_error(g64, want)
        assert err < 1e-12, f"{name} float64: relative error {err:.3g}"
        row = parity.compare_to_reference(name, g32, x32, want)
        assert row.passed, (
            f"{name} float32: error {row.max_abs_error:.3g} against float64, "
            f"XLA's {row.torch_error:.3g}, bound {row.tolerance:.3g}"
        )


@pytest.mark.parametrize("method,batch_chunk", [("patches", None), ("hybrid", None), ("hybrid", 2)])
def test_matches_torch_conv2d(method, batch_chunk):
    """Forward and both gradients equal torch.nn.functional.conv2d's (float64, NCHW/OIHW
    transposed), for the model's padded layer shape (9x9x40 -> 11x11x80, padding 2), with
    the backward pass whole and in blocks (5 images in blocks of 2)."""
    torch = pytest.importorskip("torch")
    case = (5, 9, 9, 40, 80, 2)
    with jax.enable_x64(True):
        x, kernel, bias, cotangent = (jnp.asarray(a) for a in _inputs(case, np.float64))
        y, dx, dkernel, dbias = _value_and_grads(
            lambda x, k, b: conv_lib.conv2d(
                x, k, b, padding=2, method=method, batch_chunk=batch_chunk
            ),
            x,
            kernel,
            bias,
            cotangent,
        )
    tx = torch.tensor(np.asarray(x).transpose(0, 3, 1, 2), requires_grad=True)
    tk = torch.tensor(np.asarray(kernel).transpose(3, 2, 0, 1), requires_grad=True)
    tb = torch.tensor(np.asarray(bias), requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tk, tb, padding=2)
    ty.backward(torch.tensor(np.asarray(cotangent).transpose(0, 3, 1, 2)))
    pairs = [
        (y, ty.detach().numpy().transpose(0, 2, 3, 1)),
        (dx, tx.grad.numpy().transpose(0, 2, 3, 1)),
        (dkernel, tk.grad.numpy().transpose(2, 3, 1, 0)),
        (dbias, tb.grad.numpy()),
    ]
    for got, want in pairs:
        assert _max_relative_error(got, want) < 1e-12


def test_auto_is_hand_written_on_cpu_and_xla_elsewhere():
    """'auto' takes the hand-written gradients on CPU, where XLA's are slow, and XLA's own
    convolution on accelerators, following the default backend."""
    assert conv_lib.choose_method("cpu") == "hybrid"
    assert conv_lib.choose_method("gpu") == "xla"
    assert conv_lib.choose_method("tpu") == "xla"
    x, kernel = jnp.zeros((2, 5, 5, 3)), jnp.zeros((3, 3, 3, 4))
    jaxpr = str(jax.make_jaxpr(lambda k: conv_lib.conv2d(x, k, padding=1))(kernel))
    assert ("custom_vjp_call" in jaxpr) == (jax.default_backend() == "cpu")


def test_module_matches_flax_conv():
    """conv.Conv has flax.linen.Conv's variables (names, shapes, initial values for the same
    key) and output, so it drops into the CNN without changing its checkpoints. Its forward
    is XLA's convolution at the highest precision, so it equals flax's at that precision
    bit for bit (the same HLO op)."""
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 9, 9, 40)), jnp.float32)
    kwargs = dict(
        kernel_init=models.torch_default_kernel_init, bias_init=models.torch_default_bias_init(360)
    )
    ours = conv_lib.Conv(80, (3, 3), padding=((2, 2), (2, 2)), **kwargs)
    flax_conv = nn.Conv(
        80, (3, 3), padding=((2, 2), (2, 2)), precision=jax.lax.Precision.HIGHEST, **kwargs
    )
    v_ours = jax.jit(ours.init)(jax.random.key(0), x)
    v_flax = jax.jit(flax_conv.init)(jax.random.key(0), x)
    assert jax.tree.structure(v_ours) == jax.tree.structure(v_flax)
    for a, b in zip(jax.tree.leaves(v_ours), jax.tree.leaves(v_flax)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        jax.jit(ours.apply)(v_ours, x), jax.jit(flax_conv.apply)(v_flax, x)
    )


def test_cnn_variables_unchanged():
    """The CNN's conv variables keep their names and HWIO shapes (checkpoints still load)."""
    variables = jax.eval_shape(
        lambda: models.CNN().init(
            {"params": jax.random.key(0)}, jnp.zeros((1, 32, 32, 3)), train=False
        )
    )
    channels = 3
    for name, features, _ in models.CONV_LAYERS:
        p = variables["params"][name]
        assert set(p) == {"kernel", "bias"}
        assert p["kernel"].shape == (3, 3, channels, features)
        assert p["bias"].shape == (features,)
        channels = features


@pytest.mark.parametrize(
    "bad,match",
    [
        (dict(x=jnp.zeros((2, 8, 8)), kernel=jnp.zeros((3, 3, 3, 4))), "x \\[N, H, W, C\\]"),
        (dict(x=jnp.zeros((2, 8, 8, 3)), kernel=jnp.zeros((3, 3, 4, 3))), "HWIO"),
        (dict(x=jnp.zeros((2, 8, 8, 3)), kernel=jnp.zeros((3, 3, 3, 4)), method="fft"), "method"),
        (
            dict(x=jnp.zeros((2, 8, 8, 3)), kernel=jnp.zeros((3, 3, 3, 4)), input_grad="x"),
            "input_grad",
        ),
        (
            dict(x=jnp.zeros((2, 8, 8, 3)), kernel=jnp.zeros((3, 3, 3, 4)), batch_chunk=0),
            "batch_chunk",
        ),
        (
            dict(x=jnp.zeros((2, 8, 8, 3)), kernel=jnp.zeros((3, 3, 3, 4)), batch_chunk=2.0),
            "batch_chunk",
        ),
    ],
)
def test_bad_arguments_raise_value_error(bad, match):
    """Mismatched shapes and unknown options raise ValueError naming the problem."""
    with pytest.raises(ValueError, match=match):
        conv_lib.conv2d(**bad)


def _bench_script():
    return load_script("bench.py")


def test_bench_flops_and_bad_flags(capsys):
    """scripts/bench.py: the model's FLOP count is the known 65 MFLOP forward / 195 train per
    image, and a bad flag exits 2 with one 'error:' line (before any measurement)."""
    bench = _bench_script()
    assert round(bench.FORWARD_FLOPS / 1e6) == 65
    assert round(bench.TRAIN_FLOPS / 1e6) == 195
    assert bench.main(["--repeats", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")


def test_bench_memory_child_measures_one_framework():
    """scripts/bench.py's memory measurement (a fresh interpreter running the script with
    --memory-child, on PyTorch at batch 2): the process trains and evaluates the homework's
    Net and reports its peak memory (MiB), the model and steps above the imported framework,
    the peak while stepping no more than the peak with the model's construction; the table
    shows the stepping peaks beside the figures."""
    bench = _bench_script()
    mem = bench.measure_memory("torch", 2, threads=1)
    assert 0 < mem["stepping_above_import_mib"] <= mem["above_import_mib"]
    assert mem["stepping_peak_mib"] <= mem["peak_mib"]
    row = {"batch_size": 2, "jax_first_step_seconds": 1.0}
    for name in ("jax", "torch"):
        row |= {f"{name}_{kind}": 10.0 for kind in ("train", "eval")}
        row |= {f"{name}_{key}": value for key, value in mem.items()}
    row |= {f"{kind}_ratio_vs_best_torch": 1.0 for kind in ("train", "eval")}
    table = bench.format_table(
        {
            "rows": [row],
            "gemm_gflops": 100.0,
            "train_mflop_per_image": 195,
            "eval_mflop_per_image": 65,
            "pipeline_images_per_second": None,
            "threads": 2,
            "jax": "x",
            "torch": "y",
            "jax_peak_bytes_in_use": None,
            "load_average_start": 0.0,
            "load_average_end": 0.0,
        }
    )
    stepping = f"{mem['stepping_peak_mib']:.0f} ({mem['stepping_above_import_mib']:.0f})"
    assert table.splitlines()[1].split()[-2:] == stepping.split()


def test_bench_levers_kept_option_changes_no_number(capsys):
    """scripts/bench_levers.py at batch 2: the train step compiled as hw4jax compiles it now
    (copy insertion's region analysis) gives weights bit-equal to XLA's defaults after 8
    steps, and so do 8 steps in one scanned call; the step without dropout and the
    hash-dropout prototype (a model piece swapped while tracing) do not (the comparison can
    fail, and the swap takes); an unknown variant exits 2 with one 'error:' line."""
    levers = load_script("bench_levers.py")
    names = ["before", "kept", "no_dropout", "scan8", "hash_dropout"]
    rows = levers.run_levers(2, names, repeats=1, chunk_seconds=0.01)
    assert [r["bit_equal"] for r in rows] == [True, True, False, True, False]
    assert all(r["images_per_second"] > 0 for r in rows)
    assert levers.main(["--variants", "kept", "turbo"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "turbo" in err[0]
