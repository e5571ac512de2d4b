"""`Layer` (Keras's base layer) and `InputSpec`."""

import inspect
import threading

import numpy as np

from fasttape import initializers as _initializers
from fasttape import nest as _nest
from fasttape import regularizers as _regularizers
from fasttape._core import core as _core
from fasttape._trackable import created as _created
from fasttape.dtypes import as_dtype as _as_dtype
from fasttape.function import init_scope as _init_scope
from fasttape.module import Module, _sorted_items, camel_to_snake
from fasttape.ops.array_ops import cast as _cast
from fasttape.ops.math_ops import reduce_sum as _reduce_sum
from fasttape.tensor_shape import TensorShape

# Note [Layer tracking]
# ~~~~~~~~~~~~~~~~~~~~~
# A Layer is a Module walked in attribute *assignment* order (Keras's order,
# so `model.weights` lists the first layer's kernel first), not Module's
# sorted order. Its variables are, as in Keras:
#   trainable_weights     = its own trainable weights (add_weight order, and
#                           variables assigned as attributes), then those of
#                           its sublayers, each once — [] when the layer is frozen;
#   non_trainable_weights = its own non-trainable ones, then its sublayers'
#                           (plus all trainable ones when it is frozen);
#   weights = variables   = trainable_weights + non_trainable_weights.
# `layer.trainable = False` freezes the layer and every sublayer (recursively,
# Keras's setter); the variables' own `trainable` flag is not changed (it is
# read-only): a frozen layer only lists them as non-trainable. Sublayers and
# variables are found through lists, tuples and dicts of attributes as in
# Note [Module walking] (cycles safe, each once).

# Note [Call losses]
# ~~~~~~~~~~~~~~~~~~
# Losses given to `add_loss` inside `call` belong to one outermost call (Keras
# clears them when a new one starts). Clearing every sublayer's list at each
# outermost call walked the whole layer tree per step; instead each outermost
# call makes a token, passed down the call stack: a layer stores the token of
# its last call (`_token`) and the token its `_call_losses` belong to
# (`_loss_token`, the list is reset on the first add_loss of a new call).
# `layer.losses` keeps the call losses whose token is the layer's own last
# call's. Losses added outside any call stay (`_persistent_losses`).

# Note [Layer names]
# ~~~~~~~~~~~~~~~~~~
# A Layer without a name gets its class name in snake_case made unique in the
# process ('dense', 'dense_1', ...), Keras's rule; `ft.keras.backend.clear_session()`
# resets the counts. A given name is used as is. (A plain `ft.Module` is not made
# unique, as in TensorFlow.) Weights are named 'layer_name/weight_name:0'.

_LAYER_BOOKKEEPING = frozenset({
    "_name", "_scope_name", "_own_weights", "_regularized", "_call_losses",
    "_persistent_losses", "_loss_token", "_token", "_initial_weights", "input_spec",
    "_checkpoint_pending"})

# attribute values that hold nothing to track (skipped at once by _scan)
_ATOMIC = frozenset({int, float, str, bool, type(None), bytes, complex, type(len),
                     type(lambda: None)})

_NAME_COUNTS = {}
_NAME_LOCK = threading.Lock()


def unique_layer_name(base):
    with _NAME_LOCK:
        n = _NAME_COUNTS.get(base, 0)
        _NAME_COUNTS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def reset_layer_names():
    """Forgets the names given so far (Keras's clear_session)."""
    with _NAME_LOCK:
        _NAME_COUNTS.clear()


# the `training` value of the enclosing layer calls (Keras's call context)
_CONTEXT = threading.local()


def _context_stack():
    stack = getattr(_CONTEXT, "stack", None)
    if stack is None:
        stack = _CONTEXT.stack = []
    return stack


class InputSpec:
    """What a layer accepts: `ndim`, `min_ndim`, `max_ndim`, `axes` ({axis: size}),
    `shape` (None entries match anything), `dtype`. Checked at each call
    (Keras's InputSpec)."""

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None,
                 axes=None, allow_last_axis_squeeze=False, name=None):
        self.dtype = dtype
        self.shape = None if shape is None else tuple(shape)
        self.ndim = len(self.shape) if shape is not None else ndim
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.axes = dict(axes or {})
        self.name = name

    def __repr__(self):
        parts = [f"{k}={v!r}" for k, v in (("dtype", self.dtype), ("shape", self.shape),
                                           ("ndim", self.ndim), ("max_ndim", self.max_ndim),
                                           ("min_ndim", self.min_ndim), ("axes", self.axes or None))
                 if v is not None]
        return f"InputSpec({', '.join(parts)})"


