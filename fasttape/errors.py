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
    """'shape=(2, 3) dtype=float32' for tensors and arrays; the type for anything else."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"shape={tuple(shape)} dtype={getattr(dtype, 'name', dtype)}"
    if isinstance(value, (bool, int, float, complex)):
        return f"Python {type(value).__name__} {value!r}"
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
    return cls(msg)
