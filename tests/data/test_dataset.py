"""ft.data.Dataset: every transformation against a list model of its semantics,
the index-plan fast path against the element path, shuffle's buffer semantics
and seeds, background threads that stop, errors and element specs."""

import gc
import threading
import time
import weakref

import numpy as np
import pytest

import fasttape as ft

D = ft.data.Dataset
N = 23


def as_lists(ds):
    """A dataset's elements as nested Python lists (checks they are ft.Tensors)."""

    def conv(x):
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        if isinstance(x, tuple):
            return tuple(conv(v) for v in x)
        assert isinstance(x, ft.Tensor), type(x)
        return x.numpy().tolist()

    return [conv(e) for e in ds]


def chunks(seq, n, drop=False):
    out = [seq[i:i + n] for i in range(0, len(seq), n)]
    return [c for c in out if len(c) == n] if drop else out


# (name, pipeline on D.range(N), the same on a Python list)
PIPELINES = [
    ("identity", lambda d: d, lambda s: s),
    ("batch5", lambda d: d.batch(5), lambda s: chunks(s, 5)),
    ("batch5_drop", lambda d: d.batch(5, drop_remainder=True), lambda s: chunks(s, 5, True)),
    ("batch_larger_than_data", lambda d: d.batch(100), lambda s: [s]),
    ("take7", lambda d: d.take(7), lambda s: s[:7]),
    ("take_all", lambda d: d.take(-1), lambda s: s),
    ("take0", lambda d: d.take(0), lambda s: []),
    ("skip7", lambda d: d.skip(7), lambda s: s[7:]),
    ("skip_all", lambda d: d.skip(-1), lambda s: []),
    ("skip_past_end", lambda d: d.skip(100), lambda s: []),
    ("repeat3", lambda d: d.repeat(3), lambda s: s * 3),
    ("repeat0", lambda d: d.repeat(0), lambda s: []),
    ("repeat_take", lambda d: d.repeat().take(50), lambda s: (s * 3)[:50]),
    ("repeat_batch", lambda d: d.repeat(2).batch(10), lambda s: chunks(s * 2, 10)),
    ("batch_repeat", lambda d: d.batch(10).repeat(2), lambda s: chunks(s, 10) * 2),
    ("skip_take_batch", lambda d: d.skip(3).take(15).batch(4), lambda s: chunks(s[3:18], 4)),
    ("map", lambda d: d.map(lambda x: x * 3), lambda s: [3 * v for v in s]),
    ("map_tuple", lambda d: d.map(lambda x: (x, x + 1)).batch(4),
     lambda s: [([v for v in c], [v + 1 for v in c]) for c in chunks(s, 4)]),
    ("filter", lambda d: d.filter(lambda x: x % 3 == 0), lambda s: [v for v in s if v % 3 == 0]),
    ("filter_batch", lambda d: d.filter(lambda x: x % 2 == 0).batch(3),
     lambda s: chunks([v for v in s if v % 2 == 0], 3)),
    ("batch_map", lambda d: d.batch(4).map(lambda b: ft.reduce_sum(b)),
     lambda s: [sum(c) for c in chunks(s, 4)]),
    ("unbatch", lambda d: d.batch(4).unbatch(), lambda s: s),
    ("cache", lambda d: d.cache().repeat(2), lambda s: s * 2),
    ("prefetch", lambda d: d.prefetch(3).batch(6), lambda s: chunks(s, 6)),
    ("prefetch_autotune", lambda d: d.batch(6).prefetch(ft.data.AUTOTUNE), lambda s: chunks(s, 6)),
    ("parallel_map", lambda d: d.map(lambda x: x + 1, num_parallel_calls=3),
     lambda s: [v + 1 for v in s]),
    ("enumerate", lambda d: d.take(3).enumerate(start=10),
     lambda s: [(10 + i, v) for i, v in enumerate(s[:3])]),
    ("zip", lambda d: D.zip((d, d.skip(1))), lambda s: list(zip(s, s[1:]))),
    ("zip_dict", lambda d: D.zip({"a": d, "b": d.map(lambda x: -x)}),
     lambda s: [{"a": v, "b": -v} for v in s]),
    ("concatenate", lambda d: d.take(3).concatenate(d.skip(20)), lambda s: s[:3] + s[20:]),
]


