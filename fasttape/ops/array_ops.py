"""The op table, part 2: shape ops, indexing, casting and tensor creation.

Shape-op VJPs move the gradient back (reshape, transpose, slice into zeros);
gradients of broadcasts are left to the sweep's broadcast reduction.
"""

import builtins

import numpy as np

from fasttape import errors
from fasttape._core import core as _core
from fasttape.ops._registry import (
    Tensor,
    call_op,
    convert_to_tensor,
    normalize_axis,
    public,
    register,
)

_wrap = _core.wrap_array


def _tensor(x):
    return x if isinstance(x, Tensor) else convert_to_tensor(x)


def _shape_arg(op_name, x, shape):
    """A shape given as a list, tuple, int, ndarray or integer Tensor, as a tuple of ints."""
    if isinstance(shape, Tensor):
        shape = shape.numpy()
    try:
        out = tuple(int(d) for d in np.asarray(shape).reshape(-1))
    except (TypeError, ValueError):
        raise errors.op_error(TypeError, op_name, (x,), f"shape must be ints, got {shape!r}") from None
    return out


# --- indexing -------------------------------------------------------------------


def _index_key(key):
    """A NumPy index from a user's key: Tensors become their arrays."""
    if isinstance(key, tuple):
        return tuple(_index_key(k) for k in key)
    if isinstance(key, Tensor):
        arr = key.numpy()
        if arr.dtype.kind not in "iub":
            raise TypeError(f"indices must be integer or bool tensors, not {arr.dtype.name}")
        return arr
    if isinstance(key, list):
        return np.asarray(key)
    return key


def _is_basic(key):
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (int, np.integer, slice)) for k in keys)


def _index_add(g, x_shape, key):
    z = np.zeros(x_shape, dtype=g.dtype)
    if _is_basic(key):
        z[key] += g
    else:
        np.add.at(z, key, g)  # repeated indices accumulate
    return z


# The VJP of indexing is itself an op, so that gradients of gradients flow.
_index_add_op = register(
    "_index_add", "shape_op", _index_add, ("g",),
    lambda g, key: g[key], attr_names=("x_shape", "key"))


def _getitem_vjp(g, x_shape, key):
    return call_op(_index_add_op, (g,), (x_shape, key))


_getitem_op = register("getitem", "shape_op", lambda x, key: x[key], ("x",),
                       _getitem_vjp, attr_names=("key",))


def getitem(x, key):
    """x[key] with NumPy's basic and advanced indexing; differentiable."""
    x = _tensor(x)
    try:
        key = _index_key(key)
    except TypeError as e:
        raise errors.op_error(TypeError, "getitem", (x,), str(e)) from None
    return _getitem_op.apply((x,), (key,))


_core.set_special("getitem", getitem)


def _slice_key(axis, start, stop):
    return (slice(None),) * axis + (slice(start, stop),)


# --- reshaping ------------------------------------------------------------------
_reshape_op = register(
    "reshape", "shape_op", np.reshape, ("tensor",),
    lambda g, tensor_shape: np.reshape(g, tensor_shape), attr_names=("shape",))


@public("reshape", _reshape_op, None)
def reshape(tensor, shape, name=None):
    """`tensor` with a new shape of the same size (one entry may be -1)."""
    x = _tensor(tensor)
    return _reshape_op.apply((x,), (_shape_arg("reshape", x, shape),))


_transpose_op = register(
    "transpose", "shape_op", np.transpose, ("a",),
    lambda g, perm: np.transpose(g, np.argsort(perm)), attr_names=("perm",))


@public("transpose", _transpose_op, None)
def transpose(a, perm=None, conjugate=False, name=None):
    """Permutes the axes of `a` (reverses them when `perm` is None)."""
    x = _tensor(a)
    perm = tuple(range(x.ndim))[::-1] if perm is None else _shape_arg("transpose", x, perm)
    if sorted(p % builtins.max(x.ndim, 1) for p in perm) != list(range(x.ndim)):
        raise errors.op_error(ValueError, "transpose", (x,),
                              f"perm {perm} is not a permutation of the {x.ndim} axes")
    perm = tuple(p % x.ndim for p in perm)
    out = _transpose_op.apply((x,), (perm,))
    return out if not conjugate or x.dtype.kind != "c" else conj(out)


_core.set_special("transpose", transpose)


def conj(x, name=None):
    """Complex conjugate (the identity on real tensors)."""
    return _conj_op.apply((_tensor(x),))


_conj_op = register("conj", "unary", np.conj, ("x",), lambda g: np.conj(g))
public("conj", _conj_op, None)(conj)


def _reshape_vjp(g, input_shape):
    return np.reshape(g, input_shape)


_expand_dims_op = register("expand_dims", "shape_op", np.expand_dims, ("input",),
                           _reshape_vjp, attr_names=("axis",))


