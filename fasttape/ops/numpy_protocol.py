"""Tensor's NumPy protocol: `np.sin(t)`, `np.sum(t, axis=0)`, `np.matmul(a, t)` run
fasttape ops (so tapes record them); anything without a fasttape op raises TypeError.
"""

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


def _reduction(fn, np_name):
    def f(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
        _no_out(f"numpy.{np_name}", out)
        r = fn(a, axis=axis, keepdims=keepdims)
        return A.cast(r, dtype) if dtype is not None else r

    return f


def _no_out(name, out):
    if out is not None:
        raise TypeError(f"{name}: out= cannot write into an ft.Tensor (tensors are immutable)")


def _truth(a):
    """NumPy's truth value of any dtype (ft.reduce_all/any take bool tensors only)."""
    a = A._tensor(a)
    return a if a.dtype == np.bool_ else M.not_equal(a, 0)


def _swapaxes(a, axis1, axis2):
    a = A._tensor(a)
    perm = list(range(a.ndim))
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return A.transpose(a, perm)


def _where(condition, x=None, y=None):
    return M.where(condition, x, y)


def _pad(array, pad_width, mode="constant", constant_values=0, **kwargs):
    a = A._tensor(array)
    if kwargs or mode not in ("constant", "reflect", "symmetric"):
        raise TypeError(f"numpy.pad: mode {mode!r} and arguments {sorted(kwargs)} are not "
                        "supported on ft.Tensor (constant, reflect, symmetric are)")
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (a.ndim, 2))
    return A.pad(a, widths, mode.upper(), constant_values)


def _tile(A_, reps):
    """numpy.tile: reps and the array's axes are padded with leading 1s to one length."""
    a = A._tensor(A_)
    reps = tuple(int(r) for r in np.atleast_1d(reps))
    if len(reps) > a.ndim:
        a = A.reshape(a, (1,) * (len(reps) - a.ndim) + a.shape)
    return A.tile(a, (1,) * (a.ndim - len(reps)) + reps)


