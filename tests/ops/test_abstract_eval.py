"""Abstract evaluation is proven: for every op_db sample (as drawn, and with its
float64 and int64 arguments in float32 and int32), every op call it makes (observed at the op's
forward, so the unary/binary fast paths, `OpDef.apply`, ops run inside
composites and inside VJPs are all seen) gives the shapes and dtypes that
`OpDef.abstract_eval` predicts, with fully known input shapes and with input
dims replaced by None (unknown). See Note [Shape and dtype rules] in
fasttape/ops/_registry.py."""

import contextlib
import functools

import numpy as np
import pytest

import fasttape as ft
from fasttape import nest
from fasttape.testing._observe import observe_forwards, table_ops
from fasttape.testing.op_db import OP_SPECS

#: ops whose entry has no shape or dtype rule yet: the completeness test lists
#: them here by name (never a silent skip); empty when every op has its rules
_NO_RULES_YET = set()

#: ops whose output shape depends on input values: the rule gives None there
_VALUE_DEPENDENT_SHAPES = {"boolean_mask", "_where_indices", "segment_sum", "_reshape_dynamic"}


_table = table_ops


def _outputs(op, out):
    outs = [out] if op.n_out == 1 else list(out)
    return [np.asarray(o) for o in outs]


def _abstract(op, shapes, dtypes, attrs):
    shape, dtype = op.abstract_eval(shapes, dtypes, attrs)
    if op.n_out == 1:
        return [shape], [dtype]
    return list(shape), list(dtype)


def _compatible(rule, real):
    if rule is None:  # unknown rank
        return True
    return len(rule) == len(real) and all(r is None or r == d for r, d in zip(rule, real))


def _spec_calls(spec, shapes, attrs, float_dtype=np.float64):
    """The op calls of one sample: its forward and, for a differentiable spec,
    its backward passes up to second order (the VJPs run private ops of the
    table: _index_add, the conv and pool gradients, _max_pool_gather).
    `float_dtype`: the samples' float64 arguments are cast to it (float32:
    int64 arguments to int32 as well)."""
    args = spec.make_args(shapes, attrs, seed=0)
    args = [a.astype(float_dtype) if a.dtype == np.float64 else a for a in args]
    if float_dtype is np.float32:  # the narrow variant: int32 for int64 too
        args = [a.astype(np.int32) if a.dtype == np.int64 else a for a in args]
    calls = []
    with observe_forwards(calls):
        xs = [ft.constant(a) for a in args]
        sources = [x for x in xs if x.dtype.kind == "f"]
        second = spec.differentiable and spec.order >= 2
        with ft.GradientTape() if second else contextlib.nullcontext() as outer:
            if second:
                outer.watch(sources)
            with ft.GradientTape() as tape:
                tape.watch(sources)
                out = spec.fn(*xs, **attrs)
            targets = [t for t in nest.flatten(out) if t.dtype.kind == "f"]
            # watched seeds: the second order reaches the VJPs of every VJP input
            seeds = [ft.constant(np.ones(t.shape, t.dtype)) for t in targets]
            grads = []
            if spec.differentiable and targets and sources:
                if second:
                    outer.watch(seeds)
                grads = [g for g in tape.gradient(targets, sources, output_gradients=seeds)
                         if g is not None]
        if second and grads:  # second order: the VJPs of the VJP ops
            outer.gradient(grads, sources + seeds)
    return [c for c in calls if c[0].name not in _NO_RULES_YET]


def _input_types(ins):
    """Shapes and dtypes of the inputs a forward received. A Python number
    from the binary fast path is weakly typed: it stands for a 0-d tensor of
    the other operand's dtype (Note [Weak Python data] in _convert.pxi), as
    graph mode will convert it."""
    arrays = [x for x in ins if isinstance(x, (np.ndarray, np.generic))]
    shapes, dtypes = [], []
    for x in ins:
        if isinstance(x, (bool, int, float, complex)) and arrays:
            shapes.append(())
            dtypes.append(arrays[0].dtype)
        else:
            a = np.asarray(x)
            shapes.append(a.shape)
            dtypes.append(a.dtype)
    return shapes, dtypes


CASES = [pytest.param(spec, shapes, attrs, id=f"{spec.label}-{i}")
         for spec in OP_SPECS for i, (shapes, attrs) in enumerate(spec.samples())]


