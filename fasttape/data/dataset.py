"""`ft.data.Dataset`: tf.data's input pipelines, run eagerly in Python over NumPy.

A dataset is an immutable description (a chain of stages); each `iter()` walks
it afresh. Inside the pipeline elements are nested structures (tuples, dicts,
lists, namedtuples) of ndarrays; they become `ft.Tensor`s where user code sees
them: at iteration, and as the arguments of `map` and `filter` functions.
"""

import itertools
import math
import os

import numpy as np

from fasttape import nest
from fasttape._core import core as _core
from fasttape.data import _threads

AUTOTUNE = -1
INFINITE = INFINITE_CARDINALITY = -1
UNKNOWN = UNKNOWN_CARDINALITY = -2

_PREFETCH_AUTOTUNE = 2  # elements buffered by prefetch(AUTOTUNE)


# ---------------------------------------------------------------- helpers


def _spec(shape, dtype):
    from fasttape.function import TensorSpec

    return TensorSpec(shape, dtype)


def _to_array(value, dtype=None):
    """A leaf as an ndarray, by ft.convert_to_tensor's rules (floats -> float32, ...)."""
    if isinstance(value, _core.Tensor) and dtype is None:
        if _core.is_symbolic(value):
            raise TypeError(f"ft.data: expects values, not the symbolic tensor {value.name}")
        return _core.tensor_value(value)
    return _core.tensor_value(_core.convert_to_tensor(value, dtype))


def _normalize(structure, what):
    """`structure` with every leaf an ndarray. Lists are values, as in tf.data
    (`[1, 2, 3]` is one tensor); tuples, dicts and namedtuples are structure."""
    if isinstance(structure, dict):
        return type(structure)((k, _normalize(structure[k], what)) for k in structure)
    if isinstance(structure, tuple):
        items = [_normalize(v, what) for v in structure]
        return type(structure)(*items) if hasattr(structure, "_fields") else tuple(items)
    if structure is None:
        raise TypeError(f"{what}: None is not a tensor (in the structure given)")
    try:
        return _to_array(structure)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{what}: cannot convert {type(structure).__name__} to a tensor: "
                        f"{e}") from None


def _paths(structure, prefix=""):
    """Printable paths of the leaves, in nest.flatten's order."""
    if isinstance(structure, dict):
        return [p for k in sorted(structure) for p in _paths(structure[k], f"{prefix}[{k!r}]")]
    if isinstance(structure, (tuple, list)):
        return [p for i, v in enumerate(structure) for p in _paths(v, f"{prefix}[{i}]")]
    return [prefix or "the tensor"]


def _to_tensors(element):
    """An element (arrays) as the user sees it (ft.Tensors, same structure)."""
    if isinstance(element, np.ndarray):
        return _core.wrap_array(element)
    return nest.pack_sequence_as(element, [_core.wrap_array(a) for a in nest.flatten(element)])


def _from_user(value, what):
    """A map function's result (tensors, arrays, numbers) back to arrays."""
    if isinstance(value, list):  # a list result is a tuple of components (tf.data)
        value = tuple(value)
    return _normalize(value, what)


def _call(fn, element):
    """fn on an element: a tuple is spread over the arguments (tf.data's rule)."""
    args = _to_tensors(element)
    if isinstance(element, tuple) and not hasattr(element, "_fields"):
        return fn(*args)
    return fn(args)


def _check_int(what, value, minimum):
    if isinstance(value, _core.Tensor):
        value = value.numpy()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value}")
    return int(value)


def _fn_name(fn):
    return getattr(fn, "__qualname__", None) or type(fn).__name__


# ---------------------------------------------------------------- Dataset


