# The executor of traced functions (ft.function): a Plan. Part of core.pyx.

# Note [Executor]
# ~~~~~~~~~~~~~~~
# ft.function traces a Python function into an ft.Graph once per input
# signature (fasttape/function.py); running the trace must cost less than
# running the Python function eagerly, and less than hand-written NumPy where
# it can. So a trace is compiled once into a Plan, and a call is one C loop
# over the Plan's steps, no graph walking:
# - **Schedule**: the graph's nodes in creation order (a topological order
#   that keeps the program order of stateful nodes), each live non-constant
#   node one step: its forward (the table entry's NumPy function), the slots
#   of its inputs, its attributes (passed after the inputs, as OpDef.apply
#   passes them) and the slots of its outputs. Values live in a list of
#   slots: a call copies the template (constants pre-placed), puts the
#   arguments in their slots, runs the steps through PyObject_Vectorcall
#   (inputs and attributes borrowed from the slot list and the attribute
#   tuple: no tuple is built per step) and reads the result slots.
# - **Constant folding**: a node that is not stateful and whose inputs are
#   all constants is run once, when the Plan is built, and becomes a constant
#   (a forward that raises is left in the schedule: it raises at the call,
#   naming its build line).
# - **Common subexpressions**: a node that is not stateful, of the same op,
#   inputs and attributes (compared by type and value; unhashable attributes
#   are never merged) as an earlier one reuses its outputs. Small constants
#   (at most 64 elements) of equal dtype, shape and bytes are one constant.
# - **Variable reads**: a ReadVariableOp of a variable read before with no
#   stateful node in between (no assign can have run) reuses that read, so
#   the VJPs' transposes of a weight read per time step of an unrolled RNN
#   merge too. (ReadVariableOp nodes are stateful: never folded, never dead.)
# - **Simplification**: `x ** 1` (a VJP's `x ** (2 - 1)`) is x; a matrix's
#   transpose (the matmul VJPs' x.T) is the `.T` view, not np.transpose.
# - **Sums of matrix products**: a sum (a tree of two-input adds, each
#   inner value used once) of three or more `A_i.T @ B_i` of 2-D matrices of
#   one dtype and one known result shape - the matmul VJPs' weight gradients
#   of an unrolled RNN, accumulated over the time steps - is one step,
#   `concat(A_i).T @ concat(B_i)`: one BLAS call over all the rows instead
#   of k small products and k - 1 adds (the same sum in another order:
#   results agree to rounding). rnn_step's traced step: 852 steps to 556.
# - **Dead nodes**: a node is kept when an output or a stateful node (random
#   draws, variable reads, assignments) needs it; stateful nodes are always
#   kept, so every call draws fresh random numbers in program order.
# - **Python numbers**: a 0-d constant operand of pow (which eager mode
#   calls with Python numbers as they are: Note [Weak Python data]) is
#   passed as a Python number of the constant's value, so that NumPy takes
#   eager mode's fast paths with the same results. Other ops keep 0-d
#   arrays: NumPy 2 takes 0.76 us for np.multiply(a, 1.01) and 0.29 us with
#   a 0-d array (16 float64s), with equal results. The constant
#   has lost the Python type it was written with, so the common spelling is
#   assumed: a complex with no imaginary part is a float, and an integral
#   exponent of pow (|e| <= 16) an int - `x ** 2` is then np.square in both
#   modes (NumPy's fast path takes ints only), not the general power loop,
#   3x slower. (`x ** 2.0` squares in a trace and takes the power loop in
#   eager mode: results may differ in the last bit there.)
# - **Static lifetimes**: a slot is cleared after its last reader (so
#   memory is released as eager code releases it), except the result slots.
# - **Buffer reuse**: a step whose op is a NumPy ufunc (OpDef.inplace_ufunc)
#   may write its result into the buffer of an input that dies at that step,
#   with `out=`: chosen when the Plan is built (the input is made by an
#   earlier step - not an argument, a constant or a variable's value - and has
#   the output's static dtype and fully known static shape) and confirmed at
#   the call (the array is exactly an ndarray owning its writeable data, and
#   the slot holds the only reference: no view, output or caller shares it).
#   `x * 1.01 + 0.1` then allocates once, as NumPy's temporary elision does.
#   Plan.reused counts the steps that wrote into a dead buffer.
# - **Errors**: an exception of a forward is raised as eager mode raises it
#   (the op's name, its inputs' shapes and dtypes, the caller's line), plus the
#   node's name and the line where the user's code built it (Operation
#   .traceback): TensorFlow 1's "error at sess.run, find the op yourself"
#   does not happen.
# - **Variables' nodes**: nodes with no op table entry (ReadVariableOp,
#   Assign, ...) become steps through build_plan's `special`: ft.function
#   reads and assigns eager variables (session.function_node), ft.Session
#   reads and assigns its own values (Session._special). They are stateful.
# - **Feeds**: any tensor may be fed (ft.Session): a node that makes a fed
#   tensor and runs anyway writes it to a slot nothing reads, and a fed
#   tensor is never folded or merged.
# - **Tapes**: a call while a recording GradientTape follows one of its
#   arguments, or when the plan reads a trainable variable under a recording
#   tape, leaves the fast path: the caller records it as one op (Note
#   [Traced functions under a tape] in fasttape/function.py).
# Measured (timeit, min of 9 repeats, a shared 2-core machine; ratios to
# NumPy in the same run): calling a traced `a + b` on (1,) float32 tensors
# 2.0x NumPy's `a + b` (0.56 us; eager 1.2x), C from Function.__call__
# (TracedCallable) to the loop;
# chain_small's forward (300 ufuncs on 16 float64s) 0.55-0.62x hand-written
# NumPy with in-place updates (eager 1.0-1.2x): the loop costs less than
# NumPy's own operator dispatch, and 299 of the 301 steps write into a dead
# buffer. Table and profile: "ft.function and its executor" in docs/design.md.

