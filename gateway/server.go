// Package gateway is infergate's data plane: the Open Inference Protocol
// v2 REST server on fasthttp, its codecs, and the metrics listener. It asks
// the router which version serves a request and runs it on that version's
// ONNX Runtime session.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infergate/infergate/monitor"
	"github.com/infergate/infergate/router"
	"github.com/infergate/infergate/runtime"
)

// Config is the data plane's configuration. Its zero value works: every
// field documents the default it stands for.
type Config struct {
	// HTTPAddr is where OIP v2 REST is served. Default ":8000", Triton's.
	HTTPAddr string
	// MetricsAddr is where Prometheus scrapes /metrics. Default ":8002".
	// "off" disables the listener.
	MetricsAddr string
	// MaxRequestBodySize bounds a request body; larger ones get 413.
	// Default 64 MiB: a 3x224x224 FP32 image is about 4 MB of JSON per
	// image, so this carries a batch of a dozen.
	MaxRequestBodySize int
	// MaxTensorElements bounds the elements of one input tensor, whatever
	// its shape claims. Default 1<<26 (256 MiB of FP32).
	MaxTensorElements int64
	// ReadTimeout and WriteTimeout bound a request's transfer. Default 60s.
	ReadTimeout, WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections left idle. Default 5 min.
	IdleTimeout time.Duration
	// LenientReadiness makes /v2/health/ready answer 200 while some
	// models failed to load (tritonserver --strict-readiness=false). By
	// default one unavailable model makes the server not ready, so an
	// orchestrator never routes traffic to a half-loaded replica.
	LenientReadiness bool
	// DrainDelay is how long Stop answers 503 on /v2/health/ready before
	// it stops accepting requests, so load balancers take the replica out
	// first. Default 0.
	DrainDelay time.Duration
	// Version is reported by GET /v2.
	Version string
	// Monitor, when set, watches the models whose config.yaml has a
	// `monitor:` section with a sample_rate, takes their labels on
	// POST /v2/models/{m}/feedback and reports drift on the metrics
	// listener. Nil: no drift monitoring.
	Monitor *monitor.Monitor
}

