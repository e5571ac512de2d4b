"""Each layer's output shape and values against a NumPy reference
(tests/layers/reference.py), in float64."""

import numpy as np
import pytest

import fasttape as ft
from fasttape import layers
from tests.layers import reference as R

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape)


def run(layer, x, **kw):
    y = layer(x, **kw)
    return [t.numpy() for t in y] if isinstance(y, list) else y.numpy()


def check(layer, x, want, **kw):
    got = run(layer, x, **kw)
    if isinstance(want, list):
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    else:
        assert got.shape == want.shape, (got.shape, want.shape)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
        if hasattr(layer, "compute_output_shape"):
            try:
                assert tuple(layer.compute_output_shape(x.shape)) == want.shape
            except NotImplementedError:
                pass


@pytest.mark.parametrize("activation", ["relu", "softmax", "tanh", "sigmoid", "gelu", "linear",
                                        None, "elu", "selu", "softplus", "swish"])
def test_dense(activation):
    x = rand(4, 3)
    d = layers.Dense(5, activation=activation, dtype="float64")
    d.build(ft.TensorShape(x.shape))
    k, b = rand(3, 5), rand(5)
    d.set_weights([k, b])
    z = x @ k + b
    from scipy.special import erf

    refs = {"relu": np.maximum(z, 0), "tanh": np.tanh(z), "sigmoid": R.sigmoid(z),
            "softmax": np.exp(z) / np.exp(z).sum(-1, keepdims=True), "linear": z, None: z,
            "gelu": 0.5 * z * (1 + erf(z / np.sqrt(2))),
            "elu": np.where(z > 0, z, np.expm1(z)),
            "selu": 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * np.expm1(z)),
            "softplus": np.log1p(np.exp(z)), "swish": z * R.sigmoid(z)}
    check(d, x, refs[activation])


def test_dense_rank3_and_no_bias():
    x = rand(2, 3, 4)
    d = layers.Dense(2, use_bias=False, dtype="float64", kernel_initializer="ones")
    check(d, x, np.repeat(x.sum(-1, keepdims=True), 2, -1))
    assert [v.name for v in d.weights] == [d.name + "/kernel:0"]


def test_dense_activation_callable():
    d = layers.Dense(2, activation=lambda t: t * 2.0, kernel_initializer="ones",
                     dtype="float64")
    check(d, np.ones((1, 3)), np.full((1, 2), 6.0))


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("strides,dilation", [(1, 1), (2, 1), (1, 2)])
def test_conv1d(padding, strides, dilation):
    x = rand(2, 9, 3)
    c = layers.Conv1D(4, 3, strides=strides, padding=padding, dilation_rate=dilation,
                      dtype="float64")
    c.build(ft.TensorShape(x.shape))
    k, b = rand(3, 3, 4), rand(4)
    c.set_weights([k, b])
    xp = np.pad(x, [(0, 0), (2 * dilation, 0), (0, 0)]) if padding == "causal" else x
    want = R.conv_nd(xp, k, (strides,), "valid" if padding == "causal" else padding,
                     (dilation,)) + b
    check(c, x, want)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides,dilation,ksize", [((1, 1), (1, 1), (3, 3)),
                                                    ((2, 1), (1, 1), (3, 2)),
                                                    ((1, 1), (2, 2), (2, 3))])
def test_conv2d(padding, strides, dilation, ksize):
    x = rand(2, 7, 6, 3)
    c = layers.Conv2D(4, ksize, strides=strides, padding=padding, dilation_rate=dilation,
                      activation="relu", dtype="float64")
    c.build(ft.TensorShape(x.shape))
    k, b = rand(*ksize, 3, 4), rand(4)
    c.set_weights([k, b])
    check(c, x, np.maximum(R.conv_nd(x, k, strides, padding, dilation) + b, 0))


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides,output_padding", [((1, 1), None), ((2, 2), None),
                                                    ((2, 3), None), ((2, 2), 1)])
def test_conv2d_transpose(padding, strides, output_padding):
    x = rand(2, 4, 3, 3)
    c = layers.Conv2DTranspose(5, (3, 2), strides=strides, padding=padding,
                               output_padding=output_padding, dtype="float64")
    c.build(ft.TensorShape(x.shape))
    k, b = rand(3, 2, 5, 3), rand(5)
    c.set_weights([k, b])
    out_hw = c.compute_output_shape(x.shape)[1:3]
    if output_padding is None:  # Keras's sizes
        want_hw = tuple(n * s + (max(k_ - s, 0) if padding == "valid" else 0)
                        for n, s, k_ in zip((4, 3), strides, (3, 2), strict=True))
        assert out_hw == want_hw
    check(c, x, R.conv2d_transpose(x, k, strides, padding, out_hw) + b)


