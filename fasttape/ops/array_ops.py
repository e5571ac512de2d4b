"""The op table, part 2: shape ops, indexing, casting and tensor creation.

Shape-op VJPs move the gradient back (reshape, transpose, slice into zeros);
gradients of broadcasts are left to the sweep's broadcast reduction.
"""

import builtins

import numpy as np

from fasttape import errors
from fasttape._core import core as _core
from fasttape.ops import _registry as _rules
from fasttape.ops._registry import (
    Tensor,
    call_op,
    check_range,
    composite,
    convert_like,
    convert_to_tensor,
    incompatible,
    known_rank,
    normalize_axis,
    normalize_int,
    normalize_ints,
    normalize_shape,
    public,
    register,
    same_dtype,
    single_axis,
    strict_index,
    unknown_dim_error,
)


def _tensor(x):
    # Variables become snapshots: an op never hands back a live Variable
    return x if type(x) is Tensor else convert_to_tensor(x)


def _shape_arg(op_name, x, shape):
    """A shape given as a list, tuple, int, ndarray or integer Tensor, as a tuple of
    non-negative ints (see normalize_shape)."""
    return normalize_shape(op_name, shape, () if x is None else (x,))


# --- indexing -------------------------------------------------------------------


def _index_key(key):
    """A NumPy index from a user's key: Tensors become their arrays."""
    if isinstance(key, tuple):
        return tuple(_index_key(k) for k in key)
    if isinstance(key, Tensor):
        if key.dtype.kind not in "iub":
            raise TypeError(f"indices must be integer or bool tensors, not {key.dtype.name}")
        if _core.is_symbolic(key):
            raise TypeError("a graph tensor inside an index tuple has no value to index with "
                            "when the graph is built; use ft.gather or ft.boolean_mask")
        return key.numpy()
    if isinstance(key, list):
        return np.asarray(key)
    return key


def _is_basic(key):
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (int, np.integer, slice)) for k in keys)


# Note [np.add.at at high rank]
# NumPy's np.add.at segfaults when the target or the values have more than 32
# axes and the index is advanced (NumPy 2.x; `x[[0]]` under a tape on a rank-33 x reached
# it through getitem's VJP). Every scatter-add of fasttape goes through
# `_add_at`, which for such targets adds at flat positions instead: the
# positions come from plain indexing of an index map (which works at any rank),
# and the add is one-dimensional. tests/ops/test_hostile.py runs every public
# op, forward and gradient, on rank 33-64 inputs in a subprocess.
_ADD_AT_MAX_RANK = 32


def _add_at(z, key, values):
    """np.add.at(z, key, values) for a C-contiguous z of any rank."""
    if z.ndim <= _ADD_AT_MAX_RANK and np.ndim(values) <= _ADD_AT_MAX_RANK:
        np.add.at(z, key, values)
        return
    pos = np.arange(z.size).reshape(z.shape)[key]
    np.add.at(z.reshape(-1), pos.reshape(-1), np.broadcast_to(values, pos.shape).reshape(-1))


def _index_add(g, x_shape, key):
    z = np.zeros(x_shape, dtype=g.dtype)
    if _is_basic(key):
        z[key] += g
    else:
        _add_at(z, key, g)  # repeated indices accumulate
    return z


# The VJP of indexing is itself an op, so that gradients of gradients flow.
_index_add_op = register(
    "_index_add", "shape_op", _index_add, ("g",),
    lambda g, key: g[key], attr_names=("x_shape", "key"),
    shape_fn=lambda g, x_shape, key: tuple(x_shape), dtype_fn=_rules.first_dtype)


def _getitem_vjp(g, x_shape, key):
    return call_op(_index_add_op, (g,), (x_shape, key))


_getitem_op = register("getitem", "shape_op", lambda x, key: x[key], ("x",),
                       _getitem_vjp, attr_names=("key",),
                       shape_fn=_rules.index_shape, dtype_fn=_rules.first_dtype)


def getitem(x, key):
    """x[key] with NumPy's basic and advanced indexing; differentiable.

    Note [Graph index keys]
    ~~~~~~~~~~~~~~~~~~~~~~~
    getitem's key is an attribute: a build-time value. A graph tensor as the
    whole key (`x[i]` with a placeholder i) has none, so it builds the op
    that indexes by tensor values instead: gather along axis 0 for integers
    (which refuses negative indices when the graph runs, as tf.gather),
    boolean_mask for bools. A graph tensor inside a key tuple raises.
    """
    x = _tensor(x)
    if isinstance(key, Tensor) and _core.is_symbolic(key):  # See Note [Graph index keys]
        if key.dtype.kind in "iu":
            return gather(x, key, axis=0)
        if key.dtype.kind == "b":
            return boolean_mask(x, key)
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
    lambda g, tensor_shape: np.reshape(g, tensor_shape), attr_names=("shape",),
    shape_fn=_rules.reshape_shape, dtype_fn=_rules.first_dtype)


# Note [Dynamic reshape]
# ~~~~~~~~~~~~~~~~~~~~~
# In a graph, `reshape(x, [ft.shape(x)[0], -1])` - TensorFlow's idiom for a
# batch of unknown size - has a shape whose entries exist only when the graph
# runs. Such a shape (a graph tensor, or a list holding one) becomes an input
# of `_reshape_dynamic` (int32, stacked), with a static hint (the Python ints
# of the list and `shape(y)[i]` of a static dim, None for the rest) for the
# output's static shape; a hint with no None is a plain reshape. Its gradient
# reshapes g to shape(x), dynamic too. Eager shapes are values: reshape.


def _reshape_dynamic_shape(tensor_shape, shape_shape, hint):
    return tuple(None if d is None or d < 0 else d for d in hint)


def _reshape_dynamic_vjp(g, tensor):
    if isinstance(g, np.ndarray) and isinstance(tensor, np.ndarray):
        return np.reshape(g, tensor.shape)
    x = _tensor(tensor)
    return _reshape_dynamic_op.apply((_tensor(g), shape(x)), (tuple(x.shape),))


def _reshape_to(tensor, shape, hint):
    try:
        return np.reshape(tensor, shape)
    except ValueError:  # a value error: the shape exists only when the graph runs
        raise errors.InvalidArgumentError(
            f"cannot reshape a tensor of shape {tensor.shape} to {shape.tolist()}") from None


_reshape_dynamic_op = register(
    "_reshape_dynamic", "shape_op", _reshape_to,
    ("tensor", "shape"), {"tensor": _reshape_dynamic_vjp}, attr_names=("hint",),
    shape_fn=_reshape_dynamic_shape, dtype_fn=_rules.first_dtype)


def _static_dim(d):
    """The value of `shape(y)[i]` when y's dim i is static (the idiom's batch
    of a known size), else None."""
    node = getattr(d, "op", None)
    if node is None or node.op_def is None or node.op_def.name != "getitem" or d.ndim != 0:
        return None
    key = node.attrs[0] if len(node.attrs) == 1 else None
    src = node.inputs[0].op if node.inputs else None
    if (type(key) is not int or src is None or src.op_def is None
            or src.op_def.name != "shape"):
        return None
    dims = src.inputs[0].shape
    if dims.rank is None or not -dims.rank <= key < dims.rank:
        return None
    return dims[key]


def _dynamic_shape(x, shape):
    """(shape tensor, hint) when `shape` needs values that exist only when a
    graph runs (Note [Dynamic reshape]), else None."""
    if isinstance(shape, Tensor) and _core.is_symbolic(shape):
        n = shape.shape[0] if shape.ndim == 1 else None
        if n is None or shape.dtype.kind not in "iu":
            raise errors.op_error(ValueError, "reshape", (x, shape),
                                  "a graph tensor as the shape must be 1-D, of ints, with a "
                                  "known length", ("tensor", "shape"))
        return cast(shape, np.int32), (None,) * n
    if not isinstance(shape, (list, tuple)) or not builtins.any(
            isinstance(d, Tensor) and _core.is_symbolic(d) for d in shape):
        return None
    try:
        hint = tuple(_static_dim(d) if isinstance(d, Tensor) else strict_index(d) for d in shape)
    except TypeError:
        raise errors.op_error(TypeError, "reshape", (x,), f"shape must be ints, got {shape!r}",
                              ("tensor",)) from None
    if None not in hint:
        return None, hint
    entries = [cast(reshape(d, []), np.int32) if isinstance(d, Tensor) else d for d in shape]
    return stack(entries), hint


