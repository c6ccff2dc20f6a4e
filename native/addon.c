/* N-API glue: reads TF.js tensor storage (Float32Arrays) in place, checks every size, calls kernels.h. */
#include <stdio.h>
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include "blas.h"
#include "kernels.h"
#include "napi-args.h"

/* Geometry arrives as an Int32Array [n, h, w, ci, kh, kw, co, sh, sw, dh, dw, top, left, oh, ow]. */
static int get_geom(napi_env env, napi_value v, conv_geom *g) {
  napi_typedarray_type type;
  size_t len;
  void *data;
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  if (!is_typed || napi_get_typedarray_info(env, v, &type, &len, &data, NULL, NULL) != napi_ok) return 0;
  if (type != napi_int32_array || len != 15) return 0;
  const int *p = data;
  *g = (conv_geom){p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13], p[14]};
  for (int i = 0; i < 15; i++)
    if (p[i] < 0 || (i >= 7 && i <= 10 && p[i] < 1)) return 0;
  return 1;
}

static size_t in_size(const conv_geom *g) { return (size_t)g->n * g->h * g->w * g->ci; }
static size_t out_size(const conv_geom *g, int channels) { return (size_t)g->n * g->oh * g->ow * channels; }
static size_t filter_size(const conv_geom *g) { return (size_t)g->kh * g->kw * g->ci * g->co; }

/* gemm(transA, transB, m, n, k, a, b, c, batch, strideA, strideB): c[i] = op(a[i]) · op(b[i]); stride 0 broadcasts. */
static napi_value js_gemm(napi_env env, napi_callback_info info) {
  GET_ARGS(11);
  int ta, tb, m, n, k, batch, sa, sb;
  f32 a, b, c;
  if (!get_bool(env, argv[0], &ta) || !get_bool(env, argv[1], &tb) || !get_int(env, argv[2], &m) ||
      !get_int(env, argv[3], &n) || !get_int(env, argv[4], &k) || !get_f32(env, argv[5], &a) ||
      !get_f32(env, argv[6], &b) || !get_f32(env, argv[7], &c) || !get_int(env, argv[8], &batch) ||
      !get_int(env, argv[9], &sa) || !get_int(env, argv[10], &sb))
    return fail(env, "gemm: bad arguments");
  if (m < 1 || n < 1 || k < 0 || batch < 1 || sa < 0 || sb < 0) return fail(env, "gemm: bad sizes");
  if ((size_t)(batch - 1) * sa + (size_t)m * k > a.len || (size_t)(batch - 1) * sb + (size_t)k * n > b.len ||
      (size_t)batch * m * n > c.len)
    return fail(env, "gemm: an array is too short for the given sizes");
  if (k == 0) {
    for (size_t i = 0; i < (size_t)batch * m * n; i++) c.data[i] = 0;
    return NULL;
  }
  batched_gemm(ta, tb, m, n, k, a.data, b.data, c.data, batch, sa, sb, 0.0f);
  return NULL;
}

/* biasAct(c, rows, cols, bias | null, act, alpha): in place. */
static napi_value js_bias_act(napi_env env, napi_callback_info info) {
  GET_ARGS(6);
  f32 c, bias = {NULL, 0};
  int rows, cols, act;
  double alpha;
  napi_valuetype bias_type;
  napi_typeof(env, argv[3], &bias_type);
  if (!get_f32(env, argv[0], &c) || !get_int(env, argv[1], &rows) || !get_int(env, argv[2], &cols) ||
      (bias_type != napi_null && !get_f32(env, argv[3], &bias)) || !get_int(env, argv[4], &act) || !get_double(env, argv[5], &alpha))
    return fail(env, "biasAct: bad arguments");
  if (rows < 0 || cols < 1 || (size_t)rows * cols > c.len || (bias.data && bias.len < (size_t)cols) || act < 0 || act > ACT_SIGMOID)
    return fail(env, "biasAct: bad sizes");
  bias_act(c.data, rows, cols, bias.data, act, (float)alpha);
  return NULL;
}

typedef void (*conv_fn)(const conv_geom *, const float *, const float *, float *);

/* Shared by the three conv kernels: (in1, in2, out, geom) with the expected size of each. */
static napi_value run_conv(napi_env env, napi_callback_info info, conv_fn fn, int kind) {
  GET_ARGS(4);
  f32 a, b, out;
  conv_geom g;
  if (!get_f32(env, argv[0], &a) || !get_f32(env, argv[1], &b) || !get_f32(env, argv[2], &out) || !get_geom(env, argv[3], &g))
    return fail(env, "conv2d: bad arguments");
  const size_t x = in_size(&g), y = out_size(&g, g.co), w = filter_size(&g);
  const size_t need[3][3] = {{x, w, y}, {y, w, x}, {x, y, w}};
  if (a.len < need[kind][0] || b.len < need[kind][1] || out.len < need[kind][2]) return fail(env, "conv2d: an array is too short for the geometry");
  if (need[kind][2] == 0) return NULL;
  fn(&g, a.data, b.data, out.data);
  return NULL;
}
static napi_value js_conv2d(napi_env env, napi_callback_info info) { return run_conv(env, info, conv2d_forward, 0); }
static napi_value js_conv2d_bi(napi_env env, napi_callback_info info) { return run_conv(env, info, conv2d_backprop_input, 1); }
static napi_value js_conv2d_bf(napi_env env, napi_callback_info info) { return run_conv(env, info, conv2d_backprop_filter, 2); }

