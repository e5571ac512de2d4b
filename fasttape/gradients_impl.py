"""Symbolic gradients: `ft.gradients(ys, xs)` builds the gradient of a graph
into the graph, with the op table's VJPs, through the reverse sweep of the
core in its symbolic value space (Note [One sweep, several value spaces] in
fasttape/_core/_sweep.pxi). GradientTapes entered while a graph is built (in
an `ft.function` trace, or `with g.as_default():`) use the same walk
(Note [Tapes in graphs] in fasttape/backprop.py).

Note [The graph walk]
~~~~~~~~~~~~~~~~~~~~~
`_walk` is the graph's counterpart of the tape's pruning: over the nodes of
the graph in build order (a topological order) it marks the tensors that
depend on the sources (through ops of the table that are differentiable and,
for a tape, that the tape recorded), then, in reverse order, the nodes that
one of the targets needs. Each float tensor on such a path gets a gradient
slot; every read of a variable that is a source (its ReadVariableOp nodes,
and the VariableV2 output of a graph variable) shares the variable's slot,
so the reads' gradients add up, as they do for an eager variable read
several times. The core's `_graph_sweep` then runs `_Sweep.node()` on each
live node in reverse build order; the VJPs stage their nodes into the same
graph (under the name scope `name`, "gradients" by default, as TensorFlow).
The results have their sources' static shapes and dtypes: a lazy gradient
is broadcast, a missing one is None (or zeros with
UnconnectedGradients.ZERO).

Note [Deferred VJPs]
~~~~~~~~~~~~~~~~~~~~
The contract is Note [Unknown dims in VJPs] (fasttape/_core/_sweep.pxi). When
a VJP uses an unknown dim as a number, the core drops the nodes the entry
added and calls `_defer`: one `_deferred_vjp` node per input that needs a
gradient, whose inputs are the entry's output gradients and its node's
inputs and outputs, and whose attributes are the op, its attributes and the
layout. Running, it calls the core's `_node_gradients` (the same node()
step, raw value space) on the concrete values. Its own VJP runs that step
under an eager GradientTape in the recorded space (as py_func's gradient
runs its function under a tape), so every order works; in a graph it is
deferred in turn (its VJP needs values). `_sum_to(grad, like)` is the fit of
a gradient to its input's run-time shape where static shapes cannot say
which axes to sum.
"""

import numpy as np

from fasttape import errors as _errors
from fasttape import graph as _graph
from fasttape import nest
from fasttape._core import core as _core
from fasttape.backprop import UnconnectedGradients
from fasttape.ops._registry import OPS, call_op, register

__all__ = ["gradients", "UnknownDimError"]

UnknownDimError = _core.UnknownDimError
Tensor = _core.Tensor


# ------------------------------------------------------------ _sum_to


def _sum_to_forward(grad, like):
    """grad summed (over extra leading axes and axes where `like` has 1) and
    broadcast to like's shape."""
    shape = like.shape
    lead = grad.ndim - len(shape)
    if lead > 0:
        grad = np.add.reduce(grad, axis=tuple(range(lead)))
    off = len(shape) - grad.ndim
    axes = tuple(i for i, n in enumerate(grad.shape) if n != 1 and shape[off + i] == 1)
    if axes:
        grad = np.add.reduce(grad, axis=axes, keepdims=True)
    if grad.shape != shape:
        grad = np.broadcast_to(grad, shape)
    return grad


def _sum_to_shape(grad_shape, like_shape):
    return tuple(like_shape)


def _sum_to_dtype(grad_dtype, like_dtype):
    return grad_dtype


_sum_to_op = register(
    "_sum_to", "custom", _sum_to_forward, ("grad", "like"),
    {"grad": lambda g, grad: call_op(_sum_to_op, (g, grad))},
    shape_fn=_sum_to_shape, dtype_fn=_sum_to_dtype)


def sum_to(grad, like):
    """`grad` summed and broadcast to the run-time shape of `like` (the
    symbolic sweep's fit where a dim is unknown: Note [Unknown dims in VJPs])."""
    return _sum_to_op.apply((grad, like))


# ------------------------------------------------------------ deferred VJPs


