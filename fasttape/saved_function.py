"""`ft.saved_function`: traced functions saved to one file and loaded
without their Python source.

    @ft.function(input_signature=[ft.TensorSpec([None, 784])])
    def predict(x):
        return model(x)

    ft.saved_function.save(predict, "model.ftsf")
    loaded = ft.saved_function.load("model.ftsf")   # another process: no model code
    loaded(x)                                       # or loaded.signatures["serving_default"]

`save` writes each traced function's graph (its nodes: op names of the
table, inputs, attributes, output dtypes and shapes) and the values of the
variables it reads. `load` rebuilds each graph through the op table, which
re-runs every node's shape and dtype rules, and compiles it into a plan as
ft.function does; the loaded functions read eager Variables
(`loaded.variables`), so assigning to them changes later calls.

Note [Saved function format]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~
The file is data, never code (no pickle, no eval): a safetensors file
(https://github.com/huggingface/safetensors: an 8-byte little-endian header
length, a JSON header, then the raw tensor bytes), written and read here
with NumPy alone. Its header's `__metadata__` holds the versioned header
({"format": "fasttape.saved_function", "version": "1"}) and the graphs as one
JSON document ("graph", schema in docs/design.md, "Saved functions and
ONNX"). Every tensor (variable values, Const values, array attributes) is
a safetensors entry; dtypes safetensors has no code for (complex, long
double, strings) are stored as raw bytes ("U8") and the graph's "tensors"
table gives every tensor's NumPy dtype and shape.
Why safetensors rather than `.npz`: an npz is a zip of .npy files, whose
reading means a zip directory, possibly compressed members (a small file
can inflate without bound), and .npy headers that NumPy parses as Python
literals; a safetensors file is one length-prefixed JSON header and byte
ranges, so every size is checked against the file's before anything is
allocated, arrays are views of the bytes read, and any safetensors reader
(the `safetensors` package, other languages) can read the weights.

Note [Loading hostile files]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~
A file may be truncated, damaged or made to attack the loader. Every
problem raises ft.errors.InvalidSavedFunctionError naming the file (and the
node): sizes are checked before allocating (the header against the file,
each tensor's byte range against its dtype and shape, a byte budget for
every node's static output size, `max_tensor_bytes`, and of everything
computed from constants alone, which the plan folds at load,
MAX_FOLDED_BYTES), JSON nesting and
lengths are bounded, integers fit int64, dtypes are NumPy's plain numeric,
bool and string dtypes only, op names must be in the op table, arities and
attributes are checked, and every node is rebuilt by the op's own shape and
dtype rules, whose results must equal the dtypes and shapes the file
records; so a file cannot make a graph the ops would not build.
"""

import json
import math
import os
import re
import struct

import numpy as np

from fasttape import errors as _errors
from fasttape import graph as _graph
from fasttape._core import core as _core

__all__ = ["SavedFunction", "load", "save"]

FORMAT = "fasttape.saved_function"
VERSION = 1

#: the header's largest size (bytes): graphs are small next to their weights
MAX_HEADER_BYTES = 64 << 20
#: default budget of one tensor's bytes (stored or a node's static output)
MAX_TENSOR_BYTES = 1 << 30
#: the bytes of the values a graph computes from constants alone (its plan
#: folds them at load: a tiny file could otherwise ask for large arrays)
MAX_FOLDED_BYTES = 256 << 20
_MAX_DEPTH = 24          # nesting of attribute values
_MAX_LEN = 1 << 20       # items of one list, characters of one string
_MAX_RANK = 32
_INT_LIMIT = 1 << 63

#: safetensors' dtype codes (little-endian)
_ST_CODES = {"b1": "BOOL", "u1": "U8", "i1": "I8", "u2": "U16", "i2": "I16", "u4": "U32",
             "i4": "I32", "u8": "U64", "i8": "I64", "f2": "F16", "f4": "F32", "f8": "F64"}
_ST_DTYPES = {v: np.dtype("<" + k if k != "b1" else "?") for k, v in _ST_CODES.items()}
_DTYPE_RE = re.compile(r"^[<>|=]?([biufcUS])(\d{1,5})$")
#: nodes that are not ops of the table but read or update an eager variable
_VARIABLE_NODES = ("ReadVariableOp", "Assign", "AssignAdd", "AssignSub")
#: other stateful node types that save as data, registered by their modules:
#: type -> build(graph, name, inputs, attrs), which checks its inputs and attrs
#: (variables, None and data; ValueError naming what does not fit) and
#: returns the node (ft.optimizers' ResourceApplyAdam)
NODE_BUILDERS = {}
#: table ops that call back into Python (helper ops without a data form)
_NOT_SERIALIZABLE = frozenset({"py_func", "numpy_function", "py_function", "eager_py_func"})


# ------------------------------------------------------------------ errors

class _Refused(Exception):
    """Internal: a reason a file is invalid (wrapped with the file's name)."""


