package bench

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestCombinations(t *testing.T) {
	sw := Sweep{MaxBatchSize: []int64{0, 16}, MaxQueueDelay: []int64{0, 100}, Instances: []int64{1, 2}}
	got := sw.combinations()
	var names []string
	for _, c := range got {
		names = append(names, describe(c))
	}
	// Batching off is tried once, without a delay.
	want := []string{
		"max_batch_size=0 instances=1",
		"max_batch_size=0 instances=2",
		"max_batch_size=16 max_queue_delay=0 instances=1",
		"max_batch_size=16 max_queue_delay=0 instances=2",
		"max_batch_size=16 max_queue_delay=100 instances=1",
		"max_batch_size=16 max_queue_delay=100 instances=2",
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("combinations:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	if got := (&Sweep{}).combinations(); len(got) != 1 || describe(got[0]) != "the repository's config" {
		t.Errorf("no axes: %v", got)
	}
}

func TestWriteRepository(t *testing.T) {
	src := filepath.Join(t.TempDir(), "m")
	if err := os.MkdirAll(filepath.Join(src, "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "1", "model.onnx"), []byte("onnx"), 0o644)
	os.WriteFile(filepath.Join(src, "config.yaml"), []byte("# keep me\nname: m\nmax_batch_size: 64\n"), 0o644)
	dst := filepath.Join(t.TempDir(), "m")
	if err := writeRepository(src, dst, map[string]int64{"max_batch_size": 8, "instances": 2}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# keep me", "name: m", "max_batch_size: 8", "instances: 2"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config.yaml lacks %q:\n%s", want, b)
		}
	}
	if fi, err := os.Stat(filepath.Join(dst, "1")); err != nil || !fi.IsDir() {
		t.Error("version folder must be a real folder")
	}
	if l, err := os.Readlink(filepath.Join(dst, "1", "model.onnx")); err != nil || !strings.HasSuffix(l, filepath.Join("m", "1", "model.onnx")) {
		t.Errorf("model file link: %q %v", l, err)
	}
	// Batching off drops the keys about stacking, which a model without
	// batching refuses, and keeps the rest.
	os.WriteFile(filepath.Join(src, "config.yaml"), []byte("name: m\nmax_batch_size: 64\nmax_queue_size: 8\ntimeout: 100\npreferred_batch_sizes: [4]\ninstances: 3\n"), 0o644)
	dst0 := filepath.Join(t.TempDir(), "m")
	if err := writeRepository(src, dst0, map[string]int64{"max_batch_size": 0, "max_queue_delay": 100}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst0, "config.yaml")); string(b) != "name: m\nmax_batch_size: 0\nmax_queue_size: 8\ntimeout: 100\ninstances: 3\n" {
		t.Errorf("batching off: config.yaml %q", b)
	}
	// No config.yaml at all: one is written with the keys.
	os.Remove(filepath.Join(src, "config.yaml"))
	dst2 := filepath.Join(t.TempDir(), "m")
	if err := writeRepository(src, dst2, map[string]int64{"max_queue_delay": 100}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst2, "config.yaml")); strings.TrimSpace(string(b)) != "max_queue_delay: 100" {
		t.Errorf("new config.yaml: %q", b)
	}
}

func TestCountCPUs(t *testing.T) {
	f := func(list string, want int, ok bool) {
		t.Helper()
		n, err := countCPUs(list)
		if (err == nil) != ok || n != want {
			t.Errorf("countCPUs(%q) = %d, %v", list, n, err)
		}
	}
	f("0", 1, true)
	f("0-3", 4, true)
	f("0,2,4-5", 4, true)
	f("3-1", 0, false)
	f("a", 0, false)
	f("", 0, false)
}
