"""Fuzzing with hypothesis: REST bodies and gRPC request protos, well-formed, mangled and random, against the
built-in server on loopback (the toy model). Whatever arrives, the answer is a 2xx or a 4xx in TF Serving's form,
never a crash or an undocumented 5xx, in bounded time and memory, and the server still serves afterwards. Each
property runs a fixed number of examples (seconds in all), so `make test` stays fast.

The toy model's `slow` signature is left out: it loops as often as asked, which is the model's work, not decoding.
"""

import json
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import classification_pb2, predict_pb2
from toy_server import assert_still_serves, rest, rss, start, stub

from serving import codec, json_inputs
from serving.status import ServingError

EXAMPLES = 150
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)  # fmt: skip
ANSWER_SECONDS = 5.0
RSS_GROWTH = 300 * 2**20  # the fuzz may legitimately decode up to 8x a request plus 1 MiB, a few at a time
# gRPC statuses a request can earn (and INTERNAL for message bytes that do not parse, below).
GRPC_ANSWERS = {
    grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNIMPLEMENTED,
}  # fmt: skip
REST_5XX = {501}  # UNIMPLEMENTED: a dtype JSON cannot carry (TF Serving's "Conversion of JSON Value ...")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = start(tmp_path_factory, "--rest_api_read_timeout_in_ms=2000")
    process.rss_at_start = rss(process)
    yield process
    assert_still_serves(process)
    assert rss(process) - process.rss_at_start < RSS_GROWTH
    assert process.stop() == 0, process.output()


# JSON documents shaped like TF Serving requests, with every kind of wrong value inside.
KEYS = st.sampled_from(["x", "name", "instances", "inputs", "signature_name", "b64", "examples", "context", "z"])
SIGNATURES = st.sampled_from(["", "serving_default", "classify", "regress", "nope"])
SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=6)
    | st.fixed_dictionaries({"b64": st.text(alphabet="QUJD=/+x", max_size=8)})
)  # fmt: skip
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=3))
DOCUMENTS = st.fixed_dictionaries(
    {}, optional={"signature_name": SIGNATURES | VALUES, "instances": VALUES, "inputs": VALUES, "examples": VALUES,
                  "context": VALUES},
).filter(lambda document: document.get("signature_name") != "slow")  # fmt: skip


def encoded(document) -> bytes:
    return json.dumps(document, allow_nan=True).encode()


@st.composite
def mangled(draw) -> bytes:
    """An encoded document cut short, or with bytes inserted or overwritten."""
    body = encoded(draw(DOCUMENTS))
    where = draw(st.integers(0, len(body)))
    noise = draw(st.binary(min_size=1, max_size=3))
    how = draw(st.sampled_from(["cut", "insert", "overwrite"]))
    if how == "cut":
        return body[:where]
    return body[:where] + noise + body[where + (len(noise) if how == "overwrite" else 0) :]


DEEP = st.integers(1000, 20_000).map(lambda depth: b'{"instances": ' + b"[" * depth + b"]" * depth + b"}")
BODIES = DOCUMENTS.map(encoded) | mangled() | st.binary(max_size=80) | DEEP
PATHS = st.sampled_from(
    ["/v1/models/toy:predict", "/v1/models/toy:classify", "/v1/models/toy:regress", "/v1/models/toy/versions/1:predict"]
)


@FUZZ
@given(path=PATHS, body=BODIES)
def test_rest_bodies_get_a_tf_serving_answer(server, path, body):
    started = time.monotonic()
    status, payload = rest(server, "POST", path, body)

    assert time.monotonic() - started < ANSWER_SECONDS
    assert status < 500 or status in REST_5XX, payload[:300]
    reply = json.loads(payload)
    assert status == 200 or set(reply) == {"error"}, reply


# TensorProtos with any dtype, shape (negative, huge) and value count, or raw bytes in tensor_content.
DTYPES = st.sampled_from([
    types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_STRING, types_pb2.DT_INT64, types_pb2.DT_INT8,
    types_pb2.DT_BOOL, types_pb2.DT_HALF, types_pb2.DT_COMPLEX64, types_pb2.DT_INVALID, types_pb2.DT_RESOURCE, 99,
])  # fmt: skip
FIELDS = {
    types_pb2.DT_FLOAT: ("float_val", st.floats(width=32)), types_pb2.DT_DOUBLE: ("double_val", st.floats()),
    types_pb2.DT_STRING: ("string_val", st.binary(max_size=5)), types_pb2.DT_INT64: ("int64_val", st.integers(-9, 9)),
    types_pb2.DT_INT8: ("int_val", st.integers(-300, 300)), types_pb2.DT_BOOL: ("bool_val", st.booleans()),
    types_pb2.DT_HALF: ("half_val", st.integers(0, 65535)),
    types_pb2.DT_COMPLEX64: ("scomplex_val", st.floats(width=32)),
}  # fmt: skip
DIMS = st.lists(st.integers(0, 4) | st.integers(-2, 2**62), max_size=6)


@st.composite
def tensor_protos(draw) -> tensor_pb2.TensorProto:
    dtype = draw(DTYPES)
    proto = tensor_pb2.TensorProto(dtype=dtype, tensor_shape={"dim": [{"size": d} for d in draw(DIMS)]})
    if draw(st.booleans()) and dtype in FIELDS:
        field, values = FIELDS[dtype]
        getattr(proto, field).extend(draw(st.lists(values, max_size=6)))
    else:
        proto.tensor_content = draw(st.binary(max_size=24))
    return proto


