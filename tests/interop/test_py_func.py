"""ft.py_func, ft.py_function, ft.numpy_function: Python code as a graph node
(Note [py_func nodes]), in eager mode, in Session graphs and in ft.function."""

import numpy as np
import pytest

import fasttape as ft
from fasttape._core import core as _core

# (public function, calling convention): every test that can runs for all three
_KINDS = {
    "py_func": (ft.py_func, "eager"),
    "py_function": (lambda f, inp, Tout, name=None: ft.py_function(f, inp, Tout, name=name),
                    "eager"),
    "numpy_function": (ft.numpy_function, "numpy"),
}


def _body(kind):
    """sin(x) * 2 + y on the kind's values (Tensors or ndarrays)."""
    if kind == "numpy":
        return lambda x, y: (np.sin(x) * 2 + y).astype(np.float32)
    return lambda x, y: ft.sin(x) * 2.0 + y


def _want(x, y):
    return np.sin(x) * 2 + y


@pytest.mark.parametrize("name", sorted(_KINDS))
def test_eager_mode_calls_the_function(name):
    fn, kind = _KINDS[name]
    seen = []

    def f(x, y):
        seen.append(type(x))
        return _body(kind)(x, y)

    x, y = np.array([0.5, 1.0], np.float32), np.float32(3.0)
    out = fn(f, [x, y], ft.float32)
    assert isinstance(out, ft.Tensor)
    np.testing.assert_allclose(out.numpy(), _want(x, y), rtol=1e-6)
    assert seen == [np.ndarray if kind == "numpy" else ft.Tensor]


@pytest.mark.parametrize("name", sorted(_KINDS))
def test_graph_node_runs_the_function_each_run(name):
    fn, kind = _KINDS[name]
    calls = []

    def f(x, y):
        calls.append(type(x))
        return _body(kind)(x, y)

    g = ft.Graph()
    with g.as_default():
        p = ft.placeholder(ft.float32, [None])
        out = fn(f, [p, 3.0], ft.float32)
        assert out.shape.rank is None and out.dtype == np.float32  # unknown unless set
        assert out.op.calls_python and not p.op.calls_python
        z = out * 2.0
    assert calls == []
    with ft.Session(graph=g) as sess:  # inside the graph's block: the body still runs eagerly
        for xv in ([0.5, 1.0], [2.0]):
            np.testing.assert_allclose(sess.run(z, {p: xv}), 2 * _want(np.array(xv), 3.0),
                                       rtol=1e-6)
    assert calls == [np.ndarray if kind == "numpy" else ft.Tensor] * 2


def test_executing_eagerly_inside_the_body_of_a_graph_run():
    modes = []

    def f(x):
        modes.append(ft.executing_eagerly())
        return x + 1.0

    g = ft.Graph()
    with g.as_default():
        p = ft.placeholder(ft.float32, [])
        out = ft.py_function(f, [p], ft.float32)
        with ft.Session() as sess:
            assert sess.run(out, {p: 1.0}) == 2.0
        assert not ft.executing_eagerly()
    assert modes == [True]


def test_push_eager_masks_graph_depth_and_restores_it():
    g = ft.Graph()
    with g.as_default():
        assert _core.staging()
        saved = _core.push_eager()
        try:
            assert not _core.staging()
            with ft.Graph().as_default():  # a graph entered inside stages as usual
                assert _core.staging()
            assert not _core.staging()
        finally:
            _core.pop_eager(saved)
        assert _core.staging()
    assert not _core.staging()


def test_several_outputs_set_shape_and_tout_forms():
    def f(x):
        return x + 1.0, ft.reduce_sum(x), ft.cast(x, ft.int32)

    g = ft.Graph()
    with g.as_default():
        p = ft.placeholder(ft.float32, [2])
        a, s, i = ft.py_func(f, [p], [ft.float32, ft.float32, ft.int32])
        a.set_shape([2])
        (single,) = ft.py_function(lambda x: x * 3.0, [p], [ft.float32])  # a list of one
        none = ft.py_func(lambda x: None, [p], [])
    assert a.shape == ft.TensorShape([2]) and i.dtype == np.int32
    assert isinstance(none, ft.Operation)
    av, sv, iv, sg = ft.Session(graph=g).run([a, s, i, single], {p: [1.5, 2.5]})
    np.testing.assert_array_equal(av, [2.5, 3.5])
    assert sv == 4.0 and iv.tolist() == [1, 2]
    np.testing.assert_array_equal(sg, [4.5, 7.5])
    # eager: a list for a list Tout, a tensor for one dtype
    out = ft.py_func(f, [ft.constant([1.0, 2.0])], [ft.float32, ft.float32, ft.int32])
    assert isinstance(out, list) and len(out) == 3
    assert ft.py_func(lambda x: None, [1.0], []) == []


