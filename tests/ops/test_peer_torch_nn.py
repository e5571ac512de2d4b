"""ft.nn against PyTorch (CPU, float64): forward values and gradients of every
nn op PyTorch also has, on random inputs. Layouts are converted (NHWC <-> NCHW,
filters (kh, kw, in, out) <-> (out, in, kh, kw)) and TensorFlow's SAME padding
is computed explicitly for PyTorch (it pads (total) // 2 before, the rest after)."""

import numpy as np
import pytest

import fasttape as ft

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL, ATOL = 1e-10, 1e-12


def _ft_grads(f, arrays, cotangent_seed=0):
    """f's value and the gradients of <u, f> for a random cotangent u."""
    xs = [ft.constant(a) for a in arrays]
    with ft.GradientTape() as tape:
        tape.watch([x for x in xs if x.dtype.kind == "f"])
        y = f(*xs)
    u = np.random.default_rng(cotangent_seed).standard_normal(y.shape)
    grads = tape.gradient(y, xs, output_gradients=ft.constant(u))
    return y.numpy(), [None if g is None else g.numpy() for g in grads], u


def _torch_grads(f, arrays, u):
    ts = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    y = f(*ts)
    diff = [t for t in ts if t.requires_grad]
    grads = iter(torch.autograd.grad(y, diff, torch.tensor(u)))
    return y.detach().numpy(), [next(grads).numpy() if t.requires_grad else None for t in ts]


def _compare(ft_fn, torch_fn, arrays):
    y, grads, u = _ft_grads(ft_fn, arrays)
    ty, tgrads = _torch_grads(torch_fn, arrays, u)
    np.testing.assert_allclose(y, ty, rtol=RTOL, atol=ATOL)
    for g, tg in zip(grads, tgrads, strict=True):
        if tg is None:
            assert g is None
        else:
            np.testing.assert_allclose(g, tg, rtol=RTOL, atol=ATOL)


def _same_pads(in_sp, k_sp, strides, dilations):
    pads = []
    for n, k, s, d in zip(in_sp, k_sp, strides, dilations):
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def _torch_pad(x, pads, value=0.0):
    """F.pad of an NC... tensor with per-spatial-axis (before, after) pads."""
    flat = [p for before_after in reversed(pads) for p in before_after]
    return F.pad(x, flat, value=value)


def _nchw(x):
    return x.permute(0, 3, 1, 2)


def _nhwc(x):
    return x.permute(0, 2, 3, 1)


rng = np.random.default_rng(20261125)

CONV2D = [  # input shape, filter shape, strides, padding, dilations
    ((2, 7, 7, 3), (3, 3, 3, 4), 1, "SAME", 1),
    ((2, 7, 7, 3), (3, 3, 3, 4), 2, "SAME", 1),
    ((2, 8, 6, 2), (2, 3, 2, 3), 2, "SAME", 1),
    ((2, 7, 7, 3), (3, 3, 3, 4), (2, 1), "VALID", 1),
    ((2, 9, 9, 2), (3, 3, 2, 3), 1, "SAME", 2),
    ((1, 9, 8, 1), (3, 2, 1, 5), 1, "VALID", (2, 1)),
    ((3, 6, 6, 1), (3, 3, 1, 4), 2, "SAME", 1),
    ((2, 6, 7, 6), (3, 2, 6, 3), (1, 2), "SAME", (2, 1)),
]


@pytest.mark.parametrize("x_shape, w_shape, strides, padding, dilations", CONV2D)
def test_conv2d(x_shape, w_shape, strides, padding, dilations):
    s = (strides,) * 2 if isinstance(strides, int) else strides
    d = (dilations,) * 2 if isinstance(dilations, int) else dilations
    pads = _same_pads(x_shape[1:3], w_shape[:2], s, d) if padding == "SAME" else [(0, 0)] * 2

    def torch_fn(x, w):
        xp = _torch_pad(_nchw(x), pads)
        return _nhwc(F.conv2d(xp, w.permute(3, 2, 0, 1), stride=s, dilation=d))

    _compare(
        lambda x, w: ft.nn.conv2d(x, w, strides, padding, dilations=dilations),
        torch_fn,
        [rng.standard_normal(x_shape), rng.standard_normal(w_shape)],
    )


@pytest.mark.parametrize(
    "stride, padding, dilation", [(1, "SAME", 1), (2, "VALID", 1), (2, "SAME", 1), (1, "SAME", 2)]
)
def test_conv1d(stride, padding, dilation):
    x_shape, w_shape = (2, 9, 3), (3, 3, 4)
    pads = (
        _same_pads(x_shape[1:2], w_shape[:1], (stride,), (dilation,))
        if padding == "SAME"
        else [(0, 0)]
    )

    def torch_fn(x, w):
        xp = _torch_pad(x.permute(0, 2, 1), pads)
        return F.conv1d(xp, w.permute(2, 1, 0), stride=stride, dilation=dilation).permute(0, 2, 1)

    _compare(
        lambda x, w: ft.nn.conv1d(x, w, stride, padding, dilations=dilation),
        torch_fn,
        [rng.standard_normal(x_shape), rng.standard_normal(w_shape)],
    )


