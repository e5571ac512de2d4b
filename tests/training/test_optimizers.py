"""ft.optimizers: trajectories against PyTorch and against NumPy references of
Keras's formulas, in-place and unrecorded updates, slots, clipping, the
None-gradient warning, schedules and names."""

import math
import warnings
import weakref

import numpy as np
import pytest

import fasttape as ft
from fasttape._core import core

STEPS = 100


# --- the problem: both frameworks differentiate it themselves ------------------------------


def _data(dtype=np.float64):
    rng = np.random.default_rng(0)
    return tuple(a.astype(dtype) for a in (rng.normal(size=(8, 5)), rng.normal(size=8),
                                           rng.normal(size=5), rng.normal(size=3)))


def _ft_loss(a, y, w, b):
    r = ft.matmul(a, ft.reshape(w, (5, 1)))[:, 0] - y
    return ft.reduce_mean(r * r) + ft.reduce_sum(ft.sin(b) * b) + 0.05 * ft.reduce_sum(w ** 4)


def _torch_loss(torch, a, y, w, b):
    r = a @ w - y
    return (r * r).mean() + (torch.sin(b) * b).sum() + 0.05 * (w ** 4).sum()


def _run_ft(make_opt, steps=STEPS, dtype=np.float64):
    a, y, w0, b0 = _data(dtype)
    w, b = ft.Variable(w0, name="w"), ft.Variable(b0, name="b")
    opt = make_opt()
    traj = []
    for _ in range(steps):
        with ft.GradientTape() as tape:
            loss = _ft_loss(ft.constant(a), ft.constant(y), w, b)
        opt.apply_gradients(zip(tape.gradient(loss, [w, b]), [w, b]))
        traj.append(np.concatenate([w.numpy(), b.numpy()]))
    return np.array(traj)


def _run_torch(torch, make_opt, steps=STEPS, dtype=np.float64):
    a, y, w0, b0 = _data(dtype)
    w = torch.tensor(w0, requires_grad=True)
    b = torch.tensor(b0, requires_grad=True)
    opt = make_opt([w, b])
    at, yt = torch.tensor(a), torch.tensor(y)
    traj = []
    for _ in range(steps):
        opt.zero_grad()
        _torch_loss(torch, at, yt, w, b).backward()
        opt.step()
        traj.append(np.concatenate([w.detach().numpy(), b.detach().numpy()]))
    return np.array(traj)


# Keras and PyTorch differ in where epsilon goes (Adam: PyTorch adds it to the
# bias-corrected sqrt(v_hat), Keras to sqrt(v); RMSprop and Adagrad: PyTorch
# outside the square root, Keras inside) and in Adagrad's initial accumulator
# (PyTorch 0 by default, Keras 0.1). With epsilon = 0 and the same initial
# accumulator the formulas are the same, so the trajectories must agree; the
# epsilon placement is checked against NumPy references of Keras's formulas
# below. SGD's momentum is Keras's m = momentum * m - lr * g, var += m, which
# for a constant learning rate equals PyTorch's buf = momentum * buf + g,
# var -= lr * buf (and the same for Nesterov).
TORCH_CASES = {
    "sgd": (lambda: ft.optimizers.SGD(0.05),
            lambda t, p: t.optim.SGD(p, lr=0.05)),
    "sgd-momentum": (lambda: ft.optimizers.SGD(0.05, momentum=0.9),
                     lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.9)),
    "sgd-nesterov": (lambda: ft.optimizers.SGD(0.05, momentum=0.8, nesterov=True),
                     lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
    "adam": (lambda: ft.optimizers.Adam(0.02, epsilon=0.0),
             lambda t, p: t.optim.Adam(p, lr=0.02, eps=0.0)),
    "adam-betas": (lambda: ft.optimizers.Adam(0.02, beta_1=0.5, beta_2=0.9, epsilon=0.0),
                   lambda t, p: t.optim.Adam(p, lr=0.02, betas=(0.5, 0.9), eps=0.0)),
    "adam-amsgrad": (lambda: ft.optimizers.Adam(0.02, epsilon=0.0, amsgrad=True),
                     lambda t, p: t.optim.Adam(p, lr=0.02, eps=0.0, amsgrad=True)),
    "adamw": (lambda: ft.optimizers.AdamW(0.02, weight_decay=0.1, epsilon=0.0),
              lambda t, p: t.optim.AdamW(p, lr=0.02, weight_decay=0.1, eps=0.0)),
    "rmsprop": (lambda: ft.optimizers.RMSprop(0.01, rho=0.9, epsilon=0.0),
                lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=0.0)),
    "rmsprop-centered-momentum": (
        lambda: ft.optimizers.RMSprop(0.01, rho=0.8, momentum=0.5, epsilon=0.0, centered=True),
        lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.8, momentum=0.5, eps=0.0,
                                     centered=True)),
    "adagrad": (lambda: ft.optimizers.Adagrad(0.1, initial_accumulator_value=0.1, epsilon=0.0),
                lambda t, p: t.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.1, eps=0.0)),
    # without momentum, decoupled decay (Keras) and L2 in the gradient (PyTorch's
    # SGD) are the same step: var -= lr * (g + weight_decay * var)
    "sgd-weight-decay": (lambda: ft.optimizers.SGD(0.05, weight_decay=0.2),
                         lambda t, p: t.optim.SGD(p, lr=0.05, weight_decay=0.2)),
}


