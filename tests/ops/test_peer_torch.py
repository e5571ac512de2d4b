"""Peer check against PyTorch: forward values and gradients (through
torch.autograd) of every op of math_ops, array_ops and linalg_ops that PyTorch
also has, on random float64 inputs. Not the only evidence: the OpSpecs check
every gradient against finite differences (tests/ops/test_op_grads.py)."""

import zlib

import numpy as np
import pytest

import fasttape as ft
from fasttape import nest

torch = pytest.importorskip("torch")
F = torch.nn.functional


# --- inputs: gen(rng) -> ndarray ---------------------------------------------------------


def real(*shape, lo=-2.0, hi=2.0):
    return lambda rng: rng.uniform(lo, hi, shape)


def positive(*shape):
    return real(*shape, lo=0.2, hi=2.0)


def nonzero(*shape, lo=0.2):
    """|x| >= lo: away from kinks at 0."""
    return lambda rng: rng.choice([-1.0, 1.0], shape) * rng.uniform(lo, 2.0, shape)


def ints(*shape, lo=0, hi=3):
    return lambda rng: rng.integers(lo, hi, shape)


def bools(*shape):
    return lambda rng: rng.random(shape) < 0.5


def matrix(*shape, sign=False):
    """Well-conditioned: uniform(-1, 1) + n I."""

    def gen(rng):
        a = rng.uniform(-1, 1, shape) + shape[-1] * np.eye(shape[-1])
        return a * rng.choice([-1.0, 1.0], shape[:-1] + (1,)) if sign else a

    return gen


def spd(*shape):
    def gen(rng):
        a = rng.uniform(-1, 1, shape)
        return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])

    return gen


def const(value):
    return lambda rng: np.asarray(value)


# --- the table: (id, fasttape function, torch function, inputs) ------------------------------

T = torch
_SIN = [
    ("abs", ft.abs, T.abs, [nonzero(3, 4)]),
    ("acos", ft.acos, T.acos, [real(5, lo=-0.9, hi=0.9)]),
    ("asin", ft.asin, T.asin, [real(5, lo=-0.9, hi=0.9)]),
    ("atan", ft.atan, T.atan, [real(5)]),
    ("cos", ft.cos, T.cos, [real(5)]),
    ("cosh", ft.cosh, T.cosh, [real(5)]),
    ("elu", ft.nn.elu, F.elu, [nonzero(5)]),
    ("erf", ft.erf, T.erf, [real(5)]),
    ("exp", ft.exp, T.exp, [real(5)]),
    ("expm1", ft.expm1, T.expm1, [real(5)]),
    ("log", ft.log, T.log, [positive(5)]),
    ("log1p", ft.math.log1p, T.log1p, [positive(5)]),
    ("negative", ft.negative, T.neg, [real(5)]),
    ("reciprocal", ft.reciprocal, T.reciprocal, [nonzero(5)]),
    ("relu", ft.nn.relu, T.relu, [nonzero(5)]),
    (
        "relu6",
        ft.nn.relu6,
        F.relu6,
        [lambda rng: rng.choice([-1.0, 3.0, 7.0], 6) + rng.uniform(-0.5, 0.5, 6)],
    ),
    ("rsqrt", ft.rsqrt, T.rsqrt, [positive(5)]),
    ("selu", ft.nn.selu, F.selu, [nonzero(5)]),
    ("sigmoid", ft.sigmoid, T.sigmoid, [real(5)]),
    ("sign", ft.sign, T.sign, [nonzero(5)]),
    ("sin", ft.sin, T.sin, [real(5)]),
    ("sinh", ft.sinh, T.sinh, [real(5)]),
    ("softplus", ft.nn.softplus, F.softplus, [real(5)]),
    ("sqrt", ft.sqrt, T.sqrt, [positive(5)]),
    ("square", ft.square, T.square, [real(5)]),
    ("tan", ft.tan, T.tan, [real(5, lo=-1, hi=1)]),
    ("tanh", ft.tanh, T.tanh, [real(5)]),
    ("gelu", ft.nn.gelu, F.gelu, [real(5)]),
    (
        "gelu-tanh",
        lambda x: ft.nn.gelu(x, approximate=True),
        lambda x: F.gelu(x, approximate="tanh"),
        [real(5)],
    ),
    (
        "leaky_relu",
        lambda x: ft.nn.leaky_relu(x, 0.1),
        lambda x: F.leaky_relu(x, 0.1),
        [nonzero(5)],
    ),
    ("ceil", ft.ceil, T.ceil, [real(5)]),
    ("floor", ft.floor, T.floor, [real(5)]),
    ("round", ft.round, T.round, [lambda rng: np.array([0.5, 1.5, 2.5, -0.5, 0.2, 1.7])]),
]

