# cython: freethreading_compatible = False
"""fasttape's compiled core: Tensor, Variable, the op registry and dispatch fast
path, the Tape over the C log in csrc/, and the reverse sweep.

Everything above this module (fasttape/ops, backprop, the training stack) talks
to it through `register_op`, `OpDef.apply`, `set_operator` and the classes below.
"""

cimport cython
cimport numpy as cnp
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from fasttape._core._ctape cimport *

import inspect
import os
import warnings

import numpy as np

from fasttape import errors as _errors

cnp.import_array()

cdef extern from "numpy/arrayobject.h":
    int NPY_USERDEF

cdef extern from *:
    """
    /* Per-thread depth of reverse sweeps in progress: ops that VJPs run are
       not user code, so they are not logged as dead ends. */
    static __thread int ft_sweeping_ = 0;
    static inline void ft_sweep_enter(void) { ft_sweeping_++; }
    static inline void ft_sweep_exit(void) { ft_sweeping_--; }
    static inline int ft_in_sweep(void) { return ft_sweeping_; }
    """
    void ft_sweep_enter() nogil
    void ft_sweep_exit() nogil
    int ft_in_sweep() nogil

cdef extern from "Python.h":
    ctypedef struct PyListObject:
        PyObject **ob_item
    object PyObject_Vectorcall(object callable, PyObject **args, size_t nargsf, PyObject *kwnames)
    Py_ssize_t Py_REFCNT(PyObject *o)

# Note [Caching allocator]
# ~~~~~~~~~~~~~~~~~~~~~~~~
# glibc returns blocks of 128 KiB and more to the kernel on free, so every
# large temporary of a training step page-faults afresh (PyTorch avoids this
# with its own caching allocator). At import, fasttape installs the caching
# allocator of csrc/fasttape_alloc.c as NumPy's data allocator through NEP 49
# (PyDataMem_SetHandler): freed blocks of 64 KiB and more are kept, by size
# class, up to 256 MiB, and reused. NumPy records each array's handler, so
# arrays made before the import are freed by their own. The handler lives in
# a context variable: it applies to the importing thread's context (threads
# started later use NumPy's default unless they call set_allocator). Set
# FASTTAPE_ALLOCATOR=0 to keep NumPy's default allocator.

cdef extern from "fasttape_alloc.h":
    void ft_alloc_set_limit(size_t bytes)
    void ft_alloc_trim()
    void ft_alloc_stats(size_t *cached, uint64_t *hits, uint64_t *misses)

cdef extern from *:
    """
    static PyDataMem_Handler ft_data_handler = {
        "fasttape_caching_allocator", 1,
        {NULL, ft_alloc_malloc, ft_alloc_calloc, ft_alloc_realloc, ft_alloc_free}
    };
    /* Makes fasttape's allocator NumPy's in the current context; returns the
       previous handler (a new reference) or NULL with an exception set. */
    static PyObject *ft_install_allocator(void) {
        PyObject *cap = PyCapsule_New(&ft_data_handler, "mem_handler", NULL);
        if (cap == NULL) return NULL;
        PyObject *old = PyDataMem_SetHandler(cap);
        Py_DECREF(cap);
        return old;
    }
    """
    object ft_install_allocator()


def set_allocator(bint enabled=True, limit_bytes=None):
    """Installs (or, with enabled=False, removes) fasttape's caching allocator
    for NumPy array data in the calling thread's context; `limit_bytes` caps
    what it keeps (0 empties it). See Note [Caching allocator]."""
    if limit_bytes is not None:
        ft_alloc_set_limit(<size_t>limit_bytes)
    if enabled:
        ft_install_allocator()
    else:
        ft_default_allocator()


cdef extern from *:
    """
    static PyObject *ft_default_allocator(void) {
        return PyDataMem_SetHandler(NULL);
    }
    """
    object ft_default_allocator()


def allocator_stats():
    """(bytes cached, allocations served from the cache, allocations from malloc)."""
    cdef size_t cached
    cdef uint64_t hits, misses
    ft_alloc_stats(&cached, &hits, &misses)
    return cached, hits, misses


def trim_allocator():
    """Frees every block the caching allocator holds."""
    ft_alloc_trim()


# Note [Tape ownership]
# ~~~~~~~~~~~~~~~~~~~~~
# The C tape (csrc/) holds ids, op numbers and shapes, never a Python object.
# The values a VJP needs are kept by the owning Tape in its `_saved` list and
# found through ft_entry_t.saved. Tensors never refer to a tape, and a tape
# refers only to the tensors it saved, so there are no reference cycles: all
# memory is freed by reference counting. A non-persistent tape drops each saved
# value as soon as the sweep has used it, and clears everything after the sweep.

cdef int _F_VARIABLE = 1   # mutable: snapshot the value when a tape saves it
cdef int _F_TRAINABLE = 2  # a tape that watches accessed variables watches it on use

cdef int64_t _next_id = 1  # one process-wide counter; bumped with the GIL held

cdef inline int64_t _new_id() noexcept:
    global _next_id
    _next_id += 1
    return _next_id


cdef inline bint _is_float_array(object arr) noexcept:
    return cnp.PyArray_ISFLOAT(<cnp.ndarray>arr) or cnp.PyArray_ISCOMPLEX(<cnp.ndarray>arr)


# ------------------------------------------------------------------ Tensor

@cython.freelist(256)
cdef class Tensor:
    """An immutable n-dimensional array with a concrete value (eager mode).

    Create tensors with `ft.constant` or `ft.convert_to_tensor`; ops return them.

    >>> import fasttape as ft
    >>> ft.constant([1.0, 2.0]) * 2
    <ft.Tensor shape=(2,) dtype=float32 numpy=[2. 4.]>
    """

    cdef object _value  # an ndarray, never written to once wrapped
    cdef int64_t _id
    cdef int _flags
    cdef object __weakref__

    __array_priority__ = 100

    def __init__(self, *args, **kwargs):
        raise TypeError(
            "ft.Tensor cannot be created directly; use ft.constant(value) or "
            "ft.convert_to_tensor(value)")

    # --- attributes --------------------------------------------------------
    @property
    def shape(self):
        """The shape, a tuple of ints."""
        return self._value.shape

    @property
    def dtype(self):
        """The element type, a NumPy dtype (`ft.float32` is `np.dtype('float32')`)."""
        return self._value.dtype

    @property
    def ndim(self):
        return cnp.PyArray_NDIM(<cnp.ndarray>self._value)

    @property
    def size(self):
        return cnp.PyArray_SIZE(<cnp.ndarray>self._value)

    @property
    def T(self):
        return _call_special("transpose", (self,))

    def numpy(self):
        """The value as a read-only NumPy array sharing the tensor's memory.

        Use `np.array(t)` for a writable copy.
        """
        if ft_tls_depth():
            _note_exit(self, ".numpy()")
        view = self._value.view()
        view.flags.writeable = False
        return view

    def __array__(self, dtype=None, copy=None):
        if copy:
            return np.array(self._value, dtype=dtype, copy=True)
        view = self.numpy()
        if dtype is not None and view.dtype != dtype:
            if copy is False:
                raise ValueError("ft.Tensor: a cast to another dtype needs a copy")
            return view.astype(dtype)
        return view

    def __len__(self):
        if cnp.PyArray_NDIM(<cnp.ndarray>self._value) == 0:
            raise TypeError("len() of a 0-d ft.Tensor (a scalar) is undefined")
        return self._value.shape[0]

    def __bool__(self):
        if cnp.PyArray_SIZE(<cnp.ndarray>self._value) != 1:
            raise ValueError(
                f"the truth value of an ft.Tensor with {self._value.size} elements is "
                "ambiguous; use ft.reduce_any or ft.reduce_all")
        return bool(self._value)

    def __float__(self):
        return float(self._one_element("float"))

    def __int__(self):
        return int(self._one_element("int"))

    def __index__(self):
        if self._value.dtype.kind not in "iub":
            raise TypeError(f"only integer ft.Tensors can be used as an index, not {self._value.dtype}")
        return int(self._one_element("index"))

    cdef object _one_element(self, str what):
        if ft_tls_depth():
            _note_exit(self, f"{what}()")
        if cnp.PyArray_SIZE(<cnp.ndarray>self._value) != 1:
            raise TypeError(
                f"{what}() needs a one-element ft.Tensor, not shape {self._value.shape}")
        return self._value.reshape(())[()]

    def __iter__(self):
        if cnp.PyArray_NDIM(<cnp.ndarray>self._value) == 0:
            raise TypeError("iteration over a 0-d ft.Tensor")
        for i in range(self._value.shape[0]):
            yield _call_special("getitem", (self, i,))

    def __repr__(self):
        # str(), not format(): a 0-d array formats as its float64 Python value
        return (f"<ft.Tensor shape={self._value.shape} dtype={self._value.dtype.name} "
                f"numpy={str(self._value)}>")

    def __str__(self):
        return (f"ft.Tensor({str(self._value)}, shape={self._value.shape}, "
                f"dtype={self._value.dtype.name})")

    def __reduce__(self):
        return (_constant_from_array, (np.array(self._value),))

    def ref(self):
        """A hashable reference to this object (Tensors compare elementwise)."""
        return Reference(self)

    def __hash__(self):
        raise TypeError("ft.Tensor is unhashable (== compares elementwise); use t.ref() as a key")

    # --- operators ---------------------------------------------------------
    def __add__(self, other): return _binary(_OP_ADD, self, other)
    def __radd__(self, other): return _binary(_OP_ADD, other, self)
    def __sub__(self, other): return _binary(_OP_SUB, self, other)
    def __rsub__(self, other): return _binary(_OP_SUB, other, self)
    def __mul__(self, other): return _binary(_OP_MUL, self, other)
    def __rmul__(self, other): return _binary(_OP_MUL, other, self)
    def __truediv__(self, other): return _binary(_OP_DIV, self, other)
    def __rtruediv__(self, other): return _binary(_OP_DIV, other, self)
    def __floordiv__(self, other): return _binary(_OP_FLOORDIV, self, other)
    def __rfloordiv__(self, other): return _binary(_OP_FLOORDIV, other, self)
    def __mod__(self, other): return _binary(_OP_MOD, self, other)
    def __rmod__(self, other): return _binary(_OP_MOD, other, self)
    def __pow__(self, other, mod):
        if mod is not None:
            return NotImplemented
        return _binary(_OP_POW, self, other)
    def __rpow__(self, other, mod):
        if mod is not None:
            return NotImplemented
        return _binary(_OP_POW, other, self)
    def __matmul__(self, other): return _binary(_OP_MATMUL, self, other)
    def __rmatmul__(self, other): return _binary(_OP_MATMUL, other, self)
    def __and__(self, other): return _binary(_OP_AND, self, other)
    def __rand__(self, other): return _binary(_OP_AND, other, self)
    def __or__(self, other): return _binary(_OP_OR, self, other)
    def __ror__(self, other): return _binary(_OP_OR, other, self)
    def __xor__(self, other): return _binary(_OP_XOR, self, other)
    def __rxor__(self, other): return _binary(_OP_XOR, other, self)
    def __neg__(self): return _unary(_OP_NEG, self)
    def __abs__(self): return _unary(_OP_ABS, self)
    def __invert__(self): return _unary(_OP_INVERT, self)
    def __pos__(self): return self

    def __eq__(self, other):
        if other is None:
            return False
        return _binary(_OP_EQ, self, other)
    def __ne__(self, other):
        if other is None:
            return True
        return _binary(_OP_NE, self, other)
    def __lt__(self, other): return _binary(_OP_LT, self, other)
    def __le__(self, other): return _binary(_OP_LE, self, other)
    def __gt__(self, other): return _binary(_OP_GT, self, other)
    def __ge__(self, other): return _binary(_OP_GE, self, other)

    def __getitem__(self, key):
        return _call_special("getitem", (self, key,))

    # --- NumPy protocol ----------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _call_special("array_ufunc", (ufunc, method, inputs, kwargs,))

    def __array_function__(self, func, types, args, kwargs):
        return _call_special("array_function", (func, types, args, kwargs,))


