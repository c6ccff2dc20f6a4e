/* N-API glue for the sequence kernels (seq.c, gather.c) and the elementwise ones (elementwise.c): checks every size against the arrays, then calls them. */
#include "kernels.h"
#include "napi-args.h"

static int fits(size_t need, const f32 *a) { return need <= a->len; }

/* softmax(x, y, rows, cols, scale, causalQ, mask | null, rowsPerMask) */
static napi_value js_softmax(napi_env env, napi_callback_info info) {
  GET_ARGS(8);
  f32 x, y, mask;
  int rows, cols, causal, per_mask;
  double scale;
  if (!get_f32(env, argv[0], &x) || !get_f32(env, argv[1], &y) || !get_int(env, argv[2], &rows) || !get_int(env, argv[3], &cols) ||
      !get_double(env, argv[4], &scale) || !get_int(env, argv[5], &causal) || !get_f32_or_null(env, argv[6], &mask) ||
      !get_int(env, argv[7], &per_mask))
    return fail(env, "softmax: bad arguments");
  const size_t n = (size_t)rows * cols;
  if (rows < 0 || cols < 1 || causal < 0 || per_mask < 1 || !fits(n, &x) || !fits(n, &y) || (causal > 0 && rows % causal != 0) ||
      (mask.data && !fits(((size_t)rows + per_mask - 1) / per_mask * cols, &mask)))
    return fail(env, "softmax: bad sizes");
  softmax_rows(x.data, y.data, rows, cols, (float)scale, causal, mask.data, per_mask);
  return NULL;
}

/* softmaxGrad(dy, y, dx, rows, cols, scale) */
static napi_value js_softmax_grad(napi_env env, napi_callback_info info) {
  GET_ARGS(6);
  f32 dy, y, dx;
  int rows, cols;
  double scale;
  if (!get_f32(env, argv[0], &dy) || !get_f32(env, argv[1], &y) || !get_f32(env, argv[2], &dx) || !get_int(env, argv[3], &rows) ||
      !get_int(env, argv[4], &cols) || !get_double(env, argv[5], &scale))
    return fail(env, "softmaxGrad: bad arguments");
  const size_t n = (size_t)rows * cols;
  if (rows < 0 || cols < 1 || !fits(n, &dy) || !fits(n, &y) || !fits(n, &dx)) return fail(env, "softmaxGrad: bad sizes");
  softmax_grad_rows(dy.data, y.data, dx.data, rows, cols, (float)scale);
  return NULL;
}

/* layerNorm(x, gamma, beta, y, xhat, rstd, rows, d, eps) */
static napi_value js_layer_norm(napi_env env, napi_callback_info info) {
  GET_ARGS(9);
  f32 x, g, b, y, xh, rs;
  int rows, d;
  double eps;
  if (!get_f32(env, argv[0], &x) || !get_f32(env, argv[1], &g) || !get_f32(env, argv[2], &b) || !get_f32(env, argv[3], &y) ||
      !get_f32(env, argv[4], &xh) || !get_f32(env, argv[5], &rs) || !get_int(env, argv[6], &rows) || !get_int(env, argv[7], &d) ||
      !get_double(env, argv[8], &eps))
    return fail(env, "layerNorm: bad arguments");
  const size_t n = (size_t)rows * d;
  if (rows < 0 || d < 1 || !fits(n, &x) || !fits(d, &g) || !fits(d, &b) || !fits(n, &y) || !fits(n, &xh) || !fits(rows, &rs))
    return fail(env, "layerNorm: bad sizes");
  layer_norm_forward(x.data, g.data, b.data, y.data, xh.data, rs.data, rows, d, (float)eps);
  return NULL;
}

