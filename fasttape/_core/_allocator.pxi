# The caching allocator for NumPy array data (NEP 49). Part of core.pyx.

# Note [Caching allocator]
# ~~~~~~~~~~~~~~~~~~~~~~~~
# glibc returns blocks of 128 KiB and more to the kernel on free, so every
# large temporary of a training step page-faults afresh (PyTorch avoids this
# with its own caching allocator). At import, fasttape installs the caching
# allocator of csrc/fasttape_alloc.c as NumPy's data allocator through NEP 49
# (PyDataMem_SetHandler): freed blocks of 64 KiB and more are kept, by size
# class, up to 256 MiB, and reused. NumPy records each array's handler, so
# arrays made before the import are freed by their own.
#
# This is process-wide in effect: it serves every array the importing
# thread's context makes, the user's own NumPy code included. So it must
# never make that code slower or hungrier than NumPy's default:
# - Zeroed arrays (np.zeros, calloc) stay lazy. Fresh calloc pages are
#   zeroed by the kernel on first touch, so np.zeros(512 MiB) costs ~0.1 ms
#   and no resident memory until written. A cached block is reused for a
#   calloc only up to FT_CALLOC_REUSE_MAX (1 MiB), where clearing resident
#   memory is cheaper than faulting in fresh pages; larger zeroed requests go
#   to the system calloc. (Clearing every reused block once made
#   np.zeros(512 MiB) take 360 ms and 512 MB of RSS.)
# - What it costs: up to the limit (256 MiB) of freed array memory stays
#   mapped in the process instead of going back to the kernel. Blocks are
#   ordinary malloc blocks rounded up to their class (at most 12.5% larger).
# - Switches: FASTTAPE_ALLOCATOR=0 in the environment before the import keeps
#   NumPy's default; set_allocator(False) removes it (and True reinstalls it)
#   in the calling thread's context; set_allocator(limit_bytes=n) caps what it
#   keeps (0 keeps nothing); trim_allocator() frees what it holds now.
# The handler lives in a context variable: it applies to the importing
# thread's context (threads started later use NumPy's default unless they
# call set_allocator).

cdef extern from "fasttape_alloc.h":
    void ft_alloc_set_limit(size_t bytes)
    void ft_alloc_trim()
    void ft_alloc_stats(size_t *cached, uint64_t *hits, uint64_t *misses)

cdef extern from *:
    """
    static PyDataMem_Handler ft_data_handler = {
        "fasttape_caching_allocator", 1,
        {NULL, ft_alloc_malloc, ft_alloc_calloc, ft_alloc_realloc, ft_alloc_free}
    };
    /* Makes fasttape's allocator NumPy's in the current context; returns the
       previous handler (a new reference) or NULL with an exception set. */
    static PyObject *ft_install_allocator(void) {
        PyObject *cap = PyCapsule_New(&ft_data_handler, "mem_handler", NULL);
        if (cap == NULL) return NULL;
        PyObject *old = PyDataMem_SetHandler(cap);
        Py_DECREF(cap);
        return old;
    }
    """
    object ft_install_allocator()


def set_allocator(bint enabled=True, limit_bytes=None):
    """Installs (or, with enabled=False, removes) fasttape's caching allocator
    for NumPy array data in the calling thread's context; `limit_bytes` caps
    what it keeps (0 empties it). See Note [Caching allocator]."""
    if limit_bytes is not None:
        ft_alloc_set_limit(<size_t>limit_bytes)
    if enabled:
        ft_install_allocator()
    else:
        ft_default_allocator()


cdef extern from *:
    """
    static PyObject *ft_default_allocator(void) {
        return PyDataMem_SetHandler(NULL);
    }
    """
    object ft_default_allocator()


def allocator_stats():
    """(bytes cached, allocations served from the cache, allocations from malloc)."""
    cdef size_t cached
    cdef uint64_t hits, misses
    ft_alloc_stats(&cached, &hits, &misses)
    return cached, hits, misses


def trim_allocator():
    """Frees every block the caching allocator holds."""
    ft_alloc_trim()