def _check_input(layer, spec, index, shape):
    """Raises ValueError naming the layer and the shapes when `shape` does not
    meet `spec` (Keras's assert_input_compatibility)."""
    where = f'Input {index} of layer "{layer.name}" is incompatible with the layer'
    rank = len(shape)
    if spec.ndim is not None and rank != spec.ndim:
        raise ValueError(f"{where}: expected ndim={spec.ndim}, found ndim={rank}. "
                         f"Full shape received: {tuple(shape)}")
    if spec.max_ndim is not None and rank > spec.max_ndim:
        raise ValueError(f"{where}: expected max_ndim={spec.max_ndim}, found ndim={rank}. "
                         f"Full shape received: {tuple(shape)}")
    if spec.min_ndim is not None and rank < spec.min_ndim:
        raise ValueError(f"{where}: expected min_ndim={spec.min_ndim}, found ndim={rank}. "
                         f"Full shape received: {tuple(shape)}")
    for axis, size in spec.axes.items():
        if size is None:
            continue
        if not -rank <= axis < rank:
            raise ValueError(f"{where}: expected axis {axis} of input shape to exist, but "
                             f"received input with shape {tuple(shape)}")
        if shape[axis] is not None and shape[axis] != size:
            raise ValueError(f"{where}: expected axis {axis} of input shape to have value "
                             f"{size}, but received input with shape {tuple(shape)}")
    if spec.shape is not None:
        for want, got in zip(spec.shape, shape, strict=True):
            if want is not None and got is not None and want != got:
                raise ValueError(f"{where}: expected shape={spec.shape}, found "
                                 f"shape={tuple(shape)}")


def _shape_of(x):
    shape = x.shape
    return tuple(shape.as_list()) if isinstance(shape, TensorShape) else tuple(shape)


