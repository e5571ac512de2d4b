"""`ft.initializers` (also `ft.keras.initializers`): Keras's weight initializers.

Each is a class called as `init(shape, dtype)` and returning a Tensor; `get`
turns a Keras string name ("glorot_uniform", "zeros", "he_normal", ...), a
class, an instance or a callable into one. Values are drawn with
`ft.random` ops (seeded by `seed`, or by `ft.random.set_seed`), so an
initializer computes through the op table like any other code.
"""

import math as _pymath

from fasttape import dtypes as _dtypes
from fasttape import linalg as _linalg
from fasttape.ops import array_ops as _array
from fasttape.ops import linalg_ops as _la
from fasttape.ops import random_ops as _random


def _shape(shape):
    return tuple(int(d) for d in shape)


def _dtype(dtype):
    return _dtypes.as_dtype("float32" if dtype is None else dtype)


def _fans(shape):
    """Keras's (fan_in, fan_out): a kernel's last two dims, times its receptive field."""
    shape = _shape(shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = 1
    for d in shape[:-2]:
        receptive *= d
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """The base class: `init(shape, dtype=None)` -> Tensor."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError(f"{type(self).__name__} must define __call__(shape, dtype)")

    def get_config(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype=None):
        return _array.zeros(_shape(shape), dtype=_dtype(dtype))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype=None):
        return _array.ones(_shape(shape), dtype=_dtype(dtype))


class Constant(Initializer):
    """Every element `value`."""

    def __init__(self, value=0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return _array.fill(_shape(shape), _array.cast(self.value, _dtype(dtype)))

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    """Normal draws of `mean` and `stddev` (Keras's defaults 0.0 and 0.05)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        return _random.normal(_shape(shape), self.mean, self.stddev, _dtype(dtype), self.seed)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    """Uniform draws in [minval, maxval) (Keras's defaults -0.05 and 0.05)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=None):
        return _random.uniform(_shape(shape), self.minval, self.maxval, _dtype(dtype), self.seed)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class TruncatedNormal(Initializer):
    """Normal draws of `mean` and `stddev` re-drawn beyond two deviations."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        return _random.truncated_normal(_shape(shape), self.mean, self.stddev, _dtype(dtype),
                                        self.seed)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(Initializer):
    """Draws of variance `scale / n`, n the fan in, the fan out or their mean
    (`mode`), from a truncated normal, an untruncated normal or a uniform
    (`distribution`), as Keras's VarianceScaling."""

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if scale <= 0.0:
            raise ValueError(f"VarianceScaling: scale must be positive, got {scale}")
        if mode not in self._MODES:
            raise ValueError(f"VarianceScaling: mode must be one of {self._MODES}, got {mode!r}")
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling: distribution must be one of "
                             f"{self._DISTRIBUTIONS}, got {distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype=None):
        shape, dtype = _shape(shape), _dtype(dtype)
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        if self.distribution == "truncated_normal":
            # the stddev of a unit normal truncated to [-2, 2]
            std = _pymath.sqrt(scale) / 0.87962566103423978
            return _random.truncated_normal(shape, 0.0, std, dtype, self.seed)
        if self.distribution in ("untruncated_normal", "normal"):
            return _random.normal(shape, 0.0, _pymath.sqrt(scale), dtype, self.seed)
        limit = _pymath.sqrt(3.0 * scale)
        return _random.uniform(shape, -limit, limit, dtype, self.seed)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


def _scaling(cls_name, scale, mode, distribution, doc):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(cls_name, (VarianceScaling,),
                {"__init__": __init__, "get_config": get_config, "__doc__": doc,
                 "__module__": __name__})


GlorotUniform = _scaling("GlorotUniform", 1.0, "fan_avg", "uniform",
                         "Uniform in ±sqrt(6 / (fan_in + fan_out)) (Keras's default kernel).")
GlorotNormal = _scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                        "Truncated normal of variance 2 / (fan_in + fan_out).")
HeNormal = _scaling("HeNormal", 2.0, "fan_in", "truncated_normal",
                    "Truncated normal of variance 2 / fan_in.")
HeUniform = _scaling("HeUniform", 2.0, "fan_in", "uniform", "Uniform in ±sqrt(6 / fan_in).")
LecunNormal = _scaling("LecunNormal", 1.0, "fan_in", "truncated_normal",
                       "Truncated normal of variance 1 / fan_in.")
LecunUniform = _scaling("LecunUniform", 1.0, "fan_in", "uniform", "Uniform in ±sqrt(3 / fan_in).")


class Identity(Initializer):
    """`gain` times the identity matrix (2-D shapes only)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity initializer: needs a 2-D shape, got {shape}")
        return _array.eye(shape[0], shape[1], dtype=_dtype(dtype)) * self.gain

    def get_config(self):
        return {"gain": self.gain}


class Orthogonal(Initializer):
    """`gain` times a random orthogonal matrix (Keras's default recurrent
    kernel); a shape of more than two dims is treated as (prod(shape[:-1]),
    shape[-1]).

    The orthogonal factor of a normal matrix A is computed as A L^-T with L the
    Cholesky factor of A^T A, twice (CholeskyQR2, in float64), which equals
    the Q of A = QR with R's diagonal positive: the Haar-distributed matrix
    Keras draws, through the op table.
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, dtype=None):
        shape, dtype = _shape(shape), _dtype(dtype)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializer: needs a shape of 2 or more dims, "
                             f"got {shape}")
        rows = 1
        for d in shape[:-1]:
            rows *= d
        cols = shape[-1]
        flat = (max(rows, cols), min(rows, cols))
        q = _random.normal(flat, 0.0, 1.0, "float64", self.seed)
        for _ in range(2):
            chol = _linalg.cholesky(_la.matmul(q, q, transpose_a=True))
            q = _linalg.matrix_transpose(_linalg.solve(chol, _linalg.matrix_transpose(q)))
        if rows < cols:
            q = _linalg.matrix_transpose(q)
        return _array.cast(_array.reshape(q * self.gain, shape), dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


# Keras's names and aliases
zeros = Zeros
ones = Ones
constant = Constant
random_normal = RandomNormal
random_uniform = RandomUniform
truncated_normal = TruncatedNormal
variance_scaling = VarianceScaling
glorot_uniform = GlorotUniform
glorot_normal = GlorotNormal
he_normal = HeNormal
he_uniform = HeUniform
lecun_normal = LecunNormal
lecun_uniform = LecunUniform
orthogonal = Orthogonal
identity = Identity

_BY_NAME = {
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "random_normal": RandomNormal, "normal": RandomNormal,
    "random_uniform": RandomUniform, "uniform": RandomUniform,
    "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_normal": HeNormal, "he_uniform": HeUniform,
    "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform,
    "orthogonal": Orthogonal, "identity": Identity,
}


def _snake(name):
    from fasttape.module import camel_to_snake

    return camel_to_snake(name)


def get(identifier):
    """An initializer from a Keras name ("glorot_uniform", "GlorotUniform"),
    a class, an instance or a callable `(shape, dtype) -> Tensor`; None -> None."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _BY_NAME.get(_snake(identifier))
        if cls is None:
            raise ValueError(f"unknown initializer {identifier!r}; known: {sorted(_BY_NAME)}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(f"an initializer must be a name, an Initializer or a callable, "
                    f"got {type(identifier).__name__}")
