"""The checkpoint file format: one file, a JSON header and raw little-endian
tensor buffers. See docs/design.md, "Checkpoints and summaries".

Note [Checkpoint file format]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    offset 0   magic    8 bytes  b"\\x89FTCK\\r\\n\\x1a" (PNG's trick: a high
                                 byte and CR LF ^Z reveal text-mode mangling)
           8   version  uint32 LE (FORMAT_VERSION)
          12   crc32    uint32 LE, of the header bytes
          16   length   uint64 LE, of the header bytes
          24   offset   uint64 LE, of the header (the header ends the file)
          64   data     each tensor's C-order little-endian bytes, at
                        64 + its offset (offsets are multiples of 64)
       offset  header   ASCII JSON {"format", "tensors": [...], "object_graph"}

The header is last so that the CRC-32s it holds are computed by a thread
while the data is written (zlib releases the GIL); the prefix is written
last, in place, before the fsync and the rename.

A tensor entry is {"key", "dtype" (NumPy's str: "<f4", "|b1"), "shape",
"offset", "nbytes", "crc32"}. Nothing in a file is executed or imported:
dtypes come from a fixed list (no object dtype, no pickle), and every field is
checked before any allocation: the header length against the file size, each
tensor's extent (offset + nbytes, with nbytes = prod(shape) * itemsize computed
in Python ints) against the data size, keys against a path grammar without
'..' or absolute segments. So the memory a read allocates is bounded by the
file's size, and a truncated, bit-flipped (CRC-32 of the header and of every
tensor), wrong-version or hostile file raises DataLossError naming the file
before any variable is touched.

Writes are atomic: a temporary file in the same directory, fsync, rename over
the target, fsync of the directory. A process killed at any moment leaves the
previous file intact (and at worst a stray '.name.*.tmp' file).
"""

import atexit
import json
import os
import re
import struct
import tempfile
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from fasttape.errors import DataLossError

MAGIC = b"\x89FTCK\r\n\x1a"
FORMAT_VERSION = 1
FORMAT_NAME = "fasttape.checkpoint"
_PREFIX = struct.Struct("<8sIIQQ")
_ALIGN = 64
_DATA_START = 64
MAX_HEADER_BYTES = 1 << 28  # 256 MiB: far above any object graph
MAX_RANK = 64
MAX_KEY_LENGTH = 4096

# little-endian (or byte-order-free) numeric dtypes only: nothing that unpickles
ALLOWED_DTYPES = frozenset(np.dtype(t).str for t in (
    np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64,
    np.uint64, np.float16, np.float32, np.float64, np.complex64, np.complex128))

# a '/'-separated path of escaped names (see escape_name); no '.', '..' or empty segment
_SEGMENT = r"(?:[A-Za-z0-9_\-%]+|\.OPTIMIZER_SLOT|\.ATTRIBUTES)"
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")

# files are created as open() would: 0o666 minus the umask
_UMASK = os.umask(0)
os.umask(_UMASK)


def escape_name(name):
    """An object-graph edge name safe as a path segment: letters, digits, '_'
    and '-' stay; anything else (including '/', '.' and '%') is %XX-escaped."""
    return "".join(c if (c.isascii() and (c.isalnum() or c in "_-")) else
                   "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in str(name))


def _align(n):
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _contiguous_le(array):
    a = np.asarray(array)
    if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and not np.little_endian):
        a = a.astype(a.dtype.newbyteorder("<"))
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    return a


def _bytes_view(a):
    return memoryview(a.reshape(-1)).cast("B") if a.size else b""


def fsync_directory(directory):
    """fsync a directory (so a rename in it is durable); a no-op where the OS
    cannot open directories (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# Note [Freeing replaced files off the caller's thread]
# Replacing (or deleting) a large file makes the kernel free its pages in
# the rename's or unlink's syscall: ~30 ms for 40 MB here, as long as the write
# itself. `atomic_write` first hard-links the file it replaces to a '.tmp' name,
# so the rename only drops a link, and a daemon thread unlinks that name
# afterwards (the manager deletes old checkpoints the same way). The target
# path always names a complete file; a crash leaves at most a '.tmp' file,
# which CheckpointManager removes. Pending unlinks are finished at exit.

class _Reaper:
    """Unlinks files on a daemon thread (started on first use)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._queue = []
        self._cond = threading.Condition(self._lock)
        self._thread = None
        if hasattr(os, "register_at_fork"):  # a forked child starts with no thread
            os.register_at_fork(after_in_child=self._forget)

    def _forget(self):
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue = []
        self._thread = None

    def unlink(self, path):
        with self._lock:
            self._queue.append(path)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ft-ckpt-unlink",
                                                daemon=True)
                self._thread.start()
                atexit.register(self.drain)
            self._cond.notify()

    def _run(self):
        while True:
            with self._lock:
                while not self._queue:
                    self._cond.wait()
                path = self._queue[0]
            try:
                os.unlink(path)
            except OSError:
                pass
            with self._lock:
                self._queue.pop(0)
                self._cond.notify_all()

    def drain(self):
        """Waits until every queued unlink is done."""
        with self._lock:
            while self._queue:
                self._cond.wait(timeout=1.0)


