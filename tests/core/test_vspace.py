"""The reverse sweep over its two value spaces (Note [One sweep, several value
spaces] in fasttape/_core/_sweep.pxi): the spaces' operations one by one, and,
over every differentiable op of op_db, that the first-order sweep (raw arrays)
and the higher-order sweep (recorded Tensors) compute the same gradients and
Jacobians, and that only the latter records."""

import contextlib
import zlib

import numpy as np
import pytest

import fasttape as ft
from fasttape import nest
from fasttape._core import core as _core
from fasttape.testing._observe import observe_forwards
from fasttape.testing.op_db import OP_SPECS

RAW = _core._space_for_testing("raw")
TENSORS = _core._space_for_testing("tensors")
PER_SPEC = 3
JACOBIAN_MAX = 64  # rows of a Jacobian case (output elements)


# --- the spaces' operations ------------------------------------------------------


def test_raw_space_values_are_arrays():
    t = ft.constant(np.arange(6.0).reshape(2, 3))
    assert type(RAW.arg(t)) is np.ndarray
    assert RAW.arg(3.0) == 3.0
    assert type(RAW.value([1.0, 2.0])) is np.ndarray
    assert RAW.shape(t) == (2, 3) and RAW.shape(np.zeros((4,))) == (4,)
    assert RAW.dtype_num(t) == np.dtype(np.float64).num
    assert RAW.shape_arg((2, 3)) == (2, 3)
    assert all(type(d) is int for d in RAW.shape_arg((2, 3)))
    z = RAW.zeros((2, 1), np.float32)
    assert type(z) is np.ndarray and z.shape == (2, 1) and z.dtype == np.float32
    r = RAW.result(np.ones(2))
    assert isinstance(r, ft.Tensor) and r.shape == (2,)


def test_raw_space_adds_in_place_only_into_what_it_owns():
    cur, g = np.ones(3), np.full(3, 2.0)
    s, owned = RAW.add(cur, g, False)
    assert s is not cur and owned, "a value the sweep does not own is never written to"
    np.testing.assert_array_equal(cur, 1.0)
    s2, owned = RAW.add(s, g, True)
    assert s2 is s and owned
    np.testing.assert_array_equal(s, 5.0)
    # a lazy (broadcast) addend that would widen the owned array: a new array
    small = np.ones((1,))
    wide, owned = RAW.add(small, np.ones((2, 3)), True)
    assert wide.shape == (2, 3) and wide is not small and owned


def test_raw_space_seed_is_a_shared_read_only_lazy_one():
    t = ft.constant(np.zeros((4, 5), np.float32))
    one = RAW.ones_seed(t)
    assert one.shape == (1, 1) and one.dtype == np.float32 and not one.flags.writeable
    assert RAW.ones_seed(t) is one
    seed = RAW.seed_value([[1.0] * 5] * 4, t)
    assert type(seed) is np.ndarray and seed.dtype == np.float32


def test_raw_space_shape_facts_and_sums():
    g = np.ones((7, 2, 3))
    assert RAW.has_shape(g, (7, 2, 3)) and not RAW.has_shape(g, (2, 3))
    assert RAW.leading_extra(g, (2, 3)) == 1 and RAW.leading_extra(g, (3, 3)) == 0
    assert RAW.leading_extra(g, (7, 2, 3)) == 0
    np.testing.assert_array_equal(RAW.sum_axes(g, (0,), (2, 3)), np.full((2, 3), 7.0))
    big = np.ones((100, 3), np.float32)  # the ones-vector product path of _sum_leading
    np.testing.assert_array_equal(RAW.sum_axes(big, (0,), (1, 3)), np.full((1, 3), 100.0))
    assert RAW.broadcast_to(np.ones((1, 3)), (2, 3)).shape == (2, 3)
    assert RAW.cast(np.ones(2), np.float32).dtype == np.float32
    assert RAW.stack([np.ones(2), np.zeros(2)]).shape == (2, 2)


