"""Variables in graph mode: reads are nodes, assigns are stateful nodes run in
program order, values live in each Session, initializers. See Note [Graph
variables] in fasttape/session.py."""

import numpy as np
import pytest

import fasttape as ft
from fasttape.errors import FailedPreconditionError


def test_initializer_then_reads():
    g = ft.Graph()
    with g.as_default():
        v = ft.Variable([1.0, 2.0], name="v")
        y = v * 3.0
        init = ft.global_variables_initializer()
    assert isinstance(v, ft.Variable) and v.name == "v:0"
    assert v.shape == (2,) and v.dtype == ft.float32 and v.trainable
    assert v.graph is g and v.op.type == "VariableV2" and v.initializer.type == "Assign"
    assert init.type == "NoOp" and init.control_inputs == [v.initializer]
    assert repr(v) == "<ft.Variable 'v:0' shape=(2,) dtype=float32>"
    assert [op.type for op in g.get_operations()] == [
        "Const", "VariableV2", "Assign", "ReadVariableOp", "Const", "multiply", "NoOp"]
    sess = ft.Session(graph=g)
    assert sess.run(init) is None
    np.testing.assert_array_equal(sess.run(y), [3.0, 6.0])
    np.testing.assert_array_equal(sess.run(v), [1.0, 2.0])
    np.testing.assert_array_equal(sess.run("v:0"), [1.0, 2.0])
    out = sess.run(v)
    out[0] = 50.0  # a fetched value is the caller's: the variable keeps its own
    np.testing.assert_array_equal(sess.run(v), [1.0, 2.0])


def test_reading_an_uninitialised_variable_names_it():
    g = ft.Graph()
    with g.as_default():
        v = ft.Variable(ft.zeros([2, 3]), name="weights")
        y = ft.reduce_sum(v)  # built here
    sess = ft.Session(graph=g)
    with pytest.raises(FailedPreconditionError, match=r"uninitialized variable 'weights:0' "
                       r"\(shape \(2, 3\), dtype float32\)") as info:
        sess.run(y)
    assert "global_variables_initializer" in str(info.value)
    assert "y = ft.reduce_sum(v)  # built here" in str(info.value)
    with pytest.raises(FailedPreconditionError, match="weights:0"):
        sess.run(v)
    assert isinstance(info.value, ValueError)


def test_assigns_run_in_program_order_within_one_run():
    g = ft.Graph()
    with g.as_default():
        v = ft.Variable(1.0)
        first = v.assign(10.0)
        doubled = v * 2.0       # a read built after the first assign
        second = v.assign_add(5.0)
        third = v.assign_sub(1.0)
    sess = ft.Session(graph=g)
    sess.run(v.initializer)
    # listed in any order, they run as the program built them
    t3, d, t1, t2 = sess.run([third, doubled, first, second])
    assert (t1, d, t2, t3) == (10.0, 20.0, 15.0, 14.0)
    assert sess.run(v) == 14.0
    # fetching one assign runs that one only (TensorFlow 1): not the ones before it
    assert sess.run(second) == 19.0 and sess.run(v) == 19.0
    assert sess.run(doubled) == 38.0  # a read runs no assign
    from fasttape.session import stateful_nodes

    with g.as_default():
        r = ft.random.uniform([2])
    assert stateful_nodes(g) == [v.initializer, first.op, second.op, third.op, r.op]


def test_assign_add_twice_in_one_run():
    g = ft.Graph()
    with g.as_default():
        step = ft.Variable(0, name="step", trainable=False)
        a = step.assign_add(1)
        b = step.assign_add(1)
    sess = ft.Session(graph=g)
    sess.run(ft.compat.v1.variables_initializer([step]))
    assert sess.run([a, b]) == [1, 2]
    assert sess.run([b, a]) == [4, 3]
    assert sess.run(step) == 4 and sess.run(step).dtype == np.int32


