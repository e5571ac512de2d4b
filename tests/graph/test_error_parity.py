"""One check, both modes: a bad call raises the same error at build time in a
graph as at the call in eager mode.

Every case of the eager error suites (tests/ops/test_op_errors*.py: a
one-line lambda over module-level tensors) is run again inside
`with ft.Graph().as_default():` with each eager tensor it names replaced by a
placeholder of the same static shape and dtype. The graph build must raise
the same exception class with the same first line (`op: detail`), pointing
at the lambda's line (the user's line), or - for the checks that need
values, listed in `_AT_RUN_TIME` - build without error: those checks live in
the forward and run when the graph runs.

The zero-size sweep of tests/ops/test_op_call_checks.py (each dim of each
op_db sample set to 0) is run the same way: what eager mode refuses at the
call, graph mode refuses at build time with the same first line; what eager
mode accepts builds.
"""

import types

import numpy as np
import pytest

import fasttape as ft
from fasttape._core.core import is_symbolic
from fasttape.testing.op_db import OP_SPECS
from tests.ops import (
    test_hostile,
    test_op_call_checks,
    test_op_errors,
    test_op_errors_nn,
    test_op_errors_shape_linalg,
    test_op_errors_tf_names,
    test_shape_axis_args,
)

_SUITES = (test_op_errors, test_op_errors_nn, test_op_errors_shape_linalg,
           test_op_errors_tf_names)

#: cases whose eager error needs input values (an index out of range, ids not
#: sorted, a singular matrix): the check is in the forward, so a graph builds
#: and the error is raised when it runs
_AT_RUN_TIME = {
    "gather-range", "gather-batch-range", "xent-labels-range", "embedding-range",
    "gather_nd-range", "gather_nd-negative", "scatter_nd-range", "tensor_scatter_nd_update-range",
    "segment_sum-unsorted", "segment_sum-negative", "unsorted_segment_sum-range",
    "inv-singular", "inv-singular-batch", "solve-singular", "solve-batch", "cholesky-not-pd",
}


#: creation and random ops: h1 converts these into table entries
_H1_CONVERTS = {"range", "eye", "fill", "linspace", "zeros", "ones", "constant", "Variable",
                "placeholder"}


def _issue_examples():
    """test_hostile's issue examples: (cls, op, call, inputs) and their ids."""
    mark = next(m for m in test_hostile.test_the_issue_examples_raise_named_errors.pytestmark
                if m.name == "parametrize")
    return list(zip(mark.kwargs.get("ids") or mark.args[2], mark.args[1], strict=True))


def _cases():
    out = []
    for suite in _SUITES:
        for case in suite.CASES:
            out.append(pytest.param(case[1], case[2], case[3],
                                    id=f"{suite.__name__.rsplit('.', 1)[-1]}-{case[0]}"))
    for case_id, (cls, op, call, _) in _issue_examples():
        if op not in _H1_CONVERTS:
            out.append(pytest.param(cls, op, call, id=f"test_hostile-{case_id}"))
    return out


def _first_line(exc):
    return str(exc).splitlines()[0]


def _called_at(exc):
    return next((line.strip() for line in str(exc).splitlines() if "called at" in line), None)


def _eager_error(call):
    try:
        call()
    except (TypeError, ValueError) as e:
        return e
    raise AssertionError("the eager call raised nothing")


def _graph_call(call):
    """`call` with every eager tensor it names replaced by a placeholder of the
    same static shape and dtype (made in the default graph)."""
    env = dict(call.__globals__)
    for name in call.__code__.co_names:
        v = env.get(name)
        if isinstance(v, ft.Tensor) and not is_symbolic(v):
            env[name] = ft.placeholder(v.dtype, tuple(v.shape), name=name)
    return types.FunctionType(call.__code__, env, call.__name__, call.__defaults__,
                              call.__closure__)


@pytest.mark.parametrize("cls, op, call", _cases())
def test_graph_raises_the_eager_error_at_build_time(request, cls, op, call):
    case_id = request.node.callspec.id.split("-", 1)[1]
    eager = _eager_error(call)
    assert isinstance(eager, cls)
    with ft.Graph().as_default():
        fn = _graph_call(call)
        try:
            fn()
        except (TypeError, ValueError) as e:
            graph = e
        else:
            assert case_id in _AT_RUN_TIME, (
                f"the graph built, but eager mode raised at the call: {_first_line(eager)}")
            assert isinstance(eager, ft.errors.InvalidArgumentError)
            return
    assert case_id not in _AT_RUN_TIME, f"{case_id} raises at build time: remove it from the list"
    assert type(graph) is type(eager), (
        f"graph {type(graph).__name__}: {_first_line(graph)}; "
        f"eager {type(eager).__name__}: {_first_line(eager)}")
    assert _first_line(graph) == _first_line(eager)
    where = f"{call.__code__.co_filename}:{call.__code__.co_firstlineno}"
    assert where in (_called_at(graph) or ""), f"not at the user's line {where}: {graph}"


