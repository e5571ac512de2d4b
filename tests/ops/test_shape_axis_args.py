"""Shape, axis, size and count arguments: ints only (Note [Shape and axis
arguments] in fasttape/ops/_registry.py). int() would truncate 2.9 to 2 and
read '12' as 12; every op that takes such an argument raises TypeError instead.
The table is checked for completeness against the public API's signatures."""

import inspect

import numpy as np
import pytest

import fasttape as ft

X = ft.ones((2, 3))
X4 = ft.ones((1, 4, 4, 1))
W = ft.ones((2, 2, 1, 1))
IDX = ft.constant([[0], [1]])

# (function, parameter) -> call(bad value)
def _in_graph(fn):
    with ft.Graph().as_default():
        return fn()


CALLS = {
    ("placeholder", "shape"): lambda b: _in_graph(lambda: ft.placeholder(ft.float32, [b, 3])),
    ("argmax", "axis"): lambda b: ft.argmax(X, axis=b),
    ("argmin", "axis"): lambda b: ft.argmin(X, axis=b),
    ("boolean_mask", "axis"): lambda b: ft.boolean_mask(X, [True, False], axis=b),
    ("broadcast_to", "shape"): lambda b: ft.broadcast_to(X, [b, 3]),
    ("concat", "axis"): lambda b: ft.concat([X, X], b),
    ("constant", "shape"): lambda b: ft.constant(1.0, shape=[b]),
    ("expand_dims", "axis"): lambda b: ft.expand_dims(X, b),
    ("eye", "batch_shape"): lambda b: ft.eye(2, batch_shape=[b]),
    ("eye", "num_columns"): lambda b: ft.eye(2, b),
    ("eye", "num_rows"): lambda b: ft.eye(b),
    ("fill", "dims"): lambda b: ft.fill([b], 1.0),
    ("gather", "axis"): lambda b: ft.gather(X, [0], axis=b),
    ("gather", "batch_dims"): lambda b: ft.gather(X, [[0]], batch_dims=b),
    ("gather_nd", "batch_dims"): lambda b: ft.gather_nd(X, IDX, batch_dims=b),
    ("linspace", "axis"): lambda b: ft.linspace(0.0, 1.0, 3, axis=b),
    ("linspace", "num"): lambda b: ft.linspace(0.0, 1.0, b),
    ("nn.avg_pool2d", "ksize"): lambda b: ft.nn.avg_pool2d(X4, b, 1, "VALID"),
    ("nn.avg_pool2d", "strides"): lambda b: ft.nn.avg_pool2d(X4, 2, b, "VALID"),
    ("nn.conv1d", "dilations"): lambda b: ft.nn.conv1d(ft.ones((1, 4, 1)), ft.ones((2, 1, 1)),
                                                       1, "VALID", dilations=b),
    ("nn.conv2d", "dilations"): lambda b: ft.nn.conv2d(X4, W, 1, "VALID", dilations=b),
    ("nn.conv2d", "strides"): lambda b: ft.nn.conv2d(X4, W, b, "VALID"),
    ("nn.conv2d_transpose", "dilations"): lambda b: ft.nn.conv2d_transpose(
        X4, W, [1, 5, 5, 1], 1, "VALID", dilations=b),
    ("nn.conv2d_transpose", "output_shape"): lambda b: ft.nn.conv2d_transpose(
        X4, W, [1, b, 5, 1], 1, "VALID"),
    ("nn.conv2d_transpose", "strides"): lambda b: ft.nn.conv2d_transpose(
        X4, W, [1, 5, 5, 1], b, "VALID"),
    ("nn.layer_norm", "axis"): lambda b: ft.nn.layer_norm(X, axis=b),
    ("nn.log_softmax", "axis"): lambda b: ft.nn.log_softmax(X, axis=b),
    ("nn.max_pool2d", "ksize"): lambda b: ft.nn.max_pool2d(X4, b, 1, "VALID"),
    ("nn.max_pool2d", "strides"): lambda b: ft.nn.max_pool2d(X4, 2, b, "VALID"),
    ("nn.moments", "axes"): lambda b: ft.nn.moments(X, axes=[b]),
    ("nn.softmax", "axis"): lambda b: ft.nn.softmax(X, axis=b),
    ("nn.softmax_cross_entropy_with_logits", "axis"):
        lambda b: ft.nn.softmax_cross_entropy_with_logits(X, X, axis=b),
    ("norm", "axis"): lambda b: ft.norm(X, axis=b),
    ("one_hot", "axis"): lambda b: ft.one_hot([0, 1], 2, axis=b),
    ("one_hot", "depth"): lambda b: ft.one_hot([0, 1], b),
    ("ones", "shape"): lambda b: ft.ones([b]),
    ("pad", "paddings"): lambda b: ft.pad(X, [[0, b], [0, 0]]),
    ("random.normal", "shape"): lambda b: ft.random.normal([b]),
    ("random.truncated_normal", "shape"): lambda b: ft.random.truncated_normal([b]),
    ("random.uniform", "shape"): lambda b: ft.random.uniform([b]),
    ("reshape", "shape"): lambda b: ft.reshape(X, [b, -1]),
    ("scatter_nd", "shape"): lambda b: ft.scatter_nd(IDX, ft.ones((2,)), [b]),
    ("slice", "begin"): lambda b: ft.slice(X, [b, 0], [1, 1]),
    ("slice", "size"): lambda b: ft.slice(X, [0, 0], [b, 1]),
    ("split", "axis"): lambda b: ft.split(X, 1, axis=b),
    ("split", "num"): lambda b: ft.split(X, 2, axis=0, num=b),
    ("split", "num_or_size_splits"): lambda b: ft.split(X, b),
    ("squeeze", "axis"): lambda b: ft.squeeze(ft.ones((1, 3)), axis=b),
    ("stack", "axis"): lambda b: ft.stack([X, X], axis=b),
    ("tensordot", "axes"): lambda b: ft.tensordot(X, ft.ones((3, 2)), b),
    ("tile", "multiples"): lambda b: ft.tile(X, [b, 1]),
    ("transpose", "perm"): lambda b: ft.transpose(X, [b, 0]),
    ("unstack", "axis"): lambda b: ft.unstack(X, axis=b),
    ("unstack", "num"): lambda b: ft.unstack(X, num=b),
    ("zeros", "shape"): lambda b: ft.zeros([b]),
    ("zeros", "shape as str"): lambda b: ft.zeros(str(b)),
    ("Variable", "shape"): lambda b: ft.Variable([1.0, 2.0], shape=[b]),
    ("get_variable", "shape"): lambda b: ft.get_variable("v", [b, 3]),
    ("clip_by_norm", "axes"): lambda b: ft.clip_by_norm(X, 1.0, axes=[b]),
    ("count_nonzero", "axis"): lambda b: ft.math.count_nonzero(X, axis=b),
    ("math.unsorted_segment_sum", "num_segments"):
        lambda b: ft.math.unsorted_segment_sum(X, [0, 1], b),
    ("linalg.diag", "num_rows"): lambda b: ft.linalg.diag(ft.ones((2,)), num_rows=b),
    ("range", "limit"): lambda b: ft.range(0, 3, dtype=ft.int32)[:b] if False else None,
}
del CALLS[("range", "limit")]  # a number, not a count: floats are TensorFlow's float ranges

