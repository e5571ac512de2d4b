"""Debugging aids: why a gradient is None (`explain_gradient`).

The tape logs where a followed tensor stops being followed (see Note [Dead
ends] in fasttape/_core/core.pyx); this module reads that log and the record.
"""

import numpy as np

from fasttape import nest
from fasttape._core import core as _core


def explain_gradient(tape, target, sources):
    """Says, for each source, why `tape.gradient(target, source)` is None.

    Call it before `gradient()` on a non-persistent tape (which releases its
    record), or on a persistent tape; `tape.gradient(...,
    explain_unconnected=True)` does it for you and warns. Returns the
    structure of `sources` with a string per source: an explanation, or
    "connected" when the source does get a gradient.

    >>> import fasttape as ft
    >>> x = ft.constant([1.0, 2.0])
    >>> with ft.GradientTape(persistent=True) as tape:
    ...     tape.watch(x)
    ...     y = ft.constant(x.numpy() * 2.0)
    >>> why = ft.debugging.explain_gradient(tape, y, x)
    >>> "left fasttape through .numpy()" in why
    True
    """
    targets = nest.flatten(target)
    flat = nest.flatten(sources)
    entries = tape._entries()
    out = [_explain(tape, targets, s, entries) for s in flat]
    return nest.pack_sequence_as(sources, out)


def _where(loc):
    if not loc:
        return "an unknown line"
    return f"{loc[0]}:{loc[1]}" + (f" ({loc[2]})" if loc[2] else "")


def _describe(s):
    name = f"variable '{s.name}'" if isinstance(s, _core.Variable) else "x"
    return f"{name} (shape={s.shape} dtype={s.dtype.name})"


def _explain(tape, targets, source, entries):
    what = _describe(source)
    if not isinstance(source, _core.Tensor):
        return f"{type(source).__name__} is not a tensor or variable"
    if source.dtype.kind not in "fc":
        return (f"{what} has dtype {source.dtype.name}: integer and bool tensors never get "
                "gradients; ft.cast it to a float dtype before the computation")
    reasons = _dead_ends(tape, _reach(_core.tensor_id(source), entries))
    if not tape._tracks(source):
        if reasons:  # a trainable variable used only by non-differentiable ops
            return f"{what} is not connected to the target: " + "; ".join(reasons)
        if isinstance(source, _core.Variable):
            if not source.trainable:
                return (f"{what} is not trainable (trainable=False), so the tape does not "
                        "watch it; call tape.watch(v)")
            if not tape.watch_accessed_variables:
                return (f"{what} was never watched: the tape has watch_accessed_variables="
                        "False; call tape.watch(v)")
            return (f"{what} was never read while the tape was recording (was it used "
                    "outside the `with` block?)")
        return (f"{what} was never watched by this tape: call tape.watch(x) inside the "
                "`with` block (only trainable variables are watched automatically)")
    for t in targets:
        if isinstance(t, _core.Tensor) and t.dtype.kind not in "fc":
            return (f"the target has dtype {t.dtype.name}: gradients of integer and bool "
                    "tensors are None")
    reach = _reach(_core.tensor_id(source), entries)
    target_ids = {_core.tensor_id(t) for t in targets if isinstance(t, _core.Tensor)}
    if target_ids & reach:
        return "connected"
    if reasons:
        return f"{what} is not connected to the target: " + "; ".join(reasons)
    return (f"{what} is not connected to the target: no op recorded on this tape leads from "
            "it to the target (was the target computed outside the `with` block, or from a "
            "copy such as ft.constant(np.array(x))?)")


def _reach(source_id, entries):
    """The ids computed from source_id by the recorded entries (in execution order)."""
    reach = {source_id}
    for _, ins, outs in entries:
        if any(i in reach for i in ins):
            reach.update(o for o in outs if o)
    return reach


