"""The BENCH.md workloads in idiomatic eager PyTorch (CPU, one thread).

Parameters are leaf tensors with `requires_grad`; training steps use
`loss.backward()` and an in-place update under `torch.no_grad()`, plain
gradients use `torch.autograd.grad`.
"""

import torch
import torch.nn.functional as F
from _data import CHAIN_LEN, LEARNING_RATE, OVERHEAD_ADDS, Workload, make

torch.set_num_threads(1)


def _leaf(array):
    return torch.tensor(array, requires_grad=True)


def _checked(native):
    """`grads` for the check: run `native` (torch tensors) and convert, untimed."""
    return lambda state: [t.detach().numpy().copy() for t in native(state)]


def _params_setup(name):
    def setup(dtype):
        data = make(name, dtype)
        state = {k: v for k, v in data.items() if k != "params"}
        state["params"] = [_leaf(p) for p in data["params"]]
        state["init"] = [torch.tensor(p) for p in data["params"]]
        for key in ("x", "labels", "h0"):
            if key in state:
                state[key] = torch.from_numpy(state[key])
        if "xs" in state:
            state["xs"] = [torch.from_numpy(x) for x in state["xs"]]
        return state
    return setup


@torch.no_grad()
def params_reset(state):
    for p, p0 in zip(state["params"], state["init"]):
        p.copy_(p0)


# -- chain_small --------------------------------------------------------------

def chain_setup(dtype):
    return {"x": _leaf(make("chain_small", dtype)["x"])}


def chain_grads(state):
    x = state["x"]
    y = x
    for _ in range(CHAIN_LEN):
        y = torch.sin(y) * 1.01 + 0.1
    return torch.autograd.grad(y.sum(), [x])


# -- MLP step -----------------------------------------------------------------

def mlp_loss(state):
    params = state["params"]
    h = state["x"]
    for i in range(0, len(params) - 2, 2):
        h = torch.relu(h @ params[i] + params[i + 1])
    logits = h @ params[-2] + params[-1]
    return F.cross_entropy(logits, state["labels"])


def mlp_step(state):
    mlp_loss(state).backward()
    with torch.no_grad():
        for p in state["params"]:
            p -= LEARNING_RATE * p.grad
            p.grad = None


def mlp_grads(state):
    """The gradients `mlp_step` computes, without its update."""
    mlp_loss(state).backward()
    grads = [p.grad for p in state["params"]]
    for p in state["params"]:
        p.grad = None
    return grads


# -- rnn_step -----------------------------------------------------------------

def rnn_grads(state):
    wx, wh, b = state["params"]
    h = state["h0"]
    for x in state["xs"]:
        h = torch.tanh(x @ wx + h @ wh + b)
    loss = torch.sum(h * h)
    return torch.autograd.grad(loss, state["params"])


# -- broadcast_reduce ---------------------------------------------------------

def broadcast_grads(state):
    w, b = state["params"]
    loss = torch.mean((state["x"] * w + b) ** 2)
    return torch.autograd.grad(loss, state["params"])


# -- overhead: `a + b` on shape (1,); with grad, `a` requires grad -------------

def _overhead_setup(requires_grad):
    def setup(dtype):
        data = make("overhead_add_nograd", dtype)
        return {"a": torch.tensor(data["a"], requires_grad=requires_grad),
                "b": torch.tensor(data["b"])}
    return setup


def overhead_step(state):
    a, b = state["a"], state["b"]
    for _ in range(OVERHEAD_ADDS):
        a + b


def overhead_result(state):
    return [state["a"] + state["b"]]


# -- hvp_mlp_small: double backward ---------------------------------------------

def hvp_grads(state):
    params = state["params"]
    h = torch.relu(state["x"] @ params[0] + params[1])
    logits = h @ params[2] + params[3]
    loss = F.cross_entropy(logits, state["labels"])
    grads = torch.autograd.grad(loss, params, create_graph=True)
    gv = sum((g * v).sum() for g, v in zip(grads, state["v_t"]))
    return torch.autograd.grad(gv, params)


def hvp_setup(dtype):
    state = _params_setup("hvp_mlp_small")(dtype)
    state["v_t"] = [torch.from_numpy(v) for v in state["v"]]
    return state


# -- jacobian_100: torch.autograd.functional.jacobian(vectorize=True) -----------

def jacobian_grads(state):
    (x,) = state["params"]
    w = state["w_t"]
    return [torch.autograd.functional.jacobian(lambda x: torch.tanh(w @ x), x,
                                               vectorize=True)]


def jacobian_setup(dtype):
    state = _params_setup("jacobian_100")(dtype)
    state["w_t"] = torch.from_numpy(state["w"])
    return state


