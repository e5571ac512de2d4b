"""BatchNormalization and LayerNormalization."""

from fasttape import initializers as _initializers
from fasttape import regularizers as _regularizers
from fasttape.layers.base import InputSpec, Layer
from fasttape.ops import array_ops as _array
from fasttape.ops import nn_ops as _nn

# Note [BatchNormalization]
# ~~~~~~~~~~~~~~~~~~~~~~~~~
# Keras's layer, exactly: momentum 0.99 and epsilon 1e-3 by default (PyTorch's
# momentum 0.1 is Keras's 0.9, and its epsilon is 1e-5). With training=True the
# batch's mean and (biased, population) variance normalise the input and the
# moving statistics are updated in place:
#     moving = moving * momentum + batch_stat * (1 - momentum)
# (the batch variance is the biased one, as Keras; PyTorch keeps the unbiased
# one). With training=False (the default outside fit) the moving statistics
# are used and nothing changes. A frozen layer (trainable=False) runs in
# inference mode even when training=True (TensorFlow 2's rule, for fine-tuning).
# The update is not recorded on tapes (the moving statistics are non-trainable
# and updated from stop_gradient'ed values).


def _axes(layer_cls, axis, rank):
    axes = [axis] if isinstance(axis, int) else list(axis)
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise ValueError(f"{layer_cls}: axis {axis} is out of range for inputs of rank {rank}")
        out.append(a % rank)
    if len(set(out)) != len(out):
        raise ValueError(f"{layer_cls}: axis {axis} repeats an axis")
    return sorted(out)


class BatchNormalization(Layer):
    """Normalises over the batch (and every axis but `axis`); see Note
    [BatchNormalization].

    >>> import fasttape as ft
    >>> bn = ft.layers.BatchNormalization()
    >>> y = bn(ft.constant([[1.0], [3.0]]), training=True)
    >>> [round(float(v), 3) for v in bn.moving_mean.numpy()]
    [0.02]
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        if synchronized:
            raise ValueError("BatchNormalization: synchronized=True needs several devices; "
                             "fasttape runs on one")
        self.axis = axis
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1], got {momentum}")
        if self.epsilon <= 0.0:
            raise ValueError(f"BatchNormalization: epsilon must be positive, got {epsilon}")
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.moving_mean_initializer = _initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = _initializers.get(moving_variance_initializer)
        self.beta_regularizer = _regularizers.get(beta_regularizer)
        self.gamma_regularizer = _regularizers.get(gamma_regularizer)
        self.beta_constraint, self.gamma_constraint = beta_constraint, gamma_constraint

    def build(self, input_shape):
        rank = len(input_shape)
        self._feature_axes = _axes("BatchNormalization", self.axis, rank)
        shape = []
        for a in self._feature_axes:
            if input_shape[a] is None:
                raise ValueError(f'layer "{self.name}": axis {a} of the input must be known, got '
                                 f"input shape {tuple(input_shape.as_list())}")
            shape.append(int(input_shape[a]))
        shape = tuple(shape)
        self._reduction_axes = [a for a in range(rank) if a not in self._feature_axes]
        # the parameters broadcast against the input: (C,) for the last axis,
        # else reshaped to rank dims with 1 on the reduced axes
        self._broadcast = (None if self._feature_axes == [rank - 1] else
                           tuple(input_shape[a] if a in self._feature_axes else 1
                                 for a in range(rank)))
        self.gamma = (self.add_weight("gamma", shape, initializer=self.gamma_initializer,
                                      regularizer=self.gamma_regularizer,
                                      constraint=self.gamma_constraint)
                      if self.scale else None)
        self.beta = (self.add_weight("beta", shape, initializer=self.beta_initializer,
                                     regularizer=self.beta_regularizer,
                                     constraint=self.beta_constraint)
                     if self.center else None)
        self.moving_mean = self.add_weight("moving_mean", shape,
                                           initializer=self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               initializer=self.moving_variance_initializer,
                                               trainable=False)
        self.input_spec = InputSpec(ndim=rank, axes={a: int(input_shape[a])
                                                     for a in self._feature_axes})
        self.built = True

    def _b(self, t):
        return t if t is None or self._broadcast is None else _array.reshape(t, self._broadcast)

    def call(self, inputs, training=None):
        if training and self.trainable:
            mean, variance = _nn.moments(inputs, self._reduction_axes)
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * m
                                    + _array.stop_gradient(mean) * (1.0 - m))
            self.moving_variance.assign(self.moving_variance * m
                                        + _array.stop_gradient(variance) * (1.0 - m))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return _nn.batch_normalization(inputs, self._b(mean), self._b(variance),
                                       self._b(self.beta), self._b(self.gamma), self.epsilon)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale}


class LayerNormalization(Layer):
    """Normalises each example over `axis` (default the last), then scales by
    gamma and shifts by beta (of the normalised axes' shape); Keras's epsilon 1e-3.

    >>> import fasttape as ft
    >>> ft.layers.LayerNormalization()(ft.constant([[1.0, 3.0]])).numpy().round(4)
    array([[-0.9995,  0.9995]], dtype=float32)
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = float(epsilon)
        if self.epsilon <= 0.0:
            raise ValueError(f"LayerNormalization: epsilon must be positive, got {epsilon}")
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = _initializers.get(beta_initializer)
        self.gamma_initializer = _initializers.get(gamma_initializer)
        self.beta_regularizer = _regularizers.get(beta_regularizer)
        self.gamma_regularizer = _regularizers.get(gamma_regularizer)
        self.beta_constraint, self.gamma_constraint = beta_constraint, gamma_constraint

    def build(self, input_shape):
        rank = len(input_shape)
        self._norm_axes = _axes("LayerNormalization", self.axis, rank)
        for a in self._norm_axes:
            if input_shape[a] is None:
                raise ValueError(f'layer "{self.name}": axis {a} of the input must be known, got '
                                 f"input shape {tuple(input_shape.as_list())}")
        shape = tuple(int(input_shape[a]) for a in self._norm_axes)
        # broadcast shape: the normalised axes' sizes, 1 elsewhere after the first
        first = self._norm_axes[0]
        self._broadcast = tuple(int(input_shape[a]) if a in self._norm_axes else 1
                                for a in range(first, rank))
        self.gamma = (self.add_weight("gamma", shape, initializer=self.gamma_initializer,
                                      regularizer=self.gamma_regularizer,
                                      constraint=self.gamma_constraint)
                      if self.scale else None)
        self.beta = (self.add_weight("beta", shape, initializer=self.beta_initializer,
                                     regularizer=self.beta_regularizer,
                                     constraint=self.beta_constraint)
                     if self.center else None)
        self.input_spec = InputSpec(ndim=rank, axes={a: int(input_shape[a])
                                                     for a in self._norm_axes})
        self.built = True

    def call(self, inputs):
        def b(t):
            return None if t is None else _array.reshape(t, self._broadcast)

        return _nn.layer_norm(inputs, axis=tuple(self._norm_axes), epsilon=self.epsilon,
                              gamma=b(self.gamma), beta=b(self.beta))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}
