"""Recurrent layers: RNN over a cell, SimpleRNN, LSTM, GRU (and their cells)."""

from fasttape import activations as _activations
from fasttape import initializers as _initializers
from fasttape import regularizers as _regularizers
from fasttape.layers.base import InputSpec, Layer
from fasttape.layers.core import _last_dim, _positive_int
from fasttape.ops import array_ops as _array
from fasttape.ops import linalg_ops as _la
from fasttape.ops import nn_ops as _nn

# Note [Recurrent layers]
# ~~~~~~~~~~~~~~~~~~~~~~~
# Keras's layout and gate order, so weights copy over from Keras unchanged:
# SimpleRNN h = act(x W + h U + b); LSTM gates [i, f, c, o] in the columns of
# kernel (input_dim, 4 units), recurrent_kernel (units, 4 units) and bias
# (4 units; unit_forget_bias starts the f part at 1); GRU gates [z, r, h] with
# reset_after=True (the default, cuDNN's and PyTorch's form) taking a (2, 3
# units) bias [input bias; recurrent bias] and applying r after the recurrent
# matmul. PyTorch's LSTM has the same gate order (weight_ih = kernel.T); its GRU
# orders [r, z, n] (tests/layers/test_recurrent.py maps them).
# A step is x_t W (+ the input bias) plus h U, then elementwise ops; the loop
# is a Python loop over the time steps (unstack/stack): every step is on the
# tape, gradients of any order. The input is unstacked, not its projection
# x W over the whole sequence: unstack's gradient zero-pads each piece to the
# full size (O(time^2)), and the inputs (features wide, often constants) are
# cheaper to unstack than the projections (k units wide, always recorded):
# an LSTM(64) step on (32, 20, 16) with its backward went from 6.8 to 4.8 ms.
# `dropout` and `recurrent_dropout` draw one mask per call (per sequence), as
# Keras, applied to the inputs and to the state fed to the recurrent matmul.


