"""max_pool's gradient through the C loop (Note [Window loops] in
fasttape/_core/_math.pxi) against a direct NumPy statement of MaxPoolGrad:
each output gradient goes to the first maximum of its window, in row-major
window order; padding never takes a gradient that reaches the input."""

import itertools

import numpy as np
import pytest

import fasttape as ft
from fasttape.ops import nn_ops


def _reference(g, x, ksize, strides, pads):
    """MaxPoolGrad one window at a time (float64 sums, in window order)."""
    r = len(ksize)
    dx = np.zeros(x.shape, np.float64)
    out_sp = g.shape[1:-1]
    for b, c in itertools.product(range(x.shape[0]), range(x.shape[-1])):
        for o in itertools.product(*(range(n) for n in out_sp)):
            best, where = -np.inf, None
            for k in itertools.product(*(range(n) for n in ksize)):
                pos = tuple(o[a] * strides[a] - pads[a][0] + k[a] for a in range(r))
                inside = all(0 <= pos[a] < x.shape[1 + a] for a in range(r))
                v = x[(b,) + pos + (c,)] if inside else -np.inf
                if where is None or v > best:
                    best, where = v, (pos if inside else None)
            if where is not None:
                dx[(b,) + where + (c,)] += g[(b,) + o + (c,)]
    return dx


CASES = [  # (input shape, ksize, strides, pads)
    ((2, 8, 8, 3), (2, 2), (2, 2), ((0, 0), (0, 0))),      # tiled
    ((2, 7, 9, 5), (3, 3), (2, 1), ((1, 1), (1, 1))),      # overlapping, padded
    ((1, 5, 5, 2), (3, 2), (1, 1), ((1, 1), (0, 1))),      # SAME-like, uneven
    ((2, 6, 4, 4), (1, 2), (1, 2), ((0, 0), (0, 0))),
    ((3, 10, 4), (3,), (2,), ((1, 1),)),                   # one spatial axis
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, ksize, strides, pads", CASES)
def test_max_pool_grad_matches_maxpoolgrad(shape, ksize, strides, pads, dtype):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, shape).astype(dtype)  # many ties
    out = nn_ops._max_pool(x, ksize, strides, pads)
    g = rng.standard_normal(out.shape).astype(dtype)
    got = nn_ops._max_pool_grad(g, x, out, ksize, strides, pads)
    assert got.dtype == dtype and got.shape == x.shape
    np.testing.assert_allclose(got, _reference(g, x, ksize, strides, pads),
                               rtol=1e-6, atol=1e-6)


def test_a_nan_gradient_goes_to_the_maximum_alone():
    x = np.array([[[[1.0], [3.0]], [[2.0], [0.0]]]])  # (1, 2, 2, 1): the max is 3
    out = nn_ops._max_pool(x, (2, 2), (2, 2), ((0, 0), (0, 0)))
    dx = nn_ops._max_pool_grad(np.full(out.shape, np.nan), x, out, (2, 2), (2, 2),
                               ((0, 0), (0, 0)))
    assert np.isnan(dx[0, 0, 1, 0])
    assert np.count_nonzero(np.isnan(dx)) == 1 and np.count_nonzero(dx[~np.isnan(dx)]) == 0


def test_the_layer_gradient_in_every_mode_agrees():
    rng = np.random.default_rng(1)
    x = ft.constant(rng.standard_normal((4, 6, 6, 8)).astype(np.float32))

    def loss(v):
        return ft.reduce_sum(ft.nn.max_pool2d(v, 2, 2, "SAME") ** 2)

    with ft.GradientTape() as tape:
        tape.watch(x)
        y = loss(x)
    eager = tape.gradient(y, x).numpy()

    @ft.function
    def traced(v):
        with ft.GradientTape() as t:
            t.watch(v)
            z = loss(v)
        return t.gradient(z, v)

    np.testing.assert_array_equal(traced(x).numpy(), eager)


CONV_CASES = [  # (input shape, filter shape, strides, dilations, pads)
    ((2, 4, 4, 6), (3, 3, 6, 8), (1, 1), (1, 1), ((1, 1), (1, 1))),   # SAME
    ((2, 9, 7, 5), (3, 2, 5, 4), (2, 1), (1, 2), ((1, 0), (0, 2))),
    ((1, 6, 6, 8), (2, 2, 8, 3), (2, 2), (1, 1), ((0, 0), (0, 0))),
    ((3, 11, 6), (3, 6, 4), (2,), (2,), ((1, 1),)),                    # conv1d
    ((2, 8, 8, 1), (3, 3, 1, 4), (1, 1), (1, 1), ((1, 1), (1, 1))),   # few channels
    ((2, 9, 7, 3), (2, 3, 3, 2), (2, 2), (2, 1), ((0, 1), (2, 1))),
    ((3, 12, 2), (4, 2, 5), (3,), (1,), ((2, 1),)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, strides, dilations, pads", CONV_CASES)
def test_conv_input_gradient_col2im(x_shape, w_shape, strides, dilations, pads, dtype):
    # the C col2im against one NumPy add per tap (the path it replaces)
    rng = np.random.default_rng(2)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    out = nn_ops._conv(x, w, strides, dilations, pads)
    g = rng.standard_normal(out.shape).astype(dtype)
    got = nn_ops._conv_backprop_input(g, w, x_shape, strides, dilations, pads)
    r = len(strides)
    k_sp, c = w_shape[:r], w_shape[-2]
    dcols = (g.reshape(-1, w_shape[-1]) @ w.reshape(-1, w_shape[-1]).T).reshape(
        g.shape[:-1] + (int(np.prod(k_sp)), c))
    padded = (x_shape[0],) + tuple(s + b + a for s, (b, a) in zip(x_shape[1:-1], pads)) + (c,)
    dxp = np.zeros(padded, dtype)
    for i, k in enumerate(itertools.product(*(range(n) for n in k_sp))):
        view = dxp[nn_ops._tap(k, g.shape[1:-1], strides, dilations)]
        view += dcols[..., i, :]
    expected = dxp[nn_ops._inner(pads, x_shape)]
    assert got.shape == x_shape and got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, strides, dilations, pads", CONV_CASES)
def test_conv_patches_im2col(x_shape, w_shape, strides, dilations, pads, dtype):
    # the C im2col (padding included) against NumPy's strided view of the padded input
    rng = np.random.default_rng(3)
    x = rng.standard_normal(x_shape).astype(dtype)
    r = len(strides)
    padded = tuple(n + b + a for n, (b, a) in zip(x_shape[1:-1], pads))
    out_sp = nn_ops._out_spatial(padded, w_shape[:r], strides, dilations)
    got, transposed = nn_ops._patches(x, w_shape[:r], out_sp, strides, dilations, pads)
    expected, expected_transposed = nn_ops._im2col(nn_ops._pad(x, pads), w_shape[:r], out_sp,
                                                   strides, dilations)
    assert transposed == expected_transposed and got.dtype == dtype
    np.testing.assert_array_equal(got, expected)
