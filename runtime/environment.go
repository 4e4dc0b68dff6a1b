package runtime

/*
#cgo CFLAGS: -O2
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "ort.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"
)

// LibraryEnv names the environment variable that points at
// libonnxruntime.so.1, for machines that keep ONNX Runtime elsewhere.
const LibraryEnv = "INFERGATE_ORT_LIB"

// defaultLibraryRel is where `make ort` installs the pinned library,
// relative to the repository root.
const defaultLibraryRel = ".ort/lib/libonnxruntime.so.1"

// LocateLibrary picks the ONNX Runtime library: an explicit path wins, then
// $INFERGATE_ORT_LIB, then .ort/lib under the working directory or any of
// its parents (so tests in package folders find the repository's copy), then
// next to the executable.
func LocateLibrary(explicit string) string {
	if explicit != "" {
		return explicit
	}
	if p := os.Getenv(LibraryEnv); p != "" {
		return p
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			p := filepath.Join(dir, defaultLibraryRel)
			if _, err := os.Stat(p); err == nil {
				return p
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "..", defaultLibraryRel)
		if _, err := os.Stat(p); err == nil {
			return filepath.Clean(p)
		}
	}
	return defaultLibraryRel
}

// Environment is a loaded ONNX Runtime: the shared library and one OrtEnv.
// ONNX Runtime keeps a single environment per process and refcounts it, so
// several Environments (as in tests) share it safely.
type Environment struct {
	env *C.OrtEnv
	// Version is the library's own version string, e.g. "1.29.0".
	Version string
	// Providers lists the execution providers compiled into the library.
	Providers []string
}

// loadMu guards loading the library, which happens once per process;
// loadedPath remembers from where, so a second Environment asking for a
// different file is told instead of silently getting the first one.
var (
	loadMu     sync.Mutex
	loadedPath string
)

// NewEnvironment loads the ONNX Runtime library at libPath and creates an
// environment. When the library is missing the error names the command that
// installs it.
func NewEnvironment(libPath string) (*Environment, error) {
	if libPath == "" {
		libPath = LocateLibrary("")
	}
	if _, err := os.Stat(libPath); err != nil {
		return nil, fmt.Errorf("ONNX Runtime library not found at %q: run `make ort` in the infergate "+
			"repository to install ONNX Runtime 1.29.0, or point %s (or --ort-lib) at libonnxruntime.so.1",
			libPath, LibraryEnv)
	}
	loadMu.Lock()
	defer loadMu.Unlock()
	abs, err := filepath.Abs(libPath)
	if err != nil {
		return nil, err
	}
	if loadedPath != "" && loadedPath != abs {
		return nil, fmt.Errorf("ONNX Runtime is already loaded in this process from %q; it cannot also load %q", loadedPath, abs)
	}
	cPath := C.CString(libPath)
	defer C.free(unsafe.Pointer(cPath))
	var cVersion *C.char
	if err := cErr(C.ig_load(cPath, &cVersion)); err != nil {
		return nil, fmt.Errorf("cannot load ONNX Runtime from %q: %w (reinstall it with `make ort`)", libPath, err)
	}
	loadedPath = abs
	e := &Environment{Version: C.GoString(cVersion)}
	C.free(unsafe.Pointer(cVersion))
	// Warning level: ONNX Runtime's info logs are per-session chatter that
	// operators do not want on stderr.
	if err := cErr(C.ig_create_env(C.int(2), &e.env)); err != nil {
		return nil, fmt.Errorf("cannot create ONNX Runtime environment: %w", err)
	}
	var csv *C.char
	if err := cErr(C.ig_available_providers(&csv)); err == nil {
		e.Providers = strings.Split(C.GoString(csv), ",")
		C.free(unsafe.Pointer(csv))
	}
	return e, nil
}

// Close releases this reference to the process's ONNX Runtime environment.
// Sessions created from it must be closed first.
func (e *Environment) Close() {
	if e.env != nil {
		C.ig_release_env(e.env)
		e.env = nil
	}
}

// cErr turns a malloc'd C error message into a Go error and frees it.
func cErr(msg *C.char) error {
	if msg == nil {
		return nil
	}
	s := C.GoString(msg)
	C.free(unsafe.Pointer(msg))
	return errors.New(s)
}
