"""@ft.custom_gradient: replaced gradients, variables, nesting (higher order) and errors."""

import numpy as np
import pytest

import fasttape as ft


@ft.custom_gradient
def clip_gradient(x):
    return ft.identity(x), lambda dy: ft.clip_by_value(dy, -1.0, 1.0)


@ft.custom_gradient
def log1pexp(x):
    e = ft.exp(x)

    def grad(dy):
        return dy * (1 - 1 / (1 + e))

    return ft.log(1 + e), grad


def test_custom_gradient_replaces_the_gradient():
    x = ft.constant([3.0, -0.5])
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = clip_gradient(x) * 5.0
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(y.numpy(), [15.0, -2.5])


def test_custom_gradient_stable_log1pexp():
    x = ft.constant(np.array([0.0, 100.0]))
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = log1pexp(x)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [0.5, 1.0])


def test_custom_gradient_second_order_through_grad_fn():
    x0 = np.array([0.5, -1.0])
    x = ft.constant(x0)
    with ft.GradientTape() as outer:
        outer.watch(x)
        with ft.GradientTape() as inner:
            inner.watch(x)
            y = log1pexp(x)
        g = inner.gradient(y, x)
    h = outer.gradient(g, x)
    s = 1 / (1 + np.exp(-x0))
    np.testing.assert_allclose(h.numpy(), s * (1 - s), rtol=1e-12)


