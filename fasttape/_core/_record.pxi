# Recording ops on the thread's active tapes, and the dead-end log. Part of core.pyx.

# ------------------------------------------------------------- recording

cdef int _record(OpDef op, PyObject **ins, int n_in, PyObject **outs, int n_out,
                 object attrs) except -1:
    """Appends the op to every active tape of this thread that follows one of
    its inputs. Allocates nothing for tapes that do not."""
    cdef int depth = ft_tls_depth(), k, i
    cdef ft_tape_t *ct
    cdef bint hit
    cdef Tensor t
    cdef object x
    for k in range(depth):
        ct = ft_tls_at(k)
        if not op.differentiable or not ct.recording:
            # See Note [Dead ends]
            if not ft_in_sweep() and _tracks_any(ct, ins, n_in):
                (<Tape>ct.owner)._dead_end(
                    "stop_recording" if op.differentiable else "nondiff", op.name, ins, n_in)
            continue
        hit = False
        for i in range(n_in):
            x = <object>ins[i]
            if isinstance(x, Tensor):
                t = <Tensor>x
                if (t._flags & _F_TRAINABLE) and not ft_tape_tracks(ct, t._id):
                    (<Tape>ct.owner)._auto_watch(t)
                if not hit and ft_tape_tracks(ct, t._id):
                    hit = True
        if hit:
            (<Tape>ct.owner)._append(op, ins, n_in, outs, n_out, attrs)
    return 0


# Note [Dead ends]
# ~~~~~~~~~~~~~~~~
# "Why is my gradient None?" needs to know where a followed tensor stopped
# being followed: a non-differentiable op (comparison, argmax, stop_gradient),
# an op run inside stop_recording(), or the value leaving through .numpy().
# Such ops are never recorded, so each tape that follows one of their inputs
# logs a small event instead (kind, op, input ids, the user's source line) in
# Tape._events. Events hold no tensor. Ops that VJPs run during a sweep are
# not logged. fasttape.debugging.explain_gradient reads the log.

cdef bint _tracks_any(ft_tape_t *ct, PyObject **ins, int n_in) except -1:
    """Does the tape follow an input (or would it, on use, a trainable variable)?"""
    cdef int i
    cdef object x
    for i in range(n_in):
        x = <object>ins[i]
        if isinstance(x, Tensor) and (ft_tape_tracks(ct, (<Tensor>x)._id) or (
                ((<Tensor>x)._flags & _F_TRAINABLE)
                and (<Tape>ct.owner).watch_accessed_variables)):
            return True
    return False


cdef int _note_exit(Tensor t, str how) except -1:
    """Logs t's value leaving fasttape (.numpy(), float(), ...) on the tapes that follow it."""
    cdef int k
    cdef ft_tape_t *ct
    cdef PyObject *ins[1]
    if ft_in_sweep():
        return 0
    ins[0] = <PyObject*>t
    for k in range(ft_tls_depth()):
        ct = ft_tls_at(k)
        if ft_tape_tracks(ct, t._id):
            (<Tape>ct.owner)._dead_end("exit", how, ins, 1)
    return 0


cdef void _auto_watch_all(Variable v) except *:
    cdef int k
    cdef ft_tape_t *ct
    for k in range(ft_tls_depth()):
        ct = ft_tls_at(k)
        if ct.recording and not ft_tape_tracks(ct, v._id):
            (<Tape>ct.owner)._auto_watch(v)


cdef inline int _ndim_of(object x) noexcept:
    if isinstance(x, Tensor):
        return cnp.PyArray_NDIM(<cnp.ndarray>(<Tensor>x)._value)
    if cnp.PyArray_Check(x):
        return cnp.PyArray_NDIM(<cnp.ndarray>x)
    return 0


cdef inline int64_t _write_shape(int64_t *rec, object arr) noexcept:
    """Writes arr's shape record {dtype number, ndim, dims...}; returns its length."""
    cdef int nd = cnp.PyArray_NDIM(<cnp.ndarray>arr), d
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(<cnp.ndarray>arr)
    rec[0] = cnp.PyArray_TYPE(<cnp.ndarray>arr)
    rec[1] = nd
    for d in range(nd):
        rec[2 + d] = dims[d]
    return 2 + nd


cdef inline object _saveable(object x):
    """What a tape keeps of an input: tensors themselves (their ids link outer
    tapes), a snapshot of a variable, a copy of a writable ndarray."""
    if isinstance(x, Tensor):
        if (<Tensor>x)._flags & _F_VARIABLE:
            return _variable_snapshot(<Variable>x, False)
        return x
    if cnp.PyArray_Check(x) and x.flags.writeable:
        return x.copy()
    return x
