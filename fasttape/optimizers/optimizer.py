"""The optimizer base class (Keras's `tf.keras.optimizers.Optimizer`, TF 2.11+).

Note [Optimizer state]
~~~~~~~~~~~~~~~~~~~~~~
An optimizer's state is ft.Variables, so that checkpoints can save it:
`iterations` (int64, the number of `apply_gradients` calls), the learning
rate (a float32 variable, `optimizer.learning_rate`; with a schedule or a
callable it holds the value of the current step) and the slot variables, made
lazily the first time a variable is updated (or by `build(var_list)`). Slots
live in `_slots`, a dict {var.ref(): {slot name: Variable}}, and in
`_slot_variables`, the same variables in creation order: `variables()` is
`[iterations] + _slot_variables`, a deterministic list, and `get_slot(var,
name)` finds one. Slot names are TensorFlow's `get_slot` names (SGD
"momentum"; Adam "m", "v", "vhat"; RMSprop "rms", "momentum", "mg"; Adagrad
"accumulator").

Each step computes its scalar coefficients (learning rate, bias corrections)
with ops from `iterations` and the learning-rate variable, once per variable
dtype, and updates every variable with ops and `assign*`, which write into
the variable's own array (See Note [Unrecorded state updates] in
fasttape/_state.py for why nothing is recorded on tapes and why the buffers
are kept). The formulas are Keras's (TF 2.11+); docs/design.md lists where
they differ from PyTorch's.
"""

import numbers
import re
import warnings

import numpy as np

from fasttape._core import core as _core
from fasttape._state import detached, state_variable, variable_base_name
from fasttape._trackable import created as _created
from fasttape.ops.array_ops import cast
from fasttape.ops.math_ops import clip_by_global_norm, clip_by_norm, clip_by_value
from fasttape.optimizers import schedules as _schedules

Variable = _core.Variable
Tensor = _core.Tensor


class _VariableList(list):
    """A list of variables that is also callable: `opt.variables` (Keras 2.11+)
    and `opt.variables()` (TensorFlow's earlier optimizers) both work."""

    def __call__(self):
        return list(self)


def _hyper(cls, name, value, lo=None, hi=None, allow_none=False):
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{cls}: {name} must be a number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{cls}: {name} must be in {bounds}, got {value!r}")
    return float(value)


