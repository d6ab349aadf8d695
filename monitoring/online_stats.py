"""The estimates of online quality, each with a confidence interval, and the differences between two versions.

AUC: exact (Mann-Whitney, ties counted half), DeLong's variance from the placement values (DeLong, DeLong &
Clarke-Pearson 1988; midranks as in components/champion_evaluator/delong.py, Sun & Xu's algorithm), a normal
interval clipped to [0, 1]. Log loss: the mean of the rows' losses (scores clipped to [1e-15, 1 - 1e-15]) with a
Student t interval. Rates: a score's mean with a t interval; a share of rows with Wilson's score interval.
Differences (candidate - baseline): on the same rows (paired), DeLong's paired test for the AUC and a t interval of
the rows' loss differences; on different rows (unpaired), the AUCs' independent DeLong variances added, and Welch's
t interval for the log loss. A value that cannot be computed (one class only, too few rows) is None with the reason.
"""

import dataclasses
import math

import numpy as np
from scipy import stats

from components.champion_evaluator import delong

EPSILON = 1e-15  # scores are clipped to [EPSILON, 1 - EPSILON] before the log, as scikit-learn's log_loss did


@dataclasses.dataclass
class Estimate:
    """A value and its confidence interval; value None (with the reason) when it cannot be computed, and low/high
    None (with the reason) when the value can but its interval cannot."""

    value: float | None
    low: float | None = None
    high: float | None = None
    reason: str | None = None


def unavailable(reason: str) -> Estimate:
    return Estimate(None, None, None, reason)


def _interval(value: float, half_width: float, lowest: float = -math.inf, highest: float = math.inf) -> Estimate:
    return Estimate(value, max(lowest, value - half_width), min(highest, value + half_width))


def _classes(labels: np.ndarray) -> tuple[int, int]:
    positives = int((labels > 0.5).sum())
    return positives, len(labels) - positives


def _t(confidence: float, degrees: float) -> float:
    return float(stats.t.ppf(0.5 + confidence / 2, degrees))


def placements(labels: np.ndarray, scores: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The exact AUC and DeLong's placement values of the positives (V10) and of the negatives (V01)."""
    positive = labels > 0.5
    x, y = scores[positive], scores[~positive]
    combined = delong.midranks(np.concatenate([x, y]))
    v10 = (combined[: len(x)] - delong.midranks(x)) / len(y)  # the share of negatives each positive outscores
    v01 = 1.0 - (combined[len(x) :] - delong.midranks(y)) / len(x)  # the share of positives above each negative
    return float(v10.mean()), v10, v01


def _auc_variance(labels: np.ndarray, scores: np.ndarray) -> tuple[float | None, float | None, str | None]:
    positives, negatives = _classes(labels)
    if not positives or not negatives:
        return None, None, f"one class only ({positives} positive, {negatives} negative labels)"
    value, v10, v01 = placements(labels, scores)
    if positives < 2 or negatives < 2:
        return value, None, f"no variance with {positives} positive and {negatives} negative labels (2 of each needed)"
    return value, float(np.var(v10, ddof=1) / positives + np.var(v01, ddof=1) / negatives), None


def auc(labels: np.ndarray, scores: np.ndarray, confidence: float) -> Estimate:
    """The AUC with DeLong's interval."""
    value, variance, reason = _auc_variance(labels, scores)
    if value is None or variance is None:
        return Estimate(value, reason=reason)
    return _interval(value, delong.z_score(confidence) * math.sqrt(variance), 0.0, 1.0)


def losses(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each row's log loss."""
    clipped = np.clip(scores, EPSILON, 1 - EPSILON)
    return -(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))


def mean(values: np.ndarray, confidence: float, lowest: float = -math.inf, highest: float = math.inf) -> Estimate:
    """A mean with Student's t interval."""
    if len(values) == 0:
        return unavailable("no labelled predictions")
    value = float(values.mean())
    if len(values) < 2:
        return Estimate(value, reason="no interval from a single row")
    half_width = _t(confidence, len(values) - 1) * float(values.std(ddof=1)) / math.sqrt(len(values))
    return _interval(value, half_width, lowest, highest)


def log_loss(labels: np.ndarray, scores: np.ndarray, confidence: float) -> Estimate:
    """The mean log loss with a t interval."""
    return mean(losses(labels, scores), confidence, lowest=0.0)


def wilson(successes: int, trials: int, confidence: float) -> Estimate:
    """A share with Wilson's score interval."""
    if trials == 0:
        return unavailable("no rows")
    z, share = delong.z_score(confidence), successes / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half_width = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return Estimate(share, max(0.0, centre - half_width), min(1.0, centre + half_width))


def auc_difference_unpaired(
    candidate: tuple[np.ndarray, np.ndarray], baseline: tuple[np.ndarray, np.ndarray], confidence: float
) -> Estimate:
    """Candidate AUC - baseline AUC on different rows, each (labels, scores): independent DeLong variances added."""
    found = [_auc_variance(labels, scores) for labels, scores in (candidate, baseline)]
    for name, (value, variance, reason) in zip(("candidate", "baseline"), found, strict=True):
        if value is None or variance is None:
            return unavailable(f"{name}: {reason}")
    (value_c, variance_c, _), (value_b, variance_b, _) = found
    return _interval(value_c - value_b, delong.z_score(confidence) * math.sqrt(variance_c + variance_b))


def auc_difference_paired(
    labels: np.ndarray, candidate: np.ndarray, baseline: np.ndarray, confidence: float
) -> Estimate:
    """Candidate AUC - baseline AUC on the same rows: DeLong's paired test."""
    found = delong.paired_auc(labels, candidate, baseline)
    if found is None:
        positives, negatives = _classes(labels)
        return unavailable(f"2 rows of each class needed ({positives} positive, {negatives} negative labels)")
    return _interval(found.difference, delong.z_score(confidence) * found.std_error)


def log_loss_difference_unpaired(
    candidate: tuple[np.ndarray, np.ndarray], baseline: tuple[np.ndarray, np.ndarray], confidence: float
) -> Estimate:
    """Candidate - baseline mean log loss on different rows: Welch's t interval."""
    loss_c, loss_b = losses(*candidate), losses(*baseline)
    if len(loss_c) < 2 or len(loss_b) < 2:
        return unavailable(f"2 labelled rows of each needed ({len(loss_c)} candidate, {len(loss_b)} baseline)")
    difference = float(loss_c.mean() - loss_b.mean())
    share_c, share_b = loss_c.var(ddof=1) / len(loss_c), loss_b.var(ddof=1) / len(loss_b)
    std_error = math.sqrt(share_c + share_b)
    if std_error == 0:
        return Estimate(difference, difference, difference)
    degrees = (share_c + share_b) ** 2 / (share_c**2 / (len(loss_c) - 1) + share_b**2 / (len(loss_b) - 1))
    return _interval(difference, _t(confidence, degrees) * std_error)


def log_loss_difference_paired(
    labels: np.ndarray, candidate: np.ndarray, baseline: np.ndarray, confidence: float
) -> Estimate:
    """Candidate - baseline mean log loss on the same rows: a t interval of the rows' differences."""
    found = mean(losses(labels, candidate) - losses(labels, baseline), confidence)
    if found.value is not None and found.low is None:
        return Estimate(found.value, reason="no interval from a single pair")
    return found
