"""serving/tensors.py: numpy <-> TensorProto, checked against TensorFlow's own converters.

TensorFlow is the reference both ways: what `to_proto` writes must read back equal with `tf.make_ndarray`, and what
`from_proto` reads from any TensorProto a client may send must equal `tf.make_ndarray` of it.
"""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from serving import tensors

NUMERIC_DTYPES = [np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.uint64]


def extremes(dtype) -> np.ndarray:
    """A [2, 3] array with the dtype's smallest, largest and everyday values."""
    if np.issubdtype(dtype, np.floating):
        info = np.finfo(dtype)
        values = [[info.min, info.max, 0.0], [0.5, info.tiny, -1.25]]
    else:
        info = np.iinfo(dtype)
        values = [[info.min, info.max, 0], [7, 1, info.max // 3]]
    return np.array(values, dtype=dtype)


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    assert actual.tolist() == expected.tolist()


def shape_proto(*sizes: int) -> tensor_shape_pb2.TensorShapeProto:
    return tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in sizes])


@pytest.mark.parametrize("dtype", NUMERIC_DTYPES, ids=lambda d: np.dtype(d).name)
def test_numbers_round_trip_and_tensorflow_reads_them(dtype):
    array = extremes(dtype)

    proto = tensors.to_proto(array)

    assert proto.dtype == tf.as_dtype(dtype).as_datatype_enum
    assert [d.size for d in proto.tensor_shape.dim] == [2, 3]
    assert_same(tensors.from_proto(proto), array)
    assert_same(tf.make_ndarray(proto), array)


def test_bools_round_trip_and_tensorflow_reads_them():
    array = np.array([[True, False, True]])

    proto = tensors.to_proto(array)

    assert proto.dtype == types_pb2.DT_BOOL
    assert_same(tensors.from_proto(proto), array)
    assert_same(tf.make_ndarray(proto), array)


def test_non_finite_floats_round_trip():
    array = np.array([np.nan, np.inf, -np.inf, -0.0], np.float32)

    result = tensors.from_proto(tensors.to_proto(array))

    np.testing.assert_array_equal(result, array)
    assert np.signbit(result[3])


@pytest.mark.parametrize(
    "array",
    [
        np.array([[b"a", b"\xff\x00"], [b"", b"longer value"]], dtype=object),
        np.array([b"x", b"yz"]),
        np.array(["héllo", "日本"]),
        np.array(["text", b"raw"], dtype=object),
    ],
    ids=["object-bytes", "numpy-bytes", "numpy-str", "object-mixed"],
)
def test_strings_round_trip_as_bytes(array):
    expected = [item if isinstance(item, bytes) else item.encode() for item in array.reshape(-1).tolist()]

    proto = tensors.to_proto(array)
    result = tensors.from_proto(proto)

    assert proto.dtype == types_pb2.DT_STRING
    assert result.dtype == object
    assert result.shape == array.shape
    assert result.reshape(-1).tolist() == expected
    assert tf.make_ndarray(proto).reshape(-1).tolist() == expected


@pytest.mark.parametrize("shape", [(), (1,), (2, 3, 4), (1, 1, 1, 5)])
def test_shapes_are_kept(shape):
    array = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)

    proto = tensors.to_proto(array)

    assert_same(tensors.from_proto(proto), array)
    assert_same(tf.make_ndarray(proto), array)


def test_a_non_contiguous_view_is_written_in_logical_order():
    array = np.arange(12, dtype=np.float32).reshape(3, 4).T

    assert_same(tensors.from_proto(tensors.to_proto(array)), np.ascontiguousarray(array))


def test_a_big_endian_array_is_written_little_endian_as_tensorflow_expects():
    array = np.array([1.5, -2.25, 1e30], dtype=">f8")

    proto = tensors.to_proto(array)

    assert proto.dtype == types_pb2.DT_DOUBLE
    assert tf.make_ndarray(proto).tolist() == [1.5, -2.25, 1e30]
    assert tensors.from_proto(proto).tolist() == [1.5, -2.25, 1e30]


