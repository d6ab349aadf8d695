"""DriftGate on real TFDV drift measurements: DistributionValidator (our Kubeflow-safe subclass) compares two spans'
statistics with the pipeline's comparator config, WindowExampleGen reads the two spans and counts their labels, and
the gate blocks, warns or passes as configured."""

import dataclasses
import json
import os
import re

import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
import yaml
from example_gen_runs import run_executor
from google.protobuf import json_format
from tensorflow_data_validation.utils import anomalies_util
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.components.distribution_validator import executor as tfx_validator_executor
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import json_utils

from components.drift_gate import component, executor, policy, validator
from components.window_example_gen import window
from pipeline import config as config_lib
from pipeline import data as data_lib
from pipeline import drift as drift_lib

ROWS = 200


@pytest.fixture(scope="module")
def drift_config(config_path) -> config_lib.PipelineConfig:
    """The shipped configuration on a few columns; payment_type drift only warns."""
    with open(config_path) as f:
        raw = yaml.safe_load(f)
    raw["data"].pop("schema", None)  # without a schema, every categorical feature gets the L-infinity check
    raw["features"] = {"numeric": ["fare", "trip_miles"], "categorical": ["company", "payment_type"]}
    raw["evaluation"]["slices"] = []
    raw["drift"]["features"] = {"payment_type": {"action": "warn"}}
    return config_lib.parse(raw, config_path)


