"""Every op_db sample runs in a Session: its graph built on placeholders of
the sample's shapes (and with every dim unknown, where the op can be built
without them), fed the sample's values, gives eager mode's result exactly
(stateful ops: with their op-level seed, the same numbers). The Session's
debug check compares every node's outputs with its static shapes and dtypes
(Note [Running a graph])."""

import numpy as np
import pytest

import fasttape as ft
from fasttape import nest
from fasttape.testing.op_db import OP_SPECS

CASES = [pytest.param(spec, shapes, attrs, id=f"{spec.label}-{i}")
         for spec in OP_SPECS for i, (shapes, attrs) in enumerate(spec.samples())]


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype, f"dtype {a.dtype} vs eager {b.dtype}"
    assert a.shape == b.shape, f"shape {a.shape} vs eager {b.shape}"
    assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), f"{a} vs eager {b}"


@pytest.mark.parametrize("unknown_dims", [False, True], ids=["static", "unknown_dims"])
@pytest.mark.parametrize("spec,shapes,attrs", CASES)
def test_session_runs_every_op_db_sample(spec, shapes, attrs, unknown_dims):
    args = spec.make_args(shapes, attrs, seed=0)
    expected = spec.fn(*[ft.constant(a) for a in args], **attrs)
    g = ft.Graph()
    with g.as_default():
        phs = [ft.placeholder(a.dtype, shape=(None,) * a.ndim if unknown_dims else a.shape)
               for a in args]
        try:
            out = spec.fn(*phs, **attrs)
        except ValueError as e:
            # an op whose attributes need a static dim says so at build time
            if unknown_dims and "this op needs it when the graph is built" in str(e):
                return
            raise
    sess = ft.Session(graph=g)
    sess._debug_checks = True
    got = sess.run(out, feed_dict=dict(zip(phs, args)))
    flat_got, flat_expected = nest.flatten(got), nest.flatten(expected)
    assert len(flat_got) == len(flat_expected)
    for a, b in zip(flat_got, flat_expected):
        _same(a, b.numpy())
