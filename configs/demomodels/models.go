package demomodels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// demoModel pairs a model name with its builder. The descriptions end up in
// the ModelProto doc_string so a bare .onnx file still explains itself.
type demoModel struct {
	doc   string
	build func(g *Graph)
}

// registry is the single source of truth for the demo repository. Other
// packages address these models by name, so renaming one is a breaking
// change to the gateway's tests and benchmarks.
var registry = map[string]demoModel{
	"fraud": {
		"Tabular classifier: 30 features -> 2 class probabilities (MLP, fixed-seed weights).",
		buildFraud,
	},
	"mlp": {
		"Compute-heavy MLP: 256 -> 1024 -> 1024 -> 16 logits (fixed-seed weights).",
		buildMLP,
	},
	"cnn": {
		"Small image classifier: 3x64x64 image -> 10 class probabilities (fixed-seed weights).",
		buildCNN,
	},
	"elementwise": {
		"y = 2x + 1; near-zero compute, for measuring gateway overhead.",
		buildElementwise,
	},
	"dtypes_int": {
		"Identity for every integer element type, for tensor codec tests.",
		buildDtypesInt,
	},
	"dtypes_float": {
		"FLOAT16 +1, FLOAT log, DOUBLE reciprocal: exercises half precision, NaN and infinities.",
		buildDtypesFloat,
	},
	"dtypes_misc": {
		"BOOL not and STRING identity, for the non-numeric tensor codecs.",
		buildDtypesMisc,
	},
	"scalar": {
		"Rank-0 input and output: y = 3x.",
		buildScalar,
	},
	"constant": {
		"No inputs; returns a fixed FLOAT [2,3] tensor and the INT64 scalar 42.",
		buildConstant,
	},
	"multi_output": {
		"Three outputs of different types from one FLOAT input: softmax, argmax, x > 0.",
		buildMultiOutput,
	},
}

// Names lists the demo models in sorted order.
func Names() []string {
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Model builds the named demo model and returns the serialized ModelProto.
// The result is identical on every call and every platform, because the
// weights come from a fixed-seed PCG and only exact float arithmetic.
func Model(name string) ([]byte, error) {
	m, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("demomodels: unknown model %q", name)
	}
	g := NewGraph(name)
	g.Doc = m.doc
	m.build(g)
	b, err := g.Encode()
	if err != nil {
		return nil, fmt.Errorf("demomodels: %w", err)
	}
	return b, nil
}

// newRNG gives each model its own stream so that changing one model's
// architecture never shifts the weights of another.
func newRNG(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x1f6e_9a7c_3b2d_5e41))
}

// uniform fills n values in [-limit, limit). Uniform rather than normal
// sampling keeps the weights a pure function of the PCG output, independent
// of any change to the standard library's normal-variate algorithm.
func uniform(r *rand.Rand, n int, limit float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((2*r.Float64() - 1) * limit)
	}
	return v
}

// heLimit suits layers followed by ReLU: it keeps activation variance
// roughly constant through the stack, so deep outputs neither vanish nor
// explode.
func heLimit(fanIn int) float64 { return math.Sqrt(6 / float64(fanIn)) }

// glorotLimit suits the final (linear) layer feeding a softmax.
func glorotLimit(fanIn, fanOut int) float64 {
	return math.Sqrt(6 / float64(fanIn+fanOut))
}

// dense adds out = Gemm(in, W[fanIn,fanOut]) + b and returns out. Biases
// are small but non-zero so that a model that ignores them is detectable.
func dense(g *Graph, r *rand.Rand, prefix, in, out string, fanIn, fanOut int, limit float64) string {
	w := g.AddInitializer(NewTensor(prefix+".weight", []int64{int64(fanIn), int64(fanOut)}, uniform(r, fanIn*fanOut, limit)))
	b := g.AddInitializer(NewTensor(prefix+".bias", []int64{int64(fanOut)}, uniform(r, fanOut, 0.01)))
	g.AddNode("Gemm", []string{in, w, b}, []string{out})
	return out
}

func relu(g *Graph, in string) string {
	out := in + ".relu"
	g.AddNode("Relu", []string{in}, []string{out})
	return out
}

func buildFraud(g *Graph) {
	r := newRNG(1)
	g.Input("features", Float, -1, 30)
	h := relu(g, dense(g, r, "fc1", "features", "fc1.out", 30, 64, heLimit(30)))
	h = relu(g, dense(g, r, "fc2", h, "fc2.out", 64, 32, heLimit(64)))
	logits := dense(g, r, "fc3", h, "logits", 32, 2, glorotLimit(32, 2))
	g.AddNode("Softmax", []string{logits}, []string{"probabilities"}, AttrInt("axis", 1))
	g.Output("probabilities", Float, -1, 2)
}

func buildMLP(g *Graph) {
	r := newRNG(2)
	g.Input("input", Float, -1, 256)
	h := relu(g, dense(g, r, "fc1", "input", "fc1.out", 256, 1024, heLimit(256)))
	h = relu(g, dense(g, r, "fc2", h, "fc2.out", 1024, 1024, heLimit(1024)))
	dense(g, r, "fc3", h, "logits", 1024, 16, glorotLimit(1024, 16))
	g.Output("logits", Float, -1, 16)
}

// conv3x3 adds a same-padded 3x3 convolution and returns its output name.
func conv3x3(g *Graph, r *rand.Rand, prefix, in string, inC, outC int) string {
	fanIn := inC * 9
	w := g.AddInitializer(NewTensor(prefix+".weight", []int64{int64(outC), int64(inC), 3, 3}, uniform(r, outC*fanIn, heLimit(fanIn))))
	b := g.AddInitializer(NewTensor(prefix+".bias", []int64{int64(outC)}, uniform(r, outC, 0.01)))
	out := prefix + ".out"
	g.AddNode("Conv", []string{in, w, b}, []string{out},
		AttrInts("kernel_shape", 3, 3),
		AttrInts("pads", 1, 1, 1, 1),
		AttrInts("strides", 1, 1),
	)
	return out
}