@pytest.mark.parametrize("name,pipe,model", PIPELINES, ids=[p[0] for p in PIPELINES])
def test_pipeline_matches_list_model(name, pipe, model):
    ds = pipe(D.range(N))
    expected = model(list(range(N)))
    assert as_lists(ds) == expected
    assert as_lists(ds) == expected  # a dataset iterates afresh each time
    card = int(ds.cardinality())
    assert card in (len(expected), ft.data.UNKNOWN_CARDINALITY)
    if card >= 0:
        assert len(ds) == card


ORDER_ONLY = [
    ("shuffle_batch", lambda d: d.shuffle(8, seed=4).batch(5)),
    ("shuffle_full", lambda d: d.shuffle(1000, seed=4).batch(5, drop_remainder=True)),
    ("repeat_shuffle", lambda d: d.repeat(2).shuffle(10, seed=1).batch(7)),
    ("shuffle_repeat", lambda d: d.shuffle(5, seed=2).repeat(3).batch(9)),
    ("skip_shuffle_take", lambda d: d.skip(2).shuffle(6, seed=3).take(11).batch(4)),
    ("shuffle_cache", lambda d: d.shuffle(30, seed=5).cache().repeat(2).batch(6)),
]


@pytest.mark.parametrize("name,pipe", ORDER_ONLY, ids=[p[0] for p in ORDER_ONLY])
@pytest.mark.parametrize("source", ["range", "slices"])
def test_index_plan_matches_element_path(name, pipe, source):
    # Note [Index plans]: the bulk path (batches gathered by index) and the
    # element path (a map ends the plan) give the same elements, same order.
    base = D.range(N) if source == "range" else D.from_tensor_slices(np.arange(N, dtype=np.int64))
    fast = pipe(base)
    slow = pipe(base.map(lambda x: x))
    assert fast._plan() is not None or isinstance(fast, ft.data.dataset._Batch)
    assert as_lists(fast) == as_lists(slow)


def test_bulk_batching_gathers_whole_batches():
    x = np.arange(4000, dtype=np.float32).reshape(1000, 4)
    ds = D.from_tensor_slices(x).batch(64)
    calls = []
    source = ds._parent
    rows, gather = source._rows, source._gather
    source._rows = lambda stream: calls.append("rows") or rows(stream)
    source._gather = lambda chunk: calls.append("gather") or gather(chunk)
    batches = list(ds)
    assert calls == ["gather"] * 16 and "rows" not in calls
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in batches]), x)
    # unshuffled batches are views of the dataset's own (read-only) copy
    assert np.shares_memory(batches[0].numpy(), source._leaves[0])
    with pytest.raises(ValueError):
        batches[0].numpy()[0, 0] = 1


def test_bulk_batching_is_faster_than_stacking():
    x = np.random.default_rng(0).standard_normal((20000, 8, 8, 1)).astype(np.float32)
    y = np.arange(20000)
    fast = D.from_tensor_slices((x, y)).shuffle(20000, seed=0).batch(64)
    slow = D.from_tensor_slices((x, y)).map(lambda a, b: (a, b)).shuffle(20000, seed=0).batch(64)

    def timed(ds):
        t = time.perf_counter()
        for _ in ds:
            pass
        return time.perf_counter() - t

    t_fast, t_slow = min(timed(fast) for _ in range(2)), timed(slow)
    assert t_fast * 3 < t_slow, (t_fast, t_slow)


