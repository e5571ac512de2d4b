# Declarations of the C tape (csrc/fasttape_tape.h). Only fasttape/_core cimports this.
from libc.stdint cimport int32_t, int64_t, uint8_t

cdef extern from "fasttape_tape.h" nogil:
    int FT_ENOMEM
    int FT_EFULL
    int FT_ERANGE
    int64_t FT_MAX_ARITY
    int FT_TLS_MAX

    ctypedef struct ft_idmap_t:
        int64_t *keys
        int64_t *vals
        int64_t cap
        int64_t len

    void ft_idmap_init(ft_idmap_t *m)
    void ft_idmap_free(ft_idmap_t *m)
    void ft_idmap_clear(ft_idmap_t *m)
    int ft_idmap_put(ft_idmap_t *m, int64_t key, int64_t val)
    int64_t ft_idmap_get(const ft_idmap_t *m, int64_t key, int64_t dflt)

    ctypedef struct ft_slots_t:
        int64_t lo
        int64_t span
        int64_t *dense
        ft_idmap_t map

    void ft_slots_init(ft_slots_t *s)
    void ft_slots_free(ft_slots_t *s)
    int64_t ft_slots_get(const ft_slots_t *s, int64_t id)

    ctypedef struct ft_entry_t:
        int32_t op
        int32_t n_in
        int32_t n_out
        int64_t ids
        int64_t meta
        int64_t saved

    ctypedef struct ft_tape_t:
        ft_entry_t *entries
        int64_t n_entries
        int64_t cap_entries
        int64_t *pool
        int64_t n_pool
        int64_t cap_pool
        ft_idmap_t tracked
        int recording
        void *owner

    void ft_tape_init(ft_tape_t *t, void *owner)
    void ft_tape_free(ft_tape_t *t)
    void ft_tape_clear(ft_tape_t *t)
    int ft_tape_track(ft_tape_t *t, int64_t id)
    int ft_tape_tracks(const ft_tape_t *t, int64_t id)
    ft_entry_t *ft_tape_append(ft_tape_t *t, int32_t op, int64_t n_in, int64_t n_out,
                               int64_t n_meta, int64_t saved,
                               int64_t **ids, int64_t **meta)
    int ft_tape_append_error()
    int64_t ft_tape_prune(const ft_tape_t *t, const int64_t *targets, int64_t n_targets,
                          const int64_t *sources, int64_t n_sources, uint8_t *live,
                          ft_slots_t *slots)

    int ft_tls_push(ft_tape_t *t)
    int ft_tls_remove(ft_tape_t *t)
    int ft_tls_depth()
    ft_tape_t *ft_tls_at(int i)
