"""Optimizer updates in one pass: Adam's as one C loop per variable.

Note [Fused updates]
~~~~~~~~~~~~~~~~~~~~
Written with ops, Adam's update of one variable is 12 ops (3 assigns), each
a pass over the variable's elements: for the digits convnet's 8 variables,
~100 small ops per step, a fifth of an eager step's op count. TensorFlow's
Keras optimizers call one kernel per variable instead (ResourceApplyAdam);
so does fasttape:

- eagerly, `core.adam_update` runs a C loop (csrc/fasttape_math.c,
  ft_adam_*) over the variable, its slots and the gradient, in place. Each
  array is first made the variable's own (copied when a tensor, a view, a
  tape or a plan's slot also holds it: Note [Tape ownership]), as `assign`
  does; the loop does the ops' arithmetic in the variable's type, op by op
  with no fused multiply-adds, so the result is bitwise the unfused one;
- while an ft.function traces, the update is one stateful node,
  "ResourceApplyAdam" (TensorFlow's name): inputs the gradient and the
  step's rate alpha, attrs the variables (var, m, v, vhat or None) and
  beta_1, beta_2, epsilon. Its executor step (session.NODE_STEPS) runs the
  same loop at each call. ft.saved_function saves and loads it.

The fused path needs eager variables of float32 or float64 and either eager
mode or an ft.function's graph. Graph variables (whose values live in a
Session), other dtypes and control-flow branches (which refuse assigns) use
the ops, as does `ENABLED = False` (the tests compare the two bitwise).
"""

import numpy as np

from fasttape._core import core as _core

#: False: every update is written with ops (the tests compare both paths)
ENABLED = True

NODE_TYPE = "ResourceApplyAdam"
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _fusable(variables):
    if not ENABLED or variables[0].dtype not in _FLOATS:
        return False
    for v in variables:
        if v._graph_var is not None:
            return False
    if _core.staging():
        from fasttape import graph as _graph

        return getattr(_graph.get_default_graph(), "_ft_function", None) is not None
    return True


def adam(g, var, m, v, vhat, alpha, beta_1, beta_2, epsilon):
    """Adam's update of `var` with gradient `g` (a tensor of its dtype and
    shape) and the step's rate `alpha` (a scalar tensor of its dtype), in one
    pass; False when it is not fusable (the caller uses ops)."""
    variables = (var, m, v) if vhat is None else (var, m, v, vhat)
    if not _fusable(variables):
        return False
    if _core.staging():
        _stage_adam(g, alpha, var, m, v, vhat, beta_1, beta_2, epsilon)
        return True
    _run_adam(_core.tensor_value(g), _core.tensor_value(alpha), var, m, v, vhat, beta_1,
              beta_2, epsilon)
    return True


def _run_adam(g, alpha, var, m, v, vhat, beta_1, beta_2, epsilon):
    """The eager update, and the node's step (no outputs)."""
    if not _core.adam_update(var, m, v, vhat, g, float(alpha), 1 - beta_1, 1 - beta_2,
                             epsilon):
        raise ValueError(f"{NODE_TYPE}: variable '{var.name}' (shape {tuple(var.shape)}, dtype "
                         f"{var.dtype.name}) and its slots cannot take a gradient of shape "
                         f"{np.shape(g)} dtype {np.asarray(g).dtype.name}")
    return ()


def _stage_adam(g, alpha, var, m, v, vhat, beta_1, beta_2, epsilon):
    from fasttape import graph as _graph

    return _graph.stage_node(_graph.get_default_graph(), NODE_TYPE, NODE_TYPE,
                             [("grad", g), ("alpha", alpha)],
                             (var, m, v, vhat, float(beta_1), float(beta_2), float(epsilon)),
                             [], [])


def build_node(graph, name, ins, attrs):
    """A ResourceApplyAdam node of `graph` from a file's inputs and attrs
    (ft.saved_function's loader, which has made the variables' references
    variables): ValueError naming what does not fit."""
    if len(ins) != 2 or len(attrs) != 7 or not all(
            isinstance(a, _core.Variable) for a in attrs[:3]) or not (
            attrs[3] is None or isinstance(attrs[3], _core.Variable)):
        raise ValueError(f"a {NODE_TYPE} has 2 inputs and attrs [3 or 4 variables of the "
                         "file, 3 floats]")
    g, alpha = ins
    var, m, v, vhat = attrs[:4]
    variables = [x for x in attrs[:4] if x is not None]
    if len({id(x) for x in variables}) != len(variables):
        raise ValueError(f"a {NODE_TYPE} names one variable twice: {[x.name for x in variables]}")
    for s in (m, v) + (() if vhat is None else (vhat,)):
        if s.dtype != var.dtype or tuple(s.shape) != tuple(var.shape):
            raise ValueError(f"a {NODE_TYPE}'s slot '{s.name}' does not match variable "
                             f"'{var.name}'")
    if var.dtype not in _FLOATS or g.dtype != var.dtype or alpha.dtype != var.dtype or (
            g.shape.rank is None or tuple(g.shape) != tuple(var.shape) or alpha.shape.rank != 0):
        raise ValueError(f"a {NODE_TYPE} of variable '{var.name}' {var.dtype.name} "
                         f"{tuple(var.shape)} is given a gradient of {g.dtype.name} {g.shape} "
                         f"and a rate of {alpha.dtype.name} {alpha.shape}")
    if not all(isinstance(a, float) for a in attrs[4:]):
        raise ValueError(f"a {NODE_TYPE}'s beta_1, beta_2 and epsilon are floats")
    return graph._add_op(NODE_TYPE, None, (g, alpha), tuple(attrs), name, [], [], exact=True,
                         scoped=False)


def _register_node():
    from fasttape import graph as _graph
    from fasttape import saved_function as _saved
    from fasttape import session as _session

    _session.NODE_STEPS[NODE_TYPE] = lambda node: (_run_adam, node.attrs, True)
    _saved.NODE_BUILDERS[NODE_TYPE] = build_node
    _graph._SOURCE_ATTRS[NODE_TYPE] = ("var", "m", "v", "vhat", "beta_1", "beta_2", "epsilon")


_register_node()
