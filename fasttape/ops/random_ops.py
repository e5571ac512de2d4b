"""The op table, part 5: random tensors, reproducible under `ft.random.set_seed`.

Each function is a table entry of family "random", flagged stateful: its
forward draws from the calling thread's NumPy Generator (or from a fresh one
seeded with the op's `seed` attribute), so every run of the op, eager or in a
graph, draws anew. See Note [Creation and random ops] in fasttape/ops/_registry.py.
"""

import threading

import numpy as np

from fasttape import errors
from fasttape.ops._registry import Tensor, convert_to_tensor, public, register
from fasttape.ops.array_ops import _shape_arg

_state = threading.local()
_global_seed = None


def set_seed(seed):
    """Seeds the generator of the calling thread (and the default for new threads)."""
    global _global_seed
    _global_seed = int(seed)
    _state.rng = np.random.default_rng(_global_seed)


def rng(seed=None):
    """The Generator a stateful forward draws from: a fresh one for an op-level
    `seed` (the same numbers every call), else the calling thread's."""
    if seed is not None:
        return np.random.default_rng(int(seed))
    g = getattr(_state, "rng", None)
    if g is None:
        g = _state.rng = np.random.default_rng(_global_seed)
    return g


def _attr(v):
    """A number-or-array argument (mean, stddev, minval, maxval) as an attribute value."""
    return v.numpy() if isinstance(v, Tensor) else v


def _shape_rule(shape, *attrs):
    return tuple(shape)


def _dtype_rule(shape, a, b, dtype, seed):
    return np.dtype(dtype)


def _normal_forward(shape, mean, stddev, dtype, seed):
    return np.asarray(rng(seed).normal(mean, stddev, shape), dtype=dtype)


_normal_op = register("normal", "random", _normal_forward, (),
                      attr_names=("shape", "mean", "stddev", "dtype", "seed"),
                      shape_fn=_shape_rule, dtype_fn=_dtype_rule, stateful=True)


@public("normal", _normal_op, None)
def normal(shape, mean=0.0, stddev=1.0, dtype=np.float32, seed=None, name=None):
    """Samples from N(mean, stddev**2)."""
    return _normal_op.apply((), (_shape_arg("normal", None, shape), _attr(mean), _attr(stddev),
                                 np.dtype(dtype), seed))


def _uniform_forward(shape, minval, maxval, dtype, seed):
    if dtype.kind in "iu":
        return np.asarray(rng(seed).integers(minval, maxval, shape), dtype=dtype)
    return np.asarray(rng(seed).uniform(minval, 1.0 if maxval is None else maxval, shape),
                      dtype=dtype)


_uniform_op = register("uniform", "random", _uniform_forward, (),
                       attr_names=("shape", "minval", "maxval", "dtype", "seed"),
                       shape_fn=_shape_rule, dtype_fn=_dtype_rule, stateful=True)


@public("uniform", _uniform_op, None)
def uniform(shape, minval=0, maxval=None, dtype=np.float32, seed=None, name=None):
    """Samples uniformly from [minval, maxval) (maxval 1 for floats); integers need maxval."""
    dtype = np.dtype(dtype)
    shape = _shape_arg("uniform", None, shape)
    if dtype.kind in "iu" and maxval is None:
        raise ValueError("ft.random.uniform: integer dtypes need maxval")
    return _uniform_op.apply((), (shape, _attr(minval), _attr(maxval), dtype, seed))


def _truncated_normal_forward(shape, mean, stddev, dtype, seed):
    g = rng(seed)
    out = g.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = g.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return np.asarray(mean + stddev * out, dtype=dtype)


_truncated_normal_op = register("truncated_normal", "random", _truncated_normal_forward, (),
                                attr_names=("shape", "mean", "stddev", "dtype", "seed"),
                                shape_fn=_shape_rule, dtype_fn=_dtype_rule, stateful=True)


@public("truncated_normal", _truncated_normal_op, None)
def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=np.float32, seed=None, name=None):
    """Samples from N(mean, stddev**2) redrawn until within two standard deviations."""
    return _truncated_normal_op.apply(
        (), (_shape_arg("truncated_normal", None, shape), _attr(mean), _attr(stddev),
             np.dtype(dtype), seed))


def _shuffle_shape(value_shape, seed):
    if len(value_shape) == 0:
        raise ValueError("value must have rank >= 1")
    return tuple(value_shape)


_shuffle_op = register("shuffle", "random",
                       lambda value, seed: value[rng(seed).permutation(len(value))],
                       ("value",), None, attr_names=("seed",), shape_fn=_shuffle_shape,
                       dtype_fn=lambda value_dtype, seed: value_dtype, stateful=True)


@public("shuffle", _shuffle_op, None)
def shuffle(value, seed=None, name=None):
    """`value` with its first axis randomly permuted."""
    # non-tensors as NumPy reads them (a list of floats is float64), as before
    t = value if isinstance(value, Tensor) else convert_to_tensor(np.asarray(value))
    if t.ndim == 0:
        raise errors.op_error(ValueError, "shuffle", (t,), "value must have rank >= 1, got a "
                              "scalar", ("value",))
    return _shuffle_op.apply((t,), (seed,))
