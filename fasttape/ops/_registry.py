"""The op families: each registers an op in the compiled table and returns its public function.

A family supplies what its ops share: the dtype rule, the static shape rule
(for graph mode), argument normalisation and the checks that raise at the call.
A plain new op is one call to a family here plus its OpSpec in
fasttape/testing/op_db.py and its re-export in fasttape/__init__.py.
"""

import operator

import numpy as np

from fasttape import errors
from fasttape._core import core as _core

Tensor = _core.Tensor
convert_to_tensor = _core.convert_to_tensor
_unary_call = _core.unary_call
_binary_call = _core.binary_call

#: every public op function by name, in registration order
OPS = {}


def _public(name, op, fn, doc):
    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = doc
    fn.op = op
    op.public_fn = fn
    OPS[name] = fn
    return fn


def _vjp_table(vjp, names):
    """Accepts one VJP (for a one-input op), a {name: fn} dict, or None."""
    if vjp is None or isinstance(vjp, dict):
        return vjp
    if len(names) == 1:
        return {names[0]: vjp}
    return vjp  # the joint form


# --- static shape rules (graph mode builds with these) ----------------------


def same_shape(x_shape, *attrs):
    return x_shape


def broadcast_shapes(x_shape, y_shape):
    """NumPy's broadcasting on shapes that may hold None (unknown)."""
    nd = max(len(x_shape), len(y_shape))
    xs = (1,) * (nd - len(x_shape)) + tuple(x_shape)
    ys = (1,) * (nd - len(y_shape)) + tuple(y_shape)
    out = []
    for a, b in zip(xs, ys):
        if a == 1:
            out.append(b)
        elif b == 1 or b == a:
            out.append(a)
        elif a is None or b is None:
            out.append(a if b is None else b)
        else:
            raise ValueError(f"shapes {tuple(x_shape)} and {tuple(y_shape)} do not broadcast")
    return tuple(out)


def reduced_shape(x_shape, axis, keepdims):
    if axis is None:
        axis = range(len(x_shape))
    if keepdims:
        return tuple(1 if i in axis else d for i, d in enumerate(x_shape))
    return tuple(d for i, d in enumerate(x_shape) if i not in axis)


# --- families -----------------------------------------------------------------


def unary(name, forward, vjp, *, float_only=True, doc=None):
    """An elementwise op of one input `x`; its VJP names g, x and/or out."""
    op = _core.register_op(
        name, "unary", forward, ("x",), _vjp_table(vjp, ("x",)),
        shape_fn=same_shape, float_only=float_only,
        inplace_ufunc=isinstance(forward, np.ufunc))  # Note [Temporary elision]

    def fn(x, name=None):
        return _unary_call(op, x)

    _core.allow_elision_from(fn.__code__)  # x is passed straight through
    return _public(name, op, fn,
                   doc or f"Elementwise {name} of `x`; returns a Tensor of its shape.")


def binary(name, forward, vjp, *, doc=None, family="binary"):
    """An elementwise op of `x` and `y` with NumPy broadcasting; both of one
    dtype (Python scalars take the tensor's). The sweep sums each gradient
    back to its input's shape."""
    op = _core.register_op(
        name, family, forward, ("x", "y"), vjp, shape_fn=broadcast_shapes,
        inplace_ufunc=isinstance(forward, np.ufunc))  # Note [Temporary elision]

    def fn(x, y, name=None):
        if not isinstance(x, Tensor) and not isinstance(y, Tensor):
            x = convert_to_tensor(x)
        return _binary_call(op, x, y)

    _core.allow_elision_from(fn.__code__)  # x and y are passed straight through

    return _public(
        name, op, fn,
        doc or f"Elementwise {name} of `x` and `y`, with broadcasting; returns a Tensor.")