class Dataset:
    """A sequence of elements built from tensors, a generator or other datasets.

    >>> import numpy as np
    >>> import fasttape as ft
    >>> ds = ft.data.Dataset.from_tensor_slices((np.arange(5), np.arange(5) * 10))
    >>> [(int(x), int(y)) for x, y in ds.skip(1).take(2)]
    [(1, 10), (2, 20)]
    >>> [b.numpy().tolist() for b in ft.data.Dataset.range(5).batch(2)]
    [[0, 1], [2, 3], [4]]
    """

    # Note [Index plans]
    # Sources that hold their data in memory (from_tensor_slices, range) are
    # "indexable": the stages that only reorder or select elements (shuffle,
    # take, skip, repeat, cache) then work on streams of row indices, and a
    # batch right after them gathers each batch with one `np.take` per
    # component (or one slice, a view, when the indices are consecutive),
    # instead of stacking batch_size single-row elements. A stage that runs
    # user code (map, filter) or mixes datasets (zip, ...) ends the plan; the
    # stages after it see elements. `_plan()` returns (source, make_stream)
    # where `make_stream()` yields chunks (a `range` or an int ndarray), or
    # None. Both paths yield the same elements in the same order: shuffle
    # draws the same random numbers for indices as for elements.

    def __init__(self):
        self._spec_cache = None

    # --- subclass interface

    def _plan(self):
        return None

    def _elements(self):
        """Iterator over the elements (nested structures of ndarrays)."""
        plan = self._plan()
        if plan is None:
            raise NotImplementedError(type(self).__name__)
        source, make_stream = plan
        return source._rows(make_stream())

    def _cardinality(self):
        return UNKNOWN

    def _element_spec(self):
        raise NotImplementedError(type(self).__name__)

    # --- iteration

    def __iter__(self):
        from fasttape import graph

        if not graph.executing_eagerly() or _core.staging():
            raise RuntimeError(
                "ft.data.Dataset: iterating a dataset needs eager execution (it yields "
                "concrete tensors); iterate it outside ft.function and graph mode, and pass "
                "the elements in")
        return Iterator(self)

    def as_numpy_iterator(self):
        """The elements as nested structures of NumPy arrays (read-only)."""
        for element in self._elements():
            yield nest.pack_sequence_as(element, [_readonly(a) for a in nest.flatten(element)]) \
                if not isinstance(element, np.ndarray) else _readonly(element)

    def __len__(self):
        n = self._cardinality()
        if n == INFINITE:
            raise TypeError("ft.data.Dataset: the dataset is infinite (len() is undefined)")
        if n == UNKNOWN:
            raise TypeError("ft.data.Dataset: the dataset's length is unknown "
                            "(use cardinality(), which returns UNKNOWN_CARDINALITY)")
        return n

    def __bool__(self):
        return True

    def cardinality(self):
        """The number of elements, or INFINITE_CARDINALITY (-1) or
        UNKNOWN_CARDINALITY (-2), as an int64 scalar tensor."""
        return _core.wrap_array(np.array(self._cardinality(), np.int64))

    @property
    def element_spec(self):
        """The nested structure of `ft.TensorSpec`s of an element."""
        if self._spec_cache is None:
            self._spec_cache = self._element_spec()
        return self._spec_cache

    def __repr__(self):
        return f"<{type(self).__name__} element_spec={self.element_spec}>"

    # --- sources

    @staticmethod
    def from_tensor_slices(tensors, name=None):
        """One element per row of `tensors` (a tensor, array, list, or a tuple /
        dict / namedtuple of them, nested): all components must have the same
        first dimension."""
        return _TensorSlices(tensors)

    @staticmethod
    def from_tensors(tensors, name=None):
        """A dataset of one element, `tensors` (any nested structure)."""
        return _Tensors(tensors)

    @staticmethod
    def from_generator(generator, output_types=None, output_shapes=None, args=None,
                       output_signature=None, name=None):
        """Elements from `generator()` (called anew for each iteration, with
        `*args`), checked against `output_signature` (a nested structure of
        `ft.TensorSpec`) or the older `output_types` / `output_shapes`."""
        return _Generator(generator, output_types, output_shapes, args, output_signature)

    @staticmethod
    def range(*args, dtype=np.int64, name=None):
        """`range(stop)`, `range(start, stop[, step])`, as Python's, int64 by default."""
        return _Range(args, dtype)

    @staticmethod
    def zip(*datasets, name=None):
        """Tuples (or the given structure) of the datasets' elements, as long as the shortest."""
        if len(datasets) == 1 and not isinstance(datasets[0], Dataset):
            datasets = datasets[0]
        return _Zip(datasets)

    # --- transformations

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True, name=None):
        """Elements drawn at random from a buffer of `buffer_size` elements, which
        refills from upstream (tf.data's buffer semantics: a buffer at least as
        large as the dataset gives a uniform shuffle)."""
        return _Shuffle(self, buffer_size, seed, reshuffle_each_iteration)

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None,
              deterministic=None, name=None):
        """Consecutive elements stacked into batches (the last one smaller unless
        `drop_remainder`)."""
        return _Batch(self, batch_size, drop_remainder)

    def unbatch(self, name=None):
        """The rows of each element (the inverse of batch)."""
        return _Unbatch(self)

    def map(self, map_func, num_parallel_calls=None, deterministic=None, name=None):
        """`map_func` applied to each element (a tuple element is spread over its
        arguments); with `num_parallel_calls` (an int or AUTOTUNE), in threads,
        the output still in input order."""
        return _Map(self, map_func, num_parallel_calls)

    def filter(self, predicate, name=None):
        """The elements for which `predicate` returns a true scalar."""
        return _Filter(self, predicate)

    def repeat(self, count=None, name=None):
        """The dataset `count` times (None or -1: forever)."""
        return _Repeat(self, count)

    def take(self, count, name=None):
        """The first `count` elements (-1: all)."""
        return _Take(self, count)

    def skip(self, count, name=None):
        """All but the first `count` elements (-1: skips everything)."""
        return _Skip(self, count)

    def prefetch(self, buffer_size, name=None):
        """The elements computed in a background thread, at most `buffer_size`
        (AUTOTUNE: 2) ahead of the consumer."""
        return _Prefetch(self, buffer_size)

    def cache(self, filename="", name=None):
        """The elements of the first complete iteration kept in memory and
        replayed afterwards (a shuffle upstream is then fixed)."""
        return _Cache(self, filename)

    def enumerate(self, start=0, name=None):
        """(index, element) pairs, the index an int64 counting from `start`."""
        return Dataset.zip((Dataset.range(start, np.iinfo(np.int64).max), self))

    def concatenate(self, dataset, name=None):
        """This dataset's elements, then `dataset`'s (same structure and dtypes)."""
        return _Concatenate(self, dataset)

    def apply(self, transformation_func):
        """`transformation_func(self)`."""
        return transformation_func(self)


