"""`kfx monitor` on real request logs: the pushed model of the session's pipeline run, served with request logging.

The same shipped rows are sent over REST and gRPC twice, once as they are and once shifted (fare x10, "Cash" paid in
"Bitcoin"); the monitor must find no skew in the first logs and name fare with its measured divergence in the second.
"""

import csv
import glob
import itertools
import json
import os
import re

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from conftest import E2E_ROWS, TAXI_CSV, run_kfx
from server_process import builtin_server
from tensorflow.core.example import example_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2
from tensorflow_serving.apis import prediction_log_pb2

from kfx.predict import to_columns
from monitoring import skew
from serving.client import GrpcClient, RestClient

MODEL = "chicago_taxi"
ROWS, BATCH = 400, 20
Stats = statistics_pb2.FeatureNameStatistics


def _serve_and_send(base: str, logs: str, rows: list[dict], workdir) -> None:
    """Serves the model with every request logged under `logs`, sends `rows` alternately over REST and gRPC."""
    config = workdir / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "{MODEL}" base_path: "{base}" model_platform: "tensorflow"\n'
        f'  logging_config {{ log_collector_config {{ type: "tfrecord" filename_prefix: "{logs}" }}\n'
        "                   sampling_config { sampling_rate: 1.0 } } } }\n"
    )
    server = builtin_server(f"--model_config_file={config}", log_path=str(workdir / "server.log"),
                            ready_models=(MODEL,)).start()  # fmt: skip
    try:
        rest, grpc = RestClient(server.rest), GrpcClient(server.grpc)
        _, signatures = rest.metadata(MODEL)
        dtypes = {
            name: np.dtype(tf.as_dtype(info.dtype).as_numpy_dtype)
            for name, info in signatures["serving_default"].inputs.items()
        }
        for number, start in enumerate(range(0, len(rows), BATCH)):
            columns = to_columns(rows[start : start + BATCH], dtypes, TAXI_CSV, start)
            scores = (rest, grpc)[number % 2].predict(MODEL, columns)["score"]
            assert scores.shape == (BATCH,)
        rest.close()
        grpc.close()
    finally:
        assert server.stop() == 0, server.output()  # SIGTERM writes out the queued log entries


