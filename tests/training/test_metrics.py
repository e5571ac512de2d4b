"""ft.metrics against scikit-learn on random data (accumulated over several
batches, with sample weights), the 0-before-update / never-NaN / reset
contract, state in non-trainable variables updated in place without tapes."""

import weakref

import numpy as np
import pytest

import fasttape as ft
from fasttape._core import core

sk = pytest.importorskip("sklearn.metrics")

N, BATCHES = 60, 3


def _batches(rng, *arrays):
    """The arrays split into BATCHES consecutive pieces."""
    idx = np.array_split(np.arange(len(arrays[0])), BATCHES)
    return [tuple(a[i] for a in arrays) for i in idx]


def _feed(metric, y, p, w=None):
    rng = np.random.default_rng(0)
    arrays = (y, p) if w is None else (y, p, w)
    for batch in _batches(rng, *arrays):
        metric.update_state(*batch[:2], sample_weight=None if w is None else batch[2])
    out = metric.result()
    assert isinstance(out, ft.Tensor) and out.dtype == np.float32
    return out.numpy()


@pytest.fixture(params=[None, "weights"], ids=["unweighted", "weighted"])
def weights(request):
    if request.param is None:
        return None
    return np.random.default_rng(7).uniform(0, 2, N)


def test_accuracy(weights):
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 3, N), rng.integers(0, 3, N)
    got = _feed(ft.metrics.Accuracy(), y, p, weights)
    np.testing.assert_allclose(got, sk.accuracy_score(y, p, sample_weight=weights), rtol=1e-6)


def test_sparse_categorical_accuracy(weights):
    rng = np.random.default_rng(2)
    y, p = rng.integers(0, 4, N), rng.normal(size=(N, 4)).astype(np.float32)
    want = sk.accuracy_score(y, p.argmax(-1), sample_weight=weights)
    np.testing.assert_allclose(_feed(ft.metrics.SparseCategoricalAccuracy(), y, p, weights),
                               want, rtol=1e-6)
    np.testing.assert_allclose(  # labels as a column
        _feed(ft.metrics.SparseCategoricalAccuracy(), y[:, None], p, weights), want, rtol=1e-6)


def test_categorical_accuracy(weights):
    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 4, N), rng.normal(size=(N, 4))
    got = _feed(ft.metrics.CategoricalAccuracy(), np.eye(4)[y], p, weights)
    np.testing.assert_allclose(got, sk.accuracy_score(y, p.argmax(-1), sample_weight=weights),
                               rtol=1e-6)


@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_binary_accuracy(weights, threshold):
    rng = np.random.default_rng(4)
    y, p = rng.integers(0, 2, N), rng.uniform(size=N)
    got = _feed(ft.metrics.BinaryAccuracy(threshold=threshold), y[:, None], p[:, None], weights)
    want = sk.accuracy_score(y, p > threshold, sample_weight=weights)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_mean_squared_error(weights):
    rng = np.random.default_rng(5)
    y, p = rng.normal(size=(N, 3)), rng.normal(size=(N, 3))
    got = _feed(ft.metrics.MeanSquaredError(), y, p, weights)
    # Keras: the weighted mean over samples of each sample's mean over the last axis
    per_sample = ((y - p) ** 2).mean(-1)
    np.testing.assert_allclose(got, np.average(per_sample, weights=weights), rtol=1e-5)
    if weights is None:
        np.testing.assert_allclose(got, sk.mean_squared_error(y, p), rtol=1e-5)


@pytest.mark.parametrize("cls,fn", [(ft.metrics.Precision, "precision_score"),
                                    (ft.metrics.Recall, "recall_score")])
@pytest.mark.parametrize("threshold", [None, 0.3])
def test_precision_and_recall(weights, cls, fn, threshold):
    rng = np.random.default_rng(6)
    y, p = rng.integers(0, 2, N), rng.uniform(size=N)
    got = _feed(cls(thresholds=threshold), y, p, weights)
    want = getattr(sk, fn)(y, p > (0.5 if threshold is None else threshold),
                           sample_weight=weights)
    assert got.shape == ()
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_precision_at_several_thresholds_and_class_id():
    rng = np.random.default_rng(8)
    y, p = rng.integers(0, 2, (N, 3)), rng.uniform(size=(N, 3))
    got = _feed(ft.metrics.Precision(thresholds=[0.2, 0.6], class_id=1), y, p)
    want = [sk.precision_score(y[:, 1], p[:, 1] > t) for t in (0.2, 0.6)]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    got = _feed(ft.metrics.Recall(), y, p)  # every element counts
    np.testing.assert_allclose(got, sk.recall_score(y.ravel(), p.ravel() > 0.5), rtol=1e-6)


