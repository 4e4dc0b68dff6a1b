package gateway

import (
	"log/slog"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/infergate/infergate/monitor"
	"github.com/infergate/infergate/router"
)

// BenchmarkServeInferElementwise runs the whole handler (route, decode,
// bind, ONNX Runtime, encode, metrics) in process, without sockets, on the
// elementwise model's [1,4] request: it shows what the gateway adds to
// fasthttp per request, and that the steady state allocates nothing.
func BenchmarkServeInferElementwise(b *testing.B) {
	v := benchVersion(b, "cnn") // loads the whole demo repository once
	_ = v
	repo := benchEnv.repo
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
