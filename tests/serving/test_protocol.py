"""TF Serving's REST and gRPC protocols, checked against a running server on loopback.

Every test takes a server address, so the same checks run against the built-in server and, when
`tensorflow_model_server` is on PATH, against TF Serving itself (skipped otherwise): behaviour is compared with the
original wherever it exists. The model served is the toy model (exact answers: y = 2x + version); the pipeline's
taxi model is served by `kfx serve` in tests/kfx/test_serve.py.
"""

import http.client
import json
import math
import os
import shutil

import grpc
import numpy as np
import pytest
import tensorflow as tf
from server_process import ServerProcess, builtin_server
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from toy_model import example, save_toy_model

from serving.client import GrpcClient, RestClient

MAX_REQUEST_BYTES = 1_000_000


@pytest.fixture(scope="module")
def model_config(tmp_path_factory) -> str:
    """The toy model's versions 1 and 2 (labels stable and canary), and a monitoring config with Prometheus metrics."""
    root = tmp_path_factory.mktemp("protocol")
    for version in (1, 2):
        save_toy_model(str(root / "toy" / str(version)), offset=float(version))
    config = root / "models.config"
    config.write_text(f"""
model_config_list {{
  config {{
    name: "toy" base_path: "{root / "toy"}" model_platform: "tensorflow"
    model_version_policy {{ specific {{ versions: 1 versions: 2 }} }}
    version_labels {{ key: "stable" value: 1 }}
    version_labels {{ key: "canary" value: 2 }}
  }}
}}
""")
    (root / "monitoring.config").write_text(
        'prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }'
    )
    return str(config)


@pytest.fixture(scope="module", params=["builtin", "tensorflow_model_server"])
def server(request, model_config, tmp_path_factory):
    flags = [
        f"--model_config_file={model_config}",
        f"--monitoring_config_file={os.path.dirname(model_config)}/monitoring.config",
    ]
    log = str(tmp_path_factory.mktemp("logs") / f"{request.param}.log")
    if request.param == "builtin":
        process = builtin_server(
            *flags, f"--rest_api_max_request_bytes={MAX_REQUEST_BYTES}", log_path=log, ready_models=("toy",)
        )
    else:
        binary = shutil.which("tensorflow_model_server")
        if binary is None:
            pytest.skip("tensorflow_model_server is not on PATH")
        process = ServerProcess([binary, *flags, "--allow_version_labels_for_unavailable_models=true"], log, ("toy",))
    process.start()
    process.kind = request.param
    yield process
    assert process.stop() == 0, process.output()


def rest(server, method: str, path: str, body: bytes | str | None = None) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(*server.rest.split(":"), timeout=30)
    connection.request(method, path, body=body.encode() if isinstance(body, str) else body)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    assert response.getheader("Content-Type", "").startswith("application/json"), payload[:200]
    return response.status, json.loads(payload)


def test_status_lists_every_version_as_tf_serving_does(server):
    status, body = rest(server, "GET", "/v1/models/toy")
    assert status == 200
    states = {
        entry["version"]: (entry["state"], entry["status"]["error_code"]) for entry in body["model_version_status"]
    }
    assert states == {"1": ("AVAILABLE", "OK"), "2": ("AVAILABLE", "OK")}
    status, body = rest(server, "GET", "/v1/models/toy/versions/1")
    assert status == 200 and [e["version"] for e in body["model_version_status"]] == ["1"]


def test_metadata_describes_the_signatures(server):
    status, body = rest(server, "GET", "/v1/models/toy/labels/stable/metadata")
    assert status == 200
    assert body["model_spec"]["name"] == "toy" and body["model_spec"]["version"] == "1"
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "classify", "regress", "slow"} <= set(signatures)
    inputs = signatures["serving_default"]["inputs"]
    assert inputs["x"]["dtype"] == "DT_FLOAT" and inputs["name"]["dtype"] == "DT_STRING"


