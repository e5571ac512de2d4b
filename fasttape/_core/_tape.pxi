# Tape: the C log, saved values, watching, gradient(). Part of core.pyx.

# ---------------------------------------------------------------- Tape

# Note [Save masks]
# ~~~~~~~~~~~~~~~~~
# A tape keeps, per entry, exactly the values some VJP of the op names, and
# nothing else. register_op derives the op's save mask from the VJPs'
# parameter names (_plan): save_in[i] when a VJP names input i (variadic ops:
# all inputs, save_all_in), save_out[j] when one names out / out<j>,
# save_attrs when one names an attribute; save_any is their union. g, the
# "identity" marker, `<input>_shape` and `<input>_dtype` save nothing: shapes
# and dtypes are in the entry's shape records in the C pool. So naming
# `x_shape` rather than `x` (reduce_sum, reshape, add) keeps no tensor alive,
# and a chain of such ops holds no array at all.
#
# Layout: Tape._append appends the saved values to Tape._saved from the
# entry's `saved` index on, in this order: the named inputs in input order,
# the named outputs in output order, then the attrs tuple (whole, once).
# _Sweep.tape_entry reads them back in the same order with the same mask, so
# the two loops must stay alike. What is saved (_saveable): a Tensor itself
# (its id links outer tapes: Note [One VJP, every mode]), a snapshot of a
# variable (later assignments do not change the gradient), a copy of a
# writable ndarray, and raw inputs as Note [Raw inputs] says. A
# non-persistent tape drops an entry's saved values as soon as its VJPs ran,
# so memory falls during the sweep; a persistent one keeps them until it is
# reset or dropped (Tape._saved_values shows what is held, for tests).
#
# A graph saves nothing, since a node's inputs and outputs are in the graph;
# there the mask says which forward tensors the gradient nodes read, which is
# what a graph runner must keep alive until the backward part runs.


# Note [Raw inputs]
# ~~~~~~~~~~~~~~~~~
# Ops take non-Tensor inputs: Python scalars, lists, tuples, NumPy scalars,
# ndarrays, objects with __array__. What a tape records for one (its shape
# record, the value a VJP is given) must be an array with the value the
# forward computed with, never the raw object: a list has no shape or dtype
# (the VJPs failed with "'list' object has no attribute 'ndim'") and may be
# changed by the caller after the op. So Tape._append turns every input that
# is not a Tensor, an ndarray or a Python scalar into a read-only ndarray
# copy (np.array: what NumPy's forward saw); the binary fast path records
# the operand it already converted (a list there takes the other operand's
# dtype). Writable ndarrays are copied when saved (_saveable). Python scalars
# are recorded as they are: immutable, of shape (), and weakly typed, so
# that a VJP computes in the dtype the forward did (a 0-d float64 array
# would turn a float32 gradient into float64, or make an op of a recording
# outer tape reject mixed dtypes).
cdef inline int _ndim_or_raw(object x) noexcept:
    """The ndim of a Tensor, an ndarray or a Python scalar (0); -1 for anything
    else, which the tape records as an array (_recorded_value)."""
    if isinstance(x, Tensor):
        return cnp.PyArray_NDIM(<cnp.ndarray>(<Tensor>x)._value)
    if cnp.PyArray_Check(x):
        return cnp.PyArray_NDIM(<cnp.ndarray>x)
    if isinstance(x, (float, int, complex)):
        return 0
    return -1


cdef object _recorded_value(object x):
    arr = np.array(x)
    if arr.dtype.kind == "O":  # not numeric data: left to the op's own checks
        return x
    arr.flags.writeable = False
    return arr


cdef bint _warned_self_recording = False

