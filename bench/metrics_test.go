package bench

import (
	"strconv"
	"testing"
	"time"
)

func TestParseMetricsAndSplit(t *testing.T) {
	scrapeAt := func(n, sum float64) []byte {
		return []byte(`# comment
infergate_requests_total{model="m",version="1",status="200"} 10
infergate_request_phase_seconds_bucket{model="m",version="1",phase="compute",le="0.001"} ` + ftoa(n*0.5) + `
infergate_request_phase_seconds_bucket{model="m",version="1",phase="compute",le="0.002"} ` + ftoa(n) + `
infergate_request_phase_seconds_bucket{model="m",version="1",phase="compute",le="+Inf"} ` + ftoa(n) + `
infergate_request_phase_seconds_sum{model="m",version="1",phase="compute"} ` + ftoa(sum) + `
infergate_request_phase_seconds_count{model="m",version="1",phase="compute"} ` + ftoa(n) + `
infergate_request_phase_seconds_sum{model="other",version="1",phase="compute"} 99
infergate_request_phase_seconds_count{model="other",version="1",phase="compute"} 99
infergate_batch_requests_sum{model="m",version="1"} ` + ftoa(n) + `
infergate_batch_requests_count{model="m",version="1"} ` + ftoa(n/4) + `
`)
	}
	a, err := parseMetrics(scrapeAt(100, 0.1), "m")
	if err != nil {
		t.Fatal(err)
	}
	b, err := parseMetrics(scrapeAt(300, 0.4), "m")
	if err != nil {
		t.Fatal(err)
	}
	s := (&MetricsSource{}).split(a, b)
	if len(s.Phases) != 1 || s.Requests != 200 || s.BatchMean != 4 {
		t.Fatalf("split: %+v", s)
	}
	p := s.Phases[0]
	if p.Phase != "compute" || p.Mean != 1500*time.Microsecond || p.P99 != 2*time.Millisecond {
		t.Errorf("compute: %+v", p)
	}
	if _, err := parseMetrics([]byte("up 1\n"), "m"); err == nil {
		t.Error("metrics without the model's series: no error")
	}
	if got := (&MetricsSource{Err: "down"}).split(nil, b); got.Err != "down" {
		t.Errorf("failed scrape: %+v", got)
	}
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func TestLabel(t *testing.T) {
	f := func(labels, key, want string) {
		t.Helper()
		if got := label(labels, key); got != want {
			t.Errorf("label(%q, %q) = %q, want %q", labels, key, got, want)
		}
	}
	f(`model="m",phase="queue",le="0.5"`, "le", "0.5")
	f(`model="m",xphase="a",phase="queue"`, "phase", "queue")
	f(`model="m"`, "phase", "")
}