def test_predict_in_row_and_columnar_form_with_b64(server):
    body = {"instances": [{"x": 1.5, "name": "a"}, {"x": -2, "name": {"b64": "Yg=="}}]}
    status, reply = rest(server, "POST", "/v1/models/toy:predict", json.dumps(body))
    assert status == 200
    assert reply["predictions"] == [
        {"y": 5.0, "greeting": "hello a", "name_bytes": {"b64": "YQ=="}},
        {"y": -2.0, "greeting": "hello b", "name_bytes": {"b64": "Yg=="}},
    ]
    status, reply = rest(server, "POST", "/v1/models/toy:predict", '{"inputs": {"x": [0.25, 1], "name": ["c", "d"]}}')
    assert status == 200
    assert reply["outputs"] == {
        "y": [2.5, 4.0],
        "greeting": ["hello c", "hello d"],
        "name_bytes": [{"b64": "Yw=="}, {"b64": "ZA=="}],
    }


@pytest.mark.parametrize(
    ("path", "offset"), [("/versions/1", 1), ("/versions/2", 2), ("/labels/stable", 1), ("/labels/canary", 2), ("", 2)]
)
def test_versions_and_labels_choose_who_answers(server, path, offset):
    status, reply = rest(server, "POST", f"/v1/models/toy{path}:predict", '{"inputs": {"x": [10.0], "name": ["n"]}}')
    assert status == 200 and reply["outputs"]["y"] == [20.0 + offset]


def test_classify_and_regress_over_rest_and_grpc(server):
    status, reply = rest(
        server,
        "POST",
        "/v1/models/toy:classify",
        '{"signature_name": "classify", "examples": [{"x": 0.5}, {"x": -2.0}]}',
    )
    assert status == 200
    for row, x in zip(reply["results"], (0.5, -2.0), strict=True):
        assert [label for label, _ in row] == ["neg", "pos"]
        assert row[1][1] == pytest.approx(1 / (1 + math.exp(-x)), rel=1e-6)
    status, reply = rest(
        server,
        "POST",
        "/v1/models/toy/labels/stable:regress",
        '{"signature_name": "regress", "context": {"x": 3.0}, "examples": [{}]}',
    )
    assert status == 200 and reply["results"] == [7.0]

    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.grpc))
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = "toy", "classify"
    request.input.example_list.examples.add().ParseFromString(example(0.5))
    response = stub.Classify(request, timeout=30)
    assert response.model_spec.version.value == 2
    assert [c.label for c in response.result.classifications[0].classes] == ["neg", "pos"]
    assert response.result.classifications[0].classes[1].score == pytest.approx(1 / (1 + math.exp(-0.5)), rel=1e-6)
    request = regression_pb2.RegressionRequest()
    request.model_spec.name, request.model_spec.signature_name, request.model_spec.version_label = (
        "toy",
        "regress",
        "stable",
    )
    request.input.example_list.examples.add().ParseFromString(example(4.0))
    assert stub.Regress(request, timeout=30).result.regressions[0].value == 9.0


def test_grpc_outputs_use_typed_fields_as_tf_serving_does(server):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.grpc))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0, 2.0], dtype=tf.float32))
    request.inputs["name"].CopyFrom(tf.make_tensor_proto([b"a", b"b"]))
    response = stub.Predict(request, timeout=30)
    assert list(response.outputs["y"].float_val) == [4.0, 6.0] and not response.outputs["y"].tensor_content
    assert list(response.outputs["greeting"].string_val) == [b"hello a", b"hello b"]


def test_errors_raised_inside_the_model_keep_tensorflow_s_message(server):
    body = '{"signature_name": "classify", "instances": [{"b64": "Z2FyYmFnZQ=="}]}'  # not a tf.Example
    status, reply = rest(server, "POST", PREDICT, body)
    assert status == 400
    assert reply["error"].startswith("Could not parse example input, value: 'garbage'")
    assert "Graph execution error" not in reply["error"] and "[Op:" not in reply["error"]
    status, reply = rest(server, "POST", CLASSIFY, '{"signature_name": "classify", "examples": [{"x": 1}]}')
    assert status == 400 and "x" in reply["error"] and "int64" in reply["error"]


def test_grpc_predict_metadata_and_status(server):
    client = GrpcClient(server.grpc)
    outputs = client.predict(
        "toy", {"x": np.array([1.0, 2.0], np.float32), "name": np.array([b"a", b"b"], object)}, label="canary"
    )
    np.testing.assert_array_equal(outputs["y"], np.array([4.0, 6.0], np.float32))
    assert list(outputs["greeting"]) == [b"hello a", b"hello b"]
    version, signatures = client.metadata("toy")
    assert version == 2 and {"serving_default", "classify", "regress"} <= set(signatures)
    assert client.available_versions("toy") == [1, 2]
    client.close()


