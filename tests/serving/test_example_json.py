"""serving/example_json.py against TF Serving's :classify/:regress JSON (json_tensor.cc, json_tensor_test.cc).

Expected tf.Examples are built by hand from TF Serving's test protos; a context is merged the way TF Serving merges it
(servables/tensorflow/util.cc concatenates the serialized context and example).
"""

import json
import math

import grpc
import numpy as np
import pytest
import tensorflow as tf

from serving import example_json
from serving.limits import DecodeBudget
from serving.status import ServingError


def serialized(document: dict) -> list[bytes]:
    """example_json.examples with room for any test body."""
    return example_json.examples(document, DecodeBudget(request_bytes=1_000_000, allowance=0))


def invalid_argument(document) -> str:
    with pytest.raises(ServingError) as raised:
        serialized(document)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return raised.value.message


def make_example(**features) -> tf.train.Example:
    """A tf.Example from name -> ("bytes" | "float" | "int64", values)."""
    example = tf.train.Example()
    for name, (kind, values) in features.items():
        getattr(example.features.feature[name], f"{kind}_list").value.extend(values)
    return example


def parsed(serialized: list[bytes]) -> list[tf.train.Example]:
    return [tf.train.Example.FromString(item) for item in serialized]


def test_examples_without_context():
    document = {
        "examples": [
            {"names": ["foo", "bar"], "ratings": [8.0, 9.0], "age": 20},
            {"names": ["baz"], "ratings": 6.0},
        ]
    }

    assert parsed(serialized(document)) == [
        make_example(names=("bytes", [b"foo", b"bar"]), ratings=("float", [8.0, 9.0]), age=("int64", [20])),
        make_example(names=("bytes", [b"baz"]), ratings=("float", [6.0])),
    ]


def test_context_is_merged_into_each_example():
    document = {
        "signature_name": "custom_signture",
        "context": {"query": "pizza", "location": ["sfo"]},
        "examples": [
            {"names": ["foo", "bar"], "age": 20},
            {"names": ["baz", {"b64": "aGVsbG8="}], "intboolmix": [1, True, False]},
            {"names": "bar", "ratings": -math.inf},
        ],
    }
    context = make_example(query=("bytes", [b"pizza"]), location=("bytes", [b"sfo"]))
    examples = [
        make_example(names=("bytes", [b"foo", b"bar"]), age=("int64", [20])),
        make_example(names=("bytes", [b"baz", b"hello"]), intboolmix=("int64", [1, 1, 0])),
        make_example(names=("bytes", [b"bar"]), ratings=("float", [-math.inf])),
    ]

    merged = parsed(serialized(document))

    assert merged == parsed([context.SerializeToString() + e.SerializeToString() for e in examples])
    assert all(e.features.feature["query"].bytes_list.value == [b"pizza"] for e in merged)


def test_an_example_feature_overrides_the_context_feature_of_the_same_name():
    document = {"context": {"x": 1.5, "kept": "c"}, "examples": [{"x": 2.5}, {"y": 3}]}

    merged = parsed(serialized(document))

    assert merged[0] == make_example(x=("float", [2.5]), kept=("bytes", [b"c"]))
    assert merged[1] == make_example(x=("float", [1.5]), kept=("bytes", [b"c"]), y=("int64", [3]))


def test_feature_kinds_follow_json_types():
    document = {"examples": [{"s": "text", "b": {"b64": "/wA="}, "f": 5.0, "i": 5, "t": True, "n": [math.nan]}]}

    (example,) = parsed(serialized(document))

    feature = example.features.feature
    assert feature["s"].bytes_list.value == [b"text"]
    assert feature["b"].bytes_list.value == [b"\xff\x00"]
    assert feature["f"].float_list.value == [5.0]
    # A whole number without a decimal point is an int64 feature, even when the model reads a float.
    assert feature["i"].int64_list.value == [5]
    assert feature["t"].int64_list.value == [1]
    assert math.isnan(feature["n"].float_list.value[0])


def test_an_empty_list_is_a_feature_of_no_kind():
    (example,) = parsed(serialized({"examples": [{"empty": []}]}))

    assert "empty" in example.features.feature
    assert example.features.feature["empty"].WhichOneof("kind") is None


def test_large_int64_values_are_kept_exactly():
    (example,) = parsed(serialized({"examples": [{"id": [2**63 - 1, -(2**63)]}]}))

    assert example.features.feature["id"].int64_list.value == [2**63 - 1, -(2**63)]


