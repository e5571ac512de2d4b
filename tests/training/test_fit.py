"""Model.compile / fit / evaluate / predict / *_on_batch: the numbers against
hand-written loops, string names, data forms, progress output, errors."""

import numpy as np
import pytest

import fasttape as ft
from fasttape import callbacks as ft_callbacks
from fasttape import layers


def _blobs(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = ((x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 0)).astype(np.int32)  # 3 classes
    return x, y


def _mlp(seed=0, classes=3):
    ft.random.set_seed(seed)
    return ft.Sequential([layers.Dense(8, activation="tanh", input_shape=(4,)),
                          layers.Dense(classes)])


def _twin(model):
    """A second model with the same architecture and weights."""
    other = _mlp(classes=model.layers[-1].units)
    other.set_weights(model.get_weights())
    return other


def _scce():
    return ft.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_fit_reduces_the_loss_and_fills_the_history():
    x, y = _blobs()
    model = _mlp()
    model.compile(ft.optimizers.Adam(0.05), _scce(), metrics=["accuracy"])
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, epochs=6, batch_size=16, validation_data=(x[:32], y[:32]),
                        verbose=0)
    assert history is model.history and isinstance(history, ft.keras.callbacks.History)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.epoch == list(range(6))
    assert all(len(v) == 6 and all(isinstance(e, float) for e in v)
               for v in history.history.values())
    after = model.evaluate(x, y, verbose=0)
    assert after[0] < 0.6 * before[0] and after[1] > before[1]
    assert history.history["loss"][-1] < history.history["loss"][0]


def _manual_epoch(model, opt, loss_fn, x, y, batch_size, sw=None):
    for start in range(0, len(x), batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        with ft.GradientTape() as tape:
            loss = (loss_fn(yb, model(xb, training=True)) if sw is None
                    else loss_fn(yb, model(xb, training=True), sw[start:start + batch_size]))
            loss = loss + ft.layers.base.sum_losses(model.losses)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))


@pytest.mark.parametrize("opt", ["sgd", "adam", "rmsprop"])
def test_fit_steps_exactly_as_a_hand_written_loop(opt):
    """shuffle=False: the same batches, the same updates, the same weights,
    with a regularized layer (model.losses join the loss)."""
    x, y = _blobs(50)
    model = ft.Sequential([layers.Dense(8, activation="tanh", input_shape=(4,),
                                        kernel_regularizer=ft.regularizers.L2(0.01)),
                           layers.Dense(3)])
    ft.random.set_seed(1)
    twin = ft.Sequential([layers.Dense(8, activation="tanh", input_shape=(4,),
                                       kernel_regularizer=ft.regularizers.L2(0.01)),
                          layers.Dense(3)])
    twin.set_weights(model.get_weights())
    model.compile(opt, _scce())
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    manual_opt = ft.optimizers.get(opt)
    for _ in range(2):
        _manual_epoch(twin, manual_opt, _scce(), x, y, 16)
    assert int(model.optimizer.iterations.numpy()) == 2 * 4
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_evaluate_is_the_mean_over_all_samples():
    x, y = _blobs(70)
    model = _mlp()
    model.compile("sgd", _scce(), metrics=["accuracy"])
    loss, acc = model.evaluate(x, y, batch_size=16, verbose=0)
    logits = model(x)
    assert loss == pytest.approx(float(_scce()(y, logits)), rel=1e-6)
    assert acc == pytest.approx(float(np.mean(logits.numpy().argmax(-1) == y)), rel=1e-6)
    as_dict = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(as_dict) == model.metrics_names == ["loss", "accuracy"]
    model.compile("sgd", "mse")
    assert isinstance(model.evaluate(x, np.zeros((70, 3)), verbose=0), float)


def test_predict_and_predict_on_batch_match_the_forward_pass():
    x, _ = _blobs(45)
    model = _mlp()
    want = model(x).numpy()
    got = model.predict(x, batch_size=8, verbose=0)
    assert isinstance(got, np.ndarray) and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model.predict_on_batch(x[:5]), want[:5], rtol=1e-6, atol=1e-6)


