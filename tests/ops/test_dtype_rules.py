"""dtype rules over the whole op table (SPEC §1, docs/design.md "Python numbers,
NumPy scalars, dtypes and shapes"): float32 stays float32, a float64 ndarray
beside float32 tensors raises the one TypeError, Variables in give snapshots
out, integer ops keep TensorFlow's dtypes. Driven by the OpSpecs of
fasttape/testing/op_db.py, so a new op is covered by adding its spec."""

import numpy as np
import pytest

import fasttape as ft
from fasttape import nest
from fasttape.testing.op_db import OP_SPECS


def _first_args(spec):
    shapes, attrs = spec.samples()[0]
    return spec.make_args(shapes, attrs, seed=0), attrs


def _outputs(result):
    return [o for o in nest.flatten(result) if isinstance(o, ft.Tensor)]


def _float_specs():
    out = []
    for spec in OP_SPECS:
        if spec.name == "cast":  # its output dtype is its argument
            continue
        args, _ = _first_args(spec)
        if any(a.dtype.kind == "f" for a in args):
            out.append(spec)
    return out


FLOAT_SPECS = _float_specs()


@pytest.mark.parametrize("spec", FLOAT_SPECS, ids=lambda s: s.label)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_float_inputs_keep_their_precision(spec, dtype):
    """Every op given float32 (float64) inputs returns float32 (float64) floats."""
    args, attrs = _first_args(spec)
    ins = [ft.constant(a.astype(dtype) if a.dtype.kind == "f" else a) for a in args]
    for out in _outputs(spec.fn(*ins, **attrs)):
        if out.dtype.kind == "f":
            assert out.dtype == dtype, f"{spec.label}: {np.dtype(dtype).name} in, {out.dtype} out"


MIXED = [(spec, i) for spec in FLOAT_SPECS
         for i, a in enumerate(_first_args(spec)[0]) if a.dtype.kind == "f"
         and sum(b.dtype.kind == "f" for b in _first_args(spec)[0]) >= 2]


@pytest.mark.parametrize("spec,i", MIXED, ids=lambda v: v.label if hasattr(v, "label") else str(v))
def test_dtype_float64_ndarray_beside_float32_tensors_raises(spec, i):
    """One dtype rule for every multi-input op: a raw float64 ndarray next to
    float32 tensors raises TypeError naming both dtypes (never a silent cast)."""
    args, attrs = _first_args(spec)
    ins = [a if j == i else ft.constant(a.astype(np.float32) if a.dtype.kind == "f" else a)
           for j, a in enumerate(args)]
    with pytest.raises(TypeError) as info:
        spec.fn(*ins, **attrs)
    assert "float32" in str(info.value) and "float64" in str(info.value), str(info.value)


def _changed(a):
    if a.dtype == np.bool_:
        return ~a
    return a + 1 if a.dtype.kind in "iu" else a * 2 + 1


@pytest.mark.parametrize("spec", OP_SPECS, ids=lambda s: s.label)
def test_dtype_variable_inputs_give_snapshots(spec):
    """An op never hands back a live Variable (identity, cast to the same dtype,
    reshape to the same shape, ...): its result does not change on assign."""
    args, attrs = _first_args(spec)
    vs = [ft.Variable(a) for a in args]
    outs = _outputs(spec.fn(*vs, **attrs))
    assert outs
    for o in outs:
        assert type(o) is ft.Tensor, f"{spec.label} returned a {type(o).__name__}"
    before = [np.array(o) for o in outs]
    for v, a in zip(vs, args, strict=True):
        v.assign(_changed(a))
    for o, b in zip(outs, before, strict=True):
        np.testing.assert_array_equal(np.array(o), b)


# --- ops that could hand back their input unchanged ----------------------------------

