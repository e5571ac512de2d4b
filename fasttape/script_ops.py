"""`ft.py_func`, `ft.py_function`, `ft.numpy_function`: Python code as an op.

The bridge from graphs to eager code (SPEC §4): in eager mode these simply
call the function; in a graph (`with g.as_default():`, graph mode, a trace of
`ft.function`) they add one node that calls the function eagerly each time
the graph runs. See Note [py_func nodes].
"""

import contextlib
import inspect
import threading
import traceback

import numpy as np

from fasttape import errors as _errors
from fasttape import graph as _graph
from fasttape._core import core as _core

__all__ = ["numpy_function", "py_func", "py_function"]


# Note [py_func nodes]
# ~~~~~~~~~~~~~~~~~~~~
# One table entry per (number of outputs, stateful) pair, made on first use
# (an op's output count is fixed), family "custom" like custom_gradient's
# entries, variadic over the inputs, with one attribute: a _PyCall holding
# the function, the output dtypes and the calling convention ("eager":
# ft.py_func and ft.py_function pass eager Tensors; "numpy":
# ft.numpy_function passes writable ndarray copies). Going through the table
# means one bind point (Note [One bind point]): the same call stages in a
# graph or a trace, and Session and the ft.function executor run the node
# like any other (its forward), never with special cases.
# - Shapes: the outputs' static shapes are unknown (unknown rank) unless the
#   caller sets them (`y.set_shape(...)`), as in TensorFlow; dtypes are Tout.
#   A gradient node's outputs have its inputs' static shapes (`like`).
# - The forward runs the function in eager mode (Note [Eager inside graphs]
#   in fasttape/_core/_mode.pxi: a Session run inside `with g.as_default():`
#   would otherwise stage its ops). Each result must have its Tout dtype
#   (Python data are converted to it); anything else raises naming the
#   function and the output.
# - Errors: an exception raised by the function is re-raised as TypeError
#   (for TypeErrors), ValueError (ValueErrors) or InvalidArgumentError
#   (anything else) whose message holds the function's name, its exception
#   and its traceback; the Session and the executor add the node's name and
#   the line that built it, and chain the original exception.
# - Gradients (stateful or not): the VJP of an "eager" node is another such
#   node whose function runs the original under an eager GradientTape and
#   returns the input gradients (output_gradients = the incoming ones); its
#   own VJP is built the same way, so every order works, in every value space
#   (a symbolic sweep stages the gradient node; a raw or recorded sweep runs
#   it). "numpy" nodes have no gradient (NumPy code is invisible to tapes), as
#   TensorFlow's numpy_function.
# - The nodes are marked (graph.mark_python_call; Operation.calls_python):
#   saved functions and ONNX export must refuse them, naming the node.
# - `stateful=False` makes an entry whose node the executor may fold (when its
#   inputs are constants) or merge with an identical call, TensorFlow's
#   contract for a pure function.

class _PyCall:
    """The attribute of a py_func node: what to call and how."""

    __slots__ = ("func", "tout", "many", "kind", "name", "like", "__weakref__")

    def __init__(self, func, tout, many, kind, name, like=None):
        self.like = like  # a gradient node's: output j has input like[j]'s static shape
        self.func = func
        self.tout = tout  # a tuple of np.dtypes
        self.many = many  # Tout was a list: the function returns a list or tuple
        self.kind = kind  # "eager" or "numpy"
        self.name = name  # for messages: the function's qualified name

    def __repr__(self):
        return f"<py_func {self.name} -> ({', '.join(d.name for d in self.tout)})>"


_OPS = {}
_OPS_LOCK = threading.Lock()


def _op(n_out, stateful):
    """The table entry for py_func nodes with `n_out` outputs (Note [py_func nodes])."""
    key = (n_out, stateful)
    op = _OPS.get(key)
    if op is not None:
        return op
    with _OPS_LOCK:  # one entry per key, even when threads ask at once
        op = _OPS.get(key)
        if op is None:
            op = _OPS[key] = _register(n_out, stateful)
    return op


