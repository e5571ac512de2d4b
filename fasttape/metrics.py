"""Metrics (`ft.metrics`, also `ft.keras.metrics`): stateful accumulators with
Keras's names and formulas.

Each metric keeps its state in non-trainable ft.Variables (`metric.variables`,
so checkpoints can save them), updated in place by `update_state(y_true,
y_pred, sample_weight=None)` without recording on any tape (See Note
[Unrecorded state updates] in fasttape/_state.py). `result()` is 0 before
any update and never NaN (every ratio is 0 when its denominator is 0, as
Keras's divide_no_nan); `reset_state()` zeroes the state; calling a metric
updates it and returns the result.

>>> import fasttape as ft
>>> m = ft.metrics.Mean()
>>> float(m.result())
0.0
>>> float(m([1.0, 2.0, 6.0]))
3.0
>>> acc = ft.metrics.SparseCategoricalAccuracy()
>>> float(acc([1, 0], [[0.2, 0.8], [0.3, 0.7]]))
0.5
"""

import re

import numpy as np

from fasttape import losses as _losses
from fasttape._core import core as _core
from fasttape._state import detached, state_variable
from fasttape.ops.array_ops import broadcast_to, cast, expand_dims, reshape, size, squeeze
from fasttape.ops.math_ops import (
    argmax,
    equal,
    greater,
    log,
    logical_and,
    logical_not,
    maximum,
    minimum,
    not_equal,
    reduce_mean,
    reduce_sum,
    sigmoid,
    where,
)

Tensor = _core.Tensor

#: Keras's backend epsilon (AUC's end thresholds are -EPSILON and 1 + EPSILON)
EPSILON = 1e-7


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def divide_no_nan(x, y):
    """x / y, and 0 where y == 0 (never NaN or inf from a zero denominator)."""
    zero = equal(y, 0)
    return where(zero, x * 0, x / where(zero, y * 0 + 1, y))


def _value(x, dtype=None):
    """An input of an update as an unwatched tensor (dtype: cast to it)."""
    t = detached(x)
    if dtype is not None and t.dtype != dtype:
        t = cast(t, dtype)
    return t


def _squeeze_or_expand(y_pred, y_true):
    ra, rb = len(y_pred.shape), len(y_true.shape)
    if ra == rb + 1 and y_pred.shape[-1] == 1:
        y_pred = squeeze(y_pred, -1)
    elif rb == ra + 1 and y_true.shape[-1] == 1:
        y_true = squeeze(y_true, -1)
    return y_pred, y_true


def _known(shape):
    return not _core.staging() and all(d is not None for d in shape)


# --- the base class ----------------------------------------------------------------------


