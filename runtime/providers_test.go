package runtime

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProviderConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    ProviderConfig
		want []string // substrings of the error; nil: valid
	}{
		{"default", ProviderConfig{}, nil},
		{"cpu", ProviderConfig{ExecutionProvider: "cpu"}, nil},
		{"cuda", ProviderConfig{ExecutionProvider: "cuda", DeviceID: 1}, nil},
		{"cuda fallback", ProviderConfig{ExecutionProvider: "cuda", Fallback: "cpu"}, nil},
		{"auto options", ProviderConfig{ExecutionProvider: "auto", CUDAOptions: map[string]string{
			"gpu_mem_limit": "2GiB", "arena_extend_strategy": "kSameAsRequested",
			"cudnn_conv_algo_search": "heuristic", "use_tf32": "false",
		}}, nil},
		{"tpu", ProviderConfig{ExecutionProvider: "tpu"}, []string{`execution_provider "tpu"`, "cpu", "cuda", "auto"}},
		{"upper case", ProviderConfig{ExecutionProvider: "CUDA"}, []string{`execution_provider "CUDA"`}},
		{"fallback gpu", ProviderConfig{ExecutionProvider: "cuda", Fallback: "gpu"}, []string{`fallback "gpu"`, "use cpu"}},
		{"fallback with auto", ProviderConfig{ExecutionProvider: "auto", Fallback: "cpu"}, []string{"fallback: cpu applies only to execution_provider: cuda"}},
		{"fallback with cpu", ProviderConfig{Fallback: "cpu"}, []string{"fallback: cpu applies only to execution_provider: cuda"}},
		{"negative device", ProviderConfig{ExecutionProvider: "cuda", DeviceID: -1}, []string{"device_id -1", "0 or more"}},
		{"device on cpu", ProviderConfig{DeviceID: 1}, []string{"device_id and cuda_options apply only to execution_provider: cuda or auto"}},
		{"options on cpu", ProviderConfig{ExecutionProvider: "cpu", CUDAOptions: map[string]string{"gpu_mem_limit": "1"}}, []string{"apply only to execution_provider: cuda or auto"}},
		{"unknown option", ProviderConfig{ExecutionProvider: "auto", CUDAOptions: map[string]string{"gpu_mem_limt": "1"}}, []string{`unknown option "gpu_mem_limt"`, "gpu_mem_limit", "arena_extend_strategy"}},
		{"device in options", ProviderConfig{ExecutionProvider: "cuda", CUDAOptions: map[string]string{"device_id": "1"}}, []string{"device_id", "top level"}},
		{"address option", ProviderConfig{ExecutionProvider: "cuda", CUDAOptions: map[string]string{"gpu_external_alloc": "1"}}, []string{"gpu_external_alloc", "memory address"}},
		{"cuda graph", ProviderConfig{ExecutionProvider: "cuda", CUDAOptions: map[string]string{"enable_cuda_graph": "1"}}, []string{"enable_cuda_graph"}},
		{"bad size", ProviderConfig{ExecutionProvider: "cuda", CUDAOptions: map[string]string{"gpu_mem_limit": "lots"}}, []string{"gpu_mem_limit", `"lots"`, "4GiB"}},
		{"zero size", ProviderConfig{ExecutionProvider: "cuda", CUDAOptions: map[string]string{"gpu_mem_limit": "0"}}, []string{"gpu_mem_limit"}},
		{"bad enum", ProviderConfig{ExecutionProvider: "cuda", CUDAOptions: map[string]string{"arena_extend_strategy": "double"}}, []string{"arena_extend_strategy", "kNextPowerOfTwo", "kSameAsRequested"}},
		{"bad bool", ProviderConfig{ExecutionProvider: "cuda", CUDAOptions: map[string]string{"use_tf32": "maybe"}}, []string{"use_tf32", "true or false"}},
		{"bad int", ProviderConfig{ExecutionProvider: "cuda", CUDAOptions: map[string]string{"sdpa_kernel": "-2"}}, []string{"sdpa_kernel"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v; want valid", tc.p, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%+v) = nil; want an error containing %q", tc.p, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate(%+v) = %q; want it to contain %q", tc.p, err, w)
				}
			}
		})
	}
}

