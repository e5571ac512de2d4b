"""THE op table: every op's forward, VJPs and static shape rule, one family call per op.

Importing this package fills the compiled registry (fasttape._core) and binds
Tensor's operators and NumPy protocol to the ops.
"""

from fasttape.ops import (  # noqa: F401
    array_ops,
    linalg_ops,
    math_ops,
    nn_ops,
    numpy_protocol,
    random_ops,
)
from fasttape.ops._registry import OPS  # noqa: F401
