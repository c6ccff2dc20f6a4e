/* Data movement: transpose (any permutation), gather of slices by index, and its adjoint, the segment sum. */
#include <string.h>
#include "kernels.h"

/* Copies are memory-bound: below this many elements one thread is as fast as two (see elementwise.c). */
#define PARALLEL_MIN (1 << 18)
#define MAX_RANK 8
#define TILE 32

/* ---- transpose -------------------------------------------------------------------------------------------- */

typedef struct {
  const float *x;
  float *y;
  int rank;               /* after merging and dropping unit dims; the inner one or two dims are walked here */
  int shape[MAX_RANK];    /* output dims */
  size_t stride[MAX_RANK]; /* input stride of each output dim */
  int tiled;              /* the last two output dims are a 2-D transpose (input stride 1 on the second last) */
} transpose_job;

/* Outer index o (over all output dims but the inner one, or two when tiled) → input offset. */
static size_t outer_offset(const transpose_job *j, size_t o, int inner_dims) {
  size_t off = 0;
  for (int d = j->rank - 1 - inner_dims; d >= 0; d--) {
    off += (o % j->shape[d]) * j->stride[d];
    o /= j->shape[d];
  }
  return off;
}

static void transpose_range(void *arg, int begin, int end) {
  const transpose_job *j = arg;
  const int r = j->rank;
  if (j->tiled) {
    const int a = j->shape[r - 2], b = j->shape[r - 1];
    const size_t sb = j->stride[r - 1]; /* input stride along output's last dim; stride along a is 1 */
    for (int o = begin; o < end; o++) {
      const float *x = j->x + outer_offset(j, o, 2);
      float *y = j->y + (size_t)o * a * b;
      for (int i0 = 0; i0 < a; i0 += TILE)
        for (int k0 = 0; k0 < b; k0 += TILE) {
          const int i1 = i0 + TILE < a ? i0 + TILE : a, k1 = k0 + TILE < b ? k0 + TILE : b;
          for (int i = i0; i < i1; i++)
            for (int k = k0; k < k1; k++) y[(size_t)i * b + k] = x[i + k * sb];
        }
    }
    return;
  }
  const int n = j->shape[r - 1];
  const size_t s = j->stride[r - 1];
  for (int o = begin; o < end; o++) {
    const float *x = j->x + outer_offset(j, o, 1);
    float *y = j->y + (size_t)o * n;
    if (s == 1) memcpy(y, x, sizeof(float) * n);
    else
      for (int k = 0; k < n; k++) y[k] = x[k * s];
  }
}

/* y = x permuted: output dim i is input dim perm[i]. Returns 0 when the rank is beyond MAX_RANK. */
int transpose(const float *x, float *y, int rank, const int *shape, const int *perm) {
  if (rank > MAX_RANK) return 0;
  size_t in_stride[MAX_RANK], total = 1;
  for (int d = rank - 1; d >= 0; d--) {
    in_stride[d] = total;
    total *= shape[d];
  }
  if (total == 0) return 1;
  transpose_job j = {x, y, 0, {0}, {0}, 0};
  /* Drop unit dims, merge output neighbours that are input neighbours too. */
  for (int i = 0; i < rank; i++) {
    const int p = perm[i];
    if (shape[p] == 1) continue;
    if (j.rank > 0 && j.stride[j.rank - 1] == in_stride[p] * shape[p]) {
      j.shape[j.rank - 1] *= shape[p];
      j.stride[j.rank - 1] = in_stride[p];
      continue;
    }
    j.shape[j.rank] = shape[p];
    j.stride[j.rank] = in_stride[p];
    j.rank++;
  }
  if (j.rank == 0) {
    y[0] = x[0];
    return 1;
  }
  j.tiled = j.rank >= 2 && j.stride[j.rank - 1] != 1 && j.stride[j.rank - 2] == 1;
  const int inner = j.tiled ? j.shape[j.rank - 1] * j.shape[j.rank - 2] : j.shape[j.rank - 1];
  const int outer = (int)(total / inner);
  if (total < PARALLEL_MIN) transpose_range(&j, 0, outer);
  else parallel_for(outer, transpose_range, &j);
  return 1;
}

