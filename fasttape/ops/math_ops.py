"""The op table, part 1: elementwise math, comparisons and reductions.

One family call per op, alphabetical within a family. VJPs use operators and
the NumPy API only, so the same formula runs on ndarrays (first order) and on
Tensors (when an outer tape records the backward pass).
"""

import math
import operator

import numpy as np

from fasttape import errors
from fasttape._core import core as _core
from fasttape.ops._registry import (
    Tensor,
    binary,
    broadcast_shapes,
    convert_to_tensor,
    masked,
    nondiff,
    normalize_axis,
    public,
    reduce,
    reduced_shape,
    register,
    unary,
)

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
    # log(x) where x > 0, else 0: the d/dy of x**y, as TensorFlow's pow gradient
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
exp = unary("exp", np.exp, lambda g, out: g * out)


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
negative = unary("negative", np.negative, lambda g: -g, float_only=False)
reciprocal = unary("reciprocal", np.reciprocal, lambda g, out: -g * out * out)
relu = unary("relu", lambda x: np.maximum(x, 0),
             lambda g, out: masked(g, out > 0))  # subgradient 0 at 0, as TF
relu6 = unary("relu6", lambda x: np.clip(x, 0, 6),
              lambda g, x: masked(g, (x > 0) & (x < 6)))
round = unary("round", np.round, None)  # noqa: A001  (half to even, as TF)
rsqrt = unary("rsqrt", lambda x: 1 / np.sqrt(x), lambda g, out: -0.5 * g * out * out * out)
selu = unary("selu",
             lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0))),
             lambda g, x, out: np.where(x > 0, _SELU_SCALE * g,
                                        g * (out + _SELU_SCALE * _SELU_ALPHA)))
sigmoid = unary("sigmoid", _sigmoid, lambda g, out: g * out * (1 - out))
sign = unary("sign", np.sign, lambda g: g * 0, float_only=False)  # zero a.e., as TF
sin = unary("sin", np.sin, lambda g, x: g * np.cos(x))
sinh = unary("sinh", np.sinh, lambda g, x: g * np.cosh(x))
softplus = unary("softplus", lambda x: np.logaddexp(0, x),
                 lambda g, out: -g * np.expm1(-out))  # sigmoid(x) = 1 - exp(-softplus(x))
sqrt = unary("sqrt", np.sqrt, lambda g, out: 0.5 * g / out)
square = unary("square", np.square, lambda g, x: 2 * g * x, float_only=False)
tan = unary("tan", np.tan, lambda g, out: g * (1 + out * out))
tanh = unary("tanh", np.tanh, lambda g, out: g * (1 - out * out))

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
    attr_names=("approximate",), shape_fn=lambda s, a: s)


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
    shape_fn=lambda s, a: s)


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
atan2 = binary("atan2", np.arctan2, {  # atan2(y, x) as TF: here x is TF's y
    "x": lambda g, x, y: g * y / (x * x + y * y),
    "y": lambda g, x, y: -g * x / (x * x + y * y)})
divide = binary("divide", np.true_divide,
                {"x": lambda g, y: g / y, "y": lambda g, y, out: -g * out / y})
floordiv = binary("floordiv", np.floor_divide, None)  # piecewise constant: no gradient, as TF
maximum = binary("maximum", np.maximum, {
    "x": lambda g, x, y: masked(g, x >= y),  # ties go to x, as TF
    "y": lambda g, x, y: masked(g, ~(x >= y))})
minimum = binary("minimum", np.minimum, {
    "x": lambda g, x, y: masked(g, x <= y),
    "y": lambda g, x, y: masked(g, ~(x <= y))})
mod = binary("mod", np.mod, {"x": "identity", "y": lambda g, x, y: -g * np.floor_divide(x, y)})
multiply = binary("multiply", np.multiply, {"x": lambda g, y: g * y, "y": lambda g, x: g * x})
def _pow_grad_x(g, x, y):
    if type(y) is int or type(y) is float:  # a Python exponent: x ** 2 is the common case
        if y == 2:
            return (g * 2) * x  # one pass when g is a lazy broadcast scalar
        return (g * y) * x ** (y - 1)
    return g * y * x ** (y - 1)


pow = binary("pow", operator.pow, {  # noqa: A001  (ndarray ** 2 takes NumPy's fast path)
    "x": _pow_grad_x,
    "y": lambda g, x, out: g * out * _positive_log(x)})
subtract = binary("subtract", np.subtract, {"x": "identity", "y": lambda g: -g})

# --- comparisons and logic: not differentiable ----------------------------------
bitwise_and = nondiff("bitwise_and", np.bitwise_and)
bitwise_or = nondiff("bitwise_or", np.bitwise_or)
bitwise_xor = nondiff("bitwise_xor", np.bitwise_xor)
equal = nondiff("equal", np.equal)
greater = nondiff("greater", np.greater)
greater_equal = nondiff("greater_equal", np.greater_equal)
invert = nondiff("invert", np.invert, n_inputs=1)
isfinite = nondiff("isfinite", np.isfinite, n_inputs=1)
isnan = nondiff("isnan", np.isnan, n_inputs=1)
less = nondiff("less", np.less)
less_equal = nondiff("less_equal", np.less_equal)
not_equal = nondiff("not_equal", np.not_equal)


def _bool_only(name, fn, n):
    def forward(*args):
        for a in args:
            if np.asarray(a).dtype != np.bool_:
                raise TypeError(f"expects bool tensors, got {np.asarray(a).dtype.name}")
        return fn(*args)

    return nondiff(name, forward, n_inputs=n, doc=f"Elementwise {name} of bool tensors.")