class Metric:
    """Base class: subclasses make their state with `add_weight` and define
    `update_state(...)` and `result()`.

    Args:
        name: the metric's name (defaults to the class name in snake case).
        dtype: the dtype of the state and the result (float32).
    """

    def __init__(self, name=None, dtype=None):
        self.name = name or _snake(type(self).__name__)
        self.dtype = np.dtype(dtype or np.float32)
        if not np.issubdtype(self.dtype, np.floating):
            raise TypeError(f"{type(self).__name__}: dtype must be floating point, got "
                            f"{self.dtype}")
        self._variables = []

    def add_weight(self, name=None, shape=(), initializer="zeros", dtype=None,
                   aggregation=None, synchronization=None):
        """A non-trainable state variable (zeros), tracked in `variables`
        (`aggregation` and `synchronization` are accepted for Keras code and
        mean nothing here: there is one device)."""
        name = name or f"variable_{len(self._variables)}"
        if initializer not in ("zeros", None):
            raise ValueError(f"{type(self).__name__}.add_weight: only zeros initialize "
                             f"metric state, got {initializer!r}")
        v = state_variable(np.zeros(shape, dtype or self.dtype), f"{self.name}/{name}")
        self._variables.append(v)
        return v

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation=None,
                     name=None):
        """Keras 3's name for `add_weight`."""
        return self.add_weight(name, shape, initializer, dtype, aggregation)

    @property
    def variables(self):
        """The state variables, in creation order."""
        return list(self._variables)

    non_trainable_variables = variables

    def _trackable_children(self):
        """The state variables by name (Note [Object graph] in
        fasttape/train/checkpoint.py)."""
        prefix = self.name + "/"
        return {(n[len(prefix):] if n.startswith(prefix) else n): v
                for v in self._variables for n in [v.name.rsplit(":", 1)[0]]}

    @property
    def trainable_variables(self):
        return []

    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must define result")

    def reset_state(self):
        """Zeroes the state (as before any update)."""
        for v in self._variables:
            v.assign(np.zeros(v.shape, v.dtype))

    def reset_states(self):
        """Alias of `reset_state` (TensorFlow's earlier name)."""
        self.reset_state()

    def __call__(self, *args, **kwargs):
        """Updates the state and returns the result."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<ft.metrics.{type(self).__name__} name={self.name!r}>"


# --- reductions ----------------------------------------------------------------------------


class _Reduce(Metric):
    _WEIGHTED_MEAN = True

    def __init__(self, name=None, dtype=None):
        super().__init__(name, dtype)
        self.total = self.add_weight("total")
        if self._WEIGHTED_MEAN:
            self.count = self.add_weight("count")

    def update_state(self, values, sample_weight=None):
        """Adds `values` (times `sample_weight`, which broadcasts to them or
        weighs their leading axes) to the state."""
        values = _value(values, self.dtype)
        if sample_weight is None:
            self.total.assign_add(reduce_sum(values))
            if self._WEIGHTED_MEAN:
                self.count.assign_add(cast(size(values), self.dtype))
            return
        w = _value(sample_weight, self.dtype)
        values, w = _weights_for(type(self).__name__, values, w, self._WEIGHTED_MEAN)
        self.total.assign_add(reduce_sum(values * w))
        if self._WEIGHTED_MEAN:
            self.count.assign_add(reduce_sum(w + values * 0))  # w broadcast to values

    def result(self):
        if self._WEIGHTED_MEAN:
            return divide_no_nan(detached(self.total), detached(self.count))
        return detached(self.total) + 0  # a new tensor, not the variable's array


def _weights_for(cls, values, w, mean):
    """Keras's rule: drop or add a trailing 1 on the weights when their rank is
    one off; if they still do not broadcast to the values, the values are
    reduced (mean, or sum for Sum) over their trailing axes to the weights' rank."""
    rv, rw = len(values.shape), len(w.shape)
    if rw and rw == rv + 1 and w.shape[-1] == 1:
        w = squeeze(w, -1)
    elif rw and rv == rw + 1 and values.shape[-1] != 1 and \
            tuple(w.shape) == tuple(values.shape[:rw]):
        w = expand_dims(w, -1)
    if _known(w.shape) and _known(values.shape):
        try:
            shape = np.broadcast_shapes(tuple(w.shape), tuple(values.shape))
            if shape != tuple(values.shape):
                raise ValueError
        except ValueError:
            rw = len(w.shape)
            if rw < len(values.shape) and tuple(values.shape[:rw]) == tuple(w.shape):
                axes = list(range(rw, len(values.shape)))
                values = (reduce_mean if mean else reduce_sum)(values, axis=axes)
            else:
                raise ValueError(
                    f"{cls}.update_state: sample_weight of shape {tuple(w.shape)} does not "
                    f"match values of shape {tuple(values.shape)}") from None
    return values, w


class Mean(_Reduce):
    """The (weighted) mean of all values seen: sum(w * x) / sum(w)."""

    def __init__(self, name="mean", dtype=None):
        super().__init__(name, dtype)


class Sum(_Reduce):
    """The (weighted) sum of all values seen."""

    _WEIGHTED_MEAN = False

    def __init__(self, name="sum", dtype=None):
        super().__init__(name, dtype)


# --- per-sample functions and their means ----------------------------------------------------


