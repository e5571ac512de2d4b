"""A tape never silently ignores a graph's tensor: watching one, or asking for
a gradient of or with respect to one, raises TypeError naming it."""

import numpy as np
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


def test_tape_inside_a_graph_block_records_the_graph():
    # Note [Tapes in graphs]: a tape entered while a graph is built records it
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, shape=(2,))
        with ft.GradientTape() as tape:
            tape.watch(x)
            y = x * 2.0
        dx = tape.gradient(y, x)
    assert dx.graph is g
    np.testing.assert_array_equal(ft.Session(graph=g).run(dx, {x: [1.0, 3.0]}), [2.0, 2.0])


def test_a_graph_tape_is_not_reentered_eagerly_and_an_eager_tape_refuses_graph_tensors():
    g = ft.Graph()
    e = ft.constant([1.0, 2.0])
    with g.as_default():
        x = ft.placeholder(ft.float32, shape=(2,))
        with ft.GradientTape() as tape:
            with pytest.raises(TypeError, match="expected tensors or variables"):
                tape.watch([e, 1.0])
    with pytest.raises(RuntimeError, match="recorded a graph"):
        with tape:  # in eager mode now
            pass
    with ft.GradientTape() as eager_tape:
        with pytest.raises(TypeError, match="Placeholder.*entered in eager mode"):
            eager_tape.watch(x)
