"""The weights file: safetensors (when the `safetensors` package is installed) or npz.

Writing safetensors uses the library, so the files are what other tools expect. Reading never
needs it: the 8-byte header length and the JSON header are parsed and checked here (names,
dtypes, shapes, every byte range inside the file, consistent with dtype and shape, with no
overlaps, gaps or trailing bytes) before numpy sees a byte. npz goes through
`np.load(allow_pickle=False)` after its members are matched against the declared table and their
sizes bounded. Either way the result must match model.json's table exactly.
"""

from __future__ import annotations

import io
import math
import zipfile
import zlib
from collections.abc import Mapping

import numpy as np

from engine.saved_model.format import (
    NPZ_FILE,
    SAFETENSORS_FILE,
    WEIGHT_NAME,
    SnapshotError,
    expect,
    expect_keys,
    expect_name,
    parse_json,
    shape_of,
)
from engine.saved_model.schema import TensorInfo
from engine.train.saver import _write_npz

_SAFETENSORS_DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I8": np.int8,
                       "I16": np.int16, "I32": np.int32, "I64": np.int64, "U8": np.uint8,
                       "BOOL": np.bool_}
_MAX_HEADER = 100 << 20  # the safetensors library's own limit
_NPY_HEADER_ROOM = 1 << 16  # an npz member may exceed its data by at most its .npy header


def default_file() -> str:
    """safetensors when the library is there to write it, else npz (numpy only)."""
    try:
        import safetensors.numpy  # noqa: F401
    except ImportError:
        return NPZ_FILE
    return SAFETENSORS_FILE


def encode(arrays: Mapping[str, np.ndarray], file: str) -> bytes:
    """The bytes of weights file `file` holding `arrays` (little-endian, C order)."""
    arrays = {k: np.ascontiguousarray(v, v.dtype.newbyteorder("<")) for k, v in arrays.items()}
    if file == NPZ_FILE:
        buffer = io.BytesIO()
        _write_npz(buffer, arrays)
        return buffer.getvalue()
    try:
        from safetensors.numpy import save
    except ImportError:
        raise ImportError("Writing variables.safetensors needs the safetensors package "
                          "(pip install 'kumo[serve]'); or save with weights_format='npz'.") \
            from None
    return save(arrays)


def decode(file: str, data: bytes, declared: Mapping[str, TensorInfo]) -> dict[str, np.ndarray]:
    """The arrays of weights file `file`, checked against the `declared` dtypes and shapes.
    Arrays are read-only copies (aligned, native byte order, owned by no file buffer)."""
    read = _read_npz if file == NPZ_FILE else _read_safetensors
    arrays = read(data, declared)
    for array in arrays.values():
        array.setflags(write=False)
    return arrays


def _check_names(found: set[str], declared: Mapping[str, TensorInfo], file: str) -> None:
    missing, extra = sorted(declared.keys() - found), sorted(found - declared.keys())
    if missing or extra:
        raise SnapshotError(f"{file}: tensors {missing[:5]} missing, {extra[:5]} unexpected, "
                            f"compared with model.json.weights.tensors")


def _check_specs(found: Mapping[str, tuple[np.dtype, tuple[int, ...]]],
                 declared: Mapping[str, TensorInfo], file: str) -> None:
    """Raise unless the file holds exactly the declared names, dtypes and shapes."""
    _check_names(set(found), declared, file)
    for key, (dtype, shape) in found.items():
        want_dtype, want_shape = declared[key]
        if dtype != want_dtype.np or tuple(shape) != want_shape:
            raise SnapshotError(f"{file}: tensor {key!r} is {dtype.name} {list(shape)}, "
                                f"model.json declares {want_dtype.name} "
                                f"{list(want_shape)}")  # type: ignore[arg-type]