for _name in ("reduce_all", "reduce_any"):
    CALLS[(_name, "axis")] = (lambda n: lambda b: getattr(ft, n)(ft.constant([[True]]), axis=b))(
        _name)
for _name in ("reduce_euclidean_norm", "reduce_logsumexp", "reduce_max", "reduce_mean",
              "reduce_min", "reduce_prod", "reduce_std", "reduce_sum", "reduce_variance"):
    CALLS[(_name, "axis")] = (lambda n: lambda b: getattr(ft, n)(X, axis=b))(_name)

SHAPE_PARAMS = {"shape", "dims", "axis", "axes", "perm", "multiples", "num", "depth", "num_rows",
                "num_columns", "batch_shape", "begin", "size", "num_or_size_splits", "batch_dims",
                "paddings", "ksize", "strides", "dilations", "output_shape", "num_segments"}


def test_shape_axis_table_covers_the_public_api():
    """Every public function with a shape/axis/size/count parameter is in CALLS."""
    missing = []
    for mod, prefix in ((ft, ""), (ft.nn, "nn."), (ft.math, "math."), (ft.linalg, "linalg."),
                        (ft.random, "random.")):
        for name in dir(mod):
            fn = getattr(mod, name)
            if name.startswith("_") or not callable(fn) or (
                    isinstance(fn, type) and name != "Variable"):
                continue
            try:
                params = inspect.signature(fn).parameters
            except (TypeError, ValueError):
                continue
            for p in params:
                if p in SHAPE_PARAMS and (prefix + name, p) not in CALLS and \
                        (name, p) not in CALLS and not _aliased(fn, p):
                    missing.append(f"{prefix}{name}({p}=)")
    assert not missing, missing


