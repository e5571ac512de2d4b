"""Hostile arguments for every public op, and the contract each call must keep.

Shared by tests/ops/test_hostile.py (hypothesis draws from these pools in
process; the no-crash part runs batches of drawn calls in a subprocess, one per
op family, through `python -m tests.ops.hostile FAMILY N SEED`).

The contract (SPEC: "bad input raises at the call"): a public op either returns
a result, or raises a TypeError/ValueError whose message starts with the op's
name, describes the inputs ("inputs:") and points at the caller's line.
"""

import inspect
import math
import sys

import numpy as np

import fasttape as ft
from fasttape.ops._registry import COMPOSITES, OPS

HERE = __file__


def public_functions():
    """{name: function}: every public op of the table and every composite."""
    out = dict(OPS)
    out.update(COMPOSITES)
    return out


def family(name, fn):
    op = getattr(fn, "op", None)
    return op.family if op is not None else "composite"


# --- the pools --------------------------------------------------------------------------


def _self_ref():
    a = [1.0]
    a.append(a)
    return a


def _deep():
    v = 1.0
    for _ in range(100):
        v = [v]
    return v


def _rank(n, dtype=np.float32, last=1):
    return ft.constant(np.ones((1,) * (n - 1) + (last,), dtype))


# (label, factory): factories, so that every call gets fresh objects
HOSTILE = [
    ("None", lambda: None),
    ("str", lambda: "abc"),
    ("empty str", lambda: ""),
    ("bytes", lambda: b"\x00"),
    ("object", lambda: object()),
    ("dict", lambda: {"a": 1}),
    ("True", lambda: True),
    ("0", lambda: 0),
    ("-1", lambda: -1),
    ("2", lambda: 2),
    ("-7", lambda: -7),
    ("10**400", lambda: 10**400),
    ("-10**400", lambda: -(10**400)),
    ("2**63", lambda: 2**63),
    ("2**40", lambda: 2**40),  # sizes beyond memory fail at once (2**31 would be 8 GB)
    ("1.5", lambda: 1.5),
    ("nan", lambda: math.nan),
    ("inf", lambda: math.inf),
    ("-inf", lambda: -math.inf),
    ("1e308", lambda: 1e308),
    ("1j", lambda: 1j),
    ("np.float64", lambda: np.float64(0.5)),
    ("np.int64", lambda: np.int64(3)),
    ("np.bool_", lambda: np.bool_(True)),
    ("[]", lambda: []),
    ("[[]]", lambda: [[]]),
    ("ragged", lambda: [[1.0, 2.0], [3.0]]),
    ("mixed list", lambda: [1, "a"]),
    ("[None]", lambda: [None]),
    ("self-referential", _self_ref),
    ("deep list", _deep),
    ("[0, 0]", lambda: [0, 0]),
    ("[1.5]", lambda: [1.5]),
    ("[-5, 2]", lambda: [-5, 2]),
    ("[2, 0]", lambda: [2, 0]),
    ("[2**40, 2**40]", lambda: [2**40, 2**40]),
    ("[10**400]", lambda: [10**400]),
    ("()", lambda: ()),
    ("rank-0 f32", lambda: ft.constant(np.float32(1.5))),
    ("empty f32", lambda: ft.constant(np.ones((0,), np.float32))),
    ("empty 2x0", lambda: ft.constant(np.ones((2, 0), np.float32))),
    ("2x3 f32", lambda: ft.constant(np.arange(6, dtype=np.float32).reshape(2, 3) - 2)),
    ("2x3 f64", lambda: ft.constant(np.arange(6, dtype=np.float64).reshape(2, 3) - 2)),
    ("3x3 f64", lambda: ft.constant(np.eye(3) * 2 + 0.5)),
    ("2x3 i32", lambda: ft.constant(np.arange(6, dtype=np.int32).reshape(2, 3))),
    ("i64 vector", lambda: ft.constant(np.array([0, 1, 1], np.int64))),
    ("2x3 bool", lambda: ft.constant(np.eye(2, 3, dtype=bool))),
    ("2x3 complex", lambda: ft.constant(np.ones((2, 3), np.complex64))),
    ("u8 vector", lambda: ft.constant(np.array([1, 2, 3], np.uint8))),
    ("nan tensor", lambda: ft.constant(np.array([np.nan, np.inf, -np.inf], np.float32))),
    ("rank 33", lambda: _rank(33)),
    ("rank 33 x2", lambda: _rank(33, np.float64, last=2)),
    ("rank 40 i64", lambda: _rank(40, np.int64)),
    ("rank 64", lambda: _rank(64)),
    ("rank 33 ndarray", lambda: np.ones((1,) * 33)),
    ("object ndarray", lambda: np.array([1, None], dtype=object)),
    ("str ndarray", lambda: np.array(["a", "b"])),
    ("f64 ndarray", lambda: np.ones((2, 3))),
    ("list of tensors", lambda: [ft.ones((2, 3)), ft.ones((2, 3))]),
    ("tensors of 2 dtypes", lambda: [ft.ones((2,)), ft.ones((2,), ft.float64)]),
    ("Variable", lambda: ft.Variable(np.ones((2, 3), np.float32))),
    ("dtype float64", lambda: ft.float64),
    ("dtype str", lambda: "not a dtype"),
    ("slice", lambda: slice(None)),
    ("function", lambda: print),
]

