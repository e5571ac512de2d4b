"""SGD, Adam, AdamW, RMSprop and Adagrad with Keras's (TF 2.11+) update
formulas. See Note [Optimizer state] in optimizer.py; docs/design.md
("Optimizers, losses and metrics") compares them with PyTorch's.

In the formulas below `g` is the (clipped) gradient, `lr` the step's learning
rate and `t` the step number counted from 1.
"""

from fasttape._state import detached
from fasttape.ops.array_ops import cast
from fasttape.ops.math_ops import maximum, pow, rsqrt, sqrt, square
from fasttape.optimizers import fused as _fused
from fasttape.optimizers.optimizer import Optimizer, _float_const, _hyper


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum.

    Without momentum: var -= lr * g. With momentum:
    m = momentum * m - lr * g, then var += m (or, with nesterov,
    var += momentum * m - lr * g).

    >>> import fasttape as ft
    >>> v = ft.Variable(1.0)
    >>> opt = ft.optimizers.SGD(learning_rate=0.1)
    >>> _ = opt.apply_gradients([(ft.constant(2.0), v)])
    >>> round(float(v), 6)
    0.8
    """

    _NAME = "SGD"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="SGD", **kwargs):
        super().__init__(name, learning_rate, weight_decay, clipnorm, clipvalue,
                         global_clipnorm, **kwargs)
        self.momentum = _hyper("SGD", "momentum", momentum, 0, 1)
        self.nesterov = bool(nesterov)

    def _slot_specs(self):
        return [("momentum", 0)] if self.momentum else []

    def _update_step(self, g, var, slots, c):
        lr = c["lr"]
        if not self.momentum:
            var.assign_sub(g * lr)
            return
        m = slots["momentum"]
        m.assign(detached(m) * self.momentum - g * lr)
        if self.nesterov:
            var.assign_add(detached(m) * self.momentum - g * lr)
        else:
            var.assign_add(detached(m))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba), Keras's form:

        m += (g - m) * (1 - beta_1);  v += (g**2 - v) * (1 - beta_2)
        var -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)

    `epsilon` is the paper's "epsilon hat" (added to sqrt(v), not to the
    bias-corrected sqrt(v_hat) as in PyTorch). With `amsgrad`, v is replaced by
    its running maximum vhat in the denominator.

    >>> import fasttape as ft
    >>> v = ft.Variable([1.0, -1.0])
    >>> opt = ft.optimizers.Adam(learning_rate=0.1)
    >>> _ = opt.apply_gradients([(ft.constant([0.5, -2.0]), v)])
    >>> v.numpy().round(4)
    array([ 0.9, -0.9], dtype=float32)
    """

    _NAME = "Adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name="Adam", **kwargs):
        super().__init__(name, learning_rate, weight_decay, clipnorm, clipvalue,
                         global_clipnorm, **kwargs)
        cls = type(self).__name__
        self.beta_1 = _hyper(cls, "beta_1", beta_1, 0, 1)
        self.beta_2 = _hyper(cls, "beta_2", beta_2, 0, 1)
        self.epsilon = _hyper(cls, "epsilon", epsilon, 0)
        self.amsgrad = bool(amsgrad)

    def _slot_specs(self):
        return [("m", 0), ("v", 0)] + ([("vhat", 0)] if self.amsgrad else [])

    def _coefficients(self, dtype, lr):
        c = super()._coefficients(dtype, lr)
        t = cast(detached(self._iterations) + 1, dtype)
        b1_power = pow(_float_const(self.beta_1, dtype), t)
        b2_power = pow(_float_const(self.beta_2, dtype), t)
        c["alpha"] = c["lr"] * sqrt(1 - b2_power) / (1 - b1_power)
        return c

    def _update_step(self, g, var, slots, c):
        m, v = slots["m"], slots["v"]
        if _fused.adam(g, var, m, v, slots.get("vhat"), c["alpha"], self.beta_1, self.beta_2,
                       self.epsilon):
            return
        m.assign_add((g - detached(m)) * (1 - self.beta_1))
        v.assign_add((square(g) - detached(v)) * (1 - self.beta_2))
        if self.amsgrad:
            vhat = slots["vhat"]
            vhat.assign(maximum(detached(vhat), detached(v)))
            v = vhat
        var.assign_sub((detached(m) * c["alpha"]) / (sqrt(detached(v)) + self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): each step first
    does var -= var * weight_decay * lr, then Adam's update.
    `exclude_from_weight_decay` leaves chosen variables (biases, norms) alone."""

    _NAME = "AdamW"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name="AdamW", **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a float, got None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay,
                         clipnorm, clipvalue, global_clipnorm, name, **kwargs)


class RMSprop(Optimizer):
    """RMSprop, Keras's form (epsilon inside the square root):

        rms = rho * rms + (1 - rho) * g**2
        (centered) mg = rho * mg + (1 - rho) * g;  denominator = rms - mg**2 + epsilon
        (else)     denominator = rms + epsilon
        increment = lr * g / sqrt(denominator)
        var -= increment, or with momentum: mom = momentum * mom + increment; var -= mom
    """

    _NAME = "RMSprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name="RMSprop", **kwargs):
        super().__init__(name, learning_rate, weight_decay, clipnorm, clipvalue,
                         global_clipnorm, **kwargs)
        self.rho = _hyper("RMSprop", "rho", rho, 0, 1)
        self.momentum = _hyper("RMSprop", "momentum", momentum, 0, 1)
        self.epsilon = _hyper("RMSprop", "epsilon", epsilon, 0)
        self.centered = bool(centered)

    def _slot_specs(self):
        return ([("rms", 0)] + ([("momentum", 0)] if self.momentum else [])
                + ([("mg", 0)] if self.centered else []))

    def _update_step(self, g, var, slots, c):
        rho = self.rho
        rms = slots["rms"]
        rms.assign(detached(rms) * rho + square(g) * (1 - rho))
        if self.centered:
            mg = slots["mg"]
            mg.assign(detached(mg) * rho + g * (1 - rho))
            denominator = detached(rms) - square(detached(mg)) + self.epsilon
        else:
            denominator = detached(rms) + self.epsilon
        increment = c["lr"] * g * rsqrt(denominator)
        if self.momentum:
            mom = slots["momentum"]
            mom.assign(detached(mom) * self.momentum + increment)
            var.assign_sub(detached(mom))
        else:
            var.assign_sub(increment)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad, Keras's form (epsilon inside the square root; the accumulator
    starts at initial_accumulator_value):

        acc += g**2;  var -= lr * g / sqrt(acc + epsilon)
    """

    _NAME = "Adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name="Adagrad", **kwargs):
        super().__init__(name, learning_rate, weight_decay, clipnorm, clipvalue,
                         global_clipnorm, **kwargs)
        self.initial_accumulator_value = _hyper("Adagrad", "initial_accumulator_value",
                                                initial_accumulator_value, 0)
        self.epsilon = _hyper("Adagrad", "epsilon", epsilon, 0)

    def _slot_specs(self):
        return [("accumulator", self.initial_accumulator_value)]

    def _update_step(self, g, var, slots, c):
        acc = slots["accumulator"]
        acc.assign_add(g * g)
        var.assign_sub(c["lr"] * g / sqrt(detached(acc) + self.epsilon))

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
