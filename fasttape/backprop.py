"""GradientTape: records eager ops on the compiled tape and computes gradients
with the reverse sweep in fasttape._core.
"""

import contextlib
import enum
import functools
import inspect
import types
import warnings

import numpy as np

from fasttape import nest
from fasttape._core import core as _core
from fasttape.ops.array_ops import reshape, transpose

Tensor = _core.Tensor
Variable = _core.Variable


class UnconnectedGradients(enum.Enum):
    """What `gradient()` returns for a source the target does not depend on."""

    NONE = "none"
    ZERO = "zero"


class GradientTape(_core.Tape):
    """Records operations for automatic differentiation.

    Ops run inside the context are recorded when one of their inputs is
    watched: trainable variables are watched on use; other tensors through
    `watch`. `gradient()` walks the record back.

    >>> import fasttape as ft
    >>> x = ft.constant(3.0)
    >>> with ft.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = x * x
    >>> tape.gradient(y, x)
    <ft.Tensor shape=() dtype=float32 numpy=6.0>

    Args:
        persistent: allow several `gradient()` calls (the record is kept until
            the tape is dropped or reset).
        watch_accessed_variables: watch trainable variables read inside the context.
    """

    def __init__(self, persistent=False, watch_accessed_variables=True):
        super().__init__(persistent, watch_accessed_variables)
        self._graph_record = None  # See Note [Tapes in graphs]

    def __enter__(self):
        if _core.staging():
            from fasttape.graph import get_default_graph

            graph = get_default_graph()
            rec = self._graph_record
            if rec is None or rec.graph is not graph:
                rec = self._graph_record = _GraphRecord(graph, self)
            rec.enter()
            return self
        if self._graph_record is not None:
            raise RuntimeError(
                "GradientTape: this tape recorded a graph (it was entered while a graph was "
                "being built) and cannot record eager ops; use a new tape")
        self._push()
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._graph_record is not None:
            self._graph_record.exit()
            return False
        self._pop()
        return False

    def watch(self, tensor):
        """Watches a tensor or a nested structure of tensors (ints and bools are ignored)."""
        for t in nest.flatten(tensor):
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"GradientTape.watch: expected tensors or variables, got {type(t).__name__}")
            if self._graph_record is not None:
                self._graph_record.watch(t)
                continue
            _not_symbolic(t, "watched tensor")
            self._watch(t)

    def watched_variables(self):
        """The variables this tape watches, in the order they were first watched."""
        if self._graph_record is not None:
            return self._graph_record.watched_variables()
        return self._watched_variables()

    def reset(self):
        """Forgets everything recorded so far (the tape stays active in its context)."""
        if self._graph_record is not None:
            self._graph_record.reset()
            return
        self._reset()

    def stop_recording(self):
        """A context in which ops are not recorded on this tape."""
        if self._graph_record is not None:
            return self._graph_record.paused()
        return _StopRecording(self)

    def gradient(self, target, sources, output_gradients=None,
                 unconnected_gradients=UnconnectedGradients.NONE, explain_unconnected=False):
        """The gradient of `target` (the sum of a nested structure of tensors)
        with respect to `sources` (a tensor, variable or nested structure).

        Returns the structure of `sources` with a Tensor, or None (or zeros
        with `unconnected_gradients=ZERO`) for sources the target does not
        depend on or whose dtype is not floating point. With
        `explain_unconnected=True`, a warning says why for each such source
        (see `ft.debugging.explain_gradient`).
        """
        if (isinstance(target, Tensor) and output_gradients is None
                and unconnected_gradients is UnconnectedGradients.NONE
                and not explain_unconnected and self._graph_record is None
                and _tensor_list(sources)):
            # the common call, `tape.gradient(loss, [w, b])`, without nest's walks
            _not_symbolic(target, "target")
            for s in sources:
                _not_symbolic(s, "source")
            return self._gradient([target], sources, None, False)
        unconnected = UnconnectedGradients(unconnected_gradients)
        if self._graph_record is not None:
            return self._graph_record.gradient(target, sources, output_gradients, unconnected)
        targets = [_as_tensor(t, "target") for t in nest.flatten(target)]
        flat_sources = _check_sources(sources)
        seeds = _flat_seeds(output_gradients, targets)
        why = None
        if explain_unconnected:  # before the sweep: a non-persistent tape releases its record
            from fasttape.debugging import explain_gradient

            why = explain_gradient(self, targets, flat_sources)
        grads = self._gradient(targets, flat_sources, seeds,
                               unconnected is UnconnectedGradients.ZERO)
        if why is not None:
            for g, reason in zip(grads, why):
                if reason != "connected" and (g is None or unconnected is
                                              UnconnectedGradients.ZERO):
                    warnings.warn(f"GradientTape.gradient: no gradient for {reason}",
                                  stacklevel=2)
        return nest.pack_sequence_as(sources, grads)


    def jacobian(self, target, sources, unconnected_gradients=UnconnectedGradients.NONE,
                 parallel_iterations=None, experimental_use_pfor=True):
        """The Jacobian of `target` with respect to each source: for a source of
        shape S, a tensor of shape target.shape + S.

        Computed in one batched reverse sweep over the rows of the identity
        (not one sweep per element of the target); ops whose VJPs cannot take
        a batch of cotangents fall back to one VJP call per row.
        `parallel_iterations` and `experimental_use_pfor` are accepted for
        TensorFlow compatibility and ignored.

        >>> import fasttape as ft
        >>> x = ft.constant([1.0, 2.0])
        >>> with ft.GradientTape() as tape:
        ...     tape.watch(x)
        ...     y = x * x
        >>> tape.jacobian(y, x).numpy()
        array([[2., 0.],
               [0., 4.]], dtype=float32)
        """
        if self._graph_record is not None:
            return self._graph_record.jacobian(target, sources, unconnected_gradients)
        t = _as_tensor(target, "target")
        flat_sources = _check_sources(sources)
        n = t.size
        zero = UnconnectedGradients(unconnected_gradients) is UnconnectedGradients.ZERO
        if n == 0 or t.dtype.kind not in "fc":
            grads = [_zeros(t.shape + s.shape, s.dtype) if zero else None for s in flat_sources]
            return nest.pack_sequence_as(sources, grads)
        seed = np.eye(n, dtype=t.dtype).reshape((n,) + t.shape)
        rows = self._gradient([t], flat_sources, [seed], zero, n)
        out = [None if g is None else reshape(g, t.shape + s.shape)
               for g, s in zip(rows, flat_sources)]
        return nest.pack_sequence_as(sources, out)

    def batch_jacobian(self, target, source, unconnected_gradients=UnconnectedGradients.NONE,
                       parallel_iterations=None, experimental_use_pfor=True):
        """Per-example Jacobians: for target (b, *T) and source (b, *S), a tensor
        (b, *T, *S) whose [i] is d target[i] / d source[i]. Rows of the batch
        must be independent (as in TensorFlow); one batched sweep over the
        elements of T computes all of them."""
        if self._graph_record is not None:
            return self._graph_record.batch_jacobian(target, source, unconnected_gradients)
        t = _as_tensor(target, "target")
        (s,) = _check_sources([source])
        if t.ndim == 0 or s.ndim == 0 or t.shape[0] != s.shape[0]:
            raise ValueError(
                "GradientTape.batch_jacobian: target and source need the same first (batch) "
                f"dimension, got shapes {t.shape} and {s.shape}")
        b, t_rest, s_rest = t.shape[0], t.shape[1:], s.shape[1:]
        k = int(np.prod(t_rest, dtype=np.int64))
        zero = UnconnectedGradients(unconnected_gradients) is UnconnectedGradients.ZERO
        if k == 0 or b == 0 or t.dtype.kind not in "fc":
            return _zeros((b,) + t_rest + s_rest, s.dtype) if zero else None
        eye = np.eye(k, dtype=t.dtype).reshape((k, 1) + t_rest)
        seed = np.broadcast_to(eye, (k, b) + t_rest)
        (g,) = self._gradient([t], [s], [seed], zero, k)
        if g is None:
            return None
        g = transpose(reshape(g, (k, b) + s_rest), (1, 0) + tuple(range(2, 2 + len(s_rest))))
        return reshape(g, (b,) + t_rest + s_rest)


