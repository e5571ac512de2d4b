"""`ft.Model` and `ft.Sequential` (also `ft.keras.Model`, `ft.keras.models`):
layers with Keras's training loop, `compile` / `fit` / `evaluate` / `predict`.

    model = ft.Sequential([ft.layers.Dense(32, activation="relu", input_shape=(4,)),
                           ft.layers.Dense(3)])
    model.compile("adam", ft.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=5, validation_split=0.2)

See docs/design.md, "Models and fit".
"""

import os
import sys
import warnings

import numpy as np

from fasttape import callbacks as _callbacks
from fasttape import losses as _losses
from fasttape import metrics as _metrics
from fasttape import nest as _nest
from fasttape import optimizers as _optimizers
from fasttape._core import core as _core
from fasttape.backprop import GradientTape
from fasttape.function import function
from fasttape.layers.base import Layer, sum_losses
from fasttape.layers.input_layer import InputLayer, KerasInput
from fasttape.ops import random_ops as _random
from fasttape.tensor_shape import TensorShape

Tensor = _core.Tensor

__all__ = ["Model", "Sequential"]

# Note [Traced train step]
# ~~~~~~~~~~~~~~~~~~~~~~~~
# `fit` runs one function per batch, `train_step(data)` (Keras's extension
# point: forward under a GradientTape, loss, `optimizer.minimize`, metric
# updates, returning {name: result}). Unless `compile(run_eagerly=True)` it
# is meant to run through `ft.function`: one trace per batch signature (the
# last, smaller batch makes a second one), the tape and the optimizer and
# metric updates inside the graph. Variables can only be made on a
# function's first trace (Note [Variables while tracing] in
# fasttape/function.py), and a retrace (the last, smaller batch) must not
# make slots, so before the first traced step `_prepare` builds everything eagerly: the model (a
# forward pass in inference mode on the first batch), the metrics whose kind
# depends on the shapes ("accuracy"), and the optimizer's slots. None of that
# changes a number: inference mode draws no random numbers and updates no
# statistics, and slots start at the same values either way, so both paths
# step identically.
# All three steps trace unless `run_eagerly` (the train step's GradientTape
# records into the step's graph: Note [Tapes in graphs] in
# fasttape/backprop.py).

# Note [Layers walked once per epoch]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# `trainable_variables` and `losses` walk the layer tree (Note [Layer
# tracking]): ~1 ms a step for a 7-layer convnet, more than the framework's
# whole budget. `fit` walks it once per epoch, after the epoch's first step
# (`_walk_cache`: the trainable variables and the layers; the first step
# may build the model), and the default train_step and compute_loss read
# that; a layer frozen or added by a batch hook counts from the next epoch. Outside fit (and in a
# custom train_step that reads `self.trainable_variables`) every step walks.

# Note [Model input signature]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# A model remembers the shapes (batch dim None) and dtypes of the input it
# was built with (`_input_signature`): from its first call, `build(shape)`,
# a Sequential's first layer's `input_shape` or an `Input`. `summary()` runs
# one inference-mode pass on zeros of that signature (batch 1) and records
# each direct sublayer's output shape as it returns; a layer called with
# several shapes shows "multiple".