@pytest.mark.parametrize("k", [1, 2])
def test_precision_and_recall_at_top_k(k):
    rng = np.random.default_rng(13)
    y = rng.integers(0, 2, (N, 4))
    p = np.round(rng.uniform(size=(N, 4)), 1)  # ties: the lower index wins, as top_k
    order = np.argsort(-p, axis=-1, kind="stable")[:, :k]
    top = np.zeros_like(y)
    np.put_along_axis(top, order, 1, axis=-1)
    got = _feed(ft.metrics.Precision(top_k=k), y, p)
    np.testing.assert_allclose(got, sk.precision_score(y.ravel(), top.ravel()), rtol=1e-6)
    got = _feed(ft.metrics.Recall(top_k=k, class_id=2), y, p)
    np.testing.assert_allclose(got, sk.recall_score(y[:, 2], top[:, 2]), rtol=1e-6)


def test_auc_roc_with_thresholds_between_the_scores_is_exact(weights):
    """With a threshold between each pair of distinct scores, Keras's
    trapezoids are exactly the ROC curve's area."""
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, N)
    p = np.round(rng.uniform(size=N), 2)  # ties too
    u = np.unique(p)
    mids = list((u[:-1] + u[1:]) / 2)
    got = _feed(ft.metrics.AUC(thresholds=mids), y, p, weights)
    np.testing.assert_allclose(got, sk.roc_auc_score(y, p, sample_weight=weights), rtol=1e-5)


def test_auc_default_thresholds_approximate_sklearn():
    rng = np.random.default_rng(10)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.3 * y + rng.uniform(size=500) * 0.7, 0, 1)
    got = _feed(ft.metrics.AUC(), y, p)
    np.testing.assert_allclose(got, sk.roc_auc_score(y, p), atol=5e-3)
    logits = np.log(p + 1e-3) - np.log1p(-p + 1e-3)
    got = _feed(ft.metrics.AUC(from_logits=True), y, logits)
    np.testing.assert_allclose(got, sk.roc_auc_score(y, p), atol=5e-3)


def test_auc_pr_curve():
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 400)
    p = np.clip(0.4 * y + rng.uniform(size=400) * 0.6, 0, 1)
    pr = {m: float(_feed(ft.metrics.AUC(curve="PR", summation_method=m), y, p))
          for m in ("interpolation", "minoring", "majoring")}
    assert pr["minoring"] <= pr["interpolation"] + 1e-6 <= pr["majoring"] + 2e-6
    np.testing.assert_allclose(pr["interpolation"], sk.average_precision_score(y, p), atol=2e-2)
    perfect = float(_feed(ft.metrics.AUC(curve="PR"), y, y * 0.8 + 0.1))
    np.testing.assert_allclose(perfect, 1.0, atol=1e-6)


def test_mean_and_sum(weights):
    rng = np.random.default_rng(12)
    x = rng.normal(size=N)
    np.testing.assert_allclose(_feed_values(ft.metrics.Mean(), x, weights),
                               np.average(x, weights=weights), rtol=1e-5)
    np.testing.assert_allclose(_feed_values(ft.metrics.Sum(), x, weights),
                               np.sum(x * (1 if weights is None else weights)), rtol=1e-5)


def _feed_values(metric, x, w):
    for i in np.array_split(np.arange(len(x)), BATCHES):
        metric.update_state(x[i], sample_weight=None if w is None else w[i])
    return metric.result().numpy()


def test_one_dimensional_inputs_are_one_value_per_sample():
    m = ft.metrics.BinaryAccuracy()
    m.update_state([1, 0, 1], [0.9, 0.8, 0.1], sample_weight=[1.0, 0.0, 3.0])
    assert float(m.result()) == 0.25
    m = ft.metrics.MeanSquaredError()
    m.update_state([1.0, 0.0], [3.0, 0.0], sample_weight=[1.0, 3.0])
    assert float(m.result()) == 1.0


def test_mean_weights_leading_axes():
    m = ft.metrics.Mean()
    m.update_state(np.array([[1.0, 3.0], [10.0, 20.0]]), sample_weight=[1.0, 0.0])
    assert float(m.result()) == 2.0  # the rows' means, weighted


# --- the contract --------------------------------------------------------------------------------

ALL = [ft.metrics.Mean, ft.metrics.Sum, ft.metrics.Accuracy, ft.metrics.BinaryAccuracy,
       ft.metrics.CategoricalAccuracy, ft.metrics.SparseCategoricalAccuracy,
       ft.metrics.Precision, ft.metrics.Recall, ft.metrics.AUC, ft.metrics.MeanSquaredError]


