"""Why is my gradient None? ft.debugging.explain_gradient and
tape.gradient(..., explain_unconnected=True) name the cause and the user's line."""

import warnings

import numpy as np

import fasttape as ft

HERE = __file__


def _explain(build, sources):
    with ft.GradientTape(persistent=True) as tape:
        y = build(tape)
    return ft.debugging.explain_gradient(tape, y, sources)


def test_never_watched():
    x, c = ft.constant([1.0]), ft.constant([2.0])
    (why,) = _explain(lambda t: (t.watch(x), x * c)[1], [c])
    assert "never watched" in why and "tape.watch" in why


def test_integer_dtype():
    i = ft.constant([1, 2])
    (why,) = _explain(lambda t: (t.watch(i), ft.cast(i, ft.float32) * 2.0)[1], [i])
    assert "int32" in why and "never get gradients" in why


def test_non_differentiable_op_named_with_its_line():
    x = ft.constant([1.0, 2.0])

    def build(t):
        t.watch(x)
        return ft.cast(ft.argmax(x), ft.float32)  # the culprit line

    (why,) = _explain(build, [x])
    assert "argmax" in why and "not differentiable" in why
    assert f"{HERE}:" in why and "the culprit line" in why


def test_left_through_numpy():
    x = ft.constant([1.0, 2.0])

    def build(t):
        t.watch(x)
        return ft.constant(x.numpy() * 2.0)

    (why,) = _explain(build, [x])
    assert ".numpy()" in why and "x.numpy() * 2.0" in why


def test_stop_gradient_and_stop_recording():
    x, w = ft.constant([1.0]), ft.Variable([2.0])

    def build(t):
        t.watch(x)
        with t.stop_recording():
            a = x * 3.0
        return a + ft.stop_gradient(w)

    why_x, why_w = _explain(build, [x, w])
    assert "stop_recording" in why_x
    assert "stop_gradient" in why_w


def test_untrainable_and_unwatched_variables():
    v = ft.Variable([1.0], trainable=False)
    w = ft.Variable([1.0])
    why_v, why_w = _explain(lambda t: v * 2.0, [v, w])
    assert "trainable=False" in why_v
    assert "never read" in why_w


def test_connected_source():
    x = ft.constant([1.0])
    (why,) = _explain(lambda t: (t.watch(x), x * 2.0)[1], [x])
    assert why == "connected"


def test_gradient_explain_unconnected_warns_on_a_non_persistent_tape():
    x, c = ft.constant([1.0]), ft.constant([1.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = ft.constant(x.numpy()) * c
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gx, gc = tape.gradient(y, [x, c], explain_unconnected=True)
    assert gx is None and gc is None
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert ".numpy()" in messages[0] and "never watched" in messages[1]


def test_gradient_without_the_flag_does_not_warn():
    x = ft.constant([1.0])
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = ft.constant(np.array([1.0], np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tape.gradient(y, x) is None


def test_ops_inside_a_sweep_are_not_logged():
    x = ft.constant([0.5, -1.0])
    with ft.GradientTape() as outer:
        outer.watch(x)
        with ft.GradientTape() as inner:
            inner.watch(x)
            y = ft.reduce_sum(ft.nn.relu(x))
        g = inner.gradient(y, x)  # relu's VJP compares (out > 0) on tensors
    assert not [e for e in outer._events if e[1] == "greater"]
    np.testing.assert_array_equal(g.numpy(), [1.0, 0.0])


def test_dead_end_log_is_bounded_on_a_persistent_tape():
    # Note [Dead ends]: a long loop on a persistent tape keeps the most recent
    # events only, and an event repeated in a loop is stored once.
    x = ft.constant([1.0, 2.0])
    with ft.GradientTape(persistent=True) as tape:
        tape.watch(x)
        for _ in range(3000):
            x > 0.0  # noqa: B015  (the same event each time)
        assert len(tape._events) == 1
        ys = []
        for i in range(10_000):
            y = x * float(i)
            ys.append(y)
            y > 0.0  # noqa: B015  (a new followed tensor each time)
        assert len(tape._events) <= 4096 and tape._events.dropped > 0
        last = ft.cast(ft.argmax(ys[-1]), ft.float32)  # the newest dead end
    why = ft.debugging.explain_gradient(tape, last, x)
    assert "argmax" in why and f"{HERE}:" in why and "the newest dead end" in why


def test_dead_end_names_the_user_line_through_wrappers():
    # ops called through fasttape's Python layer (ft.math.greater) and
    # operators (Cython, no Python frame) both report the caller's line
    x = ft.constant([1.0, 2.0])
    with ft.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ft.math.greater(x, 1.0)  # via the ops layer
        x < 1.0  # noqa: B015  (via the operator)
    sites = [(e[1], e[3]) for e in tape._events]
    assert [s[0] for s in sites] == ["greater", "less"]
    assert all(loc[0] == HERE for _, loc in sites)
    assert "via the ops layer" in sites[0][1][2] and "via the operator" in sites[1][1][2]
