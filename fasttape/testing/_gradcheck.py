"""Gradient checks against central finite differences in float64.

`check_grads` compares a random-direction product <u, J v> from finite
differences with <VJP(u), v> from `ft.GradientTape` (recursing through nested
tapes for higher orders); `check_jacobian` compares whole Jacobians, for tiny
shapes. Both are what fasttape's own op tests use (tests/ops).
"""

import numpy as np

from fasttape import nest
from fasttape._core import core as _core
from fasttape.backprop import GradientTape
from fasttape.ops.array_ops import cast

Tensor = _core.Tensor

#: the ways `f` can be differentiated: an eager GradientTape, ft.gradients in
#: an ft.Graph run by a Session, a GradientTape inside ft.function
SUPPORTED_MODES = ("eager", "graph", "function")

_MAX_JACOBIAN_SIZE = 400


class _Args:
    """The checked arguments: float64 arrays are differentiated, integer and
    bool arrays are passed through (their gradients must be None)."""

    def __init__(self, args, what, names=None):
        self.names = list(names or (f"argument {i}" for i in range(len(args))))
        self.arrays = []
        self.is_float = []
        for i, a in enumerate(args):
            arr = np.asarray(a)
            if arr.dtype.kind == "f":
                if arr.dtype != np.float64:
                    raise TypeError(
                        f"{what}: argument {i} has dtype {arr.dtype.name}; finite differences "
                        "need float64 arguments")
            elif arr.dtype.kind not in "iub":
                raise TypeError(f"{what}: argument {i} has unsupported dtype {arr.dtype.name}")
            self.arrays.append(np.array(arr))
            self.is_float.append(arr.dtype.kind == "f")

    def tensors(self, arrays=None):
        return [_core.convert_to_tensor(a) for a in (self.arrays if arrays is None else arrays)]

    def shifted(self, i, delta):
        out = list(self.arrays)
        out[i] = self.arrays[i] + delta
        return out


def _leaves(out, name):
    """The floating-point outputs of `f` (a Tensor or a nested structure), in order."""
    leaves = []
    for leaf in nest.flatten(out):
        if leaf is None:
            continue
        if not isinstance(leaf, Tensor):
            raise TypeError(
                f"{name}: the checked function must return Tensors (or a nested structure of "
                f"them), got {type(leaf).__name__}")
        if leaf.dtype.kind == "f":
            leaves.append(leaf)
    return leaves


def _values(f, args, arrays, name):
    return [np.array(t.numpy()) for t in _leaves(f(*args.tensors(arrays)), name)]


def _inner(a, b):
    return float(sum(np.vdot(np.asarray(x, np.float64), np.asarray(y, np.float64))
                     for x, y in zip(a, b, strict=True)))


def _difference(plus, minus, eps):
    return (plus.astype(np.float64) - minus.astype(np.float64)) / (2 * eps)


def _close(a, b, rtol, atol):
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


def _gradients(f, args, cotangents, name, mode="eager"):
    """(output values, gradients) of <cotangents, f> with respect to every
    argument; cotangents None: the tape's default (the sum of the outputs).
    `mode`: see SUPPORTED_MODES."""
    if mode == "graph":
        return _graph_gradients(f, args, cotangents, name)
    if mode == "function":
        return _function_gradients(f, args, cotangents, name)
    xs = args.tensors()
    with GradientTape() as tape:
        tape.watch(xs)
        leaves = _leaves(f(*xs), name)
    seeds = None
    if cotangents is not None:
        if len(leaves) != len(cotangents):
            raise AssertionError(
                f"{name}: {len(leaves)} floating-point outputs under a tape but "
                f"{len(cotangents)} without one")
        seeds = [_core.convert_to_tensor(u) for u in cotangents]
    grads = tape.gradient(leaves, xs, output_gradients=seeds) if leaves else [None] * len(xs)
    return [t.numpy() for t in leaves], grads


def _graph_gradients(f, args, cotangents, name):
    from fasttape.gradients_impl import gradients
    from fasttape.graph import Graph, placeholder
    from fasttape.session import Session

    g = Graph()
    with g.as_default():
        xs = [placeholder(a.dtype, a.shape) for a in args.arrays]
        leaves = _leaves(f(*xs), name)
        us = None
        if cotangents is not None:
            if len(leaves) != len(cotangents):
                raise AssertionError(
                    f"{name}: {len(leaves)} floating-point outputs in a graph but "
                    f"{len(cotangents)} eagerly")
            us = [placeholder(np.asarray(u).dtype, leaf.shape)
                  for u, leaf in zip(cotangents, leaves)]
        grads = gradients(leaves, xs, grad_ys=us) if leaves else [None] * len(xs)
    feed = dict(zip(xs, args.arrays))
    if us is not None:
        feed.update(zip(us, cotangents))
    fetch = [gr for gr in grads if gr is not None]
    outs, vals = Session(graph=g).run((leaves, fetch), feed)
    it = iter(vals)
    return list(outs), [None if gr is None else _core.wrap_array(next(it)) for gr in grads]


