"""GradientTape: records eager ops on the compiled tape and computes gradients
with the reverse sweep in fasttape._core.
"""

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

    def __enter__(self):
        self._push()
        return self

    def __exit__(self, exc_type, exc, tb):
        self._pop()
        return False

    def watch(self, tensor):
        """Watches a tensor or a nested structure of tensors (ints and bools are ignored)."""
        for t in nest.flatten(tensor):
            if not isinstance(t, Tensor):
                raise TypeError(
                    f"GradientTape.watch: expected tensors or variables, got {type(t).__name__}")
            _not_symbolic(t, "watched tensor")
            self._watch(t)

    def watched_variables(self):
        """The variables this tape watches, in the order they were first watched."""
        return self._watched_variables()

    def reset(self):
        """Forgets everything recorded so far (the tape stays active in its context)."""
        self._reset()

    def stop_recording(self):
        """A context in which ops are not recorded on this tape."""
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
        unconnected = UnconnectedGradients(unconnected_gradients)
        targets = [_as_tensor(t, "target") for t in nest.flatten(target)]
        flat_sources = _check_sources(sources)
        seeds = None
        if output_gradients is not None:
            seeds = nest.flatten(output_gradients)
            if len(seeds) != len(targets):
                raise ValueError(
                    f"GradientTape.gradient: {len(seeds)} output_gradients for "
                    f"{len(targets)} targets")
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


def _check_sources(sources):
    flat = nest.flatten(sources)
    for s in flat:
        if not isinstance(s, Tensor):
            raise TypeError(
                f"GradientTape: sources must be tensors or variables, got {type(s).__name__}")
        _not_symbolic(s, "source")
    return flat


def _not_symbolic(t, what):
    """Tapes record eager ops: a graph's tensor on a tape is an error, never
    a silent None gradient."""
    if _core.is_symbolic(t):
        raise TypeError(
            f"GradientTape: the {what} {t.name} is a graph tensor; tapes record eager ops only "
            "and cannot differentiate a graph (symbolic gradients of graphs are not "
            "supported yet)")


def _zeros(shape, dtype):
    return _core.wrap_array(np.zeros(shape, dtype))


def _as_tensor(t, what):
    if isinstance(t, Tensor):
        _not_symbolic(t, what)
        return t
    raise TypeError(f"GradientTape.gradient: {what} must be tensors, got {type(t).__name__}")


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
        watcher = GradientTape()  # finds the variables f reads
        # f's own ops are recorded too: its outputs reach the tape only through
        # the custom op below (new tensors), so first-order sweeps prune f's
        # ops away, while grad_fn's use of f's intermediates stays
        # differentiable for outer tapes (higher order), as in TensorFlow.
        with watcher:
            result = f(*inputs, **kwargs)
        if not isinstance(result, tuple) or len(result) != 2 or not callable(result[1]):
            raise TypeError(
                f"custom_gradient: {f.__qualname__} must return (outputs, grad_fn)")
        y, grad_fn = result
        flat_y = [t if isinstance(t, Tensor) else _core.convert_to_tensor(t)
                  for t in nest.flatten(y)]
        variables = [v for v in watcher.watched_variables() if v.trainable]
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
