"""NumPy references for the layers (TensorFlow's padding rules, Keras's gate orders)."""

import numpy as np


def same_pads(n, k, s, d=1):
    """TensorFlow's SAME padding (before, after) for one spatial dim."""
    k = (k - 1) * d + 1
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def conv_nd(x, w, strides, padding, dilations=None):
    """x (b, *sp, cin), w (*k, cin, cout): TensorFlow's cross-correlation."""
    n = len(strides)
    dilations = dilations or (1,) * n
    if padding == "same":
        pads = [same_pads(x.shape[1 + i], w.shape[i], strides[i], dilations[i]) for i in range(n)]
        x = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    sp = x.shape[1:1 + n]
    keff = [(w.shape[i] - 1) * dilations[i] + 1 for i in range(n)]
    out_sp = [(sp[i] - keff[i]) // strides[i] + 1 for i in range(n)]
    out = np.zeros((x.shape[0], *out_sp, w.shape[-1]))
    for idx in np.ndindex(*out_sp):
        sl = tuple(slice(idx[i] * strides[i], idx[i] * strides[i] + keff[i], dilations[i])
                   for i in range(n))
        patch = x[(slice(None),) + sl]
        out[(slice(None),) + idx] = np.tensordot(patch, w, axes=n + 1)
    return out


def conv2d_transpose(x, w, strides, padding, out_hw):
    """x (b, h, w, cin), Keras kernel (kh, kw, cout, cin); output (b, *out_hw, cout)."""
    b, h, wd, _ = x.shape
    kh, kw, cout, _ = w.shape
    sh, sw = strides
    full = np.zeros((b, (h - 1) * sh + kh, (wd - 1) * sw + kw, cout))
    for i in range(h):
        for j in range(wd):
            full[:, i * sh:i * sh + kh, j * sw:j * sw + kw] += np.einsum(
                "bc,xyoc->bxyo", x[:, i, j], w)
    pads = [0, 0]
    if padding == "same":
        for a, (o, k, s) in enumerate(zip(out_hw, (kh, kw), strides, strict=True)):
            n_in = (h, wd)[a]
            total = max((n_in - 1) * s + k - o, 0)
            pads[a] = total // 2
    full = np.pad(full, [(0, 0), (0, max(0, out_hw[0] + pads[0] - full.shape[1])),
                         (0, max(0, out_hw[1] + pads[1] - full.shape[2])), (0, 0)])
    return full[:, pads[0]:pads[0] + out_hw[0], pads[1]:pads[1] + out_hw[1]]


def pool2d(x, size, strides, padding, kind):
    if padding == "same":
        pads = [same_pads(x.shape[1 + i], size[i], strides[i]) for i in range(2)]
        fill = -np.inf if kind == "max" else np.nan
        x = np.pad(x, [(0, 0)] + pads + [(0, 0)], constant_values=fill)
    oh = (x.shape[1] - size[0]) // strides[0] + 1
    ow = (x.shape[2] - size[1]) // strides[1] + 1
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            win = x[:, i * strides[0]:i * strides[0] + size[0],
                    j * strides[1]:j * strides[1] + size[1]]
            out[:, i, j] = win.max(axis=(1, 2)) if kind == "max" else np.nanmean(win, axis=(1, 2))
    return out


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def simple_rnn(x, k, rk, b, h=None):
    h = np.zeros((x.shape[0], rk.shape[0])) if h is None else h
    outs = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ k + h @ rk + b)
        outs.append(h)
    return np.stack(outs, 1), h


def lstm(x, k, rk, b, h=None, c=None):
    u = rk.shape[0]
    h = np.zeros((x.shape[0], u)) if h is None else h
    c = np.zeros((x.shape[0], u)) if c is None else c
    outs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ k + h @ rk + b
        i, f, g, o = (z[:, j * u:(j + 1) * u] for j in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        outs.append(h)
    return np.stack(outs, 1), h, c


def gru(x, k, rk, b, reset_after=True, h=None):
    u = rk.shape[0]
    h = np.zeros((x.shape[0], u)) if h is None else h
    bi, br = (b[0], b[1]) if reset_after else (b, np.zeros(3 * u))
    outs = []
    for t in range(x.shape[1]):
        xw = x[:, t] @ k + bi
        xz, xr, xh = xw[:, :u], xw[:, u:2 * u], xw[:, 2 * u:]
        if reset_after:
            inner = h @ rk + br
            z = sigmoid(xz + inner[:, :u])
            r = sigmoid(xr + inner[:, u:2 * u])
            hh = np.tanh(xh + r * inner[:, 2 * u:])
        else:
            z = sigmoid(xz + h @ rk[:, :u])
            r = sigmoid(xr + h @ rk[:, u:2 * u])
            hh = np.tanh(xh + (r * h) @ rk[:, 2 * u:])
        h = z * h + (1 - z) * hh
        outs.append(h)
    return np.stack(outs, 1), h
