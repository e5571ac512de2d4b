"""relu and its gradient as C ufuncs (csrc/fasttape_math.c): bitwise the
NumPy forms they replace, np.maximum(x, 0) and g * (out > 0), in every float
dtype, for hostile values, strided and in place, with no warning for NaN."""

import warnings

import numpy as np
import pytest

import fasttape as ft
from fasttape._core import core

SPECIAL = [np.nan, -np.nan, -0.0, 0.0, np.inf, -np.inf, 1.0, -1.0, 1e-45, -1e-45, 65504.0,
           -65504.0, 6e-8, -6e-8]


def _bits(a):
    return a.view(np.dtype(f"u{a.dtype.itemsize}"))


def _values(dtype, n=4096, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n))
    with np.errstate(over="ignore"):
        x = x.astype(dtype)
        x[:len(SPECIAL)] = np.array(SPECIAL).astype(dtype)
    return x


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_relu_is_numpys_maximum_bit_for_bit(dtype):
    x = _values(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a NaN raises no invalid-value warning
        got = core.relu_ufunc(x)
        strided = core.relu_ufunc(x[::3])
    with np.errstate(invalid="ignore"):
        want = np.maximum(x, 0)
    assert got.dtype == dtype
    np.testing.assert_array_equal(_bits(got), _bits(want))
    np.testing.assert_array_equal(_bits(strided), _bits(want[::3]))
    y = x.copy()
    core.relu_ufunc(y, out=y)
    np.testing.assert_array_equal(_bits(y), _bits(want))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_relu_grad_is_the_mask_multiply_bit_for_bit(dtype):
    g, out = _values(dtype, seed=1), np.abs(_values(dtype, seed=2))
    out[::5] = 0.0
    out[1::7] = -0.0
    out[2::11] = np.nan
    with np.errstate(invalid="ignore"):  # inf * 0 is NaN in both, with NumPy's warning
        got = core.relu_grad_ufunc(g, out)
        want = g * (out > 0)
        strided = core.relu_grad_ufunc(g[::2], out[1::2])
        want_strided = g[::2] * (out[1::2] > 0)
        in_place = g.copy()
        core.relu_grad_ufunc(in_place, out, out=in_place)
    np.testing.assert_array_equal(_bits(got), _bits(want))
    np.testing.assert_array_equal(_bits(strided), _bits(want_strided))
    np.testing.assert_array_equal(_bits(in_place), _bits(want))


def test_relu_and_its_gradients_in_every_mode():
    """First and second order, eager, traced and as a graph op: the mask of
    relu's output, and the second derivative through the cotangent."""
    rng = np.random.default_rng(3)
    x, u, w = (ft.constant(rng.standard_normal((4, 5))) for _ in range(3))

    def grads(x, u, w):
        with ft.GradientTape() as outer:
            outer.watch(u)
            with ft.GradientTape() as inner:
                inner.watch(x)
                y = ft.nn.relu(x)
            g = inner.gradient(y, x, output_gradients=u)
            s = ft.reduce_sum(g * w)
        return g, outer.gradient(s, u)

    mask = x.numpy() > 0
    for g, gu in (grads(x, u, w), ft.function(grads)(x, u, w)):
        np.testing.assert_array_equal(g.numpy(), u.numpy() * mask)
        np.testing.assert_array_equal(gu.numpy(), w.numpy() * mask)