# -- conv_step: NCHW as PyTorch users write it ---------------------------------
# The shared data is NHWC with filters (kh, kw, in, out) and a dense layer on
# the (h, w, c) flattening; setup converts them (untimed) to PyTorch's layouts
# (filters (out, in, kh, kw), dense rows in (c, h, w) order), and `grads`
# converts the gradients back.


def _to_torch_conv(params):
    wc, bc, w2, b2 = params
    side = int(round((w2.shape[0] // wc.shape[-1]) ** 0.5))
    w2c = w2.reshape(side, side, wc.shape[-1], -1).transpose(2, 0, 1, 3).reshape(w2.shape)
    return [wc.transpose(3, 2, 0, 1).copy(), bc, w2c.copy(), b2]


def _from_torch_conv(grads, nf):
    gwc, gbc, gw2, gb2 = grads
    side = int(round((gw2.shape[0] // nf) ** 0.5))
    gw2 = gw2.reshape(nf, side, side, -1).transpose(1, 2, 0, 3).reshape(gw2.shape)
    return [gwc.transpose(2, 3, 1, 0).copy(), gbc, gw2.copy(), gb2]


def conv_setup(dtype):
    data = make("conv_step", dtype)
    params = _to_torch_conv(data["params"])
    return {
        "params": [_leaf(p) for p in params],
        "init": [torch.tensor(p) for p in params],
        "x": torch.from_numpy(data["x"].transpose(0, 3, 1, 2).copy()),
        "labels": torch.from_numpy(data["labels"]),
    }


def conv_loss(state):
    wc, bc, w2, b2 = state["params"]
    # padding=1 is TensorFlow's SAME for a 3x3 kernel at stride 1
    h = F.max_pool2d(F.relu(F.conv2d(state["x"], wc, bc, padding=1)), 2)
    return F.cross_entropy(h.flatten(1) @ w2 + b2, state["labels"])


def conv_step(state):
    conv_loss(state).backward()
    with torch.no_grad():
        for p in state["params"]:
            p -= LEARNING_RATE * p.grad
            p.grad = None


def conv_grads(state):
    conv_loss(state).backward()
    grads = [p.grad.numpy().copy() for p in state["params"]]
    for p in state["params"]:
        p.grad = None
    return _from_torch_conv(grads, state["params"][1].shape[0])


# -- gelu (forward) and `a > b` ------------------------------------------------

def gelu_setup(dtype):
    return {"x": torch.from_numpy(make("gelu", dtype)["x"])}


def gelu_step(state):
    return F.gelu(state["x"])


def _compare_setup(requires_grad):
    def setup(dtype):
        data = make("overhead_compare_nograd", dtype)
        return {"a": torch.tensor(data["a"], requires_grad=requires_grad),
                "b": torch.tensor(data["b"])}
    return setup


def compare_step(state):
    a, b = state["a"], state["b"]
    for _ in range(OVERHEAD_ADDS):
        a > b  # noqa: B015  (the comparison is the workload)


def compare_result(state):
    a, b = state["a"], state["b"]
    return [torch.where(a > b, a, b)]


WORKLOADS = {
    "chain_small": Workload(chain_setup, chain_grads, _checked(chain_grads)),
    "mlp_small_step": Workload(_params_setup("mlp_small_step"), mlp_step,
                               _checked(mlp_grads), params_reset),
    "mlp_large_step": Workload(_params_setup("mlp_large_step"), mlp_step,
                               _checked(mlp_grads), params_reset),
    "rnn_step": Workload(_params_setup("rnn_step"), rnn_grads, _checked(rnn_grads)),
    "broadcast_reduce": Workload(_params_setup("broadcast_reduce"),
                                 broadcast_grads, _checked(broadcast_grads)),
    "overhead_add_nograd": Workload(_overhead_setup(False), overhead_step,
                                    _checked(overhead_result)),
    "overhead_add_grad": Workload(_overhead_setup(True), overhead_step,
                                  _checked(overhead_result)),
    "hvp_mlp_small": Workload(hvp_setup, hvp_grads, _checked(hvp_grads)),
    "jacobian_100": Workload(jacobian_setup, jacobian_grads, _checked(jacobian_grads)),
    "conv_step": Workload(conv_setup, conv_step, conv_grads, params_reset),
    "gelu": Workload(gelu_setup, gelu_step, _checked(lambda state: [gelu_step(state)])),
    "overhead_compare_nograd": Workload(_compare_setup(False), compare_step,
                                        _checked(compare_result)),
    "overhead_compare_grad": Workload(_compare_setup(True), compare_step,
                                      _checked(compare_result)),
}