def _invalid(path, detail):
    return _errors.InvalidSavedFunctionError(f"saved function file {str(path)!r}: {detail}")


def _where(node):
    tb = getattr(node, "traceback", None)
    return f" (built at {tb[0]}:{tb[1]}: {tb[2]})" if tb else ""


# ------------------------------------------------------------------ dtypes

def _dtype_str(dt):
    dt = np.dtype(dt)
    if dt.kind not in "biufcUS" or dt.fields is not None or dt.subdtype is not None:
        raise TypeError(f"dtype {dt} has no data form (numeric, bool and string dtypes only)")
    return dt.newbyteorder("<").str if dt.byteorder != "|" else dt.str


def _parse_dtype(s):
    if not isinstance(s, str):
        raise _Refused(f"a dtype must be a string, got {type(s).__name__}")
    m = _DTYPE_RE.match(s)
    if m is None:
        raise _Refused(f"dtype {s[:40]!r} is not a numeric, bool or string dtype")
    kind, size = m.group(1), int(m.group(2))
    if kind == "b" and size != 1 or kind in "iu" and size not in (1, 2, 4, 8) \
            or kind == "f" and size not in (2, 4, 8, 12, 16) \
            or kind == "c" and size not in (8, 16, 24, 32) \
            or kind in "US" and not 0 < size <= 1 << 14:
        raise _Refused(f"dtype {s!r} is not a dtype NumPy has")
    try:
        dt = np.dtype(s)
    except TypeError as e:
        raise _Refused(f"dtype {s!r}: {e}") from None
    if dt.kind != kind:
        raise _Refused(f"dtype {s!r} is not a dtype this machine has")
    return dt


# ------------------------------------------------------------------ the container

def _write_container(path, tensors, metadata):
    """Writes a safetensors file: `tensors` {key: ndarray}, `metadata` {str: str}."""
    header = {"__metadata__": metadata}
    chunks = []
    offset = 0
    for key, arr in tensors.items():
        arr = np.asarray(arr, order="C")
        code = _ST_CODES.get(arr.dtype.kind + str(arr.dtype.itemsize))
        if code is None:  # raw bytes; the graph's tensor table has the dtype and shape
            data = arr.astype(arr.dtype.newbyteorder("<") if arr.dtype.byteorder != "|"
                              else arr.dtype).tobytes()
            entry = {"dtype": "U8", "shape": [len(data)]}
        else:
            data = arr.astype(_ST_DTYPES[code]).tobytes()
            entry = {"dtype": code, "shape": list(arr.shape)}
        entry["data_offsets"] = [offset, offset + len(data)]
        header[key] = entry
        chunks.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    head += b" " * (-len(head) % 8)  # safetensors aligns the data to 8 bytes
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def _reject_constant(name):
    raise _Refused(f"the JSON holds {name}, which is not JSON")


def _json(data, what):
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except _Refused:
        raise
    except RecursionError:
        raise _Refused(f"{what} is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise _Refused(f"{what} is not valid JSON ({str(e)[:120]})") from None


def _read_container(data):
    """(metadata, {key: (safetensors dtype, shape, bytes view)}) of a safetensors file."""
    if len(data) < 8:
        raise _Refused(f"the file has {len(data)} bytes, too short for a header")
    (n,) = struct.unpack_from("<Q", data, 0)
    if n > len(data) - 8 or n > MAX_HEADER_BYTES:
        raise _Refused(f"the header says it has {n} bytes, but the file has {len(data) - 8} "
                       "after the length" if n <= MAX_HEADER_BYTES
                       else f"the header's size {n} exceeds {MAX_HEADER_BYTES} bytes")
    header = _json(bytes(data[8:8 + n]), "the header")
    if not isinstance(header, dict):
        raise _Refused("the header is not a JSON object")
    meta = header.pop("__metadata__", None)
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _Refused("the header has no __metadata__ of strings (not a fasttape file)")
    body = memoryview(data)[8 + n:]
    entries = {}
    end = 0
    for key, e in sorted(header.items(), key=lambda kv: _offsets_key(kv[1])):
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise _Refused(f"tensor {key[:60]!r}: entry is not {{dtype, shape, data_offsets}}")
        code, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if not isinstance(code, str) or code not in _ST_DTYPES:
            raise _Refused(f"tensor {key[:60]!r}: unknown dtype code {str(code)[:20]!r}")
        shape = _parse_shape(shape, f"tensor {key[:60]!r}", allow_unknown=False)
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(type(o) is int for o in offs)):
            raise _Refused(f"tensor {key[:60]!r}: data_offsets must be two integers")
        b, en = offs
        if b != end or en < b or en > len(body):
            raise _Refused(f"tensor {key[:60]!r}: bytes [{b}, {en}) are not the next range "
                           f"of the {len(body)} data bytes")
        if math.prod(shape) * _ST_DTYPES[code].itemsize != en - b:
            raise _Refused(f"tensor {key[:60]!r}: shape {tuple(shape)} of {code} needs "
                           f"{math.prod(shape) * _ST_DTYPES[code].itemsize} bytes, the file "
                           f"gives {en - b}")
        entries[key] = (code, shape, body[b:en])
        end = en
    if end != len(body):
        raise _Refused(f"{len(body) - end} bytes after the last tensor")
    return meta, entries


