package monitor

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// A version's reference distribution comes from, in order:
//
//  1. <version dir>/reference.csv, .jsonl or .npy, shipped with the model:
//     rows of its tabular inputs (every [N, F] or [N] input, columns
//     concatenated in input order). It covers those features only.
//  2. The profile persisted under <dataDir>/<model>/<version>/ by an
//     earlier run, for the features the file does not cover (outputs,
//     per-channel moments) and the concept reference; it is used only if
//     it was made against the same shipped file (same SHA-256) or none.
//  3. The first ReferenceSize served rows, for whatever is still missing.
//
// Accepted files:
//
//	reference.csv    comma-separated numbers, one row per line; the first
//	                 line is a header of feature names if any field in it
//	                 is not a number (the names then label the features).
//	reference.jsonl  one row per line: a JSON array of numbers, or an
//	                 object {"input": [...]} (the whole row), or an object
//	                 whose keys are the tabular input names, each an array
//	                 of that input's columns. Blank lines are skipped.
//	reference.npy    a 2-D (rows, columns) array, or 1-D for one column,
//	                 of little-endian float32 ('<f4') or float64 ('<f8'),
//	                 C or Fortran order, NumPy format 1.0, 2.0 or 3.0.

var referenceNames = []string{"reference.csv", "reference.jsonl", "reference.npy"}

// findReference returns the version's shipped reference file, "" if none.
func findReference(dir string) (string, error) {
	if dir == "" {
		return "", nil
	}
	var found []string
	for _, n := range referenceNames {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return "", nil
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%s ships %d reference files (%s); keep one", dir, len(found), strings.Join(found, ", "))
}

// loadReferenceFile reads a shipped reference into the version's tabular
// features. It returns the file's SHA-256 and, for a CSV with a header,
// the feature names.
func (v *version) loadReferenceFile(path string) (fingerprint string, names []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(data)
	fingerprint = hex.EncodeToString(sum[:])
	if len(v.tabular) == 0 {
		return "", nil, fmt.Errorf("%s: the model has no tabular input ([N, F] or [N]) for a reference file to describe; remove the file", path)
	}
	row := func(xs []float64) {
		for j, x := range xs {
			v.features[v.tabular[j]].add(x)
		}
	}
	switch filepath.Ext(path) {
	case ".csv":
		names, err = readCSV(data, len(v.tabular), row)
	case ".jsonl":
		err = readJSONL(data, v.tabularTensors, row)
	case ".npy":
		err = readNPY(data, len(v.tabular), row)
	}
	if err != nil {
		for _, i := range v.tabular {
			f := &v.features[i]
			f.ref.clear()
			f.pending, f.fixed = nil, false
		}
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	if f := &v.features[v.tabular[0]]; f.ref.n == 0 && len(f.pending) == 0 {
		return "", nil, fmt.Errorf("%s: no rows; add rows of the model's inputs or remove the file to learn the reference from traffic", path)
	}
	return fingerprint, names, nil
}

func readCSV(data []byte, columns int, row func([]float64)) ([]string, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	xs := make([]float64, columns)
	var names []string
	for line := 1; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		if len(rec) != columns {
			return nil, fmt.Errorf("line %d has %d columns; the model's tabular inputs have %d", line, len(rec), columns)
		}
		bad := -1
		for j, f := range rec {
			x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				bad = j
				break
			}
			xs[j] = x
		}
		switch {
		case bad >= 0 && line == 1:
			names = append([]string(nil), rec...)
			for j := range names {
				names[j] = strings.TrimSpace(names[j])
			}
			continue
		case bad >= 0:
			return nil, fmt.Errorf("line %d column %d: %q is not a number", line, bad+1, rec[bad])
		}
		row(xs)
	}
}