# Note [Active tapes and threads]
# ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
# The C stack of active tapes (ft_tls_*) is per thread and holds raw pointers
# to the tapes' ft_tape_t. Three rules keep those pointers valid:
# - A tape is on at most one stack, once: entering an active tape raises
#   ValueError (as TensorFlow), so it cannot be pushed twice or on two threads.
# - Only the thread that entered a tape may exit it: ft_tls_remove searches
#   the calling thread's stack, and a tape that is active but not there was
#   entered by another thread, so __exit__ raises RuntimeError and changes
#   neither stack (the tape stays active where it was entered).
# - While a tape is on a thread's stack, that thread holds a strong reference
#   to it (_ACTIVE_REFS, a threading.local), so it can never be freed, by
#   reference counting or by the cyclic collector in any thread, while a
#   pointer to it is on a stack. When a thread ends with tapes still entered,
#   CPython clears its thread-locals (in that thread, with the GIL, before
#   its C thread-locals go): the tapes are freed there and __dealloc__ takes
#   them off that thread's stack. A tape freed elsewhere while marked active
#   can only have been on the stack of a thread that no longer exists, which
#   ft_tls_remove (a search of the calling thread's stack) never touches.
cdef object _ACTIVE_REFS = threading.local()


cdef list _active_refs():
    refs = getattr(_ACTIVE_REFS, "tapes", None)
    if refs is None:
        refs = _ACTIVE_REFS.tapes = []
    return refs


