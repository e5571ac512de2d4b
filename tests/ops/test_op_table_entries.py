"""Nothing computes an op outside the table, and the table's flags say what
its ops do. See Note [Creation and random ops] in fasttape/ops/_registry.py.

- Every public function (the op table's OPS and the composites), called on
  every op_db sample, runs at least one op of the table: a tensor never comes
  from NumPy math done outside an op's forward (graph mode could not stage it).
- The flags are consistent with behaviour, on every op call the op_db samples
  make: elementwise ops give the broadcast shape of their inputs; stateful ops
  are exactly those whose forward draws anew on each run (and `set_seed` or
  an op-level `seed` makes it repeat); families are labels whose arity holds,
  and no code reads meaning from a family name.
- Ops without tensor inputs run through `OpDef.apply(())` under tapes.
"""

import functools
import re
from pathlib import Path

import numpy as np
import pytest

import fasttape as ft
from fasttape import nest
from fasttape.ops._registry import COMPOSITES, OPS
from fasttape.testing._observe import observe_forwards, table_ops
from fasttape.testing.op_db import OP_SPECS

ROOT = Path(ft.__file__).resolve().parent

#: public functions that create a tensor from Python data without an op: the
#: leaf of every computation (graph mode embeds the value as a constant)
_NOT_OPS = {"constant"}


_table = table_ops


def _run(spec, shapes, attrs):
    """(inputs as Tensors, result, the op calls it made)."""
    args = spec.make_args(shapes, attrs, seed=0)
    xs = [ft.constant(a) for a in args]
    calls = []
    with observe_forwards(calls):
        out = spec.fn(*xs, **attrs)
    return xs, out, calls


CASES = [pytest.param(spec, shapes, attrs, id=f"{spec.label}-{i}")
         for spec in OP_SPECS for i, (shapes, attrs) in enumerate(spec.samples())]


def test_every_public_function_has_op_db_samples():
    """So the test below reaches every public function (new ones included)."""
    names = {s.name for s in OP_SPECS}
    missing = sorted(n for n in {**OPS, **COMPOSITES} if n not in names | _NOT_OPS)
    assert not missing, f"public functions without an OpSpec in op_db.py: {missing}"


@pytest.mark.parametrize("spec,shapes,attrs", CASES)
def test_public_function_runs_an_op_of_the_table(spec, shapes, attrs):
    xs, out, calls = _run(spec, shapes, attrs)
    fresh = [t for t in nest.flatten(out) if not any(t is x for x in xs)]
    assert calls or not fresh, (
        f"{spec.label}: returned a new tensor without running any op of the table "
        "(NumPy math outside an op's forward: graph mode cannot stage it)")


def test_creation_functions_run_their_own_entry():
    """zeros, ones, fill, range, eye, linspace and ft.random.* are entries of the
    table (each runs its own op), not NumPy calls wrapped in a Tensor."""
    for name in ("zeros", "ones", "zeros_like", "ones_like", "fill", "range", "eye",
                 "linspace", "normal", "uniform", "truncated_normal", "shuffle"):
        assert name in OPS and OPS[name].op.name == name, name
        spec = next(s for s in OP_SPECS if s.name == name)
        _, _, calls = _run(spec, *spec.samples()[0])
        assert [c[0].name for c in calls] == [name], (name, [c[0].name for c in calls])
    _, _, calls = _run(next(s for s in OP_SPECS if s.label == "where[indices]"),
                       ((3,),), {})
    assert [c[0].name for c in calls] == ["_where_indices"]


# --- the flags -----------------------------------------------------------------------------


@functools.cache
def _calls_by_op():
    """{op: [(inputs, attrs, outputs), ...]}: every op call of the op_db samples
    (forwards only: the calls VJPs make are seen by test_abstract_eval)."""
    out = {}
    for spec in OP_SPECS:
        for shapes, attrs in spec.samples():
            _, _, calls = _run(spec, shapes, attrs)
            for op, ins, op_attrs, res in calls:
                out.setdefault(op, []).append((ins, op_attrs, res))
    return out


