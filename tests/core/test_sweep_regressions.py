"""Regression tests for the reverse sweep, found by the op tests (tests/ops).

0-d (scalar) tensors: a gradient summed back to a 0-d input, and a gradient
accumulated twice on a 0-d tensor (the crash runs in a subprocess, so that it
fails this test instead of killing the test session). The default output
gradients (ones) reaching a broadcast input through a VJP that returns g as it is.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np

import fasttape as ft

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(ft.__file__)))  # this fasttape


def test_gradient_summed_back_to_a_scalar_input():
    # x (3,) + y (): the sweep sums y's gradient over all axes to shape ().
    code = textwrap.dedent("""
        import numpy as np, fasttape as ft
        x = ft.constant(np.array([1.0, 2.0, 3.0]))
        y = ft.constant(np.array(2.0))
        with ft.GradientTape() as tape:
            tape.watch([x, y])
            z = x * y
        gx, gy = tape.gradient(z, [x, y])
        print(gx.numpy().tolist(), float(gy.numpy()))
    """)
    env = dict(os.environ, PYTHONPATH=_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=_ROOT, timeout=60)
    assert proc.returncode == 0, (
        f"exit status {proc.returncode} (-11/139: segmentation fault)\n{proc.stderr[-2000:]}")
    assert proc.stdout.split() == ["[2.0,", "2.0,", "2.0]", "6.0"]


def test_gradient_accumulated_on_a_scalar_is_a_0d_tensor():
    # two contributions to one 0-d slot (x * x): the sum of two 0-d arrays is
    # a NumPy scalar, which must not end up inside the returned Tensor.
    x = ft.constant(np.array(0.3))
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    g = tape.gradient(y, x)
    assert g.shape == ()
    np.testing.assert_allclose(g.numpy(), 0.6)


def test_default_output_gradient_through_a_broadcast_identity_vjp():
    # add's VJP for x is g itself; with the default seed (ones of the output's
    # shape) x of shape (3, 1) broadcast against (4,) must get 4 per element.
    x = ft.constant(np.ones((3, 1)))
    y = ft.constant(np.ones(4))
    with ft.GradientTape() as tape:
        tape.watch([x, y])
        z = x + y
    gx, gy = tape.gradient(z, [x, y])
    np.testing.assert_allclose(gx.numpy(), np.full((3, 1), 4.0))
    np.testing.assert_allclose(gy.numpy(), np.full(4, 3.0))


def test_default_output_gradient_through_a_broadcast_negated_vjp():
    # the same through subtract's VJP for y, -g: y of shape (1,) against (4,)
    x = ft.constant(np.ones(4))
    y = ft.constant(np.ones(1))
    with ft.GradientTape() as tape:
        tape.watch(y)
        z = x - y
    np.testing.assert_allclose(tape.gradient(z, y).numpy(), [-4.0])


def test_gradient_inside_its_own_context_survives_pool_growth():
    # the sweep records on the tape it walks, which reallocates the tape's
    # pool while VJPs run: the sweep must not keep pointers into it
    import warnings

    x = ft.constant(np.linspace(0.1, 1.0, 5))
    with ft.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x
        for _ in range(200):
            y = ft.sin(y) * 1.01 + ft.reduce_mean(y) * 0.01
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            g = tape.gradient(ft.reduce_sum(y), x)
    with ft.GradientTape() as ref_tape:
        ref_tape.watch(x)
        y = x
        for _ in range(200):
            y = ft.sin(y) * 1.01 + ft.reduce_mean(y) * 0.01
        total = ft.reduce_sum(y)
    ref = ref_tape.gradient(total, x)
    np.testing.assert_allclose(g.numpy(), ref.numpy(), rtol=1e-12)


def test_variadic_op_with_more_inputs_than_the_stack_buffers():
    xs = [ft.constant(np.full(2, float(i))) for i in range(20)]  # 16 < 20 inputs
    with ft.GradientTape() as tape:
        tape.watch(xs)
        z = ft.reduce_sum(ft.concat(xs, axis=0) ** 2)
    grads = tape.gradient(z, xs)
    for i, g in enumerate(grads):
        np.testing.assert_array_equal(g.numpy(), [2.0 * i, 2.0 * i])
