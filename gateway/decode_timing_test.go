package gateway

import (
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/infergate/infergate/configs/demomodels"
	"github.com/infergate/infergate/runtime"
)

// The decode benchmarks compare our request decoder with encoding/json on
// the cnn demo model's input: a 3x64x64 image, 12,288 floats, about 240 KB
// of JSON. Ours decodes and binds (every check, then the floats written
// into the tensor's C memory); encoding/json only decodes.

var benchEnv struct {
	once sync.Once
	repo *runtime.Repository
	err  error
}

// benchRepo loads the demo repository once for all the benchmarks.
func benchRepo(b *testing.B) *runtime.Repository {
	benchEnv.once.Do(func() {
		dir := b.TempDir()
		if benchEnv.err = demomodels.WriteRepository(dir, false); benchEnv.err != nil {
			return
		}
		env, err := runtime.NewEnvironment("")
		if err != nil {
			benchEnv.err = err
			return
		}
		repo, err := runtime.ScanRepository(dir)
		if err != nil {
			benchEnv.err = err
			return
		}
		repo.Load(env, slog.New(slog.DiscardHandler))
		benchEnv.repo = repo
	})
	if benchEnv.err != nil {
		b.Fatal(benchEnv.err)
	}
	return benchEnv.repo
}

// benchVersion is a demo model's first version, from benchRepo.
func benchVersion(b *testing.B, model string) *runtime.Version {
	m := benchRepo(b).Models[model]
	if m == nil || len(m.Versions) == 0 {
		b.Fatalf("no demo model %q", model)
	}
	return m.Versions[0]
}

func imageBody() []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := []byte(`{"id":"bench","inputs":[{"name":"image","shape":[1,3,64,64],"datatype":"FP32","data":[`)
	for i := 0; i < 3*64*64; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(r.Float32()*2-1), 'g', -1, 32)
	}
	return append(b, "]}]}"...)
}

func BenchmarkDecodeImage(b *testing.B) {
	v := benchVersion(b, "cnn")
	benchDecode(b, v, imageBody())
}

// benchDecode decodes and binds body for v, as the handler does.
func benchDecode(b *testing.B, v *runtime.Version, body []byte) {
	work := make([]byte, len(body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	tp := &tensorParser{}
	b.ResetTimer()
	for b.Loop() {
		copy(work, body) // decode unescapes in place
		call, err := v.Session.AcquireCall()
		if err != nil {
			b.Fatal(err)
		}
		req := acquireRequest()
		req.prepare(v, call, 1<<26, tp)
		if err := req.decode(work); err != nil {
			b.Fatal(err)
		}
		if err := req.bind(v, call, 1<<26, tp); err != nil {
			b.Fatal(err)
		}
		v.Session.ReleaseCall(call)
		releaseRequest(req)
	}
}

// BenchmarkDecodeMLP decodes and binds the body bench/mlp.lua sends: 256
// floats of three decimals, the MLP benchmark's request, whose parsing is
// about a tenth of the served request's cost. (Parsing eight digits at a
// time with integer tricks was tried: 40% slower on these short numbers,
// and 12% on the image's.)
func BenchmarkDecodeMLP(b *testing.B) {
	v := benchVersion(b, "mlp")
	lua, err := os.ReadFile("../bench/mlp.lua")
	if err != nil {
		b.Fatal(err)
	}
	m := regexp.MustCompile(`wrk.body = '(.*)'`).FindSubmatch(lua)
	if m == nil {
		b.Fatal("no body in bench/mlp.lua")
	}
	benchDecode(b, v, m[1])
}

// typedRequest is what a careful net/http server would decode into.
type typedRequest struct {
	ID     string `json:"id"`
	Inputs []struct {
		Name     string    `json:"name"`
		Shape    []int64   `json:"shape"`
		Datatype string    `json:"datatype"`
		Data     []float32 `json:"data"`
	} `json:"inputs"`
}

func BenchmarkDecodeImageEncodingJSONTyped(b *testing.B) {
	body := imageBody()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var req typedRequest
		if err := json.Unmarshal(body, &req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeImageEncodingJSONGeneric decodes as a server that does
// not know the model's types must: into interface values.
func BenchmarkDecodeImageEncodingJSONGeneric(b *testing.B) {
	body := imageBody()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var req map[string]any
		if err := json.Unmarshal(body, &req); err != nil {
			b.Fatal(err)
		}
	}
}
