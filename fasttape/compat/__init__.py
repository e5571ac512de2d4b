"""`ft.compat`: TensorFlow's compatibility namespaces (`ft.compat.v1`)."""

from fasttape.compat import v1 as v1
