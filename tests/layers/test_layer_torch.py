"""Conv1D, Conv2D, Conv2DTranspose, SimpleRNN, LSTM and GRU against PyTorch
with the weights copied over (skipped without torch), outputs and gradients."""

import numpy as np
import pytest

import fasttape as ft
from fasttape import layers

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape)


def t64(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


def compare(ft_layer, torch_fn, x, ft_to_torch, grads_to_torch=None):
    """Builds ft_layer, copies its weights to torch through ft_to_torch, then
    compares outputs and the gradients of sum(out * u) for the input and weights
    (fasttape's mapped by grads_to_torch, default ft_to_torch)."""
    ft_layer(x)
    ws = ft_layer.trainable_weights
    tw = [t64(a) for a in ft_to_torch([v.numpy() for v in ws])]
    tx = t64(x)
    tout = torch_fn(tx, *tw)
    u = rand(*tout.shape)
    (tout * torch.tensor(u)).sum().backward()
    xf = ft.constant(x)
    with ft.GradientTape() as tape:
        tape.watch(xf)
        out = ft_layer(xf)
        loss = ft.reduce_sum(out * u)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-9, atol=1e-11)
    grads = tape.gradient(loss, [xf] + list(ws))
    np.testing.assert_allclose(grads[0].numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-11)
    # weights' gradients, mapped to torch's layout the same way
    got = (grads_to_torch or ft_to_torch)([g.numpy() for g in grads[1:]])
    for g, w in zip(got, tw, strict=True):
        np.testing.assert_allclose(g, w.grad.numpy(), rtol=1e-9, atol=1e-11)


F = torch.nn.functional


@pytest.mark.parametrize("strides,padding,dilation", [(1, "valid", 1), (2, "valid", 1),
                                                      (1, "same", 1), (1, "valid", 2)])
def test_conv1d(strides, padding, dilation):
    layer = layers.Conv1D(4, 3, strides=strides, padding=padding, dilation_rate=dilation,
                          dtype="float64")

    def fn(x, w, b):
        y = F.conv1d(x.permute(0, 2, 1), w, b, stride=strides, padding=padding,
                     dilation=dilation)
        return y.permute(0, 2, 1)

    compare(layer, fn, rand(2, 9, 3), lambda ws: [ws[0].transpose(2, 1, 0), ws[1]])


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("strides,padding,dilation", [((1, 1), "valid", 1), ((2, 2), "valid", 1),
                                                      ((1, 1), "same", 1), ((1, 1), "valid", 2),
                                                      ((2, 1), "valid", 1)])
def test_conv2d(strides, padding, dilation):
    layer = layers.Conv2D(4, (3, 2), strides=strides, padding=padding, dilation_rate=dilation,
                          dtype="float64")

    def fn(x, w, b):
        y = F.conv2d(x.permute(0, 3, 1, 2), w, b, stride=strides, padding=padding,
                     dilation=dilation)
        return y.permute(0, 2, 3, 1)

    compare(layer, fn, rand(2, 7, 6, 3), lambda ws: [ws[0].transpose(3, 2, 0, 1), ws[1]])


@pytest.mark.parametrize("strides,output_padding", [((1, 1), None), ((2, 2), None),
                                                    ((2, 3), None), ((2, 2), (1, 1))])
def test_conv2d_transpose_valid(strides, output_padding):
    layer = layers.Conv2DTranspose(4, (3, 3), strides=strides, padding="valid",
                                   output_padding=output_padding, dtype="float64")

    def fn(x, w, b):
        y = F.conv_transpose2d(x.permute(0, 3, 1, 2), w, b, stride=strides,
                               output_padding=output_padding or 0)
        return y.permute(0, 2, 3, 1)

    # Keras (kh, kw, out, in) -> torch (in, out, kh, kw)
    compare(layer, fn, rand(2, 4, 3, 3), lambda ws: [ws[0].transpose(3, 2, 0, 1), ws[1]])


def _rnn_fn(module):
    def fn(x, *params):
        out, _ = torch.func.functional_call(
            module, dict(zip([n for n, _ in module.named_parameters()], params, strict=True)),
            (x,))
        return out

    return fn


def test_simple_rnn():
    layer = layers.SimpleRNN(4, return_sequences=True, dtype="float64")
    m = torch.nn.RNN(3, 4, batch_first=True, dtype=torch.float64)
    # torch: weight_ih (4, 3), weight_hh, bias_ih, bias_hh; Keras's one bias as
    # bias_ih (bias_hh = 0), so both biases' gradients are Keras's bias gradient
    compare(layer, _rnn_fn(m), rand(2, 5, 3), lambda ws: [ws[0].T, ws[1].T, ws[2], ws[2] * 0],
            lambda gs: [gs[0].T, gs[1].T, gs[2], gs[2]])


def test_lstm():
    layer = layers.LSTM(4, return_sequences=True, dtype="float64")
    m = torch.nn.LSTM(3, 4, batch_first=True, dtype=torch.float64)
    # the same gate order [i, f, g, o]; Keras's one bias as torch's bias_ih (bias_hh = 0)
    compare(layer, _rnn_fn(m), rand(2, 5, 3), lambda ws: [ws[0].T, ws[1].T, ws[2], ws[2] * 0],
            lambda gs: [gs[0].T, gs[1].T, gs[2], gs[2]])


def _gru_reorder(a, u):
    """Keras's [z, r, h] blocks (last axis) -> torch's [r, z, n]."""
    return np.concatenate([a[..., u:2 * u], a[..., :u], a[..., 2 * u:]], axis=-1)


def test_gru():
    u = 4
    layer = layers.GRU(u, return_sequences=True, dtype="float64")
    m = torch.nn.GRU(3, u, batch_first=True, dtype=torch.float64)
    compare(layer, _rnn_fn(m), rand(2, 5, 3),
            lambda ws: [_gru_reorder(ws[0], u).T, _gru_reorder(ws[1], u).T,
                        _gru_reorder(ws[2][0], u), _gru_reorder(ws[2][1], u)])
