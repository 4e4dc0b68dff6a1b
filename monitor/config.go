package monitor

import (
	"fmt"
	"math"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is one model's `monitor:` section of config.yaml. The zero value
// monitors nothing (SampleRate 0); every other field defaults, as the
// comments say, to the values the batch drift tools use (Evidently,
// NannyML, alibi-detect), so a config that only sets sample_rate works.
type Config struct {
	// SampleRate is the fraction of requests tapped, 0 (off) to 1. The
	// choice is a hash of the request id, so replicas agree on which
	// requests are sampled and late labels find their prediction.
	SampleRate float64 `yaml:"sample_rate"`
	// BufferSize is the number of ring slots, a power of two; default
	// 4096. Each slot is sized once from the model's tensor shapes; the
	// ring is shrunk (and a warning logged) if the slots would take more
	// than 64 MiB, which only image-sized inputs reach.
	BufferSize int `yaml:"buffer_size"`
	// SlotRows is how many rows of a dynamic batch dimension one ring
	// slot holds; a request with more rows is dropped, counted as
	// too_large. Default 1, for online traffic of one row per request:
	// every slot pays for these rows, and a ring that fits in the
	// processor's cache keeps the tap fast (BenchmarkTapPush: 1 row
	// against 8). Raise it for clients that send batches.
	SlotRows int `yaml:"slot_rows"`
	// ReferenceSize is how many served rows form the reference when no
	// reference file ships with the version (and, always, for outputs,
	// which a file of inputs cannot give). Default 1000.
	ReferenceSize int `yaml:"reference_size"`
	// WindowSize closes a current window after this many rows (default
	// 1000), WindowDuration after this long (default 1m), whichever
	// comes first. A window the clock closes with fewer than
	// min(100, WindowSize) rows is kept open: statistics on a handful of
	// rows would raise false alarms.
	WindowSize     int      `yaml:"window_size"`
	WindowDuration Duration `yaml:"window_duration"`
	// AlarmWindows is K: K consecutive drifted windows raise an alarm, K
	// consecutive clean ones clear it. Default 3.
	AlarmWindows int `yaml:"alarm_windows"`
	// PSIThreshold flags a feature at PSI >= this; default 0.1
	// (Evidently, and the industry's "moderate shift").
	PSIThreshold float64 `yaml:"psi_threshold"`
	// JSThreshold flags a feature at Jensen-Shannon distance (natural
	// log, as scipy computes it) >= this; default 0.1 (NannyML,
	// Evidently).
	JSThreshold float64 `yaml:"js_threshold"`
	// KSAlpha flags a feature when the Kolmogorov-Smirnov p-value, times
	// the number of features tested (Bonferroni), is below it; default
	// 0.05 (alibi-detect).
	KSAlpha float64 `yaml:"ks_alpha"`
	// Task is "classification" or "regression". Empty guesses from the
	// first output's shape: [N, K] with K >= 2 is a classifier's scores,
	// anything else a regression.
	Task string `yaml:"task"`
	// ConceptMargin raises the concept-drift alarm when a feedback
	// window's accuracy falls this far below the reference accuracy
	// (classification, absolute, default 0.05), or when its mean absolute
	// error rises by this fraction over the reference MAE (regression,
	// relative, default 0.2: MAE is in the label's units, so an absolute
	// default could not fit every model).
	ConceptMargin float64 `yaml:"concept_margin"`
	// FeedbackCapacity is how many recent sampled predictions are kept to
	// join late labels; default 100000.
	FeedbackCapacity int `yaml:"feedback_capacity"`
	// FeedbackWindow is the number of labels per accuracy (or MAE)
	// window; the first such window is the reference. Default 500.
	FeedbackWindow int `yaml:"feedback_window"`
}

// Tasks a model's outputs are judged as.
const (
	TaskClassification = "classification"
	TaskRegression     = "regression"
)

// WithDefaults returns c with every zero field set to its default.
// SampleRate stays as given: zero means the tap is off.
func (c Config) WithDefaults() Config {
	set := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setf := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	set(&c.BufferSize, 4096)
	set(&c.SlotRows, 1)
	set(&c.ReferenceSize, 1000)
	set(&c.WindowSize, 1000)
	if c.WindowDuration == 0 {
		c.WindowDuration = Duration(time.Minute)
	}
	set(&c.AlarmWindows, 3)
	setf(&c.PSIThreshold, 0.1)
	setf(&c.JSThreshold, 0.1)
	setf(&c.KSAlpha, 0.05)
	if c.Task == TaskRegression {
		setf(&c.ConceptMargin, 0.2)
	} else {
		setf(&c.ConceptMargin, 0.05)
	}
	set(&c.FeedbackCapacity, 100000)
	set(&c.FeedbackWindow, 500)
	return c
}

// Validate reports the first invalid field, naming its key and the fix.
// Call it on the result of WithDefaults.
func (c Config) Validate() error {
	switch {
	case math.IsNaN(c.SampleRate) || c.SampleRate < 0 || c.SampleRate > 1:
		return fmt.Errorf("monitor.sample_rate %v: use a fraction from 0 (off) to 1 (every request)", c.SampleRate)
	case c.BufferSize < 2 || c.BufferSize&(c.BufferSize-1) != 0 || c.BufferSize > 1<<20:
		return fmt.Errorf("monitor.buffer_size %d: use a power of two from 2 to 1048576 (default 4096)", c.BufferSize)
	case c.SlotRows < 1 || c.SlotRows > 4096:
		return fmt.Errorf("monitor.slot_rows %d: use 1 to 4096 rows (default 1)", c.SlotRows)
	case c.ReferenceSize < 1:
		return fmt.Errorf("monitor.reference_size %d: use a positive row count (default 1000)", c.ReferenceSize)
	case c.WindowSize < 1:
		return fmt.Errorf("monitor.window_size %d: use a positive row count (default 1000)", c.WindowSize)
	case c.WindowDuration < Duration(time.Second):
		return fmt.Errorf("monitor.window_duration %s: use at least 1s (default 1m)", time.Duration(c.WindowDuration))
	case c.AlarmWindows < 1:
		return fmt.Errorf("monitor.alarm_windows %d: use a positive window count (default 3)", c.AlarmWindows)
	case !(c.PSIThreshold > 0):
		return fmt.Errorf("monitor.psi_threshold %v: use a positive value (default 0.1)", c.PSIThreshold)
	case !(c.JSThreshold > 0 && c.JSThreshold <= 1):
		return fmt.Errorf("monitor.js_threshold %v: use a distance in (0, 1] (default 0.1)", c.JSThreshold)
	case !(c.KSAlpha > 0 && c.KSAlpha < 1):
		return fmt.Errorf("monitor.ks_alpha %v: use a significance level in (0, 1) (default 0.05)", c.KSAlpha)
	case c.Task != "" && c.Task != TaskClassification && c.Task != TaskRegression:
		return fmt.Errorf("monitor.task %q: use classification, regression, or leave it out to guess from the outputs", c.Task)
	case !(c.ConceptMargin > 0):
		return fmt.Errorf("monitor.concept_margin %v: use a positive margin (default 0.05 for classification, 0.2 for regression)", c.ConceptMargin)
	case c.FeedbackCapacity < 1:
		return fmt.Errorf("monitor.feedback_capacity %d: use a positive count (default 100000)", c.FeedbackCapacity)
	case c.FeedbackWindow < 1:
		return fmt.Errorf("monitor.feedback_window %d: use a positive label count (default 500)", c.FeedbackWindow)
	}
	return nil
}

// Duration is a time.Duration that YAML writes as "30s" or "1m".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string; a bare number is refused
// because its unit would be a guess.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: duration %q: write it with a unit, like 30s or 1m", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string ("1m0s").
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// String returns the duration as Go prints it.
func (d Duration) String() string { return time.Duration(d).String() }
