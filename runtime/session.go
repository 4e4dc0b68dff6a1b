package runtime

/*
#include <stdlib.h>
#include "ort.h"
*/
import "C"

import (
	"fmt"
	"slices"
	"sync"
	"unsafe"
)

// TensorInfo describes one input or output of a model as OIP v2 metadata
// shows it: dynamic dimensions are -1.
type TensorInfo struct {
	Name     string
	DataType DataType
	Shape    []int64
}

// SessionOptions tune one ONNX Runtime session.
type SessionOptions struct {
	// IntraOpThreads is the size of the thread pool inside one operator.
	// Zero means 1: on a gateway, parallelism comes from concurrent
	// requests, and a per-session pool that spins steals the cores the
	// HTTP server needs.
	IntraOpThreads int
	// InterOpThreads > 1 runs independent graph branches in parallel.
	// Zero means 1.
	InterOpThreads int
	// AllowSpinning lets idle pool threads busy-wait for work. Off by
	// default for the reason above.
	AllowSpinning bool
	// GraphOptimization is ONNX Runtime's level: 1 basic, 2 extended,
	// 99 all; -1 disables optimisation. Zero (unset) means all.
	GraphOptimization int
}

// Session is one loaded model file: an ONNX Runtime session plus what it
// takes and gives. Run calls on it may overlap; ONNX Runtime's Run is safe
// for concurrent use.
type Session struct {
	c       *C.OrtSession
	Inputs  []TensorInfo
	Outputs []TensorInfo

	// Provider is the execution provider the session was created with:
	// ProviderCPU, or ProviderCUDA when the CUDA provider was appended
	// (ONNX Runtime still runs any node CUDA lacks a kernel for on CPU).
	Provider string
	// FallbackReason is set by NewSessionFor when CUDA was asked for
	// (execution_provider auto, or cuda with fallback: cpu) but the
	// session runs on CPU: it says why CUDA could not be used.
	FallbackReason string

	// C arrays of input and output names, made once: Run takes them as
	// they are on every call.
	inNames  **C.char
	outNames **C.char

	calls    sync.Pool
	inflight sync.WaitGroup
	// closeMu orders AcquireCall's inflight.Add before Close's Wait.
	// Acquirers only read-lock it, so concurrent requests do not queue
	// on it.
	closeMu sync.RWMutex
	closed  bool
}

// NewSession loads the model at path on the CPU execution provider. The
// error says what ONNX Runtime disliked about the file (a corrupt protobuf,
// an unknown operator, ...). NewSessionFor picks the provider from a
// model's config.
func (e *Environment) NewSession(path string, opts SessionOptions) (*Session, error) {
	return e.newSession(path, opts, nil)
}

// appendError is a failure to append an execution provider to the session
// options, as opposed to a failure to create the session: ONNX Runtime
// loads the provider's shared library and parses its options there.
type appendError struct{ err error }

func (a *appendError) Error() string { return a.err.Error() }
func (a *appendError) Unwrap() error { return a.err }

// newSession creates a session; a non-nil cuda map appends the CUDA
// execution provider with those provider options (device_id included),
// ahead of the CPU provider ONNX Runtime always keeps as the last resort.
func (e *Environment) newSession(path string, opts SessionOptions, cuda map[string]string) (*Session, error) {
	intra, inter := opts.IntraOpThreads, opts.InterOpThreads
	if intra <= 0 {
		intra = 1
	}
	if inter <= 0 {
		inter = 1
	}
	level := opts.GraphOptimization
	switch {
	case level == 0:
		level = 99
	case level < 0:
		level = 0
	}
	var so *C.OrtSessionOptions
	spin := 0
	if opts.AllowSpinning {
		spin = 1
	}
	if err := cErr(C.ig_create_session_options(C.int(intra), C.int(inter), C.int(level), C.int(spin), &so)); err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	defer C.ig_release_session_options(so)
	provider := ProviderCPU
	if cuda != nil {
		if err := appendCUDA(so, cuda); err != nil {
			return nil, &appendError{err}
		}
		provider = ProviderCUDA
	}
	cPath := C.CString(path)
	defer C.free(unsafe.Pointer(cPath))
	s := &Session{Provider: provider}
	if err := cErr(C.ig_create_session(e.env, cPath, so, &s.c)); err != nil {
		return nil, err
	}
	if err := s.describe(); err != nil {
		C.ig_release_session(s.c)
		return nil, err
	}
	s.inNames = cStrings(tensorNames(s.Inputs))
	s.outNames = cStrings(tensorNames(s.Outputs))
	s.calls.New = func() any { return newCall(s) }
	return s, nil
}

