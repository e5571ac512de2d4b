"""ft.cond and ft.while_loop: eager Python, graph nodes run by Sessions,
build-time checks, and gradients (Notes [Control-flow nodes] and
[Control-flow gradients] in fasttape/control_flow.py)."""

import doctest
import re

import numpy as np
import pytest

import fasttape as ft
import fasttape.control_flow
from fasttape.errors import InvalidArgumentError
from fasttape.testing import check_grads
from tests.graph.control_flow_cases import CASES, POINTS

_ids = [c.__name__ for c in CASES]


def _graph_of(case, point):
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float64, point[0].shape, name="x")
        w = ft.placeholder(ft.float64, (), name="w")
        y = case(x, w)
    return g, x, w, y


def _eager(case, point):
    return case(ft.constant(point[0]), ft.constant(point[1])).numpy()


def _control_flow_nodes(g):
    return [n for n in g.get_operations() if n.type in ("cond", "while_loop")]


# ------------------------------------------------------------------ running

@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_session_runs_the_node_as_eager_mode_runs_python(case):
    g, x, w, y = _graph_of(case, POINTS[0])
    assert _control_flow_nodes(g), "the graph has no control-flow node"
    sess = ft.Session(graph=g)
    sess._debug_checks = True  # outputs against the nodes' static shapes and dtypes
    for point in POINTS:
        np.testing.assert_allclose(sess.run(y, {x: point[0], w: point[1]}), _eager(case, point),
                                   rtol=1e-12)


def test_one_node_per_call_holding_sub_graphs():
    g, x, w, y = _graph_of(CASES[0], POINTS[0])
    types = [n.type for n in g.get_operations()]
    assert types.count("cond") == 1
    node = y.op
    spec = node.attrs[0]
    # both branches traced once into their own graphs; x and w are captures
    assert [t.name for t in node.inputs[1:]] == ["x:0", "w:0"]
    for branch in (spec.true, spec.false):
        assert branch.graph.outer_graph is g
        assert {n.type for n in branch.graph.get_operations()} >= {"Placeholder"}
    assert not any(n.graph is not g for n in g.get_operations())


def test_the_branch_not_taken_does_not_run():
    g = ft.Graph()
    with g.as_default():
        p = ft.placeholder(ft.bool, (), name="p")
        m = ft.placeholder(ft.float64, (2, 2), name="m")
        y = ft.cond(p, lambda: ft.linalg.inv(m), lambda: m * 2.0)
    sess = ft.Session(graph=g)
    singular = np.zeros((2, 2))
    np.testing.assert_array_equal(sess.run(y, {p: False, m: singular}), singular)
    with pytest.raises(InvalidArgumentError) as e:
        sess.run(y, {p: True, m: singular})
    # the error names the node inside the branch and the line that built it
    assert "MatrixInverse" in str(e.value) and "test_control_flow.py" in str(e.value)
    assert "ft.linalg.inv(m)" in str(e.value)


def test_an_error_in_a_body_names_the_body_and_its_node():
    g = ft.Graph()
    with g.as_default():
        m = ft.placeholder(ft.float64, (2, 2), name="m")
        (y,) = ft.while_loop(lambda a: ft.reduce_sum(a) < 100.0,
                             lambda a: (ft.linalg.inv(a - 1.0) * 10.0,), (m,))
    sess = ft.Session(graph=g)
    with pytest.raises(InvalidArgumentError) as e:
        sess.run(y, {m: np.ones((2, 2))})
    msg = str(e.value)
    assert re.search(r"in body \(.*<lambda> at .*test_control_flow\.py:\d+", msg), msg
    assert "node 'MatrixInverse' was built at" in msg and "ft.linalg.inv(a - 1.0)" in msg


def test_while_loop_shape_invariants_let_a_dim_grow():
    g = ft.Graph()
    with g.as_default():
        n = ft.placeholder(ft.int32, (), name="n")
        i, acc = ft.while_loop(lambda i, acc: i < n,
                               lambda i, acc: (i + 1, ft.concat([acc, ft.cast(
                                   ft.reshape(i, (1,)), ft.float32)], 0)),
                               (ft.constant(0), ft.zeros((0,))),
                               shape_invariants=(ft.TensorShape([]), ft.TensorShape([None])))
    assert acc.shape.as_list() == [None]
    out = ft.Session(graph=g).run(acc, {n: 4})
    np.testing.assert_array_equal(out, [0.0, 1.0, 2.0, 3.0])


