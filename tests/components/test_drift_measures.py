"""The measures computed from TFDV's statistics protos: the non-zero median from the quantiles TFDV writes, against
numpy on the same rows; the label rate's interval against Newcombe's published values; the shares the report draws."""

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv

from components.drift_gate import measures


def _feature(values, name="x"):
    """TFDV's statistics of one column, computed as StatisticsGen computes them (default options: deciles)."""
    statistics = tfdv.generate_statistics_from_dataframe(pd.DataFrame({name: values}))
    return statistics.datasets[0].features[0]


RNG = np.random.default_rng(7)
MILES = np.where(RNG.random(4000) < 0.4, 0.0, RNG.lognormal(0.4, 1.0, 4000))  # 40% zeros, like trip_miles in 2013


def test_the_median_of_the_non_zero_values_leaves_the_zeros_out():
    median = measures.nonzero_median(_feature(MILES))
    assert median == pytest.approx(np.median(MILES[MILES != 0]), rel=0.05)  # read from deciles: a few percent
    assert np.median(MILES) < 0.6 * median  # the plain median sinks with the share of zeros
    negative = measures.nonzero_median(_feature(-MILES))  # zeros between the negative values and none above
    assert negative == pytest.approx(-median, rel=0.01)
    assert measures.nonzero_median(_feature(np.zeros(50))) is None  # nothing but zeros


def test_the_share_of_zeros_does_not_move_the_median_and_a_scale_does():
    fewer_zeros = np.concatenate([MILES[MILES != 0], np.zeros(500)])
    assert measures.median_change(_feature(fewer_zeros), _feature(MILES)) < 0.03
    assert measures.median_change(_feature(MILES * 1.3), _feature(MILES)) == pytest.approx(0.3, abs=0.01)
    shifted = MILES + 0.3 * MILES.mean()
    assert measures.median_change(_feature(shifted), _feature(MILES)) > 0.2  # zeros become values: a lower median
    assert measures.median_change(_feature(np.array(["a", "b"])), _feature(MILES)) is None  # a string: no median


@pytest.mark.parametrize(
    "newest, reference, low, high",
    [((56, 70), (48, 80), 0.0524, 0.3339), ((9, 10), (3, 10), 0.1705, 0.8090), ((5, 56), (0, 29), -0.0381, 0.1926)],
)
def test_the_rate_change_interval_is_newcombes_hybrid_score(newest, reference, low, high):
    """Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10."""
    change = measures.rate_change(newest, reference, 0.95)
    assert (change.low, change.high) == pytest.approx((low, high), abs=1e-4)
    assert change.at_least == (0.0 if low < 0 else pytest.approx(low, abs=1e-4))


def test_a_change_is_only_as_large_as_its_interval_allows_at_the_rows_counted():
    small = measures.rate_change((30, 100), (20, 100), 0.95)  # a 0.1 change on 100 rows: within the noise
    large = measures.rate_change((3000, 10000), (2000, 10000), 0.95)  # the same change on 10,000 rows
    assert small.change == pytest.approx(large.change) == pytest.approx(0.1)
    assert small.at_least == 0.0 and large.at_least == pytest.approx(0.088, abs=0.002)
    assert measures.rate_change((20, 100), (30, 100), 0.5).at_least > 0  # a lower confidence, a narrower interval


def test_bin_and_value_shares_cover_the_rows():
    reference = _feature(MILES)
    edges = [-np.inf, *measures.quantile_edges(reference), np.inf]
    assert sum(measures.bin_shares(reference, edges)) == pytest.approx(1.0)
    scaled = measures.bin_shares(_feature(MILES * 3), edges)
    assert sum(scaled) == pytest.approx(1.0)
    assert sum(scaled[-2:]) > 0.3  # the reference's top decile and beyond held 0.1 of the rows; x3 moves more there
    shares = measures.value_shares(_feature(np.array(["a"] * 3 + ["b"])))
    assert shares == pytest.approx({"a": 0.75, "b": 0.25})
