"""Requests built to hurt the server (issue 19), against the built-in server on loopback with the toy model: each is
refused fast with TF Serving's status and words (or, where TF Serving has none, ours naming the input and the
limit), and the server still serves afterwards."""

import json
import socket
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import classification_pb2, inference_pb2
from toy_server import PREDICT, assert_still_serves, predict_request, rest, rest_error, rss, start, stub

ALLOWANCE = 1 << 20
READ_TIMEOUT_MS = 1000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = start(tmp_path_factory, f"--rest_api_read_timeout_in_ms={READ_TIMEOUT_MS}")
    yield process
    assert process.stop() == 0, process.output()


def declared(dtype: int, sizes: list[int], **values) -> tensor_pb2.TensorProto:
    """A TensorProto declaring `sizes` but carrying only `values` (e.g. float_val=[1.0])."""
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in sizes])
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, **values)


def refused(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call(request, timeout=30)
    return raised.value


# Bounded work per request


@pytest.mark.parametrize(
    ("dtype", "values", "name", "item_bytes"),
    [(types_pb2.DT_FLOAT, {"float_val": [1.0]}, "float", 4), (types_pb2.DT_DOUBLE, {"double_val": [1.0]}, "double", 8)],
    ids=["float", "double as the SRE sent it"],
)
def test_a_tiny_request_declaring_a_billion_values_is_refused_in_milliseconds_with_memory_flat(
    server, dtype, values, name, item_bytes
):
    request = predict_request(x=declared(dtype, [1_000_000_000], **values), name=np.array([b"a"], dtype=object))
    size = request.ByteSize()
    before = rss(server)

    started = time.monotonic()
    error = refused(stub(server).Predict, request)
    elapsed = time.monotonic() - started

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        f"input 'x' ({name} [1000000000]) decodes to {item_bytes}000000000 bytes, which takes the request past its "
        f"limit of {8 * size + ALLOWANCE} bytes (8 x its {size} bytes + --decode_allowance_bytes={ALLOWANCE})"
    )
    assert elapsed < 1.0  # milliseconds on an idle machine; the bound leaves room for a busy one
    assert rss(server) - before < 50 * 2**20
    assert_still_serves(server)


def test_a_short_value_list_is_read_as_tensorflow_reads_it(server):
    # TF Serving accepts it: TensorFlow's Tensor::FromProto repeats the last value (tf.make_tensor_proto(1.5,
    # shape=[3]) sends exactly this), so only a size over the limit is refused.
    request = predict_request(
        x=declared(types_pb2.DT_FLOAT, [4], float_val=[1.0, 1.5]),
        name=declared(types_pb2.DT_STRING, [4], string_val=[b"a"]),
    )

    response = stub(server).Predict(request, timeout=30)

    assert list(response.outputs["y"].float_val) == [3.0, 4.0, 4.0, 4.0]
    assert list(response.outputs["greeting"].string_val) == [b"hello a"] * 4


def test_a_context_merged_into_many_examples_is_refused_over_grpc(server):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = "toy", "classify"
    listed = request.input.example_list_with_context
    listed.context.features.feature["padding"].bytes_list.value.append(b"p" * 100_000)
    for _ in range(1000):
        listed.examples.add()
    size, context = request.ByteSize(), listed.context.ByteSize()

    error = refused(stub(server).Classify, request)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        f"1000 examples with a {context}-byte context decodes to {1000 * (context + 8)} bytes, which takes the "
        f"request past its limit of {8 * size + ALLOWANCE} bytes (8 x its {size} bytes + "
        f"--decode_allowance_bytes={ALLOWANCE})"
    )
    multi = inference_pb2.MultiInferenceRequest(input=request.input)
    multi.tasks.add(method_name="tensorflow/serving/classify").model_spec.CopyFrom(request.model_spec)
    assert refused(stub(server).MultiInference, multi).code() == grpc.StatusCode.INVALID_ARGUMENT
    assert_still_serves(server)


def test_a_context_merged_into_many_examples_is_refused_over_rest(server):
    body = json.dumps({"signature_name": "classify", "context": {"padding": "p" * 100_000}, "examples": [{}] * 1000})
    context = tf.train.Example()  # the context as the server builds it: a bytes feature
    context.features.feature["padding"].bytes_list.value.append(b"p" * 100_000)
    size = context.ByteSize()

    status, message = rest_error(server, body, "/v1/models/toy:classify")

    assert status == 400
    assert message.startswith(f"1000 examples with a {size}-byte context decodes to {1000 * (size + 8)} bytes")
    assert message.endswith(f"(8 x its {len(body)} bytes + --decode_allowance_bytes={ALLOWANCE})")
    assert_still_serves(server)


# TF Serving's (and TensorFlow's) words


