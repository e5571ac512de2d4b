"""Where TensorFlow has each public op, and the NumPy function that maps to it.

One `ApiEntry` per public op: the op's name (its key in fasttape.ops._registry.OPS,
or the public name of a composite), every path TensorFlow 2 has it at (`tf.X`,
`tf.math.X`, `tf.nn.X`, `tf.linalg.X`, `tf.random.X`, `tf.bitwise.X`,
`tf.compat.v1.X`, ...) as listed by TensorFlow's API docs ("Main aliases" and
"Compat aliases"; compat.v1 paths are listed where TensorFlow 1 used another
name or module), and the NumPy function that reaches the op through the
Tensor's NumPy protocol (None when NumPy has no such function, or its
semantics differ).

tests/api/test_tf_paths.py checks that every op of the table has an entry,
that every path resolves on `fasttape` (tf -> ft) to the op's public function,
and that every NumPy function, applied to tensors, returns the op's result.
A new op adds its entry here.
"""

import dataclasses
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class ApiEntry:
    """One public op and TensorFlow's and NumPy's names for it.

    Attributes:
        name: the op's name in OPS, or the public name of a composite.
        paths: TensorFlow's paths for it, "tf.math.log" style.
        numpy: the NumPy function that maps to it through the protocol, or None.
        np_args: builds, from the tensors of the op's first op_db sample (or a
            2x3 float64 tensor when it has no spec), the arguments that the
            NumPy function and the fasttape function both take (default: the
            tensors themselves).
        fasttape_only: paths of an op TensorFlow does not have (as `ft.X`).
        notes: where fasttape and TensorFlow differ.
    """

    name: str
    paths: tuple
    numpy: Callable | None = None
    np_args: Callable | None = None
    fasttape_only: tuple = ()
    notes: str = ""


def E(name, paths, numpy=None, np_args=None, **kw):
    return ApiEntry(name, tuple(paths.split()), numpy, np_args, **kw)


def _first_axis(x, *rest):
    return (x, 0) + rest


def _mat(*_):
    import fasttape as ft

    return (ft.constant(np.array([[2.0, 0.5, 0.1], [0.5, 3.0, 0.2], [0.1, 0.2, 1.5]])),)