def test_maximum_iterations_may_be_a_graph_tensor():
    g = ft.Graph()
    with g.as_default():
        m = ft.placeholder(ft.int32, (), name="m")
        (s,) = ft.while_loop(lambda s: s < 100.0, lambda s: (s * 2.0,), (ft.constant(1.0),),
                             maximum_iterations=m)
    sess = ft.Session(graph=g)
    assert [float(sess.run(s, {m: k})) for k in (0, 2, 10)] == [1.0, 4.0, 128.0]


def test_variables_read_in_a_branch_are_read_when_the_graph_runs():
    v = ft.Variable(2.0)
    g = ft.Graph()
    with g.as_default():
        p = ft.placeholder(ft.bool, (), name="p")
        gv = ft.Variable(10.0, name="gv")
        y = ft.cond(p, lambda: v * 3.0, lambda: gv + v)
        init = ft.global_variables_initializer()
    # reads are nodes of the outer graph (one per branch that reads), captured
    reads = [n for n in g.get_operations() if n.type == "ReadVariableOp"]
    assert sorted(n.attrs[0].name for n in reads) == sorted([v.name, v.name, gv.name])
    spec = y.op.attrs[0]
    for branch in (spec.true, spec.false):
        assert not [n for n in branch.graph.get_operations() if n.type == "ReadVariableOp"]
    sess = ft.Session(graph=g)
    sess.run(init)
    assert float(sess.run(y, {p: True})) == 6.0
    v.assign(5.0)
    assert float(sess.run(y, {p: True})) == 15.0
    assert float(sess.run(y, {p: False})) == 15.0


def test_a_predicate_known_at_build_time_calls_one_branch():
    calls = []
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (2,), name="x")
        y = ft.cond(True, lambda: calls.append("t") or x + 1.0, lambda: calls.append("f") or x)
    assert calls == ["t"] and not _control_flow_nodes(g)
    np.testing.assert_array_equal(ft.Session(graph=g).run(y, {x: [1.0, 2.0]}), [2.0, 3.0])


def test_compat_v1_variants():
    g = ft.Graph()
    with g.as_default():
        p = ft.placeholder(ft.bool, (), name="p")
        x = ft.placeholder(ft.float32, (2,), name="x")
        a = ft.compat.v1.cond(p, fn1=lambda: [x * 2.0], fn2=lambda: [x])  # unpacked
        b = ft.compat.v1.cond(p, lambda: [x * 2.0], lambda: [x], strict=True)
        c = ft.compat.v1.while_loop(lambda s: ft.reduce_sum(s) < 10.0, lambda s: [s * 2.0], [x])
        d = ft.compat.v1.while_loop(lambda s: ft.reduce_sum(s) < 10.0, lambda s: [s * 2.0], [x],
                                    return_same_structure=True)
    assert ft.is_tensor(a) if hasattr(ft, "is_tensor") else isinstance(a, ft.Tensor)
    assert isinstance(b, list) and len(b) == 1
    assert isinstance(c, ft.Tensor) and isinstance(d, list)
    out = ft.Session(graph=g).run([a, b, c, d], {p: True, x: [1.0, 2.0]})
    np.testing.assert_array_equal(out[0], [2.0, 4.0])
    np.testing.assert_array_equal(out[2], [4.0, 8.0])


def test_eager_mode_runs_python():
    assert ft.executing_eagerly()
    calls = []
    x = ft.constant([1.0, 2.0])
    y = ft.cond(x[0] > 0, lambda: calls.append("t") or x * 2.0, lambda: calls.append("f") or x)
    assert calls == ["t"]
    np.testing.assert_array_equal(y.numpy(), [2.0, 4.0])
    steps = []

    def body(i, s):
        steps.append(int(i))
        return i + 1, s * 2.0
    i, s = ft.while_loop(lambda i, s: ft.reduce_sum(s) < 20.0, body, (ft.constant(0), x))
    assert steps == [0, 1, 2] and int(i) == 3
    np.testing.assert_array_equal(s.numpy(), [8.0, 16.0])
    # a single tensor as loop_vars, and maximum_iterations
    z = ft.while_loop(lambda s: True, lambda s: s + 1.0, ft.constant(0.0), maximum_iterations=4)
    assert float(z) == 4.0


