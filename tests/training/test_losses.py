"""ft.losses against NumPy references of Keras's formulas: values, gradients
(finite differences), reductions and sample weights, names and errors, and
that every loss computes through ops of the table."""

import inspect
import types

import numpy as np
import pytest

import fasttape as ft
from fasttape._core.core import registered_ops
from fasttape.testing import check_grads

EPS = 1e-7
RNG = np.random.default_rng(0)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _probs(shape, seed=1):
    return _softmax(np.random.default_rng(seed).normal(size=shape))


def _onehot(labels, n):
    return np.eye(n)[labels]


# --- NumPy references (Keras's formulas) ------------------------------------------------------


def _ref_cce(y, p, from_logits=False, ls=0.0):
    if ls:
        y = y * (1 - ls) + ls / p.shape[-1]
    if from_logits:
        p = _softmax(p)
    else:
        p = np.clip(p / p.sum(-1, keepdims=True), EPS, 1 - EPS)
    return -(y * np.log(p)).sum(-1)


def _ref_bce(y, p, from_logits=False, ls=0.0):
    if ls:
        y = y * (1 - ls) + 0.5 * ls
    if from_logits:
        x = p
        out = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    else:
        p = np.clip(p, EPS, 1 - EPS)
        out = -(y * np.log(p + EPS) + (1 - y) * np.log(1 - p + EPS))
    return out.mean(-1)


def _ref_huber(y, p, delta=1.0):
    e = p - y
    a = np.abs(e)
    return np.where(a <= delta, 0.5 * e * e, delta * a - 0.5 * delta ** 2).mean(-1)


Y = RNG.normal(size=(4, 3))
P = RNG.normal(size=(4, 3))
LABELS = np.array([0, 2, 1, 2])
PROBS = _probs((4, 3))
BIN_Y = (RNG.uniform(size=(4, 3)) > 0.5).astype(np.float64)
BIN_P = RNG.uniform(0.05, 0.95, size=(4, 3))