func buildCNN(g *Graph) {
	r := newRNG(3)
	g.Input("image", Float, -1, 3, 64, 64)
	h := relu(g, conv3x3(g, r, "conv1", "image", 3, 8))
	g.AddNode("MaxPool", []string{h}, []string{"pool1.out"},
		AttrInts("kernel_shape", 2, 2),
		AttrInts("strides", 2, 2),
	)
	h = relu(g, conv3x3(g, r, "conv2", "pool1.out", 8, 16))
	g.AddNode("GlobalAveragePool", []string{h}, []string{"gap.out"})
	g.AddNode("Flatten", []string{"gap.out"}, []string{"flat.out"}, AttrInt("axis", 1))
	logits := dense(g, r, "fc", "flat.out", "logits", 16, 10, glorotLimit(16, 10))
	g.AddNode("Softmax", []string{logits}, []string{"probabilities"}, AttrInt("axis", 1))
	g.Output("probabilities", Float, -1, 10)
}

func buildElementwise(g *Graph) {
	g.Input("x", Float, -1, 4)
	two := g.AddInitializer(Scalar("two", float32(2)))
	one := g.AddInitializer(Scalar("one", float32(1)))
	g.AddNode("Mul", []string{"x", two}, []string{"x2"})
	g.AddNode("Add", []string{"x2", one}, []string{"y"})
	g.Output("y", Float, -1, 4)
}

func buildDtypesInt(g *Graph) {
	for _, in := range []struct {
		name string
		typ  DataType
	}{
		{"i8", Int8}, {"i16", Int16}, {"i32", Int32}, {"i64", Int64},
		{"u8", Uint8}, {"u16", Uint16}, {"u32", Uint32}, {"u64", Uint64},
	} {
		out := in.name + "_out"
		// Each vector gets its own symbolic length: the inputs are
		// unrelated, and a shared "batch" would claim they must match.
		g.Inputs = append(g.Inputs, ValueInfo{Name: in.name, Type: in.typ, Dims: []int64{-1}, DimParams: []string{in.name + "_len"}})
		g.AddNode("Identity", []string{in.name}, []string{out})
		g.Outputs = append(g.Outputs, ValueInfo{Name: out, Type: in.typ, Dims: []int64{-1}, DimParams: []string{in.name + "_len"}})
	}
}

// vector declares a 1-D input and its same-length output.
func vector(g *Graph, in, out string, inType, outType DataType) {
	param := []string{in + "_len"}
	g.Inputs = append(g.Inputs, ValueInfo{Name: in, Type: inType, Dims: []int64{-1}, DimParams: param})
	g.Outputs = append(g.Outputs, ValueInfo{Name: out, Type: outType, Dims: []int64{-1}, DimParams: param})
}

func buildDtypesFloat(g *Graph) {
	vector(g, "f16", "f16_out", Float16, Float16)
	vector(g, "f32", "f32_out", Float, Float)
	vector(g, "f64", "f64_out", Double, Double)

	// Half-precision arithmetic kernels are sparse in ONNX Runtime's CPU
	// provider, so the +1 happens in FLOAT between two Casts.
	one32 := g.AddInitializer(Scalar("one_f32", float32(1)))
	g.AddNode("Cast", []string{"f16"}, []string{"f16_as_f32"}, AttrInt("to", int64(Float)))
	g.AddNode("Add", []string{"f16_as_f32", one32}, []string{"f16_plus_one"})
	g.AddNode("Cast", []string{"f16_plus_one"}, []string{"f16_out"}, AttrInt("to", int64(Float16)))

	g.AddNode("Log", []string{"f32"}, []string{"f32_out"})

	one64 := g.AddInitializer(Scalar("one_f64", float64(1)))
	g.AddNode("Div", []string{one64, "f64"}, []string{"f64_out"})
}

func buildDtypesMisc(g *Graph) {
	vector(g, "flags", "flags_out", Bool, Bool)
	vector(g, "text", "text_out", String, String)
	g.AddNode("Not", []string{"flags"}, []string{"flags_out"})
	g.AddNode("Identity", []string{"text"}, []string{"text_out"})
}

func buildScalar(g *Graph) {
	g.Input("x", Float)
	three := g.AddInitializer(Scalar("three", float32(3)))
	g.AddNode("Mul", []string{"x", three}, []string{"y"})
	g.Output("y", Float)
}

func buildConstant(g *Graph) {
	g.AddNode("Constant", nil, []string{"value"},
		AttrTensor("value", NewTensor("", []int64{2, 3}, []float32{0.5, 1.5, 2.5, 3.5, 4.5, 5.5})))
	g.AddNode("Constant", nil, []string{"answer"},
		AttrTensor("value", Scalar("", int64(42))))
	g.Output("value", Float, 2, 3)
	g.Output("answer", Int64)
}

func buildMultiOutput(g *Graph) {
	g.Input("x", Float, -1, 5)
	zero := g.AddInitializer(Scalar("zero", float32(0)))
	g.AddNode("Softmax", []string{"x"}, []string{"probabilities"}, AttrInt("axis", 1))
	g.AddNode("ArgMax", []string{"x"}, []string{"label"}, AttrInt("axis", 1), AttrInt("keepdims", 0))
	g.AddNode("Greater", []string{"x", zero}, []string{"positive"})
	g.Output("probabilities", Float, -1, 5)
	g.Output("label", Int64, -1)
	g.Output("positive", Bool, -1, 5)
}