@pytest.mark.parametrize(("value", "given"), [(np.array([b"1.5"], dtype=object), "string"), (np.ones(1), "double")])
def test_a_tensor_of_the_wrong_dtype_gets_tensorflows_message(server, value, given):
    # DirectSession numbers the feeds sorted by tensor name: serving_default_name:0, serving_default_x:0.
    error = refused(stub(server).Predict, predict_request(x=value, name=np.array([b"a"], dtype=object)))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == f"Expects arg[1] to be float but {given} is provided"
    assert_still_serves(server)


NESTED = "[" * 100_000 + "]" * 100_000
RANK_40 = "[" * 40 + "1.0" + "]" * 40
BAD_JSON = [
    ("instances = [1, 2]", "JSON Parse error: Invalid value. at offset: 0"),  # TF Serving's own test
    ("{not json", "JSON Parse error: Missing a name for object member. at offset: 1"),
    (
        '{"instances": [{"x": 1.0 "name": "a"}]}',
        "JSON Parse error: Missing a comma or '}' after an object member. at offset: 25",
    ),  # fmt: skip
    ('{"instances": [1e400]}', "JSON Parse error: Number too big to be stored in double. at offset: 15"),
    ('{"instances": [NaN, 1e400]}', "JSON Parse error: Number too big to be stored in double. at offset: 20"),
    ('{"instances": ' + NESTED + "}", "JSON Parse error: Nesting deeper than 1024 levels. at offset: 1038"),
    ('{"instances": [NaN, ' + NESTED + "]}", "JSON Parse error: Nesting deeper than 1024 levels. at offset: 1043"),
    ('{"instances": ' + "[" * 100_000, "JSON Parse error: Nesting deeper than 1024 levels. at offset: 1038"),
    (
        '{"inputs": {"x": ' + RANK_40 + ', "name": "a"}}',
        f"JSON Value: {RANK_40} has 40 dimensions; this server takes at most 32",
    ),  # fmt: skip
]


@pytest.mark.parametrize(("body", "message"), BAD_JSON, ids=[m[:40] for _, m in BAD_JSON])
def test_bad_json_gets_a_400_in_tf_servings_words(server, body, message):
    started = time.monotonic()
    status, error = rest_error(server, body)

    assert status == 400
    assert error == message
    assert time.monotonic() - started < 2.0
    assert_still_serves(server)


# Slow and short bodies


def send_headers(server, content_length: int) -> socket.socket:
    connection = socket.create_connection(tuple(server.rest.split(":")), timeout=10)
    head = f"POST {PREDICT} HTTP/1.1\r\nHost: {server.rest}\r\nContent-Length: {content_length}\r\n\r\n"
    connection.sendall(head.encode())
    return connection


def read_reply(connection: socket.socket) -> tuple[bytes, bytes]:
    """(status line, JSON body) of the reply, read until the server closes the connection."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], body


def test_a_body_shorter_than_its_content_length_times_out_without_holding_up_others(server):
    stuck = send_headers(server, 100)
    stuck.sendall(b'{"instances"')
    started = time.monotonic()

    status, payload = rest(server, "POST", PREDICT, '{"instances": [{"x": 1.0, "name": "b"}]}')
    assert status == 200 and json.loads(payload)["predictions"][0]["y"] == 3.0
    assert time.monotonic() - started < READ_TIMEOUT_MS / 1000  # answered while the short body still waits

    status_line, body = read_reply(stuck)
    assert status_line == b"HTTP/1.1 408 Request Timeout"
    assert json.loads(body) == {
        "error": f"Request body not received within --rest_api_read_timeout_in_ms={READ_TIMEOUT_MS}: 12 of 100 "
        "bytes arrived"
    }
    assert time.monotonic() - started < 5 * READ_TIMEOUT_MS / 1000
    assert_still_serves(server)


def test_a_slow_body_times_out(server):
    body = OK = b'{"instances": [{"x": 0.0, "name": "ok"}]}'
    connection = send_headers(server, len(OK))
    started = time.monotonic()
    for index in range(len(body)):
        if time.monotonic() - started > 2 * READ_TIMEOUT_MS / 1000:
            break
        try:
            connection.sendall(body[index : index + 1])
        except OSError:  # closed by the server after its 408
            break
        time.sleep(0.1)

    status_line, reply = read_reply(connection)

    assert status_line == b"HTTP/1.1 408 Request Timeout"
    assert json.loads(reply)["error"].startswith(
        f"Request body not received within --rest_api_read_timeout_in_ms={READ_TIMEOUT_MS}: "
    )
    assert_still_serves(server)


def test_message_bytes_that_do_not_parse_get_grpc_cs_internal_not_unknown(server):
    # Found by the fuzz (test_fuzz_requests.py): grpcio's asyncio server answered UNKNOWN "Unexpected DecodeError".
    channel = grpc.insecure_channel(server.grpc)
    predict = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")  # bytes in, bytes out

    error = refused(predict, b"\x01")

    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == "Failed to parse the request message"
    channel.close()
    assert_still_serves(server)
