/*
 * Broadcasting binary ops (add, sub, mul, div) and the row reductions (sum, max over the last axis) behind TF.js's
 * Add/Sub/Multiply/RealDiv and Sum/Max kernels. One float32 operation of two float32 values is correctly rounded,
 * as JS's double operation rounded to float32 is: the results equal tfjs-backend-cpu's bit for bit.
 */
#include <math.h>
#include "kernels.h"

/* Memory-bound loops: below this many elements a second thread saves less than waking it risks (on a loaded
 * machine a preempted share holds the whole op up). */
#define PARALLEL_MIN (1 << 18)
#define MAX_RANK 8

typedef struct {
  int op, rank;
  const float *a, *b;
  float *out;
  int shape[MAX_RANK];
  long sa[MAX_RANK], sb[MAX_RANK]; /* element strides of a and b along each output dim (0 where broadcast) */
} binary_job;

#define INNER_LOOP(EXPR)                                                            \
  do {                                                                              \
    if (ia && ib)                                                                   \
      for (int i = 0; i < n; i++) { const float x = a[i], y = b[i]; o[i] = EXPR; }  \
    else if (ia)                                                                    \
      for (int i = 0; i < n; i++) { const float x = a[i], y = b[0]; o[i] = EXPR; }  \
    else if (ib)                                                                    \
      for (int i = 0; i < n; i++) { const float x = a[0], y = b[i]; o[i] = EXPR; }  \
    else                                                                            \
      for (int i = 0; i < n; i++) { const float x = a[0], y = b[0]; o[i] = EXPR; }  \
  } while (0)

/* o[i] = op(a[i·ia], b[i·ib]) for i < n, ia and ib 0 or 1. */
VECTOR_CLONES static void inner(int op, const float *restrict a, long ia, const float *restrict b, long ib, float *restrict o, int n) {
  switch (op) {
    case BINARY_ADD: INNER_LOOP(x + y); break;
    case BINARY_SUB: INNER_LOOP(x - y); break;
    case BINARY_MUL: INNER_LOOP(x * y); break;
    default: INNER_LOOP(x / y); break;
  }
}

/* Output rows [begin, end) of the last dim. */
static void binary_rows(void *arg, int begin, int end) {
  const binary_job *j = arg;
  const int r = j->rank, n = j->shape[r - 1];
  for (int row = begin; row < end; row++) {
    long pa = 0, pb = 0, rest = row;
    for (int d = r - 2; d >= 0; d--) {
      const long c = rest % j->shape[d];
      rest /= j->shape[d];
      pa += c * j->sa[d];
      pb += c * j->sb[d];
    }
    inner(j->op, j->a + pa, j->sa[r - 1], j->b + pb, j->sb[r - 1], j->out + (size_t)row * n, n);
  }
}

/* out = a op b over the output shape; strides as in binary_job, the last dim's 0 or 1. Returns 0 on bad rank. */
int binary_op(int op, const float *a, const float *b, float *out, int rank, const int *shape, const int *sa, const int *sb) {
  if (rank < 1 || rank > MAX_RANK) return 0;
  binary_job j = {op, 0, a, b, out, {0}, {0}, {0}};
  /* Merge neighbouring dims where neither input changes its broadcast pattern. */
  size_t total = 1;
  for (int d = 0; d < rank; d++) {
    total *= shape[d];
    if (shape[d] == 1) continue;
    const int k = j.rank - 1;
    if (k >= 0 && j.sa[k] == (long)sa[d] * shape[d] && j.sb[k] == (long)sb[d] * shape[d]) {
      j.shape[k] *= shape[d];
      j.sa[k] = sa[d];
      j.sb[k] = sb[d];
      continue;
    }
    j.shape[j.rank] = shape[d];
    j.sa[j.rank] = sa[d];
    j.sb[j.rank] = sb[d];
    j.rank++;
  }
  if (total == 0) return 1;
  if (j.rank == 0) {
    j.shape[0] = 1;
    j.rank = 1;
  }
  const int rows = (int)(total / j.shape[j.rank - 1]);
  if (total < PARALLEL_MIN || rows < 2) binary_rows(&j, 0, rows);
  else parallel_for(rows, binary_rows, &j);
  return 1;
}

/* ---- exp -------------------------------------------------------------------------------------------------- */

#define EXP_CHUNK 8192

typedef struct {
  const float *x;
  float *y;
  size_t n;
} exp_job;

/* glibc's expf (within 0.502 ulp: the float32 nearest e^x but in rare ties, as JS's Math.exp rounded is). */
static void exp_chunks(void *arg, int begin, int end) {
  const exp_job *j = arg;
  const size_t hi = (size_t)end * EXP_CHUNK < j->n ? (size_t)end * EXP_CHUNK : j->n;
  for (size_t i = (size_t)begin * EXP_CHUNK; i < hi; i++) j->y[i] = expf(j->x[i]);
}

void exp_array(const float *x, float *y, size_t n) {
  exp_job j = {x, y, n};
  const int chunks = (int)((n + EXP_CHUNK - 1) / EXP_CHUNK);
  if (n < 32768) exp_chunks(&j, 0, chunks); /* ~5 ns an element: worth a second thread sooner */
  else parallel_for(chunks, exp_chunks, &j);
}

/* ---- reductions over the last axis -------------------------------------------------------------------------- */

typedef struct {
  const float *x;
  float *out;
  int cols, max;
} reduce_job;

/* Sums in double in index order and max with NaN propagation, as tfjs-backend-cpu's Sum and Max. */
static void reduce_rows(void *arg, int begin, int end) {
  const reduce_job *j = arg;
  const int n = j->cols;
  for (int r = begin; r < end; r++) {
    const float *x = j->x + (size_t)r * n;
    if (j->max) {
      float m = x[0];
      for (int c = 1; c < n; c++) {
        const float v = x[c];
        if (v > m || isnan(v)) m = v;
      }
      j->out[r] = m;
    } else {
      double s = 0;
      for (int c = 0; c < n; c++) s += x[c];
      j->out[r] = (float)s;
    }
  }
}

void reduce_last(const float *x, float *out, size_t rows, int cols, int max) {
  reduce_job j = {x, out, cols, max};
  if (rows * cols < PARALLEL_MIN || rows < 2) reduce_rows(&j, 0, (int)rows);
  else parallel_for((int)rows, reduce_rows, &j);
}
