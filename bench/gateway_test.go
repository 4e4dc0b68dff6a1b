package bench

// Against a real infergate: the gateway package started in this process on
// loopback ports, serving the elementwise demo model through ONNX Runtime
// (.ort/lib: `make ort`). The harness itself imports none of this; only its
// tests do.

import (
	"context"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/infergate/infergate/configs/demomodels"
	"github.com/infergate/infergate/gateway"
	"github.com/infergate/infergate/monitor"
	"github.com/infergate/infergate/router"
	"github.com/infergate/infergate/runtime"
)

// startGateway serves the elementwise demo model (max_batch_size 64, its
// committed config) and returns the REST and metrics base URLs.
func startGateway(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	onnx, err := demomodels.Model("elementwise")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "elementwise", "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "elementwise", "1", "model.onnx"), onnx, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile("../configs/models/elementwise/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "elementwise", "config.yaml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	env, err := runtime.NewEnvironment("")
	if err != nil {
		t.Skipf("ONNX Runtime is not available (run `make ort`): %v", err)
	}
	t.Cleanup(env.Close)
	repo, err := runtime.ScanRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	repo.Load(env, log)
	t.Cleanup(repo.Close)
	if ok, why := repo.Ready(); !ok {
		t.Fatal(why)
	}
	srv := gateway.New(gateway.Config{HTTPAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", Version: "test"}, router.New(repo), monitor.NewRegistry(), log)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Stop(ctx)
	})
	return "http://" + srv.HTTPAddr(), "http://" + srv.MetricsAddr() + "/metrics"
}

// Detection, metadata synthesis, a run and the server-side split, against
// the real thing.
func TestAgainstInfergate(t *testing.T) {
	url, metricsURL := startGateway(t)
	isIG, err := IsInfergate(url, 5*time.Second)
	if err != nil || !isIG {
		t.Fatalf("IsInfergate = %v, %v", isIG, err)
	}
	meta, err := FetchMetadata(url, "elementwise", "", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Inputs) != 1 || meta.Inputs[0].Datatype != "FP32" || len(meta.Inputs[0].Shape) != 2 || meta.Inputs[0].Shape[0] != -1 {
		t.Fatalf("metadata: %+v", meta)
	}
	bodies, err := Synthesize(meta, Synth{Batch: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(bodies[0]), `"shape":[3,4]`) {
		t.Fatalf("synthesized body: %s", bodies[0])
	}
	src := &MetricsSource{URL: metricsURL, Model: "elementwise"}
	tg := Target{URL: url, Model: "elementwise", Bodies: bodies}
	res, err := Run(context.Background(), tg, Load{Concurrency: 4, Window: time.Second, Metrics: src})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK == 0 || res.Errors() != 0 {
		t.Fatalf("run: %d OK, errors %s %v", res.OK, res.errorSummary(), res.Status)
	}
	s := res.Server
	if s == nil || s.Err != "" || len(s.Phases) != 4 {
		t.Fatalf("server split: %+v (scrape error %q)", s, src.Err)
	}
	// The server counted the requests the client completed in the window,
	// give or take those that completed while a scrape was under way.
	if d := s.Requests - float64(res.Requests); math.Abs(d) > 8+0.05*float64(res.Requests) {
		t.Errorf("server counted %.0f requests, client %d", s.Requests, res.Requests)
	}
	if s.Total <= 0 || s.Total > res.Latency.Mean {
		t.Errorf("server time %s against client mean %s", s.Total, res.Latency.Mean)
	}
	if s.BatchMean < 1 {
		t.Errorf("batch mean %g", s.BatchMean)
	}
	t.Logf("%d OK at %.0f/s, p50 %s; server: %+v", res.OK, res.Throughput, res.Latency.P50, *s)

	// Bodies from files: bench/testdata/elementwise holds two requests,
	// batch 1 and batch 2, sent in turn.
	files, err := ReadBodies("testdata/elementwise")
	if err != nil {
		t.Fatal(err)
	}
	tg.Bodies = files
	res, err = Run(context.Background(), tg, Load{Concurrency: 2, Requests: 200})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK < 200 || res.Errors() != 0 {
		t.Errorf("bodies from files: %d OK, %s", res.OK, res.errorSummary())
	}

	// A model that does not exist: every request is a 404, and the report
	// says so rather than hanging or claiming a throughput.
	tg.Model = "nosuch"
	res, err = Run(context.Background(), tg, Load{Concurrency: 1, Window: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 0 || res.Status["404"] == 0 || res.Throughput != 0 {
		t.Errorf("unknown model: %+v", res)
	}
	if _, err := FetchMetadata(url, "nosuch", "", 5*time.Second); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("metadata of an unknown model: %v", err)
	}
}
