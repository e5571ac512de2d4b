"""Error types of fasttape and the one helper that formats op errors.

Every op error names the op, each input's shape and dtype, and the line of user
code that made the call (the first frame outside the fasttape package).
"""

import linecache
import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class InvalidArgumentError(ValueError):
    """An op received an argument it cannot accept (TensorFlow's name; a ValueError)."""


class FailedPreconditionError(ValueError):
    """An op ran before what it needs was ready: reading a graph variable that
    its Session has not initialised (TensorFlow's name; a ValueError)."""


class InvalidSavedFunctionError(ValueError):
    """A saved-function file (ft.saved_function.load) is damaged, of another
    format version, or describes a graph that fasttape's ops reject; the
    message names the file and, where it can, the node."""


class DataLossError(ValueError):
    """A file (a checkpoint) is truncated, corrupt, of an unknown version or
    hostile (TensorFlow's name; a ValueError). The message names the file."""


def user_frame():
    """Returns (filename, lineno, source) of the first caller outside fasttape, or None."""
    f = sys._getframe(1)
    while f is not None:
        filename = f.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR) and not filename.startswith("<frozen"):
            line = linecache.getline(filename, f.f_lineno).strip()
            return filename, f.f_lineno, line
        f = f.f_back
    return None


def describe(value):
    """'shape=(2, 3) dtype=float32' for tensors and arrays; the type for anything else.

    Never raises: it describes hostile arguments too (objects whose `shape`
    raises, ints too long to print)."""
    try:
        shape = getattr(value, "shape", None)
        dtype = getattr(value, "dtype", None)
        if shape is not None and dtype is not None:
            if getattr(shape, "rank", 0) is None:  # a graph tensor of unknown rank
                return f"shape=<unknown rank> dtype={getattr(dtype, 'name', dtype)}"
            return f"shape={tuple(shape)} dtype={getattr(dtype, 'name', dtype)}"
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
            return f"Python int of {value.bit_length()} bits"
        if isinstance(value, (bool, int, float, complex)):
            return f"Python {type(value).__name__} {value!r}"
    except Exception:  # noqa: BLE001  (a hostile __getattr__ or __repr__)
        pass
    return f"{type(value).__name__}"


def op_error(cls, op_name, inputs, detail, input_names=None):
    """Builds an exception of class `cls` for op `op_name` called on `inputs`.

    Args:
        cls: the exception class (TypeError, ValueError, InvalidArgumentError, ...).
        op_name: the op's public name.
        inputs: the op's inputs as the user passed them.
        detail: what is wrong, one sentence.
        input_names: names for the inputs (default x, y, ... by position).
    """
    if input_names is None or len(input_names) != len(inputs):
        input_names = [f"input {i}" for i in range(len(inputs))]
    parts = [f"{name}: {describe(v)}" for name, v in zip(input_names, inputs)]
    msg = f"{op_name}: {detail}\n  inputs: " + (", ".join(parts) if parts else "none")
    where = user_frame()
    if where is not None:
        msg += f"\n  called at {where[0]}:{where[1]}: {where[2]}"
    exc = cls(msg)
    exc.ft_op = op_name  # read by boundary_error: this error already names an op
    exc.ft_detail = detail
    return exc


# Note [Errors at the public boundary]
# Every public op function (the families in fasttape/ops/_registry.py and the
# composites marked with `composite`) catches what escapes it and re-raises it
# through `boundary_error`, so that whatever goes wrong inside - a conversion
# that fails, NumPy's IndexError, a ZeroDivisionError, a KeyError from a bad
# argument - reaches the user as a TypeError or ValueError that names the op,
# describes every argument and points at the user's line. Errors built by
# `op_error` carry `ft_op`; one that names the same op passes unchanged, one
# from an op called inside (a composite's parts) is re-raised naming the outer
# op too ("trace: transpose: ..."). The try costs nothing in Python 3.11 while
# nothing raises, and the families put it inside the public function itself,
# so the unary and binary fast paths get no extra frame.

_STRIP = ("convert_to_tensor: ",)

