/* Elementwise special functions as NumPy ufunc inner loops: erf and gelu.
 * See Note [Vectorised erf] in fasttape/_core/_math.pxi. No Python.h: the
 * loops have NumPy's PyUFuncGenericFunction signature with intptr_t for
 * npy_intp (the same type), and core.pyx registers them. */
#include "fasttape_math.h"

#include <math.h>
#include <string.h>

/* This file's loops are the hot path of erf and gelu: let gcc vectorise them
 * whatever the extension's -O level is, and compile them for AVX-512 and
 * AVX2+FMA too, chosen at load time (ifunc). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FT_CLONES __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#else
#define FT_CLONES
#endif

/* erf(x) = x * P(s) / Q(s), s = x*x/16, for 0 <= x <= 4: a rational fit of
 * erf(x)/x whose relative error is below 1e-11 on [0, 4]. erf(4) = 1 - 1.5e-8
 * rounds to 1 in float32, so |x| > 4 is clamped to 4. Evaluated in double, it
 * gives float32 (and float16) results within 1 ulp of erf rounded. */
static const double P0 = 1.1283791670861365, P1 = 3.205530721396886,
                    P2 = 14.878392368600618, P3 = 20.32539884166079,
                    P4 = 33.623124933467984, P5 = 22.846201471822148,
                    P6 = 12.629740251147755, P7 = 0.8065779780901836;
static const double Q1 = 8.17416096203273, Q2 = 31.181158015295615,
                    Q3 = 72.57766196796564, Q4 = 112.41033517128555,
                    Q5 = 116.93457897559473, Q6 = 75.81952580028822,
                    Q7 = 19.67596878625498;

/* erf(x) for float32/float16 precision, branch-free so that it vectorises.
 * NaN stays NaN (the comparison is false), +-inf gives +-1, -0 gives -0. */
static inline double ft_erf_d(double x) {
    double a = fabs(x);
    int big = isgreater(a, 4.0); /* quiet: no FE_INVALID for NaN */
    a = big ? 4.0 : a;
    double s = a * a * 0.0625;
    double p = ((((((P7 * s + P6) * s + P5) * s + P4) * s + P3) * s + P2) * s + P1) * s + P0;
    double q = ((((((Q7 * s + Q6) * s + Q5) * s + Q4) * s + Q3) * s + Q2) * s + Q1) * s + 1.0;
    double r = a * p / q;
    return copysign(big ? 1.0 : r, x);
}

/* gelu(x) = x/2 (1 + erf(x / sqrt 2)), for float16 (in double). Below
 * x = -4 sqrt 2, 1 + erf is exactly 0; x is clamped for the product so that
 * gelu(-inf) is -0 (its limit), not NaN, and raises no FE_INVALID. */
static inline double ft_gelu_d(double x) {
    double h = 1.0 + ft_erf_d(x * 0.70710678118654752440);
    return 0.5 * (isless(x, -8.0) ? -8.0 : x) * h;
}

/* The (6, 6) fit of the same form (relative error < 1e-9 on [0, 4]). */
static const float G0 = 1.128379168145689f, G1 = 2.6704622409314216f,
                   G2 = 13.04028587190707f, G3 = 12.10795931047745f,
                   G4 = 20.03846982157544f, G5 = -0.30246327503281595f,
                   G6 = -0.7522658422185948f;
static const float H1 = 7.699969495538774f, H2 = 27.023088412979465f,
                   H3 = 55.261064080904255f, H4 = 68.14924738160656f,
                   H5 = 42.99282322070724f, H6 = -10.402880274343516f;

/* gelu for float32, in float32 arithmetic: twice the vector width of double,
 * which is what makes gelu as cheap as np.tanh. Its erf is within a few ulp
 * of 1; gelu keeps that absolute accuracy (as PyTorch's vectorised gelu). */
static inline float ft_gelu_f(float x) {
    float y = x * 0.70710678f;
    float a = fabsf(y);
    int big = isgreater(a, 4.0f);
    a = big ? 4.0f : a;
    float s = a * a * 0.0625f;
    float p = (((((G6 * s + G5) * s + G4) * s + G3) * s + G2) * s + G1) * s + G0;
    float q = (((((H6 * s + H5) * s + H4) * s + H3) * s + H2) * s + H1) * s + 1.0f;
    float h = 1.0f + copysignf(big ? 1.0f : a * p / q, y);
    return 0.5f * (isless(x, -8.0f) ? -8.0f : x) * h; /* as ft_gelu_d */
}