def _flat_seeds(output_gradients, targets):
    """gradient()'s output_gradients flattened, one per target (None: none given)."""
    if output_gradients is None:
        return None
    seeds = nest.flatten(output_gradients)
    if len(seeds) != len(targets):
        raise ValueError(f"GradientTape.gradient: {len(seeds)} output_gradients for "
                         f"{len(targets)} targets")
    return seeds


def _tensor_list(sources):
    return type(sources) is list and all(isinstance(s, Tensor) for s in sources)


def _check_sources(sources):
    flat = nest.flatten(sources)
    for s in flat:
        if not isinstance(s, Tensor):
            raise TypeError(
                f"GradientTape: sources must be tensors or variables, got {type(s).__name__}")
        _not_symbolic(s, "source")
    return flat


def _not_symbolic(t, what):
    """A tape entered in eager mode records eager ops: a graph's tensor on it
    is an error, never a silent None gradient."""
    if _core.is_symbolic(t):
        raise TypeError(
            f"GradientTape: the {what} {t.name} is a graph tensor, but this tape was entered "
            "in eager mode and records eager ops only; enter the tape where the graph is "
            "built (inside the ft.function, or inside `with graph.as_default():`), or use "
            "ft.gradients")


def _zeros(shape, dtype):
    return _core.wrap_array(np.zeros(shape, dtype))


