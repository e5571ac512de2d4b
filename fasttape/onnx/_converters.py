"""The op table's ONNX converters: `CONVERTERS` maps an op's name to
conv(ctx, node, input_names) -> its output name(s); `UNMAPPED` lists the
ops with no conversion and why. tests/deploy/test_onnx.py runs every mapped
op on its op_db samples through onnxruntime and checks that every op of
the table is in one of the two.
"""

import numpy as np

#: ops of the table without an ONNX conversion, and why
UNMAPPED = {
    "_index_add": "a gradient helper (getitem's VJP)", "_masked": "a gradient helper",
    "_relu_grad": "a gradient helper",
    "_conv_backprop_input": "a gradient helper", "_conv_backprop_filter": "a gradient helper",
    "_max_pool_grad": "a gradient helper", "_max_pool_gather": "a gradient helper",
    "_avg_pool_grad": "a gradient helper", "_spectral_norm": "an SVD; ONNX has none",
    "_where_indices": "value-dependent output shape", "boolean_mask": "value-dependent shape",
    "atan2": "no ONNX op", "conj": "complex dtypes; ONNX Runtime has no complex kernels",
    "linspace": "not converted yet",
    "scatter_nd": "ONNX ScatterND overwrites duplicates; TensorFlow's scatter_nd sums them",
    "tensor_scatter_nd_add": "ONNX Runtime rejects duplicate indices with reduction",
    "tensor_scatter_nd_update": "duplicate indices are order-dependent",
    "one_hot": "ONNX OneHot wraps negative indices; TensorFlow gives an all-off row",
    "segment_sum": "no ONNX op", "unsorted_segment_sum": "no ONNX op",
    "inv": "no ONNX op", "solve": "no ONNX op", "slogdet": "no ONNX op",
    "cholesky": "no ONNX op", "matrix_diag": "no ONNX op", "tensor_diag": "no ONNX op",
    "tensordot": "exported by its einsum form only when traced through ft.einsum",
    "normal": "random (stateful)", "uniform": "random (stateful)",
    "truncated_normal": "random (stateful)", "shuffle": "random (stateful)",
    "dropout": "random (stateful); export the inference function",
    "sparse_softmax_cross_entropy_with_logits": "a training loss with two outputs",
    "softmax_cross_entropy_with_logits": "a training loss with two outputs",
    "conv2d_transpose": "not converted yet",
    "bitwise_and": "BitwiseAnd needs opset 18 (ONNX Runtime 1.16+)",
    "bitwise_or": "BitwiseOr needs opset 18", "bitwise_xor": "BitwiseXor needs opset 18",
    "invert": "BitwiseNot needs opset 18",
}

_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min


class Context:
    """The ONNX graph being built: nodes, initializers, names of tensors."""

    def __init__(self, helper, opset):
        from onnx import numpy_helper

        self.helper = helper
        self.numpy_helper = numpy_helper
        self.opset = opset
        self.nodes = []
        self.initializers = []
        self._names = {}
        self._used = set()
        self._consts = {}   # onnx name -> ndarray (for converters that fold)

    def unique(self, hint):
        base = "".join(c if c.isalnum() or c in "_.-/" else "_" for c in hint) or "t"
        name, i = base, 1
        while name in self._used:
            name = f"{base}_{i}"
            i += 1
        self._used.add(name)
        return name

    def bind(self, tensor, name):
        self._names[tensor] = name

    def name(self, tensor):
        return self._names[tensor]

    def const(self, value, hint="const"):
        """An initializer holding `value` (an ndarray or scalar); its name."""
        value = np.asarray(value)
        if value.dtype.kind in "cUSO" or value.dtype == np.longdouble and \
                np.dtype(np.longdouble).itemsize > 8:
            from fasttape.onnx import ONNXExportError
            raise ONNXExportError(f"a constant of dtype {value.dtype} has no ONNX type "
                                  "ONNX Runtime runs")
        name = self.unique(hint)
        self.initializers.append(self.numpy_helper.from_array(value, name))
        self._consts[name] = value
        return name

    def const_value(self, name):
        """The value of initializer `name`, or None when it is not a constant."""
        return self._consts.get(name)

    def op(self, op_type, inputs, n_out=1, hint=None, **attrs):
        outs = [self.unique(f"{hint or op_type}_out{i}" if n_out > 1 else (hint or op_type))
                for i in range(n_out)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), outs,
                                                name=self.unique(f"{hint or op_type}_node"),
                                                **attrs))
        return outs[0] if n_out == 1 else outs

    def value_info(self, name, dtype, shape, symbolic_prefix=None):
        from onnx import helper

        dims = None
        if shape.rank is not None:
            dims = [d if d is not None else
                    (f"{symbolic_prefix}_dim{i}" if symbolic_prefix else None)
                    for i, d in enumerate(shape)]
        return helper.make_tensor_value_info(name, onnx_dtype(dtype), dims)

    def i64(self, values, hint="i64"):
        return self.const(np.asarray(values, np.int64), hint)

    def scalar(self, value, dtype, hint="c"):
        return self.const(np.asarray(value, dtype), hint)


