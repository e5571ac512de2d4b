"""ft.Session: fetches and feeds, what runs, and the errors of a run. See
Note [Running a graph] in fasttape/session.py."""

import collections
import doctest
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fasttape as ft
from fasttape.errors import InvalidArgumentError

Pair = collections.namedtuple("Pair", "first second")


def _graph():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, shape=(None, 3), name="x")
        y = ft.reduce_sum(x * 2.0, axis=1)
        z = y + 1.0
    return g, x, y, z


def test_run_a_tensor_returns_an_ndarray():
    g, x, y, _ = _graph()
    sess = ft.Session(graph=g)
    out = sess.run(y, feed_dict={x: np.ones((2, 3), np.float32)})
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, [6.0, 6.0])


def test_fetch_structures_are_returned_as_given():
    g, x, y, z = _graph()
    sess = ft.Session(graph=g)
    feed = {x: [[1.0, 2.0, 3.0]]}
    out = sess.run({"a": [y, (z, "Sum:0")], "b": Pair(z, x.op), "c": "add:0"}, feed)
    assert set(out) == {"a", "b", "c"}
    assert isinstance(out["a"], list) and isinstance(out["a"][1], tuple)
    np.testing.assert_array_equal(out["a"][0], [12.0])
    np.testing.assert_array_equal(out["a"][1][0], [13.0])
    np.testing.assert_array_equal(out["a"][1][1], [12.0])
    assert isinstance(out["b"], Pair) and out["b"].second is None
    np.testing.assert_array_equal(out["b"].first, [13.0])
    np.testing.assert_array_equal(out["c"], [13.0])
    od = sess.run(collections.OrderedDict([("z", z), ("y", y)]), feed)
    assert isinstance(od, collections.OrderedDict) and list(od) == ["z", "y"]
    assert sess.run([], feed) == [] and sess.run(z.op, feed) is None


def test_feed_keys_may_be_names_or_any_tensor():
    g, x, y, z = _graph()
    sess = ft.Session(graph=g)
    np.testing.assert_array_equal(sess.run(z, {"x:0": [[1.0, 1.0, 1.0]]}), [7.0])
    # feeding an inner tensor: what produces it does not run, x need not be fed
    np.testing.assert_array_equal(sess.run(z, {y: [10.0, 20.0]}), [11.0, 21.0])
    np.testing.assert_array_equal(sess.run(y, {y: [5.0]}), [5.0])
    # one output of a two-output node fed, the other computed: the feed wins
    with g.as_default():
        mean, var = ft.nn.moments(x, axes=[0])
    assert mean.op is var.op
    got_mean, got_var = sess.run([mean, var], {x: [[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]],
                                               mean: [9.0, 9.0, 9.0]})
    np.testing.assert_array_equal(got_mean, [9.0, 9.0, 9.0])
    np.testing.assert_array_equal(got_var, [1.0, 0.0, 1.0])


def test_missing_feed_names_the_placeholder_before_anything_runs():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, shape=(None, 3), name="x")
        v = ft.Variable(0.0)
        step = v.assign_add(1.0)
        y = x + step
    sess = ft.Session(graph=g)
    sess.run(v.initializer)
    with pytest.raises(InvalidArgumentError, match=r"placeholder tensor 'x:0'.*float32.*\(None, 3\)"
                       ) as info:
        sess.run(y)
    assert "built at" in str(info.value) and "ft.placeholder" in str(info.value)
    assert sess.run(v) == 0.0  # the assign before it did not run


