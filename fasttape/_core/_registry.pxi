# The op registry: OpDef, VJP plans and save masks, operator bindings. Part of core.pyx.

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
    cdef public object forward      # public so tests can observe calls (test_abstract_eval)
    cdef readonly tuple input_names
    cdef readonly tuple attr_names
    cdef readonly int n_out
    cdef readonly bint variadic
    cdef readonly bint differentiable
    cdef readonly bint elementwise  # VJP results stand for output-shaped arrays
    cdef readonly bint lazy_grads   # VJPs accept lazy broadcast gradients
    cdef readonly bint batchable    # VJPs pass a leading batch axis of g through
    cdef readonly bint inplace_ufunc  # forward is a NumPy ufunc: may write into out=
    cdef readonly bint stateful     # the forward draws random numbers or has effects
    cdef readonly object shape_fn
    cdef readonly object dtype_fn
    cdef public object public_fn
    # VJPs: per input (joint=False) or one for all inputs (joint=True)
    cdef readonly bint joint
    cdef list vjp_fns
    cdef list vjp_plans
    cdef list vjp_in_place          # per input: None or (VJP, in-place variant, into)
    cdef readonly object vjp_sources
    cdef uint8_t save_in[MAX_ARGS]
    cdef bint save_all_in
    cdef uint8_t save_out[MAX_ARGS]
    cdef bint save_attrs
    cdef bint save_any
    cdef readonly bint float_only  # inputs must be floating point (fast-path check)

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

    @property
    def in_place_vjps(self):
        """{input name: in-place variant} of the VJPs that have one (Note
        [Gradients in place] in _sweep.pxi)."""
        if self.vjp_in_place is None:
            return {}
        return {self.input_names[i]: p[1] for i, p in enumerate(self.vjp_in_place)
                if p is not None}

    @property
    def vjp_functions(self):
        """The list of VJP functions itself (the sweep reads it at each use):
        instrumentation swaps its entries and puts them back (Note
        [Instrumented ops] in fasttape/_instrument.py)."""
        return self.vjp_fns

    def abstract_eval(self, input_shapes, input_dtypes, attrs=()):
        """The output shape(s) and dtype(s) of the op on inputs of `input_shapes`
        (tuples whose entries may be None: unknown) and `input_dtypes`, from the
        op's shape and dtype rules, without values: (shape, dtype) for one
        output, (shapes, dtypes) tuples for several; a shape is None when
        even its rank is unknown. Raises the rules' checks
        (TypeError/ValueError naming the op) for inputs no value could make
        valid. See Note [Shape and dtype rules] in fasttape/ops/_registry.py."""
        shapes = [tuple(s) for s in input_shapes]
        dtypes = [np.dtype(d) for d in input_dtypes]
        try:
            return op_rules(self, shapes, dtypes, tuple(attrs))
        except (TypeError, ValueError) as e:
            cls = TypeError if isinstance(e, TypeError) else ValueError
            raise cls(f"{self.name}: {e}; input shapes {shapes}, dtypes "
                      f"{[d.name for d in dtypes]}") from None

    def apply(self, inputs, attrs=()):
        """Runs the op on `inputs` (tensors, arrays or Python scalars) with the
        positional attributes `attrs`; returns a Tensor, or a tuple of them for
        multi-output ops. Argument checks belong to the caller (the family)."""
        attrs = tuple(attrs)
        for a in attrs:
            if isinstance(a, Tensor):
                if (<Tensor>a)._value is None:
                    raise TypeError(
                        f"{self.name}: an attribute must be known when the graph is built, "
                        f"not the symbolic tensor {a.name} (pass a Python value)")
                # a 0-d tensor given for an attribute (axis=ft.constant(0)) is
                # its Python value, in the forward and in the VJPs alike
                attrs = tuple([(<Tensor>v)._value.item() if isinstance(v, Tensor)
                               and cnp.PyArray_NDIM(<cnp.ndarray>(<Tensor>v)._value) == 0
                               else v for v in attrs])
                break
        return _apply(self, tuple(inputs), attrs)