def _offsets_key(e):
    try:
        o = e["data_offsets"][0]
        return o if type(o) is int else -1
    except Exception:  # noqa: BLE001  (a malformed entry: reported by the loop)
        return -1


def _parse_shape(shape, what, allow_unknown=True):
    if not isinstance(shape, list) or len(shape) > _MAX_RANK:
        raise _Refused(f"{what}: a shape is a list of at most {_MAX_RANK} dims")
    for d in shape:
        if d is None and allow_unknown:
            continue
        if type(d) is not int or not 0 <= d < _INT_LIMIT:
            raise _Refused(f"{what}: shape {str(shape)[:80]} has a dim that is not an int "
                           "in [0, 2**63)")
    return tuple(shape)


# ------------------------------------------------------------------ attribute values

class _Encoder:
    """Attribute values as typed JSON (Note [Saved function format]);
    arrays go to the tensor table."""

    def __init__(self):
        self.tensors = {}

    def add_tensor(self, arr, prefix):
        key = f"{prefix}/{len(self.tensors)}"
        arr = np.asarray(arr)
        _dtype_str(arr.dtype)  # raises for object arrays
        self.tensors[key] = arr
        return key

    def encode(self, v, where):
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            if not -_INT_LIMIT <= v < _INT_LIMIT:
                raise TypeError(f"{where}: the int {v} does not fit int64")
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else {"t": "float", "v": repr(v)}
        if isinstance(v, complex):
            return {"t": "complex", "v": [self.encode(v.real, where), self.encode(v.imag, where)]}
        if isinstance(v, np.dtype):
            return {"t": "dtype", "v": _dtype_str(v)}
        if isinstance(v, type) and issubclass(v, np.generic):
            return {"t": "dtype", "v": _dtype_str(v)}
        if isinstance(v, np.generic):
            return {"t": "scalar", "v": self.add_tensor(np.asarray(v), "attr")}
        if isinstance(v, np.ndarray):
            return {"t": "ndarray", "v": self.add_tensor(v, "attr")}
        if v is Ellipsis:
            return {"t": "ellipsis"}
        if isinstance(v, slice):
            return {"t": "slice", "v": [self.encode(x, where) for x in (v.start, v.stop, v.step)]}
        if isinstance(v, (tuple, list)):
            return {"t": "tuple" if isinstance(v, tuple) else "list",
                    "v": [self.encode(x, where) for x in v]}
        if isinstance(v, dict):
            return {"t": "dict", "v": [[self.encode(k, where), self.encode(x, where)]
                                       for k, x in v.items()]}
        raise TypeError(f"{where} is a {type(v).__name__} ({_errors.describe(v)}), which "
                        "has no data form: only None, bool, int, float, complex, str, dtypes, "
                        "NumPy arrays and scalars, slices, Ellipsis and tuples, lists and "
                        "dicts of them can be saved")


class _Decoder:
    def __init__(self, tensors):
        self.tensors = tensors  # key -> ndarray

    def tensor(self, key):
        if not isinstance(key, str) or key not in self.tensors:
            raise _Refused(f"names tensor {str(key)[:60]!r}, which the file does not hold")
        return self.tensors[key]

    def decode(self, v, depth=0):
        if depth > _MAX_DEPTH:
            raise _Refused(f"an attribute is nested deeper than {_MAX_DEPTH} levels")
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, int):
            if not -_INT_LIMIT <= v < _INT_LIMIT:
                raise _Refused("an integer attribute does not fit int64")
            return v
        if isinstance(v, float):
            return v
        if isinstance(v, str):
            if len(v) > _MAX_LEN:
                raise _Refused("a string attribute is too long")
            return v
        if not isinstance(v, dict) or not isinstance(v.get("t"), str):
            raise _Refused(f"an attribute value {str(v)[:60]} is not a typed value")
        t, x = v["t"], v.get("v")
        if t == "tuple" or t == "list":
            if not isinstance(x, list) or len(x) > _MAX_LEN:
                raise _Refused(f"a {t} attribute is not a list of values")
            items = [self.decode(i, depth + 1) for i in x]
            return tuple(items) if t == "tuple" else items
        if t == "float":
            if x not in ("nan", "inf", "-inf"):
                raise _Refused(f"float attribute {str(x)[:20]!r} is not nan, inf or -inf")
            return float(x)
        if t == "complex":
            if not isinstance(x, list) or len(x) != 2:
                raise _Refused("a complex attribute needs [real, imag]")
            re_, im = (self.decode(i, depth + 1) for i in x)
            if not all(isinstance(p, (int, float)) and not isinstance(p, bool)
                       for p in (re_, im)):
                raise _Refused("a complex attribute's parts must be numbers")
            return complex(re_, im)
        if t == "dtype":
            return _parse_dtype(x)
        if t == "scalar":
            arr = self.tensor(x)
            if arr.ndim != 0:
                raise _Refused(f"scalar attribute {x!r} is not 0-d")
            return arr[()]
        if t == "ndarray":
            return self.tensor(x)
        if t == "ellipsis":
            return Ellipsis
        if t == "slice":
            if not isinstance(x, list) or len(x) != 3:
                raise _Refused("a slice attribute needs [start, stop, step]")
            parts = [self.decode(i, depth + 1) for i in x]
            if not all(p is None or type(p) is int for p in parts):
                raise _Refused("a slice's start, stop and step must be ints or null")
            return slice(*parts)
        if t == "dict":
            if not isinstance(x, list) or len(x) > _MAX_LEN or not all(
                    isinstance(p, list) and len(p) == 2 for p in x):
                raise _Refused("a dict attribute needs a list of [key, value] pairs")
            out = {}
            for k, val in x:
                k = self.decode(k, depth + 1)
                try:
                    hash(k)
                except TypeError:
                    raise _Refused("a dict attribute's key is not hashable") from None
                out[k] = self.decode(val, depth + 1)
            return out
        raise _Refused(f"an attribute has the unknown type tag {t[:30]!r}")


