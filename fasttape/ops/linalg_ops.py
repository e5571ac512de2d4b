"""The op table, part 3: linear algebra: matmul, tensordot, einsum and ft.linalg
(inv, solve, det, slogdet, cholesky, norm).

Leading (batch) axes broadcast as in NumPy; the sweep sums gradients back over
them. VJPs that need another linear-algebra op (inv inside det's VJP, solve
inside solve's and cholesky's, einsum inside einsum's) call it through
`call_op`, so that gradients of gradients flow.
"""

import string

import numpy as np

from fasttape import errors
from fasttape._core import core as _core
from fasttape.ops import _registry as _rules
from fasttape.ops._registry import (
    Tensor,
    broadcast_all,
    call_op,
    composite,
    convert_to_tensor,
    incompatible,
    known_rank,
    normalize_axis,
    normalize_int,
    public,
    register,
    same_dtype,
    strict_index,
    unknown_dim_error,
)


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


_matmul_op = register("matmul", "linalg_op", np.matmul, ("a", "b"),
                      {"a": _matmul_grad_a, "b": _matmul_grad_b}, shape_fn=_rules.matmul_shape,
                      batchable=True,
                      dtype_fn=_rules.one_dtype)  # g's extra leading axes are matmul batch axes
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
        if (x.ndim if isinstance(x, Tensor) else np.ndim(x)) == 0:
            raise errors.op_error(ValueError, "matmul", (a, b), "operands must have rank >= 1",
                                  ("a", "b"))
    return _core.binary_call(_matmul_op, a, b)


def _swap_last(transpose, x):
    x = x if isinstance(x, Tensor) else convert_to_tensor(x)
    perm = list(range(x.ndim))
    perm[-2:] = perm[-1], perm[-2]
    return transpose(x, perm)


def _tensor(x):
    return x if isinstance(x, Tensor) else convert_to_tensor(x)


# --- tensordot ---------------------------------------------------------------------------


def _tensordot_grad_a(g, b, a_shape, axes):
    a_axes, b_axes = axes
    a_free = [i for i in range(len(a_shape)) if i not in a_axes]
    b_free = [j for j in range(b.ndim) if j not in b_axes]
    n = len(a_free)
    r = call_op(_tensordot_op, (g, b), ((tuple(range(n, n + len(b_free))), tuple(b_free)),))
    # r's axes: a's free axes, then b's contracted axes in order, each standing for its a axis
    return _permute(r, a_free + [a_axes[b_axes.index(j)] for j in sorted(b_axes)])


def _tensordot_grad_b(g, a, b_shape, axes):
    a_axes, b_axes = axes
    a_free = [i for i in range(a.ndim) if i not in a_axes]
    b_free = [j for j in range(len(b_shape)) if j not in b_axes]
    r = call_op(_tensordot_op, (a, g), ((tuple(a_free), tuple(range(len(a_free)))),))
    return _permute(r, [b_axes[a_axes.index(i)] for i in sorted(a_axes)] + b_free)


def _permute(r, source_axes):
    """r, whose axis k stands for the input's axis source_axes[k], in the input's order."""
    perm = [int(p) for p in np.argsort(source_axes)]
    return r if perm == sorted(perm) else np.transpose(r, perm)


_tensordot_op = register("tensordot", "linalg_op", np.tensordot, ("a", "b"),
                         {"a": _tensordot_grad_a, "b": _tensordot_grad_b}, attr_names=("axes",),
                         shape_fn=_rules.tensordot_shape,
                         dtype_fn=lambda a, b, axes: _rules.one_dtype(a, b))


def _axis_list(op_name, inputs, x, axes):
    axes = [axes] if np.ndim(axes) == 0 else list(np.asarray(axes).reshape(-1).tolist())
    out = []
    for a in axes:
        try:
            a = strict_index(a)
        except TypeError:
            raise errors.op_error(TypeError, op_name, inputs, f"axes must be ints, got {a!r}",
                                  ("a", "b")) from None
        if not -x.ndim <= a < x.ndim:
            raise errors.op_error(ValueError, op_name, inputs,
                                  f"axis {a} is out of range for rank {x.ndim}", ("a", "b"))
        out.append(a % x.ndim)
    if len(set(out)) != len(out):
        raise errors.op_error(ValueError, op_name, inputs, f"axes {axes} repeat", ("a", "b"))
    return tuple(out)