@pytest.mark.parametrize("float_dtype", [np.float64, np.float32], ids=["as_drawn", "narrow"])
@pytest.mark.parametrize("spec,shapes,attrs", CASES)
def test_abstract_eval_matches_eager(spec, shapes, attrs, float_dtype):
    calls = _spec_calls(spec, shapes, attrs, float_dtype)
    # (in float32, cast to float32 returns its input: no op runs)
    assert calls or spec.name in _NO_RULES_YET or float_dtype is np.float32, (
        f"{spec.label}: no op of the table ran")
    for op, ins, op_attrs, out in calls:
        in_shapes, in_dtypes = _input_types(ins)
        real = _outputs(op, out)
        if op.elementwise:  # the flag the sweep trusts: Note [Broadcast gradients]
            assert [o.shape for o in real] == [np.broadcast_shapes(*in_shapes)] * op.n_out, (
                f"{op.name} is flagged elementwise but its output is not the broadcast "
                f"shape of its inputs {in_shapes}")
        rule_shapes, rule_dtypes = _abstract(op, in_shapes, in_dtypes, op_attrs)
        where = f"{op.name} on shapes {in_shapes}, dtypes {in_dtypes}, attrs {op_attrs}"
        assert rule_dtypes == [o.dtype for o in real], f"dtype rule disagrees: {where}"
        for rs, o in zip(rule_shapes, real):
            if op.name in _VALUE_DEPENDENT_SHAPES:
                assert _compatible(rs, o.shape), f"shape rule {rs} vs {o.shape}: {where}"
            else:
                assert rs == o.shape, f"shape rule gives {rs}, eager {o.shape}: {where}"
        # each input dim unknown in turn, then all dims of all inputs unknown
        variants = []
        for i, s in enumerate(in_shapes):
            for k in range(len(s)):
                variants.append([s if j != i else s[:k] + (None,) + s[k + 1:]
                                 for j, s in enumerate(in_shapes)])
        variants.append([(None,) * len(s) for s in in_shapes])
        for partial in variants:
            try:
                rule_shapes, rule_dtypes = _abstract(op, partial, in_dtypes, op_attrs)
            except Exception as e:
                raise AssertionError(f"rule raised on {partial} for {where}: {e!r}") from e
            assert rule_dtypes == [o.dtype for o in real], f"dtype with {partial}: {where}"
            for rs, o in zip(rule_shapes, real):
                assert _compatible(rs, o.shape), (
                    f"shape rule gives {rs} on {partial}, eager {o.shape}: {where}")


@functools.cache
def _first_calls():
    """{op name: the first call of it that an op_db sample makes}."""
    first = {}
    for spec in OP_SPECS:
        for shapes, attrs in spec.samples():
            for c in _spec_calls(spec, shapes, attrs):
                first.setdefault(c[0].name, c)
    return first


def test_abstract_eval_sees_every_op_with_rules():
    """Every op with rules is reached by some op_db sample (the test above
    proves its rules), so no rule goes unchecked."""
    seen = set(_first_calls())
    unseen = sorted(op.name for op in _table() if op.name not in seen | _NO_RULES_YET)
    assert not unseen, f"ops whose rules no op_db sample reaches: {unseen}"


def test_every_op_has_shape_and_dtype_rules():
    missing = sorted(op.name for op in _table()
                     if op.shape_fn is None or op.dtype_fn is None)
    assert set(missing) <= _NO_RULES_YET, (
        f"ops without a shape or dtype rule (register_op's shape_fn and dtype_fn): "
        f"{sorted(set(missing) - _NO_RULES_YET)}")
    stale = sorted(n for n in _NO_RULES_YET if n not in missing)
    assert not stale, f"ops in _NO_RULES_YET that have their rules now: {stale}"


def test_abstract_eval_names_the_op_on_bad_shapes():
    add = ft.add.op
    with pytest.raises(ValueError, match="add"):
        add.abstract_eval([(2, 3), (4,)], [np.float32, np.float32])
    with pytest.raises(TypeError, match="add"):
        add.abstract_eval([(2,), (2,)], [np.float32, np.int32])
    # unknown dims broadcast against anything
    assert add.abstract_eval([(None, 3), (4, 1)], [np.float32] * 2) == (
        (4, 3), np.dtype(np.float32))


def test_abstract_eval_rejects_shapes_that_do_not_broadcast():
    """Every op flagged elementwise with several inputs: its shape rule raises
    a ValueError naming the op for known dims that cannot broadcast, as eager
    mode does."""
    checked = []
    for name, (op, ins, attrs, _) in _first_calls().items():
        if not op.elementwise or op.variadic or len(op.input_names) < 2:
            continue
        _, dtypes = _input_types(ins)
        shapes = [(2, 3), (4,)] + [()] * (len(dtypes) - 2)
        with pytest.raises(ValueError, match=name):
            op.abstract_eval(shapes, dtypes, attrs)
        checked.append(name)
    assert "add" in checked and "where" in checked


def test_abstract_eval_rejects_integers_for_float_only_ops():
    """Every op that takes floating-point tensors only (float_only: checked on
    the fast path in eager mode): its dtype rule raises a TypeError naming the
    op for an integer input, as eager mode does."""
    ops = [op for op in _table() if op.float_only]
    assert ops
    for op in ops:
        with pytest.raises(TypeError, match=op.name):
            op.abstract_eval([(2,)] * len(op.input_names), [np.int32] * len(op.input_names),
                             (None,) * len(op.attr_names))
        with pytest.raises(TypeError, match=op.name):
            op.public_fn(ft.constant([1, 2], ft.int32))