@public("expand_dims", _expand_dims_op, None)
def expand_dims(input, axis, name=None):  # noqa: A002
    """Inserts an axis of size 1 at `axis` (-rank-1 <= axis <= rank)."""
    x = _tensor(input)
    axis = int(axis)
    if not -x.ndim - 1 <= axis <= x.ndim:
        raise errors.op_error(ValueError, "expand_dims", (x,),
                              f"axis {axis} is out of range for rank {x.ndim}")
    return _expand_dims_op.apply((x,), (axis % (x.ndim + 1),))


_squeeze_op = register("squeeze", "shape_op", np.squeeze, ("input",), _reshape_vjp,
                       attr_names=("axis",))


@public("squeeze", _squeeze_op, None)
def squeeze(input, axis=None, name=None):  # noqa: A002
    """Removes axes of size 1 (all of them, or those in `axis`)."""
    x = _tensor(input)
    axes = normalize_axis("squeeze", x, axis)
    if axes is not None:
        for a in axes:
            if x.shape[a] != 1:
                raise errors.op_error(ValueError, "squeeze", (x,),
                                      f"cannot squeeze axis {a} of size {x.shape[a]}")
    return _squeeze_op.apply((x,), (axes,))


_broadcast_to_op = register("broadcast_to", "shape_op", np.broadcast_to, ("input",),
                            "identity", attr_names=("shape",),  # the sweep sums it back
                            batchable=True)


@public("broadcast_to", _broadcast_to_op, None)
def broadcast_to(input, shape, name=None):  # noqa: A002
    """`input` broadcast to `shape` (NumPy's rules)."""
    x = _tensor(input)
    return _broadcast_to_op.apply((x,), (_shape_arg("broadcast_to", x, shape),))


# --- joining and splitting -------------------------------------------------------


def _concat_vjp(g, values_shape, axis):
    out, start = [], 0
    for shape in values_shape:
        stop = start + shape[axis]
        out.append(g[_slice_key(axis, start, stop)])
        start = stop
    return out


_concat_op = register("concat", "shape_op", lambda *v: np.concatenate(v[:-1], axis=v[-1]),
                      ("values",), _concat_vjp, attr_names=("axis",), variadic=True)


def _same_rank_dtype(op_name, values):
    if not values:
        raise errors.op_error(ValueError, op_name, (), "needs at least one tensor")
    ref = next((v for v in values if isinstance(v, Tensor)), None)
    vals = [v if isinstance(v, Tensor) else convert_to_tensor(v, ref.dtype if ref is not None else None)
            for v in values]
    if len({v.dtype for v in vals}) > 1:
        raise errors.op_error(TypeError, op_name, tuple(vals),
                              "all tensors must have one dtype; use ft.cast")
    return vals


@public("concat", _concat_op, None)
def concat(values, axis, name=None):
    """Joins tensors along an existing `axis`."""
    vals = _same_rank_dtype("concat", list(values))
    axis = normalize_axis("concat", vals[0], axis)[0]
    for v in vals[1:]:
        if v.ndim != vals[0].ndim or any(
            a != b for i, (a, b) in enumerate(zip(v.shape, vals[0].shape)) if i != axis
        ):
            raise errors.op_error(ValueError, "concat", tuple(vals),
                                  f"shapes must match except along axis {axis}")
    return _concat_op.apply(vals, (axis,))


def _stack_vjp(g, values_shape, axis):
    return [g[(slice(None),) * axis + (i,)] for i in range(len(values_shape))]


_stack_op = register("stack", "shape_op", lambda *v: np.stack(v[:-1], axis=v[-1]),
                     ("values",), _stack_vjp, attr_names=("axis",), variadic=True)


@public("stack", _stack_op, None)
def stack(values, axis=0, name=None):
    """Joins tensors of one shape along a new `axis`."""
    vals = _same_rank_dtype("stack", list(values))
    if any(v.shape != vals[0].shape for v in vals):
        raise errors.op_error(ValueError, "stack", tuple(vals), "all tensors must have one shape")
    nd = vals[0].ndim + 1
    if not -nd <= axis < nd:
        raise errors.op_error(ValueError, "stack", tuple(vals),
                              f"axis {axis} is out of range for rank {nd}")
    return _stack_op.apply(vals, (axis % nd,))


_core.set_special("stack", stack)


def unstack(value, num=None, axis=0, name=None):
    """Splits `value` along `axis` into a list of tensors of rank one lower."""
    x = _tensor(value)
    ax = normalize_axis("unstack", x, axis)[0]
    n = x.shape[ax]
    if num is not None and num != n:
        raise errors.op_error(ValueError, "unstack", (x,), f"num={num} but axis {ax} has size {n}")
    return [getitem(x, (slice(None),) * ax + (i,)) for i in range(n)]


