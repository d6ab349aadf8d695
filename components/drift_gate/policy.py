"""Drift findings and the verdict on the newest span (pure logic, no TFX types).

TFDV measures the shape (DistributionValidator's anomalies: Jensen-Shannon divergence, L-infinity distance, the row
count); measures.py adds the change of the non-zero median of numeric features, from the same statistics, and the
change of the label's positive rate with its confidence interval, from the label counts WindowExampleGen records
per span. The configuration says per feature "block" (stop before Transform) or "warn" (report only). The verdict on
the newest span is what later runs read back from ML Metadata (ledger.py): rejected spans never become a reference.
"""

import dataclasses
from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

from components.drift_gate import measures

BLOCK, WARN = "block", "warn"
ROW_COUNT = "row count"
LABEL = "label"
MEDIAN_CHANGE = "median change"
# Verdicts on the newest span: passed, accepted on request (past a blocking threshold), rejected, or not checked
# (nothing to compare with).
PASSED, ACCEPTED, REJECTED, NOT_CHECKED = "passed", "accepted", "rejected", "not checked"
_MEASURES = {
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: "Jensen-Shannon divergence",
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: "L-infinity distance",
    anomalies_pb2.DriftSkewInfo.Measurement.NORMALIZED_ABSOLUTE_DIFFERENCE: "normalized absolute difference",
}
_ROW_COUNT_REASONS = (
    anomalies_pb2.AnomalyInfo.COMPARATOR_LOW_NUM_EXAMPLES,
    anomalies_pb2.AnomalyInfo.COMPARATOR_HIGH_NUM_EXAMPLES,
)
NOT_COUNTED = (
    "no label counts on the Examples artifact (written before WindowExampleGen recorded them); run again without "
    "the cache (kfx run --no-cache)"
)


@dataclasses.dataclass(frozen=True)
class Measurement:
    feature: str
    measure: str
    value: float | None  # None: TFDV reported no number (the row count), or the counts are missing
    threshold: float | None
    action: str
    detail: str = ""  # what the number means here, or TFDV's own words when there is no number

    @property
    def over(self) -> bool:
        return self.value is None or self.value > self.threshold

    def describe(self) -> str:
        """One line naming the feature, the measure, the value and the threshold."""
        if self.value is None:
            return f"{self.feature}: {self.detail}"
        name = self.feature if self.feature == LABEL else f"feature '{self.feature}'"
        detail = f" ({self.detail})" if self.detail else ""
        return f"{name}: {self.measure} {self.value:.3f} > threshold {self.threshold:.3f}{detail}"


@dataclasses.dataclass(frozen=True)
class LabelCounts:
    """One span's rows (every one with a label) and its positive rows."""

    rows: int
    positives: int


def _action(settings: dict[str, Any], feature: str) -> str:
    return settings.get("feature_actions", {}).get(feature, settings.get("default_action", BLOCK))


def measurements(anomalies: anomalies_pb2.Anomalies, settings: dict[str, Any]) -> list[Measurement]:
    """Every drift measurement TFDV made (over its threshold or not), with the action configured for it."""
    found = []
    for info in anomalies.drift_skew_info:
        feature = ".".join(info.path.step)
        for measurement in info.drift_measurements:
            name = _MEASURES.get(measurement.type, "distance")
            detail = "largest change of one value's share" if name == "L-infinity distance" else ""
            found.append(
                Measurement(feature, name, measurement.value, measurement.threshold, _action(settings, feature), detail)
            )
    for reason in anomalies.dataset_anomaly_info.reason:
        if reason.type in _ROW_COUNT_REASONS:
            action = settings.get("row_count_action", WARN)
            found.append(Measurement(ROW_COUNT, "row count ratio", None, None, action, reason.description))
    return found


def _by_name(
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
) -> dict[str, statistics_pb2.FeatureNameStatistics]:
    return {".".join(f.path.step) or f.name: f for f in statistics.datasets[0].features}


def median_measurements(
    newest: statistics_pb2.DatasetFeatureStatisticsList,
    reference: statistics_pb2.DatasetFeatureStatisticsList,
    settings: dict[str, Any],
) -> list[Measurement]:
    """The change of the non-zero median of each numeric feature with a threshold (a string feature has none)."""
    new_features, old_features = _by_name(newest), _by_name(reference)
    found = []
    for feature, threshold in settings.get("median_change", {}).items():
        if feature not in new_features or feature not in old_features:
            continue
        change = measures.median_change(new_features[feature], old_features[feature])
        if change is None:
            continue
        old, new = measures.nonzero_median(old_features[feature]), measures.nonzero_median(new_features[feature])
        detail = f"median of the non-zero values {old:.4g} -> {new:.4g}"
        found.append(Measurement(feature, MEDIAN_CHANGE, change, float(threshold), _action(settings, feature), detail))
    return found


def label_measurement(
    newest: LabelCounts | None, reference: LabelCounts | None, settings: dict[str, Any]
) -> Measurement | None:
    """The change of the label's positive rate, as large as the lower bound of its confidence interval; None when
    the label is not checked or a span has no rows. Counts of None (not recorded) are a finding of their own, so
    the check is never skipped silently."""
    label = settings.get("label")
    if not label:
        return None
    action = label.get("action", BLOCK)
    if newest is None or reference is None:
        return Measurement(LABEL, "positive rate", None, None, action, NOT_COUNTED)
    if not newest.rows or not reference.rows:
        return None
    confidence = float(label.get("confidence", 0.95))
    change = measures.rate_change((newest.positives, newest.rows), (reference.positives, reference.rows), confidence)
    measure = f"change of the positive rate (lower bound of its {confidence:.0%} interval)"
    detail = (
        f"{change.reference_rate:.3f} -> {change.newest_rate:.3f}: {change.change:+.3f}, "
        f"{confidence:.0%} interval {change.low:+.3f}..{change.high:+.3f}"
    )
    return Measurement(LABEL, measure, change.at_least, float(label["max_rate_change"]), action, detail)


def blocking(found: list[Measurement]) -> list[Measurement]:
    return [m for m in found if m.over and m.action == BLOCK]


def warnings(found: list[Measurement]) -> list[Measurement]:
    return [m for m in found if m.over and m.action == WARN]


def verdict(found: list[Measurement], checked: bool, accepted: bool) -> str:
    """The verdict on the newest span: not checked without a reference; past a blocking threshold, accepted only
    on request; else passed."""
    if not checked:
        return NOT_CHECKED
    if blocking(found):
        return ACCEPTED if accepted else REJECTED
    return PASSED