def _as_tensor(t, what):
    if isinstance(t, Tensor):
        _not_symbolic(t, what)
        return t
    raise TypeError(f"GradientTape.gradient: {what} must be tensors, got {type(t).__name__}")


# Note [Tapes in graphs]
# ~~~~~~~~~~~~~~~~~~~~~~
# A GradientTape entered while a graph is built (inside an ft.function
# trace, or inside `with g.as_default():`) does not push the C tape: ops
# stage nodes there and record nothing. The graph itself is the record. The
# tape remembers which nodes were built while it was active and recording
# (the spans of the graph's node list between __enter__/__exit__, minus its
# stop_recording blocks), the tensors and variables it watches, and at
# gradient() runs the graph walk of ft.gradients (fasttape/gradients_impl.py,
# Note [The graph walk]) restricted to those nodes. That is the eager tape's
# meaning exactly: a source has a gradient when it is watched (a trainable
# variable read inside the tape's context is watched, as eager mode does on
# use: its ReadVariableOp nodes are the reads), or is made by recorded ops
# from watched tensors (or is a target); gradients flow only through
# recorded ops (an op built before the tape was entered is a constant to it,
# as in eager mode). The gradient's nodes are staged into the same graph, so
# a whole train step - forward, tape.gradient, optimizer updates
# (assign_sub nodes) - is one traced graph, and an outer tape active during
# an inner tape's gradient() records those nodes too (higher order).
# Simpler than recording staged ops on the C tape (whose entries hold ids
# and values, not nodes), and the same VJPs run through the same sweep.
# persistent, watch, watched_variables, stop_recording, reset, jacobian and
# batch_jacobian (static shapes) work as in eager mode; a tape recorded in
# a graph cannot then record eager ops (RuntimeError).


