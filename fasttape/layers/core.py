"""Dense, Activation, Flatten, Reshape, Dropout, Embedding."""

import numpy as np

from fasttape import activations as _activations
from fasttape import initializers as _initializers
from fasttape import regularizers as _regularizers
from fasttape.layers.base import InputSpec, Layer
from fasttape.ops import array_ops as _array
from fasttape.ops import linalg_ops as _la
from fasttape.ops import nn_ops as _nn


def _last_dim(layer, input_shape, what="the last dimension of the input"):
    last = input_shape[-1] if len(input_shape) else None
    if last is None:
        raise ValueError(f'layer "{layer.name}": {what} must be known to build it, got input '
                         f"shape {tuple(input_shape.as_list())}")
    return int(last)


def _positive_int(layer_cls, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{layer_cls}: {name} must be a positive integer, got {value!r}")
    return int(value)


class Dense(Layer):
    """`activation(inputs @ kernel + bias)` (Keras's Dense): the kernel is
    (input_dim, units); inputs of rank > 2 are contracted on their last axis.

    >>> import fasttape as ft
    >>> layer = ft.layers.Dense(4, activation="relu")
    >>> layer(ft.ones((2, 3))).shape
    (2, 4)
    >>> [v.shape for v in layer.weights]
    [(3, 4), (4,)]
    """

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.units = _positive_int("Dense", "units", units)
        self.activation = _activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self.kernel_constraint, self.bias_constraint = kernel_constraint, bias_constraint
        self.input_spec = InputSpec(min_ndim=2)

    def build(self, input_shape):
        last = _last_dim(self, input_shape)
        self.kernel = self.add_weight("kernel", (last, self.units),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = (self.add_weight("bias", (self.units,), initializer=self.bias_initializer,
                                     regularizer=self.bias_regularizer,
                                     constraint=self.bias_constraint)
                     if self.use_bias else None)
        self.input_spec = InputSpec(min_ndim=2, axes={-1: last})
        self.built = True

    def call(self, inputs):
        if len(inputs.shape) == 2:
            y = _la.matmul(inputs, self.kernel)
        else:
            y = _la.tensordot(inputs, self.kernel, [[len(inputs.shape) - 1], [0]])
        if self.use_bias:
            y = _nn.bias_add(y, self.bias)
        y = self.activation(y)
        if self.activity_regularizer is not None:
            self.add_loss(self.activity_regularizer(y) / y.shape[0])
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": _activations.serialize(self.activation), "use_bias": self.use_bias}


class Activation(Layer):
    """Applies an activation (a Keras name or a callable).

    >>> import fasttape as ft
    >>> ft.layers.Activation("relu")(ft.constant([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = _activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class Flatten(Layer):
    """Reshapes (batch, ...) to (batch, prod(...)) (channels_last only).

    >>> import fasttape as ft
    >>> ft.layers.Flatten()(ft.ones((2, 3, 4))).shape
    (2, 12)
    """

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        _channels_last("Flatten", data_format)
        self.input_spec = InputSpec(min_ndim=1)

    def call(self, inputs):
        if len(inputs.shape) == 1:
            return _array.expand_dims(inputs, 1)
        batch, rest = inputs.shape[0], tuple(inputs.shape[1:])
        if batch is None:  # a traced batch of any size
            if None in rest:  # the size too: Note [Dynamic reshape]
                return _array.reshape(inputs, [_array.shape(inputs)[0], -1])
            return _array.reshape(inputs, (-1, int(np.prod(rest))))
        return _array.reshape(inputs, (batch, -1))

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        rest = shape[1:]
        return (shape[0], None if None in rest else int(np.prod(rest)))


class Reshape(Layer):
    """Reshapes (batch, ...) to (batch, *target_shape); one entry may be -1.

    >>> import fasttape as ft
    >>> ft.layers.Reshape((3, 2))(ft.ones((4, 6))).shape
    (4, 3, 2)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in target_shape) > 1 or any(d < -1 or d == 0
                                                          for d in target_shape):
            raise ValueError(f"Reshape: target_shape must have positive sizes and at most one "
                             f"-1, got {target_shape}")
        self.target_shape = target_shape

    def call(self, inputs):
        if None in tuple(inputs.shape[1:]):  # checked when run: Note [Dynamic reshape]
            return _array.reshape(inputs, [_array.shape(inputs)[0], *self.target_shape])
        size = int(np.prod(inputs.shape[1:]))
        known = int(np.prod([d for d in self.target_shape if d != -1]))
        if (-1 in self.target_shape and size % known) or (
                -1 not in self.target_shape and size != known):
            raise ValueError(f'layer "{self.name}": cannot reshape an input of shape '
                             f"{tuple(inputs.shape)} (batch, then {size} values) to "
                             f"(batch, *{self.target_shape})")
        target = tuple(size // known if d == -1 else d for d in self.target_shape)
        batch = inputs.shape[0]
        return _array.reshape(inputs, (-1 if batch is None else batch,) + target)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class Dropout(Layer):
    """In training (`training=True`), zeroes each input element with
    probability `rate` and scales the rest by 1/(1 - rate); the identity in
    inference. `noise_shape` as in `ft.nn.dropout` (None entries take the
    input's size). With `seed`, call n uses seed + n: reproducible, and a new
    mask each call (as Keras).

    >>> import fasttape as ft
    >>> d = ft.layers.Dropout(0.5)
    >>> d(ft.ones((2, 2))).numpy()  # inference: unchanged
    array([[1., 1.],
           [1., 1.]], dtype=float32)
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        rate = float(rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1], got {rate}")
        self.rate, self.noise_shape, self.seed = rate, noise_shape, seed
        self._calls = 0

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        if self.rate == 1.0:
            return inputs * 0.0
        noise_shape = None
        if self.noise_shape is not None:
            noise_shape = tuple(inputs.shape[i] if d is None else d
                                for i, d in enumerate(self.noise_shape))
        seed = None if self.seed is None else self.seed + self._calls
        self._calls += 1
        return _nn.dropout(inputs, self.rate, noise_shape=noise_shape, seed=seed)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape,
                "seed": self.seed}


class Embedding(Layer):
    """Looks up rows of an (input_dim, output_dim) table for integer ids
    (Keras's Embedding; ids outside [0, input_dim) raise).

    >>> import fasttape as ft
    >>> e = ft.layers.Embedding(10, 3)
    >>> e(ft.constant([[1, 2], [3, 4]])).shape
    (2, 2, 3)
    """

    _autocast = False  # ids keep their dtype

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, activity_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = _positive_int("Embedding", "input_dim", input_dim)
        self.output_dim = _positive_int("Embedding", "output_dim", output_dim)
        self.embeddings_initializer = _initializers.get(embeddings_initializer)
        self.embeddings_regularizer = _regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = embeddings_constraint
        if mask_zero:
            raise ValueError("Embedding: mask_zero=True is not supported (fasttape's layers have "
                             "no masks yet); pad with an id whose row you ignore instead")
        self.mask_zero = False
        self.input_length = input_length

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        self.built = True

    def call(self, inputs):
        ids = inputs
        if ids.dtype.kind not in "iu":
            if ids.dtype.kind == "f":
                ids = _array.cast(ids, "int32")  # Keras casts float ids
            else:
                raise TypeError(f'layer "{self.name}": ids must be integers, got dtype '
                                f"{ids.dtype.name}")
        return _nn.embedding_lookup(self.embeddings, ids)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim, "mask_zero": self.mask_zero}


def _channels_last(layer_cls, data_format):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{layer_cls}: data_format {data_format!r} is not supported; fasttape's "
                         "layers are channels_last only (NHWC): transpose the input instead")
    return "channels_last"