func TestProviderOptionsNormalised(t *testing.T) {
	p := ProviderConfig{ExecutionProvider: "auto", DeviceID: 2, CUDAOptions: map[string]string{
		"gpu_mem_limit":          "2GiB",
		"arena_extend_strategy":  "ksameasrequested",
		"cudnn_conv_algo_search": "heuristic",
		"use_tf32":               "false",
		"prefer_nhwc":            "true",
	}}
	got, err := p.providerOptions()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"device_id":              "2",
		"gpu_mem_limit":          "2147483648",
		"arena_extend_strategy":  "kSameAsRequested",
		"cudnn_conv_algo_search": "HEURISTIC",
		"use_tf32":               "0",
		"prefer_nhwc":            "1",
	}
	if len(got) != len(want) {
		t.Fatalf("options = %v; want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("option %s = %q; want %q", k, got[k], v)
		}
	}
	for in, out := range map[string]string{"1024": "1024", "512MiB": "536870912", "1 GB": "1073741824", "3k": "3072"} {
		if v, err := bytesOption(in); err != nil || v != out {
			t.Errorf("bytesOption(%q) = %q, %v; want %q", in, v, err, out)
		}
	}
	if opts, err := (ProviderConfig{}).providerOptions(); err != nil || opts != nil {
		t.Errorf("cpu providerOptions = %v, %v; want nil, nil", opts, err)
	}
}

// TestCleanORTError feeds the messages ONNX Runtime 1.29 gave on a
// machine without CUDA and on one with a GPU.
func TestCleanORTError(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		load     bool
	}{
		{"/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:1988 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() " +
			"[ONNXRuntimeError] : 1 : FAIL : Failed to load library /x/libonnxruntime_providers_cuda.so with error: " +
			"libcublasLt.so.13: cannot open shared object file: No such file or directory\n",
			"/x/libonnxruntime_providers_cuda.so: libcublasLt.so.13: cannot open shared object file: No such file or directory", true},
		{"/onnxruntime_src/x.cc:12 f() [ONNXRuntimeError] : 1 : FAIL : Invalid device ID: 3, must be between 0 (inclusive) and 1 (exclusive).",
			"Invalid device ID: 3, must be between 0 (inclusive) and 1 (exclusive).", false},
		// device_id 97 on a one-GPU H100 machine: the text after INVALID_ARGUMENT
		// is verbatim, the wrapper before it is the usual one.
		{"/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2110 Ort::Status UpdateCUDAProviderOptions() [ONNXRuntimeError] : 2 : INVALID_ARGUMENT : " +
			"provider_options_utils.h:187 Parse Failed to parse provider option \"device_id\": cuda_execution_provider_info.cc:70 operator() " +
			"Invalid device ID: 97, must be between 0 (inclusive) and 1 (exclusive).",
			"Failed to parse provider option \"device_id\": Invalid device ID: 97, must be between 0 (inclusive) and 1 (exclusive).", false},
		{"OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library",
			"OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library", true},
	} {
		got, load := cleanORTError(tc.in)
		if got != tc.want || load != tc.load {
			t.Errorf("cleanORTError(%q) = %q, %v; want %q, %v", tc.in, got, load, tc.want, tc.load)
		}
	}
}

