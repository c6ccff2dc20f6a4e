/* A split of [0, n) between the BLAS's threads for the loops that are not products (pooling). */
#include <pthread.h>
#include "blas.h"
#include "kernels.h"

#define MAX_THREADS 16

int worker_threads(void) {
#if defined(__APPLE__)
  return 1; /* Accelerate manages its own threads */
#else
  const int t = openblas_get_num_threads();
  return t < 1 ? 1 : t > MAX_THREADS ? MAX_THREADS : t;
#endif
}

typedef struct {
  range_fn fn;
  void *ctx;
  int begin, end;
} range_job;

static void *run_range(void *arg) {
  const range_job *j = arg;
  j->fn(j->ctx, j->begin, j->end);
  return NULL;
}

void parallel_for(int n, range_fn fn, void *ctx) {
  int threads = worker_threads();
  if (threads > n) threads = n;
  if (threads <= 1) {
    if (n > 0) fn(ctx, 0, n);
    return;
  }
  range_job jobs[MAX_THREADS];
  pthread_t tid[MAX_THREADS];
  int spawned[MAX_THREADS] = {0};
  for (int t = 0; t < threads; t++) jobs[t] = (range_job){fn, ctx, (int)((long)n * t / threads), (int)((long)n * (t + 1) / threads)};
  for (int t = 1; t < threads; t++) spawned[t] = pthread_create(&tid[t], NULL, run_range, &jobs[t]) == 0;
  run_range(&jobs[0]);
  for (int t = 1; t < threads; t++) {
    if (spawned[t]) pthread_join(tid[t], NULL);
    else run_range(&jobs[t]);
  }
}
