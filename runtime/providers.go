package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The execution providers a session can run on, as ONNX Runtime names
// them. These are the values of Session.Provider and of what NewSessionFor
// returns, meant for model metadata, logs and metric labels.
const (
	ProviderCPU  = "CPUExecutionProvider"
	ProviderCUDA = "CUDAExecutionProvider"
)

// The values of execution_provider in config.yaml.
const (
	ExecCPU  = "cpu"
	ExecCUDA = "cuda"
	ExecAuto = "auto"
)

// The CUDA provider's shared libraries. ONNX Runtime looks for them in the
// folder of libonnxruntime.so.1; `make ort-cuda` puts them there.
const (
	cudaSharedLib   = "libonnxruntime_providers_shared.so"
	cudaProviderLib = "libonnxruntime_providers_cuda.so"
)

// cudaRuntimeHint says what the CUDA provider library needs besides
// itself: ONNX Runtime 1.29's CUDA 13 build links the NVIDIA driver,
// cudart, cuBLAS(Lt) and cuRAND, and loads cuDNN 9 when a model needs it.
const cudaRuntimeHint = "the CUDA provider needs an NVIDIA GPU and driver (libcuda.so.1), " +
	"CUDA 13 (libcudart.so.13, libcublas.so.13, libcublasLt.so.13, libcurand.so.10) and cuDNN 9 " +
	"where the dynamic loader finds them (ldconfig or LD_LIBRARY_PATH)"

// ProviderConfig chooses the execution provider of a model's sessions.
// It is embedded in ModelConfig, so its keys sit at the top of config.yaml:
//
//	execution_provider: auto   # cpu (default), cuda or auto
//	device_id: 0
//	fallback: cpu              # only with cuda: run on CPU if CUDA cannot
//	cuda_options:
//	  gpu_mem_limit: 4GiB
//	  arena_extend_strategy: kSameAsRequested
//	  cudnn_conv_algo_search: HEURISTIC
type ProviderConfig struct {
	// ExecutionProvider is "cpu" (the default when empty), "cuda" (the
	// model fails to load when CUDA cannot be used, unless Fallback is
	// "cpu") or "auto" (CUDA when it works, else CPU).
	ExecutionProvider string `yaml:"execution_provider"`
	// DeviceID is the CUDA device the sessions run on.
	DeviceID int `yaml:"device_id"`
	// Fallback "cpu" lets execution_provider cuda run on CPU when CUDA
	// cannot be used; empty (the default) fails the model instead.
	Fallback string `yaml:"fallback"`
	// CUDAOptions are the CUDA provider's options (UpdateCUDAProviderOptions),
	// e.g. gpu_mem_limit (bytes of the memory arena, or with a KiB, MiB
	// or GiB suffix), arena_extend_strategy, cudnn_conv_algo_search.
	CUDAOptions map[string]string `yaml:"cuda_options"`
}

// cudaOption describes one CUDA provider option config.yaml may set:
// normalize checks a value and returns it as ONNX Runtime parses it.
type cudaOption func(v string) (string, error)

func boolOption(v string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return "1", nil
	case "0", "false", "no", "off":
		return "0", nil
	}
	return "", fmt.Errorf("%q is not a boolean; use true or false", v)
}

func enumOption(names ...string) cudaOption {
	return func(v string) (string, error) {
		for _, n := range names {
			if strings.EqualFold(strings.TrimSpace(v), n) {
				return n, nil
			}
		}
		return "", fmt.Errorf("%q is not one of %s", v, strings.Join(names, ", "))
	}
}

func intOption(v string) (string, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil || n < 0 {
		return "", fmt.Errorf("%q is not a non-negative integer", v)
	}
	return strconv.FormatInt(n, 10), nil
}

