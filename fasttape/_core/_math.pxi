# Ufuncs in C for the special functions NumPy lacks (erf and gelu) and for relu and
# its gradient, whose NumPy forms do not vectorise. Part of core.pyx.

# Note [Vectorised erf]
# ~~~~~~~~~~~~~~~~~~~~~
# NumPy has no erf; math.erf through np.frompyfunc calls Python per element
# (25 ms on a (512, 512) float32, 54x np.tanh), and a C loop over libm's
# erff still does not vectorise (~24x np.tanh). So erf and gelu are real
# NumPy ufuncs (any shape, stride and broadcasting; float16, float32 and
# float64 loops; `out=`) whose float16/float32 loops gcc vectorises
# (csrc/fasttape_math.c, compiled at -O3 with AVX-512 and AVX2+FMA clones):
# - float32 and float16 evaluate, in double, erf(x) = x P(x^2/16) / Q(x^2/16)
#   (a (7, 7) rational fit of erf(x)/x on [0, 4], relative error < 1e-11;
#   |x| > 4 clamps to 4, where erf rounds to 1). Branch-free: NaN stays NaN,
#   +-inf gives +-1, signed zeros and subnormals come out right. Results are
#   within 1 ulp of erf rounded to the dtype (tests/ops/test_erf.py checks
#   every float16 and a dense sweep of float32 against math.erf).
# - float64 calls glibc's erf (under 1 ulp; scalar): a vectorisable float64
#   erf within a few ulp needs exp in the tails, which is what libm does.
# - gelu(x) = x/2 (1 + erf(x/sqrt 2)) is fused into one pass (computed in
#   double for float32/16; float64 uses x/2 erfc(-x/sqrt 2), which keeps its
#   relative accuracy for negative x). In float32 the absolute error is below
#   1e-9 |x|; for x < -3, where gelu(x) > -0.005, the relative error grows as
#   1 + erf cancels (as in PyTorch and TensorFlow, which compute it in float32).

cdef extern from "numpy/ufuncobject.h":
    pass

cdef extern from "fasttape_math.h":
    pass

cdef extern from *:
    """
    static PyUFuncGenericFunction ft_erf_funcs[3] = {
        (PyUFuncGenericFunction)ft_erf_loop_e, (PyUFuncGenericFunction)ft_erf_loop_f,
        (PyUFuncGenericFunction)ft_erf_loop_d};
    static PyUFuncGenericFunction ft_gelu_funcs[3] = {
        (PyUFuncGenericFunction)ft_gelu_loop_e, (PyUFuncGenericFunction)ft_gelu_loop_f,
        (PyUFuncGenericFunction)ft_gelu_loop_d};
    static PyUFuncGenericFunction ft_relu_funcs[3] = {
        (PyUFuncGenericFunction)ft_relu_loop_e, (PyUFuncGenericFunction)ft_relu_loop_f,
        (PyUFuncGenericFunction)ft_relu_loop_d};
    static PyUFuncGenericFunction ft_relu_grad_funcs[3] = {
        (PyUFuncGenericFunction)ft_relu_grad_loop_e, (PyUFuncGenericFunction)ft_relu_grad_loop_f,
        (PyUFuncGenericFunction)ft_relu_grad_loop_d};
    static void *ft_math_data[3] = {NULL, NULL, NULL};
    static char ft_math_types[6] = {NPY_HALF, NPY_HALF, NPY_FLOAT, NPY_FLOAT,
                                    NPY_DOUBLE, NPY_DOUBLE};
    static char ft_math_types2[9] = {NPY_HALF, NPY_HALF, NPY_HALF, NPY_FLOAT, NPY_FLOAT,
                                     NPY_FLOAT, NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE};
    /* which: 0 erf, 1 gelu, 2 relu, 3 relu_grad (binary) */
    static PyObject *ft_make_ufunc(int which, const char *doc) {
        static PyUFuncGenericFunction *funcs[4] = {ft_erf_funcs, ft_gelu_funcs, ft_relu_funcs,
                                                   ft_relu_grad_funcs};
        static const char *names[4] = {"erf", "gelu", "relu", "relu_grad"};
        return PyUFunc_FromFuncAndData(funcs[which], ft_math_data,
                                       which == 3 ? ft_math_types2 : ft_math_types, 3,
                                       which == 3 ? 2 : 1, 1, PyUFunc_None, names[which],
                                       doc, 0);
    }
    """
    object ft_make_ufunc(int which, const char *doc)

