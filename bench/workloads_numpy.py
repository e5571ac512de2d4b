"""The BENCH.md workloads in hand-written NumPy: forward plus hand-derived backward.

This is the reference both for timing (every ratio is to these) and, run in
float64, for the gradient check of every library. It is written as a NumPy
expert writes it (BENCH.md): in-place updates of the temporaries it owns,
`np.vdot` for sums of squares, no pass the math does not need.
"""

import math

import numpy as np
from _data import CHAIN_LEN, LEARNING_RATE, OVERHEAD_ADDS, Workload, make

# -- chain_small: y = sin(y) * 1.01 + 0.1, 100 times; d sum(y) / dx ----------

def chain_setup(dtype):
    return make("chain_small", dtype)


def chain_grads(state):
    y = state["x"]
    inputs = []
    for _ in range(CHAIN_LEN):
        inputs.append(y)
        y = np.sin(y)
        y *= 1.01
        y += 0.1
    loss = y.sum()  # noqa: F841 -- computed, as a user would
    g = np.full_like(y, 1.01)
    c = np.empty_like(y)
    for y_in in reversed(inputs):
        np.cos(y_in, out=c)
        g *= c
        if y_in is not inputs[0]:
            g *= 1.01
    return [g]


# -- MLP step: relu hidden layers, mean sparse softmax cross-entropy, SGD ----

def _params_setup(name):
    def setup(dtype):
        state = make(name, dtype)
        state["init"] = [p.copy() for p in state["params"]]
        return state
    return setup


def params_reset(state):
    for p, p0 in zip(state["params"], state["init"]):
        p[...] = p0


def sgd(params, grads):
    for p, g in zip(params, grads):
        p -= LEARNING_RATE * g


def mlp_grads(state):
    params, labels = state["params"], state["labels"]
    batch = labels.shape[0]
    # Forward, keeping each layer's input and (for hidden layers) relu mask.
    h, inputs, masks = state["x"], [], []
    for i in range(0, len(params), 2):
        inputs.append(h)
        z = h @ params[i]
        z += params[i + 1]
        if i + 2 < len(params):
            masks.append(z > 0)
            np.maximum(z, 0, out=z)
            h = z
        else:
            logits = z
    rows = np.arange(batch)
    m = logits.max(axis=1, keepdims=True)
    picked = logits[rows, labels]
    e = logits - m
    np.exp(e, out=e)
    s = e.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(s[:, 0]) + m[:, 0] - picked)  # noqa: F841
    # Backward: d loss / d logits = (softmax - onehot) / batch.
    s *= batch
    dz = e
    dz /= s
    dz[rows, labels] -= 1.0 / batch
    grads = [None] * len(params)
    for i in reversed(range(0, len(params), 2)):
        grads[i] = inputs[i // 2].T @ dz
        grads[i + 1] = dz.sum(axis=0)
        if i > 0:
            dz = dz @ params[i].T
            dz *= masks[i // 2 - 1]
    return grads


def mlp_step(state):
    sgd(state["params"], mlp_grads(state))


# -- rnn_step: h_t = tanh(x_t @ Wx + h_{t-1} @ Wh + b), loss = sum(h_50^2) ----

def rnn_grads(state):
    wx, wh, b = state["params"]
    hs = [state["h0"]]
    for x in state["xs"]:
        a = x @ wx
        a += hs[-1] @ wh
        a += b
        np.tanh(a, out=a)
        hs.append(a)
    h = hs[-1].ravel()
    loss = np.vdot(h, h)  # noqa: F841
    dh = 2 * hs[-1]
    dwx, dwh, db = np.zeros_like(wx), np.zeros_like(wh), np.zeros_like(b)
    da = np.empty_like(dh)
    for t in reversed(range(len(state["xs"]))):
        np.multiply(hs[t + 1], hs[t + 1], out=da)
        np.subtract(1, da, out=da)
        da *= dh
        dwx += state["xs"][t].T @ da
        dwh += hs[t].T @ da
        db += da.sum(axis=0)
        dh = da @ wh.T
    return [dwx, dwh, db]


# -- broadcast_reduce: loss = mean((x * w + b) ** 2); d/dw, d/db --------------

def broadcast_grads(state):
    w, b = state["params"]
    x = state["x"]
    z = x * w
    z += b
    n = z.size
    loss = np.vdot(z, z) / n  # noqa: F841
    z *= 2.0 / n  # dL/dz, reusing z
    return [z * x, z.sum(axis=0)]


# -- overhead: 1000 x `a + b` on shape-(1,) arrays (NumPy records nothing) ----

def overhead_setup(dtype):
    return make("overhead_add_nograd", dtype)


def overhead_step(state):
    a, b = state["a"], state["b"]
    for _ in range(OVERHEAD_ADDS):
        a + b


def overhead_result(state):
    """No gradient here: the check compares the value of `a + b` instead."""
    return [state["a"] + state["b"]]


# -- hvp_mlp_small: Hessian-vector product of mlp_small_step's loss ----------
# Pearlmutter's R-operator by hand: forward and backward passes of the
# directional derivative along v = (V1, c1, V2, c2).

def hvp_grads(state):
    (w1, b1, w2, b2), (v1, c1, v2, c2) = state["params"], state["v"]
    x, labels = state["x"], state["labels"]
    n = labels.shape[0]
    rows = np.arange(n)
    z1 = x @ w1 + b1
    mask = z1 > 0
    h = z1 * mask
    z2 = h @ w2 + b2
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    rz1 = x @ v1 + c1
    rh = rz1 * mask
    rz2 = rh @ w2 + h @ v2 + c2
    dz2 = p.copy()
    dz2[rows, labels] -= 1
    dz2 /= n
    rdz2 = (p * rz2 - p * np.sum(p * rz2, axis=1, keepdims=True)) / n
    rdh = rdz2 @ w2.T + dz2 @ v2.T
    rdz1 = rdh * mask
    return [x.T @ rdz1, rdz1.sum(axis=0), rh.T @ dz2 + h.T @ rdz2, rdz2.sum(axis=0)]


# -- jacobian_100: J of y = tanh(W x), 100 x 100 ------------------------------

def jacobian_grads(state):
    (x,), w = state["params"], state["w"]
    y = np.tanh(w @ x)
    return [(1 - y * y)[:, None] * w]


# -- conv_step: conv 3x3 SAME -> relu -> max_pool 2x2 -> dense, SGD -------------
# im2col (one input channel: a (10, pixels) matrix, one shifted copy of the
# images per kernel tap and a row of ones for the bias) and one matmul; the
# filter and bias gradients come out of one matmul too. Max-pool routes the
# gradient to each window's first maximum (row-major), as TensorFlow.


def conv_grads(state):
    wc, bc, w2, b2 = state["params"]
    x, labels = state["x"], state["labels"]
    n, size, nf = x.shape[0], x.shape[1], wc.shape[-1]
    half = size // 2
    xp = np.pad(x[..., 0], ((0, 0), (1, 1), (1, 1)))
    cols = np.empty((10, n, size, size), x.dtype)
    for k in range(9):
        i, j = divmod(k, 3)
        cols[k] = xp[:, i : i + size, j : j + size]
    cols[9] = 1
    cols = cols.reshape(10, -1)
    wb = np.concatenate([wc.reshape(9, nf), bc[None]])
    z = (cols.T @ wb).reshape(n, size, size, nf)
    h = np.maximum(z, 0)
    rows_max = np.maximum(h[:, 0::2], h[:, 1::2])
    pooled = np.maximum(rows_max[:, :, 0::2], rows_max[:, :, 1::2])
    flat = pooled.reshape(n, -1)
    logits = flat @ w2 + b2
    rows = np.arange(n)
    m = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - m)
    s = e.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(s[:, 0]) + m[:, 0] - logits[rows, labels])  # noqa: F841
    dlogits = e / s
    dlogits[rows, labels] -= 1
    dlogits /= n
    dw2 = flat.T @ dlogits
    db2 = dlogits.sum(axis=0)
    dpooled = (dlogits @ w2.T).reshape(n, half, half, nf)
    dh = np.empty_like(h)
    free = np.ones(pooled.shape, bool)
    for i in (0, 1):
        for j in (0, 1):
            tap = h[:, i::2, j::2]
            first = (tap == pooled) & free
            free &= ~first
            np.multiply(dpooled, first, out=dh[:, i::2, j::2])
    dz = (dh * (z > 0)).reshape(-1, nf)
    dwb = cols @ dz
    return [dwb[:9].reshape(wc.shape), dwb[9], dw2, db2]


