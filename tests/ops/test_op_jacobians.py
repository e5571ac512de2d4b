"""tape.jacobian and tape.batch_jacobian of every differentiable op of the table,
first order and second order (a batched sweep recorded on an outer tape, then
a batched sweep over that record), against central differences; driven by the
OpSpecs in fasttape/testing/op_db.py. A few small cases per op keep it fast."""

import zlib

import numpy as np
import pytest

import fasttape as ft
from fasttape import nest
from fasttape.testing import check_jacobians
from fasttape.testing.op_db import OP_SPECS

MAX_SIZE = 12   # elements per float argument and per output
PER_SPEC = 3    # cases per spec
FALLBACK_SIZE = 48  # an op with no case that small gets its smallest case up to this

# tiny cases for specs whose own cases are all large (convolutions and pools:
# their VJPs are not batchable, so a Jacobian costs one VJP call per row)
SMALL = {
    "conv2d": ((((1, 3, 3, 1), (2, 2, 1, 2)), {"strides": 2, "padding": "SAME",
                                               "dilations": 1}),),
    "conv2d[NCHW]": ((((1, 1, 3, 3), (2, 2, 1, 2)), {}),),
    "conv2d_transpose": ((((1, 2, 2, 1), (2, 2, 2, 1)), {
        "output_shape": (1, 3, 3, 2), "strides": 2, "padding": "SAME"}),),
    "max_pool2d": ((((1, 3, 3, 1),), {"ksize": 2, "strides": 1, "padding": "VALID"}),),
    "avg_pool2d": ((((1, 3, 3, 2),), {"ksize": 2, "strides": 1, "padding": "SAME"}),),
}


def _size(shape):
    return int(np.prod(shape, dtype=np.int64))


def _small_cases(spec):
    """Up to PER_SPEC of spec's cases with small shapes, preferring ones where
    an output and an argument share a first dimension (batch_jacobian applies)."""
    picked, batchable, fallback = [], [], []
    for shapes, attrs in SMALL.get(spec.label, spec.samples()):
        case_id = f"{spec.label}-{shapes}-{attrs}"
        args = spec.make_args(shapes, attrs, seed=zlib.crc32(case_id.encode()))
        out = [t for t in nest.flatten(spec.fn(*[ft.constant(a) for a in args], **attrs))
               if isinstance(t, ft.Tensor) and t.dtype.kind == "f"]
        if not out or any(t.size == 0 for t in out):
            continue
        size = max([a.size for a in args if a.dtype.kind == "f"] + [t.size for t in out])
        if size > MAX_SIZE:
            if size <= FALLBACK_SIZE:
                fallback.append((size, len(fallback), (shapes, attrs, args)))
            continue
        has_batch = any(t.ndim and a.ndim and a.dtype.kind == "f" and t.shape[0] == a.shape[0]
                        for t in out for a in args)
        (batchable if has_batch else picked).append((shapes, attrs, args))
    chosen = (batchable[:2] + picked)[:PER_SPEC]
    return chosen or [min(fallback)[2]] if fallback or chosen else []


CASES = [(spec, shapes, attrs, args) for spec in OP_SPECS if spec.differentiable
         for shapes, attrs, args in _small_cases(spec)]


def test_every_differentiable_op_has_a_jacobian_case():
    covered = {spec.label for spec, *_ in CASES}
    missing = [s.label for s in OP_SPECS if s.differentiable and s.label not in covered]
    assert not missing, f"no small case for {missing}: add one to its OpSpec"


@pytest.mark.parametrize(
    "spec, shapes, attrs, args",
    [pytest.param(*c, id=f"{c[0].label}-{c[1]}-{c[2]}".replace(" ", "")) for c in CASES])
def test_op_jacobians_to_order_two(spec, shapes, attrs, args):
    def f(*xs):
        return spec.fn(*xs, **attrs)

    check_jacobians(f, args, order=min(spec.order, 2), eps=spec.eps,
                    rtol=max(spec.rtol, 1e-5), atol=max(spec.atol, 1e-7),
                    name=f"{spec.label} {shapes} {attrs}")
