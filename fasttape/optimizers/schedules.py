"""Learning-rate schedules (Keras's `tf.keras.optimizers.schedules`).

A schedule is called with the optimizer's step (`optimizer.iterations`, an
int64 variable, or any integer) and returns the learning rate for that step
as a float32 scalar tensor. They are computed with ops of the table, so a
traced train step computes them from the step variable at run time.
"""

import math

import numpy as np

from fasttape import dtypes
from fasttape._core import core as _core
from fasttape._state import detached
from fasttape.ops.array_ops import cast, gather
from fasttape.ops.math_ops import ceil, cos, equal, floor, greater, minimum, pow, reduce_sum, where


class LearningRateSchedule:
    """Base class: a serializable learning-rate schedule (subclasses define
    `__call__(step)` and `get_config()`)."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must define __call__(step)")

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} must define get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _step(step, dtype=dtypes.float32):
    return cast(detached(step), dtype)


def _positive(cls, name, value):
    if not value > 0:
        raise ValueError(f"{cls}: {name} must be positive, got {value!r}")
    return value


class ExponentialDecay(LearningRateSchedule):
    """initial_learning_rate * decay_rate ** (step / decay_steps); with
    `staircase`, the exponent is floored (the rate changes every decay_steps).

    >>> import fasttape as ft
    >>> s = ft.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    >>> round(float(s(20)), 6)
    0.025
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name=None):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive("ExponentialDecay", "decay_steps", decay_steps)
        self.decay_rate = decay_rate
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        p = _step(step) / float(self.decay_steps)
        if self.staircase:
            p = floor(p)
        return pow(_core.convert_to_tensor(float(self.decay_rate), dtypes.float32), p) * \
            float(self.initial_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from `initial_learning_rate` to `alpha * initial_learning_rate`
    over `decay_steps`, constant afterwards (Loshchilov & Hutter's SGDR without
    restarts), as Keras's: with `warmup_target`, a linear warm-up from
    initial_learning_rate to warmup_target over `warmup_steps` comes first and
    the decay then starts from warmup_target.

    >>> import fasttape as ft
    >>> s = ft.optimizers.schedules.CosineDecay(1.0, decay_steps=10)
    >>> [round(float(s(k)), 4) for k in (0, 5, 10, 20)]
    [1.0, 0.5, 0.0, 0.0]
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name=None,
                 warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive("CosineDecay", "decay_steps", decay_steps)
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps
        if warmup_steps < 0:
            raise ValueError(f"CosineDecay: warmup_steps must be >= 0, got {warmup_steps!r}")

    def _decay(self, step, initial):
        fraction = minimum(step, float(self.decay_steps)) / float(self.decay_steps)
        cosine = (cos(fraction * math.pi) + 1.0) * 0.5
        return (cosine * (1.0 - self.alpha) + self.alpha) * float(initial)

    def __call__(self, step):
        s = _step(step)
        if self.warmup_target is None or self.warmup_steps == 0:
            initial = self.initial_learning_rate if self.warmup_target is None \
                else self.warmup_target
            return self._decay(s, initial)
        w = float(self.warmup_steps)
        warm = s / w * float(self.warmup_target - self.initial_learning_rate) + \
            float(self.initial_learning_rate)
        decayed = self._decay(s - w, self.warmup_target)
        return where(s < w, warm, decayed)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while
    boundaries[i-1] < step <= boundaries[i], values[-1] after the last boundary.

    >>> import fasttape as ft
    >>> s = ft.optimizers.schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    >>> [float(s(k)) for k in (10, 11, 20, 21)]
    [1.0, 0.5, 0.5, 0.10000000149011612]
    """

    def __init__(self, boundaries, values, name=None):
        boundaries, values = list(boundaries), list(values)
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                "PiecewiseConstantDecay: the length of values must be one more than the "
                f"length of boundaries, got {len(values)} values and {len(boundaries)} "
                "boundaries")
        if any(b <= a for a, b in zip(boundaries, boundaries[1:])):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must increase, got {boundaries}")
        self.boundaries = boundaries
        self.values = values
        self.name = name
        self._values = np.asarray(values, dtype=np.float32 if all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) else None)

    def __call__(self, step):
        s = _step(step, dtypes.float64)
        if not self.boundaries:
            return _core.convert_to_tensor(self._values[0])
        above = cast(greater(s, _core.convert_to_tensor(
            np.asarray(self.boundaries, np.float64))), dtypes.int32)
        return gather(_core.convert_to_tensor(self._values), reduce_sum(above))

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class InverseTimeDecay(LearningRateSchedule):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps); with
    `staircase`, step / decay_steps is floored.

    >>> import fasttape as ft
    >>> s = ft.optimizers.schedules.InverseTimeDecay(1.0, decay_steps=10, decay_rate=0.5)
    >>> float(s(20))
    0.5
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name=None):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive("InverseTimeDecay", "decay_steps", decay_steps)
        self.decay_rate = decay_rate
        self.staircase = bool(staircase)
        self.name = name

    def __call__(self, step):
        p = _step(step) / float(self.decay_steps)
        if self.staircase:
            p = floor(p)
        return float(self.initial_learning_rate) / (p * float(self.decay_rate) + 1.0)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """(initial - end) * (1 - step / decay_steps) ** power + end, with step
    capped at decay_steps; with `cycle`, decay_steps grows to the next multiple
    of itself past the step instead (the decay restarts).

    >>> import fasttape as ft
    >>> s = ft.optimizers.schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.0)
    >>> [round(float(s(k)), 4) for k in (0, 5, 10, 20)]
    [1.0, 0.5, 0.0, 0.0]
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name=None):
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = _positive("PolynomialDecay", "decay_steps", decay_steps)
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step):
        s = _step(step)
        steps = float(self.decay_steps)
        if self.cycle:
            multiplier = where(equal(s, 0.0), s * 0 + 1.0, ceil(s / steps))
            p = s / (multiplier * steps)
        else:
            p = minimum(s, steps) / steps
        end = float(self.end_learning_rate)
        return pow(1.0 - p, _core.convert_to_tensor(float(self.power), dtypes.float32)) * \
            (float(self.initial_learning_rate) - end) + end

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


def serialize(schedule):
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config):
    classes = {c.__name__: c for c in (ExponentialDecay, CosineDecay, PiecewiseConstantDecay,
                                       InverseTimeDecay, PolynomialDecay)}
    name = config.get("class_name")
    if name not in classes:
        raise ValueError(f"schedules.deserialize: unknown schedule {name!r}; known: "
                         f"{sorted(classes)}")
    return classes[name].from_config(config.get("config", {}))
