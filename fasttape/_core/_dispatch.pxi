# Dispatch: the unary/binary fast paths and the general path. Part of core.pyx.

# ------------------------------------------------------------- dispatch

cdef object _raise_op_error(OpDef op, object cls, tuple inputs, str detail):
    raise _errors.op_error(cls, op.name, inputs, detail, op.input_names if not op.variadic else None)


cdef inline object _operand_value(OpDef op, object x, object other, bint first):
    """The raw value of a binary operand: ndarrays and Python scalars pass;
    NumPy scalars are 0-d arrays of their dtype; lists and other data adopt
    the dtype of the other operand when it is a tensor (TensorFlow's
    conversion). See Note [Weak Python data]."""
    if cnp.PyArray_CheckExact(x):
        return x
    cdef type tx = type(x)
    if tx is float or tx is int or tx is bool or tx is complex:
        return x
    if isinstance(x, np.generic):  # before float: np.float64 is a float subclass
        return cnp.PyArray_FROM_O(x)
    try:
        if isinstance(other, Tensor) and not cnp.PyArray_Check(x):
            return (<Tensor>convert_like(x, (<Tensor>other)._value.dtype))._value
        return (<Tensor>convert_to_tensor(x))._value
    except (TypeError, ValueError) as e:  # data that cannot take the operand's dtype
        _raise_op_error(op, TypeError if isinstance(e, TypeError) else ValueError,
                        (x, other) if first else (other, x), str(e))


cdef int _check_pair(OpDef op, object x, object y, object xv, object yv) except -1:
    """The binary family's dtype rule: both operands of one dtype; Python
    scalars are weakly typed but a float never meets an integer tensor."""
    cdef bint xa = cnp.PyArray_Check(xv), ya = cnp.PyArray_Check(yv)
    cdef int tx, ty
    if xa and ya:
        tx = cnp.PyArray_TYPE(<cnp.ndarray>xv)
        ty = cnp.PyArray_TYPE(<cnp.ndarray>yv)
        if tx != ty or (tx >= NPY_USERDEF and xv.dtype != yv.dtype):
            nx, ny = xv.dtype.name, yv.dtype.name
            _raise_op_error(op, TypeError, (x, y),
                f"operands have different dtypes {nx} and {ny}; convert one "
                f"with ft.cast(x, {ny!r}) or ft.cast(y, {nx!r})" + (
                    " (a NumPy scalar keeps its dtype, as in TensorFlow; a Python number "
                    "takes the tensor's)" if isinstance(x, np.generic) or
                    isinstance(y, np.generic) else ""))
    elif xa:
        _check_scalar(op, x, y, xv, yv)
    elif ya:
        _check_scalar(op, x, y, yv, xv)
    return 0


cdef int _check_scalar(OpDef op, object x, object y, object arr, object scalar) except -1:
    cdef bint is_float = cnp.PyArray_ISFLOAT(<cnp.ndarray>arr)
    cdef bint is_complex = cnp.PyArray_ISCOMPLEX(<cnp.ndarray>arr)
    if isinstance(scalar, float) and not is_float and not is_complex:
        _raise_op_error(op, TypeError, (x, y),
            f"a Python float cannot take the tensor's dtype {arr.dtype.name}; "
            "use an integer or ft.cast the tensor")
    if isinstance(scalar, complex) and not is_complex:
        _raise_op_error(op, TypeError, (x, y),
            f"a Python complex cannot take the tensor's dtype {arr.dtype.name}")
    if type(scalar) is int and is_float and not (-65504 <= scalar <= 65504):
        if not -float(np.finfo(arr.dtype).max) <= scalar <= float(np.finfo(arr.dtype).max):
            _raise_op_error(op, ValueError, (x, y),
                f"the Python int {_short(scalar)} is out of the range of the tensor's dtype "
                f"{arr.dtype.name}")
    return 0


