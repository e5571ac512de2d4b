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


# --- grouped convolutions (Note [Grouped convolutions] in fasttape/ops/nn_ops.py) --------------

BOX_CASES = [c for c in CONV_CASES if c[0][-1] > nn_ops._FEW_CHANNELS and any(
    b or a for b, a in c[4])] + [
    ((2, 4, 4, 6), (3, 3, 6, 8), (3, 3), (1, 1), ((4, 4), (1, 1))),   # rows reading padding alone
    ((2, 2, 3, 5), (3, 3, 5, 2), (1, 1), (1, 1), ((3, 3), (3, 3))),   # more padding than input
    ((2, 6, 6, 5), (5, 5, 5, 3), (1, 1), (1, 1), ((2, 2), (2, 2))),   # 5 runs per axis
    ((1, 3, 3, 8), (3, 3, 8, 2), (1, 1), (2, 2), ((2, 2), (2, 2))),   # dilated
]


def _conv_three(x, w, g, strides, dilations, pads):
    return (nn_ops._conv(x, w, strides, dilations, pads),
            nn_ops._conv_backprop_filter(x, g, w.shape, strides, dilations, pads),
            nn_ops._conv_backprop_input(g, w, x.shape, strides, dilations, pads))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x_shape, w_shape, strides, dilations, pads", BOX_CASES)
def test_box_convolutions_match_the_full_gemm(x_shape, w_shape, strides, dilations, pads, dtype,
                                              monkeypatch):
    """The convolution and its two gradients by boxes equal the full im2col
    GEMMs' (the same sums in another order)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    monkeypatch.setattr(nn_ops, "_box_plans", {})
    monkeypatch.setattr(nn_ops, "_BOX_SAVING", 10 ** 30)  # never: the full GEMMs
    y = nn_ops._conv(x, w, strides, dilations, pads)
    g = rng.standard_normal(y.shape).astype(dtype)
    want = _conv_three(x, w, g, strides, dilations, pads)
    monkeypatch.setattr(nn_ops, "_box_plans", {})
    monkeypatch.setattr(nn_ops, "_BOX_SAVING", 0)  # always
    for a in (x, w, g):  # inputs may be read-only (a memory-mapped file, a broadcast)
        a.setflags(write=False)
    got = _conv_three(x, w, g, strides, dilations, pads)
    assert [p is not None for p in nn_ops._box_plans.values()] == [True], "no box plan was used"
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, e, what in zip(got, want, ("conv", "filter gradient", "input gradient")):
        assert a.shape == e.shape and a.dtype == dtype, what
        np.testing.assert_allclose(a, e, rtol=tol, atol=tol, err_msg=what)


def test_axis_runs_match_each_position():
    """_axis_runs against the valid taps of each output position, found tap by tap."""
    rng = np.random.default_rng(5)
    for _ in range(300):
        n, k, s, d = (int(v) for v in rng.integers(1, 6, 4))
        before, after = (int(v) for v in rng.integers(0, 7, 2))
        out = (n + before + after - (k - 1) * d - 1) // s + 1
        if out < 1:
            continue
        runs = nn_ops._axis_runs(n, k, out, s, d, before)
        found = {}
        for o0, o1, j0, j1 in runs:
            for o in range(o0, o1):
                found[o] = (j0, j1)
        for o in range(out):
            taps = [j for j in range(k) if 0 <= o * s - before + j * d < n]
            want = (taps[0], taps[-1] + 1) if taps else None
            assert found.get(o) == want, (n, k, s, d, before, o)
            if taps:  # valid taps are a contiguous range
                assert taps == list(range(taps[0], taps[-1] + 1))


def test_box_plans_are_used_where_they_save_work():
    """The digits convnet's conv2 (batch 64) takes boxes; batch 1, no
    padding, few channels and float16 keep the full GEMM."""
    def plan(x_shape, dtype=np.float32, pads=((1, 1), (1, 1))):
        out_sp = x_shape[1:3] if pads[0][0] else (x_shape[1] - 2, x_shape[2] - 2)
        return nn_ops._boxes(x_shape, np.dtype(dtype), (3, 3), out_sp, (1, 1), (1, 1), pads, 64)

    assert plan((64, 4, 4, 32)) is not None and plan((64, 4, 4, 32), np.float64) is not None
    assert len(plan((64, 4, 4, 32)).parts) == 9
    assert plan((1, 4, 4, 32)) is None
    assert plan((64, 4, 4, 32), pads=((0, 0), (0, 0))) is None
    assert plan((64, 4, 4, 1)) is None
    assert plan((64, 4, 4, 32), np.float16) is None


def test_box_loops_check_their_boxes():
    """A box reading padding, a box outside the output, or a buffer of the
    wrong size is a ValueError before any loop runs; other dtypes are refused."""
    from fasttape._core import core

    x = np.ones((2, 4, 4, 3), np.float32)
    geometry = ((3, 3), (4, 4), (1, 1), (1, 1), ((1, 1), (1, 1)))
    inside = (1, 3, 1, 3, 0, 3, 0, 3)  # the interior: 2x2 positions, all 9 taps
    cols = np.empty(2 * 4 * 9 * 3, np.float32)
    assert core.im2col_boxes(x, *geometry, [inside], cols)
    np.testing.assert_array_equal(cols, 1.0)
    for bad in [(0, 2, 1, 3, 0, 3, 0, 3),   # row 0 with tap row 0 reads the padding
                (1, 5, 1, 3, 1, 3, 0, 3),   # past the last output row
                (1, 1, 1, 3, 0, 3, 0, 3)]:  # empty
        with pytest.raises(ValueError, match="box loops"):
            core.im2col_boxes(x, *geometry, [bad], cols)
        with pytest.raises(ValueError, match="box loops"):
            core.col2im_boxes(cols, x, *geometry, [bad])
    with pytest.raises(ValueError, match="box loops.*cols"):
        core.im2col_boxes(x, *geometry, [inside], cols[1:])
    assert not core.im2col_boxes(x.astype(np.int32), *geometry, [inside],
                                 cols.astype(np.int32))
    strided = np.ones((2, 4, 8, 3), np.float32)[:, :, ::2]
    assert not core.col2im_boxes(cols, strided, *geometry, [inside])  # not contiguous
    x.setflags(write=False)
    assert core.im2col_boxes(x, *geometry, [inside], cols)     # reads a read-only x
    assert not core.col2im_boxes(cols, x, *geometry, [inside])  # never writes one


def test_box_input_gradient_with_an_unknown_batch(monkeypatch):
    """conv2d_transpose traced with an unknown batch passes (None, h, w, c) as
    the output shape: the boxes take the batch from the gradient."""
    rng = np.random.default_rng(6)
    g = rng.standard_normal((3, 4, 4, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 6, 8)).astype(np.float32)
    args = ((1, 1), (1, 1), ((1, 1), (1, 1)))
    want = nn_ops._conv_backprop_input(g, w, (3, 4, 4, 6), *args)
    monkeypatch.setattr(nn_ops, "_box_plans", {})
    monkeypatch.setattr(nn_ops, "_BOX_SAVING", 0)
    got = nn_ops._conv_backprop_input(g, w, (None, 4, 4, 6), *args)
    assert nn_ops._box_plans and all(p is not None for p in nn_ops._box_plans.values())
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