def test_feed_of_the_wrong_shape_or_dtype_raises_before_anything_runs():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, shape=(None, 3), name="x")
        n = ft.placeholder(ft.int32, shape=(2,), name="n")
        v = ft.Variable(0.0)
        y = v.assign_add(1.0) + ft.reduce_sum(x) + ft.cast(ft.reduce_sum(n), ft.float32)
    sess = ft.Session(graph=g)
    sess.run(v.initializer)
    good_n = np.array([1, 2], np.int32)
    with pytest.raises(ValueError, match=r"shape \(2, 4\) for x:0, which has shape \(None, 3\)"):
        sess.run(y, {x: np.ones((2, 4)), n: good_n})
    with pytest.raises(ValueError, match=r"shape \(3,\) for n:0"):
        sess.run(y, {x: np.ones((1, 3)), n: [1, 2, 3]})
    with pytest.raises(ValueError, match=r"shape \(3,\) for x:0"):
        sess.run(y, {x: np.ones(3), n: good_n})
    with pytest.raises(TypeError, match=r"n:0 of dtype int32.*use ft.cast"):
        sess.run(y, {x: np.ones((1, 3)), n: np.array([1.5, 2.0])})
    with pytest.raises(TypeError, match=r"n:0 of dtype int32"):
        sess.run(y, {x: np.ones((1, 3)), n: [1.5, 2.0]})
    with pytest.raises(ValueError, match=r"out of the range"):
        sess.run(y, {x: np.ones((1, 3)), n: [2 ** 40, 1]})
    with pytest.raises(TypeError, match=r"requested dtype int32 for a tensor of dtype int64"):
        sess.run(y, {x: np.ones((1, 3)), n: ft.constant(np.array([1, 2], np.int64))})
    assert sess.run(v) == 0.0  # nothing ran
    # float64 data for a float32 placeholder is rounded (TensorFlow 1's np.asarray)
    assert sess.run(y, {x: np.full((1, 3), 0.1), n: good_n}) == np.float32(1 + 3 + 0.3)


def test_bad_fetches_and_feed_keys_raise():
    g, x, y, _ = _graph()
    g2, x2, y2, _ = _graph()
    sess = ft.Session(graph=g)
    with pytest.raises(ValueError, match="another graph"):
        sess.run(y2, {x2: np.ones((1, 3))})
    with pytest.raises(ValueError, match="another graph"):
        sess.run(y, {x2: np.ones((1, 3))})
    with pytest.raises(TypeError, match="cannot be interpreted"):
        sess.run(ft.constant(1.0))
    with pytest.raises(TypeError, match="cannot be interpreted"):
        sess.run(None)
    with pytest.raises(ValueError, match="nope"):
        sess.run("nope:0")
    with pytest.raises(TypeError, match="feed_dict key"):
        sess.run(y, {3: 1.0})
    with pytest.raises(TypeError, match="feed_dict must be a dict"):
        sess.run(y, [(x, 1.0)])
    with pytest.raises(TypeError, match="symbolic tensor"):
        sess.run(y, {x: y})
    with pytest.raises(TypeError, match="run_metadata"):
        sess.run(y, {x: np.ones((1, 3))}, run_metadata=object())
    with pytest.raises(ValueError, match="target"):
        ft.Session("grpc://localhost:2222", graph=g)


def test_only_the_subgraph_the_fetches_need_runs():
    g = ft.Graph()
    with g.as_default():
        m = ft.placeholder(ft.float64, shape=(2, 2), name="m")
        a = ft.constant(np.eye(2))
        bad = ft.linalg.inv(ft.zeros((2, 2), ft.float64))  # singular: raises if it runs
        good = a * 3.0
        both = bad + good
    calls = []
    inv = ft.linalg.inv.op if hasattr(ft.linalg.inv, "op") else bad.op.op_def
    fwd = inv.forward
    inv.forward = lambda *args: (calls.append(1), fwd(*args))[1]
    try:
        sess = ft.Session(graph=g)
        np.testing.assert_array_equal(sess.run(good), 3 * np.eye(2))
        assert calls == []  # neither inv nor the unfed placeholder m was needed
        with pytest.raises(InvalidArgumentError):
            sess.run(both)
        # needed, it ran: once folding constants when the plan was built
        # (it raised, so it stayed a step: Note [Executor]), once running
        assert calls == [1, 1]
    finally:
        inv.forward = fwd
    del m


