/* fasttape's C tape: an append-only log of fixed-size entries, an int64 pool
 * for tensor ids and shape records, an id -> value hash map, pruning from
 * targets back to sources, and the per-thread stack of active tapes.
 *
 * Pure C99 (plus the `__thread` storage class of GCC and Clang); no Python.h.
 * Python objects never enter this file: the Cython layer keeps saved values in
 * its own lists and refers to them by index (see Note [Tape ownership] in
 * fasttape/_core/core.pyx). Every function returns 0 (or a non-negative
 * count) on success and a negative FT_E* code on failure, unless it says
 * otherwise. */
#ifndef FASTTAPE_TAPE_H
#define FASTTAPE_TAPE_H

#include <stdint.h>
#include <stddef.h>

#define FT_ENOMEM (-1)  /* an allocation failed; nothing was changed */
#define FT_EFULL (-2)   /* the per-thread tape stack is full */
#define FT_ENOTFOUND (-3)
#define FT_ERANGE (-4)  /* a count does not fit its field; nothing was changed */

/* Deepest nesting of active tapes on one thread. */
#define FT_TLS_MAX 256

/* ---------------------------------------------------------------- id map */

/* Open-addressing hash map from a non-zero int64 key to an int64 value.
 * Key 0 marks an empty cell, so key 0 (the id of constants) is never stored. */
typedef struct {
    int64_t *keys;
    int64_t *vals;
    int64_t cap;  /* a power of two, or 0 before the first insertion */
    int64_t len;
} ft_idmap_t;

/* Makes an empty map; allocates nothing. */
void ft_idmap_init(ft_idmap_t *m);
/* Frees the map's buffers and leaves it empty and reusable. */
void ft_idmap_free(ft_idmap_t *m);
/* Empties the map, keeping its buffers. */
void ft_idmap_clear(ft_idmap_t *m);
/* Inserts key -> val, or overwrites the value of a present key.
 * Returns 1 if the key was new, 0 if it was present, FT_ENOMEM. */
int ft_idmap_put(ft_idmap_t *m, int64_t key, int64_t val);
/* The value of key, or dflt when absent (always dflt for key 0). */
int64_t ft_idmap_get(const ft_idmap_t *m, int64_t key, int64_t dflt);

/* --------------------------------------------------------------- id slots */

/* A map from id to a non-negative value (-1: absent) over the ids of one tape:
 * a dense array over [lo, lo + span) when the ids are close together (a
 * tape's ids nearly always are: they come from one counter), a hash map
 * otherwise. Used for the gradient slots that pruning hands out. */
typedef struct {
    int64_t lo, span;
    int64_t *dense; /* NULL: hash mode */
    ft_idmap_t map;
} ft_slots_t;

/* Makes an empty map; allocates nothing. */
void ft_slots_init(ft_slots_t *s);
/* Frees the map's buffers and leaves it empty. */
void ft_slots_free(ft_slots_t *s);
/* The value of id, or -1 when absent (always -1 for id 0). */
static inline int64_t ft_slots_get(const ft_slots_t *s, int64_t id) {
    if (s->dense) {
        uint64_t k = (uint64_t)(id - s->lo);
        return (id && k < (uint64_t)s->span) ? s->dense[k] : -1;
    }
    return ft_idmap_get(&s->map, id, -1);
}

/* ------------------------------------------------------------------ tape */

/* One recorded op. Ids and shape records live in the tape's pool:
 *   pool[ids .. ids + n_in + n_out)   input ids then output ids (0: no gradient)
 *   pool[meta ..]                     n_in + n_out shape records, each
 *                                     {dtype number, ndim, dim_0 .. dim_ndim-1}
 * `saved` indexes the owner's list of saved Python values (-1: none).
 *
 * Note [Entry field widths]: every count and offset is checked where it is
 * stored (ft_tape_append), never truncated. n_in + n_out <= FT_MAX_ARITY, so
 * the sum fits an int (loops and the sweep's buffers use int); pool offsets,
 * entry counts and capacities are int64 and their growth is checked against
 * overflow of the byte size; ndim in a shape record is an int64 cell. */
typedef struct {
    int32_t op;
    int32_t n_in;
    int32_t n_out;
    int64_t ids;
    int64_t meta;
    int64_t saved;
} ft_entry_t;

/* Most inputs plus outputs of one entry. */
#define FT_MAX_ARITY INT32_MAX

typedef struct ft_tape {
    ft_entry_t *entries;
    int64_t n_entries, cap_entries;
    int64_t *pool;
    int64_t n_pool, cap_pool;
    /* Ids this tape follows: watched sources and the differentiable outputs
     * of recorded entries. An op is recorded when one of its inputs is here. */
    ft_idmap_t tracked;
    int recording;  /* 0 inside stop_recording() */
    /* Borrowed pointer to the Python object that owns this struct; this file
     * never dereferences it. */
    void *owner;
} ft_tape_t;

/* Makes an empty, recording tape; allocates nothing. */
void ft_tape_init(ft_tape_t *t, void *owner);
/* Frees every buffer; the tape is empty afterwards and may be reused. */
void ft_tape_free(ft_tape_t *t);
/* Drops all entries and tracked ids, keeping the buffers. */
void ft_tape_clear(ft_tape_t *t);
/* Follows `id` from now on. */
int ft_tape_track(ft_tape_t *t, int64_t id);
/* Non-zero when the tape follows `id`. */
static inline int ft_tape_tracks(const ft_tape_t *t, int64_t id) {
    return ft_idmap_get(&t->tracked, id, 0) != 0;
}
/* Appends an entry with room for its ids (n_in + n_out int64) and `n_meta`
 * int64 of shape records in the pool, and returns it; *ids and *meta point
 * at the reserved pool space, valid until the next append. NULL when out of
 * memory or when a count is out of range (negative, n_in + n_out above
 * FT_MAX_ARITY, a size that overflows); ft_tape_append_error() then says
 * which, FT_ENOMEM or FT_ERANGE, and the tape is unchanged. The caller fills the
 * reserved space and then tracks the outputs that carry gradients. */
ft_entry_t *ft_tape_append(ft_tape_t *t, int32_t op, int64_t n_in, int64_t n_out,
                           int64_t n_meta, int64_t saved,
                           int64_t **ids, int64_t **meta);
/* Why the last ft_tape_append of this thread returned NULL (FT_ENOMEM or FT_ERANGE). */
int ft_tape_append_error(void);

/* Marks the entries that lie on a path from one of `sources` to one of
 * `targets` (live[k] = 1, else 0; live has n_entries cells) and gives every
 * id that will carry a gradient a dense slot number in `slots` (which must be
 * empty, as ft_slots_init leaves it): the targets, the sources, the outputs of live entries and those of
 * their inputs that depend on a source. Returns the number of slots or
 * FT_ENOMEM. Touches no Python object: the caller may release the GIL. */
int64_t ft_tape_prune(const ft_tape_t *t, const int64_t *targets, int64_t n_targets,
                      const int64_t *sources, int64_t n_sources, uint8_t *live,
                      ft_slots_t *slots);

/* ------------------------------------------------ per-thread tape stack */

/* Pushes t on this thread's stack of active tapes (FT_EFULL past FT_TLS_MAX). */
int ft_tls_push(ft_tape_t *t);
/* Removes the topmost occurrence of t from this thread's stack. */
int ft_tls_remove(ft_tape_t *t);
/* The number of active tapes on this thread. */
int ft_tls_depth(void);
/* The i-th active tape of this thread, 0 the outermost. */
ft_tape_t *ft_tls_at(int i);

#endif
