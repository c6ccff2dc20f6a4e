/* Compute kernels over row-major float32 buffers; the N-API glue (addon.c) checks sizes before calling. */
#ifndef TSDISTILL_KERNELS_H
#define TSDISTILL_KERNELS_H
#include <stddef.h>

/* Elementwise loops are compiled for AVX-512, AVX2 and baseline x86-64 and picked at load time (GCC on Linux);
 * -ffp-contract=off in binding.gyp keeps every clone's results bit-identical to the scalar loop. */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_CLONES
#endif

enum { ACT_LINEAR = 0, ACT_RELU = 1, ACT_RELU6 = 2, ACT_ELU = 3, ACT_LEAKYRELU = 4, ACT_SIGMOID = 5, ACT_TANH = 6 };

/* Conv geometry (NHWC input, filter [kh, kw, ci, co]), padding as TF computes it. */
typedef struct {
  int n, h, w, ci, kh, kw, co, sh, sw, dh, dw, top, left, oh, ow;
} conv_geom;

/* The input row (column) under window tap ky (kx) of output row oy (column ox), or −1 where it is padding. */
static inline int tap_row(const conv_geom *g, int oy, int ky) {
  const int iy = oy * g->sh - g->top + ky * g->dh;
  return iy >= 0 && iy < g->h ? iy : -1;
}
static inline int tap_col(const conv_geom *g, int ox, int kx) {
  const int ix = ox * g->sw - g->left + kx * g->dw;
  return ix >= 0 && ix < g->w ? ix : -1;
}

/* Products below small_gemm_macs multiply-adds, or with k < thin_gemm_k, run on one thread. */
extern double small_gemm_macs;
extern int thin_gemm_k;
void batched_gemm(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b, float *c,
                  int batch, size_t stride_a, size_t stride_b, float beta);
void bias_act(float *c, size_t rows, int cols, const float *bias, int act, float alpha);
void conv2d_forward(const conv_geom *g, const float *x, const float *w, float *y);
void conv2d_backprop_input(const conv_geom *g, const float *dy, const float *w, float *dx);
void conv2d_backprop_filter(const conv_geom *g, const float *x, const float *dy, float *dw);
/* Pooling reuses conv_geom with kh/kw as the window and co == ci. */
void max_pool(const conv_geom *g, const float *x, float *y);
void max_pool_grad(const conv_geom *g, const float *dy, const float *x, float *dx);
void avg_pool(const conv_geom *g, const float *x, float *y);
void avg_pool_grad(const conv_geom *g, const float *dy, float *dx);
void activation_grad(const float *dy, const float *y, float *dz, size_t len, int act);
void sum_rows(const float *x, float *out, size_t rows, size_t cols);
void adam_update(float *out, const float *p, const float *g, float *m, float *v, size_t len, double step_size,
                 double beta1, double beta2, double eps, double keep);
void sgd_update(float *out, const float *p, const float *g, float *vel, size_t len, double lr, double momentum,
                int nesterov, double weight_decay);
/* Broadcasting binary ops and last-axis reductions (elementwise.c). */
enum { BINARY_ADD = 0, BINARY_SUB = 1, BINARY_MUL = 2, BINARY_DIV = 3 };
int binary_op(int op, const float *a, const float *b, float *out, int rank, const int *shape, const int *sa, const int *sb);
void reduce_last(const float *x, float *out, size_t rows, int cols, int max);
void exp_array(const float *x, float *y, size_t n);
/* Sequence kernels (seq.c, gather.c). */
void softmax_rows(const float *x, float *y, size_t rows, int cols, float scale, int causal_q, const float *mask,
                  size_t rows_per_mask);
void softmax_grad_rows(const float *dy, const float *y, float *dx, size_t rows, int cols, float scale);
void layer_norm_forward(const float *x, const float *gamma, const float *beta, float *y, float *xhat, float *rstd,
                        size_t rows, int d, float eps);
void layer_norm_backward(const float *dy, const float *xhat, const float *rstd, const float *gamma, float *dx,
                         float *dgamma, float *dbeta, size_t rows, int d);
void gelu_forward(const float *x, float *y, size_t len);
void gelu_backward(const float *dy, const float *x, float *dx, size_t len);
int transpose(const float *x, float *y, int rank, const int *shape, const int *perm);
void gather_slices(const float *x, const int *idx, float *y, int batch, int outer, int dim, int slice, int count);
void segment_sum(const float *x, const int *ids, float *y, size_t rows, int width, int segments);
/* Runs fn(ctx, begin, end) over a fixed split of [0, n) into worker_threads() ranges on the addon's thread pool
 * (the caller runs the first); OpenBLAS itself runs single-threaded. */
typedef void (*range_fn)(void *ctx, int begin, int end);
int worker_threads(void);
void set_worker_threads(int n);
void parallel_for(int n, range_fn fn, void *ctx);
#endif