cnp.import_ufunc()

erf_ufunc = ft_make_ufunc(0,
    b"erf(x, /, out=None, ...)\n\nThe error function, elementwise (a NumPy ufunc: "
    b"float16, float32, float64). See Note [Vectorised erf].")
gelu_ufunc = ft_make_ufunc(1,
    b"gelu(x, /, out=None, ...)\n\nx/2 (1 + erf(x/sqrt(2))), elementwise in one pass "
    b"(a NumPy ufunc: float16, float32, float64). See Note [Vectorised erf].")
relu_ufunc = ft_make_ufunc(2,
    b"relu(x, /, out=None, ...)\n\nx where x > 0 or NaN, else 0: the bits of "
    b"np.maximum(x, 0) in a vectorised loop (a NumPy ufunc: float16, float32, float64).")
relu_grad_ufunc = ft_make_ufunc(3,
    b"relu_grad(g, out, /, out=None, ...)\n\ng * (out > 0), the mask a multiply by 1 or 0 "
    b"(TensorFlow's ReluGrad; a NumPy ufunc: float16, float32, float64).")


# Note [Fast sums]
# ~~~~~~~~~~~~~~~~
# NumPy's float32 sum of a (512, 512) array takes ~41 us here, 2.5x the
# np.vdot that sums the same squares through BLAS: its pairwise loop keeps 8
# accumulators and does not vectorise. A full reduction (reduce_sum and
# reduce_mean over every axis) of a C-contiguous float32 or float64 array is
# the usual loss, so it has its own loop (csrc/fasttape_math.c, ft_sum_*):
# 32 accumulators, each adding 8 elements of a column in order, which gcc
# vectorises without reassociating (no fast-math): ~10 us on the same array.
# Its error bound is never larger than NumPy's:
# - float32: the 32 float lanes of each 256-element chunk go into double
#   lanes, so each term passes through at most 8 float32 additions and the
#   rest is in double (NumPy: 16 plus log2(n / 128) float32 additions). The
#   result is the double sum rounded once (the mean divides in double first).
# - float64: chunk sums are combined pairwise, as NumPy does: at most
#   8 + 5 + log2(n / 256) additions per term.
# NaN and inf propagate as in any sum; a float32 sum whose partial sums
# overflow float32 but whose total does not may be finite here where NumPy
# returns inf. Other dtypes, other axes and non-contiguous arrays use NumPy.

cdef extern from "fasttape_math.h":
    double ft_sum_f32(const float *p, cnp.npy_intp n) nogil
    double ft_sum_f64(const double *p, cnp.npy_intp n) nogil
    void ft_adam_f32(float *var, float *m, float *v, float *vhat, const float *g,
                     cnp.npy_intp n, float alpha, float c1, float c2, float eps) nogil
    void ft_adam_f64(double *var, double *m, double *v, double *vhat, const double *g,
                     cnp.npy_intp n, double alpha, double c1, double c2, double eps) nogil


cpdef object sum_all(object x):
    """The sum of every element of x as a Python float, computed in double
    (Note [Fast sums]), when x is a C-contiguous, aligned float32 or float64
    ndarray; else None (the caller uses NumPy)."""
    cdef cnp.ndarray a
    cdef cnp.npy_intp n
    cdef double s
    cdef int t
    if type(x) is not cnp.ndarray:
        return None
    a = <cnp.ndarray>x
    t = cnp.PyArray_TYPE(a)
    if (t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE) or not cnp.PyArray_ISCARRAY_RO(a) \
            or not cnp.PyArray_ISNOTSWAPPED(a):
        return None
    n = cnp.PyArray_SIZE(a)
    with nogil:
        if t == cnp.NPY_FLOAT:
            s = ft_sum_f32(<const float *>cnp.PyArray_DATA(a), n)
        else:
            s = ft_sum_f64(<const double *>cnp.PyArray_DATA(a), n)
    return s


cdef inline bint _float_buffer(object a, int t, cnp.npy_intp n):
    return (type(a) is cnp.ndarray and cnp.PyArray_TYPE(<cnp.ndarray>a) == t
            and cnp.PyArray_SIZE(<cnp.ndarray>a) == n
            and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>a))


