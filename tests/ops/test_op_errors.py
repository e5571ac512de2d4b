"""Bad input raises at the call, per op family: the error type is a TypeError
or ValueError (ft.errors.InvalidArgumentError is a ValueError), and the
message names the op, every input's shape and dtype, and the caller's line."""

import numpy as np
import pytest

import fasttape as ft
from fasttape.testing import assert_op_error

F32 = ft.constant(np.ones((2, 3), np.float32))
F64 = ft.constant(np.ones((2, 3)))
I32 = ft.constant(np.ones((2, 3), np.int32))
B = ft.constant(np.ones((2, 3), bool))
V3 = ft.constant(np.ones(3))
V4 = ft.constant(np.ones(4))
S = ft.constant(np.array(1.0))
NP32 = np.ones((2, 3), np.float32)
IDX_BAD = ft.constant(np.array([0, 5]))
IDX_FLOAT = ft.constant(np.array([0.0, 1.0]))
LABELS_BAD = ft.constant(np.array([0, 3]))
LABELS_FLOAT = ft.constant(np.array([0.0, 1.0]))
LABELS_SHAPE = ft.constant(np.array([0, 1, 2]))
M34 = ft.constant(np.ones((3, 4)))
M23_32 = ft.constant(np.ones((3, 2), np.float32))
EMPTY = ft.constant(np.ones((0,)))
F22 = ft.constant(np.ones((2, 2)))
F32_33 = ft.constant(np.ones((3, 2)))

