"""`ft.keras.backend`: the few session-level helpers Keras code calls."""

from fasttape.layers.base import reset_layer_names as _reset_layer_names


def clear_session():
    """Resets the layer-name counts ('dense', 'dense_1', ... start over)."""
    _reset_layer_names()


def floatx():
    """The default float dtype of layers' weights: 'float32'."""
    return "float32"
