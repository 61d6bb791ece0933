"""hw4jax.augment.jax_ops against torchvision's golden fixtures and against tf_ops, bit for bit.

The fixtures (tests/data/augment_golden.npz, see tests/test_augment.py) hold torchvision's
outputs on 300 real CIFAR-10 images and 500 warps of a coordinate image. Every array is
reproduced with 0 differing pixels eagerly, under ``jit`` and under ``jit(vmap(...))``;
then the JAX ops equal the TensorFlow ops on thousands of random draws, parameters and
uniforms map to parameters identically in both backends, and the random wrappers draw
torchvision's distributions.

Compilation dominates the cost here, so every warp and chain call uses one batch shape,
``BATCH`` rows: the 300 fixture images, then 300 coordinate-image warps. Each program
compiles once per mode, and the ``jit`` and ``jit(vmap)`` checks run all ops in one
program each (XLA shares what the ops have in common).
"""

from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import tensorflow as tf

from hw4jax import augment
from hw4jax.augment import jax_ops, spec, tf_ops
from hw4jax.data import cifar10_archive

GOLDEN = Path(__file__).parent / "data" / "augment_golden.npz"
FIXTURE_ROWS = 300  # the fixture's images; then as many coordinate-image warps
BATCH = 2 * FIXTURE_ROWS
SINGLE_OPS = (
    "flipped",
    "rotated",
    "affined",
    "brightness_out",
    "contrast_out",
    "saturation_out",
    "jittered",
    "chain",
    "chain_normalized",
)
IDENTITY = dict(
    flip=False,
    angle=0.0,
    scale=1.0,
    shear=0.0,
    order=(0, 1, 2),
    brightness=1.0,
    contrast=1.0,
    saturation=1.0,
)


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as data:
        return {k: data[k] for k in data.files}


def _all_ops(images, p: spec.AugmentParams) -> dict:
    """Every public op of jax_ops on images [..., H, W, 3] with per-image parameters."""
    return {
        "flipped": jax_ops.horizontal_flip(images),
        "rotated": jax_ops.rotate(images, p.angle),
        "affined": jax_ops.affine(images, p.scale, p.shear),
        "brightness_out": jax_ops.adjust_brightness(images, p.brightness),
        "contrast_out": jax_ops.adjust_contrast(images, p.contrast),
        "saturation_out": jax_ops.adjust_saturation(images, p.saturation),
        "jittered": jax_ops.color_jitter(images, p.order, p.brightness, p.contrast, p.saturation),
        "chain": jax_ops.apply_params(images, p),
        "chain_normalized": jax_ops.apply_params_normalized(images, p),
    }


def _batches(golden) -> list[tuple[np.ndarray, spec.AugmentParams, np.ndarray]]:
    """Two batches of BATCH rows: the fixture's images with their parameters, then the
    coordinate image with warp parameters (500 of them, the last 100 repeated), and for
    each the indices of its warps."""
    names = spec.AugmentParams._fields
    fixture = {k: golden[k] for k in names}
    out = []
    for start in (0, FIXTURE_ROWS):
        warps = np.arange(start, start + FIXTURE_ROWS) % len(golden["warp_angle"])
        coordinate = {
            k: np.broadcast_to(np.asarray(v), (FIXTURE_ROWS,) + np.shape(v))
            for k, v in IDENTITY.items()
        }
        coordinate |= {
            "angle": golden["warp_angle"][warps],
            "scale": golden["warp_scale"][warps],
            "shear": golden["warp_shear"][warps],
        }
        params = spec.AugmentParams(
            **{
                k: np.concatenate([fixture[k], np.asarray(coordinate[k], fixture[k].dtype)])
                for k in names
            }
        )
        images = np.concatenate(
            [golden["images"], np.broadcast_to(golden["coordinates"], (FIXTURE_ROWS, 32, 32, 3))]
        )
        out.append((images, params, warps))
    return out


MODES = {
    "eager": lambda: _all_ops,
    "jit": lambda: jax.jit(_all_ops),
    "jit_vmap": lambda: jax.jit(jax.vmap(_all_ops)),
}


@pytest.fixture(scope="module")
def programs() -> dict:
    """The compiled functions of each mode, kept for the recompilation test."""
    return {mode: make() for mode, make in MODES.items()}


