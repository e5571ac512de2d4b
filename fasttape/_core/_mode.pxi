# The thread's mode and symbolic tensors. Part of core.pyx.

# Note [One bind point]
# ~~~~~~~~~~~~~~~~~~~~~
# Every op call reaches one of three functions of _dispatch.pxi: _unary and
# _binary (the fast paths: Tensor operators and the unary and binary
# families) and _apply (OpDef.apply: every other op, creation and random ops,
# the ops VJPs run). Each first asks the thread's mode, ft_staging(): nonzero
# inside `with g.as_default():` (a per-thread count kept beside the tape
# stack) or after ft.disable_eager_execution() (one process-wide flag). Then
# the call is staged: handed whole - the OpDef, the inputs as the caller gave
# them, the attributes - to the graph builder (fasttape/graph.py, bound with
# set_special("stage")), which adds a node from the op's rules
# (OpDef.abstract_eval) with no per-op graph code. Otherwise the op runs
# eagerly, and is recorded when the thread has an active tape (ft_tls_depth()).
#
# A tensor without a value (a symbolic tensor, `_value is None`) given to an
# op in eager mode stages too, into its own graph: TensorFlow 1's rule that
# an op goes to the graph of its inputs (`ops.name_scope(..., values)`), so
# `y = x + 1` works after leaving `with g.as_default():`. Eager mode pays one
# thread-local load for the mode and a pointer comparison per operand.

# Note [One check, both modes]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# A call that no value could make valid (operands of two dtypes, a float
# where an integer tensor goes, shapes that do not broadcast, inner dims that
# differ) raises the same error - class, message, the user's line - at the
# call in eager mode and when the node is built in graph mode:
# - the checks of the fast paths read only dtypes (_check_pair,
#   _check_scalar, the float_only check): graph mode runs the very same
#   functions, a symbolic operand standing in as a 0-size array of its dtype
#   (_abstract_array);
# - the family wrappers' argument checks (axes, shapes, attributes) run
#   before the dispatch, in both modes alike;
# - everything else is the op's shape and dtype rules: graph mode runs them
#   at build time (op_rules), and an eager forward that raises asks them too
#   before reporting (_forward_error): when they reject the inputs, their
#   error is the one raised. The successful eager call never runs the rules,
#   so this costs nothing on the hot path.
# Checks that need values (a singular matrix, an index out of range) live in
# the forwards and raise when the graph runs.

cdef int _F_SYMBOLIC = 4   # no value: a node's output in a graph

# markers of unknown dims used as numbers, and values of symbolic tensors
# asked for: a VJP that does either in a graph is deferred to run time
# (Note [Unknown dims in VJPs])
cdef int64_t _unknown_dim_uses = 0


# Note [Symbolic tensors compare elementwise]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# A symbolic tensor is hashable by identity (feed_dict and gradient maps key
# on it) but `==` and `!=` stage Equal / NotEqual nodes, as on eager tensors:
# the same code means the same in both modes (TensorFlow's legacy graphs make
# `==` identity, so `x == 0` there is silently False; its tf.function graphs
# compare elementwise). Dicts and sets still work, since distinct live
# tensors have distinct hashes; `t in [a, b]` calls bool() on a symbolic
# result and raises TypeError, as an ambiguous eager comparison does.

