"""Read an ONNX file's header fields, metadata_props and graph facts without onnx or onnxruntime.

An ONNX file is one protobuf `ModelProto`. `read_onnx_header` walks its top-level fields and skips the
(possibly huge) graph by its length, so reading the metadata is instant and needs no runtime.
`read_onnx_graph` takes the whole file's bytes (read once by `ModelFile`, which hashes the same bytes) and
collects what imgcheck needs from the graph: the external-data locations of every tensor in the model (subgraphs,
node attributes, functions included), the weight count, and the precision.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from imgcheck.infer.errors import ModelFileError

# ModelProto field numbers (onnx/onnx.proto)
_IR_VERSION, _PRODUCER_NAME, _PRODUCER_VERSION, _GRAPH, _OPSET_IMPORT, _METADATA_PROPS = 1, 2, 3, 7, 8, 14
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5
_GRAPH_NODE, _GRAPH_INITIALIZER = 1, 5  # GraphProto.node, GraphProto.initializer
_NODE_OP_TYPE = 4  # NodeProto.op_type
_INT8, _FLOAT16 = 3, 10  # TensorProto.INT8, FLOAT16
# Operators that only quantized (int8/uint8) graphs contain.
_QUANTIZED_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
                            "MatMulInteger", "DynamicQuantizeLinear"})
_TENSOR_DIMS, _TENSOR_DATA_TYPE, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 1, 2, 13, 14  # TensorProto fields
_TENSOR_INT32_DATA, _TENSOR_RAW_DATA = 5, 9
# int8 values outside [-64, 64] are two's complement bytes 65..191: 8-bit weights, whose u8 x s8 pair sums can pass
# 2^15 - 1 on CPUs that sum them in 16 bits; onnxruntime's reduce_range keeps signed weights within [-64, 64].
_NOT_WIDE_INT8 = bytes([*range(0, 65), *range(192, 256)])  # deleted by translate: what is left is wide
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
_NOT_WEIGHTS = (7, 9)  # TensorProto.INT64, BOOL: shapes, indices and masks

# Every path from a ModelProto to a TensorProto, the only message that names external data: for each message kind,
# which of its fields hold which kind of message (onnx/onnx.proto field numbers).
_MODEL_MSG, _MAIN_GRAPH_MSG, _GRAPH_MSG, _TRAINING_MSG, _FUNCTION_MSG, _NODE_MSG, _ATTRIBUTE_MSG, _SPARSE_MSG, \
    _TENSOR_MSG = range(9)
_GRAPH_CHILDREN = {_GRAPH_NODE: _NODE_MSG, _GRAPH_INITIALIZER: _TENSOR_MSG, 15: _SPARSE_MSG}  # 15: sparse_initializer
_TENSOR_PATHS: dict[int, dict[int, int]] = {
    _MODEL_MSG: {_GRAPH: _MAIN_GRAPH_MSG, 20: _TRAINING_MSG, 25: _FUNCTION_MSG},  # training_info, functions
    _MAIN_GRAPH_MSG: _GRAPH_CHILDREN,
    _GRAPH_MSG: _GRAPH_CHILDREN,
    _TRAINING_MSG: {1: _GRAPH_MSG, 2: _GRAPH_MSG},  # initialization, algorithm
    _FUNCTION_MSG: {7: _NODE_MSG, 11: _ATTRIBUTE_MSG},  # node, attribute_proto (defaults)
    _NODE_MSG: {5: _ATTRIBUTE_MSG},  # attribute
    # t, g, tensors, graphs, sparse_tensor, sparse_tensors
    _ATTRIBUTE_MSG: {5: _TENSOR_MSG, 6: _GRAPH_MSG, 10: _TENSOR_MSG, 11: _GRAPH_MSG, 22: _SPARSE_MSG, 23: _SPARSE_MSG},
    _SPARSE_MSG: {1: _TENSOR_MSG, 2: _TENSOR_MSG},  # values, indices
}


@dataclass
class OnnxHeader:
    """The top-level facts of an ONNX model that need no graph decoding."""

    ir_version: int | None = None
    producer_name: str = ""
    producer_version: str = ""
    opsets: dict[str, int] = field(default_factory=dict)  # domain ("" = ai.onnx) -> version
    metadata_props: dict[str, str] = field(default_factory=dict)
    has_graph: bool = False


@dataclass(frozen=True)
class OnnxGraph:
    """What imgcheck reads from an ONNX graph: where external weights live, how many weights there are, and the
    precision the weights are stored in (int8 when quantization operators are present, fp16 when any float weight
    is float16, else fp32), whether any weight is signed int8 (a U8S8-quantized model; U8U8 stores uint8), and
    whether every signed one lies within [-64, 64] (7-bit, as U8S8 with reduce_range stores them)."""

    external_data_locations: tuple[str, ...]
    weight_elements: int
    precision: str
    signed_int8_weights: bool = False
    signed_int8_within_7_bits: bool = False


class _ProtoError(ValueError):
    pass


def read_onnx_header(path: str | os.PathLike, fh: BinaryIO | None = None) -> OnnxHeader:
    """Parse the top level of the ONNX file at `path` (read from `fh` when the caller has it open); raise
    ModelFileError if it is not ONNX."""
    name = os.fsdecode(path)
    try:
        with contextlib.nullcontext(fh) if fh is not None else open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size == 0:
                raise ModelFileError(f"{name}: empty file, not an ONNX model.")
            stream.seek(0)
            header = _parse_model(stream, size)
    except OSError as exc:
        raise ModelFileError(f"{name}: cannot read model file ({exc.strerror or exc}).")
    except _ProtoError as exc:
        raise ModelFileError(f"{name}: not a valid ONNX model ({exc}).")
    if header.ir_version is None or not header.has_graph:
        raise ModelFileError(f"{name}: not a valid ONNX model (no IR version or no graph).")
    return header


def _parse_model(fh: BinaryIO, size: int) -> OnnxHeader:
    """Walk ModelProto's top-level fields, reading the small ones and seeking past the graph."""
    header = OnnxHeader()
    small_fields = (_PRODUCER_NAME, _PRODUCER_VERSION, _OPSET_IMPORT, _METADATA_PROPS)
    while fh.tell() < size:
        number, wire = _key(_file_varint(fh))
        if wire == _VARINT:
            value = _file_varint(fh)
            if number == _IR_VERSION:
                header.ir_version = value
        elif wire == _LENGTH_DELIMITED:
            length = _file_varint(fh)
            if fh.tell() + length > size:
                raise _ProtoError("truncated field")
            if number not in small_fields:
                header.has_graph |= number == _GRAPH
                fh.seek(length, os.SEEK_CUR)
                continue
            value = fh.read(length)
            if number == _PRODUCER_NAME:
                header.producer_name = _text(value)
            elif number == _PRODUCER_VERSION:
                header.producer_version = _text(value)
            elif number == _OPSET_IMPORT:
                entry = {n: v for n, w, v in _fields(value)}
                header.opsets[_text(entry.get(1, b""))] = int(entry.get(2, 0))
            else:
                entry = {n: v for n, w, v in _fields(value) if w == _LENGTH_DELIMITED}
                header.metadata_props[_text(entry.get(1, b""))] = _text(entry.get(2, b""))
        elif wire in (_FIXED64, _FIXED32):
            fh.seek(8 if wire == _FIXED64 else 4, os.SEEK_CUR)
        else:
            raise _ProtoError(f"unsupported wire type {wire}")
    if fh.tell() != size:
        raise _ProtoError("truncated field")
    return header


