"""The op table, part 4: neural-network ops (softmax family, losses, convolution,
pooling, normalisation, dropout, embeddings).

Numerically stable forms: softmax and log_softmax subtract the row maximum;
the cross-entropies return a second output (the backprop or the log-softmax)
that the backward pass reuses. Convolutions are im2col plus one BLAS matmul;
their input and filter gradients are private ops with VJPs of their own, so
that gradients of any order flow (Note [Convolution gradients]).
"""

import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from fasttape import errors
from fasttape._core import core as _core
from fasttape.ops import _registry as _rules
from fasttape.ops import random_ops as _random
from fasttape.ops._registry import (
    Tensor,
    broadcast_all,
    call_op,
    check_range,
    convert_to_tensor,
    incompatible,
    known_rank,
    normalize_axis,
    public,
    register,
    same_dtype,
    single_axis,
    strict_index,
    unknown_dim_error,
)
from fasttape.ops.array_ops import _index_add_op, concat, transpose


def _float(op_name, x, name="logits"):
    x = x if isinstance(x, Tensor) else convert_to_tensor(x)
    if x.dtype.kind != "f":
        raise errors.op_error(
            TypeError,
            op_name,
            (x,),
            f"expects a floating-point tensor, got {x.dtype.name}",
            (name,),
        )
    return x


def _softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x, axis):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _softmax_shape(s, axis):
    """softmax's shape rule: x's shape; an empty `axis` has no maximum to shift by."""
    if s[axis] == 0:
        raise ValueError(f"axis {axis} is empty (size 0)")
    return s


_softmax_op = register(
    "softmax",
    "nn",
    _softmax,
    ("logits",),
    lambda g, out, axis: out * (g - np.sum(g * out, axis=axis, keepdims=True)),
    attr_names=("axis",),
    shape_fn=_softmax_shape,
    dtype_fn=_rules.nn_dtype,
)
_log_softmax_op = register(
    "log_softmax",
    "nn",
    _log_softmax,
    ("logits",),
    lambda g, out, axis: g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),
    attr_names=("axis",),
    shape_fn=_softmax_shape,
    dtype_fn=_rules.nn_dtype,
)


@public("softmax", _softmax_op, None)
def softmax(logits, axis=-1, name=None):
    """exp(logits) / sum(exp(logits)) along `axis` (stable)."""
    x = _float("softmax", logits)
    return _softmax_op.apply((x,), (single_axis("softmax", x, axis),))


@public("log_softmax", _log_softmax_op, None)
def log_softmax(logits, axis=-1, name=None):
    """logits - logsumexp(logits) along `axis` (stable)."""
    x = _float("log_softmax", logits)
    return _log_softmax_op.apply((x,), (single_axis("log_softmax", x, axis),))


def _one_hot_like(labels, p):
    labels = labels.numpy() if isinstance(labels, Tensor) else labels
    out = np.zeros((labels.size, p.shape[-1]), dtype=p.dtype)
    out[np.arange(labels.size), labels.reshape(-1)] = 1
    return out.reshape(p.shape)


def _sparse_xent(labels, logits):
    c = logits.shape[-1]
    check_range(labels, c, "labels")
    flat = logits.reshape(-1, c)
    lab = labels.reshape(-1)
    rows = np.arange(flat.shape[0])
    m = flat.max(axis=1, keepdims=True)
    loss = m[:, 0] - flat[rows, lab]
    e = flat - m  # a fresh array, then exp, then the softmax in place
    np.exp(e, out=e)
    s = e.sum(axis=1, keepdims=True)
    loss += np.log(s[:, 0])
    e /= s
    e[rows, lab] -= 1  # backprop: softmax - onehot
    return loss.reshape(labels.shape), e.reshape(logits.shape)


def _sparse_xent_vjp(g0, g1, out1, labels):
    # out1 = softmax(logits) - onehot(labels): d loss / d logits. Its own
    # cotangent g1 only arrives in higher-order sweeps. g0 may be a lazy
    # broadcast gradient (see Note [Broadcast gradients] in _core): [..., None]
    # keeps it broadcastable.
    grad = g0[..., None] * out1 if g0 is not None else None
    if g1 is not None:
        p = out1 + _one_hot_like(labels, out1)
        jvp = p * (g1 - np.sum(g1 * p, axis=-1, keepdims=True))
        grad = jvp if grad is None else grad + jvp
    return grad


_sparse_xent_op = register(
    "sparse_softmax_cross_entropy_with_logits",
    "nn",
    _sparse_xent,
    ("labels", "logits"),
    {"logits": _sparse_xent_vjp},
    n_out=2,
    broadcast_grads=True,
    batchable=True,
    shape_fn=_rules.sparse_xent_shape,
    dtype_fn=_rules.sparse_xent_dtype,
)


@public("sparse_softmax_cross_entropy_with_logits", _sparse_xent_op, None)
def sparse_softmax_cross_entropy_with_logits(labels, logits, name=None):
    """Cross-entropy of softmax(logits) against integer class `labels`, per example.

    labels: integers of shape logits.shape[:-1], each in [0, num_classes).
    """
    x = _float("sparse_softmax_cross_entropy_with_logits", logits)
    y = labels if isinstance(labels, Tensor) else convert_to_tensor(labels)
    names = ("labels", "logits")
    if y.dtype.kind not in "iu":
        raise errors.op_error(
            TypeError,
            "sparse_softmax_cross_entropy_with_logits",
            (y, x),
            f"labels must be integers, got {y.dtype.name}",
            names,
        )
    if x.ndim < 1 or incompatible(y.shape, x.shape[:-1]):
        raise errors.op_error(
            ValueError,
            "sparse_softmax_cross_entropy_with_logits",
            (y, x),
            "labels must have shape logits.shape[:-1]",
            names,
        )
    loss, _ = _sparse_xent_op.apply((y, x))
    return loss


# --- shared argument checks ----------------------------------------------------------


def _floats(op_name, values, names):
    """`values` as tensors of one floating-point dtype. Python data takes the
    first tensor's dtype; tensors and arrays keep theirs and must agree."""
    if all(isinstance(v, Tensor) for v in values):  # the common case, quickly
        dtype = values[0].dtype
        if dtype.kind == "f" and all(v.dtype == dtype for v in values):
            return list(values)
    out = same_dtype(op_name, values, names)
    for t, n in zip(out, names, strict=True):
        if t.dtype.kind != "f":
            raise errors.op_error(
                TypeError,
                op_name,
                tuple(out),
                f"{n} must be floating point, got {t.dtype.name}",
                names,
            )
    if len({t.dtype for t in out}) > 1:
        raise errors.op_error(
            TypeError,
            op_name,
            tuple(out),
            f"inputs have different dtypes {', '.join(t.dtype.name for t in out)}; use ft.cast",
            names,
        )
    return out


def _ints(op_name, inputs, names, value, what):
    """A list of ints from an int, a sequence or an integer tensor."""
    if isinstance(value, (Tensor, np.ndarray)):
        value = np.asarray(value).tolist()
    try:
        if isinstance(value, (list, tuple)):
            return [strict_index(v) for v in value]
        return [strict_index(value)]
    except TypeError:
        raise errors.op_error(
            TypeError, op_name, inputs, f"{what} must be ints, got {value!r}", names
        ) from None


def _spatial(op_name, inputs, names, value, rank, what, channels_first=False):
    """strides, dilations or ksize: an int or a list of 1, rank or rank + 2 ints
    (then the batch and channel entries must be 1), as rank positive ints."""
    if type(value) is int and value > 0:
        return (value,) * rank
    vals = _ints(op_name, inputs, names, value, what)
    if len(vals) == rank + 2:
        outer = (vals[0], vals[1]) if channels_first else (vals[0], vals[-1])
        if outer != (1, 1):
            raise errors.op_error(
                ValueError,
                op_name,
                inputs,
                f"{what} {value!r}: the batch and channel entries must be 1",
                names,
            )
        vals = vals[2:] if channels_first else vals[1:-1]
    elif len(vals) == 1:
        vals = vals * rank
    elif len(vals) != rank:
        raise errors.op_error(
            ValueError,
            op_name,
            inputs,
            f"{what} must be an int or a list of 1, {rank} or {rank + 2} ints, got {value!r}",
            names,
        )
    if any(v < 1 for v in vals):
        raise errors.op_error(
            ValueError, op_name, inputs, f"{what} must be positive, got {value!r}", names
        )
    return tuple(vals)


def _padding(op_name, inputs, names, padding, rank, explicit=True, channels_first=False):
    """'SAME', 'VALID' (any case) or, where `explicit`, rank + 2 (before, after)
    pairs with zeros for the batch and channel axes (as TensorFlow): returns
    the string or a tuple of rank spatial pairs."""
    if isinstance(padding, str):
        p = padding.upper()
        if p in ("SAME", "VALID"):
            return p
    elif explicit and isinstance(padding, (list, tuple)) and len(padding) == rank + 2:
        pairs = [_ints(op_name, inputs, names, pair, "padding") for pair in padding]
        outer = (pairs[0], pairs[1]) if channels_first else (pairs[0], pairs[-1])
        spatial = pairs[2:] if channels_first else pairs[1:-1]
        if (
            all(len(q) == 2 for q in pairs)
            and all(v == 0 for q in outer for v in q)
            and all(v >= 0 for q in spatial for v in q)
        ):
            return tuple(tuple(q) for q in spatial)
    allowed = "'SAME' or 'VALID'" + (
        f" or {rank + 2} non-negative (before, after) pairs, zero for batch and channels"
        if explicit
        else ""
    )
    raise errors.op_error(
        ValueError, op_name, inputs, f"padding must be {allowed}, got {padding!r}", names
    )


