/* 2-D pooling in NHWC with TF.js's cpu semantics: padding is skipped, max takes the first maximum, the average
 * divides by the number of in-bounds pixels forward but by the window size backward (as tfjs-backend-cpu does). */
#include <math.h>
#include <string.h>
#include "kernels.h"

#define FOR_EACH_OUTPUT(g)                                      \
  for (int b = 0; b < (g)->n; b++)                              \
    for (int oy = 0; oy < (g)->oh; oy++)                        \
      for (int ox = 0; ox < (g)->ow; ox++)

static inline size_t pixel(const conv_geom *g, int b, int y, int x) { return (((size_t)b * g->h + y) * g->w + x) * g->ci; }
static inline size_t out_pixel(const conv_geom *g, int b, int y, int x) { return (((size_t)b * g->oh + y) * g->ow + x) * g->ci; }

void max_pool(const conv_geom *g, const float *x, float *y) {
  const int c = g->ci;
  FOR_EACH_OUTPUT(g) {
    float *out = y + out_pixel(g, b, oy, ox);
    for (int ch = 0; ch < c; ch++) out[ch] = -INFINITY;
    for (int ky = 0; ky < g->kh; ky++) {
      const int iy = oy * g->sh - g->top + ky * g->dh;
      if (iy < 0 || iy >= g->h) continue;
      for (int kx = 0; kx < g->kw; kx++) {
        const int ix = ox * g->sw - g->left + kx * g->dw;
        if (ix < 0 || ix >= g->w) continue;
        const float *in = x + pixel(g, b, iy, ix);
        for (int ch = 0; ch < c; ch++) out[ch] = in[ch] > out[ch] ? in[ch] : out[ch];
      }
    }
  }
}

void max_pool_grad(const conv_geom *g, const float *dy, const float *x, float *dx) {
  const int c = g->ci;
  memset(dx, 0, sizeof(float) * g->n * g->h * g->w * c);
  FOR_EACH_OUTPUT(g) {
    const float *grad = dy + out_pixel(g, b, oy, ox);
    for (int ch = 0; ch < c; ch++) {
      float best = -INFINITY;
      size_t at = (size_t)-1;
      for (int ky = 0; ky < g->kh; ky++) {
        const int iy = oy * g->sh - g->top + ky * g->dh;
        if (iy < 0 || iy >= g->h) continue;
        for (int kx = 0; kx < g->kw; kx++) {
          const int ix = ox * g->sw - g->left + kx * g->dw;
          if (ix < 0 || ix >= g->w) continue;
          const size_t i = pixel(g, b, iy, ix) + ch;
          if (x[i] > best) {
            best = x[i];
            at = i;
          }
        }
      }
      if (at != (size_t)-1) dx[at] += grad[ch];
    }
  }
}

void avg_pool(const conv_geom *g, const float *x, float *y) {
  const int c = g->ci;
  FOR_EACH_OUTPUT(g) {
    float *out = y + out_pixel(g, b, oy, ox);
    int count = 0;
    for (int ch = 0; ch < c; ch++) out[ch] = 0;
    for (int ky = 0; ky < g->kh; ky++) {
      const int iy = oy * g->sh - g->top + ky * g->dh;
      if (iy < 0 || iy >= g->h) continue;
      for (int kx = 0; kx < g->kw; kx++) {
        const int ix = ox * g->sw - g->left + kx * g->dw;
        if (ix < 0 || ix >= g->w) continue;
        const float *in = x + pixel(g, b, iy, ix);
        for (int ch = 0; ch < c; ch++) out[ch] += in[ch];
        count++;
      }
    }
    const float scale = 1.0f / (float)(count > 0 ? count : 1);
    for (int ch = 0; ch < c; ch++) out[ch] *= scale;
  }
}

void avg_pool_grad(const conv_geom *g, const float *dy, float *dx) {
  const int c = g->ci;
  const float scale = 1.0f / (float)(g->kh * g->kw);
  memset(dx, 0, sizeof(float) * g->n * g->h * g->w * c);
  FOR_EACH_OUTPUT(g) {
    const float *grad = dy + out_pixel(g, b, oy, ox);
    for (int ky = 0; ky < g->kh; ky++) {
      const int iy = oy * g->sh - g->top + ky * g->dh;
      if (iy < 0 || iy >= g->h) continue;
      for (int kx = 0; kx < g->kw; kx++) {
        const int ix = ox * g->sw - g->left + kx * g->dw;
        if (ix < 0 || ix >= g->w) continue;
        float *d = dx + pixel(g, b, iy, ix);
        for (int ch = 0; ch < c; ch++) d[ch] += grad[ch] * scale;
      }
    }
  }
}
