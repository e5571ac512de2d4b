"""Tensor's NumPy protocol: `np.sin(t)`, `np.sum(t, axis=0)`, `np.matmul(a, t)` run
fasttape ops (so tapes record them); anything without a fasttape op raises TypeError.
"""

import inspect
import operator

import numpy as np

from fasttape._core import core as _core
from fasttape.ops import array_ops as A
from fasttape.ops import linalg_ops as L
from fasttape.ops import math_ops as M
from fasttape.ops import nn_ops as N  # noqa: F401  (registers the nn ops)

_UFUNCS = {
    np.abs: M.abs, np.add: M.add, np.arccos: M.acos, np.arcsin: M.asin, np.arctan: M.atan,
    np.arctan2: M.atan2, np.bitwise_and: M.bitwise_and, np.bitwise_or: M.bitwise_or,
    np.bitwise_xor: M.bitwise_xor, np.ceil: M.ceil, np.cos: M.cos, np.cosh: M.cosh,
    np.divide: M.divide, np.equal: M.equal, np.exp: M.exp, np.expm1: M.expm1, np.floor: M.floor,
    np.floor_divide: M.floordiv, np.greater: M.greater, np.greater_equal: M.greater_equal,
    np.invert: M.invert, np.isfinite: M.isfinite, np.isnan: M.isnan, np.less: M.less,
    np.less_equal: M.less_equal, np.log: M.log, np.log1p: M.log1p,
    np.logical_and: M.logical_and, np.logical_not: M.logical_not, np.logical_or: M.logical_or,
    np.logical_xor: M.logical_xor, np.matmul: L.matmul, np.maximum: M.maximum,
    np.minimum: M.minimum, np.mod: M.mod, np.multiply: M.multiply, np.negative: M.negative,
    np.not_equal: M.not_equal, np.power: M.pow, np.reciprocal: M.reciprocal, np.rint: M.round,
    np.sign: M.sign, np.sin: M.sin, np.sinh: M.sinh, np.sqrt: M.sqrt, np.square: M.square,
    np.subtract: M.subtract, np.tan: M.tan, np.tanh: M.tanh, np.conj: A.conj,
    np.conjugate: A.conj,
}


# Note [Arguments of the NumPy protocol]
# NumPy hands __array_function__ and __array_ufunc__ the arguments as the caller
# wrote them. Each NumPy function maps to an implementation whose parameters
# carry NumPy's names, and `accepts` lists the ones it implements. The
# dispatcher binds the call to NumPy's own signature, drops arguments equal to
# NumPy's default (or to a neutral value such as where=True), and raises a
# TypeError naming every other argument that is not implemented: `where=`,
# `initial=`, `order='F'` are never silently ignored. `out=` has its own
# message (tensors are immutable). Ufuncs implement no keyword at all.

_NEUTRAL = {"where": True, "out": None, "casting": "same_kind"}


def _is_default(value, default, name):
    for d in (default, _NEUTRAL.get(name, inspect.Parameter.empty)):
        if value is d:
            return True
        if (d is not inspect.Parameter.empty and type(value) is type(d)
                and isinstance(d, (bool, int, float, str)) and value == d):
            return True
    return False


_SIGNATURES = {}


def _signature(func):
    sig = _SIGNATURES.get(func)
    if sig is None:
        sig = _SIGNATURES[func] = inspect.signature(func)
    return sig


_POSITIONAL = {}