def _span(seed: int, fare_scale: float, companies: list[str], cash: float, big_tippers: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fare = rng.uniform(5, 15, ROWS) * fare_scale
    big = np.arange(ROWS) < round(big_tippers * ROWS)
    return pd.DataFrame(
        {
            "fare": fare,
            "trip_miles": np.linspace(0.5, 20, ROWS),  # identical in every span
            "company": [companies[i % len(companies)] for i in range(ROWS)],
            "payment_type": np.where(np.arange(ROWS) < cash * ROWS, "Cash", "Credit Card"),
            "tips": np.where(big, 0.3, 0.1) * fare,
        }
    )


PREVIOUS = _span(0, 1.0, ["Flash", "City", "Blue", "Sun"], cash=0.5, big_tippers=0.2)
DRIFTED = _span(1, 10.0, ["Flash", "Flash", "Flash", "City"], cash=0.1, big_tippers=0.6)
MORE_ROWS = pd.concat([PREVIOUS] * 11, ignore_index=True)  # same distributions, 11x the rows (bound: 10x)


def _positive_rate(frame: pd.DataFrame) -> float:
    return float(np.mean(frame["tips"] > 0.2 * frame["fare"]))


def _statistics(root, newest: pd.DataFrame, previous: pd.DataFrame):
    """An ExampleStatistics artifact as StatisticsGen writes it, with real TFDV statistics of both spans."""
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = str(root / "statistics")
    statistics.split_names = artifact_utils.encode_split_names([executor.NEWEST_SPLIT, executor.PREVIOUS_SPLIT])
    for split, frame in ((executor.NEWEST_SPLIT, newest), (executor.PREVIOUS_SPLIT, previous)):
        split_dir = artifact_utils.get_split_uri([statistics], split)
        os.makedirs(split_dir)
        with open(os.path.join(split_dir, "FeatureStats.pb"), "wb") as f:
            f.write(tfdv.generate_statistics_from_dataframe(frame).SerializeToString())
    return statistics


def _pair_file(anomalies) -> str:
    return validator.anomalies_path(anomalies.uri, executor.NEWEST_SPLIT, executor.PREVIOUS_SPLIT)


def _validate(root, statistics, config, validator_executor=validator.Executor):
    """Runs DistributionValidator's executor as the pipeline wires it; returns its anomalies artifact."""
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(root)
    inputs = {standard_component_specs.STATISTICS_KEY: [statistics]}  # ours takes the one artifact once
    if validator_executor is tfx_validator_executor.Executor:
        inputs[standard_component_specs.BASELINE_STATISTICS_KEY] = [statistics]
    validator_executor().Do(
        inputs,
        {standard_component_specs.ANOMALIES_KEY: [anomalies]},
        {
            standard_component_specs.INCLUDE_SPLIT_PAIRS_KEY: json_utils.dumps(
                [(executor.NEWEST_SPLIT, executor.PREVIOUS_SPLIT)]
            ),
            standard_component_specs.DISTRIBUTION_VALIDATOR_CONFIG_KEY: config,
        },
    )
    return anomalies


def _examples(root, config, spans: dict[int, pd.DataFrame]):
    """WindowExampleGen's Examples of the newest of `spans` (a window of one) and the span before it: the real
    executor, which records the spans and each one's label counts."""
    data = root / "data"
    for span, frame in spans.items():
        (data / f"span-{span}").mkdir(parents=True)
        frame.to_csv(data / f"span-{span}" / "data.csv", index=False)
    rules = dataclasses.replace(data_lib.rules_of(config), min_rows_per_class=1)  # a small eval split is fine here
    return run_executor(str(data), root / "examples", 1, rules)


def _gate(root, anomalies, examples, settings):
    """Runs DriftGate's executor; returns (drift artifact, drift.json, the DriftError or None)."""
    drift = component.DriftReport()
    drift.uri = str(root / "drift")
    os.makedirs(drift.uri)  # the launcher creates output folders
    error = None
    try:
        executor.Executor().Do(
            {executor.ANOMALIES_KEY: [anomalies], executor.EXAMPLES_KEY: [examples]},
            {executor.DRIFT_KEY: [drift]},
            {executor.SETTINGS_KEY: json.dumps(settings)},
        )
    except executor.DriftError as raised:
        error = raised
    with open(os.path.join(drift.uri, executor.REPORT_FILE)) as f:
        return drift, json.load(f), error


def _scenario(root, config, newest, previous, previous_span=1):
    statistics = _statistics(root, newest, previous)
    anomalies = _validate(root / "anomalies", statistics, drift_lib.validator_config(config))
    examples = _examples(root, config, {previous_span: previous, previous_span + 1: newest})
    drift, report, error = _gate(root, anomalies, examples, drift_lib.gate_settings(config))
    tfdv_anomalies = anomalies_util.load_anomalies_binary(_pair_file(anomalies))
    return {
        "statistics": statistics,
        "validator": anomalies,
        "anomalies": tfdv_anomalies,
        "drift": drift,
        "report": report,
        "error": error,
    }


@pytest.fixture(scope="module")
def drifted(tmp_path_factory, drift_config):
    """Span 2 against span 1: fares x10, mostly one company, fewer cash payments, 3x the big tippers."""
    return _scenario(tmp_path_factory.mktemp("drifted"), drift_config, DRIFTED, PREVIOUS)


@pytest.fixture(scope="module")
def more_rows(tmp_path_factory, drift_config):
    return _scenario(tmp_path_factory.mktemp("more_rows"), drift_config, MORE_ROWS, PREVIOUS)


def _measured(report, feature, measure):
    found = [m for m in report["measurements"] if m["feature"] == feature and m["measure"] == measure]
    assert len(found) == 1, report["measurements"]
    return found[0]


def _tfdv_value(anomalies, feature, kind):
    info = next(i for i in anomalies.drift_skew_info if ".".join(i.path.step) == feature)
    return next(m.value for m in info.drift_measurements if m.type == kind)


JSD = anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE
L_INF = anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY


def test_shifted_numeric_feature_is_measured_with_jensen_shannon_and_blocks(drifted):
    fare = _measured(drifted["report"], "fare", "Jensen-Shannon divergence")
    assert fare["value"] == pytest.approx(_tfdv_value(drifted["anomalies"], "fare", JSD))
    assert fare["value"] > 0.3 and fare["threshold"] == pytest.approx(0.3)
    assert fare["action"] == policy.BLOCK and fare["over"]
    miles = _measured(drifted["report"], "trip_miles", "Jensen-Shannon divergence")  # unchanged column
    assert miles["value"] < 0.05 and not miles["over"]
    assert not [m for m in drifted["report"]["measurements"] if m["feature"] == "fare" and "L-inf" in m["measure"]]


def test_shifted_categorical_feature_is_measured_with_l_infinity_and_blocks(drifted):
    company = _measured(drifted["report"], "company", "L-infinity distance")
    # Flash goes from 1/4 to 3/4 of the rows.
    assert company["value"] == pytest.approx(0.5) == _tfdv_value(drifted["anomalies"], "company", L_INF)
    assert company["threshold"] == pytest.approx(0.2) and company["action"] == policy.BLOCK and company["over"]


def test_a_feature_set_to_warn_only_warns(drifted):
    payment = _measured(drifted["report"], "payment_type", "L-infinity distance")
    assert payment["value"] == pytest.approx(0.4) and payment["over"] and payment["action"] == policy.WARN
    warned = [m for m in drifted["report"]["measurements"] if m["over"] and m["action"] == policy.WARN]
    assert {m["feature"] for m in warned} == {"payment_type"}
    assert drifted["drift"].get_int_custom_property(executor.WARNING_PROPERTY) == len(warned)
    assert "payment_type" not in str(drifted["error"])


def test_label_positive_rate_change_blocks_past_max_rate_change(drifted, more_rows):
    label = _measured(drifted["report"], policy.LABEL, "positive rate 0.200 -> 0.600, a change of")
    assert label["value"] == pytest.approx(abs(_positive_rate(DRIFTED) - _positive_rate(PREVIOUS)))
    assert label["threshold"] == pytest.approx(0.1) and label["action"] == policy.BLOCK and label["over"]
    same = _measured(more_rows["report"], policy.LABEL, "positive rate 0.200 -> 0.200, a change of")
    assert same["value"] == 0 and not same["over"]


def test_examples_without_label_counts_block_and_name_the_fix(tmp_path, drifted, drift_config):
    # An Examples artifact reused from the cache of a run before WindowExampleGen counted labels.
    examples = standard_artifacts.Examples()
    examples.set_int_custom_property(window.SPAN_PROPERTY, 2)
    examples.set_int_custom_property(window.PREVIOUS_PROPERTY, 1)
    _, report, error = _gate(tmp_path, drifted["validator"], examples, drift_lib.gate_settings(drift_config))
    label = _measured(report, policy.LABEL, "positive rate")
    assert label["value"] is None and label["over"] and label["detail"] == policy.NOT_COUNTED
    assert f"label: {policy.NOT_COUNTED}" in str(error) and "kfx run --no-cache" in str(error)


def test_drift_error_names_each_blocking_feature_measure_value_and_threshold(drifted):
    blocking = [m for m in drifted["report"]["measurements"] if m["over"] and m["action"] == policy.BLOCK]
    assert {m["feature"] for m in blocking} == {"fare", "company", "tips", policy.LABEL}
    message = str(drifted["error"])
    assert f"span 2 drifted from span 1 past {len(blocking)} blocking threshold(s)" in message
    assert drifted["drift"].get_int_custom_property(executor.BLOCKING_PROPERTY) == len(blocking)
    for m in blocking:
        name = "label" if m["feature"] == policy.LABEL else f"feature '{m['feature']}'"
        line = re.search(rf"{re.escape(name)}: {re.escape(m['measure'])} (\d+\.\d+) > threshold (\d+\.\d+)", message)
        assert line, (m, message)
        assert float(line[1]) == pytest.approx(m["value"], abs=5e-4)
        assert float(line[2]) == pytest.approx(m["threshold"], abs=5e-4)


def test_row_count_outside_the_bounds_warns_and_passes(more_rows):
    report, drift = more_rows["report"], more_rows["drift"]
    assert more_rows["error"] is None
    rows = _measured(report, policy.ROW_COUNT, "row count ratio")
    assert rows["action"] == policy.WARN and rows["over"] and rows["value"] is None
    assert rows["detail"] == more_rows["anomalies"].dataset_anomaly_info.reason[0].description != ""
    assert [m["feature"] for m in report["measurements"] if m["over"]] == [policy.ROW_COUNT]
    assert drift.get_int_custom_property(executor.CHECKED_PROPERTY) == 1
    assert drift.get_int_custom_property(executor.BLOCKING_PROPERTY) == 0
    assert drift.get_int_custom_property(executor.WARNING_PROPERTY) == 1


def test_first_span_is_not_checked_and_passes(tmp_path, drifted, drift_config):
    # WindowExampleGen writes the first span as its own baseline and marks previous_span -1.
    examples = _examples(tmp_path, drift_config, {1: DRIFTED})
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "absent")  # not read: there is nothing to compare
    drift, report, error = _gate(tmp_path, anomalies, examples, drift_lib.gate_settings(drift_config))
    assert error is None
    assert report == {"newest_span": 1, "previous_span": None, "measurements": []}
    assert drift.get_int_custom_property(executor.CHECKED_PROPERTY) == 0
    assert drift.get_int_custom_property(executor.BLOCKING_PROPERTY) == 0


