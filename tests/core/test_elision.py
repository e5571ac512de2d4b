"""Temporary elision (Note [Temporary elision] in fasttape/_core/_dispatch.pxi):
an operator may write its result into a temporary input's buffer, and never
into a buffer anyone else can see."""

import operator
import weakref

import numpy as np

import fasttape as ft
from fasttape._core import core

N = 512  # (512, 512) float32 = 1 MiB: over the 256 KiB threshold


def _data(seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.5, 2.0, (N, N)).astype(dtype) for _ in range(2)]


def _count():
    return core.elision_count()


def test_temporary_operand_is_reused_and_the_result_is_right():
    xa, wa = _data()
    x, w, b = ft.constant(xa), ft.constant(wa), ft.constant(np.ones(N, np.float32))
    c0 = _count()
    z = x * w + b  # x * w is a temporary: + writes into its buffer
    assert _count() == c0 + 1
    np.testing.assert_array_equal(z.numpy(), xa * wa + 1)
    np.testing.assert_array_equal(x.numpy(), xa)
    np.testing.assert_array_equal(w.numpy(), wa)


def test_small_arrays_are_not_elided():
    x = ft.constant(np.ones((10, 10), np.float32))
    c0 = _count()
    _ = x * 2.0 + 1.0
    assert _count() == c0


def test_a_tensor_held_elsewhere_is_never_overwritten():
    xa, wa = _data()
    x, w = ft.constant(xa), ft.constant(wa)
    t = x * w
    before = t.numpy().copy()
    c0 = _count()
    z = t + 1.0
    assert _count() == c0
    np.testing.assert_array_equal(t.numpy(), before)
    np.testing.assert_array_equal(z.numpy(), before + 1)