cdef void *_own_buffer(Variable v) except NULL:
    """The data of v's array, to update in place: the array is copied first
    (C order) when anything else refers to it (a tensor, a view, a tape's
    saved value, a plan's slot: See Note [Tape ownership]) or when it is not
    C-contiguous and writeable."""
    if not (v._sole_owner() and cnp.PyArray_ISCARRAY(<cnp.ndarray>v._value)):
        v._value = np.array(v._value, order="C", copy=True)
    return cnp.PyArray_DATA(<cnp.ndarray>v._value)


def adam_update(Variable var, Variable m, Variable v, object vhat, object g, double alpha,
                double c1, double c2, double epsilon):
    """Adam's update of `var` and its slots `m`, `v` (and `vhat`, a Variable,
    with amsgrad; else None) in place, in one pass (Note [Fused updates] in
    fasttape/optimizers/fused.py): c1 = 1 - beta_1, c2 = 1 - beta_2, `alpha`
    the step's rate, all rounded to the variables' type. `g` is an ndarray
    of the variables' dtype and size. Returns False, having changed nothing,
    unless all are float32 or all float64 of one size and the variables are
    distinct."""
    cdef int t = cnp.PyArray_TYPE(<cnp.ndarray>var._value)
    cdef cnp.npy_intp n = cnp.PyArray_SIZE(<cnp.ndarray>var._value)
    if t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE:
        return False
    for x in (var, m, v) if vhat is None else (var, m, v, vhat):
        if type(x) is not Variable or not _float_buffer((<Variable>x)._value, t, n):
            return False
    if not _float_buffer(g, t, n) or var is m or var is v or m is v or (vhat is not None and (
            vhat is var or vhat is m or vhat is v)):
        return False
    cdef cnp.ndarray ga = np.ascontiguousarray(g)
    cdef void *pv = _own_buffer(var)
    cdef void *pm = _own_buffer(m)
    cdef void *ps = _own_buffer(v)
    cdef void *ph = NULL if vhat is None else _own_buffer(<Variable>vhat)
    cdef void *pg = cnp.PyArray_DATA(ga)
    with nogil:
        if t == cnp.NPY_FLOAT:
            ft_adam_f32(<float *>pv, <float *>pm, <float *>ps, <float *>ph, <const float *>pg,
                        n, <float>alpha, <float>c1, <float>c2, <float>epsilon)
        else:
            ft_adam_f64(<double *>pv, <double *>pm, <double *>ps, <double *>ph,
                        <const double *>pg, n, alpha, c1, c2, epsilon)
    return True


# Note [Window loops]
# ~~~~~~~~~~~~~~~~~~~
# The nn ops' window patterns that NumPy has no single call for are C loops
# over NHWC buffers (csrc/fasttape_nn.c), with the channels innermost
# (contiguous: gcc vectorises them), for float32 and float64 over 1 or 2
# spatial axes (one axis is one row); other dtypes keep the NumPy code.
# - max_pool2d's gradient (MaxPoolGrad: each output gradient goes to the
#   first maximum of its window) took, in NumPy, a strided comparison, two
#   mask updates and a strided multiply per window tap: ~210 us for the
#   digits convnet's (64, 8, 8, 32) pooling, more than the pooling itself.
#   The loop walks each window once, branch-free, 3-4x faster. A NaN or inf
#   gradient goes to the maximum alone, as TensorFlow does (the NumPy masks
#   spread NaN over the window).
# - A convolution's patches (im2col) are copied per patch element, reading
#   the padding as zeros (no padded copy of the input); with few channels
#   in the transposed layout _im2col uses. Its input gradient scatters the
#   patch gradients back (col2im), which was one strided NumPy add per
#   kernel tap, as long as the GEMM on small maps: one contiguous add per
#   patch element instead (the same sums in another order).
# Every loop's geometry is checked in Python integers first (_window2d): a
# value beyond C's integers (a hostile stride of 2**64) takes NumPy's path.

cdef extern from "fasttape_nn.h":
    ctypedef struct ft_window2d_t:
        cnp.npy_intp n, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl
    void ft_max_pool_grad_f32(const ft_window2d_t *p, const float *x, const float *out,
                              const float *g, float *dx, void *scratch) nogil
    void ft_max_pool_grad_f64(const ft_window2d_t *p, const double *x, const double *out,
                              const double *g, double *dx, void *scratch) nogil
    void ft_col2im_f32(const ft_window2d_t *p, const float *cols, float *dx) nogil
    void ft_col2im_f64(const ft_window2d_t *p, const double *cols, double *dx) nogil
    void ft_im_put_f32(const ft_window2d_t *p, const float *cols, float *dx) nogil
    void ft_im_put_f64(const ft_window2d_t *p, const double *cols, double *dx) nogil
    void ft_im2col_f32(const ft_window2d_t *p, const float *x, float *cols) nogil
    void ft_im2col_f64(const ft_window2d_t *p, const double *x, double *cols) nogil
    void ft_im2col_t_f32(const ft_window2d_t *p, const float *x, float *cols) nogil
    void ft_im2col_t_f64(const ft_window2d_t *p, const double *x, double *cols) nogil


