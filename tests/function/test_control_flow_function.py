"""ft.cond and ft.while_loop inside ft.function: one trace runs every branch
and trip count through the compiled plan; Python `if`/`while`/`and`/`or`/
`not` on a traced tensor raise naming the line and the function to use."""

import re

import numpy as np
import pytest

import fasttape as ft
from tests.graph.control_flow_cases import CASES, POINTS


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_one_trace_runs_every_branch_as_eager_mode(case):
    f = ft.function(case)
    for xv, wv in POINTS:
        got = f(ft.constant(xv), ft.constant(wv))
        want = case(ft.constant(xv), ft.constant(wv))
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    assert f.experimental_get_tracing_count() == 1
    cf = f.get_concrete_function(ft.constant(POINTS[0][0]), ft.constant(POINTS[0][1]))
    kinds = [t for t in cf.plan.step_types if t in ("cond", "while_loop")]
    assert kinds, "the plan runs no control-flow step"


def test_the_node_is_one_step_and_its_branches_are_plans():
    @ft.function
    def f(x):
        return ft.cond(ft.reduce_sum(x) > 0, lambda: x * 2.0 + 1.0, lambda: -x)
    x = ft.constant([1.0, 2.0])
    f(x)
    cf = f.get_concrete_function(x)
    assert cf.plan.step_types.count("cond") == 1
    node = next(n for n in cf.graph.get_operations() if n.type == "cond")
    spec = node.attrs[0]
    assert isinstance(spec.true.plan, type(cf.plan)) and spec.true.plan.n_steps == 2


def test_variables_in_a_branch_are_read_at_each_call():
    v = ft.Variable([1.0, 2.0])

    @ft.function
    def f(p):
        return ft.cond(p, lambda: v * 2.0, lambda: v)
    np.testing.assert_array_equal(f(ft.constant(True)).numpy(), [2.0, 4.0])
    v.assign([3.0, 4.0])
    np.testing.assert_array_equal(f(ft.constant(True)).numpy(), [6.0, 8.0])
    np.testing.assert_array_equal(f(ft.constant(False)).numpy(), [3.0, 4.0])


def test_random_ops_in_a_body_draw_fresh_numbers_on_every_call():
    @ft.function
    def f(n):
        _, s = ft.while_loop(lambda i, s: i < n,
                             lambda i, s: (i + 1, s + ft.random.uniform((3,))),
                             (ft.constant(0), ft.zeros((3,))))
        return s
    a, b = f(ft.constant(2)).numpy(), f(ft.constant(2)).numpy()
    assert not np.array_equal(a, b)
    assert np.all((a >= 0) & (a < 2))
    np.testing.assert_array_equal(f(ft.constant(0)).numpy(), np.zeros(3))


def test_a_trace_captures_tensors_of_the_function_and_eager_constants():
    scale = ft.constant(3.0)

    @ft.function
    def f(x):
        y = x + 1.0  # a tensor of the trace, captured by both branches
        return ft.cond(ft.reduce_max(x) > 0, lambda: y * scale, lambda: y - scale)
    np.testing.assert_array_equal(f(ft.constant([1.0, 2.0])).numpy(), [6.0, 9.0])
    np.testing.assert_array_equal(f(ft.constant([-1.0, -2.0])).numpy(), [-3.0, -4.0])


# ------------------------------------------------------------ Python control flow

def _if(x):
    if x > 0:
        return x
    return -x


def _while(x):
    while x < 10.0:
        x = x * 2.0
    return x


def _and(x):
    return (x > 0) and (x < 1)


def _or(x):
    return (x > 0) or (x < -1)


def _not(x):
    return not (x > 0)


def _ternary(x):
    return x if x > 0 else -x


PYTHON_CONTROL_FLOW = [(_if, "if x > 0:"), (_while, "while x < 10.0:"),
                       (_and, "return (x > 0) and (x < 1)"), (_or, "return (x > 0) or (x < -1)"),
                       (_not, "return not (x > 0)"), (_ternary, "return x if x > 0 else -x")]


@pytest.mark.parametrize("fn,line", PYTHON_CONTROL_FLOW,
                         ids=[f.__name__ for f, _ in PYTHON_CONTROL_FLOW])
def test_python_control_flow_on_a_traced_tensor_names_the_line(fn, line):
    f = ft.function(fn)
    with pytest.raises(TypeError) as e:
        f(ft.constant(0.5))
    msg = str(e.value)
    assert re.search(r"test_control_flow_function\.py:\d+: " + re.escape(line), msg), msg
    assert f"inside the traced ft.function {fn.__name__}" in msg
    for name in ("ft.cond(pred, true_fn, false_fn)", "ft.while_loop(cond, body, loop_vars)",
                 "ft.logical_and"):
        assert name in msg
    # the same Python runs eagerly
    fn(ft.constant(0.5))


def test_python_control_flow_in_a_graph_names_the_line_too():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (), name="x")
        with pytest.raises(TypeError) as e:
            if x > 0:
                pass
    msg = str(e.value)
    assert "Greater:0" in msg and "if x > 0:" in msg and "ft.cond" in msg
    assert "ft.function" not in msg


def test_python_control_flow_inside_a_branch_of_a_trace():
    @ft.function
    def f(x):
        def body(s):
            if s > 1.0:  # a Python `if` in a body: the same error, naming this line
                return s
            return s * 2.0
        return ft.while_loop(lambda s: s < 10.0, body, [x])
    with pytest.raises(TypeError) as e:
        f(ft.constant(0.5))
    assert "if s > 1.0:" in str(e.value) and "inside the traced ft.function f" in str(e.value)


def test_creating_a_variable_inside_a_branch_of_a_trace_raises():
    @ft.function
    def f(x):
        return ft.cond(x > 0, lambda: ft.Variable(1.0) * x, lambda: x)
    with pytest.raises(NotImplementedError, match="creating or assigning variables inside"):
        f(ft.constant(1.0))


@pytest.mark.skipif(not hasattr(ft, "gradients"), reason="tapes inside ft.function not built")
@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_a_tape_inside_the_trace_differentiates_control_flow(case):
    @ft.function
    def grads(x, w):
        with ft.GradientTape() as tape:
            tape.watch([x, w])
            loss = ft.reduce_sum(case(x, w) ** 2)
        return tape.gradient(loss, [x, w], unconnected_gradients="zero")
    for xv, wv in POINTS:
        got = grads(ft.constant(xv), ft.constant(wv))
        xt, wt = ft.constant(xv), ft.constant(wv)
        with ft.GradientTape() as tape:
            tape.watch([xt, wt])
            loss = ft.reduce_sum(case(xt, wt) ** 2)
        want = tape.gradient(loss, [xt, wt], unconnected_gradients="zero")
        for a, b in zip(got, want):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)
    assert grads.experimental_get_tracing_count() == 1
