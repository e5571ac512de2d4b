"""ft.initializers (shapes, dtypes, statistics, seeds, names), ft.activations
(against NumPy, by name), ft.regularizers."""

import numpy as np
import pytest
from scipy.special import erf

import fasttape as ft
from fasttape import activations, initializers, regularizers

NAMES = ["zeros", "ones", "constant", "random_normal", "random_uniform", "truncated_normal",
         "variance_scaling", "glorot_uniform", "glorot_normal", "he_normal", "he_uniform",
         "lecun_normal", "lecun_uniform", "orthogonal", "identity", "uniform", "normal"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [None, "float64"])
def test_every_initializer_by_name(name, dtype):
    init = initializers.get(name)
    t = init((4, 6), dtype=dtype)
    assert isinstance(t, ft.Tensor)
    assert t.shape == (4, 6) and t.dtype == np.dtype(dtype or "float32")
    assert np.all(np.isfinite(t.numpy()))


def test_names_in_camel_case_classes_and_callables():
    assert isinstance(initializers.get("GlorotUniform"), initializers.GlorotUniform)
    assert isinstance(initializers.get(initializers.HeNormal), initializers.HeNormal)
    inst = initializers.Constant(3.0)
    assert initializers.get(inst) is inst

    def fn(shape, dtype=None):
        return ft.fill(shape, 2.0)

    assert initializers.get(fn) is fn
    assert initializers.get(None) is None
    with pytest.raises(ValueError, match="unknown initializer 'glorot'"):
        initializers.get("glorot")
    with pytest.raises(TypeError, match="must be a name"):
        initializers.get(3)


def _fans(shape):
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


@pytest.mark.parametrize("shape", [(200, 300), (3, 3, 40, 60)])
def test_variance_scaling_statistics(shape):
    fan_in, fan_out = _fans(shape)
    cases = {
        "glorot_uniform": ("uniform", 2.0 / (fan_in + fan_out)),
        "glorot_normal": ("normal", 2.0 / (fan_in + fan_out)),
        "he_normal": ("normal", 2.0 / fan_in),
        "he_uniform": ("uniform", 2.0 / fan_in),
        "lecun_normal": ("normal", 1.0 / fan_in),
        "lecun_uniform": ("uniform", 1.0 / fan_in),
    }
    for name, (dist, var) in cases.items():
        w = initializers.get(name)(shape, "float64").numpy()
        assert abs(w.mean()) < 4 * np.sqrt(var / w.size) + 1e-12, name
        np.testing.assert_allclose(w.var(), var, rtol=0.06, err_msg=name)
        if dist == "uniform":
            assert np.abs(w).max() <= np.sqrt(3 * var) + 1e-12, name
        else:  # truncated at two standard deviations of the untruncated normal
            std = np.sqrt(var) / 0.87962566103423978
            assert np.abs(w).max() <= 2 * std + 1e-9, name


def test_constant_identity_orthogonal():
    np.testing.assert_array_equal(initializers.Constant(2.5)((2, 3)).numpy(), np.full((2, 3), 2.5))
    np.testing.assert_array_equal(initializers.Identity(2.0)((2, 3)).numpy(), 2 * np.eye(2, 3))
    with pytest.raises(ValueError, match="2-D"):
        initializers.Identity()((2, 2, 2))
    for shape in [(5, 5), (7, 3), (3, 7), (2, 3, 4)]:
        q = initializers.Orthogonal(gain=1.5, seed=2)(shape, "float64").numpy()
        q = q.reshape(-1, shape[-1])
        small = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
        np.testing.assert_allclose(small, 2.25 * np.eye(min(q.shape)), atol=1e-10)


def test_seeds():
    a = initializers.GlorotUniform(seed=5)((3, 4)).numpy()
    np.testing.assert_array_equal(a, initializers.GlorotUniform(seed=5)((3, 4)).numpy())
    assert not np.array_equal(a, initializers.GlorotUniform(seed=6)((3, 4)).numpy())
    ft.random.set_seed(1)
    b = initializers.RandomNormal()((3, 4)).numpy()
    ft.random.set_seed(1)
    np.testing.assert_array_equal(b, initializers.RandomNormal()((3, 4)).numpy())


def test_bad_variance_scaling():
    with pytest.raises(ValueError, match="mode must be one of"):
        initializers.VarianceScaling(mode="fan")
    with pytest.raises(ValueError, match="scale must be positive"):
        initializers.VarianceScaling(scale=0.0)


def _sig(z):
    return 1 / (1 + np.exp(-z))


REFS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "sigmoid": _sig,
    "tanh": np.tanh,
    "softmax": lambda z: np.exp(z) / np.exp(z).sum(-1, keepdims=True),
    "log_softmax": lambda z: z - np.log(np.exp(z).sum(-1, keepdims=True)),
    "gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
    "elu": lambda z: np.where(z > 0, z, np.expm1(z)),
    "selu": lambda z: 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * np.expm1(z)),
    "softplus": lambda z: np.log1p(np.exp(z)),
    "softsign": lambda z: z / (1 + np.abs(z)),
    "swish": lambda z: z * _sig(z),
    "silu": lambda z: z * _sig(z),
    "relu6": lambda z: np.clip(z, 0, 6),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.2 * z),
    "hard_sigmoid": lambda z: np.clip(z / 6 + 0.5, 0, 1),
    "exponential": np.exp,
}


@pytest.mark.parametrize("name", sorted(REFS))
def test_activation_by_name(name):
    z = np.random.default_rng(0).standard_normal((3, 4)) * 4
    got = activations.get(name)(ft.constant(z)).numpy()
    np.testing.assert_allclose(got, REFS[name](z), rtol=1e-12, atol=1e-12)


def test_activation_arguments_and_errors():
    z = np.array([-2.0, 0.5, 3.0, 9.0])
    got = activations.relu(ft.constant(z), alpha=0.1, max_value=6.0, threshold=1.0).numpy()
    np.testing.assert_allclose(got, [-0.3, -0.05, 3.0, 6.0])
    np.testing.assert_allclose(activations.elu(ft.constant(z), alpha=0.5).numpy(),
                               np.where(z > 0, z, 0.5 * np.expm1(z)))
    assert activations.get(None) is activations.linear
    assert activations.get(np.tanh) is np.tanh
    with pytest.raises(ValueError, match="unknown activation 'rel'"):
        activations.get("rel")


def test_regularizers():
    x = ft.constant(np.array([1.0, -2.0, 3.0]))
    assert float(regularizers.L1(0.5)(x)) == 3.0
    assert float(regularizers.L2(0.5)(x)) == 7.0
    assert float(regularizers.L1L2(0.5, 0.5)(x)) == 10.0
    assert float(regularizers.l1_l2()(x)) == pytest.approx(0.06 + 0.14)
    assert float(regularizers.L1L2()(x)) == 0.0
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    assert regularizers.get("l2").l2 == 0.01
    with pytest.raises(ValueError, match="unknown regularizer"):
        regularizers.get("l3")