def _register(n_out, stateful):
    from fasttape.ops._registry import register

    def forward(*args):
        call = args[-1]
        outs = _run(call, args[:-1])
        return outs[0] if n_out == 1 else tuple(outs)

    def shape_fn(shapes, call):
        if call.like is not None:
            out = tuple(shapes[k] for k in call.like)
            return out[0] if n_out == 1 else out
        return None if n_out == 1 else (None,) * n_out

    def dtype_fn(dtypes, call):
        return call.tout[0] if n_out == 1 else tuple(call.tout)

    def vjp(*args):
        return _vjp(args[:n_out], args[n_out], args[n_out + 1])

    params = [f"g{j}" for j in range(n_out)] + ["inputs", "call"]
    vjp.__signature__ = inspect.Signature(
        [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params])
    name = "py_func" if n_out == 1 else f"py_func_{n_out}"
    if not stateful:
        name += "_stateless"
    op = register(name, "custom", forward, ("inputs",), vjp if n_out else None,
                  attr_names=("call",), n_out=n_out, variadic=True, shape_fn=shape_fn,
                  dtype_fn=dtype_fn, stateful=stateful)
    _graph.mark_python_call(op)
    return op


@contextlib.contextmanager
def _eager():
    saved = _core.push_eager()
    try:
        yield
    finally:
        _core.pop_eager(saved)


def _run(call, values):
    """Runs `call.func` eagerly on the node's input arrays; returns arrays."""
    if call.kind == "numpy":
        args = [np.array(v, copy=True) for v in values]
    else:
        args = [_core.wrap_array(np.asarray(v)) for v in values]
    with _eager():
        try:
            result = call.func(*args)
        except Exception as e:  # noqa: BLE001  (re-raised naming the function, chained)
            raise _func_error(call, e) from e
    return [v if isinstance(v, np.ndarray) else np.asarray(v)
            for v in (_core.tensor_value(t) for t in _outputs(call, result))]


def _func_error(call, e):
    cls = (TypeError if isinstance(e, TypeError) else ValueError if isinstance(e, ValueError)
           and not isinstance(e, _errors.InvalidArgumentError) else _errors.InvalidArgumentError)
    frames = traceback.extract_tb(e.__traceback__)[1:]  # from the function's own frame
    tb = "".join(traceback.format_list(frames)).rstrip()
    detail = (f"the Python function {call.name} raised {type(e).__name__}: {e}\n"
              f"  its traceback (most recent call last):\n{tb}")
    err = cls(detail)
    err.ft_detail = detail
    return err


def _outputs(call, result):
    """The function's result as a list of eager Tensors of the Tout dtypes."""
    n = len(call.tout)
    if n == 0:
        return []
    if call.many and isinstance(result, (list, tuple)):
        items = list(result)
    else:  # one output (a list is its data), or Tout = [dtype] and one value
        items = [result]
    if len(items) != n:
        raise _errors.InvalidArgumentError(
            f"the Python function {call.name} returned {len(items)} value"
            f"{'s' if len(items) != 1 else ''}, Tout lists {n}")
    out = []
    for k, (v, dt) in enumerate(zip(items, call.tout)):
        if isinstance(v, (_core.Tensor, np.ndarray, np.generic)):
            have = v.dtype
            if have != dt:
                raise _errors.InvalidArgumentError(
                    f"the Python function {call.name} returned a value of dtype {have.name} as "
                    f"output {k}, Tout says {dt.name}")
            out.append(v if isinstance(v, _core.Tensor) else _core.convert_to_tensor(v))
        else:
            try:
                out.append(_core.convert_to_tensor(v, dt))
            except (TypeError, ValueError) as e:
                raise _errors.InvalidArgumentError(
                    f"the Python function {call.name} returned {_errors.describe(v)} as output "
                    f"{k}, which does not convert to {dt.name}: {e}") from None
    return out


def _vjp(gs, inputs, call):
    """The gradients of a py_func node: Note [py_func nodes]."""
    n_in = len(inputs)
    if call.kind != "eager":
        return [None] * n_in
    diff = [k for k, x in enumerate(inputs) if np.dtype(x.dtype).kind in "fc"]
    given = [j for j, g in enumerate(gs) if g is not None]
    if not diff or not given:
        return [None] * n_in
    func = call.func

    def grad(*args):
        from fasttape.backprop import GradientTape

        xs = list(args[:n_in])
        dys = list(args[n_in:])
        with GradientTape() as tape:
            for k in diff:
                tape.watch(xs[k])
            ys = _outputs(call, func(*xs))
        sel = [ys[j] for j in given]
        grads = tape.gradient(sel, [xs[k] for k in diff], output_gradients=dys)
        from fasttape.ops.array_ops import zeros_like

        return [zeros_like(xs[k]) if g is None else g for k, g in zip(diff, grads)]

    tout = tuple(np.dtype(inputs[k].dtype) for k in diff)
    gcall = _PyCall(grad, tout, True, "eager", f"the gradient of {call.name}", like=diff)
    op = _op(len(diff), True)
    with _graph.op_name("EagerPyFuncGrad", op):
        res = op.apply(tuple(inputs) + tuple(gs[j] for j in given), (gcall,))
    res = [res] if len(diff) == 1 else list(res)
    grads = [None] * n_in
    for k, g in zip(diff, res):
        grads[k] = g
    return grads


