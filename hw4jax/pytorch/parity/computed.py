"""``Computed``: every quantity one framework computes at one precision, from the float32
values of the weights (``float32_inputs``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from hw4jax.pytorch import interop as torch_interop
from hw4jax.pytorch.parity.criteria import flatten

ReLUMask = np.ndarray  # bool, the ReLU's input shape (NHWC or [N, F]): x > 0

PoolWeights = np.ndarray  # float32 [N, H//2, 2, W//2, 2, C]: each window's gradient routing


@dataclasses.dataclass(frozen=True)
class Computed:
    """Every compared quantity of one framework at one precision, as float64 numpy arrays.

    Attributes:
      forward: 'eval logits' [N, 10], 'train logits' [N, 10] and 'train loss' [] (dropout off).
      grads: the first batch's gradient per parameter, 'conv1/kernel' ... (hw4jax's layout).
      stats: BatchNorm running statistics after that one train step, 'bn1/mean' ...
      steps: per optimizer name, (params, running statistics) after k steps.
      dtypes: the dtypes the framework computed in.
      branches: the decisions of every train-mode forward ('grad': the first batch's; per
        optimizer name, one per step): {'relu1': ReLUMask, ..., 'pool1': PoolWeights, ...}.
      adam_rms: per parameter, the smallest sqrt(v_hat_t) over Adam's k steps (the scale
        each step divides by, next to eps).
    """

    forward: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    steps: dict[str, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]
    dtypes: frozenset[str]
    branches: dict[str, Any] = dataclasses.field(default_factory=dict)
    adam_rms: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


def as_f64(tree: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype=np.float64) for k, v in flatten(tree).items()}


def float32_inputs(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The state_dict with every float tensor rounded to float32 (the counter kept): the
    inputs both precisions start from, so that the float64 run is the exact-arithmetic
    reference of the float32 runs."""
    return {
        k: (
            np.asarray(v)
            if k.endswith(torch_interop.NUM_BATCHES_TRACKED)
            else np.asarray(v, dtype=np.float32)
        )
        for k, v in state_dict.items()
    }