def _split(values, gmask, n_in):
    ng = sum(gmask)
    it = iter(values[:ng])
    gs = [next(it) if m else None for m in gmask]
    return gs, list(values[ng:ng + n_in]), list(values[ng + n_in:])


def _as_tensor(v):
    return v if isinstance(v, Tensor) else _core.wrap_array(np.asarray(v))


def _deferred_forward(*args):
    *values, op, op_attrs, gmask, n_in, want, _where = args
    gs, ins, outs = _split(values, gmask, n_in)
    grads = _core._node_gradients(op, [_as_tensor(x) for x in ins], op_attrs,
                                  [_as_tensor(o) for o in outs],
                                  [None if g is None else _as_tensor(g) for g in gs], False)
    r = grads[want]
    x = np.asarray(ins[want])
    if r is None:
        return np.zeros(x.shape, x.dtype)
    return _core.tensor_value(r)


def _deferred_shape(shapes, op, op_attrs, gmask, n_in, want, where):
    return tuple(shapes[sum(gmask) + want])


def _deferred_dtype(dtypes, op, op_attrs, gmask, n_in, want, where):
    return dtypes[sum(gmask) + want]


def _deferred_vjp_grad(g, inputs, op, attrs, gmask, n_in, want, where):
    """The deferred node's own VJP: its forward (one input's gradient)
    differentiated by an eager tape over the recorded sweep."""
    from fasttape.backprop import GradientTape

    if any(_core.is_symbolic(x) for x in inputs):
        raise UnknownDimError(f"the gradient of the deferred VJP of {where} needs values")
    xs = [_as_tensor(x) for x in inputs]
    floats = [x for x in xs if x.dtype.kind in "fc"]
    with GradientTape() as tape:
        tape.watch(floats)
        gs, ins, outs = _split(xs, gmask, n_in)
        r = _core._node_gradients(op, ins, attrs, outs, gs, True)[want]
    if r is None:
        return [None] * len(xs)
    return tape.gradient(r, xs, output_gradients=_as_tensor(g))


_deferred_op = register(
    "_deferred_vjp", "custom", _deferred_forward, ("inputs",), _deferred_vjp_grad,
    attr_names=("op", "attrs", "gmask", "n_in", "want", "where"), variadic=True,
    shape_fn=_deferred_shape, dtype_fn=_deferred_dtype)


def _drop_nodes(graph, mark):
    """Removes the nodes added to `graph` after the first `mark` (an entry
    whose VJP was deferred: Note [Unknown dims in VJPs])."""
    with graph._lock:
        for node in graph._ops[mark:]:
            if graph._by_name.get(node.name) is node:
                del graph._by_name[node.name]
        del graph._ops[mark:]


def _defer(node, gs, wanted, mark):
    """The deferred-VJP nodes of `node` (Note [Deferred VJPs])."""
    graph = node.graph
    _drop_nodes(graph, mark)
    op = node.op_def
    gmask = tuple(g is not None for g in gs)
    inputs = [g for g in gs if g is not None] + list(node._inputs) + list(node._outputs)
    where = f"node '{node.name}' (op {op.name})"
    out = []
    for i in wanted:
        with _graph.op_name(f"{node.name.rsplit('/', 1)[-1]}_grad"):
            out.append((i, _deferred_op.apply(inputs, (op, node.attrs, gmask, len(node._inputs),
                                                       i, where))))
    return out


# ------------------------------------------------------------ the walk


def _float(t):
    return t.dtype.kind in "fc"


def _variable_reads(graph, v, allowed=None):
    """The tensors of `graph` that read variable `v` (in `allowed` nodes)."""
    reads = []
    for node in graph._ops:
        if node._type in ("ReadVariableOp", "VariableV2") and node.attrs and node.attrs[0] is v:
            if allowed is None or allowed(node):
                reads.append(node._outputs[0])
    return reads