// bytesOption takes a byte count, plain or with a KiB/MiB/GiB/TiB (or
// KB/MB/GB/TB, taken as powers of 1024) suffix.
func bytesOption(v string) (string, error) {
	s := strings.TrimSpace(v)
	mult := uint64(1)
	units := []struct {
		suffix string
		mult   uint64
	}{
		{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
		{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10},
		{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10},
	}
	for _, u := range units {
		if len(s) > len(u.suffix) && strings.EqualFold(s[len(s)-len(u.suffix):], u.suffix) {
			s, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || n > (1<<63)/mult {
		return "", fmt.Errorf("%q is not a positive size in bytes (e.g. 4294967296 or 4GiB)", v)
	}
	return strconv.FormatUint(n*mult, 10), nil
}

// cudaOptions are the CUDA provider options of ONNX Runtime 1.29 that a
// config may set. device_id has its own key; the options that take memory
// addresses (user_compute_stream, gpu_external_*) make no sense in a file.
var cudaOptions = map[string]cudaOption{
	"gpu_mem_limit":                      bytesOption,
	"arena_extend_strategy":              enumOption("kNextPowerOfTwo", "kSameAsRequested"),
	"cudnn_conv_algo_search":             enumOption("EXHAUSTIVE", "HEURISTIC", "DEFAULT"),
	"do_copy_in_default_stream":          boolOption,
	"cudnn_conv_use_max_workspace":       boolOption,
	"cudnn_conv1d_pad_to_nc1d":           boolOption,
	"enable_cudnn":                       boolOption,
	"prefer_nhwc":                        boolOption,
	"use_ep_level_unified_stream":        boolOption,
	"use_tf32":                           boolOption,
	"fuse_conv_bias":                     boolOption,
	"tunable_op_enable":                  boolOption,
	"tunable_op_tuning_enable":           boolOption,
	"tunable_op_max_tuning_duration_ms":  intOption,
	"enable_skip_layer_norm_strict_mode": boolOption,
	"sdpa_kernel":                        intOption,
}

// cudaOptionsRefused explains the CUDA provider options a config may not set.
var cudaOptionsRefused = map[string]string{
	"device_id":                "set device_id at the top level of config.yaml, not under cuda_options",
	"enable_cuda_graph":        "CUDA graphs need inputs and outputs bound in GPU memory, which infergate does not do; remove it",
	"has_user_compute_stream":  "infergate manages CUDA streams through ONNX Runtime; remove it",
	"user_compute_stream":      "it takes a memory address; remove it",
	"gpu_external_alloc":       "it takes a memory address; remove it",
	"gpu_external_free":        "it takes a memory address; remove it",
	"gpu_external_empty_cache": "it takes a memory address; remove it",
}

// Requested returns the execution provider asked for: "cpu", "cuda" or
// "auto" (empty means cpu).
func (p ProviderConfig) Requested() string {
	if p.ExecutionProvider == "" {
		return ExecCPU
	}
	return p.ExecutionProvider
}

// Validate checks the provider settings; each error names the key and the
// fix. ModelConfig's validation calls it, and so does NewSessionFor.
func (p ProviderConfig) Validate() error {
	_, err := p.providerOptions()
	return err
}

// providerOptions validates p and returns the CUDA provider options to
// pass to ONNX Runtime (device_id included), normalised as ONNX Runtime
// parses them; nil for cpu.
func (p ProviderConfig) providerOptions() (map[string]string, error) {
	switch p.ExecutionProvider {
	case "", ExecCPU, ExecCUDA, ExecAuto:
	default:
		return nil, fmt.Errorf("execution_provider %q: use cpu (the default), cuda, or auto (CUDA when it works, else CPU)", p.ExecutionProvider)
	}
	exec := p.Requested()
	switch p.Fallback {
	case "":
	case ExecCPU:
		if exec != ExecCUDA {
			return nil, fmt.Errorf("fallback: cpu applies only to execution_provider: cuda (auto already falls back to CPU; cpu needs none); remove it")
		}
	default:
		return nil, fmt.Errorf("fallback %q: use cpu (run on CPU when CUDA cannot be used) or leave it out (fail the model instead)", p.Fallback)
	}
	if p.DeviceID < 0 {
		return nil, fmt.Errorf("device_id %d: must be 0 or more (the CUDA device index, as nvidia-smi lists it)", p.DeviceID)
	}
	if exec == ExecCPU {
		if p.DeviceID != 0 || len(p.CUDAOptions) > 0 {
			return nil, errors.New("device_id and cuda_options apply only to execution_provider: cuda or auto; remove them or set execution_provider")
		}
		return nil, nil
	}
	out := map[string]string{"device_id": strconv.Itoa(p.DeviceID)}
	keys := make([]string, 0, len(p.CUDAOptions))
	for k := range p.CUDAOptions {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if why, ok := cudaOptionsRefused[k]; ok {
			return nil, fmt.Errorf("cuda_options: %s cannot be set here: %s", k, why)
		}
		norm, ok := cudaOptions[k]
		if !ok {
			known := make([]string, 0, len(cudaOptions))
			for name := range cudaOptions {
				known = append(known, name)
			}
			slices.Sort(known)
			return nil, fmt.Errorf("cuda_options: unknown option %q; the CUDA provider's options are %s", k, strings.Join(known, ", "))
		}
		v, err := norm(p.CUDAOptions[k])
		if err != nil {
			return nil, fmt.Errorf("cuda_options: %s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

// cudaLibDir is the folder ONNX Runtime loads the CUDA provider from: the
// one libonnxruntime.so.1 was loaded from.
func cudaLibDir() string {
	loadMu.Lock()
	defer loadMu.Unlock()
	return filepath.Dir(loadedPath)
}

// NewSessionFor loads the model at path on the execution provider p asks
// for and returns the provider the session really runs on, ProviderCUDA
// or ProviderCPU (also in s.Provider):
//
//   - cpu: a CPU session.
//   - cuda: a CUDA session, or an error that says what is missing and how
//     to fix it; with fallback: cpu, a CPU session instead of that error.
//   - auto: a CUDA session when CUDA works, else a CPU session.
//
// When CUDA was asked for and the session runs on CPU, s.FallbackReason
// says why CUDA could not be used, for a warning in the log. An invalid p
// is an error, as Validate reports it.
func (e *Environment) NewSessionFor(path string, opts SessionOptions, p ProviderConfig) (s *Session, provider string, err error) {
	cuda, err := p.providerOptions()
	if err != nil {
		return nil, "", err
	}
	if cuda == nil {
		s, err = e.newSession(path, opts, nil)
		if err != nil {
			return nil, "", err
		}
		return s, s.Provider, nil
	}
	s, why := e.tryCUDA(path, opts, cuda, p.DeviceID)
	if why == nil {
		return s, s.Provider, nil
	}
	if p.Requested() == ExecCUDA && p.Fallback != ExecCPU {
		return nil, "", fmt.Errorf("execution_provider is cuda but %w; or set fallback: cpu (or execution_provider: auto) to run this model on CPU when CUDA is unavailable", why)
	}
	s, err = e.newSession(path, opts, nil)
	if err != nil {
		// The model itself is at fault: CPU cannot load it either.
		return nil, "", err
	}
	s.FallbackReason = why.Error()
	return s, s.Provider, nil
}

// tryCUDA creates a CUDA session, or says why it cannot.
func (e *Environment) tryCUDA(path string, opts SessionOptions, cuda map[string]string, device int) (*Session, error) {
	// ONNX Runtime reports missing provider libraries cleanly too (an
	// error, no abort), but in its own words; the common case of `make
	// ort-cuda` not having been run is told here without calling it.
	dir := cudaLibDir()
	var missing []string
	for _, lib := range []string{cudaSharedLib, cudaProviderLib} {
		if _, err := os.Stat(filepath.Join(dir, lib)); err != nil {
			missing = append(missing, lib)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the CUDA provider is not installed: %s not found in %s (next to libonnxruntime.so.1); "+
			"run `make ort-cuda` to install ONNX Runtime 1.29.0's CUDA 13 provider there",
			strings.Join(missing, " and "), dir)
	}
	s, err := e.newSession(path, opts, cuda)
	if err == nil {
		return s, nil
	}
	msg, loadFailed := cleanORTError(err.Error())
	var ae *appendError
	switch {
	case loadFailed:
		// Appending the provider (or parsing its options) loads the
		// provider library and, through it, the CUDA libraries.
		return nil, fmt.Errorf("the CUDA provider cannot load: %s; %s", msg, cudaRuntimeHint)
	case errors.As(err, &ae):
		// The library loaded; parsing the options failed, device_id
		// included, which is checked against the devices CUDA sees.
		return nil, fmt.Errorf("the CUDA provider cannot start on device %d with the given cuda_options: %s "+
			"(check that nvidia-smi lists the device and that the driver supports CUDA 13)", device, msg)
	}
	return nil, fmt.Errorf("ONNX Runtime cannot create a CUDA session on device %d: %s", device, msg)
}

// cleanORTError drops the source location ONNX Runtime puts before its
// messages ("/onnxruntime_src/...cc:1988 onnxruntime::Provider& ...()
// [ONNXRuntimeError] : 1 : FAIL : ") and keeps what the dynamic loader
// said when a library failed to load; loadFailed tells that case.
func cleanORTError(msg string) (clean string, loadFailed bool) {
	msg = strings.TrimSpace(msg)
	if i := strings.Index(msg, "Failed to load library "); i >= 0 {
		msg = msg[i+len("Failed to load library "):]
		return strings.Replace(msg, " with error: ", ": ", 1), true
	}
	if strings.Contains(msg, "Failed to load shared library") {
		// What appending says when it loads the library without options
		// to parse first; ONNX Runtime logs the loader's reason instead.
		return msg, true
	}
	if i := strings.LastIndex(msg, "[ONNXRuntimeError] : "); i >= 0 {
		rest := msg[i+len("[ONNXRuntimeError] : "):]
		// "<code> : <NAME> : <message>"
		if parts := strings.SplitN(rest, " : ", 3); len(parts) == 3 {
			msg = parts[2]
		}
	}
	return strings.TrimSpace(ortSourceLocation.ReplaceAllString(msg, "")), false
}

// ortSourceLocation matches the "file.cc:70 function " prefixes ONNX
// Runtime puts inside nested messages, e.g. the CUDA provider's
// `provider_options_utils.h:187 Parse Failed to parse provider option
// "device_id": cuda_execution_provider_info.cc:70 operator() Invalid
// device ID: 97, ...`.
var ortSourceLocation = regexp.MustCompile(`[\w./-]+\.(?:h|hpp|cc|cpp):\d+ \S+ `)
