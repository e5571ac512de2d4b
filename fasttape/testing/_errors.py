"""`assert_op_error`: the check every op-error test makes (fasttape's contract for bad input)."""

import numpy as np

from fasttape._core.core import Tensor


def _describe(x):
    if isinstance(x, (Tensor, np.ndarray)):
        return f"shape={tuple(x.shape)} dtype={x.dtype.name}"
    return repr(x)


def assert_op_error(call, cls, op, inputs):
    """Calls `call()` (a lambda written on one line) and asserts that it raises
    `cls` (a TypeError or ValueError) whose message starts with the op's name,
    describes every input in `inputs` by shape and dtype, and points at the
    line of the lambda in the caller's file. Returns the message."""
    try:
        call()
    except cls as e:
        msg = str(e)
        assert isinstance(e, (TypeError, ValueError)), f"{type(e).__name__} is no Type/ValueError"
    else:
        raise AssertionError(f"{op}: no {cls.__name__} raised")
    assert msg.startswith(f"{op}: "), f"the message does not start with the op name {op!r}: {msg}"
    for x in inputs:
        assert _describe(x) in msg, f"the message does not describe input {_describe(x)}: {msg}"
    where = f"{call.__code__.co_filename}:{call.__code__.co_firstlineno}"
    assert where in msg, f"the message does not point at the caller's line {where}: {msg}"
    return msg