// appendCUDA hands the options, in key order, to ig_append_cuda.
func appendCUDA(so *C.OrtSessionOptions, options map[string]string) error {
	keys := make([]string, 0, len(options))
	for k := range options {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	values := make([]string, len(keys))
	for i, k := range keys {
		values[i] = options[k]
	}
	cKeys, cVals := cStrings(keys), cStrings(values)
	defer freeCStrings(cKeys, len(keys))
	defer freeCStrings(cVals, len(values))
	return cErr(C.ig_append_cuda(so, cKeys, cVals, C.size_t(len(keys))))
}

func (s *Session) describe() error {
	var nin, nout C.size_t
	if err := cErr(C.ig_io_count(s.c, &nin, &nout)); err != nil {
		return err
	}
	read := func(isOutput int, n int) ([]TensorInfo, error) {
		infos := make([]TensorInfo, n)
		for i := range infos {
			var name *C.char
			var onnxType, elemType C.int
			var dims [C.IG_MAX_RANK]C.int64_t
			var rank C.size_t
			if err := cErr(C.ig_io_info(s.c, C.int(isOutput), C.size_t(i), &name, &onnxType, &elemType, &dims[0], &rank)); err != nil {
				return nil, err
			}
			infos[i].Name = C.GoString(name)
			C.free(unsafe.Pointer(name))
			kind := "input"
			if isOutput == 1 {
				kind = "output"
			}
			// ONNX_TYPE_TENSOR is 1; sequences, maps and optionals have no
			// OIP v2 representation.
			if onnxType != 1 {
				return nil, fmt.Errorf("%s %q is not a tensor (ONNX value type %d); OIP v2 serves tensors only", kind, infos[i].Name, int(onnxType))
			}
			dt := DataType(elemType)
			if !dt.Served() {
				return nil, fmt.Errorf("%s %q has element type %s, which infergate does not serve", kind, infos[i].Name, dt)
			}
			if rank > C.IG_MAX_RANK {
				return nil, fmt.Errorf("%s %q has rank %d; infergate serves at most %d dimensions", kind, infos[i].Name, int(rank), C.IG_MAX_RANK)
			}
			infos[i].DataType = dt
			infos[i].Shape = make([]int64, int(rank))
			for d := range infos[i].Shape {
				infos[i].Shape[d] = int64(dims[d])
			}
		}
		return infos, nil
	}
	var err error
	if s.Inputs, err = read(0, int(nin)); err != nil {
		return err
	}
	s.Outputs, err = read(1, int(nout))
	return err
}

// cStrings copies strs into a C array of C strings (at least one slot, so
// the array is never NULL); freeCStrings frees it.
func cStrings(strs []string) **C.char {
	n := max(len(strs), 1)
	arr := (**C.char)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	view := unsafe.Slice(arr, n)
	for i, str := range strs {
		view[i] = C.CString(str)
	}
	return arr
}

func tensorNames(infos []TensorInfo) []string {
	names := make([]string, len(infos))
	for i, info := range infos {
		names[i] = info.Name
	}
	return names
}

func freeCStrings(arr **C.char, n int) {
	if arr == nil {
		return
	}
	for _, p := range unsafe.Slice(arr, max(n, 1)) {
		C.free(unsafe.Pointer(p))
	}
	C.free(unsafe.Pointer(arr))
}

// InputIndex returns the position of the named input, or -1.
func (s *Session) InputIndex(name []byte) int {
	for i := range s.Inputs {
		if s.Inputs[i].Name == string(name) {
			return i
		}
	}
	return -1
}

// OutputIndex returns the position of the named output, or -1.
func (s *Session) OutputIndex(name []byte) int {
	for i := range s.Outputs {
		if s.Outputs[i].Name == string(name) {
			return i
		}
	}
	return -1
}

// AcquireCall returns an empty Call for one inference on s, reusing one
// from an earlier inference when it can. Every AcquireCall must be paired
// with ReleaseCall; until then Close waits.
func (s *Session) AcquireCall() (*Call, error) {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return nil, errSessionClosed
	}
	s.inflight.Add(1)
	s.closeMu.RUnlock()
	c := s.calls.Get().(*Call)
	return c, nil
}

// ReleaseCall frees c's outputs and keeps c for reuse.
func (s *Session) ReleaseCall(c *Call) {
	c.reset()
	s.calls.Put(c)
	s.inflight.Done()
}

// Close waits for inferences in flight, then frees the session. It is safe
// to call twice.
func (s *Session) Close() {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return
	}
	s.closed = true
	s.closeMu.Unlock()
	s.inflight.Wait()
	C.ig_release_session(s.c)
	freeCStrings(s.inNames, len(s.Inputs))
	freeCStrings(s.outNames, len(s.Outputs))
	s.c = nil
}
