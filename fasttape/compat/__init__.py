"""`ft.compat`: TensorFlow's compatibility namespaces (`ft.compat.v1`)."""

from fasttape.compat import v1 as v1
from fasttape.tensor_shape import dimension_value as dimension_value  # noqa: E402
