package monitor

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	rt "github.com/infergate/infergate/runtime"
)

// smallSpec is a model with two tabular inputs (3 columns in all) and a
// regression output.
func smallSpec(dir string) VersionSpec {
	return VersionSpec{Version: "1", Dir: dir,
		Inputs: []rt.TensorInfo{
			{Name: "a", DataType: rt.FP32, Shape: []int64{-1, 2}},
			{Name: "b", DataType: rt.INT64, Shape: []int64{-1}},
		},
		Outputs: []rt.TensorInfo{{Name: "y", DataType: rt.FP32, Shape: []int64{-1, 1}}},
	}
}

func refRows(n int) [][3]float64 {
	r := rand.New(rand.NewPCG(12, 12))
	rows := make([][3]float64, n)
	for i := range rows {
		rows[i] = [3]float64{r.NormFloat64(), 100 + 10*r.NormFloat64(), float64(r.IntN(5))}
	}
	return rows
}

func npy(descr string, fortran bool, shape string, body []byte) []byte {
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }", descr, map[bool]string{true: "True", false: "False"}[fortran], shape)
	for (10+len(header)+1)%64 != 0 {
		header += " "
	}
	header += "\n"
	b := []byte("\x93NUMPY\x01\x00")
	b = binary.LittleEndian.AppendUint16(b, uint16(len(header)))
	return append(append(b, header...), body...)
}

// referenceFiles writes the same rows as csv (with a header), jsonl (both
// line forms) and npy (float32 C order, float64 Fortran order).
func referenceFiles(rows [][3]float64) map[string][]byte {
	var csv, jsonl bytes.Buffer
	csv.WriteString("x0, x1, count\n")
	var f4, f8 []byte
	for i, r := range rows {
		fmt.Fprintf(&csv, "%v,%v,%v\n", r[0], r[1], r[2])
		if i%2 == 0 {
			fmt.Fprintf(&jsonl, "[%v, %v, %v]\n", r[0], r[1], r[2])
		} else {
			fmt.Fprintf(&jsonl, "{\"a\": [%v, %v], \"b\": [%v]}\n\n", r[0], r[1], r[2])
		}
		for _, x := range r {
			f4 = binary.LittleEndian.AppendUint32(f4, math.Float32bits(float32(x)))
		}
	}
	for c := range 3 {
		for _, r := range rows {
			f8 = binary.LittleEndian.AppendUint64(f8, math.Float64bits(r[c]))
		}
	}
	n := strconv.Itoa(len(rows))
	return map[string][]byte{
		"reference.csv":    csv.Bytes(),
		"reference.jsonl":  jsonl.Bytes(),
		"f4/reference.npy": npy("<f4", false, n+", 3", f4),
		"f8/reference.npy": npy("<f8", true, n+", 3", f8),
	}
}

func loadVersion(t *testing.T, dir string) (*version, error) {
	t.Helper()
	m := New("", nil)
	a, err := m.newModel("small", Config{SampleRate: 1}.WithDefaults(), []VersionSpec{smallSpec(dir)})
	if err != nil {
		return nil, err
	}
	return a.versions[0], nil
}

// Every format gives the same reference: the same sketches as the rows
// added directly (float32 rounding aside).
func TestReferenceFormats(t *testing.T) {
	rows := refRows(500)
	col := make([]float64, len(rows))
	for i, r := range rows {
		col[i] = r[2]
	}
	slices.Sort(col)
	for name, data := range referenceFiles(rows) {
		dir := filepath.Join(t.TempDir(), filepath.Dir(name))
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), data, 0o644); err != nil {
			t.Fatal(err)
		}
		v, err := loadVersion(t, dir)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, i := range v.tabular {
			f := &v.features[i]
			if !f.ready || f.ref.n != 500 {
				t.Fatalf("%s: feature %s ready %v with %v rows", name, f.name, f.ready, f.ref.n)
			}
		}
		if v.features[3].ready {
			t.Fatalf("%s: the output has a reference from an input file", name)
		}
		// Column 2 holds small integers, exact in float32: its quantiles
		// must match the rows' within the sketch's relative error, which
		// applies to the transformed value (x - center) / scale.
		f := &v.features[v.tabular[2]]
		for _, q := range []float64{0.1, 0.5, 0.9} {
			if got, w := f.ref.quantile(q)*f.scale+f.center, col[int(q*float64(len(col)-1))]; math.Abs(got-w) > relativeAccuracy*math.Abs(w-f.center)+1e-9 {
				t.Fatalf("%s: q%.1f = %v, want %v", name, q, got, w)
			}
		}
		wantName := "b"
		if name == "reference.csv" {
			wantName = "count"
		}
		if f.name != wantName {
			t.Fatalf("%s: third feature named %q, want %q", name, f.name, wantName)
		}
	}
}

