/* fasttape's C tape: see fasttape_tape.h for the contracts. */
#include "fasttape_tape.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- id map */

/* Fibonacci hashing: ids are consecutive integers, so multiply to spread them. */
static inline int64_t ft_hash(int64_t key, int64_t cap) {
    return (int64_t)(((uint64_t)key * 11400714819323198485ull) >> 20) & (cap - 1);
}

void ft_idmap_init(ft_idmap_t *m) {
    m->keys = NULL;
    m->vals = NULL;
    m->cap = 0;
    m->len = 0;
}

void ft_idmap_free(ft_idmap_t *m) {
    free(m->keys);
    free(m->vals);
    ft_idmap_init(m);
}

void ft_idmap_clear(ft_idmap_t *m) {
    if (m->cap) memset(m->keys, 0, (size_t)m->cap * sizeof(int64_t));
    m->len = 0;
}

static int ft_idmap_grow(ft_idmap_t *m) {
    int64_t new_cap = m->cap ? m->cap * 2 : 64;
    int64_t *keys = calloc((size_t)new_cap, sizeof(int64_t));
    int64_t *vals = malloc((size_t)new_cap * sizeof(int64_t));
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return FT_ENOMEM;
    }
    for (int64_t i = 0; i < m->cap; i++) {
        int64_t k = m->keys[i];
        if (!k) continue;
        int64_t h = ft_hash(k, new_cap);
        while (keys[h]) h = (h + 1) & (new_cap - 1);
        keys[h] = k;
        vals[h] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = new_cap;
    return 0;
}

int ft_idmap_put(ft_idmap_t *m, int64_t key, int64_t val) {
    if (!key) return 0;
    /* Keep the load factor under 1/2 so that probes stay short. */
    if (2 * (m->len + 1) > m->cap && ft_idmap_grow(m) < 0) return FT_ENOMEM;
    int64_t h = ft_hash(key, m->cap);
    while (m->keys[h]) {
        if (m->keys[h] == key) {
            m->vals[h] = val;
            return 0;
        }
        h = (h + 1) & (m->cap - 1);
    }
    m->keys[h] = key;
    m->vals[h] = val;
    m->len++;
    return 1;
}

int64_t ft_idmap_get(const ft_idmap_t *m, int64_t key, int64_t dflt) {
    if (!key || !m->len) return dflt;
    int64_t h = ft_hash(key, m->cap);
    while (m->keys[h]) {
        if (m->keys[h] == key) return m->vals[h];
        h = (h + 1) & (m->cap - 1);
    }
    return dflt;
}

/* ------------------------------------------------------------------ tape */

void ft_tape_init(ft_tape_t *t, void *owner) {
    t->entries = NULL;
    t->n_entries = t->cap_entries = 0;
    t->pool = NULL;
    t->n_pool = t->cap_pool = 0;
    ft_idmap_init(&t->tracked);
    t->recording = 1;
    t->owner = owner;
}

void ft_tape_free(ft_tape_t *t) {
    free(t->entries);
    free(t->pool);
    ft_idmap_free(&t->tracked);
    t->entries = NULL;
    t->n_entries = t->cap_entries = 0;
    t->pool = NULL;
    t->n_pool = t->cap_pool = 0;
}

void ft_tape_clear(ft_tape_t *t) {
    t->n_entries = 0;
    t->n_pool = 0;
    ft_idmap_clear(&t->tracked);
}

int ft_tape_track(ft_tape_t *t, int64_t id) {
    int rc = ft_idmap_put(&t->tracked, id, 1);
    return rc < 0 ? rc : 0;
}

static __thread int ft_append_err = 0;

int ft_tape_append_error(void) { return ft_append_err; }

/* The byte size of n cells of `size` bytes, or 0 when it overflows size_t. */
static inline size_t ft_bytes(int64_t n, size_t size) {
    if (n < 0 || (uint64_t)n > SIZE_MAX / size) return 0;
    return (size_t)n * size;
}

