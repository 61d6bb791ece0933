"""The augmentation gallery: real CIFAR-10 images, what each op of the homework's transform
does to them in hw4jax, what torchvision does with the same parameters, and the difference.

One row block per image: hw4jax's outputs (``jax_ops``), the reference's (torchvision run
with the same parameters, ``hw4jax.pytorch.torchvision_ops``, or the golden fixtures that
recorded it, ``tests/data/augment_golden.npz``) and |hw4jax - reference|, amplified so that
a difference of one level shows; one column per op (``OPS``), each captioned with its
parameter, and the whole chain last.

Drawn on a bare ``Figure`` with an Agg canvas (no pyplot: matplotlib's global backend is
never touched), saved at ``DPI``: the PNG is ``gallery_size(len(examples))`` times ``DPI``
pixels. Imports neither TensorFlow nor torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from hw4jax.augment.spec import AugmentParams

DPI = 100
OPS = ("flip", "rotate", "affine", "brightness", "contrast", "saturation", "chain")
PANEL = 0.95  # inches per image panel
ROW_HEIGHT = 1.25  # inches per row (a multiple of 1/4: see gallery_size): a panel and its caption
LABEL_WIDTH = 0.95  # inches for the row labels on the left
TITLE_HEIGHT = 0.75  # inches (a multiple of 1/4) for the figure's title and the first captions
DIFFERENCE_GAIN = 32  # |difference| x this, clipped to 255: one level of difference shows

# The golden fixtures' array for each op (scripts/make_augment_fixtures.py); every op has
# fixtures for the first FIXTURE_IMAGES images.
FIXTURE_KEYS = {
    "flip": "flipped",
    "rotate": "rotated",
    "affine": "affined",
    "brightness": "brightness_out",
    "contrast": "contrast_out",
    "saturation": "saturation_out",
    "chain": "chain",
}
FIXTURE_IMAGES = 16
_COLOUR_NAMES = ("b", "c", "s")


class Example(NamedTuple):
    """One image of the gallery: ``image`` uint8 [H, W, 3], its ``params`` (one image's
    ``AugmentParams``, numpy scalars), the ``reference``'s output per op (uint8
    [H, W, 3] each, ``OPS``), and a ``label`` (where the image comes from)."""

    image: np.ndarray
    params: AugmentParams
    reference: Mapping[str, np.ndarray]
    label: str


def hw4jax_outputs(image: np.ndarray, params: AugmentParams) -> dict[str, np.ndarray]:
    """What each op does to ``image`` in hw4jax (``jax_ops``), as ``OPS``: 'flip' always
    mirrors, each other single op runs on ``image`` alone, 'chain' is ``apply_params``.

    Args:
      image: uint8 [H, W, 3].
      params: one image's AugmentParams.

    Returns:
      uint8 [H, W, 3] numpy arrays per op.
    """
    from hw4jax.augment import jax_ops

    out = {
        "flip": jax_ops.horizontal_flip(image),
        "rotate": jax_ops.rotate(image, params.angle),
        "affine": jax_ops.affine(image, params.scale, params.shear),
        "brightness": jax_ops.adjust_brightness(image, params.brightness),
        "contrast": jax_ops.adjust_contrast(image, params.contrast),
        "saturation": jax_ops.adjust_saturation(image, params.saturation),
        "chain": jax_ops.apply_params(image, params),
    }
    return {name: np.asarray(result) for name, result in out.items()}


def fixture_params(golden: Mapping[str, np.ndarray], i: int) -> AugmentParams:
    """Image ``i``'s parameters in the golden fixtures."""
    return AugmentParams(*(golden[name][i] for name in AugmentParams._fields))


