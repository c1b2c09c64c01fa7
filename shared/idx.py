"""The IDX file format of MNIST and Fashion-MNIST: read it strictly, write it for tests and samples.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian
uint32 dimensions, then the payload: ``prod(dims)`` values of the given type, big-endian, row-major.
MNIST images are ``(N, 28, 28)`` uint8 (type ``0x08``, magic 2051), labels ``(N,)`` uint8
(magic 2049). Files may be gzip-compressed (recognised by their content, not their name).

Every problem raises :class:`IDXError` naming the file: a wrong magic number, a truncated or
corrupt file, a payload that does not match the header's dimensions, images and labels of
different counts, labels out of range. Nothing here scales or splits data; that is
:mod:`shared.data`'s job.

The header is checked before the payload is read (against the file's size; for ``.gz`` against
what its compressed size can hold and the memory available), so a corrupt header never allocates
its claimed size.
Leaves out: memory-mapping (the files are small enough to read whole).
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from shared.errors import LadderError
from shared.memory import available_bytes, format_bytes

GZIP_MAGIC = b"\x1f\x8b"

# IDX type byte -> numpy dtype (big-endian as stored in the file)
IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_CODES = {(dt.kind, dt.itemsize): code for code, dt in IDX_TYPES.items()}


class IDXError(LadderError, ValueError):
    """A file that is not a valid IDX file (or not the one expected); the message names it."""


#: Deflate never compresses better than about 1032:1, so a gzip file of ``n`` bytes cannot hold
#: more than this many times ``n`` bytes of content: a header claiming more is refused unread.
MAX_GZIP_RATIO = 1100


def parse_header(head: bytes, name: str = "<bytes>") -> tuple[np.dtype, tuple[int, ...], int]:
    """``(dtype, dims, header_length)`` from the first bytes of an IDX file (at least the whole
    header; more is ignored). Raises :class:`IDXError` on a wrong magic number or a short header.
    """
    if len(head) < 4:
        raise IDXError(f"{name}: truncated: {len(head)} bytes, too short for an IDX header")
    zero1, zero2, type_code, ndim = head[0], head[1], head[2], head[3]
    magic = int.from_bytes(head[:4], "big")
    if zero1 != 0 or zero2 != 0 or type_code not in IDX_TYPES or ndim == 0:
        raise IDXError(
            f"{name}: wrong magic number 0x{magic:08x} ({magic}); an IDX file starts with "
            f"0x00 0x00 <type byte in {sorted(hex(t) for t in IDX_TYPES)}> <ndim >= 1>, "
            f"e.g. 2051 for MNIST images, 2049 for labels"
        )
    header_len = 4 + 4 * ndim
    if len(head) < header_len:
        raise IDXError(f"{name}: truncated: the header needs {header_len} bytes for {ndim} "
                       f"dimensions, the file has {len(head)}")
    dims = struct.unpack(f">{ndim}I", head[4:header_len])
    if 0 in dims and math.prod(d for d in dims if d) > np.iinfo(np.intp).max:
        # no payload is needed, but numpy cannot shape even an empty array like that
        raise IDXError(f"{name}: header dimensions {dims} are too large for an array")
    return IDX_TYPES[type_code], dims, header_len


def payload_bytes(dtype: np.dtype, dims: tuple[int, ...]) -> int:
    """Bytes of payload the header's dimensions call for (exact: Python integers, so a product
    of huge dimensions cannot wrap around as an int64 would)."""
    return math.prod(int(d) for d in dims) * dtype.itemsize


def _check_payload(name: str, dims: tuple[int, ...], expected: int, payload: int) -> None:
    if payload < expected:
        raise IDXError(f"{name}: truncated data: header dimensions {dims} need {expected} bytes of "
                       f"payload, the file has {payload}")
    if payload > expected:
        raise IDXError(f"{name}: header dimensions {dims} do not match the payload: they need "
                       f"{expected} bytes, the file has {payload} ({payload - expected} extra)")


def _read_into(f, expected: int) -> tuple[np.ndarray, int]:
    """Read up to ``expected`` bytes of ``f`` straight into a new uint8 array (no intermediate
    ``bytes`` copy); returns the array and how many bytes arrived."""
    buf = np.empty(expected, dtype=np.uint8)
    view, got = memoryview(buf), 0
    while got < expected:
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    return buf, got


def _as_native(buf: np.ndarray, dtype: np.dtype, dims: tuple[int, ...]) -> np.ndarray:
    """The payload bytes ``buf`` viewed as the file's type, in native byte order, shaped."""
    arr = buf.view(dtype)
    if not dtype.isnative:
        arr = arr.byteswap().view(dtype.newbyteorder("="))
    return arr.reshape(dims)


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX ``data`` (already decompressed) into an array of the file's shape and type
    (native byte order). ``name`` is used in error messages."""
    dtype, dims, header_len = parse_header(data[:1024], name)
    expected = payload_bytes(dtype, dims)
    _check_payload(name, dims, expected, len(data) - header_len)
    buf = np.frombuffer(data, dtype=np.uint8, count=expected, offset=header_len).copy()
    return _as_native(buf, dtype, dims)


def _read_gzip(path: Path, raw) -> np.ndarray:
    """Stream-decompress an IDX ``.gz``: read the header first, then exactly the payload it
    calls for (and one byte more, to detect extra data) - never more than the header promises,
    and only when the compressed size could hold it."""
    compressed = os.fstat(raw.fileno()).st_size
    try:
        with gzip.GzipFile(fileobj=raw, mode="rb") as f:
            head = f.read(4)
            if len(head) == 4:
                head += f.read(4 * head[3])
            dtype, dims, header_len = parse_header(head, str(path))
            expected = payload_bytes(dtype, dims)
            if expected > MAX_GZIP_RATIO * compressed:
                raise IDXError(f"{path}: header dimensions {dims} need {expected} bytes, more than "
                               f"a {compressed}-byte gzip file can hold; the file is corrupt")
            if expected > available_bytes():
                raise IDXError(f"{path}: header dimensions {dims} need {format_bytes(expected)}, "
                               "more memory than this machine has available")
            buf, got = _read_into(f, expected)
            extra = len(f.read(1 << 16))
    except (EOFError, OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise IDXError(f"{path}: corrupt or truncated gzip data ({e})") from None
    _check_payload(str(path), dims, expected, got + extra)
    return _as_native(buf, dtype, dims)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (raw or gzip) into a numpy array of its stored shape and type.

    The header is checked against the file's size before the payload is read, so a corrupt
    header (dimensions whose product is huge) is refused without allocating anything.
    """
    path = Path(path)
    with open(path, "rb") as raw:
        if raw.read(2) == GZIP_MAGIC:
            raw.seek(0)
            return _read_gzip(path, raw)
        raw.seek(0)
        size = os.fstat(raw.fileno()).st_size
        dtype, dims, header_len = parse_header(raw.read(1024), str(path))
        expected = payload_bytes(dtype, dims)
        _check_payload(str(path), dims, expected, size - header_len)
        raw.seek(header_len)
        buf, got = _read_into(raw, expected)
    _check_payload(str(path), dims, expected, got)  # the file shrank while read
    return _as_native(buf, dtype, dims)


