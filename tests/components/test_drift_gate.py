"""DriftGate on real TFDV drift measurements: DistributionValidator (our Kubeflow-safe subclass) compares two spans'
statistics with the pipeline's comparator config, WindowExampleGen reads the two spans and counts their labels, the
gate adds the medians' and the label rate's changes, records its verdict (block, warn, pass, accepted on request) and
DriftStop stops the run on a rejection."""

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

from components.drift_gate import component, executor, ledger, measures, policy, validator
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


def _gate(root, anomalies, examples, statistics, settings, acceptance="{}"):
    """Runs DriftGate's executor, then DriftStop's; returns (drift artifact, drift.json, DriftStop's DriftError or
    None)."""
    drift = component.DriftReport()
    drift.uri = str(root / "drift")
    os.makedirs(drift.uri)  # the launcher creates output folders
    executor.Executor().Do(
        {executor.ANOMALIES_KEY: [anomalies], executor.EXAMPLES_KEY: [examples], executor.STATISTICS_KEY: [statistics]},
        {executor.DRIFT_KEY: [drift]},
        {executor.SETTINGS_KEY: json.dumps(settings), executor.ACCEPTANCE_KEY: acceptance},
    )
    error = None
    try:
        executor.StopExecutor().Do({executor.DRIFT_KEY: [drift]}, {}, {})
    except executor.DriftError as raised:
        error = raised
    with open(os.path.join(drift.uri, executor.REPORT_FILE)) as f:
        return drift, json.load(f), error


def _scenario(root, config, newest, previous, previous_span=1, acceptance="{}"):
    statistics = _statistics(root, newest, previous)
    anomalies = _validate(root / "anomalies", statistics, drift_lib.validator_config(config))
    examples = _examples(root, config, {previous_span: previous, previous_span + 1: newest})
    drift, report, error = _gate(root, anomalies, examples, statistics, drift_lib.gate_settings(config), acceptance)
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


def test_shifted_numeric_feature_is_measured_with_jensen_shannon_and_its_median_and_blocks(drifted):
    fare = _measured(drifted["report"], "fare", "Jensen-Shannon divergence")
    assert fare["value"] == pytest.approx(_tfdv_value(drifted["anomalies"], "fare", JSD))
    assert fare["value"] > 0.3 and fare["threshold"] == pytest.approx(0.3)
    assert fare["action"] == policy.BLOCK and fare["over"]
    median = _measured(drifted["report"], "fare", policy.MEDIAN_CHANGE)  # fares x10: the median moves by about 9
    assert median["value"] == pytest.approx(9.0, rel=0.15) and median["threshold"] == pytest.approx(0.17)
    assert median["over"] and median["detail"].startswith("median of the non-zero values ")
    for measure in ("Jensen-Shannon divergence", policy.MEDIAN_CHANGE):  # an unchanged column
        miles = _measured(drifted["report"], "trip_miles", measure)
        assert miles["value"] < 0.05 and not miles["over"]
    assert not [m for m in drifted["report"]["measurements"] if m["feature"] == "fare" and "L-inf" in m["measure"]]
    assert {(m["newest_span"], m["reference_span"]) for m in drifted["report"]["measurements"]} == {(2, 1)}


@pytest.fixture(scope="module")
def scaled(tmp_path_factory, drift_config):
    """The previous span again, with trip_miles x1.3 and nothing else changed."""
    newest = PREVIOUS.assign(trip_miles=PREVIOUS["trip_miles"] * 1.3)
    return _scenario(tmp_path_factory.mktemp("scaled"), drift_config, newest, PREVIOUS)


def test_a_scale_change_jensen_shannon_misses_is_blocked_by_the_median(scaled):
    divergence = _measured(scaled["report"], "trip_miles", "Jensen-Shannon divergence")
    assert not divergence["over"]  # quantile bins of the reference: a scale change only moves rows at their edges
    median = _measured(scaled["report"], "trip_miles", policy.MEDIAN_CHANGE)
    assert median["value"] == pytest.approx(0.3, abs=0.02) and median["over"] and median["action"] == policy.BLOCK
    assert [m["feature"] for m in scaled["report"]["measurements"] if m["over"]] == ["trip_miles"]
    assert "feature 'trip_miles': median change 0.3" in str(scaled["error"])


