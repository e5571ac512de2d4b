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
            return (<Tensor>convert_like(x, other.dtype))._value  # symbolic too
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


# Note [Temporary elision]
# ~~~~~~~~~~~~~~~~~~~~~~~~~
# NumPy evaluates `x * w + b` with one allocation: when an operand of `+` is a
# temporary (its reference count says only the expression holds it), the
# result goes into its buffer. fasttape's Tensors hide the arrays' counts
# from NumPy, so eager mode does the same itself: an op whose forward is a
# NumPy ufunc (OpDef.inplace_ufunc, set at registration) passes `out=` the
# buffer of an input that is a temporary, which needs all of:
# - the Tensor is held only by the expression: the operator slot got it from
#   the interpreter's stack (Py_REFCNT == _ELIDE_TENSOR_REFS), and the
#   innermost Python frame is executing the operator's own instruction
#   (BINARY_OP, UNARY_NEGATIVE...); or a family wrapper of the ops layer
#   (`ft.add(x, y)`, `ft.exp(x)`: code objects registered with
#   allow_elision_from) got it as an argument, which CPython 3.11+ moves from
#   the caller's stack into the wrapper's local (one reference more: the
#   wrapper pushes it for the call). A C or Cython caller holding a borrowed
#   reference (which it may use again) calls from a CALL instruction, or
#   through a Python call that adds references, so it never elides. Nothing
#   may hold a weak reference to it. Python < 3.11 never elides.
# - its ndarray is held only by the Tensor (and this function's local):
#   a `.numpy()` view, a slice or another Tensor sharing it holds a
#   reference (a view refers to its base); the array owns its data
#   (a Tensor made by a view op has a base) and is writeable;
# - it is not a Variable (or a variable's snapshot: that shares its array);
# - no tape saves it: when a tape is active and the op's VJP names this
#   input, the tape would keep the Tensor, whose buffer we would overwrite
#   (saved outputs are fine: the result is a new Tensor);
# - the result has its dtype and shape (the other operand broadcasts into
#   it), and it is at least _ELIDE_MIN_BYTES (NumPy's NPY_MIN_ELIDE_BYTES,
#   256 KiB): below that, the checks cost more than the allocation saves.
# A tape records the op as usual (ids, not buffers). Small arrays fail the
# first check (size), so the per-op overhead path pays one comparison.

cdef enum:
    _ELIDE_MIN_BYTES = 256 * 1024
    _ELIDE_TENSOR_REFS = 1

cdef extern from *:
    """
    #include <frameobject.h>
    static int ft_elide_ops[4] = {-1, -1, -1, -1};  /* opcodes of operators */
    static uint64_t ft_elided = 0;
    static inline void ft_count_elided(void) { ft_elided++; }
    static inline int ft_has_weakrefs(PyObject *o) {
        Py_ssize_t off = Py_TYPE(o)->tp_weaklistoffset;
        return off > 0 && *(PyObject **)((char *)o + off) != NULL;
    }

    static PyObject *ft_elide_wrappers[4] = {NULL, NULL, NULL, NULL}; /* owned */

    /* Who called: 1 when the innermost Python frame is executing an operator
       instruction (the operands are on its stack, not borrowed by C code);
       2 when it is a family wrapper of the ops layer (its code object is
       registered: `fn(x, ...)` holding the operands as locals); else 0. */
    static int ft_elision_caller(void) {
    #if PY_VERSION_HEX >= 0x030B0000
        PyFrameObject *f = PyEval_GetFrame();
        if (f == NULL) return 0;
        int lasti = PyFrame_GetLasti(f);
        if (lasti < 0) return 0;
        PyCodeObject *co = PyFrame_GetCode(f);
        for (int i = 0; i < 4; i++)
            if ((PyObject *)co == ft_elide_wrappers[i]) { Py_DECREF(co); return 2; }
        PyObject *code = PyCode_GetCode(co);
        Py_DECREF(co);
        if (code == NULL) { PyErr_Clear(); return 0; }
        int op = lasti < PyBytes_GET_SIZE(code)
            ? (unsigned char)PyBytes_AS_STRING(code)[lasti] : -1;
        Py_DECREF(code);
        for (int i = 0; i < 4; i++)
            if (op == ft_elide_ops[i]) return 1;
    #endif
        return 0;
    }

    static int ft_add_elision_wrapper(PyObject *code) {
        for (int i = 0; i < 4; i++) {
            if (ft_elide_wrappers[i] == code) return 0;
            if (ft_elide_wrappers[i] == NULL) {
                Py_INCREF(code);
                ft_elide_wrappers[i] = code;
                return 0;
            }
        }
        PyErr_SetString(PyExc_RuntimeError, "too many elision wrappers");
        return -1;
    }
    """
    int ft_elide_ops[4]
    uint64_t ft_elided
    void ft_count_elided()
    bint ft_has_weakrefs(PyObject *o)
    int ft_elision_caller()
    int ft_add_elision_wrapper(object code) except -1

