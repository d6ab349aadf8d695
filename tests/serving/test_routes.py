"""Request ids, the canary split and the shadow, on a real built-in server on loopback.

The toy model answers y = 2x + version, so every answer says which version gave it. Versions 1, 2 and 3 carry the
labels stable, canary and shadow; every request is logged. Each test writes the routing file it needs and applies
it with HandleReloadConfigRequest (which re-reads it), except the one that checks the poll.
"""

import concurrent.futures
import http.client
import json
import math
import struct
import subprocess
import sys
import time
import uuid

import grpc
import numpy as np
import pytest
from google.protobuf import text_format
from server_process import REPO, ServerProcess, builtin_server
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_log_pb2,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import logging_config_pb2, model_server_config_pb2
from toy_model import save_toy_model

from serving import routing, tensors
from serving.metrics import Metrics
from serving.request_log import RequestLogger

STABLE, CANARY, SHADOW = 1, 2, 3
BODY = '{"instances": [{"x": 1.0, "name": "a"}]}'


def _config_text(root) -> str:
    return f"""
model_config_list {{
  config {{
    name: "toy" base_path: "{root / "toy"}" model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: 1 versions: 2 versions: 3 }} }}
    version_labels {{ key: "stable" value: 1 }}
    version_labels {{ key: "canary" value: 2 }}
    version_labels {{ key: "shadow" value: 3 }}
    logging_config {{
      log_collector_config {{ type: "tfrecord" filename_prefix: "{root / "logs" / "toy"}" }}
      sampling_config {{ sampling_rate: 1.0 }}
    }}
  }}
}}
"""


def _start(root, *flags: str) -> ServerProcess:
    for version in (STABLE, CANARY, SHADOW):  # only the stable version has the `lookup` signature
        save_toy_model(str(root / "toy" / str(version)), float(version), vocabulary=["a"] if version == 1 else None)
    (root / "models.config").write_text(_config_text(root))
    (root / "monitoring.config").write_text("prometheus_config { enable: true }")
    server = builtin_server(
        f"--model_config_file={root / 'models.config'}", "--model_config_file_poll_wait_seconds=1",
        f"--routing_config_file={root / 'routing.json'}", f"--monitoring_config_file={root / 'monitoring.config'}",
        *flags, log_path=str(root / "server.log"), ready_models=("toy",),
    )  # fmt: skip
    server.root = root
    return server.start()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = _start(tmp_path_factory.mktemp("routes"))
    yield process
    assert process.stop() == 0, process.output()


def set_routing(server: ServerProcess, canary: float = 0.0, shadow: float = 0.0) -> None:
    """Writes the routing file and applies it at once with HandleReloadConfigRequest."""
    routes = {"toy": routing.ModelRoute(canary_weight=canary, shadow_sample=shadow)}
    routing.write(str(server.root / "routing.json"), routing.RoutingConfig(models=routes))
    reload(server)


def reload(server: ServerProcess) -> None:
    config = text_format.Parse(_config_text(server.root), model_server_config_pb2.ModelServerConfig())
    with grpc.insecure_channel(server.grpc) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        stub.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=config), timeout=60)


def rest(server, path="/v1/models/toy:predict", body=BODY, request_id=None, connection=None) -> tuple:
    """(status, x-request-id header, parsed reply)."""
    own = connection is None
    connection = connection or http.client.HTTPConnection(*server.rest.split(":"), timeout=30)
    headers = {"x-request-id": request_id} if request_id is not None else {}
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("x-request-id"), json.loads(response.read())
    finally:
        if own:
            connection.close()


def version_of(reply: dict) -> int:
    return int(reply["predictions"][0]["y"] - 2.0)  # x = 1