def test_stateful_nodes_run_every_call_stateless_fold():
    calls = []

    def f(x):
        calls.append(1)
        return x * 2.0

    @ft.function
    def stateful(x):
        return ft.py_func(f, [ft.constant(1.0)], ft.float32) + x

    @ft.function
    def stateless(x):
        return ft.py_func(f, [ft.constant(1.0)], ft.float32, stateful=False) + x

    for _ in range(3):
        assert float(stateful(ft.constant(1.0))) == 3.0
    assert len(calls) == 3
    calls.clear()
    for _ in range(3):
        assert float(stateless(ft.constant(1.0))) == 3.0
    assert len(calls) <= 1  # a pure function of constants: folded when the plan is built


def test_side_effect_only_node_runs_in_traced_functions():
    log = []

    @ft.function
    def f(x):
        ft.py_func(lambda v: log.append(float(v)), [x], [])
        return x + 1.0

    for v in (1.0, 2.0):
        f(ft.constant(v))
    assert log == [1.0, 2.0]


def test_traced_function_runs_the_body_each_call():
    seen = []

    def body(x):
        seen.append(float(ft.reduce_sum(x)))
        return x * 10.0

    @ft.function
    def f(x):
        return ft.py_function(body, [x], ft.float32) + 1.0

    for v in (1.0, 2.0, 3.0):
        np.testing.assert_allclose(f(ft.constant([v])).numpy(), [10 * v + 1])
    assert seen == [1.0, 2.0, 3.0]


def test_node_name_and_name_argument():
    with ft.Graph().as_default():
        p = ft.placeholder(ft.float32, [])
        assert ft.py_function(lambda x: x, [p], ft.float32).op.name == "EagerPyFunc"
        assert ft.numpy_function(lambda x: x, [p], ft.float32).op.name == "PyFunc"
        assert ft.py_func(lambda x: x, [p], ft.float32, name="mine").op.name == "mine"


# --- errors -----------------------------------------------------------------------

def _failing(x):
    return {}["missing key"]


@pytest.mark.parametrize("runner", ["session", "function"])
def test_exceptions_carry_the_functions_traceback_and_the_build_line(runner):
    if runner == "session":
        g = ft.Graph()
        with g.as_default():
            p = ft.placeholder(ft.float32, [])
            out = ft.py_function(_failing, [p], ft.float32)  # the build line
        with pytest.raises(ft.errors.InvalidArgumentError) as info:
            ft.Session(graph=g).run(out, {p: 1.0})
    else:
        @ft.function
        def f(x):
            return ft.py_function(_failing, [x], ft.float32)  # the build line

        with pytest.raises(ft.errors.InvalidArgumentError) as info:
            f(ft.constant(1.0))
    msg = str(info.value)
    assert "_failing raised KeyError: 'missing key'" in msg
    assert 'return {}["missing key"]' in msg  # the function's traceback
    assert "ft.py_function(_failing, [" in msg and "built at" in msg  # the node's line
    causes, e = [], info.value
    while e.__cause__ is not None:
        causes.append(e := e.__cause__)
    assert isinstance(causes[-1], KeyError)  # chained: Python prints its traceback too


def test_value_errors_keep_their_class_and_eager_errors_are_the_functions():
    def bad(x):
        raise ValueError("no good")

    with ft.Graph().as_default() as g:
        p = ft.placeholder(ft.float32, [])
        out = ft.py_func(bad, [p], ft.float32)
    with pytest.raises(ValueError, match="bad raised ValueError: no good"):
        ft.Session(graph=g).run(out, {p: 1.0})
    with pytest.raises(ValueError, match="^no good$"):
        ft.py_func(bad, [1.0], ft.float32)