#define CONTIGUOUS(T) (steps[0] == (intptr_t)sizeof(T) && steps[1] == (intptr_t)sizeof(T))

/* One unary loop per (function, type): a contiguous branch gcc vectorises,
 * and a strided one. `T` is the type CORE computes in. */
#define FT_LOOP_F32(NAME, CORE, T)                                               \
    FT_CLONES void NAME(char **args, const intptr_t *dimensions,                \
                        const intptr_t *steps, void *data) {                     \
        (void)data;                                                              \
        intptr_t n = dimensions[0];                                              \
        if (CONTIGUOUS(float)) {                                                 \
            const float *in = (const float *)args[0];                            \
            float *out = (float *)args[1];                                       \
            for (intptr_t i = 0; i < n; i++) out[i] = (float)CORE((T)in[i]);      \
        } else {                                                                 \
            char *ip = args[0], *op = args[1];                                   \
            for (intptr_t i = 0; i < n; i++, ip += steps[0], op += steps[1])    \
                *(float *)op = (float)CORE((T)*(const float *)ip);               \
        }                                                                        \
    }

/* float16 goes through double. Storage is IEEE binary16, as NumPy's. With
 * _Float16 (gcc >= 12, clang >= 15 on x86-64; __FLT16_MAX__ is defined) the
 * compiler converts (F16C or libgcc); otherwise the bit conversions below. */
#ifdef __FLT16_MAX__
static inline double ft_half_to_double(uint16_t bits) {
    _Float16 h;
    memcpy(&h, &bits, sizeof h);
    return (double)h;
}
static inline uint16_t ft_double_to_half(double v) {
    _Float16 h = (_Float16)v;
    uint16_t bits;
    memcpy(&bits, &h, sizeof bits);
    return bits;
}
#else
static inline double ft_half_to_double(uint16_t h) {
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp((double)m, -24)
             : e == 31 ? (m ? NAN : INFINITY)
             : ldexp((double)(m | 0x400), e - 25);
    return (h & 0x8000) ? -v : v;
}
/* Round to nearest even, from float (the double -> float step is exact for
 * every value the half range distinguishes but for ties, which are rare). */
static inline uint16_t ft_double_to_half(double v) {
    float f = (float)v;
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t e = (x >> 23) & 0xff, m = x & 0x7fffff;
    if (e == 0xff) return sign | 0x7c00 | (m ? 0x200 : 0);     /* inf, NaN */
    int he = (int)e - 127 + 15;
    if (he >= 31) return sign | 0x7c00;                         /* overflow */
    if (he <= 0) {                                              /* subnormal */
        if (he < -10) return sign;
        m |= 0x800000;
        int shift = 14 - he;
        uint32_t hm = m >> shift, rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rest > half || (rest == half && (hm & 1))) hm++;
        return sign | (uint16_t)hm;
    }
    uint32_t hm = m >> 13, rest = m & 0x1fff;
    uint16_t out = sign | (uint16_t)(he << 10) | (uint16_t)hm;
    if (rest > 0x1000 || (rest == 0x1000 && (hm & 1))) out++;  /* may carry into e */
    return out;
}
#endif

#define FT_LOOP_F16(NAME, CORE)                                                  \
    FT_CLONES void NAME(char **args, const intptr_t *dimensions,                \
                        const intptr_t *steps, void *data) {                     \
        (void)data;                                                              \
        intptr_t n = dimensions[0];                                              \
        char *ip = args[0], *op = args[1];                                       \
        for (intptr_t i = 0; i < n; i++, ip += steps[0], op += steps[1]) {      \
            uint16_t h;                                                          \
            memcpy(&h, ip, sizeof h);                                            \
            h = ft_double_to_half(CORE(ft_half_to_double(h)));                   \
            memcpy(op, &h, sizeof h);                                            \
        }                                                                        \
    }