cdef class Reference:
    """A hashable handle on a Tensor or Variable, by identity (see `Tensor.ref`)."""
    cdef readonly object _obj

    def __init__(self, obj):
        self._obj = obj

    def deref(self):
        return self._obj

    def __hash__(self):
        return id(self._obj)

    def __eq__(self, other):
        return isinstance(other, Reference) and (<Reference>other)._obj is self._obj


cdef inline Tensor _wrap(object arr):
    """A new Tensor owning `arr` (an ndarray the caller hands over)."""
    cdef Tensor t = Tensor.__new__(Tensor)
    t._value = arr
    t._id = _new_id()
    return t


cdef inline object _as_array(object out):
    if cnp.PyArray_CheckExact(out):
        return out
    return cnp.PyArray_FROM_O(out)


def wrap_array(arr):
    """A Tensor holding ndarray `arr` without a copy (internal: the caller must
    not write to `arr` afterwards)."""
    return _wrap(_as_array(arr))


def tensor_value(Tensor t):
    """The ndarray inside `t` (internal: never write to it)."""
    return t._value


def tensor_id(Tensor t):
    return t._id


def _constant_from_array(arr):
    return _wrap(arr)


# ---------------------------------------------------------------- Variable

cdef class Variable(Tensor):
    """A mutable tensor-like value: model parameters and other state.

    Trainable variables are watched automatically by a `GradientTape` when an
    op reads them.

    >>> import fasttape as ft
    >>> v = ft.Variable([1.0, 2.0])
    >>> _ = v.assign_add([1.0, 1.0])
    >>> v.numpy()
    array([2., 3.], dtype=float32)
    """

    cdef readonly str name
    cdef readonly bint trainable

    def __init__(self, initial_value=None, trainable=True, name=None, dtype=None, shape=None):
        if initial_value is None:
            raise ValueError("ft.Variable: initial_value must be given")
        if callable(initial_value):
            initial_value = initial_value()
        cdef Tensor t = convert_to_tensor(initial_value, dtype)
        # A private, writable copy: assign_* may then update it in place.
        self._value = np.array(t._value, copy=True)
        if shape is not None and tuple(shape) != self._value.shape:
            raise ValueError(
                f"ft.Variable: initial value of shape {self._value.shape} does not match "
                f"shape {tuple(shape)}")
        self._id = _new_id()
        self.trainable = bool(trainable)
        self._flags = _F_VARIABLE
        if self.trainable and _is_float_array(self._value):
            self._flags |= _F_TRAINABLE
        self.name = (name or "Variable") + ":0"

    def __repr__(self):
        return (f"<ft.Variable '{self.name}' shape={self._value.shape} "
                f"dtype={self._value.dtype.name} numpy={str(self._value)}>")

    def __reduce__(self):
        return (Variable, (np.array(self._value), self.trainable, self.name.rsplit(":", 1)[0]))

    def __str__(self):
        return self.__repr__()

    def read_value(self):
        """The current value as a Tensor (a snapshot: later assigns do not change it)."""
        return _variable_snapshot(self, True)

    def value(self):
        return _variable_snapshot(self, True)

    cdef object _checked(self, value, str what):
        cdef Tensor t = convert_to_tensor(value, self._value.dtype)
        if t._value.shape != self._value.shape:
            if t._value.size == 1 and self._value.size == 1:
                return t._value.reshape(self._value.shape)
            raise ValueError(
                f"Variable.{what}: value of shape {t._value.shape} dtype {t._value.dtype} "
                f"does not match variable '{self.name}' of shape {self._value.shape} "
                f"dtype {self._value.dtype}")
        return t._value

    cdef inline bint _sole_owner(self) noexcept:
        # Only this variable refers to its array: no tensor, view or saved tape
        # value can see an in-place update. See Note [Tape ownership].
        return Py_REFCNT(<PyObject*>self._value) == 1

    def assign(self, value, use_locking=None, name=None, read_value=True):
        """Sets the value (same shape and dtype); returns the variable."""
        new = self._checked(value, "assign")
        if self._sole_owner():
            np.copyto(self._value, new)
        else:
            self._value = np.array(new, copy=True)
        return self

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        """Adds `delta` (same shape and dtype); returns the variable."""
        d = self._checked(delta, "assign_add")
        if self._sole_owner():
            np.add(self._value, d, out=self._value)
        else:
            self._value = self._value + d
        return self

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        """Subtracts `delta` (same shape and dtype); returns the variable."""
        d = self._checked(delta, "assign_sub")
        if self._sole_owner():
            np.subtract(self._value, d, out=self._value)
        else:
            self._value = self._value - d
        return self


cdef Tensor _variable_snapshot(Variable v, bint watch):
    """A Tensor with v's id and current value: reads of v as a plain Tensor."""
    cdef Tensor t = Tensor.__new__(Tensor)
    t._value = v._value
    t._id = v._id
    if watch and (v._flags & _F_TRAINABLE):
        _auto_watch_all(v)
    return t


# ----------------------------------------------------------- conversion

cdef object _INT32_MIN = -(2 ** 31)
cdef object _INT32_MAX = 2 ** 31 - 1
cdef object _F32 = np.dtype(np.float32)
cdef object _F64 = np.dtype(np.float64)
cdef object _I32 = np.dtype(np.int32)
cdef object _I64 = np.dtype(np.int64)