def _read_safetensors(data: bytes, declared: Mapping[str, TensorInfo]) -> dict[str, np.ndarray]:
    file = SAFETENSORS_FILE
    if len(data) < 8:
        raise SnapshotError(f"{file}: truncated ({len(data)} bytes, no header length)")
    size = int.from_bytes(data[:8], "little")
    if size > min(len(data) - 8, _MAX_HEADER):
        raise SnapshotError(f"{file}: header length {size} runs past the end of the "
                            f"{len(data)}-byte file")
    header = expect(parse_json(data[8:8 + size], f"{file} header"), dict, f"{file} header")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SnapshotError(f"{file} header: __metadata__ must map strings to strings")
    body = memoryview(data)[8 + size:]
    spans, found = [], {}
    for key, entry in header.items():
        where = f"{file} header[{key[:60]!r}]"
        expect_name(key, WEIGHT_NAME, where)
        expect_keys(entry, {"dtype", "shape", "data_offsets"}, where)
        code = expect(entry["dtype"], str, f"{where}.dtype")
        if code not in _SAFETENSORS_DTYPES:
            raise SnapshotError(f"{where}: unsupported dtype {code[:20]!r}")
        dtype = np.dtype(_SAFETENSORS_DTYPES[code]).newbyteorder("<")
        shape = shape_of(entry["shape"], f"{where}.shape", exact=True)
        offsets = expect(entry["data_offsets"], list, f"{where}.data_offsets")
        if len(offsets) != 2 or not all(type(o) is int for o in offsets):
            raise SnapshotError(f"{where}: data_offsets must be two integers")
        begin, end = offsets
        if not 0 <= begin <= end <= len(body):
            raise SnapshotError(f"{where}: data_offsets {offsets} fall outside the "
                                f"{len(body)}-byte data section")
        nbytes = math.prod(shape) * dtype.itemsize  # type: ignore[arg-type]
        if end - begin != nbytes:
            raise SnapshotError(f"{where}: {end - begin} bytes for {dtype.name} "
                                f"{list(shape)}, which needs {nbytes}")  # type: ignore[arg-type]
        spans.append((begin, end, key))
        found[key] = (dtype, shape)
    _check_layout(sorted(spans), len(body), file)
    _check_specs(found, declared, file)
    return {key: np.frombuffer(body, found[key][0], math.prod(found[key][1]), begin)
            .reshape(found[key][1]).astype(found[key][0].newbyteorder("="))
            for begin, _, key in spans}


def _check_layout(spans: list[tuple[int, int, str]], size: int, file: str) -> None:
    """Tensors must tile the data section exactly: no overlap, no gap, nothing after."""
    position, previous = 0, None
    for begin, end, key in spans:
        if begin < position:
            raise SnapshotError(f"{file}: tensor {key!r} overlaps {previous!r}")
        if begin > position:
            raise SnapshotError(f"{file}: {begin - position} unused bytes before tensor {key!r}")
        position, previous = end, key
    if position != size:
        raise SnapshotError(f"{file}: {size - position} trailing bytes after the last tensor")


def _read_npz(data: bytes, declared: Mapping[str, TensorInfo]) -> dict[str, np.ndarray]:
    file = NPZ_FILE
    try:
        npz = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise SnapshotError(f"{file}: not an npz archive ({e})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise SnapshotError(f"{file}: a single .npy array, not an npz archive")
    with npz:
        infos = npz.zip.infolist()
        names = [info.filename for info in infos]
        if len(set(names)) != len(names) or not all(n.endswith(".npy") for n in names):
            raise SnapshotError(f"{file}: members must be distinct '<name>.npy' files")
        sizes = {n[:-4]: info.file_size for n, info in zip(names, infos, strict=True)}
        _check_names(set(sizes), declared, file)
        arrays = {}
        for key, (dtype, shape) in declared.items():
            room = math.prod(shape) * dtype.size + _NPY_HEADER_ROOM  # type: ignore[arg-type]
            if sizes[key] > room:
                raise SnapshotError(f"{file}: member {key!r} is {sizes[key]} bytes, more than "
                                    f"{dtype.name} {list(shape)} needs")  # type: ignore[arg-type]
            try:
                arrays[key] = npz[key]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
                raise SnapshotError(f"{file}: member {key!r} is unreadable ({e})") from None
        _check_specs({k: (a.dtype, a.shape) for k, a in arrays.items()}, declared, file)
    return arrays
