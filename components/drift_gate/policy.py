"""Drift findings from DistributionValidator's anomalies, and which of them stop the run (pure logic, no TFX types).

TFDV measures; this decides. Per feature the configuration says "block" (stop before Transform) or "warn" (report
only). The label is checked on its positive rate, from the label counts WindowExampleGen records per span, and the
row count with the comparator DistributionValidator already applies.
"""

import dataclasses
from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2

BLOCK, WARN = "block", "warn"
ROW_COUNT = "row count"
LABEL = "label"
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
    value: float | None
    threshold: float | None
    action: str
    detail: str = ""  # TFDV's own words, when it reports no number (the row count)

    @property
    def over(self) -> bool:
        return self.value is None or self.value > self.threshold

    def describe(self) -> str:
        if self.detail:
            return f"{self.feature}: {self.detail}"
        name = self.feature if self.feature == LABEL else f"feature '{self.feature}'"
        return f"{name}: {self.measure} {self.value:.3f} > threshold {self.threshold:.3f}"


@dataclasses.dataclass(frozen=True)
class LabelCounts:
    """One span's rows (every one with a label) and its positive rows."""

    rows: int
    positives: int

    @property
    def rate(self) -> float:
        return self.positives / self.rows


def measurements(anomalies: anomalies_pb2.Anomalies, settings: dict[str, Any]) -> list[Measurement]:
    """Every drift measurement TFDV made (over its threshold or not), with the action configured for it."""
    default = settings.get("default_action", BLOCK)
    actions = settings.get("feature_actions", {})
    found = []
    for info in anomalies.drift_skew_info:
        feature = ".".join(info.path.step)
        for measurement in info.drift_measurements:
            found.append(
                Measurement(
                    feature,
                    _MEASURES.get(measurement.type, "distance"),
                    measurement.value,
                    measurement.threshold,
                    actions.get(feature, default),
                )
            )
    for reason in anomalies.dataset_anomaly_info.reason:
        if reason.type in _ROW_COUNT_REASONS:
            action = settings.get("row_count_action", WARN)
            found.append(Measurement(ROW_COUNT, "row count ratio", None, None, action, reason.description))
    return found


def label_measurement(
    newest: LabelCounts | None, previous: LabelCounts | None, settings: dict[str, Any]
) -> Measurement | None:
    """The change of the label's positive rate; None when the label is not checked or a span has no rows. Counts
    of None (not recorded) are a finding of their own, so the check is never skipped silently."""
    label = settings.get("label")
    if not label:
        return None
    action = label.get("action", BLOCK)
    if newest is None or previous is None:
        return Measurement(LABEL, "positive rate", None, None, action, NOT_COUNTED)
    if not newest.rows or not previous.rows:
        return None
    change = abs(newest.rate - previous.rate)
    measure = f"positive rate {previous.rate:.3f} -> {newest.rate:.3f}, a change of"
    return Measurement(LABEL, measure, change, float(label["max_rate_change"]), action)


def blocking(found: list[Measurement]) -> list[Measurement]:
    return [m for m in found if m.over and m.action == BLOCK]


def warnings(found: list[Measurement]) -> list[Measurement]:
    return [m for m in found if m.over and m.action == WARN]
