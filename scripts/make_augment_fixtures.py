"""Records torchvision's PIL-path augmentation outputs on real CIFAR-10 images as golden
fixtures for both backends of hw4jax.augment (tests/test_augment.py for tf_ops,
tests/test_augment_jax.py for jax_ops, and the parity report).

Run it with the torchvision virtual environment (numpy, Pillow, torch, torchvision; no TF):

    PYTHONPATH=/work/main /work/tvenv/bin/python scripts/make_augment_fixtures.py \\
        --archive /work/shared/data/cifar10/cifar-10-binary.tar.gz \\
        --out tests/data/augment_golden.npz

Parameters are drawn with a fixed numpy seed (torch's own random stream cannot be matched,
only its distributions) and fed to the real transform classes (RandomRotation,
RandomAffine, ColorJitter with their ``get_params`` pinned to those values), so each
fixture is exactly what the homework's transform does with them. Two thirds of the images
use the homework's ranges; the rest use wide ranges and the special values where Pillow
changes path (angles 0/90/180/270 and their multiples, shear 0 = Pillow's "scale" path,
factors 0 and 1). File layout: see ``record`` below.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import numpy as np
import torchvision
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as F

from hw4jax.data import cifar10_archive
from hw4jax.pytorch.torchvision_ops import FixedAffine, FixedJitter, FixedRotation

# The colour-op orders, as hw4jax.augment.spec.JITTER_ORDERS (itertools.permutations(range(3))).
JITTER_ORDERS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))

# How many of the images each single-op fixture covers (the chain covers all of them),
# to keep the file under 3 MB. The warps get their breadth from the coordinate image.
SUBSET = {
    "flipped": 16,
    "rotated": 64,
    "affined": 64,
    "brightness_out": 32,
    "contrast_out": 48,
    "saturation_out": 48,
    "jittered": 96,
    "chain_normalized": 16,  # the whole chain after ToTensor + Normalize, float32
}

# A NEAREST warp only moves whole pixels (or fills 0), so its output on an image whose
# pixels spell their own coordinates, (8x, 8y, 255), is its whole source map: one such
# output checks the warp for every image. This many are recorded for each warp.
NUM_WARPS = 500


def coordinate_image() -> np.ndarray:
    """uint8 [32, 32, 3]: pixel (x, y) = (8x, 8y, 255); a filled pixel reads (0, 0, 0)."""
    x = np.arange(32) * 8
    return np.stack(np.broadcast_arrays(x[None, :], x[:, None], 255), axis=-1).astype(np.uint8)


def draw_params(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Parameters for n images: float32 values (as torch draws them), the first two thirds
    in the homework's ranges, the rest wide, with special values mixed in."""
    homework = (2 * n) // 3
    wide = n - homework

    def uniform(lo, hi, wide_lo, wide_hi):
        values = np.concatenate(
            [rng.uniform(lo, hi, homework), rng.uniform(wide_lo, wide_hi, wide)]
        )
        return values.astype(np.float32)

    params = {
        "flip": rng.random(n) < 0.5,
        "angle": uniform(-10, 10, -400, 400),
        "scale": uniform(0.8, 1.2, 0.4, 2.5),
        "shear": uniform(-10, 10, -60, 60),
        "brightness": uniform(0.8, 1.2, 0.0, 2.5),
        "contrast": uniform(0.8, 1.2, 0.0, 2.5),
        "saturation": uniform(0.8, 1.2, 0.0, 2.5),
    }
    # torchvision's permutation of (brightness, contrast, saturation, hue).
    params["torch_permutation"] = np.stack([rng.permutation(4) for _ in range(n)])

    # Special values in the wide part: where Pillow changes path (rotate's copy and
    # transposes at multiples of 90; shear 0 = the "scale" path without off-diagonal
    # terms) and the blends' end points. Each value goes to a few random images.
    specials = {
        "angle": [0, 90, 180, 270, -90, -180, -270, 360, -360, 45, 720, 0.5, 1e-4],
        "shear": [0, 0, 0, 0, 0, 0, 45, 1e-4],
        "scale": [1, 1, 0.5, 2, 1, 0.75],
        "brightness": [0, 1, 2],
        "contrast": [0, 1, 2],
        "saturation": [0, 1, 2],
    }
    for name, values in specials.items():
        slots = rng.choice(np.arange(homework, n), len(values), replace=False)
        params[name][slots] = values
    return params


def _pinned_ops(params: dict[str, np.ndarray], i: int):
    """The real transform objects with image i's parameters pinned."""
    angle, scale, shear = (float(params[k][i]) for k in ("angle", "scale", "shear"))
    factors = [float(params[k][i]) for k in ("brightness", "contrast", "saturation")]
    return (
        FixedRotation(angle),
        FixedAffine(scale, shear),
        FixedJitter(params["torch_permutation"][i].tolist(), *factors),
        factors,
    )


