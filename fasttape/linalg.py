"""`ft.linalg`: linear algebra (TensorFlow's tf.linalg)."""

from fasttape.ops._registry import composite as _composite
from fasttape.ops.array_ops import eye  # noqa: F401
from fasttape.ops.linalg_ops import (  # noqa: F401
    cholesky,
    det,
    diag_part,
    einsum,
    inv,
    logdet,
    matmul,
    matrix_transpose,
    matvec,
    norm,
    slogdet,
    solve,
    tensor_diag,
    tensordot,
    trace,
)
from fasttape.ops.linalg_ops import matrix_diag as diag  # noqa: F401
from fasttape.ops.linalg_ops import matrix_transpose as transpose  # noqa: F401
from fasttape.ops.math_ops import global_norm  # noqa: F401


@_composite("adjoint")
def adjoint(matrix, name=None):
    """The conjugate transpose of the matrices in the last two axes (tf.linalg.adjoint).

    >>> import fasttape as ft
    >>> ft.linalg.adjoint(ft.ones((2, 3))).shape
    (3, 2)
    """
    return matrix_transpose(matrix, conjugate=True)