def test_shifted_categorical_feature_is_measured_with_l_infinity_and_blocks(drifted):
    company = _measured(drifted["report"], "company", "L-infinity distance")
    # Flash goes from 1/4 to 3/4 of the rows.
    assert company["value"] == pytest.approx(0.5) == _tfdv_value(drifted["anomalies"], "company", L_INF)
    assert company["threshold"] == pytest.approx(0.15) and company["action"] == policy.BLOCK and company["over"]


def test_a_feature_set_to_warn_only_warns(drifted):
    payment = _measured(drifted["report"], "payment_type", "L-infinity distance")
    assert payment["value"] == pytest.approx(0.4) and payment["over"] and payment["action"] == policy.WARN
    warned = [m for m in drifted["report"]["measurements"] if m["over"] and m["action"] == policy.WARN]
    assert {m["feature"] for m in warned} == {"payment_type"}
    assert drifted["drift"].get_int_custom_property(executor.WARNING_PROPERTY) == len(warned)
    assert "payment_type" not in str(drifted["error"])


LABEL_MEASURE = "change of the positive rate (lower bound of its 95% interval)"


def test_label_positive_rate_change_blocks_when_its_interval_passes_max_rate_change(drifted, more_rows):
    label = _measured(drifted["report"], policy.LABEL, LABEL_MEASURE)
    change = measures.rate_change((120, ROWS), (40, ROWS), 0.95)  # 60% against 20% big tippers
    assert label["value"] == pytest.approx(change.low) and 0.25 < change.low < change.change == pytest.approx(0.4)
    assert label["threshold"] == pytest.approx(0.05) and label["action"] == policy.BLOCK and label["over"]
    assert label["detail"] == f"0.200 -> 0.600: +0.400, 95% interval {change.low:+.3f}..{change.high:+.3f}"
    same = _measured(more_rows["report"], policy.LABEL, LABEL_MEASURE)
    assert same["value"] == 0 and not same["over"]  # the interval holds 0


def test_examples_without_label_counts_block_and_name_the_fix(tmp_path, drifted, drift_config):
    # An Examples artifact reused from the cache of a run before WindowExampleGen counted labels.
    examples = standard_artifacts.Examples()
    examples.set_int_custom_property(window.SPAN_PROPERTY, 2)
    examples.set_int_custom_property(window.PREVIOUS_PROPERTY, 1)
    settings = drift_lib.gate_settings(drift_config)
    _, report, error = _gate(tmp_path, drifted["validator"], examples, drifted["statistics"], settings)
    label = _measured(report, policy.LABEL, "positive rate")
    assert label["value"] is None and label["over"] and label["detail"] == policy.NOT_COUNTED
    assert f"label: {policy.NOT_COUNTED}" in str(error) and "kfx run --no-cache" in str(error)


def test_the_stop_names_each_blocking_measure_value_threshold_and_the_fix(drifted):
    blocking = [m for m in drifted["report"]["measurements"] if m["over"] and m["action"] == policy.BLOCK]
    assert {m["feature"] for m in blocking} == {"fare", "company", "tips", policy.LABEL}
    message = str(drifted["error"])
    assert (
        f"span 2 drifted from span 1 (its reference: the last span that passed this check) past {len(blocking)} "
        in message
    )
    assert "Span 2 is recorded as rejected in ML Metadata: later runs leave it out" in message
    assert "kfx run --accept-drift" in message and "kfx submit --param accept_drift=" in message
    assert drifted["drift"].get_int_custom_property(executor.BLOCKING_PROPERTY) == len(blocking)
    for m in blocking:
        name = "label" if m["feature"] == policy.LABEL else f"feature '{m['feature']}'"
        line = re.search(rf"{re.escape(name)}: {re.escape(m['measure'])} (\d+\.\d+) > threshold (\d+\.\d+)", message)
        assert line, (m, message)
        assert float(line[1]) == pytest.approx(m["value"], abs=5e-4)
        assert float(line[2]) == pytest.approx(m["threshold"], abs=5e-4)


