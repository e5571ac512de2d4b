"""In-place VJPs (Note [Gradients in place] in fasttape/_core/_sweep.pxi): the
sweep writes a VJP's result into the gradient's buffer only when nothing
else can see that buffer, and the results are bitwise those of the ordinary
VJPs. Every op of the table with an in-place VJP is checked."""

import contextlib
import weakref

import numpy as np
import pytest

import fasttape as ft
from fasttape._core import core


@contextlib.contextmanager
def _in_place(enabled):
    previous = core.set_in_place_vjps(enabled)
    try:
        yield
    finally:
        core.set_in_place_vjps(previous)


def _both(fn):
    """fn() with in-place VJPs off and on: (results off, results on, in-place calls)."""
    with _in_place(False):
        off = fn()
    c0 = core.in_place_count()
    with _in_place(True):
        on = fn()
    return off, on, core.in_place_count() - c0


def _assert_same(off, on):
    for a, b in zip(off, on, strict=True):
        if a is None or b is None:
            assert a is None and b is None
        else:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), strict=True)


IN_PLACE_OPS = [op for op in core.registered_ops() if op.in_place_vjps]
# inputs the ops take besides floats: the table's in-place ops must be listed here
# when they do (the test fails otherwise, naming the op)
_OTHER_INPUTS = {"keep": lambda rng, shape: rng.uniform(size=shape) > 0.5}


def test_the_table_has_in_place_vjps():
    names = {op.name for op in IN_PLACE_OPS}
    assert {"multiply", "divide", "subtract", "negative", "exp", "tanh", "sigmoid", "relu",
            "_masked"} <= names


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "op, name", [pytest.param(op, n, id=f"{op.name}-{n}") for op in IN_PLACE_OPS
                 for n in op.in_place_vjps])
def test_every_in_place_vjp_equals_its_vjp_bitwise(op, name, dtype):
    rng = np.random.default_rng(0)
    shape = (5, 7)
    values = [_OTHER_INPUTS[n](rng, shape) if n in _OTHER_INPUTS
              else ft.constant(rng.uniform(0.5, 2.0, shape).astype(dtype))
              for n in op.input_names]
    c = ft.constant(rng.standard_normal(shape).astype(dtype))
    k = op.input_names.index(name)
    source = values[k]

    def grads():
        with ft.GradientTape() as tape:
            tape.watch(source)
            # x * 1.0: a temporary input, which only the tape holds (a variant
            # may write into a saved input nobody else sees); c makes the
            # op's output gradient a full array the sweep alone holds
            inputs = [v * 1.0 if i == k else v for i, v in enumerate(values)]
            y = ft.reduce_sum(op.apply(inputs, ()) * c)
            del inputs
        return [tape.gradient(y, source)]

    off, on, n = _both(grads)
    _assert_same(off, on)
    # the op's variant, then multiply's (x * 1.0) into the buffer it returned
    assert n == 2, f"{op.name}: the in-place VJP for {name} was not used"


def test_a_training_step_uses_them_and_matches():
    rng = np.random.default_rng(1)
    x = ft.constant(rng.standard_normal((64, 32)).astype(np.float32))
    w1 = ft.Variable(rng.standard_normal((32, 48)).astype(np.float32) * 0.2)
    w2 = ft.Variable(rng.standard_normal((48, 8)).astype(np.float32) * 0.2)

    def step():
        with ft.GradientTape() as tape:
            h = ft.tanh(x @ w1)
            h = ft.nn.relu(h * 2.0 - 0.1)
            loss = ft.reduce_mean(ft.sigmoid(h @ w2) ** 2)
        return tape.gradient(loss, [w1, w2])

    off, on, n = _both(step)
    _assert_same(off, on)
    assert n >= 3


def test_the_seed_is_never_written():
    x = ft.Variable(np.linspace(0.5, 1.5, 12).reshape(3, 4))
    seed = np.full((3, 4), 2.0)
    with ft.GradientTape() as tape:
        y = ft.exp(x)
    g = tape.gradient(y, x, output_gradients=seed)
    np.testing.assert_array_equal(seed, np.full((3, 4), 2.0))
    np.testing.assert_allclose(g.numpy(), 2.0 * np.exp(x.numpy()))


def test_an_intermediate_source_keeps_its_gradient():
    # z is a source and feeds an op with an in-place VJP: its gradient is
    # read after the sweep, so nothing writes into it
    x = ft.Variable(np.linspace(0.5, 1.5, 12).reshape(3, 4))
    c = ft.constant(np.full((3, 4), 3.0))
    with ft.GradientTape() as tape:
        z = ft.tanh(x) * c
        y = ft.reduce_sum(ft.exp(z) * c)
    gz, gx = tape.gradient(y, [z, x])
    expected_gz = np.exp(z.numpy()) * 3.0
    np.testing.assert_allclose(gz.numpy(), expected_gz)
    np.testing.assert_allclose(gx.numpy(), expected_gz * 3.0 * (1 - np.tanh(x.numpy()) ** 2))


