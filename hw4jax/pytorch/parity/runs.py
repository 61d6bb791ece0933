"""The CNN computations the rows compare (``CnnRuns``), each made once: both frameworks in
both precisions, and float64 along each framework's float32 branch where it differs from
exact arithmetic's."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hw4jax.pytorch.parity import jax_side, torch_side
from hw4jax.pytorch.parity.computed import Computed, float32_inputs
from hw4jax.pytorch.parity.criteria import OPTIMIZER_NAMES


def compute_cnn(
    state_dict: Mapping[str, np.ndarray],
    batches: list[tuple[np.ndarray, np.ndarray]],
    *,
    precision: str,
    framework: str,
    device: str = "cpu",
    learning_rates: Mapping[str, float] | None = None,
    optimizer_names: Sequence[str] = OPTIMIZER_NAMES,
    branches: Mapping[str, Any] | None = None,
) -> Computed:
    """One framework's quantities, from ``float32_inputs(state_dict)`` and the batches.

    Args:
      state_dict: a Net state_dict (numpy arrays); rounded to float32 first.
      batches: [(images float32 [N, 3, 32, 32] NCHW, labels int [N])]; the first batch
        feeds the forward and gradient quantities, all of them the optimizer steps.
      precision: 'float64' or 'float32'.
      framework: 'hw4jax' or 'pytorch'.
      device: 'cpu' or 'gpu'.
      learning_rates: per optimizer name; default ``hw4jax.optimizers.DEFAULT_LEARNING_RATES``.
      optimizer_names: the optimizers whose k steps are computed.
      branches: hw4jax only: follow these recorded decisions (another run's
        ``Computed.branches``) in every train-mode forward instead of deciding.
    """
    import jax

    from hw4jax.training import optimizers

    if precision not in ("float64", "float32"):
        raise ValueError(f"precision must be 'float64' or 'float32', got {precision!r}")
    if framework not in ("hw4jax", "pytorch"):
        raise ValueError(f"framework must be 'hw4jax' or 'pytorch', got {framework!r}")
    if branches is not None and framework != "hw4jax":
        raise ValueError("only hw4jax's model can follow recorded branches")
    x64 = precision == "float64"
    kwargs = dict(
        x64=x64,
        learning_rates=dict(learning_rates or optimizers.DEFAULT_LEARNING_RATES),
        optimizer_names=tuple(optimizer_names),
    )
    sd = float32_inputs(state_dict)
    batches = [(np.asarray(images, np.float32), np.asarray(labels)) for images, labels in batches]
    with contextlib.ExitStack() as stack:
        stack.enter_context(jax.enable_x64(x64))
        stack.enter_context(jax.default_matmul_precision("highest"))
        stack.enter_context(torch_side.highest_precision())
        stack.enter_context(jax.default_device(_jax_device(device)))
        if framework == "hw4jax":
            return jax_side.compute_hw4jax(sd, batches, branches=branches, **kwargs)
        return torch_side.compute_pytorch(sd, batches, device=device, **kwargs)


def _jax_device(device: str):
    import jax

    return jax.devices("gpu" if device == "gpu" else "cpu")[0]


def _decisions(branches: Mapping[str, Any]):
    """(name, decision) of every recorded forward, in a fixed order."""
    for key in sorted(branches):
        forwards = branches[key] if isinstance(branches[key], list) else [branches[key]]
        for forward in forwards:
            for name in sorted(forward):
                yield name, forward[name]


def branch_differences(branches: Mapping[str, Any], exact: Mapping[str, Any]) -> int:
    """How many ReLU or max-pool decisions of ``branches`` differ from ``exact``'s (a float64
    run of the same framework), over every recorded forward; a max-pool window counts once."""
    count = 0
    for (name, got), (_, want) in zip(_decisions(branches), _decisions(exact), strict=True):
        differ = got != want
        count += int(
            np.count_nonzero(np.any(differ, axis=(2, 4)) if name.startswith("pool") else differ)
        )
    return count


class CnnRuns:
    """The CNN computations the rows compare, each made once, when first needed.

    ``get(framework, precision)`` is one framework's ``Computed``; ``on_branch_of(framework)``
    is the float64 computation on that framework's float32 branch: PyTorch's float64 run
    where the branch is exact arithmetic's own, else hw4jax's model following the branch
    (the float64 rows show the two models are the same function).
    """

    def __init__(
        self,
        state_dict: Mapping[str, np.ndarray],
        batches: list[tuple[np.ndarray, np.ndarray]],
        *,
        device: str = "cpu",
        learning_rates: Mapping[str, float] | None = None,
        optimizer_names: Sequence[str] = OPTIMIZER_NAMES,
    ) -> None:
        from hw4jax.training import optimizers

        self.state_dict, self.batches, self.device = state_dict, batches, device
        self.learning_rates = dict(learning_rates or optimizers.DEFAULT_LEARNING_RATES)
        self.optimizer_names = tuple(optimizer_names)
        self._cache: dict[tuple[str, ...], Computed] = {}

    def _compute(self, key: tuple[str, ...], **kwargs) -> Computed:
        if key not in self._cache:
            self._cache[key] = compute_cnn(
                self.state_dict,
                self.batches,
                device=self.device,
                learning_rates=self.learning_rates,
                optimizer_names=self.optimizer_names,
                **kwargs,
            )
        return self._cache[key]

    def get(self, framework: str, precision: str) -> Computed:
        return self._compute((framework, precision), framework=framework, precision=precision)

    def differences(self, framework: str) -> int:
        """The framework's float32 decisions unlike exact arithmetic's."""
        return branch_differences(
            self.get(framework, "float32").branches, self.get(framework, "float64").branches
        )

    def on_branch_of(self, framework: str) -> Computed:
        if self.differences(framework) == 0:
            return self.get("pytorch", "float64")
        return self._compute(
            ("hw4jax", "float64", framework),
            framework="hw4jax",
            precision="float64",
            branches=self.get(framework, "float32").branches,
        )