class Iterator:
    """An iteration of a dataset (`iter(ds)`): `next()` / `get_next()` give
    elements as ft.Tensors; dropping or `close()`-ing it stops the iteration's
    background threads (Note [Background iterators stop when dropped])."""

    def __init__(self, dataset):
        self._elements = dataset._elements()
        self._dataset = dataset

    @property
    def element_spec(self):
        return self._dataset.element_spec

    def __iter__(self):
        return self

    def __next__(self):
        return _to_tensors(next(self._elements))

    def get_next(self):
        """The next element (StopIteration at the end, like next())."""
        return _to_tensors(next(self._elements))

    def close(self):
        """Ends the iteration now (its background threads stop)."""
        close = getattr(self._elements, "close", None)
        self._elements = iter(())
        if close is not None:
            close()


def _readonly(a):
    v = a.view()
    v.flags.writeable = False
    return v


def _unknown_batch(spec):
    return _spec((None,) + tuple(spec.shape), spec.dtype)


def _map_specs(fn, structure):
    if isinstance(structure, dict):
        return type(structure)((k, _map_specs(fn, structure[k])) for k in structure)
    if isinstance(structure, (tuple, list)) and not hasattr(structure, "shape"):
        items = [_map_specs(fn, v) for v in structure]
        return type(structure)(*items) if hasattr(structure, "_fields") else type(structure)(items)
    return fn(structure)


# ---------------------------------------------------------------- sources


class _TensorSlices(Dataset):
    def __init__(self, tensors):
        super().__init__()
        what = "Dataset.from_tensor_slices"
        structure = _normalize(tensors, what)
        leaves = nest.flatten(structure)
        if not leaves:
            raise ValueError(f"{what}: the structure has no tensors")
        paths = _paths(structure)
        for p, a in zip(paths, leaves):
            if a.ndim == 0:
                raise ValueError(f"{what}: {p} is a scalar (shape ()); slicing needs at "
                                 "least one dimension")
        sizes = {a.shape[0] for a in leaves}
        if len(sizes) > 1:
            shapes = ", ".join(f"{p}: {a.shape}" for p, a in zip(paths, leaves))
            raise ValueError(f"{what}: the components' first dimensions differ ({shapes}); "
                             "every component needs the same number of rows")
        # own read-only copies: later writes to the caller's arrays change nothing
        self._leaves = [_frozen(a) for a in leaves]
        self._structure = structure
        self._n = leaves[0].shape[0]

    def _plan(self):
        return self, lambda: iter((range(self._n),))

    def _pack(self, leaves):
        if isinstance(self._structure, np.ndarray):
            return leaves[0]
        return nest.pack_sequence_as(self._structure, leaves)

    def _rows(self, stream):
        leaves, pack = self._leaves, self._pack
        for chunk in stream:
            for i in (chunk if isinstance(chunk, range) else chunk.tolist()):
                yield pack([a[i, ...] for a in leaves])

    def _gather(self, chunk):
        """The batch of rows `chunk`: a view for consecutive rows, else one take each."""
        if isinstance(chunk, range):
            s = slice(chunk.start, chunk.stop, chunk.step)
            return self._pack([a[s] for a in self._leaves])
        return self._pack([np.take(a, chunk, axis=0) for a in self._leaves])

    def _cardinality(self):
        return self._n

    def _element_spec(self):
        return self._pack([_spec(a.shape[1:], a.dtype) for a in self._leaves])