def test_runtime_errors_name_the_op_and_the_line_that_built_it():
    g = ft.Graph()
    with g.as_default():
        m = ft.placeholder(ft.float64, shape=(2, 2), name="m")
        inv = ft.linalg.inv(m)  # the line the error must name
        x = ft.placeholder(ft.float32, shape=(None,), name="x")
        r = ft.reshape(x, [2, 3])
        e = ft.exp(x)
    sess = ft.Session(graph=g)
    with pytest.raises(InvalidArgumentError) as info:
        sess.run(inv, {m: np.zeros((2, 2))})
    msg = str(info.value)
    assert "inv (node 'MatrixInverse')" in msg and "ingular" in msg
    assert "built at" in msg and "test_session.py" in msg
    assert "inv = ft.linalg.inv(m)  # the line the error must name" in msg
    assert "called at" in msg and "sess.run(inv" in msg
    assert "input: shape=(2, 2) dtype=float64" in msg
    assert info.value.op is inv.op
    with pytest.raises(ValueError, match=r"reshape \(node 'Reshape'\): cannot reshape") as info:
        sess.run(r, {x: np.ones(5)})
    assert "r = ft.reshape(x, [2, 3])" in str(info.value)
    with g.as_default():
        idx = ft.placeholder(ft.int32, shape=(None,), name="idx")
        picked = ft.gather(ft.constant([1.0, 2.0, 3.0]), idx)
        sliced = ft.constant([1.0, 2.0, 3.0])[idx]
    for node, line in ((picked, "picked = ft.gather("), (sliced, "sliced = ft.constant(")):
        with pytest.raises(InvalidArgumentError, match=r"\[0, 3\).*got \[0, 7\]") as info:
            sess.run(node, {idx: [0, 7]})
        assert "built at" in str(info.value) and line in str(info.value)
    # an IndexError in a forward is an InvalidArgumentError
    op = e.op.op_def
    fwd = op.forward
    op.forward = lambda a: a[[7]]
    try:
        with pytest.raises(InvalidArgumentError, match=r"exp \(node 'Exp'\).*index 7") as info:
            sess.run(e, {x: np.ones(3)})
        assert "e = ft.exp(x)" in str(info.value)
    finally:
        op.forward = fwd


def test_random_ops_draw_fresh_numbers_on_every_run():
    g = ft.Graph()
    with g.as_default():
        r = ft.random.normal([4])
        u = ft.random.uniform([4], seed=3)
        both = [r, r * 1.0]
    sess = ft.Session(graph=g)
    a, b = sess.run(r), sess.run(r)
    assert not np.array_equal(a, b)
    # one run computes a node once: every consumer sees the same draw
    x, y = sess.run(both)
    np.testing.assert_array_equal(x, y)
    # an op-level seed gives the same numbers every run, as in eager mode
    np.testing.assert_array_equal(sess.run(u), ft.random.uniform([4], seed=3).numpy())
    np.testing.assert_array_equal(sess.run(u), sess.run(u))


def test_schedules_are_memoised_per_fetches_and_feeds():
    g, x, y, z = _graph()
    sess = ft.Session(graph=g)
    feed = {x: np.ones((1, 3))}
    sess.run(z, feed)
    sess.run(z, {x: np.zeros((4, 3))})
    assert len(sess._plans) == 1
    sess.run([y, z], feed)
    sess.run(z, {y: [1.0]})
    assert len(sess._plans) == 3


def test_results_never_alias_the_graph_or_the_feeds():
    g = ft.Graph()
    with g.as_default():
        c = ft.constant([1.0, 2.0])
        x = ft.placeholder(ft.float32, shape=(2,))
        t = ft.reshape(c, (2, 1))
    sess = ft.Session(graph=g)
    out = sess.run(c)
    out[0] = 100.0
    np.testing.assert_array_equal(sess.run(c), [1.0, 2.0])
    fed = np.array([3.0, 4.0], np.float32)
    got = sess.run(x, {x: fed})
    got[0] = 0.0
    assert fed[0] == 3.0
    y = x * 2.0
    a, b = sess.run([y, y], {x: fed})
    a[0] = -1.0
    assert b[0] == 6.0
    view = sess.run(t)
    view[0, 0] = 7.0
    np.testing.assert_array_equal(sess.run(c), [1.0, 2.0])


def test_session_context_manager_close_and_default_graph():
    g, x, y, _ = _graph()
    with ft.compat.v1.Session(graph=g) as sess:
        assert ft.get_default_graph() is g and not ft.executing_eagerly()
        assert sess.graph is g
        w = y * 2.0  # ops built inside go to the session's graph
        np.testing.assert_array_equal(sess.run(w, {x: np.ones((1, 3))}), [12.0])
    assert ft.executing_eagerly()
    with pytest.raises(RuntimeError, match="closed Session"):
        sess.run(y, {x: np.ones((1, 3))})
    with g.as_default():
        s2 = ft.Session()
    assert s2.graph is g
    s2.close()
    with pytest.raises(TypeError, match="ft.Graph"):
        ft.Session(graph="g")
    isess = ft.compat.v1.InteractiveSession(graph=g)
    np.testing.assert_array_equal(isess.run(y, {x: np.ones((1, 3))}), [6.0])
    isess.close()