class _GraphRecord:
    """What a GradientTape entered while building a graph knows: See Note
    [Tapes in graphs]."""

    def __init__(self, graph, tape):
        self.graph = graph
        self.tape = tape
        self.spans = []        # sets of recorded nodes, one per closed span
        self.start = None      # index of the first node of the open span
        self.depth = 0
        self.paused_depth = 0
        self.watched = []      # watched tensors, in order
        self.watched_vars = []
        self.watched_eager = []  # eager tensors: their Const captures are watched
        self.used = False

    # --- recording spans ------------------------------------------------------
    def enter(self):
        if self.depth:
            raise ValueError("GradientTape: the tape is already active (entered and not "
                             "exited); a tape cannot be re-entered while it is recording")
        if self.used:
            raise RuntimeError(
                "GradientTape: a non-persistent tape can be used for one gradient() only; "
                "create a new tape or use GradientTape(persistent=True)")
        self.depth = 1
        self._open()

    def exit(self):
        self._close()
        self.depth = 0

    def _open(self):
        if self.start is None and not self.paused_depth:
            self.start = len(self.graph._ops)

    def _close(self):
        if self.start is not None:
            self.spans.append(set(self.graph._ops[self.start:]))
            self.start = None

    @contextlib.contextmanager
    def paused(self):
        self._close()
        self.paused_depth += 1
        try:
            yield self
        finally:
            self.paused_depth -= 1
            if self.depth:
                self._open()

    def reset(self):
        self.spans = []
        self.start = None
        self.watched = []
        self.watched_vars = []
        self.watched_eager = []
        self.used = False
        if self.depth:
            self._open()

    def recorded(self):
        nodes = set()
        for span in self.spans:
            nodes |= span
        if self.start is not None:
            nodes.update(self.graph._ops[self.start:])
        return nodes

    # --- watching -------------------------------------------------------------
    def watch(self, t):
        if isinstance(t, Variable):
            if not any(v is t for v in self.watched_vars):
                self.watched_vars.append(t)
            return
        if not _core.is_symbolic(t):
            # an eager tensor the graph captures: its Const nodes are its uses
            if t.dtype.kind in "fc" and not any(w is t for w in self.watched_eager):
                self.watched_eager.append(t)
            return
        if t.graph is not self.graph:
            raise ValueError(f"GradientTape.watch: {t.name} is a tensor of another graph than "
                             "the one this tape records")
        if t.dtype.kind in "fc" and not any(w is t for w in self.watched):
            self.watched.append(t)

    def _auto_vars(self, recorded):
        """Trainable variables read by recorded nodes, in order (watched on use)."""
        out = []
        if not self.tape.watch_accessed_variables:
            return out
        for node in self.graph._ops:
            if node in recorded and node._type == "ReadVariableOp":
                v = node.attrs[0]
                if v.trainable and v.dtype.kind in "fc" and not any(u is v for u in out):
                    out.append(v)
        return out

    def _captures(self, e, recorded):
        """The Const nodes (recorded) that hold eager tensor e's value."""
        value = _core.tensor_value(e)
        return [n._outputs[0] for n in self.graph._ops
                if n._type == "Const" and n in recorded and n.attrs[0] is value]

    def watched_variables(self):
        out = list(self.watched_vars)
        for v in self._auto_vars(self.recorded()):
            if not any(u is v for u in out):
                out.append(v)
        return tuple(out)

    # --- gradients --------------------------------------------------------------
    def _targets(self, target, what="target"):
        out = []
        for t in nest.flatten(target):
            if not isinstance(t, Tensor):
                raise TypeError(f"GradientTape.gradient: {what} must be tensors, got "
                                f"{type(t).__name__}")
            if not _core.is_symbolic(t):
                raise TypeError(
                    f"GradientTape.gradient: the {what} {t!r:.60} is an eager tensor, but this "
                    "tape recorded the graph being built; its targets are that graph's tensors")
            if t.graph is not self.graph:
                raise ValueError(f"GradientTape.gradient: the {what} {t.name} is a tensor of "
                                 "another graph than the one this tape recorded")
            out.append(t)
        return out

    def _groups(self, flat_sources, recorded, targets):
        """Per source, the tensors whose gradients it gets (Note [Tapes in graphs])."""
        from fasttape import gradients_impl as gi

        watched_vars = list(self.watched_vars) + self._auto_vars(recorded)
        tracked = set(self.watched)
        for v in watched_vars:
            tracked.update(gi._variable_reads(self.graph, v, recorded.__contains__))
        for e in self.watched_eager:
            tracked.update(self._captures(e, recorded))
        for node in self.graph._ops:
            if node in recorded and any(t in tracked for t in node._inputs):
                tracked.update(node._outputs)
        target_set = set(targets)
        groups = []
        for s in flat_sources:
            if isinstance(s, Variable):
                info = getattr(s, "_graph_var", None)
                if info is not None and info.graph is not self.graph:
                    raise ValueError(f"GradientTape.gradient: the variable '{s.name}' belongs to "
                                     "another graph than the one this tape recorded")
                if any(v is s for v in watched_vars):
                    groups.append(gi._variable_reads(self.graph, s, recorded.__contains__))
                else:
                    groups.append([])
                continue
            if not isinstance(s, Tensor):
                raise TypeError(f"GradientTape: sources must be tensors or variables, got "
                                f"{type(s).__name__}")
            if not _core.is_symbolic(s):
                # an eager tensor captured by the graph: the sum over its Const nodes
                watched = any(w is s for w in self.watched_eager)
                groups.append(self._captures(s, recorded) if watched else [])
                continue
            if s.graph is not self.graph:
                raise ValueError(f"GradientTape.gradient: the source {s.name} is a tensor of "
                                 "another graph than the one this tape recorded")
            groups.append([s] if s in tracked or s in target_set else [])
        return groups

    def _run(self, targets, seeds, flat_sources, unconnected, batch=0, batch_shape=()):
        from fasttape import gradients_impl as gi

        if self.used:
            raise RuntimeError(
                "GradientTape.gradient can only be called once on a non-persistent tape; "
                "use GradientTape(persistent=True) to compute several gradients")
        recorded = self.recorded()
        groups = self._groups(flat_sources, recorded, targets)
        if not self.tape.persistent:
            self.used = True
        allowed = recorded.__contains__
        return gi._gradients_of(self.graph, targets, seeds, flat_sources, groups, allowed, (),
                                "gradient_tape", unconnected is UnconnectedGradients.ZERO,
                                batch, batch_shape)

    def gradient(self, target, sources, output_gradients, unconnected):
        from fasttape import gradients_impl as gi

        targets = self._targets(target)
        flat_sources = nest.flatten(sources)
        seeds = _flat_seeds(output_gradients, targets)
        seeds = [None] * len(targets) if seeds is None else [
            gi._check_seed("GradientTape.gradient", k, s, t)
            for k, (s, t) in enumerate(zip(seeds, targets))]
        grads = self._run(targets, seeds, flat_sources, unconnected)
        return nest.pack_sequence_as(sources, grads)

    def _static(self, t, what):
        shape = t.shape
        if shape.rank is None or None in tuple(shape):
            raise ValueError(
                f"GradientTape.{what}: the target {t.name} has the shape {shape}, which is not "
                "fully known; a Jacobian in a graph needs static shapes (trace with full shapes, "
                "or use set_shape)")
        return tuple(shape)

    def jacobian(self, target, sources, unconnected_gradients):
        from fasttape.ops.array_ops import reshape

        (t,) = self._targets([target])
        shape = self._static(t, "jacobian")
        n = int(np.prod(shape, dtype=np.int64))
        flat_sources = nest.flatten(sources)
        unconnected = UnconnectedGradients(unconnected_gradients)
        if n == 0 or t.dtype.kind not in "fc":
            from fasttape.ops.array_ops import zeros

            zero = unconnected is UnconnectedGradients.ZERO
            grads = [zeros(shape + tuple(s.shape), s.dtype) if zero else None
                     for s in flat_sources]
            return nest.pack_sequence_as(sources, grads)
        seed = _core.wrap_array(np.eye(n, dtype=t.dtype).reshape((n,) + shape))
        rows = self._run([t], [seed], flat_sources, unconnected, n, (n,))
        out = [None if g is None else reshape(g, shape + tuple(s.shape))
               for g, s in zip(rows, flat_sources)]
        return nest.pack_sequence_as(sources, out)

    def batch_jacobian(self, target, source, unconnected_gradients):
        from fasttape.ops.array_ops import reshape

        (t,) = self._targets([target])
        tshape = self._static(t, "batch_jacobian")
        sshape = tuple(source.shape)
        if not tshape or not sshape or tshape[0] != sshape[0]:
            raise ValueError(
                "GradientTape.batch_jacobian: target and source need the same first (batch) "
                f"dimension, got shapes {tshape} and {sshape}")
        b, t_rest, s_rest = tshape[0], tshape[1:], sshape[1:]
        k = int(np.prod(t_rest, dtype=np.int64))
        unconnected = UnconnectedGradients(unconnected_gradients)
        if k == 0 or b == 0 or t.dtype.kind not in "fc":
            from fasttape.ops.array_ops import zeros

            return (zeros((b,) + t_rest + s_rest, source.dtype)
                    if unconnected is UnconnectedGradients.ZERO else None)
        eye = np.eye(k, dtype=t.dtype).reshape((k, 1) + t_rest)
        seed = _core.wrap_array(np.ascontiguousarray(np.broadcast_to(eye, (k, b) + t_rest)))
        (g,) = self._run([t], [seed], [source], unconnected, k, (k,))
        if g is None:
            return None
        g = transpose(reshape(g, (k, b) + s_rest), (1, 0) + tuple(range(2, 2 + len(s_rest))))
        return reshape(g, (b,) + t_rest + s_rest)