@pytest.mark.parametrize("cls,kind", [(layers.MaxPool2D, "max"), (layers.AveragePool2D, "avg")])
@pytest.mark.parametrize("pool,strides,padding", [((2, 2), None, "valid"),
                                                  ((3, 3), (2, 2), "same"),
                                                  ((2, 3), (1, 2), "valid"),
                                                  (2, 1, "same")])
def test_pooling(cls, kind, pool, strides, padding):
    x = rand(2, 7, 6, 3)
    layer = cls(pool, strides=strides, padding=padding, dtype="float64")
    p = (pool, pool) if isinstance(pool, int) else pool
    s = p if strides is None else ((strides, strides) if isinstance(strides, int) else strides)
    check(layer, x, R.pool2d(x, p, s, padding, kind))


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling(keepdims):
    x = rand(2, 4, 5, 3)
    check(layers.GlobalAveragePooling2D(keepdims=keepdims, dtype="float64"), x,
          x.mean(axis=(1, 2), keepdims=keepdims))


def test_flatten_reshape_activation():
    x = rand(2, 3, 4)
    check(layers.Flatten(dtype="float64"), x, x.reshape(2, 12))
    check(layers.Reshape((4, 3), dtype="float64"), x, x.reshape(2, 4, 3))
    check(layers.Reshape((-1, 2), dtype="float64"), x, x.reshape(2, 6, 2))
    check(layers.Activation("tanh", dtype="float64"), x, np.tanh(x))
    with pytest.raises(ValueError, match=r'"reshape.*cannot reshape.*\(2, 3, 4\).*\(5,\)'):
        layers.Reshape((5,))(x)


def test_dropout_training_only():
    x = np.ones((200, 50))
    d = layers.Dropout(0.3, dtype="float64")
    np.testing.assert_array_equal(run(d, x), x)
    np.testing.assert_array_equal(run(d, x, training=False), x)
    y = run(d, x, training=True)
    kept = y != 0
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], 1 / 0.7)
    # seeded: reproducible, a new mask each call
    a = layers.Dropout(0.5, seed=3)
    b = layers.Dropout(0.5, seed=3)
    m1, m2 = run(a, x, training=True), run(a, x, training=True)
    np.testing.assert_array_equal(m1, run(b, x, training=True))
    assert not np.array_equal(m1, m2)
    # noise_shape with None: whole columns dropped
    y = run(layers.Dropout(0.5, noise_shape=(1, None)), x, training=True)
    assert np.all((y == 0).all(0) | (y != 0).all(0))


def test_batch_normalization_training_vs_inference():
    x = rand(8, 3) * 2 + 1
    bn = layers.BatchNormalization(dtype="float64")
    bn.build(ft.TensorShape(x.shape))
    gamma, beta = rand(3), rand(3)
    bn.set_weights([gamma, beta, np.zeros(3), np.ones(3)])
    mean, var = x.mean(0), x.var(0)
    check(bn, x, (x - mean) / np.sqrt(var + 1e-3) * gamma + beta, training=True)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.01 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.99 + 0.01 * var, rtol=1e-12)
    mm, mv = bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()
    # inference: the moving statistics, unchanged
    for kw in ({}, {"training": False}):
        check(bn, x, (x - mm) / np.sqrt(mv + 1e-3) * gamma + beta, **kw)
        np.testing.assert_array_equal(bn.moving_mean.numpy(), mm)
        np.testing.assert_array_equal(bn.moving_variance.numpy(), mv)
    # frozen: inference even with training=True (TensorFlow 2's rule)
    bn.trainable = False
    check(bn, x, (x - mm) / np.sqrt(mv + 1e-3) * gamma + beta, training=True)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mm)
    # the moving statistics converge to the data's over steps
    bn2 = layers.BatchNormalization(momentum=0.5, dtype="float64")
    for _ in range(60):
        bn2(x, training=True)
    np.testing.assert_allclose(bn2.moving_mean.numpy(), mean, rtol=1e-9)
    np.testing.assert_allclose(bn2.moving_variance.numpy(), var, rtol=1e-9)


def test_batch_normalization_4d_and_axis1():
    x = rand(4, 3, 5, 2)
    bn = layers.BatchNormalization(dtype="float64", center=False, epsilon=1e-5)
    check(bn, x, (x - x.mean((0, 1, 2))) / np.sqrt(x.var((0, 1, 2)) + 1e-5), training=True)
    assert [v.name.split("/")[1] for v in bn.weights] == ["gamma:0", "moving_mean:0",
                                                          "moving_variance:0"]
    bn1 = layers.BatchNormalization(axis=1, dtype="float64", scale=False)
    m, v = x.mean((0, 2, 3), keepdims=True), x.var((0, 2, 3), keepdims=True)
    check(bn1, x, (x - m) / np.sqrt(v + 1e-3), training=True)
    np.testing.assert_allclose(bn1.moving_mean.numpy(), 0.01 * m.ravel(), rtol=1e-12)


