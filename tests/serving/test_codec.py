"""serving/codec.py against TF Serving's REST JSON (tensorflow_serving/util/json_tensor.cc and json_tensor_test.cc).

Inputs and expected values come from TF Serving's own tests where they exist; error messages are TF Serving's
wording.
"""

import json
import math

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2

from serving import codec, json_inputs
from serving.status import ServingError


def invalid_argument(call, *args) -> str:
    """The message of the INVALID_ARGUMENT that `call(*args)` raises."""
    with pytest.raises(ServingError) as raised:
        call(*args)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return raised.value.message


def strings(array: np.ndarray) -> list:
    assert array.dtype == object
    return array.tolist()


# parse_body


def test_parse_body_accepts_nan_and_infinity_tokens():
    document = codec.parse_body(b'{"instances": [NaN, Infinity, -Infinity, 1.5]}')

    nan, positive, negative, plain = document["instances"]
    assert math.isnan(nan)
    assert positive == math.inf
    assert negative == -math.inf
    assert plain == 1.5


def test_parse_body_refuses_an_empty_body():
    assert invalid_argument(codec.parse_body, b"") == "JSON Parse error: The document is empty"


def test_parse_body_reports_a_syntax_error_with_its_offset():
    message = invalid_argument(codec.parse_body, b'{"instances": [1,}')

    assert message.startswith("JSON Parse error: ")
    assert message.endswith(" at offset: 17")


@pytest.mark.parametrize("body", [b'"text"', b"5", b"true"])
def test_parse_body_refuses_a_document_that_is_not_an_object(body):
    assert invalid_argument(codec.parse_body, body) == f"JSON Value: {body.decode()} Is not object"


def test_parse_body_ignores_text_after_the_document():
    assert codec.parse_body(b'{"instances": [1]}X') == {"instances": [1]}


# signature_name


def test_signature_name_is_empty_when_not_given():
    assert codec.signature_name({"instances": [1]}) == ""


def test_signature_name_is_read_from_the_request():
    assert codec.signature_name({"signature_name": "predict_images", "instances": [[1, 2]]}) == "predict_images"


def test_signature_name_must_be_a_string():
    message = invalid_argument(codec.signature_name, {"signature_name": 5, "instances": [1]})

    assert message.startswith("JSON Value: ")
    assert message.endswith(" not formatted correctly. 'signature_name' key must be a string value.")


# predict_inputs: the row format ("instances")


def test_row_format_with_one_unnamed_input():
    inputs, request_format = json_inputs.predict_inputs({"instances": [[1, 2], [3, 4], [5, 6]]}, {"default": tf.int32})

    assert request_format == codec.ROW
    assert inputs["default"].dtype == np.int32
    assert inputs["default"].tolist() == [[1, 2], [3, 4], [5, 6]]


def test_row_format_with_base64_scalars():
    document = {"instances": [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}]}

    inputs, _ = json_inputs.predict_inputs(document, {"default": tf.string})

    assert strings(inputs["default"]) == [b"hello", b"world"]


def test_row_format_with_base64_lists():
    document = {"instances": [[{"b64": "aGVsbG8="}], [{"b64": "d29ybGQ="}]]}

    inputs, _ = json_inputs.predict_inputs(document, {"default": tf.string})

    assert inputs["default"].shape == (2, 1)
    assert strings(inputs["default"]) == [[b"hello"], [b"world"]]


def test_row_format_with_one_named_base64_input():
    document = {"instances": [{"default": [[{"b64": "aGVsbG8="}], [{"b64": "d29ybGQ="}]]}]}

    inputs, _ = json_inputs.predict_inputs(document, {"default": tf.string})

    assert inputs["default"].shape == (1, 2, 1)
    assert strings(inputs["default"]) == [[[b"hello"], [b"world"]]]


