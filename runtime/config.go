package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"go.yaml.in/yaml/v3"
)

// ModelConfig is a model's config.yaml. Every field is optional: a folder
// holding only <version>/model.onnx serves with these defaults, and what the
// ONNX file declares (names, types, shapes) fills the rest.
type ModelConfig struct {
	// Name must equal the model's folder name when given; it exists so a
	// config copied between folders is caught instead of silently serving
	// under the wrong name.
	Name string `yaml:"name"`
	// Platform is "onnxruntime_onnx" (Triton's name) or empty.
	Platform string `yaml:"platform"`
	// Description is shown in the repository index.
	Description string `yaml:"description"`
	// Versions lists the version folders to load. Empty loads every
	// numeric folder that holds a model.onnx.
	Versions []int64 `yaml:"versions"`
	// DefaultVersion serves requests that name no version. Zero means the
	// highest version that is ready.
	DefaultVersion int64 `yaml:"default_version"`
	// IntraOpThreads, InterOpThreads: see SessionOptions. Zero means 1.
	IntraOpThreads int `yaml:"intra_op_threads"`
	InterOpThreads int `yaml:"inter_op_threads"`
	// MaxBatchSize > 0 turns on dynamic batching: requests that arrive
	// while the session is busy are stacked along dimension 0, up to this
	// many rows per run. The model's inputs and outputs must all have a
	// dynamic first dimension. Zero (default) runs each request alone.
	MaxBatchSize int `yaml:"max_batch_size"`
	// MaxQueueSize bounds the requests waiting for a run (a batch, or,
	// without max_batch_size, a run of their own); a request that finds
	// it full is refused at once (503 with Retry-After). Zero means 1024.
	MaxQueueSize int `yaml:"max_queue_size"`
	// MaxQueueDelay, in microseconds, makes a run wait up to that long
	// for company when its batch is short and the model is under load; it
	// goes as soon as the batch fills. Zero (default) never waits: a
	// request that finds an idle instance runs at once.
	MaxQueueDelay int64 `yaml:"max_queue_delay"`
	// PreferredBatchSizes: a run stops at the largest of these that the
	// waiting rows reach. Each version is warmed up at each size.
	PreferredBatchSizes []int `yaml:"preferred_batch_sizes"`
	// Timeout, in microseconds, is how long a request may wait in the
	// queue unless it sets parameters.timeout itself. Zero: no limit.
	Timeout int64 `yaml:"timeout"`
	// PriorityLevels is how many priorities requests may ask for with
	// parameters.priority, 1 being the highest. Zero means 1.
	PriorityLevels int `yaml:"priority_levels"`
	// DefaultPriority is given to requests that ask for none. Zero means
	// the lowest.
	DefaultPriority int `yaml:"default_priority"`
	// Instances is how many sessions of the version run side by side,
	// each one batch (without max_batch_size, one request) at a time.
	// Zero means, for a batching version, one per 8 cores (at least one):
	// on 2 cores one session already keeps both busy with the HTTP
	// server; on 64 cores eight batches run at once. For a version that
	// does not batch, zero means one session taking as many runs at once
	// as the process has cores.
	Instances int `yaml:"instances"`
	// GraphOptimization: "none", "basic", "extended" or "all" (default).
	GraphOptimization string `yaml:"graph_optimization"`
	// Inputs and Outputs, when given, are checked against the ONNX file at
	// load: names and datatypes must match, and a shape may fix a
	// dimension the file leaves dynamic (requests are then held to it).
	Inputs  []TensorConfig `yaml:"inputs"`
	Outputs []TensorConfig `yaml:"outputs"`
	// ProviderConfig: execution_provider and its options.
	ProviderConfig `yaml:",inline"`
	// Monitor is the `monitor:` section: drift monitoring's sampling
	// rate, windows and thresholds. The monitor package owns its keys and
	// the gateway decodes it (strictly) with them; the runtime only
	// carries it, so it does not depend on the monitor.
	Monitor yaml.Node `yaml:"monitor"`
}

// TensorConfig declares one input or output in config.yaml.
type TensorConfig struct {
	Name     string  `yaml:"name"`
	DataType string  `yaml:"datatype"`
	Shape    []int64 `yaml:"shape"`
}

// ReadModelConfig reads and strictly decodes a config.yaml: an unknown key
// is an error that names it (a misspelt "intra_op_thread" must not be
// silently ignored). A missing file yields the zero config.
func ReadModelConfig(path string) (ModelConfig, error) {
	var cfg ModelConfig
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, cfg.validate()
}

