"""Read a TensorFlow (1.x / 2.x ``tf.train.Saver``) checkpoint without TensorFlow.

A checkpoint ``<prefix>`` is two files. ``<prefix>.index`` is a LevelDB-format sorted table (SSTable): data blocks
of prefix-compressed key/value entries with restart points, an index block of block handles, and a 48-byte footer
(meta-index and index handles, then a magic number). Each key is a variable's name; each value a
``BundleEntryProto`` protobuf (dtype, shape, shard, offset, size, crc32c), decoded here by hand (five fields: no
protobuf dependency). ``<prefix>.data-00000-of-00001`` holds the raw little-endian tensors at those offsets.
Only what the ``musicnn`` wheel's checkpoints use is supported: one shard, no compression, no partitioned slices.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotune.utils.errors import DataError, MissingResourceError

TABLE_MAGIC = 0xDB4775248B80FB57  # LevelDB's table magic number (TF's table format keeps it)
FOOTER_BYTES = 48  # two block handles padded to 40 bytes, then the 8-byte magic
BLOCK_TRAILER = 5  # after each block: a compression byte and a masked crc32c
# tensorflow/core/framework/types.proto DataType -> numpy (little-endian)
DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?", 19: "<f2"}


@dataclass(frozen=True)
class BundleEntry:
    """Where one tensor lives in the data file (``BundleEntryProto``)."""

    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int | None


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """A base-128 varint at ``pos``: ``(value, next position)``."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise DataError("Truncated varint in a TensorFlow checkpoint index.")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """The ``(field number, value)`` pairs of a protobuf message: varints as ints, length-delimited as bytes,
    fixed32/fixed64 as ints."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            out.append((field, value))
        elif wire == 2:
            n, pos = _varint(buf, pos)
            out.append((field, buf[pos : pos + n]))
            pos += n
        elif wire == 5:
            out.append((field, struct.unpack_from("<I", buf, pos)[0]))
            pos += 4
        elif wire == 1:
            out.append((field, struct.unpack_from("<Q", buf, pos)[0]))
            pos += 8
        else:
            raise DataError(f"Unsupported protobuf wire type {wire} in a TensorFlow checkpoint index.")
    return out


def parse_entry(value: bytes) -> BundleEntry:
    """A ``BundleEntryProto``: dtype (1), shape (2: ``TensorShapeProto``, its dims (2) each with a size (1)),
    shard_id (3), offset (4), size (5), crc32c (6, fixed32); slices (7) are refused."""
    dtype, shape, shard, offset, size, crc = 0, [], 0, 0, 0, None
    for field, v in _fields(value):
        if field == 1:
            dtype = int(v)
        elif field == 2 and isinstance(v, bytes):
            for f, dim in _fields(v):
                if f == 2 and isinstance(dim, bytes):
                    shape.append(int(next((s for k, s in _fields(dim) if k == 1), 0)))
        elif field == 3:
            shard = int(v)
        elif field == 4:
            offset = int(v)
        elif field == 5:
            size = int(v)
        elif field == 6:
            crc = int(v)
        elif field == 7:
            raise DataError("Partitioned (sliced) variables in a TensorFlow checkpoint are not supported.")
    return BundleEntry(dtype, tuple(shape), shard, offset, size, crc)


def _block(data: bytes, handle: tuple[int, int]) -> list[tuple[bytes, bytes]]:
    """The ``(key, value)`` entries of the block at ``handle = (offset, size)``: shared-prefix keys, the restart
    array and its count at the end of the block; the trailer must say "no compression"."""
    offset, size = handle
    if offset + size + BLOCK_TRAILER > len(data):
        raise DataError("A block handle points past the end of the TensorFlow checkpoint index.")
    if data[offset + size] != 0:
        raise DataError("Compressed blocks in a TensorFlow checkpoint index are not supported.")
    block = data[offset : offset + size]
    n_restarts = struct.unpack_from("<I", block, size - 4)[0]
    end = size - 4 - 4 * n_restarts  # entries stop where the restart array begins
    entries: list[tuple[bytes, bytes]] = []
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        n_value, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        entries.append((key, block[pos : pos + n_value]))
        pos += n_value
    return entries


def read_index(index_path: str | Path) -> dict[str, BundleEntry]:
    """Every tensor's :class:`BundleEntry` in a checkpoint's ``.index`` file (the header entry, key ``""``, is
    skipped)."""
    data = Path(index_path).read_bytes()
    if len(data) < FOOTER_BYTES:
        raise DataError(f"{index_path} is too short to be a TensorFlow checkpoint index.")
    footer = data[-FOOTER_BYTES:]
    if struct.unpack_from("<Q", footer, 40)[0] != TABLE_MAGIC:
        raise DataError(f"{index_path} is not a TensorFlow checkpoint index (bad table magic).")
    pos = 0
    _, pos = _varint(footer, pos)  # meta-index handle (empty in TF's bundles)
    _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    out: dict[str, BundleEntry] = {}
    for _, handle in _block(data, (index_offset, index_size)):
        off, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        for key, value in _block(data, (off, size)):
            if key:
                out[key.decode("utf-8")] = parse_entry(value)
    return out


def read_checkpoint(prefix: str | Path, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """The tensors of the checkpoint ``<prefix>.index`` + ``<prefix>.data-00000-of-00001`` as numpy arrays.

    Args:
        prefix: the path without suffix (musicnn's are ``.../MSD_musicnn/`` + the empty name, i.e. files named
            ``.index`` and ``.data-00000-of-00001`` inside the folder).
        names: only these variables (default: all).
    """
    prefix = str(prefix)
    index, shard = Path(prefix + ".index"), Path(prefix + ".data-00000-of-00001")
    for p in (index, shard):
        if not p.is_file():
            raise MissingResourceError(f"TensorFlow checkpoint file not found: {p}.")
    entries = read_index(index)
    wanted = list(entries) if names is None else names
    missing = [n for n in wanted if n not in entries]
    if missing:
        raise DataError(f"{index} has no variable(s) {', '.join(missing[:5])}.")
    out: dict[str, np.ndarray] = {}
    with shard.open("rb") as f:
        for name in wanted:
            e = entries[name]
            if e.shard_id != 0:
                raise DataError(f"{name} lives in shard {e.shard_id}; only one-shard checkpoints are supported.")
            if e.dtype not in DTYPES:
                raise DataError(f"{name} has TensorFlow dtype {e.dtype}, which this reader does not support.")
            dt = np.dtype(DTYPES[e.dtype])
            if e.size != int(np.prod(e.shape, dtype=np.int64)) * dt.itemsize:
                raise DataError(f"{name}: {e.size} bytes do not hold a {dt} tensor of shape {e.shape}.")
            f.seek(e.offset)
            raw = f.read(e.size)
            if len(raw) != e.size:
                raise DataError(f"{shard} is truncated ({name}).")
            out[name] = np.frombuffer(raw, dt).reshape(e.shape).astype(dt.newbyteorder("="))
    return out


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), byte by byte: slow (about 1 MB/s), for checking small tensors in tests."""
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """LevelDB's masked CRC (what ``BundleEntryProto.crc32c`` stores)."""
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