def test_results_must_have_the_tout_dtypes_and_count():
    with pytest.raises(ft.errors.InvalidArgumentError, match="dtype float64 as output 0, "
                                                             "Tout says float32"):
        ft.numpy_function(lambda x: np.ones(2), [1.0], ft.float32)
    with pytest.raises(ft.errors.InvalidArgumentError, match="returned 1 value, Tout lists 2"):
        ft.py_func(lambda x: [x], [1.0], [ft.float32, ft.float32])
    assert ft.py_func(lambda x: [1, 2], [1.0], ft.float64).dtype == np.float64  # data convert
    with ft.Graph().as_default() as g:
        p = ft.placeholder(ft.float32, [])
        out = ft.numpy_function(lambda x: x.astype(np.float64), [p], ft.float32)
    with pytest.raises(ft.errors.InvalidArgumentError, match="Tout says float32"):
        ft.Session(graph=g).run(out, {p: 1.0})
    with pytest.raises(TypeError, match="func must be callable"):
        ft.py_func(3, [1.0], ft.float32)
    with pytest.raises(TypeError, match="Tout must be a dtype"):
        ft.py_func(lambda x: x, [1.0], "not a dtype")


# --- gradients --------------------------------------------------------------------

def _fd(f, x, eps=1e-6):
    """Central finite differences of sum(f(x)) (float64)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(x + d).sum() - f(x - d).sum()) / (2 * eps)
    return g


def _np_body(x, y):
    return np.sin(x) * y + x * x


def _ft_body(x, y):
    return ft.sin(x) * y + x * x


def test_eager_gradient_matches_finite_differences():
    x = ft.constant([0.3, -1.2, 2.0], dtype=ft.float64)
    y = ft.constant(1.7, dtype=ft.float64)
    with ft.GradientTape() as tape:
        tape.watch([x, y])
        out = ft.reduce_sum(ft.py_function(_ft_body, [x, y], ft.float64))
    gx, gy = tape.gradient(out, [x, y])
    np.testing.assert_allclose(gx.numpy(), _fd(lambda v: _np_body(v, 1.7), x.numpy()),
                               rtol=1e-7)
    np.testing.assert_allclose(float(gy), np.sin(x.numpy()).sum(), rtol=1e-7)
    with ft.GradientTape() as tape:  # numpy_function: no gradient, as TensorFlow
        tape.watch(x)
        out = ft.numpy_function(lambda a: a * 2, [x], ft.float64)
    assert tape.gradient(out, x) is None


@pytest.mark.parametrize("recorded", [False, True], ids=["raw_space", "tensor_space"])
def test_node_gradient_runs_the_function_under_a_tape(recorded):
    """The node's VJP through the sweep's per-node step (what ft.gradients and a
    traced train step call), checked against finite differences."""
    with ft.Graph().as_default():
        p = ft.placeholder(ft.float64, [3])
        q = ft.placeholder(ft.float64, [])
        k = ft.placeholder(ft.int32, [])
        node = ft.py_function(lambda x, y, n: _ft_body(x, y) * ft.cast(n, ft.float64),
                              [p, q, k], ft.float64).op
    xv, yv, kv = np.array([0.3, -1.2, 2.0]), np.array(1.7), np.array(2, np.int32)
    out = node.op_def.forward(xv, yv, kv, *node.attrs)
    np.testing.assert_allclose(out, _np_body(xv, yv) * 2)
    gy = np.array([1.0, -2.0, 0.5])
    grads = _core._node_gradients(node.op_def, [ft.constant(xv), ft.constant(yv),
                                                ft.constant(kv)],
                                  tuple(node.attrs), [ft.constant(out)], [ft.constant(gy)],
                                  recorded)
    want_x = _fd(lambda v: _np_body(v, yv) * 2 * gy, xv)
    np.testing.assert_allclose(grads[0].numpy(), want_x, rtol=1e-7)
    np.testing.assert_allclose(float(grads[1]), (np.sin(xv) * 2 * gy).sum(), rtol=1e-7)
    assert grads[2] is None  # integer input


def test_gradient_node_is_itself_differentiable():
    """Second order: the gradient node's own VJP runs the gradient under a tape."""
    with ft.Graph().as_default():
        p = ft.placeholder(ft.float64, [2])
        node = ft.py_function(lambda x: x * x * x, [p], ft.float64).op
    x = ft.constant([0.5, -2.0], dtype=ft.float64)
    with ft.GradientTape() as outer:
        outer.watch(x)
        out = ft.constant(node.op_def.forward(x.numpy(), *node.attrs))
        (g,) = _core._node_gradients(node.op_def, [x], tuple(node.attrs), [out],
                                     [ft.ones_like(x)], True)
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    np.testing.assert_allclose(outer.gradient(g, x).numpy(), 6 * x.numpy())


