"""The BENCH.md workloads through `ft.function`: the eager workloads of
workloads_fasttape.py, each traced once (in setup) and called per iteration.

The data a step reads (inputs, labels, the RNN's sequence) are arguments of
the traced function, so its trace sees placeholders, as a training loop that
feeds batches does; parameters are `ft.Variable`s read inside (captured, read
at each call). Python loops (chain, RNN time steps) unroll into the trace.

A workload the library cannot trace yet (a GradientTape inside ft.function,
a traced function called under an eager tape) raises NotAvailable, which the
table shows as "n/a": never a number for a different computation.
"""

import workloads_fasttape as eager
from _data import OVERHEAD_ADDS, Workload

import fasttape as ft


class NotAvailable(Exception):
    """This workload cannot run through ft.function yet (the table's n/a)."""


def _available(fn):
    """fn, raising NotAvailable when tracing it hits a missing feature."""
    def call(*args):
        try:
            return fn(*args)
        except (NotImplementedError, TypeError) as e:
            text = str(e)
            if "GradientTape" in text or "tape" in text:
                raise NotAvailable(f"n/a: {text.splitlines()[0][:120]}") from e
            raise
    return call


def _traced(setup, body, keys):
    """setup that adds state["_f"]: body(state) traced with state[k] for k in
    `keys` as its arguments (the rest of the state captured)."""
    def traced_setup(dtype):
        state = setup(dtype)

        def inner(*values):
            return body({**state, **dict(zip(keys, values))})

        state["_f"] = _available(ft.function(inner))
        state["_args"] = [state[k] for k in keys]
        return state
    return traced_setup


def _step(state):
    return state["_f"](*state["_args"])


def _checked_traced(state):
    return [t.numpy().copy() for t in _step(state)]


def _grads_workload(setup, grads, keys):
    """A workload whose step is the traced gradients."""
    return Workload(_traced(setup, grads, keys), _step, _checked_traced)


def _update_workload(setup, grads, keys):
    """A train step: the traced gradients and SGD update in one trace; the
    check traces the gradients alone."""
    def body(state):
        for p, g in zip(state["params"], grads(state)):
            p.assign_sub(eager.LEARNING_RATE * g)
        return ()

    traced_setup = _traced(setup, body, keys)
    check_setup = _traced(setup, grads, keys)

    def both(dtype):
        state = traced_setup(dtype)
        check = check_setup(dtype)
        check["params"] = state["params"]
        state["_check"] = check
        return state

    return Workload(both, _step, lambda state: _checked_traced(state["_check"]),
                    eager.params_reset)


# -- overhead: calling a traced `a + b` (and `a > b`) 1000 times ---------------

def _overhead(op, taped):
    def setup(dtype):
        state = (eager.overhead_setup if op == "add" else eager.compare_setup)(dtype)
        state["_f"] = ft.function((lambda a, b: a + b) if op == "add" else (lambda a, b: a > b))
        return state

    def step(state):
        f, a, b = state["_f"], state["a"], state["b"]
        if taped:
            with ft.GradientTape() as tape:
                tape.watch(a)
                for _ in range(OVERHEAD_ADDS):
                    f(a, b)
        else:
            for _ in range(OVERHEAD_ADDS):
                f(a, b)

    def result(state):
        f, a, b = state["_f"], state["a"], state["b"]
        if op == "add":
            if taped:
                with ft.GradientTape() as tape:
                    tape.watch(a)
                    return [f(a, b).numpy()]
            return [f(a, b).numpy()]
        return [ft.where(f(a, b), a, b).numpy()]

    return Workload(setup, _available(step), _available(result))


WORKLOADS = {
    "chain_small": _grads_workload(eager.chain_setup, eager.chain_grads, ["x"]),
    "mlp_small_step": _update_workload(eager._params_setup("mlp_small_step"), eager.mlp_grads,
                                       ["x", "labels"]),
    "mlp_large_step": _update_workload(eager._params_setup("mlp_large_step"), eager.mlp_grads,
                                       ["x", "labels"]),
    "rnn_step": _grads_workload(eager._params_setup("rnn_step"), eager.rnn_grads, ["h0", "xs"]),
    "broadcast_reduce": _grads_workload(eager._params_setup("broadcast_reduce"),
                                        eager.broadcast_grads, ["x"]),
    "overhead_add_nograd": _overhead("add", taped=False),
    "overhead_add_grad": _overhead("add", taped=True),
    "hvp_mlp_small": _grads_workload(eager._params_setup("hvp_mlp_small"), eager.hvp_grads,
                                     ["x", "labels", "v"]),
    "jacobian_100": _grads_workload(eager._params_setup("jacobian_100"), eager.jacobian_grads,
                                    ["w"]),
    "conv_step": _update_workload(eager._params_setup("conv_step"), eager.conv_grads,
                                  ["x", "labels"]),
    "gelu": Workload(_traced(eager.gelu_setup, lambda s: [eager.gelu_step(s)], ["x"]), _step,
                     _checked_traced),
    "overhead_compare_nograd": _overhead("compare", taped=False),
    "overhead_compare_grad": _overhead("compare", taped=True),
}