# --- gathering ------------------------------------------------------------------
_gather_op = register(
    "gather", "shape_op", lambda params, indices, axis: np.take(params, indices, axis=axis),
    ("params", "indices"),
    {"params": lambda g, indices, params_shape, axis:
        call_op(_index_add_op, (g,), (params_shape, (slice(None),) * axis + (_raw(indices),)))},
    attr_names=("axis",))


def _raw(x):
    return x.numpy() if isinstance(x, Tensor) else x


@public("gather", _gather_op, None)
def gather(params, indices, axis=None, batch_dims=0, name=None):
    """Slices of `params` at `indices` along `axis` (default 0), as tf.gather."""
    p = _tensor(params)
    idx = _tensor(indices)
    if idx.dtype.kind not in "iu":
        raise errors.op_error(TypeError, "gather", (p, idx),
                              f"indices must be integers, got {idx.dtype.name}", ("params", "indices"))
    if batch_dims != 0:
        raise errors.op_error(NotImplementedError, "gather", (p, idx), "batch_dims != 0",
                              ("params", "indices"))
    ax = normalize_axis("gather", p, 0 if axis is None else axis)[0]
    iv = idx.numpy()
    if iv.size and (iv.min() < 0 or iv.max() >= p.shape[ax]):
        raise errors.InvalidArgumentError(
            errors.op_error(ValueError, "gather", (p, idx),
                            f"indices must lie in [0, {p.shape[ax]}) along axis {ax}, got "
                            f"[{iv.min()}, {iv.max()}]", ("params", "indices")).args[0])
    return _gather_op.apply((p, idx), (ax,))


# --- dtype ----------------------------------------------------------------------
_cast_op = register("cast", "unary", lambda x, dtype: x.astype(dtype), ("x",), "identity",
                    attr_names=("dtype",))  # the sweep casts the gradient back to x's dtype


@public("cast", _cast_op, None)
def cast(x, dtype, name=None):
    """`x` converted to `dtype` (gradients flow between floating dtypes)."""
    t = _tensor(x)
    dtype = np.dtype(dtype)
    if t.dtype == dtype:
        return t
    return _cast_op.apply((t,), (dtype,))


_core.set_special("cast", cast)

_identity_op = register("identity", "unary", lambda x: x, ("input",), "identity")


@public("identity", _identity_op, None)
def identity(input, name=None):  # noqa: A002
    """A tensor with the same value as `input` (a new tensor on the tape)."""
    return _identity_op.apply((_tensor(input),))


_stop_gradient_op = register("stop_gradient", "nondiff", lambda x: x, ("input",), None)


@public("stop_gradient", _stop_gradient_op, None)
def stop_gradient(input, name=None):  # noqa: A002
    """The value of `input`, seen by tapes as a constant: no gradient flows through."""
    return _stop_gradient_op.apply((_tensor(input),))


# --- creation (no inputs: constants) ----------------------------------------------


def zeros(shape, dtype=np.float32, name=None):
    """A tensor of zeros."""
    return _wrap(np.zeros(_shape_arg("zeros", None, shape), dtype=dtype))


def ones(shape, dtype=np.float32, name=None):
    """A tensor of ones."""
    return _wrap(np.ones(_shape_arg("ones", None, shape), dtype=dtype))


def zeros_like(input, dtype=None, name=None):  # noqa: A002
    """Zeros of `input`'s shape (and dtype, unless given)."""
    x = _tensor(input)
    return _wrap(np.zeros(x.shape, dtype=dtype or x.dtype))


def ones_like(input, dtype=None, name=None):  # noqa: A002
    """Ones of `input`'s shape (and dtype, unless given)."""
    x = _tensor(input)
    return _wrap(np.ones(x.shape, dtype=dtype or x.dtype))


def fill(dims, value, name=None):
    """A tensor of shape `dims` filled with `value` (its dtype as ft.constant gives it)."""
    v = _tensor(value)
    return _wrap(np.full(_shape_arg("fill", None, dims), v.numpy(), dtype=v.dtype))


def range(start, limit=None, delta=1, dtype=None, name=None):  # noqa: A001
    """[start, limit) in steps of delta, as tf.range (int32 for ints, float32 for floats)."""
    if limit is None:
        start, limit = 0, start
    vals = [_raw(v) for v in (start, limit, delta)]
    if dtype is None:
        is_float = any(isinstance(v, float) or np.asarray(v).dtype.kind == "f" for v in vals)
        dtype = np.float32 if is_float else np.int32
    return _wrap(np.arange(*vals, dtype=dtype))


def eye(num_rows, num_columns=None, dtype=np.float32, name=None):
    """The identity matrix."""
    return _wrap(np.eye(num_rows, num_columns, dtype=dtype))


def linspace(start, stop, num, axis=0, name=None):
    """`num` evenly spaced values from start to stop (inclusive), float32 for Python floats."""
    s, e = _tensor(start), _tensor(stop)
    return _wrap(np.linspace(s.numpy(), e.numpy(), int(num), axis=axis).astype(s.dtype))
