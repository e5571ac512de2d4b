# Recording ops on the thread's active tapes, and the dead-end log. Part of core.pyx.

# ------------------------------------------------------------- recording

cdef int _record(OpDef op, PyObject **ins, int n_in, PyObject **outs, int n_out,
                 object attrs) except -1:
    """Appends the op to every active tape of this thread that follows one of
    its inputs. Allocates nothing for tapes that do not."""
    cdef int depth = ft_tls_depth(), k, i
    cdef ft_tape_t *ct
    cdef bint hit
    cdef Tensor t
    cdef object x
    for k in range(depth):
        ct = ft_tls_at(k)
        if not op.differentiable or not ct.recording:
            # See Note [Dead ends]
            if not ft_in_sweep() and _tracks_any(ct, ins, n_in):
                (<Tape>ct.owner)._dead_end(
                    _DE_STOP_RECORDING if op.differentiable else _DE_NONDIFF,
                    op.name, ins, n_in)
            continue
        hit = False
        for i in range(n_in):
            x = <object>ins[i]
            if isinstance(x, Tensor):
                t = <Tensor>x
                if (t._flags & _F_TRAINABLE) and not ft_tape_tracks(ct, t._id):
                    (<Tape>ct.owner)._auto_watch(t)
                if not hit and ft_tape_tracks(ct, t._id):
                    hit = True
        if hit:
            (<Tape>ct.owner)._append(op, ins, n_in, outs, n_out, attrs)
    return 0


# Note [Dead ends]
# ~~~~~~~~~~~~~~~~
# "Why is my gradient None?" needs to know where a followed tensor stopped
# being followed: a non-differentiable op (comparison, argmax, stop_gradient),
# an op run inside stop_recording(), or the value leaving through .numpy().
# Such ops are never recorded, so each tape that follows one of their inputs
# logs a small event instead in its DeadEndLog (Tape._events): the kind, the
# op's name, the ids of the inputs it follows (at most _DE_IDS) and the user's
# call site as (code object, bytecode offset). Events hold no tensor. Ops that
# VJPs run during a sweep are not logged. fasttape.debugging.explain_gradient
# reads the log.
#
# Logging is on the recording path (a comparison on a watched tensor), so it
# must cost about what the op costs unwatched: an event is a C struct in a
# ring buffer, and the call site is the first frame outside fasttape found
# from PyEval_GetFrame (usually the innermost Python frame: Cython frames are
# not Python frames), classified by a one-entry cache of the last code object
# seen. The line number and its text are resolved only when an explanation
# asks (DeadEndLog.__iter__). Memory is bounded: the log keeps the most
# recent _DE_CAP events (an explanation needs the latest dead ends of the
# tensors it follows), and an event equal to the previous one (a loop doing
# the same thing to the same tensors) is not stored twice.

cdef enum:
    _DE_NONDIFF = 0
    _DE_STOP_RECORDING = 1
    _DE_EXIT = 2
    _DE_CAP = 4096      # events a tape keeps: the most recent
    _DE_IDS = 4         # followed input ids an event keeps

cdef tuple _DE_KINDS = ("nondiff", "stop_recording", "exit")

ctypedef struct _de_event:
    int kind
    int n_ids
    int where           # bytecode offset (3.11+) or line number (3.10)
    int64_t ids[_DE_IDS]
    PyObject *what      # str, owned
    PyObject *code      # code object or NULL, owned

