"""TensorProto reading and writing against TensorFlow's own encoder and decoder.

The oracle is TensorFlow itself: ``tf.make_ndarray`` for what a response holds and
``tf.io.parse_tensor`` (C++ ``Tensor::FromProto``) for how a request is read.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from kerasforge.serving.errors import ServingError
from kerasforge.serving.server.limits import MAX_FILLED_ELEMENTS
from kerasforge.serving.server.tensor_proto import fill_tensor_proto, read_tensor_proto

OUTPUTS = [
    np.arange(12, dtype="float32").reshape(3, 4) / 7,
    np.array([1.5], dtype="float64"),
    np.array([[3], [-4]], dtype="int64"),
    np.array([7, -9], dtype="int32"),
    np.arange(6, dtype="uint8").reshape(1, 2, 3),
    np.array([-1, 2], dtype="int8"),
    np.array([0.5, 2], dtype="float16"),
    np.array([0.5, -3], dtype=tf.bfloat16.as_numpy_dtype),
    np.array([True, False]),
    np.array([1 + 2j, -3j], dtype="complex64"),
    np.array([b"a", b"\xff\x00", "text"], dtype=object),
    np.zeros((0, 3), dtype="float32"),
    np.float32(2.5).reshape(()),
]
# tensor.cc (Tensor::AsProtoField): the typed field each dtype's values go to.
FIELDS = {
    "float32": "float_val",
    "float64": "double_val",
    "int64": "int64_val",
    "int32": "int_val",
    "uint8": "int_val",
    "int8": "int_val",
    "float16": "half_val",
    "bfloat16": "half_val",
    "bool": "bool_val",
    "complex64": "scomplex_val",
    "object": "string_val",
}


def made(dtype: int, shape: list[int], **fields) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=dtype, **fields)
    for size in shape:
        proto.tensor_shape.dim.add().size = size
    return proto


@pytest.mark.parametrize("array", OUTPUTS, ids=lambda a: f"{a.dtype}{list(a.shape)}")
@pytest.mark.parametrize("tensor_content", [False, True])
def test_outputs_decode_as_tensorflow_reads_them(array, tensor_content):
    proto = tensor_pb2.TensorProto()
    fill_tensor_proto(proto, array, tensor_content=tensor_content)
    got = tf.make_ndarray(proto)
    expected = tf.make_ndarray(tf.make_tensor_proto(array))
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tolist() == expected.tolist()
    # predict_util.cc (PostProcessPredictionResult): AsProtoField by default, raw bytes
    # with --enable_serialization_as_tensor_content; strings are always string_val.
    field = FIELDS[array.dtype.name]
    if array.size and (not tensor_content or field == "string_val"):
        assert len(getattr(proto, field)) > 0 and not proto.tensor_content
    elif array.size:
        assert proto.tensor_content and not len(getattr(proto, field))


def test_float_outputs_are_the_float_val_list_clients_read():
    # example/mnist_client.py reads outputs['scores'].float_val as a flat list.
    array = np.array([[0.25, 0.75], [0.5, 0.5]], np.float32)
    proto = tensor_pb2.TensorProto()
    fill_tensor_proto(proto, array)
    assert list(proto.float_val) == [0.25, 0.75, 0.5, 0.5]
    assert [d.size for d in proto.tensor_shape.dim] == [2, 2]


@pytest.mark.parametrize(
    ("dtype", "shape", "fields"),
    [
        (types_pb2.DT_FLOAT, [4], {"float_val": [2.0]}),  # one value fills the shape
        (types_pb2.DT_FLOAT, [2, 2], {"float_val": [1.0, 2.0]}),  # the last value repeats
        (types_pb2.DT_FLOAT, [2], {"float_val": [1.0, 2.0, 3.0]}),  # extra values are cut
        (types_pb2.DT_FLOAT, [3], {}),  # no values: zeros
        (types_pb2.DT_INT64, [3], {"int64_val": [5]}),
        (types_pb2.DT_UINT8, [2], {"int_val": [7, 300]}),
        (types_pb2.DT_BOOL, [3], {"bool_val": [True]}),
        (types_pb2.DT_STRING, [3], {"string_val": [b"a"]}),
        (types_pb2.DT_STRING, [2], {}),
        (types_pb2.DT_HALF, [2], {"half_val": [15360]}),  # 1.0 as float16 bits
        (types_pb2.DT_COMPLEX64, [2], {"scomplex_val": [1.0, 2.0, 3.0, 4.0]}),
        (types_pb2.DT_FLOAT, [0, 5], {"float_val": [1.0]}),
        (types_pb2.DT_FLOAT, [], {"float_val": [9.0]}),
    ],
)
def test_inputs_are_read_as_tensor_from_proto_reads_them(dtype, shape, fields):
    # tensor.cc (FromProtoField): pad with the last value, zeros when none, cut extras;
    # tf.io.parse_tensor runs that C++ code.
    proto = made(dtype, shape, **fields)
    expected = tf.io.parse_tensor(proto.SerializeToString(), tf.as_dtype(dtype)).numpy()
    got = read_tensor_proto(proto)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tolist() == expected.tolist()


def test_a_raw_content_input_is_read_from_its_bytes():
    array = np.arange(6, dtype="float32").reshape(2, 3)
    got = read_tensor_proto(tf.make_tensor_proto(array))
    assert got.dtype == array.dtype and got.tolist() == array.tolist()


def refused(proto: tensor_pb2.TensorProto, **kwargs) -> str:
    with pytest.raises(ServingError) as info:
        read_tensor_proto(proto, "pixels", **kwargs)
    assert info.value.status == 400  # INVALID_ARGUMENT over gRPC
    return str(info.value)


def test_the_issue_s_48_byte_zero_filled_request_is_refused():
    # The issue: shape [1000000, 8, 8, 1] with no values is zero-filled by TensorFlow and
    # ran for 39 s of CPU. A few bytes must not buy a tensor that large.
    proto = made(types_pb2.DT_FLOAT, [1000000, 8, 8, 1])
    assert len(proto.SerializeToString()) < 48
    message = refused(proto)
    assert "tensor parsing error: pixels" in message
    assert "float_val holds 0 values; shape [1000000, 8, 8, 1] needs 64000000" in message
    one = made(types_pb2.DT_FLOAT, [1000000, 8, 8, 1], float_val=[1.0])
    assert "float_val holds 1 values" in refused(one)
    edge = made(types_pb2.DT_FLOAT, [MAX_FILLED_ELEMENTS], float_val=[1.0])
    assert read_tensor_proto(edge).shape == (MAX_FILLED_ELEMENTS,)
    over = made(types_pb2.DT_FLOAT, [MAX_FILLED_ELEMENTS + 1], float_val=[1.0])
    assert f"up to {MAX_FILLED_ELEMENTS} elements" in refused(over)


def test_the_element_limit_is_checked_before_anything_is_allocated():
    proto = made(types_pb2.DT_FLOAT, [2**40], float_val=[1.0])
    message = refused(proto)
    assert "holds 1099511627776 elements; at most 67108864" in message
    assert "--max_input_elements" in message
    small = tf.make_tensor_proto(np.zeros((4, 4), np.float32))
    assert "holds 16 elements; at most 15" in refused(small, max_elements=15)
    assert read_tensor_proto(small, max_elements=16).shape == (4, 4)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ([-1, 3], "negative dimension"),
        ([2**40, 2**40], "more elements than int64 can count"),
        ([2**62, 4], "more elements than int64 can count"),
    ],
)
def test_invalid_shapes_are_one_clear_error(shape, message):
    # tensor_shape.cc (TensorShape::IsValid): negative sizes and int64 overflow are invalid;
    # TensorFlow refuses them too.
    proto = made(types_pb2.DT_FLOAT, shape)
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.io.parse_tensor(proto.SerializeToString(), tf.float32)
    assert message in refused(proto)


def test_an_unknown_rank_is_refused():
    proto = made(types_pb2.DT_FLOAT, [])
    proto.tensor_shape.unknown_rank = True
    assert "unknown rank" in refused(proto)


@pytest.mark.parametrize("cut", [-4, -1, 4])
def test_tensor_content_of_the_wrong_length_is_refused(cut):
    # tensor.cc (Helper<T>::Decode): the byte count must be shape x itemsize exactly.
    proto = tf.make_tensor_proto(np.zeros((2, 3), np.float32))
    proto.tensor_content = (
        proto.tensor_content[:cut] if cut < 0 else proto.tensor_content + b"\0" * cut
    )
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.io.parse_tensor(proto.SerializeToString(), tf.float32)
    size = 24 + cut
    assert f"tensor_content holds {size} bytes; shape [2, 3] of float32 needs 24" in refused(proto)