/* layerNormGrad(dy, xhat, rstd, gamma, dx, dgamma, dbeta, rows, d) */
static napi_value js_layer_norm_grad(napi_env env, napi_callback_info info) {
  GET_ARGS(9);
  f32 dy, xh, rs, g, dx, dg, db;
  int rows, d;
  if (!get_f32(env, argv[0], &dy) || !get_f32(env, argv[1], &xh) || !get_f32(env, argv[2], &rs) || !get_f32(env, argv[3], &g) ||
      !get_f32(env, argv[4], &dx) || !get_f32(env, argv[5], &dg) || !get_f32(env, argv[6], &db) || !get_int(env, argv[7], &rows) ||
      !get_int(env, argv[8], &d))
    return fail(env, "layerNormGrad: bad arguments");
  const size_t n = (size_t)rows * d;
  if (rows < 0 || d < 1 || !fits(n, &dy) || !fits(n, &xh) || !fits(rows, &rs) || !fits(d, &g) || !fits(n, &dx) || !fits(d, &dg) || !fits(d, &db))
    return fail(env, "layerNormGrad: bad sizes");
  layer_norm_backward(dy.data, xh.data, rs.data, g.data, dx.data, dg.data, db.data, rows, d);
  return NULL;
}

/* gelu(x, y) */
static napi_value js_gelu(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  f32 x, y;
  if (!get_f32(env, argv[0], &x) || !get_f32(env, argv[1], &y)) return fail(env, "gelu: bad arguments");
  if (y.len != x.len) return fail(env, "gelu: arrays differ in length");
  gelu_forward(x.data, y.data, x.len);
  return NULL;
}

/* geluGrad(dy, x, dx) */
static napi_value js_gelu_grad(napi_env env, napi_callback_info info) {
  GET_ARGS(3);
  f32 dy, x, dx;
  if (!get_f32(env, argv[0], &dy) || !get_f32(env, argv[1], &x) || !get_f32(env, argv[2], &dx)) return fail(env, "geluGrad: bad arguments");
  if (x.len != dy.len || dx.len != dy.len) return fail(env, "geluGrad: arrays differ in length");
  gelu_backward(dy.data, x.data, dx.data, dy.len);
  return NULL;
}

/* transpose(x, y, shape: Int32Array, perm: Int32Array) */
static napi_value js_transpose(napi_env env, napi_callback_info info) {
  GET_ARGS(4);
  f32 x, y;
  i32 shape, perm;
  if (!get_f32(env, argv[0], &x) || !get_f32(env, argv[1], &y) || !get_i32(env, argv[2], &shape) || !get_i32(env, argv[3], &perm))
    return fail(env, "transpose: bad arguments");
  if (shape.len != perm.len || shape.len > 8) return fail(env, "transpose: shape and perm must have one rank, at most 8");
  size_t total = 1;
  int seen[8] = {0};
  for (size_t i = 0; i < shape.len; i++) {
    const int p = perm.data[i];
    if (shape.data[i] < 0 || p < 0 || p >= (int)perm.len || seen[p]++) return fail(env, "transpose: bad shape or permutation");
    total *= shape.data[i];
  }
  if (!fits(total, &x) || !fits(total, &y)) return fail(env, "transpose: an array is too short for the shape");
  transpose(x.data, y.data, (int)shape.len, shape.data, perm.data);
  return NULL;
}

/* gather(x, indices, y, batch, outer, dim, slice, count): indices [batch, count] in [0, dim). */
static napi_value js_gather(napi_env env, napi_callback_info info) {
  GET_ARGS(8);
  f32 x, y;
  i32 idx;
  int batch, outer, dim, slice, count;
  if (!get_f32(env, argv[0], &x) || !get_i32(env, argv[1], &idx) || !get_f32(env, argv[2], &y) || !get_int(env, argv[3], &batch) ||
      !get_int(env, argv[4], &outer) || !get_int(env, argv[5], &dim) || !get_int(env, argv[6], &slice) || !get_int(env, argv[7], &count))
    return fail(env, "gather: bad arguments");
  if (batch < 0 || outer < 0 || dim < 0 || slice < 0 || count < 0 || (size_t)batch * count > idx.len ||
      !fits((size_t)batch * outer * dim * slice, &x) || !fits((size_t)batch * outer * count * slice, &y))
    return fail(env, "gather: bad sizes");
  for (size_t i = 0; i < (size_t)batch * count; i++)
    if (idx.data[i] < 0 || idx.data[i] >= dim) return fail(env, "gather: an index is out of range");
  gather_slices(x.data, idx.data, y.data, batch, outer, dim, slice, count);
  return NULL;
}

