"""hw4jax.augment against torchvision's PIL path, pixel for pixel, plus its random draws.

The golden fixtures (tests/data/augment_golden.npz) come from
scripts/make_augment_fixtures.py run in the torchvision environment: 300 real CIFAR-10
train images with drawn parameters, the outputs of each op and of the whole chain, and
500 rotations and affines of a coordinate image (a nearest warp's output on it is the
warp's whole source map). Equality is exact: 0 differing pixels.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from hw4jax import augment

GOLDEN = Path(__file__).parent / "data" / "augment_golden.npz"


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as data:
        return {k: data[k] for k in data.files}


def _differing_images(actual, expected) -> list[int]:
    actual = np.asarray(actual)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    return np.flatnonzero(np.any(actual != expected, axis=tuple(range(1, actual.ndim)))).tolist()


def _params(golden, count=None) -> augment.AugmentParams:
    names = augment.AugmentParams._fields
    return augment.AugmentParams(**{k: golden[k][:count] for k in names})


# Each op with the fixture it is compared with and the parameters it takes.
OPS = {
    "horizontal_flip": ("flipped", lambda image, p: augment.horizontal_flip(image)),
    "rotate": ("rotated", lambda image, p: augment.rotate(image, p.angle)),
    "affine": ("affined", lambda image, p: augment.affine(image, p.scale, p.shear)),
    "adjust_brightness": (
        "brightness_out",
        lambda image, p: augment.adjust_brightness(image, p.brightness),
    ),
    "adjust_contrast": (
        "contrast_out",
        lambda image, p: augment.adjust_contrast(image, p.contrast),
    ),
    "adjust_saturation": (
        "saturation_out",
        lambda image, p: augment.adjust_saturation(image, p.saturation),
    ),
    "color_jitter": (
        "jittered",
        lambda image, p: augment.color_jitter(
            image, p.order, p.brightness, p.contrast, p.saturation
        ),
    ),
    "apply_params": ("chain", augment.apply_params),
}


@pytest.mark.parametrize("name", list(OPS))
def test_op_matches_torchvision_eagerly_on_a_batch(golden, name):
    """Every op, on a batch with per-image parameters, equals torchvision on real images
    (homework ranges, wide ranges and Pillow's special cases alike)."""
    key, op = OPS[name]
    count = len(golden[key])
    out = op(golden["images"][:count], _params(golden, count))
    assert _differing_images(out, golden[key]) == []


@pytest.mark.parametrize("name", list(OPS))
def test_op_matches_torchvision_per_image_inside_tf_data(golden, name):
    """The same ops traced by tf.data (graph mode), one image and scalar parameters per call."""
    key, op = OPS[name]
    count = len(golden[key])
    ds = tf.data.Dataset.from_tensor_slices((golden["images"][:count], _params(golden, count)))
    ds = ds.map(op, num_parallel_calls=tf.data.AUTOTUNE).batch(count)
    assert _differing_images(ds.get_single_element(), golden[key]) == []


def test_chain_matches_torchvision_batched_inside_tf_data(golden):
    """apply_params mapped over batches in tf.data equals torchvision's chain."""
    ds = tf.data.Dataset.from_tensor_slices((golden["images"], _params(golden)))
    ds = ds.batch(64).map(augment.apply_params, num_parallel_calls=tf.data.AUTOTUNE)
    out = np.concatenate(list(ds.as_numpy_iterator()))
    assert _differing_images(out, golden["chain"]) == []


@pytest.mark.parametrize("warp", ["rotate", "affine"])
def test_warps_match_pillow_on_the_coordinate_image(golden, warp):
    """500 warps of an image whose pixels spell their coordinates: the source map of each
    warp (and so its output on any image) is Pillow's, including angles at multiples of
    90 degrees (Pillow's copy/transpose fast paths) and shear 0 (Pillow's scale path)."""
    count = len(golden["warp_angle"])
    images = np.broadcast_to(golden["coordinates"], (count, 32, 32, 3))
    if warp == "rotate":
        out, expected = augment.rotate(images, golden["warp_angle"]), golden["coordinates_rotated"]
    else:
        out = augment.affine(images, golden["warp_scale"], golden["warp_shear"])
        expected = golden["coordinates_affined"]
    assert _differing_images(out, expected) == []
    # The special cases are really there.
    assert {0, 90, 180, 270, -90}.issubset(set(golden["warp_angle"].tolist()))
    assert np.sum(golden["warp_shear"] == 0) >= 5


def test_to_float_normalized_matches_totensor_normalize(golden):
    """ToTensor + Normalize(0.5, 0.5): bitwise equal to torch for every uint8 level and on
    whole augmented images (HWC here, CHW in torch), eagerly and inside tf.data."""
    levels = np.repeat(np.arange(256, dtype=np.uint8)[:, None, None, None], 3, axis=-1)
    out = augment.to_float_normalized(levels).numpy()
    np.testing.assert_array_equal(out[:, 0, 0, 0], golden["levels_normalized"])
    count = len(golden["chain_normalized"])
    np.testing.assert_array_equal(
        augment.to_float_normalized(golden["chain"][:count]).numpy(), golden["chain_normalized"]
    )
    ds = tf.data.Dataset.from_tensor_slices(golden["chain"][:count]).map(
        augment.to_float_normalized
    )
    np.testing.assert_array_equal(
        ds.batch(count).get_single_element().numpy(), golden["chain_normalized"]
    )


def test_jitter_order_index_maps_torchvision_permutations(golden):
    """torchvision's 4-op permutation without hue is the fixture's order; the 24
    permutations fall 4 to each of the 6 orders (so the 6 are equally likely)."""
    indices = [augment.jitter_order_index(p) for p in golden["torch_permutation"]]
    np.testing.assert_array_equal(np.array(augment.JITTER_ORDERS)[indices], golden["order"])
    import itertools

    counts = np.bincount([augment.jitter_order_index(p) for p in itertools.permutations(range(4))])
    np.testing.assert_array_equal(counts, [4] * 6)
    with pytest.raises(ValueError, match="permutation"):
        augment.jitter_order_index((0, 1, 1, 3))


def _seeds(count: int, stream: int = 0) -> np.ndarray:
    return np.stack([np.arange(count), np.full(count, stream)], axis=1).astype(np.int64)


def test_random_augment_batch_equals_per_image(golden):
    """random_augment_batch gives image i exactly what random_augment gives it with
    seeds[i], eagerly and in tf.data (per-element map versus map after batch)."""
    images, seeds = golden["images"][:64], _seeds(64, 3)
    batched = augment.random_augment_batch(seeds, images).numpy()
    per_image = np.stack(
        [augment.random_augment(s, x).numpy() for s, x in zip(seeds[:3], images[:3])]
    )
    np.testing.assert_array_equal(batched[:3], per_image)
    ds = tf.data.Dataset.from_tensor_slices((seeds, images))
    one_by_one = ds.map(augment.random_augment, num_parallel_calls=tf.data.AUTOTUNE).batch(64)
    by_batch = ds.batch(32).map(augment.random_augment_batch, num_parallel_calls=tf.data.AUTOTUNE)
    np.testing.assert_array_equal(one_by_one.get_single_element().numpy(), batched)
    np.testing.assert_array_equal(np.concatenate(list(by_batch.as_numpy_iterator())), batched)


def test_random_augment_is_apply_params_of_sample_params(golden):
    """The random wrapper only draws: random_augment = apply_params(sample_params)."""
    seed, image = tf.constant([5, 6]), golden["images"][0]
    np.testing.assert_array_equal(
        augment.random_augment(seed, image),
        augment.apply_params(image, augment.sample_params(seed)),
    )


def test_composed_warp_equals_the_two_warps_maps_composed():
    """The chain's fast source map (the rotation evaluated at the affine's source pixels,
    in float64) equals composing the flip+rotation map with the affine map by indexing,
    pixel for pixel, for 4,000 drawn (flip, angle, scale, shear): it pins where every
    output pixel comes from, including the zero fill."""
    params = augment.sample_params_batch(_seeds(4000, 13))
    rotation = augment.rotation_matrix(params.angle, 32, 32)
    affine = augment.affine_matrix(params.scale, params.shear, 32, 32)
    fast = augment._padded_chain_source(rotation, params.flip, affine, 32, 32)
    composed = augment._then(
        augment._affine_source(rotation, 32, 32, flip=params.flip),
        augment._affine_source(affine, 32, 32),
    )

    def source_pixel(padded):  # index into the 34x34 zero-padded image -> 32x32 pixel or -1
        row, col = np.divmod(padded.numpy().astype(np.int64), 34)
        inside = (row >= 1) & (row <= 32) & (col >= 1) & (col <= 32)
        return np.where(inside, (row - 1) * 32 + (col - 1), -1)

    want = source_pixel(augment._padded_source(composed, 32, 32))
    np.testing.assert_array_equal(source_pixel(fast), want)
    assert (want == -1).any() and (want >= 0).mean() > 0.8


def test_sample_params_is_sample_params_from_uniforms_of_one_draw():
    """sample_params(seed) = sample_params_from_uniforms(stateless_uniform([NUM_UNIFORMS],
    seed)): the pipeline's one draw per epoch uses the same distributions."""
    seed = tf.constant([3, 4], tf.int64)
    u = tf.random.stateless_uniform([augment.NUM_UNIFORMS], seed=seed)
    for got, want in zip(augment.sample_params_from_uniforms(u), augment.sample_params(seed)):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize(
    "config",
    [
        augment.AugmentConfig(),
        # Angle and shear exactly 0: Pillow's scale path, which the fast composed warp leaves
        # to the general one.
        augment.AugmentConfig(rotation_degrees=0, shear_degrees=0),
    ],
    ids=["default", "scale-path"],
)
def test_apply_params_normalized_is_to_float_normalized_of_apply_params(golden, config):
    """The training pipeline's float path equals uint8 apply_params then ToTensor +
    Normalize, bit for bit, on a batch and on one image."""
    images = golden["images"][:64]
    params = augment.sample_params_batch(_seeds(64, 5), config)
    want = augment.to_float_normalized(augment.apply_params(images, params)).numpy()
    np.testing.assert_array_equal(augment.apply_params_normalized(images, params).numpy(), want)
    one = augment.apply_params_normalized(images[7], tf.nest.map_structure(lambda v: v[7], params))
    np.testing.assert_array_equal(one.numpy(), want[7])


def test_same_seed_same_output_different_seed_different_output(golden):
    """Deterministic in the seed; a different seed changes (almost) every image."""
    images = golden["images"][:64]
    first = augment.random_augment_batch(_seeds(64, 1), images).numpy()
    again = augment.random_augment_batch(_seeds(64, 1), images).numpy()
    other = augment.random_augment_batch(_seeds(64, 2), images).numpy()
    np.testing.assert_array_equal(first, again)
    assert len(_differing_images(other, first)) >= 60


@pytest.fixture(scope="module")
def draws() -> augment.AugmentParams:
    """20,000 parameter draws with the homework's config (fixed seeds)."""
    return tf.nest.map_structure(np.asarray, augment.sample_params_batch(_seeds(20_000, 11)))


def test_flip_rate_is_one_half(draws):
    """RandomHorizontalFlip(p=0.5): the rate is within 5 standard errors (0.018) of 1/2."""
    assert abs(draws.flip.mean() - 0.5) < 5 * np.sqrt(0.25 / len(draws.flip))


@pytest.mark.parametrize(
    "name, lo, hi",
    [
        ("angle", -10, 10),
        ("scale", 0.8, 1.2),
        ("shear", -10, 10),
        ("brightness", 0.8, 1.2),
        ("contrast", 0.8, 1.2),
        ("saturation", 0.8, 1.2),
    ],
)
def test_continuous_parameters_are_uniform_on_their_range(draws, name, lo, hi):
    """Each parameter stays in [lo, hi], reaches both ends, and fills 10 equal bins
    evenly (chi-square, 9 degrees of freedom, bound 40: p < 1e-5 by chance)."""
    values = getattr(draws, name)
    assert values.dtype == np.float32
    assert lo <= values.min() < lo + 0.01 * (hi - lo) and hi - 0.01 * (hi - lo) < values.max() <= hi
    counts, _ = np.histogram(values, bins=10, range=(lo, hi))
    expected = len(values) / 10
    assert np.sum((counts - expected) ** 2 / expected) < 40


def test_all_six_jitter_orders_are_equally_likely(draws):
    """The colour order is one of the 6 permutations, each equally often (chi-square,
    5 degrees of freedom, bound 30: p < 2e-5 by chance; one order at 20% instead of
    16.7% gives about 130)."""
    index = [augment.JITTER_ORDERS.index(tuple(o)) for o in draws.order.tolist()]
    counts = np.bincount(index, minlength=6)
    expected = len(index) / 6
    assert np.sum((counts - expected) ** 2 / expected) < 30


def test_parameters_are_uncorrelated(draws):
    """The draws come from separate slots: no two continuous parameters correlate
    (|r| < 0.04, about 6 standard errors)."""
    values = np.stack(
        [
            draws.angle,
            draws.scale,
            draws.shear,
            draws.brightness,
            draws.contrast,
            draws.saturation,
            draws.flip.astype(np.float32),
        ]
    )
    r = np.corrcoef(values)
    assert np.max(np.abs(r - np.eye(len(values)))) < 0.04


def test_switched_off_ops_keep_identity_values_and_leave_others_alone():
    """An op that is off gets its identity value (as torchvision leaves the op out), and
    switching one op off does not change any other parameter's draw."""
    seeds = _seeds(500, 5)
    full = augment.sample_params_batch(seeds)
    config = augment.AugmentConfig(flip=False, rotation_degrees=0, brightness=0)
    part = augment.sample_params_batch(seeds, config)
    assert not np.any(part.flip) and np.all(part.angle.numpy() == 0)
    assert np.all(part.brightness.numpy() == 1)
    for name in ("scale", "shear", "order", "contrast", "saturation"):
        np.testing.assert_array_equal(getattr(part, name), getattr(full, name))
    no_affine = augment.sample_params_batch(
        seeds, augment.AugmentConfig(shear_degrees=0, scale=None)
    )
    assert np.all(no_affine.scale.numpy() == 1) and np.all(no_affine.shear.numpy() == 0)


def test_everything_off_returns_the_image(golden):
    """With every op off the transform is the identity, pixel for pixel."""
    off = augment.AugmentConfig(
        flip=False,
        rotation_degrees=0,
        shear_degrees=0,
        scale=None,
        brightness=0,
        contrast=0,
        saturation=0,
    )
    images = golden["images"][:32]
    np.testing.assert_array_equal(augment.random_augment_batch(_seeds(32), images, off), images)


def test_scale_only_config_uses_pillow_scale_path(golden):
    """shear_degrees=0 with a scale range is RandomAffine(0, scale=...): Pillow's scale
    path, which the fixtures cover with shear exactly 0."""
    zero_shear = np.flatnonzero(golden["shear"] == 0)
    assert len(zero_shear) >= 5
    out = augment.apply_params(golden["images"][zero_shear], _params_at(golden, zero_shear))
    assert _differing_images(out, golden["chain"][zero_shear]) == []
    params = augment.sample_params_batch(_seeds(200), augment.AugmentConfig(shear_degrees=0))
    assert np.all(params.shear.numpy() == 0) and np.ptp(params.scale.numpy()) > 0.3


def _params_at(golden, index) -> augment.AugmentParams:
    return augment.AugmentParams(**{k: golden[k][index] for k in augment.AugmentParams._fields})


@pytest.mark.parametrize(
    "change, field",
    [
        ({"flip": 1}, "flip"),
        ({"rotation_degrees": -1}, "rotation_degrees"),
        ({"rotation_degrees": float("nan")}, "rotation_degrees"),
        ({"shear_degrees": 90}, "shear_degrees"),
        ({"scale": (1.2, 0.8)}, "scale"),
        ({"scale": (0.0, 1.0)}, "scale"),
        ({"scale": 1.0}, "scale"),
        ({"brightness": -0.1}, "brightness"),
        ({"contrast": "0.2"}, "contrast"),
        ({"saturation": float("inf")}, "saturation"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(change, field):
    """A bad amount is a ValueError that names the field and its allowed range."""
    with pytest.raises(ValueError, match=f"AugmentConfig.{field} must be"):
        dataclasses.replace(augment.AugmentConfig(), **change)


def test_config_accepts_a_list_scale_and_stays_hashable():
    """scale given as a list is stored as a tuple, so configs hash (tf.function keys)."""
    config = augment.AugmentConfig(scale=[0.9, 1.1])
    assert config.scale == (0.9, 1.1) and hash(config) == hash(
        augment.AugmentConfig(scale=(0.9, 1.1))
    )


def test_ops_reject_non_uint8_images():
    """Images must be uint8 like PIL's; float input is an error, not a silent rescale."""
    with pytest.raises(ValueError, match="uint8"):
        augment.rotate(np.zeros((32, 32, 3), np.float32), 5.0)
