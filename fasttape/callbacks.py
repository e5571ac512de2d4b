"""Callbacks (`ft.keras.callbacks`): objects `Model.fit`, `evaluate` and
`predict` call at the start and end of training, epochs and batches
(Keras's `tf.keras.callbacks`).

A callback subclasses `Callback` and overrides the hooks it needs; `fit`
gives it the model (`self.model`, `set_model`) and the run's parameters
(`self.params`: epochs, steps, verbose). Epoch-end `logs` hold Python floats:
the training loss and metrics and, when there is validation data, the same
names prefixed with "val_". A callback can stop training by setting
`self.model.stop_training = True`.

See docs/design.md, "Models and fit", for writing checkpoint or summary
callbacks.
"""

import math
import os
import sys
import time
import warnings

import numpy as np

from fasttape._core import core as _core

_HOOKS = (
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end",
    "on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
    "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end",
)

_BATCH_HOOKS = tuple(h for h in _HOOKS if "_batch_" in h)


def to_python(logs):
    """`logs` with scalar tensors and NumPy scalars as Python floats (arrays
    with more than one element as NumPy arrays)."""
    if not logs:
        return {} if logs is None else dict(logs)
    out = {}
    for k, v in logs.items():
        if isinstance(v, _core.Tensor):
            v = v.numpy()
        if isinstance(v, (np.ndarray, np.generic)):
            v = v.item() if v.size == 1 else np.array(v)
        out[k] = v
    return out


class Callback:
    """Base class of the callbacks: every hook does nothing.

    Attributes:
        model: the model being trained (set by `set_model`).
        params: {"epochs", "steps", "verbose"} of the run (set by `set_params`).

    Batch-hook `logs` may hold tensors for the callbacks that set
    `_supports_tf_logs = True` (the built-in ones); others get Python floats.
    """

    _supports_tf_logs = False

    def __init__(self):
        self.model = None
        self.params = {}
        self.validation_data = None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        """At the start of `fit`."""

    def on_train_end(self, logs=None):
        """At the end of `fit` (logs: the last epoch's)."""

    def on_epoch_begin(self, epoch, logs=None):
        """At the start of epoch `epoch` (counted from 0)."""

    def on_epoch_end(self, epoch, logs=None):
        """At the end of an epoch, after validation: logs hold the epoch's
        loss and metrics, and "val_"-prefixed ones."""

    def on_train_batch_begin(self, batch, logs=None):
        """Before training batch `batch` (counted from 0 in each epoch)."""

    def on_train_batch_end(self, batch, logs=None):
        """After a training step: logs hold the running loss and metrics."""

    def on_test_begin(self, logs=None):
        """At the start of `evaluate` (and of validation in `fit`)."""

    def on_test_end(self, logs=None):
        """At the end of `evaluate` (logs: its results)."""

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        """logs: {"outputs": the batch's predictions}."""

    # Keras's older names
    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass


def _overrides(cb, hook):
    fn = getattr(type(cb), hook, None)
    if fn is None:
        return False
    if fn is not getattr(Callback, hook):
        return True
    # Keras's on_batch_* aliases of the train batch hooks
    if hook in ("on_train_batch_begin", "on_train_batch_end"):
        alias = hook.replace("train_", "")
        return getattr(type(cb), alias) is not getattr(Callback, alias)
    return False