# (id, error class, op named in the message, the call, the inputs it must describe)
# Each call is a one-line lambda: the message must point at that line of this file.
CASES = [
    # binary family: dtypes and shapes
    ("add-f32-f64", TypeError, "add", lambda: F32 + F64, [F32, F64]),
    ("add-float-int", TypeError, "add", lambda: ft.add(F64, I32), [F64, I32]),
    ("multiply-int-pyfloat", TypeError, "multiply", lambda: I32 * 1.5, [I32, 1.5]),
    ("subtract-pyfloat-int", TypeError, "subtract", lambda: ft.subtract(1.5, I32), [1.5, I32]),
    ("add-ndarray-f32", TypeError, "add", lambda: F64 + NP32, [F64, NP32]),
    ("maximum-float-int", TypeError, "maximum", lambda: ft.maximum(F64, I32), [F64, I32]),
    ("pow-float-int", TypeError, "pow", lambda: ft.pow(F64, I32), [F64, I32]),
    ("add-shapes", ValueError, "add", lambda: V3 + V4, [V3, V4]),
    ("divide-shapes", ValueError, "divide", lambda: ft.divide(F64, V4), [F64, V4]),
    ("equal-f32-f64", TypeError, "equal", lambda: ft.equal(F32, F64), [F32, F64]),
    ("less-shapes", ValueError, "less", lambda: V3 < V4, [V3, V4]),
    # ternary
    ("clip-dtypes", TypeError, "clip_by_value", lambda: ft.clip_by_value(F64, F32, F64),
     [F64, F32, F64]),
    ("where-condition", TypeError, "where", lambda: ft.where(F64, F64, F64), [F64, F64, F64]),
    ("where-dtypes", TypeError, "where", lambda: ft.where(B, F64, F32), [F64, F32]),
    ("where-shapes", ValueError, "where", lambda: ft.where(B, V4, F64), [B, V4, F64]),
    # unary family: float-only ops
    ("sin-int", TypeError, "sin", lambda: ft.sin(I32), [I32]),
    ("exp-bool", TypeError, "exp", lambda: ft.exp(B), [B]),
    ("gelu-int", TypeError, "gelu", lambda: ft.nn.gelu(I32), [I32]),
    ("leaky_relu-int", TypeError, "leaky_relu", lambda: ft.nn.leaky_relu(I32), [I32]),
    # logic and bit ops
    ("logical_and-float", TypeError, "logical_and", lambda: ft.logical_and(F64, F64), [F64, F64]),
    ("logical_not-int", TypeError, "logical_not", lambda: ft.logical_not(I32), [I32]),
    ("bitwise_and-float", TypeError, "bitwise_and", lambda: F64 & F64, [F64, F64]),
    ("invert-float", TypeError, "invert", lambda: ~F64, [F64]),
    # reductions: axes and dtypes
    ("reduce_sum-axis", ValueError, "reduce_sum", lambda: ft.reduce_sum(F64, axis=2), [F64]),
    ("reduce_mean-axis", ValueError, "reduce_mean", lambda: ft.reduce_mean(F64, axis=-3), [F64]),
    ("reduce_max-repeated", ValueError, "reduce_max", lambda: ft.reduce_max(F64, axis=(0, -2)),
     [F64]),
    ("reduce_sum-float-axis", TypeError, "reduce_sum", lambda: ft.reduce_sum(F64, axis=1.5), [F64]),
    ("reduce_sum-scalar-axis", ValueError, "reduce_sum", lambda: ft.reduce_sum(S, axis=0), [S]),
    ("reduce_logsumexp-int", TypeError, "reduce_logsumexp", lambda: ft.reduce_logsumexp(I32),
     [I32]),
    ("reduce_std-int", TypeError, "reduce_std", lambda: ft.reduce_std(I32), [I32]),
    ("reduce_max-empty", ValueError, "reduce_max", lambda: ft.reduce_max(EMPTY), [EMPTY]),
    ("reduce_all-float", TypeError, "reduce_all", lambda: ft.reduce_all(F64), [F64]),
    ("argmax-scalar", ValueError, "argmax", lambda: ft.argmax(S), [S]),
    ("argmin-axis", ValueError, "argmin", lambda: ft.argmin(F64, axis=2), [F64]),
    ("norm-ord", ValueError, "norm", lambda: ft.norm(F64, ord=-1), [F64]),
    # shape ops
    ("reshape-size", ValueError, "reshape", lambda: ft.reshape(F64, (4,)), [F64]),
    ("transpose-perm", ValueError, "transpose", lambda: ft.transpose(F64, (0, 0)), [F64]),
    ("expand_dims-axis", ValueError, "expand_dims", lambda: ft.expand_dims(F64, 3), [F64]),
    ("squeeze-size", ValueError, "squeeze", lambda: ft.squeeze(F64, 0), [F64]),
    ("squeeze-axis", ValueError, "squeeze", lambda: ft.squeeze(F64, 5), [F64]),
    ("broadcast_to-shape", ValueError, "broadcast_to", lambda: ft.broadcast_to(F64, (3, 3)), [F64]),
    ("concat-dtypes", TypeError, "concat", lambda: ft.concat([F64, F32], 0), [F64, F32]),
    ("concat-shapes", ValueError, "concat", lambda: ft.concat([F64, F22], 0), [F64, F22]),
    ("concat-axis", ValueError, "concat", lambda: ft.concat([F64, F64], 2), [F64]),
    ("stack-shapes", ValueError, "stack", lambda: ft.stack([F64, F32_33]), [F64, F32_33]),
    ("stack-axis", ValueError, "stack", lambda: ft.stack([F64, F64], axis=3), [F64, F64]),
    ("unstack-num", ValueError, "unstack", lambda: ft.unstack(F64, num=3), [F64]),
    ("unstack-scalar", ValueError, "unstack", lambda: ft.unstack(S), [S]),
    # indexing
    ("gather-range", ft.errors.InvalidArgumentError, "gather", lambda: ft.gather(F64, IDX_BAD),
     [F64, IDX_BAD]),
    ("gather-float", TypeError, "gather", lambda: ft.gather(F64, IDX_FLOAT), [F64, IDX_FLOAT]),
    ("gather-axis", ValueError, "gather", lambda: ft.gather(F64, IDX_BAD, axis=2), [F64]),
    ("getitem-range", ft.errors.InvalidArgumentError, "getitem", lambda: F64[5], [F64]),
    ("getitem-float", TypeError, "getitem", lambda: F64[IDX_FLOAT], [F64]),
    ("getitem-rank", ValueError, "getitem", lambda: F64[0, 0, 0], [F64]),
    # linear algebra
    ("matmul-inner", ValueError, "matmul", lambda: ft.matmul(F64, F64), [F64, F64]),
    ("matmul-operator", ValueError, "matmul", lambda: F64 @ M34.T, [F64]),
    ("matmul-dtypes", TypeError, "matmul", lambda: ft.matmul(F64, M23_32), [F64, M23_32]),
    ("matmul-scalar", ValueError, "matmul", lambda: ft.matmul(S, F64), [S, F64]),
    # nn
    ("softmax-int", TypeError, "softmax", lambda: ft.nn.softmax(I32), [I32]),
    ("log_softmax-axis", ValueError, "log_softmax", lambda: ft.nn.log_softmax(F64, axis=2), [F64]),
    ("xent-labels-range", ft.errors.InvalidArgumentError,
     "sparse_softmax_cross_entropy_with_logits",
     lambda: ft.nn.sparse_softmax_cross_entropy_with_logits(LABELS_BAD, F64), [LABELS_BAD, F64]),
    ("xent-labels-float", TypeError, "sparse_softmax_cross_entropy_with_logits",
     lambda: ft.nn.sparse_softmax_cross_entropy_with_logits(LABELS_FLOAT, F64),
     [LABELS_FLOAT, F64]),
    ("xent-labels-shape", ValueError, "sparse_softmax_cross_entropy_with_logits",
     lambda: ft.nn.sparse_softmax_cross_entropy_with_logits(LABELS_SHAPE, F64),
     [LABELS_SHAPE, F64]),
]


@pytest.mark.parametrize("cls, op, call, inputs",
                         [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_op_error(cls, op, call, inputs):
    assert call.__code__.co_filename == __file__
    assert_op_error(call, cls, op, inputs)


def test_invalid_argument_error_is_a_value_error():
    assert issubclass(ft.errors.InvalidArgumentError, ValueError)


def test_error_is_raised_at_the_call_not_in_the_sweep():
    # a bad call inside a tape raises at once and leaves nothing half-recorded
    x = ft.constant(np.ones(3))
    with ft.GradientTape() as tape:
        tape.watch(x)
        with pytest.raises(ValueError):
            ft.reduce_sum(x, axis=1)
        y = ft.reduce_sum(x * x)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), 2 * np.ones(3))
