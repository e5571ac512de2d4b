"""Losses (`ft.losses`, also `ft.keras.losses`), Keras's names and formulas.

Each loss is a function of (y_true, y_pred) returning one value per sample
(the mean over the last axis, or the cross-entropy over the class axis), and
a class whose call reduces those values with optional sample weights:
`reduction="sum_over_batch_size"` (the default: the sum of the weighted
losses over their number of elements, Keras's), `"sum"` or `"none"`.

They are compositions of ops of the table, so they are differentiable to any
order and build in graphs.

>>> import fasttape as ft
>>> mse = ft.losses.MeanSquaredError()
>>> float(mse([[0.0, 1.0]], [[1.0, 1.0]]))
0.5
>>> ft.losses.mean_squared_error([[0.0, 1.0]], [[1.0, 1.0]])
<ft.Tensor shape=(1,) dtype=float32 numpy=[0.5]>
"""

import numpy as np

from fasttape import nn as _nn
from fasttape._core import core as _core
from fasttape.ops.array_ops import cast, expand_dims, size, squeeze, transpose
from fasttape.ops.math_ops import (
    abs,
    clip_by_value,
    log,
    maximum,
    reduce_mean,
    reduce_sum,
    square,
    where,
)

Tensor = _core.Tensor

#: Keras's backend epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON]
EPSILON = 1e-7

REDUCTIONS = ("sum_over_batch_size", "sum", "none")


# --- arguments ------------------------------------------------------------------------


def _tensor(x, dtype=None):
    return x if isinstance(x, Tensor) else _core.convert_to_tensor(x, dtype)


def _known(shape):
    return not _core.staging() and all(d is not None for d in shape)


def _prediction(fn, y_pred):
    y_pred = _tensor(y_pred)
    if not np.issubdtype(y_pred.dtype, np.floating):
        raise TypeError(f"{fn}: y_pred must be floating point, got dtype {y_pred.dtype} "
                        f"(shape {tuple(y_pred.shape)})")
    return y_pred


def _pair(fn, y_true, y_pred):
    """(y_true cast to y_pred's dtype, y_pred), checked to broadcast."""
    y_pred = _prediction(fn, y_pred)
    y_true = _tensor(y_true)
    if y_true.dtype != y_pred.dtype:
        y_true = cast(y_true, y_pred.dtype)
    if _known(y_true.shape) and _known(y_pred.shape):
        try:
            np.broadcast_shapes(tuple(y_true.shape), tuple(y_pred.shape))
        except ValueError:
            raise ValueError(
                f"{fn}: y_true of shape {tuple(y_true.shape)} and y_pred of shape "
                f"{tuple(y_pred.shape)} do not broadcast") from None
    return y_true, y_pred


def _class_axis(fn, y_pred, axis):
    n = len(y_pred.shape)
    if n == 0 or not -n <= axis < n:
        raise ValueError(f"{fn}: axis {axis} is out of range for y_pred of shape "
                         f"{tuple(y_pred.shape)}")
    return axis % n


# --- the functions ----------------------------------------------------------------------


