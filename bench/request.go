package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxBodyBytes bounds a body read from disk or synthesized: a planner
// pointing at the wrong file (or at a model with huge dynamic inputs)
// should get an error, not an out-of-memory kill.
const maxBodyBytes = 256 << 20

// ReadBodies reads request bodies from a JSON file, or from every regular
// file of a directory in name order (sent in turn). Each must be valid JSON;
// the harness does not check it against the model.
func ReadBodies(path string) ([][]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if fi.IsDir() {
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		files = files[:0]
		for _, e := range ents {
			if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s holds no request files", path)
		}
	}
	var bodies [][]byte
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		if fi.Size() > maxBodyBytes {
			return nil, fmt.Errorf("%s: %d bytes is over the %d-byte limit for a request body", f, fi.Size(), maxBodyBytes)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if !json.Valid(b) {
			return nil, fmt.Errorf("%s is not valid JSON (the harness sends OIP v2 JSON bodies as they are)", f)
		}
		bodies = append(bodies, b)
	}
	return bodies, nil
}

// TensorMeta is one input of OIP v2 model metadata.
type TensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// ModelMeta is OIP v2 model metadata (GET /v2/models/{name}).
type ModelMeta struct {
	Name     string       `json:"name"`
	Versions []string     `json:"versions"`
	Platform string       `json:"platform"`
	Inputs   []TensorMeta `json:"inputs"`
	Outputs  []TensorMeta `json:"outputs"`
}

// FetchMetadata asks the server for the model's metadata.
func FetchMetadata(target, model, version string, timeout time.Duration) (ModelMeta, error) {
	u := strings.TrimRight(target, "/") + "/v2/models/" + url.PathEscape(model)
	if version != "" {
		u += "/versions/" + url.PathEscape(version)
	}
	var m ModelMeta
	if err := getJSON(u, timeout, &m); err != nil {
		return m, fmt.Errorf("model metadata: %w", err)
	}
	return m, nil
}

// Synth is how request bodies are synthesized from metadata.
type Synth struct {
	// Batch is the size of a dynamic first dimension (the batch). Default 1.
	Batch int64
	// Dynamic is the size of any other dynamic dimension. Default 1.
	Dynamic int64
	// Seed fixes the random values.
	Seed uint64
	// Count is how many distinct bodies to make (sent in turn), so a
	// response cache or a branch predictor does not see one request
	// forever. Default 8.
	Count int
}

// maxElements bounds one synthesized tensor (16 M elements, about 200 MB of
// JSON): a dynamic dimension set by mistake to a large number fails here.
const maxElements = 1 << 24

// Synthesize writes Count OIP v2 JSON bodies with random tensors of each
// input's shape and datatype.
func Synthesize(m ModelMeta, s Synth) ([][]byte, error) {
	if s.Batch == 0 {
		s.Batch = 1
	}
	if s.Dynamic == 0 {
		s.Dynamic = 1
	}
	if s.Count <= 0 {
		s.Count = 8
	}
	if s.Batch < 1 || s.Dynamic < 1 {
		return nil, errors.New("batch size and dynamic dimension must be positive")
	}
	if len(m.Inputs) == 0 {
		return nil, fmt.Errorf("model %q declares no inputs: give request bodies with -input", m.Name)
	}
	shapes := make([][]int64, len(m.Inputs))
	for i, in := range m.Inputs {
		shape := slices.Clone(in.Shape)
		n := int64(1)
		for d, size := range shape {
			switch {
			case size < 0 && d == 0:
				shape[d] = s.Batch
			case size < 0:
				shape[d] = s.Dynamic
			case d == 0 && s.Batch > 1:
				return nil, fmt.Errorf("input %q has a fixed first dimension (%d), so requests cannot carry a batch of %d: use -batch 1 (the model does not batch)", in.Name, size, s.Batch)
			}
			n *= shape[d]
			if n > maxElements {
				return nil, fmt.Errorf("input %q of shape %v has over %d elements: lower -batch or -dynamic-dim", in.Name, shape, maxElements)
			}
		}
		if _, err := elementWriter(in.Datatype); err != nil {
			return nil, fmt.Errorf("input %q: %w", in.Name, err)
		}
		shapes[i] = shape
	}
	rng := rand.New(rand.NewPCG(s.Seed, s.Seed+1))
	bodies := make([][]byte, s.Count)
	for b := range bodies {
		dst := []byte(`{"inputs":[`)
		for i, in := range m.Inputs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"name":`...)
			dst = strconv.AppendQuote(dst, in.Name)
			dst = append(dst, `,"shape":[`...)
			n := int64(1)
			for d, size := range shapes[i] {
				if d > 0 {
					dst = append(dst, ',')
				}
				dst = strconv.AppendInt(dst, size, 10)
				n *= size
			}
			dst = append(dst, `],"datatype":`...)
			dst = strconv.AppendQuote(dst, in.Datatype)
			dst = append(dst, `,"data":[`...)
			write, _ := elementWriter(in.Datatype)
			for e := range n {
				if e > 0 {
					dst = append(dst, ',')
				}
				dst = write(dst, rng)
			}
			dst = append(dst, "]}"...)
		}
		bodies[b] = append(dst, "]}"...)
	}
	return bodies, nil
}

// elementWriter returns how one random element of an OIP datatype is
// written. Values stay small (floats in [-1, 1), integers under 100) so
// every integer type and half precision hold them exactly.
func elementWriter(dt string) (func([]byte, *rand.Rand) []byte, error) {
	switch dt {
	case "FP32", "FP16":
		return func(d []byte, r *rand.Rand) []byte {
			return strconv.AppendFloat(d, float64(float32(r.Float64()*2-1)), 'g', 6, 32)
		}, nil
	case "FP64":
		return func(d []byte, r *rand.Rand) []byte { return strconv.AppendFloat(d, r.Float64()*2-1, 'g', 10, 64) }, nil
	case "INT8", "INT16", "INT32", "INT64":
		return func(d []byte, r *rand.Rand) []byte { return strconv.AppendInt(d, r.Int64N(100)-50, 10) }, nil
	case "UINT8", "UINT16", "UINT32", "UINT64":
		return func(d []byte, r *rand.Rand) []byte { return strconv.AppendInt(d, r.Int64N(100), 10) }, nil
	case "BOOL":
		return func(d []byte, r *rand.Rand) []byte { return strconv.AppendBool(d, r.IntN(2) == 1) }, nil
	case "BYTES":
		return func(d []byte, r *rand.Rand) []byte {
			d = append(d, '"')
			for range 8 {
				d = append(d, byte('a'+r.IntN(26)))
			}
			return append(d, '"')
		}, nil
	}
	return nil, fmt.Errorf("datatype %q cannot be synthesized: give request bodies with -input", dt)
}