API = [
    # --- elementwise math -----------------------------------------------------------------
    E("abs", "tf.abs tf.math.abs", np.abs),
    E("acos", "tf.acos tf.math.acos", np.arccos),
    E("add", "tf.add tf.math.add", np.add),
    E("asin", "tf.asin tf.math.asin", np.arcsin),
    E("atan", "tf.atan tf.math.atan", np.arctan),
    E("atan2", "tf.atan2 tf.math.atan2", np.arctan2),
    E("ceil", "tf.math.ceil tf.compat.v1.ceil", np.ceil),
    E("cos", "tf.cos tf.math.cos", np.cos),
    E("cosh", "tf.cosh tf.math.cosh", np.cosh),
    E("divide", "tf.divide tf.math.divide tf.truediv tf.math.truediv", np.divide,
      notes="truediv is divide: ints divide to floats in both"),
    E("erf", "tf.math.erf tf.compat.v1.erf"),
    E("exp", "tf.exp tf.math.exp", np.exp),
    E("expm1", "tf.math.expm1 tf.compat.v1.expm1", np.expm1),
    E("floor", "tf.floor tf.math.floor", np.floor),
    E("floordiv", "tf.math.floordiv tf.compat.v1.floordiv", np.floor_divide),
    E("log", "tf.math.log tf.compat.v1.log", np.log),
    E("log1p", "tf.math.log1p tf.compat.v1.log1p", np.log1p),
    E("maximum", "tf.maximum tf.math.maximum", np.maximum),
    E("minimum", "tf.minimum tf.math.minimum", np.minimum),
    E("mod", "tf.math.floormod tf.math.mod tf.compat.v1.floormod tf.compat.v1.mod", np.mod),
    E("multiply", "tf.multiply tf.math.multiply", np.multiply),
    E("negative", "tf.negative tf.math.negative", np.negative),
    E("pow", "tf.pow tf.math.pow", np.power),
    E("reciprocal", "tf.math.reciprocal tf.compat.v1.reciprocal", np.reciprocal),
    E("round", "tf.round tf.math.round", np.rint, notes="half to even, as np.rint"),
    E("rsqrt", "tf.math.rsqrt tf.compat.v1.rsqrt"),
    E("sigmoid", "tf.sigmoid tf.math.sigmoid tf.nn.sigmoid"),
    E("sign", "tf.sign tf.math.sign", np.sign),
    E("sin", "tf.sin tf.math.sin", np.sin),
    E("sinh", "tf.sinh tf.math.sinh", np.sinh),
    E("softplus", "tf.math.softplus tf.nn.softplus"),
    E("sqrt", "tf.sqrt tf.math.sqrt", np.sqrt),
    E("square", "tf.square tf.math.square", np.square),
    E("subtract", "tf.subtract tf.math.subtract", np.subtract),
    E("tan", "tf.tan tf.math.tan", np.tan),
    E("tanh", "tf.tanh tf.math.tanh tf.nn.tanh tf.compat.v1.nn.tanh", np.tanh),
    E("clip_by_value", "tf.clip_by_value", np.clip),
    E("where", "tf.where tf.compat.v1.where_v2", np.where),
    E("add_n", "tf.add_n tf.math.add_n"),
    E("conj", "tf.math.conj tf.compat.v1.conj", np.conj),
    # activations
    E("relu", "tf.nn.relu", fasttape_only=("ft.relu",)),
    E("relu6", "tf.nn.relu6", fasttape_only=("ft.relu6",)),
    E("elu", "tf.nn.elu", fasttape_only=("ft.elu",)),
    E("selu", "tf.nn.selu", fasttape_only=("ft.selu",)),
    E("gelu", "tf.nn.gelu", fasttape_only=("ft.gelu",)),
    E("leaky_relu", "tf.nn.leaky_relu", fasttape_only=("ft.leaky_relu",)),
    # --- comparisons, logic, bits ---------------------------------------------------------
    E("equal", "tf.equal tf.math.equal", np.equal),
    E("not_equal", "tf.not_equal tf.math.not_equal", np.not_equal),
    E("less", "tf.less tf.math.less", np.less),
    E("less_equal", "tf.less_equal tf.math.less_equal", np.less_equal),
    E("greater", "tf.greater tf.math.greater", np.greater),
    E("greater_equal", "tf.greater_equal tf.math.greater_equal", np.greater_equal),
    E("isnan", "tf.math.is_nan tf.compat.v1.is_nan", np.isnan, fasttape_only=("ft.isnan",)),
    E("isfinite", "tf.math.is_finite tf.compat.v1.is_finite", np.isfinite,
      fasttape_only=("ft.isfinite",)),
    E("logical_and", "tf.logical_and tf.math.logical_and", np.logical_and),
    E("logical_or", "tf.logical_or tf.math.logical_or", np.logical_or),
    E("logical_not", "tf.logical_not tf.math.logical_not", np.logical_not),
    E("logical_xor", "tf.math.logical_xor tf.compat.v1.logical_xor", np.logical_xor),
    E("bitwise_and", "tf.bitwise.bitwise_and", np.bitwise_and),
    E("bitwise_or", "tf.bitwise.bitwise_or", np.bitwise_or),
    E("bitwise_xor", "tf.bitwise.bitwise_xor", np.bitwise_xor),
    E("invert", "tf.bitwise.invert", np.invert, fasttape_only=("ft.math.invert",)),
    # --- reductions -----------------------------------------------------------------------
    E("reduce_sum", "tf.reduce_sum tf.math.reduce_sum", np.sum),
    E("reduce_mean", "tf.reduce_mean tf.math.reduce_mean", np.mean),
    E("reduce_max", "tf.reduce_max tf.math.reduce_max", np.max),
    E("reduce_min", "tf.reduce_min tf.math.reduce_min", np.min),
    E("reduce_prod", "tf.reduce_prod tf.math.reduce_prod", np.prod),
    E("reduce_all", "tf.reduce_all tf.math.reduce_all", np.all),
    E("reduce_any", "tf.reduce_any tf.math.reduce_any", np.any),
    E("reduce_logsumexp", "tf.reduce_logsumexp tf.math.reduce_logsumexp"),
    E("reduce_std", "tf.math.reduce_std", np.std, fasttape_only=("ft.reduce_std",)),
    E("reduce_variance", "tf.math.reduce_variance", np.var,
      fasttape_only=("ft.reduce_variance",)),
    E("reduce_euclidean_norm", "tf.math.reduce_euclidean_norm",
      fasttape_only=("ft.reduce_euclidean_norm",)),
    E("count_nonzero", "tf.math.count_nonzero tf.compat.v1.count_nonzero", np.count_nonzero,
      fasttape_only=("ft.count_nonzero",)),
    E("argmax", "tf.argmax tf.math.argmax", np.argmax, _first_axis,
      notes="axis None is 0 in TensorFlow, the flattened array in NumPy"),
    E("argmin", "tf.argmin tf.math.argmin", np.argmin, _first_axis),
    E("segment_sum", "tf.math.segment_sum tf.compat.v1.segment_sum"),
    E("unsorted_segment_sum", "tf.math.unsorted_segment_sum tf.compat.v1.unsorted_segment_sum"),
    # --- shapes, indexing, creation -------------------------------------------------------
    E("reshape", "tf.reshape", np.reshape, lambda x: (x, (-1,))),
    E("transpose", "tf.transpose", np.transpose),
    E("expand_dims", "tf.expand_dims", np.expand_dims, _first_axis),
    E("squeeze", "tf.squeeze", np.squeeze),
    E("broadcast_to", "tf.broadcast_to", np.broadcast_to, lambda x: (x, (2,) + x.shape)),
    E("concat", "tf.concat", np.concatenate, lambda x, *_: ([x, x], 0)),
    E("stack", "tf.stack", np.stack, lambda *xs: ([x for x in xs], 0)),
    E("tile", "tf.tile", np.tile, lambda x: (x, (2,) * x.ndim)),
    E("pad", "tf.pad", np.pad, lambda x: (x, [[1, 2]] * x.ndim)),
    E("slice", "tf.slice"),
    E("gather", "tf.gather tf.compat.v1.gather", np.take,
      lambda p, i: (p, i, 0), notes="np.take's axis None flattens; tf.gather's is 0"),
    E("gather_nd", "tf.gather_nd"),
    E("scatter_nd", "tf.scatter_nd"),
    E("tensor_scatter_nd_update", "tf.tensor_scatter_nd_update "
      "tf.compat.v1.tensor_scatter_update tf.compat.v1.tensor_scatter_nd_update"),
    E("tensor_scatter_nd_add", "tf.tensor_scatter_nd_add tf.compat.v1.tensor_scatter_add"),
    E("boolean_mask", "tf.boolean_mask"),
    E("one_hot", "tf.one_hot"),
    E("cast", "tf.cast", notes="tf.dtypes.cast is not there yet: ft.dtypes is the dtypes module"),
    E("identity", "tf.identity"),
    E("stop_gradient", "tf.stop_gradient"),
    E("shape", "tf.shape tf.compat.v1.shape"),
    E("size", "tf.size tf.compat.v1.size"),
    E("rank", "tf.rank tf.compat.v1.rank"),
    E("split", "tf.split", np.split, lambda x: (x, 1)),
    E("unstack", "tf.unstack"),
    E("zeros", "tf.zeros"),
    E("ones", "tf.ones"),
    E("zeros_like", "tf.zeros_like", np.zeros_like),
    E("ones_like", "tf.ones_like", np.ones_like),
    E("fill", "tf.fill"),
    E("range", "tf.range"),
    E("linspace", "tf.linspace tf.compat.v1.lin_space"),
    E("eye", "tf.eye tf.linalg.eye"),
    E("constant", "tf.constant"),
    E("convert_to_tensor", "tf.convert_to_tensor"),
    # --- linear algebra -------------------------------------------------------------------
    E("matmul", "tf.matmul tf.linalg.matmul", np.matmul),
    E("einsum", "tf.einsum tf.linalg.einsum"),
    E("tensordot", "tf.tensordot tf.linalg.tensordot", np.tensordot, lambda a, b: (a, b, 1)),
    E("norm", "tf.norm tf.linalg.norm", np.linalg.norm, fasttape_only=("ft.math.norm",)),
    E("inv", "tf.linalg.inv tf.compat.v1.matrix_inverse", np.linalg.inv, _mat),
    E("solve", "tf.linalg.solve tf.compat.v1.matrix_solve", np.linalg.solve),
    E("det", "tf.linalg.det tf.compat.v1.matrix_determinant", np.linalg.det, _mat),
    E("slogdet", "tf.linalg.slogdet", np.linalg.slogdet, _mat),
    E("cholesky", "tf.linalg.cholesky tf.compat.v1.cholesky", np.linalg.cholesky, _mat),
    E("logdet", "tf.linalg.logdet"),
    E("matrix_transpose", "tf.linalg.matrix_transpose tf.linalg.transpose "
      "tf.compat.v1.matrix_transpose"),
    E("adjoint", "tf.linalg.adjoint"),
    E("diag_part", "tf.linalg.diag_part tf.compat.v1.matrix_diag_part"),
    E("trace", "tf.linalg.trace tf.compat.v1.trace", np.trace, _mat),
    E("matrix_diag", "tf.linalg.diag tf.compat.v1.matrix_diag tf.compat.v1.linalg.diag"),
    E("tensor_diag", "tf.linalg.tensor_diag tf.compat.v1.diag"),
    E("matvec", "tf.linalg.matvec"),
    E("global_norm", "tf.linalg.global_norm tf.compat.v1.global_norm"),
    E("clip_by_norm", "tf.clip_by_norm"),
    E("clip_by_global_norm", "tf.clip_by_global_norm"),
    # --- neural networks ------------------------------------------------------------------
    E("softmax", "tf.nn.softmax tf.math.softmax"),
    E("log_softmax", "tf.nn.log_softmax tf.math.log_softmax"),
    E("softmax_cross_entropy_with_logits", "tf.nn.softmax_cross_entropy_with_logits"),
    E("sparse_softmax_cross_entropy_with_logits",
      "tf.nn.sparse_softmax_cross_entropy_with_logits"),
    E("sigmoid_cross_entropy_with_logits", "tf.nn.sigmoid_cross_entropy_with_logits"),
    E("l2_loss", "tf.nn.l2_loss"),
    E("dropout", "tf.nn.dropout"),
    E("conv1d", "tf.nn.conv1d"),
    E("conv2d", "tf.nn.conv2d"),
    E("conv2d_transpose", "tf.nn.conv2d_transpose"),
    E("max_pool2d", "tf.nn.max_pool2d"),
    E("avg_pool2d", "tf.nn.avg_pool2d"),
    E("batch_normalization", "tf.nn.batch_normalization"),
    E("moments", "tf.nn.moments"),
    E("bias_add", "tf.nn.bias_add"),
    E("embedding_lookup", "tf.nn.embedding_lookup"),
    E("layer_norm", "", fasttape_only=("ft.nn.layer_norm",),
      notes="TensorFlow has it as tf.keras.layers.LayerNormalization only"),
    # --- random ---------------------------------------------------------------------------
    E("normal", "tf.random.normal tf.compat.v1.random_normal"),
    E("uniform", "tf.random.uniform tf.compat.v1.random_uniform"),
    E("truncated_normal", "tf.random.truncated_normal tf.compat.v1.truncated_normal"),
    E("shuffle", "tf.random.shuffle tf.compat.v1.random_shuffle"),
    E("random.set_seed", "tf.random.set_seed tf.compat.v1.set_random_seed"),
    # --- not ops: the rest of the public API ----------------------------------------------
    E("Tensor", "tf.Tensor"),
    E("TensorShape", "tf.TensorShape tf.compat.v1.TensorShape"),
    E("Variable", "tf.Variable"),
    E("GradientTape", "tf.GradientTape"),
    E("UnconnectedGradients", "tf.UnconnectedGradients"),
    E("custom_gradient", "tf.custom_gradient"),
    E("executing_eagerly", "tf.executing_eagerly"),
    E("enable_eager_execution", "tf.compat.v1.enable_eager_execution"),
    E("as_dtype", "tf.as_dtype"),
    E("Module", "tf.Module"),
    E("Model", "tf.keras.Model tf.keras.models.Model", fasttape_only=("ft.Model",)),
    E("Sequential", "tf.keras.Sequential tf.keras.models.Sequential",
      fasttape_only=("ft.Sequential",)),
    # --- graph mode ------------------------------------------------------------------------
    E("Graph", "tf.Graph tf.compat.v1.Graph"),
    E("Operation", "tf.Operation tf.compat.v1.Operation"),
    E("placeholder", "tf.compat.v1.placeholder"),
    E("get_default_graph", "tf.compat.v1.get_default_graph"),
    E("reset_default_graph", "tf.compat.v1.reset_default_graph"),
    E("name_scope", "tf.name_scope tf.compat.v1.name_scope"),
    E("disable_eager_execution", "tf.compat.v1.disable_eager_execution"),
    # --- running graphs --------------------------------------------------------------------
    E("Session", "tf.compat.v1.Session"),
    E("global_variables_initializer", "tf.compat.v1.global_variables_initializer"),
    E("InteractiveSession", "tf.compat.v1.InteractiveSession"),
    E("get_default_session", "tf.compat.v1.get_default_session"),
    E("variables_initializer", "tf.compat.v1.variables_initializer"),
    E("global_variables", "tf.compat.v1.global_variables"),
    E("trainable_variables", "tf.compat.v1.trainable_variables"),
    E("dimension_value", "tf.compat.dimension_value tf.compat.v1.dimension_value"),
    E("gradients", "tf.gradients tf.compat.v1.gradients"),
    # --- traced functions -------------------------------------------------------------------
    E("function", "tf.function"),
    E("TensorSpec", "tf.TensorSpec"),
    E("init_scope", "tf.init_scope"),
    # --- control flow -----------------------------------------------------------------------
    E("cond", "tf.cond", notes="tf.compat.v1.cond is TensorFlow 1's (fn1/fn2, strict=False "
      "unpacks one-element results)"),
    E("while_loop", "tf.while_loop",
      notes="tf.compat.v1.while_loop is TensorFlow 1's (return_same_structure=False)"),
    E("cond_v1", "tf.compat.v1.cond"),
    E("while_loop_v1", "tf.compat.v1.while_loop"),
    # --- the seed's bridges: Python code in graphs, variable sharing (TensorFlow 1's
    # top-level names, tf.X in 1.x, are ft.X) ------------------------------------------------
    E("py_function", "tf.py_function tf.compat.v1.py_function tf.contrib.eager.py_func"),
    E("numpy_function", "tf.numpy_function tf.compat.v1.numpy_function tf.compat.v1.py_func"),
    E("py_func", "", fasttape_only=("ft.py_func",),
      notes="SPEC's py_func: eager Tensors in and out, differentiable, with TensorFlow 1's "
            "stateful flag; TensorFlow 1's graph tf.py_func (NumPy arrays) is numpy_function"),
    E("make_template", "tf.compat.v1.make_template tf.contrib.eager.make_template",
      fasttape_only=("ft.make_template",)),
    E("variable_scope", "tf.compat.v1.variable_scope", fasttape_only=("ft.variable_scope",)),
    E("VariableScope", "tf.compat.v1.VariableScope", fasttape_only=("ft.VariableScope",)),
    E("get_variable", "tf.compat.v1.get_variable", fasttape_only=("ft.get_variable",)),
    E("get_variable_scope", "tf.compat.v1.get_variable_scope",
      fasttape_only=("ft.get_variable_scope",)),
    E("EagerVariableStore", "tf.contrib.eager.EagerVariableStore",
      fasttape_only=("ft.compat.v1.EagerVariableStore",)),
    *[E(n, f"tf.compat.v1.{n}", fasttape_only=(f"ft.{n}",),
        notes="TensorFlow 1's initializer class: dtype argument, __call__(shape, dtype, "
              "partition_info)")
      for n in ("zeros_initializer", "ones_initializer", "constant_initializer",
                "random_normal_initializer", "truncated_normal_initializer",
                "random_uniform_initializer", "glorot_uniform_initializer",
                "glorot_normal_initializer", "variance_scaling_initializer",
                "orthogonal_initializer")],
]


def entries_by_name():
    """{name: ApiEntry}."""
    return {e.name: e for e in API}
