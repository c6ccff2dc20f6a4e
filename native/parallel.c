/*
 * The addon's own threads. OpenBLAS is set to one thread once, when the addon loads, and every parallel kernel
 * (products, convolutions, the sequence kernels) splits its work here into fixed ranges over single-threaded
 * calls: switching OpenBLAS's process-wide thread count around a call raced when several JS workers shared the
 * addon, and a fixed split of [0, n) for a given thread count gives the same numbers on every run.
 *
 * One pool of persistent threads serves one caller at a time; a caller that finds it busy (another JS worker, or a
 * kernel already running on the pool) runs every range itself, in order: the same split, so the same numbers.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include "blas.h"
#include "kernels.h"

#define MAX_THREADS 16
/* How long a pool thread waits busily for the next job before it sleeps, and how long a caller spins on the
 * last range before it sleeps: kernels of a training step follow each other within tens of microseconds, and a
 * futex wake-up costs about as much on a VM. */
#define SPIN_NS 200000L

static atomic_int configured = 0; /* threads per job, the caller included; 0 until first use */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_threads(void) {
#if defined(__APPLE__)
  atomic_store(&configured, 1); /* Accelerate runs its own threads */
#else
  /* OpenBLAS's own default (OPENBLAS_NUM_THREADS, else the cores) becomes ours; it runs single-threaded. */
  int t = openblas_get_num_threads();
  atomic_store(&configured, t < 1 ? 1 : t > MAX_THREADS ? MAX_THREADS : t);
  openblas_set_num_threads(1);
#endif
}

int worker_threads(void) {
  pthread_once(&once, init_threads);
  return atomic_load(&configured);
}

void set_worker_threads(int n) {
  pthread_once(&once, init_threads);
#if !defined(__APPLE__)
  atomic_store(&configured, n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n);
#endif
}

static long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER; /* held by the caller whose job runs */
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static atomic_uint job_seq;     /* bumped once per job, after the job's fields are written */
static atomic_int remaining;    /* pool threads that have not yet finished the current job */
static int pool_size;           /* pool threads started (they never exit) */
static unsigned first_seen[MAX_THREADS]; /* job_seq when each pool thread was started: its first job is the next */
static struct {
  range_fn fn;
  void *ctx;
  int n, threads;
} job;

static inline void run_share(range_fn fn, void *ctx, int n, int threads, int t) {
  const int begin = (int)((long)n * t / threads), end = (int)((long)n * (t + 1) / threads);
  if (end > begin) fn(ctx, begin, end);
}

static void *pool_thread(void *arg) {
  const int index = (int)(long)arg; /* 1 … pool_size; the caller takes share 0 */
  unsigned seen = first_seen[index];
  for (;;) {
    unsigned seq = atomic_load_explicit(&job_seq, memory_order_acquire);
    if (seq == seen) {
      const long until = now_ns() + SPIN_NS;
      for (int i = 0; (seq = atomic_load_explicit(&job_seq, memory_order_acquire)) == seen; i++) {
        cpu_relax();
        if ((i & 63) == 63 && now_ns() > until) break;
      }
    }
    if (seq == seen) {
      pthread_mutex_lock(&wake_lock);
      while ((seq = atomic_load_explicit(&job_seq, memory_order_acquire)) == seen) pthread_cond_wait(&wake_cond, &wake_lock);
      pthread_mutex_unlock(&wake_lock);
    }
    seen = seq;
    /* Every pool thread checks in for every job (so no thread can read a later job's fields as this one's). */
    if (index < job.threads) run_share(job.fn, job.ctx, job.n, job.threads, index);
    if (atomic_fetch_sub_explicit(&remaining, 1, memory_order_acq_rel) == 1) {
      pthread_mutex_lock(&wake_lock);
      pthread_cond_signal(&done_cond);
      pthread_mutex_unlock(&wake_lock);
    }
  }
  return NULL;
}

/* Starts pool threads up to `want` (called with pool_lock held, between jobs); returns how many there are (fewer
 * if the system refuses threads). */
static int grow_pool(int want) {
  while (pool_size < want) {
    pthread_t tid;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    first_seen[pool_size + 1] = atomic_load(&job_seq);
    const int ok = pthread_create(&tid, &attr, pool_thread, (void *)(long)(pool_size + 1)) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) break;
    pool_size++;
  }
  return pool_size;
}

void parallel_for(int n, range_fn fn, void *ctx) {
  if (n <= 0) return;
  int threads = worker_threads();
  if (threads > n) threads = n;
  if (threads <= 1) {
    fn(ctx, 0, n);
    return;
  }
  int owner = pthread_mutex_trylock(&pool_lock) == 0;
  if (owner && grow_pool(threads - 1) < threads - 1) {
    pthread_mutex_unlock(&pool_lock);
    owner = 0;
  }
  if (!owner) {
    /* Busy (or no threads to be had): the same shares, one after another. */
    for (int t = 0; t < threads; t++) run_share(fn, ctx, n, threads, t);
    return;
  }
  job.fn = fn;
  job.ctx = ctx;
  job.n = n;
  job.threads = threads;
  atomic_store_explicit(&remaining, pool_size, memory_order_relaxed);
  pthread_mutex_lock(&wake_lock);
  atomic_fetch_add_explicit(&job_seq, 1, memory_order_release);
  pthread_cond_broadcast(&wake_cond);
  pthread_mutex_unlock(&wake_lock);
  run_share(fn, ctx, n, threads, 0);
  const long until = now_ns() + SPIN_NS;
  for (int i = 0; atomic_load_explicit(&remaining, memory_order_acquire) > 0; i++) {
    cpu_relax();
    if ((i & 63) == 63 && now_ns() > until) break;
  }
  if (atomic_load_explicit(&remaining, memory_order_acquire) > 0) {
    pthread_mutex_lock(&wake_lock);
    while (atomic_load_explicit(&remaining, memory_order_acquire) > 0) pthread_cond_wait(&done_cond, &wake_lock);
    pthread_mutex_unlock(&wake_lock);
  }
  pthread_mutex_unlock(&pool_lock);
}