def test_tensor_space_values_are_tensors_and_its_ops_are_recorded():
    x = ft.constant(np.arange(3.0))
    with ft.GradientTape(persistent=True) as tape:
        tape.watch(x)
        assert TENSORS.arg(x) is x
        s, _ = TENSORS.add(x, x, False)
        b = TENSORS.broadcast_to(TENSORS.value(np.ones((1,))) * x, (2, 3))
        r = TENSORS.sum_axes(b, (0,), (3,))
        c = TENSORS.cast(r, np.float32)
        st = TENSORS.stack([x, s])
    for v in (s, b, r, c, st):
        assert isinstance(v, ft.Tensor)
    assert b.shape == (2, 3) and r.shape == (3,) and c.dtype == np.float32 and st.shape == (2, 3)
    np.testing.assert_allclose(tape.gradient(s, x).numpy(), 2.0)
    np.testing.assert_allclose(tape.gradient(r, x).numpy(), 2.0)
    np.testing.assert_allclose(tape.gradient(st, x).numpy(), 3.0)
    assert isinstance(TENSORS.value(np.ones(2)), ft.Tensor)
    assert isinstance(TENSORS.ones_seed(x), ft.Tensor)
    assert isinstance(TENSORS.seed_value([1.0, 1.0, 1.0], x), ft.Tensor)
    assert isinstance(TENSORS.zeros((2,), np.float64), ft.Tensor)
    assert TENSORS.result(x) is x
    assert TENSORS.has_shape(x, (3,)) and TENSORS.leading_extra(b, (3,)) == 1


# --- the two sweeps agree on every op --------------------------------------------


def _cases():
    out = []
    for spec in OP_SPECS:
        if not spec.differentiable or spec.order < 2:
            continue  # first-order-only ops refuse an outer tape (their VJPs say why)
        for shapes, attrs in list(spec.samples())[:PER_SPEC]:
            out.append(pytest.param(spec, shapes, attrs,
                                    id=f"{spec.label}-{shapes}-{attrs}".replace(" ", "")))
    return out


def _setup(spec, shapes, attrs):
    case_id = f"{spec.label}-{shapes}-{attrs}"
    args = spec.make_args(shapes, attrs, seed=zlib.crc32(case_id.encode()))
    xs = [ft.constant(a) for a in args]
    floats = [x for x in xs if x.dtype.kind == "f"]
    return xs, floats


def _leaves(out):
    return [t for t in nest.flatten(out) if isinstance(t, ft.Tensor) and t.dtype.kind == "f"]


def _sweep(spec, attrs, xs, floats, seeds_for, *, higher, jacobian=False):
    """Gradients of the op (with the given cotangents) or the Jacobian of its first
    float output, from a sweep run with (higher) or without an outer recording tape."""
    outer = ft.GradientTape(persistent=True)
    with ft.GradientTape() as inner:
        inner.watch(floats)
        leaves = _leaves(spec.fn(*xs, **attrs))
    if not leaves:
        return None, None, outer
    if higher:
        seeds = None if jacobian else seeds_for(leaves)
        outer.watch(floats)
        if seeds:
            outer.watch(seeds)  # every VJP result depends on them: all are recorded
        with outer:
            res = (inner.jacobian(leaves[0], floats) if jacobian
                   else inner.gradient(leaves, floats, output_gradients=seeds))
    else:
        res = (inner.jacobian(leaves[0], floats) if jacobian
               else inner.gradient(leaves, floats, output_gradients=seeds_for(leaves)))
    return leaves, res, outer


def _assert_same(spec, raw, rec, what):
    assert len(raw) == len(rec)
    for k, (a, b) in enumerate(zip(raw, rec, strict=True)):
        assert (a is None) == (b is None), f"{spec.label} {what} {k}: {a!r} vs {b!r}"
        if a is None:
            continue
        assert isinstance(a, ft.Tensor) and isinstance(b, ft.Tensor)
        assert a.shape == b.shape and a.dtype == b.dtype, (
            f"{spec.label} {what} {k}: raw {a.shape} {a.dtype}, recorded {b.shape} {b.dtype}")
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=f"{spec.label} {what} {k}")


@pytest.mark.parametrize("spec, shapes, attrs", _cases())
def test_raw_and_recorded_sweeps_agree(spec, shapes, attrs):
    xs, floats = _setup(spec, shapes, attrs)
    if not floats:
        pytest.skip("no float argument")
    rng = np.random.default_rng(zlib.crc32(spec.label.encode()))

    def seeds_for(leaves):
        return [ft.constant(rng.standard_normal(t.shape).astype(t.dtype)) for t in leaves]

    state = rng.bit_generator.state
    _, raw, _ = _sweep(spec, attrs, xs, floats, seeds_for, higher=False)
    if raw is None:
        pytest.skip("no float output")
    rng.bit_generator.state = state  # the same cotangents for both sweeps
    _, rec, outer = _sweep(spec, attrs, xs, floats, seeds_for, higher=True)
    _assert_same(spec, raw, rec, "gradient")
    # only the higher-order sweep records: its results are followed by the outer tape
    connected = [g for g in rec if g is not None]
    assert connected
    untracked = [k for k, g in enumerate(rec) if g is not None and not outer._tracks(g)]
    assert not untracked, (
        f"{spec.label}: the higher-order sweep did not record the gradients of {untracked}")


