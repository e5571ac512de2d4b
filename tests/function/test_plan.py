"""The executor's plan (Note [Executor] in fasttape/_core/_executor.pxi):
constant folding, common subexpressions, dead nodes and buffer reuse, seen
on the Plan's statistics, and results equal to eager mode's."""

import numpy as np
import pytest

import fasttape as ft


def _plan(f, *args):
    return f.get_concrete_function(*args).plan


def test_constants_fold_at_plan_time():
    w = ft.constant(np.arange(6.0).reshape(2, 3))

    @ft.function
    def f(x):
        scale = ft.reduce_sum(ft.exp(w) * 2.0)     # only constants: folded
        return x * scale

    x = ft.constant(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(f(x).numpy(), (x * ft.reduce_sum(ft.exp(w) * 2.0)).numpy())
    plan = _plan(f, x)
    assert plan.stats["folded"] == 3
    assert plan.step_types == ["multiply"]


def test_common_subexpressions_merge():
    @ft.function
    def f(x, y):
        a = ft.sin(x) * y
        b = ft.sin(x) * y            # the same op on the same inputs
        c = ft.reduce_sum(x, axis=0) + ft.reduce_sum(x, axis=0)
        d = ft.reduce_sum(x, axis=1)  # another attribute: not merged
        return a + b, c, d

    x = ft.constant(np.arange(6.0).reshape(2, 3))
    y = ft.constant(np.ones((2, 3)))
    a, c, d = f(x, y)
    np.testing.assert_array_equal(a.numpy(), 2 * np.sin(x.numpy()))
    np.testing.assert_array_equal(c.numpy(), 2 * x.numpy().sum(axis=0))
    np.testing.assert_array_equal(d.numpy(), x.numpy().sum(axis=1))
    plan = _plan(f, x, y)
    assert plan.stats["cse"] == 3
    assert plan.step_types.count("sin") == 1 and plan.step_types.count("reduce_sum") == 2


def test_equal_small_constants_are_one_slot():
    @ft.function
    def f(x):
        return (x * 1.5) * 1.5 + 1.5

    x = ft.constant([1.0])
    np.testing.assert_array_equal(f(x).numpy(), [(1.0 * 1.5) * 1.5 + 1.5])
    assert _plan(f, x).stats["consts"] == 1


def test_dead_nodes_are_removed():
    @ft.function
    def f(x):
        unused = ft.exp(x) @ ft.transpose(x)   # noqa: F841  (nothing needs it)
        return x + 1.0

    x = ft.constant(np.ones((2, 2)))
    np.testing.assert_array_equal(f(x).numpy(), np.ones((2, 2)) + 1.0)
    plan = _plan(f, x)
    assert plan.stats["dead"] == 3 and plan.step_types == ["add"]


def test_a_chain_of_ufuncs_reuses_its_buffers():
    @ft.function
    def f(x):
        y = x
        for _ in range(20):
            y = ft.sin(y) * 1.01 + 0.1
        return y

    x0 = np.linspace(-1.0, 1.0, 1000)
    x = ft.constant(x0)
    out = f(x)
    ref = x0
    for _ in range(20):
        ref = np.sin(ref) * 1.01 + 0.1
    np.testing.assert_array_equal(out.numpy(), ref)
    np.testing.assert_array_equal(x.numpy(), x0)          # the argument is never written
    plan = _plan(f, x)
    assert plan.stats["reuse_sites"] == 59                 # every step but the first sin
    before = plan.reused
    out2 = f(x)
    assert plan.reused - before == 59
    np.testing.assert_array_equal(out2.numpy(), ref)
    np.testing.assert_array_equal(out.numpy(), ref)        # an earlier result is never reused


def test_no_reuse_when_a_view_shares_the_buffer():
    """An input that dies at a step but has a live view (reshape, transpose)
    is not overwritten: the call-time check sees the view's reference."""
    @ft.function
    def f(x):
        a = x * 2.0
        view = ft.reshape(a, [-1])
        b = ft.exp(a)                 # a dies here, but `view` still reads its buffer
        return b, view * 1.0

    x = ft.constant(np.arange(4.0).reshape(2, 2))
    b, v = f(x)
    np.testing.assert_array_equal(b.numpy(), np.exp(x.numpy() * 2.0))
    np.testing.assert_array_equal(v.numpy(), (x.numpy() * 2.0).reshape(-1))
    plan = _plan(f, x)
    # exp(a) and view * 1.0 were candidates; the call-time check refused both
    assert plan.stats["reuse_sites"] == 2 and plan.reused == 0


def test_no_reuse_across_dtypes_or_broadcasting():
    @ft.function
    def f(x, y):
        a = x + 1.0               # (3, 1)
        b = a + y                 # broadcasts to (3, 4): a's buffer is too small
        c = ft.cast(b, ft.float32) * 2.0
        return c > 1.0            # bool: not c's dtype

    x = ft.constant(np.arange(3.0).reshape(3, 1))
    y = ft.constant(np.ones((3, 4)))
    np.testing.assert_array_equal(
        f(x, y).numpy(), ((x.numpy() + 1.0 + y.numpy()).astype(np.float32) * 2.0) > 1.0)
    assert _plan(f, x, y).stats["reuse_sites"] == 1   # only `* 2.0` writes into the cast


def test_variable_values_and_constants_are_never_reused():
    v = ft.Variable(np.ones(300))
    c = ft.constant(np.full(300, 2.0))

    @ft.function
    def f():
        return ft.sin(v + 0.0) + ft.sin(c * v)

    ref = np.sin(np.ones(300)) + np.sin(np.full(300, 2.0))
    np.testing.assert_array_equal(f().numpy(), ref)
    np.testing.assert_array_equal(f().numpy(), ref)
    np.testing.assert_array_equal(v.numpy(), np.ones(300))
    np.testing.assert_array_equal(c.numpy(), np.full(300, 2.0))


def test_unknown_dims_run_without_reuse():
    @ft.function(input_signature=[ft.TensorSpec([None], ft.float64)])
    def f(x):
        return ft.exp(x) * 2.0

    for n in (1, 5):
        x = np.linspace(0, 1, n)
        np.testing.assert_array_equal(f(ft.constant(x)).numpy(), np.exp(x) * 2.0)
    assert _plan(f).stats["reuse_sites"] == 0


def test_variadic_ops_with_many_inputs():
    @ft.function
    def f(xs):
        return ft.add_n(xs), ft.concat(xs, axis=0)

    xs = [ft.constant([float(i)]) for i in range(40)]
    s, c = f(xs)
    assert float(s.numpy()[0]) == sum(range(40))
    np.testing.assert_array_equal(c.numpy(), np.arange(40.0))


def test_plan_refuses_a_placeholder_that_is_no_argument():
    @ft.function
    def f(x):
        return x + ft.placeholder(ft.float32, [1])

    with pytest.raises(ValueError, match="is not an argument"):
        f(ft.constant([1.0]))


def test_multi_output_ops():
    @ft.function
    def f(x):
        mean, var = ft.nn.moments(x, axes=[0])
        a, b = ft.split(x, 2)
        return mean + var, a * b

    x0 = np.arange(4.0)
    (mv, ab) = f(ft.constant(x0))
    np.testing.assert_allclose(mv.numpy(), x0.mean() + x0.var())
    np.testing.assert_array_equal(ab.numpy(), x0[:2] * x0[2:])


def test_intermediates_are_released_after_their_last_use():
    """Static lifetimes: a chain of 40 matmuls holds two buffers at a time,
    not forty (NumPy reports its allocations to tracemalloc)."""
    import tracemalloc

    w = ft.constant(np.eye(200) * 0.5)

    @ft.function
    def f(x):
        y = x
        for _ in range(40):
            y = ft.matmul(y, w)
        return ft.reduce_sum(y)

    x = ft.constant(np.ones((1000, 200)))
    f(x)
    buffer = 1000 * 200 * 8
    tracemalloc.start()
    try:
        out = f(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert float(out.numpy()) == 1000 * 200 * 0.5 ** 40
    assert peak < 4 * buffer, f"peak {peak / buffer:.1f} buffers"


_OPERATORS = {
    "add": lambda x, c: x + c, "radd": lambda x, c: c + x, "sub": lambda x, c: x - c,
    "rsub": lambda x, c: c - x, "mul": lambda x, c: x * c, "div": lambda x, c: x / c,
    "rdiv": lambda x, c: c / x, "floordiv": lambda x, c: x // c, "mod": lambda x, c: x % c,
    "pow": lambda x, c: x ** c, "rpow": lambda x, c: c ** x, "lt": lambda x, c: x < c,
    "eq": lambda x, c: x == c, "max": lambda x, c: ft.maximum(x, c),
}


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32, np.complex64])
@pytest.mark.parametrize("c", [2, 0.5, 3, -1, 1.01, 0.1])
@pytest.mark.parametrize("name", sorted(_OPERATORS))
def test_python_numbers_give_eager_results(name, c, dtype):
    """A Python number in a traced function is a 0-d Const; the plan passes
    it to the op as a Python number again, so results equal eager mode's
    bit for bit (and `x ** 2` is NumPy's square in both modes)."""
    fn = _OPERATORS[name]
    if np.dtype(dtype).kind in "iu" and (isinstance(c, float) or name in ("div", "rdiv")):
        return
    if np.dtype(dtype).kind == "c" and name in ("floordiv", "mod", "lt", "max"):
        return
    if c < 0 and (name == "rpow" or (name == "pow" and np.dtype(dtype).kind in "iu")):
        return  # NaNs or an error, in both modes
    rng = np.random.default_rng(0)
    x0 = rng.uniform(0.5, 2.0, (64,)).astype(dtype)
    if np.dtype(dtype).kind in "iu":
        x0 = rng.integers(1, 5, (64,)).astype(dtype)
    x = ft.constant(x0)
    f = ft.function(lambda x: fn(x, c))
    out, ref = f(x).numpy(), fn(x, c).numpy()
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(out, ref)


