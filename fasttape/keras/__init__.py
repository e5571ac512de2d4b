"""`ft.keras`: Keras's paths (`ft.keras.layers.Dense`, ...) to fasttape's modules.

Submodules are loaded on first use, so that the training stack's modules
(optimizers, losses, metrics, ...) join here as they are added without this
file importing them.
"""

import importlib

from fasttape import activations as activations
from fasttape import initializers as initializers
from fasttape import layers as layers
from fasttape import regularizers as regularizers
from fasttape.keras import backend as backend

# ft.keras.X -> fasttape.X, loaded when first read
_LAZY = ("optimizers", "losses", "metrics", "callbacks", "models")


# ft.keras.X -> fasttape.module.X, loaded when first read
_LAZY_NAMES = {"Model": "models", "Sequential": "models", "Input": "layers.input_layer",
               "InputLayer": "layers.input_layer"}


def __getattr__(name):
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(f"fasttape.{_LAZY_NAMES[name]}"), name)
        globals()[name] = value
        return value
    if name in _LAZY:
        try:
            module = importlib.import_module(f"fasttape.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"fasttape.{name}":
                raise
            raise AttributeError(f"ft.keras.{name}: fasttape has no {name} module yet") from None
        globals()[name] = module
        return module
    raise AttributeError(f"module 'fasttape.keras' has no attribute {name!r}")
