"""Conversion of Python data and NumPy values to Tensors (Note [Weak Python
data] and Note [Nested data] in fasttape/_core/_convert.pxi)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fasttape as ft

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(code):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


_BAD_LISTS = """
    import numpy as np, fasttape as ft
    def cyclic():
        l = [1.0]
        l.append(l)
        return l
    def deep(n=200_000):
        l = 1.0
        for _ in range(n):
            l = [l]
        return l
    def deep_tuple(n=200_000):
        l = (1.0,)
        for _ in range(n):
            l = (l, l)[:1]
        return l
    def with_tensor():
        l = [ft.constant(1.0)]
        l.append(l)
        return l
    BAD = {"cyclic": cyclic, "deep": deep, "deep tuple": deep_tuple,
           "cyclic with a tensor": with_tensor}
"""


@pytest.mark.parametrize("bad", ["cyclic", "deep", "deep tuple", "cyclic with a tensor"])
def test_convert_nested_too_deep_raises_for_every_entry_point(bad):
    """A list that contains itself or nests 200,000 deep is a ValueError at
    conversion, from every way in: constant, Variable, operators, every op of
    the table (its first argument replaced), assign. Runs in a subprocess:
    the bug was a segfault."""
    code = _BAD_LISTS + f"""
    from fasttape.testing.op_db import OP_SPECS
    _bad = BAD[{bad!r}]()  # built once: 200,000 levels take a while to build
    make = lambda: _bad
    t = ft.constant([1.0])
    v = ft.Variable([1.0])
    calls = {{
        "constant": lambda: ft.constant(make()),
        "constant float64": lambda: ft.constant(make(), dtype=ft.float64),
        "convert_to_tensor": lambda: ft.convert_to_tensor(make()),
        "Variable": lambda: ft.Variable(make()),
        "assign": lambda: v.assign(make()),
        "t + l": lambda: t + make(),
        "l * t": lambda: make() * t,
        "add": lambda: ft.add(make(), 1.0),
        "stack": lambda: ft.stack([make()]),
        "np.add": lambda: np.add(t, make()),
    }}
    for spec in OP_SPECS:
        shapes, attrs = spec.samples()[0]
        args = spec.make_args(shapes, attrs, 0)
        calls["op " + spec.label] = (
            lambda spec=spec, args=args, attrs=attrs:
            spec.fn(make(), *[ft.constant(a) for a in args[1:]], **attrs))
    for label, call in calls.items():
        print(label, flush=True)
        try:
            out = call()
        except (ValueError, TypeError) as e:
            assert "64 levels" in str(e) or label.startswith("op "), (label, str(e))
        except Exception:  # a spec's own Python code on the list (x[key], 3 * x)
            assert label.startswith("op "), label
        else:  # only Python's own list operators may go through, never to a Tensor
            assert label.startswith("op ") and not isinstance(out, ft.Tensor), label
    print("ALL OK")
    """
    proc = _run(code)
    assert proc.returncode == 0 and "ALL OK" in proc.stdout, (
        f"rc={proc.returncode}; last call: {proc.stdout.strip().splitlines()[-1:]}\n"
        f"{proc.stderr[-2000:]}")


def test_convert_nested_64_levels_is_fine_65_raises():
    ok = 1.0
    for _ in range(32):
        ok = [ok]
    assert ft.constant(ok).ndim == 32
    bad = 1.0
    for _ in range(65):
        bad = [bad]
    with pytest.raises(ValueError, match="64 levels"):
        ft.constant(bad)


def test_convert_python_floats_exact_for_float64():
    assert ft.constant(0.1, dtype=ft.float64).numpy().item() == 0.1
    assert ft.Variable(0.1, dtype=np.float64).numpy().item() == 0.1
    assert ft.convert_to_tensor([[0.1, 0.7]], ft.float64).numpy().tolist() == [[0.1, 0.7]]
    v = ft.Variable(np.float64(0.0))
    v.assign(0.1)
    assert v.numpy().item() == 0.1
    v.assign_add(0.2)
    assert v.numpy().item() == 0.1 + 0.2
    x = ft.constant(np.array([0.5, -1.0]))
    assert ft.where(x > 0, x, 0.1).numpy().tolist() == [0.5, 0.1]
    assert ft.clip_by_value(x, -0.8, 0.09).numpy().tolist() == [0.09, -0.8]
    assert (x + 0.1).numpy().tolist() == [0.5 + 0.1, -1.0 + 0.1]
    assert (x + [0.1, 0.1]).numpy().tolist() == [0.5 + 0.1, -1.0 + 0.1]
    assert ft.constant(0.1).dtype == ft.float32  # alone: TensorFlow's default


@pytest.mark.parametrize("call", [
    lambda: ft.constant(300, dtype=ft.uint8),
    lambda: ft.constant(-1, dtype=ft.uint8),
    lambda: ft.constant([1, 2**31], dtype=ft.int32),
    lambda: ft.constant(2**63),
    lambda: ft.constant(2**70),
    lambda: ft.constant([1, 2**70], dtype=ft.int64),
    lambda: ft.constant(np.int64(2**40), dtype=ft.int32),
    lambda: ft.constant(np.array([-1]), dtype=ft.uint32),
    lambda: ft.constant(2, dtype=ft.bool),
    lambda: ft.Variable([1]).assign(np.array([2**40])),
    lambda: ft.Variable(np.int8(1)).assign(200),
    lambda: ft.Variable([1], dtype=ft.uint8).assign_add([256]),
    lambda: ft.constant([1], ft.uint8) + 300,
    lambda: ft.constant([1]) * 2**40,
    lambda: ft.constant([1.0]) + 2**200,
    lambda: ft.constant([1.0], ft.float16) * 2**17,
    lambda: ft.constant(2**200, ft.float32),
    lambda: ft.constant(70000, ft.float16),
    lambda: ft.clip_by_value(ft.constant([1.0]), 0, 2**200),
    lambda: ft.where(ft.constant([True]), ft.constant([1.0], ft.float16), 2**17),
], ids=["300->uint8", "-1->uint8", "2**31->int32", "2**63", "2**70", "2**70->int64",
        "np.int64->int32", "array -1->uint32", "2->bool", "assign 2**40", "assign 200 int8",
        "assign_add 256 uint8", "uint8+300", "int32*2**40", "float32+2**200", "float16*2**17",
        "2**200->float32", "70000->float16", "clip bound 2**200", "where branch 2**17"])
def test_convert_integers_out_of_range_raise(call):
    """Integers never wrap: a value out of the target dtype's range raises ValueError."""
    with pytest.raises(ValueError, match="range|bounds"):
        call()


