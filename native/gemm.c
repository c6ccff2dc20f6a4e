/* Matrix products and the elementwise epilogues that follow them. */
#include <math.h>
#include <stdlib.h>
#include "blas.h"
#include "kernels.h"

/* Products below this size (or with a thin inner dimension, like a 10-class output layer's gradients) run on one
 * thread: waking a second costs more than it saves (measured 2.6× slower for 128×800×10 with OpenBLAS's own
 * threads; bench/gemm-threads.ts prints the table). */
double small_gemm_macs = 4.0 * 1024 * 1024;
int thin_gemm_k = 16;

/* Splits of one product's rows (or columns) start at multiples of this: whole register tiles of the BLAS kernels. */
#define SPLIT_ALIGN 16

typedef struct {
  int trans_a, trans_b, m, n, k;
  const float *a, *b;
  float *c;
  size_t stride_a, stride_b;
  float beta;
  int parts;   /* pieces per product */
  int split;   /* pieces are row blocks (SPLIT_M), column blocks (SPLIT_N) or slices of k (SPLIT_K) */
  float *partial; /* SPLIT_K: pieces 1… write [parts − 1][m·n] here, added to c in order afterwards */
} gemm_job;

enum { SPLIT_M, SPLIT_N, SPLIT_K };

static int piece_start(int size, int parts, int p) {
  if (p >= parts) return size;
  const int s = (int)((long)size * p / parts);
  return s - s % SPLIT_ALIGN;
}

/* Tasks [begin, end): task t is piece t % parts of product t / parts, each one single-threaded BLAS call. */
static void gemm_tasks(void *arg, int begin, int end) {
  const gemm_job *j = arg;
  const int lda = j->trans_a ? j->m : j->k;
  const int ldb = j->trans_b ? j->k : j->n;
  for (int t = begin; t < end; t++) {
    const int item = t / j->parts, p = t % j->parts;
    const float *a = j->a + item * j->stride_a;
    const float *b = j->b + item * j->stride_b;
    float *c = j->c + (size_t)item * j->m * j->n;
    int m = j->m, n = j->n;
    int k = j->k;
    float beta = j->beta;
    if (j->parts > 1) {
      const int dim = j->split == SPLIT_M ? j->m : j->split == SPLIT_N ? j->n : j->k;
      const int lo = piece_start(dim, j->parts, p), hi = piece_start(dim, j->parts, p + 1);
      if (j->split == SPLIT_M) {
        if (hi <= lo) continue;
        a += j->trans_a ? lo : (size_t)lo * j->k;
        c += (size_t)lo * j->n;
        m = hi - lo;
      } else if (j->split == SPLIT_N) {
        if (hi <= lo) continue;
        b += j->trans_b ? (size_t)lo * j->k : lo;
        c += lo;
        n = hi - lo;
      } else {
        a += j->trans_a ? (size_t)lo * j->m : lo;
        b += j->trans_b ? lo : (size_t)lo * j->n;
        if (p > 0) {
          c = j->partial + (size_t)(p - 1) * m * n;
          beta = 0.0f;
        }
        k = hi - lo;
        if (k == 0) { /* an empty slice still owes its (zero) partial sum */
          for (size_t i = 0; i < (size_t)m * n; i++) c[i] = p > 0 || beta == 0.0f ? 0.0f : c[i] * beta;
          continue;
        }
      }
    }
    cblas_sgemm(CblasRowMajor, j->trans_a ? CblasTrans : CblasNoTrans, j->trans_b ? CblasTrans : CblasNoTrans, m, n,
                k, 1.0f, a, lda, b, ldb, beta, c, j->n);
  }
}

/*
 * c[i] = op(a[i])·op(b[i]) (+ beta·c[i]) for i < batch. The products are spread over worker_threads(): whole
 * products when there are at least as many as threads, else one product cut into row blocks (when it has at
 * least as many rows as columns: the panel each piece packs again is then the smaller), column blocks, or, when
 * k is the longest side (weight gradients: 3136×128 of a dense layer over 128 samples), slices of k whose
 * partial products are added in order. Fixed pieces for a thread count, so the same numbers on every run.
 */
void batched_gemm(int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b, float *c,
                  int batch, size_t stride_a, size_t stride_b, float beta) {
  const int threads = worker_threads();
  gemm_job job = {trans_a, trans_b, m, n, k, a, b, c, stride_a, stride_b, beta, 1, SPLIT_M, NULL};
  const double macs = (double)m * n * k * batch;
  if (threads <= 1 || macs < small_gemm_macs || k < thin_gemm_k) {
    gemm_tasks(&job, 0, batch);
    return;
  }
  if (batch == 1 && k >= (m > n ? m : n)) {
    int parts = threads;
    while (parts > 1 && k / parts < 4 * SPLIT_ALIGN) parts--;
    float *partial = parts > 1 ? malloc(sizeof(float) * (size_t)(parts - 1) * m * n) : NULL;
    if (partial) {
      job.split = SPLIT_K;
      job.parts = parts;
      job.partial = partial;
      parallel_for(parts, gemm_tasks, &job);
      for (int p = 0; p < parts - 1; p++) {
        const float *q = partial + (size_t)p * m * n;
        for (size_t i = 0; i < (size_t)m * n; i++) c[i] += q[i];
      }
      free(partial);
      return;
    }
  }
  if (batch < threads) {
    job.split = m >= n ? SPLIT_M : SPLIT_N;
    const int dim = m >= n ? m : n;
    int parts = (threads + batch - 1) / batch;
    while (parts > 1 && dim / parts < SPLIT_ALIGN) parts--;
    job.parts = parts;
  }
  parallel_for(batch * job.parts, gemm_tasks, &job);
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