logical_and = _bool_only("logical_and", np.logical_and, 2)
logical_not = _bool_only("logical_not", np.logical_not, 1)
logical_or = _bool_only("logical_or", np.logical_or, 2)
logical_xor = _bool_only("logical_xor", np.logical_xor, 2)

# --- ternary -------------------------------------------------------------------
_clip_op = register(
    "clip_by_value", "binary", np.clip, ("t", "clip_value_min", "clip_value_max"), {
        "t": lambda g, t, clip_value_min, clip_value_max:
            masked(g, (t >= clip_value_min) & (t <= clip_value_max)),
        "clip_value_min": lambda g, t, clip_value_min: masked(g, t < clip_value_min),
        "clip_value_max": lambda g, t, clip_value_max: masked(g, t > clip_value_max)},
    shape_fn=lambda a, b, c: broadcast_shapes(broadcast_shapes(a, b), c))


def _same_dtype(op_name, values, names):
    """Converts `values` to tensors of one dtype (Python data adopts the first tensor's)."""
    ref = next((v for v in values if isinstance(v, Tensor)), None)
    dtype = ref.dtype if ref is not None else None
    out = []
    for v in values:
        if isinstance(v, Tensor):
            out.append(v)
        elif isinstance(v, np.ndarray):
            out.append(v)
        else:
            out.append(convert_to_tensor(v, dtype) if dtype is not None else convert_to_tensor(v))
            dtype = dtype or out[-1].dtype
    dtypes = {np.dtype(v.dtype) for v in out}
    if len(dtypes) > 1:
        raise errors.op_error(
            TypeError, op_name, tuple(out),
            f"inputs have different dtypes {sorted(d.name for d in dtypes)}; use ft.cast",
            names)
    return out


@public("clip_by_value", _clip_op, None)
def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """Clips `t` elementwise to [clip_value_min, clip_value_max] (gradient 1 inside)."""
    vals = _same_dtype("clip_by_value", (t, clip_value_min, clip_value_max),
                       ("t", "clip_value_min", "clip_value_max"))
    return _clip_op.apply(vals)


_where_op = register(
    "where", "binary", np.where, ("condition", "x", "y"), {
        "x": lambda g, condition: masked(g, condition),
        "y": lambda g, condition: masked(g, ~condition)},
    shape_fn=lambda c, a, b: broadcast_shapes(broadcast_shapes(c, a), b))


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
        return convert_to_tensor(np.argwhere(cond.numpy()).astype(np.int64))
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
    shape = tuple(lead) + reduced_shape(x_shape, axis, True)
    return g.reshape(shape) if isinstance(g, np.ndarray) else np.reshape(g, shape)


def _count(x_shape, axis):
    axes = range(len(x_shape)) if axis is None else axis
    n = 1
    for a in axes:
        n *= x_shape[a]
    return n


def _extreme_vjp(g, x, out, axis, keepdims):
    # ties share the gradient equally, as TF
    mask = np.where(x == _expand(out, x.shape, axis, keepdims), np.ones_like(x), np.zeros_like(x))
    count = np.sum(mask, axis=axis, keepdims=True)
    return _expand(g, x.shape, axis, keepdims) * mask / count


def _mean(x, axis, keepdims):
    if x.dtype.kind in "fc":  # np.add.reduce skips np.mean's Python-level wrapper
        n = _count(x.shape, axis)
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
    lambda g, x, out, axis, keepdims:
        _expand(g, x.shape, axis, keepdims) * np.exp(x - _expand(out, x.shape, axis, keepdims)),
    float_only=True)
reduce_max = reduce("reduce_max", lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
                    _extreme_vjp)
reduce_mean = reduce(
    "reduce_mean", lambda x, axis, keepdims: _mean(x, axis, keepdims),
    # the gradient broadcasts to x_shape; the sweep expands it only where needed
    lambda g, x_shape, axis, keepdims: _expand(g, x_shape, axis, keepdims) / _count(x_shape, axis))
reduce_min = reduce("reduce_min", lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims),
                    _extreme_vjp)
reduce_prod = reduce(
    "reduce_prod", lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims),
    lambda g, x, axis, keepdims: _expand(g, x.shape, axis, keepdims) * _prod_of_others(x, axis))
reduce_std = reduce(
    "reduce_std", lambda x, axis, keepdims: np.std(x, axis=axis, keepdims=keepdims),
    lambda g, x, out, axis, keepdims:
        _expand(g, x.shape, axis, keepdims) * _centered(x, axis)
        / (_count(x.shape, axis) * _expand(out, x.shape, axis, keepdims)),
    float_only=True)
reduce_sum = reduce(
    "reduce_sum", lambda x, axis, keepdims: np.add.reduce(x, axis=axis, keepdims=keepdims),
    lambda g, x_shape, axis, keepdims: _expand(g, x_shape, axis, keepdims))
reduce_variance = reduce(
    "reduce_variance", _variance,
    lambda g, x, axis, keepdims:
        _expand(g, x.shape, axis, keepdims) * 2 * _centered(x, axis) / _count(x.shape, axis),
    float_only=True)


def _bool_reduce(name, fn):
    op = register(name, "reduce", lambda x, axis, keepdims: fn(x, axis=axis, keepdims=keepdims),
                  ("x",), None, attr_names=("axis", "keepdims"), shape_fn=reduced_shape)

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
                  ("x",), None, attr_names=("axis", "output_type"))

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
