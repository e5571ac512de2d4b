"""The BENCH.md workloads in fasttape eager mode, written as a user would (SPEC.md 1-3).

Parameters are `ft.Variable`s (watched automatically), inputs `ft.constant`s made
once in setup; gradients come from a fresh `ft.GradientTape` per iteration.
"""

from _data import CHAIN_LEN, LEARNING_RATE, OVERHEAD_ADDS, Workload, make

import fasttape as ft


def _checked(native):
    """`grads` for the check: run `native` (fasttape tensors) and convert, untimed."""
    return lambda state: [t.numpy().copy() for t in native(state)]


def _params_setup(name):
    def setup(dtype):
        data = make(name, dtype)
        state = {"init": data.pop("params")}
        state["params"] = [ft.Variable(p.copy()) for p in state["init"]]
        for key, value in data.items():
            state[key] = ([ft.constant(v) for v in value] if isinstance(value, list)
                          else ft.constant(value))
        return state
    return setup


def params_reset(state):
    for p, p0 in zip(state["params"], state["init"]):
        p.assign(p0)


# -- chain_small --------------------------------------------------------------

def chain_setup(dtype):
    return {"x": ft.constant(make("chain_small", dtype)["x"])}


def chain_grads(state):
    x = state["x"]
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = x
        for _ in range(CHAIN_LEN):
            y = ft.sin(y) * 1.01 + 0.1
        loss = ft.reduce_sum(y)
    return tape.gradient(loss, [x])


# -- MLP step -----------------------------------------------------------------

def mlp_grads(state):
    params = state["params"]
    with ft.GradientTape() as tape:
        h = state["x"]
        for i in range(0, len(params) - 2, 2):
            h = ft.nn.relu(h @ params[i] + params[i + 1])
        logits = h @ params[-2] + params[-1]
        loss = ft.reduce_mean(ft.nn.sparse_softmax_cross_entropy_with_logits(
            labels=state["labels"], logits=logits))
    return tape.gradient(loss, params)


def mlp_step(state):
    for p, g in zip(state["params"], mlp_grads(state)):
        p.assign_sub(LEARNING_RATE * g)


# -- rnn_step -----------------------------------------------------------------

def rnn_grads(state):
    wx, wh, b = params = state["params"]
    with ft.GradientTape() as tape:
        h = state["h0"]
        for x in state["xs"]:
            h = ft.tanh(x @ wx + h @ wh + b)
        loss = ft.reduce_sum(h * h)
    return tape.gradient(loss, params)


# -- broadcast_reduce ---------------------------------------------------------

def broadcast_grads(state):
    w, b = params = state["params"]
    with ft.GradientTape() as tape:
        loss = ft.reduce_mean((state["x"] * w + b) ** 2)
    return tape.gradient(loss, params)


# -- overhead: `a + b` on shape (1,), outside any tape or under one watching `a`

def overhead_setup(dtype):
    data = make("overhead_add_nograd", dtype)
    return {"a": ft.constant(data["a"]), "b": ft.constant(data["b"])}


def overhead_nograd(state):
    a, b = state["a"], state["b"]
    for _ in range(OVERHEAD_ADDS):
        a + b


def overhead_grad(state):
    a, b = state["a"], state["b"]
    with ft.GradientTape() as tape:
        tape.watch(a)
        for _ in range(OVERHEAD_ADDS):
            a + b


def overhead_result(state):
    return [state["a"] + state["b"]]


def overhead_result_taped(state):
    a = state["a"]
    with ft.GradientTape() as tape:
        tape.watch(a)
        return [a + state["b"]]


# -- hvp_mlp_small: Hessian-vector product (nested tapes) ---------------------

def hvp_grads(state):
    params, v = state["params"], state["v"]
    with ft.GradientTape() as outer:
        with ft.GradientTape() as inner:
            h = ft.nn.relu(state["x"] @ params[0] + params[1])
            logits = h @ params[2] + params[3]
            loss = ft.reduce_mean(ft.nn.sparse_softmax_cross_entropy_with_logits(
                labels=state["labels"], logits=logits))
        grads = inner.gradient(loss, params)
        gv = ft.reduce_sum(grads[0] * v[0])
        for g, vi in zip(grads[1:], v[1:]):
            gv = gv + ft.reduce_sum(g * vi)
    return outer.gradient(gv, params)