cdef extern from *:
    """
    #include <frameobject.h>
    static PyObject *ft_pkg_dir = NULL;     /* fasttape's package directory */
    static PyObject *ft_last_code = NULL;   /* one-entry cache, owned */
    static int ft_last_user = 0;

    static int ft_code_is_user(PyCodeObject *co) {
        if ((PyObject *)co == ft_last_code) return ft_last_user;
        PyObject *fn = co->co_filename;
        int user = 1;
        if (PyUnicode_Check(fn) && ft_pkg_dir != NULL) {
            if (PyUnicode_Tailmatch(fn, ft_pkg_dir, 0, PY_SSIZE_T_MAX, -1) == 1) user = 0;
            else if (PyUnicode_GET_LENGTH(fn) >= 7 &&
                     PyUnicode_READ_CHAR(fn, 0) == '<' && PyUnicode_READ_CHAR(fn, 1) == 'f' &&
                     PyUnicode_READ_CHAR(fn, 2) == 'r' && PyUnicode_READ_CHAR(fn, 3) == 'o' &&
                     PyUnicode_READ_CHAR(fn, 4) == 'z' && PyUnicode_READ_CHAR(fn, 5) == 'e' &&
                     PyUnicode_READ_CHAR(fn, 6) == 'n') user = 0;   /* "<frozen ...>" */
        }
        Py_INCREF(co);
        Py_XSETREF(ft_last_code, (PyObject *)co);
        ft_last_user = user;
        return user;
    }

    /* The code object (a new reference) of the innermost Python frame outside
       fasttape, and its bytecode offset (line number before 3.11), or NULL. */
    static PyObject *ft_user_site(int *where) {
        PyFrameObject *f = PyEval_GetFrame();
        Py_XINCREF(f);
        while (f != NULL) {
            PyCodeObject *co = PyFrame_GetCode(f);
            if (ft_code_is_user(co)) {
    #if PY_VERSION_HEX >= 0x030B0000
                *where = PyFrame_GetLasti(f);
    #else
                *where = PyFrame_GetLineNumber(f);
    #endif
                Py_DECREF(f);
                return (PyObject *)co;
            }
            Py_DECREF(co);
            PyFrameObject *back = PyFrame_GetBack(f);
            Py_DECREF(f);
            f = back;
        }
        return NULL;
    }

    static int ft_site_line(PyObject *code, int where) {
    #if PY_VERSION_HEX >= 0x030B0000
        return where < 0 ? -1 : PyCode_Addr2Line((PyCodeObject *)code, where);
    #else
        (void)code;
        return where;
    #endif
    }

    static void ft_set_pkg_dir(PyObject *dir) {
        Py_XINCREF(dir);
        Py_XSETREF(ft_pkg_dir, dir);
    }
    """
    PyObject *ft_user_site(int *where)
    int ft_site_line(PyObject *code, int where)
    void ft_set_pkg_dir(object dir)
    void Py_XDECREF(PyObject *o)
    void Py_XINCREF(PyObject *o)


cdef class DeadEndLog:
    """A tape's dead-end events (Note [Dead ends]): a bounded ring of C structs.

    Iterating gives (kind, op name, followed input ids, (filename, line, text)
    or None) per event, oldest first; the line is resolved then."""
    cdef _de_event *ev
    cdef Py_ssize_t cap, n, head   # capacity, count, index of the oldest
    cdef readonly uint64_t dropped  # events overwritten by newer ones

    def __dealloc__(self):
        self.clear()
        free(self.ev)

    def __len__(self):
        return self.n

    cpdef clear(self):
        cdef Py_ssize_t i
        cdef _de_event *e
        for i in range(self.n):
            e = &self.ev[(self.head + i) % self.cap]
            Py_XDECREF(e.what)
            Py_XDECREF(e.code)
        self.n = 0
        self.head = 0

    cdef int add(self, ft_tape_t *ct, bint watch_vars, int kind, str what,
                 PyObject **ins, int n_in) except -1:
        cdef _de_event tmp
        cdef _de_event *e
        cdef _de_event *last
        cdef int i, k = 0
        cdef object x
        cdef Py_ssize_t new_cap
        for i in range(n_in):
            x = <object>ins[i]
            if k < _DE_IDS and isinstance(x, Tensor) and (
                    ft_tape_tracks(ct, (<Tensor>x)._id)
                    or (watch_vars and ((<Tensor>x)._flags & _F_TRAINABLE))):
                tmp.ids[k] = (<Tensor>x)._id
                k += 1
        tmp.n_ids = k
        tmp.kind = kind
        tmp.where = -1
        tmp.code = ft_user_site(&tmp.where)
        if self.n:
            last = &self.ev[(self.head + self.n - 1) % self.cap]
            if (last.kind == kind and last.code == tmp.code and last.where == tmp.where
                    and last.n_ids == k and <PyObject*>what == last.what
                    and memcmp(last.ids, tmp.ids, k * sizeof(int64_t)) == 0):
                Py_XDECREF(tmp.code)  # the same event again: keep one
                return 0
        if self.n == self.cap:
            if self.cap < _DE_CAP:
                new_cap = 16 if self.cap == 0 else min(2 * self.cap, <Py_ssize_t>_DE_CAP)
                e = <_de_event*>realloc(self.ev, new_cap * sizeof(_de_event))
                if e == NULL:
                    Py_XDECREF(tmp.code)
                    raise MemoryError()
                self.ev = e
                self.cap = new_cap  # head is 0 until the ring is full
            else:  # full: the oldest event makes room
                e = &self.ev[self.head]
                Py_XDECREF(e.what)
                Py_XDECREF(e.code)
                self.head = (self.head + 1) % self.cap
                self.n -= 1
                self.dropped += 1
        e = &self.ev[(self.head + self.n) % self.cap]
        e[0] = tmp
        e.what = <PyObject*>what
        Py_XINCREF(e.what)
        self.n += 1
        return 0

    def __iter__(self):
        cdef Py_ssize_t i
        cdef _de_event *e
        out = []
        for i in range(self.n):
            e = &self.ev[(self.head + i) % self.cap]
            loc = None
            if e.code != NULL:
                code = <object>e.code
                line = ft_site_line(e.code, e.where)
                text = linecache.getline(code.co_filename, line).strip() if line > 0 else ""
                loc = (code.co_filename, line, text)
            out.append((_DE_KINDS[e.kind], <object>e.what,
                        tuple([e.ids[j] for j in range(e.n_ids)]), loc))
        return iter(out)


