/* conv2d as im2col + gemm, in chunks of whole images so the patch matrix stays small (it is kh·kw times the input). */
#include <stdlib.h>
#include <string.h>
#include "blas.h"
#include "kernels.h"

#define CHUNK_FLOATS ((size_t)4 << 20)

/* One patch buffer per thread, kept between calls: a fresh one would be faulted in page by page on every call,
 * which costs more than the convolution on machines where page faults are slow (~14 µs per 4 KiB page measured
 * on this project's VMs). */
static _Thread_local float *scratch;
static _Thread_local size_t scratch_floats;

static float *patch_buffer(size_t floats) {
  if (floats > scratch_floats) {
    free(scratch);
    scratch = malloc(sizeof(float) * floats);
    scratch_floats = scratch ? floats : 0;
  }
  return scratch;
}

static int images_per_chunk(const conv_geom *g) {
  const size_t per_image = (size_t)g->oh * g->ow * g->kh * g->kw * g->ci;
  size_t n = per_image ? CHUNK_FLOATS / per_image : 1;
  if (n < 1) n = 1;
  return n > (size_t)g->n ? g->n : (int)n;
}

static int is_pointwise(const conv_geom *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->top == 0 && g->left == 0 && g->oh == g->h &&
         g->ow == g->w;
}

/* Rows (oy, ox) × columns (ky, kx, c) for `count` images starting at x; padding reads as zeros. */
static void im2col(const conv_geom *g, const float *x, int count, float *col) {
  const size_t k = (size_t)g->kh * g->kw * g->ci;
  const size_t image = (size_t)g->h * g->w * g->ci;
  for (int b = 0; b < count; b++) {
    const float *xb = x + b * image;
    for (int oy = 0; oy < g->oh; oy++) {
      for (int ox = 0; ox < g->ow; ox++) {
        float *row = col + (((size_t)b * g->oh + oy) * g->ow + ox) * k;
        for (int ky = 0; ky < g->kh; ky++) {
          const int iy = tap_row(g, oy, ky);
          for (int kx = 0; kx < g->kw; kx++) {
            const int ix = tap_col(g, ox, kx);
            float *dst = row + ((size_t)ky * g->kw + kx) * g->ci;
            if (iy < 0 || ix < 0) memset(dst, 0, sizeof(float) * g->ci);
            else memcpy(dst, xb + ((size_t)iy * g->w + ix) * g->ci, sizeof(float) * g->ci);
          }
        }
      }
    }
  }
}

/* The adjoint of im2col: adds each patch entry back onto the input pixel it was read from. */
static void col2im(const conv_geom *g, const float *col, int count, float *dx) {
  const size_t k = (size_t)g->kh * g->kw * g->ci;
  const size_t image = (size_t)g->h * g->w * g->ci;
  for (int b = 0; b < count; b++) {
    float *db = dx + b * image;
    for (int oy = 0; oy < g->oh; oy++) {
      for (int ox = 0; ox < g->ow; ox++) {
        const float *row = col + (((size_t)b * g->oh + oy) * g->ow + ox) * k;
        for (int ky = 0; ky < g->kh; ky++) {
          const int iy = tap_row(g, oy, ky);
          if (iy < 0) continue;
          for (int kx = 0; kx < g->kw; kx++) {
            const int ix = tap_col(g, ox, kx);
            if (ix < 0) continue;
            const float *src = row + ((size_t)ky * g->kw + kx) * g->ci;
            float *dst = db + ((size_t)iy * g->w + ix) * g->ci;
            for (int c = 0; c < g->ci; c++) dst[c] += src[c];
          }
        }
      }
    }
  }
}

typedef enum { CONV_FORWARD, CONV_BACKPROP_INPUT, CONV_BACKPROP_FILTER } conv_kind;

/* One thread's share: chunks first, first + step, … of whole images, each im2col/col2im + a one-thread gemm. */
typedef struct {
  const conv_geom *g;
  conv_kind kind;
  const float *a; /* x (forward, filter gradient) or dy (input gradient) */
  const float *b; /* the filter (forward, input gradient) or dy (filter gradient) */
  float *out;     /* y, dx, or this thread's partial filter gradient */
  float *col;
  int chunk, first, step;
} conv_work;

