"""The op families: each registers an op in the compiled table and returns its public function.

A family supplies what its ops share: the dtype rule, the static shape rule
(for graph mode), argument normalisation and the checks that raise at the call.
A plain new op is one call to a family here plus its OpSpec in
fasttape/testing/op_db.py, its re-export in fasttape/__init__.py (and
ft.math / ft.nn / ft.linalg where TensorFlow has it) and its ApiEntry in
fasttape/testing/tf_paths.py (TensorFlow's paths and NumPy's function for it).
"""

import functools
import inspect
import operator

import numpy as np

from fasttape import errors
from fasttape import graph as _graph
from fasttape._core import core as _core

Tensor = _core.Tensor
convert_to_tensor = _core.convert_to_tensor
convert_like = _core.convert_like
_unary_call = _core.unary_call
_binary_call = _core.binary_call

#: every public op function by name, in registration order
OPS = {}
#: public functions built from ops (no table entry of their own), by name
COMPOSITES = {}

_boundary_error = errors.boundary_error


def _call_inputs(sig, args, kwargs):
    """(values, names) of the arguments a public function was called with, `name` left out."""
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError:
        values = list(args) + list(kwargs.values())
        names = [f"input {i}" for i in range(len(args))] + list(kwargs)
        return tuple(values), names
    values, names = [], []
    for pname, v in bound.arguments.items():
        kind = sig.parameters[pname].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            values += list(v)
            names += [f"{pname}[{i}]" for i in range(len(v))]
        elif kind is inspect.Parameter.VAR_KEYWORD:
            values += list(v.values())
            names += list(v)
        elif pname != "name":
            values.append(v)
            names.append(pname)
    return tuple(values), names


# Note [Op names]
# ~~~~~~~~~~~~~~~
# Every public op function takes `name=` (TensorFlow's signature). Eager mode
# ignores it, and pays one test for it: `name is not None` in the families
# (then one `_staging()` call when a name is given), `_staging()` in the
# guarded functions. In graph mode it names a node, as
# TensorFlow: `ft.add(x, y, name="sum")` is node "sum", tensor "sum:0", its
# constants "sum/y". A function of one table entry names that entry's node
# (`graph.op_name(name, op)`: not the transposes or casts it stages around
# it); a composite (several ops, no entry of its own) ends in an identity
# node of that name, one per output tensor ("name", "name_1", ... for lists).
# Names are made unique in the graph ("sum_1") and prefixed by name scopes.

_staging = _core.staging


def _name_param(fn):
    """(index, default) of `fn`'s `name` parameter, or (None, None)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None, None
    for i, p in enumerate(params):
        if p.name == "name" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            index = i if p.kind is p.POSITIONAL_OR_KEYWORD else 1 << 30
            return index, p.default
    return None, None


def _name_outputs(out, name):
    """A composite's outputs, each through an identity node named `name`
    (Note [Op names]); values that are not graph tensors pass unchanged."""
    identity = OPS["identity"]
    if _core.is_symbolic(out):
        with _graph.op_name(name):
            return identity(out)
    if isinstance(out, (list, tuple)):
        named = [_name_outputs(o, name) for o in out]
        return type(out)(named) if isinstance(out, list) or type(out) is tuple else out
    return out


def _guard(name, fn, op=None, composite=False, names_itself=False):
    """`fn` with Note [Errors at the public boundary]: what escapes it is re-raised
    as a TypeError/ValueError naming op `name`, its arguments and the user's line.
    In graph mode its `name=` argument names table entry `op`'s node, or (a
    `composite`) its outputs: Note [Op names]."""
    at, default = _name_param(fn)

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        try:
            if at is not None and _staging():
                node_name = args[at] if len(args) > at else kwargs.get("name", default)
                if node_name is not None:
                    if names_itself:  # its own code names its node (ft.constant)
                        return fn(*args, **kwargs)
                    if composite:
                        return _name_outputs(fn(*args, **kwargs), node_name)
                    with _graph.op_name(node_name, op):
                        return fn(*args, **kwargs)
            return fn(*args, **kwargs)
        except Exception as e:
            values, names = _call_inputs(inspect.signature(fn), args, kwargs)
            raise _boundary_error(name, e, values, names)  # noqa: B904  (sets its own cause)

    return guarded


def composite(name, names_itself=False):
    """Decorator: a public function built from other ops (no table entry), with
    the public boundary's error handling; listed in COMPOSITES. `names_itself`:
    its `name=` argument is its own business (no identity node is added)."""

    def deco(fn):
        g = _guard(name, fn, composite=True, names_itself=names_itself)
        COMPOSITES[name] = g
        return g

    return deco


def _public(name, op, fn, doc):
    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = doc
    fn.op = op
    op.public_fn = fn
    OPS[name] = fn
    return fn


def _vjp_table(vjp, names):
    """Accepts one VJP (for a one-input op), a {name: fn} dict, or None."""
    if vjp is None or isinstance(vjp, dict):
        return vjp
    if len(names) == 1:
        return {names[0]: vjp}
    return vjp  # the joint form


# --- shape and dtype rules (abstract evaluation; graph mode builds with these) --------
#
# Note [Shape and dtype rules]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# Every entry of the table carries a shape rule and a dtype rule beside its
# forward; `OpDef.abstract_eval(shapes, dtypes, attrs)` runs them. They are
# what graph mode will use to give a symbolic tensor its shape and dtype, so
# they must agree with eager mode, which tests/ops/test_abstract_eval.py
# proves on every op_db sample.
#
# - shape_fn(*input_shapes, *attrs) -> the output shape (a tuple of shapes
#   when n_out > 1). A shape is a tuple of ints and None; None is a dim not
#   known before the op runs. Input ranks are always known; a rule returns
#   None for the whole shape only when the output rank depends on an unknown
#   dim (squeeze without axis, gather_nd with an unknown index depth).
#   Variadic ops get the list of shapes as their one input. The attrs are
#   what the forward receives (normalised by the public function: axes
#   non-negative and sorted, sizes resolved).
# - dtype_fn(*input_dtypes, *attrs) -> the output np.dtype (a tuple when
#   n_out > 1). A weak Python number (`x * 3`) counts as a 0-d input of the
#   tensor operand's dtype. Rules that mix input dtypes and attributes skip
#   the attributes by type (`isinstance(d, np.dtype)`).
# - A rule gives None for an output dim that depends on an unknown input dim
#   or on input values (boolean_mask's count), and never raises for inputs
#   eager mode accepts. Arithmetic on a dim is None when the dim is (`dim`);
#   dims that must be equal are merged with `merge_dims` (None yields to a
#   number), dims that broadcast with `broadcast_shapes`.
# - A rule raises (TypeError/ValueError) only for inputs that no values could
#   make valid: dims that are known and disagree, a rank or dtype the op
#   cannot take. Those are the checks that need only shapes and dtypes, which
#   graph mode runs at build time (eager mode still runs its own, in the
#   public functions, until the dispatch calls the rules: docs/design.md,
#   "Abstract evaluation"). Checks that need values (a singular matrix, an
#   index out of range, a NaN) stay in the forward, so they run when a graph
#   runs.
# - Where ops share a rule, the family helper below owns it (unary: same
#   shape and dtype; binary: broadcast shapes, one dtype; comparisons: bool;
#   reduce: the reduced shape), and the shape_op, linalg_op and nn sections
#   hold the rules their ops share (index_shape, matmul_shape, nn_dtype, ...);
#   an op passes its own only where it differs.


def dim(fn, *dims):
    """fn(*dims) when every dim is known, else None (unknown in, unknown out)."""
    if any(d is None for d in dims):
        return None
    return fn(*dims)


def merge_dims(a, b, what="dimensions"):
    """Two dims that must be equal: the known one (None when both are unknown);
    raises ValueError when both are known and differ."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    raise ValueError(f"{what} {a} and {b} must be equal")