def _walk(graph, targets, seeds, sources, allowed=None, stop=(), batch=0, name="gradients"):
    """The gradient of sum(targets) (seeded by `seeds`, None for ones) with
    respect to each entry of `sources`: a list of tensors whose gradients add
    up (a tensor, or a variable's reads). Returns one gradient value (or None)
    per source, before the final broadcast. `allowed(node)`: whether the walk
    may go through a node (a tape's recorded ones). See Note [The graph walk]."""
    ops = graph.get_operations()
    reached = set()
    for group in sources:
        for t in group:
            if _float(t):
                reached.add(t)
    stop = set(stop)
    fwd_nodes = set()
    for node in ops:
        op = node.op_def
        if op is None or not op.differentiable or (allowed is not None and not allowed(node)):
            continue
        if any(t in reached and t not in stop for t in node._inputs):
            fwd_nodes.add(node)
            for t in node._outputs:
                if _float(t):
                    reached.add(t)
    needed = {t for t in targets if t in reached}
    live = []
    for node in reversed(ops):
        if node in fwd_nodes and any(t in needed for t in node._outputs):
            live.append(node)
            for t in node._inputs:
                if t in reached and t not in stop:
                    needed.add(t)
    slot_of = {}
    source_slots = []
    for group in sources:
        s = -1
        for t in group:
            if t in needed and _float(t):
                if s < 0:
                    s = slot_of.get(t, len(slot_of))
                slot_of[t] = s
        source_slots.append(s)
    n = max(slot_of.values(), default=-1) + 1
    for t in needed:
        if t not in slot_of and t not in stop:
            slot_of[t] = n
            n += 1
    seeded = [(slot_of[t], t, seed) for t, seed in zip(targets, seeds) if t in slot_of]
    if not seeded:
        return [None] * len(sources)
    with graph.as_default(), _graph.name_scope(name):
        return _core._graph_sweep(live, slot_of, n, seeded, source_slots, _defer, batch)


def _finish(g, x_shape, x_dtype, like, zero):
    """A source's gradient as returned: a graph tensor of the source's static
    shape and dtype (None when there is none and not `zero`)."""
    if g is None:
        if not zero:
            return None
        if None in x_shape:
            return OPS["zeros_like"](like)
        return _graph.constant(_core.wrap_array(np.zeros(x_shape, x_dtype)))
    if not _core.is_symbolic(g):
        g = OPS["identity"](g)
    gs = g.shape
    if gs.rank is None or tuple(gs) != tuple(x_shape) or None in x_shape and gs != x_shape:
        if None in x_shape or gs.rank is None or None in tuple(gs):
            g = sum_to(g, like)
        else:
            g = OPS["broadcast_to"](g, tuple(x_shape))
    if g.dtype != x_dtype:
        g = OPS["cast"](g, x_dtype)
    return g


def _source_groups(graph, xs, what, allowed=None):
    groups = []
    for k, x in enumerate(xs):
        if isinstance(x, _core.Variable):
            info = getattr(x, "_graph_var", None)
            if info is not None and info.graph is not graph:
                raise ValueError(f"{what}: the variable '{x.name}' (xs[{k}]) belongs to another "
                                 "graph than ys")
            groups.append(_variable_reads(graph, x, allowed))
        elif _core.is_symbolic(x):
            if x.graph is not graph:
                raise ValueError(f"{what}: xs[{k}] ({x.name}) is a tensor of another graph than "
                                 "ys")
            groups.append([x])
        else:
            raise TypeError(f"{what}: xs[{k}] must be a graph tensor or a variable, got "
                            f"{_errors.describe(x)}")
    return groups


def _like(x, group):
    """A tensor of x's run-time shape (for zeros_like / _sum_to)."""
    if isinstance(x, _core.Variable):
        return group[0] if group else None
    return x