@public("reshape", _reshape_op, None)
def reshape(tensor, shape, name=None):
    """`tensor` with a new shape of the same size (one entry may be -1). In a
    graph, entries may be graph tensors (`[ft.shape(x)[0], -1]`)."""
    x = _tensor(tensor)
    dynamic = _dynamic_shape(x, shape) if _core.staging() or _core.is_symbolic(x) else None
    if dynamic is not None and None in dynamic[1]:
        return _reshape_dynamic_op.apply((x, dynamic[0]), (dynamic[1],))
    if dynamic is not None:  # every entry known when built (static dims): a plain reshape
        shape = dynamic[1]
    return _reshape_op.apply((x,), (normalize_shape("reshape", shape, (x,), allow_unknown=True),))


def _inverse_perm(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


_transpose_op = register(
    "transpose", "shape_op", lambda a, perm: a.transpose(perm), ("a",),
    lambda g, perm: call_op(_transpose_op, (g,), (_inverse_perm(perm),)), attr_names=("perm",),
    shape_fn=lambda s, perm: tuple(s[p] for p in perm), dtype_fn=_rules.first_dtype)


@public("transpose", _transpose_op, None)
def transpose(a, perm=None, conjugate=False, name=None):
    """Permutes the axes of `a` (reverses them when `perm` is None)."""
    x = _tensor(a)
    if perm is None:
        known_rank("transpose", (x,), ("a",))
        perm = tuple(builtins.range(x.ndim - 1, -1, -1))
    else:
        perm = normalize_ints("transpose", perm, "perm", (x,))
        nd = len(perm) if x.ndim is None else x.ndim  # an unknown rank is perm's length
        # entries in [-rank, rank) as NumPy's axes; never taken modulo the rank
        if (len(perm) != nd or not builtins.all(-nd <= p < nd for p in perm)
                or sorted(p % nd for p in perm) != list(builtins.range(nd))):
            raise errors.op_error(ValueError, "transpose", (x,),
                                  f"perm {list(perm)} is not a permutation of the {nd} axes")
        perm = tuple(p % nd for p in perm)
    out = _transpose_op.apply((x,), (perm,))
    return out if not conjugate or x.dtype.kind != "c" else conj(out)


_core.set_special("transpose", transpose)


def conj(x, name=None):
    """Complex conjugate (the identity on real tensors)."""
    return _conj_op.apply((_tensor(x),))


_conj_op = register("conj", "unary", np.conj, ("x",), lambda g: np.conj(g),
                    elementwise=True,
                    shape_fn=_rules.same_shape, dtype_fn=_rules.first_dtype)
conj = public("conj", _conj_op, None)(conj)


def _reshape_vjp(g, input_shape):
    return np.reshape(g, input_shape)


_expand_dims_op = register("expand_dims", "shape_op", np.expand_dims, ("input",),
                           _reshape_vjp, attr_names=("axis",),
                           shape_fn=lambda s, a: s[:a] + (1,) + s[a:], dtype_fn=_rules.first_dtype)


@public("expand_dims", _expand_dims_op, None)
def expand_dims(input, axis, name=None):  # noqa: A002
    """Inserts an axis of size 1 at `axis` (-rank-1 <= axis <= rank)."""
    x = _tensor(input)
    axis = normalize_int("expand_dims", axis, "axis", (x,))
    if not -x.ndim - 1 <= axis <= x.ndim:
        raise errors.op_error(ValueError, "expand_dims", (x,),
                              f"axis {axis} is out of range for rank {x.ndim}")
    return _expand_dims_op.apply((x,), (axis % (x.ndim + 1),))


_squeeze_op = register("squeeze", "shape_op", np.squeeze, ("input",), _reshape_vjp,
                       attr_names=("axis",),
                       shape_fn=_rules.squeeze_shape, dtype_fn=_rules.first_dtype)


@public("squeeze", _squeeze_op, None)
def squeeze(input, axis=None, name=None):  # noqa: A002
    """Removes axes of size 1 (all of them, or those in `axis`)."""
    x = _tensor(input)
    axes = normalize_axis("squeeze", x, axis)
    if axes is not None:
        for a in axes:
            if x.shape[a] is not None and x.shape[a] != 1:
                raise errors.op_error(ValueError, "squeeze", (x,),
                                      f"cannot squeeze axis {a} of size {x.shape[a]}")
    return _squeeze_op.apply((x,), (axes,))


_broadcast_to_op = register("broadcast_to", "shape_op", np.broadcast_to, ("input",),
                            "identity", attr_names=("shape",),  # the sweep sums it back
                            batchable=True,
                            shape_fn=_rules.broadcast_to_shape, dtype_fn=_rules.first_dtype)


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
                      ("values",), _concat_vjp, attr_names=("axis",), variadic=True,
                      shape_fn=_rules.concat_shape, dtype_fn=lambda ds, axis: _rules.one_dtype(*ds))


def _same_rank_dtype(op_name, values):
    if not values:
        raise errors.op_error(ValueError, op_name, (), "needs at least one tensor")
    return same_dtype(op_name, values)


@public("concat", _concat_op, None)
def concat(values, axis, name=None):
    """Joins tensors along an existing `axis`."""
    vals = _same_rank_dtype("concat", list(values))
    axis = single_axis("concat", vals[0], axis, tuple(vals))
    for v in vals[1:]:
        if v.ndim != vals[0].ndim or any(
            a != b and None not in (a, b)
            for i, (a, b) in enumerate(zip(v.shape, vals[0].shape, strict=True)) if i != axis
        ):
            raise errors.op_error(ValueError, "concat", tuple(vals),
                                  f"shapes must match except along axis {axis}")
    return _concat_op.apply(vals, (axis,))


def _stack_vjp(g, values_shape, axis):
    return [g[(slice(None),) * axis + (i,)] for i in builtins.range(len(values_shape))]


_stack_op = register("stack", "shape_op", lambda *v: np.stack(v[:-1], axis=v[-1]),
                     ("values",), _stack_vjp, attr_names=("axis",), variadic=True,
                     shape_fn=_rules.stack_shape, dtype_fn=lambda ds, axis: _rules.one_dtype(*ds))


@public("stack", _stack_op, None)
def stack(values, axis=0, name=None):
    """Joins tensors of one shape along a new `axis`."""
    vals = _same_rank_dtype("stack", list(values))
    if any(incompatible(v.shape, vals[0].shape) for v in vals):
        raise errors.op_error(ValueError, "stack", tuple(vals), "all tensors must have one shape")
    ranks = [v.ndim for v in vals if v.ndim is not None]
    if not ranks:
        known_rank("stack", vals, [f"values[{i}]" for i in builtins.range(len(vals))])
    nd = ranks[0] + 1
    axis = normalize_int("stack", axis, "axis", tuple(vals))
    if not -nd <= axis < nd:
        raise errors.op_error(ValueError, "stack", tuple(vals),
                              f"axis {axis} is out of range for rank {nd}")
    return _stack_op.apply(vals, (axis % nd,))


_core.set_special("stack", stack)


def _invalid(op_name, inputs, detail, names=None):
    """An InvalidArgumentError (a ValueError) for a bad value, such as an index out of range."""
    return errors.op_error(errors.InvalidArgumentError, op_name, inputs, detail, names)