def record(images: np.ndarray, indices: np.ndarray, params: dict, warps: dict) -> dict:
    """torchvision's outputs for each image with its parameters.

    Returns a dict of arrays (N images, K = NUM_WARPS):
      images uint8 [N,32,32,3], indices int64 [N] (CIFAR-10 train indices);
      flip bool, angle/scale/shear/brightness/contrast/saturation float32 [N];
      torch_permutation int64 [N,4]; order int32 [N,3] (the permutation without hue);
      chain uint8 [N,32,32,3]: Resize -> flip -> rotation -> affine -> jitter;
      each single op on the input image, for the first M images (SUBSET[name]), uint8
      [M,32,32,3]: flipped, rotated, affined, brightness_out, contrast_out, saturation_out,
      jittered; chain_normalized float32 [M,32,32,3] (HWC) after ToTensor + Normalize;
      levels_normalized float32 [256]: ToTensor + Normalize of every uint8 level;
      coordinates uint8 [32,32,3] (coordinate_image), warp_angle, warp_scale, warp_shear
      float32 [K], coordinates_rotated, coordinates_affined uint8 [K,32,32,3]: the
      rotation by warp_angle, the affine by (warp_scale, warp_shear), of that image.
    """
    out = {"images": images, "indices": indices, **params}
    out["order"] = np.array(
        [[int(i) for i in p if i != 3] for p in params["torch_permutation"]], np.int32
    )
    assert all(tuple(o) in JITTER_ORDERS for o in out["order"])
    to_normalized = T.Compose([T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])

    lists = {k: [] for k in ["chain", *SUBSET]}
    for i, image in enumerate(images):
        pil = Image.fromarray(image)
        rotation, affine, jitter, factors = _pinned_ops(params, i)
        flip = T.RandomHorizontalFlip(p=1.0 if params["flip"][i] else 0.0)
        chain = T.Compose([T.Resize((32, 32)), flip, rotation, affine, jitter])(pil)
        lists["chain"].append(np.asarray(chain))
        # Bound now (partial), called below only for the images each array keeps.
        single = {
            "flipped": functools.partial(F.hflip, pil),
            "rotated": functools.partial(rotation, pil),
            "affined": functools.partial(affine, pil),
            "brightness_out": functools.partial(F.adjust_brightness, pil, factors[0]),
            "contrast_out": functools.partial(F.adjust_contrast, pil, factors[1]),
            "saturation_out": functools.partial(F.adjust_saturation, pil, factors[2]),
            "jittered": functools.partial(jitter, pil),
            "chain_normalized": functools.partial(_normalized_hwc, to_normalized, chain),
        }
        for name, count in SUBSET.items():
            if i < count:
                lists[name].append(np.asarray(single[name]()))
    out.update({k: np.stack(v) for k, v in lists.items()})

    levels = np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), 3, axis=2)
    out["levels_normalized"] = to_normalized(Image.fromarray(levels)).numpy()[0].reshape(256)

    coordinates = Image.fromarray(coordinate_image())
    out["coordinates"] = np.asarray(coordinates)
    out["warp_angle"], out["warp_scale"], out["warp_shear"] = (
        warps["angle"],
        warps["scale"],
        warps["shear"],
    )
    rotated, affined = [], []
    for i in range(len(warps["angle"])):
        rotation, affine, _, _ = _pinned_ops(warps, i)
        rotated.append(np.asarray(rotation(coordinates)))
        affined.append(np.asarray(affine(coordinates)))
    out["coordinates_rotated"], out["coordinates_affined"] = np.stack(rotated), np.stack(affined)
    out["versions"] = np.array(f"torchvision {torchvision.__version__}, Pillow {Image.__version__}")
    return out


def _normalized_hwc(to_normalized, image) -> np.ndarray:
    """ToTensor + Normalize of a PIL image, back in HWC layout."""
    return to_normalized(image).numpy().transpose(1, 2, 0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--archive",
        type=Path,
        default=cifar10_archive.default_archive_path(),
        help="cifar-10-binary.tar.gz (default: %(default)s)",
    )
    parser.add_argument("--out", type=Path, required=True, help="the .npz to write")
    parser.add_argument("--num-images", type=int, default=300)
    parser.add_argument(
        "--num-warps",
        type=int,
        default=NUM_WARPS,
        help="parameter sets for the coordinate-image warps",
    )
    parser.add_argument("--seed", type=int, default=0, help="numpy seed for images and parameters")
    args = parser.parse_args(argv)
    least = max(SUBSET.values())
    if not least <= args.num_images <= 50_000 or not 100 <= args.num_warps:
        print(
            f"error: need {least} <= --num-images <= 50000 and --num-warps >= 100", file=sys.stderr
        )
        return 2
    if not args.archive.exists():
        print(f"error: no CIFAR-10 archive at {args.archive}; pass --archive", file=sys.stderr)
        return 2
    try:
        train_images, _ = cifar10_archive.read_split(args.archive, "train")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    indices = np.sort(rng.choice(len(train_images), args.num_images, replace=False))
    params = draw_params(rng, args.num_images)
    warps = draw_params(rng, args.num_warps)
    fixtures = record(train_images[indices], indices, params, warps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **fixtures)
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, {args.num_images} images, "
        f"{args.num_warps} warps of the coordinate image)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
