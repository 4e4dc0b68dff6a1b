package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/infergate/infergate/gateway"
	"github.com/infergate/infergate/monitor"
	"github.com/infergate/infergate/router"
	"github.com/infergate/infergate/runtime"
)

// serve parses tritonserver-compatible flags, loads the repository, serves
// until SIGINT or SIGTERM, then stops in reverse order and says how long
// each step took.
func serve(args []string) error {
	keepSysmonAwake()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	repoDir := fs.String("model-repository", "", "model repository: DIR/<model>/[config.yaml] and DIR/<model>/<version>/model.onnx (required)")
	httpAddr := fs.String("http-address", "0.0.0.0", "address the HTTP and metrics listeners bind to")
	httpPort := fs.Int("http-port", 8000, "OIP v2 REST port")
	grpcPort := fs.Int("grpc-port", 8001, "OIP v2 gRPC port (accepted for tritonserver command lines; gRPC is not served yet)")
	metricsPort := fs.Int("metrics-port", 8002, "Prometheus /metrics port")
	allowMetrics := fs.Bool("allow-metrics", true, "serve /metrics")
	strict := fs.Bool("strict-readiness", true, "report not ready while any model failed to load")
	ortLib := fs.String("ort-lib", "", "path of libonnxruntime.so.1 (default $"+runtime.LibraryEnv+", then .ort/lib)")
	maxBody := fs.Int("max-request-body", 64<<20, "largest request body in bytes; larger ones get 413")
	maxElems := fs.Int64("max-tensor-elements", 1<<26, "largest element count of one input tensor")
	drain := fs.Duration("drain-delay", 0, "on shutdown, how long /v2/health/ready answers 503 before listeners close")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	dataDir := fs.String("data-dir", "", "where state that outlives the process is kept (drift reference profiles); empty keeps nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *repoDir == "" {
		return fmt.Errorf("--model-repository is required (the demo repository is configs/models: `make run`)")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	began := time.Now()

	env, err := runtime.NewEnvironment(runtime.LocateLibrary(*ortLib))
	if err != nil {
		return err
	}
	log.Info("ONNX Runtime loaded", "version", env.Version, "providers", env.Providers)
	repo, err := runtime.ScanRepository(*repoDir)
	if err != nil {
		return err
	}
	gateway.CheckMonitorConfigs(repo)
	repo.Load(env, log)
	if *dataDir == "" {
		log.Info("drift reference profiles are not persisted: set --data-dir to keep them across restarts")
	}
	mon := monitor.New(*dataDir, log)

	reg := monitor.NewRegistry()
	metricsAddr := "off"
	if *allowMetrics {
		metricsAddr = hostPort(*httpAddr, *metricsPort)
	}
	srv := gateway.New(gateway.Config{
		HTTPAddr:           hostPort(*httpAddr, *httpPort),
		MetricsAddr:        metricsAddr,
		MaxRequestBodySize: *maxBody,
		MaxTensorElements:  *maxElems,
		LenientReadiness:   !*strict,
		DrainDelay:         *drain,
		Version:            version,
		Monitor:            mon,
	}, router.New(repo), reg, log)
	// Signals are caught from before the listeners open, so that one
	// arriving before the wait below still stops the server in order
	// instead of killing it; during loading, above, they still interrupt.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	if err := srv.Start(); err != nil {
		mon.Close()
		repo.Close()
		return err
	}
	log.Info("serving", "http", srv.HTTPAddr(), "metrics", srv.MetricsAddr(),
		"grpc", "not served yet (port "+strconv.Itoa(*grpcPort)+" left free)", "startup", time.Since(began).Round(time.Millisecond),
		"sysmon_awake", strings.Contains(os.Getenv("GODEBUG"), sysmonSetting))
	if ok, why := repo.Ready(); !ok {
		log.Warn("not every model is ready", "reason", why)
	}

	got := <-sig
	log.Info("stopping", "signal", got.String())

	t := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+*drain)
	defer cancel()
	if err := srv.Stop(ctx); err != nil {
		log.Warn("listeners stopped with error", "err", err)
	}
	log.Info("listeners stopped", "took", time.Since(t).Round(time.Millisecond))
	mon.Close() // persists the reference profiles
	t = time.Now()
	repo.Close()
	env.Close()
	log.Info("models unloaded", "took", time.Since(t).Round(time.Millisecond))
	return nil
}

func hostPort(host string, port int) string {
	if host == "0.0.0.0" {
		host = ""
	}
	return host + ":" + strconv.Itoa(port)
}
