/* Loops of the nn ops NumPy has no single call for: see Note [Window loops]
 * in fasttape/_core/_math.pxi. No Python.h: plain C over contiguous buffers. */
#include "fasttape_nn.h"

#include <math.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

/* Branch-free so that gcc vectorises the channel loops: `left` holds, per
 * channel, all ones until the window's first maximum is seen, then zero; the
 * gradient is added as its bits ANDed with the hit mask (g or +0.0 exactly,
 * so a NaN or inf gradient goes to the maximum alone). */
#define FT_MAX_POOL_GRAD(NAME, T, U)                                                \
    void NAME(const ft_window2d_t *p, const T *x, const T *out, const T *g, T *dx,    \
              void *scratch) {                                                      \
        const intptr_t c = p->c;                                                    \
        U *left = (U *)scratch;                                                     \
        for (intptr_t b = 0; b < p->n; b++)                                         \
            for (intptr_t i = 0; i < p->oh; i++)                                    \
                for (intptr_t j = 0; j < p->ow; j++) {                              \
                    intptr_t o = ((b * p->oh + i) * p->ow + j) * c;                 \
                    const T *om = out + o, *gm = g + o;                             \
                    for (intptr_t k = 0; k < c; k++) left[k] = ~(U)0;               \
                    for (intptr_t u = 0; u < p->kh; u++) {                          \
                        intptr_t r = i * p->sh - p->pt + u * p->dh;                \
                        for (intptr_t v = 0; v < p->kw; v++) {                      \
                            intptr_t s = j * p->sw - p->pl + v * p->dw;            \
                            if (r < 0 || r >= p->h || s < 0 || s >= p->w) {         \
                                /* padding (-inf): first when the max is -inf */    \
                                for (intptr_t k = 0; k < c; k++)                    \
                                    left[k] &= (U)0 - (U)(om[k] != -INFINITY);      \
                                continue;                                           \
                            }                                                       \
                            intptr_t q = ((b * p->h + r) * p->w + s) * c;           \
                            const T *restrict xm = x + q;                           \
                            T *restrict dm = dx + q;                                \
                            for (intptr_t k = 0; k < c; k++) {                      \
                                U hit = ((U)0 - (U)(xm[k] == om[k])) & left[k];     \
                                U bits;                                             \
                                T add;                                              \
                                memcpy(&bits, gm + k, sizeof bits);                 \
                                bits &= hit;                                        \
                                memcpy(&add, &bits, sizeof add);                    \
                                dm[k] += add;                                       \
                                left[k] &= ~hit;                                    \
                            }                                                       \
                        }                                                           \
                    }                                                               \
                }                                                                   \
    }

FT_MAX_POOL_GRAD(ft_max_pool_grad_f32, float, uint32_t)
FT_MAX_POOL_GRAD(ft_max_pool_grad_f64, double, uint64_t)

/* One contiguous add (or copy: ASSIGN is = instead of +=) of c elements per
 * patch element; patches in the order of cols (each output position's taps
 * in row-major order). */
#define FT_COL2IM(NAME, T, ASSIGN)                                                  \
    void NAME(const ft_window2d_t *p, const T *cols, T *dx) {                         \
        const intptr_t c = p->c;                                                    \
        const T *src = cols;                                                        \
        for (intptr_t b = 0; b < p->n; b++)                                         \
            for (intptr_t i = 0; i < p->oh; i++)                                    \
                for (intptr_t j = 0; j < p->ow; j++)                                \
                    for (intptr_t u = 0; u < p->kh; u++) {                          \
                        intptr_t r = i * p->sh + u * p->dh;                         \
                        for (intptr_t v = 0; v < p->kw; v++, src += c) {            \
                            T *restrict d = dx + ((b * p->h + r) * p->w             \
                                                  + j * p->sw + v * p->dw) * c;     \
                            const T *restrict s = src;                              \
                            for (intptr_t k = 0; k < c; k++) d[k] ASSIGN s[k];      \
                        }                                                           \
                    }                                                               \
    }

