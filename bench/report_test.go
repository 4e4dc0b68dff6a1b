package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

func sampleReport() *Report {
	step := func(rate float64, p99 time.Duration, pass bool) Step {
		return Step{Rate: rate, Pass: pass, Result: Result{Label: "open", Mode: "open", Requests: 100, OK: 100, Throughput: rate,
			Latency: Latency{P50: p99 / 3, P99: p99}, Windows: []Window{{}, {}, {}}}}
	}
	best := step(400, 8*time.Millisecond, true).Result
	best.Server = &ServerSplit{Requests: 100, Phases: []PhaseStat{{Phase: "queue", Mean: time.Millisecond, P99: 4 * time.Millisecond}}, Total: time.Millisecond, BatchMean: 3.5}
	run := Result{Label: "closed c=2", Mode: "closed", Requests: 10, OK: 8, Throughput: 80, Status: map[string]int64{"200": 8, "503": 2},
		Transport: map[string]int64{"refused": 0}, Latency: Latency{P50: time.Millisecond}, Windows: []Window{{Throughput: 80}}}
	return &Report{
		Target: "http://127.0.0.1:8000", Model: "m<&>", Started: time.Unix(0, 0), Bodies: "synthesized",
		Run: &run,
		Search: &SearchResult{SLOP99: 10 * time.Millisecond, MaxRate: 400, Best: &best,
			Steps: []Step{step(100, time.Millisecond, true), step(200, 2*time.Millisecond, true), step(400, 8*time.Millisecond, true), step(800, 90*time.Millisecond, false)}},
	}
}

func TestReports(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"closed c=2", "503×2", "capacity: 400 req/s with p99 8.00ms", "queue 1.00ms", "3.5 requests per batch"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.Search.MaxRate != 400 || back.Run.Status["503"] != 2 {
		t.Errorf("JSON round trip: %v %+v", err, back)
	}
	// The SVG is well-formed XML with a point per step and the objective.
	svg := r.SVG()
	if err := xml.Unmarshal(svg, new(struct{})); err != nil {
		t.Errorf("SVG is not well-formed: %v", err)
	}
	if n := bytes.Count(svg, []byte("<circle")); n != 2+2*4 {
		t.Errorf("%d points, want 10", n)
	}
	if !bytes.Contains(svg, []byte("p99 objective 10.0ms")) {
		t.Error("SVG lacks the objective line")
	}
	b.Reset()
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "<svg") || strings.Contains(b.String(), "m<&>") || strings.Contains(b.String(), "<script") {
		t.Error("HTML must inline the plot, escape names and need no script")
	}
	// An empty report still renders.
	empty := &Report{}
	if svg := empty.SVG(); xml.Unmarshal(svg, new(struct{})) != nil {
		t.Error("empty SVG is not well-formed")
	}
}

func TestFmtDur(t *testing.T) {
	f := func(d time.Duration, want string) {
		t.Helper()
		if got := fmtDur(d); got != want {
			t.Errorf("fmtDur(%d) = %q, want %q", d, got, want)
		}
	}
	f(0, "0")
	f(500, "500ns")
	f(45200, "45.2µs")
	f(1840*time.Microsecond, "1.84ms")
	f(1020*time.Millisecond, "1.02s")
	f(123*time.Second, "123s")
}
