"""ft.make_template, ft.variable_scope, ft.get_variable and TensorFlow 1's
initializers: create on the first call, reuse later, in eager mode, graph mode
and inside ft.function (Note [Variable stores])."""

import numpy as np
import pytest

import fasttape as ft


def dense(x, units=3):
    w = ft.get_variable("w", [x.shape[-1], units],
                        initializer=ft.random_normal_initializer(seed=1))
    b = ft.get_variable("b", [units], initializer=ft.zeros_initializer())
    return ft.matmul(x, w) + b


def _np_dense(x, w, b):
    return x @ w + b


def test_eager_first_call_creates_later_calls_reuse():
    t = ft.make_template("dense", dense)
    assert t.variable_scope_name is None
    x = ft.ones([2, 4])
    y1 = t(x)
    vars1 = list(t.variables)
    y2 = t(x * 2.0)
    scope = t.variable_scope_name  # "dense", or "dense_<n>" after other eager "dense"s
    assert scope == "dense" or scope.startswith("dense_")
    assert [v.name for v in t.variables] == [f"{scope}/w:0", f"{scope}/b:0"]
    assert all(a is b for a, b in zip(vars1, t.variables, strict=True))
    w, b = (v.numpy() for v in t.variables)
    np.testing.assert_allclose(y1.numpy(), _np_dense(np.ones((2, 4)), w, b), rtol=1e-6)
    np.testing.assert_allclose(y2.numpy(), _np_dense(2 * np.ones((2, 4)), w, b), rtol=1e-6)


def test_two_templates_of_one_function_have_separate_variables():
    t1 = ft.make_template("layer", dense)
    t2 = ft.make_template("layer", dense)
    x = ft.ones([1, 2])
    t1(x)
    t2(x)
    names1 = [v.name for v in t1.variables]
    names2 = [v.name for v in t2.variables]
    assert names1 != names2 and names1[0].startswith("layer") and names2[0].startswith("layer")
    assert not any(a is b for a in t1.variables for b in t2.variables)
    t1.variables[1].assign([1.0, 1.0, 1.0])
    np.testing.assert_array_equal(t2.variables[1].numpy(), 0.0)


def test_trainable_variables_and_kwargs_and_unique_name():
    def f(x, scale):
        a = ft.get_variable("a", [], initializer=ft.constant_initializer(scale))
        n = ft.get_variable("n", [], initializer=ft.zeros_initializer(), trainable=False)
        return x * a + n

    t = ft.make_template("f", f, scale=3.0, unique_name_="exactly_this")
    assert float(t(ft.constant(2.0))) == 6.0
    assert [v.name for v in t.trainable_variables] == ["exactly_this/a:0"]
    assert [v.name for v in t.non_trainable_variables] == ["exactly_this/n:0"]
    t_now = ft.make_template("made_now", f, create_scope_now_=True, scale=1.0)
    assert t_now.variable_scope_name is not None
    assert t_now.variable_scope_name.startswith("made_now")


def test_nested_templates_report_inner_variables():
    inner = ft.make_template("inner", dense)

    def outer_fn(x):
        v = ft.get_variable("v", [], initializer=ft.ones_initializer())
        return inner(x) * v

    outer = ft.make_template("outer", outer_fn)
    outer(ft.ones([1, 2]))
    outer(ft.ones([1, 2]))
    assert len(outer.variables) == 3 and len(inner.variables) == 2


