"""`ft.data`: tf.data's input pipelines (`Dataset`), eager.

>>> import fasttape as ft
>>> ds = ft.data.Dataset.range(6).map(lambda x: x * 2).batch(4)
>>> [b.numpy().tolist() for b in ds]
[[0, 2, 4, 6], [8, 10]]

See docs/design.md, "Datasets".
"""

from fasttape.data.dataset import AUTOTUNE as AUTOTUNE
from fasttape.data.dataset import INFINITE_CARDINALITY as INFINITE_CARDINALITY
from fasttape.data.dataset import UNKNOWN_CARDINALITY as UNKNOWN_CARDINALITY
from fasttape.data.dataset import Dataset as Dataset


class experimental:  # noqa: N801  (tf.data.experimental's names used with datasets)
    AUTOTUNE = AUTOTUNE
    INFINITE_CARDINALITY = INFINITE_CARDINALITY
    UNKNOWN_CARDINALITY = UNKNOWN_CARDINALITY

    @staticmethod
    def cardinality(dataset):
        """`dataset.cardinality()`."""
        return dataset.cardinality()