cdef object _python_array(object value):
    """An ndarray from Python data with TensorFlow's default dtypes."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"convert_to_tensor: cannot convert {type(value).__name__} to an ft.Tensor "
            f"(nested lists must be rectangular): {e}") from None
    kind = arr.dtype.kind
    if kind == "f" and arr.dtype == _F64:
        return arr.astype(_F32)
    if kind == "i":
        if arr.size == 0 or (arr.min() >= _INT32_MIN and arr.max() <= _INT32_MAX):
            return arr.astype(_I32)
        return arr.astype(_I64)
    if kind == "O":
        raise TypeError(f"cannot convert {type(value).__name__} to an ft.Tensor: {value!r}")
    return arr


cdef bint _contains_tensor(object value):
    if isinstance(value, Tensor):
        return True
    if isinstance(value, (list, tuple)):
        for v in value:
            if _contains_tensor(v):
                return True
    return False


cpdef object convert_to_tensor(object value, object dtype=None, object name=None):
    """Converts Python data, NumPy arrays and tensors to a Tensor.

    Python floats become float32, ints int32 (int64 when they do not fit),
    bools bool; NumPy arrays and scalars keep their dtype. A writable NumPy
    array is copied, so that later writes by the caller never change the
    Tensor; read-only arrays are wrapped without a copy.

    >>> import fasttape as ft
    >>> ft.convert_to_tensor([1, 2]).dtype
    dtype('int32')
    """
    cdef Tensor t
    if dtype is not None:
        dtype = np.dtype(dtype)
    if isinstance(value, Tensor):
        t = value
        if t._flags & _F_VARIABLE:
            t = _variable_snapshot(<Variable>t, True)
        if dtype is not None and t._value.dtype != dtype:
            raise TypeError(
                f"convert_to_tensor: requested dtype {dtype.name} for a tensor of dtype "
                f"{t._value.dtype.name}; use ft.cast to change the dtype")
        return t
    if cnp.PyArray_Check(value):
        arr = value
        if dtype is not None and arr.dtype != dtype:
            _check_lossless(arr, dtype)
            return _wrap(arr.astype(dtype))
        if arr.flags.writeable or arr.dtype.kind == "O":
            if arr.dtype.kind == "O":
                raise TypeError("cannot convert an object array to an ft.Tensor")
            return _wrap(arr.copy())
        return _wrap(arr)
    if isinstance(value, np.generic):
        arr = np.asarray(value)
        if dtype is not None and arr.dtype != dtype:
            _check_lossless(arr, dtype)
            arr = arr.astype(dtype)
        return _wrap(arr)
    if isinstance(value, (list, tuple)) and _contains_tensor(value):
        return _call_special("stack", ([convert_to_tensor(v, dtype) for v in value],))
    if hasattr(value, "__array__") and not isinstance(value, (list, tuple)):
        return convert_to_tensor(np.array(value), dtype)
    arr = _python_array(value)
    if dtype is not None and arr.dtype != dtype:
        _check_lossless(arr, dtype)
        arr = arr.astype(dtype)
    return _wrap(arr)


cdef _check_lossless(arr, dtype):
    if arr.dtype.kind in "fc" and dtype.kind in "iub":
        raise TypeError(
            f"cannot convert values of dtype {arr.dtype.name} to {dtype.name} without loss; "
            "use ft.cast")
    if arr.dtype.kind == "c" and dtype.kind == "f":
        raise TypeError(f"cannot convert complex values to {dtype.name}; use ft.cast")


# ------------------------------------------------------------ op registry

# Kinds of argument a VJP may name; see register_op.
cdef enum:
    K_G = 0        # output gradient j
    K_IN = 1       # input value i (variadic ops: the list of all inputs)
    K_OUT = 2      # output value j
    K_SHAPE = 3    # input i's shape (variadic: the list of shapes)
    K_DTYPE = 4    # input i's dtype
    K_ATTR = 5     # attribute a
    MAX_ARGS = 16

cdef list _OPS = []          # OpDef by index: the op table
cdef object _IDENTITY = object()   # VJP marker: the input's gradient is g itself


cdef class OpDef:
    """One op of the table: forward function, VJPs and the derived save mask.

    Instances are made by `register_op`; the ops layer wraps them in public
    functions. `apply` runs the op on tensors and records it on active tapes.
    """
    cdef readonly str name
    cdef readonly int index
    cdef readonly str family
    cdef readonly object forward
    cdef readonly tuple input_names
    cdef readonly tuple attr_names
    cdef readonly int n_out
    cdef readonly bint variadic
    cdef readonly bint differentiable
    cdef readonly bint elementwise  # VJP results stand for output-shaped arrays
    cdef readonly bint lazy_grads   # VJPs accept lazy broadcast gradients
    cdef readonly bint batchable    # VJPs pass a leading batch axis of g through
    cdef readonly object shape_fn
    cdef readonly object check_fn
    cdef public object public_fn
    # VJPs: per input (joint=False) or one for all inputs (joint=True)
    cdef readonly bint joint
    cdef list vjp_fns
    cdef list vjp_plans
    cdef readonly object vjp_sources
    cdef uint8_t save_in[MAX_ARGS]
    cdef bint save_all_in
    cdef uint8_t save_out[MAX_ARGS]
    cdef bint save_attrs
    cdef bint save_any
    cdef bint float_only

    def __repr__(self):
        return f"<ft op {self.name} ({self.family})>"

    @property
    def saved_inputs(self):
        """Names of the inputs whose values the tape keeps for the VJPs."""
        if self.variadic:
            return self.input_names if self.save_all_in else ()
        return tuple(n for i, n in enumerate(self.input_names) if self.save_in[i])

    @property
    def saves_output(self):
        return tuple(j for j in range(self.n_out) if self.save_out[j])

    def apply(self, inputs, attrs=()):
        """Runs the op on `inputs` (tensors, arrays or Python scalars) with the
        positional attributes `attrs`; returns a Tensor, or a tuple of them for
        multi-output ops. Argument checks belong to the caller (the family)."""
        return _apply(self, tuple(inputs), tuple(attrs))


cdef bytes _plan(OpDef op, object fn, str for_what):
    """Encodes the arguments fn names as (kind, index) byte pairs."""
    cdef list plan = []
    sig = inspect.signature(fn)
    for pname, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"op {op.name}: VJP for {for_what} may not take *args or **kwargs")
        if pname == "g":
            plan += [K_G, 0]
        elif pname.startswith("g") and pname[1:].isdigit():
            plan += [K_G, int(pname[1:])]
        elif pname == "out":
            plan += [K_OUT, 0]
        elif pname.startswith("out") and pname[3:].isdigit():
            plan += [K_OUT, int(pname[3:])]
        elif pname in op.input_names:
            plan += [K_IN, op.input_names.index(pname)]
        elif pname.endswith("_shape") and pname[:len(pname) - 6] in op.input_names:
            plan += [K_SHAPE, op.input_names.index(pname[:len(pname) - 6])]
        elif pname.endswith("_dtype") and pname[:len(pname) - 6] in op.input_names:
            plan += [K_DTYPE, op.input_names.index(pname[:len(pname) - 6])]
        elif pname in op.attr_names:
            plan += [K_ATTR, op.attr_names.index(pname)]
        else:
            raise TypeError(
                f"op {op.name}: VJP for {for_what} names '{pname}', which is not g, g<k>, out, "
                f"out<k>, an input {op.input_names}, <input>_shape, <input>_dtype or an "
                f"attribute {op.attr_names}")
    if len(plan) // 2 > MAX_ARGS:
        raise TypeError(f"op {op.name}: a VJP takes at most {MAX_ARGS} arguments")
    return bytes(plan)


def register_op(str name, str family, forward, tuple input_names, vjp=None, *,
                tuple attr_names=(), int n_out=1, bint variadic=False,
                shape_fn=None, check_fn=None, bint float_only=False, broadcast_grads=None,
                batchable=None):
    """Adds an op to the table and returns its OpDef.

    Args:
        name: the public name (TensorFlow's).
        family: 'unary', 'binary', 'reduce', 'shape_op', 'nondiff', 'linalg_op', 'nn'.
        forward: forward(*input_values, *attrs) on ndarrays -> ndarray, or a
            tuple of n_out ndarrays.
        input_names: names of the inputs, as the VJPs refer to them.
        vjp: None (not differentiable); a dict {input name: fn or "identity"}
            with one VJP per input; or one callable returning a gradient per
            input (the joint form). Each fn names the values it needs: g / g<k>,
            out / out<k>, inputs, <input>_shape, <input>_dtype, attributes. The
            tape saves exactly the values some VJP names (the save mask).
        attr_names: names of the positional attributes after the inputs.
        n_out: number of outputs.
        variadic: the op takes any number of inputs (one name in input_names;
            VJPs see lists of values and shapes).
        shape_fn: the static shape rule (graph mode).
        check_fn: check_fn(*inputs, *attrs) raising at the call (the family's checks).
        float_only: inputs must be floating point (checked on the fast path).
        broadcast_grads: the VJPs accept output gradients that merely broadcast
            to the output's shape (default: the elementwise families). See
            Note [Broadcast gradients].
        batchable: the VJPs pass extra leading axes of g through (default: the
            elementwise families). See Note [Batched sweeps].
    """
    cdef OpDef op = OpDef.__new__(OpDef)
    cdef int i, k
    op.name = name
    op.index = len(_OPS)
    op.family = family
    op.forward = forward
    op.input_names = input_names
    op.attr_names = attr_names
    op.n_out = n_out
    op.variadic = variadic
    op.shape_fn = shape_fn
    op.check_fn = check_fn
    op.float_only = float_only
    op.differentiable = vjp is not None
    op.elementwise = family in ("unary", "binary", "nondiff")
    op.lazy_grads = op.elementwise if broadcast_grads is None else bool(broadcast_grads)
    op.batchable = op.elementwise if batchable is None else bool(batchable)
    op.vjp_sources = vjp
    op.public_fn = None
    for i in range(MAX_ARGS):
        op.save_in[i] = 0
        op.save_out[i] = 0
    op.save_all_in = False
    op.save_attrs = False
    op.vjp_fns = []
    op.vjp_plans = []
    if len(input_names) > MAX_ARGS or n_out > MAX_ARGS:
        raise ValueError(f"op {name}: at most {MAX_ARGS} inputs and outputs")
    if vjp is None:
        op.joint = False
        op.vjp_fns = [None] * len(input_names)
        op.vjp_plans = [b""] * len(input_names)
    elif callable(vjp):
        op.joint = True
        op.vjp_fns = [vjp]
        op.vjp_plans = [_plan(op, vjp, "all inputs")]
    else:
        unknown = set(vjp) - set(input_names)
        if unknown:
            raise ValueError(f"op {name}: VJPs for unknown inputs {sorted(unknown)}")
        op.joint = False
        for n in input_names:
            fn = vjp.get(n)
            if fn == "identity":
                op.vjp_fns.append(_IDENTITY)
                op.vjp_plans.append(bytes([K_G, 0]))
            elif fn is None:
                op.vjp_fns.append(None)
                op.vjp_plans.append(b"")
            else:
                op.vjp_fns.append(fn)
                op.vjp_plans.append(_plan(op, fn, n))
    for plan in op.vjp_plans:
        for k in range(0, len(plan), 2):
            if plan[k] == K_IN:
                if variadic:
                    op.save_all_in = True
                else:
                    op.save_in[plan[k + 1]] = 1
            elif plan[k] == K_OUT:
                if plan[k + 1] >= n_out:
                    raise ValueError(f"op {name}: a VJP names output {plan[k + 1]} of {n_out}")
                op.save_out[plan[k + 1]] = 1
            elif plan[k] == K_ATTR:
                op.save_attrs = True
            elif plan[k] == K_G and plan[k + 1] >= n_out:
                raise ValueError(f"op {name}: a VJP names gradient {plan[k + 1]} of {n_out}")
    op.save_any = op.save_all_in or op.save_attrs
    for i in range(MAX_ARGS):
        if op.save_in[i] or op.save_out[i]:
            op.save_any = True
    _OPS.append(op)
    return op


def registered_ops():
    """The op table: a list of every OpDef, in registration order."""
    return list(_OPS)


# The ops behind Tensor's operators, set by the ops layer at import.
cdef OpDef _OP_ADD, _OP_SUB, _OP_MUL, _OP_DIV, _OP_FLOORDIV, _OP_MOD, _OP_POW
cdef OpDef _OP_MATMUL, _OP_AND, _OP_OR, _OP_XOR, _OP_NEG, _OP_ABS, _OP_INVERT
cdef OpDef _OP_EQ, _OP_NE, _OP_LT, _OP_LE, _OP_GT, _OP_GE
cdef dict _SPECIAL = {}


def set_operator(str which, OpDef op):
    """Binds a Tensor operator ('add', 'negative', 'equal', ...) to an op of the table."""
    global _OP_ADD, _OP_SUB, _OP_MUL, _OP_DIV, _OP_FLOORDIV, _OP_MOD, _OP_POW
    global _OP_MATMUL, _OP_AND, _OP_OR, _OP_XOR, _OP_NEG, _OP_ABS, _OP_INVERT
    global _OP_EQ, _OP_NE, _OP_LT, _OP_LE, _OP_GT, _OP_GE
    if which == "add": _OP_ADD = op
    elif which == "subtract": _OP_SUB = op
    elif which == "multiply": _OP_MUL = op
    elif which == "divide": _OP_DIV = op
    elif which == "floordiv": _OP_FLOORDIV = op
    elif which == "mod": _OP_MOD = op
    elif which == "pow": _OP_POW = op
    elif which == "matmul": _OP_MATMUL = op
    elif which == "and": _OP_AND = op
    elif which == "or": _OP_OR = op
    elif which == "xor": _OP_XOR = op
    elif which == "negative": _OP_NEG = op
    elif which == "abs": _OP_ABS = op
    elif which == "invert": _OP_INVERT = op
    elif which == "equal": _OP_EQ = op
    elif which == "not_equal": _OP_NE = op
    elif which == "less": _OP_LT = op
    elif which == "less_equal": _OP_LE = op
    elif which == "greater": _OP_GT = op
    elif which == "greater_equal": _OP_GE = op
    else:
        raise KeyError(f"set_operator: no Tensor operator named {which!r}")


def set_special(str name, fn):
    """Binds a Python-level helper the core calls back ('getitem', 'transpose',
    'stack', 'array_ufunc', 'array_function', 'reduce_sum', 'reshape', 'cast')."""
    _SPECIAL[name] = fn


cdef object _call_special(str name, tuple args):
    fn = _SPECIAL.get(name)
    if fn is None:
        raise NotImplementedError(f"fasttape: '{name}' is not available (fasttape.ops not imported)")
    return fn(*args)


# ------------------------------------------------------------- dispatch

cdef object _raise_op_error(OpDef op, object cls, tuple inputs, str detail):
    raise _errors.op_error(cls, op.name, inputs, detail, op.input_names if not op.variadic else None)


cdef inline object _operand_value(object x, object other):
    """The raw value of a binary operand: ndarrays and Python scalars pass;
    lists and other data adopt the dtype of the other operand when it is a
    tensor (TensorFlow's conversion)."""
    if cnp.PyArray_Check(x) or isinstance(x, (float, int, bool, complex)):
        return x
    if isinstance(x, np.generic):
        return cnp.PyArray_FROM_O(x)
    if isinstance(other, Tensor) and isinstance(x, (list, tuple)):
        arr = _python_array(x)
        dt = (<Tensor>other)._value.dtype
        if arr.dtype != dt:
            _check_lossless(arr, dt)
            arr = arr.astype(dt)
        return arr
    return (<Tensor>convert_to_tensor(x))._value


cdef int _check_pair(OpDef op, object x, object y, object xv, object yv) except -1:
    """The binary family's dtype rule: both operands of one dtype; Python
    scalars are weakly typed but a float never meets an integer tensor."""
    cdef bint xa = cnp.PyArray_Check(xv), ya = cnp.PyArray_Check(yv)
    cdef int tx, ty
    if xa and ya:
        tx = cnp.PyArray_TYPE(<cnp.ndarray>xv)
        ty = cnp.PyArray_TYPE(<cnp.ndarray>yv)
        if tx != ty or (tx >= NPY_USERDEF and xv.dtype != yv.dtype):
            nx, ny = xv.dtype.name, yv.dtype.name
            _raise_op_error(op, TypeError, (x, y),
                f"operands have different dtypes {nx} and {ny}; convert one "
                f"with ft.cast(x, {ny!r}) or ft.cast(y, {nx!r})")
    elif xa:
        _check_scalar(op, x, y, xv, yv)
    elif ya:
        _check_scalar(op, x, y, yv, xv)
    return 0


cdef int _check_scalar(OpDef op, object x, object y, object arr, object scalar) except -1:
    cdef bint is_float = cnp.PyArray_ISFLOAT(<cnp.ndarray>arr)
    cdef bint is_complex = cnp.PyArray_ISCOMPLEX(<cnp.ndarray>arr)
    if isinstance(scalar, float) and not is_float and not is_complex:
        _raise_op_error(op, TypeError, (x, y),
            f"a Python float cannot take the tensor's dtype {arr.dtype.name}; "
            "use an integer or ft.cast the tensor")
    if isinstance(scalar, complex) and not is_complex:
        _raise_op_error(op, TypeError, (x, y),
            f"a Python complex cannot take the tensor's dtype {arr.dtype.name}")
    return 0


cdef object _binary(OpDef op, object x, object y):
    """The fast path of binary ops: Tensor operators and the binary family."""
    cdef object xv, yv, out
    cdef PyObject *args[2]
    cdef PyObject *ins[2]
    cdef PyObject *outs[1]
    cdef Tensor r
    if isinstance(x, Tensor):
        xv = (<Tensor>x)._value
    else:
        xv = _operand_value(x, y)
    if isinstance(y, Tensor):
        yv = (<Tensor>y)._value
    else:
        yv = _operand_value(y, x)
    _check_pair(op, x, y, xv, yv)
    args[0] = <PyObject*>xv
    args[1] = <PyObject*>yv
    try:
        out = PyObject_Vectorcall(op.forward, args, 2, NULL)
    except (ValueError, TypeError, IndexError, ArithmeticError) as e:
        _raise_op_error(op, type(e) if type(e) in (ValueError, TypeError) else ValueError,
                        (x, y), str(e))
    r = _wrap(_as_array(out))
    if ft_tls_depth():
        ins[0] = <PyObject*>x
        ins[1] = <PyObject*>y
        outs[0] = <PyObject*>r
        _record(op, ins, 2, outs, 1, None)
    return r


cdef object _unary(OpDef op, object x):
    """The fast path of unary ops."""
    cdef object xv, out
    cdef PyObject *args[1]
    cdef PyObject *outs[1]
    cdef Tensor r
    if not isinstance(x, Tensor):
        x = convert_to_tensor(x)
    xv = (<Tensor>x)._value
    if op.float_only and not _is_float_array(xv):
        _raise_op_error(op, TypeError, (x,),
            f"expects a floating-point tensor, got dtype {xv.dtype.name}; use ft.cast")
    args[0] = <PyObject*>xv
    try:
        out = PyObject_Vectorcall(op.forward, args, 1, NULL)
    except (ValueError, TypeError, IndexError, ArithmeticError) as e:
        _raise_op_error(op, type(e) if type(e) in (ValueError, TypeError) else ValueError,
                        (x,), str(e))
    r = _wrap(_as_array(out))
    if ft_tls_depth():
        args[0] = <PyObject*>x
        outs[0] = <PyObject*>r
        _record(op, args, 1, outs, 1, None)
    return r


def unary_call(OpDef op, x):
    """Calls a unary op through the fast path."""
    return _unary(op, x)


def binary_call(OpDef op, x, y):
    """Calls a binary op through the fast path (operands as Tensor operators take them)."""
    return _binary(op, x, y)


cdef object _apply(OpDef op, tuple inputs, tuple attrs):
    """The general path: any number of inputs, outputs and attributes."""
    cdef Py_ssize_t n_in = len(inputs), i
    cdef int j
    cdef PyObject *ins[MAX_ARGS]
    cdef PyObject *outs[MAX_ARGS]
    cdef list values = []
    if n_in > MAX_ARGS and not op.variadic:
        raise ValueError(f"{op.name}: too many inputs")
    for x in inputs:
        if isinstance(x, Tensor):
            values.append((<Tensor>x)._value)
        else:
            values.append(x)
    try:
        out = op.forward(*values, *attrs)
    except (ValueError, TypeError, IndexError, ArithmeticError, np.linalg.LinAlgError) as e:
        cls = type(e) if type(e) in (ValueError, TypeError) else _errors.InvalidArgumentError
        _raise_op_error(op, cls, inputs, str(e))
    if op.n_out == 1:
        result = _wrap(_as_array(out))
        outputs = (result,)
    else:
        outputs = tuple([_wrap(_as_array(o)) for o in out])
        result = outputs
    if ft_tls_depth():
        if n_in > MAX_ARGS:
            # variadic ops with many inputs: record through a heap array
            _record_many(op, inputs, outputs, attrs)
        else:
            for i in range(n_in):
                ins[i] = <PyObject*>inputs[i]
            for j in range(op.n_out):
                outs[j] = <PyObject*>outputs[j]
            _record(op, ins, <int>n_in, outs, op.n_out, attrs)
    return result


cdef int _record_many(OpDef op, tuple inputs, tuple outputs, tuple attrs) except -1:
    cdef Py_ssize_t n = len(inputs), i
    cdef PyObject **ins = <PyObject**>malloc(n * sizeof(PyObject*))
    cdef PyObject *outs[MAX_ARGS]
    if ins == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            ins[i] = <PyObject*>inputs[i]
        for i in range(op.n_out):
            outs[i] = <PyObject*>outputs[i]
        _record(op, ins, <int>n, outs, op.n_out, attrs)
    finally:
        free(ins)
    return 0


# ------------------------------------------------------------- recording

cdef int _record(OpDef op, PyObject **ins, int n_in, PyObject **outs, int n_out,
                 object attrs) except -1:
    """Appends the op to every active tape of this thread that follows one of
    its inputs. Allocates nothing for tapes that do not."""
    cdef int depth = ft_tls_depth(), k, i
    cdef ft_tape_t *ct
    cdef bint hit
    cdef Tensor t
    cdef object x
    for k in range(depth):
        ct = ft_tls_at(k)
        if not op.differentiable or not ct.recording:
            # See Note [Dead ends]
            if not ft_in_sweep() and _tracks_any(ct, ins, n_in):
                (<Tape>ct.owner)._dead_end(
                    "stop_recording" if op.differentiable else "nondiff", op.name, ins, n_in)
            continue
        hit = False
        for i in range(n_in):
            x = <object>ins[i]
            if isinstance(x, Tensor):
                t = <Tensor>x
                if (t._flags & _F_TRAINABLE) and not ft_tape_tracks(ct, t._id):
                    (<Tape>ct.owner)._auto_watch(t)
                if not hit and ft_tape_tracks(ct, t._id):
                    hit = True
        if hit:
            (<Tape>ct.owner)._append(op, ins, n_in, outs, n_out, attrs)
    return 0


# Note [Dead ends]
# ~~~~~~~~~~~~~~~~
# "Why is my gradient None?" needs to know where a followed tensor stopped
# being followed: a non-differentiable op (comparison, argmax, stop_gradient),
# an op run inside stop_recording(), or the value leaving through .numpy().
# Such ops are never recorded, so each tape that follows one of their inputs
# logs a small event instead (kind, op, input ids, the user's source line) in
# Tape._events. Events hold no tensor. Ops that VJPs run during a sweep are
# not logged. fasttape.debugging.explain_gradient reads the log.

cdef bint _tracks_any(ft_tape_t *ct, PyObject **ins, int n_in) except -1:
    """Does the tape follow an input (or would it, on use, a trainable variable)?"""
    cdef int i
    cdef object x
    for i in range(n_in):
        x = <object>ins[i]
        if isinstance(x, Tensor) and (ft_tape_tracks(ct, (<Tensor>x)._id) or (
                ((<Tensor>x)._flags & _F_TRAINABLE)
                and (<Tape>ct.owner).watch_accessed_variables)):
            return True
    return False


cdef int _note_exit(Tensor t, str how) except -1:
    """Logs t's value leaving fasttape (.numpy(), float(), ...) on the tapes that follow it."""
    cdef int k
    cdef ft_tape_t *ct
    cdef PyObject *ins[1]
    if ft_in_sweep():
        return 0
    ins[0] = <PyObject*>t
    for k in range(ft_tls_depth()):
        ct = ft_tls_at(k)
        if ft_tape_tracks(ct, t._id):
            (<Tape>ct.owner)._dead_end("exit", how, ins, 1)
    return 0


cdef void _auto_watch_all(Variable v) except *:
    cdef int k
    cdef ft_tape_t *ct
    for k in range(ft_tls_depth()):
        ct = ft_tls_at(k)
        if ct.recording and not ft_tape_tracks(ct, v._id):
            (<Tape>ct.owner)._auto_watch(v)


cdef inline int _ndim_of(object x) noexcept:
    if isinstance(x, Tensor):
        return cnp.PyArray_NDIM(<cnp.ndarray>(<Tensor>x)._value)
    if cnp.PyArray_Check(x):
        return cnp.PyArray_NDIM(<cnp.ndarray>x)
    return 0


cdef inline int64_t _write_shape(int64_t *rec, object arr) noexcept:
    """Writes arr's shape record {dtype number, ndim, dims...}; returns its length."""
    cdef int nd = cnp.PyArray_NDIM(<cnp.ndarray>arr), d
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(<cnp.ndarray>arr)
    rec[0] = cnp.PyArray_TYPE(<cnp.ndarray>arr)
    rec[1] = nd
    for d in range(nd):
        rec[2 + d] = dims[d]
    return 2 + nd


cdef inline object _saveable(object x):
    """What a tape keeps of an input: tensors themselves (their ids link outer
    tapes), a snapshot of a variable, a copy of a writable ndarray."""
    if isinstance(x, Tensor):
        if (<Tensor>x)._flags & _F_VARIABLE:
            return _variable_snapshot(<Variable>x, False)
        return x
    if cnp.PyArray_Check(x) and x.flags.writeable:
        return x.copy()
    return x


# ---------------------------------------------------------------- Tape

cdef bint _warned_self_recording = False


cdef class Tape:
    """The compiled part of `ft.GradientTape`: the C log, saved values and the sweep.

    See Note [Tape ownership]."""
    cdef ft_tape_t c
    cdef list _saved
    cdef list _watched_vars
    cdef readonly list _events  # See Note [Dead ends]
    cdef readonly bint persistent
    cdef readonly bint watch_accessed_variables
    cdef bint _used
    cdef int _active

    def __cinit__(self, *args, **kwargs):
        ft_tape_init(&self.c, <void*>self)
        self._saved = []
        self._watched_vars = []
        self._events = []
        self._used = False
        self._active = 0

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = bool(persistent)
        self.watch_accessed_variables = bool(watch_accessed_variables)

    def __dealloc__(self):
        if self._active:
            ft_tls_remove(&self.c)
        ft_tape_free(&self.c)

    def _push(self):
        if self._used:
            raise RuntimeError(
                "GradientTape: a non-persistent tape can be used for one gradient() only; "
                "create a new tape or use GradientTape(persistent=True)")
        if ft_tls_push(&self.c) < 0:
            raise RuntimeError(f"GradientTape: more than {FT_TLS_MAX} nested active tapes")
        self._active += 1

    def _pop(self):
        if self._active:
            ft_tls_remove(&self.c)
            self._active -= 1

    @property
    def _recording(self):
        return bool(self.c.recording)

    def _set_recording(self, bint on):
        self.c.recording = on

    def _watch(self, Tensor t):
        """Follows `t` (a float tensor or variable); other dtypes are ignored."""
        if not _is_float_array(t._value):
            return False
        if ft_tape_track(&self.c, t._id) < 0:
            raise MemoryError()
        if t._flags & _F_VARIABLE:
            for v in self._watched_vars:
                if v is t:
                    break
            else:
                self._watched_vars.append(t)
        return True

    cdef int _auto_watch(self, Tensor t) except -1:
        if self.watch_accessed_variables:
            self._watch(t)
        return 0

    def _watched_variables(self):
        return tuple(self._watched_vars)

    def _reset(self):
        ft_tape_clear(&self.c)
        self._saved = []
        self._watched_vars = []
        self._events = []
        self._used = False

    cdef int _dead_end(self, str kind, str what, PyObject **ins, int n_in) except -1:
        cdef int i
        ids = tuple([(<Tensor>ins[i])._id if isinstance(<object>ins[i], Tensor) else 0
                     for i in range(n_in)])
        self._events.append((kind, what, ids, _errors.user_frame()))
        return 0

    def _tracks(self, Tensor t):
        return bool(ft_tape_tracks(&self.c, t._id))

    def _entries(self):
        """The record as Python data: (op name, input ids, output ids) per entry."""
        cdef int64_t k
        cdef ft_entry_t *e
        cdef int64_t *ids
        out = []
        for k in range(self.c.n_entries):
            e = &self.c.entries[k]
            ids = self.c.pool + e.ids
            out.append(((<OpDef>_OPS[e.op]).name,
                        tuple([ids[i] for i in range(e.n_in)]),
                        tuple([ids[e.n_in + j] for j in range(e.n_out)])))
        return out

    @property
    def _n_entries(self):
        return self.c.n_entries

    def _saved_values(self):
        """The values the tape holds for its VJPs (for tests of the save mask)."""
        return [v for v in self._saved if v is not None]

    cdef int _append(self, OpDef op, PyObject **ins, int n_in, PyObject **outs, int n_out,
                     object attrs) except -1:
        cdef int64_t saved = -1, n_meta = 0, pos
        cdef int64_t *ids
        cdef int64_t *meta
        cdef int i, j, d, nd
        cdef object x, arr
        cdef Tensor t
        cdef ft_entry_t *e
        cdef cnp.npy_intp *dims
        for i in range(n_in):
            n_meta += 2 + _ndim_of(<object>ins[i])
        for j in range(n_out):
            n_meta += 2 + _ndim_of(<object>outs[j])
        if op.save_any:
            saved = len(self._saved)
            for i in range(n_in):
                if op.save_all_in or (i < MAX_ARGS and op.save_in[i]):
                    self._saved.append(_saveable(<object>ins[i]))
            for j in range(n_out):
                if op.save_out[j]:
                    self._saved.append(<object>outs[j])
            if op.save_attrs:
                self._saved.append(attrs)
        e = ft_tape_append(&self.c, op.index, n_in, n_out, n_meta, saved, &ids, &meta)
        if e == NULL:
            raise MemoryError("GradientTape: out of memory while recording")
        pos = 0
        for i in range(n_in):
            x = <object>ins[i]
            if isinstance(x, Tensor):
                arr = (<Tensor>x)._value
                ids[i] = (<Tensor>x)._id if _is_float_array(arr) else 0
            elif cnp.PyArray_Check(x):
                arr = x
                ids[i] = 0
            else:
                ids[i] = 0
                meta[pos] = -1
                meta[pos + 1] = 0
                pos += 2
                continue
            pos += _write_shape(meta + pos, arr)
        for j in range(n_out):
            t = <Tensor>outs[j]
            arr = t._value
            pos += _write_shape(meta + pos, arr)
            if _is_float_array(arr):
                ids[n_in + j] = t._id
                if ft_tape_track(&self.c, t._id) < 0:
                    raise MemoryError()
            else:
                ids[n_in + j] = 0
        return 0

    # ------------------------------------------------------------ sweep
    def _gradient(self, list targets, list sources, list output_gradients, bint zero_unconnected,
                  Py_ssize_t batch=0):
        """The reverse sweep: gradients of sum(targets) w.r.t. each source.

        targets: Tensors; sources: Tensors/Variables; output_gradients: None or
        one seed per target. Returns a list with one gradient (or None) per source.
        With batch = B > 0 the seeds have a leading axis of B cotangents and so
        have the results: B vector-Jacobian products in one sweep (see Note
        [Batched sweeps]).
        """
        global _warned_self_recording
        cdef int64_t n = self.c.n_entries, n_slots, k, s
        cdef int64_t *tgt = NULL
        cdef int64_t *src = NULL
        cdef uint8_t *live = NULL
        cdef ft_slots_t slots
        cdef Py_ssize_t i
        cdef bint higher = False
        cdef int d
        cdef Tensor t
        cdef int64_t n_tgt, n_src
        if self._used:
            raise RuntimeError(
                "GradientTape.gradient can only be called once on a non-persistent tape; "
                "use GradientTape(persistent=True) to compute several gradients")
        for d in range(ft_tls_depth()):
            if ft_tls_at(d).recording:
                higher = True
                if ft_tls_at(d) == &self.c and not _warned_self_recording:
                    _warned_self_recording = True
                    warnings.warn(
                        "Calling GradientTape.gradient on a tape inside its own context "
                        "records the gradient computation on the tape, which is costly; call "
                        "it after the `with` block unless you need higher-order gradients",
                        stacklevel=3)
        ft_slots_init(&slots)
        tgt = <int64_t*>malloc((len(targets) + 1) * sizeof(int64_t))
        src = <int64_t*>malloc((len(sources) + 1) * sizeof(int64_t))
        live = <uint8_t*>malloc(n + 1)
        try:
            if tgt == NULL or src == NULL or live == NULL:
                raise MemoryError()
            for i in range(len(targets)):
                t = <Tensor>targets[i]
                tgt[i] = t._id if _is_float_array(t._value) else 0
            for i in range(len(sources)):
                # only what this tape follows has a gradient: an unwatched
                # tensor gets None even when a recorded op used it (as TF)
                t = <Tensor>sources[i]
                src[i] = t._id if (_is_float_array(t._value)
                                   and ft_tape_tracks(&self.c, t._id)) else 0
            n_tgt = len(targets)
            n_src = len(sources)
            if self._active:
                # the tape may be recording in another thread, which appends
                # with the GIL held: prune under the GIL too
                n_slots = ft_tape_prune(&self.c, tgt, n_tgt, src, n_src, live, &slots)
            else:
                with nogil:
                    n_slots = ft_tape_prune(&self.c, tgt, n_tgt, src, n_src, live, &slots)
            if n_slots < 0:
                raise MemoryError("GradientTape.gradient: out of memory while pruning")
            sweep = _Sweep(self, n_slots, higher, batch)
            for i in range(len(targets)):
                s = ft_slots_get(&slots, tgt[i])
                if s < 0:
                    continue
                seed = output_gradients[i] if output_gradients is not None else None
                sweep.seed(s, <Tensor>targets[i], seed)
            if not self.persistent:
                self._used = True
            ft_sweep_enter()
            try:
                for k in range(n - 1, -1, -1):
                    if live[k]:
                        sweep.entry(k, &slots)
            finally:
                ft_sweep_exit()
            result = []
            for i in range(len(sources)):
                s = ft_slots_get(&slots, src[i])
                g = sweep.grads[s] if s >= 0 else None
                t = <Tensor>sources[i]
                if g is None:
                    if zero_unconnected:
                        g = _wrap(np.zeros(sweep.batch + t._value.shape, t._value.dtype))
                else:
                    g = sweep.full(g, sweep.batch + t._value.shape)
                    if not isinstance(g, Tensor):
                        g = _wrap(g)
                result.append(g)
            return result
        finally:
            free(tgt)
            free(src)
            free(live)
            ft_slots_free(&slots)
            if not self.persistent and self._used:
                self._saved = []
                self._events = []
                ft_tape_free(&self.c)


# Note [Batched sweeps]
# ~~~~~~~~~~~~~~~~~~~~~
# A Jacobian is B vector-Jacobian products. Rather than B sweeps, the sweep
# runs once with cotangents that carry a leading axis of size B: the seed is
# the identity, every slot holds (B, *shape) arrays, and the results are the
# Jacobian's rows. VJPs of ops marked `batchable` are written so that a
# leading axis on g passes through (elementwise ops broadcast right-aligned;
# matmul's batch axes; reduce_sum/mean keep g's extra leading axes); for the
# others the sweep calls the VJP once per row and stacks the results, so
# every op works and the common ones are vectorised.


# Note [Broadcast gradients]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~
# Binary ops broadcast; their VJPs return gradients of the output's shape and
# the sweep (not every VJP) sums them back to each input's shape: over leading
# axes the input lacks and over axes where the input has size 1.
# The other direction is lazy: a VJP may return a gradient that merely
# *broadcasts to* its input's shape (reduce_mean returns g / n in the kept
# shape, not a full array). Elementwise families (unary, binary, nondiff)
# accept such gradients as they are, since broadcasting gives the same result;
# for other ops the sweep expands g to the output's shape (a view) before the
# VJP sees it, and results handed to the user are expanded to the source's
# shape. This saves a full pass over the data per reduction, which is what
# hand-written NumPy does with its scalars.


cdef inline bint _shape_is(object arr, int64_t *meta, int64_t mpos) noexcept:
    cdef int nd = <int>meta[mpos + 1], d
    cdef cnp.npy_intp *dims
    if cnp.PyArray_NDIM(<cnp.ndarray>arr) != nd:
        return False
    dims = cnp.PyArray_DIMS(<cnp.ndarray>arr)
    for d in range(nd):
        if dims[d] != meta[mpos + 2 + d]:
            return False
    return True


@cython.final
cdef class _Sweep:
    """State of one reverse sweep: dense gradient slots and the VJP calls."""
    cdef Tape tape
    cdef list grads
    cdef bytearray owned  # 1 where the slot's array was allocated by the sweep
    cdef bint higher      # VJPs get Tensors and are recorded (higher order)
    cdef bint release     # drop saved values as soon as their entry is done
    cdef list argbuf, gbuf, inbuf, outbuf
    cdef readonly tuple batch  # () or (B,): the leading axis of batched cotangents
    cdef int64_t *seg          # this entry's ids and shape records: See Note [Entry copies]
    cdef int64_t seg_cap

    def __cinit__(self, Tape tape, int64_t n_slots, bint higher, Py_ssize_t batch=0):
        self.tape = tape
        self.batch = (batch,) if batch > 0 else ()
        self.seg = NULL
        self.seg_cap = 0
        self.grads = [None] * n_slots
        self.owned = bytearray(n_slots)
        self.higher = higher
        self.release = not tape.persistent
        self.argbuf = [None] * MAX_ARGS
        self.gbuf = [None] * MAX_ARGS
        self.inbuf = [None] * MAX_ARGS
        self.outbuf = [None] * MAX_ARGS

    def __dealloc__(self):
        free(self.seg)

    cdef seed(self, int64_t s, Tensor target, object seed):
        if seed is None:
            # ones that broadcast to the target's shape: see Note [Broadcast gradients]
            g = _ones_seed(target._value)
            if self.higher:
                g = _wrap(g)
            self.accumulate(s, g)
            return
        if isinstance(seed, Tensor):
            g = (<Tensor>seed)._value if not self.higher else seed
        else:
            g = np.asarray(seed, dtype=target._value.dtype)
        shape = g.shape
        want = self.batch + target._value.shape
        if _broadcast_pair(shape, want) != want:
            raise ValueError(
                f"GradientTape.gradient: output_gradients of shape {shape} does not match "
                f"the target's shape {target._value.shape}")
        if self.higher and not isinstance(g, Tensor):
            g = _wrap(np.array(g))
        self.accumulate(s, g)

    cdef object full(self, object g, object shape):
        """g expanded to `shape` (a view) if it is a lazy broadcast gradient."""
        if g.shape == shape:
            return g
        if self.higher:
            return _call_special("broadcast_to", (_tensor_of(g), shape))
        return np.broadcast_to(g, shape)

    cdef int accumulate(self, int64_t s, object g) except -1:
        cur = self.grads[s]
        if cur is None:
            self.grads[s] = g
        elif self.higher:
            self.grads[s] = _binary(_OP_ADD, _tensor_of(cur), _tensor_of(g))
        elif self.owned[s] and _covers(cur, g):
            _np_add(cur, g, out=cur)
        else:
            self.grads[s] = _as_array(cur + g)  # 0-d + 0-d gives a NumPy scalar
            self.owned[s] = 1
        return 0

    cdef inline object arg_value(self, object v):
        """A saved value as a VJP sees it: raw on the fast path, Tensor when recording."""
        if not self.higher and isinstance(v, Tensor):
            return (<Tensor>v)._value
        return v

    cdef int entry(self, int64_t k, ft_slots_t *slots) except -1:
        cdef ft_entry_t *e = &self.tape.c.entries[k]
        cdef OpDef op = <OpDef>_OPS[e.op]
        cdef int n_in = e.n_in, n_out = e.n_out, i, j
        cdef int64_t *ids
        cdef int64_t *meta
        cdef int64_t saved = e.saved, pos, s, k2
        cdef int64_t seg_len, meta_off = e.meta - e.ids
        cdef int64_t mp_stack[2 * MAX_ARGS]
        cdef int64_t *mp = mp_stack
        cdef int64_t in_slot_stack[MAX_ARGS]
        cdef int64_t *in_slot = in_slot_stack
        cdef bint any_g = False, any_in = False
        cdef list gs = self.gbuf
        cdef list saved_in, saved_out = self.outbuf
        cdef object attrs = None
        if n_in + n_out > 2 * MAX_ARGS:
            mp = <int64_t*>malloc((n_in + n_out) * sizeof(int64_t))
        if n_in > MAX_ARGS:
            in_slot = <int64_t*>malloc(n_in * sizeof(int64_t))
        if mp == NULL or in_slot == NULL:
            if mp != mp_stack:
                free(mp)
            if in_slot != in_slot_stack:
                free(in_slot)
            raise MemoryError()
        saved_in = self.inbuf if n_in <= MAX_ARGS else [None] * n_in
        if op.variadic:
            saved_in = [None] * n_in
        # Note [Entry copies]: a VJP may record on this very tape (gradient()
        # inside its own context) or on a tape another thread shares, which
        # can reallocate the pool; work on a copy of this entry's ids and shapes.
        meta = self.tape.c.pool + e.meta
        pos = 0
        for i in range(n_in + n_out):
            pos += 2 + meta[pos + 1]
        seg_len = meta_off + pos
        if seg_len > self.seg_cap:
            free(self.seg)
            self.seg = <int64_t*>malloc(seg_len * sizeof(int64_t))
            self.seg_cap = seg_len if self.seg != NULL else 0
            if self.seg == NULL:
                if mp != mp_stack:
                    free(mp)
                if in_slot != in_slot_stack:
                    free(in_slot)
                raise MemoryError()
        memcpy(self.seg, self.tape.c.pool + e.ids, seg_len * sizeof(int64_t))
        ids = self.seg
        meta = self.seg + meta_off
        try:
            # where each input's and output's shape record starts
            pos = 0
            for i in range(n_in + n_out):
                mp[i] = pos
                pos += 2 + meta[pos + 1]
            # the output gradients
            for j in range(n_out):
                s = ft_slots_get(slots, ids[n_in + j])
                g = self.grads[s] if s >= 0 else None
                if g is not None:
                    any_g = True
                    if self.higher:
                        g = _tensor_of(g)
                    if self.batch:
                        g = self.full(g, self.batch + _meta_shape(meta, mp[n_in + j]))
                    elif not op.lazy_grads:
                        if not _shape_is(g if not self.higher else (<Tensor>g)._value,
                                         meta, mp[n_in + j]):
                            g = self.full(g, _meta_shape(meta, mp[n_in + j]))
                gs[j] = g
            for i in range(n_in):
                in_slot[i] = ft_slots_get(slots, ids[i])
                if in_slot[i] >= 0:
                    any_in = True
            # the saved values, in Tape._append's order
            pos = saved
            if op.save_any:
                for i in range(n_in):
                    if op.save_all_in or (i < MAX_ARGS and op.save_in[i]):
                        saved_in[i] = self.arg_value(self.tape._saved[pos])
                        pos += 1
                for j in range(n_out):
                    if op.save_out[j]:
                        saved_out[j] = self.arg_value(self.tape._saved[pos])
                        pos += 1
                if op.save_attrs:
                    attrs = self.tape._saved[pos]
                    pos += 1
            if any_g and any_in and self.batch and not op.batchable:
                self.rows(op, gs, saved_in, saved_out, attrs, meta, mp, n_in, n_out, in_slot)
            elif any_g and any_in:
                if op.joint:
                    res = self.call(op.vjp_fns[0], op.vjp_plans[0], op, gs, saved_in,
                                    saved_out, attrs, meta, mp, n_in)
                    if not isinstance(res, (tuple, list)) or len(res) != n_in:
                        raise TypeError(
                            f"op {op.name}: the joint VJP must return one gradient per input "
                            f"({n_in}), got {type(res).__name__}")
                    for i in range(n_in):
                        if in_slot[i] >= 0 and res[i] is not None:
                            self.accumulate(in_slot[i], self.fit(res[i], meta, mp[i], mp[n_in], op, i))
                else:
                    for i in range(n_in):
                        if in_slot[i] < 0:
                            continue
                        fn = op.vjp_fns[i]
                        if fn is None:
                            continue
                        if fn is _IDENTITY:
                            gi = gs[0]
                        else:
                            gi = self.call(fn, op.vjp_plans[i], op, gs, saved_in, saved_out,
                                           attrs, meta, mp, n_in)
                        if gi is not None:
                            self.accumulate(in_slot[i], self.fit(gi, meta, mp[i], mp[n_in], op, i))
        finally:
            for j in range(min(n_out, MAX_ARGS)):
                gs[j] = None
                saved_out[j] = None
            if saved_in is self.inbuf:
                for i in range(n_in):
                    saved_in[i] = None
            if mp != mp_stack:
                free(mp)
            if in_slot != in_slot_stack:
                free(in_slot)
        if self.release and saved >= 0:
            for k2 in range(saved, pos):
                self.tape._saved[k2] = None
        return 0

    cdef object call(self, object fn, bytes plan, OpDef op, list gs, list saved_in,
                     list saved_out, object attrs, int64_t *meta, int64_t *mp, int n_in):
        cdef const unsigned char *p = plan
        cdef Py_ssize_t n = len(plan) // 2, a
        cdef int kind, idx
        cdef list buf = self.argbuf
        if n > 0 and buf[0] is not None:  # re-entered from inside a VJP
            buf = [None] * MAX_ARGS
        for a in range(n):
            kind = p[2 * a]
            idx = p[2 * a + 1]
            if kind == K_G:
                v = gs[idx]
            elif kind == K_IN:
                v = saved_in if op.variadic else saved_in[idx]
            elif kind == K_OUT:
                v = saved_out[idx]
            elif kind == K_SHAPE:
                if op.variadic:
                    v = [_meta_shape(meta, mp[i]) for i in range(n_in)]
                else:
                    v = _meta_shape(meta, mp[idx])
            elif kind == K_DTYPE:
                v = cnp.PyArray_DescrFromType(<int>meta[mp[idx]]) if meta[mp[idx]] >= 0 else None
            else:
                v = attrs[idx]
            buf[a] = v
        try:
            return PyObject_Vectorcall(fn, (<PyListObject*>buf).ob_item, n, NULL)
        finally:
            for a in range(n):
                buf[a] = None

    cdef int rows(self, OpDef op, list gs, list saved_in, list saved_out, object attrs,
                  int64_t *meta, int64_t *mp, int n_in, int n_out, int64_t *in_slot) except -1:
        """A batched sweep through an op whose VJPs are not batchable: one VJP
        call per cotangent row, results stacked. See Note [Batched sweeps]."""
        cdef Py_ssize_t b, nb = self.batch[0]
        cdef int i, j
        cdef tuple batch = self.batch
        cdef list per_input = [[] for i in range(n_in)]
        cdef list row_gs
        self.batch = ()
        try:
            for b in range(nb):
                row_gs = [gs[j][b] if gs[j] is not None else None for j in range(n_out)]
                row_gs += [None] * (MAX_ARGS - len(row_gs))
                if op.joint:
                    res = self.call(op.vjp_fns[0], op.vjp_plans[0], op, row_gs, saved_in,
                                    saved_out, attrs, meta, mp, n_in)
                    res = list(res)
                else:
                    res = []
                    for i in range(n_in):
                        fn = op.vjp_fns[i]
                        if in_slot[i] < 0 or fn is None:
                            res.append(None)
                        elif fn is _IDENTITY:
                            res.append(row_gs[0])
                        else:
                            res.append(self.call(fn, op.vjp_plans[i], op, row_gs, saved_in,
                                                 saved_out, attrs, meta, mp, n_in))
                for i in range(n_in):
                    if in_slot[i] >= 0 and res[i] is not None:
                        per_input[i].append(
                            self.full(self.fit(res[i], meta, mp[i], mp[n_in], op, i),
                                      _meta_shape(meta, mp[i])))
                    else:
                        per_input[i].append(None)
        finally:
            self.batch = batch
        for i in range(n_in):
            rows = per_input[i]
            if in_slot[i] < 0 or all(r is None for r in rows):
                continue
            shape = _meta_shape(meta, mp[i])
            if self.higher:
                stacked = _call_special("stack", ([
                    r if r is not None else _wrap(np.zeros(shape, cnp.PyArray_DescrFromType(
                        <int>meta[mp[i]]))) for r in rows],))
            else:
                stacked = np.stack([r if r is not None else np.zeros(
                    shape, cnp.PyArray_DescrFromType(<int>meta[mp[i]])) for r in rows])
            self.accumulate(in_slot[i], stacked)
        return 0

    cdef object fit(self, object g, int64_t *meta, int64_t mpos, int64_t mpos_out, OpDef op,
                    int i):
        """Sums a VJP's result back to its input's shape and casts it to the
        input's dtype. See Note [Broadcast gradients].

        mpos/mpos_out locate the shape records of the input and of output 0:
        the result of an elementwise op's VJP stands for an array of the
        output's shape, any other VJP's result for one of the input's shape
        (or larger, with leading batch axes, as matmul's)."""
        cdef int type_num = <int>meta[mpos]
        if self.higher:
            g = _tensor_of(g)
            arr = (<Tensor>g)._value
        else:
            if not cnp.PyArray_Check(g):
                g = cnp.PyArray_FROM_O(g)
            arr = g
        if self.batch:
            g = self._reduce_to(g, arr.shape, self.batch + _meta_shape(meta, mpos),
                                self.batch + _meta_shape(meta, mpos_out if op.elementwise
                                                         else mpos), op, i)
            arr = (<Tensor>g)._value if self.higher else g
        elif not (_shape_is(arr, meta, mpos)
                  and (not op.elementwise or _shape_is(arr, meta, mpos_out))):
            lead = _leading_extra(arr, meta, mpos)
            if lead > 0 and not self.higher and (not op.elementwise
                                                 or _shape_is(arr, meta, mpos_out)):
                # the common broadcast (a bias): g has the input's shape after
                # `lead` extra leading axes, so the sum is over those alone
                g = _sum_leading(g, tuple(range(lead)), _meta_shape(meta, mpos))
            else:
                g = self._reduce_to(g, arr.shape, _meta_shape(meta, mpos),
                                    _meta_shape(meta, mpos_out if op.elementwise else mpos),
                                    op, i)
            arr = (<Tensor>g)._value if self.higher else g
        if type_num >= 0 and cnp.PyArray_TYPE(<cnp.ndarray>arr) != type_num:
            dt = cnp.PyArray_DescrFromType(type_num)
            if self.higher:
                g = _call_special("cast", (g, dt))
            else:
                g = g.astype(dt)
        return g

    cdef object _reduce_to(self, object g, tuple g_shape, tuple in_shape, tuple ref_shape,
                           OpDef op, int i):
        """g (of g_shape, standing for an array of broadcast(g_shape, ref_shape))
        summed over the axes that broadcasting added to in_shape; g stays lazy
        (smaller) where it already broadcasts to in_shape."""
        full = _broadcast_pair(g_shape, ref_shape)
        if full is None or _broadcast_pair(full, in_shape) is None:
            raise ValueError(
                f"op {op.name}: the VJP for input {i} returned a gradient of shape {g_shape}, "
                f"which does not match the input's shape {in_shape}")
        lead = len(full) - len(in_shape)
        axes = tuple([d for d in range(len(full))
                      if d < lead or (in_shape[d - lead] == 1 and full[d] != 1)])
        if not axes:
            return g
        kept = tuple([1 if d in axes else full[d] for d in range(lead, len(full))])
        if g_shape != full:
            # a lazy gradient over a broadcast axis: each element counts n times
            g = self.full(g, full)
        if self.higher:
            return _call_special("reshape", (_call_special("reduce_sum", (g, axes)), kept))
        return _sum_leading(g, axes, kept)


cdef object _np_add_reduce = np.add.reduce


cdef inline int _leading_extra(object arr, int64_t *meta, int64_t mpos) noexcept:
    """k > 0 when arr's shape is k extra axes followed by the recorded shape, else 0."""
    cdef int nd = <int>meta[mpos + 1], gnd = cnp.PyArray_NDIM(<cnp.ndarray>arr), d
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(<cnp.ndarray>arr)
    if gnd <= nd:
        return 0
    for d in range(nd):
        if dims[gnd - nd + d] != meta[mpos + 2 + d]:
            return 0
    return gnd - nd


cdef object _sum_leading(object g, tuple axes, tuple kept):
    """np.add.reduce(g, axes) reshaped to `kept`. When the summed axes are the
    leading ones of a contiguous float array with many rows (a bias gradient:
    (batch, h, w, c) -> (c,)), a ones-vector matrix product is 3-13x faster:
    NumPy sums such axes row by row, BLAS in blocks."""
    cdef Py_ssize_t n = len(axes), rows = 1, d
    cdef bint leading = True
    for d in range(n):
        if axes[d] != d:
            leading = False
            break
    if (leading and cnp.PyArray_Check(g) and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>g)
            and (cnp.PyArray_TYPE(<cnp.ndarray>g) == cnp.NPY_FLOAT32
                 or cnp.PyArray_TYPE(<cnp.ndarray>g) == cnp.NPY_FLOAT64)):
        for d in range(n):
            rows *= cnp.PyArray_DIMS(<cnp.ndarray>g)[d]
        if rows >= 64:
            return (np.ones(rows, g.dtype) @ g.reshape(rows, -1)).reshape(kept)
    return _as_array(_np_add_reduce(g, axes)).reshape(kept)
cdef object _np_add = np.add


cdef inline bint _covers(object a, object b) noexcept:
    """True when ndarray b broadcasts to a's shape (so a += b keeps a's shape)."""
    cdef int na = cnp.PyArray_NDIM(<cnp.ndarray>a), nb = cnp.PyArray_NDIM(<cnp.ndarray>b), d
    cdef cnp.npy_intp *da = cnp.PyArray_DIMS(<cnp.ndarray>a)
    cdef cnp.npy_intp *db = cnp.PyArray_DIMS(<cnp.ndarray>b)
    if nb > na:
        return False
    for d in range(nb):
        if db[d] != 1 and db[d] != da[na - nb + d]:
            return False
    return True
cdef dict _ONES = {}


cdef object _ones_seed(object value):
    """A shared read-only array of ones with value's rank and dtype, all dims 1.
    Never written to: the sweep only adds in place into arrays it allocated."""
    key = (cnp.PyArray_NDIM(<cnp.ndarray>value), cnp.PyArray_TYPE(<cnp.ndarray>value))
    g = _ONES.get(key)
    if g is None:
        g = np.ones((1,) * key[0], value.dtype)
        g.flags.writeable = False
        _ONES[key] = g
    return g


cdef object _broadcast_pair(tuple a, tuple b):
    """NumPy's broadcast of two shapes, or None when they do not broadcast."""
    cdef Py_ssize_t na = len(a), nb = len(b), n = max(na, nb), d
    cdef list out = [None] * n
    for d in range(n):
        x = a[na - n + d] if d >= n - na else 1
        y = b[nb - n + d] if d >= n - nb else 1
        if x == y or y == 1:
            out[d] = x
        elif x == 1:
            out[d] = y
        else:
            return None
    return tuple(out)


cdef inline object _meta_shape(int64_t *meta, int64_t mpos):
    cdef int nd = <int>meta[mpos + 1], d
    return tuple([meta[mpos + 2 + d] for d in range(nd)])


cdef inline object _tensor_of(object v):
    if isinstance(v, Tensor):
        return v
    return _wrap(_as_array(v))


def executing_eagerly():
    """True: fasttape executes eagerly (graph mode arrives with ft.Graph)."""
    return True


if os.environ.get("FASTTAPE_ALLOCATOR", "1") != "0":
    ft_install_allocator()  # See Note [Caching allocator]