INPUTS = st.dictionaries(st.sampled_from(["x", "name", "spins", "z"]), tensor_protos(), max_size=3)


@FUZZ
@given(inputs=INPUTS, signature=SIGNATURES, version=st.sampled_from([None, 1, 7]))
def test_grpc_predict_requests_get_a_tf_serving_answer(server, inputs, signature, version):
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "toy", signature
    if version is not None:
        request.model_spec.version.value = version
    for name, proto in inputs.items():
        request.inputs[name].CopyFrom(proto)

    assert_grpc_answer(stub(server).Predict, request)


EXAMPLES_LISTS = st.lists(st.dictionaries(st.sampled_from(["x", "pad"]), st.floats(width=32) | st.binary(max_size=64)))


@FUZZ
@given(examples=EXAMPLES_LISTS, context=st.none() | st.binary(max_size=2000), signature=SIGNATURES)
def test_grpc_classify_requests_get_a_tf_serving_answer(server, examples, context, signature):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = "toy", signature
    listed = request.input.example_list if context is None else request.input.example_list_with_context
    if context is not None:
        listed.context.features.feature["pad"].bytes_list.value.append(context)
    for features in examples:
        example = listed.examples.add()
        for name, value in features.items():
            feature = example.features.feature[name]
            (feature.bytes_list if isinstance(value, bytes) else feature.float_list).value.append(value)

    assert_grpc_answer(stub(server).Classify, request)


@FUZZ
@given(raw=st.binary(max_size=64))
def test_grpc_message_bytes_of_any_kind_get_an_answer(server, raw):
    channel = grpc.insecure_channel(server.grpc)
    call = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")  # bytes in, bytes out
    started = time.monotonic()
    try:
        call(raw, timeout=30)
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.INTERNAL:  # gRPC C++'s answer, so TF Serving's, to what does not parse
            assert error.details() == "Failed to parse the request message"
        else:
            assert error.code() in GRPC_ANSWERS, f"{error.code()}: {error.details()}"
    assert time.monotonic() - started < ANSWER_SECONDS
    channel.close()


def assert_grpc_answer(call, request) -> None:
    started = time.monotonic()
    try:
        call(request, timeout=30)
    except grpc.RpcError as error:
        assert error.code() in GRPC_ANSWERS, f"{error.code()}: {error.details()}"
    assert time.monotonic() - started < ANSWER_SECONDS


# The fast REST decode against the exact one, and the bound JSON keeps by itself (no server needed).
TYPED = {
    tf.float32: st.floats(width=32) | st.integers(-(2**40), 2**40), tf.int64: st.integers(-(2**64), 2**64),
    tf.int8: st.integers(-(2**32), 2**32), tf.bool: st.booleans(), tf.string: st.text(max_size=5),
    tf.uint32: st.integers(-5, 2**33),
}  # fmt: skip


@st.composite
def requests_for(draw) -> tuple[dict, dict]:
    """(document, input dtypes): mostly well-formed tensors of one shape per input, sometimes one odd value."""
    names = draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True))
    dtypes = {name: draw(st.sampled_from(list(TYPED))) for name in names}
    rows, width = draw(st.integers(1, 4)), draw(st.sampled_from([None, 0, 1, 3]))

    def value(dtype):
        leaf = TYPED[dtype] if draw(st.integers(0, 9)) else SCALARS
        return draw(leaf) if width is None else draw(st.lists(leaf, min_size=width, max_size=width))

    if draw(st.booleans()):
        instances = [{name: value(dtype) for name, dtype in dtypes.items()} for _ in range(rows)]
        if len(dtypes) == 1 and draw(st.booleans()):
            instances = [row[names[0]] for row in instances]
        return {"instances": instances}, dtypes
    return {"inputs": {name: [value(dtype) for _ in range(rows)] for name, dtype in dtypes.items()}}, dtypes


def exact(document: dict, dtypes: dict) -> dict:
    if "instances" in document:
        return json_inputs._from_instances(document["instances"], dtypes)
    return json_inputs._from_inputs(document["inputs"], dtypes)


def comparable(array: np.ndarray):
    values = array.astype(str) if array.dtype.kind == "f" else array  # NaN equals NaN as text
    return array.dtype.str, array.shape, values.tolist()


def outcome(decode, *args):
    """The arrays (comparably) or the error a decode ends with."""
    try:
        with np.errstate(over="ignore"):
            arrays = decode(*args)
    except ServingError as error:
        return ("error", error.code, error.message)
    return {name: comparable(array) for name, array in arrays.items()}


@settings(max_examples=500, deadline=None, database=None)
@given(request=requests_for())
def test_the_fast_decode_answers_as_the_exact_one(request):
    document, dtypes = request

    assert outcome(lambda: json_inputs.predict_inputs(document, dtypes)[0]) == outcome(exact, document, dtypes)


@settings(max_examples=300, deadline=None, database=None)
@given(request=requests_for())
def test_json_decodes_to_at_most_8_times_its_size(request):
    document, dtypes = request
    body = json.dumps(document, allow_nan=True, separators=(",", ":")).encode()  # compact: the tightest case
    try:
        inputs, _ = json_inputs.predict_inputs(codec.parse_body(body), dtypes)
    except ServingError:
        return
    decoded = sum(a.nbytes + (sum(map(len, a.reshape(-1))) if a.dtype == object else 0) for a in inputs.values())
    assert decoded <= 8 * len(body), (decoded, len(body))
