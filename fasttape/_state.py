"""Helpers for the stateful training objects (optimizers, metrics): reading
values so that no tape records the update, and making state variables.

Note [Unrecorded state updates]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
An optimizer step or a metric update is not part of any computation to
differentiate, and it often runs while a tape is active (Keras-style loops
call `apply_gradients` or `metric.update_state` inside the `with
GradientTape()` block). Its ops read trainable variables, which an active tape
watches on use, and gradients, which an outer tape may watch. Recording them
would cost time and memory and, worse, make the tape save a snapshot of the
variable: the snapshot shares the variable's buffer, so `assign_sub` could no
longer update it in place (Note [Tape ownership] in fasttape/_core/_tensor.pxi)
and would allocate a new array every step.

So in eager mode every input of an update is first `detached`: a fresh Tensor
(a new id, which no tape watches) on the same array. No op of the update then
has a watched input and nothing is recorded, whatever tapes are active. The
detached Tensor is a temporary of the update expression: it is dropped before
the `assign*` that writes the result, so the variable's array is again
referenced by the variable alone and is updated in place. (Temporary elision
never writes into it: a Tensor whose array another object also holds is not a
temporary. See Note [Temporary elision] in fasttape/_core/_dispatch.pxi.)

When a graph is being built (`ft.function`), `detached` returns its argument:
there reads of variables are graph nodes and the update is staged as ops.
"""

import numpy as np

from fasttape._core import core as _core


def detached(x, dtype=None):
    """`x` (a tensor, variable, array or Python value) as a Tensor that no tape
    watches, sharing its array. See Note [Unrecorded state updates]."""
    if _core.staging():
        return x if isinstance(x, _core.Tensor) else _core.convert_to_tensor(x, dtype)
    if isinstance(x, _core.Tensor):
        return _core.wrap_array(_core.tensor_value(x))
    return _core.convert_to_tensor(x, dtype)


def state_variable(value, name, dtype=None):
    """A non-trainable variable holding optimizer or metric state."""
    return _core.Variable(np.asarray(value, dtype=dtype), trainable=False, name=name)


def variable_base_name(var):
    """'dense/kernel' for a variable named 'dense/kernel:0'."""
    return var.name.rsplit(":", 1)[0]