def _aliased(fn, param):
    """The same function listed under another path (ft.math.reduce_sum is ft.reduce_sum)."""
    return any(getattr(ft, k[0].split(".")[-1], None) is fn or
               getattr(ft.nn, k[0].split(".")[-1], None) is fn
               for k in CALLS if k[1] == param)


@pytest.mark.parametrize("key", list(CALLS), ids=lambda k: f"{k[0]}({k[1]})")
@pytest.mark.parametrize("bad", [1.5, 2.0, "1", True], ids=["1.5", "2.0", "'1'", "True"])
def test_shape_axis_args_reject_non_ints(key, bad):
    """A float (even 2.0), a string or a bool where an int belongs raises
    TypeError naming the op, never a truncated shape."""
    if key == ("zeros", "shape as str") and not isinstance(bad, str):
        bad = str(bad)
    with pytest.raises(TypeError) as info:
        CALLS[key](bad)
    name = key[0].split(".")[-1]
    if name != "Variable":
        assert name in str(info.value).split(":")[0] or name in str(info.value), str(info.value)


@pytest.mark.parametrize("key", list(CALLS), ids=lambda k: f"{k[0]}({k[1]})")
def test_shape_axis_args_accept_numpy_and_tensor_ints(key):
    """NumPy integers and 0-d integer tensors are ints."""
    good = {("slice", "begin"): 0, ("transpose", "perm"): 1, ("pad", "paddings"): 1,
            ("squeeze", "axis"): 0, ("split", "num_or_size_splits"): 1,
            ("nn.conv2d_transpose", "output_shape"): 5, ("eye", "num_columns"): 2,
            ("tensordot", "axes"): 1, ("concat", "axis"): 0, ("one_hot", "depth"): 2,
            ("split", "num"): 2, ("unstack", "num"): 2, ("gather_nd", "batch_dims"): 0,
            ("gather", "batch_dims"): 0, ("Variable", "shape"): 2, ("constant", "shape"): 1,
            ("zeros", "shape as str"): None, ("boolean_mask", "axis"): 0,
            ("nn.moments", "axes"): 0, ("linspace", "num"): 3, ("nn.layer_norm", "axis"): 1,
            ("scatter_nd", "shape"): 2, ("linspace", "axis"): 0, ("stack", "axis"): 0,
            ("split", "axis"): 0, ("unstack", "axis"): 0, ("gather", "axis"): 0,
            ("expand_dims", "axis"): 0, ("one_hot", "axis"): 0,
            ("broadcast_to", "shape"): 2, ("math.unsorted_segment_sum", "num_segments"): 2,
            ("linalg.diag", "num_rows"): 2}.get(key, 1)
    if good is None:
        pytest.skip("a str by construction")
    for v in (np.int64(good), ft.constant(good)):
        CALLS[key](v)


def test_shape_args_examples_from_the_issue():
    for call in (lambda: ft.zeros([2.9]), lambda: ft.zeros("12"), lambda: ft.eye(1.5),
                 lambda: ft.expand_dims(ft.ones(2), 0.5), lambda: ft.one_hot([1], 2, axis=0.5)):
        with pytest.raises(TypeError, match="must be"):
            call()
    assert ft.zeros(np.array([2, 3])).shape == (2, 3)
    assert ft.zeros(ft.constant([2])).shape == (2,)
    assert ft.zeros(3).shape == (3,)
    assert ft.zeros(np.array([])).shape == ()  # an empty list of dims, whatever its dtype
    assert ft.zeros(ft.TensorShape([2]) if hasattr(ft, "TensorShape") else (2,)).shape == (2,)
    with pytest.raises(ValueError, match="non-negative"):
        ft.zeros([-1])