def same_shape(x_shape, *attrs):
    return tuple(x_shape)


def broadcast_shapes(x_shape, y_shape, *more):
    """NumPy's broadcasting on shapes that may hold None (unknown): an unknown
    dim against 1 stays unknown, against n > 1 is n."""
    if more:
        return broadcast_shapes(broadcast_shapes(x_shape, y_shape), *more)
    nd = max(len(x_shape), len(y_shape))
    xs = (1,) * (nd - len(x_shape)) + tuple(x_shape)
    ys = (1,) * (nd - len(y_shape)) + tuple(y_shape)
    out = []
    for a, b in zip(xs, ys):
        if a == 1:
            out.append(b)
        elif b == 1 or b == a:
            out.append(a)
        elif a is None or b is None:
            out.append(a if b is None else b)
        else:
            raise ValueError(f"shapes {tuple(x_shape)} and {tuple(y_shape)} do not broadcast")
    return tuple(out)


def broadcast_all(*shapes):
    """NumPy's broadcasting of any number of shapes of any rank (np.broadcast_shapes
    refuses more than 32 axes); raises ValueError when they do not broadcast."""
    out = ()
    for s in shapes:
        out = broadcast_shapes(out, s)
    return out


def unknown_rank_rule(shape_fn, n_in, n_out=1, variadic=False):
    """`shape_fn` for inputs that may have an unknown rank (None for a whole
    shape): an unknown-rank input gives unknown-rank outputs, unless the rule
    is marked `unknown_rank = True` (it answers itself). See Note [Unknown ranks]."""
    if shape_fn is None or getattr(shape_fn, "unknown_rank", False):
        return shape_fn

    @functools.wraps(shape_fn)
    def rule(*args):
        shapes = args[0] if variadic else args[:n_in]
        if any(s is None for s in shapes):
            return None if n_out == 1 else (None,) * n_out
        return shape_fn(*args)

    rule.unknown_rank = True
    return rule


def reduced_shape(x_shape, axis, keepdims, *attrs):
    if x_shape is None:  # unknown rank: a full reduction is still a scalar
        return () if axis is None and not keepdims else None
    if axis is None:
        axis = range(len(x_shape))
    if keepdims:
        return tuple(1 if i in axis else d for i, d in enumerate(x_shape))
    return tuple(d for i, d in enumerate(x_shape) if i not in axis)


reduced_shape.unknown_rank = True


def nonempty_reduced_shape(x_shape, axis, keepdims, *attrs):
    """`reduced_shape` for reductions without an identity (max, min): an axis
    of size 0 is refused, at the call and at build time alike."""
    if x_shape is not None:
        for i in (range(len(x_shape)) if axis is None else axis):
            if x_shape[i] == 0:
                raise ValueError(f"axis {i} is empty (size 0): this reduction has no identity")
    return reduced_shape(x_shape, axis, keepdims)


nonempty_reduced_shape.unknown_rank = True


def incompatible(a, b):
    """True when shapes `a` and `b` (tuples, None for unknown dims) cannot be
    equal: ranks differ or two known dims differ. The public functions' shape
    checks use it instead of `!=`, so that a graph's unknown dims pass."""
    if getattr(a, "rank", 0) is None or getattr(b, "rank", 0) is None:
        return False  # an unknown rank (Note [Unknown ranks]) may be any shape
    return len(a) != len(b) or any(x is not None and y is not None and x != y
                                   for x, y in zip(a, b))


def same_shapes(shapes):
    """The one shape of several inputs that do not broadcast (add_n): known dims
    must agree; an unknown dim takes the others'."""
    out = list(shapes[0])
    for s in shapes[1:]:
        if len(s) != len(out):
            raise ValueError(f"inputs of ranks {len(shapes[0])} and {len(s)} must have one shape")
        out = [merge_dims(a, b) for a, b in zip(out, s)]
    return tuple(out)


def first_dtype(x_dtype, *attrs):
    """The dtype rule of ops whose output has their first input's dtype."""
    return x_dtype