def test_convert_integers_in_range():
    assert ft.constant(255, dtype=ft.uint8).numpy().item() == 255
    assert ft.constant(2**40).dtype == ft.int64
    assert ft.constant([2**63 - 1]).numpy().item() == 2**63 - 1
    assert ft.constant(2**70, dtype=ft.float32).numpy().item() == np.float32(2**70)
    assert ft.constant(np.array([3], np.int64), dtype=ft.int8).dtype == ft.int8
    with pytest.raises(TypeError, match="without loss"):
        ft.constant(1.5, dtype=ft.int32)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_convert_np_matrix_becomes_plain_array():
    m = np.matrix([[1.0, 2.0]], dtype=np.float32)
    t = ft.constant(m)
    assert type(t.numpy()) is np.ndarray
    assert t[0].shape == (2,)
    assert type((ft.constant([[1.0, 1.0]]) + m).numpy()) is np.ndarray
    assert (ft.constant([[1.0, 1.0]]) + m)[0].shape == (2,)
    assert type(ft.Variable(m).numpy()) is np.ndarray
    m[0, 0] = 5.0
    assert t.numpy()[0, 0] == 1.0  # copied


@pytest.mark.parametrize("call", [
    lambda m: ft.constant(m), lambda m: ft.convert_to_tensor(m), lambda m: ft.Variable(m),
    lambda m: ft.constant([1.0, 2.0], ft.float64) + m,
    lambda m: np.multiply(ft.constant([1.0, 2.0], ft.float64), m),
    lambda m: ft.Variable([1.0, 2.0]).assign(m), lambda m: ft.concat([m, m], 0),
    lambda m: ft.reduce_sum(m),
])
def test_convert_masked_array_raises(call):
    """(`m * tensor` with the masked array on the left is NumPy's own masked
    arithmetic: it returns a MaskedArray that keeps the mask.)"""
    m = np.ma.array([1.0, 2.0], mask=[False, True])
    with pytest.raises(TypeError, match="masked array"):
        call(m)


def test_convert_pow_gradient_of_big_python_base():
    """d/dy b**y = b**y log b, also for Python ints beyond int64 (no NaN, no OverflowError)."""
    y = ft.constant(0.5, ft.float64)
    for b in (2**63, 2**64, 2**100):
        with ft.GradientTape() as tape:
            tape.watch(y)
            z = ft.pow(b, y)
        expected = b**0.5 * np.log(float(b))
        np.testing.assert_allclose(tape.gradient(z, y).numpy(), expected, rtol=1e-12)
    with ft.GradientTape() as tape:  # float32: 1.3e11, as the issue computed it
        y32 = ft.constant(0.5)
        tape.watch(y32)
        z = ft.pow(2**63, y32)
    np.testing.assert_allclose(tape.gradient(z, y32).numpy(), 2**31.5 * 63 * np.log(2), rtol=1e-6)
