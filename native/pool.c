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
      const int iy = tap_row(g, oy, ky);
      if (iy < 0) continue;
      for (int kx = 0; kx < g->kw; kx++) {
        const int ix = tap_col(g, ox, kx);
        if (ix < 0) continue;
        const float *in = x + pixel(g, b, iy, ix);
        for (int ch = 0; ch < c; ch++) out[ch] = in[ch] > out[ch] ? in[ch] : out[ch];
      }
    }
  }
}

typedef struct {
  const conv_geom *g;
  const float *dy, *x;
  float *dx;
} max_grad_job;

/* Images [begin, end): each output pixel's gradient goes to the first maximum of its window, channel by channel. */
static void max_pool_grad_images(void *arg, int begin, int end) {
  const max_grad_job *j = arg;
  const conv_geom *g = j->g;
  const int c = g->ci;
  const size_t image = (size_t)g->h * g->w * c;
  float best[256];
  size_t at[256];
  memset(j->dx + begin * image, 0, sizeof(float) * (end - begin) * image);
  for (int b = begin; b < end; b++)
    for (int oy = 0; oy < g->oh; oy++)
      for (int ox = 0; ox < g->ow; ox++) {
        const float *grad = j->dy + out_pixel(g, b, oy, ox);
        for (int c0 = 0; c0 < c; c0 += 256) {
          const int cn = c - c0 < 256 ? c - c0 : 256;
          for (int ch = 0; ch < cn; ch++) {
            best[ch] = -INFINITY;
            at[ch] = (size_t)-1;
          }
          for (int ky = 0; ky < g->kh; ky++) {
            const int iy = tap_row(g, oy, ky);
            if (iy < 0) continue;
            for (int kx = 0; kx < g->kw; kx++) {
              const int ix = tap_col(g, ox, kx);
              if (ix < 0) continue;
              const size_t base = pixel(g, b, iy, ix) + c0;
              const float *in = j->x + base;
              for (int ch = 0; ch < cn; ch++)
                if (in[ch] > best[ch]) {
                  best[ch] = in[ch];
                  at[ch] = base + ch;
                }
            }
          }
          for (int ch = 0; ch < cn; ch++)
            if (at[ch] != (size_t)-1) j->dx[at[ch]] += grad[c0 + ch];
        }
      }
}

void max_pool_grad(const conv_geom *g, const float *dy, const float *x, float *dx) {
  max_grad_job job = {g, dy, x, dx};
  parallel_for(g->n, max_pool_grad_images, &job);
}

void avg_pool(const conv_geom *g, const float *x, float *y) {
  const int c = g->ci;
  FOR_EACH_OUTPUT(g) {
    float *out = y + out_pixel(g, b, oy, ox);
    int count = 0;
    for (int ch = 0; ch < c; ch++) out[ch] = 0;
    for (int ky = 0; ky < g->kh; ky++) {
      const int iy = tap_row(g, oy, ky);
      if (iy < 0) continue;
      for (int kx = 0; kx < g->kw; kx++) {
        const int ix = tap_col(g, ox, kx);
        if (ix < 0) continue;
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
      const int iy = tap_row(g, oy, ky);
      if (iy < 0) continue;
      for (int kx = 0; kx < g->kw; kx++) {
        const int ix = tap_col(g, ox, kx);
        if (ix < 0) continue;
        float *d = dx + pixel(g, b, iy, ix);
        for (int ch = 0; ch < c; ch++) d[ch] += grad[ch] * scale;
      }
    }
  }
}