# a valid-looking value per parameter name, so that a hostile value in one
# argument meets plausible ones in the others and reaches deep into the op
TYPICAL = {
    "condition": lambda: ft.constant([True, False, True]),
    "labels": lambda: ft.constant(np.array([0, 2], np.int64)),
    "indices": lambda: ft.constant(np.array([[0], [1]], np.int64)),
    "ids": lambda: ft.constant(np.array([0, 1], np.int64)),
    "mask": lambda: ft.constant([True, False]),
    "axis": lambda: -1,
    "axes": lambda: 1,
    "perm": lambda: [1, 0],
    "shape": lambda: [3, 2],
    "dims": lambda: [2, 2],
    "multiples": lambda: [1, 2],
    "paddings": lambda: [[1, 1], [0, 0]],
    "begin": lambda: [0, 1],
    "size": lambda: [1, 2],
    "depth": lambda: 3,
    "dtype": lambda: ft.float32,
    "num": lambda: None,
    "num_or_size_splits": lambda: 2,
    "strides": lambda: 1,
    "stride": lambda: 1,
    "padding": lambda: "SAME",
    "ksize": lambda: 2,
    "rate": lambda: 0.5,
    "equation": lambda: "ij,jk->ik",
    "values": lambda: [ft.ones((2, 3)), ft.ones((2, 3))],
    "num_rows": lambda: 2,
    "start": lambda: 0.0,
    "stop": lambda: 1.0,
    "limit": lambda: 5,
    "variance_epsilon": lambda: 1e-3,
    "filters": lambda: ft.ones((1, 1, 3, 2)),
    "input": lambda: ft.ones((1, 2, 2, 3)),
    "output_shape": lambda: [1, 2, 2, 3],
    "seed": lambda: 1,
    "ord": lambda: "euclidean",
    "bias": lambda: ft.ones((3,)),
    "value": lambda: ft.ones((2, 3)),
}


def typical(pname):
    f = TYPICAL.get(pname)
    return f() if f is not None else ft.constant(
        np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.3]], np.float32))


def parameters(fn):
    """The parameters a call fills: all but `name`, `**kwargs`; `*args` as one slot."""
    out = []
    for p in inspect.signature(fn).parameters.values():
        if p.name == "name" or p.kind is p.VAR_KEYWORD:
            continue
        out.append(p)
    return out


