package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is everything one invocation measured: a run (or a ramp's
// windows), a capacity search, or a sweep. It is what the JSON output holds
// and what the table and HTML render.
type Report struct {
	Target    string    `json:"target"`
	Model     string    `json:"model"`
	Infergate bool      `json:"infergate"`
	Started   time.Time `json:"started"`
	// Bodies describes the requests: "synthesized batch 1 seed 1" or the file.
	Bodies string        `json:"bodies"`
	Run    *Result       `json:"run,omitempty"`
	Search *SearchResult `json:"search,omitempty"`
	Sweep  *SweepResult  `json:"sweep,omitempty"`
	// Compare is an A/B run (-compare): Target is then its A.
	Compare *Comparison `json:"compare,omitempty"`
}

// WriteJSON writes the report as indented JSON. Durations are integer
// nanoseconds (fields end in _ns).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for a terminal.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "target %s  model %s", r.Target, r.Model)
	if r.Infergate {
		fmt.Fprint(w, "  (infergate)")
	}
	fmt.Fprintf(w, "\nrequests: %s\n\n", r.Bodies)
	if r.Run != nil {
		writeRun(w, r.Run)
	}
	if r.Search != nil {
		writeSearch(w, r.Search)
	}
	if r.Sweep != nil {
		writeSweep(w, r.Sweep, r.Search)
	}
	if r.Compare != nil {
		writeComparison(w, r.Compare)
	}
	return nil
}

func writeRun(w io.Writer, res *Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\treq/s\tok\terrors\tp50\tp90\tp95\tp99\tp99.9\tmax\tconns\t")
	writeResultRow(tw, res)
	tw.Flush()
	if e := res.errorSummary(); e != "" {
		fmt.Fprintf(w, "errors: %s\n", e)
	}
	if res.Late > 0 {
		fmt.Fprintf(w, "late: %d requests left more than 1 ms behind schedule (timed from the schedule all the same): %d waited for one of the %d connections, %d for the generator itself\n",
			res.Late, res.Late-res.Lag, res.Connections, res.Lag)
	}
	if res.Lag*100 > res.Requests {
		fmt.Fprintln(w, "the generator fell behind on over 1% of requests: these figures are partly the generator's; give it more cores")
	}
	if res.Requests > 0 && res.OK == 0 {
		fmt.Fprintln(w, "no request succeeded: check the URL, the model name and the request bodies (curl -d @body.json URL/v2/models/NAME/infer shows the server's reason)")
	}
	if res.Requests == 0 {
		fmt.Fprintln(w, "no request completed within the run")
	}
	stab := "single window"
	if len(res.Windows) > 1 {
		stab = fmt.Sprintf("%d windows, last three stable: %v", len(res.Windows), res.Stable)
		if res.Mode == "ramp" {
			stab = fmt.Sprintf("%d ramp steps", len(res.Windows))
		}
	}
	fmt.Fprintf(w, "measured %.1f s (%s)\n", res.Seconds, stab)
	if res.Mode == "ramp" || len(res.Windows) > 1 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "window\tseconds\treq/s\tp50\tp99\terrors\t")
		for i, x := range res.Windows {
			fmt.Fprintf(tw, "%d\t%.1f\t%.0f\t%s\t%s\t%d\t\n", i+1, x.Seconds, x.Throughput, fmtDur(x.P50), fmtDur(x.P99), x.Errors)
		}
		tw.Flush()
	}
	writeServer(w, res)
	fmt.Fprintln(w)
}

func writeResultRow(tw io.Writer, res *Result) {
	l := res.Latency
	fmt.Fprintf(tw, "%s\t%.0f\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", res.Label, res.Throughput, res.OK, res.Errors(),
		fmtDur(l.P50), fmtDur(l.P90), fmtDur(l.P95), fmtDur(l.P99), fmtDur(l.P999), fmtDur(l.Max), res.Connections)
}

