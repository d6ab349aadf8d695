"""Measures of location, scale and label rate, computed from TFDV's statistics protos: no data is read again.

TFDV's comparators (Jensen-Shannon divergence, L-infinity distance) see a change of shape. Jensen-Shannon on the
quantile bins of the reference is nearly blind to a change of scale or location of a number: each bin only loses or
gains rows at its edges (span 3 with trip_miles x1.3 measured 0.13 against span 2, as much as natural year-to-year
changes reach: 0.135, bench/drift_calibration.py). The median sees both. TFDV's custom validations could test a
median (SQL over the statistics), but they report pass or fail, not the value a user needs to read against its
threshold, so the value is computed here, from the quantiles TFDV wrote.

- `median_change`: |m_new / m_ref - 1| for the medians m of the non-zero values. Many columns record 0 for "not
  recorded" (trip_miles: 44% zeros in 2013, 22% in 2014), so how often 0 appears is a change of shape, left to
  Jensen-Shannon, and the median of the recorded values stays put from year to year (1.5, 1.5, 1.7, 1.5 miles). A
  value x1.3 moves it by 0.3, a shift of 30% of the mean by 0.3 x mean / median (at least 0.3 for right-skewed data).
- `rate_change`: the change of the label's positive rate with Newcombe's hybrid score interval (Newcombe 1998,
  "Interval estimation for the difference between independent proportions", method 10), from the counts
  WindowExampleGen records: a change is only as large as its lower bound, so a small span's noise does not block.

Used by DriftGate (newest span against its reference) and by `kfx monitor` (served rows against training rows).
"""

import dataclasses
import math
import statistics

from tensorflow_metadata.proto.v0 import statistics_pb2

_QUANTILES = statistics_pb2.Histogram.QUANTILES


def _buckets(feature: statistics_pb2.FeatureNameStatistics) -> list[statistics_pb2.Histogram.Bucket]:
    """The buckets of TFDV's quantiles histogram (equal counts, point masses where low == high); [] without one."""
    for histogram in feature.num_stats.histograms:
        if histogram.type == _QUANTILES:
            return [b for b in histogram.buckets if b.sample_count > 0]
    return []


def _count_below(buckets: list[statistics_pb2.Histogram.Bucket], value: float) -> float:
    """Rows below `value`, spreading each bucket's rows evenly between its bounds."""
    count = 0.0
    for bucket in buckets:
        if bucket.high_value < value or (bucket.low_value == bucket.high_value < value):
            count += bucket.sample_count
        elif bucket.low_value < value:
            count += bucket.sample_count * (value - bucket.low_value) / (bucket.high_value - bucket.low_value)
    return count


def _value_at(buckets: list[statistics_pb2.Histogram.Bucket], rank: float) -> float:
    """The value below which `rank` rows lie (the quantile function, linear inside a bucket)."""
    seen = 0.0
    for bucket in buckets:
        if seen + bucket.sample_count >= rank:
            share = (rank - seen) / bucket.sample_count
            return bucket.low_value + share * (bucket.high_value - bucket.low_value)
        seen += bucket.sample_count
    return buckets[-1].high_value


def nonzero_median(feature: statistics_pb2.FeatureNameStatistics) -> float | None:
    """The median of a numeric feature's non-zero values; None for a feature with no quantiles or only zeros."""
    buckets = _buckets(feature)
    total = sum(b.sample_count for b in buckets)
    zeros = min(float(feature.num_stats.num_zeros), total)
    if not buckets or total - zeros <= 0:
        return None
    half = (total - zeros) / 2
    # Zeros sit between the negative and the positive values: skip them when the median lies above 0.
    below_zero = _count_below(buckets, 0.0)
    return _value_at(buckets, half if below_zero >= half else half + zeros)


def quantile_edges(feature: statistics_pb2.FeatureNameStatistics) -> list[float]:
    """The distinct bounds of a numeric feature's quantile buckets (its deciles by default), low to high."""
    return sorted({bound for b in _buckets(feature) for bound in (b.low_value, b.high_value)})


def bin_shares(feature: statistics_pb2.FeatureNameStatistics, edges: list[float]) -> list[float]:
    """The share of a numeric feature's values in each bin [edges[i], edges[i+1]) (the last one closed); values
    outside the edges are in no bin."""
    buckets = _buckets(feature)
    total = sum(b.sample_count for b in buckets)
    if not total:
        return [0.0] * (len(edges) - 1)
    at_top = sum(b.sample_count for b in buckets if b.low_value == b.high_value == edges[-1])
    below = [_count_below(buckets, edge) for edge in edges]
    below[-1] += at_top
    return [(high - low) / total for low, high in zip(below[:-1], below[1:], strict=True)]


def value_shares(feature: statistics_pb2.FeatureNameStatistics) -> dict[str, float]:
    """The share of each counted value of a categorical feature among its present values (TFDV's rank histogram)."""
    stats = feature.string_stats
    present = stats.common_stats.num_non_missing or sum(b.sample_count for b in stats.rank_histogram.buckets)
    return {b.label: b.sample_count / present for b in stats.rank_histogram.buckets} if present else {}


def median_change(
    newest: statistics_pb2.FeatureNameStatistics, reference: statistics_pb2.FeatureNameStatistics
) -> float | None:
    """|m_new / m_ref - 1| of the non-zero medians; None when either is undefined."""
    new, old = nonzero_median(newest), nonzero_median(reference)
    if new is None or old is None:
        return None
    return abs(new / old - 1.0)


@dataclasses.dataclass(frozen=True)
class RateChange:
    """The change of a positive rate from the reference to the newest rows, with its confidence interval."""

    reference_rate: float
    newest_rate: float
    low: float  # bounds of newest_rate - reference_rate
    high: float
    confidence: float

    @property
    def change(self) -> float:
        return self.newest_rate - self.reference_rate

    @property
    def at_least(self) -> float:
        """How large the change is at least, at this confidence: 0 when the interval holds 0."""
        return 0.0 if self.low <= 0.0 <= self.high else min(abs(self.low), abs(self.high))


def wilson(positives: int, rows: int, z: float) -> tuple[float, float]:
    """Wilson's score interval (low, high) of a rate, at the normal quantile `z`."""
    rate = positives / rows
    centre = (rate + z * z / (2 * rows)) / (1 + z * z / rows)
    half = z * math.sqrt(rate * (1 - rate) / rows + z * z / (4 * rows * rows)) / (1 + z * z / rows)
    return centre - half, centre + half


def rate_change(newest: tuple[int, int], reference: tuple[int, int], confidence: float) -> RateChange:
    """Newcombe's hybrid score interval of the difference of two positive rates, from (positives, rows) counts."""
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    (new_positives, new_rows), (old_positives, old_rows) = newest, reference
    new_rate, old_rate = new_positives / new_rows, old_positives / old_rows
    new_low, new_high = wilson(new_positives, new_rows, z)
    old_low, old_high = wilson(old_positives, old_rows, z)
    change = new_rate - old_rate
    low = change - math.sqrt((new_rate - new_low) ** 2 + (old_high - old_rate) ** 2)
    high = change + math.sqrt((new_high - new_rate) ** 2 + (old_rate - old_low) ** 2)
    return RateChange(old_rate, new_rate, low, high, confidence)
