"""Hostile arguments to every public op (the op table's OPS and the composites):
each call returns a result (equal to NumPy's where the op has a NumPy
equivalent) or raises a TypeError/ValueError naming the op, its inputs and the
caller's line; never a crash, another exception type, or an error in the
backward sweep. The pools and the contract live in tests/ops/hostile.py."""

import inspect
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fasttape as ft
from fasttape.ops._registry import OPS
from fasttape.testing.op_db import OP_SPECS
from tests.ops import hostile as H

ROOT = Path(__file__).resolve().parents[2]
FUNCS = H.public_functions()
FAMILIES = sorted({H.family(n, f) for n, f in FUNCS.items()})

# public functions of the API that are not ops (no tensor result from tensor inputs)
NOT_OPS = {"as_dtype", "custom_gradient", "enable_eager_execution", "set_seed",
           "executing_eagerly", "convert_to_tensor",
           # graph building: tests/graph/ covers them
           "disable_eager_execution", "get_default_graph", "reset_default_graph", "name_scope",
           "placeholder",
           # running graphs: tests/graph/test_session.py covers them
           "global_variables_initializer",
           # traced functions: tests/function/ covers them
           "function", "init_scope",
           # symbolic gradients: tests/graph/test_gradients.py and
           # tests/function/test_tape_in_function.py cover them
           "gradients",
           # control flow (takes functions): tests/graph/test_control_flow.py covers them
           "cond", "while_loop",
           # Python code as nodes, variable sharing: tests/interop/ covers them
           "py_func", "py_function", "numpy_function", "get_variable", "get_variable_scope",
           "make_template", "variable_scope"}


def test_every_public_function_is_an_op_or_a_composite():
    """A new public function must come from a family or `composite`, so that it
    gets the public boundary's errors and this suite's hostile arguments."""
    known = {id(f) for f in FUNCS.values()}
    missing = []
    for mod in (ft, ft.nn, ft.math, ft.linalg, ft.random):
        for n in dir(mod):
            f = getattr(mod, n)
            if n.startswith("_") or n in NOT_OPS or not inspect.isfunction(f):
                continue
            if id(f) not in known:
                missing.append(f"{mod.__name__}.{n}")
    assert not missing, f"public functions outside OPS and COMPOSITES: {missing}"


# --- NumPy's answer, for the ops whose spec is a plain NumPy function ---------------

def _simple_refs():
    refs = {}
    for spec in OP_SPECS:
        fn = OPS.get(spec.name)
        if (fn is None or spec.variant or spec.ref is None or spec.make is not None
                or fn.op.variadic):  # a list argument: not NumPy's calling form
            continue
        fam = fn.op.family
        # elementwise ops of one or two inputs: NumPy's function of the same
        # arguments (read from the flags, not from a family name)
        if fn.op.elementwise and len(fn.op.input_names) <= 2 and spec.attrs == ({},):
            n_args = len(H.parameters(fn))
            if n_args == len(inspect.signature(spec.ref).parameters):
                refs[spec.name] = spec.ref
        elif fam == "reduce":
            refs[spec.name] = spec.ref
    return refs


REFS = _simple_refs()


def _ref_arg(v):
    if isinstance(v, ft.Tensor):
        return v.numpy()
    if isinstance(v, (np.ndarray, np.generic, bool, int, float, complex)) or v is None:
        return v
    return ft.convert_to_tensor(v).numpy()


def _check_against_numpy(op_name, fn, args, kwargs, result):
    ref = REFS.get(op_name)
    if ref is None or not isinstance(result, ft.Tensor):
        return
    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.apply_defaults()
    values = [v for k, v in bound.arguments.items() if k != "name"]
    if any(v is None for v in values[:1]) or (H.family(op_name, fn) != "reduce"
                                              and any(v is None for v in values)):
        return  # an optional input left out (where(condition)): another function
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if H.family(op_name, fn) == "reduce":
                x, axis, keepdims = values
                want = ref(ft.convert_to_tensor(x).numpy(), axis=axis, keepdims=keepdims)
            else:
                refs = [_ref_arg(v) for v in values]
                if not any(isinstance(v, np.ndarray) for v in refs):
                    # no tensor operand: fasttape converts the first as ft.constant does
                    # (a Python float becomes float32); the others take its dtype
                    refs[0] = ft.convert_to_tensor(values[0]).numpy()
                want = ref(*refs)
    except Exception:  # noqa: BLE001  (NumPy refuses: nothing to compare)
        return
    got = result.numpy()
    want = np.asarray(want)
    assert got.shape == want.shape, f"{op_name}: shape {got.shape}, NumPy {want.shape}"
    if got.dtype.kind in "fc" or want.dtype.kind in "fc":
        single = got.dtype.itemsize <= (8 if got.dtype.kind == "c" else 4)  # complex64 too
        tol = 1e-6 if single else 1e-12
        np.testing.assert_allclose(got.astype(want.dtype) if want.dtype.kind == "c" else got,
                                   want, rtol=tol * 10, atol=tol, equal_nan=True,
                                   err_msg=f"{op_name} differs from NumPy")
    else:
        np.testing.assert_array_equal(got, want, err_msg=f"{op_name} differs from NumPy")


