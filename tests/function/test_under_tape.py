"""A traced function called while an eager GradientTape records is one op
of the tape whose gradient is a traced gradient graph (Note [Traced
functions under a tape] in fasttape/function.py): gradients equal eager
mode's to 1e-6, first and second order, with respect to arguments and to
the variables the function reads."""

import numpy as np
import pytest

import fasttape as ft

V = ft.Variable(np.array([0.5, -1.0, 2.0]))

# name -> (function of (x, y), float64 x and y of shape (3,))
FUNCTIONS = {
    "elementwise": lambda x, y: ft.reduce_sum(ft.sin(x) * y + ft.exp(x * 0.5)),
    "matmul": lambda x, y: ft.reduce_sum(ft.tanh(ft.reshape(x, (1, 3)) @ ft.reshape(y, (3, 1)))),
    "broadcast": lambda x, y: ft.reduce_mean((x[:, None] * y[None, :] + 1.0) ** 2),
    "variable": lambda x, y: ft.reduce_sum(ft.sin(x * V) + y * V * V),
    "two_outputs": lambda x, y: (ft.reduce_sum(x * x * y), ft.reduce_prod(ft.cos(y) + 2.0)),
    "structure": lambda x, y: {"a": ft.reduce_sum(x ** 3), "b": [ft.reduce_sum(x * y)]},
    "unused_output": lambda x, y: (ft.reduce_sum(x * y), y * 2.0),
}


def _losses(out):
    flat = ft.nest.flatten(out)
    return flat[0] if len(flat) == 1 else ft.add_n([ft.reduce_sum(t) for t in flat[:1]]
                                                    + [ft.reduce_sum(t) * 0.5 for t in flat[1:]])


def _grads(fn, x, y, order):
    """(first-order gradients w.r.t. x, y, V; second-order of their sum
    w.r.t. x, y, V) with fn called under the tapes."""
    with ft.GradientTape(persistent=True) as outer:
        outer.watch([x, y])
        with ft.GradientTape() as inner:
            inner.watch([x, y])
            loss = _losses(fn(x, y))
        g1 = inner.gradient(loss, [x, y, V],
                            unconnected_gradients=ft.UnconnectedGradients.ZERO)
        total = ft.add_n([ft.reduce_sum(g * g) for g in g1])
    if order == 1:
        return g1
    return outer.gradient(total, [x, y, V], unconnected_gradients=ft.UnconnectedGradients.ZERO)


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_gradients_through_a_traced_call_equal_eager(name, order):
    fn = FUNCTIONS[name]
    rng = np.random.default_rng(3)
    x, y = ft.constant(rng.normal(size=3)), ft.constant(rng.normal(size=3))
    traced = ft.function(fn)
    expected = _grads(fn, x, y, order)
    for _ in range(2):  # the second call reuses the recorded forward and backward
        got = _grads(traced, x, y, order)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-6, atol=1e-9)
    assert traced.tracing_count == 1


def test_the_call_is_one_op_and_runs_no_python():
    runs = []

    @ft.function
    def f(x):
        runs.append(1)
        y = x
        for _ in range(20):
            y = ft.sin(y) * 1.01
        return ft.reduce_sum(y)

    x = ft.constant([0.1, 0.2])
    f(x)
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    assert runs == [1]
    eager = x
    with ft.GradientTape() as t2:
        t2.watch(x)
        for _ in range(20):
            eager = ft.sin(eager) * 1.01
        e = ft.reduce_sum(eager)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), t2.gradient(e, x).numpy(),
                               rtol=1e-6)


def test_random_draws_are_not_drawn_again_by_the_gradient():
    @ft.function
    def dropout(x):
        return x * ft.cast(ft.random.uniform(x.shape) > 0.5, x.dtype)

    x = ft.constant(np.arange(1.0, 65.0))
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = dropout(x)
    mask = y.numpy() / x.numpy()
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), mask)


def test_a_tape_that_follows_nothing_it_reads_records_nothing():
    f = ft.function(lambda x: x * 2.0)
    x = ft.constant([1.0])
    with ft.GradientTape() as tape:
        y = f(x)  # x is not watched, f reads no variable
    assert tape.gradient(y, x) is None


def test_a_layer_and_an_integer_argument():
    from fasttape import layers

    dense = layers.Dense(3, activation="tanh")

    def fn(n, x):
        return ft.reduce_sum(dense(x) * ft.cast(n, ft.float32))

    traced = ft.function(fn)
    n, x = ft.constant(np.array([2], np.int32)), ft.constant(np.ones((2, 4), np.float32))
    traced(n, x)  # builds the layer on the first trace
    results = []
    for f in (traced, fn):
        with ft.GradientTape() as tape:
            tape.watch(x)
            y = f(n, x)
        results.append(tape.gradient(y, dense.trainable_variables + [x, n]))
    got, want = results
    assert got[-1] is None and want[-1] is None   # an integer has no gradient
    for g, w in zip(got[:-1], want[:-1]):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6, atol=1e-7)
