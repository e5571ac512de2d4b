"""ft.layers.Layer: building, tracking, freezing, the training argument,
losses, get/set_weights, input checks, names."""

import numpy as np
import pytest

import fasttape as ft
from fasttape import layers


@pytest.fixture(autouse=True)
def _fresh_names():
    ft.keras.backend.clear_session()


def names(vs):
    return [v.name for v in vs]


def test_keras_aliases():
    assert ft.keras.layers is ft.layers
    assert ft.keras.initializers is ft.initializers
    assert ft.keras.activations is ft.activations
    assert ft.keras.regularizers is ft.regularizers
    assert issubclass(layers.Layer, ft.Module)
    assert layers.MaxPooling2D is layers.MaxPool2D
    assert layers.AveragePooling2D is layers.AveragePool2D


def test_build_on_first_call_with_the_input_shape():
    seen = []

    class Scale(layers.Layer):
        def build(self, input_shape):
            seen.append(input_shape)
            self.w = self.add_weight("w", (input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.w

    s = Scale()
    assert not s.built and s.weights == []
    y = s(np.ones((2, 3), np.float32))
    assert s.built and y.shape == (2, 3)
    assert isinstance(seen[0], ft.TensorShape) and seen[0].as_list() == [2, 3]
    s(np.ones((5, 3), np.float32))
    assert len(seen) == 1  # built once
    assert names(s.weights) == ["scale/w:0"]


def test_names_unique_per_class_and_clear_session():
    assert [layers.Dense(1).name for _ in range(3)] == ["dense", "dense_1", "dense_2"]
    assert layers.Dense(1, name="head").name == "head"
    assert layers.Conv2DTranspose(1, 1).name == "conv2d_transpose"
    assert layers.MaxPool2D().name == "max_pooling2d"
    assert layers.AveragePool2D().name == "average_pooling2d"
    assert layers.SimpleRNN(1).name == "simple_rnn"
    ft.keras.backend.clear_session()
    assert layers.Dense(1).name == "dense"


def test_add_weight_defaults_and_dtype():
    layer = layers.Layer(dtype="float64")
    w = layer.add_weight("k", (3, 4))
    assert w.dtype == np.float64 and w.trainable
    lim = np.sqrt(6 / 7)  # glorot_uniform
    assert np.all(np.abs(w.numpy()) <= lim)
    z = layer.add_weight("c", (2,), dtype="int32", trainable=False)
    assert z.dtype == np.int32 and not np.any(z.numpy())
    assert names(layer.trainable_weights) == ["layer/k:0"]
    assert names(layer.non_trainable_weights) == ["layer/c:0"]
    with pytest.raises(ValueError, match="initializer"):
        layer.add_weight("bad", (2,), initializer=lambda shape, dtype=None: ft.zeros((3,)))


class Block(layers.Layer):
    """Sublayers in a list and a dict, a variable in an attribute."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.stack = [layers.Dense(4), layers.Dense(3)]
        self.heads = {"b": layers.Dense(2), "a": layers.BatchNormalization()}
        self.scale = ft.Variable(np.float32(1.0), name="scale")

    def call(self, x, training=None):
        for d in self.stack:
            x = d(x)
        return self.heads["a"](self.heads["b"](x), training=training) * self.scale


def test_tracking_lists_dicts_and_variables():
    b = Block()
    b(np.ones((2, 5), np.float32))
    assert names(b.trainable_weights) == [
        "scale:0", "dense/kernel:0", "dense/bias:0", "dense_1/kernel:0", "dense_1/bias:0",
        # a dict's values in sorted key order (TensorFlow's wrappers' order)
        "batch_normalization/gamma:0", "batch_normalization/beta:0",
        "dense_2/kernel:0", "dense_2/bias:0"]
    assert names(b.non_trainable_weights) == [
        "batch_normalization/moving_mean:0", "batch_normalization/moving_variance:0"]
    assert names(b.weights) == names(b.trainable_weights) + names(b.non_trainable_weights)
    assert names(b.variables) == names(b.weights)
    assert [layer.name for layer in b.layers] == ["dense", "dense_1", "batch_normalization",
                                                  "dense_2"]
    assert [m.name for m in b.submodules] == ["dense", "dense_1", "batch_normalization",
                                              "dense_2"]
    assert b.count_params() == 5 * 4 + 4 + 4 * 3 + 3 + 3 * 2 + 2 + 4 * 2 + 1


def test_shared_layer_and_cycle_listed_once():
    class Twice(layers.Layer):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(2)
            self.again = [self.d, {"x": self.d}]
            self.d.parent = self  # a cycle

        def call(self, x):
            return self.d(self.d(x))

    t = Twice()
    t(np.ones((1, 2), np.float32))
    assert names(t.weights) == ["dense/kernel:0", "dense/bias:0"]


def test_trainable_false_freezes_recursively():
    b = Block()
    b(np.ones((2, 5), np.float32))
    n = len(b.weights)
    b.trainable = False
    assert b.trainable_weights == [] and len(b.non_trainable_weights) == n
    assert all(not layer.trainable for layer in b.layers)
    assert b.stack[0].trainable_weights == []
    b.trainable = True
    assert len(b.trainable_weights) == 9
    # freezing one sublayer only
    b.stack[1].trainable = False
    assert "dense_1/kernel:0" not in names(b.trainable_weights)
    assert "dense_1/kernel:0" in names(b.non_trainable_weights)
    assert len(b.weights) == n
    # a frozen layer's variables get no gradient from a loop over trainable_variables
    x = ft.constant(np.ones((2, 5), np.float32))
    with ft.GradientTape() as tape:
        y = ft.reduce_sum(b(x))
    grads = tape.gradient(y, b.trainable_variables)
    assert len(grads) == len(b.trainable_variables) and all(g is not None for g in grads)


def test_training_argument_passed_and_inherited():
    seen = []

    class Probe(layers.Layer):
        def call(self, x, training=None):
            seen.append(training)
            return x

    class Outer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.p = Probe()

        def call(self, x):
            return self.p(x)  # no training given: the outer call's

    p, o = Probe(), Outer()
    p(ft.ones((1,)))
    p(ft.ones((1,)), training=True)
    o(ft.ones((1,)), training=True)
    o(ft.ones((1,)))
    assert seen == [False, True, True, False]

    class NoTraining(layers.Layer):
        def call(self, x):
            return x + 1.0

    assert float(NoTraining()(ft.constant(1.0), training=True)) == 2.0


def test_regularizer_and_add_loss_losses():
    d = layers.Dense(3, kernel_regularizer=ft.regularizers.L2(0.1),
                     bias_regularizer="l1", bias_initializer="ones")
    d(np.ones((2, 4), np.float32))
    k = d.kernel.numpy()
    losses = d.losses
    assert len(losses) == 2
    np.testing.assert_allclose(float(losses[0]), 0.1 * np.sum(k ** 2), rtol=1e-5)
    np.testing.assert_allclose(float(losses[1]), 0.01 * 3, rtol=1e-5)
    # the penalties are computed at each read, so a tape records them
    with ft.GradientTape() as tape:
        total = ft.add_n(d.losses)
    np.testing.assert_allclose(tape.gradient(total, d.kernel).numpy(), 0.2 * k, rtol=1e-5)

    class WithLoss(layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = layers.Dense(2, kernel_regularizer=ft.regularizers.L1L2(l1=0.5))

        def call(self, x):
            self.add_loss(ft.reduce_sum(x))
            return self.inner(x)

    w = WithLoss()
    w(np.ones((1, 2), np.float32))
    w(np.ones((1, 2), np.float32))  # the per-call losses are reset at each outer call
    assert len(w.losses) == 2
    assert float(w.losses[0]) == 2.0
    np.testing.assert_allclose(float(w.losses[1]),
                               0.5 * np.abs(w.inner.kernel.numpy()).sum(), rtol=1e-5)


def test_activity_regularizer():
    d = layers.Dense(2, kernel_initializer="ones", activity_regularizer=ft.regularizers.L2(1.0))
    y = d(np.ones((4, 3), np.float32))
    np.testing.assert_allclose(float(d.losses[0]), np.sum(y.numpy() ** 2) / 4, rtol=1e-6)


def test_get_and_set_weights():
    d = layers.Dense(2)
    d(np.ones((1, 3), np.float32))
    w = d.get_weights()
    assert [a.shape for a in w] == [(3, 2), (2,)]
    new = [np.arange(6, dtype=np.float32).reshape(3, 2), np.array([1.0, -1.0], np.float32)]
    d.set_weights(new)
    np.testing.assert_array_equal(d(np.ones((1, 3), np.float32)).numpy(), [[7.0, 8.0]])
    w[0][:] = 0  # get_weights returns copies
    assert d.kernel.numpy()[1, 1] == 3.0
    with pytest.raises(ValueError, match=r'"dense".*got 1 arrays but the layer has 2'):
        d.set_weights(new[:1])
    with pytest.raises(ValueError, match=r"dense/kernel:0 has shape \(3, 2\).*\(2, 3\)"):
        d.set_weights([new[0].T, new[1]])


def test_weights_argument_sets_them_at_build():
    d = layers.Dense(1, weights=[np.full((2, 1), 2.0), np.zeros(1)])
    assert float(d(np.ones((1, 2), np.float32))[0, 0]) == 4.0


def test_input_errors_after_build():
    d = layers.Dense(3)
    d(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match=r'layer "dense".*axis -1.*value 4.*shape \(2, 5\)'):
        d(np.ones((2, 5), np.float32))
    with pytest.raises(ValueError, match=r'"dense_1".*min_ndim=2, found ndim=1'):
        layers.Dense(3)(np.ones((4,), np.float32))
    c = layers.Conv2D(2, 3)
    with pytest.raises(ValueError, match=r'"conv2d".*expected ndim=4, found ndim=3.*\(2, 5, 5\)'):
        c(np.ones((2, 5, 5), np.float32))
    c(np.ones((1, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"axis -1 of input shape to have value 3"):
        c(np.ones((1, 5, 5, 2), np.float32))
    with pytest.raises(ValueError, match=r'"lstm".*expected ndim=3'):
        layers.LSTM(2)(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r'"batch_normalization".*value 3'):
        bn = layers.BatchNormalization()
        bn(np.ones((2, 3), np.float32))
        bn(np.ones((2, 4), np.float32))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="channels_last only"):
        layers.Conv2D(2, 3, data_format="channels_first")
    with pytest.raises(ValueError, match="channels_last only"):
        layers.MaxPool2D(data_format="channels_first")
    with pytest.raises(ValueError, match="padding must be one of"):
        layers.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="units must be a positive integer"):
        layers.Dense(0)
    with pytest.raises(ValueError, match="kernel_size must be an int or 2"):
        layers.Conv2D(2, (3, 3, 3))
    with pytest.raises(TypeError, match="unexpected keyword"):
        layers.Dense(2, kernel_init="ones")
    with pytest.raises(ValueError, match="unknown activation 'relux'"):
        layers.Dense(2, activation="relux")
    with pytest.raises(ValueError, match="unknown initializer 'glorot'"):
        layers.Dense(2, kernel_initializer="glorot")
    with pytest.raises(ValueError, match="rate must be in"):
        layers.Dropout(1.5)
    with pytest.raises(ValueError, match="mask_zero=True is not supported"):
        layers.Embedding(5, 2, mask_zero=True)
    with pytest.raises(NotImplementedError, match="constraints are not supported"):
        layers.Dense(2, kernel_constraint=lambda w: w)(np.ones((1, 2), np.float32))
    with pytest.raises(ValueError, match="stateful=True is not supported"):
        layers.LSTM(2, stateful=True)


def test_float_inputs_cast_to_the_layer_dtype():
    d = layers.Dense(2, dtype="float64")
    assert d(np.ones((1, 3), np.float32)).dtype == np.float64
    assert layers.Dense(2)(np.ones((1, 3))).dtype == np.float32


def test_count_params_before_build():
    with pytest.raises(ValueError, match='"dense" is not built yet'):
        layers.Dense(2).count_params()


def test_custom_layer_with_weights_in_init():
    class Linear(layers.Layer):
        def __init__(self, units=32, input_dim=32):
            super().__init__()
            self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal",
                                     trainable=True, name="w")
            self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True,
                                     name="b")

        def call(self, inputs):
            return ft.matmul(inputs, self.w) + self.b

    lin = Linear(4, 2)
    assert lin(ft.ones((2, 2))).shape == (2, 4)
    assert names(lin.trainable_weights) == ["linear/w:0", "linear/b:0"]


def test_call_losses_belong_to_the_last_call():
    class Inner(layers.Layer):
        def call(self, x):
            self.add_loss(ft.reduce_sum(x))
            return x

    class Outer(layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = Inner()
            self.add_loss(lambda: ft.constant(100.0))  # outside a call: stays

        def call(self, x):
            return self.inner(x * 2.0)

    o = Outer()
    o(ft.ones((2,)))
    assert sorted(float(v) for v in o.losses) == [4.0, 100.0]
    o.inner(ft.ones((3,)))  # the inner layer alone: its loss is its own call's
    assert [float(v) for v in o.inner.losses] == [3.0]
    assert [float(v) for v in o.losses] == [100.0]  # not from o's last call
    o(ft.ones((1,)))
    assert sorted(float(v) for v in o.losses) == [2.0, 100.0]


def test_plain_module_and_input_shape_arguments():
    class Holder(layers.Layer):
        def __init__(self):
            super().__init__()
            self.m = ft.Module(name="plain")
            self.m.v = ft.Variable(1.0, name="plain_v")
            self.m.frozen = ft.Variable(1.0, name="plain_frozen", trainable=False)

    h = Holder()
    assert names(h.trainable_weights) == ["plain_v:0"]
    assert names(h.non_trainable_weights) == ["plain_frozen:0"]
    h.trainable = False
    # a plain Module's variables in its own (sorted attribute) order
    assert names(h.non_trainable_weights) == ["plain_frozen:0", "plain_v:0"]
    # Keras's input_shape / input_dim arguments, kept for Sequential
    assert layers.Dense(2, input_shape=(3,))._batch_input_shape == (None, 3)
    assert layers.Dense(2, input_dim=4)._batch_input_shape == (None, 4)
    assert layers.Dense(2, batch_input_shape=(8, 4))._batch_input_shape == (8, 4)


@pytest.mark.parametrize("make", [
    lambda: layers.Dense(3, activation="relu", use_bias=False),
    lambda: layers.Conv2D(2, 3, strides=2, padding="same"),
    lambda: layers.Dropout(0.2, seed=1),
    lambda: layers.LSTM(3, return_sequences=True),
    lambda: layers.BatchNormalization(momentum=0.9),
])
def test_from_config_round_trip(make):
    a = make()
    b = type(a).from_config({**a.get_config(), "name": a.name + "_copy"})
    ca, cb = a.get_config(), b.get_config()
    ca.pop("name"), cb.pop("name")
    assert ca == cb


@pytest.mark.parametrize("make,shape", [
    (lambda: layers.SimpleRNN(3), (2, 5, 4)),
    (lambda: layers.LSTM(3, return_sequences=True, return_state=True), (2, 5, 4)),
    (lambda: layers.GRU(3, return_state=True), (2, 5, 4)),
    (lambda: layers.Embedding(5, 3), (2, 4)),
    (lambda: layers.GlobalAveragePooling2D(), (2, 3, 3, 4)),
    (lambda: layers.Conv1D(2, 3, padding="causal", dilation_rate=2), (2, 7, 3)),
    (lambda: layers.MaxPool2D(3, 2, padding="same"), (1, 7, 6, 2)),
])
def test_compute_output_shape_matches_the_call(make, shape):
    layer = make()
    x = np.ones(shape, np.int32 if isinstance(layer, layers.Embedding) else np.float32)
    out = layer(x)
    got = [tuple(t.shape) for t in out] if isinstance(out, list) else tuple(out.shape)
    want = layer.compute_output_shape(shape)
    assert (list(want) if isinstance(want, list) else tuple(want)) == got


def test_several_inputs_build_with_a_list_of_shapes():
    seen = []

    class Bilinear(layers.Layer):
        def build(self, input_shape):
            seen.append([s.as_list() for s in input_shape])
            a, b = input_shape
            self.w = self.add_weight("w", (a[-1], b[-1]), initializer="ones")

        def call(self, inputs):
            a, b = inputs
            return ft.reduce_sum(ft.matmul(a, self.w) * b, axis=-1)

    layer = Bilinear()
    out = layer([np.ones((2, 3)), np.full((2, 4), 2.0)])  # NumPy inputs: converted, cast
    assert seen == [[[2, 3], [2, 4]]]
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), [24.0, 24.0])
    assert float(layers.Layer()(ft.constant(3.0))) == 3.0  # the base call: identity