def nondiff(name, forward, *, n_inputs=2, doc=None):
    """An op without a gradient (comparisons, logic): never recorded."""
    if n_inputs == 1:
        op = _core.register_op(name, "nondiff", forward, ("x",), None, shape_fn=same_shape)

        def fn(x, name=None):
            return _unary_call(op, x)
    else:
        op = _core.register_op(name, "nondiff", forward, ("x", "y"), None,
                               shape_fn=broadcast_shapes)

        def fn(x, y, name=None):
            if not isinstance(x, Tensor) and not isinstance(y, Tensor):
                x = convert_to_tensor(x)
            return _binary_call(op, x, y)

    return _public(name, op, fn, doc or f"Elementwise {name}; not differentiable.")


def normalize_axis(op_name, x, axis):
    """axis (None, int or a sequence) as None or a sorted tuple of non-negative
    ints, checked against x's rank."""
    if axis is None:
        return None
    nd = x.ndim
    if isinstance(axis, Tensor):
        axis = axis.numpy().tolist()
    axes = [axis] if np.ndim(axis) == 0 else list(axis)
    out = []
    for a in axes:
        try:
            a = operator.index(a)  # ints only: int(1.5) would silently give axis 1
        except TypeError:
            raise errors.op_error(
                TypeError, op_name, (x,), f"axis must be int, got {a!r}") from None
        if not -nd <= a < nd:
            raise errors.op_error(
                ValueError, op_name, (x,), f"axis {a} is out of range for a tensor of rank {nd}")
        out.append(a % nd)
    if len(set(out)) != len(out):
        raise errors.op_error(ValueError, op_name, (x,), f"axis {axis} has repeated entries")
    return tuple(sorted(out))


def reduce(name, forward, vjp, *, float_only=False, doc=None):
    """A reduction over `axis` (None: all) with `keepdims`; forward(x, axis, keepdims)."""
    op = _core.register_op(
        name, "reduce", forward, ("x",), _vjp_table(vjp, ("x",)),
        attr_names=("axis", "keepdims"), shape_fn=reduced_shape,
        batchable=True)  # their VJPs go through math_ops._expand, which keeps g's leading axes

    def fn(input_tensor, axis=None, keepdims=False, name=None):
        x = input_tensor if isinstance(input_tensor, Tensor) else convert_to_tensor(input_tensor)
        if float_only and x.dtype.kind not in "fc":
            raise errors.op_error(TypeError, name_, (x,),
                                  f"expects a floating-point tensor, got {x.dtype.name}")
        return op.apply((x,), (normalize_axis(name_, x, axis), bool(keepdims)))

    name_ = name
    return _public(
        name, op, fn,
        doc or f"{name} of `input_tensor` over `axis` (all axes when None); "
        "`keepdims` keeps reduced axes with size 1.")


def register(name, family, forward, input_names, vjp=None, **kwargs):
    """A raw table entry for ops with their own signature (shape ops, linalg,
    nn): the caller writes the public function around `op.apply`. A variadic
    op's VJP is always the joint form: it returns one gradient per input."""
    if not kwargs.get("variadic"):
        vjp = _vjp_table(vjp, tuple(input_names))
    return _core.register_op(name, family, forward, tuple(input_names), vjp, **kwargs)


def public(name, op, doc):
    """Decorator: marks `fn` as the public function of table entry `op`."""

    def deco(fn):
        return _public(name, op, fn, doc or fn.__doc__)

    return deco


def masked(g, keep):
    """g where the bool `keep` holds, else 0: the VJP of relu-like selections.

    On arrays it multiplies by the mask (2-3x faster than np.where; an inf or
    NaN in g where keep is False gives NaN, not 0); on Tensors (higher order)
    it is ft.where, since bool tensors do not multiply.
    """
    if isinstance(g, np.ndarray) and isinstance(keep, np.ndarray):
        return g * keep
    return np.where(keep, g, 0)


def call_op(op, inputs, attrs=()):
    """Runs table entry `op` from inside a VJP: on raw arrays it calls the
    forward directly (first order, nothing to record); on Tensors it goes
    through the op so that an outer tape records it (higher order)."""
    if any(isinstance(x, Tensor) for x in inputs):
        return op.apply(inputs, attrs)
    return op.forward(*inputs, *attrs)