@pytest.mark.parametrize("spec, shapes, attrs", _cases())
def test_raw_and_recorded_batched_sweeps_agree(spec, shapes, attrs):
    xs, floats = _setup(spec, shapes, attrs)
    if not floats:
        pytest.skip("no float argument")
    leaves = _leaves(spec.fn(*xs, **attrs))
    if not leaves or not 0 < leaves[0].size <= JACOBIAN_MAX:
        pytest.skip("no small float output")
    _, raw, _ = _sweep(spec, attrs, xs, floats, None, higher=False, jacobian=True)
    _, rec, _ = _sweep(spec, attrs, xs, floats, None, higher=True, jacobian=True)
    _assert_same(spec, raw, rec, "jacobian")


# --- the per-entry step without a tape (a graph walker's model) ---------------------


def _op_calls():
    """(op, input values, attrs, the spec's order) of the differentiable op
    calls that op_db samples make, forward and backward (a few samples per
    spec), each op at most PER_SPEC times."""
    seen, out = {}, []
    for spec in OP_SPECS:
        if not spec.differentiable:
            continue
        for k, (shapes, attrs) in enumerate(spec.samples()):
            args = spec.make_args(shapes, attrs, seed=0)
            calls = []
            # the forward and its backward passes (VJP-only ops): the first
            # sample to second order, when the op has one
            second = k == 0 and spec.order >= 2
            with observe_forwards(calls), ft.GradientTape() as outer:
                xs = [ft.constant(a) for a in args]
                fs = [x for x in xs if x.dtype.kind == "f"]
                outer.watch(fs)
                with ft.GradientTape() as tape:
                    tape.watch(fs)
                    ys = [t for t in nest.flatten(spec.fn(*xs, **attrs)) if t.dtype.kind == "f"]
                # watched seeds: the second order reaches the VJPs of every VJP input
                seeds = [ft.constant(np.ones(t.shape, t.dtype)) for t in ys]
                outer.watch(seeds)
                with outer.stop_recording() if not second else contextlib.nullcontext():
                    grads = [g for g in tape.gradient(ys, fs, output_gradients=seeds)
                             if g is not None] if ys else []
            if second and grads:
                with observe_forwards(calls):
                    outer.gradient(grads, fs + seeds)
            for op, ins, op_attrs, _ in calls:
                if not op.differentiable or seen.get(op.name, 0) >= PER_SPEC:
                    continue
                if not any(isinstance(x, np.ndarray) and x.dtype.kind == "f" for x in ins):
                    continue
                seen[op.name] = seen.get(op.name, 0) + 1
                out.append(pytest.param(op, ins, op_attrs, spec.order,
                                        id=f"{op.name}-{seen[op.name]}-{spec.label}"))
    return out


@pytest.mark.parametrize("recorded", [False, True], ids=["raw", "recorded"])
@pytest.mark.parametrize("op, ins, attrs, order", _op_calls())
def test_node_step_without_a_tape_matches_the_tape(op, ins, attrs, order, recorded):
    """_Sweep.node() fed from values (as a graph walker will feed it from a
    node) gives the tape's gradients for every differentiable op of the table."""
    if recorded and order < 2:
        pytest.skip("a first-order-only op refuses an outer tape")
    xs = [ft.constant(x) if isinstance(x, np.ndarray) and x.dtype.kind == "f" else x
          for x in ins]
    floats = [x for x in xs if isinstance(x, ft.Tensor)]
    with ft.GradientTape() as tape:
        tape.watch(floats)
        out = op.apply(xs, attrs)
    outs = [out] if op.n_out == 1 else list(out)
    rng = np.random.default_rng(zlib.crc32(op.name.encode()))
    gs = [ft.constant(rng.standard_normal(o.shape).astype(o.dtype)) if o.dtype.kind == "f"
          else None for o in outs]
    fl = [(o, g) for o, g in zip(outs, gs, strict=True) if g is not None]
    want = tape.gradient([o for o, _ in fl], floats, output_gradients=[g for _, g in fl])
    outer = ft.GradientTape()
    if recorded:
        with outer:
            got = _core._node_gradients(op, xs, tuple(attrs), outs, gs, True)
    else:
        got = _core._node_gradients(op, xs, tuple(attrs), outs, gs, False)
    got = [g for x, g in zip(xs, got, strict=True) if isinstance(x, ft.Tensor)]
    _assert_same_values(op.name, want, got)