@pytest.fixture(scope="module")
def served(e2e_project, e2e_first_run, tmp_path_factory) -> dict:
    """Request logs of the pushed version: as sent (`clean`) and shifted (`shifted`), each a filename_prefix."""
    base = os.path.join(e2e_project["workspace"], "serving_model", MODEL)
    (version,) = os.listdir(base)
    # The CSV is grouped (by pickup area, company, ...): a contiguous block is genuinely skewed against the training
    # slice, while rows evenly spaced across that slice are what traffic matching the training data looks like.
    with open(TAXI_CSV, newline="") as f:
        rows = list(itertools.islice(csv.DictReader(f), E2E_ROWS))[:: E2E_ROWS // ROWS][:ROWS]
    shifted = [
        {**row, "fare": str(float(row["fare"]) * 10), "payment_type": row["payment_type"].replace("Cash", "Bitcoin")}
        for row in rows
    ]
    assert sum(row["payment_type"] == "Bitcoin" for row in shifted) > ROWS / 4
    root = tmp_path_factory.mktemp("monitor")
    logs = {}
    for name, sent in (("clean", rows), ("shifted", shifted)):
        (root / name).mkdir()
        logs[name] = str(root / name / "logs" / MODEL)
        _serve_and_send(base, logs[name], sent, root / name)
    return {"version": version, "root": root, **logs}


def _monitor(e2e_project, logs: str, output_dir) -> tuple:
    result = run_kfx("monitor", "--logs", logs, "--workspace", e2e_project["workspace"],
                     "--config", e2e_project["config"], "--output-dir", str(output_dir))  # fmt: skip
    reports = sorted(glob.glob(str(output_dir / "skew-*.json")))
    if not reports:
        return result, None
    with open(reports[-1]) as f:
        return result, json.load(f)


@pytest.mark.e2e
def test_logs_of_matching_requests_show_no_skew(e2e_project, taxi_config, served, tmp_path):
    result, report = _monitor(e2e_project, served["clean"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (version,) = report["versions"]
    assert (version["model"], version["version"]) == (MODEL, served["version"])
    assert (version["requests"], version["rows"]) == (ROWS // BATCH, ROWS)
    assert not report["skewed"] and not version["skewed"]
    assert version["anomalies"] == [] and report["ignored"] == {}
    assert result.stderr == ""
    measured = {(m["feature"], m["measure"]) for m in version["skew"]}
    expected = {(name, "jensen_shannon") for name in taxi_config.features.raw_features}
    assert measured == expected | {("payment_type", "infinity_norm"), ("company", "infinity_norm")}
    for m in version["skew"]:
        assert 0.0 <= m["value"] <= m["threshold"] and not m["over"], m
    fare = next(m for m in version["skew"] if m["feature"] == "fare")
    assert fare["threshold"] == 0.3 and fare["value"] < 0.15
    assert version["training_statistics"].endswith(os.path.join("Split-train", "FeatureStats.pb"))
    assert f"{MODEL} version {served['version']}: {ROWS // BATCH} requests, {ROWS} rows" in result.stdout
    assert "no skew past a threshold" in result.stdout

    html_path = re.search(r"^\s+(\S+\.html)$", result.stdout, re.MULTILINE).group(1)
    assert os.path.dirname(html_path) == str(tmp_path)
    page = open(html_path).read()
    assert "no skew past a threshold" in page and "<script" not in page and "http" not in page


@pytest.mark.e2e
def test_logs_of_shifted_requests_exit_1_naming_fare_with_its_value(e2e_project, served, tmp_path):
    result, report = _monitor(e2e_project, served["shifted"], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    (version,) = report["versions"]
    over = {(m["feature"], m["measure"]): m["value"] for m in version["skew"] if m["over"]}
    assert over["fare", "jensen_shannon"] > 0.5
    assert over["payment_type", "infinity_norm"] > 0.2
    assert set(over) <= {("fare", "jensen_shannon"), ("payment_type", "infinity_norm"),
                         ("payment_type", "jensen_shannon")}  # fmt: skip
    printed = re.search(r"over threshold: fare jensen_shannon (\d\.\d{4}) > 0\.3", result.stdout)
    assert printed and float(printed.group(1)) == pytest.approx(over["fare", "jensen_shannon"], abs=1e-4)
    assert f"skew past a threshold: fare (version {served['version']})" in result.stdout
    unexpected = [a for a in version["anomalies"] if a["type"] == "ENUM_TYPE_UNEXPECTED_STRING_VALUES"]
    assert any(a["feature"] == "payment_type" and "Bitcoin" in a["description"] for a in unexpected)
    html = open(glob.glob(str(tmp_path / "skew-*.html"))[0]).read()
    assert '<tr class="over"><td>fare</td>' in html


def _rewrite(source_prefix: str, target: str, version: int) -> None:
    """Copies the real log records to `target` as if another version had answered them."""
    with tf.io.TFRecordWriter(target) as writer:
        for record in tf.data.TFRecordDataset(sorted(glob.glob(f"{source_prefix}-*.tfrecord"))):
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            log.log_metadata.model_spec.version.value = version
            writer.write(log.SerializeToString())


@pytest.mark.e2e
@pytest.mark.parametrize("case", ["empty folder", "only an unfinished .tmp file", "not a TFRecord", "unknown version"])
def test_bad_logs_exit_2_with_one_line(e2e_project, served, tmp_path, case):
    logs = tmp_path / "logs"
    logs.mkdir()
    (clean,) = glob.glob(f"{served['clean']}-*.tfrecord")
    expected = {
        "empty folder": "error: no request log files match ",
        "only an unfinished .tmp file": "error: no request log files match ",
        "not a TFRecord": f"error: {logs / 'chicago_taxi-1.tfrecord'}: not a readable TFRecord file",
        "unknown version": f"error: version 1 was not pushed here; pushed versions: {served['version']}",
    }[case]
    if case == "only an unfinished .tmp file":
        (logs / "chicago_taxi-1.tfrecord.tmp").write_bytes(open(clean, "rb").read())
    elif case == "not a TFRecord":
        (logs / "chicago_taxi-1.tfrecord").write_bytes(b"plain text, not TFRecord framing\n" * 4)
    elif case == "unknown version":
        _rewrite(served["clean"], str(logs / "chicago_taxi-1.tfrecord"), version=1)
    result, report = _monitor(e2e_project, str(logs), tmp_path / "out")
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(expected), result.stderr
    assert result.stdout == "" and report is None


def _example(**features) -> example_pb2.Example:
    example = example_pb2.Example()
    for name, value in features.items():
        feature = example.features.feature[name]
        if isinstance(value, bytes):
            feature.bytes_list.value.append(value)
        elif isinstance(value, int):
            feature.int64_list.value.append(value)
        else:
            feature.float_list.value.append(value)
    return example


def test_nan_and_empty_strings_become_missing_and_columns_get_their_training_types():
    predict = prediction_log_pb2.PredictionLog()
    inputs = predict.predict_log.request.inputs
    sent = {
        "fare": np.array([12.5, np.nan, 7.0]),
        "trip_start_hour": np.array([13.0, np.nan, 23.9]),
        "company": np.array([b"Flash Cab", b"", b"Taxi Affiliation Services"], object),
    }
    for name, values in sent.items():
        inputs[name].CopyFrom(tf.make_tensor_proto(values))
    classify = prediction_log_pb2.PredictionLog()
    examples = classify.classify_log.request.input.example_list.examples
    examples.extend([_example(fare=3.0, trip_start_hour=5, company=b"Flash Cab"), _example(company=b"")])

    columns = skew._concatenate([skew.request_columns(predict), skew.request_columns(classify)])
    types = {"fare": Stats.FLOAT, "trip_start_hour": Stats.INT, "company": Stats.STRING}
    frame = skew.serving_frame(columns, types)

    assert dict(frame.dtypes.astype(str)) == {"company": "string", "fare": "Float64", "trip_start_hour": "Int64"}
    assert frame["fare"].isna().tolist() == [False, True, False, False, True]
    assert frame["trip_start_hour"].tolist() == [13, pd.NA, 23, 5, pd.NA]  # truncated as the model's cast does
    assert frame["company"].isna().tolist() == [False, True, False, False, True]
    stats = tfdv.generate_statistics_from_dataframe(frame).datasets[0]
    by_name = {f.path.step[0]: f for f in stats.features}
    assert stats.num_examples == 5
    assert {name: f.type for name, f in by_name.items()} == types
    assert by_name["fare"].num_stats.common_stats.num_missing == 2
    assert by_name["trip_start_hour"].num_stats.common_stats.num_missing == 2
    assert by_name["trip_start_hour"].num_stats.max == 23
    assert by_name["company"].string_stats.common_stats.num_missing == 2
    assert by_name["company"].string_stats.unique == 2