# ------------------------------------------------------------------ save

def _signatures(f, signatures):
    """{signature name: ConcreteFunction} to save."""
    from fasttape.function import ConcreteFunction, Function, TensorSpec

    def concrete(x, what):
        if isinstance(x, ConcreteFunction):
            return x
        if isinstance(x, Function):
            if x.input_signature is not None:
                return x.get_concrete_function()
            traces = list(dict.fromkeys(x._cache.values()))
            if len(traces) != 1:
                raise ValueError(
                    f"ft.saved_function.save: {what} ({x!r}) has {len(traces)} traces and no "
                    "input_signature; pass signatures= (a list of ft.TensorSpec, a "
                    "ConcreteFunction, or a dict of them)")
            return traces[0]
        raise TypeError(f"ft.saved_function.save: {what} must be an ft.function or a "
                        f"ConcreteFunction, got {_errors.describe(x)}")

    if signatures is None:
        return {"serving_default": concrete(f, "the function")}
    if isinstance(signatures, (list, tuple)) and all(
            isinstance(s, TensorSpec) for s in signatures):
        if not isinstance(f, Function):
            raise TypeError("ft.saved_function.save: signatures given as TensorSpecs need an "
                            f"ft.function to trace, got {_errors.describe(f)}")
        return {"serving_default": f.get_concrete_function(*signatures)}
    if not isinstance(signatures, dict):
        signatures = {"serving_default": signatures}
    out = {}
    for name, s in signatures.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"ft.saved_function.save: signature names are str, got {name!r}")
        if isinstance(s, (list, tuple)):
            if not isinstance(f, Function):
                raise TypeError(f"ft.saved_function.save: signature {name!r} is a list of specs "
                                "but the function is not an ft.function")
            out[name] = f.get_concrete_function(*s)
        else:
            out[name] = concrete(s, f"signature {name!r}")
    return out


def _is_serializable(op_def):
    """Whether table entry `op_def` is data: not marked as calling Python
    (graph.mark_python_call: py_func, deferred VJPs) and found by its name."""
    return (op_def.name not in _NOT_SERIALIZABLE
            and op_def.index not in getattr(_graph, "_PYTHON_CALL_OPS", ())
            and getattr(op_def, "serializable", True) is not False
            and _op_table().get(op_def.name) is op_def)


def _variable_ref(v, variables, where):
    """A variable attribute in the file: its index in `variables`."""
    if getattr(v, "_graph_var", None) is not None:
        raise ValueError(f"ft.saved_function.save: {where} uses the graph variable "
                         f"'{v.name}', whose value lives in a Session")
    if v.ref() not in variables:
        variables[v.ref()] = (len(variables), v)
    return {"t": "variable", "v": variables[v.ref()][0]}