@pytest.fixture(scope="module")
def outputs(golden, programs) -> dict:
    """Each mode's outputs on both batches (computed once, checked by several tests)."""
    return {
        mode: [
            jax.tree.map(np.asarray, run(images, params)) for images, params, _ in _batches(golden)
        ]
        for mode, run in programs.items()
    }


def _differing_images(actual, expected) -> list[int]:
    actual = np.asarray(actual)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    return np.flatnonzero(np.any(actual != expected, axis=tuple(range(1, actual.ndim)))).tolist()


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", SINGLE_OPS)
def test_op_reproduces_torchvision(golden, outputs, mode, name):
    """Each op (and the chain, and the chain after ToTensor + Normalize) gives
    torchvision's uint8 (or float32) outputs on the fixture's real images with their
    parameters, 0 differing pixels, eagerly, under jit and under jit(vmap)."""
    want = golden[name]
    got = outputs[mode][0][name][: len(want)]
    assert _differing_images(got, want) == []


@pytest.mark.parametrize("mode", list(MODES))
def test_warps_reproduce_pillow_on_the_coordinate_image(golden, outputs, mode):
    """500 rotations and affines of the coordinate image: each warp's whole source map is
    Pillow's, including multiples of 90 degrees and shear 0 (Pillow's scale path)."""
    for (_, _, warps), out in zip(_batches(golden), outputs[mode]):
        for name, key in [("rotated", "coordinates_rotated"), ("affined", "coordinates_affined")]:
            assert _differing_images(out[name][FIXTURE_ROWS:], golden[key][warps]) == []
    assert {0, 90, 180, 270, -90}.issubset(set(golden["warp_angle"].tolist()))
    assert np.sum(golden["warp_shear"] == 0) >= 5


@pytest.mark.parametrize("mode", list(MODES))
def test_normalized_chain_is_totensor_normalize_of_the_chain(golden, outputs, mode):
    """apply_params_normalized = ToTensor + Normalize of torchvision's chain, bitwise, on
    all 300 images (the fixture's float32 array covers 16)."""
    levels = np.asarray(golden["levels_normalized"])
    want = levels[golden["chain"]]
    assert np.array_equal(outputs[mode][0]["chain_normalized"][:FIXTURE_ROWS], want)


def test_to_float_normalized_matches_torch_on_every_level(golden):
    """ToTensor + Normalize of each uint8 level is torch's float32, eagerly, under jit and
    under jit(vmap) (one-pixel images)."""
    levels = np.repeat(np.arange(256, dtype=np.uint8)[:, None, None, None], 3, axis=-1)
    for f in (
        jax_ops.to_float_normalized,
        jax.jit(jax_ops.to_float_normalized),
        jax.jit(jax.vmap(jax_ops.to_float_normalized)),
    ):
        np.testing.assert_array_equal(
            np.asarray(f(levels))[:, 0, 0, 0], golden["levels_normalized"]
        )


