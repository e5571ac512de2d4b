"""Random tensors, reproducible under `ft.random.set_seed` (a NumPy Generator per thread).

The ops live in fasttape/ops/random_ops.py: table entries flagged stateful.
"""

from fasttape.ops.random_ops import (  # noqa: F401
    normal,
    set_seed,
    shuffle,
    truncated_normal,
    uniform,
)