def mean_squared_error(y_true, y_pred):
    """mean((y_pred - y_true) ** 2) over the last axis."""
    y_true, y_pred = _pair("mean_squared_error", y_true, y_pred)
    return reduce_mean(square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """mean(|y_pred - y_true|) over the last axis."""
    y_true, y_pred = _pair("mean_absolute_error", y_true, y_pred)
    return reduce_mean(abs(y_pred - y_true), axis=-1)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """-sum(y_true * log(p)) over `axis`, p = softmax(y_pred) with `from_logits`,
    else y_pred scaled to sum to 1 and clipped to [EPSILON, 1 - EPSILON] (Keras).
    `label_smoothing` s replaces y_true by y_true * (1 - s) + s / num_classes."""
    fn = "categorical_crossentropy"
    y_true, y_pred = _pair(fn, y_true, y_pred)
    axis = _class_axis(fn, y_pred, axis)
    if label_smoothing:
        n = y_pred.shape[axis]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / n
    if from_logits:
        return _nn.softmax_cross_entropy_with_logits(labels=y_true, logits=y_pred, axis=axis)
    p = y_pred / reduce_sum(y_pred, axis, keepdims=True)
    p = clip_by_value(p, EPSILON, 1.0 - EPSILON)
    return -reduce_sum(y_true * log(p), axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, axis=-1):
    """categorical_crossentropy with integer class labels: y_true has y_pred's
    shape without the class axis (or with it of size 1)."""
    fn = "sparse_categorical_crossentropy"
    y_pred = _prediction(fn, y_pred)
    axis = _class_axis(fn, y_pred, axis)
    n = len(y_pred.shape)
    if axis != n - 1:
        y_pred = transpose(y_pred, [i for i in range(n) if i != axis] + [axis])
    y_true = _tensor(y_true)
    if len(y_true.shape) == n and y_true.shape[-1] == 1:
        y_true = squeeze(y_true, -1)
    if np.issubdtype(y_true.dtype, np.floating):
        y_true = cast(y_true, np.int64)
    elif not np.issubdtype(y_true.dtype, np.integer):
        raise TypeError(f"{fn}: y_true must hold class indices, got dtype {y_true.dtype}")
    if _known(y_true.shape) and _known(y_pred.shape) and \
            tuple(y_true.shape) != tuple(y_pred.shape[:-1]):
        raise ValueError(f"{fn}: y_true of shape {tuple(y_true.shape)} does not match y_pred "
                         f"of shape {tuple(y_pred.shape)} (expected {tuple(y_pred.shape[:-1])})")
    if not from_logits:
        y_pred = log(clip_by_value(y_pred, EPSILON, 1.0 - EPSILON))
    return _nn.sparse_softmax_cross_entropy_with_logits(labels=y_true, logits=y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """The mean over `axis` of -(y log p + (1 - y) log(1 - p)), p = sigmoid(y_pred)
    with `from_logits` (computed stably), else y_pred clipped to
    [EPSILON, 1 - EPSILON] with EPSILON added inside the logs (Keras).
    `label_smoothing` s replaces y_true by y_true * (1 - s) + s / 2."""
    fn = "binary_crossentropy"
    y_true, y_pred = _pair(fn, y_true, y_pred)
    axis = _class_axis(fn, y_pred, axis)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        bce = _nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=y_pred)
    else:
        p = clip_by_value(y_pred, EPSILON, 1.0 - EPSILON)
        bce = -(y_true * log(p + EPSILON) + (1.0 - y_true) * log(1.0 - p + EPSILON))
    return reduce_mean(bce, axis=axis)


def huber(y_true, y_pred, delta=1.0):
    """The mean over the last axis of 0.5 * e**2 where |e| <= delta, else
    delta * |e| - 0.5 * delta**2 (e = y_pred - y_true)."""
    y_true, y_pred = _pair("huber", y_true, y_pred)
    delta = float(delta)
    error = y_pred - y_true
    abs_error = abs(error)
    loss = where(abs_error <= delta, square(error) * 0.5, abs_error * delta - 0.5 * delta ** 2)
    return reduce_mean(loss, axis=-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error


# --- reduction ------------------------------------------------------------------------------


def _squeeze_or_expand(a, b):
    """Keras's squeeze_or_expand_dimensions for (y_true, y_pred): when their
    ranks differ by one and the longer one ends in a dimension of 1, that
    dimension is dropped."""
    ra, rb = len(a.shape), len(b.shape)
    if ra == rb + 1 and a.shape[-1] == 1:
        a = squeeze(a, -1)
    elif rb == ra + 1 and b.shape[-1] == 1:
        b = squeeze(b, -1)
    return a, b


def _weighted(name, losses, sample_weight):
    if sample_weight is None:
        return losses
    w = _tensor(sample_weight)
    if w.dtype != losses.dtype:
        w = cast(w, losses.dtype)
    rw, rl = len(w.shape), len(losses.shape)
    if rw and rw == rl + 1 and w.shape[-1] == 1:
        w = squeeze(w, -1)
    elif rw and rl == rw + 1:
        w = expand_dims(w, -1)
    if _known(w.shape) and _known(losses.shape):
        try:
            np.broadcast_shapes(tuple(w.shape), tuple(losses.shape))
        except ValueError:
            raise ValueError(f"{name}: sample_weight of shape {tuple(np.shape(sample_weight))} "
                             f"does not broadcast to the losses of shape "
                             f"{tuple(losses.shape)}") from None
    return losses * w


def _reduce(name, losses, reduction):
    if reduction == "none":
        return losses
    total = reduce_sum(losses)
    if reduction == "sum":
        return total
    return total / maximum(cast(size(losses), losses.dtype), 1.0)


def _check_reduction(cls, reduction):
    reduction = "sum_over_batch_size" if reduction == "auto" else reduction
    if reduction not in REDUCTIONS:
        raise ValueError(f"{cls}: invalid reduction {reduction!r}; expected one of "
                         f"{list(REDUCTIONS)}")
    return reduction


# --- the classes ------------------------------------------------------------------------


class Loss:
    """Base class: `loss(y_true, y_pred, sample_weight=None)` computes
    `call(y_true, y_pred)` (one value per sample), multiplies by the sample
    weights and reduces as `reduction` says."""

    def __init__(self, reduction="sum_over_batch_size", name=None):
        self.reduction = _check_reduction(type(self).__name__, reduction)
        self.name = name or type(self).__name__

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must define call(y_true, y_pred)")

    def __call__(self, y_true, y_pred, sample_weight=None):
        losses = self.call(y_true, y_pred)
        return _reduce(self.name, _weighted(self.name, losses, sample_weight), self.reduction)

    def get_config(self):
        return {"reduction": self.reduction, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<ft.losses.{type(self).__name__} name={self.name!r}>"


class LossFunctionWrapper(Loss):
    """A Loss from a function fn(y_true, y_pred, **kwargs)."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, **kwargs):
        super().__init__(reduction, name or getattr(fn, "__name__", None))
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_pred = _tensor(y_pred)
        y_true = _tensor(y_true)
        y_pred, y_true = _squeeze_or_expand(y_pred, y_true)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


class MeanSquaredError(LossFunctionWrapper):
    """mean_squared_error, reduced."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(mean_squared_error, reduction, name)


class MeanAbsoluteError(LossFunctionWrapper):
    """mean_absolute_error, reduced."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(mean_absolute_error, reduction, name)


class CategoricalCrossentropy(LossFunctionWrapper):
    """categorical_crossentropy (one-hot or soft labels), reduced.

    >>> import fasttape as ft
    >>> cce = ft.losses.CategoricalCrossentropy(from_logits=True)
    >>> round(float(cce([[0.0, 1.0]], [[0.0, 0.0]])), 4)
    0.6931
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy"):
        super().__init__(categorical_crossentropy, reduction, name, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """sparse_categorical_crossentropy (integer labels), reduced.

    >>> import fasttape as ft
    >>> scce = ft.losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> round(float(scce([1, 0], [[0.0, 0.0], [0.0, 0.0]])), 4)
    0.6931
    """

    def __init__(self, from_logits=False, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy"):
        super().__init__(sparse_categorical_crossentropy, reduction, name,
                         from_logits=from_logits)


class BinaryCrossentropy(LossFunctionWrapper):
    """binary_crossentropy, reduced."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy"):
        super().__init__(binary_crossentropy, reduction, name, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)


class Huber(LossFunctionWrapper):
    """huber, reduced."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss"):
        super().__init__(huber, reduction, name, delta=delta)


# --- names ------------------------------------------------------------------------------

_CLASSES = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "huber": Huber, "huber_loss": Huber,
}
_CLASSES.update({c.__name__.lower(): c for c in set(_CLASSES.values())})


def serialize(loss):
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config):
    cls = _CLASSES.get(str(config.get("class_name", "")).lower())
    if cls is None:
        raise ValueError(f"ft.losses.deserialize: unknown loss {config.get('class_name')!r}")
    return cls.from_config(config.get("config", {}))


def get(identifier):
    """A loss from a Keras name: "mse", "sparse_categorical_crossentropy",
    "CategoricalCrossentropy"... (case-insensitive) gives a new instance of the
    class (it reduces and takes sample weights, as `compile` needs); a Loss or
    any other callable is returned as is; None gives None."""
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        cls = _CLASSES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"ft.losses.get: unknown loss {identifier!r}; known: "
                             f"{sorted(k for k in _CLASSES if k.islower() and '_' in k)}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(f"ft.losses.get: cannot interpret {identifier!r} as a loss")