/* ---- gather and segment sum ------------------------------------------------------------------------------- */

typedef struct {
  const float *x;
  const int *idx;
  float *y;
  int outer, dim, slice, count; /* per batch item: x [outer, dim, slice], idx [count], y [outer, count, slice] */
  int segments;
  size_t rows;
} gather_job;

static void gather_range(void *arg, int begin, int end) {
  const gather_job *j = arg;
  for (int r = begin; r < end; r++) {
    const int i = r % j->count, bo = r / j->count, b = bo / j->outer;
    const float *src = j->x + ((size_t)bo * j->dim + j->idx[(size_t)b * j->count + i]) * j->slice;
    memcpy(j->y + (size_t)r * j->slice, src, sizeof(float) * j->slice);
  }
}

/* y[b, o, i, :] = x[b, o, idx[b, i], :]; indices already checked to lie in [0, dim). */
void gather_slices(const float *x, const int *idx, float *y, int batch, int outer, int dim, int slice, int count) {
  gather_job j = {x, idx, y, outer, dim, slice, count, 0, 0};
  const int rows = batch * outer * count;
  if ((size_t)rows * slice < PARALLEL_MIN) gather_range(&j, 0, rows);
  else parallel_for(rows, gather_range, &j);
}

/* Columns [begin, end) of every segment: rows added in order, so each element's sum has one fixed order. */
VECTOR_CLONES static void segment_columns(void *arg, int begin, int end) {
  const gather_job *j = arg;
  const int w = j->slice;
  for (int s = 0; s < j->segments; s++) memset(j->y + (size_t)s * w + begin, 0, sizeof(float) * (end - begin));
  for (size_t r = 0; r < j->rows; r++) {
    const int s = j->idx[r];
    if (s < 0 || s >= j->segments) continue;
    const float *src = j->x + r * w;
    float *dst = j->y + (size_t)s * w;
    for (int c = begin; c < end; c++) dst[c] += src[c];
  }
}

/* Column blocks [begin, end) of SEGMENT_BLOCK (whole cache lines per thread). */
#define SEGMENT_BLOCK 16
static void segment_blocks(void *arg, int begin, int end) {
  const gather_job *j = arg;
  const int hi = end * SEGMENT_BLOCK < j->slice ? end * SEGMENT_BLOCK : j->slice;
  segment_columns(arg, begin * SEGMENT_BLOCK, hi);
}

/* Segments [begin, end): the same sums, split by segment when rows are too narrow to split by column. */
static void segment_rows(void *arg, int begin, int end) {
  const gather_job *j = arg;
  const int w = j->slice;
  memset(j->y + (size_t)begin * w, 0, sizeof(float) * (size_t)(end - begin) * w);
  for (size_t r = 0; r < j->rows; r++) {
    const int s = j->idx[r];
    if (s < begin || s >= end) continue;
    const float *src = j->x + r * w;
    float *dst = j->y + (size_t)s * w;
    for (int c = 0; c < w; c++) dst[c] += src[c];
  }
}

/* y[s, :] = Σ_{r: ids[r] = s} x[r, :] for s < segments; ids outside [0, segments) are dropped (TF.js semantics). */
void segment_sum(const float *x, const int *ids, float *y, size_t rows, int width, int segments) {
  gather_job j = {x, ids, y, 0, 0, width, 0, segments, rows};
  const int threads = worker_threads();
  if (rows * width < PARALLEL_MIN || threads <= 1) segment_columns(&j, 0, width);
  else if (width >= SEGMENT_BLOCK * threads) parallel_for((width + SEGMENT_BLOCK - 1) / SEGMENT_BLOCK, segment_blocks, &j);
  else parallel_for(segments, segment_rows, &j);
}