def test_run_time_list_names_cases():
    ids = {c[0] for suite in _SUITES for c in suite.CASES}
    assert set(_AT_RUN_TIME) <= ids, sorted(set(_AT_RUN_TIME) - ids)


_SPECS = {spec.label: spec for spec in OP_SPECS}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # means of empty slices
@pytest.mark.parametrize("spec, shapes, attrs", test_op_call_checks._zero_cases())
def test_zero_size_dims_build_as_eager_mode_calls(spec, shapes, attrs):
    try:
        args = spec.make_args(shapes, attrs, seed=1)
    except (RuntimeError, ValueError):
        pytest.skip("the spec draws no inputs of this shape")
    try:
        spec.fn(*[ft.constant(a) for a in args], **attrs)
        eager = None
    except (TypeError, ValueError) as e:
        eager = e
    with ft.Graph().as_default():
        xs = [ft.placeholder(a.dtype, a.shape) for a in args]
        try:
            spec.fn(*xs, **attrs)
            graph = None
        except (TypeError, ValueError) as e:
            graph = e
    if eager is None or isinstance(eager, ft.errors.InvalidArgumentError) and graph is None:
        assert graph is None, f"{spec.label}: eager mode builds, the graph raised {graph}"
        return
    assert graph is not None, f"{spec.label}: the graph built; eager raised {_first_line(eager)}"
    assert type(graph) is type(eager) and _first_line(graph) == _first_line(eager), (
        f"graph {type(graph).__name__}: {_first_line(graph)}; "
        f"eager {type(eager).__name__}: {_first_line(eager)}")


_AXIS_CALLS = [pytest.param(key, id=f"{key[0]}({key[1]})") for key in test_shape_axis_args.CALLS
               if key[0].split(".")[-1] not in _H1_CONVERTS]


@pytest.mark.parametrize("bad", [1.5, 2.0, "1", True], ids=["1.5", "2.0", "'1'", "True"])
@pytest.mark.parametrize("key", _AXIS_CALLS)
def test_shape_and_axis_arguments_are_checked_at_build_time(key, bad):
    """tests/ops/test_shape_axis_args.py's bad shape and axis arguments: the
    same TypeError at build time as at the eager call."""
    call = test_shape_axis_args.CALLS[key]
    eager = None
    try:
        call(bad)
    except TypeError as e:
        eager = e
    assert eager is not None
    with ft.Graph().as_default():
        with pytest.raises(TypeError) as info:
            _graph_call(call)(bad)
    assert _first_line(info.value) == _first_line(eager)


def _placeholders(v):
    """v with its eager tensors (also inside lists) replaced by placeholders."""
    if isinstance(v, ft.Tensor) and not is_symbolic(v):
        return ft.placeholder(v.dtype, tuple(v.shape))
    if isinstance(v, list):
        return [_placeholders(e) for e in v]
    return v


def _outcome(fn, args, kwargs):
    try:
        fn(*args, **kwargs)
    except (TypeError, ValueError) as e:
        return e
    return None


@pytest.mark.parametrize("op_name, pname", [
    p for p in test_hostile._axis_ops() if p.values[0] not in _H1_CONVERTS])
def test_out_of_range_axes_and_perms_raise_at_build_time(op_name, pname):
    """test_hostile's out-of-range axes and permutations: the same error at
    build time as at the eager call (graph tensors know their rank)."""
    from tests.ops import hostile as H

    fn = test_hostile.FUNCS[op_name]
    x = ft.constant(np.arange(6.0).reshape(2, 3))
    for bad in (5, 100, -6, [5, 1], [2, 1], [0, 3]):
        if pname == "perm" and not isinstance(bad, list):
            continue
        first = H.parameters(fn)[0]
        choices = {pname: bad}
        if first.name != pname and isinstance(H.typical(first.name), ft.Tensor):
            choices[first.name] = x
        args, kwargs = H.build_call(fn, choices)
        eager = _outcome(fn, args, kwargs)
        with ft.Graph().as_default():
            graph = _outcome(fn, _placeholders(list(args)),
                             {k: _placeholders(v) for k, v in kwargs.items()})
        where = f"{op_name}({pname}={bad!r})"
        assert (eager is None) == (graph is None), f"{where}: eager {eager!r}, graph {graph!r}"
        if eager is not None:
            assert type(graph) is type(eager), f"{where}: {graph!r} vs {eager!r}"
            assert _first_line(graph) == _first_line(eager), where
