package gateway

// The test harness: one ONNX Runtime environment, one repository of the
// demo models (plus a few test-only models) and one gateway on 127.0.0.1:0
// per test binary, real HTTP clients, and the helpers that build requests,
// decode responses and compute reference outputs with ONNX Runtime itself.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/configs/demomodels"
	"github.com/infergate/infergate/monitor"
	"github.com/infergate/infergate/router"
	"github.com/infergate/infergate/runtime"
)

var (
	testEnv  *runtime.Environment
	testRepo *runtime.Repository
	// testSrv serves testRepo with the default limits.
	testSrv *testServer
)

// testLog discards: the gateway logs every failed load and transport error,
// which the tests provoke on purpose.
var testLog = slog.New(slog.DiscardHandler)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "infergate-gateway-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := writeTestRepository(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testEnv, err = runtime.NewEnvironment("")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testEnv.Close()
	testRepo, err = runtime.ScanRepository(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testRepo.Load(testEnv, testLog)
	defer testRepo.Close()
	if ok, why := testRepo.Ready(); !ok {
		fmt.Fprintln(os.Stderr, "test repository not ready:", why)
		return 1
	}
	testSrv, err = startServer(Config{Version: "test-1.2.3"}, testRepo)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testSrv.stop()
	return m.Run()
}

// writeTestRepository writes the demo models and the test-only ones:
// dynamic2d (FP32) and dynamic2d_u8 (UINT8) have two dynamic dimensions,
// which no demo model has; both are y = x.
func writeTestRepository(dir string) error {
	if err := demomodels.WriteRepository(dir, false); err != nil {
		return err
	}
	// The demo repository's committed configs, so the tests serve what
	// `make run` serves (elementwise, fraud and mlp batch).
	configs, err := filepath.Glob("../configs/models/*/config.yaml")
	if err != nil || len(configs) == 0 {
		return fmt.Errorf("demo configs not found: %v", err)
	}
	for _, c := range configs {
		b, err := os.ReadFile(c)
		if err != nil {
			return err
		}
		model := filepath.Base(filepath.Dir(c))
		if err := os.WriteFile(filepath.Join(dir, model, "config.yaml"), b, 0o644); err != nil {
			return err
		}
	}
	for name, dt := range map[string]demomodels.DataType{"dynamic2d": demomodels.Float, "dynamic2d_u8": demomodels.Uint8} {
		g := demomodels.NewGraph(name)
		g.Input("x", dt, -1, -1)
		g.AddNode("Identity", []string{"x"}, []string{"y"})
		g.Output("y", dt, -1, -1)
		b, err := g.Encode()
		if err != nil {
			return err
		}
		if err := writeModel(dir, name, "1", b); err != nil {
			return err
		}
	}
	return nil
}

func writeModel(dir, model, version string, onnx []byte) error {
	p := filepath.Join(dir, model, version, "model.onnx")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, onnx, 0o644)
}

// testServer is a started gateway with a client for it.
type testServer struct {
	srv     *Server
	reg     *monitor.Registry
	base    string // http://127.0.0.1:port
	metrics string // http://127.0.0.1:port of the metrics listener
	client  *http.Client
}

func startServer(cfg Config, repo *runtime.Repository) (*testServer, error) {
	return startServerWith(cfg, repo, nil)
}

// startServerWith is startServer with beforeStart, when given, run
// between New and Start: the place to rewire what New wired.
func startServerWith(cfg Config, repo *runtime.Repository, beforeStart func()) (*testServer, error) {
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:0"
	}
	if cfg.MetricsAddr == "" {
		cfg.MetricsAddr = "127.0.0.1:0"
	}
	reg := monitor.NewRegistry()
	srv := New(cfg, router.New(repo), reg, testLog)
	if beforeStart != nil {
		beforeStart()
	}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	return &testServer{
		srv:     srv,
		reg:     reg,
		base:    "http://" + srv.HTTPAddr(),
		metrics: "http://" + srv.MetricsAddr(),
		client:  &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
	}, nil
}

// newServer starts a gateway for one test and stops it when the test ends.
func newServer(t *testing.T, cfg Config, repo *runtime.Repository) *testServer {
	t.Helper()
	ts, err := startServer(cfg, repo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) stop() {
	ts.client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ts.srv.Stop(ctx)
}

// reply is one HTTP response, read whole.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (ts *testServer) do(t *testing.T, method, path string, header map[string]string, body string) reply {
	t.Helper()
	return ts.doURL(t, method, ts.base+path, header, body)
}