def _pieces(x, axis, sizes):
    """x split along `axis` into consecutive pieces of `sizes`, each a getitem."""
    out, start = [], 0
    for size in sizes:
        out.append(getitem(x, _slice_key(axis, start, start + size)))
        start += size
    return out


@composite("unstack")
def unstack(value, num=None, axis=0, name=None):
    """Splits `value` along `axis` into a list of tensors of rank one lower.

    A composite of `getitem` (x[..., i, ...]), as `split`: an op of the table
    has a fixed number of outputs (and at most 16), while unstack has one per
    index. Each piece's gradient is a zero-padded copy of it, so the backward
    pass costs O(num * size); that is the price of not special-casing the sweep.

    >>> import fasttape as ft
    >>> [t.numpy().tolist() for t in ft.unstack(ft.constant([[1, 2], [3, 4]]), axis=1)]
    [[1, 3], [2, 4]]
    """
    x = _tensor(value)
    ax = single_axis("unstack", x, axis)
    n = x.shape[ax]
    if num is not None and n is None:
        n = normalize_int("unstack", num, "num", (x,), minimum=0)
    elif n is None:
        raise unknown_dim_error("unstack", (x,), f"the size of axis {ax} (num=None)")
    if num is not None and normalize_int("unstack", num, "num", (x,)) != n:
        raise errors.op_error(ValueError, "unstack", (x,), f"num={num} but axis {ax} has size {n}")
    return [getitem(x, (slice(None),) * ax + (i,)) for i in builtins.range(n)]