def test_docstring_examples():
    result = doctest.testmod(fasttape.control_flow, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------------------ build-time errors

def _build(fn):
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (3,), name="x")
        p = ft.placeholder(ft.bool, (), name="p")
        fn(x, p)


def _true_fn_list(x):
    return [x, x]


def _false_fn_one(x):
    return x


BUILD_ERRORS = [
    # (what, build, error class, patterns the message must contain)
    ("cond structures", lambda x, p: ft.cond(p, lambda: (x, x), lambda: x), ValueError,
     [r"different structures", r"true_fn \(.*<lambda> at .*test_control_flow\.py:\d+",
      r"false_fn \(.*<lambda> at .*test_control_flow\.py:\d+", r"\(Tensor, Tensor\)"]),
    ("cond structures, named functions",
     lambda x, p: ft.cond(p, lambda: _true_fn_list(x), lambda: _false_fn_one(x)),
     ValueError, [r"different structures", r"returns \[Tensor, Tensor\]"]),
    ("cond dtypes", lambda x, p: ft.cond(p, lambda: x, lambda: ft.cast(x, ft.float64)),
     TypeError, [r"different dtypes for output", r"float32", r"float64", r"true_fn",
                 r"false_fn", r"ft\.cast"]),
    ("cond ranks", lambda x, p: ft.cond(p, lambda: x, lambda: ft.reduce_sum(x)), ValueError,
     [r"different ranks", r"shape \(3,\)", r"shape \(\)"]),
    ("cond pred dtype", lambda x, p: ft.cond(x[0], lambda: x, lambda: x), TypeError,
     [r"pred must be a bool tensor", r"float32"]),
    ("cond pred shape", lambda x, p: ft.cond(x > 0, lambda: x, lambda: x), ValueError,
     [r"pred must be a scalar", r"\(3,\)"]),
    ("cond returns None", lambda x, p: ft.cond(p, lambda: None, lambda: x), TypeError,
     [r"true_fn .* returned None"]),
    ("cond not callable", lambda x, p: ft.cond(p, x, lambda: x), TypeError,
     [r"true_fn must be callable"]),
    ("while body dtype", lambda x, p: ft.while_loop(lambda s: p, lambda s: ft.cast(s, ft.int32),
                                                    [x]), TypeError,
     [r"body \(.*<lambda>", r"dtype int32 for loop_vars\[0\]", r"dtype float32", r"ft\.cast"]),
    ("while body shape", lambda x, p: ft.while_loop(lambda s: p,
                                                    lambda s: ft.concat([s, s], 0), [x]),
     ValueError, [r"returns shape \(6,\) for loop_vars\[0\]", r"shape \(3,\)",
                  r"shape_invariants"]),
    ("while body structure", lambda x, p: ft.while_loop(lambda a, b: p, lambda a, b: a,
                                                        (x, x)), ValueError,
     [r"body .* must return the structure of loop_vars \(Tensor, Tensor\)", r"got Tensor"]),
    ("while cond dtype", lambda x, p: ft.while_loop(lambda s: ft.reduce_sum(s), lambda s: s,
                                                    [x]), TypeError,
     [r"cond \(.*<lambda>.* must return a bool scalar", r"float32"]),
    ("while invariant", lambda x, p: ft.while_loop(lambda s: p, lambda s: s, [x],
                                                   shape_invariants=[ft.TensorShape([4])]),
     ValueError, [r"shape invariant \(4,\) of loop_vars\[0\] does not fit", r"\(3,\)"]),
    ("while invariant structure", lambda x, p: ft.while_loop(
        lambda a, b: p, lambda a, b: (a, b), (x, x), shape_invariants=[ft.TensorShape([3])]),
     ValueError, [r"shape_invariants must have the structure of loop_vars"]),
    ("while maximum_iterations", lambda x, p: ft.while_loop(lambda s: p, lambda s: s, [x],
                                                            maximum_iterations=1.5),
     TypeError, [r"maximum_iterations must be an int scalar"]),
    ("variable in a branch", lambda x, p: ft.cond(p, lambda: ft.Variable(1.0) * 2.0,
                                                  lambda: ft.constant(1.0)),
     NotImplementedError, [r"creating or assigning variables inside a branch",
                           r"test_control_flow\.py:\d+"]),
]


