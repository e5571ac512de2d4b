"""Conv1D, Conv2D, Conv2DTranspose, MaxPool2D, AveragePool2D, GlobalAveragePooling2D
(channels_last only)."""

from fasttape import activations as _activations
from fasttape import initializers as _initializers
from fasttape import regularizers as _regularizers
from fasttape.layers.base import InputSpec, Layer
from fasttape.layers.core import _channels_last, _last_dim, _positive_int
from fasttape.ops import array_ops as _array
from fasttape.ops import math_ops as _math
from fasttape.ops import nn_ops as _nn


def _tuple(layer_cls, name, value, n):
    """An int or n ints -> a tuple of n positive ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * n
    try:
        value = tuple(value)
    except TypeError:
        raise ValueError(f"{layer_cls}: {name} must be an int or {n} ints, "
                         f"got {value!r}") from None
    if len(value) != n or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                  for v in value):
        raise ValueError(f"{layer_cls}: {name} must be an int or {n} positive ints, "
                         f"got {value!r}")
    return value


def _padding(layer_cls, padding, allowed=("valid", "same")):
    p = padding.lower() if isinstance(padding, str) else padding
    if p not in allowed:
        raise ValueError(f"{layer_cls}: padding must be one of {allowed}, got {padding!r}")
    return p


def _conv_length(length, k, padding, stride, dilation):
    if length is None:
        return None
    k = (k - 1) * dilation + 1
    if padding == "same" or padding == "causal":
        out = length
    else:
        out = length - k + 1
    return (out + stride - 1) // stride


class _Conv(Layer):
    rank = 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        n = self.rank
        self.filters = _positive_int(cls, "filters", filters)
        self.kernel_size = _tuple(cls, "kernel_size", kernel_size, n)
        self.strides = _tuple(cls, "strides", strides, n)
        self.padding = _padding(cls, padding, ("valid", "same", "causal") if n == 1
                                else ("valid", "same"))
        self.data_format = _channels_last(cls, data_format)
        self.dilation_rate = _tuple(cls, "dilation_rate", dilation_rate, n)
        if groups != 1:
            raise ValueError(f"{cls}: groups={groups} is not supported (only 1)")
        self.groups = 1
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{cls}: strides > 1 together with dilation_rate > 1 is not "
                             f"supported (Keras's rule), got strides={self.strides}, "
                             f"dilation_rate={self.dilation_rate}")
        self.activation = _activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.activity_regularizer = _regularizers.get(activity_regularizer)
        self.kernel_constraint, self.bias_constraint = kernel_constraint, bias_constraint
        self.input_spec = InputSpec(ndim=n + 2)

    def _kernel_shape(self, in_channels):
        return self.kernel_size + (in_channels, self.filters)

    def build(self, input_shape):
        channels = _last_dim(self, input_shape, "the channel dimension of the input")
        self.kernel = self.add_weight("kernel", self._kernel_shape(channels),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = (self.add_weight("bias", (self.filters,), initializer=self.bias_initializer,
                                     regularizer=self.bias_regularizer,
                                     constraint=self.bias_constraint)
                     if self.use_bias else None)
        self.input_spec = InputSpec(ndim=self.rank + 2, axes={-1: channels})
        self.built = True

    def _finish(self, y):
        if self.use_bias:
            y = _nn.bias_add(y, self.bias)
        y = self.activation(y)
        if self.activity_regularizer is not None:
            self.add_loss(self.activity_regularizer(y) / y.shape[0])
        return y

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "dilation_rate": self.dilation_rate,
                "activation": _activations.serialize(self.activation), "use_bias": self.use_bias}


class Conv1D(_Conv):
    """1-D convolution over (batch, steps, channels) with a (kernel_size,
    in_channels, filters) kernel; padding "valid", "same" or "causal".

    >>> import fasttape as ft
    >>> ft.layers.Conv1D(4, 3)(ft.ones((2, 10, 5))).shape
    (2, 8, 4)
    """

    rank = 1

    def call(self, inputs):
        padding = self.padding
        if padding == "causal":
            left = (self.kernel_size[0] - 1) * self.dilation_rate[0]
            inputs = _array.pad(inputs, [[0, 0], [left, 0], [0, 0]])
            padding = "valid"
        y = _nn.conv1d(inputs, self.kernel, self.strides[0], padding.upper(),
                       dilations=self.dilation_rate[0])
        return self._finish(y)

    def compute_output_shape(self, input_shape):
        b, n, _ = tuple(input_shape)
        return (b, _conv_length(n, self.kernel_size[0], self.padding, self.strides[0],
                                self.dilation_rate[0]), self.filters)


class Conv2D(_Conv):
    """2-D convolution over (batch, height, width, channels) with a
    (kh, kw, in_channels, filters) kernel.

    >>> import fasttape as ft
    >>> ft.layers.Conv2D(8, 3, padding="same", activation="relu")(ft.ones((2, 6, 6, 3))).shape
    (2, 6, 6, 8)
    """

    rank = 2

    def call(self, inputs):
        y = _nn.conv2d(inputs, self.kernel, list(self.strides), self.padding.upper(),
                       dilations=list(self.dilation_rate))
        return self._finish(y)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = tuple(input_shape)
        return (b,) + tuple(_conv_length(n, k, self.padding, s, d) for n, k, s, d in zip(
            (h, w), self.kernel_size, self.strides, self.dilation_rate, strict=True)) + (
            self.filters,)


def _deconv_length(length, k, padding, output_padding, stride, dilation):
    """Keras's deconv_output_length."""
    k = (k - 1) * dilation + 1
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(k - stride, 0)
        return length * stride
    pad = k // 2 if padding == "same" else 0
    return (length - 1) * stride + k - 2 * pad + output_padding


