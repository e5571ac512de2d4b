"""`ft.linalg`: linear algebra (TensorFlow's tf.linalg)."""

from fasttape.ops.array_ops import eye  # noqa: F401
from fasttape.ops.linalg_ops import matmul  # noqa: F401
from fasttape.ops.math_ops import norm  # noqa: F401
