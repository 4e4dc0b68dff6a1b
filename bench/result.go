package bench

import (
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in nanoseconds from 1 ns to 100 s with three
// significant digits: 0.1% relative error at any magnitude, so a 45 µs
// answer and a 1 s stall are both resolved. One such histogram holds about
// 28,000 counters (230 KB); a run keeps one per stripe plus the window's.
const (
	histHighest = int64(100 * time.Second)
	histDigits  = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, histHighest, histDigits)
}

// ErrorKind classifies a request that got no HTTP answer.
type ErrorKind int

const (
	// ErrRefused: the connection was refused (nothing listens).
	ErrRefused ErrorKind = iota
	// ErrTimeout: no answer within the request timeout.
	ErrTimeout
	// ErrReset: the server closed or reset the connection mid-request.
	ErrReset
	// ErrOther: any other transport error (DNS, TLS, a malformed answer).
	ErrOther
	numErrorKinds
)

var errorKindNames = [numErrorKinds]string{"refused", "timeout", "reset", "other"}

func (k ErrorKind) String() string { return errorKindNames[k] }

// classify names a transport error's kind.
func classify(err error) ErrorKind {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrRefused
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ErrTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF):
		return ErrReset
	}
	return ErrOther
}

// tally counts a window's outcomes. Status is indexed by HTTP code, so
// counting is an increment, not a map update.
type tally struct {
	ok        int64
	status    [600]int64
	transport [numErrorKinds]int64
	// late counts open-loop requests sent more than lateAfter behind
	// schedule; lag those of them that were not waiting for a connection
	// but for the generator itself (a timer or a busy core).
	late int64
	lag  int64
}

func (t *tally) add(o *tally) {
	t.ok += o.ok
	t.late += o.late
	t.lag += o.lag
	for i, n := range o.status {
		t.status[i] += n
	}
	for i, n := range o.transport {
		t.transport[i] += n
	}
}

func (t *tally) completed() int64 {
	var n int64
	for _, c := range t.status {
		n += c
	}
	for _, c := range t.transport {
		n += c
	}
	return n
}

// stripe is where a group of workers records. Workers take a stripe's lock
// for two increments and a histogram update, so a handful of stripes keeps
// the lock uncontended, and the window collector swaps them out while the
// run goes on.
type stripe struct {
	mu   sync.Mutex
	hist *hdrhistogram.Histogram
	t    tally
	_    [64]byte // keep neighbouring stripes' locks off one cache line
}

// Latency is a latency distribution's summary.
type Latency struct {
	Mean time.Duration `json:"mean_ns"`
	P50  time.Duration `json:"p50_ns"`
	P90  time.Duration `json:"p90_ns"`
	P95  time.Duration `json:"p95_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p99_9_ns"`
	Max  time.Duration `json:"max_ns"`
}

func summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	q := func(p float64) time.Duration { return time.Duration(h.ValueAtQuantile(p)) }
	return Latency{
		Mean: time.Duration(h.Mean()), P50: q(50), P90: q(90), P95: q(95), P99: q(99), P999: q(99.9),
		Max: time.Duration(h.Max()),
	}
}

// Window is one measurement window's headline figures, kept so a report
// shows how steady the run was.
type Window struct {
	Seconds    float64       `json:"seconds"`
	Throughput float64       `json:"throughput"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	Errors     int64         `json:"errors"`
}

// Result is one run's measurement: the merge of its last (stable) windows.
type Result struct {
	// Label names the run in reports ("closed c=8", "open 1200/s").
	Label string `json:"label"`
	// Mode is "closed", "open" or "ramp".
	Mode        string  `json:"mode"`
	Concurrency int     `json:"concurrency,omitempty"`
	TargetRate  float64 `json:"target_rate,omitempty"`
	// Seconds is the measured span (the merged windows).
	Seconds float64 `json:"seconds"`
	// Requests completed in the measured span, OK the 2xx among them.
	Requests int64 `json:"requests"`
	OK       int64 `json:"ok"`
	// Throughput is OK responses per second.
	Throughput float64 `json:"throughput"`
	// Latency covers 2xx answers only: an error's latency says little about
	// the model's.
	Latency Latency `json:"latency"`
	// Status counts answers by HTTP status; Transport counts requests with
	// no answer, by kind (refused, timeout, reset, other).
	Status    map[string]int64 `json:"status,omitempty"`
	Transport map[string]int64 `json:"transport_errors,omitempty"`
	// Late counts open-loop requests sent more than 1 ms behind schedule
	// (still timed from the schedule). Those that waited for a free
	// connection mean the server was slow to answer (or MaxConns too low);
	// Lag counts the others, held back by the generator itself: its core or
	// its timers. A run with much lag measured the generator.
	Late int64 `json:"late,omitempty"`
	Lag  int64 `json:"generator_lag,omitempty"`
	// Connections is the most connections the run opened.
	Connections int `json:"connections"`
	// Windows are every measured window in order; Stable says whether the
	// last three agreed within the stability percentage.
	Windows []Window `json:"windows"`
	Stable  bool     `json:"stable"`
	// Server is the target's own account of the run, when it is an
	// infergate whose metrics could be read.
	Server *ServerSplit `json:"server,omitempty"`

	// merged is the measured windows merged, what the figures were
	// computed from, kept so that runs can be pooled (Compare).
	merged *snapshot
}

// Errors is every request that did not get a 2xx answer.
func (r *Result) Errors() int64 { return r.Requests - r.OK }

// ErrorRate is Errors over Requests (0 when nothing completed).
func (r *Result) ErrorRate() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Errors()) / float64(r.Requests)
}

// fill sets the counts and latencies of r from a merged tally and histogram
// over secs seconds.
func (r *Result) fill(t *tally, h *hdrhistogram.Histogram, secs float64) {
	r.Seconds = secs
	r.Requests = t.completed()
	r.OK = t.ok
	r.Late = t.late
	r.Lag = t.lag
	if secs > 0 {
		r.Throughput = float64(t.ok) / secs
	}
	r.Latency = summarize(h)
	r.Status, r.Transport = nil, nil
	for code, n := range t.status {
		if n > 0 {
			if r.Status == nil {
				r.Status = map[string]int64{}
			}
			r.Status[strconv.Itoa(code)] = n
		}
	}
	for k, n := range t.transport {
		if n > 0 {
			if r.Transport == nil {
				r.Transport = map[string]int64{}
			}
			r.Transport[ErrorKind(k).String()] = n
		}
	}
}

// errorSummary lists the non-2xx outcomes, most frequent first, for a
// table cell: "503×12 refused×3".
func (r *Result) errorSummary() string {
	type kv struct {
		k string
		n int64
	}
	var all []kv
	for k, n := range r.Status {
		if c, _ := strconv.Atoi(k); c < 200 || c > 299 {
			all = append(all, kv{k, n})
		}
	}
	for k, n := range r.Transport {
		all = append(all, kv{k, n})
	}
	slices.SortFunc(all, func(a, b kv) int {
		if a.n != b.n {
			return int(b.n - a.n)
		}
		if a.k < b.k {
			return -1
		}
		return 1
	})
	s := ""
	for i, e := range all {
		if i > 0 {
			s += " "
		}
		s += e.k + "×" + strconv.FormatInt(e.n, 10)
	}
	return s
}
