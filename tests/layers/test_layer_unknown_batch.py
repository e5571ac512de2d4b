"""Every public layer inside ft.function with an unknown batch dim (the
signature Model.predict and saved functions use): same values as eager on a
batch size the trace never saw. The table must name every public layer class,
so a new layer is covered here without anyone remembering it."""

import inspect

import numpy as np
import pytest

import fasttape as ft
from fasttape import layers

RNG = np.random.default_rng(0)

# name -> (constructor, per-example input shape, input dtype)
CASES = {
    "Activation": (lambda: layers.Activation("tanh"), (5,), np.float32),
    "AveragePool2D": (lambda: layers.AveragePooling2D(2), (4, 4, 2), np.float32),
    "BatchNormalization": (lambda: layers.BatchNormalization(), (5,), np.float32),
    "Conv1D": (lambda: layers.Conv1D(3, 2), (6, 2), np.float32),
    "Conv2D": (lambda: layers.Conv2D(3, 2, padding="same"), (4, 4, 2), np.float32),
    "Conv2DTranspose": (lambda: layers.Conv2DTranspose(3, 2, strides=2), (3, 3, 2), np.float32),
    "Dense": (lambda: layers.Dense(3), (5,), np.float32),
    "Dropout": (lambda: layers.Dropout(0.5), (5,), np.float32),
    "Embedding": (lambda: layers.Embedding(10, 3), (4,), np.int32),
    "Flatten": (lambda: layers.Flatten(), (2, 3), np.float32),
    "GRU": (lambda: layers.GRU(3), (4, 2), np.float32),
    "GRUCell": None,  # a cell: covered through RNN
    "GlobalAveragePooling2D": (lambda: layers.GlobalAveragePooling2D(), (4, 4, 2), np.float32),
    "InputLayer": None,  # the model's input, not a computation
    "LSTM": (lambda: layers.LSTM(3, return_sequences=True), (4, 2), np.float32),
    "LSTMCell": None,
    "Layer": None,
    "LayerNormalization": (lambda: layers.LayerNormalization(), (5,), np.float32),
    "MaxPool2D": (lambda: layers.MaxPooling2D(2), (4, 4, 2), np.float32),
    "RNN": (lambda: layers.RNN(layers.GRUCell(3)), (4, 2), np.float32),
    "Reshape": (lambda: layers.Reshape((-1, 2)), (6,), np.float32),
    "SimpleRNN": (lambda: layers.SimpleRNN(3), (4, 2), np.float32),
    "SimpleRNNCell": None,
}


def _public_layer_classes():
    seen = {}
    for name, obj in vars(layers).items():
        if inspect.isclass(obj) and issubclass(obj, layers.Layer) and not name.startswith("_"):
            seen.setdefault(obj, name)  # aliases (MaxPool2D) are the same class
    return {obj.__name__ for obj in seen}  # the class's own name


def test_the_table_names_every_public_layer():
    missing = _public_layer_classes() - set(CASES)
    assert not missing, f"add these layers to CASES: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c is not None))
def test_traced_with_unknown_batch_matches_eager(name):
    make, shape, dtype = CASES[name]
    layer = make()

    def sample(n):
        if dtype == np.int32:
            return RNG.integers(0, 10, (n,) + shape).astype(dtype)
        return RNG.normal(size=(n,) + shape).astype(dtype)

    layer(sample(4))  # built eagerly
    f = ft.function(lambda x: layer(x, training=False),
                    input_signature=[ft.TensorSpec((None,) + shape, ft.as_dtype(dtype))])
    for n in (3, 1):
        x = sample(n)
        np.testing.assert_allclose(f(x).numpy(), layer(x, training=False).numpy(),
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [lambda: layers.Flatten(), lambda: layers.Reshape((-1, 3))],
                         ids=["Flatten", "Reshape"])
def test_reshaping_layers_with_every_dim_unknown_but_the_last(make):
    layer = make()
    f = ft.function(lambda x: layer(x), input_signature=[ft.TensorSpec((None, None, 3),
                                                                       ft.float32)])
    for shape in ((2, 4, 3), (1, 2, 3)):
        x = RNG.normal(size=shape).astype(np.float32)
        np.testing.assert_array_equal(f(x).numpy(), layer(x).numpy())
