"""The drift check built from the configuration: DistributionValidator's comparators and DriftGate's actions take
drift.default, field by field, where a feature sets nothing of its own."""

import pytest
import yaml
from tensorflow_metadata.proto.v0 import schema_pb2

from pipeline import config as config_lib
from pipeline import drift as drift_lib


@pytest.fixture
def raw(config_path):
    with open(config_path) as f:
        return yaml.safe_load(f)


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
    # The curated schema types these as strings: only they get the L-infinity check (TFDV measures 0 on numbers).
    strings = {name for name, comparator in comparators.items() if comparator.HasField("infinity_norm")}
    assert strings == {"payment_type", "company"}
    assert [comparators[name].infinity_norm.threshold for name in sorted(strings)] == pytest.approx([0.2, 0.2])
    settings = drift_lib.gate_settings(config)
    assert settings["default_action"] == "block" and set(settings["feature_actions"].values()) == {"block"}


def test_a_feature_overrides_only_what_it_sets(raw, config_path):
    raw["drift"] = {
        "default": {"action": "warn", "infinity_norm": 0.4},
        "features": {"fare": {"jensen_shannon": 0.5}, "company": {"action": "block"}},
    }
    config = config_lib.parse(raw, config_path)
    comparators = _comparators(config)
    assert comparators["fare"].jensen_shannon_divergence.threshold == pytest.approx(0.5)
    assert comparators["company"].jensen_shannon_divergence.threshold == pytest.approx(0.3)  # the built-in default
    assert comparators["company"].infinity_norm.threshold == pytest.approx(0.4)  # the configured default
    actions = drift_lib.gate_settings(config)["feature_actions"]
    assert actions["company"] == "block" and actions["fare"] == actions["tips"] == "warn"
