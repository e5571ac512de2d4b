"""`ft.nn`: neural-network ops (TensorFlow's tf.nn)."""

from fasttape.ops.math_ops import (  # noqa: F401
    elu,
    gelu,
    leaky_relu,
    relu,
    relu6,
    selu,
    sigmoid,
    softplus,
    tanh,
)
from fasttape.ops.nn_ops import (  # noqa: F401
    avg_pool2d,
    batch_normalization,
    bias_add,
    conv1d,
    conv2d,
    conv2d_transpose,
    dropout,
    embedding_lookup,
    l2_loss,
    layer_norm,
    log_softmax,
    max_pool2d,
    moments,
    sigmoid_cross_entropy_with_logits,
    softmax,
    softmax_cross_entropy_with_logits,
    sparse_softmax_cross_entropy_with_logits,
)