def _function_json(cf, enc, variables):
    from fasttape.function import _plan_operations

    index = {}   # symbolic tensor -> [node, output]
    nodes = []
    for k, node in enumerate(_plan_operations(cf.graph, cf.outputs)):
        kind = node.type
        where = f"node '{node.name}' ({kind}){_where(node)}"
        entry = {"name": node.name, "op": kind}
        if node.op_def is None:
            if kind == "Placeholder":
                dt, shape = node.attrs
                attrs = [{"t": "dtype", "v": _dtype_str(dt)},
                         None if shape.rank is None else list(shape)]
            elif kind == "Const":
                attrs = [{"t": "ndarray", "v": enc.add_tensor(node.attrs[0], "const")}]
            elif kind in _VARIABLE_NODES:
                attrs = [_variable_ref(node.attrs[0], variables, where)]
            elif kind in NODE_BUILDERS:
                attrs = [_variable_ref(a, variables, where) if isinstance(a, _core.Variable)
                         else enc.encode(a, "an attribute") for a in node.attrs]
            else:
                raise ValueError(f"ft.saved_function.save: {where} is not an op of the table "
                                 "and cannot be saved")
        else:
            if getattr(node, "calls_python", False) or not _is_serializable(node.op_def):
                raise ValueError(
                    f"ft.saved_function.save: {where} calls back into Python (or is not in the "
                    "op table) and cannot be saved as data; a graph holding it cannot be "
                    "loaded without its source")
            names = node.op_def.attr_names
            attrs = []
            for i, a in enumerate(node.attrs):
                label = names[i] if i < len(names) else f"#{i}"
                try:
                    attrs.append(enc.encode(a, f"attribute {label!r}"))
                except TypeError as e:
                    raise TypeError(f"ft.saved_function.save: {where}: {e}") from None
        entry["inputs"] = [index[t] for t in node.inputs]
        entry["attrs"] = attrs
        entry["outputs"] = [{"dtype": _dtype_str(t.dtype),
                             "shape": None if t.shape.rank is None else list(t.shape)}
                            for t in node.outputs]
        for j, t in enumerate(node.outputs):
            index[t] = [k, j]
        nodes.append(entry)

    def structure(s):
        if _core.is_symbolic(s):
            return {"t": "output", "v": next(i for i, o in enumerate(cf.outputs) if o is s)}
        if isinstance(s, dict):
            return {"t": "dict", "v": [[enc.encode(k, "an output's key"), structure(s[k])]
                                       for k in s]}
        if isinstance(s, (list, tuple)):
            return {"t": "list" if isinstance(s, list) else "tuple",
                    "v": [structure(x) for x in s]}
        return enc.encode(s, "a returned Python value")

    return {"name": cf.name,
            "nodes": nodes,
            "inputs": [index[p][0] for p in cf.inputs],
            "outputs": [index[t] for t in cf.outputs],
            "structure": structure(cf.structured_outputs)}


def save(f, path, signatures=None):
    """Writes traced function `f` (an ft.function or a ConcreteFunction) to
    the file `path`: its graph(s) and the current values of the variables
    they read, as data (Note [Saved function format]).

    `signatures`: None (`f`'s one trace, or its input_signature's), a list of
    ft.TensorSpec to trace `f` with, a ConcreteFunction, or a dict
    {name: ConcreteFunction or list of TensorSpec} to save several. Raises
    ValueError naming the node for a graph holding a node that calls back
    into Python (py_func) and TypeError naming the node and attribute for an
    attribute that is not data.

    >>> import fasttape as ft, numpy as np, os, tempfile
    >>> w = ft.Variable(np.ones((3, 2), np.float32))
    >>> @ft.function(input_signature=[ft.TensorSpec([None, 3])])
    ... def f(x):
    ...     return ft.nn.relu(x @ w)
    >>> path = os.path.join(tempfile.mkdtemp(), "f.ftsf")
    >>> ft.saved_function.save(f, path)
    >>> ft.saved_function.load(path)(np.ones((1, 3), np.float32)).numpy()
    array([[3., 3.]], dtype=float32)
    """
    sigs = _signatures(f, signatures)
    enc = _Encoder()
    variables = {}
    functions = {name: _function_json(cf, enc, variables) for name, cf in sigs.items()}
    var_entries = []
    tensors = {}
    for _, (i, v) in sorted(variables.items(), key=lambda kv: kv[1][0]):
        key = f"variables/{i}"
        tensors[key] = np.asarray(_core.tensor_value(v))
        var_entries.append({"name": v.name.rsplit(":", 1)[0], "tensor": key,
                            "trainable": bool(v.trainable)})
    tensors.update(enc.tensors)
    table = {k: {"dtype": _dtype_str(a.dtype), "shape": list(np.shape(a))}
             for k, a in tensors.items()}
    doc = {"format": FORMAT, "version": VERSION, "functions": functions,
           "variables": var_entries, "tensors": table}
    graph = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    _write_container(os.fspath(path), tensors,
                     {"format": FORMAT, "version": str(VERSION), "graph": graph})


# ------------------------------------------------------------------ load

_TABLE = {}


def _op_table():
    if not _TABLE:
        _TABLE.update({op.name: op for op in _core.registered_ops()})
    return _TABLE


class SavedFunction:
    """What ft.saved_function.load returns: `signatures` {name: a callable
    ConcreteFunction}, the eager `variables` the functions read, and calling
    it calls the signature "serving_default" (or the only one)."""

    def __init__(self, signatures, variables, path):
        self.signatures = signatures
        self.variables = variables
        self.trainable_variables = [v for v in variables if v.trainable]
        self._path = path

    def __call__(self, *args, **kwargs):
        fn = self.signatures.get("serving_default")
        if fn is None:
            if len(self.signatures) != 1:
                raise TypeError(f"saved function {self._path!r} has signatures "
                                f"{sorted(self.signatures)}; call one of .signatures[...]")
            fn = next(iter(self.signatures.values()))
        return fn(*args, **kwargs)

    def __repr__(self):
        return f"<ft.saved_function {self._path!r}: {sorted(self.signatures)}>"


