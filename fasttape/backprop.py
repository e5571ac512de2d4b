"""GradientTape: records eager ops on the compiled tape and computes gradients
with the reverse sweep in fasttape._core.
"""

import enum

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
                 unconnected_gradients=UnconnectedGradients.NONE):
        """The gradient of `target` (the sum of a nested structure of tensors)
        with respect to `sources` (a tensor, variable or nested structure).

        Returns the structure of `sources` with a Tensor, or None (or zeros
        with `unconnected_gradients=ZERO`) for sources the target does not
        depend on or whose dtype is not floating point.
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
        grads = self._gradient(targets, flat_sources, seeds,
                               unconnected is UnconnectedGradients.ZERO)
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
    return flat


def _zeros(shape, dtype):
    return _core.wrap_array(np.zeros(shape, dtype))


def _as_tensor(t, what):
    if isinstance(t, Tensor):
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