@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_trajectory_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    make_ft, make_torch = TORCH_CASES[case]
    got = _run_ft(make_ft)
    want = _run_torch(torch, lambda p: make_torch(torch, p))
    assert np.isfinite(got).all()
    # the learning rate is a float32 variable (Keras's floatx), so it differs
    # from PyTorch's float64 one in the 8th digit
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=case)
    assert np.abs(got[-1] - got[0]).max() > 1e-2, "the optimizer barely moved"


@pytest.mark.parametrize("case", [c for c in TORCH_CASES if "centered" not in c])
def test_float32_trajectory_matches_pytorch(case):
    """The same in float32 (both sides step in float32). Centered RMSprop is left
    out: without epsilon its denominator rms - mg**2 cancels, and the two
    frameworks' different rounding orders drift apart (float64 above agrees)."""
    torch = pytest.importorskip("torch")
    make_ft, make_torch = TORCH_CASES[case]
    got = _run_ft(make_ft, dtype=np.float32)
    want = _run_torch(torch, lambda p: make_torch(torch, p), dtype=np.float32)
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=case)


# --- NumPy references of Keras's formulas (with their default epsilons) --------------------


def _grad_np(a, y, w, b):
    r = a @ w - y
    gw = 2 * a.T @ r / len(y) + 0.2 * w ** 3
    gb = np.cos(b) * b + np.sin(b)
    return gw, gb


def _keras_reference(kind, steps=STEPS, lr=0.01, **hp):
    a, y, w, b = _data()
    params = [w.copy(), b.copy()]
    state = [{} for _ in params]
    traj = []
    for t in range(1, steps + 1):
        grads = _grad_np(a, y, *params)
        for p, g, s in zip(params, grads, state):
            if kind == "adam":
                b1, b2, eps = hp.get("beta_1", 0.9), hp.get("beta_2", 0.999), 1e-7
                s.setdefault("m", np.zeros_like(p))
                s.setdefault("v", np.zeros_like(p))
                s["m"] += (g - s["m"]) * (1 - b1)
                s["v"] += (g * g - s["v"]) * (1 - b2)
                alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                p -= s["m"] * alpha / (np.sqrt(s["v"]) + eps)
            elif kind == "rmsprop":
                rho, eps = 0.9, 1e-7
                s.setdefault("rms", np.zeros_like(p))
                s["rms"] = rho * s["rms"] + (1 - rho) * g * g
                p -= lr * g / np.sqrt(s["rms"] + eps)
            elif kind == "adagrad":
                s.setdefault("acc", np.full_like(p, 0.1))
                s["acc"] += g * g
                p -= lr * g / np.sqrt(s["acc"] + 1e-7)
        traj.append(np.concatenate(params))
    return np.array(traj)