def bool_dtype(*dtypes_and_attrs):
    """The dtype rule of comparisons and predicates."""
    return np.dtype(bool)


def one_dtype(*dtypes):
    """The one dtype of several inputs (see `same_dtype`); TypeError when they differ."""
    for d in dtypes[1:]:
        if d != dtypes[0]:
            raise TypeError(f"inputs have different dtypes {dtypes[0].name} and {d.name}")
    return dtypes[0]


def float_dtype(x_dtype, *attrs):
    """first_dtype for ops that take floating-point (or complex) tensors only."""
    if x_dtype.kind not in "fc":
        raise TypeError(f"expects a floating-point tensor, got dtype {x_dtype.name}")
    return x_dtype


def ufunc_dtype(ufunc, float_only=False):
    """The dtype rule of an op whose forward is NumPy ufunc `ufunc` on inputs of
    one dtype: NumPy's own type resolution (true_divide of ints is float64,
    abs of complex64 is float32)."""

    def rule(*dtypes):
        if float_only and dtypes[0].kind not in "fc":
            raise TypeError(f"expects a floating-point tensor, got dtype {dtypes[0].name}")
        one_dtype(*dtypes)
        return ufunc.resolve_dtypes(tuple(dtypes) + (None,) * ufunc.nout)[-1]

    return rule


# --- shape_op rules -------------------------------------------------------------------


def segment_shape(data_shape, ids_shape, num_segments):
    """segment sums: num_segments rows of data's trailing shape."""
    if len(ids_shape) > len(data_shape):
        raise ValueError("segment_ids' shape must be a prefix of data's shape")
    for a, b in zip(data_shape, ids_shape):
        merge_dims(a, b, "data and segment_ids dims")
    return (num_segments,) + tuple(data_shape[len(ids_shape):])


def segment_dtype(data_dtype, ids_dtype, *attrs):
    if ids_dtype.kind not in "iu":
        raise TypeError(f"segment_ids must be integers, got {ids_dtype.name}")
    return data_dtype


def _is_int(k):
    return isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))


def _check_index(k, n, axis):
    """A static int index (or int array) into a dim of known size n: NumPy's
    bounds, NumPy's message, at the call and at build time alike."""
    if n is None:
        return
    arr = np.asarray(k)
    if arr.size and arr.dtype.kind in "iu":
        bad = arr[(arr < -n) | (arr >= n)]
        if bad.size:
            raise errors.InvalidArgumentError(
                f"index {bad.flat[0]} is out of bounds for axis {axis} with size {n}")


def index_shape(x_shape, key, *attrs):
    """The shape of x[key] for a NumPy index (getitem): basic (ints, slices,
    None, Ellipsis) and advanced (int and bool arrays: the key is an
    attribute, so a mask's count is known). A slice of an unknown dim is
    unknown, even `:` (the dim itself, which is unknown)."""
    keys = key if isinstance(key, tuple) else (key,)
    keys = tuple(np.asarray(k) if isinstance(k, list) else k for k in keys)

    def used(k):
        if k is None or k is Ellipsis:
            return 0
        if isinstance(k, np.ndarray) and k.dtype == np.bool_:
            return k.ndim
        return 1

    n_used = sum(used(k) for k in keys)
    if n_used > len(x_shape):
        raise ValueError(f"too many indices ({n_used}) for a tensor of rank {len(x_shape)}")
    fill = (slice(None),) * (len(x_shape) - n_used)
    ell = [i for i, k in enumerate(keys) if k is Ellipsis]
    keys = keys[:ell[0]] + fill + keys[ell[0] + 1:] if ell else keys + fill
    has_adv = any(isinstance(k, np.ndarray) and k.ndim > 0 or
                  isinstance(k, np.ndarray) and k.dtype == np.bool_ for k in keys)
    out, adv_shapes, adv_at, adv_keys, d = [], [], None, [], 0
    for i, k in enumerate(keys):
        if k is None:
            out.append(1)
        elif isinstance(k, slice):
            n = x_shape[d]
            d += 1
            out.append(None if n is None else len(range(*k.indices(n))))
        elif (_is_int(k) or isinstance(k, np.ndarray) and k.ndim == 0
              and k.dtype != np.bool_) and not has_adv:
            _check_index(k, x_shape[d], d)
            d += 1
        else:
            arr = np.asarray(k)
            if arr.dtype == np.bool_:
                adv_shapes.append((int(arr.sum()),))
                d += arr.ndim
            else:
                _check_index(arr, x_shape[d], d)
                adv_shapes.append(arr.shape)
                d += 1
            if adv_at is None:
                adv_at = len(out)
            adv_keys.append(i)
    if adv_keys:
        b = tuple(np.broadcast_shapes(*adv_shapes))
        if adv_keys[-1] - adv_keys[0] + 1 != len(adv_keys):
            adv_at = 0  # advanced indices apart: their axes go first (NumPy)
        out = out[:adv_at] + list(b) + out[adv_at:]
    return tuple(out)


def reshape_shape(x_shape, shape):
    """reshape: `shape`, its -1 the rest of the size (unknown with unknown dims)."""
    shape = tuple(shape)
    size = None if None in x_shape else int(np.prod(x_shape))
    rest = int(np.prod([d for d in shape if d != -1]))
    if -1 in shape:
        fill = None
        if size is not None:
            if rest == 0 or size % rest:
                raise ValueError(f"cannot reshape a tensor of shape {x_shape} to {list(shape)}")
            fill = size // rest
        return tuple(fill if d == -1 else d for d in shape)
    if size is not None and size != rest:
        raise ValueError(f"cannot reshape a tensor of shape {x_shape} to {list(shape)}")
    return shape


def squeeze_shape(x_shape, axes):
    """squeeze: without `axes`, every dim 1 goes; an unknown dim makes the rank
    unknown (None: the whole shape)."""
    if axes is None:
        if None in x_shape:
            return None
        return tuple(d for d in x_shape if d != 1)
    for a in axes:
        merge_dims(x_shape[a], 1, "squeezed dim and")
    return tuple(d for i, d in enumerate(x_shape) if i not in axes)


