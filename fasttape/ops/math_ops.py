"""The op table, part 1: elementwise math, comparisons and reductions.

One family call per op, alphabetical within a family. VJPs use operators and
the NumPy API only, so the same formula runs on ndarrays (first order) and on
Tensors (when an outer tape records the backward pass).
"""

import math
import operator

import numpy as np

from fasttape import errors
from fasttape import graph as _graph
from fasttape._core import core as _core
from fasttape.ops import _registry as _rules
from fasttape.ops._registry import (
    Tensor,
    binary,
    broadcast_shapes,
    call_op,
    composite,
    convert_to_tensor,
    in_place,
    incompatible,
    masked,
    nondiff,
    normalize_axis,
    normalize_int,
    public,
    reduce,
    reduced_shape,
    register,
    relu_grad,
    same_dtype,
    unary,
)
from fasttape.ops.array_ops import _gather_op, expand_dims

_SQRT_2 = math.sqrt(2.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# erf and the fused gelu are NumPy ufuncs with vectorised C loops (float16/32/64):
# see Note [Vectorised erf] in fasttape/_core/_math.pxi.
_erf = _core.erf_ufunc
_gelu_exact = _core.gelu_ufunc


def _sigmoid(x):
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # stable for large |x|, no overflow


def _positive_log(x):
    # log(x) where x > 0, else 0: the d/dy of x**y, as TensorFlow's pow gradient.
    # A Python number (a weak operand) goes through math.log, exact for any int: NumPy
    # would make 2**63 an overflowing int64 and 2**64 an OverflowError
    if type(x) is int or type(x) is float:
        return math.log(x) if x > 0 else 0.0
    return np.where(x > 0, np.log(np.where(x > 0, x, 1)), 0)


# --- unary, float-only --------------------------------------------------------
abs = unary("abs", np.abs, lambda g, x: g * np.sign(x), float_only=False)  # noqa: A001
acos = unary("acos", np.arccos, lambda g, x: -g / np.sqrt(1 - x * x))
asin = unary("asin", np.arcsin, lambda g, x: g / np.sqrt(1 - x * x))
atan = unary("atan", np.arctan, lambda g, x: g / (1 + x * x))
ceil = unary("ceil", np.ceil, None)  # piecewise constant: no gradient, as TF
cos = unary("cos", np.cos, lambda g, x: -g * np.sin(x))
cosh = unary("cosh", np.cosh, lambda g, x: g * np.sinh(x))
elu = unary("elu", lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
            lambda g, x, out: np.where(x > 0, g, g * (out + 1)))
erf = unary("erf", _erf, lambda g, x: g * _TWO_OVER_SQRT_PI * np.exp(-x * x))
exp = unary("exp", np.exp, in_place(lambda g, out: g * out,
                                     lambda g, out: np.multiply(g, out, out=g)))


def _calibrate_elision():
    # Note [Temporary elision]: how many references a temporary argument has
    # when a family wrapper like ft.exp passes it on, measured from Python
    # code (the interpreter's calls are what it is about)
    _core.elision_probe(True)
    try:
        exp(_core.wrap_array(np.ones(2**15)))
        named = _core.wrap_array(np.ones(2**15))
        exp(named)
    finally:
        _core.elision_probe(False)


_calibrate_elision()

expm1 = unary("expm1", np.expm1, lambda g, out: g * (out + 1))
floor = unary("floor", np.floor, None)
log = unary("log", np.log, lambda g, x: g / x)
log1p = unary("log1p", np.log1p, lambda g, x: g / (1 + x))
negative = unary("negative", np.negative,
                 in_place(lambda g: -g, lambda g: np.negative(g, out=g)), float_only=False)
reciprocal = unary("reciprocal", np.reciprocal, lambda g, out: -g * out * out)
relu = unary("relu", _core.relu_ufunc,  # np.maximum(x, 0), vectorised (csrc/fasttape_math.c)
             in_place(lambda g, out: relu_grad(g, out),  # subgradient 0 at 0, as TF
                      lambda g, out: _core.relu_grad_ufunc(g, out, out=g)))
relu6 = unary("relu6", lambda x: np.clip(x, 0, 6),
              lambda g, x: masked(g, (x > 0) & (x < 6)))
round = unary("round", np.round, None)  # noqa: A001  (half to even, as TF)
rsqrt = unary("rsqrt", lambda x: 1 / np.sqrt(x), lambda g, out: -0.5 * g * out * out * out)
selu = unary("selu",
             lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0))),
             lambda g, x, out: np.where(x > 0, _SELU_SCALE * g,
                                        g * (out + _SELU_SCALE * _SELU_ALPHA)))
sigmoid = unary("sigmoid", _sigmoid, in_place(
    lambda g, out: g * out * (1 - out),
    lambda g, out: np.multiply(np.multiply(g, out, out=g), 1 - out, out=g)))
sign = unary("sign", np.sign, lambda g: g * 0, float_only=False)  # zero a.e., as TF
sin = unary("sin", np.sin, lambda g, x: g * np.cos(x))
sinh = unary("sinh", np.sinh, lambda g, x: g * np.cosh(x))
softplus = unary("softplus", lambda x: np.logaddexp(0, x),
                 lambda g, out: -g * np.expm1(-out))  # sigmoid(x) = 1 - exp(-softplus(x))