class _Cell(Layer):
    """The shared parts of the cells: weights from initializer names,
    regularizers, dropout masks."""

    _gates = 1

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.units = _positive_int(cls, "units", units)
        self.activation = _activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.recurrent_initializer = _initializers.get(recurrent_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = _regularizers.get(recurrent_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.kernel_constraint = kernel_constraint
        self.recurrent_constraint = recurrent_constraint
        self.bias_constraint = bias_constraint
        for n, v in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= float(v) < 1.0:
                raise ValueError(f"{cls}: {n} must be in [0, 1), got {v}")
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self._masks = (None, None)

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_initializer(self):
        return self.bias_initializer

    def build(self, input_shape):
        last = _last_dim(self, input_shape)
        k = self._gates * self.units
        self.kernel = self.add_weight("kernel", (last, k), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (self.units, k), initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint)
        self.bias = (self.add_weight("bias", self._bias_shape(),
                                     initializer=self._bias_initializer(),
                                     regularizer=self.bias_regularizer,
                                     constraint=self.bias_constraint)
                     if self.use_bias else None)
        self.built = True

    def _set_masks(self, inputs, state, training):
        """One dropout mask for the inputs and one for the recurrent state (a
        sequence's), or None; see Note [Recurrent layers]."""
        def mask(like, rate):
            if not training or rate == 0.0:
                return None
            return _nn.dropout(_array.ones_like(like), rate)

        self._masks = (mask(inputs, self.dropout), mask(state, self.recurrent_dropout))

    def _input_bias(self):
        return self.bias

    def project(self, inputs):
        """x W (+ the input bias) for inputs (..., input_dim), the input mask applied."""
        mask = self._masks[0]
        if mask is not None:
            inputs = inputs * (mask if len(inputs.shape) == 2 else _array.expand_dims(mask, 1))
        if len(inputs.shape) == 2:
            y = _la.matmul(inputs, self.kernel)
        else:
            y = _la.tensordot(inputs, self.kernel, [[len(inputs.shape) - 1], [0]])
        b = self._input_bias()
        return y if b is None else y + b

    def _recurrent_input(self, h):
        mask = self._masks[1]
        return h if mask is None else h * mask

    def call(self, inputs, states, training=None):
        """One step: (output, new_states) for inputs (batch, input_dim) and the
        states (a list, as Keras's cells take)."""
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        self._set_masks(inputs, states[0], training)
        try:
            return self.step(self.project(inputs), states)
        finally:
            self._masks = (None, None)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": _activations.serialize(self.activation), "use_bias": self.use_bias,
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout}


class SimpleRNNCell(_Cell):
    """h = activation(x kernel + h recurrent_kernel + bias)."""

    def step(self, xw, states):
        h = states[0]
        y = self.activation(xw + _la.matmul(self._recurrent_input(h), self.recurrent_kernel))
        return y, [y]


class LSTMCell(_Cell):
    """Keras's LSTM step, gates [i, f, c, o]; see Note [Recurrent layers]."""

    _gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 unit_forget_bias=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = _activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self):
        return [self.units, self.units]

    def _bias_initializer(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, u = self.bias_initializer, self.units

        def forget_ones(shape, dtype=None):
            return _array.concat([init((u,), dtype), _array.ones((u,), dtype=dtype),
                                  init((2 * u,), dtype)], axis=0)

        return forget_ones

    def step(self, xw, states):
        h, c = states
        z = xw + _la.matmul(self._recurrent_input(h), self.recurrent_kernel)
        zi, zf, zc, zo = _array.split(z, 4, axis=-1)
        i = self.recurrent_activation(zi)
        f = self.recurrent_activation(zf)
        c = f * c + i * self.activation(zc)
        o = self.recurrent_activation(zo)
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": _activations.serialize(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}


class GRUCell(_Cell):
    """Keras's GRU step, gates [z, r, h]; see Note [Recurrent layers]."""

    _gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 reset_after=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = _activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_bias(self):
        if self.bias is None:
            return None
        return self.bias[0] if self.reset_after else self.bias

    def step(self, xw, states):
        h = states[0]
        u = self.units
        x_z, x_r, x_h = _array.split(xw, 3, axis=-1)
        hr = self._recurrent_input(h)
        if self.reset_after:
            inner = _la.matmul(hr, self.recurrent_kernel)
            if self.bias is not None:
                inner = inner + self.bias[1]
            r_z, r_r, r_h = _array.split(inner, 3, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            hh = self.activation(x_h + r * r_h)
        else:
            inner = _la.matmul(hr, self.recurrent_kernel[:, :2 * u])
            r_z, r_r = _array.split(inner, 2, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            hh = self.activation(x_h + _la.matmul(r * hr, self.recurrent_kernel[:, 2 * u:]))
        h = z * h + (1.0 - z) * hh
        return h, [h]

    def get_config(self):
        return {**super().get_config(),
                "recurrent_activation": _activations.serialize(self.recurrent_activation),
                "reset_after": self.reset_after}


class RNN(Layer):
    """Runs a cell over the time axis of (batch, time, features) inputs.

    Returns the last output (batch, units), or every output (batch, time,
    units) with `return_sequences`; with `return_state`, a list [output,
    *final_states]. `initial_state` (a tensor or a list, call argument)
    replaces the zero state; `go_backwards` reads the sequence from the end.
    `stateful` and `unroll` are accepted as False only (every loop is unrolled
    in Python here).
    """

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, time_major=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(cell, _Cell):
            raise TypeError(f"RNN: cell must be a SimpleRNNCell, LSTMCell or GRUCell, "
                            f"got {type(cell).__name__}")
        if stateful:
            raise ValueError(f"{type(self).__name__}: stateful=True is not supported")
        if time_major:
            raise ValueError(f"{type(self).__name__}: time_major=True is not supported; "
                             "transpose the input to (batch, time, features)")
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful, self.unroll = False, bool(unroll)
        self.input_spec = InputSpec(ndim=3)

    def build(self, input_shape):
        last = _last_dim(self, input_shape)
        if not self.cell.built:
            with self.cell.name_scope:
                self.cell.build(input_shape[:1] + input_shape[2:])
            self.cell.built = True
        self.input_spec = InputSpec(ndim=3, axes={-1: last})
        self.built = True

    def _initial_states(self, inputs, initial_state):
        sizes = self.cell.state_size
        sizes = list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]
        batch = inputs.shape[0]
        if initial_state is None:
            if batch is None:  # a trace for any batch: zeros shaped like the input's batch
                col = _array.zeros_like(inputs[:, 0, :1])
                return [col + _array.zeros((s,), dtype=inputs.dtype) for s in sizes]
            return [_array.zeros((batch, s), dtype=inputs.dtype) for s in sizes]
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [
            initial_state]
        if len(states) != len(sizes):
            raise ValueError(f'layer "{self.name}" expects {len(sizes)} initial state(s), got '
                             f"{len(states)}")
        out = []
        for i, (s, size) in enumerate(zip(states, sizes, strict=True)):
            s = self._convert(s)
            if tuple(s.shape) != (batch, size):
                raise ValueError(f'layer "{self.name}": initial state {i} must have shape '
                                 f"{(batch, size)}, got {tuple(s.shape)}")
            out.append(s)
        return out

    def call(self, inputs, initial_state=None, training=None, mask=None):
        if mask is not None:
            raise ValueError(f'layer "{self.name}": masks are not supported')
        if inputs.shape[1] == 0:
            raise ValueError(f'layer "{self.name}": the input has no time steps (shape '
                             f"{tuple(inputs.shape)})")
        cell = self.cell
        states = self._initial_states(inputs, initial_state)
        cell._set_masks(inputs[:, 0], states[0], training)
        try:
            steps = _array.unstack(inputs, axis=1)
            if self.go_backwards:
                steps = steps[::-1]
            outputs = []
            for x in steps:
                y, states = cell.step(cell.project(x), states)
                if self.return_sequences:
                    outputs.append(y)
        finally:
            cell._masks = (None, None)
        out = _array.stack(outputs, axis=1) if self.return_sequences else y
        if self.return_state:
            return [out] + list(states)
        return out

    def compute_output_shape(self, input_shape):
        b, t = tuple(input_shape)[:2]
        units = self.cell.units
        out = (b, t, units) if self.return_sequences else (b, units)
        if not self.return_state:
            return out
        sizes = self.cell.state_size
        sizes = list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]
        return [out] + [(b, s) for s in sizes]

    def get_config(self):
        return {**super().get_config(), "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards}


def _split_kwargs(kwargs):
    """The RNN layer's own arguments out of a layer's keyword arguments."""
    rnn_keys = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                "time_major", "trainable", "name", "dtype", "dynamic", "input_shape",
                "batch_input_shape", "batch_size", "input_dim", "weights")
    rnn = {k: kwargs.pop(k) for k in rnn_keys if k in kwargs}
    return rnn, kwargs


class _Wrapped(RNN):
    _cell_cls = None

    def __init__(self, units, **kwargs):
        rnn_kw, cell_kw = _split_kwargs(dict(kwargs))
        self.activity_regularizer = _regularizers.get(cell_kw.pop("activity_regularizer", None))
        if "dtype" in rnn_kw:
            cell_kw["dtype"] = rnn_kw["dtype"]
        cell = type(self)._cell_cls(units, **cell_kw)
        super().__init__(cell, **rnn_kw)

    def __getattr__(self, name):
        # Keras exposes the cell's arguments on the layer (layer.units, ...)
        cell = self.__dict__.get("cell")
        if name.startswith("_") or cell is None:
            return super().__getattr__(name)
        return getattr(cell, name)

    def get_config(self):
        cell = {k: v for k, v in self.cell.get_config().items()
                if k not in ("name", "trainable", "dtype")}
        return {**super().get_config(), **cell}

    def call(self, inputs, initial_state=None, training=None, mask=None):
        out = super().call(inputs, initial_state=initial_state, training=training, mask=mask)
        if self.activity_regularizer is not None:
            first = out[0] if self.return_state else out
            self.add_loss(self.activity_regularizer(first) / first.shape[0])
        return out


class SimpleRNN(_Wrapped):
    """A fully connected recurrence, h = activation(x W + h U + b) (Keras's
    SimpleRNN; `activation` "tanh", `recurrent_initializer` "orthogonal").

    >>> import fasttape as ft
    >>> ft.layers.SimpleRNN(4, return_sequences=True)(ft.ones((2, 5, 3))).shape
    (2, 5, 4)
    """

    _cell_cls = SimpleRNNCell


class LSTM(_Wrapped):
    """Long short-term memory (Keras's LSTM: gates [i, f, c, o],
    `unit_forget_bias`, `recurrent_activation` "sigmoid"); see Note
    [Recurrent layers].

    >>> import fasttape as ft
    >>> out, h, c = ft.layers.LSTM(4, return_state=True)(ft.ones((2, 5, 3)))
    >>> out.shape, c.shape
    ((2, 4), (2, 4))
    """

    _cell_cls = LSTMCell


class GRU(_Wrapped):
    """Gated recurrent unit (Keras's GRU, `reset_after=True` by default);
    see Note [Recurrent layers].

    >>> import fasttape as ft
    >>> ft.layers.GRU(4)(ft.ones((2, 5, 3))).shape
    (2, 4)
    """

    _cell_cls = GRUCell
