package runtime

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infergate/infergate/configs/demomodels"
)

var (
	sharedEnvOnce sync.Once
	sharedEnv     *Environment
	sharedEnvErr  error
)

// testEnv returns the process's ONNX Runtime environment, loaded once from
// the repository's .ort/lib and never closed: ONNX Runtime keeps one
// environment per process anyway.
func testEnv(t testing.TB) *Environment {
	t.Helper()
	sharedEnvOnce.Do(func() { sharedEnv, sharedEnvErr = NewEnvironment("") })
	if sharedEnvErr != nil {
		t.Fatalf("NewEnvironment: %v", sharedEnvErr)
	}
	return sharedEnv
}

// writeDemoModel writes the named demo model to dir/<name>.onnx.
func writeDemoModel(t testing.TB, dir, name string) string {
	t.Helper()
	b, err := demomodels.Model(name)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// openDemo loads a demo model in a fresh session, closed at cleanup.
func openDemo(t testing.TB, name string) *Session {
	t.Helper()
	s, err := testEnv(t).NewSession(writeDemoModel(t, t.TempDir(), name), SessionOptions{})
	if err != nil {
		t.Fatalf("NewSession(%s): %v", name, err)
	}
	t.Cleanup(s.Close)
	return s
}

func putFloat32s(dst []byte, vals []float32) {
	for i, v := range vals {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

func float32s(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// stringTensor packs elements the way InputStrings takes them.
func stringTensor(elems []string) ([]byte, []int) {
	var blob []byte
	offsets := []int{0}
	for _, e := range elems {
		blob = append(blob, e...)
		offsets = append(offsets, len(blob))
	}
	return blob, offsets
}

func TestNewEnvironment(t *testing.T) {
	env := testEnv(t)
	if env.Version == "" {
		t.Error("Environment.Version is empty")
	}
	if !slices.Contains(env.Providers, "CPUExecutionProvider") {
		t.Errorf("Providers = %q, want CPUExecutionProvider among them", env.Providers)
	}
	// A second environment shares the process's ONNX Runtime and can be
	// closed on its own, twice.
	env2, err := NewEnvironment("")
	if err != nil {
		t.Fatal(err)
	}
	if env2.Version != env.Version {
		t.Errorf("second environment reports version %q, first %q", env2.Version, env.Version)
	}
	env2.Close()
	env2.Close()
	// The first still works.
	openDemo(t, "scalar")
}

func TestNewEnvironmentMissingLibrary(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere", "libonnxruntime.so.1")
	env, err := NewEnvironment(missing)
	if err == nil {
		env.Close()
		t.Fatal("NewEnvironment with a missing library: no error")
	}
	for _, want := range []string{"make ort", missing, LibraryEnv} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestLocateLibrary(t *testing.T) {
	t.Setenv(LibraryEnv, "")
	found := LocateLibrary("")
	if !strings.HasSuffix(found, defaultLibraryRel) {
		t.Errorf("LocateLibrary(\"\") = %q, want a path ending in %s", found, defaultLibraryRel)
	}
	if _, err := os.Stat(found); err != nil {
		t.Errorf("LocateLibrary(\"\") = %q: %v", found, err)
	}
	if got := LocateLibrary("/explicit/lib.so"); got != "/explicit/lib.so" {
		t.Errorf("LocateLibrary(explicit) = %q", got)
	}
	t.Setenv(LibraryEnv, "/from/env/lib.so")
	if got := LocateLibrary(""); got != "/from/env/lib.so" {
		t.Errorf("LocateLibrary with $%s set = %q", LibraryEnv, got)
	}
	if got := LocateLibrary("/explicit/lib.so"); got != "/explicit/lib.so" {
		t.Errorf("LocateLibrary(explicit) with $%s set = %q, the explicit path must win", LibraryEnv, got)
	}
}

func TestNewSessionBadFiles(t *testing.T) {
	env := testEnv(t)
	dir := t.TempDir()
	good, err := demomodels.Model("elementwise")
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string, content []byte) {
		t.Helper()
		path := filepath.Join(dir, name)
		if content != nil {
			if err := os.WriteFile(path, content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s, err := env.NewSession(path, SessionOptions{})
		if err == nil {
			s.Close()
			t.Errorf("NewSession(%s): no error", name)
			return
		}
		if err.Error() == "" {
			t.Errorf("NewSession(%s): empty error", name)
		}
	}
	f("missing.onnx", nil)
	f("empty.onnx", []byte{})
	f("text.onnx", []byte("this is not a protobuf, just some text\n"))
	f("garbage.onnx", bytes.Repeat([]byte{0xff, 0x00, 0x13, 0x37}, 1000))
	f("truncated.onnx", good[:len(good)/2])
	f("directory", func() []byte {
		if err := os.Mkdir(filepath.Join(dir, "directory"), 0o755); err != nil {
			t.Fatal(err)
		}
		return nil
	}())
}

func TestSessionOptions(t *testing.T) {
	env := testEnv(t)
	path := writeDemoModel(t, t.TempDir(), "elementwise")
	for _, opts := range []SessionOptions{
		{},
		{IntraOpThreads: 2, InterOpThreads: 2},
		{AllowSpinning: true},
		{GraphOptimization: -1},
		{GraphOptimization: 1},
		{GraphOptimization: 2},
		{GraphOptimization: 99},
		{IntraOpThreads: -3, InterOpThreads: -1},
	} {
		s, err := env.NewSession(path, opts)
		if err != nil {
			t.Errorf("NewSession(%+v): %v", opts, err)
			continue
		}
		runElementwise(t, s, []float32{1, 2, 3, 4})
		s.Close()
	}
}

func TestSessionMetadata(t *testing.T) {
	type io = []TensorInfo
	want := map[string][2]io{
		"cnn": {
			{{"image", FP32, []int64{-1, 3, 64, 64}}},
			{{"probabilities", FP32, []int64{-1, 10}}},
		},
		"constant": {
			{},
			{{"value", FP32, []int64{2, 3}}, {"answer", INT64, []int64{}}},
		},
		"dtypes_float": {
			{{"f16", FP16, []int64{-1}}, {"f32", FP32, []int64{-1}}, {"f64", FP64, []int64{-1}}},
			{{"f16_out", FP16, []int64{-1}}, {"f32_out", FP32, []int64{-1}}, {"f64_out", FP64, []int64{-1}}},
		},
		"dtypes_int": {
			{{"i8", INT8, []int64{-1}}, {"i16", INT16, []int64{-1}}, {"i32", INT32, []int64{-1}}, {"i64", INT64, []int64{-1}},
				{"u8", UINT8, []int64{-1}}, {"u16", UINT16, []int64{-1}}, {"u32", UINT32, []int64{-1}}, {"u64", UINT64, []int64{-1}}},
			{{"i8_out", INT8, []int64{-1}}, {"i16_out", INT16, []int64{-1}}, {"i32_out", INT32, []int64{-1}}, {"i64_out", INT64, []int64{-1}},
				{"u8_out", UINT8, []int64{-1}}, {"u16_out", UINT16, []int64{-1}}, {"u32_out", UINT32, []int64{-1}}, {"u64_out", UINT64, []int64{-1}}},
		},
		"dtypes_misc": {
			{{"flags", BOOL, []int64{-1}}, {"text", BYTES, []int64{-1}}},
			{{"flags_out", BOOL, []int64{-1}}, {"text_out", BYTES, []int64{-1}}},
		},
		"elementwise": {
			{{"x", FP32, []int64{-1, 4}}},
			{{"y", FP32, []int64{-1, 4}}},
		},
		"fraud": {
			{{"features", FP32, []int64{-1, 30}}},
			{{"probabilities", FP32, []int64{-1, 2}}},
		},
		"mlp": {
			{{"input", FP32, []int64{-1, 256}}},
			{{"logits", FP32, []int64{-1, 16}}},
		},
		"multi_output": {
			{{"x", FP32, []int64{-1, 5}}},
			{{"probabilities", FP32, []int64{-1, 5}}, {"label", INT64, []int64{-1}}, {"positive", BOOL, []int64{-1, 5}}},
		},
		"scalar": {
			{{"x", FP32, []int64{}}},
			{{"y", FP32, []int64{}}},
		},
	}
	same := func(got, want []TensorInfo) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if got[i].Name != want[i].Name || got[i].DataType != want[i].DataType || !slices.Equal(got[i].Shape, want[i].Shape) {
				return false
			}
		}
		return true
	}
	f := func(name string, wantIn, wantOut []TensorInfo) {
		t.Helper()
		s := openDemo(t, name)
		if !same(s.Inputs, wantIn) {
			t.Errorf("%s: Inputs = %v, want %v", name, s.Inputs, wantIn)
		}
		if !same(s.Outputs, wantOut) {
			t.Errorf("%s: Outputs = %v, want %v", name, s.Outputs, wantOut)
		}
		for i, in := range s.Inputs {
			if got := s.InputIndex([]byte(in.Name)); got != i {
				t.Errorf("%s: InputIndex(%q) = %d, want %d", name, in.Name, got, i)
			}
		}
		for i, out := range s.Outputs {
			if got := s.OutputIndex([]byte(out.Name)); got != i {
				t.Errorf("%s: OutputIndex(%q) = %d, want %d", name, out.Name, got, i)
			}
		}
		if s.InputIndex([]byte("no such input")) != -1 || s.OutputIndex([]byte("no such output")) != -1 {
			t.Errorf("%s: an unknown name has an index", name)
		}
	}
	for _, name := range demomodels.Names() {
		w, ok := want[name]
		if !ok {
			t.Errorf("demo model %s has no expected metadata in this test", name)
			continue
		}
		f(name, w[0], w[1])
	}
}

// runElementwise runs x (a multiple of 4 values) through elementwise and
// checks y = 2x + 1 exactly.
func runElementwise(t testing.TB, s *Session, x []float32) {
	t.Helper()
	if err := elementwiseOnce(s, x); err != nil {
		t.Fatal(err)
	}
}

// elementwiseOnce is runElementwise without testing.TB, for goroutines.
func elementwiseOnce(s *Session, x []float32) error {
	c, err := s.AcquireCall()
	if err != nil {
		return err
	}
	defer s.ReleaseCall(c)
	rows := int64(len(x) / 4)
	putFloat32s(c.Input(0, FP32, []int64{rows, 4}, len(x)), x)
	if err := c.Run(); err != nil {
		return err
	}
	if sel := c.Selected(); !slices.Equal(sel, []int{0}) {
		return fmt.Errorf("Selected() = %v, want [0]", sel)
	}
	out := c.Output(0)
	if out.DataType != FP32 || !slices.Equal(out.Shape, []int64{rows, 4}) || out.Elements != len(x) || out.Info.Name != "y" {
		return fmt.Errorf("output %s %v (%d elements, info %q), want FP32 [%d 4]", out.DataType, out.Shape, out.Elements, out.Info.Name, rows)
	}
	y := float32s(out.Data)
	if len(y) != len(x) {
		return fmt.Errorf("output holds %d floats, want %d", len(y), len(x))
	}
	for i := range x {
		if want := 2*x[i] + 1; y[i] != want {
			return fmt.Errorf("y[%d] = %v for x = %v, want %v", i, y[i], x[i], want)
		}
	}
	return nil
}

func TestRunElementwise(t *testing.T) {
	s := openDemo(t, "elementwise")
	c, err := s.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{0, 1, -1, 0.5, -2.25, 1e6, -1e-3, 3.75, float32(math.Inf(1)), 1 << 20, -0.0, 7}
	buf := c.Input(0, FP32, []int64{3, 4}, 12)
	if len(buf) != 48 {
		t.Fatalf("Input returned %d bytes, want 48", len(buf))
	}
	putFloat32s(buf, x)
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	out := c.Output(0)
	if out.DataType != FP32 || !slices.Equal(out.Shape, []int64{3, 4}) || out.Elements != 12 || len(out.Data) != 48 {
		t.Fatalf("output %s %v, %d elements, %d bytes; want FP32 [3 4], 12, 48", out.DataType, out.Shape, out.Elements, len(out.Data))
	}
	if out.Info != &s.Outputs[0] {
		t.Errorf("Output.Info = %p, want &s.Outputs[0]", out.Info)
	}
	for i, y := range float32s(out.Data) {
		if want := 2*x[i] + 1; y != want {
			t.Errorf("y[%d] = %v, want %v", i, y, want)
		}
	}
	s.ReleaseCall(c)
}

func TestRunZeroSized(t *testing.T) {
	s := openDemo(t, "elementwise")
	c, err := s.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	defer s.ReleaseCall(c)
	if buf := c.Input(0, FP32, []int64{0, 4}, 0); len(buf) != 0 {
		t.Fatalf("Input([0 4]) returned %d bytes", len(buf))
	}
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	out := c.Output(0)
	if !slices.Equal(out.Shape, []int64{0, 4}) || out.Elements != 0 || len(out.Data) != 0 || out.DataType != FP32 {
		t.Fatalf("output %s %v, %d elements, %d bytes; want FP32 [0 4] and nothing", out.DataType, out.Shape, out.Elements, len(out.Data))
	}
}

func TestRunConstant(t *testing.T) {
	s := openDemo(t, "constant")
	for range 3 {
		c, err := s.AcquireCall()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Run(); err != nil {
			t.Fatal(err)
		}
		if sel := c.Selected(); !slices.Equal(sel, []int{0, 1}) {
			t.Fatalf("Selected() = %v, want [0 1]", sel)
		}
		v := c.Output(0)
		if v.DataType != FP32 || !slices.Equal(v.Shape, []int64{2, 3}) || v.Elements != 6 {
			t.Fatalf("value: %s %v %d", v.DataType, v.Shape, v.Elements)
		}
		if got, want := float32s(v.Data), []float32{0.5, 1.5, 2.5, 3.5, 4.5, 5.5}; !slices.Equal(got, want) {
			t.Fatalf("value = %v, want %v", got, want)
		}
		a := c.Output(1)
		if a.DataType != INT64 || len(a.Shape) != 0 || a.Elements != 1 || len(a.Data) != 8 {
			t.Fatalf("answer: %s %v, %d elements, %d bytes; want INT64 [] 1 8", a.DataType, a.Shape, a.Elements, len(a.Data))
		}
		if got := int64(binary.LittleEndian.Uint64(a.Data)); got != 42 {
			t.Fatalf("answer = %d, want 42", got)
		}
		s.ReleaseCall(c)
	}
}

func TestRunScalar(t *testing.T) {
	s := openDemo(t, "scalar")
	f := func(x, want float32) {
		t.Helper()
		c, err := s.AcquireCall()
		if err != nil {
			t.Fatal(err)
		}
		defer s.ReleaseCall(c)
		putFloat32s(c.Input(0, FP32, []int64{}, 1), []float32{x})
		if err := c.Run(); err != nil {
			t.Fatal(err)
		}
		out := c.Output(0)
		if len(out.Shape) != 0 || out.Elements != 1 || len(out.Data) != 4 {
			t.Fatalf("scalar output %v, %d elements, %d bytes", out.Shape, out.Elements, len(out.Data))
		}
		if got := float32s(out.Data)[0]; got != want {
			t.Errorf("3 * %v = %v, want %v", x, got, want)
		}
	}
	f(7, 21)
	f(-0.5, -1.5)
	f(0, 0)
	f(2e38, float32(math.Inf(1)))
	f(float32(math.Inf(-1)), float32(math.Inf(-1)))
}

func TestRunStrings(t *testing.T) {
	s := openDemo(t, "dtypes_misc")
	text, flags := s.InputIndex([]byte("text")), s.InputIndex([]byte("flags"))
	f := func(elems []string, bools []bool) {
		t.Helper()
		c, err := s.AcquireCall()
		if err != nil {
			t.Fatal(err)
		}
		defer s.ReleaseCall(c)
		fb := c.Input(flags, BOOL, []int64{int64(len(bools))}, len(bools))
		for i, b := range bools {
			fb[i] = 0
			if b {
				fb[i] = 1
			}
		}
		blob, offsets := stringTensor(elems)
		c.InputStrings(text, []int64{int64(len(elems))}, blob, offsets)
		// The bytes were copied: scribbling over the caller's blob must
		// not change what runs.
		for i := range blob {
			blob[i] = '#'
		}
		if err := c.Run(); err != nil {
			t.Fatal(err)
		}
		textOut := s.OutputIndex([]byte("text_out"))
		flagsOut := s.OutputIndex([]byte("flags_out"))
		k := slices.Index(c.Selected(), textOut)
		o := c.Output(k)
		if o.DataType != BYTES || !slices.Equal(o.Shape, []int64{int64(len(elems))}) || o.Elements != len(elems) || o.Data != nil {
			t.Fatalf("text_out: %s %v, %d elements, data %v", o.DataType, o.Shape, o.Elements, o.Data)
		}
		gotBlob, gotOffsets, err := c.OutputStrings(k)
		if err != nil {
			t.Fatal(err)
		}
		if len(gotOffsets) != len(elems)+1 {
			t.Fatalf("OutputStrings gave %d offsets for %d elements", len(gotOffsets), len(elems))
		}
		if gotOffsets[0] != 0 || gotOffsets[len(elems)] != uint64(len(gotBlob)) {
			t.Fatalf("offsets %v do not span the %d-byte blob", gotOffsets, len(gotBlob))
		}
		for i, want := range elems {
			if got := string(gotBlob[gotOffsets[i]:gotOffsets[i+1]]); got != want {
				t.Errorf("text_out[%d] = %q, want %q", i, got, want)
			}
		}
		fo := c.Output(slices.Index(c.Selected(), flagsOut))
		if fo.DataType != BOOL || len(fo.Data) != len(bools) {
			t.Fatalf("flags_out: %s, %d bytes", fo.DataType, len(fo.Data))
		}
		for i, b := range bools {
			if want := !b; (fo.Data[i] != 0) != want {
				t.Errorf("flags_out[%d] = %d, want %v", i, fo.Data[i], want)
			}
		}
	}
	f([]string{"hello", "a\x00b", "", "üñï©ødé", "\x00", "tail\x00"}, []bool{true, false, true})
	f([]string{"", "", ""}, []bool{false})
	f([]string{""}, []bool{true, true})
	f([]string{}, []bool{})
	f([]string{"\xff\xfe not UTF-8 \x80"}, []bool{false, true, false, true})
	f([]string{strings.Repeat("long string ", 10000), "x"}, []bool{true})
}

func TestSelectOutput(t *testing.T) {
	s := openDemo(t, "multi_output")
	x := []float32{
		-1, 2, 0, 3, -4,
		5, -6, 7, 0.5, 1,
	}
	f := func(sel []int, check func(c *Call)) {
		t.Helper()
		c, err := s.AcquireCall()
		if err != nil {
			t.Fatal(err)
		}
		defer s.ReleaseCall(c)
		putFloat32s(c.Input(0, FP32, []int64{2, 5}, 10), x)
		for _, o := range sel {
			c.SelectOutput(o)
		}
		if err := c.Run(); err != nil {
			t.Fatal(err)
		}
		want := sel
		if len(want) == 0 {
			want = []int{0, 1, 2}
		}
		if !slices.Equal(c.Selected(), want) {
			t.Fatalf("Selected() = %v, want %v", c.Selected(), want)
		}
		for k, o := range want {
			if out := c.Output(k); out.Info != &s.Outputs[o] || out.DataType != s.Outputs[o].DataType {
				t.Fatalf("Output(%d) is %s %s, want output %d (%s)", k, out.Info.Name, out.DataType, o, s.Outputs[o].Name)
			}
		}
		check(c)
	}
	positive := func(out Output) {
		t.Helper()
		if !slices.Equal(out.Shape, []int64{2, 5}) {
			t.Fatalf("positive shape %v", out.Shape)
		}
		for i, v := range x {
			if (out.Data[i] != 0) != (v > 0) {
				t.Errorf("positive[%d] = %d for %v", i, out.Data[i], v)
			}
		}
	}
	label := func(out Output) {
		t.Helper()
		if !slices.Equal(out.Shape, []int64{2}) || out.DataType != INT64 {
			t.Fatalf("label %s %v", out.DataType, out.Shape)
		}
		if a, b := int64(binary.LittleEndian.Uint64(out.Data)), int64(binary.LittleEndian.Uint64(out.Data[8:])); a != 3 || b != 2 {
			t.Errorf("label = [%d %d], want [3 2]", a, b)
		}
	}
	probabilities := func(out Output) {
		t.Helper()
		p := float32s(out.Data)
		for r := range 2 {
			var sum float64
			for _, v := range p[5*r : 5*r+5] {
				sum += float64(v)
			}
			if math.Abs(sum-1) > 1e-5 {
				t.Errorf("row %d of probabilities sums to %v", r, sum)
			}
		}
		if p[3] <= p[1] || p[7] <= p[5] {
			t.Errorf("probabilities %v do not follow x", p)
		}
	}

	f([]int{2, 0}, func(c *Call) { positive(c.Output(0)); probabilities(c.Output(1)) })
	f([]int{1}, func(c *Call) { label(c.Output(0)) })
	f([]int{2}, func(c *Call) { positive(c.Output(0)) })
	f([]int{1, 2, 0}, func(c *Call) { label(c.Output(0)); positive(c.Output(1)); probabilities(c.Output(2)) })
	f(nil, func(c *Call) { probabilities(c.Output(0)); label(c.Output(1)); positive(c.Output(2)) })
}

func TestCallReuse(t *testing.T) {
	s := openDemo(t, "elementwise")
	// Sizes vary so pooled buffers grow; one request exceeds maxKeptBuffer
	// so the buffer is dropped on release and reallocated later.
	big := maxKeptBuffer/16 + 4
	for i := range 300 {
		rows := 1 + i%17
		if i == 100 {
			rows = big
		}
		x := make([]float32, 4*rows)
		for k := range x {
			x[k] = float32(i) + float32(k%64)*0.5
		}
		runElementwise(t, s, x)
	}

	m := openDemo(t, "multi_output")
	for i := range 100 {
		c, err := m.AcquireCall()
		if err != nil {
			t.Fatal(err)
		}
		putFloat32s(c.Input(0, FP32, []int64{1, 5}, 5), []float32{float32(i % 5), 0, 0, 0, -1})
		// Every other inference selects one output: the selection must
		// not leak into the next inference on a reused Call.
		if i%2 == 0 {
			c.SelectOutput(1)
		}
		if err := c.Run(); err != nil {
			t.Fatal(err)
		}
		want := []int{0, 1, 2}
		if i%2 == 0 {
			want = []int{1}
		}
		if !slices.Equal(c.Selected(), want) {
			t.Fatalf("inference %d: Selected() = %v, want %v", i, c.Selected(), want)
		}
		out := c.Output(slices.Index(want, 1))
		wantLabel := int64(0)
		if got := int64(binary.LittleEndian.Uint64(out.Data)); got != wantLabel {
			t.Fatalf("inference %d: label = %d, want %d", i, got, wantLabel)
		}
		m.ReleaseCall(c)
	}
}

func TestRunMissingInput(t *testing.T) {
	s := openDemo(t, "elementwise")
	c, err := s.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	err = c.Run()
	if err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("Run with no input = %v; want an error naming \"x\"", err)
	}
	s.ReleaseCall(c)

	// Inputs bound on one inference do not count for the next one.
	runElementwise(t, s, []float32{1, 2, 3, 4})
	for range 4 {
		c, err := s.AcquireCall()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Run(); err == nil {
			t.Fatal("Run on a reused Call with no input: no error")
		}
		s.ReleaseCall(c)
	}

	m := openDemo(t, "dtypes_misc")
	c, err = m.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	c.Input(m.InputIndex([]byte("flags")), BOOL, []int64{1}, 1)[0] = 1
	if err := c.Run(); err == nil || !strings.Contains(err.Error(), `"text"`) {
		t.Fatalf("Run without text = %v; want an error naming \"text\"", err)
	}
	m.ReleaseCall(c)
}

func TestRunOnnxRuntimeError(t *testing.T) {
	s := openDemo(t, "elementwise")
	f := func(dt DataType, shape []int64, elements int) {
		t.Helper()
		c, err := s.AcquireCall()
		if err != nil {
			t.Fatal(err)
		}
		c.Input(0, dt, shape, elements)
		if err := c.Run(); err == nil {
			t.Errorf("Run with %s %v: no error", dt, shape)
		}
		s.ReleaseCall(c)
		// The Call that failed goes back to the pool in a usable state.
		runElementwise(t, s, []float32{1, 2, 3, 4, 5, 6, 7, 8})
	}
	f(FP32, []int64{3, 5}, 15)
	f(FP32, []int64{12}, 12)
	f(FP64, []int64{1, 4}, 4)
	f(INT64, []int64{1, 4}, 4)
	f(FP32, []int64{1, 1, 4}, 4)
}

func TestConcurrentRuns(t *testing.T) {
	s := openDemo(t, "elementwise")
	const goroutines, iterations = 16, 200
	var wg sync.WaitGroup
	var done atomic.Int64
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range iterations {
				rows := 1 + (g+i)%5
				x := make([]float32, 4*rows)
				for k := range x {
					// Distinct per goroutine, iteration and element, and
					// exact in float32 through 2x+1.
					x[k] = float32(g*10000+i*20+k) * 0.25
				}
				if err := elementwiseOnce(s, x); err != nil {
					errs <- fmt.Errorf("goroutine %d iteration %d: %w", g, i, err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := done.Load(); n != goroutines*iterations {
		t.Errorf("%d inferences checked, want %d", n, goroutines*iterations)
	}
}

func TestSessionClose(t *testing.T) {
	s, err := testEnv(t).NewSession(writeDemoModel(t, t.TempDir(), "elementwise"), SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	// Close begins: new calls are refused, the one in flight still runs.
	closed := startClose(t, s, "while a call was in flight")
	putFloat32s(c.Input(0, FP32, []int64{1, 4}, 4), []float32{1, 2, 3, 4})
	if err := c.Run(); err != nil {
		t.Fatalf("Run during Close: %v", err)
	}
	if got := float32s(c.Output(0).Data); !slices.Equal(got, []float32{3, 5, 7, 9}) {
		t.Fatalf("y = %v during Close", got)
	}
	s.ReleaseCall(c)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the call was released")
	}
	s.Close() // a second Close is a no-op
	if _, err := s.AcquireCall(); err == nil {
		t.Fatal("AcquireCall after Close: no error")
	}
}

func TestSessionCloseUnderLoad(t *testing.T) {
	s, err := testEnv(t).NewSession(writeDemoModel(t, t.TempDir(), "elementwise"), SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range 8 {
		wg.Go(func() {
			<-start
			for i := 0; ; i++ {
				err := elementwiseOnce(s, []float32{float32(g), float32(i), 1, 2})
				if err == errSessionClosed {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	close(start)
	time.Sleep(20 * time.Millisecond)
	s.Close()
	s.Close()
	wg.Wait()
}

func TestRunIntegerIdentity(t *testing.T) {
	s := openDemo(t, "dtypes_int")
	c, err := s.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	defer s.ReleaseCall(c)
	// Each input gets its own length and bytes that cover the type's
	// extremes (all-ones, sign bit set, zero).
	want := make([][]byte, len(s.Inputs))
	for i, in := range s.Inputs {
		n := i + 1
		size := in.DataType.Size()
		if size == 0 {
			t.Fatalf("input %s has element type %s of size 0", in.Name, in.DataType)
		}
		buf := c.Input(i, in.DataType, []int64{int64(n)}, n)
		if len(buf) != n*size {
			t.Fatalf("input %s: Input returned %d bytes, want %d", in.Name, len(buf), n*size)
		}
		for k := range buf {
			switch (k / size) % 3 {
			case 0:
				buf[k] = 0xff
			case 1:
				buf[k] = byte(k*37 + i)
			default:
				buf[k] = 0
			}
		}
		if size > 1 && n > 1 {
			buf[2*size-1] = 0x80 // element 1 has the sign bit set
		}
		want[i] = bytes.Clone(buf)
	}
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	for k, o := range c.Selected() {
		out := c.Output(k)
		in := s.Inputs[o] // outputs pair with inputs by position
		if out.Info.Name != in.Name+"_out" || out.DataType != in.DataType {
			t.Errorf("output %d is %s %s, want %s_out %s", k, out.Info.Name, out.DataType, in.Name, in.DataType)
			continue
		}
		if !slices.Equal(out.Shape, []int64{int64(o + 1)}) || out.Elements != o+1 {
			t.Errorf("%s: shape %v, %d elements; want [%d]", out.Info.Name, out.Shape, out.Elements, o+1)
		}
		if !bytes.Equal(out.Data, want[o]) {
			t.Errorf("%s = % x, want % x", out.Info.Name, out.Data, want[o])
		}
	}
}

func TestRunFloatTypes(t *testing.T) {
	s := openDemo(t, "dtypes_float")
	c, err := s.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	defer s.ReleaseCall(c)
	inf := math.Inf(1)

	f16In := []float32{1.5, -1, 65504, float32(-inf), float32(math.NaN()), 0.000061035156}
	buf := c.Input(s.InputIndex([]byte("f16")), FP16, []int64{int64(len(f16In))}, len(f16In))
	for i, v := range f16In {
		h, ok := Float32ToFloat16(v)
		if !ok {
			t.Fatalf("Float32ToFloat16(%v) overflowed", v)
		}
		binary.LittleEndian.PutUint16(buf[2*i:], h)
	}
	f32In := []float32{1, 0, -1, float32(math.E), float32(inf)}
	putFloat32s(c.Input(s.InputIndex([]byte("f32")), FP32, []int64{int64(len(f32In))}, len(f32In)), f32In)
	f64In := []float64{4, 0, math.Copysign(0, -1), -0.5, inf}
	b64 := c.Input(s.InputIndex([]byte("f64")), FP64, []int64{int64(len(f64In))}, len(f64In))
	for i, v := range f64In {
		binary.LittleEndian.PutUint64(b64[8*i:], math.Float64bits(v))
	}
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	out := func(name string) Output {
		t.Helper()
		o := s.OutputIndex([]byte(name))
		k := slices.Index(c.Selected(), o)
		if k < 0 {
			t.Fatalf("output %s not produced", name)
		}
		return c.Output(k)
	}

	// f16 + 1, computed in float32 and cast back (ties to even).
	o16 := out("f16_out")
	if o16.DataType != FP16 || len(o16.Data) != 2*len(f16In) {
		t.Fatalf("f16_out: %s, %d bytes", o16.DataType, len(o16.Data))
	}
	for i, v := range f16In {
		got := Float16ToFloat32(binary.LittleEndian.Uint16(o16.Data[2*i:]))
		h, _ := Float32ToFloat16(v)
		want, _ := Float32ToFloat16(Float16ToFloat32(h) + 1)
		if math.IsNaN(float64(v)) {
			if !math.IsNaN(float64(got)) {
				t.Errorf("f16_out[%d] = %v, want NaN", i, got)
			}
			continue
		}
		if binary.LittleEndian.Uint16(o16.Data[2*i:]) != want {
			t.Errorf("f16_out[%d] = %v for %v, want %v", i, got, v, Float16ToFloat32(want))
		}
	}

	o32 := float32s(out("f32_out").Data)
	wantLog := []float64{0, math.Inf(-1), math.NaN(), 1, inf}
	for i, w := range wantLog {
		g := float64(o32[i])
		switch {
		case math.IsNaN(w):
			if !math.IsNaN(g) {
				t.Errorf("log(%v) = %v, want NaN", f32In[i], g)
			}
		case math.IsInf(w, 0) || w == 0:
			if g != w {
				t.Errorf("log(%v) = %v, want %v", f32In[i], g, w)
			}
		case math.Abs(g-w) > 1e-6:
			t.Errorf("log(%v) = %v, want %v", f32In[i], g, w)
		}
	}

	o64 := out("f64_out")
	wantRecip := []float64{0.25, inf, math.Inf(-1), -2, 0}
	for i, w := range wantRecip {
		if g := math.Float64frombits(binary.LittleEndian.Uint64(o64.Data[8*i:])); g != w {
			t.Errorf("1/%v = %v, want %v", f64In[i], g, w)
		}
	}
}

// TestInputView reads bound inputs back, before and after a run, solo and
// as a member of a batch, and without allocating.
func TestInputView(t *testing.T) {
	s := openDemo(t, "elementwise")
	c, err := s.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	defer s.ReleaseCall(c)
	if _, _, data := c.InputView(0); data != nil {
		t.Fatalf("unbound input has data % x", data)
	}
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	putFloat32s(c.Input(0, FP32, []int64{2, 4}, len(x)), x)
	check := func(when string) {
		t.Helper()
		dt, shape, data := c.InputView(0)
		if dt != FP32 || !slices.Equal(shape, []int64{2, 4}) || !slices.Equal(float32s(data), x) {
			t.Errorf("%s: InputView = %s %v %v; want FP32 [2 4] %v", when, dt, shape, float32s(data), x)
		}
	}
	check("bound")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	check("after the run")
	if n := testing.AllocsPerRun(100, func() { c.InputView(0) }); n != 0 {
		t.Errorf("InputView allocates %v times", n)
	}

	// Members of a batch keep their own inputs.
	b := NewBatcher(s, 64)
	g := newBatchGate(b)
	plug := acquire(t, s, floatReq([]int64{1, 4}, []float32{0, 0, 0, 0}))
	defer s.ReleaseCall(plug)
	var calls []*Call
	for k := range 3 {
		r := floatReq([]int64{int64(k + 1), 4}, randomFloats(rand.New(rand.NewPCG(1, uint64(k))), 4*(k+1), 10))
		calls = append(calls, acquire(t, s, r))
	}
	errs := g.stack(t, plug, calls)
	for k, c := range calls {
		if errs[k] != nil {
			t.Fatal(errs[k])
		}
		_, shape, data := c.InputView(0)
		out := float32s(c.Output(0).Data)
		in := float32s(data)
		if shape[0] != int64(k+1) || len(in) != len(out) {
			t.Fatalf("member %d: input shape %v, %d values for %d outputs", k, shape, len(in), len(out))
		}
		for e := range in {
			if out[e] != 2*in[e]+1 {
				t.Fatalf("member %d: InputView element %d is %v but the output is %v", k, e, in[e], out[e])
			}
		}
		s.ReleaseCall(c)
	}
	if runs := g.takeRuns(); len(runs) < 2 {
		t.Errorf("runs %v: the members were not batched", runs)
	}
}

// startClose begins s.Close in the background, checks that it is still
// waiting 100 ms later (for the reason why names) and that new calls are
// refused meanwhile, and returns a channel closed when Close returns.
func startClose(t *testing.T, s *Session, why string) <-chan struct{} {
	t.Helper()
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned " + why)
	case <-time.After(100 * time.Millisecond):
	}
	if c, err := s.AcquireCall(); err == nil {
		s.ReleaseCall(c)
		t.Fatal("AcquireCall while closing: no error")
	}
	return closed
}