def _function_gradients(f, args, cotangents, name):
    from fasttape.function import function

    @function
    def traced(xs, us):
        with GradientTape() as tape:
            tape.watch(xs)
            leaves = _leaves(f(*xs), name)
        seeds = None if us is None else list(us)
        grads = (tape.gradient(leaves, xs, output_gradients=seeds) if leaves
                 else [None] * len(xs))
        return {"outs": leaves, "grads": list(grads)}

    us = None if cotangents is None else [_core.convert_to_tensor(u) for u in cotangents]
    out = traced(args.tensors(), us)
    return [t.numpy() for t in out["outs"]], out["grads"]


def _check_gradient_types(grads, args, name, order):
    for i, g in enumerate(grads):
        if not args.is_float[i]:
            if g is not None:
                raise AssertionError(
                    f"{name}: {args.names[i]} has dtype {args.arrays[i].dtype.name} and must get a "
                    f"None gradient, got {g!r} (order {order})")
            continue
        if g is None:
            continue
        if not isinstance(g, Tensor):
            raise AssertionError(f"{name}: gradient {i} is a {type(g).__name__}, not a Tensor")
        if g.shape != args.arrays[i].shape or g.dtype != args.arrays[i].dtype:
            raise AssertionError(
                f"{name}: gradient for {args.names[i]} has shape {g.shape} dtype {g.dtype.name}; "
                f"the argument has shape {args.arrays[i].shape} dtype "
                f"{args.arrays[i].dtype.name} (order {order})")


def _check_vjp(f, args, name, order, mode, eps, rtol, atol, rng):
    """Checks <u, J v> = <VJP(u), v> for random u and v, and for u = ones (the
    tape's default output gradients, a path of its own in the sweep)."""
    base = _values(f, args, None, name)
    cotangents = [rng.standard_normal(v.shape).astype(v.dtype) for v in base]
    outs, grads = _gradients(f, args, cotangents, name, mode)
    for j, (a, b) in enumerate(zip(outs, base, strict=True)):
        if not np.allclose(a, b, rtol=1e-12, atol=1e-12, equal_nan=True):
            raise AssertionError(
                f"{name}: output {j} differs under a GradientTape ({a!r}) and without one ({b!r})")
    _check_gradient_types(grads, args, name, order)
    _, sum_grads = _gradients(f, args, None, name, mode)
    _check_gradient_types(sum_grads, args, name, order)
    ones = [np.ones(v.shape) for v in base]
    for i, arr in enumerate(args.arrays):
        if not args.is_float[i]:
            continue
        v = rng.standard_normal(arr.shape)
        plus = _values(f, args, args.shifted(i, eps * v), name)
        minus = _values(f, args, args.shifted(i, -eps * v), name)
        jv = [_difference(p, m, eps) for p, m in zip(plus, minus, strict=True)]
        for u, g, which in ((cotangents, grads[i], "u"), (ones, sum_grads[i], "ones")):
            fd = _inner(u, jv)
            ad = 0.0 if g is None else float(np.vdot(np.asarray(g.numpy(), np.float64), v))
            if not (np.isfinite(ad) and np.isfinite(fd)) or not _close(fd, ad, rtol, atol):
                what = ("random output gradients u" if which == "u" else
                        "the default output gradients (u = ones)")
                raise AssertionError(
                    f"{name}: gradient check failed for {args.names[i]} (shape {arr.shape}, "
                    f"order {order}, mode {mode}, {what}): <u, J v> by central differences = "
                    f"{fd!r}, <VJP(u), v> from GradientTape = {ad!r} (|difference| "
                    f"{abs(fd - ad):.3g}, allowed {atol + rtol * max(abs(fd), abs(ad)):.3g}; "
                    f"eps={eps})")
    return cotangents


