"""`t.shape` is an ft.TensorShape (a tuple with TensorFlow's methods), and
`format(t, spec)` formats the value."""

import pickle

import numpy as np
import pytest

import fasttape as ft
from fasttape.tensor_shape import TensorShape


@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 0, 4)])
def test_tensor_shape_is_a_tuple_equal_to_the_arrays(shape):
    t = ft.constant(np.zeros(shape))
    s = t.shape
    assert type(s) is ft.TensorShape and isinstance(s, tuple)
    assert s == shape and shape == s and hash(s) == hash(shape) and not (s != shape)
    assert tuple(s) == np.zeros(shape).shape
    assert s.as_list() == list(shape) and s.dims == list(shape)
    assert s.rank == s.ndims == len(shape) == t.ndim
    assert s.is_fully_defined()
    assert s.num_elements() == int(np.prod(shape)) == t.size
    assert repr(s) == repr(shape) and str(s) == str(shape)
    assert np.zeros(s).shape == shape  # NumPy takes it as a shape
    assert pickle.loads(pickle.dumps(s)) == s


def test_tensor_shape_of_variables():
    v = ft.Variable(np.ones((2, 5), np.float32))
    assert type(v.shape) is ft.TensorShape and v.shape.as_list() == [2, 5]


def test_tensor_shape_slicing_and_concatenation_stay_tensor_shapes():
    s = ft.constant(np.zeros((2, 3, 4))).shape
    assert type(s[1:]) is TensorShape and s[1:] == (3, 4)
    assert s[0] == 2 and s[-1] == 4 and type(s[0]) is int
    assert type(s + (5,)) is TensorShape and s + (5,) == (2, 3, 4, 5)
    assert type((1,) + s) is TensorShape and (1,) + s == (1, 2, 3, 4)
    assert s.concatenate([7]) == (2, 3, 4, 7)
    a, b, c = s
    assert (a, b, c) == (2, 3, 4)


def test_tensor_shape_partial_shapes_as_graph_mode_needs():
    s = TensorShape([None, 3])
    assert s.as_list() == [None, 3] and s.rank == 2
    assert not s.is_fully_defined() and s.num_elements() is None
    assert s.is_compatible_with((5, 3)) and not s.is_compatible_with((5, 4))
    assert not s.is_compatible_with((3,))
    assert s.merge_with([7, None]) == (7, 3)
    with pytest.raises(ValueError, match="incompatible"):
        s.merge_with((1, 2))
    with pytest.raises(ValueError, match="incompatible"):
        s.assert_is_compatible_with((2, 2))
    s.assert_is_compatible_with((9, 3))
    assert s.with_rank(2) is s
    with pytest.raises(ValueError, match="rank 3"):
        s.with_rank(3)
    assert s.most_specific_compatible_shape((4, 3)) == (None, 3)
    with pytest.raises(ValueError, match="not fully defined"):
        s.assert_is_fully_defined()


def test_tensor_shape_unknown_rank():
    u = TensorShape(None)
    assert u.rank is None and u.ndims is None and u.dims is None
    assert not u.is_fully_defined() and u.num_elements() is None
    assert u == TensorShape(None) and u != TensorShape([]) and TensorShape([]) != u
    with pytest.raises(ValueError, match="unknown"):
        u.as_list()
    assert u.is_compatible_with((1, 2)) and TensorShape((1, 2)).is_compatible_with(u)
    assert u.merge_with((1, None)) == (1, None)
    assert u.with_rank(2) == (None, None)
    assert TensorShape((1,)).concatenate(u) == u
    assert TensorShape(u) is u and ft.TensorShape(TensorShape([2])) == (2,)
    assert pickle.loads(pickle.dumps(u)) == u
    assert repr(u) == "TensorShape(None)"


def test_tensor_shape_rejects_bad_dimensions():
    with pytest.raises(TypeError, match="int or None"):
        TensorShape([1.5])
    with pytest.raises(ValueError, match=">= 0"):
        TensorShape([-1])
    assert TensorShape(3) == (3,) and TensorShape(np.int64(2)) == (2,)
    assert TensorShape(np.array([2, 3])) == (2, 3)


def test_tensor_format_formats_the_value():
    loss = ft.constant(0.123456)
    assert f"{loss:.4f}" == "0.1235"
    assert f"{ft.constant([2.5]):.2f}" == "2.50"  # one element, any rank
    assert f"{ft.constant([[7]]):>4d}" == "   7"
    assert f"{ft.constant(np.float64(1e-7)):.2e}" == "1.00e-07"
    t = ft.constant([1.0, 2.0])
    assert f"{t}" == str(t) and format(t, "") == str(t)
    with pytest.raises(TypeError, match="one-element"):
        f"{t:.2f}"
    v = ft.Variable(3.0)
    assert f"{v:.1f}" == "3.0"