@public("tensordot", _tensordot_op, None)
def tensordot(a, b, axes, name=None):
    """Sums the products of `a` and `b` over the given axes, as tf.tensordot.

    Args:
        a, b: tensors of one floating or integer dtype.
        axes: an int N (the last N axes of a with the first N of b), or a pair
            (a_axes, b_axes) of ints or lists of ints of equal length.

    Returns:
        A tensor of shape a's free axes + b's free axes.

    >>> import fasttape as ft
    >>> ft.tensordot(ft.ones((2, 3, 4)), ft.ones((4, 3, 5)), [[1, 2], [1, 0]]).shape
    (2, 5)
    """
    x, y = _same_dtype("tensordot", (a, b), ("a", "b"))
    if not isinstance(axes, (list, tuple)) and np.ndim(_raw(axes)) == 0:
        try:
            n = strict_index(_raw(axes))
        except TypeError:
            raise errors.op_error(TypeError, "tensordot", (x, y),
                                  f"axes must be an int or a pair of lists, got {axes!r}",
                                  ("a", "b")) from None
        if not 0 <= n <= min(x.ndim, y.ndim):
            raise errors.op_error(ValueError, "tensordot", (x, y),
                                  f"axes={n} must lie in [0, {min(x.ndim, y.ndim)}]", ("a", "b"))
        a_axes, b_axes = tuple(range(x.ndim - n, x.ndim)), tuple(range(n))
    else:
        pair = list(_raw(axes)) if not isinstance(axes, (list, tuple)) else list(axes)
        if len(pair) != 2:
            raise errors.op_error(ValueError, "tensordot", (x, y),
                                  f"axes must be an int or a pair of lists, got {axes!r}",
                                  ("a", "b"))
        a_axes = _axis_list("tensordot", (x, y), x, _raw(pair[0]))
        b_axes = _axis_list("tensordot", (x, y), y, _raw(pair[1]))
        if len(a_axes) != len(b_axes):
            raise errors.op_error(ValueError, "tensordot", (x, y),
                                  f"a_axes {list(a_axes)} and b_axes {list(b_axes)} differ in "
                                  "length", ("a", "b"))
    for i, j in zip(a_axes, b_axes, strict=True):
        if incompatible((x.shape[i],), (y.shape[j],)):
            raise errors.op_error(ValueError, "tensordot", (x, y),
                                  f"axis {i} of a (size {x.shape[i]}) and axis {j} of b (size "
                                  f"{y.shape[j]}) differ", ("a", "b"))
    return _tensordot_op.apply((x, y), ((a_axes, b_axes),))


def _raw(x):
    return x.numpy() if isinstance(x, Tensor) else x


def _same_dtype(op_name, values, names):
    """`values` as tensors of one dtype (Python data adopts the first tensor's)."""
    from fasttape.ops.array_ops import _same_rank_dtype

    return _same_rank_dtype(op_name, list(values))


# --- einsum ----------------------------------------------------------------------------
# Note [einsum gradients]
# ~~~~~~~~~~~~~~~~~~~~~~~
# The equation is first made explicit: ellipses become letters (right-aligned,
# as NumPy broadcasts them) and an implicit output becomes NumPy's (the
# ellipsis axes, then the letters used once, sorted). The gradient of operand
# i is then another einsum: of g (subscripted by the output) and the other
# operands, into operand i's subscripts. Two cases need more than that:
#   - a letter repeated in operand i ('ii->i', traces): einsum cannot write a
#     repeated output letter, so each repeat gets a fresh letter and an
#     identity matrix operand ties it to the first ('i,iI->iI' with eye);
#   - a letter of operand i found nowhere else (summed out of it alone,
#     'ij->i'): its gradient is constant along that axis, so the einsum leaves
#     it out and the result is broadcast back.
# Size-1 axes that broadcast against larger ones give gradients of the larger
# size, which the sweep sums back (Note [Broadcast gradients] in core.pyx).
# Every step is an op (einsum via call_op, reshape, broadcast_to), so the
# gradient is itself differentiable to any order.

_LETTERS = string.ascii_letters


