# Tape: the C log, saved values, watching, gradient(). Part of core.pyx.

# ---------------------------------------------------------------- Tape

cdef bint _warned_self_recording = False


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
    cdef int _active

    def __cinit__(self, *args, **kwargs):
        ft_tape_init(&self.c, <void*>self)
        self._saved = []
        self._watched_vars = []
        self._events = DeadEndLog()
        self._used = False
        self._active = 0

    def __init__(self, persistent=False, watch_accessed_variables=True):
        self.persistent = bool(persistent)
        self.watch_accessed_variables = bool(watch_accessed_variables)

    def __dealloc__(self):
        if self._active:
            ft_tls_remove(&self.c)
        ft_tape_free(&self.c)

    def _push(self):
        if self._used:
            raise RuntimeError(
                "GradientTape: a non-persistent tape can be used for one gradient() only; "
                "create a new tape or use GradientTape(persistent=True)")
        if ft_tls_push(&self.c) < 0:
            raise RuntimeError(f"GradientTape: more than {FT_TLS_MAX} nested active tapes")
        self._active += 1

    def _pop(self):
        if self._active:
            ft_tls_remove(&self.c)
            self._active -= 1

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
        for i in range(n_in):
            n_meta += 2 + _ndim_of(<object>ins[i])
        for j in range(n_out):
            n_meta += 2 + _ndim_of(<object>outs[j])
        if op.save_any:
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
            for i in range(len(sources)):
                # only what this tape follows has a gradient: an unwatched
                # tensor gets None even when a recorded op used it (as TF)
                t = <Tensor>sources[i]
                src[i] = t._id if (_is_float_array(t._value)
                                   and ft_tape_tracks(&self.c, t._id)) else 0
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
            sweep = _Sweep(self, n_slots, higher, batch)
            for i in range(len(targets)):
                s = ft_slots_get(&slots, tgt[i])
                if s < 0:
                    continue
                seed = output_gradients[i] if output_gradients is not None else None
                sweep.seed(s, <Tensor>targets[i], seed)
            if not self.persistent:
                self._used = True
            ft_sweep_enter()
            try:
                for k in range(n - 1, -1, -1):
                    if live[k]:
                        sweep.entry(k, &slots)
            finally:
                ft_sweep_exit()
            result = []
            for i in range(len(sources)):
                s = ft_slots_get(&slots, src[i])
                g = sweep.grads[s] if s >= 0 else None
                t = <Tensor>sources[i]
                if g is None:
                    if zero_unconnected:
                        g = _wrap(np.zeros(sweep.batch + t._value.shape, t._value.dtype))
                else:
                    g = sweep.full(g, sweep.batch + t._value.shape)
                    if not isinstance(g, Tensor):
                        g = _wrap(g)
                result.append(g)
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
