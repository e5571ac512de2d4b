"""The op database: one `OpSpec` per op of the table (fasttape/ops), saying how to
test it: input domains, shape groups, attribute grid, derivative order and
tolerances, and NumPy's answer for the forward value.

tests/ops/test_op_grads.py runs every spec through `check_grads` (and
`check_jacobian` for shape and indexing ops); tests/ops/test_op_db_complete.py
fails when an op of the table has no spec. A new op adds its spec here.
"""

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable

import numpy as np

import fasttape as ft

# --- input domains: gen(rng, shape) -> ndarray ----------------------------------


def real(lo=-2.0, hi=2.0):
    """Uniform floats in [lo, hi)."""
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def positive(lo=0.2, hi=2.0):
    """Uniform floats in [lo, hi), lo > 0 (log, sqrt, pow's base)."""
    return real(lo, hi)


def nonzero(lo=0.2, hi=2.0):
    """Floats with lo <= |x| < hi and a random sign: away from kinks and poles at 0."""
    return lambda rng, shape: rng.choice([-1.0, 1.0], shape) * rng.uniform(lo, hi, shape)


def off_grid(step=1.0, margin=0.1):
    """Floats at least `margin` away from multiples of `step` (floor, ceil, round)."""
    return lambda rng, shape: (rng.integers(-3, 3, shape)
                               + rng.uniform(margin, step - margin, shape)) * step


def with_zeros(count, base=None):
    """`base` floats with `count` entries (or all, if fewer) set to exactly 0."""
    base = base or nonzero(0.5, 1.5)

    def gen(rng, shape):
        x = base(rng, shape)
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, min(count, flat.size), replace=False)] = 0.0
        return flat.reshape(shape)

    return gen


def integers(lo=-5, hi=6, dtype=np.int64):
    return lambda rng, shape: rng.integers(lo, hi, shape).astype(dtype)


def booleans():
    return lambda rng, shape: rng.random(shape) < 0.5


def with_specials():
    """Finite floats with some nan, inf and -inf (isnan, isfinite)."""

    def gen(rng, shape):
        x = rng.uniform(-2, 2, shape)
        pick = rng.random(shape)
        return np.where(pick < 0.2, np.nan, np.where(pick < 0.3, np.inf,
                                                      np.where(pick < 0.4, -np.inf, x)))

    return gen


def with_ties(base=None):
    """Pairs of floats equal in about a third of the places (comparisons)."""
    base = base or real()

    def make(rng, shapes, attrs):
        x = base(rng, shapes[0])
        y = base(rng, shapes[1])
        bx, by = np.broadcast_arrays(x, y)
        tie = rng.random(by.shape) < 0.35
        if y.shape == by.shape:
            y = np.where(tie, bx, y)
        return [x, y]

    return make


# --- acceptance tests: keep inputs away from kinks, ties and poles ----------------


def apart(min_gap=1e-2):
    """Every pair of broadcast x, y differs by at least min_gap (maximum, minimum)."""
    return lambda args, attrs: bool(np.all(np.abs(np.subtract(args[0], args[1])) >= min_gap))


def distinct(min_gap=1e-3):
    """The values of the first argument are pairwise apart (reduce_max: no ties)."""

    def accept(args, attrs):
        v = np.sort(np.ravel(args[0]))
        return v.size < 2 or float(np.min(np.diff(v))) >= min_gap

    return accept


# --- shape groups -------------------------------------------------------------------

UNARY_SHAPES = (((),), ((4,),), ((2, 3),))
BINARY_SHAPES = (((), ()), ((3,), ()), ((), (3,)), ((2, 3), (2, 3)), ((3, 1), (4,)),
                 ((2, 1, 3), (4, 1)))
REDUCE_SHAPES = (((),), ((4,),), ((3, 4),), ((2, 3, 4),))
REDUCE_ATTRS = tuple({"axis": a, "keepdims": k}
                     for a in (None, 0, -1, (0, 1), (-1, 0)) for k in (False, True))


def valid_axis(shapes, attrs):
    """attrs['axis'] names distinct axes of the first argument."""
    axis, nd = attrs.get("axis"), len(shapes[0])
    if axis is None:
        return True
    axes = [axis] if isinstance(axis, int) else list(axis)
    if not all(-nd <= a < nd for a in axes):
        return False
    return len({a % nd for a in axes}) == len(axes)


def valid_axis_named(key):
    """valid_axis for an attribute called `key` (clip_by_norm's `axes`)."""
    return lambda shapes, attrs: valid_axis(shapes, {"axis": attrs.get(key)})


# --- the spec ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OpSpec:
    """How to test one op of the table.

    Attributes:
        name: the op's name in the table (`registered_ops()`), or the public
            name of a composite function.
        fn: fn(*tensors, **attrs) -> Tensor or nested Tensors; calls the op.
        ref: ref(*arrays, **attrs): NumPy's answer, for the forward check.
        domains: one generator gen(rng, shape) per argument.
        shapes: shape groups, one shape per argument.
        attrs: the attribute grid: keyword arguments of fn and ref.
        valid: valid(shapes, attrs) filters the shapes x attrs grid.
        cases: extra (shapes, attrs) pairs, outside the grid.
        make: make(rng, shapes, attrs) -> arguments, instead of `domains`.
        accept: accept(args, attrs): inputs are redrawn until it holds (kinks, ties).
        order: highest derivative order checked (2 through nested tapes).
        differentiable: False: check forward values and that gradients are None.
        jacobian: also compare the full Jacobian (tiny shapes: shape/index ops).
        eps, rtol, atol: finite-difference step and tolerances (see check_grads).
        covers: private ops tested through this one (e.g. getitem's VJP `_index_add`).
        composite: a public function built from ops, not a table entry.
        variant: tells apart several specs of one op (ids).
        notes: why the domain, order or tolerance is what it is.
    """

    name: str
    fn: Callable
    ref: Callable | None = None
    domains: tuple = ()
    shapes: tuple = UNARY_SHAPES
    attrs: tuple = ({},)
    valid: Callable | None = None
    cases: tuple = ()
    make: Callable | None = None
    accept: Callable | None = None
    order: int = 2
    differentiable: bool = True
    jacobian: bool = False
    eps: float = 1e-6
    rtol: float = 1e-5
    atol: float = 1e-7
    covers: tuple = ()
    composite: bool = False
    variant: str = ""
    notes: str = ""

    @property
    def label(self):
        return f"{self.name}[{self.variant}]" if self.variant else self.name

    def samples(self):
        """The (shapes, attrs) pairs to test: the filtered grid, then `cases`."""
        out = [(s, a) for s, a in itertools.product(self.shapes, self.attrs)
               if self.valid is None or self.valid(s, a)]
        return out + list(self.cases)

    def make_args(self, shapes, attrs, seed):
        """Arguments (ndarrays) drawn for `shapes`, redrawn until `accept` holds."""
        rng = np.random.default_rng(seed)
        for _ in range(200):
            if self.make is not None:
                args = self.make(rng, shapes, attrs)
            else:
                # variadic ops: `domains` may be longer than a case's shapes
                args = [gen(rng, s) for gen, s in zip(self.domains, shapes, strict=False)]
            args = [np.asarray(a) for a in args]
            if self.accept is None or self.accept(args, attrs):
                return args
        raise RuntimeError(f"OpSpec {self.label}: no acceptable inputs for {shapes} {attrs}")


# --- spec builders ---------------------------------------------------------------------


def _unary(name, fn, ref, domain=None, **kw):
    return OpSpec(name, fn, ref, domains=(domain or real(),), **kw)


def _binary(name, fn, ref, domains=None, **kw):
    kw.setdefault("shapes", BINARY_SHAPES)
    return OpSpec(name, fn, ref, domains=domains or (real(), real()), **kw)


def _nondiff(name, fn, ref, domains, shapes, **kw):
    return OpSpec(name, fn, ref, domains=domains, shapes=shapes, differentiable=False, order=1,
                  **kw)


def _mean_np(x, axis, keepdims):
    m = np.mean(x, axis=axis, keepdims=keepdims)
    return m if x.dtype.kind in "fc" else np.trunc(m).astype(x.dtype)  # integers: as TF


def _reduce(name, fn, np_fn, domain=None, shapes=REDUCE_SHAPES, **kw):
    return OpSpec(
        name, lambda x, axis, keepdims: fn(x, axis=axis, keepdims=keepdims),
        lambda x, axis, keepdims: np_fn(x, axis=axis, keepdims=keepdims),
        domains=(domain or real(),), shapes=shapes, attrs=REDUCE_ATTRS, valid=valid_axis, **kw)


_erf_np = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid_np(x):
    return 1 / (1 + np.exp(-x))


def _gelu_np(x, approximate):
    if approximate:
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + _erf_np(x / math.sqrt(2)))


