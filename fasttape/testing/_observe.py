"""Observing the op table: which ops a piece of code runs, and on what."""

import contextlib

from fasttape._core.core import registered_ops


def table_ops():
    """The op table without custom-gradient entries (made per user function)."""
    return [op for op in registered_ops() if op.family != "custom"]


@contextlib.contextmanager
def observe_forwards(calls):
    """Within the block, every op's forward appends (op, input values,
    attributes, output) to the list `calls`: the unary/binary fast paths,
    `OpDef.apply`, ops inside composites and inside VJPs are all seen."""
    saved = []
    for op in table_ops():
        fwd, n_attrs = op.forward, len(op.attr_names)

        def wrapped(*args, _op=op, _fwd=fwd, _n=n_attrs):
            out = _fwd(*args)
            split = len(args) - _n
            calls.append((_op, args[:split], args[split:], out))
            return out

        saved.append((op, fwd))
        op.forward = wrapped
    try:
        yield
    finally:
        for op, fwd in saved:
            op.forward = fwd