def conv_step(state):
    sgd(state["params"], conv_grads(state))


# -- gelu: NumPy has no erf; the timed reference is np.tanh on the same array --

def gelu_setup(dtype):
    return make("gelu", dtype)


def gelu_step(state):
    np.tanh(state["x"])


_erf = np.frompyfunc(math.erf, 1, 1)


def gelu_result(state):
    """The exact gelu (math.erf, float64) for the check; not timed."""
    x = state["x"].astype(np.float64)
    gelu = 0.5 * x * (1 + _erf(x / math.sqrt(2)).astype(np.float64))
    return [gelu.astype(state["x"].dtype)]


# -- overhead_compare: 1000 x `a > b` on shape-(1,) arrays -------------------

def compare_setup(dtype):
    return make("overhead_compare_nograd", dtype)


def compare_step(state):
    a, b = state["a"], state["b"]
    for _ in range(OVERHEAD_ADDS):
        a > b  # noqa: B015  (the comparison is the workload)


def compare_result(state):
    """The comparison's value, as the elementwise max, for the check."""
    a, b = state["a"], state["b"]
    return [np.where(a > b, a, b)]


WORKLOADS = {
    "chain_small": Workload(chain_setup, chain_grads, chain_grads),
    "mlp_small_step": Workload(_params_setup("mlp_small_step"), mlp_step,
                               mlp_grads, params_reset),
    "mlp_large_step": Workload(_params_setup("mlp_large_step"), mlp_step,
                               mlp_grads, params_reset),
    "rnn_step": Workload(_params_setup("rnn_step"), rnn_grads, rnn_grads),
    "broadcast_reduce": Workload(_params_setup("broadcast_reduce"),
                                 broadcast_grads, broadcast_grads),
    "overhead_add_nograd": Workload(overhead_setup, overhead_step, overhead_result),
    "overhead_add_grad": Workload(overhead_setup, overhead_step, overhead_result),
    "hvp_mlp_small": Workload(_params_setup("hvp_mlp_small"), hvp_grads, hvp_grads),
    "jacobian_100": Workload(_params_setup("jacobian_100"), jacobian_grads, jacobian_grads),
    "conv_step": Workload(_params_setup("conv_step"), conv_step, conv_grads, params_reset),
    "gelu": Workload(gelu_setup, gelu_step, gelu_result),
    "overhead_compare_nograd": Workload(compare_setup, compare_step, compare_result),
    "overhead_compare_grad": Workload(compare_setup, compare_step, compare_result),
}