def test_views_weakrefs_slices_and_variables_are_never_written():
    xa, wa = _data()
    x, w = ft.constant(xa), ft.constant(wa)
    views, refs = [], []

    def with_view():
        t = x * w
        views.append(t.numpy())  # the user holds a view of its buffer
        return t

    def with_weakref():
        t = x * w
        refs.append(weakref.ref(t))
        return t

    c0 = _count()
    _ = with_view() + 1.0
    np.testing.assert_array_equal(views[0], xa * wa)
    _ = with_weakref() + 1.0
    big = x * w
    _ = big[:N // 2] + 1.0  # a slice is a view of big's buffer
    np.testing.assert_array_equal(big.numpy(), xa * wa)
    v = ft.Variable(xa)
    _ = v + 1.0
    _ = v.read_value() + 1.0  # a snapshot shares the variable's array
    np.testing.assert_array_equal(v.numpy(), xa)
    assert _count() == c0


def test_c_callers_with_borrowed_references_never_elide():
    # operator.add is C code called by a CALL instruction: its arguments could
    # be borrowed references it uses again, so it must not elide
    xa, wa = _data()
    x, w = ft.constant(xa), ft.constant(wa)
    c0 = _count()
    z = operator.add(x * w, 1.0)
    assert _count() == c0
    np.testing.assert_array_equal(z.numpy(), xa * wa + 1)


def test_dtype_changing_results_are_not_elided():
    a = ft.constant(np.arange(N * N, dtype=np.int32).reshape(N, N))
    c0 = _count()
    z = (a * 1) / 2  # int32 / int -> float64
    assert _count() == c0 and z.dtype == np.float64
    np.testing.assert_array_equal(z.numpy(), np.arange(N * N).reshape(N, N) / 2)


def test_broadcast_into_the_smaller_temporary_is_not_elided():
    xa, _ = _data()
    x = ft.constant(xa)
    row = ft.constant(np.ones((1, N), np.float32) * 3)
    c0 = _count()
    z = (row * 1.0) + x  # the temporary is (1, N), the result (N, N)
    assert _count() == c0
    np.testing.assert_array_equal(z.numpy(), xa + 3)


def test_under_a_tape_results_and_gradients_are_right():
    xa, wa = _data(3, np.float64)
    ba = np.linspace(-1, 1, N)
    x, w, b = ft.constant(xa), ft.Variable(wa), ft.Variable(ba)
    c0 = _count()
    with ft.GradientTape() as tape:
        z = x * w + b  # add saves nothing: elided
        y = -(z * z)  # mul saves its inputs: not elided; negative: elided
        loss = ft.reduce_mean(y * 2.0 - 1.0)  # subtract: elided
    gw, gb = tape.gradient(loss, [w, b])
    assert _count() >= c0 + 3
    zz = xa * wa + ba
    np.testing.assert_allclose(loss.numpy(), np.mean(-2 * zz * zz - 1), rtol=1e-12)
    dz = -4 * zz / zz.size
    np.testing.assert_allclose(gw.numpy(), dz * xa, rtol=1e-12)
    np.testing.assert_allclose(gb.numpy(), dz.sum(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(w.numpy(), wa)


def test_saved_inputs_are_not_overwritten_under_a_tape():
    xa, _ = _data(4, np.float64)
    x = ft.constant(xa)
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = (x * 2.0) ** 2.0  # pow's VJP names x: the temporary is saved
        z = ft.reduce_sum((x + 1.0) * (x + 2.0))  # mul saves both temporaries
        total = ft.reduce_sum(y) + z
    g = tape.gradient(total, x)
    np.testing.assert_allclose(g.numpy(), 8 * xa + (2 * xa + 3), rtol=1e-12)


_OPERATORS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/",
              "floordiv": "//", "mod": "%"}


def test_every_inplace_op_is_a_ufunc_and_operators_elide_correctly():
    ops = {op.name: op for op in core.registered_ops()}
    inplace = [op for op in ops.values() if op.inplace_ufunc]
    assert inplace, "no op declares inplace_ufunc"
    for op in inplace:
        assert isinstance(op.forward, np.ufunc) and op.forward.nout == 1, op.name
    xa, wa = _data(5)
    x, w = ft.constant(xa), ft.constant(wa)
    for name, symbol in _OPERATORS.items():
        if name not in ops or not ops[name].inplace_ufunc:
            continue
        want = ops[name].forward(xa * 1.5, wa)
        c0 = _count()
        # the operator runs on a temporary left operand, from Python code
        got = eval(f"(x * 1.5) {symbol} w")
        assert _count() == c0 + 1, name
        np.testing.assert_array_equal(got.numpy(), want, err_msg=name)
        np.testing.assert_array_equal(x.numpy(), xa)
        np.testing.assert_array_equal(w.numpy(), wa)


def test_unary_operator_elides():
    xa, _ = _data(6)
    x = ft.constant(xa)
    c0 = _count()
    got = -(x * 1.5)
    assert _count() == c0 + 1
    np.testing.assert_array_equal(got.numpy(), -(xa * 1.5))
    np.testing.assert_array_equal(x.numpy(), xa)


def test_family_wrappers_elide_temporaries_only():
    # ft.exp(x * 1.5) passes a temporary through the family wrapper; a named
    # tensor passed the same way is held by the caller too
    xa, wa = _data(7)
    x, w = ft.constant(xa), ft.constant(wa)
    c0 = _count()
    got = ft.exp(x * 0.5)
    assert _count() == c0 + 1
    np.testing.assert_allclose(got.numpy(), np.exp(xa * 0.5), rtol=1e-6)
    got = ft.add(x * 2.0, w)
    assert _count() == c0 + 2
    np.testing.assert_array_equal(got.numpy(), xa * 2 + wa)
    t = x * 2.0
    c1 = _count()
    _ = ft.exp(t)
    _ = ft.add(t, w)
    _ = ft.add(w, t)
    assert _count() == c1
    np.testing.assert_array_equal(t.numpy(), xa * 2)
    # a C caller (map) holds its own reference to each item: never elided
    items = [x * 1.0, x * 3.0]
    list(map(ft.exp, items))
    assert _count() == c1
    np.testing.assert_array_equal(items[1].numpy(), xa * 3)


def test_a_callers_argument_is_not_a_temporary():
    # f's parameter came in as a temporary, but f holds it and uses it again
    xa, _ = _data(8)
    x = ft.constant(xa)

    def f(a):
        return ft.exp(a) + a, -a + a

    c0 = _count()
    (e, z) = f(x * 0.5)
    assert _count() == c0 + 2  # into exp(a) and -a, never into a
    np.testing.assert_allclose(e.numpy(), np.exp(xa * 0.5) + xa * 0.5, rtol=1e-6)
    np.testing.assert_array_equal(z.numpy(), np.zeros_like(xa))
