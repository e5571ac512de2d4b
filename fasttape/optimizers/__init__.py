"""Optimizers (`ft.optimizers`, also `ft.keras.optimizers`): Keras's names,
arguments and (TF 2.11+) update formulas, updating variables in place.

>>> import fasttape as ft
>>> w = ft.Variable([1.0, 2.0])
>>> opt = ft.optimizers.get("sgd")
>>> _ = opt.minimize(lambda: ft.reduce_sum(w * w), [w])
>>> w.numpy()
array([0.98, 1.96], dtype=float32)
"""

from fasttape.optimizers import schedules as schedules
from fasttape.optimizers.algorithms import SGD as SGD
from fasttape.optimizers.algorithms import Adagrad as Adagrad
from fasttape.optimizers.algorithms import Adam as Adam
from fasttape.optimizers.algorithms import AdamW as AdamW
from fasttape.optimizers.algorithms import RMSprop as RMSprop
from fasttape.optimizers.optimizer import Optimizer as Optimizer

_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def serialize(optimizer):
    """{"class_name": ..., "config": ...} for `deserialize`."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config):
    """An optimizer from `serialize`'s dict."""
    name = config.get("class_name", "")
    cls = _BY_NAME.get(name.lower())
    if cls is None:
        raise ValueError(f"ft.optimizers.deserialize: unknown optimizer {name!r}; known: "
                         f"{sorted(c.__name__ for c in _BY_NAME.values())}")
    return cls.from_config(config.get("config", {}))


def get(identifier):
    """An optimizer from a Keras name ("adam", "SGD", ...: a new instance with
    the default arguments), a `serialize` dict, or an optimizer (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"ft.optimizers.get: unknown optimizer {identifier!r}; known: "
                             f"{sorted(_BY_NAME)}")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"ft.optimizers.get: cannot interpret {identifier!r} as an optimizer")