sqrt = unary("sqrt", np.sqrt, lambda g, out: 0.5 * g / out)
square = unary("square", np.square, in_place(
    lambda g, x: 2 * g * x, lambda g, x: np.multiply(x, 2 * g, out=x), into="x"),
    float_only=False)
tan = unary("tan", np.tan, lambda g, out: g * (1 + out * out))
tanh = unary("tanh", np.tanh, in_place(lambda g, out: g * (1 - out * out),
                                        lambda g, out: np.multiply(g, 1 - out * out, out=g)))

# --- unary with an attribute --------------------------------------------------
_GELU_C = 0.7978845608028654  # sqrt(2 / pi)


def _gelu_forward(x, approximate):
    if not approximate:
        return _gelu_exact(x)
    # 0.5 x (1 + tanh(c (x + 0.044715 x^3))), updating one temporary in place
    t = np.multiply(x, x, out=np.empty_like(x))  # an array even when 0-d
    t *= 0.044715
    t += 1.0
    t *= x
    t *= _GELU_C
    np.tanh(t, out=t)
    t += 1.0
    t *= x
    t *= 0.5
    return t


_gelu_op = register(
    "gelu", "unary", _gelu_forward, ("x",),
    lambda g, x, approximate: g * (_gelu_tanh_grad(x) if approximate else _gelu_grad(x)),
    attr_names=("approximate",), shape_fn=lambda s, a: s,
    elementwise=True, dtype_fn=_rules.float_dtype)


def _gelu_grad(x):
    # Phi(x) + x phi(x)
    if isinstance(x, Tensor):  # an outer tape records the backward pass
        return (0.5 * (1 + erf(x / _SQRT_2))
                + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))
    phi = np.multiply(x, x, out=np.empty_like(x))  # arrays even when 0-d
    phi *= -0.5
    np.exp(phi, out=phi)
    phi *= x
    phi *= 1 / math.sqrt(2 * math.pi)
    cdf = np.multiply(x, 1 / _SQRT_2, out=np.empty_like(x))
    _erf(cdf, out=cdf)
    cdf += 1.0
    cdf *= 0.5
    cdf += phi
    return cdf


def _gelu_tanh_grad(x):
    c = _GELU_C
    t = np.tanh(c * (x + 0.044715 * x * x * x))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)


@public("gelu", _gelu_op, None)
def gelu(features, approximate=False, name=None):
    """Gaussian error linear unit: x * Phi(x); `approximate` uses the tanh form."""
    return _gelu_op.apply((_float_tensor("gelu", features),), (bool(approximate),))


_leaky_op = register(
    "leaky_relu", "unary", lambda x, alpha: np.where(x > 0, x, alpha * x), ("x",),
    lambda g, x, alpha: np.where(x > 0, g, alpha * g), attr_names=("alpha",),
    shape_fn=lambda s, a: s,
    elementwise=True, dtype_fn=_rules.float_dtype)


@public("leaky_relu", _leaky_op, None)
def leaky_relu(features, alpha=0.2, name=None):
    """max(x, alpha * x) elementwise (subgradient `alpha` at 0, as TF)."""
    return _leaky_op.apply((_float_tensor("leaky_relu", features),), (float(alpha),))


def _float_tensor(op_name, x):
    x = x if isinstance(x, Tensor) else convert_to_tensor(x)
    if x.dtype.kind not in "fc":
        raise errors.op_error(TypeError, op_name, (x,),
                              f"expects a floating-point tensor, got dtype {x.dtype.name}")
    return x


# --- binary, broadcasting (the sweep sums each grad back to its input's shape) ---
add = binary("add", np.add, {"x": "identity", "y": "identity"})
def _float_operands_dtype(dtype):
    """The dtype rule of `_floats_only` ops: the same check, for build time."""
    if dtype.kind not in "fc":
        raise TypeError(f"expects floating-point tensors, got {dtype.name}; use ft.cast")
    return dtype


def _floats_only(fn):
    """fn on floating-point arrays only, as TensorFlow (NumPy would return float64 or
    bool for integers)."""
    def forward(*args):
        for a in args:
            if np.asarray(a).dtype.kind not in "fc" and not isinstance(a, float):
                raise TypeError(f"expects floating-point tensors, got {np.asarray(a).dtype.name}; "
                                "use ft.cast")
        return fn(*args)

    return forward


atan2 = binary("atan2", _floats_only(np.arctan2), {  # atan2(y, x) as TF: here x is TF's y
    "x": lambda g, x, y: g * y / (x * x + y * y),
    "y": lambda g, x, y: -g * x / (x * x + y * y)},
    dtype_fn=lambda x, y: _float_operands_dtype(_rules.one_dtype(x, y)))
divide = binary("divide", np.true_divide,
                {"x": in_place(lambda g, y: g / y, lambda g, y: np.divide(g, y, out=g)),
                 "y": lambda g, y, out: -g * out / y})
def _int_divisor_check(fn):
    """fn(x, y) that raises, as TensorFlow, where an integer y is 0 (NumPy returns 0)."""
    def forward(x, y):
        if (np.asarray(y).dtype.kind in "iu" and np.asarray(x).dtype.kind in "iu"
                and not np.all(y)):
            raise errors.InvalidArgumentError("integer division by zero")
        return fn(x, y)

    return forward


