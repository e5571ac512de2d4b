# Tensor, Reference and Variable. Part of core.pyx.

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

# Note [Eager use]
# ~~~~~~~~~~~~~~~~
# ft.disable_eager_execution() is refused once the program has used eager
# execution (SPEC §4): once an eager tensor or variable was made by the
# user's code. A latch, _eager_state, records it: 0 while `import fasttape`
# runs (its own tensors do not count), 1 after, 2 once a tensor is made
# outside graph building. Graph building makes eager tensors too (a Python
# operand converted before it becomes a Const node, ft.constant's value);
# they do not count: they are made while the thread stages (ft_staging()) or
# inside the staging functions (ft_build_depth(), for an op on symbolic
# tensors outside `with g.as_default():`). Symbolic tensors take ids without
# passing here. The eager path pays one load and a predicted branch per
# tensor: after the first eager tensor the latch is set and never read again.
cdef int _eager_state = 0

cdef void _note_tensor_made() noexcept:
    global _eager_state
    if _eager_state == 1 and not ft_staging() and not ft_build_depth():
        _eager_state = 2

cdef inline int64_t _new_id() noexcept:
    global _next_id
    _next_id += 1
    if _eager_state != 2:
        _note_tensor_made()
    return _next_id


cdef inline bint _is_float_array(object arr) noexcept:
    return cnp.PyArray_ISFLOAT(<cnp.ndarray>arr) or cnp.PyArray_ISCOMPLEX(<cnp.ndarray>arr)


# ------------------------------------------------------------------ TensorShape

cdef extern from "Python.h":
    ctypedef struct PyTypeObject
    object PyType_GenericAlloc(PyTypeObject *tp, Py_ssize_t n)
    void PyTuple_SET_ITEM(object t, Py_ssize_t i, object v)  # steals a reference to v

from fasttape.tensor_shape import TensorShape as _TensorShape


cdef object _tensor_shape(object arr):
    """arr's shape as an ft.TensorShape, built in place from its dimensions: one
    allocation, as ndarray.shape's own tuple. See Note [TensorShape is a tuple]."""
    cdef int nd = cnp.PyArray_NDIM(<cnp.ndarray>arr), i
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(<cnp.ndarray>arr)
    shape = PyType_GenericAlloc(<PyTypeObject *>_TensorShape, nd)
    for i in range(nd):
        d = <object>dims[i]
        Py_INCREF(d)
        PyTuple_SET_ITEM(shape, i, d)
    return shape


# ------------------------------------------------------------------ Tensor

# Note [Tensors are not GC-tracked]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# A Tensor refers only to its ndarray (never of dtype object: conversion
# refuses them) and its weak-reference list, so it can never be part of a
# reference cycle, and it opts out of the cyclic GC (cython.no_gc), as
# ndarrays do. This matters for speed: with the freelist, a Tensor that dies
# does not give back the GC's allocation count, so every ~700 op results
# triggered a collection whose cost grows with the program's heap (callgrind:
# +2.6% per `a + b` from importing the training stack alone). Subclasses
# with references of their own (Variable, SymbolicTensor, whose node refers
# back to it) are tracked as before.
@cython.freelist(256)
@cython.no_gc
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
        """The shape, an `ft.TensorShape`: a tuple of ints with TensorFlow's methods."""
        return _tensor_shape(self._value)

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

    def __format__(self, spec):
        # the value's format (f"{loss:.4f}"); a non-empty spec needs one element,
        # as NumPy's arrays and scalars do
        if not spec:
            return str(self)
        if cnp.PyArray_SIZE(<cnp.ndarray>self._value) != 1:
            raise TypeError(
                f"unsupported format string {spec!r} passed to ft.Tensor.__format__: a format "
                f"spec needs a one-element tensor, not shape {self._value.shape}")
        return format(self._one_element("format"), spec)

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
    def __pos__(self):
        if self._flags & _F_VARIABLE:  # a snapshot: later assigns must not show through
            return _variable_snapshot(<Variable>self, True)
        return self

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


