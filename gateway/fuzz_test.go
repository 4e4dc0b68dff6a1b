package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/infergate/infergate/runtime"
)

// fuzzMaxElements keeps each tensor small, so the fuzzer spends its time
// on syntax rather than on filling memory.
const fuzzMaxElements = 1 << 16

var fuzzModels = []string{"elementwise", "dtypes_int", "dtypes_float", "dtypes_misc", "scalar"}

// FuzzDecode decodes arbitrary bodies and binds every one that decodes
// against real model versions, both ways the gateway does it: data parsed
// while decoding (prepare, then decode and bind: the server's path) and
// data parsed after decoding (decode alone, then bind: what the server
// falls back to when "data" precedes "name", "datatype" or "shape").
// Whatever the body, nothing may panic, and:
//   - every error is a requestError (a 400), never anything else;
//   - both ways agree on whether the body is acceptable and, when it is,
//     produce byte-identical responses;
//   - a body the gateway accepts is valid JSON (NaN and Infinity aside) and
//     the response it writes is valid JSON;
//   - the identity models give back exactly what encoding/json reads in the
//     request.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`,
		`{"id":"a\"b\\c\u00e9\ud83d\ude00","parameters":{"p":[1,{"q":null}]},"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","parameters":{},"data":[[1,2,3,4],[5,6,7,8]]}],"outputs":[{"name":"y","parameters":{"binary_data":false}}]}`,
		`{"inputs":[{"data":[1.5e3,-0,NaN,"Infinity"],"datatype":"FP32","shape":[1,4],"name":"x"}]}`,
		`{"inputs":[{"name":"x","shape":[],"datatype":"FP32","data":2.5}]}`,
		`{"inputs":[{"name":"x","shape":[],"datatype":"FP32","data":[-Infinity]}]}`,
		`{"inputs":[{"name":"i8","shape":[2],"datatype":"INT8","data":[-128,127]},{"name":"i16","shape":[1],"datatype":"INT16","data":[-32768]},{"name":"i32","shape":[1],"datatype":"INT32","data":[2147483647]},{"name":"i64","shape":[2],"datatype":"INT64","data":[-9223372036854775808,9223372036854775807]},{"name":"u8","shape":[1],"datatype":"UINT8","data":[255]},{"name":"u16","shape":[1],"datatype":"UINT16","data":[65535]},{"name":"u32","shape":[1],"datatype":"UINT32","data":[4294967295]},{"name":"u64","shape":[1],"datatype":"UINT64","data":[18446744073709551615]}]}`,
		`{"inputs":[{"name":"i8","shape":[0],"datatype":"INT8","data":[]},{"name":"i16","shape":[0],"datatype":"INT16","data":[]},{"name":"i32","shape":[1],"datatype":"INT32","data":-0},{"name":"i64","shape":[0],"datatype":"INT64","data":[]},{"name":"u8","shape":[0],"datatype":"UINT8","data":[]},{"name":"u16","shape":[0],"datatype":"UINT16","data":[]},{"name":"u32","shape":[0],"datatype":"UINT32","data":[]},{"data":[300],"name":"u64","shape":[1],"datatype":"UINT64"}]}`,
		`{"inputs":[{"name":"f16","shape":[3],"datatype":"FP16","data":[0.5,65504,"NaN"]},{"name":"f32","shape":[2],"datatype":"FP32","data":[0,-1]},{"name":"f64","shape":[2],"datatype":"FP64","data":[0,1e-320]}]}`,
		`{"inputs":[{"name":"flags","shape":[2],"datatype":"BOOL","data":[true,false]},{"name":"text","shape":[4],"datatype":"BYTES","data":["","a\nb","\u0000","\ud83d\ude00"]}],"outputs":[{"name":"text_out"}]}`,
		`{"inputs":[{"name":"flags","shape":[1],"datatype":"BOOL","data":true},{"name":"text","shape":[1],"datatype":"BYTES","data":"cafe"}]}`,
		`{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3]}]}`,
		`{"inputs":[{"name":"x","shape":[1,4],"datatype":"INT32","data":[1,2,3,4]}]}`,
		`{"inputs":[{"name":"x","shape":[99999999999999,4],"datatype":"FP32","data":[]}]}`,
		`{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}]}`,
		`{"inputs":[`, `[]`, ``, `{"input":[]}`, `{"inputs":[]}`, `{"id":"\ud800\u0041","inputs":[]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	var versions []*runtime.Version
	for _, name := range fuzzModels {
		versions = append(versions, testVersion(f, name))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		accepted := false
		for _, v := range versions {
			during := fuzzBind(t, v, body, true)
			after := fuzzBind(t, v, body, false)
			if (during.err == nil) != (after.err == nil) {
				t.Fatalf("model %s: binding while decoding gives %v, binding after decoding gives %v", v.Model, during.err, after.err)
			}
			if during.err != nil {
				continue
			}
			accepted = true
			if (during.runErr == nil) != (after.runErr == nil) {
				t.Fatalf("model %s: runs disagree: %v / %v", v.Model, during.runErr, after.runErr)
			}
			if during.runErr != nil {
				continue
			}
			if !bytes.Equal(during.resp, after.resp) {
				t.Fatalf("model %s: responses differ\nbinding while decoding: %s\nbinding after decoding: %s", v.Model, during.resp, after.resp)
			}
			if !json.Valid(quoteNonFinite(during.resp)) {
				t.Fatalf("model %s: response is not JSON: %s", v.Model, during.resp)
			}
			checkIdentity(t, v, body, during.resp)
		}
		if accepted && !json.Valid(quoteNonFinite(body)) {
			t.Fatalf("the gateway accepted a body that is not JSON: %q", body)
		}
	})
}

type fuzzResult struct {
	err    error // from decode or bind
	runErr error
	resp   []byte
}

// fuzzBind decodes a copy of body and binds it to v: while decoding when
// during is set, else after.
func fuzzBind(t *testing.T, v *runtime.Version, body []byte, during bool) fuzzResult {
	buf := bytes.Clone(body) // decode unescapes strings in place
	req := acquireRequest()
	defer releaseRequest(req)
	call, err := v.Session.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	defer v.Session.ReleaseCall(call)
	tp := &tensorParser{}
	if during {
		req.prepare(v, call, fuzzMaxElements, tp)
	}
	err = req.decode(buf)
	if err == nil {
		err = req.bind(v, call, fuzzMaxElements, tp)
	}
	if err != nil {
		var re *requestError
		if !errors.As(err, &re) {
			t.Fatalf("model %s: %T error %v is not a requestError", v.Model, err, err)
		}
		if err.Error() == "" {
			t.Fatalf("model %s: empty error message", v.Model)
		}
		return fuzzResult{err: err}
	}
	if err := call.Run(); err != nil {
		return fuzzResult{runErr: err}
	}
	resp, err := appendResponse(nil, v, req, call)
	if err != nil {
		t.Fatalf("model %s: appendResponse: %v", v.Model, err)
	}
	return fuzzResult{resp: resp}
}

// checkIdentity compares what an identity model (dtypes_int, dtypes_misc)
// returned with what encoding/json reads in the request.
func checkIdentity(t *testing.T, v *runtime.Version, body, resp []byte) {
	if v.Model != "dtypes_int" && v.Model != "dtypes_misc" {
		return
	}
	var req struct {
		ID     *string `json:"id"`
		Inputs []struct {
			Name  string          `json:"name"`
			Shape []int64         `json:"shape"`
			Data  json.RawMessage `json:"data"`
		} `json:"inputs"`
	}
	if err := decodeJSON(body, &req); err != nil {
		t.Fatalf("model %s: encoding/json cannot read an accepted request: %v\n%q", v.Model, err, body)
	}
	var out inferResponse
	if err := decodeJSON(resp, &out); err != nil {
		t.Fatalf("model %s: cannot read the response: %v\n%s", v.Model, err, resp)
	}
	if (req.ID == nil) != (out.ID == nil) || (req.ID != nil && *req.ID != *out.ID) {
		t.Fatalf("model %s: request id %v, response id %v", v.Model, deref(req.ID), deref(out.ID))
	}
	for _, o := range out.Outputs {
		name := strings.TrimSuffix(o.Name, "_out")
		k := slices.IndexFunc(req.Inputs, func(in struct {
			Name  string          `json:"name"`
			Shape []int64         `json:"shape"`
			Data  json.RawMessage `json:"data"`
		}) bool {
			return in.Name == name
		})
		if k < 0 {
			t.Fatalf("model %s: output %s has no input", v.Model, o.Name)
		}
		in := req.Inputs[k]
		if !slices.Equal(in.Shape, o.Shape) {
			t.Fatalf("model %s: %s has shape %v, its input %v", v.Model, o.Name, o.Shape, in.Shape)
		}
		var data any
		if err := decodeJSON(in.Data, &data); err != nil {
			t.Fatalf("model %s: input %s data: %v", v.Model, name, err)
		}
		sent := flatten(data, nil)
		if len(sent) != len(o.Data) {
			t.Fatalf("model %s: %s has %d elements, its input %d", v.Model, o.Name, len(o.Data), len(sent))
		}
		for e, x := range sent {
			g := o.Data[e]
			var ok bool
			switch o.Datatype {
			case "BOOL":
				xb, _ := x.(bool)
				gb, isBool := g.(bool)
				ok = isBool && gb == !xb
			case "BYTES":
				xs, _ := x.(string)
				gs, isString := g.(string)
				ok = isString && gs == xs
			default:
				xn, _ := x.(json.Number)
				gn, _ := g.(json.Number)
				xi, ok1 := new(big.Int).SetString(string(xn), 10)
				gi, ok2 := new(big.Int).SetString(string(gn), 10)
				ok = ok1 && ok2 && xi.Cmp(gi) == 0
			}
			if !ok {
				t.Fatalf("model %s: %s element %d is %#v, the request's (as encoding/json reads it) %#v\nrequest %q\nresponse %s",
					v.Model, o.Name, e, g, x, body, resp)
			}
		}
	}
}

func flatten(x any, out []any) []any {
	if a, ok := x.([]any); ok {
		for _, y := range a {
			out = flatten(y, out)
		}
		return out
	}
	return append(out, x)
}

func deref(s *string) any {
	if s == nil {
		return nil
	}
	if !utf8.ValidString(*s) {
		return []byte(*s)
	}
	return *s
}
