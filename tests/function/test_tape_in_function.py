"""GradientTapes inside ft.function and graphs (Note [Tapes in graphs] in
fasttape/backprop.py) and ft.gradients' public behaviour (fasttape/gradients_impl.py):
a whole train step is one traced graph, the tape's meaning is eager mode's
(what is watched, what was recorded), and what is not supported says so.
The op table's gradients in both modes: tests/graph/test_gradients.py."""

import numpy as np
import pytest

import fasttape as ft

RNG = np.random.default_rng(0)
X = RNG.standard_normal((16, 5))
Y = RNG.standard_normal((16, 3))
W1, B1 = RNG.standard_normal((5, 8)) * 0.5, np.zeros(8)
W2, B2 = RNG.standard_normal((8, 3)) * 0.5, np.zeros(3)


def _mlp():
    return [ft.Variable(v.copy(), name=n) for v, n in ((W1, "w1"), (B1, "b1"), (W2, "w2"),
                                                        (B2, "b2"))]


def _loss(params, x, y):
    w1, b1, w2, b2 = params
    h = ft.nn.relu(x @ w1 + b1)
    return ft.reduce_mean((ft.tanh(h @ w2 + b2) - y) ** 2)


def _train_step(params, x, y, lr):
    with ft.GradientTape() as tape:
        loss = _loss(params, x, y)
    grads = tape.gradient(loss, params)
    for v, g in zip(params, grads):
        v.assign_sub(lr * g)
    return loss


def test_traced_train_step_equals_eager_over_20_steps():
    eager, traced = _mlp(), _mlp()
    step = ft.function(lambda x, y: _train_step(traced, x, y, 0.1))
    x, y = ft.constant(X), ft.constant(Y)
    for i in range(20):
        le = _train_step(eager, x, y, 0.1)
        lt = step(x, y)
        np.testing.assert_allclose(lt.numpy(), le.numpy(), rtol=1e-6, atol=1e-9,
                                   err_msg=f"loss at step {i}")
        for a, b in zip(traced, eager):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-9,
                                       err_msg=f"{a.name} at step {i}")
    assert step.tracing_count == 1
    # the whole step (forward, gradient, updates) is one graph
    types = [op.type for op in step.get_concrete_function(x, y).graph.get_operations()]
    assert types.count("AssignSub") == 4 and "matmul" in types


def test_train_step_in_a_graph_with_ft_gradients_and_a_session():
    eager = _mlp()
    g = ft.Graph()
    with g.as_default():
        params = [ft.Variable(v.copy()) for v in (W1, B1, W2, B2)]
        x = ft.placeholder(ft.float64, (None, 5))
        y = ft.placeholder(ft.float64, (None, 3))
        loss = _loss(params, x, y)
        grads = ft.gradients(loss, params)
        train = [v.assign_sub(0.1 * gr) for v, gr in zip(params, grads)]
        init = ft.global_variables_initializer()
    sess = ft.Session(graph=g)
    sess.run(init)
    for _ in range(5):
        le = _train_step(eager, ft.constant(X), ft.constant(Y), 0.1)
        lg, _ = sess.run([loss, train], {x: X, y: Y})
        np.testing.assert_allclose(lg, le.numpy(), rtol=1e-9)
    for v, e in zip(params, eager):
        np.testing.assert_allclose(sess.run(v), e.numpy(), rtol=1e-9)


def test_ops_before_the_tape_are_constants_to_it():
    @ft.function
    def f(x):
        y = x * x  # not recorded: built before the tape was entered
        with ft.GradientTape() as tape:
            tape.watch(x)
            z = y * x
        return tape.gradient(z, x)

    x = ft.constant([3.0])
    np.testing.assert_allclose(f(x).numpy(), [9.0])  # y, not 3 x^2 = 27


