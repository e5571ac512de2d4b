# Python access to the C tape in csrc/ for its unit tests (tests/core/test_ctape.py),
# re-exported by fasttape/_core/_testing.py. Part of core.pyx, so that the tests
# reach the one C tape (and per-thread tape stack) that the core itself uses.


cdef class _IdMap:
    """ft_idmap_t, for tests."""
    cdef ft_idmap_t m

    def __cinit__(self):
        ft_idmap_init(&self.m)

    def __dealloc__(self):
        ft_idmap_free(&self.m)

    def put(self, int64_t key, int64_t val):
        rc = ft_idmap_put(&self.m, key, val)
        if rc < 0:
            raise MemoryError()
        return rc

    def get(self, int64_t key, int64_t dflt=-1):
        return ft_idmap_get(&self.m, key, dflt)

    def clear(self):
        ft_idmap_clear(&self.m)

    def __len__(self):
        return self.m.len


cdef class _CTape:
    """ft_tape_t with ops given as (op, input ids, output ids), for tests of pruning."""
    cdef ft_tape_t t

    def __cinit__(self):
        ft_tape_init(&self.t, NULL)

    def __dealloc__(self):
        ft_tape_free(&self.t)

    def append(self, int op, inputs, outputs):
        cdef int64_t *ids
        cdef int64_t *meta
        cdef int i
        e = ft_tape_append(&self.t, op, len(inputs), len(outputs), 0, -1, &ids, &meta)
        if e == NULL:
            raise MemoryError()
        for i in range(len(inputs)):
            ids[i] = inputs[i]
        for i in range(len(outputs)):
            ids[len(inputs) + i] = outputs[i]

    def __len__(self):
        return self.t.n_entries

    def prune(self, targets, sources):
        """Returns (list of live entry indices, {id: slot})."""
        cdef int64_t n = self.t.n_entries, i
        cdef int64_t *tg = <int64_t*>malloc((len(targets) + 1) * sizeof(int64_t))
        cdef int64_t *sr = <int64_t*>malloc((len(sources) + 1) * sizeof(int64_t))
        cdef uint8_t *live = <uint8_t*>malloc(n + 1)
        cdef ft_slots_t slots
        cdef int64_t k, s
        ft_slots_init(&slots)
        try:
            for i in range(len(targets)):
                tg[i] = targets[i]
            for i in range(len(sources)):
                sr[i] = sources[i]
            n_slots = ft_tape_prune(&self.t, tg, len(targets), sr, len(sources), live, &slots)
            if n_slots < 0:
                raise MemoryError()
            alive = [k for k in range(n) if live[k]]
            ids = {}
            candidates = set(targets) | set(sources)
            for k in range(n):
                e = &self.t.entries[k]
                for i in range(e.n_in + e.n_out):
                    candidates.add(self.t.pool[e.ids + i])
            for key in candidates:
                s = ft_slots_get(&slots, key)
                if s >= 0:
                    ids[key] = s
            return alive, ids
        finally:
            free(tg)
            free(sr)
            free(live)
            ft_slots_free(&slots)


def _tls_push_pop_roundtrip(int n):
    """Pushes n tapes on this thread's stack, checks depth, removes them; returns max depth."""
    cdef ft_tape_t *tapes = <ft_tape_t*>malloc(n * sizeof(ft_tape_t))
    cdef int i, depth = 0, rc
    try:
        for i in range(n):
            ft_tape_init(&tapes[i], NULL)
            rc = ft_tls_push(&tapes[i])
            if rc < 0:
                break
            depth = ft_tls_depth()
        for i in range(depth - 1, -1, -1):
            ft_tls_remove(&tapes[i])
        return depth, ft_tls_depth()
    finally:
        free(tapes)


def _append_error(int64_t n_in, int64_t n_out, int64_t n_meta):
    """What ft_tape_append says to an entry of these counts on an empty tape:
    0 (appended), FT_ERANGE or FT_ENOMEM."""
    cdef ft_tape_t t
    cdef int64_t *ids
    cdef int64_t *meta
    ft_tape_init(&t, NULL)
    try:
        if ft_tape_append(&t, 0, n_in, n_out, n_meta, -1, &ids, &meta) == NULL:
            return ft_tape_append_error()
        return 0
    finally:
        ft_tape_free(&t)


_FT_ERANGE_CODE = FT_ERANGE
_FT_ENOMEM_CODE = FT_ENOMEM
_FT_MAX_ARITY_VALUE = FT_MAX_ARITY
