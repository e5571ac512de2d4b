# The reverse sweep: one algorithm (_Sweep) over value spaces (_VSpace) and
# its shape helpers. Part of core.pyx.

from libc.stdlib cimport calloc

# Note [One sweep, several value spaces]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# The reverse sweep is written once, in _Sweep: seeding (ones, or given output
# gradients), the per-entry step (gather the output gradients, call the VJPs
# with the values their plans name, sum each result back to its input's shape
# and dtype, accumulate it), the batched fallback and the results handed to
# the user. What it computes *with* is a value space, a _VSpace (TensorFlow's
# VSpace in tape.h): the few operations on gradient values that the algorithm
# needs, as cdef methods (a C call through the vtable, no Python dispatch):
#
#   arg(v)               a saved value as the VJP receives it
#   value(g)             a VJP's result (or a seed) as a value of the space
#   shape(v), dtype_num(v), has_shape(g, rec), leading_extra(g, rec)
#                        static facts, compared with the entry's shape records
#   shape_arg(rec)       what a VJP's `<input>_shape` argument is
#   ones_seed(target), seed_value(seed, target), zeros(shape, dtype)
#   add(cur, g, owned)   accumulation (in place when the sweep owns cur)
#   broadcast_to, sum_axes, cast, stack
#   result(g)            the Tensor gradient() returns
#
# Two spaces exist:
# - _RawSpace (first order, the hot path): values are ndarrays; VJPs get the
#   ndarrays inside saved Tensors, their NumPy calls run directly, nothing is
#   recorded, accumulation adds in place into arrays the sweep allocated.
# - _TensorSpace (higher order: some tape of this thread is recording):
#   values are Tensors; VJPs get the saved Tensors themselves, so their NumPy
#   calls dispatch through the protocol to ops of the table, which the
#   recording tapes log with the ids outer tapes follow.
# - _SymbolicSpace (ft.gradients, tapes inside ft.function and graphs:
#   fasttape/gradients_impl.py): values are symbolic Tensors (eager ones
#   become Const nodes when an op takes them); ones_seed/zeros/add/... stage
#   nodes, shape() gives the static shape, has_shape/leading_extra compare
#   static shapes (a dim unknown on either side is "not known to match", so
#   the fit takes its general path, reduce_unknown), shape_arg follows Note
#   [Unknown dims in VJPs]. One more method, slot_full, asks whether a slot's
#   value is lazy (a known 1 against a larger dim): there an unknown dim
#   against an unknown dim is full, since fit gives every slot value with an
#   unknown dim its tensor's run-time shape. The algorithm does not change.
#
# Entries. _Sweep.node() is the per-entry step and knows nothing of where the
# entry comes from: it takes the op, the gradient slot of each input and
# output (-1: none), one shape record per input and output ({dtype number,
# ndim, dims}, the C tape's format, see csrc/fasttape_tape.h), the saved
# values by input and output position (those the op's save mask names must
# be there: Note [Save masks]) and the attributes. _Sweep.tape_entry() fills these from the C tape (a copy of the
# pool segment, the slots of pruning, the saved list) and releases the saved
# values afterwards. The graph walker (_graph_sweep/_graph_entry, driven by
# fasttape/gradients_impl.py's _walk) fills the same from a node: slots
# from a {tensor: slot} map over the nodes between xs and ys (its own
# pruning), shape records from the static shapes (an unknown dim written as
# -1), the saved values being the node's own input and output tensors (a graph
# keeps them all: it saves nothing), and the node's attributes; it visits the
# nodes in reverse topological order, as the tape loop visits live entries in
# reverse order, and calls node() for each (deferring it when its VJPs need
# what the graph does not know: Note [Unknown dims in VJPs]). _node_gradients() is that walk for
# one op application given as values (its inputs and outputs as the saved
# values), tested against the tape on every differentiable op of the table.
# Slot values are always values of the sweep's space: every producer (seed,
# fit, add, stack) makes them so.


# Note [One VJP, every mode]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~
# An op has one set of VJPs, and every sweep calls them: first order, higher
# order, batched, and symbolic. A VJP names what it needs (register_op,
# _plan) and receives, in the sweep's value space:
# - g, g<k>: the gradient of output k: an ndarray (first order), a Tensor
#   (higher order) or a symbolic Tensor (graph). None for an output of a
#   multi-output op that received no gradient. It has the output's shape,
#   except that an op registered with broadcast_grads (elementwise ops by
#   default) may get a smaller one that broadcasts to it (the shared 0-d ones
#   seed, reduce_mean's g / n: Note [Broadcast gradients]); with `batchable`
#   it may carry leading batch axes (Note [Batched sweeps]), otherwise the
#   sweep calls it once per row.
# - inputs by name, out, out<k>: the saved values (Note [Save masks]): the
#   arrays inside the saved Tensors (first order), the Tensors themselves
#   (higher order: so that outer tapes see their ids) or the node's symbolic
#   tensors; an input that was not a Tensor stays what Note [Raw inputs]
#   made of it (a Python scalar or a read-only ndarray) in every mode.
#   Variadic ops get the list of all inputs.
# - <input>_shape: a tuple of Python ints, never a Tensor, in every mode
#   where the shape is known; see Note [Unknown dims in VJPs] for graphs.
#   (Variadic: the list of shapes.)
# - <input>_dtype: the input's np.dtype (None for a Python scalar input).
# - attributes: the Python values the forward received.
# What a VJP may do with them:
# - compute with NumPy functions, methods and operators (np.exp(x), g * y,
#   np.reshape(g, x_shape), x.T, g[key]) or with ops of the table (call_op,
#   ft.*): on ndarrays they run directly; on Tensors the NumPy protocol and
#   the ops dispatch to the table, so the same formula is recorded (higher
#   order) or staged (graph). Only NumPy functions that numpy_protocol maps
#   to ops qualify.
# - branch on anything static: ranks (x.ndim, len(x_shape)), known dims,
#   dtypes, attributes, `g is None`.
# - return one gradient per input (None: no gradient) of any kind (ndarray,
#   Python scalar, Tensor): the sweep turns it into a value of its space,
#   sums it back to the input's shape and casts it to the input's dtype
#   (_Sweep.fit); it must broadcast to what it stands for (the output's shape
#   for elementwise ops, the input's for the others).
# What it must not do: read values (.numpy(), float(), bool(), np.asarray,
# `if (x > 0).any()`): that breaks recording and has nothing to read in a
# graph; write into an argument (g may be a read-only broadcast view or the
# shared seed; saved values belong to the tape); compute with `x.shape` of a
# saved value (name `x_shape` instead: it costs nothing to save, and the
# sweep decides what it is when a dim is unknown). A VJP that cannot be
# recorded (the spectral norm's) raises NotImplementedError naming the op
# when it receives Tensors.