def _key(key: int) -> tuple[int, int]:
    if key >> 3 == 0:
        raise _ProtoError("field number 0")
    return key >> 3, key & 7


def _file_varint(fh: BinaryIO) -> int:
    result = shift = 0
    while True:
        byte = fh.read(1)
        if not byte or shift > 63:
            raise _ProtoError("truncated or overlong varint")
        result |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return result
        shift += 7


def _fields(buf: bytes | memoryview) -> Iterator[tuple[int, int, int | bytes | memoryview]]:
    """The (number, wire type, value) of each field of an in-memory protobuf message (a memoryview's fields are
    views of it, not copies)."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = _key(key)
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _LENGTH_DELIMITED:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise _ProtoError("truncated field")
            value, pos = buf[pos : pos + length], pos + length
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            if pos + size > end:
                raise _ProtoError("truncated field")
            value, pos = int.from_bytes(buf[pos : pos + size], "little"), pos + size
        else:
            raise _ProtoError(f"unsupported wire type {wire}")
        yield number, wire, value


def _varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _ProtoError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _text(value: bytes | memoryview | int) -> str:
    if not isinstance(value, (bytes, memoryview)):
        raise _ProtoError("expected a string field")
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise _ProtoError("string field is not UTF-8")


def copy_with_metadata(src: str | os.PathLike, dst: str | os.PathLike, props: dict[str, str]) -> None:
    """Copy the ONNX model `src` to `dst`, setting the metadata_props `props` (replacing entries with the same keys).

    Every other top-level field is copied byte for byte, the graph in chunks, so the weights are never decoded.
    """
    read_onnx_header(src)  # a clear error if src is not ONNX
    with open(src, "rb") as fh, open(dst, "wb") as out:
        size = os.fstat(fh.fileno()).st_size
        while fh.tell() < size:
            start = fh.tell()
            number, wire = _key(_file_varint(fh))
            if wire == _LENGTH_DELIMITED:
                length = _file_varint(fh)
                end = fh.tell() + length
                if end > size:
                    raise _ProtoError("truncated field")
                if number == _METADATA_PROPS:
                    entry = {n: v for n, w, v in _fields(fh.read(length)) if w == _LENGTH_DELIMITED}
                    if _text(entry.get(1, b"")) in props:
                        continue  # replaced below
            elif wire == _VARINT:
                _file_varint(fh)
                end = fh.tell()
            else:
                end = fh.tell() + (8 if wire == _FIXED64 else 4)
            _copy_range(fh, out, start, end)
        for key, value in props.items():
            entry = _string_field(1, key.encode()) + _string_field(2, value.encode())
            out.write(_encode_varint(_METADATA_PROPS << 3 | _LENGTH_DELIMITED) + _encode_varint(len(entry)) + entry)


def _copy_range(fh: BinaryIO, out: BinaryIO, start: int, end: int, chunk: int = 1 << 20) -> None:
    fh.seek(start)
    remaining = end - start
    while remaining:
        data = fh.read(min(chunk, remaining))
        if not data:
            raise _ProtoError("truncated field")
        out.write(data)
        remaining -= len(data)


def _string_field(number: int, value: bytes) -> bytes:
    return _encode_varint(number << 3 | _LENGTH_DELIMITED) + _encode_varint(len(value)) + value


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_onnx_graph(data: bytes, name: str = "model") -> OnnxGraph:
    """The graph facts of the ONNX model whose whole file is `data` (weights stored as external data are not read).

    The external-data locations come from every tensor the model holds, wherever it is: the graph's initializers
    and sparse initializers, node attributes (a `Constant`'s `t`, any `tensors`, `sparse_tensor(s)`), subgraphs
    (`If`/`Loop`/`Scan` attributes `g`/`graphs`) at any depth, model-local functions and training graphs. A field
    written twice is walked twice (protobuf merges repeated messages), so nothing a runtime reads is missed. The
    weight count and the precision are the main graph's."""
    locations: list[str] = []
    total, float16, quantized, signed_int8, wide_int8 = 0, False, False, False, False
    pending: deque[tuple[int, memoryview]] = deque([(_MODEL_MSG, memoryview(data))])
    try:
        while pending:
            kind, message = pending.popleft()
            if kind == _TENSOR_MSG:
                _tensor_facts(message, locations)
                continue
            children = _TENSOR_PATHS[kind]
            for number, wire, value in _fields(message):
                child = children.get(number)
                if child is None or wire != _LENGTH_DELIMITED:
                    continue
                if kind == _MAIN_GRAPH_MSG and number == _GRAPH_INITIALIZER:
                    elements, data_type = _tensor_facts(value, locations)
                    if data_type not in _NOT_WEIGHTS:
                        total += elements
                    float16 |= data_type == _FLOAT16
                    if data_type == _INT8:
                        signed_int8 = True
                        wide_int8 = wide_int8 or not _within_7_bits(value)
                    continue
                if kind == _MAIN_GRAPH_MSG and number == _GRAPH_NODE:
                    quantized |= any(n == _NODE_OP_TYPE and _text(v) in _QUANTIZED_OPS for n, w, v in _fields(value))
                pending.append((child, value))
    except _ProtoError as exc:
        raise ModelFileError(f"{name}: not a valid ONNX model ({exc}).")
    precision = "int8" if quantized else "fp16" if float16 else "fp32"
    return OnnxGraph(tuple(dict.fromkeys(locations)), total, precision, quantized and signed_int8,
                     quantized and signed_int8 and not wide_int8)


def _within_7_bits(tensor: bytes | memoryview) -> bool:
    """Whether an int8 TensorProto's values all lie within [-64, 64], read from raw_data or int32_data (the small
    ones, e.g. zero points); False for external data, which is not read here (the cautious answer)."""
    for number, wire, value in _fields(tensor):
        if number == _TENSOR_RAW_DATA and wire == _LENGTH_DELIMITED:
            if bytes(value).translate(None, _NOT_WIDE_INT8):
                return False
        elif number == _TENSOR_INT32_DATA and wire in (_VARINT, _LENGTH_DELIMITED):
            if any(not -64 <= (v - (1 << 64) if v >= 1 << 63 else v) <= 64 for v in _repeated_varints(wire, value)):
                return False
        elif number == _TENSOR_DATA_LOCATION and wire == _VARINT and value == _EXTERNAL:
            return False
    return True


def _tensor_facts(tensor: bytes | memoryview, locations: list[str]) -> tuple[int, int | None]:
    """(element count, data type) of a serialized TensorProto; its external-data locations go to `locations` (every
    "location" entry, and "" for a tensor marked EXTERNAL that names none, which the safety check refuses)."""
    dims: list[int] = []
    data_type = None
    external, located = False, False
    for number, wire, value in _fields(tensor):
        if number == _TENSOR_DATA_TYPE and wire == _VARINT:
            data_type = value
        elif number == _TENSOR_DIMS and wire in (_VARINT, _LENGTH_DELIMITED):
            dims.extend(_repeated_varints(wire, value))
        elif number == _TENSOR_DATA_LOCATION and wire == _VARINT:
            external = value == _EXTERNAL
        elif number == _TENSOR_EXTERNAL_DATA and wire == _LENGTH_DELIMITED:
            entry = {n: v for n, w, v in _fields(value) if w == _LENGTH_DELIMITED}
            if _text(entry.get(1, b"")) == "location":
                locations.append(_text(entry.get(2, b"")))
                located = True
    if external and not located:
        locations.append("")
    count = 1
    for dim in dims:
        count *= dim
    return count, data_type


def _repeated_varints(wire: int, value: int | bytes | memoryview) -> list[int]:
    if wire == _VARINT:
        return [value]
    numbers, pos = [], 0
    while pos < len(value):  # packed
        number, pos = _varint(value, pos)
        numbers.append(number)
    return numbers
