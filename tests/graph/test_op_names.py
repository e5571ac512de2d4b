"""`name=` names graph nodes (Note [Op names] in fasttape/ops/_registry.py).

Every public op function that takes `name` (the table's public functions and
the composites) is called by the op_db samples with `name="n_<function>"`
added: each sample's function is re-made with `ft` (and the public functions
it closes over) replaced by versions that pass the name. In a graph the
function's node - its table entry's node, or a composite's identity - must
be named so; in eager mode the name changes nothing.
"""

import functools
import inspect
import types

import numpy as np
import pytest

import fasttape as ft
from fasttape import nest
from fasttape._core.core import is_symbolic
from fasttape.ops._registry import COMPOSITES, OPS
from fasttape.testing.op_db import OP_SPECS

#: h1 converts these (creation and random ops, dropout's mask) into table entries
_H1_CONVERTS = {"dropout", "zeros", "ones", "fill", "range", "eye", "linspace", "zeros_like",
                "ones_like", "normal", "uniform", "truncated_normal", "shuffle"}


def _name_index(fn):
    params = list(inspect.signature(fn).parameters.values())
    for i, p in enumerate(params):
        if p.name == "name":
            return i
    return None


#: public function -> its public name, for the functions that take `name`
_NAMED = {fn: n for n, fn in {**OPS, **COMPOSITES}.items()
          if n not in _H1_CONVERTS and _name_index(fn) is not None}


def _node_name(fn):
    return f"n_{_NAMED[fn]}"


class _Calls:
    def __init__(self):
        self.named = []  # public names whose call got a name


def _naming(fn, calls):
    at = _name_index(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if len(args) > at or "name" in kwargs:
            return fn(*args, **kwargs)  # the sample passes `name` itself
        calls.named.append(_NAMED[fn])
        return fn(*args, name=_node_name(fn), **kwargs)

    return wrapper


class _Proxy:
    """A module whose public op functions pass `name`."""

    def __init__(self, module, calls):
        self._module = module
        self._calls = calls

    def __getattr__(self, attr):
        v = getattr(self._module, attr)
        if isinstance(v, types.ModuleType) and v.__name__.startswith("fasttape"):
            return _Proxy(v, self._calls)
        if callable(v) and _hashable(v) and v in _NAMED:
            return _naming(v, self._calls)
        return v


def _with_names(fn, calls):
    """`fn` (a sample's function) re-made so that the public functions it calls pass names."""
    if _hashable(fn) and fn in _NAMED:
        return _naming(fn, calls)
    if not isinstance(fn, types.FunctionType):
        return fn
    env = dict(fn.__globals__)
    for k, v in fn.__globals__.items():
        if v is ft:
            env[k] = _Proxy(ft, calls)
    cells = None
    if fn.__closure__:
        cells = tuple(types.CellType(_naming(c.cell_contents, calls)
                                     if _hashable(c.cell_contents)
                                     and c.cell_contents in _NAMED
                                     else c.cell_contents) for c in fn.__closure__)
    return types.FunctionType(fn.__code__, env, fn.__name__, fn.__defaults__, cells)


def _hashable(fn):
    try:
        hash(fn)
        return True
    except TypeError:
        return False


CASES = [pytest.param(spec, spec.samples()[0][0], spec.samples()[0][1], id=spec.label)
         for spec in OP_SPECS if spec.name not in _H1_CONVERTS]


@functools.cache
def _covered():
    """Public names that the samples call with a name, in graph mode."""
    seen = set()
    for spec in OP_SPECS:
        if spec.name in _H1_CONVERTS:
            continue
        shapes, attrs = spec.samples()[0]
        calls = _Calls()
        args = spec.make_args(shapes, attrs, seed=0)
        with ft.Graph().as_default():
            _with_names(spec.fn, calls)(*[ft.placeholder(a.dtype, a.shape) for a in args],
                                        **attrs)
        seen.update(calls.named)
    return seen


@pytest.mark.parametrize("spec,shapes,attrs", CASES)
def test_name_names_the_node(spec, shapes, attrs):
    args = spec.make_args(shapes, attrs, seed=0)
    calls = _Calls()
    g = ft.Graph()
    with g.as_default():
        xs = [ft.placeholder(a.dtype, a.shape) for a in args]
        out = _with_names(spec.fn, calls)(*xs, **attrs)
    names = {op.name: op for op in g.get_operations()}
    for public in calls.named:
        node = names.get(f"n_{public}")
        assert node is not None, (
            f"{spec.label}: ft.{public}(..., name='n_{public}') made no node of that name: "
            f"{sorted(names)}")
        if public in OPS and OPS[public].op.name == node.type:
            continue
        # composites end in an identity; a function whose entry is another
        # (ft.math.log1p -> log1p) names that entry's node
        assert public in COMPOSITES or node.op_def is not None, (spec.label, node)
    # the outputs are graph tensors; in eager mode, the names change nothing
    assert all(is_symbolic(t) for t in nest.flatten(out) if isinstance(t, ft.Tensor))
    eager = nest.flatten(spec.fn(*[ft.constant(a) for a in args], **attrs))
    named = nest.flatten(_with_names(spec.fn, _Calls())(*[ft.constant(a) for a in args],
                                                       **attrs))
    for a, b in zip(eager, named, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_every_public_function_with_name_is_called_with_one():
    """Every public function that takes `name` is reached by some sample (above)."""
    missing = sorted(set(_NAMED.values()) - _covered() - _NOT_IN_OP_DB)
    assert not missing, f"public functions with `name` that no op_db sample calls: {missing}"
    stale = sorted(_NOT_IN_OP_DB & _covered())
    assert not stale, f"covered now: remove from _NOT_IN_OP_DB: {stale}"


#: public functions that no op_db sample calls: tested by name below
_NOT_IN_OP_DB = {"constant"}


def test_name_of_the_functions_without_samples():
    g = ft.Graph()
    with g.as_default():
        assert ft.constant([1.0, 2.0], name="c").name == "c:0"
    assert g.get_operation_by_name("c").type == "Const"


def test_name_in_a_name_scope_and_made_unique():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (2,), name="x")
        a = ft.add(x, 1.0, name="sum")
        b = ft.add(x, 2.0, name="sum")
        with ft.name_scope("block"):
            c = ft.nn.relu(x, name="act")
            d = ft.clip_by_norm(x, 1.0, name="clipped")
    assert [t.name for t in (a, b, c, d)] == ["sum:0", "sum_1:0", "block/act:0",
                                              "block/clipped:0"]
    assert g.get_operation_by_name("sum/y").type == "Const"
    assert g.get_tensor_by_name("sum:0") is a


def test_name_must_be_a_string_in_graph_mode():
    with ft.Graph().as_default():
        x = ft.placeholder(ft.float32, (2,))
        with pytest.raises(TypeError, match="name must be a str"):
            ft.add(x, x, name=3)