cdef int _window2d(ft_window2d_t *p, tuple shape, tuple out_sp, tuple ksize, tuple strides,
                   tuple dilations, tuple pads) except -1:
    """Fills p for an NHWC (or NWC) input of `shape`; 0 for 3 spatial axes or
    a value beyond C's integers (the caller takes NumPy's path), 1 when filled.
    ValueError when a window leaves the padded input (Note [Window loops])."""
    if len(ksize) > 2:
        return 0
    if len(ksize) == 1:  # one row
        shape, out_sp, ksize = (shape[0], 1) + shape[1:], (1,) + out_sp, (1,) + ksize
        strides, dilations, pads = (1,) + strides, (1,) + dilations, ((0, 0),) + pads
    if len(shape) != 4 or len(out_sp) != 2 or not all(
            (o - 1) * st + (k - 1) * d < n + b + a and o >= 0 and k >= 1 and st >= 1
            and d >= 1 and b >= 0 and a >= 0
            for o, k, st, d, n, (b, a) in zip(out_sp, ksize, strides, dilations, shape[1:3],
                                              pads)):
        raise ValueError(f"window loops: {out_sp} windows of {ksize} do not fit {shape} "
                         f"padded by {pads}")
    try:
        p.n, p.h, p.w, p.c = shape
        p.oh, p.ow = out_sp
        p.kh, p.kw = ksize
        p.sh, p.sw = strides
        p.dh, p.dw = dilations
        p.pt, p.pl = pads[0][0], pads[1][0]
    except OverflowError:
        return 0
    return 1


cdef int _float_type(tuple arrays) noexcept:
    """NPY_FLOAT or NPY_DOUBLE when every array is an ndarray of that one
    dtype, else -1 (the loops do not take it)."""
    cdef int t = -1
    for a in arrays:
        if not isinstance(a, cnp.ndarray):
            return -1
        if t == -1:
            t = cnp.PyArray_TYPE(<cnp.ndarray>a)
        elif cnp.PyArray_TYPE(<cnp.ndarray>a) != t:
            return -1
    return t if t == cnp.NPY_FLOAT or t == cnp.NPY_DOUBLE else -1


def max_pool_grad(object x, object out, object g, tuple ksize, tuple strides, tuple pads):
    """dL/dx of a max pooling (1 or 2 spatial axes) over channels-last x, its
    output `out` and the output's gradient g; None for what the loop does not
    take (Note [Window loops])."""
    cdef ft_window2d_t p
    cdef cnp.ndarray xa, oa, ga, dx
    cdef void *scratch
    cdef int t = _float_type((x, out, g))
    if t < 0 or g.shape != out.shape or x.ndim != len(ksize) + 2 or not _window2d(
            &p, x.shape, out.shape[1:len(ksize) + 1], ksize, strides, (1,) * len(ksize), pads):
        return None
    xa, oa, ga = np.ascontiguousarray(x), np.ascontiguousarray(out), np.ascontiguousarray(g)
    dx = np.zeros(x.shape, x.dtype)
    scratch = malloc((p.c + 1) * 8)
    if scratch == NULL:
        raise MemoryError()
    try:
        with nogil:
            if t == cnp.NPY_FLOAT:
                ft_max_pool_grad_f32(&p, <const float*>cnp.PyArray_DATA(xa),
                                     <const float*>cnp.PyArray_DATA(oa),
                                     <const float*>cnp.PyArray_DATA(ga),
                                     <float*>cnp.PyArray_DATA(dx), scratch)
            else:
                ft_max_pool_grad_f64(&p, <const double*>cnp.PyArray_DATA(xa),
                                     <const double*>cnp.PyArray_DATA(oa),
                                     <const double*>cnp.PyArray_DATA(ga),
                                     <double*>cnp.PyArray_DATA(dx), scratch)
    finally:
        free(scratch)
    return dx