def _update(m, weight=None):
    if isinstance(m, (ft.metrics.Mean, ft.metrics.Sum)) and not isinstance(
            m, ft.metrics.MeanMetricWrapper):
        return m.update_state([1.0, 2.0], sample_weight=weight)
    if isinstance(m, ft.metrics.SparseCategoricalAccuracy):
        return m.update_state([1, 0], [[0.2, 0.8], [0.4, 0.6]], sample_weight=weight)
    if isinstance(m, (ft.metrics.CategoricalAccuracy,)):
        return m.update_state([[0, 1], [1, 0]], [[0.2, 0.8], [0.4, 0.6]], sample_weight=weight)
    return m.update_state([1, 0], [0.8, 0.6], sample_weight=weight)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_zero_before_update_never_nan_and_reset(cls):
    m = cls()
    r = m.result()
    assert isinstance(r, ft.Tensor) and float(r) == 0.0
    _update(m, weight=[0.0, 0.0])  # all weight zero: still no NaN
    assert np.isfinite(m.result().numpy()).all()
    _update(m)
    first = m.result().numpy()
    m.reset_state()
    assert float(m.result()) == 0.0
    assert all(not v.numpy().any() for v in m.variables)
    _update(m)
    np.testing.assert_allclose(m.result().numpy(), first)
    m.reset_states()
    assert float(m.result()) == 0.0


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_state_is_non_trainable_variables_updated_in_place_off_tape(cls):
    m = cls()
    assert m.variables and all(isinstance(v, ft.Variable) and not v.trainable
                               for v in m.variables)
    assert m.trainable_variables == []
    arrays = [weakref.ref(core.tensor_value(v)) for v in m.variables]
    w = ft.Variable([0.8, 0.6])
    with ft.GradientTape(persistent=True) as tape:
        y = w * 1.0  # watched: a model's output
        y2 = ft.reshape(ft.concat([y, 1 - y], 0), (2, 2))
        n = tape._n_entries
        if isinstance(m, (ft.metrics.Mean, ft.metrics.Sum)) and not isinstance(
                m, ft.metrics.MeanMetricWrapper):
            m.update_state(y)
        elif isinstance(m, ft.metrics.CategoricalAccuracy):
            m.update_state([[0, 1], [1, 0]], y2)
        elif isinstance(m, ft.metrics.SparseCategoricalAccuracy):
            m.update_state([1, 0], y2)
        else:
            m.update_state([1, 0], y)
        m.result()
        assert tape._n_entries == n
    assert all(core.tensor_value(v) is r() for v, r in zip(m.variables, arrays))
    assert any(v.numpy().any() for v in m.variables)


def test_call_updates_and_returns_the_result():
    m = ft.metrics.Mean()
    assert float(m([1.0, 3.0])) == 2.0
    assert float(m(6.0)) == pytest.approx(10.0 / 3)
    acc = ft.metrics.SparseCategoricalAccuracy()
    assert float(acc([1, 0], [[0.2, 0.8], [0.3, 0.7]])) == 0.5


def test_get_by_name():
    for name, cls in [("accuracy", ft.metrics.Accuracy), ("acc", ft.metrics.Accuracy),
                      ("sparse_categorical_accuracy", ft.metrics.SparseCategoricalAccuracy),
                      ("binary_accuracy", ft.metrics.BinaryAccuracy),
                      ("AUC", ft.metrics.AUC), ("mse", ft.metrics.MeanSquaredError),
                      ("Precision", ft.metrics.Precision)]:
        a, b = ft.metrics.get(name), ft.metrics.get(name)
        assert type(a) is cls and a is not b  # a new instance: metrics hold state
    m = ft.metrics.Recall()
    assert ft.metrics.get(m) is m
    assert ft.keras.metrics.AUC is ft.metrics.AUC
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        ft.metrics.get("f1")


def test_errors():
    with pytest.raises(ValueError, match=r"predictions must be in \[0, 1\]"):
        ft.metrics.Precision().update_state([1, 0], [1.5, 0.2])
    with pytest.raises(ValueError, match=r"y_true of shape \(3,\) and y_pred of shape \(2,\)"):
        ft.metrics.Recall().update_state([1, 0, 1], [0.5, 0.2])
    with pytest.raises(ValueError, match="num_thresholds must be an integer > 1"):
        ft.metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        ft.metrics.Recall(top_k=0)
    with pytest.raises(ValueError, match="thresholds must be in"):
        ft.metrics.Precision(thresholds=[1.5])
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) does not match"):
        ft.metrics.Mean().update_state([1.0, 2.0], sample_weight=[1.0, 1.0, 1.0])


def test_a_keras_style_subclass():
    class TruePositives(ft.metrics.Metric):
        def __init__(self, name="tp", **kwargs):
            super().__init__(name=name, **kwargs)
            self.tp = self.add_weight(name="tp", initializer="zeros", aggregation="sum")

        def update_state(self, y_true, y_pred, sample_weight=None):
            hits = ft.cast(ft.logical_and(ft.cast(y_true, ft.bool), y_pred > 0.5), self.dtype)
            if sample_weight is not None:
                hits = hits * ft.cast(sample_weight, self.dtype)
            self.tp.assign_add(ft.reduce_sum(hits))

        def result(self):
            return self.tp + 0.0

    m = TruePositives()
    m.update_state([1, 1, 0], ft.constant([0.9, 0.2, 0.8]), sample_weight=[2.0, 1.0, 1.0])
    assert float(m.result()) == 2.0 and m.variables == [m.tp] and m.name == "tp"
    m.reset_state()
    assert float(m.result()) == 0.0
