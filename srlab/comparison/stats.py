"""Paired bootstrap confidence intervals for per-image score differences.

The SR literature compares means over a handful of images (Set5: 5) and argues over 0.02 dB. A
paired bootstrap over images says how much of such a gap the choice of images could explain: the
image indices are resampled with replacement, the *same* indices for the model and the reference
(so per-image difficulty cancels), and the interval is the percentile interval of the resampled
mean differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["DeltaStats", "paired_bootstrap", "paired_delta"]


@dataclass(frozen=True)
class DeltaStats:
    """Mean per-image difference ``model - reference`` with its bootstrap interval.

    Attributes:
        mean: mean difference over the images used.
        low, high: percentile interval of the bootstrap means (``confidence`` level).
        improved: images where the model is strictly better than the reference.
        n: images used (finite differences only).
        resamples, seed, confidence: how the interval was computed.
    """

    mean: float
    low: float
    high: float
    improved: int
    n: int
    resamples: int
    seed: int
    confidence: float

    def as_dict(self) -> dict:
        return {
            "delta": self.mean,
            "ci_low": self.low,
            "ci_high": self.high,
            "improved": self.improved,
            "n": self.n,
        }


def paired_bootstrap(
    delta: Sequence[float] | np.ndarray,
    resamples: int = 10000,
    seed: int = 0,
    confidence: float = 0.95,
    chunk: int = 2000,
) -> DeltaStats:
    """Mean of ``delta (n,)`` and its percentile bootstrap interval over the n entries.

    Each resample draws n indices with replacement (numpy ``default_rng(seed)``, so the interval is
    reproducible) and takes the mean of those entries; the interval is the ``(1-c)/2`` and
    ``(1+c)/2`` percentiles of the ``resamples`` means. Non-finite entries (an image reproduced
    exactly has PSNR = inf) are left out, and ``n`` says how many were used.

    Floating-point care: means are taken of ``delta - delta[0]`` and ``delta[0]`` added back, so a
    constant vector ``[d, …, d]`` gives exactly ``mean = low = high = d`` (summing n copies of 0.1
    and dividing by n does not give 0.1 in floating point).

    Args:
        delta: per-image differences (e.g. PSNR of the model minus PSNR of the reference, dB).
        resamples: bootstrap resamples (>= 1).
        seed: seed of the resampling generator.
        confidence: level of the interval, in (0, 1).
        chunk: resamples drawn at a time (bounds memory at ``chunk * n`` indices).
    """
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    values = np.asarray(delta, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    n = int(values.size)
    if n == 0:
        nan = float("nan")
        return DeltaStats(nan, nan, nan, 0, 0, int(resamples), int(seed), float(confidence))
    centre = values[0]
    centred = values - centre  # exactly 0 where an entry equals the first
    rng = np.random.default_rng(seed)
    means = np.empty(int(resamples), dtype=np.float64)
    for start in range(0, int(resamples), chunk):
        stop = min(start + chunk, int(resamples))
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = centred[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(means, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return DeltaStats(
        mean=float(centre + centred.mean()),
        low=float(centre + low),
        high=float(centre + high),
        improved=int((values > 0).sum()),
        n=n,
        resamples=int(resamples),
        seed=int(seed),
        confidence=float(confidence),
    )


def paired_delta(
    scores: Sequence[float], reference: Sequence[float], **bootstrap
) -> tuple[np.ndarray, DeltaStats]:
    """Per-image ``scores - reference`` (same images, same order) and :func:`paired_bootstrap`."""
    a = np.asarray(scores, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same images: {a.shape} vs {b.shape}")
    delta = a - b
    return delta, paired_bootstrap(delta, **bootstrap)