def test_row_format_with_several_named_inputs_and_non_finite_numbers():
    document = codec.parse_body(
        b"""{"instances": [
            {"int_tensor": [[1, 2], [3, 4], [5, 6]], "str_tensor": ["foo", "bar"],
             "float_tensor": [1.0, NaN], "dbl_tensor": [NaN]},
            {"int_tensor": [[7, 8], [9, 0], [1, 2]], "str_tensor": ["baz", "bat"],
             "float_tensor": [2.0, Infinity], "dbl_tensor": [2.0]}
        ]}"""
    )
    dtypes = {"int_tensor": tf.int32, "str_tensor": tf.string, "float_tensor": tf.float32, "dbl_tensor": tf.float64}

    inputs, request_format = json_inputs.predict_inputs(document, dtypes)

    assert request_format == codec.ROW
    assert inputs["int_tensor"].dtype == np.int32
    assert inputs["int_tensor"].tolist() == [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]]
    assert strings(inputs["str_tensor"]) == [[b"foo", b"bar"], [b"baz", b"bat"]]
    assert inputs["float_tensor"].dtype == np.float32
    np.testing.assert_array_equal(inputs["float_tensor"], np.array([[1.0, np.nan], [2.0, np.inf]], np.float32))
    assert inputs["dbl_tensor"].dtype == np.float64
    np.testing.assert_array_equal(inputs["dbl_tensor"], [[np.nan], [2.0]])


def test_strings_are_utf8_encoded():
    inputs, _ = json_inputs.predict_inputs({"instances": ["héllo", "日本"]}, {"default": tf.string})

    assert strings(inputs["default"]) == ["héllo".encode(), "日本".encode()]


def test_integers_and_decimals_mix_in_a_float_tensor():
    values = [1, 2.0, 3, 4, 5.003, 0.007, 0.0]

    inputs, _ = json_inputs.predict_inputs({"instances": values}, {"default": tf.float32})

    assert inputs["default"].dtype == np.float32
    np.testing.assert_array_equal(inputs["default"], np.array(values, np.float32))


def test_a_float_tensor_keeps_float32_precision_only():
    # TF Serving's FloatTensorWithPrecisionLoss: 1435774380 is not a float32.
    for value in (1435774380, 1435774380.0):
        inputs, _ = json_inputs.predict_inputs({"instances": [value]}, {"default": tf.float32})
        assert inputs["default"].tolist() == [1435774336.0]


def test_float32_overflow_becomes_infinity_and_underflow_zero():
    document = {"instances": [1.7976931348623157e308, -1.7976931348623157e308, 2.2250738585072014e-308]}

    with np.errstate(over="ignore"):
        inputs, _ = json_inputs.predict_inputs(document, {"default": tf.float32})

    assert inputs["default"].tolist() == [math.inf, -math.inf, 0.0]


def test_row_format_refuses_both_instances_and_inputs():
    message = invalid_argument(json_inputs.predict_inputs, {"instances": [1], "inputs": [1]}, {"default": tf.int32})

    assert message.startswith("JSON Value: ")
    assert message.endswith(" Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist ")


def test_instances_must_be_a_list():
    message = invalid_argument(json_inputs.predict_inputs, {"instances": {"x": 1}}, {"default": tf.int32})

    assert message.startswith("JSON Value: ")
    assert message.endswith(" Expecting 'instances' to be an list/array")


def test_instances_must_not_be_empty():
    message = invalid_argument(json_inputs.predict_inputs, {"instances": []}, {"default": tf.int32})

    assert message.startswith("JSON Value: ")
    assert message.endswith(" No values in 'instances' array")


def test_a_request_without_instances_or_inputs_is_refused():
    message = invalid_argument(json_inputs.predict_inputs, {"signature_name": "x"}, {"default": tf.int32})

    assert message == "Missing 'inputs' or 'instances' key"


def test_a_plain_list_cannot_feed_several_inputs():
    dtypes = {"a": tf.int32, "b": tf.string}

    message = invalid_argument(json_inputs.predict_inputs, {"instances": [1, 2]}, dtypes)

    assert message == (
        "instances is a plain list, but expecting list of objects as multiple input tensors required as per "
        "tensorinfo_map"
    )


