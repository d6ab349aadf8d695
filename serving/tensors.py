"""numpy <-> TensorProto for the common dtypes, about 20 times faster than tf.make_tensor_proto/make_ndarray.

Numbers travel as `tensor_content` (raw little-endian bytes), strings as `string_val`, exactly as TensorFlow reads
them. Typed value fields follow TensorFlow's own rule (a short list repeats its last value); anything unusual (half
floats, complex numbers, strings in tensor_content) falls back to TensorFlow's converter, so every TensorProto
TF Serving accepts is accepted.
"""

import math

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

_NUMPY_TO_PROTO = {
    np.dtype(np.float32): types_pb2.DT_FLOAT, np.dtype(np.float64): types_pb2.DT_DOUBLE,
    np.dtype(np.int32): types_pb2.DT_INT32, np.dtype(np.int64): types_pb2.DT_INT64,
    np.dtype(np.int16): types_pb2.DT_INT16, np.dtype(np.int8): types_pb2.DT_INT8,
    np.dtype(np.uint8): types_pb2.DT_UINT8, np.dtype(np.uint32): types_pb2.DT_UINT32,
    np.dtype(np.uint64): types_pb2.DT_UINT64, np.dtype(np.bool_): types_pb2.DT_BOOL,
}  # fmt: skip
_PROTO_TO_NUMPY = {proto: dtype for dtype, proto in _NUMPY_TO_PROTO.items()}
_VALUE_FIELDS = {
    types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val", types_pb2.DT_INT32: "int_val",
    types_pb2.DT_INT16: "int_val", types_pb2.DT_INT8: "int_val", types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_INT64: "int64_val", types_pb2.DT_UINT32: "uint32_val", types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val",
}  # fmt: skip
# Small integers travel as int32 in `int_val`; TensorFlow casts them (wrapping), as astype does.
_FIELD_NUMPY = {proto: np.dtype(np.int32) for proto in (types_pb2.DT_INT16, types_pb2.DT_INT8, types_pb2.DT_UINT8)}
_MAX_ELEMENTS = 2**63 - 1  # TensorShape's limit
STRING_REFERENCE_BYTES = 8  # one object-array slot per string


def dtype_name(dtype: tf.DType) -> str:
    """TensorFlow's DataTypeString, as its messages write it: "float", "double", "int64", "string"."""
    return types_pb2.DataType.Name(dtype.as_datatype_enum).removeprefix("DT_").lower()


def to_proto(array: np.ndarray, as_content: bool = True) -> tensor_pb2.TensorProto:
    """A TensorProto holding `array` (strings: object/bytes/str arrays).

    Numbers go in `tensor_content`, or, with `as_content=False`, in the typed value fields (`float_val`, ...), which
    is how TF Serving answers unless --enable_serialization_as_tensor_content.
    """
    array = np.asarray(array)
    proto = tensor_pb2.TensorProto(
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[{"size": size} for size in array.shape])
    )
    if array.dtype == object or array.dtype.kind in "SU":
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode() for v in array.reshape(-1).tolist())
        return proto
    dtype = _NUMPY_TO_PROTO.get(array.dtype.newbyteorder("="))
    if dtype is None:
        return tf.make_tensor_proto(array)
    proto.dtype = dtype
    if as_content:
        proto.tensor_content = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    else:
        getattr(proto, _VALUE_FIELDS[dtype]).extend(array.reshape(-1).tolist())
    return proto


def _shape(proto: tensor_pb2.TensorProto) -> tuple[int, ...]:
    """The shape TensorFlow's TensorShape would build, or ValueError where it would refuse the proto."""
    if proto.tensor_shape.unknown_rank:
        raise ValueError("a tensor needs a known rank")
    shape = tuple(dim.size for dim in proto.tensor_shape.dim)
    if any(size < 0 for size in shape) or math.prod(shape) > _MAX_ELEMENTS:
        raise ValueError(f"invalid shape {list(shape)}")
    return shape


def decoded_bytes(proto: tensor_pb2.TensorProto) -> int:
    """What `from_proto` will allocate for `proto`, worked out from its shape alone (ValueError if unreadable).

    Numbers take their item size; strings a reference each plus their bytes, the repeated last value counted as
    often as TensorFlow repeats it.
    """
    count = math.prod(_shape(proto))
    if proto.dtype == types_pb2.DT_STRING:
        if proto.tensor_content:
            return count * STRING_REFERENCE_BYTES + len(proto.tensor_content)
        values = proto.string_val
        payload = sum(map(len, values[:count]))
        if 0 < len(values) < count:
            payload += (count - len(values)) * len(values[-1])
        return count * STRING_REFERENCE_BYTES + payload
    try:
        item_size = tf.dtypes.as_dtype(proto.dtype).size
    except TypeError:
        raise ValueError(f"unknown dtype {proto.dtype}") from None
    if item_size == 0:  # resource and variant handles cannot come from a client
        raise ValueError(f"dtype {proto.dtype} cannot be sent")
    return count * item_size


def _like_tensorflow(values, count: int, fill):
    """TensorFlow's rule for typed value fields (Tensor::FromProto): fewer values than the shape holds repeat the
    last one, none at all read as `fill`, extra values are dropped."""
    if len(values) >= count:
        return values[:count]
    if not len(values):
        return fill(count)
    padded = fill(count)
    padded[: len(values)] = values
    padded[len(values) :] = values[-1]
    return padded


def from_proto(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """The array a TensorProto holds (strings as an object array of bytes), read as TensorFlow reads it.

    Callers that take protos from clients check `decoded_bytes` against a limit first: a short value list declares
    its full size, which TensorFlow (and this function) allocate.
    """
    shape = _shape(proto)
    count = math.prod(shape)
    if proto.dtype == types_pb2.DT_STRING and not proto.tensor_content:
        given = proto.string_val[:count]
        strings = np.empty(count, dtype=object)
        strings[: len(given)] = given
        strings[len(given) :].fill(given[-1] if given else b"")  # TensorFlow's rule, as in _like_tensorflow
        return strings.reshape(shape)
    dtype = _PROTO_TO_NUMPY.get(proto.dtype)
    if dtype is None:
        return tf.make_ndarray(proto)
    if proto.tensor_content:
        if len(proto.tensor_content) != count * dtype.itemsize:  # TensorFlow refuses it ("Input size was ...")
            raise ValueError(f"tensor_content holds {len(proto.tensor_content)} bytes, not {count * dtype.itemsize}")
        return np.frombuffer(proto.tensor_content, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    field = np.array(getattr(proto, _VALUE_FIELDS[proto.dtype]), dtype=_FIELD_NUMPY.get(proto.dtype, dtype))
    values = _like_tensorflow(field, count, lambda n: np.zeros(n, dtype=field.dtype))
    return values.astype(dtype, copy=False).reshape(shape)