def test_gradient_node_in_a_graph():
    """The VJP called with symbolic values (what ft.gradients' symbolic sweep
    passes it) stages a gradient node; running it gives the gradient."""
    from fasttape.script_ops import _vjp

    g = ft.Graph()
    with g.as_default():
        p = ft.placeholder(ft.float64, [3])
        out = ft.py_function(lambda x: ft.sin(x) * x, [p], ft.float64)
        gout = ft.placeholder(ft.float64, [3])
        (gp,) = _vjp([gout], [p], out.op.attrs[0])
    assert gp.op.calls_python and gp.op.name.startswith("EagerPyFuncGrad")
    assert gp.shape == p.shape  # the input's static shape
    xv, gv = np.array([0.1, 0.5, 2.0]), np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(ft.Session(graph=g).run(gp, {p: xv, gout: gv}),
                               gv * (np.cos(xv) * xv + np.sin(xv)), rtol=1e-12)


def test_symbolic_gradients_and_traced_train_step_when_available():
    """ft.gradients through a py_function node, and a traced train step whose
    tape differentiates one (both come with symbolic gradients)."""
    if not hasattr(ft, "gradients"):
        pytest.skip("ft.gradients (symbolic gradients) is not merged yet")
    g = ft.Graph()
    with g.as_default():
        p = ft.placeholder(ft.float64, [3])
        out = ft.py_function(lambda x: _ft_body(x, 1.7), [p], ft.float64)
        out.set_shape([3])  # unknown unless set; the graph walk needs the rank
        (gp,) = ft.gradients(ft.reduce_sum(out), [p])
    xv = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(ft.Session(graph=g).run(gp, {p: xv}),
                               _fd(lambda v: _np_body(v, 1.7), xv), rtol=1e-7)
    w = ft.Variable(np.array([0.5, -0.5]), name="w")

    @ft.function
    def step(x):
        with ft.GradientTape() as tape:
            out = ft.py_function(lambda a, b: ft.sin(a * b), [w, x], ft.float64)
            out.set_shape(x.shape)
            loss = ft.reduce_sum(out)
        (gw,) = tape.gradient(loss, [w])
        return gw

    xv = np.array([1.0, 2.0])
    np.testing.assert_allclose(step(ft.constant(xv)).numpy(),
                               _fd(lambda v: np.sin(v * xv), w.numpy()), rtol=1e-7)


def test_tf1_graph_program_after_disable_eager_execution():
    """A TensorFlow 1 program in process-wide graph mode (a fresh interpreter):
    a template and a py_function node, run by a Session; the body runs eagerly
    although the process stages (Note [Eager inside graphs])."""
    from tests.graph.test_modes import _run

    out = _run("""
        import numpy as np
        import fasttape as ft
        tf = ft.compat.v1
        tf.disable_eager_execution()
        seen = []
        def body(x):
            seen.append(ft.executing_eagerly())
            return ft.tanh(x) * 2.0
        def net(x):
            w = tf.get_variable("w", [2, 2], initializer=tf.constant_initializer([1., 2., 3., 4.]))
            return tf.matmul(x, w)
        layer = tf.make_template("net", net)
        x = tf.placeholder(tf.float32, [None, 2])
        y = ft.py_function(body, [layer(x)], tf.float32)
        y2 = layer(x * 2.0)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            a, b = sess.run([y, y2], {x: [[1.0, 0.0]]})
        assert not ft.executing_eagerly() and seen == [True], seen
        np.testing.assert_allclose(a, np.tanh([[1.0, 2.0]]) * 2, rtol=1e-6)
        np.testing.assert_allclose(b, [[2.0, 4.0]])
        print([v.name for v in layer.variables])
    """)
    assert out.strip() == "['net/w:0']"


def test_every_py_func_entry_is_marked_as_calling_python():
    """Saved functions and ONNX export refuse nodes with calls_python: every
    entry py_func makes (any output count, stateful or not) has it."""
    from fasttape import script_ops

    with ft.Graph().as_default():
        p = ft.placeholder(ft.float32, [])
        for tout in (ft.float32, [ft.float32] * 2, [ft.float32] * 3, []):
            for stateful in (True, False):
                ft.py_func(lambda x: x, [p], tout, stateful=stateful)
    entries = list(script_ops._OPS.values())
    assert len(entries) >= 8
    for op in entries:
        assert op.index in ft.graph._PYTHON_CALL_OPS, op.name
    table = [op for op in _core.registered_ops() if op.name.startswith("py_func")]
    assert sorted(op.index for op in table) == sorted(op.index for op in entries)
