"""`ft.activations` (also `ft.keras.activations`): Keras's activation functions.

Each is a function of a tensor computed with ops of the table; `get` turns a
Keras name ("relu", "softmax", "linear", ...), a callable or None into one.
"""

from fasttape.ops import math_ops as _math
from fasttape.ops import nn_ops as _nn


def linear(x):
    """The identity (Keras's "linear", and what None means)."""
    return x


def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    """max(x, 0), Keras's arguments: `alpha` the slope below `threshold`,
    `max_value` a cap."""
    if alpha == 0.0 and max_value is None and threshold == 0.0:
        return _math.relu(x)
    if threshold != 0.0:
        below = _math.less(x, threshold)
        y = _math.where(below, alpha * (x - threshold), x)
    else:
        y = _math.leaky_relu(x, alpha) if alpha != 0.0 else _math.relu(x)
    if max_value is not None:
        y = _math.minimum(y, max_value)
    return y


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    return _math.sigmoid(x)


def tanh(x):
    """The hyperbolic tangent."""
    return _math.tanh(x)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`."""
    return _nn.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    """log(softmax(x)) along `axis`."""
    return _nn.log_softmax(x, axis=axis)


def gelu(x, approximate=False):
    """x * Phi(x) (the tanh approximation with `approximate=True`)."""
    return _math.gelu(x, approximate=approximate)


def elu(x, alpha=1.0):
    """x for x > 0, alpha * (exp(x) - 1) below."""
    y = _math.elu(x)
    return y if alpha == 1.0 else _math.where(_math.greater(x, 0), y, alpha * y)


def selu(x):
    """The scaled ELU of Klambauer et al."""
    return _math.selu(x)


def softplus(x):
    """log(1 + exp(x))."""
    return _math.softplus(x)


def softsign(x):
    """x / (1 + |x|)."""
    return x / (_math.abs(x) + 1)


def swish(x):
    """x * sigmoid(x) (also "silu")."""
    return x * _math.sigmoid(x)


silu = swish


def relu6(x):
    """min(max(x, 0), 6)."""
    return _math.relu6(x)


def leaky_relu(x, alpha=0.2):
    """x for x > 0, alpha * x below (Keras's default alpha 0.2)."""
    return _math.leaky_relu(x, alpha)


def hard_sigmoid(x):
    """Keras's piecewise-linear sigmoid: clip(x / 6 + 0.5, 0, 1)."""
    return _math.clip_by_value(x / 6 + 0.5, 0, 1)


def exponential(x):
    """exp(x)."""
    return _math.exp(x)


_BY_NAME = {f.__name__: f for f in (
    linear, relu, sigmoid, tanh, softmax, log_softmax, gelu, elu, selu, softplus, softsign,
    swish, relu6, leaky_relu, hard_sigmoid, exponential)}
_BY_NAME["silu"] = swish


def get(identifier):
    """An activation from a Keras name, a callable, or None (-> `linear`)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier)
        if fn is None:
            raise ValueError(f"unknown activation {identifier!r}; known: {sorted(_BY_NAME)}")
        return fn
    if callable(identifier):
        return identifier
    raise TypeError(f"an activation must be a name, a callable or None, "
                    f"got {type(identifier).__name__}")


def serialize(activation):
    """The Keras name of a known activation, else its __name__."""
    return getattr(activation, "__name__", repr(activation))
