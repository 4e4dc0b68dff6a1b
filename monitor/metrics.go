// Package monitor watches what the gateway serves: the metrics registry
// (request counts and latency split by phase, per model version), and
// drift detection inline with the traffic. A tap on the request path
// copies sampled requests into lock-free rings without blocking or
// allocating (tap.go, ring.go); one aggregator per model folds them into
// mergeable sketches (aggregate.go, sketch.go), compares windows with a
// reference (window.go, reference.go, drift.go), joins late labels
// (feedback.go), and reports (report.go).
package monitor

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// latencyBuckets run from 1µs to about 16s, doubling: an inference gateway
// lives in microseconds, and Prometheus's default buckets start at 5ms.
var latencyBuckets = metrics.ExponentialBuckets(1e-6, 2, 25)

// Registry is one gateway's metrics. Each instance has its own set, so two
// gateways in one test process do not share counters.
type Registry struct {
	set *metrics.Set

	mu       sync.Mutex
	versions map[string]*RequestMetrics

	// UnknownModel counts requests for models the repository lacks; they
	// get no series of their own, or a scanner could mint unbounded label
	// values.
	UnknownModel *metrics.Counter
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{set: metrics.NewSet(), versions: map[string]*RequestMetrics{}}
	r.UnknownModel = r.set.NewCounter(`infergate_requests_unknown_model_total`)
	return r
}

// Status classes a response falls in; each has its own counter made up
// front, so counting a response is one atomic add.
const (
	StatusOK = iota
	StatusBadRequest
	StatusNotFound
	StatusTooLarge
	StatusUnavailable
	StatusInternal
	StatusTimeout
	StatusClientClosed
	numStatuses
)

var statusCodes = [numStatuses]int{200, 400, 404, 413, 503, 500, 504, 499}

// StatusIndex maps an HTTP status to its class.
func StatusIndex(code int) int {
	for i, c := range statusCodes {
		if c == code {
			return i
		}
	}
	if code >= 500 {
		return StatusInternal
	}
	return StatusBadRequest
}

// RequestMetrics are one model version's series, created once at load and
// held by the version's serving path, never looked up per request.
type RequestMetrics struct {
	requests [numStatuses]*metrics.Counter
	// Phase histograms, in seconds.
	Decode, Queue, Compute, Encode *metrics.PrometheusHistogram
	// BatchRequests and BatchRows describe each run of a batching
	// version: how many requests it served, and how many rows.
	BatchRequests, BatchRows *metrics.PrometheusHistogram

	set    *metrics.Set
	labels string
	once   sync.Once
}

// EnableQueueMetrics creates a version's queue series, and, when its runs
// stack requests, the batch series (a version that does not batch gets
// no histograms of ones). queued reads the queue's length and refused its
// refusals (queue full, timed out, client gone, displaced by a request of
// higher priority) at scrape time.
func (m *RequestMetrics) EnableQueueMetrics(stacks bool, queued func() int, refused func() (full, timedOut, abandoned, displaced uint64)) {
	m.once.Do(func() {
		if stacks {
			m.BatchRequests = m.set.NewPrometheusHistogramExt(`infergate_batch_requests{`+m.labels+`}`, batchBuckets)
			m.BatchRows = m.set.NewPrometheusHistogramExt(`infergate_batch_rows{`+m.labels+`}`, batchBuckets)
		}
		m.set.NewGauge(`infergate_queue_length{`+m.labels+`}`, func() float64 { return float64(queued()) })
		// Counters read at scrape time; exposed as gauges because the
		// library's counters cannot take a callback. They only grow.
		m.set.NewGauge(`infergate_queue_refused_total{`+m.labels+`,reason="queue_full"}`, func() float64 { f, _, _, _ := refused(); return float64(f) })
		m.set.NewGauge(`infergate_queue_refused_total{`+m.labels+`,reason="timeout"}`, func() float64 { _, t, _, _ := refused(); return float64(t) })
		m.set.NewGauge(`infergate_queue_refused_total{`+m.labels+`,reason="client_gone"}`, func() float64 { _, _, a, _ := refused(); return float64(a) })
		m.set.NewGauge(`infergate_queue_refused_total{`+m.labels+`,reason="displaced"}`, func() float64 { _, _, _, d := refused(); return float64(d) })
	})
}

// batchBuckets are powers of two up to 1024.
var batchBuckets = metrics.ExponentialBuckets(1, 2, 11)

// ObserveRun records one run of a batching version.
func (m *RequestMetrics) ObserveRun(requests, rows int) {
	m.BatchRequests.Update(float64(requests))
	m.BatchRows.Update(float64(rows))
}

// Requests returns (creating once) the series for a model version.
func (r *Registry) Requests(model, version, provider string) *RequestMetrics {
	key := model + "\x00" + version
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.versions[key]; m != nil {
		return m
	}
	labels := fmt.Sprintf(`model=%q,version=%q`, model, version)
	m := &RequestMetrics{}
	for i, code := range statusCodes {
		m.requests[i] = r.set.NewCounter(`infergate_requests_total{` + labels + `,status="` + strconv.Itoa(code) + `"}`)
	}
	phase := func(p string) *metrics.PrometheusHistogram {
		return r.set.NewPrometheusHistogramExt(`infergate_request_phase_seconds{`+labels+`,phase="`+p+`"}`, latencyBuckets)
	}
	m.Decode, m.Queue, m.Compute, m.Encode = phase("decode"), phase("queue"), phase("compute"), phase("encode")
	m.labels = labels
	m.set = r.set
	r.set.NewGauge(`infergate_model_version_info{`+labels+`,provider="`+provider+`"}`, func() float64 { return 1 })
	r.versions[key] = m
	return m
}

// Count records one response with the given HTTP status.
func (m *RequestMetrics) Count(code int) {
	m.requests[StatusIndex(code)].Inc()
}

// Observe records a phase's duration.
func Observe(h *metrics.PrometheusHistogram, d time.Duration) {
	h.Update(d.Seconds())
}

// WritePrometheus writes every series in Prometheus text format, followed
// by the process's own (CPU, memory, goroutines).
func (r *Registry) WritePrometheus(w io.Writer) {
	r.set.WritePrometheus(w)
	metrics.WriteProcessMetrics(w)
}