# Note [Unknown dims in VJPs]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~
# About 25 VJPs compute with `<input>_shape`: Python arithmetic on the dims
# (slice's paddings n - b - s, tile's interleaved reshape, reduce_mean's
# count, concat's split sizes) whose results become *static attributes* of
# the ops they call (pad's paddings, slice's begin/size, _index_add's zeros
# shape, conv2d_backprop_input's input_shape, reshape's shape). In eager mode,
# first or higher order, every dim is known. In a graph a dim may be unknown
# (`ft.placeholder(ft.float32, (None, 784))`, an input_signature with None).
#
# The choice: static shapes where they are known, the VJP *deferred to run
# time* where they are not; no run-time shape tensors. (_SymbolicSpace,
# _UnknownDim, UnknownDimError and _graph_entry here; the deferred-VJP node
# and _sum_to in fasttape/gradients_impl.py, Note [Deferred VJPs].)
# - `ft.function` traces per concrete input signature (SPEC §4: dtype and
#   shape of each tensor argument), as JAX's jit and TensorFlow's default
#   tracing do, so inside a trace every shape is known and the symbolic
#   space's shape_arg gives the same tuple of ints as eager mode: the VJPs
#   build ordinary nodes, exportable to ONNX and saved functions.
# - In a graph, shape_arg gives the static shape as a tuple whose unknown
#   dims are _UnknownDim markers: len(), iteration, `is None`-style checks and
#   reading known dims work (matmul's VJPs need only the ranks), but using an
#   unknown dim as a number (arithmetic, __index__, comparison) raises
#   UnknownDimError. The sweep calls the VJP at build time; if it raises
#   UnknownDimError (or anything, once a marker was used as a number: a
#   library may turn the error into its own), the nodes it added are
#   dropped, its slots restored, and the entry becomes
#   one deferred-VJP node per input gradient: its inputs
#   are the values the plan names plus the entry's inputs whose shapes it
#   names (to read their run-time shapes, as TensorFlow's Shape op does), its
#   shape and dtype rule is the input's static shape and dtype (what fit
#   returns), and when the graph runs it calls the same node() step over the
#   concrete values with the raw space (shape records from the run-time
#   values). Its own VJP runs it under an eager tape (as py_func's), so every
#   order works. Deferred nodes are Python calls: onnx.export and
#   saved_function refuse them as they refuse py_func, naming the op and the
#   unknown dim and suggesting a full shape in the input_signature. Deferral
#   is the fallback, never a wrong answer; a VJP that matters in exported
#   graphs (reduce_mean's count over a None batch dim) may handle unknown
#   dims itself, with a run-time op where it needs one.
# - The sum-to-shape fit with unknown dims: where the static shapes decide the
#   summed axes (extra leading axes; a known 1 against a known n) fit stages
#   the reduce_sum; where they cannot (an unknown dim against anything but an
#   equal known dim) it stages one `_sum_to(g, x)` op that sums g to x's
#   run-time shape (TensorFlow's BroadcastGradientArgs + Sum, in one op).
# - The same deferral serves what a graph cannot stage at all: a VJP that
#   reads a value (segment_sum's ids: SymbolicTensor._no_value counts it),
#   one that refuses Tensors (NotImplementedError: the spectral norm's), and
#   an entry with a tensor of unknown rank (no shape record to give). In
#   ft.function (every shape known) only the first two happen.
# - VJPs must read shapes through `<input>_shape`, not `x.shape` (a symbolic
#   tensor's shape has None for its unknown dims, as TensorFlow's, and None in
#   arithmetic is a TypeError the sweep cannot tell from a bug).
#   tests/graph/test_gradients.py runs every differentiable op_db sample in
#   graphs with every dim unknown, which enforces it.
# Why not TensorFlow's run-time shapes (`ft.shape(x)` passed as x_shape): the
# VJPs as written would need ~25 rewrites into tensor arithmetic, and pad,
# slice, tile, reshape, _index_add and conv2d_backprop_input would need their
# shape attributes turned into tensor inputs, making every eager gradient pay
# for shape ops it never needs. Why not only tracing per shape (JAX): a TF1
# graph with a None batch dim has no concrete shape to trace with until it
# runs; deferral is that tracing, done per node at run time.


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


cdef inline bint _shape_is(object arr, int64_t *rec) noexcept:
    """arr (an ndarray) has the shape of shape record rec."""
    cdef int nd = <int>rec[1], d
    cdef cnp.npy_intp *dims
    if cnp.PyArray_NDIM(<cnp.ndarray>arr) != nd:
        return False
    dims = cnp.PyArray_DIMS(<cnp.ndarray>arr)
    for d in range(nd):
        if dims[d] != rec[2 + d]:
            return False
    return True


cdef inline object _array_of(object v):
    """The ndarray behind a concrete value (an ndarray or a Tensor)."""
    if isinstance(v, Tensor):
        return (<Tensor>v)._value
    return v


cdef class _VSpace:
    """The operations on gradient values a sweep needs: See Note [One sweep,
    several value spaces]. This base class holds the static facts of concrete
    values (ndarrays and Tensors that have one); subclasses do the arithmetic."""
    cdef bint symbolic  # values are graph tensors (_SymbolicSpace)

    cdef object arg(self, object v):
        raise NotImplementedError

    cdef object value(self, object g):
        raise NotImplementedError

    cdef tuple shape(self, object v):
        return _array_of(v).shape

    cdef int dtype_num(self, object v) except -2:
        return cnp.PyArray_TYPE(<cnp.ndarray>_array_of(v))

    cdef bint has_shape(self, object g, int64_t *rec) noexcept:
        return _shape_is(_array_of(g), rec)

    cdef int leading_extra(self, object g, int64_t *rec) noexcept:
        return _leading_extra(_array_of(g), rec)

    cdef bint slot_full(self, object g, int64_t *rec) noexcept:
        """A slot's value g has the full shape of record rec (is not a lazy
        broadcast gradient): has_shape, except in the symbolic space."""
        return self.has_shape(g, rec)

    cdef object shape_arg(self, int64_t *rec):
        return _meta_shape(rec, 0)

    cdef object ones_seed(self, Tensor target):
        raise NotImplementedError

    cdef object seed_value(self, object seed, Tensor target):
        raise NotImplementedError

    cdef object zeros(self, tuple shape, object dtype):
        raise NotImplementedError

    cdef object add(self, object cur, object g, uint8_t *owned):
        raise NotImplementedError

    cdef object broadcast_to(self, object g, tuple shape):
        raise NotImplementedError

    cdef object sum_axes(self, object g, tuple axes, tuple kept):
        raise NotImplementedError

    cdef object cast(self, object g, object dtype):
        raise NotImplementedError

    cdef object stack(self, list rows):
        raise NotImplementedError

    cdef object result(self, object g):
        raise NotImplementedError


@cython.final
cdef class _RawSpace(_VSpace):
    """First order: values are ndarrays and nothing is recorded."""

    cdef object arg(self, object v):
        if isinstance(v, Tensor):
            return (<Tensor>v)._value
        return v

    cdef object value(self, object g):
        if not cnp.PyArray_Check(g):
            return cnp.PyArray_FROM_O(g)
        return g

    cdef tuple shape(self, object v):
        if isinstance(v, Tensor):
            return (<Tensor>v)._value.shape
        return v.shape

    cdef bint has_shape(self, object g, int64_t *rec) noexcept:
        return _shape_is(g, rec)

    cdef int leading_extra(self, object g, int64_t *rec) noexcept:
        return _leading_extra(g, rec)

    cdef object ones_seed(self, Tensor target):
        # ones that broadcast to the target's shape: see Note [Broadcast gradients]
        return _ones_seed(target._value)

    cdef object seed_value(self, object seed, Tensor target):
        if isinstance(seed, Tensor):
            return (<Tensor>seed)._value
        return np.asarray(seed, dtype=target._value.dtype)

    cdef object zeros(self, tuple shape, object dtype):
        return np.zeros(shape, dtype)

    cdef object add(self, object cur, object g, uint8_t *owned):
        if owned[0] and _covers(cur, g):
            _np_add(cur, g, out=cur)
            return cur
        owned[0] = 1
        return _as_array(cur + g)  # 0-d + 0-d gives a NumPy scalar

    cdef object broadcast_to(self, object g, tuple shape):
        return np.broadcast_to(g, shape)

    cdef object sum_axes(self, object g, tuple axes, tuple kept):
        return _sum_leading(g, axes, kept)

    cdef object cast(self, object g, object dtype):
        return g.astype(dtype)

    cdef object stack(self, list rows):
        return np.stack(rows)

    cdef object result(self, object g):
        return _wrap(_as_array(g))