def onnx_dtype(dtype):
    from onnx import helper

    from fasttape.onnx import ONNXExportError
    dt = np.dtype(dtype)
    if dt.kind in "cUSO" or dt.kind == "f" and dt.itemsize > 8:
        raise ONNXExportError(f"dtype {dt} has no ONNX type ONNX Runtime runs")
    return helper.np_dtype_to_tensor_dtype(dt)


def _refuse(detail):
    from fasttape.onnx import ONNXExportError
    raise ONNXExportError(detail)


def _in(node, i):
    t = node.inputs[i]
    return t.dtype, (None if t.shape.rank is None else tuple(t.shape))


def _out(node, j=0):
    t = node.outputs[j]
    return t.dtype, (None if t.shape.rank is None else tuple(t.shape))


def _rank(node, i=0):
    r = node.inputs[i].shape.rank
    if r is None:
        _refuse("an input of unknown rank")
    return r


# ------------------------------------------------------------------ families

CONVERTERS = {}


def _register(*names):
    def deco(fn):
        for n in names:
            CONVERTERS[n] = fn
        return fn
    return deco


_UNARY = {"abs": "Abs", "negative": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt",
          "reciprocal": "Reciprocal", "sin": "Sin", "cos": "Cos", "tan": "Tan", "asin": "Asin",
          "acos": "Acos", "atan": "Atan", "sinh": "Sinh", "cosh": "Cosh", "tanh": "Tanh",
          "sigmoid": "Sigmoid", "relu": "Relu", "floor": "Floor", "ceil": "Ceil",
          "round": "Round", "sign": "Sign", "erf": "Erf", "softplus": "Softplus",
          "elu": "Elu", "selu": "Selu", "identity": "Identity", "stop_gradient": "Identity",
          "isnan": "IsNaN", "logical_not": "Not"}


def _same_inputs(onnx_type):
    """A converter to the ONNX op of the same inputs (elementwise ops)."""
    def conv(ctx, node, ins):
        return ctx.op(onnx_type, ins, hint=node.name)
    return conv

_BINARY = {"add": "Add", "subtract": "Sub", "multiply": "Mul", "maximum": "Max",
           "minimum": "Min", "pow": "Pow", "equal": "Equal", "less": "Less",
           "less_equal": "LessOrEqual", "greater": "Greater", "greater_equal": "GreaterOrEqual",
           "logical_and": "And", "logical_or": "Or", "logical_xor": "Xor"}


for _name, _type in (_UNARY | _BINARY).items():
    CONVERTERS[_name] = _same_inputs(_type)


@_register("not_equal")
def _not_equal(ctx, node, ins):
    return ctx.op("Not", [ctx.op("Equal", ins)], hint=node.name)


@_register("divide")
def _divide(ctx, node, ins):
    out_dt, _ = _out(node)
    ins = [ctx.op("Cast", [x], to=onnx_dtype(out_dt)) if _in(node, i)[0] != out_dt else x
           for i, x in enumerate(ins)]
    return ctx.op("Div", ins, hint=node.name)


@_register("floordiv")
def _floordiv(ctx, node, ins):
    dt, _ = _in(node, 0)
    if dt.kind == "f":
        return ctx.op("Floor", [ctx.op("Div", ins)], hint=node.name)
    # integers: (x - mod(x, y)) / y is exact, and Mod(fmod=0) takes the divisor's sign
    rem = ctx.op("Mod", ins, fmod=0)
    return ctx.op("Div", [ctx.op("Sub", [ins[0], rem]), ins[1]], hint=node.name)