@pytest.mark.parametrize(
    "out_shape, strides, padding",
    [
        ((2, 7, 7, 2), 2, "SAME"),
        ((2, 8, 8, 2), 2, "SAME"),
        ((2, 9, 9, 2), 2, "VALID"),
        ((2, 4, 4, 2), 1, "SAME"),
    ],
)
def test_conv2d_transpose_is_torch_conv2d_input_gradient(out_shape, strides, padding):
    w = rng.standard_normal((3, 3, 2, 3))  # (kh, kw, out_channels, in_channels)
    pads = (
        _same_pads(out_shape[1:3], (3, 3), (strides,) * 2, (1, 1))
        if padding == "SAME"
        else [(0, 0)] * 2
    )
    z = torch.zeros(out_shape, dtype=torch.float64, requires_grad=True)
    conv = _nhwc(
        F.conv2d(_torch_pad(_nchw(z), pads), torch.tensor(w).permute(3, 2, 0, 1), stride=strides)
    )
    y = rng.standard_normal(conv.shape)
    (expected,) = torch.autograd.grad(conv, z, torch.tensor(y))
    got = ft.nn.conv2d_transpose(ft.constant(y), ft.constant(w), out_shape, strides, padding)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=RTOL, atol=ATOL)
    # and its gradients, against PyTorch's conv_transpose2d where padding is symmetric
    if padding == "VALID":
        _compare(
            lambda a, b: ft.nn.conv2d_transpose(a, b, out_shape, strides, padding),
            lambda a, b: _nhwc(F.conv_transpose2d(_nchw(a), b.permute(3, 2, 0, 1), stride=strides)),
            [y, w],
        )


def test_conv2d_second_order():
    x, w = rng.standard_normal((2, 6, 6, 2)), rng.standard_normal((3, 3, 2, 3))

    def ft_hvp():
        xs, ws = ft.constant(x), ft.constant(w)
        with ft.GradientTape() as outer:
            outer.watch([xs, ws])
            with ft.GradientTape() as inner:
                inner.watch([xs, ws])
                y = ft.reduce_sum(ft.nn.conv2d(xs, ws, 2, "SAME") ** 2)
            gx, gw = inner.gradient(y, [xs, ws])
            z = ft.reduce_sum(gx * gx) + ft.reduce_sum(ft.sin(gw))
        return [g.numpy() for g in outer.gradient(z, [xs, ws])]

    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    pads = _same_pads((6, 6), (3, 3), (2, 2), (1, 1))
    y = (_nhwc(F.conv2d(_torch_pad(_nchw(xt), pads), wt.permute(3, 2, 0, 1), stride=2)) ** 2).sum()
    gx, gw = torch.autograd.grad(y, [xt, wt], create_graph=True)
    z = (gx * gx).sum() + torch.sin(gw).sum()
    expected = torch.autograd.grad(z, [xt, wt])
    for g, e in zip(ft_hvp(), expected, strict=True):
        np.testing.assert_allclose(g, e.numpy(), rtol=1e-9, atol=1e-11)


POOLS = [(2, 2, "VALID"), (2, 2, "SAME"), (3, 1, "SAME"), (3, 2, "SAME"), ((2, 3), (1, 2), "VALID")]


@pytest.mark.parametrize("ksize, strides, padding", POOLS)
def test_max_pool2d(ksize, strides, padding):
    k = (ksize,) * 2 if isinstance(ksize, int) else ksize
    s = (strides,) * 2 if isinstance(strides, int) else strides
    x = rng.permutation(2 * 7 * 7 * 3).reshape(2, 7, 7, 3) / 10.0  # distinct values
    pads = _same_pads((7, 7), k, s, (1, 1)) if padding == "SAME" else [(0, 0)] * 2
    _compare(
        lambda t: ft.nn.max_pool2d(t, ksize, strides, padding),
        lambda t: _nhwc(F.max_pool2d(_torch_pad(_nchw(t), pads, -np.inf), k, s)),
        [x],
    )


@pytest.mark.parametrize(
    "ksize, strides, padding, torch_padding",
    [(2, 2, "VALID", 0), (3, 1, "SAME", 1), ((2, 3), (1, 2), "VALID", 0), (3, 3, "SAME", 1)],
)
def test_avg_pool2d(ksize, strides, padding, torch_padding):
    # symmetric SAME pads only: PyTorch's count_include_pad=False then matches TensorFlow
    x = (
        rng.standard_normal((2, 6, 6, 3))
        if ksize != 3 or strides != 3
        else rng.standard_normal((2, 7, 7, 3))
    )
    _compare(
        lambda t: ft.nn.avg_pool2d(t, ksize, strides, padding),
        lambda t: _nhwc(
            F.avg_pool2d(_nchw(t), ksize, strides, padding=torch_padding, count_include_pad=False)
        ),
        [x],
    )