def fixture_examples(golden: Mapping[str, np.ndarray], indices: Sequence[int]) -> list[Example]:
    """Gallery examples of the golden fixtures' images ``indices`` (each below
    ``FIXTURE_IMAGES``), with torchvision's recorded outputs as the reference.

    Raises:
      ValueError: an index outside the images that have every op's fixture.
    """
    examples = []
    for i in indices:
        if not 0 <= i < FIXTURE_IMAGES:
            raise ValueError(
                f"fixture image {i}: only images 0..{FIXTURE_IMAGES - 1} have every op "
                "recorded; pick indices in that range"
            )
        examples.append(
            Example(
                image=golden["images"][i],
                params=fixture_params(golden, i),
                reference={op: golden[key][i] for op, key in FIXTURE_KEYS.items()},
                label=f"train #{int(golden['indices'][i])}",
            )
        )
    return examples


def load_fixture_examples(path: str | Path, count: int) -> tuple[list[Example], str]:
    """The first ``count`` images of the golden fixtures file ``path`` as examples, and the
    reference's name (with the torchvision and Pillow versions that recorded them).

    Raises:
      ValueError: no such file, or ``count`` outside 1..``FIXTURE_IMAGES``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"no golden fixtures at {path}: pass the augment_golden.npz of the repository's "
            "tests/data"
        )
    if not 1 <= count <= FIXTURE_IMAGES:
        raise ValueError(f"the fixtures hold {FIXTURE_IMAGES} images with every op: pass 1..16")
    with np.load(path, allow_pickle=False) as golden:
        arrays = {k: golden[k] for k in golden.files}
    versions = str(arrays["versions"]) if "versions" in arrays else "torchvision"
    return fixture_examples(arrays, range(count)), f"torchvision (golden fixtures: {versions})"


def drawn_examples(
    key,
    images: np.ndarray,
    labels: Sequence[str],
    reference: Callable[[np.ndarray, AugmentParams], Mapping[str, np.ndarray]],
) -> list[Example]:
    """Gallery examples of ``images``, each with the homework's random parameters drawn
    from ``key`` (``jax_ops.sample_params``) and ``reference(image, params)``'s outputs per
    op (e.g. ``hw4jax.pytorch.torchvision_ops.outputs``).

    Args:
      key: a JAX PRNG key.
      images: uint8 [N, H, W, 3].
      labels: N labels (where each image comes from).
      reference: one image's outputs per op of ``OPS`` for the given parameters.
    """
    import jax

    from hw4jax.augment import jax_ops

    if len(images) != len(labels) or not len(images):
        raise ValueError(
            f"{len(images)} images and {len(labels)} labels: pass one label per image, "
            "and at least one image"
        )
    drawn = jax.tree.map(np.asarray, jax_ops.sample_params(key, shape=(len(images),)))
    examples = []
    for n, (image, label) in enumerate(zip(images, labels)):
        params = AugmentParams(*(value[n] for value in drawn))
        examples.append(Example(image, params, reference(image, params), label))
    return examples


def gallery_size(count: int) -> tuple[float, float]:
    """The figure's size in inches for ``count`` examples (three rows each)."""
    # Whole quarter inches: exact in binary, so the PNG is exactly size x DPI pixels.
    width = math.ceil(4 * (LABEL_WIDTH + 1.08 * PANEL * (1 + len(OPS)))) / 4
    return width, TITLE_HEIGHT + 3 * count * ROW_HEIGHT


def captions(params: AugmentParams) -> dict[str, str]:
    """Each op's caption: its parameter as applied. The chain applies the same parameters
    (the flip only when drawn), its colour ops in the drawn order."""
    order = ",".join(_COLOUR_NAMES[int(k)] for k in np.asarray(params.order))
    angle, scale, shear = float(params.angle), float(params.scale), float(params.shear)
    b, c, s = float(params.brightness), float(params.contrast), float(params.saturation)
    return {
        "flip": "flip",
        "rotate": f"rotate {angle:.2f}°",
        "affine": f"scale {scale:.3f}\nshear {shear:.2f}°",
        "brightness": f"brightness {b:.3f}",
        "contrast": f"contrast {c:.3f}",
        "saturation": f"saturation {s:.3f}",
        "chain": f"all, {'flipped' if bool(params.flip) else 'not flipped'}\ncolour order {order}",
    }