def _parse_einsum(equation, operands):
    """(input subscripts, output subscripts): `equation` made explicit, or a
    ValueError's detail as a str."""
    eq = equation.replace(" ", "")
    if eq.count("->") > 1:
        return "the equation has more than one '->'"
    lhs, arrow, out = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(operands):
        return f"the equation names {len(ins)} operands but {len(operands)} were given"
    for part in ins + ([out] if arrow else []):
        if part.count("...") > 1 or any(c not in _LETTERS for c in part.replace("...", "")):
            return f"invalid subscripts {part!r}: letters and at most one '...'"
    used = set(eq)
    fresh = (c for c in _LETTERS if c not in used)
    ranks = []
    for i, (part, x) in enumerate(zip(ins, operands, strict=True)):
        named = len(part.replace("...", ""))
        if ("..." in part and x.ndim < named) or ("..." not in part and x.ndim != named):
            return f"operand {i} has rank {x.ndim} but subscripts {part!r}"
        ranks.append(x.ndim - named)
    ell = "".join(next(fresh) for _ in range(max(ranks, default=0)))
    new_ins = [part.replace("...", ell[len(ell) - r:]) for part, r in zip(ins, ranks, strict=True)]
    if not arrow:
        letters = "".join(ins).replace("...", "")
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    elif "..." in out:
        out = out.replace("...", ell)
    elif ell:
        return "the operands have '...' axes but the output has no '...'"
    if len(set(out)) != len(out):
        return f"the output subscripts {out!r} repeat a letter"
    sizes = {}
    for i, (part, x) in enumerate(zip(new_ins, operands, strict=True)):
        for c, n in zip(part, x.shape, strict=True):
            m = sizes.get(c, 1)
            if n is None or m is None:  # a graph's unknown dim: the rule decides
                sizes[c] = m if n is None or n == 1 else n
                continue
            if n != 1 and m != 1 and n != m:
                return f"subscript {c!r} has size {n} in operand {i} but {m} elsewhere"
            sizes[c] = max(m, n)
    missing = [c for c in out if c not in sizes]
    if missing:
        return f"output subscripts {missing} appear in no operand"
    return new_ins, out


def _einsum(*args):
    equation, operands = args[-1], args[:-1]
    # NumPy's contraction planner (BLAS, a good order) costs some 50 us: worth it for
    # three or more operands and for large pairs, not for small ones
    plan = len(operands) > 2 or (len(operands) == 2 and operands[0].size + operands[1].size > 4096)
    return np.einsum(equation, *operands, optimize="greedy" if plan else False)


def _einsum_call(equation, operands):
    op = _einsum_pair_op if len(operands) == 2 else _einsum_op
    return call_op(op, tuple(operands), (equation,))


def _einsum_grad(equation, i, g, operands, x_shape):
    """The gradient of operand i: see Note [einsum gradients]."""
    lhs, out = equation.split("->")
    ins = lhs.split(",")
    fresh = (c for c in _LETTERS if c not in equation)
    subs = [out] + [s for j, s in enumerate(ins) if j != i]
    ops = [g] + [operands[j] for j in range(len(ins)) if j != i]
    target = []
    for pos, c in enumerate(ins[i]):
        if c in target:  # a repeated letter: on the diagonal
            f = next(fresh)
            subs.append(c + f)
            ops.append(np.eye(x_shape[pos], dtype=g.dtype))
            target.append(f)
        else:
            target.append(c)
    have = set("".join(subs))
    kept = "".join(c for c in target if c in have)
    r = _einsum_call(",".join(subs) + "->" + kept, ops)
    if len(kept) < len(target):  # summed out of operand i alone: constant along those axes
        dims = iter(r.shape)  # r's rank, and its known dims (Note [One VJP, every mode])
        shape = [next(dims) if c in have else 1 for c in target]
        shape = [d if d is not None else n for d, n in zip(shape, x_shape, strict=True)]
        full = [d if c in have else n for c, d, n in zip(target, shape, x_shape, strict=True)]
        r = np.broadcast_to(np.reshape(r, shape), full)
    return r


_einsum_op = register(
    "einsum", "linalg_op", _einsum, ("inputs",),
    lambda g, inputs, inputs_shape, equation: [
        _einsum_grad(equation, i, g, inputs, inputs_shape[i]) for i in range(len(inputs))],
    attr_names=("equation",), variadic=True,
    shape_fn=_rules.einsum_shape, dtype_fn=lambda ds, eq: _rules.one_dtype(*ds))
# two operands, the common case: one VJP per operand, so that a constant
# operand costs no gradient (the variadic op's joint VJP computes them all)
_einsum_pair_op = register(
    "_einsum_pair", "linalg_op", _einsum, ("x", "y"),
    {"x": lambda g, y, x_shape, equation: _einsum_grad(equation, 0, g, (None, y), x_shape),
     "y": lambda g, x, y_shape, equation: _einsum_grad(equation, 1, g, (x, None), y_shape)},
    attr_names=("equation",),
    shape_fn=lambda x, y, eq: _rules.einsum_shape([x, y], eq),
    dtype_fn=lambda x, y, eq: _rules.one_dtype(x, y))