CASES = {
    "mse": (ft.losses.mean_squared_error, Y, P, ((P - Y) ** 2).mean(-1)),
    "mae": (ft.losses.mean_absolute_error, Y, P, np.abs(P - Y).mean(-1)),
    "huber": (ft.losses.huber, Y, 2 * P, _ref_huber(Y, 2 * P)),
    "huber-delta": (lambda y, p: ft.losses.huber(y, p, delta=0.3), Y, P,
                    _ref_huber(Y, P, 0.3)),
    "cce": (ft.losses.categorical_crossentropy, _onehot(LABELS, 3), PROBS,
            _ref_cce(_onehot(LABELS, 3), PROBS)),
    "cce-soft-unnormalized": (ft.losses.categorical_crossentropy, _probs((4, 3), 5),
                              3 * PROBS, _ref_cce(_probs((4, 3), 5), 3 * PROBS)),
    "cce-logits": (lambda y, p: ft.losses.categorical_crossentropy(y, p, from_logits=True),
                   _onehot(LABELS, 3), P, _ref_cce(_onehot(LABELS, 3), P, True)),
    "cce-smoothing": (lambda y, p: ft.losses.categorical_crossentropy(
        y, p, label_smoothing=0.2), _onehot(LABELS, 3), PROBS,
        _ref_cce(_onehot(LABELS, 3), PROBS, ls=0.2)),
    "scce": (ft.losses.sparse_categorical_crossentropy, LABELS, PROBS,
             _ref_cce(_onehot(LABELS, 3), PROBS)),
    "scce-logits": (lambda y, p: ft.losses.sparse_categorical_crossentropy(
        y, p, from_logits=True), LABELS, P, _ref_cce(_onehot(LABELS, 3), P, True)),
    "bce": (ft.losses.binary_crossentropy, BIN_Y, BIN_P, _ref_bce(BIN_Y, BIN_P)),
    "bce-logits": (lambda y, p: ft.losses.binary_crossentropy(y, p, from_logits=True),
                   BIN_Y, P, _ref_bce(BIN_Y, P, True)),
    "bce-smoothing": (lambda y, p: ft.losses.binary_crossentropy(y, p, label_smoothing=0.1),
                      BIN_Y, BIN_P, _ref_bce(BIN_Y, BIN_P, ls=0.1)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_loss_function_matches_reference(case):
    fn, y, p, want = CASES[case]
    got = fn(y, ft.constant(p))
    assert got.dtype == np.float64 and got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", list(CASES))
def test_loss_function_gradients(case):
    fn, y, p, _ = CASES[case]
    if case.startswith("huber"):  # keep the points away from the kink |e| = delta
        p = p + 0.01
    check_grads(lambda pred: fn(y, pred), [p], order=2, name=case)


def test_float32_losses_stay_float32():
    y = np.array([[0.0, 1.0]], np.float32)
    for fn in (ft.losses.mse, ft.losses.mae, ft.losses.binary_crossentropy, ft.losses.huber,
               ft.losses.categorical_crossentropy):
        assert fn(y, ft.constant([[0.3, 0.7]])).dtype == np.float32


def test_sparse_labels_may_be_columns_or_floats():
    want = ft.losses.sparse_categorical_crossentropy(LABELS, PROBS).numpy()
    for labels in (LABELS[:, None], LABELS.astype(np.float32), LABELS.astype(np.int64)):
        np.testing.assert_allclose(
            ft.losses.sparse_categorical_crossentropy(labels, PROBS).numpy(), want)


def test_class_axis_may_be_first():
    got = ft.losses.categorical_crossentropy(_onehot(LABELS, 3).T, P.T, from_logits=True, axis=0)
    np.testing.assert_allclose(got.numpy(), _ref_cce(_onehot(LABELS, 3), P, True))
    got = ft.losses.sparse_categorical_crossentropy(LABELS, P.T, from_logits=True, axis=0)
    np.testing.assert_allclose(got.numpy(), _ref_cce(_onehot(LABELS, 3), P, True))


# --- classes: reductions and sample weights -------------------------------------------------

CLASSES = [
    (ft.losses.MeanSquaredError, {}, Y, P, ((P - Y) ** 2).mean(-1)),
    (ft.losses.MeanAbsoluteError, {}, Y, P, np.abs(P - Y).mean(-1)),
    (ft.losses.Huber, {"delta": 0.5}, Y, P, _ref_huber(Y, P, 0.5)),
    (ft.losses.CategoricalCrossentropy, {"from_logits": True}, _onehot(LABELS, 3), P,
     _ref_cce(_onehot(LABELS, 3), P, True)),
    (ft.losses.SparseCategoricalCrossentropy, {}, LABELS, PROBS,
     _ref_cce(_onehot(LABELS, 3), PROBS)),
    (ft.losses.BinaryCrossentropy, {}, BIN_Y, BIN_P, _ref_bce(BIN_Y, BIN_P)),
]

WEIGHTS = [None, 2.5, np.array([0.0, 1.0, 2.0, 0.5]), np.array([[0.0], [1.0], [2.0], [0.5]])]


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
@pytest.mark.parametrize("w", WEIGHTS, ids=["none", "scalar", "vector", "column"])
@pytest.mark.parametrize("cls,kw,y,p,per_sample", CLASSES, ids=[c[0].__name__ for c in CLASSES])
def test_reductions_and_sample_weights(cls, kw, y, p, per_sample, w, reduction):
    loss = cls(reduction=reduction, **kw)
    got = loss(y, ft.constant(p), sample_weight=w)
    weighted = per_sample * (1.0 if w is None else np.reshape(w, (-1,)) if np.ndim(w) else w)
    want = {"none": weighted, "sum": weighted.sum(),
            "sum_over_batch_size": weighted.sum() / weighted.size}[reduction]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


def test_default_reduction_is_the_mean_over_the_batch():
    assert ft.losses.MeanSquaredError().reduction == "sum_over_batch_size"
    assert ft.losses.MeanSquaredError(reduction="auto").reduction == "sum_over_batch_size"
    with pytest.raises(ValueError, match="invalid reduction 'mean'"):
        ft.losses.MeanSquaredError(reduction="mean")


def test_class_squeezes_a_trailing_one_like_keras():
    y, p = np.arange(4.0), np.arange(4.0)[:, None] + 1.0  # (4,) and (4, 1)
    assert float(ft.losses.MeanSquaredError()(y, p)) == 1.0  # not a (4, 4) broadcast


def test_class_gradient_through_weights_and_reduction():
    w = np.array([0.5, 1.0, 2.0, 0.0])
    for cls, kw, y, p, _ in CLASSES:
        loss = cls(**kw)
        check_grads(lambda pred, loss=loss, y=y: loss(y, pred, sample_weight=w), [p + 0.01],
                    name=cls.__name__)


def test_errors_name_the_loss_and_shapes():
    with pytest.raises(ValueError, match=r"mean_squared_error: y_true of shape \(4, 3\) and "
                                         r"y_pred of shape \(4, 2\) do not broadcast"):
        ft.losses.mean_squared_error(Y, P[:, :2])
    with pytest.raises(ValueError, match=r"y_true of shape \(3,\) does not match y_pred of "
                                         r"shape \(4, 3\)"):
        ft.losses.sparse_categorical_crossentropy(LABELS[:3], PROBS)
    with pytest.raises(TypeError, match="y_pred must be floating point, got dtype int"):
        ft.losses.binary_crossentropy([1, 0], [1, 0])
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) does not broadcast"):
        ft.losses.MeanSquaredError()(Y, P, sample_weight=np.ones(3))
    with pytest.raises(ft.errors.InvalidArgumentError, match="labels must lie in"):
        ft.losses.sparse_categorical_crossentropy([0, 5, 1, 1], PROBS)


def test_a_keras_style_subclass():
    class Quartic(ft.losses.Loss):
        def call(self, y_true, y_pred):
            return ft.reduce_mean((y_pred - y_true) ** 4, axis=-1)

    got = Quartic(reduction="sum")(Y, P, sample_weight=np.arange(4.0))
    np.testing.assert_allclose(got.numpy(), (((P - Y) ** 4).mean(-1) * np.arange(4.0)).sum())
    assert Quartic().name == "Quartic"


def test_get_by_name():
    assert isinstance(ft.losses.get("sparse_categorical_crossentropy"),
                      ft.losses.SparseCategoricalCrossentropy)
    assert isinstance(ft.losses.get("mse"), ft.losses.MeanSquaredError)
    assert isinstance(ft.losses.get("BinaryCrossentropy"), ft.losses.BinaryCrossentropy)
    assert isinstance(ft.losses.get("huber_loss"), ft.losses.Huber)
    loss = ft.losses.Huber(delta=2.0)
    assert ft.losses.get(loss) is loss and ft.losses.get(None) is None
    assert ft.losses.get(ft.losses.mae) is ft.losses.mae
    again = ft.losses.deserialize(ft.losses.serialize(loss))
    assert isinstance(again, ft.losses.Huber) and again.get_config() == loss.get_config()
    assert ft.losses.mse is ft.losses.MSE is ft.losses.mean_squared_error
    assert ft.keras.losses.Huber is ft.losses.Huber
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        ft.losses.get("hinge")


# --- every loss computes through the op table -----------------------------------------------


def _public_losses():
    for name, obj in vars(ft.losses).items():
        if name.startswith("_") or not callable(obj) or isinstance(obj, types.ModuleType):
            continue
        if getattr(obj, "__module__", None) != ft.losses.__name__:
            continue
        if inspect.isclass(obj) and issubclass(obj, ft.losses.Loss) and obj not in (
                ft.losses.Loss, ft.losses.LossFunctionWrapper):
            yield name, obj()
        elif inspect.isfunction(obj) and list(inspect.signature(obj).parameters)[:2] == [
                "y_true", "y_pred"]:
            yield name, obj


def _inputs(name):
    if "sparse" in name.lower():
        return LABELS, PROBS
    if "categorical" in name.lower() or "binary" in name.lower():
        return BIN_Y, BIN_P
    return Y, P


def test_every_public_loss_runs_ops_of_the_table():
    losses = dict(_public_losses())
    assert len(losses) >= 12, sorted(losses)
    ops = [op for op in registered_ops() if op.family != "custom"]
    calls = []
    saved = [(op, op.forward) for op in ops]
    for op, fwd in saved:
        op.forward = lambda *a, _f=fwd, _op=op: (calls.append(_op.name), _f(*a))[1]
    try:
        for name, fn in losses.items():
            del calls[:]
            y, p = _inputs(name)
            out = fn(y, ft.constant(p))
            assert calls, f"ft.losses.{name} computed without any op of the table"
            assert isinstance(out, ft.Tensor)
    finally:
        for op, fwd in saved:
            op.forward = fwd