def test_train_on_batch_and_test_on_batch():
    x, y = _blobs(16)
    model = _mlp()
    twin = _twin(model)
    model.compile("adam", _scce(), metrics=["accuracy"])
    loss, acc = model.train_on_batch(x, y)
    logits = twin(x)
    assert loss == pytest.approx(float(_scce()(y, logits)), rel=1e-6)
    assert acc == pytest.approx(float(np.mean(logits.numpy().argmax(-1) == y)), rel=1e-6)
    _manual_epoch(twin, ft.optimizers.Adam(), _scce(), x, y, 16)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # the metrics are this batch's only, unless reset_metrics=False
    t1 = model.test_on_batch(x[:8], y[:8], return_dict=True)
    t2 = model.test_on_batch(x[:8], y[:8], return_dict=True)
    assert t1 == t2
    model.test_on_batch(x[8:], y[8:], reset_metrics=False)
    both = model.test_on_batch(x[:8], y[:8], reset_metrics=False, return_dict=True)
    whole = model.evaluate(x[8:].tolist() and np.concatenate([x[8:], x[:8]]),
                           np.concatenate([y[8:], y[:8]]), batch_size=8, verbose=0,
                           return_dict=True)
    assert both == pytest.approx(whole, rel=1e-6)


@pytest.mark.parametrize("name, cls", sorted(ft.optimizers._BY_NAME.items()))
def test_compile_optimizer_names(name, cls):
    model = _mlp()
    model.compile(name, "mse")
    assert type(model.optimizer) is cls


@pytest.mark.parametrize("name", sorted(k for k in ft.losses._CLASSES if k.islower()))
def test_compile_loss_names(name):
    model = _mlp()
    model.compile("sgd", name)
    assert type(model.compiled_loss) is ft.losses._CLASSES[name]


# "accuracy" and "crossentropy": Keras's choice from the shapes (and a binary loss)
_SHAPE_CASES = [
    ((8,), 3, "sparse_categorical_crossentropy", ft.metrics.SparseCategoricalAccuracy,
     ft.losses.sparse_categorical_crossentropy),
    ((8, 1), 3, "sparse_categorical_crossentropy", ft.metrics.SparseCategoricalAccuracy,
     ft.losses.sparse_categorical_crossentropy),
    ((8, 3), 3, "categorical_crossentropy", ft.metrics.CategoricalAccuracy,
     ft.losses.categorical_crossentropy),
    ((8, 1), 1, "binary_crossentropy", ft.metrics.BinaryAccuracy,
     ft.losses.binary_crossentropy),
    ((8,), 1, "binary_crossentropy", ft.metrics.BinaryAccuracy, ft.losses.binary_crossentropy),
]


@pytest.mark.parametrize("y_shape, classes, loss, acc_cls, ce_fn", _SHAPE_CASES)
def test_accuracy_and_crossentropy_follow_the_shapes(y_shape, classes, loss, acc_cls, ce_fn):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    if len(y_shape) == 2 and y_shape[1] == classes and classes > 1:
        y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, 8)]
    else:
        y = rng.integers(0, max(classes, 2), y_shape).astype(np.float32)
    model = _mlp(classes=classes)
    if classes == 1:
        model.add(layers.Activation("sigmoid"))
    else:
        model.add(layers.Activation("softmax"))
    model.compile("sgd", loss, metrics=["accuracy", "acc", "crossentropy"])
    logs = model.test_on_batch(x, y, return_dict=True)
    acc, acc2, ce = model.metrics[1:]
    assert type(acc) is acc_cls and type(acc2) is acc_cls
    assert (acc.name, acc2.name, ce.name) == ("accuracy", "acc", "crossentropy")
    assert ce._fn is ce_fn
    direct = acc_cls()
    direct.update_state(y, model(x))
    assert logs["accuracy"] == pytest.approx(float(direct.result()))


def test_compile_metric_objects_classes_and_functions():
    x, y = _blobs(32)
    model = _mlp()
    model.compile("sgd", _scce(), metrics=[ft.metrics.SparseCategoricalAccuracy(name="sca"),
                                           ft.metrics.SparseCategoricalAccuracy,
                                           ft.losses.sparse_categorical_crossentropy])
    assert model.metrics_names == ["loss", "sca", "sparse_categorical_accuracy",
                                   "sparse_categorical_crossentropy"]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["sca"] == logs["sparse_categorical_accuracy"]
    assert logs["sparse_categorical_crossentropy"] == pytest.approx(
        float(ft.losses.SparseCategoricalCrossentropy()(y, model(x))), rel=1e-5)


def test_loss_function_is_reduced_and_weighted():
    x, y = _blobs(32)
    model = _mlp()
    model.compile("sgd", ft.losses.mean_squared_error)
    target = np.ones((32, 3), np.float32)
    w = np.linspace(0, 1, 32).astype(np.float32)
    got = model.evaluate(x, target, sample_weight=w, batch_size=32, verbose=0)
    assert got == pytest.approx(float(ft.losses.MeanSquaredError()(target, model(x), w)),
                                rel=1e-6)


