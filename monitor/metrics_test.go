package monitor

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// exposition returns r's Prometheus text as a map from series (name and
// labels) to value, and the raw text.
func exposition(t *testing.T, r *Registry) (map[string]string, string) {
	t.Helper()
	var b bytes.Buffer
	r.WritePrometheus(&b)
	series := map[string]string{}
	for _, line := range strings.Split(b.String(), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("malformed exposition line %q", line)
		}
		series[line[:i]] = line[i+1:]
	}
	return series, b.String()
}

func TestRequestsSameSeries(t *testing.T) {
	r := NewRegistry()
	a := r.Requests("fraud", "1", "CPUExecutionProvider")
	if a == nil {
		t.Fatal("Requests returned nil")
	}
	if b := r.Requests("fraud", "1", "CPUExecutionProvider"); b != a {
		t.Fatal("Requests twice for the same version returned different series")
	}
	// The provider does not name the series: a version has one.
	if b := r.Requests("fraud", "1", "CUDAExecutionProvider"); b != a {
		t.Fatal("Requests with another provider returned different series")
	}
	if b := r.Requests("fraud", "2", "CPUExecutionProvider"); b == a {
		t.Fatal("versions 1 and 2 share series")
	}
	if b := r.Requests("mlp", "1", "CPUExecutionProvider"); b == a {
		t.Fatal("models fraud and mlp share series")
	}
	// The key separates model and version: "a"+"b1" is not "ab"+"1".
	if r.Requests("a", "b1", "p") == r.Requests("ab", "1", "p") {
		t.Fatal("model a version b1 and model ab version 1 share series")
	}
	a.Count(200)
	r.Requests("fraud", "1", "CPUExecutionProvider").Count(200)
	series, _ := exposition(t, r)
	if got := series[`infergate_requests_total{model="fraud",version="1",status="200"}`]; got != "2" {
		t.Fatalf("fraud v1 200 count = %q, want 2", got)
	}
}

func TestRequestsConcurrent(t *testing.T) {
	r := NewRegistry()
	const n = 32
	got := make([]*RequestMetrics, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m := r.Requests("m", "1", "p")
			m.Count(200)
			Observe(m.Decode, time.Microsecond)
			got[i] = m
		})
	}
	wg.Wait()
	for i := range got {
		if got[i] != got[0] {
			t.Fatalf("goroutine %d got different series", i)
		}
	}
	series, _ := exposition(t, r)
	if v := series[`infergate_requests_total{model="m",version="1",status="200"}`]; v != "32" {
		t.Fatalf("count = %q, want 32", v)
	}
	if v := series[`infergate_request_phase_seconds_count{model="m",version="1",phase="decode"}`]; v != "32" {
		t.Fatalf("decode count = %q, want 32", v)
	}
}

func TestStatusIndex(t *testing.T) {
	f := func(code, want int) {
		t.Helper()
		if got := StatusIndex(code); got != want {
			t.Errorf("StatusIndex(%d) = %d, want %d", code, got, want)
		}
	}
	f(200, StatusOK)
	f(400, StatusBadRequest)
	f(404, StatusNotFound)
	f(413, StatusTooLarge)
	f(503, StatusUnavailable)
	f(500, StatusInternal)
	// Codes without a class of their own: client errors count as 400,
	// server errors as 500.
	f(429, StatusBadRequest)
	f(405, StatusBadRequest)
	f(422, StatusBadRequest)
	f(501, StatusInternal)
	f(502, StatusInternal)
	f(504, StatusTimeout)
	f(499, StatusClientClosed)
	f(599, StatusInternal)
}

func TestCount(t *testing.T) {
	statuses := []string{"200", "400", "404", "413", "503", "500", "504", "499"}
	// f counts code once on a fresh registry; want is the status label
	// that must read 1, every other label 0.
	f := func(code int, want string) {
		t.Helper()
		r := NewRegistry()
		r.Requests("elementwise", "3", "CPUExecutionProvider").Count(code)
		series, _ := exposition(t, r)
		for _, s := range statuses {
			key := `infergate_requests_total{model="elementwise",version="3",status="` + s + `"}`
			v, ok := series[key]
			if !ok {
				t.Errorf("Count(%d): series %s is missing", code, key)
				continue
			}
			wantV := "0"
			if s == want {
				wantV = "1"
			}
			if v != wantV {
				t.Errorf("Count(%d): %s = %s, want %s", code, key, v, wantV)
			}
		}
		if v := series["infergate_requests_unknown_model_total"]; v != "0" {
			t.Errorf("Count(%d): unknown-model counter = %q, want 0", code, v)
		}
	}
	f(200, "200")
	f(400, "400")
	f(404, "404")
	f(413, "413")
	f(503, "503")
	f(500, "500")
	f(429, "400")
	f(502, "500")
}