FT_LOOP_F32(ft_erf_loop_f, ft_erf_d, double)
FT_LOOP_F32(ft_gelu_loop_f, ft_gelu_f, float)
FT_LOOP_F16(ft_erf_loop_e, ft_erf_d)
FT_LOOP_F16(ft_gelu_loop_e, ft_gelu_d)

/* float64: glibc's erf and erfc (correctly rounded but for rare cases, under
 * 1 ulp). They are scalar calls, so these loops do not vectorise: a float64
 * erf within a few ulp needs an exp in the tails, which is what libm has.
 * gelu uses erfc(-x/sqrt 2) = 1 + erf(x/sqrt 2), without the cancellation for
 * negative x. */
static inline double ft_gelu_f64(double x) {
    double h = erfc(x / -1.41421356237309504880);
    return 0.5 * (isless(x, -1e300) ? -1e300 : x) * h; /* gelu(-inf) = -0 */
}

#define FT_LOOP_F64(NAME, CORE)                                                  \
    void NAME(char **args, const intptr_t *dimensions, const intptr_t *steps,   \
              void *data) {                                                      \
        (void)data;                                                              \
        intptr_t n = dimensions[0];                                              \
        char *ip = args[0], *op = args[1];                                       \
        for (intptr_t i = 0; i < n; i++, ip += steps[0], op += steps[1])        \
            *(double *)op = CORE(*(const double *)ip);                           \
    }

FT_LOOP_F64(ft_erf_loop_d, erf)
FT_LOOP_F64(ft_gelu_loop_d, ft_gelu_f64)

/* relu(x) = x where x > 0 or x is NaN, else +0 (the bits of np.maximum(x, 0):
 * NaN stays, -0.0 gives +0.0 in float32 and float64), and ReluGrad(g, out) = g * (out > 0), a multiply by exactly 1
 * or 0 (so g * 0 is a signed zero, and NaN for an inf or NaN g, as the
 * multiply by the mask it replaces). NumPy's maximum with a scalar does not
 * vectorise (45 us on 131k float32 elements, 14 us against an array of
 * zeros); these loops do. See Note [Vectorised erf] for the ufuncs. */
/* The tests on the bits, as unsigned integers (gcc's vectorised float
 * compares signal on NaN, which NumPy reports as an invalid value): x keeps
 * itself when positive and nonzero, or NaN; the gradient passes where out is
 * positive, nonzero and not NaN. */
#define FT_ABS(u, U) ((u) & ~((U)1 << (sizeof(U) * 8 - 1)))
#define FT_NEG(u, U) ((u) >> (sizeof(U) * 8 - 1))
#define FT_RELU_KEEPS(u, U, INF) ((!FT_NEG(u, U) && FT_ABS(u, U) != 0) || FT_ABS(u, U) > (INF))
#define FT_RELU_PASSES(u, U, INF) (!FT_NEG(u, U) && FT_ABS(u, U) != 0 && FT_ABS(u, U) <= (INF))
#define FT_RELU(NAME, T, U, INF)                                                 \
    FT_CLONES void NAME(char **args, const intptr_t *dimensions,                \
                        const intptr_t *steps, void *data) {                     \
        (void)data;                                                              \
        intptr_t n = dimensions[0];                                              \
        if (CONTIGUOUS(T)) {                                                     \
            const U *in = (const U *)args[0];                                    \
            U *out = (U *)args[1];                                               \
            for (intptr_t i = 0; i < n; i++) {                                   \
                U u = in[i];                                                     \
                out[i] = FT_RELU_KEEPS(u, U, INF) ? u : (U)0;                    \
            }                                                                    \
        } else {                                                                 \
            char *ip = args[0], *op = args[1];                                   \
            for (intptr_t i = 0; i < n; i++, ip += steps[0], op += steps[1]) {  \
                U u;                                                             \
                memcpy(&u, ip, sizeof u);                                        \
                u = FT_RELU_KEEPS(u, U, INF) ? u : (U)0;                         \
                memcpy(op, &u, sizeof u);                                        \
            }                                                                    \
        }                                                                        \
    }
