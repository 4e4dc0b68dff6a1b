// A thin C layer over the ONNX Runtime C API (onnxruntime_c_api.h, API
// version 24, served by the pinned 1.29 library). It exists so that one
// inference costs one cgo call: tensors over caller memory are created, the
// session runs, the outputs are described and the inputs released in
// ig_run, instead of the eight-plus crossings a general-purpose binding makes.
#ifndef INFERGATE_ORT_H
#define INFERGATE_ORT_H

#include <stddef.h>
#include <stdint.h>
#include "onnxruntime_c_api.h"

// IG_MAX_RANK bounds the dims we describe per tensor without allocating.
// ONNX allows more, but no served model needs more than 16 axes; a model
// that does is refused at load with a clear reason.
#define IG_MAX_RANK 16

// ig_tensor describes one input of a run. Numeric data lives at data (C
// memory owned by the Go-side call). String tensors carry a blob of
// concatenated bytes and nstrings+1 offsets into it, so elements may hold
// any byte, NUL included.
typedef struct {
  void *data;
  size_t bytes;
  int64_t shape[IG_MAX_RANK];
  size_t rank;
  int elem_type;
  const char *blob;
  const size_t *offsets;
  size_t nstrings;
} ig_tensor;

// ig_output describes one output after a run: ORT owns value and data until
// ig_release_values.
typedef struct {
  OrtValue *value;
  void *data;
  int elem_type;
  size_t rank;
  int64_t shape[IG_MAX_RANK];
  size_t count;
} ig_output;

// Every function returns NULL on success or a malloc'd error message that
// the caller frees.
char *ig_load(const char *path, char **version);
char *ig_create_env(int log_level, OrtEnv **out);
void ig_release_env(OrtEnv *env);
char *ig_available_providers(char **out_csv);

char *ig_create_session_options(int intra, int inter, int opt_level,
                                int allow_spinning,
                                OrtSessionOptions **out);
char *ig_append_cuda(OrtSessionOptions *opts, const char **keys,
                     const char **values, size_t n);
void ig_release_session_options(OrtSessionOptions *opts);

char *ig_create_session(OrtEnv *env, const char *path,
                        OrtSessionOptions *opts, OrtSession **out);
void ig_release_session(OrtSession *s);

char *ig_io_count(OrtSession *s, size_t *nin, size_t *nout);
// ig_io_info describes input (is_output=0) or output idx: its name
// (malloc'd), ONNX value type, element type, rank and dims (-1 when
// symbolic or unknown).
char *ig_io_info(OrtSession *s, int is_output, size_t idx, char **name,
                 int *onnx_type, int *elem_type, int64_t *dims,
                 size_t *rank);

char *ig_run(OrtSession *s, OrtRunOptions *ro, const char *const *in_names,
             ig_tensor *ins, size_t nin, const char *const *out_names,
             ig_output *outs, size_t nout);
void ig_release_outputs(ig_output *outs, size_t n);

char *ig_string_length(OrtValue *v, size_t *len);
char *ig_string_content(OrtValue *v, char *buf, size_t len, size_t *offsets,
                        size_t count);

#endif