def test_validator_accepts_the_config_as_json_string_and_as_proto(tmp_path, drifted, drift_config):
    proto = drift_lib.validator_config(drift_config)
    text = json_format.MessageToJson(proto)  # what the Kubeflow v2 entrypoint passes
    from_string = _validate(tmp_path / "string", drifted["statistics"], text)
    from_proto = _validate(tmp_path / "proto", drifted["statistics"], proto)
    results = [anomalies_util.load_anomalies_binary(_pair_file(artifact)) for artifact in (from_string, from_proto)]
    assert results[0] == results[1] == drifted["anomalies"]
    assert {".".join(i.path.step) for i in results[0].drift_skew_info} == set(drift_config.features.required_columns)
    with pytest.raises(AttributeError, match="default_slice_config"):  # TFX 1.16's own executor: the bug worked around
        _validate(tmp_path / "tfx", drifted["statistics"], text, tfx_validator_executor.Executor)


def test_the_drift_report_type_is_compiled_for_kubeflow_and_parsed_back_by_its_entrypoint():
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx.orchestration.kubeflow.v2 import compiler_utils
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils

    schema = compiler_utils.get_artifact_schema(component.DriftReport)  # refuses a title KFP would not accept
    drift = pipeline_spec_pb2.RuntimeArtifact(uri="/tmp/drift")
    drift.type.instance_schema = schema
    drift.metadata.update({executor.CHECKED_PROPERTY: 1})
    outputs = {executor.DRIFT_KEY: pipeline_spec_pb2.ArtifactList(artifacts=[drift])}
    (parsed,) = kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(outputs)[executor.DRIFT_KEY]
    assert type(parsed) is component.DriftReport and parsed.type_name == "components.DriftReport"
    assert parsed.get_int_custom_property(executor.CHECKED_PROPERTY) == 1
