"""A tape never silently ignores a graph's tensor: watching one, or asking for
a gradient of or with respect to one, raises TypeError naming it."""

import pytest

import fasttape as ft


def _graph_tensors():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, shape=(None, 3), name="x")
        y = ft.reduce_sum(x * x)
    return g, x, y


@pytest.mark.parametrize("call", ["watch", "gradient_target", "gradient_source", "jacobian",
                                  "batch_jacobian"])
def test_tapes_refuse_graph_tensors(call):
    g, x, y = _graph_tensors()
    e = ft.constant([[1.0, 2.0, 3.0]])
    with ft.GradientTape(persistent=True) as tape:
        tape.watch(e)
        z = ft.reduce_sum(e * e)
    calls = {
        "watch": lambda: tape.watch(x),
        "gradient_target": lambda: tape.gradient(y, e),
        "gradient_source": lambda: tape.gradient(z, x),
        "jacobian": lambda: tape.jacobian(y, e),
        "batch_jacobian": lambda: tape.batch_jacobian(x, e),
    }
    with pytest.raises(TypeError, match="graph tensor"):
        calls[call]()


def test_tape_inside_a_graph_block_refuses_the_graphs_tensors():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, shape=(2,))
        with ft.GradientTape() as tape:
            with pytest.raises(TypeError, match="x|Placeholder"):
                tape.watch(x)
            y = x * 2.0
        with pytest.raises(TypeError, match="mul:0"):
            tape.gradient(y, x)
