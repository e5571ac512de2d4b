"""Random tensors, reproducible under `ft.random.set_seed` (a NumPy Generator per thread)."""

import threading

import numpy as np

from fasttape._core import core as _core
from fasttape.ops._registry import composite as _composite
from fasttape.ops.array_ops import _shape_arg

_state = threading.local()
_global_seed = None


def set_seed(seed):
    """Seeds the generator of the calling thread (and the default for new threads)."""
    global _global_seed
    _global_seed = int(seed)
    _state.rng = np.random.default_rng(_global_seed)


def _rng(seed=None):
    if seed is not None:
        return np.random.default_rng(int(seed))
    rng = getattr(_state, "rng", None)
    if rng is None:
        rng = _state.rng = np.random.default_rng(_global_seed)
    return rng


def _wrap(values, dtype):
    return _core.wrap_array(np.asarray(values, dtype=dtype))


@_composite("normal")
def normal(shape, mean=0.0, stddev=1.0, dtype=np.float32, seed=None, name=None):
    """Samples from N(mean, stddev**2)."""
    return _wrap(_rng(seed).normal(mean, stddev, _shape_arg("normal", None, shape)), dtype)


@_composite("uniform")
def uniform(shape, minval=0, maxval=None, dtype=np.float32, seed=None, name=None):
    """Samples uniformly from [minval, maxval) (maxval 1 for floats); integers need maxval."""
    dtype = np.dtype(dtype)
    shape = _shape_arg("uniform", None, shape)
    if dtype.kind in "iu":
        if maxval is None:
            raise ValueError("ft.random.uniform: integer dtypes need maxval")
        return _wrap(_rng(seed).integers(minval, maxval, shape), dtype)
    return _wrap(_rng(seed).uniform(minval, 1.0 if maxval is None else maxval, shape), dtype)


@_composite("truncated_normal")
def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=np.float32, seed=None, name=None):
    """Samples from N(mean, stddev**2) redrawn until within two standard deviations."""
    rng = _rng(seed)
    shape = _shape_arg("truncated_normal", None, shape)
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return _wrap(mean + stddev * out, dtype)


@_composite("shuffle")
def shuffle(value, seed=None, name=None):
    """`value` with its first axis randomly permuted."""
    arr = np.asarray(value)
    return _wrap(arr[_rng(seed).permutation(len(arr))], arr.dtype)
