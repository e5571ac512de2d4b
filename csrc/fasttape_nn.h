/* Loops of the nn ops NumPy has no single call for (csrc/fasttape_nn.c). */
#ifndef FASTTAPE_NN_H
#define FASTTAPE_NN_H

#include <stdint.h>

/* The windows of a 2-D pooling or convolution over NHWC arrays: input
 * (n, h, w, c) read as if padded by pt rows above and pl columns to the
 * left, output positions (n, oh, ow), windows of kh x kw taps at strides
 * (sh, sw) and dilations (dh, dw). One spatial axis is h = oh = kh = 1. */
typedef struct {
    intptr_t n, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl;
} ft_window2d_t;

/* MaxPoolGrad: adds each g[n, i, j, :] into dx (zeroed by the caller, the
 * input's shape) at the first maximum, in row-major window order, of its
 * window of x: the first tap where x equals out[n, i, j, :]. A padded tap
 * holds -inf; it takes the gradient (which is dropped) when it comes first
 * and the maximum is -inf. `scratch`: room for c elements. */
void ft_max_pool_grad_f32(const ft_window2d_t *p, const float *x, const float *out,
                          const float *g, float *dx, void *scratch);
void ft_max_pool_grad_f64(const ft_window2d_t *p, const double *x, const double *out,
                          const double *g, double *dx, void *scratch);

/* col2im: adds cols (n, oh, ow, kh * kw, c), the gradient of each patch
 * element, into dx (n, h, w, c; p's pads are 0: dx is the padded input). */
void ft_col2im_f32(const ft_window2d_t *p, const float *cols, float *dx);
void ft_col2im_f64(const ft_window2d_t *p, const double *cols, double *dx);
/* The same walk copying instead of adding: each patch element of cols is
 * written to its place (the last write wins where windows overlap). */
void ft_im_put_f32(const ft_window2d_t *p, const float *cols, float *dx);
void ft_im_put_f64(const ft_window2d_t *p, const double *cols, double *dx);

/* im2col: the patches of x, cols (n, oh, ow, kh * kw, c), zero where a patch
 * element falls in the padding. */
void ft_im2col_f32(const ft_window2d_t *p, const float *x, float *cols);
void ft_im2col_f64(const ft_window2d_t *p, const double *x, double *cols);

/* The same patches transposed, for few channels: cols (kh * kw * c, n * oh * ow),
 * each row one (tap, channel) pair over every output position. */
void ft_im2col_t_f32(const ft_window2d_t *p, const float *x, float *cols);
void ft_im2col_t_f64(const ft_window2d_t *p, const double *x, double *cols);

#endif