def accuracy(y_true, y_pred):
    """1.0 where y_pred equals y_true, else 0.0 (elementwise)."""
    y_true, y_pred = _value(y_true), _value(y_pred)
    if y_pred.dtype != y_true.dtype:
        y_pred = cast(y_pred, y_true.dtype)
    return cast(equal(y_true, y_pred), np.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """The mean over the last axis of (y_pred > threshold) == y_true."""
    y_true, y_pred = _value(y_true), _value(y_pred)
    y_pred = cast(greater(y_pred, threshold), y_pred.dtype)
    if y_true.dtype != y_pred.dtype:
        y_true = cast(y_true, y_pred.dtype)
    return reduce_mean(cast(equal(y_true, y_pred), np.float32), axis=-1)


def categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_pred) == argmax(y_true) over the last axis."""
    y_true, y_pred = _value(y_true), _value(y_pred)
    return cast(equal(argmax(y_true, -1), argmax(y_pred, -1)), np.float32)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_pred) over the last axis equals the integer label y_true."""
    y_true, y_pred = _value(y_true), _value(y_pred)
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
        y_true = squeeze(y_true, -1)
    pred = argmax(y_pred, -1)
    if pred.dtype != y_true.dtype:
        pred = cast(pred, y_true.dtype)
    return cast(equal(y_true, pred), np.float32)


class MeanMetricWrapper(Mean):
    """The weighted mean of fn(y_true, y_pred, **kwargs) over all samples seen."""

    #: fn averages over the last axis (binary_accuracy, mean_squared_error): 1-D
    #: inputs are then one value per sample (a column), so that per-sample
    #: weights apply, instead of being averaged into one value first
    _LAST_AXIS_IS_FEATURES = False

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        super().__init__(name or getattr(fn, "__name__", "mean"), dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _value(y_true, self.dtype), _value(y_pred, self.dtype)
        y_pred, y_true = _squeeze_or_expand(y_pred, y_true)
        if self._LAST_AXIS_IS_FEATURES and len(y_pred.shape) == 1:
            y_true, y_pred = expand_dims(y_true, -1), expand_dims(y_pred, -1)
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self):
        return {**super().get_config(), **self._fn_kwargs}


class Accuracy(MeanMetricWrapper):
    """How often y_pred equals y_true."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name, dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often (y_pred > threshold) equals y_true."""

    _LAST_AXIS_IS_FEATURES = True

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name, dtype, threshold=threshold)


class CategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) equals argmax(y_true) (one-hot labels)."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name, dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often argmax(y_pred) equals the integer label."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name, dtype)


class MeanSquaredError(MeanMetricWrapper):
    """The mean of mean_squared_error(y_true, y_pred) over the samples (1-D
    inputs: one value per sample)."""

    _LAST_AXIS_IS_FEATURES = True

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(_losses.mean_squared_error, name, dtype)


# --- confusion-matrix metrics ----------------------------------------------------------------


#: Keras's NEG_INF: with top_k, predictions outside the top k become this and
#: the default threshold is this (so exactly the top k are positive)
NEG_INF = -1e10


def _thresholds(cls, thresholds, default):
    if thresholds is None:
        return [default]
    t = [thresholds] if np.ndim(thresholds) == 0 else list(np.asarray(thresholds).ravel())
    for x in t:
        if not 0 <= x <= 1:
            raise ValueError(f"{cls}: thresholds must be in [0, 1], got {x!r}")
    return t