def _split(ary, indices_or_sections, axis=0):
    """numpy.split: sections or split *indices* (ft.split takes sizes, as TF)."""
    a = A._tensor(ary)
    if np.ndim(indices_or_sections) == 0:
        return A.split(a, indices_or_sections, axis)
    n = a.shape[axis]
    cuts = [min(max(int(i) + (n if int(i) < 0 else 0), 0), n) for i in indices_or_sections]
    bounds = [0] + cuts + [n]
    sizes = [max(hi - lo, 0) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    return A.split(a, sizes, axis)


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    _no_out("numpy.trace", out)
    a = A._tensor(a)
    if offset != 0:
        raise TypeError("numpy.trace: offset != 0 is not supported on ft.Tensor")
    axis1, axis2 = axis1 % a.ndim, axis2 % a.ndim
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


_FUNCTIONS = {
    np.sum: _reduction(M.reduce_sum, "sum"),
    np.mean: _reduction(M.reduce_mean, "mean"),
    np.max: _reduction(M.reduce_max, "max"),
    np.amax: _reduction(M.reduce_max, "amax"),
    np.min: _reduction(M.reduce_min, "min"),
    np.amin: _reduction(M.reduce_min, "amin"),
    np.prod: _reduction(M.reduce_prod, "prod"),
    np.std: _reduction(M.reduce_std, "std"),
    np.var: _reduction(M.reduce_variance, "var"),
    np.all: _reduction(lambda a, **k: M.reduce_all(_truth(a), **k), "all"),
    np.any: _reduction(lambda a, **k: M.reduce_any(_truth(a), **k), "any"),
    np.argmax: lambda a, axis=None, out=None, **k: M.argmax(
        A.reshape(a, (-1,)) if axis is None else a, 0 if axis is None else axis),
    np.argmin: lambda a, axis=None, out=None, **k: M.argmin(
        A.reshape(a, (-1,)) if axis is None else a, 0 if axis is None else axis),
    np.reshape: lambda a, shape=None, order="C", **k: A.reshape(a, k.get("newshape", shape)),
    np.transpose: lambda a, axes=None: A.transpose(a, axes),
    np.swapaxes: _swapaxes,
    np.expand_dims: lambda a, axis: A.expand_dims(a, axis),
    np.squeeze: lambda a, axis=None: A.squeeze(a, axis),
    np.broadcast_to: lambda array, shape, subok=False: A.broadcast_to(array, shape),
    np.concatenate: lambda arrays, axis=0, out=None, **k: (_no_out("numpy.concatenate", out),
                                                           A.concat(arrays, axis))[1],
    np.stack: lambda arrays, axis=0, out=None, **k: (_no_out("numpy.stack", out),
                                                     A.stack(arrays, axis))[1],
    np.where: _where,
    np.tile: _tile,
    np.pad: _pad,
    np.split: _split,
    np.einsum: lambda *operands, out=None, optimize=False, **k: (
        _no_out("numpy.einsum", out), L.einsum(*operands, **k))[1],
    np.tensordot: lambda a, b, axes=2: L.tensordot(a, b, axes),
    np.trace: _trace,
    np.linalg.inv: lambda a: L.inv(a),
    np.linalg.det: lambda a: L.det(a),
    np.linalg.slogdet: lambda a: L.slogdet(a),
    np.linalg.solve: _linalg_solve,
    np.linalg.cholesky: lambda a, upper=False: (
        L.matrix_transpose(L.cholesky(a)) if upper else L.cholesky(a)),
    np.linalg.norm: _linalg_norm,
    np.take: lambda a, indices, axis=None, out=None, mode="raise": A.gather(
        A.reshape(a, (-1,)) if axis is None else a, indices, 0 if axis is None else axis),
    np.zeros_like: lambda a, dtype=None, **k: A.zeros_like(a, dtype),
    np.ones_like: lambda a, dtype=None, **k: A.ones_like(a, dtype),
    np.clip: lambda a, a_min=None, a_max=None, out=None, **k: M.clip_by_value(a, a_min, a_max),
    np.matmul: L.matmul,
    np.dot: lambda a, b, out=None: L.matmul(a, b),
    np.shape: lambda a: A._tensor(a).shape,
    np.ndim: lambda a: A._tensor(a).ndim,
    np.size: lambda a, axis=None: A._tensor(a).size if axis is None else A._tensor(a).shape[axis],
    np.result_type: lambda *args: np.result_type(*[
        a.dtype if isinstance(a, _core.Tensor) else a for a in args]),
}

# TensorFlow's everyday names (fasttape/testing/tf_paths.py lists each op's NumPy function)
_FUNCTIONS[np.count_nonzero] = lambda a, axis=None, *, keepdims=False: M.count_nonzero(
    a, axis=axis, keepdims=keepdims)


def array_ufunc(ufunc, method, inputs, kwargs):
    if method != "__call__":
        raise TypeError(f"numpy.{ufunc.__name__}.{method} has no fasttape implementation")
    if kwargs.get("out") is not None:
        _no_out(f"numpy.{ufunc.__name__}", kwargs["out"])
    fn = _UFUNCS.get(ufunc)
    if fn is None:
        raise TypeError(
            f"numpy.{ufunc.__name__} has no fasttape implementation; convert with .numpy() "
            "(no gradient flows through that)")
    extra = {k: v for k, v in kwargs.items() if k != "out"}
    if extra:
        raise TypeError(f"numpy.{ufunc.__name__}: arguments {sorted(extra)} are not supported "
                        "on ft.Tensor")
    return fn(*inputs)


def array_function(func, types, args, kwargs):
    fn = _FUNCTIONS.get(func)
    if fn is None:
        raise TypeError(
            f"numpy.{func.__name__} has no fasttape implementation; convert with .numpy() "
            "(no gradient flows through that)")
    return fn(*args, **kwargs)


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
