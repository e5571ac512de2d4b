# Conversion of Python data and arrays to Tensors. Part of core.pyx.

# ----------------------------------------------------------- conversion

cdef object _INT32_MIN = -(2 ** 31)
cdef object _INT32_MAX = 2 ** 31 - 1
cdef object _F32 = np.dtype(np.float32)
cdef object _F64 = np.dtype(np.float64)
cdef object _I32 = np.dtype(np.int32)
cdef object _I64 = np.dtype(np.int64)


cdef object _python_array(object value):
    """An ndarray from Python data with TensorFlow's default dtypes."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"convert_to_tensor: cannot convert {type(value).__name__} to an ft.Tensor "
            f"(nested lists must be rectangular): {e}") from None
    kind = arr.dtype.kind
    if kind == "f" and arr.dtype == _F64:
        return arr.astype(_F32)
    if kind == "i":
        if arr.size == 0 or (arr.min() >= _INT32_MIN and arr.max() <= _INT32_MAX):
            return arr.astype(_I32)
        return arr.astype(_I64)
    if kind == "O":
        raise TypeError(f"cannot convert {type(value).__name__} to an ft.Tensor: {value!r}")
    return arr


cdef bint _contains_tensor(object value, int depth=0):
    # Bounded: a self-referential or very deep list would overflow the C stack
    # (a cdef recursion has no Python recursion check). Nothing nested deeper
    # than NumPy's 64 dimensions converts anyway; np.asarray then says why.
    if isinstance(value, Tensor):
        return True
    if isinstance(value, (list, tuple)) and depth <= 64:
        for v in value:
            if _contains_tensor(v, depth + 1):
                return True
    return False


cpdef object convert_to_tensor(object value, object dtype=None, object name=None):
    """Converts Python data, NumPy arrays and tensors to a Tensor.

    Python floats become float32, ints int32 (int64 when they do not fit),
    bools bool; NumPy arrays and scalars keep their dtype. A writable NumPy
    array is copied, so that later writes by the caller never change the
    Tensor; read-only arrays are wrapped without a copy.

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
            t = _variable_snapshot(<Variable>t, True)
        if dtype is not None and t._value.dtype != dtype:
            raise TypeError(
                f"convert_to_tensor: requested dtype {dtype.name} for a tensor of dtype "
                f"{t._value.dtype.name}; use ft.cast to change the dtype")
        return t
    if cnp.PyArray_Check(value):
        arr = value
        if dtype is not None and arr.dtype != dtype:
            _check_lossless(arr, dtype)
            return _wrap(arr.astype(dtype))
        if arr.flags.writeable or arr.dtype.kind == "O":
            if arr.dtype.kind == "O":
                raise TypeError("cannot convert an object array to an ft.Tensor")
            return _wrap(arr.copy())
        return _wrap(arr)
    if isinstance(value, np.generic):
        arr = np.asarray(value)
        if dtype is not None and arr.dtype != dtype:
            _check_lossless(arr, dtype)
            arr = arr.astype(dtype)
        return _wrap(arr)
    if isinstance(value, (list, tuple)) and _contains_tensor(value):
        return _call_special("stack", ([convert_to_tensor(v, dtype) for v in value],))
    if hasattr(value, "__array__") and not isinstance(value, (list, tuple)):
        return convert_to_tensor(np.array(value), dtype)
    arr = _python_array(value)
    if dtype is not None and arr.dtype != dtype:
        _check_lossless(arr, dtype)
        arr = arr.astype(dtype)
    return _wrap(arr)


cdef _check_lossless(arr, dtype):
    if arr.dtype.kind in "fc" and dtype.kind in "iub":
        raise TypeError(
            f"cannot convert values of dtype {arr.dtype.name} to {dtype.name} without loss; "
            "use ft.cast")
    if arr.dtype.kind == "c" and dtype.kind == "f":
        raise TypeError(f"cannot convert complex values to {dtype.name}; use ft.cast")