def test_custom_gradient_with_variables():
    v = ft.Variable(2.0)

    @ft.custom_gradient
    def scale(x):
        def grad(dy, variables=None):
            assert variables == [v] or variables[0] is v
            return dy * v, [ft.reduce_sum(dy * x)]

        return x * v, grad

    x = ft.constant([1.0, 2.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = scale(x)
    gx, gv = tape.gradient(y, [x, v])
    np.testing.assert_array_equal(gx.numpy(), [2.0, 2.0])
    assert float(gv) == 3.0


def test_custom_gradient_several_outputs_and_inputs():
    @ft.custom_gradient
    def f(a, b):
        def grad(da, db):
            return da + db, 2.0 * db
        return (a * 1.0, b * 1.0), grad

    a, b = ft.constant([1.0]), ft.constant([2.0])
    with ft.GradientTape() as tape:
        tape.watch([a, b])
        ya, yb = f(a, b)
        loss = ft.reduce_sum(ya) + ft.reduce_sum(yb)
    ga, gb = tape.gradient(loss, [a, b])
    assert float(ga) == 2.0 and float(gb) == 2.0


def test_custom_gradient_unused_output_gets_zeros():
    @ft.custom_gradient
    def f(a):
        def grad(da, db):
            assert np.all(np.asarray(db) == 0)
            return da
        return (a * 1.0, a * 2.0), grad

    a = ft.constant([1.0])
    with ft.GradientTape() as tape:
        tape.watch(a)
        ya, _ = f(a)
    assert float(tape.gradient(ya, a)) == 1.0


def test_custom_gradient_wrong_number_of_gradients_raises():
    @ft.custom_gradient
    def f(a, b):
        return a * b, lambda dy: dy  # one gradient for two inputs

    a, b = ft.constant([1.0]), ft.constant([2.0])
    with ft.GradientTape() as tape:
        tape.watch([a, b])
        y = f(a, b)
    with pytest.raises(ValueError, match="returned 1 gradients for 2 inputs"):
        tape.gradient(y, [a, b])


def test_custom_gradient_wrong_shape_raises():
    @ft.custom_gradient
    def f(a):
        return a * 1.0, lambda dy: ft.ones((3, 3))

    a = ft.constant([1.0, 2.0])
    with ft.GradientTape() as tape:
        tape.watch(a)
        y = f(a)
    with pytest.raises(ValueError, match=r"shape \(3, 3\) for input 0 of shape \(2,\)"):
        tape.gradient(y, a)


def test_custom_gradient_variables_need_the_keyword():
    v = ft.Variable(1.0)

    @ft.custom_gradient
    def f(x):
        return x * v, lambda dy: dy

    with pytest.raises(TypeError, match="variables"):
        with ft.GradientTape():
            f(ft.constant(1.0))


def test_custom_gradient_must_return_a_pair():
    @ft.custom_gradient
    def f(x):
        return x

    with pytest.raises(TypeError, match=r"\(outputs, grad_fn\)"):
        f(ft.constant(1.0))


def test_custom_gradient_wrong_dtype_raises():
    @ft.custom_gradient
    def f(a):
        return a * 1.0, lambda dy: ft.cast(dy, ft.float64)

    a = ft.constant([1.0, 2.0])
    with ft.GradientTape() as tape:
        tape.watch(a)
        y = f(a)
    with pytest.raises(TypeError, match="dtype float64 for input 0 of dtype float32"):
        tape.gradient(y, a)


def test_custom_gradient_of_a_larger_shape_raises_naming_both_shapes():
    @ft.custom_gradient
    def f(x):
        return ft.identity(x), lambda dy: ft.constant(np.ones((2, 3), np.float32))

    x = ft.constant([1.0, 2.0, 3.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    with pytest.raises(ValueError, match=r"shape \(2, 3\) for input 0 of shape \(3,\)"):
        tape.gradient(y, x)


@pytest.mark.parametrize("bad", [(3, 1), (2,), (1, 3)])
def test_custom_gradient_that_does_not_fit_raises(bad):
    @ft.custom_gradient
    def f(x):
        return x * 2.0, lambda dy: ft.constant(np.ones(bad, np.float32))

    x = ft.constant([1.0, 2.0, 3.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    with pytest.raises(ValueError, match="for input 0 of shape"):
        tape.gradient(y, x)


def test_custom_gradient_scalar_for_a_vector_is_expanded():
    @ft.custom_gradient
    def total(x):
        return ft.reduce_sum(x), lambda dy: dy * 2.0  # a 0-d gradient broadcasts to x

    x = ft.constant([1.0, 2.0, 3.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = total(x)
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [2.0, 2.0, 2.0])


def test_custom_gradient_variable_gradient_of_the_wrong_shape_raises():
    v = ft.Variable([1.0, 2.0])

    @ft.custom_gradient
    def f(x):
        def grad_fn(dy, variables=None):
            return dy, [ft.constant(np.ones((4, 2), np.float32))]

        return x * v, grad_fn

    x = ft.constant([1.0, 2.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    with pytest.raises(ValueError, match=r"shape \(4, 2\) for variable 0 of shape \(2,\)"):
        tape.gradient(y, [x, v])


class _Scaler:
    def __init__(self, k):
        self.k = k
        self.w = ft.Variable(np.array([1.5, -2.0]))

    @ft.custom_gradient
    def clipped_scale(self, x):
        # `self` is bound, not an input: as TensorFlow's custom_gradient on methods
        def grad(dy):
            return ft.clip_by_value(dy * self.k, -1.0, 1.0)

        return x * self.k, grad

    @ft.custom_gradient
    def weighted(self, x):
        def grad(dy, variables=None):
            return dy * self.w * 10.0, [dy * x * 10.0]

        return x * self.w, grad


def test_custom_gradient_on_a_method_binds_self():
    s = _Scaler(3.0)
    x = ft.constant([0.1, 0.2])
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = s.clipped_scale(x)
    np.testing.assert_allclose(y.numpy(), [0.3, 0.6], rtol=1e-6)
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [1.0, 1.0])
    assert _Scaler.clipped_scale.__name__ == "clipped_scale"
    assert s.clipped_scale.__qualname__ == "_Scaler.clipped_scale"


def test_custom_gradient_on_a_method_with_the_instances_variables():
    s = _Scaler(1.0)
    x = ft.constant(np.array([1.0, 2.0]))
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = s.weighted(x)
    gx, gw = tape.gradient(y, [x, s.w])
    np.testing.assert_allclose(gx.numpy(), [15.0, -20.0])
    np.testing.assert_allclose(gw.numpy(), [10.0, 20.0])
