"""GradientTape basics (SPEC section 3): watching, nested targets and sources,
output gradients, unconnected gradients, persistence, stop_recording, reset,
stop_gradient, broadcasting, dtypes and higher-order gradients."""

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import fasttape as ft


def _c(x, dtype=np.float32):
    return ft.constant(np.asarray(x, dtype=dtype))


# ----------------------------------------------------------------- watching


def test_watch_a_tensor():
    x = _c(3.0)
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    g = tape.gradient(y, x)
    assert isinstance(g, ft.Tensor)
    assert float(g) == 6.0


def test_unwatched_constant_is_not_recorded():
    x = _c([1.0, 2.0])
    with ft.GradientTape() as tape:
        y = x * x
    assert tape.gradient(y, x) is None


def test_unwatched_source_gets_none_even_next_to_a_watched_one():
    # as TensorFlow: only watched tensors (and accessed trainable variables) get gradients
    x = _c([1.0, 2.0])
    c = _c([3.0, 4.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = x * c
    gx, gc = tape.gradient(y, [x, c])
    np.testing.assert_array_equal(gx.numpy(), [3.0, 4.0])
    assert gc is None


def test_watch_nested_structures():
    a, b, c, d = _c(1.0), _c([2.0, 3.0]), _c(4.0), _c([[5.0]])
    with ft.GradientTape() as tape:
        tape.watch([a, (b, {"c": c, "d": [d]})])
        y = a * 2.0 + ft.reduce_sum(b * 3.0) + c * c + ft.reduce_sum(d)
    ga, gb, gc, gd = tape.gradient(y, [a, b, c, d])
    assert float(ga) == 2.0
    np.testing.assert_array_equal(gb.numpy(), [3.0, 3.0])
    assert float(gc) == 8.0
    np.testing.assert_array_equal(gd.numpy(), [[1.0]])


def test_watch_rejects_non_tensors():
    with ft.GradientTape() as tape:
        with pytest.raises(TypeError):
            tape.watch([_c(1.0), 3.0])
        with pytest.raises(TypeError):
            tape.watch(np.ones(2))


def test_watch_ignores_integer_tensors():
    i = ft.constant([1, 2])
    with ft.GradientTape() as tape:
        tape.watch(i)  # no error
        y = i * 2
    assert tape.gradient(y, i) is None


def test_watch_after_use_does_not_record_earlier_ops():
    x = _c(2.0)
    with ft.GradientTape(persistent=True) as tape:
        y = x * x  # x is not watched yet: not recorded
        tape.watch(x)
        z = x * 3.0
        s = y + z
    assert tape.gradient(y, x) is None
    assert float(tape.gradient(s, x)) == 3.0


# ---------------------------------------------------- targets and sources


def test_nested_targets_are_summed():
    x = _c([1.0, 2.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        t1 = x * 2.0
        t2 = ft.reduce_sum(x * x)
        t3 = x * 5.0
    g = tape.gradient([t1, {"a": t2, "b": (t3,)}], x)
    np.testing.assert_allclose(g.numpy(), 2.0 + 2 * x.numpy() + 5.0)


def test_target_list_equals_sum_of_targets():
    x = _c([0.5, -1.0, 2.0])
    with ft.GradientTape(persistent=True) as tape:
        tape.watch(x)
        a = ft.sin(x)
        b = x * x
        s = ft.reduce_sum(a) + ft.reduce_sum(b)
    g_list = tape.gradient([a, b], x)
    g_sum = tape.gradient(s, x)
    np.testing.assert_allclose(g_list.numpy(), g_sum.numpy(), rtol=1e-6)


def test_nested_sources_mirror_their_structure():
    a, b, c = _c(1.0), _c([2.0, 3.0]), _c(4.0)
    with ft.GradientTape() as tape:
        tape.watch([a, b, c])
        y = a * 10.0 + ft.reduce_sum(b * b) + c
    g = tape.gradient(y, {"first": a, "rest": [b, (c,)]})
    assert isinstance(g, dict) and set(g) == {"first", "rest"}
    assert isinstance(g["rest"], list) and isinstance(g["rest"][1], tuple)
    assert float(g["first"]) == 10.0
    np.testing.assert_array_equal(g["rest"][0].numpy(), [4.0, 6.0])
    assert float(g["rest"][1][0]) == 1.0


def test_sources_as_tuple_and_single_element_list():
    x = _c(2.0)
    with ft.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
    g = tape.gradient(y, (x,))
    assert isinstance(g, tuple) and len(g) == 1 and float(g[0]) == 4.0
    g = tape.gradient(y, [x])
    assert isinstance(g, list) and float(g[0]) == 4.0
    g = tape.gradient(y, {"x": x})
    assert float(g["x"]) == 4.0


def test_same_source_twice():
    x = _c(3.0)
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    g1, g2 = tape.gradient(y, [x, x])
    assert float(g1) == 6.0 and float(g2) == 6.0


def test_gradient_with_respect_to_intermediate():
    x = _c([1.0, 2.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        h = x * 3.0
        y = ft.reduce_sum(h * h)
    gh = tape.gradient(y, h)
    np.testing.assert_allclose(gh.numpy(), 2 * h.numpy())


def test_target_is_source():
    x = _c([1.0, 2.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
    g = tape.gradient(x, x)
    np.testing.assert_array_equal(g.numpy(), [1.0, 1.0])


def test_gradient_rejects_non_tensor_sources_and_targets():
    x = _c(1.0)
    with ft.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * 2.0
    with pytest.raises(TypeError):
        tape.gradient(y, [x, 1.0])
    with pytest.raises(TypeError):
        tape.gradient(3.0, x)


def test_output_gradients():
    x = _c([1.0, 2.0, 3.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    g = tape.gradient(y, x, output_gradients=_c([1.0, 10.0, 100.0]))
    np.testing.assert_allclose(g.numpy(), 2 * x.numpy() * [1.0, 10.0, 100.0])


def test_output_gradients_nested_and_as_arrays():
    x = _c([1.0, 2.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        a = x * 2.0
        b = x * 3.0
    g = tape.gradient(
        [a, b], x, output_gradients=[np.array([1.0, 0.0], np.float32), _c([0.0, 1.0])]
    )
    np.testing.assert_allclose(g.numpy(), [2.0, 3.0])


def test_output_gradients_count_mismatch_raises():
    x = _c([1.0, 2.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        a = x * 2.0
    with pytest.raises(ValueError):
        tape.gradient(a, x, output_gradients=[_c([1.0, 1.0]), _c([1.0, 1.0])])


def test_output_gradients_shape_mismatch_raises():
    x = _c([1.0, 2.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        a = x * 2.0
    with pytest.raises(ValueError):
        tape.gradient(a, x, output_gradients=_c([1.0, 1.0, 1.0]))


# ---------------------------------------------------- unconnected gradients


def test_unconnected_gradients_none_by_default():
    x, z = _c([1.0, 2.0]), _c([3.0])
    with ft.GradientTape() as tape:
        tape.watch([x, z])
        y = x * 2.0
    gx, gz = tape.gradient(y, [x, z])
    np.testing.assert_array_equal(gx.numpy(), [2.0, 2.0])
    assert gz is None


def test_unconnected_gradients_explicit_none():
    x, z = _c([1.0, 2.0]), _c([3.0])
    with ft.GradientTape() as tape:
        tape.watch([x, z])
        y = x * 2.0
    _, gz = tape.gradient(y, [x, z], unconnected_gradients=ft.UnconnectedGradients.NONE)
    assert gz is None


@pytest.mark.parametrize("zero", [ft.UnconnectedGradients.ZERO, "zero"])
def test_unconnected_gradients_zero(zero):
    x = _c([1.0, 2.0])
    z = ft.constant(np.ones((2, 3), np.float64))
    with ft.GradientTape() as tape:
        tape.watch([x, z])
        y = x * 2.0
    gx, gz = tape.gradient(y, [x, z], unconnected_gradients=zero)
    np.testing.assert_array_equal(gx.numpy(), [2.0, 2.0])
    assert isinstance(gz, ft.Tensor)
    assert gz.shape == (2, 3) and gz.dtype == ft.float64
    np.testing.assert_array_equal(gz.numpy(), np.zeros((2, 3)))


def test_unconnected_variable_zero():
    v = ft.Variable([1.0, 2.0])
    u = ft.Variable([3.0])
    with ft.GradientTape() as tape:
        y = v * 2.0
    gv, gu = tape.gradient(y, [v, u], unconnected_gradients=ft.UnconnectedGradients.ZERO)
    np.testing.assert_array_equal(gu.numpy(), [0.0])


def test_unconnected_gradients_bad_value_raises():
    x = _c(1.0)
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = x * 2.0
    with pytest.raises(ValueError):
        tape.gradient(y, x, unconnected_gradients="sometimes")


# -------------------------------------------------------------- persistence


def test_non_persistent_second_gradient_raises():
    x = _c(2.0)
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    tape.gradient(y, x)
    with pytest.raises(RuntimeError, match="persistent=True"):
        tape.gradient(y, x)


def test_non_persistent_tape_cannot_be_reentered_after_gradient():
    x = _c(2.0)
    tape = ft.GradientTape()
    with tape:
        tape.watch(x)
        y = x * x
    tape.gradient(y, x)
    with pytest.raises(RuntimeError, match="persistent=True"):
        with tape:
            pass


def test_persistent_tape_gives_several_gradients():
    x = _c([1.0, 2.0])
    v = ft.Variable([3.0, 4.0])
    with ft.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        z = x * v
        w = ft.reduce_sum(z) * 2.0
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(tape.gradient(z, x).numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(tape.gradient(z, v).numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(tape.gradient(w, [x, v])[1].numpy(), [2.0, 4.0])
    # the same gradient twice gives the same result
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [2.0, 4.0])


def test_persistent_tape_reentered_keeps_recording():
    x = _c(2.0)
    tape = ft.GradientTape(persistent=True)
    with tape:
        tape.watch(x)
        y = x * x
    assert float(tape.gradient(y, x)) == 4.0
    with tape:
        z = y * x
    assert float(tape.gradient(z, x)) == 12.0


def test_tape_properties():
    assert ft.GradientTape().persistent is False
    assert ft.GradientTape(persistent=True).persistent is True
    assert ft.GradientTape().watch_accessed_variables is True
    assert ft.GradientTape(watch_accessed_variables=False).watch_accessed_variables is False


# --------------------------------------------------- stop_recording, reset


def test_stop_recording():
    x = _c([1.0, 2.0])
    with ft.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
        with tape.stop_recording():
            z = x * 3.0
            zz = y * 2.0
        w = x * 5.0
    assert tape.gradient(z, x) is None
    assert tape.gradient(zz, x) is None
    np.testing.assert_array_equal(tape.gradient(w, x).numpy(), [5.0, 5.0])
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [2.0, 4.0])


def test_stop_recording_affects_only_its_tape():
    x = _c(2.0)
    with ft.GradientTape() as outer:
        outer.watch(x)
        with ft.GradientTape() as inner:
            inner.watch(x)
            with inner.stop_recording():
                y = x * x
    assert inner.gradient(y, x) is None
    assert float(outer.gradient(y, x)) == 4.0


def test_stop_recording_restores_on_exception():
    x = _c(2.0)
    with ft.GradientTape() as tape:
        tape.watch(x)
        with pytest.raises(ZeroDivisionError):
            with tape.stop_recording():
                _ = 1 / 0
        y = x * x
    assert float(tape.gradient(y, x)) == 4.0


def test_reset():
    v = ft.Variable([1.0, 2.0])
    with ft.GradientTape() as tape:
        loss = ft.reduce_sum(v * v)
        tape.reset()
        loss = loss + ft.reduce_sum(v * 3.0)
    # only what was recorded after reset() contributes (as a new tape would)
    np.testing.assert_array_equal(tape.gradient(loss, v).numpy(), [3.0, 3.0])


def test_reset_forgets_watched_tensors():
    x = _c(2.0)
    with ft.GradientTape() as tape:
        tape.watch(x)
        tape.reset()
        y = x * x
    assert tape.gradient(y, x) is None
    assert tape.watched_variables() == ()


def test_reset_makes_a_used_tape_usable():
    x = _c(2.0)
    tape = ft.GradientTape()
    with tape:
        tape.watch(x)
        y = x * x
    tape.gradient(y, x)
    tape.reset()
    with tape:
        tape.watch(x)
        y = x * 3.0
    assert float(tape.gradient(y, x)) == 3.0


def test_watched_variables():
    a = ft.Variable(1.0, name="a")
    b = ft.Variable(2.0, name="b")
    c = ft.Variable(3.0, name="c", trainable=False)
    d = ft.Variable(4.0, name="d")
    with ft.GradientTape() as tape:
        y = b * a + c
        y = y * a * b  # read again: listed once
        tape.watch(d)
    watched = tape.watched_variables()
    assert isinstance(watched, tuple)
    assert [v.name for v in watched] == ["b:0", "a:0", "d:0"]
    for v in watched:
        assert isinstance(v, ft.Variable)


def test_watched_variables_empty_without_variables():
    x = _c(1.0)
    with ft.GradientTape() as tape:
        tape.watch(x)
        x * 2.0
    assert tape.watched_variables() == ()


# ----------------------------------------------------------- stop_gradient


def test_stop_gradient():
    x = _c([1.0, 2.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = ft.stop_gradient(x * x) * x
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [1.0, 4.0])


def test_stop_gradient_alone_gives_none():
    x = _c([1.0, 2.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = ft.stop_gradient(x)
    assert tape.gradient(y, x) is None
    np.testing.assert_array_equal(y.numpy(), x.numpy())


# ------------------------------------------------------------- broadcasting


@pytest.mark.parametrize(
    "shape_a, shape_b",
    [
        ((3, 4), (4,)),
        ((3, 4), (3, 1)),
        ((3, 4), (1, 4)),
        ((3, 1), (1, 4)),
        ((2, 3, 4), (3, 1)),
        ((2, 1, 4), (3, 1)),
        ((3, 4), (1,)),
        ((3, 4), ()),
        ((), (2, 2)),
        ((1, 1), (2, 3)),
    ],
)
def test_broadcasting_gradients_are_summed_back_to_shape(shape_a, shape_b):
    rng = np.random.default_rng(0)
    a = rng.normal(size=shape_a).astype(np.float32)
    b = rng.normal(size=shape_b).astype(np.float32)
    ta, tb = ft.constant(a), ft.constant(b)
    with ft.GradientTape() as tape:
        tape.watch([ta, tb])
        y = ta * tb + ta
    ga, gb = tape.gradient(y, [ta, tb])
    assert ga.shape == shape_a and gb.shape == shape_b
    out_shape = np.broadcast_shapes(shape_a, shape_b)
    ones = np.ones(out_shape, np.float32)
    exp_a = np.sum(ones * b + 1.0, axis=tuple(range(len(out_shape) - len(shape_a))))
    exp_b = np.sum(ones * a, axis=tuple(range(len(out_shape) - len(shape_b))))
    exp_a = np.sum(exp_a, axis=tuple(i for i, d in enumerate(shape_a) if d == 1), keepdims=True)
    exp_b = np.sum(exp_b, axis=tuple(i for i, d in enumerate(shape_b) if d == 1), keepdims=True)
    np.testing.assert_allclose(ga.numpy(), exp_a.reshape(shape_a), rtol=1e-5)
    np.testing.assert_allclose(gb.numpy(), exp_b.reshape(shape_b), rtol=1e-5)


def test_broadcasting_with_a_scalar_variable():
    w = ft.Variable(2.0)
    x = _c([1.0, 2.0, 3.0])
    with ft.GradientTape() as tape:
        y = ft.reduce_sum(w * x + w)
    g = tape.gradient(y, w)
    assert g.shape == ()
    assert float(g) == 9.0


# ------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_gradient_dtype_equals_source_dtype(dtype):
    x = ft.constant(np.array([0.5, 1.5], dtype))
    v = ft.Variable(np.array([[1.0], [2.0]], dtype))
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = ft.reduce_sum(ft.exp(x) * v) + ft.reduce_mean(x * 2.0)
    gx, gv = tape.gradient(y, [x, v])
    assert gx.dtype == np.dtype(dtype)
    assert gv.dtype == np.dtype(dtype)
    assert gx.shape == (2,) and gv.shape == (2, 1)


def test_gradient_of_float32_is_float32_through_reductions_and_matmul():
    x = _c(np.ones((3, 4)))
    w = ft.Variable(np.ones((4, 2), np.float32))
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = ft.reduce_mean(ft.tanh(x @ w)) + ft.reduce_max(x)
    gx, gw = tape.gradient(y, [x, w])
    assert gx.dtype == ft.float32 and gw.dtype == ft.float32


def test_output_gradient_seed_of_ones_has_target_dtype():
    x = ft.constant(np.array([1.0, 2.0], np.float64))
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = x * 2.0
    g = tape.gradient(y, x)
    assert g.dtype == ft.float64


# -------------------------------------------------------- higher order


@pytest.mark.parametrize(
    "f, d1, d2",
    [
        (lambda x: x**3, lambda x: 3 * x**2, lambda x: 6 * x),
        (lambda x: ft.sin(x), np.cos, lambda x: -np.sin(x)),
        (lambda x: ft.exp(2.0 * x), lambda x: 2 * np.exp(2 * x), lambda x: 4 * np.exp(2 * x)),
        (lambda x: ft.log(x), lambda x: 1 / x, lambda x: -1 / x**2),
        (
            lambda x: x * ft.tanh(x),
            lambda x: np.tanh(x) + x / np.cosh(x) ** 2,
            lambda x: 2 / np.cosh(x) ** 2 - 2 * x * np.tanh(x) / np.cosh(x) ** 2,
        ),
        (lambda x: 1.0 / x, lambda x: -1 / x**2, lambda x: 2 / x**3),
        (lambda x: ft.sqrt(x), lambda x: 0.5 / np.sqrt(x), lambda x: -0.25 * x**-1.5),
    ],
)
def test_nested_tapes_second_order(f, d1, d2):
    xv = np.array([0.5, 1.25, 2.0], np.float64)
    x = ft.constant(xv)
    with ft.GradientTape() as outer:
        outer.watch(x)
        with ft.GradientTape() as inner:
            inner.watch(x)
            y = f(x)
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    np.testing.assert_allclose(dy.numpy(), d1(xv), rtol=1e-10)
    np.testing.assert_allclose(d2y.numpy(), d2(xv), rtol=1e-10)


def test_nested_tapes_mixed_second_derivative():
    x = ft.constant(np.float64(1.5))
    y = ft.constant(np.float64(-0.5))
    with ft.GradientTape() as outer:
        outer.watch([x, y])
        with ft.GradientTape() as inner:
            inner.watch([x, y])
            f = x * x * y + ft.sin(x * y)
        gx = inner.gradient(f, x)
    dxy = outer.gradient(gx, y)
    xv, yv = 1.5, -0.5
    # d/dy (2xy + y cos(xy)) = 2x + cos(xy) - xy sin(xy)
    expected = 2 * xv + np.cos(xv * yv) - xv * yv * np.sin(xv * yv)
    np.testing.assert_allclose(float(dxy), expected, rtol=1e-10)


def test_nested_tapes_with_variables_and_matmul():
    w = ft.Variable(np.array([[1.0, 2.0], [3.0, 4.0]]))
    x = ft.constant(np.array([[0.5, -1.0]]))
    with ft.GradientTape() as outer:
        with ft.GradientTape() as inner:
            y = ft.reduce_sum((x @ w) ** 2)
        g = inner.gradient(y, w)
        gn = ft.reduce_sum(g * g)
    h = outer.gradient(gn, w)
    # y = |x w|^2, so g = 2 A w with A = x^T x; gn = 4 |A w|^2, so dgn/dw = 8 A^T A w
    xv, wv = x.numpy(), w.numpy()
    A = xv.T @ xv
    np.testing.assert_allclose(g.numpy(), 2 * A @ wv, rtol=1e-12)
    np.testing.assert_allclose(h.numpy(), 8 * A.T @ (A @ wv), rtol=1e-12)


def test_third_order():
    x = ft.constant(np.float64(0.7))
    with ft.GradientTape() as t3:
        t3.watch(x)
        with ft.GradientTape() as t2:
            t2.watch(x)
            with ft.GradientTape() as t1:
                t1.watch(x)
                y = x**4
            d1 = t1.gradient(y, x)
        d2 = t2.gradient(d1, x)
    d3 = t3.gradient(d2, x)
    np.testing.assert_allclose(float(d3), 24 * 0.7, rtol=1e-10)


def test_persistent_outer_tape_second_order_twice():
    x = ft.constant(np.array([1.0, 2.0]))
    with ft.GradientTape(persistent=True) as outer:
        outer.watch(x)
        with ft.GradientTape() as inner:
            inner.watch(x)
            y = ft.reduce_sum(x**3)
        g = inner.gradient(y, x)
        g0 = g[0]
    np.testing.assert_allclose(outer.gradient(g, x).numpy(), 6 * x.numpy())
    np.testing.assert_allclose(outer.gradient(g0, x).numpy(), [6.0, 0.0])


def test_gradient_inside_own_context_records_the_backward_ops():
    x = ft.constant(np.float64(0.3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with ft.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = ft.sin(x)
            dy = tape.gradient(y, x)
        d2 = tape.gradient(dy, x)
    np.testing.assert_allclose(float(dy), np.cos(0.3))
    np.testing.assert_allclose(float(d2), -np.sin(0.3))


def test_gradient_inside_own_context_warns_once():
    # a fresh process: the warning is emitted once per process
    code = textwrap.dedent(
        """
        import warnings
        import fasttape as ft
        warnings.simplefilter("always")
        x = ft.constant(2.0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(3):
                with ft.GradientTape() as tape:
                    tape.watch(x)
                    y = x * x
                    g = tape.gradient(y, x)
                assert float(g) == 4.0
            with ft.GradientTape() as tape:  # outside the context: no warning
                tape.watch(x)
                y = x * x
            tape.gradient(y, x)
        msgs = [str(w.message) for w in caught]
        assert len(msgs) == 1, msgs
        assert "costly" in msgs[0] or "records" in msgs[0], msgs
        print("OK")
        """
    )
    env = dict(os.environ)  # the fasttape this session imports (installed or built in place)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(ft.__file__)))
    env["PYTHONPATH"] = package_root + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK" in r.stdout


def test_gradient_outside_the_context_does_not_warn():
    x = _c(2.0)
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tape.gradient(y, x)


# ---------------------------------------------------- nesting and scoping


def test_inner_tape_records_nothing_from_before_it_started():
    x = _c(2.0)
    with ft.GradientTape(persistent=True) as outer:
        outer.watch(x)
        y = x * x
        with ft.GradientTape(persistent=True) as inner:
            inner.watch(x)
            z = x * 3.0
        s = y + z
    assert inner.gradient(y, x) is None  # y was computed before inner started
    assert float(inner.gradient(z, x)) == 3.0
    assert float(outer.gradient(s, x)) == 7.0


def test_ops_after_the_context_are_not_recorded():
    x = _c(2.0)
    with ft.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * x
    z = y * 3.0
    assert tape.gradient(z, x) is None
    assert float(tape.gradient(y, x)) == 4.0


def test_exception_inside_the_context_pops_the_tape():
    from fasttape._core import _testing

    x = _c(2.0)
    with pytest.raises(KeyError):
        with ft.GradientTape() as tape:
            tape.watch(x)
            raise KeyError("boom")
    # the thread's stack is empty again
    assert _testing.tls_push_pop_roundtrip(3) == (3, 0)
    y = x * x
    assert y is not None


def test_simple_mlp_gradients_against_numpy():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5, 4))
    W1 = ft.Variable(rng.normal(size=(4, 3)))
    b1 = ft.Variable(rng.normal(size=(3,)))
    W2 = ft.Variable(rng.normal(size=(3, 1)))
    with ft.GradientTape() as tape:
        h = ft.tanh(ft.constant(X) @ W1 + b1)
        out = h @ W2
        loss = ft.reduce_mean(out * out)
    gW1, gb1, gW2 = tape.gradient(loss, [W1, b1, W2])
    # hand-derived NumPy reference
    w1, bb1, w2 = W1.numpy(), b1.numpy(), W2.numpy()
    hv = np.tanh(X @ w1 + bb1)
    o = hv @ w2
    do = 2 * o / o.size
    dw2 = hv.T @ do
    dh = do @ w2.T
    dz = dh * (1 - hv**2)
    np.testing.assert_allclose(gW2.numpy(), dw2, rtol=1e-10)
    np.testing.assert_allclose(gW1.numpy(), X.T @ dz, rtol=1e-10)
    np.testing.assert_allclose(gb1.numpy(), dz.sum(0), rtol=1e-10)