# -- jacobian_100: J of tanh(W x), one batched sweep ----------------------------

def jacobian_grads(state):
    (x,) = state["params"]
    with ft.GradientTape() as tape:
        y = ft.tanh(state["w"] @ x)
    return [tape.jacobian(y, x)]


# -- conv_step -----------------------------------------------------------------


def conv_grads(state):
    params = state["params"]
    wc, bc, w2, b2 = params
    with ft.GradientTape() as tape:
        z = ft.nn.conv2d(state["x"], wc, strides=1, padding="SAME")
        h = ft.nn.relu(ft.nn.bias_add(z, bc))  # the bias as Keras's Conv2D adds it
        h = ft.nn.max_pool2d(h, ksize=2, strides=2, padding="VALID")
        logits = ft.reshape(h, (h.shape[0], -1)) @ w2 + b2
        loss = ft.reduce_mean(
            ft.nn.sparse_softmax_cross_entropy_with_logits(labels=state["labels"], logits=logits)
        )
    return tape.gradient(loss, params)


def conv_step(state):
    for p, g in zip(state["params"], conv_grads(state)):
        p.assign_sub(LEARNING_RATE * g)


# -- gelu (forward) and `a > b` with and without a tape watching `a` ----------

def gelu_setup(dtype):
    return {"x": ft.constant(make("gelu", dtype)["x"])}


def gelu_step(state):
    return ft.nn.gelu(state["x"])


def compare_setup(dtype):
    data = make("overhead_compare_nograd", dtype)
    return {"a": ft.constant(data["a"]), "b": ft.constant(data["b"])}


def compare_nograd(state):
    a, b = state["a"], state["b"]
    for _ in range(OVERHEAD_ADDS):
        a > b  # noqa: B015  (the comparison is the workload)


def compare_grad(state):
    a, b = state["a"], state["b"]
    with ft.GradientTape() as tape:
        tape.watch(a)
        for _ in range(OVERHEAD_ADDS):
            a > b  # noqa: B015  (the comparison is the workload)


def compare_result(state):
    a, b = state["a"], state["b"]
    return [ft.where(a > b, a, b)]


WORKLOADS = {
    "chain_small": Workload(chain_setup, chain_grads, _checked(chain_grads)),
    "mlp_small_step": Workload(_params_setup("mlp_small_step"), mlp_step,
                               _checked(mlp_grads), params_reset),
    "mlp_large_step": Workload(_params_setup("mlp_large_step"), mlp_step,
                               _checked(mlp_grads), params_reset),
    "rnn_step": Workload(_params_setup("rnn_step"), rnn_grads, _checked(rnn_grads)),
    "broadcast_reduce": Workload(_params_setup("broadcast_reduce"),
                                 broadcast_grads, _checked(broadcast_grads)),
    "overhead_add_nograd": Workload(overhead_setup, overhead_nograd,
                                    _checked(overhead_result)),
    "overhead_add_grad": Workload(overhead_setup, overhead_grad,
                                  _checked(overhead_result_taped)),
    "hvp_mlp_small": Workload(_params_setup("hvp_mlp_small"), hvp_grads, _checked(hvp_grads)),
    "jacobian_100": Workload(_params_setup("jacobian_100"), jacobian_grads,
                             _checked(jacobian_grads)),
    "conv_step": Workload(_params_setup("conv_step"), conv_step, _checked(conv_grads),
                          params_reset),
    "gelu": Workload(gelu_setup, gelu_step, _checked(lambda state: [gelu_step(state)])),
    "overhead_compare_nograd": Workload(compare_setup, compare_nograd, _checked(compare_result)),
    "overhead_compare_grad": Workload(compare_setup, compare_grad, _checked(compare_result)),
}
