package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/infergate/infergate/runtime"
)

var intInputs = []struct {
	name, datatype string
}{
	{"i8", "INT8"}, {"i16", "INT16"}, {"i32", "INT32"}, {"i64", "INT64"},
	{"u8", "UINT8"}, {"u16", "UINT16"}, {"u32", "UINT32"}, {"u64", "UINT64"},
}

// TestInferIntegers sends every integer type through dtypes_int (identity)
// and expects the exact values back, extremes included.
func TestInferIntegers(t *testing.T) {
	// f sends data (a JSON array) to one input of dtypes_int, every other
	// input empty, and expects want (a JSON array) from its output.
	f := func(input, data, want string) {
		t.Helper()
		var sent []json.Number
		if err := json.Unmarshal([]byte(data), &sent); err != nil {
			t.Fatalf("bad data %s: %v", data, err)
		}
		var parts []string
		datatype := ""
		for _, in := range intInputs {
			if in.name == input {
				datatype = in.datatype
				parts = append(parts, inputJSON(in.name, in.datatype, []int64{int64(len(sent))}, data))
			} else {
				parts = append(parts, inputJSON(in.name, in.datatype, []int64{0}, "[]"))
			}
		}
		resp := testSrv.infer(t, "dtypes_int", requestJSON(parts...))
		var got []outputTensor
		for _, o := range resp.Outputs {
			if o.Name == input+"_out" {
				got = append(got, o)
			} else if len(o.Data) != 0 || len(o.Shape) != 1 || o.Shape[0] != 0 {
				t.Errorf("%s: empty input gave %s shape %v data %v", input, o.Name, o.Shape, o.Data)
			}
		}
		if len(resp.Outputs) != len(intInputs) {
			t.Errorf("%s: %d outputs, want %d", input, len(resp.Outputs), len(intInputs))
		}
		checkOutputs(t, got, fmt.Sprintf(`[{"name":"%s_out","datatype":%q,"shape":[%d],"data":%s}]`, input, datatype, len(sent), want))
	}
	f("i8", "[-128,127,0,-1,1,-100,99]", "[-128,127,0,-1,1,-100,99]")
	f("i16", "[-32768,32767,0,-1,1,-12345,256]", "[-32768,32767,0,-1,1,-12345,256]")
	f("i32", "[-2147483648,2147483647,0,-1,1,65536,-65537]", "[-2147483648,2147483647,0,-1,1,65536,-65537]")
	f("i64", "[-9223372036854775808,9223372036854775807,0,-1,1,4294967296,-9007199254740993]",
		"[-9223372036854775808,9223372036854775807,0,-1,1,4294967296,-9007199254740993]")
	f("u8", "[0,255,1,128,254]", "[0,255,1,128,254]")
	f("u16", "[0,65535,1,32768,256]", "[0,65535,1,32768,256]")
	f("u32", "[0,4294967295,1,2147483648,65536]", "[0,4294967295,1,2147483648,65536]")
	f("u64", "[0,18446744073709551615,1,9223372036854775808,9007199254740993]",
		"[0,18446744073709551615,1,9223372036854775808,9007199254740993]")
	// "-0" is zero, for unsigned types too.
	f("i32", "[-0]", "[0]")
	f("u8", "[-0]", "[0]")
	f("u64", "[]", "[]")

	// Random values of every width, from a fixed seed.
	r := rand.New(rand.NewPCG(7, 11))
	for _, in := range intInputs {
		var vals []string
		for range 64 {
			u := r.Uint64()
			var s string
			switch in.name {
			case "i8":
				s = strconv.Itoa(int(int8(u)))
			case "i16":
				s = strconv.Itoa(int(int16(u)))
			case "i32":
				s = strconv.Itoa(int(int32(u)))
			case "i64":
				s = strconv.FormatInt(int64(u), 10)
			case "u8":
				s = strconv.FormatUint(uint64(uint8(u)), 10)
			case "u16":
				s = strconv.FormatUint(uint64(uint16(u)), 10)
			case "u32":
				s = strconv.FormatUint(uint64(uint32(u)), 10)
			default:
				s = strconv.FormatUint(u, 10)
			}
			vals = append(vals, s)
		}
		data := "[" + strings.Join(vals, ",") + "]"
		f(in.name, data, data)
	}
}

func randFloats32(r *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = (r.Float32()*2 - 1) * scale
	}
	return v
}

