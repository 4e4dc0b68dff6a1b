package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
)

// An A/B comparison alternates one load between two targets in short runs,
// the order swapping every round, and pools each side's runs. On a shared
// or virtual machine the speed drifts within minutes and stalls land at
// random: two long runs one after the other compare the drift as much as
// the targets (an A/A of two identical gateways measured, one after the
// other, p99s 8% apart in the median round and 10% apart on average;
// bench/README.md, thirteenth session). Alternating every few seconds puts
// both sides under the same drift, and pooling every run's latencies gives
// each side a p99 over hundreds of thousands of requests rather than one
// run's few stalls. It answers "what does this change cost", the question
// behind a canary, a config change or a new build.

// Comparison is an A/B run's measurement.
type Comparison struct {
	// URLA and URLB are the targets compared (A is the baseline).
	URLA string `json:"url_a"`
	URLB string `json:"url_b"`
	// A and B are each side's runs pooled: their latencies merged into one
	// distribution, their requests and seconds summed.
	A Result `json:"a"`
	B Result `json:"b"`
	// Rounds are the runs, a pair a round.
	Rounds []ComparisonRound `json:"rounds"`
	// Pooled is B over A for the pooled figures, Median the median over
	// rounds of each round's B over A.
	Pooled Ratios `json:"pooled_ratio"`
	Median Ratios `json:"median_ratio"`
}

// ComparisonRound is one round: a run of each target.
type ComparisonRound struct {
	// BFirst says B ran first this round.
	BFirst bool   `json:"b_first"`
	A      Window `json:"a"`
	B      Window `json:"b"`
}

// Ratios are B's figures over A's: 1.05 is 5% more.
type Ratios struct {
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50"`
	P99        float64 `json:"p99"`
}

// Compare runs load l against a and b in turn, rounds times each, and
// pools each side. Each run is a full Run (its warm-up included, its
// connections its own), so neither target inherits the other's
// connections or queue.
func Compare(ctx context.Context, a, b Target, l Load, rounds int) (Comparison, error) {
	if rounds < 1 {
		return Comparison{}, errors.New("an A/B comparison needs at least one round")
	}
	if l.Schedule.RampTo > 0 {
		return Comparison{}, errors.New("an A/B comparison alternates one load: a ramp's windows are different loads")
	}
	c := Comparison{URLA: a.URL, URLB: b.URL}
	var sides [2]pooling
	for r := range rounds {
		var got [2]Result
		bFirst := r%2 == 1
		for k := range 2 {
			side := k
			if bFirst {
				side = 1 - k
			}
			tg := a
			if side == 1 {
				tg = b
			}
			res, err := Run(ctx, tg, l)
			if err != nil {
				return c, err
			}
			got[side] = res
			sides[side].add(&res)
			if ctx.Err() != nil {
				break
			}
		}
		if ctx.Err() != nil {
			break
		}
		c.Rounds = append(c.Rounds, ComparisonRound{BFirst: bFirst, A: got[0].merged.window(), B: got[1].merged.window()})
	}
	if len(c.Rounds) == 0 {
		return c, ctx.Err()
	}
	c.A, c.B = sides[0].result(), sides[1].result()
	c.Pooled = ratios(sides[0].all.window(), sides[1].all.window())
	var tp, p50, p99 []float64
	for _, rd := range c.Rounds {
		x := ratios(rd.A, rd.B)
		tp, p50, p99 = append(tp, x.Throughput), append(p50, x.P50), append(p99, x.P99)
	}
	c.Median = Ratios{median(tp), median(p50), median(p99)}
	return c, ctx.Err()
}

// pooling merges one side's runs as a run merges its windows.
type pooling struct {
	res Result
	all snapshot
}

func (p *pooling) add(r *Result) {
	if p.all.hist == nil {
		p.all.hist = newHistogram()
		p.res = Result{Label: r.Label, Mode: r.Mode, Concurrency: r.Concurrency, TargetRate: r.TargetRate}
	}
	p.all.add(r.merged)
	p.res.Connections = max(p.res.Connections, r.Connections)
	p.res.Windows = append(p.res.Windows, r.Windows...)
}

func (p *pooling) result() Result {
	r := p.res
	r.fill(&p.all.t, p.all.hist, p.all.secs)
	r.merged = &p.all
	return r
}

func ratios(a, b Window) Ratios {
	div := func(x, y float64) float64 {
		if y == 0 {
			return 0
		}
		return x / y
	}
	return Ratios{div(b.Throughput, a.Throughput), div(float64(b.P50), float64(a.P50)), div(float64(b.P99), float64(a.P99))}
}

// median of xs (the mean of the middle two for an even count); xs is
// sorted in place.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func writeComparison(w io.Writer, c *Comparison) {
	fmt.Fprintf(w, "A: %s\nB: %s\n\n", c.URLA, c.URLB)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tfirst\tA req/s\tB req/s\tA p50\tB p50\tA p99\tB p99\tB/A p99\t")
	for i, rd := range c.Rounds {
		first := "A"
		if rd.BFirst {
			first = "B"
		}
		fmt.Fprintf(tw, "%d\t%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t\n", i+1, first, rd.A.Throughput, rd.B.Throughput,
			fmtDur(rd.A.P50), fmtDur(rd.B.P50), fmtDur(rd.A.P99), fmtDur(rd.B.P99), fmtRatio(ratios(rd.A, rd.B).P99))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "pooled\treq/s\tok\terrors\tp50\tp90\tp95\tp99\tp99.9\tmax\tconns\t")
	for _, s := range []struct {
		name string
		r    *Result
	}{{"A", &c.A}, {"B", &c.B}} {
		r := *s.r
		r.Label = s.name + " " + r.Label
		writeResultRow(tw, &r)
	}
	tw.Flush()
	for _, s := range []*Result{&c.A, &c.B} {
		if e := s.errorSummary(); e != "" {
			fmt.Fprintf(w, "errors: %s\n", e)
		}
	}
	fmt.Fprintf(w, "\nB against A, pooled: throughput %s, p50 %s, p99 %s\n", fmtRatio(c.Pooled.Throughput), fmtRatio(c.Pooled.P50), fmtRatio(c.Pooled.P99))
	fmt.Fprintf(w, "B against A, median of %d rounds: throughput %s, p50 %s, p99 %s\n", len(c.Rounds), fmtRatio(c.Median.Throughput), fmtRatio(c.Median.P50), fmtRatio(c.Median.P99))
}

// fmtRatio shows a ratio as a change: 1.05 is "+5.0%".
func fmtRatio(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%+.1f%%", 100*(x-1))
}