def test_objects_and_lists_cannot_mix_in_instances():
    dtypes = {"int_tensor": tf.int32, "str_tensor": tf.string}
    objects_first = {"instances": [{"int_tensor": [1], "str_tensor": ["a"]}, [1, 20, 30]]}
    lists_first = {"instances": [["baz", "bar"], {"str_tensor": ["baz", "bat"]}]}

    assert (
        invalid_argument(json_inputs.predict_inputs, objects_first, dtypes)
        == "Expecting object but got list at item 1 of input list"
    )
    assert (
        invalid_argument(json_inputs.predict_inputs, lists_first, {"str_tensor": tf.string})
        == "Expecting value/list but got object at item 1 of input list"
    )


def test_an_instance_must_name_every_input():
    dtypes = {"a": tf.int32, "b": tf.string}

    message = invalid_argument(json_inputs.predict_inputs, {"instances": [{"a": 1}]}, dtypes)

    assert message.startswith("Failed to process element: 0 of 'instances' list. JSON object: ")
    assert message.endswith(" keys must be equal to: a,b")


def test_an_instance_with_an_unknown_input_names_it():
    dtypes = {"a": tf.int32, "b": tf.string}

    message = invalid_argument(json_inputs.predict_inputs, {"instances": [{"a": 1, "c": 2}]}, dtypes)

    assert message.startswith("Failed to process element: 0 key: c of 'instances' list. Error: ")
    assert message.endswith("JSON object: does not have named input: c")


def test_a_wrongly_typed_element_is_named_by_its_index():
    message = invalid_argument(json_inputs.predict_inputs, {"instances": [[1, 2], ["a", "b"]]}, {"default": tf.int32})

    assert message.startswith("Failed to process element: 1 of 'instances' list. Error: ")
    assert message.endswith('JSON Value: "a" Type: String is not of expected type: int32')


def test_instances_of_different_shapes_are_refused():
    message = invalid_argument(json_inputs.predict_inputs, {"instances": [1, [1]]}, {"default": tf.int32})

    assert message.endswith("Expecting shape [] but got: [1]")


def test_element_errors_keep_the_inner_status_code_as_tf_serving_writes_them():
    dtypes = {"a": tf.int32, "b": tf.string}

    message = invalid_argument(json_inputs.predict_inputs, {"instances": [{"a": 1, "c": 2}]}, dtypes)

    assert message == (
        "Failed to process element: 0 key: c of 'instances' list. Error: INVALID_ARGUMENT: "
        "JSON object: does not have named input: c"
    )


def test_instances_of_different_sizes_report_the_size():
    document = {"instances": [[1, 2], [3, 4], [5, 6, 7]]}

    message = invalid_argument(json_inputs.predict_inputs, document, {"default": tf.int32})

    assert "Expecting tensor size: 2 but got: 3" in message


def test_a_shape_error_in_unnamed_instances_names_no_key():
    message = invalid_argument(json_inputs.predict_inputs, {"instances": [1, [1]]}, {"default": tf.int32})

    assert message.startswith("Failed to process element: 1 of 'instances' list. Error: ")


def test_shapes_in_errors_are_written_as_tf_serving_writes_them():
    document = {"instances": [{"a": [[1, 2]]}, {"a": [[1], [2]]}]}

    message = invalid_argument(json_inputs.predict_inputs, document, {"a": tf.int32})

    assert message.endswith("Expecting shape [1,2] but got: [2,1]")


@pytest.mark.parametrize(
    "body, expected",
    [
        (b'{"instances": 1}', "JSON Value: {\n    \"instances\": 1\n} Expecting 'instances' to be an list/array"),
        (b"[1, 2]", "JSON Value: [1, 2] Is not object"),
    ],
)
def test_json_values_in_errors_are_written_as_tf_serving_writes_them(body, expected):
    def parse_and_read(raw):
        return json_inputs.predict_inputs(codec.parse_body(raw), {"default": tf.int32})

    assert invalid_argument(parse_and_read, body) == expected


def test_a_signature_without_inputs_is_named_in_the_error():
    assert (
        invalid_argument(json_inputs.predict_inputs, {"instances": [1]}, {})
        == "Failed to get input map for signature: DEFAULT"
    )
    assert (
        invalid_argument(json_inputs.predict_inputs, {"signature_name": "sig", "instances": [1]}, {})
        == "Failed to get input map for signature: sig"
    )


