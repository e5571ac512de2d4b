"""GradientTape: records eager ops on the compiled tape and computes gradients
with the reverse sweep in fasttape._core.
"""

import enum

from fasttape import nest
from fasttape._core import core as _core

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
        flat_sources = nest.flatten(sources)
        for s in flat_sources:
            if not isinstance(s, Tensor):
                raise TypeError(
                    "GradientTape.gradient: sources must be tensors or variables, got "
                    f"{type(s).__name__}")
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

