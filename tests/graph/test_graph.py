"""ft.Graph as a TensorFlow 1 user builds one (SPEC §4, building): default
graphs, node names, name scopes, lookups by name, Operation attributes,
captured eager values, tensors of several graphs, build-time errors, threads
and memory. See fasttape/graph.py."""

import gc
import sys
import threading
import weakref

import numpy as np
import pytest

import fasttape as ft
from fasttape import graph as graph_module
from fasttape._core import core


def _names(g):
    return [op.name for op in g.get_operations()]


# --- default graphs and the mode ---------------------------------------------------------


def test_as_default_yields_the_graph_and_switches_the_mode():
    g = ft.Graph()
    assert ft.executing_eagerly()
    with g.as_default() as entered:
        assert entered is g
        assert ft.get_default_graph() is g
        assert not ft.executing_eagerly()
    assert ft.executing_eagerly()
    assert ft.get_default_graph() is not g


def test_nested_and_reentered_graphs_restore_the_outer_one():
    g1, g2 = ft.Graph(), ft.Graph()
    with g1.as_default():
        with g2.as_default():
            assert ft.get_default_graph() is g2
            with g1.as_default():  # re-entered while entered
                assert ft.get_default_graph() is g1
                x = ft.placeholder(ft.float32)
            assert ft.get_default_graph() is g2
            y = ft.placeholder(ft.float32)
        assert ft.get_default_graph() is g1
        assert not ft.executing_eagerly()
    assert ft.executing_eagerly()
    assert x.graph is g1 and y.graph is g2
    with g1.as_default():  # entered again later: the same nodes, new names go on
        z = ft.placeholder(ft.float32)
    assert _names(g1) == ["Placeholder", "Placeholder_1"] and z.graph is g1


@pytest.mark.parametrize("exc", [ValueError, KeyboardInterrupt, GeneratorExit])
def test_an_exception_inside_the_block_restores_the_mode(exc):
    g = ft.Graph()
    outer = ft.get_default_graph()
    with pytest.raises(exc):
        with g.as_default():
            with ft.Graph().as_default():
                raise exc("inside")
    assert ft.executing_eagerly()
    assert ft.get_default_graph() is outer
    np.testing.assert_array_equal((ft.constant([1.0]) + 1.0).numpy(), [2.0])


def test_an_error_at_build_time_restores_the_mode():
    g = ft.Graph()
    with pytest.raises(ValueError, match="add"):
        with g.as_default():
            ft.placeholder(ft.float32, (2,)) + ft.placeholder(ft.float32, (3,))
    assert ft.executing_eagerly()


def test_the_global_default_graph_outside_any_block():
    g = ft.get_default_graph()
    assert isinstance(g, ft.Graph)
    assert ft.get_default_graph() is g  # one global graph
    assert ft.compat.v1.get_default_graph() is g
    n = len(g.get_operations())
    ft.constant([1.0, 2.0]) * 3.0  # eager ops add nothing to it
    ft.reduce_sum(ft.ones((2, 2)))
    assert len(g.get_operations()) == n


def test_reset_default_graph():
    before = ft.get_default_graph()
    ft.reset_default_graph()
    after = ft.get_default_graph()
    assert after is not before and after.get_operations() == []
    assert ft.compat.v1.reset_default_graph is ft.reset_default_graph
    with ft.Graph().as_default():
        with pytest.raises(AssertionError, match="reset_default_graph"):
            ft.reset_default_graph()
    assert ft.get_default_graph() is after


def test_placeholder_is_graph_only():
    with pytest.raises(RuntimeError, match="not compatible with eager execution"):
        ft.placeholder(ft.float32, (None, 3))
    assert ft.compat.v1.placeholder is ft.placeholder


# --- placeholders ------------------------------------------------------------------------


@pytest.mark.parametrize("shape,expected", [
    (None, None), ((), []), ((None, 3), [None, 3]), ([2, 3], [2, 3]), (5, [5]),
    (ft.TensorShape([None, 4]), [None, 4]), (np.array([2, 3]), [2, 3]),
    ((np.int64(2), None), [2, None]),
])
def test_placeholder_shapes(shape, expected):
    g = ft.Graph()
    with g.as_default():
        p = ft.placeholder(ft.float32, shape=shape)
    assert (p.shape.as_list() if expected is not None else p.shape.rank) == expected
    assert p.op.type == "Placeholder" and p.op.inputs == []
    assert p.op.get_attr("dtype") == ft.float32