@cython.final
cdef class _TensorSpace(_VSpace):
    """Higher order: values are Tensors, and the ops the sweep and the VJPs run
    are recorded by this thread's recording tapes."""

    cdef object arg(self, object v):
        return v

    cdef object value(self, object g):
        return _tensor_of(g)

    cdef object ones_seed(self, Tensor target):
        return _wrap(_ones_seed(target._value))

    cdef object seed_value(self, object seed, Tensor target):
        if isinstance(seed, Tensor):
            return seed
        return _wrap(np.array(seed, dtype=target._value.dtype))

    cdef object zeros(self, tuple shape, object dtype):
        return _wrap(np.zeros(shape, dtype))

    cdef object add(self, object cur, object g, uint8_t *owned):
        return _binary(_OP_ADD, _tensor_of(cur), _tensor_of(g))

    cdef object broadcast_to(self, object g, tuple shape):
        return _call_special("broadcast_to", (_tensor_of(g), shape))

    cdef object sum_axes(self, object g, tuple axes, tuple kept):
        return _call_special("reshape", (_call_special("reduce_sum", (g, axes)), kept))

    cdef object cast(self, object g, object dtype):
        return _call_special("cast", (g, dtype))

    cdef object stack(self, list rows):
        return _call_special("stack", (rows,))

    cdef object result(self, object g):
        return _tensor_of(g)


cdef _VSpace _RAW_SPACE = _RawSpace()
cdef _VSpace _TENSOR_SPACE = _TensorSpace()


# ---------------------------------------------------------------- symbolic

class UnknownDimError(ValueError):
    """A VJP used a dim that the graph does not know (an _UnknownDim marker)
    as a number: the sweep defers the VJP to run time. See Note [Unknown dims
    in VJPs]."""
    ft_passthrough = True  # not an argument error: Note [Errors at the public boundary]


cdef object _unknown_dim_used(object d):
    global _unknown_dim_uses
    _unknown_dim_uses += 1
    raise UnknownDimError(f"dim {d.axis} of a shape is unknown in this graph")


class _UnknownDim:
    """An unknown dim in a VJP's `<input>_shape` (Note [Unknown dims in
    VJPs]): it may be stored, passed along and compared by identity, but
    used as a number (arithmetic, comparison, int(), an index) it raises
    UnknownDimError, and the sweep defers the VJP to run time."""

    __slots__ = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def __repr__(self):
        return "?"

    def __hash__(self):
        return id(self)

    def _used(self, *args):
        _unknown_dim_used(self)

    __index__ = __int__ = __float__ = __bool__ = _used
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _used
    __floordiv__ = __rfloordiv__ = __truediv__ = __rtruediv__ = __mod__ = __rmod__ = _used
    __pow__ = __rpow__ = __neg__ = __pos__ = __abs__ = _used
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = _used


cdef inline bint _is_symbolic_value(object v) noexcept:
    return isinstance(v, Tensor) and (<Tensor>v)._value is None


cdef dict _SYM_OPS = {}


cdef object _sym_op(str name):
    """Public op functions the symbolic space stages (fasttape.ops, imported late)."""
    fn = _SYM_OPS.get(name)
    if fn is None:
        from fasttape.ops import _registry
        fn = _SPECIAL["sum_to"] if name == "_sum_to" else _registry.OPS[name]
        _SYM_OPS[name] = fn
    return fn