def test_a_gradient_shared_by_two_slots_is_not_written():
    # add hands one array to both inputs; each then goes through an in-place VJP
    rng = np.random.default_rng(2)
    a = ft.Variable(rng.uniform(0.5, 1.5, (4, 6)))
    b = ft.Variable(rng.uniform(0.5, 1.5, (4, 6)))
    c = ft.constant(rng.uniform(0.5, 1.5, (4, 6)))

    def grads():
        with ft.GradientTape() as tape:
            y = ft.reduce_sum((ft.exp(a) + ft.tanh(b)) * c)
        return tape.gradient(y, [a, b])

    off, on, _ = _both(grads)
    _assert_same(off, on)
    np.testing.assert_allclose(on[0].numpy(), c.numpy() * np.exp(a.numpy()))
    np.testing.assert_allclose(on[1].numpy(), c.numpy() * (1 - np.tanh(b.numpy()) ** 2))


def test_persistent_tapes_give_the_same_gradients_each_time():
    rng = np.random.default_rng(3)
    x = ft.Variable(rng.uniform(0.5, 1.5, (5, 5)))
    c = ft.constant(rng.uniform(0.5, 1.5, (5, 5)))
    with ft.GradientTape(persistent=True) as tape:
        y = ft.reduce_sum(ft.sigmoid(ft.exp(x) * c) * c)
    first = tape.gradient(y, x).numpy()
    second = tape.gradient(y, x).numpy()
    np.testing.assert_array_equal(first, second)


def test_saved_values_the_user_holds_are_untouched():
    # the user holds h (tanh's saved output) and e: no VJP may write into them
    x = ft.Variable(np.linspace(0.5, 1.5, 12).reshape(3, 4))
    c = ft.constant(np.full((3, 4), 3.0))
    with ft.GradientTape() as tape:
        h = ft.tanh(x)
        e = ft.exp(h)
        y = ft.reduce_sum(e * c)
    h0, e0 = h.numpy().copy(), e.numpy().copy()
    tape.gradient(y, x)
    np.testing.assert_array_equal(h.numpy(), h0)
    np.testing.assert_array_equal(e.numpy(), e0)


def test_a_saved_input_is_written_only_when_nothing_else_can_see_it():
    # pow's variant writes into its saved input z when nothing else holds z
    rng = np.random.default_rng(4)
    x = ft.Variable(rng.uniform(0.5, 1.5, (6, 6)))
    z0 = x.numpy() + 1.0

    for hold in ("tensor", "weakref", "array", "twice", None):
        held = []
        c0 = core.in_place_count()
        with ft.GradientTape() as tape:
            z = x + 1.0
            if hold == "tensor":
                held.append(z)
            elif hold == "weakref":
                held.append(weakref.ref(z))
            elif hold == "array":
                held.append(z.numpy())
            y = ft.reduce_sum(z ** 2)
            if hold == "twice":  # saved by a second op too: that op's entry comes
                # first in the sweep and releases it, so pow's may still write
                y = y + ft.reduce_sum(ft.square(z))
            del z
        g = tape.gradient(y, x)
        np.testing.assert_allclose(g.numpy(), (4 if hold == "twice" else 2) * z0)
        if hold == "tensor":
            np.testing.assert_array_equal(held[0].numpy(), z0)
        elif hold == "array":
            np.testing.assert_array_equal(held[0], z0)
        assert core.in_place_count() == c0 + (hold in (None, "twice")), hold


def test_a_persistent_tape_never_writes_into_saved_values():
    x = ft.Variable(np.linspace(0.5, 1.5, 9).reshape(3, 3))
    c0 = core.in_place_count()
    with ft.GradientTape(persistent=True) as tape:
        y = ft.reduce_sum((x + 1.0) ** 2)
    first = tape.gradient(y, x).numpy()
    second = tape.gradient(y, x).numpy()
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, 2 * (x.numpy() + 1.0))
    assert core.in_place_count() == c0


def test_higher_order_gradients_do_not_use_them_and_are_right():
    x = ft.Variable(np.linspace(0.5, 1.5, 6))
    with ft.GradientTape() as outer:
        with ft.GradientTape() as inner:
            y = ft.reduce_sum(ft.tanh(x) * 2.0)
        g = inner.gradient(y, x)
        s = ft.reduce_sum(g * g)
    t = np.tanh(x.numpy())
    # d/dx sum((2 (1 - t^2))^2) = sum(8 (1 - t^2) * (-2 t) (1 - t^2))
    np.testing.assert_allclose(outer.gradient(s, x).numpy(), -16 * t * (1 - t * t) ** 2)


def test_profiled_vjps_are_not_replaced():
    x = ft.Variable(np.linspace(0.5, 1.5, 12).reshape(3, 4))
    c = ft.constant(np.full((3, 4), 3.0))
    c0 = core.in_place_count()
    with ft.profiler.profile(record_lines=False) as prof:
        with ft.GradientTape() as tape:
            y = ft.reduce_sum(ft.exp(x * c) * c)
        g = tape.gradient(y, x)
    assert core.in_place_count() == c0
    assert any(name == "exp (gradient)" for name, *_ in prof.table())
    np.testing.assert_allclose(g.numpy(), 9.0 * np.exp(3.0 * x.numpy()))


def test_registration_checks_the_variant():
    from fasttape.ops._registry import in_place

    with pytest.raises(TypeError, match="must take the arguments"):
        core.register_op("_t_in_place_args", "unary", np.exp, ("x",),
                         {"x": in_place(lambda g, out: g * out, lambda g: g)},
                         elementwise=True)
    with pytest.raises(ValueError, match="elementwise op with one output"):
        core.register_op("_t_in_place_kind", "reduce", np.sum, ("x",),
                         {"x": in_place(lambda g: g, lambda g: g)})