@pytest.mark.parametrize("dtype", ["float32", np.float64, ft.int32, "bool", np.dtype("int64")])
def test_placeholder_dtypes(dtype):
    with ft.Graph().as_default():
        assert ft.placeholder(dtype).dtype == np.dtype(dtype)


@pytest.mark.parametrize("kwargs,cls,match", [
    ({"shape": (-1, 3)}, ValueError, "placeholder.*>= 0"),
    ({"shape": "ab"}, TypeError, "placeholder: shape"),
    ({"shape": (2.5,)}, TypeError, "placeholder.*int or None"),
    ({"shape": (True,)}, TypeError, "placeholder.*int or None"),
    ({"dtype": "nonsense"}, TypeError, "placeholder: dtype"),
    ({"name": 3}, TypeError, "name must be a str"),
    ({"name": "a b"}, ValueError, "not a valid node name"),
    ({"name": "_x"}, ValueError, "not a valid node name"),
])
def test_placeholder_bad_arguments(kwargs, cls, match):
    args = {"dtype": ft.float32, **kwargs}
    g = ft.Graph()
    with g.as_default(), pytest.raises(cls, match=match):
        ft.placeholder(**args)
    assert g.get_operations() == []


# --- node names --------------------------------------------------------------------------


def test_node_names_as_tensorflow_makes_them():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 3), name="x")
        a = x + 1.0
        b = x + a
        c = x * 2.0
        d = 2.0 * x
        m = ft.matmul(x, np.ones((3, 2), np.float32))
        s = ft.reduce_sum(m, axis=1)
        k = ft.constant(1.0)
        k1 = ft.constant(2.0)
    assert [t.name for t in (a, b, c, d, m, s, k, k1)] == [
        "add:0", "add_1:0", "mul:0", "mul_1:0", "MatMul:0", "Sum:0", "Const:0", "Const_1:0"]
    assert _names(g) == ["x", "add/y", "add", "add_1", "mul/y", "mul", "mul_1/x", "mul_1",
                         "MatMul/b", "MatMul", "Sum", "Const", "Const_1"]


def test_unique_names_skip_names_taken_before():
    g = ft.Graph()
    with g.as_default():
        ft.placeholder(ft.float32, name="add_1")  # taken before any "add"
        x = ft.placeholder(ft.float32, name="x")
        names = [(x + x).name for _ in range(4)]
    assert names == ["add:0", "add_2:0", "add_3:0", "add_4:0"]
    assert len(set(_names(g))) == len(_names(g))


def test_unique_names_are_case_insensitive_and_keep_the_case():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, name="Add")
        y = x + x  # "add" clashes with "Add"
        z = ft.placeholder(ft.float32, name="ADD")
    assert (x.name, y.name, z.name) == ("Add:0", "add_1:0", "ADD_2:0")


def test_user_names_are_made_unique_too():
    g = ft.Graph()
    with g.as_default():
        names = [ft.placeholder(ft.float32, name="input").name for _ in range(3)]
        names.append(ft.constant(1.0, name="input").name)
    assert names == ["input:0", "input_1:0", "input_2:0", "input_3:0"]


def test_unique_name_without_marking():
    g = ft.Graph()
    assert g.unique_name("foo", mark_as_used=False) == "foo"
    assert g.unique_name("foo", mark_as_used=False) == "foo"
    assert g.unique_name("foo") == "foo"
    assert g.unique_name("foo", mark_as_used=False) == "foo_1"
    assert g.unique_name("foo") == "foo_1"


# --- name scopes -------------------------------------------------------------------------


def test_name_scopes_nest_and_are_made_unique():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, name="x")
        with ft.name_scope("layer") as scope:
            assert scope == "layer/" and g.get_name_scope() == "layer"
            a = x + 1.0
            with ft.name_scope("inner") as inner:
                assert inner == "layer/inner/"
                b = x * x
                p = ft.placeholder(ft.float32, name="p")
        with ft.name_scope("layer") as again:  # a second "layer": layer_1
            c = x + 1.0
        assert g.get_name_scope() == ""
    assert again == "layer_1/"
    assert (a.name, b.name, p.name, c.name) == (
        "layer/add:0", "layer/inner/mul:0", "layer/inner/p:0", "layer_1/add:0")
    assert "layer/add/y" in _names(g)  # a captured constant is named under its node


