/* fasttape's caching allocator: see fasttape_alloc.h. */
#include "fasttape_alloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FT_SUBCLASSES 8   /* classes per power of two */
#define FT_CLASSES (64 * FT_SUBCLASSES)

typedef struct ft_block {
    struct ft_block *next;
} ft_block_t;

static pthread_mutex_t ft_lock = PTHREAD_MUTEX_INITIALIZER;
static ft_block_t *ft_free_lists[FT_CLASSES];
static size_t ft_cached = 0;
static size_t ft_limit = (size_t)256 * 1024 * 1024;
static uint64_t ft_hits = 0, ft_misses = 0;

/* The size class of a request of `size` >= FT_ALLOC_MIN bytes: its index and
 * its rounded-up size (a multiple of 1/8 of the request's power of two). */
static int ft_class(size_t size, size_t *rounded) {
    int top = 63 - __builtin_clzll((unsigned long long)size);
    size_t step = ((size_t)1 << top) / FT_SUBCLASSES;
    size_t n = (size + step - 1) / step; /* FT_SUBCLASSES .. 2 * FT_SUBCLASSES */
    *rounded = n * step;
    return top * FT_SUBCLASSES + (int)(n - FT_SUBCLASSES);
}

/* A cached block of class cls (and size `rounded`), or NULL. */
static void *ft_take(int cls, size_t rounded) {
    void *p = NULL;
    pthread_mutex_lock(&ft_lock);
    ft_block_t *b = ft_free_lists[cls];
    if (b) {
        ft_free_lists[cls] = b->next;
        ft_cached -= rounded;
        p = b;
        ft_hits++;
    } else {
        ft_misses++;
    }
    pthread_mutex_unlock(&ft_lock);
    return p;
}

void *ft_alloc_malloc(void *ctx, size_t size) {
    (void)ctx;
    if (size < FT_ALLOC_MIN) return malloc(size ? size : 1);
    size_t rounded;
    int cls = ft_class(size, &rounded);
    void *p = ft_take(cls, rounded);
    return p ? p : malloc(rounded);
}

/* Zeroed blocks (np.zeros) must cost what they cost without fasttape: the
 * system calloc of a large block maps fresh zero pages that the kernel fills
 * lazily, on first touch, so an untouched np.zeros costs neither time nor
 * memory. A cached block is reused only up to FT_CALLOC_REUSE_MAX bytes, where
 * clearing it (already resident) is cheaper than faulting in fresh pages;
 * larger requests always go to calloc, which is lazy. See Note [Caching
 * allocator] in fasttape/_core/_allocator.pxi. */
void *ft_alloc_calloc(void *ctx, size_t nelem, size_t elsize) {
    (void)ctx;
    if (elsize && nelem > SIZE_MAX / elsize) return NULL;
    size_t size = nelem * elsize;
    if (size < FT_ALLOC_MIN) return calloc(nelem ? nelem : 1, elsize ? elsize : 1);
    size_t rounded;
    int cls = ft_class(size, &rounded);
    if (size <= FT_CALLOC_REUSE_MAX) {
        void *p = ft_take(cls, rounded);
        if (p) {
            memset(p, 0, size);
            return p;
        }
    }
    /* The class size, so that ft_alloc_free may cache the block. */
    return calloc(1, rounded);
}

void *ft_alloc_realloc(void *ctx, void *ptr, size_t new_size) {
    (void)ctx;
    /* The block will be freed with new_size, so give it new_size's class size. */
    size_t rounded = new_size ? new_size : 1;
    if (new_size >= FT_ALLOC_MIN) ft_class(new_size, &rounded);
    return realloc(ptr, rounded);
}

void ft_alloc_free(void *ctx, void *ptr, size_t size) {
    (void)ctx;
    if (!ptr) return;
    if (size < FT_ALLOC_MIN) {
        free(ptr);
        return;
    }
    size_t rounded;
    int cls = ft_class(size, &rounded);
    pthread_mutex_lock(&ft_lock);
    if (ft_cached + rounded <= ft_limit) {
        ft_block_t *b = ptr;
        b->next = ft_free_lists[cls];
        ft_free_lists[cls] = b;
        ft_cached += rounded;
        ptr = NULL;
    }
    pthread_mutex_unlock(&ft_lock);
    free(ptr); /* not cached: over the limit */
}

void ft_alloc_trim(void) {
    pthread_mutex_lock(&ft_lock);
    for (int c = 0; c < FT_CLASSES; c++) {
        ft_block_t *b = ft_free_lists[c];
        while (b) {
            ft_block_t *next = b->next;
            free(b);
            b = next;
        }
        ft_free_lists[c] = NULL;
    }
    ft_cached = 0;
    pthread_mutex_unlock(&ft_lock);
}

void ft_alloc_set_limit(size_t bytes) {
    pthread_mutex_lock(&ft_lock);
    ft_limit = bytes;
    pthread_mutex_unlock(&ft_lock);
    if (bytes == 0) ft_alloc_trim();
}

void ft_alloc_stats(size_t *cached, uint64_t *hits, uint64_t *misses) {
    pthread_mutex_lock(&ft_lock);
    *cached = ft_cached;
    *hits = ft_hits;
    *misses = ft_misses;
    pthread_mutex_unlock(&ft_lock);
}
