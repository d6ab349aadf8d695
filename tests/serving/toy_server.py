"""The built-in server on loopback with one version of the toy model, and the small clients the hostile-request
tests share (tests/serving/test_request_limits.py, test_fuzz_requests.py)."""

import http.client
import json

import grpc
import numpy as np
import psutil
from server_process import ServerProcess, builtin_server
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from toy_model import save_toy_model

from serving import tensors

PREDICT = "/v1/models/toy:predict"
OK_BODY = '{"instances": [{"x": 0.0, "name": "ok"}]}'


def start(tmp_path_factory, *flags: str) -> ServerProcess:
    """Version 1 of the toy model (y = 2x + 1) served as "toy"."""
    root = tmp_path_factory.mktemp("toy_server")
    save_toy_model(str(root / "toy" / "1"), offset=1.0)
    process = builtin_server(
        f"--model_base_path={root / 'toy'}", "--model_name=toy", *flags, log_path=str(root / "server.log"),
        ready_models=("toy",),
    )  # fmt: skip
    return process.start()


def rest(server: ServerProcess, method: str, path: str, body: bytes | str | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(*server.rest.split(":"), timeout=30)
    try:
        connection.request(method, path, body=body.encode() if isinstance(body, str) else body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def rest_error(server: ServerProcess, body: bytes | str, path: str = PREDICT) -> tuple[int, str]:
    """(HTTP status, the `error` message) of a refused REST request."""
    status, payload = rest(server, "POST", path, body)
    reply = json.loads(payload)
    assert set(reply) == {"error"}, reply
    return status, reply["error"]


def stub(server: ServerProcess) -> prediction_service_pb2_grpc.PredictionServiceStub:
    return prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.grpc))


def predict_request(**inputs) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(value if hasattr(value, "tensor_shape") else tensors.to_proto(value))
    return request


def rss(server: ServerProcess) -> int:
    return psutil.Process(server.process.pid).memory_info().rss


def assert_still_serves(server: ServerProcess) -> None:
    """A REST and a gRPC predict still get the right answer."""
    status, payload = rest(server, "POST", PREDICT, OK_BODY)
    assert status == 200, payload
    assert json.loads(payload)["predictions"][0]["y"] == 1.0
    request = predict_request(x=np.array([2.0], np.float32), name=np.array([b"a"], dtype=object))
    response = stub(server).Predict(request, timeout=30)
    assert list(response.outputs["y"].float_val) == [5.0]
