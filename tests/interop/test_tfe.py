"""ft.contrib.eager (tfe): the seed's names, with snippets of the TensorFlow 1.x
eager guide ported as they were written (tf -> ft)."""

import numpy as np
import pytest

import fasttape as ft
import fasttape.contrib.eager as tfe

# the names the seed's readers type, and what each must be
_SAME = {
    "make_template": ft.make_template,
    "py_func": ft.py_function,
    "Variable": ft.Variable,
    "defun": ft.function,
    "executing_eagerly": ft.executing_eagerly,
    "enable_eager_execution": ft.enable_eager_execution,
    "GradientTape": ft.GradientTape,
    "EagerVariableStore": ft.compat.v1.EagerVariableStore,
}


@pytest.mark.parametrize("name", sorted(_SAME))
def test_tfe_names_are_fasttapes(name):
    assert getattr(tfe, name) is _SAME[name]
    assert getattr(ft.contrib.eager, name) is _SAME[name]


@pytest.mark.parametrize("name", ["gradients_function", "value_and_gradients_function",
                                  "implicit_gradients", "implicit_value_and_gradients",
                                  "make_vjp"])
def test_gradient_helpers_return_functions(name):
    helper = getattr(tfe, name)
    assert callable(helper(lambda x: x * 2.0))
    assert name in tfe.__all__


def test_metrics_are_the_keras_metrics():
    m = tfe.metrics.Mean()
    m([1.0, 2.0, 3.0])
    m(5.0)
    assert float(m.result()) == pytest.approx(2.75)
    acc = tfe.metrics.Accuracy()
    acc(ft.constant([1, 2, 3]), ft.constant([1, 0, 3]))
    assert float(acc.result()) == pytest.approx(2 / 3)


def test_iterator_over_a_dataset():
    ds = ft.data.Dataset.from_tensor_slices(ft.constant([[1.0], [2.0], [3.0]])).batch(2)
    it = tfe.Iterator(ds)
    np.testing.assert_array_equal(it.get_next().numpy(), [[1.0], [2.0]])
    assert [b.shape for b in it] == [ft.TensorShape([1, 1])]
    with pytest.raises(StopIteration):
        it.next()
    with pytest.raises(TypeError, match="Dataset"):
        tfe.Iterator(3)


def test_checkpoint_is_looked_up_lazily():
    try:
        from fasttape.train import Checkpoint
    except ImportError:
        with pytest.raises(AttributeError, match="fasttape.train"):
            tfe.Checkpoint  # noqa: B018
    else:
        assert tfe.Checkpoint is Checkpoint


# --- the eager guide's "Computing gradients" section ------------------------------

def square(x):
    return ft.multiply(x, x)


def test_guide_gradients_function_and_higher_orders():
    grad = tfe.gradients_function(square)
    assert float(square(3.0)) == 9.0
    g = grad(3.0)
    assert isinstance(g, list) and len(g) == 1 and float(g[0]) == 6.0
    gradgrad = tfe.gradients_function(lambda x: grad(x)[0])
    assert [float(v) for v in gradgrad(3.0)] == [2.0]
    gradgradgrad = tfe.gradients_function(lambda x: gradgrad(x)[0])
    assert gradgradgrad(3.0) == [None]


def test_guide_gradients_with_python_control_flow():
    def abs(x):  # noqa: A001  (the guide's name)
        return x if x > 0.0 else -x

    grad = tfe.gradients_function(abs)
    assert float(grad(3.0)[0]) == 1.0
    assert float(grad(-3.0)[0]) == -1.0


def test_guide_linear_regression_with_gradients_function():
    rng = np.random.default_rng(0)
    inputs = ft.constant(rng.normal(size=1000).astype(np.float32))
    outputs = inputs * 3.0 + 2.0 + ft.constant(rng.normal(size=1000).astype(np.float32))

    def loss(weight, bias):
        error = inputs * weight + bias - outputs
        return ft.reduce_mean(ft.square(error))

    grad = tfe.gradients_function(loss)
    w, b = 5.0, 10.0
    for _ in range(200):
        dw, db = grad(w, b)
        w -= float(dw) * 0.1
        b -= float(db) * 0.1
    assert w == pytest.approx(3.0, abs=0.1) and b == pytest.approx(2.0, abs=0.1)