def test_grayscale_is_pillows_for_every_colour_level():
    """grayscale is Pillow's integer 'L' conversion; checked on 2^18 colours spanning all
    levels of each channel."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    rgb[0, :256, 0] = rgb[1, :256, 1] = rgb[2, :256, 2] = np.arange(256)
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    want = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16
    np.testing.assert_array_equal(jax_ops.grayscale(rgb), want.astype(np.uint8))
    np.testing.assert_array_equal(jax_ops.grayscale(rgb), tf_ops.grayscale(rgb).numpy())


# ----------------------------------------------------------------------------- vs tf_ops


def _real_or_random_images(count: int, seed: int) -> tuple[np.ndarray, str]:
    """CIFAR-10 test images when the archive is present, else random uint8 images."""
    path = cifar10_archive.default_archive_path()
    if path.is_file():
        images, _ = cifar10_archive.read_split(path, "test")
        rng = np.random.default_rng(seed)
        return images[rng.choice(len(images), count, replace=False)], "real CIFAR-10"
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8), "random"


def _wide_params(rng, n: int) -> spec.AugmentParams:
    """Parameters well beyond the homework's ranges, with Pillow's special cases mixed
    in: multiples of 90 degrees, shear 0 (the scale path), factors 0 and 1."""

    def uniform(lo, hi):
        return rng.uniform(lo, hi, n).astype(np.float32)

    p = dict(
        flip=rng.random(n) < 0.5,
        angle=uniform(-400, 400),
        scale=uniform(0.4, 2.5),
        shear=uniform(-60, 60),
        brightness=uniform(0, 2.5),
        contrast=uniform(0, 2.5),
        saturation=uniform(0, 2.5),
        order=np.array(spec.JITTER_ORDERS, np.int32)[rng.integers(0, 6, n)],
    )
    special = rng.random(n) < 0.1
    p["angle"][special] = rng.choice([0, 90, 180, 270, -90, 360, -180], special.sum())
    p["shear"][rng.random(n) < 0.15] = 0.0
    for name in ("brightness", "contrast", "saturation"):
        special = rng.random(n) < 0.05
        p[name][special] = rng.choice([0.0, 1.0], special.sum())
    return spec.AugmentParams(**p)


def _homework_params(seed: int, n: int) -> spec.AugmentParams:
    u = tf.random.stateless_uniform([n, spec.NUM_UNIFORMS], seed=[seed, 7])
    return jax.tree.map(np.asarray, tf_ops.sample_params_from_uniforms(u))


def test_jax_ops_equal_tf_ops_on_random_draws():
    """For the same parameters the JAX ops give the TensorFlow ops' pixels (and floats,
    bitwise) on 3,000 draws: half on real images (random ones without the archive), half
    on the coordinate image (which pins each warp's whole source map); the homework's
    draws and wide ones, special values included."""
    batches = 5
    images, _ = _real_or_random_images(batches * FIXTURE_ROWS, seed=1)
    coordinate = np.broadcast_to(_coordinate_image(), (FIXTURE_ROWS, 32, 32, 3))
    rng = np.random.default_rng(2)
    for i in range(batches):
        batch = np.concatenate([images[i * FIXTURE_ROWS : (i + 1) * FIXTURE_ROWS], coordinate])
        params = _wide_params(rng, BATCH) if i % 2 else _homework_params(i, BATCH)
        pairs = [
            (jax_ops.rotate(batch, params.angle), tf_ops.rotate(batch, params.angle)),
            (
                jax_ops.affine(batch, params.scale, params.shear),
                tf_ops.affine(batch, params.scale, params.shear),
            ),
            (
                jax_ops.horizontal_flip(batch, params.flip),
                tf_ops.horizontal_flip(batch, params.flip),
            ),
            (jax_ops.apply_params(batch, params), tf_ops.apply_params(batch, params)),
            (
                jax_ops.apply_params_normalized(batch, params),
                tf_ops.apply_params_normalized(batch, params),
            ),
        ]
        for got, want in pairs:
            assert _differing_images(got, want.numpy()) == []


def _coordinate_image() -> np.ndarray:
    """Pixel (x, y) = (8x, 8y, 255): a warp's output on it spells its source map."""
    x = np.arange(32) * 8
    return np.stack(np.broadcast_arrays(x[None, :], x[:, None], 255), axis=-1).astype(np.uint8)


def test_warps_equal_tf_on_the_homeworks_possible_draws():
    """The homework's sampler draws angle, scale and shear from uniforms k / 2^23: 2^23
    possible values of each. For 9,600 of them evenly spread (all 8,388,608 with
    HW4JAX_AUGMENT_EXHAUSTIVE=1), the JAX warps' source maps equal
    TensorFlow's (its float64 matrices): the rotation, the affine (shears paired at
    random with scales), and the affine with shear 0 (Pillow's scale path)."""
    exhaustive = os.environ.get("HW4JAX_AUGMENT_EXHAUSTIVE") == "1"
    # Batches of BATCH reuse the programs compiled above; all draws take larger ones.
    count, size = (2**23, 2**14) if exhaustive else (16 * BATCH, BATCH)
    k = np.unique(np.linspace(0, 2**23 - 1, count).astype(np.int64))
    u = np.repeat((k / 2**23).astype(np.float32)[:, None], spec.NUM_UNIFORMS, axis=1)
    drawn = tf_ops.sample_params_from_uniforms(u)
    angle, scale = drawn.angle.numpy(), drawn.scale.numpy()
    shear = drawn.shear.numpy()[np.random.default_rng(8).permutation(len(k))]

    def tf_source(matrix):
        return tf_ops._affine_source(matrix, 32, 32).numpy()

    for start in range(0, len(k), size):
        part = np.arange(start, start + size) % len(k)  # the last batch wraps around
        a, s, h = angle[part], scale[part], shear[part]
        np.testing.assert_array_equal(
            jax_ops._rotation_source(a, np.zeros(size, bool), 32, 32),
            tf_source(tf_ops.rotation_matrix(a, 32, 32)),
        )
        np.testing.assert_array_equal(
            jax_ops._affine_source(s, h, 32, 32), tf_source(tf_ops.affine_matrix(s, h, 32, 32))
        )
        zero = np.zeros(size, np.float32)
        np.testing.assert_array_equal(
            jax_ops._affine_source(s, zero, 32, 32),
            tf_source(tf_ops.affine_matrix(s, zero, 32, 32)),
        )


def test_jax_ops_equal_tf_ops_on_other_image_sizes():
    """Odd, non-square images (centres at half pixels) follow the same formulas: the JAX
    warps and chain equal TensorFlow's for wide parameters."""
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (64, 17, 23, 3), dtype=np.uint8)
    params = _wide_params(rng, 64)
    np.testing.assert_array_equal(
        jax_ops.apply_params(images, params), tf_ops.apply_params(images, params).numpy()
    )
    np.testing.assert_array_equal(
        jax_ops.affine(images, params.scale, params.shear),
        tf_ops.affine(images, params.scale, params.shear).numpy(),
    )