/* maxPool(x, y, g) / avgPool(x, y, g) / avgPoolGrad(dy, dx, g): two arrays; maxPoolGrad(dy, x, dx, g). */
static napi_value run_pool2(napi_env env, napi_callback_info info, int kind) {
  GET_ARGS(3);
  f32 a, out;
  conv_geom g;
  if (!get_f32(env, argv[0], &a) || !get_f32(env, argv[1], &out) || !get_geom(env, argv[2], &g)) return fail(env, "pool: bad arguments");
  const int grad = kind == 2;
  if (a.len < (grad ? out_size(&g, g.ci) : in_size(&g)) || out.len < (grad ? in_size(&g) : out_size(&g, g.ci)))
    return fail(env, "pool: an array is too short for the geometry");
  if (kind == 0) max_pool(&g, a.data, out.data);
  else if (kind == 1) avg_pool(&g, a.data, out.data);
  else avg_pool_grad(&g, a.data, out.data);
  return NULL;
}
static napi_value js_max_pool(napi_env env, napi_callback_info info) { return run_pool2(env, info, 0); }
static napi_value js_avg_pool(napi_env env, napi_callback_info info) { return run_pool2(env, info, 1); }
static napi_value js_avg_pool_grad(napi_env env, napi_callback_info info) { return run_pool2(env, info, 2); }
static napi_value js_max_pool_grad(napi_env env, napi_callback_info info) {
  GET_ARGS(4);
  f32 dy, x, dx;
  conv_geom g;
  if (!get_f32(env, argv[0], &dy) || !get_f32(env, argv[1], &x) || !get_f32(env, argv[2], &dx) || !get_geom(env, argv[3], &g))
    return fail(env, "maxPoolGrad: bad arguments");
  if (dy.len < out_size(&g, g.ci) || x.len < in_size(&g) || dx.len < in_size(&g)) return fail(env, "maxPoolGrad: an array is too short");
  max_pool_grad(&g, dy.data, x.data, dx.data);
  return NULL;
}

/* sumRows(x, out, rows, cols): out[j] = Σ_i x[i, j]. */
static napi_value js_sum_rows(napi_env env, napi_callback_info info) {
  GET_ARGS(4);
  f32 x, out;
  int rows, cols;
  if (!get_f32(env, argv[0], &x) || !get_f32(env, argv[1], &out) || !get_int(env, argv[2], &rows) || !get_int(env, argv[3], &cols))
    return fail(env, "sumRows: bad arguments");
  if (rows < 0 || cols < 0 || (size_t)rows * cols > x.len || (size_t)cols > out.len) return fail(env, "sumRows: bad sizes");
  sum_rows(x.data, out.data, rows, cols);
  return NULL;
}

/* activationGrad(dy, y, dz, act): dz = dy·act'(z) given y = act(z); act: 0 linear, 1 relu, 5 sigmoid, 6 tanh. */
static napi_value js_activation_grad(napi_env env, napi_callback_info info) {
  GET_ARGS(4);
  f32 dy, y, dz;
  int act;
  if (!get_f32(env, argv[0], &dy) || !get_f32(env, argv[1], &y) || !get_f32(env, argv[2], &dz) || !get_int(env, argv[3], &act))
    return fail(env, "activationGrad: bad arguments");
  if (y.len != dy.len || dz.len != dy.len || (act != ACT_LINEAR && act != ACT_RELU && act != ACT_SIGMOID && act != ACT_TANH))
    return fail(env, "activationGrad: bad sizes or activation");
  activation_grad(dy.data, y.data, dz.data, dy.len, act);
  return NULL;
}