NO_OP_CALLS = {
    "+v": lambda v: +v,
    "cast to its dtype": lambda v: ft.cast(v, v.dtype),
    "identity": ft.identity,
    "stop_gradient": ft.stop_gradient,
    "convert_to_tensor": ft.convert_to_tensor,
    "constant": ft.constant,
    "constant(shape=same)": lambda v: ft.constant(v, shape=v.shape),
    "reshape to its shape": lambda v: ft.reshape(v, v.shape),
    "transpose identity perm": lambda v: ft.transpose(v, [0, 1]),
    "squeeze nothing": lambda v: ft.squeeze(v, []),
    "broadcast_to its shape": lambda v: ft.broadcast_to(v, v.shape),
    "tile once": lambda v: ft.tile(v, [1, 1]),
    "pad by zero": lambda v: ft.pad(v, [[0, 0], [0, 0]]),
    "slice all": lambda v: ft.slice(v, [0, 0], [-1, -1]),
    "concat one": lambda v: ft.concat([v], 0),
    "clip wide": lambda v: ft.clip_by_value(v, -10.0, 10.0),
    "maximum itself": lambda v: ft.maximum(v, v),
    "v + 0": lambda v: v + 0,
    "v * 1": lambda v: v * 1,
    "v ** 1": lambda v: v**1,
    "where all": lambda v: ft.where(ft.constant([[True, True]]), v, 0.0),
    "getitem [...]": lambda v: v[...],
    "getitem [:]": lambda v: v[:],
    "read_value": lambda v: v.read_value(),
    "value": lambda v: v.value(),
    "np.asarray via ft.constant": lambda v: ft.constant(np.asarray(v)),
    "reduce over no axis": lambda v: ft.reduce_sum(v, axis=[]),
    "split in one": lambda v: ft.split(v, 1)[0],
    "unstack/stack": lambda v: ft.stack(ft.unstack(v)),
    "linalg.matrix_transpose twice": lambda v: ft.linalg.matrix_transpose(
        ft.linalg.matrix_transpose(v)),
}


@pytest.mark.parametrize("call", list(NO_OP_CALLS), ids=str)
def test_dtype_no_op_on_variable_gives_snapshot(call):
    """`ft.cast(v, v.dtype)`, `+v` and every other call that may return its input
    unchanged return a Tensor snapshot: `v.assign` afterwards does not show."""
    v = ft.Variable([[1.0, 2.0]])
    out = NO_OP_CALLS[call](v)
    assert type(out) is ft.Tensor, type(out)
    v.assign([[5.0, 6.0]])
    np.testing.assert_array_equal(np.array(out), [[1.0, 2.0]])


def test_dtype_snapshot_of_variable_still_has_gradient():
    v = ft.Variable([1.0, 2.0])
    with ft.GradientTape() as tape:
        y = ft.reduce_sum(+v * ft.cast(v, v.dtype))
    np.testing.assert_array_equal(tape.gradient(y, v).numpy(), [2.0, 4.0])


# --- output dtypes as TensorFlow's ---------------------------------------------------

