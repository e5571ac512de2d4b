"""ft.function: tracing per input signature (Note [Trace signatures] in
fasttape/function.py), input_signature, concrete functions, methods,
variables, random ops, retracing warnings and memory."""

import collections
import gc
import warnings
import weakref

import numpy as np
import pytest

import fasttape as ft
from fasttape.function import ConcreteFunction, RetracingWarning


def test_python_side_effects_happen_only_while_tracing():
    trace = []

    @ft.function
    def f(x, y):
        trace.append(ft.executing_eagerly())
        return x * y + 1.0

    a, b = ft.constant([1.0, 2.0]), ft.constant([3.0, 4.0])
    for _ in range(3):
        np.testing.assert_array_equal(f(a, b).numpy(), [4.0, 9.0])
    assert trace == [False], "traced once, and not eagerly"
    assert f.tracing_count == f.experimental_get_tracing_count() == 1
    assert ft.executing_eagerly()


def test_a_new_dtype_or_shape_traces_again():
    count = []

    @ft.function
    def f(x):
        count.append(1)
        return x * 2

    f(ft.constant([1.0, 2.0]))
    f(ft.constant([3.0, 4.0]))
    assert len(count) == 1
    f(ft.constant([1.0, 2.0, 3.0]))        # shape
    f(ft.constant([1, 2]))                 # dtype
    f(ft.constant([[1.0, 2.0]]))           # rank
    assert len(count) == 4
    np.testing.assert_array_equal(f(ft.constant([5, 6])).numpy(), [10, 12])
    assert len(count) == 4


def test_python_arguments_trace_by_value_and_type():
    count = []

    @ft.function
    def f(x, n, scale=2.0):
        count.append((n, scale))
        return x * scale + n

    x = ft.constant([1.0, 2.0])
    np.testing.assert_array_equal(f(x, 1).numpy(), [3.0, 5.0])
    np.testing.assert_array_equal(f(x, 1, 2.0).numpy(), [3.0, 5.0])   # the default: same key
    np.testing.assert_array_equal(f(x, n=1).numpy(), [3.0, 5.0])
    assert len(count) == 1
    np.testing.assert_array_equal(f(x, 2).numpy(), [4.0, 6.0])
    np.testing.assert_array_equal(f(x, 1, scale=3.0).numpy(), [4.0, 7.0])
    assert len(count) == 3
    f(x, 1.0)   # a float is not the int 1
    assert len(count) == 4


def test_numpy_arrays_are_tensor_arguments():
    count = []

    @ft.function
    def f(x):
        count.append(1)
        return x + 1.0

    np.testing.assert_array_equal(f(np.array([1.0, 2.0])).numpy(), [2.0, 3.0])
    np.testing.assert_array_equal(f(np.array([5.0, 6.0])).numpy(), [6.0, 7.0])
    assert len(count) == 1


def test_nested_structures_in_and_out():
    count = []
    Pair = collections.namedtuple("Pair", "a b")

    @ft.function
    def f(inputs, pair, flag=True):
        count.append(1)
        s = inputs["x"] + inputs["ys"][0] * inputs["ys"][1]
        return {"sum": s, "pair": Pair(pair.a * 2.0, pair.b), "flag": flag, "none": None}

    x = ft.constant([1.0, 2.0])
    inputs = {"x": x, "ys": [ft.constant([2.0, 2.0]), ft.constant([3.0, 1.0])]}
    out = f(inputs, Pair(x, 7))
    np.testing.assert_array_equal(out["sum"].numpy(), [7.0, 4.0])
    assert isinstance(out["pair"], Pair) and out["pair"].b == 7
    np.testing.assert_array_equal(out["pair"].a.numpy(), [2.0, 4.0])
    assert out["flag"] is True and out["none"] is None
    f(inputs, Pair(ft.constant([5.0, 5.0]), 7))
    assert len(count) == 1
    f(inputs, Pair(x, 8))                       # a Python leaf changed
    f({"x": x, "ys": [x, x, x]}, Pair(x, 7))    # the structure changed
    assert len(count) == 3


