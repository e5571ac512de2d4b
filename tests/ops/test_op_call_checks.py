"""Inputs an op cannot differentiate are refused at the call, never in the
backward sweep. Two classes, enumerated over the OpSpecs of
fasttape/testing/op_db.py:
- zero-size dimensions: each dimension of each argument set to 0 in turn;
- tensor-valued attributes (axis=ft.constant(0)): each int, float, bool or
  tuple-of-ints attribute given as a Tensor.
Either the call raises TypeError/ValueError, or the forward and the gradient
both work (and, for attributes, agree with the plain Python value)."""

import warnings

import numpy as np
import pytest

import fasttape as ft
from fasttape import nest
from fasttape.testing.op_db import OP_SPECS

SAMPLES = 2  # cases per spec for the zero-size sweep


def _run(spec, args, attrs):
    """('raised', exc) at the call, or ('ok', outputs, gradients) after a gradient;
    an error in the backward sweep propagates (the defect)."""
    xs = [ft.constant(a) for a in args]
    with ft.GradientTape() as tape:
        tape.watch([x for x in xs if x.dtype.kind == "f"])
        try:
            out = spec.fn(*xs, **attrs)
        except (TypeError, ValueError) as e:
            return ("raised", e)
    leaves = [t for t in nest.flatten(out) if isinstance(t, ft.Tensor) and t.dtype.kind == "f"]
    grads = tape.gradient(leaves, xs)
    for g, x in zip(grads, xs, strict=True):
        assert g is None or (g.shape == x.shape and g.dtype == x.dtype), (
            f"{spec.label}: gradient {g.shape} {g.dtype} for an input {x.shape} {x.dtype}")
    return ("ok", [t.numpy() for t in leaves], [None if g is None else g.numpy() for g in grads])


def _zero_cases():
    out = []
    for spec in OP_SPECS:
        if not spec.differentiable:
            continue
        for shapes, attrs in spec.samples()[:SAMPLES]:
            for i, shape in enumerate(shapes):
                for d in range(len(shape)):
                    zs = list(shapes)
                    zs[i] = shape[:d] + (0,) + shape[d + 1:]
                    case_id = f"{spec.label}-{tuple(zs)}-{attrs}".replace(" ", "")
                    out.append(pytest.param(spec, tuple(zs), attrs, id=case_id))
    return out


@pytest.mark.parametrize("spec, shapes, attrs", _zero_cases())
def test_zero_size_dimension_raises_at_the_call_or_differentiates(spec, shapes, attrs):
    try:
        args = spec.make_args(shapes, attrs, seed=1)
    except (RuntimeError, ValueError):
        pytest.skip("the spec draws no inputs of this shape")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # means of empty slices
        _run(spec, args, attrs)


def _as_tensor_attr(v):
    if isinstance(v, (bool, int, float)) or (
            isinstance(v, tuple) and v and all(type(e) is int for e in v)):
        return ft.constant(v)
    return None


def _attr_cases():
    out = []
    for spec in OP_SPECS:
        if not spec.differentiable:
            continue
        for shapes, attrs in spec.samples():
            for k, v in attrs.items():
                if _as_tensor_attr(v) is not None:
                    case_id = f"{spec.label}-{shapes}-{attrs}-{k}".replace(" ", "")
                    out.append(pytest.param(spec, shapes, attrs, k, id=case_id))
    return out


@pytest.mark.parametrize("spec, shapes, attrs, key", _attr_cases())
def test_tensor_valued_attribute_raises_at_the_call_or_matches(spec, shapes, attrs, key):
    args = spec.make_args(shapes, attrs, seed=3)
    plain = _run(spec, args, attrs)
    got = _run(spec, args, {**attrs, key: _as_tensor_attr(attrs[key])})
    if got[0] == "raised" or plain[0] == "raised":
        return
    for a, b in zip(got[1] + got[2], plain[1] + plain[2], strict=True):
        assert (a is None) == (b is None), spec.label
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12, err_msg=spec.label)


def test_the_reported_cases_raise_at_the_call():
    xs = [ft.constant(1.0), ft.constant(2.0)]
    with ft.GradientTape() as tape:
        tape.watch(xs)
        y = ft.stack(xs, axis=ft.constant(0))
    np.testing.assert_array_equal([float(g) for g in tape.gradient(y, xs)], [1.0, 1.0])
    with pytest.raises(TypeError, match="axis must be an int"):
        ft.stack(xs, axis=1.5)
    x = ft.constant(np.ones((1, 4, 4, 2)))
    with pytest.raises(ValueError, match="zero-size"):
        ft.nn.conv2d(x, ft.constant(np.ones((3, 3, 2, 0))), 1, "SAME")
    with pytest.raises(ValueError, match="zero-size"):
        ft.nn.conv1d(ft.constant(np.ones((1, 4, 2))), ft.constant(np.ones((3, 2, 0))), 1, "SAME")
    with pytest.raises(ValueError, match="zero-size"):
        ft.nn.conv2d_transpose(ft.constant(np.ones((1, 3, 3, 1))),
                               ft.constant(np.ones((0, 2, 2, 1))), (1, 3, 3, 2), 1, "SAME")