cdef class Tape:
    """The compiled part of `ft.GradientTape`: the C log, saved values and the sweep.

    See Note [Tape ownership]."""
    cdef ft_tape_t c
    cdef list _saved
    cdef list _watched_vars
    cdef readonly DeadEndLog _events  # See Note [Dead ends]
    cdef readonly bint persistent
    cdef readonly bint watch_accessed_variables
    cdef bint _used
    cdef bint _active
    cdef object _thread  # threading.get_ident() of the thread that entered it

    def __cinit__(self, *args, **kwargs):
        ft_tape_init(&self.c, <void*>self)
        self._saved = []
        self._watched_vars = []
        self._events = DeadEndLog()
        self._used = False
        self._active = False
        self._thread = None

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = bool(persistent)
        self.watch_accessed_variables = bool(watch_accessed_variables)

    def __dealloc__(self):
        if self._active:
            # only when the entering thread ends: See Note [Active tapes and threads]
            ft_tls_remove(&self.c)
        ft_tape_free(&self.c)

    def _push(self):
        """Makes the tape active on this thread. See Note [Active tapes and threads]."""
        if self._active:
            where = ("this thread" if self._thread == threading.get_ident()
                     else f"thread {self._thread}")
            raise ValueError(
                f"GradientTape: the tape is already active (entered in {where} and not "
                "exited); a tape cannot be re-entered while it is recording")
        if self._used:
            raise RuntimeError(
                "GradientTape: a non-persistent tape can be used for one gradient() only; "
                "create a new tape or use GradientTape(persistent=True)")
        refs = _active_refs()
        if ft_tls_push(&self.c) < 0:
            raise RuntimeError(f"GradientTape: more than {FT_TLS_MAX} nested active tapes")
        refs.append(self)
        self._active = True
        self._thread = threading.get_ident()

    def _pop(self):
        """Ends the tape's activity on this thread (nothing if it is not active)."""
        cdef Py_ssize_t i
        if not self._active:
            return
        if ft_tls_remove(&self.c) < 0:
            raise RuntimeError(
                f"GradientTape: the tape was entered in thread {self._thread} and cannot be "
                f"exited in thread {threading.get_ident()}; exit it in the thread that "
                "entered it")
        self._active = False
        self._thread = None
        refs = _active_refs()
        for i in range(len(refs) - 1, -1, -1):
            if refs[i] is self:
                del refs[i]  # may free the tape: nothing of self is used after this
                break

    @property
    def _recording(self):
        return bool(self.c.recording)

    def _set_recording(self, bint on):
        self.c.recording = on

    def _watch(self, Tensor t):
        """Follows `t` (a float tensor or variable); other dtypes are ignored."""
        if not _is_float_array(t._value):
            return False
        if ft_tape_track(&self.c, t._id) < 0:
            raise MemoryError()
        if t._flags & _F_VARIABLE:
            for v in self._watched_vars:
                if v is t:
                    break
            else:
                self._watched_vars.append(t)
        return True

    cdef int _auto_watch(self, Tensor t) except -1:
        if self.watch_accessed_variables:
            self._watch(t)
        return 0

    def _watched_variables(self):
        return tuple(self._watched_vars)

    def _reset(self):
        ft_tape_clear(&self.c)
        self._saved = []
        self._watched_vars = []
        self._events.clear()
        self._used = False

    cdef int _dead_end(self, int kind, str what, PyObject **ins, int n_in) except -1:
        # See Note [Dead ends]
        return self._events.add(&self.c, self.watch_accessed_variables, kind, what, ins, n_in)

    def _tracks(self, Tensor t):
        return bool(ft_tape_tracks(&self.c, t._id))

    def _entries(self):
        """The record as Python data: (op name, input ids, output ids) per entry."""
        cdef int64_t k
        cdef ft_entry_t *e
        cdef int64_t *ids
        out = []
        for k in range(self.c.n_entries):
            e = &self.c.entries[k]
            ids = self.c.pool + e.ids
            out.append(((<OpDef>_OPS[e.op]).name,
                        tuple([ids[i] for i in range(e.n_in)]),
                        tuple([ids[e.n_in + j] for j in range(e.n_out)])))
        return out

    @property
    def _n_entries(self):
        return self.c.n_entries

    def _saved_values(self):
        """The values the tape holds for its VJPs (for tests of the save mask)."""
        return [v for v in self._saved if v is not None]

    cdef int _append(self, OpDef op, PyObject **ins, int n_in, PyObject **outs, int n_out,
                     object attrs) except -1:
        cdef int64_t saved = -1, n_meta = 0, pos
        cdef int64_t *ids
        cdef int64_t *meta
        cdef int i, j, d, nd
        cdef object x, arr
        cdef Tensor t
        cdef ft_entry_t *e
        cdef cnp.npy_intp *dims
        cdef list conv = None
        for i in range(n_in):
            nd = _ndim_or_raw(<object>ins[i])
            if nd < 0:
                # See Note [Raw inputs]
                if conv is None:
                    conv = [<object>ins[k] for k in range(n_in)]
                x = conv[i] = _recorded_value(<object>ins[i])
                nd = _ndim_of(x)
            n_meta += 2 + nd
        if conv is not None:
            ins = (<PyListObject*>conv).ob_item  # conv lives until the end of this call
        for j in range(n_out):
            n_meta += 2 + _ndim_of(<object>outs[j])
        if op.save_any:  # See Note [Save masks]
            saved = len(self._saved)
            for i in range(n_in):
                if op.save_all_in or (i < MAX_ARGS and op.save_in[i]):
                    self._saved.append(_saveable(<object>ins[i]))
            for j in range(n_out):
                if op.save_out[j]:
                    self._saved.append(<object>outs[j])
            if op.save_attrs:
                self._saved.append(attrs)
        e = ft_tape_append(&self.c, op.index, n_in, n_out, n_meta, saved, &ids, &meta)
        if e == NULL:
            if op.save_any:
                del self._saved[saved:]
            if ft_tape_append_error() == FT_ERANGE:
                raise ValueError(
                    f"{op.name}: {n_in} inputs and {n_out} outputs are more than a tape can "
                    f"record ({FT_MAX_ARITY} in all)")
            raise MemoryError("GradientTape: out of memory while recording")
        pos = 0
        for i in range(n_in):
            x = <object>ins[i]
            if isinstance(x, Tensor):
                arr = (<Tensor>x)._value
                ids[i] = (<Tensor>x)._id if _is_float_array(arr) else 0
            elif cnp.PyArray_Check(x):
                arr = x
                ids[i] = 0
            else:
                ids[i] = 0
                meta[pos] = -1
                meta[pos + 1] = 0
                pos += 2
                continue
            pos += _write_shape(meta + pos, arr)
        for j in range(n_out):
            t = <Tensor>outs[j]
            arr = t._value
            pos += _write_shape(meta + pos, arr)
            if _is_float_array(arr):
                ids[n_in + j] = t._id
                if ft_tape_track(&self.c, t._id) < 0:
                    raise MemoryError()
            else:
                ids[n_in + j] = 0
        return 0

    # ------------------------------------------------------------ sweep
    def _gradient(self, list targets, list sources, list output_gradients, bint zero_unconnected,
                  Py_ssize_t batch=0):
        """The reverse sweep: gradients of sum(targets) w.r.t. each source.

        targets: Tensors; sources: Tensors/Variables; output_gradients: None or
        one seed per target. Returns a list with one gradient (or None) per source.
        With batch = B > 0 the seeds have a leading axis of B cotangents and so
        have the results: B vector-Jacobian products in one sweep (see Note
        [Batched sweeps]).
        """
        global _warned_self_recording
        cdef int64_t n = self.c.n_entries, n_slots, k, s
        cdef int64_t *tgt = NULL
        cdef int64_t *src = NULL
        cdef uint8_t *live = NULL
        cdef ft_slots_t slots
        cdef Py_ssize_t i
        cdef bint higher = False
        cdef int d
        cdef Tensor t
        cdef int64_t n_tgt, n_src
        cdef _Sweep sweep
        if self._used:
            raise RuntimeError(
                "GradientTape.gradient can only be called once on a non-persistent tape; "
                "use GradientTape(persistent=True) to compute several gradients")
        for d in range(ft_tls_depth()):
            if ft_tls_at(d).recording:
                higher = True
                if ft_tls_at(d) == &self.c and not _warned_self_recording:
                    _warned_self_recording = True
                    warnings.warn(
                        "Calling GradientTape.gradient on a tape inside its own context "
                        "records the gradient computation on the tape, which is costly; call "
                        "it after the `with` block unless you need higher-order gradients",
                        stacklevel=3)
        ft_slots_init(&slots)
        tgt = <int64_t*>malloc((len(targets) + 1) * sizeof(int64_t))
        src = <int64_t*>malloc((len(sources) + 1) * sizeof(int64_t))
        live = <uint8_t*>malloc(n + 1)
        try:
            if tgt == NULL or src == NULL or live == NULL:
                raise MemoryError()
            for i in range(len(targets)):
                t = <Tensor>targets[i]
                tgt[i] = t._id if _is_float_array(t._value) else 0
            target_ids = None
            for i in range(len(sources)):
                # only what this tape follows has a gradient: an unwatched
                # tensor gets None even when a recorded op used it (as TF),
                # unless it is a target itself: then it gets its seed (TF's
                # `sources_that_are_targets`; `tape.gradient(v, v)` is 1)
                t = <Tensor>sources[i]
                src[i] = 0
                if _is_float_array(t._value):
                    if ft_tape_tracks(&self.c, t._id):
                        src[i] = t._id
                    else:
                        if target_ids is None:
                            target_ids = {tgt[k] for k in range(len(targets))}
                        if t._id in target_ids:
                            src[i] = t._id
            n_tgt = len(targets)
            n_src = len(sources)
            if self._active:
                # the tape may be recording in another thread, which appends
                # with the GIL held: prune under the GIL too
                n_slots = ft_tape_prune(&self.c, tgt, n_tgt, src, n_src, live, &slots)
            else:
                with nogil:
                    n_slots = ft_tape_prune(&self.c, tgt, n_tgt, src, n_src, live, &slots)
            if n_slots < 0:
                raise MemoryError("GradientTape.gradient: out of memory while pruning")
            sweep = _Sweep(self, n_slots, _TENSOR_SPACE if higher else _RAW_SPACE, batch)
            for i in range(len(sources)):
                s = ft_slots_get(&slots, src[i])
                if s >= 0:
                    sweep.keep[s] = 1  # read after the sweep: Note [Gradients in place]
            for i in range(len(targets)):
                s = ft_slots_get(&slots, tgt[i])
                if s < 0:
                    continue
                seed = output_gradients[i] if output_gradients is not None else None
                sweep.seed(s, <Tensor>targets[i], seed)
            if not self.persistent:
                self._used = True
            sweep.tape_entries(n, live, &slots)
            result = [sweep.result(ft_slots_get(&slots, src[i]), <Tensor>sources[i],
                                   zero_unconnected) for i in range(len(sources))]
            return result
        finally:
            free(tgt)
            free(src)
            free(live)
            ft_slots_free(&slots)
            if not self.persistent and self._used:
                self._saved = []
                self._events.clear()
                ft_tape_free(&self.c)


def _active_tape_depth():
    """The number of tapes active on this thread (for tests)."""
    return ft_tls_depth()
