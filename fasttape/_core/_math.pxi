# Ufuncs in C for the special functions NumPy lacks: erf and gelu. Part of core.pyx.

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
    static void *ft_math_data[3] = {NULL, NULL, NULL};
    static char ft_math_types[6] = {NPY_HALF, NPY_HALF, NPY_FLOAT, NPY_FLOAT,
                                    NPY_DOUBLE, NPY_DOUBLE};
    static PyObject *ft_make_ufunc(int which, const char *doc) {
        return PyUFunc_FromFuncAndData(which ? ft_gelu_funcs : ft_erf_funcs, ft_math_data,
                                       ft_math_types, 3, 1, 1, PyUFunc_None,
                                       which ? "gelu" : "erf", doc, 0);
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


# Note [Pooling loops]
# ~~~~~~~~~~~~~~~~~~~~
# (and the col2im of convolutions)
# max_pool2d's gradient (MaxPoolGrad: each output gradient goes to the first
# maximum of its window) took, in NumPy, one strided comparison, two mask
# updates and one strided multiply per window tap: ~210 us for the digits
# convnet's (64, 8, 8, 32) pooling, more than the pooling itself. One C loop
# over the NHWC buffers (csrc/fasttape_nn.c) walks each window once, with
# the channels innermost (contiguous: gcc vectorises the compare-and-add),
# ~10x faster. It gives the same result as the NumPy path it replaces,
# except that a NaN or inf gradient no longer spreads NaN to the window's
# other elements (the NumPy path multiplied g by the 0/1 masks): it is added
# at the maximum alone, as TensorFlow does. float32 and float64 over 1 or 2
# spatial axes; other dtypes keep the NumPy path.
#
# A convolution's input gradient scatters the patch gradients back (col2im):
# one strided NumPy add per kernel tap was ~250 us of the digits convnet's
# (64, 4, 4, 32) conv, as much as its GEMM; ft_col2im_* adds each patch
# element's channels in one contiguous loop (~10x faster, the same sums in
# another order: equal to rounding).

cdef extern from "fasttape_nn.h":
    ctypedef struct ft_pool2d_t:
        cnp.npy_intp n, h, w, c, oh, ow, kh, kw, sh, sw, pt, pl
    void ft_max_pool_grad_f32(const ft_pool2d_t *p, const float *x, const float *out,
                              const float *g, float *dx, void *scratch) nogil
    void ft_max_pool_grad_f64(const ft_pool2d_t *p, const double *x, const double *out,
                              const double *g, double *dx, void *scratch) nogil


def _windows_fit(shape, out_sp, ksize, strides, dilations, pads):
    """Every window of the loops lies inside the padded input (in Python's
    integers: no C arithmetic can overflow on the way)."""
    return all((o - 1) * s + (k - 1) * d < n + b + a and o >= 0 and k >= 1 and s >= 1
               and d >= 1 and b >= 0 and a >= 0
               for o, k, s, d, n, (b, a) in zip(out_sp, ksize, strides, dilations, shape[1:3],
                                                 pads))


cdef extern from "fasttape_nn.h":
    ctypedef struct ft_conv2d_t:
        cnp.npy_intp n, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw
    void ft_col2im_f32(const ft_conv2d_t *p, const float *cols, float *dx) nogil
    void ft_col2im_f64(const ft_conv2d_t *p, const double *cols, double *dx) nogil


cdef extern from "fasttape_nn.h":
    void ft_im2col_f32(const ft_conv2d_t *p, cnp.npy_intp pt, cnp.npy_intp pl, const float *x,
                       float *cols) nogil
    void ft_im2col_f64(const ft_conv2d_t *p, cnp.npy_intp pt, cnp.npy_intp pl, const double *x,
                       double *cols) nogil


    void ft_im2col_t_f32(const ft_conv2d_t *p, cnp.npy_intp pt, cnp.npy_intp pl,
                         const float *x, float *cols) nogil
    void ft_im2col_t_f64(const ft_conv2d_t *p, cnp.npy_intp pt, cnp.npy_intp pl,
                         const double *x, double *cols) nogil


def im2col_2d(object x, tuple ksize, tuple out_sp, tuple strides, tuple dilations, tuple pads,
              bint transposed=False):
    """The patches of NHWC x zero-padded by `pads`, as cols (n, oh, ow, kh * kw, c)
    (C-contiguous), or with `transposed` as (kh * kw * c, n * oh * ow); None
    for a dtype the loop does not take (Note [Pooling loops])."""
    cdef ft_conv2d_t p
    cdef cnp.ndarray xa, cols
    cdef int t
    if not isinstance(x, cnp.ndarray) or x.ndim != 4:
        return None
    t = cnp.PyArray_TYPE(<cnp.ndarray>x)
    if t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE:
        return None
    cdef cnp.npy_intp pt, pl
    try:
        p.n, p.h, p.w, p.c = x.shape
        p.oh, p.ow = out_sp
        p.kh, p.kw = ksize
        p.sh, p.sw = strides
        p.dh, p.dw = dilations
        pt, pl = pads[0][0], pads[1][0]
    except OverflowError:  # beyond C's integers: NumPy's path
        return None
    if not _windows_fit(x.shape, out_sp, ksize, strides, dilations, pads):
        raise ValueError(f"im2col_2d: {out_sp} outputs do not fit {x.shape} padded by {pads}")
    xa = np.ascontiguousarray(x)
    if transposed:
        cols = np.empty((p.kh * p.kw * p.c, p.n * p.oh * p.ow), x.dtype)
    else:
        cols = np.empty((p.n, p.oh, p.ow, p.kh * p.kw, p.c), x.dtype)
    with nogil:
        if t == cnp.NPY_FLOAT and transposed:
            ft_im2col_t_f32(&p, pt, pl, <const float*>cnp.PyArray_DATA(xa),
                            <float*>cnp.PyArray_DATA(cols))
        elif t == cnp.NPY_FLOAT:
            ft_im2col_f32(&p, pt, pl, <const float*>cnp.PyArray_DATA(xa),
                          <float*>cnp.PyArray_DATA(cols))
        elif transposed:
            ft_im2col_t_f64(&p, pt, pl, <const double*>cnp.PyArray_DATA(xa),
                            <double*>cnp.PyArray_DATA(cols))
        else:
            ft_im2col_f64(&p, pt, pl, <const double*>cnp.PyArray_DATA(xa),
                          <double*>cnp.PyArray_DATA(cols))
    return cols


def col2im_2d(object cols, object dx, tuple ksize, tuple strides, tuple dilations):
    """Adds cols (n, oh, ow, kh * kw, c), the gradients of a convolution's
    patches, into dx (n, h, w, c: the padded input's shape) in place; returns
    False, doing nothing, for a dtype or layout the loop does not take (Note
    [Pooling loops])."""
    cdef ft_conv2d_t p
    cdef cnp.ndarray ca, da
    cdef int t
    if not (isinstance(cols, cnp.ndarray) and isinstance(dx, cnp.ndarray)):
        return False
    ca, da = <cnp.ndarray>cols, <cnp.ndarray>dx
    t = cnp.PyArray_TYPE(da)
    if (t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE) or cnp.PyArray_TYPE(ca) != t \
            or da.ndim != 4 or ca.ndim != 5 or not cnp.PyArray_ISCARRAY(da) \
            or not cnp.PyArray_ISCARRAY_RO(ca):
        return False
    try:
        p.n, p.h, p.w, p.c = dx.shape
        p.oh, p.ow = cols.shape[1], cols.shape[2]
        p.kh, p.kw = ksize
        p.sh, p.sw = strides
        p.dh, p.dw = dilations
    except OverflowError:  # beyond C's integers: NumPy's path
        return False
    if (cols.shape[0] != dx.shape[0] or cols.shape[3] != ksize[0] * ksize[1]
            or cols.shape[4] != dx.shape[3]
            or not _windows_fit(dx.shape, cols.shape[1:3], ksize, strides, dilations,
                                ((0, 0), (0, 0)))):
        raise ValueError(f"col2im_2d: patches {cols.shape} do not fit {dx.shape}")
    with nogil:
        if t == cnp.NPY_FLOAT:
            ft_col2im_f32(&p, <const float*>cnp.PyArray_DATA(ca), <float*>cnp.PyArray_DATA(da))
        else:
            ft_col2im_f64(&p, <const double*>cnp.PyArray_DATA(ca), <double*>cnp.PyArray_DATA(da))
    return True


def max_pool_grad_2d(object x, object out, object g, tuple ksize, tuple strides, tuple pads):
    """dL/dx of a 2-D max pooling over NHWC x (its output `out`, the output's
    gradient g), or None for a dtype the loop does not take (Note [Pooling
    loops]). ksize, strides: 2 ints; pads: 2 (before, after) pairs."""
    cdef ft_pool2d_t p
    cdef cnp.ndarray xa, oa, ga, dx
    cdef void *scratch
    cdef int t
    if not (isinstance(x, cnp.ndarray) and isinstance(out, cnp.ndarray)
            and isinstance(g, cnp.ndarray)):
        return None
    t = cnp.PyArray_TYPE(<cnp.ndarray>x)
    if (t != cnp.NPY_FLOAT and t != cnp.NPY_DOUBLE) or x.ndim != 4 or out.dtype != x.dtype \
            or g.dtype != x.dtype or g.shape != out.shape:
        return None
    xa = np.ascontiguousarray(x)
    oa = np.ascontiguousarray(out)
    ga = np.ascontiguousarray(g)
    try:
        p.n, p.h, p.w, p.c = x.shape
        p.oh, p.ow = out.shape[1], out.shape[2]
        p.kh, p.kw = ksize
        p.sh, p.sw = strides
        p.pt, p.pl = pads[0][0], pads[1][0]
    except OverflowError:  # a window or padding beyond C's integers: NumPy's path
        return None
    if not _windows_fit(x.shape, out.shape[1:3], ksize, strides, (1, 1), pads):
        raise ValueError(f"max_pool_grad_2d: {out.shape} outputs do not fit {x.shape}")
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
