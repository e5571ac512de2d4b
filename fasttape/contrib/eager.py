"""`ft.contrib.eager`, imported as `tfe` as the TensorFlow 1.x eager guides do.

The seed's names with TensorFlow 1.x's argument and return conventions:
`gradients_function(f, params=None)` returns a function returning the list
of gradients of `f` with respect to its arguments, `implicit_gradients(f)` a
function returning `[(gradient, variable)]` pairs for the trainable variables
`f` read, ... Each is a few lines around a GradientTape.

>>> import fasttape as ft
>>> import fasttape.contrib.eager as tfe
>>> grad = tfe.gradients_function(lambda x, y: x * x * y)
>>> [float(g) for g in grad(3.0, 2.0)]
[12.0, 9.0]
"""

import inspect

from fasttape import metrics as _ft_metrics
from fasttape import nest as _nest
from fasttape._core import core as _core
from fasttape._core.core import Variable as Variable
from fasttape.backprop import GradientTape as GradientTape
from fasttape.function import function as defun
from fasttape.graph import enable_eager_execution as enable_eager_execution
from fasttape.graph import executing_eagerly as executing_eagerly
from fasttape.script_ops import py_function as py_func
from fasttape.template import EagerVariableStore as EagerVariableStore
from fasttape.template import make_template as make_template

__all__ = [
    "EagerVariableStore",
    "GradientTape",
    "Iterator",
    "Variable",
    "defun",
    "enable_eager_execution",
    "executing_eagerly",
    "gradients_function",
    "implicit_gradients",
    "implicit_value_and_gradients",
    "make_template",
    "make_vjp",
    "metrics",
    "py_func",
    "value_and_gradients_function",
]


class metrics:  # noqa: N801  (a namespace: tfe.metrics.Mean, as in TensorFlow 1)
    """TensorFlow 1's eager metrics (`tfe.metrics.Mean()`, `m(values)`,
    `m.result()`), which are fasttape's Keras metrics."""

    Mean = _ft_metrics.Mean
    Sum = _ft_metrics.Sum
    Accuracy = _ft_metrics.Accuracy
    BinaryAccuracy = _ft_metrics.BinaryAccuracy
    CategoricalAccuracy = _ft_metrics.CategoricalAccuracy
    SparseAccuracy = _ft_metrics.SparseCategoricalAccuracy
    Metric = _ft_metrics.Metric


class Iterator:
    """TensorFlow 1's `tfe.Iterator(dataset)`: a Python iterator over an
    `ft.data.Dataset`'s elements (eager tensors); `get_next()` raises
    StopIteration at the end, as `next()` does (TensorFlow raised
    OutOfRangeError)."""

    def __init__(self, dataset):
        if not hasattr(dataset, "__iter__"):
            raise TypeError(f"tfe.Iterator: expects an ft.data.Dataset, got "
                            f"{type(dataset).__name__}")
        self._it = iter(dataset)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)

    next = __next__

    def get_next(self, name=None):
        return next(self._it)


def __getattr__(name):
    # Checkpoint lives in fasttape.train (another module, imported on first use)
    if name == "Checkpoint":
        try:
            from fasttape.train import Checkpoint
        except ImportError as e:
            raise AttributeError(f"tfe.Checkpoint needs fasttape.train.Checkpoint: {e}") from e
        return Checkpoint
    raise AttributeError(f"module 'fasttape.contrib.eager' has no attribute {name!r}")


def _fname(f):
    return getattr(f, "__name__", None) or type(f).__name__