class CallbackList:
    """Calls each hook on a list of callbacks, in order.

    With `add_history` / `add_progbar`, a `History` and a `ProgbarLogger`
    are added when the list has none (as `fit` does). Hooks that no callback
    overrides are not called at all, and batch logs are converted to Python
    floats only for the callbacks that need it.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None,
                 **params):
        if isinstance(callbacks, CallbackList):
            callbacks = callbacks.callbacks
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected ft.keras.callbacks.Callback objects, got "
                                f"{type(cb).__name__} {cb!r}")
        self._history = None
        self._progbar = None
        if add_progbar and not any(isinstance(cb, ProgbarLogger) for cb in self.callbacks):
            self._progbar = ProgbarLogger()
            self.callbacks.insert(0, self._progbar)
        if add_history:
            found = [cb for cb in self.callbacks if isinstance(cb, History)]
            if found:
                self._history = found[0]
            else:
                self._history = History()
                self.callbacks.append(self._history)
        self.model = None
        self.params = {}
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)
        self._active = {h: [cb for cb in self.callbacks if _overrides(cb, h)] for h in _HOOKS}

    def append(self, callback):
        self.callbacks.append(callback)
        if self.model is not None:
            callback.set_model(self.model)
        callback.set_params(self.params)
        for h in _HOOKS:
            if _overrides(callback, h):
                self._active[h].append(callback)

    def set_model(self, model):
        self.model = model
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params):
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    def wants(self, hook):
        """True when some callback overrides `hook` (fit skips building the
        batch logs otherwise)."""
        return bool(self._active[hook])

    def _call(self, hook, *args):
        logs = args[-1]
        plain = None
        for cb in self._active[hook]:
            if hook in _BATCH_HOOKS and not cb._supports_tf_logs:
                if plain is None:
                    plain = to_python(logs)
                getattr(cb, hook)(*args[:-1], plain)
                if hook.startswith("on_train_batch"):
                    getattr(cb, hook.replace("train_", ""))(*args[:-1], plain)
            else:
                getattr(cb, hook)(*args)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs)

    def __iter__(self):
        return iter(self.callbacks)


class History(Callback):
    """Records the epoch-end logs: `history` is {name: [value per epoch]}
    and `epoch` the epoch numbers. `fit` returns it (and sets `model.history`).
    """

    _supports_tf_logs = True

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}  # Keras: a new fit starts a new record

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def set_model(self, model):
        super().set_model(model)
        model.history = self


# --- progress ------------------------------------------------------------------------------

# Note [Progress output]
# ~~~~~~~~~~~~~~~~~~~~~~
# verbose=1 on a terminal with tqdm installed (the `progress` extra) draws one
# tqdm bar per epoch whose postfix shows the running loss and metrics (read
# at most every `_REFRESH` seconds: reading a metric is an op and a copy).
# Otherwise (no tqdm, output not a terminal: a log file, CI, a notebook's
# captured stream) it prints Keras's plain lines, once per epoch:
#     Epoch 1/5
#     32/32 - 0s - 4ms/step - loss: 0.6931 - accuracy: 0.5000 - val_loss: ...
# verbose=2 always prints the plain lines; verbose=0 prints nothing. Both go
# to sys.stdout (looked up at each use, so redirections apply).

_REFRESH = 0.1


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


def _is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def format_logs(logs):
    """' - loss: 0.1234 - accuracy: 0.9000' (Keras's number format)."""
    parts = []
    for k, v in logs.items():
        if isinstance(v, _core.Tensor):
            v = v.numpy()
        try:
            v = float(v)
        except (TypeError, ValueError):
            continue
        parts.append(f"{k}: {v:.4f}" if (abs(v) > 1e-3 or v == 0) and math.isfinite(v)
                     else f"{k}: {v:.4e}")
    return "".join(" - " + p for p in parts)


def _duration(seconds, steps):
    per = seconds / max(steps, 1)
    per = f"{per * 1e3:.0f}ms/step" if per >= 1e-3 else f"{per * 1e6:.0f}us/step"
    return f"{seconds:.0f}s - {per}"


class ProgbarLogger(Callback):
    """Prints the progress of `fit`, `evaluate` and `predict` (added by
    them when verbose != 0); see Note [Progress output]."""

    _supports_tf_logs = True

    def __init__(self, count_mode="steps", stateful_metrics=None):
        super().__init__()
        self.verbose = 1
        self.epochs = 1
        self._bar = None
        self._mode = None  # "train", "test", "predict"
        self._in_fit = False

    def set_params(self, params):
        super().set_params(params)
        self.verbose = params.get("verbose", 1)
        self.epochs = params.get("epochs", 1)

    def _use_bar(self):
        return self.verbose == 1 and _tqdm() is not None and _is_terminal(sys.stdout)

    def _start(self, mode, total, desc=None):
        self._mode = mode
        self._seen = 0
        self._t0 = time.perf_counter()
        self._last = self._t0
        self._total = total
        if self.verbose and self._use_bar():
            self._bar = _tqdm()(total=total, desc=desc, unit="step", file=sys.stdout,
                                leave=True, dynamic_ncols=True)
        else:
            self._bar = None
            if desc and self.verbose:
                print(desc, file=sys.stdout, flush=True)

    def _step(self, logs):
        self._seen += 1
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.perf_counter()
        if logs and now - self._last >= _REFRESH:
            self._last = now
            self._bar.set_postfix_str(format_logs(logs)[3:], refresh=False)

    def _finish(self, logs, final=True):
        if not self.verbose:
            return
        shown = {k: v for k, v in (logs or {}).items() if k != "outputs"}
        if self._bar is not None:
            self._bar.set_postfix_str(format_logs(shown)[3:], refresh=False)
            self._bar.close()
            self._bar = None
        elif final:
            steps = self._seen
            total = self._total if self._total is not None else steps
            took = time.perf_counter() - self._t0
            print(f"{steps}/{total} - {_duration(took, steps)}{format_logs(shown)}",
                  file=sys.stdout, flush=True)

    def close(self):
        """Closes an open bar (fit/evaluate/predict interrupted by an error)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._start("train", self.params.get("steps"), f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._step(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    def on_test_begin(self, logs=None):
        if not self._in_fit:  # validation inside fit shows in the epoch's line
            self._start("test", self.params.get("steps"))

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._step(logs)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._start("predict", self.params.get("steps"))

    def on_predict_batch_end(self, batch, logs=None):
        self._step(None)

    def on_predict_end(self, logs=None):
        self._finish({})


# --- training control ----------------------------------------------------------------------


def _monitor_mode(cls, monitor, mode):
    """np.less or np.greater for `mode` ("auto": greater for accuracies and
    AUC, as Keras)."""
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{cls}: mode {mode!r} is unknown, fallback to auto mode", stacklevel=3)
        mode = "auto"
    if mode == "auto":
        mode = "max" if monitor.endswith(("acc", "accuracy", "auc")) else "min"
    return np.less if mode == "min" else np.greater


class EarlyStopping(Callback):
    """Stops training when `monitor` has not improved by more than
    `min_delta` for `patience` epochs (Keras's EarlyStopping).

    Args:
        monitor: the log to watch ("val_loss", "loss", "val_accuracy", ...).
        min_delta: changes smaller than this are not improvements.
        patience: epochs without improvement before stopping.
        verbose: 1 prints when it stops (and restores).
        mode: "min", "max" or "auto" (max for accuracies and AUC).
        baseline: training stops unless the value improves on it.
        restore_best_weights: at the stop, set the weights back to those of
            the best epoch.
        start_from_epoch: epochs to wait before monitoring.

    After `fit`, `stopped_epoch` (0 when it never stopped), `best` and
    `best_epoch` tell what happened.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.min_delta = abs(float(min_delta))
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self.monitor_op = _monitor_mode("EarlyStopping", monitor, mode)
        if self.monitor_op is np.less:
            self.min_delta *= -1
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = np.inf if self.monitor_op is np.less else -np.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def _improves(self, value, reference):
        return bool(self.monitor_op(value - self.min_delta, reference))

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(
                f"EarlyStopping: the monitored value {self.monitor!r} is not in the logs; "
                f"available: {sorted(logs or {})}", UserWarning, stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        current = float(current)
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._improves(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                if self.verbose > 0:
                    print("Restoring model weights from the end of the best epoch: "
                          f"{self.best_epoch + 1}.")
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate at the start of each epoch to
    `schedule(epoch, lr)` (or `schedule(epoch)`), epochs counted from 0; the
    epoch's logs get an "lr" entry (Keras's LearningRateScheduler)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = getattr(self.model, "optimizer", None)
        if opt is None or not hasattr(opt, "learning_rate"):
            raise ValueError("LearningRateScheduler: the model has no optimizer with a "
                             "`learning_rate` (compile the model first)")
        lr = float(np.asarray(opt.learning_rate.numpy()))
        try:
            lr = self.schedule(epoch, lr)
        except TypeError:  # Keras's old signature schedule(epoch)
            lr = self.schedule(epoch)
        if isinstance(lr, _core.Tensor):
            lr = lr.numpy()
        if not isinstance(lr, (float, int, np.floating, np.integer, np.ndarray)) or isinstance(
                lr, bool) or np.ndim(lr) != 0:
            raise ValueError(f"LearningRateScheduler: the schedule must return a float, got "
                             f"{lr!r} for epoch {epoch}")
        opt.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1:05d}: LearningRateScheduler setting learning rate to "
                  f"{float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(self.model.optimizer.learning_rate.numpy())


class ReduceLROnPlateau(Callback):
    """Multiplies the optimizer's learning rate by `factor` when `monitor` has
    not improved by more than `min_delta` for `patience` epochs, then waits
    `cooldown` epochs before counting again; never below `min_lr`. The
    epoch's logs get an "lr" entry (Keras's ReduceLROnPlateau)."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        if "epsilon" in kwargs:  # Keras's old name
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau: unexpected arguments {sorted(kwargs)}")
        self.monitor = monitor
        self.factor = float(factor)
        self.patience = int(patience)
        self.verbose = verbose
        self.min_delta = float(min_delta)
        self.cooldown = int(cooldown)
        self.min_lr = float(min_lr)
        self._op = _monitor_mode("ReduceLROnPlateau", monitor, mode)
        self._reset()

    def _reset(self):
        self.best = np.inf if self._op is np.less else -np.inf
        self.wait = 0
        self.cooldown_counter = 0

    def _improves(self, value):
        if self._op is np.less:
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        opt = self.model.optimizer
        logs["lr"] = float(opt.learning_rate.numpy())
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"ReduceLROnPlateau: the monitored value {self.monitor!r} is not in the logs; "
                f"available: {sorted(logs)}", UserWarning, stacklevel=2)
            return
        current = float(current)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(current):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(opt.learning_rate.numpy())
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    opt.learning_rate = new
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class TerminateOnNaN(Callback):
    """Stops training when a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from functions: `on_epoch_begin(epoch, logs)`,
    `on_epoch_end(epoch, logs)`, `on_train_batch_begin(batch, logs)`,
    `on_train_batch_end(batch, logs)`, `on_train_begin(logs)`,
    `on_train_end(logs)` (Keras's; `on_batch_*` are the same as the train
    batch hooks)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None,
                 on_batch_end=None, on_train_begin=None, on_train_end=None, **kwargs):
        super().__init__()
        given = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_train_batch_begin": on_batch_begin, "on_train_batch_end": on_batch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end, **kwargs}
        unknown = sorted(set(given) - set(_HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hooks {unknown}; known: {list(_HOOKS)}")
        # hooks are looked up on the class by CallbackList: make a subclass per instance
        self.__class__ = type("LambdaCallback", (LambdaCallback,), {
            h: _drop_self(fn) for h, fn in given.items() if fn is not None})


def _drop_self(fn):
    def hook(self, *args):
        return fn(*args)

    return hook


class ModelCheckpoint(Callback):
    """Saves the model's weights (an ft.train checkpoint file, see
    `Model.save_weights`) at the end of every epoch, or every `save_freq`
    batches (Keras's ModelCheckpoint).

    Args:
        filepath: where to save; may hold `str.format` fields filled from the
            epoch (counted from 1) and the logs: "ckpt-{epoch:02d}-{val_loss:.3f}".
        monitor, mode: the log value that decides "best" (as EarlyStopping).
        save_best_only: save only when `monitor` improved (the file is
            overwritten when `filepath` has no fields).
        save_weights_only: accepted for Keras code; both save the
            checkpoint (layers' weights and the optimizer's state): fasttape
            has no whole-model format.
        save_freq: "epoch", or an int: every this many training batches.
        initial_value_threshold: a first "best" value to beat.
        verbose: 1 prints each save.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch", options=None,
                 initial_value_threshold=None):
        super().__init__()
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive int, "
                             f"got {save_freq!r}")
        self.filepath = str(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.save_freq = save_freq
        self.options = options
        self.monitor_op = _monitor_mode("ModelCheckpoint", monitor, mode)
        self.best = initial_value_threshold if initial_value_threshold is not None else (
            np.inf if self.monitor_op is np.less else -np.inf)
        self._batches = 0
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches += 1
            if self._batches % self.save_freq == 0:
                self._save(self._epoch, to_python(logs), batch)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, to_python(logs))

    def _save(self, epoch, logs, batch=None):
        try:
            path = self.filepath.format(epoch=epoch + 1, batch=batch, **logs)
        except KeyError as e:
            raise KeyError(f"ModelCheckpoint: filepath {self.filepath!r} names {e}, which is "
                           f"not in the logs {sorted(logs)}") from None
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"ModelCheckpoint: can save best model only with "
                              f"{self.monitor!r} available, skipping (logs: {sorted(logs)})",
                              UserWarning, stacklevel=2)
                return
            if not self.monitor_op(float(current), self.best):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from "
                          f"{self.best:.5f}")
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                      f"{float(current):.5f}, saving model to {path}")
            self.best = float(current)
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self.model.save_weights(path, options=self.options)


class TensorBoard(Callback):
    """Writes TensorBoard logs during `fit` (Keras's TensorBoard callback;
    needs `fasttape[tensorboard]`): under `log_dir/train` and
    `log_dir/validation`, the epoch's loss and metrics as scalars
    "epoch_<name>" at step = epoch, optionally "batch_<name>" every
    `update_freq` batches, and histograms of the model's weights every
    `histogram_freq` epochs (tags: the weights' names, ':' as '_').

    Args:
        log_dir: the directory of the runs.
        histogram_freq: write weight histograms every this many epochs (0: never).
        update_freq: "epoch", or an int N: also write the running batch
            logs every N training batches (step = the batch count).
        write_graph, write_images, write_steps_per_second, profile_batch,
            embeddings_freq, embeddings_metadata: accepted for Keras code;
            only their defaults (off) are supported.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and not (isinstance(update_freq, int) and update_freq > 0):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive "
                             f"int, got {update_freq!r}")
        for name, value in (("write_images", write_images), ("embeddings_freq", embeddings_freq),
                            ("write_steps_per_second", write_steps_per_second)):
            if value:
                raise NotImplementedError(f"TensorBoard: {name} is not supported")
        self.log_dir = str(log_dir)
        self.histogram_freq = int(histogram_freq)
        self.update_freq = update_freq
        self._writers = {}
        self._batches = 0

    def _writer(self, kind):
        from fasttape import summary

        if kind not in self._writers:
            self._writers[kind] = summary.create_file_writer(os.path.join(self.log_dir, kind))
        return self._writers[kind]

    def on_train_begin(self, logs=None):
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if self.update_freq != "epoch" and self._batches % self.update_freq == 0:
            from fasttape import summary

            with self._writer("train").as_default(step=self._batches):
                for k, v in to_python(logs).items():
                    if isinstance(v, (int, float)):
                        summary.scalar(f"batch_{k}", v)

    def on_epoch_end(self, epoch, logs=None):
        from fasttape import summary

        logs = to_python(logs)
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        for kind, values in (("train", train), ("validation", val)):
            if not values:
                continue
            with self._writer(kind).as_default(step=epoch):
                for k, v in values.items():
                    if isinstance(v, (int, float)):
                        summary.scalar(f"epoch_{k}", v)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            with self._writer("train").as_default(step=epoch):
                for w in self.model.weights:
                    summary.histogram(w.name.replace(":", "_"), w)

    def on_train_end(self, logs=None):
        for w in self._writers.values():
            w.close()
        self._writers = {}