cdef class SymbolicTensor(Tensor):
    """A graph's tensor: the output `value_index` of the node `op`, with a
    static dtype and a possibly partial shape (None for unknown dims), and no
    value until the graph runs. Ops on it add nodes to its graph.

    >>> import fasttape as ft
    >>> g = ft.Graph()
    >>> with g.as_default():
    ...     x = ft.placeholder(ft.float32, shape=(None, 3), name="x")
    ...     y = x + 1.0
    >>> y
    <ft.Tensor 'add:0' shape=(None, 3) dtype=float32>
    """

    cdef readonly object op           # the graph's Operation that produces it
    cdef readonly int value_index
    cdef object _static_shape         # an ft.TensorShape
    cdef object _dtype

    @property
    def graph(self):
        """The ft.Graph that holds this tensor."""
        return self.op.graph

    @property
    def name(self):
        """'<node name>:<output index>', as TensorFlow names graph tensors."""
        return f"{self.op.name}:{self.value_index}"

    @property
    def shape(self):
        """The static shape: an ft.TensorShape with None for unknown dims, or
        TensorShape(None) when even the rank is unknown."""
        return self._static_shape

    def get_shape(self):
        return self._static_shape

    def set_shape(self, shape):
        """Refines the static shape with what the caller knows (TensorFlow's
        set_shape): raises ValueError if `shape` is incompatible with it."""
        self._static_shape = self._static_shape.merge_with(_TensorShape(shape))

    @property
    def dtype(self):
        return self._dtype

    @property
    def ndim(self):
        return self._static_shape.rank

    @property
    def size(self):
        return self._static_shape.num_elements()

    cdef str _shape_str(self):
        return "<unknown>" if self._static_shape.rank is None else str(self._static_shape)

    cdef object _no_value(self, str what):
        global _unknown_dim_uses
        _unknown_dim_uses += 1  # a VJP that reads values defers: Note [Unknown dims in VJPs]
        raise TypeError(
            f"{what} needs the value of the symbolic ft.Tensor '{self.name}' (shape "
            f"{self._shape_str()}, dtype {self._dtype.name}), which exists only when its "
            f"graph runs; run it with ft.Session (graph mode) or compute eagerly"
            + ("; for graph control flow use ft.cond / ft.while_loop"
               if what == "iteration" else ""))

    def numpy(self):
        self._no_value(".numpy()")

    def eval(self, feed_dict=None, session=None):
        """The value (an ndarray) in `session`, or in the default Session
        (`with sess:` / `sess.as_default()`): `session.run(self, feed_dict)`."""
        return _call_special("eval", (self, feed_dict, session))

    def __array__(self, dtype=None, copy=None):
        self._no_value("NumPy conversion (np.asarray)")

    def __bool__(self):
        # Note [Truth values of graph tensors]: `if t:`, `while t:`, `t and u`,
        # `not t` all reach here; the message names the user's line and the
        # graph functions that do what the Python statement meant
        where = _errors.user_frame()
        g = self.op.graph
        while getattr(g, "_outer", None) is not None:  # a branch of ft.cond / ft.while_loop
            g = g._outer
        fn = getattr(g, "_ft_function", None)
        raise TypeError(
            f"the truth value of the symbolic ft.Tensor '{self.name}' (shape "
            f"{self._shape_str()}, dtype {self._dtype.name}) is needed"
            + (f" at {where[0]}:{where[1]}: {where[2]}" if where is not None else "")
            + (f", inside the traced ft.function {fn}" if fn is not None else "")
            + "; a graph tensor has a value only when the graph runs, so Python `if`, "
            "`while`, `and`, `or` and `not` cannot branch on it. Use "
            "ft.cond(pred, true_fn, false_fn) for `if`, "
            "ft.while_loop(cond, body, loop_vars) for `while`, and ft.logical_and / "
            "ft.logical_or / ft.logical_not (or & | ~) for `and` / `or` / `not`")

    def __float__(self):
        self._no_value("float()")

    def __int__(self):
        self._no_value("int()")

    def __index__(self):
        self._no_value("use as an index")

    def __len__(self):
        self._no_value("len()")

    def __iter__(self):
        # checked at iter(), not at the first next(): `for a, b in t` fails at its line
        rank = self._static_shape.rank
        if rank is None or rank == 0 or self._static_shape[0] is None:
            self._no_value("iteration")
        return iter([_call_special("getitem", (self, i,))
                     for i in range(self._static_shape[0])])

    def __repr__(self):
        return f"<ft.Tensor '{self.name}' shape={self._shape_str()} dtype={self._dtype.name}>"

    def __str__(self):
        return f"Tensor(\"{self.name}\", shape={self._shape_str()}, dtype={self._dtype.name})"

    def __format__(self, spec):
        if spec:
            self._no_value("format()")
        return str(self)

    def __reduce__(self):
        raise TypeError(f"the symbolic ft.Tensor '{self.name}' cannot be pickled; save the "
                        "graph's function with ft.saved_function")

    def __hash__(self):
        # a graph tensor is a key of feed_dict and of gradient maps: by identity.
        # See Note [Symbolic tensors compare elementwise]
        return id(self)

    # Defining __hash__ drops the inherited comparisons (CPython inherits
    # tp_richcompare only together with tp_hash), so they are restated.
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