def _gradient_function(f, args, name):
    """The function (xs, us) -> VJP_f(xs)(us): the next order's f. It runs an
    inner tape, so that an outer tape records the backward pass. The
    cotangents us are arguments too (as in JAX's check_grads), so that the
    VJPs' own VJPs are checked also where the gradient does not depend on xs
    (linear ops: shape ops, indexing, add, matmul in each operand)."""
    n = len(args.arrays)

    def grad_f(*xs_and_us):
        xs, us = list(xs_and_us[:n]), xs_and_us[n:]
        with GradientTape() as tape:
            tape.watch(xs)
            leaves = _leaves(f(*xs), name)
        seeds = [u if u.dtype == leaf.dtype else cast(u, leaf.dtype)
                 for u, leaf in zip(us, leaves, strict=True)]
        grads = tape.gradient(leaves, xs, output_gradients=seeds)
        return [g for g, is_float in zip(grads, args.is_float, strict=True)
                if is_float and g is not None]

    return grad_f


def check_grads(f, args, order=1, modes=("eager",), eps=1e-6, rtol=1e-5, atol=1e-7, seed=0,
                name=None):
    """Checks the gradients of `f` at `args` against central finite differences.

    For each floating-point argument a random direction `v` and a random
    cotangent `u` for the outputs are drawn; <u, J v> computed by central
    differences in float64 must match <VJP(u), v> from `ft.GradientTape`.
    With `order=2` the gradient function (xs, u) -> VJP(u) itself, computed
    with nested tapes, is checked the same way (its arguments after f's are
    the cotangents), and so on for higher orders.

    Args:
        f: takes one Tensor per argument; returns a Tensor or a nested
            structure of Tensors (non-float outputs are ignored).
        args: arrays; float64 ones are differentiated, integer and bool ones
            are passed through as Tensors and must get None gradients.
        order: the highest derivative order to check.
        modes: how `f` is differentiated (each checked): "eager" (a
            GradientTape), "graph" (ft.gradients in an ft.Graph run by a
            Session), "function" (a GradientTape inside ft.function); at
            orders >= 2 the gradient function's tapes run in that mode too.
        eps: the finite-difference step.
        rtol, atol: |fd - ad| <= atol + rtol * max(|fd|, |ad|).
        seed: seeds the random directions.
        name: names `f` in failure messages (default: its __name__).

    Raises:
        AssertionError: naming the function, the argument index, the order
            and both numbers.

    >>> import numpy as np
    >>> import fasttape as ft
    >>> from fasttape.testing import check_grads
    >>> check_grads(lambda x: ft.sin(x) * x, [np.array([0.5, 1.5])], order=2,
    ...             modes=("eager", "graph", "function"))
    """
    name = name or getattr(f, "__name__", repr(f))
    if isinstance(modes, str):
        modes = (modes,)
    for mode in modes:
        if mode not in SUPPORTED_MODES:
            raise ValueError(f"check_grads: mode {mode!r} is not one of {SUPPORTED_MODES}")
    if order < 1:
        raise ValueError(f"check_grads: order must be >= 1, got {order}")
    what = f"check_grads({name})"
    rng = np.random.default_rng(seed)
    for mode in modes:
        fn, level_args = f, _Args(args, what)
        for k in range(1, order + 1):
            label = name if k == 1 else f"{name} (gradient of order {k - 1})"
            cotangents = _check_vjp(fn, level_args, label, k, mode, eps, rtol, atol, rng)
            if k < order:
                # arguments of the gradient function: the xs, then one cotangent per output
                fn = _gradient_function(fn, level_args, label)
                names = [f"the cotangent of output {j}" for j in range(len(cotangents))]
                level_args = _Args(level_args.arrays + [u.astype(np.float64) for u in cotangents],
                                   what, level_args.names + names)


