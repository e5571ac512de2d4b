"""ft.Model (subclassing) and ft.Sequential: tracking, building, summary,
Sequential's add/pop/Input, the Keras paths, and the errors."""

import numpy as np
import pytest

import fasttape as ft
from fasttape import layers
from fasttape import models as ft_models


def _size(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


class Tower(ft.Model):
    """Layers as an attribute, in a list and in a dict, a BatchNormalization
    (non-trainable statistics) and a frozen layer."""

    def __init__(self):
        super().__init__()
        self.stem = layers.Dense(6, activation="relu")
        self.blocks = [layers.Dense(5), layers.BatchNormalization()]
        self.heads = {"a": layers.Dense(2), "b": layers.Dense(3, trainable=False)}

    def call(self, x, training=None):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.heads["a"](x), self.heads["b"](x)


def test_subclassed_model_tracks_attributes_lists_and_dicts():
    model = Tower()
    assert not model.built and model.variables == []
    out = model(np.ones((4, 3), np.float32))
    assert model.built and [tuple(o.shape) for o in out] == [(4, 2), (4, 3)]
    every = [model.stem, *model.blocks, *model.heads.values()]
    assert {id(x) for x in model.layers} == {id(x) for x in every}
    owned = [v for layer in every for v in layer.weights]
    assert {id(v) for v in model.variables} == {id(v) for v in owned}
    frozen = set(map(id, model.heads["b"].weights))
    stats = {id(model.blocks[1].moving_mean), id(model.blocks[1].moving_variance)}
    assert {id(v) for v in model.non_trainable_variables} == frozen | stats
    assert {id(v) for v in model.trainable_variables} == (
        {id(v) for v in owned} - frozen - stats)
    assert model.count_params() == _size(owned)


def test_model_is_a_layer_and_a_module_and_nests():
    inner = Tower()
    outer = ft.Sequential([layers.Dense(3, input_shape=(4,)), inner])
    assert isinstance(outer, ft.Module) and isinstance(inner, layers.Layer)
    assert inner.built
    assert {id(v) for v in inner.variables} <= {id(v) for v in outer.variables}


def test_build_from_a_shape_makes_the_weights():
    model = Tower()
    model.build((None, 3))
    assert model.built and _size(model.weights) == model.count_params() > 0
    out = model(np.ones((2, 3), np.float32))
    assert tuple(out[0].shape) == (2, 2)


def test_custom_build_then_super_build():
    class Scaled(ft.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def build(self, input_shape):
            self.scale = self.add_weight("scale", (input_shape[-1],), initializer="ones")
            super().build(input_shape)

        def call(self, x):
            return self.dense(x * self.scale)

    called = Scaled()
    called(np.ones((5, 4), np.float32))
    built = Scaled()
    built.build((None, 4))
    for model in (called, built):
        assert [tuple(v.shape) for v in model.weights] == [(4,), (4, 2), (2,)]


@pytest.mark.parametrize("make", [Tower, lambda: ft.Sequential([layers.Dense(2)])],
                         ids=["subclassed", "sequential"])
def test_summary_before_build_says_how_to_build(make):
    model = make()
    with pytest.raises(ValueError, match=r"not yet been built.*build\(input_shape\)"):
        model.summary()


def _summary(model, **kw):
    lines = []
    model.summary(print_fn=lines.append, **kw)
    return lines


def _row(lines, layer):
    rows = [line for line in lines if line.startswith(f" {layer.name} ")]
    assert len(rows) == 1, lines
    return rows[0].split()


def test_sequential_summary_lists_layers_shapes_and_counts():
    model = ft.Sequential([layers.Conv2D(4, 3, input_shape=(8, 8, 1)), layers.MaxPool2D(),
                           layers.Flatten(), layers.Dropout(0.5), layers.Dense(10)])
    lines = _summary(model)
    assert lines[0] == f'Model: "{model.name}"'
    x = np.zeros((1, 8, 8, 1), np.float32)
    for layer in model.layers:
        x = layer(x)
        row = _row(lines, layer)
        assert row[1] == f"({type(layer).__name__})"
        assert " ".join(row[2:-1]) == str((None,) + tuple(x.shape)[1:])
        assert int(row[-1]) == _size(layer.weights)
    total = _size(model.weights)
    assert f"Total params: {total:,}" in lines
    assert f"Trainable params: {total:,}" in lines
    assert "Non-trainable params: 0" in lines
    assert all(len(line) <= 65 for line in lines)


def test_subclassed_summary_shapes_totals_and_trainable_column():
    model = Tower()
    model(np.ones((7, 3), np.float32))
    lines = _summary(model, show_trainable=True)
    assert _row(lines, model.stem)[2:4] == ["(None,", "6)"]
    assert _row(lines, model.heads["b"])[-1] == "N"
    assert _row(lines, model.heads["a"])[-1] == "Y"
    frozen = _size(model.non_trainable_weights)
    assert f"Non-trainable params: {frozen:,}" in lines
    assert f"Total params: {_size(model.weights):,}" in lines
    # the summary's inference pass changed nothing
    assert np.all(model.blocks[1].moving_mean.numpy() == 0)


def test_summary_shows_multiple_for_a_layer_called_on_several_shapes():
    class Shared(ft.Model):
        def __init__(self):
            super().__init__()
            self.flat = layers.Flatten()

        def call(self, x):
            return ft.concat([self.flat(x), self.flat(x[:, :1])], axis=1)

    model = Shared()
    model(np.ones((2, 3, 2), np.float32))
    assert _row(_summary(model), model.flat)[2] == "multiple"


def test_sequential_is_built_at_construction_from_input_shape():
    model = ft.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
    assert model.built and all(layer.built for layer in model.layers)
    assert model.input_shape == (None, 3) and model.output_shape == (None, 2)
    lazy = ft.Sequential([layers.Dense(4), layers.Dense(2)])
    assert not lazy.built and lazy.weights == []
    lazy(np.ones((1, 3), np.float32))
    assert lazy.built and [tuple(w.shape) for w in lazy.weights] == [
        tuple(w.shape) for w in model.weights]


@pytest.mark.parametrize("start", [
    lambda: ft.keras.Input(shape=(3,)),
    lambda: ft.keras.layers.InputLayer(input_shape=(3,)),
    lambda: ft.keras.Input(batch_shape=(None, 3)),
], ids=["Input", "InputLayer", "batch_shape"])
def test_sequential_starting_with_an_input(start):
    model = ft.Sequential([start(), layers.Dense(2)])
    assert model.built and len(model.layers) == 1
    assert [tuple(w.shape) for w in model.weights] == [(3, 2), (2,)]


def test_sequential_add_pop():
    model = ft.Sequential(name="stack")
    model.add(layers.Dense(4, input_shape=(3,)))
    model.add(layers.Dense(5))
    assert model.output_shape == (None, 5) and model.layers[1].built
    top = model.pop()
    assert top.units == 5 and model.output_shape == (None, 4)
    model.add(layers.Dense(6))
    assert model(np.ones((2, 3), np.float32)).shape == (2, 6)
    model.pop()
    model.pop()
    with pytest.raises(TypeError, match="no layers"):
        model.pop()


def test_sequential_get_config_round_trip():
    model = ft.Sequential([layers.Dense(4, activation="relu", input_shape=(3,)),
                           layers.Dense(2)])
    config = model.get_config()
    assert [c["class_name"] for c in config["layers"]] == ["Dense", "Dense"]
    ft.keras.backend.clear_session()
    clone = ft.Sequential.from_config(config)
    clone.build((None, 3))
    assert [tuple(w.shape) for w in clone.weights] == [tuple(w.shape) for w in model.weights]
    assert clone.layers[0].activation is model.layers[0].activation


@pytest.mark.parametrize("bad, error, match", [
    (lambda: ft.Sequential([np.ones(3)]), TypeError, "must be an instance of ft.layers.Layer"),
    (lambda: ft.Sequential([layers.Dense(2, name="d"), layers.Dense(2, name="d")]),
     ValueError, "unique names"),
    (lambda: ft.Sequential([layers.Dense(2), ft.keras.Input(shape=(2,))]), ValueError,
     "input layer can only start"),
    (lambda: ft.Model(ft.keras.Input(shape=(2,)), None), NotImplementedError,
     "no functional API"),
    (lambda: layers.Dense(2)(ft.keras.Input(shape=(2,))), TypeError, "no functional API"),
    (lambda: ft.Sequential([layers.Dense(2)]).build(), ValueError, "needs the input shape"),
    (lambda: Tower().build(), ValueError, "needs the input shape"),
], ids=["not-a-layer", "duplicate-name", "late-input", "functional", "call-on-input",
        "sequential-build", "model-build"])
def test_model_errors(bad, error, match):
    with pytest.raises(error, match=match):
        bad()


@pytest.mark.parametrize("path, obj", [
    ("Model", ft_models.Model), ("Sequential", ft_models.Sequential),
    ("models.Model", ft_models.Model), ("models.Sequential", ft_models.Sequential),
    ("Input", layers.Input), ("layers.Input", layers.Input),
    ("layers.InputLayer", layers.InputLayer), ("InputLayer", layers.InputLayer),
    ("callbacks.Callback", ft.callbacks.Callback),
    ("callbacks.EarlyStopping", ft.callbacks.EarlyStopping),
    ("callbacks.LearningRateScheduler", ft.callbacks.LearningRateScheduler),
    ("callbacks.History", ft.callbacks.History),
    ("callbacks.CallbackList", ft.callbacks.CallbackList),
])
def test_keras_paths(path, obj):
    value = ft.keras
    for part in path.split("."):
        value = getattr(value, part)
    assert value is obj


def test_top_level_names():
    assert ft.Model is ft.keras.Model and ft.Sequential is ft.keras.Sequential
    assert ft.callbacks is ft.keras.callbacks and ft.keras.models is ft_models