// TestInferMatchesOnnxRuntime runs the same inputs through the gateway and
// through ONNX Runtime directly and expects the same bits back.
func TestInferMatchesOnnxRuntime(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 4242))
	// f runs ins on model both ways and compares every output.
	f := func(model string, ins ...tensor) {
		t.Helper()
		want := runDirect(t, testVersion(t, model), ins...)
		resp := testSrv.infer(t, model, tensorsRequest(ins))
		if resp.ModelName != model || resp.ModelVersion != "1" {
			t.Errorf("%s: model_name %q model_version %q", model, resp.ModelName, resp.ModelVersion)
		}
		checkAgainst(t, resp.Outputs, want)
	}

	f("fraud", f32Tensor("features", []int64{8, 30}, randFloats32(r, 8*30, 3)))
	f("fraud", f32Tensor("features", []int64{1, 30}, randFloats32(r, 30, 100)))
	f("mlp", f32Tensor("input", []int64{4, 256}, randFloats32(r, 4*256, 1)))
	f("cnn", f32Tensor("image", []int64{1, 3, 64, 64}, randFloats32(r, 3*64*64, 1)))
	f("elementwise", f32Tensor("x", []int64{16, 4}, randFloats32(r, 64, 1e6)))
	f("elementwise", f32Tensor("x", []int64{1, 4}, []float32{
		math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, float32(math.Copysign(0, -1)),
	}))
	f("multi_output", f32Tensor("x", []int64{6, 5}, randFloats32(r, 30, 5)))
	f("multi_output", f32Tensor("x", []int64{2, 5}, []float32{
		0, 0, 0, 0, 0, float32(math.Inf(-1)), -1, 1, float32(math.Inf(1)), float32(math.NaN()),
	}))

	// Decimals written every way: FP32 inputs are what strconv.ParseFloat
	// rounds them to, ties to even included.
	decimals := func(ds ...string) {
		t.Helper()
		v := make([]float32, len(ds))
		for i, d := range ds {
			x, err := strconv.ParseFloat(d, 32)
			if err != nil {
				t.Fatalf("%s: %v", d, err)
			}
			v[i] = float32(x)
		}
		want := runDirect(t, testVersion(t, "elementwise"), f32Tensor("x", []int64{int64(len(ds) / 4), 4}, v))
		resp := testSrv.infer(t, "elementwise", requestJSON(inputJSON("x", "FP32", []int64{int64(len(ds) / 4), 4}, "["+strings.Join(ds, ",")+"]")))
		checkAgainst(t, resp.Outputs, want)
	}
	decimals("16777217", "16777219", "0.1", "-0.0",
		"1.00000005960464477539062500", "1.000000059604644775390625000001", "1.0000000596046447", "1.0000000596046448",
		"1e-45", "7e-46", "7.1e-46", "1.1754942e-38",
		"123456789012345678901234567890", "0.000000000000000000000000001", "9007199254740993", "-2.5E+10",
		"1E2", "1e-0", "0e5", "3.4028234663852886e38",
		"0.30000001192092896", "0.300000011920928955078125", "33554431", "33554433")

	// dtypes_float: random finite halves, floats and doubles, then the
	// special values every one of them has.
	var halves []uint16
	for len(halves) < 200 {
		h := uint16(r.Uint32())
		if h&0x7c00 != 0x7c00 {
			halves = append(halves, h)
		}
	}
	f32s := randFloats32(r, 200, 10)
	f64s := make([]float64, 200)
	for i := range f64s {
		f64s[i] = (r.Float64()*2 - 1) * 1e3
	}
	f("dtypes_float",
		f16Tensor("f16", []int64{200}, halves),
		f32Tensor("f32", []int64{200}, f32s),
		f64Tensor("f64", []int64{200}, f64s))
	inf32, nan32 := float32(math.Inf(1)), float32(math.NaN())
	f("dtypes_float",
		f16Tensor("f16", []int64{10}, []uint16{0, 0x8000, 0x0001, 0x03ff, 0x0400, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00}),
		f32Tensor("f32", []int64{9}, []float32{0, float32(math.Copysign(0, -1)), -1, 1, math.SmallestNonzeroFloat32, math.MaxFloat32, inf32, -inf32, nan32}),
		f64Tensor("f64", []int64{9}, []float64{0, math.Copysign(0, -1), 3, -3, math.SmallestNonzeroFloat64, math.MaxFloat64, math.Inf(1), math.Inf(-1), math.NaN()}))
}