def grpc_predict(server, request_id=None, label=None, version=None) -> tuple:
    """(answering version, x-request-id of the initial metadata)."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    if label:
        request.model_spec.version_label = label
    if version:
        request.model_spec.version.value = version
    request.inputs["x"].CopyFrom(tensors.to_proto(np.array([1.0], np.float32)))
    request.inputs["name"].CopyFrom(tensors.to_proto(np.array([b"a"], object)))
    metadata = (("x-request-id", request_id),) if request_id is not None else None
    with grpc.insecure_channel(server.grpc) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response, call = stub.Predict.with_call(request, metadata=metadata, timeout=30)
    returned = dict(call.initial_metadata())["x-request-id"]
    return int(response.outputs["y"].float_val[0] - 2.0), returned


def expected_route(request_id: str, weight: float) -> int:
    return CANARY if routing.bucket(f"split:{request_id}") < weight else STABLE


def read_logs(server) -> list[prediction_log_pb2.PredictionLog]:
    """Every complete record so far, from the closed files and the one being written (flushed record by record)."""
    records = []
    for path in sorted((server.root / "logs").glob("toy-*.tfrecord*")):
        data, offset = path.read_bytes(), 0
        while offset + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            if offset + 16 + length > len(data):
                break
            records.append(prediction_log_pb2.PredictionLog.FromString(data[offset + 12 : offset + 12 + length]))
            offset += 16 + length
    return records


def logs_of(server, request_id: str, count: int, timeout: float = 15) -> list[prediction_log_pb2.PredictionLog]:
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in read_logs(server) if r.log_metadata.request_origin == request_id]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def metric(server, line_start: str) -> float:
    connection = http.client.HTTPConnection(*server.rest.split(":"), timeout=30)
    connection.request("GET", "/monitoring/prometheus/metrics")
    page = connection.getresponse().read().decode().splitlines()
    values = [float(line.rsplit(" ", 1)[1]) for line in page if line.startswith(line_start + " ")]
    return values[0] if values else 0.0


# --- request ids ---


def test_a_supplied_id_is_echoed_and_a_missing_one_generated(server):
    set_routing(server)
    status, returned, _ = rest(server, request_id="order-42/retry:1")
    assert (status, returned) == (200, "order-42/retry:1")
    status, returned, _ = rest(server)
    assert status == 200 and len(returned) == 32 and uuid.UUID(hex=returned)
    assert grpc_predict(server, "grpc-7")[1] == "grpc-7"
    assert uuid.UUID(hex=grpc_predict(server)[1])
    with grpc.insecure_channel(server.grpc) as channel:  # ModelService answers it too
        status_request = get_model_status_pb2.GetModelStatusRequest()
        status_request.model_spec.name = "toy"
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        _, call = stub.GetModelStatus.with_call(status_request, metadata=(("x-request-id", "status-1"),), timeout=30)
    assert dict(call.initial_metadata())["x-request-id"] == "status-1"
    status, returned, reply = rest(server, path="/v1/models/nope:predict", request_id="lost-1")
    assert (status, returned) == (404, "lost-1") and "nope" in reply["error"]  # errors carry it too


@pytest.mark.parametrize("bad", ["has space", "x" * 129, ""])
def test_a_bad_id_is_refused_naming_the_header_and_the_rule(server, bad):
    status, returned, reply = rest(server, request_id=bad)
    assert status == 400 and uuid.UUID(hex=returned)
    assert "x-request-id" in reply["error"] and "1 to 128 printable ASCII characters" in reply["error"]
    with pytest.raises(grpc.RpcError) as refused:
        grpc_predict(server, bad)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "x-request-id" in refused.value.details() and "without spaces" in refused.value.details()
    assert uuid.UUID(hex=dict(refused.value.initial_metadata())["x-request-id"])


# --- the canary split ---


def test_retries_with_the_same_id_land_on_the_same_version(server):
    set_routing(server, canary=0.5)
    for i in range(40):
        request_id = f"retry-{i}"
        versions = {version_of(rest(server, request_id=request_id)[2]) for _ in range(2)}
        versions.add(grpc_predict(server, request_id)[0])
        assert versions == {expected_route(request_id, 0.5)}, request_id


def test_the_canary_share_of_generated_ids_is_within_a_binomial_bound(server):
    weight, count = 0.05, 2000
    set_routing(server, canary=weight)
    connection = http.client.HTTPConnection(*server.rest.split(":"), timeout=30)
    canary = 0
    for _ in range(count):
        status, request_id, reply = rest(server, connection=connection)
        assert status == 200
        version = version_of(reply)
        assert version == expected_route(request_id, weight)  # the split is the documented function of the id
        canary += version == CANARY
    connection.close()
    sigma = math.sqrt(count * weight * (1 - weight))
    assert abs(canary - count * weight) <= 4 * sigma, (canary, count * weight, sigma)


def test_a_version_or_label_request_is_never_rerouted(server):
    set_routing(server, canary=1.0)
    assert version_of(rest(server, request_id="n")[2]) == CANARY
    for i in range(10):
        request_id = f"direct-{i}"
        assert version_of(rest(server, "/v1/models/toy/versions/1:predict", request_id=request_id)[2]) == STABLE
        assert version_of(rest(server, "/v1/models/toy/labels/stable:predict", request_id=request_id)[2]) == STABLE
        assert grpc_predict(server, request_id, label="stable")[0] == STABLE
        assert grpc_predict(server, request_id, version=SHADOW)[0] == SHADOW
    (logged,) = logs_of(server, "direct-0", 4)[:1]
    assert logged.log_metadata.request_criticality == "direct" and logged.log_metadata.model_spec.version.value == 1
    (named,) = logs_of(server, "n", 1)
    assert named.log_metadata.request_criticality == "canary" and named.log_metadata.model_spec.version.value == 2


def test_the_routing_file_is_polled_with_the_model_config_without_restart(server):
    set_routing(server, canary=0.0)
    assert version_of(rest(server, request_id="polled")[2]) == STABLE
    routes = {"toy": routing.ModelRoute(canary_weight=1.0)}
    routing.write(str(server.root / "routing.json"), routing.RoutingConfig(models=routes))  # no reload RPC
    deadline = time.monotonic() + 10
    while version_of(rest(server, request_id="polled")[2]) != CANARY:
        assert time.monotonic() < deadline, "the routing file was not re-read"
        time.sleep(0.2)


def test_a_bad_routing_file_is_a_clear_error_and_the_previous_routing_stays(server):
    set_routing(server, canary=1.0)
    (server.root / "routing.json").write_text('{"models": {"toy": {"canary_weight": 1.5}}}')
    with pytest.raises(grpc.RpcError) as refused:
        reload(server)
    message = refused.value.details()
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert str(server.root / "routing.json") in message and "models.toy.canary_weight = 1.5" in message
    assert "fix: use a number from 0 to 1" in message and "previous routing stays" in message
    time.sleep(1.5)  # a poll or two: still refused, still routed as before
    assert version_of(rest(server, request_id="kept")[2]) == CANARY
    assert server.output().count("models.toy.canary_weight = 1.5") == 1  # said once, not every poll
    set_routing(server)


def test_a_bad_routing_file_stops_the_start_with_one_line(tmp_path):
    (tmp_path / "routing.json").write_text('{"models": {"toy": {"canary": 0.1}}}')
    result = subprocess.run(
        [sys.executable, "-m", "serving", f"--model_base_path={tmp_path}", "--model_name=toy",
         f"--routing_config_file={tmp_path / 'routing.json'}"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "models.toy.canary = present: Extra inputs are not permitted; fix: remove it" in result.stderr
    assert "Traceback" not in result.stderr


def test_routing_files_read_and_write(tmp_path):
    path = str(tmp_path / "routing.json")
    assert routing.read(path) == routing.RoutingConfig()  # missing: empty
    config = routing.RoutingConfig(models={"m": routing.ModelRoute(canary_weight=0.05)})
    routing.write(path, config)
    assert routing.read(path) == config and [p.name for p in tmp_path.iterdir()] == ["routing.json"]
    for text, expected in [
        ("{not json", "not JSON"),
        ('{"models": {"m": {"shadow_sample": "lots"}}}', 'models.m.shadow_sample = "lots"'),
        ('{"models": []}', "models = []"),
    ]:
        (tmp_path / "routing.json").write_text(text)
        with pytest.raises(routing.RoutingError, match="fix:|write it as") as error:
            routing.read(path)
        assert path in str(error.value) and expected in str(error.value)


def test_whether_a_request_is_logged_is_decided_by_its_id(tmp_path):
    config = logging_config_pb2.LoggingConfig()
    config.log_collector_config.filename_prefix = str(tmp_path / "logs" / "m")
    config.sampling_config.sampling_rate = 0.25
    sampler = RequestLogger("m", config, 1 << 20, Metrics())
    try:
        ids = [f"id-{i}" for i in range(4000)]
        first = [sampler.sampled(request_id) for request_id in ids]
        assert first == [sampler.sampled(request_id) for request_id in ids]  # the shadow's entry follows the answer's
        assert first == [routing.bucket(f"log:{request_id}") < 0.25 for request_id in ids]
        assert abs(sum(first) - 1000) <= 4 * math.sqrt(4000 * 0.25 * 0.75)
    finally:
        sampler.close()


# --- the shadow ---


def test_the_shadow_never_changes_an_answer_and_is_logged_with_the_same_id(server):
    bodies = [
        ("/v1/models/toy:predict", BODY),
        ("/v1/models/toy:predict", '{"inputs": {"x": [1.0, 2.0], "name": ["a", "b"]}}'),
        ("/v1/models/toy:classify", '{"signature_name": "classify", "examples": [{"x": 0.5}]}'),
        ("/v1/models/toy:regress", '{"signature_name": "regress", "examples": [{"x": 0.5}]}'),
    ]
    answers = {}
    for shadow in (0.0, 1.0):
        set_routing(server, shadow=shadow)
        answers[shadow] = [rest(server, path, body, request_id=f"same-{i}") for i, (path, body) in enumerate(bodies)]
        answers[shadow].append(grpc_predict(server, "same-grpc"))
    assert answers[0.0] == answers[1.0]
    shadowed = [r for r in logs_of(server, "same-1", 3) if r.log_metadata.request_criticality == "shadow"]
    (copy,) = shadowed  # one copy, from the second pass only
    assert copy.log_metadata.model_spec.version.value == SHADOW
    np.testing.assert_array_equal(
        tensors.from_proto(copy.predict_log.response.outputs["y"]), [2.0 * 1 + SHADOW, 2.0 * 2 + SHADOW]
    )
    for request_id, kind in (("same-2", "classify_log"), ("same-3", "regress_log"), ("same-grpc", "predict_log")):
        logged = logs_of(server, request_id, 3)
        routes = {(r.log_metadata.request_criticality, r.WhichOneof("log_type")) for r in logged}
        assert routes == {("stable", kind), ("shadow", kind)}, request_id
    assert metric(server, ':kfx:serving:shadow_request_count{model_name="toy",status="OK"}') >= 5
    assert metric(server, ':kfx:serving:route_request_count{model_name="toy",version="3",route="shadow",status="OK"}')
    assert metric(server, ':kfx:serving:route_request_count{model_name="toy",version="1",route="stable",status="OK"}')
    assert metric(server, ':kfx:serving:route_request_latency_count{model_name="toy",version="1",route="stable"}')
    set_routing(server)


def test_a_failing_shadow_never_fails_the_answer(server):
    set_routing(server, shadow=1.0)  # only the stable version has `lookup`: every copy fails
    before = metric(server, ':kfx:serving:shadow_request_count{model_name="toy",status="FAILED_PRECONDITION"}')
    for i in range(5):
        status, _, reply = rest(server, body='{"signature_name": "lookup", "instances": ["a", "z"]}',
                                request_id=f"lookup-{i}")  # fmt: skip
        assert (status, reply) == (200, {"predictions": [0, -1]})
    deadline = time.monotonic() + 10
    key = ':kfx:serving:shadow_request_count{model_name="toy",status="FAILED_PRECONDITION"}'
    while metric(server, key) < before + 5:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    set_routing(server)


def test_an_overloaded_shadow_drops_copies_and_counts_them_never_failing_the_answer(tmp_path):
    server = _start(tmp_path, "--shadow_queue_size=1")
    try:
        set_routing(server, shadow=1.0)
        body = json.dumps({"signature_name": "slow", "instances": [20_000]})
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: rest(server, body=body, request_id=f"busy-{i}")[0], range(48)))
        assert answers == [200] * 48
        assert metric(server, ':kfx:serving:shadow_request_count{model_name="toy",status="DROPPED"}') > 0
        classify = rest(server, "/v1/models/toy:classify", json.dumps({"signature_name": "classify",
                                                                        "examples": [{"x": 0.5}]}))  # fmt: skip
        assert classify[0] == 200
    finally:
        assert server.stop() == 0, server.output()
