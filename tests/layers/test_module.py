"""ft.Module: TensorFlow's basic training loop guide, names, and walking
(attributes, lists, tuples, dicts; order, duplicates, cycles)."""

import numpy as np
import pytest

import fasttape as ft


def test_tensorflow_basic_training_loop_guide():
    # https://www.tensorflow.org/guide/basic_training_loops, with `tf` renamed
    tf = ft
    TRUE_W, TRUE_B, NUM_EXAMPLES = 3.0, 2.0, 201
    tf.random.set_seed(0)
    x = tf.linspace(-2, 2, NUM_EXAMPLES)
    x = tf.cast(x, tf.float32)

    def f(x):
        return x * TRUE_W + TRUE_B

    noise = tf.random.normal(shape=[NUM_EXAMPLES])
    y = f(x) + noise

    class MyModel(tf.Module):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.w = tf.Variable(5.0)
            self.b = tf.Variable(0.0)

        def __call__(self, x):
            return self.w * x + self.b

    model = MyModel()
    assert len(model.variables) == 2
    assert model(3.0).numpy() == 15.0

    def loss(target_y, predicted_y):
        return tf.reduce_mean(tf.square(target_y - predicted_y))

    def train(model, x, y, learning_rate):
        with tf.GradientTape() as t:
            current_loss = loss(y, model(x))
        dw, db = t.gradient(current_loss, [model.w, model.b])
        model.w.assign_sub(learning_rate * dw)
        model.b.assign_sub(learning_rate * db)

    weights, biases = [], []
    epochs = range(10)

    def training_loop(model, x, y):
        for _ in epochs:
            train(model, x, y, learning_rate=0.1)
            weights.append(model.w.numpy())
            biases.append(model.b.numpy())

    first = loss(y, model(x)).numpy()
    training_loop(model, x, y)
    last = loss(y, model(x)).numpy()
    assert last < first / 4
    assert abs(float(model.w.numpy()) - TRUE_W) < 0.5
    assert abs(float(model.b.numpy()) - TRUE_B) < 0.5
    # the guide's loop, checked against the same updates in NumPy
    w, b = 5.0, 0.0
    xn, yn = x.numpy().astype(np.float64), y.numpy().astype(np.float64)
    for _ in epochs:
        r = w * xn + b - yn
        w, b = w - 0.1 * np.mean(2 * r * xn), b - 0.1 * np.mean(2 * r)
    np.testing.assert_allclose([weights[-1], biases[-1]], [w, b], rtol=1e-4)


def test_name_from_class_and_given():
    class MyDenseLayer(ft.Module):
        pass

    assert MyDenseLayer().name == "my_dense_layer"
    assert ft.Module().name == "module"
    assert ft.Module(name="encoder").name == "encoder"
    # tf.Module does not make names unique
    assert MyDenseLayer().name == MyDenseLayer().name


@pytest.mark.parametrize("bad", ["has space", "1abc", "a/b", "", 3])
def test_invalid_name(bad):
    with pytest.raises(ValueError, match="not a valid module name"):
        ft.Module(name=bad)


def test_name_scope_and_with_name_scope():
    class M(ft.Module):
        @ft.Module.with_name_scope
        def __call__(self):
            return ft.Variable(1.0)

    m = M(name="outer")
    with m.name_scope as scope:
        assert scope == "outer/"
    assert float(m()) == 1.0
    g = ft.Graph()
    with g.as_default(), m.name_scope:
        t = ft.placeholder(ft.float32, (), name="p")
    assert t.name == "outer/p:0"


class Leaf(ft.Module):
    def __init__(self, name, trainable=True):
        super().__init__(name=name)
        self.v = ft.Variable(1.0, name=name + "_v", trainable=trainable)


