"""Tapes are thread-local (SPEC section 3): ops run in another thread are never
recorded on this thread's tape, and threads with their own tapes compute
correct gradients concurrently."""

import threading

import numpy as np
import pytest

import fasttape as ft


def _run_in_thread(fn):
    out = {}

    def target():
        try:
            out["result"] = fn()
        except BaseException as e:  # re-raised in the calling thread
            out["error"] = e

    th = threading.Thread(target=target)
    th.start()
    th.join(timeout=60)
    assert not th.is_alive()
    if "error" in out:
        raise out["error"]
    return out.get("result")


def test_ops_in_another_thread_are_not_recorded():
    x = ft.constant([1.0, 2.0])
    with ft.GradientTape(persistent=True) as tape:
        tape.watch(x)
        other = _run_in_thread(lambda: x * 3.0)
        mine = x * 2.0
    assert tape.gradient(other, x) is None
    np.testing.assert_array_equal(tape.gradient(mine, x).numpy(), [2.0, 2.0])
    assert tape._n_entries == 1


def test_variables_read_in_another_thread_are_not_watched():
    v = ft.Variable([1.0, 2.0])
    with ft.GradientTape() as tape:
        other = _run_in_thread(lambda: v * 3.0)
    assert tape.watched_variables() == ()
    assert tape.gradient(other, v) is None


def test_another_threads_tape_does_not_see_this_thread():
    x = ft.constant([1.0, 2.0])
    started = threading.Event()
    release = threading.Event()
    result = {}

    def worker():
        with ft.GradientTape() as tape:
            tape.watch(x)
            started.set()
            release.wait(timeout=30)
            y = x * 5.0
        result["grad"] = tape.gradient(y, x)

    th = threading.Thread(target=worker)
    th.start()
    assert started.wait(timeout=30)
    # while the worker's tape is active, ops here (on the watched x) must not reach it
    noise = [x * float(k) for k in range(50)]
    with ft.GradientTape() as mine:
        mine.watch(x)
        z = x * 7.0
    release.set()
    th.join(timeout=30)
    np.testing.assert_array_equal(result["grad"].numpy(), [5.0, 5.0])
    np.testing.assert_array_equal(mine.gradient(z, x).numpy(), [7.0, 7.0])
    assert len(noise) == 50


def test_tape_entered_in_one_thread_is_not_active_in_a_new_thread():
    x = ft.constant([1.0, 2.0])
    with ft.GradientTape() as tape:
        tape.watch(x)

        def nested():
            # a tape opened in the new thread records only that thread's ops
            with ft.GradientTape() as inner:
                inner.watch(x)
                y = x * x
            return inner.gradient(y, x)

        g = _run_in_thread(nested)
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    assert tape._n_entries == 0


def _make_model(seed):
    rng = np.random.default_rng(seed)
    return [
        ft.Variable(rng.normal(0.0, 0.5, (6, 16)).astype(np.float64)),
        ft.Variable(np.zeros(16)),
        ft.Variable(rng.normal(0.0, 0.5, (16, 3)).astype(np.float64)),
    ]


def _data(seed):
    rng = np.random.default_rng(100 + seed)
    return rng.normal(size=(32, 6)), rng.normal(size=(32, 3))


def _train(seed, steps=1000):
    """Trains a small model with SGD; returns the losses and the final weights."""
    w1, b1, w2 = params = _make_model(seed)
    xs, ys = _data(seed)
    x, y = ft.constant(xs), ft.constant(ys)
    losses = []
    for _ in range(steps):
        with ft.GradientTape() as tape:
            h = ft.tanh(x @ w1 + b1)
            err = h @ w2 - y
            loss = ft.reduce_mean(err * err)
        grads = tape.gradient(loss, params)
        for v, g in zip(params, grads, strict=True):
            v.assign_sub(0.05 * g)
        losses.append(float(loss))
    return losses, [v.numpy().copy() for v in params]


def test_eight_threads_compute_correct_gradients_concurrently():
    seeds = list(range(8))
    expected = {s: _train(s) for s in seeds}  # single-threaded reference
    results, errors = {}, []
    barrier = threading.Barrier(len(seeds))

    def worker(seed):
        try:
            barrier.wait(timeout=30)
            results[seed] = _train(seed)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s,)) for s in seeds]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    for s in seeds:
        losses, weights = results[s]
        exp_losses, exp_weights = expected[s]
        assert losses[-1] < losses[0]
        np.testing.assert_array_equal(losses, exp_losses)
        for w, e in zip(weights, exp_weights, strict=True):
            np.testing.assert_array_equal(w, e)