def _verbose(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2, True, False):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def unpack_x_y_sample_weight(data):
    """(x, y, sample_weight) from a batch: a tuple (x,), (x, y) or (x, y,
    sample_weight) (lists count as tuples), or x alone (Keras's rule)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(f"a batch must be x, (x,), (x, y) or (x, y, sample_weight); got a tuple "
                     f"of {len(data)} elements")


def _pack_batch(x, y, sw):
    if y is None and sw is None:
        return (x,)
    if sw is None:
        return (x, y)
    return (x, y, sw)


# --- data ---------------------------------------------------------------------------------


def _is_array(v):
    return isinstance(v, (np.ndarray, Tensor))


def _as_array(v, what):
    if isinstance(v, Tensor):
        v = v.numpy()
    elif not isinstance(v, np.ndarray):
        v = np.asarray(v)
    if v.dtype == np.float64:
        v = v.astype(np.float32)  # Keras's floatx for NumPy inputs
    if v.ndim == 0:
        raise ValueError(f"{what}: expected arrays with a batch dimension, got a scalar")
    return v


def _array_like(x):
    """True for an array, a tensor, or a list/tuple/dict holding only those
    (or numbers): data to slice in batches; False for an iterable of batches
    (a dataset, a generator, a list of tuples)."""
    if _is_array(x):
        return True
    if isinstance(x, list) and x and all(isinstance(b, tuple) for b in x):
        return False  # a list of (x, y) batches
    if isinstance(x, (list, tuple, dict)):
        leaves = _nest.flatten(x)
        return bool(leaves) and all(
            _is_array(v) or isinstance(v, (int, float, bool, np.generic)) for v in leaves)
    return False


def _nested_arrays(x, what):
    if isinstance(x, (list, tuple)) and x and all(
            isinstance(v, (int, float, bool, np.generic)) for v in _nest.flatten(x)):
        return _as_array(x, what)  # a nested list of numbers is one array
    return _nest.pack_sequence_as(x, [_as_array(v, what) for v in _nest.flatten(x)])


def _to_tensors(structure):
    return _nest.pack_sequence_as(
        structure, [v if isinstance(v, Tensor) or v is None else _core.convert_to_tensor(v)
                    for v in _nest.flatten(structure)])


def _class_weights(class_weight, y, sw):
    """Per-sample weights from {class: weight} (labels: integers, or one-hot
    / probabilities on the last axis), times `sw`."""
    if class_weight is None:
        return sw
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class: weight}}, got "
                        f"{type(class_weight).__name__}")
    labels = y.numpy() if isinstance(y, Tensor) else np.asarray(y)
    if labels.ndim >= 2 and labels.shape[-1] > 1:
        labels = labels.argmax(-1)
    elif labels.ndim >= 2:
        labels = labels[..., 0]
    labels = labels.astype(np.int64)
    table = np.ones(max(max(class_weight) + 1, int(labels.max(initial=0)) + 1), np.float32)
    for k, v in class_weight.items():
        table[int(k)] = v
    w = table[labels]
    if sw is not None:
        w = w * (sw.numpy() if isinstance(sw, Tensor) else np.asarray(sw, np.float32))
    return w.astype(np.float32)


class _Data:
    """The batches of one run of fit/evaluate/predict: from arrays (sliced,
    shuffled each epoch) or from an iterable of batches (an ft.data.Dataset,
    a generator, a list of (x, y) tuples...).

    `epoch()` yields the batches of one epoch, each a tuple (x,), (x, y) or
    (x, y, sample_weight) of tensors; `steps` is the number per epoch when
    known; `exhausted` is True once a one-shot iterator ran out."""

    def __init__(self, fn, x, y=None, sample_weight=None, batch_size=None, shuffle=False,
                 steps=None, class_weight=None, need_y=True):
        self.fn = fn
        self.class_weight = class_weight
        self.exhausted = False
        self._steps_arg = None if steps is None else int(steps)
        if steps is not None and self._steps_arg <= 0:
            raise ValueError(f"{fn}: steps must be a positive integer, got {steps!r}")
        if x is None:
            raise ValueError(f"{fn}: no input data (x is None)")
        if _array_like(x):
            self.arrays = True
            if batch_size is None:
                batch_size = 32
            if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                    or batch_size <= 0:
                raise ValueError(f"{fn}: batch_size must be a positive integer, got "
                                 f"{batch_size!r}")
            self.batch_size = int(batch_size)
            self.x = _nested_arrays(x, fn)
            self.y = None if y is None else _nested_arrays(y, fn)
            self.sw = None if sample_weight is None else _as_array(sample_weight, fn)
            sizes = {name: [a.shape[0] for a in _nest.flatten(v)]
                     for name, v in (("x", self.x), ("y", self.y), ("sample_weight", self.sw))
                     if v is not None}
            all_sizes = {n for s in sizes.values() for n in s}
            if len(all_sizes) != 1:
                detail = "; ".join(f"{k} sizes: {', '.join(map(str, v))}"
                                   for k, v in sizes.items())
                raise ValueError(f"{fn}: data cardinality is ambiguous: {detail}. Make sure "
                                 "all arrays contain the same number of samples.")
            self.n = all_sizes.pop()
            if self.n == 0:
                raise ValueError(f"{fn}: expected input data to be non-empty")
            if shuffle not in (True, False, "batch"):
                raise ValueError(f"{fn}: shuffle must be True, False or 'batch', got "
                                 f"{shuffle!r}")
            self.shuffle = shuffle
            self._stream = None
            per_epoch = -(-self.n // self.batch_size)
            self.steps = self._steps_arg or per_epoch
        else:
            if y is not None:
                raise ValueError(f"{fn}: `y` must not be given when x is a dataset or an "
                                 "iterable of batches (the batches hold the targets)")
            if sample_weight is not None:
                raise ValueError(f"{fn}: `sample_weight` must not be given when x is a "
                                 "dataset or an iterable of batches (put it in the batches)")
            if not hasattr(x, "__iter__"):
                raise TypeError(f"{fn}: x must be arrays, tensors, a dataset or an iterable "
                                f"of batches, got {type(x).__name__}")
            self.arrays = False
            self.source = x
            self.reiterable = iter(x) is not x if not hasattr(x, "__next__") else False
            self._iter = None if self.reiterable else x
            self.steps = self._steps_arg or _length(x)
        self.need_y = need_y

    # arrays

    def _order(self):
        if not self.shuffle:
            return None
        rng = _random.rng()
        if self.shuffle == "batch":  # Keras: shuffle whole batches
            chunks = -(-self.n // self.batch_size)
            return np.concatenate([np.arange(i * self.batch_size,
                                             min((i + 1) * self.batch_size, self.n))
                                   for i in rng.permutation(chunks)])
        return rng.permutation(self.n)

    def _slices(self):
        """The batches of one pass over the arrays."""
        order = self._order()
        bs = self.batch_size
        for start in range(0, self.n, bs):
            if order is None:
                idx = slice(start, start + bs)
            else:
                idx = order[start:start + bs]
            yield self._batch(idx)

    def _batch(self, idx):
        def take(a):
            return a[idx]

        x = _to_tensors(_nest.pack_sequence_as(self.x, [take(a) for a in _nest.flatten(self.x)]))
        y = None if self.y is None else _to_tensors(
            _nest.pack_sequence_as(self.y, [take(a) for a in _nest.flatten(self.y)]))
        sw = None if self.sw is None else self.sw[idx]
        sw = _class_weights(self.class_weight, y, sw)
        return _pack_batch(x, y, None if sw is None else _core.convert_to_tensor(sw))

    def _endless(self):
        while True:
            yield from self._slices()

    # iterables

    def _from_iterable(self, batch):
        x, y, sw = unpack_x_y_sample_weight(batch)
        x = _to_tensors(x)
        y = None if y is None else _to_tensors(y)
        sw = _class_weights(self.class_weight, y, sw) if y is not None else sw
        sw = None if sw is None else _to_tensors(sw)
        return _pack_batch(x, y, sw)

    def epoch(self):
        """The batches of one epoch."""
        if self.arrays:
            if self._steps_arg is None:
                yield from self._slices()
                return
            if self._stream is None:
                self._stream = self._endless()
            for _ in range(self._steps_arg):
                yield next(self._stream)
            return
        if self.reiterable and (self._steps_arg is None or self._iter is None):
            self._iter = iter(self.source)
        it = self._iter
        count = 0
        while self._steps_arg is None or count < self._steps_arg:
            try:
                batch = next(it)
            except StopIteration:
                if self._steps_arg is not None or count == 0:
                    self.exhausted = True
                break
            count += 1
            yield self._from_iterable(batch)
        if self.steps is None and count:
            self.steps = count


def _length(x):
    try:
        n = len(x)
    except TypeError:
        n = None
    if n is None and hasattr(x, "cardinality"):
        try:
            n = int(x.cardinality())
        except (TypeError, ValueError):
            n = None
    return n if n is not None and n >= 0 else None


def _concat_outputs(outputs):
    """Batches of predictions (nested) -> one NumPy array per leaf."""
    first = outputs[0]
    leaves = [[np.asarray(v.numpy() if isinstance(v, Tensor) else v)
               for v in _nest.flatten(o)] for o in outputs]
    joined = [np.concatenate(parts, axis=0) for parts in zip(*leaves)]
    return _nest.pack_sequence_as(first, joined)


# --- compile ----------------------------------------------------------------------------


def _loss_names():
    return sorted(k for k in _losses._CLASSES if k.islower())


def _resolve_loss(loss):
    if loss is None:
        return None
    if isinstance(loss, (list, tuple, dict)):
        raise ValueError("Model.compile: one loss per output (a list or dict of losses) is "
                         "not supported; give one loss for the model's single output")
    if isinstance(loss, str):
        try:
            return _losses.get(loss)
        except ValueError:
            raise ValueError(f"Model.compile: unknown loss {loss!r}; choose one of "
                             f"{_loss_names()}, or pass an ft.losses.Loss or a function "
                             "loss(y_true, y_pred)") from None
    if isinstance(loss, type) and issubclass(loss, _losses.Loss):
        return loss()
    if isinstance(loss, _losses.Loss):
        return loss
    if callable(loss):  # a function: reduce it and take sample weights, as Keras
        return _losses.LossFunctionWrapper(loss, name=getattr(loss, "__name__", "loss"))
    raise TypeError(f"Model.compile: loss must be a name, an ft.losses.Loss or a function, "
                    f"got {type(loss).__name__} {loss!r}")


_SHAPE_DEPENDENT = ("accuracy", "acc", "crossentropy", "ce")


def _metric_names():
    return sorted(k for k in _metrics._CLASSES if k.islower())


def _resolve_metric(m):
    """A Metric now, or the name of one that depends on the shapes (resolved
    at the first batch)."""
    if isinstance(m, str):
        if m in _SHAPE_DEPENDENT:
            return m
        try:
            return _metrics.get(m)
        except ValueError:
            raise ValueError(f"Model.compile: unknown metric {m!r}; choose one of "
                             f"{sorted(set(_metric_names()) | set(_SHAPE_DEPENDENT))}, or "
                             "pass an ft.metrics.Metric or a function "
                             "metric(y_true, y_pred)") from None
    if isinstance(m, _metrics.Metric):
        return m
    if isinstance(m, type) and issubclass(m, _metrics.Metric):
        return m()
    if callable(m):
        return _metrics.MeanMetricWrapper(m, name=getattr(m, "__name__", None))
    raise TypeError(f"Model.compile: a metric must be a name, an ft.metrics.Metric or a "
                    f"function, got {type(m).__name__} {m!r}")


def _shape_metric(name, y_true, y_pred, loss):
    """Keras's reading of "accuracy" / "crossentropy" from the shapes: binary
    when the prediction has one column, sparse categorical when the labels
    have one dimension less (or a last dim of 1 against several classes),
    else categorical."""
    t_shape, p_shape = tuple(y_true.shape), tuple(y_pred.shape)
    binary = len(p_shape) <= 1 or p_shape[-1] == 1 or isinstance(
        loss, _losses.BinaryCrossentropy)
    sparse = len(t_shape) < len(p_shape) or (t_shape and t_shape[-1] == 1 and p_shape[-1] > 1)
    if name in ("accuracy", "acc"):
        cls = (_metrics.BinaryAccuracy if binary else _metrics.SparseCategoricalAccuracy
               if sparse else _metrics.CategoricalAccuracy)
        return cls(name=name)
    fn = (_losses.binary_crossentropy if binary else _losses.sparse_categorical_crossentropy
          if sparse else _losses.categorical_crossentropy)
    return _metrics.MeanMetricWrapper(fn, name=name)


class _Compiled:
    """What `compile` set: the loss, the metrics (some resolved at the first
    batch), and the loss tracker (the running mean of the batch losses,
    weighted by batch size)."""

    def __init__(self, loss, metrics, loss_weight):
        self.loss = loss
        self.loss_weight = loss_weight
        self.pending = list(metrics)
        self.metrics = [m for m in metrics if not isinstance(m, str)]
        self.resolved = not any(isinstance(m, str) for m in metrics)
        self.tracker = _metrics.Mean(name="loss")

    def resolve(self, y_true, y_pred):
        if self.resolved:
            return
        if y_true is None:
            raise ValueError(f"metrics {[m for m in self.pending if isinstance(m, str)]} need "
                             "targets y")
        if _core.staging():
            raise RuntimeError("Model: metrics must be resolved before tracing (internal error)")
        self.metrics = [_shape_metric(m, y_true, y_pred, self.loss) if isinstance(m, str) else m
                        for m in self.pending]
        self.resolved = True


def _first_leaf(structure):
    leaves = _nest.flatten(structure)
    return leaves[0] if leaves else None


class Model(Layer):
    """A layer with Keras's training loop (`tf.keras.Model`, subclassing style).

    Define the layers in `__init__` (as attributes, or in lists and dicts of
    attributes: they are tracked) and the forward pass in `call(inputs,
    training=None)`; then `compile(optimizer, loss, metrics)` and `fit`.
    The functional API (`Model(inputs, outputs)`) is not supported.

    >>> import numpy as np
    >>> import fasttape as ft
    >>> class TwoLayers(ft.Model):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = ft.layers.Dense(8, activation="relu")
    ...         self.out = ft.layers.Dense(1)
    ...     def call(self, x, training=None):
    ...         return self.out(self.hidden(x))
    >>> model = TwoLayers()
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x = np.ones((16, 3), np.float32)
    >>> history = model.fit(x, np.zeros((16, 1)), epochs=2, verbose=0)
    >>> sorted(history.history), len(history.history["loss"])
    (['loss'], 2)
    >>> [tuple(v.shape) for v in model.trainable_variables]
    [(3, 8), (8,), (8, 1), (1,)]
    """

    # the training state is not tracked (not layers, weights or checkpoint
    # children); `optimizer` is, as in Keras (checkpoints save its state)
    _BOOKKEEPING = Layer._BOOKKEEPING | {
        "_compiled", "_functions", "_walk_cache", "_input_signature", "_in_call_build",
        "_run_eagerly", "history", "stop_training", "loss"}

    def __init__(self, *args, **kwargs):
        if args or "inputs" in kwargs or "outputs" in kwargs:
            raise NotImplementedError(
                f"{type(self).__name__}(inputs, outputs): fasttape has no functional API; "
                "subclass ft.Model (layers as attributes, the forward pass in call()) or use "
                "ft.Sequential")
        super().__init__(**kwargs)
        self._compiled = None
        self.optimizer = None
        self.stop_training = False
        self.history = None
        self._run_eagerly = False
        self._functions = {}
        self._input_signature = None  # Note [Model input signature]
        self._in_call_build = False
        self._walk_cache = None  # Note [Layers walked once per epoch]

    # --- building -----------------------------------------------------------------------

    def _maybe_build(self, inputs):
        if self._input_signature is None:
            self._input_signature = _nest.pack_sequence_as(
                inputs, [((None,) + tuple(v.shape)[1:], v.dtype) if isinstance(v, Tensor)
                         else None for v in _nest.flatten(inputs)])
        self._in_call_build = True
        try:
            super()._maybe_build(inputs)
        finally:
            self._in_call_build = False

    def build(self, input_shape=None):
        """Builds the model's layers for inputs of `input_shape` (with the
        batch dim, which may be None; a list of shapes for several inputs)
        by calling the model once on zeros of that shape, in inference mode.
        A subclass overriding `build` to make its own weights calls
        `super().build(input_shape)` at the end."""
        if self._in_call_build or self.built:
            self.built = True
            return
        if input_shape is None:
            raise ValueError(f'model "{self.name}": build() needs the input shape, e.g. '
                             "model.build((None, 784)), or call the model on a batch of data")
        self._input_signature = _signature_from_shapes(input_shape, self._dtype)
        self.built = True  # so that the call below does not come back here
        try:
            self(_zeros_for(self._input_signature), training=False)
        except BaseException:
            self.built = False
            raise

    def _check_built(self, what):
        if not self.built:
            raise ValueError(
                f'{what}: model "{self.name}" has not yet been built. Build the model first '
                "by calling `build(input_shape)` or by calling the model on a batch of data "
                "(for Sequential: give the first layer an `input_shape`, or start with "
                "ft.keras.Input(shape))")

    # --- compile ------------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=None, steps_per_execution=None,
                jit_compile=None, **kwargs):
        """Sets the optimizer, the loss and the metrics for `fit`/`evaluate`.

        Args:
            optimizer: an `ft.optimizers.Optimizer` or a name ("adam", "sgd",
                "rmsprop", "adamw", "adagrad": the defaults of the class).
            loss: a name ("sparse_categorical_crossentropy", "mse", ...), an
                `ft.losses.Loss`, or a function loss(y_true, y_pred) (reduced
                to the batch mean, taking sample weights).
            metrics: a list of names, `ft.metrics.Metric`s or functions.
                "accuracy" ("acc") becomes binary, sparse categorical or
                categorical accuracy from the shapes of the first batch, as
                Keras; "crossentropy" ("ce") likewise.
            loss_weights: a float scaling the loss (one output).
            run_eagerly: True runs each step as plain Python (see Note
                [Traced train step]).
        """
        unknown = sorted(set(kwargs) - {"distribute", "sample_weight_mode", "target_tensors",
                                        "pss_evaluation_shards"})
        if unknown:
            raise TypeError(f"Model.compile: unexpected arguments {unknown}")
        if weighted_metrics:
            raise ValueError("Model.compile: weighted_metrics are not supported; metrics "
                             "take the sample weights given to fit")
        if steps_per_execution not in (None, 1):
            raise ValueError(f"Model.compile: steps_per_execution={steps_per_execution} is not "
                             "supported (one step per call)")
        try:
            self.optimizer = _optimizers.get(optimizer)
        except ValueError as e:
            raise ValueError(f"Model.compile: {e}") from None
        loss_obj = _resolve_loss(loss)
        if metrics is None:
            metrics = []
        elif isinstance(metrics, dict):
            raise ValueError("Model.compile: metrics per output (a dict) are not supported; "
                             "give a list")
        elif isinstance(metrics, (str, _metrics.Metric)) or callable(metrics):
            metrics = [metrics]
        resolved = [_resolve_metric(m) for m in metrics]
        if loss_weights is not None and not isinstance(loss_weights, (int, float)):
            raise ValueError("Model.compile: loss_weights must be one number (one output)")
        self.loss = loss
        self._compiled = _Compiled(loss_obj, resolved, loss_weights)
        self._run_eagerly = bool(run_eagerly)
        self._functions = {}
        self.stop_training = False

    @property
    def run_eagerly(self):
        """True when the steps run eagerly (`compile(run_eagerly=True)`)."""
        return self._run_eagerly

    @run_eagerly.setter
    def run_eagerly(self, value):
        self._run_eagerly = bool(value)
        self._functions = {}

    def _assert_compiled(self, what):
        if self._compiled is None:
            raise RuntimeError(f"Model.{what}: you must compile your model before training/"
                               "testing. Use `model.compile(optimizer, loss)`.")

    @property
    def compiled_loss(self):
        return None if self._compiled is None else self._compiled.loss

    @property
    def metrics(self):
        """The loss tracker ("loss") and the compiled metrics (after the
        first batch when some depend on the shapes)."""
        if self._compiled is None:
            return []
        return [self._compiled.tracker] + list(self._compiled.metrics)

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    def reset_metrics(self):
        """Zeroes the state of the loss tracker and the metrics."""
        for m in self.metrics:
            m.reset_state()

    # --- the steps ---------------------------------------------------------------------------

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        """The compiled loss of (y, y_pred) with the sample weights, times
        `loss_weights`, plus the model's `losses` (regularizers, add_loss);
        adds it to the loss tracker, weighted by the batch size."""
        c = self._compiled
        if c.loss is None:
            total = None
        else:
            if y is None:
                raise ValueError(f'model "{self.name}": the compiled loss {c.loss.name!r} '
                                 "needs targets: pass y to fit/evaluate (or (x, y) batches)")
            if isinstance(y_pred, (list, tuple, dict)):
                raise ValueError(
                    f'model "{self.name}" returns {len(_nest.flatten(y_pred))} outputs, but '
                    "compile takes one loss for one output; return one tensor from call(), or "
                    "override compute_loss / train_step to combine the outputs' losses")
            total = c.loss(y, y_pred, sample_weight) if sample_weight is not None \
                else c.loss(y, y_pred)
            if c.loss_weight is not None:
                total = total * float(c.loss_weight)
        cache = self._walk_cache
        extra = self.losses if cache is None else self._losses_of(cache[1])
        if extra:
            reg = sum_losses(extra)
            total = reg if total is None else total + reg
        if total is None:
            raise ValueError(f'model "{self.name}": no loss to optimize: compile with a loss, '
                             "or add losses in call() with add_loss")
        first = _first_leaf(y_pred)
        n = first.shape[0] if first is not None and len(first.shape) else 1
        c.tracker.update_state(total, sample_weight=n)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Updates the compiled metrics with the batch; returns
        {name: result} for every metric (the running values)."""
        c = self._compiled
        if not c.resolved:
            c.resolve(y, y_pred)
        if y is not None:
            for m in c.metrics:
                if sample_weight is None:
                    m.update_state(y, y_pred)
                else:
                    m.update_state(y, y_pred, sample_weight=sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self):
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        """One training step on a batch (x, y[, sample_weight]): the forward
        pass in training mode under a GradientTape, the loss,
        `optimizer.minimize`, the metrics; returns {name: result}. Override
        it for a custom step (Keras's extension point)."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
        cache = self._walk_cache  # Note [Layers walked once per epoch]
        trainable = self.trainable_variables if cache is None else cache[0]
        self.optimizer.minimize(loss, trainable, tape=tape)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data):
        """One evaluation step: the forward pass in inference mode, the loss
        and the metrics; returns {name: result}."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        self.compute_loss(x, y, y_pred, sample_weight)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        """The forward pass in inference mode on a batch's x."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def _make_function(self, kind):
        fn = self._functions.get(kind)
        if fn is None:
            fn = getattr(self, f"{kind}_step")
            if not self._run_eagerly:
                fn = function(fn)
            self._functions[kind] = fn
        return fn

    def make_train_function(self, force=False):
        """The function `fit` calls per batch: `train_step`, through
        ft.function unless run_eagerly (Note [Traced train step])."""
        if force:
            self._functions.pop("train", None)
        return self._make_function("train")

    def make_test_function(self, force=False):
        if force:
            self._functions.pop("test", None)
        return self._make_function("test")

    def make_predict_function(self, force=False):
        if force:
            self._functions.pop("predict", None)
        return self._make_function("predict")

    def _prepare(self, batch, kind):
        """Before a traced step: builds the model, the shape-dependent metrics
        and (train) the optimizer's slots eagerly (Note [Traced train step]).
        Called on the first batch of each epoch and of each *_on_batch call."""
        if self._run_eagerly:
            return
        x, y, _ = unpack_x_y_sample_weight(batch)
        metrics = kind != "predict" and self._compiled is not None and y is not None
        if not self.built or (metrics and not self._compiled.resolved):
            y_pred = self(x, training=False)
            if metrics:
                self._compiled.resolve(y, y_pred)
        if kind == "train":
            self.optimizer.build(self.trainable_variables)

    # --- fit / evaluate / predict --------------------------------------------------------

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, max_queue_size=10, workers=1,
            use_multiprocessing=False):
        """Trains for `epochs` epochs; returns the `History` (also `model.history`).

        x, y: arrays or tensors (or lists/dicts of them for several inputs),
        sliced into batches of `batch_size` (32) and shuffled each epoch
        (`shuffle`); or x alone as an ft.data.Dataset / any iterable of
        (x, y) or (x, y, sample_weight) batches. `validation_data` is (x_val,
        y_val[, sample_weight]) or such an iterable; `validation_split`
        takes that fraction from the end of the arrays (before shuffling).
        `callbacks` get the hooks of ft.keras.callbacks.Callback; `verbose` 0
        is silent, 1 a progress bar per epoch (tqdm on a terminal, else one
        line), 2 one line per epoch. `steps_per_epoch` bounds the batches per
        epoch (arrays then repeat across epochs); `initial_epoch` starts the
        epoch count there. `validation_freq` validates every n epochs.
        """
        self._assert_compiled("fit")
        verbose = _verbose(verbose)
        epochs, initial_epoch = int(epochs), int(initial_epoch)
        if validation_split and validation_data is None:
            if not _array_like(x):
                raise ValueError("Model.fit: validation_split is only supported for arrays "
                                 "and tensors, not datasets or iterables (pass "
                                 "validation_data)")
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"Model.fit: validation_split must be in (0, 1), got "
                                 f"{validation_split}")
            x, y, sample_weight, validation_data = _split(x, y, sample_weight, validation_split)
        data = _Data("Model.fit", x, y, sample_weight, batch_size, shuffle, steps_per_epoch,
                     class_weight)
        val = None
        if validation_data is not None:
            if _array_like(validation_data) or (isinstance(validation_data, tuple) and all(
                    v is None or _array_like(v) for v in validation_data)):
                vx, vy, vsw = unpack_x_y_sample_weight(validation_data)
                val = _Data("Model.fit (validation_data)", vx, vy, vsw,
                            validation_batch_size or batch_size, False, validation_steps)
            else:
                val = _Data("Model.fit (validation_data)", validation_data,
                            steps=validation_steps)
        params = {"verbose": verbose, "epochs": epochs, "steps": data.steps}
        cbs = _callbacks.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                      model=self, **params)
        train = self.make_train_function()
        begin, end = cbs.wants("on_train_batch_begin"), cbs.wants("on_train_batch_end")
        self.stop_training = False
        cbs.on_train_begin()
        epoch_logs = {}
        try:
            self._fit_epochs(data, val, cbs, train, initial_epoch, epochs, validation_freq,
                             begin, end, epoch_logs)
        finally:
            self._walk_cache = None
            if cbs._progbar is not None:
                cbs._progbar.close()
        cbs.on_train_end(epoch_logs)
        return self.history

    def _fit_epochs(self, data, val, cbs, train, initial_epoch, epochs, validation_freq,
                    begin, end, epoch_logs):
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            logs, step = None, 0
            for batch in data.epoch():
                if begin:
                    cbs.on_train_batch_begin(step)
                if step == 0:
                    self._prepare(batch, "train")
                logs = train(batch)
                if step == 0:  # built now
                    self._walk_cache = (list(self.trainable_variables),
                                        self._flatten_layers(include_self=True))
                if end:
                    cbs.on_train_batch_end(step, logs)
                step += 1
                if self.stop_training:
                    break
            if data.exhausted:
                warnings.warn("Model.fit: your input ran out of data; interrupting training. "
                              "Make sure the dataset or generator can produce `steps_per_epoch "
                              "* epochs` batches.", UserWarning, stacklevel=3)
            if logs is None:
                break
            if cbs.params.get("steps") is None:
                cbs.params["steps"] = data.steps
            epoch_logs.clear()
            epoch_logs.update(_callbacks.to_python(logs))
            self._walk_cache = None
            if val is not None and (epoch + 1) % int(validation_freq) == 0:
                val_logs = self._run_test(val, cbs)
                epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            if self.stop_training or data.exhausted:
                break

    def _run_test(self, data, cbs):
        self.reset_metrics()
        test = self.make_test_function()
        begin, end = cbs.wants("on_test_batch_begin"), cbs.wants("on_test_batch_end")
        cbs.on_test_begin()
        logs = None
        for step, batch in enumerate(data.epoch()):
            if begin:
                cbs.on_test_batch_begin(step)
            if step == 0:
                self._prepare(batch, "test")
            logs = test(batch)
            if end:
                cbs.on_test_batch_end(step, logs)
        if logs is None:
            raise ValueError(f"{data.fn}: expected the input data to have at least one batch")
        logs = _callbacks.to_python(logs)
        cbs.on_test_end(logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, max_queue_size=10, workers=1,
                 use_multiprocessing=False, return_dict=False, **kwargs):
        """The loss and metrics over the data (inputs as for `fit`): the loss
        alone when no metrics were compiled, else [loss, *metrics] in
        `metrics_names` order; a dict with `return_dict=True`."""
        self._assert_compiled("evaluate")
        verbose = _verbose(verbose)
        data = _Data("Model.evaluate", x, y, sample_weight, batch_size, False, steps)
        cbs = _callbacks.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                      verbose=verbose, epochs=1, steps=data.steps)
        logs = self._run_test(data, cbs)
        return logs if return_dict else _in_order(logs, self.metrics_names)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None,
                max_queue_size=10, workers=1, use_multiprocessing=False):
        """The model's outputs (inference mode) for x (arrays or an iterable
        of batches, whose targets are ignored), as NumPy arrays joined over
        the batches."""
        verbose = _verbose(verbose)
        data = _Data("Model.predict", x, None, None, batch_size, False, steps)
        cbs = _callbacks.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                      verbose=verbose, epochs=1, steps=data.steps)
        fn = self.make_predict_function()
        begin, end = cbs.wants("on_predict_batch_begin"), cbs.wants("on_predict_batch_end")
        cbs.on_predict_begin()
        outputs = []
        for step, batch in enumerate(data.epoch()):
            if begin:
                cbs.on_predict_batch_begin(step)
            if step == 0:
                self._prepare(batch, "predict")
            out = fn(batch)
            outputs.append(out)
            if end:
                cbs.on_predict_batch_end(step, {"outputs": out})
        cbs.on_predict_end()
        if not outputs:
            raise ValueError("Model.predict: expected the input data to have at least one batch")
        return _concat_outputs(outputs)

    def _single_batch(self, what, x, y, sample_weight, class_weight=None):
        data = _Data(what, x, y, sample_weight, batch_size=1 << 62, class_weight=class_weight)
        if not data.arrays:
            raise ValueError(f"{what}: expects arrays or tensors (one batch), got "
                             f"{type(x).__name__}")
        return next(iter(data.epoch()))

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       reset_metrics=True, return_dict=False):
        """One training step on one batch; returns the loss (and metrics) as
        `evaluate` does. With reset_metrics=False the metrics accumulate
        over calls."""
        self._assert_compiled("train_on_batch")
        batch = self._single_batch("Model.train_on_batch", x, y, sample_weight, class_weight)
        self._prepare(batch, "train")
        if reset_metrics:
            self.reset_metrics()
        logs = _callbacks.to_python(self.make_train_function()(batch))
        if reset_metrics:
            self.reset_metrics()
        return logs if return_dict else _in_order(logs, self.metrics_names)

    def test_on_batch(self, x, y=None, sample_weight=None, reset_metrics=True,
                      return_dict=False):
        """The loss (and metrics) of one batch, as `evaluate`."""
        self._assert_compiled("test_on_batch")
        batch = self._single_batch("Model.test_on_batch", x, y, sample_weight)
        self._prepare(batch, "test")
        if reset_metrics:
            self.reset_metrics()
        logs = _callbacks.to_python(self.make_test_function()(batch))
        if reset_metrics:
            self.reset_metrics()
        return logs if return_dict else _in_order(logs, self.metrics_names)

    def predict_on_batch(self, x):
        """The outputs for one batch, as NumPy arrays."""
        batch = self._single_batch("Model.predict_on_batch", x, None, None)
        self._prepare(batch, "predict")
        return _concat_outputs([self.make_predict_function()(batch)])

    # --- summary --------------------------------------------------------------------------

    def _output_shapes(self):
        """{id(layer): output shape or "multiple"} of the direct sublayers, from
        one inference pass on zeros (Note [Model input signature])."""
        if self._input_signature is None:
            return {}
        shapes = {}
        wrapped = []

        def record(layer, call):
            def recording(*args, **kwargs):
                out = call(*args, **kwargs)
                shape = _display_shape(out)
                if id(layer) in shapes and shapes[id(layer)] != shape:
                    shape = "multiple"
                shapes[id(layer)] = shape
                return out

            return recording

        for layer in self.layers:
            if "call" not in vars(layer):
                layer.call = record(layer, layer.call)
                wrapped.append(layer)
        try:
            self(_zeros_for(self._input_signature), training=False)
        finally:
            for layer in wrapped:
                del layer.call
        return shapes

    # --- weights on disk ----------------------------------------------------------------

    def save_weights(self, filepath, overwrite=True, save_format=None, options=None):
        """Writes the model's object graph (its layers' weights and, once
        compiled, its optimizer's state) as an ft.train checkpoint file at
        `filepath` (atomically), as TensorFlow's format of `save_weights`.
        Paths are relative to the model ('layer-0/kernel' in a Sequential)."""
        from fasttape.train import Checkpoint

        filepath = os.fspath(filepath)
        if save_format not in (None, "tf") or filepath.endswith((".h5", ".hdf5", ".keras")):
            raise ValueError(f'model "{self.name}": save_weights writes fasttape checkpoints '
                             f"only (HDF5 and .keras files are not supported), got "
                             f"{filepath!r} save_format={save_format!r}")
        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f'model "{self.name}": {filepath!r} exists and '
                                  "overwrite=False")
        return Checkpoint(root=self).write(filepath, options)

    def load_weights(self, filepath, skip_mismatch=False, by_name=False, options=None):
        """Restores weights written by `save_weights`; returns the restore
        status (weights of layers not built yet are set when they are built;
        see ft.train.Checkpoint)."""
        from fasttape.train import Checkpoint

        if skip_mismatch or by_name:
            raise NotImplementedError(f'model "{self.name}": load_weights matches by the '
                                      "object graph; skip_mismatch and by_name are not "
                                      "supported")
        return Checkpoint(root=self).read(os.fspath(filepath), options)

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Prints a table of the model's layers (name and type, output shape,
        parameter count) and the totals, as Keras does; `print_fn` receives
        each line instead of print. The model must be built."""
        self._check_built("Model.summary")
        print_fn = print_fn or (lambda line, **kw: print(line, file=sys.stdout))
        line_length = line_length or 65
        positions = positions or [0.45, 0.85, 1.0]
        if positions[-1] <= 1:
            positions = [int(line_length * p) for p in positions]
        headers = [" Layer (type)", "Output Shape", "Param #"]
        if show_trainable:
            line_length += 11
            positions.append(line_length)
            headers.append("Trainable")
        shapes = self._output_shapes()

        def row(fields):
            line = ""
            for i, field in enumerate(fields):
                if i > 0:
                    line = line[:-1] + " "
                line += str(field)
                line = line[:positions[i]]
                line += " " * (positions[i] - len(line))
            print_fn(line)

        print_fn(f'Model: "{self.name}"')
        print_fn("_" * line_length)
        row(headers)
        print_fn("=" * line_length)
        layers = self.layers
        if layer_range is not None:
            names = [layer.name for layer in layers]
            lo, hi = (names.index(n) for n in layer_range)
            layers = layers[lo:hi + 1]
        for i, layer in enumerate(layers):
            shape = shapes.get(id(layer), "?")
            params = layer.count_params() if layer.built else 0
            fields = [f" {layer.name} ({type(layer).__name__})", shape, params]
            if show_trainable:
                fields.append("Y" if layer.trainable else "N")
            row(fields)
            if expand_nested and isinstance(layer, Model):
                layer.summary(line_length, None, lambda s, **kw: print_fn("|| " + s))
            print_fn(("=" if i == len(layers) - 1 else " ") * line_length)
        trainable = sum(int(np.prod(v.shape)) for v in self.trainable_weights)
        frozen = sum(int(np.prod(v.shape)) for v in self.non_trainable_weights)
        print_fn(f"Total params: {trainable + frozen:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {frozen:,}")
        print_fn("_" * line_length)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def _in_order(logs, names):
    values = [logs[n] for n in names if n in logs]
    values += [v for k, v in logs.items() if k not in names]
    return values[0] if len(values) == 1 else values


def _split(x, y, sw, split):
    """Keras's validation_split: the last `split` fraction of the samples."""
    xs = _nested_arrays(x, "Model.fit")
    n = _nest.flatten(xs)[0].shape[0]
    at = int(n * (1.0 - split))
    if at == 0 or at == n:
        raise ValueError(f"Model.fit: validation_split={split} leaves no training or no "
                         f"validation samples out of {n}")

    def cut(v, part):
        if v is None:
            return None
        v = _nested_arrays(v, "Model.fit")
        return _nest.pack_sequence_as(v, [a[:at] if part == 0 else a[at:]
                                          for a in _nest.flatten(v)])

    return cut(x, 0), cut(y, 0), cut(sw, 0), (cut(x, 1), cut(y, 1), cut(sw, 1))


