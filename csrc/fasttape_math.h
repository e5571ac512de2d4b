/* Ufunc inner loops for erf and gelu (csrc/fasttape_math.c), with NumPy's
 * PyUFuncGenericFunction signature (intptr_t is npy_intp), and full sums.
 * Suffixes are NumPy's type characters: e float16, f float32, d float64. */
#ifndef FASTTAPE_MATH_H
#define FASTTAPE_MATH_H

#include <stdint.h>

#define FT_DECLARE_LOOP(NAME) \
    void NAME(char **args, const intptr_t *dimensions, const intptr_t *steps, void *data)

FT_DECLARE_LOOP(ft_erf_loop_e);
FT_DECLARE_LOOP(ft_erf_loop_f);
FT_DECLARE_LOOP(ft_erf_loop_d);
FT_DECLARE_LOOP(ft_gelu_loop_e);
FT_DECLARE_LOOP(ft_gelu_loop_f);
FT_DECLARE_LOOP(ft_gelu_loop_d);
FT_DECLARE_LOOP(ft_relu_loop_e);
FT_DECLARE_LOOP(ft_relu_loop_f);
FT_DECLARE_LOOP(ft_relu_loop_d);
FT_DECLARE_LOOP(ft_relu_grad_loop_e);
FT_DECLARE_LOOP(ft_relu_grad_loop_f);
FT_DECLARE_LOOP(ft_relu_grad_loop_d);

#undef FT_DECLARE_LOOP

/* The sum of n contiguous elements (Note [Fast sums]). */
double ft_sum_f32(const float *p, intptr_t n);
double ft_sum_f64(const double *p, intptr_t n);

/* Adam's update in place, one pass (Note [Fused updates]); vhat may be NULL. */
void ft_adam_f32(float *var, float *m, float *v, float *vhat, const float *g, intptr_t n,
                 float alpha, float c1, float c2, float eps);
void ft_adam_f64(double *var, double *m, double *v, double *vhat, const double *g,
                 intptr_t n, double alpha, double c1, double c2, double eps);
#endif