func (c *Config) setDefaults() {
	if c.HTTPAddr == "" {
		c.HTTPAddr = ":8000"
	}
	if c.MetricsAddr == "" {
		c.MetricsAddr = ":8002"
	}
	if c.MaxRequestBodySize <= 0 {
		c.MaxRequestBodySize = 64 << 20
	}
	if c.MaxTensorElements <= 0 {
		c.MaxTensorElements = 1 << 26
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = time.Minute
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = time.Minute
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.Version == "" {
		c.Version = "dev"
	}
}

// Server serves one model repository over OIP v2 REST.
type Server struct {
	cfg    Config
	router *router.Router
	reg    *monitor.Registry
	log    *slog.Logger
	// epoch is what request times are measured from (serveInfer).
	epoch time.Time

	http, metrics     *fasthttp.Server
	httpLn, metricsLn net.Listener
	serving           sync.WaitGroup
	stopping          atomic.Bool
	stopOnce          sync.Once
	// versions holds what serving a version needs besides the version:
	// one map, so a request pays for one lookup.
	versions       map[*runtime.Version]*servedVersion
	ids            *requestIDs
	serverMetadata []byte
	bodies         sync.Pool
	parsers        sync.Pool
	// runTaps holds tapBatch's scratch (runTap).
	runTaps sync.Pool
}

// servedVersion is a version's request metrics and, when its model is
// monitored, the tap that samples its requests.
type servedVersion struct {
	metrics *monitor.RequestMetrics
	tap     *monitor.Tap
}

// New prepares a server; nothing listens until Start.
func New(cfg Config, r *router.Router, reg *monitor.Registry, log *slog.Logger) *Server {
	cfg.setDefaults()
	s := &Server{
		epoch:    time.Now(),
		cfg:      cfg,
		router:   r,
		reg:      reg,
		log:      log,
		versions: map[*runtime.Version]*servedVersion{},
		ids:      newRequestIDs(),
	}
	repo := r.Repository()
	for _, name := range repo.Names {
		for _, v := range repo.Models[name].Versions {
			m := reg.Requests(v.Model, v.Label, v.Provider)
			s.versions[v] = &servedVersion{metrics: m}
			// Wired by the first server only: a repository that two
			// servers share (tests) keeps the first one's series.
			if b := v.Batcher; b != nil && b.Abandoned == nil {
				m.EnableQueueMetrics(b.Stacks(), b.Queued, b.Refused)
				if b.Stacks() && b.OnRun == nil {
					b.OnRun = m.ObserveRun
				}
				b.Abandoned = clientGone
			}
		}
	}
	if cfg.Monitor != nil {
		s.startMonitoring()
	}
	s.serverMetadata = appendServerMetadata(nil, cfg.Version)
	s.bodies.New = func() any { b := make([]byte, 0, 4096); return &b }
	s.runTaps.New = func() any { return new(runTap) }
	s.parsers.New = func() any { return &tensorParser{} }
	s.http = &fasthttp.Server{
		Handler:            s.serveHTTP,
		ErrorHandler:       s.serveTransportError,
		Name:               "infergate",
		MaxRequestBodySize: cfg.MaxRequestBodySize,
		// The timeouts are the listener's (newTimedListener), and the
		// request's time is read only if something asks for it: both cost
		// fasthttp clock reads on every request.
		LazyRequestTime:       true,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		CloseOnShutdown:       true,
		Logger:                fasthttpLogger{log},
	}
	s.metrics = &fasthttp.Server{
		Handler:               s.serveMetrics,
		Name:                  "infergate-metrics",
		NoDefaultServerHeader: true,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		CloseOnShutdown:       true,
		Logger:                fasthttpLogger{log},
	}
	return s
}

// Start opens the listeners and serves in the background. It fails, with
// the address, when a port is taken.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP listener on %s: %w (choose another with --http-port)", s.cfg.HTTPAddr, err)
	}
	s.httpLn = newTimedListener(ln.(*net.TCPListener), s.cfg.ReadTimeout, s.cfg.WriteTimeout, s.cfg.IdleTimeout)
	if s.cfg.MetricsAddr != "off" {
		mln, err := net.Listen("tcp", s.cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics listener on %s: %w (choose another with --metrics-port)", s.cfg.MetricsAddr, err)
		}
		s.metricsLn = mln
		s.serve(s.metrics, mln)
	}
	s.serve(s.http, s.httpLn)
	return nil
}

func (s *Server) serve(srv *fasthttp.Server, ln net.Listener) {
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		if err := srv.Serve(ln); err != nil && !s.stopping.Load() {
			s.log.Error("listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// HTTPAddr is the address the REST listener is bound to (useful with ":0").
func (s *Server) HTTPAddr() string { return s.httpLn.Addr().String() }

// MetricsAddr is the address of the metrics listener, or "" when off.
func (s *Server) MetricsAddr() string {
	if s.metricsLn == nil {
		return ""
	}
	return s.metricsLn.Addr().String()
}

// Stop turns readiness off, waits DrainDelay, then stops accepting
// requests and waits for those in flight (bounded by ctx). Safe to call
// twice.
func (s *Server) Stop(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		s.stopping.Store(true)
		if s.cfg.DrainDelay > 0 {
			select {
			case <-time.After(s.cfg.DrainDelay):
			case <-ctx.Done():
			}
		}
		err = s.http.ShutdownWithContext(ctx)
		if s.metricsLn != nil {
			err = errors.Join(err, s.metrics.ShutdownWithContext(ctx))
		}
		// fasthttp closes only the listeners its Serve has registered: a
		// Stop right after Start can come before the serving goroutine
		// did, which would then accept forever. Closing them here makes a
		// late Serve return at once (closing twice is harmless).
		if s.httpLn != nil {
			s.httpLn.Close()
		}
		if s.metricsLn != nil {
			s.metricsLn.Close()
		}
		s.serving.Wait()
	})
	return err
}

type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...))
}