def _edge_uniforms(n: int, seed: int) -> np.ndarray:
    """Uniforms as both pipelines draw them (k / 2^23) and the values that matter most:
    0, 1/2 (the flip threshold, a zero angle and shear), k/6 (order boundaries), 1 - ulp."""
    rng = np.random.default_rng(seed)
    u = (rng.integers(0, 2**23, (n, spec.NUM_UNIFORMS)) / 2**23).astype(np.float32)
    edges = np.float32([0.0, 0.5, 1 / 6, 2 / 6, 4 / 6, 5 / 6, 1 - 2**-23, 2**-23, 0.25, 0.75])
    u[: len(edges)] = edges[:, None]
    return u


@pytest.mark.parametrize(
    "config",
    [
        spec.AugmentConfig(),
        spec.AugmentConfig(shear_degrees=0),
        spec.AugmentConfig(
            rotation_degrees=180,
            shear_degrees=45,
            scale=(0.5, 2.0),
            brightness=0.9,
            contrast=1.5,
            saturation=0.01,
        ),
        spec.AugmentConfig(
            flip=False,
            rotation_degrees=0,
            shear_degrees=0,
            scale=None,
            brightness=0,
            contrast=0,
            saturation=0,
        ),
    ],
    ids=["homework", "scale-only", "wide", "all-off"],
)
def test_uniforms_give_the_same_params_in_both_backends(config):
    """spec.params_from_uniforms through each backend: identical parameters, bit for bit,
    for 20,000 rows and the edge values (eagerly and under jit(vmap) in JAX)."""
    u = _edge_uniforms(20_000, seed=4)
    want = tf_ops.sample_params_from_uniforms(u, config)
    got = jax_ops.sample_params_from_uniforms(u, config)
    vmapped = jax.jit(jax.vmap(lambda row: jax_ops.sample_params_from_uniforms(row, config)))(u)
    for name in spec.AugmentParams._fields:
        for candidate in (got, vmapped):
            value = np.asarray(getattr(candidate, name))
            assert value.dtype == getattr(want, name).numpy().dtype, name
            np.testing.assert_array_equal(value, getattr(want, name).numpy(), err_msg=name)


def test_epoch_uniforms_give_the_tf_data_pipelines_pixels():
    """The on-device path: the rows the tf.data pipeline draws for an epoch
    (pipeline.epoch_uniforms), mapped by jax_ops and applied by jax_ops, give the
    pipeline's normalised floats (tf_ops on the same rows), bitwise."""
    from hw4jax.data import pipeline as input_pipeline

    images, _ = _real_or_random_images(BATCH, seed=5)
    _, key = input_pipeline.epoch_keys(0, 3)
    uniforms = input_pipeline.epoch_uniforms(key, BATCH).numpy()
    want = tf_ops.apply_params_normalized(images, tf_ops.sample_params_from_uniforms(uniforms))
    got = jax_ops.apply_params_normalized(images, jax_ops.sample_params_from_uniforms(uniforms))
    np.testing.assert_array_equal(np.asarray(got), want.numpy())