func (ts *testServer) doURL(t *testing.T, method, url string, header map[string]string, body string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" || method == http.MethodPost {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func (ts *testServer) get(t *testing.T, path string) reply {
	t.Helper()
	return ts.do(t, http.MethodGet, path, nil, "")
}

func (ts *testServer) post(t *testing.T, path, body string) reply {
	t.Helper()
	return ts.do(t, http.MethodPost, path, nil, body)
}

// infer posts body to a model's infer endpoint, requires a 200 and
// decodes the response.
func (ts *testServer) infer(t *testing.T, model, body string) inferResponse {
	t.Helper()
	r := ts.post(t, "/v2/models/"+model+"/infer", body)
	if r.status != http.StatusOK {
		t.Fatalf("POST %s: status %d, body %s\nrequest: %s", model, r.status, r.body, truncate(body))
	}
	return decodeResponse(t, r.body)
}

// checkGood sends a known-good elementwise request and checks the answer
// exactly: the gateway must keep serving after whatever came before.
func (ts *testServer) checkGood(t *testing.T) {
	t.Helper()
	r := ts.post(t, "/v2/models/elementwise/infer",
		`{"id":"good","inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[0,1,2,3,-1,-0.5,0.25,100]}]}`)
	if r.status != http.StatusOK {
		t.Fatalf("good request after a bad one: status %d, body %s", r.status, r.body)
	}
	resp := decodeResponse(t, r.body)
	if resp.ID == nil || *resp.ID != "good" {
		t.Fatalf("good request after a bad one: id %v", resp.ID)
	}
	checkOutputs(t, resp.Outputs, `[{"name":"y","datatype":"FP32","shape":[2,4],"data":[1,3,5,7,-1,0,1.5,201]}]`)
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// inferResponse is an OIP v2 inference response. Numbers stay json.Number
// so 64-bit integers and floats are read exactly.
type inferResponse struct {
	ModelName    string         `json:"model_name"`
	ModelVersion string         `json:"model_version"`
	ID           *string        `json:"id"`
	Outputs      []outputTensor `json:"outputs"`
}

type outputTensor struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
	Data     []any   `json:"data"`
}

func decodeResponse(t *testing.T, body []byte) inferResponse {
	t.Helper()
	var r inferResponse
	if err := decodeJSON(body, &r); err != nil {
		t.Fatalf("response is not an inference response: %v\n%s", err, truncate(string(body)))
	}
	return r
}

// decodeJSON decodes exactly one JSON value with numbers kept as
// json.Number, after turning the bare NaN, Infinity and -Infinity the
// gateway writes into strings encoding/json can read.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(quoteNonFinite(body)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}

// quoteNonFinite rewrites the literals NaN, Infinity and -Infinity outside
// strings as "NaN", "Infinity" and "-Infinity".
func quoteNonFinite(b []byte) []byte {
	out := make([]byte, 0, len(b)+32)
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(b))
			out = append(out, b[i:j]...)
			i = j
		case bytes.HasPrefix(b[i:], []byte("NaN")):
			out = append(out, `"NaN"`...)
			i += 3
		case bytes.HasPrefix(b[i:], []byte("Infinity")):
			out = append(out, `"Infinity"`...)
			i += 8
		case bytes.HasPrefix(b[i:], []byte("-Infinity")):
			out = append(out, `"-Infinity"`...)
			i += 9
		default:
			out = append(out, c)
			i++
		}
	}
	return out
}

// errorMessage checks that r is a JSON error body, exactly {"error": "..."}
// with the JSON content type, and returns the message; ok is false (and the
// test marked failed) when it is not one.
func errorMessage(t *testing.T, r reply) (msg string, ok bool) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error response has Content-Type %q, want application/json", ct)
	}
	var e struct {
		Error *string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error == nil {
		t.Errorf("error response is not {\"error\": \"...\"}: %v: %s", err, truncate(string(r.body)))
		return "", false
	}
	if *e.Error == "" {
		t.Errorf("error message is empty")
	}
	return *e.Error, true
}

// expectError checks status and that the error message contains want.
func expectError(t *testing.T, r reply, status int, want string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d", r.status, status)
	}
	if msg, ok := errorMessage(t, r); ok && !strings.Contains(msg, want) {
		t.Errorf("error %q does not contain %q", msg, want)
	}
}

