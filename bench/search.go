package bench

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Search is a capacity search: the highest open-loop rate at which the
// target keeps p99 within an objective.
type Search struct {
	// SLOP99 is the objective on the 99th percentile latency (required).
	SLOP99 time.Duration
	// Start is the first rate tried. Zero starts at the rate one closed-loop
	// client reaches (a probe window): the server takes at least that much,
	// and the doubling then needs few steps.
	Start float64
	// MaxRate stops the doubling. Default 1,000,000.
	MaxRate float64
	// Precision ends the bisection when the bracket is this fraction of
	// its lower end. Default 0.05.
	Precision float64
	// MaxSteps bounds the rates tried. Default 14.
	MaxSteps int
	// MaxErrorRate is the share of failed requests a passing rate may
	// have. Default 0.01.
	MaxErrorRate float64
	// Load is each step's template: warm-up, windows, stability, arrival
	// kind, connection cap, metrics and progress. Its rate and concurrency
	// are set by the search.
	Load Load
}

// Step is one rate tried.
type Step struct {
	Rate   float64 `json:"rate"`
	Pass   bool    `json:"pass"`
	Why    string  `json:"why,omitempty"`
	Result Result  `json:"result"`
}

// SearchResult is a search's outcome.
type SearchResult struct {
	SLOP99 time.Duration `json:"slo_p99_ns"`
	// MaxRate is the highest rate that passed (0 if none did); Best is its
	// measurement.
	MaxRate float64 `json:"max_rate"`
	Best    *Result `json:"best,omitempty"`
	Probe   *Result `json:"probe,omitempty"`
	Steps   []Step  `json:"steps"`
}

// minSearchRate: below one request every two seconds a p99 says nothing.
const minSearchRate = 0.5

// RunSearch searches by rate: doubling from the start while the objective
// holds, then bisecting between the last rate that held and the first that
// did not. Each step is a full run (warm-up, windows until stable), so a
// step's verdict is not a transient's.
func RunSearch(ctx context.Context, tg Target, s Search) (SearchResult, error) {
	if s.SLOP99 <= 0 {
		return SearchResult{}, errors.New("a capacity search needs a p99 objective (-slo-p99)")
	}
	if s.MaxRate <= 0 {
		s.MaxRate = 1e6
	}
	if s.Precision <= 0 {
		s.Precision = 0.05
	}
	if s.MaxSteps <= 0 {
		s.MaxSteps = 14
	}
	if s.MaxErrorRate <= 0 {
		s.MaxErrorRate = 0.01
	}
	out := SearchResult{SLOP99: s.SLOP99}
	rate := s.Start
	if rate <= 0 {
		probe := s.Load
		probe.Concurrency, probe.Stability, probe.Requests = 1, 0, 0
		probe.Schedule.RampTo = 0
		probe.Metrics = nil
		res, err := Run(ctx, tg, probe)
		if err != nil {
			return out, err
		}
		out.Probe = &res
		if res.OK == 0 {
			return out, fmt.Errorf("the target answered no request successfully in the probe (%d requests: %s)", res.Requests, orNone(res.errorSummary()))
		}
		rate = res.Throughput
	}
	rate = min(rate, s.MaxRate)
	var lo, hi float64
	for range s.MaxSteps {
		if ctx.Err() != nil {
			break
		}
		l := s.Load
		l.Concurrency = 0
		l.Schedule.Rate = rate
		l.Schedule.RampTo = 0
		res, err := Run(ctx, tg, l)
		if err != nil {
			return out, err
		}
		why := s.verdict(&res, rate)
		out.Steps = append(out.Steps, Step{Rate: rate, Pass: why == "", Why: why, Result: res})
		if why == "" {
			lo = rate
			if rate >= out.MaxRate {
				out.MaxRate = rate
				r := res
				out.Best = &r
			}
		} else {
			hi = rate
		}
		switch {
		case hi == 0:
			if rate >= s.MaxRate {
				return out, nil
			}
			rate = min(2*rate, s.MaxRate)
		case lo == 0:
			if rate = hi / 2; rate < minSearchRate {
				return out, nil
			}
		default:
			if hi-lo <= s.Precision*lo {
				return out, nil
			}
			rate = (lo + hi) / 2
		}
	}
	return out, ctx.Err()
}

// verdict says why a step fails its objective, or "" when it passes.
func (s *Search) verdict(r *Result, rate float64) string {
	switch {
	case r.Requests == 0:
		return "no request completed"
	case r.ErrorRate() > s.MaxErrorRate:
		return fmt.Sprintf("%.1f%% errors (%s)", 100*r.ErrorRate(), r.errorSummary())
	case r.Latency.P99 > s.SLOP99 && r.Lag*100 > r.Requests:
		// Over 1% of requests left more than a millisecond late because
		// the generator itself fell behind: it, not only the server, set
		// this p99. The step fails all the same (the rate is not shown to
		// hold), but the report says whom to blame.
		return fmt.Sprintf("p99 %s over %s, but the generator held back %d requests: give it more cores", fmtDur(r.Latency.P99), fmtDur(s.SLOP99), r.Lag)
	case r.Latency.P99 > s.SLOP99:
		return fmt.Sprintf("p99 %s over %s", fmtDur(r.Latency.P99), fmtDur(s.SLOP99))
	case r.Throughput < 0.9*rate:
		// The server (or the generator) answered less than it was offered:
		// a queue is growing, and a longer run would break the objective.
		return fmt.Sprintf("answered %.0f/s of %.0f/s offered", r.Throughput, rate)
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "no errors"
	}
	return s
}
