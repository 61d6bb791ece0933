"""torchvision's augmentation with its random parameters pinned: what the homework's train
transform does to one image given ``AugmentParams`` (needs torchvision and Pillow).

The real transform classes run, with their ``get_params`` returning the given values, so
an output here is exactly what the homework's transform gives for those draws
(``scripts/make_augment_fixtures.py`` records the golden fixtures this way, and
``scripts/show_augment.py`` shows it beside hw4jax's output). Imports neither JAX nor
TensorFlow: it runs in an environment with torchvision alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import functional as F

HUE = 3  # ColorJitter's index of hue in its permutation of (brightness, contrast, saturation, hue)


class FixedRotation(T.RandomRotation):
    """RandomRotation(10) with its drawn angle pinned."""

    def __init__(self, angle: float):
        super().__init__(10)
        self.angle = angle

    def get_params(self, degrees):
        return self.angle


class FixedAffine(T.RandomAffine):
    """RandomAffine(0, shear=10, scale=(0.8, 1.2)) with its drawn scale and x-shear pinned."""

    def __init__(self, scale: float, shear: float):
        super().__init__(0, shear=10, scale=(0.8, 1.2))
        self.fixed = (0.0, (0, 0), scale, (shear, 0.0))

    def get_params(self, degrees, translate, scale_ranges, shears, img_size):
        return self.fixed


class FixedJitter(T.ColorJitter):
    """ColorJitter(0.2, 0.2, 0.2) with its permutation (of 0..3, hue = 3) and factors
    pinned."""

    def __init__(self, permutation, brightness: float, contrast: float, saturation: float):
        super().__init__(0.2, 0.2, 0.2)
        self.fixed = (torch.tensor(permutation), brightness, contrast, saturation, None)

    def get_params(self, brightness, contrast, saturation, hue):
        return self.fixed


def version() -> str:
    """The torchvision and Pillow versions, as the fixtures record them."""
    import PIL
    import torchvision

    return f"{torchvision.__version__}, Pillow {PIL.__version__}"


def torch_permutation(order: Sequence[int]) -> list[int]:
    """ColorJitter's permutation for a colour-op ``order`` of (0, 1, 2): hue, which is off
    and skipped wherever it comes, last."""
    return [int(i) for i in order] + [HUE]


def outputs(image: np.ndarray, params) -> dict[str, np.ndarray]:
    """What each op of the homework's transform does to ``image`` with ``params``, by
    torchvision's PIL path.

    Args:
      image: uint8 [H, W, 3].
      params: one image's ``hw4jax.augment.AugmentParams`` (scalars; order [3]).

    Returns:
      uint8 [H, W, 3] per op: 'flip' (always mirrored), 'rotate', 'affine', 'brightness',
      'contrast', 'saturation' (each on ``image`` alone) and 'chain' (the whole transform
      up to ToTensor: flip when ``params.flip``, rotation, affine, colour jitter).
    """
    pil = Image.fromarray(np.asarray(image, np.uint8))
    rotation = FixedRotation(float(params.angle))
    affine = FixedAffine(float(params.scale), float(params.shear))
    factors = [float(params.brightness), float(params.contrast), float(params.saturation)]
    jitter = FixedJitter(torch_permutation(np.asarray(params.order)), *factors)
    flip = T.RandomHorizontalFlip(p=1.0 if bool(params.flip) else 0.0)
    chain = T.Compose([T.Resize(pil.size[::-1]), flip, rotation, affine, jitter])
    out = {
        "flip": F.hflip(pil),
        "rotate": rotation(pil),
        "affine": affine(pil),
        "brightness": F.adjust_brightness(pil, factors[0]),
        "contrast": F.adjust_contrast(pil, factors[1]),
        "saturation": F.adjust_saturation(pil, factors[2]),
        "chain": chain(pil),
    }
    return {name: np.asarray(result) for name, result in out.items()}
