"""Programs with ft.cond and ft.while_loop, shared by the graph, function and
gradient tests: each takes (x, w), a float64 vector and a scalar, and runs
the same in eager mode, in a graph and in a trace."""

import collections

import numpy as np

import fasttape as ft

State = collections.namedtuple("State", "step value")


def cond_data(x, w):
    """The predicate depends on the data; both branches capture x and w."""
    return ft.cond(ft.reduce_sum(x) > 0, lambda: ft.sin(x) * w, lambda: x * x + w)


def cond_identity(x, w):
    """A branch that returns an outer tensor as it is."""
    return ft.cond(w > 1.0, lambda: x, lambda: x * w)


def cond_structure(x, w):
    """Nested results: a dict of a tuple and a tensor."""
    out = ft.cond(ft.reduce_max(x) > 0.4,
                  lambda: {"a": (x * w, w * 2.0), "b": ft.exp(x)},
                  lambda: {"a": (x - w, w * w), "b": x})
    return out["a"][0] + out["a"][1] * out["b"]


def while_fixed(x, w):
    """A fixed trip count."""
    _, s = ft.while_loop(lambda i, s: i < 3, lambda i, s: (i + 1, ft.tanh(s * w)),
                         (ft.constant(0), x))
    return s


def while_data(x, w):
    """The trip count depends on the data (grows while the norm is small)."""
    _, s = ft.while_loop(lambda i, s: ft.reduce_sum(s * s) < 20.0,
                         lambda i, s: (i + 1, s * w + 1.0), (ft.constant(0), x))
    return s


def while_nested_cond(x, w):
    """A cond inside the body, on the loop counter."""
    def body(i, s):
        return i + 1, ft.cond(i % 2 == 0, lambda: s * w, lambda: ft.sin(s) + w)
    return ft.while_loop(lambda i, s: i < 4, body, (ft.constant(0), x))[1]


def while_maximum_iterations(x, w):
    """maximum_iterations stops a loop whose condition stays True."""
    return ft.while_loop(lambda s: ft.reduce_sum(s) < 1e9, lambda s: s * w, [x],
                         maximum_iterations=3)[0]


def while_namedtuple(x, w):
    """A namedtuple of loop variables, cond and body taking them unpacked."""
    out = ft.while_loop(lambda step, value: step < 2,
                        lambda step, value: State(step + 1, value * w - x),
                        State(ft.constant(0), x))
    return out.value


def while_in_while(x, w):
    """A loop in the body of a loop, its trip count set by the outer counter."""
    def body(i, s):
        _, t = ft.while_loop(lambda j, t: j < i, lambda j, t: (j + 1, t * w), (0, s))
        return i + 1, t + x
    return ft.while_loop(lambda i, s: i < 3, body, (ft.constant(0), x))[1]


CASES = [cond_data, cond_identity, cond_structure, while_fixed, while_data,
         while_nested_cond, while_maximum_iterations, while_namedtuple, while_in_while]

#: (x, w) points: each case takes both branches / several trip counts over them
POINTS = [(np.array([0.3, 0.5, -0.1]), np.array(1.3)),
          (np.array([-0.3, -0.5, 0.1]), np.array(0.7)),
          (np.array([1.1, 0.9, 0.2]), np.array(1.6))]
