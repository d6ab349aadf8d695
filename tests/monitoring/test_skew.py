"""`kfx monitor` on real request logs: the pushed model of the session's pipeline run, served with request logging.

The same shipped rows are sent over REST and gRPC twice, once as they are and once with half of the requests shifted
(fare x10, "Cash" paid in "Bitcoin"); the monitor must find no skew in the first logs and name fare with its measured
change of the median in the second (a shift in part of the traffic barely moves the shape Jensen-Shannon sees).
The spec of `kfx compile-monitor` is replayed on the shifted logs as KFP would run it (the task, hence the run,
fails). Logs, statistics and reports are read and written through TensorFlow's filesystems (ram:// stands in for
gs://), and an ML Metadata service that does not answer is one error line.
"""

import csv
import glob
import itertools
import json
import os
import re
import socket
import time
import uuid

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from conftest import CONFIG_PATH, E2E_ROWS, REPO, TAXI_CSV, run_kfx
from server_process import builtin_server
from tensorflow.core.example import example_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.types import artifact_utils, standard_artifacts

from monitoring import lineage, skew, store
from pipeline.config import MISSING_VALUES
from serving.client import GrpcClient, RestClient
from serving.request_rows import to_columns

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
            columns = to_columns(rows[start : start + BATCH], dtypes, TAXI_CSV, start, MISSING_VALUES)
            scores = (rest, grpc)[number % 2].predict(MODEL, columns)["score"]
            assert scores.shape == (BATCH,)
        rest.close()
        grpc.close()
    finally:
        assert server.stop() == 0, server.output()  # SIGTERM writes out the queued log entries


