package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Target is the endpoint a run drives.
type Target struct {
	// URL is the server's base URL, http://host:port. HTTPS is not
	// supported: a load generator measuring a model server should not
	// measure TLS.
	URL string
	// Model and Version name the model: requests go to
	// /v2/models/{Model}[/versions/{Version}]/infer.
	Model   string
	Version string
	// Bodies are the request bodies (OIP v2 JSON), sent in turn.
	Bodies [][]byte
	// Timeout bounds each request, from send to the last byte of the
	// answer. Default 10 s.
	Timeout time.Duration
}

// InferURL is the model's infer endpoint.
func (t *Target) InferURL() string {
	u := strings.TrimRight(t.URL, "/") + "/v2/models/" + url.PathEscape(t.Model)
	if t.Version != "" {
		u += "/versions/" + url.PathEscape(t.Version)
	}
	return u + "/infer"
}

func (t *Target) hostPort() (string, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return "", fmt.Errorf("target URL %q: %w", t.URL, err)
	}
	if u.Scheme != "http" {
		return "", fmt.Errorf("target URL %q: only http:// is supported", t.URL)
	}
	if u.Host == "" {
		return "", fmt.Errorf("target URL %q has no host (want http://host:port)", t.URL)
	}
	if u.Port() == "" {
		return u.Host + ":80", nil
	}
	return u.Host, nil
}

// Load is how a run drives the target. The zero value is not a load: set
// Concurrency (closed loop) or Schedule.Rate (open loop).
type Load struct {
	// Concurrency > 0 runs a closed loop: that many clients, each sending
	// its next request when the previous one is answered. Latency is timed
	// from the actual send. This measures what N callers experience, and
	// its throughput is the server's capacity at that concurrency.
	Concurrency int
	// Schedule, when Concurrency is 0, runs an open loop: requests leave at
	// the schedule's times whether or not earlier ones were answered, and
	// each latency is timed from its intended send time.
	Schedule Schedule
	// MaxConns caps the open loop's connections. The pool starts small and
	// opens a connection whenever a request is due and no connection is
	// free; a request that still finds none waits, its clock running.
	// Default 512.
	MaxConns int
	// Warmup is run first and not measured: connection setup, the
	// server's first batches and the Go runtime's growth stay out of the
	// figures. Default 0.
	Warmup time.Duration
	// Window is one measurement window's length. Default 5 s.
	Window time.Duration
	// Requests > 0 ends the (single) measurement window after this many
	// requests instead of after Window.
	Requests int64
	// Stability > 0 repeats windows until the last three agree: each
	// one's throughput and p99 within Stability percent of their mean
	// (perf_analyzer's rule). The result is those three merged.
	Stability float64
	// MaxWindows caps the windows of a stability run, and is the number of
	// steps of a ramp. Default 10.
	MaxWindows int
	// Metrics, when set, is scraped at each window's edges so the result
	// carries the server's own queue and compute split for the same span.
	Metrics *MetricsSource
	// Progress, when set, is called about twice a second from the run's
	// own goroutine.
	Progress func(Progress)
}

// Progress is a running run's state, for a progress line.
type Progress struct {
	Phase       string // "warm-up", "window 3", "ramp 2/10"
	Elapsed     time.Duration
	Requests    int64 // completed in the current window
	Errors      int64
	Throughput  float64 // OK per second in the current window
	Connections int
}

const (
	defaultWindow     = 5 * time.Second
	defaultMaxWindows = 10
	defaultMaxConns   = 512
	defaultTimeout    = 10 * time.Second
	// lateAfter: an open-loop request sent this far behind its intended
	// time counts as late (Go timers and a busy core easily add tens of
	// microseconds; a millisecond means the generator fell behind).
	lateAfter = time.Millisecond
	// tick is how often the run's own goroutine looks at the clock, the
	// pool and the request count.
	tick = 5 * time.Millisecond
	// earlyRelease is how far ahead of its time an open-loop request may
	// leave: Go's timer granularity on an idle process.
	earlyRelease = time.Millisecond
	// refusedBackoff keeps a closed-loop client from spinning on a target
	// that refuses connections: nothing can be loaded, and a tight loop
	// would only burn the core the report is waiting for.
	refusedBackoff = 10 * time.Millisecond
)

