"""Callbacks: the hooks fit/evaluate/predict call and their order and logs,
History, EarlyStopping, LearningRateScheduler, TerminateOnNaN, LambdaCallback,
stop_training, and saving from a callback at epoch end."""

import numpy as np
import pytest

import fasttape as ft
from fasttape import callbacks as cb
from fasttape import layers


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    return x, y


def _model(lr=0.05, metrics=("accuracy",)):
    ft.random.set_seed(0)
    model = ft.Sequential([layers.Dense(8, activation="tanh", input_shape=(4,)),
                           layers.Dense(2)])
    model.compile(ft.optimizers.SGD(lr),
                  ft.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=list(metrics))
    return model


class Recorder(cb.Callback):
    """Records every hook with its argument and a copy of its logs."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        if name in cb._HOOKS:
            def hook(*args):
                logs = args[-1]
                self.calls.append((name, *args[:-1], None if logs is None else dict(logs)))
            return hook
        return super().__getattribute__(name)


for _hook in cb._HOOKS:  # the class must override each hook to be called
    setattr(Recorder, _hook, lambda self, *args: None)


def _names(calls):
    return [c[0] if len(c) == 2 else f"{c[0]}:{c[1]}" for c in calls]


def test_fit_calls_the_hooks_in_order_with_their_logs():
    x, y = _data(32)
    rec = Recorder()
    model = _model()
    model.fit(x, y, batch_size=16, epochs=2, callbacks=[rec], verbose=0,
              validation_data=(x[:16], y[:16]))
    epoch = (["on_epoch_begin:{e}"]
             + [f"on_train_batch_{w}:{b}" for b in range(2) for w in ("begin", "end")]
             + ["on_test_begin", "on_test_batch_begin:0", "on_test_batch_end:0",
                "on_test_end", "on_epoch_end:{e}"])
    want = (["on_train_begin"] + [s.format(e=0) for s in epoch]
            + [s.format(e=1) for s in epoch] + ["on_train_end"])
    assert _names(rec.calls) == want
    assert rec.params == {"verbose": 0, "epochs": 2, "steps": 2} and rec.model is model
    ends = [c for c in rec.calls if c[0] == "on_train_batch_end"]
    assert all(set(c[2]) == {"loss", "accuracy"} and isinstance(c[2]["loss"], float)
               for c in ends)
    epoch_logs = [c[2] for c in rec.calls if c[0] == "on_epoch_end"]
    assert [sorted(logs) for logs in epoch_logs] == [
        ["accuracy", "loss", "val_accuracy", "val_loss"]] * 2
    assert [logs["loss"] for logs in epoch_logs] == model.history.history["loss"]
    # the epoch's loss is the running mean at its last batch
    assert epoch_logs[1]["loss"] == ends[-1][2]["loss"]


def test_evaluate_and_predict_call_their_hooks():
    x, y = _data(20)
    model = _model()
    rec = Recorder()
    model.evaluate(x, y, batch_size=10, callbacks=[rec], verbose=0)
    assert _names(rec.calls) == ["on_test_begin", "on_test_batch_begin:0",
                                 "on_test_batch_end:0", "on_test_batch_begin:1",
                                 "on_test_batch_end:1", "on_test_end"]
    rec.calls.clear()
    out = model.predict(x, batch_size=10, callbacks=[rec], verbose=0)
    assert _names(rec.calls)[0] == "on_predict_begin" and rec.calls[-1][0] == "on_predict_end"
    batch_outputs = [c[2]["outputs"] for c in rec.calls if c[0] == "on_predict_batch_end"]
    np.testing.assert_allclose(np.concatenate(batch_outputs), out)


def test_stop_training_from_a_batch_hook_ends_fit():
    class StopAt(cb.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    x, y = _data(64)
    model = _model()
    history = model.fit(x, y, batch_size=8, epochs=5, callbacks=[StopAt()], verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2 and history.epoch == [0]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # a new fit starts again
    assert int(model.optimizer.iterations.numpy()) == 2 + 8


def test_history_is_new_for_each_fit():
    x, y = _data()
    model = _model()
    first = model.fit(x, y, epochs=2, verbose=0)
    assert len(first.history["loss"]) == 2
    second = model.fit(x, y, epochs=1, verbose=0)
    assert model.history is second and len(second.history["loss"]) == 1
    mine = cb.History()
    assert model.fit(x, y, epochs=3, callbacks=[mine], verbose=0) is mine
    assert mine.epoch == [0, 1, 2]


def test_a_callback_can_save_at_epoch_end():
    """The hook checkpoint callbacks use: at each epoch end the model's
    weights, the optimizer's state and the logs (with val_ metrics)."""

    class Snapshot(cb.Callback):
        def __init__(self):
            super().__init__()
            self.saved = []

        def on_epoch_end(self, epoch, logs=None):
            self.saved.append((epoch, dict(logs), self.model.get_weights(),
                               [v.numpy().copy() for v in self.model.optimizer.variables]))

    x, y = _data()
    model = _model()
    snap = Snapshot()
    model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, callbacks=[snap], verbose=0)
    assert [s[0] for s in snap.saved] == [0, 1, 2]
    assert all("val_loss" in s[1] for s in snap.saved)
    for saved, now in zip(snap.saved[-1][2], model.get_weights()):
        np.testing.assert_array_equal(saved, now)
    assert int(snap.saved[-1][3][0]) == 3 * 3  # iterations: 36 samples, 16 a batch
    assert not np.array_equal(snap.saved[0][2][0], snap.saved[-1][2][0])


