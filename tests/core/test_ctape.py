"""Unit tests of the C tape (csrc/fasttape_tape.c) through fasttape._core._testing:
the id map, pruning on hand-made graphs, and the per-thread stack of active tapes."""

import threading

import pytest

import fasttape as ft
from fasttape._core import _testing

FT_TLS_MAX = 256


# ---------------------------------------------------------------- id map


def test_idmap_empty_get_returns_default():
    m = _testing.IdMap()
    assert len(m) == 0
    assert m.get(1) == -1
    assert m.get(1, 7) == 7
    assert m.get(12345, -9) == -9


def test_idmap_put_get():
    m = _testing.IdMap()
    assert m.put(1, 10) == 1
    assert m.put(2, 20) == 1
    assert m.put(-5, 50) == 1  # negative keys are ordinary keys
    assert len(m) == 3
    assert m.get(1) == 10
    assert m.get(2) == 20
    assert m.get(-5) == 50
    assert m.get(3) == -1


def test_idmap_put_existing_key_overwrites():
    m = _testing.IdMap()
    assert m.put(42, 1) == 1
    assert m.put(42, 2) == 0
    assert len(m) == 1
    assert m.get(42) == 2


def test_idmap_values_may_be_any_int64():
    m = _testing.IdMap()
    m.put(1, 0)
    m.put(2, -1)
    m.put(3, 2**62)
    m.put(4, -(2**63))
    assert m.get(1, 99) == 0
    assert m.get(2, 99) == -1
    assert m.get(3) == 2**62
    assert m.get(4) == -(2**63)


def test_idmap_large_keys():
    m = _testing.IdMap()
    keys = [2**63 - 1, 2**40, 2**40 + 1, 2**32, 1 << 20]
    for i, k in enumerate(keys):
        m.put(k, i)
    for i, k in enumerate(keys):
        assert m.get(k) == i


def test_idmap_key_zero_is_never_stored():
    m = _testing.IdMap()
    assert m.put(0, 5) == 0
    assert len(m) == 0
    assert m.get(0) == -1
    assert m.get(0, 3) == 3
    m.put(1, 1)
    m.put(0, 5)
    assert len(m) == 1
    assert m.get(0, 3) == 3


def test_idmap_clear_keeps_working():
    m = _testing.IdMap()
    for k in range(1, 1000):
        m.put(k, k * 2)
    m.clear()
    assert len(m) == 0
    for k in range(1, 1000):
        assert m.get(k) == -1
    # usable again after clear, including a second growth
    for k in range(1, 3000):
        assert m.put(k, -k) == 1
    assert len(m) == 2999
    for k in range(1, 3000):
        assert m.get(k) == -k


def test_idmap_clear_on_empty_map():
    m = _testing.IdMap()
    m.clear()
    assert len(m) == 0
    m.put(3, 4)
    assert m.get(3) == 4


def test_idmap_growth_to_100k_consecutive_keys():
    # tensor ids are consecutive integers: the case the hash must spread well
    m = _testing.IdMap()
    n = 100_000
    for k in range(1, n + 1):
        assert m.put(k, k + 7) == 1
    assert len(m) == n
    for k in range(1, n + 1):
        assert m.get(k) == k + 7
    assert m.get(n + 1) == -1
    assert m.get(-1) == -1