// TestInferEdgeTensors covers the shapes, types and request forms that are
// easy to get wrong.
func TestInferEdgeTensors(t *testing.T) {
	// f posts body to model and expects exactly want as the outputs.
	f := func(t *testing.T, model, body, want string) {
		t.Helper()
		resp := testSrv.infer(t, model, body)
		checkOutputs(t, resp.Outputs, want)
	}
	floats := func(f16, f32, f64 string) string {
		count := func(data string) int64 {
			var v []any
			if err := json.Unmarshal(quoteNonFinite([]byte(data)), &v); err != nil {
				t.Fatalf("bad data %s: %v", data, err)
			}
			return int64(len(v))
		}
		return requestJSON(
			inputJSON("f16", "FP16", []int64{count(f16)}, f16),
			inputJSON("f32", "FP32", []int64{count(f32)}, f32),
			inputJSON("f64", "FP64", []int64{count(f64)}, f64))
	}

	t.Run("rank0", func(t *testing.T) {
		f(t, "scalar", `{"inputs":[{"name":"x","shape":[],"datatype":"FP32","data":[2.5]}]}`,
			`[{"name":"y","datatype":"FP32","shape":[],"data":[7.5]}]`)
		f(t, "scalar", `{"inputs":[{"name":"x","shape":[],"datatype":"FP32","data":2.5}]}`,
			`[{"name":"y","datatype":"FP32","shape":[],"data":[7.5]}]`)
		f(t, "scalar", `{"inputs":[{"name":"x","shape":[],"datatype":"FP32","data":-Infinity}]}`,
			`[{"name":"y","datatype":"FP32","shape":[],"data":[-Infinity]}]`)
	})
	t.Run("zero_sized", func(t *testing.T) {
		f(t, "elementwise", `{"inputs":[{"name":"x","shape":[0,4],"datatype":"FP32","data":[]}]}`,
			`[{"name":"y","datatype":"FP32","shape":[0,4],"data":[]}]`)
		f(t, "multi_output", `{"inputs":[{"name":"x","shape":[0,5],"datatype":"FP32","data":[]}]}`,
			`[{"name":"probabilities","datatype":"FP32","shape":[0,5],"data":[]},
			  {"name":"label","datatype":"INT64","shape":[0],"data":[]},
			  {"name":"positive","datatype":"BOOL","shape":[0,5],"data":[]}]`)
		f(t, "dtypes_misc", `{"inputs":[{"name":"flags","shape":[0],"datatype":"BOOL","data":[]},{"name":"text","shape":[0],"datatype":"BYTES","data":[]}]}`,
			`[{"name":"flags_out","datatype":"BOOL","shape":[0],"data":[]},{"name":"text_out","datatype":"BYTES","shape":[0],"data":[]}]`)
	})
	t.Run("fp16", func(t *testing.T) {
		f(t, "dtypes_float", floats("[0.5,-2,65504,5.9604645e-08,0.33325195,-0]", "[1]", "[1]"),
			`[{"name":"f16_out","datatype":"FP16","shape":[6],"data":[1.5,-1,65504,1,1.3330078,1]},
			  {"name":"f32_out","datatype":"FP32","shape":[1],"data":[0]},
			  {"name":"f64_out","datatype":"FP64","shape":[1],"data":[1]}]`)
		// Values between halves round to nearest even: 0.1 is 0.099975586.
		f(t, "dtypes_float", floats("[0.1,1e-9,-1e-9]", "[]", "[]"),
			`[{"name":"f16_out","datatype":"FP16","shape":[3],"data":[1.0996094,1,1]},
			  {"name":"f32_out","datatype":"FP32","shape":[0],"data":[]},
			  {"name":"f64_out","datatype":"FP64","shape":[0],"data":[]}]`)
	})
	t.Run("fp16_rounding", func(t *testing.T) {
		// 2049.0001 is nearer 2050 than 2048 as a half (numpy.float16
		// gives 2050); 2050+1 then rounds to even, 2052. Rounding the
		// decimal to FP32 first gives exactly 2049, a tie that rounds to
		// 2048, and 2048+1 rounds back to 2048.
		f(t, "dtypes_float", floats("[2049.0001]", "[]", "[]"),
			`[{"name":"f16_out","datatype":"FP16","shape":[1],"data":[2052]},
			  {"name":"f32_out","datatype":"FP32","shape":[0],"data":[]},
			  {"name":"f64_out","datatype":"FP64","shape":[0],"data":[]}]`)
	})
	t.Run("nan_inf", func(t *testing.T) {
		f(t, "dtypes_float", floats(
			`[NaN,Infinity,-Infinity,"NaN","Infinity","-Infinity","nan","inf","-inf"]`,
			`[NaN,Infinity,-Infinity,-1,0,-0,1,"NaN","Infinity","-Infinity",1e-50]`,
			`[0,-0,Infinity,-Infinity,NaN,2,"-Infinity","NaN",1e-320]`),
			`[{"name":"f16_out","datatype":"FP16","shape":[9],"data":[NaN,Infinity,-Infinity,NaN,Infinity,-Infinity,NaN,Infinity,-Infinity]},
			  {"name":"f32_out","datatype":"FP32","shape":[11],"data":[NaN,Infinity,NaN,NaN,-Infinity,-Infinity,0,NaN,Infinity,NaN,-Infinity]},
			  {"name":"f64_out","datatype":"FP64","shape":[9],"data":[Infinity,-Infinity,0,-0,NaN,0.5,-0,NaN,Infinity]}]`)
	})
	t.Run("strings", func(t *testing.T) {
		f(t, "dtypes_misc", `{"inputs":[
			{"name":"flags","shape":[3],"datatype":"BOOL","data":[true,false,true]},
			{"name":"text","shape":[12],"datatype":"BYTES","data":[
				"héllo wörld", "", "line\nbreak", "quote\"q", "back\\slash", "nul\u0000byte",
				"\ud83d\ude00", "😀 raw", "tab\tcr\r\u001f\b\f", "\u00e9\u4E2D", "\/", "a very long string of many words to go past short-string optimisations in ONNX Runtime"]}]}`,
			`[{"name":"flags_out","datatype":"BOOL","shape":[3],"data":[false,true,false]},
			  {"name":"text_out","datatype":"BYTES","shape":[12],"data":[
				"héllo wörld", "", "line\nbreak", "quote\"q", "back\\slash", "nul\u0000byte",
				"😀", "😀 raw", "tab\tcr\r\u001f\b\f", "é中", "/", "a very long string of many words to go past short-string optimisations in ONNX Runtime"]}]`)
		f(t, "dtypes_misc", `{"inputs":[{"name":"flags","shape":[1],"datatype":"BOOL","data":[false]},{"name":"text","shape":[2],"datatype":"BYTES","data":["x","y"]}]}`,
			`[{"name":"flags_out","datatype":"BOOL","shape":[1],"data":[true]},{"name":"text_out","datatype":"BYTES","shape":[2],"data":["x","y"]}]`)
	})
	t.Run("string_bare_scalar_with_escapes", func(t *testing.T) {
		// A bare (unbracketed) string is a one-element tensor, like a
		// bare number. Its escapes must be decoded once, wherever "data"
		// stands in the input object.
		f(t, "dtypes_misc", `{"inputs":[{"name":"flags","shape":[1],"datatype":"BOOL","data":true},{"name":"text","shape":[1],"datatype":"BYTES","data":"plain"}]}`,
			`[{"name":"flags_out","datatype":"BOOL","shape":[1],"data":[false]},{"name":"text_out","datatype":"BYTES","shape":[1],"data":["plain"]}]`)
		f(t, "dtypes_misc", `{"inputs":[{"name":"flags","shape":[1],"datatype":"BOOL","data":true},{"name":"text","shape":[1],"datatype":"BYTES","data":"a\\b"}]}`,
			`[{"name":"flags_out","datatype":"BOOL","shape":[1],"data":[false]},{"name":"text_out","datatype":"BYTES","shape":[1],"data":["a\\b"]}]`)
		f(t, "dtypes_misc", `{"inputs":[{"name":"flags","shape":[1],"datatype":"BOOL","data":true},{"name":"text","shape":[1],"datatype":"BYTES","data":"caf\u00e9"}]}`,
			`[{"name":"flags_out","datatype":"BOOL","shape":[1],"data":[false]},{"name":"text_out","datatype":"BYTES","shape":[1],"data":["café"]}]`)
		f(t, "dtypes_misc", `{"inputs":[{"name":"flags","shape":[1],"datatype":"BOOL","data":true},{"data":"plain","name":"text","shape":[1],"datatype":"BYTES"}]}`,
			`[{"name":"flags_out","datatype":"BOOL","shape":[1],"data":[false]},{"name":"text_out","datatype":"BYTES","shape":[1],"data":["plain"]}]`)
		f(t, "dtypes_misc", `{"inputs":[{"name":"flags","shape":[1],"datatype":"BOOL","data":true},{"data":["a\\b"],"name":"text","shape":[1],"datatype":"BYTES"}]}`,
			`[{"name":"flags_out","datatype":"BOOL","shape":[1],"data":[false]},{"name":"text_out","datatype":"BYTES","shape":[1],"data":["a\\b"]}]`)
		f(t, "dtypes_misc", `{"inputs":[{"name":"flags","shape":[1],"datatype":"BOOL","data":true},{"data":"a\\b","name":"text","shape":[1],"datatype":"BYTES"}]}`,
			`[{"name":"flags_out","datatype":"BOOL","shape":[1],"data":[false]},{"name":"text_out","datatype":"BYTES","shape":[1],"data":["a\\b"]}]`)
		f(t, "dtypes_misc", `{"inputs":[{"name":"flags","shape":[1],"datatype":"BOOL","data":true},{"name":"text","data":"caf\u00e9","shape":[1],"datatype":"BYTES"}]}`,
			`[{"name":"flags_out","datatype":"BOOL","shape":[1],"data":[false]},{"name":"text_out","datatype":"BYTES","shape":[1],"data":["café"]}]`)
		r := testSrv.post(t, "/v2/models/dtypes_misc/infer", `{"inputs":[{"name":"flags","shape":[1],"datatype":"BOOL","data":true},{"data":"\"","name":"text","shape":[1],"datatype":"BYTES"}]}`)
		if r.status != 200 {
			t.Errorf("bare string \"\\\"\" before the input's name: status %d: %s", r.status, r.body)
		}
	})
	t.Run("string_invalid_surrogates", func(t *testing.T) {
		// A lone surrogate becomes U+FFFD and what follows it is kept, as
		// encoding/json and every other JSON decoder do.
		f(t, "dtypes_misc", `{"inputs":[{"name":"flags","shape":[0],"datatype":"BOOL","data":[]},{"name":"text","shape":[3],"datatype":"BYTES","data":["\udc00x","\ud800y","\ud800\u0041"]}]}`,
			`[{"name":"flags_out","datatype":"BOOL","shape":[0],"data":[]},{"name":"text_out","datatype":"BYTES","shape":[3],"data":["\ufffdx","\ufffdy","\ufffdA"]}]`)
	})
	t.Run("multi_output", func(t *testing.T) {
		resp := testSrv.infer(t, "multi_output", `{"inputs":[{"name":"x","shape":[2,5],"datatype":"FP32","data":[1,2,3,-4,0, 0,0,0,0,0]}]}`)
		if len(resp.Outputs) != 3 {
			t.Fatalf("outputs %v", outputNames(resp.Outputs))
		}
		checkOutputs(t, resp.Outputs[1:], `[{"name":"label","datatype":"INT64","shape":[2],"data":[2,0]},
			{"name":"positive","datatype":"BOOL","shape":[2,5],"data":[true,true,true,false,false,false,false,false,false,false]}]`)
		p := resp.Outputs[0]
		if p.Name != "probabilities" || p.Datatype != "FP32" || fmt.Sprint(p.Shape) != "[2 5]" {
			t.Fatalf("first output %s %s %v", p.Name, p.Datatype, p.Shape)
		}
		checkOutputs(t, []outputTensor{{Name: p.Name, Datatype: p.Datatype, Shape: []int64{5}, Data: p.Data[5:]}},
			`[{"name":"probabilities","datatype":"FP32","shape":[5],"data":[0.2,0.2,0.2,0.2,0.2]}]`)
	})
	t.Run("no_inputs", func(t *testing.T) {
		want := `[{"name":"value","datatype":"FP32","shape":[2,3],"data":[0.5,1.5,2.5,3.5,4.5,5.5]},
			{"name":"answer","datatype":"INT64","shape":[],"data":[42]}]`
		f(t, "constant", `{"inputs":[]}`, want)
		f(t, "constant", `{"id":"c","inputs":[],"outputs":[]}`, want)
		f(t, "constant", `{"inputs":[],"outputs":[{"name":"answer"}]}`, `[{"name":"answer","datatype":"INT64","shape":[],"data":[42]}]`)
	})
	t.Run("output_subset", func(t *testing.T) {
		x := `"inputs":[{"name":"x","shape":[1,5],"datatype":"FP32","data":[-1,5,2,0,3]}]`
		f(t, "multi_output", `{`+x+`,"outputs":[{"name":"label"}]}`,
			`[{"name":"label","datatype":"INT64","shape":[1],"data":[1]}]`)
		f(t, "multi_output", `{"outputs":[{"name":"positive"},{"name":"label"}],`+x+`}`,
			`[{"name":"positive","datatype":"BOOL","shape":[1,5],"data":[false,true,true,false,true]},
			  {"name":"label","datatype":"INT64","shape":[1],"data":[1]}]`)
		f(t, "dtypes_misc", `{"inputs":[{"name":"flags","shape":[1],"datatype":"BOOL","data":[true]},{"name":"text","shape":[1],"datatype":"BYTES","data":["t"]}],"outputs":[{"name":"text_out"}]}`,
			`[{"name":"text_out","datatype":"BYTES","shape":[1],"data":["t"]}]`)
	})
	t.Run("id", func(t *testing.T) {
		g := func(body string, want *string) {
			t.Helper()
			r := testSrv.post(t, "/v2/models/elementwise/infer", body)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			resp := decodeResponse(t, r.body)
			switch {
			case want == nil && resp.ID != nil:
				t.Errorf("id %q echoed, but the request had none", *resp.ID)
			case want != nil && resp.ID == nil:
				t.Errorf("id not echoed, want %q", *want)
			case want != nil && *resp.ID != *want:
				t.Errorf("id %q, want %q", *resp.ID, *want)
			}
		}
		x := `"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]`
		s := func(s string) *string { return &s }
		g(`{"id":"req-1",`+x+`}`, s("req-1"))
		g(`{`+x+`,"id":"after"}`, s("after"))
		g(`{"id":"",`+x+`}`, s(""))
		g(`{"id":"q\"b\\s\/n\nt\tu\u00e9\ud83d\ude00\u0000end",`+x+`}`, s("q\"b\\s/n\nt\tué😀\x00end"))
		g(`{"id":"日本語",`+x+`}`, s("日本語"))
		g(`{`+x+`}`, nil)
	})
	t.Run("parameters", func(t *testing.T) {
		f(t, "elementwise", `{"id":"p","parameters":{"priority":1,"nested":{"a":[1,{"b":null}],"s":"x","t":true,"f":false,"e":{}}},
			"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":0,"content_type":"float"},"data":[1,2,3,4]}],
			"outputs":[{"name":"y","parameters":{"binary_data":false,"classification":0}}]}`,
			`[{"name":"y","datatype":"FP32","shape":[1,4],"data":[3,5,7,9]}]`)
		f(t, "elementwise", `{"parameters":{},"inputs":[{"parameters":{},"name":"x","shape":[1,4],"datatype":"FP32","data":[0,0,0,0]}],"outputs":[{"parameters":{},"name":"y"}]}`,
			`[{"name":"y","datatype":"FP32","shape":[1,4],"data":[1,1,1,1]}]`)
	})
	t.Run("nested_data", func(t *testing.T) {
		want := `[{"name":"y","datatype":"FP32","shape":[2,4],"data":[3,5,7,9,11,13,15,17]}]`
		f(t, "elementwise", `{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[1,2,3,4,5,6,7,8]}]}`, want)
		f(t, "elementwise", `{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[[1,2,3,4],[5,6,7,8]]}]}`, want)
		f(t, "elementwise", " \n\t{ \"inputs\" : [ { \"name\" : \"x\" , \"shape\" : [ 2 , 4 ] , \"datatype\" : \"FP32\" , \"data\" : [ [ 1 , 2 , 3 , 4 ] , [ 5 , 6 , 7 , 8 ] ] } ] } \r\n", want)
		f(t, "elementwise", `{"inputs":[{"data":[1,2,3,4,5,6,7,8],"datatype":"FP32","shape":[2,4],"name":"x"}]}`, want)
		f(t, "elementwise", `{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[1.0e0,2E0,0.3e1,4.000,5e+0,60e-1,7,8]}]}`, want)
	})
	t.Run("version_path", func(t *testing.T) {
		body := `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`
		for _, path := range []string{"/v2/models/elementwise/versions/1/infer", "/v2/models/elementwise/infer"} {
			r := testSrv.post(t, path, body)
			if r.status != http.StatusOK {
				t.Fatalf("%s: status %d: %s", path, r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type %q", path, ct)
			}
			resp := decodeResponse(t, r.body)
			if resp.ModelName != "elementwise" || resp.ModelVersion != "1" {
				t.Errorf("%s: model_name %q model_version %q", path, resp.ModelName, resp.ModelVersion)
			}
			checkOutputs(t, resp.Outputs, `[{"name":"y","datatype":"FP32","shape":[1,4],"data":[3,5,7,9]}]`)
		}
	})
}

// TestInferConcurrent runs requests for several models at once, so the
// race detector sees the pooled requests, parsers, calls and bodies shared.
func TestInferConcurrent(t *testing.T) {
	// try posts body and returns the outputs' data as text; it does not
	// stop the test, since it runs off the test's goroutine.
	try := func(model, body string) (string, string, error) {
		resp, err := testSrv.client.Post(testSrv.base+"/v2/models/"+model+"/infer", "application/json", strings.NewReader(body))
		if err != nil {
			return "", "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return "", "", err
		}
		var r inferResponse
		if err := decodeJSON(b, &r); err != nil || resp.StatusCode != 200 {
			return "", "", fmt.Errorf("status %d: %v: %s", resp.StatusCode, err, b)
		}
		id := ""
		if r.ID != nil {
			id = *r.ID
		}
		var data []string
		for _, o := range r.Outputs {
			data = append(data, fmt.Sprint(o.Data))
		}
		return id, strings.Join(data, " "), nil
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 15 {
				var model, body, want string
				switch i % 3 {
				case 0:
					k := float32(g*100 + i)
					model = "elementwise"
					body = fmt.Sprintf(`{"id":"%d-%d","inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[%g,0,1,2]}]}`, g, i, k)
					want = fmt.Sprintf("[%g 1 3 5]", 2*k+1)
				case 1:
					model = "dtypes_misc"
					body = fmt.Sprintf(`{"id":"%d-%d","inputs":[{"name":"flags","shape":[1],"datatype":"BOOL","data":[true]},{"name":"text","shape":[2],"datatype":"BYTES","data":["g%d","i%d"]}]}`, g, i, g, i)
					want = fmt.Sprintf("[false] [g%d i%d]", g, i)
				default:
					model = "multi_output"
					body = fmt.Sprintf(`{"id":"%d-%d","inputs":[{"name":"x","shape":[1,5],"datatype":"FP32","data":[0,0,%d,0,0]}],"outputs":[{"name":"label"},{"name":"positive"}]}`, g, i, g+1)
					want = "[2] [false false true false false]"
				}
				id, got, err := try(model, body)
				if err != nil {
					t.Errorf("%s: %v", model, err)
					return
				}
				if wantID := fmt.Sprintf("%d-%d", g, i); id != wantID || got != want {
					t.Errorf("%s: id %q data %s, want id %q data %s", model, id, got, wantID, want)
				}
			}
		})
	}
	wg.Wait()
}

