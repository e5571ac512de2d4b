"""Memory (SPEC section 3): a tape holds only what the gradients need, releases
it after a non-persistent gradient(), makes no reference cycles with tensors,
and a long training loop has flat memory."""

import gc
import os
import weakref

import numpy as np
import pytest

import fasttape as ft


@pytest.fixture
def no_gc():
    """Automatic garbage collection off: whatever is freed is freed by reference counting."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _mlp_forward(x, w1, b1, w2, refs):
    h = x @ w1
    refs.append(weakref.ref(h))
    h = h + b1
    refs.append(weakref.ref(h))
    h = ft.tanh(h)
    refs.append(weakref.ref(h))
    out = h @ w2
    refs.append(weakref.ref(out))
    sq = out * out
    refs.append(weakref.ref(sq))
    loss = ft.reduce_mean(sq)
    refs.append(weakref.ref(loss))
    return loss


def _params(seed=0):
    rng = np.random.default_rng(seed)
    x = ft.constant(rng.normal(size=(8, 5)).astype(np.float32))
    w1 = ft.Variable(rng.normal(size=(5, 7)).astype(np.float32))
    b1 = ft.Variable(np.zeros(7, np.float32))
    w2 = ft.Variable(rng.normal(size=(7, 3)).astype(np.float32))
    return x, w1, b1, w2


def test_non_persistent_gradient_releases_everything(no_gc):
    x, w1, b1, w2 = _params()
    refs = []
    with ft.GradientTape() as tape:
        tape.watch(x)
        loss = _mlp_forward(x, w1, b1, w2, refs)
    assert tape._saved_values()  # the forward pass saved something
    grads = tape.gradient(loss, [x, w1, b1, w2])
    assert all(g is not None for g in grads)
    # the tape keeps nothing after a non-persistent gradient()
    assert tape._saved_values() == []
    assert tape._n_entries == 0
    # intermediates created inside the tape die with the user's last reference
    del loss
    assert [r() is None for r in refs] == [True] * len(refs)
    # and the tape itself holds nothing: dropping it changes nothing more
    wt = weakref.ref(tape)
    del tape
    assert wt() is None


def test_intermediates_die_when_the_user_drops_them_even_before_gradient(no_gc):
    # tensors that no VJP needs are not kept by the tape at all
    x = ft.constant(np.ones((4, 4), np.float32))
    refs = []
    with ft.GradientTape() as tape:
        tape.watch(x)
        a = x + 1.0  # add saves nothing
        refs.append(weakref.ref(a))
        b = a - 2.0  # subtract saves nothing
        refs.append(weakref.ref(b))
        y = b + 3.0
    del a, b
    assert [r() is None for r in refs] == [True, True]
    g = tape.gradient(y, x)
    np.testing.assert_array_equal(g.numpy(), np.ones((4, 4)))


def test_gradients_do_not_keep_the_graph_alive(no_gc):
    x, w1, b1, w2 = _params()
    refs = []
    with ft.GradientTape() as tape:
        loss = _mlp_forward(x, w1, b1, w2, refs)
    grads = tape.gradient(loss, [w1, b1, w2])
    del loss, tape
    assert all(r() is None for r in refs)
    assert all(isinstance(g, ft.Tensor) for g in grads)


def test_dropping_a_persistent_tape_frees_everything(no_gc):
    x, w1, b1, w2 = _params()
    refs = []
    with ft.GradientTape(persistent=True) as tape:
        tape.watch(x)
        loss = _mlp_forward(x, w1, b1, w2, refs)
    g1 = tape.gradient(loss, [w1, w2])
    g2 = tape.gradient(loss, x)
    assert g1[0] is not None and g2 is not None
    del loss
    # a persistent tape still holds the values its VJPs need
    assert any(r() is not None for r in refs)
    wt = weakref.ref(tape)
    del tape
    assert wt() is None
    assert [r() is None for r in refs] == [True] * len(refs)


def test_dropping_an_unused_tape_frees_everything(no_gc):
    x, w1, b1, w2 = _params()
    refs = []
    with ft.GradientTape() as tape:
        tape.watch(x)
        loss = _mlp_forward(x, w1, b1, w2, refs)
    del loss, tape
    assert [r() is None for r in refs] == [True] * len(refs)


def test_reset_frees_the_record(no_gc):
    x, w1, b1, w2 = _params()
    refs = []
    with ft.GradientTape(persistent=True) as tape:
        loss = _mlp_forward(x, w1, b1, w2, refs)
        del loss
        tape.reset()
    assert tape._saved_values() == []
    assert [r() is None for r in refs] == [True] * len(refs)


def test_nested_tapes_free_everything(no_gc):
    x = ft.constant(np.array([0.5, 1.5]))
    refs = []
    with ft.GradientTape() as outer:
        outer.watch(x)
        with ft.GradientTape() as inner:
            inner.watch(x)
            y = ft.sin(x) * x
            refs.append(weakref.ref(y))
        dy = inner.gradient(y, x)
        refs.append(weakref.ref(dy))
    d2 = outer.gradient(dy, x)
    assert d2 is not None
    del y, dy
    wi, wo = weakref.ref(inner), weakref.ref(outer)
    del inner, outer
    assert wi() is None and wo() is None
    assert [r() is None for r in refs] == [True, True]


def test_variables_are_freed_with_the_tape(no_gc):
    v = ft.Variable(np.ones(3, np.float32))
    wv = weakref.ref(v)
    with ft.GradientTape() as tape:
        y = ft.reduce_sum(v * v)
    tape.gradient(y, v)
    assert tape.watched_variables() == (v,)  # still listed, as in TensorFlow
    del v, y, tape
    assert wv() is None


def test_no_reference_cycles_between_tensors_and_tapes():
    gc.collect()
    old_flags = gc.get_debug()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for persistent in (False, True):
            for _ in range(20):
                x, w1, b1, w2 = _params()
                refs = []
                with ft.GradientTape(persistent=persistent) as tape:
                    tape.watch(x)
                    loss = _mlp_forward(x, w1, b1, w2, refs)
                tape.gradient(loss, [x, w1, b1, w2])
                with ft.GradientTape() as outer:
                    outer.watch(x)
                    with ft.GradientTape() as inner:
                        inner.watch(x)
                        y = ft.reduce_sum(ft.sin(x) * x)
                    dy = inner.gradient(y, x)
                outer.gradient(dy, x)
                del x, w1, b1, w2, refs, tape, loss, outer, inner, y, dy
        gc.collect()
        ours = [o for o in gc.garbage if type(o).__module__.startswith("fasttape")]
        assert ours == [], f"{len(ours)} fasttape objects were only freed by the cycle collector"
    finally:
        gc.set_debug(old_flags)
        gc.garbage.clear()
        gc.collect()


def test_tape_does_not_refer_to_tensors_it_does_not_save():
    x = ft.constant(np.ones(3, np.float32))
    with ft.GradientTape() as tape:
        tape.watch(x)
        y = x + 1.0  # add's VJPs name no value: nothing is saved
        z = y * 2.0  # multiply may save its inputs, never its output
    saved = tape._saved_values()
    assert not any(v is z for v in saved)
    assert not any(v is x for v in saved)
    assert not any(isinstance(r, list) for r in gc.get_referrers(z))
    tape.gradient(z, x)
    assert tape._saved_values() == []


def _rss_bytes():
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:  # pragma: no cover - /proc fallback
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_rss_flat_over_10000_sgd_steps():
    rng = np.random.default_rng(0)
    n_in, n_hidden, n_out, batch = 20, 32, 10, 16
    w1 = ft.Variable(rng.normal(0.0, 0.3, (n_in, n_hidden)).astype(np.float32))
    b1 = ft.Variable(np.zeros(n_hidden, np.float32))
    w2 = ft.Variable(rng.normal(0.0, 0.3, (n_hidden, n_out)).astype(np.float32))
    b2 = ft.Variable(np.zeros(n_out, np.float32))
    params = [w1, b1, w2, b2]
    xs = rng.normal(size=(8, batch, n_in)).astype(np.float32)
    ys = rng.integers(0, n_out, size=(8, batch))
    onehots = np.eye(n_out, dtype=np.float32)[ys]
    lr = 0.05
    rss = {}
    first_loss = last_loss = None
    for step in range(10_000):
        x = ft.constant(xs[step % 8])
        y = ft.constant(onehots[step % 8])
        with ft.GradientTape() as tape:
            h = ft.nn.relu(x @ w1 + b1)
            logits = h @ w2 + b2
            logp = ft.nn.log_softmax(logits)
            loss = -ft.reduce_mean(ft.reduce_sum(y * logp, axis=1))
        grads = tape.gradient(loss, params)
        for v, g in zip(params, grads, strict=True):
            v.assign_sub(lr * g)
        if step == 0:
            first_loss = float(loss)
        if step in (2_000, 9_999):
            gc.collect()
            rss[step] = _rss_bytes()
    last_loss = float(loss)
    assert last_loss < first_loss  # it trained
    growth = rss[9_999] - rss[2_000]
    assert growth < 4 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB between steps 2000 and 9999"
