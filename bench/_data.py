"""Workload catalogue and input data for the benchmarks (BENCH.md).

Every library builds its workloads from `make(name, dtype)`, so all of them see
the same numbers: values are drawn in float64 from
`numpy.random.default_rng(20261124 + k)` (k = the workload's number in BENCH.md)
and then cast, so a float32 run and the float64 reference differ only by rounding.
"""

from collections import namedtuple

import numpy as np

SEED = 20261124

# name -> (k, dtype). The order is the order of the report table.
WORKLOADS = {
    "chain_small": (1, np.float64),
    "mlp_small_step": (2, np.float32),
    "mlp_large_step": (3, np.float32),
    "rnn_step": (4, np.float32),
    "broadcast_reduce": (5, np.float32),
    "overhead_add_nograd": (6, np.float32),
    "overhead_add_grad": (6, np.float32),
    # second order and Jacobians (issue 5): float64, so that the check is tight
    "hvp_mlp_small": (7, np.float64),
    "jacobian_100": (8, np.float64),
    # convolution (issue 4): conv 3x3x16 SAME -> relu -> max_pool 2 -> dense 10
    "conv_step": (9, np.float32),
    # erf-based gelu on a (512, 512) float32, forward only (issue 22); NumPy
    # has no erf, so its cell is np.tanh on the same array (the cost of one
    # vectorised transcendental pass)
    "gelu": (10, np.float32),
    # `a > b` on shape (1,), 1000 per call: unwatched, and on a tensor a tape
    # watches (it logs a dead end, see Note [Dead ends]) (issue 23)
    "overhead_compare_nograd": (11, np.float32),
    "overhead_compare_grad": (11, np.float32),
}

# Layer widths and batch size of the two MLPs.
MLP_SIZES = {
    "mlp_small_step": ([784, 128, 10], 32),
    "mlp_large_step": ([784, 1024, 1024, 10], 512),
}
RNN_IN, RNN_HIDDEN, RNN_BATCH, RNN_STEPS = 32, 64, 8, 50
CONV_BATCH, CONV_SIZE, CONV_FILTERS, CONV_CLASSES = 32, 28, 16, 10
CHAIN_LEN = 100       # sin/mul/add repetitions in chain_small
OVERHEAD_ADDS = 1000  # `a + b` calls per timed call of the overhead workloads
LEARNING_RATE = 0.1


def _noop(state):
    pass


# One workload as a library implements it. `grads(state)` returns NumPy arrays,
# in the order the NumPy reference returns them, without updating parameters;
# `reset(state)` restores parameters that `step` updates (untimed).
Workload = namedtuple("Workload", "setup step grads reset", defaults=(_noop,))


def dtype_of(name):
    """The parameter dtype the workload runs in."""
    return np.dtype(WORKLOADS[name][1])


def _he(rng, fan_in, fan_out):
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)


def _bias(rng, n):
    return 0.01 * rng.standard_normal(n)


def make(name, dtype):
    """Fresh input data of workload `name`, floats cast to `dtype`.

    Returns a dict; trainable parameters, if any, are the list under "params"
    (layer by layer: weight then bias).
    """
    k = WORKLOADS[name][0]
    rng = np.random.default_rng(SEED + k)
    cast = lambda a: np.asarray(a, dtype=dtype)
    if name == "chain_small":
        return {"x": cast(rng.standard_normal(16))}
    if name in MLP_SIZES:
        sizes, batch = MLP_SIZES[name]
        params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            params += [cast(_he(rng, fan_in, fan_out)), cast(_bias(rng, fan_out))]
        x = cast(rng.standard_normal((batch, sizes[0])))
        labels = rng.integers(0, sizes[-1], size=batch, dtype=np.int64)
        return {"params": params, "x": x, "labels": labels}
    if name == "rnn_step":
        params = [cast(_he(rng, RNN_IN, RNN_HIDDEN)),
                  cast(_he(rng, RNN_HIDDEN, RNN_HIDDEN)),
                  cast(_bias(rng, RNN_HIDDEN))]
        xs = [cast(rng.standard_normal((RNN_BATCH, RNN_IN))) for _ in range(RNN_STEPS)]
        return {"params": params, "xs": xs, "h0": cast(np.zeros((RNN_BATCH, RNN_HIDDEN)))}
    if name == "broadcast_reduce":
        params = [cast(_he(rng, 512, 512)), cast(_bias(rng, 512))]
        return {"params": params, "x": cast(rng.standard_normal((512, 512)))}
    if name == "hvp_mlp_small":  # mlp_small_step's loss and a direction v
        sizes, batch = MLP_SIZES["mlp_small_step"]
        params, v = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            params += [cast(_he(rng, fan_in, fan_out)), cast(_bias(rng, fan_out))]
        for p in params:
            v.append(cast(rng.standard_normal(p.shape)))
        x = cast(rng.standard_normal((batch, sizes[0])))
        labels = rng.integers(0, sizes[-1], size=batch, dtype=np.int64)
        return {"params": params, "v": v, "x": x, "labels": labels}
    if name == "jacobian_100":  # J of y = tanh(W x) at x, W (100, 100)
        return {"params": [cast(rng.standard_normal(100))],
                "w": cast(rng.standard_normal((100, 100)) / 10.0)}
    if name == "conv_step":  # filters (3, 3, 1, 16) and dense (14 * 14 * 16, 10), NHWC
        flat = (CONV_SIZE // 2) ** 2 * CONV_FILTERS
        params = [
            cast(_he(rng, 9, CONV_FILTERS).reshape(3, 3, 1, CONV_FILTERS)),
            cast(_bias(rng, CONV_FILTERS)),
            cast(_he(rng, flat, CONV_CLASSES)),
            cast(_bias(rng, CONV_CLASSES)),
        ]
        x = cast(rng.standard_normal((CONV_BATCH, CONV_SIZE, CONV_SIZE, 1)))
        labels = rng.integers(0, CONV_CLASSES, size=CONV_BATCH, dtype=np.int64)
        return {"params": params, "x": x, "labels": labels}
    if name == "gelu":
        return {"x": cast(rng.standard_normal((512, 512)))}
    if name.startswith("overhead_"):
        return {"a": cast(rng.standard_normal(1)), "b": cast(rng.standard_normal(1))}
    raise KeyError(name)
