package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/pprofhandler"

	"github.com/infergate/infergate/monitor"
	"github.com/infergate/infergate/router"
	"github.com/infergate/infergate/runtime"
)

const contentJSON = "application/json"

// statusClientClosed is nginx's 499: the client left before the answer.
const statusClientClosed = 499

// serveHTTP routes OIP v2 paths by hand: the set is small and fixed, and a
// router library would cost more per request than these comparisons.
func (s *Server) serveHTTP(ctx *fasthttp.RequestCtx) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("handler panic", "path", string(ctx.Path()), "panic", p)
			ctx.Response.Reset()
			writeError(ctx, fasthttp.StatusInternalServerError, fmt.Sprintf("internal error: %v", p))
		}
	}()
	path := ctx.Path()
	rest, ok := bytes.CutPrefix(path, []byte("/v2"))
	if !ok {
		writeError(ctx, fasthttp.StatusNotFound, "no such endpoint "+string(path)+"; infergate serves the Open Inference Protocol under /v2")
		return
	}
	switch string(rest) {
	case "", "/":
		if s.allow(ctx, "GET") {
			ctx.SetContentType(contentJSON)
			ctx.SetBody(s.serverMetadata)
		}
		return
	case "/health/live":
		if s.allow(ctx, "GET") {
			ctx.SetStatusCode(fasthttp.StatusOK)
		}
		return
	case "/health/ready":
		if s.allow(ctx, "GET") {
			s.serveServerReady(ctx)
		}
		return
	case "/repository/index":
		if s.allow(ctx, "GET", "POST") {
			s.serveRepositoryIndex(ctx)
		}
		return
	}
	rest, ok = bytes.CutPrefix(rest, []byte("/models/"))
	if !ok {
		writeError(ctx, fasthttp.StatusNotFound, "no such endpoint "+string(path))
		return
	}
	model, rest, _ := bytes.Cut(rest, []byte("/"))
	var version []byte
	if after, ok := bytes.CutPrefix(rest, []byte("versions/")); ok {
		version, rest, _ = bytes.Cut(after, []byte("/"))
		if len(version) == 0 {
			writeError(ctx, fasthttp.StatusNotFound, "no such endpoint "+string(path)+": the version is empty")
			return
		}
	}
	if len(model) == 0 {
		writeError(ctx, fasthttp.StatusNotFound, "no such endpoint "+string(path)+": the model name is empty")
		return
	}
	switch string(rest) {
	case "infer":
		if s.allow(ctx, "POST") {
			s.serveInfer(ctx, model, version)
		}
	case "":
		if s.allow(ctx, "GET") {
			s.serveModelMetadata(ctx, model, version)
		}
	case "ready":
		if s.allow(ctx, "GET") {
			s.serveModelReady(ctx, model, version)
		}
	case "feedback":
		if s.allow(ctx, "POST") {
			s.serveFeedback(ctx, model)
		}
	default:
		writeError(ctx, fasthttp.StatusNotFound, "no such endpoint "+string(path)+"; a model has /infer, /ready, /feedback and its metadata")
	}
}

// allow answers 405 with an Allow header unless the method is one of
// methods (HEAD goes with GET).
func (s *Server) allow(ctx *fasthttp.RequestCtx, methods ...string) bool {
	m := ctx.Method()
	for _, want := range methods {
		if string(m) == want || (want == "GET" && string(m) == "HEAD") {
			return true
		}
	}
	allow := methods[0]
	for _, x := range methods[1:] {
		allow += ", " + x
	}
	ctx.Response.Header.Set("Allow", allow)
	writeError(ctx, fasthttp.StatusMethodNotAllowed, "method "+string(m)+" is not allowed on "+string(ctx.Path())+"; use "+allow)
	return false
}

