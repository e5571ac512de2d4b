"""Behaviour of the shape and linear-algebra ops beyond their OpSpecs: TensorFlow's
conventions (one_hot rows, scatter_nd repeats, split sizes, gather batch_dims),
the NumPy protocol entries, higher-order and Jacobian use of einsum and the
linalg ops, and the creation functions eye and linspace."""

import numpy as np
import pytest

import fasttape as ft

RNG = np.random.default_rng(0)


def _grad(f, *values):
    xs = [ft.constant(np.asarray(v, dtype=np.float64)) for v in values]
    with ft.GradientTape() as tape:
        tape.watch(xs)
        y = f(*xs)
    return y, [None if g is None else g.numpy() for g in tape.gradient(y, xs)]


# --- TensorFlow's conventions -------------------------------------------------------------


def test_one_hot_out_of_range_indices_give_rows_of_off_value():
    out = ft.one_hot(ft.constant([1, -1, 3]), 3, on_value=5.0, off_value=-1.0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), [[-1, 5, -1], [-1, -1, -1], [-1, -1, -1]])


def test_one_hot_dtype_follows_on_value_and_axis_places_the_new_axis():
    out = ft.one_hot(
        ft.constant([[0, 1]]), 2, on_value=np.float64(1), off_value=np.float64(0), axis=0
    )
    assert out.dtype == np.float64 and out.shape == (2, 1, 2)
    np.testing.assert_array_equal(out.numpy()[:, 0, :], np.eye(2))
    assert ft.one_hot([0], 2, dtype=ft.int32).dtype == np.int32


def test_scatter_nd_adds_repeated_indices():
    out = ft.scatter_nd(ft.constant([[0, 1], [0, 1], [2, 0]]), ft.constant([1.0, 2.0, 3.0]), (3, 2))
    np.testing.assert_array_equal(out.numpy(), [[0, 3], [0, 0], [3, 0]])


def test_gather_nd_and_scatter_nd_are_adjoint():
    params = RNG.normal(size=(4, 3))
    idx = np.array([[1, 2], [3, 0], [1, 2]])
    _, (g,) = _grad(lambda p: ft.gather_nd(p, idx), params)
    np.testing.assert_array_equal(g, ft.scatter_nd(idx, np.ones(3), (4, 3)).numpy())


def test_gather_batch_dims_defaults_axis_to_batch_dims():
    params = RNG.normal(size=(2, 5))
    idx = np.array([[4, 0, 4], [1, 1, 2]])
    out = ft.gather(params, idx, batch_dims=1)
    np.testing.assert_array_equal(out.numpy(), np.take_along_axis(params, idx, axis=1))
    _, (g,) = _grad(lambda p: ft.gather(p, idx, batch_dims=1), params)
    np.testing.assert_array_equal(g, [[1, 0, 0, 0, 2], [0, 2, 1, 0, 0]])


def test_split_takes_sizes_and_tensor_arguments():
    x = ft.constant(np.arange(12.0).reshape(2, 6))
    a, b, c = ft.split(x, ft.constant([1, 2, 3]), axis=-1)
    assert [a.shape, b.shape, c.shape] == [(2, 1), (2, 2), (2, 3)]
    np.testing.assert_array_equal(c.numpy(), x.numpy()[:, 3:])
    assert len(ft.split(x, 2, axis=1, num=2)) == 2


def test_split_gradient_reaches_every_piece():
    _, (g,) = _grad(
        lambda x: sum(float(i + 1) * p for i, p in enumerate(ft.split(x, 3))), np.ones(6)
    )
    np.testing.assert_array_equal(g, [1, 1, 2, 2, 3, 3])


def test_tile_pad_and_slice_take_tensor_arguments():
    x = ft.constant(np.arange(6.0).reshape(2, 3))
    assert ft.tile(x, ft.constant([2, 1])).shape == (4, 3)
    assert ft.pad(x, ft.constant([[1, 0], [0, 2]])).shape == (3, 5)
    assert ft.slice(x, ft.constant([0, 1]), ft.constant([1, 2])).shape == (1, 2)


def test_pad_modes_match_tensorflow_examples():
    t = ft.constant([[1, 2, 3], [4, 5, 6]])
    p = [[1, 1], [2, 2]]
    np.testing.assert_array_equal(
        ft.pad(t, p, "REFLECT").numpy(),
        [
            [6, 5, 4, 5, 6, 5, 4],
            [3, 2, 1, 2, 3, 2, 1],
            [6, 5, 4, 5, 6, 5, 4],
            [3, 2, 1, 2, 3, 2, 1],
        ],
    )
    np.testing.assert_array_equal(
        ft.pad(t, p, "symmetric").numpy(),
        [
            [2, 1, 1, 2, 3, 3, 2],
            [2, 1, 1, 2, 3, 3, 2],
            [5, 4, 4, 5, 6, 6, 5],
            [5, 4, 4, 5, 6, 6, 5],
        ],
    )