@pytest.mark.parametrize("kind,make", [
    ("adam", lambda: ft.optimizers.Adam(0.01)),
    ("rmsprop", lambda: ft.optimizers.RMSprop(0.01)),
    ("adagrad", lambda: ft.optimizers.Adagrad(0.01)),
])
def test_trajectory_matches_keras_formula_with_default_epsilon(kind, make):
    got = _run_ft(make)
    want = _keras_reference(kind, lr=float(np.float32(0.01)))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_keras_and_pytorch_epsilon_placements_differ():
    """The reference above is not PyTorch's in disguise: with epsilon, Keras's
    Adam gives a different trajectory from PyTorch's with the same eps."""
    torch = pytest.importorskip("torch")
    got = _run_ft(lambda: ft.optimizers.Adam(0.01, epsilon=1e-3), steps=20)
    want = _run_torch(torch, lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-3), steps=20)
    assert np.abs(got - want).max() > 1e-7


def test_float32_variables_step_in_float32():
    w = ft.Variable(np.ones(3, np.float32))
    opt = ft.optimizers.Adam(0.1)
    opt.apply_gradients([(ft.constant(np.array([1.0, -2.0, 0.5], np.float32)), w)])
    assert w.dtype == np.float32 and opt.get_slot(w, "m").dtype == np.float32
    np.testing.assert_allclose(w.numpy(), [0.9, 1.1, 0.9], rtol=1e-5)


# --- in place, unrecorded ----------------------------------------------------------------------

ALL = {
    "sgd": lambda: ft.optimizers.SGD(0.1),
    "sgd-nesterov": lambda: ft.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    "adam": lambda: ft.optimizers.Adam(0.1, amsgrad=True),
    "adamw": lambda: ft.optimizers.AdamW(0.1),
    "rmsprop": lambda: ft.optimizers.RMSprop(0.1, momentum=0.5, centered=True),
    "adagrad": lambda: ft.optimizers.Adagrad(0.1),
}


@pytest.mark.parametrize("name", list(ALL))
def test_updates_are_in_place(name):
    """The variables' and the slots' arrays are updated, not replaced (weak
    references: holding the arrays would itself force a copy)."""
    w = ft.Variable(np.linspace(-1.0, 1.0, 6).reshape(2, 3))
    opt = ALL[name]()
    opt.minimize(lambda: ft.reduce_sum(w * w * w), [w])  # makes the slots
    arrays = [weakref.ref(core.tensor_value(v)) for v in [w, *opt.variables()]]
    before = w.numpy().copy()
    for _ in range(3):
        with ft.GradientTape() as tape:
            loss = ft.reduce_sum(w * w * w)
        opt.apply_gradients([(tape.gradient(loss, w), w)])
    assert not np.allclose(w.numpy(), before)
    same = [core.tensor_value(v) is r() for v, r in zip([w, *opt.variables()], arrays)]
    assert all(same), f"{name}: replaced arrays at {same}"