I32 = ft.constant([[1, 2], [3, 4]])
F32 = ft.constant([[1.0, 2.0], [3.0, 4.0]])
TF_DTYPES = [  # (label, call, TensorFlow's output dtype)
    ("linspace ints", lambda: ft.linspace(0, 1, 5), np.float32),
    ("linspace floats", lambda: ft.linspace(0.0, 1.0, 5), np.float32),
    ("linspace float64 tensor", lambda: ft.linspace(ft.constant(0.0, ft.float64), 1, 3),
     np.float64),
    ("range ints", lambda: ft.range(5), np.int32),
    ("range floats", lambda: ft.range(0.5, 3), np.float32),
    ("range int64", lambda: ft.range(np.int64(5)), np.int64),
    ("range float64 delta", lambda: ft.range(0, 1, np.float64(0.25)), np.float64),
    ("reduce_sum int32", lambda: ft.reduce_sum(I32), np.int32),
    ("reduce_sum int32 axis", lambda: ft.reduce_sum(I32, axis=0), np.int32),
    ("reduce_prod int32", lambda: ft.reduce_prod(I32), np.int32),
    ("reduce_sum uint8", lambda: ft.reduce_sum(ft.constant([200, 100], ft.uint8)), np.uint8),
    ("reduce_mean int32", lambda: ft.reduce_mean(I32), np.int32),
    ("reduce_max int32", lambda: ft.reduce_max(I32), np.int32),
    ("reduce_min int32", lambda: ft.reduce_min(I32), np.int32),
    ("argmax", lambda: ft.argmax(F32), np.int64),
    ("argmin int32 out", lambda: ft.argmin(F32, output_type=ft.int32), np.int32),
    ("one_hot", lambda: ft.one_hot([0, 1], 2), np.float32),
    ("where coordinates", lambda: ft.where(F32 > 2), np.int64),
    ("zeros", lambda: ft.zeros([2]), np.float32),
    ("ones", lambda: ft.ones([2]), np.float32),
    ("eye", lambda: ft.eye(2), np.float32),
    ("fill float", lambda: ft.fill([2], 1.5), np.float32),
    ("fill int", lambda: ft.fill([2], 3), np.int32),
    ("constant float", lambda: ft.constant(0.1), np.float32),
    ("constant int", lambda: ft.constant(1), np.int32),
    ("constant big int", lambda: ft.constant(2**40), np.int64),
    ("constant bool", lambda: ft.constant(True), np.bool_),
    ("int32 + int", lambda: I32 + 1, np.int32),
    ("int32 * int32", lambda: I32 * I32, np.int32),
    ("int32 // int", lambda: I32 // 2, np.int32),
    ("int32 % int", lambda: I32 % 2, np.int32),
    ("int32 ** int", lambda: I32**2, np.int32),
    ("int32 / int32", lambda: I32 / I32, np.float64),  # TensorFlow's truediv
    ("int32 @ int32", lambda: I32 @ I32, np.int32),
    ("abs int32", lambda: ft.abs(I32), np.int32),
    ("square int32", lambda: ft.square(I32), np.int32),
    ("float32 + float", lambda: F32 + 0.1, np.float32),
    ("float32 * np.float32", lambda: F32 * np.float32(2), np.float32),
    ("comparison", lambda: F32 < 2.0, np.bool_),
    ("matmul float32", lambda: F32 @ F32, np.float32),
    ("uint8 + int", lambda: ft.constant([1], ft.uint8) + 2, np.uint8),
]


@pytest.mark.parametrize("label,call,dtype", TF_DTYPES, ids=[t[0] for t in TF_DTYPES])
def test_dtype_outputs_follow_tensorflow(label, call, dtype):
    assert call().dtype == np.dtype(dtype)


def test_dtype_linspace_values_and_integer_tensors():
    np.testing.assert_array_equal(ft.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    with pytest.raises(TypeError, match="linspace: start and stop must be floating point"):
        ft.linspace(ft.constant(0), ft.constant(1), 3)
    with pytest.raises(TypeError, match="float32 and float64"):
        ft.linspace(ft.constant(0.0), np.float64(1.0), 3)


def test_dtype_integer_division_by_zero_raises():
    x = ft.constant([7, -7])
    for call in (lambda: x // 0, lambda: x % 0, lambda: ft.floordiv(x, ft.constant([1, 0])),
                 lambda: ft.math.floormod(x, [0, 1]) if hasattr(ft.math, "floormod")
                 else ft.mod(x, [0, 1])):
        with pytest.raises(ft.errors.InvalidArgumentError, match="integer division by zero"):
            call()
    np.testing.assert_array_equal((x // 2).numpy(), [3, -4])
    with np.errstate(divide="ignore"):  # floats: IEEE, as TensorFlow
        assert np.isinf((ft.constant([1.0]) // 0.0).numpy()).all()
        assert np.isinf((ft.constant([1.0]) // 0).numpy()).all()


# --- Python numbers are weak and exact; NumPy scalars keep their dtype ------------------

X64 = np.array([0.1, -0.8, 0.09, 0.3, 2.5])


def _binary_public_ops():
    from fasttape.ops._registry import OPS

    return [(n, f) for n, f in OPS.items()
            if f.op.elementwise and f.op.input_names == ("x", "y")]


BINARY_OPS = _binary_public_ops()


@pytest.mark.parametrize("name,fn", BINARY_OPS, ids=[n for n, _ in BINARY_OPS])
@pytest.mark.parametrize("side", ["right", "left"])
def test_dtype_python_float_exact_in_float64_binary_ops(name, fn, side):
    """A Python float operand of a float64 op computes with the exact float64
    value: the op's forward on float64(0.1) gives the same bits."""
    x = ft.constant(X64)
    args = (x, 0.1) if side == "right" else (0.1, x)
    ref_args = (X64, np.float64(0.1)) if side == "right" else (np.float64(0.1), X64)
    try:
        with np.errstate(all="ignore"):
            ref = fn.op.forward(*ref_args)
    except TypeError:  # bool and integer-only ops
        with pytest.raises(TypeError):
            fn(*args)
        return
    with np.errstate(all="ignore"):
        out = fn(*args)
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(out.numpy(), ref)


NUMBER_ARGS = {  # (function, parameter): a float64 call with a Python number, NumPy's answer
    ("clip_by_value", "clip_value_min"): (
        lambda: ft.clip_by_value(ft.constant(X64), -0.8, 0.09), np.clip(X64, -0.8, 0.09)),
    ("clip_by_value", "clip_value_max"): (
        lambda: ft.clip_by_value(ft.constant(X64), 0.09, 0.3), np.clip(X64, 0.09, 0.3)),
    ("where", "x"): (lambda: ft.where(ft.constant(X64 > 0.2), 0.1, ft.constant(X64)),
                     np.where(X64 > 0.2, 0.1, X64)),
    ("where", "y"): (lambda: ft.where(ft.constant(X64 > 0.2), ft.constant(X64), 0.1),
                     np.where(X64 > 0.2, X64, 0.1)),
    ("pad", "constant_values"): (
        lambda: ft.pad(ft.constant(X64), [[1, 1]], constant_values=0.1),
        np.pad(X64, 1, constant_values=0.1)),
    ("one_hot", "on_value"): (
        lambda: ft.one_hot([0, 1], 2, on_value=0.1, off_value=0.3, dtype=ft.float64),
        np.array([[0.1, 0.3], [0.3, 0.1]])),
    ("one_hot", "off_value"): (
        lambda: ft.one_hot([1], 2, off_value=0.7, dtype=ft.float64), np.array([[0.7, 1.0]])),
    ("leaky_relu", "alpha"): (lambda: ft.nn.leaky_relu(ft.constant(X64 - 1), alpha=0.1),
                              np.where(X64 - 1 > 0, X64 - 1, 0.1 * (X64 - 1))),
    ("fill", "value"): (lambda: ft.fill([2], np.float64(0.1)), np.full(2, 0.1)),
    ("range", "start"): (lambda: ft.range(0.1, 1.0, 0.3, dtype=ft.float64),
                         np.arange(0.1, 1.0, 0.3)),
    ("linspace", "start"): (lambda: ft.linspace(ft.constant(0.1, ft.float64), 0.7, 4),
                            np.linspace(0.1, 0.7, 4)),
    ("constant", "value"): (lambda: ft.constant(0.1, dtype=ft.float64), np.array(0.1)),
    ("constant", "list"): (lambda: ft.constant([0.1, [0.2]][:1], dtype=ft.float64),
                           np.array([0.1])),
    ("convert_to_tensor", "value"): (lambda: ft.convert_to_tensor([0.1, 0.7], ft.float64),
                                     np.array([0.1, 0.7])),
    ("Variable", "initial_value"): (lambda: ft.Variable(0.1, dtype=np.float64), np.array(0.1)),
    ("Variable.assign", "value"): (lambda: ft.Variable(np.float64(0.3)).assign(0.1), np.array(0.1)),
    ("Variable.assign_add", "delta"): (lambda: ft.Variable(X64).assign_add([0.1] * 5), X64 + 0.1),
    ("Variable.assign_sub", "delta"): (lambda: ft.Variable(X64).assign_sub([0.1] * 5), X64 - 0.1),
    ("add", "list operand"): (lambda: ft.constant(X64) + [0.1] * 5, X64 + 0.1),
    ("nn.batch_normalization", "variance_epsilon"): (
        lambda: ft.nn.batch_normalization(ft.constant(X64), 0.1, 0.3, None, None, 0.001),
        (X64 - 0.1) / np.sqrt(0.3 + 0.001)),
    ("nn.layer_norm", "epsilon"): (
        lambda: ft.nn.layer_norm(ft.constant(X64), epsilon=0.1),
        (X64 - X64.mean()) * (1 / np.sqrt(X64.var() + 0.1))),
}


@pytest.mark.parametrize("key", list(NUMBER_ARGS), ids=lambda k: ".".join(k))
def test_dtype_python_number_arguments_exact_in_float64(key):
    """Clip bounds, where branches, pad and one-hot values, alpha, epsilons,
    assigned values: a Python number takes the op's float64 exactly."""
    call, ref = NUMBER_ARGS[key]
    out = call()
    if key[0].startswith("nn."):  # several float64 roundings: not the same bits as NumPy's
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-15)
    else:
        np.testing.assert_array_equal(out.numpy(), ref)
    assert out.dtype == ft.float64


def test_dtype_float_default_parameters_are_covered():
    """Every public op parameter with a float default (a Python number the
    caller may pass) is in NUMBER_ARGS or explained here."""
    import inspect

    elsewhere = {("random.normal", "mean"), ("random.normal", "stddev"),  # sampled in float64
                 ("random.truncated_normal", "mean"), ("random.truncated_normal", "stddev")}
    covered = {(f.rsplit(".", 1)[-1], p) for f, p in NUMBER_ARGS}
    missing = []
    for mod, prefix in ((ft, ""), (ft.nn, "nn."), (ft.math, "math."), (ft.linalg, "linalg."),
                        (ft.random, "random.")):
        for name in dir(mod):
            fn = getattr(mod, name)
            if name.startswith("_") or isinstance(fn, type) or not callable(fn):
                continue
            try:
                params = inspect.signature(fn).parameters.values()
            except (TypeError, ValueError):
                continue
            for p in params:
                if isinstance(p.default, float) and (name, p.name) not in covered \
                        and (prefix + name, p.name) not in elsewhere:
                    missing.append(f"{prefix}{name}({p.name}=)")
    assert not missing, missing


def test_dtype_random_samples_are_exact_for_float64():
    ft.random.set_seed(0)
    a = ft.random.normal([3], mean=0.1, stddev=0.0, dtype=ft.float64)
    np.testing.assert_array_equal(a.numpy(), np.full(3, 0.1))


@pytest.mark.parametrize("name,fn", BINARY_OPS, ids=[n for n, _ in BINARY_OPS])
def test_dtype_numpy_scalars_keep_their_dtype(name, fn):
    """NumPy scalars are strongly typed, as TensorFlow's: float32 with np.float64
    raises the TypeError naming both dtypes (both orders, and the operators);
    np.float32 goes through."""
    x = ft.constant(X64.astype(np.float32))
    for args in ((x, np.float64(0.5)), (np.float64(0.5), x)):
        with pytest.raises(TypeError) as info:
            fn(*args)
        msg = str(info.value)
        if "bool" not in msg:
            assert "float32" in msg and "float64" in msg, msg
    try:
        with np.errstate(all="ignore"):
            ref = fn.op.forward(X64.astype(np.float32), np.float32(0.5))
    except TypeError:
        return
    with np.errstate(all="ignore"):
        assert fn(x, np.float32(0.5)).dtype == ref.dtype


def test_dtype_numpy_scalars_with_operators_and_multi_input_ops():
    x = ft.constant([1.0, 2.0])
    for call in (lambda: x + np.float64(1), lambda: np.float64(1) + x, lambda: x * np.float64(2),
                 lambda: ft.clip_by_value(x, np.float64(0), 1.0),
                 lambda: ft.where(x > 1, x, np.float64(0)),
                 lambda: ft.concat([x, np.float64([1.0])], 0),
                 lambda: ft.constant([1], ft.int32) + np.int64(1)):
        with pytest.raises(TypeError, match="different dtypes"):
            call()
    assert (x + np.float32(1)).dtype == ft.float32
    assert (x + float(np.float64(1))).dtype == ft.float32  # a Python float is weak


_INT_RESULTS = {  # ops whose result on int32 inputs is not int32, as in TensorFlow
    "divide": "float64",  # truediv
    "argmax": "int64", "argmin": "int64",  # output_type's default
    "one_hot": "float32",  # dtype's default
    "count_nonzero": "int64",  # dtype's default
    "where[indices]": "int64",  # coordinates, as TensorFlow
}


@pytest.mark.parametrize("spec", [s for s in OP_SPECS if s.name != "cast"
                                  and s.samples()[0][0]],  # (creation: no inputs)
                         ids=lambda s: s.label)
def test_dtype_int32_inputs_give_int32(spec):
    """Every op that takes int32 inputs returns int32 (never NumPy's int64
    widening), but for comparisons (bool) and the ops in _INT_RESULTS."""
    args, attrs = _first_args(spec)
    args = [np.nan_to_num(a, posinf=9, neginf=-9) if a.dtype.kind == "f" else a for a in args]
    ins = [ft.constant(np.round(a * 3).astype(np.int32) if a.dtype.kind == "f" else
                       a.astype(np.int32) if a.dtype.kind in "iu" else a) for a in args]
    try:
        with np.errstate(all="ignore"):
            out = spec.fn(*ins, **attrs)
    except (TypeError, ValueError):
        pytest.skip("float-only op")
    dtypes = {o.dtype.name for o in _outputs(out)}
    expected = _INT_RESULTS.get(spec.label, _INT_RESULTS.get(spec.name, "int32"))
    assert dtypes <= {expected, "bool"}, dtypes


def test_dtype_python_number_that_does_not_fit_names_the_op():
    i8 = ft.constant([1], ft.int8)
    with pytest.raises(ValueError, match=r"(?s)^where: .*out of the range.*int8"):
        ft.where(ft.constant([True]), i8, 300)
    with pytest.raises(TypeError, match=r"(?s)^clip_by_value: .*Python float"):
        ft.clip_by_value(ft.constant([1]), 0.5, 2)
    with pytest.raises(ValueError, match=r"(?s)^pad: .*out of the range"):
        ft.pad(i8, [[1, 0]], constant_values=-200)
    with pytest.raises(ValueError, match=r"(?s)^one_hot: .*out of the range"):
        ft.one_hot([0], 2, on_value=256, dtype=ft.uint8)


def test_dtype_operand_data_that_does_not_fit_names_the_op():
    """List operands of the operators take the tensor's dtype; when they cannot,
    the error names the op and both operands."""
    with pytest.raises(TypeError, match=r"(?s)^add: .*without loss.*y: list"):
        ft.constant([1]) + [1.5]
    with pytest.raises(ValueError, match=r"(?s)^multiply: .*out of the range.*x: list"):
        [300] * ft.constant([1], ft.uint8)


def _public_functions():
    import inspect

    out = {}
    for mod, prefix in ((ft, ""), (ft.math, "math."), (ft.nn, "nn."), (ft.linalg, "linalg.")):
        for name in dir(mod):
            fn = getattr(mod, name)
            kind = type(fn).__name__
            if name.startswith("_") or isinstance(fn, type) or not (
                    inspect.isfunction(fn) or kind in ("builtin_function_or_method",
                                                       "cython_function_or_method")):
                continue
            out.setdefault(id(fn), (prefix + name, fn))
    return sorted(out.values(), key=lambda p: p[0])


@pytest.mark.parametrize("name,fn", _public_functions(), ids=lambda v: v if isinstance(v, str)
                         else "")
def test_dtype_public_functions_never_return_a_variable(name, fn):
    """Every public function called with Variables (one or two of them) returns
    no live Variable: later assigns do not show in the result."""
    v = ft.Variable([[1.0, 2.0], [3.0, 5.0]])
    called = False
    for args in ((v,), (v, v)):
        try:
            with np.errstate(all="ignore"):
                out = fn(*args)
        except Exception:  # needs other arguments: covered by the op table above
            continue
        called = True
        for o in nest.flatten(out) if isinstance(out, (list, tuple, dict)) else [out]:
            assert not isinstance(o, ft.Variable), f"{name}{len(args)} returned a Variable"
    if not called:
        pytest.skip("takes other arguments")
