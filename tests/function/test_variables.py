"""Variables made while tracing (Note [Variables while tracing] in
fasttape/function.py): made once, on the first trace, and reused by later
calls and traces; made on a later trace, an error naming the variable and
the line. Layers that build on their first call work inside ft.function."""

import numpy as np
import pytest

import fasttape as ft
from fasttape import layers
from fasttape._core import core as _core
from fasttape.function import init_scope

# (layer factory, input shape, input dtype): layers that make their weights
# on their first call
LAYERS = [
    (lambda: layers.Dense(3), (2, 4), np.float32),
    (lambda: layers.Dense(2, activation="relu", use_bias=False), (3, 5), np.float32),
    (lambda: layers.Conv2D(2, 3, padding="same"), (1, 5, 5, 2), np.float32),
    (lambda: layers.Conv1D(2, 2), (2, 6, 3), np.float32),
    (lambda: layers.LayerNormalization(), (2, 4), np.float32),
    (lambda: layers.BatchNormalization(), (4, 3), np.float32),
    (lambda: layers.Embedding(10, 3), (2, 4), np.int32),
]


@pytest.mark.parametrize("make, shape, dtype", LAYERS,
                         ids=[f"layer{i}" for i in range(len(LAYERS))])
def test_layers_build_on_the_first_trace(make, shape, dtype):
    model = make()
    f = ft.function(lambda x: model(x))
    rng = np.random.default_rng(0)
    x = ft.constant(rng.integers(0, 10, shape).astype(dtype) if dtype == np.int32
                    else rng.normal(size=shape).astype(dtype))
    traced = f(x).numpy()
    weights = list(model.weights)
    assert weights and all(not _core.is_symbolic(w) for w in weights), type(model).__name__
    np.testing.assert_allclose(traced, model(x).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(f(x).numpy(), traced, rtol=0, atol=0)
    # a second trace (another batch size) reuses the weights
    x2 = ft.constant(np.concatenate([x.numpy(), x.numpy()]))
    np.testing.assert_allclose(f(x2).numpy(), model(x2).numpy(), rtol=1e-6, atol=1e-6)
    assert f.tracing_count == 2
    assert [id(w) for w in model.weights] == [id(w) for w in weights]


def test_a_variable_made_on_the_first_trace_keeps_its_state():
    made = []

    @ft.function
    def count(x):
        v = ft.Variable(0.0, name="counter")
        made.append(v)
        v.assign_add(ft.reduce_sum(x))
        return v.read_value()

    x = ft.constant([1.0, 2.0])
    assert [float(count(x)) for _ in range(3)] == [3.0, 6.0, 9.0]
    assert len(made) == 1 and not _core.is_symbolic(made[0])
    assert float(made[0].numpy()) == 9.0


@pytest.mark.parametrize("initial", [
    lambda: [1.0, 2.0],                                  # Python data
    lambda: np.array([1.0, 2.0], np.float32),            # NumPy
    lambda: ft.constant([1.0, 2.0]),                     # a tensor of the trace (a Const)
    lambda: ft.ones([2]) * ft.constant([1.0, 2.0]),      # computed in the trace
    lambda: (lambda: ft.constant([1.0, 2.0])),           # a callable
], ids=["python", "numpy", "const", "computed", "callable"])
def test_initial_values_are_computed_once_eagerly(initial):
    @ft.function
    def f(x):
        w = ft.Variable(initial(), name="w")
        return x * w

    x = ft.constant([3.0, 4.0])
    np.testing.assert_array_equal(f(x).numpy(), [3.0, 8.0])
    np.testing.assert_array_equal(f(x).numpy(), [3.0, 8.0])
    types = f.get_concrete_function(x).plan.step_types
    assert types == ["ReadVariableOp", "multiply"], types


def test_a_random_initial_value_is_drawn_once():
    draws = []

    @ft.function
    def f(x):
        w = ft.Variable(ft.random.normal([3]), name="w")
        draws.append(w)
        return x + w

    x = ft.zeros([3])
    a, b = f(x).numpy(), f(x).numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, draws[0].numpy())
    assert "random_normal" not in f.get_concrete_function(x).plan.step_types


def test_a_variable_made_on_a_later_trace_raises_naming_it_and_the_line():
    @ft.function
    def f(x):
        return x * ft.Variable(ft.ones_like(x) if False else 2.0, name="late")

    f(ft.constant([1.0]))
    with pytest.raises(ValueError, match=r"the variable 'late' is created at .*test_variables"
                                         r"\.py:\d+: .*name=\"late\".*first trace only"):
        f(ft.constant([1.0, 2.0]))


def test_an_initial_value_that_reads_an_argument_raises_naming_it():
    @ft.function
    def f(x):
        return ft.Variable(x * 2.0, name="w") + 1.0

    with pytest.raises(ValueError, match=r"variable 'w' at .*test_variables\.py:\d+.* depends "
                                         r"on the function's argument 'x'"):
        f(ft.constant([1.0]))


def test_init_scope_runs_eagerly_inside_a_trace_and_stays_in_a_plain_graph():
    seen = []

    @ft.function
    def f(x):
        with init_scope():
            seen.append((ft.executing_eagerly(), _core.is_symbolic(ft.constant(1.0))))
        seen.append((ft.executing_eagerly(), None))
        return x

    f(ft.constant(1.0))
    assert seen == [(True, False), (False, None)]
    g = ft.Graph()
    with g.as_default(), init_scope():
        assert _core.is_symbolic(ft.constant(1.0))
