package runtime

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/infergate/infergate/configs/demomodels"
)

// cudaTestEnv set to 1 turns on the tests that need a GPU, and makes them
// insist that CUDA works: run them on a machine with an NVIDIA GPU, CUDA 13
// and cuDNN 9 after `make ort-cuda` (bench/cuda-check.sh does). Without it
// they skip, and TestProviderStates covers the machines without a GPU.
const cudaTestEnv = "INFERGATE_TEST_CUDA"

func requireCUDA(t testing.TB) {
	t.Helper()
	if os.Getenv(cudaTestEnv) != "1" {
		t.Skipf("needs a GPU: set %s=1 on a machine with CUDA 13 after `make ort-cuda`", cudaTestEnv)
	}
}

// openCUDADemo loads a demo model with execution_provider: cuda and the
// given CUDA options; the session must really be on CUDA.
func openCUDADemo(t testing.TB, name string, options map[string]string) *Session {
	t.Helper()
	s, provider, err := testEnv(t).NewSessionFor(writeDemoModel(t, t.TempDir(), name), SessionOptions{},
		ProviderConfig{ExecutionProvider: ExecCUDA, CUDAOptions: options})
	if err != nil {
		t.Fatalf("%s on CUDA: %v", name, err)
	}
	t.Cleanup(s.Close)
	if provider != ProviderCUDA || s.Provider != ProviderCUDA || s.FallbackReason != "" {
		t.Fatalf("%s: provider %q (session %q, fallback reason %q); want %s", name, provider, s.Provider, s.FallbackReason, ProviderCUDA)
	}
	return s
}

// randomRequest makes one request for s from its metadata: dynamic
// dimensions take rows (the first) or 3, values are random but finite and
// small enough that no model overflows. ok is false for inputs it cannot
// make (strings).
func randomRequest(s *Session, rng *rand.Rand, rows int) (r *batchReq, ok bool) {
	r = &batchReq{}
	for _, in := range s.Inputs {
		shape := make([]int64, len(in.Shape))
		for k, d := range in.Shape {
			switch {
			case d >= 0:
				shape[k] = d
			case k == 0:
				shape[k] = int64(rows)
			default:
				shape[k] = 3
			}
		}
		n := elementsOf(shape)
		size := in.DataType.Size()
		if size == 0 {
			return nil, false
		}
		d := make([]byte, n*size)
		for e := range n {
			x := (2*rng.Float64() - 1) * 4
			b := d[e*size:]
			switch in.DataType {
			case FP32:
				binary.LittleEndian.PutUint32(b, math.Float32bits(float32(x)))
			case FP64:
				binary.LittleEndian.PutUint64(b, math.Float64bits(x))
			case FP16:
				h, _ := Float32ToFloat16(float32(x))
				binary.LittleEndian.PutUint16(b, h)
			case BOOL:
				b[0] = byte(rng.IntN(2))
			default:
				for k := range size {
					b[k] = byte(rng.Uint32())
				}
				// Small signed values: products and sums stay in range.
				b[0] &= 0x3f
				for k := 1; k < size; k++ {
					b[k] = 0
				}
			}
		}
		r.dts = append(r.dts, in.DataType)
		r.shapes = append(r.shapes, shape)
		r.data = append(r.data, d)
	}
	return r, true
}

// floatValues reads a float output's elements as float64.
func floatValues(dt DataType, b []byte) []float64 {
	var out []float64
	switch dt {
	case FP32:
		for e := 0; e+4 <= len(b); e += 4 {
			out = append(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(b[e:]))))
		}
	case FP64:
		for e := 0; e+8 <= len(b); e += 8 {
			out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(b[e:])))
		}
	case FP16:
		for e := 0; e+2 <= len(b); e += 2 {
			out = append(out, float64(Float16ToFloat32(binary.LittleEndian.Uint16(b[e:]))))
		}
	}
	return out
}

// closeOutputs compares a CUDA result with the CPU one: integer and bool
// outputs exactly, float outputs within rtol of the tensor's largest
// magnitude (matrix products on the GPU sum in another order, and TF32
// rounds their inputs), and returns the largest deviation seen so.
func closeOutputs(got, want batchRes, rtol float64) (worst float64, err error) {
	if len(got.sel) != len(want.sel) {
		return 0, fmt.Errorf("%d outputs, want %d", len(got.sel), len(want.sel))
	}
	for k := range want.sel {
		name := want.infos[k].Name
		if got.dts[k] != want.dts[k] || fmt.Sprint(got.shapes[k]) != fmt.Sprint(want.shapes[k]) {
			return worst, fmt.Errorf("output %s is %s %v, want %s %v", name, got.dts[k], got.shapes[k], want.dts[k], want.shapes[k])
		}
		g, w := floatValues(want.dts[k], got.data[k]), floatValues(want.dts[k], want.data[k])
		if g == nil {
			if string(got.data[k]) != string(want.data[k]) {
				return worst, fmt.Errorf("output %s (%s) differs: % x, want % x", name, want.dts[k], got.data[k], want.data[k])
			}
			continue
		}
		scale := 1e-30
		for _, v := range w {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				scale = max(scale, math.Abs(v))
			}
		}
		for e := range w {
			if g[e] == w[e] || math.IsNaN(g[e]) && math.IsNaN(w[e]) {
				continue
			}
			dev := math.Abs(g[e]-w[e]) / scale
			if math.IsNaN(dev) || math.IsInf(dev, 0) {
				return worst, fmt.Errorf("output %s element %d is %v, want %v", name, e, g[e], w[e])
			}
			if dev > rtol {
				return worst, fmt.Errorf("output %s element %d is %v, want %v: %.3g of the largest magnitude %v, above %g", name, e, g[e], w[e], dev, scale, rtol)
			}
			worst = max(worst, dev)
		}
	}
	return worst, nil
}