def _data_format(op_name, inputs, names, data_format, formats):
    if data_format not in formats:
        raise errors.op_error(
            ValueError,
            op_name,
            inputs,
            f"data_format must be {' or '.join(formats)}, got {data_format!r}",
            names,
        )
    return data_format == formats[1]  # channels first


def _rank(op_name, inputs, names, t, rank, what):
    if t.ndim is None:
        raise errors.op_error(ValueError, op_name, inputs, errors.unknown_rank_detail(what),
                              names)
    if t.ndim != rank:
        raise errors.op_error(
            ValueError, op_name, inputs, f"{what} must have rank {rank}, got rank {t.ndim}", names
        )


def _geometry(in_sp, k_sp, strides, dilations, padding):
    """(output spatial shape, ((before, after) pads per spatial axis)), as
    TensorFlow computes them: SAME gives ceil(in / stride) outputs and pads
    (total) // 2 before, the rest after. A graph's unknown dim (None) gives an
    unknown output dim, and an unknown pad (None) under SAME padding, which
    the caller reports (`_known_pads`)."""
    out, pads = [], []
    for i, (n, k, s, d) in enumerate(zip(in_sp, k_sp, strides, dilations, strict=True)):
        if n is None or k is None:
            if padding == "SAME":
                out.append(None if n is None else -(-n // s))
                pads.append(None)
            else:
                out.append(None)
                pads.append((0, 0) if padding == "VALID" else tuple(padding[i]))
            continue
        ek = (k - 1) * d + 1
        if padding == "SAME":
            o = -(-n // s)
            total = max((o - 1) * s + ek - n, 0)
            pad = (total // 2, total - total // 2)
        else:
            pad = (0, 0) if padding == "VALID" else tuple(padding[i])
            o = (n + pad[0] + pad[1] - ek) // s + 1 if n + pad[0] + pad[1] >= ek else 0
        out.append(o)
        pads.append(pad)
    return tuple(out), tuple(pads)


def _known_pads(op_name, inputs, names, pads, in_sp, k_sp):
    """The pads of `_geometry`; SAME padding of an unknown spatial or window dim
    raises the build-time error: the pads are attributes of the node."""
    if None in pads:
        raise unknown_dim_error(op_name, inputs, f"the spatial shape {tuple(in_sp)} or window "
                                f"{tuple(k_sp)} (needed for SAME padding)", names)
    return pads


def _check_output(op_name, inputs, names, out_sp, in_sp, k_sp):
    if any(o is not None and o < 1 for o in out_sp):
        raise errors.op_error(
            ValueError,
            op_name,
            inputs,
            f"the output would be empty: spatial input {tuple(in_sp)} is smaller than the "
            f"window {tuple(k_sp)} (dilations included) with this padding",
            names,
        )


# --- windows: im2col and col2im ---------------------------------------------------------
# Spatial ops work on channels-last arrays (N, *spatial, C) of any spatial rank.
# Kernel tap k (a tuple of window offsets) meets, for every output position,
# one element of the padded input: _tap(k) indexes those as a strided view.


def _pad(x, pads, value=0):
    """x with `pads` ((before, after) per spatial axis) of `value` around its spatial axes."""
    if not any(b or a for b, a in pads):
        return x
    shape = (
        (x.shape[0],) + tuple(n + b + a for n, (b, a) in zip(x.shape[1:-1], pads)) + (x.shape[-1],)
    )
    out = np.full(shape, value, dtype=x.dtype) if value else np.zeros(shape, x.dtype)
    out[_inner(pads, x.shape)] = x
    return out


def _inner(pads, shape):
    """Index of the unpadded region of a padded array (shape: the unpadded one's)."""
    return (
        (slice(None),)
        + tuple(slice(b, b + n) for (b, _), n in zip(pads, shape[1:-1]))
        + (slice(None),)
    )


def _tap(k, out_sp, strides, dilations):
    return (
        (slice(None),)
        + tuple(
            slice(j * d, j * d + (o - 1) * s + 1, s)
            for j, o, s, d in zip(k, out_sp, strides, dilations)
        )
        + (slice(None),)
    )


def _taps(k_sp):
    return itertools.product(*(range(k) for k in k_sp))


def _out_spatial(padded_sp, k_sp, strides, dilations):
    return tuple(
        (n - (k - 1) * d - 1) // s + 1 for n, k, s, d in zip(padded_sp, k_sp, strides, dilations)
    )


# Few channels: patches as (K * C, M), built tap by tap (each tap a copy with
# long contiguous runs); NumPy copies and adds with runs of only C elements
# (the (M, K * C) layout) are 5-10x slower there. Many channels: (M, K * C).
_FEW_CHANNELS = 4


def _im2col(xp, k_sp, out_sp, strides, dilations):
    """The patches of the padded input xp: (cols, transposed). cols is the
    (N * prod(out_sp), K * C) matrix of windows (K = prod(k_sp); columns in
    (tap, channel) order), or with `transposed` (few channels) its transpose."""
    n, c = xp.shape[0], xp.shape[-1]
    kk, m = math.prod(k_sp), n * math.prod(out_sp)
    if c <= _FEW_CHANNELS:
        cols = np.empty((kk, c, n) + out_sp, xp.dtype)
        first = (xp.ndim - 1,) + tuple(range(xp.ndim - 1))  # channels first
        for i, k in enumerate(_taps(k_sp)):
            np.copyto(cols[i], xp[_tap(k, out_sp, strides, dilations)].transpose(first))
        return cols.reshape(kk * c, m), True
    st = xp.strides
    view = as_strided(
        xp,
        (n,) + out_sp + tuple(k_sp) + (c,),
        (st[0],)
        + tuple(st[1 + i] * s for i, s in enumerate(strides))
        + tuple(st[1 + i] * d for i, d in enumerate(dilations))
        + (st[-1],),
        writeable=False,
    )
    return view.reshape(m, kk * c), False


# --- convolution ------------------------------------------------------------------
# Note [Convolution gradients]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# conv(x, w) is bilinear, and so are its two gradients, each a table entry:
#   _conv_backprop_input(g, w)  = dL/dx, a transposed convolution (col2im:
#                                 one strided add per kernel tap),
#   _conv_backprop_filter(x, g) = dL/dw (im2col(x)^T @ g, one matmul).
# The three are closed under differentiation: each VJP of one is another of
# them (or conv itself) with the same strides, dilations and pads, so nested
# tapes give exact gradients of any order. conv2d_transpose is
# _conv_backprop_input under its public name. All work for 1 and 2 spatial axes.


# Note [Grouped convolutions]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~
# im2col reads padding as zeros, and the GEMM then multiplies them: SAME
# padding on the digits convnet's 4x4 maps makes 31% of conv2's patch
# elements zeros, so a third of each of its three GEMMs (the convolution
# and its two gradients, ~1 ms a step at OpenBLAS's peak) is waste. Output
# positions fall into boxes by which taps read the input: along each
# spatial axis, a run of positions with the same valid taps (the edges, the
# interior); a box is a run of rows by a run of columns. Each box is its own
# GEMM over its valid taps alone: the patches of a box (im2col_boxes), its
# rows of the output gradient and its block of the filter are gathered by
# the C loops of Note [Window loops] with the box's geometry, one block
# after another in one buffer, and results go back the same way
# (col2im_boxes adds). Conv2's 9 box GEMMs take ~270 us against ~350 us
# for the full one.
#
# The boxes are used when the multiply-adds they save pay for their extra
# calls (_BOX_SAVING per box), for float32 and float64 with more than
# _FEW_CHANNELS channels. A tap that reads padding adds nothing either way
# (the same sums in another order), except that the full GEMM multiplies a
# non-finite weight or gradient by the padding's zero (NaN), where the
# boxes never read it.
_BOX_SAVING = 200_000  # multiply-adds a box must save (~2-4 us of GEMM: a call's cost)
_box_plans = {}


def _axis_runs(n, k, out, s, d, before):
    """[(o0, o1, j0, j1)]: runs of output positions along one axis whose
    valid taps (reading the input of size n, not its padding) are [j0, j1);
    positions reading padding alone are left out."""
    runs = []
    for o in range(out):
        start = o * s - before
        j0 = max(0, -(start // d)) if start < 0 else 0
        j1 = min(k, (n - 1 - start) // d + 1) if n - 1 >= start else 0
        if j0 >= j1:
            continue
        if runs and runs[-1][1] == o and runs[-1][2:] == (j0, j1):
            runs[-1] = (runs[-1][0], o + 1, j0, j1)
        else:
            runs.append((o, o + 1, j0, j1))
    return runs


class _Boxes:
    """A convolution's boxes (Note [Grouped convolutions]) in 2-D form (one
    spatial axis is one row): per box, its place in the patch buffer, in the
    gathered rows of the output (gradient) and in the packed filter; and the
    three walks the window loops make over the boxes, each (array shape,
    geometry, boxes): patches of the input, rows of the output, blocks of
    the filter (a 1-position "image" of kh x kw taps with c * o channels)."""

    def __init__(self, x_shape, k_sp, out_sp, strides, dilations, pads, o):
        n, c = x_shape[0], x_shape[-1]
        sp = x_shape[1:-1]
        if len(sp) == 1:
            sp, k_sp, out_sp = (1,) + sp, (1,) + k_sp, (1,) + out_sp
            strides, dilations, pads = (1,) + strides, (1,) + dilations, ((0, 0),) + pads
        kh, kw = k_sp
        self.x_shape, self.out_shape = (n,) + sp + (c,), (n,) + out_sp + (o,)
        rows = _axis_runs(sp[0], kh, out_sp[0], strides[0], dilations[0], pads[0][0])
        cols = _axis_runs(sp[1], kw, out_sp[1], strides[1], dilations[1], pads[1][0])
        boxes = [(i0, i1, j0, j1, u0, u1, v0, v1)
                 for i0, i1, u0, u1 in rows for j0, j1, v0, v1 in cols]
        unit = ((1, 1), (1, 1), ((0, 0), (0, 0)))  # strides, dilations, pads of a plain walk
        self.patch_walk = (self.x_shape, (k_sp, out_sp, strides, dilations, pads), boxes)
        self.row_walk = (self.out_shape, ((1, 1), out_sp) + unit,
                         [(i0, i1, j0, j1, 0, 1, 0, 1) for i0, i1, j0, j1, *_ in boxes])
        self.tap_walk = ((1, kh, kw, c * o), ((kh, kw), (1, 1)) + unit,
                         [(0, 1, 0, 1, u0, u1, v0, v1) for *_, u0, u1, v0, v1 in boxes])
        self.parts = []  # (patch offset, row offset, rows, taps * c, filter offset)
        at = row = w_at = 0
        for i0, i1, j0, j1, u0, u1, v0, v1 in boxes:
            m, k = n * (i1 - i0) * (j1 - j0), (u1 - u0) * (v1 - v0) * c
            self.parts.append((at, row, m, k, w_at))
            at, row, w_at = at + m * k, row + m, w_at + k * o
        self.cols_size, self.rows, self.w_size = at, row, w_at
        # each output position is in one box, unless some read padding alone (zeros)
        self.covers_output = row == n * out_sp[0] * out_sp[1]
        saved = (n * out_sp[0] * out_sp[1] * kh * kw * c - at) * o
        self.worth = bool(boxes) and saved >= max(1, _BOX_SAVING * len(boxes))

    @staticmethod
    def _gather(x, walk, size):
        shape, geometry, boxes = walk
        out = np.empty(size, x.dtype)
        if not _core.im2col_boxes(np.ascontiguousarray(x).reshape(shape), *geometry, boxes,
                                  out):
            raise AssertionError("im2col_boxes refused a box plan's arrays")
        return out

    @staticmethod
    def _scatter(cols, walk, copy=False):
        shape, geometry, boxes = walk
        out = np.empty(shape, cols.dtype) if copy else np.zeros(shape, cols.dtype)
        if not _core.col2im_boxes(cols, out, *geometry, boxes, copy):
            raise AssertionError("col2im_boxes refused a box plan's arrays")
        return out

    def conv(self, x, w):
        cols = self._gather(x, self.patch_walk, self.cols_size)
        wp, o = self._gather(w, self.tap_walk, self.w_size), self.out_shape[-1]
        res = np.empty((self.rows, o), x.dtype)
        for at, row, m, k, w_at in self.parts:
            np.matmul(cols[at:at + m * k].reshape(m, k), wp[w_at:w_at + k * o].reshape(k, o),
                      out=res[row:row + m])
        return self._scatter(res, self.row_walk, copy=self.covers_output)

    def filter_grad(self, x, g, filter_shape):
        cols = self._gather(x, self.patch_walk, self.cols_size)
        o = self.out_shape[-1]
        gr = self._gather(g, self.row_walk, self.rows * o).reshape(self.rows, o)
        dw = np.empty(self.w_size, x.dtype)
        for at, row, m, k, w_at in self.parts:
            np.matmul(cols[at:at + m * k].reshape(m, k).T, gr[row:row + m],
                      out=dw[w_at:w_at + k * o].reshape(k, o))
        return self._scatter(dw, self.tap_walk).reshape(filter_shape)

    def input_grad(self, g, w, input_shape):
        o = self.out_shape[-1]
        gr = self._gather(g, self.row_walk, self.rows * o).reshape(self.rows, o)
        wp = self._gather(w, self.tap_walk, self.w_size)
        dcols = np.empty(self.cols_size, g.dtype)
        for at, row, m, k, w_at in self.parts:
            np.matmul(gr[row:row + m], wp[w_at:w_at + k * o].reshape(k, o).T,
                      out=dcols[at:at + m * k].reshape(m, k))
        return self._scatter(dcols, self.patch_walk).reshape(input_shape)


def _boxes(x_shape, dtype, k_sp, out_sp, strides, dilations, pads, o):
    """The _Boxes of a convolution when they pay (Note [Grouped
    convolutions]), else None. (Its operands have one dtype: the conv ops'
    dtype rule, nn_dtype.)"""
    if (dtype not in (np.float32, np.float64) or x_shape[-1] <= _FEW_CHANNELS
            or len(k_sp) > 2 or not any(b or a for b, a in pads)):
        return None
    key = (x_shape, k_sp, out_sp, strides, dilations, pads, o)
    plan = _box_plans.get(key, False)
    if plan is False:
        if max(out_sp) > 1024:  # the runs are found position by position
            plan = None
        else:
            plan = _Boxes(x_shape, k_sp, out_sp, strides, dilations, pads, o)
            plan = plan if plan.worth else None
        if len(_box_plans) > 256:
            _box_plans.clear()
        _box_plans[key] = plan
    return plan


def _patches(input, k_sp, out_sp, strides, dilations, pads):  # noqa: A002
    """_im2col of the input padded by `pads`, in the same layouts: a C loop
    that reads the padding as zeros (Note [Window loops]) where it can."""
    few = input.shape[-1] <= _FEW_CHANNELS  # the transposed layout: see _im2col
    cols = _core.im2col(input, tuple(k_sp), tuple(out_sp), tuple(strides), tuple(dilations),
                        _pairs(pads), few)
    if cols is not None:
        return cols, few
    return _im2col(_pad(input, pads), k_sp, out_sp, strides, dilations)


def _pairs(pads):
    return tuple(tuple(p) for p in pads)


def _conv(input, filters, strides, dilations, pads):  # noqa: A002
    r = len(strides)
    k_sp, o = filters.shape[:r], filters.shape[-1]
    padded_sp = tuple(n + b + a for n, (b, a) in zip(input.shape[1:-1], pads))
    out_sp = _out_spatial(padded_sp, k_sp, strides, dilations)
    boxes = _boxes(input.shape, input.dtype, k_sp, out_sp, tuple(strides), tuple(dilations),
                   _pairs(pads), o)
    if boxes is not None:
        return boxes.conv(input, filters).reshape((input.shape[0],) + out_sp + (o,))
    cols, transposed = _patches(input, k_sp, out_sp, strides, dilations, pads)
    wm = filters.reshape(cols.shape[0] if transposed else cols.shape[1], o)
    out = (cols.T if transposed else cols) @ wm
    return out.reshape((input.shape[0],) + out_sp + (o,))


def _conv_backprop_filter(input, out_backprop, filter_shape, strides, dilations, pads):  # noqa: A002
    r = len(strides)
    g = out_backprop
    boxes = _boxes(input.shape, input.dtype, tuple(filter_shape[:r]), g.shape[1:-1],
                   tuple(strides), tuple(dilations), _pairs(pads), g.shape[-1])
    if boxes is not None:
        return boxes.filter_grad(input, g, tuple(filter_shape))
    cols, transposed = _patches(input, tuple(filter_shape[:r]), g.shape[1:-1], strides,
                                dilations, pads)
    gm = g.reshape(-1, g.shape[-1])
    return ((cols if transposed else cols.T) @ gm).reshape(filter_shape)


def _conv_backprop_input(input, filters, output_shape, strides, dilations, pads):  # noqa: A002
    # `input` is the gradient of a convolution's output (N, *out_sp, O);
    # the result has the convolution input's shape `output_shape`.
    r = len(strides)
    g = input
    k_sp, c, o = filters.shape[:r], filters.shape[-2], filters.shape[-1]
    out_sp, n, kk = g.shape[1:-1], g.shape[0], math.prod(filters.shape[:r])
    # output_shape's batch may be None (conv2d_transpose traced with an unknown batch)
    x_shape = (n,) + tuple(int(d) for d in output_shape[1:])
    boxes = _boxes(x_shape, g.dtype, k_sp, out_sp, tuple(strides), tuple(dilations),
                   _pairs(pads), o)
    if boxes is not None:
        return boxes.input_grad(g, filters, x_shape)
    gm = g.reshape(-1, o)
    wm = filters.reshape(kk * c, o)
    padded = (n,) + tuple(s + b + a for s, (b, a) in zip(output_shape[1:-1], pads)) + (c,)
    dxp = np.zeros(padded, dtype=g.dtype)
    if c <= _FEW_CHANNELS:  # (K * C, M): see _im2col
        dcols = (wm @ gm.T).reshape((kk, c, n) + out_sp)
        first = (dxp.ndim - 1,) + tuple(range(dxp.ndim - 1))  # channels first
        for i, k in enumerate(_taps(k_sp)):
            view = dxp[_tap(k, out_sp, strides, dilations)].transpose(first)
            view += dcols[i]
    else:
        dcols = (gm @ wm.T).reshape((n,) + out_sp + (kk, c))
        if not _core.col2im(dcols, dxp, tuple(k_sp), tuple(strides), tuple(dilations)):
            for i, k in enumerate(_taps(k_sp)):
                view = dxp[_tap(k, out_sp, strides, dilations)]
                view += dcols[..., i, :]
    return dxp[_inner(pads, output_shape)]


def _conv_shape(input_shape, filters_shape, strides, dilations, pads):  # noqa: A002
    r = len(strides)
    out = []
    for n, k, s, d, (b, a) in zip(input_shape[1:-1], filters_shape[:r], strides, dilations, pads):
        out.append(None if n is None or k is None else (n + b + a - (k - 1) * d - 1) // s + 1)
    _rules.merge_dims(input_shape[-1], filters_shape[-2], "input and filter channels")
    return (input_shape[0],) + tuple(out) + (filters_shape[-1],)


_CONV_ATTRS = ("strides", "dilations", "pads")
_conv_ops = {}  # spatial rank -> the conv op


def _conv_vjps():
    return {
        "input": lambda g, filters, input_shape, strides, dilations, pads: call_op(
            _conv_input_op, (g, filters), (input_shape, strides, dilations, pads)
        ),
        "filters": lambda g, input, filters_shape, strides, dilations, pads: call_op(  # noqa: A002
            _conv_filter_op, (input, g), (filters_shape, strides, dilations, pads)
        ),
    }


def _transpose_vjps():
    # input: the gradient of a convolution's output; the op's output: its input's
    return {
        "input": lambda g, filters, strides, dilations, pads: call_op(
            _conv_ops[len(strides)], (g, filters), (strides, dilations, pads)
        ),
        "filters": lambda g, input, filters_shape, strides, dilations, pads: call_op(  # noqa: A002
            _conv_filter_op, (g, input), (filters_shape, strides, dilations, pads)
        ),
    }


_conv_ops[1] = _conv1d_op = register(
    "conv1d",
    "nn",
    _conv,
    ("input", "filters"),
    _conv_vjps(),
    attr_names=_CONV_ATTRS,
    shape_fn=_conv_shape,
    dtype_fn=_rules.nn_dtype,
)
_conv_ops[2] = _conv2d_op = register(
    "conv2d",
    "nn",
    _conv,
    ("input", "filters"),
    _conv_vjps(),
    attr_names=_CONV_ATTRS,
    shape_fn=_conv_shape,
    dtype_fn=_rules.nn_dtype,
)
_conv_input_op = register(
    "_conv_backprop_input",
    "nn",
    _conv_backprop_input,
    ("input", "filters"),
    _transpose_vjps(),
    attr_names=("output_shape",) + _CONV_ATTRS,
    shape_fn=lambda i, f, shape, *a: tuple(shape),
    dtype_fn=_rules.nn_dtype,
)
_conv2d_transpose_op = register(
    "conv2d_transpose",
    "nn",
    _conv_backprop_input,
    ("input", "filters"),
    _transpose_vjps(),
    attr_names=("output_shape",) + _CONV_ATTRS,
    shape_fn=lambda i, f, shape, *a: tuple(shape),
    dtype_fn=_rules.nn_dtype,
)
_conv_filter_op = register(
    "_conv_backprop_filter",
    "nn",
    _conv_backprop_filter,
    ("input", "out_backprop"),
    {
        "input": lambda g, out_backprop, input_shape, strides, dilations, pads: call_op(
            _conv_input_op, (out_backprop, g), (input_shape, strides, dilations, pads)
        ),
        "out_backprop": lambda g, input, strides, dilations, pads: call_op(  # noqa: A002
            _conv_ops[len(strides)], (input, g), (strides, dilations, pads)
        ),
    },
    attr_names=("filter_shape",) + _CONV_ATTRS,
    shape_fn=lambda i, g, shape, *a: tuple(shape),
    dtype_fn=_rules.nn_dtype,
)

_CONV_NAMES = ("input", "filters")


def _nonempty_filters(op_name, ins, w):
    """A convolution's filters need every dimension (window, in and out
    channels) non-zero: an empty filter has no weights to convolve with."""
    if 0 in w.shape:
        raise errors.op_error(
            ValueError, op_name, ins,
            f"filters of shape {w.shape} have a zero-size dimension; every window and "
            "channel dimension must be at least 1", _CONV_NAMES)


def _conv_call(
    op_name,
    op,
    input,
    filters,
    strides,
    padding,
    data_format,
    dilations,
    rank,
    formats,
):
    """Checks a convolution's arguments at the call and runs it (channels last inside)."""
    x, w = _floats(op_name, (input, filters), _CONV_NAMES)
    ins = (x, w)
    first = _data_format(op_name, ins, _CONV_NAMES, data_format, formats)
    _rank(op_name, ins, _CONV_NAMES, x, rank + 2, "input")
    _rank(op_name, ins, _CONV_NAMES, w, rank + 2, "filters")
    strides = _spatial(op_name, ins, _CONV_NAMES, strides, rank, "strides", first)
    dilations = _spatial(
        op_name, ins, _CONV_NAMES, 1 if dilations is None else dilations, rank, "dilations", first
    )
    padding = _padding(op_name, ins, _CONV_NAMES, padding, rank, True, first)
    _nonempty_filters(op_name, ins, w)
    channels = x.shape[1] if first else x.shape[-1]
    if channels != w.shape[-2] and None not in (channels, w.shape[-2]):
        raise errors.op_error(
            ValueError,
            op_name,
            ins,
            f"input has {channels} channels but filters expect {w.shape[-2]} "
            "(filters have shape (*window, in_channels, out_channels))",
            _CONV_NAMES,
        )
    if first:
        x = transpose(x, (0,) + tuple(range(2, rank + 2)) + (1,))
    in_sp = x.shape[1:-1]
    out_sp, pads = _geometry(in_sp, w.shape[:rank], strides, dilations, padding)
    pads = _known_pads(op_name, ins, _CONV_NAMES, pads, in_sp, w.shape[:rank])
    _check_output(
        op_name,
        ins,
        _CONV_NAMES,
        out_sp,
        in_sp,
        tuple(None if k is None else (k - 1) * d + 1 for k, d in zip(w.shape[:rank], dilations)),
    )
    out = op.apply((x, w), (strides, dilations, pads))
    if first:
        out = transpose(out, (0, rank + 1) + tuple(range(1, rank + 1)))
    return out


@public("conv2d", _conv2d_op, None)
def conv2d(input, filters, strides, padding, data_format="NHWC", dilations=None, name=None):  # noqa: A002
    """2-D convolution (cross-correlation, as TensorFlow), with strides, dilations and padding.

    Args:
        input: (batch, height, width, in_channels) ("NHWC"), or channels first with
            data_format="NCHW".
        filters: (filter_height, filter_width, in_channels, out_channels).
        strides: an int or a list of 1, 2 or 4 ints (batch and channel entries 1).
        padding: "SAME" (ceil(in / stride) outputs; the (total) // 2 zeros before,
            the rest after, exactly as TensorFlow), "VALID", or explicit
            [[0, 0], [top, bottom], [left, right], [0, 0]].
        dilations: an int or a list of 1, 2 or 4 ints (default 1).

    Computed as im2col plus one matmul; gradients of any order (the input and
    filter gradients are convolutions themselves).

    >>> import fasttape as ft
    >>> x = ft.ones((1, 5, 5, 2))
    >>> w = ft.ones((3, 3, 2, 4))
    >>> ft.nn.conv2d(x, w, strides=2, padding="SAME").shape
    (1, 3, 3, 4)
    >>> float(ft.nn.conv2d(x, w, 1, "VALID")[0, 0, 0, 0])
    18.0
    """
    return _conv_call(
        "conv2d",
        _conv2d_op,
        input,
        filters,
        strides,
        padding,
        data_format,
        dilations,
        2,
        ("NHWC", "NCHW"),
    )


@public("conv1d", _conv1d_op, None)
def conv1d(input, filters, stride, padding, data_format="NWC", dilations=None, name=None):  # noqa: A002
    """1-D convolution: input (batch, width, in_channels) ("NWC", or "NCW"),
    filters (filter_width, in_channels, out_channels); `stride`, `padding`
    and `dilations` as for conv2d.

    >>> import fasttape as ft
    >>> ft.nn.conv1d(ft.ones((2, 7, 3)), ft.ones((3, 3, 5)), stride=2, padding="VALID").shape
    (2, 3, 5)
    """
    return _conv_call(
        "conv1d",
        _conv1d_op,
        input,
        filters,
        stride,
        padding,
        data_format,
        dilations,
        1,
        ("NWC", "NCW"),
    )


@public("conv2d_transpose", _conv2d_transpose_op, None)
def conv2d_transpose(
    input,
    filters,
    output_shape,
    strides,
    padding="SAME",
    data_format="NHWC",
    dilations=None,
    name=None,
):
    """The transpose (gradient) of conv2d with respect to its input.

    Args:
        input: (batch, height, width, in_channels).
        filters: (filter_height, filter_width, out_channels, in_channels), as
            TensorFlow: the filters of the conv2d this transposes.
        output_shape: (batch, out_height, out_width, out_channels): the shape of
            the conv2d input; conv2d of it with `strides` and `padding` must give
            input's spatial shape. The batch may be None: input's (a trace
            whose signature leaves the batch unknown).
        strides, padding, dilations: as for conv2d.

    >>> import fasttape as ft
    >>> y = ft.nn.conv2d_transpose(ft.ones((1, 3, 3, 4)), ft.ones((3, 3, 2, 4)),
    ...                            output_shape=(1, 6, 6, 2), strides=2, padding="SAME")
    >>> y.shape
    (1, 6, 6, 2)
    """
    op_name = "conv2d_transpose"
    x, w = _floats(op_name, (input, filters), _CONV_NAMES)
    ins = (x, w)
    first = _data_format(op_name, ins, _CONV_NAMES, data_format, ("NHWC", "NCHW"))
    _rank(op_name, ins, _CONV_NAMES, x, 4, "input")
    _rank(op_name, ins, _CONV_NAMES, w, 4, "filters")
    strides = _spatial(op_name, ins, _CONV_NAMES, strides, 2, "strides", first)
    dilations = _spatial(
        op_name, ins, _CONV_NAMES, 1 if dilations is None else dilations, 2, "dilations", first
    )
    padding = _padding(op_name, ins, _CONV_NAMES, padding, 2, True, first)
    _nonempty_filters(op_name, ins, w)
    # None as the batch: input's (unknown in a trace whose signature has a None batch)
    any_batch = isinstance(output_shape, (list, tuple)) and len(output_shape) == 4 and (
        output_shape[0] is None)
    if any_batch:
        output_shape = (0,) + tuple(output_shape[1:])
    shape = _ints(op_name, ins, _CONV_NAMES, output_shape, "output_shape")
    if any_batch:
        shape[0] = x.shape[0]
    if len(shape) != 4 or any(d is not None and d < 0 for d in shape):
        raise errors.op_error(
            ValueError,
            op_name,
            ins,
            f"output_shape must be 4 non-negative ints, got {output_shape!r}",
            _CONV_NAMES,
        )
    if first:
        x = transpose(x, (0, 2, 3, 1))
        shape = [shape[0], shape[2], shape[3], shape[1]]
    if incompatible((x.shape[-1], shape[-1], shape[0]), (w.shape[3], w.shape[2], x.shape[0])):
        raise errors.op_error(
            ValueError,
            op_name,
            ins,
            f"channels or batch do not match: input {x.shape[0]} x {x.shape[-1]} channels, "
            f"output_shape {shape[0]} x {shape[-1]}, filters (*window, out_channels="
            f"{w.shape[2]}, in_channels={w.shape[3]})",
            _CONV_NAMES,
        )
    out_sp, pads = _geometry(shape[1:3], w.shape[:2], strides, dilations, padding)
    pads = _known_pads(op_name, ins, _CONV_NAMES, pads, shape[1:3], w.shape[:2])
    if incompatible(out_sp, x.shape[1:3]):
        raise errors.op_error(
            ValueError,
            op_name,
            ins,
            f"output_shape {tuple(shape)} gives a conv2d output of spatial shape {out_sp} with "
            f"these strides and padding, but input has {x.shape[1:3]}",
            _CONV_NAMES,
        )
    out = _conv2d_transpose_op.apply((x, w), (tuple(shape), strides, dilations, pads))
    return transpose(out, (0, 3, 1, 2)) if first else out


# --- bias_add --------------------------------------------------------------------------
# value + bias along the channel axis. NumPy broadcasts a short channel axis
# slowly (one inner loop per pixel), and sums it back slowly too; a
# channels-last bias_add adds a tiled bias to rows of up to 4096 elements and
# sums the gradient with one matrix-vector product: 3x and 10x faster on a
# conv layer's output than `value + bias` and its broadcast reduction.


def _bias_add(value, bias, channels_first):
    if channels_first:
        return value + bias.reshape((-1,) + (1,) * (value.ndim - 2))
    c = bias.shape[0]
    rows = value.size // c if c else 0
    rep = math.gcd(rows, 1 << (max(1, 4096 // c).bit_length() - 1)) if rows else 1
    if rep > 1 and value.flags.c_contiguous:
        return (value.reshape(-1, rep * c) + np.tile(bias, rep)).reshape(value.shape)
    return value + bias


def _bias_add_grad(g, channels_first):
    if channels_first:
        return np.sum(g, axis=(0,) + tuple(range(2, g.ndim)))
    if isinstance(g, np.ndarray):
        gm = g.reshape(math.prod(g.shape[:-1]), g.shape[-1])  # (not -1: g may be empty)
        return np.ones(gm.shape[0], g.dtype) @ gm
    return np.sum(g, axis=tuple(range(g.ndim - 1)))  # Tensors: reduce_sum, so recorded


_bias_add_op = register(
    "bias_add",
    "nn",
    _bias_add,
    ("value", "bias"),
    {"value": "identity", "bias": lambda g, channels_first: _bias_add_grad(g, channels_first)},
    attr_names=("channels_first",),
    shape_fn=lambda s, b, cf: tuple(s),
    dtype_fn=_rules.nn_dtype,
)


@public("bias_add", _bias_add_op, None)
def bias_add(value, bias, data_format=None, name=None):
    """`value` plus the 1-D `bias` along the channel axis: the last one
    (data_format None, "NHWC", "NWC" or "N...C") or axis 1 ("NCHW", "NCW",
    "NC..."). What a Conv2D or Dense layer adds; faster than `value + bias`.

    >>> import fasttape as ft
    >>> ft.nn.bias_add(ft.zeros((2, 3)), [1.0, 2.0, 3.0]).numpy()
    array([[1., 2., 3.],
           [1., 2., 3.]], dtype=float32)
    """
    names = ("value", "bias")
    v, b = _floats("bias_add", (value, bias), names)
    known_rank("bias_add", (v, b), names)
    first = data_format is not None and str(data_format).startswith("NC")
    if data_format is not None and not (
        first or str(data_format).startswith("N") and str(data_format).endswith("C")
    ):
        raise errors.op_error(
            ValueError, "bias_add", (v, b), f"unknown data_format {data_format!r}", names
        )
    if b.ndim != 1 or v.ndim < 2 or incompatible((v.shape[1 if first else -1],), b.shape):
        raise errors.op_error(
            ValueError,
            "bias_add",
            (v, b),
            "bias must be 1-D with one entry per channel of value (rank >= 2), channels on "
            f"axis {1 if first else -1}",
            names,
        )
    return _bias_add_op.apply((v, b), (first,))


# --- pooling ------------------------------------------------------------------------
# max_pool2d's gradient is the private op _max_pool_grad (TensorFlow's
# MaxPoolGrad: it takes the input and output and routes each output gradient
# to the first maximum of its window, in row-major window order, as
# TensorFlow); its own VJP is _max_pool_gather (the gradient at those
# positions), whose VJP is _max_pool_grad again. Second derivatives through
# the input are 0. avg_pool2d and its gradient _avg_pool_grad are each other's
# transposes. SAME windows at the border count only real elements.


def _separable(xp, ksize, strides, ufunc):
    """ufunc (maximum or add) over each window of xp, one spatial axis at a time:
    the first axis first, where the taps are slices of whole contiguous rows
    (3-4x faster than one strided slice per kernel tap)."""
    out_sp = _out_spatial(xp.shape[1:-1], ksize, strides, (1,) * len(ksize))
    cur = xp
    for axis, (k, s, o) in enumerate(zip(ksize, strides, out_sp, strict=True)):
        lead = (slice(None),) * (axis + 1)
        parts = [cur[lead + (slice(j, j + (o - 1) * s + 1, s),)] for j in range(k)]
        if k == 1:
            cur = parts[0]
            continue
        acc = ufunc(parts[0], parts[1])
        for p in parts[2:]:
            ufunc(acc, p, out=acc)
        cur = acc
    return cur if cur.base is None and cur is not xp else cur.copy()


def _max_pool(input, ksize, strides, pads):  # noqa: A002
    return _separable(_pad(input, pads, -np.inf), ksize, strides, np.maximum)


def _argmax_masks(xp, output, ksize, strides):
    """For each kernel tap: its index into xp and the bool mask of the output
    positions whose first maximum (row-major window order) it holds."""
    ones = (1,) * len(ksize)
    out_sp = output.shape[1:-1]
    taps = list(_taps(ksize))
    free = None
    for i, k in enumerate(taps):
        idx = _tap(k, out_sp, strides, ones)
        hit = xp[idx] == output
        if free is None:
            if len(taps) > 1:
                free = ~hit
        else:
            hit &= free
            if i < len(taps) - 1:
                free ^= hit
        yield idx, hit


def _max_pool_grad(grad, input, output, ksize, strides, pads):  # noqa: A002
    dx = _core.max_pool_grad(input, output, grad, tuple(ksize), tuple(strides), _pairs(pads))
    if dx is not None:  # Note [Window loops]
        return dx
    # other dtypes (multiplying by the bool masks is 5-8x faster than
    # np.copyto(where=) or np.where; an inf or NaN gradient then spreads as NaN)
    xp = _pad(input, pads, -np.inf)
    disjoint = all(s >= k for s, k in zip(strides, ksize))
    tiled = all(
        s == k and n == o * k
        for s, k, n, o in zip(strides, ksize, xp.shape[1:-1], output.shape[1:-1])
    )
    dxp = (np.empty if tiled else np.zeros)(xp.shape, grad.dtype)  # tiled: every element written
    for idx, hit in _argmax_masks(xp, output, ksize, strides):
        view = dxp[idx]
        if disjoint:
            np.multiply(grad, hit, out=view)
        else:
            view += grad * hit
    return dxp[_inner(pads, input.shape)]


def _max_pool_gather(grad, input, output, ksize, strides, pads):  # noqa: A002
    # grad has the input's shape; the result the output's (one hit per window)
    xp = _pad(input, pads, -np.inf)
    gp = _pad(grad, pads)
    out = np.zeros(output.shape, grad.dtype)
    for idx, hit in _argmax_masks(xp, output, ksize, strides):
        out += gp[idx] * hit
    return out


def _window_counts(in_sp, ksize, strides, pads, dtype):
    """How many real (unpadded) elements each window holds: (1, *out_sp, 1), or
    the window size when nothing is padded."""
    if not any(b or a for b, a in pads):
        return math.prod(ksize)
    ones = _pad(np.ones((1,) + tuple(in_sp) + (1,), dtype), pads)
    out_sp = _out_spatial(ones.shape[1:-1], ksize, strides, (1,) * len(ksize))
    counts = np.zeros((1,) + out_sp + (1,), dtype)
    for k in _taps(ksize):
        counts += ones[_tap(k, out_sp, strides, (1,) * len(ksize))]
    return counts


def _avg_pool(input, ksize, strides, pads):  # noqa: A002
    out = _separable(_pad(input, pads), ksize, strides, np.add)
    out /= _window_counts(input.shape[1:-1], ksize, strides, pads, input.dtype)
    return out


def _avg_pool_grad(grad, input_shape, ksize, strides, pads):
    ones = (1,) * len(ksize)
    g = grad / _window_counts(input_shape[1:-1], ksize, strides, pads, grad.dtype)
    padded = (
        (input_shape[0],)
        + tuple(n + b + a for n, (b, a) in zip(input_shape[1:-1], pads))
        + (input_shape[-1],)
    )
    dxp = np.zeros(padded, grad.dtype)
    for k in _taps(ksize):
        view = dxp[_tap(k, g.shape[1:-1], strides, ones)]
        view += g
    return dxp[_inner(pads, input_shape)]


def _pool_shape(input_shape, ksize, strides, pads):
    out = tuple(
        None if n is None else (n + b + a - k) // s + 1
        for n, k, s, (b, a) in zip(input_shape[1:-1], ksize, strides, pads)
    )
    return (input_shape[0],) + out + (input_shape[-1],)


_POOL_ATTRS = ("ksize", "strides", "pads")
_max_pool_op = register(
    "max_pool2d",
    "nn",
    _max_pool,
    ("input",),
    lambda g, input, out, ksize, strides, pads: call_op(  # noqa: A002
        _max_pool_grad_op, (g, input, out), (ksize, strides, pads)
    ),
    attr_names=_POOL_ATTRS,
    shape_fn=_pool_shape,
    dtype_fn=_rules.nn_dtype,
)
_max_pool_grad_op = register(
    "_max_pool_grad",
    "nn",
    _max_pool_grad,
    ("grad", "input", "output"),
    {
        "grad": lambda g, input, output, ksize, strides, pads: call_op(  # noqa: A002
            _max_pool_gather_op, (g, input, output), (ksize, strides, pads)
        )
    },
    attr_names=_POOL_ATTRS,
    shape_fn=lambda g, i, o, *a: i,
    dtype_fn=_rules.nn_dtype,
)
_max_pool_gather_op = register(
    "_max_pool_gather",
    "nn",
    _max_pool_gather,
    ("grad", "input", "output"),
    {
        "grad": lambda g, input, output, ksize, strides, pads: call_op(  # noqa: A002
            _max_pool_grad_op, (g, input, output), (ksize, strides, pads)
        )
    },
    attr_names=_POOL_ATTRS,
    shape_fn=lambda g, i, o, *a: o,
    dtype_fn=_rules.nn_dtype,
)
_avg_pool_op = register(
    "avg_pool2d",
    "nn",
    _avg_pool,
    ("input",),
    lambda g, input_shape, ksize, strides, pads: call_op(
        _avg_pool_grad_op, (g,), (input_shape, ksize, strides, pads)
    ),
    attr_names=_POOL_ATTRS,
    shape_fn=_pool_shape,
    dtype_fn=_rules.nn_dtype,
)
_avg_pool_grad_op = register(
    "_avg_pool_grad",
    "nn",
    _avg_pool_grad,
    ("grad",),
    lambda g, ksize, strides, pads: call_op(_avg_pool_op, (g,), (ksize, strides, pads)),
    attr_names=("input_shape",) + _POOL_ATTRS,
    shape_fn=lambda g, shape, *a: tuple(shape),
    dtype_fn=_rules.nn_dtype,
)


def _pool_call(op_name, op, input, ksize, strides, padding, data_format):  # noqa: A002
    (x,) = _floats(op_name, (input,), ("input",))
    ins, names = (x,), ("input",)
    first = _data_format(op_name, ins, names, data_format, ("NHWC", "NCHW"))
    _rank(op_name, ins, names, x, 4, "input")
    ksize = _spatial(op_name, ins, names, ksize, 2, "ksize", first)
    strides = _spatial(op_name, ins, names, strides, 2, "strides", first)
    padding = _padding(op_name, ins, names, padding, 2, False)
    if first:
        x = transpose(x, (0, 2, 3, 1))
    out_sp, pads = _geometry(x.shape[1:3], ksize, strides, (1, 1), padding)
    pads = _known_pads(op_name, ins, names, pads, x.shape[1:3], ksize)
    _check_output(op_name, ins, names, out_sp, x.shape[1:3], ksize)
    out = op.apply((x,), (ksize, strides, pads))
    return transpose(out, (0, 3, 1, 2)) if first else out


@public("max_pool2d", _max_pool_op, None)
def max_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):  # noqa: A002
    """The maximum over each window of a (batch, height, width, channels) tensor.

    `ksize` and `strides`: an int or a list of 1, 2 or 4 ints; `padding`
    "SAME" or "VALID" as for conv2d (padded elements never win). The gradient
    goes to the first maximum of each window (row-major), as TensorFlow.

    >>> import fasttape as ft
    >>> x = ft.reshape(ft.range(16.0), (1, 4, 4, 1))
    >>> ft.nn.max_pool2d(x, 2, 2, "VALID").numpy()[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]], dtype=float32)
    """
    return _pool_call("max_pool2d", _max_pool_op, input, ksize, strides, padding, data_format)


@public("avg_pool2d", _avg_pool_op, None)
def avg_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):  # noqa: A002
    """The mean over each window of a (batch, height, width, channels) tensor.

    Arguments as for max_pool2d. With "SAME" padding a border window averages
    only its real elements, as TensorFlow.

    >>> import fasttape as ft
    >>> x = ft.reshape(ft.range(16.0), (1, 4, 4, 1))
    >>> ft.nn.avg_pool2d(x, 2, 2, "VALID").numpy()[0, :, :, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]], dtype=float32)
    """
    return _pool_call("avg_pool2d", _avg_pool_op, input, ksize, strides, padding, data_format)


# --- losses -----------------------------------------------------------------------


def _xent(labels, logits, axis):
    logp = _log_softmax(logits, axis)
    return -np.sum(labels * logp, axis=axis), logp


def _xent_labels_vjp(g0, out1, axis):
    # out1 = log_softmax(logits); g1 (its cotangent) does not depend on labels
    return None if g0 is None else -np.expand_dims(g0, axis) * out1


def _xent_logits_vjp(g0, g1, labels, out1, axis):
    # exact for labels that do not sum to 1 (TensorFlow's kernel assumes they do):
    # d loss / d logits = softmax * sum(labels) - labels
    p = np.exp(out1)
    grad = None
    if g0 is not None:
        grad = np.expand_dims(g0, axis) * (p * np.sum(labels, axis=axis, keepdims=True) - labels)
    if g1 is not None:  # higher-order sweeps only: the log_softmax output's own cotangent
        jvp = g1 - p * np.sum(g1, axis=axis, keepdims=True)
        grad = jvp if grad is None else grad + jvp
    return grad


_xent_op = register(
    "softmax_cross_entropy_with_logits",
    "nn",
    _xent,
    ("labels", "logits"),
    {"labels": _xent_labels_vjp, "logits": _xent_logits_vjp},
    attr_names=("axis",),
    n_out=2,
    shape_fn=lambda s, t, axis: (tuple(d for i, d in enumerate(s) if i != axis), tuple(s)),
    dtype_fn=_rules.nn_dtype2,
)


@public("softmax_cross_entropy_with_logits", _xent_op, None)
def softmax_cross_entropy_with_logits(labels, logits, axis=-1, name=None):
    """Cross-entropy -sum(labels * log_softmax(logits)) along `axis`, per example.

    labels: a probability distribution along `axis` (same shape and dtype as
    logits); gradients flow to both labels and logits, as in TensorFlow.

    >>> import fasttape as ft
    >>> loss = ft.nn.softmax_cross_entropy_with_logits([[0.0, 1.0]], [[0.0, 0.0]])
    >>> loss.numpy().round(4)
    array([0.6931], dtype=float32)
    """
    names = ("labels", "logits")
    y, x = _floats("softmax_cross_entropy_with_logits", (labels, logits), names)
    if x.ndim < 1 or incompatible(y.shape, x.shape):
        raise errors.op_error(
            ValueError,
            "softmax_cross_entropy_with_logits",
            (y, x),
            "labels and logits must have the same shape (rank >= 1)",
            names,
        )
    ax = normalize_axis("softmax_cross_entropy_with_logits", x, axis)
    if len(ax) != 1:
        raise errors.op_error(
            ValueError,
            "softmax_cross_entropy_with_logits",
            (y, x),
            f"axis must be one int, got {axis!r}",
            names,
        )
    loss, _ = _xent_op.apply((y, x), ax)
    return loss


def _sigmoid(x):
    return 0.5 * (np.tanh(0.5 * x) + 1.0)  # no overflow for large |x|


_sigmoid_xent_op = register(
    # max(x, 0) - x * z + log1p(exp(-|x|)): never overflows
    "sigmoid_cross_entropy_with_logits",
    "nn",
    lambda labels, logits: (
        np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))
    ),
    ("labels", "logits"),
    {
        "labels": lambda g, logits: -g * logits,
        "logits": lambda g, labels, logits: g * (_sigmoid(logits) - labels),
    },
    shape_fn=lambda s, t: _rules.same_shapes([s, t]),
    elementwise=True,
    dtype_fn=_rules.nn_dtype,
)


@public("sigmoid_cross_entropy_with_logits", _sigmoid_xent_op, None)
def sigmoid_cross_entropy_with_logits(labels=None, logits=None, name=None):
    """Elementwise logistic loss of `logits` against `labels` (in [0, 1]), in the
    stable form max(x, 0) - x * z + log1p(exp(-|x|)); labels and logits have one
    shape and dtype.

    >>> import fasttape as ft
    >>> ft.nn.sigmoid_cross_entropy_with_logits([1.0, 0.0], [100.0, 100.0]).numpy().round(3)
    array([  0., 100.], dtype=float32)
    """
    names = ("labels", "logits")
    y, x = _floats("sigmoid_cross_entropy_with_logits", (labels, logits), names)
    if incompatible(y.shape, x.shape):
        raise errors.op_error(
            ValueError,
            "sigmoid_cross_entropy_with_logits",
            (y, x),
            "labels and logits must have the same shape",
            names,
        )
    return _sigmoid_xent_op.apply((y, x))


_l2_loss_op = register(
    "l2_loss",
    "nn",
    lambda t: np.sum(t * t) / 2,
    ("t",),
    lambda g, t: g * t,
    broadcast_grads=True,
    shape_fn=lambda s: (),
    dtype_fn=_rules.nn_dtype,
)


@public("l2_loss", _l2_loss_op, None)
def l2_loss(t, name=None):
    """sum(t ** 2) / 2, a scalar (without the square root).

    >>> import fasttape as ft
    >>> float(ft.nn.l2_loss([1.0, 2.0, 3.0]))
    7.0
    """
    (x,) = _floats("l2_loss", (t,), ("t",))
    return _l2_loss_op.apply((x,))


# --- dropout ----------------------------------------------------------------------
# The kept-and-scaled mask (0 or 1 / (1 - rate), x's dtype) is the op's second
# output: the gradient goes through the same mask.


def _dropout_shape(x_shape, rate, noise_shape, seed):
    """(x's shape, the mask's shape); noise_shape must broadcast to x's shape."""
    mask = tuple(x_shape) if noise_shape is None else tuple(noise_shape)
    if len(mask) > len(x_shape) or any(
            m not in (1, d) and d is not None for m, d in zip(mask[::-1], x_shape[::-1])):
        raise ValueError(f"noise_shape {mask} does not broadcast to x's shape {tuple(x_shape)}")
    return tuple(x_shape), mask


def _dropout_forward(x, rate, noise_shape, seed):
    """(x * mask, mask): the mask is drawn here, in the op, so that every run
    (eager, or of a graph) draws anew; it is the second output so that the
    tape saves it for the VJP. See Note [Creation and random ops]."""
    shape = x.shape if noise_shape is None else noise_shape
    # drawn flat (NumPy's generators refuse more than 32 axes) as 32-bit
    # integers, kept when >= rate * 2**32: the generator's raw output, 2.5x
    # faster than uniform doubles; P(keep) = 1 - rate to within 2**-32
    n = int(np.prod(shape))
    bits = _random.rng(seed).bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]
    keep = bits >= np.uint32(min(round(float(rate) * 2.0**32), 2**32 - 1))
    mask = np.multiply(np.reshape(keep, shape), x.dtype.type(1 / (1 - rate)), dtype=x.dtype)
    return x * mask, mask


_dropout_op = register(
    "dropout",
    "nn",
    _dropout_forward,
    ("x",),
    lambda g, out1: None if g is None else g * out1,  # (the mask does not depend on x)
    attr_names=("rate", "noise_shape", "seed"),
    n_out=2,
    shape_fn=_dropout_shape,
    dtype_fn=_rules.nn_dtype2,
    stateful=True,
    batchable=True,  # g * mask broadcasts over g's leading axes
)


@public("dropout", _dropout_op, None)
def dropout(x, rate, noise_shape=None, seed=None, name=None):
    """Zeroes each element of `x` with probability `rate` and scales the rest by
    1 / (1 - rate), so that the expected value is unchanged.

    Args:
        x: a floating-point tensor.
        rate: the probability of dropping an element, in [0, 1).
        noise_shape: the shape of the random keep/drop mask, which must
            broadcast to x's shape (e.g. (batch, 1, 1, channels) drops whole
            channels); default x's shape.
        seed: with a seed, the same mask every call; without one, the mask
            comes from ft.random's generator (reproducible under
            ft.random.set_seed).

    >>> import fasttape as ft
    >>> y = ft.nn.dropout(ft.ones((2, 4)), rate=0.5, seed=1)
    >>> sorted(set(y.numpy().ravel().tolist()))
    [0.0, 2.0]
    """
    (t,) = _floats("dropout", (x,), ("x",))
    if isinstance(rate, Tensor):
        rate = rate.numpy()
    if np.ndim(rate) != 0 or not 0 <= float(rate) < 1:
        raise errors.op_error(
            ValueError, "dropout", (t,), f"rate must be a number in [0, 1), got {rate!r}", ("x",)
        )
    rate = float(rate)
    shape = (
        t.shape
        if noise_shape is None
        else tuple(_ints("dropout", (t,), ("x",), noise_shape, "noise_shape"))
    )
    try:  # unknown dims of a graph's x pass (Note [Unknown ranks])
        ok = (noise_shape is None or t.shape.rank is None
              or not incompatible(broadcast_all(shape, t.shape), t.shape))
    except ValueError:
        ok = False
    if not ok:
        raise errors.op_error(
            ValueError,
            "dropout",
            (t,),
            f"noise_shape {shape} does not broadcast to x's shape",
            ("x",),
        )
    return _dropout_op.apply((t,), (rate, None if noise_shape is None else shape, seed))[0]


# --- normalisation ------------------------------------------------------------------


def _count(shape, axes):
    """The number of entries over `axes`; None when a graph's unknown dim makes
    it unknown (0 when a known dim is 0)."""
    dims = [shape[a] for a in axes]
    if 0 in dims:
        return 0
    return None if None in dims else math.prod(dims)


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _moments(x, axes, keepdims):
    mean = np.mean(x, axis=axes, keepdims=True)
    centered = x - mean
    variance = np.mean(centered * centered, axis=axes, keepdims=True)
    if keepdims:
        return mean, variance
    return np.squeeze(mean, axis=axes), np.squeeze(variance, axis=axes)


def _moments_vjp(g0, g1, x, x_shape, out0, axes, keepdims):
    kept, n = _kept_shape(x_shape, axes), _count(x_shape, axes)
    grad = None
    if g0 is not None:
        grad = np.reshape(g0, kept) / n  # broadcasts to x (a lazy gradient)
    if g1 is not None:
        d = np.reshape(g1, kept) * (2 / n) * (x - np.reshape(out0, kept))
        grad = d if grad is None else grad + d
    return grad


_moments_op = register(
    "moments",
    "nn",
    _moments,
    ("x",),
    _moments_vjp,
    attr_names=("axes", "keepdims"),
    n_out=2,
    shape_fn=lambda s, axes, keepdims: (
        (
            (
                _kept_shape(s, axes)
                if keepdims
                else tuple(d for i, d in enumerate(s) if i not in axes)
            ),
        )
        * 2
    ),
    dtype_fn=_rules.nn_dtype2,
)


@public("moments", _moments_op, None)
def moments(x, axes, shift=None, keepdims=False, name=None):
    """(mean, variance) of `x` over `axes` (the population variance, as TensorFlow).

    >>> import fasttape as ft
    >>> mean, variance = ft.nn.moments(ft.constant([[1.0, 3.0], [5.0, 7.0]]), axes=[0])
    >>> mean.numpy(), variance.numpy()
    (array([3., 5.], dtype=float32), array([4., 4.], dtype=float32))
    """
    (t,) = _floats("moments", (x,), ("x",))
    ax = normalize_axis("moments", t, axes)
    ax = tuple(range(t.ndim)) if ax is None else ax
    if _count(t.shape, ax) == 0:
        raise errors.op_error(ValueError, "moments", (t,), f"axes {axes} are empty", ("x",))
    return _moments_op.apply((t,), (ax, bool(keepdims)))


def _batch_norm(x, mean, variance, offset, scale, variance_epsilon):
    return (x - mean) * (scale / np.sqrt(variance + variance_epsilon)) + offset


def _inv_std(variance, variance_epsilon):
    return 1 / np.sqrt(variance + variance_epsilon)


_BN_NAMES = ("x", "mean", "variance", "offset", "scale")
_batch_norm_op = register(
    "batch_normalization",
    "nn",
    _batch_norm,
    _BN_NAMES,
    {
        "x": lambda g, variance, scale, variance_epsilon: (
            g * (scale * _inv_std(variance, variance_epsilon))
        ),
        "mean": lambda g, variance, scale, variance_epsilon: (
            -g * (scale * _inv_std(variance, variance_epsilon))
        ),
        "variance": lambda g, x, mean, variance, scale, variance_epsilon: (
            g * (scale * (mean - x)) * (0.5 * _inv_std(variance, variance_epsilon) ** 3)
        ),
        "offset": "identity",
        "scale": lambda g, x, mean, variance, variance_epsilon: (
            g * (x - mean) * _inv_std(variance, variance_epsilon)
        ),
    },
    attr_names=("variance_epsilon",),
    shape_fn=lambda *a: _rules.broadcast_shapes(*a[:5]),
    elementwise=True,
    dtype_fn=_rules.nn_dtype,
)


@public("batch_normalization", _batch_norm_op, None)
def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """(x - mean) * scale / sqrt(variance + variance_epsilon) + offset, broadcasting.

    `offset` and `scale` may be None (0 and 1). The statistics are inputs (for
    example from ft.nn.moments), and every input gets a gradient.

    >>> import fasttape as ft
    >>> x = ft.constant([[1.0, 2.0], [3.0, 6.0]])
    >>> mean, variance = ft.nn.moments(x, axes=[0])
    >>> ft.nn.batch_normalization(x, mean, variance, None, None, 0.0).numpy()
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    """
    given = [(n, v) for n, v in zip(_BN_NAMES, (x, mean, variance, offset, scale)) if v is not None]
    names = tuple(n for n, _ in given)
    vals = dict(zip(names, _floats("batch_normalization", [v for _, v in given], names)))
    dtype = vals["x"].dtype.type
    for n, default in (("offset", 0), ("scale", 1)):
        if n not in vals:
            vals[n] = np.array(default, dtype=dtype)
            vals[n].flags.writeable = False
    ins = tuple(vals[n] for n in _BN_NAMES)
    try:
        if all(v.ndim is not None for v in ins):  # unknown ranks: Note [Unknown ranks]
            broadcast_all(*[v.shape for v in ins])
    except ValueError:
        raise errors.op_error(
            ValueError,
            "batch_normalization",
            ins,
            "the inputs' shapes do not broadcast together",
            _BN_NAMES,
        ) from None
    return _batch_norm_op.apply(ins, (float(variance_epsilon),))


def _layer_norm(x, gamma, beta, axes, epsilon):
    centered = x - np.mean(x, axis=axes, keepdims=True)
    variance = np.mean(centered * centered, axis=axes, keepdims=True)
    return centered * (1 / np.sqrt(variance + epsilon)) * gamma + beta


def _layer_norm_vjp(g, x, gamma, axes, epsilon):
    centered = x - np.mean(x, axis=axes, keepdims=True)
    inv = 1 / np.sqrt(np.mean(centered * centered, axis=axes, keepdims=True) + epsilon)
    xhat = centered * inv
    gh = g * gamma
    dx = inv * (
        gh
        - np.mean(gh, axis=axes, keepdims=True)
        - xhat * np.mean(gh * xhat, axis=axes, keepdims=True)
    )
    return dx, g * xhat, g  # the sweep sums the last two back to gamma's and beta's shapes


_layer_norm_op = register(
    "layer_norm",
    "nn",
    _layer_norm,
    ("x", "gamma", "beta"),
    _layer_norm_vjp,
    attr_names=("axes", "epsilon"),
    shape_fn=lambda s, *a: tuple(s),
    dtype_fn=_rules.nn_dtype,
)


@public("layer_norm", _layer_norm_op, None)
def layer_norm(x, axis=-1, epsilon=1e-3, gamma=None, beta=None, name=None):
    """Layer normalisation: x standardised over `axis`, then `* gamma + beta`.

    (x - mean) / sqrt(variance + epsilon) * gamma + beta, with the mean and the
    (population) variance taken over `axis` (an int or a tuple of ints) per
    example, as Keras's LayerNormalization (epsilon 1e-3 by default, as there;
    PyTorch's default is 1e-5). `gamma` and `beta` (None: 1 and 0) must
    broadcast to x's shape, e.g. shape (features,) for axis=-1.

    >>> import fasttape as ft
    >>> ft.nn.layer_norm(ft.constant([[1.0, 3.0]]), epsilon=0.0).numpy()
    array([[-1.,  1.]], dtype=float32)
    """
    given = [(n, v) for n, v in (("x", x), ("gamma", gamma), ("beta", beta)) if v is not None]
    names = tuple(n for n, _ in given)
    vals = dict(zip(names, _floats("layer_norm", [v for _, v in given], names)))
    known_rank("layer_norm", tuple(vals.values()), names)
    t = vals["x"]
    for n, default in (("gamma", 1), ("beta", 0)):
        if n not in vals:
            vals[n] = np.array(default, dtype=t.dtype)
            vals[n].flags.writeable = False
    ins = (t, vals["gamma"], vals["beta"])
    for v in ins[1:]:
        try:
            ok = not incompatible(broadcast_all(v.shape, t.shape), t.shape)
        except ValueError:
            ok = False
        if not ok:
            raise errors.op_error(
                ValueError,
                "layer_norm",
                ins,
                "gamma and beta must broadcast to x's shape",
                ("x", "gamma", "beta"),
            )
    axes = normalize_axis("layer_norm", t, axis)
    axes = tuple(range(t.ndim)) if axes is None else axes
    if _count(t.shape, axes) == 0:
        raise errors.op_error(
            ValueError, "layer_norm", ins, f"axis {axis} is empty", ("x", "gamma", "beta")
        )
    return _layer_norm_op.apply(ins, (axes, float(epsilon)))


# --- embeddings -----------------------------------------------------------------------


def _raw(x):
    return x.numpy() if isinstance(x, Tensor) else x


def _embedding_lookup(params, ids):
    check_range(ids, params.shape[0], "ids")
    return np.take(params, ids, axis=0)


_embedding_op = register(
    "embedding_lookup",
    "nn",
    _embedding_lookup,
    ("params", "ids"),
    # repeated ids accumulate (np.add.at), through getitem's gradient op
    {
        "params": lambda g, ids, params_shape: call_op(
            _index_add_op, (g,), (params_shape, (_raw(ids),))
        )
    },
    shape_fn=lambda p, i: tuple(i) + tuple(p[1:]),
    dtype_fn=_rules.indices_dtype,
)


@public("embedding_lookup", _embedding_op, None)
def embedding_lookup(params, ids, max_norm=None, name=None):
    """Rows of `params` at `ids`: shape ids.shape + params.shape[1:].

    `params` may be a list of tensors sharded along their first axis (joined
    in order, TensorFlow's "div" strategy). With `max_norm`, each looked-up
    embedding whose l2 norm exceeds it is scaled down to that norm. The
    gradient for params accumulates over repeated ids.

    >>> import fasttape as ft
    >>> table = ft.constant([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    >>> ft.nn.embedding_lookup(table, [2, 0, 2]).numpy()
    array([[4., 5.],
           [0., 1.],
           [4., 5.]], dtype=float32)
    """
    if isinstance(params, (list, tuple)):
        params = params[0] if len(params) == 1 else concat(list(params), 0)
    p = params if isinstance(params, Tensor) else convert_to_tensor(params)
    i = ids if isinstance(ids, Tensor) else convert_to_tensor(ids)
    names = ("params", "ids")
    if i.dtype.kind not in "iu":
        raise errors.op_error(
            TypeError,
            "embedding_lookup",
            (p, i),
            f"ids must be integers, got {i.dtype.name}",
            names,
        )
    if p.ndim < 1:
        raise errors.op_error(
            ValueError, "embedding_lookup", (p, i), "params must have rank >= 1", names
        )
    out = _embedding_op.apply((p, i))
    if max_norm is None:
        return out
    from fasttape.ops import math_ops as M

    axes = tuple(range(i.ndim, out.ndim))
    norm = M.sqrt(M.reduce_sum(out * out, axis=axes, keepdims=True))
    return out * (float(max_norm) / M.maximum(norm, float(max_norm)))