def _tensors(doc, entries, budget):
    table = doc.get("tensors")
    if not isinstance(table, dict) or set(table) != set(entries):
        raise _Refused("the graph's tensor table does not list the file's tensors")
    out = {}
    for key, t in table.items():
        if not isinstance(t, dict):
            raise _Refused(f"tensor {key[:60]!r}: its table entry is not an object")
        dt = _parse_dtype(t.get("dtype"))
        shape = _parse_shape(t.get("shape"), f"tensor {key[:60]!r}", allow_unknown=False)
        code, st_shape, raw = entries[key]
        nbytes = math.prod(shape) * dt.itemsize
        if nbytes > budget:
            raise _Refused(f"tensor {key[:60]!r} of shape {shape} has {nbytes} bytes, more "
                           f"than max_tensor_bytes={budget}")
        native = _ST_CODES.get(dt.kind + str(dt.itemsize))
        if native is not None and (code != native or st_shape != shape) or \
                native is None and (code != "U8" or st_shape != (nbytes,)):
            raise _Refused(f"tensor {key[:60]!r}: stored as {code}{list(st_shape)}, but the "
                           f"graph says {dt.str}{list(shape)}")
        arr = np.frombuffer(raw, dtype=dt.newbyteorder("<") if dt.byteorder != "|" else dt,
                            count=math.prod(shape)).reshape(shape)
        out[key] = arr.astype(dt.newbyteorder("="), copy=False)
    return out


def _ref(x, n_nodes_built, outputs, what):
    if (not isinstance(x, list) or len(x) != 2 or type(x[0]) is not int
            or type(x[1]) is not int or not 0 <= x[0] < n_nodes_built):
        raise _Refused(f"{what} is not [an earlier node, an output index]")
    outs = outputs[x[0]]
    if not 0 <= x[1] < len(outs):
        raise _Refused(f"{what} names output {x[1]} of a node with {len(outs)}")
    return outs[x[1]]


def _check_outputs(entry, outs, budget):
    recorded = entry.get("outputs")
    if not isinstance(recorded, list) or len(recorded) != len(outs):
        raise _Refused("the file's output list does not match the op's outputs")
    for j, (r, t) in enumerate(zip(recorded, outs)):
        if not isinstance(r, dict):
            raise _Refused(f"output {j}: not an object")
        dt = _parse_dtype(r.get("dtype"))
        shape = r.get("shape")
        shape = None if shape is None else _parse_shape(shape, f"output {j}")
        got = None if t.shape.rank is None else tuple(t.shape)
        if dt != t.dtype or shape != got:
            raise _Refused(f"output {j}: the file says {dt.name} {shape}, the op's shape and "
                           f"dtype rules give {t.dtype.name} {got}")
        if got is not None:
            known = math.prod(d for d in got if d is not None)
            if known * t.dtype.itemsize > budget:
                raise _Refused(f"output {j} of shape {got} has more than "
                               f"max_tensor_bytes={budget} bytes")


