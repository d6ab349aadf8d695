"""The drift check built from the configuration: DistributionValidator's comparators and DriftGate's actions take
drift.default, field by field, where a feature sets nothing of its own."""

import pytest
from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline import config as config_lib
from pipeline import drift as drift_lib


def _comparators(config: config_lib.PipelineConfig) -> dict[str, schema_pb2.FeatureComparator]:
    validator = drift_lib.validator_config(config)
    return {entry.path.step[0]: entry.distribution_comparator for entry in validator.default_slice_config.feature}


def test_without_a_drift_section_every_feature_gets_the_defaults(raw, config_path):
    del raw["drift"]
    config = config_lib.parse(raw, config_path)
    comparators = _comparators(config)
    assert list(comparators) == list(config.features.required_columns)
    for name, comparator in comparators.items():
        assert comparator.jensen_shannon_divergence.threshold == pytest.approx(0.3), name
        assert comparator.jensen_shannon_divergence.source.type == schema_pb2.HistogramSelection.QUANTILES
    # The curated schema's strings and categorical integers get the L-infinity check: TFDV counts their values
    # (it measures 0 on numbers).
    categorical = {name for name, comparator in comparators.items() if comparator.HasField("infinity_norm")}
    assert categorical == {"payment_type", "company", "trip_start_hour", "trip_start_day", "trip_start_month",
                           "pickup_community_area", "dropoff_community_area"}  # fmt: skip
    assert [comparators[name].infinity_norm.threshold for name in categorical] == pytest.approx([0.15] * 7)
    settings = drift_lib.gate_settings(config)
    assert settings["default_action"] == "block" and set(settings["feature_actions"].values()) == {"block"}
    # The numbers and coordinates get the median's relative change; the label's source column does not.
    numbers = set(config.features.numeric + config.features.bucketized)
    assert settings["median_change"] == {name: pytest.approx(0.17) for name in numbers}
    assert settings["label"] == {"max_rate_change": 0.05, "confidence": 0.95, "action": "block"}
    assert settings["pipeline_name"] == "chicago-taxi"


def test_a_feature_overrides_only_what_it_sets(raw, config_path):
    raw["drift"] = {
        "default": {"action": "warn", "infinity_norm": 0.4},
        "features": {"fare": {"jensen_shannon": 0.5, "median_change": 0.4}, "company": {"action": "block"}},
    }
    config = config_lib.parse(raw, config_path)
    comparators = _comparators(config)
    assert comparators["fare"].jensen_shannon_divergence.threshold == pytest.approx(0.5)
    assert comparators["company"].jensen_shannon_divergence.threshold == pytest.approx(0.3)  # the built-in default
    assert comparators["company"].infinity_norm.threshold == pytest.approx(0.4)  # the configured default
    settings = drift_lib.gate_settings(config)
    actions = settings["feature_actions"]
    assert actions["company"] == "block" and actions["fare"] == actions["tips"] == "warn"
    assert settings["median_change"]["fare"] == pytest.approx(0.4)
    assert settings["median_change"]["trip_miles"] == pytest.approx(0.17)
