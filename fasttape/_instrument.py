"""Instrumenting every op: the profiler and check_numerics.

Note [Instrumented ops]
~~~~~~~~~~~~~~~~~~~~~~~
Every op's forward is called through its table entry (`OpDef.forward`: the
generic path, the unary/binary fast paths and the executor's steps) and every
VJP through the entry's list of VJP functions (`OpDef.vjp_functions`, read by
the sweep at each use). While an instrument (a `ft.profiler.profile()` block,
`ft.debugging.enable_check_numerics()`) is active, those entries are swapped
for wrappers that time the call, note the phase - "forward", or "backward" of
the op whose VJP is running - and hand the result to the instruments; when
the last instrument goes, the original functions are put back. So nothing is
tested or timed on the fast path when no instrument is on: the cost when off
is zero, by construction.

A traced function's Plan holds the forwards it was built with, so the same
swap is made in every live Plan (`Plan.rebind`, over the executor's weak set
of Plans): functions traced before the profile block are profiled in their
executor, and those traced during it lose their wrappers when it ends.
Limit: ops registered while instruments are on (custom gradients made then)
are not instrumented.
"""

import threading
import time

import numpy as np

from fasttape._core.core import live_plans, registered_ops

_ACTIVE = []  # the instruments on: objects with forward(...) and backward(...)
_SAVED = None  # [(op, forward, original VJP list)] while wrapped
_LOCK = threading.RLock()
_LOCAL = threading.local()


def _phase_stack():
    s = getattr(_LOCAL, "stack", None)
    if s is None:
        s = _LOCAL.stack = []
    return s


def add(instrument):
    with _LOCK:
        if not _ACTIVE:
            _install()
        _ACTIVE.append(instrument)


def remove(instrument):
    with _LOCK:
        if instrument in _ACTIVE:
            _ACTIVE.remove(instrument)
        if not _ACTIVE:
            _uninstall()


def _quiet():
    """NumPy's floating-point warnings off while an instrument that reports
    them itself (check_numerics: `quiet_floats`) is on."""
    return any(getattr(i, "quiet_floats", False) for i in _ACTIVE)


def active(kind):
    return any(isinstance(i, kind) for i in _ACTIVE)


def _install():
    global _SAVED
    saved = []
    for op in registered_ops():
        fwd = op.forward
        vjps = op.vjp_functions
        originals = list(vjps)
        op.forward = _forward_wrapper(op, fwd)
        for i, fn in enumerate(originals):
            if callable(fn):  # None: no gradient; a marker object: the identity VJP
                vjps[i] = _vjp_wrapper(op, fn, i)
        saved.append((op, fwd, originals))
    _SAVED = saved
    _rebind_plans({id(op): (fwd, op.forward) for op, fwd, _ in saved})


def _uninstall():
    global _SAVED
    swap = {}
    for op, fwd, originals in _SAVED or ():
        swap[id(op)] = (op.forward, fwd)
        op.forward = fwd
        op.vjp_functions[:] = originals
    _SAVED = None
    _rebind_plans(swap)


def _rebind_plans(swap):
    """In every live Plan, each step calling an op's `old` forward calls its
    `new` one instead; swap: {id(op): (old, new)}."""
    def rebind(node, f):
        op = node.op_def
        pair = swap.get(id(op)) if op is not None else None
        return pair[1] if pair is not None and f is pair[0] else f

    for plan in live_plans():
        plan.rebind(rebind)


def _timed(stack, phase, fn, args, kwargs):
    """(fn(*args, **kwargs), start ns, end ns) with `phase` on the thread's
    phase stack meanwhile (NumPy's float warnings off for quiet instruments)."""
    stack.append(phase)
    t0 = time.perf_counter_ns()
    try:
        if _quiet():
            with np.errstate(all="ignore"):
                out = fn(*args, **kwargs)
        else:
            out = fn(*args, **kwargs)
    finally:
        stack.pop()
    return out, t0, time.perf_counter_ns()


def _forward_wrapper(op, fwd):
    n_attrs = len(op.attr_names)

    def forward(*args, **kwargs):
        if not _ACTIVE:
            return fwd(*args, **kwargs)
        stack = _phase_stack()
        grad_of = stack[-1] if stack else None  # inside a VJP: the op differentiated
        out, t0, t1 = _timed(stack, grad_of, fwd, args, kwargs)
        inputs = args[:len(args) - n_attrs] if n_attrs else args
        for inst in list(_ACTIVE):
            inst.forward(op, inputs, out, grad_of, t0, t1, len(stack))
        return out

    forward.__wrapped__ = fwd
    return forward


def _vjp_wrapper(op, fn, index):

    def vjp(*args, **kwargs):
        if not _ACTIVE:
            return fn(*args, **kwargs)
        stack = _phase_stack()
        out, t0, t1 = _timed(stack, op, fn, args, kwargs)
        for inst in list(_ACTIVE):
            inst.backward(op, index, args, out, t0, t1, len(stack))
        return out

    vjp.__wrapped__ = fn
    return vjp
