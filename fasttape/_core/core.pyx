# cython: freethreading_compatible = False
"""fasttape's compiled core: Tensor, Variable, the op registry and dispatch fast
path, the Tape over the C log in csrc/, and the reverse sweep.

Everything above this module (fasttape/ops, backprop, the training stack) talks
to it through `register_op`, `OpDef.apply`, `set_operator` and the classes below.
The module is one extension (so there is one C tape stack per thread) written
as include files along its seams: _allocator, _tensor, _convert, _registry,
_mode (the thread's mode and symbolic tensors), _dispatch, _executor (the
compiled schedule of ft.function's traces), _record, _tape, _sweep and _math
(.pxi).
"""

cimport cython
cimport numpy as cnp
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy

from fasttape._core._ctape cimport *

import inspect
import linecache
import os
import threading
import warnings
import weakref

import numpy as np

from fasttape import errors as _errors

cnp.import_array()

cdef extern from "numpy/arrayobject.h":
    int NPY_USERDEF

cdef extern from *:
    """
    /* Per-thread depth of reverse sweeps in progress: ops that VJPs run are
       not user code, so they are not logged as dead ends. */
    static __thread int ft_sweeping_ = 0;
    static inline void ft_sweep_enter(void) { ft_sweeping_++; }
    static inline void ft_sweep_exit(void) { ft_sweeping_--; }
    static inline int ft_in_sweep(void) { return ft_sweeping_; }

    /* The thread's mode (Note [One bind point]): how many graphs are
       entered on this thread (`with g.as_default():`), and whether the
       process runs in graph mode (ft.disable_eager_execution). */
    static __thread int ft_graph_depth_ = 0;
    static int ft_graph_global_ = 0;
    /* Set on a thread that runs Python code eagerly while a graph runs
       (py_func's body, Note [Eager inside graphs]): the process-wide graph
       mode does not apply to it. Read only when the global mode is on. */
    static __thread int ft_eager_forced_ = 0;
    static inline int ft_staging(void) {
        return ft_graph_depth_ || (ft_graph_global_ && !ft_eager_forced_);
    }
    /* Enter/leave eager execution on this thread: the graph depth and the
       forced flag, packed into one saved value. */
    static inline long ft_eager_push(void) {
        long saved = ((long)ft_graph_depth_ << 1) | ft_eager_forced_;
        ft_graph_depth_ = 0;
        ft_eager_forced_ = 1;
        return saved;
    }
    static inline void ft_eager_pop(long saved) {
        ft_graph_depth_ = (int)(saved >> 1);
        ft_eager_forced_ = (int)(saved & 1);
    }
    static inline int ft_graph_depth(void) { return ft_graph_depth_; }
    static inline void ft_graph_enter(void) { ft_graph_depth_++; }
    static inline void ft_graph_exit(void) { ft_graph_depth_--; }
    static inline void ft_graph_set_global(int on) { ft_graph_global_ = on; }

    /* How many staging calls run on this thread (Note [Eager use]). */
    static __thread int ft_build_depth_ = 0;
    static inline int ft_build_depth(void) { return ft_build_depth_; }
    static inline void ft_build_enter(void) { ft_build_depth_++; }
    static inline void ft_build_exit(void) { ft_build_depth_--; }
    """
    void ft_sweep_enter() nogil
    void ft_sweep_exit() nogil
    int ft_in_sweep() nogil
    bint ft_staging() nogil
    int ft_graph_depth() nogil
    void ft_graph_enter() nogil
    void ft_graph_exit() nogil
    void ft_graph_set_global(int on) nogil
    long ft_eager_push() nogil
    void ft_eager_pop(long saved) nogil
    int ft_build_depth() nogil
    void ft_build_enter() nogil
    void ft_build_exit() nogil

cdef extern from "Python.h":
    ctypedef struct PyListObject:
        PyObject **ob_item
    object PyObject_Vectorcall(object callable, PyObject **args, size_t nargsf, PyObject *kwnames)
    Py_ssize_t Py_REFCNT(PyObject *o)

include "_allocator.pxi"
include "_tensor.pxi"
include "_convert.pxi"
include "_registry.pxi"
include "_mode.pxi"
include "_dispatch.pxi"
include "_executor.pxi"
include "_record.pxi"
include "_tape.pxi"
include "_sweep.pxi"
include "_ctape_testing.pxi"
include "_math.pxi"


if os.environ.get("FASTTAPE_ALLOCATOR", "1") != "0":
    ft_install_allocator()  # See Note [Caching allocator]
