package monitor

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Report is one model's drift state, for the JSON report on the metrics
// listener and for the control API (retraining, rollout judgement). It is
// a copy: the caller may keep and change it.
type Report struct {
	Model      string          `json:"model"`
	Task       string          `json:"task"`
	SampleRate float64         `json:"sample_rate"`
	Dropped    Drops           `json:"dropped"`
	Labels     Labels          `json:"labels"`
	Versions   []VersionReport `json:"versions"`
}

// Drops counts samples the tap dropped, by reason.
type Drops struct {
	Full     uint64 `json:"full"`      // the ring was full: the aggregator fell behind
	TooLarge uint64 `json:"too_large"` // more rows than a slot holds
	Invalid  uint64 `json:"invalid"`   // unknown version, too many tensors, rank above 5
}

// Labels counts Feedback calls that found their prediction, and those
// that did not (not sampled, expired, unknown).
type Labels struct {
	Joined    uint64 `json:"joined"`
	Unmatched uint64 `json:"unmatched"`
}

// VersionReport is one version's drift state.
type VersionReport struct {
	Version string `json:"version"`
	// Sampled counts samples folded (after drops).
	Sampled   uint64          `json:"sampled"`
	Reference ReferenceReport `json:"reference"`
	// OpenWindow is the window filling now; Window the last closed one,
	// nil before any closed.
	OpenWindow OpenWindow    `json:"open_window"`
	Window     *WindowReport `json:"window,omitempty"`
	// Alarms: data drift (inputs), prediction drift (outputs), concept
	// drift (labels).
	DataAlarm       Alarm         `json:"data_alarm"`
	PredictionAlarm Alarm         `json:"prediction_alarm"`
	ConceptAlarm    Alarm         `json:"concept_alarm"`
	Concept         ConceptReport `json:"concept"`
}

// ReferenceReport says where the reference came from and whether it is
// complete (until it is, features without one are not compared).
type ReferenceReport struct {
	File     string    `json:"file,omitempty"` // shipped reference file, if any
	Complete bool      `json:"complete"`
	Since    time.Time `json:"since,omitzero"`
}

// OpenWindow is the window being filled.
type OpenWindow struct {
	ID   uint64 `json:"id"`
	Rows int64  `json:"rows"`
}

