"""Bad input to the shape and linear-algebra ops raises at the call: a TypeError or
ValueError (ft.errors.InvalidArgumentError, a ValueError, for bad values such as
out-of-range indices or a singular matrix) whose message names the op, every
input's shape and dtype, and the caller's line (as tests/ops/test_op_errors.py)."""

import numpy as np
import pytest

import fasttape as ft
from fasttape.testing import assert_op_error

IAE = ft.errors.InvalidArgumentError
F64 = ft.constant(np.ones((2, 3)))
F32 = ft.constant(np.ones((2, 3), np.float32))
I32 = ft.constant(np.ones((2, 3), np.int32))
S = ft.constant(np.array(1.0))
V5 = ft.constant(np.arange(5.0))
IDX = ft.constant(np.array([[0, 1], [1, 2]]))
IDX_BAD = ft.constant(np.array([[0, 1], [2, 0]]))
IDX_NEG = ft.constant(np.array([[0, -1]]))
IDX_FLOAT = ft.constant(np.array([[0.0, 1.0]]))
IDX_LONG = ft.constant(np.array([[0, 1, 0]]))
IDX_B = ft.constant(np.array([[0, 1], [1, 1]]))
IDX3 = ft.constant(np.array([[0, 1, 2]]))
UPD2 = ft.constant(np.ones(2))
UPD3 = ft.constant(np.ones(3))
MASK = ft.constant(np.array([True, False]))
MASK3 = ft.constant(np.array([True, False, True]))
MASK_INT = ft.constant(np.array([1, 0]))
MASK_S = ft.constant(np.array(True))
LABELS = ft.constant(np.array([0, 2]))
LABELS_F = ft.constant(np.array([0.0, 2.0]))
SQ = ft.constant(np.eye(3))
SQ32 = ft.constant(np.eye(3, dtype=np.float32))
SQ_INT = ft.constant(np.eye(3, dtype=np.int64))
SINGULAR = ft.constant(np.array([[1.0, 2.0], [2.0, 4.0]]))
SINGULAR_B = ft.constant(np.stack([np.eye(2), np.zeros((2, 2))]))
NOT_PD = ft.constant(np.array([[1.0, 2.0], [2.0, 1.0]]))
RHS = ft.constant(np.ones((3, 2)))
RHS2 = ft.constant(np.ones((2, 2)))
RHS_BAD = ft.constant(np.ones((4, 2)))
RHS_VEC = ft.constant(np.ones(3))
A234 = ft.constant(np.ones((2, 3, 4)))
B44 = ft.constant(np.ones((4, 4)))
B34 = ft.constant(np.ones((3, 4)))

