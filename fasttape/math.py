"""`ft.math`: TensorFlow's path to the elementwise and reduction ops."""

from fasttape.ops.math_ops import (  # noqa: F401
    abs, acos, add, argmax, argmin, asin, atan, atan2, ceil, cos, cosh, divide, equal, erf, exp,
    expm1, floor, floordiv, greater, greater_equal, invert, isfinite, isnan, less, less_equal, log,
    log1p, logical_and, logical_not, logical_or, logical_xor, maximum, minimum, mod, multiply,
    negative, not_equal, pow, reciprocal, reduce_all, reduce_any, reduce_logsumexp, reduce_max,
    reduce_mean, reduce_min, reduce_prod, reduce_std, reduce_sum, reduce_variance, round, rsqrt,
    sigmoid, sign, sin, sinh, softplus, sqrt, square, subtract, tan, tanh,
)
from fasttape.ops.math_ops import floordiv as floordiv  # noqa: F401
from fasttape.ops.math_ops import mod as floormod  # noqa: F401
from fasttape.ops.math_ops import norm as norm  # noqa: F401
from fasttape.ops.math_ops import divide as truediv  # noqa: F401
from fasttape.ops.nn_ops import log_softmax, softmax  # noqa: F401
