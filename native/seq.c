/*
 * The row-wise kernels of a transformer step: softmax (with the attention scale and masks) and its gradient,
 * LayerNorm forward/backward, GELU forward/backward. Each follows the op-by-op formula of src/engine/sequence-ops.ts
 * in float32 (sums in double), so the backends agree to rounding. Work is split by rows, or by columns for the sums
 * over rows: every output element is computed by one thread in a fixed order, so the results do not depend on the
 * thread count.
 */
#include <math.h>
#include <string.h>
#include "fastmath.h"
#include "kernels.h"

/* Below this many elements a kernel runs on the calling thread (waking the others costs more). */
#define PARALLEL_MIN 32768
#define MASKED (-1e9f)

static void split_rows(size_t rows, size_t cols, range_fn fn, void *ctx) {
  if (rows * cols < PARALLEL_MIN) fn(ctx, 0, (int)rows);
  else parallel_for((int)rows, fn, ctx);
}

/* ---- softmax ---------------------------------------------------------------------------------------------- */

typedef struct {
  const float *x, *dy;
  float *y;
  int cols;
  float scale;
  int causal_q;        /* > 0: rows are [..., q, cols]; key j of query i is masked when j > i + cols − q */
  const float *mask;   /* [groups, cols] keep (1) / drop (0) per key, or NULL */
  size_t rows_per_mask; /* rows that share one mask row */
} softmax_job;

VECTOR_CLONES static void softmax_range(void *arg, int begin, int end) {
  const softmax_job *j = arg;
  const int n = j->cols;
  for (int r = begin; r < end; r++) {
    const float *x = j->x + (size_t)r * n;
    float *y = j->y + (size_t)r * n;
    /* z = x·scale + bias, bias = min(causal bias, padding bias (1 − m)·MASKED) as the composed op adds it: a key
     * masked for both reasons gets MASKED once, so a row with every key masked is uniform over all its keys (as the
     * ONNX export's Where(masked, −1e9, 0) gives). */
    if (j->scale != 1.0f)
      for (int c = 0; c < n; c++) y[c] = x[c] * j->scale;
    else
      memcpy(y, x, sizeof(float) * n);
    const int last = j->causal_q > 0 ? r % j->causal_q + n - j->causal_q : n - 1; /* the last key this query sees */
    if (j->mask) {
      const float *m = j->mask + (size_t)(r / j->rows_per_mask) * n;
      for (int c = 0; c < n; c++) {
        const float pad = (1.0f - m[c]) * MASKED;
        const float bias = c > last ? (MASKED < pad ? MASKED : pad) : pad;
        y[c] = y[c] + bias;
      }
    } else {
      for (int c = last + 1 < 0 ? 0 : last + 1; c < n; c++) y[c] = y[c] + MASKED;
    }
    float mx = y[0];
    for (int c = 1; c < n; c++) mx = y[c] > mx ? y[c] : mx;
    for (int c = 0; c < n; c++) y[c] = fast_expf(y[c] - mx);
    double sum = 0;
    for (int c = 0; c < n; c++) sum += y[c];
    const float s = (float)sum;
    for (int c = 0; c < n; c++) y[c] = y[c] / s;
  }
}

void softmax_rows(const float *x, float *y, size_t rows, int cols, float scale, int causal_q, const float *mask,
                  size_t rows_per_mask) {
  softmax_job job = {x, NULL, y, cols, scale, causal_q, mask, rows_per_mask ? rows_per_mask : 1};
  split_rows(rows, cols, softmax_range, &job);
}