@composite("split")
def split(value, num_or_size_splits, axis=0, num=None, name=None):
    """Splits `value` along `axis` into a list of tensors, as tf.split.

    `num_or_size_splits` is either an int n (n equal pieces; the axis must
    divide evenly) or a list of piece sizes (TensorFlow's semantics: sizes,
    not NumPy's split indices), one of which may be -1 for "the rest".

    A composite of `getitem` on basic slices, not one op: an op of the table
    has a fixed number of outputs (at most 16) and split has as many as the
    caller asks for. Each piece's gradient is its zero-padded copy, so the
    backward pass costs O(pieces * size).

    Args:
        value: the tensor to split.
        num_or_size_splits: an int, or a list (or 1-D integer tensor) of sizes.
        axis: the axis to split along.
        num: the number of pieces, checked when given.

    Returns:
        A list of Tensors.

    >>> import fasttape as ft
    >>> [t.shape for t in ft.split(ft.zeros((5, 2)), [2, -1])]
    [(2, 2), (3, 2)]
    """
    x = _tensor(value)
    ax = single_axis("split", x, axis)
    n = x.shape[ax]
    spec = _raw(num_or_size_splits)
    if np.ndim(spec) == 0:
        try:
            k = strict_index(spec)
        except TypeError:
            raise errors.op_error(TypeError, "split", (x,),
                                  f"num_or_size_splits must be ints, got {spec!r}") from None
        if n is None:
            raise unknown_dim_error("split", (x,), f"the size of axis {ax} (to split it into "
                                                   f"{k} equal pieces)")
        if k <= 0 or n % k:
            raise _invalid("split", (x,), f"cannot split axis {ax} of size {n} into {k} equal "
                                          "pieces")
        sizes = [n // k] * k
    else:
        try:
            sizes = [strict_index(s) for s in np.asarray(spec).reshape(-1).tolist()]
        except TypeError:
            raise errors.op_error(TypeError, "split", (x,),
                                  f"num_or_size_splits must be ints, got {spec!r}") from None
        unknown = [i for i, s in enumerate(sizes) if s == -1]
        if len(unknown) > 1 or any(s < -1 for s in sizes):
            raise _invalid("split", (x,), f"sizes {sizes} may hold one -1 and otherwise "
                                          "non-negative sizes")
        known = builtins.sum(s for s in sizes if s != -1)
        if n is None:  # pieces are static slices: their bounds need the dim
            raise unknown_dim_error("split", (x,), f"the size of axis {ax} (to split it into "
                                                   f"pieces of sizes {sizes})")
        if unknown and known <= n:
            sizes[unknown[0]] = n - known
        if builtins.sum(sizes) != n or -1 in sizes:
            raise _invalid("split", (x,), f"sizes {list(spec)} do not add up to the size {n} "
                                          f"of axis {ax}")
    if num is not None and normalize_int("split", num, "num", (x,)) != len(sizes):
        raise errors.op_error(ValueError, "split", (x,), f"num={num} but {len(sizes)} pieces")
    return _pieces(x, ax, sizes)


def _tile_vjp(g, input_shape, multiples):
    if 0 in input_shape:
        # an empty input's gradient is empty; the split shape below could
        # overflow (an empty tensor tiled 2**40 times along its other axes)
        return np.zeros(input_shape, g.dtype)
    # view g as (m0, n0, m1, n1, ...) and sum over the copies
    split_shape = []
    for m, n in zip(multiples, input_shape, strict=True):
        split_shape += [m, n]
    return np.sum(np.reshape(g, split_shape), axis=tuple(builtins.range(0, len(split_shape), 2)))


_tile_op = register("tile", "shape_op", np.tile, ("input",), _tile_vjp, attr_names=("multiples",),
                    shape_fn=_rules.tile_shape,
                    dtype_fn=_rules.first_dtype)


@public("tile", _tile_op, None)
def tile(input, multiples, name=None):  # noqa: A002
    """`input` repeated `multiples[i]` times along each axis i.

    Args:
        input: a tensor.
        multiples: one non-negative int per axis of `input`.

    >>> import fasttape as ft
    >>> ft.tile(ft.constant([[1, 2]]), [2, 2]).numpy().tolist()
    [[1, 2, 1, 2], [1, 2, 1, 2]]
    """
    x = _tensor(input)
    known_rank("tile", (x,), ("input",))
    m = normalize_ints("tile", multiples, "multiples", (x,))
    if len(m) != x.ndim:
        raise errors.op_error(ValueError, "tile", (x,),
                              f"multiples {list(m)} must have one entry per axis ({x.ndim})")
    if any(k < 0 for k in m):
        raise _invalid("tile", (x,), f"multiples {list(m)} must be non-negative")
    return _tile_op.apply((x,), (m,))


_PAD_MODES = {"CONSTANT": "constant", "REFLECT": "reflect", "SYMMETRIC": "symmetric"}


def _pad(x, paddings, mode, constant_values):
    _rules.check_pad_fits(x.shape, paddings, mode)
    if mode == "CONSTANT":
        shape = tuple(lo + n + hi for (lo, hi), n in zip(paddings, x.shape, strict=True))
        out = np.full(shape, constant_values, dtype=x.dtype)
        out[_interior(paddings, x.shape)] = x
        return out
    return np.pad(x, paddings, mode=_PAD_MODES[mode]) if paddings else x


def _interior(paddings, shape):
    return tuple(slice(lo, lo + n) for (lo, _), n in zip(paddings, shape, strict=True))


def _pad_vjp(g, tensor_shape, paddings, mode):
    if mode == "CONSTANT":
        return g[_interior(paddings, tensor_shape)]
    # REFLECT, SYMMETRIC: each output element is a copy of some input element
    # (the pad of an index map says which); the VJP adds g back onto them.
    n = int(np.prod(tensor_shape))
    if not tensor_shape:
        return g
    source = np.pad(np.arange(n).reshape(tensor_shape), paddings, mode=_PAD_MODES[mode])
    flat = call_op(_index_add_op, (np.reshape(g, (-1,)),), ((n,), source.reshape(-1)))
    return np.reshape(flat, tensor_shape)


_pad_op = register("pad", "shape_op", _pad, ("tensor",), _pad_vjp,
                   attr_names=("paddings", "mode", "constant_values"),
                   shape_fn=_rules.pad_shape,
                   dtype_fn=_rules.first_dtype)


@public("pad", _pad_op, None)
def pad(tensor, paddings, mode="CONSTANT", constant_values=0, name=None):
    """Pads `tensor` with `paddings[i] = [before, after]` elements along axis i.

    Args:
        tensor: a tensor.
        paddings: an int array of shape (rank, 2), non-negative.
        mode: "CONSTANT" (fill with `constant_values`), "REFLECT" (mirror
            without the edge; paddings < the axis' size) or "SYMMETRIC"
            (mirror with the edge; paddings <= the axis' size); case-insensitive.
        constant_values: the fill value of CONSTANT mode (not differentiable).

    >>> import fasttape as ft
    >>> ft.pad(ft.constant([1, 2, 3]), [[2, 1]], mode="REFLECT").numpy().tolist()
    [3, 2, 1, 2, 3, 2]
    """
    x = _tensor(tensor)
    known_rank("pad", (x,), ("tensor",))
    mode_ = str(mode).upper()
    if mode_ not in _PAD_MODES:
        raise errors.op_error(ValueError, "pad", (x,),
                              f"mode must be CONSTANT, REFLECT or SYMMETRIC, got {mode!r}")
    p = _raw(paddings)
    if isinstance(p, (list, tuple)):  # ints only, bools too (np.asarray would take them)
        p = [normalize_ints("pad", row, "paddings", (x,)) for row in p]
    arr = np.asarray(p)
    if arr.dtype.kind not in "iu":
        raise errors.op_error(TypeError, "pad", (x,),
                              f"paddings must be ints, got {arr.tolist()!r}")
    if arr.shape != (x.ndim, 2):
        raise errors.op_error(
            ValueError, "pad", (x,),
            f"paddings must be ints of shape ({x.ndim}, 2), got {arr.tolist()!r}")
    pads = tuple((int(lo), int(hi)) for lo, hi in arr)
    if any(lo < 0 or hi < 0 for lo, hi in pads):
        raise _invalid("pad", (x,), f"paddings {arr.tolist()} must be non-negative")
    if mode_ == "CONSTANT":
        try:  # Python numbers take x's dtype exactly and never wrap (Note [Weak Python data])
            cv_arr = convert_like(constant_values, x.dtype).numpy()
        except (TypeError, ValueError) as e:
            raise errors.op_error(type(e), "pad", (x,), f"constant_values: {e}") from None
        if cv_arr.ndim != 0:
            raise errors.op_error(ValueError, "pad", (x,), "constant_values must be a scalar")
        if cv_arr.dtype != x.dtype:
            raise errors.op_error(TypeError, "pad", (x,),
                                  f"constant_values has dtype {cv_arr.dtype.name} but the tensor "
                                  f"{x.dtype.name}; use ft.cast")
        cv = cv_arr[()]
    else:
        cv = 0
    return _pad_op.apply((x,), (pads, mode_, cv))


def _slice_vjp(g, input_shape, begin, size):
    paddings = tuple((b, 0 if s == -1 else n - b - s)
                     for b, s, n in zip(begin, size, input_shape, strict=True))
    return call_op(_pad_op, (g,), (paddings, "CONSTANT", 0))


def _slice_key_of(shape, begin, size):
    """slice's index: a size -1 (kept only for a dim a graph did not know) is
    the rest of the axis; bounds are checked here, when the dims are known."""
    size = tuple(n - lo if k == -1 else k for lo, k, n in zip(begin, size, shape, strict=True))
    for ax, (lo, k, n) in enumerate(zip(begin, size, shape, strict=True)):
        if lo + k > n or k < 0:
            raise errors.InvalidArgumentError(
                f"begin {list(begin)} and size {list(size)} are out of range along axis {ax} "
                f"of size {n}")
    return tuple(slice(b, b + s) for b, s in zip(begin, size, strict=True))


_slice_op = register(
    "slice", "shape_op",
    lambda x, begin, size: x[_slice_key_of(x.shape, begin, size)],
    ("input",), _slice_vjp, attr_names=("begin", "size"),
    shape_fn=lambda s, begin, size: tuple(None if k == -1 else k for k in size),
    dtype_fn=_rules.first_dtype)


@public("slice", _slice_op, None)
def slice_(input_, begin, size, name=None):
    """The block of `input_` of shape `size` starting at `begin`, as tf.slice.

    Args:
        input_: a tensor.
        begin: one start index per axis (0 <= begin[i] <= shape[i]).
        size: one size per axis; -1 means "to the end of the axis".

    >>> import fasttape as ft
    >>> ft.slice(ft.constant([[1, 2, 3], [4, 5, 6]]), [0, 1], [-1, 2]).numpy().tolist()
    [[2, 3], [5, 6]]
    """
    x = _tensor(input_)
    known_rank("slice", (x,), ("input_",))
    b = normalize_ints("slice", begin, "begin", (x,))
    s = normalize_ints("slice", size, "size", (x,))
    if len(b) != x.ndim or len(s) != x.ndim:
        raise errors.op_error(
            ValueError, "slice", (x,),
            f"begin {list(b)} and size {list(s)} must have one entry per axis ({x.ndim})")
    s = tuple(k if k == -1 and n is None else n - lo if k == -1 else k
              for lo, k, n in zip(b, s, x.shape, strict=True))
    for ax, (lo, k, n) in enumerate(zip(b, s, x.shape, strict=True)):
        if lo < 0 or (k < 0 and n is not None) or k < -1 or (n is not None and lo + k > n):
            raise _invalid("slice", (x,), f"begin {list(b)} and size {list(s)} are out of "
                                          f"range along axis {ax} of size {n}")
    return _slice_op.apply((x,), (b, s))


# --- gathering and scattering ---------------------------------------------------------
# Each gather is x[key] for a NumPy index `key` built from the indices; its VJP
# is the private op _index_add (zeros, then g added at key), whose own VJP is
# the gather again, so gradients of gradients flow.


def _raw(x):
    return x.numpy() if isinstance(x, Tensor) else x


def _int_indices(op_name, inputs, idx, names):
    if idx.dtype.kind not in "iu":
        raise errors.op_error(TypeError, op_name, inputs,
                              f"indices must be integers, got {idx.dtype.name}", names)


def _gather_key(indices, axis, batch_dims, params_shape):
    """The index of params that tf.gather takes: with batch_dims b > 0, one
    advanced index per axis before `axis` (aranges laid out so that all of them
    broadcast to batch + params_shape[b:axis] + indices.shape[b:])."""
    if batch_dims == 0:
        return (slice(None),) * axis + (indices,)
    n_pre = axis - batch_dims
    tail = indices.shape[batch_dims:]
    rank = axis + len(tail)
    key = [np.arange(params_shape[i]).reshape((params_shape[i],) + (1,) * (rank - 1 - i))
           for i in builtins.range(axis)]
    key.append(indices.reshape(indices.shape[:batch_dims] + (1,) * n_pre + tail))
    return tuple(key)


def _gather(params, indices, axis, batch_dims):
    check_range(indices, params.shape[axis], "indices", f"along axis {axis}")
    if batch_dims == 0:
        return np.take(params, indices, axis=axis)
    return params[_gather_key(indices, axis, batch_dims, params.shape)]


def _gather_vjp(g, indices, params_shape, axis, batch_dims):
    key = _gather_key(_raw(indices), axis, batch_dims, params_shape)
    return call_op(_index_add_op, (g,), (params_shape, key))


_gather_op = register("gather", "shape_op", _gather, ("params", "indices"),
                      {"params": _gather_vjp}, attr_names=("axis", "batch_dims"),
                      shape_fn=_rules.gather_shape, dtype_fn=_rules.indices_dtype)


@public("gather", _gather_op, None)
def gather(params, indices, axis=None, batch_dims=0, name=None):
    """Slices of `params` at `indices` along `axis`, as tf.gather.

    The result has shape params.shape[:axis] + indices.shape[batch_dims:] +
    params.shape[axis + 1:]. With `batch_dims` b, the first b axes of params
    and indices are batch axes that match: batch element i gathers from
    params[i] with indices[i].

    Args:
        params: the tensor to gather from.
        indices: an integer tensor, each entry in [0, params.shape[axis]).
        axis: the axis of params to gather along (default: batch_dims).
        batch_dims: the number of leading batch axes (negative: counted from
            the end of indices' axes); axis >= batch_dims.

    Raises:
        InvalidArgumentError: an index is out of range.

    >>> import fasttape as ft
    >>> p = ft.constant([[1, 2, 3], [4, 5, 6]])
    >>> ft.gather(p, [[2, 0], [1, 1]], axis=1, batch_dims=1).numpy().tolist()
    [[3, 1], [5, 5]]
    """
    p = _tensor(params)
    idx = _tensor(indices)
    names = ("params", "indices")
    _int_indices("gather", (p, idx), idx, names)
    try:
        b = strict_index(batch_dims)
    except TypeError:
        raise errors.op_error(TypeError, "gather", (p, idx),
                              f"batch_dims must be an int, got {batch_dims!r}", names) from None
    if b < 0:
        b += idx.ndim
    if not 0 <= b <= idx.ndim or (b > 0 and b >= p.ndim):
        raise errors.op_error(ValueError, "gather", (p, idx),
                              f"batch_dims={batch_dims} is out of range for indices of rank "
                              f"{idx.ndim} and params of rank {p.ndim}", names)
    ax = single_axis("gather", p, b if axis is None else axis, (p, idx), names)
    if ax < b:
        raise errors.op_error(ValueError, "gather", (p, idx),
                              f"axis {ax} must be >= batch_dims ({b})", names)
    if incompatible(p.shape[:b], idx.shape[:b]):
        raise errors.op_error(ValueError, "gather", (p, idx),
                              f"the first {b} (batch) axes of params and indices differ", names)
    return _gather_op.apply((p, idx), (ax, b))


def _nd_key(indices, batch_dims):
    """The index that gather_nd and scatter_nd use: an arange per batch axis,
    then indices[..., j] for axis batch_dims + j. With indices.shape[-1] == 0
    (whole slices) it indexes a new axis of size 1 at batch_dims instead."""
    r = indices.ndim - 1
    key = [np.arange(n).reshape((n,) + (1,) * (r - 1 - i))
           for i, n in enumerate(indices.shape[:batch_dims])]
    if indices.shape[-1] == 0:
        key.append(np.zeros(indices.shape[:-1], np.intp))
    key += [indices[..., j] for j in builtins.range(indices.shape[-1])]
    return tuple(key)


def _nd_shape(shape, indices, batch_dims):
    """`shape` as _nd_key indexes it (an axis of size 1 added for whole slices)."""
    shape = tuple(shape)
    return shape if indices.shape[-1] else shape[:batch_dims] + (1,) + shape[batch_dims:]


def _check_nd_range(indices, shape, batch_dims):
    """The forwards' value check of multi-indices (gather_nd, scatters)."""
    for j in builtins.range(indices.shape[-1]):
        check_range(indices[..., j], shape[batch_dims + j], "indices",
                    f"in indices[..., {j}] (axis {batch_dims + j})")


def _gather_nd(params, indices, batch_dims):
    _check_nd_range(indices, params.shape, batch_dims)
    return params.reshape(_nd_shape(params.shape, indices, batch_dims))[
        _nd_key(indices, batch_dims)]


def _gather_nd_vjp(g, indices, params_shape, batch_dims):
    idx = _raw(indices)
    z = call_op(_index_add_op, (g,), (_nd_shape(params_shape, idx, batch_dims),
                                      _nd_key(idx, batch_dims)))
    return z if idx.shape[-1] else np.reshape(z, params_shape)


_gather_nd_op = register("gather_nd", "shape_op", _gather_nd, ("params", "indices"),
                         {"params": _gather_nd_vjp}, attr_names=("batch_dims",),
                         shape_fn=_rules.gather_nd_shape, dtype_fn=_rules.indices_dtype)


def _check_nd_indices(op_name, inputs, names, idx, shape, batch_dims):
    if idx.ndim < 1 + batch_dims:
        raise errors.op_error(ValueError, op_name, inputs,
                              f"indices must have rank >= {batch_dims + 1}", names)
    k = idx.shape[-1]
    if k is not None and k > len(shape) - batch_dims:
        raise errors.op_error(
            ValueError, op_name, inputs,
            f"indices.shape[-1] = {k} exceeds the {len(shape) - batch_dims} indexable axes", names)


@public("gather_nd", _gather_nd_op, None)
def gather_nd(params, indices, batch_dims=0, name=None):
    """Slices of `params` at the multi-indices in the last axis of `indices`.

    indices[..., :] = (i0, ..., ik-1) picks params[i0, ..., ik-1] (a slice of
    shape params.shape[batch_dims + k:]); the result has shape
    indices.shape[:-1] + params.shape[batch_dims + k:], as tf.gather_nd.

    Args:
        params: the tensor to gather from.
        indices: an integer tensor of shape (..., k), k <= rank(params) - batch_dims.
        batch_dims: the number of leading batch axes shared by params and indices.

    Raises:
        InvalidArgumentError: an index is out of range.

    >>> import fasttape as ft
    >>> ft.gather_nd(ft.constant([[1, 2], [3, 4]]), [[1, 0], [0, 1]]).numpy().tolist()
    [3, 2]
    """
    p = _tensor(params)
    idx = _tensor(indices)
    names = ("params", "indices")
    _int_indices("gather_nd", (p, idx), idx, names)
    b = normalize_int("gather_nd", batch_dims, "batch_dims", (p, idx), names)
    if b < 0 or (b > 0 and (b >= idx.ndim or incompatible(p.shape[:b], idx.shape[:b]))):
        raise errors.op_error(
            ValueError, "gather_nd", (p, idx),
            f"batch_dims={batch_dims}: the first batch_dims axes of params and indices "
            "must match, and indices needs one more axis", names)
    _check_nd_indices("gather_nd", (p, idx), names, idx, p.shape, b)
    return _gather_nd_op.apply((p, idx), (b,))


def _scatter_nd(indices, updates, shape):
    _check_nd_range(indices, shape, 0)
    z = np.zeros(_nd_shape(shape, indices, 0), dtype=updates.dtype)
    _add_at(z, _nd_key(indices, 0), updates)  # repeated indices add up, as TF
    return z.reshape(shape)


_scatter_nd_op = register(
    "scatter_nd", "shape_op", _scatter_nd, ("indices", "updates"),
    {"updates": lambda g, indices: call_op(_gather_nd_op, (g, indices), (0,))},
    attr_names=("shape",),
    shape_fn=lambda i, u, shape: tuple(shape),
    dtype_fn=lambda i, u, shape: _rules.indices_dtype(u, i))


@public("scatter_nd", _scatter_nd_op, None)
def scatter_nd(indices, updates, shape, name=None):
    """Zeros of `shape` with `updates` added at `indices` (repeats add up), as tf.scatter_nd.

    The inverse of `gather_nd`: updates has shape indices.shape[:-1] +
    shape[indices.shape[-1]:].

    Args:
        indices: an integer tensor of shape (..., k), each multi-index in range.
        updates: the values to add.
        shape: the result's shape.

    Raises:
        InvalidArgumentError: an index is out of range.

    >>> import fasttape as ft
    >>> ft.scatter_nd([[1], [3], [1]], ft.constant([1.0, 2.0, 3.0]), [4]).numpy().tolist()
    [0.0, 4.0, 0.0, 2.0]
    """
    idx = _tensor(indices)
    u = _tensor(updates)
    names = ("indices", "updates")
    _int_indices("scatter_nd", (idx, u), idx, names)
    shp = normalize_ints("scatter_nd", shape, "shape", (idx, u), names)
    if any(d < 0 for d in shp):
        raise errors.op_error(ValueError, "scatter_nd", (idx, u),
                              f"shape {list(shp)} must be non-negative", names)
    _check_nd_indices("scatter_nd", (idx, u), names, idx, shp, 0)
    expected = idx.shape[:-1] + shp[idx.shape[-1]:] if idx.shape[-1] is not None else None
    if expected is not None and incompatible(u.shape, expected):
        raise errors.op_error(
            ValueError, "scatter_nd", (idx, u),
            f"updates must have shape indices.shape[:-1] + shape[{idx.shape[-1]}:] = "
            f"{expected}", names)
    return _scatter_nd_op.apply((idx, u), (shp,))


def _mask_key(mask, axis):
    return (slice(None),) * axis + tuple(np.nonzero(_raw(mask)))


_boolean_mask_op = register(
    "boolean_mask", "shape_op", lambda tensor, mask, axis: tensor[_mask_key(mask, axis)],
    ("tensor", "mask"),
    {"tensor": lambda g, mask, tensor_shape, axis:
        call_op(_index_add_op, (g,), (tensor_shape, _mask_key(mask, axis)))},
    attr_names=("axis",),
    shape_fn=lambda s, m, ax: s[:ax] + (None,) + s[ax + len(m):], dtype_fn=lambda d, m, ax: d)


@public("boolean_mask", _boolean_mask_op, None)
def boolean_mask(tensor, mask, axis=None, name=None):
    """The entries of `tensor` where the bool `mask` holds, as tf.boolean_mask.

    `mask` (rank k >= 1) covers axes axis .. axis + k - 1 of `tensor`, which
    are flattened into one axis of the selected entries.

    Args:
        tensor: a tensor.
        mask: a bool tensor whose shape equals tensor.shape[axis:axis + k].
        axis: the first masked axis (default 0).

    >>> import fasttape as ft
    >>> ft.boolean_mask(ft.constant([[1, 2], [3, 4]]), [False, True]).numpy().tolist()
    [[3, 4]]
    """
    x = _tensor(tensor)
    m = _tensor(mask)
    names = ("tensor", "mask")
    if m.dtype != np.bool_:
        raise errors.op_error(TypeError, "boolean_mask", (x, m),
                              f"mask must be bool, got {m.dtype.name}", names)
    if m.ndim == 0:
        raise errors.op_error(ValueError, "boolean_mask", (x, m), "mask must have rank >= 1",
                              names)
    ax = 0 if axis is None else normalize_int("boolean_mask", axis, "axis", (x, m), names)
    if ax < 0:
        ax += x.ndim
    if not 0 <= ax <= x.ndim - m.ndim or incompatible(x.shape[ax:ax + m.ndim], m.shape):
        raise errors.op_error(
            ValueError, "boolean_mask", (x, m),
            f"mask's shape must equal tensor.shape[axis:axis + {m.ndim}] with axis {axis}",
            names)
    return _boolean_mask_op.apply((x, m), (ax,))


def _one_hot(indices, depth, on_value, off_value, axis, dtype):
    hot = np.expand_dims(indices, -1) == np.arange(depth)  # out-of-range rows stay off
    out = np.where(hot, np.asarray(on_value, dtype), np.asarray(off_value, dtype))
    return out if axis == indices.ndim else np.moveaxis(out, -1, axis)


_one_hot_op = register("one_hot", "nondiff", _one_hot, ("indices",), None,
                       attr_names=("depth", "on_value", "off_value", "axis", "dtype"),
                       shape_fn=_rules.one_hot_shape, dtype_fn=_rules.attr_dtype)


@public("one_hot", _one_hot_op, None)
def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """One-hot vectors of length `depth` along a new `axis`, as tf.one_hot.

    Entries are `on_value` (default 1) where the position equals the index and
    `off_value` (default 0) elsewhere; an index outside [0, depth) gives a row
    of `off_value`. Not differentiable (as in TensorFlow).

    Args:
        indices: an integer tensor.
        depth: the length of the one-hot axis.
        on_value, off_value: scalars.
        axis: where the new axis goes (default -1, the last).
        dtype: the result's dtype; default that of on_value or off_value when
            given as tensors or NumPy values, else float32.

    >>> import fasttape as ft
    >>> ft.one_hot([0, 2, 5], 3).numpy().tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    """
    idx = _tensor(indices)
    if idx.dtype.kind not in "iu":
        raise errors.op_error(TypeError, "one_hot", (idx,),
                              f"indices must be integers, got {idx.dtype.name}", ("indices",))
    depth = normalize_int("one_hot", depth, "depth", (idx,), ("indices",))
    if depth < 0:
        raise _invalid("one_hot", (idx,), f"depth must be non-negative, got {depth}", ("indices",))
    values = [v for v in (on_value, off_value) if v is not None]
    typed = [np.asarray(_raw(v)).dtype for v in values
             if isinstance(v, (Tensor, np.ndarray, np.generic))]
    if dtype is None:
        dtype = typed[0] if typed else np.float32
    dtype = np.dtype(dtype)
    if any(t != dtype for t in typed):
        raise errors.op_error(TypeError, "one_hot", (idx,),
                              f"on_value and off_value must have dtype {dtype.name}, got "
                              f"{sorted(t.name for t in typed)}; use ft.cast", ("indices",))
    try:  # Python numbers take `dtype` exactly and never wrap (Note [Weak Python data])
        on = convert_like(1 if on_value is None else on_value, dtype).numpy()
        off = convert_like(0 if off_value is None else off_value, dtype).numpy()
    except (TypeError, ValueError) as e:
        raise errors.op_error(type(e), "one_hot", (idx,), str(e), ("indices",)) from None
    for v in (on, off):
        if np.ndim(v) != 0:
            raise errors.op_error(ValueError, "one_hot", (idx,),
                                  "on_value and off_value must be scalars", ("indices",))
    ax = -1 if axis is None else normalize_int("one_hot", axis, "axis", (idx,), ("indices",))
    if not -idx.ndim - 1 <= ax <= idx.ndim:
        raise errors.op_error(ValueError, "one_hot", (idx,),
                              f"axis {ax} is out of range for a result of rank {idx.ndim + 1}",
                              ("indices",))
    return _one_hot_op.apply((idx,), (depth, on, off, ax % (idx.ndim + 1), dtype))


# --- dtype ----------------------------------------------------------------------
_cast_op = register("cast", "unary", lambda x, dtype: x.astype(dtype), ("x",), "identity",
                    attr_names=("dtype",),
                    elementwise=True,
                    shape_fn=_rules.same_shape,
                    dtype_fn=_rules.attr_dtype)  # the sweep casts the gradient back to x's dtype


@public("cast", _cast_op, None)
def cast(x, dtype, name=None):
    """`x` converted to `dtype` (gradients flow between floating dtypes)."""
    t = _tensor(x)
    dtype = np.dtype(dtype)
    if t.dtype == dtype:
        return t
    return _cast_op.apply((t,), (dtype,))


_core.set_special("cast", cast)

_identity_op = register("identity", "unary", lambda x: x, ("input",), "identity",
                        elementwise=True,
                        shape_fn=_rules.same_shape, dtype_fn=_rules.first_dtype)


@public("identity", _identity_op, None)
def identity(input, name=None):  # noqa: A002
    """A tensor with the same value as `input` (a new tensor on the tape)."""
    return _identity_op.apply((_tensor(input),))


_stop_gradient_op = register("stop_gradient", "nondiff", lambda x: x, ("input",), None,
                             elementwise=True,
                             shape_fn=_rules.same_shape, dtype_fn=_rules.first_dtype)


@public("stop_gradient", _stop_gradient_op, None)
def stop_gradient(input, name=None):  # noqa: A002
    """The value of `input`, seen by tapes as a constant: no gradient flows through."""
    return _stop_gradient_op.apply((_tensor(input),))


# --- creation (no tensor inputs, or only non-differentiable ones: *_like) ---------------
#
# Every creation function is a table entry of family "creation" whose shape,
# dtype and values are attributes, so that it reaches the one dispatch (and
# a graph as a node). See Note [Creation and random ops] in
# fasttape/ops/_registry.py.


def _dtype_attr(dtype):
    """The dtype attribute of creation ops: np.dtype(dtype) (None is float64, as NumPy)."""
    return np.dtype(dtype)


def _created_dtype(*attrs):
    """The dtype rule of creation ops whose last attribute is the dtype."""
    return np.dtype(attrs[-1])


_zeros_op = register("zeros", "creation", lambda shape, dtype: np.zeros(shape, dtype), (),
                     attr_names=("shape", "dtype"), shape_fn=lambda shape, dtype: tuple(shape),
                     dtype_fn=_created_dtype)


@public("zeros", _zeros_op, None)
def zeros(shape, dtype=np.float32, name=None):
    """A tensor of zeros."""
    return _zeros_op.apply((), (_shape_arg("zeros", None, shape), _dtype_attr(dtype)))


_ones_op = register("ones", "creation", lambda shape, dtype: np.ones(shape, dtype), (),
                    attr_names=("shape", "dtype"), shape_fn=lambda shape, dtype: tuple(shape),
                    dtype_fn=_created_dtype)


@public("ones", _ones_op, None)
def ones(shape, dtype=np.float32, name=None):
    """A tensor of ones."""
    return _ones_op.apply((), (_shape_arg("ones", None, shape), _dtype_attr(dtype)))


_zeros_like_op = register("zeros_like", "creation", lambda x, dtype: np.zeros(x.shape, dtype),
                          ("input",), None, attr_names=("dtype",),
                          shape_fn=_rules.same_shape, dtype_fn=_created_dtype)


@public("zeros_like", _zeros_like_op, None)
def zeros_like(input, dtype=None, name=None):  # noqa: A002
    """Zeros of `input`'s shape (and dtype, unless given)."""
    x = _tensor(input)
    return _zeros_like_op.apply((x,), (_dtype_attr(dtype or x.dtype),))


_ones_like_op = register("ones_like", "creation", lambda x, dtype: np.ones(x.shape, dtype),
                         ("input",), None, attr_names=("dtype",),
                         shape_fn=_rules.same_shape, dtype_fn=_created_dtype)


@public("ones_like", _ones_like_op, None)
def ones_like(input, dtype=None, name=None):  # noqa: A002
    """Ones of `input`'s shape (and dtype, unless given)."""
    x = _tensor(input)
    return _ones_like_op.apply((x,), (_dtype_attr(dtype or x.dtype),))


def _fill_shape(value_shape, dims):
    if _rules.broadcast_shapes(value_shape, dims) != tuple(dims) and None not in value_shape:
        raise ValueError(f"value of shape {tuple(value_shape)} does not broadcast to "
                         f"{list(dims)}")
    return tuple(dims)


_fill_op = register("fill", "creation", lambda value, dims: np.full(dims, value, value.dtype),
                    ("value",), None, attr_names=("dims",), shape_fn=_fill_shape,
                    dtype_fn=_rules.first_dtype)


@public("fill", _fill_op, None)
def fill(dims, value, name=None):
    """A tensor of shape `dims` filled with `value` (its dtype as ft.constant gives it)."""
    return _fill_op.apply((_tensor(value),), (_shape_arg("fill", None, dims),))


def _range_shape(start, limit, delta, dtype):
    """range: ceil((limit - start) / delta) entries (NumPy's arange: the same
    arithmetic on the same scalars), none when that is negative."""
    if delta == 0:
        raise ValueError("delta must not be 0")
    return (builtins.max(0, int(np.ceil((limit - start) / delta))),)


_range_op = register("range", "creation",
                     lambda start, limit, delta, dtype: np.arange(start, limit, delta, dtype=dtype),
                     (), attr_names=("start", "limit", "delta", "dtype"), shape_fn=_range_shape,
                     dtype_fn=_created_dtype)


@public("range", _range_op, None)
def range(start, limit=None, delta=1, dtype=None, name=None):  # noqa: A001
    """[start, limit) in steps of delta, as tf.range (int32 for ints, float32 for floats)."""
    if limit is None:
        start, limit = 0, start
    vals = [_raw(v) for v in (start, limit, delta)]
    if np.ndim(vals[2]) == 0 and not isinstance(vals[2], (str, bytes)) and vals[2] == 0:
        raise errors.op_error(ValueError, "range", (start, limit, delta), "delta must not be 0",
                              ("start", "limit", "delta"))
    if dtype is None:
        # as TensorFlow: the widest of the arguments' dtypes, Python numbers weakly typed
        # (int32 or float32) beside typed ones
        order = [np.dtype(d) for d in (np.int32, np.int64, np.float32, np.float64)]
        typed = [np.asarray(v).dtype for v in vals if isinstance(v, (np.ndarray, np.generic))]
        weak = [np.dtype(np.float32 if isinstance(v, float) else np.int32) for v in vals
                if not isinstance(v, (np.ndarray, np.generic))]
        dtype = builtins.max(typed + weak, key=lambda d: order.index(d) if d in order else -1)
    return _range_op.apply((), (*vals, np.dtype(dtype)))


def _eye_forward(rows, cols, batch, dtype):
    m = np.eye(rows, cols, dtype=dtype)
    return np.array(np.broadcast_to(m, batch + m.shape)) if batch else m


_eye_op = register("eye", "creation", _eye_forward, (),
                   attr_names=("num_rows", "num_columns", "batch_shape", "dtype"),
                   shape_fn=lambda rows, cols, batch, dtype: (
                       tuple(batch) + (rows, rows if cols is None else cols)),
                   dtype_fn=_created_dtype)


@public("eye", _eye_op, None)
def eye(num_rows, num_columns=None, batch_shape=None, dtype=np.float32, name=None):
    """The identity matrix, as tf.eye: ones on the diagonal of a (num_rows,
    num_columns) matrix, repeated over `batch_shape` when given.

    >>> import fasttape as ft
    >>> ft.eye(2, batch_shape=[3]).shape
    (3, 2, 2)
    """
    rows = normalize_int("eye", num_rows, "num_rows", minimum=0)
    cols = None if num_columns is None else normalize_int("eye", num_columns, "num_columns",
                                                          minimum=0)
    batch = () if batch_shape is None else _shape_arg("eye", None, batch_shape)
    return _eye_op.apply((), (rows, cols, batch, _dtype_attr(dtype)))


def _linspace_shape(start_shape, stop_shape, num, axis):
    s = _rules.broadcast_shapes(start_shape, stop_shape)
    return s[:axis] + (num,) + s[axis:]


def _linspace_dtype(start_dtype, stop_dtype, *attrs):
    return _rules.float_dtype(_rules.one_dtype(start_dtype, stop_dtype))


_linspace_op = register(
    "linspace", "creation",
    lambda start, stop, num, axis: np.linspace(start, stop, num, axis=axis).astype(start.dtype),
    ("start", "stop"), None, attr_names=("num", "axis"), shape_fn=_linspace_shape,
    dtype_fn=_linspace_dtype)


@public("linspace", _linspace_op, None)
def linspace(start, stop, num, axis=0, name=None):
    """`num` evenly spaced values from start to stop (inclusive), as tf.linspace:
    float32 for Python numbers (ints too), else the dtype of the float tensors
    given; integer tensors raise TypeError.

    >>> import fasttape as ft
    >>> ft.linspace(0, 1, 5).numpy().tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    names = ("start", "stop")
    if any(isinstance(v, (Tensor, np.ndarray, np.generic)) for v in (start, stop)):
        s, e = same_dtype("linspace", (start, stop), names)
    else:  # Python numbers only: float32, ints included
        s, e = convert_like(start, np.float32), convert_like(stop, np.float32)
    if s.dtype.kind not in "fc":
        raise errors.op_error(TypeError, "linspace", (s, e),
                              f"start and stop must be floating point, got {s.dtype.name}; "
                              "use ft.cast", names)
    n = normalize_int("linspace", num, "num", (s, e), names, minimum=0)
    ax = normalize_axis("linspace", s, axis, rank=builtins.max(s.ndim, e.ndim) + 1)[0]
    return _linspace_op.apply((s, e), (n, ax))


# --- TensorFlow's everyday names beyond SPEC's minimum ---------------------------------


def _out_type(op_name, x, out_type):
    dt = np.dtype(out_type)
    if dt not in (np.dtype(np.int32), np.dtype(np.int64)):
        raise errors.op_error(TypeError, op_name, (x,),
                              f"out_type must be int32 or int64, got {dt.name}", ("input",))
    return dt


_shape_op = register("shape", "nondiff", lambda x, out_type: np.array(x.shape, out_type),
                     ("input",), None, attr_names=("out_type",),
                     shape_fn=lambda s, out_type: (len(s),),
                     dtype_fn=_rules.attr_dtype)


@public("shape", _shape_op, None)
def shape(input, out_type=np.int32, name=None):  # noqa: A002
    """The shape of `input` as a 1-D int32 tensor (int64 with `out_type`), as tf.shape.

    In graph mode it is the dynamic shape (x.shape may hold None there).

    >>> import fasttape as ft
    >>> ft.shape(ft.zeros((2, 3)))
    <ft.Tensor shape=(2,) dtype=int32 numpy=[2 3]>
    """
    x = _tensor(input)
    return _shape_op.apply((x,), (_out_type("shape", x, out_type),))


_size_op = register("size", "nondiff", lambda x, out_type: np.array(x.size, out_type),
                    ("input",), None, attr_names=("out_type",), shape_fn=lambda s, t: (),
                    dtype_fn=_rules.attr_dtype)


@public("size", _size_op, None)
def size(input, out_type=np.int32, name=None):  # noqa: A002
    """The number of elements of `input` as a 0-d int32 tensor (int64 with `out_type`),
    as tf.size.

    >>> import fasttape as ft
    >>> ft.size(ft.zeros((2, 3)))
    <ft.Tensor shape=() dtype=int32 numpy=6>
    """
    x = _tensor(input)
    return _size_op.apply((x,), (_out_type("size", x, out_type),))


_rank_op = register("rank", "nondiff", lambda x: np.array(x.ndim, np.int32), ("input",), None,
                    shape_fn=lambda s: (),
                    dtype_fn=lambda d: np.dtype(np.int32))


@public("rank", _rank_op, None)
def rank(input, name=None):  # noqa: A002
    """The number of axes of `input` as a 0-d int32 tensor, as tf.rank.

    >>> import fasttape as ft
    >>> ft.rank(ft.zeros((2, 3)))
    <ft.Tensor shape=() dtype=int32 numpy=2>
    """
    return _rank_op.apply((_tensor(input),))


# tensor_scatter_nd_update / _add: `tensor` with updates written (added) at the
# multi-indices of indices' last axis. Their gradients are tensor_scatter_nd_update
# (g with the written positions zeroed) and gather_nd, both ops, so every order works.


def _tensor_scatter_update(tensor, indices, updates):
    _check_nd_range(indices, tensor.shape, 0)
    out = np.array(tensor)
    out.reshape(_nd_shape(out.shape, indices, 0))[_nd_key(indices, 0)] = updates
    return out


def _tensor_scatter_add(tensor, indices, updates):
    _check_nd_range(indices, tensor.shape, 0)
    out = np.array(tensor)
    np.add.at(out.reshape(_nd_shape(out.shape, indices, 0)), _nd_key(indices, 0), updates)
    return out


def _gather_updates(g, indices):
    return call_op(_gather_nd_op, (g, indices), (0,))


def _zero_updated(g, indices, updates_shape):
    zeros = np.zeros(updates_shape, np.asarray(g).dtype if not isinstance(g, Tensor) else g.dtype)
    return call_op(_tensor_scatter_update_op, (g, indices, zeros))


_tensor_scatter_update_op = register(
    "tensor_scatter_nd_update", "shape_op", _tensor_scatter_update,
    ("tensor", "indices", "updates"),
    {"tensor": _zero_updated, "updates": _gather_updates},
    shape_fn=lambda t, i, u: tuple(t), dtype_fn=_rules.indices_dtype)
_tensor_scatter_add_op = register(
    "tensor_scatter_nd_add", "shape_op", _tensor_scatter_add, ("tensor", "indices", "updates"),
    {"tensor": "identity", "updates": _gather_updates},
    shape_fn=lambda t, i, u: tuple(t), dtype_fn=_rules.indices_dtype)


def _tensor_scatter_args(op_name, tensor, indices, updates):
    t = _tensor(tensor)
    idx = _tensor(indices)
    u = convert_like(updates, t.dtype)  # NumPy data keeps its dtype: checked below
    names = ("tensor", "indices", "updates")
    _int_indices(op_name, (t, idx, u), idx, names)
    if u.dtype != t.dtype:
        raise errors.op_error(TypeError, op_name, (t, idx, u),
                              f"updates has dtype {u.dtype.name}, tensor {t.dtype.name}; "
                              "use ft.cast", names)
    if t.ndim == 0:
        raise errors.op_error(ValueError, op_name, (t, idx, u),
                              "tensor must have rank >= 1", names)
    _check_nd_indices(op_name, (t, idx, u), names, idx, t.shape, 0)
    expected = idx.shape[:-1] + t.shape[idx.shape[-1]:] if idx.shape[-1] is not None else None
    if expected is not None and incompatible(u.shape, expected):
        raise errors.op_error(
            ValueError, op_name, (t, idx, u),
            f"updates must have shape indices.shape[:-1] + tensor.shape[{idx.shape[-1]}:] = "
            f"{tuple(expected)}", names)
    return t, idx, u


@public("tensor_scatter_nd_update", _tensor_scatter_update_op, None)
def tensor_scatter_nd_update(tensor, indices, updates, name=None):
    """A copy of `tensor` with `updates` written at `indices`, as tf.tensor_scatter_nd_update.

    indices[..., :] = (i0, ..., ik-1) addresses tensor[i0, ..., ik-1]; updates
    has shape indices.shape[:-1] + tensor.shape[k:]. With a repeated index the
    last update wins (TensorFlow leaves the order unspecified). The gradient of
    `tensor` is zero at the written positions; that of `updates` gathers g there.

    Raises:
        InvalidArgumentError: an index is out of range.

    >>> import fasttape as ft
    >>> ft.tensor_scatter_nd_update(ft.zeros([4]), [[1], [3]], ft.constant([5.0, 7.0]))
    <ft.Tensor shape=(4,) dtype=float32 numpy=[0. 5. 0. 7.]>
    """
    args = _tensor_scatter_args("tensor_scatter_nd_update", tensor, indices, updates)
    return _tensor_scatter_update_op.apply(args)


@public("tensor_scatter_nd_add", _tensor_scatter_add_op, None)
def tensor_scatter_nd_add(tensor, indices, updates, name=None):
    """A copy of `tensor` with `updates` added at `indices` (repeats add up), as
    tf.tensor_scatter_nd_add; shapes as in tensor_scatter_nd_update.

    Raises:
        InvalidArgumentError: an index is out of range.

    >>> import fasttape as ft
    >>> ft.tensor_scatter_nd_add(ft.ones([4]), [[1], [1]], ft.constant([5.0, 7.0]))
    <ft.Tensor shape=(4,) dtype=float32 numpy=[ 1. 13.  1.  1.]>
    """
    args = _tensor_scatter_args("tensor_scatter_nd_add", tensor, indices, updates)
    return _tensor_scatter_add_op.apply(args)