def _sum_of_products(n, reuse_inner=False, dtype=np.float32):
    rng = np.random.default_rng(n)
    a = [ft.constant(rng.normal(size=(4 + i, 3)).astype(dtype)) for i in range(n)]
    b = [ft.constant(rng.normal(size=(4 + i, 5)).astype(dtype)) for i in range(n)]

    @ft.function
    def f(a, b):
        s = ft.transpose(a[0]) @ b[0]
        first = s
        for x, y in zip(a[1:], b[1:]):
            s = s + ft.transpose(x) @ y
        return (s, first * 2.0) if reuse_inner else s

    want = sum(x.numpy().T.astype(np.float64) @ y.numpy() for x, y in zip(a, b))
    return f, a, b, want


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_sum_of_matrix_products_is_one_step(dtype):
    f, a, b, want = _sum_of_products(5, dtype=dtype)
    got = f(a, b)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert got.dtype == dtype and got.shape == (3, 5)
    plan = _plan(f, a, b)
    assert plan.step_types == ["add"] and plan.stats["simplified"] == 2 * 5 - 2  # inner steps


def test_a_sum_of_matrix_products_is_left_alone_when_short_or_shared():
    f, a, b, want = _sum_of_products(2)
    np.testing.assert_allclose(f(a, b).numpy(), want, rtol=1e-5)
    assert _plan(f, a, b).step_types.count("matmul") == 2
    f, a, b, want = _sum_of_products(4, reuse_inner=True)  # the first product is a result too
    s, first = f(a, b)
    np.testing.assert_allclose(s.numpy(), want, rtol=1e-5)
    np.testing.assert_allclose(first.numpy(), 2 * a[0].numpy().T @ b[0].numpy(), rtol=1e-5)
    assert _plan(f, a, b).step_types.count("matmul") >= 1


def test_an_unrolled_rnn_step_accumulates_weight_gradients_in_one_product():
    rng = np.random.default_rng(0)
    wx = ft.Variable(rng.normal(size=(3, 4)).astype(np.float32) * 0.3)
    wh = ft.Variable(rng.normal(size=(4, 4)).astype(np.float32) * 0.3)
    xs = [ft.constant(rng.normal(size=(2, 3)).astype(np.float32)) for _ in range(6)]

    def grads(xs):
        with ft.GradientTape() as tape:
            h = ft.zeros((2, 4))
            for x in xs:
                h = ft.tanh(x @ wx + h @ wh)
            loss = ft.reduce_sum(h * h)
        return tape.gradient(loss, [wx, wh])

    f = ft.function(grads)
    for got, want in zip(f(xs), grads(xs)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    plan = _plan(f, xs)
    assert plan.stats["simplified"] >= 16  # wx and wh: 6 products and 4 inner adds each, about
