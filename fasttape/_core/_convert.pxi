# Conversion of Python data and arrays to Tensors. Part of core.pyx.

# ----------------------------------------------------------- conversion

# Note [Weak Python data]
# ~~~~~~~~~~~~~~~~~~~~~~~
# Python numbers and nested lists of them have no dtype of their own: they
# take the dtype they are converted to (the `dtype` argument, the other
# operand's, the tensor an op argument goes with), computed from the exact
# Python values: a float64 target gets float64(0.1), never a float32 rounding
# of it. Alone they default to TensorFlow's dtypes: float32, int32 (int64 when
# an int does not fit), bool, complex128. NumPy arrays and NumPy scalars are
# strongly typed: they keep their dtype everywhere, as TensorFlow treats
# np.float64(1) as a float64 tensor, so `float32_tensor + np.float64(1)`
# raises TypeError like `float32_tensor + float64_array`. An explicit
# conversion (`dtype=`, Variable.assign) to another dtype goes through
# `_cast_checked`: floats never become integers, and integers that do not fit
# the target raise ValueError instead of wrapping. `convert_like` is the one
# path by which ops convert an argument "like" another input.
#
# Note [Nested data]
# ~~~~~~~~~~~~~~~~~~
# Nested lists and tuples are walked once, iteratively, before NumPy sees them
# (`_scan_nested`): a recursive walk overflows the C stack on a list nested
# 200,000 deep or on a list that contains itself. Deeper than 64 levels
# (NumPy's maximum rank, NPY_MAXDIMS) is an error; a list that contains itself
# gets there too. The same walk finds Tensors inside the lists, which are
# stacked instead.

cdef object _INT32_MIN = -(2 ** 31)
cdef object _INT32_MAX = 2 ** 31 - 1
cdef object _F32 = np.dtype(np.float32)
cdef object _F64 = np.dtype(np.float64)
cdef object _I32 = np.dtype(np.int32)
cdef object _I64 = np.dtype(np.int64)
cdef int _MAX_NESTING = 64  # NPY_MAXDIMS


cdef bint _scan_nested(object value) except -1:
    """True when the nested lists/tuples `value` hold a Tensor; raises
    ValueError beyond 64 levels. Iterative: see Note [Nested data]."""
    cdef list seqs = [value]
    cdef list depths = [1]
    cdef bint found = False
    cdef int d
    while seqs:
        seq = seqs.pop()
        d = depths.pop()
        if d > _MAX_NESTING:
            raise ValueError(
                f"convert_to_tensor: nested lists deeper than {_MAX_NESTING} levels (NumPy's "
                "maximum rank), or a list that contains itself")
        for v in seq:
            if isinstance(v, (list, tuple)):
                seqs.append(v)
                depths.append(d + 1)
            elif isinstance(v, Tensor):
                found = True
    return found


cdef str _short(object value):
    if isinstance(value, int) and value.bit_length() > 200:
        return f"an int of {value.bit_length()} bits"
    s = repr(value) if not isinstance(value, (list, tuple)) else type(value).__name__
    return s if len(s) <= 60 else s[:57] + "..."


cdef object _python_array(object value, object dtype=None, bint scanned=False):
    """An ndarray from Python data: with TensorFlow's default dtypes, or with
    `dtype` from the exact Python values (Note [Weak Python data])."""
    if not scanned and isinstance(value, (list, tuple)):
        _scan_nested(value)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"convert_to_tensor: cannot convert {type(value).__name__} to an ft.Tensor "
            f"(nested lists must be rectangular): {e}") from None
    kind = arr.dtype.kind
    if kind == "O":
        for e in arr.reshape(-1).tolist():
            if type(e) is not int and type(e) is not bool:
                raise TypeError(f"cannot convert {type(value).__name__} to an ft.Tensor: "
                                f"{_short(value)}")
        # integers beyond 64 bits
        if dtype is None or dtype.kind not in "fc":
            raise ValueError(
                f"convert_to_tensor: {_short(value)} holds an integer out of the range of "
                f"{(dtype or _I64).name}")
        try:
            with np.errstate(over="ignore"):
                out = np.asarray(value, dtype=dtype)
        except OverflowError:
            out = None
        if out is None or not np.isfinite(out).all():
            raise ValueError(f"convert_to_tensor: {_short(value)} holds an integer out of the "
                             f"range of {dtype.name}") from None
        return out
    if dtype is not None:
        return _cast_checked(arr, dtype, value)
    if kind == "f":
        return arr.astype(_F32)
    if kind == "i":
        if arr.size == 0 or (arr.min() >= _INT32_MIN and arr.max() <= _INT32_MAX):
            return arr.astype(_I32)
        return arr
    if kind == "u":  # NumPy's pick for ints in [2**63, 2**64)
        raise ValueError(f"convert_to_tensor: {_short(value)} holds an integer out of the "
                         "range of int64")
    return arr


