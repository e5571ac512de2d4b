"""Every op_db sample runs through ft.function's executor with eager mode's
results, exactly (fasttape/testing/op_db.py; Note [Executor]).

Each sample's public function is traced with its tensor arguments as
placeholders (the arguments of the traced function) and, separately, with
them as constants (so the whole graph folds at plan time), and the results
must equal eager mode's bit for bit (NaNs in the same places). Stateful ops
(random draws) are compared by dtype and shape, and exactly when seeded.
"""

import functools

import numpy as np
import pytest

import fasttape as ft
from fasttape import nest
from fasttape._core.core import registered_ops
from fasttape.testing.op_db import OP_SPECS


@functools.cache
def _ops_by_name():
    return {op.name: op for op in registered_ops()}


def _stateful(spec, attrs):
    op = _ops_by_name().get(spec.name)
    stateful = op is not None and op.stateful or spec.name in ("dropout",)
    return stateful and attrs.get("seed") is None


CASES = [pytest.param(spec, shapes, attrs, id=f"{spec.label}-{i}")
         for spec in OP_SPECS for i, (shapes, attrs) in enumerate(spec.samples())]


def _same(out, ref, where):
    outs, refs = nest.flatten(out), nest.flatten(ref)
    assert len(outs) == len(refs), where
    for o, r in zip(outs, refs):
        o, r = np.asarray(o), np.asarray(r)
        assert o.dtype == r.dtype and o.shape == r.shape, (
            f"{where}: traced {o.dtype}{o.shape}, eager {r.dtype}{r.shape}")
        assert np.array_equal(o, r, equal_nan=o.dtype.kind in "fc"), f"{where}: {o} != {r}"


@pytest.mark.parametrize("mode", ["arguments", "constants"])
@pytest.mark.parametrize("spec,shapes,attrs", CASES)
def test_op_runs_in_a_traced_function(spec, shapes, attrs, mode):
    args = spec.make_args(shapes, attrs, seed=0)
    xs = [ft.constant(a) for a in args]
    eager = spec.fn(*xs, **attrs)
    if mode == "arguments":
        f = ft.function(lambda *ts: spec.fn(*ts, **attrs))
        out = f(*xs)
        again = f(*xs)  # the second call takes the plan's fast path
        cf = f.get_concrete_function(*xs)
    else:
        f = ft.function(lambda: spec.fn(*xs, **attrs))
        out = f()
        again = f()
        cf = f.get_concrete_function()
    assert f.tracing_count == 1
    where = f"{spec.label} ({mode})"
    if _stateful(spec, attrs):
        for o, r in zip(nest.flatten(out), nest.flatten(eager)):
            assert o.dtype == r.dtype and tuple(o.shape) == tuple(r.shape), where
        return
    _same(out, eager, where)
    _same(again, eager, where + ", second call")
    if mode == "constants":
        # every node folds at plan time: nothing runs per call
        assert cf.plan.n_steps == 0, f"{where}: {cf.plan.step_types} were not folded"


_FLOAT_FIRST = [pytest.param(spec, shapes, attrs, id=f"{spec.label}-{i}")
                for spec in OP_SPECS for i, (shapes, attrs) in enumerate(spec.samples())
                if spec.make_args(shapes, attrs, seed=0)
                and isinstance(spec.make_args(shapes, attrs, seed=0)[0], np.ndarray)
                and spec.make_args(shapes, attrs, seed=0)[0].dtype.kind == "f"]


@pytest.mark.parametrize("spec,shapes,attrs", _FLOAT_FIRST)
def test_op_reads_a_variable_at_each_call(spec, shapes, attrs):
    """Every op given an eager Variable inside a traced function reads it
    when the function runs (a ReadVariableOp node, never a snapshot taken
    while tracing): an assign between calls is seen by the next call."""
    args = spec.make_args(shapes, attrs, seed=0)
    new = spec.make_args(shapes, attrs, seed=1)[0]
    v = ft.Variable(args[0])
    rest = [ft.constant(a) for a in args[1:]]
    f = ft.function(lambda *r: spec.fn(v, *r, **attrs))
    f(*rest)
    v.assign(new)
    out = f(*rest)
    assert f.tracing_count == 1
    cf = f.get_concrete_function(*rest)
    assert "ReadVariableOp" in cf.plan.step_types, f"{spec.label}: the variable was not read"
    if not _stateful(spec, attrs):
        _same(out, spec.fn(ft.constant(new), *rest, **attrs), spec.label)