_REAPER = _Reaper()


def remove_file(path):
    """Deletes `path`; its pages are freed on a thread. See Note [Freeing
    replaced files off the caller's thread]."""
    trash = _trash_name(path)
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return
    except OSError:
        os.remove(path)
        return
    _REAPER.unlink(trash)


def _trash_name(path):
    directory, base = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{base}.{os.getpid()}-{id(object())}.old.tmp")


def atomic_write(path, chunks, durable=True):
    """Writes the byte chunks (bytes or memoryviews) to `path` atomically:
    temp file in the same directory, fsync, rename, directory fsync."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=directory)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with open(fd, "wb") as f:
            for chunk in chunks:
                if isinstance(chunk, tuple):  # (offset, bytes): written in place
                    f.seek(chunk[0])
                    chunk = chunk[1]
                f.write(chunk)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        trash = None
        if os.path.isfile(path) and os.stat(path).st_size > (1 << 20):
            trash = _trash_name(path)
            try:
                os.link(path, trash)
            except OSError:
                trash = None
        os.replace(tmp, path)
        if trash is not None:
            _REAPER.unlink(trash)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        fsync_directory(directory)
    return path


def _crc_views(views):
    """CRC-32 of each view, computed by a worker thread (zlib releases the GIL)
    while the caller writes the previous ones: a list of futures."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="ft-ckpt-crc")
    try:
        return [pool.submit(zlib.crc32, v) for v in views]
    finally:
        pool.shutdown(wait=False)


def write_checkpoint(path, tensors, object_graph, durable=True):
    """Writes [(key, array)] and the object graph (a JSON-able dict) to `path`.
    The CRC of each tensor is computed in a thread while the data is written;
    the header goes last and the prefix is then written in place (the file
    only becomes visible, by rename, once complete)."""
    entries, views, offset = [], [], 0
    for key, value in tensors:
        a = _contiguous_le(value)
        if a.dtype.str not in ALLOWED_DTYPES:
            raise TypeError(f"cannot checkpoint {key!r}: dtype {a.dtype} is not numeric "
                            "(checkpoints hold numeric and bool tensors only)")
        entries.append({"key": key, "dtype": a.dtype.str, "shape": list(a.shape),
                        "offset": offset, "nbytes": a.nbytes})
        views.append(_bytes_view(a))
        offset = _align(offset + a.nbytes)
    crcs = _crc_views(views) if offset > (1 << 20) else None

    def chunks():
        yield b"\0" * _DATA_START
        pos = 0
        for e, view in zip(entries, views):
            if e["offset"] > pos:
                yield b"\0" * (e["offset"] - pos)
            yield view
            pos = e["offset"] + e["nbytes"]
        for i, e in enumerate(entries):
            e["crc32"] = crcs[i].result() if crcs is not None else zlib.crc32(views[i])
        header = json.dumps({"format": FORMAT_NAME, "tensors": entries,
                             "object_graph": object_graph},
                            separators=(",", ":"), ensure_ascii=True).encode("ascii")
        header_offset = _DATA_START + _align(pos)
        yield b"\0" * (header_offset - _DATA_START - pos)
        yield header
        yield (0, _PREFIX.pack(MAGIC, FORMAT_VERSION, zlib.crc32(header), len(header),
                               header_offset))

    return atomic_write(path, chunks(), durable)


class CheckpointFile:
    """A read, verified checkpoint: `tensors` {key: ndarray} and `object_graph`."""

    def __init__(self, path, tensors, object_graph):
        self.path = path
        self.tensors = tensors
        self.object_graph = object_graph


def _fail(path, what):
    raise DataLossError(f"checkpoint file {path!r} is not a valid fasttape checkpoint: {what}")


def _is_int(x):
    return type(x) is int