ft_entry_t *ft_tape_append(ft_tape_t *t, int32_t op, int64_t n_in, int64_t n_out,
                           int64_t n_meta, int64_t saved,
                           int64_t **ids, int64_t **meta) {
    /* See Note [Entry field widths]: counts are checked, never truncated. */
    if (n_in < 0 || n_out < 0 || n_meta < 0 || n_in > FT_MAX_ARITY - n_out
        || n_meta > INT64_MAX / 4 - t->n_pool - (n_in + n_out)) {
        ft_append_err = FT_ERANGE;
        return NULL;
    }
    int64_t need = n_in + n_out + n_meta;
    ft_append_err = FT_ENOMEM;
    /* Capacities double, so appends are amortised O(1). */
    if (t->n_entries == t->cap_entries) {
        int64_t cap = t->cap_entries ? 2 * t->cap_entries : 64;
        size_t bytes = ft_bytes(cap, sizeof(ft_entry_t));
        if (!bytes) return NULL;
        ft_entry_t *e = realloc(t->entries, bytes);
        if (!e) return NULL;
        t->entries = e;
        t->cap_entries = cap;
    }
    if (t->n_pool + need > t->cap_pool) {
        /* n_pool + need <= INT64_MAX / 4 (checked above), so cap cannot overflow */
        int64_t cap = t->cap_pool ? 2 * t->cap_pool : 1024;
        while (cap < t->n_pool + need) cap *= 2;
        size_t bytes = ft_bytes(cap, sizeof(int64_t));
        if (!bytes) return NULL;
        int64_t *p = realloc(t->pool, bytes);
        if (!p) return NULL;
        t->pool = p;
        t->cap_pool = cap;
    }
    ft_append_err = 0;
    ft_entry_t *e = &t->entries[t->n_entries++];
    e->op = op;
    e->n_in = (int32_t)n_in;   /* in range: checked above */
    e->n_out = (int32_t)n_out;
    e->ids = t->n_pool;
    e->meta = t->n_pool + n_in + n_out;
    e->saved = saved;
    *ids = t->pool + e->ids;
    *meta = t->pool + e->meta;
    t->n_pool += need;
    return e;
}

/* ---------------------------------------------------------------- id slots */

void ft_slots_init(ft_slots_t *s) {
    s->lo = 0;
    s->span = 0;
    s->dense = NULL;
    ft_idmap_init(&s->map);
}

void ft_slots_free(ft_slots_t *s) {
    free(s->dense);
    ft_idmap_free(&s->map);
    ft_slots_init(s);
}

/* Chooses dense mode over [lo, hi] when that range is at most a few times the
 * number of ids to store; otherwise stays a hash map. */
static int ft_slots_prepare(ft_slots_t *s, int64_t lo, int64_t hi, int64_t n_ids) {
    if (hi < lo) return 0;
    int64_t span = hi - lo + 1;
    if (span > 4 * n_ids + 256) return 0; /* else clearing it costs more than hashing */
    s->dense = malloc((size_t)span * sizeof(int64_t));
    if (!s->dense) return FT_ENOMEM;
    memset(s->dense, 0xff, (size_t)span * sizeof(int64_t)); /* every entry -1 */
    s->lo = lo;
    s->span = span;
    return 0;
}

static inline int ft_slots_put(ft_slots_t *s, int64_t id, int64_t val) {
    if (!id) return 0;
    if (s->dense) {
        s->dense[id - s->lo] = val; /* id lies in [lo, hi]: see ft_tape_prune */
        return 0;
    }
    int rc = ft_idmap_put(&s->map, id, val);
    return rc < 0 ? rc : 0;
}

