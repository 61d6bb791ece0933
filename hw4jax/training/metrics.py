"""Metric totals of training and evaluation steps, summed over steps like clu's metrics.

A step returns ``Totals`` (on device); a loop merges them step by step (on device: no host
sync), reads them to the host now and then (``to_host``) and asks for ``mean_loss`` and
``accuracy``. The same class serves both kinds of step: a train step's ``correct`` and
``count`` are scalars, an eval step's are per true class ([num_classes]).
"""

from __future__ import annotations

import operator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


@jax.jit
def _add_on_device(a: Totals, b: Totals) -> Totals:
    return jax.tree.map(jnp.add, a, b)


@struct.dataclass
class Totals:
    """Sums over examples: ``loss_sum`` (float), ``correct`` and ``count`` (ints, scalars or
    per class). On device they are arrays; after ``to_host`` Python numbers (lists per class)."""

    loss_sum: Any = 0.0
    correct: Any = 0
    count: Any = 0

    def merge(self, other: Totals) -> Totals:
        """The element-wise sum: one jitted add on device, Python arithmetic on the host."""
        if isinstance(self.loss_sum, jax.Array):
            return _add_on_device(self, other)
        return jax.tree.map(operator.add, self, other)

    def to_host(self) -> Totals:
        """The totals as Python numbers: loss_sum a float, correct and count ints (lists of
        ints per class). Reading device totals waits for the steps that produced them."""
        host = jax.device_get(self)
        return Totals(
            loss_sum=float(host.loss_sum), correct=_ints(host.correct), count=_ints(host.count)
        )

    @property
    def num_examples(self) -> int:
        return int(np.sum(self.count))

    @property
    def mean_loss(self) -> float:
        """loss_sum per example (0 examples: loss_sum)."""
        return float(self.loss_sum) / max(self.num_examples, 1)

    @property
    def accuracy(self) -> float:
        """Correct predictions per example, over all classes."""
        return int(np.sum(self.correct)) / max(self.num_examples, 1)

    def to_dict(self) -> dict:
        """{'loss_sum', 'correct', 'count'} of host totals, for JSON (a checkpoint's progress)."""
        return {"loss_sum": self.loss_sum, "correct": self.correct, "count": self.count}


def _ints(x: Any) -> int | list[int]:
    x = np.asarray(x)
    return int(x) if x.ndim == 0 else [int(v) for v in x]