// serveInfer runs one inference. Its steady state allocates nothing: the
// request record, the tensor parser, the ONNX Runtime call and the
// response buffer all come from pools.
//
// Its times are monotonic durations since the server's epoch: one clock
// read each, where time.Now reads the clock twice (its wall time is of no
// use to a duration).
func (s *Server) serveInfer(ctx *fasthttp.RequestCtx, model, version []byte) {
	start := time.Since(s.epoch)
	v, err := s.router.Pick(model, version)
	if err != nil {
		if errors.Is(err, router.ErrModelNotFound) {
			s.reg.UnknownModel.Inc()
		}
		code := routeStatus(err)
		if m := s.metricsFor(model, version); m != nil {
			m.Count(code)
		}
		writeError(ctx, code, err.Error())
		return
	}
	sv := s.versions[v]
	m := sv.metrics
	if len(ctx.Request.Header.Peek("Inference-Header-Content-Length")) > 0 {
		s.fail(ctx, m, fasthttp.StatusBadRequest, "the binary tensor extension (Inference-Header-Content-Length) is not supported yet; send tensors as JSON \"data\"")
		return
	}
	if ce := ctx.Request.Header.ContentEncoding(); len(ce) > 0 && string(ce) != "identity" {
		s.fail(ctx, m, fasthttp.StatusBadRequest, "Content-Encoding "+string(ce)+" is not supported; send the body uncompressed")
		return
	}
	call, err := v.Session.AcquireCall()
	if err != nil {
		s.fail(ctx, m, fasthttp.StatusServiceUnavailable, fmt.Sprintf("model %s version %s: %v", v.Model, v.Label, err))
		return
	}
	defer v.Session.ReleaseCall(call)
	req := acquireRequest()
	defer releaseRequest(req)
	tp := s.parsers.Get().(*tensorParser)
	req.prepare(v, call, s.cfg.MaxTensorElements, tp)
	err = req.decode(ctx.PostBody())
	if err == nil {
		err = req.bind(v, call, s.cfg.MaxTensorElements, tp)
	}
	tp.s, tp.out, tp.name = scanner{}, nil, nil
	s.parsers.Put(tp)
	if err != nil {
		s.fail(ctx, m, fasthttp.StatusBadRequest, err.Error())
		return
	}
	decoded := time.Since(s.epoch)
	monitor.Observe(m.Decode, decoded-start)
	if req.priority > 0 {
		call.SetPriority(int(min(req.priority, 1<<20)))
	}
	if req.timeout > 0 {
		call.SetTimeout(time.Duration(min(req.timeout, 1<<40)) * time.Microsecond)
	}
	req.ctx = ctx
	call.SetTag(req)
	if sv.tap != nil {
		s.prepareTap(ctx, sv.tap, req, start)
	}
	if err := v.Run(call); err != nil {
		switch {
		case errors.Is(err, runtime.ErrQueueFull):
			ctx.Response.Header.Set("Retry-After", strconv.Itoa(int(v.Batcher.RetryAfter()/time.Second)))
			s.fail(ctx, m, fasthttp.StatusServiceUnavailable, fmt.Sprintf("model %s version %s: %v (raise max_queue_size or add instances or replicas)", v.Model, v.Label, err))
		case errors.Is(err, runtime.ErrQueueTimeout):
			s.fail(ctx, m, fasthttp.StatusGatewayTimeout, fmt.Sprintf("model %s version %s: %v", v.Model, v.Label, err))
		case errors.Is(err, runtime.ErrAbandoned):
			s.fail(ctx, m, statusClientClosed, err.Error())
		default:
			s.fail(ctx, m, fasthttp.StatusInternalServerError, fmt.Sprintf("model %s version %s failed to run: %v", v.Model, v.Label, err))
		}
		return
	}
	computed := time.Since(s.epoch)
	// Queue is the wait for a batch to start; compute is the run that
	// served the request (shared with its batch).
	started := call.Started().Sub(s.epoch)
	monitor.Observe(m.Queue, started-decoded)
	monitor.Observe(m.Compute, computed-started)
	if req.sampled && !req.tapped {
		sv.tap.Push(req.fillSample(v, call, computed-start))
		clearSample(&req.sample)
	}
	bp := s.bodies.Get().(*[]byte)
	body, err := appendResponse((*bp)[:0], v, req, call)
	if err != nil {
		*bp = body
		s.bodies.Put(bp)
		s.fail(ctx, m, fasthttp.StatusInternalServerError, fmt.Sprintf("model %s version %s: reading outputs: %v", v.Model, v.Label, err))
		return
	}
	ctx.SetContentType(contentJSON)
	// SwapBody hands our buffer to fasthttp and gives us its previous one
	// for the pool: no copy of the response.
	*bp = ctx.Response.SwapBody(body)
	s.bodies.Put(bp)
	m.Count(fasthttp.StatusOK)
	monitor.Observe(m.Encode, time.Since(s.epoch)-computed)
}