@pytest.mark.parametrize("what,build,cls,patterns", BUILD_ERRORS, ids=[b[0] for b in BUILD_ERRORS])
def test_build_errors_name_the_functions_and_the_line(what, build, cls, patterns):
    with pytest.raises(cls) as e:
        _build(build)
    msg = str(e.value)
    for pat in patterns:
        assert re.search(pat, msg), f"{what}: {pat!r} not in: {msg}"
    if cls is not NotImplementedError:
        assert re.search(r"called at .*test_control_flow\.py:\d+", msg), msg


def test_assigning_a_variable_in_a_body_raises_at_build():
    v = ft.Variable(1.0)
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (), name="x")
        with pytest.raises(NotImplementedError, match="creating or assigning variables"):
            ft.while_loop(lambda s: s < 3.0, lambda s: v.assign_add(s), [x])


# ------------------------------------------------------------------ gradients

@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_eager_gradients_follow_the_python_that_ran(case):
    for point in POINTS:
        check_grads(case, list(point), order=2, name=case.__name__)


def _eager_inputs(node, g, x, w, xv, wv):
    """The node's inputs for an eager call: x and w as given, anything
    else (the predicate, constants) as its value in a run."""
    values = ft.Session(graph=g).run(node.inputs, {x: xv.numpy(), w: wv.numpy()})
    return [xv if t is x else wv if t is w else ft.constant(v)
            for t, v in zip(node.inputs, values)]


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_node_vjp_against_finite_differences(case):
    """The node's op applied to eager tensors is recorded by tapes like any
    op; its VJP (the re-run under a tape) is checked to order 2."""
    g, x, w, y = _graph_of(case, POINTS[0])
    node = _control_flow_nodes(g)[-1]
    index = next(i for i, t in enumerate(node.outputs) if t.dtype == np.float64)

    def apply(xv, wv):
        out = node.op_def.apply(_eager_inputs(node, g, x, w, xv, wv), node.attrs)
        return out[index] if isinstance(out, tuple) else out
    for point in POINTS:
        check_grads(apply, list(point), order=2, name=case.__name__)


@pytest.mark.parametrize("case", [c for c in CASES if c.__name__.startswith("while")
                                  or c.__name__ == "cond_data"],
                         ids=lambda c: c.__name__)
def test_graph_vjp_is_a_gradient_node_run_by_the_session(case):
    """With symbolic values the VJP stages one gradient node (a deferred VJP)
    whose run gives the eager tape's gradients."""
    g, x, w, y = _graph_of(case, POINTS[0])
    node = y.op
    assert node.type in ("cond", "while_loop"), node.type
    with g.as_default():
        u = ft.placeholder(ft.float64, y.shape, name="u")
        gs = [u if t is y else None for t in node.outputs]
        grads = node.op_def.vjp_sources(*gs, list(node.inputs), node.attrs[0])
    grad_nodes = [n for n in g.get_operations() if n.type.endswith("_grad")]
    assert len(grad_nodes) == 1
    sess = ft.Session(graph=g)
    rng = np.random.default_rng(0)
    for xv, wv in POINTS:
        uv = rng.standard_normal(xv.shape)
        # an input given at several positions (a loop variable also captured) sums them
        fetch = {name: [grads[k] for k, s in enumerate(node.inputs) if s is t]
                 for name, t in (("x", x), ("w", w))}
        got = {k: sum(v) for k, v in sess.run(fetch, {x: xv, w: wv, u: uv}).items()}
        xt, wt = ft.constant(xv), ft.constant(wv)
        with ft.GradientTape() as tape:
            tape.watch([xt, wt])
            out = case(xt, wt)
        want = tape.gradient(out, [xt, wt], output_gradients=ft.constant(uv))
        np.testing.assert_allclose(got["x"], want[0].numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got["w"], want[1].numpy(), rtol=1e-10, atol=1e-12)