class Layer(Module):
    """Keras's base layer: a Module that builds its weights on the first call.

    Subclasses create weights in `build(input_shape)` with `add_weight` (or
    in `__init__` when the shapes are known) and compute in `call(inputs,
    ...)`; they are called as `layer(inputs, training=...)`. On the first call
    `build` runs with the input's shape (a TensorShape, or a nested structure
    of them for several inputs) and `built` becomes True.

    Args:
        trainable: False freezes the layer and its sublayers (their weights
            are listed as non-trainable).
        name: the layer's name (default: the class name, snake_case, unique;
            see Note [Layer names]).
        dtype: the dtype of the weights, and of floating-point inputs (which
            are cast to it, Keras's autocast); default float32.
        dynamic: accepted for Keras compatibility (every layer runs eagerly).
        input_shape, batch_input_shape, input_dim: accepted as Keras does,
            for `Sequential` (the shape without the batch dim).
    """

    _autocast = True  # floating inputs are cast to the layer's dtype
    # attributes that are the layer's own bookkeeping, not tracked (subclasses
    # such as Model add theirs)
    _BOOKKEEPING = _LAYER_BOOKKEEPING

    def __init__(self, trainable=True, name=None, dtype=None, dynamic=False, **kwargs):
        allowed = {"input_shape", "batch_input_shape", "batch_size", "input_dim", "weights"}
        unknown = sorted(set(kwargs) - allowed)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {unknown}")
        base = type(self).__dict__.get("_base_name") or camel_to_snake(type(self).__name__)
        super().__init__(name=unique_layer_name(base) if name is None else name)
        self._trainable = bool(trainable)
        self._dtype = _as_dtype("float32" if dtype is None else dtype)
        self.built = False
        self.input_spec = None
        self.supports_masking = False
        self.dynamic = dynamic
        self._own_weights = []  # add_weight order
        self._regularized = []  # (name, regularizer, variable)
        self._call_losses = []
        self._persistent_losses = []
        self._loss_token = None  # the outermost call _call_losses belong to
        self._token = None  # the outermost call of this layer's last call
        self._initial_weights = kwargs.get("weights")
        if "input_shape" in kwargs or "input_dim" in kwargs or "batch_input_shape" in kwargs:
            if "batch_input_shape" in kwargs:
                self._batch_input_shape = tuple(kwargs["batch_input_shape"])
            elif "input_shape" in kwargs:
                self._batch_input_shape = (kwargs.get("batch_size"),) + tuple(
                    kwargs["input_shape"])
            else:
                self._batch_input_shape = (kwargs.get("batch_size"), kwargs["input_dim"])
        try:
            params = inspect.signature(self.call).parameters
        except (TypeError, ValueError):
            params = {}
        self._call_takes_training = "training" in params or any(
            p.kind == p.VAR_KEYWORD for p in params.values())

    # --- properties ------------------------------------------------------------------------

    @property
    def dtype(self):
        """The dtype of the layer's weights."""
        return self._dtype

    @property
    def trainable(self):
        """False when the layer (or a layer above it) was frozen."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        self._trainable = value
        for layer in self._flatten_layers():
            layer._trainable = value

    def _attributes(self):
        # assignment order (Keras's); see Note [Layer tracking]
        skip = self._BOOKKEEPING
        return [(k, v) for k, v in vars(self).items() if k not in skip]

    def _scan(self):
        """(variables, sublayers, plain modules) held by this layer directly
        (add_weight's first, then attributes in assignment order, through
        lists, tuples and dicts), each once: one pass over the attributes."""
        variables = list(self._own_weights)
        seen = {id(v) for v in variables}
        seen.add(id(self))
        sublayers, modules = [], []

        def visit(v):
            t = type(v)
            if t in _ATOMIC:
                return
            if isinstance(v, _core.Variable):
                if id(v) not in seen:
                    seen.add(id(v))
                    variables.append(v)
            elif isinstance(v, Module):
                if id(v) not in seen:
                    seen.add(id(v))
                    (sublayers if isinstance(v, Layer) else modules).append(v)
            elif isinstance(v, (list, tuple)):
                if id(v) not in seen:
                    seen.add(id(v))
                    for x in v:
                        visit(x)
            elif isinstance(v, dict):
                if id(v) not in seen:
                    seen.add(id(v))
                    for _, x in _sorted_items(v):
                        visit(x)

        skip = self._BOOKKEEPING
        for k, v in vars(self).items():
            if k not in skip:
                visit(v)
        return variables, sublayers, modules

    def _trackable_children(self):
        """The weights of add_weight by weight name ('kernel'), then the
        attributes (Note [Object graph] in fasttape/train/checkpoint.py)."""
        out = {}
        prefix = self.name + "/"
        for v in self._own_weights:
            name = v.name.rsplit(":", 1)[0]
            out.setdefault(name[len(prefix):] if name.startswith(prefix) else name, v)
        for k, v in self._attributes():
            out.setdefault(k, v)
        return out

    def _own_variables(self):
        """This layer's variables: add_weight's, then those assigned as
        attributes (directly or in containers), each once."""
        return self._scan()[0]

    def _flatten_layers(self, include_self=False):
        """Every sublayer, recursively (depth first, the weights' order), each once."""
        out, visited = [], {id(self)}

        def walk(layer):
            for sub in layer._scan()[1]:
                if id(sub) not in visited:
                    visited.add(id(sub))
                    out.append(sub)
                    walk(sub)

        walk(self)
        return ([self] if include_self else []) + out

    def _direct_sublayers(self):
        return self._scan()[1]

    def _collect(self, trainable):
        out, seen = [], set()

        def add(vs, frozen):
            for v in vs:
                keep = (not frozen and v.trainable) if trainable else (frozen or not v.trainable)
                if keep and id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)

        def walk(layer, frozen):
            frozen = frozen or not layer._trainable
            own, sublayers, modules = layer._scan()
            add(own, frozen)
            for sub in sublayers:
                if id(sub) not in visited:
                    visited.add(id(sub))
                    walk(sub, frozen)
            # plain Modules holding variables below this layer
            for m in modules:
                if id(m) not in visited:
                    visited.add(id(m))
                    add(m.variables, frozen)

        visited = {id(self)}
        walk(self, False)
        return out

    @property
    def trainable_weights(self):
        """The weights a training step updates; see Note [Layer tracking]."""
        return self._collect(True)

    @property
    def non_trainable_weights(self):
        """The other weights (moving statistics, frozen layers')."""
        return self._collect(False)

    @property
    def weights(self):
        """trainable_weights + non_trainable_weights."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def variables(self):
        return self.weights

    @property
    def trainable_variables(self):
        return self.trainable_weights

    @property
    def non_trainable_variables(self):
        return self.non_trainable_weights

    @property
    def layers(self):
        """The direct sublayers, in assignment order."""
        return self._direct_sublayers()

    # --- weights ---------------------------------------------------------------------------

    def add_weight(self, name=None, shape=None, dtype=None, initializer=None, regularizer=None,
                   trainable=True, constraint=None, **kwargs):
        """A new variable of this layer, named 'layer/name', drawn from
        `initializer` (a Keras name, an Initializer or a callable; default
        "glorot_uniform" for floats, "zeros" otherwise); `regularizer` adds its
        penalty to `losses`. Keras's `synchronization`, `aggregation` and
        `use_resource` are accepted and ignored."""
        if constraint is not None:
            raise NotImplementedError(f"layer {self.name}: weight constraints are not supported")
        shape = () if shape is None else tuple(int(d) for d in shape)
        dtype = self._dtype if dtype is None else _as_dtype(dtype)
        if initializer is None:
            initializer = "glorot_uniform" if np.dtype(dtype).kind == "f" else "zeros"
        init = _initializers.get(initializer)
        # drawn eagerly on a traced function's first call (Note [Variables
        # while tracing] in fasttape/function.py); in a plain graph, staged
        with _init_scope():
            value = init(shape, dtype=dtype)
            if not _core.is_symbolic(value) and value.dtype != np.dtype(dtype):
                value = _cast(value, dtype)
        if _core.is_symbolic(value):
            raise TypeError(
                f'layer "{self.name}": cannot create weight {name!r} inside a graph (its '
                "initializer gave a symbolic tensor); build layers outside graphs: call the "
                "layer once eagerly, or call build(input_shape), first")
        value = _cast(value, dtype) if value.dtype != np.dtype(dtype) else value
        if tuple(value.shape) != shape:
            raise ValueError(f"layer {self.name}: the initializer of weight {name!r} returned "
                             f"shape {tuple(value.shape)}, expected {shape}")
        var = _core.Variable(value, trainable=bool(trainable),
                             name=f"{self.name}/{name or 'Variable'}")
        self._own_weights.append(var)
        reg = _regularizers.get(regularizer)
        if reg is not None:
            self._regularized.append((name, reg, var))
        _created(self)  # Note [Deferred restoration] in fasttape/train/checkpoint.py
        return var

    def get_weights(self):
        """The weights' values as NumPy arrays (copies), in `weights` order."""
        return [np.array(v.numpy()) for v in self.weights]

    def set_weights(self, weights):
        """Sets the weights from arrays, in `weights` order; the count and
        each shape must match."""
        params = self.weights
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(
                f'layer "{self.name}": set_weights got {len(weights)} arrays but the layer has '
                f"{len(params)} weights ({[v.name for v in params]})")
        for v, w in zip(params, weights, strict=True):
            w = np.asarray(w)
            if tuple(w.shape) != tuple(v.shape):
                raise ValueError(
                    f'layer "{self.name}": weight {v.name} has shape {tuple(v.shape)}, but '
                    f"set_weights got an array of shape {tuple(w.shape)}")
            v.assign(w.astype(v.dtype))

    def count_params(self):
        """The number of scalars in the weights (the layer must be built)."""
        if not self.built:
            raise ValueError(f'layer "{self.name}" is not built yet: call it on an input (or '
                             "call build(input_shape)) before counting its parameters")
        return int(sum(int(np.prod(v.shape)) for v in self.weights))

    # --- losses ----------------------------------------------------------------------------

    def add_loss(self, loss):
        """Adds a loss: a scalar tensor or a zero-argument callable (evaluated
        at each read of `losses`). Added inside `call`, it belongs to that
        call and is dropped at the next outermost call; added outside any
        call, it stays. See Note [Call losses]."""
        stack = _context_stack()
        if not stack:
            self._persistent_losses.append(loss)
            return
        token = stack[-1][1]
        if self._loss_token is not token:
            self._call_losses = []
            self._loss_token = token
        self._call_losses.append(loss)

    @property
    def losses(self):
        """The regularization penalties of this layer and its sublayers,
        computed now (so a tape records them), and the losses given to
        `add_loss` outside calls or during this layer's last call."""
        return self._losses_of(self._flatten_layers(include_self=True))

    def _losses_of(self, layers):
        """`losses` over `layers` (this layer and its sublayers, walked
        before: Model.fit walks them once per epoch)."""
        out = []
        for layer in layers:
            pending = list(layer._persistent_losses)
            if layer._loss_token is not None and layer._loss_token is self._token:
                pending += layer._call_losses
            for loss in pending:
                out.append(loss() if callable(loss) and not isinstance(loss, _core.Tensor)
                           else loss)
            for _, reg, var in layer._regularized:
                out.append(reg(var))
        return out

    # --- calling ---------------------------------------------------------------------------

    def build(self, input_shape):
        """Creates the weights from the input's shape; the default only marks
        the layer built."""
        self.built = True

    def call(self, inputs, *args, **kwargs):
        """The computation (subclasses define it)."""
        return inputs

    def compute_output_shape(self, input_shape):
        raise NotImplementedError(
            f"layer {self.name}: compute_output_shape is not defined for {type(self).__name__}")

    def _maybe_build(self, inputs):
        if self.built:
            return
        shapes = _nest.pack_sequence_as(
            inputs, [TensorShape(_shape_of(x)) for x in _nest.flatten(inputs)])
        if self.input_spec is not None:
            self._check_input_spec(inputs)
        with self.name_scope:
            self.build(shapes)
        self.built = True
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None
        _created(self)  # Note [Deferred restoration] in fasttape/train/checkpoint.py

    def _check_input_spec(self, inputs):
        specs = self.input_spec
        if specs is None:
            return
        if isinstance(specs, InputSpec) and isinstance(inputs, _core.Tensor):
            _check_input(self, specs, 0, _shape_of(inputs))
            return
        flat = _nest.flatten(inputs)
        specs = _nest.flatten(specs) if isinstance(specs, (list, tuple)) else [specs]
        if len(specs) != len(flat) and len(specs) != 1:
            raise ValueError(f'layer "{self.name}" expects {len(specs)} input(s), but it '
                             f"received {len(flat)} input tensors")
        for i, x in enumerate(flat):
            _check_input(self, specs[i if len(specs) > 1 else 0], i, _shape_of(x))

    def _convert(self, inputs):
        def conv(x):
            if isinstance(x, _core.Tensor):
                t = x
            elif isinstance(x, (np.ndarray, np.generic, float, int)):
                t = _core.convert_to_tensor(x)
            else:
                return x
            if self._autocast and t.dtype.kind == "f" and t.dtype != self._dtype and np.dtype(
                    self._dtype).kind == "f":
                t = _cast(t, self._dtype)  # Keras's autocast of floating inputs
            return t

        if isinstance(inputs, (list, tuple)) and all(
                isinstance(x, (int, float, bool, np.generic)) for x in _nest.flatten(inputs)):
            return conv(np.asarray(inputs))  # a nested list of numbers: one array
        return _nest.pack_sequence_as(inputs, [conv(x) for x in _nest.flatten(inputs)])

    def __call__(self, inputs, *args, **kwargs):
        """Builds the layer on the first call, checks the input against
        `input_spec`, runs `call` (in the layer's name scope when building a
        graph). `training` (keyword) is passed to `call` when it takes it;
        when None it is the enclosing layer call's value, else False."""
        if (not isinstance(inputs, _core.Tensor)
                or (inputs.dtype != self._dtype and self._autocast)):
            inputs = self._convert(inputs)
        stack = _context_stack()
        training = kwargs.pop("training", None)
        if training is None:
            training = stack[-1][0] if stack else False
        elif isinstance(training, _core.Tensor):
            training = bool(training.numpy())
        else:
            training = bool(training)
        # Note [Call losses]: a token per outermost call
        token = stack[-1][1] if stack else object()
        self._token = token
        if not self.built:
            self._maybe_build(inputs)
        if self.input_spec is not None:
            self._check_input_spec(inputs)
        if self._call_takes_training:
            kwargs["training"] = training
        stack.append((training, token))
        try:
            if _core.staging():
                with self.name_scope:
                    return self.call(inputs, *args, **kwargs)
            return self.call(inputs, *args, **kwargs)
        finally:
            stack.pop()

    def get_config(self):
        """The constructor arguments of the base layer (subclasses add theirs)."""
        return {"name": self.name, "trainable": self.trainable, "dtype": np.dtype(
            self._dtype).name}

    @classmethod
    def from_config(cls, config):
        """A new layer from `get_config()`'s dict (Keras's)."""
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def sum_losses(losses):
    """The sum of a list of scalar losses (0.0 for none)."""
    total = None
    for loss in losses:
        total = _reduce_sum(loss) if total is None else total + _reduce_sum(loss)
    return 0.0 if total is None else total
