"""TensorFlow's paths and NumPy's functions for every public op
(fasttape/testing/tf_paths.py): a new op must be listed, every path TensorFlow
has it at must work on fasttape (`tf.math.X` -> `ft.math.X`), and every NumPy
function mapped to it must run it through the NumPy protocol."""

import types

import numpy as np
import pytest

import fasttape as ft
from fasttape import nest
from fasttape.ops import _registry
from fasttape.ops._registry import OPS
from fasttape.testing.op_db import specs_by_name
from fasttape.testing.tf_paths import API, entries_by_name


def _resolve(path):
    """ft's object at a TensorFlow path ("tf.math.log") or an ft path ("ft.relu")."""
    head, *rest = path.split(".")
    assert head in ("tf", "ft"), f"{path}: a path starts with tf. or ft."
    obj = ft
    for i, part in enumerate(rest):
        if not hasattr(obj, part):
            raise AssertionError(f"{path}: ft.{'.'.join(rest[:i + 1])} does not exist")
        obj = getattr(obj, part)
    return obj


def _function(entry):
    if entry.name in OPS:
        return OPS[entry.name]
    return _resolve((entry.paths + entry.fasttape_only)[0])


def test_every_op_of_the_table_has_an_entry():
    names = entries_by_name()
    missing = sorted(n for n in OPS if n not in names)
    assert not missing, f"ops without an ApiEntry in fasttape/testing/tf_paths.py: {missing}"


def test_entries_are_unique_and_reachable():
    names = [e.name for e in API]
    assert len(names) == len(set(names)), "an op is listed twice"
    for e in API:
        assert e.paths or e.fasttape_only, f"{e.name}: no path at all"


def test_every_composite_with_an_op_db_spec_is_listed():
    specs = specs_by_name()
    composites = {n for n, ss in specs.items() if all(s.composite for s in ss)}
    missing = sorted(composites - set(entries_by_name()))
    assert not missing, f"composites without an ApiEntry: {missing}"


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.name) for e in API])
def test_every_tensorflow_path_resolves_to_the_op(entry):
    fn = _function(entry)
    for path in entry.paths + entry.fasttape_only:
        assert _resolve(path) is fn, f"{path} is {_resolve(path)!r}, not {fn!r}"


def _sample(name):
    specs = specs_by_name().get(name)
    if not specs:
        return [ft.constant(np.arange(6.0).reshape(2, 3) + 1.0)]
    spec = specs[0]
    shapes, attrs = spec.samples()[0]
    return [ft.constant(a) for a in spec.make_args(shapes, attrs, seed=0)]


def _leaves(x):
    return nest.flatten(list(x) if isinstance(x, (tuple, list)) else x)


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.name) for e in API if e.numpy])
def test_numpy_function_runs_the_op_through_the_protocol(entry):
    fn = _function(entry)
    xs = _sample(entry.name)
    args = entry.np_args(*xs) if entry.np_args else tuple(xs)
    got = entry.numpy(*args)
    want = fn(*args)
    got_leaves, want_leaves = _leaves(got), _leaves(want)
    assert len(got_leaves) == len(want_leaves), f"numpy.{entry.numpy.__name__}: {got!r}"
    for g, w in zip(got_leaves, want_leaves, strict=True):
        assert isinstance(g, ft.Tensor), (
            f"numpy.{entry.numpy.__name__} returned {type(g).__name__}, not an ft.Tensor: "
            "it did not go through the NumPy protocol")
        assert g.shape == w.shape and g.dtype == w.dtype, (g, w)
        np.testing.assert_array_equal(g.numpy(), w.numpy())


def test_numpy_function_is_recorded_on_a_tape():
    # through the protocol, so a tape sees it: np.count_nonzero has no gradient,
    # np.tanh does
    x = ft.constant(np.array([0.5, 0.0, -1.0]))
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = np.sum(np.tanh(x))
        n = np.count_nonzero(x)
    assert int(n) == 2
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), 1 - np.tanh(x.numpy()) ** 2)


_NAMESPACES = ["", "math", "nn", "linalg", "random", "bitwise", "compat.v1"]


def _public_callables():
    ops = {id(fn) for fn in OPS.values()}
    for ns in _NAMESPACES:
        mod = _resolve("ft." + ns) if ns else ft
        for n in dir(mod):
            obj = getattr(mod, n)
            if n.startswith("_") or isinstance(obj, types.ModuleType) or not callable(obj):
                continue
            if getattr(obj, "__module__", None) == _registry.__name__ and id(obj) not in ops:
                continue  # the registry's machinery (a decorator imported by a module), no op
            yield f"ft.{ns + '.' if ns else ''}{n}", obj


def _known():
    known = {id(OPS[e.name]) for e in API if e.name in OPS}
    return known | {id(_resolve(p)) for e in API for p in e.paths + e.fasttape_only}


def test_every_public_function_and_class_is_listed():
    known = _known()
    missing = sorted(path for path, obj in _public_callables() if id(obj) not in known)
    assert not missing, f"public names without an ApiEntry in tf_paths.py: {missing}"


def test_every_registered_composite_is_listed():
    # composites registered with the op registry (where it keeps a list of them)
    known = _known()
    composites = getattr(_registry, "COMPOSITES", {})
    missing = sorted(name for name, fn in composites.items() if id(fn) not in known)
    assert not missing, f"composites without an ApiEntry in tf_paths.py: {missing}"


def test_every_ufunc_of_the_protocol_is_listed_with_its_op():
    from fasttape.ops.numpy_protocol import _UFUNCS

    by_fn = {id(OPS[e.name]): e for e in API if e.name in OPS}
    unlisted = sorted(u.__name__ for u, fn in _UFUNCS.items()
                      if id(fn) in by_fn and by_fn[id(fn)].numpy is None)
    assert not unlisted, f"ufuncs the protocol maps whose op lists no NumPy function: {unlisted}"