def concat_shape(shapes, axis):
    rank = len(shapes[0])
    out = list(shapes[0])
    for s in shapes[1:]:
        if len(s) != rank:
            raise ValueError(f"inputs of ranks {rank} and {len(s)} do not concatenate")
        for i, d in enumerate(s):
            if i != axis:
                out[i] = merge_dims(out[i], d, f"dims along axis {i}:")
    out[axis] = dim(lambda *ds: sum(ds), *[s[axis] for s in shapes])
    return tuple(out)


def stack_shape(shapes, axis):
    one = same_shapes(shapes)
    return one[:axis] + (len(shapes),) + one[axis:]


def gather_shape(p_shape, i_shape, axis, batch_dims):
    for a, b in zip(p_shape[:batch_dims], i_shape[:batch_dims]):
        merge_dims(a, b, "batch dims")
    return tuple(p_shape[:axis]) + tuple(i_shape[batch_dims:]) + tuple(p_shape[axis + 1:])


def gather_nd_shape(p_shape, i_shape, batch_dims):
    k = i_shape[-1]
    if k is None:
        return None  # the rank depends on the unknown index depth
    return tuple(i_shape[:-1]) + tuple(p_shape[batch_dims + k:])


def indices_dtype(first, indices_dtype, *rest):
    """Rules of gathers and scatters: integer indices; the data's dtype
    (`first` and the dtypes among `rest`, the other data inputs, of one dtype;
    the other entries of `rest` are attributes)."""
    if indices_dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, got {indices_dtype.name}")
    return one_dtype(first, *[r for r in rest if isinstance(r, np.dtype)])


def check_pad_fits(x_shape, paddings, mode):
    """REFLECT and SYMMETRIC paddings fit inside the dims they mirror: the one
    check of pad's rule (build time) and forward (a dim a graph did not know)."""
    if mode in ("REFLECT", "SYMMETRIC"):
        slack = 1 if mode == "REFLECT" else 0
        for ax, ((lo, hi), n) in enumerate(zip(paddings, x_shape, strict=True)):
            if n is not None and max(lo, hi) > n - slack:
                raise errors.InvalidArgumentError(
                    f"{mode} paddings must be at most {n - slack} along axis {ax} of size {n}, "
                    f"got {[lo, hi]}")


def pad_shape(x_shape, paddings, *attrs):
    if attrs:
        check_pad_fits(x_shape, paddings, attrs[0])
    return tuple(None if d is None else lo + d + hi for d, (lo, hi) in zip(x_shape, paddings))


def tile_shape(x_shape, multiples):
    return tuple(None if d is None else d * k for d, k in zip(x_shape, multiples))


def broadcast_to_shape(x_shape, shape):
    """broadcast_to: `shape`, which x's shape must broadcast to."""
    if broadcast_shapes(x_shape, shape) != tuple(shape) and None not in x_shape:
        raise ValueError(f"shape {tuple(x_shape)} does not broadcast to {list(shape)}")
    return tuple(shape)


def one_hot_shape(i_shape, depth, on, off, axis, dtype):
    return tuple(i_shape[:axis]) + (depth,) + tuple(i_shape[axis:])


def attr_dtype(*args):
    """The dtype rule of ops whose output dtype is their last attribute."""
    return np.dtype(args[-1])


# --- linalg_op rules ------------------------------------------------------------------


def _broadcast_dim(a, b):
    return broadcast_shapes((a,), (b,))[0]


def matmul_shape(a_shape, b_shape):
    """matmul: broadcast batch axes, (n, k) @ (k, m); a 1-D side has no n (m)."""
    if len(a_shape) == 0 or len(b_shape) == 0:
        raise ValueError("matmul needs tensors of rank >= 1")
    k_b = b_shape[-2] if len(b_shape) > 1 else b_shape[0]
    merge_dims(a_shape[-1], k_b, "the inner dims")
    return (broadcast_shapes(a_shape[:-2], b_shape[:-2]) + tuple(a_shape[-2:-1])
            + (tuple(b_shape[-1:]) if len(b_shape) > 1 else ()))


def tensordot_shape(a_shape, b_shape, axes):
    a_axes, b_axes = axes
    for i, j in zip(a_axes, b_axes):
        merge_dims(a_shape[i], b_shape[j], "the contracted dims")
    return (tuple(d for i, d in enumerate(a_shape) if i not in a_axes)
            + tuple(d for j, d in enumerate(b_shape) if j not in b_axes))


def einsum_shape(shapes, equation):
    """einsum: each letter's size (NumPy broadcasts a size 1), '...' right-aligned."""
    eq = equation.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(shapes):
        raise ValueError(f"the equation names {len(ins)} operands but {len(shapes)} were given")
    fresh = (c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in eq)
    ranks = [len(s) - len(p.replace("...", "")) for p, s in zip(ins, shapes)]
    ell = "".join(next(fresh) for _ in range(max(ranks, default=0)))
    ins = [p.replace("...", ell[len(ell) - r:]) for p, r in zip(ins, ranks)]
    if not arrow:
        letters = "".join(ins)
        out = ell + "".join(sorted(c for c in set(letters) if c not in ell
                                   and letters.count(c) == 1))
    else:
        out = out.replace("...", ell)
    sizes = {}
    for p, s in zip(ins, shapes):
        if len(p) != len(s):
            raise ValueError(f"subscripts {p!r} do not match a rank-{len(s)} operand")
        for c, n in zip(p, s):
            sizes[c] = _broadcast_dim(sizes[c], n) if c in sizes else n
    return tuple(sizes[c] for c in out)


def square_shape(x_shape, *attrs):
    """Square matrices in the last two axes (inv, cholesky): x's shape."""
    if len(x_shape) < 2:
        raise ValueError(f"needs matrices (rank >= 2), got rank {len(x_shape)}")
    merge_dims(x_shape[-2], x_shape[-1], "matrix dims")
    return tuple(x_shape)