@pytest.mark.parametrize("kind, value, match", [
    ("loss", "sparse_categorical_crosentropy",
     r"unknown loss 'sparse_categorical_crosentropy'; choose one of \[.*'mse'.*"
     r"'sparse_categorical_crossentropy'"),
    ("metrics", ["accurcy"], r"unknown metric 'accurcy'; choose one of \[.*'accuracy'"),
    ("optimizer", "adamm", r"unknown optimizer 'adamm'; known: \[.*'adam'"),
    ("loss", 3, "loss must be a name"),
    ("loss", ["mse", "mse"], "one loss per output"),
])
def test_compile_errors_name_the_choices(kind, value, match):
    args = {"optimizer": "sgd", "loss": "mse", kind: value}
    with pytest.raises((ValueError, TypeError), match=match):
        _mlp().compile(**args)


@pytest.mark.parametrize("call", [
    lambda m, x, y: m.fit(x, y, verbose=0),
    lambda m, x, y: m.evaluate(x, y, verbose=0),
    lambda m, x, y: m.train_on_batch(x, y),
    lambda m, x, y: m.test_on_batch(x, y),
], ids=["fit", "evaluate", "train_on_batch", "test_on_batch"])
def test_training_before_compile_raises(call):
    x, y = _blobs(8)
    with pytest.raises(RuntimeError, match="must compile your model"):
        call(_mlp(), x, y)


@pytest.mark.parametrize("kwargs, match", [
    ({"y": np.zeros(5)}, "data cardinality is ambiguous: x sizes: 8; y sizes: 5"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"validation_split": 1.5}, r"validation_split must be in \(0, 1\)"),
    ({"x": [(np.ones((2, 4)), np.zeros(2))], "y": np.zeros(2)}, "`y` must not be given"),
    ({"x": iter([(np.ones((2, 4)), np.zeros(2))]), "y": None, "validation_split": 0.5},
     "validation_split is only supported for arrays"),
    ({"verbose": 3}, "verbose must be"),
    ({"x": np.ones((0, 4)), "y": np.zeros(0)}, "non-empty"),
])
def test_fit_argument_errors(kwargs, match):
    x, y = _blobs(8)
    model = _mlp()
    model.compile("sgd", _scce())
    args = {"x": x, "y": y, "verbose": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        model.fit(**args)


def test_several_outputs_need_a_custom_loss():
    class TwoOutputs(ft.Model):
        def __init__(self):
            super().__init__()
            self.a, self.b = layers.Dense(2), layers.Dense(1)

        def call(self, x):
            return self.a(x), self.b(x)

    model = TwoOutputs()
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="returns 2 outputs, but compile takes one loss"):
        model.fit(*_blobs(8), verbose=0)


def test_fit_needs_targets_for_the_loss():
    model = _mlp()
    model.compile("sgd", _scce())
    with pytest.raises(ValueError, match="needs targets"):
        model.fit(_blobs(8)[0], verbose=0)


def test_validation_split_takes_the_last_samples():
    x, y = _blobs(40)
    model = _mlp()
    model.compile("sgd", _scce(), metrics=["accuracy"])
    history = model.fit(x, y, epochs=1, validation_split=0.25, batch_size=10, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 3  # 30 training samples
    val = model.evaluate(x[30:], y[30:], verbose=0, return_dict=True)
    assert history.history["val_loss"][0] == pytest.approx(val["loss"], rel=1e-6)
    assert history.history["val_accuracy"][0] == pytest.approx(val["accuracy"], rel=1e-6)


def test_batches_from_iterables_datasets_and_generators():
    x, y = _blobs(48)
    batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 48, 16)]
    from_arrays = _mlp()
    from_list = _twin(from_arrays)
    from_gen = _twin(from_arrays)
    for m in (from_arrays, from_list, from_gen):
        m.compile("sgd", _scce())
    h1 = from_arrays.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    h2 = from_list.fit(batches, epochs=2, verbose=0, validation_data=batches[:1])
    gen = (b for _ in range(2) for b in batches)  # one-shot: needs steps_per_epoch
    h3 = from_gen.fit(gen, epochs=2, steps_per_epoch=3, verbose=0)
    assert h1.history["loss"] == pytest.approx(h2.history["loss"], rel=1e-6)
    assert h1.history["loss"] == pytest.approx(h3.history["loss"], rel=1e-6)
    assert "val_loss" in h2.history
    with pytest.warns(UserWarning, match="ran out of data"):
        h4 = _twin(from_arrays)
        h4.compile("sgd", _scce())
        hist = h4.fit(iter(batches), epochs=3, steps_per_epoch=2, verbose=0)
    assert len(hist.history["loss"]) == 2  # the second epoch got 1 batch of 2, then stop