def test_name_scope_reentered_by_its_full_name():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, name="x")
        with ft.name_scope("block") as scope:
            a = x + 1.0
        with ft.name_scope("other"):
            with ft.name_scope(scope) as same:  # "block/": the same scope, from anywhere
                b = x + 1.0
    assert same == "block/"
    assert (a.name, b.name) == ("block/add:0", "block/add_1:0")


@pytest.mark.parametrize("top", [None, ""])
def test_name_scope_none_or_empty_goes_to_the_top(top):
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, name="x")
        with ft.name_scope("a"):
            with ft.name_scope(top) as scope:
                y = x + 1.0
                assert g.get_name_scope() == ""
            z = x + 1.0
    assert scope == ""
    assert (y.name, z.name) == ("add:0", "a/add:0")


def test_name_scope_with_slashes_and_default_name():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, name="x")
        with ft.name_scope("a/b") as s1:
            y = x + 1.0
        with ft.name_scope(None, default_name="dflt") as s2:
            z = x + 1.0
    assert (s1, y.name) == ("a/b/", "a/b/add:0")
    assert (s2, z.name) == ("dflt/", "dflt/add:0")


def test_name_scopes_and_node_names_share_one_namespace():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, name="x")
        y = x + 1.0  # "add"
        with ft.name_scope("add") as scope:  # TensorFlow too: add_1
            pass
    assert y.name == "add:0" and scope == "add_1/"


@pytest.mark.parametrize("name,cls", [(3, TypeError), ("a b", ValueError),
                                      ("x:0", ValueError)])
def test_name_scope_bad_names(name, cls):
    with ft.Graph().as_default(), pytest.raises(cls, match="name_scope"):
        with ft.name_scope(name):
            pass
    with pytest.raises(cls, match="name_scope"):  # checked in eager mode too
        with ft.name_scope(name):
            pass


def test_name_scope_in_eager_mode_only_yields_its_name():
    with ft.name_scope("layer") as scope:
        y = ft.constant([1.0]) + 1.0
    assert scope == "layer/" and not core.is_symbolic(y)


def test_name_scopes_belong_to_their_graph_and_thread():
    g1, g2 = ft.Graph(), ft.Graph()
    with g1.as_default():
        with ft.name_scope("s1"):
            with g2.as_default():
                y = ft.placeholder(ft.float32, name="p")  # g2 has no scope open
            seen = {}

            def other_thread():
                with g1.as_default():
                    seen["scope"] = g1.get_name_scope()
                    seen["name"] = ft.placeholder(ft.float32, name="p").name

            th = threading.Thread(target=other_thread)
            th.start()
            th.join()
    assert y.name == "p:0"
    assert seen == {"scope": "", "name": "p:0"}


def test_graph_name_scope_method():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, name="x")
        with g.name_scope("m") as scope:
            y = x + 1.0
    assert scope == "m/" and y.name == "m/add:0"


def test_name_scope_values_name_the_graph_of_symbolic_tensors():
    """TensorFlow 1's `name_scope(name, values=[...])` outside the block."""
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, name="x")
    with ft.name_scope("outside", values=[x]) as scope:
        y = x + 1.0
    assert scope == "outside/" and y.name == "outside/add:0"


# --- looking nodes and tensors up --------------------------------------------------------


@pytest.fixture
def built():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 3), name="x")
        y = x + 1.0
        sign, logdet = ft.linalg.slogdet(ft.placeholder(ft.float32, (2, 2), name="m"))
    return g, x, y, logdet


def test_get_operations_in_order_and_a_copy(built):
    g, x, y, _ = built
    ops = g.get_operations()
    assert [op.name for op in ops] == ["x", "add/y", "add", "m", "LogMatrixDeterminant"]
    ops.clear()
    assert len(g.get_operations()) == 5


