"""Tensor's NumPy protocol: NumPy functions and ufuncs on Tensors run fasttape
ops, return Tensors and are recorded on tapes; what fasttape does not
implement raises TypeError naming it; out= raises (tensors are immutable)."""

import numpy as np
import pytest

import fasttape as ft

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.3]])
A = np.arange(8.0).reshape(4, 2) / 4


def _grad(f, x=X):
    t = ft.constant(x)
    with ft.GradientTape() as tape:
        tape.watch(t)
        y = f(t)
    assert isinstance(y, ft.Tensor), f"returned {type(y).__name__}, not a Tensor"
    g = tape.gradient(y, t)
    assert g is not None, "not recorded on the tape"
    return y, g.numpy()


def test_ufunc_sin_is_recorded():
    y, g = _grad(np.sin)
    np.testing.assert_allclose(y.numpy(), np.sin(X))
    np.testing.assert_allclose(g, np.cos(X))


def test_ufuncs_with_ndarray_and_scalar_operands():
    y, g = _grad(lambda t: np.multiply(2.0, t) + np.ones(3) * t)
    np.testing.assert_allclose(y.numpy(), 3 * X)
    np.testing.assert_allclose(g, np.full(X.shape, 3.0))


def test_ndarray_on_the_left_of_an_operator_gives_a_tensor():
    y, g = _grad(lambda t: np.full(3, 2.0) * t)
    np.testing.assert_allclose(g, np.full(X.shape, 2.0))


def test_sum_with_axis_is_recorded():
    y, g = _grad(lambda t: np.sum(t, axis=0))
    assert y.shape == (3,)
    np.testing.assert_allclose(y.numpy(), X.sum(axis=0))
    np.testing.assert_allclose(g, np.ones(X.shape))


def test_mean_keepdims():
    y, g = _grad(lambda t: np.mean(t, axis=1, keepdims=True))
    assert y.shape == (2, 1)
    np.testing.assert_allclose(g, np.full(X.shape, 1 / 3))


def test_matmul_with_an_ndarray_on_the_left():
    y, g = _grad(lambda t: np.matmul(A, t))
    np.testing.assert_allclose(y.numpy(), A @ X)
    np.testing.assert_allclose(g, A.T @ np.ones((4, 3)))


def test_matmul_operator_and_dot():
    _, g1 = _grad(lambda t: A @ t)
    _, g2 = _grad(lambda t: np.dot(A, t))
    np.testing.assert_allclose(g1, A.T @ np.ones((4, 3)))
    np.testing.assert_allclose(g2, g1)


def test_concatenate_of_tensors_and_arrays():
    y, g = _grad(lambda t: np.concatenate([t, np.zeros((1, 3)), t], axis=0))
    assert y.shape == (5, 3)
    np.testing.assert_allclose(g, np.full(X.shape, 2.0))


def test_stack_is_recorded():
    y, g = _grad(lambda t: np.stack([t, 2 * t], axis=1))
    assert y.shape == (2, 2, 3)
    np.testing.assert_allclose(g, np.full(X.shape, 3.0))


def test_where_is_recorded():
    y, g = _grad(lambda t: np.where(t > 0, t, 0.0))
    np.testing.assert_allclose(y.numpy(), np.where(X > 0, X, 0.0))
    np.testing.assert_allclose(g, (X > 0).astype(float))


def test_where_with_one_argument_gives_coordinates():
    t = ft.constant(X)
    idx = np.where(t > 0)
    assert isinstance(idx, ft.Tensor)
    np.testing.assert_array_equal(idx.numpy(), np.argwhere(X > 0))


@pytest.mark.parametrize("name, f, expected_grad", [
    ("reshape", lambda t: np.reshape(t, (3, 2)) * np.arange(6.0).reshape(3, 2),
     np.arange(6.0).reshape(2, 3)),
    ("transpose", lambda t: np.transpose(t) * np.arange(6.0).reshape(3, 2),
     np.arange(6.0).reshape(3, 2).T),
    ("take", lambda t: np.take(t, [0, 2, 2], axis=1), np.array([[1.0, 0, 2]] * 2)),
    ("clip", lambda t: np.clip(t, -0.5, 1.0), ((X > -0.5) & (X < 1.0)).astype(float)),
    ("maximum", lambda t: np.maximum(t, np.zeros(3)), (X > 0).astype(float)),
    ("max", lambda t: np.max(t, axis=1), (X == X.max(axis=1, keepdims=True)).astype(float)),
    ("square", np.square, 2 * X),
    ("abs", np.abs, np.sign(X)),
    ("expand_dims", lambda t: np.expand_dims(t, 0), np.ones(X.shape)),
    ("swapaxes", lambda t: np.swapaxes(t, 0, 1), np.ones(X.shape)),
])
def test_numpy_function_is_recorded(name, f, expected_grad):
    _, g = _grad(f)
    np.testing.assert_allclose(g, expected_grad, err_msg=name)


def test_comparison_ufunc_returns_a_bool_tensor():
    t = ft.constant(X)
    r = np.greater(t, 0.0)
    assert isinstance(r, ft.Tensor) and r.dtype == np.bool_
    np.testing.assert_array_equal(r.numpy(), X > 0)


def test_all_and_any_take_any_dtype_as_numpy_does():
    t = ft.constant(np.array([[0.5, 0.0], [1.0, 2.0]]))
    assert not bool(np.all(t))
    np.testing.assert_array_equal(np.any(t, axis=0).numpy(), [True, True])
    assert bool(np.all(t > -1))


def test_shape_queries():
    t = ft.constant(X)
    assert np.shape(t) == (2, 3)
    assert np.ndim(t) == 2
    assert np.size(t) == 6


@pytest.mark.parametrize("name, call", [
    ("exp2", lambda t: np.exp2(t)),
    ("sinc", lambda t: np.sinc(t)),
    ("cumsum", lambda t: np.cumsum(t)),
    ("sort", lambda t: np.sort(t)),
    ("add.outer", lambda t: np.add.outer(t, t)),
    ("add.reduce", lambda t: np.add.reduce(t)),
])
def test_unsupported_numpy_function_raises_type_error_naming_it(name, call):
    with pytest.raises(TypeError, match=f"numpy.{name}"):
        call(ft.constant(X))


def test_unsupported_ufunc_argument_raises():
    t = ft.constant(X)
    with pytest.raises(TypeError, match="where"):
        np.sin(t, where=np.ones(X.shape, bool))


@pytest.mark.parametrize("name, call", [
    ("sin", lambda t: np.sin(t, out=np.empty(X.shape))),
    ("add", lambda t: np.add(t, 1.0, out=np.empty(X.shape))),
    ("sum", lambda t: np.sum(t, axis=0, out=np.empty(3))),
    ("mean", lambda t: np.mean(t, out=np.empty(()))),
    ("concatenate", lambda t: np.concatenate([t, t], out=np.empty((4, 3)))),
    ("stack", lambda t: np.stack([t, t], out=np.empty((2, 2, 3)))),
])
def test_out_argument_raises(name, call):
    with pytest.raises(TypeError, match=f"numpy.{name}: out="):
        call(ft.constant(X))


def test_out_into_an_ndarray_from_a_tensor_input_raises_and_leaves_it_untouched():
    out = np.zeros(X.shape)
    with pytest.raises(TypeError):
        np.multiply(ft.constant(X), 2.0, out=out)
    np.testing.assert_array_equal(out, np.zeros(X.shape))