def det_shape(x_shape, *attrs):
    return square_shape(x_shape)[:-2]


def solve_shape(m_shape, rhs_shape, adjoint):
    square_shape(m_shape)
    if len(rhs_shape) < 2:
        raise ValueError(f"rhs must have rank >= 2, got rank {len(rhs_shape)}")
    merge_dims(m_shape[-1], rhs_shape[-2], "matrix and rhs dims")
    return broadcast_shapes(m_shape[:-2], rhs_shape[:-2]) + tuple(rhs_shape[-2:])


def linalg_dtype(*dtypes_and_attrs):
    """Matrix decompositions and solves: floating-point (or complex) inputs of one dtype."""
    dtypes = [d for d in dtypes_and_attrs if isinstance(d, np.dtype)]
    return float_dtype(one_dtype(*dtypes))


# --- nn rules -------------------------------------------------------------------------


def nn_dtype(*dtypes_and_attrs):
    """nn ops: floating-point inputs of one dtype (attributes are skipped)."""
    return float_dtype(one_dtype(*[d for d in dtypes_and_attrs if isinstance(d, np.dtype)]))


def nn_dtype2(*dtypes_and_attrs):
    """`nn_dtype` for ops with two outputs of that dtype."""
    return (nn_dtype(*dtypes_and_attrs),) * 2


def sparse_xent_shape(labels_shape, logits_shape):
    """(loss: labels' shape, backprop: logits' shape); labels = logits[:-1]."""
    if len(logits_shape) != len(labels_shape) + 1:
        raise ValueError(f"labels must have rank {len(logits_shape) - 1} (logits' rank - 1)")
    for a, b in zip(labels_shape, logits_shape):
        merge_dims(a, b, "labels and logits dims")
    return tuple(labels_shape), tuple(logits_shape)


def sparse_xent_dtype(labels_dtype, logits_dtype):
    if labels_dtype.kind not in "iu":
        raise TypeError(f"labels must be integers, got {labels_dtype.name}")
    return (float_dtype(logits_dtype),) * 2


# --- families -----------------------------------------------------------------
#
# A family is a label (what `repr(op)` and the hostile suite group by), never
# a meaning: what an op does is read from its flags (elementwise, stateful,
# batchable, differentiable, variadic), which every entry states.
# tests/ops/test_op_table_entries.py checks the flags against behaviour and
# that no code compares a family name. The labels: unary and binary
# (elementwise of one and of two inputs), nondiff (elementwise, no gradient),
# select (three-input where), elementwise (clip_by_value), variadic (add_n),
# reduce, shape_op, linalg_op, nn, creation and random.
#
# Note [Creation and random ops]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# Nothing computes an op outside the table: a function that returns a new
# tensor runs at least one entry, so that the one dispatch sees every op and
# graph mode can stage it (tests/ops/test_op_table_entries.py runs every
# public function on its op_db samples and fails when none ran).
#
# - Creation ops (family "creation": zeros, ones, fill, range, eye, linspace,
#   zeros_like, ones_like) are entries whose shape, dtype and values are
#   attributes; they have no tensor inputs but the ones a graph would feed
#   (`*_like`'s input, fill's value, linspace's start and stop), and none is
#   differentiable (as before: a created tensor is a constant of the tape).
#   `OpDef.apply((), attrs)` runs them: the dispatch calls forward(*attrs),
#   and recording finds no input a tape follows, so nothing is recorded.
# - Random ops (family "random": ft.random.normal, uniform, truncated_normal,
#   shuffle) are flagged stateful: their forward draws, at each run, from
#   fasttape.ops.random_ops.rng(seed): a fresh NumPy Generator seeded with
#   the op-level `seed` attribute when one is given (the same numbers every
#   run), else the calling thread's Generator, which ft.random.set_seed
#   reseeds (and whose seed new threads start from). Graph mode must not fold,
#   deduplicate or cache a stateful op: running a graph twice draws twice.
# - Dropout draws its mask inside its forward and returns (x * mask, mask):
#   the mask as an attribute (drawn in Python by the public function, as it
#   was) would be frozen into a traced graph, every run dropping the same
#   units. As the second output, the tape saves it for the VJP (g * mask), so
#   the gradient goes through the mask the forward drew; the public function
#   returns the first output. The numbers drawn are those drawn before (flat,
#   `rng(seed).random(size) >= rate`), so a seed gives the same results.
# - where(condition) alone is the entry `_where_indices` (int64 coordinates;
#   its row count depends on the values: None in the shape rule).
# - Left outside the table on purpose: ft.constant / convert_to_tensor (the
#   leaf: Python data becomes a tensor; a graph embeds it as a constant), and
#   in backprop the zeros the sweep returns for unconnected sources
#   (unconnected_gradients="zero"), the identity seeds of jacobian and
#   custom_gradient's zero cotangents: the sweep's values, not ops a user called.


def _unary_fn(op, op_name):
    """The public function of an elementwise op of one input: the unary fast
    path, errors re-raised at the public boundary. One code object for every
    such op, registered for Note [Temporary elision] (x is passed straight through)."""

    def fn(x, name=None):
        try:
            if name is not None and _staging():  # Note [Op names]
                with _graph.op_name(name, op):
                    return _unary_call(op, x)
            return _unary_call(op, x)
        except Exception as e:
            raise _boundary_error(op_name, e, (x,), ("x",))  # noqa: B904

    _core.allow_elision_from(fn.__code__)
    return fn


def _binary_fn(op, op_name):
    """The public function of an elementwise op of `x` and `y` (see _unary_fn)."""

    def fn(x, y, name=None):
        try:
            if not isinstance(x, Tensor) and not isinstance(y, Tensor):
                x = convert_to_tensor(x)
            if name is not None and _staging():  # Note [Op names]
                with _graph.op_name(name, op):
                    return _binary_call(op, x, y)
            return _binary_call(op, x, y)
        except Exception as e:
            raise _boundary_error(op_name, e, (x, y), ("x", "y"))  # noqa: B904

    _core.allow_elision_from(fn.__code__)
    return fn