def _arrays(op, res):
    return [np.asarray(r) for r in (res if op.n_out > 1 else (res,))]


def _same(a, b):
    return all(x.shape == y.shape and x.dtype == y.dtype
               and np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")
               for x, y in zip(a, b, strict=True))


def _with_seed(op, attrs, seed):
    i = op.attr_names.index("seed")
    return attrs[:i] + (seed,) + attrs[i + 1:]


def test_elementwise_ops_give_the_broadcast_shape_of_their_inputs():
    checked = 0
    for op, calls in _calls_by_op().items():
        if not op.elementwise:
            continue
        for ins, _, res in calls:
            shapes = [np.shape(x) for x in ins]  # (a variadic forward gets *inputs)
            want = np.broadcast_shapes(*shapes)
            for r in _arrays(op, res):
                assert r.shape == want, (
                    f"{op.name} is flagged elementwise but gives shape {r.shape} on inputs "
                    f"{shapes}")
            checked += 1
    assert checked


def test_ops_of_no_inputs_are_not_elementwise():
    bad = [op.name for op in _table() if op.elementwise and not op.input_names]
    assert not bad


def test_value_producing_ops_are_not_elementwise():
    """argmax and one_hot change the shape; where(c) and shape ops too."""
    for name in ("argmax", "argmin", "one_hot", "_where_indices", "shape", "size", "rank",
                 "dropout", "range", "zeros", "normal"):
        op = next(o for o in _table() if o.name == name)
        assert not op.elementwise, name


def test_stateful_ops_draw_anew_and_the_others_repeat():
    """Stateful ops are exactly those whose forward, run again on the same
    inputs, gives other values (each has a `seed` attribute: with one it
    repeats, without it draws from ft.random's generator); every other op
    gives the same values twice."""
    seen_stateful = set()
    for op, calls in _calls_by_op().items():
        for ins, attrs, res in calls[:3]:
            first = _arrays(op, res)
            if not op.stateful:
                assert _same(first, _arrays(op, op.forward(*ins, *attrs))), (
                    f"{op.name} is not flagged stateful but gives other values when run again")
                continue
            assert "seed" in op.attr_names, f"stateful op {op.name} takes no seed attribute"
            if all(a.size < 3 for a in first):
                continue  # too few numbers to see them change
            seeded = _with_seed(op, attrs, 11)
            assert _same(_arrays(op, op.forward(*ins, *seeded)),
                         _arrays(op, op.forward(*ins, *seeded))), f"{op.name}: seed=11 repeats"
            free = _with_seed(op, attrs, None)
            draws = [_arrays(op, op.forward(*ins, *free)) for _ in range(4)]
            assert any(not _same(draws[0], d) for d in draws[1:]), (
                f"{op.name} is flagged stateful but draws the same values every run")
            seen_stateful.add(op.name)
    assert {"normal", "uniform", "truncated_normal", "shuffle", "dropout"} <= seen_stateful
    flagged = {op.name for op in _table() if op.stateful}
    assert flagged == seen_stateful, f"stateful ops no sample showed drawing: " \
                                     f"{sorted(flagged - seen_stateful)}"


def test_set_seed_makes_every_stateful_op_repeat():
    for op, calls in _calls_by_op().items():
        if not op.stateful:
            continue
        ins, attrs, _ = calls[0]
        free = _with_seed(op, attrs, None)
        runs = []
        for _ in range(2):
            ft.random.set_seed(1234)
            runs.append([t.numpy() for t in nest.flatten(op.apply(ins, free))])
        for a, b in zip(*runs, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=op.name)


def test_stateful_ops_are_not_differentiable_but_dropout():
    """Random draws have no gradient; dropout's is the mask (its second output)."""
    diff = sorted(op.name for op in _table() if op.stateful and op.differentiable)
    assert diff == ["dropout"]


