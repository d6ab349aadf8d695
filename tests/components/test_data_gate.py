"""DataGate on what TFX's ExampleValidator writes: it passes clean data and fails with a readable list otherwise."""

import os

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.components.example_validator import executor as example_validator
from tfx.components.schema_gen import executor as schema_gen
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import io_utils

from components.data_gate import anomalies as anomalies_lib
from components.data_gate import executor

CLEAN = pd.DataFrame({"fare": [3.0, 4.0], "kind": ["a", "b"]})


def _schema() -> schema_pb2.Schema:
    schema = tfdv.infer_schema(
        tfdv.generate_statistics_from_dataframe(pd.DataFrame({"fare": [1.0, 2.0], "kind": ["a", "b"]}))
    )
    tfdv.set_domain(schema, "kind", schema_pb2.StringDomain(name="kind", value=["a", "b"]))
    return schema


def _anomalies(frame: pd.DataFrame):
    return tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(frame), _schema())


def _artifact(tmp_path, frames: dict[str, pd.DataFrame]) -> standard_artifacts.ExampleAnomalies:
    """The anomalies TFX's ExampleValidator executor writes for `frames` (split -> rows) against the schema."""
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri, statistics.splits = str(tmp_path / "statistics"), list(frames)
    for split, frame in frames.items():
        split_uri = artifact_utils.get_split_uri([statistics], split)
        os.makedirs(split_uri)
        stats = tfdv.generate_statistics_from_dataframe(frame)
        io_utils.write_bytes_file(
            os.path.join(split_uri, stats_artifact_utils.BINARY_PB_BASENAME), stats.SerializeToString()
        )
    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path / "schema")
    io_utils.write_pbtxt_file(os.path.join(schema.uri, schema_gen.DEFAULT_FILE_NAME), _schema())
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "anomalies")
    example_validator.Executor().Do(
        {standard_component_specs.STATISTICS_KEY: [statistics], standard_component_specs.SCHEMA_KEY: [schema]},
        {standard_component_specs.ANOMALIES_KEY: [anomalies]},
        {},
    )
    return anomalies


def test_describe_names_split_feature_and_expectation():
    anomalies = _anomalies(pd.DataFrame({"fare": ["cheap", "1.0"], "kind": ["a", "zzz"]}))
    lines = anomalies_lib.describe({"eval": anomalies})
    assert any(line.startswith("[eval] feature 'fare'") and "FLOAT" in line for line in lines), lines
    assert any(line.startswith("[eval] feature 'kind'") and "zzz" in line for line in lines), lines


def test_gate_passes_clean_data(tmp_path):
    assert not _anomalies(CLEAN).anomaly_info
    artifact = _artifact(tmp_path, {"train": CLEAN, "eval": CLEAN})
    executor.Executor().Do({executor.ANOMALIES_KEY: [artifact]}, {}, {})


def test_gate_fails_listing_every_anomaly(tmp_path):
    bad = pd.DataFrame({"fare": ["cheap", "x"], "kind": ["a", "b"]})
    artifact = _artifact(tmp_path, {"train": CLEAN, "eval": bad})
    with pytest.raises(executor.DataValidationError) as info:
        executor.Executor().Do({executor.ANOMALIES_KEY: [artifact]}, {}, {})
    message = str(info.value)
    assert "1 anomaly" in message and "[eval] feature 'fare'" in message and "[train]" not in message


def test_only_the_model_s_columns_stop_the_run_when_given(tmp_path):
    bad_kind = pd.DataFrame({"fare": [3.0, 4.0], "kind": ["a", "zzz"]})
    artifact = _artifact(tmp_path, {"train": CLEAN, "eval": bad_kind})
    model_columns = {executor.MODEL_COLUMNS_KEY: '["fare"]'}
    executor.Executor().Do({executor.ANOMALIES_KEY: [artifact]}, {}, model_columns)  # 'kind' is not read: logged
    with pytest.raises(executor.DataValidationError) as info:
        executor.Executor().Do({executor.ANOMALIES_KEY: [artifact]}, {}, {executor.MODEL_COLUMNS_KEY: '["kind"]'})
    assert "[eval] feature 'kind'" in str(info.value)
