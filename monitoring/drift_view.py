"""The drift part of the run report: for each feature past a threshold, the newest span's and the reference span's
distributions side by side, from the run's statistics of its two drift splits (no data is read again).

Numbers are shown on the reference's quantile bins (its deciles: about a tenth of its rows in each), with a bin for
the values below and above its range, so a change of location or scale shows as rows moving between bins;
categorical features by the share of each value, for the values most frequent in either span.
"""

import math
from typing import Any

from tensorflow_metadata.proto.v0 import statistics_pb2

from components.drift_gate import executor as drift_executor
from components.drift_gate import measures
from components.drift_gate import policy as drift_policy
from monitoring import artifacts, charts

_SHOWN_VALUES = 12  # values of a categorical feature shown, the most frequent in either span first
_NOT_FEATURES = (drift_policy.LABEL, drift_policy.ROW_COUNT)


def drifted_features(measurements: list[dict[str, Any]]) -> list[str]:
    """Features with a measure past its threshold (blocking or warning), in the order measured."""
    return list(dict.fromkeys(m["feature"] for m in measurements if m["over"] and m["feature"] not in _NOT_FEATURES))


def _numeric_bins(
    reference: statistics_pb2.FeatureNameStatistics, newest: statistics_pb2.FeatureNameStatistics
) -> tuple[list[str], list[float], list[float]]:
    edges = measures.quantile_edges(reference)
    bounds = [-math.inf, *edges, math.inf]
    inner = [f"{low:.4g} to {high:.4g}" for low, high in zip(edges[:-1], edges[1:], strict=True)]
    # The open bins hold what lies outside the reference's range (its maximum included, in the last).
    names = [f"below {edges[0]:.4g}", *inner, f"{edges[-1]:.4g} or more"]
    return names, measures.bin_shares(reference, bounds), measures.bin_shares(newest, bounds)


def _categorical_bins(
    reference: statistics_pb2.FeatureNameStatistics, newest: statistics_pb2.FeatureNameStatistics
) -> tuple[list[str], list[float], list[float]]:
    old, new = measures.value_shares(reference), measures.value_shares(newest)
    values = sorted(set(old) | set(new), key=lambda v: -max(old.get(v, 0.0), new.get(v, 0.0)))[:_SHOWN_VALUES]
    return values, [old.get(v, 0.0) for v in values], [new.get(v, 0.0) for v in values]


def distributions(statistics_record: Any, report: dict[str, Any]) -> list[dict[str, Any]]:
    """[{feature, chart}] for each drifted feature of DriftGate's report (drift.json), from StatisticsGen's output."""
    features = drifted_features(report["measurements"])
    if not features:
        return []
    statistics = artifacts.statistics(statistics_record)
    by_split = {
        split: {
            ".".join(f.path.step) or f.name: f
            for f in artifacts.load_statistics(statistics, split).datasets[0].features
        }
        for split in (drift_executor.NEWEST_SPLIT, drift_executor.PREVIOUS_SPLIT)
    }
    newest_name, reference_name = f"newest, span {report['newest_span']}", f"reference, span {report['reference_span']}"
    shown = []
    for feature in features:
        reference = by_split[drift_executor.PREVIOUS_SPLIT].get(feature)
        newest = by_split[drift_executor.NEWEST_SPLIT].get(feature)
        if reference is None or newest is None:
            continue
        counted = reference.WhichOneof("stats") == "string_stats"
        if not counted and not measures.quantile_edges(reference):
            continue
        bins = (_categorical_bins if counted else _numeric_bins)(reference, newest)
        chart = charts.distribution_chart(feature, *bins, reference_name, newest_name)
        if chart:
            shown.append({"feature": feature, "chart": chart})
    return shown