/* dx = scale·(dy·y − y·Σ dy·y) per row (y: the softmax output; dx written to j->y). */
VECTOR_CLONES static void softmax_grad_range(void *arg, int begin, int end) {
  const softmax_job *j = arg;
  const int n = j->cols;
  const float *yv = j->mask; /* the saved softmax output rides in `mask` */
  for (int r = begin; r < end; r++) {
    const float *dy = j->dy + (size_t)r * n, *y = yv + (size_t)r * n;
    float *dx = j->y + (size_t)r * n;
    double dot = 0;
    for (int c = 0; c < n; c++) {
      dx[c] = dy[c] * y[c];
      dot += dx[c];
    }
    const float d = (float)dot;
    if (j->scale != 1.0f)
      for (int c = 0; c < n; c++) dx[c] = (dx[c] - d * y[c]) * j->scale;
    else
      for (int c = 0; c < n; c++) dx[c] = dx[c] - d * y[c];
  }
}

void softmax_grad_rows(const float *dy, const float *y, float *dx, size_t rows, int cols, float scale) {
  softmax_job job = {NULL, dy, dx, cols, scale, 0, y, 1};
  split_rows(rows, cols, softmax_grad_range, &job);
}

/* ---- LayerNorm -------------------------------------------------------------------------------------------- */

typedef struct {
  const float *x, *dy, *gamma, *beta, *xhat, *rstd;
  float *y, *xhat_out, *rstd_out, *dx, *dgamma, *dbeta;
  int d;
  size_t rows;
  float eps;
} norm_job;

/* x̂ = (x − μ)·rstd, rstd = 1/√(σ² + ε) (biased σ²), y = γ·x̂ + β. */
VECTOR_CLONES static void norm_forward_range(void *arg, int begin, int end) {
  const norm_job *j = arg;
  const int d = j->d;
  for (int r = begin; r < end; r++) {
    const float *x = j->x + (size_t)r * d;
    float *xh = j->xhat_out + (size_t)r * d, *y = j->y + (size_t)r * d;
    double sum = 0;
    for (int c = 0; c < d; c++) sum += x[c];
    const float mean = (float)(sum / d);
    double sq = 0;
    for (int c = 0; c < d; c++) {
      xh[c] = x[c] - mean;
      sq += (double)xh[c] * xh[c];
    }
    const float var = (float)(sq / d);
    const float rstd = (float)(1.0 / sqrt((double)(var + j->eps)));
    j->rstd_out[r] = rstd;
    for (int c = 0; c < d; c++) {
      xh[c] = xh[c] * rstd;
      y[c] = xh[c] * j->gamma[c] + j->beta[c];
    }
  }
}

void layer_norm_forward(const float *x, const float *gamma, const float *beta, float *y, float *xhat, float *rstd,
                        size_t rows, int d, float eps) {
  norm_job job = {.x = x, .gamma = gamma, .beta = beta, .y = y, .xhat_out = xhat, .rstd_out = rstd, .d = d, .rows = rows, .eps = eps};
  split_rows(rows, d, norm_forward_range, &job);
}

/* With g = dy·γ: dx = (g − mean(g) − x̂·mean(g·x̂))·rstd, per row. */
VECTOR_CLONES static void norm_dx_range(void *arg, int begin, int end) {
  const norm_job *j = arg;
  const int d = j->d;
  for (int r = begin; r < end; r++) {
    const float *dy = j->dy + (size_t)r * d, *xh = j->xhat + (size_t)r * d;
    float *dx = j->dx + (size_t)r * d;
    double sg = 0, sgx = 0;
    for (int c = 0; c < d; c++) {
      dx[c] = dy[c] * j->gamma[c];
      sg += dx[c];
      sgx += (double)(dx[c] * xh[c]);
    }
    const float mg = (float)(sg / d), mgx = (float)(sgx / d), rstd = j->rstd[r];
    for (int c = 0; c < d; c++) dx[c] = ((dx[c] - mg) - xh[c] * mgx) * rstd;
  }
}