floordiv = binary("floordiv", _int_divisor_check(np.floor_divide),
                  None)  # piecewise constant: no gradient, as TF
maximum = binary("maximum", np.maximum, {
    "x": lambda g, x, y: masked(g, x >= y),  # ties go to x, as TF
    "y": lambda g, x, y: masked(g, ~(x >= y))})
minimum = binary("minimum", np.minimum, {
    "x": lambda g, x, y: masked(g, x <= y),
    "y": lambda g, x, y: masked(g, ~(x <= y))})
mod = binary("mod", _int_divisor_check(np.mod),
             {"x": "identity", "y": lambda g, x, y: -g * np.floor_divide(x, y)})
multiply = binary("multiply", np.multiply, {
    "x": in_place(lambda g, y: g * y, lambda g, y: np.multiply(g, y, out=g)),
    "y": in_place(lambda g, x: g * x, lambda g, x: np.multiply(g, x, out=g))})
def _pow_grad_x(g, x, y):
    if type(y) is int or type(y) is float:  # a Python exponent: x ** 2 is the common case
        if y == 2:
            return (g * 2) * x  # one pass when g is a lazy broadcast scalar
        return (g * y) * x ** (y - 1)
    return g * y * x ** (y - 1)


def _pow_grad_x_into_x(g, x, y):
    # Note [Gradients in place]: x * (g * 2) is (g * 2) * x bitwise
    if (type(y) is int or type(y) is float) and y == 2:
        return np.multiply(x, g * 2, out=x)
    return _pow_grad_x(g, x, y)


pow = binary("pow", operator.pow, {  # noqa: A001  (ndarray ** 2 takes NumPy's fast path)
    "x": in_place(_pow_grad_x, _pow_grad_x_into_x, into="x"),
    "y": lambda g, x, out: g * out * _positive_log(x)})
subtract = binary("subtract", np.subtract, {
    "x": "identity", "y": in_place(lambda g: -g, lambda g: np.negative(g, out=g))})

# --- comparisons and logic: not differentiable ----------------------------------
bitwise_and = nondiff("bitwise_and", np.bitwise_and, dtype_fn=_rules.ufunc_dtype(np.bitwise_and))
bitwise_or = nondiff("bitwise_or", np.bitwise_or, dtype_fn=_rules.ufunc_dtype(np.bitwise_or))
bitwise_xor = nondiff("bitwise_xor", np.bitwise_xor, dtype_fn=_rules.ufunc_dtype(np.bitwise_xor))
equal = nondiff("equal", np.equal)
greater = nondiff("greater", np.greater)
greater_equal = nondiff("greater_equal", np.greater_equal)
invert = nondiff("invert", np.invert, n_inputs=1, dtype_fn=_rules.ufunc_dtype(np.invert))
def _float_predicate_dtype(x_dtype):
    """The dtype rule of isnan and isfinite: the check of `_floats_only`."""
    _float_operands_dtype(x_dtype)
    return np.dtype(bool)


isfinite = nondiff("isfinite", _floats_only(np.isfinite), n_inputs=1,
                   dtype_fn=_float_predicate_dtype)
isnan = nondiff("isnan", _floats_only(np.isnan), n_inputs=1, dtype_fn=_float_predicate_dtype)
less = nondiff("less", np.less)
less_equal = nondiff("less_equal", np.less_equal)
not_equal = nondiff("not_equal", np.not_equal)


def _bool_only(name, fn, n):
    def forward(*args):
        for a in args:
            if np.asarray(a).dtype != np.bool_:
                raise TypeError(f"expects bool tensors, got {np.asarray(a).dtype.name}")
        return fn(*args)

    def dtype_rule(*dtypes):  # the same check, for graph mode's build time
        for d in dtypes:
            if d != np.bool_:
                raise TypeError(f"expects bool tensors, got {d.name}")
        return np.dtype(bool)

    return nondiff(name, forward, n_inputs=n, doc=f"Elementwise {name} of bool tensors.",
                   dtype_fn=dtype_rule)


logical_and = _bool_only("logical_and", np.logical_and, 2)
logical_not = _bool_only("logical_not", np.logical_not, 1)
logical_or = _bool_only("logical_or", np.logical_or, 2)
logical_xor = _bool_only("logical_xor", np.logical_xor, 2)

# --- ternary -------------------------------------------------------------------
_clip_op = register(
    "clip_by_value", "elementwise", np.clip, ("t", "clip_value_min", "clip_value_max"), {
        "t": lambda g, t, clip_value_min, clip_value_max:
            masked(g, (t >= clip_value_min) & (t <= clip_value_max)),
        "clip_value_min": lambda g, t, clip_value_min: masked(g, t < clip_value_min),
        "clip_value_max": lambda g, t, clip_value_max: masked(g, t > clip_value_max)},
    shape_fn=lambda a, b, c: broadcast_shapes(broadcast_shapes(a, b), c),
    elementwise=True, dtype_fn=_rules.one_dtype)


def _same_dtype(op_name, values, names):
    """`values` as tensors of one dtype (Python data adopts the tensors'): see same_dtype."""
    return same_dtype(op_name, values, names)


