"""No count of the C tape overflows silently (Note [Entry field widths] in
csrc/fasttape_tape.h): an entry's input and output counts are int32 and
checked where they are stored; ops with tens of thousands of inputs record
and differentiate correctly."""

import numpy as np
import pytest

import fasttape as ft
from fasttape._core import _testing

N = 40_000  # more than an int16 count can hold (32,767)


def _scalars(n):
    return [ft.constant(np.float64(i % 7 + 1)) for i in range(n)]


def test_stack_of_40000_scalars_has_exact_gradients():
    xs = _scalars(N)
    w = np.arange(N, dtype=np.float64) % 5
    with ft.GradientTape() as tape:
        tape.watch(xs)
        y = ft.reduce_sum(ft.stack(xs) * w)
    grads = tape.gradient(y, xs)
    assert all(g is not None for g in grads)
    np.testing.assert_array_equal([float(g) for g in grads], w)


def test_concat_of_40000_vectors_has_exact_gradients():
    xs = [ft.constant(np.full(1, float(i % 3))) for i in range(N)]
    with ft.GradientTape() as tape:
        tape.watch(xs)
        y = ft.reduce_sum(ft.concat(xs, axis=0) ** 2)
    grads = tape.gradient(y, xs)
    np.testing.assert_array_equal(np.concatenate([g.numpy() for g in grads]),
                                  2 * np.array([i % 3 for i in range(N)], np.float64))


def test_custom_gradient_with_40000_inputs():
    @ft.custom_gradient
    def weighted_sum(*xs):
        def grad_fn(dy):
            return [dy * float(k % 4) for k in range(len(xs))]

        return ft.reduce_sum(ft.stack(list(xs))), grad_fn

    xs = _scalars(N)
    with ft.GradientTape() as tape:
        tape.watch(xs)
        y = weighted_sum(*xs) * 3.0
    grads = tape.gradient(y, xs)
    np.testing.assert_array_equal([float(g) for g in grads], [3.0 * (k % 4) for k in range(N)])


def test_jacobian_through_40000_inputs():
    xs = _scalars(N)
    with ft.GradientTape() as tape:
        tape.watch(xs)
        s = ft.stack(xs)
        y = ft.stack([ft.reduce_sum(s), ft.reduce_sum(s * s)])
    jac = tape.jacobian(y, xs[:3] + xs[-2:])
    np.testing.assert_array_equal(
        np.stack([j.numpy() for j in jac], axis=1),
        [[1.0] * 5, [2.0 * float(x) for x in xs[:3] + xs[-2:]]])


@pytest.mark.parametrize("n_in, n_out, n_meta", [
    (2**31, 0, 0),            # past int32
    (2**31 - 1, 1, 0),        # the sum past int32
    (2**32 + 3, 1, 0),        # wraps to a small int32: must not be taken as 3
    (2**15, 1, 0),            # fine: int16 would have wrapped
    (-1, 1, 0),
    (1, -1, 0),
    (1, 1, -5),
    (1, 1, 2**62),            # the pool size would overflow
])
def test_append_checks_counts_instead_of_truncating(n_in, n_out, n_meta):
    rc = _testing.append_error(n_in, n_out, n_meta)
    fits = 0 <= n_in and 0 <= n_out and n_in + n_out <= _testing.FT_MAX_ARITY_VALUE and (
        0 <= n_meta < 2**40)
    assert rc == (0 if fits else _testing.FT_ERANGE_CODE)