// checkOutputs compares the outputs of a response with want, written in
// the response's own JSON form. Values are compared by datatype: floats
// bit for bit (any NaN matches NaN), integers exactly, strings byte for
// byte.
func checkOutputs(t *testing.T, got []outputTensor, want string) {
	t.Helper()
	var w []outputTensor
	if err := decodeJSON([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	if len(got) != len(w) {
		t.Fatalf("got %d outputs %v, want %d", len(got), outputNames(got), len(w))
	}
	for k := range w {
		g, w := got[k], w[k]
		if g.Name != w.Name || g.Datatype != w.Datatype || !slices.Equal(g.Shape, w.Shape) {
			t.Errorf("output %d is %s %s %v, want %s %s %v", k, g.Name, g.Datatype, g.Shape, w.Name, w.Datatype, w.Shape)
			continue
		}
		dt := runtime.ParseDataType([]byte(w.Datatype))
		if dt == runtime.BYTES {
			gs, ws := stringValues(t, g), stringValues(t, w)
			if !slices.Equal(gs, ws) {
				t.Errorf("output %s = %q, want %q", g.Name, gs, ws)
			}
			continue
		}
		gb, wb := wireBytes(t, g), wireBytes(t, w)
		if e, ok := sameElements(dt, gb, wb); !ok {
			t.Errorf("output %s element %d: got %v, want %v (all: %v)", g.Name, e, g.Data[e], w.Data[e], g.Data)
		}
	}
}

func outputNames(outs []outputTensor) []string {
	var names []string
	for _, o := range outs {
		names = append(names, o.Name)
	}
	return names
}

// wireBytes converts a decoded tensor's data to its little-endian element
// bytes, failing on any value that is not exactly of the datatype. FP32
// and FP16 values must also be the shortest decimal that round-trips.
func wireBytes(t *testing.T, o outputTensor) []byte {
	t.Helper()
	dt := runtime.ParseDataType([]byte(o.Datatype))
	if dt == runtime.Invalid || dt == runtime.BYTES {
		t.Fatalf("output %s: datatype %q has no element bytes", o.Name, o.Datatype)
	}
	n := int64(1)
	for _, d := range o.Shape {
		n *= d
	}
	if int64(len(o.Data)) != n {
		t.Fatalf("output %s: %d elements for shape %v", o.Name, len(o.Data), o.Shape)
	}
	le := binary.LittleEndian
	b := make([]byte, len(o.Data)*dt.Size())
	for e, x := range o.Data {
		bad := func(why string) {
			t.Fatalf("output %s element %d: %v (%T) %s", o.Name, e, x, x, why)
		}
		if dt == runtime.BOOL {
			v, ok := x.(bool)
			if !ok {
				bad("is not a boolean")
			}
			if v {
				b[e] = 1
			}
			continue
		}
		var s string
		switch v := x.(type) {
		case json.Number:
			s = string(v)
		case string:
			switch v {
			case "NaN", "Infinity", "-Infinity":
				s = v
			default:
				bad("is a string")
			}
		default:
			bad("is not a number")
		}
		switch dt {
		case runtime.FP32, runtime.FP16:
			f, err := strconv.ParseFloat(s, 32)
			if err != nil {
				bad(err.Error())
			}
			f32 := float32(f)
			if !math.IsNaN(f) && !math.IsInf(f, 0) && strconv.FormatFloat(f, 'g', -1, 32) != s {
				bad("is not the shortest decimal of float32 " + strconv.FormatFloat(f, 'g', -1, 32))
			}
			if dt == runtime.FP32 {
				le.PutUint32(b[4*e:], math.Float32bits(f32))
				continue
			}
			h, ok := runtime.Float32ToFloat16(f32)
			if !ok || (!math.IsNaN(f) && runtime.Float16ToFloat32(h) != f32) {
				bad("is not a float16 value")
			}
			le.PutUint16(b[2*e:], h)
		case runtime.FP64:
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				bad(err.Error())
			}
			le.PutUint64(b[8*e:], math.Float64bits(f))
		case runtime.INT8, runtime.INT16, runtime.INT32, runtime.INT64:
			v, err := strconv.ParseInt(s, 10, 8*dt.Size())
			if err != nil {
				bad(err.Error())
			}
			putUint(b, dt.Size(), e, uint64(v))
		default:
			v, err := strconv.ParseUint(s, 10, 8*dt.Size())
			if err != nil {
				bad(err.Error())
			}
			putUint(b, dt.Size(), e, v)
		}
	}
	return b
}

func putUint(b []byte, size, e int, v uint64) {
	switch size {
	case 1:
		b[e] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b[2*e:], uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(b[4*e:], uint32(v))
	default:
		binary.LittleEndian.PutUint64(b[8*e:], v)
	}
}

// sameElements compares element bytes; for floats any NaN equals any NaN
// (JSON carries no payload) and everything else, -0 included, must match
// bit for bit. It returns the first differing element.
func sameElements(dt runtime.DataType, got, want []byte) (int, bool) {
	size := dt.Size()
	if len(got) != len(want) {
		return min(len(got), len(want)) / size, false
	}
	le := binary.LittleEndian
	for e := 0; e < len(got)/size; e++ {
		g, w := got[e*size:(e+1)*size], want[e*size:(e+1)*size]
		if bytes.Equal(g, w) {
			continue
		}
		var gNaN, wNaN bool
		switch dt {
		case runtime.FP32:
			gNaN = math.IsNaN(float64(math.Float32frombits(le.Uint32(g))))
			wNaN = math.IsNaN(float64(math.Float32frombits(le.Uint32(w))))
		case runtime.FP64:
			gNaN, wNaN = math.IsNaN(math.Float64frombits(le.Uint64(g))), math.IsNaN(math.Float64frombits(le.Uint64(w)))
		case runtime.FP16:
			gNaN = le.Uint16(g)&0x7c00 == 0x7c00 && le.Uint16(g)&0x3ff != 0
			wNaN = le.Uint16(w)&0x7c00 == 0x7c00 && le.Uint16(w)&0x3ff != 0
		}
		if gNaN && wNaN {
			continue
		}
		return e, false
	}
	return 0, true
}

func stringValues(t *testing.T, o outputTensor) []string {
	t.Helper()
	out := make([]string, len(o.Data))
	for e, x := range o.Data {
		s, ok := x.(string)
		if !ok {
			t.Fatalf("output %s element %d is %T, not a string", o.Name, e, x)
		}
		out[e] = s
	}
	return out
}

// jsonSubset reports where got departs from want: every member of a want
// object must be in got and match; arrays and scalars must match exactly.
// It returns "" when got contains want.
func jsonSubset(path string, want, got any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: got %v, want an object", path, got)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Sprintf("%s: member %q is missing", path, k)
			}
			if d := jsonSubset(path+"."+k, wv, gv); d != "" {
				return d
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
		for i := range w {
			if d := jsonSubset(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Sprintf("%s: got %v, want %v", path, got, want)
	}
	return ""
}

// expectJSON checks that body is JSON containing want (see jsonSubset).
func expectJSON(t *testing.T, body []byte, want string) {
	t.Helper()
	var g, w any
	if err := decodeJSON(body, &g); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, body)
	}
	if err := decodeJSON([]byte(want), &w); err != nil {
		t.Fatalf("bad want: %v", err)
	}
	if d := jsonSubset("$", w, g); d != "" {
		t.Errorf("%s\nin %s", d, body)
	}
}

