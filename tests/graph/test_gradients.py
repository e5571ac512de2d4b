"""Symbolic gradients (fasttape/gradients_impl.py, Note [The graph walk]) over
the op table: every differentiable op_db sample's vector-Jacobian product,
computed three ways with the same cotangents, must agree:

- "graph": `ft.gradients(leaves, placeholders, grad_ys=...)` in an ft.Graph,
  run by an ft.Session;
- "function": a GradientTape inside an `ft.function` (Note [Tapes in graphs]);
- eager mode's GradientTape (the reference, itself checked against finite
  differences by tests/ops/test_op_grads.py).

Order 1 on every sample; order 2 (the gradient of the gradient function,
built with ft.gradients of ft.gradients in a graph and with nested tapes in a
traced function) on the first sample of every op that eager mode checks at
order 2. Graphs whose placeholders have unknown dims ("batch": the first
argument's leading dim; "unknown_dims": every dim) exercise the symbolic
fit's `_sum_to` and the deferred VJPs (Note [Unknown dims in VJPs]).
"""

import functools
import zlib

import numpy as np
import pytest

import fasttape as ft
from fasttape import nest
from fasttape._core.core import registered_ops
from fasttape.testing.op_db import OP_SPECS

# unknown dims the public functions themselves need at build time (see
# tests/graph/test_ops_build.py's _NEEDS_DIMS): such a graph cannot be built
_UNKNOWN_DIM = "is unknown (None), and this op needs it when the graph is built"


@functools.cache
def _ops_by_name():
    return {op.name: op for op in registered_ops()}


def _random(spec):
    op = _ops_by_name().get(spec.name)
    return op is not None and op.stateful


def _case_seed(spec, shapes, attrs):
    return zlib.crc32(f"{spec.label}-{shapes}-{attrs}".encode())


def _float_leaves(out):
    return [t for t in nest.flatten(out) if t is not None and t.dtype.kind == "f"]


def _grad_fn(f, n, mode):
    """(xs..., us...) -> the gradients of <us, f(xs)> with respect to the float
    xs (None for others), computed by a tape, or by ft.gradients in a graph."""

    def grad_f(*xs_and_us):
        xs, us = list(xs_and_us[:n]), list(xs_and_us[n:])
        if mode == "graph":
            return ft.gradients(_float_leaves(f(*xs)), xs, grad_ys=us)
        with ft.GradientTape() as tape:
            tape.watch([x for x in xs if x.dtype.kind == "f"])
            leaves = _float_leaves(f(*xs))
        return tape.gradient(leaves, xs, output_gradients=us)

    return grad_f


def _vjp_eager(f, args, us):
    xs = [ft.constant(a) for a in args]
    with ft.GradientTape() as tape:
        tape.watch([x for x in xs if x.dtype.kind == "f"])
        leaves = _float_leaves(f(*xs))
    grads = tape.gradient(leaves, xs, output_gradients=[ft.constant(u) for u in us])
    return [None if g is None else g.numpy() for g in grads]


def _vjp_graph(f, args, us, shapes=None):
    g = ft.Graph()
    with g.as_default():
        xs = [ft.placeholder(a.dtype, a.shape if shapes is None else shapes[i])
              for i, a in enumerate(args)]
        leaves = _float_leaves(f(*xs))
        u_in = [ft.placeholder(u.dtype, leaf.shape) for u, leaf in zip(us, leaves, strict=True)]
        grads = ft.gradients(leaves, xs, grad_ys=u_in)
    assert len(grads) == len(xs)
    for x, gr in zip(xs, grads):
        if gr is not None:
            assert gr.graph is g and gr.dtype == x.dtype
            assert gr.shape.is_compatible_with(x.shape), (gr.shape, x.shape)
    fetch = [gr for gr in grads if gr is not None]
    sess = ft.Session(graph=g)
    sess._debug_checks = True  # every node's outputs have its static shape and dtype
    vals = iter(sess.run(fetch, {**dict(zip(xs, args)), **dict(zip(u_in, us))}))
    return [None if gr is None else next(vals) for gr in grads]


def _vjp_function(f, args, us):
    n = len(args)

    @ft.function
    def grads_of(xs, us_):
        return _grad_fn(f, n, "function")(*xs, *us_)

    xs = [ft.constant(a) for a in args]
    out = grads_of(xs, [ft.constant(u) for u in us])
    again = grads_of(xs, [ft.constant(u) for u in us])  # the plan's fast path
    assert grads_of.tracing_count == 1
    for a, b in zip(out, again):
        assert (a is None) == (b is None)
    return [None if g is None else g.numpy() for g in out]


def _assert_same(got, want, where):
    assert len(got) == len(want), where
    for k, (a, b) in enumerate(zip(got, want)):
        if b is None:
            assert a is None or not np.any(a), f"{where}: input {k}: eager None, got {a}"
            continue
        assert a is not None, f"{where}: input {k}: None, eager {b}"
        a = np.asarray(a)
        assert a.shape == b.shape and a.dtype == b.dtype, (
            f"{where}: input {k}: {a.dtype}{a.shape}, eager {b.dtype}{b.shape}")
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-10, err_msg=f"{where}: input {k}")