@public("einsum", _einsum_op, None)
def einsum(equation, *inputs, **kwargs):
    """Einstein summation over `inputs`, with NumPy's subscripts.

    Any equation `numpy.einsum` accepts in its string form works: explicit
    ('ij,jk->ik') or implicit ('ij,jk') output, '...' for broadcast leading
    axes, repeated letters (diagonals, 'ii->i'; traces, 'ii'), letters summed
    out of one operand, and size-1 axes that broadcast. The gradient of every
    operand is another einsum (see Note [einsum gradients]), so gradients of
    any order flow.

    Args:
        equation: the subscripts, e.g. 'bij,bjk->bik'.
        *inputs: tensors of one dtype, one per operand of the equation.
        **kwargs: `name` and `optimize` are accepted and ignored (NumPy's greedy
            contraction planner runs for three or more operands and large pairs).

    >>> import fasttape as ft
    >>> ft.einsum('ij,jk->ik', ft.ones((2, 3)), ft.ones((3, 4))).shape
    (2, 4)
    >>> float(ft.einsum('ii', ft.eye(3)))
    3.0
    """
    unknown = set(kwargs) - {"name", "optimize"}
    if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
        inputs = tuple(inputs[0])
    vals = _same_dtype("einsum", inputs, None) if inputs else []
    if unknown:
        raise errors.op_error(TypeError, "einsum", tuple(vals),
                              f"unexpected arguments {sorted(unknown)}")
    if not isinstance(equation, str):
        raise errors.op_error(TypeError, "einsum", tuple(vals),
                              f"equation must be a str, got {type(equation).__name__}")
    known_rank("einsum", tuple(vals))
    parsed = _parse_einsum(equation, vals)
    if isinstance(parsed, str):
        raise errors.op_error(ValueError, "einsum", tuple(vals), f"{equation!r}: {parsed}")
    ins, out = parsed
    eq = ",".join(ins) + "->" + out
    op = _einsum_pair_op if len(vals) == 2 else _einsum_op
    return op.apply(vals, (eq,))


# --- ft.linalg: inverses, determinants, factorisations ------------------------------------


def _matrices(op_name, x, name="input", square=True):
    """x as a float tensor of rank >= 2 (square in its last two axes when asked)."""
    x = _tensor(x)
    if x.dtype.kind != "f":
        raise errors.op_error(TypeError, op_name, (x,),
                              f"expects a floating-point tensor, got {x.dtype.name}", (name,))
    if x.ndim < 2 or (square and None not in x.shape[-2:] and x.shape[-1] != x.shape[-2]):
        raise errors.op_error(
            ValueError, op_name, (x,),
            f"expects {'square ' if square else ''}matrices in the last two axes "
            f"(shape (..., M, M)), got shape {x.shape}", (name,))
    return x


_inv_op = register(
    "inv", "linalg_op", np.linalg.inv, ("input",),
    lambda g, out: -np.matmul(_mT(out), np.matmul(g, _mT(out))),
    shape_fn=_rules.square_shape, dtype_fn=_rules.linalg_dtype)  # -A^-T g A^-T


def _inv(x, for_what):
    """inv(x) inside a VJP: a singular x raises InvalidArgumentError naming inv
    and the gradient that needed it (call_op runs the bare forward on arrays)."""
    try:
        return call_op(_inv_op, (x,))
    except np.linalg.LinAlgError as e:
        raise errors.op_error(errors.InvalidArgumentError, "inv", (x,),
                              f"{e}: the gradient of {for_what} needs the inverse") from None


@public("inv", _inv_op, None)
def inv(input, adjoint=False, name=None):  # noqa: A002
    """The inverse of each square matrix in the last two axes, as tf.linalg.inv.

    Args:
        input: a float tensor of shape (..., M, M).
        adjoint: invert the (conjugate) transpose instead.

    Raises:
        InvalidArgumentError: a matrix is singular.

    >>> import fasttape as ft
    >>> ft.linalg.inv(ft.constant([[2.0, 0.0], [0.0, 4.0]])).numpy().tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """
    x = _matrices("inv", input)
    return _inv_op.apply((matrix_transpose(x) if adjoint else x,))


def _solve(matrix, rhs, adjoint):
    return np.linalg.solve(_mT(matrix) if adjoint else matrix, rhs)


def _solve_vjp(g, matrix, out, adjoint):
    g_rhs = call_op(_solve_op, (matrix, g), (not adjoint,))  # A^-T g
    g_matrix = -np.matmul(out, _mT(g_rhs)) if adjoint else -np.matmul(g_rhs, _mT(out))
    return [g_matrix, g_rhs]


_solve_op = register("solve", "linalg_op", _solve, ("matrix", "rhs"), _solve_vjp,
                     attr_names=("adjoint",),
                     shape_fn=_rules.solve_shape, dtype_fn=_rules.linalg_dtype)