def test_template_trains_under_an_eager_gradient_tape():
    # graph-style code: variables through get_variable, no Python state
    def model(x):
        w = ft.get_variable("w", [2, 1], initializer=ft.zeros_initializer())
        b = ft.get_variable("b", [1], initializer=ft.zeros_initializer())
        return ft.matmul(x, w) + b

    net = ft.make_template("model", model)
    rng = np.random.default_rng(0)
    x = ft.constant(rng.normal(size=(128, 2)).astype(np.float32))
    y = ft.matmul(x, ft.constant([[1.5], [-2.0]])) + 0.25
    opt = ft.optimizers.SGD(0.2)
    for _ in range(200):
        with ft.GradientTape() as tape:
            loss = ft.reduce_mean(ft.square(net(x) - y))
        grads = tape.gradient(loss, net.trainable_variables)
        opt.apply_gradients(zip(grads, net.trainable_variables))
    assert float(loss) < 1e-6
    np.testing.assert_allclose(net.variables[0].numpy(), [[1.5], [-2.0]], atol=1e-3)
    assert len(net.variables) == 2


def test_graph_mode_template_with_session():
    g = ft.Graph()
    with g.as_default():
        t = ft.make_template("dense", dense)
        p = ft.placeholder(ft.float32, [None, 4])
        y1 = t(p)
        y2 = t(p * 2.0)
        assert [v.name for v in t.variables] == ["dense/w:0", "dense/b:0"]
        assert y1.op.name.startswith("dense/") and y2.op.name.startswith("dense_1/")
        assert {v.name for v in ft.compat.v1.global_variables()} == {"dense/w:0", "dense/b:0"}
        init = ft.global_variables_initializer()
    with ft.Session(graph=g) as sess:
        sess.run(init)
        w, b = sess.run(t.variables)
        xv = np.arange(8, dtype=np.float32).reshape(2, 4)
        a, c = sess.run([y1, y2], {p: xv})
    np.testing.assert_allclose(a, _np_dense(xv, w, b), rtol=1e-5)
    np.testing.assert_allclose(c, _np_dense(2 * xv, w, b), rtol=1e-5)


def test_graph_template_refuses_new_trainable_variables_on_later_calls():
    calls = []

    def f(x):
        calls.append(1)
        if len(calls) > 1:
            ft.Variable(1.0, name="sneaky")
        return x * ft.get_variable("a", [], initializer=ft.ones_initializer())

    with ft.Graph().as_default():
        t = ft.make_template("f", f)
        p = ft.placeholder(ft.float32, [])
        t(p)
        with pytest.raises(ValueError, match="Trainable variable created when calling a "
                                             "template after the first time"):
            t(p)