func (s *Server) fail(ctx *fasthttp.RequestCtx, m *monitor.RequestMetrics, code int, msg string) {
	m.Count(code)
	writeError(ctx, code, msg)
}

// metricsFor finds the series of a model version that failed to resolve,
// so 503s for a not-ready version are counted where operators look.
func (s *Server) metricsFor(model, version []byte) *monitor.RequestMetrics {
	mod, err := s.router.Model(model)
	if err != nil {
		return nil
	}
	v, err := s.router.Version(mod, version)
	if err != nil {
		return nil
	}
	if sv := s.versions[v]; sv != nil {
		return sv.metrics
	}
	return nil
}

func routeStatus(err error) int {
	switch {
	case errors.Is(err, router.ErrModelNotFound), errors.Is(err, router.ErrVersionNotFound):
		return fasthttp.StatusNotFound
	case errors.Is(err, router.ErrNotReady):
		return fasthttp.StatusServiceUnavailable
	}
	return fasthttp.StatusInternalServerError
}

func (s *Server) serveServerReady(ctx *fasthttp.RequestCtx) {
	if s.stopping.Load() {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "the server is shutting down")
		return
	}
	if !s.cfg.LenientReadiness {
		if ok, why := s.router.Repository().Ready(); !ok {
			writeError(ctx, fasthttp.StatusServiceUnavailable, why)
			return
		}
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
}

func (s *Server) serveModelReady(ctx *fasthttp.RequestCtx, model, version []byte) {
	if _, err := s.router.Pick(model, version); err != nil {
		writeError(ctx, routeStatus(err), err.Error())
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
}

func (s *Server) serveModelMetadata(ctx *fasthttp.RequestCtx, model, version []byte) {
	m, err := s.router.Model(model)
	if err != nil {
		writeError(ctx, routeStatus(err), err.Error())
		return
	}
	v, err := s.router.Version(m, version)
	if err != nil {
		writeError(ctx, routeStatus(err), err.Error())
		return
	}
	if st, why := v.State(); st != runtime.Ready {
		writeError(ctx, fasthttp.StatusServiceUnavailable, fmt.Sprintf("model %s version %s is %s: %s", v.Model, v.Label, st, why))
		return
	}
	ctx.SetContentType(contentJSON)
	ctx.SetBody(appendModelMetadata(nil, m, v))
}

func (s *Server) serveRepositoryIndex(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType(contentJSON)
	ctx.SetBody(appendRepositoryIndex(nil, s.router.Repository()))
}

// serveTransportError answers requests fasthttp could not read: a body
// over the limit gets 413 and says which flag raises it.
func (s *Server) serveTransportError(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes (raise --max-request-body)", s.cfg.MaxRequestBodySize))
		return
	}
	writeError(ctx, fasthttp.StatusBadRequest, "cannot read the HTTP request: "+err.Error())
}

func (s *Server) serveMetrics(ctx *fasthttp.RequestCtx) {
	// Profiles live on the metrics listener, which operators already keep
	// off the public network, as VictoriaMetrics does.
	if bytes.HasPrefix(ctx.Path(), []byte("/debug/pprof/")) {
		pprofhandler.PprofHandler(ctx)
		return
	}
	path := string(ctx.Path())
	switch path {
	case "/metrics":
		ctx.SetContentType("text/plain; version=0.0.4")
		s.reg.WritePrometheus(ctx)
		if s.cfg.Monitor != nil {
			s.cfg.Monitor.WritePrometheus(ctx)
		}
		return
	case "/health", "/v2/health/live":
		ctx.SetStatusCode(fasthttp.StatusOK)
		return
	case "/drift":
		s.serveDrift(ctx, "")
		return
	}
	if rest, ok := strings.CutPrefix(path, "/v2/models/"); ok {
		if model, ok := strings.CutSuffix(rest, "/drift"); ok && model != "" && !strings.Contains(model, "/") {
			s.serveDrift(ctx, model)
			return
		}
	}
	writeError(ctx, fasthttp.StatusNotFound, "the metrics listener serves /metrics, /drift, /v2/models/{model}/drift and /debug/pprof/")
}

func writeError(ctx *fasthttp.RequestCtx, code int, msg string) {
	ctx.SetStatusCode(code)
	ctx.SetContentType(contentJSON)
	b := append(make([]byte, 0, len(msg)+16), `{"error":`...)
	b = appendString(b, msg)
	b = append(b, '}')
	ctx.Response.SetBody(b)
}