cdef dict _ELIDE_DTYPES = {}   # (op index, dtype, other's dtype or type) -> bool


def _init_elision():
    import dis
    for i, name in enumerate(("BINARY_OP", "UNARY_NEGATIVE", "UNARY_INVERT")):
        ft_elide_ops[i] = dis.opmap.get(name, -1)


_init_elision()


def allow_elision_from(code):
    """Registers the code object of a family wrapper `fn(x, ..., name=None)`
    that passes its tensor arguments straight to unary_call/binary_call, so
    that a temporary argument may be elided (Note [Temporary elision])."""
    if not isinstance(code, type(allow_elision_from.__code__)):
        raise TypeError("allow_elision_from: expects a code object")
    ft_add_elision_wrapper(code)


cdef int _elide_wrapper_extra = -1   # set by elision_probe; -1: never
cdef list _elide_probe = None


def elision_probe(bint start):
    """Calibrates wrapper elision (Note [Temporary elision]). Python code calls
    elision_probe(True), then a family wrapper (e.g. ft.exp) on a temporary
    of at least 256 KiB and on the same kind of tensor held in a variable,
    then elision_probe(False): wrapper elision is enabled only when the two
    reference counts differ by exactly the caller's own reference. Returns
    the references a temporary has there (-1: wrapper elision stays off)."""
    global _elide_wrapper_extra, _elide_probe
    if start:
        _elide_wrapper_extra = -1
        _elide_probe = []
        return -1
    probe = [p for p in (_elide_probe or []) if p[0] == 2]
    _elide_probe = None
    if len(probe) == 2 and probe[1][1] == probe[0][1] + 1 and probe[0][1] > 0:
        _elide_wrapper_extra = probe[0][1]
    return _elide_wrapper_extra


def elision_count():
    """How many op results were written into a temporary input's buffer."""
    return ft_elided


cdef inline bint _big(object t, object tv) noexcept:
    """The first test of Note [Temporary elision], inline on the fast path
    (no call into NumPy's API table: this runs on every operator)."""
    cdef int d, nd
    cdef cnp.npy_intp n
    cdef cnp.npy_intp *dims
    if not isinstance(t, Tensor):
        return False
    nd = cnp.PyArray_NDIM(<cnp.ndarray>tv)
    dims = cnp.PyArray_DIMS(<cnp.ndarray>tv)
    n = cnp.PyArray_ITEMSIZE(<cnp.ndarray>tv)
    for d in range(nd):
        n *= dims[d]
    return n >= _ELIDE_MIN_BYTES


cdef object _elision_target(OpDef op, object t, object tv, object ov, int slot, int t_refs):
    """t's ndarray if the op may write its result there, else None. See Note
    [Temporary elision]. The caller holds tv in a local (one reference), and
    t_refs is the count of t when only the expression holds it."""
    cdef int nd, od, d
    cdef cnp.npy_intp *tdims
    cdef cnp.npy_intp *odims
    if (not isinstance(t, Tensor)
            or cnp.PyArray_NBYTES(<cnp.ndarray>tv) < _ELIDE_MIN_BYTES
            or (Py_REFCNT(<PyObject*>t) - t_refs not in (0, _elide_wrapper_extra)
                and _elide_probe is None)
            or Py_REFCNT(<PyObject*>tv) != 2
            or (<Tensor>t)._flags & _F_VARIABLE
            or ft_has_weakrefs(<PyObject*>t)
            or not cnp.PyArray_CheckExact(tv)
            or cnp.PyArray_BASE(<cnp.ndarray>tv) != NULL
            or not cnp.PyArray_CHKFLAGS(<cnp.ndarray>tv,
                                        cnp.NPY_ARRAY_OWNDATA | cnp.NPY_ARRAY_WRITEABLE)
            or (ft_tls_depth() and op.save_in[slot])):
        return None
    if ov is not None:
        if cnp.PyArray_Check(ov):
            nd = cnp.PyArray_NDIM(<cnp.ndarray>tv)
            od = cnp.PyArray_NDIM(<cnp.ndarray>ov)
            if od > nd:
                return None
            tdims = cnp.PyArray_DIMS(<cnp.ndarray>tv) + (nd - od)  # trailing axes
            odims = cnp.PyArray_DIMS(<cnp.ndarray>ov)
            for d in range(od):
                if odims[d] != 1 and odims[d] != tdims[d]:
                    return None
            key = (op.index, tv.dtype, ov.dtype, slot)
        else:
            key = (op.index, tv.dtype, type(ov), slot)
    else:
        key = (op.index, tv.dtype)
    ok = _ELIDE_DTYPES.get(key)
    if ok is None:
        try:
            if ov is None:
                types = (tv.dtype, None)
            elif slot == 0:
                types = (tv.dtype, key[2], None)
            else:
                types = (key[2], tv.dtype, None)
            ok = op.forward.resolve_dtypes(types)[len(types) - 1] == tv.dtype
        except (TypeError, ValueError):
            ok = False
        _ELIDE_DTYPES[key] = ok
    if not ok:
        return None
    caller = ft_elision_caller()
    if _elide_probe is not None:  # elision_probe() is measuring
        _elide_probe.append((caller, Py_REFCNT(<PyObject*>t) - t_refs))
        return None
    # an operator's operand is held by the stack alone; a wrapper's also by
    # its local, the argument it pushes and the def function's argument
    if caller == 1 and Py_REFCNT(<PyObject*>t) == t_refs:
        return tv
    if caller == 2 and Py_REFCNT(<PyObject*>t) - t_refs == _elide_wrapper_extra:
        return tv
    return None