def test_walks_attributes_lists_tuples_dicts():
    class Root(ft.Module):
        def __init__(self):
            super().__init__()
            self.a_list = [Leaf("l0"), Leaf("l1")]
            self.b_tuple = (Leaf("t0"), [Leaf("t1")])
            self.c_dict = {"z": Leaf("dz"), "a": Leaf("da")}
            self.d_var = ft.Variable(0.0, name="root_v")
            self.e_frozen = Leaf("fz", trainable=False)
            self.f_other = "not a module"

    r = Root()
    # attributes in sorted name order, dicts by sorted key, then the
    # submodules' variables breadth first
    assert [v.name for v in r.variables] == [
        "root_v:0", "l0_v:0", "l1_v:0", "t0_v:0", "t1_v:0", "da_v:0", "dz_v:0", "fz_v:0"]
    assert [m.name for m in r.submodules] == ["l0", "l1", "t0", "t1", "da", "dz", "fz"]
    assert [v.name for v in r.trainable_variables] == [
        "root_v:0", "l0_v:0", "l1_v:0", "t0_v:0", "t1_v:0", "da_v:0", "dz_v:0"]
    assert [v.name for v in r.non_trainable_variables] == ["fz_v:0"]
    assert isinstance(r.variables, tuple)


def test_nested_modules_breadth_first():
    class Mid(ft.Module):
        def __init__(self, name):
            super().__init__(name=name)
            self.inner = Leaf(name + "_in")

    class Root(ft.Module):
        def __init__(self):
            super().__init__()
            self.a = Mid("a")
            self.b = Mid("b")

    r = Root()
    assert [m.name for m in r.submodules] == ["a", "b", "a_in", "b_in"]
    assert [v.name for v in r.variables] == ["a_in_v:0", "b_in_v:0"]


def test_duplicates_listed_once():
    class Root(ft.Module):
        def __init__(self):
            super().__init__()
            shared = Leaf("shared")
            self.x = shared
            self.y = [shared, shared]
            self.w = ft.Variable(1.0, name="w")
            self.w_again = {"k": self.w}

    r = Root()
    assert [v.name for v in r.variables] == ["w:0", "shared_v:0"]
    assert [m.name for m in r.submodules] == ["shared"]


def test_cycles_end():
    class Node(ft.Module):
        def __init__(self, name):
            super().__init__(name=name)
            self.v = ft.Variable(1.0, name=name)

    a, b = Node("a"), Node("b")
    a.child, b.child = b, a  # a cycle through modules
    a.me = a  # a module holding itself
    loop = []
    loop.append(loop)  # a list holding itself
    a.loop = loop
    d = {}
    d["d"] = d
    b.d = d
    assert [v.name for v in a.variables] == ["a:0", "b:0"]
    assert [m.name for m in a.submodules] == ["b"]
    assert [m.name for m in b.submodules] == ["a"]


def test_variables_in_a_subclass_with_unsortable_dict_keys():
    class Root(ft.Module):
        def __init__(self):
            super().__init__()
            self.d = {1: ft.Variable(1.0, name="one"), "x": ft.Variable(2.0, name="x")}

    assert [v.name for v in Root().variables] == ["one:0", "x:0"]


def test_forgotten_super_init_is_named():
    class Bad(ft.Module):
        def __init__(self):
            self.v = ft.Variable(1.0)

    class BadLayer(ft.layers.Layer):
        def __init__(self):
            self.d = ft.layers.Dense(1)

    with pytest.raises(AttributeError, match=r"must call super\(\).__init__\(\)"):
        _ = Bad().variables
    with pytest.raises(AttributeError, match=r"must call super\(\).__init__\(\)"):
        BadLayer()(ft.ones((1, 1)))
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'nope'"):
        _ = ft.Module().nope
    assert ft.layers.LSTM(3).units == 3  # the cell's arguments on the layer
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = ft.layers.LSTM(3).nope


def test_keras_lazy_modules():
    import importlib.util

    for name in ("optimizers", "losses", "metrics"):
        if importlib.util.find_spec(f"fasttape.{name}") is None:
            with pytest.raises(AttributeError, match=f"ft.keras.{name}: fasttape has no"):
                getattr(ft.keras, name)
        else:
            assert getattr(ft.keras, name) is importlib.import_module(f"fasttape.{name}")
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = ft.keras.nothing
