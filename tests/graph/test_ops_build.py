"""Every op of the table builds in a graph, with no per-op graph code.

For every op_db sample (fasttape/testing/op_db.py), the sample's public
function is called inside `with ft.Graph().as_default():` on graph tensors
in place of its tensor arguments, and its outputs must be symbolic tensors of
that graph with eager mode's dtypes and static shapes compatible with eager
mode's shapes:

- "static": placeholders of the full static shapes: the shapes are exactly
  eager mode's (except the value-dependent dims of `_VALUE_DEPENDENT`);
- "eager_args": the eager tensors themselves, which become Const nodes: as
  "static";
- "batch": the first argument's leading dim unknown (None), as a batch;
- "unknown_dims": every dim of every argument unknown;
- "unknown_rank": every argument of unknown rank. Elementwise ops and
  reductions must build (an unknown-rank output, or a scalar for a full
  reduction); the others may raise the one build-time error of Note [Unknown
  ranks] (fasttape/errors.py), never a crash.

An op whose public function needs a dim the graph does not know (an
attribute computed from it) raises `unknown_dim_error`'s ValueError naming
the op; those are listed in `_NEEDS_DIMS` with the reason, and
`test_needs_dims_list_is_not_stale` fails when one of them builds.
"""

import functools

import numpy as np
import pytest

import fasttape as ft
from fasttape import nest
from fasttape._core.core import is_symbolic, registered_ops
from fasttape.testing.op_db import OP_SPECS

#: ops whose output dims depend on input values: the graph's dim is None there
_VALUE_DEPENDENT = {"boolean_mask", "segment_sum", "where[indices]", "_reshape_dynamic"}


#: (spec label, mode) -> why the public function needs a dim that the mode
#: leaves unknown; it raises unknown_dim_error's ValueError at build time
_SAME = "SAME padding's pads (node attributes) are computed from the spatial and window dims"
_NEEDS_DIMS = {
    **{(label, mode): reason for mode in ("batch", "unknown_dims") for label, reason in {
        "unstack": "one output per entry of the axis: the count is the dim",
        "split": "the pieces are static slices whose bounds come from the dim",
        "diag_part": "the diagonal's length min(M, N) is a static index",
        "trace": "diag_part: the diagonal's length is a static index",
        "matrix_diag": "the output's shape (an attribute) is computed from the diagonal's length",
        "matrix_diag[3x4-padded]": "the diagonal must fit num_rows x num_cols, from its length",
    }.items()},
    ("logdet", "unknown_dims"): "diag_part of the Cholesky factor: a static index",
    **{(label, "unknown_dims"): _SAME for label in (
        "conv2d", "conv2d[NCHW]", "conv1d", "conv2d_transpose", "max_pool2d", "avg_pool2d")},
}

_UNKNOWN_DIM = "is unknown (None), and this op needs it when the graph is built"
_UNKNOWN_RANK = "has an unknown rank in this graph, and this op needs its rank when the graph"

MODES = ("static", "eager_args", "batch", "unknown_dims", "unknown_rank")


@functools.cache
def _ops_by_name():
    return {op.name: op for op in registered_ops()}


def _must_build_unranked(spec, attrs):
    """Elementwise ops, and reductions over all axes or axes counted from the
    front, build on tensors of unknown rank (a negative axis needs the rank)."""
    op = _ops_by_name().get(spec.name)
    if op is None or spec.composite:
        return False
    if op.family == "reduce":
        axis = attrs.get("axis")
        return axis is None or all(a >= 0 for a in np.atleast_1d(axis))
    return op.elementwise


def _placeholder_shape(arg, mode, i):
    if mode == "static":
        return arg.shape
    if mode == "batch":
        return (None,) + arg.shape[1:] if i == 0 and arg.ndim else arg.shape
    if mode == "unknown_dims":
        return (None,) * arg.ndim
    return None  # unknown_rank


def _compatible(static, real):
    if static.rank is None:
        return True
    return len(static) == len(real) and all(s is None or s == r for s, r in zip(static, real))


CASES = [pytest.param(spec, shapes, attrs, id=f"{spec.label}-{i}")
         for spec in OP_SPECS for i, (shapes, attrs) in enumerate(spec.samples())]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("spec,shapes,attrs", CASES)