@public("clip_by_value", _clip_op, None)
def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """Clips `t` elementwise to [clip_value_min, clip_value_max] (gradient 1 inside)."""
    vals = _same_dtype("clip_by_value", (t, clip_value_min, clip_value_max),
                       ("t", "clip_value_min", "clip_value_max"))
    return _clip_op.apply(vals)


_where_op = register(
    "where", "select", np.where, ("condition", "x", "y"), {
        "x": lambda g, condition: masked(g, condition),
        "y": lambda g, condition: masked(g, ~condition)},
    shape_fn=lambda c, a, b: broadcast_shapes(broadcast_shapes(c, a), b),
    elementwise=True, dtype_fn=lambda c, x, y: _rules.one_dtype(x, y))


# where(condition) alone: the coordinates of the true elements, a (count, rank)
# int64 matrix whose count depends on the values (None in the shape rule)
_where_indices_op = register(
    "_where_indices", "shape_op", lambda condition: np.argwhere(condition).astype(np.int64),
    ("condition",), None, shape_fn=lambda c: (None, len(c)),
    dtype_fn=lambda c: np.dtype(np.int64))


@public("where", _where_op, None)
def where(condition, x=None, y=None, name=None):
    """Elements of `x` where `condition` is true, else of `y` (broadcasting).

    With `x` and `y` both None, returns the int64 coordinates of true elements.
    """
    cond = condition if isinstance(condition, Tensor) else convert_to_tensor(condition)
    if cond.dtype != np.bool_:
        raise errors.op_error(TypeError, "where", (cond, x, y),
                              f"condition must be bool, got {cond.dtype.name}",
                              ("condition", "x", "y"))
    if x is None and y is None:
        if name is not None:  # the guard names the `where` entry's node: this is another's
            with _graph.op_name(name, _where_indices_op):
                return _where_indices_op.apply((cond,))
        return _where_indices_op.apply((cond,))
    if x is None or y is None:
        raise errors.op_error(ValueError, "where", (cond, x, y), "give both x and y, or neither",
                              ("condition", "x", "y"))
    xv, yv = _same_dtype("where", (x, y), ("x", "y"))
    return _where_op.apply((cond, xv, yv))


# --- reductions: x_shape comes from tape metadata, x itself is saved only when named ---


def _expand(g, x_shape, axis, keepdims):
    """g of a reduction's output shape, reshaped to broadcast against x_shape
    (extra leading axes of g, the rows of a batched sweep, are kept in front)."""
    nd = len(x_shape)
    out_nd = nd if keepdims else nd - (nd if axis is None else len(axis))
    lead = g.shape[: len(g.shape) - out_nd]  # cotangent rows of a batched sweep
    if not lead and (keepdims or axis is None):  # already broadcasts (a full reduction's g is 0-d)
        return g
    if isinstance(g, np.ndarray):
        return g.reshape(tuple(lead) + reduced_shape(x_shape, axis, True))
    if not lead and not all(isinstance(d, int) for d in x_shape):
        # unknown dims (a graph: Note [Unknown dims in VJPs]): the reduced axes
        # come back as 1s without naming the others
        for a in sorted(axis):
            g = expand_dims(g, a)
        return g
    return np.reshape(g, tuple(lead) + reduced_shape(x_shape, axis, True))


def _count(x_shape, axis):
    axes = range(len(x_shape)) if axis is None else axis
    n = 1
    for a in axes:
        n *= x_shape[a]
    return n


def _extreme_vjp(g, x, x_shape, out, axis, keepdims):
    # ties share the gradient equally, as TF
    mask = np.where(x == _expand(out, x_shape, axis, keepdims), np.ones_like(x), np.zeros_like(x))
    count = np.sum(mask, axis=axis, keepdims=True)
    return _expand(g, x_shape, axis, keepdims) * mask / count


_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _full_sum(x, axis, keepdims, divide_by=1):
    """The sum over every axis of a contiguous float32/float64 x divided by
    `divide_by`, in double (Note [Fast sums] in _core/_math.pxi); None otherwise."""
    if axis is not None and len(axis) != x.ndim:
        return None
    s = _core.sum_all(x)
    if s is None:
        return None
    s = x.dtype.type(s / divide_by if divide_by else np.nan)
    return np.full((1,) * x.ndim, s) if keepdims else s


def _leading_sum(x, axis, keepdims):
    """The sum over the leading axes `axis` (0, ..., k-1) of a contiguous
    float32/float64 x, as one BLAS product ones @ x (Note [Fast sums]): a
    bias's gradient, as bias_add's own VJP computes it. None for other axes
    and arrays."""
    # below 8192 elements or 64 rows NumPy's loop is as fast (a (32, 128) sum):
    # the cheapest test first, as most small reductions come here
    if (type(x) is not np.ndarray or x.size < 8192 or type(axis) is not tuple or not axis
            or axis != tuple(range(len(axis)))
            or x.dtype not in _BLAS_FLOATS or not x.flags.c_contiguous):
        return None
    cols = x.shape[len(axis):]
    n = math.prod(cols)
    rows = x.size // n
    if n < 8 or rows < 64:
        return None
    s = np.ones(rows, x.dtype) @ x.reshape(rows, n)
    return s.reshape((1,) * len(axis) + cols if keepdims else cols)