# --- EarlyStopping ---------------------------------------------------------------------------


class FakeModel:
    """Enough of a model for EarlyStopping: weights are the epoch's number."""

    def __init__(self):
        self.stop_training = False
        self.weights = [np.zeros(1)]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [w.copy() for w in weights]


def _run_early_stopping(values, **kwargs):
    """Feeds the monitored values epoch by epoch; returns (callback, epochs run,
    weights at the end)."""
    es = cb.EarlyStopping(monitor="m", **kwargs)
    model = FakeModel()
    es.set_model(model)
    es.on_train_begin()
    ran = 0
    for epoch, value in enumerate(values):
        model.weights = [np.full(1, epoch, float)]
        ran += 1
        es.on_epoch_end(epoch, {"m": value})
        if model.stop_training:
            break
    return es, ran, model.weights[0][0]


# (values, kwargs, epochs run, best epoch); the best epoch is where the
# value last improved by more than min_delta in the mode's direction
_EARLY = [
    ([5, 4, 3, 3.5, 3.6, 3.7, 1], {"patience": 2}, 5, 2),
    ([5, 4, 3, 3.5, 3.6, 3.7, 1], {"patience": 4}, 7, 6),
    ([1, 2, 3, 2, 2, 2], {"patience": 1, "mode": "max"}, 4, 2),
    ([1, 2, 3, 2, 2, 2], {"patience": 1, "mode": "min"}, 2, 0),
    ([5, 4.95, 4.9, 4.85], {"patience": 2, "min_delta": 0.1}, 3, 0),
    ([5, 4, 4, 4], {"patience": 1, "baseline": 1.5}, 3, 1),  # misses the baseline: no reset
    ([5, 4, 3, 2], {"patience": 1, "baseline": 1.5}, 4, 3),  # improving: never stops
    ([5, 6, 7, 8], {"patience": 0}, 2, 0),
    ([9, 9, 8, 9, 9], {"patience": 1, "start_from_epoch": 2}, 4, 2),
]


@pytest.mark.parametrize("values, kwargs, ran, best", _EARLY)
@pytest.mark.parametrize("restore", [False, True])
def test_early_stopping_table(values, kwargs, ran, best, restore):
    es, epochs, weight = _run_early_stopping(values, restore_best_weights=restore, **kwargs)
    assert epochs == ran
    assert es.stopped_epoch == (ran - 1 if ran < len(values) else 0)
    assert es.best_epoch == best
    if ran < len(values):  # stopped: the weights are the best epoch's when restoring
        assert weight == (best if restore else ran - 1)