def test_input_signature_with_unknown_dims_traces_once():
    count = []

    @ft.function(input_signature=[ft.TensorSpec([None, 2], ft.float32)])
    def f(x):
        count.append(x.shape)
        return ft.reduce_sum(x * x, axis=1)

    for n in (1, 3, 5):
        x = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
        np.testing.assert_array_equal(f(ft.constant(x)).numpy(), (x * x).sum(axis=1))
    np.testing.assert_array_equal(f([[1.0, 2.0]]).numpy(), [5.0])   # converted to float32
    assert len(count) == 1 and count[0] == (None, 2)
    with pytest.raises(ValueError, match=r"argument x has shape \(3,\)"):
        f(ft.constant([1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match=r"argument x has dtype float64"):
        f(ft.constant(np.ones((2, 2))))
    with pytest.raises(TypeError, match="takes 1 argument"):
        f(ft.constant(np.ones((2, 2), np.float32)), 1)
    assert len(count) == 1


def test_input_signature_nested():
    @ft.function(input_signature=[{"a": ft.TensorSpec([None], ft.float32),
                                   "b": ft.TensorSpec([], ft.float32)}])
    def f(d):
        return d["a"] * d["b"]

    out = f({"a": ft.constant([1.0, 2.0]), "b": ft.constant(3.0)})
    np.testing.assert_array_equal(out.numpy(), [3.0, 6.0])
    with pytest.raises(ValueError, match=r"argument d\['b'\] has shape \(1,\)"):
        f({"a": ft.constant([1.0]), "b": ft.constant([3.0])})
    with pytest.raises(TypeError, match="must be a dict"):
        f([ft.constant([1.0])])
    assert f.tracing_count == 1


def test_input_signature_must_be_specs():
    with pytest.raises(TypeError, match="input_signature must be a list or tuple"):
        ft.function(lambda x: x, input_signature=[np.float32])


def test_tensor_spec():
    s = ft.TensorSpec([None, 3], ft.float32, name="x")
    assert s.shape == ft.TensorShape([None, 3]) and s.dtype == np.float32 and s.name == "x"
    assert s == ft.TensorSpec((None, 3), "float32", name="x")
    assert s != ft.TensorSpec((None, 3), ft.float32)
    assert s != ft.TensorSpec((None, 3), ft.float64, name="x")
    assert len({s, ft.TensorSpec((None, 3), "float32", name="x")}) == 1
    t = ft.constant(np.zeros((2, 3), np.float32))
    assert ft.TensorSpec.from_tensor(t) == ft.TensorSpec((2, 3), ft.float32)
    assert s.is_compatible_with(t) and not s.is_compatible_with(ft.constant([1.0]))
    assert repr(ft.TensorSpec([2], ft.int32)) == "TensorSpec(shape=(2,), dtype=int32, name=None)"
    with pytest.raises(TypeError):
        ft.TensorSpec([1.5])


def test_get_concrete_function():
    @ft.function
    def f(x, y):
        return {"s": x + y, "d": x - y}

    spec = ft.TensorSpec([None], ft.float32)
    cf = f.get_concrete_function(spec, spec)
    assert isinstance(cf, ConcreteFunction)
    assert [p.op.type for p in cf.inputs] == ["Placeholder", "Placeholder"]
    assert all(p.shape == ft.TensorShape([None]) for p in cf.inputs)
    assert len(cf.outputs) == 2 and all(o.graph is cf.graph for o in cf.outputs)
    assert set(cf.structured_outputs) == {"s", "d"}
    out = cf(ft.constant([1.0, 2.0, 3.0]), ft.constant([1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(out["s"].numpy(), [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(out["d"].numpy(), [0.0, 1.0, 2.0])
    assert f.get_concrete_function(spec, spec) is cf
    x = ft.constant([1.0])
    cf2 = f.get_concrete_function(x, x)
    assert cf2 is not cf and cf2.inputs[0].shape == ft.TensorShape([1])
    with pytest.raises(ValueError, match="argument x has shape"):
        cf2(ft.constant([1.0, 2.0]), ft.constant([1.0, 2.0]))
    with pytest.raises(TypeError, match="missing a required argument: .y."):
        cf2(x)

    @ft.function
    def g(x, n):
        return x * n

    cf3 = g.get_concrete_function(x, 2)
    np.testing.assert_array_equal(cf3(x, 2).numpy(), [2.0])
    np.testing.assert_array_equal(cf3(x).numpy(), [2.0])   # the tensors alone, flat
    with pytest.raises(TypeError, match="Python values differ from its trace's"):
        cf3(x, 3)


def test_method_decoration_traces_per_instance():
    traces = []

    class Model:
        def __init__(self, scale):
            self.w = ft.Variable([scale, scale])

        @ft.function
        def __call__(self, x):
            traces.append(self)
            return x * self.w

    m1, m2 = Model(2.0), Model(3.0)
    x = ft.constant([1.0, 2.0])
    np.testing.assert_array_equal(m1(x).numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(m2(x).numpy(), [3.0, 6.0])
    np.testing.assert_array_equal(m1(x).numpy(), [2.0, 4.0])
    assert traces == [m1, m2]
    assert Model.__call__.python_function.__name__ == "__call__"
    assert m1.__call__ is m1.__call__   # one Function per instance
    r = weakref.ref(m1)
    del m1, traces[:]
    gc.collect()
    assert r() is None, "the traced method keeps its instance alive"


def test_variables_are_read_at_each_call():
    v = ft.Variable([1.0, 2.0])

    @ft.function
    def f(x):
        return x + v

    x = ft.constant([10.0, 10.0])
    np.testing.assert_array_equal(f(x).numpy(), [11.0, 12.0])
    v.assign([5.0, 6.0])
    np.testing.assert_array_equal(f(x).numpy(), [15.0, 16.0])
    v.assign_add([1.0, 1.0])
    np.testing.assert_array_equal(f(x).numpy(), [16.0, 17.0])
    assert f.tracing_count == 1
    types = f.get_concrete_function(x).plan.step_types
    assert types.count("ReadVariableOp") == 1


def test_a_variable_returned_is_a_snapshot():
    v = ft.Variable([1.0, 2.0])
    f = ft.function(lambda: ft.identity(v))
    out = f()
    v.assign([3.0, 4.0])
    np.testing.assert_array_equal(out.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(f().numpy(), [3.0, 4.0])


def test_random_ops_draw_fresh_numbers_each_call():
    @ft.function
    def f(x):
        return x + ft.random.normal([4]), ft.random.uniform([4], seed=3)

    x = ft.constant(np.zeros(4, np.float32))
    (a, s1), (b, s2) = f(x), f(x)
    assert not np.array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(s1.numpy(), s2.numpy())   # an op-level seed repeats
    plan = f.get_concrete_function(x).plan
    assert plan.stats["folded"] == 0
    # two draws of the same op are two nodes (never merged by CSE)
    g = ft.function(lambda: ft.random.normal([3]) - ft.random.normal([3]))
    assert np.all(g().numpy() != 0.0)
    assert g.get_concrete_function().plan.stats["cse"] == 0


def test_dead_random_draws_still_run():
    """Stateful nodes are kept even when no result needs them (program order)."""
    f = ft.function(lambda x: (ft.random.normal([2]), x * 2.0)[1])
    x = ft.constant([1.0])
    f(x)
    assert "normal" in f.get_concrete_function(x).plan.step_types


def test_retracing_on_a_python_float_warns_once_naming_the_argument():
    @ft.function
    def step(x, lr):
        return x * lr

    x = ft.constant([1.0])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for i in range(12):
            step(x, 0.1 * (i + 1))
    got = [str(m.message) for m in w if issubclass(m.category, RetracingWarning)]
    assert len(got) == 1, got
    assert [m.filename for m in w if issubclass(m.category, RetracingWarning)] == [__file__]
    assert "'lr'" in got[0] and "as a tensor" in got[0] and "step" in got[0]
    assert step.tracing_count == 12
    # a tensor learning rate traces once
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step2 = ft.function(step.python_function)
        for i in range(12):
            step2(x, ft.constant(0.1 * (i + 1)))
    assert step2.tracing_count == 1


def test_traced_graphs_are_freed_with_the_function():
    @ft.function
    def f(x):
        return ft.sin(x) * 2.0

    f(ft.constant([1.0]))
    f(ft.constant([1.0, 2.0]))
    graphs = [weakref.ref(cf.graph) for cf in f._cache.values()]
    assert len(graphs) == 2
    del f
    gc.collect()
    assert all(g() is None for g in graphs)


def test_gradient_tape_inside_raises_clearly():
    @ft.function
    def f(x):
        with ft.GradientTape() as tape:
            tape.watch(x)
            y = x * x
        return tape.gradient(y, x)

    with pytest.raises(TypeError, match="graph tensor"):
        f(ft.constant([1.0]))
    v = ft.Variable([2.0])

    @ft.function
    def g(x):
        with ft.GradientTape() as tape:
            y = ft.reduce_sum(x * v)
        return tape.gradient(y, [v])

    with pytest.raises(TypeError, match="the target Sum:0 is a graph tensor"):
        g(ft.constant([1.0]))


def test_calling_under_a_tape_that_needs_the_gradient_raises():
    f = ft.function(lambda x: x * x)
    x = ft.constant([3.0])
    f(x)
    with ft.GradientTape() as tape:
        tape.watch(x)
        with pytest.raises(NotImplementedError, match="gradients through an ft.function"):
            f(x)
    v = ft.Variable([1.0])
    g = ft.function(lambda x: x * v)
    g(x)
    with ft.GradientTape():
        with pytest.raises(NotImplementedError, match="reads trainable variables"):
            g(x)
    with ft.GradientTape() as tape:   # a tape that follows nothing of it: fine
        np.testing.assert_array_equal(f(x).numpy(), [9.0])


def test_called_while_building_a_graph_builds_into_it():
    f = ft.function(lambda x: x + 1.0)
    g = ft.Graph()
    with g.as_default():
        p = ft.placeholder(ft.float32, [2])
        y = f(p)
    assert y.graph is g and y.op.type == "add"


def test_graph_tensor_arguments_raise_outside_graphs():
    with ft.Graph().as_default():
        p = ft.placeholder(ft.float32, [2])
    f = ft.function(lambda x: x + 1.0)
    with pytest.raises(TypeError, match="graph tensor"):
        f(p)


def test_runtime_errors_name_the_op_and_the_build_line():
    @ft.function
    def f(params, i):
        return ft.gather(params, i) * 2.0  # the build line

    p = ft.constant([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(f(p, ft.constant([2])).numpy(), [6.0])
    with pytest.raises(ft.errors.InvalidArgumentError) as e:
        f(p, ft.constant([7]))
    msg = str(e.value)
    assert msg.startswith("gather: ")
    assert "node 'GatherV2' was built at" in msg and "test_function.py" in msg
    assert "ft.gather(params, i) * 2.0  # the build line" in msg
    assert "called at" in msg and "f(p, ft.constant([7]))" in msg


def test_positional_fast_path_checks_dtype_and_shape():
    f = ft.function(lambda x, y: x - y)
    a, b = ft.constant([1.0, 2.0]), ft.constant([0.5, 0.5])
    f(a, b)
    np.testing.assert_array_equal(f(b, a).numpy(), [-0.5, -1.5])
    np.testing.assert_array_equal(f(ft.constant([1, 2]), ft.constant([1, 1])).numpy(), [0, 1])
    np.testing.assert_array_equal(f(ft.constant(1.0), ft.constant(2.0)).numpy(), -1.0)
    assert f.tracing_count == 3


def test_decorator_forms():
    @ft.function()
    def f(x):
        return x * 3

    @ft.function(input_signature=(ft.TensorSpec([], ft.int32),))
    def g(x):
        return x * 3

    assert int(f(ft.constant(2))) == 6 and int(g(ft.constant(2))) == 6
    assert ft.function(f).python_function is f.python_function
    with pytest.raises(TypeError, match="expects a callable"):
        ft.function(3)


def test_lists_of_tensors_take_the_fast_path_with_their_structure_checked():
    @ft.function
    def f(a, bs):
        return a * 10.0 + ft.add_n(list(bs)) if len(bs) else a

    a, b, c = ft.constant([1.0]), ft.constant([2.0]), ft.constant([3.0])
    np.testing.assert_array_equal(f(a, [b, c]).numpy(), [15.0])
    plan = f.get_concrete_function(a, [b, c]).plan
    assert f.fast_plan is plan
    calls = plan.calls
    np.testing.assert_array_equal(f(b, [c, a]).numpy(), [24.0])
    assert plan.calls == calls + 1 and f.tracing_count == 1
    # the same number of tensors in another structure is another trace
    np.testing.assert_array_equal(f(a, (b, c)).numpy(), [15.0])
    np.testing.assert_array_equal(f(a, [b]).numpy(), [12.0])
    np.testing.assert_array_equal(f(a, [b, c, a]).numpy(), [16.0])
    np.testing.assert_array_equal(f(a, []).numpy(), [1.0])
    assert f.tracing_count == 5
    np.testing.assert_array_equal(f(c, [b, c]).numpy(), [35.0])
    assert f.tracing_count == 5


def test_calls_from_threads():
    """A plan's slots are per call: threads calling one traced function get
    their own results (and the trace happens once, under the lock)."""
    import threading

    count = []

    @ft.function
    def f(x):
        count.append(1)
        y = x
        for _ in range(5):
            y = ft.sin(y) * 1.01 + 0.1
        return y

    def ref(v):
        for _ in range(5):
            v = np.sin(v) * 1.01 + 0.1
        return v

    errors = []

    def worker(seed):
        x0 = np.random.default_rng(seed).uniform(-1, 1, 300)
        x = ft.constant(x0)
        want = ref(x0)
        for _ in range(200):
            if not np.array_equal(f(x).numpy(), want):
                errors.append(seed)
                return

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(count) == 1


@pytest.mark.parametrize("arg", ["reduce_retracing", "experimental_relax_shapes"])
def test_reduce_retracing_relaxes_the_dims_that_change(arg):
    shapes = []

    @ft.function(**{arg: True})
    def f(x, n):
        shapes.append(tuple(x.shape))
        return ft.reduce_sum(x, axis=-1) * n

    for rows in (1, 2, 3, 7):
        x = np.arange(4.0 * rows).reshape(rows, 4)
        np.testing.assert_array_equal(f(ft.constant(x), 2).numpy(), x.sum(axis=-1) * 2)
    assert shapes == [(1, 4), (None, 4)]
    f(ft.constant(np.ones((2, 5))), 2)          # another dim changes: relaxed again
    f(ft.constant(np.ones((3, 6))), 2)
    assert shapes == [(1, 4), (None, 4), (None, None)]
    f(ft.constant(np.ones((2, 5))), 3)          # another Python value: its own traces
    assert shapes[-1] == (2, 5)
    f(ft.constant(np.ones(5)), 2)               # another rank: exact
    assert shapes[-1] == (5,)
