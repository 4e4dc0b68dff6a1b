package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/infergate/infergate/bench"
)

// benchCmd is `infergate bench`: a load run, a capacity search or a sweep
// against an OIP v2 endpoint. Flags are parsed here and passed down as
// bench's config structs.
func benchCmd(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	target := fs.String("url", "http://127.0.0.1:8000", "OIP v2 REST endpoint (base URL)")
	model := fs.String("model", "", "model to load (required)")
	modelVersion := fs.String("model-version", "", "model version (default: the server's choice)")
	protocol := fs.String("protocol", "json", "wire format: json (OIP v2 REST JSON); binary and grpc are not spoken by infergate yet")
	conc := fs.Int("concurrency", 0, "closed loop: this many clients, each waiting for its answer (default 1 when -rate is not set)")
	rate := fs.Float64("rate", 0, "open loop: requests per second, each timed from its intended send time")
	arrival := fs.String("arrival", "constant", "open-loop arrivals: constant or poisson")
	rampTo := fs.Float64("ramp-to", 0, "ramp: raise the rate linearly from -rate to this over -max-windows windows of -duration")
	maxConns := fs.Int("max-conns", 512, "open loop: most connections the pool may open")
	warmup := fs.Duration("warmup", time.Second, "unmeasured warm-up before the first window")
	duration := fs.Duration("duration", 5*time.Second, "length of one measurement window")
	requests := fs.Int64("requests", 0, "measure this many requests instead of -duration")
	stability := fs.Float64("stability", 0, "repeat windows until the last 3 have throughput and p99 within this percent (0: one window; a search uses 10 unless set)")
	maxWindows := fs.Int("max-windows", 10, "most windows of a stability run; steps of a ramp")
	timeout := fs.Duration("timeout", 10*time.Second, "per-request timeout")
	input := fs.String("input", "", "request body: a JSON file, or a directory of them sent in turn (default: synthesized from the model's metadata)")
	batch := fs.Int64("batch", 1, "synthesized requests: size of the dynamic first (batch) dimension")
	dynDim := fs.Int64("dynamic-dim", 1, "synthesized requests: size of other dynamic dimensions")
	seed := fs.Uint64("seed", 1, "seed of synthesized tensors and Poisson arrivals")
	metricsURL := fs.String("metrics-url", "", "infergate Prometheus endpoint for the server-side split (default http://HOST:8002/metrics when the target is an infergate; off to skip)")
	format := fs.String("format", "auto", "report on stdout: table, json, or auto (table on a terminal, JSON otherwise)")
	jsonOut := fs.String("json", "", "also write the JSON report to this file")
	htmlOut := fs.String("html", "", "also write a self-contained HTML report to this file (and its plot as .svg beside it)")
	quiet := fs.Bool("quiet", false, "no progress line (it is shown only on a terminal anyway)")
	slo := fs.Duration("slo-p99", 0, "capacity search: highest rate whose p99 stays within this (e.g. 10ms)")
	searchStart := fs.Float64("search-start", 0, "capacity search: first rate (default: what one closed-loop client reaches)")
	searchMax := fs.Float64("search-max-rate", 1e6, "capacity search: highest rate tried")
	precision := fs.Float64("search-precision", 0.05, "capacity search: stop when the bracket is this fraction of its lower end")
	maxErr := fs.Float64("max-error-rate", 0.01, "capacity search: share of failed requests a passing rate may have")
	sweepRepo := fs.String("sweep", "", "sweep: model repository; the harness starts `infergate serve` on it for each configuration (needs -slo-p99)")
	swBatch := fs.String("sweep-max-batch", "0,16,64", "sweep: max_batch_size values (0 = batching off)")
	swDelay := fs.String("sweep-queue-delay", "0,200", "sweep: max_queue_delay values, microseconds")
	swInst := fs.String("sweep-instances", "1,2", "sweep: instances values")
	swIntra := fs.String("sweep-intra-op", "", "sweep: intra_op_threads values (empty: leave as configured)")
	serverCPUs := fs.String("server-cpus", "", "sweep: pin each server with taskset -c LIST; its size is the cores charged")
	targetRate := fs.Float64("target-rate", 0, "sweep: size replicas for this many requests per second")
	compareURL := fs.String("compare", "", "A/B: alternate the load between -url (A) and this endpoint (B), a run of each a round, the order swapping every round; reports each side pooled over its runs and the median of the rounds' B/A ratios")
	compareRounds := fs.Int("compare-rounds", 10, "A/B: rounds (each a -warmup and a -duration window on each target)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags go before it; see infergate bench -h)", fs.Arg(0))
	}
	switch *protocol {
	case "json":
	case "binary":
		return errors.New("-protocol binary: infergate does not accept the binary tensor extension yet, so the harness does not send it; use -protocol json")
	case "grpc":
		return errors.New("-protocol grpc: infergate does not serve gRPC yet, so the harness has no gRPC client; use -protocol json")
	default:
		return fmt.Errorf("-protocol %q: want json", *protocol)
	}
	if *model == "" {
		return errors.New("-model is required (the model's name in the repository, e.g. -model elementwise)")
	}
	if *conc > 0 && *rate > 0 {
		return errors.New("give -concurrency (closed loop) or -rate (open loop), not both")
	}
	if *rampTo > 0 && *rate <= 0 {
		return errors.New("-ramp-to needs a starting -rate")
	}
	if *compareURL != "" {
		switch {
		case *sweepRepo != "" || *slo > 0:
			return errors.New("-compare alternates one load between two targets; it does not search or sweep")
		case *rampTo > 0:
			return errors.New("-compare alternates one load; a ramp's windows are different loads")
		case *metricsURL != "" && *metricsURL != "off":
			return errors.New("-compare has no server split; leave out -metrics-url")
		case *htmlOut != "":
			return errors.New("-compare writes a table or JSON; the HTML report plots one target's runs")
		case *compareRounds < 1:
			return fmt.Errorf("-compare-rounds %d: want at least 1", *compareRounds)
		}
	}
	if *sweepRepo != "" && *slo <= 0 {
		return errors.New("-sweep needs -slo-p99: each configuration's capacity is searched against it")
	}
	poisson := false
	switch *arrival {
	case "constant":
	case "poisson":
		poisson = true
	default:
		return fmt.Errorf("-arrival %q: want constant or poisson", *arrival)
	}
	switch *format {
	case "auto":
		if isTerminal(os.Stdout) {
			*format = "table"
		} else {
			*format = "json"
		}
	case "table", "json":
	default:
		return fmt.Errorf("-format %q: want table, json or auto", *format)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	load := bench.Load{
		Concurrency: *conc,
		Schedule:    bench.Schedule{Rate: *rate, RampTo: *rampTo, Poisson: poisson, Seed: *seed},
		MaxConns:    *maxConns,
		Warmup:      *warmup,
		Window:      *duration,
		Requests:    *requests,
		Stability:   *stability,
		MaxWindows:  *maxWindows,
	}
	if load.Concurrency == 0 && load.Schedule.Rate == 0 {
		load.Concurrency = 1
	}
	if !*quiet && isTerminal(os.Stderr) && os.Getenv("CI") == "" {
		load.Progress = func(p bench.Progress) {
			fmt.Fprintf(os.Stderr, "\r\033[K%s %5.1fs  %d done  %.0f req/s  %d errors  %d conns",
				p.Phase, p.Elapsed.Seconds(), p.Requests, p.Throughput, p.Errors, p.Connections)
		}
	}
	synth := bench.Synth{Batch: *batch, Dynamic: *dynDim, Seed: *seed}
	search := bench.Search{SLOP99: *slo, Start: *searchStart, MaxRate: *searchMax, Precision: *precision, MaxErrorRate: *maxErr, Load: load}
	if !set["stability"] {
		search.Load.Stability = 10
	}
	rep := &bench.Report{Target: *target, Model: *model, Started: time.Now()}
	var bodies [][]byte
	if *input != "" {
		b, err := bench.ReadBodies(*input)
		if err != nil {
			return err
		}
		bodies = b
		rep.Bodies = fmt.Sprintf("%d bodies from %s", len(b), *input)
	} else {
		rep.Bodies = fmt.Sprintf("synthesized from metadata: batch %d, other dynamic dimensions %d, seed %d", *batch, *dynDim, *seed)
	}

	var runErr error
	if *sweepRepo != "" {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding the infergate binary to start: %w", err)
		}
		sw := bench.Sweep{Binary: self, Repository: *sweepRepo, Model: *model, ServerCPUs: *serverCPUs,
			TargetRate: *targetRate, Bodies: bodies, Synth: synth, Search: search}
		for _, x := range []struct {
			flag string
			dst  *[]int64
		}{{*swBatch, &sw.MaxBatchSize}, {*swDelay, &sw.MaxQueueDelay}, {*swInst, &sw.Instances}, {*swIntra, &sw.IntraOp}} {
			if *x.dst, err = parseInts(x.flag); err != nil {
				return err
			}
		}
		if load.Progress != nil {
			sw.Log = func(s string) { fmt.Fprintf(os.Stderr, "\r\033[K%s\n", s) }
		}
		rep.Target = "infergate serve started by the sweep"
		if *serverCPUs != "" {
			rep.Target += " on CPUs " + *serverCPUs
		}
		rep.Infergate = true
		res, err := bench.RunSweep(ctx, sw)
		rep.Sweep = &res
		runErr = err
	} else {
		isIG, err := bench.IsInfergate(*target, 5*time.Second)
		if err != nil && bodies == nil {
			return fmt.Errorf("cannot read the target's metadata to synthesize requests: %w", err)
		}
		rep.Infergate = isIG
		if bodies == nil {
			meta, err := bench.FetchMetadata(*target, *model, *modelVersion, 10*time.Second)
			if err != nil {
				return err
			}
			if bodies, err = bench.Synthesize(meta, synth); err != nil {
				return err
			}
		}
		// A comparison has no server split: each side would need its own
		// metrics endpoint and its scrapes pooled; it is the client's view
		// of both.
		if *compareURL == "" && *metricsURL != "off" && (isIG || *metricsURL != "") {
			u := *metricsURL
			if u == "" {
				if u, err = bench.DefaultMetricsURL(*target); err != nil {
					return err
				}
			}
			src := &bench.MetricsSource{URL: u, Model: *model}
			load.Metrics, search.Load.Metrics = src, src
		}
		tg := bench.Target{URL: *target, Model: *model, Version: *modelVersion, Bodies: bodies, Timeout: *timeout}
		if *compareURL != "" {
			b := tg
			b.URL = *compareURL
			res, err := bench.Compare(ctx, tg, b, load, *compareRounds)
			rep.Compare = &res
			if err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			if len(res.Rounds) > 0 && (res.A.OK == 0 || res.B.OK == 0) {
				runErr = fmt.Errorf("a side had no successful request (A %d of %d, B %d of %d)", res.A.OK, res.A.Requests, res.B.OK, res.B.Requests)
			}
		} else if *slo > 0 {
			res, err := bench.RunSearch(ctx, tg, search)
			rep.Search = &res
			runErr = err
		} else {
			res, err := bench.Run(ctx, tg, load)
			if err != nil {
				return err
			}
			rep.Run = &res
			if res.OK == 0 {
				runErr = fmt.Errorf("no request succeeded (%d sent)", res.Requests)
			}
		}
	}
	if load.Progress != nil {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	if err := writeReports(rep, *format, *jsonOut, *htmlOut); err != nil {
		return err
	}
	return runErr
}

func writeReports(rep *bench.Report, format, jsonOut, htmlOut string) error {
	var err error
	if format == "json" {
		err = rep.WriteJSON(os.Stdout)
	} else {
		err = rep.WriteTable(os.Stdout)
	}
	if err != nil {
		return err
	}
	write := func(path string, fn func(f *os.File) error) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if jsonOut != "" {
		if err := write(jsonOut, func(f *os.File) error { return rep.WriteJSON(f) }); err != nil {
			return err
		}
	}
	if htmlOut != "" {
		if err := write(htmlOut, func(f *os.File) error { return rep.WriteHTML(f) }); err != nil {
			return err
		}
		svg := strings.TrimSuffix(htmlOut, filepath.Ext(htmlOut)) + ".svg"
		if err := os.WriteFile(svg, rep.SVG(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func parseInts(s string) ([]int64, error) {
	var out []int64
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("sweep value %q: want comma-separated non-negative integers", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// isTerminal reports whether f is a terminal: the progress line and the
// table are for people; pipes and CI logs get neither escape codes nor
// carriage returns.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
