"""TF Serving's REST JSON: request bodies to numpy arrays and tf.Examples, results back to JSON.

A port of tensorflow_serving/util/json_tensor.cc: the row (`instances`) and columnar (`inputs`) formats, `{"b64": ...}`
for binary strings, the `_bytes` output suffix, bare NaN/Infinity tokens, and the same error messages.
"""

import base64
import binascii
import json
import math
from collections.abc import Mapping

import grpc
import numpy as np
import orjson
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.framework import types_pb2

from serving.status import ServingError, invalid_argument

ROW, COLUMNAR = "row", "columnar"
_NUMPY = {
    tf.float32: np.float32, tf.float64: np.float64, tf.int8: np.int8, tf.int16: np.int16, tf.int32: np.int32,
    tf.int64: np.int64, tf.uint8: np.uint8, tf.uint32: np.uint32, tf.uint64: np.uint64, tf.bool: np.bool_,
}  # fmt: skip
_INT_RANGES = {
    tf.int8: (-(2**31), 2**31 - 1),
    tf.int16: (-(2**31), 2**31 - 1),
    tf.int32: (-(2**31), 2**31 - 1),
    tf.uint8: (-(2**31), 2**31 - 1),
    tf.int64: (-(2**63), 2**63 - 1),
    tf.uint32: (0, 2**32 - 1),
    tf.uint64: (0, 2**64 - 1),
}  # fmt: skip  rapidjson's IsInt/IsInt64/IsUint/IsUint64 checks, as TF Serving applies them


def dtype_text(dtype: tf.DType) -> str:
    """TensorFlow's DataTypeString: "float", "double", "int64", "string"."""
    return types_pb2.DataType.Name(dtype.as_datatype_enum).removeprefix("DT_").lower()


def shape_text(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def float32_texts(array: np.ndarray) -> list:
    """Nested lists of Python floats that print as the shortest float32 form (0.1, not 0.10000000149011612)."""
    if array.dtype.kind != "f" or array.dtype.itemsize > 4:
        return array.tolist()
    return np.vectorize(float, otypes=[object])(array.astype(str)).tolist() if array.size else array.tolist()


def _pretty(value, depth: int) -> str:
    if isinstance(value, dict) and value:
        indent = "    " * (depth + 1)
        members = ",\n".join(f"{indent}{json.dumps(key)}: {_pretty(item, depth + 1)}" for key, item in value.items())
        return "{\n" + members + "\n" + "    " * depth + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_pretty(item, depth) for item in value) + "]"
    return json.dumps(value, allow_nan=True)


def debug_text(value) -> str:
    """A JSON value as TF Serving quotes it in errors: rapidjson's PrettyWriter, one-line arrays, 256 bytes."""
    return _pretty(value, 0)[:256]


def json_type(value) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), "Number")


def is_b64(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def b64decode(value) -> bytes:
    try:
        text = value["b64"]
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)  # absl accepts missing padding
    except (binascii.Error, ValueError):
        raise invalid_argument("Unable to base64 decode") from None


def parse_body(body: bytes) -> dict:
    """The request as a JSON object; NaN and Infinity tokens are accepted, as TF Serving accepts them."""
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:  # NaN/Infinity tokens; like TF Serving (kParseStopWhenDoneFlag), text after the document is ignored
            document, _ = json.JSONDecoder().raw_decode(body.decode())
        except json.JSONDecodeError as error:
            raise invalid_argument(f"JSON Parse error: {error.msg} at offset: {error.pos}") from None
        except UnicodeDecodeError as error:
            raise invalid_argument(f"JSON Parse error: Invalid encoding in string at offset: {error.start}") from None
    if not isinstance(document, dict):
        raise invalid_argument(f"JSON Value: {debug_text(document)} Is not object")
    return document


def signature_name(document: dict) -> str:
    name = document.get("signature_name", "")
    if not isinstance(name, str):
        raise invalid_argument(
            f"JSON Value: {debug_text(document)} not formatted correctly. 'signature_name' key must be a string value."
        )
    return name