# --- the property ----------------------------------------------------------------------

_HOSTILE = st.sampled_from(range(len(H.HOSTILE)))


@st.composite
def _calls(draw, fam):
    names = sorted(n for n, f in FUNCS.items() if H.family(n, f) == fam)
    op_name = draw(st.sampled_from(names))
    fn = FUNCS[op_name]
    params = [p.name for p in H.parameters(fn)]
    picked = draw(st.lists(st.sampled_from(params), min_size=0, max_size=2, unique=True))
    choices = {p: draw(_HOSTILE) for p in picked}
    return op_name, choices, draw(st.booleans())


@pytest.mark.parametrize("fam", FAMILIES)
def test_hostile_arguments_give_a_result_or_a_named_error(fam):
    @settings(max_examples=250, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(_calls(fam))
    def prop(call):
        op_name, choices, grad = call
        fn = FUNCS[op_name]
        values = {p: H.HOSTILE[i][1]() for p, i in choices.items()}
        args, kwargs = H.build_call(fn, values)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            result = H.check_call(op_name, fn, args, kwargs, grad=grad)
        _check_against_numpy(op_name, fn, args, kwargs, result)

    prop()


# --- no crash: batches of drawn calls in one subprocess per family ----------------------


@pytest.mark.parametrize("fam", FAMILIES)
def test_hostile_calls_never_crash(fam):
    r = subprocess.run([sys.executable, "-m", "tests.ops.hostile", fam, "40", "7"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"family {fam}: exit {r.returncode}\n{r.stderr[-3000:]}"


# --- rank > 32 (NumPy's own limits) -----------------------------------------------------

_RANK_CODE = """
import sys
import numpy as np
import fasttape as ft
from tests.ops import hostile as H

bad = 0
for op_name, fn in sorted(H.public_functions().items()):
    params = H.parameters(fn)
    for p in params:
        for rank in (33, 40, 64):
            for x in (np.arange(2.0).reshape((1,) * (rank - 1) + (2,)),
                      np.zeros((1,) * rank, np.int64)):
                args, kwargs = H.build_call(fn, {p.name: ft.constant(x)})
                try:
                    with np.errstate(all="ignore"):
                        H.check_call(op_name, fn, args, kwargs, grad=True)
                except AssertionError as e:
                    bad += 1
                    print(op_name, p.name, rank, str(e).splitlines()[0], file=sys.stderr)
sys.exit(1 if bad else 0)
"""


def test_rank_above_32_inputs_to_every_op_forward_and_gradient():
    """Rank 33-64 inputs in every tensor argument of every public op, under a
    tape: NumPy's np.add.at (getitem's, gather's and scatter_nd's scatter-add)
    crashed beyond 32 axes; now each op works or raises a named error."""
    r = subprocess.run([sys.executable, "-c", _RANK_CODE], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stderr[-3000:]}"


_EMPTY_HUGE_CODE = """
import itertools, sys, warnings
import numpy as np
from tests.ops import hostile as H

names = [n for n, _ in H.HOSTILE]
empty = [names.index(n) for n in ("empty f32", "empty 2x0")]
others = empty + [names.index(n) for n in ("[]", "[[]]", "10**400", "2**63", "2**40",
                                           "[2**40, 2**40]", "[10**400]")]
bad = 0
for op_name, fn in sorted(H.public_functions().items()):
    params = [p.name for p in H.parameters(fn)]
    for a, b in itertools.permutations(params, 2):
        for i, j in itertools.product(empty, others):
            args, kwargs = H.build_call(fn, {a: H.HOSTILE[i][1](), b: H.HOSTILE[j][1]()})
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    H.check_call(op_name, fn, args, kwargs, grad=True)
            except AssertionError as e:
                bad += 1
                print(op_name, a, names[i], b, names[j], str(e).splitlines()[0], file=sys.stderr)
sys.exit(1 if bad else 0)
"""


def test_empty_inputs_with_huge_attributes_differentiate():
    """An empty tensor with another empty one or a huge int in another
    argument (tile(empty, [2**40, 2**40]) has an empty result, so the forward
    passes): the gradient must pass too, for every public op. The unseeded
    suite found tile's VJP reshaping to an overflowing split shape; the
    enumeration of every op's hostile pairs, bias_add's VJP reshaping an
    empty gradient with -1."""
    r = subprocess.run([sys.executable, "-c", _EMPTY_HUGE_CODE], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stderr[-3000:]}"


def test_rank_33_getitem_and_scatter_gradients_are_right():
    x = ft.constant(np.arange(2.0).reshape((1,) * 32 + (2,)))
    with ft.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ys = [x[[0]], ft.linalg.trace(x), ft.linalg.diag_part(x), ft.unstack(x, axis=-1)[1],
              ft.gather(x, [1, 1], axis=-1)]
    want = [[1, 1], [1, 0], [1, 0], [0, 1], [0, 2]]
    for y, w in zip(ys, want):
        np.testing.assert_array_equal(tape.gradient(y, x).numpy().ravel(), w)
    s = ft.scatter_nd([[0] * 33, [0] * 32 + [1], [0] * 33], ft.constant([1.0, 2.0, 3.0]),
                      (1,) * 32 + (2,))
    np.testing.assert_array_equal(s.numpy().ravel(), [4.0, 2.0])


# --- axes and permutations are never taken modulo the rank --------------------------------

_AXIS_PARAMS = ("axis", "axes", "perm")


def _axis_ops():
    out = []
    for n, f in sorted(FUNCS.items()):
        for p in H.parameters(f):
            if p.name in _AXIS_PARAMS:
                out.append(pytest.param(n, p.name, id=f"{n}-{p.name}"))
    return out


@pytest.mark.parametrize("op_name, pname", _axis_ops())
def test_out_of_range_axes_and_perms_raise(op_name, pname):
    """Every axis or permutation argument: values that are valid only modulo the
    rank (rank + k, 2 * rank + 1, -2 * rank - 2) raise a named error."""
    fn = FUNCS[op_name]
    x = ft.constant(np.arange(6.0).reshape(2, 3))
    for bad in (5, 100, -6, [5, 1], [2, 1], [0, 3]):
        if pname == "perm" and not isinstance(bad, list):
            continue
        # the tensor argument: the 2-D x (most typical values are 2-D too)
        first = H.parameters(fn)[0]
        choices = {pname: bad}
        if first.name != pname and isinstance(H.typical(first.name), ft.Tensor):
            choices[first.name] = x
        args, kwargs = H.build_call(fn, choices)
        result = H.check_call(op_name, fn, args, kwargs)
        assert result is None, f"{op_name}({pname}={bad!r}) was accepted"
    if pname == "perm":
        np.testing.assert_array_equal(ft.transpose(x, [-1, 0]).numpy(), x.numpy().T)


# --- the issue's examples ---------------------------------------------------------------

X23 = ft.constant(np.ones((2, 3), np.float32))


@pytest.mark.parametrize("cls, op, call, inputs", [
    (TypeError, "reshape", lambda: ft.reshape(None, [1]), []),
    (ValueError, "range", lambda: ft.range(0, 10, 0), []),
    (ValueError, "concat", lambda: ft.concat([X23, X23], axis=[]), [X23]),
    (ValueError, "unstack", lambda: ft.unstack(X23, axis=[]), [X23]),
    (TypeError, "batch_normalization",
     lambda: ft.nn.batch_normalization(None, 0.0, 1.0, None, None, 1e-3), []),
    (ValueError, "leaky_relu", lambda: ft.nn.leaky_relu(X23, 10**400), [X23]),
    (ValueError, "transpose", lambda: ft.transpose(X23, [2, 1]), [X23]),
], ids=["reshape-None", "range-delta-0", "concat-axis-[]", "unstack-axis-[]",
        "batch_normalization-None", "leaky_relu-10**400", "transpose-perm-mod-rank"])
def test_the_issue_examples_raise_named_errors(cls, op, call, inputs):
    from fasttape.testing import assert_op_error

    msg = assert_op_error(call, cls, op, inputs)
    assert "\n  inputs: " in msg


def test_dropout_takes_rank_33():
    y = ft.nn.dropout(ft.ones((1,) * 32 + (4,)), 0.5, seed=1)
    assert y.shape == (1,) * 32 + (4,)
    assert set(np.unique(y.numpy())) <= {0.0, 2.0}


# --- Tensor operators: the same contract (they reach the table without a Python frame) ----

_OPERATORS = [("add", "__add__", "__radd__"), ("subtract", "__sub__", "__rsub__"),
              ("multiply", "__mul__", "__rmul__"), ("divide", "__truediv__", "__rtruediv__"),
              ("floordiv", "__floordiv__", "__rfloordiv__"), ("mod", "__mod__", "__rmod__"),
              ("pow", "__pow__", "__rpow__"), ("bitwise_and", "__and__", "__rand__"),
              ("bitwise_or", "__or__", "__ror__"), ("bitwise_xor", "__xor__", "__rxor__"),
              ("matmul", "__matmul__", "__rmatmul__"), ("less", "__lt__", "__gt__"),
              ("less_equal", "__le__", "__ge__")]


@pytest.mark.parametrize("op_name, method, reflected", _OPERATORS,
                         ids=[o[0] for o in _OPERATORS])
def test_tensor_operators_with_hostile_operands(op_name, method, reflected):
    """t + None, None - t, t @ ragged...: a named error (or NumPy's answer), as the op."""
    t = ft.constant(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
    for label, make in H.HOSTILE:
        for name, m in ((op_name, method), (_reflected_name(op_name), reflected)):
            bound = getattr(t, m)
            v = make()
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                r = H.check_call(name, bound, [v], {})
            assert r is None or isinstance(r, ft.Tensor) or r is NotImplemented, (label, r)


def _reflected_name(op_name):
    # t.__gt__(v) is v < t: the op is greater
    return {"less": "greater", "less_equal": "greater_equal"}.get(op_name, op_name)