def test_softmax_and_log_softmax():
    x = rng.standard_normal((3, 5))
    _compare(lambda t: ft.nn.softmax(t), lambda t: F.softmax(t, dim=-1), [x])
    _compare(lambda t: ft.nn.log_softmax(t, axis=0), lambda t: F.log_softmax(t, dim=0), [x])


def test_softmax_cross_entropy_with_logits():
    labels = rng.uniform(0, 1, (4, 5))  # not normalised: the logits gradient is exact anyway
    logits = rng.standard_normal((4, 5))
    _compare(
        ft.nn.softmax_cross_entropy_with_logits,
        lambda y, x: F.cross_entropy(x, y, reduction="none"),
        [labels, logits],
    )
    _compare(
        lambda y, x: ft.nn.softmax_cross_entropy_with_logits(y, x, axis=0),
        lambda y, x: F.cross_entropy(x.T, y.T, reduction="none"),
        [labels, logits],
    )


def test_sparse_softmax_cross_entropy_with_logits():
    labels = rng.integers(0, 5, 4)
    _compare(
        ft.nn.sparse_softmax_cross_entropy_with_logits,
        lambda y, x: F.cross_entropy(x, y, reduction="none"),
        [labels, rng.standard_normal((4, 5))],
    )


def test_sigmoid_cross_entropy_with_logits():
    labels, logits = rng.uniform(0, 1, (3, 4)), rng.standard_normal((3, 4)) * 5
    _compare(
        ft.nn.sigmoid_cross_entropy_with_logits,
        lambda y, x: F.binary_cross_entropy_with_logits(x, y, reduction="none"),
        [labels, logits],
    )


def test_l2_loss():
    _compare(
        ft.nn.l2_loss,
        lambda t: F.mse_loss(t, torch.zeros_like(t), reduction="sum") / 2,
        [rng.standard_normal((3, 4))],
    )


def test_layer_norm():
    x, gamma, beta = rng.standard_normal((2, 3, 4)), rng.standard_normal(4), rng.standard_normal(4)
    _compare(
        lambda t, g, b: ft.nn.layer_norm(t, -1, 1e-5, g, b),
        lambda t, g, b: F.layer_norm(t, (4,), g, b, eps=1e-5),
        [x, gamma, beta],
    )
    gamma2, beta2 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    _compare(
        lambda t, g, b: ft.nn.layer_norm(t, (1, 2), 1e-5, g, b),
        lambda t, g, b: F.layer_norm(t, (3, 4), g, b, eps=1e-5),
        [x, gamma2, beta2],
    )


def test_batch_normalization_inference():
    x = rng.standard_normal((2, 4, 4, 3))
    mean, var = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    offset, scale = rng.standard_normal(3), rng.standard_normal(3)
    # PyTorch's inference form does not differentiate the running statistics
    mean_t, var_t = torch.tensor(mean), torch.tensor(var)
    _compare(
        lambda t, o, s: ft.nn.batch_normalization(
            t, ft.constant(mean), ft.constant(var), o, s, 1e-3
        ),
        lambda t, o, s: _nhwc(
            F.batch_norm(_nchw(t), mean_t, var_t, s, o, training=False, eps=1e-3)
        ),
        [x, offset, scale],
    )
    # the statistics' gradients: the formula differentiated by PyTorch
    _compare(
        lambda t, m, v: ft.nn.batch_normalization(t, m, v, None, None, 1e-3),
        lambda t, m, v: (t - m) / torch.sqrt(v + 1e-3),
        [x, mean, var],
    )


def test_moments():
    x = rng.standard_normal((3, 4, 5))
    _compare(lambda t: ft.nn.moments(t, axes=[0, 2])[0], lambda t: torch.mean(t, dim=(0, 2)), [x])
    _compare(
        lambda t: ft.nn.moments(t, axes=[0, 2], keepdims=True)[1],
        lambda t: torch.var(t, dim=(0, 2), keepdim=True, correction=0),
        [x],
    )


def test_embedding_lookup():
    ids = np.array([[0, 3, 3], [5, 0, 1]])
    _compare(
        ft.nn.embedding_lookup, lambda w, i: F.embedding(i, w), [rng.standard_normal((6, 4)), ids]
    )


def test_embedding_lookup_max_norm():
    # PyTorch renormalises in place without a gradient through the scale; compare values only
    table, ids = rng.standard_normal((6, 4)) * 3, np.array([1, 2, 2])
    got = ft.nn.embedding_lookup(ft.constant(table), ft.constant(ids), max_norm=1.5)
    expected = F.embedding(torch.tensor(ids), torch.tensor(table), max_norm=1.5)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)


def test_bias_add():
    _compare(
        lambda v, b: ft.nn.bias_add(v, b),
        lambda v, b: v + b,
        [rng.standard_normal((64, 4, 3)), rng.standard_normal(3)],
    )
    _compare(
        lambda v, b: ft.nn.bias_add(v, b, "NCHW"),
        lambda v, b: v + b[:, None, None],
        [rng.standard_normal((2, 3, 4, 5)), rng.standard_normal(3)],
    )