def test_pad_reflect_gradient_counts_each_copy():
    _, (g,) = _grad(lambda x: ft.pad(x, [[2, 2]], "REFLECT"), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(g, [2, 3, 2])  # [3 2 | 1 2 3 | 2 1]


def test_boolean_mask_with_axis():
    x = np.arange(24.0).reshape(2, 3, 4)
    m = np.array([[True, False, True, False]] * 3)
    out = ft.boolean_mask(x, m, axis=1)
    np.testing.assert_array_equal(out.numpy(), x[:, m])
    _, (g,) = _grad(lambda t: ft.boolean_mask(t, m, axis=1), x)
    np.testing.assert_array_equal(g, np.broadcast_to(m, x.shape).astype(float))


def test_integer_indices_get_no_gradient():
    params = ft.constant(RNG.normal(size=(3, 2)))
    idx = ft.constant([[0], [2]])
    with ft.GradientTape() as tape:
        tape.watch([params, idx])
        y = ft.gather_nd(params, idx)
    assert tape.gradient(y, idx) is None


def test_eye_with_batch_shape_and_linspace():
    e = ft.eye(2, 3, batch_shape=[4], dtype=ft.float64)
    assert e.shape == (4, 2, 3) and e.dtype == np.float64
    np.testing.assert_array_equal(e.numpy()[3], np.eye(2, 3))
    np.testing.assert_allclose(ft.linspace(0.0, 1.0, 5).numpy(), np.linspace(0, 1, 5))


# --- linear algebra ----------------------------------------------------------------------


def test_einsum_implicit_output_orders_letters_as_numpy():
    a, b = RNG.normal(size=(2, 3)), RNG.normal(size=(4,))
    np.testing.assert_allclose(ft.einsum("Ba,b", a, b).numpy(), np.einsum("Ba,b", a, b))
    np.testing.assert_allclose(ft.einsum("ba", a).numpy(), a.T)


def test_einsum_hessian_of_a_quadratic_form():
    a = RNG.normal(size=(3, 3))
    x = ft.constant(RNG.normal(size=3))
    with ft.GradientTape() as outer:
        outer.watch(x)
        with ft.GradientTape() as inner:
            inner.watch(x)
            y = ft.einsum("i,ij,j", x, a, x)
        g = inner.gradient(y, x)
    np.testing.assert_allclose(g.numpy(), (a + a.T) @ x.numpy())
    np.testing.assert_allclose(outer.jacobian(g, x).numpy(), a + a.T)


def test_einsum_pair_with_a_constant_operand_computes_one_gradient():
    w = ft.constant(RNG.normal(size=(3, 2)))
    x = np.ones((4, 3))  # a constant: its gradient is never asked for
    with ft.GradientTape() as tape:
        tape.watch(w)
        y = ft.einsum("bi,ij->bj", x, w)
    np.testing.assert_allclose(tape.gradient(y, w).numpy(), np.full((3, 2), 4.0))


def test_jacobian_through_linalg_ops():
    a = RNG.normal(size=(3, 3)) + 3 * np.eye(3)
    x = ft.constant(a)
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = ft.linalg.inv(x)
    jac = tape.jacobian(y, x).numpy()
    inv = np.linalg.inv(a)
    np.testing.assert_allclose(jac, -np.einsum("ik,lj->ijkl", inv, inv), atol=1e-12)


def test_inverse_of_inverse_second_order():
    a = RNG.normal(size=(2, 2)) + 3 * np.eye(2)
    x = ft.constant(a)
    with ft.GradientTape() as outer:
        outer.watch(x)
        with ft.GradientTape() as inner:
            inner.watch(x)
            y = ft.reduce_sum(ft.linalg.inv(ft.linalg.inv(x)))
        g = inner.gradient(y, x)
        s = ft.reduce_sum(g * g)
    np.testing.assert_allclose(g.numpy(), np.ones((2, 2)), atol=1e-12)
    np.testing.assert_allclose(outer.gradient(s, x).numpy(), np.zeros((2, 2)), atol=1e-10)


def test_cholesky_gradient_is_symmetric():
    a = RNG.normal(size=(3, 3))
    _, (g,) = _grad(
        lambda x: ft.reduce_sum(ft.linalg.cholesky(x) * RNG.normal(size=(3, 3))),
        a @ a.T + 3 * np.eye(3),
    )
    np.testing.assert_allclose(g, g.T, atol=1e-12)


def test_slogdet_sign_and_det_agree():
    a = RNG.normal(size=(4, 3, 3))
    sign, logdet = ft.linalg.slogdet(a)
    np.testing.assert_allclose((sign * ft.exp(logdet)).numpy(), np.linalg.det(a))
    np.testing.assert_allclose(ft.linalg.det(a).numpy(), np.linalg.det(a))


def test_solve_with_adjoint_and_broadcast_batch():
    a = RNG.normal(size=(2, 1, 3, 3)) + 3 * np.eye(3)
    b = RNG.normal(size=(4, 3, 2))
    out = ft.linalg.solve(a, b, adjoint=True)
    np.testing.assert_allclose(out.numpy(), np.linalg.solve(np.swapaxes(a, -1, -2), b))
    _, (ga, gb) = _grad(lambda x, y: ft.linalg.solve(x, y), a, b)
    assert ga.shape == a.shape and gb.shape == b.shape


@pytest.mark.parametrize(
    "ord, axis",
    [
        ("euclidean", None),
        (1, None),
        (np.inf, -1),
        (3, 0),
        (0.5, None),
        ("fro", (0, 1)),
        (1, (0, 1)),
        (np.inf, (1, 0)),
        (2, (0, 1)),
        ("euclidean", [-2, -1]),
    ],
)
def test_norm_matches_numpy(ord, axis):
    x = RNG.normal(size=(3, 4))
    got = ft.norm(x, ord=ord, axis=axis, keepdims=True).numpy()
    np_ord = None if ord == "euclidean" else ord
    if axis is None:
        expected = np.linalg.norm(x.reshape(-1), np_ord, keepdims=True).reshape(1, 1)
    elif isinstance(ord, float) and ord not in (np.inf,) and not isinstance(axis, (tuple, list)):
        expected = np.sum(np.abs(x) ** ord, axis=axis, keepdims=True) ** (1 / ord)
    else:
        axes = tuple(axis) if isinstance(axis, list) else axis
        expected = np.linalg.norm(x, np_ord, axis=axes, keepdims=True)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_linalg_paths():
    for name in (
        "inv",
        "solve",
        "det",
        "slogdet",
        "cholesky",
        "norm",
        "matmul",
        "einsum",
        "tensordot",
        "matrix_transpose",
        "trace",
        "diag_part",
        "logdet",
        "adjoint",
        "eye",
    ):
        assert callable(getattr(ft.linalg, name)), name
    assert ft.linalg.norm is ft.norm and ft.math.norm is ft.norm


# --- NumPy protocol ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, f",
    [
        ("tile", lambda t: np.tile(t, 2)),
        ("tile-more-reps", lambda t: np.tile(t, (2, 1, 1))),
        ("pad", lambda t: np.pad(t, 1)),
        ("pad-reflect", lambda t: np.pad(t, ((0, 0), (1, 1)), mode="reflect")),
        ("split", lambda t: np.split(t, [1, 2], axis=1)[2]),
        ("einsum", lambda t: np.einsum("ij,kj->ik", t, t)),
        ("tensordot", lambda t: np.tensordot(t, t, axes=([1], [1]))),
        ("trace", lambda t: np.trace(t[:, :2])),
        ("linalg.inv", lambda t: np.linalg.inv(t[:, :2] + 2 * np.eye(2))),
        ("linalg.det", lambda t: np.linalg.det(t[:, :2])),
        ("linalg.slogdet", lambda t: np.linalg.slogdet(t[:, :2] + 2 * np.eye(2))[1]),
        ("linalg.solve", lambda t: np.linalg.solve(t[:, :2] + 2 * np.eye(2), t[:, 2])),
        ("linalg.cholesky", lambda t: np.linalg.cholesky(t[:, :2] @ t[:, :2].T + np.eye(2))),
        ("linalg.norm", lambda t: np.linalg.norm(t)),
        ("linalg.norm-matrix", lambda t: np.linalg.norm(t, 1)),
    ],
)
def test_numpy_function_on_a_tensor_is_recorded(name, f):
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.3]])
    t = ft.constant(x)
    with ft.GradientTape() as tape:
        tape.watch(t)
        y = f(t)
    assert isinstance(y, ft.Tensor), name
    np.testing.assert_allclose(y.numpy(), np.asarray(f(x)), rtol=1e-12, err_msg=name)
    g = tape.gradient(y, t)
    assert g is not None and g.shape == x.shape, name