cdef object _binary(OpDef op, object x, object y):
    """The fast path of binary ops: Tensor operators and the binary family."""
    cdef object xv, yv, out
    cdef PyObject *args[2]
    cdef PyObject *ins[2]
    cdef PyObject *outs[1]
    cdef Tensor r
    if ft_staging():  # See Note [One bind point]
        return _stage_binary(op, x, y)
    if isinstance(x, Tensor):
        xv = (<Tensor>x)._value
        if xv is None:
            return _stage_binary(op, x, y)
    else:
        try:
            xv = _operand_value(op, x, y, True)
        except Exception as e:  # a conversion that fails names the op (Tensor operators)
            raise _errors.boundary_error(op.name, e, (x, y), op.input_names)
    if isinstance(y, Tensor):
        yv = (<Tensor>y)._value
        if yv is None:
            return _stage_binary(op, x, y)
    else:
        try:
            yv = _operand_value(op, y, x, False)
        except Exception as e:
            raise _errors.boundary_error(op.name, e, (x, y), op.input_names)
    _check_pair(op, x, y, xv, yv)
    args[0] = <PyObject*>xv
    args[1] = <PyObject*>yv
    target = None
    if op.inplace_ufunc and (_big(x, xv) or _big(y, yv)):  # Note [Temporary elision]
        target = _elision_target(op, x, xv, yv, 0, _ELIDE_TENSOR_REFS)
        if target is None:
            target = _elision_target(op, y, yv, xv, 1, _ELIDE_TENSOR_REFS)
    try:
        if target is None:
            out = PyObject_Vectorcall(op.forward, args, 2, NULL)
        else:
            out = op.forward(xv, yv, out=target)
            ft_count_elided()
    except (ValueError, TypeError, IndexError, ArithmeticError) as e:
        _forward_error(op, (x, y), [xv, yv], (),
                       type(e) if type(e) in (ValueError, TypeError,
                                              _errors.InvalidArgumentError) else ValueError, e)
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
    if ft_staging():  # See Note [One bind point]
        return _stage_unary(op, x)
    if not isinstance(x, Tensor):
        x = convert_to_tensor(x)
    xv = (<Tensor>x)._value
    if xv is None:
        return _stage_unary(op, x)
    if op.float_only and not _is_float_array(xv):
        _float_only_error(op, x, xv.dtype)
    args[0] = <PyObject*>xv
    target = None
    if op.inplace_ufunc and _big(x, xv):  # See Note [Temporary elision]
        # x is an owned local here (it may be reassigned above): one more
        target = _elision_target(op, x, xv, None, 0, _ELIDE_TENSOR_REFS + 1)
    try:
        if target is None:
            out = PyObject_Vectorcall(op.forward, args, 1, NULL)
        else:
            out = op.forward(xv, out=target)
            ft_count_elided()
    except (ValueError, TypeError, IndexError, ArithmeticError) as e:
        _forward_error(op, (x,), [xv], (),
                       type(e) if type(e) in (ValueError, TypeError,
                                              _errors.InvalidArgumentError) else ValueError, e)
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
    if ft_staging():  # See Note [One bind point]
        return _stage(op, inputs, attrs)
    for x in inputs:
        if isinstance(x, Tensor):
            v = (<Tensor>x)._value
            if v is None:
                return _stage(op, inputs, attrs)
            values.append(v)
        else:
            values.append(x)
    try:
        out = op.forward(*values, *attrs)
    except (ValueError, TypeError, IndexError, ArithmeticError, np.linalg.LinAlgError) as e:
        cls = type(e) if type(e) in (ValueError, TypeError) else _errors.InvalidArgumentError
        _forward_error(op, inputs, values, attrs, cls, e)
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

