package runtime

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadModelConfigErrors(t *testing.T) {
	// f reads text as a config.yaml; wantErr lists substrings the error
	// must contain, and none means it must be accepted.
	f := func(text string, wantErr ...string) {
		t.Helper()
		_, err := ReadModelConfig(writeConfig(t, text))
		if len(wantErr) == 0 {
			if err != nil {
				t.Errorf("ReadModelConfig(%q): unexpected error %v", text, err)
			}
			return
		}
		if err == nil {
			t.Errorf("ReadModelConfig(%q): no error, want one mentioning %q", text, wantErr)
			return
		}
		for _, w := range wantErr {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ReadModelConfig(%q) = %v; want it to mention %q", text, err, w)
			}
		}
	}

	f("")
	f("# only a comment\n")
	f("name: m\nplatform: onnxruntime_onnx\n")
	f("graph_optimization: none\n")
	f("graph_optimization: basic\n")
	f("graph_optimization: extended\n")
	f("graph_optimization: all\n")
	f("intra_op_threads: 0\ninter_op_threads: 0\n")
	f("versions: [1, 2]\ndefault_version: 2\n")
	f("inputs:\n- name: x\n  datatype: FP16\n  shape: [-1, 0, 3]\n")
	f("outputs:\n- name: y\n")

	// Strict decoding: an unknown key is named.
	f("intra_op_thread: 2\n", "intra_op_thread")
	f("name: m\nmax_batch_sise: 8\n", "max_batch_sise")
	f("inputs:\n- name: x\n  dims: [1]\n", "dims")
	f("outputs:\n- name: y\n  data_type: FP32\n", "data_type")

	f("name: [unclosed\n", "config.yaml")
	f("versions: one\n", "config.yaml")

	f("platform: tensorflow_savedmodel\n", "tensorflow_savedmodel", "onnxruntime_onnx")
	f("platform: onnxruntime\n", "onnxruntime")
	f("graph_optimization: max\n", "graph_optimization", "max")
	f("graph_optimization: ALL\n", "ALL")
	f("intra_op_threads: -1\n", "intra_op_threads")
	f("inter_op_threads: -2\n", "inter_op_threads")
	f("versions: [1, 0]\n", "versions", "0")
	f("versions: [-3]\n", "-3")
	f("default_version: -1\n", "default_version")

	// The queue serves models that do not batch too; the delay and the
	// preferred sizes are about stacking.
	f("max_batch_size: 8\nmax_queue_size: 16\nmax_queue_delay: 100\ntimeout: 5000\npriority_levels: 2\n")
	f("max_queue_size: 16\ntimeout: 5000\npriority_levels: 2\ndefault_priority: 1\n")
	f("max_queue_delay: 100\n", "max_queue_delay", "max_batch_size")
	f("max_batch_size: 0\nmax_queue_delay: 100\n", "max_queue_delay", "max_batch_size")
	f("preferred_batch_sizes: [4]\n", "preferred_batch_sizes", "max_batch_size")

	f("inputs:\n- name: x\n  datatype: FP8\n", `"x"`, "FP8")
	f("inputs:\n- name: x\n  datatype: fp32\n", "fp32")
	f("inputs:\n- name: x\n  datatype: BF16\n", "BF16")
	f("outputs:\n- name: y\n  datatype: STRING\n", `"y"`, "STRING")
	f("inputs:\n- name: x\n  shape: [-1, -2]\n", `"x"`, "-2")
	f("outputs:\n- name: y\n  shape: [-5]\n", `"y"`, "-5")
	f("inputs:\n- datatype: FP32\n", "name")
	f("outputs:\n- shape: [1]\n", "name")
}

func TestReadModelConfigMissingFile(t *testing.T) {
	cfg, err := ReadModelConfig(filepath.Join(t.TempDir(), "config.yaml"))
	if err != nil {
		t.Fatalf("missing config.yaml: %v", err)
	}
	if !reflect.DeepEqual(cfg, ModelConfig{}) {
		t.Fatalf("missing config.yaml gave %+v, want the zero config", cfg)
	}
}

func TestReadModelConfigUnreadable(t *testing.T) {
	// A directory where the file should be is an error, not a default.
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadModelConfig(path); err == nil {
		t.Fatal("config.yaml that is a directory: no error")
	}
}