class Optimizer:
    """Base class of the optimizers: `apply_gradients(zip(grads, vars))`,
    `minimize(loss, var_list)`, slot variables, gradient clipping, weight
    decay and learning-rate schedules.

    Subclasses define `_slot_specs()` ([(slot name, initial value)]),
    `_update_step(gradient, variable, slots, coefficients)` and, when they
    need more than the learning rate, `_coefficients(dtype, lr)`.

    Args:
        learning_rate: a float, a `schedules.LearningRateSchedule` (called with
            `iterations` each step), a callable of no arguments, or a float
            ft.Variable (used as the optimizer's learning-rate variable).
        weight_decay: if set, each step first does `var -= var * weight_decay * lr`
            (decoupled weight decay, as Keras and AdamW).
        clipnorm: clip each gradient to this L2 norm (`ft.clip_by_norm`).
        clipvalue: clip each gradient elementwise to [-clipvalue, clipvalue].
        global_clipnorm: clip all gradients together to this global norm
            (`ft.clip_by_global_norm`). At most one of clipnorm and
            global_clipnorm may be given.
    """

    _NAME = "Optimizer"

    def __init__(self, name=None, learning_rate=0.001, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, jit_compile=None,
                 **kwargs):
        cls = type(self).__name__
        kwargs.pop("is_legacy_optimizer", None)
        if "lr" in kwargs:
            raise TypeError(f"{cls}: `lr` is not an argument; use `learning_rate`")
        if kwargs:
            raise TypeError(f"{cls}: unexpected arguments {sorted(kwargs)}")
        if use_ema:
            raise ValueError(f"{cls}: use_ema=True (weight averaging) is not supported")
        self.name = name or self._NAME
        self.weight_decay = _hyper(cls, "weight_decay", weight_decay, 0, allow_none=True)
        self.clipnorm = _hyper(cls, "clipnorm", clipnorm, 0, allow_none=True)
        self.clipvalue = _hyper(cls, "clipvalue", clipvalue, 0, allow_none=True)
        self.global_clipnorm = _hyper(cls, "global_clipnorm", global_clipnorm, 0,
                                      allow_none=True)
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ValueError(
                f"{cls}: at most one of clipnorm and global_clipnorm can be set, got "
                f"clipnorm={clipnorm}, global_clipnorm={global_clipnorm}")
        self._iterations = state_variable(0, "iteration", np.int64)
        self._slots = {}            # {var.ref(): {slot name: Variable}}
        self._slot_variables = []   # the same, in creation order
        self._warned_no_gradient = set()  # var.ref() already named in a warning
        self._exclude_refs = set()
        self._exclude_names = []
        self._lr_rule = None
        self._lr_var = None
        self._set_learning_rate(learning_rate, creating=True)

    # --- state ---------------------------------------------------------------------

    @property
    def iterations(self):
        """The number of steps run (an int64 ft.Variable)."""
        return self._iterations

    @iterations.setter
    def iterations(self, variable):
        if self._slot_variables:
            raise RuntimeError(
                f"{type(self).__name__}: iterations cannot be replaced after the "
                "optimizer's variables were made (after apply_gradients)")
        if not isinstance(variable, Variable) or variable.dtype != np.int64:
            raise TypeError(f"{type(self).__name__}: iterations must be an int64 "
                            f"ft.Variable, got {variable!r}")
        self._iterations = variable

    @property
    def variables(self):
        """[iterations, *slot variables], in creation order (callable too)."""
        return _VariableList([self._iterations, *self._slot_variables])

    def get_slot_names(self):
        """The names of the slots this optimizer makes for each variable."""
        return [name for name, _ in self._slot_specs()]

    def get_slot(self, var, slot_name):
        """The slot variable `slot_name` of `var` (made by a step or `build`)."""
        slots = self._slots.get(var.ref()) if isinstance(var, Tensor) else None
        if slots is None:
            raise KeyError(f"{type(self).__name__}.get_slot: no slots for variable "
                           f"{getattr(var, 'name', var)!r} (not updated by this optimizer yet)")
        if slot_name not in slots:
            raise KeyError(f"{type(self).__name__}.get_slot: no slot {slot_name!r} for "
                           f"variable {var.name!r}; its slots are {sorted(slots)}")
        return slots[slot_name]

    def build(self, var_list):
        """Makes the slot variables of every variable of `var_list` now (and, the
        first time, Keras's `_index_dict` {var.ref(): position} that
        Keras-style subclasses index their slot lists with)."""
        var_list = list(var_list)
        if not getattr(self, "_built", False):
            self._index_dict = {v.ref(): i for i, v in enumerate(var_list)}
        for v in var_list:
            self._check_variable(v, "build")
            if v.ref() not in self._slots:
                self._make_slots(v)

    # --- Keras-style subclasses -----------------------------------------------------
    #
    # A subclass written for Keras 2.11+ works unchanged: its __init__ sets
    # `self._learning_rate = self._build_learning_rate(lr)`, its `build(var_list)`
    # calls super().build, then (once, guarded by `self._built`) makes its slots
    # with `add_variable_from_reference`, and its `update_step(gradient,
    # variable)` updates one variable, finding its slots by
    # `self._index_dict[self._var_key(variable)]`. apply_gradients then calls
    # `build` with the variables of each call and `update_step` per variable.

    def update_step(self, gradient, variable):
        """Keras's extension point: update `variable` with `gradient` (override)."""
        raise NotImplementedError(f"{type(self).__name__} must define update_step")

    def _keras_style(self):
        return type(self).update_step is not Optimizer.update_step

    def add_variable_from_reference(self, model_variable, variable_name, shape=None,
                                    initial_value=None):
        """A slot variable `variable_name` for `model_variable` (zeros of its shape
        and dtype unless `shape` or `initial_value` is given), listed in
        `variables` and found by `get_slot(model_variable, variable_name)`."""
        if initial_value is None:
            initial_value = np.zeros(model_variable.shape if shape is None else shape,
                                     model_variable.dtype)
        elif isinstance(initial_value, Tensor):
            initial_value = np.array(initial_value)
        v = state_variable(initial_value, f"{variable_base_name(model_variable)}/"
                                          f"{variable_name}")
        self._slots.setdefault(model_variable.ref(), {})[variable_name] = v
        self._slot_variables.append(v)
        _created(self, model_variable)  # a restore may hold its value
        return v

    def _var_key(self, variable):
        return variable.ref()

    def _build_learning_rate(self, learning_rate):
        """Keras's helper: sets the learning rate; returns the learning-rate variable."""
        self._set_learning_rate(learning_rate)
        return self._lr_var

    def _make_slots(self, var):
        base = variable_base_name(var)
        slots = {}
        for name, init in self._slot_specs():
            s = state_variable(np.full(var.shape, init, dtype=var.dtype), f"{base}/{name}")
            slots[name] = s
            self._slot_variables.append(s)
        self._slots[var.ref()] = slots
        _created(self, var)  # Note [Deferred restoration] in fasttape/train/checkpoint.py
        return slots

    def _trackable_children(self):
        """Note [Object graph] in fasttape/train/checkpoint.py."""
        return {"iter": self._iterations, "learning_rate": self._lr_var}

    def _trackable_slots(self):
        """[(variable, {slot name: slot variable})], in creation order."""
        return [(ref.deref(), slots) for ref, slots in self._slots.items()]

    def _slot_specs(self):
        return []

    # --- learning rate --------------------------------------------------------------

    @property
    def learning_rate(self):
        """The learning-rate variable (float32). With a schedule or a callable it
        holds the rate of the current step. Assign a float, a schedule or a
        callable to change it."""
        return self._lr_var

    @learning_rate.setter
    def learning_rate(self, value):
        self._set_learning_rate(value)

    lr = learning_rate  # Keras's alias

    def _set_learning_rate(self, value, creating=False):
        cls = type(self).__name__
        if isinstance(value, _schedules.LearningRateSchedule) or (
                callable(value) and not isinstance(value, Tensor)):
            self._lr_rule = value
            current = self._rule_value()
        elif isinstance(value, Variable) and creating:
            if not np.issubdtype(value.dtype, np.floating) or value.shape != ():
                raise TypeError(f"{cls}: a learning_rate variable must be a float scalar, "
                                f"got {value!r}")
            self._lr_rule, self._lr_var = None, value
            return
        else:
            if isinstance(value, (Tensor, np.ndarray)):
                if np.shape(value) != ():
                    raise ValueError(f"{cls}: learning_rate must be a scalar, got shape "
                                     f"{np.shape(value)}")
                value = float(np.asarray(value))
            _hyper(cls, "learning_rate", value, 0)
            self._lr_rule = None
            current = float(value)
        if self._lr_var is None:
            self._lr_var = state_variable(0.0, "learning_rate", np.float32)
        self._lr_var.assign(cast(current, self._lr_var.dtype) if isinstance(current, Tensor)
                            else current)

    def _rule_value(self):
        rule = self._lr_rule
        value = rule(self._iterations) if isinstance(
            rule, _schedules.LearningRateSchedule) else rule()
        return _core.convert_to_tensor(value) if not isinstance(value, Tensor) else value

    def _current_learning_rate(self):
        """The step's learning rate (float32, unwatched): a schedule's or a
        callable's value is written into the learning-rate variable first."""
        if self._lr_rule is not None:
            self._lr_var.assign(cast(detached(self._rule_value()), self._lr_var.dtype))
        return detached(self._lr_var)

    def _coefficients(self, dtype, lr):
        """The scalar tensors of one step for variables of `dtype` (`lr` is the
        float32 learning rate)."""
        return {"lr": cast(lr, dtype)}

    # --- weight decay ---------------------------------------------------------------

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Variables (or variables whose name matches one of the regular
        expressions `var_names`) that weight decay leaves alone."""
        for v in var_list or ():
            self._exclude_refs.add(v.ref())
        self._exclude_names.extend(var_names or ())

    def _decays(self, var):
        if not self.weight_decay or var.ref() in self._exclude_refs:
            return False
        return not any(re.search(n, var.name) for n in self._exclude_names)

    # --- steps ----------------------------------------------------------------------

    def compute_gradients(self, loss, var_list, tape=None):
        """[(gradient, variable)] of `loss` (a callable of no arguments, or a
        tensor computed under `tape`) with respect to `var_list` (a list or a
        callable returning one)."""
        from fasttape.backprop import GradientTape

        cls = type(self).__name__
        if not callable(loss) and tape is None:
            raise ValueError(f"{cls}.compute_gradients: a tensor loss needs the `tape` that "
                             "computed it (or pass the loss as a callable)")
        if tape is None:
            tape = GradientTape()
        if callable(loss):
            with tape:
                if not callable(var_list):
                    tape.watch(list(var_list))
                loss = loss()
                if callable(var_list):
                    var_list = var_list()
        elif callable(var_list):
            var_list = var_list()
        var_list = list(var_list)
        grads = tape.gradient(loss, var_list)
        return list(zip(grads, var_list))

    def minimize(self, loss, var_list, tape=None):
        """Computes the gradients of `loss` (see `compute_gradients`) and applies
        them; returns `iterations`."""
        return self.apply_gradients(self.compute_gradients(loss, var_list, tape))

    def _check_variable(self, v, what):
        if not isinstance(v, Variable):
            raise TypeError(f"{type(self).__name__}.{what}: expects ft.Variables, got "
                            f"{type(v).__name__}")
        if v.dtype.kind != "f":  # np.issubdtype(dtype, np.floating), at a tenth of its cost
            raise TypeError(f"{type(self).__name__}.{what}: variable {v.name!r} has dtype "
                            f"{v.dtype}; only floating-point variables can be optimized")

    def _check_gradient(self, g, v):
        cls = type(self).__name__
        if not isinstance(g, Tensor):
            g = _core.convert_to_tensor(g, v.dtype)
        if g.dtype != v.dtype:
            raise TypeError(f"{cls}.apply_gradients: gradient of dtype {g.dtype} for variable "
                            f"{v.name!r} of dtype {v.dtype}")
        if tuple(g.shape) != tuple(v.shape):
            raise ValueError(f"{cls}.apply_gradients: gradient of shape {tuple(g.shape)} for "
                             f"variable {v.name!r} of shape {tuple(v.shape)}")
        return detached(g)

    def _clip(self, grads):
        if self.clipnorm:
            return [clip_by_norm(g, self.clipnorm) for g in grads]
        if self.global_clipnorm:
            return clip_by_global_norm(grads, self.global_clipnorm)[0]
        if self.clipvalue:
            return [clip_by_value(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def apply_gradients(self, grads_and_vars, name=None, skip_gradients_aggregation=False,
                        **kwargs):
        """Updates each variable with its gradient (one step); returns `iterations`.

        `grads_and_vars` is an iterable of (gradient, variable) pairs, as
        `zip(grads, vars)`. Pairs whose gradient is None are skipped, with one
        warning naming the variables (once per variable and optimizer); if no
        pair has a gradient, ValueError. The updates write into the variables'
        arrays and are not recorded on any tape.
        """
        cls = type(self).__name__
        grads, variables, missing = [], [], []
        for i, pair in enumerate(grads_and_vars):
            try:
                if isinstance(pair, Tensor):
                    raise TypeError
                g, v = pair
            except (TypeError, ValueError):
                raise TypeError(f"{cls}.apply_gradients: expects (gradient, variable) pairs, "
                                f"got {type(pair).__name__} {pair!r} at position {i}") from None
            self._check_variable(v, "apply_gradients")
            if g is None:
                missing.append(v)
                continue
            grads.append(g)
            variables.append(v)
        if not variables:
            raise ValueError(
                f"{cls}.apply_gradients: no gradients provided for any variable: "
                f"{[v.name for v in missing]}")
        new = [v for v in missing if v.ref() not in self._warned_no_gradient]
        if new:
            self._warned_no_gradient.update(v.ref() for v in new)
            warnings.warn(
                f"{cls}.apply_gradients: gradients do not exist for variables "
                f"{[v.name for v in new]} when minimizing the loss; they are not updated "
                "(this warning is given once per variable)", UserWarning, stacklevel=2)
        grads = self._clip([self._check_gradient(g, v) for g, v in zip(grads, variables)])
        lr = self._current_learning_rate()
        if self._keras_style():
            self._apply_keras_style(grads, variables, lr)
            self._iterations.assign_add(1)
            return self._iterations
        coefficients = {}
        for g, v in zip(grads, variables):
            slots = self._slots.get(v.ref())
            if slots is None:
                slots = self._make_slots(v)
            c = coefficients.get(v.dtype)
            if c is None:
                c = coefficients[v.dtype] = self._coefficients(v.dtype, lr)
                if self.weight_decay:
                    c["decay"] = c["lr"] * self.weight_decay
            if self.weight_decay and self._decays(v):
                v.assign_sub(detached(v) * c["decay"])
            self._update_step(g, v, slots, c)
        self._iterations.assign_add(1)
        return self._iterations

    def _apply_keras_style(self, grads, variables, lr):
        self.build(variables)
        for g, v in zip(grads, variables):
            if v.ref() not in self._index_dict:
                raise KeyError(
                    f"{type(self).__name__}.apply_gradients: the optimizer was built without "
                    f"variable {v.name!r}; call build() with all the variables first")
            if self.weight_decay and self._decays(v):
                v.assign_sub(detached(v) * (cast(lr, v.dtype) * self.weight_decay))
            self.update_step(g, v)

    def _update_step(self, gradient, variable, slots, c):
        raise NotImplementedError(f"{type(self).__name__} must define _update_step")

    # --- configuration --------------------------------------------------------------

    def get_config(self):
        lr = self._lr_rule if self._lr_rule is not None else float(self._lr_var.numpy())
        if isinstance(lr, _schedules.LearningRateSchedule):
            lr = _schedules.serialize(lr)
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = _schedules.deserialize(lr)
        return cls(**config)

    def __repr__(self):
        return f"<ft.optimizers.{type(self).__name__} name={self.name!r}>"


def _float_const(value, dtype):
    return _core.convert_to_tensor(np.asarray(value, dtype=dtype))