static void conv_worker(const conv_work *t) {
  const conv_geom *g = t->g;
  const int k = g->kh * g->kw * g->ci;
  const size_t rows = (size_t)g->oh * g->ow;
  const size_t image = (size_t)g->h * g->w * g->ci;
  int started = 0;
  for (int b0 = t->first * t->chunk; b0 < g->n; b0 += t->step * t->chunk) {
    const int count = g->n - b0 < t->chunk ? g->n - b0 : t->chunk;
    const int m = (int)(count * rows);
    switch (t->kind) {
      case CONV_FORWARD:
        im2col(g, t->a + (size_t)b0 * image, count, t->col);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, g->co, k, 1.0f, t->col, k, t->b, g->co, 0.0f,
                    t->out + b0 * rows * g->co, g->co);
        break;
      case CONV_BACKPROP_INPUT:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, k, g->co, 1.0f, t->a + b0 * rows * g->co, g->co, t->b,
                    g->co, 0.0f, t->col, k);
        col2im(g, t->col, count, t->out + (size_t)b0 * image);
        break;
      case CONV_BACKPROP_FILTER:
        im2col(g, t->a + (size_t)b0 * image, count, t->col);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, g->co, m, 1.0f, t->col, k, t->b + b0 * rows * g->co,
                    g->co, started ? 1.0f : 0.0f, t->out, g->co);
        started = 1;
        break;
    }
  }
  if (t->kind == CONV_BACKPROP_FILTER && !started) memset(t->out, 0, sizeof(float) * k * g->co);
}

static void conv_workers(void *arg, int begin, int end) {
  conv_work *work = arg;
  for (int t = begin; t < end; t++) conv_worker(&work[t]);
}

#define MAX_CONV_THREADS 16

/*
 * The images are split between the addon's threads (native/parallel.c), each running im2col/col2im and a
 * single-threaded gemm on its own chunks: the patch copies run in parallel too, and no thread waits on another
 * between the two phases (the gemm alone split by OpenBLAS left im2col/col2im, a third of a CNN step, on one core).
 */
static void conv_chunks(const conv_geom *g, conv_kind kind, const float *a, const float *b, float *out) {
  const int k = g->kh * g->kw * g->ci;
  const size_t rows = (size_t)g->oh * g->ow;
  int threads = worker_threads();
  int chunk = images_per_chunk(g);
  const int even = (g->n + threads - 1) / threads;
  if (even < chunk) chunk = even;
  const int chunks = (g->n + chunk - 1) / chunk;
  if (threads > chunks) threads = chunks;
  const size_t col_floats = (size_t)chunk * rows * k;
  const size_t partial = kind == CONV_BACKPROP_FILTER ? (size_t)k * g->co : 0;
  float *buf = patch_buffer(threads * (col_floats + partial));
  conv_work work[MAX_CONV_THREADS];
  for (int t = 0; t < threads; t++) {
    float *target = kind == CONV_BACKPROP_FILTER && t > 0 ? buf + threads * col_floats + t * partial : out;
    work[t] = (conv_work){g, kind, a, b, target, buf + t * col_floats, chunk, t, threads};
  }
  parallel_for(threads, conv_workers, work);
  if (kind == CONV_BACKPROP_FILTER)
    for (int t = 1; t < threads; t++) {
      const float *p = work[t].out;
      for (size_t i = 0; i < partial; i++) out[i] += p[i];
    }
}

void conv2d_forward(const conv_geom *g, const float *x, const float *w, float *y) {
  const int k = g->kh * g->kw * g->ci;
  if (is_pointwise(g)) {
    batched_gemm(0, 0, g->n * g->h * g->w, g->co, k, x, w, y, 1, 0, 0, 0.0f);
    return;
  }
  conv_chunks(g, CONV_FORWARD, x, w, y);
}

void conv2d_backprop_input(const conv_geom *g, const float *dy, const float *w, float *dx) {
  const int k = g->kh * g->kw * g->ci;
  if (is_pointwise(g)) {
    batched_gemm(0, 1, g->n * g->h * g->w, k, g->co, dy, w, dx, 1, 0, 0, 0.0f);
    return;
  }
  memset(dx, 0, sizeof(float) * g->n * g->h * g->w * g->ci);
  conv_chunks(g, CONV_BACKPROP_INPUT, dy, w, dx);
}

void conv2d_backprop_filter(const conv_geom *g, const float *x, const float *dy, float *dw) {
  const int k = g->kh * g->kw * g->ci;
  if (is_pointwise(g)) {
    batched_gemm(1, 0, k, g->co, g->n * g->h * g->w, x, dy, dw, 1, 0, 0, 0.0f);
    return;
  }
  conv_chunks(g, CONV_BACKPROP_FILTER, x, dy, dw);
}