_BINARY = [
    ("add", ft.add, T.add, [real(3, 1), real(4)]),
    ("subtract", ft.subtract, T.sub, [real(3), real(3)]),
    ("multiply", ft.multiply, T.mul, [real(2, 3), real(3)]),
    ("divide", ft.divide, T.div, [real(2, 3), nonzero(2, 1)]),
    ("atan2", ft.atan2, T.atan2, [nonzero(4), nonzero(4)]),
    ("maximum", ft.maximum, T.maximum, [real(4), real(4)]),
    ("minimum", ft.minimum, T.minimum, [real(2, 4), real(4)]),
    ("pow", ft.pow, T.pow, [positive(2, 3), real(3)]),
    ("mod", ft.mod, T.remainder, [real(5, lo=-3, hi=3), nonzero(5, lo=0.7)]),
    (
        "floordiv",
        ft.floordiv,
        lambda a, b: T.floor_divide(a, b).detach(),  # no torch gradient
        [real(5, lo=-3, hi=3), nonzero(5, lo=0.7)],
    ),
    (
        "clip_by_value",
        ft.clip_by_value,
        T.clamp,
        [real(6), real(6, lo=-1.5, hi=-0.5), real(6, lo=0.5, hi=1.5)],
    ),
    ("where", ft.where, T.where, [bools(3, 4), real(3, 4), real(4)]),
    ("equal", ft.equal, T.eq, [ints(5), ints(5)]),
    ("less", ft.less, T.lt, [real(5), real(5)]),
    ("greater_equal", ft.greater_equal, T.ge, [real(5), real(5)]),
    ("logical_and", ft.logical_and, T.logical_and, [bools(5), bools(5)]),
    ("logical_not", ft.logical_not, T.logical_not, [bools(5)]),
    ("isnan", ft.isnan, T.isnan, [const([1.0, np.nan, np.inf])]),
    ("isfinite", ft.isfinite, T.isfinite, [const([1.0, np.nan, np.inf])]),
]


def _reduce(name, ft_fn, torch_fn):
    return [
        (
            f"{name}-{axis}-{keepdims}",
            lambda x, a=axis, k=keepdims: ft_fn(x, axis=a, keepdims=k),
            lambda x, a=axis, k=keepdims: torch_fn(x, a, k),
            [real(3, 4)],
        )
        for axis, keepdims in ((None, False), (1, True), ((0, 1), False), (-2, False))
    ]


def _all_dims(fn):
    return lambda x, a, k: fn(x, dim=tuple(range(x.ndim)) if a is None else a, keepdim=k)


_REDUCE = (
    _reduce("reduce_sum", ft.reduce_sum, _all_dims(T.sum))
    + _reduce("reduce_mean", ft.reduce_mean, _all_dims(T.mean))
    + _reduce("reduce_max", ft.reduce_max, _all_dims(T.amax))
    + _reduce("reduce_min", ft.reduce_min, _all_dims(T.amin))
    + _reduce("reduce_logsumexp", ft.reduce_logsumexp, _all_dims(T.logsumexp))
    + _reduce("reduce_std", ft.reduce_std, lambda x, a, k: T.std(x, dim=a, keepdim=k, correction=0))
    + _reduce(
        "reduce_variance",
        ft.reduce_variance,
        lambda x, a, k: T.var(x, dim=a, keepdim=k, correction=0),
    )
    + [
        ("reduce_prod", lambda x: ft.reduce_prod(x, axis=1), lambda x: T.prod(x, 1), [real(3, 4)]),
        (
            "reduce_max-ties",
            lambda x: ft.reduce_max(x, axis=1),
            lambda x: T.amax(x, 1),
            [const([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])],
        ),
        ("argmax", lambda x: ft.argmax(x, 1), lambda x: T.argmax(x, 1), [real(3, 4)]),
        ("argmin", lambda x: ft.argmin(x, 0), lambda x: T.argmin(x, 0), [real(3, 4)]),
    ]
)