def test_a_tensor_read_before_the_step_keeps_its_value():
    w = ft.Variable([1.0, 2.0])
    seen = w.read_value()
    ft.optimizers.SGD(0.5).apply_gradients([(ft.constant([1.0, 1.0]), w)])
    np.testing.assert_array_equal(seen.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(w.numpy(), [0.5, 1.5])


# --- fused updates (Note [Fused updates] in fasttape/optimizers/fused.py) ------------------------

FUSED = {
    "adam": lambda: ft.optimizers.Adam(0.01),
    "adam-amsgrad": lambda: ft.optimizers.Adam(0.01, amsgrad=True),
    "adamw": lambda: ft.optimizers.AdamW(0.01, weight_decay=0.1),
}


def _fused_run(make_opt, dtype, traced, steps=12):
    """The variables and slots after `steps` steps on a small problem whose
    gradients include zeros, a NaN and an inf (one step each)."""
    rng = np.random.default_rng(3)
    w = ft.Variable(rng.normal(size=(5, 3)).astype(dtype))
    b = ft.Variable(np.zeros(3, dtype))
    opt = make_opt()
    xs = rng.normal(size=(steps, 7, 5)).astype(dtype)
    xs[4, :, 0] = 0.0       # a column of zero gradients
    xs[7, 0, 0] = np.nan    # then NaN and inf ones
    xs[9, 1, 1] = np.inf

    def step(x):
        with ft.GradientTape() as tape:
            loss = ft.reduce_sum(ft.tanh(x @ w + b) ** 2)
        opt.apply_gradients(zip(tape.gradient(loss, [w, b]), [w, b]))

    if traced:
        step = ft.function(step)
    for x in xs:
        step(ft.constant(x))
    return [v.numpy() for v in [w, b, *opt.variables()]], step


@pytest.mark.parametrize("traced", [False, True], ids=["eager", "traced"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(FUSED))
def test_fused_updates_equal_the_ops_bitwise(name, dtype, traced, monkeypatch):
    from fasttape.optimizers import fused

    calls = []
    kernel = core.adam_update
    monkeypatch.setattr(core, "adam_update", lambda *a: calls.append(1) or kernel(*a))
    got, step = _fused_run(FUSED[name], dtype, traced)
    assert len(calls) == 2 * 12, "the fused loop did not run for each variable and step"
    if traced:
        graph = step.get_concrete_function(ft.TensorSpec([7, 5], dtype)).graph
        assert [n.type for n in graph.get_operations()].count("ResourceApplyAdam") == 2
    monkeypatch.setattr(fused, "ENABLED", False)
    want, _ = _fused_run(FUSED[name], dtype, traced)
    assert len(calls) == 2 * 12
    for i, (a, e) in enumerate(zip(got, want)):
        assert a.dtype == e.dtype and a.shape == e.shape
        np.testing.assert_array_equal(a, e, err_msg=f"{name}: variable {i}")


def test_fused_update_copies_arrays_others_hold():
    """A gradient that is the variable itself, a snapshot of the variable and
    a slot's array held by the user: none is written by the fused loop."""
    w = ft.Variable(np.array([1.0, -2.0, 3.0], np.float32))
    opt = ft.optimizers.Adam(0.1)
    opt.build([w])
    m_array = core.tensor_value(opt.get_slot(w, "m"))
    seen = w.read_value()
    opt.apply_gradients([(w, w)])
    np.testing.assert_array_equal(seen.numpy(), [1.0, -2.0, 3.0])
    np.testing.assert_array_equal(m_array, 0.0)
    np.testing.assert_allclose(w.numpy(), [0.9, -1.9, 2.9], rtol=1e-5)
    np.testing.assert_allclose(opt.get_slot(w, "m").numpy(), [0.1, -0.2, 0.3], rtol=1e-5)


def test_the_fused_loop_refuses_what_it_cannot_take():
    """core.adam_update changes nothing and returns False for a variable named
    twice, mixed dtypes or sizes, or other dtypes."""
    w = ft.Variable(np.ones(4, np.float32))
    m, v = ft.Variable(np.zeros(4, np.float32)), ft.Variable(np.zeros(4, np.float32))
    g = np.ones(4, np.float32)
    args = (0.1, 0.1, 0.001, 1e-7)
    assert not core.adam_update(w, w, v, None, g, *args)
    assert not core.adam_update(w, m, v, m, g, *args)
    assert not core.adam_update(w, m, v, None, g.astype(np.float64), *args)
    assert not core.adam_update(w, m, v, None, g[:3], *args)
    assert not core.adam_update(w, ft.Variable(np.zeros(4)), v, None, g, *args)
    h = ft.Variable(np.ones(4, np.float16))
    assert not core.adam_update(h, m, v, None, g, *args)
    np.testing.assert_array_equal(w.numpy(), 1.0)
    np.testing.assert_array_equal(m.numpy(), 0.0)
    assert core.adam_update(w, m, v, None, g, *args)
    assert np.all(w.numpy() < 1.0)


def test_other_dtypes_and_session_graphs_update_with_ops():
    """float16 variables, and updates staged in a Session's graph, are not
    fused: the ops update them as before."""
    w = ft.Variable(np.ones(3, np.float16))
    ft.optimizers.Adam(0.1).apply_gradients([(ft.constant(np.ones(3, np.float16)), w)])
    np.testing.assert_allclose(w.numpy(), 0.9, rtol=3e-3)  # epsilon 1e-7 is 0 in float16
    g = ft.Graph()
    with g.as_default():
        v = ft.Variable(np.ones(3, np.float32))
        ft.optimizers.Adam(0.1).minimize(lambda: ft.reduce_sum(v * v), [v])
    types = [n.type for n in g.get_operations()]
    assert "ResourceApplyAdam" not in types and "AssignSub" in types


@pytest.mark.parametrize("name", list(ALL))
def test_apply_records_nothing_on_active_tapes(name):
    w = ft.Variable([0.5, -1.5, 2.0])
    opt = ALL[name]()
    with ft.GradientTape(persistent=True) as tape:
        loss = ft.reduce_sum(w * w)
    g = tape.gradient(loss, w)
    with ft.GradientTape(persistent=True) as outer:
        outer.watch(g)
        with tape:
            n_inner, n_outer = tape._n_entries, outer._n_entries
            opt.apply_gradients([(g, w)])
            opt.apply_gradients([(g, w)])
            assert tape._n_entries == n_inner
        assert outer._n_entries == n_outer
    assert int(opt.iterations) == 2


# --- None gradients, errors ---------------------------------------------------------------------


def test_none_gradient_warns_once_naming_the_variable():
    w, unused = ft.Variable([1.0], name="w"), ft.Variable([2.0], name="unused_bias")
    opt = ft.optimizers.Adam()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(5):
            with ft.GradientTape() as tape:
                loss = ft.reduce_sum(w * w)
            opt.apply_gradients(zip(tape.gradient(loss, [w, unused]), [w, unused]))
    ours = [str(c.message) for c in caught if "gradients do not exist" in str(c.message)]
    assert len(ours) == 1, ours
    assert "unused_bias" in ours[0] and "'w:0'" not in ours[0]
    assert unused.numpy().tolist() == [2.0]
    with pytest.raises(KeyError, match="unused_bias"):
        opt.get_slot(unused, "m")


def test_no_gradient_at_all_is_an_error():
    w = ft.Variable([1.0], name="lonely")
    with pytest.raises(ValueError, match="no gradients provided for any variable.*lonely"):
        ft.optimizers.SGD().apply_gradients([(None, w)])
    with pytest.raises(ValueError, match="no gradients"):
        ft.optimizers.SGD().apply_gradients([])


def test_bad_pairs_name_the_variable():
    w = ft.Variable(np.zeros((2, 3)), name="kernel")
    opt = ft.optimizers.SGD()
    with pytest.raises(ValueError, match=r"shape \(3,\) for variable 'kernel:0' of shape \(2, 3\)"):
        opt.apply_gradients([(ft.constant(np.zeros(3)), w)])
    with pytest.raises(TypeError, match="dtype float32 for variable 'kernel:0' of dtype float64"):
        opt.apply_gradients([(ft.constant(np.zeros((2, 3), np.float32)), w)])
    with pytest.raises(TypeError, match="expects ft.Variables, got Tensor"):
        opt.apply_gradients([(ft.constant(1.0), ft.constant(1.0))])
    with pytest.raises(TypeError, match="only floating-point variables"):
        opt.apply_gradients([(ft.constant(1), ft.Variable(1))])
    with pytest.raises(TypeError, match="pairs"):
        opt.apply_gradients([w])


def test_hyperparameters_are_checked():
    with pytest.raises(ValueError, match="momentum must be in"):
        ft.optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="at most one of clipnorm and global_clipnorm"):
        ft.optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(TypeError, match="unexpected arguments"):
        ft.optimizers.Adam(decay=0.1)
    with pytest.raises(ValueError, match="weight_decay must be a float"):
        ft.optimizers.AdamW(weight_decay=None)
    with pytest.raises(TypeError, match="learning_rate must be a number"):
        ft.optimizers.Adam(learning_rate="fast")


# --- clipping -----------------------------------------------------------------------------------


def test_clipnorm_clips_each_gradient():
    w, v = ft.Variable([0.0, 0.0]), ft.Variable([0.0])
    opt = ft.optimizers.SGD(1.0, clipnorm=1.0)
    opt.apply_gradients([(ft.constant([3.0, 4.0]), w), (ft.constant([0.5]), v)])
    np.testing.assert_allclose(w.numpy(), [-0.6, -0.8], rtol=1e-6)
    np.testing.assert_allclose(v.numpy(), [-0.5], rtol=1e-6)  # under the norm: unchanged


def test_global_clipnorm_clips_all_gradients_together():
    w, v = ft.Variable([0.0, 0.0]), ft.Variable([0.0])
    opt = ft.optimizers.SGD(1.0, global_clipnorm=2.6)
    opt.apply_gradients([(ft.constant([3.0, 4.0]), w), (ft.constant([12.0]), v)])
    np.testing.assert_allclose(w.numpy(), [-0.6, -0.8], rtol=1e-6)   # norm 13 -> 2.6
    np.testing.assert_allclose(v.numpy(), [-2.4], rtol=1e-6)


def test_clipvalue_clips_elementwise():
    w = ft.Variable([0.0, 0.0, 0.0])
    ft.optimizers.SGD(1.0, clipvalue=0.5).apply_gradients([(ft.constant([3.0, -0.2, -4.0]), w)])
    np.testing.assert_allclose(w.numpy(), [-0.5, 0.2, 0.5], rtol=1e-6)


# --- slots, state, names -------------------------------------------------------------------------


def test_slots_are_lazy_named_and_listed_in_creation_order():
    a, b = ft.Variable([1.0], name="a"), ft.Variable([[1.0, 2.0]], name="dense/b")
    opt = ft.optimizers.Adam(amsgrad=True)
    assert opt.get_slot_names() == ["m", "v", "vhat"]
    assert opt.variables() == [opt.iterations] and opt.variables == [opt.iterations]
    opt.apply_gradients([(ft.constant([1.0]), a)])
    opt.apply_gradients([(ft.constant([[1.0, 1.0]]), b), (ft.constant([1.0]), a)])
    names = [v.name for v in opt.variables()]
    assert names == ["iteration:0", "a/m:0", "a/v:0", "a/vhat:0",
                     "dense/b/m:0", "dense/b/v:0", "dense/b/vhat:0"]
    assert opt.get_slot(b, "v").shape == (1, 2)
    assert all(not v.trainable for v in opt.variables())
    assert opt.iterations.dtype == np.int64 and int(opt.iterations) == 2
    with pytest.raises(KeyError, match="no slot 'velocity'.*'m', 'v', 'vhat'"):
        opt.get_slot(a, "velocity")


def test_build_makes_the_slots_in_variable_order():
    vs = [ft.Variable([1.0], name=n) for n in "xyz"]
    opt = ft.optimizers.SGD(momentum=0.9)
    opt.build(vs)
    assert [v.name for v in opt.variables()][1:] == ["x/momentum:0", "y/momentum:0",
                                                     "z/momentum:0"]
    assert ft.optimizers.SGD().get_slot_names() == []
    assert ft.optimizers.RMSprop(momentum=0.1, centered=True).get_slot_names() == \
        ["rms", "momentum", "mg"]
    acc = ft.optimizers.Adagrad(initial_accumulator_value=0.25)
    acc.build(vs)
    assert acc.get_slot(vs[0], "accumulator").numpy().tolist() == [0.25]


def test_minimize_and_compute_gradients():
    w = ft.Variable([3.0])
    opt = ft.optimizers.SGD(0.25)
    assert opt.minimize(lambda: w * w, lambda: [w]) is opt.iterations
    np.testing.assert_allclose(w.numpy(), [1.5])
    with ft.GradientTape() as tape:
        loss = w * w
    opt.minimize(loss, [w], tape=tape)
    np.testing.assert_allclose(w.numpy(), [0.75])
    with pytest.raises(ValueError, match="needs the `tape`"):
        opt.minimize(w * w, [w])


def test_weight_decay_exclusions():
    k, bias = ft.Variable([1.0], name="kernel"), ft.Variable([1.0], name="bias")
    opt = ft.optimizers.AdamW(0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    opt.apply_gradients([(ft.constant([0.0]), k), (ft.constant([0.0]), bias)])
    np.testing.assert_allclose(k.numpy(), [0.95], rtol=1e-6)  # 1 - 1 * 0.5 * 0.1
    np.testing.assert_allclose(bias.numpy(), [1.0])


def test_get_and_config():
    for name, cls in [("adam", "Adam"), ("SGD", "SGD"), ("rmsprop", "RMSprop"),
                      ("Adagrad", "Adagrad"), ("adamw", "AdamW")]:
        opt = ft.optimizers.get(name)
        assert type(opt).__name__ == cls
        again = ft.optimizers.deserialize(ft.optimizers.serialize(opt))
        assert type(again) is type(opt) and again.get_config() == opt.get_config()
    opt = ft.optimizers.SGD(0.3, momentum=0.5)
    assert ft.optimizers.get(opt) is opt
    assert ft.keras.optimizers.Adam is ft.optimizers.Adam
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'"):
        ft.optimizers.get("adamax")


# --- learning rates and schedules ------------------------------------------------------------


def test_learning_rate_is_a_settable_variable():
    w = ft.Variable([0.0])
    opt = ft.optimizers.SGD(0.5)
    assert isinstance(opt.learning_rate, ft.Variable) and opt.lr is opt.learning_rate
    opt.learning_rate = 0.25
    opt.apply_gradients([(ft.constant([1.0]), w)])
    np.testing.assert_allclose(w.numpy(), [-0.25])
    opt.learning_rate = lambda: 0.125  # a callable, read each step
    opt.apply_gradients([(ft.constant([1.0]), w)])
    np.testing.assert_allclose(w.numpy(), [-0.375])
    assert float(opt.learning_rate) == 0.125


def test_schedule_drives_the_steps():
    sched = ft.optimizers.schedules.ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5)
    w = ft.Variable([0.0])
    opt = ft.optimizers.SGD(sched)
    assert float(opt.learning_rate) == 1.0
    for _ in range(4):
        opt.apply_gradients([(ft.constant([1.0]), w)])
    np.testing.assert_allclose(w.numpy(), [-(1 + 0.5 + 0.25 + 0.125)], rtol=1e-6)
    assert float(opt.learning_rate) == 0.125  # the last step's rate
    assert ft.optimizers.SGD.from_config(opt.get_config()).get_config() == opt.get_config()


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay(staircase):
    s = ft.optimizers.schedules.ExponentialDecay(0.1, 7, 0.8, staircase=staircase)
    for step in range(0, 40, 3):
        p = step / 7
        want = 0.1 * 0.8 ** (math.floor(p) if staircase else p)
        got = s(step)
        assert got.dtype == np.float32
        np.testing.assert_allclose(float(got), want, rtol=1e-6)
    np.testing.assert_allclose(float(s(ft.Variable(14, dtype=ft.int64))), 0.1 * 0.64,
                               rtol=1e-6)


def test_cosine_decay():
    s = ft.optimizers.schedules.CosineDecay(0.5, 20, alpha=0.1)
    for step in range(0, 30):
        c = 0.5 * (1 + math.cos(math.pi * min(step, 20) / 20))
        np.testing.assert_allclose(float(s(step)), 0.5 * ((1 - 0.1) * c + 0.1), rtol=1e-6,
                                   atol=1e-7)
    w = ft.optimizers.schedules.CosineDecay(0.0, 10, warmup_target=1.0, warmup_steps=5)
    np.testing.assert_allclose([float(w(k)) for k in (0, 1, 5, 10, 15, 30)],
                               [0.0, 0.2, 1.0, 0.5, 0.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("staircase", [False, True])
def test_inverse_time_decay(staircase):
    s = ft.optimizers.schedules.InverseTimeDecay(0.5, 4, 0.3, staircase=staircase)
    for step in range(0, 30, 3):
        p = math.floor(step / 4) if staircase else step / 4
        np.testing.assert_allclose(float(s(step)), 0.5 / (1 + 0.3 * p), rtol=1e-6)


@pytest.mark.parametrize("cycle", [False, True])
def test_polynomial_decay(cycle):
    s = ft.optimizers.schedules.PolynomialDecay(0.5, 10, end_learning_rate=0.01, power=2.0,
                                                cycle=cycle)
    for step in range(0, 35):
        if cycle:
            steps = 10 * (1 if step == 0 else math.ceil(step / 10))
            p = step / steps
        else:
            p = min(step, 10) / 10
        np.testing.assert_allclose(float(s(step)), (0.5 - 0.01) * (1 - p) ** 2 + 0.01,
                                   rtol=1e-5, atol=1e-7)


def test_piecewise_constant_decay():
    s = ft.optimizers.schedules.PiecewiseConstantDecay([100, 110], [1.0, 0.5, 0.1])
    got = [float(s(k)) for k in (0, 100, 101, 110, 111, 10 ** 6)]
    np.testing.assert_allclose(got, [1.0, 1.0, 0.5, 0.5, 0.1, 0.1], rtol=1e-7)
    with pytest.raises(ValueError, match="one more than"):
        ft.optimizers.schedules.PiecewiseConstantDecay([1, 2], [1.0])
    with pytest.raises(ValueError, match="must increase"):
        ft.optimizers.schedules.PiecewiseConstantDecay([2, 1], [1.0, 0.5, 0.1])
    cfg = ft.optimizers.schedules.serialize(s)
    assert ft.optimizers.schedules.deserialize(cfg).get_config() == s.get_config()


class _KerasStyleSGD(ft.optimizers.Optimizer):
    """Written as for tf.keras.optimizers.Optimizer (TF 2.11+), only the import renamed."""

    def __init__(self, learning_rate=0.05, momentum=0.9, name="KerasStyleSGD", **kwargs):
        super().__init__(name=name, **kwargs)
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.momentum = momentum

    def build(self, var_list):
        super().build(var_list)
        if hasattr(self, "_built") and self._built:
            return
        self._built = True
        self.momentums = [self.add_variable_from_reference(v, "m") for v in var_list]

    def update_step(self, gradient, variable):
        lr = ft.cast(self.learning_rate, variable.dtype)
        m = self.momentums[self._index_dict[self._var_key(variable)]]
        m.assign(-gradient * lr + m * self.momentum)
        variable.assign_add(m)


def test_keras_style_subclass_runs_unchanged():
    got = _run_ft(lambda: _KerasStyleSGD(0.05, momentum=0.9))
    want = _run_ft(lambda: ft.optimizers.SGD(0.05, momentum=0.9))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    opt = _KerasStyleSGD()
    a, b = ft.Variable([1.0], name="a"), ft.Variable([2.0], name="b")
    opt.apply_gradients([(ft.constant([1.0]), a), (ft.constant([1.0]), b)])
    assert [v.name for v in opt.variables()] == ["iteration:0", "a/m:0", "b/m:0"]
    assert opt.get_slot(b, "m") is opt.momentums[1]
    with pytest.raises(KeyError, match="built without variable 'c:0'"):
        opt.apply_gradients([(ft.constant([1.0]), ft.Variable([0.0], name="c"))])
    with pytest.raises(NotImplementedError, match="must define update_step"):
        ft.optimizers.Optimizer().update_step(None, None)