def symbolic_tensor(op, int value_index, shape, dtype):
    """A new SymbolicTensor: output `value_index` of graph node `op`."""
    global _next_id
    cdef SymbolicTensor t = SymbolicTensor.__new__(SymbolicTensor)
    t.op = op
    t.value_index = value_index
    t._static_shape = _TensorShape(shape)
    t._dtype = np.dtype(dtype)
    _next_id += 1  # not _new_id(): a symbolic tensor is no eager use
    t._id = _next_id
    t._flags = _F_SYMBOLIC
    return t


def eager_used():
    """True once an eager tensor or variable was made by the user's code
    (after `import fasttape`, outside graph building): the test of
    ft.disable_eager_execution. See Note [Eager use]."""
    return _eager_state == 2


def mark_import_done():
    """Called at the end of `import fasttape`: tensors made from now on
    outside graph building are eager use (Note [Eager use])."""
    global _eager_state
    if _eager_state == 0:
        _eager_state = 1


def is_symbolic(x):
    """True for a tensor with no value (a graph's tensor)."""
    return isinstance(x, Tensor) and (<Tensor>x)._value is None


cdef object _stage(OpDef op, tuple inputs, tuple attrs):
    """Hands an op call to the graph builder. See Note [One bind point]."""
    fn = _SPECIAL.get("stage")
    if fn is None:
        raise RuntimeError(f"{op.name}: graph mode needs fasttape.graph (not imported)")
    ft_build_enter()  # the Consts it makes are no eager use: Note [Eager use]
    try:
        return fn(op, inputs, attrs)
    finally:
        ft_build_exit()


def staging():
    """True when ops on this thread stage into a graph instead of running."""
    return ft_staging()


def enter_graph_mode():
    """Counts one more graph entered on this thread (Graph.as_default)."""
    ft_graph_enter()


def exit_graph_mode():
    if ft_graph_depth() <= 0:
        raise RuntimeError("exit_graph_mode: no graph is entered on this thread")
    ft_graph_exit()


# Note [Eager inside graphs]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~
# py_func's node calls Python code that must run eagerly when the graph runs,
# and a Session often runs inside `with g.as_default():` (or after
# ft.disable_eager_execution()), where the thread stages. push_eager() makes
# the thread eager until pop_eager(saved): it zeroes the thread's graph depth
# and sets a per-thread flag that masks the process-wide graph mode (read only
# when that mode is on, so the eager hot path pays nothing). A graph entered
# inside (`with g.as_default():` in the Python function) stages as usual.

def push_eager():
    """Makes this thread execute eagerly; returns the state for pop_eager.
    See Note [Eager inside graphs]."""
    return ft_eager_push()


def pop_eager(long saved):
    """Restores the thread's mode saved by push_eager."""
    ft_eager_pop(saved)


def set_global_graph_mode(bint on):
    """Switches the whole process to graph mode (ft.disable_eager_execution) or back."""
    ft_graph_set_global(on)


cdef object _float_only_error(OpDef op, object x, object dtype):
    """The unary family's dtype check, one message in both modes."""
    _raise_op_error(op, TypeError, (x,),
        f"expects a floating-point tensor, got dtype {np.dtype(dtype).name}; use ft.cast")


cdef object _abstract_array(object x):
    """A stand-in array of x's dtype for the dtype checks of the fast paths
    (they read only dtypes): lets graph mode run the very checks eager mode
    runs, so that both raise the same error."""
    if isinstance(x, Tensor):
        if (<Tensor>x)._value is None:
            return np.empty((0,), (<SymbolicTensor>x)._dtype)
        return (<Tensor>x)._value
    return x