def _logsumexp_np(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)  # an infinite max: exp(x - 0) gives inf or 0
    with np.errstate(over="ignore", divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _softmax_np(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _sparse_xent_np(labels, logits):
    logp = logits - _logsumexp_np(logits, axis=-1, keepdims=True)
    return -np.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# --- elementwise, one input --------------------------------------------------------------
_UNARY = [
    _unary("abs", ft.abs, np.abs, nonzero(), notes="kink at 0: inputs keep |x| >= 0.2"),
    _unary("acos", ft.acos, np.arccos, real(-0.9, 0.9), notes="|x| < 1"),
    _unary("asin", ft.asin, np.arcsin, real(-0.9, 0.9), notes="|x| < 1"),
    _unary("atan", ft.atan, np.arctan),
    _unary("conj", ft.conj, np.conj, notes="real inputs: the identity"),
    _unary("cos", ft.cos, np.cos),
    _unary("cosh", ft.cosh, np.cosh),
    _unary("elu", ft.nn.elu, lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
           nonzero(0.1), notes="second derivative jumps at 0"),
    _unary("erf", ft.erf, _erf_np),
    _unary("exp", ft.exp, np.exp),
    _unary("expm1", ft.expm1, np.expm1),
    _unary("identity", ft.identity, lambda x: x),
    _unary("log", ft.log, np.log, positive()),
    _unary("log1p", ft.math.log1p, np.log1p, real(-0.5, 2.0), notes="x > -1"),
    _unary("negative", ft.negative, np.negative),
    _unary("reciprocal", ft.reciprocal, np.reciprocal, nonzero(0.3), notes="pole at 0"),
    _unary("relu", ft.nn.relu, lambda x: np.maximum(x, 0), nonzero(0.1),
           covers=("_masked", "_relu_grad"),
           notes="kink at 0; the VJP on tensors (order 2, graphs) is the private op "
                 "_relu_grad; _masked is the same VJP of relu6, maximum, clip and where"),
    _unary("relu6", ft.nn.relu6, lambda x: np.clip(x, 0, 6),
           lambda rng, s: rng.choice([-1.0, 1.0, 2.0, 4.0, 7.0], s) + rng.uniform(-0.8, 0.8, s),
           notes="kinks at 0 and 6: inputs stay 0.2 away from both"),
    _unary("rsqrt", ft.rsqrt, lambda x: 1 / np.sqrt(x), positive()),
    _unary("selu", ft.nn.selu,
           lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0))),
           nonzero(0.1), notes="kink at 0"),
    _unary("sigmoid", ft.sigmoid, _sigmoid_np, real(-6, 6)),
    _unary("sign", ft.sign, np.sign, nonzero(), notes="gradient zero away from 0, as TF"),
    _unary("sin", ft.sin, np.sin),
    _unary("sinh", ft.sinh, np.sinh),
    _unary("softplus", ft.nn.softplus, lambda x: np.log1p(np.exp(x)), real(-6, 6)),
    _unary("sqrt", ft.sqrt, np.sqrt, positive()),
    _unary("square", ft.square, np.square),
    _unary("tan", ft.tan, np.tan, real(-1.2, 1.2), notes="poles at +-pi/2"),
    _unary("tanh", ft.tanh, np.tanh),
    OpSpec("gelu", lambda x, approximate: ft.nn.gelu(x, approximate=approximate), _gelu_np,
           domains=(real(-3, 3),), attrs=({"approximate": False}, {"approximate": True})),
    OpSpec("leaky_relu", lambda x, alpha: ft.nn.leaky_relu(x, alpha=alpha),
           lambda x, alpha: np.where(x > 0, x, alpha * x), domains=(nonzero(0.1),),
           attrs=({"alpha": 0.2}, {"alpha": 0.01}), notes="kink at 0"),
    OpSpec("cast", lambda x, dtype: ft.cast(x, dtype), lambda x, dtype: x.astype(dtype),
           domains=(real(),), attrs=({"dtype": np.longdouble},),
           notes="float64 -> longdouble is exact; the sweep casts the gradient back"),
    OpSpec("cast", lambda x, dtype: ft.cast(x, dtype), lambda x, dtype: x.astype(dtype),
           domains=(real(),), attrs=({"dtype": np.float32},), eps=1e-2, rtol=1e-4, atol=1e-5,
           variant="float32", notes="float32 rounding: a large step, loose tolerance"),
    OpSpec("cast", lambda x, dtype: ft.cast(x, dtype), lambda x, dtype: x.astype(dtype),
           domains=(integers(),), attrs=({"dtype": np.float64},), order=1, variant="int",
           notes="from an integer tensor: gradient None"),
]

# --- elementwise, two inputs, broadcasting ----------------------------------------------
_BINARY = [
    _binary("add", ft.add, np.add),
    _binary("atan2", ft.atan2, np.arctan2,
            accept=lambda a, _: bool(np.all(np.hypot(a[0], a[1]) > 0.3)),
            notes="singular at the origin"),
    _binary("divide", ft.divide, np.divide, (real(), nonzero(0.3))),
    _binary("maximum", ft.maximum, np.maximum, accept=apart(), notes="ties: see test_op_grads"),
    _binary("minimum", ft.minimum, np.minimum, accept=apart()),
    _binary("mod", ft.mod, np.mod, (real(-3, 3), nonzero(0.5)),
            accept=lambda a, _: bool(np.all(np.abs(np.mod(a[0] / a[1] + 0.5, 1) - 0.5) > 0.05)),
            notes="jumps where x/y is an integer"),
    _binary("multiply", ft.multiply, np.multiply),
    _binary("pow", ft.pow, np.power, (positive(0.5), real()), notes="x > 0 for real exponents"),
    _binary("subtract", ft.subtract, np.subtract),
    # Tensor operators with Python scalars (weakly typed: the scalar takes the tensor's dtype)
    OpSpec("add", lambda x: x + 1.5, lambda x: x + 1.5, domains=(real(),), variant="x+1.5"),
    OpSpec("subtract", lambda x: 1.5 - x, lambda x: 1.5 - x, domains=(real(),), variant="1.5-x"),
    OpSpec("multiply", lambda x: 3 * x, lambda x: 3 * x, domains=(real(),), variant="3*x"),
    OpSpec("divide", lambda x: 1 / x, lambda x: 1 / x, domains=(nonzero(0.3),), variant="1/x"),
    OpSpec("divide", lambda x: x / 4.0, lambda x: x / 4.0, domains=(real(),), variant="x/4."),
    OpSpec("maximum", lambda x: ft.maximum(x, 0.0), lambda x: np.maximum(x, 0.0),
           domains=(nonzero(0.1),), variant="max(x,0.)"),
    OpSpec("pow", lambda x: x**2, lambda x: x**2, domains=(real(),), variant="x**2",
           notes="integer exponent: negative bases allowed"),
    OpSpec("pow", lambda x: x**3, lambda x: x**3, domains=(real(),), variant="x**3"),
    OpSpec("pow", lambda x: x**0.5, lambda x: x**0.5, domains=(positive(),), variant="x**0.5"),
    OpSpec("pow", lambda x: 2.0**x, lambda x: 2.0**x, domains=(real(),), variant="2.**x"),
]

# --- ternary -------------------------------------------------------------------------


def _clip_make(rng, shapes, attrs):
    return [rng.uniform(-2, 2, shapes[0]), rng.uniform(-1.0, -0.3, shapes[1]),
            rng.uniform(0.3, 1.0, shapes[2])]


def _clip_accept(args, attrs):
    t, lo, hi = args
    return bool(np.all(np.abs(t - lo) > 0.05) and np.all(np.abs(t - hi) > 0.05))


_TERNARY = [
    OpSpec("clip_by_value", ft.clip_by_value, np.clip, make=_clip_make, accept=_clip_accept,
           shapes=(((3, 4), (), ()), ((3, 4), (4,), (3, 1)), ((), (), ()), ((4,), (2, 1), ())),
           notes="kinks at the bounds: inputs stay 0.05 away"),
    OpSpec("where", ft.where, np.where, domains=(booleans(), real(), real()),
           shapes=(((3, 4), (3, 4), (3, 4)), ((3, 1), (4,), ()), ((), (3,), (3,)),
                   ((2, 3), (2, 1), (3,)))),
]

# --- reductions ----------------------------------------------------------------------------
_REDUCE = [
    _reduce("reduce_logsumexp", ft.reduce_logsumexp, _logsumexp_np),
    _reduce("reduce_max", ft.reduce_max, np.max, accept=distinct(),
            notes="ties share the gradient (see test_op_grads); here inputs are distinct"),
    _reduce("reduce_mean", ft.reduce_mean, _mean_np),
    _reduce("reduce_min", ft.reduce_min, np.min, accept=distinct()),
    _reduce("reduce_prod", ft.reduce_prod, np.prod, nonzero(0.5, 1.5)),
    _reduce("reduce_prod", ft.reduce_prod, np.prod, with_zeros(1), variant="one zero",
            notes="the product of the others, not out / x"),
    _reduce("reduce_prod", ft.reduce_prod, np.prod, with_zeros(2), variant="two zeros", order=1,
            notes="second derivatives between two zeros are 0 (as PyTorch), not exact"),
    _reduce("reduce_std", ft.reduce_std, np.std, shapes=REDUCE_SHAPES[1:],
            notes="not differentiable where the std is 0 (a scalar, one element)"),
    _reduce("reduce_sum", ft.reduce_sum, np.sum),
    _reduce("reduce_variance", ft.reduce_variance, np.var),
    OpSpec("norm", lambda x, ord, axis: ft.norm(x, ord=ord, axis=axis),
           lambda x, ord, axis: _norm_np(x, ord, axis), domains=(nonzero(),),
           shapes=(((4,),), ((3, 4),)),
           attrs=tuple({"ord": o, "axis": a} for o in ("euclidean", 1, np.inf) for a in (None, -1)),
           accept=lambda a, _: distinct()([np.abs(a[0])], _), composite=True,
           notes="built from sqrt, reduce_sum, abs, reduce_max"),
]


def _norm_np(x, ord, axis):
    if ord == "euclidean":
        return np.sqrt(np.sum(x * x, axis=axis))
    if ord == 1:
        return np.sum(np.abs(x), axis=axis)
    return np.max(np.abs(x), axis=axis)


# --- shape and indexing ops (full Jacobians too) -------------------------------------------


def _reshape_dynamic(x, lead):
    from fasttape.ops.array_ops import _reshape_dynamic_op

    shape = ft.stack([ft.shape(x)[0]] + list(lead))
    return _reshape_dynamic_op.apply((x, shape), ((None,) + tuple(lead),))


def _shape_spec(name, fn, ref, cases, domains=None, **kw):
    return OpSpec(name, fn, ref, domains=domains or (real(),) * len(cases[0][0]), shapes=(),
                  cases=tuple(cases), jacobian=True, **kw)


def _gather_make(rng, shapes, attrs):
    params = rng.uniform(-2, 2, shapes[0])
    n = shapes[0][attrs["axis"]]
    return [params, rng.integers(0, n, shapes[1]).astype(np.int64)]


_GETITEM_KEYS = [
    ((3, 4), 1), ((3, 4), -1), ((3, 4), slice(1, None)), ((3, 4), (slice(None), 2)),
    ((3, 4), (Ellipsis, None, slice(None, None, -2))), ((3, 4), [0, 2, 0]),
    ((3, 4), (np.array([1, 0, 1]), slice(1, 3))), ((3, 4), (np.array([0, 2]), np.array([3, 3]))),
    ((3, 4), np.array([True, False, True])), ((4,), 2), ((), ()), ((2, 3, 4), (1, Ellipsis, 0)),
]