def test_many_captures_make_several_gradient_nodes():
    """A gradient node has one output per float input and at most 14: a body
    capturing 20 tensors gets two, whose gradients are the eager tape's."""
    g = ft.Graph()
    with g.as_default():
        ws = [ft.placeholder(ft.float64, (), name=f"w{k}") for k in range(20)]
        x = ft.placeholder(ft.float64, (2,), name="x")

        def body(i, s):
            return i + 1, ft.sin(s * ws[0]) + ft.add_n(ws[1:]) * s
        i, y = ft.while_loop(lambda i, s: i < 2, body, (ft.constant(0), x))
        grads = y.op.op_def.vjp_sources(None, ft.ones_like(y), list(y.op.inputs),
                                        y.op.attrs[0])
    assert len([n for n in g.get_operations() if n.type == "while_loop_grad"]) == 2
    values = [0.1 * (k + 1) for k in range(20)]
    feed = dict(zip(ws, values))
    feed[x] = [0.5, -0.3]
    position = {id(t): k for k, t in enumerate(y.op.inputs)}
    got = ft.Session(graph=g).run([grads[position[id(t)]] for t in (ws[0], ws[-1])], feed)
    wt = [ft.constant(v, ft.float64) for v in values]
    s = ft.constant([0.5, -0.3], ft.float64)
    with ft.GradientTape() as tape:
        tape.watch(wt)
        for _ in range(2):
            s = ft.sin(s * wt[0]) + ft.add_n(wt[1:]) * s
    want = tape.gradient(s, [wt[0], wt[-1]])
    np.testing.assert_allclose(got, [w.numpy() for w in want], rtol=1e-12)


def test_too_many_loop_variables_raise_at_build():
    g = ft.Graph()
    with g.as_default():
        xs = [ft.placeholder(ft.float32, (), name=f"x{k}") for k in range(15)]
        with pytest.raises(ValueError, match=r"15 outputs; a control-flow node has at most 14"):
            ft.while_loop(lambda *v: v[0] < 1.0, lambda *v: v, xs)


def test_gradient_node_runs_inside_an_entered_session():
    """`with sess:` makes the thread stage; the gradient node's re-run is eager anyway."""
    g, x, w, y = _graph_of(CASES[4], POINTS[0])
    with g.as_default():
        grads = y.op.op_def.vjp_sources(None, ft.ones_like(y), list(y.op.inputs),
                                        y.op.attrs[0])
    with ft.Session(graph=g) as sess:
        assert not ft.executing_eagerly()
        out = sess.run(grads[1], {x: POINTS[0][0], w: POINTS[0][1]})
        assert not ft.executing_eagerly()
    assert out.shape == (3,) and np.all(np.isfinite(out))


def test_gradient_of_a_branch_drawing_random_numbers_raises():
    g = ft.Graph()
    with g.as_default():
        p = ft.placeholder(ft.bool, (), name="p")
        x = ft.placeholder(ft.float64, (2,), name="x")
        y = ft.cond(p, lambda: x * ft.random.uniform((2,), dtype=ft.float64), lambda: x)
    node = y.op
    assert node.op_def.stateful
    xt = ft.constant([1.0, 2.0])
    with ft.GradientTape() as tape:
        tape.watch(xt)
        out = node.op_def.apply([ft.constant(True), xt], node.attrs)
    with pytest.raises(NotImplementedError, match="draws random numbers"):
        tape.gradient(out, xt)


# ------------------------------------------------------------------ ft.gradients

_needs_gradients = pytest.mark.skipif(not hasattr(ft, "gradients"),
                                      reason="ft.gradients (symbolic gradients) not built")


def _eager_grads(case, xv, wv, order):
    """The eager tape's gradient of sum(y²) (order 1) or of sum(grad_x²) (order 2)."""
    xt, wt = ft.constant(xv), ft.constant(wv)
    with ft.GradientTape() as outer:
        outer.watch([xt, wt])
        with ft.GradientTape() as tape:
            tape.watch([xt, wt])
            loss = ft.reduce_sum(case(xt, wt) ** 2)
        if order == 1:
            return [g.numpy() for g in tape.gradient(loss, [xt, wt],
                                                     unconnected_gradients="zero")]
        gx = tape.gradient(loss, xt)
        loss2 = ft.reduce_sum(gx * gx)
    return [g.numpy() for g in outer.gradient(loss2, [xt, wt], unconnected_gradients="zero")]


@_needs_gradients
@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_ft_gradients_through_control_flow_match_the_eager_tape(case, order):
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float64, (3,), name="x")
        w = ft.placeholder(ft.float64, (), name="w")
        loss = ft.reduce_sum(case(x, w) ** 2)
        grads = ft.gradients(loss, [x, w])
        if order == 2:
            grads = ft.gradients(ft.reduce_sum(grads[0] * grads[0]), [x, w])
    sess = ft.Session(graph=g)
    for xv, wv in POINTS:
        got = sess.run(grads, {x: xv, w: wv})
        for a, b in zip(got, _eager_grads(case, xv, wv, order)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