class _StopRecording:
    def __init__(self, tape):
        self._tape = tape

    def __enter__(self):
        self._was = self._tape._recording
        self._tape._set_recording(False)
        return self

    def __exit__(self, *exc):
        self._tape._set_recording(self._was)
        return False



# --- custom gradients -----------------------------------------------------------

# Note [Custom gradients in graphs]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# While a graph is built (an ft.function trace), a @custom_gradient function
# runs f into the graph, then adds one node of `_custom_gradient_graph_<n>`
# whose inputs are f's inputs, the variables f read (their reads) and f's
# outputs, and whose outputs are f's outputs again (its forward passes them
# through). Its VJP calls grad_fn with the symbolic output gradients, so
# grad_fn's ops are staged by the symbolic sweep, and gives no gradient to
# f's outputs: the walk never enters f's own ops, as the eager tape's
# pruning never does.
_CUSTOM_GRAPH_OPS = {}


def _custom_graph_op(n_out):
    op = _CUSTOM_GRAPH_OPS.get(n_out)
    if op is None:
        from fasttape.ops._registry import register

        def forward(*args):
            values = args[:-4]
            return values[-1] if n_out == 1 else tuple(values[-n_out:])

        def vjp(*args):
            gs, inputs = args[:n_out], args[n_out]
            grad_fn, n_inputs, variables = args[n_out + 1:n_out + 4]
            outs = inputs[len(inputs) - n_out:]
            dys = [g if g is not None else _zeros_like_any(o) for g, o in zip(gs, outs)]
            grads = _call_grad_fn(grad_fn, dys, outs, n_inputs, variables)
            return list(grads) + [None] * n_out

        def shape_fn(shapes, *attrs):
            return shapes[-1] if n_out == 1 else tuple(shapes[-n_out:])

        def dtype_fn(dtypes, *attrs):
            return dtypes[-1] if n_out == 1 else tuple(dtypes[-n_out:])

        params = ([f"g{j}" for j in range(n_out)]
                  + ["inputs", "grad_fn", "n_inputs", "variables", "n_out"])
        vjp.__signature__ = inspect.Signature(
            [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params])
        op = register(f"_custom_gradient_graph_{n_out}", "custom", forward, ("inputs",), vjp,
                      attr_names=("grad_fn", "n_inputs", "variables", "n_out"), n_out=n_out,
                      variadic=True, shape_fn=shape_fn, dtype_fn=dtype_fn)
        _CUSTOM_GRAPH_OPS[n_out] = op
    return op