@pytest.mark.parametrize(
    "values, expected",
    [
        ([10, 10.0], "Unexpected element type in feature: names expecting type: int64"),
        ([10, "ten"], "Unexpected element type in feature: names expecting type: int64"),
        ([1.5, "x"], "Unexpected element type in feature: names expecting type: float"),
        (["x", 1], "Unexpected element type in feature: names expecting type: bytes"),
        ([{"b64": "aGk="}, True], "Unexpected element type in feature: names expecting type: bytes"),
    ],
)
def test_mixed_kinds_in_a_feature_are_refused(values, expected):
    assert invalid_argument({"examples": [{"names": values}]}) == expected


@pytest.mark.parametrize(
    "value, json_type",
    [
        ([10, None], "Null"),
        (None, "Null"),
        ([10, {"test": 10}], "Object"),
        ([[10], 20], "Array"),
    ],
)
def test_null_objects_and_nested_arrays_are_refused(value, json_type):
    assert invalid_argument({"examples": [{"names": value}]}) == (
        f"Feature: names has element with unexpected JSON type: {json_type}"
    )


def test_uint64_values_are_refused():
    assert invalid_argument({"examples": [{"names": [20, 18446744073709551603]}]}) == (
        "Feature: names has uint64_t element. Only int64_t is supported."
    )


@pytest.mark.parametrize("value", [-(2**63) - 1, 2**64])
def test_integers_beyond_64_bits_become_float_features(value):
    (example,) = parsed(serialized({"examples": [{"big": value}]}))

    assert example.features.feature["big"].float_list.value == [np.float32(value)]


def test_bad_base64_is_refused():
    assert invalid_argument({"examples": [{"names": {"b64": "#"}}]}) == "Unable to base64 decode"


@pytest.mark.parametrize(
    "document, expected",
    [
        ({"examples": [[{"names": ["foo"]}]]}, "Example must be JSON object but got JSON Array"),
        ({"examples": ["foo"]}, "Example must be JSON object but got JSON String"),
        ({"context": [{"names": ["foo"]}], "examples": [{}]}, "Example must be JSON object but got JSON Array"),
    ],
)
def test_examples_and_context_must_be_objects(document, expected):
    assert invalid_argument(document) == expected


def test_a_bad_context_is_reported_before_missing_examples():
    assert invalid_argument({"context": 5}) == "Example must be JSON object but got JSON Number"


@pytest.mark.parametrize(
    "document, suffix",
    [
        ({"context": {"a": 1}}, " When method is classify, key 'examples' is expected and was not found"),
        ({"examples": {"names": ["foo", "bar"]}}, " Expecting 'examples' value to be an list/array"),
        ({"examples": []}, " 'examples' value is an empty array"),
    ],
)
def test_examples_must_be_a_non_empty_list(document, suffix):
    message = invalid_argument(document)

    assert message.startswith("JSON Value: ")
    assert message.endswith(suffix)


def test_classify_response():
    classes = np.array([[b"car", b"bike", b"bus"], [b"car", b"bike", b"bus"]], dtype=object)
    scores = np.array([[0.2, 0.7, 0.1], [0.7, 0.1, 0.2]], np.float32)

    assert json.loads(example_json.classify_response(classes, scores)) == {
        "results": [[["car", 0.2], ["bike", 0.7], ["bus", 0.1]], [["car", 0.7], ["bike", 0.1], ["bus", 0.2]]]
    }


def test_classify_response_without_classes_or_without_scores():
    # TF Serving leaves the label empty and the score 0 when the signature lacks that output.
    scores_only = example_json.classify_response(None, np.array([[7.0]], np.float32))
    classes_only = example_json.classify_response(np.array([[b"a", b"b"]], dtype=object), None)

    assert json.loads(scores_only) == {"results": [[["", 7.0]]]}
    assert json.loads(classes_only) == {"results": [[["a", 0.0], ["b", 0.0]]]}


def test_regress_response():
    values = np.array([0.2, 0.9, 1.0], np.float32)

    assert json.loads(example_json.regress_response(values)) == {"results": [0.2, 0.9, 1.0]}


def test_regress_response_writes_non_finite_values_as_bare_tokens():
    raw = example_json.regress_response(np.array([0.5, np.inf, 1.0, -np.inf, np.nan], np.float32))

    assert raw.replace(b" ", b"") == b'{"results":[0.5,Infinity,1.0,-Infinity,NaN]}'


def test_scores_stay_short_beside_non_finite_values():
    regress = json.loads(example_json.regress_response(np.array([0.2, np.nan], np.float32)))
    classify = json.loads(
        example_json.classify_response(np.array([[b"a", b"b"]], dtype=object), np.array([[0.2, np.inf]], np.float32))
    )

    assert regress["results"][0] == 0.2
    assert classify["results"][0][0] == ["a", 0.2]