@public("solve", _solve_op, None)
def solve(matrix, rhs, adjoint=False, name=None):
    """X with matrix @ X = rhs, for each matrix in the batch, as tf.linalg.solve.

    Args:
        matrix: a float tensor of shape (..., M, M).
        rhs: a tensor of shape (..., M, K); batch axes broadcast.
        adjoint: solve with the transpose of `matrix` instead.

    Raises:
        InvalidArgumentError: a matrix is singular.

    >>> import fasttape as ft
    >>> ft.linalg.solve(ft.constant([[2.0, 0.0], [0.0, 4.0]]), ft.ones((2, 1))).numpy().tolist()
    [[0.5], [0.25]]
    """
    a, b = _same_dtype("solve", (matrix, rhs), ("matrix", "rhs"))
    names = ("matrix", "rhs")
    _matrices("solve", a, "matrix")
    if b.ndim < 2 or incompatible(b.shape[-2:-1], a.shape[-1:]):
        raise errors.op_error(ValueError, "solve", (a, b),
                              f"rhs must have shape (..., {a.shape[-1]}, K)", names)
    try:
        broadcast_all(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise errors.op_error(ValueError, "solve", (a, b), "batch shapes do not broadcast",
                              names) from None
    return _solve_op.apply((a, b), (bool(adjoint),))


_det_op = register(
    "det", "linalg_op", np.linalg.det, ("input",),
    lambda g, input, out: (g * out)[..., None, None] * _mT(_inv(input, "det")),
    shape_fn=_rules.det_shape, dtype_fn=_rules.linalg_dtype)  # g det A^-T


@public("det", _det_op, None)
def det(input, name=None):  # noqa: A002
    """The determinant of each square matrix in the last two axes (tf.linalg.det).

    The gradient, det(A) A^-T, needs A invertible (as in TensorFlow).

    >>> import fasttape as ft
    >>> float(ft.linalg.det(ft.constant([[2.0, 1.0], [1.0, 3.0]])))
    5.0
    """
    return _det_op.apply((_matrices("det", input),))


def _slogdet(x):
    sign, logdet = np.linalg.slogdet(x)
    return sign, logdet


_slogdet_op = register(
    "slogdet", "linalg_op", _slogdet, ("input",),
    # the sign is piecewise constant: only log|det| has a gradient, A^-T per unit
    lambda g1, input: None if g1 is None else g1[..., None, None] * _mT(_inv(input, "slogdet")),
    n_out=2,
    shape_fn=lambda s: (_rules.det_shape(s),) * 2, dtype_fn=lambda d: (_rules.linalg_dtype(d),) * 2)


@public("slogdet", _slogdet_op, None)
def slogdet(input, name=None):  # noqa: A002
    """(sign, log|det|) of each square matrix, as tf.linalg.slogdet.

    Stable where det itself would overflow or underflow. The sign has no
    gradient; log|det| has A^-T.

    >>> import fasttape as ft
    >>> sign, logdet = ft.linalg.slogdet(ft.constant([[-2.0, 0.0], [0.0, 3.0]]))
    >>> float(sign), round(float(logdet), 4)
    (-1.0, 1.7918)
    """
    return _slogdet_op.apply((_matrices("slogdet", input),))


_PHI = {}


def _phi_mask(n, dtype):
    """The lower triangle with the diagonal halved: Phi in Murray (2016)."""
    key = (n, np.dtype(dtype))
    if key not in _PHI:
        m = np.tril(np.ones((n, n), dtype)) - 0.5 * np.eye(n, dtype=dtype)
        m.flags.writeable = False
        _PHI[key] = m
    return _PHI[key]


def _cholesky_vjp(g, out, input_shape):
    # A = L L^T: grad A = sym(L^-T Phi(L^T g) L^-1) (Murray 2016; as JAX and PyTorch)
    p = np.matmul(_mT(out), g) * _phi_mask(input_shape[-1], out.dtype)
    s = call_op(_solve_op, (out, p), (True,))  # L^-T P
    s = _mT(call_op(_solve_op, (out, _mT(s)), (True,)))  # (L^-T P) L^-1
    return 0.5 * (s + _mT(s))


_cholesky_op = register("cholesky", "linalg_op", np.linalg.cholesky, ("input",),
                        _cholesky_vjp,
                        shape_fn=_rules.square_shape, dtype_fn=_rules.linalg_dtype)


@public("cholesky", _cholesky_op, None)
def cholesky(input, name=None):  # noqa: A002
    """The lower-triangular L with L @ L^T = input, for symmetric positive
    definite matrices in the last two axes (tf.linalg.cholesky).

    Only the lower triangle of `input` is read; its gradient is symmetric (as
    TensorFlow's), the right one for a function of a symmetric matrix.

    Raises:
        InvalidArgumentError: a matrix is not positive definite.

    >>> import fasttape as ft
    >>> ft.linalg.cholesky(ft.constant([[4.0, 2.0], [2.0, 5.0]])).numpy().tolist()
    [[2.0, 0.0], [1.0, 2.0]]
    """
    return _cholesky_op.apply((_matrices("cholesky", input),))


@composite("logdet")
def logdet(matrix, name=None):
    """log(det(matrix)) of symmetric positive definite matrices, through their
    Cholesky factor (tf.linalg.logdet).

    >>> import fasttape as ft
    >>> round(float(ft.linalg.logdet(ft.constant([[4.0, 2.0], [2.0, 5.0]]))), 4)
    2.7726
    """
    from fasttape.ops.math_ops import log, reduce_sum

    chol = cholesky(_matrices("logdet", matrix, "matrix"))
    return 2.0 * reduce_sum(log(diag_part(chol)), axis=-1)


# --- matrix helpers (composites of shape ops) ----------------------------------------------


@composite("matrix_transpose")
def matrix_transpose(a, conjugate=False, name=None):
    """Swaps the last two axes of `a` (tf.linalg.matrix_transpose).

    >>> import fasttape as ft
    >>> ft.linalg.matrix_transpose(ft.ones((2, 3, 4))).shape
    (2, 4, 3)
    """
    from fasttape.ops.array_ops import transpose

    x = _tensor(a)
    if x.ndim < 2:
        raise errors.op_error(ValueError, "matrix_transpose", (x,),
                              f"expects a tensor of rank >= 2, got rank {x.ndim}", ("a",))
    return transpose(x, tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2), conjugate)


