"""Bad input to the ft.nn ops raises at the call: a TypeError or ValueError
(ft.errors.InvalidArgumentError is a ValueError) whose message names the op,
every input's shape and dtype, and the caller's line (as tests/ops/test_op_errors.py)."""

import numpy as np
import pytest

import fasttape as ft
from fasttape.testing import assert_op_error

X = ft.constant(np.ones((2, 5, 5, 3)))  # NHWC, float64
X32 = ft.constant(np.ones((2, 5, 5, 3), np.float32))
XI = ft.constant(np.ones((2, 5, 5, 3), np.int32))
X3 = ft.constant(np.ones((2, 5, 3)))
W = ft.constant(np.ones((3, 3, 3, 4)))
W2C = ft.constant(np.ones((3, 3, 2, 4)))
W3 = ft.constant(np.ones((3, 3, 4)))
W1D = ft.constant(np.ones((3, 3, 4)))
W1D_BAD = ft.constant(np.ones((3, 2, 4)))
WT = ft.constant(np.ones((3, 3, 2, 3)))  # conv2d_transpose: (kh, kw, out_c, in_c)
Y = ft.constant(np.ones((2, 3, 3, 3)))
TINY = ft.constant(np.ones((2, 2, 2, 3)))
LOGITS = ft.constant(np.ones((2, 4)))
LOGITS32 = ft.constant(np.ones((2, 4), np.float32))
LABELS = ft.constant(np.ones((2, 4)) / 4)
LABELS_SHAPE = ft.constant(np.ones((2, 3)))
LABELS_INT = ft.constant(np.ones((2, 4), np.int64))
V = ft.constant(np.ones(4))
V3 = ft.constant(np.ones(3))
V2 = ft.constant(np.ones(2))
M23 = ft.constant(np.ones((2, 3)))
VI = ft.constant(np.ones(4, np.int32))
TABLE = ft.constant(np.ones((5, 3)))
IDS_BAD = ft.constant(np.array([0, 5]))
IDS_FLOAT = ft.constant(np.array([0.0, 1.0]))