@cython.final
cdef class _SymbolicSpace(_VSpace):
    """Graphs (ft.gradients, tapes inside ft.function): values are symbolic
    Tensors (or eager ones, which the ops capture as constants), and every
    operation stages nodes into the graph being built. Static shapes stand in
    for shapes: an unknown dim (None in a static shape, -1 in a shape record)
    is never known to match anything. See Note [Unknown dims in VJPs]."""

    def __cinit__(self):
        self.symbolic = True

    cdef object arg(self, object v):
        return v

    cdef object value(self, object g):
        return _tensor_of(g)

    cdef tuple shape(self, object v):
        if _is_symbolic_value(v):
            s = (<SymbolicTensor>v)._static_shape
            if s.rank is None:  # the entry is deferred to run time
                _unknown_dim_used(_UnknownDim(None))
            return tuple(s)
        return _array_of(v).shape

    cdef int dtype_num(self, object v) except -2:
        if _is_symbolic_value(v):
            return (<SymbolicTensor>v)._dtype.num
        return cnp.PyArray_TYPE(<cnp.ndarray>_array_of(v))

    cdef bint has_shape(self, object g, int64_t *rec) noexcept:
        cdef int nd = <int>rec[1], d
        if not _is_symbolic_value(g):
            return _shape_is(_array_of(g), rec)
        try:
            s = (<SymbolicTensor>g)._static_shape
            if s.rank is None or len(s) != nd:
                return False
            for d in range(nd):
                if s[d] is None or rec[2 + d] < 0 or s[d] != rec[2 + d]:
                    return False
            return True
        except Exception:  # noqa: BLE001  (noexcept: not known to match)
            return False

    cdef bint slot_full(self, object g, int64_t *rec) noexcept:
        # A slot's value has an unknown dim only where it has its tensor's
        # run-time dim: every producer (seed, fit, add) makes it so, since
        # fit sums to the input's run-time shape (_sum_to) wherever a dim is
        # unknown. So unknown against unknown is "full" here, and only a
        # known 1 against a larger or unknown dim is lazy.
        cdef int nd = <int>rec[1], d
        if not _is_symbolic_value(g):
            return _shape_is(_array_of(g), rec)
        try:
            s = (<SymbolicTensor>g)._static_shape
            if s.rank is None or len(s) != nd:
                return False
            for d in range(nd):
                if s[d] is None:
                    if rec[2 + d] >= 0:
                        return False
                elif rec[2 + d] < 0 or s[d] != rec[2 + d]:
                    return False
            return True
        except Exception:  # noqa: BLE001
            return False

    cdef int leading_extra(self, object g, int64_t *rec) noexcept:
        cdef int nd = <int>rec[1], gnd, d
        if not _is_symbolic_value(g):
            return _leading_extra(_array_of(g), rec)
        try:
            s = (<SymbolicTensor>g)._static_shape
            if s.rank is None:
                return 0
            gnd = len(s)
            if gnd <= nd:
                return 0
            for d in range(nd):
                x = s[gnd - nd + d]
                if x is None or rec[2 + d] < 0 or x != rec[2 + d]:
                    return 0
            return gnd - nd
        except Exception:  # noqa: BLE001
            return 0

    cdef object shape_arg(self, int64_t *rec):
        cdef int nd = <int>rec[1], d
        return tuple([rec[2 + d] if rec[2 + d] >= 0 else _UnknownDim(d) for d in range(nd)])

    cdef object ones_seed(self, Tensor target):
        if (_is_symbolic_value(target)
                and (<SymbolicTensor>target)._static_shape.rank is None):
            return _sym_op("ones_like")(target)
        shape = self.shape(target)
        dtype = np.dtype(cnp.PyArray_DescrFromType(self.dtype_num(target)))
        if None in shape:
            return _sym_op("ones_like")(target)
        # ones that broadcast to the target's shape: see Note [Broadcast gradients]
        return _wrap(np.ones((1,) * len(shape), dtype))

    cdef object seed_value(self, object seed, Tensor target):
        if isinstance(seed, Tensor):
            return seed
        return _wrap(np.array(seed, dtype=np.dtype(cnp.PyArray_DescrFromType(
            self.dtype_num(target)))))

    cdef object zeros(self, tuple shape, object dtype):
        if None in shape or -1 in shape:
            _unknown_dim_used(_UnknownDim(shape.index(None) if None in shape
                                          else shape.index(-1)))
        return _wrap(np.zeros(shape, dtype))

    cdef object add(self, object cur, object g, uint8_t *owned):
        return _binary(_OP_ADD, _tensor_of(cur), _tensor_of(g))

    cdef object broadcast_to(self, object g, tuple shape):
        if None in shape or -1 in shape:
            # a lazy gradient (a known 1) against an unknown dim: the run-time
            # shape is needed, so the entry is deferred
            _unknown_dim_used(_UnknownDim(shape.index(None) if None in shape
                                          else shape.index(-1)))
        return _call_special("broadcast_to", (_tensor_of(g), shape))

    cdef object sum_axes(self, object g, tuple axes, tuple kept):
        cdef Py_ssize_t k
        reduce_sum = _sym_op("reduce_sum")
        if None not in kept and -1 not in kept:
            r = reduce_sum(g, axis=axes)
            if self.shape(r) == kept:
                return r
            return _call_special("reshape", (r, kept))
        # unknown dims in the result: the summed axes that kept drops are the
        # first ones (extra leading axes; see _reduce_to), the others stay as 1s
        k = len(self.shape(g)) - len(kept)
        order = sorted(axes)
        drop, keep = order[:k], [a - k for a in order[k:]]
        r = g
        if drop:
            r = reduce_sum(r, axis=tuple(drop))
        if keep:
            r = reduce_sum(r, axis=tuple(keep), keepdims=True)
        return r

    cdef object cast(self, object g, object dtype):
        return _call_special("cast", (g, dtype))

    cdef object stack(self, list rows):
        return _call_special("stack", (rows,))

    cdef object result(self, object g):
        return _tensor_of(g)

    cdef object reduce_unknown(self, object g, tuple g_shape, tuple in_shape, object x, int nb):
        """_reduce_to with unknown dims: the sum that static shapes decide (extra
        leading axes, a known 1 against a known n), else one _sum_to(g, x) that
        sums g to x's run-time shape. See Note [Unknown dims in VJPs]."""
        cdef Py_ssize_t d, lead
        row = g_shape[nb:]
        lead = len(row) - len(in_shape)
        drop = [nb + d for d in range(lead)]
        keep = []
        decided = True
        for d in range(max(lead, 0), len(row)):
            gd = row[d]
            xd = in_shape[d - lead]
            if xd == 1:
                if gd is None:
                    decided = False
                elif gd != 1:
                    keep.append(nb + d)
            elif xd < 0:
                if gd != 1:  # unknown or n: x's dim may be 1 at run time
                    decided = False
        if not decided:
            if nb or not _is_symbolic_value(x):
                _unknown_dim_used(_UnknownDim(0))  # deferred to run time
            return _sym_op("_sum_to")(g, x)
        if not drop and not keep:
            return g
        reduce_sum = _sym_op("reduce_sum")
        if drop:
            g = reduce_sum(g, axis=tuple(drop))
        if keep:
            g = reduce_sum(g, axis=tuple([a - len(drop) for a in keep]), keepdims=True)
        return g


cdef _VSpace _SYMBOLIC_SPACE = _SymbolicSpace()


cdef int64_t _write_static_shape(int64_t *rec, object t) except -1:
    """A symbolic tensor's shape record, -1 for an unknown dim."""
    cdef int d, nd
    s = (<SymbolicTensor>t)._static_shape
    nd = len(s)
    rec[0] = (<SymbolicTensor>t)._dtype.num
    rec[1] = nd
    for d in range(nd):
        rec[2 + d] = -1 if s[d] is None else s[d]
    return 2 + nd


def _graph_sweep(list nodes, dict slot_of, Py_ssize_t n_slots, list seeds, list source_slots,
                 defer, Py_ssize_t batch=0):
    """The reverse sweep over a graph (ft.gradients, tapes inside ft.function):
    _Sweep.node() over `nodes` (Operations, in reverse topological order)
    in the symbolic space. slot_of maps the tensors that carry gradients to
    their slots; seeds: (slot, target tensor, seed or None) per target;
    `defer(node, gs, wanted, mark)` builds the deferred-VJP nodes of an entry
    whose VJPs need an unknown dim and returns [(input index, gradient)].
    Returns each source slot's gradient value (None: none).
    See Note [One sweep, several value spaces]."""
    cdef _Sweep sw = _Sweep(None, n_slots, _SYMBOLIC_SPACE, batch)
    for s, target, seed in seeds:
        if seed is None:
            sw.seed(s, target, None)
        else:  # checked against the target's static shape by the caller
            sw.accumulate(s, _SYMBOLIC_SPACE.seed_value(seed, target))
    for node in nodes:
        _graph_entry(sw, node, slot_of, defer)
    return [sw.grads[s] if s >= 0 else None for s in source_slots]


cdef int _graph_entry(_Sweep sw, object node, dict slot_of, object defer) except -1:
    """One graph node as _Sweep.node() takes it: slots from slot_of, shape
    records from the static shapes, the node's own tensors as saved values."""
    cdef OpDef op = <OpDef>node.op_def
    cdef tuple ins = node._inputs, outs = node._outputs
    cdef int n_in = len(ins), n_out = len(outs), i, n = n_in + n_out
    cdef int64_t *slot = NULL
    cdef int64_t *mp = NULL
    cdef int64_t *meta = NULL
    cdef int64_t pos = 0, uses
    cdef bint any_in = False, unranked = False
    for i in range(n_in):
        if ins[i] in slot_of:
            any_in = True
            break
    if not any_in:
        return 0
    try:
        slot = <int64_t*>malloc((n + 1) * sizeof(int64_t))
        mp = <int64_t*>malloc((n + 1) * sizeof(int64_t))
        if slot == NULL or mp == NULL:
            raise MemoryError()
        values = list(ins) + list(outs)
        for i in range(n):
            t = values[i]
            slot[i] = slot_of.get(t, -1)
            mp[i] = pos
            if (<SymbolicTensor>t)._static_shape.rank is None:
                unranked = unranked or slot[i] >= 0
                pos += 2
            else:
                pos += 2 + len((<SymbolicTensor>t)._static_shape)
        meta = <int64_t*>malloc((pos + 1) * sizeof(int64_t))
        if meta == NULL:
            raise MemoryError()
        for i in range(n):
            t = values[i]
            if (<SymbolicTensor>t)._static_shape.rank is None:
                meta[mp[i]] = (<SymbolicTensor>t)._dtype.num
                meta[mp[i] + 1] = 0
            else:
                _write_static_shape(meta + mp[i], t)
        before = [sw.grads[slot[i]] if slot[i] >= 0 else None for i in range(n_in)]
        mark = len(node._graph._ops)
        uses = _unknown_dim_uses
        try:
            if unranked:  # no shape records to give: deferred at once
                raise UnknownDimError(f"a tensor of node '{node.name}' has an unknown rank")
            sw.node(op, n_in, n_out, slot, meta, mp, list(ins), list(outs), node.attrs)
        except Exception as e:
            if (not isinstance(e, (UnknownDimError, NotImplementedError))
                    and _unknown_dim_uses == uses):
                raise
            # See Note [Unknown dims in VJPs]: drop what the entry built, defer it
            for i in range(n_in):
                if slot[i] >= 0:
                    sw.grads[slot[i]] = before[i]
            if sw.batch:
                raise ValueError(
                    f"gradients: the VJP of node '{node.name}' (op {op.name}) needs a dim "
                    "that the graph does not know, and a Jacobian cannot defer it to run "
                    "time; give the tensors full static shapes") from None
            gs = [sw.grads[slot[n_in + i]] if slot[n_in + i] >= 0 else None
                  for i in range(n_out)]
            wanted = [i for i in range(n_in) if slot[i] >= 0]
            for i, r in defer(node, gs, wanted, mark):
                sw.accumulate(slot[i], r)
    finally:
        free(slot)
        free(mp)
        free(meta)
    return 0


