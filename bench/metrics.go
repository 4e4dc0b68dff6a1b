package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// phases are the gateway's request phases, in the order a request meets
// them (monitor/metrics.go: infergate_request_phase_seconds{phase=...}).
var phases = []string{"decode", "queue", "compute", "encode"}

const phaseMetric = "infergate_request_phase_seconds"

// MetricsSource is an infergate's Prometheus endpoint and the model whose
// series a run reads from it.
type MetricsSource struct {
	// URL is the metrics endpoint, e.g. http://127.0.0.1:8002/metrics.
	URL   string
	Model string
	// Err is the last scrape's failure, for the report.
	Err string
}

// DefaultMetricsURL is infergate's metrics endpoint on the target's host:
// port 8002, as Triton users expect.
func DefaultMetricsURL(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("target URL %q: want http://host:port", target)
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "http://" + host + ":8002/metrics", nil
}

// IsInfergate asks the server's metadata (GET /v2) for its name. Triton
// answers "triton", infergate "infergate"; an error means the server did not
// answer the metadata request at all.
func IsInfergate(target string, timeout time.Duration) (bool, error) {
	var meta struct {
		Name string `json:"name"`
	}
	if err := getJSON(strings.TrimRight(target, "/")+"/v2", timeout, &meta); err != nil {
		return false, err
	}
	return meta.Name == "infergate", nil
}

// getJSON fetches url and decodes its JSON answer into v; a non-200
// answer is an error quoting the server's message.
func getJSON(url string, timeout time.Duration, v any) error {
	body, err := get(url, timeout)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: the answer is not the JSON expected: %w", url, err)
	}
	return nil
}

func get(url string, timeout time.Duration) ([]byte, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(url)
	if err := fasthttp.DoTimeout(req, resp, timeout); err != nil {
		return nil, fmt.Errorf("GET %s: %w (is the server running?)", url, err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		msg := resp.Body()
		if len(msg) > 300 {
			msg = msg[:300]
		}
		return nil, fmt.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode(), bytes.TrimSpace(msg))
	}
	return slices.Clone(resp.Body()), nil
}

// hist is one Prometheus histogram's cumulative state.
type hist struct {
	sum, count float64
	// le → cumulative count, by upper bound.
	buckets map[float64]float64
}

// scrape is the model's series at one moment, summed over its versions.
type scrape struct {
	phase      map[string]*hist
	batchReqs  hist
	batchKnown bool
}

// scrape reads the endpoint once; nil (with Err set) when it cannot.
func (m *MetricsSource) scrape() *scrape {
	body, err := get(m.URL, 5*time.Second)
	if err != nil {
		m.Err = err.Error()
		return nil
	}
	s, err := parseMetrics(body, m.Model)
	if err != nil {
		m.Err = err.Error()
		return nil
	}
	return s
}

// parseMetrics picks the model's phase and batch histograms out of a
// Prometheus text exposition.
func parseMetrics(body []byte, model string) (*scrape, error) {
	s := &scrape{phase: map[string]*hist{}}
	want := `model="` + model + `"`
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "infergate_") || !strings.Contains(line, want) {
			continue
		}
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		var h *hist
		base, suffix := splitSuffix(name)
		switch base {
		case phaseMetric:
			p := label(labels, "phase")
			if h = s.phase[p]; h == nil {
				h = &hist{buckets: map[float64]float64{}}
				s.phase[p] = h
			}
		case "infergate_batch_requests":
			h = &s.batchReqs
			s.batchKnown = true
		default:
			continue
		}
		switch suffix {
		case "_sum":
			h.sum += v
		case "_count":
			h.count += v
		case "_bucket":
			le, err := strconv.ParseFloat(label(labels, "le"), 64)
			if err == nil && h.buckets != nil {
				h.buckets[le] += v
			}
		}
	}
	if len(s.phase) == 0 {
		return nil, fmt.Errorf("no %s series for model %q in the metrics (is this the model's infergate, with metrics on?)", phaseMetric, model)
	}
	return s, sc.Err()
}

func splitSuffix(name string) (string, string) {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, suf); ok {
			return b, suf
		}
	}
	return name, ""
}

// label finds key="value" in a Prometheus label list. The gateway's label
// values are model names and numbers, without escaped quotes.
func label(labels, key string) string {
	i := strings.Index(labels, key+`="`)
	for i > 0 && labels[i-1] != ',' {
		j := strings.Index(labels[i+1:], key+`="`)
		if j < 0 {
			return ""
		}
		i += 1 + j
	}
	if i < 0 {
		return ""
	}
	v := labels[i+len(key)+2:]
	if j := strings.IndexByte(v, '"'); j >= 0 {
		return v[:j]
	}
	return v
}

// PhaseStat is one server-side phase over a run.
type PhaseStat struct {
	Phase string        `json:"phase"`
	Mean  time.Duration `json:"mean_ns"`
	// P99 is an upper bound: the Prometheus bucket (powers of two) that
	// holds the 99th percentile.
	P99 time.Duration `json:"p99_upper_ns"`
}

// ServerSplit is what an infergate says it spent on the run's requests:
// the difference of its histograms between the run's first and last scrape.
type ServerSplit struct {
	Requests float64     `json:"requests"`
	Phases   []PhaseStat `json:"phases"`
	// Total is the mean of the phases' sum: the server's own time per
	// request, against which the client's mean shows the network's and
	// the client's share.
	Total time.Duration `json:"total_mean_ns"`
	// BatchMean is the mean number of requests per batched run (0 when the
	// model does not batch).
	BatchMean float64 `json:"batch_mean,omitempty"`
	Err       string  `json:"error,omitempty"`
}

func (m *MetricsSource) split(before, after *scrape) *ServerSplit {
	if before == nil || after == nil {
		return &ServerSplit{Err: m.Err}
	}
	out := &ServerSplit{}
	for _, p := range phases {
		a, b := after.phase[p], before.phase[p]
		if a == nil {
			continue
		}
		if b == nil {
			b = &hist{}
		}
		n := a.count - b.count
		if n <= 0 {
			continue
		}
		st := PhaseStat{Phase: p, Mean: secs((a.sum - b.sum) / n), P99: secs(quantileUpper(a, b, 0.99))}
		out.Phases = append(out.Phases, st)
		out.Total += st.Mean
		out.Requests = max(out.Requests, n)
	}
	if after.batchKnown && before.batchKnown {
		if n := after.batchReqs.count - before.batchReqs.count; n > 0 {
			out.BatchMean = (after.batchReqs.sum - before.batchReqs.sum) / n
		}
	}
	return out
}

func secs(s float64) time.Duration {
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return 0
	}
	return time.Duration(s * 1e9)
}

// quantileUpper is the upper bound of the bucket holding quantile q of the
// observations between two scrapes.
func quantileUpper(a, b *hist, q float64) float64 {
	les := make([]float64, 0, len(a.buckets))
	for le := range a.buckets {
		les = append(les, le)
	}
	slices.Sort(les)
	total := a.count - b.count
	for _, le := range les {
		if a.buckets[le]-b.buckets[le] >= q*total {
			return le
		}
	}
	return 0
}
