/* fasttape's caching allocator for NumPy array data (installed through NumPy's
 * NEP 49 memory-handler API by fasttape/_core/core.pyx).
 *
 * glibc hands blocks of 128 KiB and more back to the kernel when they are
 * freed, so a loop that makes temporaries of the same large sizes page-faults
 * on every one of them. This allocator keeps freed blocks of 64 KiB and more
 * in free lists by size class (eight classes per power of two, so at most
 * 12.5% of a block is unused) up to a cap on the bytes it holds, and hands
 * them out again. Smaller blocks go straight to malloc; zeroed blocks
 * (calloc) over FT_CALLOC_REUSE_MAX go straight to calloc, which is lazy.
 * Thread-safe (a mutex); no Python.h. */
#ifndef FASTTAPE_ALLOC_H
#define FASTTAPE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

/* Blocks smaller than this bypass the cache. */
#define FT_ALLOC_MIN ((size_t)64 * 1024)
/* Zeroed requests larger than this never reuse a cached block: they go to the
 * system calloc, whose fresh pages are zeroed lazily by the kernel. */
#define FT_CALLOC_REUSE_MAX ((size_t)1024 * 1024)

/* malloc/calloc/realloc/free with NEP 49's signatures (ctx unused). A block
 * from ft_alloc_malloc(n) must be freed with ft_alloc_free(p, n), as NumPy
 * does; blocks are ordinary malloc blocks of the class size. NULL on failure. */
void *ft_alloc_malloc(void *ctx, size_t size);
void *ft_alloc_calloc(void *ctx, size_t nelem, size_t elsize);
void *ft_alloc_realloc(void *ctx, void *ptr, size_t new_size);
void ft_alloc_free(void *ctx, void *ptr, size_t size);

/* Sets the most bytes the cache may hold (0 disables caching and empties it). */
void ft_alloc_set_limit(size_t bytes);
/* Frees every cached block. */
void ft_alloc_trim(void);
/* Statistics: bytes cached now, blocks served from the cache, from malloc. */
void ft_alloc_stats(size_t *cached, uint64_t *hits, uint64_t *misses);

#endif