def test_get_tensor_and_operation_by_name(built):
    g, x, y, logdet = built
    assert g.get_tensor_by_name("add:0") is y
    assert g.get_tensor_by_name("x:0") is x
    assert g.get_tensor_by_name("LogMatrixDeterminant:1") is logdet
    assert g.get_operation_by_name("add") is y.op
    assert g.as_graph_element("add:0") is y
    assert g.as_graph_element("add") is y.op
    assert g.as_graph_element(y) is y and g.as_graph_element(y.op) is y.op


@pytest.mark.parametrize("name,cls,match", [
    ("add", ValueError, "refers to an Operation, not a Tensor"),
    ("nope", ValueError, "looks like an \\(invalid\\) Operation name"),
    ("add:1", KeyError, "has 1 output"),
    ("nope:0", KeyError, "'nope' is not in the graph"),
    ("add:x", ValueError, "not a valid one"),
    ("add:-1", ValueError, "not a valid one"),
    (":0", ValueError, "not a valid one"),
    (3, TypeError, "tensor names are str"),
    (None, TypeError, "tensor names are str"),
])
def test_get_tensor_by_name_bad_names(built, name, cls, match):
    g = built[0]
    with pytest.raises(cls, match=match):
        g.get_tensor_by_name(name)


@pytest.mark.parametrize("name,cls,match", [
    ("add:0", ValueError, "refers to a Tensor, not an Operation"),
    ("nope", KeyError, "not in the graph"),
    (b"add", TypeError, "operation names are str"),
])
def test_get_operation_by_name_bad_names(built, name, cls, match):
    g = built[0]
    with pytest.raises(cls, match=match):
        g.get_operation_by_name(name)


def test_as_graph_element_errors(built):
    g, x, y, _ = built
    other = ft.Graph()
    with pytest.raises(ValueError, match="not an element of this graph"):
        other.as_graph_element(y)
    with pytest.raises(ValueError, match="not an element of this graph"):
        other.as_graph_element(y.op)
    with pytest.raises(TypeError, match="int"):
        g.as_graph_element(3)
    with pytest.raises(TypeError, match="eager"):
        g.as_graph_element(ft.constant(1.0))
    with pytest.raises(TypeError):
        g.as_graph_element(y.op, allow_operation=False)
    with pytest.raises(ValueError):
        g.as_graph_element("add", allow_operation=False)


# --- Operation ---------------------------------------------------------------------------


def test_operation_attributes():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 3), name="x")
        s = ft.reduce_sum(x, axis=1, keepdims=True)
    op = s.op
    assert isinstance(op, ft.Operation) and ft.compat.v1.Operation is ft.Operation
    assert op.name == "Sum" and op.type == "reduce_sum" and op.graph is g
    assert op.inputs == [x] and op.outputs == [s] and op.values() == (s,)
    assert op.control_inputs == []
    assert op.get_attr("axis") == (1,) and op.get_attr("keepdims") is True
    with pytest.raises(ValueError, match="no attribute 'T'"):
        op.get_attr("T")
    assert repr(op) == "<ft.Operation 'Sum' type=reduce_sum>"
    assert op.traceback is not None and op.traceback[0] == __file__
    assert x.op.get_attr("shape") == ft.TensorShape([None, 3])
    assert x.op.get_attr("dtype") == ft.float32


def test_operation_lists_are_copies():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, name="x")
        y = x + x
    y.op.inputs.append(1)
    y.op.outputs.clear()
    assert y.op.inputs == [x, x] and y.op.outputs == [y]


# --- values that are not graph tensors ----------------------------------------------------


def test_python_and_numpy_operands_become_const_nodes():
    g = ft.Graph()
    arr = np.arange(3, dtype=np.float32)
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 3), name="x")
        y = x * 2.0
        z = x + arr
        w = ft.matmul(x, [[1.0], [2.0], [3.0]])
    c = y.op.inputs[1]
    assert c.name == "mul/y:0" and c.op.type == "Const" and c.dtype == ft.float32
    assert c.op.get_attr("value") == 2.0 and c.shape.as_list() == []
    assert z.op.inputs[1].op.name == "add/y"
    np.testing.assert_array_equal(z.op.inputs[1].op.get_attr("value"), arr)
    assert w.op.inputs[1].op.name == "MatMul/b" and w.op.inputs[1].shape.as_list() == [3, 1]