def unary(name, forward, vjp, *, float_only=True, doc=None, dtype_fn=None):
    """An elementwise op of one input `x`; its VJP names g, x and/or out.
    Shape rule: x's shape; dtype rule: x's dtype (NumPy's for a ufunc forward)."""
    if dtype_fn is None:
        dtype_fn = (ufunc_dtype(forward, float_only) if isinstance(forward, np.ufunc)
                    else float_dtype if float_only else first_dtype)
    op = _core.register_op(
        name, "unary", forward, ("x",), _vjp_table(vjp, ("x",)),
        shape_fn=unknown_rank_rule(same_shape, 1), dtype_fn=dtype_fn, float_only=float_only,
        elementwise=True,
        inplace_ufunc=isinstance(forward, np.ufunc))  # Note [Temporary elision]

    return _public(name, op, _unary_fn(op, name),
                   doc or f"Elementwise {name} of `x`; returns a Tensor of its shape.")


def binary(name, forward, vjp, *, doc=None, family="binary", dtype_fn=None):
    """An elementwise op of `x` and `y` with NumPy broadcasting; both of one
    dtype (Python scalars take the tensor's). The sweep sums each gradient
    back to its input's shape. Shape rule: the broadcast shape; dtype rule:
    the inputs' one dtype (NumPy's for a ufunc forward)."""
    if dtype_fn is None:
        dtype_fn = ufunc_dtype(forward) if isinstance(forward, np.ufunc) else one_dtype
    op = _core.register_op(
        name, family, forward, ("x", "y"), vjp, shape_fn=unknown_rank_rule(broadcast_shapes, 2),
        dtype_fn=dtype_fn,
        elementwise=True, inplace_ufunc=isinstance(forward, np.ufunc))  # Note [Temporary elision]

    return _public(
        name, op, _binary_fn(op, name),
        doc or f"Elementwise {name} of `x` and `y`, with broadcasting; returns a Tensor.")


def nondiff(name, forward, *, n_inputs=2, doc=None, dtype_fn=None):
    """An elementwise op without a gradient (comparisons, logic): never recorded.
    Shape rule: x's shape or the broadcast shape; dtype rule: bool (bitwise
    ops pass `ufunc_dtype`)."""
    if dtype_fn is None:
        dtype_fn = bool_dtype
    if n_inputs == 1:
        op = _core.register_op(name, "nondiff", forward, ("x",), None,
                               shape_fn=unknown_rank_rule(same_shape, 1),
                               dtype_fn=dtype_fn, elementwise=True)
        fn = _unary_fn(op, name)
    else:
        op = _core.register_op(name, "nondiff", forward, ("x", "y"), None,
                               shape_fn=unknown_rank_rule(broadcast_shapes, 2), dtype_fn=dtype_fn,
                               elementwise=True)
        fn = _binary_fn(op, name)
    return _public(name, op, fn, doc or f"Elementwise {name}; not differentiable.")


