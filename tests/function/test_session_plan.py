"""ft.Session runs through the compiled Plan of ft.function (Note [Running
a graph] in fasttape/session.py, Note [Executor]): one plan per (fetches,
fed tensors), kept; the same results as eager mode and as ft.function on
the same programs; Session semantics kept (only the needed subgraph, fed
intermediate tensors, stateful order, fresh random numbers, copies of kept
values, errors naming the build line)."""

import numpy as np
import pytest

import fasttape as ft
from fasttape.errors import InvalidArgumentError

# programs of two float64 arguments
PROGRAMS = {
    "chain": lambda a, b: ft.tanh(a * 1.01 + b) * 0.5 - 0.1,
    "matmul": lambda a, b: ft.nn.relu(ft.matmul(a, b) + 1.0),
    "reduce": lambda a, b: ft.reduce_sum(ft.exp(a - b) * a, axis=1),
    "shared": lambda a, b: (a + b) * (a + b) + ft.reduce_mean(a + b),
    "const_folded": lambda a, b: a * (ft.ones([3, 3], ft.float64) * 2.0 + 1.0) + b,
    "pow": lambda a, b: a ** 2 + b ** 0.5 * 0.0 + ft.abs(b) ** 3,
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_session_function_and_eager_agree(name):
    fn = PROGRAMS[name]
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3, 3)), np.abs(rng.normal(size=(3, 3)))
    eager = fn(ft.constant(a), ft.constant(b)).numpy()
    traced = ft.function(fn)(ft.constant(a), ft.constant(b)).numpy()
    g = ft.Graph()
    with g.as_default():
        pa = ft.placeholder(ft.float64, (3, 3), name="a")
        pb = ft.placeholder(ft.float64, (None, 3), name="b")
        y = fn(pa, pb)
    sess = ft.Session(graph=g)
    for _ in range(2):  # the second run reuses the plan
        out = sess.run(y, {pa: a, pb: b})
        np.testing.assert_array_equal(out, eager)
        np.testing.assert_array_equal(out, traced)
    assert len(sess._plans) == 1


def test_one_plan_per_fetches_and_fed_tensors():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (2,), name="x")
        h = x * 2.0
        y = h + 1.0
    sess = ft.Session(graph=g)
    sess.run(y, {x: [1.0, 2.0]})
    sess.run(y, {x: [3.0, 4.0]})
    sess.run([y], {x: [3.0, 4.0]})
    assert len(sess._plans) == 1, "the structure of the fetches is not part of the key"
    # feeding the intermediate h: another plan, which does not run x * 2
    np.testing.assert_array_equal(sess.run(y, {h: [10.0, 20.0]}), [11.0, 21.0])
    np.testing.assert_array_equal(sess.run([h, y], {h: [1.0, 1.0]})[0], [1.0, 1.0])
    assert len(sess._plans) == 3


def test_a_fed_node_that_runs_anyway_keeps_the_fed_value():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float64, (2,), name="x")
        parts = ft.split(x * 1.0, 2)
        total = parts[0] + parts[1]
    sess = ft.Session(graph=g)
    # parts[1] is fed but its node runs for parts[0]
    np.testing.assert_array_equal(sess.run(total, {x: [1.0, 2.0], parts[1]: [5.0]}), [6.0])


def test_stateful_order_and_fresh_random_numbers_through_the_plan():
    g = ft.Graph()
    with g.as_default():
        v = ft.Variable(1.0, name="v")
        first = v.assign_add(1.0)
        second = v.assign_add(first * 10.0)   # reads v after `first` ran
        r = ft.random.uniform([4]) + 0.0
        init = ft.global_variables_initializer()
    sess = ft.Session(graph=g)
    sess.run(init)
    assert sess.run(second) == 2.0 + 20.0
    assert sess.run(v) == 22.0
    a, b = sess.run(r), sess.run(r)
    assert not np.array_equal(a, b), "every run draws fresh numbers"


def test_results_never_alias_kept_values():
    g = ft.Graph()
    with g.as_default():
        c = ft.constant([1.0, 2.0])
        folded = c * 2.0
        v = ft.Variable([3.0, 4.0])
        read = v.read_value()
        init = ft.global_variables_initializer()
    sess = ft.Session(graph=g)
    sess.run(init)
    for t in (c, folded, read):
        out = sess.run(t)
        out[:] = -1.0
        assert (sess.run(t) >= 0).all(), t.name
    p, q = sess.run([folded, folded])
    assert p is not q


def test_runtime_errors_name_the_node_and_its_build_line():
    g = ft.Graph()
    with g.as_default():
        m = ft.placeholder(ft.float64, (2, 2), name="m")
        bad = ft.linalg.inv(m)  # the build line
    sess = ft.Session(graph=g)
    with pytest.raises(InvalidArgumentError, match=r"node '.*'.*\n.*built at .*"
                                                  r"test_session_plan\.py:\d+: bad = "):
        sess.run(bad, {m: np.zeros((2, 2))})
    np.testing.assert_array_equal(sess.run(bad, {m: 2 * np.eye(2)}), 0.5 * np.eye(2))