def _sum(x, axis, keepdims):
    s = _full_sum(x, axis, keepdims)
    if s is None:
        s = _leading_sum(x, axis, keepdims)
    if s is None:
        s = np.add.reduce(x, axis=axis, keepdims=keepdims, dtype=_int_kept(x))
    return s


def _mean(x, axis, keepdims):
    if x.dtype.kind in "fc":  # np.add.reduce skips np.mean's Python-level wrapper
        n = _count(x.shape, axis)
        s = _full_sum(x, axis, keepdims, n)
        if s is not None:
            return s
        s = _leading_sum(x, axis, keepdims)
        if s is not None:
            return s / n  # (n > 0: a leading sum has elements)
        return np.add.reduce(x, axis=axis, keepdims=keepdims) / (n if n else np.nan)
    return np.trunc(np.mean(x, axis=axis, keepdims=keepdims)).astype(x.dtype)  # ints: as TF


def _prod_of_others(x, axis):
    """d prod(x) / d x: the product of the other elements along `axis`, exact
    when x has zeros (out / x is not). With one zero z in a slice it is
    z * prod(nonzeros) / x off z (0, written so that its derivative in z is
    right) and prod(nonzeros) at z; with two or more it is 0 (as PyTorch, the
    second derivatives between two zeros are then 0 too)."""
    nonzero = x != 0
    safe = np.where(nonzero, x, 1)
    prod_nonzero = np.prod(safe, axis=axis, keepdims=True)
    n_zeros = np.sum(np.where(nonzero, 0, 1), axis=axis, keepdims=True)
    zero = np.sum(np.where(nonzero, 0, x), axis=axis, keepdims=True)  # the zero, if one
    off_zero = np.where(n_zeros == 0, prod_nonzero, zero * prod_nonzero) / safe
    return np.where(nonzero, off_zero, np.where(n_zeros == 1, prod_nonzero, 0))


def _logsumexp(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.reshape(out, reduced_shape(x.shape, axis, False))


def _variance(x, axis, keepdims):
    return np.var(x, axis=axis, keepdims=keepdims)


def _centered(x, axis):
    return x - np.mean(x, axis=axis, keepdims=True)


reduce_logsumexp = reduce(
    "reduce_logsumexp", _logsumexp,
    lambda g, x, x_shape, out, axis, keepdims:
        _expand(g, x_shape, axis, keepdims) * np.exp(x - _expand(out, x_shape, axis, keepdims)),
    float_only=True)
reduce_max = reduce("reduce_max", lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
                    _extreme_vjp, shape_fn=_rules.nonempty_reduced_shape)
reduce_mean = reduce(
    "reduce_mean", lambda x, axis, keepdims: _mean(x, axis, keepdims),
    # the gradient broadcasts to x_shape; the sweep expands it only where needed
    lambda g, x_shape, axis, keepdims: _expand(g, x_shape, axis, keepdims) / _count(x_shape, axis))
reduce_min = reduce("reduce_min", lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims),
                    _extreme_vjp, shape_fn=_rules.nonempty_reduced_shape)
def _int_kept(x):
    # integer reductions keep the dtype, as TensorFlow (NumPy widens int32 to int64)
    return x.dtype if x.dtype.kind in "iu" else None


reduce_prod = reduce(
    "reduce_prod",
    lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims, dtype=_int_kept(x)),
    lambda g, x, x_shape, axis, keepdims:
        _expand(g, x_shape, axis, keepdims) * _prod_of_others(x, axis))
reduce_std = reduce(
    "reduce_std", lambda x, axis, keepdims: np.std(x, axis=axis, keepdims=keepdims),
    lambda g, x, x_shape, out, axis, keepdims:
        _expand(g, x_shape, axis, keepdims) * _centered(x, axis)
        / (_count(x_shape, axis) * _expand(out, x_shape, axis, keepdims)),
    float_only=True)
reduce_sum = reduce(
    "reduce_sum",
    _sum, lambda g, x_shape, axis, keepdims: _expand(g, x_shape, axis, keepdims))
reduce_variance = reduce(
    "reduce_variance", _variance,
    lambda g, x, x_shape, axis, keepdims:
        _expand(g, x_shape, axis, keepdims) * 2 * _centered(x, axis) / _count(x_shape, axis),
    float_only=True)


def _bool_reduce(name, fn):
    op = register(name, "reduce", lambda x, axis, keepdims: fn(x, axis=axis, keepdims=keepdims),
                  ("x",), None, attr_names=("axis", "keepdims"), shape_fn=reduced_shape,
                  dtype_fn=_rules.bool_dtype)

    @public(name, op, f"Logical {name[7:]} of a bool tensor over `axis`.")
    def f(input_tensor, axis=None, keepdims=False, name=None):
        x = input_tensor if isinstance(input_tensor, Tensor) else convert_to_tensor(input_tensor)
        if x.dtype != np.bool_:
            raise errors.op_error(TypeError, name_, (x,),
                                  f"expects a bool tensor, got {x.dtype.name}")
        return op.apply((x,), (normalize_axis(name_, x, axis), bool(keepdims)))

    name_ = name
    return f


reduce_all = _bool_reduce("reduce_all", np.all)
reduce_any = _bool_reduce("reduce_any", np.any)


