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
