"""Bad input to TensorFlow's everyday ops (add_n, segment sums, tensor scatters,
linalg.diag, matvec, clip_by_norm, shape/size, ...) raises at the call, naming
the op, every input's shape and dtype, and the caller's line."""

import numpy as np
import pytest

import fasttape as ft
from fasttape.testing import assert_op_error

F64 = ft.constant(np.ones((2, 3)))
F32 = ft.constant(np.ones((2, 3), np.float32))
V3 = ft.constant(np.ones(3))
V4 = ft.constant(np.ones(4))
I32 = ft.constant(np.ones((2, 3), np.int32))
S = ft.constant(np.array(1.0))
IDS_UNSORTED = ft.constant(np.array([0, 2, 1, 1]))
IDS_NEG = ft.constant(np.array([-1, 0, 0, 1]))
IDS_FLOAT = ft.constant(np.array([0.0, 1.0, 1.0, 2.0]))
IDS_BIG = ft.constant(np.array([0, 5, 1, 1]))
IDS_SHORT = ft.constant(np.array([0, 1]))
DATA = ft.constant(np.ones((4, 2)))
IDX_BAD = ft.constant(np.array([[0], [7]]))
IDX_OK = ft.constant(np.array([[0], [1]]))
IDX_FLOAT = ft.constant(np.array([[0.0], [1.0]]))
U2 = ft.constant(np.ones(2))
U23 = ft.constant(np.ones((2, 3)))
U23_32 = ft.constant(np.ones((2, 3), np.float32))
M23 = ft.constant(np.ones((2, 3)))
M22 = ft.constant(np.ones((2, 2)))

# (id, error class, op named in the message, the call, the inputs it must describe)
CASES = [
    ("add_n-shapes", ValueError, "add_n", lambda: ft.add_n([V3, V4]), [V3, V4]),
    ("add_n-dtypes", TypeError, "add_n", lambda: ft.add_n([F64, F32]), [F64, F32]),
    ("add_n-empty", ValueError, "add_n", lambda: ft.add_n([]), []),
    ("add_n-not-a-list", TypeError, "add_n", lambda: ft.add_n(V3), [V3]),
    ("count_nonzero-axis", ValueError, "count_nonzero",
     lambda: ft.math.count_nonzero(F64, axis=2), [F64]),
    ("count_nonzero-dtype", TypeError, "count_nonzero",
     lambda: ft.math.count_nonzero(F64, dtype=ft.string), [F64]),
    ("reduce_euclidean_norm-axis", ValueError, "reduce_euclidean_norm",
     lambda: ft.math.reduce_euclidean_norm(F64, axis=-3), [F64]),
    ("segment_sum-unsorted", ft.errors.InvalidArgumentError, "segment_sum",
     lambda: ft.math.segment_sum(DATA, IDS_UNSORTED), [DATA, IDS_UNSORTED]),
    ("segment_sum-negative", ft.errors.InvalidArgumentError, "segment_sum",
     lambda: ft.math.segment_sum(DATA, IDS_NEG), [DATA, IDS_NEG]),
    ("segment_sum-float-ids", TypeError, "segment_sum",
     lambda: ft.math.segment_sum(DATA, IDS_FLOAT), [DATA, IDS_FLOAT]),
    ("segment_sum-ids-shape", ValueError, "segment_sum",
     lambda: ft.math.segment_sum(DATA, IDS_SHORT), [DATA, IDS_SHORT]),
    ("unsorted_segment_sum-range", ft.errors.InvalidArgumentError, "unsorted_segment_sum",
     lambda: ft.math.unsorted_segment_sum(DATA, IDS_BIG, 3), [DATA, IDS_BIG]),
    ("unsorted_segment_sum-num", TypeError, "unsorted_segment_sum",
     lambda: ft.math.unsorted_segment_sum(DATA, IDS_NEG, 2.5), [DATA, IDS_NEG]),
    ("tensor_scatter_nd_update-range", ft.errors.InvalidArgumentError, "tensor_scatter_nd_update",
     lambda: ft.tensor_scatter_nd_update(V3, IDX_BAD, U2), [V3, IDX_BAD, U2]),
    ("tensor_scatter_nd_update-float-indices", TypeError, "tensor_scatter_nd_update",
     lambda: ft.tensor_scatter_nd_update(V3, IDX_FLOAT, U2), [V3, IDX_FLOAT, U2]),
    ("tensor_scatter_nd_add-updates-shape", ValueError, "tensor_scatter_nd_add",
     lambda: ft.tensor_scatter_nd_add(F64, IDX_OK, U2), [F64, IDX_OK, U2]),
    ("tensor_scatter_nd_add-dtypes", TypeError, "tensor_scatter_nd_add",
     lambda: ft.tensor_scatter_nd_add(F64, IDX_OK, U23_32), [F64, IDX_OK, U23_32]),
    ("tensor_scatter_nd_add-scalar", ValueError, "tensor_scatter_nd_add",
     lambda: ft.tensor_scatter_nd_add(S, IDX_OK, U2), [S, IDX_OK, U2]),
    ("diag-scalar", ValueError, "matrix_diag", lambda: ft.linalg.diag(S), [S]),
    ("diag-does-not-fit", ValueError, "matrix_diag",
     lambda: ft.linalg.diag(V3, num_rows=2, num_cols=2), [V3]),
    ("diag-k-float", TypeError, "matrix_diag", lambda: ft.linalg.diag(V3, k=0.5), [V3]),
    ("matvec-shapes", ValueError, "matvec", lambda: ft.linalg.matvec(M23, U2), [M23, U2]),
    ("matvec-rank", ValueError, "matvec", lambda: ft.linalg.matvec(V3, V3), [V3, V3]),
    ("matvec-dtypes", TypeError, "matvec",
     lambda: ft.linalg.matvec(M22, ft.constant(np.ones(2, np.float32))), [M22]),
    ("clip_by_norm-int", TypeError, "clip_by_norm", lambda: ft.clip_by_norm(I32, 1), [I32]),
    ("clip_by_norm-clip-shape", ValueError, "clip_by_norm",
     lambda: ft.clip_by_norm(V3, V4), [V3, V4]),
    ("clip_by_global_norm-not-a-list", TypeError, "clip_by_global_norm",
     lambda: ft.clip_by_global_norm(V3, 1.0), [V3]),
    ("global_norm-dtypes", TypeError, "global_norm",
     lambda: ft.linalg.global_norm([F64, F32]), [F64, F32]),
    ("shape-out_type", TypeError, "shape", lambda: ft.shape(F64, out_type=ft.float32), [F64]),
    ("size-out_type", TypeError, "size", lambda: ft.size(F64, out_type=ft.int16), [F64]),
]


@pytest.mark.parametrize("cls, op, call, inputs",
                         [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_op_error(cls, op, call, inputs):
    assert call.__code__.co_filename == __file__
    assert_op_error(call, cls, op, inputs)


def test_segment_sum_error_is_raised_at_the_call_inside_a_tape():
    d = ft.constant(np.ones((4, 2)))
    with ft.GradientTape() as tape:
        tape.watch(d)
        with pytest.raises(ft.errors.InvalidArgumentError, match="not sorted"):
            ft.math.segment_sum(d, [1, 0, 0, 0])
        y = ft.math.segment_sum(d, [0, 0, 1, 1])
    np.testing.assert_array_equal(tape.gradient(y, d).numpy(), np.ones((4, 2)))


def test_clip_by_norm_of_zeros_has_a_zero_gradient():
    x = ft.constant(np.zeros(3))
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = ft.reduce_sum(ft.clip_by_norm(x, 1.0))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), np.ones(3))