// Request building.

// tensor is one input: its element bytes (little endian) for the direct
// ONNX Runtime reference, or strings for BYTES.
type tensor struct {
	name  string
	dt    runtime.DataType
	shape []int64
	data  []byte
	strs  []string
}

func f32Tensor(name string, shape []int64, v []float32) tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return tensor{name: name, dt: runtime.FP32, shape: shape, data: b}
}

func f64Tensor(name string, shape []int64, v []float64) tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return tensor{name: name, dt: runtime.FP64, shape: shape, data: b}
}

func f16Tensor(name string, shape []int64, bits []uint16) tensor {
	b := make([]byte, 2*len(bits))
	for i, x := range bits {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return tensor{name: name, dt: runtime.FP16, shape: shape, data: b}
}

// jsonData writes a tensor's elements as a flat JSON array, floats as the
// shortest decimal that reads back to the same value.
func (x tensor) jsonData() string {
	b := []byte{'['}
	le := binary.LittleEndian
	n := len(x.strs)
	if x.dt != runtime.BYTES {
		n = len(x.data) / x.dt.Size()
	}
	for e := 0; e < n; e++ {
		if e > 0 {
			b = append(b, ',')
		}
		switch x.dt {
		case runtime.FP32:
			b = appendJSONFloat(b, float64(math.Float32frombits(le.Uint32(x.data[4*e:]))), 32)
		case runtime.FP16:
			b = appendJSONFloat(b, float64(runtime.Float16ToFloat32(le.Uint16(x.data[2*e:]))), 32)
		case runtime.FP64:
			b = appendJSONFloat(b, math.Float64frombits(le.Uint64(x.data[8*e:])), 64)
		case runtime.BYTES:
			s, _ := json.Marshal(x.strs[e])
			b = append(b, s...)
		default:
			panic("jsonData: unsupported datatype " + x.dt.String())
		}
	}
	return string(append(b, ']'))
}

func appendJSONFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}