def read_idx_pair(images_path: str | os.PathLike, labels_path: str | os.PathLike,
                  image_shape: tuple[int, ...] | None = (28, 28),
                  num_classes: int | None = 10) -> tuple[np.ndarray, np.ndarray]:
    """Read an images file and its labels file and check they belong together.

    Returns ``images`` uint8 ``(N, *image_shape)`` and ``labels`` uint8 ``(N,)``. Raises
    :class:`IDXError` naming the file when the images are not uint8 of ``image_shape`` (``None``:
    any), the labels are not a uint8 vector with values below ``num_classes`` (``None``: any),
    the two counts differ, or there are no images at all.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim < 2:
        raise IDXError(f"{images_path}: expected uint8 images (N, ...), found {images.dtype} "
                       f"{images.shape}")
    if image_shape is not None and images.shape[1:] != tuple(image_shape):
        raise IDXError(f"{images_path}: expected images of shape {tuple(image_shape)}, found "
                       f"{images.shape[1:]}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise IDXError(f"{labels_path}: expected a uint8 label vector (N,), found {labels.dtype} "
                       f"{labels.shape} (is this an images file?)")
    if len(images) != len(labels):
        raise IDXError(f"{images_path} has {len(images)} images but {labels_path} has "
                       f"{len(labels)} labels: the counts must match")
    if len(images) == 0:
        raise IDXError(f"{images_path}: the file holds no images (its header says 0); replace "
                       "it with the data set's real file")
    if num_classes is not None and len(labels) and int(labels.max()) >= num_classes:
        raise IDXError(f"{labels_path}: label {int(labels.max())} out of range "
                       f"0..{num_classes - 1}")
    return images, labels


def to_idx_bytes(arr: np.ndarray) -> bytes:
    """The IDX encoding of ``arr`` (one of the IDX types; stored big-endian)."""
    arr = np.asarray(arr)
    key = (arr.dtype.kind, arr.dtype.itemsize)
    if key not in _TYPE_CODES:
        raise TypeError(f"IDX cannot store dtype {arr.dtype}; use one of "
                        f"{[str(d) for d in IDX_TYPES.values()]}")
    code = _TYPE_CODES[key]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.ascontiguousarray(arr, dtype=IDX_TYPES[code]).tobytes()


def write_idx(path: str | os.PathLike, arr: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``arr`` as an IDX file; gzip it (deterministically: no name, mtime 0) when
    ``compress`` is true or, by default, when the name ends with ``.gz``. Returns the path."""
    path = Path(path)
    data = to_idx_bytes(arr)
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        data = gzip.compress(data, compresslevel=9, mtime=0)
    path.write_bytes(data)
    return path