# predict_inputs: the columnar format ("inputs")


def test_columnar_format_with_one_input_named_or_not():
    named, named_format = json_inputs.predict_inputs(
        {"inputs": {"int_tensor": [[[1, 2], [3, 4], [5, 6]]]}}, {"int_tensor": tf.int32}
    )
    plain, plain_format = json_inputs.predict_inputs({"inputs": [[[1, 2], [3, 4], [5, 6]]]}, {"int_tensor": tf.int32})

    assert named_format == plain_format == codec.COLUMNAR
    assert named["int_tensor"].shape == plain["int_tensor"].shape == (1, 3, 2)
    assert named["int_tensor"].tolist() == plain["int_tensor"].tolist() == [[[1, 2], [3, 4], [5, 6]]]


def test_columnar_format_with_several_inputs_of_their_own_shapes():
    document = {
        "inputs": {
            "int_tensor": [[[1, 2], [3, 4], [5, 6]]],
            "str_tensor": ["foo", "bar"],
            "bin_tensor": {"b64": "aGVsbG8="},
        }
    }
    dtypes = {"int_tensor": tf.int32, "str_tensor": tf.string, "bin_tensor": tf.string}

    inputs, _ = json_inputs.predict_inputs(document, dtypes)

    assert inputs["int_tensor"].shape == (1, 3, 2)
    assert strings(inputs["str_tensor"]) == [b"foo", b"bar"]
    assert inputs["bin_tensor"].shape == ()
    assert inputs["bin_tensor"].item() == b"hello"


def test_columnar_format_ignores_keys_that_are_not_inputs():
    inputs, _ = json_inputs.predict_inputs({"inputs": {"a": [1], "unused": "x"}}, {"a": tf.int64})

    assert list(inputs) == ["a"]
    assert inputs["a"].tolist() == [1]


def test_columnar_format_needs_every_named_input():
    message = invalid_argument(json_inputs.predict_inputs, {"inputs": {"a": [1]}}, {"a": tf.int32, "b": tf.int32})

    assert message == "Missing named input: b in 'inputs' object."


def test_columnar_plain_value_cannot_feed_several_inputs():
    message = invalid_argument(json_inputs.predict_inputs, {"inputs": [1, 2]}, {"a": tf.int32, "b": tf.int32})

    assert message == (
        "inputs is a plain value/list, but expecting an object as multiple input tensors required as per tensorinfo_map"
    )


@pytest.mark.parametrize(
    "value, expected",
    [
        ([[1, 2], 3], "JSON Value: 3 found at incorrect level: 2 in the JSON DOM. Expected at level: 2"),
        ([[1, 2], [3, [4]]], "Encountered list at unexpected level: 2 expected < 2"),
        ([[1, 2], [3]], "Encountered list at unexpected size: 1 at level: 1 expected size: 2"),
    ],
)
def test_ragged_nested_lists_are_refused(value, expected):
    assert invalid_argument(json_inputs.predict_inputs, {"inputs": value}, {"a": tf.int32}) == expected


@pytest.mark.parametrize(
    "dtype, numpy_dtype, accepted, refused, type_name",
    [
        (tf.int32, np.int32, [-(2**31), 2**31 - 1], 2**31, "int32"),
        (tf.int64, np.int64, [-(2**63), 2**63 - 1], 2**63, "int64"),
        (tf.uint32, np.uint32, [0, 2**32 - 1], -1, "uint32"),
        (tf.uint64, np.uint64, [0, 2**64 - 1], -1, "uint64"),
        # TF Serving checks int8, int16 and uint8 values as rapidjson ints (the int32 range).
        (tf.int8, np.int8, [-128, 127], 2**31, "int8"),
    ],
)
def test_integer_ranges_are_checked(dtype, numpy_dtype, accepted, refused, type_name):
    inputs, _ = json_inputs.predict_inputs({"inputs": accepted}, {"a": dtype})

    assert inputs["a"].dtype == numpy_dtype
    assert inputs["a"].tolist() == accepted
    message = invalid_argument(json_inputs.predict_inputs, {"inputs": [refused]}, {"a": dtype})
    assert message == f"JSON Value: {refused} Type: Number is not of expected type: {type_name}"


