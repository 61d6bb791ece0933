"""The rows of the other two parts of the homework: Question 2's 2-2-1 network against torch
autograd, and the augmentation (both backends) against torchvision's golden fixtures."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hw4jax.pytorch import import_torch
from hw4jax.pytorch.parity.criteria import BACKPROP_ABS, Row, compare

PURPOSE = "hw4jax's PyTorch cross-check"
REPO_ROOT = Path(__file__).resolve().parents[3]
AUGMENT_GOLDEN = REPO_ROOT / "tests" / "data" / "augment_golden.npz"


def backprop_rows() -> list[Row]:
    """hw4jax.backprop's 2-2-1 loss, gradients (chain rule and jax.grad) and weights after
    each step of the homework's setting, against torch autograd in float64."""
    from hw4jax import backprop

    torch = import_torch(PURPOSE)
    setting = backprop.HOMEWORK
    trace = backprop.trace(setting)
    i1, i2 = setting.inputs
    w = torch.tensor(setting.weights, dtype=torch.float64)
    rows = []
    for step in trace.steps:
        w.requires_grad_(True)
        h1, h2 = i1 * w[0] + i2 * w[1], i1 * w[2] + i2 * w[3]
        o_out = torch.sigmoid(h1 * w[4] + h2 * w[5])
        squared = (setting.target - o_out) ** 2
        loss = 0.5 * squared if setting.loss == "half_squared" else squared
        (grad,) = torch.autograd.grad(loss, w)
        with torch.no_grad():
            w = w - setting.learning_rate * grad
        names = backprop.WEIGHT_NAMES
        q = step.quantities
        it = f"2-2-1 iteration {step.iteration}"
        want_grad = grad.numpy()
        rows += [
            compare(
                f"{it}: E",
                q["E"],
                loss.item(),
                tolerance=BACKPROP_ABS,
                criterion="abs",
                note=f"E = {backprop.LOSS_FORMULAS[setting.loss]}",
            ),
            compare(
                f"{it}: dE/dw chain rule",
                [q[f"dE/d{n}"] for n in names],
                want_grad,
                tolerance=BACKPROP_ABS,
                criterion="abs",
            ),
            compare(
                f"{it}: dE/dw jax.grad",
                [step.autodiff_grads[f"dE/d{n}"] for n in names],
                want_grad,
                tolerance=BACKPROP_ABS,
                criterion="abs",
            ),
            compare(
                f"{it}: weights after the step",
                [step.weights_after[n] for n in names],
                w.numpy(),
                tolerance=BACKPROP_ABS,
                criterion="abs",
            ),
        ]
    return rows


def augment_rows(golden: str | os.PathLike | None = None) -> list[Row]:
    """hw4jax.augment's ops, in each backend (tf_ops, jax_ops), against torchvision's
    golden outputs: 0 differing pixels.

    One row per fixture array and backend ('augment tf rotated', 'augment jax rotated',
    ...). A missing fixture file (or a missing array in it)
    is a failing row, never a skip."""
    path = Path(golden) if golden is not None else AUGMENT_GOLDEN
    if not path.is_file():
        return [
            Row(
                "augment golden",
                None,
                None,
                0,
                "n/a",
                False,
                f"fixture {path} missing: regenerate it "
                "(scripts/make_augment_fixtures.py) or pass --augment-golden",
            )
        ]
    return _augment_rows(path)


# The two backends of hw4jax.augment's specification, by row name.
AUGMENT_BACKENDS = ("tf", "jax")


