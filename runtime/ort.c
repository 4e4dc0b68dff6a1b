#include "ort.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The API table is process-wide by nature: dlopen maps the library once and
// OrtGetApiBase hands every caller the same table.
static const OrtApi *ort;
static OrtMemoryInfo *cpu_info;
static OrtAllocator *default_alloc;
static const char *loaded_version;

static char *dup_msg(const char *prefix, const char *msg) {
  size_t n = strlen(prefix) + strlen(msg) + 1;
  char *out = malloc(n);
  if (out) {
    snprintf(out, n, "%s%s", prefix, msg);
  }
  return out;
}

static char *take(OrtStatus *st) {
  if (st == NULL) {
    return NULL;
  }
  char *out = strdup(ort->GetErrorMessage(st));
  ort->ReleaseStatus(st);
  return out;
}

typedef const OrtApiBase *(*get_api_base_fn)(void);

char *ig_load(const char *path, char **version) {
  if (ort != NULL) {
    *version = strdup(loaded_version);
    return NULL;
  }
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    const char *e = dlerror();
    return dup_msg("", e ? e : "dlopen failed");
  }
  get_api_base_fn get = (get_api_base_fn)dlsym(h, "OrtGetApiBase");
  if (get == NULL) {
    return dup_msg("OrtGetApiBase not found in ", path);
  }
  const OrtApiBase *base = get();
  const OrtApi *api = base->GetApi(ORT_API_VERSION);
  if (api == NULL) {
    return dup_msg("library does not serve ONNX Runtime C API version 24; "
                   "its version is ",
                   base->GetVersionString());
  }
  ort = api;
  OrtStatus *st = ort->CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault,
                                           &cpu_info);
  if (st != NULL) {
    ort = NULL;
    return take(st);
  }
  st = ort->GetAllocatorWithDefaultOptions(&default_alloc);
  if (st != NULL) {
    return take(st);
  }
  loaded_version = base->GetVersionString();
  *version = strdup(loaded_version);
  return NULL;
}

char *ig_create_env(int log_level, OrtEnv **out) {
  return take(ort->CreateEnv((OrtLoggingLevel)log_level, "infergate", out));
}

void ig_release_env(OrtEnv *env) { ort->ReleaseEnv(env); }

char *ig_available_providers(char **out_csv) {
  char **names = NULL;
  int n = 0;
  OrtStatus *st = ort->GetAvailableProviders(&names, &n);
  if (st != NULL) {
    return take(st);
  }
  size_t total = 1;
  for (int i = 0; i < n; i++) {
    total += strlen(names[i]) + 1;
  }
  char *csv = malloc(total);
  csv[0] = 0;
  for (int i = 0; i < n; i++) {
    if (i > 0) {
      strcat(csv, ",");
    }
    strcat(csv, names[i]);
  }
  OrtStatus *rs = ort->ReleaseAvailableProviders(names, n);
  if (rs != NULL) {
    ort->ReleaseStatus(rs);
  }
  *out_csv = csv;
  return NULL;
}

char *ig_create_session_options(int intra, int inter, int opt_level,
                                int allow_spinning, OrtSessionOptions **out) {
  OrtSessionOptions *o = NULL;
  OrtStatus *st = ort->CreateSessionOptions(&o);
  if (st != NULL) {
    return take(st);
  }
  if ((st = ort->SetIntraOpNumThreads(o, intra)) != NULL ||
      (st = ort->SetInterOpNumThreads(o, inter)) != NULL ||
      (st = ort->SetSessionGraphOptimizationLevel(
           o, (GraphOptimizationLevel)opt_level)) != NULL ||
      (st = ort->SetSessionExecutionMode(
           o, inter > 1 ? ORT_PARALLEL : ORT_SEQUENTIAL)) != NULL ||
      (st = ort->AddSessionConfigEntry(o, "session.intra_op.allow_spinning",
                                       allow_spinning ? "1" : "0")) != NULL ||
      (st = ort->AddSessionConfigEntry(o, "session.inter_op.allow_spinning",
                                       allow_spinning ? "1" : "0")) != NULL) {
    ort->ReleaseSessionOptions(o);
    return take(st);
  }
  *out = o;
  return NULL;
}