def test_template_inside_ft_function_reuses_its_variables():
    t = ft.make_template("dense", dense)
    x = ft.ones([2, 4])
    eager = t(x).numpy()

    @ft.function
    def f(x):
        return t(x)

    np.testing.assert_allclose(f(x).numpy(), eager, rtol=1e-6)
    t.variables[1].assign([1.0, 2.0, 3.0])  # read when the trace runs, not frozen
    np.testing.assert_allclose(f(x).numpy(), eager + [1.0, 2.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(f(ft.ones([3, 4])).numpy()[:2], eager + [1.0, 2.0, 3.0],
                               rtol=1e-6)  # a second trace finds the same variables
    assert len(t.variables) == 2


def test_template_first_called_inside_ft_function():
    t = ft.make_template("dense", dense)

    @ft.function
    def f(x):
        return t(x)

    x = ft.ones([2, 4])
    y = f(x)  # the first trace creates them (eagerly), later traces find them
    assert all(v._graph_var is None for v in t.variables)
    w, b = (v.numpy() for v in t.variables)
    np.testing.assert_allclose(y.numpy(), _np_dense(np.ones((2, 4)), w, b), rtol=1e-6)
    f(ft.ones([3, 4]))  # a second trace reuses them
    assert len(t.variables) == 2


# --- variable_scope and get_variable -------------------------------------------

def test_get_variable_existing_name_without_reuse_raises_naming_it():
    for ctx in (ft.compat.v1.EagerVariableStore().as_default, lambda: ft.Graph().as_default()):
        with ctx():
            with ft.variable_scope("s"):
                ft.get_variable("v", [2])
                with pytest.raises(ValueError, match="Variable s/v already exists, disallowed"):
                    ft.get_variable("v", [2])


def test_reuse_true_of_a_missing_name_raises():
    with ft.Graph().as_default():
        with ft.variable_scope("s", reuse=True):
            with pytest.raises(ValueError, match="Variable s/missing does not exist"):
                ft.get_variable("missing", [1])


@pytest.mark.parametrize("mode", ["eager_store", "graph"])
def test_reuse_modes(mode):
    ctx = (ft.compat.v1.EagerVariableStore().as_default() if mode == "eager_store"
           else ft.Graph().as_default())
    with ctx:
        with ft.variable_scope("m"):
            v = ft.get_variable("v", [2, 3])
        with ft.variable_scope("m", reuse=True):
            assert ft.get_variable("v", [2, 3]) is v
            with ft.variable_scope("inner", reuse=False) as inner:
                assert inner.reuse is True  # reuse is inherited, never turned off
        with ft.variable_scope("m", reuse=ft.AUTO_REUSE):
            assert ft.get_variable("v") is v
            w = ft.get_variable("w", [1])
            assert ft.get_variable("w", [1]) is w
        with ft.variable_scope("m") as scope:
            scope.reuse_variables()
            assert ft.get_variable("v") is v
        with ft.variable_scope("m", reuse=True):
            with pytest.raises(ValueError, match=r"specified shape \(3, 2\)"):
                ft.get_variable("v", [3, 2])
            with pytest.raises(ValueError, match="specified dtype float64"):
                ft.get_variable("v", [2, 3], dtype=ft.float64)


def test_eager_get_variable_outside_stores_makes_new_variables():
    a = ft.get_variable("free", [1])
    b = ft.get_variable("free", [1])
    assert a is not b and a.name == b.name == "free:0"


def test_scope_names_defaults_and_unique_default_names():
    with ft.Graph().as_default():
        with ft.variable_scope("outer", initializer=ft.ones_initializer(),
                               dtype=ft.float64) as outer:
            assert outer.name == "outer"
            with ft.variable_scope(None, default_name="d") as d0:
                pass
            with ft.variable_scope(None, default_name="d") as d1:
                v = ft.get_variable("v", [2])
            assert (d0.name, d1.name) == ("outer/d", "outer/d_1")
            assert v.name == "outer/d_1/v:0" and v.dtype == np.float64
            assert ft.get_variable_scope() is outer
        with ft.variable_scope(outer):
            assert ft.get_variable_scope().name == "outer"
        assert ft.get_variable_scope().name == ""
        with ft.Session() as sess:
            sess.run(ft.global_variables_initializer())
            np.testing.assert_array_equal(sess.run(v), [1.0, 1.0])
    with pytest.raises(TypeError, match="default_name"):
        with ft.variable_scope(None):
            pass
    with pytest.raises(ValueError, match="reuse"):
        with ft.variable_scope("x", reuse="yes"):
            pass


def test_get_variable_initial_values_and_errors():
    with ft.compat.v1.EagerVariableStore().as_default() as _:
        c = ft.get_variable("c", initializer=ft.constant([1.0, 2.0]))
        np.testing.assert_array_equal(c.numpy(), [1.0, 2.0])
        with pytest.raises(ValueError, match="do not specify shape"):
            ft.get_variable("c2", [2], initializer=np.ones(2, np.float32))
        with pytest.raises(ValueError, match="must be fully defined"):
            ft.get_variable("u", [None, 2])
        i = ft.get_variable("i", [2], dtype=ft.int32)
        assert i.dtype == np.int32 and not i.numpy().any()  # ints default to zeros
        with pytest.raises(ValueError, match="initializer for variable s of dtype"):
            ft.get_variable("s", [1], dtype=ft.string)


def test_graph_regularizer_goes_to_the_collection():
    with ft.Graph().as_default() as g:
        with ft.variable_scope("r", regularizer=lambda v: ft.reduce_sum(v * v)):
            v = ft.get_variable("v", [2], initializer=ft.constant_initializer(3.0))
        (loss,) = g.get_collection("regularization_losses")
        with ft.Session() as sess:
            sess.run(ft.global_variables_initializer())
            assert sess.run(loss) == 18.0
    assert v.name == "r/v:0"


# --- TensorFlow 1's initializers ------------------------------------------------

_INITIALIZERS = {
    "zeros_initializer": (lambda: ft.zeros_initializer(), lambda a: np.all(a == 0)),
    "ones_initializer": (lambda: ft.ones_initializer(), lambda a: np.all(a == 1)),
    "constant_initializer": (lambda: ft.constant_initializer(0.5), lambda a: np.all(a == 0.5)),
    "random_normal_initializer": (
        lambda: ft.random_normal_initializer(mean=1.0, stddev=2.0, seed=3),
        lambda a: abs(a.mean() - 1.0) < 0.1 and abs(a.std() - 2.0) < 0.1),
    "truncated_normal_initializer": (
        lambda: ft.truncated_normal_initializer(stddev=1.0, seed=3),
        lambda a: np.abs(a).max() <= 2.0),
    "random_uniform_initializer": (
        lambda: ft.random_uniform_initializer(-1.0, 1.0, seed=3),
        lambda a: a.min() >= -1.0 and a.max() < 1.0 and abs(a.mean()) < 0.05),
    "glorot_uniform_initializer": (
        lambda: ft.glorot_uniform_initializer(seed=3),
        lambda a: np.abs(a).max() <= np.sqrt(6.0 / (40 + 50)) and a.std() > 0.05),
    "glorot_normal_initializer": (
        lambda: ft.glorot_normal_initializer(seed=3),
        lambda a: abs(a.std() - np.sqrt(2.0 / 90)) < 0.02),
    "variance_scaling_initializer": (
        lambda: ft.variance_scaling_initializer(2.0, "fan_in", "uniform", seed=3),
        lambda a: np.abs(a).max() <= np.sqrt(3.0 * 2.0 / 40)),
    "orthogonal_initializer": (
        lambda: ft.orthogonal_initializer(seed=3),
        lambda a: np.allclose(a @ a.T, np.eye(40), atol=1e-4)),  # rows < cols
}


@pytest.mark.parametrize("name", sorted(_INITIALIZERS))
def test_initializers_values_seeds_and_dtypes(name):
    make, check = _INITIALIZERS[name]
    assert getattr(ft.compat.v1, name) is getattr(ft, name)
    a = make()([40, 50]).numpy()
    assert a.shape == (40, 50) and a.dtype == np.float32 and check(a)
    np.testing.assert_array_equal(make()([40, 50]).numpy(), a)  # seeded: repeatable
    assert make()([3, 2], dtype=ft.float64).dtype == np.float64
    assert make()([3, 2], ft.float64, partition_info=None).dtype == np.float64
    # in a graph: the variable's initializer node draws them when run
    with ft.Graph().as_default():
        with ft.variable_scope("g"):
            v = ft.get_variable("v", [40, 50], initializer=make())
        with ft.Session() as sess:
            sess.run(ft.global_variables_initializer())
            np.testing.assert_array_equal(sess.run(v), a)


def test_constant_initializer_with_a_list():
    init = ft.constant_initializer([1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(init([2, 3]).numpy(), [[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ValueError, match="6 elements"):
        init([4, 4])
    assert ft.zeros_initializer(dtype=ft.int32)([2]).dtype == np.int32


def test_scopes_and_stores_are_per_thread():
    import threading

    seen = {}

    def other():
        seen["scope"] = ft.get_variable_scope().name
        seen["var"] = ft.get_variable("t", [1]).name

    with ft.compat.v1.EagerVariableStore().as_default() as _:
        with ft.variable_scope("main_thread"):
            th = threading.Thread(target=other)
            th.start()
            th.join()
            assert ft.get_variable_scope().name == "main_thread"
    assert seen == {"scope": "", "var": "t:0"}