def test_guide_implicit_gradients_with_an_optimizer():
    rng = np.random.default_rng(1)
    x = ft.constant(rng.normal(size=(256, 2)).astype(np.float32))
    y = ft.matmul(x, ft.constant([[2.0], [-1.0]])) + 0.5
    w = ft.Variable(np.zeros((2, 1), np.float32), name="w")
    b = ft.Variable(0.0, name="b")

    def loss(x, y):
        return ft.reduce_mean(ft.square(ft.matmul(x, w) + b - y))

    grad_fn = tfe.implicit_gradients(loss)
    pairs = grad_fn(x, y)
    assert [v for _, v in pairs] == [w, b]  # creation order
    opt = ft.optimizers.SGD(0.1)
    for _ in range(300):
        opt.apply_gradients(grad_fn(x, y))
    np.testing.assert_allclose(w.numpy(), [[2.0], [-1.0]], atol=1e-3)
    value, pairs = tfe.implicit_value_and_gradients(loss)(x, y)
    assert float(value) < 1e-5 and len(pairs) == 2


# --- argument and return conventions (TensorFlow 1.x's) ---------------------------

def test_params_by_name_and_index_and_dy():
    def f(x, y):
        return x * x * y

    assert [float(g) for g in tfe.gradients_function(f)(3.0, 2.0)] == [12.0, 9.0]
    assert [float(g) for g in tfe.gradients_function(f, params=["y"])(3.0, 2.0)] == [9.0]
    assert [float(g) for g in tfe.gradients_function(f, params=[0])(3.0, 2.0)] == [12.0]
    val, grads = tfe.value_and_gradients_function(f)(3.0, 2.0, dy=2.0)
    assert float(val) == 18.0 and [float(g) for g in grads] == [24.0, 18.0]
    with pytest.raises(ValueError, match="keyword arguments"):
        tfe.gradients_function(f)(3.0, y=2.0)
    with pytest.raises(ValueError, match="all strings or all integers"):
        tfe.gradients_function(f, params=["x", 1])(3.0, 2.0)


def test_same_tensor_twice_gives_two_gradients():
    x = ft.constant(3.0)
    grads = tfe.gradients_function(lambda a, b: a * b)(x, x)
    assert [float(g) for g in grads] == [3.0, 3.0]


def test_non_scalar_results_are_summed():
    grads = tfe.gradients_function(lambda x: x * x)(ft.constant([1.0, 2.0]))
    np.testing.assert_allclose(grads[0].numpy(), [2.0, 4.0])


def test_make_vjp():
    result, vjp = tfe.make_vjp(lambda x: x * x)(ft.constant([1.0, 2.0]))
    np.testing.assert_allclose(result.numpy(), [1.0, 4.0])
    np.testing.assert_allclose(vjp(dy=ft.constant([1.0, 10.0]))[0].numpy(), [2.0, 40.0])


def test_errors_are_tensorflows():
    with pytest.raises(ValueError, match="returns None"):
        tfe.gradients_function(lambda x: None)(1.0)
    with pytest.raises(ValueError, match="No trainable variables were accessed"):
        tfe.implicit_gradients(lambda x: x * 2.0)(1.0)
    with pytest.raises(ValueError, match="returns None"):
        tfe.implicit_gradients(lambda: None)()


def test_defun_traces():
    calls = []

    @tfe.defun
    def f(x):
        calls.append(1)
        return x * 2.0

    f(ft.constant([1.0]))
    f(ft.constant([2.0]))
    assert len(calls) == 1
    assert tfe.executing_eagerly()
