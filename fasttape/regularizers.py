"""`ft.regularizers` (also `ft.keras.regularizers`): weight penalties.

A regularizer is called on a weight and returns a scalar tensor; layers add it
to their `losses` (see `ft.layers.Layer.losses`).
"""

from fasttape.ops import math_ops as _math


class Regularizer:
    """The base class: `reg(x)` -> a scalar Tensor."""

    def __call__(self, x):
        raise NotImplementedError(f"{type(self).__name__} must define __call__(x)")

    def get_config(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x**2)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        total = None
        if self.l1:
            total = self.l1 * _math.reduce_sum(_math.abs(x))
        if self.l2:
            term = self.l2 * _math.reduce_sum(_math.square(x))
            total = term if total is None else total + term
        if total is None:
            total = _math.reduce_sum(x * 0)
        return total

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """l1 * sum(|x|) (Keras's default l1 0.01)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """l2 * sum(x**2) (Keras's default l2 0.01; no 1/2 factor, unlike tf.nn.l2_loss)."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1_l2(l1=0.01, l2=0.01):
    """An L1L2 regularizer with Keras's defaults for this function (both 0.01)."""
    return L1L2(l1, l2)


l1 = L1
l2 = L2

_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": l1_l2, "L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier):
    """A regularizer from a name ("l1", "l2", "l1_l2"), an instance, a callable, or None."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier)
        if fn is None:
            raise ValueError(f"unknown regularizer {identifier!r}; known: {sorted(_BY_NAME)}")
        return fn()
    if callable(identifier):
        return identifier
    raise TypeError(f"a regularizer must be a name, a Regularizer or a callable, "
                    f"got {type(identifier).__name__}")