cdef enum:
    _PLAN_MAX_ARGS = 32      # inputs + attributes of a step called without a tuple

cdef tuple _OUT_KW = ("out",)

#: what Plan.call returns when the arguments do not fit its fast path
PLAN_MISS = object()

cdef extern from "Python.h":
    PyObject *PyList_GET_ITEM(object lst, Py_ssize_t i)
    PyObject *PyTuple_GET_ITEM(object tup, Py_ssize_t i)


cdef int *_int_array(list values) except NULL:
    cdef Py_ssize_t n = len(values), i
    cdef int *a = <int*>malloc((n if n > 0 else 1) * sizeof(int))
    if a == NULL:
        raise MemoryError()
    for i in range(n):
        a[i] = values[i]
    return a


cdef int *_offsets(list groups) except NULL:
    """Offsets of the groups (lists of ints) in their concatenation."""
    cdef list off = [0]
    cdef Py_ssize_t total = 0
    for g in groups:
        total += len(g)
        off.append(total)
    return _int_array(off)


cdef int *_concat(list groups) except NULL:
    return _int_array([i for g in groups for i in g])


cdef class Plan:
    """A traced graph compiled into a schedule (Note [Executor]): built once
    per trace by `build_plan`, run per call by `run` (arrays in, arrays out)
    or `call` (eager tensors in, eager tensors out)."""

    cdef readonly int n_slots
    cdef readonly int n_steps
    cdef readonly int n_feeds
    cdef readonly int n_results
    cdef readonly dict stats          # what building did: nodes, folded, cse, dead, ...
    cdef readonly uint64_t reused     # steps that wrote their result into a dead input
    cdef readonly uint64_t calls
    cdef list _template               # slot values: constants placed, the rest None
    cdef list _forwards               # per step
    cdef list _attrs                  # per step: a tuple
    cdef list _nodes                  # per step: its Operation (for errors)
    cdef readonly list step_types     # per step: the node's type (tests, debugging)
    cdef int *_in_off
    cdef int *_ins
    cdef int *_out_off
    cdef int *_outs
    cdef int *_free_off
    cdef int *_frees
    cdef int *_reuse                  # per step: the input position whose buffer may take the result
    cdef int *_feeds                  # slot of each argument
    cdef int *_results                # slot of each result
    # the arguments' static specs, checked by `call`
    cdef list _feed_dtypes
    cdef int *_feed_ndim              # -1: unknown rank
    cdef int *_feed_dim_off
    cdef Py_ssize_t *_feed_dims       # -1: unknown dim
    cdef bint _reads_trainable
    cdef int *_arg_kind               # per argument of `call`: 0 a Tensor, 1 a list, 2 a tuple
    cdef int *_arg_len                # ... of this many Tensors
    cdef Py_ssize_t _n_args
    cdef public bint single           # `call` returns its one result itself
    cdef public object pack           # else `call` returns pack(list of results)
    # error(node, input values, exception): the exception a failing step
    # raises (ft.Session's format); None: _raise_step_error's
    cdef public object error
    # after_step(node, output values): called after each step when set
    # (ft.Session's debug checks)
    cdef public object after_step
    cdef readonly list result_made    # per result: True when a step makes it (not a constant or argument)
    # record(arguments, values): what `call` returns when a recording tape
    # needs the call's gradient (None: PLAN_MISS)
    cdef public object record
    cdef object __weakref__           # _LIVE_PLANS

    def rebind(self, fn):
        """Replaces each step's function f by fn(node, f) (the profiler and
        check_numerics swap the op table's forwards for wrappers and back:
        Note [Instrumented ops] in fasttape/_instrument.py)."""
        for s in range(self.n_steps):
            self._forwards[s] = fn(self._nodes[s], self._forwards[s])

    def __dealloc__(self):
        free(self._in_off)
        free(self._ins)
        free(self._out_off)
        free(self._outs)
        free(self._free_off)
        free(self._frees)
        free(self._reuse)
        free(self._feeds)
        free(self._results)
        free(self._feed_ndim)
        free(self._feed_dim_off)
        free(self._feed_dims)
        free(self._arg_kind)
        free(self._arg_len)

    def set_layout(self, list layout):
        """The arguments `call` takes: per argument, None (a Tensor) or
        (list or tuple, n): a list or tuple of n Tensors; n_feeds in all."""
        kinds = [0 if a is None else 1 if a[0] is list else 2 for a in layout]
        lens = [1 if a is None else int(a[1]) for a in layout]
        if sum(lens) != self.n_feeds:
            raise ValueError(f"set_layout: {sum(lens)} tensors, the plan takes {self.n_feeds}")
        free(self._arg_kind)
        free(self._arg_len)
        self._arg_kind = NULL
        self._arg_len = NULL
        self._arg_kind = _int_array(kinds)
        self._arg_len = _int_array(lens)
        self._n_args = len(layout)

    def __repr__(self):
        return (f"<ft Plan: {self.n_steps} steps, {self.n_slots} slots, {self.n_feeds} "
                f"arguments, {self.n_results} results>")

    cdef int _set_feeds(self, list feeds) except -1:
        cdef Py_ssize_t i, k = 0, total = 0
        ndims = []
        dims = []
        self._feed_dtypes = []
        for t in feeds:
            shape = t.shape
            self._feed_dtypes.append(t.dtype)
            if shape.rank is None:
                ndims.append(-1)
                dims.append([])
            else:
                ndims.append(len(shape))
                dims.append([-1 if d is None else int(d) for d in shape])
        self._feed_ndim = _int_array(ndims)
        self._feed_dim_off = _offsets(dims)
        for d in dims:
            total += len(d)
        self._feed_dims = <Py_ssize_t*>malloc((total if total > 0 else 1) * sizeof(Py_ssize_t))
        if self._feed_dims == NULL:
            raise MemoryError()
        for d in dims:
            for i in d:
                self._feed_dims[k] = i
                k += 1
        return 0

    cdef bint _matches(self, Py_ssize_t i, object v):
        """v (an ndarray) has argument i's dtype and fits its static shape."""
        cdef int nd = self._feed_ndim[i], d
        cdef cnp.npy_intp *dims
        cdef Py_ssize_t *want
        expected = self._feed_dtypes[i]
        if <PyObject*>cnp.PyArray_DESCR(<cnp.ndarray>v) != <PyObject*>expected:
            if v.dtype != expected:
                return False
        if nd < 0:
            return True
        if cnp.PyArray_NDIM(<cnp.ndarray>v) != nd:
            return False
        dims = cnp.PyArray_DIMS(<cnp.ndarray>v)
        want = self._feed_dims + self._feed_dim_off[i]
        for d in range(nd):
            if want[d] >= 0 and want[d] != dims[d]:
                return False
        return True

    def matches(self, Py_ssize_t i, v):
        """Whether array `v` fits argument i (dtype, static shape)."""
        if not 0 <= i < self.n_feeds:
            raise IndexError(f"argument {i} of {self.n_feeds}")
        return cnp.PyArray_Check(v) and self._matches(i, v)

    def call(self, tuple args):
        """Runs the plan on eager Tensors: see _call."""
        return self._call(args)

    cdef object _call(self, tuple args):
        """Runs the plan on eager Tensors (exactly its arguments, in order),
        returning its one result (`single`), else pack(list of results), else
        the list; PLAN_MISS when an argument is not an eager Tensor of its
        argument's dtype and static shape, or the thread builds a graph (the
        caller then takes its general path)."""
        cdef Py_ssize_t i, j, k, n = len(args)
        cdef list values
        if n != self._n_args or ft_staging():
            return PLAN_MISS
        values = [None] * self.n_feeds
        k = 0
        for i in range(n):
            x = args[i]
            if self._arg_kind[i] == 0:
                if type(x) is not Tensor:
                    return PLAN_MISS
                v = (<Tensor>x)._value
                if not self._matches(k, v):
                    return PLAN_MISS
                values[k] = v
                k += 1
                continue
            if (type(x) is not (list if self._arg_kind[i] == 1 else tuple)
                    or len(x) != self._arg_len[i]):
                return PLAN_MISS
            for j in range(self._arg_len[i]):
                y = x[j]
                if type(y) is not Tensor:
                    return PLAN_MISS
                v = (<Tensor>y)._value
                if not self._matches(k, v):
                    return PLAN_MISS
                values[k] = v
                k += 1
        if ft_tls_depth():
            flat = args if self.n_feeds == n else tuple(
                [y for x in args for y in (x if isinstance(x, (list, tuple)) else (x,))])
            if self._needs_tape(flat):
                # recorded as one op: Note [Traced functions under a tape]
                return PLAN_MISS if self.record is None else self.record(flat, values)
        out = self._run(values)
        for i in range(self.n_results):
            out[i] = _wrap(out[i])
        if self.single:
            return out[0]
        if self.pack is not None:
            return self.pack(out)
        return out

    def needs_tape(self, args):
        """Whether a recording tape needs the gradient of a call with these
        arguments (it follows one, or the plan reads a trainable variable)."""
        return bool(ft_tls_depth()) and self._needs_tape(tuple(args))

    cdef bint _needs_tape(self, tuple args) except -1:
        cdef int k
        cdef ft_tape_t *ct
        for k in range(ft_tls_depth()):
            ct = ft_tls_at(k)
            if not ct.recording:
                continue
            if self._reads_trainable:
                return True
            for x in args:
                if isinstance(x, Tensor) and (
                        ft_tape_tracks(ct, (<Tensor>x)._id)
                        or (<Tensor>x)._flags & _F_TRAINABLE):
                    return True
        return False

    def run(self, list values):
        """Runs the plan on arrays (one per argument, already checked):
        returns the list of result arrays."""
        if len(values) != self.n_feeds:
            raise ValueError(f"the plan takes {self.n_feeds} arguments, got {len(values)}")
        return self._run(values)

    cdef list _run(self, list values):
        cdef list slots = list(self._template)
        cdef Py_ssize_t s = 0, k, n, j, n_attr
        cdef int r
        cdef PyObject *args[_PLAN_MAX_ARGS + 1]
        cdef PyObject *buf
        cdef tuple attrs
        cdef list tmp
        self.calls += 1
        for k in range(self.n_feeds):
            slots[self._feeds[k]] = values[k]
        try:
            for s in range(self.n_steps):
                fwd = <object>PyList_GET_ITEM(self._forwards, s)
                attrs = <tuple>PyList_GET_ITEM(self._attrs, s)
                n_attr = len(attrs)
                n = self._in_off[s + 1] - self._in_off[s]
                if n + n_attr <= _PLAN_MAX_ARGS:
                    for k in range(n):
                        args[k] = PyList_GET_ITEM(slots, self._ins[self._in_off[s] + k])
                    for j in range(n_attr):
                        args[n + j] = PyTuple_GET_ITEM(attrs, j)
                    r = self._reuse[s]
                    out = None
                    if r >= 0:
                        buf = args[r]
                        # the slot holds the only reference: See Note [Executor]
                        if (cnp.PyArray_CheckExact(<object>buf) and Py_REFCNT(buf) == 1
                                and cnp.PyArray_BASE(<cnp.ndarray>buf) == NULL
                                and cnp.PyArray_CHKFLAGS(<cnp.ndarray>buf,
                                                         cnp.NPY_ARRAY_OWNDATA
                                                         | cnp.NPY_ARRAY_WRITEABLE)):
                            args[n + n_attr] = buf
                            out = PyObject_Vectorcall(fwd, args, n + n_attr, <PyObject*>_OUT_KW)
                            self.reused += 1
                        else:
                            out = PyObject_Vectorcall(fwd, args, n + n_attr, NULL)
                    else:
                        out = PyObject_Vectorcall(fwd, args, n + n_attr, NULL)
                else:  # many inputs (a variadic op): through a tuple
                    tmp = [slots[self._ins[k]] for k in range(self._in_off[s], self._in_off[s + 1])]
                    out = fwd(*tmp, *attrs)
                k = self._out_off[s]
                if self._out_off[s + 1] - k == 1:
                    slots[self._outs[k]] = _as_array(out)
                else:
                    outs = tuple(out)
                    for j in range(self._out_off[s + 1] - k):
                        slots[self._outs[k + j]] = _as_array(outs[j])
                if self.after_step is not None:
                    self.after_step(self._nodes[s],
                                    [slots[self._outs[j]] for j in range(k, self._out_off[s + 1])])
                for k in range(self._free_off[s], self._free_off[s + 1]):
                    slots[self._frees[k]] = None
        except (ValueError, TypeError, IndexError, ArithmeticError, np.linalg.LinAlgError) as e:
            if self.error is not None:
                values = [slots[self._ins[k]] for k in range(self._in_off[s], self._in_off[s + 1])]
                err = self.error(self._nodes[s], values, e)
                if err is e:
                    raise
                raise err from err.__cause__  # None unless the hook chains one (py_func)
            self._raise_step_error(s, slots, e)
        return [slots[self._results[k]] for k in range(self.n_results)]

    cdef object _raise_step_error(self, Py_ssize_t s, list slots, object e):
        node = self._nodes[s]
        op = node.op_def
        values = [slots[self._ins[k]] for k in range(self._in_off[s], self._in_off[s + 1])]
        cls = (type(e) if type(e) in (ValueError, TypeError, _errors.InvalidArgumentError)
               else _errors.InvalidArgumentError)
        detail = getattr(e, "ft_detail", None) or str(e)
        names = None if op is None or op.variadic else op.input_names
        name = node.type if op is None else op.name
        err = _errors.op_error(cls, name, values, detail, names)
        where = node.traceback
        built = (f"\n  node '{node.name}' was built at {where[0]}:{where[1]}: {where[2]}"
                 if where is not None else f"\n  node '{node.name}'")
        err.args = (err.args[0] + built,)
        err.ft_node = node.name
        raise err from e


