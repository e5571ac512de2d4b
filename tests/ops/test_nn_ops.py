"""Behaviour of the ft.nn ops that the gradient checks cannot pin down: the
subgradient at max-pool ties, TensorFlow's SAME padding, the dropout mask and
its randomness, what the tape saves, and the static shape rules."""

import numpy as np
import pytest

import fasttape as ft
from fasttape.ops import nn_ops


def _grad(f, *values):
    xs = [ft.constant(np.asarray(v, dtype=np.float64)) for v in values]
    with ft.GradientTape() as tape:
        tape.watch(xs)
        y = f(*xs)
    return [g.numpy() for g in tape.gradient(y, xs)]


# --- max_pool2d: ties and padding ---------------------------------------------------


def test_max_pool2d_tie_goes_to_the_first_maximum_in_row_major_order():
    x = np.array([[1.0, 3.0, 2.0, 2.0], [3.0, 0.0, 2.0, 2.0]]).reshape(1, 2, 4, 1)
    (g,) = _grad(lambda t: ft.nn.max_pool2d(t, 2, 2, "VALID"), x)
    np.testing.assert_array_equal(g[0, :, :, 0], [[0, 1, 1, 0], [0, 0, 0, 0]])


def test_max_pool2d_overlapping_windows_accumulate():
    x = np.array([0.0, 5.0, 1.0, 0.0]).reshape(1, 1, 4, 1)
    (g,) = _grad(lambda t: ft.nn.max_pool2d(t, (1, 3), 1, "SAME"), x)
    # outputs at positions 0, 1 and 2 all take x[1]; position 3 takes x[2]
    np.testing.assert_array_equal(g.ravel(), [0, 3, 1, 0])


def test_max_pool2d_same_padding_never_wins():
    x = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    y = ft.nn.max_pool2d(ft.constant(x), 2, 2, "SAME")
    np.testing.assert_array_equal(y.numpy()[0, :, :, 0], [[-1, -3], [-7, -9]])


def test_avg_pool2d_same_border_windows_average_real_elements_only():
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    y = ft.nn.avg_pool2d(ft.constant(x), 2, 2, "SAME").numpy()[0, :, :, 0]
    np.testing.assert_allclose(y, [[2.0, 3.5], [6.5, 8.0]])


# --- convolution: TensorFlow's padding, transposes, layouts --------------------------


@pytest.mark.parametrize(
    "size, k, stride, pads",
    [
        (4, 3, 2, (0, 1)),  # total 1: nothing before, one after
        (5, 3, 2, (1, 1)),
        (6, 4, 1, (1, 2)),  # even kernel: the extra zero goes after
        (7, 2, 3, (0, 1)),
    ],
)
def test_conv2d_same_pads_as_tensorflow(size, k, stride, pads):
    x = ft.constant(np.random.default_rng(0).standard_normal((1, size, size, 2)))
    w = ft.constant(np.random.default_rng(1).standard_normal((k, k, 2, 3)))
    same = ft.nn.conv2d(x, w, stride, "SAME")
    explicit = ft.nn.conv2d(x, w, stride, [[0, 0], list(pads), list(pads), [0, 0]])
    assert same.shape[1] == -(-size // stride)
    np.testing.assert_allclose(same.numpy(), explicit.numpy(), rtol=1e-12)


def test_conv2d_transpose_is_the_gradient_of_conv2d():
    rng = np.random.default_rng(2)
    x, w = (
        ft.constant(rng.standard_normal((2, 6, 6, 2))),
        ft.constant(rng.standard_normal((3, 3, 2, 4))),
    )
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = ft.nn.conv2d(x, w, 2, "SAME")
    u = ft.constant(rng.standard_normal(y.shape))
    expected = tape.gradient(y, x, output_gradients=u)
    got = ft.nn.conv2d_transpose(u, w, x.shape, 2, "SAME")
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12)


def test_conv2d_nchw_matches_nhwc():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 7, 6, 3)), rng.standard_normal((3, 2, 3, 4))
    nhwc = ft.nn.conv2d(ft.constant(x), ft.constant(w), [1, 2, 1, 1], "SAME")
    nchw = ft.nn.conv2d(
        ft.constant(x.transpose(0, 3, 1, 2)),
        ft.constant(w),
        [1, 1, 2, 1],
        "SAME",
        data_format="NCHW",
    )
    np.testing.assert_allclose(nchw.numpy(), nhwc.numpy().transpose(0, 3, 1, 2), rtol=1e-12)


def test_conv2d_float32_stays_float32():
    x = ft.constant(np.ones((1, 5, 5, 1), np.float32))
    w = ft.Variable(np.ones((3, 3, 1, 2), np.float32))
    with ft.GradientTape() as tape:
        y = ft.reduce_sum(ft.nn.conv2d(x, w, 1, "SAME"))
    assert y.dtype == np.float32 and tape.gradient(y, w).dtype == np.float32


def test_conv_tape_saves_only_what_the_vjps_name():
    assert nn_ops._conv2d_op.saved_inputs == ("input", "filters")
    assert nn_ops._conv2d_op.saves_output == ()
    assert nn_ops._max_pool_op.saved_inputs == ("input",)
    assert nn_ops._max_pool_op.saves_output == (0,)
    assert nn_ops._avg_pool_op.saved_inputs == ()
    assert nn_ops._bias_add_op.saved_inputs == ()