/* adam(out, p, g, m, v, stepSize, beta1, beta2, epsilon, keep); out may be p. */
static napi_value js_adam(napi_env env, napi_callback_info info) {
  GET_ARGS(10);
  f32 out, p, g, m, v;
  double step, b1, b2, eps, keep;
  if (!get_f32(env, argv[0], &out) || !get_f32(env, argv[1], &p) || !get_f32(env, argv[2], &g) || !get_f32(env, argv[3], &m) ||
      !get_f32(env, argv[4], &v) || !get_double(env, argv[5], &step) || !get_double(env, argv[6], &b1) ||
      !get_double(env, argv[7], &b2) || !get_double(env, argv[8], &eps) || !get_double(env, argv[9], &keep))
    return fail(env, "adam: bad arguments");
  if (out.len != p.len || g.len != p.len || m.len != p.len || v.len != p.len) return fail(env, "adam: arrays differ in length");
  adam_update(out.data, p.data, g.data, m.data, v.data, p.len, step, b1, b2, eps, keep);
  return NULL;
}

/* sgd(out, p, g, velocity, lr, momentum, nesterov, weightDecay); out may be p. */
static napi_value js_sgd(napi_env env, napi_callback_info info) {
  GET_ARGS(8);
  f32 out, p, g, vel;
  double lr, mom, wd;
  int nesterov;
  if (!get_f32(env, argv[0], &out) || !get_f32(env, argv[1], &p) || !get_f32(env, argv[2], &g) || !get_f32(env, argv[3], &vel) ||
      !get_double(env, argv[4], &lr) || !get_double(env, argv[5], &mom) || !get_bool(env, argv[6], &nesterov) || !get_double(env, argv[7], &wd))
    return fail(env, "sgd: bad arguments");
  if (out.len != p.len || g.len != p.len || vel.len != p.len) return fail(env, "sgd: arrays differ in length");
  sgd_update(out.data, p.data, g.data, vel.data, p.len, lr, mom, nesterov, wd);
  return NULL;
}

static napi_value str(napi_env env, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

/* blasInfo(): { library, config, corename, threads }; threads: the addon's own (OpenBLAS runs single-threaded). */
static napi_value js_blas_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value o, threads;
  napi_create_object(env, &o);
#if defined(__APPLE__)
  napi_set_named_property(env, o, "library", str(env, "Accelerate"));
  napi_set_named_property(env, o, "config", str(env, "Accelerate (vecLib)"));
  napi_set_named_property(env, o, "corename", str(env, "n/a"));
#else
  napi_set_named_property(env, o, "library", str(env, "OpenBLAS"));
  napi_set_named_property(env, o, "config", str(env, openblas_get_config()));
  napi_set_named_property(env, o, "corename", str(env, openblas_get_corename()));
#endif
  napi_create_int32(env, worker_threads(), &threads);
  napi_set_named_property(env, o, "threads", threads);
  return o;
}

static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int n;
  if (!get_int(env, argv[0], &n) || n < 1) return fail(env, "setThreads: expected a positive integer");
  set_worker_threads(n);
  return NULL;
}

/* setSmallGemm(macs, thinK): the size below which a product runs on one thread (0, 0: always all threads). */
static napi_value js_set_small_gemm(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  double macs;
  int thin;
  if (!get_double(env, argv[0], &macs) || !get_int(env, argv[1], &thin) || macs < 0 || thin < 0)
    return fail(env, "setSmallGemm: expected two non-negative numbers");
  small_gemm_macs = macs;
  thin_gemm_k = thin;
  return NULL;
}

/*
 * glibc hands blocks over 128 KiB–32 MiB (its adaptive threshold) straight back to the kernel on free, so every
 * training step's fresh tensor storage is faulted in again page by page. On VMs where a page fault costs
 * ~14 µs (measured here: 64 MiB touched in ~220 ms, memset of the same 3 ms) that was a tenth of a CNN step.
 * Keep freed blocks in the heap for reuse instead; TSDISTILL_MALLOC_DEFAULTS=1 leaves glibc's settings alone.
 */
static void keep_freed_memory(void) {
#if defined(__GLIBC__)
  const char *keep_defaults = getenv("TSDISTILL_MALLOC_DEFAULTS");
  if (keep_defaults && keep_defaults[0] == '1') return;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

static napi_value init(napi_env env, napi_value exports) {
  keep_freed_memory();
  worker_threads(); /* sets OpenBLAS to one thread before any product runs */
  static const named_fn fns[] = {
      {"gemm", js_gemm}, {"biasAct", js_bias_act}, {"conv2d", js_conv2d}, {"conv2dBackpropInput", js_conv2d_bi},
      {"conv2dBackpropFilter", js_conv2d_bf}, {"maxPool", js_max_pool}, {"maxPoolGrad", js_max_pool_grad},
      {"avgPool", js_avg_pool}, {"avgPoolGrad", js_avg_pool_grad}, {"sumRows", js_sum_rows}, {"activationGrad", js_activation_grad}, {"adam", js_adam},
      {"sgd", js_sgd}, {"blasInfo", js_blas_info}, {"setThreads", js_set_threads}, {"setSmallGemm", js_set_small_gemm},
  };
  export_fns(env, exports, fns, sizeof(fns) / sizeof(fns[0]));
  export_sequence_kernels(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
