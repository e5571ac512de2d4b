"""Every differentiable op of the table, called under a tape with some inputs
given as raw Python lists, raw (writable) ndarrays or Python scalars instead of
Tensors, gives the gradient of its Tensor inputs (Note [Raw inputs] in
fasttape/_core/_tape.pxi): the tape records arrays, never the raw objects, and
later changes to the caller's list or array do not reach the gradient.
Driven by the OpSpecs in fasttape/testing/op_db.py."""

import zlib

import numpy as np
import pytest

import fasttape as ft
from fasttape import nest
from fasttape.testing.op_db import OP_SPECS

KINDS = ("list", "ndarray", "scalar")


def _case(spec):
    """spec's first case with a floating-point argument and at least two arguments
    (one stays a Tensor and is differentiated, the others go raw)."""
    for shapes, attrs in spec.samples():
        case_id = f"{spec.label}-{shapes}-{attrs}"
        args = spec.make_args(shapes, attrs, seed=zlib.crc32(case_id.encode()))
        if len(args) >= 2 and any(a.dtype.kind == "f" for a in args):
            return shapes, attrs, args
    return None


CASES = [(spec, *_case(spec)) for spec in OP_SPECS if spec.differentiable and _case(spec)]


def _raw(a, kind):
    if kind == "list":
        return a.tolist()
    if kind == "ndarray":
        return np.array(a)  # writable: the caller may change it after the op
    return a.item()


def _float_leaves(out):
    return [t for t in nest.flatten(out) if isinstance(t, ft.Tensor) and t.dtype.kind in "fc"]


def _gradient(spec, attrs, args, watched, raw_kind):
    """The gradient of sum(spec.fn) w.r.t. argument `watched` with every other
    argument passed raw; None when the op does not take that raw input at the call."""
    xs = [ft.constant(a) if i == watched or raw_kind is None
          or (raw_kind == "scalar" and a.ndim) else _raw(a, raw_kind)
          for i, a in enumerate(args)]
    with ft.GradientTape() as tape:
        tape.watch(xs[watched])
        try:
            out = spec.fn(*xs, **attrs)
        except (TypeError, ValueError, AttributeError):
            return "not taken"
        leaves = _float_leaves(out)
        total = ft.add(*[ft.reduce_sum(t) for t in leaves[:2]]) if len(leaves) > 1 else (
            ft.reduce_sum(leaves[0]))
    # the caller changes its raw inputs after the op: the tape must not see it
    for x in xs:
        if isinstance(x, np.ndarray):
            x[...] = 1e3
        while isinstance(x, list) and x:
            if not isinstance(x[0], list):
                x[0] = 1e3 if isinstance(x[0], float) else x[0]
            x = x[0]
    return tape.gradient(total, xs[watched])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("spec, shapes, attrs, args",
                         [pytest.param(*c, id=c[0].label) for c in CASES])
def test_op_gradient_with_raw_inputs(spec, shapes, attrs, args, kind):
    ran = 0
    for watched, a in enumerate(args):
        if a.dtype.kind != "f":
            continue
        if kind == "scalar" and not any(b.ndim == 0 for i, b in enumerate(args) if i != watched):
            continue
        reference = _gradient(spec, attrs, args, watched, None)
        got = _gradient(spec, attrs, args, watched, kind)
        if isinstance(got, str):
            continue
        ran += 1
        assert (got is None) == (reference is None), (
            f"{spec.label}: gradient of argument {watched} is {got!r} with {kind} inputs, "
            f"{reference!r} with Tensors")
        if got is not None:
            assert got.shape == reference.shape and got.dtype == reference.dtype, spec.label
            # a list of floats is float32 data (TensorFlow's conversion) where the
            # reference has float64 tensors: compare at float32 precision
            tol = {"rtol": 1e-5, "atol": 1e-6} if kind == "list" else {"rtol": 1e-12,
                                                                         "atol": 1e-14}
            np.testing.assert_allclose(got.numpy(), reference.numpy(), **tol,
                                       err_msg=f"{spec.label} with {kind} inputs")
    if ran == 0:
        pytest.skip(f"{spec.label} takes no {kind} input here")


def test_the_autodiff_guide_examples_with_lists():
    w = ft.Variable([[1.0], [2.0], [3.0]])
    with ft.GradientTape() as tape:
        y = [[1.0, 2.0, 3.0]] @ w
        loss = ft.reduce_mean(y**2)
    np.testing.assert_allclose(tape.gradient(loss, w).numpy(), [[28.0], [56.0], [84.0]])
    v = ft.Variable([[1.0], [2.0]])
    with ft.GradientTape() as tape:
        z = ft.matmul([[3.0, 4.0]], v)
    np.testing.assert_array_equal(tape.gradient(z, v).numpy(), [[3.0], [4.0]])
    x = ft.Variable(2.0)
    with ft.GradientTape() as tape:
        p = x ** [2.0, 3.0]
    assert float(tape.gradient(p, x)) == 2 * 2.0 + 3 * 2.0**2
