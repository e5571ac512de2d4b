"""fasttape: eager-execution automatic differentiation on NumPy arrays.

Tensors hold concrete values, ops run at once, and `GradientTape` records them
on a compiled tape and walks it back. This module is the public facade only:
everything public is re-exported here, so that internals can move.
"""

import numpy as np

from fasttape import bitwise as bitwise
from fasttape import debugging as debugging
from fasttape import dtypes as dtypes
from fasttape import errors as errors
from fasttape import graph as graph
from fasttape import linalg as linalg  # noqa: E402
from fasttape import math as math  # noqa: E402
from fasttape import nn as nn  # noqa: E402
from fasttape import onnx as onnx  # noqa: E402
from fasttape import ops as _ops  # noqa: F401  (fills the op table)
from fasttape import profiler as profiler
from fasttape import random as random
from fasttape import saved_function as saved_function  # noqa: E402
from fasttape import summary as summary  # noqa: E402
from fasttape import train as train  # noqa: E402
from fasttape._core import core as _core
from fasttape._core.core import Tensor as Tensor
from fasttape._core.core import Variable as Variable
from fasttape._core.core import convert_to_tensor as convert_to_tensor
from fasttape.backprop import GradientTape as GradientTape
from fasttape.backprop import UnconnectedGradients as UnconnectedGradients
from fasttape.backprop import custom_gradient as custom_gradient
from fasttape.control_flow import cond as cond  # noqa: E402
from fasttape.control_flow import while_loop as while_loop  # noqa: E402
from fasttape.dtypes import as_dtype as as_dtype
from fasttape.dtypes import (  # noqa: F401
    bool,
    complex64,
    complex128,
    double,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    string,
    uint8,
    uint16,
    uint32,
    uint64,
)
from fasttape.function import TensorSpec as TensorSpec  # noqa: E402
from fasttape.function import function as function  # noqa: E402
from fasttape.function import init_scope as init_scope  # noqa: E402
from fasttape.gradients_impl import gradients as gradients  # noqa: E402
from fasttape.graph import Graph as Graph  # noqa: E402
from fasttape.graph import Operation as Operation  # noqa: E402
from fasttape.graph import disable_eager_execution as disable_eager_execution  # noqa: E402
from fasttape.graph import enable_eager_execution as enable_eager_execution  # noqa: E402
from fasttape.graph import executing_eagerly as executing_eagerly  # noqa: E402
from fasttape.graph import get_default_graph as get_default_graph  # noqa: E402
from fasttape.graph import name_scope as name_scope  # noqa: E402
from fasttape.graph import placeholder as placeholder  # noqa: E402
from fasttape.graph import reset_default_graph as reset_default_graph  # noqa: E402
from fasttape.ops._registry import composite as _composite
from fasttape.ops.array_ops import (  # noqa: F401
    boolean_mask,
    broadcast_to,
    cast,
    concat,
    conj,
    expand_dims,
    eye,
    fill,
    gather,
    gather_nd,
    identity,
    linspace,
    one_hot,
    ones,
    ones_like,
    pad,
    range,
    reshape,
    scatter_nd,
    split,
    squeeze,
    stack,
    stop_gradient,
    tile,
    transpose,
    unstack,
    zeros,
    zeros_like,
)
from fasttape.ops.array_ops import rank as rank
from fasttape.ops.array_ops import shape as shape
from fasttape.ops.array_ops import size as size
from fasttape.ops.array_ops import slice_ as slice  # noqa: F401
from fasttape.ops.array_ops import tensor_scatter_nd_add as tensor_scatter_nd_add
from fasttape.ops.array_ops import tensor_scatter_nd_update as tensor_scatter_nd_update
from fasttape.ops.linalg_ops import einsum as einsum
from fasttape.ops.linalg_ops import matmul as matmul
from fasttape.ops.linalg_ops import norm as norm
from fasttape.ops.linalg_ops import tensordot as tensordot
from fasttape.ops.math_ops import (  # noqa: F401
    abs,
    acos,
    add,
    argmax,
    argmin,
    asin,
    atan,
    atan2,
    ceil,
    clip_by_value,
    cos,
    cosh,
    divide,
    equal,
    erf,
    exp,
    expm1,
    floor,
    floordiv,
    greater,
    greater_equal,
    isfinite,
    isnan,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    maximum,
    minimum,
    mod,
    multiply,
    negative,
    not_equal,
    pow,
    reciprocal,
    reduce_all,
    reduce_any,
    reduce_logsumexp,
    reduce_max,
    reduce_mean,
    reduce_min,
    reduce_prod,
    reduce_std,
    reduce_sum,
    reduce_variance,
    round,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sinh,
    sqrt,
    square,
    subtract,
    tan,
    tanh,
    where,
)
from fasttape.ops.math_ops import add_n as add_n
from fasttape.ops.math_ops import clip_by_global_norm as clip_by_global_norm
from fasttape.ops.math_ops import clip_by_norm as clip_by_norm
from fasttape.ops.math_ops import count_nonzero as count_nonzero
from fasttape.ops.math_ops import divide as truediv  # noqa: F401

