"""One client for any TF-Serving-compatible server, over REST or gRPC, with a persistent connection.

    client = connect("localhost:8500", "grpc")        # or connect("localhost:8501", "rest")
    scores = client.predict("chicago_taxi", {"fare": np.array([12.5]), ...})["score"]

Inputs are columns (name -> 1-D array); outputs come back as arrays of the signature's dtypes, so REST and gRPC
return identical arrays for the same rows. Every failure is a `ClientError` with a one-line message.
"""

import base64
import http.client
import json
import math
import socket
import urllib.parse
from collections.abc import Mapping

import grpc
import numpy as np
import orjson
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving import tensors
from serving.request_id import HEADER as REQUEST_ID

PROTOCOLS = ("rest", "grpc")
DEFAULT_PORTS = {"rest": 8501, "grpc": 8500}
AVAILABLE = get_model_status_pb2.ModelVersionStatus.State.AVAILABLE


class ClientError(Exception):
    """A request that failed; the message says where and why in one line."""


class _Base:
    address: str
    last_request_id = ""  # the x-request-id the server answered the last predict with ("" if it sent none)

    def predict(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        version: int | None = None,
        label: str | None = None,
        signature: str = "",
    ) -> dict[str, np.ndarray]:
        """Outputs of a Predict call; the request id the server answered with is then `last_request_id`."""
        raise NotImplementedError

    def status(self, model: str, version: int | None = None) -> get_model_status_pb2.GetModelStatusResponse:
        raise NotImplementedError

    def metadata(self, model: str, version: int | None = None, label: str | None = None):
        """(served version, {signature name: SignatureDef})."""
        raise NotImplementedError

    def available_versions(self, model: str) -> list[int]:
        return sorted(s.version for s in self.status(model).model_version_status if s.state == AVAILABLE)

    def close(self) -> None:
        raise NotImplementedError


class RestClient(_Base):
    """TF Serving's REST API over one kept-alive HTTP/1.1 connection (reopened once if the server closed it)."""

    def __init__(self, address: str, timeout: float = 30.0):
        self.address = address
        host, port = _split(address, DEFAULT_PORTS["rest"])
        self._connection = http.client.HTTPConnection(host, port, timeout=timeout)
        self._output_dtypes: dict[tuple, dict[str, np.dtype]] = {}

    def _call(self, method: str, path: str, body: bytes | None = None) -> dict:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        for attempt in range(2):
            try:
                self._connection.request(method, path, body=body, headers=headers)
                response = self._connection.getresponse()
                payload = response.read()
                self.last_request_id = response.getheader(REQUEST_ID, "")
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._connection.close()
                if attempt:
                    raise ClientError(f"{self.address}: the server closed the connection") from None
            except (ConnectionRefusedError, socket.gaierror, TimeoutError, OSError) as error:
                self._connection.close()
                raise ClientError(f"cannot reach {self.address} over REST: {_reason(error)}") from None
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError:
            try:
                document = json.loads(payload)  # TF Serving writes NaN/Infinity as bare tokens
            except ValueError:
                raise ClientError(f"{self.address}: HTTP {response.status}, not a TF Serving reply") from None
        if response.status != 200:
            message = document.get("error", payload[:200]) if isinstance(document, dict) else payload[:200]
            raise ClientError(f"{self.address}: HTTP {response.status}: {message}")
        return document

    @staticmethod
    def _model_path(model: str, version: int | None, label: str | None) -> str:
        path = f"/v1/models/{urllib.parse.quote(model, safe='')}"
        if version is not None:
            path += f"/versions/{version}"
        elif label:
            path += f"/labels/{urllib.parse.quote(label, safe='')}"
        return path

    def predict(self, model, inputs, version=None, label=None, signature=""):
        key = (model, version, label, signature)
        if key not in self._output_dtypes:
            _, signatures = self.metadata(model, version, label)
            chosen = signatures.get(signature or "serving_default")
            if chosen is None:
                raise ClientError(
                    f"{self.address}: model '{model}' has no signature '{signature or 'serving_default'}'"
                )
            self._output_dtypes[key] = {
                name: tf.dtypes.as_dtype(info.dtype).as_numpy_dtype for name, info in chosen.outputs.items()
            }
        body = {"inputs": {name: _json_column(values) for name, values in inputs.items()}}
        if signature:
            body["signature_name"] = signature
        encoded = json.dumps(body, allow_nan=True).encode()
        outputs = self._call("POST", self._model_path(model, version, label) + ":predict", encoded)["outputs"]
        dtypes = self._output_dtypes[key]
        if not isinstance(outputs, dict) or len(dtypes) == 1 and set(outputs) != set(dtypes):
            outputs = {next(iter(dtypes)): outputs}
        return {name: _from_json(value, dtypes.get(name)) for name, value in outputs.items()}

    def status(self, model, version=None):
        document = self._call("GET", self._model_path(model, version, None))
        return json_format.ParseDict(document, get_model_status_pb2.GetModelStatusResponse())

    def metadata(self, model, version=None, label=None):
        document = self._call("GET", self._model_path(model, version, label) + "/metadata")
        signature_map = json_format.ParseDict(
            document["metadata"]["signature_def"], get_model_metadata_pb2.SignatureDefMap(), ignore_unknown_fields=True
        )
        return int(document["model_spec"]["version"]), dict(signature_map.signature_def)

    def close(self) -> None:
        self._connection.close()


