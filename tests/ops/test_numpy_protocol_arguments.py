"""Every argument of every NumPy function and ufunc that the NumPy protocol maps is
either implemented (the result equals NumPy's on the same data) or raises a
TypeError naming it; never silently ignored (np.sum(t, where=m) used to give 10
where NumPy gives 4)."""

import inspect

import numpy as np
import pytest

import fasttape as ft
from fasttape.ops import numpy_protocol as P

X = np.array([[1.0, 2.0, 3.0], [4.0, -5.0, 6.5]])
SQ = np.array([[4.0, 1.0], [1.0, 3.0]])
MASK = np.array([[True, False, True], [False, True, True]])


def _t(a):
    return ft.constant(a)


# the positional inputs of each function, as (NumPy's parameter names, a factory of values
# built from a wrapper `w` applied to the array data: the Tensor or the ndarray)
BASE = {
    np.reshape: lambda w: (w(X), (3, 2)),
    np.transpose: lambda w: (w(X),),
    np.swapaxes: lambda w: (w(X), 0, 1),
    np.expand_dims: lambda w: (w(X), 0),
    np.squeeze: lambda w: (w(X[:1]),),
    np.broadcast_to: lambda w: (w(X[0]), (2, 3)),
    np.concatenate: lambda w: ([w(X), w(X)],),
    np.stack: lambda w: ([w(X), w(X)],),
    np.where: lambda w: (w(MASK), w(X), w(-X)),
    np.tile: lambda w: (w(X), 2),
    np.pad: lambda w: (w(X), 1),
    np.split: lambda w: (w(X), 3, 1),
    np.einsum: lambda w: ("ij,kj->ik", w(X), w(X)),
    np.tensordot: lambda w: (w(X), w(X.T)),
    np.trace: lambda w: (w(SQ),),
    np.linalg.inv: lambda w: (w(SQ),),
    np.linalg.det: lambda w: (w(SQ),),
    np.linalg.slogdet: lambda w: (w(SQ),),
    np.linalg.solve: lambda w: (w(SQ), w(SQ[0])),
    np.linalg.cholesky: lambda w: (w(SQ),),
    np.linalg.norm: lambda w: (w(X),),
    np.take: lambda w: (w(X), [0, 2]),
    np.clip: lambda w: (w(X), 0.0, 3.0),
    np.dot: lambda w: (w(X), w(X.T)),
    np.result_type: lambda w: (w(X), w(X)),
    np.matmul: lambda w: (w(X), w(X.T)),
}

# a non-default value per argument name; (function, name) overrides
SAMPLE = {
    "axis": 1, "dtype": np.float32, "keepdims": True, "initial": 10.0, "where": MASK,
    "ddof": 1, "correction": 1, "order": "F", "copy": True, "subok": False, "casting": "unsafe",
    "optimize": True, "offset": 1, "axis1": 1, "axis2": 0, "mode": "clip", "upper": True,
    "ord": 1, "shape": (3, 2), "device": "cpu", "a_min": 0.0, "a_max": 2.0, "min": 0.0,
    "max": 2.0, "axes": 1, "signature": "dd->d", "x": X, "y": X, "constant_values": 7.0,
    "mean": np.full((2, 1), 2.0),
}
OVERRIDE = {
    (np.transpose, "axes"): (1, 0),
    (np.pad, "mode"): "reflect",
    (np.pad, "reflect_type"): "odd",
    (np.linalg.norm, "axis"): 0,
    (np.linalg.norm, "ord"): 3,
    (np.tensordot, "axes"): 1,
    (np.take, "axis"): 1,
    (np.take, "mode"): "wrap",
    (np.squeeze, "axis"): 0,
    (np.expand_dims, "axis"): -1,
    (np.clip, "min"): 0.5,
    (np.clip, "max"): 2.5,
    (np.where, "x"): X,
    (np.zeros_like, "shape"): (3, 2),
    (np.ones_like, "shape"): (3, 2),
}


def _base(func):
    return BASE.get(func, lambda w: (w(X),))


def _cases():
    out = []
    for func in list(P._FUNCTIONS) + list(P._UFUNCS):
        sig = inspect.signature(func)
        n_base = func.nin if isinstance(func, np.ufunc) else len(_base(func)(lambda a: a))
        for i, (name, p) in enumerate(sig.parameters.items()):
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or i < n_base:
                continue
            out.append(pytest.param(func, name, id=f"{func.__name__}-{name}"))
    # keywords of a **kwargs parameter that NumPy documents
    out.append(pytest.param(np.pad, "reflect_type", id="pad-reflect_type"))
    out.append(pytest.param(np.einsum, "dtype", id="einsum-dtype"))
    out.append(pytest.param(np.einsum, "order", id="einsum-order"))
    return out


def _ufunc_base(func, w):
    if func in BASE:
        return BASE[func](w)
    return (w(X),) * func.nin


@pytest.mark.parametrize("func, name", _cases())
def test_every_numpy_argument_is_implemented_or_raises_naming_it(func, name):
    value = OVERRIDE.get((func, name), SAMPLE.get(name, 1))
    default = inspect.signature(func).parameters.get(name)
    if isinstance(value, bool) and default is not None and default.default is value:
        value = not value  # a value other than NumPy's default
    if name == "out":
        value = np.empty_like(X)
    if isinstance(func, np.ufunc):
        args_t, args_a = _ufunc_base(func, _t), _ufunc_base(func, np.asarray)
    else:
        args_t, args_a = _base(func)(_t), _base(func)(np.asarray)
    implemented = P.implemented_arguments(func)
    assert implemented is not None
    if name in implemented:
        try:
            want = func(*args_a, **{name: value})
        except (TypeError, ValueError):  # NumPy refuses this call: so must fasttape
            with pytest.raises((TypeError, ValueError)):
                func(*args_t, **{name: value})
            return
        got = func(*args_t, **{name: value})
        got = got if isinstance(got, tuple) else (got,)
        want = want if isinstance(want, tuple) else (want,)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5,
                                       err_msg=f"numpy.{func.__name__}({name}=...)")
    else:
        with pytest.raises(TypeError, match=rf"numpy\.{func.__name__}: .*\b{name}="):
            func(*args_t, **{name: value})


@pytest.mark.parametrize("call, want", [
    (lambda t: np.sum(t, where=MASK[0]), "where="),
    (lambda t: np.sum(t, initial=1.0), "initial="),
    (lambda t: np.reshape(t, (3, 1), order="F"), "order="),
    (lambda t: np.mean(t, where=MASK[0]), "where="),
])
def test_the_issue_examples_raise(call, want):
    with pytest.raises(TypeError, match=want):
        call(ft.constant([1.0, 2.0, 3.0]))


def test_argmax_keepdims_is_numpys():
    t = ft.constant(X)
    for axis in (None, 0, 1, -1):
        np.testing.assert_array_equal(np.argmax(t, axis=axis, keepdims=True).numpy(),
                                      np.argmax(X, axis=axis, keepdims=True))


def test_defaults_given_explicitly_are_accepted():
    t = ft.constant(X)
    np.testing.assert_allclose(np.sum(t, where=True).numpy(), X.sum())
    np.testing.assert_allclose(np.reshape(t, (3, 2), order="C").numpy(), X.reshape(3, 2))
    np.testing.assert_allclose(np.add(t, t, casting="same_kind").numpy(), 2 * X)