def test_sources_need_watching_and_intermediates_are_tracked():
    v = ft.Variable([2.0], name="v")
    frozen = ft.Variable([5.0], trainable=False, name="frozen")

    @ft.function
    def f(x, u):
        with ft.GradientTape(persistent=True) as tape:
            tape.watch(x)
            h = x * 3.0
            z = h * u * v * frozen
        out = tape.gradient(z, [x, u, h, v, frozen])
        names = [w.name for w in tape.watched_variables()]
        assert names == ["v:0"], names
        zero = tape.gradient(z, u, unconnected_gradients=ft.UnconnectedGradients.ZERO)
        return out, zero

    (gx, gu, gh, gv, gf), zero = f(ft.constant([1.0]), ft.constant([4.0]))
    assert gu is None and gf is None  # u is not watched; frozen is not trainable
    np.testing.assert_allclose(gx.numpy(), [120.0])
    np.testing.assert_allclose(gh.numpy(), [40.0])
    np.testing.assert_allclose(gv.numpy(), [60.0])
    np.testing.assert_allclose(zero.numpy(), [0.0])


def test_persistent_stop_recording_reset_and_one_shot_tapes():
    @ft.function
    def f(x):
        with ft.GradientTape(persistent=True) as tape:
            tape.watch(x)
            a = x * x
            with tape.stop_recording():
                b = a * x  # not recorded: its gradient stops here
            c = b * 2.0
        return tape.gradient(a, x), tape.gradient(c, x), tape.gradient([a, a], x)

    ga, gc, g2 = f(ft.constant([3.0]))
    np.testing.assert_allclose(ga.numpy(), [6.0])
    assert gc is None
    np.testing.assert_allclose(g2.numpy(), [12.0])

    @ft.function
    def once(x):
        with ft.GradientTape() as tape:
            tape.watch(x)
            y = x * x
        tape.gradient(y, x)
        return tape.gradient(y, x)

    with pytest.raises(RuntimeError, match="only be called once on a non-persistent tape"):
        once(ft.constant([1.0]))

    @ft.function
    def reset(x):
        with ft.GradientTape(persistent=True) as tape:
            tape.watch(x)
            y = x * x
            tape.reset()
            tape.watch(x)
            z = x * 5.0
        return tape.gradient(z, x), tape.gradient(y, x), tape.watched_variables()

    gz, gy, watched = reset(ft.constant([1.0]))
    np.testing.assert_allclose(gz.numpy(), [5.0])
    assert gy is None and watched == ()  # y was recorded before the reset


def test_nested_tapes_give_second_order_and_output_gradients():
    @ft.function
    def f(x, u):
        with ft.GradientTape() as outer:
            outer.watch(x)
            with ft.GradientTape() as inner:
                inner.watch(x)
                y = ft.sin(x) * x
            d = inner.gradient(y, x, output_gradients=u)
        return d, outer.gradient(d, x)

    xv, uv = np.array([0.5, 1.5]), np.array([2.0, -1.0])
    d, dd = f(ft.constant(xv), ft.constant(uv))
    np.testing.assert_allclose(d.numpy(), uv * (np.cos(xv) * xv + np.sin(xv)))
    np.testing.assert_allclose(dd.numpy(), uv * (2 * np.cos(xv) - xv * np.sin(xv)))


def test_jacobians_in_a_traced_function_match_eager():
    def jacobians(x, w):
        with ft.GradientTape(persistent=True) as tape:
            tape.watch([x, w])
            y = ft.tanh(x @ w)
        return tape.jacobian(y, [x, w]), tape.batch_jacobian(y, x)

    x, w = ft.constant(RNG.standard_normal((3, 4))), ft.constant(RNG.standard_normal((4, 2)))
    (jx, jw), bj = ft.function(jacobians)(x, w)
    with ft.GradientTape(persistent=True) as tape:
        tape.watch([x, w])
        y = ft.tanh(x @ w)
    for got, want in ((jx, tape.jacobian(y, x)), (jw, tape.jacobian(y, w)),
                      (bj, tape.batch_jacobian(y, x))):
        assert got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_unsupported_and_wrong_uses_raise_clearly():
    e = ft.constant([1.0])

    @ft.function(input_signature=[ft.TensorSpec([None], ft.float32)])
    def unknown_jacobian(x):
        with ft.GradientTape() as tape:
            tape.watch(x)
            y = x * x
        return tape.jacobian(y, x)

    with pytest.raises(ValueError, match="Jacobian in a graph needs static shapes"):
        unknown_jacobian(ft.constant([1.0, 2.0]))

    @ft.function
    def unwatched_eager_source(x):
        with ft.GradientTape() as tape:
            tape.watch(x)
            y = x * e
        return tape.gradient(y, e)

    assert unwatched_eager_source(ft.constant([1.0])) is None