# ----------------------------------------------------------------------------- random


@pytest.fixture(scope="module")
def draws() -> spec.AugmentParams:
    """20,000 parameter draws from one key, homework config."""
    return jax.tree.map(np.asarray, jax_ops.sample_params(jax.random.key(11), shape=(20_000,)))


def test_draws_have_torchvisions_distributions(draws):
    """Flip rate 1/2 (within 5 standard errors); angle, scale, shear and the factors
    uniform on their ranges (in range, both ends reached, 10 bins within chi-square 40,
    p < 1e-5 by chance); the 6 colour orders equally likely (chi-square 30); no two
    parameters correlated (|r| < 0.04)."""
    n = len(draws.flip)
    assert abs(draws.flip.mean() - 0.5) < 5 * np.sqrt(0.25 / n)
    ranges = {
        "angle": (-10, 10),
        "scale": (0.8, 1.2),
        "shear": (-10, 10),
        "brightness": (0.8, 1.2),
        "contrast": (0.8, 1.2),
        "saturation": (0.8, 1.2),
    }
    for name, (lo, hi) in ranges.items():
        values = getattr(draws, name)
        assert values.dtype == np.float32
        assert lo <= values.min() < lo + 0.01 * (hi - lo)
        assert hi - 0.01 * (hi - lo) < values.max() <= hi
        counts, _ = np.histogram(values, bins=10, range=(lo, hi))
        assert np.sum((counts - n / 10) ** 2 / (n / 10)) < 40, name
    index = [spec.JITTER_ORDERS.index(tuple(o)) for o in draws.order.tolist()]
    counts = np.bincount(index, minlength=6)
    assert np.sum((counts - n / 6) ** 2 / (n / 6)) < 30
    stacked = np.stack([getattr(draws, k) for k in ranges] + [draws.flip.astype(np.float32)])
    assert np.max(np.abs(np.corrcoef(stacked) - np.eye(len(stacked)))) < 0.04


def test_random_wrappers_are_deterministic_per_key_and_only_draw(golden):
    """The same key gives the same parameters and pixels, another key others;
    random_augment is apply_params of sample_params (the wrapper only draws)."""
    images = _batches(golden)[0][0]
    key = jax.random.key(5)
    first = jax_ops.random_augment(key, images)
    np.testing.assert_array_equal(first, jax_ops.random_augment(key, images))
    np.testing.assert_array_equal(
        first, jax_ops.apply_params(images, jax_ops.sample_params(key, shape=(BATCH,)))
    )
    other = jax_ops.random_augment(jax.random.key(6), images)
    assert len(_differing_images(other, np.asarray(first))) > 0.95 * BATCH
    one = jax_ops.sample_params(key)
    assert one.angle.shape == () and one.order.shape == (3,)


# ----------------------------------------------------------------------------- compilation