def _leaf(value, dtype: tf.DType):
    if dtype == tf.string:
        if isinstance(value, str):
            return value.encode()
        if is_b64(value):
            return b64decode(value)
        if isinstance(value, dict):
            raise invalid_argument(f"JSON Value: {debug_text(value)} not formatted correctly for base64 data")
    elif dtype == tf.bool:
        if isinstance(value, bool):
            return value
    elif dtype.is_floating:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    elif dtype in _INT_RANGES:
        low, high = _INT_RANGES[dtype]
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
    else:
        message = f"Conversion of JSON Value: {debug_text(value)} to type: {dtype_text(dtype)}"
        raise ServingError(grpc.StatusCode.UNIMPLEMENTED, message)
    raise invalid_argument(
        f"JSON Value: {debug_text(value)} Type: {json_type(value)} is not of expected type: {dtype_text(dtype)}"
    )


def _shape(value) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value, level: int, shape: list[int], dtype: tf.DType, out: list) -> None:
    if not isinstance(value, list):
        if level != len(shape):
            raise invalid_argument(
                f"JSON Value: {debug_text(value)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {len(shape)}"
            )
        out.append(_leaf(value, dtype))
        return
    if level >= len(shape):
        raise invalid_argument(f"Encountered list at unexpected level: {level} expected < {len(shape)}")
    if len(value) != shape[level]:
        raise invalid_argument(
            f"Encountered list at unexpected size: {len(value)} at level: {level} expected size: {shape[level]}"
        )
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


def _to_array(value, dtype: tf.DType) -> np.ndarray:
    """One JSON value (scalar or nested lists) as an array of `dtype`, checked as FillTensorProto checks it."""
    shape = _shape(value)
    values: list = []
    _fill(value, 0, shape, dtype, values)
    if dtype == tf.string:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array.reshape(shape)
    return np.array(values, dtype=_NUMPY[dtype]).reshape(shape)


def predict_inputs(document: dict, dtypes: Mapping[str, tf.DType]) -> tuple[dict[str, np.ndarray], str]:
    """Input arrays for a signature's input dtypes, and the request's format (ROW or COLUMNAR)."""
    if not dtypes:
        raise invalid_argument(f"Failed to get input map for signature: {document.get('signature_name') or 'DEFAULT'}")
    if "instances" in document and "inputs" in document:
        raise invalid_argument(
            f"JSON Value: {debug_text(document)} Not formatted correctly expecting only one of 'inputs' or "
            "'instances' keys to exist "
        )
    if "instances" in document:
        instances = document["instances"]
        if not isinstance(instances, list):
            raise invalid_argument(f"JSON Value: {debug_text(document)} Expecting 'instances' to be an list/array")
        if not instances:
            raise invalid_argument(f"JSON Value: {debug_text(document)} No values in 'instances' array")
        return _from_instances(instances, dtypes), ROW
    if "inputs" in document:
        return _from_inputs(document["inputs"], dtypes), COLUMNAR
    raise invalid_argument("Missing 'inputs' or 'instances' key")


def _from_instances(instances: list, dtypes: dict[str, tf.DType]) -> dict[str, np.ndarray]:
    def is_object(value) -> bool:
        return isinstance(value, dict) and not is_b64(value)

    if not isinstance(instances[0], dict) and len(dtypes) > 1:
        raise invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input tensors required as per "
            "tensorinfo_map"
        )
    named = is_object(instances[0])
    columns: dict[str, list] = {name: [] for name in dtypes} if named else {next(iter(dtypes)): []}
    for index, instance in enumerate(instances):
        if named:
            if not is_object(instance):
                raise invalid_argument(f"Expecting object but got list at item {index} of input list")
            for name, value in instance.items():
                if name not in dtypes:
                    raise invalid_argument(
                        f"Failed to process element: {index} key: {name} of 'instances' list. Error: "
                        f"INVALID_ARGUMENT: JSON object: does not have named input: {name}"
                    )
                columns[name].append(value)
            if instance.keys() != dtypes.keys():
                for name, value in instance.items():  # TF Serving reports a bad value before missing keys
                    _check_element(value, dtypes[name], index, f"key: {name} ")
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. JSON object: {debug_text(instance)} "
                    f"keys must be equal to: {','.join(sorted(dtypes))}"
                )
        else:
            if is_object(instance):
                raise invalid_argument(f"Expecting value/list but got object at item {index} of input list")
            columns[next(iter(dtypes))].append(instance)
    arrays = {}
    for name, items in columns.items():
        where = f"key: {name} " if named else ""
        first = _shape(items[0])
        for index, item in enumerate(items):
            shape = _shape(item)
            if shape == first:
                continue
            if math.prod(shape) != math.prod(first):
                problem = f"Expecting tensor size: {math.prod(first)} but got: {math.prod(shape)}"
            else:
                problem = f"Expecting shape {shape_text(first)} but got: {shape_text(shape)}"
            raise invalid_argument(
                f"Failed to process element: {index} {where}of 'instances' list. Error: INVALID_ARGUMENT: {problem}"
            )
        try:
            arrays[name] = _to_array(items, dtypes[name])
        except ServingError:
            for index, item in enumerate(items):  # find the element at fault, for TF Serving's message
                _check_element(item, dtypes[name], index, where)
            raise
    return arrays


