"""The statistics of the hw4jax-vs-PyTorch training comparison: Welch's interval per metric.

Runs are seeds: each framework's seeds are an independent sample of its epoch figures (the
initial weights, dropout masks, data order and augmentation draws all change with the seed,
and the two frameworks share none of them, so the samples are not paired). For each epoch
and metric, ``welch`` gives the difference of the two means, its standard error, the
Welch-Satterthwaite degrees of freedom and the 95% confidence interval
``difference +- t(0.975, df) * se``: Welch's because the two frameworks' spreads need not be
equal, and with 3 seeds a side no test of equal variances could tell.

The t quantile comes from ``scipy.stats.t`` (SciPy is a dependency of JAX already): at a
non-integer df no short exact routine exists, and a series approximation would need its
own proof of accuracy.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclasses.dataclass(frozen=True)
class Sample:
    """One framework's figures over seeds: mean, standard deviation (n - 1), count."""

    mean: float
    sd: float | None  # None with fewer than 2 values
    n: int
    values: tuple[float, ...]

    def to_dict(self) -> dict:
        return {"mean": self.mean, "sd": self.sd, "n": self.n, "values": list(self.values)}


def sample(values: Sequence[float]) -> Sample:
    """Mean and sample standard deviation (ddof 1) of ``values``.

    Raises:
      ValueError: no values, or a value that is not finite.
    """
    x = np.asarray(values, np.float64)
    if x.size == 0:
        raise ValueError("no values: a sample needs at least one run")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"values must be finite, got {list(values)}")
    sd = float(x.std(ddof=1)) if x.size > 1 else None
    return Sample(float(x.mean()), sd, int(x.size), tuple(float(v) for v in x))


@dataclasses.dataclass(frozen=True)
class Difference:
    """``a.mean - b.mean`` with Welch's standard error, df and confidence interval.

    ``se``, ``df``, ``ci`` are None where either side has fewer than 2 values. With both
    spreads 0 (identical runs), se is 0, df None and the interval the difference itself.
    """

    difference: float
    relative: float | None  # difference / |b.mean|
    se: float | None
    df: float | None
    ci: tuple[float, float] | None
    confidence: float

    @property
    def excludes_zero(self) -> bool | None:
        """Whether the interval lies wholly above or below 0 (None: no interval)."""
        if self.ci is None:
            return None
        return self.ci[0] > 0 or self.ci[1] < 0

    def to_dict(self) -> dict:
        return {
            "difference": self.difference,
            "relative": self.relative,
            "se": self.se,
            "df": self.df,
            "ci": None if self.ci is None else list(self.ci),
            "confidence": self.confidence,
            "excludes_zero": self.excludes_zero,
        }


def welch(a: Sample, b: Sample, *, confidence: float = CONFIDENCE) -> Difference:
    """Welch's interval for ``mean(a) - mean(b)``.

    se = sqrt(sa^2 / na + sb^2 / nb); df = se^4 / ((sa^2 / na)^2 / (na - 1) +
    (sb^2 / nb)^2 / (nb - 1)) (Welch-Satterthwaite); the interval is
    difference +- t_{(1 + confidence) / 2}(df) * se.

    Raises:
      ValueError: confidence outside (0, 1).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    difference = a.mean - b.mean
    relative = difference / abs(b.mean) if b.mean != 0 else None
    if a.sd is None or b.sd is None:
        return Difference(difference, relative, None, None, None, confidence)
    va, vb = a.sd**2 / a.n, b.sd**2 / b.n
    se = math.sqrt(va + vb)
    if se == 0:
        return Difference(difference, relative, 0.0, None, (difference, difference), confidence)
    df = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    half = float(stats.t.ppf((1 + confidence) / 2, df)) * se
    return Difference(
        difference, relative, se, df, (difference - half, difference + half), confidence
    )


def mean_interval(s: Sample, *, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The t interval of one sample's mean (for the plot's error bars), None below n = 2."""
    if s.sd is None:
        return None
    half = float(stats.t.ppf((1 + confidence) / 2, s.n - 1)) * s.sd / math.sqrt(s.n)
    return s.mean - half, s.mean + half