# Each golden array of tests/data/augment_golden.npz (scripts/make_augment_fixtures.py)
# and how a backend's ops (tf_ops or jax_ops: the same functions) recompute it from the
# fixture's images and parameters. Each op runs once on all the fixture's images (so
# the JAX backend compiles each op for one batch shape), and the single-op arrays are
# compared on their first M images; the coordinate-image warps run in batches of that
# size too.
def _augment_cases(augment, d) -> dict[str, Callable[[int], Any]]:
    images = d["images"]
    n = len(images)

    def jitter(x):
        return augment.color_jitter(x, d["order"], d["brightness"], d["contrast"], d["saturation"])

    def chain():
        image = augment.horizontal_flip(images, d["flip"])
        image = augment.rotate(image, d["angle"])
        image = augment.affine(image, d["scale"], d["shear"])
        return jitter(image)

    def coordinates(warp, m):
        out = []
        for start in range(0, m, n):
            index = np.arange(start, start + n) % len(d["warp_angle"])
            out.append(np.asarray(warp(np.broadcast_to(d["coordinates"], (n, 32, 32, 3)), index)))
        return np.concatenate(out)[:m]

    def levels(m):
        return augment.to_float_normalized(
            np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), 3, axis=2)
        )[..., 0]

    whole = {
        "flipped": lambda: augment.horizontal_flip(images, True),
        "rotated": lambda: augment.rotate(images, d["angle"]),
        "affined": lambda: augment.affine(images, d["scale"], d["shear"]),
        "brightness_out": lambda: augment.adjust_brightness(images, d["brightness"]),
        "contrast_out": lambda: augment.adjust_contrast(images, d["contrast"]),
        "saturation_out": lambda: augment.adjust_saturation(images, d["saturation"]),
        "jittered": lambda: jitter(images),
        "chain": chain,
        "chain_normalized": lambda: augment.to_float_normalized(chain()),
    }
    done: dict[str, np.ndarray] = {}

    def first(name):
        def compute(m):
            if name not in done:
                done[name] = np.asarray(whole[name]())
            return done[name][:m]

        return compute

    return {
        **{name: first(name) for name in whole},
        "levels_normalized": lambda m: np.reshape(levels(m), (256,)),
        "coordinates_rotated": lambda m: coordinates(
            lambda x, i: augment.rotate(x, d["warp_angle"][i]), m
        ),
        "coordinates_affined": lambda m: coordinates(
            lambda x, i: augment.affine(x, d["warp_scale"][i], d["warp_shear"][i]), m
        ),
    }


# Arrays the fixture must hold; the coordinate-image warps are checked where recorded.
AUGMENT_REQUIRED = (
    "flipped",
    "rotated",
    "affined",
    "brightness_out",
    "contrast_out",
    "saturation_out",
    "jittered",
    "chain",
    "chain_normalized",
    "levels_normalized",
)


def _failing_row(quantity: str, note: str) -> Row:
    """A row that fails before anything was compared (a missing array, an op that raised)."""
    return Row(quantity, None, None, 0, "count", False, note)


def _augment_rows(path: Path) -> list[Row]:
    from hw4jax.augment import jax_ops, tf_ops

    with np.load(path, allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    rows = []
    for backend, ops in zip(AUGMENT_BACKENDS, (tf_ops, jax_ops)):
        cases = _augment_cases(ops, d) if "images" in d else {}
        for name in dict.fromkeys([*AUGMENT_REQUIRED, *cases]):
            quantity = f"augment {backend} {name}"
            if name not in d or name not in cases:
                if name in AUGMENT_REQUIRED:
                    rows.append(
                        _failing_row(quantity, f"fixture {path.name} lacks {name!r}: regenerate it")
                    )
                continue
            want = d[name]
            try:
                got = np.asarray(cases[name](len(want)))
            except Exception as e:  # an op that fails on the fixture is a failing row
                rows.append(
                    _failing_row(
                        quantity, f"hw4jax.augment.{backend}_ops raised {type(e).__name__}: {e}"
                    )
                )
                continue
            if got.shape != want.shape:
                rows.append(_failing_row(quantity, f"shape {got.shape} != fixture's {want.shape}"))
                continue
            # Differing pixels (uint8) or values (float32, bitwise): any difference fails.
            if want.ndim == 4:
                differ = np.any(got != want, axis=-1)
                what = f"pixels differ, {len(want)} images"
            else:
                differ = got != want
                what = "values differ"
            count = int(np.count_nonzero(differ))
            err = float(np.max(np.abs(got.astype(np.float64) - want), initial=0.0))
            rows.append(
                Row(
                    quantity,
                    float(count),
                    None,
                    0,
                    "count",
                    count == 0,
                    f"{count} of {differ.size} {what} (max |diff| {err:g})",
                )
            )
    return rows