def plot_gallery(
    path: str | Path,
    examples: Sequence[Example],
    *,
    reference_name: str,
    outputs: Sequence[Mapping[str, np.ndarray]] | None = None,
) -> Path:
    """``gallery_figure`` saved as the PNG ``path`` (``gallery_size(len(examples))``
    inches at ``DPI``)."""
    fig = gallery_figure(examples, reference_name=reference_name, outputs=outputs)
    path = Path(path)
    fig.savefig(path, dpi=DPI, pil_kwargs={"optimize": True})
    return path


def gallery_figure(
    examples: Sequence[Example],
    *,
    reference_name: str,
    outputs: Sequence[Mapping[str, np.ndarray]] | None = None,
):
    """The gallery of ``examples``: a matplotlib ``Figure`` on an Agg canvas, each
    difference panel captioned with its largest |hw4jax - reference|, the largest of all
    in the title.

    Args:
      examples: the images, their parameters and the reference's outputs.
      reference_name: what the reference is, for the row labels (its first word) and the
        title (e.g. 'torchvision 0.29.1').
      outputs: hw4jax's outputs per example (``hw4jax_outputs``); None computes them.

    Raises:
      ValueError: no examples, or an example without every op's reference output.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not examples:
        raise ValueError("no examples to draw: pass at least one Example")
    for example in examples:
        missing = [op for op in OPS if op not in example.reference]
        if missing:
            raise ValueError(
                f"{example.label}: no reference output for {', '.join(missing)}; "
                f"give one per op of {OPS}"
            )
    if outputs is None:
        outputs = [hw4jax_outputs(e.image, e.params) for e in examples]
    differences = [
        {op: np.abs(out[op].astype(np.int16) - e.reference[op].astype(np.int16)) for op in OPS}
        for e, out in zip(examples, outputs)
    ]
    largest = max(int(d[op].max()) for d in differences for op in OPS)

    width, height = gallery_size(len(examples))
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(
        3 * len(examples),
        1 + len(OPS),
        left=LABEL_WIDTH / width,
        right=0.995,
        top=1 - TITLE_HEIGHT / height,
        bottom=0.05 / height,
        wspace=0.08,
        hspace=0.32,
    )
    for n, (example, out, diff) in enumerate(zip(examples, outputs, differences)):
        texts = captions(example.params)
        rows = (
            ("hw4jax", out),
            (reference_name.split()[0], example.reference),
            (f"|difference|\nx{DIFFERENCE_GAIN}", None),
        )
        for r, (row_label, images) in enumerate(rows):
            row = 3 * n + r
            ax = fig.add_subplot(grid[row, 0])  # the original, and the row's label
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_ylabel(row_label, fontsize=8.5, rotation=0, ha="right", va="center")
            if r == 0:
                ax.imshow(example.image, interpolation="nearest")
                ax.set_title(f"{example.label}\noriginal", fontsize=7.5)
            else:
                ax.spines[:].set_visible(False)
            for c, op in enumerate(OPS, start=1):
                ax = fig.add_subplot(grid[row, c])
                ax.set_xticks([])
                ax.set_yticks([])
                if images is None:
                    amplified = np.clip(DIFFERENCE_GAIN * diff[op], 0, 255).astype(np.uint8)
                    ax.imshow(amplified, interpolation="nearest", vmin=0, vmax=255)
                    ax.set_title(f"max {int(diff[op].max())}", fontsize=7.5)
                else:
                    ax.imshow(images[op], interpolation="nearest")
                    if r == 0:
                        ax.set_title(texts[op], fontsize=7.5)
    fig.suptitle(
        f"The homework's augmentation on CIFAR-10: hw4jax vs {reference_name},\n"
        f"same parameters; largest |difference| over all panels: {largest}",
        fontsize=10,
        y=1 - 0.06 / height,
        va="top",
    )
    return fig