def _arg_reduce(name, fn):
    op = register(name, "nondiff",
                  lambda x, axis, output_type: fn(x, axis=axis).astype(output_type),
                  ("x",), None, attr_names=("axis", "output_type"),
                  shape_fn=lambda s, axis, t: s[:axis] + s[axis + 1:],
                  dtype_fn=lambda d, axis, t: np.dtype(t))

    @public(name, op, f"Index of the {name[3:]} along `axis` (default 0, as TF); int64.")
    def f(input, axis=None, output_type=np.int64, name=None):  # noqa: A002
        x = input if isinstance(input, Tensor) else convert_to_tensor(input)
        if x.ndim == 0:
            raise errors.op_error(ValueError, name_, (x,), "needs a tensor of rank >= 1")
        ax = normalize_axis(name_, x, 0 if axis is None else axis)
        if len(ax) != 1:
            raise errors.op_error(ValueError, name_, (x,), f"axis must be one int, got {axis}")
        if x.shape[ax[0]] == 0:
            raise errors.op_error(ValueError, name_, (x,), f"axis {ax[0]} is empty")
        return op.apply((x,), (ax[0], np.dtype(output_type)))

    name_ = name
    return f


argmax = _arg_reduce("argmax", np.argmax)
argmin = _arg_reduce("argmin", np.argmin)


# --- TensorFlow's everyday names beyond SPEC's minimum ---------------------------------


def _add_n(*values):
    out = values[0].copy() if len(values) > 1 else values[0]
    for v in values[1:]:
        out += v
    return out


_add_n_op = register("add_n", "variadic", _add_n, ("inputs",),
                     lambda g, inputs_shape: [g] * len(inputs_shape), variadic=True,
                     elementwise=True, shape_fn=_rules.same_shapes,
                     dtype_fn=lambda ds: _rules.one_dtype(*ds))


@public("add_n", _add_n_op, None)
def add_n(inputs, name=None):
    """The elementwise sum of a list of tensors of one shape and dtype (tf.math.add_n).

    Unlike `+`, it does not broadcast, as in TensorFlow; every input gets the
    output's gradient.

    >>> import fasttape as ft
    >>> ft.add_n([ft.constant([1.0, 2.0]), ft.constant([3.0, 4.0]), ft.constant([5.0, 6.0])])
    <ft.Tensor shape=(2,) dtype=float32 numpy=[ 9. 12.]>
    """
    if isinstance(inputs, (Tensor, np.ndarray)) or not hasattr(inputs, "__iter__"):
        raise errors.op_error(TypeError, "add_n", (inputs,),
                              "inputs must be a list of tensors", ("inputs",))
    vals = list(inputs)
    if not vals:
        raise errors.op_error(ValueError, "add_n", (), "needs at least one tensor")
    vals = _same_dtype("add_n", vals, tuple(f"inputs[{i}]" for i in range(len(vals))))
    vals = [v if isinstance(v, Tensor) else convert_to_tensor(v) for v in vals]
    if any(incompatible(v.shape, vals[0].shape) for v in vals):
        raise errors.op_error(ValueError, "add_n", tuple(vals),
                              "all inputs must have one shape (add_n does not broadcast)")
    return _add_n_op.apply(vals)


def _count_nonzero(x, axis, keepdims, dtype):
    return np.count_nonzero(x, axis=axis, keepdims=keepdims).astype(dtype)


_count_nonzero_op = register("count_nonzero", "reduce", _count_nonzero, ("x",), None,
                             attr_names=("axis", "keepdims", "dtype"),
                             shape_fn=lambda s, axis, keepdims, dtype:
                                 reduced_shape(s, axis, keepdims),
                             dtype_fn=lambda d, axis, keepdims, dtype: np.dtype(dtype))


@public("count_nonzero", _count_nonzero_op, None)
def count_nonzero(input, axis=None, keepdims=None, dtype=np.int64, name=None):  # noqa: A002
    """The number of non-zero elements over `axis` (all axes when None), as
    tf.math.count_nonzero: int64 unless `dtype` says otherwise; not differentiable.

    >>> import fasttape as ft
    >>> ft.math.count_nonzero(ft.constant([[0.0, 1.5, 2.0], [0.0, 0.0, 3.0]]), axis=1)
    <ft.Tensor shape=(2,) dtype=int64 numpy=[2 1]>
    """
    x = input if isinstance(input, Tensor) else convert_to_tensor(input)
    dtype = np.dtype(dtype)
    if dtype.kind not in "iuf":
        raise errors.op_error(TypeError, "count_nonzero", (x,),
                              f"dtype must be an integer or float dtype, got {dtype.name}",
                              ("input",))
    return _count_nonzero_op.apply(
        (x,), (normalize_axis("count_nonzero", x, axis), bool(keepdims), dtype))


def _euclidean_norm(x, axis, keepdims):
    r = np.sqrt(np.add.reduce(x * x, axis=axis, keepdims=keepdims))
    return r if x.dtype.kind in "fc" else r.astype(x.dtype)  # ints: truncated, as TF