def _space_for_testing(str which):
    """A value space's methods as Python callables (tests/core/test_vspace.py):
    "raw", "tensors" or "symbolic"."""
    return _SpaceProbe(_RAW_SPACE if which == "raw" else
                       _SYMBOLIC_SPACE if which == "symbolic" else _TENSOR_SPACE)


cdef class _SpaceProbe:
    """Calls a _VSpace's cdef methods from Python, for its tests."""
    cdef _VSpace vs

    def __cinit__(self, _VSpace vs):
        self.vs = vs

    def arg(self, v):
        return self.vs.arg(v)

    def value(self, g):
        return self.vs.value(g)

    def shape(self, v):
        return self.vs.shape(v)

    def dtype_num(self, v):
        return self.vs.dtype_num(v)

    def shape_arg(self, tuple shape):
        cdef int64_t rec[2 + 32]
        cdef int d
        rec[0] = -1
        rec[1] = len(shape)
        for d in range(len(shape)):
            rec[2 + d] = -1 if shape[d] is None else shape[d]
        return self.vs.shape_arg(rec)

    def has_shape(self, g, tuple shape):
        cdef int64_t rec[2 + 32]
        cdef int d
        rec[0] = -1
        rec[1] = len(shape)
        for d in range(len(shape)):
            rec[2 + d] = -1 if shape[d] is None else shape[d]
        return self.vs.has_shape(g, rec)

    def slot_full(self, g, tuple shape):
        cdef int64_t rec[2 + 32]
        cdef int d
        rec[0] = -1
        rec[1] = len(shape)
        for d in range(len(shape)):
            rec[2 + d] = -1 if shape[d] is None else shape[d]
        return self.vs.slot_full(g, rec)

    def leading_extra(self, g, tuple shape):
        cdef int64_t rec[2 + 32]
        cdef int d
        rec[0] = -1
        rec[1] = len(shape)
        for d in range(len(shape)):
            rec[2 + d] = -1 if shape[d] is None else shape[d]
        return self.vs.leading_extra(g, rec)

    def ones_seed(self, Tensor target):
        return self.vs.ones_seed(target)

    def seed_value(self, seed, Tensor target):
        return self.vs.seed_value(seed, target)

    def zeros(self, tuple shape, dtype):
        return self.vs.zeros(shape, np.dtype(dtype))

    def add(self, cur, g, bint owned):
        """(cur + g, whether the sweep owns the result afterwards)."""
        cdef uint8_t o = owned
        r = self.vs.add(cur, g, &o)
        return r, bool(o)

    def broadcast_to(self, g, tuple shape):
        return self.vs.broadcast_to(g, shape)

    def sum_axes(self, g, tuple axes, tuple kept):
        return self.vs.sum_axes(g, axes, kept)

    def cast(self, g, dtype):
        return self.vs.cast(g, np.dtype(dtype))

    def stack(self, list rows):
        return self.vs.stack(rows)

    def result(self, g):
        return self.vs.result(g)


def _node_gradients(OpDef op, list inputs, tuple attrs, list outputs, list gs,
                    bint recorded=False):
    """The gradients of one op application given as values, by _Sweep.node()
    with no tape: what a graph walker does for one node (Note [One sweep,
    several value spaces]). inputs and outputs: the op's inputs (Tensors or raw
    values) and its output Tensors; gs: one output gradient (or None) per
    output. Inputs that are float Tensors get slots; the saved values are the
    inputs and outputs themselves, as a graph keeps them. Returns one gradient
    (or None) per input. For tests and as the graph walker's model."""
    cdef int n_in = len(inputs), n_out = len(outputs), i, n = n_in + n_out
    cdef _VSpace vs = _TENSOR_SPACE if recorded else _RAW_SPACE
    cdef _Sweep sw = _Sweep(None, n, vs, 0)
    cdef int64_t *meta = NULL
    cdef int64_t *mp = NULL
    cdef int64_t *slot = NULL
    cdef int64_t pos = 0
    values = inputs + outputs
    if len(gs) != n_out:
        raise ValueError(f"op {op.name}: {len(gs)} output gradients for {n_out} outputs")
    mp = <int64_t*>malloc((n + 1) * sizeof(int64_t))
    slot = <int64_t*>malloc((n + 1) * sizeof(int64_t))
    try:
        if mp == NULL or slot == NULL:
            raise MemoryError()
        for i in range(n):
            mp[i] = pos
            pos += 2 + _ndim_of(values[i])
        meta = <int64_t*>malloc((pos + 1) * sizeof(int64_t))
        if meta == NULL:
            raise MemoryError()
        for i in range(n):
            x = values[i]
            if isinstance(x, Tensor) or cnp.PyArray_Check(x):
                _write_shape(meta + mp[i], _array_of(x))
            else:  # a Python scalar, as Tape._append records it
                meta[mp[i]] = -1
                meta[mp[i] + 1] = 0
            slot[i] = i if isinstance(x, Tensor) and _is_float_array(_array_of(x)) else -1
        for i in range(n_out):
            if slot[n_in + i] >= 0 and gs[i] is not None:
                sw.accumulate(n_in + i, vs.seed_value(gs[i], <Tensor>outputs[i]))
        saved_in = [vs.arg(x) for x in inputs]
        saved_out = [vs.arg(x) for x in outputs]
        ft_sweep_enter()
        try:
            sw.node(op, n_in, n_out, slot, meta, mp, saved_in, saved_out, attrs)
        finally:
            ft_sweep_exit()
        return [sw.result(slot[i], <Tensor>inputs[i], False) if slot[i] >= 0 else None
                for i in range(n_in)]
    finally:
        free(meta)
        free(mp)
        free(slot)