char *ig_append_cuda(OrtSessionOptions *opts, const char **keys,
                     const char **values, size_t n) {
  OrtCUDAProviderOptionsV2 *cuda = NULL;
  OrtStatus *st = ort->CreateCUDAProviderOptions(&cuda);
  if (st != NULL) {
    return take(st);
  }
  if (n > 0) {
    st = ort->UpdateCUDAProviderOptions(cuda, keys, values, n);
  }
  if (st == NULL) {
    st = ort->SessionOptionsAppendExecutionProvider_CUDA_V2(opts, cuda);
  }
  ort->ReleaseCUDAProviderOptions(cuda);
  return take(st);
}

void ig_release_session_options(OrtSessionOptions *opts) {
  ort->ReleaseSessionOptions(opts);
}

char *ig_create_session(OrtEnv *env, const char *path,
                        OrtSessionOptions *opts, OrtSession **out) {
  return take(ort->CreateSession(env, path, opts, out));
}

void ig_release_session(OrtSession *s) { ort->ReleaseSession(s); }

char *ig_io_count(OrtSession *s, size_t *nin, size_t *nout) {
  OrtStatus *st = ort->SessionGetInputCount(s, nin);
  if (st == NULL) {
    st = ort->SessionGetOutputCount(s, nout);
  }
  return take(st);
}

char *ig_io_info(OrtSession *s, int is_output, size_t idx, char **name,
                 int *onnx_type, int *elem_type, int64_t *dims,
                 size_t *rank) {
  char *n = NULL;
  OrtStatus *st = is_output
                      ? ort->SessionGetOutputName(s, idx, default_alloc, &n)
                      : ort->SessionGetInputName(s, idx, default_alloc, &n);
  if (st != NULL) {
    return take(st);
  }
  *name = strdup(n);
  default_alloc->Free(default_alloc, n);

  OrtTypeInfo *ti = NULL;
  st = is_output ? ort->SessionGetOutputTypeInfo(s, idx, &ti)
                 : ort->SessionGetInputTypeInfo(s, idx, &ti);
  if (st != NULL) {
    return take(st);
  }
  enum ONNXType ot;
  if ((st = ort->GetOnnxTypeFromTypeInfo(ti, &ot)) != NULL) {
    ort->ReleaseTypeInfo(ti);
    return take(st);
  }
  *onnx_type = (int)ot;
  *elem_type = 0;
  *rank = 0;
  if (ot != ONNX_TYPE_TENSOR) {
    ort->ReleaseTypeInfo(ti);
    return NULL;
  }
  const OrtTensorTypeAndShapeInfo *tsi = NULL;
  if ((st = ort->CastTypeInfoToTensorInfo(ti, &tsi)) != NULL) {
    ort->ReleaseTypeInfo(ti);
    return take(st);
  }
  ONNXTensorElementDataType et;
  size_t r = 0;
  if ((st = ort->GetTensorElementType(tsi, &et)) != NULL ||
      (st = ort->GetDimensionsCount(tsi, &r)) != NULL) {
    ort->ReleaseTypeInfo(ti);
    return take(st);
  }
  *elem_type = (int)et;
  *rank = r;
  if (r > IG_MAX_RANK) {
    ort->ReleaseTypeInfo(ti);
    return NULL;
  }
  st = ort->GetDimensions(tsi, dims, r);
  ort->ReleaseTypeInfo(ti);
  if (st != NULL) {
    return take(st);
  }
  for (size_t i = 0; i < r; i++) {
    if (dims[i] < 0) {
      dims[i] = -1;
    }
  }
  return NULL;
}

static char *make_input(ig_tensor *t, OrtValue **out) {
  if (t->elem_type != ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING) {
    return take(ort->CreateTensorWithDataAsOrtValue(
        cpu_info, t->data, t->bytes, t->shape, t->rank,
        (ONNXTensorElementDataType)t->elem_type, out));
  }
  OrtValue *v = NULL;
  OrtStatus *st = ort->CreateTensorAsOrtValue(
      default_alloc, t->shape, t->rank, ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING,
      &v);
  if (st != NULL) {
    return take(st);
  }
  for (size_t i = 0; i < t->nstrings; i++) {
    size_t len = t->offsets[i + 1] - t->offsets[i];
    char *buf = NULL;
    st = ort->GetResizedStringTensorElementBuffer(v, i, len, &buf);
    if (st != NULL) {
      ort->ReleaseValue(v);
      return take(st);
    }
    if (len > 0) {
      memcpy(buf, t->blob + t->offsets[i], len);
    }
  }
  *out = v;
  return NULL;
}

