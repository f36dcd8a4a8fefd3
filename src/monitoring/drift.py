"""Distances between two binned distributions: the reference's and one window's.

All three work on bin counts, so they are exact for the mergeable summaries `mmp monitor` keeps
(the same counts from the local engine and from Spark give the same scores).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

# Empty bins get this share before the logarithm (the usual PSI smoothing); it caps one bin's
# contribution near 0.92 instead of infinity.
EPSILON = 1e-4


def shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [c / total for c in counts] if total > 0 else [0.0 for _ in counts]


def psi(reference: Sequence[float], current: Sequence[float]) -> float:
    """Population stability index: sum over bins of (q - p) * ln(q / p)."""
    p = [max(s, EPSILON) for s in shares(reference)]
    q = [max(s, EPSILON) for s in shares(current)]
    return float(sum((qi - pi) * math.log(qi / pi) for pi, qi in zip(p, q, strict=True)))


def jensen_shannon(reference: Sequence[float], current: Sequence[float]) -> float:
    """Jensen–Shannon distance (square root of the divergence, base 2): 0 identical, 1 disjoint."""
    p, q = shares(reference), shares(current)
    m = [(a + b) / 2 for a, b in zip(p, q, strict=True)]

    def kl(x: list[float]) -> float:
        return sum(a * math.log2(a / b) for a, b in zip(x, m, strict=True) if a > 0)

    return math.sqrt(max(0.0, (kl(p) + kl(q)) / 2))


def bin_centres(edges: Sequence[float], low: float, high: float) -> list[float]:
    """A representative value per bin: (-inf, e0], (e0, e1], ..., (e_last, inf) bounded by min/max."""
    if not edges:
        return [(low + high) / 2]
    bounds = [min(low, edges[0]), *edges, max(high, edges[-1])]
    return [(a + b) / 2 for a, b in itertools.pairwise(bounds)]


def wasserstein_binned(
    reference: Sequence[float], current: Sequence[float], centres: Sequence[float], scale: float
) -> float:
    """Earth mover's distance between the two binned distributions, in reference standard deviations.

    Mass moves between bin centres, so shifts beyond the reference range are under-measured: PSI and
    the out-of-range rate catch those.
    """
    p, q = shares(reference), shares(current)
    distance, cdf_gap = 0.0, 0.0
    for i in range(len(p) - 1):
        cdf_gap += p[i] - q[i]
        distance += abs(cdf_gap) * (centres[i + 1] - centres[i])
    return distance / scale if scale > 0 else 0.0