@pytest.mark.parametrize("axis", [-1, (1, 2), 1])
def test_layer_normalization(axis):
    x = rand(2, 3, 4)
    ln = layers.LayerNormalization(axis=axis, dtype="float64")
    ln.build(ft.TensorShape(x.shape))
    axes = (axis,) if isinstance(axis, int) else axis
    axes = tuple(a % 3 for a in axes)
    shape = tuple(x.shape[a] for a in axes)
    gamma, beta = rand(*shape), rand(*shape)
    ln.set_weights([gamma, beta])
    bshape = [x.shape[a] if a in axes else 1 for a in range(3)]
    m, v = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    check(ln, x, (x - m) / np.sqrt(v + 1e-3) * gamma.reshape(bshape) + beta.reshape(bshape))


def test_embedding():
    e = layers.Embedding(10, 4, dtype="float64")
    ids = np.array([[1, 2, 9], [0, 0, 3]])
    run(e, ids)
    table = e.embeddings.numpy()
    assert np.all(np.abs(table) <= 0.05)  # "uniform": +-0.05
    check(e, ids, table[ids])
    check(e, ids.astype(np.float64), table[ids])  # float ids are cast (Keras)
    with pytest.raises(Exception, match="embedding_lookup"):
        e(np.array([[10]]))


def _rnn_weights(layer, x):
    layer.build(ft.TensorShape(x.shape))
    ws = [rand(*v.shape) * 0.5 for v in layer.weights]
    layer.set_weights(ws)
    return ws


@pytest.mark.parametrize("go_backwards", [False, True])
def test_simple_rnn(go_backwards):
    x = rand(2, 5, 3)
    layer = layers.SimpleRNN(4, return_sequences=True, return_state=True,
                             go_backwards=go_backwards, dtype="float64")
    k, rk, b = _rnn_weights(layer, x)
    seq, h = R.simple_rnn(x[:, ::-1] if go_backwards else x, k, rk, b)
    check(layer, x, [seq, h])
    last = layers.SimpleRNN(4, dtype="float64")
    last.build(ft.TensorShape(x.shape))
    last.set_weights([k, rk, b])
    check(last, x, R.simple_rnn(x, k, rk, b)[1])


def test_lstm():
    x = rand(2, 5, 3)
    layer = layers.LSTM(4, return_sequences=True, return_state=True, dtype="float64")
    k, rk, b = _rnn_weights(layer, x)
    check(layer, x, list(R.lstm(x, k, rk, b)))
    # initial state
    h0, c0 = rand(2, 4), rand(2, 4)
    got = layer(x, initial_state=[h0, c0])
    want = R.lstm(x, k, rk, b, h0, c0)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-10)
    with pytest.raises(ValueError, match=r'"lstm.*expects 2 initial state'):
        layer(x, initial_state=[h0])


def test_lstm_unit_forget_bias_default():
    layer = layers.LSTM(3)
    layer(np.ones((1, 2, 2), np.float32))
    np.testing.assert_array_equal(layer.cell.bias.numpy(), [0, 0, 0, 1, 1, 1] + [0] * 6)
    assert layer.units == 3
    k = layer.cell.recurrent_kernel.numpy()  # orthogonal: each gate block's columns
    np.testing.assert_allclose(k @ k.T, np.eye(3), atol=1e-5)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru(reset_after):
    x = rand(2, 5, 3)
    layer = layers.GRU(4, return_sequences=True, return_state=True, reset_after=reset_after,
                       dtype="float64")
    k, rk, b = _rnn_weights(layer, x)
    assert b.shape == ((2, 12) if reset_after else (12,))
    check(layer, x, list(R.gru(x, k, rk, b, reset_after)))


def test_rnn_dropout_only_in_training():
    x = rand(2, 5, 3)
    layer = layers.LSTM(4, dropout=0.5, recurrent_dropout=0.5, dtype="float64")
    k, rk, b = _rnn_weights(layer, x)
    want = R.lstm(x, k, rk, b)[1]
    np.testing.assert_allclose(run(layer, x), want, rtol=1e-10)
    assert not np.allclose(run(layer, x, training=True), want)
    # the cells called on their own: one step
    cell = layers.GRUCell(3, dtype="float64")
    out, states = cell(rand(2, 4), [np.zeros((2, 3))])
    assert out.shape == (2, 3) and states[0].shape == (2, 3)