/* segmentSum(x, ids, y, rows, width, segments) */
static napi_value js_segment_sum(napi_env env, napi_callback_info info) {
  GET_ARGS(6);
  f32 x, y;
  i32 ids;
  int rows, width, segments;
  if (!get_f32(env, argv[0], &x) || !get_i32(env, argv[1], &ids) || !get_f32(env, argv[2], &y) || !get_int(env, argv[3], &rows) ||
      !get_int(env, argv[4], &width) || !get_int(env, argv[5], &segments))
    return fail(env, "segmentSum: bad arguments");
  if (rows < 0 || width < 1 || segments < 0 || (size_t)rows > ids.len || !fits((size_t)rows * width, &x) || !fits((size_t)segments * width, &y))
    return fail(env, "segmentSum: bad sizes");
  segment_sum(x.data, ids.data, y.data, rows, width, segments);
  return NULL;
}

/* binary(op, a, b, out, shape, stridesA, stridesB): out[shape] = a op b; op 0 add, 1 sub, 2 mul, 3 div. */
static napi_value js_binary(napi_env env, napi_callback_info info) {
  GET_ARGS(7);
  f32 a, b, out;
  i32 shape, sa, sb;
  int op;
  if (!get_int(env, argv[0], &op) || !get_f32(env, argv[1], &a) || !get_f32(env, argv[2], &b) || !get_f32(env, argv[3], &out) ||
      !get_i32(env, argv[4], &shape) || !get_i32(env, argv[5], &sa) || !get_i32(env, argv[6], &sb))
    return fail(env, "binary: bad arguments");
  const size_t rank = shape.len;
  if (op < BINARY_ADD || op > BINARY_DIV || rank < 1 || rank > 8 || sa.len != rank || sb.len != rank) return fail(env, "binary: bad op or rank");
  size_t total = 1, last_a = 0, last_b = 0;
  for (size_t d = 0; d < rank; d++) {
    if (shape.data[d] < 0 || sa.data[d] < 0 || sb.data[d] < 0) return fail(env, "binary: bad shape or strides");
    total *= shape.data[d];
    if (shape.data[d] > 0) {
      last_a += (size_t)sa.data[d] * (shape.data[d] - 1);
      last_b += (size_t)sb.data[d] * (shape.data[d] - 1);
    }
  }
  if (sa.data[rank - 1] > 1 || sb.data[rank - 1] > 1) return fail(env, "binary: the last dim's strides must be 0 or 1");
  if (total > 0 && (last_a >= a.len || last_b >= b.len || total > out.len)) return fail(env, "binary: an array is too short for the shape");
  binary_op(op, a.data, b.data, out.data, (int)rank, shape.data, sa.data, sb.data);
  return NULL;
}

/* reduceLast(x, out, rows, cols, max): out[r] = Σ (or max) of x[r, :]. */
static napi_value js_reduce_last(napi_env env, napi_callback_info info) {
  GET_ARGS(5);
  f32 x, out;
  int rows, cols, max;
  if (!get_f32(env, argv[0], &x) || !get_f32(env, argv[1], &out) || !get_int(env, argv[2], &rows) || !get_int(env, argv[3], &cols) ||
      !get_bool(env, argv[4], &max))
    return fail(env, "reduceLast: bad arguments");
  if (rows < 0 || cols < 1 || !fits((size_t)rows * cols, &x) || !fits(rows, &out)) return fail(env, "reduceLast: bad sizes");
  reduce_last(x.data, out.data, rows, cols, max);
  return NULL;
}

/* exp(x, y) */
static napi_value js_exp(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  f32 x, y;
  if (!get_f32(env, argv[0], &x) || !get_f32(env, argv[1], &y)) return fail(env, "exp: bad arguments");
  if (y.len != x.len) return fail(env, "exp: arrays differ in length");
  exp_array(x.data, y.data, x.len);
  return NULL;
}

void export_sequence_kernels(napi_env env, napi_value exports) {
  static const named_fn fns[] = {
      {"softmax", js_softmax}, {"softmaxGrad", js_softmax_grad}, {"layerNorm", js_layer_norm}, {"layerNormGrad", js_layer_norm_grad},
      {"gelu", js_gelu}, {"geluGrad", js_gelu_grad}, {"transpose", js_transpose}, {"gather", js_gather}, {"segmentSum", js_segment_sum},
      {"binary", js_binary}, {"reduceLast", js_reduce_last}, {"exp", js_exp},
  };
  export_fns(env, exports, fns, sizeof(fns) / sizeof(fns[0]));
}