def _check_element(value, dtype: tf.DType, index: int, where: str) -> None:
    """Raises TF Serving's "Failed to process element" error if one instance's value does not convert."""
    try:
        _to_array(value, dtype)
    except ServingError as error:
        raise invalid_argument(
            f"Failed to process element: {index} {where}of 'instances' list. Error: INVALID_ARGUMENT: {error.message}"
        ) from None


def _from_inputs(value, dtypes: dict[str, tf.DType]) -> dict[str, np.ndarray]:
    if not isinstance(value, dict) or is_b64(value):
        if len(dtypes) > 1:
            raise invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors required as per "
                "tensorinfo_map"
            )
        name = next(iter(dtypes))
        return {name: _to_array(value, dtypes[name])}
    arrays = {}
    for name, dtype in dtypes.items():
        if name not in value:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = _to_array(value[name], dtype)
    return arrays


def _jsonable(name: str, array: np.ndarray):
    if array.dtype == object or array.dtype.kind in "SU":
        as_bytes = name.endswith("_bytes")

        def convert(item):
            if isinstance(item, np.ndarray):
                return [convert(x) for x in item]
            raw = item if isinstance(item, bytes) else str(item).encode()
            return {"b64": base64.b64encode(raw).decode()} if as_bytes else raw.decode(errors="replace")

        return convert(array) if array.ndim else convert(array.item())
    return array


def _dumps(document) -> bytes:
    try:
        return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    except orjson.JSONEncodeError:
        return json.dumps(document, default=lambda a: a.tolist()).encode()


def _has_non_finite(outputs: Mapping[str, np.ndarray]) -> bool:
    return any(a.dtype.kind == "f" and not np.isfinite(a).all() for a in outputs.values())


def predict_response(outputs: Mapping[str, np.ndarray], request_format: str) -> bytes:
    """`{"predictions": ...}` for row requests, `{"outputs": ...}` for columnar ones, as TF Serving writes them."""
    if not outputs:
        raise invalid_argument("Cannot convert empty tensor map to JSON")
    if _has_non_finite(outputs):  # TF Serving writes bare NaN/Infinity tokens; orjson would write null
        outputs = {name: float32_texts(a) if a.dtype.kind == "f" else a for name, a in outputs.items()}
        encode = lambda doc: json.dumps(doc, allow_nan=True, default=lambda a: a.tolist()).encode()  # noqa: E731
    else:
        encode = _dumps
    if request_format == COLUMNAR:
        columns = {name: _jsonable(name, np.asarray(a)) for name, a in outputs.items()}
        return encode({"outputs": next(iter(columns.values())) if len(columns) == 1 else columns})
    batch = None
    for name, array in outputs.items():
        array = np.asarray(array)
        if array.ndim == 0:
            raise invalid_argument(f"Tensor name: {name} has no shape information ")
        if batch is not None and array.shape[0] != batch:
            raise invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} expecting: {batch}"
            )
        batch = array.shape[0]
    columns = {name: _jsonable(name, np.asarray(a)) for name, a in outputs.items()}
    if len(columns) == 1:
        return encode({"predictions": next(iter(columns.values()))})
    return encode({"predictions": [{name: column[i] for name, column in columns.items()} for i in range(batch)]})


def status_json(response) -> bytes:
    return json_format.MessageToJson(response, including_default_value_fields=True).encode()


def metadata_json(model_spec, signature_map) -> bytes:
    """As TF Serving writes it: `{"model_spec": ..., "metadata": {"signature_def": {"signature_def": ...}}}`."""
    options = {"including_default_value_fields": True, "preserving_proto_field_name": True}
    document = {
        "model_spec": json_format.MessageToDict(model_spec, **options),
        "metadata": {"signature_def": json_format.MessageToDict(signature_map, **options)},
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


def error_json(message: str) -> bytes:
    return orjson.dumps({"error": message})
