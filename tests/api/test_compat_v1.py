"""`ft.compat.v1`: TensorFlow 1's names for what exists (eager), the same objects as ft's."""

import numpy as np

import fasttape as ft
from fasttape.compat import v1


def test_compat_v1_names_are_fasttapes_objects():
    assert ft.compat.v1 is v1
    for name in ["TensorShape", "Tensor", "Variable", "GradientTape", "constant", "reduce_sum",
                 "matmul", "float32", "custom_gradient", "shape", "add_n", "math", "nn",
                 "linalg", "random"]:
        assert getattr(v1, name) is getattr(ft, name), name


def test_compat_v1_renamed_functions():
    assert v1.diag is ft.linalg.tensor_diag
    assert v1.matrix_diag is ft.linalg.diag
    assert v1.matrix_inverse is ft.linalg.inv
    assert v1.set_random_seed is ft.random.set_seed
    assert v1.tensor_scatter_update is ft.tensor_scatter_nd_update
    assert v1.is_nan is ft.math.is_nan is ft.isnan


def test_compat_v1_public_names_all_resolve_to_callables_or_modules():
    names = [n for n in dir(v1) if not n.startswith("_")]
    assert len(names) > 150
    for n in names:
        obj = getattr(v1, n)
        assert callable(obj) or isinstance(obj, (np.dtype, type(np))) or obj is ft.AUTO_REUSE, n


def test_compat_v1_graph_names():
    # building and running graphs: TensorFlow 1's names for them
    for name in ("placeholder", "get_default_graph", "Graph", "reset_default_graph",
                 "Session", "global_variables_initializer"):
        assert getattr(v1, name) is getattr(ft, name)
    for name in ("InteractiveSession", "variables_initializer", "global_variables",
                 "trainable_variables"):
        assert getattr(v1, name) is getattr(ft.session, name)
    assert "Session" in v1.__doc__


def test_compat_v1_code_runs():
    tf = ft.compat.v1
    tf.enable_eager_execution()
    x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    assert x.shape.as_list() == [2, 2] and isinstance(x.shape, tf.TensorShape)
    y = tf.reduce_sum(tf.matrix_diag(tf.matrix_diag_part(x)) * 2.0)
    assert f"{y:.1f}" == "10.0"
