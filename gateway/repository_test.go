package gateway

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/configs/demomodels"
	"github.com/infergate/infergate/runtime"
)

// TestRepositoryWithBrokenModels loads a repository where some models are
// broken. The good ones serve; each broken one is not ready and every
// endpoint that names it says why; readiness is strict unless configured
// lenient.
func TestRepositoryWithBrokenModels(t *testing.T) {
	dir := t.TempDir()
	onnx := func(name string) []byte {
		b, err := demomodels.Model(name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	write := func(rel string, data []byte) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	garbage := make([]byte, 4096)
	r := rand.New(rand.NewPCG(3, 5))
	for i := range garbage {
		garbage[i] = byte(r.Uint32())
	}
	// Good models.
	write("elementwise/1/model.onnx", onnx("elementwise"))
	write("scalar/config.yaml", []byte("name: scalar\nplatform: onnxruntime_onnx\n"))
	write("scalar/1/model.onnx", onnx("scalar"))
	// Version 1 serves, version 2 is corrupt: the default is the highest
	// ready version.
	write("mixed/1/model.onnx", onnx("elementwise"))
	write("mixed/2/model.onnx", garbage)
	// Broken models.
	write("corrupt/1/model.onnx", garbage)
	write("truncated/1/model.onnx", onnx("fraud")[:100])
	if err := os.MkdirAll(filepath.Join(dir, "noonnx", "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	write("badkey/config.yaml", []byte("name: badkey\nintra_op_thread: 2\n"))
	write("badkey/1/model.onnx", onnx("elementwise"))
	write("misnamed/config.yaml", []byte("name: elementwise\n"))
	write("misnamed/1/model.onnx", onnx("elementwise"))
	write("noversion/config.yaml", []byte("name: noversion\n"))
	write("badyaml/config.yaml", []byte("name: [unclosed\n"))
	write("badyaml/1/model.onnx", onnx("elementwise"))
	write("wrongdecl/config.yaml", []byte("inputs:\n  - name: x\n    datatype: INT64\n"))
	write("wrongdecl/1/model.onnx", onnx("elementwise"))

	repo, err := runtime.ScanRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	repo.Load(testEnv, testLog)
	t.Cleanup(repo.Close) // runs after the servers below stop
	strict := newServer(t, Config{}, repo)
	lenient := newServer(t, Config{LenientReadiness: true}, repo)

	// Good models serve, on both servers.
	for _, ts := range []*testServer{strict, lenient} {
		for _, model := range []string{"elementwise", "mixed", "mixed/versions/1"} {
			resp := ts.infer(t, model, `{"inputs":[`+goodX+`]}`)
			if resp.ModelVersion != "1" {
				t.Errorf("%s served by version %s", model, resp.ModelVersion)
			}
			checkOutputs(t, resp.Outputs, `[{"name":"y","datatype":"FP32","shape":[1,4],"data":[3,5,7,9]}]`)
		}
		resp := ts.infer(t, "scalar", `{"inputs":[{"name":"x","shape":[],"datatype":"FP32","data":[2]}]}`)
		checkOutputs(t, resp.Outputs, `[{"name":"y","datatype":"FP32","shape":[],"data":[6]}]`)
		for _, path := range []string{"/v2/models/elementwise/ready", "/v2/models/mixed/ready", "/v2/models/mixed/versions/1/ready", "/v2/models/scalar"} {
			if r := ts.get(t, path); r.status != 200 {
				t.Errorf("GET %s: %d %s", path, r.status, r.body)
			}
		}
	}

	// index is the repository index, read once.
	ir := strict.post(t, "/v2/repository/index", "")
	if ir.status != 200 {
		t.Fatalf("index: %d %s", ir.status, ir.body)
	}
	var index []struct {
		Name, Version, State, Reason string
	}
	if err := decodeJSON(ir.body, &index); err != nil {
		t.Fatalf("index: %v: %s", err, ir.body)
	}
	indexEntry := func(model, version string) (string, string, bool) {
		for _, e := range index {
			if e.Name == model && e.Version == version {
				return e.State, e.Reason, true
			}
		}
		return "", "", false
	}
	for _, ok := range [][2]string{{"elementwise", "1"}, {"scalar", "1"}, {"mixed", "1"}} {
		if st, why, found := indexEntry(ok[0], ok[1]); !found || st != "READY" || why != "" {
			t.Errorf("index: %s version %s is %q %q (listed: %v)", ok[0], ok[1], st, why, found)
		}
	}

	// f checks that model (path: the model, with /versions/N if given;
	// version: its index entry, "" for a model-level failure) is not ready
	// and that every answer about it names reason.
	f := func(path, version, reason string) {
		t.Helper()
		model, _, _ := strings.Cut(path, "/")
		for _, req := range []struct{ method, url, body string }{
			{"GET", "/v2/models/" + path + "/ready", ""},
			{"GET", "/v2/models/" + path, ""},
			{"POST", "/v2/models/" + path + "/infer", `{"inputs":[` + goodX + `]}`},
		} {
			r := strict.do(t, req.method, req.url, nil, req.body)
			expectError(t, r, 503, reason)
			if msg, ok := errorMessage(t, r); ok && !strings.Contains(msg, model) {
				t.Errorf("%s %s: error %q does not name the model", req.method, req.url, msg)
			}
		}
		st, why, found := indexEntry(model, version)
		if !found {
			t.Errorf("index has no entry for %s version %q: %s", model, version, ir.body)
		} else if st != "UNAVAILABLE" || !strings.Contains(why, reason) {
			t.Errorf("index: %s version %q is %s with reason %q, want UNAVAILABLE naming %q", model, version, st, why, reason)
		}
	}
	f("corrupt", "1", "ONNX Runtime cannot load "+filepath.Join(dir, "corrupt", "1", "model.onnx"))
	f("truncated", "1", "ONNX Runtime cannot load")
	f("mixed/versions/2", "2", "ONNX Runtime cannot load "+filepath.Join(dir, "mixed", "2", "model.onnx"))
	f("noonnx", "1", filepath.Join(dir, "noonnx", "1", "model.onnx")+" is missing")
	f("badkey", "", "field intra_op_thread not found")
	f("misnamed", "", `config.yaml names the model "elementwise" but its folder is "misnamed"`)
	f("noversion", "", "no version folder")
	f("badyaml", "", "config.yaml")
	f("wrongdecl", "1", `config.yaml declares input "x" as INT64 but the model file says FP32`)

	// Strict readiness names the first model that is not ready; lenient
	// readiness serves anyway.
	r2 := strict.get(t, "/v2/health/ready")
	expectError(t, r2, 503, "model badkey")
	if r := lenient.get(t, "/v2/health/ready"); r.status != 200 {
		t.Errorf("lenient /v2/health/ready: %d %s", r.status, r.body)
	}
	for _, ts := range []*testServer{strict, lenient} {
		if r := ts.get(t, "/v2/health/live"); r.status != 200 {
			t.Errorf("/v2/health/live: %d %s", r.status, r.body)
		}
	}
	if len(index) != 12 {
		t.Errorf("index has %d entries, want 12 (one per version, one per unusable folder): %s", len(index), ir.body)
	}
}

// TestReadinessDuringShutdown: once Stop begins, /v2/health/ready is 503
// for DrainDelay while requests are still served.
func TestReadinessDuringShutdown(t *testing.T) {
	ts := newServer(t, Config{DrainDelay: time.Second}, testRepo)
	if r := ts.get(t, "/v2/health/ready"); r.status != 200 {
		t.Fatalf("ready before Stop: %d %s", r.status, r.body)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ts.stop()
	}()
	// Wait for Stop to begin: readiness turns off first.
	var r reply
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		r = ts.get(t, "/v2/health/ready")
		if r.status != 200 {
			break
		}
	}
	expectError(t, r, 503, "the server is shutting down")
	ts.infer(t, "elementwise", `{"inputs":[`+goodX+`]}`)
	<-done
}