cdef object _stage_operand(OpDef op, object x, object other, bint first):
    """A binary operand for a graph node: tensors as they are, other data
    converted as eager mode converts it (Python data takes a tensor
    operand's dtype: Note [Weak Python data])."""
    if isinstance(x, Tensor):
        return x
    try:
        if isinstance(x, np.generic) or cnp.PyArray_Check(x) or not isinstance(other, Tensor):
            return convert_to_tensor(x)
        return convert_like(x, other.dtype)
    except (TypeError, ValueError) as e:
        raise _errors.boundary_error(op.name, e, (x, other) if first else (other, x),
                                     op.input_names)


cdef object _stage_binary(OpDef op, object x, object y):
    """A binary op in graph mode: the eager fast path's dtype checks (on
    eager mode's raw operands, a symbolic tensor standing in as a 0-size
    array of its dtype), then a node."""
    ft_build_enter()  # the tensors converted here are no eager use: Note [Eager use]
    try:
        _check_pair(op, x, y,
                    _abstract_array(x) if isinstance(x, Tensor) else _operand_value(op, x, y, True),
                    _abstract_array(y) if isinstance(y, Tensor) else _operand_value(op, y, x, False))
        inputs = (_stage_operand(op, x, y, True), _stage_operand(op, y, x, False))
    finally:
        ft_build_exit()
    return _stage(op, inputs, ())


cdef object _stage_unary(OpDef op, object x):
    if not isinstance(x, Tensor):
        ft_build_enter()  # Note [Eager use]
        try:
            x = convert_to_tensor(x)
        finally:
            ft_build_exit()
    dtype = x.dtype
    if op.float_only and dtype.kind not in "fc":
        _float_only_error(op, x, dtype)
    return _stage(op, (x,), ())


cdef object _forward_error(OpDef op, tuple inputs, list values, tuple attrs, object cls,
                           object exc):
    """Raises an eager forward's error as an op error. When the op's shape
    and dtype rules reject these inputs too, their error (class and detail)
    is raised: the one graph mode raises at build time. See Note [One check,
    both modes]."""
    if op.shape_fn is not None and op.dtype_fn is not None:
        for v in values:
            if not cnp.PyArray_Check(v):  # weak Python data: the rules see tensors only
                break
        else:
            try:
                op_rules(op, [v.shape for v in values], [v.dtype for v in values], attrs)
            except (TypeError, ValueError) as rule_exc:
                _raise_op_error(op, rule_error_class(rule_exc), inputs, str(rule_exc))
            except Exception:  # a rule that cannot read these inputs: the forward's error
                pass
    _raise_op_error(op, cls, inputs, str(exc))


def rule_error_class(exc):
    """The class a rule's error is raised as in both modes: TypeError, or
    ValueError (InvalidArgumentError for a rule that raises it: a static
    index out of range)."""
    if isinstance(exc, TypeError):
        return TypeError
    return _errors.InvalidArgumentError if isinstance(exc, _errors.InvalidArgumentError) \
        else ValueError


def op_rules(OpDef op, shapes, dtypes, attrs=()):
    """Runs op's dtype and shape rules (Note [Shape and dtype rules]) on
    `shapes` (tuples, None entries unknown; None for an unknown rank) and
    `dtypes`: returns (shape, dtype), or tuples of them for several outputs;
    raises the rules' TypeError/ValueError as they raise it."""
    if op.shape_fn is None or op.dtype_fn is None:
        raise NotImplementedError(f"op {op.name} has no shape or dtype rule")
    if op.variadic:
        dtype = op.dtype_fn(list(dtypes), *attrs)
        shape = op.shape_fn(list(shapes), *attrs)
    else:
        if len(shapes) != len(op.input_names) or len(dtypes) != len(shapes):
            raise ValueError(f"takes {len(op.input_names)} inputs, got {len(shapes)}")
        dtype = op.dtype_fn(*dtypes, *attrs)
        shape = op.shape_fn(*shapes, *attrs)
    if op.n_out == 1:
        return (None if shape is None else tuple(shape)), np.dtype(dtype)
    return (tuple([None if s is None else tuple(s) for s in shape]),
            tuple([np.dtype(d) for d in dtype]))