def test_from_tensor_slices_structures():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6)
    ds = D.from_tensor_slices({"x": x, "pair": (y, [1.5] * 6)})
    first = next(iter(ds))
    assert set(first) == {"x", "pair"} and isinstance(first["pair"], tuple)
    np.testing.assert_array_equal(first["x"].numpy(), x[0])
    assert first["pair"][1].dtype == np.float32  # Python floats -> float32, as ft.constant
    spec = ds.element_spec
    assert spec["x"] == ft.TensorSpec([2], np.float32)
    assert spec["pair"][0] == ft.TensorSpec([], y.dtype)
    # a list is one tensor (tf.data), so its rows are the elements
    assert as_lists(D.from_tensor_slices([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    # later writes to the caller's array change nothing
    x[0, 0] = 99
    assert next(iter(ds))["x"].numpy()[0] == 0


def test_from_tensor_slices_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"\[0\]: \(3,\), \[1\]: \(4, 2\)"):
        D.from_tensor_slices((np.zeros(3), np.zeros((4, 2))))
    with pytest.raises(ValueError, match="scalar"):
        D.from_tensor_slices((np.zeros(3), 1.0))
    with pytest.raises(TypeError, match="None"):
        D.from_tensor_slices((np.zeros(3), None))


def test_from_tensors_and_namedtuples():
    import collections

    P = collections.namedtuple("P", "a b")
    ds = D.from_tensors(P(np.zeros((2, 3)), 1))
    (e,) = list(ds)
    assert isinstance(e, P) and e.a.shape == (2, 3) and int(e.b) == 1
    assert ds.element_spec.a == ft.TensorSpec([2, 3], np.float64)
    assert int(ds.cardinality()) == 1
    b = next(iter(D.from_tensor_slices(P(np.zeros((4, 3)), np.arange(4))).batch(3)))
    assert isinstance(b, P) and b.a.shape == (3, 3)


def test_from_generator():
    def gen(n):
        for i in range(int(n)):
            yield np.full((i + 1,), i, np.float32), {"label": i}

    sig = (ft.TensorSpec([None], ft.float32), {"label": ft.TensorSpec([], ft.int32)})
    ds = D.from_generator(gen, output_signature=sig, args=(3,))
    assert as_lists(ds) == [([0.0], {"label": 0}), ([1.0, 1.0], {"label": 1}),
                            ([2.0, 2.0, 2.0], {"label": 2})]
    assert as_lists(ds) == as_lists(ds)  # the generator is called again
    assert ds.element_spec == sig
    assert int(ds.cardinality()) == ft.data.UNKNOWN_CARDINALITY
    with pytest.raises(ValueError, match=r"component \[0\].*\(1,\).*\(2,\)"):
        list(ds.batch(2))
    legacy = D.from_generator(lambda: iter([[1, 2], [3, 4]]), output_types=ft.int32,
                              output_shapes=[2])
    assert as_lists(legacy) == [[1, 2], [3, 4]]


def test_from_generator_errors():
    with pytest.raises(TypeError, match="callable"):
        D.from_generator((i for i in range(3)), output_signature=ft.TensorSpec([]))
    with pytest.raises(TypeError, match="output_signature"):
        D.from_generator(lambda: iter([]))
    bad_shape = D.from_generator(lambda: iter([np.zeros(3)]),
                                 output_signature=ft.TensorSpec([2], ft.float64))
    with pytest.raises(ValueError, match=r"element 0.*\(3,\).*\(2,\)"):
        list(bad_shape)
    bad_structure = D.from_generator(lambda: iter([1]), output_signature=(
        ft.TensorSpec([], ft.int32), ft.TensorSpec([], ft.int32)))
    with pytest.raises(TypeError, match="sequence of 2"):
        list(bad_structure)


def test_range_arguments():
    assert as_lists(D.range(5)) == [0, 1, 2, 3, 4]
    assert as_lists(D.range(2, 5)) == [2, 3, 4]
    assert as_lists(D.range(10, 0, -3)) == [10, 7, 4, 1]
    assert as_lists(D.range(10, 0, -3).batch(3)) == [[10, 7, 4], [1]]
    assert D.range(3).element_spec == ft.TensorSpec([], ft.int64)
    assert next(iter(D.range(3, dtype=ft.int32))).dtype == np.int32
    with pytest.raises(ValueError, match="step"):
        D.range(0, 5, 0)
    with pytest.raises(TypeError, match="int"):
        D.range(2.5)


def shuffled(ds):
    return [int(v) for v in ds]


@pytest.mark.parametrize("buffer_size", [1, 4, N, 1000])
def test_shuffle_seed_determinism_and_reshuffle(buffer_size):
    a = D.range(N).shuffle(buffer_size, seed=7)
    b = D.range(N).shuffle(buffer_size, seed=7)
    first, second = shuffled(a), shuffled(a)
    assert sorted(first) == list(range(N))
    assert first == shuffled(b)  # same seed, same order
    if buffer_size == 1:
        assert first == second == list(range(N))  # a buffer of one keeps the order
    else:
        assert first != second  # reshuffled on the next iteration
        assert shuffled(b) == second  # ... to the same second order
        fixed = D.range(N).shuffle(buffer_size, seed=7, reshuffle_each_iteration=False)
        assert shuffled(fixed) == shuffled(fixed)
        assert shuffled(D.range(N).shuffle(buffer_size, seed=8)) != first


def test_shuffle_buffer_semantics():
    # element i can only come out once it has entered the buffer: at output
    # position p, at most p + buffer_size elements have been read
    for seed in range(20):
        out = shuffled(D.range(100).shuffle(5, seed=seed))
        assert sorted(out) == list(range(100))
        assert all(v < p + 5 for p, v in enumerate(out))
    # a buffer as large as the data: every position is uniform (chi-square-free check)
    firsts = [shuffled(D.range(4).shuffle(4, seed=s))[0] for s in range(400)]
    counts = np.bincount(firsts, minlength=4)
    assert counts.min() > 60, counts


def test_shuffle_seed_none_follows_global_seed():
    ft.random.set_seed(3)
    a = shuffled(D.range(N).shuffle(N))
    ft.random.set_seed(3)
    b = shuffled(D.range(N).shuffle(N))
    assert a == b and sorted(a) == list(range(N))


def test_drop_remainder_and_element_spec():
    x = np.zeros((10, 3), np.float32)
    assert D.from_tensor_slices(x).batch(4).element_spec == ft.TensorSpec([None, 3])
    dropped = D.from_tensor_slices(x).batch(4, drop_remainder=True)
    assert dropped.element_spec == ft.TensorSpec([4, 3])
    assert [b.shape for b in dropped] == [(4, 3), (4, 3)]
    assert len(dropped) == 2 and len(D.from_tensor_slices(x).batch(4)) == 3
    mapped = D.from_tensor_slices(x).batch(4).map(lambda b: {"s": ft.reduce_sum(b, axis=1)})
    assert mapped.element_spec == {"s": ft.TensorSpec([None], ft.float32)}


def test_cardinality_constants():
    assert int(D.range(5).repeat().cardinality()) == ft.data.INFINITE_CARDINALITY
    assert int(D.range(5).repeat().take(12).cardinality()) == 12
    assert int(D.range(5).filter(lambda x: x > 1).cardinality()) == ft.data.UNKNOWN_CARDINALITY
    with pytest.raises(TypeError, match="infinite"):
        len(D.range(5).repeat())
    with pytest.raises(TypeError, match="unknown"):
        len(D.range(5).filter(lambda x: x > 1))


def test_map_spreads_tuples_and_passes_dicts():
    ds = D.from_tensor_slices((np.arange(3), np.arange(3) * 2))
    assert as_lists(ds.map(lambda a, b: a + b)) == [0, 3, 6]
    dd = D.from_tensor_slices({"a": np.arange(3)})
    assert as_lists(dd.map(lambda d: d["a"] * 2)) == [0, 2, 4]
    seen = []
    ds.map(lambda a, b: seen.append(type(a)) or a).take(1).as_numpy_iterator().__next__()
    assert seen == [ft.Tensor]


def test_cache_replays_first_iteration():
    calls = []

    def f(x):
        calls.append(int(x))
        return x

    ds = D.range(5).map(f).cache()
    assert as_lists(ds) == as_lists(ds) == [0, 1, 2, 3, 4]
    assert calls == [0, 1, 2, 3, 4]  # the second pass reads the cache


BAD_ARGUMENTS = [
    (lambda: D.range(3).batch(0), ValueError, "batch_size"),
    (lambda: D.range(3).batch(2.0), TypeError, "batch_size"),
    (lambda: D.range(3).shuffle(0), ValueError, "buffer_size"),
    (lambda: D.range(3).shuffle(3, seed=-1), ValueError, "seed"),
    (lambda: D.range(3).take(-2), ValueError, "count"),
    (lambda: D.range(3).skip(None), TypeError, "count"),
    (lambda: D.range(3).repeat(-3), ValueError, "count"),
    (lambda: D.range(3).prefetch(-5), ValueError, "buffer_size"),
    (lambda: D.range(3).map(3), TypeError, "map_func"),
    (lambda: D.range(3).filter("x"), TypeError, "predicate"),
    (lambda: D.range(3).cache("/tmp/x"), NotImplementedError, "filename"),
    (lambda: D.zip((D.range(3), [1, 2])), TypeError, "datasets"),
    (lambda: D.range(3).concatenate(D.range(3).map(lambda x: ft.cast(x, ft.float32))),
     TypeError, "element_specs"),
    (lambda: list(D.range(3).filter(lambda x: x)), TypeError, "scalar bool"),
    (lambda: D.range(1, 2, 3, 4), TypeError, "1 to 3"),
]


@pytest.mark.parametrize("make,exc,match", BAD_ARGUMENTS)
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_iterating_inside_ft_function_is_an_error():
    ds = D.range(3)

    @ft.function
    def f():
        return [x for x in ds]

    with pytest.raises(RuntimeError, match="eager"):
        f()


# ---------------------------------------------------------------- background threads


def _data_threads():
    return [t for t in threading.enumerate() if t.name.startswith("ft.data")]


def _settle():
    for _ in range(50):
        gc.collect()
        if not _data_threads():
            return
        time.sleep(0.02)


@pytest.mark.parametrize("pipe", [
    lambda d: d.prefetch(2),
    lambda d: d.batch(4).prefetch(1),
    lambda d: d.prefetch(2).map(lambda x: x + 1).prefetch(3),  # nested prefetches
    lambda d: d.map(lambda x: x * 2, num_parallel_calls=ft.data.AUTOTUNE).prefetch(2),
], ids=["prefetch", "batch_prefetch", "nested", "parallel_map"])
def test_abandoned_iteration_stops_threads(pipe):
    _settle()
    assert _data_threads() == []
    ds = pipe(D.range(10**6).repeat())
    it = iter(ds)
    for _ in range(5):
        next(it)
    assert _data_threads()  # the producers run
    inner = weakref.ref(it)
    del it
    _settle()
    assert inner() is None
    assert _data_threads() == []
    for i, _ in enumerate(ds):  # a `for` loop left with break
        if i > 3:
            break
    _settle()
    assert _data_threads() == []


def test_prefetch_is_bounded_and_passes_errors():
    produced = []

    def gen():
        for i in range(100):
            produced.append(i)
            yield i

    ds = D.from_generator(gen, output_signature=ft.TensorSpec([], ft.int32)).prefetch(3)
    it = iter(ds)
    assert int(next(it)) == 0
    time.sleep(0.2)
    assert len(produced) <= 1 + 3 + 1  # consumed + queued + one held by the producer
    del it
    _settle()

    def failing(x):
        if int(x) == 2:
            raise KeyError("boom")
        return x

    with pytest.raises(KeyError, match="boom"):
        list(D.range(5).map(failing).prefetch(2))
    _settle()
    assert _data_threads() == []
