"""fasttape's caching allocator for NumPy array data (csrc/fasttape_alloc.c,
Note [Caching allocator] in core.pyx)."""

import threading

import numpy as np

import fasttape as ft  # noqa: F401  (installs the allocator)
from fasttape._core import core


def _handler_name():
    return np.lib.get_handler_name() if hasattr(np.lib, "get_handler_name") else \
        np._core.multiarray.get_handler_name()


def test_installed_at_import():
    assert _handler_name() == "fasttape_caching_allocator"


def test_large_blocks_are_reused():
    _, hits0, _ = core.allocator_stats()
    for _ in range(20):
        a = np.empty((300, 300))  # 720 KB: cached size class
        del a
    _, hits1, _ = core.allocator_stats()
    assert hits1 - hits0 >= 19


def test_zeros_are_zero_after_reuse():
    for _ in range(5):
        a = np.full((256, 256), 7.0)
        del a
        z = np.zeros((256, 256))
        assert not z.any()


def test_realloc_keeps_the_data():
    a = np.arange(20000, dtype=np.float64)
    a.resize(40000, refcheck=False)
    np.testing.assert_array_equal(a[:20000], np.arange(20000))
    a.resize(100, refcheck=False)
    np.testing.assert_array_equal(a, np.arange(100))


def test_arrays_cross_threads():
    made = [np.ones((200, 200)) for _ in range(8)]
    out = []

    def worker():
        for m in made:
            out.append(float(m.sum()))
        made.clear()  # freed in another thread
        for _ in range(50):
            np.empty((200, 200))

    th = [threading.Thread(target=worker) for _ in range(2)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    assert out and all(v == 40000.0 for v in out)


def test_limit_and_trim():
    core.set_allocator(True, limit_bytes=0)  # caching off: nothing kept
    a = np.empty((300, 300))
    del a
    assert core.allocator_stats()[0] == 0
    core.set_allocator(True, limit_bytes=256 * 2**20)
    b = np.empty((300, 300))
    del b
    assert core.allocator_stats()[0] > 0
    core.trim_allocator()
    assert core.allocator_stats()[0] == 0


def test_can_be_switched_off():
    core.set_allocator(False)
    try:
        assert _handler_name() != "fasttape_caching_allocator"
    finally:
        core.set_allocator(True)