func readJSONL(data []byte, tensors []tabularTensor, row func([]float64)) error {
	columns := 0
	keys := []string{`"input"`}
	for _, t := range tensors {
		columns += t.width
		keys = append(keys, strconv.Quote(t.name))
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	xs := make([]float64, 0, columns)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		xs = xs[:0]
		switch b[0] {
		case '[':
			if err := json.Unmarshal(b, &xs); err != nil {
				return fmt.Errorf("line %d: %v; write an array of numbers", line, err)
			}
		case '{':
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(b, &obj); err != nil {
				return fmt.Errorf("line %d: %v", line, err)
			}
			if in, ok := obj["input"]; ok && len(obj) == 1 {
				if err := json.Unmarshal(in, &xs); err != nil {
					return fmt.Errorf("line %d: \"input\": %v; write an array of numbers", line, err)
				}
				break
			}
			for k := range obj {
				known := false
				for _, t := range tensors {
					known = known || t.name == k
				}
				if !known {
					return fmt.Errorf("line %d: key %q is not an input; use one of %s", line, k, strings.Join(keys, ", "))
				}
			}
			for _, t := range tensors {
				raw, ok := obj[t.name]
				if !ok {
					return fmt.Errorf("line %d: input %q is missing", line, t.name)
				}
				var part []float64
				if err := json.Unmarshal(raw, &part); err != nil {
					return fmt.Errorf("line %d: %q: %v; write an array of numbers", line, t.name, err)
				}
				if len(part) != t.width {
					return fmt.Errorf("line %d: input %q has %d values; the model's has %d", line, t.name, len(part), t.width)
				}
				xs = append(xs, part...)
			}
		default:
			return fmt.Errorf("line %d: write a JSON array of numbers or an object of inputs", line)
		}
		if len(xs) != columns {
			return fmt.Errorf("line %d has %d values; the model's tabular inputs have %d", line, len(xs), columns)
		}
		row(xs)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%v (lines are limited to 16 MiB)", err)
	}
	return nil
}

var (
	npyDescr   = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

// readNPY parses NumPy's .npy format (numpy.lib.format): a magic string,
// a version, a header length and a Python dict literal, then the data.
func readNPY(data []byte, columns int, row func([]float64)) error {
	if len(data) < 10 || string(data[:6]) != "\x93NUMPY" {
		return errors.New("not a NumPy .npy file (no \\x93NUMPY magic)")
	}
	var hlen, start int
	switch data[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(data[8:])), 10
	case 2, 3:
		if len(data) < 12 {
			return errors.New("truncated .npy header")
		}
		hlen, start = int(binary.LittleEndian.Uint32(data[8:])), 12
	default:
		return fmt.Errorf(".npy format version %d.%d is not supported; save with numpy.save", data[6], data[7])
	}
	if hlen < 0 || start+hlen > len(data) {
		return errors.New("truncated .npy header")
	}
	header := string(data[start : start+hlen])
	body := data[start+hlen:]
	d := npyDescr.FindStringSubmatch(header)
	f := npyFortran.FindStringSubmatch(header)
	s := npyShape.FindStringSubmatch(header)
	if d == nil || f == nil || s == nil {
		return fmt.Errorf(".npy header %q lacks descr, fortran_order or shape", strings.TrimSpace(header))
	}
	var size int
	switch d[1] {
	case "<f4":
		size = 4
	case "<f8":
		size = 8
	default:
		return fmt.Errorf(".npy dtype %q: save the array as little-endian float32 or float64 (x.astype('<f4'))", d[1])
	}
	var dims []int
	for _, p := range strings.Split(s[1], ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return fmt.Errorf(".npy shape (%s) is not a shape", s[1])
		}
		dims = append(dims, n)
	}
	var rows, cols int
	switch {
	case len(dims) == 2:
		rows, cols = dims[0], dims[1]
	case len(dims) == 1 && columns == 1:
		rows, cols = dims[0], 1
	default:
		return fmt.Errorf(".npy shape %v: save a 2-D array of (rows, %d columns)", dims, columns)
	}
	if cols != columns {
		return fmt.Errorf(".npy has %d columns; the model's tabular inputs have %d", cols, columns)
	}
	if rows > 0 && cols > 0 && len(body)/size/cols < rows {
		return fmt.Errorf(".npy data is truncated: %d bytes for %d x %d values of %d bytes", len(body), rows, cols, size)
	}
	fortran := f[1] == "True"
	xs := make([]float64, cols)
	at := func(i int) float64 {
		if size == 4 {
			return float64(math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:])))
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(body[8*i:]))
	}
	for r := range rows {
		for c := range cols {
			if fortran {
				xs[c] = at(c*rows + r)
			} else {
				xs[c] = at(r*cols + c)
			}
		}
		row(xs)
	}
	return nil
}

// profile is a version's reference as persisted: JSON around DDSketch
// protobufs, so a person can read what it holds and any DDSketch library
// can read the sketches.
type profile struct {
	Format      int              `json:"format"`
	Model       string           `json:"model"`
	Version     string           `json:"version"`
	Fingerprint string           `json:"reference_file_sha256,omitempty"`
	Features    []profileFeature `json:"features"`
	Classes     []profileClasses `json:"classes,omitempty"`
	Concept     *profileConcept  `json:"concept,omitempty"`
}

