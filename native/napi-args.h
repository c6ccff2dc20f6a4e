/* Argument readers shared by the N-API glue files: typed arrays are read in place, every size is checked by the
 * caller before a kernel runs. */
#ifndef TSDISTILL_NAPI_ARGS_H
#define TSDISTILL_NAPI_ARGS_H
#define NAPI_VERSION 8
#include <node_api.h>
#include <stddef.h>

typedef struct {
  float *data;
  size_t len;
} f32;

typedef struct {
  int *data;
  size_t len;
} i32;

#define MAX_ARGS 12
#define GET_ARGS(count)                                                               \
  napi_value argv[MAX_ARGS];                                                          \
  size_t argc = MAX_ARGS;                                                             \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);                               \
  if (argc < (count)) return fail(env, "expected " #count " arguments");

static inline napi_value fail(napi_env env, const char *message) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_type_error(env, NULL, message);
  return NULL;
}

static inline int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is_typed = false;
  napi_is_typedarray(env, v, &is_typed);
  if (!is_typed) return 0;
  napi_typedarray_type type;
  return napi_get_typedarray_info(env, v, &type, len, data, NULL, NULL) == napi_ok && type == want;
}

static inline int get_f32(napi_env env, napi_value v, f32 *out) {
  void *data;
  if (!get_typed(env, v, napi_float32_array, &data, &out->len)) return 0;
  out->data = data;
  return 1;
}

static inline int get_i32(napi_env env, napi_value v, i32 *out) {
  void *data;
  if (!get_typed(env, v, napi_int32_array, &data, &out->len)) return 0;
  out->data = data;
  return 1;
}

/* A Float32Array or null (then data is NULL). */
static inline int get_f32_or_null(napi_env env, napi_value v, f32 *out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_null) {
    *out = (f32){NULL, 0};
    return 1;
  }
  return get_f32(env, v, out);
}

static inline int get_int(napi_env env, napi_value v, int *out) { return napi_get_value_int32(env, v, out) == napi_ok; }
static inline int get_double(napi_env env, napi_value v, double *out) { return napi_get_value_double(env, v, out) == napi_ok; }
static inline int get_bool(napi_env env, napi_value v, int *out) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) return 0;
  *out = b;
  return 1;
}

typedef struct {
  const char *name;
  napi_callback fn;
} named_fn;

static inline void export_fns(napi_env env, napi_value exports, const named_fn *fns, size_t count) {
  for (size_t i = 0; i < count; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
}

void export_sequence_kernels(napi_env env, napi_value exports);
#endif
