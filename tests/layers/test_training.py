"""Layers in a hand-written training loop (GradientTape + plain SGD): a small
convnet with BatchNormalization and Dropout fits a synthetic task, a frozen
layer does not move, and the regularization losses join the objective."""

import numpy as np

import fasttape as ft
from fasttape import layers


class ConvNet(layers.Layer):
    def __init__(self):
        super().__init__()
        self.body = [layers.Conv2D(4, 3, padding="same", activation="relu"),
                     layers.BatchNormalization(),
                     layers.MaxPool2D(),
                     layers.Flatten(),
                     layers.Dropout(0.1, seed=0)]
        self.head = layers.Dense(2, kernel_regularizer=ft.regularizers.L2(1e-4))

    def call(self, x, training=None):
        for layer in self.body:
            x = layer(x)
        return self.head(x)


def _data(n=128):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 6, 6, 1)).astype(np.float32)
    y = (x[:, :3].mean(axis=(1, 2, 3)) > x[:, 3:].mean(axis=(1, 2, 3))).astype(np.int32)
    return x, y


def test_convnet_trains_with_a_tape():
    ft.random.set_seed(0)
    x, y = _data()
    net = ConvNet()

    def loss_fn(training):
        logits = net(x, training=training)
        data = ft.reduce_mean(ft.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        return data + ft.add_n(net.losses), logits

    first, _ = loss_fn(False)
    for _ in range(60):
        with ft.GradientTape() as tape:
            loss, _ = loss_fn(True)
        grads = tape.gradient(loss, net.trainable_variables)
        assert all(g is not None for g in grads)
        for v, g in zip(net.trainable_variables, grads, strict=True):
            v.assign_sub(0.1 * g)
    last, logits = loss_fn(False)
    assert float(last) < 0.5 * float(first)
    accuracy = np.mean(np.argmax(logits.numpy(), -1) == y)
    assert accuracy > 0.9
    bn = net.body[1]
    assert not np.allclose(bn.moving_mean.numpy(), 0.0)  # updated in training calls
    # freezing the conv layer: its kernel is no longer a trainable variable
    net.body[0].trainable = False
    kernel = net.body[0].kernel
    assert all(v is not kernel for v in net.trainable_variables)
    assert len(net.trainable_variables) == 4  # BN gamma/beta, Dense kernel/bias
