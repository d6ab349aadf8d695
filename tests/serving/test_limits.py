"""serving/limits.py: the decode budget and its words, from a TensorProto's shape and from example lists."""

import grpc
import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2, types_pb2

from serving import limits, tensors
from serving.status import ServingError


def refusal(call, *args) -> str:
    with pytest.raises(ServingError) as raised:
        call(*args)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return raised.value.message


def test_every_exact_encoding_fits_the_expansion():
    # The densest: one-byte varints that decode to int64s, and JSON's "0," (2 bytes) that decodes to 8.
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT64, tensor_shape={"dim": [{"size": 1000}]})
    proto.int64_val.extend([0] * 1000)
    budget = limits.DecodeBudget(request_bytes=proto.ByteSize(), allowance=0)

    limits.spend_on_tensor(budget, "ids", proto)

    assert budget.spent == 8000 <= budget.limit


def test_the_input_that_crosses_the_limit_is_named_with_the_limit():
    budget = limits.DecodeBudget(request_bytes=100, allowance=1000)
    limits.spend_on_tensor(budget, "a", tensors.to_proto(np.zeros(200, np.float32)))

    message = refusal(limits.spend_on_tensor, budget, "b", tensors.to_proto(np.zeros((1, 300), np.float64)))

    assert message == (
        "input 'b' (double [1,300]) decodes to 2400 bytes, which takes the request past its limit of 1800 bytes "
        "(8 x its 100 bytes + --decode_allowance_bytes=1000)"
    )


def test_an_unreadable_tensor_is_tf_servings_parsing_error():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape={"dim": [{"size": -3}]})

    message = refusal(limits.spend_on_tensor, limits.DecodeBudget(100, 0), "x", proto)

    assert message == "tensor parsing error: x"


def test_a_rank_numpy_cannot_hold_is_refused_by_name():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape={"dim": [{"size": 1}] * 33})

    message = refusal(limits.spend_on_tensor, limits.DecodeBudget(100, 0), "x", proto)

    assert message == "input 'x' has 33 dimensions; this server takes at most 32"


def test_a_context_is_charged_once_per_example():
    budget = limits.DecodeBudget(request_bytes=1000, allowance=0)

    message = refusal(limits.spend_on_examples, budget, 990, [2] * 10)

    assert message.startswith("10 examples with a 990-byte context decodes to 10000 bytes, which takes the request")