FT_COL2IM(ft_col2im_f32, float, +=)
FT_COL2IM(ft_col2im_f64, double, +=)
FT_COL2IM(ft_im_put_f32, float, =)
FT_COL2IM(ft_im_put_f64, double, =)

/* One contiguous copy (or zero fill) of c elements per patch element. */
#define FT_IM2COL(NAME, T)                                                          \
    void NAME(const ft_window2d_t *p, const T *x, T *cols) {                        \
        const intptr_t pt = p->pt, pl = p->pl;                                      \
        const intptr_t c = p->c;                                                    \
        T *dst = cols;                                                              \
        for (intptr_t b = 0; b < p->n; b++)                                         \
            for (intptr_t i = 0; i < p->oh; i++)                                    \
                for (intptr_t j = 0; j < p->ow; j++)                                \
                    for (intptr_t u = 0; u < p->kh; u++) {                          \
                        intptr_t r = i * p->sh + u * p->dh - pt;                    \
                        for (intptr_t v = 0; v < p->kw; v++, dst += c) {            \
                            intptr_t s = j * p->sw + v * p->dw - pl;                \
                            if (r < 0 || r >= p->h || s < 0 || s >= p->w)           \
                                memset(dst, 0, (size_t)c * sizeof(T));              \
                            else                                                    \
                                memcpy(dst, x + ((b * p->h + r) * p->w + s) * c,    \
                                       (size_t)c * sizeof(T));                      \
                        }                                                           \
                    }                                                               \
    }

FT_IM2COL(ft_im2col_f32, float)
FT_IM2COL(ft_im2col_f64, double)

/* Row by row of the output: for each (tap, channel), the ow elements of one
 * output row read one input row (at stride sw: contiguous for c = 1). */
#define FT_IM2COL_T(NAME, T)                                                        \
    void NAME(const ft_window2d_t *p, const T *x, T *cols) {                        \
        const intptr_t pt = p->pt, pl = p->pl;                                      \
        const intptr_t c = p->c, m = p->n * p->oh * p->ow;                          \
        for (intptr_t u = 0; u < p->kh; u++)                                        \
            for (intptr_t v = 0; v < p->kw; v++)                                    \
                for (intptr_t k = 0; k < c; k++) {                                  \
                    T *dst = cols + ((u * p->kw + v) * c + k) * m;                  \
                    for (intptr_t b = 0; b < p->n; b++)                             \
                        for (intptr_t i = 0; i < p->oh; i++, dst += p->ow) {        \
                            intptr_t r = i * p->sh + u * p->dh - pt;                \
                            if (r < 0 || r >= p->h) {                               \
                                memset(dst, 0, (size_t)p->ow * sizeof(T));          \
                                continue;                                           \
                            }                                                       \
                            /* columns j*sw + off in [0, w): j in [lo, hi) */        \
                            const T *row = x + (b * p->h + r) * p->w * c + k;       \
                            intptr_t off = v * p->dw - pl, j = 0;                   \
                            intptr_t lo = off >= 0 ? 0 : (p->sw - 1 - off) / p->sw; \
                            intptr_t hi = p->w - off <= 0 ? 0                        \
                                          : (p->w - off + p->sw - 1) / p->sw;       \
                            if (hi > p->ow) hi = p->ow;                             \
                            if (lo > hi) lo = hi;                                   \
                            for (; j < lo; j++) dst[j] = (T)0;                      \
                            for (; j < hi; j++) dst[j] = row[(j * p->sw + off) * c];\
                            for (; j < p->ow; j++) dst[j] = (T)0;                   \
                        }                                                           \
                }                                                                   \
    }

FT_IM2COL_T(ft_im2col_t_f32, float)
FT_IM2COL_T(ft_im2col_t_f64, double)