def build_call(fn, choices):
    """Positional args and kwargs for `fn` from `choices`: {parameter name: value}
    for the hostile ones; the others take a typical value (required) or their default."""
    args, kwargs = [], {}
    skipped = False
    for p in parameters(fn):
        if p.name in choices:
            v = choices[p.name]
        elif p.default is p.empty or p.kind is p.VAR_POSITIONAL:
            v = typical(p.name)
        else:
            skipped = True  # later arguments go by keyword
            continue
        if p.kind is p.VAR_POSITIONAL:
            args += [v, typical("x")]
        elif p.kind is p.KEYWORD_ONLY or skipped:
            kwargs[p.name] = v
        else:
            args.append(v)
    return args, kwargs


def _watchable(values, depth=0):
    out = []
    for v in values:
        if isinstance(v, (list, tuple)) and len(v) < 8 and depth < 2:
            out += _watchable(v, depth + 1)
        elif isinstance(v, ft.Tensor) and v.dtype.kind == "f":
            out.append(v)
    return out


def _flat_outputs(r):
    if isinstance(r, ft.Tensor):
        return [r] if r.dtype.kind == "f" else []
    if isinstance(r, (list, tuple)):
        return [t for x in r for t in _flat_outputs(x)]
    return []


def check_call(op_name, fn, args, kwargs, grad=False):
    """Calls fn(*args, **kwargs) from this file and checks the contract; with
    `grad`, under a tape watching every float tensor argument, and then takes
    the gradient of the float outputs (which must not raise: bad input raises at
    the call, never in the backward sweep). Returns the result, or None when it
    raised as it should; raises AssertionError when the contract is broken."""
    watched = _watchable(list(args) + list(kwargs.values())) if grad else []
    tape = ft.GradientTape(persistent=True) if grad else None
    try:
        if tape is not None:
            tape.__enter__()
            for t in watched:
                tape.watch(t)
        try:
            result = fn(*args, **kwargs)  # the line every message must point at
        except (TypeError, ValueError) as e:
            msg = str(e)
            assert msg.startswith(f"{op_name}: "), f"does not start with {op_name!r}:\n{msg}"
            assert "\n  inputs: " in msg, f"no inputs description:\n{msg}"
            assert f"called at {HERE}:" in msg, f"does not point at the caller:\n{msg}"
            return None
        except Exception as e:  # noqa: BLE001
            raise AssertionError(f"{type(e).__name__} is not a TypeError/ValueError: {e}") from e
    finally:
        if tape is not None:
            tape.__exit__(None, None, None)
    if tape is not None and watched:
        for out in _flat_outputs(result):
            try:
                tape.gradient(out, watched)
            except Exception as e:  # noqa: BLE001
                raise AssertionError(
                    f"the forward passed but the gradient raised {type(e).__name__}: {e}") from e
    return result


# --- the subprocess batch ---------------------------------------------------------------


def run_batch(fam, n, seed):
    """Draws `n` calls per op of family `fam` (one or two hostile arguments
    each) and checks each; prints the broken ones. Returns their number."""
    rng = np.random.default_rng(seed)
    bad = 0
    for op_name, fn in sorted(public_functions().items()):
        if family(op_name, fn) != fam:
            continue
        params = [p.name for p in parameters(fn)]
        for _ in range(n):
            k = int(rng.integers(1, min(2, len(params)) + 1))
            picked = rng.choice(len(params), k, replace=False)
            choices = {params[i]: HOSTILE[int(rng.integers(len(HOSTILE)))][1]() for i in picked}
            args, kwargs = build_call(fn, choices)
            try:
                check_call(op_name, fn, args, kwargs)
            except AssertionError as e:
                bad += 1
                print(f"{op_name} {sorted(choices)}: {e}".splitlines()[0], file=sys.stderr)
    return bad


if __name__ == "__main__":
    import resource

    # a size that slips through must not take the machine's memory
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, resource.RLIM_INFINITY))
    sys.setrecursionlimit(10_000)
    fam_, n_, seed_ = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sys.exit(1 if run_batch(fam_, n_, seed_) else 0)