func TestReferenceErrors(t *testing.T) {
	f := func(files map[string]string, want string) {
		t.Helper()
		dir := t.TempDir()
		for n, c := range files {
			os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644)
		}
		_, err := loadVersion(t, dir)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%v: error %v, want it to mention %q", files, err, want)
		}
	}
	f(map[string]string{"reference.csv": "1,2\n"}, "line 1 has 2 columns; the model's tabular inputs have 3")
	f(map[string]string{"reference.csv": "a,b,c\n1,2,3\n1,x,3\n"}, `line 3 column 2: "x" is not a number`)
	f(map[string]string{"reference.csv": "a,b,c\n"}, "no rows")
	f(map[string]string{"reference.csv": "1,2,3\n", "reference.npy": "x"}, "keep one")
	f(map[string]string{"reference.jsonl": "[1,2]\n"}, "line 1 has 2 values")
	f(map[string]string{"reference.jsonl": "{\"a\": [1,2], \"c\": [3]}\n"}, `key "c" is not an input; use one of "input", "a", "b"`)
	f(map[string]string{"reference.jsonl": "{\"a\": [1,2]}\n"}, `input "b" is missing`)
	f(map[string]string{"reference.jsonl": "[1,2,\"x\"]\n"}, "line 1")
	f(map[string]string{"reference.jsonl": "7\n"}, "write a JSON array")
	f(map[string]string{"reference.npy": "not numpy"}, "no \\x93NUMPY magic")
	f(map[string]string{"reference.npy": string(npy("<i8", false, "1, 3", make([]byte, 24)))}, `dtype "<i8"`)
	f(map[string]string{"reference.npy": string(npy(">f4", false, "1, 3", make([]byte, 12)))}, "little-endian")
	f(map[string]string{"reference.npy": string(npy("<f4", false, "2, 3", make([]byte, 12)))}, "truncated")
	f(map[string]string{"reference.npy": string(npy("<f4", false, "2, 4", make([]byte, 32)))}, "has 4 columns")
	f(map[string]string{"reference.npy": string(npy("<f4", false, "2, 3, 1", make([]byte, 24)))}, "2-D")
	f(map[string]string{"reference.npy": "\x93NUMPY\x01\x00\xff\xff{}"}, "truncated .npy header")
}

// References learnt from traffic, and the concept reference, survive a
// restart; a changed shipped file invalidates what was learnt against it.
func TestReferencePersistence(t *testing.T) {
	dataDir := t.TempDir()
	cfg := Config{SampleRate: 1, ReferenceSize: 300, WindowSize: 100, FeedbackWindow: 50}
	m := New(dataDir, nil)
	tap, err := m.AddModel("fraud", cfg, []VersionSpec{fraudSpec("")})
	if err != nil {
		t.Fatal(err)
	}
	g := newStream(13)
	for range 400 {
		s := pushFolded(m, tap, g)
		y := 0.0
		if g.x[0] > 0 {
			y = 1
		}
		if err := m.Feedback("fraud", s.RequestID, y); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := m.Drift("fraud")
	a := m.model("fraud")
	wantBins := a.versions[0].features[5].ref.bins(nil)
	wantCats := slices.Clone(a.versions[0].cats[0].ref)
	m.Close()

	m = New(dataDir, nil)
	defer m.Close()
	if _, err := m.AddModel("fraud", cfg, []VersionSpec{fraudSpec("")}); err != nil {
		t.Fatal(err)
	}
	after, _ := m.Drift("fraud")
	v := after.Versions[0]
	if !v.Reference.Complete || v.Concept.Reference == nil || *v.Concept.Reference != *before.Versions[0].Concept.Reference {
		t.Fatalf("after restart: reference %+v, concept %+v", v.Reference, v.Concept)
	}
	b := m.model("fraud").versions[0]
	if !slices.Equal(b.features[5].ref.bins(nil), wantBins) || !slices.Equal(b.cats[0].ref, wantCats) {
		t.Fatal("restored reference sketches differ from the persisted ones")
	}
	if b.features[5].scale != a.versions[0].features[5].scale {
		t.Fatal("the feature transform was not restored")
	}
	m.Close()

	// A persisted profile made without a shipped file is ignored once a
	// file ships: outputs relearn.
	dir := t.TempDir()
	var csv strings.Builder
	for i := range 50 {
		for j := range fraudFeatures {
			if j > 0 {
				csv.WriteByte(',')
			}
			csv.WriteString(strconv.Itoa(i + j))
		}
		csv.WriteByte('\n')
	}
	os.WriteFile(filepath.Join(dir, "reference.csv"), []byte(csv.String()), 0o644)
	m = New(dataDir, nil)
	if _, err := m.AddModel("fraud", cfg, []VersionSpec{fraudSpec(dir)}); err != nil {
		t.Fatal(err)
	}
	c := m.model("fraud").versions[0]
	if !c.features[0].ready || c.features[fraudFeatures].ready || c.concept.refReady {
		t.Fatal("a profile learnt without the shipped file was used with it")
	}
}
