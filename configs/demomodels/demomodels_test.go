package demomodels

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestNamesAreTheContract(t *testing.T) {
	want := []string{
		"cnn", "constant", "dtypes_float", "dtypes_int", "dtypes_misc",
		"elementwise", "fraud", "mlp", "multi_output", "scalar",
	}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
}

func TestEveryModelBuildsDeterministically(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			a, err := Model(name)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Model(name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Fatal("two builds differ")
			}
			if len(a) == 0 {
				t.Fatal("empty model")
			}
		})
	}
}

func TestUnknownModel(t *testing.T) {
	if _, err := Model("nope"); err == nil {
		t.Fatal("expected an error for an unknown model")
	}
}

// field is one decoded protobuf field: varint/fixed values in v, bytes in b.
type field struct {
	v uint64
	b []byte
}

// decode splits one message into its fields by number, failing the test on
// any malformed wire data; that alone proves the encoder's framing.
func decode(t *testing.T, msg []byte) map[protowire.Number][]field {
	t.Helper()
	out := map[protowire.Number][]field{}
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		msg = msg[n:]
		var f field
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(msg)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(msg)
			f.v = uint64(v)
		case protowire.Fixed64Type:
			f.v, n = protowire.ConsumeFixed64(msg)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(msg)
		default:
			t.Fatalf("unexpected wire type %v for field %d", typ, num)
		}
		if n < 0 {
			t.Fatalf("field %d: %v", num, protowire.ParseError(n))
		}
		msg = msg[n:]
		out[num] = append(out[num], f)
	}
	return out
}

// shapeOf reads a ValueInfoProto back as (name, elem type, dims) with
// symbolic dims rendered by their dim_param.
func shapeOf(t *testing.T, vi []byte) (string, DataType, []string) {
	t.Helper()
	v := decode(t, vi)
	typ := decode(t, v[2][0].b)
	tt := decode(t, typ[1][0].b)
	if len(tt[2]) != 1 {
		t.Fatalf("value %q: shape field missing", v[1][0].b)
	}
	dims := []string{}
	for _, d := range decode(t, tt[2][0].b)[1] {
		dim := decode(t, d.b)
		switch {
		case len(dim[1]) == 1:
			dims = append(dims, strconv.FormatUint(dim[1][0].v, 10))
		case len(dim[2]) == 1:
			dims = append(dims, string(dim[2][0].b))
		default:
			t.Fatalf("value %q: dim without value or param", v[1][0].b)
		}
	}
	return string(v[1][0].b), DataType(tt[1][0].v), dims
}

func TestRoundTripFraud(t *testing.T) {
	b, err := Model("fraud")
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, b)
	if got := m[1][0].v; got != IRVersion {
		t.Errorf("ir_version = %d", got)
	}
	op := decode(t, m[8][0].b)
	if string(op[1][0].b) != "" || op[2][0].v != DefaultOpset {
		t.Errorf("opset_import = %q %d", op[1][0].b, op[2][0].v)
	}
	g := decode(t, m[7][0].b)
	if string(g[2][0].b) != "fraud" {
		t.Errorf("graph name = %q", g[2][0].b)
	}

	name, typ, dims := shapeOf(t, g[11][0].b)
	if name != "features" || typ != Float || !slices.Equal(dims, []string{"batch", "30"}) {
		t.Errorf("input = %s %v %v", name, typ, dims)
	}
	name, typ, dims = shapeOf(t, g[12][0].b)
	if name != "probabilities" || typ != Float || !slices.Equal(dims, []string{"batch", "2"}) {
		t.Errorf("output = %s %v %v", name, typ, dims)
	}

	var ops []string
	for _, n := range g[1] {
		ops = append(ops, string(decode(t, n.b)[4][0].b))
	}
	want := []string{"Gemm", "Relu", "Gemm", "Relu", "Gemm", "Softmax"}
	if !slices.Equal(ops, want) {
		t.Errorf("ops = %v, want %v", ops, want)
	}

	// The first initializer is fc1.weight [30,64] FLOAT in raw_data.
	w := decode(t, g[5][0].b)
	if string(w[8][0].b) != "fc1.weight" || w[2][0].v != uint64(Float) {
		t.Fatalf("first initializer = %q type %d", w[8][0].b, w[2][0].v)
	}
	if len(w[1]) != 2 || w[1][0].v != 30 || w[1][1].v != 64 {
		t.Errorf("fc1.weight dims = %v", w[1])
	}
	raw := w[9][0].b
	if len(raw) != 30*64*4 {
		t.Fatalf("raw_data is %d bytes", len(raw))
	}
	limit := float32(heLimit(30))
	for i := 0; i < len(raw); i += 4 {
		f := math.Float32frombits(binary.LittleEndian.Uint32(raw[i:]))
		if !(f >= -limit && f <= limit) {
			t.Fatalf("weight %d = %v outside ±%v", i/4, f, limit)
		}
	}
}