cdef object _attr_key(object a):
    """A hashable key of an attribute that tells 1, 1.0, True and -0.0 apart."""
    if isinstance(a, tuple):
        return (tuple, tuple([_attr_key(x) for x in a]))
    if isinstance(a, list):
        return (list, tuple([_attr_key(x) for x in a]))
    if isinstance(a, float):
        return (float, repr(a))
    if isinstance(a, np.ndarray):
        if a.size > 64:
            raise TypeError("large array attribute")
        return (np.ndarray, a.dtype.str, a.shape, a.tobytes())
    hash(a)
    return (type(a), a)


def _matrix_t(x):
    """A plan step: the transpose of a matrix."""
    return x.T


def _sum_of_products(*args):
    """A plan step: sum_i A_i.T @ B_i for args = (A_1..A_k, B_1..B_k, k)."""
    cdef Py_ssize_t k = args[len(args) - 1]  # (no negative indexes: wraparound is off)
    return np.concatenate(args[:k]).T @ np.concatenate(args[k:2 * k])


def _fuse_sums_of_products(list steps, list results, canon, stats):
    """Note [Executor], sums of matrix products: rewrites `steps` in place."""
    uses = {}
    producer = {}
    for i, step in enumerate(steps):
        for t in step[2]:
            uses[t] = uses.get(t, 0) + 1
        for t in step[4]:
            producer[t] = i
    for t in results:
        t = canon(t)
        uses[t] = uses.get(t, 0) + 2  # a result is never an inner value

    def matrix(t):
        return t.shape.rank == 2

    def terms(t, shape, dtype, inner):
        """[(A, B)] when t is a sum of A.T @ B used only by its consumer."""
        i = producer.get(t)
        if i is None or uses.get(t, 0) != 1:
            return None
        node, fwd, ins, attrs, outs, stateful = steps[i]
        op = node.op_def
        if (op is None or stateful or len(ins) != 2 or len(outs) != 1
                or _known_shape(t) != shape or t.dtype != dtype):
            return None
        if op.name == "matmul":
            j = producer.get(ins[0])
            if (j is not None and steps[j][1] is _matrix_t and matrix(ins[1])
                    and uses.get(ins[0], 0) == 1):
                inner.append(i)
                return [(steps[j][2][0], ins[1])]
            return None
        if op.name == "add":
            left = terms(ins[0], shape, dtype, inner)
            right = terms(ins[1], shape, dtype, inner) if left is not None else None
            if right is not None:
                inner.append(i)
                return left + right
        return None

    done = set()
    for i in range(len(steps) - 1, -1, -1):
        node, fwd, ins, attrs, outs, stateful = steps[i]
        op = node.op_def
        if (i in done or op is None or op.name != "add" or len(ins) != 2 or len(outs) != 1
                or not matrix(outs[0]) or outs[0].dtype.kind not in "fc"):
            continue
        shape = _known_shape(outs[0])
        if shape is None:
            continue
        inner = []
        left = terms(ins[0], shape, outs[0].dtype, inner)
        right = terms(ins[1], shape, outs[0].dtype, inner) if left is not None else None
        if right is None or len(left) + len(right) < 3:
            continue
        pairs = left + right
        done.update(inner)
        steps[i] = (node, _sum_of_products, [a for a, _ in pairs] + [b for _, b in pairs],
                    (len(pairs),), outs, False)
        stats["simplified"] += len(inner)