func writeServer(w io.Writer, res *Result) {
	s := res.Server
	if s == nil {
		return
	}
	if s.Err != "" {
		fmt.Fprintf(w, "server split: unavailable: %s\n", s.Err)
		return
	}
	if len(s.Phases) == 0 {
		return
	}
	var parts []string
	for _, p := range s.Phases {
		parts = append(parts, fmt.Sprintf("%s %s (p99 ≤%s)", p.Phase, fmtDur(p.Mean), fmtDur(p.P99)))
	}
	fmt.Fprintf(w, "server (mean per request): %s; total %s", strings.Join(parts, ", "), fmtDur(s.Total))
	if res.Latency.Mean > 0 {
		fmt.Fprintf(w, "; client mean %s, so %s outside the server (network, HTTP, client)", fmtDur(res.Latency.Mean), fmtDur(res.Latency.Mean-s.Total))
	}
	if s.BatchMean > 0 {
		fmt.Fprintf(w, "; %.1f requests per batch", s.BatchMean)
	}
	fmt.Fprintln(w)
}

func writeSearch(w io.Writer, s *SearchResult) {
	if s.Probe != nil {
		fmt.Fprintf(w, "probe (one closed-loop client): %.0f req/s, p50 %s\n", s.Probe.Throughput, fmtDur(s.Probe.Latency.P50))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "rate\tverdict\treq/s\tp50\tp99\tp99.9\twindows\tconns")
	for _, st := range s.Steps {
		v := "pass"
		if !st.Pass {
			v = "fail: " + st.Why
		}
		r := st.Result
		fmt.Fprintf(tw, "%.0f/s\t%s\t%.0f\t%s\t%s\t%s\t%d\t%d\n", st.Rate, v, r.Throughput, fmtDur(r.Latency.P50), fmtDur(r.Latency.P99), fmtDur(r.Latency.P999), len(r.Windows), r.Connections)
	}
	tw.Flush()
	if s.MaxRate > 0 {
		fmt.Fprintf(w, "capacity: %.0f req/s with p99 %s (objective %s)\n", s.MaxRate, fmtDur(s.Best.Latency.P99), fmtDur(s.SLOP99))
		writeServer(w, s.Best)
	} else {
		fmt.Fprintf(w, "capacity: no rate tried kept p99 within %s\n", fmtDur(s.SLOP99))
	}
	fmt.Fprintln(w)
}

func writeSweep(w io.Writer, sw *SweepResult, _ *SearchResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "configuration\tcores\tmax req/s\tper core\tp99 at max\tbatch\tnote")
	for _, p := range sw.Points {
		p99, batch := "-", "-"
		if p.Search != nil && p.Search.Best != nil {
			p99 = fmtDur(p.Search.Best.Latency.P99)
			if s := p.Search.Best.Server; s != nil && s.BatchMean > 0 {
				batch = strconv.FormatFloat(s.BatchMean, 'f', 1, 64)
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%s\t%s\t%s\n", describe(p.Config), p.Cores, p.MaxRate, p.PerCore, p99, batch, p.Err)
	}
	tw.Flush()
	if rec := sw.Recommendation; rec != nil {
		fmt.Fprintf(w, "recommendation: %s: %.0f req/s on %d cores (%.0f per core)", describe(rec.Config), rec.MaxRate, rec.Cores, rec.PerCore)
		if rec.Replicas > 0 {
			fmt.Fprintf(w, "; %d replicas for %.0f req/s", rec.Replicas, rec.TargetRate)
		}
		fmt.Fprintln(w)
	}
}

// fmtDur prints a latency with three significant digits in the unit that
// suits it: 45.2µs, 1.84ms, 1.02s.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	case d < time.Millisecond:
		return sig3(float64(d)/1e3) + "µs"
	case d < time.Second:
		return sig3(float64(d)/1e6) + "ms"
	}
	return sig3(float64(d)/1e9) + "s"
}

func sig3(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}