def test_debug_checks_compare_outputs_with_static_shapes():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, shape=(None, 3))
        y = ft.exp(x)
    op = y.op.op_def
    fwd = op.forward
    sess = ft.Session(graph=g)
    sess._debug_checks = True
    op.forward = lambda *a: fwd(*a)[None]  # a forward that disagrees with its shape rule
    try:
        with pytest.raises(AssertionError, match=r"static shape is \(None, 3\)"):
            sess.run(y, {x: np.ones((2, 3))})
        sess._debug_checks = False
        assert sess.run(y, {x: np.ones((2, 3))}).shape == (1, 2, 3)  # no check on the hot path
    finally:
        op.forward = fwd


def test_tf1_program_in_graph_mode_end_to_end():
    """A TensorFlow 1 style program after disable_eager_execution (its own
    process: the mode is process-wide): placeholders, variables, a manual
    gradient step with assign_sub, a Session loop."""
    code = textwrap.dedent("""
        import numpy as np
        import fasttape as ft
        tf = ft.compat.v1
        tf.disable_eager_execution()
        x = tf.placeholder(tf.float32, shape=(None, 2), name="x")
        y = tf.placeholder(tf.float32, shape=(None, 1), name="y")
        w = tf.Variable(tf.zeros([2, 1]), name="w")
        b = tf.Variable(0.0, name="b")
        pred = tf.matmul(x, w) + b
        err = pred - y
        loss = tf.reduce_mean(err * err)
        n = tf.cast(tf.shape(x)[0], tf.float32)
        gw = tf.matmul(x, err, transpose_a=True) * 2.0 / n
        gb = tf.reduce_mean(err) * 2.0
        train = [w.assign_sub(0.1 * gw), b.assign_sub(0.1 * gb)]
        rng = np.random.default_rng(0)
        xs = rng.normal(size=(64, 2))
        ys = xs @ np.array([[2.0], [-3.0]]) + 0.5
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            first = sess.run(loss, {x: xs, y: ys})
            for _ in range(200):
                sess.run(train, {x: xs, y: ys})
            last, wv, bv = sess.run([loss, w, b], {x: xs, y: ys})
        assert last < 1e-4 < first, (first, last)
        np.testing.assert_allclose(wv.ravel(), [2.0, -3.0], atol=1e-2)
        np.testing.assert_allclose(bv, 0.5, atol=1e-2)
        assert [v.name for v in tf.global_variables()] == ["w:0", "b:0"]
        print("ok")
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_docstring_examples():
    import fasttape.session

    result = doctest.testmod(fasttape.session, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_eval_and_run_use_the_default_session():
    g, x, y, z = _graph()
    with g.as_default():
        v = ft.Variable(1.0)
        inc = v.assign_add(1.0, read_value=False)
    feed = {x: np.ones((1, 3))}
    assert ft.compat.v1.get_default_session() is None
    with pytest.raises(ValueError, match="no default Session"):
        y.eval(feed)
    with pytest.raises(ValueError, match="no default Session"):
        inc.run()
    with ft.Session(graph=g) as sess:
        assert ft.compat.v1.get_default_session() is sess
        v.initializer.run()
        np.testing.assert_array_equal(y.eval(feed), [6.0])
        np.testing.assert_array_equal(z.eval(feed_dict=feed), [7.0])
        assert inc.run() is None and v.eval() == 2.0
        other = ft.Session(graph=g)
        with other.as_default():
            assert ft.compat.v1.get_default_session() is other
            with pytest.raises(ft.errors.FailedPreconditionError):
                v.eval()
        assert ft.compat.v1.get_default_session() is sess
        assert v.eval(session=sess) == 2.0
    assert ft.compat.v1.get_default_session() is None
    g2, x2, y2, _ = _graph()
    with ft.Session(graph=g2):
        with pytest.raises(ValueError, match="another graph"):
            y.eval(feed)
    with pytest.raises(TypeError, match="ft.Session"):
        y.eval(feed, session="s")
    isess = ft.compat.v1.InteractiveSession(graph=g)
    assert ft.compat.v1.get_default_session() is isess
    np.testing.assert_array_equal(y.eval(feed), [6.0])
    isess.close()
    assert ft.compat.v1.get_default_session() is None
    assert ft.Variable(3.0).eval() == 3.0  # an eager variable: its value
