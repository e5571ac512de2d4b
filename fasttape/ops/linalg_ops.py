"""The op table, part 3: linear algebra (batched, broadcasting matmul).

Leading (batch) axes broadcast as in NumPy; the sweep sums gradients back over them.
"""

import numpy as np

from fasttape import errors
from fasttape._core import core as _core
from fasttape.ops._registry import Tensor, convert_to_tensor, public, register


def _mT(x):
    return x.swapaxes(-1, -2) if isinstance(x, np.ndarray) else np.swapaxes(x, -1, -2)


def _matmul_grad_a(g, b, a_shape):
    if b.ndim == 2 and len(a_shape) >= 2:  # the common case first: (..., n, k) @ (k, m)
        return g @ b.T
    if len(a_shape) == 1 and b.ndim == 1:  # (k,) @ (k,) -> ()
        return np.expand_dims(g, -1) * b  # (not g * b: g may have leading batch axes)
    if b.ndim == 1:  # (..., n, k) @ (k,) -> (..., n)
        return np.expand_dims(g, -1) * b
    if len(a_shape) == 1:  # (k,) @ (..., k, m) -> (..., m)
        return np.matmul(np.expand_dims(g, -2), _mT(b))[..., 0, :]
    return np.matmul(g, _mT(b))


def _matmul_grad_b(g, a, b_shape):
    if a.ndim == 2 and len(b_shape) >= 2:  # (n, k) @ (..., k, m)
        return a.T @ g
    if a.ndim == 1 and len(b_shape) == 1:
        return np.expand_dims(g, -1) * a
    if a.ndim == 1:  # (k,) @ (..., k, m) -> (..., m)
        return np.expand_dims(a, -1) * np.expand_dims(g, -2)
    if len(b_shape) == 1:  # (..., n, k) @ (k,) -> (..., n)
        return np.matmul(np.expand_dims(g, -2), a)[..., 0, :]
    return np.matmul(_mT(a), g)


def _matmul_shape(a, b):
    if len(a) == 0 or len(b) == 0:
        raise ValueError("matmul needs tensors of rank >= 1")
    return np.broadcast_shapes(a[:-2], b[:-2]) + (a[-2:-1] if len(a) > 1 else ()) + (
        b[-1:] if len(b) > 1 else ())


_matmul_op = register("matmul", "linalg_op", np.matmul, ("a", "b"),
                      {"a": _matmul_grad_a, "b": _matmul_grad_b}, shape_fn=_matmul_shape,
                      batchable=True)  # g's extra leading axes are matmul batch axes
_core.set_operator("matmul", _matmul_op)


@public("matmul", _matmul_op, None)
def matmul(a, b, transpose_a=False, transpose_b=False, name=None):
    """Matrix product of the last two axes, batched and broadcasting over the rest.

    >>> import fasttape as ft
    >>> ft.matmul(ft.ones((2, 3)), ft.ones((3, 4))).shape
    (2, 4)
    """
    from fasttape.ops.array_ops import transpose

    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = convert_to_tensor(a)
    if transpose_a:
        a = _swap_last(transpose, a)
    if transpose_b:
        b = _swap_last(transpose, b)
    for x in (a, b):
        if np.ndim(x) == 0:
            raise errors.op_error(ValueError, "matmul", (a, b), "operands must have rank >= 1",
                                  ("a", "b"))
    return _core.binary_call(_matmul_op, a, b)


def _swap_last(transpose, x):
    x = x if isinstance(x, Tensor) else convert_to_tensor(x)
    perm = list(range(x.ndim))
    perm[-2:] = perm[-1], perm[-2]
    return transpose(x, perm)
