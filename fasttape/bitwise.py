"""`ft.bitwise`: bit operations on integer tensors (TensorFlow's tf.bitwise)."""

from fasttape.ops.math_ops import bitwise_and, bitwise_or, bitwise_xor, invert  # noqa: F401
