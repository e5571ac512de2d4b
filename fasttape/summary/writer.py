"""TensorBoard summaries (`ft.summary`, TensorFlow 2's tf.summary).

Note [Summary writers]
~~~~~~~~~~~~~~~~~~~~~~
`create_file_writer(logdir)` makes a writer of TensorBoard event files
through the `tensorboard` package (the extra `fasttape[tensorboard]`): its
protobufs (Event, Summary, HistogramProto, TensorProto) and its
EventFileWriter (a queue drained by a thread into
'events.out.tfevents.<time>.<host>...' records with masked CRC-32C). The
summary functions write to the *default* writer (`with
writer.as_default():`, a per-thread stack, or `writer.set_as_default()`):
- with no default writer they do nothing and return False (TensorFlow's
  rule); with one they always write (or raise) and return True, unless
  `record_if` says not to: never a silent no-op;
- `step` is the argument, else the writer's default step (`as_default(step)`),
  else `ft.summary.experimental.set_step`; a Variable step (e.g.
  `optimizer.iterations`) is read at each write; no step at all raises;
- values are written in the forms TensorBoard's legacy EventAccumulator and
  every TensorBoard version read: `simple_value` scalars, `histo`
  HistogramProtos (`buckets` equal-width buckets between min and max, as
  tf.summary.histogram), PNG images (encoded here with zlib: no imaging
  library), and text as a string tensor with the "text" plugin's metadata
  (tf.summary.text's form);
- `flush()` writes the queue out; `close()` flushes and closes; a writer is
  flushed and closed when it is garbage collected and at interpreter exit.
Inside `ft.function` a summary is a stateful "WriteSummary" node (its
executor step, registered in session.NODE_STEPS, calls the eager summary):
each call of the traced function writes, with the default writer, step and
`record_if` of that call; it returns a bool tensor (written).
"""

import contextlib
import struct
import threading
import weakref
import zlib

import numpy as np

from fasttape._core import core as _core

_STATE = threading.local()
_GLOBAL = {"step": None, "default": None}


def _tb():
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as e:
        raise ImportError(
            "ft.summary writes TensorBoard event files with the `tensorboard` package: "
            "pip install 'fasttape[tensorboard]'") from e
    return event_pb2, summary_pb2, tensor_pb2, EventFileWriter


def _stack():
    s = getattr(_STATE, "stack", None)
    if s is None:
        s = _STATE.stack = []
    return s


class SummaryWriter:
    """A writer of one event file (made by `create_file_writer`)."""

    def __init__(self, logdir, max_queue=10, flush_millis=120_000, filename_suffix=""):
        self._logdir = str(logdir)
        self._max_queue = 10 if max_queue is None else int(max_queue)
        self._flush_secs = 120 if flush_millis is None else max(flush_millis / 1000.0, 0.001)
        self._suffix = filename_suffix or ""
        self._writer = None
        self._closed = False
        self._lock = threading.Lock()
        self._finalizer = None
        self.init()

    def init(self):
        """Opens the event file (done at construction; again after `close`)."""
        with self._lock:
            if self._writer is None:
                event_pb2, _, _, EventFileWriter = _tb()
                self._writer = EventFileWriter(self._logdir, self._max_queue, self._flush_secs,
                                               self._suffix)
                self._closed = False
                # flushed and closed when collected, or at exit (finalize runs at exit)
                self._finalizer = weakref.finalize(self, self._writer.close)

    @property
    def logdir(self):
        return self._logdir

    def as_default(self, step=None):
        """A context manager making this the default writer (and `step` the
        default step) of the current thread."""
        return _Default(self, step)

    def set_as_default(self, step=None):
        """Makes this the default writer (of every thread without its own)."""
        _GLOBAL["default"] = (self, step)

    def flush(self):
        """Writes every pending event to the file."""
        if self._writer is not None:
            self._writer.flush()

    def close(self):
        """Flushes and closes the file; later writes raise (call `init` to reopen)."""
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._finalizer.detach()
                self._writer = None
                self._closed = True

    def _add(self, tag, value, step, wall_time=None):
        event_pb2, summary_pb2, _, _ = _tb()
        if self._writer is None:
            raise RuntimeError(f"ft.summary: the writer of {self._logdir!r} is closed; call "
                               f"writer.init() to reopen it (writing {tag!r})")
        import time

        event = event_pb2.Event(step=int(step), wall_time=time.time() if wall_time is None
                                else wall_time, summary=summary_pb2.Summary(value=[value]))
        self._writer.add_event(event)

    def __repr__(self):
        return f"<ft.summary.SummaryWriter logdir={self._logdir!r}>"


class _Default:
    def __init__(self, writer, step):
        self.writer, self.step = writer, step

    def __enter__(self):
        _stack().append((self.writer, self.step))
        return self.writer

    def __exit__(self, *exc):
        _stack().pop()
        self.writer.flush()
        return False