@composite("diag_part")
def diag_part(input, name=None):  # noqa: A002
    """The diagonals of the matrices in the last two axes: shape (..., min(M, N)).

    A getitem (x[..., i, i]), so its gradient puts g back on the diagonal.

    >>> import fasttape as ft
    >>> ft.linalg.diag_part(ft.constant([[1, 2], [3, 4]])).numpy().tolist()
    [1, 4]
    """
    from fasttape.ops.array_ops import getitem

    x = _tensor(input)
    if x.ndim < 2:
        raise errors.op_error(ValueError, "diag_part", (x,),
                              f"expects a tensor of rank >= 2, got rank {x.ndim}", ("input",))
    if None in x.shape[-2:]:  # the diagonal's length indexes it: a static slice
        raise unknown_dim_error("diag_part", (x,), f"the matrix shape {tuple(x.shape[-2:])}",
                                ("input",))
    i = np.arange(min(x.shape[-2:]))
    return getitem(x, (Ellipsis, i, i))


@composite("trace")
def trace(x, name=None):
    """The sum of the diagonal of each matrix in the last two axes (tf.linalg.trace).

    >>> import fasttape as ft
    >>> float(ft.linalg.trace(ft.constant([[1.0, 2.0], [3.0, 4.0]])))
    5.0
    """
    from fasttape.ops.math_ops import reduce_sum

    x = _tensor(x)
    if x.ndim < 2:
        raise errors.op_error(ValueError, "trace", (x,),
                              f"expects a tensor of rank >= 2, got rank {x.ndim}", ("x",))
    return reduce_sum(diag_part(x), axis=-1)


# --- norms ---------------------------------------------------------------------------------


def _spectral_norm_vjp(g, x):
    if isinstance(g, Tensor) or isinstance(x, Tensor):
        raise NotImplementedError(
            "norm: the matrix 2-norm (largest singular value) has first-order gradients only; "
            "its gradient cannot be recorded by an outer tape")
    if x.size == 0:  # an empty matrix (or batch of them): an empty gradient
        return np.zeros(x.shape, np.result_type(g, x))
    u, _, vt = np.linalg.svd(x)
    return g[..., None, None] * np.matmul(u[..., :, :1], vt[..., :1, :])  # u1 v1^T


_spectral_norm_op = register(
    "_spectral_norm", "linalg_op", lambda x: np.linalg.norm(x, 2, axis=(-2, -1)), ("x",),
    _spectral_norm_vjp,
    shape_fn=lambda s: tuple(s[:-2]), dtype_fn=_rules.linalg_dtype)