def test_threads_with_persistent_and_nested_tapes():
    def second_derivative(x0):
        x = ft.constant(np.float64(x0))
        out = []
        for _ in range(100):
            with ft.GradientTape(persistent=True) as outer:
                outer.watch(x)
                with ft.GradientTape() as inner:
                    inner.watch(x)
                    y = x * x * x
                dy = inner.gradient(y, x)
            out.append((float(dy), float(outer.gradient(dy, x)), float(outer.gradient(y, x))))
        return out

    xs = [0.5, 1.0, 1.5, 2.0]
    results, errors = {}, []

    def worker(x0):
        try:
            results[x0] = second_derivative(x0)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(x0,)) for x0 in xs]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    for x0 in xs:
        for d1, d2, d1_again in results[x0]:
            np.testing.assert_allclose(
                [d1, d2, d1_again], [3 * x0**2, 6 * x0, 3 * x0**2], rtol=1e-12
            )


# --- a tape belongs to the thread that entered it (Note [Active tapes and threads]) ---


def _stack_is_empty():
    from fasttape._core import core

    return core._active_tape_depth() == 0


def test_tape_exited_in_another_thread_raises_and_stays_active():
    x = ft.constant([1.0, 2.0])
    tape = ft.GradientTape()
    tape.__enter__()
    try:
        tape.watch(x)
        with pytest.raises(RuntimeError, match="entered in thread .* cannot be exited in thread"):
            _run_in_thread(lambda: tape.__exit__(None, None, None))
        # the other thread's stack is untouched and still empty
        assert _run_in_thread(_stack_is_empty)
        # the tape is still active here: it keeps recording this thread's ops
        y = x * 3.0
    finally:
        tape.__exit__(None, None, None)
    z = y * 2.0  # after the exit: not recorded
    assert _stack_is_empty()
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [3.0, 3.0])
    assert z is not None


def test_reentering_an_active_tape_raises_value_error():
    x = ft.constant(2.0)
    tape = ft.GradientTape(persistent=True)
    with tape:
        tape.watch(x)
        with pytest.raises(ValueError, match="already active"):
            with tape:
                pass
        # from another thread too: a tape is on one stack at a time
        with pytest.raises(ValueError, match="already active"):
            _run_in_thread(tape.__enter__)
        y = x * x
    assert _stack_is_empty()
    assert float(tape.gradient(y, x)) == 4.0
    with tape:  # exited: it may be entered again
        z = y * x
    assert float(tape.gradient(z, x)) == 12.0


def test_tape_dropped_elsewhere_while_active_stays_alive_until_exit():
    import gc
    import weakref

    x = ft.constant([1.0, 2.0])
    box = {"tape": ft.GradientTape()}
    ref = weakref.ref(box["tape"])
    entered, dropped, done = threading.Event(), threading.Event(), {}

    def worker():
        tape = box["tape"]
        tape.__enter__()
        tape.watch(x)
        del tape
        entered.set()
        assert dropped.wait(timeout=30)
        # the only reference left is this thread's stack: the tape still records
        done["y"] = x * x
        tape = ref()
        done["alive"] = tape is not None
        tape.__exit__(None, None, None)
        done["grad"] = tape.gradient(done["y"], x).numpy()

    th = threading.Thread(target=worker)
    th.start()
    assert entered.wait(timeout=30)
    del box["tape"]
    gc.collect()
    dropped.set()
    th.join(timeout=30)
    assert done["alive"]
    np.testing.assert_array_equal(done["grad"], [2.0, 4.0])
    gc.collect()
    assert ref() is None


def test_tape_left_active_by_an_ending_thread_is_freed():
    import gc
    import weakref

    refs = []

    def worker():
        tape = ft.GradientTape()
        tape.__enter__()
        refs.append(weakref.ref(tape))

    _run_in_thread(worker)
    gc.collect()
    assert refs[0]() is None
    assert _stack_is_empty()


def test_cross_thread_exit_leaves_no_dangling_tape_in_a_subprocess():
    # the original defect: exiting in thread B took the tape off B's stack (not
    # A's) and freed it, so A's later ops wrote through a dangling pointer
    code = """
import threading, gc
import numpy as np, fasttape as ft
x = ft.constant([1.0, 2.0])
errors, ok = [], []
def a():
  try:
    with ft.GradientTape(persistent=True) as keep:
        keep.watch(x)
        t = ft.GradientTape()
        t.__enter__()
        t.watch(x)
        def b():
            try:
                t.__exit__(None, None, None)
            except RuntimeError as e:
                errors.append(e)
        th = threading.Thread(target=b); th.start(); th.join()
        del th
        gc.collect()
        ys = [x * float(k) for k in range(200)]
        total = ft.reduce_sum(ft.stack(ys), axis=0)
        t.__exit__(None, None, None)
        assert len(t._entries()) == 202, len(t._entries())
        g = t.gradient(total, x)
    np.testing.assert_allclose(g.numpy(), [sum(range(200))] * 2)
    assert len(errors) == 1
    ok.append(True)
  except BaseException as e:
    print(repr(e))
ta = threading.Thread(target=a); ta.start(); ta.join()
print("ok" if ok else "failed")
"""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