def strict_index(value):
    """operator.index, but a bool is not an int here (True would be 1)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"expected an int, got {value!r}")
    return operator.index(value)


def _index(op_name, inputs, value, what, names=None):
    """One int from an int, a NumPy integer or a 0-d integer Tensor; floats,
    strings and bools raise TypeError (int(2.9) would silently give 2)."""
    if isinstance(value, Tensor):
        value = value.numpy()[()] if value.ndim == 0 else value
    if isinstance(value, (bool, np.bool_)):
        raise errors.op_error(TypeError, op_name, inputs, f"{what} must be an int, got {value!r}",
                              names)
    try:
        return operator.index(value)
    except TypeError:
        raise errors.op_error(TypeError, op_name, inputs, f"{what} must be an int, got {value!r}",
                              names) from None


def normalize_int(op_name, value, what, inputs=(), names=None, *, minimum=None):
    """A count or size argument (depth, num, num_rows, batch_dims, ...) as a
    Python int, at least `minimum` when given. See Note [Shape and axis arguments]."""
    n = _index(op_name, inputs, value, what, names)
    if minimum is not None and n < minimum:
        raise errors.op_error(ValueError, op_name, inputs,
                              f"{what} must be at least {minimum}, got {n}", names)
    return n


def normalize_ints(op_name, value, what="shape", inputs=(), names=None):
    """A list of ints (a shape, perm, begin, multiples, ...) given as an int,
    a sequence of ints, a TensorShape, or a 0-d/1-D integer ndarray or Tensor,
    as a tuple of Python ints. Floats, strings and bools raise TypeError.

    Note [Shape and axis arguments]
    ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    Every op that takes a shape, an axis, a size or a count normalises it
    here, through `normalize_ints`, `normalize_shape`, `normalize_int` or
    `normalize_axis`, which accept Python ints, NumPy integers and integer
    tensors only: int() would truncate 2.9 to 2 and accept '12'.
    """
    if isinstance(value, Tensor):
        value = value.numpy()
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.dtype.kind not in "iu"
                                  and value.size):  # (np.array([]) is float64: a rank-0 shape)
        raise errors.op_error(TypeError, op_name, inputs, f"{what} must be ints, got {value!r}",
                              names)
    if isinstance(value, np.ndarray):
        if value.ndim > 1:
            raise errors.op_error(ValueError, op_name, inputs,
                                  f"{what} must be an int or a 1-D list of ints, got rank "
                                  f"{value.ndim}", names)
        return tuple(value.reshape(-1).tolist())
    if not isinstance(value, (list, tuple)):
        return (_index(op_name, inputs, value, what, names),)
    return tuple(_index(op_name, inputs, v, what, names) for v in value)


def normalize_shape(op_name, shape, inputs=(), names=None, *, allow_unknown=False):
    """A shape argument as a tuple of non-negative ints (one -1, "the rest",
    when `allow_unknown`: reshape). See Note [Shape and axis arguments]."""
    dims = normalize_ints(op_name, shape, "shape", inputs, names)
    unknown = [d for d in dims if d == -1] if allow_unknown else []
    if len(unknown) > 1 or any(d < 0 and not (allow_unknown and d == -1) for d in dims):
        raise errors.op_error(ValueError, op_name, inputs,
                              f"shape {list(dims)} must hold non-negative sizes"
                              + (" and at most one -1" if allow_unknown else ""), names)
    return dims


_core.set_special("normalize_shape", normalize_shape)


def normalize_axis(op_name, x, axis, rank=None):
    """axis (None, int or a sequence) as None or a sorted tuple of non-negative
    ints, checked against x's rank (or `rank`: x.ndim + 1 for ops that insert
    an axis). See Note [Shape and axis arguments]."""
    if axis is None:
        return None
    nd = x.ndim if rank is None else rank
    if isinstance(axis, Tensor):
        axis = axis.numpy()
    if isinstance(axis, np.ndarray) and axis.dtype.kind not in "iu":
        raise errors.op_error(TypeError, op_name, (x,), f"axis must be int, got {axis!r}")
    if isinstance(axis, np.ndarray):
        axis = axis.tolist()
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    out = []
    for a in axes:
        if isinstance(a, (bool, np.bool_)):
            raise errors.op_error(TypeError, op_name, (x,), f"axis must be int, got {a!r}")
        try:
            a = operator.index(a)  # ints only: int(1.5) would silently give axis 1
        except TypeError:
            raise errors.op_error(
                TypeError, op_name, (x,), f"axis must be int, got {a!r}") from None
        if nd is None:  # unknown rank (Note [Unknown ranks]): axes >= 0 are kept as given
            if a < 0:
                raise errors.op_error(ValueError, op_name, (x,), errors.unknown_rank_detail(
                    f"the tensor (for the negative axis {a})"))
            out.append(a)
            continue
        if not -nd <= a < nd:
            raise errors.op_error(
                ValueError, op_name, (x,), f"axis {a} is out of range for a tensor of rank {nd}")
        out.append(a % nd)
    if len(set(out)) != len(out):
        raise errors.op_error(ValueError, op_name, (x,), f"axis {axis} has repeated entries")
    return tuple(sorted(out))


def same_dtype(op_name, values, names=None):
    """`values` as Tensors of one dtype: the one dtype rule of multi-input ops.

    Tensors, NumPy arrays and NumPy scalars keep their dtype; Python numbers
    and lists take the first of those (Note [Weak Python data] in
    _convert.pxi). Two different dtypes raise TypeError naming both.
    """
    ref = None
    for v in values:
        if isinstance(v, (Tensor, np.ndarray, np.generic)):
            ref = v.dtype
            break
    try:
        if ref is None and values:  # Python data only: floats win over ints, as in one list
            ref = convert_to_tensor(values[0]).dtype
            if ref.kind in "iub" and any(isinstance(v, float) for v in values):
                ref = np.dtype(np.float32)
        if ref is not None and ref.kind in "US":
            out = _same_string_width([v if isinstance(v, Tensor) else convert_to_tensor(v)
                                      for v in values])
        else:
            out = [convert_like(v, ref) for v in values]
    except (TypeError, ValueError) as e:  # a Python number that does not fit `ref`
        shown = tuple(v for v in values if isinstance(v, (Tensor, np.ndarray, np.generic)))
        raise errors.op_error(type(e), op_name, shown, str(e)) from None
    dtypes = []
    for t in out:
        if t.dtype not in dtypes:
            dtypes.append(t.dtype)
    if len(dtypes) > 1:
        raise errors.op_error(
            TypeError, op_name, tuple(out),
            f"inputs have different dtypes {dtypes[0].name} and {dtypes[1].name}; convert one "
            f"with ft.cast(x, {dtypes[0].name!r}) (NumPy arrays and scalars keep their dtype; "
            "Python numbers take the tensors')", names)
    return out


def _same_string_width(tensors):
    """Strings of one kind (str or bytes) in the widest of their NumPy widths:
    TensorFlow has one string dtype whatever the lengths, and a narrower
    width would truncate ('abc' taken "like" '' is 'a'). Graph tensors keep
    their widths."""
    kinds = {t.dtype.kind for t in tensors}
    if len(kinds) != 1 or any(_core.is_symbolic(t) for t in tensors):
        return tensors
    width = np.result_type(*[t.dtype for t in tensors])
    return [t if t.dtype == width else
            _core.wrap_array(np.asarray(_core.tensor_value(t), dtype=width)) for t in tensors]


def single_axis(op_name, x, axis, inputs=None, names=None):
    """One axis (an int, or a one-entry list) of x, as a non-negative int; `axis=[]`,
    None and several axes raise a named error (not an IndexError)."""
    axes = normalize_axis(op_name, x, axis)
    if axes is None or len(axes) != 1:
        raise errors.op_error(ValueError if axes is not None else TypeError, op_name,
                              inputs if inputs is not None else (x,),
                              f"axis must be one int, got {axis!r}", names)
    return axes[0]



def reduce(name, forward, vjp, *, float_only=False, doc=None, dtype_fn=None, shape_fn=None):
    """A reduction over `axis` (None: all) with `keepdims`; forward(x, axis, keepdims).
    Shape rule: `reduced_shape` (or `shape_fn`); dtype rule: x's dtype."""
    op = _core.register_op(
        name, "reduce", forward, ("x",), _vjp_table(vjp, ("x",)),
        attr_names=("axis", "keepdims"), shape_fn=shape_fn or reduced_shape,
        dtype_fn=dtype_fn or (float_dtype if float_only else first_dtype),
        batchable=True)  # their VJPs go through math_ops._expand, which keeps g's leading axes

    def fn(input_tensor, axis=None, keepdims=False, name=None):
        try:
            x = (input_tensor if isinstance(input_tensor, Tensor)
                 else convert_to_tensor(input_tensor))
            if float_only and x.dtype.kind not in "fc":
                raise errors.op_error(TypeError, name_, (x,),
                                      f"expects a floating-point tensor, got {x.dtype.name}")
            if name is not None and _staging():  # Note [Op names]
                with _graph.op_name(name, op):
                    return op.apply((x,), (normalize_axis(name_, x, axis), bool(keepdims)))
            return op.apply((x,), (normalize_axis(name_, x, axis), bool(keepdims)))
        except Exception as e:
            raise _boundary_error(name_, e, (input_tensor, axis, keepdims),  # noqa: B904
                                  ("input_tensor", "axis", "keepdims"))

    name_ = name
    return _public(
        name, op, fn,
        doc or f"{name} of `input_tensor` over `axis` (all axes when None); "
        "`keepdims` keeps reduced axes with size 1.")