def test_eager_tensors_captured_by_a_trace_can_be_watched():
    # their uses are Const nodes of the graph; the gradient sums over them
    e = ft.constant([2.0, 3.0])

    @ft.function
    def f(x):
        with ft.GradientTape() as tape:
            tape.watch(e)
            y = ft.reduce_sum(ft.sin(e) * x + e * e)
        return tape.gradient(y, [e, x])

    ge, gx = f(ft.constant([1.0, 1.0]))
    assert gx is None  # not watched
    np.testing.assert_allclose(ge.numpy(), np.cos([2.0, 3.0]) + 2 * np.array([2.0, 3.0]),
                               rtol=1e-6)


def test_ft_gradients_arguments_and_errors():
    with pytest.raises(RuntimeError, match="not supported when eager execution is enabled"):
        ft.gradients(ft.constant(1.0), [ft.constant(1.0)])
    g, h = ft.Graph(), ft.Graph()
    with h.as_default():
        other = ft.placeholder(ft.float32, (2,))
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 2), name="x")
        k = ft.placeholder(ft.int32, (2,), name="k")
        y = ft.reduce_sum(x * x)
        with pytest.raises(ValueError, match="another graph"):
            ft.gradients(y, [other])
        with pytest.raises(ValueError, match="1 grad_ys for 2 ys"):
            ft.gradients([y, y], [x], grad_ys=[1.0])
        with pytest.raises(TypeError, match="grad_ys\\[0\\] has dtype int32"):
            ft.gradients(y, [x], grad_ys=[ft.constant(1)])
        with pytest.raises(ValueError, match="grad_ys\\[0\\] has shape \\(3,\\)"):
            ft.gradients(y, [x], grad_ys=[ft.constant([1.0, 2.0, 3.0])])
        with pytest.raises(TypeError, match="xs\\[0\\] must be a graph tensor or a variable"):
            ft.gradients(y, [np.ones(2)])
        z = ft.placeholder(ft.float32, (2,))
        none, ki = ft.gradients(y, [z, k])
        assert none is None and ki is None
        zero, = ft.gradients(y, z, unconnected_gradients=ft.UnconnectedGradients.ZERO)
        stopped = x * 3.0
        (gs,) = ft.gradients(ft.reduce_sum(stopped * x), [x], stop_gradients=[stopped])
        (two,) = ft.compat.v1.gradients([y, y], x, grad_ys=[2.0, None])
    assert [op.name.startswith("gradients") for op in g.get_operations()].count(True) > 3
    sess = ft.Session(graph=g)
    xv = np.array([[1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(sess.run(zero), [0.0, 0.0])
    np.testing.assert_allclose(sess.run(gs, {x: xv}), 3 * xv)  # d(s * x)/dx with s constant
    np.testing.assert_allclose(sess.run(two, {x: xv}), 6 * xv)


def test_gradients_of_variables_sum_over_their_reads():
    v = ft.Variable([1.0, 2.0], name="v")
    g = ft.Graph()
    with g.as_default():
        y = ft.reduce_sum(v * v) + ft.reduce_sum(v * 3.0)
        (dv,) = ft.gradients(y, [v])
    np.testing.assert_allclose(ft.Session(graph=g).run(dv), 2 * v.numpy() + 3.0)


def test_deferred_vjps_run_with_run_time_shapes_and_differentiate():
    # reduce_mean's count and tile's multiples need the unknown batch dim:
    # their VJPs are deferred to run time (Note [Unknown dims in VJPs])
    def f(x):
        return ft.reduce_mean(ft.tile(ft.sin(x), [1, 2]), axis=0)

    xv = RNG.standard_normal((5, 3))
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float64, (None, 3))
        y = f(x)
        (dx,) = ft.gradients(ft.reduce_sum(y * y), [x])
        (ddx,) = ft.gradients(ft.reduce_sum(dx * dx), [x])
    types = [op.type for op in g.get_operations()]
    assert "_deferred_vjp" in types, types
    xe = ft.constant(xv)
    with ft.GradientTape() as outer:
        outer.watch(xe)
        with ft.GradientTape() as inner:
            inner.watch(xe)
            ye = f(xe)
            s = ft.reduce_sum(ye * ye)
        de = inner.gradient(s, xe)
        ss = ft.reduce_sum(de * de)
    dde = outer.gradient(ss, xe)
    sess = ft.Session(graph=g)
    for rows in (5, 2):  # any batch size: the shapes are read when the graph runs
        got_dx, got_ddx = sess.run([dx, ddx], {x: xv[:rows]})
        if rows == 5:
            np.testing.assert_allclose(got_dx, de.numpy(), rtol=1e-10)
            np.testing.assert_allclose(got_ddx, dde.numpy(), rtol=1e-10)
        assert got_dx.shape == (rows, 3)
    # and in a traced function with a None dim in its input_signature
    step = ft.function(lambda x: ft.gradients(ft.reduce_sum(f(x) ** 2), [x])[0],
                       input_signature=[ft.TensorSpec([None, 3], ft.float64)])
    np.testing.assert_allclose(step(xe).numpy(), de.numpy(), rtol=1e-10)


@pytest.mark.parametrize("make_opt", [lambda: ft.optimizers.SGD(0.1, momentum=0.9),
                                      lambda: ft.optimizers.Adam(0.05)], ids=["sgd", "adam"])
def test_traced_train_step_with_an_optimizer_equals_eager(make_opt):
    eager, traced = _mlp(), _mlp()
    opt_e, opt_t = make_opt(), make_opt()

    def step(params, opt, x, y):
        with ft.GradientTape() as tape:
            loss = _loss(params, x, y)
        opt.apply_gradients(zip(tape.gradient(loss, params), params))
        return loss

    traced_step = ft.function(lambda x, y: step(traced, opt_t, x, y))
    x, y = ft.constant(X), ft.constant(Y)
    for i in range(5):
        le, lt = step(eager, opt_e, x, y), traced_step(x, y)
        np.testing.assert_allclose(lt.numpy(), le.numpy(), rtol=1e-6, err_msg=f"step {i}")
    for a, b in zip(traced, eager):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-9)
    assert traced_step.tracing_count == 1


def test_custom_gradients_in_traced_functions_and_graphs():
    # Note [Custom gradients in graphs]
    v = ft.Variable([2.0, -1.0], name="scale")

    @ft.custom_gradient
    def scaled_clip(x):
        def grad_fn(dy, variables=None):
            return ft.clip_by_value(dy, -1.0, 1.0) * v, [ft.reduce_sum(dy * x) * ft.ones_like(v)]
        return x * v, grad_fn

    def loss(x):
        return ft.reduce_sum(scaled_clip(x) * 5.0)

    def grads(x):
        with ft.GradientTape() as tape:
            tape.watch(x)
            y = loss(x)
        return tape.gradient(y, [x, v])

    x = ft.constant([3.0, 0.5])
    traced = ft.function(grads)(x)
    eager = grads(x)
    for a, b in zip(traced, eager):
        np.testing.assert_allclose(a.numpy(), b.numpy())
    np.testing.assert_allclose(eager[0].numpy(), [2.0, -1.0])  # clipped 5 -> 1, times v
    g = ft.Graph()
    with g.as_default():
        p = ft.placeholder(ft.float32, (2,))
        (dp,) = ft.gradients(loss(p), [p])
    np.testing.assert_allclose(ft.Session(graph=g).run(dp, {p: [3.0, 0.5]}), [2.0, -1.0])