def test_rest_and_grpc_clients_return_the_same_outputs(server):
    inputs = {"x": np.array([1.5, -2.0], np.float32), "name": np.array([b"a", b"b"], object)}
    over_rest = RestClient(server.rest).predict("toy", inputs)
    over_grpc = GrpcClient(server.grpc).predict("toy", inputs)
    assert {name: values.tolist() for name, values in over_rest.items()} == {
        name: values.tolist() for name, values in over_grpc.items()
    }


PREDICT, CLASSIFY, REGRESS = "/v1/models/toy:predict", "/v1/models/toy:classify", "/v1/models/toy:regress"
ONE = '{"instances": [1]}'
BAD_REST_REQUESTS = [
    ("POST", PREDICT, "", 400, "JSON Parse error: The document is empty"),
    ("POST", PREDICT, "{not json", 400, "JSON Parse error"),
    ("POST", PREDICT, "[1, 2]", 400, "Is not object"),
    ("POST", PREDICT, '{"instances": [{"x": "a", "name": "b"}]}', 400, "is not of expected type: float"),
    ("POST", PREDICT, '{"instances": [{"x": 1.0}]}', 400, "keys must be equal to: name,x"),
    ("POST", PREDICT, '{"instances": [{"x": 1.0, "name": "a", "z": 1}]}', 400, "does not have named input: z"),
    ("POST", PREDICT, '{"instances": [{"x": [1.0, 2.0], "name": "a"}]}', 400, ""),
    ("POST", PREDICT, '{"instances": []}', 400, "No values in 'instances' array"),
    ("POST", PREDICT, '{"instances": [1], "inputs": [1]}', 400, "expecting only one of 'inputs' or 'instances'"),
    ("POST", PREDICT, '{"foo": 1}', 400, "Missing 'inputs' or 'instances' key"),
    ("POST", PREDICT, '{"inputs": {"x": [1.0]}}', 400, "Missing named input: name in 'inputs' object."),
    ("POST", PREDICT, '{"signature_name": "nope", "instances": [1]}', 400, 'Serving signature name: "nope" not found'),
    ("POST", PREDICT, '{"signature_name": 5, "instances": [1]}', 400, "'signature_name' key must be a string value"),
    ("POST", "/v1/models/nope:predict", ONE, 404, "Servable not found for request: Latest(nope)"),
    ("POST", "/v1/models/toy/versions/9:predict", ONE, 404, "Servable not found for request: Specific(toy, 9)"),
    ("POST", "/v1/models/toy/labels/nope:predict", ONE, 400, "Unrecognized servable version label: nope"),
    ("POST", "/v1/models/toy:PREDICT", ONE, 400, "Malformed request"),
    ("PUT", PREDICT, ONE, 400, "Malformed request"),
    ("POST", "/v1/models/..%2F..%2Fetc%2Fpasswd:predict", ONE, 404, "Servable not found"),
    ("POST", CLASSIFY, '{"examples": [{"x": 1.0}]}', 400, "Expected one input Tensor."),
    ("POST", CLASSIFY, '{"signature_name": "classify", "examples": []}', 400, "'examples' value is an empty array"),
    ("POST", REGRESS, '{"signature_name": "regress", "examples": [{"x": [1, 2.5]}]}', 400, "Unexpected element type"),
    ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
    ("GET", "/v1/models/toy/versions/9", None, 404, "Could not find version 9 of model toy"),
    ("GET", "/v1/models", None, 400, "Missing model name in request."),
    ("GET", "/v1/models/nope/metadata", None, 404, "Servable not found for request: Latest(nope)"),
    ("GET", "/v1/models/toy?x=1", None, 404, "Could not find any versions of model toy?x=1"),
    ("GET", "/index.html", None, 404, ""),
    ("OPTIONS", PREDICT, None, 400, "Origin header is missing in CORS preflight"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "message"),
    BAD_REST_REQUESTS,
    ids=[f"{c[0]} {c[1]} {c[2]}"[:60] for c in BAD_REST_REQUESTS],
)
def test_bad_rest_request_gets_tf_serving_status_and_error(server, method, path, body, code, message):
    status, reply = rest(server, method, path, body)
    assert status == code, reply
    assert set(reply) == {"error"} and message in reply["error"]