@_register("mod")
def _mod(ctx, node, ins):
    dt, _ = _in(node, 0)
    if dt.kind != "f":
        return ctx.op("Mod", ins, fmod=0, hint=node.name)
    q = ctx.op("Floor", [ctx.op("Div", ins)])
    return ctx.op("Sub", [ins[0], ctx.op("Mul", [q, ins[1]])], hint=node.name)


@_register("square")
def _square(ctx, node, ins):
    return ctx.op("Mul", [ins[0], ins[0]], hint=node.name)


@_register("rsqrt")
def _rsqrt(ctx, node, ins):
    return ctx.op("Reciprocal", [ctx.op("Sqrt", ins)], hint=node.name)


@_register("log1p")
def _log1p(ctx, node, ins):
    dt, _ = _in(node, 0)
    return ctx.op("Log", [ctx.op("Add", [ins[0], ctx.scalar(1, dt)])], hint=node.name)


@_register("expm1")
def _expm1(ctx, node, ins):
    dt, _ = _in(node, 0)
    return ctx.op("Sub", [ctx.op("Exp", ins), ctx.scalar(1, dt)], hint=node.name)


@_register("isfinite")
def _isfinite(ctx, node, ins):
    bad = ctx.op("Or", [ctx.op("IsNaN", ins), ctx.op("IsInf", ins)])
    return ctx.op("Not", [bad], hint=node.name)


@_register("relu6")
def _relu6(ctx, node, ins):
    dt, _ = _in(node, 0)
    return ctx.op("Clip", [ins[0], ctx.scalar(0, dt), ctx.scalar(6, dt)], hint=node.name)


@_register("leaky_relu")
def _leaky_relu(ctx, node, ins):
    return ctx.op("LeakyRelu", ins, alpha=float(node.attrs[0]), hint=node.name)


@_register("gelu")
def _gelu(ctx, node, ins):
    dt, _ = _in(node, 0)
    x = ins[0]
    half = ctx.op("Mul", [x, ctx.scalar(0.5, dt)])
    if node.attrs[0]:  # the tanh approximation
        x3 = ctx.op("Mul", [ctx.op("Mul", [x, x]), x])
        inner = ctx.op("Add", [x, ctx.op("Mul", [x3, ctx.scalar(0.044715, dt)])])
        t = ctx.op("Tanh", [ctx.op("Mul", [inner, ctx.scalar(np.sqrt(2 / np.pi), dt)])])
    else:
        t = ctx.op("Erf", [ctx.op("Mul", [x, ctx.scalar(1 / np.sqrt(2), dt)])])
    return ctx.op("Mul", [half, ctx.op("Add", [t, ctx.scalar(1, dt)])], hint=node.name)


@_register("clip_by_value")
def _clip(ctx, node, ins):
    return ctx.op("Min", [ctx.op("Max", [ins[0], ins[1]]), ins[2]], hint=node.name)


@_register("where")
def _where(ctx, node, ins):
    return ctx.op("Where", ins, hint=node.name)


@_register("cast")
def _cast(ctx, node, ins):
    return ctx.op("Cast", ins, to=onnx_dtype(node.attrs[0]), hint=node.name)


@_register("add_n")
def _add_n(ctx, node, ins):
    return ctx.op("Sum", ins, hint=node.name)


@_register("matmul")
def _matmul(ctx, node, ins):
    return ctx.op("MatMul", ins, hint=node.name)


@_register("einsum", "_einsum_pair")
def _einsum(ctx, node, ins):
    terms = node.attrs[0].split("->")[0].split(",")
    sizes = {}
    for i, term in enumerate(terms):
        _, shape = _in(node, i)
        for letter, d in zip(term, shape or ()):
            if sizes.setdefault(letter, d) != d:
                _refuse(f"einsum {node.attrs[0]!r} broadcasts index {letter!r} "
                        f"({sizes[letter]} and {d}); ONNX Einsum does not")
    return ctx.op("Einsum", ins, equation=node.attrs[0], hint=node.name)


# ------------------------------------------------------------------ reductions

def _axes(axis, rank):
    if axis is None:
        return None
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    return [int(a) % rank if rank else int(a) for a in axes]