def _setup(spec, shapes, attrs):
    args = spec.make_args(shapes, attrs, seed=_case_seed(spec, shapes, attrs))

    def f(*xs):
        return spec.fn(*xs, **attrs)

    leaves = _float_leaves(f(*[ft.constant(a) for a in args]))
    rng = np.random.default_rng(1)
    us = [rng.standard_normal(t.shape).astype(t.dtype) for t in leaves]
    return f, args, us


def _order2(f, args, us):
    """f's gradient function and its arguments and cotangents (order 2)."""
    n = len(args)
    args2 = list(args) + list(us)
    rng = np.random.default_rng(2)

    def first(*a):
        return _vjp_eager(f, [np.asarray(v.numpy()) for v in a[:n]],
                          [np.asarray(v.numpy()) for v in a[n:]])

    outs = [o for o in first(*[ft.constant(a) for a in args2]) if o is not None]
    us2 = [rng.standard_normal(o.shape).astype(o.dtype) for o in outs]
    return args2, us2


CASES = [pytest.param(spec, shapes, attrs, id=f"{spec.label}-{i}")
         for spec in OP_SPECS if spec.differentiable and not _random(spec)
         for i, (shapes, attrs) in enumerate(spec.samples())]

ORDER2 = [pytest.param(spec, *next(iter(spec.samples())), id=spec.label)
          for spec in OP_SPECS if spec.differentiable and spec.order >= 2 and not _random(spec)]


@pytest.mark.parametrize("mode", ["graph", "function"])
@pytest.mark.parametrize("spec,shapes,attrs", CASES)
def test_op_gradients_in_graphs(spec, shapes, attrs, mode):
    f, args, us = _setup(spec, shapes, attrs)
    want = _vjp_eager(f, args, us)
    got = _vjp_graph(f, args, us) if mode == "graph" else _vjp_function(f, args, us)
    _assert_same(got, want, f"{spec.label} {shapes} {attrs} ({mode})")


@pytest.mark.parametrize("mode", ["graph", "function"])
@pytest.mark.parametrize("spec,shapes,attrs", ORDER2)
def test_op_second_order_gradients_in_graphs(spec, shapes, attrs, mode):
    f, args, us = _setup(spec, shapes, attrs)
    n = len(args)
    args2, us2 = _order2(f, args, us)
    float_mask = [a.dtype.kind == "f" for a in args]

    def grad_f(mode_inner):
        inner = _grad_fn(f, n, mode_inner)

        def g(*a):
            return [gr for gr, fl in zip(inner(*a), float_mask) if fl and gr is not None]
        return g

    want = _vjp_eager(grad_f("eager"), args2, us2)
    if mode == "graph":
        got = _vjp_graph(grad_f("graph"), args2, us2)
    else:
        got = _vjp_function(grad_f("function"), args2, us2)
    _assert_same(got, want, f"{spec.label} {shapes} {attrs} (order 2, {mode})")


def _unknown_shapes(args, mode):
    if mode == "batch":
        return [(None,) + a.shape[1:] if i == 0 and a.ndim else a.shape
                for i, a in enumerate(args)]
    return [(None,) * a.ndim for a in args]


@pytest.mark.parametrize("mode", ["batch", "unknown_dims"])
@pytest.mark.parametrize("spec,shapes,attrs", CASES)
def test_op_gradients_with_unknown_dims(spec, shapes, attrs, mode):
    f, args, us = _setup(spec, shapes, attrs)
    want = _vjp_eager(f, args, us)
    try:
        got = _vjp_graph(f, args, us, _unknown_shapes(args, mode))
    except ValueError as e:
        if _UNKNOWN_DIM in str(e).splitlines()[0]:
            return  # the forward itself needs the dim (tests/graph/test_ops_build.py)
        raise
    _assert_same(got, want, f"{spec.label} {shapes} {attrs} ({mode})")


@pytest.mark.parametrize("mode", ["graph", "function"])
def test_check_grads_modes_against_finite_differences(mode):
    # fasttape.testing.check_grads differentiates in every mode (order 2
    # through the mode's own nested gradients) against central differences
    from fasttape.testing import check_grads

    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(2)
    labels = np.array([0, 1, 1, 0])

    def mlp(x, w, b):
        logits = ft.tanh(x @ w + b)
        return ft.reduce_mean(ft.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))

    check_grads(mlp, [x, w, b], order=2, modes=mode)
    check_grads(lambda x: ft.reduce_logsumexp(x * x, axis=1), [x], order=2, modes=mode)
    with pytest.raises(AssertionError, match=f"mode {mode}"):
        check_grads(lambda x: ft.stop_gradient(x) * x, [x], modes=mode)
