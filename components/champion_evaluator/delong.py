"""DeLong's variance of the difference of two AUCs measured on the same rows, by Sun & Xu's fast algorithm.

DeLong, DeLong & Clarke-Pearson (1988), "Comparing the areas under two or more correlated receiver operating
characteristic curves: a nonparametric approach", Biometrics 44(3): 837-845. Sun & Xu (2014), "Fast implementation of
DeLong's algorithm for comparing the areas under correlated receiver operating characteristic curves", IEEE Signal
Processing Letters 21(11): 1389-1393. Midranks give both AUCs (Mann-Whitney, ties counted half) and their placement
values in O(n log n); the two models' placements are correlated because they score the same rows, and the covariance
term is what makes the interval of the difference narrower than two independent intervals would suggest.
"""

import dataclasses
import math
import statistics

import numpy as np


@dataclasses.dataclass(frozen=True)
class PairedAUC:
    """Both models' exact AUC on the same rows, their difference and its standard error."""

    candidate: float
    baseline: float
    difference: float  # candidate - baseline
    std_error: float
    positives: int
    negatives: int


def z_score(confidence: float) -> float:
    """The normal quantile of a two-sided interval: 1.96 for 0.95."""
    return statistics.NormalDist().inv_cdf(0.5 + confidence / 2)


def midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values`, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return ranks


def paired_auc(labels: np.ndarray, candidate: np.ndarray, baseline: np.ndarray) -> PairedAUC | None:
    """DeLong's comparison of two models' scores on the same rows; None without two rows of each class (no
    variance can be estimated then)."""
    positive = np.asarray(labels, dtype=np.float64) > 0.5
    positives, negatives = int(positive.sum()), int((~positive).sum())
    if positives < 2 or negatives < 2:
        return None
    aucs, v10, v01 = [], np.empty((2, positives)), np.empty((2, negatives))
    for model, scores in enumerate((np.asarray(candidate, np.float64), np.asarray(baseline, np.float64))):
        x, y = scores[positive], scores[~positive]
        combined = midranks(np.concatenate([x, y]))
        # A positive's placement: the share of negatives it outscores; a negative's: the share of positives above it.
        v10[model] = (combined[:positives] - midranks(x)) / negatives
        v01[model] = 1.0 - (combined[positives:] - midranks(y)) / positives
        aucs.append(float(v10[model].mean()))
    covariance = np.cov(v10) / positives + np.cov(v01) / negatives
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    return PairedAUC(
        candidate=aucs[0],
        baseline=aucs[1],
        difference=aucs[0] - aucs[1],
        std_error=math.sqrt(max(float(variance), 0.0)),  # rounding can take an exact 0 a hair below
        positives=positives,
        negatives=negatives,
    )
