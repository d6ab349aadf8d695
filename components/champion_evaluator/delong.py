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


def placements(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each positive's share of negatives it outscores, each negative's share of positives scored above it), ties
    counted half: their means are the AUC, their variances give DeLong's variance of it."""
    positive = np.asarray(labels, dtype=np.float64) > 0.5
    scores = np.asarray(scores, np.float64)
    positives, negatives = int(positive.sum()), int((~positive).sum())
    x, y = scores[positive], scores[~positive]
    combined = midranks(np.concatenate([x, y]))
    return (combined[:positives] - midranks(x)) / negatives, 1.0 - (combined[positives:] - midranks(y)) / positives


def paired_auc(labels: np.ndarray, candidate: np.ndarray, baseline: np.ndarray) -> PairedAUC | None:
    """DeLong's comparison of two models' scores on the same rows; None without two rows of each class (no
    variance can be estimated then)."""
    positive = np.asarray(labels, dtype=np.float64) > 0.5
    positives, negatives = int(positive.sum()), int((~positive).sum())
    if positives < 2 or negatives < 2:
        return None
    aucs, v10, v01 = [], np.empty((2, positives)), np.empty((2, negatives))
    for model, scores in enumerate((candidate, baseline)):
        v10[model], v01[model] = placements(labels, scores)
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


def auc_with_error(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float] | None:
    """One model's AUC and DeLong's standard error of it; None without two rows of each class. Two models scored on
    different rows are independent: the variance of their difference is the sum of both variances."""
    positive = np.asarray(labels, dtype=np.float64) > 0.5
    positives, negatives = int(positive.sum()), int((~positive).sum())
    if positives < 2 or negatives < 2:
        return None
    v10, v01 = placements(labels, scores)
    variance = np.var(v10, ddof=1) / positives + np.var(v01, ddof=1) / negatives
    return float(v10.mean()), math.sqrt(max(float(variance), 0.0))
