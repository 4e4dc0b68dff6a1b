package bench

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// An A/B comparison of a 10 ms server (A) against a 20 ms one (B), closed
// loop, one client: B's latencies are twice A's and its throughput half,
// pooled and round by round; the order swaps every round; each side pools
// every round's requests.
func TestCompareKnownServers(t *testing.T) {
	tol := 0.1
	if raceBuild {
		tol = 0.2
	}
	a, b := target(serve(t, fixedService(10*time.Millisecond))), target(serve(t, fixedService(20*time.Millisecond)))
	l := Load{Concurrency: 1, Warmup: 50 * time.Millisecond, Window: 400 * time.Millisecond}
	const rounds = 4
	c, err := Compare(context.Background(), a, b, l, rounds)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rounds) != rounds {
		t.Fatalf("%d rounds, want %d", len(c.Rounds), rounds)
	}
	var aSecs, bSecs float64
	for i, rd := range c.Rounds {
		if rd.BFirst != (i%2 == 1) {
			t.Errorf("round %d: B first %v", i+1, rd.BFirst)
		}
		if rd.A.Throughput == 0 || rd.B.Throughput == 0 {
			t.Errorf("round %d: a side measured nothing: %+v", i+1, rd)
		}
		aSecs += rd.A.Seconds
		bSecs += rd.B.Seconds
	}
	for _, s := range []struct {
		name string
		r    Result
		secs float64
	}{{"A", c.A, aSecs}, {"B", c.B, bSecs}} {
		if math.Abs(s.r.Seconds-s.secs) > 1e-9 || len(s.r.Windows) != rounds {
			t.Errorf("%s pooled %.3f s over %d windows, want the rounds' %.3f s over %d", s.name, s.r.Seconds, len(s.r.Windows), s.secs, rounds)
		}
		if s.r.Errors() != 0 || s.r.OK == 0 {
			t.Errorf("%s: %d ok, errors %s", s.name, s.r.OK, s.r.errorSummary())
		}
	}
	// Pooled: the merged distributions' own percentiles.
	if got := float64(c.A.Latency.P50) / float64(10*time.Millisecond); math.Abs(got-1) > tol {
		t.Errorf("A's pooled p50 %s, want 10ms ± %.0f%%", c.A.Latency.P50, 100*tol)
	}
	for _, r := range []struct {
		name string
		x    Ratios
	}{{"pooled", c.Pooled}, {"median", c.Median}} {
		if math.Abs(r.x.P50-2) > 2*tol || math.Abs(r.x.Throughput-0.5) > 0.5*tol {
			t.Errorf("%s B/A: p50 %.3f (want 2), throughput %.3f (want 0.5)", r.name, r.x.P50, r.x.Throughput)
		}
	}
	var out bytes.Buffer
	rep := Report{Target: a.URL, Model: "m", Compare: &c}
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"B against A, pooled: throughput -", "median of 4 rounds: throughput -"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// A comparison refuses what it cannot alternate, and a target with
// nothing behind it yields its failures, not a hang.
func TestCompareBadInputs(t *testing.T) {
	a := target(serve(t, fixedService(time.Millisecond)))
	l := Load{Concurrency: 1, Warmup: 0, Window: 100 * time.Millisecond}
	if _, err := Compare(context.Background(), a, a, l, 0); err == nil {
		t.Error("0 rounds: no error")
	}
	ramp := l
	ramp.Concurrency = 0
	ramp.Schedule = Schedule{Rate: 100, RampTo: 200}
	if _, err := Compare(context.Background(), a, a, ramp, 2); err == nil {
		t.Error("a ramp: no error")
	}
	dead := target(deadPort(t))
	c, err := Compare(context.Background(), a, dead, l, 2)
	if err != nil {
		t.Fatal(err)
	}
	if c.A.OK == 0 || c.B.OK != 0 || c.B.Requests == 0 {
		t.Errorf("A %d ok of %d, B %d ok of %d: want B's every request failed", c.A.OK, c.A.Requests, c.B.OK, c.B.Requests)
	}
	if c.Pooled.P99 != 0 {
		t.Errorf("p99 ratio %v against a side with no answers, want 0 (none)", c.Pooled.P99)
	}
}