static char *describe(ig_output *o) {
  OrtTensorTypeAndShapeInfo *info = NULL;
  OrtStatus *st = ort->GetTensorTypeAndShape(o->value, &info);
  if (st != NULL) {
    return take(st);
  }
  ONNXTensorElementDataType et;
  size_t r = 0, count = 0;
  if ((st = ort->GetTensorElementType(info, &et)) != NULL ||
      (st = ort->GetDimensionsCount(info, &r)) != NULL ||
      (st = ort->GetTensorShapeElementCount(info, &count)) != NULL) {
    ort->ReleaseTensorTypeAndShapeInfo(info);
    return take(st);
  }
  if (r > IG_MAX_RANK) {
    ort->ReleaseTensorTypeAndShapeInfo(info);
    return strdup("output rank exceeds 16");
  }
  st = ort->GetDimensions(info, o->shape, r);
  ort->ReleaseTensorTypeAndShapeInfo(info);
  if (st != NULL) {
    return take(st);
  }
  o->elem_type = (int)et;
  o->rank = r;
  o->count = count;
  o->data = NULL;
  if (et != ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING && count > 0) {
    return take(ort->GetTensorMutableData(o->value, &o->data));
  }
  return NULL;
}

char *ig_run(OrtSession *s, OrtRunOptions *ro, const char *const *in_names,
             ig_tensor *ins, size_t nin, const char *const *out_names,
             ig_output *outs, size_t nout) {
  // Small fixed arrays keep the common case off the heap; models with many
  // inputs or outputs pay one malloc.
  OrtValue *in_stack[16];
  OrtValue *out_stack[16];
  OrtValue **in_vals = nin <= 16 ? in_stack : calloc(nin, sizeof(OrtValue *));
  OrtValue **out_vals =
      nout <= 16 ? out_stack : calloc(nout, sizeof(OrtValue *));
  char *err = NULL;
  size_t made = 0;
  for (; made < nin; made++) {
    in_vals[made] = NULL;
    if ((err = make_input(&ins[made], &in_vals[made])) != NULL) {
      break;
    }
  }
  for (size_t i = 0; i < nout; i++) {
    out_vals[i] = NULL;
    outs[i].value = NULL;
  }
  if (err == NULL) {
    err = take(ort->Run(s, ro, in_names, (const OrtValue *const *)in_vals, nin,
                        out_names, nout, out_vals));
  }
  for (size_t i = 0; i < made; i++) {
    ort->ReleaseValue(in_vals[i]);
  }
  for (size_t i = 0; i < nout; i++) {
    outs[i].value = out_vals[i];
  }
  if (err == NULL) {
    for (size_t i = 0; i < nout; i++) {
      if ((err = describe(&outs[i])) != NULL) {
        break;
      }
    }
  }
  if (err != NULL) {
    ig_release_outputs(outs, nout);
  }
  if (in_vals != in_stack) {
    free(in_vals);
  }
  if (out_vals != out_stack) {
    free(out_vals);
  }
  return err;
}

void ig_release_outputs(ig_output *outs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (outs[i].value != NULL) {
      ort->ReleaseValue(outs[i].value);
      outs[i].value = NULL;
    }
  }
}

char *ig_string_length(OrtValue *v, size_t *len) {
  return take(ort->GetStringTensorDataLength(v, len));
}

char *ig_string_content(OrtValue *v, char *buf, size_t len, size_t *offsets,
                        size_t count) {
  offsets[count] = len;
  if (count == 0) {
    return NULL;
  }
  OrtStatus *st = ort->GetStringTensorContent(v, buf, len, offsets, count);
  if (st != NULL) {
    return take(st);
  }
  return NULL;
}