def test_op_builds_in_a_graph(spec, shapes, attrs, mode):
    args = spec.make_args(shapes, attrs, seed=0)
    eager = nest.flatten(spec.fn(*[ft.constant(a) for a in args], **attrs))
    g = ft.Graph()
    with g.as_default():
        if mode == "eager_args":
            xs = [ft.constant(a) for a in args]
        else:
            xs = [ft.placeholder(a.dtype, _placeholder_shape(a, mode, i))
                  for i, a in enumerate(args)]
        try:
            out = spec.fn(*xs, **attrs)
        except ValueError as e:
            first = str(e).splitlines()[0]
            if (spec.label, mode) in _NEEDS_DIMS and _UNKNOWN_DIM in first:
                assert first.startswith(f"{spec.name}: ") or spec.composite, first
                return
            if mode == "unknown_rank" and not _must_build_unranked(spec, attrs) and (
                    _UNKNOWN_RANK in first or _UNKNOWN_DIM in first):
                return
            raise
    outs = nest.flatten(out)
    assert len(outs) == len(eager), f"{spec.label}: {len(outs)} outputs, eager {len(eager)}"
    for o, e in zip(outs, eager):
        assert is_symbolic(o) and o.graph is g, f"{spec.label}: {o!r} is not a tensor of the graph"
        assert o.dtype == e.dtype, f"{spec.label}: graph dtype {o.dtype}, eager {e.dtype}"
        where = f"{spec.label} ({mode}): graph shape {o.shape}, eager {e.shape}"
        exact = not {spec.name, spec.label} & _VALUE_DEPENDENT
        if mode in ("static", "eager_args") and exact:
            assert o.shape.rank is not None and tuple(o.shape) == e.shape, where
        else:
            assert _compatible(o.shape, e.shape), where
    if mode == "eager_args" and args:
        # the eager arguments became Const nodes of the graph
        assert any(op.type == "Const" for op in g.get_operations()), spec.label
    if mode == "unknown_rank" and spec.name.startswith("reduce_") and attrs.get("axis", 0) is None:
        assert all(o.shape == () for o in outs if not attrs["keepdims"]), (
            f"{spec.label}: a full reduction of an unknown-rank tensor is a scalar")


def _builds(spec, shapes, attrs, mode):
    args = spec.make_args(shapes, attrs, seed=0)
    with ft.Graph().as_default():
        xs = [ft.placeholder(a.dtype, _placeholder_shape(a, mode, i)) for i, a in enumerate(args)]
        try:
            spec.fn(*xs, **attrs)
        except ValueError as e:
            if _UNKNOWN_DIM in str(e):
                return False
            raise
    return True


def test_needs_dims_list_is_not_stale():
    """Every entry of _NEEDS_DIMS fails to build in at least one sample of its mode."""
    labels = {spec.label: spec for spec in OP_SPECS}
    stale = []
    for (label, mode) in _NEEDS_DIMS:
        assert label in labels, f"_NEEDS_DIMS names {label!r}, which op_db does not have"
        spec = labels[label]
        if all(_builds(spec, s, a, mode) for s, a in spec.samples()):
            stale.append((label, mode))
    assert not stale, f"these build now: remove them from _NEEDS_DIMS: {stale}"


def test_placeholder_shapes_flow_through_composites():
    """A batch dim unknown at build time stays unknown through a small network."""
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 4), name="x")
        w = ft.constant(np.ones((4, 3), np.float32))
        y = ft.nn.softmax(ft.nn.relu(ft.matmul(x, w) + 1.0))
        loss = ft.reduce_mean(ft.reduce_sum(y * y, axis=1))
    assert y.shape == (None, 3) and loss.shape == ()
    assert is_symbolic(loss) and loss.graph is g


def test_a_graph_tensor_as_index_key_gathers():
    """Note [Graph index keys]: x[i] for a graph tensor i builds gather (ints)
    or boolean_mask (bools); inside a key tuple it raises naming getitem."""
    with ft.Graph().as_default():
        x = ft.placeholder(ft.float32, (5, 3))
        i = ft.placeholder(ft.int32, (None,))
        m = ft.placeholder(ft.bool, (5,))
        assert x[i].shape == (None, 3) and x[i].op.type == "gather"
        assert x[m].shape == (None, 3) and x[m].op.type == "boolean_mask"
        with pytest.raises(TypeError, match="getitem: a graph tensor inside an index tuple"):
            x[0, i]
        with pytest.raises(TypeError, match="getitem: indices must be integer or bool"):
            x[ft.placeholder(ft.float32, (2,))]