# (id, error class, op named in the message, the call, the inputs it must describe)
# Each call is a one-line lambda: the message must point at that line of this file.
CASES = [
    # split
    ("split-uneven", IAE, "split", lambda: ft.split(V5, 2), [V5]),
    ("split-sizes-sum", IAE, "split", lambda: ft.split(V5, [2, 2]), [V5]),
    ("split-two-unknown", IAE, "split", lambda: ft.split(V5, [-1, -1]), [V5]),
    ("split-unknown-negative", IAE, "split", lambda: ft.split(V5, [6, -1]), [V5]),
    ("split-zero", IAE, "split", lambda: ft.split(V5, 0), [V5]),
    ("split-axis", ValueError, "split", lambda: ft.split(F64, 2, axis=2), [F64]),
    ("split-scalar", ValueError, "split", lambda: ft.split(S, 1), [S]),
    ("split-float", TypeError, "split", lambda: ft.split(V5, 2.5), [V5]),
    ("split-num", ValueError, "split", lambda: ft.split(F64, 3, axis=1, num=2), [F64]),
    # tile
    ("tile-length", ValueError, "tile", lambda: ft.tile(F64, [2]), [F64]),
    ("tile-negative", IAE, "tile", lambda: ft.tile(F64, [2, -1]), [F64]),
    # pad
    ("pad-shape", ValueError, "pad", lambda: ft.pad(F64, [[1, 1]]), [F64]),
    ("pad-float", TypeError, "pad", lambda: ft.pad(F64, [[1.5, 0], [0, 0]]), [F64]),
    ("pad-negative", IAE, "pad", lambda: ft.pad(F64, [[1, -1], [0, 0]]), [F64]),
    ("pad-mode", ValueError, "pad", lambda: ft.pad(F64, [[1, 1], [0, 0]], mode="WRAP"), [F64]),
    ("pad-reflect", IAE, "pad", lambda: ft.pad(F64, [[2, 0], [0, 0]], mode="REFLECT"), [F64]),
    ("pad-symmetric", IAE, "pad", lambda: ft.pad(F64, [[0, 0], [0, 4]], "SYMMETRIC"), [F64]),
    ("pad-value-dtype", TypeError, "pad", lambda: ft.pad(I32, [[1, 1], [0, 0]], "CONSTANT", 0.5),
     [I32]),
    ("pad-value-shape", ValueError, "pad", lambda: ft.pad(F64, [[1, 1], [0, 0]], "CONSTANT", [1.0]),
     [F64]),
    # slice
    ("slice-length", ValueError, "slice", lambda: ft.slice(F64, [0], [1]), [F64]),
    ("slice-range", IAE, "slice", lambda: ft.slice(F64, [1, 1], [2, 1]), [F64]),
    ("slice-begin", IAE, "slice", lambda: ft.slice(F64, [-1, 0], [1, 1]), [F64]),
    ("slice-size", IAE, "slice", lambda: ft.slice(F64, [0, 0], [1, -2]), [F64]),
    # gather with batch_dims
    ("gather-batch-dims", ValueError, "gather", lambda: ft.gather(F64, IDX, batch_dims=3),
     [F64, IDX]),
    ("gather-axis-before-batch", ValueError, "gather",
     lambda: ft.gather(F64, IDX, axis=0, batch_dims=1), [F64, IDX]),
    ("gather-batch-shape", ValueError, "gather",
     lambda: ft.gather(A234, IDX3, axis=1, batch_dims=1), [A234, IDX3]),
    ("gather-batch-range", IAE, "gather", lambda: ft.gather(F64, IDX_BAD * 2, batch_dims=1),
     [F64]),
    ("gather-float-batch-dims", TypeError, "gather", lambda: ft.gather(F64, IDX, batch_dims=1.0),
     [F64, IDX]),
    # gather_nd
    ("gather_nd-float", TypeError, "gather_nd", lambda: ft.gather_nd(F64, IDX_FLOAT),
     [F64, IDX_FLOAT]),
    ("gather_nd-range", IAE, "gather_nd", lambda: ft.gather_nd(F64, IDX_BAD), [F64, IDX_BAD]),
    ("gather_nd-negative", IAE, "gather_nd", lambda: ft.gather_nd(F64, IDX_NEG), [F64, IDX_NEG]),
    ("gather_nd-depth", ValueError, "gather_nd", lambda: ft.gather_nd(F64, IDX_LONG),
     [F64, IDX_LONG]),
    ("gather_nd-batch", ValueError, "gather_nd", lambda: ft.gather_nd(A234, IDX3, batch_dims=1),
     [A234, IDX3]),
    ("gather_nd-scalar-indices", ValueError, "gather_nd", lambda: ft.gather_nd(F64, 1), [F64]),
    # scatter_nd
    ("scatter_nd-range", IAE, "scatter_nd", lambda: ft.scatter_nd(IDX_BAD, UPD2, (2, 2)),
     [IDX_BAD, UPD2]),
    ("scatter_nd-updates", ValueError, "scatter_nd", lambda: ft.scatter_nd(IDX, UPD3, (2, 3)),
     [IDX, UPD3]),
    ("scatter_nd-float", TypeError, "scatter_nd", lambda: ft.scatter_nd(IDX_FLOAT, UPD2, (2, 2)),
     [IDX_FLOAT, UPD2]),
    ("scatter_nd-depth", ValueError, "scatter_nd", lambda: ft.scatter_nd(IDX3, UPD2, (2, 3)),
     [IDX3, UPD2]),
    # boolean_mask
    ("boolean_mask-dtype", TypeError, "boolean_mask", lambda: ft.boolean_mask(F64, MASK_INT),
     [F64, MASK_INT]),
    ("boolean_mask-shape", ValueError, "boolean_mask", lambda: ft.boolean_mask(F64, MASK3),
     [F64, MASK3]),
    ("boolean_mask-axis", ValueError, "boolean_mask", lambda: ft.boolean_mask(F64, MASK, axis=1),
     [F64, MASK]),
    ("boolean_mask-scalar", ValueError, "boolean_mask", lambda: ft.boolean_mask(F64, MASK_S),
     [F64, MASK_S]),
    # one_hot
    ("one_hot-float", TypeError, "one_hot", lambda: ft.one_hot(LABELS_F, 3), [LABELS_F]),
    ("one_hot-depth", IAE, "one_hot", lambda: ft.one_hot(LABELS, -1), [LABELS]),
    ("one_hot-depth-float", TypeError, "one_hot", lambda: ft.one_hot(LABELS, 2.5), [LABELS]),
    ("one_hot-axis", ValueError, "one_hot", lambda: ft.one_hot(LABELS, 3, axis=3), [LABELS]),
    ("one_hot-dtypes", TypeError, "one_hot",
     lambda: ft.one_hot(LABELS, 3, on_value=np.float64(1), dtype=ft.float32), [LABELS]),
    ("one_hot-value-shape", ValueError, "one_hot", lambda: ft.one_hot(LABELS, 3, on_value=[1, 2]),
     [LABELS]),
    # tensordot
    ("tensordot-sizes", ValueError, "tensordot", lambda: ft.tensordot(F64, F64, 1), [F64, F64]),
    ("tensordot-axes-range", ValueError, "tensordot", lambda: ft.tensordot(F64, F64, [[2], [0]]),
     [F64, F64]),
    ("tensordot-int-axes", ValueError, "tensordot", lambda: ft.tensordot(F64, F64, 3), [F64, F64]),
    ("tensordot-lengths", ValueError, "tensordot", lambda: ft.tensordot(F64, B34, [[0, 1], [1]]),
     [F64, B34]),
    ("tensordot-dtypes", TypeError, "tensordot", lambda: ft.tensordot(F64, F32, 0), [F64, F32]),
    ("tensordot-float-axes", TypeError, "tensordot", lambda: ft.tensordot(F64, F64, 1.5),
     [F64, F64]),
    # einsum
    ("einsum-operands", ValueError, "einsum", lambda: ft.einsum("ij,jk->ik", F64), [F64]),
    ("einsum-rank", ValueError, "einsum", lambda: ft.einsum("ijk->i", F64), [F64]),
    ("einsum-sizes", ValueError, "einsum", lambda: ft.einsum("ij,ij->", F64, B34), [F64, B34]),
    ("einsum-chars", ValueError, "einsum", lambda: ft.einsum("i1->i", F64), [F64]),
    ("einsum-output-letter", ValueError, "einsum", lambda: ft.einsum("ij->k", F64), [F64]),
    ("einsum-output-repeat", ValueError, "einsum", lambda: ft.einsum("ij->ii", F64), [F64]),
    ("einsum-ellipsis", ValueError, "einsum", lambda: ft.einsum("...j->j", F64), [F64]),
    ("einsum-two-arrows", ValueError, "einsum", lambda: ft.einsum("ij->j->i", F64), [F64]),
    ("einsum-dtypes", TypeError, "einsum", lambda: ft.einsum("ij,ij->", F64, F32), [F64, F32]),
    ("einsum-equation", TypeError, "einsum", lambda: ft.einsum(1, F64), [F64]),
    # ft.linalg
    ("inv-singular", IAE, "inv", lambda: ft.linalg.inv(SINGULAR), [SINGULAR]),
    ("inv-singular-batch", IAE, "inv", lambda: ft.linalg.inv(SINGULAR_B), [SINGULAR_B]),
    ("inv-square", ValueError, "inv", lambda: ft.linalg.inv(F64), [F64]),
    ("inv-int", TypeError, "inv", lambda: ft.linalg.inv(SQ_INT), [SQ_INT]),
    ("inv-vector", ValueError, "inv", lambda: ft.linalg.inv(V5), [V5]),
    ("solve-singular", IAE, "solve", lambda: ft.linalg.solve(SINGULAR, RHS2), [SINGULAR, RHS2]),
    ("solve-rhs", ValueError, "solve", lambda: ft.linalg.solve(SQ, RHS_BAD), [SQ, RHS_BAD]),
    ("solve-rhs-vector", ValueError, "solve", lambda: ft.linalg.solve(SQ, RHS_VEC), [SQ, RHS_VEC]),
    ("solve-dtypes", TypeError, "solve", lambda: ft.linalg.solve(SQ32, RHS), [SQ32, RHS]),
    ("solve-batch", ValueError, "solve", lambda: ft.linalg.solve(SINGULAR_B, A234[:, :2, :]),
     [SINGULAR_B]),
    ("det-int", TypeError, "det", lambda: ft.linalg.det(SQ_INT), [SQ_INT]),
    ("det-square", ValueError, "det", lambda: ft.linalg.det(A234), [A234]),
    ("slogdet-vector", ValueError, "slogdet", lambda: ft.linalg.slogdet(V5), [V5]),
    ("cholesky-not-pd", IAE, "cholesky", lambda: ft.linalg.cholesky(NOT_PD), [NOT_PD]),
    ("cholesky-square", ValueError, "cholesky", lambda: ft.linalg.cholesky(F64), [F64]),
    ("logdet-int", TypeError, "logdet", lambda: ft.linalg.logdet(SQ_INT), [SQ_INT]),
    ("norm-matrix-ord", ValueError, "norm", lambda: ft.norm(F64, ord=3, axis=[0, 1]), [F64]),
    ("norm-fro-vector", ValueError, "norm", lambda: ft.norm(F64, ord="fro"), [F64]),
    ("norm-axes", ValueError, "norm", lambda: ft.norm(A234, axis=[0, 1, 2]), [A234]),
    ("norm-repeated-axes", ValueError, "norm", lambda: ft.norm(F64, axis=[1, -1]), [F64]),
    ("norm-int", TypeError, "norm", lambda: ft.linalg.norm(I32), [I32]),
    ("matrix_transpose-rank", ValueError, "matrix_transpose",
     lambda: ft.linalg.matrix_transpose(V5), [V5]),
    ("diag_part-rank", ValueError, "diag_part", lambda: ft.linalg.diag_part(V5), [V5]),
    ("trace-rank", ValueError, "trace", lambda: ft.linalg.trace(S), [S]),
]


@pytest.mark.parametrize("cls, op, call, inputs", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_op_error(cls, op, call, inputs):
    assert call.__code__.co_filename == __file__
    assert_op_error(call, cls, op, inputs)


def test_singular_matrix_in_the_backward_pass_raises_naming_the_op():
    # det's gradient needs the inverse: at a singular matrix it raises (as TensorFlow's)
    a = ft.constant(np.array([[1.0, 2.0], [2.0, 4.0]]))
    with ft.GradientTape() as tape:
        tape.watch(a)
        d = ft.linalg.det(a)
    with pytest.raises(IAE, match="^inv: "):
        tape.gradient(d, a)


def test_spectral_norm_refuses_to_be_recorded_by_an_outer_tape():
    x = ft.constant(np.arange(6.0).reshape(2, 3))
    with ft.GradientTape() as outer:
        outer.watch(x)
        with ft.GradientTape() as inner:
            inner.watch(x)
            n = ft.norm(x, ord=2, axis=[0, 1])
        with pytest.raises(NotImplementedError, match="first-order"):
            inner.gradient(n, x)