type profileFeature struct {
	Name string `json:"name"`
	// Center and Scale are the transform values go through before they
	// are sketched (see feature).
	Center float64 `json:"center"`
	Scale  float64 `json:"scale"`
	Sketch []byte  `json:"ddsketch"` // base64 of the protobuf
}

type profileClasses struct {
	Name   string    `json:"name"`
	Counts []float64 `json:"counts"`
}

type profileConcept struct {
	Task   string  `json:"task"`
	Sum    float64 `json:"sum"`
	Labels float64 `json:"labels"`
}

const profileFormat = 1

// profilePath is where a version's profile lives. Names are escaped so a
// model called "../x" stays inside dataDir.
func profilePath(dataDir, model, version string) string {
	esc := func(s string) string {
		s = strings.NewReplacer("/", "%2F", "\\", "%5C").Replace(s)
		if s == "." || s == ".." || s == "" {
			s = "%" + s
		}
		return s
	}
	return filepath.Join(dataDir, esc(model), esc(version), "reference.profile.json")
}

// persist writes v's completed references; it is a no-op without a
// dataDir. Errors are logged: losing the profile costs a relearn, not
// service.
func (a *model) persist(v *version) {
	if a.dir == "" {
		return
	}
	p := profile{Format: profileFormat, Model: a.name, Version: v.name, Fingerprint: v.refFingerprint}
	for i := range v.features {
		f := &v.features[i]
		if !f.ready {
			continue
		}
		b, err := f.ref.marshal()
		if err != nil {
			a.log.Warn("monitor: cannot encode reference sketch", "model", a.name, "version", v.name, "feature", f.name, "err", err)
			return
		}
		p.Features = append(p.Features, profileFeature{f.name, f.center, f.scale, b})
	}
	for i := range v.cats {
		if v.cats[i].ready {
			p.Classes = append(p.Classes, profileClasses{v.cats[i].name, v.cats[i].ref})
		}
	}
	a.mu.Lock()
	if c := v.concept; c.refReady {
		p.Concept = &profileConcept{a.task, c.refSum, c.refN}
	}
	a.mu.Unlock()
	if len(p.Features) == 0 && len(p.Classes) == 0 && p.Concept == nil {
		return
	}
	if err := writeProfile(profilePath(a.dir, a.name, v.name), &p); err != nil {
		a.log.Warn("monitor: cannot persist reference; it will be relearnt after a restart", "model", a.name, "version", v.name, "err", err)
	}
}

// writeProfile writes atomically: a crash leaves the old file or the new.
func writeProfile(path string, p *profile) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// restore loads a persisted profile into the features it covers that the
// shipped file did not. A profile made against another reference file, or
// one that does not parse, is ignored (and logged): the reference is then
// relearnt.
func (a *model) restore(v *version) {
	if a.dir == "" {
		return
	}
	path := profilePath(a.dir, a.name, v.name)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var p profile
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err == nil && p.Format != profileFormat {
		err = fmt.Errorf("format %d, this build writes %d", p.Format, profileFormat)
	}
	if err != nil {
		a.log.Warn("monitor: ignoring persisted reference", "path", path, "err", err)
		return
	}
	if p.Fingerprint != v.refFingerprint {
		a.log.Info("monitor: the shipped reference file changed; relearning the rest of the reference", "model", a.name, "version", v.name)
		return
	}
	for _, pf := range p.Features {
		for i := range v.features {
			f := &v.features[i]
			if f.name != pf.Name || f.ready {
				continue
			}
			if !(pf.Scale > 0) || math.IsInf(pf.Scale, 0) || math.IsNaN(pf.Center) || math.IsInf(pf.Center, 0) {
				a.log.Warn("monitor: ignoring persisted sketch with an invalid transform", "path", path, "feature", f.name)
				continue
			}
			if err := f.ref.unmarshal(pf.Sketch); err != nil {
				a.log.Warn("monitor: ignoring persisted sketch", "path", path, "feature", f.name, "err", err)
				f.ref.clear()
				continue
			}
			f.pending = nil
			f.setTransform(pf.Center, pf.Scale)
			f.setReady()
		}
	}
	for _, pc := range p.Classes {
		for i := range v.cats {
			c := &v.cats[i]
			if c.name == pc.Name && !c.ready && len(pc.Counts) == len(c.ref) {
				copy(c.ref, pc.Counts)
				c.setReady()
			}
		}
	}
	if pc := p.Concept; pc != nil && pc.Task == a.task && pc.Labels > 0 && pc.Sum >= 0 {
		a.mu.Lock()
		v.concept.refSum, v.concept.refN, v.concept.refReady = pc.Sum, pc.Labels, true
		a.mu.Unlock()
	}
}