def _positions(f, params, args):
    """TensorFlow's _get_arg_spec: the indices of the arguments to differentiate."""
    try:
        names = [p.name for p in inspect.signature(f).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    if params is None:
        if not names:
            return list(range(len(args)))
        return list(range(len(names) - 1 if names[0] == "self" else len(names)))
    params = list(params)
    if all(isinstance(p, str) for p in params):
        missing = [p for p in params if p not in names]
        if missing:
            raise ValueError(f"params {missing} are not parameters of {_fname(f)} ({names})")
        return [names.index(p) for p in params]
    if all(isinstance(p, int) and not isinstance(p, bool) for p in params):
        return params
    raise ValueError(f"params must be all strings or all integers; got {params}.")


def make_vjp(f, params=None, persistent=True):
    """`make_vjp(f)(*args)` returns `(result, vjp)`: `f`'s result and a
    function `vjp(dy=None)` returning the list of gradients with respect to
    the arguments chosen by `params` (names or indices; default: all), each
    target weighted by `dy` (default ones)."""

    def decorated(*args, **kwds):
        if kwds:
            raise ValueError("The gradient function can't take keyword arguments.")
        positions = _positions(f, params, args)
        args = list(args)
        for i in positions:
            if i >= len(args):
                raise ValueError(f"{_fname(f)}: argument {i} to differentiate was not given "
                                 f"({len(args)} arguments)")
            # a fresh tensor per position, so that f(x, x) gives two gradients
            args[i] = _core.convert_to_tensor(args[i]) * 1 if any(
                args[i] is args[j] for j in positions if j != i) else \
                _core.convert_to_tensor(args[i])
        tape = GradientTape(persistent=persistent)
        with tape:
            sources = [args[i] for i in positions]
            for s in sources:
                tape.watch(s)
            result = f(*args)
        if result is None:
            raise ValueError(f"Cannot differentiate a function that returns None; did you "
                             f"forget to return a value from {_fname(f)}?")

        def vjp(dy=None):
            if dy is not None:
                dy = [_core.convert_to_tensor(x) for x in _nest.flatten(dy)]
            return tape.gradient(_nest.flatten(result), sources, output_gradients=dy)

        return result, vjp

    return decorated


def value_and_gradients_function(f, params=None):
    """A function returning `(f(*args), [gradient per chosen argument])`;
    the keyword argument `dy` weights the outputs (TensorFlow 1's
    `tfe.value_and_gradients_function`). Non-scalar results are summed."""

    def decorated(*args, **kwds):
        dy = kwds.pop("dy", None)
        if kwds:
            raise ValueError("Functions to be differentiated cannot receive keyword arguments.")
        val, vjp = make_vjp(f, params)(*args)
        return val, vjp(dy=dy)

    return decorated


def gradients_function(f, params=None):
    """A function returning the list of gradients of `f` (summed over its
    outputs) with respect to its arguments, or those named or indexed by
    `params` (TensorFlow 1's `tfe.gradients_function`)."""

    def decorated(*args, **kwds):
        return value_and_gradients_function(f, params)(*args, **kwds)[1]

    return decorated


def implicit_value_and_gradients(f):
    """A function returning `(f(*args), [(gradient, variable), ...])` for the
    trainable variables `f` read, in creation order; raises ValueError when
    it read none (TensorFlow 1's `tfe.implicit_value_and_gradients`)."""

    def grad_fn(*args, **kwds):
        with GradientTape() as tape:
            end_node = f(*args, **kwds)
        if end_node is None:
            raise ValueError(f"Cannot differentiate a function that returns None; did you "
                             f"forget to return a value from {_fname(f)}?")
        variables = sorted(tape.watched_variables(), key=_core.tensor_id)
        if not variables:
            raise ValueError("No trainable variables were accessed while the function was "
                             "being computed.")
        grads = tape.gradient(_nest.flatten(end_node), variables)
        return end_node, list(zip(grads, variables))

    return grad_fn


def implicit_gradients(f):
    """A function returning `[(gradient, variable), ...]` for the trainable
    variables `f` read, as optimizers' `apply_gradients` takes them
    (TensorFlow 1's `tfe.implicit_gradients`)."""

    def grad_fn(*args, **kwds):
        return implicit_value_and_gradients(f)(*args, **kwds)[1]

    return grad_fn