func TestRoundTripScalarAndConstant(t *testing.T) {
	b, err := Model("scalar")
	if err != nil {
		t.Fatal(err)
	}
	g := decode(t, decode(t, b)[7][0].b)
	for _, num := range []protowire.Number{11, 12} {
		name, typ, dims := shapeOf(t, g[num][0].b)
		if typ != Float || len(dims) != 0 {
			t.Errorf("%s: %v %v, want rank-0 FLOAT", name, typ, dims)
		}
	}

	b, err = Model("constant")
	if err != nil {
		t.Fatal(err)
	}
	g = decode(t, decode(t, b)[7][0].b)
	if len(g[11]) != 0 {
		t.Errorf("constant model has %d inputs", len(g[11]))
	}
	name, typ, dims := shapeOf(t, g[12][1].b)
	if name != "answer" || typ != Int64 || len(dims) != 0 {
		t.Errorf("second output = %s %v %v", name, typ, dims)
	}
}

func TestDtypesUseDistinctSymbolicDims(t *testing.T) {
	b, err := Model("dtypes_int")
	if err != nil {
		t.Fatal(err)
	}
	g := decode(t, decode(t, b)[7][0].b)
	want := map[string]DataType{
		"i8": Int8, "i16": Int16, "i32": Int32, "i64": Int64,
		"u8": Uint8, "u16": Uint16, "u32": Uint32, "u64": Uint64,
	}
	if len(g[11]) != len(want) || len(g[12]) != len(want) {
		t.Fatalf("%d inputs, %d outputs", len(g[11]), len(g[12]))
	}
	for i := range g[11] {
		in, inType, inDims := shapeOf(t, g[11][i].b)
		out, outType, outDims := shapeOf(t, g[12][i].b)
		if want[in] != inType || out != in+"_out" || outType != inType {
			t.Errorf("%s %v -> %s %v", in, inType, out, outType)
		}
		if !slices.Equal(inDims, []string{in + "_len"}) || !slices.Equal(outDims, inDims) {
			t.Errorf("%s dims %v -> %v", in, inDims, outDims)
		}
	}
}

func TestStringTensorUsesStringData(t *testing.T) {
	enc := encodeTensor(StringTensor("s", []int64{2}, []string{"a", "bc"}))
	f := decode(t, enc)
	if len(f[9]) != 0 {
		t.Error("string tensor wrote raw_data")
	}
	if len(f[6]) != 2 || string(f[6][1].b) != "bc" || f[2][0].v != uint64(String) {
		t.Errorf("string_data = %v", f[6])
	}
}

func TestValidateRejectsBrokenGraphs(t *testing.T) {
	cases := map[string]func(g *Graph){
		"undefined input": func(g *Graph) {
			g.AddNode("Relu", []string{"missing"}, []string{"y"})
			g.Output("y", Float, -1)
		},
		"output never produced": func(g *Graph) {
			g.Input("x", Float, -1)
			g.Output("y", Float, -1)
		},
		"short tensor data": func(g *Graph) {
			g.Input("x", Float, -1, 3)
			w := g.AddInitializer(NewTensor("w", []int64{3}, []float32{1, 2}))
			g.AddNode("Mul", []string{"x", w}, []string{"y"})
			g.Output("y", Float, -1, 3)
		},
		"name assigned twice": func(g *Graph) {
			g.Input("x", Float, -1)
			g.AddNode("Relu", []string{"x"}, []string{"x"})
			g.Output("x", Float, -1)
		},
		"no outputs": func(g *Graph) {
			g.Input("x", Float, -1)
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewGraph("broken")
			build(g)
			if _, err := g.Encode(); err == nil {
				t.Fatal("Encode accepted a broken graph")
			}
		})
	}
}

func TestWriteRepository(t *testing.T) {
	dir := t.TempDir()
	if err := WriteRepository(dir, false); err != nil {
		t.Fatal(err)
	}
	for _, name := range Names() {
		got, err := os.ReadFile(ModelPath(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := Model(name)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: file differs from Model()", name)
		}
	}

	sentinel := []byte("keep me")
	path := filepath.Join(dir, "fraud", "1", "model.onnx")
	if err := os.WriteFile(path, sentinel, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteRepository(dir, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, sentinel) {
		t.Error("existing file was overwritten without overwrite=true")
	}
	if err := WriteRepository(dir, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); bytes.Equal(got, sentinel) {
		t.Error("overwrite=true left the existing file alone")
	}

	// No temp files may be left behind next to the models.
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*", "1", ".*.tmp"))
	if len(leftovers) > 0 {
		t.Errorf("temp files left behind: %v", leftovers)
	}
}

// Every generated model needs a committed config.yaml beside where its .onnx
// lands, or the gateway would find a model file it has no config for.
func TestEveryModelHasAConfig(t *testing.T) {
	for _, name := range Names() {
		b, err := os.ReadFile(filepath.Join("..", "models", name, "config.yaml"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !slices.Contains(strings.Split(string(b), "\n"), "name: "+name) {
			t.Errorf("%s: config.yaml lacks %q", name, "name: "+name)
		}
	}
}