def create_file_writer(logdir, max_queue=None, flush_millis=None, filename_suffix=None,
                       name=None, experimental_trackable=False):
    """A SummaryWriter of a new event file in `logdir` (made if missing).

    >>> import fasttape as ft, tempfile
    >>> writer = ft.summary.create_file_writer(tempfile.mkdtemp())
    >>> with writer.as_default(step=3):
    ...     ft.summary.scalar("loss", 0.25)
    True
    >>> ft.summary.scalar("loss", 0.25, step=3)  # no default writer: not recorded
    False
    """
    return SummaryWriter(logdir, max_queue, flush_millis, filename_suffix)


def create_noop_writer():
    """A writer that is never default-worthy: summaries under it record nothing."""
    return _NoopWriter()


class _NoopWriter:
    def as_default(self, step=None):
        return contextlib.nullcontext(self)

    def set_as_default(self, step=None):
        pass

    def flush(self):
        pass

    def close(self):
        pass

    def init(self):
        pass


def _default():
    s = _stack()
    if s:
        return s[-1]
    return _GLOBAL["default"]


# --- steps and record_if ---------------------------------------------------------------------

class experimental:  # noqa: N801  (ft.summary.experimental.set_step, as TensorFlow)
    """`set_step(step)` / `get_step()`: the default step of summaries."""

    @staticmethod
    def set_step(step):
        _GLOBAL["step"] = step

    @staticmethod
    def get_step():
        return _GLOBAL["step"]


@contextlib.contextmanager
def record_if(condition):
    """Summaries inside record only when `condition` (a bool, a boolean
    tensor, or a callable returning one, called at each write) holds."""
    s = getattr(_STATE, "record", None)
    if s is None:
        s = _STATE.record = []
    s.append(condition)
    try:
        yield
    finally:
        s.pop()


def should_record_summaries():
    """True when a default writer is set and every enclosing `record_if` holds."""
    if _default() is None or isinstance(_default()[0], _NoopWriter):
        return False
    for cond in getattr(_STATE, "record", ()):
        value = cond() if callable(cond) and not isinstance(cond, _core.Tensor) else cond
        if not bool(np.asarray(value)):
            return False
    return True


def _step_value(step, tag):
    if step is None:
        d = _default()
        step = d[1] if d is not None and d[1] is not None else _GLOBAL["step"]
    if step is None:
        raise ValueError(f"ft.summary: no step for {tag!r}: pass step=, use "
                         "writer.as_default(step=...) or ft.summary.experimental.set_step()")
    if isinstance(step, _core.Tensor):
        step = step.numpy()
    return int(np.asarray(step))


def _array(data, tag, what):
    return np.asarray(data.numpy() if isinstance(data, _core.Tensor) else data)


# --- inside traced functions ------------------------------------------------------------------

def _staged(what, name, data, step, options):
    """Inside ft.function: a stateful 'WriteSummary' node whose executor step
    calls the eager summary at each call of the function, with the default
    writer, step and record_if of that moment. Returns its output (a bool
    scalar tensor: written)."""
    from fasttape import graph as _graph

    if isinstance(data, _core.Tensor) and _core.is_symbolic(data):
        g = data.graph
    else:
        g = _graph.get_default_graph()
    inputs = [("data", data)]
    has_step = isinstance(step, _core.Tensor)  # a variable (read at each call) or a tensor
    if has_step:
        inputs.append(("step", step))
        step = None
    node = _graph.stage_node(g, "WriteSummary", f"write_summary_{what}", inputs,
                             (what, name, step, has_step, options), [()], [np.dtype(bool)])
    return node._outputs[0]


def _run_staged(*args):
    *values, node = args
    what, name, step, has_step, options = node.attrs
    if has_step:
        step = values[1]
    fn = {"scalar": scalar, "histogram": histogram, "image": image, "text": text}[what]
    return np.asarray(fn(name, values[0], step=step, **options))


def _register_node():
    from fasttape import graph as _graph
    from fasttape import session as _session

    _session.NODE_STEPS["WriteSummary"] = lambda node: (_run_staged, (node,), True)
    _graph._SOURCE_ATTRS["WriteSummary"] = ("kind", "tag", "step", "has_step", "options")


_register_node()


def _metadata(summary_pb2, plugin, description=None):
    md = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin))
    if description:
        md.summary_description = description
    return md


def _write(tag, step, make_value):
    d = _default()
    if not should_record_summaries():
        return False
    _, summary_pb2, tensor_pb2, _ = _tb()
    step = _step_value(step, tag)
    d[0]._add(tag, make_value(summary_pb2, tensor_pb2), step)
    return True


# --- the summaries ---------------------------------------------------------------------------

def scalar(name, data, step=None, description=None):
    """Writes a scalar (a float) at `step`; returns True if written (False:
    no default writer or `record_if` off)."""
    if _core.staging():
        return _staged("scalar", name, data, step, {"description": description})
    value = _array(data, name, "scalar")
    if value.size != 1:
        raise ValueError(f"ft.summary.scalar({name!r}): data must be a scalar, got shape "
                         f"{value.shape}")
    v = float(value.reshape(()).real)

    def make(summary_pb2, tensor_pb2):
        return summary_pb2.Summary.Value(tag=name, simple_value=v,
                                         metadata=_metadata(summary_pb2, "scalars", description))

    return _write(name, step, make)