reduce_euclidean_norm = reduce(
    "reduce_euclidean_norm", _euclidean_norm,
    lambda g, x, x_shape, out, axis, keepdims:  # x / norm, as TensorFlow's (NaN at a zero norm)
        _expand(g, x_shape, axis, keepdims) * x / _expand(out, x_shape, axis, keepdims),
    doc="The Euclidean norm sqrt(sum(x**2)) of `input_tensor` over `axis` (all axes when "
        "None), as tf.math.reduce_euclidean_norm; `keepdims` keeps reduced axes with size 1.\n\n"
        "    >>> import fasttape as ft\n"
        "    >>> ft.math.reduce_euclidean_norm(ft.constant([[3.0, 4.0], [6.0, 8.0]]), axis=1)\n"
        "    <ft.Tensor shape=(2,) dtype=float32 numpy=[ 5. 10.]>\n")


# segment sums: the gradient of data is a gather of g at the segment ids (dropping
# negative ids, which unsorted_segment_sum ignores); gather's own VJP is a segment
# sum again (_index_add), so every order is differentiable.


def _segment_sum(data, segment_ids, num_segments):
    if segment_ids.size and segment_ids.max() >= num_segments:
        raise errors.InvalidArgumentError(
            f"segment id {segment_ids.max()} is out of range [0, {num_segments})")
    out = np.zeros((num_segments,) + data.shape[segment_ids.ndim:], data.dtype)
    keep = segment_ids >= 0
    if keep.all():
        np.add.at(out, segment_ids, data)
    else:
        np.add.at(out, segment_ids[keep], data[keep])
    return out


def _sorted_segment_sum(data, segment_ids, num_segments):
    """segment_sum's forward: the ids' values (sorted, >= 0) give the number of
    segments, so its graph node's first dim is unknown (num_segments None)."""
    iv = segment_ids
    if iv.size and iv.min() < 0:
        raise errors.InvalidArgumentError(f"segment ids must be >= 0, got {iv.min()}")
    if iv.size > 1 and np.any(iv[1:] < iv[:-1]):
        k = int(np.argmax(iv[1:] < iv[:-1]))
        raise errors.InvalidArgumentError(
            f"segment ids are not sorted: segment_ids[{k + 1}] = {iv[k + 1]} "
            f"< segment_ids[{k}] = {iv[k]}")
    n = int(iv[-1]) + 1 if iv.size else 0
    return _segment_sum(data, segment_ids, n)


def _segment_sum_vjp(g, segment_ids):
    ids = segment_ids.numpy() if isinstance(segment_ids, Tensor) else segment_ids
    keep = ids >= 0
    picked = call_op(_gather_op, (g, np.where(keep, ids, 0)), (0, 0))
    if keep.all():
        return picked
    return masked(picked, keep.reshape(keep.shape + (1,) * (np.ndim(picked) - keep.ndim)))


_segment_sum_op = register(
    "segment_sum", "shape_op", _sorted_segment_sum, ("data", "segment_ids"),
    {"data": _segment_sum_vjp}, attr_names=("num_segments",),
    shape_fn=_rules.segment_shape, dtype_fn=_rules.segment_dtype)
_unsorted_segment_sum_op = register(
    "unsorted_segment_sum", "shape_op", _segment_sum, ("data", "segment_ids"),
    {"data": _segment_sum_vjp}, attr_names=("num_segments",),
    shape_fn=_rules.segment_shape, dtype_fn=_rules.segment_dtype)


def _segment_args(op_name, data, segment_ids):
    d = data if isinstance(data, Tensor) else convert_to_tensor(data)
    ids = segment_ids if isinstance(segment_ids, Tensor) else convert_to_tensor(segment_ids)
    names = ("data", "segment_ids")
    if ids.dtype.kind not in "iu":
        raise errors.op_error(TypeError, op_name, (d, ids),
                              f"segment_ids must be integers, got {ids.dtype.name}", names)
    if ids.ndim == 0 or incompatible(d.shape[:ids.ndim], ids.shape):
        raise errors.op_error(ValueError, op_name, (d, ids),
                              "segment_ids' shape must be a prefix of data's shape", names)
    return d, ids, names


@public("segment_sum", _segment_sum_op, None)
def segment_sum(data, segment_ids, name=None):
    """Sums of the rows of `data` sharing a segment id, as tf.math.segment_sum.

    `segment_ids` (1-D, one per row of data) must be sorted and non-negative;
    the result has max(segment_ids) + 1 rows, zeros for ids that do not occur.

    Raises:
        InvalidArgumentError: the ids are not sorted, or one is negative.

    >>> import fasttape as ft
    >>> ft.math.segment_sum(ft.constant([1.0, 2.0, 3.0, 4.0]), [0, 0, 2, 2])
    <ft.Tensor shape=(3,) dtype=float32 numpy=[3. 0. 7.]>
    """
    d, ids, names = _segment_args("segment_sum", data, segment_ids)
    if ids.ndim not in (1, None):
        raise errors.op_error(ValueError, "segment_sum", (d, ids),
                              "segment_ids must be a vector", names)
    return _segment_sum_op.apply((d, ids), (None,))