def variable_store(Variable v, arr):
    """Replaces an eager variable's value by the ndarray `arr` (never written
    to afterwards): a Session running an assign node of an eager variable."""
    if v._graph_var is not None:
        raise TypeError(f"variable_store: '{v.name}' is a graph variable")
    if arr.shape != v._value.shape or arr.dtype != v._value.dtype:
        raise ValueError(f"variable_store: value of shape {arr.shape} dtype {arr.dtype} for "
                         f"'{v.name}' of shape {v._value.shape} dtype {v._value.dtype}")
    v._value = arr


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
    # None for an eager variable; a graph variable's node, initializer and
    # initial value (fasttape/session.py). See Note [Graph variables].
    cdef readonly object _graph_var

    def __init__(self, initial_value=None, trainable=True, name=None, dtype=None, shape=None):
        if initial_value is None:
            raise ValueError("ft.Variable: initial_value must be given")
        lifted = None
        if ft_staging():  # See Note [Variables while tracing] in fasttape/function.py
            hook = _SPECIAL.get("variable_while_staging")
            if hook is not None:
                # inside a trace: the eager initial value (the variable is
                # made eagerly, once) or an error; else None
                lifted = hook(name, initial_value, dtype)
                if lifted is not None:
                    initial_value = lifted
        if lifted is None and ft_staging():  # a graph variable: See Note [Graph variables]
            info = _call_special("graph_variable", (self, initial_value, trainable, name,
                                                    dtype, shape))
            self._value = info.stand_in
            self._graph_var = info
            self._id = _new_id()
            self.trainable = bool(trainable)
            self._flags = _F_VARIABLE
            if self.trainable and _is_float_array(self._value):
                self._flags |= _F_TRAINABLE
            self.name = info.name
            return
        if callable(initial_value):
            initial_value = initial_value()
        cdef Tensor t = convert_to_tensor(initial_value, dtype)
        # A private, writable copy: assign_* may then update it in place.
        self._value = np.array(t._value, copy=True)
        if shape is not None:
            shape = _call_special("normalize_shape", ("Variable", shape))
        if shape is not None and shape != self._value.shape:
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
        if self._graph_var is not None:
            return (f"<ft.Variable '{self.name}' shape={self._value.shape} "
                    f"dtype={self._value.dtype.name}>")
        return (f"<ft.Variable '{self.name}' shape={self._value.shape} "
                f"dtype={self._value.dtype.name} numpy={str(self._value)}>")

    def __reduce__(self):
        if self._graph_var is not None:
            raise TypeError(f"the graph variable '{self.name}' cannot be pickled: its value "
                            "lives in a Session (sess.run(v) gives it)")
        return (Variable, (np.array(self._value), self.trainable, self.name.rsplit(":", 1)[0]))

    def __str__(self):
        return self.__repr__()

    def numpy(self):
        if self._graph_var is not None:
            _call_special("graph_variable_value", (self, ".numpy()"))
        return Tensor.numpy(self)

    def eval(self, session=None):
        """A graph variable's value in `session` or the default Session."""
        if self._graph_var is None:
            return Tensor.numpy(self)
        return _call_special("eval", (self, None, session))

    def __array__(self, dtype=None, copy=None):
        if self._graph_var is not None:
            _call_special("graph_variable_value", (self, "NumPy conversion (np.asarray)"))
        return Tensor.__array__(self, dtype, copy)

    def read_value(self):
        """The current value as a Tensor (a snapshot: later assigns do not change it).
        In a graph: a ReadVariableOp node, read when the graph runs."""
        if ft_staging() or self._graph_var is not None:
            return _call_special("read_variable", (self,))
        return _variable_snapshot(self, True)

    def value(self):
        if ft_staging() or self._graph_var is not None:
            return _call_special("read_variable", (self,))
        return _variable_snapshot(self, True)

    @property
    def initializer(self):
        """A graph variable's initializer: the op that sets its initial value."""
        return self._graph_info().initializer

    @property
    def initial_value(self):
        """A graph variable's initial value: a tensor of its graph."""
        return self._graph_info().initial_value

    @property
    def op(self):
        """A graph variable's node (type VariableV2)."""
        return self._graph_info().op

    @property
    def graph(self):
        """The ft.Graph of a graph variable."""
        return self._graph_info().graph

    cdef object _graph_info(self):
        if self._graph_var is None:
            raise AttributeError(f"ft.Variable '{self.name}' is an eager variable: it has no "
                                 "graph, op or initializer (variables made inside `with "
                                 "g.as_default():` have them)")
        return self._graph_var

    cdef object _checked(self, value, str what):
        # An ndarray of the variable's dtype and shape is used as it is: the
        # update reads it once, now (converting would copy it into a Tensor)
        if (type(value) is np.ndarray and (<cnp.ndarray>value).dtype is self._value.dtype
                and value.shape == self._value.shape):
            return value
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

    def _adopt(self, value):
        """Takes the ndarray `value` (this variable's shape and dtype, written
        by no one else) as the value, without a copy: a checkpoint restore
        hands over the arrays it read (fasttape/train/checkpoint.py). Other
        holders of the old array keep it, as with `assign` on a shared buffer."""
        if (self._graph_var is not None or type(value) is not np.ndarray
                or value.shape != self._value.shape or value.dtype != self._value.dtype
                or not value.flags.writeable):
            raise ValueError(f"ft.Variable._adopt: {self.name!r} cannot take this array")
        self._value = value

    def assign(self, value, use_locking=None, name=None, read_value=True):
        """Sets the value (same shape and dtype); returns the variable."""
        if ft_staging() or self._graph_var is not None:  # See Note [Graph variables]
            return _call_special("update_variable", (self, "assign", value, name, read_value))
        new = self._checked(value, "assign")
        if self._sole_owner():
            np.copyto(self._value, new)
        else:
            self._value = np.array(new, copy=True)
        return self

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        """Adds `delta` (same shape and dtype); returns the variable."""
        if ft_staging() or self._graph_var is not None:  # See Note [Graph variables]
            return _call_special("update_variable", (self, "assign_add", delta, name, read_value))
        d = self._checked(delta, "assign_add")
        if self._sole_owner():
            np.add(self._value, d, out=self._value)
        else:
            # np.add(out=) keeps a 0-d array (a 0-d `+` gives a NumPy scalar)
            self._value = np.add(self._value, d, out=np.empty_like(self._value))
        return self

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        """Subtracts `delta` (same shape and dtype); returns the variable."""
        if ft_staging() or self._graph_var is not None:  # See Note [Graph variables]
            return _call_special("update_variable", (self, "assign_sub", delta, name, read_value))
        d = self._checked(delta, "assign_sub")
        if self._sole_owner():
            np.subtract(self._value, d, out=self._value)
        else:
            self._value = np.subtract(self._value, d, out=np.empty_like(self._value))
        return self


cdef Tensor _variable_snapshot(Variable v, bint watch):
    """A Tensor with v's id and current value: reads of v as a plain Tensor."""
    cdef Tensor t = Tensor.__new__(Tensor)
    t._value = v._value
    t._id = v._id
    if watch and (v._flags & _F_TRAINABLE):
        _auto_watch_all(v)
    return t