@pytest.mark.parametrize("shape", [(0,), (2, 0, 3), (0, 4)])
@pytest.mark.parametrize("dtype", [*NUMERIC_DTYPES, np.bool_, object], ids=lambda d: np.dtype(d).name)
def test_empty_arrays_round_trip(dtype, shape):
    array = np.zeros(shape, dtype=dtype)

    proto = tensors.to_proto(array)
    result = tensors.from_proto(proto)

    assert result.shape == shape
    assert result.dtype == array.dtype
    assert tf.make_ndarray(proto).shape == shape


@pytest.mark.parametrize(
    "array",
    [
        np.array([[1, 2.5], [-3, 0]], np.float16),
        np.array([1 + 2j, -3.5j], np.complex64),
        np.array([[1 + 2j], [0.25 - 1j]], np.complex128),
    ],
    ids=lambda a: a.dtype.name,
)
def test_dtypes_outside_the_tables_fall_back_to_tensorflow(array):
    proto = tensors.to_proto(array)

    assert_same(tensors.from_proto(proto), array)
    assert_same(tf.make_ndarray(proto), array)


@pytest.mark.parametrize(
    "values, dtype",
    [
        ([[1.5, -2.0, 3.25]], tf.float32),
        ([[1.5, -2.0, 1e300]], tf.float64),
        ([[-128, 0, 127]], tf.int8),
        ([[-(2**15), 0, 2**15 - 1]], tf.int16),
        ([[-(2**31), 0, 2**31 - 1]], tf.int32),
        ([[-(2**63), 0, 2**63 - 1]], tf.int64),
        ([[0, 128, 255]], tf.uint8),
        ([[0, 1, 2**32 - 1]], tf.uint32),
        ([[0, 1, 2**64 - 1]], tf.uint64),
        ([[True, False, True]], tf.bool),
        ([[b"a", b"", b"\xff"]], tf.string),
        ([[0.5, 1.0, -1.0]], tf.float16),
    ],
    ids=lambda v: v.name if isinstance(v, tf.DType) else None,
)
def test_tensorflow_protos_read_back_equal(values, dtype):
    proto = tf.make_tensor_proto(np.array(values, dtype=dtype.as_numpy_dtype))

    assert_same(tensors.from_proto(proto), tf.make_ndarray(proto))


# The typed value fields (float_val, int_val, ...) as TF Serving's JSON converter and many gRPC clients fill them.
@pytest.mark.parametrize(
    "dtype, field, values",
    [
        (types_pb2.DT_FLOAT, "float_val", [1.5, -2.0, 3.25, float("inf")]),
        (types_pb2.DT_DOUBLE, "double_val", [1.5, -2.0, 1e300, 0.1]),
        (types_pb2.DT_INT32, "int_val", [-(2**31), 0, 7, 2**31 - 1]),
        (types_pb2.DT_INT16, "int_val", [-(2**15), 0, 7, 2**15 - 1]),
        (types_pb2.DT_INT8, "int_val", [-128, 0, 7, 127]),
        (types_pb2.DT_UINT8, "int_val", [0, 1, 128, 255]),
        (types_pb2.DT_INT64, "int64_val", [-(2**63), 0, 7, 2**63 - 1]),
        (types_pb2.DT_UINT32, "uint32_val", [0, 1, 7, 2**32 - 1]),
        (types_pb2.DT_UINT64, "uint64_val", [0, 1, 7, 2**64 - 1]),
        (types_pb2.DT_BOOL, "bool_val", [True, False, False, True]),
        (types_pb2.DT_STRING, "string_val", [b"a", b"", b"\xff", b"dd"]),
    ],
    ids=lambda v: types_pb2.DataType.Name(v) if isinstance(v, int) else None,
)
def test_typed_value_fields_read_back_equal(dtype, field, values):
    proto = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape_proto(2, 2))
    getattr(proto, field).extend(values)

    result = tensors.from_proto(proto)

    assert_same(result, tf.make_ndarray(proto))
    assert result.shape == (2, 2)


@pytest.mark.parametrize(
    "value, dtype",
    [(2.5, tf.float32), (2.5, tf.float64), (7, tf.int32), (7, tf.int64), (True, tf.bool), (b"same", tf.string)],
    ids=lambda v: v.name if isinstance(v, tf.DType) else None,
)
def test_a_single_value_is_broadcast_to_the_shape(value, dtype):
    proto = tf.make_tensor_proto(value, dtype=dtype, shape=[2, 3])

    result = tensors.from_proto(proto)

    assert result.shape == (2, 3)
    assert_same(result, tf.make_ndarray(proto))
    assert set(result.reshape(-1).tolist()) == {value}


