"""The C sums of reduce_sum and reduce_mean (Note [Fast sums] in
fasttape/_core/_math.pxi): a full sum, and a sum over the leading axes (a
bias's gradient), both in double, against exact sums and NumPy's."""

import math

import numpy as np
import pytest

import fasttape as ft
from fasttape.ops import math_ops

LEADING = [((64, 8, 8, 32), 3), ((64, 128), 1), ((64, 16, 9), 2), ((128, 64), 1),
           ((4, 16, 8, 16), 2)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, k", LEADING)
def test_leading_sums_are_one_blas_product(shape, k, dtype):
    """A sum over the leading axes (a bias's gradient) is ones @ x: within
    NumPy's error of the exact sum, in every mode's reduce_sum and reduce_mean."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4, shape)).astype(dtype)
    axis = tuple(range(k))
    exact = np.add.reduce(x.astype(np.float64), axis=axis)
    numpy_err = np.abs(np.add.reduce(x, axis=axis) - exact)
    scale = np.add.reduce(np.abs(x.astype(np.float64)), axis=axis)
    for keepdims in (False, True):
        got = math_ops._sum(x, axis, keepdims)
        want_shape = (1,) * k * keepdims + shape[k:]
        assert got.dtype == dtype and got.shape == want_shape
        assert np.all(np.abs(got.reshape(shape[k:]) - exact)
                      <= numpy_err + 4 * np.finfo(dtype).eps * scale)
    mean = math_ops._mean(x, axis, False)
    np.testing.assert_array_equal(mean, math_ops._sum(x, axis, False) / math.prod(shape[:k]))
    assert math_ops._leading_sum(x, axis, False) is not None
    np.testing.assert_array_equal(ft.reduce_sum(ft.constant(x), axis=list(axis)).numpy(),
                                  math_ops._sum(x, axis, False))


def test_leading_sums_propagate_nan_and_inf():
    x = np.zeros((128, 64), np.float32)
    x[1, 1], x[2, 2], x[0, 3], x[3, 3] = np.nan, np.inf, np.inf, -np.inf
    with np.errstate(invalid="ignore"):
        got = math_ops._sum(x, (0,), False)
        assert math_ops._leading_sum(x, (0,), False) is not None
    assert np.isnan(got[1]) and got[2] == np.inf and np.isnan(got[3])
    assert np.all(got[[0, 4, 5, 6, 7]] == 0)


def test_leading_sums_leave_other_arrays_to_numpy():
    x = np.ones((128, 128), np.float32)
    assert math_ops._leading_sum(x, (0,), False) is not None
    assert math_ops._leading_sum(x[:, ::2], (0,), False) is None                     # strided
    assert math_ops._leading_sum(np.ones((4096, 4), np.float32), (0,), False) is None  # 4 columns
    assert math_ops._leading_sum(np.ones((32, 1024), np.float32), (0,), False) is None  # 32 rows
    assert math_ops._leading_sum(np.ones((64, 64), np.float32), (0,), False) is None  # small
    assert math_ops._leading_sum(x.astype(np.int32), (0,), False) is None
    assert math_ops._leading_sum(x.astype(np.float16), (0,), False) is None
    assert math_ops._leading_sum(x, (1,), False) is None      # not the leading axes
    assert math_ops._leading_sum(x, (0, 0), False) is None
    assert math_ops._leading_sum(x, (0, 1), False) is None    # every axis: the full sum
    assert math_ops._leading_sum(np.ones((0, 16), np.float32), (0,), False) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_full_sums_are_within_numpys_error(dtype):
    rng = np.random.default_rng(1)
    for n in (1, 7, 255, 256, 257, 10_000, 100_003):
        x = (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n)).astype(dtype)
        exact = math.fsum(x.astype(np.float64))
        got = float(math_ops._sum(x, None, False))
        numpy_err = abs(float(np.sum(x)) - exact)
        bound = numpy_err + 2 * np.finfo(dtype).eps * abs(exact)
        assert abs(got - exact) <= bound, (n, got, exact)


def test_a_bias_gradient_is_the_same_bits_eagerly_and_traced():
    """bias_add's VJP (eagerly: ones @ g) and reduce_sum over the leading axes
    (what the traced VJP runs) are the same product."""
    x = ft.constant(np.random.default_rng(2).standard_normal((16, 8, 64)).astype(np.float32))
    b = ft.Variable(np.zeros(64, np.float32))

    def grad():
        with ft.GradientTape() as tape:
            loss = ft.reduce_sum(ft.sin(ft.nn.bias_add(x, b)))
        return tape.gradient(loss, b)

    eager = grad().numpy()
    np.testing.assert_array_equal(ft.function(grad)().numpy(), eager)
    np.testing.assert_array_equal(eager, math_ops._sum(np.cos(x.numpy()), (0, 1), False))