cdef object _cast_checked(object arr, object dtype, object value):
    """arr converted to `dtype` where no value changes but by float rounding:
    floats never become integers, integers out of the target's range raise
    (never wrap). See Note [Weak Python data]."""
    src = arr.dtype
    if src == dtype:
        return arr
    sk, dk = src.kind, dtype.kind
    what = _short(value) if not cnp.PyArray_Check(value) else f"values of dtype {src.name}"
    if sk in "fc" and dk in "iub":
        raise TypeError(f"cannot convert {what} to {dtype.name} without loss; use ft.cast")
    if sk == "c" and dk == "f":
        raise TypeError(f"cannot convert complex {what} to {dtype.name}; use ft.cast")
    if sk in "iub" and dk in "iub" and arr.size and not np.can_cast(src, dtype):
        lo, hi = (0, 1) if dk == "b" else (np.iinfo(dtype).min, np.iinfo(dtype).max)
        amin, amax = arr.min(), arr.max()
        if amin < lo or amax > hi:
            bad = amin if amin < lo else amax
            raise ValueError(
                f"convert_to_tensor: {bad} is out of the range [{lo}, {hi}] of {dtype.name}; "
                "integers never wrap (use ft.cast on a tensor to convert with wraparound)")
    if sk in "iu" and dk in "fc" and dtype.itemsize < 8 and arr.size:  # float16/32 overflow
        with np.errstate(over="ignore"):
            out = arr.astype(dtype)
        if not np.isfinite(out).all():
            raise ValueError(f"convert_to_tensor: an integer of {what} is out of the range of "
                             f"{dtype.name}")
        return out
    return arr.astype(dtype)


cdef object _plain_array(object value):
    """An ndarray subclass as a plain ndarray: np.matrix and other subclasses
    become their base array; a masked array raises (its mask would be lost)."""
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(
            "cannot convert a masked array to an ft.Tensor: its mask would be lost; pass "
            "arr.filled(fill_value) or arr.data")
    return np.asarray(value)


cpdef object convert_like(object value, object dtype):
    """`value` as a Tensor to go with inputs of `dtype` (None: no other input):
    Python numbers and nested lists take `dtype`; Tensors, NumPy arrays and
    NumPy scalars keep their own (the op then checks that dtypes agree). The
    one conversion path of op arguments: see Note [Weak Python data].
    """
    if isinstance(value, Tensor):
        return convert_to_tensor(value)
    if dtype is None or cnp.PyArray_Check(value) or isinstance(value, np.generic):
        return convert_to_tensor(value)
    if isinstance(value, (list, tuple)) and _scan_nested(value):
        return _call_special("stack", ([convert_like(v, dtype) for v in value],))
    if hasattr(value, "__array__") and not isinstance(value, (list, tuple)):
        return convert_to_tensor(value)
    dtype = np.dtype(dtype)
    if dtype.kind in "iub" and isinstance(value, (float, complex)):
        raise TypeError(f"a Python {type(value).__name__} ({_short(value)}) cannot take the "
                        f"dtype {dtype.name}; use an int or ft.cast")
    return _wrap(_python_array(value, dtype, True))


cpdef object convert_to_tensor(object value, object dtype=None, object name=None):
    """Converts Python data, NumPy arrays and tensors to a Tensor.

    Python floats become float32, ints int32 (int64 when they do not fit),
    bools bool; NumPy arrays and scalars keep their dtype. With `dtype`, Python
    data is converted from its exact values (0.1 as float64 is float64(0.1));
    floats never become integers and integers out of range raise ValueError.
    A writable NumPy array is copied, so that later writes by the caller never
    change the Tensor; read-only arrays are wrapped without a copy. np.matrix
    becomes a plain array; masked arrays raise TypeError.

    >>> import fasttape as ft
    >>> ft.convert_to_tensor([1, 2]).dtype
    dtype('int32')
    """
    cdef Tensor t
    if dtype is not None:
        dtype = np.dtype(dtype)
    if isinstance(value, Tensor):
        t = value
        if t._flags & _F_VARIABLE:
            if ft_staging() or (<Variable>t)._graph_var is not None:  # a read node
                t = _call_special("read_variable", (t,))
                if dtype is not None and t.dtype != dtype:
                    raise TypeError(
                        f"convert_to_tensor: requested dtype {dtype.name} for a variable of "
                        f"dtype {t.dtype.name}; use ft.cast to change the dtype")
                return t
            t = _variable_snapshot(<Variable>t, True)
        if dtype is not None and t._value.dtype != dtype:
            raise TypeError(
                f"convert_to_tensor: requested dtype {dtype.name} for a tensor of dtype "
                f"{t.dtype.name}; use ft.cast to change the dtype")
        return t
    if cnp.PyArray_Check(value):
        arr = value if cnp.PyArray_CheckExact(value) else _plain_array(value)
        if arr.dtype.kind == "O":
            raise TypeError("cannot convert an object array to an ft.Tensor")
        if dtype is not None and arr.dtype != dtype:
            return _wrap(_cast_checked(arr, dtype, value))
        if arr.flags.writeable:
            return _wrap(arr.copy())
        return _wrap(arr)
    if isinstance(value, np.generic):
        arr = np.asarray(value)
        if arr.dtype.kind == "O":
            raise TypeError(f"cannot convert {type(value).__name__} to an ft.Tensor")
        if dtype is not None and arr.dtype != dtype:
            arr = _cast_checked(arr, dtype, value)
        return _wrap(arr)
    if isinstance(value, (list, tuple)):
        if _scan_nested(value):
            like = dtype
            if like is None:  # Python numbers beside tensors take the first tensor's dtype
                for v in value:
                    if isinstance(v, Tensor):
                        like = (<Tensor>v)._value.dtype
                        break
            return _call_special("stack", ([convert_like(v, like) for v in value],))
        return _wrap(_python_array(value, dtype, True))
    if hasattr(value, "__array__"):
        return convert_to_tensor(np.array(value), dtype)
    return _wrap(_python_array(value, dtype, True))