def test_a_shape_without_values_reads_as_zeros():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=shape_proto(2))

    assert_same(tensors.from_proto(proto), np.zeros(2, np.float32))


# Value lists shorter or longer than the shape: TensorFlow's own reader (tf.io.parse_tensor runs Tensor::FromProto,
# as TF Serving does) is the reference.
@pytest.mark.parametrize(
    "dtype, field, values",
    [
        (types_pb2.DT_FLOAT, "float_val", [1.5, -2.0]),
        (types_pb2.DT_INT64, "int64_val", [7, 9, 11, 13, 15, 17, 19]),
        (types_pb2.DT_INT8, "int_val", [300]),
        (types_pb2.DT_BOOL, "bool_val", []),
        (types_pb2.DT_STRING, "string_val", [b"a", b"bc"]),
        (types_pb2.DT_STRING, "string_val", []),
    ],
    ids=["float-short", "int64-long", "int8-wraps", "bool-empty", "string-short", "string-empty"],
)
def test_value_lists_of_another_length_read_as_tensorflow_reads_them(dtype, field, values):
    proto = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape_proto(2, 3))
    getattr(proto, field).extend(values)

    result = tensors.from_proto(proto)

    expected = tf.io.parse_tensor(proto.SerializeToString(), tf.dtypes.as_dtype(dtype)).numpy()
    assert result.shape == expected.shape == (2, 3)
    assert result.tolist() == expected.tolist()


def test_tensor_content_of_the_wrong_length_is_refused_as_tensorflow_refuses_it():
    proto = tensors.to_proto(np.arange(3, dtype=np.float32))
    proto.tensor_content = proto.tensor_content[:5]

    with pytest.raises(ValueError):
        tensors.from_proto(proto)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.io.parse_tensor(proto.SerializeToString(), tf.float32)


@pytest.mark.parametrize(
    "proto",
    [
        tensors.to_proto(np.zeros((3, 4), np.float64)),
        tensors.to_proto(np.array([[b"ab", b""], [b"cde", b"f"]], dtype=object)),
        tf.make_tensor_proto(2.5, dtype=tf.float32, shape=[10, 10]),
        tf.make_tensor_proto(b"xyz", dtype=tf.string, shape=[5]),
        tf.make_tensor_proto(np.zeros(0, np.int64)),
    ],
    ids=["double", "strings", "broadcast-float", "broadcast-string", "empty"],
)
def test_decoded_bytes_is_what_from_proto_allocates(proto):
    array = tensors.from_proto(proto)

    payload = sum(len(item) for item in array.reshape(-1)) if array.dtype == object else 0
    assert tensors.decoded_bytes(proto) == array.nbytes + payload


def test_decoded_bytes_reads_a_billion_values_from_the_shape_alone():
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_DOUBLE, tensor_shape=shape_proto(1_000_000_000), double_val=[1])

    assert tensors.decoded_bytes(proto) == 8_000_000_000


@pytest.mark.parametrize(
    "proto",
    [
        tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=shape_proto(2, -1)),
        tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=shape_proto(2**40, 2**40)),
        tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT, tensor_shape=tensor_shape_pb2.TensorShapeProto(unknown_rank=True)
        ),
        tensor_pb2.TensorProto(dtype=types_pb2.DT_INVALID, tensor_shape=shape_proto(1)),
        tensor_pb2.TensorProto(dtype=types_pb2.DT_RESOURCE, tensor_shape=shape_proto(1)),
        tensor_pb2.TensorProto(dtype=999, tensor_shape=shape_proto(1)),
    ],
    ids=["negative-dim", "over-int64-elements", "unknown-rank", "invalid-dtype", "resource", "unknown-dtype"],
)
def test_decoded_bytes_refuses_what_tensorflow_cannot_read(proto):
    with pytest.raises(ValueError):
        tensors.decoded_bytes(proto)


def test_dtype_names_are_tensorflows():
    assert [tensors.dtype_name(d) for d in (tf.float32, tf.float64, tf.int64, tf.string, tf.bfloat16)] == [
        "float", "double", "int64", "string", "bfloat16",
    ]  # fmt: skip
