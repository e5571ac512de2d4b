"""ft.profiler and ft.debugging.enable_check_numerics (Note [Instrumented ops]),
and pdb on eager code."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fasttape as ft
from fasttape._core.core import registered_ops
from fasttape.errors import InvalidArgumentError


def _snapshot():
    return [(op, op.forward, list(op.vjp_functions)) for op in registered_ops()]


def _assert_restored(snapshot):
    for op, fwd, vjps in snapshot:
        assert op.forward is fwd, op.name
        assert all(a is b for a, b in zip(op.vjp_functions, vjps)), op.name


def _train_step(w, x):
    with ft.GradientTape() as tape:
        h = ft.tanh(ft.matmul(x, w)) + 1.0  # add: an identity VJP (a marker, not wrapped)
        loss = ft.reduce_sum(h * h - ft.sigmoid(h))
    return loss, tape.gradient(loss, w)


# --- profiler --------------------------------------------------------------------------

def test_profile_counts_forward_and_backward_and_restores_the_table():
    before = _snapshot()
    w = ft.Variable(np.ones((3, 2), np.float32))
    x = ft.constant(np.arange(6, dtype=np.float32).reshape(2, 3))
    with ft.profiler.profile() as prof:
        for _ in range(3):
            _train_step(w, x)
    _assert_restored(before)
    rows = {(name, phase): count for name, phase, count, _, _ in prof.table()}
    for op in ("matmul", "tanh", "multiply", "reduce_sum"):
        assert rows[(op, "forward")] == 3, (op, rows)
    for op in ("matmul", "tanh"):
        assert rows[(f"{op} (gradient)", "backward")] >= 3, (op, rows)
    text = str(prof)
    assert "matmul" in text and "backward" in text and "op calls" in text
    n = len(prof.events)
    _train_step(w, x)  # off: nothing recorded
    assert len(prof.events) == n


def test_by_line_attributes_time_to_the_users_lines():
    x = ft.constant(np.ones(1000, np.float32))
    with ft.profiler.profile() as prof:
        for _ in range(5):
            y = ft.exp(x)  # the exp line
            ft.reduce_sum(y)  # the sum line
    lines = {src: count for f, ln, src, ms, count in prof.by_line() if f == __file__}
    assert lines["y = ft.exp(x)  # the exp line"] == 5
    assert lines["ft.reduce_sum(y)  # the sum line"] == 5
    assert all(ms >= 0 for *_, ms, _ in prof.by_line())


def test_traced_functions_are_profiled_in_the_executor():
    @ft.function
    def f(a):
        return ft.sin(a) * 2.0 + 1.0

    x = ft.constant(np.ones(4, np.float32))
    with ft.profiler.profile() as prof:
        f(x)  # traced and compiled while profiling
        f(x)
    names = [e[0] for e in prof.events]
    assert names.count("sin") >= 2, names
    with ft.profiler.profile() as later:  # traced before this block: profiled too
        f(x)
    assert [e[0] for e in later.events].count("sin") == 1
    f(x)  # after the blocks the Plan calls the op table's own functions again
    plan = f.get_concrete_function(x)._plan
    steps = []
    plan.rebind(lambda node, fn: steps.append(fn) or fn)
    assert not any(hasattr(fn, "__wrapped__") for fn in steps)


def test_chrome_trace_is_valid_trace_event_format(tmp_path):
    w = ft.Variable(np.ones((3, 2), np.float32))
    x = ft.constant(np.ones((2, 3), np.float32))
    with ft.profiler.profile() as prof:
        _train_step(w, x)
    path = prof.export_chrome_trace(str(tmp_path / "trace.json"))
    with open(path) as f:
        trace = json.load(f)
    assert set(trace) == {"traceEvents", "displayTimeUnit"}
    events = trace["traceEvents"]
    assert len(events) == len(prof.events) > 0
    for ev in events:
        assert ev["ph"] == "X" and isinstance(ev["name"], str) and ev["cat"] in (
            "forward", "backward")
        assert isinstance(ev["ts"], (int, float)) and ev["ts"] >= 0
        assert isinstance(ev["dur"], (int, float)) and ev["dur"] >= 0
        assert isinstance(ev["pid"], int) and isinstance(ev["tid"], int)
        assert json.dumps(ev.get("args", {}))
    # complete events nest: a backward op run inside a VJP lies within it
    spans = [(ev["ts"], ev["ts"] + ev["dur"]) for ev in events]
    assert all(a <= b for a, b in spans)


# --- check_numerics ------------------------------------------------------------------------

CASES = [  # (name, computation, op, phase text)
    ("log_negative", lambda x: ft.math.log(x - 5.0), "log", "forward pass"),
    ("divide_by_zero", lambda x: ft.divide(x, x * 0.0), "divide", "forward pass"),
    ("exp_overflow", lambda x: ft.exp(x * 1000.0), "exp", "forward pass"),
    ("sqrt_gradient_at_zero", lambda x: ft.sqrt(x * 0.0), "gradient of sqrt", "backward sweep"),
]


@pytest.mark.parametrize("name,fn,op,phase", CASES, ids=[c[0] for c in CASES])
def test_check_numerics_names_op_pass_inputs_and_line(name, fn, op, phase):
    before = _snapshot()
    x = ft.Variable(np.array([1.0, 2.0], np.float32))
    ft.debugging.enable_check_numerics()
    try:
        with pytest.raises(InvalidArgumentError) as e:
            with ft.GradientTape() as tape:
                y = fn(x)
            tape.gradient(y, x)
    finally:
        ft.debugging.disable_check_numerics()
    _assert_restored(before)
    msg = str(e.value)
    assert msg.startswith(op) and phase in msg and "check_numerics" in msg, msg
    assert "shape=(2,)" in msg and "float32" in msg, msg
    assert __file__ in msg, msg
    # off again: the same computation runs (NaN/Inf and all)
    with np.errstate(all="ignore"):
        with ft.GradientTape() as tape:
            y = fn(x)
        tape.gradient(y, x)


def test_check_numerics_inside_traced_functions():
    ft.debugging.enable_check_numerics()
    try:
        @ft.function
        def f(a):
            return ft.math.log(a)

        f(ft.constant([1.0]))
        with pytest.raises(InvalidArgumentError, match="log.*NaN"):
            f(ft.constant([-1.0]))
    finally:
        ft.debugging.disable_check_numerics()


def test_check_numerics_in_functions_traced_before_it_was_enabled():
    @ft.function
    def f(a):
        return ft.math.log(a)

    with np.errstate(invalid="ignore"):
        f(ft.constant([-1.0]))  # traced, NaN unchecked
    ft.debugging.enable_check_numerics()
    try:
        with pytest.raises(InvalidArgumentError, match="log.*NaN"):
            f(ft.constant([-1.0]))
    finally:
        ft.debugging.disable_check_numerics()
    with np.errstate(invalid="ignore"):
        assert np.isnan(f(ft.constant([-1.0])).numpy()).all()


def test_check_numerics_op_and_nested_enable():
    ft.debugging.enable_check_numerics()
    ft.debugging.enable_check_numerics()  # twice: one instrument
    ft.debugging.disable_check_numerics()
    ft.debugging.disable_check_numerics()
    t = ft.constant([1.0, np.inf])
    with pytest.raises(InvalidArgumentError, match="my message"):
        ft.debugging.check_numerics(t, "my message")
    assert ft.debugging.check_numerics(ft.constant([1.0]), "ok") is not None


def test_profile_and_check_numerics_together():
    before = _snapshot()
    with ft.profiler.profile() as prof:
        ft.debugging.enable_check_numerics()
        ft.exp(ft.constant([1.0]))
        ft.debugging.disable_check_numerics()
        ft.exp(ft.constant([1.0]))
    _assert_restored(before)
    assert [e[0] for e in prof.events].count("exp") == 2


# --- pdb -------------------------------------------------------------------------------------

def test_breakpoint_in_eager_code_shows_values(tmp_path):
    script = tmp_path / "debug_me.py"
    script.write_text(textwrap.dedent("""
        import fasttape as ft
        x = ft.constant([1.5, 2.5])
        y = ft.square(x)
        breakpoint()
        print("done", float(ft.reduce_sum(y)))
    """))
    env = dict(os.environ, PYTHONPATH=os.getcwd(), PYTHONBREAKPOINT="pdb.set_trace")
    out = subprocess.run([sys.executable, str(script)], input="p y\np y.numpy().sum()\nc\n",
                         capture_output=True, text=True, env=env, timeout=120).stdout
    assert "2.25" in out and "6.25" in out, out  # the values, not a placeholder
    assert "8.5" in out and "done 8.5" in out, out