cdef object _binary(OpDef op, object x, object y):
    """The fast path of binary ops: Tensor operators and the binary family."""
    cdef object xv, yv, out
    cdef PyObject *args[2]
    cdef PyObject *ins[2]
    cdef PyObject *outs[1]
    cdef Tensor r
    if isinstance(x, Tensor):
        xv = (<Tensor>x)._value
    else:
        try:
            xv = _operand_value(op, x, y, True)
        except Exception as e:  # a conversion that fails names the op (Tensor operators)
            raise _errors.boundary_error(op.name, e, (x, y), op.input_names)
    if isinstance(y, Tensor):
        yv = (<Tensor>y)._value
    else:
        try:
            yv = _operand_value(op, y, x, False)
        except Exception as e:
            raise _errors.boundary_error(op.name, e, (x, y), op.input_names)
    _check_pair(op, x, y, xv, yv)
    args[0] = <PyObject*>xv
    args[1] = <PyObject*>yv
    try:
        out = PyObject_Vectorcall(op.forward, args, 2, NULL)
    except (ValueError, TypeError, IndexError, ArithmeticError) as e:
        _raise_op_error(op, type(e) if type(e) in (ValueError, TypeError,
                                                   _errors.InvalidArgumentError) else ValueError,
                        (x, y), str(e))
    r = _wrap(_as_array(out))
    if ft_tls_depth():
        # a tape records the operands as converted: See Note [Raw inputs]
        ins[0] = <PyObject*>x if isinstance(x, Tensor) else <PyObject*>xv
        ins[1] = <PyObject*>y if isinstance(y, Tensor) else <PyObject*>yv
        outs[0] = <PyObject*>r
        _record(op, ins, 2, outs, 1, None)
    return r


cdef object _unary(OpDef op, object x):
    """The fast path of unary ops."""
    cdef object xv, out
    cdef PyObject *args[1]
    cdef PyObject *outs[1]
    cdef Tensor r
    if not isinstance(x, Tensor):
        x = convert_to_tensor(x)
    xv = (<Tensor>x)._value
    if op.float_only and not _is_float_array(xv):
        _raise_op_error(op, TypeError, (x,),
            f"expects a floating-point tensor, got dtype {xv.dtype.name}; use ft.cast")
    args[0] = <PyObject*>xv
    try:
        out = PyObject_Vectorcall(op.forward, args, 1, NULL)
    except (ValueError, TypeError, IndexError, ArithmeticError) as e:
        _raise_op_error(op, type(e) if type(e) in (ValueError, TypeError) else ValueError,
                        (x,), str(e))
    r = _wrap(_as_array(out))
    if ft_tls_depth():
        args[0] = <PyObject*>x
        outs[0] = <PyObject*>r
        _record(op, args, 1, outs, 1, None)
    return r


def unary_call(OpDef op, x):
    """Calls a unary op through the fast path."""
    return _unary(op, x)


def binary_call(OpDef op, x, y):
    """Calls a binary op through the fast path (operands as Tensor operators take them)."""
    return _binary(op, x, y)


cdef object _apply(OpDef op, tuple inputs, tuple attrs):
    """The general path: any number of inputs, outputs and attributes."""
    cdef Py_ssize_t n_in = len(inputs), i
    cdef int j
    cdef PyObject *ins[MAX_ARGS]
    cdef PyObject *outs[MAX_ARGS]
    cdef list values = []
    if n_in > MAX_ARGS and not op.variadic:
        raise ValueError(f"{op.name}: too many inputs")
    for x in inputs:
        if isinstance(x, Tensor):
            values.append((<Tensor>x)._value)
        else:
            values.append(x)
    try:
        out = op.forward(*values, *attrs)
    except (ValueError, TypeError, IndexError, ArithmeticError, np.linalg.LinAlgError) as e:
        cls = type(e) if type(e) in (ValueError, TypeError) else _errors.InvalidArgumentError
        _raise_op_error(op, cls, inputs, str(e))
    if op.n_out == 1:
        result = _wrap(_as_array(out))
        outputs = (result,)
    else:
        outputs = tuple([_wrap(_as_array(o)) for o in out])
        result = outputs
    if ft_tls_depth():
        if n_in > MAX_ARGS:
            # variadic ops with many inputs: record through a heap array
            _record_many(op, inputs, outputs, attrs)
        else:
            for i in range(n_in):
                ins[i] = <PyObject*>inputs[i]
            for j in range(op.n_out):
                outs[j] = <PyObject*>outputs[j]
            _record(op, ins, <int>n_in, outs, op.n_out, attrs)
    return result


cdef int _record_many(OpDef op, tuple inputs, tuple outputs, tuple attrs) except -1:
    cdef Py_ssize_t n = len(inputs), i
    cdef PyObject **ins
    cdef PyObject *outs[MAX_ARGS]
    if n > FT_MAX_ARITY - op.n_out:  # See Note [Entry field widths] in csrc/fasttape_tape.h
        raise ValueError(f"{op.name}: {n} inputs are more than a tape can record")
    ins = <PyObject**>malloc(n * sizeof(PyObject*))
    if ins == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            ins[i] = <PyObject*>inputs[i]
        for i in range(op.n_out):
            outs[i] = <PyObject*>outputs[i]
        _record(op, ins, <int>n, outs, op.n_out, attrs)
    finally:
        free(ins)
    return 0
