"""TF Serving's REST request tensors: the `instances` (row) and `inputs` (columnar) JSON formats to numpy arrays.

A port of the request half of tensorflow_serving/util/json_tensor.cc with its checks and error messages. A
well-formed request takes the fast path, straight to numpy per input; anything else takes the exact path, which
finds the fault value by value and words it as TF Serving does.
"""

import math
from collections.abc import Mapping, Sequence
from operator import itemgetter

import grpc
import numpy as np
import tensorflow as tf

from serving import input_names, limits, tensors
from serving.codec import COLUMNAR, ROW, b64decode, debug_text, is_b64, json_type
from serving.status import ServingError, invalid_argument

_NUMPY = {
    tf.float16: np.float16, tf.float32: np.float32, tf.float64: np.float64, tf.int8: np.int8, tf.int16: np.int16,
    tf.int32: np.int32, tf.int64: np.int64, tf.uint8: np.uint8, tf.uint32: np.uint32, tf.uint64: np.uint64,
    tf.bool: np.bool_,
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


def shape_text(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


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
    elif dtype.is_floating and dtype in _NUMPY:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    elif dtype in _INT_RANGES:
        low, high = _INT_RANGES[dtype]
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
    else:
        message = f"Conversion of JSON Value: {debug_text(value)} to type: {tensors.dtype_name(dtype)}"
        raise ServingError(grpc.StatusCode.UNIMPLEMENTED, message)
    raise invalid_argument(
        f"JSON Value: {debug_text(value)} Type: {json_type(value)} is not of expected type: {tensors.dtype_name(dtype)}"
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
    limits.check_rank(f"JSON Value: {debug_text(value)}", len(shape))
    values: list = []
    _fill(value, 0, shape, dtype, values)
    if dtype == tf.string:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array.reshape(shape)
    with np.errstate(over="ignore"):  # too big for float32 is infinity, as TF Serving's cast makes it
        return np.array(values, dtype=_NUMPY[dtype]).reshape(shape)


# The fast path: a well-formed request goes to numpy per input, type-checked per input by numpy and a set of the
# values' types (loops in C); anything else returns None and the exact path above finds the fault, in TF Serving's
# words, or converts what the fast path does not (base64 objects, uint64).
_FLOATS = frozenset({float, int})
_OBJECT = np.dtype(object)
_KINDS: dict[tf.DType, tuple[np.dtype, frozenset]] = {
    dtype: (np.dtype(numpy_dtype), frozenset({int})) for dtype, numpy_dtype in _NUMPY.items()
}
_KINDS.update({dtype: (np.dtype(_NUMPY[dtype]), _FLOATS) for dtype in (tf.float16, tf.float32, tf.float64)})
_KINDS[tf.bool] = (np.dtype(np.bool_), frozenset({bool}))
_KINDS[tf.string] = (_OBJECT, frozenset({str}))
del _KINDS[tf.uint64]  # numpy cannot range-check Python ints against uint64 without per-value work


def _fast_array(value, dtype: tf.DType) -> np.ndarray | None:
    """`value` (a JSON scalar or nested lists of one shape) as an array of `dtype`, or None if not plainly so."""
    if isinstance(value, list):
        return _fast_column(value, dtype)
    array = _fast_column((value,), dtype)
    return None if array is None else array.reshape(())


def _fast_column(values: Sequence, dtype: tf.DType) -> np.ndarray | None:
    """A sequence of JSON values (one per row, or a list's items) as one array, or None if not plainly so."""
    kind = _KINDS.get(dtype)
    if kind is None:
        return None
    numpy_dtype, allowed = kind
    leaves, shape = values, (len(values),)
    if any(map(list.__instancecheck__, values)):
        nested = np.array(values, dtype=object)  # the shape, if the lists are regular; their leaves otherwise
        leaves, shape = nested.reshape(-1), nested.shape
    if not set(map(type, leaves)) <= allowed:
        return None
    if numpy_dtype is _OBJECT:
        return np.fromiter(map(str.encode, leaves), dtype=object, count=len(leaves)).reshape(shape)
    if allowed is _FLOATS or numpy_dtype == np.bool_:
        with np.errstate(over="ignore"):  # too big for float32 is infinity, as TF Serving's cast makes it
            return np.array(leaves, dtype=numpy_dtype).reshape(shape)
    try:
        wide = np.array(leaves, dtype=np.int64)
    except OverflowError:
        return None
    low, high = _INT_RANGES[dtype]
    if wide.size and (wide.min() < low or wide.max() > high):
        return None
    return wide.astype(numpy_dtype).reshape(shape)


def _fast_instances(
    instances: list, dtypes: Mapping[str, tf.DType], keys: Mapping[str, str] | None = None
) -> dict[str, np.ndarray] | None:
    """`keys`: input -> the key naming it in every object, when not the input itself (serving/input_names.py)."""
    names = list(dtypes)
    if set(map(type, instances)) == {dict}:  # one object per row naming every input: as many keys, all found
        if set(map(len, instances)) != {len(names)} or (len(names) == 1 and any(map(is_b64, instances))):
            return None
        try:
            rows = list(map(itemgetter(*[keys.get(name, name) for name in names] if keys else names), instances))
        except KeyError:
            return None
        columns = zip(*rows, strict=True) if len(names) > 1 else [rows]
    elif len(names) == 1:
        columns = [instances]
    else:
        return None
    arrays = {}
    for name, column in zip(names, columns, strict=True):
        array = _fast_column(column, dtypes[name])
        if array is None:
            return None
        arrays[name] = array
    return arrays


def _fast_inputs(value, dtypes: Mapping[str, tf.DType]) -> dict[str, np.ndarray] | None:
    if not isinstance(value, dict):
        named = {next(iter(dtypes)): value} if len(dtypes) == 1 else None
    else:
        named = value if not is_b64(value) and dtypes.keys() <= value.keys() else None
    if named is None:
        return None
    arrays = {name: _fast_array(named[name], dtype) for name, dtype in dtypes.items()}
    return None if any(array is None for array in arrays.values()) else arrays


def predict_inputs(document: dict, dtypes: Mapping[str, tf.DType]) -> tuple[dict[str, np.ndarray], str]:
    """Input arrays for a signature's input dtypes, and the request's format (ROW or COLUMNAR).

    With `parse_body`, the whole REST decode. JSON cannot decode to more than 8 times its size (each value costs at
    least 2 characters and becomes at most 8 bytes), so it stays within serving/limits.py's bound by itself.
    """
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
        arrays = _fast_instances(instances, dtypes)  # succeeds only when every object names exactly the inputs
        if arrays is None:
            arrays, instances = _renamed_instances(instances, dtypes)
        return arrays or _fast_instances(instances, dtypes) or _from_instances(instances, dtypes), ROW
    if "inputs" in document:
        value = document["inputs"]
        if isinstance(value, dict) and not is_b64(value):
            value = input_names.renamed(value, input_names.renames(value, dtypes), "'inputs' object: ")
        return _fast_inputs(value, dtypes) or _from_inputs(value, dtypes), COLUMNAR
    raise invalid_argument("Missing 'inputs' or 'instances' key")


def _renamed_instances(instances: list, dtypes: Mapping[str, tf.DType]) -> tuple[dict[str, np.ndarray] | None, list]:
    """Objects naming an input by its raw column (serving/input_names.py): their arrays straight away when every
    object uses the same keys (the common case, read without copying objects), else None and the objects renamed."""
    keys = set().union(*filter(dict.__instancecheck__, instances))
    rename = input_names.renames(keys, dtypes)
    if not rename:
        return None, instances
    if len(set(rename.values())) == len(rename) and keys.isdisjoint(rename.values()):  # one key per input
        arrays = _fast_instances(instances, dtypes, {name: key for key, name in rename.items()})
        if arrays is not None:
            return arrays, instances
    renamed = [
        input_names.renamed(instance, rename, f"element {index} of 'instances' list: ")
        if isinstance(instance, dict)
        else instance
        for index, instance in enumerate(instances)
    ]
    return None, renamed


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