def test_fit_accepts_an_ft_data_dataset():
    data = pytest.importorskip("fasttape.data")
    x, y = _blobs(48)
    model = _mlp()
    twin = _twin(model)
    for m in (model, twin):
        m.compile("sgd", _scce())
    h1 = model.fit(data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=2, verbose=0)
    h2 = twin.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert h1.history["loss"] == pytest.approx(h2.history["loss"], rel=1e-6)


def test_steps_per_epoch_with_arrays_continues_across_epochs():
    x, y = _blobs(40)
    model = _mlp()
    model.compile("sgd", _scce())
    history = model.fit(x, y, batch_size=16, epochs=3, steps_per_epoch=2, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 6 and len(history.epoch) == 3


def test_initial_epoch_and_validation_freq():
    x, y = _blobs(32)
    model = _mlp()
    model.compile("sgd", _scce())
    history = model.fit(x, y, epochs=5, initial_epoch=2, validation_data=(x, y),
                        validation_freq=2, verbose=0)
    assert history.epoch == [2, 3, 4]
    assert len(history.history["loss"]) == 3 and len(history.history["val_loss"]) == 1


def test_shuffle_is_reproducible_under_set_seed_and_changes_the_order():
    x, y = _blobs(64)
    runs = []
    for shuffle, seed in ((True, 3), (True, 3), (False, 3), ("batch", 3)):
        model = _mlp()
        model.compile("sgd", _scce())
        ft.random.set_seed(seed)
        runs.append(model.fit(x, y, batch_size=8, epochs=2, shuffle=shuffle,
                              verbose=0).history["loss"])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2] and runs[3] != runs[2]


def test_sample_weight_and_class_weight_agree():
    x, y = _blobs(48)
    weights = {0: 2.0, 1: 0.5, 2: 1.0}
    a = _mlp()
    b = _twin(a)
    for m in (a, b):
        m.compile("sgd", _scce())
    ha = a.fit(x, y, class_weight=weights, batch_size=16, shuffle=False, verbose=0)
    hb = b.fit(x, y, sample_weight=np.array([weights[int(c)] for c in y]), batch_size=16,
               shuffle=False, verbose=0)
    assert ha.history["loss"] == pytest.approx(hb.history["loss"], rel=1e-6)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6)