@public("unsorted_segment_sum", _unsorted_segment_sum_op, None)
def unsorted_segment_sum(data, segment_ids, num_segments, name=None):
    """Sums of the slices of `data` sharing a segment id, in any order, as
    tf.math.unsorted_segment_sum.

    `segment_ids`' shape is a prefix of data's; the result has shape
    (num_segments,) + data.shape[segment_ids.ndim:]. Slices with a negative
    id are dropped (as TensorFlow).

    Raises:
        InvalidArgumentError: an id is >= num_segments.

    >>> import fasttape as ft
    >>> ft.math.unsorted_segment_sum(ft.constant([1.0, 2.0, 3.0]), [2, 0, 2], 3)
    <ft.Tensor shape=(3,) dtype=float32 numpy=[2. 0. 4.]>
    """
    d, ids, names = _segment_args("unsorted_segment_sum", data, segment_ids)
    n = normalize_int("unsorted_segment_sum", num_segments, "num_segments", (d, ids), names,
                      minimum=0)
    return _unsorted_segment_sum_op.apply((d, ids), (n,))


# --- clipping by norm: composites of table ops, as TensorFlow writes them -------------


@composite("clip_by_norm")
def clip_by_norm(t, clip_norm, axes=None, name=None):
    """`t` scaled so that its L2 norm over `axes` (all when None) is at most
    `clip_norm`, as tf.clip_by_norm: t * clip_norm / max(norm, clip_norm).
    Composed of table ops as TensorFlow's, so it is differentiable (a zero `t`
    gives a zero gradient, not NaN).

    >>> import fasttape as ft
    >>> ft.clip_by_norm(ft.constant([3.0, 4.0]), 1.0)
    <ft.Tensor shape=(2,) dtype=float32 numpy=[0.6 0.8]>
    """
    t = _float_tensor("clip_by_norm", t)
    clip_norm = _clip_norm_arg("clip_by_norm", t, clip_norm)
    l2sum = reduce_sum(t * t, axes, keepdims=True)
    pred = greater(l2sum, 0)
    l2sum_safe = where(pred, l2sum, l2sum * 0 + 1)  # no NaN gradient at a zero norm
    l2norm = where(pred, sqrt(l2sum_safe), l2sum)
    return (t * clip_norm) / maximum(l2norm, clip_norm)


def _clip_norm_arg(op_name, t, clip_norm):
    c = clip_norm if isinstance(clip_norm, Tensor) else convert_to_tensor(clip_norm, t.dtype)
    if c.ndim != 0:
        raise errors.op_error(ValueError, op_name, (t, c),
                              f"clip_norm must be a scalar, got shape {c.shape}",
                              ("t", "clip_norm"))
    if c.dtype != t.dtype:
        raise errors.op_error(TypeError, op_name, (t, c),
                              f"clip_norm has dtype {c.dtype.name}, t {t.dtype.name}; use ft.cast",
                              ("t", "clip_norm"))
    return c


@composite("global_norm")
def global_norm(t_list, name=None):
    """sqrt(sum of the squares of every element of every tensor in `t_list`)
    (None entries are skipped), as tf.linalg.global_norm.

    >>> import fasttape as ft
    >>> ft.linalg.global_norm([ft.constant([3.0]), ft.constant([[4.0]])])
    <ft.Tensor shape=() dtype=float32 numpy=5.0>
    """
    if isinstance(t_list, (Tensor, np.ndarray)) or not hasattr(t_list, "__iter__"):
        raise errors.op_error(TypeError, "global_norm", (t_list,),
                              "t_list must be a list of tensors", ("t_list",))
    ts = [t if isinstance(t, Tensor) else convert_to_tensor(t) for t in t_list if t is not None]
    if not ts:
        raise errors.op_error(ValueError, "global_norm", (), "t_list has no tensors")
    for t in ts:
        _float_tensor("global_norm", t)
    ts = _same_dtype("global_norm", ts, tuple(f"t_list[{i}]" for i in range(len(ts))))
    return sqrt(add_n([reduce_sum(t * t) for t in ts]))


@composite("clip_by_global_norm")
def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """Scales the tensors of `t_list` by clip_norm / max(global_norm, clip_norm),
    as tf.clip_by_global_norm; returns (list_clipped, global_norm). None
    entries stay None. Composed of table ops, so it is differentiable.

    >>> import fasttape as ft
    >>> clipped, norm = ft.clip_by_global_norm([ft.constant([3.0]), ft.constant([4.0])], 1.0)
    >>> [c.numpy().tolist() for c in clipped], float(norm)
    ([[0.6000000238418579], [0.800000011920929]], 5.0)
    """
    if isinstance(t_list, (Tensor, np.ndarray)) or not hasattr(t_list, "__iter__"):
        raise errors.op_error(TypeError, "clip_by_global_norm", (t_list,),
                              "t_list must be a list of tensors", ("t_list",))
    t_list = list(t_list)
    norm = global_norm(t_list) if use_norm is None else (
        use_norm if isinstance(use_norm, Tensor) else convert_to_tensor(use_norm))
    c = _clip_norm_arg("clip_by_global_norm", norm, clip_norm)
    # as TensorFlow: min(1 / norm, 1 / clip_norm) * clip_norm, and NaN if the norm is
    # not finite (norm - norm)
    scale = c * minimum(1.0 / norm, 1.0 / c) + (norm - norm)
    clipped = [None if t is None else (t if isinstance(t, Tensor) else convert_to_tensor(t))
               * scale for t in t_list]
    return clipped, norm