def _zeros_like_any(t):
    from fasttape.ops.array_ops import zeros_like

    return zeros_like(t)

_CUSTOM_OPS = {}


def _custom_op(n_out):
    """The table entry for custom-gradient functions with n_out outputs (made on
    first use; an op's number of outputs is fixed)."""
    op = _CUSTOM_OPS.get(n_out)
    if op is None:
        from fasttape.ops._registry import register

        def forward(*args):
            outputs = args[-4]
            return outputs[0] if n_out == 1 else tuple(outputs)

        def vjp(*args):
            gs, outs = args[:n_out], args[n_out:2 * n_out]
            inputs, _, grad_fn, n_inputs, variables = args[2 * n_out:]
            grads = _call_grad_fn(grad_fn, gs, outs, n_inputs, variables)
            _check_grads(grad_fn, grads, inputs, n_inputs)
            return grads

        params = ([f"g{j}" for j in range(n_out)] + [f"out{j}" for j in range(n_out)]
                  + ["inputs", "outputs", "grad_fn", "n_inputs", "variables"])
        vjp.__signature__ = inspect.Signature(
            [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params])
        op = register(f"_custom_gradient_{n_out}", "custom", forward, ("inputs",), vjp,
                      attr_names=("outputs", "grad_fn", "n_inputs", "variables"),
                      n_out=n_out, variadic=True)
        _CUSTOM_OPS[n_out] = op
    return op


