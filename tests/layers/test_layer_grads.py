"""Gradients through every layer (inputs and trainable weights) against
finite differences, with fasttape.testing.check_grads, small sizes, float64."""

import numpy as np
import pytest

import fasttape as ft
from fasttape import layers
from fasttape.layers.base import Layer
from fasttape.testing import check_grads


def _swap_weights(layer, tensors):
    """Points the attributes holding `layer`'s trainable weights (its own and
    its sublayers') at `tensors` for a call; returns an undo function."""
    weights = layer.trainable_weights
    index = {id(v): i for i, v in enumerate(weights)}
    undo = []
    for sub in [layer] + layer._flatten_layers():
        for k, v in list(vars(sub).items()):
            if id(v) in index:
                undo.append((sub, k, v))
                setattr(sub, k, tensors[index[id(v)]])
    assert len(undo) == len(weights), "a weight is not held by an attribute"

    def restore():
        for sub, k, v in undo:
            setattr(sub, k, v)

    return restore


def check_layer(layer, x, training=False, order=1, reset=None, **kw):
    rng = np.random.default_rng(1)
    x = np.asarray(x, dtype=np.float64) if np.asarray(x).dtype.kind == "f" else np.asarray(x)
    layer(x, training=training, **kw)  # builds
    ws = [np.asarray(v.numpy()) + 0.1 * rng.standard_normal(v.shape)
          for v in layer.trainable_weights]

    def f(x, *ws):
        if reset is not None:
            reset(layer)
        restore = _swap_weights(layer, ws)
        try:
            return layer(x, training=training, **kw)
        finally:
            restore()

    check_grads(f, [x] + ws, order=order, name=type(layer).__name__)


RNG = np.random.default_rng(0)


def x_(*shape):
    return RNG.standard_normal(shape)


F64 = {"dtype": "float64"}

CASES = [
    ("dense", lambda: layers.Dense(3, activation="tanh", **F64), x_(2, 4)),
    ("dense_rank3", lambda: layers.Dense(2, activation="softmax", **F64), x_(2, 3, 4)),
    ("conv1d_causal", lambda: layers.Conv1D(2, 3, padding="causal", **F64), x_(2, 5, 2)),
    ("conv1d_strided", lambda: layers.Conv1D(2, 2, strides=2, **F64), x_(1, 6, 2)),
    ("conv2d_same", lambda: layers.Conv2D(2, 3, padding="same", activation="sigmoid", **F64),
     x_(1, 4, 4, 2)),
    ("conv2d_strided", lambda: layers.Conv2D(2, 2, strides=2, **F64), x_(2, 5, 5, 1)),
    ("conv2d_transpose", lambda: layers.Conv2DTranspose(2, 3, strides=2, padding="same", **F64),
     x_(1, 3, 3, 2)),
    ("max_pool", lambda: layers.MaxPool2D(**F64), x_(1, 4, 4, 2)),
    ("avg_pool_same", lambda: layers.AveragePool2D(3, 2, padding="same", **F64), x_(1, 5, 4, 2)),
    ("global_avg", lambda: layers.GlobalAveragePooling2D(**F64), x_(2, 3, 3, 2)),
    ("flatten", lambda: layers.Flatten(**F64), x_(2, 2, 3)),
    ("reshape", lambda: layers.Reshape((3, 2), **F64), x_(2, 6)),
    ("activation_gelu", lambda: layers.Activation("gelu", **F64), x_(3, 4)),
    ("layer_norm", lambda: layers.LayerNormalization(**F64), x_(3, 4)),
    ("layer_norm_2axes", lambda: layers.LayerNormalization(axis=(1, 2), **F64), x_(2, 2, 3)),
    ("batch_norm_inference", lambda: layers.BatchNormalization(**F64), x_(4, 3)),
    ("simple_rnn", lambda: layers.SimpleRNN(3, return_sequences=True, **F64), x_(2, 4, 2)),
    ("lstm", lambda: layers.LSTM(3, return_state=True, **F64), x_(2, 3, 2)),
    ("gru", lambda: layers.GRU(3, return_sequences=True, **F64), x_(2, 3, 2)),
    ("gru_reset_before", lambda: layers.GRU(2, reset_after=False, go_backwards=True, **F64),
     x_(2, 3, 2)),
]


@pytest.mark.parametrize("make,x", [pytest.param(m, x, id=n) for n, m, x in CASES])
def test_layer_gradients(make, x):
    check_layer(make(), x)


def test_batch_norm_training_gradients():
    # the batch statistics are differentiated (the moving ones are not used)
    check_layer(layers.BatchNormalization(**F64), x_(5, 3), training=True)
    check_layer(layers.BatchNormalization(axis=1, **F64), x_(3, 2, 2, 2), training=True)


def test_embedding_gradients():
    e = layers.Embedding(6, 3, **F64)
    check_layer(e, np.array([[1, 2], [2, 5]]))


def test_dropout_gradients_with_a_fixed_mask():
    def reset(layer):
        layer._calls = 0  # the same seeded mask at each evaluation

    check_layer(layers.Dropout(0.4, seed=7, **F64), x_(3, 4), training=True, reset=reset)


def test_second_order_through_dense_and_lstm():
    check_layer(layers.Dense(2, activation="tanh", **F64), x_(2, 3), order=2)
    check_layer(layers.LSTM(2, **F64), x_(1, 2, 2), order=2)


def test_nested_layer_gradients():
    class Net(Layer):
        def __init__(self):
            super().__init__(dtype="float64")
            self.blocks = [layers.Dense(3, activation="relu", dtype="float64"),
                           {"out": layers.Dense(1, dtype="float64")}]

        def call(self, x):
            return self.blocks[1]["out"](self.blocks[0](x))

    check_layer(Net(), x_(4, 2) + 0.5)


def test_regularization_loss_gradient():
    d = layers.Dense(2, kernel_regularizer=ft.regularizers.L1L2(l1=0.01, l2=0.1), **F64)
    d(np.ones((1, 3)))
    k = d.kernel.numpy()
    with ft.GradientTape() as tape:
        loss = ft.add_n(d.losses)
    np.testing.assert_allclose(tape.gradient(loss, d.kernel).numpy(),
                               0.01 * np.sign(k) + 0.2 * k, rtol=1e-12)