// TestCUDAMatchesCPU runs every demo model on CUDA and on CPU with the
// same random inputs, at several batch sizes, and compares the outputs:
// with TF32 (ONNX Runtime's default for FP32 matrix products on the GPU)
// within 1e-2 of each tensor's largest magnitude, with use_tf32: false
// within 1e-5.
func TestCUDAMatchesCPU(t *testing.T) {
	requireCUDA(t)
	for _, tf32 := range []bool{true, false} {
		rtol, options := 1e-2, map[string]string{"gpu_mem_limit": "2GiB"}
		if !tf32 {
			rtol, options = 1e-5, map[string]string{"gpu_mem_limit": "2GiB", "use_tf32": "false"}
		}
		for _, name := range demomodels.Names() {
			t.Run(fmt.Sprintf("%s/tf32=%v", name, tf32), func(t *testing.T) {
				cpu, gpu := openDemo(t, name), openCUDADemo(t, name, options)
				rng := rand.New(rand.NewPCG(7, uint64(len(name))))
				worst := 0.0
				for _, rows := range []int{1, 2, 7, 64} {
					r, ok := randomRequest(cpu, rng, rows)
					if !ok {
						t.Skipf("%s takes strings; the CPU tests cover it", name)
					}
					want, err := solo(cpu, r)
					if err != nil {
						t.Fatalf("CPU run at %d rows: %v", rows, err)
					}
					got, err := solo(gpu, r)
					if err != nil {
						t.Fatalf("CUDA run at %d rows: %v", rows, err)
					}
					w, err := closeOutputs(got, want, rtol)
					if err != nil {
						t.Fatalf("%d rows: CUDA differs from CPU: %v", rows, err)
					}
					worst = max(worst, w)
				}
				t.Logf("largest deviation from CPU: %.3g of the tensor's largest magnitude", worst)
			})
		}
	}
}

// TestCUDABatcherMatchesSoloRuns is the batching property test on the GPU:
// stacked requests get what they get alone on the same CUDA session, and
// only their own rows.
func TestCUDABatcherMatchesSoloRuns(t *testing.T) {
	requireCUDA(t)
	el := elementwiseProp(t)
	el.s = openCUDADemo(t, "elementwise", nil)
	mlp := floatModelProp(t, "mlp", 6, 256, 1)
	mlp.s = openCUDADemo(t, "mlp", map[string]string{"use_tf32": "false"})
	mlp.tol = 1e-4
	for k, m := range []propModel{el, mlp} {
		t.Run(m.name, func(t *testing.T) {
			st := runProperty(t, m, 32, uint64(2000+k))
			t.Logf("%d requests in %d runs; %d runs served >1 request, the largest %d; bit-exact %d, within tolerance %d",
				st.requests, st.runs, st.multi, st.maxRequests, st.exact, st.inexact)
		})
	}
}

// TestCUDABadDevice asks for a device the machine does not have: cuda
// fails with the device named, cuda with fallback: cpu and auto run on CPU
// with that reason.
func TestCUDABadDevice(t *testing.T) {
	requireCUDA(t)
	path := writeDemoModel(t, t.TempDir(), "elementwise")
	env := testEnv(t)
	_, _, err := env.NewSessionFor(path, SessionOptions{}, ProviderConfig{ExecutionProvider: ExecCUDA, DeviceID: 97})
	if err == nil {
		t.Fatal("device 97 loaded")
	}
	t.Logf("cuda on device 97: %v", err)
	for _, want := range []string{"device 97", "fallback: cpu"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	for _, p := range []ProviderConfig{
		{ExecutionProvider: ExecCUDA, DeviceID: 97, Fallback: ExecCPU},
		{ExecutionProvider: ExecAuto, DeviceID: 97},
	} {
		s, provider, err := env.NewSessionFor(path, SessionOptions{}, p)
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		if provider != ProviderCPU || !strings.Contains(s.FallbackReason, "device 97") {
			t.Errorf("%+v: provider %q, reason %q; want CPU with device 97 named", p, provider, s.FallbackReason)
		}
		checkAffine(t, s)
		s.Close()
	}
	// And device 0 still works after those failures.
	checkAffine(t, openCUDADemo(t, "elementwise", nil))
}

// BenchmarkRawMLPCUDA is BenchmarkRawMLP on the GPU: host inputs copied in
// and outputs copied back on every run, as the gateway serves them.
//
//	INFERGATE_TEST_CUDA=1 go test -run '^$' -bench RawMLPCUDA ./runtime/
func BenchmarkRawMLPCUDA(b *testing.B) {
	requireCUDA(b)
	benchRawMLP(b, openCUDADemo(b, "mlp", nil), []int{1, 8, 64, 256, 1024})
}