_SHAPE = [
    ("reshape", lambda x: ft.reshape(x, (4, -1)), lambda x: T.reshape(x, (4, -1)), [real(2, 6)]),
    (
        "transpose",
        lambda x: ft.transpose(x, (2, 0, 1)),
        lambda x: x.permute(2, 0, 1),
        [real(2, 3, 4)],
    ),
    ("expand_dims", lambda x: ft.expand_dims(x, 1), lambda x: x.unsqueeze(1), [real(2, 3)]),
    ("squeeze", lambda x: ft.squeeze(x, 1), lambda x: x.squeeze(1), [real(2, 1, 3)]),
    (
        "broadcast_to",
        lambda x: ft.broadcast_to(x, (2, 3, 4)),
        lambda x: x.expand(2, 3, 4),
        [real(3, 1)],
    ),
    (
        "concat",
        lambda a, b: ft.concat([a, b], 1),
        lambda a, b: T.cat([a, b], 1),
        [real(2, 3), real(2, 2)],
    ),
    (
        "stack",
        lambda a, b: ft.stack([a, b], 1),
        lambda a, b: T.stack([a, b], 1),
        [real(2, 3), real(2, 3)],
    ),
    ("unstack", lambda x: ft.unstack(x, axis=1), lambda x: T.unbind(x, 1), [real(2, 3)]),
    (
        "split",
        lambda x: ft.split(x, [1, -1, 2], axis=1),
        lambda x: T.split(x, [1, 3, 2], 1),
        [real(2, 6)],
    ),
    ("split-n", lambda x: ft.split(x, 3), lambda x: T.chunk(x, 3), [real(6, 2)]),
    ("tile", lambda x: ft.tile(x, [2, 3]), lambda x: T.tile(x, (2, 3)), [real(2, 3)]),
    (
        "pad",
        lambda x: ft.pad(x, [[1, 2], [0, 3]], constant_values=0.5),
        lambda x: F.pad(x, (0, 3, 1, 2), value=0.5),
        [real(2, 3)],
    ),
    (
        "pad-reflect",
        lambda x: ft.pad(x, [[0, 0], [0, 0], [2, 1]], "REFLECT"),
        lambda x: F.pad(x, (2, 1), mode="reflect"),
        [real(2, 3, 4)],
    ),
    ("slice", lambda x: ft.slice(x, [1, 0], [2, -1]), lambda x: x.narrow(0, 1, 2), [real(4, 3)]),
    ("getitem", lambda x: x[1:, ::2], lambda x: x[1:, ::2], [real(3, 4)]),
    ("getitem-advanced", lambda x, i: x[i], lambda x, i: x[i], [real(4, 3), ints(5, hi=4)]),
    (
        "gather",
        lambda x, i: ft.gather(x, i, axis=1),
        lambda x, i: T.index_select(x, 1, i),
        [real(3, 4), ints(6, hi=4)],
    ),
    (
        "gather-batch_dims",
        lambda x, i: ft.gather(x, i, axis=1, batch_dims=1),
        lambda x, i: T.gather(x, 1, i),
        [real(3, 4), ints(3, 5, hi=4)],
    ),
    ("gather_nd", ft.gather_nd, lambda x, i: x[i[..., 0], i[..., 1]], [real(3, 4), ints(5, 2)]),
    (
        "scatter_nd",
        lambda i, u: ft.scatter_nd(i, u, (4, 3)),
        lambda i, u: T.zeros(4, 3, dtype=u.dtype).index_put((i[:, 0],), u, accumulate=True),
        [ints(6, 1, hi=4), real(6, 3)],
    ),
    ("boolean_mask", ft.boolean_mask, lambda x, m: x[m], [real(5, 2), bools(5)]),
    (
        "one_hot",
        lambda i: ft.one_hot(i, 4, dtype=ft.int64),
        lambda i: F.one_hot(i, 4),
        [ints(2, 3, hi=4)],
    ),
]