def _signature_from_shapes(input_shape, dtype):
    def is_shape(s):
        return isinstance(s, (tuple, list, TensorShape)) and all(
            d is None or isinstance(d, (int, np.integer)) for d in s)

    if is_shape(input_shape):
        return (tuple(None if d is None else int(d) for d in input_shape), np.dtype(dtype))
    if isinstance(input_shape, dict):
        return {k: _signature_from_shapes(v, dtype) for k, v in input_shape.items()}
    if isinstance(input_shape, (list, tuple)):
        return [_signature_from_shapes(s, dtype) for s in input_shape]
    raise TypeError(f"build: input_shape must be a shape (a tuple of ints or None) or a list "
                    f"of shapes, got {input_shape!r}")


def _is_spec(s):
    return isinstance(s, tuple) and len(s) == 2 and isinstance(s[1], np.dtype)


def _zeros_for(signature):
    """Zeros of each (shape, dtype) in the signature, None dims as 1."""
    if _is_spec(signature):
        shape, dtype = signature
        return _core.convert_to_tensor(np.zeros(tuple(1 if d is None else d for d in shape),
                                                dtype))
    if isinstance(signature, dict):
        return {k: _zeros_for(v) for k, v in signature.items()}
    return type(signature)(_zeros_for(s) for s in signature)


