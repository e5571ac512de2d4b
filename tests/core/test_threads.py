"""Tapes are thread-local (SPEC section 3): ops run in another thread are never
recorded on this thread's tape, and threads with their own tapes compute
correct gradients concurrently."""

import threading

import numpy as np

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