# Note [Gradients in place]
# ~~~~~~~~~~~~~~~~~~~~~~~~~
# Hand-written NumPy backpropagates with in-place updates of the gradient
# arrays it owns (`dz *= 2 / n`, `dz *= 1 - h * h`); a VJP written as an
# expression, `g * (1 - out * out)`, allocates a new array for each op of
# the sweep. So the sweep over a tape's ndarrays (not over Tensors or graph
# tensors) does what the hand-written code does, where it can prove it safe:
# - Each gradient slot is taken out of the sweep's list by the entry that
#   made its tensor: the tape is walked backwards, so every consumer has
#   already added its part, and nothing reads the slot again, unless it is
#   a source's (`keep`: gradient() returns it) or the entry also reads it.
#   Taking it out also frees each gradient as early as PyTorch does.
# - An elementwise op's VJP may have an `in_place` variant (the same
#   arguments; set with ops._registry.in_place) that computes the same result
#   bitwise (the same ufunc calls on the same values) into the buffer of g
#   or of a saved input or output. The sweep calls it for the last input
#   that needs a gradient (no later VJP of the entry, identities included,
#   reads g or the saved values), and only when nothing else can see that
#   buffer:
#   - g: an ndarray whose reference count is the sweep's one reference,
#     owning its writeable data (so no view, Tensor, saved value, seed or
#     other slot refers to it), of the output's full shape (not a lazy
#     broadcast, Note [Broadcast gradients]);
#   - a saved value (x ** 2 writes 2 g x into x): a tape that releases its
#     record as it goes (not persistent), whose record alone holds the
#     plain Tensor (_dead_saved: no other entry or tape saved it, the user
#     dropped it, no weak reference), whose ndarray only that Tensor holds;
#     the entry is its last reader, and the record drops it right after.
# Instrumented VJPs (the profiler's wrappers) are never replaced, and
# set_in_place_vjps(False) turns the variants off.

cdef inline bint _has_slot(int64_t *slot, int n_in, int64_t s) noexcept:
    cdef int i
    for i in range(n_in):
        if slot[i] == s:
            return True
    return False


cdef extern from *:
    """
    static uint64_t ft_in_place_vjps = 0;
    /* gs[0] is an ndarray that only the list holds, owning writeable data */
    static int ft_sole_array(PyObject *list) {
        PyObject *o = PyList_GET_ITEM(list, 0);
        return Py_REFCNT(o) == 1 && PyArray_CheckExact(o)
            && PyArray_CHKFLAGS((PyArrayObject *)o, NPY_ARRAY_OWNDATA | NPY_ARRAY_WRITEABLE)
            && PyArray_BASE((PyArrayObject *)o) == NULL;
    }
    """
    bint ft_sole_array(object lst)
    uint64_t ft_in_place_vjps


cdef bint _in_place_on = True


def in_place_count():
    """How many VJPs wrote into their gradient's buffer (Note [Gradients in place])."""
    return ft_in_place_vjps


def set_in_place_vjps(bint enabled):
    """Turns in-place VJPs on or off (for tests and benchmarks: the results are
    the same either way); returns the previous setting."""
    global _in_place_on
    previous = _in_place_on
    _in_place_on = enabled
    return previous


cdef extern from "Python.h":
    PyObject *ft_list_item "PyList_GET_ITEM"(object, Py_ssize_t)


cdef bint _dead_saved(list saved, int64_t pos) noexcept:
    """saved[pos] (a tape's saved value) is a plain Tensor that only the list
    holds, with no weak references, whose ndarray only it and the entry's
    list of saved values hold, owning its writeable data: nothing else can
    ever read that buffer. See Note [Gradients in place]."""
    cdef PyObject *t
    cdef PyObject *a
    if pos < 0:
        return False
    t = ft_list_item(saved, pos)
    if Py_REFCNT(t) != 1 or type(<object>t) is not Tensor or ft_has_weakrefs(t) \
            or (<Tensor>t)._flags & _F_VARIABLE:
        return False
    a = <PyObject*>(<Tensor>t)._value
    return (Py_REFCNT(a) == 2 and cnp.PyArray_CheckExact(<object>a)
            and cnp.PyArray_BASE(<cnp.ndarray>a) == NULL
            and cnp.PyArray_CHKFLAGS(<cnp.ndarray>a,
                                     cnp.NPY_ARRAY_OWNDATA | cnp.NPY_ARRAY_WRITEABLE))