func (l *Load) setDefaults() error {
	if l.Window <= 0 {
		l.Window = defaultWindow
	}
	if l.MaxWindows <= 0 {
		l.MaxWindows = defaultMaxWindows
	}
	if l.MaxConns <= 0 {
		l.MaxConns = defaultMaxConns
	}
	if l.Schedule.RampTo > 0 && l.Concurrency == 0 {
		l.Schedule.RampOver = l.Window * time.Duration(l.MaxWindows)
	}
	switch {
	case l.Concurrency < 0:
		return errors.New("concurrency must be positive")
	case l.Concurrency > 100000:
		return errors.New("concurrency above 100,000 is not supported")
	case l.Concurrency == 0:
		if err := l.Schedule.validate(); err != nil {
			return err
		}
	}
	if l.Stability < 0 || l.Requests < 0 || l.Warmup < 0 {
		return errors.New("stability, request count and warm-up must not be negative")
	}
	return nil
}

func (l *Load) mode() string {
	switch {
	case l.Concurrency > 0:
		return "closed"
	case l.Schedule.RampTo > 0:
		return "ramp"
	}
	return "open"
}

func (l *Load) label() string {
	switch l.mode() {
	case "closed":
		return fmt.Sprintf("closed c=%d", l.Concurrency)
	case "ramp":
		return "ramp " + fmtRate(l.Schedule.Rate) + "→" + fmtRate(l.Schedule.RampTo) + "/s"
	}
	kind := "constant"
	if l.Schedule.Poisson {
		kind = "poisson"
	}
	return "open " + fmtRate(l.Schedule.Rate) + "/s " + kind
}

// fmtRate prints a rate for a label: whole numbers from 100 up, three
// significant digits below.
func fmtRate(r float64) string {
	if r >= 100 {
		return strconv.FormatFloat(r, 'f', 0, 64)
	}
	return strconv.FormatFloat(r, 'g', 3, 64)
}

// runner is one run's state, shared by its workers.
type runner struct {
	l    Load
	tg   Target
	addr string
	// reqs are the bodies as complete HTTP requests, built once and
	// shared read-only by the workers.
	reqs    [][]byte
	stripes []stripe
	clock   *clock // open loop only
	done    chan struct{}
	wg      sync.WaitGroup
	// spawned counts workers ever started (their ids); live those still
	// running. budget is the requests left to send in a counted window.
	spawned atomic.Int64
	live    atomic.Int64
	budget  atomic.Int64
}

// Run drives the target with the load and returns the measurement. An
// error means the run could not start (bad configuration); a target that
// refuses, times out or fails every request yields a Result whose counts
// say so.
func Run(ctx context.Context, tg Target, l Load) (Result, error) {
	if err := l.setDefaults(); err != nil {
		return Result{}, err
	}
	if len(tg.Bodies) == 0 {
		return Result{}, errors.New("no request bodies: give an input file or let the harness synthesize them from the model's metadata")
	}
	if tg.Model == "" {
		return Result{}, errors.New("no model named")
	}
	if tg.Timeout <= 0 {
		tg.Timeout = defaultTimeout
	}
	addr, err := tg.hostPort()
	if err != nil {
		return Result{}, err
	}
	host := addr
	if u, err := url.Parse(tg.URL); err == nil {
		host = u.Host
	}
	path := strings.TrimPrefix(tg.InferURL(), strings.TrimRight(tg.URL, "/"))
	r := &runner{
		l:       l,
		tg:      tg,
		addr:    addr,
		stripes: make([]stripe, max(4, 2*goruntime.GOMAXPROCS(0))),
		done:    make(chan struct{}),
	}
	for i := range r.stripes {
		r.stripes[i].hist = newHistogram()
	}
	for _, b := range tg.Bodies {
		r.reqs = append(r.reqs, appendRequest(nil, host, path, b))
	}
	r.budget.Store(math.MaxInt64)
	res := Result{Label: l.label(), Mode: l.mode(), Concurrency: l.Concurrency}
	if l.Concurrency == 0 {
		res.TargetRate = l.Schedule.Rate
	}
	return r.run(ctx, res), nil
}

// snapshot is one window's merged record.
type snapshot struct {
	hist    *hdrhistogram.Histogram
	t       tally
	secs    float64
	metrics *scrape // at the window's end
}