def _tout(what, Tout):
    """(tuple of np.dtypes, whether Tout was a list)."""
    from fasttape.dtypes import as_dtype

    many = isinstance(Tout, (list, tuple))
    items = list(Tout) if many else [Tout]
    out = []
    for t in items:
        try:
            out.append(np.dtype(as_dtype(t)))
        except (TypeError, ValueError) as e:
            raise TypeError(f"{what}: Tout must be a dtype or a list of dtypes, got {t!r}: "
                            f"{e}") from None
    return tuple(out), many


def _call(what, kind, func, inp, Tout, stateful, name, node_type):
    if not callable(func):
        raise TypeError(f"{what}: func must be callable, got {_errors.describe(func)}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"{what}: name must be a str, got {type(name).__name__}")
    tout, many = _tout(what, Tout)
    if inp is None:
        inp = []
    if not isinstance(inp, (list, tuple)):
        inp = [inp]
    fname = getattr(func, "__qualname__", None) or type(func).__name__
    call = _PyCall(func, tout, many, kind, fname)
    inputs = tuple(inp)
    if _core.staging() or any(_core.is_symbolic(x) for x in inputs):
        n = len(tout)
        op = _op(n, bool(stateful))
        if n == 0:
            staged = [x if isinstance(x, _core.Tensor) else _core.convert_to_tensor(x)
                      for x in inputs]
            g = _graph._graph_for(staged) or _graph.get_default_graph()
            with g._lock:  # no outputs: the node (an ft.Operation), as TensorFlow
                with _graph.op_name(name or node_type, op):
                    op.apply(tuple(staged), (call,))
                return g.get_operations()[-1]
        converted = tuple(x if isinstance(x, _core.Tensor) else _core.convert_to_tensor(x)
                          for x in inputs)
        with _graph.op_name(name or node_type, op):
            out = op.apply(converted, (call,))
        out = [out] if n == 1 else list(out)
        return out if many else out[0]
    # eager mode: call the function
    tensors = [x if isinstance(x, _core.Tensor) else _core.convert_to_tensor(x) for x in inputs]
    args = [t.numpy().copy() for t in tensors] if kind == "numpy" else tensors
    result = func(*args)
    out = _outputs(call, result)
    return out if many else (out[0] if out else None)


def py_function(func, inp, Tout, name=None):
    """Calls `func` on eager Tensors: `func(*inp)` in eager mode; in a graph
    or a traced function, a node that calls it eagerly each time it runs.

    `Tout` is a dtype (one output, returned as a tensor) or a list of dtypes
    (a list of tensors; `[]`: the node, for side effects). Outputs of the
    node have unknown static shapes (`set_shape` refines them). Differentiable:
    the gradient runs `func` under an eager GradientTape.

    >>> import fasttape as ft
    >>> g = ft.Graph()
    >>> with g.as_default():
    ...     x = ft.placeholder(ft.float32, [2])
    ...     y = ft.py_function(lambda t: t * 2.0 + 1.0, [x], ft.float32)
    >>> ft.Session(graph=g).run(y, {x: [1.0, 2.0]})
    array([3., 5.], dtype=float32)
    """
    return _call("py_function", "eager", func, inp, Tout, True, name, "EagerPyFunc")


def py_func(func, inp, Tout, stateful=True, name=None):
    """The seed's `tfe.py_func`: `func` called on eager Tensors, as
    `py_function`, with TensorFlow's `stateful` flag (False: a pure function,
    which a traced function may fold or deduplicate). (TensorFlow 1's graph
    `tf.py_func`, which passes NumPy arrays, is `numpy_function`, also
    `ft.compat.v1.py_func`.)"""
    return _call("py_func", "eager", func, inp, Tout, stateful, name, "EagerPyFunc")


def numpy_function(func, inp, Tout, stateful=True, name=None):
    """Calls `func` on NumPy arrays (writable copies) and returns its arrays
    as tensors of the `Tout` dtypes; in a graph, a node that calls it each
    time it runs. Not differentiable (tapes cannot see NumPy code)."""
    return _call("numpy_function", "numpy", func, inp, Tout, stateful, name, "PyFunc")