def test_assign_returns_the_new_value_or_the_op_and_checks_at_build_time():
    g = ft.Graph()
    with g.as_default():
        v = ft.Variable(np.zeros((2, 2), np.float32))
        x = ft.placeholder(ft.float32, shape=(None, 2))
        op = v.assign(ft.ones([2, 2]), read_value=False)
        fed = v.assign(x)
        with pytest.raises(ValueError, match=r"Variable.assign: value of shape \(3,\).*"
                           r"'Variable:0' of shape \(2, 2\)") as info:
            v.assign([1.0, 2.0, 3.0])
        assert "test_graph_variables.py" in str(info.value)
        with pytest.raises(TypeError, match=r"Variable.assign_add: .*dtype int32.*float32"):
            v.assign_add(ft.ones([2, 2], ft.int32))
        with pytest.raises(TypeError, match="Variable.assign"):
            v.assign(np.ones((2, 2), np.float64) * 0.5 + ft.zeros([2, 2], ft.float64))
    assert isinstance(op, ft.Operation) and op.type == "Assign"
    sess = ft.Session(graph=g)
    sess.run(v.initializer)
    assert sess.run(op) is None
    np.testing.assert_array_equal(sess.run(v), np.ones((2, 2)))
    np.testing.assert_array_equal(sess.run(fed, {x: [[1, 2], [3, 4]]}), [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match=r"value of shape \(1, 2\) for variable 'Variable:0' "
                       r"of shape \(2, 2\)"):
        sess.run(fed, {x: [[1, 2]]})


def test_initial_value_reading_another_variable():
    g = ft.Graph()
    with g.as_default():
        v = ft.Variable([1.0, 2.0], name="v")
        w = ft.Variable(v * 2.0, name="w")
        u = ft.Variable(lambda: ft.random.normal([3]), name="u")
    assert w.initial_value.op.type == "multiply"
    names = [op.name for op in g.get_operations()][-3:]
    assert names[0].startswith("u/") and names[1:] == ["u", "u/Assign"]  # made in its scope
    sess = ft.Session(graph=g)
    sess.run(ft.compat.v1.variables_initializer([v, w, u]))
    np.testing.assert_array_equal(sess.run(w), [2.0, 4.0])
    r = sess.run(u)
    np.testing.assert_array_equal(sess.run(u), r)  # computed once, at init
    # w's initializer alone, in a new Session: v is not initialised there
    s2 = ft.Session(graph=g)
    with pytest.raises(FailedPreconditionError, match="'v:0'"):
        s2.run(w.initializer)
    s2.run(v.initializer)
    s2.run(w.initializer)
    np.testing.assert_array_equal(s2.run(w), [2.0, 4.0])


def test_two_sessions_on_one_graph_keep_separate_values():
    g = ft.Graph()
    with g.as_default():
        v = ft.Variable(0.0)
        inc = v.assign_add(1.0)
        r = ft.Variable(ft.random.uniform([2]))
        init = ft.global_variables_initializer()
    s1, s2 = ft.Session(graph=g), ft.Session(graph=g)
    s1.run(init)
    s2.run(init)
    for _ in range(3):
        s1.run(inc)
    assert s1.run(v) == 3.0 and s2.run(v) == 0.0
    assert not np.array_equal(s1.run(r), s2.run(r))  # each initialised with its own draw
    s1.close()
    s3 = ft.Session(graph=g)
    with pytest.raises(FailedPreconditionError):
        s3.run(v)


def test_collections_and_names():
    g = ft.Graph()
    with g.as_default():
        a = ft.Variable(1.0)
        b = ft.Variable(2.0, trainable=False)
        with ft.name_scope("layer"):
            c = ft.Variable([1.0], name="kernel")
        assert ft.compat.v1.global_variables() == [a, b, c]
        assert ft.compat.v1.trainable_variables() == [a, c]
        assert ft.compat.v1.global_variables("layer") == [c]
    assert (a.name, b.name, c.name) == ("Variable:0", "Variable_1:0", "layer/kernel:0")
    assert g.get_collection("variables") == [a, b, c]
    assert g.get_collection("trainable_variables") == [a, c]
    assert ft.compat.v1.global_variables() == []  # the (empty) global default graph's
    nodes = len(ft.get_default_graph().get_operations())
    assert ft.global_variables_initializer() is None  # eager mode: nothing to initialise
    assert len(ft.get_default_graph().get_operations()) == nodes
    sess = ft.Session(graph=g)
    with g.as_default():
        sess.run(ft.global_variables_initializer())
    assert sess.run([a, b, c]) == [1.0, 2.0, [1.0]]


def test_variable_reads_are_nodes():
    g = ft.Graph()
    with g.as_default():
        v = ft.Variable([[1.0, 2.0]])
        x = ft.placeholder(ft.float32, shape=(2, 1))
        r1 = v.read_value()
        r2 = v.value()
        t = ft.convert_to_tensor(v)
        m = ft.matmul(v, x)
        with pytest.raises(TypeError, match="requested dtype float64"):
            ft.convert_to_tensor(v, ft.float64)
    assert r1.op.type == r2.op.type == t.op.type == "ReadVariableOp"
    assert r1.op is not r2.op  # each read its own node
    assert m.op.inputs[0].op.type == "ReadVariableOp"
    sess = ft.Session(graph=g)
    sess.run(v.initializer)
    assert sess.run(m, {x: [[1.0], [1.0]]}) == [[3.0]]
    np.testing.assert_array_equal(sess.run(t), [[1.0, 2.0]])


def test_graph_variables_have_no_value_outside_a_session():
    g = ft.Graph()
    with g.as_default():
        v = ft.Variable([1.0, 2.0], name="v")
    for use in (lambda: v + 1.0, lambda: ft.exp(v), lambda: v.numpy(), lambda: np.asarray(v),
                lambda: ft.reduce_sum(v)):
        with pytest.raises(TypeError, match="graph variable 'v:0'"):
            use()
    # an op that converts its inputs first reads v as a node: it goes to v's graph
    assert v[0].graph is g and v[0].op.inputs[0].op.type == "ReadVariableOp"
    with pytest.raises(TypeError, match="cannot be pickled"):
        import pickle

        pickle.dumps(v)
    e = ft.Variable(1.0)
    with pytest.raises(AttributeError, match="eager variable"):
        e.initializer  # noqa: B018
    # outside the graph, an assign on a graph variable still goes to its graph
    a = v.assign([0.0, 0.0])
    assert a.graph is g and a.op.type == "Assign"


def test_variables_of_another_graph_raise():
    g1, g2 = ft.Graph(), ft.Graph()
    eager = ft.Variable(1.0)
    with g1.as_default():
        v = ft.Variable(1.0, name="v")
    with g2.as_default():
        with pytest.raises(ValueError, match="'v:0' belongs to another graph"):
            _ = v * 2.0
        with pytest.raises(ValueError, match="'v:0' belongs to another graph"):
            v.assign(2.0)
        with pytest.raises(ValueError, match="another graph"):
            ft.compat.v1.variables_initializer([v])
        with pytest.raises(TypeError, match="eager variable"):
            ft.compat.v1.variables_initializer([eager])
    with pytest.raises(TypeError, match="not a variable of the Session's graph"):
        ft.Session(graph=g2).run(v)


def test_variable_shapes_must_be_known():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, shape=(None, 3))
        with pytest.raises(ValueError, match=r"partially known shape \(None, 3\)"):
            ft.Variable(x)
        v = ft.Variable(x, shape=(4, 3))
        with pytest.raises(ValueError, match="does not match shape"):
            ft.Variable([1.0, 2.0], shape=(3,))
        with pytest.raises(TypeError, match="float64"):
            ft.Variable(x, dtype=ft.float64)
        d = ft.Variable([1, 2], dtype=ft.float64)
    assert v.shape == (4, 3) and d.dtype == ft.float64
    sess = ft.Session(graph=g)
    sess.run(v.initializer, {x: np.ones((4, 3))})
    np.testing.assert_array_equal(sess.run(v), np.ones((4, 3)))


def test_an_eager_variable_assigned_in_a_graph_changes_when_the_graph_runs():
    e = ft.Variable([1.0, 2.0])
    g = ft.Graph()
    with g.as_default():
        y = e * 2.0
        inc = e.assign_add([1.0, 1.0])
    assert inc.op.type == "AssignAdd"
    np.testing.assert_array_equal(e.numpy(), [1.0, 2.0])  # building ran nothing
    sess = ft.Session(graph=g)
    np.testing.assert_array_equal(sess.run(y), [2.0, 4.0])
    before = e.numpy()
    sess.run(inc)
    np.testing.assert_array_equal(e.numpy(), [2.0, 3.0])
    np.testing.assert_array_equal(before, [1.0, 2.0])  # an earlier read is a snapshot
    np.testing.assert_array_equal(sess.run(y), [4.0, 6.0])  # read when the graph runs