def test_node_step_cases_cover_every_differentiable_op():
    covered = {p.values[0].name for p in _op_calls()}
    missing = [op.name for op in _core.registered_ops()
               if op.differentiable and op.family != "custom" and op.name not in covered]
    assert not missing, f"no op_db sample calls {missing}"


def _assert_same_values(name, want, got):
    for k, (a, b) in enumerate(zip(want, got, strict=True)):
        assert (a is None) == (b is None), f"{name} input {k}: tape {a!r}, node {b!r}"
        if a is not None:
            assert a.shape == b.shape and a.dtype == b.dtype, f"{name} input {k}"
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name} input {k}")


def test_node_gradients_checks_its_output_gradients():
    x = ft.constant([1.0, 2.0])
    op = ft.sin.op
    with pytest.raises(ValueError, match="sin: 2 output gradients for 1 outputs"):
        _core._node_gradients(op, [x], (), [ft.sin(x)], [None, None])


# --- the symbolic space (Note [Unknown dims in VJPs]) --------------------------------

SYMBOLIC = _core._space_for_testing("symbolic")


def test_symbolic_space_stages_nodes_and_compares_static_shapes():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 3))
        k = ft.placeholder(ft.float32, (4, 3))
        assert SYMBOLIC.arg(x) is x and SYMBOLIC.shape(x) == (None, 3)
        assert SYMBOLIC.dtype_num(x) == np.dtype(np.float32).num
        # unknown is never known to match...
        assert not SYMBOLIC.has_shape(x, (None, 3)) and not SYMBOLIC.has_shape(x, (4, 3))
        assert SYMBOLIC.has_shape(k, (4, 3)) and not SYMBOLIC.has_shape(k, (None, 3))
        # ...except for a slot's value, which has its tensor's run-time dims
        assert SYMBOLIC.slot_full(x, (None, 3)) and not SYMBOLIC.slot_full(x, (4, 3))
        assert SYMBOLIC.leading_extra(k, (3,)) == 1 and SYMBOLIC.leading_extra(x, (None,)) == 0
        s, _ = SYMBOLIC.add(x, k, False)
        r = SYMBOLIC.sum_axes(x, (0,), (3,))
        kept = SYMBOLIC.sum_axes(SYMBOLIC.broadcast_to(k, (2, 4, 3)), (0, 2), (None, 1))
        c = SYMBOLIC.cast(r, np.float64)
        seed = SYMBOLIC.ones_seed(x)
    for t in (s, r, kept, c, seed):
        assert _core.is_symbolic(t) and t.graph is g
    assert r.shape == (3,) and kept.shape == (4, 1) and c.dtype == np.float64
    assert seed.shape == (None, 3)  # ones_like: the target's run-time shape
    sess = ft.Session(graph=g)
    kv = np.arange(12.0, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(sess.run(kept, {k: kv}), 2 * kv.sum(1, keepdims=True))


def test_symbolic_shape_args_mark_unknown_dims():
    shape = SYMBOLIC.shape_arg((None, 3))
    assert len(shape) == 2 and shape[1] == 3 and type(shape[1]) is int
    unknown = shape[0]
    for use in (lambda d: d + 1, lambda d: d * 2, lambda d: int(d), lambda d: d > 0,
                lambda d: np.zeros(d), lambda d: [0, 1][d], lambda d: d == 4):
        with pytest.raises(Exception) as info:  # noqa: PT011 (NumPy may rewrap it)
            use(unknown)
        assert isinstance(info.value, (_core.UnknownDimError, TypeError))
    assert SYMBOLIC.shape_arg((2, 3)) == (2, 3)
    with pytest.raises(_core.UnknownDimError):
        SYMBOLIC.zeros((None, 3), np.float32)
    with pytest.raises(_core.UnknownDimError):
        SYMBOLIC.broadcast_to(ft.constant([1.0]), (None, 3))