def test_an_eager_tensor_becomes_a_const_node_holding_its_value():
    e = ft.constant([1.0, 2.0, 3.0])
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 3), name="x")
        y = x - e
    c = y.op.inputs[1]
    assert core.is_symbolic(c) and c.op.type == "Const" and c.op.name == "sub/y"
    np.testing.assert_array_equal(c.op.get_attr("value"), [1.0, 2.0, 3.0])
    assert not core.is_symbolic(e)  # the eager tensor is untouched


def test_ft_constant_in_a_graph_is_a_const_node():
    g = ft.Graph()
    with g.as_default():
        c = ft.constant([[1, 2]], name="k")
        d = ft.constant(0.5, shape=(2, 2))
    assert core.is_symbolic(c) and c.op.type == "Const" and c.name == "k:0"
    assert c.dtype == ft.int32 and c.shape.as_list() == [1, 2]
    assert d.shape.as_list() == [2, 2] and d.op.name == "Const"
    np.testing.assert_array_equal(d.op.get_attr("value"), np.full((2, 2), 0.5, np.float32))
    with g.as_default(), pytest.raises(TypeError, match="symbolic"):
        ft.constant(c)


def test_a_variable_becomes_a_read_node_holding_the_variable():
    v = ft.Variable([1.0, 2.0, 3.0], name="v")
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 3), name="x")
        y = x * v
    r = y.op.inputs[1]
    assert r.op.type == "ReadVariableOp" and r.op.name == "ReadVariableOp"
    assert r.op.get_attr("variable") is v  # read when the graph runs, not now
    assert r.shape.as_list() == [3] and r.dtype == ft.float32
    v.assign([4.0, 5.0, 6.0])  # the graph sees later values through the variable
    np.testing.assert_array_equal(r.op.get_attr("variable").numpy(), [4.0, 5.0, 6.0])


# --- several graphs ----------------------------------------------------------------------


def test_tensors_of_two_graphs_in_one_op_raise_at_build():
    g1, g2 = ft.Graph(), ft.Graph()
    with g1.as_default():
        a = ft.placeholder(ft.float32, (3,), name="a")
    with g2.as_default():
        b = ft.placeholder(ft.float32, (3,), name="b")
        with pytest.raises(ValueError, match="same graph"):
            a + 1.0  # a tensor of g1 while g2 is the default
        with pytest.raises(ValueError, match="two graphs"):
            ft.add(a, b)
        with pytest.raises(ValueError, match="two graphs"):
            ft.concat([a, b], axis=0)
    with pytest.raises(ValueError, match="two graphs"):
        a * b  # outside any block too
    assert _names(g1) == ["a"] and _names(g2) == ["b"]


def test_symbolic_tensor_outside_its_block_stages_into_its_graph():
    """TensorFlow 1's rule: see Note [Graph tensors and eager tensors] in graph.py."""
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 3), name="x")
    y = x * 2.0
    z = ft.reduce_mean(ft.exp(y), axis=0)
    assert ft.executing_eagerly()
    assert y.graph is g and z.graph is g and z.shape.as_list() == [3]
    assert _names(g) == ["x", "mul/y", "mul", "Exp", "Mean"]
    w = x + ft.constant([1.0, 2.0, 3.0])  # an eager operand: a Const node of g
    assert w.op.inputs[1].op.type == "Const" and w.graph is g
    # eager code around it still runs eagerly
    e = ft.constant([1.0]) * 2.0
    assert not core.is_symbolic(e) and e.numpy()[0] == 2.0
    assert len(g.get_operations()) == 7


# --- finalize ----------------------------------------------------------------------------


def test_finalize_makes_the_graph_read_only():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (3,), name="x")
    g.finalize()
    assert g.finalized
    with g.as_default():
        with pytest.raises(RuntimeError, match="finalized.*'add'"):
            x + 1.0
        with pytest.raises(RuntimeError, match="finalized"):
            ft.placeholder(ft.float32)
        with pytest.raises(RuntimeError, match="finalized"):
            ft.constant(1.0)
    with pytest.raises(RuntimeError, match="finalized"):
        x * 2.0
    assert _names(g) == ["x"]
    assert g.get_tensor_by_name("x:0") is x  # reading still works


# --- build-time errors -------------------------------------------------------------------