def _frozen(a):
    if a.flags.writeable or not a.flags.c_contiguous:
        a = np.array(a, order="C")
    a.flags.writeable = False
    return a


class _Tensors(Dataset):
    def __init__(self, tensors):
        super().__init__()
        s = _normalize(tensors, "Dataset.from_tensors")
        self._element = _map_specs(_frozen, s) if not isinstance(s, np.ndarray) else _frozen(s)

    def _elements(self):
        return iter((self._element,))

    def _cardinality(self):
        return 1

    def _element_spec(self):
        return _map_specs(lambda a: _spec(a.shape, a.dtype), self._element)


class _Range(Dataset):
    def __init__(self, args, dtype):
        super().__init__()
        if not 1 <= len(args) <= 3:
            raise TypeError(f"Dataset.range: takes 1 to 3 positional arguments "
                            f"(stop or start, stop[, step]), got {len(args)}")
        names = ("stop",) if len(args) == 1 else ("start", "stop", "step")
        vals = [_check_int(f"Dataset.range: {n}", a, -(2**63)) for n, a in zip(names, args)]
        start, stop, step = ([0] + vals + [1])[:3] if len(vals) == 1 else (vals + [1])[:3]
        if step == 0:
            raise ValueError("Dataset.range: step must not be 0")
        self._range = range(start, stop, step)
        self._dtype = np.dtype(dtype)

    def _plan(self):
        return self, lambda: iter((range(len(self._range)),))

    def _rows(self, stream):
        r, dt = self._range, self._dtype
        for chunk in stream:
            for i in (chunk if isinstance(chunk, range) else chunk.tolist()):
                yield np.array(r[i], dt)

    def _gather(self, chunk):
        r = self._range
        if isinstance(chunk, range):
            chunk = np.arange(chunk.start, chunk.stop, chunk.step)
        return (r.start + r.step * chunk).astype(self._dtype)

    def _cardinality(self):
        return len(self._range)

    def _element_spec(self):
        return _spec((), self._dtype)


class _Generator(Dataset):
    def __init__(self, generator, output_types, output_shapes, args, output_signature):
        super().__init__()
        what = "Dataset.from_generator"
        if not callable(generator):
            raise TypeError(f"{what}: `generator` must be a callable that returns an iterator "
                            f"(e.g. a generator function), got {type(generator).__name__}")
        if output_signature is not None:
            if output_types is not None or output_shapes is not None:
                raise TypeError(f"{what}: give either output_signature or "
                                "output_types/output_shapes, not both")
            signature = output_signature
        elif output_types is not None:
            from fasttape.dtypes import as_dtype

            if output_shapes is None:
                signature = _map_specs(lambda t: _spec(None, as_dtype(t)), output_types)
            else:
                types = nest.flatten(_as_structure(output_types))
                shapes = _flat_shapes(output_shapes, len(types), what)
                signature = nest.pack_sequence_as(
                    _as_structure(output_types),
                    [_spec(s, as_dtype(t)) for t, s in zip(types, shapes)])
        else:
            raise TypeError(f"{what}: output_signature (a nested structure of ft.TensorSpec) "
                            "is required")
        from fasttape.function import TensorSpec

        for s in nest.flatten(signature):
            if not isinstance(s, TensorSpec):
                raise TypeError(f"{what}: output_signature must contain ft.TensorSpec "
                                f"objects, got {type(s).__name__}")
        self._generator = generator
        self._args = tuple(args) if args is not None else ()
        self._signature = signature

    def _elements(self):
        what = "Dataset.from_generator"
        sig = self._signature
        specs = nest.flatten(sig)
        paths = _paths(sig)
        single = len(specs) == 1 and not isinstance(sig, (tuple, list, dict))
        for k, value in enumerate(self._generator(*self._args)):
            leaves = [value] if single else _flatten_like(sig, value, what, k)
            arrays = []
            for p, spec, v in zip(paths, specs, leaves):
                try:
                    a = _to_array(v, spec.dtype)
                except (TypeError, ValueError) as e:
                    raise TypeError(f"{what}: element {k}, {p}: expected {spec.dtype.name}, "
                                    f"got {_describe(v)} ({e})") from None
                if not spec.shape.is_compatible_with(a.shape):
                    raise ValueError(f"{what}: element {k}, {p}: shape {a.shape} does not "
                                     f"match the signature's {spec.shape}")
                arrays.append(a)
            yield arrays[0] if single else nest.pack_sequence_as(sig, arrays)

    def _element_spec(self):
        return self._signature