def _build(name, fdoc, dec, variables, budget):
    from fasttape.function import ConcreteFunction

    if not isinstance(fdoc, dict) or not isinstance(fdoc.get("nodes"), list):
        raise _Refused("its entry has no node list")
    table = _op_table()
    g = _graph.Graph()
    g._ft_function = name
    outputs = []   # per node: its output tensors
    constant = set()   # tensors computed from constants only: folded at load
    folded = 0         # their bytes (Note [Loading hostile files])
    fold_budget = min(budget, MAX_FOLDED_BYTES)
    placeholders = {}
    with g.as_default():
        for k, entry in enumerate(fdoc["nodes"]):
            if not isinstance(entry, dict):
                raise _Refused(f"node #{k} is not an object")
            nname, op = entry.get("name"), entry.get("op")
            label = f"node #{k} {str(nname)[:80]!r} ({str(op)[:40]})"
            try:
                if not isinstance(nname, str) or not isinstance(op, str):
                    raise _Refused("its name and op must be strings")
                attrs = entry.get("attrs")
                ins = entry.get("inputs")
                if not isinstance(attrs, list) or not isinstance(ins, list):
                    raise _Refused("inputs and attrs must be lists")
                ins = [_ref(x, k, outputs, f"input {i}") for i, x in enumerate(ins)]
                outs = _build_node(g, op, nname, ins, attrs, dec, variables, table)
                _check_outputs(entry, outs, budget)
            except _Refused as e:
                raise _Refused(f"{label}: {e}") from None
            except (Exception, RecursionError) as e:  # noqa: BLE001  (any op error: invalid)
                raise _Refused(f"{label}: {type(e).__name__}: {str(e)[:300]}") from None
            outputs.append(outs)
            if op == "Placeholder":
                placeholders[k] = outs[0]
            elif op == "Const" or op in table and not table[op].stateful and all(
                    t in constant for t in ins):
                constant.update(outs)
                if op != "Const":
                    folded += sum(math.prod(t.shape) * t.dtype.itemsize for t in outs)
                    if folded > fold_budget:
                        raise _Refused(f"{label}: the nodes computed from constants alone "
                                       f"(when the graph compiles) exceed {fold_budget} bytes")
    ins = fdoc.get("inputs")
    if not isinstance(ins, list) or len(set(map(repr, ins))) != len(ins) or not all(
            type(i) is int and i in placeholders for i in ins):
        raise _Refused("its inputs are not distinct placeholder nodes")
    feeds = [placeholders[i] for i in ins]
    outs = fdoc.get("outputs")
    if not isinstance(outs, list):
        raise _Refused("its outputs are not a list")
    results = [_ref(x, len(outputs), outputs, f"output {i}") for i, x in enumerate(outs)]
    structure = _structure(fdoc.get("structure"), results, dec, 0)
    g.finalize()
    try:
        from fasttape import session as _session
        plan = _core.build_plan(g.get_operations(), feeds, results,
                                special=_session.function_node)
    except (Exception, RecursionError) as e:  # noqa: BLE001
        raise _Refused(f"its graph does not compile: {type(e).__name__}: {str(e)[:300]}") \
            from None
    n = len(feeds)
    paths = [p.op.name for p in feeds]

    def bind(args, kwargs):
        if kwargs:
            extra = set(kwargs) - set(paths)
            if extra or len(args) + len(kwargs) != n:
                raise TypeError(f"saved function {name}: takes the tensors {paths}, got "
                                f"{len(args)} positional and keywords {sorted(kwargs)}")
            args = tuple(args) + tuple(kwargs[p] for p in paths[len(args):])
        from fasttape import nest
        flat = nest.flatten(list(args))
        if len(flat) != n:
            raise TypeError(f"saved function {name}: takes {n} tensor argument"
                            f"{'s' if n != 1 else ''} {paths}, got {len(flat)}")
        return list(zip(paths, flat)), ("saved",)

    cf = ConcreteFunction(g, feeds, structure, results, ("saved",), paths, bind, plan, name)
    plan.set_layout([None] * n)
    return cf


def _is_variable_ref(a, variables):
    return (isinstance(a, dict) and a.get("t") == "variable" and type(a.get("v")) is int
            and 0 <= a["v"] < len(variables))


def _build_node(g, op, nname, ins, attrs, dec, variables, table):
    if op == "Placeholder":
        if ins or len(attrs) != 2:
            raise _Refused("a placeholder has no inputs and attrs [dtype, shape]")
        dt = dec.decode(attrs[0])
        if not isinstance(dt, np.dtype):
            raise _Refused("a placeholder's dtype attribute is not a dtype")
        shape = None if attrs[1] is None else _parse_shape(attrs[1], "placeholder")
        return [_graph.placeholder(dt, shape, name=nname)]
    if op == "Const":
        if ins or len(attrs) != 1:
            raise _Refused("a Const has no inputs and attrs [tensor]")
        value = dec.decode(attrs[0])
        if not isinstance(value, np.ndarray):
            raise _Refused("a Const's value is not a tensor")
        return g._add_op("Const", None, (), (value,), nname, [value.shape], [value.dtype],
                         scoped=False).outputs
    if op in NODE_BUILDERS:
        values = [variables[a["v"]] if _is_variable_ref(a, variables) else dec.decode(a)
                  for a in attrs]
        try:
            return NODE_BUILDERS[op](g, nname, ins, values).outputs
        except ValueError as e:
            raise _Refused(str(e)) from None
    if op in _VARIABLE_NODES:
        a = attrs[0] if len(attrs) == 1 else None
        n_in = 0 if op == "ReadVariableOp" else 1
        if len(ins) != n_in or not _is_variable_ref(a, variables):
            raise _Refused(f"a {op} has {n_in} input{'s' if n_in != 1 else ''} and attrs "
                           "[a variable of the file]")
        v = variables[a["v"]]
        if op == "ReadVariableOp":
            return [_graph._read_variable_node(g, v)]
        value = ins[0]
        if value.dtype != v.dtype or value.shape.rank is None or tuple(value.shape) != tuple(
                v.shape):
            raise _Refused(f"{op} of variable '{v.name}' {v.dtype.name} {tuple(v.shape)} is "
                           f"given a value of {value.dtype.name} {value.shape}")
        return g._add_op(op, None, (value,), (v,), nname, [tuple(v.shape)], [v.dtype]).outputs
    op_def = table.get(op)
    if op_def is None or not _is_serializable(op_def):
        raise _Refused(f"{op[:40]!r} is not an op of fasttape's table that can be loaded")
    if not op_def.variadic and len(ins) != len(op_def.input_names):
        raise _Refused(f"{op} takes {len(op_def.input_names)} inputs "
                       f"{op_def.input_names}, the file gives {len(ins)}")
    if len(attrs) != len(op_def.attr_names):
        raise _Refused(f"{op} takes {len(op_def.attr_names)} attributes "
                       f"{op_def.attr_names}, the file gives {len(attrs)}")
    values = tuple(dec.decode(a) for a in attrs)
    with _graph.op_name(nname, op_def):
        out = _graph._stage(op_def, ins, values)
    return [out] if op_def.n_out == 1 else list(out)