def _dead_ends(tape, reach):
    """The logged places where a tensor in `reach` stopped being followed."""
    reasons = []
    for kind, op, ids, loc in tape._events:
        if not any(i in reach for i in ids):
            continue
        if kind == "exit":
            reasons.append(f"its value left fasttape through {op} at {_where(loc)}")
        elif op == "stop_gradient":
            reasons.append(f"it went through ft.stop_gradient at {_where(loc)}")
        elif kind == "stop_recording":
            reasons.append(f"it was used by {op} inside tape.stop_recording() at "
                           f"{_where(loc)}")
        else:
            reasons.append(f"it went through {op}, which is not differentiable, at "
                           f"{_where(loc)}")
    return _dedupe(reasons)


def _dedupe(items):
    seen, out = set(), []
    for it in items:
        if it not in seen:
            seen.add(it)
            out.append(it)
    return out


def check_numerics(tensor, message, name=None):
    """Raises InvalidArgumentError if `tensor` holds a NaN or Inf; returns it otherwise."""
    from fasttape import errors

    arr = np.asarray(tensor)
    if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        raise errors.InvalidArgumentError(f"{message}: tensor had NaN or Inf values")
    return tensor


# --- check_numerics -------------------------------------------------------------------------

def _nonfinite(value):
    """'NaN', 'Inf' or 'NaN and Inf' if a float/complex array in `value` (an
    array or a tuple/list of them) holds some; else None."""
    if isinstance(value, (tuple, list)):
        for v in value:
            bad = _nonfinite(v)
            if bad is not None:
                return bad
        return None
    if not isinstance(value, (np.ndarray, np.generic)) or value.dtype.kind not in "fc":
        return None
    if np.isfinite(value).all():
        return None
    has_nan = bool(np.isnan(value).any())
    has_inf = bool(np.isinf(value).any())
    return "NaN and Inf" if has_nan and has_inf else ("NaN" if has_nan else "Inf")


class _NumericsChecker:
    """The instrument of enable_check_numerics (Note [Instrumented ops] in
    fasttape/_instrument.py). NumPy's float warnings are off while it is on:
    it raises instead."""

    quiet_floats = True

    def forward(self, op, inputs, out, grad_of, t0, t1, depth):
        bad = _nonfinite(out)
        if bad is None:
            return
        from fasttape import errors

        if grad_of is None:
            where = "in the forward pass"
        else:
            where = (f"in the backward sweep (inside the gradient of {grad_of.name})")
        # raised inside the op's forward: the dispatch adds the op's name, its
        # inputs' shapes and dtypes and the user's line (a traced function's
        # executor also the node and its build line)
        raise errors.InvalidArgumentError(
            f"check_numerics: the output has {bad} values, {where}")

    def backward(self, op, index, args, out, t0, t1, depth):
        bad = _nonfinite(out)
        if bad is None:
            return
        from fasttape import errors

        arrays = [a for a in args if isinstance(a, (np.ndarray, np.generic))]
        raise errors.op_error(
            errors.InvalidArgumentError, f"gradient of {op.name}", arrays,
            f"check_numerics: the backward sweep computed {bad} values in the gradient of "
            f"{op.name} with respect to its input {index} (the VJP's arguments are listed)")


_CHECKER = None


def enable_check_numerics(stack_height_limit=30, path_length_limit=50):
    """From now on, the first op whose output (forward pass) or gradient
    (backward sweep) holds a NaN or Inf raises InvalidArgumentError naming
    the op, its inputs' shapes and dtypes, the pass (and the op whose
    gradient was being computed) and the user's line. Costs one
    `isfinite` pass per op output while on; nothing once disabled.

    >>> import fasttape as ft
    >>> ft.debugging.enable_check_numerics()
    >>> try:
    ...     ft.math.log(ft.constant([-1.0]))
    ... except ft.errors.InvalidArgumentError as e:
    ...     print(str(e).splitlines()[0])
    log: check_numerics: the output has NaN values, in the forward pass
    >>> ft.debugging.disable_check_numerics()
    """
    global _CHECKER
    from fasttape import _instrument

    if _CHECKER is None:
        _CHECKER = _NumericsChecker()
        _instrument.add(_CHECKER)


def disable_check_numerics():
    """Turns enable_check_numerics off (a no-op if it is off)."""
    global _CHECKER
    from fasttape import _instrument

    if _CHECKER is not None:
        _instrument.remove(_CHECKER)
        _CHECKER = None