# Note [Unknown ranks]
# ~~~~~~~~~~~~~~~~~~~~
# A graph tensor may not know its rank (`ft.placeholder(ft.float32, None)`).
# Shape rules take it as None for the whole shape: a rule that has no answer
# for it gives an unknown-rank output (`_registry.unknown_rank_rule`), and
# rules that do (reduce over all axes: a scalar) say so. Attributes are
# build-time values, so a public function that needs the rank to normalise
# one (a negative axis, a perm, paddings per axis) cannot build: it raises
# a ValueError naming the op and the tensor. The families and the axis
# helpers raise it themselves; for the rest, a TypeError from arithmetic on
# the unknown rank (None) that reaches the public boundary while an argument
# has an unknown rank is reported as that error, not as the arithmetic.


def unknown_rank_detail(what):
    """The detail of the build-time error for `what`, a graph tensor of unknown rank."""
    return (f"{what} has an unknown rank in this graph, and this op needs its rank when the "
            "graph is built; give it a shape of known rank (the placeholder's shape, or "
            "set_shape)")


def _unknown_rank_input(inputs, input_names):
    """The name of the first graph tensor among `inputs` whose rank is unknown, or None."""
    names = list(input_names) if input_names is not None else []
    for i, x in enumerate(inputs):
        name = names[i] if i < len(names) else f"input {i}"
        items = ([(f"{name}[{j}]", v) for j, v in enumerate(x)] if isinstance(x, (list, tuple))
                 else [(name, x)])
        for what, v in items:
            shape = getattr(v, "shape", None)
            if getattr(shape, "rank", 0) is None and getattr(v, "op", None) is not None:
                return what
    return None


def _boundary_class(exc):
    """The class a foreign exception is re-raised as: TypeError or ValueError."""
    cls = type(exc)
    if cls in (TypeError, ValueError, InvalidArgumentError):
        return cls
    if isinstance(exc, InvalidArgumentError):
        return InvalidArgumentError
    try:
        import numpy as np

        if isinstance(exc, np.linalg.LinAlgError):
            return InvalidArgumentError
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, (TypeError, AttributeError, KeyError)):
        return TypeError
    # ValueError subclasses (AxisError), IndexError, ArithmeticError (ZeroDivisionError,
    # OverflowError), RecursionError and RuntimeError, MemoryError: a value the op cannot take
    return ValueError


def boundary_error(op_name, exc, inputs, input_names=None):
    """The exception to raise for `exc`, caught at the boundary of public op `op_name`
    called on `inputs` (see Note [Errors at the public boundary]); `exc` itself
    when it already names `op_name`."""
    inner = getattr(exc, "ft_op", None)
    if inner == op_name or isinstance(exc, Warning) or getattr(exc, "ft_passthrough", False):
        # a warning the user turned into an error stays what it is; so does an
        # error that is not about the arguments (a finalized graph)
        return exc
    cls = _boundary_class(exc)
    if inner is not None:
        detail = f"{inner}: {getattr(exc, 'ft_detail', exc)}"
    else:
        try:
            detail = str(exc)
        except Exception:  # noqa: BLE001
            detail = ""
        if isinstance(exc, KeyError) and exc.args:
            detail = f"unexpected argument {exc.args[0]!r}"
        elif isinstance(exc, RecursionError):
            detail = "an argument is nested too deeply or refers to itself"
        for prefix in _STRIP:
            if detail.startswith(prefix):
                detail = detail[len(prefix):]
        if type(exc) not in (TypeError, ValueError, InvalidArgumentError):
            detail = f"{detail} ({type(exc).__name__})" if detail else type(exc).__name__
    if inner is None and (isinstance(exc, TypeError) and "NoneType" in detail
                          or "with unknown rank" in detail):
        unranked = _unknown_rank_input(inputs, input_names)
        if unranked is not None:  # See Note [Unknown ranks]
            cls, detail = ValueError, unknown_rank_detail(unranked)
    new = op_error(cls, op_name, inputs, detail, input_names)
    if type(exc) not in (TypeError, ValueError, InvalidArgumentError) and inner is None:
        new.__cause__ = exc  # an unexpected kind: keep its traceback for debugging
    else:
        new.__suppress_context__ = True
    return new