_SHAPE = [
    _shape_spec("getitem", lambda x, key: x[key], lambda x, key: x[key],
                [((s,), {"key": k}) for s, k in _GETITEM_KEYS], covers=("_index_add",),
                notes="basic and advanced keys, repeated indices; the VJP is the private op "
                      "_index_add, whose own VJP runs in the nested (order 2) checks"),
    _shape_spec("reshape", lambda x, shape: ft.reshape(x, shape),
                lambda x, shape: np.reshape(x, shape),
                [(((2, 3),), {"shape": (3, 2)}), (((2, 3),), {"shape": (-1,)}),
                 (((),), {"shape": (1, 1)}), (((2, 3, 4),), {"shape": (4, -1)}),
                 (((6,),), {"shape": [2, 1, 3]})]),
    _shape_spec("_reshape_dynamic", _reshape_dynamic,
                lambda x, lead: np.reshape(x, [x.shape[0]] + lead),
                [(((2, 3),), {"lead": [3, 1]}), (((2, 3, 4),), {"lead": [-1]}),
                 (((3, 2, 2),), {"lead": [2, -1]})],
                notes="reshape to a shape tensor, [shape(x)[0], *lead] (what reshape makes of "
                      "TensorFlow's [tf.shape(x)[0], -1] in graphs; Note [Dynamic reshape])"),
    _shape_spec("reshape", lambda x, lead: ft.reshape(x, [ft.shape(x)[0]] + lead),
                lambda x, lead: np.reshape(x, [x.shape[0]] + lead),
                [(((2, 3),), {"lead": [3, 1]}), (((2, 3, 4),), {"lead": [-1]})],
                variant="graph tensor entries", covers=("_reshape_dynamic",),
                notes="eagerly a plain reshape; in graphs with unknown dims _reshape_dynamic"),
    _shape_spec("transpose", lambda x, perm: ft.transpose(x, perm),
                lambda x, perm: np.transpose(x, perm),
                [(((2, 3),), {"perm": None}), (((2, 3, 4),), {"perm": (1, 0, 2)}),
                 (((2, 3, 4),), {"perm": (2, 0, 1)}), (((2, 3, 4),), {"perm": (-1, 0, 1)}),
                 (((),), {"perm": None}), (((4,),), {"perm": None})]),
    _shape_spec("expand_dims", lambda x, axis: ft.expand_dims(x, axis),
                lambda x, axis: np.expand_dims(x, axis),
                [(((3,),), {"axis": 0}), (((3,),), {"axis": -1}), (((2, 3),), {"axis": 1}),
                 (((),), {"axis": 0}), (((2, 3),), {"axis": -3})]),
    _shape_spec("squeeze", lambda x, axis: ft.squeeze(x, axis),
                lambda x, axis: np.squeeze(x, axis),
                [(((1, 3, 1),), {"axis": None}), (((1, 3, 1),), {"axis": 0}),
                 (((1, 3, 1),), {"axis": -1}), (((1, 3, 1),), {"axis": (0, 2)}),
                 (((1,),), {"axis": None}), (((3,),), {"axis": None})]),
    _shape_spec("broadcast_to", lambda x, shape: ft.broadcast_to(x, shape),
                lambda x, shape: np.broadcast_to(x, shape),
                [(((3, 1),), {"shape": (2, 3, 4)}), (((),), {"shape": (2, 3)}),
                 (((4,),), {"shape": (3, 4)}), (((2, 3),), {"shape": (2, 3)})]),
    _shape_spec("concat", lambda *xs, axis: ft.concat(list(xs), axis),
                lambda *xs, axis: np.concatenate(xs, axis),
                [(((2, 3), (2, 1), (2, 2)), {"axis": 1}), (((2, 3), (2, 1), (2, 2)), {"axis": -1}),
                 (((2, 3), (1, 3)), {"axis": 0}), (((3,), (2,)), {"axis": 0}),
                 (((2, 3),), {"axis": 0})], domains=(real(),) * 3),
    _shape_spec("stack", lambda *xs, axis: ft.stack(list(xs), axis),
                lambda *xs, axis: np.stack(xs, axis),
                [(((2, 3),) * 3, {"axis": 0}), (((2, 3),) * 3, {"axis": 1}),
                 (((2, 3),) * 3, {"axis": -1}), (((), ()), {"axis": 0}), (((3,),), {"axis": 0})],
                domains=(real(),) * 3),
    OpSpec("gather", lambda p, i, axis: ft.gather(p, i, axis=axis),
           lambda p, i, axis: np.take(p, i, axis=axis), make=_gather_make, jacobian=True,
           shapes=(), cases=((((4, 3), (5,)), {"axis": 0}), (((4, 3), (2, 2)), {"axis": 1}),
                             (((5,), ()), {"axis": 0}), (((2, 3, 4), (3,)), {"axis": -1})),
           notes="indices (int64) repeat: gradients accumulate; their gradient is None"),
    OpSpec("unstack", lambda x, axis: ft.unstack(x, axis=axis),
           lambda x, axis: list(np.moveaxis(x, axis, 0)), domains=(real(),), shapes=(),
           cases=((((3, 4),), {"axis": 0}), (((3, 4),), {"axis": 1}), (((2, 3, 2),), {"axis": -1})),
           jacobian=True, composite=True, notes="built from getitem"),
]

# --- linear algebra and nn --------------------------------------------------------------


def _mT(x):
    return np.swapaxes(x, -1, -2)