def _call_grad_fn(grad_fn, gs, outs, n_inputs, variables):
    dys = [_as_cotangent(g, out) for g, out in zip(gs, outs)]
    name = getattr(grad_fn, "__qualname__", "grad_fn")
    if variables:
        res = grad_fn(*dys, variables=list(variables))
        if not isinstance(res, (tuple, list)) or len(res) != 2:
            raise TypeError(
                f"custom_gradient: {name} must return (input gradients, variable gradients) "
                "when the function reads variables")
        input_grads, var_grads = res
        var_grads = list(var_grads) if isinstance(var_grads, (tuple, list)) else [var_grads]
        if len(var_grads) != len(variables):
            raise ValueError(
                f"custom_gradient: {name} returned {len(var_grads)} variable gradients for "
                f"{len(variables)} variables ({', '.join(v.name for v in variables)})")
    else:
        input_grads, var_grads = grad_fn(*dys), []
    if n_inputs == 1 and not isinstance(input_grads, (tuple, list)):
        input_grads = [input_grads]
    input_grads = list(input_grads) if isinstance(input_grads, (tuple, list)) else [input_grads]
    if len(input_grads) != n_inputs:
        raise ValueError(
            f"custom_gradient: {name} returned {len(input_grads)} gradients for {n_inputs} "
            "inputs; return one per input (None for no gradient)")
    return input_grads + var_grads


def _check_grads(grad_fn, grads, inputs, n_inputs):
    """Each gradient has its input's dtype and a shape that broadcasts to the
    input's shape without summing (a scalar for a vector is fine: the sweep
    expands it; (2, 3) for (3,) is an error, never a silent sum)."""
    name = getattr(grad_fn, "__qualname__", "grad_fn")
    for k, (g, x) in enumerate(zip(grads, inputs)):
        if g is None:
            continue
        what = f"input {k}" if k < n_inputs else f"variable {k - n_inputs}"
        gd, xd = np.asarray(g).dtype, np.asarray(x).dtype
        if gd != xd and xd.kind in "fc":
            raise TypeError(
                f"custom_gradient: {name} returned a gradient of dtype {gd.name} for {what} "
                f"of dtype {xd.name}; use ft.cast")
        gs, xs = tuple(np.shape(g)), tuple(np.shape(x))
        if gs != xs and (len(gs) > len(xs) or any(
                a != b and a != 1 for a, b in zip(gs, xs[len(xs) - len(gs):]))):
            raise ValueError(
                f"custom_gradient: {name} returned a gradient of shape {gs} for {what} of "
                f"shape {xs}; a gradient must have its input's shape")


def _as_cotangent(g, out):
    if g is None:
        g = np.zeros(np.shape(out), np.asarray(out).dtype)
    return g if isinstance(g, Tensor) else _core.wrap_array(np.asarray(g))