def _structure(s, results, dec, depth):
    if depth > _MAX_DEPTH:
        raise _Refused(f"the output structure is nested deeper than {_MAX_DEPTH} levels")
    if isinstance(s, dict) and s.get("t") == "output":
        i = s.get("v")
        if type(i) is not int or not 0 <= i < len(results):
            raise _Refused("the output structure names an output the function has not")
        return results[i]
    if isinstance(s, dict) and s.get("t") in ("list", "tuple") and isinstance(s.get("v"), list):
        items = [_structure(x, results, dec, depth + 1) for x in s["v"]]
        return items if s["t"] == "list" else tuple(items)
    if isinstance(s, dict) and s.get("t") == "dict" and isinstance(s.get("v"), list):
        out = {}
        for p in s["v"]:
            if not isinstance(p, list) or len(p) != 2:
                raise _Refused("the output structure's dict is not [key, value] pairs")
            k = dec.decode(p[0])
            if not isinstance(k, (str, int, float, bool, type(None))):
                raise _Refused("the output structure's dict has a key that is not a scalar")
            out[k] = _structure(p[1], results, dec, depth + 1)
        return out
    return dec.decode(s, depth)


def load(path, max_tensor_bytes=MAX_TENSOR_BYTES):
    """Loads a file written by ft.saved_function.save: a SavedFunction whose
    `signatures` run with NumPy and fasttape only (no pickle, no eval, no
    source of the saved code). Each call takes the traced function's tensor
    arguments, flat and in order (or by their placeholder names as
    keywords), and returns its outputs' structure (namedtuples come back
    as tuples).

    Raises ft.errors.InvalidSavedFunctionError, naming the file, for any
    file that is not a valid saved function of this format version (Note
    [Loading hostile files]); `max_tensor_bytes` caps any one tensor's size
    (stored, or a node's static output) before anything is allocated."""
    p = os.fspath(path)
    try:
        with open(p, "rb") as f:
            data = f.read()
    except OSError as e:
        raise _invalid(p, f"cannot be read ({e.strerror or e})") from None
    try:
        return _load(p, data, int(max_tensor_bytes))
    except _Refused as e:
        raise _invalid(p, str(e)) from None
    except (Exception, RecursionError) as e:  # noqa: BLE001  (a check this loader lacks)
        raise _invalid(p, f"{type(e).__name__} escaped the loader's checks: {str(e)[:200]}") \
            from None


def _load(path, data, budget):
    meta, entries = _read_container(data)
    if meta.get("format") != FORMAT:
        raise _Refused(f"its header's format is {str(meta.get('format'))[:60]!r}, not {FORMAT!r} "
                       "(a safetensors file, but not a saved function)")
    version = meta.get("version")
    if version != str(VERSION):
        raise _Refused(f"format version {str(version)[:20]!r}: this fasttape reads version "
                       f"{VERSION}" + (" (the file is newer: upgrade fasttape)"
                                       if isinstance(version, str) and version.isdigit()
                                       and int(version) > VERSION else ""))
    doc = _json(meta.get("graph", ""), "the graph")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise _Refused("the graph document's format or version disagrees with the header")
    dec = _Decoder(_tensors(doc, entries, budget))
    var_docs = doc.get("variables")
    if not isinstance(var_docs, list):
        raise _Refused("the variables are not a list")
    variables = []
    for i, v in enumerate(var_docs):
        if not isinstance(v, dict) or not isinstance(v.get("name"), str) or not isinstance(
                v.get("trainable"), bool):
            raise _Refused(f"variable #{i} needs a name and trainable")
        value = dec.tensor(v.get("tensor"))
        try:
            variables.append(_core.Variable(np.array(value), name=v["name"][:200] or None,
                                            trainable=v["trainable"]))
        except (Exception, RecursionError) as e:  # noqa: BLE001
            raise _Refused(f"variable #{i}: {type(e).__name__}: {str(e)[:200]}") from None
    fns = doc.get("functions")
    if not isinstance(fns, dict) or not fns:
        raise _Refused("it holds no functions")
    signatures = {}
    for name, fdoc in fns.items():
        try:
            signatures[name] = _build(name, fdoc, dec, variables, budget)
        except _Refused as e:
            raise _Refused(f"signature {name[:60]!r}: {e}") from None
    return SavedFunction(signatures, variables, path)