def _reduce(ctx, onnx_type, x, axes, keepdims, hint=None):
    if axes is not None and not axes:
        return ctx.op("Identity", [x], hint=hint)
    if onnx_type == "ReduceSum" or ctx.opset >= 18:
        ins = [x] if axes is None else [x, ctx.i64(axes, "axes")]
        return ctx.op(onnx_type, ins, keepdims=int(keepdims), hint=hint)
    kw = {} if axes is None else {"axes": axes}
    return ctx.op(onnx_type, [x], keepdims=int(keepdims), hint=hint, **kw)


def _reduction(onnx_type):
    def conv(ctx, node, ins):
        axis, keepdims = node.attrs
        return _reduce(ctx, onnx_type, ins[0], _axes(axis, _rank(node)), keepdims, node.name)
    return conv


for _name, _type in {"reduce_sum": "ReduceSum", "reduce_mean": "ReduceMean",
                     "reduce_max": "ReduceMax", "reduce_min": "ReduceMin",
                     "reduce_prod": "ReduceProd", "reduce_logsumexp": "ReduceLogSumExp",
                     "reduce_euclidean_norm": "ReduceL2"}.items():
    CONVERTERS[_name] = _reduction(_type)


def _bool_reduce(onnx_type):
    def conv(ctx, node, ins):
        axis, keepdims = node.attrs
        as_int = ctx.op("Cast", ins, to=onnx_dtype(np.int32))
        r = _reduce(ctx, onnx_type, as_int, _axes(axis, _rank(node)), keepdims)
        return ctx.op("Cast", [r], to=onnx_dtype(np.bool_), hint=node.name)
    return conv


CONVERTERS["reduce_all"] = _bool_reduce("ReduceMin")
CONVERTERS["reduce_any"] = _bool_reduce("ReduceMax")


def _moments_of(ctx, x, axes, keepdims, hint):
    mean_kept = _reduce(ctx, "ReduceMean", x, axes, True)
    centered = ctx.op("Sub", [x, mean_kept])
    var = _reduce(ctx, "ReduceMean", ctx.op("Mul", [centered, centered]), axes, keepdims,
                  hint=hint)
    mean = mean_kept if keepdims else _reduce(ctx, "ReduceMean", x, axes, False)
    return mean, var, centered


@_register("reduce_variance")
def _reduce_variance(ctx, node, ins):
    axis, keepdims = node.attrs
    return _moments_of(ctx, ins[0], _axes(axis, _rank(node)), keepdims, node.name)[1]


@_register("reduce_std")
def _reduce_std(ctx, node, ins):
    axis, keepdims = node.attrs
    var = _moments_of(ctx, ins[0], _axes(axis, _rank(node)), keepdims, None)[1]
    return ctx.op("Sqrt", [var], hint=node.name)


@_register("moments")
def _moments(ctx, node, ins):
    axes, keepdims = node.attrs
    mean, var, _ = _moments_of(ctx, ins[0], _axes(axes, _rank(node)), keepdims, node.name)
    return [mean, var]


@_register("count_nonzero")
def _count_nonzero(ctx, node, ins):
    axis, keepdims, dtype = node.attrs
    dt, _ = _in(node, 0)
    zero = ctx.scalar(0 if dt.kind != "b" else False, dt)
    nz = ctx.op("Cast", [ctx.op("Not", [ctx.op("Equal", [ins[0], zero])])],
                to=onnx_dtype(np.int64))
    r = _reduce(ctx, "ReduceSum", nz, _axes(axis, _rank(node)), keepdims)
    return ctx.op("Cast", [r], to=onnx_dtype(dtype), hint=node.name)


def _arg(onnx_type):
    def conv(ctx, node, ins):
        axis, out_type = node.attrs
        r = ctx.op(onnx_type, ins, axis=int(axis), keepdims=0)
        return ctx.op("Cast", [r], to=onnx_dtype(out_type), hint=node.name)
    return conv


CONVERTERS["argmax"] = _arg("ArgMax")
CONVERTERS["argmin"] = _arg("ArgMin")


@_register("softmax")
def _softmax(ctx, node, ins):
    return ctx.op("Softmax", ins, axis=int(node.attrs[0]), hint=node.name)


@_register("log_softmax")
def _log_softmax(ctx, node, ins):
    return ctx.op("LogSoftmax", ins, axis=int(node.attrs[0]), hint=node.name)


@_register("l2_loss")
def _l2_loss(ctx, node, ins):
    dt, _ = _in(node, 0)
    s = _reduce(ctx, "ReduceSum", ctx.op("Mul", [ins[0], ins[0]]), None, False)
    return ctx.op("Div", [s, ctx.scalar(2, dt)], hint=node.name)