// WindowReport is the last closed window's comparison with the
// reference.
type WindowReport struct {
	ID    uint64    `json:"id"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Rows  int       `json:"rows"`
	// LatencyP50 and LatencyP99 are the window's sampled requests'
	// latencies (1% relative error), as the gateway measured them.
	LatencyP50 time.Duration `json:"latency_p50_ns"`
	LatencyP99 time.Duration `json:"latency_p99_ns"`
	// DataDrift: some input feature drifted; PredictionDrift: some output
	// (a class score, the predicted class, a regression value) drifted.
	DataDrift       bool           `json:"data_drift"`
	PredictionDrift bool           `json:"prediction_drift"`
	Features        []FeatureDrift `json:"features"`
	Predictions     []FeatureDrift `json:"predictions"`
}

// ConceptReport compares labelled accuracy (classification) or mean
// absolute error (regression) with the reference window's.
type ConceptReport struct {
	Metric string `json:"metric"` // "accuracy" or "mae"
	// Reference is nil until FeedbackWindow labels have been joined;
	// Current is nil until a window after it has closed.
	Reference       *float64 `json:"reference,omitempty"`
	Current         *float64 `json:"current,omitempty"`
	ReferenceLabels float64  `json:"reference_labels"`
	OpenLabels      float64  `json:"open_labels"`
	Windows         uint64   `json:"windows"`
}

// Drift returns the model's report; false if the model is not monitored.
func (m *Monitor) Drift(name string) (Report, bool) {
	a := m.model(name)
	if a == nil {
		return Report{}, false
	}
	full, large, invalid := a.tap.Dropped()
	r := Report{
		Model: a.name, Task: a.task, SampleRate: a.cfg.SampleRate,
		Dropped: Drops{full, large, invalid},
		Labels:  Labels{a.joined.Load(), a.missed.Load()},
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, v := range a.versions {
		vr := VersionReport{
			Version:         v.name,
			Sampled:         v.sampled.Load(),
			Reference:       ReferenceReport{File: v.refSource, Complete: !v.refReadyAt.IsZero(), Since: v.refReadyAt},
			OpenWindow:      OpenWindow{Rows: v.openRows.Load()},
			DataAlarm:       v.dataAlarm,
			PredictionAlarm: v.predAlarm,
			ConceptAlarm:    v.concept.alarm,
		}
		if w := v.last; w != nil {
			vr.OpenWindow.ID = w.ID + 1
			vr.Window = &WindowReport{
				ID: w.ID, Start: w.Start, End: w.End, Rows: w.Rows,
				LatencyP50: w.LatencyP50, LatencyP99: w.LatencyP99,
				DataDrift: w.DataDrift, PredictionDrift: w.PredDrift,
				Features:    append([]FeatureDrift{}, w.Inputs...),
				Predictions: append([]FeatureDrift{}, w.Outputs...),
			}
		}
		c := &v.concept
		vr.Concept = ConceptReport{Metric: "accuracy", ReferenceLabels: c.refN, OpenLabels: c.curN, Windows: c.windows}
		if a.task == TaskRegression {
			vr.Concept.Metric = "mae"
		}
		if c.refReady {
			ref := c.refSum / c.refN
			vr.Concept.Reference = &ref
		} else {
			vr.Concept.OpenLabels = 0
		}
		if c.windows > 0 {
			cur := c.last
			vr.Concept.Current = &cur
		}
		r.Versions = append(r.Versions, vr)
	}
	return r, true
}

// WritePrometheus writes every monitored model's drift scores and alarms
// in Prometheus text format, for the :8002 listener next to
// Registry.WritePrometheus. Series are written from reports at scrape
// time rather than registered: features come and go with model reloads,
// and a registered series would outlive its feature.
//
//	infergate_monitor_sampled_total{model,version}
//	infergate_monitor_dropped_total{model,reason}
//	infergate_monitor_labels_total{model,result="joined|unmatched"}
//	infergate_drift_{psi,ks_statistic,ks_p_value,js_distance,wasserstein,wasserstein_normed,feature_drifted}{model,version,feature,kind="input|output"}
//	infergate_drift_window{model,version}                 last closed window id
//	infergate_monitor_latency_seconds{model,version,quantile="0.5|0.99"}  of that window's sampled requests
//	infergate_drift_alarm{model,version,kind="data|prediction|concept"}  1 raised
//	infergate_drift_alarm_since_seconds{model,version,kind}  unix time of the last change
//	infergate_concept_{accuracy,mae}{model,version,window="reference|current"}
func (m *Monitor) WritePrometheus(w io.Writer) {
	var b strings.Builder
	for _, name := range m.Models() {
		r, ok := m.Drift(name)
		if !ok {
			continue
		}
		ml := `model=` + quoteLabel(r.Model)
		for i, reason := range dropReasons {
			v := [...]uint64{r.Dropped.Full, r.Dropped.TooLarge, r.Dropped.Invalid}[i]
			fmt.Fprintf(&b, "infergate_monitor_dropped_total{%s,reason=%q} %d\n", ml, reason, v)
		}
		fmt.Fprintf(&b, "infergate_monitor_labels_total{%s,result=\"joined\"} %d\n", ml, r.Labels.Joined)
		fmt.Fprintf(&b, "infergate_monitor_labels_total{%s,result=\"unmatched\"} %d\n", ml, r.Labels.Unmatched)
		for _, v := range r.Versions {
			vl := ml + `,version=` + quoteLabel(v.Version)
			fmt.Fprintf(&b, "infergate_monitor_sampled_total{%s} %d\n", vl, v.Sampled)
			for _, al := range []struct {
				kind string
				a    Alarm
			}{{"data", v.DataAlarm}, {"prediction", v.PredictionAlarm}, {"concept", v.ConceptAlarm}} {
				fmt.Fprintf(&b, "infergate_drift_alarm{%s,kind=%q} %d\n", vl, al.kind, b2i(al.a.Active))
				if !al.a.Since.IsZero() {
					fmt.Fprintf(&b, "infergate_drift_alarm_since_seconds{%s,kind=%q} %d\n", vl, al.kind, al.a.Since.Unix())
				}
			}
			metric := "infergate_concept_" + v.Concept.Metric
			if p := v.Concept.Reference; p != nil {
				fmt.Fprintf(&b, "%s{%s,window=\"reference\"} %s\n", metric, vl, num(*p))
			}
			if p := v.Concept.Current; p != nil {
				fmt.Fprintf(&b, "%s{%s,window=\"current\"} %s\n", metric, vl, num(*p))
			}
			if v.Window == nil {
				continue
			}
			fmt.Fprintf(&b, "infergate_drift_window{%s} %d\n", vl, v.Window.ID)
			fmt.Fprintf(&b, "infergate_monitor_latency_seconds{%s,quantile=\"0.5\"} %s\n", vl, num(v.Window.LatencyP50.Seconds()))
			fmt.Fprintf(&b, "infergate_monitor_latency_seconds{%s,quantile=\"0.99\"} %s\n", vl, num(v.Window.LatencyP99.Seconds()))
			for _, set := range []struct {
				kind string
				fs   []FeatureDrift
			}{{"input", v.Window.Features}, {"output", v.Window.Predictions}} {
				for _, f := range set.fs {
					fl := vl + `,feature=` + quoteLabel(f.Name) + `,kind="` + set.kind + `"`
					fmt.Fprintf(&b, "infergate_drift_psi{%s} %s\n", fl, num(f.PSI))
					fmt.Fprintf(&b, "infergate_drift_js_distance{%s} %s\n", fl, num(f.JS))
					if !f.Categorical {
						fmt.Fprintf(&b, "infergate_drift_ks_statistic{%s} %s\n", fl, num(f.KS))
						fmt.Fprintf(&b, "infergate_drift_ks_p_value{%s} %s\n", fl, num(f.KSPValue))
						fmt.Fprintf(&b, "infergate_drift_wasserstein{%s} %s\n", fl, num(f.Wasserstein))
						fmt.Fprintf(&b, "infergate_drift_wasserstein_normed{%s} %s\n", fl, num(f.WassersteinNormed))
					}
					fmt.Fprintf(&b, "infergate_drift_feature_drifted{%s} %d\n", fl, b2i(f.Drifted))
				}
			}
		}
	}
	io.WriteString(w, b.String())
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func num(x float64) string {
	switch {
	case math.IsNaN(x):
		return "NaN"
	case math.IsInf(x, 1):
		return "+Inf"
	case math.IsInf(x, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// quoteLabel quotes a label value as the Prometheus text format escapes
// it: backslash, double quote and newline only (Go's %q also writes \t,
// \x00 and \u escapes, which Prometheus reads literally).
func quoteLabel(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
