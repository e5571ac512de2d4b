"""reshape to a shape holding graph tensors, TensorFlow's
`tf.reshape(x, [tf.shape(x)[0], -1])` (Note [Dynamic reshape] in
fasttape/ops/array_ops.py): traced with an unknown batch, in a Session, with
gradients, saved and exported."""

import os

import numpy as np
import pytest

import fasttape as ft

X = np.arange(24, dtype=np.float32).reshape(4, 2, 3)


def _flatten(x):
    return ft.reshape(x, [ft.shape(x)[0], -1])


def test_traced_with_an_unknown_batch():
    f = ft.function(_flatten, input_signature=[ft.TensorSpec([None, 2, 3], ft.float32)])
    for n in (4, 1):
        np.testing.assert_array_equal(f(X[:n]).numpy(), X[:n].reshape(n, 6))
    with pytest.raises(ft.errors.InvalidArgumentError):  # -1 of an empty batch: TF raises too
        f(X[:0])
    out = f.get_concrete_function().outputs[0]
    assert out.shape.as_list() == [None, None] and out.op.type == "_reshape_dynamic"


def test_static_dims_give_a_plain_reshape_and_its_static_shape():
    f = ft.function(_flatten, input_signature=[ft.TensorSpec([4, 2, 3], ft.float32)])
    out = f.get_concrete_function().outputs[0]
    assert out.shape.as_list() == [4, 6] and out.op.type == "reshape"


def test_gradients_in_a_session_and_in_a_traced_tape():
    g = ft.Graph()
    with g.as_default():
        p = ft.placeholder(ft.float32, [None, 2, 3])
        y = _flatten(p)
        (dx,) = ft.gradients(ft.reduce_sum(y * y), [p])
        with ft.Session() as sess:
            got_y, got_dx = sess.run([y, dx], {p: X})
    np.testing.assert_array_equal(got_y, X.reshape(4, 6))
    np.testing.assert_allclose(got_dx, 2 * X)

    @ft.function(input_signature=[ft.TensorSpec([None, 2, 3], ft.float32)])
    def grad(x):
        with ft.GradientTape() as tape:
            tape.watch(x)
            loss = ft.reduce_sum(_flatten(x) ** 3)
        return tape.gradient(loss, x)

    np.testing.assert_allclose(grad(X).numpy(), 3 * X ** 2, rtol=1e-6)


def test_a_shape_that_does_not_fit_raises_when_run_naming_the_line():
    f = ft.function(lambda x: ft.reshape(x, [ft.shape(x)[0], 5]),
                    input_signature=[ft.TensorSpec([None, 2, 3], ft.float32)])
    with pytest.raises(ft.errors.InvalidArgumentError, match=r"cannot reshape(.|\n)*built at"):
        f(X)


def test_a_graph_tensor_shape_must_be_1d_ints_of_known_length():
    with ft.Graph().as_default():
        p = ft.placeholder(ft.float32, [None, 6])
        with pytest.raises(ValueError, match="reshape: a graph tensor as the shape must be 1-D"):
            ft.reshape(p, ft.shape(p)[0])
        np.testing.assert_equal(ft.reshape(p, ft.shape(p)).shape.as_list(), [None, None])


def test_saved_and_exported(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    f = ft.function(_flatten, input_signature=[ft.TensorSpec([None, 2, 3], ft.float32)])
    d = str(tmp_path)
    ft.saved_function.save(f, os.path.join(d, "f.ftsf"))
    loaded = ft.saved_function.load(os.path.join(d, "f.ftsf"))
    np.testing.assert_array_equal(np.asarray(loaded(X[:3])), X[:3].reshape(3, 6))
    ft.onnx.export(f, os.path.join(d, "f.onnx"))
    sess = onnxruntime.InferenceSession(os.path.join(d, "f.onnx"),
                                        providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {sess.get_inputs()[0].name: X[:2]})
    np.testing.assert_array_equal(got, X[:2].reshape(2, 6))
