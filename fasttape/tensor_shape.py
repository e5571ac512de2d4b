"""`ft.TensorShape`: a tensor's shape, a tuple of ints with TensorFlow's methods.

`t.shape` is a TensorShape: it is a tuple (it compares equal to plain tuples,
indexes, unpacks, hashes and passes to NumPy as one), and it also has
TensorFlow's `as_list()`, `rank`, `is_fully_defined()`, `num_elements()`,
`merge_with()` and the rest, so that code written for `tf.TensorShape` runs.

Note [TensorShape is a tuple]
~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
TensorShape subclasses tuple with no instance dict (`__slots__ = ()`), so
equality, hashing, indexing and NumPy's use of it as a shape are tuple's own C
code. The compiled core builds one straight from the array's dimensions
(`Tensor.shape` in _core/_tensor.pxi: one allocation, as `ndarray.shape`'s own
tuple), so the property costs what it cost when it returned a plain tuple.
Internal code reads `_value.shape` or `x.shape` and never needs the methods.

A dimension is an int, or None (unknown) in graph mode; an unknown rank is
`TensorShape(None)`, an instance of the private subclass `_UnknownRankShape`
(an empty tuple whose `rank` is None; it equals only another unknown shape).
Unlike TensorFlow's, dimensions are plain ints, not `Dimension` objects
(TensorFlow 2 also returns ints). `repr()` is the tuple's, `(2, 3)`, as NumPy
users and this project's docs expect; `str()` is the same, as in TensorFlow.
"""

import operator

__all__ = ["TensorShape", "as_shape", "dimension_value"]


def _dim(d):
    if d is None:
        return None
    if hasattr(d, "value") and not isinstance(d, int):  # a TensorFlow-style Dimension
        d = d.value
        if d is None:
            return None
    try:
        d = operator.index(d)
    except TypeError:
        raise TypeError(f"TensorShape: a dimension must be an int or None, got {d!r}") from None
    if d < 0:
        raise ValueError(f"TensorShape: dimension {d} must be >= 0")
    return d


class TensorShape(tuple):
    """The shape of a tensor: a tuple of ints (None for an unknown dimension in graph mode).

    It compares equal to plain tuples and has TensorFlow's methods.

    >>> import fasttape as ft
    >>> s = ft.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).shape
    >>> s == (2, 3), s.as_list(), s.rank, s.num_elements()
    (True, [2, 3], 2, 6)
    >>> ft.TensorShape([None, 3]).is_fully_defined()
    False
    """

    __slots__ = ()

    def __new__(cls, dims=()):
        if dims is None or type(dims) is _UnknownRankShape:
            return _UNKNOWN
        if isinstance(dims, TensorShape) and type(dims) is cls:
            return dims
        if isinstance(dims, int) or hasattr(dims, "__index__") and not hasattr(dims, "__len__"):
            dims = (dims,)  # tf.TensorShape(3) is a shape of rank 1
        return tuple.__new__(cls, [_dim(d) for d in dims])

    # --- TensorFlow's attributes ---------------------------------------------
    @property
    def rank(self):
        """The number of dimensions (None for an unknown rank)."""
        return len(self)

    @property
    def ndims(self):
        """The number of dimensions (TensorFlow 1's name for `rank`)."""
        return self.rank

    @property
    def dims(self):
        """The dimensions as a list of ints (None where unknown)."""
        return list(self)

    def as_list(self):
        """The dimensions as a list of ints (None where unknown).

        Raises:
            ValueError: the rank is unknown.
        """
        return list(self)

    def as_tuple(self):
        """The dimensions as a plain tuple."""
        return tuple(self)

    def is_fully_defined(self):
        """True when the rank and every dimension are known."""
        return None not in self

    def assert_is_fully_defined(self):
        """Raises ValueError unless the shape is fully defined."""
        if not self.is_fully_defined():
            raise ValueError(f"Shape {self} is not fully defined")

    def num_elements(self):
        """The number of elements (the product of the dimensions), None if not fully defined."""
        if not self.is_fully_defined():
            return None
        n = 1
        for d in self:
            n *= d
        return n

    # --- indexing and concatenation -----------------------------------------
    def __getitem__(self, key):
        if isinstance(key, slice):
            return TensorShape(tuple.__getitem__(self, key))
        return tuple.__getitem__(self, key)

    def __add__(self, other):
        return self.concatenate(other)

    def __radd__(self, other):
        return as_shape(other).concatenate(self)

    def concatenate(self, other):
        """The dimensions of `self` followed by those of `other`."""
        other = as_shape(other)
        if other.rank is None:
            return _UNKNOWN
        return tuple.__new__(TensorShape, tuple(self) + tuple(other))

    # --- compatibility (graph mode's partial shapes) -------------------------
    def is_compatible_with(self, other):
        """True when both could be the same shape: equal ranks, and dimensions
        equal wherever both are known (an unknown rank is compatible with all)."""
        other = as_shape(other)
        if other.rank is None:
            return True
        if len(self) != len(other):
            return False
        return all(a is None or b is None or a == b for a, b in zip(self, other, strict=True))

    def assert_is_compatible_with(self, other):
        """Raises ValueError unless `self.is_compatible_with(other)`."""
        if not self.is_compatible_with(other):
            raise ValueError(f"Shapes {self} and {as_shape(other)} are incompatible")

    def merge_with(self, other):
        """The most specific shape compatible with both (known dimensions win).

        Raises:
            ValueError: the shapes are incompatible.
        """
        other = as_shape(other)
        if other.rank is None:
            return self
        self.assert_is_compatible_with(other)
        return TensorShape([a if a is not None else b for a, b in zip(self, other, strict=True)])

    def most_specific_compatible_shape(self, other):
        """The most specific shape that both are compatible with (unknown where they differ)."""
        other = as_shape(other)
        if other.rank is None or len(self) != len(other):
            return _UNKNOWN
        return TensorShape([a if a == b else None for a, b in zip(self, other, strict=True)])

    def with_rank(self, rank):
        """`self`, checked (or, for an unknown rank, made) to have rank `rank`.

        Raises:
            ValueError: the rank differs.
        """
        if len(self) != rank:
            raise ValueError(f"Shape {self} must have rank {rank}")
        return self

    def with_rank_at_least(self, rank):
        """`self`, checked to have rank >= `rank` (ValueError otherwise)."""
        if len(self) < rank:
            raise ValueError(f"Shape {self} must have rank at least {rank}")
        return self

    def with_rank_at_most(self, rank):
        """`self`, checked to have rank <= `rank` (ValueError otherwise)."""
        if len(self) > rank:
            raise ValueError(f"Shape {self} must have rank at most {rank}")
        return self

    def assert_has_rank(self, rank):
        """Raises ValueError unless the rank is `rank` (or unknown)."""
        self.with_rank(rank)

    def assert_same_rank(self, other):
        """Raises ValueError unless both ranks are equal (or one is unknown)."""
        other = as_shape(other)
        if other.rank is not None and len(self) != len(other):
            raise ValueError(f"Shapes {self} and {other} must have the same rank")

    def __reduce__(self):
        return (TensorShape, (tuple(self),))