@pytest.fixture(scope="module")
def served(e2e_project, pushed_taxi_model, tmp_path_factory) -> dict:
    """Request logs of the first pushed version: as sent (`clean`) and shifted (`shifted`), each a filename_prefix."""
    base, version = pushed_taxi_model["base"], str(pushed_taxi_model["version"])
    # The CSV is grouped (by pickup area, company, ...): a contiguous block is genuinely skewed against the training
    # slice, while rows evenly spaced across that slice are what traffic matching the training data looks like.
    with open(TAXI_CSV, newline="") as f:
        rows = list(itertools.islice(csv.DictReader(f), E2E_ROWS))[:: E2E_ROWS // ROWS][:ROWS]
    # Half of the requests (every other batch of BATCH rows) shifted, the other half as they are.
    shifted = [
        {**row, "fare": str(float(row["fare"]) * 10), "payment_type": row["payment_type"].replace("Cash", "Bitcoin")}
        if (index // BATCH) % 2 == 0
        else row
        for index, row in enumerate(rows)
    ]
    assert sum(row["payment_type"] == "Bitcoin" for row in shifted) > ROWS / 8
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
    features = taxi_config.features
    expected = {(name, "jensen_shannon") for name in features.raw_features}
    expected |= {(name, "infinity_norm") for name in features.categorical}  # strings and integer codes
    expected |= {(name, "median_change") for name in (*features.numeric, *features.bucketized)}
    assert measured == expected
    for m in version["skew"]:
        assert 0.0 <= m["value"] <= m["threshold"] and not m["over"], m
    fare = next(m for m in version["skew"] if (m["feature"], m["measure"]) == ("fare", "jensen_shannon"))
    assert fare["threshold"] == 0.3 and fare["value"] < 0.15
    assert version["training_statistics"].endswith(os.sep + "Split-train")
    assert f"{MODEL} version {served['version']}: {ROWS // BATCH} requests, {ROWS} rows" in result.stdout
    assert "no skew past a threshold" in result.stdout

    html_path = re.search(r"^\s+(\S+\.html)$", result.stdout, re.MULTILINE).group(1)
    assert os.path.dirname(html_path) == str(tmp_path)
    page = open(html_path).read()
    assert "no skew past a threshold" in page and "<script" not in page and "http" not in page


@pytest.mark.e2e
def test_logs_with_half_of_the_requests_shifted_exit_1_naming_fare_with_its_value(e2e_project, served, tmp_path):
    result, report = _monitor(e2e_project, served["shifted"], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    (version,) = report["versions"]
    over = {(m["feature"], m["measure"]): m["value"] for m in version["skew"] if m["over"]}
    assert over["fare", "median_change"] > 1.0  # threshold 0.7; the median lands between the two halves
    assert {feature for feature, _ in over} <= {"fare", "payment_type"}
    printed = re.search(r"over threshold: fare median_change (\d+\.\d{4}) > 0\.7", result.stdout)
    assert printed and float(printed.group(1)) == pytest.approx(over["fare", "median_change"], abs=1e-4)
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


def test_logged_safe_input_names_map_back_to_the_configured_columns():
    predict = prediction_log_pb2.PredictionLog()  # serving_default's keys: the safe names
    inputs = predict.predict_log.request.inputs
    inputs["mean_radius"].CopyFrom(tf.make_tensor_proto(np.array([14.5, 9.0])))
    inputs["Sex__M_F_"].CopyFrom(tf.make_tensor_proto(np.array([b"M", b"F"], object)))
    inputs["c_2023"].CopyFrom(tf.make_tensor_proto(np.array([1.0, 2.0])))
    classify = prediction_log_pb2.PredictionLog()  # tf.Examples: the raw names
    examples = classify.classify_log.request.input.example_list.examples
    examples.extend([_example(**{"mean radius": 3.0, "Sex (M/F)": b"F", "2023": 4.0})])
    raw_columns = ("mean radius", "2023", "Sex (M/F)")

    chunks = [skew.original_names(skew.request_columns(log), raw_columns) for log in (predict, classify)]
    columns = skew._concatenate(chunks)

    assert sorted(columns) == sorted(raw_columns)
    assert columns["mean radius"].tolist() == [14.5, 9.0, 3.0]
    assert columns["Sex (M/F)"].tolist() == [b"M", b"F", b"F"]


@pytest.mark.e2e
def test_the_compiled_monitor_spec_fails_its_run_on_skew_and_leaves_the_reports(
    e2e_project, served, tmp_path, monkeypatch
):
    spec, reports = tmp_path / "monitor.yaml", tmp_path / "reports"
    compiled = run_kfx("compile-monitor", "--image", "localhost/kfx-pipeline:monitor-test", "--logs", served["shifted"],
                       "--output-dir", str(reports), "--config", e2e_project["config"],
                       "--config-path", e2e_project["config"], "--allow-local-paths", "--output", str(spec),
                       "--metadata-path", os.path.join(e2e_project["workspace"], "metadata.sqlite"))  # fmt: skip
    assert compiled.returncode == 0, compiled.stderr
    monkeypatch.syspath_prepend(
        os.path.join(REPO, "tests", "runners", "kubeflow")
    )  # the replay harness of compiled specs
    from kfp_replay import ReplayError, replay

    with pytest.raises(ReplayError, match="task skew-monitor exited with 1") as failed:
        replay(str(spec), str(tmp_path / "root"), "monitor-run")
    assert "over threshold: fare median_change" in str(failed.value)  # the end of the task's log
    (report_path,) = glob.glob(str(reports / "skew-*.json"))
    with open(report_path) as f:
        report = json.load(f)
    assert report["skewed"] and [v["version"] for v in report["versions"]] == [served["version"]]


def test_logs_statistics_and_reports_go_through_tensorflow_filesystems():
    """ram://, TensorFlow's in-memory filesystem, stands in for gs://: no path here touches the local disk."""
    root = f"ram://kfx-monitor-{uuid.uuid4().hex}"
    log = prediction_log_pb2.PredictionLog()
    log.log_metadata.model_spec.name, log.log_metadata.model_spec.version.value = MODEL, 7
    log.predict_log.request.inputs["fare"].CopyFrom(tf.make_tensor_proto(np.array([12.5, 7.0])))
    tf.io.gfile.makedirs(f"{root}/logs")
    with tf.io.TFRecordWriter(f"{root}/logs/{MODEL}-1.tfrecord") as writer:
        writer.write(log.SerializeToString())
    with tf.io.gfile.GFile(f"{root}/logs/{MODEL}-2.tfrecord.tmp", "wb") as unfinished:
        unfinished.write(b"still being written")

    files = skew.log_files(f"{root}/logs")  # (ram:// calls any prefix of a file a folder: no filename_prefix here)
    assert files == [f"{root}/logs/{MODEL}-1.tfrecord"]
    groups, ignored = skew.read_requests(files)
    assert list(groups) == [(MODEL, "7")] and groups[MODEL, "7"].count == 1 and ignored == {}

    training = tfdv.generate_statistics_from_dataframe(pd.DataFrame({"fare": [3.0, 12.5]}))
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri, statistics.splits = f"{root}/Statistics", [skew.TRAIN_SPLIT]
    split_uri = artifact_utils.get_split_uri([statistics], skew.TRAIN_SPLIT)
    tf.io.gfile.makedirs(split_uri)
    with tf.io.gfile.GFile(os.path.join(split_uri, stats_artifact_utils.BINARY_PB_BASENAME), "wb") as f:
        f.write(training.SerializeToString())
    assert skew.load_training_statistics("7", statistics) == training
    statistics.uri = f"{root}/nothing"
    with pytest.raises(lineage.LineageError, match="the training statistics in .* are missing"):
        skew.load_training_statistics("7", statistics)

    report = skew.SkewReport(skew.absolute(f"{root}/logs"), files, CONFIG_PATH, "now", [], ignored)
    skew.write_reports(report, f"{root}/reports/skew.json", f"{root}/reports/skew.html")
    with tf.io.gfile.GFile(f"{root}/reports/skew.json") as f:
        assert json.load(f) == report.to_dict()
    with tf.io.gfile.GFile(f"{root}/reports/skew.html") as f:
        assert "no skew past a threshold" in f.read()


def test_an_ml_metadata_service_that_does_not_answer_is_one_error_line(tmp_path):
    with socket.socket() as probe:  # a loopback port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(store.MetadataUnavailable, match=f"cannot open ML Metadata at grpc://127.0.0.1:{port}: "):
        store.connect(f"grpc://127.0.0.1:{port}")
    assert time.monotonic() - started < store.GRPC_TIMEOUT_SECONDS

    result = run_kfx("monitor", "--logs", str(tmp_path), "--metadata-grpc", f"127.0.0.1:{port}",
                     "--config", CONFIG_PATH, "--output-dir", str(tmp_path / "reports"))  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"error: cannot open ML Metadata at grpc://127.0.0.1:{port}: "), result.stderr
    assert not (tmp_path / "reports").exists()
