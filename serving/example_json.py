"""TF Serving's REST JSON for :classify and :regress: `examples` (and `context`) to tf.Examples, `results` back.

A port of the tf.Example half of tensorflow_serving/util/json_tensor.cc: a JSON string or `{"b64": ...}` becomes a
bytes feature, a number with a decimal point a float feature, an integer (or bool) an int64 feature.
"""

import json

import numpy as np
import orjson
import tensorflow as tf

from serving import limits
from serving.codec import b64decode, debug_text, is_b64, json_type
from serving.limits import DecodeBudget
from serving.status import invalid_argument


def _feature(name: str, value) -> tf.train.Feature:
    feature = tf.train.Feature()
    kind = None
    for item in value if isinstance(value, list) else [value]:
        if item is None or isinstance(item, list) or (isinstance(item, dict) and not is_b64(item)):
            raise invalid_argument(f"Feature: {name} has element with unexpected JSON type: {json_type(item)}")
        if isinstance(item, (str, dict)):
            item_kind, item_value = "bytes_list", item.encode() if isinstance(item, str) else b64decode(item)
        elif isinstance(item, float) or not -(2**63) <= item < 2**64:  # rapidjson keeps huge integers as doubles
            item_kind, item_value = "float_list", float(item)
        else:
            if item > 2**63 - 1:
                raise invalid_argument(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
            item_kind, item_value = "int64_list", int(item)
        if kind not in (None, item_kind):
            expected = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}[kind]
            raise invalid_argument(f"Unexpected element type in feature: {name} expecting type: {expected}")
        kind = item_kind
        getattr(feature, kind).value.append(item_value)
    return feature


def _example(value) -> tf.train.Example:
    if not isinstance(value, dict):
        raise invalid_argument(f"Example must be JSON object but got JSON {json_type(value)}")
    example = tf.train.Example()
    for name, content in value.items():
        example.features.feature[name].CopyFrom(_feature(name, content))
    return example


def examples(document: dict, budget: DecodeBudget) -> list[bytes]:
    """Serialized tf.Examples of a :classify/:regress body; `context` features are merged into each example, once
    the budget allows as many copies of it."""
    context = _example(document["context"]) if "context" in document else None
    if "examples" not in document:
        raise invalid_argument(
            f"JSON Value: {debug_text(document)} When method is classify, key 'examples' is expected and was not found"
        )
    items = document["examples"]
    if not isinstance(items, list):
        raise invalid_argument(f"JSON Value: {debug_text(document)} Expecting 'examples' value to be an list/array")
    if not items:
        raise invalid_argument(f"JSON Value: {debug_text(document)} 'examples' value is an empty array")
    built = [_example(item) for item in items]
    limits.spend_on_examples(budget, context.ByteSize() if context is not None else 0, [e.ByteSize() for e in built])
    serialized = []
    for example in built:
        if context is not None:
            merged = tf.train.Example()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            example = merged
        serialized.append(example.SerializeToString())
    return serialized


def _dumps_results(results: list, values: np.ndarray | None) -> bytes:
    """`{"results": ...}` with float32 scores written as TF Serving writes them (shortest float32 form)."""
    if values is not None and values.dtype.kind == "f" and not np.isfinite(values).all():
        return json.dumps({"results": results}, allow_nan=True, default=lambda v: float(str(v))).encode()
    return orjson.dumps({"results": results}, option=orjson.OPT_SERIALIZE_NUMPY)


def classify_response(classes: np.ndarray | None, scores: np.ndarray | None) -> bytes:
    reference = classes if classes is not None else scores
    results = [
        [
            [
                classes[row, c].decode(errors="replace") if classes is not None else "",
                scores[row, c] if scores is not None else 0.0,
            ]
            for c in range(reference.shape[1])
        ]
        for row in range(reference.shape[0])
    ]
    return _dumps_results(results, scores)


def regress_response(values: np.ndarray) -> bytes:
    return _dumps_results(list(values), values)