def im2col(object x, tuple ksize, tuple out_sp, tuple strides, tuple dilations, tuple pads,
           bint transposed):
    """The patches of channels-last x zero-padded by `pads`, as _im2col lays
    them out: (N * prod(out_sp), K * C), or with `transposed` (K * C,
    N * prod(out_sp)); None for what the loop does not take (Note [Window loops])."""
    cdef ft_window2d_t p
    cdef cnp.ndarray xa, cols
    cdef int t = _float_type((x,))
    if t < 0 or x.ndim != len(ksize) + 2 or not _window2d(
            &p, x.shape, out_sp, ksize, strides, dilations, pads):
        return None
    xa = np.ascontiguousarray(x)
    m, kc = p.n * p.oh * p.ow, p.kh * p.kw * p.c
    cols = np.empty((kc, m) if transposed else (m, kc), x.dtype)
    with nogil:
        if t == cnp.NPY_FLOAT and transposed:
            ft_im2col_t_f32(&p, <const float*>cnp.PyArray_DATA(xa), <float*>cnp.PyArray_DATA(cols))
        elif t == cnp.NPY_FLOAT:
            ft_im2col_f32(&p, <const float*>cnp.PyArray_DATA(xa), <float*>cnp.PyArray_DATA(cols))
        elif transposed:
            ft_im2col_t_f64(&p, <const double*>cnp.PyArray_DATA(xa),
                            <double*>cnp.PyArray_DATA(cols))
        else:
            ft_im2col_f64(&p, <const double*>cnp.PyArray_DATA(xa),
                          <double*>cnp.PyArray_DATA(cols))
    return cols


def col2im(object cols, object dx, tuple ksize, tuple strides, tuple dilations):
    """Adds cols (N, *out_sp, K, C), the gradients of a convolution's patches,
    into dx (the padded input, C-contiguous) in place; False, doing nothing,
    for what the loop does not take (Note [Window loops]). (No negative
    indexes here: the module compiles with wraparound off.)"""
    cdef ft_window2d_t p
    cdef int t = _float_type((cols, dx))
    r, taps = len(ksize), ksize[0] * (ksize[1] if len(ksize) == 2 else 1)
    if t < 0 or dx.ndim != r + 2 or cols.ndim != r + 3 or not cnp.PyArray_ISCARRAY(dx) \
            or cols.shape[0] != dx.shape[0] or cols.shape[r + 2] != dx.shape[r + 1] \
            or cols.shape[r + 1] != taps or not _window2d(
                &p, dx.shape, cols.shape[1:r + 1], ksize, strides, dilations, ((0, 0),) * r):
        return False
    cols = np.ascontiguousarray(cols)
    with nogil:
        if t == cnp.NPY_FLOAT:
            ft_col2im_f32(&p, <const float*>cnp.PyArray_DATA(<cnp.ndarray>cols),
                          <float*>cnp.PyArray_DATA(<cnp.ndarray>dx))
        else:
            ft_col2im_f64(&p, <const double*>cnp.PyArray_DATA(<cnp.ndarray>cols),
                          <double*>cnp.PyArray_DATA(<cnp.ndarray>dx))
    return True


cdef int _box_geometry(ft_window2d_t *q, const ft_window2d_t *p, tuple box) except -1:
    """q: p restricted to one box (i0, i1, j0, j1, u0, u1, v0, v1) of output
    positions and kernel taps, with q's pads moved so that the box's first
    tap reads x's row q.pt and column q.pl below zero (Note [Grouped
    convolutions]). ValueError unless every tap of the box reads x."""
    i0, i1, j0, j1, u0, u1, v0, v1 = box
    if not (0 <= i0 < i1 <= p.oh and 0 <= j0 < j1 <= p.ow and 0 <= u0 < u1 <= p.kh
            and 0 <= v0 < v1 <= p.kw
            and i0 * p.sh + u0 * p.dh >= p.pt and (i1 - 1) * p.sh + (u1 - 1) * p.dh < p.h + p.pt
            and j0 * p.sw + v0 * p.dw >= p.pl and (j1 - 1) * p.sw + (v1 - 1) * p.dw < p.w + p.pl):
        raise ValueError(f"box loops: the box {box} is not inside the windows of {p.oh}x{p.ow} "
                         f"positions of {p.kh}x{p.kw} taps over {p.h}x{p.w} padded by "
                         f"({p.pt}, {p.pl})")
    q[0] = p[0]
    q.oh, q.ow, q.kh, q.kw = i1 - i0, j1 - j0, u1 - u0, v1 - v0
    q.pt = p.pt - i0 * p.sh - u0 * p.dh
    q.pl = p.pl - j0 * p.sw - v0 * p.dw
    return 0


