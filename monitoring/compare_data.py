"""What changed in the data between two runs, from the statistics StatisticsGen wrote for each (no data is read again):
row counts per split, and the features whose training distribution moved most.

A feature's change is the Jensen-Shannon divergence (base 2: 0 the same, 1 disjoint) between A's and B's training
rows, on A's quantile bins for a number (with a bin below and one above A's range) and on the values TFDV counted for a
string, plus the change of the share of rows where the feature is missing: the same comparators the drift check uses
(components/drift_gate/measures.py), here to rank features, not to gate.
"""

import dataclasses
import math

from tensorflow_metadata.proto.v0 import statistics_pb2

from components.drift_gate import measures

TRAIN_SPLIT = "train"
SHOWN_FEATURES = 8


@dataclasses.dataclass
class FeatureChange:
    feature: str
    kind: str  # "numeric" or "categorical"
    divergence: float | None  # Jensen-Shannon, A's training rows against B's; None without a distribution on a side
    missing_a: float  # share of rows without a value
    missing_b: float
    summary_a: str  # mean of a number, top value of a string
    summary_b: str


def split_rows(statistics: dict[str, statistics_pb2.DatasetFeatureStatisticsList]) -> dict[str, int]:
    """Split -> number of rows."""
    return {split: stats.datasets[0].num_examples for split, stats in statistics.items() if stats.datasets}


def changed_features(
    a: statistics_pb2.DatasetFeatureStatisticsList, b: statistics_pb2.DatasetFeatureStatisticsList
) -> list[FeatureChange]:
    """Every feature present on both sides, the largest change first (divergence, then missing share)."""
    features_a, features_b = _by_name(a), _by_name(b)
    rows_a, rows_b = a.datasets[0].num_examples, b.datasets[0].num_examples
    changes = []
    for name in sorted(set(features_a) & set(features_b)):
        one, other = features_a[name], features_b[name]
        numeric = one.WhichOneof("stats") == "num_stats"
        if numeric:
            edges = measures.quantile_edges(one)
            bounds = [-math.inf, *edges, math.inf] if edges else []
            shares = (measures.bin_shares(one, bounds), measures.bin_shares(other, bounds)) if bounds else None
        else:
            value_a, value_b = measures.value_shares(one), measures.value_shares(other)
            values = sorted(set(value_a) | set(value_b))
            shares = ([value_a.get(v, 0.0) for v in values], [value_b.get(v, 0.0) for v in values]) if values else None
        changes.append(
            FeatureChange(
                feature=name,
                kind="numeric" if numeric else "categorical",
                divergence=None if shares is None else jensen_shannon(*shares),
                missing_a=_missing(one, rows_a),
                missing_b=_missing(other, rows_b),
                summary_a=_summary(one),
                summary_b=_summary(other),
            )
        )
    return sorted(changes, key=lambda c: (-(c.divergence or 0.0), -abs(c.missing_b - c.missing_a), c.feature))


def jensen_shannon(p: list[float], q: list[float]) -> float:
    """Jensen-Shannon divergence (base 2) of two discrete distributions over the same bins (renormalized)."""
    p_total, q_total = sum(p), sum(q)
    if not p_total or not q_total:
        return 0.0
    divergence = 0.0
    for p_share, q_share in zip(p, q, strict=True):
        p_share, q_share = p_share / p_total, q_share / q_total
        mean = (p_share + q_share) / 2
        if p_share:
            divergence += p_share * math.log2(p_share / mean) / 2
        if q_share:
            divergence += q_share * math.log2(q_share / mean) / 2
    return max(0.0, divergence)


def _by_name(
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
) -> dict[str, statistics_pb2.FeatureNameStatistics]:
    if not statistics.datasets:
        return {}
    return {".".join(f.path.step) or f.name: f for f in statistics.datasets[0].features}


def _common(feature: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics:
    stats = feature.num_stats if feature.WhichOneof("stats") == "num_stats" else feature.string_stats
    return stats.common_stats


def _missing(feature: statistics_pb2.FeatureNameStatistics, rows: int) -> float:
    common = _common(feature)
    return (rows - common.num_non_missing) / rows if rows else 0.0


def _summary(feature: statistics_pb2.FeatureNameStatistics) -> str:
    if feature.WhichOneof("stats") == "num_stats":
        return f"mean {feature.num_stats.mean:.4g}"
    buckets = feature.string_stats.rank_histogram.buckets
    if feature.string_stats.top_values:
        top = feature.string_stats.top_values[0]
        return f"top {top.value} ({top.frequency:.0f})"
    return f"top {buckets[0].label}" if buckets else "-"