def _as_structure(s):
    return tuple(s) if isinstance(s, list) else s


def _flat_shapes(shapes, n, what):
    if n == 1 and not isinstance(shapes, (tuple, dict)):
        return [shapes]
    flat = []

    def walk(s):
        if isinstance(s, dict):
            for k in sorted(s):
                walk(s[k])
        elif isinstance(s, tuple) or (isinstance(s, list) and s and
                                      isinstance(s[0], (tuple, list, dict))):
            for v in s:
                walk(v)
        else:
            flat.append(s)

    walk(shapes)
    if len(flat) != n:
        raise ValueError(f"{what}: output_shapes has {len(flat)} shapes for {n} output_types")
    return flat


def _flatten_like(structure, value, what, k):
    """The leaves of `value`, which must have `structure`'s structure."""
    if isinstance(structure, dict):
        if not isinstance(value, dict) or set(value) != set(structure):
            raise TypeError(f"{what}: element {k} is {_describe(value)}; the signature wants "
                            f"a dict with keys {sorted(structure)}")
        return [x for key in sorted(structure) for x in _flatten_like(structure[key], value[key],
                                                                       what, k)]
    if isinstance(structure, (tuple, list)):
        if not isinstance(value, (tuple, list)) or len(value) != len(structure):
            raise TypeError(f"{what}: element {k} is {_describe(value)}; the signature wants "
                            f"a sequence of {len(structure)} components")
        return [x for s, v in zip(structure, value) for x in _flatten_like(s, v, what, k)]
    return [value]


def _describe(v):
    from fasttape.errors import describe

    if isinstance(v, (tuple, list)):
        return f"a {type(v).__name__} of {len(v)}"
    return describe(v)


class _Zip(Dataset):
    def __init__(self, datasets):
        super().__init__()
        flat = nest.flatten(datasets)
        for d in flat:
            if not isinstance(d, Dataset):
                raise TypeError(f"Dataset.zip: expects datasets (in a tuple or dict), "
                                f"got {type(d).__name__}")
        self._structure = datasets if not isinstance(datasets, list) else tuple(datasets)
        self._datasets = flat

    def _elements(self):
        for parts in zip(*[d._elements() for d in self._datasets]):
            yield nest.pack_sequence_as(self._structure, list(parts))

    def _cardinality(self):
        cards = [d._cardinality() for d in self._datasets]
        finite = [c for c in cards if c >= 0]
        if finite:
            return min(finite)
        return UNKNOWN if UNKNOWN in cards else INFINITE

    def _element_spec(self):
        return nest.pack_sequence_as(self._structure, [d.element_spec for d in self._datasets])


class _Concatenate(Dataset):
    def __init__(self, first, second):
        super().__init__()
        if not isinstance(second, Dataset):
            raise TypeError(f"Dataset.concatenate: expects a Dataset, got {type(second).__name__}")
        a, b = nest.flatten(first.element_spec), nest.flatten(second.element_spec)
        if len(a) != len(b) or any(x.dtype != y.dtype for x, y in zip(a, b)):
            raise TypeError(f"Dataset.concatenate: the datasets' element_specs differ: "
                            f"{first.element_spec} and {second.element_spec}")
        self._parts = (first, second)

    def _elements(self):
        return itertools.chain(self._parts[0]._elements(), self._parts[1]._elements())

    def _cardinality(self):
        a, b = (d._cardinality() for d in self._parts)
        if INFINITE in (a, b):
            return INFINITE
        return UNKNOWN if UNKNOWN in (a, b) else a + b

    def _element_spec(self):
        def merge(x, y):
            sx, sy = x.shape, y.shape
            if sx.rank is None or sy.rank is None or sx.rank != sy.rank:
                return _spec(None, x.dtype)
            return _spec([dx if dx == dy else None for dx, dy in zip(sx, sy)], x.dtype)

        a, b = self._parts
        return nest.pack_sequence_as(a.element_spec, [
            merge(x, y) for x, y in zip(nest.flatten(a.element_spec),
                                        nest.flatten(b.element_spec))])