cdef int _boxes_loop(int mode, object x, tuple ksize, tuple out_sp, tuple strides,
                     tuple dilations, tuple pads, list boxes, object cols) except -1:
    """im2col_boxes (mode 0) and col2im_boxes (1: add, 2: copy): 1 when done, 0
    when the loops do not take these arrays."""
    cdef ft_window2d_t p, q
    cdef int t = _float_type((x, cols))
    cdef cnp.npy_intp size = 0, off = 0
    cdef char *xd
    cdef char *cd
    cdef float *fd
    cdef double *dd
    cdef size_t item
    if t < 0 or x.ndim != 4 or len(ksize) != 2 or not _window2d(
            &p, x.shape, out_sp, ksize, strides, dilations, pads):
        return 0
    # the array written must be writeable; the one read may be read-only
    if not (cnp.PyArray_ISCARRAY(cols) and cnp.PyArray_ISCARRAY_RO(x) if mode == 0
            else cnp.PyArray_ISCARRAY(x) and cnp.PyArray_ISCARRAY_RO(cols)):
        return 0
    for box in boxes:  # checked before any loop runs
        _box_geometry(&q, &p, box)
        size += q.n * q.oh * q.ow * q.kh * q.kw * q.c
    if size != cnp.PyArray_SIZE(<cnp.ndarray>cols):
        raise ValueError(f"box loops: the boxes hold {size} elements, cols {cols.size}")
    item = 4 if t == cnp.NPY_FLOAT else 8
    xd = <char *>cnp.PyArray_DATA(<cnp.ndarray>x)
    cd = <char *>cnp.PyArray_DATA(<cnp.ndarray>cols)
    for box in boxes:
        _box_geometry(&q, &p, box)
        with nogil:
            if mode == 0 and t == cnp.NPY_FLOAT:
                ft_im2col_f32(&q, <const float *>xd, <float *>(cd + off * item))
            elif mode == 0:
                ft_im2col_f64(&q, <const double *>xd, <double *>(cd + off * item))
            # col2im writes into a padded input: start it at the box's first row
            # and column, which are inside x (q.pt, q.pl <= 0)
            elif t == cnp.NPY_FLOAT:
                fd = <float *>xd - (q.pt * q.w + q.pl) * q.c
                if mode == 1:
                    ft_col2im_f32(&q, <const float *>(cd + off * item), fd)
                else:
                    ft_im_put_f32(&q, <const float *>(cd + off * item), fd)
            else:
                dd = <double *>xd - (q.pt * q.w + q.pl) * q.c
                if mode == 1:
                    ft_col2im_f64(&q, <const double *>(cd + off * item), dd)
                else:
                    ft_im_put_f64(&q, <const double *>(cd + off * item), dd)
        off += q.n * q.oh * q.ow * q.kh * q.kw * q.c
    return 1


def im2col_boxes(object x, tuple ksize, tuple out_sp, tuple strides, tuple dilations,
                 tuple pads, list boxes, object cols):
    """Writes the patches of NHWC x for each box (i0, i1, j0, j1, u0, u1, v0,
    v1): output positions [i0, i1) x [j0, j1), kernel taps [u0, u1) x [v0, v1),
    all reading x (not its padding), into the C-contiguous `cols` one box
    after another, each (N, i1 - i0, j1 - j0, taps, C) (Note [Grouped
    convolutions]). False, doing nothing, for arrays the loops do not take;
    ValueError for a box outside the windows or a `cols` of another size."""
    return bool(_boxes_loop(0, x, ksize, out_sp, strides, dilations, pads, boxes, cols))


def col2im_boxes(object cols, object dx, tuple ksize, tuple out_sp, tuple strides,
                 tuple dilations, tuple pads, list boxes, bint copy=False):
    """Adds `cols`, patch gradients laid out as im2col_boxes writes them, into
    the C-contiguous NHWC dx (the unpadded input) in place, or with `copy`
    writes them (where windows overlap, the last box's value stays); False,
    doing nothing, for arrays the loops do not take (Note [Grouped
    convolutions])."""
    return bool(_boxes_loop(2 if copy else 1, dx, ksize, out_sp, strides, dilations, pads,
                            boxes, cols))