# (id, error class, op named in the message, the call, the inputs it must describe)
# Each call is a one-line lambda: the message must point at that line of this file.
CASES = [
    # conv2d: dtypes, ranks, channels, strides, dilations, padding, data_format, sizes
    ("conv2d-int", TypeError, "conv2d", lambda: ft.nn.conv2d(XI, W, 1, "SAME"), [XI, W]),
    ("conv2d-dtypes", TypeError, "conv2d", lambda: ft.nn.conv2d(X32, W, 1, "SAME"), [X32, W]),
    ("conv2d-channels", ValueError, "conv2d", lambda: ft.nn.conv2d(X, W2C, 1, "SAME"), [X, W2C]),
    ("conv2d-input-rank", ValueError, "conv2d", lambda: ft.nn.conv2d(X3, W, 1, "SAME"), [X3, W]),
    ("conv2d-filters-rank", ValueError, "conv2d", lambda: ft.nn.conv2d(X, W3, 1, "SAME"), [X, W3]),
    ("conv2d-padding", ValueError, "conv2d", lambda: ft.nn.conv2d(X, W, 1, "FULL"), [X, W]),
    (
        "conv2d-padding-pairs",
        ValueError,
        "conv2d",
        lambda: ft.nn.conv2d(X, W, 1, [[1, 1], [1, 1], [0, 0], [0, 0]]),
        [X, W],
    ),
    ("conv2d-strides-zero", ValueError, "conv2d", lambda: ft.nn.conv2d(X, W, 0, "SAME"), [X, W]),
    (
        "conv2d-strides-batch",
        ValueError,
        "conv2d",
        lambda: ft.nn.conv2d(X, W, [2, 1, 1, 1], "SAME"),
        [X, W],
    ),
    (
        "conv2d-strides-length",
        ValueError,
        "conv2d",
        lambda: ft.nn.conv2d(X, W, [1, 1, 1], "SAME"),
        [X, W],
    ),
    ("conv2d-strides-float", TypeError, "conv2d", lambda: ft.nn.conv2d(X, W, 1.5, "SAME"), [X, W]),
    (
        "conv2d-dilations",
        ValueError,
        "conv2d",
        lambda: ft.nn.conv2d(X, W, 1, "SAME", dilations=-1),
        [X, W],
    ),
    (
        "conv2d-data-format",
        ValueError,
        "conv2d",
        lambda: ft.nn.conv2d(X, W, 1, "SAME", data_format="NDHWC"),
        [X, W],
    ),
    (
        "conv2d-too-small",
        ValueError,
        "conv2d",
        lambda: ft.nn.conv2d(TINY, W, 1, "VALID"),
        [TINY, W],
    ),
    (
        "conv2d-dilated-too-small",
        ValueError,
        "conv2d",
        lambda: ft.nn.conv2d(X, W, 1, "VALID", dilations=3),
        [X, W],
    ),
    # conv1d
    ("conv1d-rank", ValueError, "conv1d", lambda: ft.nn.conv1d(X, W1D, 1, "SAME"), [X, W1D]),
    (
        "conv1d-channels",
        ValueError,
        "conv1d",
        lambda: ft.nn.conv1d(X3, W1D_BAD, 1, "SAME"),
        [X3, W1D_BAD],
    ),
    (
        "conv1d-padding",
        ValueError,
        "conv1d",
        lambda: ft.nn.conv1d(X3, W1D, 1, "same-ish"),
        [X3, W1D],
    ),
    # conv2d_transpose
    (
        "conv2d_transpose-output-shape",
        ValueError,
        "conv2d_transpose",
        lambda: ft.nn.conv2d_transpose(Y, WT, (2, 9, 9, 2), 2, "SAME"),
        [Y, WT],
    ),
    (
        "conv2d_transpose-channels",
        ValueError,
        "conv2d_transpose",
        lambda: ft.nn.conv2d_transpose(Y, WT, (2, 5, 5, 3), 2, "SAME"),
        [Y, WT],
    ),
    (
        "conv2d_transpose-shape-length",
        ValueError,
        "conv2d_transpose",
        lambda: ft.nn.conv2d_transpose(Y, WT, (5, 5, 2), 2, "SAME"),
        [Y, WT],
    ),
    (
        "conv2d_transpose-dtypes",
        TypeError,
        "conv2d_transpose",
        lambda: ft.nn.conv2d_transpose(X32, WT, (2, 5, 5, 2), 1, "SAME"),
        [X32, WT],
    ),
    # pooling
    ("max_pool2d-int", TypeError, "max_pool2d", lambda: ft.nn.max_pool2d(XI, 2, 2, "VALID"), [XI]),
    (
        "max_pool2d-rank",
        ValueError,
        "max_pool2d",
        lambda: ft.nn.max_pool2d(X3, 2, 2, "VALID"),
        [X3],
    ),
    ("max_pool2d-ksize", ValueError, "max_pool2d", lambda: ft.nn.max_pool2d(X, 0, 2, "VALID"), [X]),
    (
        "max_pool2d-ksize-channel",
        ValueError,
        "max_pool2d",
        lambda: ft.nn.max_pool2d(X, [1, 2, 2, 2], 2, "VALID"),
        [X],
    ),
    (
        "max_pool2d-padding",
        ValueError,
        "max_pool2d",
        lambda: ft.nn.max_pool2d(X, 2, 2, "FULL"),
        [X],
    ),
    (
        "max_pool2d-too-small",
        ValueError,
        "max_pool2d",
        lambda: ft.nn.max_pool2d(X, 6, 1, "VALID"),
        [X],
    ),
    (
        "avg_pool2d-strides",
        ValueError,
        "avg_pool2d",
        lambda: ft.nn.avg_pool2d(X, 2, [1, 2, 2], "VALID"),
        [X],
    ),
    (
        "avg_pool2d-explicit-padding",
        ValueError,
        "avg_pool2d",
        lambda: ft.nn.avg_pool2d(X, 2, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]),
        [X],
    ),
    # bias_add
    ("bias_add-size", ValueError, "bias_add", lambda: ft.nn.bias_add(X, V), [X, V]),
    ("bias_add-rank", ValueError, "bias_add", lambda: ft.nn.bias_add(X, M23), [X, M23]),
    ("bias_add-dtypes", TypeError, "bias_add", lambda: ft.nn.bias_add(X32, V3), [X32, V3]),
    # losses
    (
        "xent-shapes",
        ValueError,
        "softmax_cross_entropy_with_logits",
        lambda: ft.nn.softmax_cross_entropy_with_logits(LABELS_SHAPE, LOGITS),
        [LABELS_SHAPE, LOGITS],
    ),
    (
        "xent-int-labels",
        TypeError,
        "softmax_cross_entropy_with_logits",
        lambda: ft.nn.softmax_cross_entropy_with_logits(LABELS_INT, LOGITS),
        [LABELS_INT, LOGITS],
    ),
    (
        "xent-dtypes",
        TypeError,
        "softmax_cross_entropy_with_logits",
        lambda: ft.nn.softmax_cross_entropy_with_logits(LABELS, LOGITS32),
        [LABELS, LOGITS32],
    ),
    (
        "xent-axis",
        ValueError,
        "softmax_cross_entropy_with_logits",
        lambda: ft.nn.softmax_cross_entropy_with_logits(LABELS, LOGITS, axis=2),
        [LOGITS],
    ),
    (
        "sigmoid-xent-shapes",
        ValueError,
        "sigmoid_cross_entropy_with_logits",
        lambda: ft.nn.sigmoid_cross_entropy_with_logits(V3, V),
        [V3, V],
    ),
    (
        "sigmoid-xent-dtypes",
        TypeError,
        "sigmoid_cross_entropy_with_logits",
        lambda: ft.nn.sigmoid_cross_entropy_with_logits(LOGITS32, LOGITS),
        [LOGITS32, LOGITS],
    ),
    ("l2_loss-int", TypeError, "l2_loss", lambda: ft.nn.l2_loss(VI), [VI]),
    # dropout
    ("dropout-rate-1", ValueError, "dropout", lambda: ft.nn.dropout(V, 1.0), [V]),
    ("dropout-rate-negative", ValueError, "dropout", lambda: ft.nn.dropout(V, -0.1), [V]),
    ("dropout-noise-shape", ValueError, "dropout", lambda: ft.nn.dropout(M23, 0.5, (3, 1)), [M23]),
    ("dropout-int", TypeError, "dropout", lambda: ft.nn.dropout(VI, 0.5), [VI]),
    # normalisation
    ("moments-axes", ValueError, "moments", lambda: ft.nn.moments(M23, axes=[2]), [M23]),
    ("moments-int", TypeError, "moments", lambda: ft.nn.moments(VI, axes=[0]), [VI]),
    (
        "moments-empty",
        ValueError,
        "moments",
        lambda: ft.nn.moments(ft.constant(np.ones((0, 3))), axes=[0]),
        [],
    ),
    (
        "batch_normalization-shapes",
        ValueError,
        "batch_normalization",
        lambda: ft.nn.batch_normalization(M23, V, V, None, None, 1e-3),
        [M23, V],
    ),
    (
        "batch_normalization-dtypes",
        TypeError,
        "batch_normalization",
        lambda: ft.nn.batch_normalization(LOGITS, V, V, None, LOGITS32, 1e-3),
        [LOGITS, LOGITS32],
    ),
    (
        "layer_norm-gamma",
        ValueError,
        "layer_norm",
        lambda: ft.nn.layer_norm(M23, gamma=V2),
        [M23, V2],
    ),
    ("layer_norm-axis", ValueError, "layer_norm", lambda: ft.nn.layer_norm(M23, axis=3), [M23]),
    ("layer_norm-int", TypeError, "layer_norm", lambda: ft.nn.layer_norm(VI), [VI]),
    # embedding_lookup
    (
        "embedding-range",
        ft.errors.InvalidArgumentError,
        "embedding_lookup",
        lambda: ft.nn.embedding_lookup(TABLE, IDS_BAD),
        [TABLE, IDS_BAD],
    ),
    (
        "embedding-float-ids",
        TypeError,
        "embedding_lookup",
        lambda: ft.nn.embedding_lookup(TABLE, IDS_FLOAT),
        [TABLE, IDS_FLOAT],
    ),
]


@pytest.mark.parametrize("cls, op, call, inputs", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_nn_op_error(cls, op, call, inputs):
    assert call.__code__.co_filename == __file__
    assert_op_error(call, cls, op, inputs)


def test_conv_error_is_raised_at_the_call_not_in_the_sweep():
    x = ft.constant(np.ones((1, 4, 4, 2)))
    w = ft.constant(np.ones((3, 3, 2, 2)))
    with ft.GradientTape() as tape:
        tape.watch(w)
        with pytest.raises(ValueError):
            ft.nn.conv2d(x, w, 1, "FULL")
        y = ft.reduce_sum(ft.nn.conv2d(x, w, 1, "SAME"))
    assert tape.gradient(y, w).shape == (3, 3, 2, 2)