cdef int _add_in_place(OpDef op, object fn, str name, int i, int n_in) except -1:
    """Records VJP fn's in-place variant (its `in_place` attribute), if any:
    See Note [Gradients in place] in _sweep.pxi."""
    ip = getattr(fn, "in_place", None)
    if ip is None:
        return 0
    if not op.elementwise or op.n_out != 1 or op.variadic:
        raise ValueError(f"op {op.name}: an in-place VJP needs an elementwise op with one output")
    params = list(inspect.signature(fn).parameters)
    if list(inspect.signature(ip).parameters) != params:
        raise TypeError(f"op {op.name}: the in-place VJP for {name} must take the arguments "
                        "of the VJP it stands for")
    into = fn.in_place_into
    if into not in params or not (into in ("g", "out") or into in op.input_names):
        raise ValueError(f"op {op.name}: the in-place VJP for {name} writes into {into!r}, "
                         "which is not g, out or an input the VJP takes")
    if op.vjp_in_place is None:
        op.vjp_in_place = [None] * n_in
    # (VJP, variant, what it writes into: -1 g, -2 out, k input k)
    op.vjp_in_place[i] = (fn, ip, -1 if into == "g" else -2 if into == "out"
                          else op.input_names.index(into))
    return 0


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
                shape_fn=None, dtype_fn=None, bint float_only=False,
                broadcast_grads=None, batchable=None, bint elementwise=False,
                bint stateful=False, bint inplace_ufunc=False):
    """Adds an op to the table and returns its OpDef.

    Args:
        name: the public name (TensorFlow's).
        family: a label for humans and for grouping tests ('unary', 'binary',
            'reduce', 'shape_op', 'nondiff', 'linalg_op', 'nn', 'select',
            'elementwise', 'variadic', 'creation', 'random'); nothing reads
            a meaning from it: the flags below say what the op is.
        forward: forward(*input_values, *attrs) on ndarrays -> ndarray, or a
            tuple of n_out ndarrays.
        input_names: names of the inputs, as the VJPs refer to them.
        vjp: None (not differentiable); a dict {input name: fn or "identity"}
            with one VJP per input; or one callable returning a gradient per
            input (the joint form). Each fn names the values it needs: g / g<k>,
            out / out<k>, inputs, <input>_shape, <input>_dtype, attributes. The
            tape saves exactly the values some VJP names (the save mask: See Note [Save masks]);
            what a VJP receives in each mode: See Note [One VJP, every mode].
        attr_names: names of the positional attributes after the inputs.
        n_out: number of outputs.
        variadic: the op takes any number of inputs (one name in input_names;
            VJPs see lists of values and shapes).
        shape_fn: the shape rule: shape_fn(*input_shapes, *attrs) -> the output
            shape (a tuple of them when n_out > 1); shapes are tuples whose
            entries may be None (unknown). Variadic ops get the list of shapes.
        dtype_fn: the dtype rule: dtype_fn(*input_dtypes, *attrs) -> the output
            dtype (a tuple when n_out > 1). See Note [Shape and dtype rules]
            in fasttape/ops/_registry.py and OpDef.abstract_eval.
        float_only: inputs must be floating point (checked on the fast path).
        broadcast_grads: the VJPs accept output gradients that merely broadcast
            to the output's shape (default: `elementwise`). See
            Note [Broadcast gradients].
        batchable: the VJPs pass extra leading axes of g through (default:
            `elementwise`). See Note [Batched sweeps].
        elementwise: the output has the broadcast shape of the inputs and each
            VJP result stands for an output-shaped array (the sweep sums it
            back to the input's shape). An explicit flag, not read from `family`.
        stateful: the forward draws random numbers or has effects (graph mode
            must not fold or deduplicate it).
        inplace_ufunc: forward is a NumPy ufunc with one output per input
            set, so eager mode may pass `out=` a temporary input's buffer.
            See Note [Temporary elision].
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
    op.dtype_fn = dtype_fn
    op.stateful = stateful
    op.float_only = float_only
    op.differentiable = vjp is not None
    op.elementwise = elementwise
    op.lazy_grads = op.elementwise if broadcast_grads is None else bool(broadcast_grads)
    op.batchable = op.elementwise if batchable is None else bool(batchable)
    op.vjp_sources = vjp
    op.public_fn = None
    if inplace_ufunc and not (isinstance(forward, np.ufunc) and forward.nout == 1
                              and forward.nin == len(input_names) and not variadic):
        raise ValueError(f"op {name}: inplace_ufunc needs a NumPy ufunc forward with "
                         f"{len(input_names)} inputs and one output, not {forward!r}")
    op.inplace_ufunc = inplace_ufunc
    for i in range(MAX_ARGS):
        op.save_in[i] = 0
        op.save_out[i] = 0
    op.save_all_in = False
    op.save_attrs = False
    op.vjp_fns = []
    op.vjp_plans = []
    op.vjp_in_place = None
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
                _add_in_place(op, fn, n, len(op.vjp_fns) - 1, len(input_names))
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