// TestProviderConfigYAML checks the keys sit at the top of config.yaml
// and survive the strict decoder.
func TestProviderConfigYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	yml := "execution_provider: cuda\ndevice_id: 1\nfallback: cpu\ncuda_options:\n" +
		"  gpu_mem_limit: 2147483648\n  arena_extend_strategy: kSameAsRequested\n  use_tf32: false\n"
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := ReadModelConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.ProviderConfig
	if p.ExecutionProvider != "cuda" || p.DeviceID != 1 || p.Fallback != "cpu" ||
		p.CUDAOptions["gpu_mem_limit"] != "2147483648" || p.CUDAOptions["use_tf32"] != "false" ||
		p.CUDAOptions["arena_extend_strategy"] != "kSameAsRequested" {
		t.Fatalf("decoded %+v", p)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestNewSessionForRejectsInvalidConfig(t *testing.T) {
	path := writeDemoModel(t, t.TempDir(), "elementwise")
	s, _, err := testEnv(t).NewSessionFor(path, SessionOptions{}, ProviderConfig{ExecutionProvider: "tpu"})
	if err == nil {
		s.Close()
		t.Fatal("execution_provider tpu: no error")
	}
	if !strings.Contains(err.Error(), `"tpu"`) {
		t.Errorf("error %q does not name the value", err)
	}
}

// cudaLibsInstalled reports whether `make ort-cuda` has put the provider
// libraries next to the library the process loaded.
func cudaLibsInstalled() bool {
	dir := cudaLibDir()
	for _, lib := range []string{cudaSharedLib, cudaProviderLib} {
		if _, err := os.Stat(filepath.Join(dir, lib)); err != nil {
			return false
		}
	}
	return true
}

func TestNewSessionForProviders(t *testing.T) {
	checkProviders(t, testEnv(t), cudaLibsInstalled())
}

// checkProviders exercises every execution_provider setting on env.
// Without the provider libraries CUDA must be refused with the make
// target named; with them, CUDA either works (a GPU machine) or fails
// cleanly with what the loader or ONNX Runtime said, and auto and
// fallback: cpu serve on CPU either way.
func checkProviders(t *testing.T, env *Environment, libs bool) {
	path := writeDemoModel(t, t.TempDir(), "elementwise")
	open := func(t *testing.T, p ProviderConfig) (*Session, string, error) {
		t.Helper()
		s, provider, err := env.NewSessionFor(path, SessionOptions{}, p)
		if err == nil {
			t.Cleanup(s.Close)
			if provider != s.Provider {
				t.Errorf("%+v: returned provider %q but Session.Provider is %q", p, provider, s.Provider)
			}
			if provider != ProviderCPU && provider != ProviderCUDA {
				t.Errorf("%+v: provider %q", p, provider)
			}
			checkAffine(t, s)
		}
		return s, provider, err
	}
	cudaWorks := false

	t.Run("cpu", func(t *testing.T) {
		for _, p := range []ProviderConfig{{}, {ExecutionProvider: "cpu"}} {
			s, provider, err := open(t, p)
			if err != nil {
				t.Fatalf("%+v: %v", p, err)
			}
			if provider != ProviderCPU || s.FallbackReason != "" {
				t.Errorf("%+v: provider %q, fallback reason %q; want %s and none", p, provider, s.FallbackReason, ProviderCPU)
			}
		}
	})

	t.Run("cuda", func(t *testing.T) {
		p := ProviderConfig{ExecutionProvider: "cuda", CUDAOptions: map[string]string{"gpu_mem_limit": "256MiB"}}
		s, provider, err := open(t, p)
		if err == nil {
			cudaWorks = true
			if provider != ProviderCUDA || s.FallbackReason != "" {
				t.Errorf("cuda succeeded on %q (fallback reason %q); want %s", provider, s.FallbackReason, ProviderCUDA)
			}
			if !libs {
				t.Error("cuda succeeded without the provider libraries")
			}
			return
		}
		msg := err.Error()
		t.Logf("cuda: %v", err)
		want := []string{"execution_provider is cuda but", "fallback: cpu"}
		if libs {
			// The loader's or ONNX Runtime's reason, without its source
			// location.
			want = append(want, "CUDA")
			if strings.Contains(msg, "onnxruntime_src") {
				t.Errorf("error %q keeps ONNX Runtime's source location", msg)
			}
			if strings.Contains(msg, "cannot open shared object file") {
				want = append(want, "libcudart.so.13", "LD_LIBRARY_PATH")
			}
		} else {
			want = append(want, "make ort-cuda", cudaProviderLib, cudaSharedLib, cudaLibDir())
		}
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("cuda error %q does not contain %q", msg, w)
			}
		}
	})

	fellBack := func(t *testing.T, p ProviderConfig) {
		s, provider, err := open(t, p)
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		if cudaWorks {
			if provider != ProviderCUDA {
				t.Errorf("%+v: on %q (reason %q) although cuda works", p, provider, s.FallbackReason)
			}
			return
		}
		if provider != ProviderCPU {
			t.Errorf("%+v: provider %q; want %s", p, provider, ProviderCPU)
		}
		t.Logf("%s fell back to CPU: %s", p.Requested(), s.FallbackReason)
		if s.FallbackReason == "" {
			t.Errorf("%+v: on CPU with no fallback reason", p)
		}
		if !libs && !strings.Contains(s.FallbackReason, "make ort-cuda") {
			t.Errorf("fallback reason %q does not name make ort-cuda", s.FallbackReason)
		}
		if strings.Contains(s.FallbackReason, "fallback: cpu") {
			t.Errorf("fallback reason %q tells to set fallback, which is set", s.FallbackReason)
		}
	}
	t.Run("auto", func(t *testing.T) {
		fellBack(t, ProviderConfig{ExecutionProvider: "auto"})
		// A second try after a failed one is as clean as the first.
		fellBack(t, ProviderConfig{ExecutionProvider: "auto", DeviceID: 0, CUDAOptions: map[string]string{"arena_extend_strategy": "kSameAsRequested"}})
	})
	t.Run("cuda fallback cpu", func(t *testing.T) {
		fellBack(t, ProviderConfig{ExecutionProvider: "cuda", Fallback: "cpu"})
	})
	t.Run("concurrent", func(t *testing.T) {
		// Repository.Load creates a few sessions at a time.
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				p := ProviderConfig{ExecutionProvider: "auto"}
				if i%2 == 1 {
					p = ProviderConfig{ExecutionProvider: "cuda", Fallback: "cpu"}
				}
				s, provider, err := env.NewSessionFor(path, SessionOptions{}, p)
				if err != nil {
					t.Errorf("%+v: %v", p, err)
					return
				}
				defer s.Close()
				if !cudaWorks && (provider != ProviderCPU || s.FallbackReason == "") {
					t.Errorf("%+v: provider %q, reason %q", p, provider, s.FallbackReason)
				}
			})
		}
		wg.Wait()
	})
	t.Run("cpu after cuda attempts", func(t *testing.T) {
		if _, provider, err := open(t, ProviderConfig{}); err != nil || provider != ProviderCPU {
			t.Fatalf("cpu after cuda attempts: %q, %v", provider, err)
		}
	})
	t.Run("broken model", func(t *testing.T) {
		// A file CPU cannot load either is the model's fault, and the
		// error says what ONNX Runtime disliked rather than blaming CUDA.
		bad := filepath.Join(t.TempDir(), "bad.onnx")
		if err := os.WriteFile(bad, []byte("not a model"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, p := range []ProviderConfig{{ExecutionProvider: "auto"}, {ExecutionProvider: "cuda", Fallback: "cpu"}} {
			s, _, err := env.NewSessionFor(bad, SessionOptions{}, p)
			if err == nil {
				s.Close()
				t.Fatalf("%+v: a broken model loaded", p)
			}
			if strings.Contains(err.Error(), "make ort-cuda") {
				t.Errorf("%+v: error %q blames CUDA for a broken model", p, err)
			}
		}
	})
}

// checkAffine runs the elementwise demo model, y = 2x + 1, on s.
func checkAffine(t *testing.T, s *Session) {
	t.Helper()
	c, err := s.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	defer s.ReleaseCall(c)
	x := []float32{-1.5, 0, 1, 2, 3, 4, 5, 1e6}
	putFloat32s(c.Input(0, FP32, []int64{2, 4}, len(x)), x)
	if err := c.Run(); err != nil {
		t.Fatalf("Run on %s: %v", s.Provider, err)
	}
	out := c.Output(0)
	if !slices.Equal(out.Shape, []int64{2, 4}) {
		t.Fatalf("output shape %v; want [2 4]", out.Shape)
	}
	got := float32s(out.Data)
	for i := range x {
		if want := 2*x[i] + 1; got[i] != want {
			t.Errorf("on %s: y[%d] = %v; want %v", s.Provider, i, got[i], want)
		}
	}
}

// providerChildEnv, when set, makes TestProviderChild run checkProviders
// in a process whose ONNX Runtime was loaded from a prepared folder:
// "absent" holds no provider libraries, "present" links the ones `make
// ort-cuda` installed.
const providerChildEnv = "INFERGATE_TEST_PROVIDER_CHILD"

func TestProviderChild(t *testing.T) {
	state := os.Getenv(providerChildEnv)
	if state == "" {
		t.Skip("run by TestProviderStates in a child process")
	}
	env := testEnv(t)
	if got, want := cudaLibsInstalled(), state == "present"; got != want {
		t.Fatalf("state %s but provider libraries installed = %v in %s", state, got, cudaLibDir())
	}
	checkProviders(t, env, state == "present")
}

// TestProviderStates runs checkProviders in child processes, each with
// ONNX Runtime loaded from a folder of its own, so both states are tested
// whatever .ort/lib holds, and a crash or abort inside ONNX Runtime fails
// the test instead of killing the whole run.
func TestProviderStates(t *testing.T) {
	if os.Getenv(providerChildEnv) != "" {
		t.Skip("already a child")
	}
	lib, err := filepath.Abs(LocateLibrary(""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("ONNX Runtime not found at %s: run `make ort`", lib)
	}
	states := []string{"absent"}
	src := filepath.Dir(lib)
	if _, err := os.Stat(filepath.Join(src, cudaProviderLib)); err == nil {
		states = append(states, "present")
	} else {
		t.Logf("no %s in %s (`make ort-cuda` not run): testing only its absence", cudaProviderLib, src)
	}
	for _, state := range states {
		t.Run(state, func(t *testing.T) {
			dir := t.TempDir()
			links := []string{filepath.Base(lib)}
			if state == "present" {
				links = append(links, cudaSharedLib, cudaProviderLib)
			}
			for _, name := range links {
				if err := os.Symlink(filepath.Join(src, name), filepath.Join(dir, name)); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestProviderChild$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), providerChildEnv+"="+state, LibraryEnv+"="+filepath.Join(dir, filepath.Base(lib)))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child (%s): %v\n%s", state, err, out)
			}
			if !strings.Contains(string(out), "--- PASS: TestProviderChild") {
				t.Fatalf("child (%s) did not pass:\n%s", state, out)
			}
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, "fell back to CPU") || strings.Contains(line, "cuda: ") {
					t.Log(strings.TrimSpace(line))
				}
			}
		})
	}
}
