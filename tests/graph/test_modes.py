"""The mode rules of SPEC §4: eager at import; ft.enable_eager_execution() a
no-op when on and a ValueError once the default graph has nodes;
ft.disable_eager_execution() switches the process to graph mode only before
any eager tensor exists (Note [Eager use] in fasttape/_core/_tensor.pxi).
The process-wide rules are tested in fresh interpreters."""

import os
import subprocess
import sys
import textwrap

import pytest

import fasttape as ft

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(ft.__file__)))  # this fasttape


def _run(code):
    """Runs `code` in a fresh interpreter on this fasttape; fails with its output."""
    env = dict(os.environ, PYTHONPATH=_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


# --- in this process: the mode of a thread ---------------------------------------------


def test_eager_at_import_and_in_graph_blocks():
    assert ft.executing_eagerly()
    with ft.Graph().as_default():
        assert not ft.executing_eagerly()
        with ft.Graph().as_default():
            assert not ft.executing_eagerly()
        assert not ft.executing_eagerly()
    assert ft.executing_eagerly()
    assert ft.compat.v1.disable_eager_execution is ft.disable_eager_execution
    assert ft.compat.v1.enable_eager_execution is ft.enable_eager_execution


def test_placeholder_in_eager_mode_raises_runtime_error():
    with pytest.raises(RuntimeError, match="eager execution"):
        ft.placeholder(ft.float32)
    with pytest.raises(RuntimeError, match="eager execution"):
        ft.compat.v1.placeholder(ft.float32, shape=(None, 3))


def test_disable_after_eager_use_raises_and_keeps_eager_mode():
    ft.constant(1.0)  # this test process has used eager execution
    with pytest.raises(ValueError, match="already been used.*program start"):
        ft.disable_eager_execution()
    assert ft.executing_eagerly()


# --- fresh interpreters: the process's mode ----------------------------------------------


def test_import_is_no_eager_use_and_disable_switches_to_graph_mode():
    _run("""
        import fasttape as ft
        from fasttape._core import core
        assert ft.executing_eagerly()
        ft.disable_eager_execution()
        assert not ft.executing_eagerly()
        ft.disable_eager_execution()  # again: a no-op
        assert not ft.executing_eagerly()
    """)


def test_fasttapes_own_import_time_tensors_do_not_count():
    _run("""
        import fasttape as ft
        from fasttape._core import core
        ft.disable_eager_execution()
        # ids are taken in order: the first tensor made now shows how many the
        # import made; they were made, and they did not count as eager use
        with ft.Graph().as_default():
            pass
        import numpy as np
        v = core.wrap_array(np.zeros(1))  # made now, in graph mode: no eager use either
        assert core.tensor_id(v) > 2, "fasttape's import made no tensor: update this test"
    """)


@pytest.mark.parametrize("use,why", [
    ("ft.constant(1.0)", "eager tensors or variables were created"),
    ("ft.Variable([1.0, 2.0])", "eager tensors or variables were created"),
    ("ft.sin(np.ones(3))", "eager tensors or variables were created"),
    ("ft.zeros((2, 2))", "eager tensors or variables were created"),
    ("ft.convert_to_tensor([1, 2])", "eager tensors or variables were created"),
    ("ft.enable_eager_execution()", "ft.enable_eager_execution\\(\\) was called"),
])
def test_disable_after_eager_use_raises_saying_so(use, why):
    _run(f"""
        import re
        import numpy as np
        import fasttape as ft
        {use}
        try:
            ft.disable_eager_execution()
        except ValueError as e:
            msg = str(e)
        else:
            raise AssertionError("disable_eager_execution did not raise")
        assert "disable_eager_execution" in msg and "program start" in msg, msg
        assert re.search({why!r}, msg), msg
        assert ft.executing_eagerly()
        ft.constant(1.0) + 1.0  # still eager
    """)


def test_building_graphs_is_no_eager_use():
    """Graph building makes eager tensors internally (a Python operand
    converted before it becomes a Const, ft.constant's value, an operand of
    an op on a symbolic tensor outside its block): none counts."""
    _run("""
        import numpy as np
        import fasttape as ft
        g = ft.Graph()
        with g.as_default():
            x = ft.placeholder(ft.float32, (None, 3), name="x")
            y = ft.reduce_sum(x * 2.0 + np.ones(3, np.float32), axis=1)
            c = ft.constant([1.0, 2.0, 3.0])
            z = -(x - c)
            with ft.name_scope("s"):
                w = ft.sin(x) / 3
        u = x * 4.0 + 1.5  # outside the block: staged into g
        assert u.graph is g
        ft.disable_eager_execution()
        assert not ft.executing_eagerly()
    """)


def test_global_graph_mode_builds_into_the_default_graph():
    _run("""
        import threading
        import numpy as np
        import fasttape as ft
        from fasttape._core import core
        ft.disable_eager_execution()
        g = ft.get_default_graph()
        x = ft.placeholder(ft.float32, shape=(None, 3), name="x")
        y = x * 2.0
        c = ft.constant([1.0, 2.0, 3.0])
        s = ft.reduce_sum(y + c, axis=1)
        assert core.is_symbolic(c) and c.op.type == "Const"
        assert all(t.graph is g for t in (x, y, c, s))
        assert [op.name for op in g.get_operations()] == [
            "x", "mul/y", "mul", "Const", "add", "Sum"], g.get_operations()
        assert s.shape.as_list() == [None]
        # a graph block inside graph mode still builds into its graph
        g2 = ft.Graph()
        with g2.as_default():
            assert ft.get_default_graph() is g2 and not ft.executing_eagerly()
            p = ft.placeholder(ft.float32)
        assert p.graph is g2 and ft.get_default_graph() is g
        # the mode is the process's: another thread builds too
        out = {}
        th = threading.Thread(target=lambda: out.update(
            eager=ft.executing_eagerly(), t=ft.constant(1.0), g=ft.get_default_graph()))
        th.start(); th.join()
        assert out["eager"] is False and core.is_symbolic(out["t"]) and out["g"] is g
        # a symbolic tensor of another graph is refused at build
        try:
            p + 1.0
        except ValueError as e:
            assert "same graph" in str(e), e
        else:
            raise AssertionError("a tensor of another graph was accepted")
        # reset: a new, empty global graph; old tensors belong to the old one
        ft.reset_default_graph()
        assert ft.get_default_graph() is not g and ft.get_default_graph().get_operations() == []
        try:
            x + 1.0
        except ValueError as e:
            assert "same graph" in str(e), e
        else:
            raise AssertionError("a tensor of the old default graph was accepted")
    """)


def test_enable_eager_execution_rules():
    _run("""
        import fasttape as ft
        ft.enable_eager_execution()  # at program start: a no-op
        ft.enable_eager_execution()
        assert ft.executing_eagerly()
        ft.constant(1.0) * 2.0
    """)
    _run("""
        import fasttape as ft
        from fasttape._core import core
        ft.disable_eager_execution()
        x = ft.placeholder(ft.float32)
        y = x + 1.0
        try:
            ft.enable_eager_execution()
        except ValueError as e:
            assert "already built in the default graph" in str(e) and "3 nodes" in str(e), e
        else:
            raise AssertionError("enable_eager_execution did not raise")
        assert not ft.executing_eagerly()
        # with an empty default graph it is accepted and switches back
        ft.reset_default_graph()
        ft.enable_eager_execution()
        assert ft.executing_eagerly()
        assert not core.is_symbolic(ft.constant(1.0))
        try:
            ft.placeholder(ft.float32)
        except RuntimeError:
            pass
        else:
            raise AssertionError("placeholder worked in eager mode")
        try:  # and eager execution may not be disabled any more
            ft.disable_eager_execution()
        except ValueError as e:
            assert "enable_eager_execution() was called" in str(e), e
        else:
            raise AssertionError("disable_eager_execution did not raise")
    """)


def test_enable_after_building_in_the_global_graph_raises():
    _run("""
        import fasttape as ft
        with ft.get_default_graph().as_default():  # the global graph, entered explicitly
            ft.placeholder(ft.float32)
        try:
            ft.enable_eager_execution()
        except ValueError as e:
            assert "(1 node)" in str(e), e
        else:
            raise AssertionError("enable_eager_execution did not raise")
        assert ft.executing_eagerly()  # the process's mode is unchanged
    """)