# ---------------------------------------------------------------- transformations


class _Unary(Dataset):
    def __init__(self, parent):
        super().__init__()
        if not isinstance(parent, Dataset):
            raise TypeError(f"expects a Dataset, got {type(parent).__name__}")
        self._parent = parent

    def _cardinality(self):
        return self._parent._cardinality()

    def _element_spec(self):
        return self._parent.element_spec


class _Shuffle(_Unary):
    def __init__(self, parent, buffer_size, seed, reshuffle):
        super().__init__(parent)
        self._buffer_size = _check_int("Dataset.shuffle: buffer_size", buffer_size, 1)
        if seed is None:
            from fasttape.ops.random_ops import rng

            seed = int(rng().integers(2**63))  # reproducible under ft.random.set_seed
        self._seed = _check_int("Dataset.shuffle: seed", seed, 0)
        self._reshuffle = bool(reshuffle)
        self._epochs = itertools.count()

    def _rng(self):
        if self._reshuffle:
            return np.random.default_rng([self._seed, next(self._epochs)])
        return np.random.default_rng(self._seed)

    def _plan(self):
        plan = self._parent._plan()
        if plan is None:
            return None
        source, make_stream = plan

        def stream():
            items = itertools.chain.from_iterable(
                c if isinstance(c, range) else c.tolist() for c in make_stream())
            out = _shuffled(items, self._buffer_size, self._rng())
            while True:
                chunk = np.fromiter(itertools.islice(out, 4096), np.int64)
                if not len(chunk):
                    return
                yield chunk

        return source, stream

    def _elements(self):
        if self._plan() is not None:
            return super()._elements()
        return _shuffled(self._parent._elements(), self._buffer_size, self._rng())


def _shuffled(items, buffer_size, rng):
    """tf.data's shuffle: fill a buffer, then repeatedly emit a random slot and
    refill it from `items` (once `items` runs out, the slot takes the last one)."""
    items = iter(items)
    buf = list(itertools.islice(items, buffer_size))
    draws, k = rng.random(1024), 0
    exhausted = len(buf) < buffer_size
    while buf:
        if k == len(draws):
            draws, k = rng.random(1024), 0
        j = int(draws[k] * len(buf))
        k += 1
        out = buf[j]
        if not exhausted:
            for nxt in items:
                buf[j] = nxt
                break
            else:
                exhausted = True
        if exhausted:
            last = buf.pop()
            if j < len(buf):
                buf[j] = last
        yield out


class _Batch(_Unary):
    def __init__(self, parent, batch_size, drop_remainder):
        super().__init__(parent)
        self._size = _check_int("Dataset.batch: batch_size", batch_size, 1)
        self._drop = bool(drop_remainder)

    def _elements(self):
        plan = self._parent._plan()
        if plan is not None:
            source, make_stream = plan
            return map(source._gather, _rechunk(make_stream(), self._size, self._drop))
        return self._stacked()

    def _stacked(self):
        size = self._size
        it = self._parent._elements()
        while True:
            rows = list(itertools.islice(it, size))
            if not rows or (self._drop and len(rows) < size):
                return
            yield _stack(rows)

    def _cardinality(self):
        n = self._parent._cardinality()
        if n < 0:
            return n
        return n // self._size if self._drop else -(-n // self._size)

    def _element_spec(self):
        dim = self._size if self._drop else None
        return _map_specs(lambda s: _spec((dim,) + tuple(s.shape), s.dtype),
                          self._parent.element_spec)


def _stack(rows):
    first = rows[0]
    if isinstance(first, np.ndarray):
        columns, structure = [rows], None
    else:
        columns = list(zip(*[nest.flatten(r) for r in rows]))
        structure = first
    out = []
    for c, column in enumerate(columns):
        shape = column[0].shape
        for i, a in enumerate(column):
            if a.shape != shape:
                where = _paths(structure)[c] if structure is not None else "the tensor"
                raise ValueError(
                    f"Dataset.batch: cannot batch elements of different shapes in component "
                    f"{where}: the first element has shape {shape}, element {i} of the batch has "
                    f"{a.shape} (map them to one shape first)")
        out.append(np.stack(column))
    return out[0] if structure is None else nest.pack_sequence_as(structure, out)