@_register("sigmoid_cross_entropy_with_logits")
def _sigmoid_xent(ctx, node, ins):
    z, x = ins
    dt, _ = _in(node, 1)
    relu = ctx.op("Relu", [x])
    soft = ctx.op("Log", [ctx.op("Add", [ctx.scalar(1, dt),
                                         ctx.op("Exp", [ctx.op("Neg", [ctx.op("Abs", [x])])])])])
    return ctx.op("Add", [ctx.op("Sub", [relu, ctx.op("Mul", [x, z])]), soft], hint=node.name)


# ------------------------------------------------------------------ shapes

@_register("reshape")
def _reshape(ctx, node, ins):
    shape = [int(d) for d in node.attrs[0]]
    kw = {"allowzero": 1} if 0 in shape else {}
    return ctx.op("Reshape", [ins[0], ctx.i64(shape, "shape")], hint=node.name, **kw)


@_register("_reshape_dynamic")
def _reshape_dynamic(ctx, node, ins):
    shape = ctx.op("Cast", [ins[1]], hint=node.name, to=7)  # INT64
    return ctx.op("Reshape", [ins[0], shape], hint=node.name)


@_register("transpose")
def _transpose(ctx, node, ins):
    perm = node.attrs[0]
    if perm is not None and len(perm) == 0:
        return ctx.op("Identity", ins, hint=node.name)
    kw = {} if perm is None else {"perm": [int(p) for p in perm]}
    return ctx.op("Transpose", ins, hint=node.name, **kw)


@_register("expand_dims")
def _expand_dims(ctx, node, ins):
    axis = int(node.attrs[0]) % (_rank(node) + 1)
    return ctx.op("Unsqueeze", [ins[0], ctx.i64([axis], "axes")], hint=node.name)


@_register("squeeze")
def _squeeze(ctx, node, ins):
    axis = node.attrs[0]
    if axis is None:
        _, shape = _in(node, 0)
        if None in shape:
            _refuse("squeeze without axes of a tensor with unknown dims")
        axis = [i for i, d in enumerate(shape) if d == 1]
    axes = _axes(axis, _rank(node))
    if not axes:
        return ctx.op("Identity", ins, hint=node.name)
    return ctx.op("Squeeze", [ins[0], ctx.i64(axes, "axes")], hint=node.name)


@_register("broadcast_to")
def _broadcast_to(ctx, node, ins):
    return ctx.op("Expand", [ins[0], ctx.i64(list(node.attrs[0]), "shape")], hint=node.name)


@_register("concat")
def _concat(ctx, node, ins):
    return ctx.op("Concat", ins, axis=int(node.attrs[0]), hint=node.name)


@_register("stack")
def _stack(ctx, node, ins):
    axis = int(node.attrs[0]) % (_rank(node) + 1)
    axes = ctx.i64([axis], "axes")
    return ctx.op("Concat", [ctx.op("Unsqueeze", [x, axes]) for x in ins], axis=axis,
                  hint=node.name)


@_register("tile")
def _tile(ctx, node, ins):
    if _rank(node) == 0:
        return ctx.op("Identity", ins, hint=node.name)
    return ctx.op("Tile", [ins[0], ctx.i64(list(node.attrs[0]), "repeats")], hint=node.name)


@_register("pad")
def _pad(ctx, node, ins):
    paddings, mode, value = node.attrs
    modes = {"CONSTANT": "constant", "REFLECT": "reflect"}
    if str(mode).upper() not in modes:
        _refuse(f"pad mode {mode!r} (ONNX Pad has constant and reflect; SYMMETRIC differs)")
    pads = [int(b) for b, _ in paddings] + [int(a) for _, a in paddings]
    dt, _ = _in(node, 0)
    args = [ins[0], ctx.i64(pads, "pads")]
    if modes[str(mode).upper()] == "constant":
        args.append(ctx.scalar(value, dt, "pad_value"))
    return ctx.op("Pad", args, mode=modes[str(mode).upper()], hint=node.name)


@_register("slice")
def _slice(ctx, node, ins):
    begin, size = node.attrs
    _, shape = _in(node, 0)
    if not begin:
        return ctx.op("Identity", ins, hint=node.name)
    ends = [_INT64_MAX if s == -1 else int(b) + int(s) for b, s in zip(begin, size)]
    return ctx.op("Slice", [ins[0], ctx.i64([int(b) for b in begin], "starts"),
                            ctx.i64(ends, "ends"), ctx.i64(list(range(len(begin))), "axes")],
                  hint=node.name)