func (r *runner) run(ctx context.Context, res Result) Result {
	began := time.Now()
	initial := r.l.Concurrency
	if initial == 0 {
		r.clock = newClock(r.l.Schedule, began, r.l.Warmup)
		initial = min(r.l.MaxConns, 8)
	}
	for range initial {
		r.startWorker()
	}
	defer r.stop()

	// edge is where the current window began: the previous collect, so a
	// metrics scrape between windows loses no request and no second.
	edge := began
	if r.l.Warmup > 0 {
		r.wait(ctx, began, edge, edge.Add(r.l.Warmup), "warm-up", false)
		r.collect()
		edge = time.Now()
	}
	var startScrape *scrape
	if r.l.Metrics != nil {
		startScrape = r.l.Metrics.scrape()
	}
	if r.l.Requests > 0 {
		r.budget.Store(r.l.Requests)
	}
	var wins []snapshot
	ramp := r.l.mode() == "ramp"
	for {
		phase := fmt.Sprintf("window %d", len(wins)+1)
		if ramp {
			phase = fmt.Sprintf("ramp %d/%d", len(wins)+1, r.l.MaxWindows)
		}
		r.wait(ctx, began, edge, edge.Add(r.l.Window), phase, r.l.Requests > 0)
		s := r.collect()
		now := time.Now()
		s.secs = now.Sub(edge).Seconds()
		edge = now
		if r.l.Metrics != nil {
			s.metrics = r.l.Metrics.scrape()
		}
		wins = append(wins, s)
		res.Windows = append(res.Windows, s.window())
		if ctx.Err() != nil || r.l.Requests > 0 || r.live.Load() == 0 {
			break
		}
		if ramp {
			if len(wins) >= r.l.MaxWindows {
				break
			}
			continue
		}
		if r.l.Stability <= 0 {
			break
		}
		if res.Stable = stable(res.Windows, r.l.Stability); res.Stable || len(wins) >= r.l.MaxWindows {
			break
		}
	}
	use := wins
	if r.l.Stability > 0 && !ramp && len(wins) > 3 {
		use = wins[len(wins)-3:]
	}
	all := snapshot{hist: newHistogram()}
	for i := range use {
		all.add(&use[i])
	}
	res.fill(&all.t, all.hist, all.secs)
	res.merged = &all
	res.Connections = int(r.spawned.Load())
	if r.l.Metrics != nil {
		before := startScrape
		if len(use) < len(wins) {
			before = wins[len(wins)-len(use)-1].metrics
		}
		res.Server = r.l.Metrics.split(before, use[len(use)-1].metrics)
	}
	return res
}

// stable applies perf_analyzer's rule to the last three windows: each
// one's throughput and p99 within pct percent of the three's mean.
func stable(w []Window, pct float64) bool {
	if len(w) < 3 {
		return false
	}
	last := w[len(w)-3:]
	within := func(get func(Window) float64) bool {
		var mean float64
		for _, x := range last {
			mean += get(x)
		}
		mean /= 3
		for _, x := range last {
			if math.Abs(get(x)-mean) > mean*pct/100 {
				return false
			}
		}
		return true
	}
	return within(func(x Window) float64 { return x.Throughput }) &&
		within(func(x Window) float64 { return float64(x.P99) })
}

// add merges o's requests, latencies and seconds into s (not its scrape).
func (s *snapshot) add(o *snapshot) {
	s.hist.Merge(o.hist)
	s.t.add(&o.t)
	s.secs += o.secs
}

func (s *snapshot) window() Window {
	w := Window{Seconds: s.secs, Errors: s.t.completed() - s.t.ok}
	if s.secs > 0 {
		w.Throughput = float64(s.t.ok) / s.secs
	}
	if s.hist.TotalCount() > 0 {
		w.P50 = time.Duration(s.hist.ValueAtQuantile(50))
		w.P99 = time.Duration(s.hist.ValueAtQuantile(99))
	}
	return w
}

// wait lets the workers run until `until` (or, counting, until the
// window's requests are done), growing the open loop's pool and reporting
// progress.
func (r *runner) wait(ctx context.Context, began, from, until time.Time, phase string, counting bool) {
	t := time.NewTicker(tick)
	defer t.Stop()
	lastProgress := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if counting {
				if r.live.Load() == 0 || r.completed() >= r.l.Requests {
					return
				}
			} else if !now.Before(until) {
				return
			}
			if r.clock != nil {
				r.grow(now)
			}
			if r.l.Progress != nil && now.Sub(lastProgress) >= 500*time.Millisecond {
				lastProgress = now
				r.progress(phase, now.Sub(began), now.Sub(from))
			}
		}
	}
}

// grow opens connections when a request is overdue by more than lateAfter
// and no worker has taken it: every connection is busy waiting for an
// answer. It opens one for each request due since, but at most doubles the
// pool per tick (a hiccup of the generator's own core would otherwise open
// hundreds at once), and stops at MaxConns.
func (r *runner) grow(now time.Time) {
	behind := now.Sub(r.clock.peek())
	if behind < lateAfter {
		return
	}
	due := int64(behind.Seconds()*r.l.Schedule.rateAt(now.Sub(r.clock.start)-r.clock.rampStart)) + 1
	n := r.spawned.Load()
	for range min(due, n, int64(r.l.MaxConns)-n) {
		r.startWorker()
	}
}