/* ∂γ = Σ_rows dy·x̂, ∂β = Σ_rows dy for columns [begin, end), rows in order. */
VECTOR_CLONES static void norm_dparams_range(void *arg, int begin, int end) {
  const norm_job *j = arg;
  const int d = j->d;
  double sg[256], sb[256];
  for (int c0 = begin; c0 < end; c0 += 256) {
    const int cn = end - c0 < 256 ? end - c0 : 256;
    for (int c = 0; c < cn; c++) sg[c] = sb[c] = 0;
    for (size_t r = 0; r < j->rows; r++) {
      const float *dy = j->dy + r * d + c0, *xh = j->xhat + r * d + c0;
      for (int c = 0; c < cn; c++) {
        sg[c] += (double)(dy[c] * xh[c]);
        sb[c] += dy[c];
      }
    }
    for (int c = 0; c < cn; c++) {
      j->dgamma[c0 + c] = (float)sg[c];
      j->dbeta[c0 + c] = (float)sb[c];
    }
  }
}

void layer_norm_backward(const float *dy, const float *xhat, const float *rstd, const float *gamma, float *dx,
                         float *dgamma, float *dbeta, size_t rows, int d) {
  norm_job job = {.dy = dy, .xhat = xhat, .rstd = rstd, .gamma = gamma, .dx = dx, .dgamma = dgamma, .dbeta = dbeta, .d = d, .rows = rows};
  split_rows(rows, d, norm_dx_range, &job);
  /* Column blocks of at least 16 so threads do not share cache lines of ∂γ/∂β. */
  if (rows * d < PARALLEL_MIN || d < 32) norm_dparams_range(&job, 0, d);
  else parallel_for(d, norm_dparams_range, &job);
}

/* ---- GELU (tanh form) ------------------------------------------------------------------------------------- */

#define SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_C 0.044715f
#define GELU_3C 0.134145f
#define GELU_CHUNK 4096

typedef struct {
  const float *x, *dy;
  float *out;
  size_t len;
} gelu_job;

/* y = ½·x·(1 + tanh u), u = √(2/π)·(x + 0.044715·x³). */
VECTOR_CLONES static void gelu_range(void *arg, int begin, int end) {
  const gelu_job *j = arg;
  const size_t lo = (size_t)begin * GELU_CHUNK, hi = (size_t)end * GELU_CHUNK < j->len ? (size_t)end * GELU_CHUNK : j->len;
  for (size_t i = lo; i < hi; i++) {
    const float x = j->x[i];
    const float u = (x + (x * x * x) * GELU_C) * SQRT_2_OVER_PI;
    j->out[i] = (x * 0.5f) * (1.0f + fast_tanhf(u));
  }
}

/* dx = dy·(½·(1 + t) + ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)), t = tanh u. */
VECTOR_CLONES static void gelu_grad_range(void *arg, int begin, int end) {
  const gelu_job *j = arg;
  const size_t lo = (size_t)begin * GELU_CHUNK, hi = (size_t)end * GELU_CHUNK < j->len ? (size_t)end * GELU_CHUNK : j->len;
  for (size_t i = lo; i < hi; i++) {
    const float x = j->x[i], x2 = x * x;
    const float t = fast_tanhf((x + (x2 * x) * GELU_C) * SQRT_2_OVER_PI);
    const float du = (1.0f + x2 * GELU_3C) * SQRT_2_OVER_PI;
    const float d = 0.5f * (1.0f + t) + ((0.5f * x) * (1.0f - t * t)) * du;
    j->out[i] = j->dy[i] * d;
  }
}

static void run_chunks(size_t len, range_fn fn, void *ctx) {
  const int chunks = (int)((len + GELU_CHUNK - 1) / GELU_CHUNK);
  if (len < PARALLEL_MIN) fn(ctx, 0, chunks);
  else parallel_for(chunks, fn, ctx);
}

void gelu_forward(const float *x, float *y, size_t len) {
  gelu_job job = {x, NULL, y, len};
  run_chunks(len, gelu_range, &job);
}

void gelu_backward(const float *dy, const float *x, float *dx, size_t len) {
  gelu_job job = {x, dy, dx, len};
  run_chunks(len, gelu_grad_range, &job);
}