class _UnknownRankShape(TensorShape):
    """TensorShape(None): the rank is not known (graph mode)."""

    __slots__ = ()

    def __new__(cls):
        return tuple.__new__(cls)

    rank = None

    @property
    def ndims(self):
        return None

    @property
    def dims(self):
        return None

    def as_list(self):
        raise ValueError("as_list() is not defined on an unknown TensorShape.")

    def as_tuple(self):
        raise ValueError("as_tuple() is not defined on an unknown TensorShape.")

    def is_fully_defined(self):
        return False

    def num_elements(self):
        return None

    def __getitem__(self, key):
        return self if isinstance(key, slice) else None

    def __len__(self):
        raise ValueError("Cannot take the length of shape with unknown rank.")

    def __iter__(self):
        raise ValueError("Cannot iterate over a shape with unknown rank.")

    def __bool__(self):
        return False

    def concatenate(self, other):
        return self

    def __radd__(self, other):
        return self

    def is_compatible_with(self, other):
        as_shape(other)
        return True

    def merge_with(self, other):
        return as_shape(other)

    def most_specific_compatible_shape(self, other):
        return self

    def with_rank(self, rank):
        return TensorShape([None] * rank)

    def with_rank_at_least(self, rank):
        return self

    def with_rank_at_most(self, rank):
        return self

    def assert_same_rank(self, other):
        pass

    def __eq__(self, other):
        return isinstance(other, _UnknownRankShape)

    def __ne__(self, other):
        return not isinstance(other, _UnknownRankShape)

    def __hash__(self):
        return hash(_UnknownRankShape)

    def __repr__(self):
        return "TensorShape(None)"

    __str__ = __repr__

    def __reduce__(self):
        return (TensorShape, (None,))


_UNKNOWN = _UnknownRankShape()


def as_shape(shape):
    """`shape` (a TensorShape, a sequence of ints and Nones, or None) as a TensorShape."""
    if isinstance(shape, TensorShape):
        return shape
    return TensorShape(shape)


def dimension_value(dimension):
    """The int (or None) of a dimension: TensorFlow's compatibility helper."""
    return _dim(dimension)