@composite("norm")
def norm(tensor, ord="euclidean", axis=None, keepdims=False, name=None):  # noqa: A002
    """The vector or matrix norm of `tensor`, as tf.norm / tf.linalg.norm.

    With `axis` None (the whole tensor as one vector) or an int, a vector
    norm: `ord` 'euclidean' (= 2), 1, np.inf, or any p > 0 for (sum |x|^p)^(1/p).
    With `axis` a pair of axes (rows, columns), a matrix norm: 'euclidean' or
    'fro' (Frobenius), 1 (largest column sum of |x|), np.inf (largest row
    sum) or 2 (largest singular value; first-order gradients only).

    Built from ops (sqrt, reduce_sum, abs, reduce_max), so gradients follow
    theirs: at x = 0 the 2-norm's gradient is NaN, as in TensorFlow; ties of
    the max-norms share the gradient.

    Args:
        tensor: a float tensor.
        ord: the norm, as above.
        axis: None, an int, or a pair of ints.
        keepdims: keep the reduced axes with size 1.

    >>> import fasttape as ft
    >>> float(ft.norm(ft.constant([3.0, 4.0])))
    5.0
    >>> float(ft.norm(ft.constant([[1.0, -2.0], [3.0, 4.0]]), ord=1, axis=[0, 1]))
    6.0
    """
    from fasttape.ops.array_ops import squeeze
    from fasttape.ops.math_ops import _float_tensor, abs, pow, reduce_max, reduce_sum, sqrt

    x = _float_tensor("norm", tensor)
    matrix = isinstance(axis, (tuple, list)) and len(axis) == 2
    if matrix:
        axes = normalize_axis("norm", x, axis)
        if len(axes) != 2:
            raise errors.op_error(ValueError, "norm", (x,), f"axis {axis} has repeated entries")
        rows, cols = (a % x.ndim for a in axis)
        if ord in ("euclidean", "fro"):
            return sqrt(reduce_sum(x * x, axis=axes, keepdims=keepdims))
        if ord in (1, np.inf):
            summed, maxed = (rows, cols) if ord == 1 else (cols, rows)
            r = reduce_max(reduce_sum(abs(x), axis=summed, keepdims=True), axis=maxed,
                           keepdims=True)
        elif ord == 2:
            from fasttape.ops.array_ops import expand_dims, transpose

            perm = [a for a in range(x.ndim) if a not in axes] + [rows, cols]
            r = _spectral_norm_op.apply((transpose(x, perm),))
            if not keepdims:
                return r
            for a in axes:
                r = expand_dims(r, a)
            return r
        else:
            raise errors.op_error(ValueError, "norm", (x,),
                                  f"unsupported matrix norm ord {ord!r}: 'euclidean', 'fro', "
                                  "1, 2 or np.inf")
        return r if keepdims else squeeze(r, list(axes))
    if axis is not None and not isinstance(axis, (tuple, list)):
        axis = [axis]
    if axis is not None and len(axis) != 1:
        raise errors.op_error(ValueError, "norm", (x,),
                              f"axis must be None, an int or a pair of ints, got {axis}")
    if ord in ("euclidean", 2, 2.0):
        return sqrt(reduce_sum(x * x, axis=axis, keepdims=keepdims))
    if ord == 1:
        return reduce_sum(abs(x), axis=axis, keepdims=keepdims)
    if ord == np.inf:
        return reduce_max(abs(x), axis=axis, keepdims=keepdims)
    if isinstance(ord, (int, float)) and not isinstance(ord, bool) and ord > 0:
        p = float(ord)
        return pow(reduce_sum(pow(abs(x), p), axis=axis, keepdims=keepdims), 1.0 / p)
    raise errors.op_error(ValueError, "norm", (x,),
                          f"unsupported vector norm ord {ord!r}: 'euclidean', 1, 2, np.inf or "
                          "a number > 0")


# --- TensorFlow's everyday names beyond SPEC's minimum ---------------------------------


def _diag_positions(n, k):
    i = np.arange(n)
    return i - min(k, 0), i + max(k, 0)


def _matrix_diag(diagonal, k, num_rows, num_cols, padding_value):
    out = np.full(diagonal.shape[:-1] + (num_rows, num_cols), padding_value, diagonal.dtype)
    rows, cols = _diag_positions(diagonal.shape[-1], k)
    out[..., rows, cols] = diagonal
    return out


def _matrix_diag_vjp(g, diagonal_shape, k):
    from fasttape.ops.array_ops import _getitem_op

    rows, cols = _diag_positions(diagonal_shape[-1], k)
    return call_op(_getitem_op, (g,), ((Ellipsis, rows, cols),))


_matrix_diag_op = register(
    "matrix_diag", "linalg_op", _matrix_diag, ("diagonal",), _matrix_diag_vjp,
    attr_names=("k", "num_rows", "num_cols", "padding_value"),
    shape_fn=lambda s, k, r, c, p: tuple(s[:-1]) + (r, c),
    dtype_fn=_rules.first_dtype)


