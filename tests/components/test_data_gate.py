"""DataGate on real TFDV anomalies: it passes clean data and fails with a readable list otherwise."""

import os

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import writer_utils

from components.data_gate import anomalies as anomalies_lib
from components.data_gate import executor


def _anomalies(frame: pd.DataFrame):
    schema = tfdv.infer_schema(
        tfdv.generate_statistics_from_dataframe(pd.DataFrame({"fare": [1.0, 2.0], "kind": ["a", "b"]}))
    )
    tfdv.set_domain(schema, "kind", schema_pb2.StringDomain(name="kind", value=["a", "b"]))
    return tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(frame), schema)


def _artifact(tmp_path, by_split):
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(tmp_path)
    artifact.split_names = artifact_utils.encode_split_names(list(by_split))
    for split, anomalies in by_split.items():
        split_dir = artifact_utils.get_split_uri([artifact], split)
        os.makedirs(split_dir)
        # The writer ExampleValidator itself uses.
        writer_utils.write_anomalies(os.path.join(split_dir, executor.ANOMALIES_FILE), anomalies)
    return artifact


def test_describe_names_split_feature_and_expectation():
    anomalies = _anomalies(pd.DataFrame({"fare": ["cheap", "1.0"], "kind": ["a", "zzz"]}))
    lines = anomalies_lib.describe({"eval": anomalies})
    assert any(line.startswith("[eval] feature 'fare'") and "FLOAT" in line for line in lines), lines
    assert any(line.startswith("[eval] feature 'kind'") and "zzz" in line for line in lines), lines


def test_gate_passes_clean_data(tmp_path):
    clean = _anomalies(pd.DataFrame({"fare": [3.0, 4.0], "kind": ["a", "b"]}))
    assert not clean.anomaly_info
    artifact = _artifact(tmp_path, {"train": clean, "eval": clean})
    executor.Executor().Do({executor.ANOMALIES_KEY: [artifact]}, {}, {})


def test_gate_fails_listing_every_anomaly(tmp_path):
    clean = _anomalies(pd.DataFrame({"fare": [3.0, 4.0], "kind": ["a", "b"]}))
    bad = _anomalies(pd.DataFrame({"fare": ["cheap", "x"], "kind": ["a", "b"]}))
    artifact = _artifact(tmp_path, {"train": clean, "eval": bad})
    with pytest.raises(executor.DataValidationError) as info:
        executor.Executor().Do({executor.ANOMALIES_KEY: [artifact]}, {}, {})
    message = str(info.value)
    assert "1 anomaly" in message and "[eval] feature 'fare'" in message and "[train]" not in message
