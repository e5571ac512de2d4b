"""Model.save_weights / load_weights and the ModelCheckpoint callback."""

import os

import numpy as np
import pytest

import fasttape as ft
from fasttape.train import _format

X = np.linspace(-1, 1, 64, dtype=np.float32).reshape(16, 4)
Y = (X.sum(axis=1, keepdims=True) > 0).astype(np.float32)


def _model():
    ft.random.set_seed(1)
    model = ft.Sequential([ft.layers.Dense(5, activation="relu"), ft.layers.Dense(1)])
    model.compile(optimizer=ft.optimizers.Adam(0.01), loss="mse", metrics=["mse"])
    return model


def test_save_weights_load_weights_round_trip_with_optimizer_state(tmp_path):
    model = _model()
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    path = str(tmp_path / "weights")
    model.save_weights(path)
    keys = set(_format.read_checkpoint(path).tensors)
    assert {"layer-0/kernel", "layer-1/bias", "optimizer/iter"} <= keys
    assert "layer-0/kernel/.OPTIMIZER_SLOT/optimizer/m" in keys

    fresh = _model()  # not built: the weights arrive when it builds
    status = fresh.load_weights(path)
    fresh.build((None, 4))
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # the optimizer's state arrives with its first step: the next step matches
    fresh.fit(X, Y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    model.fit(X, Y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    status.assert_consumed()
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_weights_rejects_other_formats(tmp_path):
    model = _model()
    model.build((None, 4))
    for bad in ("w.h5", "w.keras"):
        with pytest.raises(ValueError, match="HDF5"):
            model.save_weights(str(tmp_path / bad))
    model.save_weights(str(tmp_path / "w"))
    with pytest.raises(FileExistsError):
        model.save_weights(str(tmp_path / "w"), overwrite=False)


def test_model_checkpoint_every_epoch_and_best_only(tmp_path):
    model = _model()
    pattern = str(tmp_path / "ep{epoch:02d}")
    cb = ft.callbacks.ModelCheckpoint(pattern, monitor="loss")
    model.fit(X, Y, epochs=3, batch_size=8, verbose=0, callbacks=[cb])
    assert sorted(os.listdir(tmp_path)) == ["ep01", "ep02", "ep03"]
    fresh = _model()
    fresh.load_weights(str(tmp_path / "ep03")).expect_partial()
    fresh.build((None, 4))
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)

    best = str(tmp_path / "best")
    losses = []
    cb = ft.callbacks.ModelCheckpoint(best, monitor="loss", save_best_only=True)
    rec = ft.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: losses.append(
        (logs["loss"], [w.copy() for w in model.get_weights()])))
    model.fit(X, Y, epochs=4, batch_size=8, verbose=0, callbacks=[cb, rec])
    best_weights = min(losses, key=lambda t: t[0])[1]
    fresh = _model()
    fresh.load_weights(best).expect_partial()
    fresh.build((None, 4))
    for a, b in zip(fresh.get_weights(), best_weights):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_save_freq_in_batches(tmp_path):
    model = _model()
    cb = ft.callbacks.ModelCheckpoint(str(tmp_path / "b{epoch}-{batch}"), save_freq=3)
    model.fit(X, Y, epochs=2, batch_size=4, verbose=0, callbacks=[cb])  # 4 batches an epoch
    assert sorted(os.listdir(tmp_path)) == ["b1-2", "b2-1"]
    with pytest.raises(ValueError, match="save_freq"):
        ft.callbacks.ModelCheckpoint("x", save_freq=0)