@_register("getitem")
def _getitem(ctx, node, ins):
    key = node.attrs[0]
    key = key if isinstance(key, tuple) else (key,)
    rank = _rank(node)
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if sum(1 for k in key if k is Ellipsis) > 1:
        _refuse("an index with two Ellipses")
    expanded = []
    for k in key:
        if k is Ellipsis:
            expanded += [slice(None)] * (rank - n_real)
        else:
            expanded.append(k)
    expanded += [slice(None)] * (rank - sum(1 for k in expanded if k is not None))
    arrays = [i for i, k in enumerate(expanded) if isinstance(k, np.ndarray)]
    if len(arrays) == 1 and expanded[arrays[0]].dtype.kind in "iu" \
            and all(isinstance(k, slice) and k == slice(None)
                    for i, k in enumerate(expanded) if i != arrays[0]):
        # one integer array among full slices: NumPy's x[..., idx, ...] is Gather
        idx = ctx.const(expanded[arrays[0]].astype(np.int64), "indices")
        return ctx.op("Gather", [ins[0], idx], axis=arrays[0], hint=node.name)
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    in_axis = out_axis = 0
    for k in expanded:
        if k is None:
            unsqueeze.append(out_axis)
            out_axis += 1
            continue
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer, slice)) \
                or isinstance(k, np.ndarray):
            _refuse(f"an index of type {type(k).__name__} (ONNX export takes ints, slices, "
                    "Ellipsis, None, and one integer array among full slices)")
        if isinstance(k, slice):
            step = 1 if k.step is None else int(k.step)
            if not (k.start is None and k.stop is None and step == 1):
                lo, hi = (_INT64_MAX, _INT64_MIN) if step < 0 else (0, _INT64_MAX)
                starts.append(lo if k.start is None else int(k.start))
                ends.append(hi if k.stop is None else int(k.stop))
                axes.append(in_axis)
                steps.append(step)
            out_axis += 1
        else:
            i = int(k)
            starts.append(i)
            ends.append(_INT64_MAX if i == -1 else i + 1)
            axes.append(in_axis)
            steps.append(1)
            squeeze.append(in_axis)
        in_axis += 1
    x = ins[0]
    if axes:
        x = ctx.op("Slice", [x, ctx.i64(starts, "starts"), ctx.i64(ends, "ends"),
                             ctx.i64(axes, "axes"), ctx.i64(steps, "steps")])
    if squeeze:
        x = ctx.op("Squeeze", [x, ctx.i64(squeeze, "axes")])
    if unsqueeze:
        x = ctx.op("Unsqueeze", [x, ctx.i64(unsqueeze, "axes")])
    return ctx.op("Identity", [x], hint=node.name)


@_register("gather")
def _gather(ctx, node, ins):
    axis, batch_dims = node.attrs
    if batch_dims:
        _refuse(f"gather with batch_dims={batch_dims} (ONNX Gather has none)")
    return ctx.op("Gather", ins, axis=int(axis), hint=node.name)


@_register("embedding_lookup")
def _embedding_lookup(ctx, node, ins):
    return ctx.op("Gather", ins, axis=0, hint=node.name)


@_register("gather_nd")
def _gather_nd(ctx, node, ins):
    idx = ctx.op("Cast", [ins[1]], to=onnx_dtype(np.int64))
    return ctx.op("GatherND", [ins[0], idx], batch_dims=int(node.attrs[0]), hint=node.name)


@_register("shape")
def _shape(ctx, node, ins):
    return ctx.op("Cast", [ctx.op("Shape", ins)], to=onnx_dtype(node.attrs[0]), hint=node.name)


@_register("size")
def _size(ctx, node, ins):
    return ctx.op("Cast", [ctx.op("Size", ins)], to=onnx_dtype(node.attrs[0]), hint=node.name)


@_register("rank")
def _rank_op(ctx, node, ins):
    dt, _ = _out(node)
    return ctx.op("Identity", [ctx.scalar(_rank(node), dt, "rank")], hint=node.name)


