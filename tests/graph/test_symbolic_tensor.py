"""Symbolic tensors (SPEC §4): a graph's tensor has a name, a node, a static
shape and dtype, and no value. Every reader of a value raises a TypeError
that says why; the test enumerates ft.Tensor's methods and properties, so a
new value-reading method of Tensor fails here until it is classified (and,
if it reads the value, made to raise on a symbolic tensor)."""

import copy
import math
import operator
import pickle

import numpy as np
import pytest

import fasttape as ft


@pytest.fixture
def g():
    return ft.Graph()


def _build(g, shape=(None, 3), dtype=ft.float32):
    with g.as_default():
        x = ft.placeholder(dtype, shape=shape, name="x")
        y = x + 1.0
    return x, y


# --- what a symbolic tensor knows ------------------------------------------------------


def test_repr_and_str_as_tensorflow_prints_them(g):
    _, y = _build(g)
    assert repr(y) == "<ft.Tensor 'add:0' shape=(None, 3) dtype=float32>"
    assert str(y) == 'Tensor("add:0", shape=(None, 3), dtype=float32)'
    assert f"{y}" == str(y)  # an empty format spec is str(), as for eager tensors
    with g.as_default():
        u = ft.placeholder(ft.int32, name="u")
        s = ft.placeholder(ft.float64, shape=(), name="s")
    assert repr(u) == "<ft.Tensor 'u:0' shape=<unknown> dtype=int32>"
    assert str(u) == 'Tensor("u:0", shape=<unknown>, dtype=int32)'
    assert repr(s) == "<ft.Tensor 's:0' shape=() dtype=float64>"


def test_attributes(g):
    x, y = _build(g)
    assert isinstance(y, ft.Tensor) and isinstance(x, ft.Tensor)
    assert y.name == "add:0" and x.name == "x:0"
    assert isinstance(y.op, ft.Operation) and y.op.name == "add"
    assert y.op.outputs == [y] and y.value_index == 0
    assert y.graph is g and x.graph is g
    assert y.shape == ft.TensorShape([None, 3]) and isinstance(y.shape, ft.TensorShape)
    assert y.shape.as_list() == [None, 3]
    assert y.get_shape() == y.shape
    assert y.dtype == ft.float32 and y.ndim == 2
    assert y.size is None  # unknown number of elements
    with g.as_default():
        u = ft.placeholder(ft.float32)
        k = ft.placeholder(ft.float32, (2, 3))
    assert u.ndim is None and u.shape.rank is None
    assert k.size == 6


def test_multi_output_op_names_its_outputs(g):
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 4, 4))
        sign, logdet = ft.linalg.slogdet(x)
    assert (sign.name, logdet.name) == ("LogMatrixDeterminant:0", "LogMatrixDeterminant:1")
    assert (sign.value_index, logdet.value_index) == (0, 1)
    assert sign.op is logdet.op and sign.op.outputs == [sign, logdet]
    assert sign.shape.as_list() == [None] and logdet.shape.as_list() == [None]
    assert g.get_tensor_by_name("LogMatrixDeterminant:1") is logdet


def test_set_shape_refines_and_rejects_incompatible(g):
    x, y = _build(g)
    y.set_shape([5, None])
    assert y.shape.as_list() == [5, 3]
    with pytest.raises(ValueError, match="incompatible"):
        y.set_shape([6, 3])
    with pytest.raises(ValueError):
        y.set_shape([5])  # another rank
    with g.as_default():
        u = ft.placeholder(ft.float32)
    u.set_shape((2, None))
    assert u.shape.as_list() == [2, None]
    # later ops see the refined shape
    with g.as_default():
        assert (u + 1.0).shape.as_list() == [2, None]


def test_hashable_by_identity_and_usable_as_dict_keys(g):
    x, y = _build(g)
    feed = {x: np.zeros((2, 3)), y: 1}
    assert feed[x].shape == (2, 3) and feed[y] == 1
    assert hash(x) != hash(y) and hash(x) == hash(x)
    assert len({x, y, x}) == 2
    assert x.ref().deref() is x and x.ref() == x.ref()


def test_comparisons_stage_nodes_as_eager_tensors_compare(g):
    """See Note [Symbolic tensors compare elementwise] in _mode.pxi."""
    x, y = _build(g)
    with g.as_default():
        for op, node_type in [(operator.eq, "equal"), (operator.ne, "not_equal"),
                              (operator.lt, "less"), (operator.le, "less_equal"),
                              (operator.gt, "greater"), (operator.ge, "greater_equal")]:
            r = op(x, y)
            assert ft.Tensor in type(r).__mro__ and r.op.type == node_type, op
            assert r.dtype == np.bool_ and r.shape.as_list() == [None, 3]
            r = op(x, 2.0)  # with a Python number
            assert r.op.type == node_type
    assert (x == None) is False and (x != None) is True  # noqa: E711
    # `in` compares elementwise: an ambiguous truth value, as with eager tensors
    with pytest.raises(TypeError, match="bool"):
        y in [x]  # noqa: B015


# --- every reader of a value raises, saying why -----------------------------------------