def _positional(func):
    """NumPy's positional parameters of func as ((name, default), ...); None when
    it has a *args parameter (those calls take inspect's general binding)."""
    info = _POSITIONAL.get(func, False)
    if info is False:
        params = list(_signature(func).parameters.values())
        if any(p.kind is p.VAR_POSITIONAL for p in params):
            info = None
        else:
            info = tuple((p.name, p.default) for p in params
                         if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
        _POSITIONAL[func] = info
    return info


def _given(func, np_name, args, kwargs):
    """{NumPy parameter name: value} of the arguments given with a non-default value;
    a *args parameter (einsum's operands) maps to its tuple."""
    sig = _signature(func)
    pos = _positional(func)
    if pos is not None and len(args) <= len(pos):
        # the common call (np.ndim(t), np.sum(t, axis=0)): no inspect binding
        given = {}
        for (k, default), v in zip(pos, args):
            if not _is_default(v, default, k):
                given[k] = v
        params = sig.parameters
        for k, v in kwargs.items():
            p = params.get(k)
            if p is None or p.kind is p.POSITIONAL_ONLY or k in given or (
                    k in dict(pos[:len(args)])):
                break  # unknown, positional-only or repeated: let bind() say so
            if not _is_default(v, p.default, k):
                given[k] = v
        else:
            if all(d is not inspect.Parameter.empty for _, d in pos[len(args):]
                   if _ not in kwargs):
                return given
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{np_name}: {e}") from None
    given = {}
    for k, v in bound.arguments.items():
        p = sig.parameters[k]
        if p.kind is p.VAR_KEYWORD:
            given.update({kk: vv for kk, vv in v.items() if not _is_default(vv, p.empty, kk)})
        elif p.kind is p.VAR_POSITIONAL:
            given[k] = v
        elif not _is_default(v, p.default, k):
            given[k] = v
    return given


def _check_given(np_name, given, accepts):
    if "out" in given and "out" not in accepts:
        _no_out(np_name, given["out"])
    extra = [k for k in given if k not in accepts]
    if extra:
        names = ", ".join(f"{k}=" for k in extra)
        raise TypeError(f"{np_name}: argument{'s' if len(extra) > 1 else ''} {names} "
                        "not supported on ft.Tensor (fasttape implements "
                        f"{', '.join(a for a in accepts) or 'none'}); convert with .numpy() "
                        "(no gradient flows through that)")


def _no_out(name, out):
    if out is not None:
        raise TypeError(f"{name}: out= cannot write into an ft.Tensor (tensors are immutable)")


def _reduction(fn, with_dtype=True):
    if with_dtype:
        def f(a, axis=None, dtype=None, keepdims=False):
            a = A._tensor(a)
            if dtype is not None:  # NumPy computes in `dtype`
                a = A.cast(a, dtype)
            return fn(a, axis=axis, keepdims=bool(keepdims))
    else:
        def f(a, axis=None, keepdims=False):
            return fn(a, axis=axis, keepdims=bool(keepdims))
    return f


def _truth(a):
    """NumPy's truth value of any dtype (ft.reduce_all/any take bool tensors only)."""
    a = A._tensor(a)
    return a if a.dtype == np.bool_ else M.not_equal(a, 0)


def _np_axis(np_name, a, axis):
    """One axis in [-ndim, ndim), as NumPy's AxisError checks it (a ValueError here)."""
    axis = operator.index(axis)
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"{np_name}: axis {axis} is out of bounds for an array of "
                         f"dimension {a.ndim}")
    return axis % a.ndim


def _arg_reduce(fn, np_name):
    def f(a, axis=None, keepdims=False):
        a = A._tensor(a)
        if axis is None:
            r = fn(A.reshape(a, (-1,)), 0)
            return A.reshape(r, (1,) * a.ndim) if keepdims else r
        r = fn(a, _np_axis(np_name, a, axis))
        return A.expand_dims(r, _np_axis(np_name, a, axis)) if keepdims else r
    return f


def _swapaxes(a, axis1, axis2):
    a = A._tensor(a)
    axis1, axis2 = _np_axis("numpy.swapaxes", a, axis1), _np_axis("numpy.swapaxes", a, axis2)
    perm = list(range(a.ndim))
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return A.transpose(a, perm)


def _where(condition, x=None, y=None):
    return M.where(condition, x, y)


def _pad(array, pad_width, mode="constant", constant_values=0):
    a = A._tensor(array)
    if mode not in ("constant", "reflect", "symmetric"):
        raise TypeError(f"numpy.pad: mode {mode!r} is not supported on ft.Tensor "
                        "(constant, reflect, symmetric are)")
    if mode != "constant" and not _is_default(constant_values, 0, ""):
        raise TypeError(f"numpy.pad: constant_values= is not an argument of mode {mode!r}")
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (a.ndim, 2))
    return A.pad(a, widths, mode.upper(), constant_values)