def test_multiple_inputs_as_a_list():
    class TwoInputs(ft.Model):
        def __init__(self):
            super().__init__()
            self.a, self.b = layers.Dense(2), layers.Dense(2)

        def call(self, inputs):
            return self.a(inputs[0]) + self.b(inputs[1])

    x, y = _blobs(24)
    model = TwoInputs()
    model.compile("sgd", _scce())
    history = model.fit([x, x[:, :2]], y % 2, batch_size=8, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert model.predict([x, x[:, :2]], verbose=0).shape == (24, 2)
    lines = []
    model.summary(print_fn=lines.append)
    assert any("(None, 2)" in line for line in lines)


def test_custom_train_step_is_used_by_fit():
    class Counting(ft.Sequential):
        steps = 0

        def train_step(self, data):
            Counting.steps += 1
            return super().train_step(data)

    x, y = _blobs(32)
    model = Counting([layers.Dense(3, input_shape=(4,))])
    model.compile("sgd", _scce(), run_eagerly=True)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert Counting.steps == 8 and int(model.optimizer.iterations.numpy()) == 8
    model.compile("sgd", _scce())  # traced: the Python step runs once per trace
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 8
    assert Counting.steps == 8 + 1


# --- output -------------------------------------------------------------------------------


def _fit_output(capsys, verbose, **kw):
    x, y = _blobs(40)
    model = _mlp()
    model.compile("sgd", _scce(), metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=16, verbose=verbose, validation_data=(x, y), **kw)
    model.evaluate(x, y, verbose=verbose)
    model.predict(x, verbose=verbose)
    return capsys.readouterr()


def test_verbose_0_prints_nothing(capsys):
    out = _fit_output(capsys, 0)
    assert out.out == "" and out.err == ""


@pytest.mark.parametrize("verbose", [1, 2, "auto"])
def test_plain_lines_when_not_a_terminal(capsys, verbose):
    out = _fit_output(capsys, verbose).out.splitlines()
    assert out[0] == "Epoch 1/2" and out[2] == "Epoch 2/2"
    for line in (out[1], out[3]):
        assert line.startswith("3/3 - ")
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert f" - {key}: " in line
    assert out[4].startswith("2/2 - ") and " - accuracy: " in out[4]  # evaluate (32 a batch)
    assert out[5].startswith("2/2 - ") and len(out) == 6  # predict


def test_tqdm_bar_on_a_terminal(capsys, monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(ft_callbacks, "_is_terminal", lambda stream: True)
    out = _fit_output(capsys, 1)
    text = out.out
    assert "Epoch 1/2" in text and "Epoch 2/2" in text
    assert "3/3" in text and "val_accuracy: " in text
    # verbose=2 stays one plain line per epoch even on a terminal
    lines = _fit_output(capsys, 2).out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[1].startswith("3/3 - ")


def test_plain_lines_without_tqdm(capsys, monkeypatch):
    monkeypatch.setattr(ft_callbacks, "_is_terminal", lambda stream: True)
    monkeypatch.setattr(ft_callbacks, "_tqdm", lambda: None)
    out = _fit_output(capsys, 1).out.splitlines()
    assert out[0] == "Epoch 1/2" and out[1].startswith("3/3 - ")


# --- the traced step --------------------------------------------------------------------


def test_traced_and_eager_steps_give_the_same_numbers():
    x, y = _blobs(50)
    traced = ft.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
                            layers.BatchNormalization(), layers.Dropout(0.0), layers.Dense(3)])
    eager = ft.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
                           layers.BatchNormalization(), layers.Dropout(0.0), layers.Dense(3)])
    eager.set_weights(traced.get_weights())
    histories = []
    for model, run_eagerly in ((traced, False), (eager, True)):
        model.compile(ft.optimizers.Adam(0.01), _scce(), metrics=["accuracy"],
                      run_eagerly=run_eagerly)
        histories.append(model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
                                   validation_data=(x[:20], y[:20])).history)
    assert isinstance(traced.make_train_function(), ft.function(lambda: None).__class__)
    for key in histories[1]:
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=1e-6, atol=1e-6)
    for a, b in zip(traced.get_weights(), eager.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_traced_evaluate_and_predict_match_eager():
    x, y = _blobs(50)
    model = ft.Sequential([layers.Dense(8, activation="relu", input_shape=(4,)),
                           layers.BatchNormalization(), layers.Dense(3)])
    results = {}
    for run_eagerly in (False, True):
        model.compile("sgd", _scce(), metrics=["accuracy"], run_eagerly=run_eagerly)
        results[run_eagerly] = (model.evaluate(x, y, batch_size=16, verbose=0),
                                model.predict(x, batch_size=16, verbose=0),
                                model.test_on_batch(x[:10], y[:10]))
        traced = isinstance(model.make_test_function(), ft.function(lambda: None).__class__)
        assert traced == (not run_eagerly) and traced == isinstance(
            model.make_predict_function(), ft.function(lambda: None).__class__)
    for a, b in zip(results[False], results[True]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # one trace per batch shape (16 and the last 2)
    model.compile("sgd", _scce(), metrics=["accuracy"])
    model.evaluate(x, y, batch_size=16, verbose=0)
    model.evaluate(x, y, batch_size=16, verbose=0)
    assert model.make_test_function().experimental_get_tracing_count() == 2


def test_training_state_is_not_tracked():
    """What fit keeps on the model (compiled loss and metrics, traced steps,
    the per-epoch walk, the history) is not a layer, weight or attribute
    that tracking or checkpoints see; the optimizer is (Keras's)."""
    x, y = _blobs(32)
    model = _mlp()
    layers_before = [id(layer) for layer in model.layers]
    weights_before = [id(w) for w in model.weights]
    model.compile("adam", _scce(), metrics=["accuracy"])
    seen = []
    probe = ft.keras.callbacks.LambdaCallback(on_batch_end=lambda batch, logs: seen.append(
        ([id(layer) for layer in model.layers], [id(w) for w in model.weights],
         [k for k, _ in model._attributes()])))
    model.fit(x, y, batch_size=8, epochs=2, validation_data=(x, y), callbacks=[probe], verbose=0)
    assert len(seen) == 8
    for layer_ids, weight_ids, attributes in seen:
        assert layer_ids == layers_before and weight_ids == weights_before
        assert "optimizer" in attributes
        assert not set(attributes) & {"_compiled", "_functions", "_walk_cache", "history"}
