"""TF Serving's REST JSON: bodies in, results back out, and the helpers its messages share.

A port of tensorflow_serving/util/json_tensor.cc: `{"b64": ...}` for binary strings, the `_bytes` output suffix,
bare NaN/Infinity tokens, the row/columnar reply formats and the same error messages. Request tensors are read by
serving/json_inputs.py, tf.Examples by serving/example_json.py.
"""

import base64
import binascii
import json
from collections.abc import Mapping

import numpy as np
import orjson
from google.protobuf import json_format

from serving import json_body
from serving.status import invalid_argument

ROW, COLUMNAR = "row", "columnar"
_DEBUG_BYTES = 256


def float32_texts(array: np.ndarray) -> list:
    """Nested lists of Python floats that print as the shortest float32 form (0.1, not 0.10000000149011612)."""
    if array.dtype.kind != "f" or array.dtype.itemsize > 4:
        return array.tolist()
    return np.vectorize(float, otypes=[object])(array.astype(str)).tolist() if array.size else array.tolist()


def _write(value, depth: int, out: list[str], room: list[int]) -> None:
    """rapidjson's PrettyWriter with one-line arrays, stopping once `room` characters are written (so a deep or
    huge document costs no more than its first 256 characters)."""

    def emit(text: str) -> None:
        out.append(text)
        room[0] -= len(text)

    if isinstance(value, dict) and value:
        emit("{\n")
        for index, (key, item) in enumerate(value.items()):
            if room[0] <= 0:
                return
            emit(f"{',' if index else ''}{chr(10) if index else ''}{'    ' * (depth + 1)}{json.dumps(key)}: ")
            _write(item, depth + 1, out, room)
        emit("\n" + "    " * depth + "}")
    elif isinstance(value, list):
        emit("[")
        for index, item in enumerate(value):
            if room[0] <= 0:
                return
            if index:
                emit(", ")
            _write(item, depth, out, room)
        emit("]")
    else:
        emit(json.dumps(value, allow_nan=True))


def debug_text(value) -> str:
    """A JSON value as TF Serving quotes it in errors: rapidjson's PrettyWriter, one-line arrays, 256 bytes."""
    out: list[str] = []
    _write(value, 0, out, [_DEBUG_BYTES])
    return "".join(out)[:_DEBUG_BYTES]


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
    """The request as a JSON object, read as TF Serving reads it (serving/json_body.py)."""
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    document = json_body.loads(body)
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