_LINALG = [
    ("matmul", ft.matmul, T.matmul, [real(2, 3, 4), real(4, 5)]),
    (
        "tensordot",
        lambda a, b: ft.tensordot(a, b, [[1, 2], [1, 0]]),
        lambda a, b: T.tensordot(a, b, ([1, 2], [1, 0])),
        [real(2, 3, 4), real(4, 3, 2)],
    ),
    (
        "einsum",
        lambda a, b: ft.einsum("bij,bjk->bik", a, b),
        lambda a, b: T.einsum("bij,bjk->bik", a, b),
        [real(2, 3, 4), real(2, 4, 2)],
    ),
    (
        "einsum-ellipsis",
        lambda a, b: ft.einsum("...ij,...j->...i", a, b),
        lambda a, b: T.einsum("...ij,...j->...i", a, b),
        [real(2, 3, 4), real(4)],
    ),
    ("einsum-trace", lambda a: ft.einsum("ii", a), lambda a: T.einsum("ii", a), [real(3, 3)]),
    (
        "einsum-diag",
        lambda a, b: ft.einsum("ii,i->i", a, b),
        lambda a, b: T.einsum("ii,i->i", a, b),
        [real(3, 3), real(3)],
    ),
    (
        "einsum-three",
        lambda a, b, c: ft.einsum("ij,jk,kl->il", a, b, c),
        lambda a, b, c: T.einsum("ij,jk,kl->il", a, b, c),
        [real(2, 3), real(3, 4), real(4, 2)],
    ),
    ("inv", ft.linalg.inv, T.linalg.inv, [matrix(2, 3, 3, sign=True)]),
    ("solve", ft.linalg.solve, T.linalg.solve, [matrix(2, 3, 3), real(2, 3, 2)]),
    ("det", ft.linalg.det, T.linalg.det, [matrix(2, 3, 3, sign=True)]),
    ("slogdet", ft.linalg.slogdet, T.linalg.slogdet, [matrix(2, 3, 3, sign=True)]),
    ("logdet", ft.linalg.logdet, T.logdet, [spd(2, 3, 3)]),
    ("cholesky", ft.linalg.cholesky, T.linalg.cholesky, [spd(2, 3, 3)]),
    ("matrix_transpose", ft.linalg.matrix_transpose, lambda x: x.mT, [real(2, 3, 4)]),
    ("diag_part", ft.linalg.diag_part, lambda x: T.diagonal(x, dim1=-2, dim2=-1), [real(2, 3, 4)]),
    ("trace", ft.linalg.trace, T.trace, [real(3, 3)]),
    ("norm", ft.norm, T.linalg.vector_norm, [real(3, 4)]),
    (
        "norm-axis",
        lambda x: ft.norm(x, axis=1, keepdims=True),
        lambda x: T.linalg.vector_norm(x, dim=1, keepdim=True),
        [real(3, 4)],
    ),
    (
        "norm-1",
        lambda x: ft.norm(x, ord=1, axis=0),
        lambda x: T.linalg.vector_norm(x, 1, dim=0),
        [nonzero(3, 4)],
    ),
    (
        "norm-inf",
        lambda x: ft.norm(x, ord=np.inf),
        lambda x: T.linalg.vector_norm(x, np.inf),
        [real(3, 4)],
    ),
    (
        "norm-3",
        lambda x: ft.norm(x, ord=3, axis=-1),
        lambda x: T.linalg.vector_norm(x, 3, dim=-1),
        [nonzero(3, 4)],
    ),
    (
        "norm-fro",
        lambda x: ft.linalg.norm(x, "fro", axis=[-2, -1]),
        lambda x: T.linalg.matrix_norm(x, "fro"),
        [real(2, 3, 4)],
    ),
    (
        "norm-matrix-1",
        lambda x: ft.linalg.norm(x, 1, axis=[-2, -1]),
        lambda x: T.linalg.matrix_norm(x, 1),
        [real(2, 3, 4)],
    ),
    (
        "norm-matrix-inf",
        lambda x: ft.linalg.norm(x, np.inf, axis=[-2, -1]),
        lambda x: T.linalg.matrix_norm(x, np.inf),
        [real(2, 3, 4)],
    ),
    (
        "norm-spectral",
        lambda x: ft.linalg.norm(x, 2, axis=[-2, -1]),
        lambda x: T.linalg.matrix_norm(x, 2),
        [real(2, 3, 4)],
    ),
]

CASES = _SIN + _BINARY + _REDUCE + _SHAPE + _LINALG


def _leaves(out):
    return [t for t in nest.flatten(list(out) if isinstance(out, tuple) else out)]


def _torch_leaves(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _torch_leaves(o)]
    return [out]


@pytest.mark.parametrize("ft_fn, torch_fn, gens", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_against_torch(request, ft_fn, torch_fn, gens):
    rng = np.random.default_rng(zlib.crc32(request.node.callspec.id.encode()))
    arrays = [np.asarray(g(rng)) for g in gens]
    is_float = [a.dtype.kind == "f" for a in arrays]

    xs = [ft.constant(a) for a in arrays]
    with ft.GradientTape() as tape:
        tape.watch([x for x, f in zip(xs, is_float, strict=True) if f])
        outs = _leaves(ft_fn(*xs))
    ts = [torch.tensor(a, requires_grad=f) for a, f in zip(arrays, is_float, strict=True)]
    touts = _torch_leaves(torch_fn(*ts))
    assert len(outs) == len(touts)
    for o, t in zip(outs, touts, strict=True):
        expected = t.detach().numpy()
        assert o.shape == expected.shape
        np.testing.assert_allclose(o.numpy(), expected, rtol=1e-10, atol=1e-12)

    diff = [
        (o, t) for o, t in zip(outs, touts, strict=True) if o.dtype.kind == "f" and t.requires_grad
    ]
    if not diff or not any(is_float):
        return
    cot = [rng.standard_normal(o.shape) for o, _ in diff]
    grads = tape.gradient([o for o, _ in diff], xs, output_gradients=[ft.constant(c) for c in cot])
    loss = sum((t * torch.tensor(c)).sum() for (_, t), c in zip(diff, cot, strict=True))
    float_ts = [t for t in ts if t.requires_grad]
    tgrads = iter(torch.autograd.grad(loss, float_ts, allow_unused=True))
    for x, g, f in zip(arrays, grads, is_float, strict=True):
        if not f:
            assert g is None
            continue
        tg = next(tgrads)
        expected = np.zeros_like(x) if tg is None else tg.numpy()
        got = np.zeros_like(x) if g is None else g.numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-11)
