"""Tests of the augmentation gallery (hw4jax.augment.gallery, scripts/show_augment.py) and
of torchvision's pinned transform (hw4jax.pytorch.torchvision_ops) it compares against."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.text import Text
from png_check import figure_pixels, png_size

from hw4jax.augment import gallery

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "augment_golden.npz"


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text)]


def test_gallery_of_the_fixtures_is_all_zero_and_a_png_of_its_size(tmp_path, golden):
    """Two fixture images: hw4jax's output of every op equals torchvision's recorded one
    (every difference panel says max 0), and the PNG is gallery_size(2) at DPI."""
    examples = gallery.fixture_examples(golden, [0, 1])
    outputs = [gallery.hw4jax_outputs(e.image, e.params) for e in examples]
    for example, out in zip(examples, outputs):
        for op in gallery.OPS:
            np.testing.assert_array_equal(out[op], example.reference[op], err_msg=op)
    fig = gallery.gallery_figure(examples, reference_name="torchvision", outputs=outputs)
    texts = _texts(fig)
    assert texts.count("max 0") == 2 * len(gallery.OPS)
    assert any("largest |difference| over all panels: 0" in t for t in texts)
    path = gallery.plot_gallery(
        tmp_path / "g.png", examples, reference_name="torchvision", outputs=outputs
    )
    assert png_size(path) == figure_pixels(gallery.gallery_size(2), gallery.DPI)


def test_gallery_shows_a_difference_and_the_parameters(golden):
    """A reference off by one level in one pixel of one op shows as 'max 1' on that
    panel and in the title; the captions carry each op's parameter."""
    (example,) = gallery.fixture_examples(golden, [2])
    reference = dict(example.reference)
    rotated = reference["rotate"].copy()
    rotated[5, 7, 1] ^= 1
    reference["rotate"] = rotated
    fig = gallery.gallery_figure(
        [example._replace(reference=reference)], reference_name="torchvision"
    )
    texts = _texts(fig)
    assert texts.count("max 1") == 1 and texts.count("max 0") == len(gallery.OPS) - 1
    assert any("largest |difference| over all panels: 1" in t for t in texts)
    assert f"rotate {float(golden['angle'][2]):.2f}°" in texts
    assert f"brightness {float(golden['brightness'][2]):.3f}" in texts


def test_gallery_refuses_what_it_cannot_draw(golden):
    """No examples, a missing op, or a fixture image without every op recorded: a
    ValueError that says what to pass."""
    with pytest.raises(ValueError, match="at least one"):
        gallery.gallery_figure([], reference_name="torchvision")
    (example,) = gallery.fixture_examples(golden, [0])
    partial = {op: v for op, v in example.reference.items() if op != "chain"}
    with pytest.raises(ValueError, match="chain"):
        gallery.gallery_figure([example._replace(reference=partial)], reference_name="t")
    with pytest.raises(ValueError, match="0..15"):
        gallery.fixture_examples(golden, [gallery.FIXTURE_IMAGES])


def test_drawn_examples_take_their_parameters_from_the_key(golden):
    """drawn_examples gives image n the n-th parameters jax_ops.sample_params draws from
    the key, and the reference's outputs for exactly those parameters."""
    import jax

    from hw4jax.augment import jax_ops

    key = jax.random.key(7)
    seen = []

    def reference(image, params):
        seen.append(params)
        return gallery.hw4jax_outputs(image, params)

    examples = gallery.drawn_examples(key, golden["images"][:2], ["a", "b"], reference)
    want = jax_ops.sample_params(key, shape=(2,))
    for n, example in enumerate(examples):
        for name, value in example.params._asdict().items():
            np.testing.assert_array_equal(value, np.asarray(getattr(want, name))[n], name)
        assert seen[n] is example.params and example.label == "ab"[n]
    with pytest.raises(ValueError, match="one label per image"):
        gallery.drawn_examples(key, golden["images"][:2], ["a"], reference)


def test_torchvision_ops_reproduce_the_fixtures(golden):
    """torchvision_ops.outputs (the pinned transform classes) gives exactly the recorded
    fixtures for every op of the 16 fully recorded images: the gallery's torchvision path
    shows what the fixtures show. Runs where torchvision is installed."""
    pytest.importorskip("torchvision")
    from hw4jax.pytorch import torchvision_ops

    for i in range(gallery.FIXTURE_IMAGES):
        out = torchvision_ops.outputs(golden["images"][i], gallery.fixture_params(golden, i))
        for op, key in gallery.FIXTURE_KEYS.items():
            np.testing.assert_array_equal(out[op], golden[key][i], err_msg=f"{i} {op}")


def _run(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    script = ROOT / "scripts" / "show_augment.py"
    return subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_show_augment_script_writes_the_gallery(tmp_path):
    """scripts/show_augment.py --source fixtures writes the gallery PNG of --count images;
    a bad --count is one error line and exit status 2."""
    out = tmp_path / "gallery.png"
    p = _run("--source", "fixtures", "--count", "1", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "hw4jax vs torchvision (golden fixtures" in p.stdout
    assert png_size(out) == figure_pixels(gallery.gallery_size(1), gallery.DPI)
    p = _run("--source", "fixtures", "--count", "17", "--out", str(out))
    assert p.returncode == 2 and p.stderr.startswith("error: ")
    assert len(p.stderr.splitlines()) == 1