FT_RELU(ft_relu_loop_f, float, uint32_t, 0x7f800000u)
FT_RELU(ft_relu_loop_d, double, uint64_t, 0x7ff0000000000000u)
#undef FT_RELU

/* float16 by its bits: the sign set, not zero and not NaN gives +0 (NumPy's
 * float16 maximum keeps -0.0, unlike its float32 and float64 ones). */
FT_CLONES void ft_relu_loop_e(char **args, const intptr_t *dimensions, const intptr_t *steps,
                              void *data) {
    (void)data;
    intptr_t n = dimensions[0];
    char *ip = args[0], *op = args[1];
    for (intptr_t i = 0; i < n; i++, ip += steps[0], op += steps[1]) {
        uint16_t h;
        memcpy(&h, ip, sizeof h);
        if (FT_NEG(h, uint16_t) && FT_ABS(h, uint16_t) != 0 && FT_ABS(h, uint16_t) <= 0x7c00u)
            h = 0;
        memcpy(op, &h, sizeof h);
    }
}

#define CONTIGUOUS3(T) (CONTIGUOUS(T) && steps[2] == (intptr_t)sizeof(T))
#define FT_RELU_GRAD(NAME, T, U, INF)                                            \
    FT_CLONES void NAME(char **args, const intptr_t *dimensions,                \
                        const intptr_t *steps, void *data) {                     \
        (void)data;                                                              \
        intptr_t n = dimensions[0];                                              \
        if (CONTIGUOUS3(T)) {                                                    \
            const T *g = (const T *)args[0];                                     \
            const U *y = (const U *)args[1];                                     \
            T *out = (T *)args[2];                                               \
            for (intptr_t i = 0; i < n; i++)                                     \
                out[i] = g[i] * (T)FT_RELU_PASSES(y[i], U, INF);                 \
        } else {                                                                 \
            char *gp = args[0], *yp = args[1], *op = args[2];                    \
            for (intptr_t i = 0; i < n;                                          \
                 i++, gp += steps[0], yp += steps[1], op += steps[2]) {          \
                U y;                                                             \
                memcpy(&y, yp, sizeof y);                                        \
                *(T *)op = *(const T *)gp * (T)FT_RELU_PASSES(y, U, INF);        \
            }                                                                    \
        }                                                                        \
    }
FT_RELU_GRAD(ft_relu_grad_loop_f, float, uint32_t, 0x7f800000u)
FT_RELU_GRAD(ft_relu_grad_loop_d, double, uint64_t, 0x7ff0000000000000u)
#undef FT_RELU_GRAD

/* float16: the product as NumPy's float16 multiply computes it (in float). */
FT_CLONES void ft_relu_grad_loop_e(char **args, const intptr_t *dimensions,
                                   const intptr_t *steps, void *data) {
    (void)data;
    intptr_t n = dimensions[0];
    char *gp = args[0], *yp = args[1], *op = args[2];
    for (intptr_t i = 0; i < n; i++, gp += steps[0], yp += steps[1], op += steps[2]) {
        uint16_t g, y;
        memcpy(&g, gp, sizeof g);
        memcpy(&y, yp, sizeof y);
        float keep = (float)FT_RELU_PASSES(y, uint16_t, 0x7c00u);
        uint16_t r = ft_double_to_half((double)((float)ft_half_to_double(g) * keep));
        memcpy(op, &r, sizeof r);
    }
}

/* Sums of every element of a contiguous float32 or float64 buffer: see
 * Note [Fast sums] in fasttape/_core/_math.pxi. A chunk of up to
 * FT_SUM_ROWS rows of FT_SUM_LANES elements is summed into FT_SUM_LANES
 * independent accumulators, each adding its column in order: a loop gcc
 * vectorises without reassociating anything (no -ffast-math). */
#define FT_SUM_LANES 32
#define FT_SUM_ROWS 8
#define FT_SUM_CHUNK (FT_SUM_LANES * FT_SUM_ROWS)

/* float32: each chunk is summed in float lanes, which then go into double
 * lanes; the last (partial) row and the final lane sums are in double. */