class _Compilations(logging.Handler):
    """Counts JAX's "Finished ... compilation" log records (as optax's test_utils)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def emit(self, record):
        self.count += "Finished" in record.getMessage() and "compilation" in record.getMessage()


def test_nothing_recompiles_when_only_parameter_values_change(golden, programs, outputs):
    """Eager calls and the jit and jit(vmap) programs, already run on the fixture's parameters,
    run again on new parameter values (and new images) without compiling anything (and
    the count does catch a compilation, so 0 means none)."""
    images = _batches(golden)[0][0]
    new = _homework_params(9, BATCH)
    counter = _Compilations()
    logger = logging.getLogger("jax")
    logger.addHandler(counter)
    try:
        with jax.log_compiles():
            jax_ops.apply_params(images[::-1], new)
            jax_ops.apply_params_normalized(images, new)
            jax_ops.rotate(images, new.angle)
            jax_ops.affine(images, new.scale, new.shear)
            jax_ops.color_jitter(images, new.order, new.brightness, new.contrast, new.saturation)
            programs["jit"](images, new)
            programs["jit_vmap"](images, new)
        assert counter.count == 0
        with jax.log_compiles():  # the counter does see a compilation
            jax.jit(lambda x: x + 1)(np.arange(3))
        assert counter.count > 0
    finally:
        logger.removeHandler(counter)


# ----------------------------------------------------------------------------- interface


def test_parameters_broadcast_over_leading_axes(golden):
    """A scalar parameter applies to every image, a [B] one per image, and any leading
    shape works: [2, 3, H, W, 3] with [2, 3] factors equals the flat batch."""
    images = golden["images"][:6]
    op = jax_ops.adjust_brightness
    np.testing.assert_array_equal(op(images, 0.7), op(images, np.full(6, 0.7, np.float32)))
    factors = golden["brightness"][:6]
    grid = op(images.reshape(2, 3, 32, 32, 3), factors.reshape(2, 3))
    np.testing.assert_array_equal(np.asarray(grid).reshape(6, 32, 32, 3), op(images, factors))
    np.testing.assert_array_equal(op(images[4], factors[4]), np.asarray(grid)[1, 1])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x: jax_ops.rotate(x.astype(np.float32), 5.0), "uint8"),
        (lambda x: jax_ops.rotate(x[..., :2], 5.0), r"\[\.\.\., H, W, 3\]"),
        (lambda x: jax_ops.affine(x[0, 0], 1.0, 0.0), r"\[\.\.\., H, W, 3\]"),
        (lambda x: jax_ops.rotate(x, np.zeros(5, np.float32)), "angle has shape"),
        (lambda x: jax_ops.color_jitter(x, (0, 1, 1), 1.0, 1.0, 1.0), "permutations"),
        (lambda x: jax_ops.apply_params(x, (0.0,) * 8), "AugmentParams"),
        (
            lambda x: jax_ops.sample_params_from_uniforms(np.zeros((4, 5), np.float32)),
            "NUM_UNIFORMS",
        ),
    ],
)
def test_bad_input_is_a_value_error_naming_the_problem(golden, call, match):
    """Wrong dtype, channel axis, rank, parameter shape, colour order, params type or
    uniforms width: a ValueError that says what is wrong and what to pass."""
    with pytest.raises(ValueError, match=match):
        call(golden["images"][:4])


def test_importing_the_package_or_jax_ops_does_not_import_tensorflow():
    """JAX users do not pay for TensorFlow; the old module-level names still reach the
    TensorFlow ops, lazily (aliases of tf_ops)."""
    code = (
        "import sys, hw4jax.augment, hw4jax.augment.jax_ops;"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported';"
        "hw4jax.augment.AugmentConfig(); hw4jax.augment.NUM_UNIFORMS;"
        "assert 'tensorflow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)
    assert augment.rotate is tf_ops.rotate
    assert augment.sample_params_batch is tf_ops.sample_params_batch
    assert augment.jax_ops is jax_ops and augment.AugmentConfig is spec.AugmentConfig
    with pytest.raises(AttributeError):
        augment.no_such_op  # noqa: B018


def test_parity_rows_cover_both_backends_and_fail_on_a_missing_array(tmp_path):
    """The parity report has a row per fixture array and backend; an array missing from
    the fixture is a failing row in each backend, never a skip."""
    from hw4jax.pytorch import parity

    with np.load(GOLDEN) as data:
        kept = {k: data[k] for k in ["images", *spec.AugmentParams._fields]}
    np.savez(tmp_path / "partial.npz", **kept)
    rows = {r.quantity: r for r in parity.augment_rows(tmp_path / "partial.npz")}
    for backend in parity.AUGMENT_BACKENDS:
        for name in parity.AUGMENT_REQUIRED:
            row = rows[f"augment {backend} {name}"]
            assert not row.passed and "lacks" in row.note


def test_the_colour_orders_are_all_permutations():
    """JITTER_ORDERS (shared by both backends) holds the 6 orders, and jitter_order_index
    maps torchvision's 24 four-op permutations 4 to each."""
    assert sorted(spec.JITTER_ORDERS) == sorted(itertools.permutations(range(3)))
    counts = np.bincount([spec.jitter_order_index(p) for p in itertools.permutations(range(4))])
    np.testing.assert_array_equal(counts, [4] * 6)