def _batchless(t):
    shape = tuple(t.shape)
    return (None,) + shape[1:] if shape else shape


def _display_shape(out):
    leaves = _nest.flatten(out)
    if len(leaves) == 1 and not isinstance(out, (list, tuple, dict)):
        return str(_batchless(leaves[0]))
    return str([_batchless(t) for t in leaves if hasattr(t, "shape")])


class Sequential(Model):
    """A linear stack of layers (`tf.keras.Sequential`).

    Built at once when the first layer has `input_shape` (or the stack starts
    with `ft.keras.Input(shape)` / an `InputLayer`), else on the first call.

    >>> import fasttape as ft
    >>> model = ft.Sequential([ft.layers.Dense(4, activation="relu", input_shape=(3,)),
    ...                        ft.layers.Dense(1)])
    >>> model.built, len(model.layers), model.count_params()
    (True, 2, 21)
    >>> model.add(ft.layers.Dense(2))
    >>> model.output_shape
    (None, 2)
    >>> model.pop().name == model.layers[-1].name
    False
    """

    def __init__(self, layers=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._stack = []
        if layers is not None:
            if isinstance(layers, (Layer, KerasInput)):
                layers = [layers]
            for layer in layers:
                self.add(layer)

    @property
    def layers(self):
        """The layers, in order (not the input)."""
        return list(self._stack)

    def _trackable_children(self):
        # TensorFlow's checkpoint names of a Sequential's layers: 'layer-0', ...
        out = {f"layer-{i}": layer for i, layer in enumerate(self._stack)}
        out.update((k, v) for k, v in super()._trackable_children().items() if k != "_stack")
        return out

    def add(self, layer):
        """Adds a layer on top of the stack (an `Input` or `InputLayer` first
        sets the input shape). When the input shape is known the new layer
        is built at once."""
        if isinstance(layer, KerasInput):
            layer = layer._input_layer
        if isinstance(layer, InputLayer):
            if self._stack or self._input_signature is not None:
                raise ValueError(f'Sequential "{self.name}": an input layer can only start '
                                 "the model")
            self._input_signature = (layer.batch_input_shape, np.dtype(layer.dtype))
            self.built = True
            return
        if not isinstance(layer, Layer):
            raise TypeError(f'Sequential "{self.name}": the added layer must be an instance of '
                            f"ft.layers.Layer, got {type(layer).__name__} {layer!r}")
        if any(layer.name == other.name for other in self._stack):
            raise ValueError(f'Sequential "{self.name}": all layers added to a Sequential model '
                             f"should have unique names; {layer.name!r} is already the name of "
                             "a layer in this model")
        if not self._stack and self._input_signature is None and hasattr(
                layer, "_batch_input_shape"):
            self._input_signature = (layer._batch_input_shape, np.dtype(layer.dtype))
        self._stack.append(layer)
        self._functions = {}
        if self._input_signature is not None:
            self._build_stack()

    def pop(self):
        """Removes the last layer and returns it."""
        if not self._stack:
            raise TypeError(f'Sequential "{self.name}": there are no layers in the model')
        layer = self._stack.pop()
        self._functions = {}
        return layer

    def _build_stack(self):
        """Runs zeros of the input signature through the layers (inference
        mode), building the unbuilt ones."""
        x = _zeros_for(self._input_signature)
        for layer in self._stack:
            x = layer(x, training=False)
        self.built = True
        return x

    @property
    def output_shape(self):
        """The output shape (batch dim None) of the built model."""
        self._check_built("Sequential.output_shape")
        if self._input_signature is None:
            raise ValueError(f'Sequential "{self.name}": the input shape is not known')
        out = self._build_stack() if self._stack else _zeros_for(self._input_signature)
        return _nest.pack_sequence_as(out, [_batchless(t) for t in _nest.flatten(out)])

    @property
    def input_shape(self):
        self._check_built("Sequential.input_shape")
        sig = self._input_signature
        return None if sig is None else sig[0]

    def build(self, input_shape=None):
        if self._in_call_build:
            self.built = True
            return
        if input_shape is None:
            if self._input_signature is None:
                raise ValueError(f'Sequential "{self.name}": build() needs the input shape, '
                                 "e.g. model.build((None, 784))")
        else:
            self._input_signature = _signature_from_shapes(input_shape, self._dtype)
        self._build_stack()

    def call(self, inputs, training=None):
        x = inputs
        for layer in self._stack:
            x = layer(x)
        return x

    def get_config(self):
        layers = [{"class_name": type(layer).__name__, "config": layer.get_config()}
                  for layer in self._stack]
        return {"name": self.name, "layers": layers}

    @classmethod
    def from_config(cls, config):
        from fasttape import layers as _layers

        model = cls(name=config.get("name"))
        for spec in config.get("layers", []):
            layer_cls = getattr(_layers, spec["class_name"], None)
            if layer_cls is None:
                raise ValueError(f"Sequential.from_config: unknown layer class "
                                 f"{spec['class_name']!r}")
            model.add(layer_cls.from_config(spec["config"]))
        return model