def register(name, family, forward, input_names, vjp=None, **kwargs):
    """A raw table entry for ops with their own signature (shape ops, linalg,
    nn): the caller writes the public function around `op.apply`. A variadic
    op's VJP is always the joint form: it returns one gradient per input."""
    if not kwargs.get("variadic"):
        vjp = _vjp_table(vjp, tuple(input_names))
    if kwargs.get("shape_fn") is not None:
        kwargs["shape_fn"] = unknown_rank_rule(kwargs["shape_fn"], len(input_names),
                                               kwargs.get("n_out", 1),
                                               kwargs.get("variadic", False))
    return _core.register_op(name, family, forward, tuple(input_names), vjp, **kwargs)


def public(name, op, doc):
    """Decorator: marks `fn` as the public function of table entry `op`."""

    def deco(fn):
        return _public(name, op, _guard(name, fn, op), doc or fn.__doc__)

    return deco


def unknown_dim_error(op_name, inputs, what, names=None):
    """The build-time error of a public function that needs a dim a graph
    tensor does not know (unstack's count, split's equal pieces): a ValueError
    naming the op, never a crash on None arithmetic."""
    return errors.op_error(
        ValueError, op_name, inputs,
        f"{what} is unknown (None), and this op needs it when the graph is built; give the "
        "tensor a static shape (the placeholder's shape, or set_shape)", names)


def known_rank(op_name, inputs, names=None):
    """Raises the build-time error of Note [Unknown ranks] when one of `inputs`
    (tensors) is a graph tensor of unknown rank: for public functions whose
    attributes need the rank (one entry per axis)."""
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.ndim is None:
            what = names[i] if names is not None and i < len(names) else f"input {i}"
            raise errors.op_error(ValueError, op_name, tuple(inputs),
                                  errors.unknown_rank_detail(what), names)


def check_range(values, n, what, where=""):
    """A value check of a forward: raises InvalidArgumentError when an entry of
    the integer array `values` lies outside [0, n). It runs in the forward, so
    in graph mode it runs when the graph runs (Note [Shape and dtype rules])."""
    if values.size and (values.min() < 0 or values.max() >= n):
        raise errors.InvalidArgumentError(
            f"{what} must lie in [0, {n}){' ' + where if where else ''}, got "
            f"[{values.min()}, {values.max()}]")


def in_place(vjp, variant, into="g"):
    """Gives an elementwise op's VJP an in-place variant: `variant` takes the
    same arguments and computes the same result bitwise (the same ufunc calls
    on the same values), writing it into the buffer of argument `into`: g,
    or a saved input or output (`out=`). The sweep calls it when nothing else
    can see that buffer: Note [Gradients in place] in
    fasttape/_core/_sweep.pxi. Returns vjp."""
    vjp.in_place = variant
    vjp.in_place_into = into
    return vjp


def masked(g, keep):
    """g where the bool `keep` holds, else 0: the VJP of relu-like selections.

    It multiplies by the mask (2-3x faster than np.where; an inf or NaN in g
    where keep is False gives NaN, not 0): on arrays directly, on Tensors
    (higher order) and graph tensors through the table's `_masked` op, so a
    traced gradient takes the same step as eager mode.
    """
    if isinstance(g, np.ndarray) and isinstance(keep, np.ndarray):
        return g * keep
    return _masked_op.apply((g, keep), ())


# g * keep for a float g and a bool mask keep: a gradient helper with no
# public function (its OpSpec is relu's)
_masked_op = register("_masked", "binary", lambda grad, keep: grad * keep, ("grad", "keep"),
                      {"grad": in_place(lambda g, keep: masked(g, keep),
                                        lambda g, keep: np.multiply(g, keep, out=g))},
                      shape_fn=broadcast_shapes,
                      dtype_fn=first_dtype, elementwise=True)


def relu_grad(g, out):
    """g where out > 0, else 0: relu's VJP (TensorFlow's ReluGrad), bitwise
    masked(g, out > 0) in one vectorised pass (_core.relu_grad_ufunc); on
    Tensors (higher order) and graph tensors through the table's `_relu_grad`
    op. Its gradient in g is itself; out only selects."""
    if isinstance(g, np.ndarray) and isinstance(out, np.ndarray):
        return _core.relu_grad_ufunc(g, out)
    return _relu_grad_op.apply((g, out), ())


# (its VJP's `out` would be this op's output: the relu output is `activation`)
_relu_grad_op = register("_relu_grad", "binary", _core.relu_grad_ufunc, ("grad", "activation"),
                         {"grad": in_place(lambda g, activation: relu_grad(g, activation),
                                           lambda g, activation: _core.relu_grad_ufunc(
                                               g, activation, out=g))},
                         shape_fn=broadcast_shapes, dtype_fn=first_dtype, elementwise=True,
                         inplace_ufunc=True)


def call_op(op, inputs, attrs=()):
    """Runs table entry `op` from inside a VJP: on raw arrays it calls the
    forward directly (first order, nothing to record); on Tensors it goes
    through the op so that an outer tape records it (higher order)."""
    if any(isinstance(x, Tensor) for x in inputs):
        return op.apply(inputs, attrs)
    return op.forward(*inputs, *attrs)