def check_jacobian(f, args, eps=1e-6, rtol=1e-6, atol=1e-8, name=None):
    """Compares the full Jacobian of `f` from the tape with central differences.

    Meant for tiny shapes (shape and indexing ops): the tape computes one row
    per output element (a fresh tape each, seeded with a one-hot cotangent);
    finite differences one column per input element.

    Args:
        f, args, name: as for `check_grads`.
        eps: the finite-difference step.
        rtol, atol: elementwise |fd - ad| <= atol + rtol * |fd|.

    >>> import numpy as np
    >>> import fasttape as ft
    >>> from fasttape.testing import check_jacobian
    >>> check_jacobian(lambda x: ft.transpose(x), [np.arange(6.0).reshape(2, 3)])
    """
    name = name or getattr(f, "__name__", repr(f))
    args = _Args(args, f"check_jacobian({name})")
    base = _values(f, args, None, name)
    n_out = sum(v.size for v in base)
    n_in = sum(a.size for a, fl in zip(args.arrays, args.is_float, strict=True) if fl)
    if n_out > _MAX_JACOBIAN_SIZE or n_in > _MAX_JACOBIAN_SIZE:
        raise ValueError(
            f"check_jacobian({name}): {n_out} outputs x {n_in} inputs is too large; use "
            "check_grads")
    # finite-difference columns: fd[i][j] has the outputs' (flat) derivative w.r.t. element j
    fd = {}
    for i, arr in enumerate(args.arrays):
        if not args.is_float[i]:
            continue
        cols = np.empty((n_out, arr.size))
        for j in range(arr.size):
            e = np.zeros(arr.size)
            e[j] = eps
            e = e.reshape(arr.shape)
            plus = _values(f, args, args.shifted(i, e), name)
            minus = _values(f, args, args.shifted(i, -e), name)
            cols[:, j] = np.concatenate(
                [_difference(p, m, eps).reshape(-1) for p, m in zip(plus, minus, strict=True)]
                or [np.empty(0)])
        fd[i] = cols
    row = 0
    for k, v in enumerate(base):
        for r in range(v.size):
            cotangents = [np.zeros(w.shape, w.dtype) for w in base]
            cotangents[k].reshape(-1)[r] = 1
            _, grads = _gradients(f, args, cotangents, name)
            _check_gradient_types(grads, args, name, 1)
            for i in fd:
                ad = (np.zeros(args.arrays[i].size) if grads[i] is None
                      else np.asarray(grads[i].numpy(), np.float64).reshape(-1))
                expected = fd[i][row]
                bad = ~(np.abs(ad - expected) <= atol + rtol * np.abs(expected))
                if bad.any():
                    j = int(np.flatnonzero(bad)[0])
                    out_idx = tuple(int(q) for q in np.unravel_index(r, v.shape))
                    in_idx = tuple(int(q) for q in np.unravel_index(j, args.arrays[i].shape))
                    raise AssertionError(
                        f"{name}: Jacobian mismatch, d output {k}{list(out_idx)} / d argument "
                        f"{i}{list(in_idx)}: central differences = {float(expected[j])!r}, "
                        f"GradientTape = {float(ad[j])!r} ({int(bad.sum())} of {bad.size} "
                        "entries in this row differ)")
            row += 1


# --- tape.jacobian and tape.batch_jacobian, first and second order -------------------


def _zero_if_none(g, shape):
    return np.zeros(shape) if g is None else np.asarray(g.numpy(), np.float64)


def _tape_jacobians(f, args, arrays, name, batch):
    """{(leaf k, argument i): jacobian (batch=False) or batch_jacobian (batch=True)}
    of f's floating-point outputs at `arrays`, from one first-order tape."""
    xs = args.tensors(arrays)
    with GradientTape(persistent=True) as tape:
        tape.watch(xs)
        leaves = _leaves(f(*xs), name)
    out = {}
    for k, leaf in enumerate(leaves):
        for i, x in enumerate(xs):
            if not args.is_float[i] or (batch and not _batchable(leaf.shape, x.shape)):
                continue
            if batch:
                j = tape.batch_jacobian(leaf, x)
                shape = leaf.shape + x.shape[1:]
            else:
                j = tape.jacobian(leaf, x)
                shape = leaf.shape + x.shape
            out[k, i] = _zero_if_none(j, shape)
    return out


def _batchable(t_shape, s_shape):
    return len(t_shape) > 0 and len(s_shape) > 0 and t_shape[0] == s_shape[0]


def _fd_columns(fn, args, i, eps):
    """Central differences of every array fn(arrays) returns (a dict) in the
    elements of argument i: {key: array of shape value.shape + argument i's shape}."""
    arr = args.arrays[i]
    cols = None
    for j in range(arr.size):
        e = np.zeros(arr.size)
        e[j] = eps
        e = e.reshape(arr.shape)
        plus, minus = fn(args.shifted(i, e)), fn(args.shifted(i, -e))
        if cols is None:
            cols = {key: np.empty(v.shape + (arr.size,)) for key, v in plus.items()}
        for key in plus:
            cols[key][..., j] = _difference(plus[key], minus[key], eps)
    return {key: c.reshape(c.shape[:-1] + arr.shape) for key, c in (cols or {}).items()}


