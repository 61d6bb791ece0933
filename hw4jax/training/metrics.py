"""Metric totals of training and evaluation steps, summed over steps like clu's metrics.

A step returns ``Totals`` (on device); a loop merges them step by step (on device: no host
sync), reads them to the host now and then (``to_host``) and asks for ``mean_loss`` and
``accuracy``. The same class serves both kinds of step: a train step's ``correct`` and
``count`` are scalars, an eval step's are per true class ([num_classes]), and an eval step
also fills ``confusion``, the [num_classes, num_classes] counts its per-class figures are
the diagonal and row sums of.
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
    per class), and ``confusion`` (int [true class, predicted class] counts, or None where a
    step does not count them). On device they are arrays; after ``to_host`` Python numbers
    (lists per class, a list of rows for ``confusion``)."""

    loss_sum: Any = 0.0
    correct: Any = 0
    count: Any = 0
    confusion: Any = None

    def merge(self, other: Totals) -> Totals:
        """The element-wise sum: one jitted add on device, Python arithmetic on the host."""
        if isinstance(self.loss_sum, jax.Array):
            return _add_on_device(self, other)
        return jax.tree.map(operator.add, self, other)

    def to_host(self) -> Totals:
        """The totals as Python numbers: loss_sum a float, correct and count ints (lists of
        ints per class), confusion a list of rows of ints (or None). Reading device totals
        waits for the steps that produced them."""
        host = jax.device_get(self)
        return Totals(
            loss_sum=float(host.loss_sum),
            correct=_ints(host.correct),
            count=_ints(host.count),
            confusion=None if host.confusion is None else np.asarray(host.confusion).tolist(),
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
        """{'loss_sum', 'correct', 'count'[, 'confusion']} of host totals, for JSON (a
        checkpoint's progress); 'confusion' only where it is counted, so ``Totals(**d)``
        reads the progress of checkpoints written before it existed."""
        d = {"loss_sum": self.loss_sum, "correct": self.correct, "count": self.count}
        if self.confusion is not None:
            d["confusion"] = self.confusion
        return d


def _ints(x: Any) -> int | list[int]:
    x = np.asarray(x)
    return int(x) if x.ndim == 0 else [int(v) for v in x]