def _rechunk(stream, size, drop_remainder):
    """Index chunks regrouped into chunks of exactly `size` (the last one may be short)."""
    pending, count = [], 0
    for chunk in stream:
        while len(chunk):
            need = size - count
            if not pending and len(chunk) >= size:  # whole batches straight from the chunk
                yield chunk[:size]
                chunk = chunk[size:]
                continue
            pending.append(chunk[:need])
            count += len(pending[-1])
            chunk = chunk[need:]
            if count == size:
                yield _join(pending)
                pending, count = [], 0
    if pending and not drop_remainder:
        yield _join(pending)


def _join(pieces):
    if len(pieces) == 1:
        return pieces[0]
    if all(isinstance(p, range) and p.step == 1 for p in pieces) and all(
            a.stop == b.start for a, b in zip(pieces, pieces[1:])):
        return range(pieces[0].start, pieces[-1].stop)
    return np.concatenate([np.arange(p.start, p.stop, p.step) if isinstance(p, range) else p
                           for p in pieces])


class _Unbatch(_Unary):
    def _elements(self):
        for element in self._parent._elements():
            leaves = [element] if isinstance(element, np.ndarray) else nest.flatten(element)
            for a in leaves:
                if a.ndim == 0:
                    raise ValueError("Dataset.unbatch: an element has a scalar component")
            n = leaves[0].shape[0]
            if any(a.shape[0] != n for a in leaves):
                raise ValueError("Dataset.unbatch: the components' first dimensions differ: "
                                 f"{[a.shape for a in leaves]}")
            for i in range(n):
                rows = [a[i, ...] for a in leaves]
                yield rows[0] if isinstance(element, np.ndarray) else \
                    nest.pack_sequence_as(element, rows)

    def _cardinality(self):
        return UNKNOWN if self._parent._cardinality() != INFINITE else INFINITE

    def _element_spec(self):
        return _map_specs(lambda s: _spec(tuple(s.shape)[1:], s.dtype), self._parent.element_spec)


class _Map(_Unary):
    def __init__(self, parent, fn, num_parallel_calls):
        super().__init__(parent)
        if not callable(fn):
            raise TypeError(f"Dataset.map: map_func must be callable, got {type(fn).__name__}")
        self._fn = fn
        if num_parallel_calls is None:
            self._workers = 1
        elif num_parallel_calls == AUTOTUNE:
            self._workers = max(1, min(4, os.cpu_count() or 1))
        else:
            self._workers = _check_int("Dataset.map: num_parallel_calls", num_parallel_calls, 1)

    def _apply(self, element):
        what = f"Dataset.map: the result of {_fn_name(self._fn)}"
        return _from_user(_call(self._fn, element), what)

    def _elements(self):
        if self._workers > 1:
            return _threads.ParallelMapIterator(self._parent._elements(), self._apply,
                                                self._workers)
        return map(self._apply, self._parent._elements())

    def _element_spec(self):
        # Note [Map's element_spec]: the function traced on the parent's specs
        # (ft.function), as tf.data does; a function that cannot be traced is
        # run on the first element instead.
        from fasttape.function import function

        parent = self._parent.element_spec
        try:
            if isinstance(parent, tuple) and not hasattr(parent, "_fields"):
                cf = function(self._fn).get_concrete_function(*parent)
            else:
                cf = function(self._fn).get_concrete_function(parent)
            out = cf.structured_outputs
            if isinstance(out, list):
                out = tuple(out)
            return _map_specs(lambda t: _spec(t.shape, t.dtype), out)
        except Exception:  # noqa: BLE001  (untraceable Python: fall back to running it)
            for element in self._elements():
                return _map_specs(lambda a: _spec(a.shape, a.dtype), element)
            raise ValueError("Dataset.map: cannot find the element_spec of an empty dataset "
                             "whose map function cannot be traced") from None

    def _cardinality(self):
        return self._parent._cardinality()


class _Filter(_Unary):
    def __init__(self, parent, predicate):
        super().__init__(parent)
        if not callable(predicate):
            raise TypeError(f"Dataset.filter: predicate must be callable, "
                            f"got {type(predicate).__name__}")
        self._predicate = predicate

    def _keep(self, element):
        r = self._predicate(*_to_tensors(element)) if (
            isinstance(element, tuple) and not hasattr(element, "_fields")) \
            else self._predicate(_to_tensors(element))
        a = _to_array(r)
        if a.shape != () or a.dtype != np.bool_:
            raise TypeError(f"Dataset.filter: {_fn_name(self._predicate)} must return a "
                            f"scalar bool, got {_describe(r)}")
        return bool(a)

    def _elements(self):
        return filter(self._keep, self._parent._elements())

    def _cardinality(self):
        n = self._parent._cardinality()
        return INFINITE if n == INFINITE else UNKNOWN