def _line_of(marker):
    src = open(__file__).read().splitlines()
    return next(i + 1 for i, line in enumerate(src) if marker in line and "_line_of" not in line)


@pytest.mark.parametrize("build,cls,parts", [
    (lambda x, i: x + ft.placeholder(ft.float32, (None, 4)), ValueError,
     ["add", "(None, 3)", "(None, 4)", "broadcast"]),
    (lambda x, i: ft.matmul(x, ft.placeholder(ft.float32, (4, None))), ValueError,
     ["matmul", "(None, 3)", "(4, None)", "inner dims"]),
    (lambda x, i: x + i, TypeError, ["add", "float32", "int32"]),
    (lambda x, i: ft.sin(i), TypeError, ["sin", "int32", "floating-point"]),
    (lambda x, i: ft.reduce_sum(x, axis=2), ValueError, ["reduce_sum", "axis 2", "rank 2"]),
    (lambda x, i: ft.concat([x, ft.placeholder(ft.float32, (None, 2, 1))], 0), ValueError,
     ["concat", "(None, 3)", "(None, 2, 1)"]),
    (lambda x, i: ft.reshape(ft.placeholder(ft.float32, (2, 3)), (4, 5)), ValueError,
     ["reshape", "(2, 3)"]),
])
def test_build_errors_name_the_op_shapes_dtypes_and_line(build, cls, parts):
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 3), name="x")
        i = ft.placeholder(ft.int32, (None, 3), name="i")
        n = len(g.get_operations())
        with pytest.raises(cls) as info:
            build(x, i)  # the-user-line
    msg = str(info.value)
    for part in parts:
        assert part in msg, (part, msg)
    assert f"called at {__file__}:" in msg, msg
    lines = {_line_of("the-user-line")} | {
        i for i, line in enumerate(open(__file__).read().splitlines(), 1) if "lambda x, i" in line}
    called = int(msg.split(f"called at {__file__}:")[1].split(":")[0])
    assert called in lines, msg
    # nothing half-built: no node for the failed op (a Const for a Python operand may remain)
    assert all(op.type in ("Placeholder", "Const") for op in g.get_operations()[n:])




def test_build_error_names_the_users_line_outside_the_block():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 3), name="x")
    with pytest.raises(ValueError) as info:
        x + ft.ones((2,))  # outside-line
    assert f"called at {__file__}:{_line_of('# outside-line')}" in str(info.value)


def test_unknown_rank_inputs_give_unknown_shapes_but_dtype_errors_at_build():
    """See Note [Unknown rank] in graph.py."""
    g = ft.Graph()
    with g.as_default():
        u = ft.placeholder(ft.float32, name="u")
        # (an axis argument on an unknown rank is not supported by the ops' argument
        # checks yet: normalize_axis needs the rank)
        for y in (ft.reduce_sum(u), ft.sin(u), u + 1.0, ft.matmul(u, u), ft.reshape(u, (-1,))):
            assert y.dtype == ft.float32 and y.graph is g
            assert y.shape.rank is None or y.shape.rank >= 0
        k = ft.placeholder(ft.int32, name="k")
        with pytest.raises(TypeError, match=r"(?s)add.*shape=<unknown rank> dtype=float32.*int32"):
            u + k
        with pytest.raises(TypeError, match="sin.*int32"):
            ft.sin(k)
        # through the table's rules (OpDef.apply), not the fast paths' checks
        with pytest.raises(TypeError, match=r"(?s)matmul.*float32.*int32"):
            ft.matmul(u, k)
        with pytest.raises(TypeError,
                           match=r"(?s)reduce_logsumexp.*floating.*shape=<unknown rank>"):
            ft.reduce_logsumexp(k)
        # a known input still checks shapes
        with pytest.raises(ValueError, match="matmul"):
            ft.matmul(ft.placeholder(ft.float32, (2, 3)), ft.placeholder(ft.float32, (4, 2)))


# --- threads -----------------------------------------------------------------------------


def _in_thread(fn):
    out = {}

    def target():
        try:
            out["result"] = fn()
        except BaseException as e:  # noqa: BLE001  (re-raised in the caller)
            out["error"] = e

    th = threading.Thread(target=target)
    th.start()
    th.join(timeout=60)
    assert not th.is_alive()
    if "error" in out:
        raise out["error"]
    return out.get("result")