class GrpcClient(_Base):
    """TF Serving's gRPC services over one channel."""

    def __init__(self, address: str, timeout: float = 30.0):
        self.address = address
        host, port = _split(address, DEFAULT_PORTS["grpc"])
        self._timeout = timeout
        self._channel = grpc.insecure_channel(
            f"{host}:{port}", options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
        )
        self._predictions = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def _call(self, method, request):
        try:
            if method is not self._predictions.Predict:
                return method(request, timeout=self._timeout)
            response, call = method.with_call(request, timeout=self._timeout)
            self.last_request_id = dict(call.initial_metadata() or ()).get(REQUEST_ID, "")
            return response
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNAVAILABLE and "connect" in (error.details() or "").lower():
                raise ClientError(f"cannot reach {self.address} over gRPC: connection refused") from None
            raise ClientError(f"{self.address}: {error.code().name}: {error.details()}") from None

    @staticmethod
    def _spec(spec, model: str, version: int | None, label: str | None, signature: str = "") -> None:
        spec.name = model
        if version is not None:
            spec.version.value = version
        elif label:
            spec.version_label = label
        if signature:
            spec.signature_name = signature

    def predict(self, model, inputs, version=None, label=None, signature=""):
        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, model, version, label, signature)
        for name, values in inputs.items():
            request.inputs[name].CopyFrom(tensors.to_proto(values))
        response = self._call(self._predictions.Predict, request)
        return {name: tensors.from_proto(proto) for name, proto in response.outputs.items()}

    def status(self, model, version=None):
        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, model, version, None)
        return self._call(self._models.GetModelStatus, request)

    def metadata(self, model, version=None, label=None):
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec, model, version, label)
        response = self._call(self._predictions.GetModelMetadata, request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        return response.model_spec.version.value, dict(signature_map.signature_def)

    def reload_config(self, config) -> None:
        """ModelService.HandleReloadConfigRequest: the server replaces its model config with `config`."""
        response = self._call(
            self._models.HandleReloadConfigRequest, model_management_pb2.ReloadConfigRequest(config=config)
        )
        if response.status.error_code:
            raise ClientError(f"{self.address}: the server refused the config: {response.status.error_message}")

    def close(self) -> None:
        self._channel.close()


def connect(address: str, protocol: str, timeout: float = 30.0) -> RestClient | GrpcClient:
    if protocol not in PROTOCOLS:
        raise ClientError(f"unknown protocol '{protocol}': use rest or grpc")
    return RestClient(address, timeout) if protocol == "rest" else GrpcClient(address, timeout)


def _split(address: str, default_port: int) -> tuple[str, int]:
    """HOST[:PORT] (an http:// prefix is allowed) as (host, port)."""
    text = address.strip().split("://", 1)[-1].rstrip("/")
    try:
        parts = urllib.parse.urlsplit("//" + text)
        port = parts.port
    except ValueError:
        raise ClientError(f"bad address '{address}': expected HOST:PORT, e.g. localhost:{default_port}") from None
    if not parts.hostname or parts.path or parts.query:
        raise ClientError(f"bad address '{address}': expected HOST:PORT, e.g. localhost:{default_port}")
    return parts.hostname, port or default_port


def _reason(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(error, socket.gaierror):
        return "unknown host"
    return error.strerror or type(error).__name__


def _json_column(values: np.ndarray) -> list:
    if values.dtype == object or values.dtype.kind in "SU":
        out = []
        for value in values.tolist():
            raw = value if isinstance(value, bytes) else str(value).encode()
            try:
                out.append(raw.decode())
            except UnicodeDecodeError:
                out.append({"b64": base64.b64encode(raw).decode()})
        return out
    if values.dtype.kind == "f":
        return [float(v) if math.isfinite(v) else v for v in values.tolist()]
    return values.tolist()


def _from_json(value, dtype) -> np.ndarray:
    if dtype is not None and np.dtype(dtype).kind == "O":  # tf.string's numpy dtype is the Python type `object`
        flat = np.array(value, dtype=object)
        return (
            np.vectorize(lambda v: base64.b64decode(v["b64"]) if isinstance(v, dict) else v.encode(), otypes=[object])(
                flat
            )
            if flat.size
            else flat
        )
    return np.array(value, dtype=dtype)