// inputJSON writes one request input.
func inputJSON(name, datatype string, shape []int64, data string) string {
	return fmt.Sprintf(`{"name":%q,"shape":%s,"datatype":%q,"data":%s}`, name, formatShape(shape), datatype, data)
}

// requestJSON writes a request with the given inputs.
func requestJSON(inputs ...string) string {
	return `{"inputs":[` + strings.Join(inputs, ",") + `]}`
}

func tensorsRequest(ins []tensor) string {
	var parts []string
	for _, x := range ins {
		parts = append(parts, inputJSON(x.name, x.dt.String(), x.shape, x.jsonData()))
	}
	return requestJSON(parts...)
}

// Direct ONNX Runtime reference.

// refOutput is an output as ONNX Runtime computed it, copied out of the call.
type refOutput struct {
	name  string
	dt    runtime.DataType
	shape []int64
	data  []byte
}

func testVersion(t testing.TB, model string) *runtime.Version {
	t.Helper()
	m := testRepo.Models[model]
	if m == nil || len(m.Versions) == 0 {
		t.Fatalf("model %s is not in the test repository", model)
	}
	return m.Versions[0]
}

// runDirect runs the inputs on the version's session without the gateway
// and returns every output in the model's order.
func runDirect(t *testing.T, v *runtime.Version, ins ...tensor) []refOutput {
	t.Helper()
	call, err := v.Session.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Session.ReleaseCall(call)
	for _, x := range ins {
		i := v.Session.InputIndex([]byte(x.name))
		if i < 0 {
			t.Fatalf("model %s has no input %s", v.Model, x.name)
		}
		n := 1
		for _, d := range x.shape {
			n *= int(d)
		}
		if x.dt == runtime.BYTES {
			t.Fatal("runDirect: BYTES inputs are not supported")
		}
		buf := call.Input(i, x.dt, x.shape, n)
		if len(buf) != len(x.data) {
			t.Fatalf("input %s: %d bytes for shape %v", x.name, len(x.data), x.shape)
		}
		copy(buf, x.data)
	}
	if err := call.Run(); err != nil {
		t.Fatalf("direct run of %s: %v", v.Model, err)
	}
	var outs []refOutput
	for k := range call.Selected() {
		o := call.Output(k)
		outs = append(outs, refOutput{
			name:  o.Info.Name,
			dt:    o.DataType,
			shape: slices.Clone(o.Shape),
			data:  bytes.Clone(o.Data),
		})
	}
	return outs
}

// checkAgainst compares a gateway response with ONNX Runtime's own outputs.
func checkAgainst(t *testing.T, got []outputTensor, want []refOutput) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got outputs %v, want %d", outputNames(got), len(want))
	}
	for k, w := range want {
		g := got[k]
		if g.Name != w.name || g.Datatype != w.dt.String() || !slices.Equal(g.Shape, w.shape) {
			t.Errorf("output %d is %s %s %v, want %s %s %v", k, g.Name, g.Datatype, g.Shape, w.name, w.dt, w.shape)
			continue
		}
		if e, ok := sameElements(w.dt, wireBytes(t, g), w.data); !ok {
			t.Errorf("output %s element %d: gateway %v, ONNX Runtime %v", w.name, e, g.Data[e], refElement(w, e))
		}
	}
}

func refElement(o refOutput, e int) any {
	le := binary.LittleEndian
	switch o.dt {
	case runtime.FP32:
		return math.Float32frombits(le.Uint32(o.data[4*e:]))
	case runtime.FP64:
		return math.Float64frombits(le.Uint64(o.data[8*e:]))
	case runtime.FP16:
		return runtime.Float16ToFloat32(le.Uint16(o.data[2*e:]))
	}
	return o.data[e*o.dt.Size() : (e+1)*o.dt.Size()]
}