@pytest.mark.parametrize("monitor, op", [("val_loss", np.less), ("loss", np.less),
                                         ("val_accuracy", np.greater), ("acc", np.greater),
                                         ("val_auc", np.greater), ("mse", np.less)])
def test_early_stopping_auto_mode(monitor, op):
    assert cb.EarlyStopping(monitor=monitor).monitor_op is op


def test_early_stopping_warns_about_a_missing_value():
    es = cb.EarlyStopping(monitor="val_loss")
    es.set_model(FakeModel())
    es.on_train_begin()
    with pytest.warns(UserWarning, match=r"'val_loss' is not in the logs; available: \['loss'\]"):
        es.on_epoch_end(0, {"loss": 1.0})


def test_early_stopping_in_fit_stops_and_restores():
    """Validating on flipped labels: the validation loss grows as training
    fits the training labels, so the first epoch stays the best."""
    x, y = _data(64)
    saved = []
    keep = cb.LambdaCallback(on_epoch_end=lambda epoch, logs: saved.append(
        model.get_weights()))
    model = _model(lr=0.2)
    es = cb.EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    history = model.fit(x, y, epochs=20, batch_size=16, validation_data=(x, 1 - y),
                        callbacks=[keep, es], verbose=0)
    val = history.history["val_loss"]
    best = int(np.argmin(val))
    assert es.best_epoch == best and es.stopped_epoch == best + 2 < 19
    assert len(val) == es.stopped_epoch + 1 and model.stop_training
    for a, b in zip(model.get_weights(), saved[best]):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_prints_when_verbose(capsys):
    es, _, _ = _run_early_stopping([1, 2, 3], patience=1, verbose=1, restore_best_weights=True)
    es.on_train_end()
    out = capsys.readouterr().out
    assert "Restoring model weights from the end of the best epoch: 1." in out
    assert "Epoch 2: early stopping" in out


# --- LearningRateScheduler ------------------------------------------------------------------


class LrAtEpochBegin(cb.Callback):
    def __init__(self):
        super().__init__()
        self.lrs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.lrs.append(float(self.model.optimizer.learning_rate.numpy()))


@pytest.mark.parametrize("schedule", [
    lambda epoch, lr: lr * 0.5 if epoch else lr,
    lambda epoch: 0.1 * 0.5 ** epoch,
    lambda epoch, lr: np.float32(0.1 * 0.5 ** epoch),
    lambda epoch, lr: ft.constant(0.1 * 0.5 ** epoch),
], ids=["epoch-lr", "epoch-only", "numpy", "tensor"])
def test_learning_rate_scheduler_sets_the_optimizer_rate(schedule):
    x, y = _data(32)
    model = _model(lr=0.1)
    seen = LrAtEpochBegin()
    history = model.fit(x, y, epochs=4, callbacks=[cb.LearningRateScheduler(schedule), seen],
                        verbose=0)
    want = [0.1 * 0.5 ** e for e in range(4)]
    np.testing.assert_allclose(seen.lrs, want, rtol=1e-6)
    np.testing.assert_allclose(history.history["lr"], want, rtol=1e-6)


def test_learning_rate_scheduler_steps_with_the_new_rate():
    """SGD without momentum: a zero rate leaves the weights unchanged."""
    x, y = _data(32)
    model = _model(lr=0.1)
    before = model.get_weights()
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[cb.LearningRateScheduler(lambda epoch: 0.0)])
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_learning_rate_scheduler_rejects_non_floats(capsys):
    x, y = _data(16)
    with pytest.raises(ValueError, match="schedule must return a float, got 'fast'"):
        _model().fit(x, y, verbose=0,
                     callbacks=[cb.LearningRateScheduler(lambda epoch, lr: "fast")])
    _model().fit(x, y, verbose=0, callbacks=[cb.LearningRateScheduler(lambda e: 0.01, 1)])
    assert "LearningRateScheduler setting learning rate to 0.01" in capsys.readouterr().out


# --- the others -------------------------------------------------------------------------------


