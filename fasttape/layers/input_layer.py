"""`InputLayer` and `Input` (Keras's): the shape and dtype of a model's input,
for `ft.Sequential([ft.keras.Input(shape=(4,)), ...])`."""

from fasttape.layers.base import Layer
from fasttape.tensor_shape import TensorShape


class InputLayer(Layer):
    """The input of a Sequential model: it holds the batch input shape (batch
    dim None unless `batch_size`) and dtype, and passes inputs through.

    >>> import fasttape as ft
    >>> ft.keras.layers.InputLayer(input_shape=(3,)).batch_input_shape
    (None, 3)
    """

    def __init__(self, input_shape=None, batch_size=None, dtype=None, name=None,
                 batch_input_shape=None, batch_shape=None, shape=None, **kwargs):
        for unsupported in ("sparse", "ragged", "input_tensor", "type_spec"):
            if kwargs.pop(unsupported, None):
                raise ValueError(f"InputLayer: {unsupported}= is not supported")
        input_shape = shape if input_shape is None else input_shape
        batch_input_shape = batch_shape if batch_input_shape is None else batch_input_shape
        if batch_input_shape is None:
            if input_shape is None:
                raise ValueError("InputLayer: give input_shape (the shape without the batch "
                                 "dim) or batch_input_shape")
            if isinstance(input_shape, int):
                input_shape = (input_shape,)
            batch_input_shape = (batch_size,) + tuple(input_shape)
        super().__init__(name=name, dtype=dtype, **kwargs)
        self._batch_input_shape = tuple(None if d is None else int(d)
                                        for d in batch_input_shape)
        self.built = True

    @property
    def batch_input_shape(self):
        return self._batch_input_shape

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "batch_input_shape": self._batch_input_shape}


class KerasInput:
    """What `ft.keras.Input` returns: a model input's `shape` (batch dim None)
    and `dtype`. It starts a `Sequential`; fasttape has no functional API, so
    layers cannot be called on it."""

    def __init__(self, layer):
        self._input_layer = layer
        self.shape = TensorShape(layer.batch_input_shape)
        self.dtype = layer.dtype
        self.name = layer.name

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"ft.keras.Input {self.name!r} (shape {tuple(self.shape)}) is not a value: "
            "fasttape has no functional API (calling layers on Input() and Model(inputs, "
            "outputs)); start an ft.Sequential with it, or subclass ft.Model")

    def __repr__(self):
        return (f"<ft.keras.Input name={self.name!r} shape={tuple(self.shape)} "
                f"dtype={self.dtype.name}>")


def Input(shape=None, batch_size=None, name=None, dtype=None, batch_shape=None, **kwargs):  # noqa: N802
    """A model input of `shape` (without the batch dim), for `Sequential`.

    >>> import fasttape as ft
    >>> model = ft.Sequential([ft.keras.Input(shape=(4,)), ft.layers.Dense(2)])
    >>> model.built, [tuple(w.shape) for w in model.weights]
    (True, [(4, 2), (2,)])
    """
    return KerasInput(InputLayer(input_shape=shape, batch_size=batch_size, name=name,
                                 dtype=dtype, batch_input_shape=batch_shape, **kwargs))