FT_CLONES double ft_sum_f32(const float *p, intptr_t n) {
    double acc[FT_SUM_LANES] = {0};
    intptr_t i = 0;
    while (n - i >= FT_SUM_LANES) {
        intptr_t rows = (n - i) / FT_SUM_LANES;
        if (rows > FT_SUM_ROWS) rows = FT_SUM_ROWS;
        float part[FT_SUM_LANES] = {0};
        for (intptr_t r = 0; r < rows; r++, i += FT_SUM_LANES)
            for (int j = 0; j < FT_SUM_LANES; j++) part[j] += p[i + j];
        for (int j = 0; j < FT_SUM_LANES; j++) acc[j] += part[j];
    }
    for (int j = 0; i < n; i++, j++) acc[j] += p[i];
    for (int w = FT_SUM_LANES / 2; w > 0; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    return acc[0];
}

/* float64: each chunk's lanes are added pairwise into one sum, and the chunk
 * sums are combined pairwise too (a binary counter: a chunk's sum absorbs the
 * partial sums below it while the count carries), so no term goes through
 * more than FT_SUM_ROWS + log2(n) additions, as in NumPy's pairwise sum. */
FT_CLONES double ft_sum_f64(const double *p, intptr_t n) {
    double stack[64];
    int depth = 0;
    uint64_t count = 0;
    intptr_t i = 0;
    while (i < n) {
        double part[FT_SUM_LANES] = {0};
        int r = 0;
        for (; r < FT_SUM_ROWS && n - i >= FT_SUM_LANES; r++, i += FT_SUM_LANES)
            for (int j = 0; j < FT_SUM_LANES; j++) part[j] += p[i + j];
        if (r < FT_SUM_ROWS)  /* the last chunk: its partial row */
            for (int j = 0; i < n; i++, j++) part[j] += p[i];
        for (int w = FT_SUM_LANES / 2; w > 0; w /= 2)
            for (int j = 0; j < w; j++) part[j] += part[j + w];
        double s = part[0];
        for (uint64_t c = ++count; !(c & 1); c >>= 1) s += stack[--depth];
        stack[depth++] = s;
    }
    double total = 0;
    while (depth) total += stack[--depth];
    return total;
}

/* Adam's update of one variable in one pass (Note [Fused updates] in
 * fasttape/optimizers/fused.py). Each line is the unfused op sequence's
 * arithmetic in the variable's type, op by op, so the result is bitwise the
 * same: contraction into fused multiply-adds (which the x86-64-v3 clone could
 * do) is off here. sqrt is IEEE's, correctly rounded; setup.py's
 * -fno-math-errno lets gcc vectorise it. vhat (amsgrad) may be NULL. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif
#define FT_ADAM(NAME, T, SQRT)                                                      \
    FT_CLONES void NAME(T *restrict var, T *restrict m, T *restrict v,               \
                        T *restrict vhat, const T *restrict g, intptr_t n, T alpha,  \
                        T c1, T c2, T eps) {                                         \
        if (vhat == NULL) {                                                          \
            for (intptr_t i = 0; i < n; i++) {                                       \
                T gi = g[i];                                                         \
                T mi = m[i] + (gi - m[i]) * c1;                                      \
                T vi = v[i] + (gi * gi - v[i]) * c2;                                 \
                m[i] = mi;                                                           \
                v[i] = vi;                                                           \
                var[i] = var[i] - (mi * alpha) / (SQRT(vi) + eps);                   \
            }                                                                        \
            return;                                                                  \
        }                                                                            \
        for (intptr_t i = 0; i < n; i++) {                                           \
            T gi = g[i];                                                             \
            T mi = m[i] + (gi - m[i]) * c1;                                          \
            T vi = v[i] + (gi * gi - v[i]) * c2;                                     \
            T hi = vhat[i];                                                          \
            hi = (hi >= vi || hi != hi) ? hi : vi; /* np.maximum: NaN wins */        \
            m[i] = mi;                                                               \
            v[i] = vi;                                                               \
            vhat[i] = hi;                                                            \
            var[i] = var[i] - (mi * alpha) / (SQRT(hi) + eps);                       \
        }                                                                            \
    }
FT_ADAM(ft_adam_f32, float, sqrtf)
FT_ADAM(ft_adam_f64, double, sqrt)
#undef FT_ADAM
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
