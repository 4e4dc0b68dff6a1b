package bench

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strconv"
	"time"
)

// series is one line of the latency-vs-throughput plot.
type series struct {
	name   string
	color  string
	dashed bool
	pts    []point
}

type point struct {
	x float64       // throughput, req/s
	y time.Duration // latency
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"}

// plotSeries picks what the report measured at several loads: a ramp's or
// a stability run's windows, a search's steps, a sweep's searches. Each
// gives a p99 line and (when there is one configuration) a p50 line.
func (r *Report) plotSeries() []series {
	var out []series
	add := func(name string, p50, p99 []point) {
		c := palette[len(out)/2%len(palette)]
		if r.Sweep != nil {
			c = palette[len(out)%len(palette)]
			out = append(out, series{name: name + " p99", color: c, pts: p99})
			return
		}
		out = append(out, series{name: name + " p99", color: c, pts: p99}, series{name: name + " p50", color: c, dashed: true, pts: p50})
	}
	if res := r.Run; res != nil {
		var p50, p99 []point
		if len(res.Windows) > 1 {
			for _, w := range res.Windows {
				p50 = append(p50, point{w.Throughput, w.P50})
				p99 = append(p99, point{w.Throughput, w.P99})
			}
		} else {
			p50 = []point{{res.Throughput, res.Latency.P50}}
			p99 = []point{{res.Throughput, res.Latency.P99}}
		}
		add(res.Label, p50, p99)
	}
	stepPoints := func(s *SearchResult) (p50, p99 []point) {
		for _, st := range s.Steps {
			p50 = append(p50, point{st.Result.Throughput, st.Result.Latency.P50})
			p99 = append(p99, point{st.Result.Throughput, st.Result.Latency.P99})
		}
		return
	}
	if r.Search != nil {
		p50, p99 := stepPoints(r.Search)
		add("search", p50, p99)
	}
	if r.Sweep != nil {
		for _, p := range r.Sweep.Points {
			if p.Search != nil {
				p50, p99 := stepPoints(p.Search)
				add(shortDescribe(p.Config), p50, p99)
			}
		}
	}
	for i := range out {
		slices.SortFunc(out[i].pts, func(a, b point) int { return cmpFloat(a.x, b.x) })
	}
	return out
}

// shortDescribe names a sweep configuration in the plot's legend, which
// has a quarter of the page's width.
func shortDescribe(cfg map[string]int64) string {
	short := map[string]string{"max_batch_size": "batch", "max_queue_delay": "delay", "instances": "inst", "intra_op_threads": "intra"}
	s := ""
	for _, k := range sweepKeys {
		if v, ok := cfg[k]; ok {
			if s != "" {
				s += " "
			}
			s += short[k] + "=" + strconv.FormatInt(v, 10)
		}
	}
	if s == "" {
		return "as configured"
	}
	return s
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// SVG draws latency (log scale, since a p99 ranges from microseconds to
// seconds across a search) against throughput, with the objective as a
// horizontal line when there is one.
func (r *Report) SVG() []byte {
	const (
		W, H                   = 860, 480
		left, right, top, foot = 70, 250, 20, 50
		pw, ph                 = W - left - right, H - top - foot
	)
	ss := r.plotSeries()
	var slo time.Duration
	if r.Search != nil {
		slo = r.Search.SLOP99
	} else if r.Sweep != nil {
		for _, p := range r.Sweep.Points {
			if p.Search != nil {
				slo = p.Search.SLOP99
			}
		}
	}
	maxX, minY, maxY := 0.0, math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, p := range s.pts {
			maxX = max(maxX, p.x)
			if p.y > 0 {
				minY, maxY = min(minY, float64(p.y)), max(maxY, float64(p.y))
			}
		}
	}
	if slo > 0 {
		minY, maxY = min(minY, float64(slo)), max(maxY, float64(slo))
	}
	if maxX <= 0 {
		maxX = 1
	}
	if math.IsInf(minY, 1) {
		minY, maxY = 1e3, 1e6
	}
	xmax := niceCeil(maxX * 1.05)
	ylo := math.Pow(10, math.Floor(math.Log10(minY)))
	yhi := math.Pow(10, math.Ceil(math.Log10(maxY)))
	if yhi <= ylo {
		yhi = ylo * 10
	}
	px := func(x float64) float64 { return left + x/xmax*pw }
	py := func(y time.Duration) float64 {
		v := math.Max(float64(y), ylo)
		return top + ph - (math.Log10(v)-math.Log10(ylo))/(math.Log10(yhi)-math.Log10(ylo))*ph
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="white" stroke="#444"/>`+"\n", left, top, pw, ph)
	for i := 0; i <= 5; i++ {
		x := xmax * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n",
			px(x), top, px(x), top+ph, px(x), top+ph+16, strconv.FormatFloat(x, 'f', -1, 64))
	}
	for y := ylo; y <= yhi*1.0001; y *= 10 {
		d := time.Duration(y)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
			left, py(d), left+pw, py(d), left-6, py(d)+4, fmtDur(d))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">throughput (successful requests per second)</text>`+"\n", left+pw/2, H-10)
	fmt.Fprintf(&b, `<text x="16" y="%d" text-anchor="middle" transform="rotate(-90 16 %d)">latency (log scale)</text>`+"\n", top+ph/2, top+ph/2)
	if slo > 0 {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="black" stroke-dasharray="2,3"/><text x="%d" y="%.1f">p99 objective %s</text>`+"\n",
			left, py(slo), left+pw, py(slo), left+4, py(slo)-4, fmtDur(slo))
	}
	for i, s := range ss {
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6,4"`
		}
		if len(s.pts) > 1 {
			b.WriteString(`<polyline fill="none" stroke-width="1.5" stroke="` + s.color + `"` + dash + ` points="`)
			for _, p := range s.pts {
				fmt.Fprintf(&b, "%.1f,%.1f ", px(p.x), py(p.y))
			}
			b.WriteString("\"/>\n")
		}
		for _, p := range s.pts {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s: %.0f req/s, %s</title></circle>`+"\n",
				px(p.x), py(p.y), s.color, html.EscapeString(s.name), p.x, fmtDur(p.y))
		}
		ly := top + 10 + 18*i
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/><text x="%d" y="%d">%s</text>`+"\n",
			left+pw+10, ly, left+pw+34, ly, s.color, dash, left+pw+40, ly+4, html.EscapeString(s.name))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten, for axis ends.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// WriteHTML writes a self-contained page: the plot inline and the table
// report beneath it, with no script and nothing fetched.
func (r *Report) WriteHTML(w io.Writer) error {
	var table bytes.Buffer
	r.WriteTable(&table)
	_, err := fmt.Fprintf(w, `<!doctype html>
<html><head><meta charset="utf-8"><title>infergate bench: %s</title>
<style>body{font-family:sans-serif;margin:2em;color:#222}pre{background:#f6f6f6;padding:1em;overflow-x:auto}</style>
</head><body>
<h1>infergate bench: %s</h1>
<p>%s, started %s</p>
%s
<pre>%s</pre>
</body></html>
`, html.EscapeString(r.Model), html.EscapeString(r.Model), html.EscapeString(r.Target), r.Started.UTC().Format(time.RFC3339),
		r.SVG(), html.EscapeString(table.String()))
	return err
}
