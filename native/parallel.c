/*
 * The addon's own threads. OpenBLAS is set to one thread once, when the addon loads, and every parallel kernel
 * (products, convolutions, the sequence kernels) splits its work here into fixed ranges over single-threaded
 * calls: switching OpenBLAS's process-wide thread count around a call raced when several JS workers shared the
 * addon, and a fixed split of [0, n) for a given thread count gives the same numbers on every run.
 *
 * One pool of persistent threads serves one caller at a time; a caller that finds it busy (another JS worker, or a
 * kernel already running on the pool) runs every range itself, in order: the same split, so the same numbers.
 * Pool threads claim the shares the caller has not taken yet (see `claims`).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include "blas.h"
#include "kernels.h"

#define MAX_THREADS 16
/* How long a pool thread waits busily for the next job before it sleeps, and how long a caller spins on the
 * last share before it sleeps: kernels of a training step follow each other within tens of microseconds, and a
 * futex wake-up costs about as much on a VM. */
#define SPIN_NS 100000L

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
static int pool_size; /* pool threads started (they never exit) */
static struct {
  range_fn fn;
  void *ctx;
  int n, threads;
} job;
/* The shares of the current job are claimed by whichever thread comes first: [job number:32][shares:16][next:16].
 * The split is fixed, only who computes a share varies, so a pool thread the OS has not scheduled yet never holds
 * the caller up: the caller takes its shares. A claim succeeds only while its job is unfinished, so the job's
 * fields it then reads are still that job's. */
static _Atomic unsigned long long claims;
static atomic_int shares_done;
static atomic_int caller_sleeping;

#define CLAIM_JOB(w) ((unsigned)((w) >> 32))
#define CLAIM_SHARES(w) ((int)(((w) >> 16) & 0xffff))
#define CLAIM_NEXT(w) ((int)((w) & 0xffff))

static inline void run_share(range_fn fn, void *ctx, int n, int threads, int t) {
  const int begin = (int)((long)n * t / threads), end = (int)((long)n * (t + 1) / threads);
  if (end > begin) fn(ctx, begin, end);
}

/* Claims and runs shares of the current job until none is left; returns the claim word last seen. */
static unsigned long long work_on_claims(void) {
  unsigned long long w = atomic_load_explicit(&claims, memory_order_acquire);
  while (CLAIM_NEXT(w) < CLAIM_SHARES(w)) {
    if (!atomic_compare_exchange_weak_explicit(&claims, &w, w + 1, memory_order_acq_rel, memory_order_acquire)) continue;
    run_share(job.fn, job.ctx, job.n, job.threads, CLAIM_NEXT(w));
    /* seq_cst pairs with the caller's store of caller_sleeping and load of shares_done: one of them sees the other. */
    if (atomic_fetch_add_explicit(&shares_done, 1, memory_order_seq_cst) + 1 == CLAIM_SHARES(w) &&
        atomic_load_explicit(&caller_sleeping, memory_order_seq_cst)) {
      pthread_mutex_lock(&wake_lock);
      pthread_cond_signal(&done_cond);
      pthread_mutex_unlock(&wake_lock);
    }
    w = atomic_load_explicit(&claims, memory_order_acquire);
  }
  return w;
}

static void *pool_thread(void *arg) {
  (void)arg;
  unsigned long long seen = 0;
  for (;;) {
    seen = work_on_claims();
    /* Wait for the claim word to change: a new job. */
    const long until = now_ns() + SPIN_NS;
    unsigned long long w;
    for (int i = 0; (w = atomic_load_explicit(&claims, memory_order_acquire)) == seen; i++) {
      cpu_relax();
      if ((i & 63) == 63 && now_ns() > until) break;
    }
    if (w == seen) {
      pthread_mutex_lock(&wake_lock);
      while (atomic_load_explicit(&claims, memory_order_acquire) == seen) pthread_cond_wait(&wake_cond, &wake_lock);
      pthread_mutex_unlock(&wake_lock);
    }
  }
  return NULL;
}

/* Starts pool threads up to `want` (called with pool_lock held); returns how many there are (fewer if the system
 * refuses threads). */
static int grow_pool(int want) {
  while (pool_size < want) {
    pthread_t tid;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    const int ok = pthread_create(&tid, &attr, pool_thread, NULL) == 0;
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
  if (owner && grow_pool(threads - 1) < 1) {
    pthread_mutex_unlock(&pool_lock);
    owner = 0;
  }
  if (!owner) {
    /* Busy (another JS worker, or a kernel already on the pool): the same shares, one after another. */
    for (int t = 0; t < threads; t++) run_share(fn, ctx, n, threads, t);
    return;
  }
  job.fn = fn;
  job.ctx = ctx;
  job.n = n;
  job.threads = threads;
  atomic_store_explicit(&shares_done, 0, memory_order_relaxed);
  const unsigned next_job = CLAIM_JOB(atomic_load_explicit(&claims, memory_order_relaxed)) + 1;
  pthread_mutex_lock(&wake_lock);
  atomic_store_explicit(&claims, (unsigned long long)next_job << 32 | (unsigned long long)threads << 16, memory_order_release);
  pthread_cond_broadcast(&wake_cond);
  pthread_mutex_unlock(&wake_lock);
  work_on_claims();
  /* Shares a pool thread claimed may still be running. */
  const long until = now_ns() + SPIN_NS;
  for (int i = 0; atomic_load_explicit(&shares_done, memory_order_acquire) < threads; i++) {
    cpu_relax();
    if ((i & 63) == 63 && now_ns() > until) break;
  }
  if (atomic_load_explicit(&shares_done, memory_order_acquire) < threads) {
    pthread_mutex_lock(&wake_lock);
    atomic_store_explicit(&caller_sleeping, 1, memory_order_seq_cst);
    while (atomic_load_explicit(&shares_done, memory_order_seq_cst) < threads) pthread_cond_wait(&done_cond, &wake_lock);
    atomic_store_explicit(&caller_sleeping, 0, memory_order_relaxed);
    pthread_mutex_unlock(&wake_lock);
  }
  pthread_mutex_unlock(&pool_lock);
}