class _Confusion(Metric):
    """Weighted counts of true/false positives/negatives at each threshold
    (a prediction is positive when y_pred > threshold; y_true != 0 is a
    positive label), as Keras's update_confusion_matrix_variables."""

    def _setup(self, thresholds, class_id, kinds, top_k=None):
        self._thresh = np.asarray(thresholds, dtype=self.dtype)
        self.class_id = class_id
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"{type(self).__name__}: top_k must be a positive integer, got "
                             f"{top_k!r}")
        self.top_k = top_k
        self._kinds = kinds
        n = len(thresholds)
        for k in kinds:
            setattr(self, k, self.add_weight(k, shape=(n,)))

    def _check_range(self, y_pred):
        if _core.staging():
            return
        a = _core.tensor_value(y_pred)
        if a.size and (a.min() < 0 or a.max() > 1 or np.isnan(a).any()):
            raise ValueError(f"{type(self).__name__}.update_state: predictions must be in "
                             f"[0, 1], got values in [{a.min()}, {a.max()}] "
                             f"(shape {a.shape})")

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds the (weighted) counts of this batch."""
        cls = type(self).__name__
        y_true, y_pred = _value(y_true, self.dtype), _value(y_pred, self.dtype)
        if getattr(self, "_from_logits", False):
            y_pred = sigmoid(y_pred)
        self._check_range(y_pred)
        y_pred, y_true = _squeeze_or_expand(y_pred, y_true)
        if _known(y_true.shape) and _known(y_pred.shape) and \
                tuple(y_true.shape) != tuple(y_pred.shape):
            raise ValueError(f"{cls}.update_state: y_true of shape {tuple(y_true.shape)} and "
                             f"y_pred of shape {tuple(y_pred.shape)} differ")
        if self.top_k is not None:
            y_pred = _filter_top_k(y_pred, self.top_k)
        if self.class_id is not None:
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        pred = reshape(y_pred, [1, -1])
        label = reshape(not_equal(y_true, 0), [1, -1])
        thresh = _core.convert_to_tensor(self._thresh.reshape(-1, 1))
        pred_pos = greater(pred, thresh)            # (thresholds, samples)
        pred_neg = logical_not(pred_pos)
        label_neg = logical_not(label)
        w = None
        if sample_weight is not None:
            w = _value(sample_weight, self.dtype)
            if _known(w.shape) and _known(y_pred.shape):
                try:
                    np.broadcast_to(np.empty(tuple(w.shape), bool), tuple(y_pred.shape))
                except ValueError:
                    raise ValueError(
                        f"{cls}.update_state: sample_weight of shape {tuple(w.shape)} does "
                        f"not broadcast to y_pred of shape {tuple(y_pred.shape)}") from None
            if tuple(w.shape) != tuple(y_pred.shape):
                w = broadcast_to(w, y_pred.shape)
            w = reshape(w, [1, -1])
        conditions = {"true_positives": (label, pred_pos),
                      "false_positives": (label_neg, pred_pos),
                      "true_negatives": (label_neg, pred_neg),
                      "false_negatives": (label, pred_neg)}
        for k in self._kinds:
            hit = cast(logical_and(*conditions[k]), self.dtype)
            if w is not None:
                hit = hit * w
            getattr(self, k).assign_add(reduce_sum(hit, axis=1))

    def _single(self, r):
        return r[0] if len(self._thresh) == 1 and self._scalar else r


def _filter_top_k(x, k):
    """x with the entries outside the k largest of each row (last axis; ties go
    to the lower index, as top_k) set to NEG_INF."""
    n = x.shape[-1]
    xi, xj = expand_dims(x, -1), expand_dims(x, -2)   # [..., i, j]
    earlier = _core.convert_to_tensor(np.tri(n, n, -1, dtype=bool))  # j < i
    rank = reduce_sum(cast(greater(xj, xi), np.int32), -1) + reduce_sum(
        cast(logical_and(equal(xj, xi), earlier), np.int32), -1)
    return where(rank < k, x, x * 0 + NEG_INF)


class Precision(_Confusion):
    """tp / (tp + fp) at `thresholds` (default 0.5; a list gives one value per
    threshold); `top_k`: only the k largest predictions of each row count as
    positive (the default threshold is then NEG_INF); `class_id` restricts to
    one column of y_true/y_pred."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="precision",
                 dtype=None):
        super().__init__(name, dtype)
        self.thresholds = _thresholds("Precision", thresholds,
                                      0.5 if top_k is None else NEG_INF)
        self._scalar = thresholds is None or np.ndim(thresholds) == 0
        self._setup(self.thresholds, class_id, ("true_positives", "false_positives"), top_k)

    def result(self):
        tp = detached(self.true_positives)
        return self._single(divide_no_nan(tp, tp + detached(self.false_positives)))


