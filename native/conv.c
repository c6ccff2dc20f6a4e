/* conv2d as im2col + gemm, in chunks of whole images so the patch matrix stays small (it is kh·kw times the input). */
#include <stdlib.h>
#include <string.h>
#include "blas.h"
#include "kernels.h"

#define CHUNK_FLOATS ((size_t)4 << 20)

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
          const int iy = oy * g->sh - g->top + ky * g->dh;
          for (int kx = 0; kx < g->kw; kx++) {
            const int ix = ox * g->sw - g->left + kx * g->dw;
            float *dst = row + ((size_t)ky * g->kw + kx) * g->ci;
            if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) memset(dst, 0, sizeof(float) * g->ci);
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
          const int iy = oy * g->sh - g->top + ky * g->dh;
          if (iy < 0 || iy >= g->h) continue;
          for (int kx = 0; kx < g->kw; kx++) {
            const int ix = ox * g->sw - g->left + kx * g->dw;
            if (ix < 0 || ix >= g->w) continue;
            const float *src = row + ((size_t)ky * g->kw + kx) * g->ci;
            float *dst = db + ((size_t)iy * g->w + ix) * g->ci;
            for (int c = 0; c < g->ci; c++) dst[c] += src[c];
          }
        }
      }
    }
  }
}

void conv2d_forward(const conv_geom *g, const float *x, const float *w, float *y) {
  const int k = g->kh * g->kw * g->ci;
  if (is_pointwise(g)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->n * g->h * g->w, g->co, k, 1.0f, x, k, w, g->co, 0.0f, y, g->co);
    return;
  }
  const int chunk = images_per_chunk(g);
  const size_t rows_per_image = (size_t)g->oh * g->ow;
  float *col = malloc(sizeof(float) * chunk * rows_per_image * k);
  for (int b0 = 0; b0 < g->n; b0 += chunk) {
    const int count = g->n - b0 < chunk ? g->n - b0 : chunk;
    im2col(g, x + (size_t)b0 * g->h * g->w * g->ci, count, col);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(count * rows_per_image), g->co, k, 1.0f, col, k, w,
                g->co, 0.0f, y + b0 * rows_per_image * g->co, g->co);
  }
  free(col);
}

void conv2d_backprop_input(const conv_geom *g, const float *dy, const float *w, float *dx) {
  const int k = g->kh * g->kw * g->ci;
  if (is_pointwise(g)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->n * g->h * g->w, k, g->co, 1.0f, dy, g->co, w, g->co, 0.0f, dx, k);
    return;
  }
  memset(dx, 0, sizeof(float) * g->n * g->h * g->w * g->ci);
  const int chunk = images_per_chunk(g);
  const size_t rows_per_image = (size_t)g->oh * g->ow;
  float *col = malloc(sizeof(float) * chunk * rows_per_image * k);
  for (int b0 = 0; b0 < g->n; b0 += chunk) {
    const int count = g->n - b0 < chunk ? g->n - b0 : chunk;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(count * rows_per_image), k, g->co, 1.0f,
                dy + b0 * rows_per_image * g->co, g->co, w, g->co, 0.0f, col, k);
    col2im(g, col, count, dx + (size_t)b0 * g->h * g->w * g->ci);
  }
  free(col);
}

void conv2d_backprop_filter(const conv_geom *g, const float *x, const float *dy, float *dw) {
  const int k = g->kh * g->kw * g->ci;
  if (is_pointwise(g)) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, g->co, g->n * g->h * g->w, 1.0f, x, k, dy, g->co, 0.0f, dw, g->co);
    return;
  }
  const int chunk = images_per_chunk(g);
  const size_t rows_per_image = (size_t)g->oh * g->ow;
  float *col = malloc(sizeof(float) * chunk * rows_per_image * k);
  for (int b0 = 0; b0 < g->n; b0 += chunk) {
    const int count = g->n - b0 < chunk ? g->n - b0 : chunk;
    im2col(g, x + (size_t)b0 * g->h * g->w * g->ci, count, col);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, g->co, (int)(count * rows_per_image), 1.0f, col, k,
                dy + b0 * rows_per_image * g->co, g->co, b0 == 0 ? 0.0f : 1.0f, dw, g->co);
  }
  free(col);
}