def _takes_python_numbers(OpDef op):
    """pow, which eager mode calls with Python numbers as they are (Note
    [Weak Python data]) and where NumPy has fast paths for them: a 0-d
    constant exponent or base is passed as a Python number too, so NumPy
    takes the same paths (`x ** 2` is np.square in both modes)."""
    return op.name == "pow"


def _known_shape(t):
    s = t.shape
    if s.rank is None or any(d is None for d in s):
        return None
    return tuple(s)


_LIVE_PLANS = weakref.WeakSet()  # every Plan alive: see Plan.rebind


def live_plans():
    return list(_LIVE_PLANS)


def build_plan(list ops, list feeds, list results, special=None):
    """Compiles a traced graph into a Plan (Note [Executor]).

    ops: the graph's Operations in creation order; feeds: the tensors whose
    values are the arguments, in order (placeholders, or any tensor: a node
    that makes a fed tensor and runs anyway leaves it as fed); results: the
    symbolic tensors returned, in order. `special(node)` handles the nodes
    with no op table entry besides Const and Placeholder (variables'
    nodes): (forward, attrs, stateful), the step's forward called as
    forward(*inputs, *attrs); None leaves the node out. Without it, a
    ReadVariableOp of an eager variable is read with tensor_value. Raises
    NotImplementedError for a node the executor cannot run (naming its
    type and build line)."""
    cdef Plan plan = Plan.__new__(Plan)
    cdef Py_ssize_t i, s
    stats = {"nodes": len(ops), "folded": 0, "cse": 0, "dead": 0, "consts": 0,
             "reuse_sites": 0, "reads_merged": 0, "simplified": 0}
    last_read = {}    # id(variable) -> its last read's output, while no stateful node intervenes
    rep = {}          # tensor -> the tensor that stands for it (CSE, folding)
    const_of = {}     # tensor -> its constant value
    small = {}        # (dtype, shape, bytes) -> tensor: small equal constants are one
    feed_set = {t: i for i, t in enumerate(feeds)}
    seen = {}         # CSE key -> node
    steps = []        # (node, forward, input tensors, attrs, output tensors, stateful)
    missing = {}      # placeholders that are no argument

    def canon(t):
        return rep.get(t, t)

    def add_const(t, value):
        value = _as_array(value)
        if t in feed_set:
            return  # fed: the argument wins
        if value.size <= 64:
            key = (value.dtype.str, value.shape, value.tobytes())
            first = small.get(key)
            if first is not None:
                rep[t] = first
                return
            small[key] = t
        const_of[t] = value

    for node in ops:
        kind = node.type
        outs = node.outputs
        if node.op_def is None:
            if kind == "ReadVariableOp" and outs[0] not in feed_set:
                # a second read with no stateful node in between: the same value
                first = last_read.get(id(node.attrs[0]))
                if first is not None:
                    rep[outs[0]] = first
                    stats["reads_merged"] += 1
                    continue
                last_read[id(node.attrs[0])] = outs[0]
            if kind == "Const":
                add_const(outs[0], node.attrs[0])
            elif kind == "Placeholder":
                if outs[0] not in feed_set:
                    missing[outs[0]] = node
            elif special is not None:
                sp = special(node)
                if sp is not None and sp[2] and kind != "ReadVariableOp":
                    last_read.clear()
                if sp is not None:
                    steps.append((node, sp[0], [canon(t) for t in node.inputs], tuple(sp[1]),
                                  outs, bool(sp[2])))
            elif kind == "ReadVariableOp":
                steps.append((node, tensor_value, [], (node.attrs[0],), outs, True))
            else:
                where = node.traceback
                raise NotImplementedError(
                    f"ft.function: the executor cannot run node '{node.name}' of type {kind}"
                    + (f" (built at {where[0]}:{where[1]}: {where[2]})" if where else ""))
            continue
        op = node.op_def
        ins = [canon(t) for t in node.inputs]
        fed_out = any(t in feed_set for t in outs)
        if op.stateful:
            last_read.clear()
        elif (not fed_out and op.name == "pow" and ins[0] not in const_of
              and ins[1] in const_of and const_of[ins[1]].ndim == 0
              and const_of[ins[1]] == 1 and ins[0].dtype == outs[0].dtype):
            rep[outs[0]] = ins[0]  # x ** 1 (a VJP's x ** (2 - 1)): x itself
            stats["simplified"] += 1
            continue
        if not op.stateful and not fed_out:
            if all(t in const_of for t in ins):
                try:
                    out = op.forward(*[const_of[t] for t in ins], *node.attrs)
                except Exception:  # noqa: BLE001  (raised at the call, naming the node)
                    pass
                else:
                    vals = [out] if op.n_out == 1 else list(out)
                    for t, v in zip(outs, vals):
                        add_const(t, v)
                    stats["folded"] += 1
                    continue
            try:
                key = (op.index, tuple([id(t) for t in ins]), _attr_key(node.attrs))
            except TypeError:
                key = None
            if key is not None:
                first = seen.get(key)
                if first is not None:
                    for t, u in zip(outs, first.outputs):
                        rep[t] = canon(u)
                    stats["cse"] += 1
                    continue
                seen[key] = node
        if (op.name == "transpose" and len(ins) == 1 and ins[0].shape.rank == 2
                and tuple(node.attrs) in (((1, 0),), ((-1, -2),), ((1, -2),), ((-1, 0),), (None,))):
            # a matrix's transpose (the matmul VJPs' x.T): the `.T` view, the
            # same array np.transpose(x, (1, 0)) makes, at a third of its cost
            steps.append((node, _matrix_t, ins, (), outs, False))
            continue
        steps.append((node, op.forward, ins, tuple(node.attrs), outs, bool(op.stateful)))

    _fuse_sums_of_products(steps, results, canon, stats)

    # dead nodes: kept when a result or a stateful node needs them
    needed = {canon(t) for t in results}
    live = []
    for step in reversed(steps):
        if step[5] or any(t in needed for t in step[4]):
            live.append(step)
            needed.update(step[2])
        else:
            stats["dead"] += 1
    live.reverse()
    for t in needed:
        if t in missing:
            node = missing[t]
            raise ValueError(f"ft.function: the placeholder '{node.name}' made inside the "
                             "function is not an argument and has no value when it runs; "
                             "pass it as an argument")

    # slots
    slot = {}
    template = []

    def slot_of(t):
        i = slot.get(t)
        if i is None:
            i = slot[t] = len(template)
            template.append(const_of.get(t))
        return i

    feed_slots = [slot_of(t) for t in feeds]
    scalar_slot = {}

    def scalar_of(t, bint power):
        v = const_of[t].item()
        if isinstance(v, complex) and v.imag == 0:
            v = v.real  # as written in the source, most likely: `z ** 0.5`
        if power and isinstance(v, float) and v.is_integer() and abs(v) <= 16:
            v = int(v)  # `x ** 2` as eager mode calls it: NumPy squares for an int 2 only
        key = (t, type(v))
        i = scalar_slot.get(key)
        if i is None:
            i = scalar_slot[key] = len(template)
            template.append(v)
        return i

    def in_slots(step):
        ins = step[2]
        op = step[0].op_def
        if (len(ins) == 2 and op is not None and _takes_python_numbers(op)
                and (ins[0] in const_of) != (ins[1] in const_of)):
            return [scalar_of(t, op.name == "pow") if t in const_of and const_of[t].ndim == 0
                    and const_of[t].dtype.kind in "biufc" else slot_of(t) for t in ins]
        return [slot_of(t) for t in ins]

    step_ins = [in_slots(step) for step in live]
    def out_slot(t):
        if t in feed_set:  # a fed output: the node writes to a slot nothing reads
            template.append(None)
            return len(template) - 1
        return slot_of(t)

    step_outs = [[out_slot(t) for t in step[4]] for step in live]
    result_slots = [slot_of(canon(t)) for t in results]
    stats["consts"] = sum(1 for t in slot if t in const_of) + len(scalar_slot)

    # static lifetimes: a step's output slot is cleared after its last reader
    made = {}
    for s, outs in enumerate(step_outs):
        for i in outs:
            made[i] = s
    last = {}
    for s, ins in enumerate(step_ins):
        for i in ins:
            last[i] = s
    keep = set(result_slots)
    frees = [[] for _ in live]
    for i, s in last.items():
        if i in made and i not in keep:
            frees[s].append(i)
    for i, s in made.items():  # outputs no step reads (a stateful node's, or a second output)
        if i not in last and i not in keep:
            frees[s].append(i)

    # buffer reuse through out=: See Note [Executor]
    reuse = []
    for s, step in enumerate(live):
        node, op = step[0], step[0].op_def
        r = -1
        if (op is not None and op.inplace_ufunc and op.n_out == 1 and not step[3]
                and len(step[4]) == 1):
            out_t = step[4][0]
            shape = _known_shape(out_t)
            if shape is not None:
                for pos, t in enumerate(step[2]):
                    i = step_ins[s][pos]
                    producer = made.get(i)
                    if (producer is not None and live[producer][0].op_def is not None
                            and last.get(i) == s and i not in keep
                            and t.dtype == out_t.dtype and _known_shape(t) == shape):
                        r = pos
                        break
        if r >= 0:
            stats["reuse_sites"] += 1
        reuse.append(r)

    plan.n_slots = len(template)
    plan.n_steps = len(live)
    plan.n_feeds = len(feeds)
    plan.n_results = len(results)
    plan._template = template
    plan._forwards = [step[1] for step in live]
    plan._attrs = [step[3] for step in live]
    plan._nodes = [step[0] for step in live]
    plan.step_types = [step[0].type for step in live]
    plan._in_off = _offsets(step_ins)
    plan._ins = _concat(step_ins)
    plan._out_off = _offsets(step_outs)
    plan._outs = _concat(step_outs)
    plan._free_off = _offsets(frees)
    plan._frees = _concat(frees)
    plan._reuse = _int_array(reuse)
    plan._feeds = _int_array(feed_slots)
    plan._results = _int_array(result_slots)
    plan.result_made = [i in made for i in result_slots]
    plan._set_feeds(feeds)
    plan.set_layout([None] * len(feeds))
    plan._reads_trainable = any(
        step[0].type == "ReadVariableOp" and step[0].attrs[0].trainable for step in live)
    stats["steps"] = len(live)
    plan.stats = stats
    _LIVE_PLANS.add(plan)
    return plan


cdef class TracedCallable:
    """The base of ft.function's Function: its call in C. A call that fits
    the plan of the last trace (`fast_plan`: positional eager Tensors and
    plain lists or tuples of them; See Note [Trace signatures] in
    fasttape/function.py) runs it at once; any other goes to the subclass's
    `_call_slow(args, kwargs)`."""

    cdef public Plan fast_plan

    def __call__(self, *args, **kwargs):
        cdef Plan p = self.fast_plan
        if p is not None and not kwargs:
            out = p._call(args)
            if out is not PLAN_MISS:
                return out
        return self._call_slow(args, kwargs)