class _Repeat(_Unary):
    def __init__(self, parent, count):
        super().__init__(parent)
        self._count = None if count is None or count == -1 else \
            _check_int("Dataset.repeat: count", count, 0)

    def _epochs(self):
        return itertools.repeat(None) if self._count is None else range(self._count)

    def _plan(self):
        plan = self._parent._plan()
        if plan is None:
            return None
        source, make_stream = plan
        return source, lambda: itertools.chain.from_iterable(
            make_stream() for _ in self._epochs())

    def _elements(self):
        if self._plan() is not None:
            return super()._elements()
        return itertools.chain.from_iterable(self._parent._elements() for _ in self._epochs())

    def _cardinality(self):
        n = self._parent._cardinality()
        if n == 0 or self._count == 0:
            return 0
        if self._count is None:
            return INFINITE if n != UNKNOWN else UNKNOWN
        return n * self._count if n >= 0 else n


def _count_arg(what, count):
    if count is None:
        raise TypeError(f"{what}: count must be an int, got None")
    return -1 if count == -1 else _check_int(what, count, 0)


class _Take(_Unary):
    def __init__(self, parent, count):
        super().__init__(parent)
        self._count = _count_arg("Dataset.take: count", count)

    def _plan(self):
        plan = self._parent._plan()
        if plan is None:
            return None
        source, make_stream = plan
        if self._count == -1:
            return plan
        return source, lambda: _take_chunks(make_stream(), self._count)

    def _elements(self):
        if self._plan() is not None:
            return super()._elements()
        if self._count == -1:
            return self._parent._elements()
        return itertools.islice(self._parent._elements(), self._count)

    def _cardinality(self):
        n = self._parent._cardinality()
        if self._count == -1:
            return n
        if n == INFINITE:
            return self._count
        return min(n, self._count) if n >= 0 else UNKNOWN


def _take_chunks(stream, count):
    for chunk in stream:
        if count <= 0:
            return
        yield chunk[:count]
        count -= len(chunk)


class _Skip(_Unary):
    def __init__(self, parent, count):
        super().__init__(parent)
        self._count = _count_arg("Dataset.skip: count", count)

    def _plan(self):
        plan = self._parent._plan()
        if plan is None:
            return None
        source, make_stream = plan

        def stream():
            count = math.inf if self._count == -1 else self._count
            for chunk in make_stream():
                if count >= len(chunk):
                    count -= len(chunk)
                    continue
                yield chunk[count:] if count else chunk
                count = 0

        return source, stream

    def _elements(self):
        if self._plan() is not None:
            return super()._elements()
        it = self._parent._elements()
        if self._count == -1:
            for _ in it:
                pass
            return iter(())
        return itertools.islice(it, self._count, None)

    def _cardinality(self):
        n = self._parent._cardinality()
        if self._count == -1:
            return 0 if n != INFINITE else INFINITE
        return max(0, n - self._count) if n >= 0 else n


class _Prefetch(_Unary):
    def __init__(self, parent, buffer_size):
        super().__init__(parent)
        if buffer_size == AUTOTUNE:
            buffer_size = _PREFETCH_AUTOTUNE
        self._buffer_size = _check_int("Dataset.prefetch: buffer_size", buffer_size, 0)

    def _elements(self):
        if self._buffer_size == 0:
            return self._parent._elements()
        return _threads.PrefetchIterator(self._parent._elements(), self._buffer_size)


class _Cache(_Unary):
    def __init__(self, parent, filename):
        super().__init__(parent)
        if filename:
            raise NotImplementedError(
                "Dataset.cache: only the in-memory cache (filename='') is implemented; "
                f"got filename={filename!r}")
        self._cached = None  # the first complete iteration: an index array or elements

    def _plan(self):
        plan = self._parent._plan()
        if plan is None:
            return None
        source, make_stream = plan

        def stream():
            if self._cached is not None:
                yield self._cached
                return
            seen = []
            for chunk in make_stream():
                seen.append(chunk)
                yield chunk
            self._cached = _join(seen) if seen else range(0)
            if isinstance(self._cached, np.ndarray):
                self._cached.flags.writeable = False

        return source, stream

    def _elements(self):
        if self._plan() is not None:
            return super()._elements()
        if self._cached is not None:
            return iter(self._cached)
        return self._filling()

    def _filling(self):
        seen = []
        for element in self._parent._elements():
            seen.append(element)
            yield element
        self._cached = seen