def test_bools():
    inputs, _ = json_inputs.predict_inputs({"inputs": [[True, False], [False, True]]}, {"a": tf.bool})

    assert inputs["a"].dtype == np.bool_
    assert inputs["a"].tolist() == [[True, False], [False, True]]


@pytest.mark.parametrize(
    "value, dtype, expected",
    [
        (1, tf.bool, "JSON Value: 1 Type: Number is not of expected type: bool"),
        (False, tf.int64, "JSON Value: false Type: False is not of expected type: int64"),
        (1.5, tf.int32, "JSON Value: 1.5 Type: Number is not of expected type: int32"),
        (1, tf.string, "JSON Value: 1 Type: Number is not of expected type: string"),
        (None, tf.uint8, "JSON Value: null Type: Null is not of expected type: uint8"),
    ],
)
def test_values_of_the_wrong_json_type_are_refused(value, dtype, expected):
    assert invalid_argument(json_inputs.predict_inputs, {"inputs": [value]}, {"a": dtype}) == expected


@pytest.mark.parametrize(
    "value, dtype, expected",
    [
        (True, tf.float32, "JSON Value: true Type: True is not of expected type: float"),
        ("NaN", tf.float32, 'JSON Value: "NaN" Type: String is not of expected type: float'),
        (None, tf.float64, "JSON Value: null Type: Null is not of expected type: double"),
    ],
)
def test_float_dtypes_are_named_as_tf_serving_names_them(value, dtype, expected):
    assert invalid_argument(json_inputs.predict_inputs, {"inputs": [value]}, {"a": dtype}) == expected


def test_a_dtype_json_cannot_carry_is_unimplemented():
    with pytest.raises(ServingError) as raised:
        json_inputs.predict_inputs({"inputs": [1]}, {"a": tf.complex64})

    assert raised.value.code == grpc.StatusCode.UNIMPLEMENTED
    assert raised.value.message == "Conversion of JSON Value: 1 to type: complex64"


def test_bad_base64_is_refused():
    assert invalid_argument(json_inputs.predict_inputs, {"inputs": {"b64": "#not base64#"}}, {"a": tf.string}) == (
        "Unable to base64 decode"
    )


def test_an_object_that_is_not_base64_is_refused_for_strings():
    message = invalid_argument(json_inputs.predict_inputs, {"inputs": [{"b64": 1}]}, {"a": tf.string})

    assert message.startswith("JSON Value: ")
    assert message.endswith(" not formatted correctly for base64 data")


def test_base64_without_padding_is_accepted():
    inputs, _ = json_inputs.predict_inputs({"inputs": {"b64": "aGVsbG8"}}, {"a": tf.string})

    assert inputs["a"].item() == b"hello"


# predict_response


def int_tensor() -> np.ndarray:
    return np.array([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]], np.int32)


def test_one_output_in_row_and_columnar_formats():
    row = json.loads(codec.predict_response({"int_tensor": int_tensor()}, codec.ROW))
    columnar = json.loads(codec.predict_response({"int_tensor": int_tensor()}, codec.COLUMNAR))

    assert row == {"predictions": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]]}
    assert columnar == {"outputs": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]]}


def test_several_outputs_in_row_and_columnar_formats():
    outputs = {
        "int_tensor": int_tensor(),
        "str_tensor": np.array([[b"foo", b"bar"], [b"baz", b"bat"]], dtype=object),
        "float_tensor": np.array([[1.0], [2.0]], np.float32),
        "double_scalar_tensor": np.array([8.0, 9.0], np.float64),
        "str_tensor_bytes": np.array([[b"hello", b"world"], [b"tf", b"serving"]], dtype=object),
    }

    row = json.loads(codec.predict_response(outputs, codec.ROW))
    columnar = json.loads(codec.predict_response(outputs, codec.COLUMNAR))

    assert row == {
        "predictions": [
            {
                "double_scalar_tensor": 8.0,
                "float_tensor": [1.0],
                "int_tensor": [[1, 2], [3, 4], [5, 6]],
                "str_tensor": ["foo", "bar"],
                "str_tensor_bytes": [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}],
            },
            {
                "double_scalar_tensor": 9.0,
                "float_tensor": [2.0],
                "int_tensor": [[7, 8], [9, 0], [1, 2]],
                "str_tensor": ["baz", "bat"],
                "str_tensor_bytes": [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}],
            },
        ]
    }
    assert columnar == {
        "outputs": {
            "double_scalar_tensor": [8.0, 9.0],
            "float_tensor": [[1.0], [2.0]],
            "int_tensor": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]],
            "str_tensor": [["foo", "bar"], ["baz", "bat"]],
            "str_tensor_bytes": [
                [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}],
                [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}],
            ],
        }
    }