func (r *runner) completed() int64 {
	var n int64
	for i := range r.stripes {
		s := &r.stripes[i]
		s.mu.Lock()
		n += s.t.completed()
		s.mu.Unlock()
	}
	return n
}

func (r *runner) progress(phase string, elapsed, inWindow time.Duration) {
	var t tally
	for i := range r.stripes {
		s := &r.stripes[i]
		s.mu.Lock()
		t.ok += s.t.ok
		c := s.t.completed()
		s.mu.Unlock()
		t.status[0] += c
	}
	p := Progress{Phase: phase, Elapsed: elapsed, Requests: t.status[0], Errors: t.status[0] - t.ok, Connections: int(r.spawned.Load())}
	if inWindow > 0 {
		p.Throughput = float64(t.ok) / inWindow.Seconds()
	}
	r.l.Progress(p)
}

// collect takes every stripe's record and leaves them empty.
func (r *runner) collect() snapshot {
	s := snapshot{hist: newHistogram()}
	for i := range r.stripes {
		st := &r.stripes[i]
		st.mu.Lock()
		s.hist.Merge(st.hist)
		st.hist.Reset()
		s.t.add(&st.t)
		st.t = tally{}
		st.mu.Unlock()
	}
	return s
}

func (r *runner) startWorker() {
	id := r.spawned.Add(1) - 1
	r.live.Add(1)
	r.wg.Add(1)
	go r.worker(int(id))
}

// stop ends the run: no request is sent after it returns, and it waits
// (at most the request timeout and a second) for those in flight.
func (r *runner) stop() {
	close(r.done)
	finished := make(chan struct{})
	go func() { r.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(r.tg.Timeout + time.Second):
	}
}

// worker sends one request at a time over its own connection until the
// run stops. Its steady state allocates nothing: prebuilt request bytes,
// one read buffer for the connection's life, the send time from the
// schedule or the monotonic clock.
func (r *runner) worker(id int) {
	defer r.wg.Done()
	defer r.live.Add(-1)
	c := newConn(r.addr, r.tg.Timeout)
	defer c.close()
	st := &r.stripes[id%len(r.stripes)]
	reqs := r.reqs
	bi := id % len(reqs)
	var timer *time.Timer
	if r.clock != nil {
		timer = time.NewTimer(time.Hour)
		timer.Stop()
		defer timer.Stop()
	}
	for {
		select {
		case <-r.done:
			return
		default:
		}
		if r.budget.Add(-1) < 0 {
			return
		}
		var at time.Time
		slept := false
		if r.clock != nil {
			// Go's timers wake up to a millisecond late on a quiet
			// process (the netpoller sleeps in whole milliseconds), and
			// waiting out the rest precisely costs either a spinning core,
			// which starves the network poller and delays every answer, or
			// a thread blocked in nanosleep, which on a one-core generator
			// holds the only P. So the worker wakes up to earlyRelease
			// before the request's time and sends it then; an early
			// request is timed from its actual send, so no latency is
			// overstated or understated, and only the arrival times carry
			// that jitter.
			at = r.clock.take()
			if d := time.Until(at) - earlyRelease; d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-r.done:
					return
				}
				// The request was taken in time and slept: if it is late
				// now, the generator's own core or timers made it so.
				slept = true
			}
		}
		req := reqs[bi]
		if bi++; bi == len(reqs) {
			bi = 0
		}
		// Closed loop, or an open-loop request released early: timed from
		// its send. An open-loop request sent late: timed from its
		// intended time, the coordinated-omission correction.
		sent := time.Now()
		from, late := sent, false
		if r.clock != nil && sent.After(at) {
			late = sent.Sub(at) > lateAfter
			from = at
		}
		lag := late && slept
		code, err := c.do(req, sent)
		lat := time.Since(from)
		st.mu.Lock()
		if late {
			st.t.late++
		}
		if lag {
			st.t.lag++
		}
		var kind ErrorKind
		if err == nil {
			if code < 0 || code >= len(st.t.status) {
				code = 0
			}
			st.t.status[code]++
			if code >= 200 && code < 300 {
				st.t.ok++
				st.hist.RecordValue(min(int64(lat), histHighest))
			}
		} else {
			kind = classify(err)
			st.t.transport[kind]++
		}
		st.mu.Unlock()
		if err != nil && kind == ErrRefused && r.clock == nil {
			select {
			case <-time.After(refusedBackoff):
			case <-r.done:
				return
			}
		}
	}
}