# activations: in ft.nn as in TensorFlow, and at the top level where SPEC lists them
from fasttape.ops.math_ops import elu as elu  # noqa: E402
from fasttape.ops.math_ops import gelu as gelu  # noqa: E402
from fasttape.ops.math_ops import leaky_relu as leaky_relu  # noqa: E402
from fasttape.ops.math_ops import reduce_euclidean_norm as reduce_euclidean_norm
from fasttape.ops.math_ops import relu as relu  # noqa: E402
from fasttape.ops.math_ops import relu6 as relu6  # noqa: E402
from fasttape.ops.math_ops import selu as selu  # noqa: E402
from fasttape.ops.math_ops import softplus as softplus  # noqa: E402
from fasttape.session import Session as Session  # noqa: E402
from fasttape.session import global_variables_initializer as global_variables_initializer  # noqa: E402, E501
from fasttape.tensor_shape import TensorShape as TensorShape

__version__ = "0.1.0"


@_composite("constant", names_itself=True)
def constant(value, dtype=None, shape=None, name=None):
    """A Tensor from Python data, a NumPy array or a tensor.

    Python floats become float32, ints int32 (int64 when they do not fit),
    bools bool; NumPy arrays keep their dtype and are copied when writable, so
    later writes to them never change the tensor. With `shape`, a scalar is
    broadcast and other values reshaped.

    >>> import fasttape as ft
    >>> ft.constant([[1, 2], [3, 4]])
    <ft.Tensor shape=(2, 2) dtype=int32 numpy=[[1 2]
     [3 4]]>
    """
    t = convert_to_tensor(value, dtype)
    if _core.staging():  # in a graph: a Const node
        if _core.is_symbolic(t):
            raise TypeError(f"ft.constant: expects a value, not the symbolic tensor {t.name}")
        if shape is not None:
            from fasttape.ops._registry import normalize_shape

            shape = normalize_shape("constant", shape, (t,), allow_unknown=False)
            value = _core.tensor_value(t)
            t = _core.wrap_array(np.array(np.broadcast_to(value, shape)) if value.size == 1
                                 else value.reshape(shape))
        return graph.constant(t, name)
    if shape is not None:
        from fasttape.ops._registry import normalize_shape

        shape = normalize_shape("constant", shape, (t,), allow_unknown=t.size != 1)
        if t.size == 1:
            return broadcast_to(reshape(t, ()), shape) if shape != t.shape else t
        return reshape(t, shape)
    return t


# Modules, layers and training (tf.Module, Keras's layers, optimizers, losses and
# metrics: docs/design.md), and TensorFlow 1's names (compat imports the names
# above, so these come last)
from fasttape import activations as activations  # noqa: E402
from fasttape import callbacks as callbacks  # noqa: E402
from fasttape import compat as compat  # noqa: E402
from fasttape import contrib as contrib  # noqa: E402
from fasttape import data as data  # noqa: E402
from fasttape import initializers as initializers  # noqa: E402
from fasttape import keras as keras  # noqa: E402
from fasttape import layers as layers  # noqa: E402
from fasttape import losses as losses  # noqa: E402
from fasttape import metrics as metrics  # noqa: E402
from fasttape import optimizers as optimizers  # noqa: E402
from fasttape import regularizers as regularizers  # noqa: E402
from fasttape.models import Model as Model  # noqa: E402
from fasttape.models import Sequential as Sequential  # noqa: E402
from fasttape.module import Module as Module  # noqa: E402

# The seed's two bridges: Python code as a graph node, graph-style code
# (templates, variable scopes) called from eager code; and ft.contrib.eager
from fasttape.script_ops import numpy_function as numpy_function  # noqa: E402
from fasttape.script_ops import py_func as py_func  # noqa: E402
from fasttape.script_ops import py_function as py_function  # noqa: E402
from fasttape.template import AUTO_REUSE as AUTO_REUSE  # noqa: E402
from fasttape.template import VariableScope as VariableScope  # noqa: E402
from fasttape.template import (  # noqa: E402, F401
    constant_initializer,
    get_variable,
    get_variable_scope,
    glorot_normal_initializer,
    glorot_uniform_initializer,
    make_template,
    ones_initializer,
    orthogonal_initializer,
    random_normal_initializer,
    random_uniform_initializer,
    truncated_normal_initializer,
    variable_scope,
    variance_scaling_initializer,
    zeros_initializer,
)

graph._mark_import_done()