@public("matrix_diag", _matrix_diag_op, None)
def matrix_diag(diagonal, name="diag", k=0, num_rows=-1, num_cols=-1, padding_value=0,
         align="RIGHT_LEFT"):
    """Matrices with `diagonal`'s last axis on their k-th diagonal (batched over
    the leading axes), as tf.linalg.diag (tf.linalg.matrix_diag).

    The matrices are square of size n + |k| unless `num_rows` / `num_cols`
    say otherwise; other entries are `padding_value`. `k` is one int (a band
    of diagonals is not supported: use several calls).

    >>> import fasttape as ft
    >>> ft.linalg.diag(ft.constant([1.0, 2.0]))
    <ft.Tensor shape=(2, 2) dtype=float32 numpy=[[1. 0.]
     [0. 2.]]>
    """
    d = _tensor(diagonal)
    if d.ndim < 1:
        raise errors.op_error(ValueError, "matrix_diag", (d,), "diagonal must have rank >= 1",
                              ("diagonal",))
    k = normalize_int("matrix_diag", k, "k", (d,), ("diagonal",))
    num_rows = normalize_int("matrix_diag", num_rows, "num_rows", (d,), ("diagonal",))
    num_cols = normalize_int("matrix_diag", num_cols, "num_cols", (d,), ("diagonal",))
    n = d.shape[-1]
    if n is None:  # the output's shape is an attribute, computed from n
        raise unknown_dim_error("matrix_diag", (d,), "the diagonal's length", ("diagonal",))
    min_rows, min_cols = n + max(-k, 0), n + max(k, 0)
    if num_rows == -1 and num_cols == -1:
        num_rows = num_cols = max(min_rows, min_cols)
    elif num_rows == -1:
        num_rows = min_rows
    elif num_cols == -1:
        num_cols = min_cols
    if num_rows < min_rows or num_cols < min_cols or n != min(
            num_rows + min(0, k), num_cols - max(0, k)):
        raise errors.op_error(
            ValueError, "matrix_diag", (d,),
            f"a diagonal of length {n} at k={k} does not fit a {num_rows} x {num_cols} matrix",
            ("diagonal",))
    pad = padding_value.numpy()[()] if isinstance(padding_value, Tensor) else padding_value
    if np.ndim(pad) != 0:
        raise errors.op_error(ValueError, "matrix_diag", (d,), "padding_value must be a scalar",
                              ("diagonal",))
    return _matrix_diag_op.apply((d,), (k, num_rows, num_cols, pad))


def _tensor_diag(diagonal):
    n = diagonal.size
    out = np.zeros((n, n), diagonal.dtype)
    i = np.arange(n)
    out[i, i] = diagonal.reshape(-1)
    return out.reshape(diagonal.shape + diagonal.shape)


def _tensor_diag_vjp(g, diagonal_shape):
    n = int(np.prod(diagonal_shape))
    i = np.arange(n)
    return np.reshape(np.reshape(g, (n, n))[i, i], diagonal_shape)


_tensor_diag_op = register("tensor_diag", "linalg_op", _tensor_diag, ("diagonal",),
                           _tensor_diag_vjp, shape_fn=lambda s: tuple(s) + tuple(s),
                           dtype_fn=_rules.first_dtype)


@public("tensor_diag", _tensor_diag_op, None)
def tensor_diag(diagonal, name=None):
    """The tensor of rank 2k with `diagonal` (rank k) on its diagonal:
    out[i1..ik, i1..ik] = diagonal[i1..ik], as tf.linalg.tensor_diag (tf.diag).

    >>> import fasttape as ft
    >>> ft.linalg.tensor_diag(ft.constant([1, 2])).numpy().tolist()
    [[1, 0], [0, 2]]
    """
    return _tensor_diag_op.apply((_tensor(diagonal),))


@composite("matvec")
def matvec(a, b, transpose_a=False, adjoint_a=False, a_is_sparse=False, b_is_sparse=False,
           name=None):
    """The matrix-vector product a @ b over the last axes, batched, as tf.linalg.matvec:
    a (..., M, N) and b (..., N) give (..., M). `transpose_a` / `adjoint_a` use
    a's (conjugate) transpose. A matmul with b as a column, so differentiable.

    >>> import fasttape as ft
    >>> ft.linalg.matvec(ft.constant([[1.0, 2.0], [3.0, 4.0]]), ft.constant([1.0, 1.0]))
    <ft.Tensor shape=(2,) dtype=float32 numpy=[3. 7.]>
    """
    from fasttape.ops.array_ops import expand_dims, squeeze

    a, b = same_dtype("matvec", (a, b), ("a", "b"))
    if a.ndim < 2 or b.ndim < 1:
        raise errors.op_error(ValueError, "matvec", (a, b),
                              "a must have rank >= 2 and b rank >= 1", ("a", "b"))
    if transpose_a and adjoint_a:
        raise errors.op_error(ValueError, "matvec", (a, b),
                              "give transpose_a or adjoint_a, not both", ("a", "b"))
    n = a.shape[-2] if transpose_a or adjoint_a else a.shape[-1]
    if incompatible(b.shape[-1:], (n,)):
        raise errors.op_error(ValueError, "matvec", (a, b),
                              f"b's last axis ({b.shape[-1]}) must match a's "
                              f"{'rows' if transpose_a or adjoint_a else 'columns'} ({n})",
                              ("a", "b"))
    if adjoint_a:
        a = matrix_transpose(a, conjugate=True)
    return squeeze(matmul(a, expand_dims(b, -1), transpose_a=bool(transpose_a)), -1)