def test_only_bytes_outputs_are_base64_encoded():
    outputs = {"name_bytes": np.array([b"\xff\x00"], dtype=object), "greeting": np.array([b"hello"], dtype=object)}

    row = json.loads(codec.predict_response(outputs, codec.ROW))

    assert row == {"predictions": [{"name_bytes": {"b64": "/wA="}, "greeting": "hello"}]}


def test_float32_outputs_are_written_in_their_shortest_form():
    values = np.array([0.1, 0.2, 0.7, 1 / 3, 555557.5], np.float32)

    written = json.loads(codec.predict_response({"y": values}, codec.ROW))["predictions"]

    assert written[:3] == [0.1, 0.2, 0.7]
    assert np.array(written, np.float32).tolist() == values.tolist()


def test_whole_float_outputs_keep_a_decimal_point():
    raw = codec.predict_response({"y": np.array([3.0, 9000000.0], np.float32)}, codec.ROW)

    assert all(isinstance(value, float) for value in json.loads(raw)["predictions"])


def test_non_finite_outputs_are_bare_tokens():
    raw = codec.predict_response({"y": np.array([[np.nan, np.inf], [3.0, -np.inf]], np.float32)}, codec.ROW)

    assert b"null" not in raw
    assert raw.replace(b" ", b"") == b'{"predictions":[[NaN,Infinity],[3.0,-Infinity]]}'


def test_float32_outputs_stay_short_beside_nan():
    raw = codec.predict_response({"y": np.array([np.nan, 0.1], np.float32)}, codec.ROW)

    assert json.loads(raw)["predictions"][1] == 0.1


def test_uint64_and_bool_outputs():
    outputs = {"big": np.array([2**64 - 1, 0], np.uint64), "flag": np.array([True, False])}

    row = json.loads(codec.predict_response(outputs, codec.ROW))

    assert row == {"predictions": [{"big": 2**64 - 1, "flag": True}, {"big": 0, "flag": False}]}


def test_a_scalar_output_in_columnar_format():
    assert json.loads(codec.predict_response({"y": np.array(2.5, np.float32)}, codec.COLUMNAR)) == {"outputs": 2.5}


def test_a_scalar_string_output_in_columnar_format():
    raw = codec.predict_response({"label": np.array(b"cat", dtype=object)}, codec.COLUMNAR)

    assert json.loads(raw) == {"outputs": "cat"}


def test_a_zero_batch_is_an_empty_prediction_list():
    one = {"int_tensor": np.zeros((0, 2), np.int32)}
    several = {"str_tensor": np.zeros((0, 1, 2), dtype=object), "float_tensor": np.zeros((0, 3, 4), np.float32)}

    assert json.loads(codec.predict_response(one, codec.ROW)) == {"predictions": []}
    assert json.loads(codec.predict_response(several, codec.ROW)) == {"predictions": []}


def test_response_errors():
    scalar = {"tensor": np.array(1, np.int32)}
    uneven = {
        "int_tensor": np.zeros((2, 3), np.int32),
        "str_tensor": np.array([[b"foo", b"bar", b"baz"]], dtype=object),
    }

    assert invalid_argument(codec.predict_response, {}, codec.ROW) == "Cannot convert empty tensor map to JSON"
    assert (
        invalid_argument(codec.predict_response, scalar, codec.ROW) == "Tensor name: tensor has no shape information "
    )
    # TF Serving walks a protobuf map, so either tensor may be named as the odd one.
    assert invalid_argument(codec.predict_response, uneven, codec.ROW) in {
        "Tensor name: str_tensor has inconsistent batch size: 1 expecting: 2",
        "Tensor name: int_tensor has inconsistent batch size: 2 expecting: 1",
    }