ft_set_pkg_dir(_errors._PACKAGE_DIR)


cdef bint _tracks_any(ft_tape_t *ct, PyObject **ins, int n_in) except -1:
    """Does the tape follow an input (or would it, on use, a trainable variable)?"""
    cdef int i
    cdef object x
    for i in range(n_in):
        x = <object>ins[i]
        if isinstance(x, Tensor) and (ft_tape_tracks(ct, (<Tensor>x)._id) or (
                ((<Tensor>x)._flags & _F_TRAINABLE)
                and (<Tape>ct.owner).watch_accessed_variables)):
            return True
    return False


cdef int _note_exit(Tensor t, str how) except -1:
    """Logs t's value leaving fasttape (.numpy(), float(), ...) on the tapes that follow it."""
    cdef int k
    cdef ft_tape_t *ct
    cdef PyObject *ins[1]
    if ft_in_sweep():
        return 0
    ins[0] = <PyObject*>t
    for k in range(ft_tls_depth()):
        ct = ft_tls_at(k)
        if ft_tape_tracks(ct, t._id):
            (<Tape>ct.owner)._dead_end(_DE_EXIT, how, ins, 1)
    return 0


cdef void _auto_watch_all(Variable v) except *:
    cdef int k
    cdef ft_tape_t *ct
    for k in range(ft_tls_depth()):
        ct = ft_tls_at(k)
        if ct.recording and not ft_tape_tracks(ct, v._id):
            (<Tape>ct.owner)._auto_watch(v)


cdef inline int _ndim_of(object x) noexcept:
    if isinstance(x, Tensor):
        return cnp.PyArray_NDIM(<cnp.ndarray>(<Tensor>x)._value)
    if cnp.PyArray_Check(x):
        return cnp.PyArray_NDIM(<cnp.ndarray>x)
    return 0


cdef inline int64_t _write_shape(int64_t *rec, object arr) noexcept:
    """Writes arr's shape record {dtype number, ndim, dims...}; returns its length."""
    cdef int nd = cnp.PyArray_NDIM(<cnp.ndarray>arr), d
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(<cnp.ndarray>arr)
    rec[0] = cnp.PyArray_TYPE(<cnp.ndarray>arr)
    rec[1] = nd
    for d in range(nd):
        rec[2 + d] = dims[d]
    return 2 + nd


cdef inline object _saveable(object x):
    """What a tape keeps of an input: tensors themselves (their ids link outer
    tapes), a snapshot of a variable, a copy of a writable ndarray."""
    if isinstance(x, Tensor):
        if (<Tensor>x)._flags & _F_VARIABLE:
            return _variable_snapshot(<Variable>x, False)
        return x
    if cnp.PyArray_Check(x) and x.flags.writeable:
        return x.copy()
    return x