// TestMetadata checks the server, health, model and repository endpoints.
func TestMetadata(t *testing.T) {
	// f GETs path and expects status and, when want is not empty, a JSON
	// body containing want.
	f := func(method, path string, status int, want string) {
		t.Helper()
		r := testSrv.do(t, method, path, nil, "")
		if r.status != status {
			t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, status, r.body)
		}
		if want == "" {
			if method == http.MethodHead && len(r.body) != 0 {
				t.Errorf("HEAD %s has a body: %s", path, r.body)
			}
			return
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s %s: Content-Type %q", method, path, ct)
		}
		expectJSON(t, r.body, want)
	}
	fraud := `{"name":"fraud","versions":["1"],"platform":"onnxruntime_onnx",
		"inputs":[{"name":"features","datatype":"FP32","shape":[-1,30]}],
		"outputs":[{"name":"probabilities","datatype":"FP32","shape":[-1,2]}],
		"parameters":{"version":"1","execution_provider":"CPUExecutionProvider"}}`
	f("GET", "/v2", 200, `{"name":"infergate","version":"test-1.2.3","extensions":[]}`)
	f("GET", "/v2/", 200, `{"name":"infergate","version":"test-1.2.3"}`)
	f("GET", "/v2/health/live", 200, "")
	f("GET", "/v2/health/ready", 200, "")
	f("HEAD", "/v2/health/ready", 200, "")
	f("GET", "/v2/models/fraud", 200, fraud)
	f("GET", "/v2/models/fraud/versions/1", 200, fraud)
	f("HEAD", "/v2/models/fraud", 200, "")
	f("GET", "/v2/models/fraud/ready", 200, "")
	f("GET", "/v2/models/fraud/versions/1/ready", 200, "")
	f("GET", "/v2/models/scalar", 200, `{"name":"scalar","inputs":[{"name":"x","datatype":"FP32","shape":[]}],"outputs":[{"name":"y","datatype":"FP32","shape":[]}]}`)
	f("GET", "/v2/models/constant", 200, `{"name":"constant","inputs":[],"outputs":[{"name":"value","datatype":"FP32","shape":[2,3]},{"name":"answer","datatype":"INT64","shape":[]}]}`)
	f("GET", "/v2/models/dtypes_misc", 200, `{"name":"dtypes_misc",
		"inputs":[{"name":"flags","datatype":"BOOL","shape":[-1]},{"name":"text","datatype":"BYTES","shape":[-1]}],
		"outputs":[{"name":"flags_out","datatype":"BOOL","shape":[-1]},{"name":"text_out","datatype":"BYTES","shape":[-1]}]}`)
	f("GET", "/v2/models/multi_output", 200, `{"name":"multi_output",
		"outputs":[{"name":"probabilities","datatype":"FP32","shape":[-1,5]},{"name":"label","datatype":"INT64","shape":[-1]},{"name":"positive","datatype":"BOOL","shape":[-1,5]}]}`)
	f("GET", "/v2/models/fraud/versions/2/ready", 404, `{"error":"version not found: model fraud has no version 2"}`)
	f("GET", "/v2/models/nope/ready", 404, "")

	// Every model's metadata lists exactly the session's tensors.
	for _, name := range testRepo.Names {
		v := testVersion(t, name)
		infos := func(ts []runtime.TensorInfo) string {
			var parts []string
			for _, ti := range ts {
				parts = append(parts, fmt.Sprintf(`{"name":%q,"datatype":%q,"shape":%s}`, ti.Name, ti.DataType, formatShape(ti.Shape)))
			}
			return "[" + strings.Join(parts, ",") + "]"
		}
		f("GET", "/v2/models/"+name, 200, fmt.Sprintf(`{"name":%q,"versions":["1"],"inputs":%s,"outputs":%s}`, name, infos(v.Inputs), infos(v.Outputs)))
	}

	// The repository index lists every model, ready, for GET and POST.
	var entries []string
	for _, name := range testRepo.Names {
		entries = append(entries, fmt.Sprintf(`{"name":%q,"version":"1","state":"READY","reason":""}`, name))
	}
	index := "[" + strings.Join(entries, ",") + "]"
	for _, method := range []string{"POST", "GET"} {
		r := testSrv.do(t, method, "/v2/repository/index", nil, "")
		if r.status != 200 {
			t.Fatalf("%s index: %d %s", method, r.status, r.body)
		}
		expectJSON(t, r.body, index)
	}
	r := testSrv.do(t, "POST", "/v2/repository/index", nil, `{"ready":true}`)
	if r.status != 200 {
		t.Fatalf("POST index with a body: %d %s", r.status, r.body)
	}
}