func (c *ModelConfig) validate() error {
	if c.Platform != "" && c.Platform != "onnxruntime_onnx" {
		return fmt.Errorf("platform %q is not served; use onnxruntime_onnx or leave it out", c.Platform)
	}
	if _, err := c.optimizationLevel(); err != nil {
		return err
	}
	if err := c.ProviderConfig.Validate(); err != nil {
		return err
	}
	if c.MaxBatchSize < 0 {
		return errors.New("max_batch_size must be 0 (no batching) or positive")
	}
	if c.MaxQueueSize < 0 || c.MaxQueueDelay < 0 || c.Timeout < 0 || c.Instances < 0 || c.PriorityLevels < 0 || c.DefaultPriority < 0 {
		return errors.New("max_queue_size, max_queue_delay, timeout, instances, priority_levels and default_priority must not be negative")
	}
	if c.MaxBatchSize == 0 && c.MaxQueueDelay != 0 {
		// Without max_batch_size nothing stacks, so nothing is worth
		// waiting for: accepting the delay would promise batches that
		// never form.
		return errors.New("max_queue_delay: a run waits for company only when requests stack; set max_batch_size (every input and output needs a dynamic first dimension) or remove it")
	}
	for _, p := range c.PreferredBatchSizes {
		if p <= 0 || p > c.MaxBatchSize {
			return fmt.Errorf("preferred_batch_sizes: %d must be between 1 and max_batch_size (%d)", p, c.MaxBatchSize)
		}
	}
	slices.Sort(c.PreferredBatchSizes)
	if c.DefaultPriority > max(c.PriorityLevels, 1) {
		return fmt.Errorf("default_priority %d is beyond priority_levels %d", c.DefaultPriority, max(c.PriorityLevels, 1))
	}
	if c.IntraOpThreads < 0 || c.InterOpThreads < 0 {
		return errors.New("intra_op_threads and inter_op_threads must be 0 (default) or positive")
	}
	for _, v := range c.Versions {
		if v <= 0 {
			return fmt.Errorf("versions: %d is not a positive version number", v)
		}
	}
	if c.DefaultVersion < 0 {
		return fmt.Errorf("default_version: %d is not a version number", c.DefaultVersion)
	}
	for _, t := range append(append([]TensorConfig(nil), c.Inputs...), c.Outputs...) {
		if t.Name == "" {
			return errors.New("inputs/outputs: every entry needs a name")
		}
		if t.DataType != "" && !ParseDataType([]byte(t.DataType)).Served() {
			return fmt.Errorf("tensor %q: datatype %q is not one of FP32 FP64 FP16 INT8..INT64 UINT8..UINT64 BOOL BYTES", t.Name, t.DataType)
		}
		for _, d := range t.Shape {
			if d < -1 {
				return fmt.Errorf("tensor %q: dimension %d is invalid (use -1 for dynamic)", t.Name, d)
			}
		}
	}
	return nil
}

func (c *ModelConfig) optimizationLevel() (int, error) {
	switch c.GraphOptimization {
	case "", "all":
		return 99, nil
	case "extended":
		return 2, nil
	case "basic":
		return 1, nil
	case "none":
		// ONNX Runtime's ORT_DISABLE_ALL is 0, which SessionOptions
		// reads as "unset"; -1 is mapped back to 0 below.
		return -1, nil
	}
	return 0, fmt.Errorf("graph_optimization %q: use none, basic, extended or all", c.GraphOptimization)
}

// applyDeclared checks declared tensors against what the file says and
// returns the effective infos requests are validated against.
func applyDeclared(kind string, file []TensorInfo, declared []TensorConfig) ([]TensorInfo, error) {
	out := make([]TensorInfo, len(file))
	copy(out, file)
	for _, d := range declared {
		i := -1
		for k := range out {
			if out[k].Name == d.Name {
				i = k
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("config.yaml declares %s %q but the model's %ss are %q", kind, d.Name, kind, tensorNames(file))
		}
		if d.DataType != "" && ParseDataType([]byte(d.DataType)) != out[i].DataType {
			return nil, fmt.Errorf("config.yaml declares %s %q as %s but the model file says %s", kind, d.Name, d.DataType, out[i].DataType)
		}
		if d.Shape != nil {
			if len(d.Shape) != len(out[i].Shape) {
				return nil, fmt.Errorf("config.yaml declares %s %q with shape %v but the model file's is %v", kind, d.Name, d.Shape, out[i].Shape)
			}
			shape := make([]int64, len(d.Shape))
			for k, v := range d.Shape {
				fileDim := out[i].Shape[k]
				switch {
				case fileDim == -1:
					shape[k] = v
				case v == -1 || v == fileDim:
					shape[k] = fileDim
				default:
					return nil, fmt.Errorf("config.yaml declares %s %q dimension %d as %d but the model file fixes it at %d", kind, d.Name, k, v, fileDim)
				}
			}
			out[i].Shape = shape
		}
	}
	return out, nil
}