@pytest.mark.parametrize(
    "x_shape, w_shape, strides, dilations, padding",
    [
        ((2, 7, 6, 3), (3, 2, 3, 4), (2, 1), (1, 2), "SAME"),
        ((2, 9, 9, 1), (3, 3, 1, 5), (2, 2), (1, 1), "VALID"),
        ((1, 5, 5, 2), (2, 2, 2, 2), (1, 1), (2, 2), ((1, 0), (0, 2))),
    ],
)
def test_conv2d_static_shape_rule_matches_the_forward(
    x_shape, w_shape, strides, dilations, padding
):
    out_sp, pads = nn_ops._geometry(x_shape[1:3], w_shape[:2], strides, dilations, padding)
    explicit = padding if isinstance(padding, str) else [[0, 0], *padding, [0, 0]]
    y = ft.nn.conv2d(ft.ones(x_shape), ft.ones(w_shape), strides, explicit, dilations=dilations)
    rule = nn_ops._conv2d_op.shape_fn
    assert rule(x_shape, w_shape, strides, dilations, pads) == y.shape
    assert rule((None,) + x_shape[1:], w_shape, strides, dilations, pads) == (None,) + y.shape[1:]


def test_pool_static_shape_rule_matches_the_forward():
    out_sp, pads = nn_ops._geometry((7, 7), (3, 3), (2, 2), (1, 1), "SAME")
    y = ft.nn.max_pool2d(ft.ones((2, 7, 7, 3)), 3, 2, "SAME")
    assert nn_ops._max_pool_op.shape_fn((2, 7, 7, 3), (3, 3), (2, 2), pads) == y.shape


# --- bias_add -----------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(32, 28, 28, 16), (3, 5), (7, 3), (2, 3, 1000)])
def test_bias_add_fast_path_matches_broadcasting(shape):
    rng = np.random.default_rng(4)
    v, b = (
        rng.standard_normal(shape).astype(np.float32),
        rng.standard_normal(shape[-1:]).astype(np.float32),
    )
    np.testing.assert_array_equal(ft.nn.bias_add(v, b).numpy(), v + b)
    (gb,) = _grad(lambda t: ft.nn.bias_add(ft.constant(v.astype(np.float64)), t), b)
    np.testing.assert_allclose(gb, np.full(shape[-1], v[..., 0].size), rtol=1e-12)


# --- dropout ------------------------------------------------------------------------


def test_dropout_keeps_the_expected_value_and_routes_gradients_through_the_mask():
    x = ft.constant(np.ones(100_000))
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = ft.nn.dropout(x, 0.3, seed=5)
    g = tape.gradient(y, x).numpy()
    kept = y.numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7)
    np.testing.assert_array_equal(g, y.numpy())  # the same mask, the same scale


def test_dropout_is_reproducible_under_the_global_seed():
    x = ft.ones((4, 8))
    ft.random.set_seed(11)
    a = ft.nn.dropout(x, 0.5).numpy()
    b = ft.nn.dropout(x, 0.5).numpy()
    ft.random.set_seed(11)
    np.testing.assert_array_equal(ft.nn.dropout(x, 0.5).numpy(), a)
    assert not np.array_equal(a, b)  # a fresh mask each call
    np.testing.assert_array_equal(
        ft.nn.dropout(x, 0.5, seed=3).numpy(), ft.nn.dropout(x, 0.5, seed=3).numpy()
    )


def test_dropout_noise_shape_drops_whole_channels():
    y = ft.nn.dropout(ft.ones((3, 5, 4)), 0.5, noise_shape=(3, 1, 4), seed=2).numpy()
    assert (y == y[:, :1, :]).all()


def test_dropout_rate_zero_is_the_identity():
    x = ft.constant(np.arange(6.0))
    np.testing.assert_array_equal(ft.nn.dropout(x, 0.0).numpy(), x.numpy())


# --- losses and the rest --------------------------------------------------------------


def test_sigmoid_cross_entropy_is_stable_for_large_logits():
    y = ft.nn.sigmoid_cross_entropy_with_logits(
        ft.constant([0.0, 1.0, 0.0, 1.0]), ft.constant([1000.0, -1000.0, -1000.0, 1000.0])
    )
    np.testing.assert_allclose(y.numpy(), [1000.0, 1000.0, 0.0, 0.0])
    (g,) = _grad(
        lambda x: ft.nn.sigmoid_cross_entropy_with_logits(ft.constant(np.array([0.0, 1.0])), x),
        [800.0, 800.0],
    )
    np.testing.assert_allclose(g, [1.0, 0.0])


def test_softmax_cross_entropy_gradients_for_both_inputs():
    labels, logits = np.array([[0.2, 0.8]]), np.array([[1.0, -1.0]])
    g_labels, g_logits = _grad(ft.nn.softmax_cross_entropy_with_logits, labels, logits)
    logp = logits - np.log(np.exp(logits).sum())
    np.testing.assert_allclose(g_labels, -logp)
    np.testing.assert_allclose(g_logits, np.exp(logp) - labels)


def test_embedding_lookup_accumulates_repeated_ids_and_takes_shards():
    table = np.arange(12.0).reshape(4, 3)
    (g,) = _grad(lambda t: ft.nn.embedding_lookup(t, ft.constant([1, 3, 1])), table)
    np.testing.assert_array_equal(g[:, 0], [0, 2, 0, 1])
    shards = [ft.constant(table[:2]), ft.constant(table[2:])]
    np.testing.assert_array_equal(ft.nn.embedding_lookup(shards, [3, 0]).numpy(), table[[3, 0]])


def test_moments_feed_batch_normalization():
    x = ft.constant(np.random.default_rng(6).standard_normal((8, 3)))
    mean, variance = ft.nn.moments(x, axes=[0])
    y = ft.nn.batch_normalization(x, mean, variance, None, None, 0.0).numpy()
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=0), 1, rtol=1e-12)
