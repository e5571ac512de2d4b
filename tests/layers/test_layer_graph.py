"""Layers inside a graph: a built layer's ops are named under its scope and
keep its input checks; building one there (variables from initializers) is a
clear error until graph-mode variables exist."""

import numpy as np
import pytest

import fasttape as ft
from fasttape import layers


@pytest.fixture(autouse=True)
def _fresh_names():
    ft.keras.backend.clear_session()


def test_built_layer_in_a_graph():
    d = layers.Dense(2, activation="relu")
    conv = layers.Conv2D(3, 3, padding="same")
    d(np.ones((1, 3), np.float32))
    conv(np.ones((1, 4, 4, 2), np.float32))
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 3), name="x")
        y = d(x)
        img = ft.placeholder(ft.float32, (None, 4, 4, 2), name="img")
        z = conv(img)
    assert y.name == "dense/Relu:0" and y.shape.as_list() == [None, 2]
    assert z.shape.as_list() == [None, 4, 4, 3]
    names = [op.name for op in g.get_operations()]
    assert "dense/MatMul" in names and "dense/BiasAdd" in names
    assert any(n.startswith("conv2d/") for n in names)
    with g.as_default(), pytest.raises(ValueError, match=r'"dense".*value 3.*\(None, 4\)'):
        d(ft.placeholder(ft.float32, (None, 4)))


def test_building_in_a_graph_is_a_clear_error():
    g = ft.Graph()
    with g.as_default():
        x = ft.placeholder(ft.float32, (None, 3))
        with pytest.raises(TypeError, match=r'"dense": cannot create weight .kernel. inside a '
                                            r"graph.*build\(input_shape\)"):
            layers.Dense(2)(x)