def _batch_sum(full, t_ndim):
    """The batch_jacobian a batched sweep computes from a full Jacobian of
    shape (b, *T, b, *S): [i, t, s] = sum_j full[j, t, i, s] (equal to
    d y[i] / d x[i] when the rows of the batch are independent)."""
    return np.moveaxis(full, t_ndim, 0).sum(axis=1)


def _assert_close(got, expected, rtol, atol, what):
    got = np.asarray(got, np.float64)
    if got.shape != expected.shape:
        raise AssertionError(f"{what}: shape {got.shape}, expected {expected.shape}")
    bad = ~(np.abs(got - expected) <= atol + rtol * np.abs(expected))
    if bad.any():
        idx = tuple(int(q) for q in np.unravel_index(int(np.flatnonzero(bad)[0]), got.shape))
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {bad.size} entries differ; at {list(idx)} central "
            f"differences give {float(expected[idx])!r}, GradientTape {float(got[idx])!r}")


def check_jacobians(f, args, order=2, batch=True, eps=1e-6, rtol=1e-5, atol=1e-7, name=None):
    """Checks `tape.jacobian` (and `tape.batch_jacobian`) of `f` up to `order` 2.

    Order 1: the tape's Jacobian of every floating-point output with respect
    to every floating-point argument against central differences of f.
    Order 2: the Jacobian, computed under an outer tape, of that Jacobian
    (`outer.jacobian(inner.jacobian(y, x), x2)`: a batched sweep recorded on
    a tape, then a batched sweep over that record) against central
    differences of the first-order Jacobian. With `batch`, the same for
    `batch_jacobian` wherever an output and an argument share their first
    dimension: the reference is what one batched sweep computes from the full
    Jacobian, [i, t, s] = sum_j J[j, t, i, s], so rows need not be independent.

    Meant for tiny shapes; the arguments are as for `check_grads`.

    >>> import numpy as np
    >>> import fasttape as ft
    >>> from fasttape.testing import check_jacobians
    >>> check_jacobians(lambda x: ft.sin(x) * x, [np.array([[0.5, 1.5], [1.0, 2.0]])])
    """
    name = name or getattr(f, "__name__", repr(f))
    args = _Args(args, f"check_jacobians({name})")
    floats = [i for i in range(len(args.arrays)) if args.is_float[i]]
    modes = (False, True) if batch else (False,)
    for bat in modes:
        what = "batch_jacobian" if bat else "jacobian"
        first = _tape_jacobians(f, args, None, name, bat)
        if not first:
            continue
        # order 1 against central differences of f
        fd = {}
        for i in floats:
            cols = _fd_columns(lambda a: dict(enumerate(_values(f, args, a, name))), args, i, eps)
            for k, c in cols.items():
                fd[k, i] = c
        for (k, i), j in first.items():
            expected = fd[k, i]
            if bat:
                expected = _batch_sum(expected, len(expected.shape) - args.arrays[i].ndim)
            _assert_close(j, expected, rtol, atol,
                          f"{name}: {what} of output {k} w.r.t. argument {i} (order 1)")
        if order < 2:
            continue
        # order 2: the outer tape's (batch_)jacobian of the inner (batch_)jacobian
        xs = args.tensors()
        with GradientTape(persistent=True) as outer:
            outer.watch([xs[i] for i in floats])
            with GradientTape(persistent=True) as inner:
                inner.watch(xs)
                leaves = _leaves(f(*xs), name)
            inner_j = {}
            for (k, i) in first:
                j = (inner.batch_jacobian(leaves[k], xs[i]) if bat
                     else inner.jacobian(leaves[k], xs[i]))
                if j is not None:
                    inner_j[k, i] = j
        for i2 in floats:
            cols = _fd_columns(lambda a, bat=bat: _tape_jacobians(f, args, a, name, bat), args,
                               i2, eps)
            for (k, i), j in first.items():
                if bat and not _batchable(j.shape, args.arrays[i2].shape):
                    continue
                expected = cols[k, i]
                inner_t = inner_j.get((k, i))
                if bat:
                    got = None if inner_t is None else outer.batch_jacobian(inner_t, xs[i2])
                    expected = _batch_sum(expected, j.ndim)
                    shape = j.shape + args.arrays[i2].shape[1:]
                else:
                    got = None if inner_t is None else outer.jacobian(inner_t, xs[i2])
                    shape = j.shape + args.arrays[i2].shape
                _assert_close(_zero_if_none(got, shape), expected, rtol, atol,
                              f"{name}: {what} of the {what} of output {k} w.r.t. argument "
                              f"{i}, then argument {i2} (order 2)")
