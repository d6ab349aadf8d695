"""`kfx serve`, `kfx predict`, `kfx promote` and `kfx rollback` as a user runs them, on loopback.

With no model flags, `kfx serve` serves the newest pushed version in the workspace. On the toy model (whose answers
say which version gave them): a stand-in `tensorflow_model_server` on PATH gets TF Serving's flags and nothing else,
and `kfx predict` gets the same answers over REST and gRPC. After a pipeline run (e2e): the pushed model answers TF
Serving's curl command and `kfx predict`, with the scores it gives in process. Labels move and move back on a running
server.
"""

import csv
import io
import itertools
import json
import math
import os
import re
import shutil
import stat
import sys
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from conftest import TAXI_CSV, run_kfx
from server_process import ServerProcess, free_port
from toy_model import save_toy_model

from serving.client import ClientError, GrpcClient, RestClient
from serving.config import read_model_config_file

KFX = [sys.executable, "-m", "kfx.cli"]


@pytest.fixture(scope="module")
def rows_csv(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("rows") / "rows.csv"
    with open(TAXI_CSV, newline="") as source, open(path, "w", newline="") as target:
        csv.writer(target).writerows(itertools.islice(csv.reader(source), 21))
    return str(path)


def _serve_with_no_flags(workspace: str, log: str, env: dict | None = None) -> ServerProcess:
    command = [*KFX, "serve", "--workspace", workspace]
    return ServerProcess(command, log, ready_models=("chicago_taxi",), env=env).start()


def test_serve_and_predict_refuse_bad_input_in_one_line(tmp_path, rows_csv):
    result = run_kfx("serve", "--workspace", str(tmp_path))
    assert result.returncode == 2 and "no pushed model under" in result.stderr and "make run" in result.stderr
    result = run_kfx("serve", "--model_base_path", str(tmp_path), "--port", "70000")
    assert result.returncode == 2 and "--port=70000 is not a port number" in result.stderr
    result = run_kfx("predict", "--csv", rows_csv, "--address", f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert result.stderr.strip().endswith("connection refused (is the server running?)")
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_with_no_flags_runs_the_binary_on_path_with_tf_serving_flags_for_kfx_predict(tmp_path):
    """A stand-in `tensorflow_model_server` records its arguments and runs the built-in server with them."""
    workspace = tmp_path / "workspace"  # as `make run` leaves it, under the configured model name
    for version in (1, 2):
        save_toy_model(str(workspace / "serving_model" / "chicago_taxi" / str(version)), offset=float(version))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "tensorflow_model_server"
    fake.write_text(
        f'#!/bin/sh\necho "$@" > {tmp_path / "argv"}\nexec {sys.executable} -m serving --server=builtin "$@"\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    server = _serve_with_no_flags(str(workspace), str(tmp_path / "serve.log"), env)
    try:
        printed = server.wait_for_output("serving model 'chicago_taxi' version 2 (AVAILABLE) via")
        assert f"running {fake}" in printed
        assert f"gRPC  127.0.0.1:{server.grpc_port}" in printed
        assert f"REST  http://127.0.0.1:{server.rest_port}/v1/models/chicago_taxi" in printed
        argv = (tmp_path / "argv").read_text().split()
        assert sorted(flag.split("=")[0] for flag in argv) == [
            "--model_base_path",
            "--model_name",
            "--monitoring_config_file",
            "--port",
            "--rest_api_port",
        ]  # fmt: skip  the Prometheus page is on by default; our own flags never reach the binary
        assert f"--port={server.grpc_port}" in argv and "--model_name=chicago_taxi" in argv

        rows = tmp_path / "rows.csv"
        rows.write_text("x,name,ignored\n1.5,a,z\n-2,b,z\n")
        answers = {}
        for protocol, address in (("rest", server.rest), ("grpc", server.grpc)):
            result = run_kfx("predict", "--csv", str(rows), "--protocol", protocol, "--address", address)
            assert result.returncode == 0, result.stderr
            assert f"scored 2 rows with chicago_taxi (the versions the server chose) over {protocol}" in result.stderr
            answers[protocol] = list(csv.DictReader(io.StringIO(result.stdout)))
            ids = [answer.pop("request_id") for answer in answers[protocol]]
            assert re.fullmatch(r"[0-9a-f]{32}", ids[0]) and ids[0] == ids[1], ids  # one request held both rows
        expected = [
            {"row": "1", "greeting": "hello a", "name_bytes": "a", "y": "5"},
            {"row": "2", "greeting": "hello b", "name_bytes": "b", "y": "-2"},
        ]
        assert answers["rest"] == answers["grpc"] == expected

        rows.write_text("x,name\nlots,a\n")
        result = run_kfx("predict", "--csv", str(rows), "--address", server.rest)
        assert result.returncode == 2 and "row 1, column 'x': 'lots' is not a number" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        assert server.stop() == 0, server.output()  # SIGTERM reaches the binary through kfx


@pytest.fixture(scope="module")
def taxi_server(tmp_path_factory, pushed_taxi_model):
    """`kfx serve` with no flags on a workspace holding the model the pipeline pushed."""
    root = tmp_path_factory.mktemp("kfx-serve-taxi")
    shutil.copytree(pushed_taxi_model["base"], root / "workspace" / "serving_model" / "chicago_taxi")
    server = _serve_with_no_flags(str(root / "workspace"), str(root / "serve.log"))
    yield server
    assert server.stop() == 0, server.output()


@pytest.mark.e2e
def test_serve_with_no_flags_serves_the_pushed_model_for_curl_and_kfx_predict(taxi_server, rows_csv, pushed_taxi_model):
    version = pushed_taxi_model["version"]
    assert f"serving model 'chicago_taxi' version {version} (AVAILABLE)" in taxi_server.output()
    # As TF Serving's docs show it: curl -d '{"instances": [...]}' -X POST .../v1/models/chicago_taxi:predict
    row = {"fare": 12.5, "trip_miles": 2.1, "trip_seconds": 600, "pickup_latitude": 41.9, "pickup_longitude": -87.6,
           "dropoff_latitude": 41.9, "dropoff_longitude": -87.6, "payment_type": "Credit Card",
           "company": "Flash Cab", "trip_start_hour": 10, "trip_start_day": 3, "trip_start_month": 5,
           "pickup_community_area": 8, "dropoff_community_area": 32}  # fmt: skip
    request = urllib.request.Request(f"http://{taxi_server.rest}/v1/models/chicago_taxi:predict",
                                     data=json.dumps({"instances": [row]}).encode(), method="POST")  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as reply:
        (score,) = json.loads(reply.read())["predictions"]
    assert 0.0 < score < 1.0

    outcomes = os.path.join(os.path.dirname(rows_csv), "outcomes.csv")
    result = run_kfx("predict", "--csv", rows_csv, "--address", taxi_server.rest, "--batch-size", "8",
                     "--outcomes", outcomes)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "scored 20 rows with chicago_taxi (the versions the server chose) over rest" in result.stderr
    scored = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(scored[0]) == ["row", "request_id", "score"] and len(scored) == 20
    assert all(0.0 < float(row["score"]) < 1.0 for row in scored)
    assert len({row["request_id"] for row in scored}) == 3  # 8 + 8 + 4 rows
    # The outcomes are the rows' real labels (tips > 0.2 * fare), each beside its request id and place in it.
    with open(rows_csv, newline="") as f:
        truth = [float(r["tips"]) > 0.2 * float(r["fare"]) for r in csv.DictReader(f) if r["tips"] and r["fare"]]
    with open(outcomes, newline="") as f:
        written = list(csv.DictReader(f))
    assert [int(o["label"]) for o in written] == [int(t) for t in truth] and len(written) == 20
    assert [(o["request_id"], int(o["row"])) for o in written] == [
        (row["request_id"], (int(row["row"]) - 1) % 8) for row in scored
    ]
    assert f"wrote 20 outcomes to {outcomes}" in result.stderr


def _taxi_rows(count: int) -> list[dict]:
    with open(TAXI_CSV, newline="") as f:
        return [row for _, row in zip(range(count), csv.DictReader(f), strict=False)]


@pytest.mark.e2e
def test_pushed_model_scores_agree_over_rest_grpc_and_in_process(taxi_server, pushed_taxi_model):
    """The pipeline's own model: a real tf.Transform graph, strings and numbers, missing values sent as NaN."""
    signature = tf.saved_model.load(
        os.path.join(pushed_taxi_model["base"], str(pushed_taxi_model["version"]))
    ).signatures["serving_default"]
    dtypes = {name: spec.dtype for name, spec in signature.structured_input_signature[1].items()}
    rows = _taxi_rows(50)
    typed = [
        {n: (r[n] if d == tf.string else float(r[n]) if r[n] else math.nan) for n, d in dtypes.items()} for r in rows
    ]
    columns = {
        n: np.array([r[n] for r in typed], dtype=object if d == tf.string else np.float64) for n, d in dtypes.items()
    }
    in_process = signature(**{n: tf.constant(v) for n, v in columns.items()})["score"].numpy()

    body = json.dumps({"instances": typed}, allow_nan=True).encode()
    request = urllib.request.Request(f"http://{taxi_server.rest}/v1/models/chicago_taxi:predict", data=body)
    with urllib.request.urlopen(request, timeout=30) as reply:
        over_rest = np.array(json.loads(reply.read())["predictions"], dtype=np.float32)
    over_grpc = GrpcClient(taxi_server.grpc).predict("chicago_taxi", columns)["score"]
    over_rest_client = RestClient(taxi_server.rest).predict("chicago_taxi", columns)["score"]
    np.testing.assert_array_equal(over_rest, in_process)
    np.testing.assert_array_equal(over_grpc, in_process)
    np.testing.assert_array_equal(over_rest_client, in_process)
    assert 0 < in_process.min() and in_process.max() < 1 and len(set(in_process.tolist())) > 10


def test_promote_and_rollback_move_labels_on_a_running_server(tmp_path):
    serving_dir = tmp_path / "serving_model"
    for version in (1, 2):
        save_toy_model(str(serving_dir / "toy" / str(version)), offset=float(version))
    unused = f"127.0.0.1:{free_port()}"
    common = ["--model", "toy", "--serving-dir", str(serving_dir)]
    result = run_kfx("promote", "1", *common, "--grpc-address", unused)
    assert result.returncode == 0, result.stderr
    assert "label 'stable' (none) -> 1" in result.stdout and "no server answered" in result.stdout
    config_path = serving_dir / "models.config"
    (serving_dir / "routing.json").write_text('{"models": {"toy": {"canary_weight": 1.0}}}')  # no canary label yet

    server = ServerProcess([*KFX, "serve", "--serving-dir", str(serving_dir)], str(tmp_path / "serve.log"),
                           ready_models=("toy",)).start()  # fmt: skip

    def stable_offset() -> float:
        body = json.dumps({"inputs": {"x": [0.0], "name": ["n"]}}).encode()
        request = urllib.request.Request(f"http://{server.rest}/v1/models/toy/labels/stable:predict", data=body)
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read())["outputs"]["y"][0]

    try:
        assert "written by kfx promote" in server.output()
        assert stable_offset() == 1.0
        assert "metrics http://" in server.wait_for_output("metrics http://")  # Prometheus on by default
        RestClient(server.rest).predict("toy", {"x": np.array([0.0], np.float32), "name": np.array([b"n"], object)})
        with urllib.request.urlopen(f"http://{server.rest}/monitoring/prometheus/metrics", timeout=30) as reply:
            page = reply.read().decode()
        # routing.json next to models.config routes name-only requests: to "stable" while no canary label exists
        assert ':kfx:serving:route_request_count{model_name="toy",version="1",route="stable",status="OK"} 1' in page
        live = [*common, "--grpc-address", server.grpc]
        result = run_kfx("promote", "latest", *live)
        assert result.returncode == 0, result.stderr
        assert "label 'stable' 1 -> 2" in result.stdout and "reloaded" in result.stdout
        assert stable_offset() == 2.0
        model = read_model_config_file(str(config_path)).model_config_list.config[0]
        assert list(model.model_version_policy.specific.versions) == [1, 2] and dict(model.version_labels) == {
            "stable": 2
        }

        (serving_dir / "toy" / "3").mkdir()
        (serving_dir / "toy" / "3" / "saved_model.pb").write_bytes(b"not a SavedModel")
        before = config_path.read_bytes()
        result = run_kfx("promote", "3", *live, "--label", "canary")
        assert result.returncode == 1 and "version 3 failed to load" in result.stderr
        assert config_path.read_bytes() == before and stable_offset() == 2.0

        bad = read_model_config_file(str(config_path))
        bad.model_config_list.config[0].version_labels["stable"] = 9
        with pytest.raises(ClientError, match="FAILED_PRECONDITION: Request to assign label to version 9"):
            GrpcClient(server.grpc).reload_config(bad)
        assert stable_offset() == 2.0

        result = run_kfx("rollback", *live)
        assert result.returncode == 0, result.stderr
        assert "label 'stable' 2 -> 1" in result.stdout and stable_offset() == 1.0
        result = run_kfx("rollback", *live)
        assert result.returncode == 2 and "nothing to roll back" in result.stderr
    finally:
        assert server.stop() == 0, server.output()