def _tile(A_, reps):
    """numpy.tile: reps and the array's axes are padded with leading 1s to one length."""
    a = A._tensor(A_)
    reps = tuple(operator.index(r) for r in np.atleast_1d(reps).tolist())
    if len(reps) > a.ndim:
        a = A.reshape(a, (1,) * (len(reps) - a.ndim) + a.shape)
    return A.tile(a, (1,) * (a.ndim - len(reps)) + reps)


def _split(ary, indices_or_sections, axis=0):
    """numpy.split: sections or split *indices* (ft.split takes sizes, as TF)."""
    a = A._tensor(ary)
    if np.ndim(indices_or_sections) == 0:
        return A.split(a, indices_or_sections, axis)
    n = a.shape[_np_axis("numpy.split", a, axis)]
    cuts = [min(max(int(i) + (n if int(i) < 0 else 0), 0), n) for i in indices_or_sections]
    bounds = [0] + cuts + [n]
    sizes = [max(hi - lo, 0) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    return A.split(a, sizes, axis)


def _trace(a, axis1=0, axis2=1, dtype=None):
    a = A._tensor(a)
    if a.ndim < 2:
        raise ValueError(f"numpy.trace: needs an array of dimension >= 2, got {a.ndim}")
    axis1, axis2 = _np_axis("numpy.trace", a, axis1), _np_axis("numpy.trace", a, axis2)
    if axis1 == axis2:
        raise ValueError("numpy.trace: axis1 and axis2 cannot be the same")
    perm = [i for i in range(a.ndim) if i not in (axis1, axis2)] + [axis1, axis2]
    r = L.trace(A.transpose(a, perm))
    return A.cast(r, dtype) if dtype is not None else r


def _linalg_norm(x, ord=None, axis=None, keepdims=False):
    x = A._tensor(x)
    if axis is None and ord is not None and x.ndim == 2:
        axis = (0, 1)  # NumPy: a matrix norm of a 2-D array
    if ord is None:
        ord = "fro" if isinstance(axis, (tuple, list)) and len(axis) == 2 else "euclidean"
    return L.norm(x, ord=ord, axis=axis, keepdims=keepdims)


def _linalg_solve(a, b):
    b = A._tensor(b)
    if b.ndim == 1:  # NumPy 2: a 1-D b is one vector
        return L.solve(a, A.expand_dims(b, -1))[..., 0]
    return L.solve(a, b)


def _clip(a, a_min=None, a_max=None, min=None, max=None):  # noqa: A002
    if min is not None or max is not None:
        if a_min is not None or a_max is not None:
            raise TypeError("numpy.clip: give either a_min/a_max or min/max, not both")
        a_min, a_max = min, max
    return M.clip_by_value(a, a_min, a_max)


def _take(a, indices, axis=None):
    a = A._tensor(a)
    if axis is None:
        return A.gather(A.reshape(a, (-1,)), indices, 0)
    return A.gather(a, indices, _np_axis("numpy.take", a, axis))


def _size(a, axis=None):
    a = A._tensor(a)
    return a.size if axis is None else a.shape[_np_axis("numpy.size", a, axis)]


# NumPy function: (implementation, the NumPy parameters it implements)
_RED = ("a", "axis", "dtype", "keepdims")
_RED_NO_DTYPE = ("a", "axis", "keepdims")
_FUNCTIONS = {
    np.sum: (_reduction(M.reduce_sum), _RED),
    np.mean: (_reduction(M.reduce_mean), _RED),
    np.max: (_reduction(M.reduce_max, False), _RED_NO_DTYPE),
    np.amax: (_reduction(M.reduce_max, False), _RED_NO_DTYPE),
    np.min: (_reduction(M.reduce_min, False), _RED_NO_DTYPE),
    np.amin: (_reduction(M.reduce_min, False), _RED_NO_DTYPE),
    np.prod: (_reduction(M.reduce_prod), _RED),
    np.std: (_reduction(M.reduce_std), _RED),
    np.var: (_reduction(M.reduce_variance), _RED),
    np.all: (_reduction(lambda a, **k: M.reduce_all(_truth(a), **k), False), _RED_NO_DTYPE),
    np.any: (_reduction(lambda a, **k: M.reduce_any(_truth(a), **k), False), _RED_NO_DTYPE),
    np.argmax: (_arg_reduce(M.argmax, "numpy.argmax"), ("a", "axis", "keepdims")),
    np.argmin: (_arg_reduce(M.argmin, "numpy.argmin"), ("a", "axis", "keepdims")),
    np.reshape: (lambda a, shape: A.reshape(a, shape), ("a", "shape")),
    np.transpose: (lambda a, axes=None: A.transpose(a, axes), ("a", "axes")),
    np.swapaxes: (_swapaxes, ("a", "axis1", "axis2")),
    np.expand_dims: (lambda a, axis: A.expand_dims(a, axis), ("a", "axis")),
    np.squeeze: (lambda a, axis=None: A.squeeze(a, axis), ("a", "axis")),
    np.broadcast_to: (lambda array, shape: A.broadcast_to(array, shape), ("array", "shape")),
    np.concatenate: (lambda arrays, axis=0: A.concat(arrays, axis), ("arrays", "axis")),
    np.stack: (lambda arrays, axis=0: A.stack(arrays, axis), ("arrays", "axis")),
    np.where: (_where, ("condition", "x", "y")),
    np.tile: (lambda A, reps: _tile(A, reps), ("A", "reps")),  # noqa: N803
    np.pad: (_pad, ("array", "pad_width", "mode", "constant_values")),
    np.split: (_split, ("ary", "indices_or_sections", "axis")),
    # optimize= only chooses a contraction order: any value computes the same
    np.einsum: (lambda operands, optimize=False: L.einsum(*operands), ("operands", "optimize")),
    np.tensordot: (lambda a, b, axes=2: L.tensordot(a, b, axes), ("a", "b", "axes")),
    np.trace: (_trace, ("a", "axis1", "axis2", "dtype")),
    np.linalg.inv: (lambda a: L.inv(a), ("a",)),
    np.linalg.det: (lambda a: L.det(a), ("a",)),
    np.linalg.slogdet: (lambda a: L.slogdet(a), ("a",)),
    np.linalg.solve: (_linalg_solve, ("a", "b")),
    np.linalg.cholesky: (lambda a, upper=False: (
        L.matrix_transpose(L.cholesky(a)) if upper else L.cholesky(a)), ("a", "upper")),
    np.linalg.norm: (_linalg_norm, ("x", "ord", "axis", "keepdims")),
    np.take: (_take, ("a", "indices", "axis")),
    np.zeros_like: (lambda a, dtype=None: A.zeros_like(a, dtype), ("a", "dtype")),
    np.ones_like: (lambda a, dtype=None: A.ones_like(a, dtype), ("a", "dtype")),
    np.clip: (_clip, ("a", "a_min", "a_max", "min", "max")),
    np.dot: (lambda a, b: L.matmul(a, b), ("a", "b")),
    np.shape: (lambda a: A._tensor(a).shape, ("a",)),
    np.ndim: (lambda a: A._tensor(a).ndim, ("a",)),
    np.size: (_size, ("a", "axis")),
    np.result_type: (lambda arrays_and_dtypes: np.result_type(*[
        a.dtype if isinstance(a, _core.Tensor) else a for a in arrays_and_dtypes]),
        ("arrays_and_dtypes",)),
}

# TensorFlow's everyday names (fasttape/testing/tf_paths.py lists each op's NumPy function)
_FUNCTIONS[np.count_nonzero] = (
    lambda a, axis=None, *, keepdims=False: M.count_nonzero(a, axis=axis, keepdims=keepdims),
    ("a", "axis", "keepdims"))


def implemented_arguments(func):
    """The NumPy parameters fasttape implements for NumPy function or ufunc `func`
    (None: no implementation). Ufuncs implement their operands only."""
    if isinstance(func, np.ufunc):
        return _ufunc_operands(func) if func in _UFUNCS else None
    entry = _FUNCTIONS.get(func)
    return None if entry is None else entry[1]


def _ufunc_operands(ufunc):
    return tuple(n for n, p in _signature(ufunc).parameters.items()
                 if p.kind is p.POSITIONAL_ONLY)


def array_ufunc(ufunc, method, inputs, kwargs):
    if method != "__call__":
        raise TypeError(f"numpy.{ufunc.__name__}.{method} has no fasttape implementation")
    fn = _UFUNCS.get(ufunc)
    if fn is None:
        if kwargs.get("out") is not None:
            _no_out(f"numpy.{ufunc.__name__}", kwargs["out"])
        raise TypeError(
            f"numpy.{ufunc.__name__} has no fasttape implementation; convert with .numpy() "
            "(no gradient flows through that)")
    out = kwargs.get("out")
    if out is not None and any(o is not None for o in out):
        _no_out(f"numpy.{ufunc.__name__}", out)
    sig = _signature(ufunc)
    given = {k: v for k, v in kwargs.items()
             if k != "out" and not _is_default(v, sig.parameters[k].default
                                               if k in sig.parameters else inspect.Parameter.empty,
                                               k)}
    _check_given(f"numpy.{ufunc.__name__}", given, _ufunc_operands(ufunc))
    return fn(*inputs)


_FAST = {}


def _fast_prefix(func, fn, accepts):
    """(n, names, posonly): up to n positional arguments of `func` go straight to `fn`
    (NumPy's positional parameters `names` that fasttape implements, in the same
    place in `fn`), with keywords that fasttape implements, that are not
    positional-only in NumPy and that no positional argument filled."""
    pos = _positional(func)
    if pos is None:
        return 0, (), frozenset()
    mine = [p.name for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    n = 0
    for (name, _), m in zip(pos, mine):
        if name != m or name not in accepts:
            break
        n += 1
    # keywords naming these (or NumPy's positional-only ones) take the checked path
    sig = _signature(func)
    posonly = frozenset(k for k, p in sig.parameters.items() if p.kind is p.POSITIONAL_ONLY)
    return n, tuple(name for name, _ in pos[:n]), posonly


def array_function(func, types, args, kwargs):
    entry = _FUNCTIONS.get(func)
    np_name = f"numpy.{func.__name__}"
    if entry is None:
        raise TypeError(
            f"{np_name} has no fasttape implementation; convert with .numpy() "
            "(no gradient flows through that)")
    fn, accepts = entry
    fast = _FAST.get(func)
    if fast is None:
        fast = _FAST[func] = _fast_prefix(func, fn, accepts)
    n, names, posonly = fast
    if len(args) <= n and (not kwargs or all(
            k in accepts and k not in posonly and k not in names[:len(args)] for k in kwargs)):
        return fn(*args, **kwargs)  # np.ndim(t), np.sum(t, axis=0): all implemented
    given = _given(func, np_name, args, kwargs)
    _check_given(np_name, given, accepts)
    sig = _signature(func)
    var = [k for k in given if sig.parameters[k].kind is inspect.Parameter.VAR_POSITIONAL]
    if var:
        return fn(given.pop(var[0]), **given)
    return fn(**given)


_core.set_special("array_ufunc", array_ufunc)
_core.set_special("array_function", array_function)
_core.set_special("reduce_sum", lambda g, axes: M.reduce_sum(g, axis=axes))
_core.set_special("reshape", A.reshape)
_core.set_special("broadcast_to", A.broadcast_to)

for _which, _fn in [
    ("add", M.add), ("subtract", M.subtract), ("multiply", M.multiply), ("divide", M.divide),
    ("floordiv", M.floordiv), ("mod", M.mod), ("pow", M.pow), ("and", M.bitwise_and),
    ("or", M.bitwise_or), ("xor", M.bitwise_xor), ("negative", M.negative), ("abs", M.abs),
    ("invert", M.invert), ("equal", M.equal), ("not_equal", M.not_equal), ("less", M.less),
    ("less_equal", M.less_equal), ("greater", M.greater), ("greater_equal", M.greater_equal),
]:
    _core.set_operator(_which, _fn.op)
