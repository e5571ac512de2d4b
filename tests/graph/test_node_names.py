"""Every op of the table has a valid TensorFlow-style node name."""

from fasttape import graph
from fasttape._core.core import registered_ops


def test_every_op_has_a_valid_node_name():
    for op in registered_ops():
        name = graph._tf_name(op.name)
        assert graph._VALID_NAME.match(name), (op.name, name)
        assert not name.startswith("_"), (op.name, name)


def test_tensorflow_names_of_common_ops():
    expected = {"add": "add", "multiply": "mul", "matmul": "MatMul", "reduce_sum": "Sum",
                "getitem": "strided_slice", "_where_indices": "Where", "exp": "Exp",
                "normal": "random_normal", "conv2d": "Conv2D"}
    assert {k: graph._tf_name(k) for k in expected} == expected
