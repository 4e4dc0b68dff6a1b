package monitor

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func decodeConfig(s string) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader([]byte(s)))
	dec.KnownFields(true)
	err := dec.Decode(&c)
	return c, err
}

func TestConfigDecode(t *testing.T) {
	c, err := decodeConfig("sample_rate: 0.1\nwindow_duration: 30s\ntask: regression\n")
	if err != nil {
		t.Fatal(err)
	}
	c = c.WithDefaults()
	if c.SampleRate != 0.1 || time.Duration(c.WindowDuration) != 30*time.Second || c.BufferSize != 4096 || c.SlotRows != 1 ||
		c.ReferenceSize != 1000 || c.WindowSize != 1000 || c.AlarmWindows != 3 || c.PSIThreshold != 0.1 ||
		c.JSThreshold != 0.1 || c.KSAlpha != 0.05 || c.ConceptMargin != 0.2 || c.FeedbackCapacity != 100000 || c.FeedbackWindow != 500 {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c := (Config{}).WithDefaults(); time.Duration(c.WindowDuration) != time.Minute || c.ConceptMargin != 0.05 || c.SampleRate != 0 {
		t.Fatalf("zero config defaults: %+v", c)
	}
	if _, err := decodeConfig("sample_rat: 1\n"); err == nil || !strings.Contains(err.Error(), "sample_rat") {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := decodeConfig("window_duration: 30\n"); err == nil || !strings.Contains(err.Error(), "with a unit") {
		t.Fatalf("duration without unit: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	f := func(mutate func(*Config), want string) {
		t.Helper()
		c := Config{SampleRate: 1}.WithDefaults()
		mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Validate() = %v, want it to mention %q", err, want)
		}
	}
	f(func(c *Config) { c.SampleRate = 1.5 }, "monitor.sample_rate")
	f(func(c *Config) { c.BufferSize = 1000 }, "monitor.buffer_size 1000: use a power of two")
	f(func(c *Config) { c.SlotRows = -1 }, "monitor.slot_rows")
	f(func(c *Config) { c.ReferenceSize = -1 }, "monitor.reference_size")
	f(func(c *Config) { c.WindowSize = -1 }, "monitor.window_size")
	f(func(c *Config) { c.WindowDuration = Duration(time.Millisecond) }, "monitor.window_duration 1ms: use at least 1s")
	f(func(c *Config) { c.AlarmWindows = -2 }, "monitor.alarm_windows")
	f(func(c *Config) { c.PSIThreshold = -1 }, "monitor.psi_threshold")
	f(func(c *Config) { c.JSThreshold = 2 }, "monitor.js_threshold")
	f(func(c *Config) { c.KSAlpha = 1 }, "monitor.ks_alpha")
	f(func(c *Config) { c.Task = "ranking" }, `monitor.task "ranking"`)
	f(func(c *Config) { c.ConceptMargin = -1 }, "monitor.concept_margin")
	f(func(c *Config) { c.FeedbackCapacity = -1 }, "monitor.feedback_capacity")
	f(func(c *Config) { c.FeedbackWindow = -1 }, "monitor.feedback_window")
}