// TestMetrics counts requests on a fresh registry and scrapes them.
func TestMetrics(t *testing.T) {
	ts := newServer(t, Config{}, testRepo)
	good := `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`
	for range 5 {
		ts.infer(t, "elementwise", good)
	}
	ts.infer(t, "elementwise/versions/1", good)
	for _, bad := range []string{`{`, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1]}]}`} {
		if r := ts.post(t, "/v2/models/elementwise/infer", bad); r.status != 400 {
			t.Fatalf("bad request: %d", r.status)
		}
	}
	if r := ts.post(t, "/v2/models/elementwise/versions/7/infer", good); r.status != 404 {
		t.Fatalf("unknown version: %d", r.status)
	}
	if r := ts.post(t, "/v2/models/nope/infer", good); r.status != 404 {
		t.Fatalf("unknown model: %d", r.status)
	}
	ts.infer(t, "fraud", `{"inputs":[{"name":"features","shape":[1,30],"datatype":"FP32","data":[`+strings.Repeat("0,", 29)+`0]}]}`)

	r := ts.doURL(t, "GET", ts.metrics+"/metrics", nil, "")
	if r.status != 200 {
		t.Fatalf("/metrics: %d %s", r.status, r.body)
	}
	text := string(r.body)
	// f expects the sample named series to have value want.
	f := func(series string, want string) {
		t.Helper()
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
		m := re.FindStringSubmatch(text)
		if m == nil {
			t.Errorf("no sample %s in /metrics", series)
			return
		}
		if m[1] != want {
			t.Errorf("%s = %s, want %s", series, m[1], want)
		}
	}
	f(`infergate_requests_total{model="elementwise",version="1",status="200"}`, "6")
	f(`infergate_requests_total{model="elementwise",version="1",status="400"}`, "2")
	f(`infergate_requests_total{model="elementwise",version="1",status="404"}`, "0")
	f(`infergate_requests_total{model="fraud",version="1",status="200"}`, "1")
	f(`infergate_requests_total{model="mlp",version="1",status="200"}`, "0")
	f(`infergate_requests_unknown_model_total`, "1")
	for _, phase := range []string{"decode", "queue", "compute", "encode"} {
		f(`infergate_request_phase_seconds_count{model="elementwise",version="1",phase="`+phase+`"}`, "6")
		f(`infergate_request_phase_seconds_bucket{model="elementwise",version="1",phase="`+phase+`",le="+Inf"}`, "6")
		f(`infergate_request_phase_seconds_count{model="fraud",version="1",phase="`+phase+`"}`, "1")
	}
	if !strings.Contains(text, `infergate_request_phase_seconds_sum{model="elementwise",version="1",phase="compute"}`) {
		t.Errorf("no compute _sum in /metrics")
	}
	if !strings.Contains(text, `infergate_model_version_info{model="elementwise",version="1",provider="CPUExecutionProvider"} 1`) {
		t.Errorf("no model version info in /metrics")
	}
	if r := ts.doURL(t, "GET", ts.metrics+"/health", nil, ""); r.status != 200 {
		t.Errorf("metrics /health: %d", r.status)
	}
	if r := ts.doURL(t, "GET", ts.metrics+"/other", nil, ""); r.status != 404 {
		t.Errorf("metrics /other: %d", r.status)
	}
}