def custom_gradient(f=None):
    """Decorates `f(*x) -> (y, grad_fn)` so that tapes use `grad_fn` for its gradient.

    `grad_fn(*dy)` returns one gradient per input `x` (None for none); when
    `f` reads trainable variables, `grad_fn(*dy, variables=None)` must accept
    them and return `(input_gradients, variable_gradients)`. `y` may be a
    tensor or a nested structure of tensors (one `dy` per tensor). Outer
    tapes record the ops inside `grad_fn`, so gradients of a custom gradient
    work (higher order) when `grad_fn` computes with tensors.

    >>> import fasttape as ft
    >>> @ft.custom_gradient
    ... def clip_gradient(x):
    ...     return ft.identity(x), lambda dy: ft.clip_by_value(dy, -1.0, 1.0)
    >>> x = ft.constant([3.0])
    >>> with ft.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = clip_gradient(x) * 5.0
    >>> tape.gradient(y, x).numpy()
    array([1.], dtype=float32)
    """
    if f is None:
        return custom_gradient
    return _CustomGradientFunction(f)


class _CustomGradientFunction:
    """The function `@custom_gradient` returns. It is a descriptor, so that it
    also decorates methods as in TensorFlow: `obj.method(x)` binds `self` and
    only `x` is an input (converted to a tensor and given a gradient)."""

    def __init__(self, f):
        self._f = f
        functools.update_wrapper(self, f)

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return _CustomGradientFunction(types.MethodType(self._f, instance))

    def __call__(self, *args, **kwargs):
        f = self._f
        inputs = [a if isinstance(a, Tensor) else _core.convert_to_tensor(a) for a in args]
        if _core.staging() or any(_core.is_symbolic(x) for x in inputs):
            return self._call_graph(inputs, kwargs)
        # f's own ops are recorded too (by the watcher below): its outputs reach
        # the tape only through the custom op (new tensors), so first-order
        # sweeps prune f's ops away, while grad_fn's use of f's intermediates
        # stays differentiable for outer tapes (higher order), as in TensorFlow.
        y, grad_fn, flat_y, variables = self._run(inputs, kwargs)
        if variables and "variables" not in inspect.signature(grad_fn).parameters and not any(
                p.kind is p.VAR_KEYWORD for p in inspect.signature(grad_fn).parameters.values()):
            raise TypeError(
                f"custom_gradient: {f.__qualname__} reads variables "
                f"({', '.join(v.name for v in variables)}), so its grad_fn must accept a "
                "keyword argument `variables`")
        op = _custom_op(len(flat_y))
        outs = op.apply(inputs + variables,
                        (tuple(_core.tensor_value(t) for t in flat_y), grad_fn, len(inputs),
                         tuple(variables)))
        outs = [outs] if len(flat_y) == 1 else list(outs)
        return nest.pack_sequence_as(y, outs)

    def _run(self, inputs, kwargs):
        """Runs f under a watching tape (eager, or a graph tape while
        staging): (y, grad_fn, flat_y, the trainable variables f read)."""
        f = self._f
        watcher = GradientTape()
        with watcher:
            result = f(*inputs, **kwargs)
        if not isinstance(result, tuple) or len(result) != 2 or not callable(result[1]):
            raise TypeError(
                f"custom_gradient: {f.__qualname__} must return (outputs, grad_fn)")
        y, grad_fn = result
        flat_y = [t if isinstance(t, Tensor) else _core.convert_to_tensor(t)
                  for t in nest.flatten(y)]
        return y, grad_fn, flat_y, [v for v in watcher.watched_variables() if v.trainable]

    def _call_graph(self, inputs, kwargs):
        """See Note [Custom gradients in graphs]."""
        y, grad_fn, flat_y, variables = self._run(inputs, kwargs)
        op = _custom_graph_op(len(flat_y))
        outs = op.apply(inputs + variables + flat_y,
                        (grad_fn, len(inputs), tuple(variables), len(flat_y)))
        outs = [outs] if len(flat_y) == 1 else list(outs)
        return nest.pack_sequence_as(y, outs)