def test_terminate_on_nan(capsys):
    x, y = _data(32)
    x[3, 0] = np.nan
    model = _model()
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
              callbacks=[cb.TerminateOnNaN()])
    assert int(model.optimizer.iterations.numpy()) == 1
    assert "Batch 0: Invalid loss, terminating training" in capsys.readouterr().out


def test_lambda_callback_and_keras_batch_aliases():
    x, y = _data(32)
    seen = []

    class OldStyle(cb.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(("alias", batch))

    lam = cb.LambdaCallback(on_train_begin=lambda logs: seen.append(("begin",)),
                            on_batch_end=lambda batch, logs: seen.append(("batch", batch)))
    _model().fit(x, y, batch_size=16, callbacks=[lam, OldStyle()], verbose=0)
    assert seen == [("begin",), ("batch", 0), ("alias", 0), ("batch", 1), ("alias", 1)]
    with pytest.raises(TypeError, match="unknown hooks"):
        cb.LambdaCallback(on_epoch_middle=print)


def test_callback_list_rejects_non_callbacks_and_skips_unused_hooks():
    with pytest.raises(TypeError, match="expected ft.keras.callbacks.Callback objects, got"):
        cb.CallbackList([print])
    only_epochs = cb.CallbackList([cb.LearningRateScheduler(lambda e: 0.1)], add_history=True)
    assert not only_epochs.wants("on_train_batch_end")
    assert only_epochs.wants("on_epoch_begin") and only_epochs.wants("on_epoch_end")
    assert isinstance(only_epochs.callbacks[-1], cb.History)


class _OptimizerOnly:
    def __init__(self, lr):
        self.optimizer = ft.optimizers.SGD(lr)
        self.stop_training = False


# (values, kwargs, the learning rate after each epoch), starting at 1.0
_PLATEAU = [
    ([3, 3, 3, 3, 3], {"patience": 2, "factor": 0.5}, [1, 1, 0.5, 0.5, 0.25]),
    ([3, 3, 3, 3, 3], {"patience": 1, "factor": 0.5, "cooldown": 2},  # the cooldown's last
     [1, 0.5, 0.5, 0.25, 0.25]),                                     # epoch counts again
    ([3, 2, 1, 1, 1], {"patience": 1, "factor": 0.1}, [1, 1, 1, 0.1, 0.01]),
    ([3, 3, 3, 3], {"patience": 1, "factor": 0.1, "min_lr": 0.05}, [1, 0.1, 0.05, 0.05]),
    ([3, 2.99995, 2.9999], {"patience": 1, "factor": 0.5, "min_delta": 1e-3}, [1, 0.5, 0.25]),
    ([0.5, 0.6, 0.6, 0.6], {"patience": 2, "factor": 0.5, "mode": "max"}, [1, 1, 1, 0.5]),
]


@pytest.mark.parametrize("values, kwargs, lrs", _PLATEAU)
def test_reduce_lr_on_plateau_table(values, kwargs, lrs):
    model = _OptimizerOnly(1.0)
    plateau = cb.ReduceLROnPlateau(monitor="m", **kwargs)
    plateau.set_model(model)
    plateau.on_train_begin()
    seen = []
    for epoch, value in enumerate(values):
        logs = {"m": value}
        plateau.on_epoch_end(epoch, logs)
        seen.append(float(model.optimizer.learning_rate.numpy()))
        assert logs["lr"] == pytest.approx(seen[-2] if epoch else 1.0)
    np.testing.assert_allclose(seen, lrs, rtol=1e-6)


def test_reduce_lr_on_plateau_in_fit():
    x, y = _data(32)
    model = _model(lr=0.1)
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[
        cb.ReduceLROnPlateau(monitor="val_loss", patience=1, factor=0.5, min_delta=100.0)],
        validation_data=(x, y))
    np.testing.assert_allclose(history.history["lr"], [0.1, 0.1, 0.05, 0.025], rtol=1e-6)
    with pytest.raises(ValueError, match="factor must be < 1"):
        cb.ReduceLROnPlateau(factor=2.0)
