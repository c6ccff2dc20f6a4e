/* Matrix products and the elementwise epilogues that follow them. */
#include <math.h>
#include "blas.h"
#include "kernels.h"

/* OpenBLAS 0.3.21 splits even tiny products across its threads; below this size (or with a thin inner dimension,
 * like a 10-class output layer's gradients) waking the second thread costs more than it saves: measured 2.6×
 * slower for 128×800×10 (bench/gemm-threads.ts prints the table). */
double small_gemm_macs = 4.0 * 1024 * 1024;
int thin_gemm_k = 16;

void batched_gemm(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b, float *c,
                  int batch, size_t stride_a, size_t stride_b, float beta) {
  const int lda = trans_a ? m : k;
  const int ldb = trans_b ? k : n;
#if !defined(__APPLE__)
  const int threads = openblas_get_num_threads();
  const int single = threads > 1 && ((double)m * n * k < small_gemm_macs || k < thin_gemm_k);
  if (single) openblas_set_num_threads(1);
#endif
  for (int i = 0; i < batch; i++) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
                1.0f, a + i * stride_a, lda, b + i * stride_b, ldb, beta, c + (size_t)i * m * n, n);
  }
#if !defined(__APPLE__)
  if (single) openblas_set_num_threads(threads);
#endif
}

static inline float activate(float z, int act, float alpha) {
  switch (act) {
    case ACT_RELU: return z > 0 ? z : 0;
    case ACT_RELU6: return z < 0 ? 0 : (z > 6 ? 6 : z);
    case ACT_ELU: return z >= 0 ? z : expf(z) - 1;
    case ACT_LEAKYRELU: return z < 0 ? alpha * z : z;
    case ACT_SIGMOID: return 1.0f / (1.0f + expf(-z));
    default: return z;
  }
}

VECTOR_CLONES void bias_act(float *c, size_t rows, int cols, const float *bias, int act, float alpha) {
  if (!bias && act == ACT_LINEAR) return;
  for (size_t r = 0; r < rows; r++) {
    float *row = c + r * cols;
    if (bias)
      for (int j = 0; j < cols; j++) row[j] += bias[j];
    if (act == ACT_RELU) {
      for (int j = 0; j < cols; j++) row[j] = row[j] > 0 ? row[j] : 0;
    } else if (act != ACT_LINEAR) {
      for (int j = 0; j < cols; j++) row[j] = activate(row[j], act, alpha);
    }
  }
}

/* dz = dy·act'(z) from the activation's output y (what the custom-grad ops in src/engine/ops.ts save). */
VECTOR_CLONES void activation_grad(const float *dy, const float *y, float *dz, size_t len, int act) {
  switch (act) {
    case ACT_RELU:
      for (size_t i = 0; i < len; i++) dz[i] = y[i] > 0 ? dy[i] : 0;
      break;
    case ACT_SIGMOID:
      for (size_t i = 0; i < len; i++) dz[i] = dy[i] * (y[i] * (1 - y[i]));
      break;
    case ACT_TANH:
      for (size_t i = 0; i < len; i++) dz[i] = dy[i] * (1 - y[i] * y[i]);
      break;
    default:
      for (size_t i = 0; i < len; i++) dz[i] = dy[i];
  }
}

VECTOR_CLONES void sum_rows(const float *x, float *out, size_t rows, size_t cols) {
  for (size_t j = 0; j < cols; j++) out[j] = 0;
  for (size_t r = 0; r < rows; r++) {
    const float *row = x + r * cols;
    for (size_t j = 0; j < cols; j++) out[j] += row[j];
  }
}

/* The JS loops in src/train/optimizers.ts, in the same (double) arithmetic, so both paths give the same numbers. */
VECTOR_CLONES void adam_update(float *out, const float *p, const float *g, float *m, float *v, size_t len, double step_size,
                 double beta1, double beta2, double eps, double keep) {
  const double b1 = 1 - beta1, b2 = 1 - beta2;
  for (size_t j = 0; j < len; j++) {
    const double gj = g[j];
    const double mj = beta1 * m[j] + b1 * gj;
    const double vj = beta2 * v[j] + b2 * gj * gj;
    m[j] = (float)mj;
    v[j] = (float)vj;
    out[j] = (float)(keep * p[j] - (step_size * mj) / (sqrt(vj) + eps));
  }
}

VECTOR_CLONES void sgd_update(float *out, const float *p, const float *g, float *vel, size_t len, double lr, double momentum,
                int nesterov, double weight_decay) {
  for (size_t j = 0; j < len; j++) {
    const double gj = g[j] + weight_decay * p[j];
    const double vj = momentum * vel[j] + gj;
    vel[j] = (float)vj;
    out[j] = (float)(p[j] - lr * (nesterov ? gj + momentum * vj : vj));
  }
}