_ARITY = {"unary": 1, "binary": 2, "select": 3, "reduce": 1}
_FAMILIES = {"unary", "binary", "nondiff", "select", "elementwise", "variadic", "reduce",
             "shape_op", "linalg_op", "nn", "creation", "random"}


def test_families_are_honest_labels():
    """A family is a label, and it does not lie about arity: 'binary' ops take
    two inputs (three-input where is 'select'), creation ops have no
    differentiable input, random ops are stateful."""
    for op in _table():
        assert op.family in _FAMILIES, f"{op.name}: unknown family {op.family!r}"
        if op.family in _ARITY:
            assert len(op.input_names) == _ARITY[op.family] and not op.variadic, (
                f"{op.name} is in family {op.family!r} but takes inputs {op.input_names}")
        if op.family == "nondiff":
            assert not op.differentiable, op.name
        if op.family == "creation":
            assert not op.differentiable and not op.stateful, op.name
        if op.family == "random":
            assert op.stateful, op.name
        if op.variadic and op.family != "custom":
            assert op.family in ("variadic", "shape_op", "linalg_op"), op.name
    assert ft.where.op.family == "select"


_READS_FAMILY = re.compile(r"\.family\s*(==|!=|\bin\b|\bnot in\b)|family\s*==")


def test_no_code_reads_meaning_from_a_family_name():
    """elementwise, stateful and batchable are flags; nothing in fasttape
    compares a family name to decide what an op does (the one exception:
    'custom' entries, made per user function, are told apart by tests)."""
    hits = []
    for path in sorted(ROOT.rglob("*")):
        if path.suffix not in (".py", ".pyx", ".pxi", ".pxd") or "testing" in path.parts:
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if _READS_FAMILY.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)


# --- ops without tensor inputs through the one dispatch -------------------------------------


def test_ops_of_no_inputs_apply_under_tapes():
    """OpDef.apply(()) runs the forward and records nothing; under a tape the
    result is a constant: no gradient reaches it, and nothing breaks."""
    x = ft.constant([1.0, 2.0])
    with ft.GradientTape(persistent=True) as tape:
        tape.watch(x)
        z = ft.zeros.op.apply((), ((2,), np.dtype(np.float32)))
        r = ft.random.normal.op.apply((), ((2,), 0.0, 1.0, np.dtype(np.float64), 3, ))
        y = x * ft.ones([2], ft.float32) + ft.cast(z, ft.float32) + ft.cast(r, ft.float32)
        lik = ft.zeros_like(x)
    np.testing.assert_array_equal(z.numpy(), np.zeros(2, np.float32))
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [1.0, 1.0])
    assert tape.gradient(lik, x) is None
    assert tape.gradient(y, z) is None  # z was not watched


def test_dropout_draws_a_fresh_mask_each_run_and_its_gradient_is_the_mask():
    """The mask is drawn inside the op (a graph run draws anew); the gradient
    goes through the mask the forward drew."""
    x = ft.ones((4, 50), ft.float64)
    op = ft.nn.dropout.op
    a, ma = op.apply((x,), (0.5, None, None))
    b, mb = op.apply((x,), (0.5, None, None))
    assert not np.array_equal(ma.numpy(), mb.numpy())
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = ft.nn.dropout(x, 0.5)
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), y.numpy())  # x is ones
    # an op-level seed: the same mask every run, as before it was drawn in the op
    same = [ft.nn.dropout(x, 0.3, seed=5).numpy() for _ in range(2)]
    np.testing.assert_array_equal(*same)
    # the draw: the generator's raw 32-bit words, kept when >= rate * 2**32
    bits = np.random.default_rng(5).bit_generator.random_raw(100).view(np.uint32)
    keep = bits.reshape(4, 50) >= round(0.3 * 2**32)
    np.testing.assert_array_equal(same[0], np.where(keep, 1 / 0.7, 0.0))
