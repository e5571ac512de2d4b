"""`ft.nn`: neural-network ops (TensorFlow's tf.nn)."""

from fasttape.ops.math_ops import (  # noqa: F401
    elu, gelu, leaky_relu, relu, relu6, selu, sigmoid, softplus, tanh,
)
from fasttape.ops.nn_ops import (  # noqa: F401
    log_softmax, softmax, sparse_softmax_cross_entropy_with_logits,
)