def _histogram_proto(summary_pb2, values, buckets):
    values = values.astype(np.float64).reshape(-1)
    if values.size == 0:
        return summary_pb2.HistogramProto(min=0.0, max=0.0, num=0, sum=0.0, sum_squares=0.0,
                                          bucket_limit=[], bucket=[])
    if not np.all(np.isfinite(values)):
        raise ValueError("ft.summary.histogram: data holds NaN or Inf")
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:
        counts, edges = np.array([values.size]), np.array([lo, hi])
    else:
        counts, edges = np.histogram(values, bins=buckets, range=(lo, hi))
    return summary_pb2.HistogramProto(
        min=lo, max=hi, num=float(values.size), sum=float(values.sum()),
        sum_squares=float(np.dot(values, values)), bucket_limit=[float(e) for e in edges[1:]],
        bucket=[float(c) for c in counts])


def histogram(name, data, step=None, buckets=None, description=None):
    """Writes a histogram of `data`'s values: `buckets` (default 30)
    equal-width buckets between its min and max."""
    if _core.staging():
        return _staged("histogram", name, data, step,
                       {"buckets": buckets, "description": description})
    values = _array(data, name, "histogram")
    buckets = 30 if buckets is None else int(buckets)
    if buckets < 1:
        raise ValueError(f"ft.summary.histogram({name!r}): buckets must be >= 1, got {buckets}")

    def make(summary_pb2, tensor_pb2):
        try:
            proto = _histogram_proto(summary_pb2, values, buckets)
        except ValueError as e:
            raise ValueError(f"{e} (tag {name!r})") from None
        return summary_pb2.Summary.Value(tag=name, histo=proto,
                                         metadata=_metadata(summary_pb2, "histograms",
                                                            description))

    return _write(name, step, make)


def encode_png(image):
    """PNG bytes of a uint8 array (H, W, C) with C in 1 (gray), 2 (gray +
    alpha), 3 (RGB) or 4 (RGBA); filter 0 rows, zlib-compressed."""
    h, w, c = image.shape
    color = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    raw = np.concatenate([np.zeros((h, 1), np.uint8), image.reshape(h, w * c)], axis=1)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))


def image(name, data, step=None, max_outputs=3, description=None):
    """Writes up to `max_outputs` images of `data`, shaped (k, h, w, c) with
    c in 1, 3 or 4: floats in [0, 1] (scaled to 0..255) or uint8. One image
    is tagged `name`, several `name/image/i` (TensorFlow 1's tags)."""
    if _core.staging():
        return _staged("image", name, data, step,
                       {"max_outputs": max_outputs, "description": description})
    arr = _array(data, name, "image")
    if arr.ndim != 4 or arr.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"ft.summary.image({name!r}): data must have shape (k, h, w, c) with "
                         f"c in 1..4, got {arr.shape}")
    if arr.dtype != np.uint8:
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"ft.summary.image({name!r}): dtype {arr.dtype} is not an image")
        arr = np.clip(np.rint(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    arr = arr[:max(int(max_outputs), 0)]
    if should_record_summaries():
        step = _step_value(step, name)
    written = False
    for i, img in enumerate(arr):
        tag = name if len(arr) == 1 else f"{name}/image/{i}"
        png = encode_png(np.ascontiguousarray(img))

        def make(summary_pb2, tensor_pb2, img=img, png=png, tag=tag):
            return summary_pb2.Summary.Value(
                tag=tag, image=summary_pb2.Summary.Image(
                    height=img.shape[0], width=img.shape[1], colorspace=img.shape[2],
                    encoded_image_string=png),
                metadata=_metadata(summary_pb2, "images", description))

        written = _write(tag, step, make) or written
    return written if len(arr) else should_record_summaries()


def text(name, data, step=None, description=None):
    """Writes a string (or an array of strings) as the text plugin's tensor."""
    if _core.staging():
        return _staged("text", name, data, step, {"description": description})
    arr = _array(data, name, "text")
    if arr.dtype.kind not in "USO":
        raise TypeError(f"ft.summary.text({name!r}): data must be strings, got {arr.dtype}")
    strings = [s.encode("utf-8") if isinstance(s, str) else bytes(s)
               for s in arr.reshape(-1).tolist()]

    def make(summary_pb2, tensor_pb2):
        from tensorboard.compat.proto import tensor_shape_pb2, types_pb2

        shape = tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in arr.shape])
        tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, tensor_shape=shape,
                                        string_val=strings)
        return summary_pb2.Summary.Value(tag=name, tensor=tensor,
                                         metadata=_metadata(summary_pb2, "text", description))

    return _write(name, step, make)