@cython.final
cdef class _Sweep:
    """State of one reverse sweep: dense gradient slots, the value space and
    the VJP calls. See Note [One sweep, several value spaces]."""
    cdef _VSpace vs
    cdef Tape tape             # the tape whose entries tape_entry() reads
    cdef list grads
    cdef uint8_t *owned        # 1 where the slot's value was allocated by the sweep
    cdef uint8_t *keep         # 1 where the slot's value is read after the sweep (a source)
    cdef bint take             # node() takes each output gradient out of its slot
    # tape_entry: where each saved input, output of the entry is in the tape's
    # record (set for every value the op saves, so never stale for the values
    # an in-place variant writes into: its VJP names them, so they are saved)
    cdef int64_t saved_at[2 * MAX_ARGS]
    cdef bint release          # drop saved values as soon as their entry is done
    cdef list argbuf, gbuf, inbuf, outbuf
    cdef readonly tuple batch  # () or (B,): the leading axis of batched cotangents
    cdef int64_t *seg          # this entry's ids and shape records: See Note [Entry copies]
    cdef int64_t seg_cap

    def __cinit__(self, Tape tape, int64_t n_slots, _VSpace vs, Py_ssize_t batch=0):
        self.tape = tape
        self.vs = vs
        self.batch = (batch,) if batch > 0 else ()
        self.seg = NULL
        self.seg_cap = 0
        self.grads = [None] * n_slots
        self.owned = <uint8_t*>calloc(n_slots + 1, 1)
        self.keep = <uint8_t*>calloc(n_slots + 1, 1)
        if self.owned == NULL or self.keep == NULL:
            raise MemoryError()
        # Note [Gradients in place]: a tape's sweep over ndarrays
        self.take = tape is not None and vs is _RAW_SPACE
        for i in range(2 * MAX_ARGS):
            self.saved_at[i] = -1
        self.release = tape is not None and not tape.persistent
        self.argbuf = [None] * MAX_ARGS
        self.gbuf = [None] * MAX_ARGS
        self.inbuf = [None] * MAX_ARGS
        self.outbuf = [None] * MAX_ARGS

    def __dealloc__(self):
        free(self.seg)
        free(self.owned)
        free(self.keep)

    # ------------------------------------------------ seeding and results
    cdef int seed(self, int64_t s, Tensor target, object seed) except -1:
        """Adds the seed of `target` (ones when `seed` is None) to slot s."""
        if seed is None:
            return self.accumulate(s, self.vs.ones_seed(target))
        g = self.vs.seed_value(seed, target)
        shape = self.vs.shape(g)
        tshape = self.vs.shape(target)
        want = self.batch + tshape
        if _broadcast_pair(shape, want) != want:
            raise ValueError(
                f"GradientTape.gradient: output_gradients of shape {shape} does not match "
                f"the target's shape {tshape}")
        return self.accumulate(s, g)

    cdef object result(self, int64_t s, Tensor source, bint zero_unconnected):
        """What gradient() returns for `source` (its slot s, -1 for none): a
        Tensor of the source's shape (with the batch axis), or None."""
        g = self.grads[s] if s >= 0 else None
        shape = self.batch + self.vs.shape(source)
        if g is None:
            if not zero_unconnected:
                return None
            g = self.vs.zeros(shape, cnp.PyArray_DescrFromType(self.vs.dtype_num(source)))
        else:
            g = self.full(g, shape)
        return self.vs.result(g)

    cdef object full(self, object g, tuple shape):
        """g expanded to `shape` (a view) if it is a lazy broadcast gradient."""
        if self.vs.shape(g) == shape:
            return g
        return self.vs.broadcast_to(g, shape)

    cdef int accumulate(self, int64_t s, object g) except -1:
        cur = self.grads[s]
        if cur is None:
            self.grads[s] = g
        else:
            self.grads[s] = self.vs.add(cur, g, self.owned + s)
        return 0

    # ------------------------------------------------ the reverse loop
    cdef int tape_entries(self, int64_t n, uint8_t *live, ft_slots_t *slots) except -1:
        """The reverse loop over the tape's live entries."""
        cdef int64_t k
        ft_sweep_enter()
        try:
            for k in range(n - 1, -1, -1):
                if live[k]:
                    self.tape_entry(k, slots)
        finally:
            ft_sweep_exit()
        return 0

    cdef int tape_entry(self, int64_t k, ft_slots_t *slots) except -1:
        """Entry k of the tape as node() takes it; releases its saved values
        afterwards on a non-persistent tape."""
        cdef ft_entry_t *e = &self.tape.c.entries[k]
        cdef OpDef op = <OpDef>_OPS[e.op]
        cdef int n_in = e.n_in, n_out = e.n_out, i, j
        cdef int64_t *ids
        cdef int64_t *meta
        cdef int64_t saved = e.saved, pos, k2
        cdef int64_t seg_len, meta_off = e.meta - e.ids
        cdef int64_t mp_stack[2 * MAX_ARGS]
        cdef int64_t *mp = mp_stack
        cdef int64_t slot_stack[2 * MAX_ARGS]
        cdef int64_t *slot = slot_stack
        cdef list saved_in, saved_out = self.outbuf
        cdef object attrs = None
        cdef _VSpace vs = self.vs
        if n_in + n_out > 2 * MAX_ARGS:
            mp = <int64_t*>malloc((n_in + n_out) * sizeof(int64_t))
            slot = <int64_t*>malloc((n_in + n_out) * sizeof(int64_t))
            if mp == NULL or slot == NULL:
                free(mp)
                free(slot)
                raise MemoryError()
        saved_in = self.inbuf if n_in <= MAX_ARGS and not op.variadic else [None] * n_in
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
                    free(slot)
                raise MemoryError()
        memcpy(self.seg, self.tape.c.pool + e.ids, seg_len * sizeof(int64_t))
        ids = self.seg
        meta = self.seg + meta_off
        try:
            # where each input's and output's shape record starts, and its slot
            pos = 0
            for i in range(n_in + n_out):
                mp[i] = pos
                pos += 2 + meta[pos + 1]
                slot[i] = ft_slots_get(slots, ids[i])
            # the saved values, in Tape._append's order: See Note [Save masks]
            pos = saved
            if op.save_any:
                for i in range(n_in):
                    if op.save_all_in or (i < MAX_ARGS and op.save_in[i]):
                        saved_in[i] = vs.arg(self.tape._saved[pos])
                        if i < MAX_ARGS:
                            self.saved_at[i] = pos
                        pos += 1
                for j in range(n_out):
                    if op.save_out[j]:
                        saved_out[j] = vs.arg(self.tape._saved[pos])
                        if j < MAX_ARGS:
                            self.saved_at[MAX_ARGS + j] = pos
                        pos += 1
                if op.save_attrs:
                    attrs = self.tape._saved[pos]
                    pos += 1
            self.node(op, n_in, n_out, slot, meta, mp, saved_in, saved_out, attrs)
        finally:
            for j in range(min(n_out, MAX_ARGS)):
                saved_out[j] = None
            if saved_in is self.inbuf:
                for i in range(n_in):
                    saved_in[i] = None
            if mp != mp_stack:
                free(mp)
                free(slot)
        if self.release and saved >= 0:
            for k2 in range(saved, pos):
                self.tape._saved[k2] = None
        return 0

    # ------------------------------------------------ one entry
    cdef int node(self, OpDef op, int n_in, int n_out, int64_t *slot, int64_t *meta,
                  int64_t *mp, list saved_in, list saved_out, object attrs) except -1:
        """The VJP step of one entry, whatever records it: See Note [One sweep,
        several value spaces]. slot[i] is the gradient slot of input i and
        slot[n_in + j] that of output j (-1: none); meta + mp[i] is the shape
        record of input i (then of the outputs); saved_in / saved_out hold
        the saved values the op's VJPs name (as vs.arg gives them)."""
        cdef int i, j, last = -1
        cdef int64_t s
        cdef bint any_g = False, any_in = False
        cdef list gs = self.gbuf
        for i in range(n_in):
            if slot[i] >= 0:
                any_in = True
                break
        if not any_in:
            return 0
        try:
            # the output gradients
            for j in range(n_out):
                s = slot[n_in + j]
                g = self.grads[s] if s >= 0 else None
                if g is not None:
                    any_g = True
                    if self.take and not self.keep[s] and not _has_slot(slot, n_in, s):
                        self.grads[s] = None  # this entry is its last reader
                    if self.batch:
                        g = self.full(g, self.batch + _meta_shape(meta, mp[n_in + j]))
                    elif not op.lazy_grads and not self.vs.slot_full(g, meta + mp[n_in + j]):
                        g = self.full(g, _meta_shape(meta, mp[n_in + j]))
                gs[j] = g
            g = None
            if not any_g:
                return 0
            if op.vjp_in_place is not None and self.take and not self.batch:
                # the last input with a VJP may write into g: Note [Gradients in place]
                for i in range(n_in):
                    if slot[i] >= 0 and op.vjp_fns[i] is not None:
                        last = i
            if self.batch and not op.batchable:
                return self.rows(op, gs, saved_in, saved_out, attrs, meta, mp, n_in, n_out, slot)
            if op.joint:
                res = self.call(op.vjp_fns[0], op.vjp_plans[0], op, gs, saved_in,
                                saved_out, attrs, meta, mp, n_in)
                if not isinstance(res, (tuple, list)) or len(res) != n_in:
                    raise TypeError(
                        f"op {op.name}: the joint VJP must return one gradient per input "
                        f"({n_in}), got {type(res).__name__}")
                for i in range(n_in):
                    if slot[i] >= 0 and res[i] is not None:
                        self.accumulate(slot[i], self.fit(res[i], meta, mp[i], mp[n_in], op, i,
                                                          saved_in[i]))
            else:
                for i in range(n_in):
                    if slot[i] < 0:
                        continue
                    fn = op.vjp_fns[i]
                    if fn is None:
                        continue
                    if fn is _IDENTITY:
                        gi = gs[0]
                    else:
                        if i == last:
                            fn = self.in_place(op, i, fn, gs, saved_in, saved_out,
                                               meta + mp[n_in])
                        gi = self.call(fn, op.vjp_plans[i], op, gs, saved_in, saved_out,
                                       attrs, meta, mp, n_in)
                    if gi is not None:
                        self.accumulate(slot[i], self.fit(gi, meta, mp[i], mp[n_in], op, i,
                                                          saved_in[i]))
                    gi = None
        finally:
            for j in range(min(n_out, MAX_ARGS)):
                gs[j] = None
        return 0

    cdef object in_place(self, OpDef op, int i, object fn, list gs, list saved_in,
                         list saved_out, int64_t *out_rec):
        """fn's in-place variant when the sweep may overwrite what it writes
        into, else fn: See Note [Gradients in place]. out_rec: the output's
        shape record."""
        global ft_in_place_vjps
        cdef int into
        pair = op.vjp_in_place[i]
        if pair is None or not _in_place_on or (<tuple>pair)[0] is not fn:
            return fn
        into = (<tuple>pair)[2]
        if into == -1:
            if not (ft_sole_array(gs) and _shape_is(gs[0], out_rec)):
                return fn
        else:
            # a saved input or output, read by no one after this entry: a
            # tape that releases its record, and the saved tensor held by it alone
            if not (self.release and _dead_saved(self.tape._saved,
                                                 self.saved_at[MAX_ARGS if into == -2 else into])):
                return fn  # (checked before `v` below holds a reference)
            v = saved_out[0] if into == -2 else saved_in[into]
            if not (_shape_is(v, out_rec) and cnp.PyArray_TYPE(<cnp.ndarray>v) == <int>out_rec[0]):
                return fn
        ft_in_place_vjps += 1
        return (<tuple>pair)[1]

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
                # See Note [Unknown dims in VJPs]
                if op.variadic:
                    v = [self.vs.shape_arg(meta + mp[i]) for i in range(n_in)]
                else:
                    v = self.vs.shape_arg(meta + mp[idx])
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
                  int64_t *meta, int64_t *mp, int n_in, int n_out, int64_t *slot) except -1:
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
                        if slot[i] < 0 or fn is None:
                            res.append(None)
                        elif fn is _IDENTITY:
                            res.append(row_gs[0])
                        else:
                            res.append(self.call(fn, op.vjp_plans[i], op, row_gs, saved_in,
                                                 saved_out, attrs, meta, mp, n_in))
                for i in range(n_in):
                    if slot[i] >= 0 and res[i] is not None:
                        per_input[i].append(
                            self.full(self.fit(res[i], meta, mp[i], mp[n_in], op, i, saved_in[i]),
                                      _meta_shape(meta, mp[i])))
                    else:
                        per_input[i].append(None)
        finally:
            self.batch = batch
        for i in range(n_in):
            rows = per_input[i]
            if slot[i] < 0 or all(r is None for r in rows):
                continue
            shape = _meta_shape(meta, mp[i])
            dt = cnp.PyArray_DescrFromType(<int>meta[mp[i]])
            self.accumulate(slot[i], self.vs.stack(
                [r if r is not None else self.vs.zeros(shape, dt) for r in rows]))
        return 0

    # ------------------------------------------------ sum-to-shape
    cdef object fit(self, object g, int64_t *meta, int64_t mpos, int64_t mpos_out, OpDef op,
                    int i, object x):
        """Sums a VJP's result back to its input's shape and casts it to the
        input's dtype. See Note [Broadcast gradients].

        mpos/mpos_out locate the shape records of the input and of output 0:
        the result of an elementwise op's VJP stands for an array of the
        output's shape, any other VJP's result for one of the input's shape
        (or larger, with leading batch axes, as matmul's). x: the input's
        saved value (None when not saved: only the symbolic space reads it)."""
        cdef int type_num = <int>meta[mpos], lead
        cdef _VSpace vs = self.vs
        g = vs.value(g)
        if self.batch:
            # See Note [Batch axis in fit]
            ref = _meta_shape(meta, mpos_out if op.elementwise else mpos)
            shape = vs.shape(g)
            g = self._reduce_to(g, shape, _meta_shape(meta, mpos), ref, op, i, x,
                                1 if len(shape) > len(ref) else 0)
        elif not (vs.has_shape(g, meta + mpos)
                  and (not op.elementwise or vs.has_shape(g, meta + mpos_out))):
            lead = vs.leading_extra(g, meta + mpos)
            if lead > 0 and (not op.elementwise or vs.has_shape(g, meta + mpos_out)):
                # the common broadcast (a bias): g has the input's shape after
                # `lead` extra leading axes, so the sum is over those alone
                g = vs.sum_axes(g, tuple(range(lead)), _meta_shape(meta, mpos))
            else:
                g = self._reduce_to(g, vs.shape(g), _meta_shape(meta, mpos),
                                    _meta_shape(meta, mpos_out if op.elementwise else mpos),
                                    op, i, x)
        if type_num >= 0 and vs.dtype_num(g) != type_num:
            g = vs.cast(g, cnp.PyArray_DescrFromType(type_num))
        return g

    cdef object _reduce_to(self, object g, tuple g_shape, tuple in_shape, tuple ref_shape,
                           OpDef op, int i, object x, int nb=0):
        """g (of g_shape: nb batch axes, then a row standing for an array of
        broadcast(row, ref_shape)) summed over the axes that broadcasting added
        to in_shape; g stays lazy (smaller) where it already broadcasts to
        in_shape. The batch axes are kept as they are."""
        cdef Py_ssize_t d
        if self.vs.symbolic and (None in g_shape or -1 in in_shape or -1 in ref_shape):
            # See Note [Unknown dims in VJPs]
            return (<_SymbolicSpace>self.vs).reduce_unknown(g, g_shape, in_shape, x, nb)
        bshape = g_shape[:nb]
        row = g_shape[nb:]
        full = _broadcast_pair(row, ref_shape)
        if full is None or _broadcast_pair(full, in_shape) is None:
            raise ValueError(
                f"op {op.name}: the VJP for input {i} returned a gradient of shape {row}, "
                f"which does not match the input's shape {in_shape}")
        lead = len(full) - len(in_shape)
        row_axes = [d for d in range(len(full))
                    if d < lead or (in_shape[d - lead] == 1 and full[d] != 1)]
        if not row_axes:
            return g
        axes = tuple([nb + d for d in row_axes])
        kept = bshape + tuple([1 if d in row_axes else full[d] for d in range(lead, len(full))])
        if row != full:
            # a lazy gradient over a broadcast axis: each element counts n times
            g = self.full(g, bshape + full)
        return self.vs.sum_axes(g, axes, kept)


# Note [Batch axis in fit]
# ~~~~~~~~~~~~~~~~~~~~~~~~
# In a batched sweep a VJP's result carries the batch axis first (its
# cotangent did), followed by a row that broadcasts like an unbatched result.
# Broadcasting is right-aligned, so the row's extra leading axes (an input
# broadcast against a larger one, matmul's batch axes) sit *after* the batch
# axis: the sum back to the input's shape runs over the row's axes only, never
# over the batch axis (summing it mixed the Jacobian's rows: a Jacobian of a
# Jacobian came out as [[2, 2], [2, 2]] for [[2, 0], [0, 2]]). A result with
# no more axes than the row it stands for (a VJP that returns zeros of its
# input's shape without looking at g) has no batch axis and broadcasts over it.


cdef object _np_add_reduce = np.add.reduce


cdef inline int _leading_extra(object arr, int64_t *rec) noexcept:
    """k > 0 when arr's shape is k extra axes followed by the shape of record rec, else 0."""
    cdef int nd = <int>rec[1], gnd = cnp.PyArray_NDIM(<cnp.ndarray>arr), d
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(<cnp.ndarray>arr)
    if gnd <= nd:
        return 0
    for d in range(nd):
        if dims[gnd - nd + d] != rec[2 + d]:
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
