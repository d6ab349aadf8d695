"""Configuration loading: the shipped file is valid, and each mistake is reported with its key and the fix."""

import copy
import os

import pytest
import yaml

from pipeline import config as config_lib


@pytest.fixture
def raw(config_path):
    with open(config_path) as f:
        return yaml.safe_load(f)


def _error(raw, path="cfg.yaml") -> str:
    with pytest.raises(config_lib.ConfigError) as info:
        config_lib.parse(raw, path)
    return str(info.value)


def test_shipped_config_loads_with_paths_relative_to_the_file(taxi_config, config_path):
    configs_dir = os.path.dirname(config_path)
    assert taxi_config.data.path == os.path.normpath(os.path.join(configs_dir, "..", "data", "chicago_taxi"))
    assert taxi_config.data.schema == os.path.join(configs_dir, "chicago_taxi.schema.pbtxt")
    assert taxi_config.features.label.column == "tips"
    assert "tips" not in taxi_config.features.raw_features
    assert taxi_config.training.train_steps > 0


def test_unknown_key_is_named_with_a_suggestion(raw):
    raw["trainig"] = raw.pop("training")
    message = _error(raw)
    assert "unknown key 'trainig'" in message and "did you mean 'training'" in message


def test_unknown_nested_key_is_named_with_its_section(raw):
    raw["training"]["learning_rte"] = 0.1
    message = _error(raw)
    assert "unknown key 'training.learning_rte'" in message and "learning_rate" in message


def test_wrong_type_names_the_key(raw):
    raw["training"]["batch_size"] = "large"
    assert "training.batch_size must be int" in _error(raw)


def test_missing_section_is_named(raw):
    del raw["serving"]
    assert "missing required key 'serving'" in _error(raw)


def test_label_column_cannot_be_a_model_input(raw):
    raw["features"]["numeric"].append("tips")
    assert "must not be a model input" in _error(raw)


def test_label_needs_exactly_one_rule(raw):
    raw["label"]["one_of"] = ["yes"]
    assert "exactly one of" in _error(raw)


def test_threshold_metric_must_be_known(raw):
    raw["evaluation"]["thresholds"]["f1"] = 0.5
    assert "unknown metric 'f1'" in _error(raw)


def test_pipeline_name_follows_kubeflow_rules(raw):
    raw["pipeline_name"] = "Chicago_Taxi"
    assert "pipeline_name 'Chicago_Taxi' is invalid" in _error(raw)


def test_slices_must_be_configured_columns(raw):
    raw["evaluation"]["slices"] = ["trip_start_hour", "weather"]
    assert "'weather'" in _error(raw)


def test_different_binary_csv_needs_only_a_config_edit(raw, tmp_path):
    other = copy.deepcopy(raw)
    other.update(pipeline_name="churn")
    other["data"] = {"path": "customers.csv"}
    other["label"] = {"name": "churned", "column": "status", "one_of": ["gone"]}
    other["features"] = {"numeric": ["age"], "categorical": ["plan"]}
    other["evaluation"] = {"slices": ["plan"], "thresholds": {"auc": 0.6}, "no_regression": ["auc"]}
    other["serving"] = {"model_name": "churn"}
    parsed = config_lib.parse(other, str(tmp_path / "churn.yaml"))
    assert parsed.data.path == str(tmp_path / "customers.csv") and parsed.data.schema is None
    assert parsed.features.required_columns == ("age", "plan", "status")


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(config_lib.ConfigError, match="does not exist"):
        config_lib.load(str(tmp_path / "nope.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [unclosed\n")
    with pytest.raises(config_lib.ConfigError, match="not valid YAML"):
        config_lib.load(str(broken))


def test_shipped_drift_and_skew_sections_load(taxi_config):
    assert taxi_config.data.window >= 1
    assert taxi_config.drift.default.action == "block" and taxi_config.drift.label.max_rate_change > 0
    assert taxi_config.evaluation.min_improvement == {"auc": 0.0}
    assert 0 < taxi_config.skew.default.jensen_shannon <= 1


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda raw: raw["data"].update(window=0), "data.window must be at least 1"),
        (lambda raw: raw["drift"]["default"].update(action="stop"), "drift.default.action must be 'block' or 'warn'"),
        (lambda raw: raw["drift"]["label"].update(action="ignore"), "drift.label.action must be 'block' or 'warn'"),
        (lambda raw: raw["drift"]["features"].update(fare={"jensen_shannon": 1.5}), "drift.features.fare.jensen"),
        (lambda raw: raw["drift"]["features"].update(weather={"infinity_norm": 0.3}), "['weather'] are not"),
        (lambda raw: raw["drift"]["row_count"].update(min_fraction=2.0), "0 < min_fraction <= 1 <= max_fraction"),
        (lambda raw: raw["drift"]["default"].update(jensen=0.3), "unknown key 'drift.default.jensen'"),
        (lambda raw: raw["skew"]["features"].update(tips={"jensen_shannon": 0.2}), "['tips'] are not model features"),
        (lambda raw: raw["skew"]["default"].update(infinity_norm=0), "skew.default.infinity_norm must be in (0, 1]"),
        (lambda raw: raw["evaluation"]["min_improvement"].update(f1=0.01), "unknown metric 'f1'"),
        (lambda raw: raw["evaluation"]["min_improvement"].update(auc=-0.01), "min_improvement values must be >= 0"),
    ],
    ids=[
        "window-0", "drift-action", "label-action", "drift-range", "drift-unknown-feature", "row-count-range",
        "drift-typo", "skew-label", "skew-zero", "improvement-metric", "improvement-negative",
    ],
)  # fmt: skip
def test_window_drift_skew_and_improvement_mistakes_are_named(raw, edit, expected):
    edit(raw)
    assert expected in _error(raw)


def test_drift_and_skew_sections_are_optional(raw):
    del raw["drift"], raw["skew"]
    parsed = config_lib.parse(raw, "cfg.yaml")
    assert parsed.drift == config_lib.DriftConfig() and parsed.skew == config_lib.SkewConfig()