#: ft.Tensor's public methods and properties, each marked as reading the
#: value ("value": must raise TypeError on a symbolic tensor) or not ("meta":
#: static information, "op": builds a node, "no-op": needs nothing). A name of
#: dir(ft.Tensor) missing here fails test_every_tensor_attribute_is_classified.
_CLASSIFIED = {
    # static information
    "shape": "meta", "dtype": "meta", "ndim": "meta", "size": "meta", "ref": "meta",
    "__hash__": "meta", "__repr__": "meta", "__str__": "meta", "__array_priority__": "meta",
    "__pyx_vtable__": "meta",
    # values
    "numpy": "value", "__array__": "value", "__bool__": "value", "__float__": "value",
    "__int__": "value", "__index__": "value", "__len__": "value", "__iter__": "value",
    "__format__": "value", "__reduce__": "value", "__reduce_ex__": "value",
    # ops (a node of the graph)
    "T": "op", "__abs__": "op", "__neg__": "op", "__invert__": "op", "__pos__": "no-op",
    "__getitem__": "op", "__array_ufunc__": "op", "__array_function__": "op",
    "__eq__": "op", "__ne__": "op", "__lt__": "op", "__le__": "op", "__gt__": "op",
    "__ge__": "op",
    **{f"__{r}{name}__": "op" for name in ("add", "sub", "mul", "truediv", "floordiv",
                                            "mod", "pow", "matmul", "and", "or", "xor")
       for r in ("", "r")},
    # object's machinery
    "__init__": "no-op", "__new__": "no-op", "__doc__": "meta", "__class__": "meta",
    "__module__": "meta", "__setstate__": "value",
}

#: how each value reader is called
_VALUE_READERS = {
    "numpy": lambda t: t.numpy(),
    "__array__": lambda t: np.asarray(t),
    "__bool__": lambda t: bool(t),
    "__float__": lambda t: float(t),
    "__int__": lambda t: int(t),
    "__index__": lambda t: [0, 1, 2][t],
    "__len__": lambda t: len(t),
    "__iter__": lambda t: iter(t),
    "__format__": lambda t: f"{t:.3f}",
    "__reduce__": lambda t: pickle.dumps(t),
    "__reduce_ex__": lambda t: copy.deepcopy(t),
    "__setstate__": lambda t: copy.copy(t),
}

#: more ways to reach the same readers, as user code does
_MORE_READERS = {
    "if": lambda t: 1 if t else 0,
    "while": lambda t: [None for _ in iter(lambda: bool(t), False)],
    "not": lambda t: not t,
    "and": lambda t: t and 1,
    "math.floor": lambda t: math.floor(t),
    "np.array": lambda t: np.array(t),
    "np.asarray(dtype)": lambda t: np.asarray(t, dtype=np.float64),
    "list": lambda t: list(t),
    "unpacking": lambda t: tuple(a for a in t),
    "range": lambda t: range(t),
    "complex": lambda t: complex(t),
    "pickle protocol 2": lambda t: pickle.dumps(t, protocol=2),
    "str.format spec": lambda t: "{:5}".format(t),  # noqa: UP032
    "%": lambda t: "%f" % t,  # noqa: UP031
}


def _own_names():
    return sorted(n for n in dir(ft.Tensor)
                  if n not in dir(object) or n in ft.Tensor.__dict__)


def test_every_tensor_attribute_is_classified():
    missing = [n for n in _own_names() if n not in _CLASSIFIED]
    assert not missing, (
        f"ft.Tensor has attributes this test does not know: {missing}. Classify each in "
        "_CLASSIFIED; a value reader must raise TypeError on a symbolic tensor "
        "(SymbolicTensor in fasttape/_core/_mode.pxi) and get a caller in _VALUE_READERS")
    assert set(_VALUE_READERS) == {n for n, k in _CLASSIFIED.items() if k == "value"}


@pytest.mark.parametrize("shape", [(None, 3), (2, 3), (), None],
                         ids=["partial", "known", "scalar", "unknown-rank"])
@pytest.mark.parametrize("reader", sorted(_VALUE_READERS) + sorted(_MORE_READERS))
def test_value_readers_raise_type_error_saying_why(g, reader, shape):
    fn = _VALUE_READERS.get(reader) or _MORE_READERS[reader]
    with g.as_default():
        t = ft.placeholder(ft.int32, shape=shape, name="t")
    if reader in ("__iter__", "list", "unpacking") and shape == (2, 3):
        # a known first dimension iterates, as in TensorFlow: one slice node per row
        with g.as_default():
            rows = list(iter(t))
        assert [r.shape.as_list() for r in rows] == [[3], [3]]
        return
    with pytest.raises(TypeError) as info:
        fn(t)
    msg = str(info.value)
    assert "'t:0'" in msg and "symbolic" in msg, msg
    if "pickle" not in reader and reader not in ("__reduce__", "__reduce_ex__", "__setstate__"):
        assert "graph runs" in msg, msg


def test_value_readers_also_raise_outside_the_graph_block(g):
    x, y = _build(g)
    for fn in _VALUE_READERS.values():
        with pytest.raises(TypeError, match="add:0"):
            fn(y)


def test_bool_and_iteration_point_to_control_flow(g):
    x, _ = _build(g)
    with pytest.raises(TypeError, match="ft.cond"):
        bool(x)
    with pytest.raises(TypeError, match="ft.while_loop"):
        iter(x)  # unknown first dim: raises at iter(), not at the first next()


def test_variable_is_not_a_symbolic_tensor():
    v = ft.Variable([1.0])
    assert not isinstance(v, type(_symbolic()))


def _symbolic():
    g = ft.Graph()
    with g.as_default():
        return ft.placeholder(ft.float32)


def test_symbolic_tensor_cannot_be_created_directly():
    with pytest.raises(TypeError):
        type(_symbolic())()