class Conv2DTranspose(_Conv):
    """The transpose of Conv2D (a "deconvolution"): the kernel is (kh, kw,
    filters, in_channels), Keras's layout; the output size is Keras's
    (`output_padding` adds rows/columns at the end).

    >>> import fasttape as ft
    >>> ft.layers.Conv2DTranspose(4, 3, strides=2, padding="same")(ft.ones((1, 5, 5, 2))).shape
    (1, 10, 10, 4)
    """

    rank = 2

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding,
                         data_format=data_format, dilation_rate=dilation_rate, **kwargs)
        if output_padding is not None:
            if isinstance(output_padding, int):
                output_padding = (output_padding,) * 2
            output_padding = tuple(output_padding)
            if len(output_padding) != 2 or not all(
                    isinstance(p, int) and p >= 0 for p in output_padding):
                raise ValueError(f"Conv2DTranspose: output_padding must be an int or 2 "
                                 f"non-negative ints, got {output_padding!r}")
            for p, s in zip(output_padding, self.strides, strict=True):
                if p >= s:
                    raise ValueError(f"Conv2DTranspose: output_padding {output_padding} must be "
                                     f"smaller than strides {self.strides}")
        self.output_padding = output_padding

    def _kernel_shape(self, in_channels):
        return self.kernel_size + (self.filters, in_channels)

    def _out_hw(self, h, w):
        ops = self.output_padding or (None, None)
        return tuple(_deconv_length(n, k, self.padding, p, s, d) for n, k, p, s, d in zip(
            (h, w), self.kernel_size, ops, self.strides, self.dilation_rate, strict=True))

    def call(self, inputs):
        b, h, w, _ = inputs.shape
        oh, ow = self._out_hw(h, w)
        y = _nn.conv2d_transpose(inputs, self.kernel, (b, oh, ow, self.filters),
                                 list(self.strides), self.padding.upper(),
                                 dilations=list(self.dilation_rate))
        return self._finish(y)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = tuple(input_shape)
        return (b,) + self._out_hw(h, w) + (self.filters,)


class _Pool2D(Layer):
    _op = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.pool_size = _tuple(cls, "pool_size", pool_size, 2)
        self.strides = self.pool_size if strides is None else _tuple(cls, "strides", strides, 2)
        self.padding = _padding(cls, padding)
        self.data_format = _channels_last(cls, data_format)
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        return type(self)._op(inputs, list(self.pool_size), list(self.strides),
                              self.padding.upper())

    def compute_output_shape(self, input_shape):
        b, h, w, c = tuple(input_shape)
        return (b,) + tuple(_conv_length(n, k, self.padding, s, 1) for n, k, s in zip(
            (h, w), self.pool_size, self.strides, strict=True)) + (c,)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


class MaxPool2D(_Pool2D):
    """Max over (pool_size) windows of (batch, height, width, channels);
    `strides` default to `pool_size`.

    >>> import fasttape as ft
    >>> ft.layers.MaxPool2D()(ft.ones((1, 4, 4, 3))).shape
    (1, 2, 2, 3)
    """

    _op = staticmethod(_nn.max_pool2d)
    _base_name = "max_pooling2d"  # Keras's class is MaxPooling2D


class AveragePool2D(_Pool2D):
    """The mean over (pool_size) windows (with "same" padding, of the values
    inside the input only, as Keras).

    >>> import fasttape as ft
    >>> ft.layers.AveragePool2D(3, strides=1, padding="same")(ft.ones((1, 4, 4, 1))).shape
    (1, 4, 4, 1)
    """

    _op = staticmethod(_nn.avg_pool2d)
    _base_name = "average_pooling2d"


class GlobalAveragePooling2D(Layer):
    """The mean over height and width: (batch, h, w, c) -> (batch, c), or
    (batch, 1, 1, c) with `keepdims=True`.

    >>> import fasttape as ft
    >>> ft.layers.GlobalAveragePooling2D()(ft.ones((2, 4, 4, 3))).shape
    (2, 3)
    """

    _base_name = "global_average_pooling2d"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _channels_last("GlobalAveragePooling2D", data_format)
        self.keepdims = bool(keepdims)
        self.input_spec = InputSpec(ndim=4)

    def call(self, inputs):
        return _math.reduce_mean(inputs, axis=[1, 2], keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        b, _, _, c = tuple(input_shape)
        return (b, 1, 1, c) if self.keepdims else (b, c)


# Keras's other names
Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution2DTranspose = Conv2DTranspose
MaxPooling2D = MaxPool2D
AvgPool2D = AveragePool2D
AveragePooling2D = AveragePool2D
GlobalAvgPool2D = GlobalAveragePooling2D
