"""fasttape's caching allocator for NumPy array data (csrc/fasttape_alloc.c,
Note [Caching allocator] in core.pyx)."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

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


# Note [Caching allocator]: importing fasttape must never make the user's own
# NumPy code slower or hungrier. Each check runs in a fresh process, so that
# its RSS and timings are its own.
_LAZY_ZEROS = r"""
import os, sys, time
import numpy as np
import psutil
import fasttape as ft  # installs the allocator (unless FASTTAPE_ALLOCATOR=0)
from fasttape._core import core
if sys.argv[1] == "off":
    core.set_allocator(False)
name = np.lib.get_handler_name() if hasattr(np.lib, "get_handler_name") else \
    np._core.multiarray.get_handler_name()
proc = psutil.Process()
best, grew = 1e9, 0
for _ in range(3):
    rss0 = proc.memory_info().rss
    t0 = time.perf_counter()
    z = np.zeros(512 * 2**20, dtype=np.uint8)
    best = min(best, time.perf_counter() - t0)
    grew = max(grew, proc.memory_info().rss - rss0)
    assert z[::4096].sum() == 0  # reads one byte a page: zeros, after the RSS was taken
    del z
print(name, best, grew)
"""


def _lazy_zeros(mode, env=None):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", _LAZY_ZEROS, mode], cwd=root,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    name, seconds, grew = proc.stdout.split()
    return name, float(seconds), int(grew)


def test_zeros_stay_lazy_after_import():
    pytest.importorskip("psutil")
    name, seconds, grew = _lazy_zeros("on")
    assert name == "fasttape_caching_allocator"
    # A clearing allocator takes ~0.3 s and 512 MiB here; calloc's fresh
    # pages take ~0.1 ms and no memory until written.
    assert seconds < 0.05, f"np.zeros(512 MiB) took {seconds * 1e3:.1f} ms"
    assert grew < 64 * 2**20, f"np.zeros(512 MiB) grew the RSS by {grew / 2**20:.0f} MiB"


def test_switched_off_by_environment_and_at_run_time():
    pytest.importorskip("psutil")
    name, seconds, grew = _lazy_zeros("on", {"FASTTAPE_ALLOCATOR": "0"})
    assert name != "fasttape_caching_allocator"
    assert seconds < 0.05 and grew < 64 * 2**20
    name, _, _ = _lazy_zeros("off")
    assert name != "fasttape_caching_allocator"


def test_switched_off_serves_nothing_from_the_cache():
    a = np.empty((300, 300))
    del a  # one block of this class is cached now
    core.set_allocator(False)
    try:
        _, hits0, misses0 = core.allocator_stats()
        for _ in range(5):
            b = np.empty((300, 300))
            del b
        assert core.allocator_stats()[1:] == (hits0, misses0)
    finally:
        core.set_allocator(True)


def test_small_zeroed_blocks_reuse_the_cache():
    a = np.full((256, 256), 3.0)  # 512 KiB: under FT_CALLOC_REUSE_MAX
    del a
    _, hits0, _ = core.allocator_stats()
    z = np.zeros((256, 256))
    assert core.allocator_stats()[1] == hits0 + 1 and not z.any()