func TestCountMany(t *testing.T) {
	r := NewRegistry()
	m := r.Requests("m", "1", "p")
	for range 5 {
		m.Count(200)
	}
	for range 3 {
		m.Count(404)
	}
	m.Count(429)
	m.Count(400)
	series, _ := exposition(t, r)
	f := func(status, want string) {
		t.Helper()
		key := `infergate_requests_total{model="m",version="1",status="` + status + `"}`
		if got := series[key]; got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	f("200", "5")
	f("404", "3")
	f("400", "2")
	f("413", "0")
	f("503", "0")
	f("500", "0")
}

func TestWritePrometheus(t *testing.T) {
	r := NewRegistry()
	m := r.Requests("fraud", "2", "CPUExecutionProvider")
	m.Count(200)
	Observe(m.Decode, 3*time.Microsecond)
	Observe(m.Compute, 3*time.Millisecond)
	Observe(m.Compute, 20*time.Second) // beyond the last bucket
	Observe(m.Queue, 0)
	r.UnknownModel.Inc()
	r.UnknownModel.Inc()
	series, text := exposition(t, r)

	f := func(key, want string) {
		t.Helper()
		got, ok := series[key]
		if !ok {
			t.Errorf("series %s is missing", key)
			return
		}
		if want != "" && got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	labels := `model="fraud",version="2"`
	f(`infergate_requests_total{`+labels+`,status="200"}`, "1")
	f(`infergate_requests_total{`+labels+`,status="500"}`, "0")
	f(`infergate_requests_unknown_model_total`, "2")
	f(`infergate_model_version_info{`+labels+`,provider="CPUExecutionProvider"}`, "1")
	for _, p := range []string{"decode", "queue", "compute", "encode"} {
		f(`infergate_request_phase_seconds_bucket{`+labels+`,phase="`+p+`",le="1e-06"}`, "")
		f(`infergate_request_phase_seconds_bucket{`+labels+`,phase="`+p+`",le="+Inf"}`, "")
		f(`infergate_request_phase_seconds_sum{`+labels+`,phase="`+p+`"}`, "")
		f(`infergate_request_phase_seconds_count{`+labels+`,phase="`+p+`"}`, "")
	}
	// Buckets double from 1µs; 25 of them, then +Inf.
	nbuckets := 0
	for key := range series {
		if strings.HasPrefix(key, `infergate_request_phase_seconds_bucket{`+labels+`,phase="compute",`) {
			nbuckets++
		}
	}
	if nbuckets != 26 {
		t.Errorf("compute has %d buckets, want 25 and +Inf", nbuckets)
	}
	f(`infergate_request_phase_seconds_bucket{`+labels+`,phase="decode",le="2e-06"}`, "0")
	f(`infergate_request_phase_seconds_bucket{`+labels+`,phase="decode",le="4e-06"}`, "1")
	f(`infergate_request_phase_seconds_bucket{`+labels+`,phase="compute",le="0.002048"}`, "0")
	f(`infergate_request_phase_seconds_bucket{`+labels+`,phase="compute",le="0.004096"}`, "1")
	f(`infergate_request_phase_seconds_bucket{`+labels+`,phase="compute",le="16.777216"}`, "1")
	f(`infergate_request_phase_seconds_bucket{`+labels+`,phase="compute",le="+Inf"}`, "2")
	f(`infergate_request_phase_seconds_count{`+labels+`,phase="compute"}`, "2")
	f(`infergate_request_phase_seconds_sum{`+labels+`,phase="compute"}`, "20.003")
	f(`infergate_request_phase_seconds_bucket{`+labels+`,phase="queue",le="1e-06"}`, "1")
	f(`infergate_request_phase_seconds_count{`+labels+`,phase="queue"}`, "1")
	f(`infergate_request_phase_seconds_count{`+labels+`,phase="encode"}`, "0")

	// The process's own metrics follow.
	if !strings.Contains(text, "\ngo_goroutines ") && !strings.Contains(text, "\nprocess_") {
		t.Error("WritePrometheus wrote no process metrics")
	}
}

func TestLabelQuoting(t *testing.T) {
	f := func(model, want string) {
		t.Helper()
		r := NewRegistry()
		r.Requests(model, "1", "p").Count(200)
		series, _ := exposition(t, r)
		key := `infergate_requests_total{model=` + want + `,version="1",status="200"}`
		if series[key] != "1" {
			t.Errorf("model %q: series %s not found", model, key)
		}
	}
	f("plain", `"plain"`)
	f(`a"b`, `"a\"b"`)
	f(`back\slash`, `"back\\slash"`)
	f("a,b=c}", `"a,b=c}"`)
	f("modèle", `"modèle"`)
}

func TestRegistriesIndependent(t *testing.T) {
	r1, r2 := NewRegistry(), NewRegistry()
	m1 := r1.Requests("fraud", "1", "CPUExecutionProvider")
	m2 := r2.Requests("fraud", "1", "CPUExecutionProvider")
	if m1 == m2 {
		t.Fatal("two registries share series")
	}
	m1.Count(200)
	m1.Count(200)
	m2.Count(503)
	r1.UnknownModel.Inc()
	r1.Requests("mlp", "1", "CPUExecutionProvider")

	s1, _ := exposition(t, r1)
	s2, _ := exposition(t, r2)
	f := func(series map[string]string, key, want string) {
		t.Helper()
		if got, ok := series[key]; want == "" && ok {
			t.Errorf("%s = %s, want no such series", key, got)
		} else if want != "" && got != want {
			t.Errorf("%s = %q, want %s", key, got, want)
		}
	}
	f(s1, `infergate_requests_total{model="fraud",version="1",status="200"}`, "2")
	f(s1, `infergate_requests_total{model="fraud",version="1",status="503"}`, "0")
	f(s2, `infergate_requests_total{model="fraud",version="1",status="200"}`, "0")
	f(s2, `infergate_requests_total{model="fraud",version="1",status="503"}`, "1")
	f(s1, `infergate_requests_unknown_model_total`, "1")
	f(s2, `infergate_requests_unknown_model_total`, "0")
	f(s1, `infergate_model_version_info{model="mlp",version="1",provider="CPUExecutionProvider"}`, "1")
	f(s2, `infergate_model_version_info{model="mlp",version="1",provider="CPUExecutionProvider"}`, "")
	f(s2, `infergate_requests_total{model="mlp",version="1",status="200"}`, "")
}