def test_the_verdict_is_recorded_on_the_drift_artifact_even_when_the_run_stops(drifted):
    drift, report = drifted["drift"], drifted["report"]
    assert report["verdict"] == policy.REJECTED and drifted["error"] is not None
    recorded = {
        name: drift.get_custom_property(name)
        for name in (ledger.PIPELINE_PROPERTY, ledger.SPAN_PROPERTY, ledger.REFERENCE_PROPERTY,
                     ledger.VERDICT_PROPERTY, ledger.ACCEPTED_BY)
    }  # fmt: skip
    assert recorded == {"pipeline_name": "chicago-taxi", "span": 2, "reference_span": 1, "verdict": "rejected",
                        "accepted_by": ""}  # fmt: skip
    fingerprint = drift.get_string_custom_property(ledger.FINGERPRINT_PROPERTY)
    assert fingerprint and fingerprint == report["span_fingerprint"]


def test_drift_accepted_on_request_passes_and_records_who_and_when(tmp_path_factory, drift_config, drifted):
    acceptance = ledger.Acceptance(2, drifted["report"]["span_fingerprint"], "alice@host", "2026-12-05T10:00:00+00:00",
                                   "new tariff")  # fmt: skip
    accepted = _scenario(tmp_path_factory.mktemp("accepted"), drift_config, DRIFTED, PREVIOUS,
                         acceptance=acceptance.to_json())  # fmt: skip
    assert accepted["error"] is None and accepted["report"]["verdict"] == policy.ACCEPTED
    assert (accepted["report"]["accepted_by"], accepted["report"]["acceptance_note"]) == ("alice@host", "new tariff")
    drift = accepted["drift"]
    assert drift.get_string_custom_property(ledger.VERDICT_PROPERTY) == "accepted"
    assert drift.get_string_custom_property(ledger.ACCEPTED_AT) == "2026-12-05T10:00:00+00:00"
    # The same measures as the rejected run: accepting changes the verdict, not what was measured.
    assert accepted["report"]["measurements"] == drifted["report"]["measurements"]
    other_span = dataclasses.replace(acceptance, span=3)  # an acceptance of another span does not apply
    rejected = _scenario(tmp_path_factory.mktemp("other"), drift_config, DRIFTED, PREVIOUS,
                         acceptance=other_span.to_json())  # fmt: skip
    assert rejected["report"]["verdict"] == policy.REJECTED and rejected["error"] is not None


def test_row_count_outside_the_bounds_warns_and_passes(more_rows):
    report, drift = more_rows["report"], more_rows["drift"]
    assert more_rows["error"] is None and report["verdict"] == policy.PASSED
    rows = _measured(report, policy.ROW_COUNT, "row count ratio")
    assert rows["action"] == policy.WARN and rows["over"] and rows["value"] is None
    assert rows["detail"] == more_rows["anomalies"].dataset_anomaly_info.reason[0].description != ""
    assert [m["feature"] for m in report["measurements"] if m["over"]] == [policy.ROW_COUNT]
    assert drift.get_int_custom_property(executor.CHECKED_PROPERTY) == 1
    assert drift.get_int_custom_property(executor.BLOCKING_PROPERTY) == 0
    assert drift.get_int_custom_property(executor.WARNING_PROPERTY) == 1


def test_a_single_span_is_not_checked_and_passes(tmp_path, drifted, drift_config):
    # With one span WindowExampleGen writes no drift splits and marks previous_span -1: the validator compares no
    # pair (TFX's own would fail on the missing one) and the gate records "not checked".
    examples = _examples(tmp_path, drift_config, {1: DRIFTED})
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = str(tmp_path / "statistics")
    statistics.split_names = artifact_utils.encode_split_names(["train", "eval"])
    anomalies = _validate(tmp_path / "anomalies", statistics, drift_lib.validator_config(drift_config))
    assert artifact_utils.decode_split_names(anomalies.split_names) == []
    drift, report, error = _gate(tmp_path, anomalies, examples, statistics, drift_lib.gate_settings(drift_config))
    assert error is None
    assert (report["newest_span"], report["reference_span"], report["measurements"]) == (1, None, [])
    assert report["verdict"] == policy.NOT_CHECKED
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