_LINALG_NN = [
    OpSpec("matmul", lambda a, b, ta, tb: ft.matmul(a, b, transpose_a=ta, transpose_b=tb),
           lambda a, b, ta, tb: np.matmul(_mT(a) if ta else a, _mT(b) if tb else b),
           domains=(real(), real()), attrs=({"ta": False, "tb": False},),
           shapes=(((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
                   ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (3, 4, 2)), ((3,), (2, 3, 2))),
           cases=((((4, 3), (4, 2)), {"ta": True, "tb": False}),
                  (((3, 4), (2, 4)), {"ta": False, "tb": True}),
                  (((2, 4, 3), (2, 2, 4)), {"ta": True, "tb": True}))),
    OpSpec("matmul", lambda a, b: a @ b, lambda a, b: a @ b, domains=(real(), real()),
           shapes=(((2, 3), (3, 2)),), variant="@"),
    OpSpec("softmax", lambda x, axis: ft.nn.softmax(x, axis=axis),
           lambda x, axis: _softmax_np(x, axis), domains=(real(-3, 3),),
           shapes=(((4,),), ((3, 4),), ((2, 3, 4),)), attrs=({"axis": -1}, {"axis": 0})),
    OpSpec("log_softmax", lambda x, axis: ft.nn.log_softmax(x, axis=axis),
           lambda x, axis: np.log(_softmax_np(x, axis)), domains=(real(-3, 3),),
           shapes=(((4,),), ((3, 4),), ((2, 3, 4),)), attrs=({"axis": -1}, {"axis": 0})),
    OpSpec("sparse_softmax_cross_entropy_with_logits",
           lambda labels, logits: ft.nn.sparse_softmax_cross_entropy_with_logits(labels, logits),
           _sparse_xent_np,
           make=lambda rng, shapes, attrs: [rng.integers(0, shapes[1][-1], shapes[0]),
                                            rng.uniform(-3, 3, shapes[1])],
           shapes=(((3,), (3, 5)), ((), (4,)), ((2, 3), (2, 3, 4))),
           notes="labels (int64) get None; the second output (d loss/d logits) carries the "
                 "second-order gradient"),
]

# --- not differentiable: forward values and None gradients -----------------------------------
_PAIRS = (((), ()), ((4,), (4,)), ((3, 1), (4,)))
_NONDIFF = [
    _nondiff("ceil", ft.ceil, np.ceil, (off_grid(),), UNARY_SHAPES),
    _nondiff("floor", ft.floor, np.floor, (off_grid(),), UNARY_SHAPES),
    _nondiff("round", ft.round, np.round, (off_grid(0.5),), UNARY_SHAPES,
             notes="half to even, as TF and NumPy"),
    _nondiff("round", ft.round, np.round, (lambda rng, s: np.full(s, 2.5),), UNARY_SHAPES,
             variant="halves"),
    _nondiff("floordiv", ft.floordiv, np.floor_divide, (real(-3, 3), nonzero(0.5)),
             BINARY_SHAPES),
    _nondiff("floordiv", lambda x, y: x // y, np.floor_divide, (integers(), integers(1, 4)),
             _PAIRS, variant="int"),
    _nondiff("stop_gradient", ft.stop_gradient, lambda x: x, (real(),), UNARY_SHAPES),
    _nondiff("isnan", ft.isnan, np.isnan, (with_specials(),), UNARY_SHAPES),
    _nondiff("isfinite", ft.isfinite, np.isfinite, (with_specials(),), UNARY_SHAPES),
    _nondiff("invert", ft.math.invert, np.invert, (integers(),), UNARY_SHAPES),
    _nondiff("invert", lambda x: ~x, np.invert, (booleans(),), UNARY_SHAPES, variant="~bool"),
    _nondiff("logical_not", ft.logical_not, np.logical_not, (booleans(),), UNARY_SHAPES),
    OpSpec("reduce_all", lambda x, axis, keepdims: ft.reduce_all(x, axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: np.all(x, axis=axis, keepdims=keepdims),
           domains=(lambda rng, s: rng.random(s) < 0.8,), shapes=REDUCE_SHAPES,
           attrs=REDUCE_ATTRS, valid=valid_axis, differentiable=False, order=1),
    OpSpec("reduce_any", lambda x, axis, keepdims: ft.reduce_any(x, axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: np.any(x, axis=axis, keepdims=keepdims),
           domains=(lambda rng, s: rng.random(s) < 0.2,), shapes=REDUCE_SHAPES,
           attrs=REDUCE_ATTRS, valid=valid_axis, differentiable=False, order=1),
]
for _name, _np_fn in [("equal", np.equal), ("not_equal", np.not_equal), ("less", np.less),
                      ("less_equal", np.less_equal), ("greater", np.greater),
                      ("greater_equal", np.greater_equal)]:
    _NONDIFF.append(OpSpec(_name, getattr(ft, _name), _np_fn, make=with_ties(),
                           shapes=BINARY_SHAPES, differentiable=False, order=1))
for _name, _np_fn in [("bitwise_and", np.bitwise_and), ("bitwise_or", np.bitwise_or),
                      ("bitwise_xor", np.bitwise_xor)]:
    _NONDIFF.append(_nondiff(_name, getattr(ft.ops.math_ops, _name), _np_fn,
                             (integers(), integers()), _PAIRS))
for _name, _np_fn in [("logical_and", np.logical_and), ("logical_or", np.logical_or),
                      ("logical_xor", np.logical_xor)]:
    _NONDIFF.append(_nondiff(_name, getattr(ft, _name), _np_fn, (booleans(), booleans()),
                             _PAIRS))


def _arg_reduce(name, ft_fn, np_fn):
    return OpSpec(
        name, lambda x, axis, output_type: ft_fn(x, axis, output_type),
        lambda x, axis, output_type: np_fn(x, axis=0 if axis is None else axis).astype(output_type),
        domains=(real(),), shapes=(((4,),), ((3, 4),), ((2, 3, 4),)),
        attrs=tuple({"axis": a, "output_type": t} for a in (None, 0, -1, 1)
                    for t in (np.int64, np.int32)),
        valid=lambda s, a: a["axis"] is None or -len(s[0]) <= a["axis"] < len(s[0]),
        accept=distinct(), differentiable=False, order=1, notes="axis None means 0, as TF")


_NONDIFF += [_arg_reduce("argmax", ft.argmax, np.argmax),
             _arg_reduce("argmin", ft.argmin, np.argmin)]

#: every spec, in the op table's order of families
# Specs of the shape and linear-algebra ops of the complete library (SPEC section 2).


def _split_np(x, spec, axis):
    n = x.shape[axis]
    if isinstance(spec, int):
        return np.split(x, spec, axis=axis)
    sizes = [n - sum(s for s in spec if s != -1) if s == -1 else s for s in spec]
    return np.split(x, np.cumsum(sizes)[:-1], axis=axis)


def _pad_np(x, paddings, mode, cv):
    if x.ndim == 0:
        return x
    if mode == "CONSTANT":
        return np.pad(x, paddings, constant_values=cv)
    return np.pad(x, paddings, mode=mode.lower())


def _index_make(rng, shapes, attrs):
    """params, then int64 indices whose last axis indexes params' axes after batch_dims."""
    params = rng.uniform(-2, 2, shapes[0])
    b = attrs.get("batch_dims", 0)
    k = shapes[1][-1]
    cols = [rng.integers(0, shapes[0][b + j], shapes[1][:-1]) for j in range(k)]
    idx = np.stack(cols, axis=-1) if k else np.zeros(shapes[1], np.int64)
    return [params, idx.astype(np.int64)]


def _gather_batch_make(rng, shapes, attrs):
    params = rng.uniform(-2, 2, shapes[0])
    return [params, rng.integers(0, shapes[0][attrs["axis"]], shapes[1]).astype(np.int64)]


def _gather_batch_np(p, i, axis, batch_dims):
    b = batch_dims % i.ndim if batch_dims < 0 else batch_dims
    if b == 0:
        return np.take(p, i, axis=axis)
    return np.stack([_gather_batch_np(p[n], i[n], axis - 1, b - 1) for n in range(p.shape[0])])


def _gather_nd_np(p, idx, batch_dims):
    if batch_dims:
        return np.stack([_gather_nd_np(p[n], idx[n], batch_dims - 1) for n in range(p.shape[0])])
    if idx.shape[-1] == 0:
        return np.broadcast_to(p, idx.shape[:-1] + p.shape)
    flat = idx.reshape(-1, idx.shape[-1])
    out = np.stack([p[tuple(row)] for row in flat]) if len(flat) else np.empty((0,) + p.shape)
    return out.reshape(idx.shape[:-1] + p.shape[idx.shape[-1]:])


def _scatter_make(rng, shapes, attrs):
    idx_shape, upd_shape = shapes
    k = idx_shape[-1]
    cols = [rng.integers(0, attrs["shape"][j], idx_shape[:-1]) for j in range(k)]
    return [np.stack(cols, axis=-1).astype(np.int64), rng.uniform(-2, 2, upd_shape)]


def _scatter_nd_np(idx, upd, shape):
    out = np.zeros(shape)
    np.add.at(out, tuple(np.moveaxis(idx, -1, 0)), upd)
    return out


def _one_hot_np(i, depth, axis, on_value=1.0, off_value=0.0):
    out = np.where(i[..., None] == np.arange(depth), on_value, off_value).astype(np.float32)
    return np.moveaxis(out, -1, axis)


def _matrix(n, batch=(), sign=False):
    """Well-conditioned matrices: uniform(-1, 1) plus n * I (rows of random sign when asked)."""
    def gen(rng, shape):
        a = rng.uniform(-1, 1, shape) + n * np.eye(shape[-1])
        if sign:
            a = a * rng.choice([-1.0, 1.0], shape[:-1] + (1,))
        return a
    return gen


def _sym(a):
    return 0.5 * (a + ft.linalg.matrix_transpose(a))


def _spd_np(a):
    return 0.5 * (a + _mT(a))


def _square_make(rng, shapes, attrs):
    return [_matrix(shapes[0][-1], sign=True)(rng, shapes[0])] + [
        rng.uniform(-2, 2, s) for s in shapes[1:]]


_EINSUM_CASES = [
    ("ij,jk->ik", ((2, 3), (3, 4))), ("ij,jk", ((2, 3), (3, 2))),
    ("bij,bjk->bik", ((2, 2, 3), (2, 3, 2))), ("...ij,...jk->...ik", ((2, 1, 2, 3), (3, 3, 2))),
    ("i,i->", ((3,), (3,))), ("i,j->ij", ((3,), (2,))), ("ii->i", ((3, 3),)), ("ii", ((3, 3),)),
    ("ij->", ((2, 3),)), ("ij->i", ((2, 3),)), ("ij->ji", ((2, 3),)), ("ii,i->i", ((3, 3), (3,))),
    ("iij->j", ((2, 2, 3),)), ("i...i->...", ((3, 2, 3),)),
    ("ij,jk,kl->il", ((2, 3), (3, 2), (2, 2))),
    ("Ba,b", ((2, 3), (4,))), ("i,i->i", ((1,), (3,))), ("bi,bi->b", ((3, 4), (3, 4))),
    (",->", ((), ())), ("...,...->...", ((2, 3), (3,))), ("ij,ij,ij->", ((2, 2), (2, 1), (1, 2))),
    ("ij,k->", ((2, 2), (3,))),
]

_NORM_MATRIX_ATTRS = tuple({"ord": o, "axis": a, "keepdims": k}
                           for o in ("fro", 1, np.inf) for a in ((0, 1), (-1, -2))
                           for k in (False, True))


def _norm_matrix_np(x, ord, axis, keepdims):
    return np.linalg.norm(x, ord, axis=axis, keepdims=keepdims)


def _col_row_sums_distinct(args, attrs):
    a = np.abs(args[0])
    ax = [d % a.ndim for d in attrs["axis"]]
    return all(distinct(1e-2)([np.sum(a, axis=d)], attrs) for d in ax)


_SHAPE_LINALG_MORE = [
    # --- shape ops: full Jacobians too
    OpSpec("split", lambda x, spec, axis: ft.split(x, spec, axis), _split_np, domains=(real(),),
           shapes=(), jacobian=True, composite=True,
           cases=((((6, 2),), {"spec": 3, "axis": 0}), (((2, 6),), {"spec": [1, -1, 2], "axis": 1}),
                  (((4,),), {"spec": [4], "axis": 0}),
                  (((2, 5, 1),), {"spec": [2, 0, 3], "axis": -2})),
           notes="built from getitem (one piece per output)"),
    _shape_spec("tile", lambda x, multiples: ft.tile(x, multiples),
                lambda x, multiples: np.tile(x, multiples),
                [(((2, 3),), {"multiples": [2, 1]}), (((3,),), {"multiples": [3]}),
                 (((),), {"multiples": []}), (((2, 1, 2),), {"multiples": (1, 3, 2)}),
                 (((2,),), {"multiples": [0]})]),
    _shape_spec("pad", lambda x, paddings, mode, cv: ft.pad(x, paddings, mode, cv), _pad_np,
                [(((2, 3),), {"paddings": [[1, 0], [2, 1]], "mode": "CONSTANT", "cv": 0.0}),
                 (((3,),), {"paddings": [[0, 2]], "mode": "CONSTANT", "cv": 1.5}),
                 (((3, 4),), {"paddings": [[2, 1], [0, 3]], "mode": "REFLECT", "cv": 0}),
                 (((3, 2),), {"paddings": [[3, 1], [2, 2]], "mode": "SYMMETRIC", "cv": 0}),
                 (((),), {"paddings": np.zeros((0, 2), int), "mode": "REFLECT", "cv": 0})],
                covers=("_index_add",),
                notes="REFLECT/SYMMETRIC add g back onto the mirrored elements (_index_add)"),
    _shape_spec("slice", lambda x, begin, size: ft.slice(x, begin, size),
                lambda x, begin, size: x[tuple(slice(b, None if s == -1 else b + s)
                                               for b, s in zip(begin, size, strict=True))],
                [(((3, 4),), {"begin": [1, 0], "size": [2, -1]}),
                 (((5,),), {"begin": [2], "size": [3]}), (((),), {"begin": [], "size": []}),
                 (((2, 3, 4),), {"begin": [0, 1, 1], "size": [1, 2, 0]})],
                notes="its VJP is pad, whose VJP is slicing"),
    OpSpec("gather", lambda p, i, axis, batch_dims: ft.gather(p, i, axis, batch_dims),
           _gather_batch_np, make=_gather_batch_make, jacobian=True, shapes=(),
           variant="batch_dims",
           cases=((((2, 3, 4), (2, 5)), {"axis": 1, "batch_dims": 1}),
                  (((2, 3, 4), (2, 2)), {"axis": 2, "batch_dims": 1}),
                  (((2, 3, 4), (2, 3, 2)), {"axis": 2, "batch_dims": -1}),
                  (((2, 3), (2,)), {"axis": 1, "batch_dims": 1}),
                  (((2, 3, 2), (2, 2, 2)), {"axis": 2, "batch_dims": 1})),
           notes="one advanced index: aranges over the batch (and other leading) axes"),
    OpSpec("gather_nd", lambda p, i, batch_dims: ft.gather_nd(p, i, batch_dims), _gather_nd_np,
           make=_index_make, jacobian=True, shapes=(),
           cases=((((3, 4), (5, 2)), {"batch_dims": 0}), (((3, 4), (2, 1)), {"batch_dims": 0}),
                  (((3, 2), (2, 2, 1)), {"batch_dims": 0}), (((3, 2), (2, 0)), {"batch_dims": 0}),
                  (((2, 3, 4), (2, 4, 1)), {"batch_dims": 1}),
                  (((2, 3, 2), (2, 2)), {"batch_dims": 1})),
           notes="indices repeat: gradients accumulate (through _index_add)"),
    OpSpec("scatter_nd", lambda i, u, shape: ft.scatter_nd(i, u, shape), _scatter_nd_np,
           make=_scatter_make, jacobian=True, shapes=(),
           cases=((((6, 1), (6, 3)), {"shape": (4, 3)}), (((5, 2), (5,)), {"shape": (3, 2)}),
                  (((2, 2, 2), (2, 2, 2)), {"shape": (2, 3, 2)})),
           notes="repeated indices add up; the VJP for updates is gather_nd"),
    OpSpec("boolean_mask", lambda x, m, axis: ft.boolean_mask(x, m, axis),
           lambda x, m, axis: x[(slice(None),) * ((axis or 0) % x.ndim) + (m,)],
           domains=(real(), booleans()), jacobian=True, shapes=(),
           cases=((((4, 3), (4,)), {"axis": None}), (((2, 3, 4), (3, 4)), {"axis": 1}),
                  (((2, 3), (2, 3)), {"axis": 0}), (((3, 2), (2,)), {"axis": -1}))),
    OpSpec("one_hot", lambda i, depth, axis: ft.one_hot(i, depth, axis=axis),
           lambda i, depth, axis: _one_hot_np(i, depth, -1 if axis is None else axis),
           domains=(integers(-1, 5),), shapes=(((4,),), ((2, 3),), ((),)),
           attrs=({"depth": 4, "axis": None}, {"depth": 3, "axis": 0}, {"depth": 0, "axis": -1}),
           valid=lambda s, a: a["axis"] in (None, -1) or a["axis"] <= len(s[0]),
           differentiable=False, order=1, notes="indices out of [0, depth) give rows of zeros"),
    OpSpec("one_hot", lambda i: ft.one_hot(i, 3, on_value=2.0, off_value=-1.0, axis=1),
           lambda i: _one_hot_np(i, 3, 1, 2.0, -1.0), domains=(integers(0, 3),),
           shapes=(((2, 2),),), differentiable=False, order=1, variant="values"),
    # --- linear algebra
    OpSpec("tensordot", lambda a, b, axes: ft.tensordot(a, b, axes),
           lambda a, b, axes: np.tensordot(a, b, axes), domains=(real(), real()), shapes=(),
           cases=((((2, 3), (3, 4)), {"axes": 1}), (((2, 3, 4), (3, 4, 2)), {"axes": 2}),
                  (((2, 3, 4), (4, 3, 2)), {"axes": [[1, 2], [1, 0]]}),
                  (((2,), (3,)), {"axes": 0}), (((3, 2), (2, 3)), {"axes": ([0], [1])}),
                  (((2, 3, 2), (2, 2)), {"axes": [[2, 0], [0, 1]]}))),
    OpSpec("einsum", lambda *xs, equation: ft.einsum(equation, *xs),
           lambda *xs, equation: np.einsum(equation, *xs), domains=(real(),) * 3, shapes=(),
           cases=tuple((shapes, {"equation": eq}) for eq, shapes in _EINSUM_CASES),
           covers=("_einsum_pair",),
           notes="two operands run the private op _einsum_pair (one VJP per operand), other "
                 "counts the variadic op; both have einsum VJPs (Note [einsum gradients])"),
    OpSpec("inv", lambda a: ft.linalg.inv(a), np.linalg.inv, domains=(_matrix(3, sign=True),),
           shapes=(((3, 3),), ((2, 2, 2),), ((1, 1),))),
    OpSpec("inv", lambda a: ft.linalg.inv(a, adjoint=True), lambda a: np.linalg.inv(_mT(a)),
           domains=(_matrix(3),), shapes=(((3, 3),),), variant="adjoint"),
    OpSpec("solve", lambda a, b, adjoint: ft.linalg.solve(a, b, adjoint=adjoint),
           lambda a, b, adjoint: np.linalg.solve(_mT(a) if adjoint else a, b),
           make=_square_make, shapes=(((3, 3), (3, 2)), ((2, 3, 3), (2, 3, 1)), ((3, 3), (2, 3, 2)),
                                      ((2, 1, 2, 2), (3, 2, 2))),
           attrs=({"adjoint": False}, {"adjoint": True}),
           notes="batch axes broadcast; the sweep sums the gradients back"),
    OpSpec("det", ft.linalg.det, np.linalg.det, domains=(_matrix(3, sign=True),),
           shapes=(((3, 3),), ((2, 2, 2),), ((1, 1),)), rtol=1e-4,
           notes="values of a few hundred: relative tolerance"),
    OpSpec("slogdet", ft.linalg.slogdet, np.linalg.slogdet, domains=(_matrix(3, sign=True),),
           shapes=(((3, 3),), ((2, 2, 2),)), notes="the sign's cotangent gives no gradient"),
    OpSpec("cholesky", lambda a: ft.linalg.cholesky(_sym(a)),
           lambda a: np.linalg.cholesky(_spd_np(a)), domains=(_matrix(6),),
           shapes=(((3, 3),), ((2, 2, 2),), ((1, 1),)),
           notes="SPD inputs (symmetric part of a diagonally dominant matrix); the symmetrised "
                 "input makes finite differences see the symmetric gradient"),
    OpSpec("logdet", lambda a: ft.linalg.logdet(_sym(a)),
           lambda a: np.linalg.slogdet(_spd_np(a))[1], domains=(_matrix(6),),
           shapes=(((3, 3),), ((2, 2, 2),)), composite=True, notes="2 sum log diag(cholesky)"),
    OpSpec("matrix_transpose", ft.linalg.matrix_transpose, _mT, domains=(real(),),
           shapes=(((2, 3),), ((2, 3, 4),)), composite=True, jacobian=True),
    OpSpec("adjoint", ft.linalg.adjoint, lambda x: np.conj(_mT(x)), domains=(real(),),
           shapes=(((2, 3),), ((2, 3, 4),)), composite=True, jacobian=True,
           notes="conj of matrix_transpose"),
    OpSpec("diag_part", ft.linalg.diag_part, lambda x: np.diagonal(x, axis1=-2, axis2=-1),
           domains=(real(),), shapes=(((3, 3),), ((2, 3),), ((2, 4, 3),)), composite=True,
           jacobian=True),
    OpSpec("trace", ft.linalg.trace, lambda x: np.trace(x, axis1=-2, axis2=-1),
           domains=(real(),), shapes=(((3, 3),), ((2, 3, 2),)), composite=True),
    OpSpec("norm", lambda x, ord, axis: ft.norm(x, ord=ord, axis=axis),
           lambda x, ord, axis: np.sum(np.abs(x) ** ord, axis=axis) ** (1 / ord),
           domains=(nonzero(0.3),), shapes=(((4,),), ((2, 3),)),
           attrs=tuple({"ord": o, "axis": a} for o in (3, 0.5, 1.5) for a in (None, 0)),
           composite=True, variant="p", notes="(sum |x|^p)^(1/p) from pow, abs, reduce_sum"),
    OpSpec("norm", lambda x, ord, axis, keepdims: ft.linalg.norm(x, ord, axis, keepdims),
           _norm_matrix_np, domains=(nonzero(0.3),), shapes=(((3, 4),), ((2, 3, 2),)),
           attrs=_NORM_MATRIX_ATTRS, accept=_col_row_sums_distinct, composite=True,
           variant="matrix", notes="max of column (ord 1) or row (inf) sums: sums kept apart"),
    OpSpec("norm", lambda x, axis, keepdims: ft.linalg.norm(x, 2, axis, keepdims),
           lambda x, axis, keepdims: np.linalg.norm(x, 2, axis=axis, keepdims=keepdims),
           domains=(real(),), shapes=(((3, 4),), ((2, 3, 2),)),
           attrs=({"axis": (0, 1), "keepdims": False}, {"axis": (-1, 0), "keepdims": True}),
           composite=True, order=1, covers=("_spectral_norm",), variant="spectral",
           notes="largest singular value: u1 v1^T, first order only (raises under an outer tape)"),
]

# Specs of the neural-network ops of the complete library (SPEC section 2, ft.nn).
# References: direct loops over output positions and window taps (no im2col).


def _same_pads(in_sp, k_sp, strides, dilations, padding):
    """TensorFlow's output size and (before, after) pads per spatial axis."""
    out, pads = [], []
    for i, (n, k, s, d) in enumerate(zip(in_sp, k_sp, strides, dilations)):
        ek = (k - 1) * d + 1
        if padding == "SAME":
            o = -(-n // s)
            total = max((o - 1) * s + ek - n, 0)
            pads.append((total // 2, total - total // 2))
        else:
            pads.append((0, 0) if padding == "VALID" else tuple(padding[i + 1]))
            o = (n + sum(pads[-1]) - ek) // s + 1
        out.append(o)
    return out, pads


def _tuple(v, r):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,) * r


def _conv_np(x, w, strides, padding, dilations=1):
    """Channels-last convolution of any spatial rank, by loops."""
    r = x.ndim - 2
    strides, dilations = _tuple(strides, r), _tuple(dilations, r)
    out_sp, pads = _same_pads(x.shape[1:-1], w.shape[:r], strides, dilations, padding)
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    out = np.zeros([x.shape[0]] + out_sp + [w.shape[-1]])
    for pos in np.ndindex(*out_sp):
        for k in np.ndindex(*w.shape[:r]):
            idx = tuple(p * s + j * d for p, s, j, d in zip(pos, strides, k, dilations))
            out[(slice(None),) + pos] += xp[(slice(None),) + idx] @ w[k]
    return out


def _conv_transpose_np(x, w, output_shape, strides, padding):
    """The adjoint of _conv_np in its input (filters (kh, kw, out_c, in_c)), by loops."""
    strides = _tuple(strides, 2)
    out_sp, pads = _same_pads(output_shape[1:3], w.shape[:2], strides, (1, 1), padding)
    padded = [output_shape[0]] + [n + b + a for n, (b, a) in zip(output_shape[1:3], pads)]
    yp = np.zeros(padded + [output_shape[3]])
    for pos in np.ndindex(*out_sp):
        for k in np.ndindex(*w.shape[:2]):
            idx = tuple(p * s + j for p, s, j in zip(pos, strides, k))
            yp[(slice(None),) + idx] += x[(slice(None),) + pos] @ w[k].T
    return yp[
        :, pads[0][0] : pads[0][0] + output_shape[1], pads[1][0] : pads[1][0] + output_shape[2]
    ]


def _pool_np(x, ksize, strides, padding, reduce):
    ksize, strides = _tuple(ksize, 2), _tuple(strides, 2)
    out_sp, pads = _same_pads(x.shape[1:3], ksize, strides, (1, 1), padding)
    out = np.zeros([x.shape[0]] + out_sp + [x.shape[3]])
    for i, j in np.ndindex(*out_sp):
        r0, c0 = i * strides[0] - pads[0][0], j * strides[1] - pads[1][0]
        win = x[:, max(r0, 0) : r0 + ksize[0], max(c0, 0) : c0 + ksize[1]]
        out[:, i, j] = reduce(win, axis=(1, 2))
    return out


def _xent_np(labels, logits, axis):
    logp = logits - _logsumexp_np(logits, axis=axis, keepdims=True)
    return -np.sum(labels * logp, axis=axis)


def _euclidean_norm_np(x, axis, keepdims):
    r = np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))
    return r if x.dtype.kind in "fc" else r.astype(x.dtype)  # integers: truncated, as TF


def _dropout_np(x, rate, seed, noise_shape=None):
    # dropout's draw: the generator's raw 32-bit words, kept when >= rate * 2**32
    shape = x.shape if noise_shape is None else noise_shape
    n = int(np.prod(shape))
    bits = np.random.default_rng(seed).bit_generator.random_raw((n + 1) // 2)
    keep = bits.view(np.uint32)[:n].reshape(shape) >= round(rate * 2.0**32)
    return x * np.where(keep, 1 / (1 - rate), 0.0)


def _layer_norm_np(x, gamma, beta, axis, epsilon):
    mean = np.mean(x, axis=axis, keepdims=True)
    var = np.var(x, axis=axis, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * gamma + beta


def _batch_norm_np(x, mean, variance, offset, scale, eps=1e-3):
    return (x - mean) * scale / np.sqrt(variance + eps) + offset


def _labels_logits(rng, shapes, attrs):
    return [rng.uniform(0, 1, shapes[0]), rng.uniform(-3, 3, shapes[1])]


def _embedding_make(rng, shapes, attrs):
    return [
        rng.uniform(-2, 2, shapes[0]),
        rng.integers(0, shapes[0][0], shapes[1]).astype(np.int64),
    ]


def _batch_norm_make(rng, shapes, attrs):
    # x, mean, variance (> 0), offset, scale; the last two may be left out
    lows = ((-2, 2), (-1, 1), (0.5, 2), (-1, 1), (0.5, 2))
    return [rng.uniform(lo, hi, s) for (lo, hi), s in zip(lows, shapes)]


_CONV2D_ATTRS = tuple(
    {"strides": s, "padding": p, "dilations": d}
    for s, p, d in (
        (1, "SAME", 1),
        (2, "SAME", 1),
        (1, "VALID", 1),
        (2, "VALID", 1),
        (1, "SAME", 2),
        ((1, 2), "VALID", 1),
        ((2, 1), "SAME", (1, 2)),
        (1, [[0, 0], [1, 0], [0, 2], [0, 0]], 1),
    )
)
_POOL_ATTRS = tuple(
    {"ksize": k, "strides": s, "padding": p}
    for k, s, p in (
        (2, 2, "VALID"),
        (2, 2, "SAME"),
        (3, 1, "SAME"),
        (3, 2, "SAME"),
        ((2, 3), (1, 2), "VALID"),
    )
)

_NN_MORE = [
    OpSpec(
        "conv2d",
        lambda x, w, strides, padding, dilations: ft.nn.conv2d(
            x, w, strides, padding, dilations=dilations
        ),
        _conv_np,
        domains=(real(), real()),
        shapes=(((2, 5, 5, 2), (3, 3, 2, 3)),),
        attrs=_CONV2D_ATTRS,
        cases=(
            (((2, 5, 5, 1), (3, 3, 1, 2)), {"strides": 2, "padding": "SAME", "dilations": 1}),
            (((2, 4, 6, 1), (2, 3, 1, 2)), {"strides": 1, "padding": "SAME", "dilations": 1}),
            (
                ((1, 6, 5, 3), (2, 2, 3, 2)),
                {"strides": (2, 1), "padding": "SAME", "dilations": (1, 2)},
            ),
            (
                ((1, 4, 5, 6), (2, 3, 6, 2)),
                {"strides": (1, 2), "padding": "SAME", "dilations": 1},
            ),
        ),
        covers=("_conv_backprop_input", "_conv_backprop_filter"),
        notes="strides, dilations, SAME/VALID/explicit padding, even kernels (asymmetric SAME "
        "pads), few channels (patches as (taps * channels, pixels)) and six (as (pixels, "
        "taps * channels)); the input and filter gradients are the private ops, whose VJPs "
        "run in the order-2 checks",
    ),
    OpSpec(
        "conv2d",
        lambda x, w: ft.nn.conv2d(x, w, 2, "SAME", data_format="NCHW"),
        lambda x, w: np.moveaxis(_conv_np(np.moveaxis(x, 1, -1), w, 2, "SAME"), -1, 1),
        domains=(real(), real()),
        shapes=(((2, 2, 5, 5), (3, 3, 2, 3)),),
        variant="NCHW",
    ),
    OpSpec(
        "conv1d",
        lambda x, w, stride, padding, dilations: ft.nn.conv1d(
            x, w, stride, padding, dilations=dilations
        ),
        lambda x, w, stride, padding, dilations: _conv_np(x, w, stride, padding, dilations),
        domains=(real(), real()),
        shapes=(((2, 7, 2), (3, 2, 3)), ((2, 6, 1), (2, 1, 2))),
        attrs=tuple(
            {"stride": s, "padding": p, "dilations": d}
            for s, p, d in ((1, "SAME", 1), (2, "VALID", 1), (2, "SAME", 1), (1, "SAME", 2))
        ),
        notes="the conv2d machinery with one spatial axis",
    ),
    OpSpec(
        "conv2d_transpose",
        lambda x, w, output_shape, strides, padding: ft.nn.conv2d_transpose(
            x, w, output_shape, strides, padding
        ),
        _conv_transpose_np,
        domains=(real(), real()),
        shapes=(),
        cases=(
            (
                ((2, 3, 3, 3), (3, 3, 2, 3)),
                {"output_shape": (2, 5, 5, 2), "strides": 2, "padding": "SAME"},
            ),
            (
                ((2, 3, 3, 3), (3, 3, 2, 3)),
                {"output_shape": (2, 6, 6, 2), "strides": 2, "padding": "SAME"},
            ),
            (
                ((2, 3, 3, 3), (3, 3, 2, 3)),
                {"output_shape": (2, 7, 7, 2), "strides": 2, "padding": "VALID"},
            ),
            (
                ((2, 3, 4, 1), (2, 2, 2, 1)),
                {"output_shape": (2, 3, 4, 2), "strides": 1, "padding": "SAME"},
            ),
        ),
        notes="conv2d's input gradient under its public name",
    ),
    OpSpec(
        "bias_add",
        lambda v, b, data_format: ft.nn.bias_add(v, b, data_format),
        lambda v, b, data_format: v + (b if data_format != "NCHW" else b[:, None, None]),
        domains=(real(), real()),
        shapes=(),
        cases=(
            (((2, 3, 4), (4,)), {"data_format": None}),
            (((64, 3), (3,)), {"data_format": "NHWC"}),
            (((2, 3, 4, 5), (3,)), {"data_format": "NCHW"}),
        ),
        notes="(64, 3): the tiled-bias forward and the matrix-vector bias gradient",
    ),
    OpSpec(
        "max_pool2d",
        lambda x, ksize, strides, padding: ft.nn.max_pool2d(x, ksize, strides, padding),
        lambda x, ksize, strides, padding: _pool_np(x, ksize, strides, padding, np.max),
        domains=(real(),),
        shapes=(((2, 5, 5, 2),),),
        attrs=_POOL_ATTRS,
        accept=distinct(),
        covers=("_max_pool_grad", "_max_pool_gather"),
        notes="distinct inputs (ties: test_nn_ops); disjoint and overlapping windows; the "
        "gradient ops are linear in the gradient, their VJPs run at order 2",
    ),
    OpSpec(
        "avg_pool2d",
        lambda x, ksize, strides, padding: ft.nn.avg_pool2d(x, ksize, strides, padding),
        lambda x, ksize, strides, padding: _pool_np(x, ksize, strides, padding, np.mean),
        domains=(real(),),
        shapes=(((2, 5, 5, 2),),),
        attrs=_POOL_ATTRS,
        covers=("_avg_pool_grad",),
        notes="SAME border windows average real elements only",
    ),
    OpSpec(
        "softmax_cross_entropy_with_logits",
        lambda labels, logits, axis: ft.nn.softmax_cross_entropy_with_logits(
            labels, logits, axis=axis
        ),
        _xent_np,
        make=_labels_logits,
        shapes=(((3, 5), (3, 5)), ((4,), (4,)), ((2, 3, 4), (2, 3, 4))),
        attrs=({"axis": -1}, {"axis": 0}),
        notes="labels need not sum to 1: the logits gradient is exact for any labels",
    ),
    OpSpec(
        "sigmoid_cross_entropy_with_logits",
        ft.nn.sigmoid_cross_entropy_with_logits,
        lambda z, x: np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x))),
        make=lambda rng, shapes, attrs: [
            rng.uniform(0, 1, shapes[0]),
            rng.choice([-1, 1], shapes[1]) * rng.uniform(0.1, 4, shapes[1]),
        ],
        shapes=(((4,), (4,)), ((2, 3), (2, 3)), ((), ())),
        notes="logits away from 0, where max(x, 0) and |x| have kinks that cancel",
    ),
    OpSpec(
        "l2_loss",
        ft.nn.l2_loss,
        lambda t: np.sum(t * t) / 2,
        domains=(real(),),
        shapes=(((4,),), ((2, 3),), ((),)),
    ),
    OpSpec(
        "dropout",
        lambda x, rate, noise_shape: ft.nn.dropout(x, rate, noise_shape=noise_shape, seed=7),
        lambda x, rate, noise_shape: _dropout_np(x, rate, 7, noise_shape),
        domains=(real(),),
        shapes=(((4, 5),), ((2, 3, 4),)),
        attrs=(
            {"rate": 0.5, "noise_shape": None},
            {"rate": 0.2, "noise_shape": None},
            {"rate": 0.5, "noise_shape": (1, 5)},
        ),
        valid=lambda s, a: a["noise_shape"] is None or len(s[0]) == 2,
        notes="a fixed seed: the same mask for every call of the check",
    ),
    OpSpec(
        "moments",
        lambda x, axes, keepdims: ft.nn.moments(x, axes, keepdims=keepdims),
        lambda x, axes, keepdims: (
            np.mean(x, axis=tuple(axes), keepdims=keepdims),
            np.var(x, axis=tuple(axes), keepdims=keepdims),
        ),
        domains=(real(),),
        shapes=(((3, 4),), ((2, 3, 4),)),
        attrs=tuple({"axes": a, "keepdims": k} for a in ([0], [-1], [0, 1]) for k in (False, True)),
    ),
    OpSpec(
        "batch_normalization",
        lambda x, m, v, o, s: ft.nn.batch_normalization(x, m, v, o, s, 1e-3),
        _batch_norm_np,
        make=_batch_norm_make,
        shapes=(
            ((2, 3, 4), (4,), (4,), (4,), (4,)),
            ((3, 4), (3, 4), (3, 4), (), (1, 4)),
            ((2, 3), (2, 1), (2, 1), (3,), (3,)),
        ),
    ),
    OpSpec(
        "batch_normalization",
        lambda x, m, v: ft.nn.batch_normalization(x, m, v, None, None, 1e-3),
        lambda x, m, v: _batch_norm_np(x, m, v, 0.0, 1.0),
        make=_batch_norm_make,
        shapes=(((2, 3, 4), (4,), (4,)),),
        variant="no offset and scale",
    ),
    OpSpec(
        "layer_norm",
        lambda x, g, b, axis: ft.nn.layer_norm(x, axis, gamma=g, beta=b),
        lambda x, g, b, axis: _layer_norm_np(x, g, b, axis, 1e-3),
        domains=(real(), real(0.5, 2), real()),
        shapes=(),
        cases=(
            (((3, 4), (4,), (4,)), {"axis": -1}),
            (((2, 3, 4), (3, 4), (3, 4)), {"axis": (1, 2)}),
            (((2, 3, 4), (3, 1), ()), {"axis": 1}),
        ),
    ),
    OpSpec(
        "layer_norm",
        lambda x: ft.nn.layer_norm(x, epsilon=1e-5),
        lambda x: _layer_norm_np(x, 1.0, 0.0, -1, 1e-5),
        domains=(real(),),
        shapes=(((3, 4),), ((2, 3, 5),)),
        variant="no gamma and beta",
    ),
    OpSpec(
        "embedding_lookup",
        ft.nn.embedding_lookup,
        lambda p, i: np.take(p, i, axis=0),
        make=_embedding_make,
        shapes=(((5, 3), (4,)), ((5, 3), (2, 3)), ((4,), (3,))),
        jacobian=True,
        notes="ids (int64) repeat: gradients accumulate; ids get None",
    ),
]

# --- creation and random ops (no tensor inputs but *_like, fill, linspace and shuffle) ------
# Random ops take seed=7: an op-level seed draws from a fresh Generator, so the
# reference draws the same numbers. See Note [Creation and random ops].

_NO_ARGS = ((),)  # one case without tensor arguments
_SEED = 7


def _range_np(start, limit, delta, dtype):
    weak = np.float32 if any(isinstance(v, float) for v in (start, limit, delta)) else np.int32
    return np.arange(start, limit, delta, dtype=dtype or weak)


def _truncated_normal_np(shape, mean, stddev, dtype):
    rng = np.random.default_rng(_SEED)
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2
    return np.asarray(mean + stddev * out, dtype)


def _creation(name, fn, ref, attrs, **kw):
    kw.setdefault("shapes", _NO_ARGS)
    return OpSpec(name, fn, ref, attrs=attrs, differentiable=False, order=1, **kw)


_SHAPE_DTYPE_ATTRS = ({"shape": (2, 3), "dtype": np.float32}, {"shape": (), "dtype": np.int32},
                      {"shape": [0, 4], "dtype": np.float64}, {"shape": 3, "dtype": np.bool_})
_RANDOM_ATTRS = ({"shape": (2, 3), "mean": 0.0, "stddev": 1.0, "dtype": np.float32},
                 {"shape": (4,), "mean": 1.5, "stddev": 0.5, "dtype": np.float64},
                 {"shape": (), "mean": -1.0, "stddev": 2.0, "dtype": np.float32})

_CREATION_RANDOM = [
    _creation("zeros", lambda shape, dtype: ft.zeros(shape, dtype),
              lambda shape, dtype: np.zeros(shape, dtype), _SHAPE_DTYPE_ATTRS),
    _creation("ones", lambda shape, dtype: ft.ones(shape, dtype),
              lambda shape, dtype: np.ones(shape, dtype), _SHAPE_DTYPE_ATTRS),
    _creation("zeros_like", lambda x, dtype: ft.zeros_like(x, dtype),
              lambda x, dtype: np.zeros_like(x, dtype), ({"dtype": None}, {"dtype": np.int32}),
              domains=(real(),), shapes=UNARY_SHAPES),
    _creation("ones_like", lambda x, dtype: ft.ones_like(x, dtype),
              lambda x, dtype: np.ones_like(x, dtype), ({"dtype": None}, {"dtype": np.int32}),
              domains=(real(),), shapes=UNARY_SHAPES),
    _creation("fill", lambda value, dims: ft.fill(dims, value),
              lambda value, dims: np.full(dims, value, value.dtype),
              ({"dims": (2, 3)}, {"dims": ()}, {"dims": [4, 0]}),
              domains=(real(),), shapes=(((),),),
              cases=((((3,),), {"dims": (2, 3)}),), notes="value broadcasts to dims"),
    _creation("range", lambda start, limit, delta, dtype: ft.range(start, limit, delta, dtype),
              _range_np,
              ({"start": 0, "limit": 5, "delta": 1, "dtype": None},
               {"start": 1.0, "limit": 2.0, "delta": 0.25, "dtype": None},
               {"start": 5, "limit": -3, "delta": -2, "dtype": np.int64},
               {"start": 3, "limit": 1, "delta": 1, "dtype": None},
               {"start": 0, "limit": 1, "delta": 0.3, "dtype": np.float64})),
    _creation("eye", lambda num_rows, num_columns, batch_shape, dtype:
              ft.eye(num_rows, num_columns, batch_shape, dtype),
              lambda num_rows, num_columns, batch_shape, dtype: np.broadcast_to(
                  np.eye(num_rows, num_columns, dtype=dtype),
                  tuple(batch_shape or ()) + (num_rows, num_columns or num_rows)),
              ({"num_rows": 3, "num_columns": None, "batch_shape": None, "dtype": np.float32},
               {"num_rows": 2, "num_columns": 4, "batch_shape": [3], "dtype": np.float64},
               {"num_rows": 0, "num_columns": 2, "batch_shape": [2, 1], "dtype": np.int32})),
    _creation("linspace", lambda start, stop, num, axis: ft.linspace(start, stop, num, axis),
              lambda start, stop, num, axis:
              np.linspace(start, stop, num, axis=axis).astype(start.dtype),
              ({"num": 5, "axis": 0}, {"num": 1, "axis": -1}, {"num": 0, "axis": 0}),
              domains=(real(), real()), shapes=(((), ()), ((3,), (3,)), ((2, 1), (3,)))),
    _creation("normal", lambda shape, mean, stddev, dtype:
              ft.random.normal(shape, mean, stddev, dtype, seed=_SEED),
              lambda shape, mean, stddev, dtype: np.asarray(
                  np.random.default_rng(_SEED).normal(mean, stddev, shape), dtype),
              _RANDOM_ATTRS, notes="stateful: an op-level seed gives the reference's numbers"),
    _creation("truncated_normal", lambda shape, mean, stddev, dtype:
              ft.random.truncated_normal(shape, mean, stddev, dtype, seed=_SEED),
              _truncated_normal_np, _RANDOM_ATTRS,
              notes="stateful: an op-level seed gives the reference's numbers"),
    _creation("uniform", lambda shape, minval, maxval, dtype:
              ft.random.uniform(shape, minval, maxval, dtype, seed=_SEED),
              lambda shape, minval, maxval, dtype: np.asarray(
                  np.random.default_rng(_SEED).integers(minval, maxval, shape)
                  if np.dtype(dtype).kind in "iu" else np.random.default_rng(_SEED).uniform(
                      minval, 1.0 if maxval is None else maxval, shape), dtype),
              ({"shape": (2, 3), "minval": 0, "maxval": None, "dtype": np.float32},
               {"shape": (5,), "minval": -2.0, "maxval": 3.0, "dtype": np.float64},
               {"shape": (2, 2), "minval": -5, "maxval": 5, "dtype": np.int32},
               {"shape": (), "minval": 0, "maxval": 10, "dtype": np.int64}),
              notes="stateful: an op-level seed gives the reference's numbers"),
    _creation("shuffle", lambda value: ft.random.shuffle(value, seed=_SEED),
              lambda value: value[np.random.default_rng(_SEED).permutation(len(value))], ({},),
              domains=(real(),), shapes=(((5,),), ((3, 2),), ((1,),)),
              notes="stateful: an op-level seed gives the reference's permutation"),
    _creation("where", lambda condition: ft.where(condition), np.argwhere, ({},),
              domains=(booleans(),), shapes=(((5,),), ((2, 3),), ((),)), variant="indices",
              covers=("_where_indices",), notes="where(condition): coordinates of true elements"),
]

OP_SPECS = tuple(_UNARY + _BINARY + _TERNARY + _REDUCE + _SHAPE + _LINALG_NN + _NONDIFF
                 + _SHAPE_LINALG_MORE + _NN_MORE + _CREATION_RANDOM)


def specs_by_name():
    """{op name: [OpSpec, ...]}."""
    out = {}
    for spec in OP_SPECS:
        out.setdefault(spec.name, []).append(spec)
    return out


def covered_ops():
    """Names of the table entries that some spec tests (its own or through `covers`)."""
    names = set()
    for spec in OP_SPECS:
        if not spec.composite:
            names.add(spec.name)
        names.update(spec.covers)
    return names


# --- TensorFlow's everyday names beyond SPEC's minimum ---------------------------------------


def _segment_make(sorted_ids, num_segments=4):
    def make(rng, shapes, attrs):
        data_shape, ids_shape = shapes
        lo = 0 if sorted_ids else -1  # unsorted_segment_sum drops negative ids
        ids = rng.integers(lo, num_segments, ids_shape)
        if sorted_ids:
            ids = np.sort(ids)
        return [rng.uniform(-2, 2, data_shape), ids.astype(np.int64)]

    return make


def _segment_sum_np(data, ids, num_segments=None):
    n = (int(ids.max()) + 1 if ids.size else 0) if num_segments is None else num_segments
    out = np.zeros((n,) + data.shape[ids.ndim:])
    keep = ids >= 0
    np.add.at(out, ids[keep], data[keep])
    return out


def _tensor_scatter_make(unique):
    def make(rng, shapes, attrs):
        t_shape, idx_shape, u_shape = shapes
        k, m = idx_shape[-1], idx_shape[0]
        cells = int(np.prod(t_shape[:k]))
        flat = rng.choice(cells, m, replace=not unique)
        idx = np.stack(np.unravel_index(flat, t_shape[:k]), axis=-1).astype(np.int64)
        return [rng.uniform(-2, 2, t_shape), idx, rng.uniform(-2, 2, u_shape)]

    return make


def _tensor_scatter_np(add):
    def ref(t, idx, u):
        out = np.array(t)
        key = tuple(np.moveaxis(idx, -1, 0))
        if add:
            np.add.at(out, key, u)
        else:
            out[key] = u
        return out

    return ref


_TSCATTER_SHAPES = (((4,), (2, 1), (2,)), ((3, 4), (2, 1), (2, 4)), ((3, 4), (3, 2), (3,)),
                    ((2, 3, 2), (2, 2), (2, 2)))


def _matrix_diag_np(d, k=0, num_rows=-1, num_cols=-1, padding_value=0):
    n = d.shape[-1]
    if num_rows == -1 and num_cols == -1:
        num_rows = num_cols = n + abs(k)
    num_rows = n + max(-k, 0) if num_rows == -1 else num_rows
    num_cols = n + max(k, 0) if num_cols == -1 else num_cols
    out = np.full(d.shape[:-1] + (num_rows, num_cols), padding_value, d.dtype)
    for i in range(n):
        out[..., i - min(k, 0), i + max(k, 0)] = d[..., i]
    return out


def _clip_by_norm_np(t, clip_norm, axes):
    norm = np.sqrt(np.sum(t * t, axis=axes, keepdims=True))
    return t * clip_norm / np.maximum(norm, clip_norm)


def _norm_away_from(clip, axes_key="axes", gap=0.05):
    def accept(args, attrs):
        norms = np.sqrt(np.sum(args[0] ** 2, axis=attrs.get(axes_key)))
        return bool(np.all(np.abs(norms - clip) > gap))

    return accept


def _global_norm_np(*ts):
    return np.sqrt(sum(np.sum(t * t) for t in ts))


def _clip_by_global_norm_np(a, b, clip_norm):
    norm = _global_norm_np(a, b)
    scale = clip_norm * min(1.0 / norm, 1.0 / clip_norm)
    return [a * scale, b * scale], norm


def _matvec_np(a, b, transpose_a=False):
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    return np.matmul(a, b[..., None])[..., 0]


_TF_NAMES = [
    OpSpec("add_n", lambda *xs: ft.add_n(list(xs)), lambda *xs: functools.reduce(np.add, xs),
           domains=(real(), real(), real()),
           shapes=(((3,), (3,)), ((2, 3), (2, 3), (2, 3)), ((4,),), ((), ())),
           notes="variadic: every input gets the output's gradient"),
    OpSpec("count_nonzero",
           lambda x, axis, keepdims: ft.math.count_nonzero(x, axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: np.asarray(
               np.count_nonzero(x, axis=axis, keepdims=keepdims)).astype(np.int64),
           domains=(with_zeros(4),), shapes=REDUCE_SHAPES, attrs=REDUCE_ATTRS, valid=valid_axis,
           differentiable=False, order=1, notes="int64, as TensorFlow"),
    _reduce("reduce_euclidean_norm", ft.math.reduce_euclidean_norm,
            lambda x, axis, keepdims: _euclidean_norm_np(x, axis, keepdims),
            domain=nonzero(0.3), notes="away from a zero norm, where the gradient is NaN as TF"),
    OpSpec("segment_sum", ft.math.segment_sum, _segment_sum_np, make=_segment_make(True),
           shapes=(((5,), (5,)), ((5, 3), (5,)), ((1, 2), (1,))), jacobian=True,
           notes="sorted ids with gaps (empty segments are zeros)"),
    OpSpec("unsorted_segment_sum",
           lambda d, ids, num_segments: ft.math.unsorted_segment_sum(d, ids, num_segments),
           _segment_sum_np, make=_segment_make(False),
           shapes=(((5,), (5,)), ((4, 3), (4,)), ((2, 3, 2), (2, 3))),
           attrs=({"num_segments": 4},), jacobian=True,
           notes="ids in [-1, 4): negative ids are dropped; ids' shape a prefix of data's"),
    OpSpec("tensor_scatter_nd_update", ft.tensor_scatter_nd_update, _tensor_scatter_np(False),
           make=_tensor_scatter_make(unique=True), shapes=_TSCATTER_SHAPES, jacobian=True,
           notes="distinct indices: with repeats the winner is unspecified (as TF)"),
    OpSpec("tensor_scatter_nd_add", ft.tensor_scatter_nd_add, _tensor_scatter_np(True),
           make=_tensor_scatter_make(unique=False), shapes=_TSCATTER_SHAPES, jacobian=True,
           notes="repeated indices add up"),
    OpSpec("matrix_diag", lambda d, k: ft.linalg.diag(d, k=k), _matrix_diag_np,
           domains=(real(),), shapes=(((3,),), ((2, 3),)),
           attrs=({"k": 0}, {"k": 1}, {"k": -2}), jacobian=True,
           cases=((((2,),), {"k": 0}),)),
    OpSpec("matrix_diag",
           lambda d: ft.linalg.diag(d, num_rows=3, num_cols=4, padding_value=9.0),
           lambda d: _matrix_diag_np(d, 0, 3, 4, 9.0), domains=(real(),),
           shapes=(((3,),), ((2, 3),)), jacobian=True, variant="3x4-padded"),
    OpSpec("tensor_diag", ft.linalg.tensor_diag,
           lambda x: np.diag(x.reshape(-1)).reshape(x.shape + x.shape), domains=(real(),),
           shapes=(((3,),), ((2, 2),), ((1, 2, 1),)), jacobian=True),
    OpSpec("shape", lambda x, out_type: ft.shape(x, out_type=out_type),
           lambda x, out_type: np.array(x.shape, out_type), domains=(real(),),
           shapes=UNARY_SHAPES, attrs=({"out_type": np.int32}, {"out_type": np.int64}),
           differentiable=False, order=1),
    OpSpec("size", lambda x, out_type: ft.size(x, out_type=out_type),
           lambda x, out_type: np.array(x.size, out_type), domains=(real(),),
           shapes=UNARY_SHAPES, attrs=({"out_type": np.int32}, {"out_type": np.int64}),
           differentiable=False, order=1),
    OpSpec("rank", ft.rank, lambda x: np.array(x.ndim, np.int32), domains=(real(),),
           shapes=UNARY_SHAPES, differentiable=False, order=1),
    # composites of table ops (as TensorFlow writes them)
    OpSpec("clip_by_norm", lambda t, axes: ft.clip_by_norm(t, 1.5, axes),
           lambda t, axes: _clip_by_norm_np(t, 1.5, axes), domains=(real(),),
           shapes=(((4,),), ((2, 3),)), attrs=({"axes": None}, {"axes": 1}, {"axes": (0, 1)}),
           valid=valid_axis_named("axes"), accept=_norm_away_from(1.5), composite=True,
           notes="norms kept away from clip_norm (the kink of the maximum)"),
    OpSpec("clip_by_global_norm", lambda a, b: ft.clip_by_global_norm([a, b], 2.0),
           lambda a, b: _clip_by_global_norm_np(a, b, 2.0), domains=(real(), real()),
           shapes=(((3,), (2, 2)), ((4,), ())),
           accept=lambda args, attrs: abs(_global_norm_np(*args) - 2.0) > 0.05, composite=True,
           notes="returns (list_clipped, global_norm) as TF; norms away from clip_norm"),
    OpSpec("global_norm", lambda a, b: ft.linalg.global_norm([a, b]), _global_norm_np,
           domains=(real(), real()), shapes=(((3,), (2, 2)), ((4,), ())), composite=True),
    OpSpec("matvec", lambda a, b, transpose_a: ft.linalg.matvec(a, b, transpose_a=transpose_a),
           _matvec_np, domains=(real(), real()), shapes=(),
           cases=((((2, 3), (3,)), {"transpose_a": False}),
                  (((3, 2), (3,)), {"transpose_a": True}),
                  (((4, 2, 3), (4, 3)), {"transpose_a": False}),
                  (((2, 3), (4, 3)), {"transpose_a": False})),
           composite=True, notes="a matmul with b as a column"),
]

OP_SPECS = OP_SPECS + tuple(_TF_NAMES)
