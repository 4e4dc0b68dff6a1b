package gateway

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infergate/infergate/configs/demomodels"
	"github.com/infergate/infergate/monitor"
	"github.com/infergate/infergate/router"
	"github.com/infergate/infergate/runtime"
)

// BenchmarkServeInferElementwise runs the whole handler (route, decode,
// bind, ONNX Runtime, encode, metrics) in process, without sockets, on the
// elementwise model's [1,4] request: it shows what the gateway adds to
// fasthttp per request, and that the steady state allocates nothing.
func BenchmarkServeInferElementwise(b *testing.B) {
	repo := benchRepo(b)
	s := New(Config{}, router.New(repo), monitor.NewRegistry(), slog.New(slog.DiscardHandler))
	body := []byte(`{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`)
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI("/v2/models/elementwise/infer")
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.SetBody(body)
		ctx.Response.Reset()
		s.serveHTTP(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}

// BenchmarkServeInferFraudMonitor is the whole handler on the fraud model
// (30 features, one row, a distinct id per request) with drift monitoring
// off and sampling every request: what the tap costs the request path,
// with the aggregator folding the samples on the same processors. It
// reports the 99th percentile of the handler's time too.
//
//	go test -run '^$' -bench FraudMonitor -cpu 1,2 ./gateway/
func BenchmarkServeInferFraudMonitor(b *testing.B) {
	benchRepo(b) // the ONNX Runtime environment
	env, err := runtime.NewEnvironment("")
	if err != nil {
		b.Fatal(err)
	}
	rows := demomodels.FraudRows(3, 1024, nil)
	bodies := make([][]byte, len(rows))
	for i, row := range rows {
		bodies[i] = []byte(fraudBody("bench-"+strconv.Itoa(i), row))
	}
	for _, rate := range []string{"0", "1"} {
		b.Run("sample_rate="+rate, func(b *testing.B) {
			dir := b.TempDir()
			if err := demomodels.WriteRepository(dir, false); err != nil {
				b.Fatal(err)
			}
			cfg := "max_batch_size: 64\nmonitor:\n  sample_rate: " + rate + "\n"
			if err := os.WriteFile(filepath.Join(dir, "fraud", "config.yaml"), []byte(cfg), 0o644); err != nil {
				b.Fatal(err)
			}
			repo, err := runtime.ScanRepository(dir)
			if err != nil {
				b.Fatal(err)
			}
			CheckMonitorConfigs(repo)
			log := slog.New(slog.DiscardHandler)
			repo.Load(env, log)
			defer repo.Close()
			mon := monitor.New("", log)
			defer mon.Close()
			s := New(Config{Monitor: mon}, router.New(repo), monitor.NewRegistry(), log)
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod("POST")
			ctx.Request.SetRequestURI("/v2/models/fraud/infer")
			lat := make([]time.Duration, 0, 1<<20)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				ctx.Request.SetBody(bodies[i%len(bodies)])
				i++
				ctx.Response.Reset()
				t0 := time.Now()
				s.serveHTTP(&ctx)
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(t0))
				}
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			if rate == "1" {
				mon.Flush("fraud")
				rep, _ := mon.Drift("fraud")
				if rep.Versions[0].Sampled == 0 {
					b.Fatalf("nothing sampled: %+v", rep)
				}
				b.ReportMetric(float64(rep.Dropped.Full)/float64(i), "dropped/op")
			}
		})
	}
}
