"""tape.jacobian and tape.batch_jacobian against full finite-difference Jacobians."""

import numpy as np
import pytest

import fasttape as ft


def _fd_jacobian(f, x, eps=1e-6):
    """d f(x) / d x by central differences: shape f(x).shape + x.shape."""
    x = np.asarray(x, np.float64)
    y = np.asarray(f(x))
    jac = np.zeros(y.shape + x.shape)
    for idx in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[idx] = eps
        jac[(...,) + idx] = (np.asarray(f(x + d)) - np.asarray(f(x - d))) / (2 * eps)
    return jac


rng = np.random.default_rng(5)
W = rng.standard_normal((4, 3))
B = rng.standard_normal(3)

CASES = {
    # batchable ops only: one batched sweep
    "elementwise": (lambda x: ft.tanh(x) * x + 1.0, lambda x: np.tanh(x) * x + 1.0, (5,)),
    "mlp": (lambda x: ft.sigmoid(x @ W + B), lambda x: 1 / (1 + np.exp(-(x @ W + B))), (2, 4)),
    "reductions": (lambda x: ft.reduce_sum(x * x, axis=1) + ft.reduce_mean(x),
                   lambda x: np.sum(x * x, axis=1) + np.mean(x), (3, 4)),
    "vector_matmul": (lambda x: x @ W, lambda x: x @ W, (4,)),
    # ops without batchable VJPs (softmax over a positive axis, reshape, indexing):
    # the sweep falls back to one VJP call per row
    "softmax": (lambda x: ft.nn.softmax(x, axis=0), lambda x: np.exp(x) / np.exp(x).sum(0), (4,)),
    "reshape_index": (lambda x: ft.reshape(x, (2, 3))[:, 1:] ** 2,
                      lambda x: np.reshape(x, (2, 3))[:, 1:] ** 2, (6,)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_jacobian_matches_finite_differences(name):
    f, f_np, shape = CASES[name]
    x0 = rng.standard_normal(shape)
    x = ft.constant(x0)
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    jac = tape.jacobian(y, x)
    assert jac.shape == tuple(y.shape) + shape
    np.testing.assert_allclose(jac.numpy(), _fd_jacobian(f_np, x0), rtol=1e-6, atol=1e-8)


def test_jacobian_100x100_is_the_matrix_of_a_linear_map():
    a = rng.standard_normal((100, 100))
    x = ft.constant(rng.standard_normal(100))
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = ft.matmul(ft.constant(a), ft.expand_dims(x, 1))[:, 0]
    np.testing.assert_allclose(tape.jacobian(y, x).numpy(), a, rtol=1e-12)


def test_jacobian_nested_sources_and_unconnected():
    x, z = ft.constant([1.0, 2.0]), ft.constant([3.0])
    with ft.GradientTape(persistent=True) as tape:
        tape.watch([x, z])
        y = x * 3.0
    jx, jz = tape.jacobian(y, [x, z])
    np.testing.assert_array_equal(jx.numpy(), 3 * np.eye(2))
    assert jz is None
    jz0 = tape.jacobian(y, {"z": z}, unconnected_gradients=ft.UnconnectedGradients.ZERO)["z"]
    assert jz0.shape == (2, 1) and not jz0.numpy().any()


def test_jacobian_of_a_scalar_is_the_gradient():
    x = ft.constant([1.0, 2.0, 3.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = ft.reduce_sum(x**2)
    np.testing.assert_allclose(tape.jacobian(y, x).numpy(), [2.0, 4.0, 6.0])


def test_batch_jacobian_matches_per_example_jacobians():
    x0 = rng.standard_normal((5, 4))
    x = ft.constant(x0)
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = ft.tanh(x @ W)
    bj = tape.batch_jacobian(y, x)
    assert bj.shape == (5, 3, 4)
    for i in range(5):
        np.testing.assert_allclose(
            bj.numpy()[i], _fd_jacobian(lambda r: np.tanh(r @ W), x0[i]), rtol=1e-6, atol=1e-8)


def test_batch_jacobian_rejects_mismatched_batch():
    x = ft.constant(np.ones((3, 2)))
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = ft.reduce_sum(x)
    with pytest.raises(ValueError, match="batch"):
        tape.batch_jacobian(y, x)


def test_jacobian_of_a_gradient_is_the_hessian():
    x0 = rng.standard_normal(3)
    x = ft.constant(x0)
    with ft.GradientTape() as outer:
        outer.watch(x)
        with ft.GradientTape() as inner:
            inner.watch(x)
            y = ft.reduce_sum(ft.sin(x) * x[0])
        g = inner.gradient(y, x)
    h = outer.jacobian(g, x).numpy()

    def grad_np(v):
        out = np.cos(v) * v[0]
        out[0] += np.sum(np.sin(v))
        return out

    np.testing.assert_allclose(h, _fd_jacobian(grad_np, x0), rtol=1e-6, atol=1e-8)


def test_jacobian_of_a_jacobian_keeps_the_batch_axis():
    # the example: d/dx of d/dx sum(x * x) is 2 I, not [[2, 2], [2, 2]]
    x = ft.constant([1.0, 2.0])
    with ft.GradientTape() as g:
        g.watch(x)
        with ft.GradientTape() as gg:
            gg.watch(x)
            y = ft.reduce_sum(x * x)
        j = gg.jacobian(y, x)
    np.testing.assert_array_equal(g.jacobian(j, x).numpy(), [[2.0, 0.0], [0.0, 2.0]])


def test_jacobian_of_a_jacobian_of_a_vector_target():
    x0 = np.array([1.0, 2.0, 0.5])
    x = ft.constant(x0)
    with ft.GradientTape() as g:
        g.watch(x)
        with ft.GradientTape() as gg:
            gg.watch(x)
            y = x * x * x + ft.reduce_sum(x) * x  # a broadcast inside
        j = gg.jacobian(y, x)
    h = g.jacobian(j, x).numpy()
    expected = np.zeros((3, 3, 3))
    for i in range(3):
        expected[i, i, i] = 6 * x0[i]
        expected[i, i, :] += 1.0
        expected[i, :, i] += 1.0
    np.testing.assert_allclose(h, expected, rtol=1e-12)


def test_batch_jacobian_of_a_batch_jacobian():
    x0 = rng.standard_normal((4, 3))
    x = ft.constant(x0)
    with ft.GradientTape() as g:
        g.watch(x)
        with ft.GradientTape() as gg:
            gg.watch(x)
            y = ft.sin(x) * ft.reduce_sum(x, axis=1, keepdims=True)
        bj = gg.batch_jacobian(y, x)
    h = g.batch_jacobian(bj, x).numpy()
    assert h.shape == (4, 3, 3, 3)
    for b in range(4):
        r, s = x0[b], x0[b].sum()
        # y_t = sin(r_t) s: d2 y_t / dr_u dr_v
        exp = np.zeros((3, 3, 3))
        for t in range(3):
            exp[t, t, t] = -np.sin(r[t]) * s + 2 * np.cos(r[t])
            exp[t, t, :] += np.where(np.arange(3) == t, 0.0, np.cos(r[t]))
            exp[t, :, t] += np.where(np.arange(3) == t, 0.0, np.cos(r[t]))
        np.testing.assert_allclose(h[b], exp, rtol=1e-10, atol=1e-12)
