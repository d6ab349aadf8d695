"""`kfx monitor`'s comparison on the shipped span 1: served rows drawn from the training rows raise nothing, half of
them with one numeric input x10 alarm on that input (TFDV statistics of both, the shipped config's thresholds)."""

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from conftest import TAXI_CSV
from tensorflow_metadata.proto.v0 import schema_pb2

from monitoring import skew_compare

ROWS = 400


@pytest.fixture(scope="module")
def training(taxi_config) -> dict:
    """Span 1 typed as WindowExampleGen types it, its statistics with the curated schema (as StatisticsGen makes
    them), and the skew schema `kfx monitor` builds from those."""
    schema = tfdv.load_schema_text(taxi_config.data.schema)
    frame = pd.read_csv(TAXI_CSV, keep_default_na=False, na_values=list(taxi_config.data.missing_values))
    frame = frame[list(taxi_config.features.required_columns)]
    for feature in schema.feature:
        if feature.name in frame and feature.type == schema_pb2.INT:
            frame[feature.name] = frame[feature.name].astype("Int64")
    statistics = tfdv.generate_statistics_from_dataframe(frame, stats_options=tfdv.StatsOptions(schema=schema))
    inputs = taxi_config.features.raw_features
    return {
        "rows": frame[list(inputs)],
        "statistics": statistics,
        "schema": skew_compare.skew_schema(statistics, inputs, taxi_config.skew),
    }


def _measure(training, rows: pd.DataFrame, config) -> list[skew_compare.Measurement]:
    serving = skew_compare.serving_statistics(rows.reset_index(drop=True), training["schema"])
    measurements, _ = skew_compare.compare(training["statistics"], serving, training["schema"], config.skew)
    return measurements


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_traffic_drawn_from_the_training_rows_raises_nothing(training, taxi_config, seed):
    found = _measure(training, training["rows"].sample(ROWS, random_state=seed), taxi_config)
    assert {m.measure for m in found} == {"jensen_shannon", "infinity_norm", "median_change"}
    assert [m for m in found if m.over] == []


@pytest.mark.parametrize("feature", ["fare", "trip_miles", "trip_seconds"])
def test_half_of_the_traffic_with_one_input_x10_alarms_on_that_input(training, taxi_config, feature):
    rows = training["rows"].sample(ROWS, random_state=0).reset_index(drop=True)
    half = rows.index < ROWS // 2
    rows[feature] = np.where(half, rows[feature] * 10, rows[feature])
    over = {(m.feature, m.measure): m.value for m in _measure(training, rows, taxi_config) if m.over}
    assert {name for name, _ in over} == {feature}
    assert over[feature, "median_change"] > taxi_config.skew.default.median_change