def test_idmap_growth_to_100k_strided_keys():
    # keys that share low bits (multiples of a power of two) still all fit
    m = _testing.IdMap()
    keys = [k * 4096 for k in range(1, 100_001)]
    for k in keys:
        m.put(k, k // 4096)
    assert len(m) == len(keys)
    for k in keys:
        assert m.get(k) == k // 4096
    assert m.get(4095) == -1
    assert m.get(4097) == -1


def test_idmap_overwrite_during_growth():
    m = _testing.IdMap()
    for k in range(1, 5000):
        m.put(k, 1)
        m.put(k // 2 + 1, k)  # overwrite an earlier key while growing
    assert len(m) == 4999
    for k in range(1, 5000):
        assert m.get(k) != -1


# ------------------------------------------------------------------ prune
#
# CTape.append(op, inputs, outputs) records an entry; ids are ints, 0 means "no
# gradient" (constants, integer tensors). prune(targets, sources) returns
# (indices of live entries, {id: slot}).


def _check_dense(slots):
    assert sorted(slots.values()) == list(range(len(slots)))


def test_prune_empty_tape():
    t = _testing.CTape()
    assert len(t) == 0
    live, slots = t.prune([1], [1])
    assert live == []
    assert set(slots) == {1}
    _check_dense(slots)


def test_prune_chain():
    t = _testing.CTape()
    t.append(0, [1], [2])
    t.append(0, [2], [3])
    t.append(0, [3], [4])
    assert len(t) == 3
    live, slots = t.prune([4], [1])
    assert live == [0, 1, 2]
    assert set(slots) == {1, 2, 3, 4}
    _check_dense(slots)


def test_prune_chain_from_the_middle():
    t = _testing.CTape()
    t.append(0, [1], [2])
    t.append(0, [2], [3])
    t.append(0, [3], [4])
    live, slots = t.prune([4], [2])
    assert live == [1, 2]
    assert set(slots) == {2, 3, 4}
    live, slots = t.prune([3], [1])
    assert live == [0, 1]
    assert set(slots) == {1, 2, 3}


def test_prune_diamond():
    #     1
    #    / \
    #   2   3
    #    \ /
    #     4
    t = _testing.CTape()
    t.append(0, [1], [2])
    t.append(1, [1], [3])
    t.append(2, [2, 3], [4])
    live, slots = t.prune([4], [1])
    assert live == [0, 1, 2]
    assert set(slots) == {1, 2, 3, 4}
    _check_dense(slots)


def test_prune_diamond_one_side_from_a_constant():
    # 4 = f(2, 3); 3 comes from a tensor (9) that does not depend on the source
    t = _testing.CTape()
    t.append(0, [1], [2])
    t.append(1, [9], [3])
    t.append(2, [2, 3], [4])
    live, slots = t.prune([4], [1])
    assert live == [0, 2]
    assert set(slots) == {1, 2, 4}  # 3 and 9 carry no gradient
    _check_dense(slots)


def test_prune_disconnected_branch_is_dead():
    t = _testing.CTape()
    t.append(0, [1], [2])
    t.append(0, [5], [6])  # unrelated computation
    t.append(0, [6], [7])
    t.append(0, [2], [3])
    live, slots = t.prune([3], [1])
    assert live == [0, 3]
    assert set(slots) == {1, 2, 3}
    assert 5 not in slots and 6 not in slots and 7 not in slots


def test_prune_entries_that_do_not_reach_a_target_are_dead():
    # 1 -> 2 -> 3 (target), and 2 -> 8 -> 9 depends on the source but feeds nothing needed
    t = _testing.CTape()
    t.append(0, [1], [2])
    t.append(0, [2], [8])
    t.append(0, [8], [9])
    t.append(0, [2], [3])
    t.append(0, [3], [10])  # downstream of the target: not needed either
    live, slots = t.prune([3], [1])
    assert live == [0, 3]
    assert set(slots) == {1, 2, 3}


def test_prune_target_is_source():
    t = _testing.CTape()
    t.append(0, [1], [2])
    t.append(0, [2], [3])
    live, slots = t.prune([1], [1])
    assert live == []
    assert set(slots) == {1}
    assert slots[1] == 0


def test_prune_target_not_reached_from_source():
    t = _testing.CTape()
    t.append(0, [1], [2])
    t.append(0, [5], [6])
    live, slots = t.prune([6], [1])
    assert live == []
    assert set(slots) == {1, 6}  # both get a slot; 1 will receive no gradient
    _check_dense(slots)


def test_prune_target_not_on_tape():
    t = _testing.CTape()
    t.append(0, [1], [2])
    live, slots = t.prune([77], [1])
    assert live == []
    assert set(slots) == {1, 77}


def test_prune_multiple_targets():
    t = _testing.CTape()
    t.append(0, [1], [2])  # 0
    t.append(0, [1], [3])  # 1
    t.append(0, [2], [4])  # 2: target a
    t.append(0, [3], [5])  # 3: target b
    t.append(0, [1], [6])  # 4: not a target
    live, slots = t.prune([4, 5], [1])
    assert live == [0, 1, 2, 3]
    assert set(slots) == {1, 2, 3, 4, 5}
    _check_dense(slots)


def test_prune_target_that_feeds_another_target():
    t = _testing.CTape()
    t.append(0, [1], [2])
    t.append(0, [2], [3])
    live, slots = t.prune([2, 3], [1])
    assert live == [0, 1]
    assert set(slots) == {1, 2, 3}


def test_prune_multiple_sources():
    t = _testing.CTape()
    t.append(0, [1, 2], [3])  # 0
    t.append(0, [3, 4], [5])  # 1
    t.append(0, [7], [8])  # 2
    live, slots = t.prune([5], [1, 4])
    assert live == [0, 1]
    assert set(slots) == {1, 3, 4, 5}  # 2 is not a source, carries no gradient
    _check_dense(slots)


def test_prune_unused_source_gets_a_slot():
    t = _testing.CTape()
    t.append(0, [1], [2])
    live, slots = t.prune([2], [1, 42])
    assert live == [0]
    assert set(slots) == {1, 2, 42}
    _check_dense(slots)


def test_prune_duplicate_targets_and_sources():
    t = _testing.CTape()
    t.append(0, [1], [2])
    live, slots = t.prune([2, 2], [1, 1])
    assert live == [0]
    assert set(slots) == {1, 2}
    _check_dense(slots)


def test_prune_zero_ids_get_no_slot():
    # input id 0: a constant; output id 0: an integer output
    t = _testing.CTape()
    t.append(0, [1, 0], [2])
    t.append(0, [2], [0])
    t.append(0, [2], [3, 0])
    live, slots = t.prune([3], [1])
    assert live == [0, 2]
    assert 0 not in slots
    assert set(slots) == {1, 2, 3}


def test_prune_source_is_an_intermediate_output():
    # gradient with respect to a tensor computed on the tape
    t = _testing.CTape()
    t.append(0, [1], [2])
    t.append(0, [2], [3])
    t.append(0, [3], [4])
    live, slots = t.prune([4], [3])
    assert live == [2]
    assert set(slots) == {3, 4}


def test_prune_multi_output_entry():
    t = _testing.CTape()
    t.append(0, [1], [2, 3])  # e.g. split
    t.append(0, [2], [4])
    live, slots = t.prune([4], [1])
    assert live == [0, 1]
    # 3 is an output of a live entry but nothing needs it
    assert {1, 2, 4} <= set(slots)
    _check_dense(slots)


def test_prune_reused_input_fan_out():
    t = _testing.CTape()
    t.append(0, [1, 1], [2])  # x * x
    t.append(0, [2, 1], [3])
    live, slots = t.prune([3], [1])
    assert live == [0, 1]
    assert set(slots) == {1, 2, 3}


def test_prune_is_repeatable():
    t = _testing.CTape()
    t.append(0, [1], [2])
    t.append(0, [2], [3])
    first = t.prune([3], [1])
    second = t.prune([3], [1])
    assert first == second
    other = t.prune([2], [1])
    assert other[0] == [0]


def test_prune_long_tape():
    t = _testing.CTape()
    n = 20_000
    for k in range(n):
        t.append(k % 7, [k + 1], [k + 2])
    for k in range(n):
        t.append(0, [10**9 + k], [2 * 10**9 + k])  # dead branch
    assert len(t) == 2 * n
    live, slots = t.prune([n + 1], [1])
    assert live == list(range(n))
    assert len(slots) == n + 1
    _check_dense(slots)


def test_prune_wide_entry():
    t = _testing.CTape()
    ins = list(range(1, 201))
    t.append(0, ins, [1000])
    live, slots = t.prune([1000], ins[::2])
    assert live == [0]
    assert set(slots) == set(ins[::2]) | {1000}


# ----------------------------------------------------- per-thread tape stack


def _in_thread(fn):
    out = {}

    def run():
        out["result"] = fn()

    th = threading.Thread(target=run)
    th.start()
    th.join()
    return out["result"]


@pytest.mark.parametrize("n", [0, 1, 2, 17, FT_TLS_MAX - 1, FT_TLS_MAX])
def test_tls_push_pop_roundtrip(n):
    assert _testing.tls_push_pop_roundtrip(n) == (n, 0)


@pytest.mark.parametrize("n", [FT_TLS_MAX + 1, FT_TLS_MAX + 50])
def test_tls_push_stops_at_the_depth_limit(n):
    depth, after = _testing.tls_push_pop_roundtrip(n)
    assert depth == FT_TLS_MAX
    assert after == 0


def test_tls_roundtrip_repeats():
    for _ in range(100):
        assert _testing.tls_push_pop_roundtrip(FT_TLS_MAX + 1) == (FT_TLS_MAX, 0)


def test_tls_stack_is_per_thread():
    # a full stack in another thread, while this thread has an active tape
    with ft.GradientTape():
        assert _in_thread(lambda: _testing.tls_push_pop_roundtrip(FT_TLS_MAX)) == (FT_TLS_MAX, 0)
        assert _in_thread(lambda: _testing.tls_push_pop_roundtrip(5)) == (5, 0)


def test_tls_depth_limit_through_gradient_tape():
    # the same limit seen from Python: the 257th nested active tape is refused
    tapes = []
    try:
        for _ in range(FT_TLS_MAX):
            t = ft.GradientTape()
            t.__enter__()
            tapes.append(t)
        extra = ft.GradientTape()
        with pytest.raises(RuntimeError, match="256"):
            extra.__enter__()
    finally:
        for t in reversed(tapes):
            t.__exit__(None, None, None)
    # everything was removed from the stack
    assert _testing.tls_push_pop_roundtrip(FT_TLS_MAX) == (FT_TLS_MAX, 0)


@pytest.mark.parametrize("scale", [1, 10**9], ids=["dense ids", "sparse ids (hash map)"])
def test_prune_same_result_for_dense_and_sparse_ids(scale):
    # ft_slots_t is a dense array over a compact id range and a hash map
    # otherwise: both must prune alike
    x, a, b, c, y, unused = (scale * k for k in (1, 2, 3, 4, 5, 6))
    t = _testing.CTape()
    t.append(0, [x], [a])
    t.append(1, [x], [b])
    t.append(2, [a, b], [c])
    t.append(3, [c], [y])
    t.append(4, [x], [unused])
    live, slots = t.prune([y], [x])
    assert live == [0, 1, 2, 3]
    assert set(slots) == {x, a, b, c, y}
    assert sorted(slots.values()) == list(range(5))


def test_tls_stack_is_the_cores_own():
    """The C tape's test access and the core share one per-thread stack: an
    active GradientTape counts in it (a second compiled copy of the C tape
    would have a stack of its own and see depth 0)."""
    with ft.GradientTape():
        assert _testing.tls_push_pop_roundtrip(2) == (3, 1)
    assert _testing.tls_push_pop_roundtrip(2) == (2, 0)


def test_one_extension_holds_the_c_tape():
    """Only fasttape._core.core is compiled: csrc/fasttape_tape.c (and its
    thread-local tape stack) exists once in the process."""
    import glob
    import os

    import fasttape._core as pkg

    here = os.path.dirname(pkg.__file__)
    built = sorted(os.path.basename(p).split(".")[0]
                   for p in glob.glob(os.path.join(here, "*.so")) + glob.glob(
                       os.path.join(here, "*.pyd")))
    assert built == ["core"], built