def gradients(ys, xs, grad_ys=None, name="gradients", gate_gradients=False,
              aggregation_method=None, stop_gradients=None,
              unconnected_gradients=UnconnectedGradients.NONE):
    """The symbolic gradient of `sum(ys)` with respect to each of `xs`, built
    into the graph of `ys` (TensorFlow's `tf.gradients`).

    `ys` and `xs` are graph tensors (or lists of them); `xs` may hold
    variables (the gradient with respect to all their reads). `grad_ys`: one
    seed per y (None entries: ones). Returns a list with one graph tensor per
    x, None where y does not depend on it (zeros with
    `unconnected_gradients=ft.UnconnectedGradients.ZERO`). `stop_gradients`:
    tensors held constant. The gradient nodes are the VJPs of the op table,
    staged as ordinary nodes (under the name scope `name`), so gradients of
    gradients work. A VJP that needs a dim the graph does not know runs at
    run time (Note [Unknown dims in VJPs]). `gate_gradients` and
    `aggregation_method` are accepted for TensorFlow compatibility.

    >>> import fasttape as ft
    >>> g = ft.Graph()
    >>> with g.as_default():
    ...     x = ft.placeholder(ft.float32, shape=(None,))
    ...     y = ft.reduce_sum(x * x)
    ...     (dx,) = ft.gradients(y, [x])
    >>> ft.Session(graph=g).run(dx, {x: [1.0, 2.0]})
    array([2., 4.], dtype=float32)
    """
    what = "ft.gradients"
    unconnected = UnconnectedGradients(unconnected_gradients)
    flat_ys = nest.flatten(ys)
    flat_xs = nest.flatten(xs)
    if not flat_ys:
        raise ValueError(f"{what}: ys is empty")
    graph = None
    for k, y in enumerate(flat_ys):
        if not isinstance(y, Tensor):
            raise TypeError(f"{what}: ys[{k}] must be a graph tensor, got {_errors.describe(y)}")
        if not _core.is_symbolic(y):
            raise RuntimeError(
                f"{what} is not supported when eager execution is enabled (ys[{k}] is an eager "
                "tensor); use ft.GradientTape, or build the graph inside `with "
                "ft.Graph().as_default():` or an ft.function")
        if graph is None:
            graph = y.graph
        elif y.graph is not graph:
            raise ValueError(f"{what}: ys[{k}] ({y.name}) is a tensor of another graph than "
                             "ys[0]")
    seeds = [None] * len(flat_ys)
    if grad_ys is not None:
        seeds = list(grad_ys) if isinstance(grad_ys, (list, tuple)) else [grad_ys]
        if len(seeds) != len(flat_ys):
            raise ValueError(f"{what}: {len(seeds)} grad_ys for {len(flat_ys)} ys")
        seeds = [_check_seed(what, k, s, y) for k, (s, y) in enumerate(zip(seeds, flat_ys))]
    groups = _source_groups(graph, flat_xs, what)
    stop = [t for t in nest.flatten(stop_gradients)] if stop_gradients is not None else ()
    return _gradients_of(graph, flat_ys, seeds, flat_xs, groups, None, stop, name,
                         unconnected is UnconnectedGradients.ZERO)


def _gradients_of(graph, ys, seeds, xs, groups, allowed, stop, name, zero, batch=0,
                  batch_shape=()):
    """The walk, then each source's gradient as returned (`_finish`); with
    `batch` > 0 the seeds carry a leading axis of that size (Jacobians), and
    so do the results."""
    raw = _walk(graph, list(ys), seeds, groups, allowed, stop, batch, name)
    out = []
    with graph.as_default(), _graph.name_scope(name):
        for x, group, g in zip(xs, groups, raw):
            like = _like(x, group)
            shape, dtype = tuple(batch_shape) + tuple(x.shape), x.dtype
            if g is None and (like is None or batch):
                out.append(_graph.constant(_core.wrap_array(np.zeros(shape, dtype))) if zero
                           else None)
                continue
            out.append(_finish(g, shape, dtype, like, zero))
    return out


def _check_seed(what, k, s, y):
    if s is None:
        return None
    if not isinstance(s, Tensor):
        s = _core.convert_to_tensor(s, y.dtype)
    if s.dtype != y.dtype:
        raise TypeError(f"{what}: grad_ys[{k}] has dtype {s.dtype.name}, but ys[{k}] "
                        f"({y.name}) has dtype {y.dtype.name}")
    ss = s.shape
    if not ss.is_compatible_with(y.shape) and ss.rank is not None and y.shape.rank is not None:
        raise ValueError(f"{what}: grad_ys[{k}] has shape {ss}, but ys[{k}] ({y.name}) has "
                         f"shape {y.shape}")
    return s


_core.set_special("sum_to", sum_to)
