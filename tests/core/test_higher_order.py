"""Gradients of gradients: nested tapes to third order, Hessian-vector products,
and memory over a long loop with higher-order gradients."""

import gc

import numpy as np
import pytest

import fasttape as ft

from .test_memory import _rss_bytes


def _third(f, x0):
    """d/dx, d2/dx2, d3/dx3 of sum(f(x)) at x0 through three nested tapes."""
    x = ft.constant(np.asarray(x0, np.float64))
    with ft.GradientTape() as t3:
        t3.watch(x)
        with ft.GradientTape() as t2:
            t2.watch(x)
            with ft.GradientTape() as t1:
                t1.watch(x)
                y = ft.reduce_sum(f(x))
            g1 = t1.gradient(y, x)
        g2 = t2.gradient(g1, x)
    g3 = t3.gradient(g2, x)
    return g1.numpy(), g2.numpy(), g3.numpy()


X0 = np.array([-0.7, 0.3, 1.1])


@pytest.mark.parametrize("name, f, derivs", [
    ("sin", ft.sin, lambda x: (np.cos(x), -np.sin(x), -np.cos(x))),
    ("tanh", ft.tanh, lambda x: (1 - np.tanh(x) ** 2,
                                 -2 * np.tanh(x) * (1 - np.tanh(x) ** 2),
                                 (1 - np.tanh(x) ** 2) * (6 * np.tanh(x) ** 2 - 2))),
    ("exp", ft.exp, lambda x: (np.exp(x),) * 3),
    ("x**3 * sin", lambda x: x ** 3 * ft.sin(x), lambda x: (
        3 * x**2 * np.sin(x) + x**3 * np.cos(x),
        6 * x * np.sin(x) + 6 * x**2 * np.cos(x) - x**3 * np.sin(x),
        6 * np.sin(x) + 18 * x * np.cos(x) - 9 * x**2 * np.sin(x) - x**3 * np.cos(x))),
])
def test_third_order_elementwise(name, f, derivs):
    for got, want in zip(_third(f, X0), derivs(X0), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_third_order_matmul_chain():
    # y = sum(tanh(A x)^2): the first two derivatives analytically, the third
    # by finite differences of the analytic second
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 3))
    g1, g2, g3 = _third(lambda x: ft.tanh(ft.constant(a) @ x) ** 2, X0)

    def grad2(x):  # d/dx of sum_j d/dx_j (sum tanh(Ax)^2), analytic
        u = a @ x
        t = np.tanh(u)
        d2 = 2 * (1 - t**2) ** 2 - 4 * t**2 * (1 - t**2)
        return a.T @ (d2 * (a @ np.ones(3)))

    u = a @ X0
    t = np.tanh(u)
    np.testing.assert_allclose(g1, a.T @ (2 * t * (1 - t**2)), rtol=1e-10)
    np.testing.assert_allclose(g2, grad2(X0), rtol=1e-10)
    eps = 1e-5
    fd = np.array([(np.sum(grad2(X0 + eps * e)) - np.sum(grad2(X0 - eps * e))) / (2 * eps)
                   for e in np.eye(3)])
    np.testing.assert_allclose(g3, fd, rtol=1e-6, atol=1e-8)


def _mlp_loss(params, x, labels):
    w1, b1, w2, b2 = params
    h = ft.tanh(x @ w1 + b1)
    logits = h @ w2 + b2
    return ft.reduce_mean(ft.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))


def test_hessian_vector_product_of_an_mlp_matches_finite_differences():
    rng = np.random.default_rng(2)
    shapes = [(6, 5), (5,), (5, 3), (3,)]
    p0 = [rng.standard_normal(s) * 0.5 for s in shapes]
    v = [rng.standard_normal(s) for s in shapes]
    x = ft.constant(rng.standard_normal((4, 6)))
    labels = ft.constant(rng.integers(0, 3, 4))

    def grad_at(values):
        params = [ft.Variable(p) for p in values]
        with ft.GradientTape() as tape:
            loss = _mlp_loss(params, x, labels)
        return [g.numpy() for g in tape.gradient(loss, params)]

    params = [ft.Variable(p) for p in p0]
    with ft.GradientTape() as outer:
        with ft.GradientTape() as inner:
            loss = _mlp_loss(params, x, labels)
        grads = inner.gradient(loss, params)
        gv = sum(ft.reduce_sum(g * ft.constant(vi)) for g, vi in zip(grads, v))
    hvp = outer.gradient(gv, params)

    eps = 1e-6
    plus = grad_at([p + eps * vi for p, vi in zip(p0, v)])
    minus = grad_at([p - eps * vi for p, vi in zip(p0, v)])
    for h, gp, gm in zip(hvp, plus, minus, strict=True):
        np.testing.assert_allclose(h.numpy(), (gp - gm) / (2 * eps), rtol=1e-5, atol=1e-8)


def test_rss_flat_over_10000_steps_with_higher_order_gradients():
    rng = np.random.default_rng(3)
    w = ft.Variable(rng.standard_normal((8, 4)) * 0.1)
    x = ft.constant(rng.standard_normal((16, 8)))
    rss = {}
    for step in range(10_000):
        with ft.GradientTape() as outer:
            with ft.GradientTape() as inner:
                loss = ft.reduce_mean(ft.tanh(x @ w) ** 2)
            (g,) = inner.gradient(loss, [w])
            penalty = ft.reduce_sum(g * g)
        (h,) = outer.gradient(penalty, [w])
        w.assign_sub(0.01 * (g + h))
        if step in (2_000, 9_999):
            gc.collect()
            rss[step] = _rss_bytes()
    growth = rss[9_999] - rss[2_000]
    assert growth < 4 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB"