def test_the_mode_is_per_thread():
    g = ft.Graph()
    entered, release = threading.Event(), threading.Event()

    def holder():
        with g.as_default():
            entered.set()
            release.wait(30)

    th = threading.Thread(target=holder)
    th.start()
    try:
        assert entered.wait(30)
        # another thread's block does not make this thread stage
        assert ft.executing_eagerly() and ft.get_default_graph() is not g
        y = ft.constant([1.0]) + 1.0
        assert not core.is_symbolic(y)
        # nor does this thread's block make another thread stage
        with g.as_default():
            other = _in_thread(lambda: (ft.executing_eagerly(), ft.constant(2.0) * 2.0,
                                        ft.get_default_graph() is g))
            assert not ft.executing_eagerly()
    finally:
        release.set()
        th.join()
    assert other[0] is True and not core.is_symbolic(other[1]) and other[2] is False
    assert g.get_operations() == []


def test_the_global_graph_is_shared_by_threads_and_stacks_are_not():
    g = ft.Graph()
    with g.as_default():
        there = _in_thread(ft.get_default_graph)
    assert there is ft.get_default_graph() and there is not g


def test_concurrent_building_into_one_graph_loses_nothing():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 3), name="x")
    n_threads, n_iter = 4, 150
    barrier = threading.Barrier(n_threads)
    results = [None] * n_threads
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible

    def build(k):
        barrier.wait()
        out = []
        with g.as_default():
            for _ in range(n_iter):
                out.append(ft.reduce_sum(x * 2.0 + 1.0, axis=1))
                with ft.name_scope("s"):
                    out.append(ft.placeholder(ft.float32))
        results[k] = out

    try:
        threads = [threading.Thread(target=build, args=(k,)) for k in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
    finally:
        sys.setswitchinterval(old)
    names = _names(g)
    # each iteration: mul/y, mul, add/y, add, Sum, s_k/Placeholder
    assert len(names) == 1 + n_threads * n_iter * 6
    assert len(set(names)) == len(names)
    assert len({n.lower() for n in names}) == len(names)
    for out in results:
        for t in out:
            assert g.get_tensor_by_name(t.name) is t


# --- memory ------------------------------------------------------------------------------


def _build_and_drop():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 3), name="x")
        with ft.name_scope("layer"):
            y = ft.reduce_sum(ft.tanh(x * 2.0) + ft.constant(np.ones(3, np.float32)))
    return weakref.ref(g), weakref.ref(x), weakref.ref(y), weakref.ref(y.op)


def test_a_dropped_graph_is_freed():
    refs = _build_and_drop()
    gc.collect()
    assert all(r() is None for r in refs)


def test_a_graph_that_raised_while_building_is_freed():
    def build():
        g = ft.Graph()
        try:
            with g.as_default():
                ft.placeholder(ft.float32, (2,)) + ft.placeholder(ft.float32, (3,))
        except ValueError as e:
            assert "add" in str(e)
        return weakref.ref(g)

    r = build()
    gc.collect()
    assert r() is None


def test_building_keeps_no_graph_alive_through_module_state():
    before = dict(vars(graph_module))
    r = _build_and_drop()[0]
    gc.collect()
    assert r() is None
    assert set(vars(graph_module)) == set(before)
    assert graph_module._default_stack() == []
    assert getattr(graph_module._thread, "op_name", None) is None


def test_captured_eager_values_are_released_with_the_graph():
    e = ft.constant(np.ones(1000, np.float32))
    value = weakref.ref(core.tensor_value(e))

    def build(e):
        g = ft.Graph()
        with g.as_default():
            y = ft.placeholder(ft.float32, (None, 1000)) + e
        return g, y

    g, y = build(e)
    del e
    gc.collect()
    assert value() is not None  # the Const node holds the value while the graph lives
    del g, y
    gc.collect()
    assert value() is None


def test_a_variable_is_not_kept_alive_by_a_dropped_graph():
    v = ft.Variable(np.ones(3, np.float32))
    rv = weakref.ref(v)

    def build(v):
        g = ft.Graph()
        with g.as_default():
            ft.placeholder(ft.float32, (3,)) * v

    build(v)
    del v
    gc.collect()
    assert rv() is None