# status_json, metadata_json, error_json


def test_status_json_uses_tf_serving_field_names():
    response = get_model_status_pb2.GetModelStatusResponse()
    version = response.model_version_status.add(version=123, state=get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    version.status.SetInParent()

    assert json.loads(codec.status_json(response)) == {
        "model_version_status": [
            {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }


def test_status_json_reports_a_failed_version():
    response = get_model_status_pb2.GetModelStatusResponse()
    version = response.model_version_status.add(version=2, state=get_model_status_pb2.ModelVersionStatus.END)
    version.status.error_code = 5
    version.status.error_message = "not found"

    assert json.loads(codec.status_json(response))["model_version_status"] == [
        {"version": "2", "state": "END", "status": {"error_code": "NOT_FOUND", "error_message": "not found"}}
    ]


# TF Serving's testdata/saved_model_half_plus_two_2_versions_metadata.json, cut to one signature.
HALF_PLUS_TWO_METADATA = {
    "model_spec": {"name": "saved_model_half_plus_two_2_versions", "signature_name": "", "version": "123"},
    "metadata": {
        "signature_def": {
            "signature_def": {
                "serving_default": {
                    "inputs": {
                        "x": {
                            "dtype": "DT_FLOAT",
                            "tensor_shape": {
                                "dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}],
                                "unknown_rank": False,
                            },
                            "name": "x:0",
                        }
                    },
                    "outputs": {
                        "y": {
                            "dtype": "DT_FLOAT",
                            "tensor_shape": {
                                "dim": [{"size": "-1", "name": ""}, {"size": "1", "name": ""}],
                                "unknown_rank": False,
                            },
                            "name": "y:0",
                        }
                    },
                    "method_name": "tensorflow/serving/predict",
                    "defaults": {},
                }
            }
        }
    },
}


def test_metadata_json_matches_tf_serving_testdata():
    model_spec = model_pb2.ModelSpec(name="saved_model_half_plus_two_2_versions")
    model_spec.version.value = 123
    signature_map = json_format.ParseDict(
        HALF_PLUS_TWO_METADATA["metadata"]["signature_def"], get_model_metadata_pb2.SignatureDefMap()
    )

    assert json.loads(codec.metadata_json(model_spec, signature_map)) == HALF_PLUS_TWO_METADATA


@pytest.mark.parametrize("message", ['Bad key: "key"', "Bad key: 'key'", "naïve\nline"])
def test_error_json(message):
    assert json.loads(codec.error_json(message)) == {"error": message}


# Hostile values (issue 19)


def test_a_deep_or_huge_value_is_quoted_from_its_first_256_characters_only():
    deep: list = []
    for _ in range(50_000):
        deep = [deep]
    huge = {"instances": list(range(1_000_000))}

    assert codec.debug_text(deep) == "[" * 256
    assert codec.debug_text(huge) == codec.debug_text({"instances": list(range(100))})[:256]


def test_a_tensor_of_more_dimensions_than_numpy_holds_is_refused():
    value: list = [1.0]
    for _ in range(39):
        value = [value]

    message = invalid_argument(json_inputs.predict_inputs, {"inputs": value}, {"a": tf.float32})

    assert message.endswith(" has 40 dimensions; this server takes at most 32")


def test_half_floats_are_read_and_bfloat16_is_unimplemented():
    inputs, _ = json_inputs.predict_inputs({"inputs": [1.5, 2]}, {"a": tf.float16})
    assert inputs["a"].dtype == np.float16 and inputs["a"].tolist() == [1.5, 2.0]

    with pytest.raises(ServingError) as raised:
        json_inputs.predict_inputs({"inputs": [1.5]}, {"a": tf.bfloat16})
    assert raised.value.code == grpc.StatusCode.UNIMPLEMENTED