def _like(fill):
    def conv(ctx, node, ins):
        dt = node.attrs[0]
        from onnx import numpy_helper
        value = numpy_helper.from_array(np.asarray([fill], dt))
        return ctx.op("ConstantOfShape", [ctx.op("Shape", ins)], value=value, hint=node.name)
    return conv


CONVERTERS["zeros_like"] = _like(0)
CONVERTERS["ones_like"] = _like(1)


@_register("fill")
def _fill(ctx, node, ins):
    return ctx.op("Expand", [ins[0], ctx.i64(list(node.attrs[0]), "dims")], hint=node.name)


@_register("zeros", "ones", "range", "eye")
def _creation(ctx, node, ins):
    """Ops with no tensor inputs and static attributes: their value is a constant."""
    value = node.op_def.forward(*node.attrs)
    return ctx.op("Identity", [ctx.const(value, node.name)], hint=node.name)


# ------------------------------------------------------------------ nn

def _to_channels_first(ctx, x, rank):
    return ctx.op("Transpose", [x], perm=[0, rank - 1] + list(range(1, rank - 1)))


def _to_channels_last(ctx, x, rank, hint):
    return ctx.op("Transpose", [x], perm=[0] + list(range(2, rank)) + [1], hint=hint)


def _conv(ctx, node, ins):
    strides, dilations, pads = node.attrs
    rank = _rank(node)
    x = _to_channels_first(ctx, ins[0], rank)
    # filters: (spatial..., in, out) -> (out, in, spatial...)
    perm = [rank - 1, rank - 2] + list(range(rank - 2))
    w_value = ctx.const_value(ins[1])
    w = (ctx.const(np.transpose(w_value, perm), ins[1] + "_oihw") if w_value is not None
         else ctx.op("Transpose", [ins[1]], perm=perm))
    y = ctx.op("Conv", [x, w], strides=[int(s) for s in strides],
               dilations=[int(d) for d in dilations],
               pads=[int(b) for b, _ in pads] + [int(a) for _, a in pads])
    return _to_channels_last(ctx, y, rank, node.name)


CONVERTERS["conv2d"] = _conv
CONVERTERS["conv1d"] = _conv


def _pool(onnx_type):
    def conv(ctx, node, ins):
        ksize, strides, pads = node.attrs
        rank = _rank(node)
        kw = {"count_include_pad": 0} if onnx_type == "AveragePool" else {}
        y = ctx.op(onnx_type, [_to_channels_first(ctx, ins[0], rank)],
                   kernel_shape=[int(k) for k in ksize], strides=[int(s) for s in strides],
                   pads=[int(b) for b, _ in pads] + [int(a) for _, a in pads], **kw)
        return _to_channels_last(ctx, y, rank, node.name)
    return conv


CONVERTERS["max_pool2d"] = _pool("MaxPool")
CONVERTERS["avg_pool2d"] = _pool("AveragePool")


@_register("bias_add")
def _bias_add(ctx, node, ins):
    (channels_first,) = node.attrs
    b = ins[1]
    rank = _rank(node)
    if channels_first and rank > 2:
        b = ctx.op("Unsqueeze", [b, ctx.i64(list(range(1, rank - 1)), "axes")])
    return ctx.op("Add", [ins[0], b], hint=node.name)


@_register("batch_normalization")
def _batch_normalization(ctx, node, ins):
    x, mean, variance, offset, scale = ins
    dt, _ = _in(node, 2)
    eps = ctx.scalar(node.attrs[0], dt, "epsilon")
    factor = ctx.op("Div", [scale, ctx.op("Sqrt", [ctx.op("Add", [variance, eps])])])
    return ctx.op("Add", [ctx.op("Mul", [ctx.op("Sub", [x, mean]), factor]), offset],
                  hint=node.name)


@_register("layer_norm")
def _layer_norm(ctx, node, ins):
    x, gamma, beta = ins
    axes, epsilon = node.attrs
    dt, _ = _in(node, 0)
    _, var, centered = _moments_of(ctx, x, _axes(axes, _rank(node)), True, None)
    inv = ctx.op("Reciprocal", [ctx.op("Sqrt", [ctx.op("Add", [var, ctx.scalar(epsilon, dt)])])])
    return ctx.op("Add", [ctx.op("Mul", [ctx.op("Mul", [centered, inv]), gamma]), beta],
                  hint=node.name)


@_register("det")
def _det(ctx, node, ins):
    return ctx.op("Det", ins, hint=node.name)
