"""Version swaps under load, on loopback: 16 concurrent clients while a new version is copied in slowly and then a
broken version is dropped in. No request may fail, the new version must answer after the swap, the broken one must
be reported and never answer. Loading and warming up a version must not starve serving: p99 during swaps stays
within 3x steady p99. Also: SIGTERM lets a request in flight finish and the server exits 0.
"""

import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from server_process import builtin_server
from tensorflow_serving.apis import predict_pb2
from toy_model import save_toy_model

from bench import swap_latency
from serving.client import ClientError, GrpcClient, RestClient

CLIENTS = 16
ROW = {"x": np.array([10.0], np.float32), "name": np.array([b"load"], object)}


def slow_copy(source: str, target: str, pause: float) -> None:
    """Copies a SavedModel file by file, saved_model.pb first, pausing between files: a slow, badly ordered copy."""
    files = sorted(
        (os.path.relpath(os.path.join(folder, name), source) for folder, _, names in os.walk(source) for name in names),
        key=lambda path: path != "saved_model.pb",
    )
    for relative in files:
        os.makedirs(os.path.dirname(os.path.join(target, relative)), exist_ok=True)
        shutil.copy(os.path.join(source, relative), os.path.join(target, relative))
        time.sleep(pause)


def _states(server) -> dict[str, tuple[str, str]]:
    client = GrpcClient(server.grpc)
    try:
        return {
            str(s.version): (s.State.Name(s.state), s.status.error_message)
            for s in client.status("toy").model_version_status
        }
    finally:
        client.close()


def _wait_for(condition, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return time.monotonic()


def test_swaps_under_load_fail_no_request(tmp_path):
    base = tmp_path / "toy"
    save_toy_model(str(base / "1"), offset=1.0)
    staged = save_toy_model(str(tmp_path / "staging" / "2"), offset=2.0)
    server = builtin_server(f"--model_base_path={base}", "--model_name=toy", log_path=str(tmp_path / "server.log"),
                            ready_models=("toy",)).start()  # fmt: skip
    answers: list[tuple[float, float]] = []
    failures: list[str] = []
    stop = threading.Event()

    def client(index: int) -> None:
        connection = RestClient(server.rest) if index % 2 else GrpcClient(server.grpc)
        while not stop.is_set():
            try:
                y = float(connection.predict("toy", ROW)["y"][0])
                answers.append((time.monotonic(), y))
            except ClientError as error:
                failures.append(str(error))
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.5)
        slow_copy(staged, str(base / "2"), pause=0.15)  # spans several 1 s polls with saved_model.pb present
        swapped = _wait_for(lambda: _states(server).get("2", ("",))[0] == "AVAILABLE")
        (base / "3" / "variables").mkdir(parents=True)
        (base / "3" / "saved_model.pb").write_bytes(os.urandom(4096))
        _wait_for(lambda: _states(server).get("3", ("", ""))[1] != "")
        time.sleep(1.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        exit_code = server.stop()
    assert failures == []
    assert exit_code == 0, server.output()
    assert len(answers) > 300
    assert {y for _, y in answers} <= {21.0, 22.0}
    assert {y for t, y in answers if t > swapped + 0.5} == {22.0}  # only the new version once it swapped in
    assert any(y == 21.0 for t, y in answers if t < swapped)
    log = server.output()
    assert "version 2 failed to load" not in log  # the half-copied version was never even tried
    assert "version 3 failed to load" in log and "still serving [2]" in log


def test_a_model_that_fails_to_load_at_start_up_stops_the_server(tmp_path):
    (tmp_path / "toy" / "1").mkdir(parents=True)
    (tmp_path / "toy" / "1" / "saved_model.pb").write_bytes(b"not a SavedModel")
    server = builtin_server(f"--model_base_path={tmp_path / 'toy'}", "--model_name=toy", log_path=str(tmp_path / "log"))
    server.start()
    assert server.process.wait(timeout=60) == 1
    output = server.output()
    assert "error: model 'toy' did not become available: Failed to load" in output and "gRPC" not in output


def test_deadlines_and_sigterm_with_requests_in_flight(tmp_path):
    save_toy_model(str(tmp_path / "toy" / "1"))
    server = builtin_server(f"--model_base_path={tmp_path / 'toy'}", "--model_name=toy", "--rest_api_timeout_in_ms=300",
                            log_path=str(tmp_path / "server.log"), ready_models=("toy",)).start()  # fmt: skip
    body = b'{"signature_name": "slow", "instances": [300000]}'  # about a second inside the model
    request = urllib.request.Request(f"http://{server.rest}/v1/models/toy:predict", data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=60)
    assert raised.value.code == 504 and json.loads(raised.value.read()) == {"error": "Deadline Exceeded"}
    result = {}

    def slow_request() -> None:  # over gRPC, which has no server-side deadline unless the client sets one
        spins = {"spins": np.array([450000], np.int64)}
        result["done"] = GrpcClient(server.grpc, timeout=60).predict("toy", spins, signature="slow")["done"].tolist()

    thread = threading.Thread(target=slow_request)
    thread.start()
    time.sleep(0.5)  # the request is running inside the model
    started = time.monotonic()
    exit_code = server.stop()
    thread.join()
    assert exit_code == 0, server.output()
    assert result == {"done": [450000]}
    assert time.monotonic() - started > 0.3  # it waited for the request
    assert "stopping: finishing requests in flight" in server.output()


def test_p99_during_swaps_stays_within_three_times_steady_p99(tmp_path):
    base = tmp_path / "toy"
    save_toy_model(str(base / "1"), offset=1.0)
    source = save_toy_model(str(tmp_path / "source"), offset=2.0)
    server = builtin_server(f"--model_base_path={base}", "--model_name=toy", log_path=str(tmp_path / "server.log"),
                            ready_models=("toy",)).start()  # fmt: skip
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0], dtype=tf.float32))
    request.inputs["name"].CopyFrom(tf.make_tensor_proto([b"swap"]))
    payloads = {"rest": [b'{"instances": [{"x": 1.0, "name": "swap"}]}'], "grpc": [request.SerializeToString()]}
    try:
        result = swap_latency.measure({"rest": server.rest, "grpc": server.grpc}, "toy", str(base), source, payloads,
                                      str(tmp_path), swaps=3, steady_seconds=3.0)  # fmt: skip
    finally:
        assert server.stop() == 0, server.output()
    assert result["errors"] == 0
    assert all(steady > 300 and swapping > 30 for steady, swapping in (s["requests"] for s in result["swaps"])), result
    assert result["ratio"] <= 3, result  # the median over the swaps
