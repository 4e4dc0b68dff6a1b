package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSynthesize(t *testing.T) {
	type tensor struct {
		Name     string  `json:"name"`
		Shape    []int64 `json:"shape"`
		Datatype string  `json:"datatype"`
		Data     []any   `json:"data"`
	}
	f := func(inputs []TensorMeta, s Synth, want []tensor) {
		t.Helper()
		bodies, err := Synthesize(ModelMeta{Name: "m", Inputs: inputs}, s)
		if err != nil {
			t.Fatalf("%v: %v", inputs, err)
		}
		var req struct {
			Inputs []tensor `json:"inputs"`
		}
		if err := json.Unmarshal(bodies[0], &req); err != nil {
			t.Fatalf("%s: %v", bodies[0], err)
		}
		for i, w := range want {
			g := req.Inputs[i]
			if g.Name != w.Name || g.Datatype != w.Datatype || len(g.Shape) != len(w.Shape) || len(g.Data) != len(w.Data) {
				t.Errorf("input %d: got %s %s %v with %d elements, want %s %s %v with %d", i, g.Name, g.Datatype, g.Shape, len(g.Data), w.Name, w.Datatype, w.Shape, len(w.Data))
			}
			for d := range g.Shape {
				if g.Shape[d] != w.Shape[d] {
					t.Errorf("input %d: shape %v, want %v", i, g.Shape, w.Shape)
				}
			}
		}
	}
	n := func(k int) []any { return make([]any, k) }
	f([]TensorMeta{{"x", "FP32", []int64{-1, 4}}}, Synth{}, []tensor{{"x", []int64{1, 4}, "FP32", n(4)}})
	f([]TensorMeta{{"x", "FP32", []int64{-1, 4}}}, Synth{Batch: 8}, []tensor{{"x", []int64{8, 4}, "FP32", n(32)}})
	f([]TensorMeta{{"img", "UINT8", []int64{-1, 3, -1, -1}}}, Synth{Batch: 2, Dynamic: 5}, []tensor{{"img", []int64{2, 3, 5, 5}, "UINT8", n(150)}})
	f([]TensorMeta{{"s", "FP64", []int64{}}}, Synth{}, []tensor{{"s", []int64{}, "FP64", n(1)}})
	f([]TensorMeta{{"a", "BOOL", []int64{2}}, {"b", "BYTES", []int64{-1}}, {"c", "INT64", []int64{-1, 2}}, {"d", "FP16", []int64{1}}},
		Synth{}, []tensor{{"a", []int64{2}, "BOOL", n(2)}, {"b", []int64{1}, "BYTES", n(1)}, {"c", []int64{1, 2}, "INT64", n(2)}, {"d", []int64{1}, "FP16", n(1)}})

	bad := func(inputs []TensorMeta, s Synth, want string) {
		t.Helper()
		_, err := Synthesize(ModelMeta{Name: "m", Inputs: inputs}, s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v %+v: error %v, want one mentioning %q", inputs, s, err, want)
		}
	}
	bad(nil, Synth{}, "declares no inputs")
	bad([]TensorMeta{{"x", "FP32", []int64{1, 4}}}, Synth{Batch: 4}, "fixed first dimension")
	bad([]TensorMeta{{"x", "FP32", []int64{-1, -1}}}, Synth{Batch: 1 << 20, Dynamic: 1 << 20}, "lower -batch")
	bad([]TensorMeta{{"x", "COMPLEX64", []int64{1}}}, Synth{}, "cannot be synthesized")
	bad([]TensorMeta{{"x", "FP32", []int64{1}}}, Synth{Batch: -1}, "positive")
}

func TestSynthesizeIsSeeded(t *testing.T) {
	in := []TensorMeta{{"x", "FP32", []int64{-1, 16}}}
	a, _ := Synthesize(ModelMeta{Inputs: in}, Synth{Seed: 3, Count: 2})
	b, _ := Synthesize(ModelMeta{Inputs: in}, Synth{Seed: 3, Count: 2})
	c, _ := Synthesize(ModelMeta{Inputs: in}, Synth{Seed: 4, Count: 2})
	if string(a[0]) != string(b[0]) || string(a[0]) == string(c[0]) || string(a[0]) == string(a[1]) {
		t.Error("bodies must depend on the seed only, and differ from each other")
	}
}

func TestReadBodies(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	one := write("a.json", `{"inputs":[]}`)
	write("b.json", `{"inputs":[1]}`)
	write(".hidden", `not json`)
	if b, err := ReadBodies(one); err != nil || len(b) != 1 {
		t.Errorf("file: %d bodies, %v", len(b), err)
	}
	if b, err := ReadBodies(dir); err != nil || len(b) != 2 || string(b[1]) != `{"inputs":[1]}` {
		t.Errorf("directory: %q, %v", b, err)
	}
	bad := write("c.txt", `{"inputs":`)
	if _, err := ReadBodies(bad); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("invalid JSON: %v", err)
	}
	if _, err := ReadBodies(t.TempDir()); err == nil {
		t.Error("empty directory: no error")
	}
	if _, err := ReadBodies(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
}