int64_t ft_tape_prune(const ft_tape_t *t, const int64_t *targets, int64_t n_targets,
                      const int64_t *sources, int64_t n_sources, uint8_t *live,
                      ft_slots_t *slots) {
    /* Forward: `reach` holds the ids that depend on a source. Entries are in
     * execution order, so one pass forward sees every producer before its
     * consumers; a second pass backward from the targets keeps the entries
     * whose outputs are needed. No toposort is needed. Both maps are dense
     * arrays over the tape's id range when it is compact (ids come from one
     * counter), which makes each probe an index. */
    ft_slots_t reach;
    ft_slots_init(&reach);
    int64_t n_slots = 0, lo = INT64_MAX, hi = INT64_MIN, n_ids = n_sources + n_targets;
    for (int64_t k = 0; k < t->n_entries; k++) {
        const ft_entry_t *e = &t->entries[k];
        const int64_t *ids = t->pool + e->ids;
        for (int i = 0; i < e->n_in + e->n_out; i++) {
            if (!ids[i]) continue;
            if (ids[i] < lo) lo = ids[i];
            if (ids[i] > hi) hi = ids[i];
        }
        n_ids += e->n_in + e->n_out;
    }
    for (int64_t i = 0; i < n_sources; i++)
        if (sources[i]) { if (sources[i] < lo) lo = sources[i]; if (sources[i] > hi) hi = sources[i]; }
    for (int64_t i = 0; i < n_targets; i++)
        if (targets[i]) { if (targets[i] < lo) lo = targets[i]; if (targets[i] > hi) hi = targets[i]; }
    if (ft_slots_prepare(&reach, lo, hi, n_ids) < 0) goto oom;
    if (ft_slots_prepare(slots, lo, hi, n_ids) < 0) goto oom;
    for (int64_t i = 0; i < n_sources; i++)
        if (ft_slots_put(&reach, sources[i], 1) < 0) goto oom;
    for (int64_t k = 0; k < t->n_entries; k++) {
        const ft_entry_t *e = &t->entries[k];
        const int64_t *ids = t->pool + e->ids;
        live[k] = 0;
        for (int i = 0; i < e->n_in; i++) {
            if (ft_slots_get(&reach, ids[i]) >= 0) {
                live[k] = 1; /* provisionally: depends on a source */
                break;
            }
        }
        if (live[k])
            for (int j = 0; j < e->n_out; j++)
                if (ft_slots_put(&reach, ids[e->n_in + j], 1) < 0) goto oom;
    }
    /* Backward: slots are handed out to the needed ids as they are found. */
    for (int64_t i = 0; i < n_targets; i++)
        if (targets[i] && ft_slots_get(slots, targets[i]) < 0)
            if (ft_slots_put(slots, targets[i], n_slots++) < 0) goto oom;
    for (int64_t k = t->n_entries - 1; k >= 0; k--) {
        if (!live[k]) continue;
        const ft_entry_t *e = &t->entries[k];
        const int64_t *ids = t->pool + e->ids;
        int needed = 0;
        for (int j = 0; j < e->n_out && !needed; j++)
            needed = ft_slots_get(slots, ids[e->n_in + j]) >= 0;
        live[k] = (uint8_t)needed;
        if (!needed) continue;
        for (int i = 0; i < e->n_in; i++) {
            int64_t id = ids[i];
            if (ft_slots_get(&reach, id) >= 0 && ft_slots_get(slots, id) < 0)
                if (ft_slots_put(slots, id, n_slots++) < 0) goto oom;
        }
    }
    for (int64_t i = 0; i < n_sources; i++)
        if (sources[i] && ft_slots_get(slots, sources[i]) < 0)
            if (ft_slots_put(slots, sources[i], n_slots++) < 0) goto oom;
    ft_slots_free(&reach);
    return n_slots;
oom:
    ft_slots_free(&reach);
    return FT_ENOMEM;
}

/* ------------------------------------------------ per-thread tape stack */

/* Each OS thread (hence each Python thread) has its own stack, so ops run in
 * one thread are never recorded on another thread's tape. */
static __thread ft_tape_t *ft_tls_stack[FT_TLS_MAX];
static __thread int ft_tls_n = 0;

int ft_tls_push(ft_tape_t *t) {
    if (ft_tls_n == FT_TLS_MAX) return FT_EFULL;
    ft_tls_stack[ft_tls_n++] = t;
    return 0;
}

int ft_tls_remove(ft_tape_t *t) {
    for (int i = ft_tls_n - 1; i >= 0; i--) {
        if (ft_tls_stack[i] == t) {
            memmove(&ft_tls_stack[i], &ft_tls_stack[i + 1],
                    (size_t)(ft_tls_n - i - 1) * sizeof(ft_tape_t *));
            ft_tls_n--;
            return 0;
        }
    }
    return FT_ENOTFOUND;
}

int ft_tls_depth(void) { return ft_tls_n; }

ft_tape_t *ft_tls_at(int i) { return (i >= 0 && i < ft_tls_n) ? ft_tls_stack[i] : NULL; }