def read_checkpoint(path):
    """Reads and verifies the whole file at `path`; DataLossError (naming the
    file) if it is not a valid checkpoint. See Note [Checkpoint file format]."""
    path = os.fspath(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint file at {path!r}") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        raw = f.read(_PREFIX.size)
        if len(raw) < _PREFIX.size:
            _fail(path, f"truncated: {size} bytes, shorter than the {_PREFIX.size}-byte prefix")
        magic, version, header_crc, header_len, header_offset = _PREFIX.unpack(raw)
        if magic != MAGIC:
            _fail(path, "wrong magic bytes (not a checkpoint, or mangled in text mode)")
        if version != FORMAT_VERSION:
            _fail(path, f"format version {version}; this fasttape reads version "
                        f"{FORMAT_VERSION}" + (" (written by a newer fasttape?)"
                                               if version > FORMAT_VERSION else ""))
        if (header_len > MAX_HEADER_BYTES or header_offset < _DATA_START
                or header_offset + header_len != size):
            _fail(path, f"header of {header_len} bytes at offset {header_offset} in a file "
                        f"of {size} bytes (truncated or corrupt)")
        f.seek(header_offset)
        header = f.read(header_len)
        if len(header) != header_len or zlib.crc32(header) != header_crc:
            _fail(path, "the header's CRC-32 does not match (corrupt)")
        try:
            meta = json.loads(header.decode("ascii"))
        except (ValueError, RecursionError, UnicodeDecodeError, MemoryError) as e:
            _fail(path, f"unreadable header JSON ({type(e).__name__})")
        data_size = header_offset - _DATA_START
        entries = _check_header(path, meta, data_size)
        data = np.empty(data_size, np.uint8)
        f.seek(_DATA_START)
        if data_size > 0 and f.readinto(memoryview(data)) != data_size:
            _fail(path, "truncated while reading")
    tensors = {}
    for key, dtype, shape, offset, nbytes, crc in entries:
        chunk = data[offset:offset + nbytes]
        if zlib.crc32(chunk) != crc:
            _fail(path, f"the CRC-32 of tensor {key!r} does not match (corrupt)")
        tensors[key] = chunk.view(dtype).reshape(shape)
    return CheckpointFile(path, tensors, meta["object_graph"])


def _check_header(path, meta, data_size):
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        _fail(path, "the header is not a fasttape checkpoint header")
    tensors = meta.get("tensors")
    if not isinstance(tensors, list):
        _fail(path, "the header has no tensor list")
    out, keys = [], set()
    for i, e in enumerate(tensors):
        if not isinstance(e, dict):
            _fail(path, f"tensor entry {i} is not an object")
        key, dtype, shape = e.get("key"), e.get("dtype"), e.get("shape")
        offset, nbytes, crc = e.get("offset"), e.get("nbytes"), e.get("crc32")
        if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
            _fail(path, f"tensor entry {i} has an invalid key {str(key)[:80]!r}")
        if key in keys:
            _fail(path, f"tensor {key!r} is listed twice")
        keys.add(key)
        if dtype not in ALLOWED_DTYPES:
            _fail(path, f"tensor {key!r} has an unsupported dtype {str(dtype)[:40]!r}")
        if (not isinstance(shape, list) or len(shape) > MAX_RANK
                or not all(_is_int(d) and d >= 0 for d in shape)):
            _fail(path, f"tensor {key!r} has an invalid shape")
        if not (_is_int(offset) and _is_int(nbytes) and _is_int(crc)
                and offset >= 0 and 0 <= crc < 1 << 32):
            _fail(path, f"tensor {key!r} has an invalid offset, size or CRC")
        itemsize = np.dtype(dtype).itemsize
        count = 1
        for d in shape:
            count *= d
        if count * itemsize != nbytes:
            _fail(path, f"tensor {key!r}: shape {tuple(shape)} of {dtype} is not "
                        f"{nbytes} bytes")
        if offset + nbytes > data_size:
            _fail(path, f"tensor {key!r} extends past the end of the file (truncated?)")
        out.append((key, np.dtype(dtype), tuple(shape), offset, nbytes, crc))
    graph = meta.get("object_graph")
    _check_graph(path, graph, keys)
    return out


def _check_graph(path, graph, keys):
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list) \
            or not graph["nodes"]:
        _fail(path, "the header has no object graph")
    nodes = graph["nodes"]
    n = len(nodes)
    for i, node in enumerate(nodes):
        if not isinstance(node, dict):
            _fail(path, f"object-graph node {i} is not an object")
        children = node.get("children", [])
        if not isinstance(children, list):
            _fail(path, f"object-graph node {i} has invalid children")
        names = set()
        for c in children:
            if (not isinstance(c, list) or len(c) != 2 or not isinstance(c[0], str)
                    or not _KEY.fullmatch(c[0]) or "/" in c[0] or not _is_int(c[1])
                    or not 0 <= c[1] < n or c[0] in names):
                _fail(path, f"object-graph node {i} has an invalid child {str(c)[:80]}")
            names.add(c[0])
        tensor = node.get("tensor")
        if tensor is not None and tensor not in keys:
            _fail(path, f"object-graph node {i} names a missing tensor {str(tensor)[:80]!r}")
        slots = node.get("slots", [])
        if not isinstance(slots, list):
            _fail(path, f"object-graph node {i} has invalid slots")
        for s in slots:
            if (not isinstance(s, list) or len(s) != 3 or not _is_int(s[0])
                    or not 0 <= s[0] < n or not isinstance(s[1], str)
                    or not _KEY.fullmatch(s[1]) or not _is_int(s[2]) or not 0 <= s[2] < n):
                _fail(path, f"object-graph node {i} has an invalid slot entry {str(s)[:80]}")
        if not isinstance(node.get("path", ""), str) or not isinstance(
                node.get("class", ""), str):
            _fail(path, f"object-graph node {i} has an invalid path or class")