func TestReadModelConfigFields(t *testing.T) {
	cfg, err := ReadModelConfig(writeConfig(t, `
name: fraud
platform: onnxruntime_onnx
description: a classifier
versions: [3, 1]
default_version: 3
intra_op_threads: 4
inter_op_threads: 2
graph_optimization: extended
inputs:
  - name: features
    datatype: FP32
    shape: [-1, 30]
outputs:
  - name: probabilities
    shape: [8, 2]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := ModelConfig{
		Name:              "fraud",
		Platform:          "onnxruntime_onnx",
		Description:       "a classifier",
		Versions:          []int64{3, 1},
		DefaultVersion:    3,
		IntraOpThreads:    4,
		InterOpThreads:    2,
		GraphOptimization: "extended",
		Inputs:            []TensorConfig{{Name: "features", DataType: "FP32", Shape: []int64{-1, 30}}},
		Outputs:           []TensorConfig{{Name: "probabilities", Shape: []int64{8, 2}}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("ReadModelConfig =\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestOptimizationLevel(t *testing.T) {
	f := func(name string, want int, wantErr bool) {
		t.Helper()
		c := ModelConfig{GraphOptimization: name}
		got, err := c.optimizationLevel()
		if got != want || (err != nil) != wantErr {
			t.Errorf("optimizationLevel(%q) = %d, %v; want %d, error %v", name, got, err, want, wantErr)
		}
	}
	f("", 99, false)
	f("all", 99, false)
	f("extended", 2, false)
	f("basic", 1, false)
	f("none", -1, false)
	f("disabled", 0, true)
}

func TestApplyDeclared(t *testing.T) {
	file := []TensorInfo{
		{Name: "x", DataType: FP32, Shape: []int64{-1, 4}},
		{Name: "mask", DataType: BOOL, Shape: []int64{-1}},
		{Name: "s", DataType: INT64, Shape: []int64{}},
	}
	// f applies declared to file; want is the effective x shape, or nil
	// for an error that must mention every wantErr substring.
	f := func(declared []TensorConfig, want []int64, wantErr ...string) {
		t.Helper()
		got, err := applyDeclared("input", file, declared)
		if want == nil {
			if err == nil {
				t.Errorf("applyDeclared(%+v): no error, want one mentioning %q", declared, wantErr)
				return
			}
			for _, w := range wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("applyDeclared(%+v) = %v; want it to mention %q", declared, err, w)
				}
			}
			return
		}
		if err != nil {
			t.Errorf("applyDeclared(%+v): %v", declared, err)
			return
		}
		if len(got) != len(file) {
			t.Errorf("applyDeclared(%+v) returned %d infos, want %d", declared, len(got), len(file))
			return
		}
		if !reflect.DeepEqual(got[0].Shape, want) {
			t.Errorf("applyDeclared(%+v): x shape %v, want %v", declared, got[0].Shape, want)
		}
		for i := range got {
			if got[i].Name != file[i].Name || got[i].DataType != file[i].DataType {
				t.Errorf("applyDeclared(%+v) changed info %d to %+v", declared, i, got[i])
			}
		}
	}

	f(nil, []int64{-1, 4})
	f([]TensorConfig{{Name: "x"}}, []int64{-1, 4})
	f([]TensorConfig{{Name: "x", DataType: "FP32"}}, []int64{-1, 4})
	f([]TensorConfig{{Name: "x", Shape: []int64{8, 4}}}, []int64{8, 4})
	f([]TensorConfig{{Name: "x", Shape: []int64{8, -1}}}, []int64{8, 4})
	f([]TensorConfig{{Name: "x", Shape: []int64{-1, -1}}}, []int64{-1, 4})
	f([]TensorConfig{{Name: "x", Shape: []int64{0, 4}}}, []int64{0, 4})
	f([]TensorConfig{{Name: "mask", Shape: []int64{16}}, {Name: "x", DataType: "FP32", Shape: []int64{2, 4}}}, []int64{2, 4})
	f([]TensorConfig{{Name: "s", Shape: []int64{}}}, []int64{-1, 4})

	f([]TensorConfig{{Name: "x", Shape: []int64{-1, 5}}}, nil, `"x"`, "dimension 1", "5", "4")
	f([]TensorConfig{{Name: "x", Shape: []int64{2, 3}}}, nil, "3", "4")
	f([]TensorConfig{{Name: "x", Shape: []int64{4}}}, nil, `"x"`, "[4]", "[-1 4]")
	f([]TensorConfig{{Name: "x", Shape: []int64{1, 4, 1}}}, nil, `"x"`)
	f([]TensorConfig{{Name: "s", Shape: []int64{1}}}, nil, `"s"`)
	f([]TensorConfig{{Name: "y"}}, nil, `"y"`, "x", "mask")
	f([]TensorConfig{{Name: "X"}}, nil, `"X"`)
	f([]TensorConfig{{Name: "x"}, {Name: "nope"}}, nil, `"nope"`)
	f([]TensorConfig{{Name: "x", DataType: "FP64"}}, nil, `"x"`, "FP64", "FP32")
	f([]TensorConfig{{Name: "mask", DataType: "UINT8"}}, nil, "UINT8", "BOOL")
	f([]TensorConfig{{Name: "s", DataType: "INT32"}}, nil, "INT32", "INT64")

	// The file's infos are left as they were: the narrowing lands in a copy.
	got, err := applyDeclared("output", file, []TensorConfig{{Name: "x", Shape: []int64{8, 4}}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(file[0].Shape, []int64{-1, 4}) {
		t.Fatalf("applyDeclared modified the file's shape: %v", file[0].Shape)
	}
	got[0].Shape[0] = 99
	if file[0].Shape[0] != -1 {
		t.Fatal("the narrowed shape shares memory with the file's")
	}

	// kind names the side in errors.
	if _, err := applyDeclared("output", file, []TensorConfig{{Name: "zz"}}); err == nil || !strings.Contains(err.Error(), "output") {
		t.Fatalf("applyDeclared(output, zz) = %v; want it to mention output", err)
	}
}