class Recall(_Confusion):
    """tp / (tp + fn) at `thresholds` (default 0.5; a list gives one value per
    threshold); `top_k` and `class_id` as Precision's."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name="recall",
                 dtype=None):
        super().__init__(name, dtype)
        self.thresholds = _thresholds("Recall", thresholds, 0.5 if top_k is None else NEG_INF)
        self._scalar = thresholds is None or np.ndim(thresholds) == 0
        self._setup(self.thresholds, class_id, ("true_positives", "false_negatives"), top_k)

    def result(self):
        tp = detached(self.true_positives)
        return self._single(divide_no_nan(tp, tp + detached(self.false_negatives)))


class AUC(_Confusion):
    """The area under the ROC or precision-recall curve, Keras's Riemann sum
    over `num_thresholds` thresholds evenly spaced in [0, 1] (or the given
    `thresholds`, with -EPSILON and 1 + EPSILON added at the ends).

    curve: "ROC" or "PR". summation_method: "interpolation" (trapezoids for
    ROC; Davis & Goadrich's interpolation for PR), "minoring" or "majoring".
    from_logits: apply a sigmoid to y_pred first.
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name="auc", dtype=None, thresholds=None, multi_label=False,
                 from_logits=False):
        super().__init__(name, dtype)
        if multi_label:
            raise ValueError("AUC: multi_label=True is not supported (one curve over all "
                             "labels is computed)")
        self.curve = str(curve).upper()
        if self.curve not in ("ROC", "PR"):
            raise ValueError(f"AUC: curve must be 'ROC' or 'PR', got {curve!r}")
        self.summation_method = str(summation_method).lower()
        if self.summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError("AUC: summation_method must be 'interpolation', 'minoring' or "
                             f"'majoring', got {summation_method!r}")
        if thresholds is not None:
            inner = sorted(_thresholds("AUC", thresholds, None))
        else:
            if not isinstance(num_thresholds, int) or num_thresholds <= 1:
                raise ValueError(f"AUC: num_thresholds must be an integer > 1, got "
                                 f"{num_thresholds!r}")
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.thresholds = inner
        self.num_thresholds = len(inner) + 2
        self._from_logits = bool(from_logits)
        self._scalar = False
        self._setup([0.0 - EPSILON] + inner + [1.0 + EPSILON], None,
                    ("true_positives", "false_positives", "true_negatives", "false_negatives"))

    def result(self):
        tp, fp = detached(self.true_positives), detached(self.false_positives)
        tn, fn = detached(self.true_negatives), detached(self.false_negatives)
        n = self.num_thresholds
        if self.curve == "PR" and self.summation_method == "interpolation":
            dtp = tp[:n - 1] - tp[1:]
            p = tp + fp
            dp = p[:n - 1] - p[1:]
            slope = divide_no_nan(dtp, maximum(dp, 0))
            intercept = tp[1:] - slope * p[1:]
            both = logical_and(greater(p[:n - 1], 0), greater(p[1:], 0))
            ratio = where(both, divide_no_nan(p[:n - 1], maximum(p[1:], 0)), p[1:] * 0 + 1)
            return reduce_sum(divide_no_nan(slope * (dtp + intercept * log(ratio)),
                                            maximum(tp[1:] + fn[1:], 0)))
        recall = divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:n - 1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = minimum(y[:n - 1], y[1:])
        else:
            heights = maximum(y[:n - 1], y[1:])
        return reduce_sum((x[:n - 1] - x[1:]) * heights)


# --- names -------------------------------------------------------------------------------------

mse = MSE = mean_squared_error = _losses.mean_squared_error

_CLASSES = {
    "accuracy": Accuracy, "acc": Accuracy, "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "precision": Precision, "recall": Recall, "auc": AUC, "mean": Mean, "sum": Sum,
}
_CLASSES.update({c.__name__.lower(): c for c in set(_CLASSES.values())})


def get(identifier):
    """A metric from a Keras name ("accuracy", "sparse_categorical_accuracy",
    "AUC", ...; case-insensitive): a new instance, since metrics hold state.
    A Metric or any other callable is returned as is. (Keras's `compile`
    reads "accuracy" according to the loss; that choice is `compile`'s.)"""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        cls = _CLASSES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"ft.metrics.get: unknown metric {identifier!r}; known: "
                             f"{sorted(k for k in _CLASSES if k.islower())}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"ft.metrics.get: cannot interpret {identifier!r} as a metric")