def _grpc_predict(server, inputs: dict, model="toy", signature="") -> grpc.RpcError:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.grpc))
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = model, signature
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(request, timeout=30)
    return raised.value


def test_bad_grpc_requests_get_tf_serving_codes(server):
    good = {"x": np.array([1.0], np.float32), "name": np.array([b"a"], object)}
    error = _grpc_predict(server, good, model="nope")
    assert error.code() == grpc.StatusCode.NOT_FOUND and "Latest(nope)" in error.details()
    error = _grpc_predict(server, good, signature="nope")
    assert (
        error.code() == grpc.StatusCode.FAILED_PRECONDITION
        and 'Serving signature key "nope" not found.' in error.details()
    )
    error = _grpc_predict(server, {"x": good["x"]})
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "input size does not match signature" in error.details()
    error = _grpc_predict(server, {"x": np.array([1.0], np.float64), "name": good["name"]})
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    broken = tf.make_tensor_proto(np.array([1.0, 2.0, 3.0], np.float32))
    broken.tensor_content = broken.tensor_content[:5]
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.grpc))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.inputs["x"].CopyFrom(broken)
    request.inputs["name"].CopyFrom(tf.make_tensor_proto([b"a", b"b", b"c"]))
    with pytest.raises(grpc.RpcError) as raised:
        stub.Predict(request, timeout=30)
    assert (
        raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT and raised.value.details() == "tensor parsing error: x"
    )
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["other"])
    request.model_spec.name = "toy"
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.grpc))
    with pytest.raises(grpc.RpcError) as raised:
        stub.GetModelMetadata(request, timeout=30)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_body_over_the_limit_is_refused_and_the_server_keeps_serving(server):
    if server.kind != "builtin":
        pytest.skip("--rest_api_max_request_bytes is the built-in server's own flag")
    big = json.dumps({"instances": [{"x": 1.0, "name": "a" * 1000}] * 1100})
    status, reply = rest(server, "POST", "/v1/models/toy:predict", big)
    assert status == 413 and "error" in reply
    status, reply = rest(server, "POST", "/v1/models/toy:predict", '{"instances": [{"x": 1.0, "name": "a"}]}')
    assert status == 200 and reply["predictions"][0]["y"] == 4.0


def test_metrics_use_tf_serving_names(server):
    assert rest(server, "POST", PREDICT, '{"instances": [{"x": 1.0, "name": "a"}]}')[0] == 200
    assert rest(server, "POST", "/v1/models/nope:predict", ONE)[0] == 404
    GrpcClient(server.grpc).predict("toy", {"x": np.array([1.0], np.float32), "name": np.array([b"a"], object)})
    connection = http.client.HTTPConnection(*server.rest.split(":"), timeout=30)
    connection.request("GET", "/monitoring/prometheus/metrics")
    page = connection.getresponse().read().decode()
    assert ':tensorflow:serving:request_count{model_name="toy",status="OK"}' in page
    assert ':tensorflow:serving:request_count{model_name="nope",status="NOT_FOUND"}' in page
    assert "# TYPE :tensorflow:serving:request_latency histogram" in page
    assert (
        ':tensorflow:serving:request_latency_bucket{model_name="toy",API="predict",entrypoint="REST",le="+Inf"}' in page
    )
    assert ':tensorflow:serving:request_latency_count{model_name="toy",API="Predict",entrypoint="GRPC"}' in page
    assert ":tensorflow:serving:model_warmup_latency_count" in page
    assert "_total{" not in page and "_created" not in page


def test_server_is_healthy_after_every_bad_request(server):
    for method, path, body, code, _ in BAD_REST_REQUESTS:
        assert rest(server, method, path, body)[0] == code
    status, reply = rest(server, "POST", "/v1/models/toy:predict", '{"instances": [{"x": 0.0, "name": "ok"}]}')
    assert status == 200 and reply["predictions"] == [{"y": 2.0, "greeting": "hello ok", "name_bytes": {"b64": "b2s="}}]
    assert GrpcClient(server.grpc).available_versions("toy") == [1, 2]
