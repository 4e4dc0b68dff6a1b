package gateway

import (
	"net/http"
	"strings"
	"testing"
)

// x is elementwise's input in a good shape; rows below vary one thing.
const goodX = `{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}`

// TestBadRequests sends a malformed or invalid request of every kind and
// expects the right status with a JSON error naming the problem; after
// each one the server must still answer a good request correctly.
func TestBadRequests(t *testing.T) {
	// f posts body to model's infer endpoint.
	f := func(model, body string, status int, msg string) {
		t.Helper()
		r := testSrv.post(t, "/v2/models/"+model+"/infer", body)
		expectError(t, r, status, msg)
		testSrv.checkGood(t)
	}
	ew := "elementwise"

	// Scheduling parameters must be non-negative integers.
	f(ew, `{"parameters":{"priority":"high"},"inputs":[`+goodX+`]}`, 400, `parameter "priority" must be a non-negative integer`)
	f(ew, `{"parameters":{"priority":-1},"inputs":[`+goodX+`]}`, 400, `parameter "priority" must be a non-negative integer, not -1`)
	f(ew, `{"parameters":{"timeout":1.5},"inputs":[`+goodX+`]}`, 400, `parameter "timeout" must be a non-negative integer, not 1.5`)

	// Not JSON, or not the JSON of a request.
	f(ew, ``, 400, "request body is empty")
	f(ew, " \r\n\t ", 400, "request body is empty")
	f(ew, `{"inputs":[{"name":"x"`, 400, "malformed JSON")
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}`, 400, "malformed JSON")
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2`, 400, `needs 4 elements, more than its "data" can hold`)
	f(ew, `{"inputs":[`+goodX+`],}`, 400, `expected a string, found "}"`)
	f(ew, `{"inputs":[`+goodX+`,]}`, 400, `each element of "inputs" must be an object`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,]}]}`, 400, `trailing comma in tensor data`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4,]}]}`, 400, `trailing comma in tensor data`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4,],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, `input "shape" must be an array of non-negative integers`)
	f(ew, `{'inputs':[]}`, 400, `expected a string, found "'inputs'`)
	f(ew, `{"inputs":[{'name':'x'}]}`, 400, "expected a string")
	f(ew, `{"inputs":[`+goodX+`]} x`, 400, "unexpected data after the request object")
	f(ew, `{"inputs":[`+goodX+`]}{"inputs":[]}`, 400, "unexpected data after the request object")
	f(ew, `[]`, 400, `expected '{', found "[]"`)
	f(ew, `42`, 400, `expected '{', found "42"`)
	f(ew, `null`, 400, `expected '{'`)
	f(ew, `"inputs"`, 400, `expected '{'`)
	f(ew, `{"inputs" [`+goodX+`]}`, 400, `expected ':'`)
	f(ew, `{"inputs":[`+goodX+`] "id":"a"}`, 400, `expected ',' or '}' in the request object`)
	f(ew, "{\"inputs\":[{\"name\":\"x\n\"}]}", 400, "control character 0x0a in string")
	f(ew, `{"inputs":[{"name":"x`, 400, "unterminated string")
	f(ew, `{"inputs":[{"name":"x\q","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, `invalid escape '\q'`)
	f(ew, `{"inputs":[{"name":"x\u12G4","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, `invalid \u escape`)
	f(ew, `{"id":"\u00","inputs":[]}`, 400, `invalid \u escape`)
	// After a high surrogate, the next \u escape must be valid too.
	f(ew, `{"id":"\ud800\u","inputs":[`+goodX+`]}`, 400, `invalid \u escape`)
	f(ew, `{"id":"\ud800\uZZZZ","inputs":[`+goodX+`]}`, 400, `invalid \u escape`)
	f(ew, `{"inputs":[{"name":"x\ud83d\u12G4","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, `invalid \u escape`)

	// The request object's members.
	f(ew, `{}`, 400, `request has no "inputs"`)
	f(ew, `{"id":"a"}`, 400, `request has no "inputs"`)
	f(ew, `{"input":[`+goodX+`]}`, 400, `unknown member "input" in inference request`)
	f(ew, `{"Inputs":[`+goodX+`]}`, 400, `unknown member "Inputs"`)
	f(ew, `{"inputs":{}}`, 400, `"inputs" must be an array of tensors`)
	f(ew, `{"inputs":null}`, 400, `"inputs" must be an array of tensors`)
	f(ew, `{"inputs":[1]}`, 400, `each element of "inputs" must be an object`)
	f(ew, `{"inputs":[],"inputs":[`+goodX+`]}`, 400, `member "inputs" appears twice`)
	f(ew, `{"id":"a","id":"b","inputs":[`+goodX+`]}`, 400, `member "id" appears twice`)
	f(ew, `{"id":7,"inputs":[`+goodX+`]}`, 400, `"id" must be a string`)
	f(ew, `{"parameters":[],"inputs":[`+goodX+`]}`, 400, `"parameters" must be an object`)
	f(ew, `{"parameters":{"a":tru},"inputs":[`+goodX+`]}`, 400, `expected true`)
	f(ew, `{"outputs":{},"inputs":[`+goodX+`]}`, 400, `"outputs" must be an array`)
	f(ew, `{"outputs":["y"],"inputs":[`+goodX+`]}`, 400, `each element of "outputs" must be an object with a "name"`)
	f(ew, `{"outputs":[{}],"inputs":[`+goodX+`]}`, 400, `a requested output has no "name"`)
	f(ew, `{"outputs":[{"name":1}],"inputs":[`+goodX+`]}`, 400, `output "name" must be a string`)
	f(ew, `{"outputs":[{"name":"y","binary_data":true}],"inputs":[`+goodX+`]}`, 400, `unknown member "binary_data" in a requested output`)
	f(ew, `{"outputs":[{"name":"y","parameters":1}],"inputs":[`+goodX+`]}`, 400, `output "parameters" must be an object`)

	// An input's members.
	f(ew, `{"inputs":[{"shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, `an input has no "name"`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"data":[1,2,3,4]}]}`, 400, `input "x" has no "datatype"`)
	f(ew, `{"inputs":[{"name":"x","datatype":"FP32","data":[1,2,3,4]}]}`, 400, `input "x" has no "shape"`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32"}]}`, 400, `input "x" has no "data"`)
	f(ew, `{"inputs":[{}]}`, 400, `an input has no "name"`)
	f(ew, `{"inputs":[{"name":1,"shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, `input "name" must be a string`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":1,"data":[1,2,3,4]}]}`, 400, `input "datatype" must be a string`)
	f(ew, `{"inputs":[{"name":"x","name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, `an input has "name" twice`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, `an input has "shape" twice`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4],"data":[1,2,3,4]}]}`, 400, `an input has "data" twice`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","dtype":"FP32","data":[1,2,3,4]}]}`, 400, `unknown member "dtype" in an input`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","parameters":"a","data":[1,2,3,4]}]}`, 400, `input "parameters" must be an object`)
	f(ew, `{"inputs":[`+goodX+`,`+goodX+`]}`, 400, `input "x" appears twice`)
	f(ew, `{"inputs":[{"data":[1,2,3,4],"name":"x","shape":[1,4],"datatype":"FP32"},`+goodX+`]}`, 400, `input "x" appears twice`)

	// Inputs against the model.
	f(ew, `{"inputs":[{"name":"z","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, `model elementwise has no input "z"; its inputs are "x"`)
	f(ew, `{"inputs":[]}`, 400, `model elementwise needs input "x", which the request lacks`)
	f("dtypes_float", `{"inputs":[{"name":"f32","shape":[1],"datatype":"FP32","data":[1]}]}`, 400, `model dtypes_float needs input "f16", "f64"`)
	f("constant", `{"inputs":[`+goodX+`]}`, 400, `model constant has no input "x"; its inputs are (none)`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FLOAT32","data":[1,2,3,4]}]}`, 400, `input "x" has datatype "FLOAT32", which is not one of BOOL`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"fp32","data":[1,2,3,4]}]}`, 400, `datatype "fp32", which is not one of`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"BF16","data":[1,2,3,4]}]}`, 400, `datatype "BF16", which is not one of`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"INT64","data":[1,2,3,4]}]}`, 400, `input "x" must be FP32, got INT64`)
	f(ew, `{"inputs":[{"data":[1,2,3,4],"name":"x","shape":[1,4],"datatype":"FP64"}]}`, 400, `input "x" must be FP32, got FP64`)
	f(ew, `{"inputs":[{"name":"x","shape":[4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, `input "x" must have rank 2, shape [-1,4]; got shape [4]`)
	f(ew, `{"inputs":[{"name":"x","shape":[],"datatype":"FP32","data":1}]}`, 400, `input "x" must have rank 2`)
	f("scalar", `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}`, 400, `input "x" must have rank 0, shape []; got shape [1]`)
	f(ew, `{"inputs":[{"name":"x","shape":[2,5],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9,10]}]}`, 400, `input "x" must have shape [-1,4]; got [2,5] (dimension 1 is 5, not 4)`)
	f(ew, `{"inputs":[{"name":"x","shape":[-1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, `input shape has the negative dimension -1`)
	f(ew, `{"inputs":[{"name":"x","shape":[1.5,4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, `input shape has 1.5, which is not an integer`)
	f(ew, `{"inputs":[{"name":"x","shape":[1e12,4],"datatype":"FP32","data":[]}]}`, 400, `input shape has 1e12, which is not an integer`)
	f(ew, `{"inputs":[{"name":"x","shape":[99999999999999,4],"datatype":"FP32","data":[]}]}`, 400, `input shape has the dimension 99999999999999, which is absurdly large`)
	f(ew, `{"inputs":[{"name":"x","shape":[99999999999999999999999,4],"datatype":"FP32","data":[]}]}`, 400, `which is not an integer`)
	f(ew, `{"inputs":[{"name":"x","shape":["1",4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, `input "shape" must be an array of non-negative integers`)
	f(ew, `{"inputs":[{"name":"x","shape":"[1,4]","datatype":"FP32","data":[1,2,3,4]}]}`, 400, `input "shape" must be an array of non-negative integers`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],"datatype":"FP32","data":[1]}]}`, 400, `input shape has more than 16 dimensions`)
	f(ew, `{"inputs":[{"name":"x","shape":[1099511627776,4],"datatype":"FP32","data":[]}]}`, 400, `input "x" shape [1099511627776,4] has more than 67108864 elements, the gateway's limit`)
	f(ew, `{"inputs":[{"name":"x","shape":[16777217,4],"datatype":"FP32","data":[]}]}`, 400, `has more than 67108864 elements`)
	f("cnn", `{"inputs":[{"name":"image","shape":[1099511627776,3,64,64],"datatype":"FP32","data":[]}]}`, 400, `has more than 67108864 elements`)

	// Data against the shape and the datatype.
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3]}]}`, 400, `input "x" has 3 elements in "data" but its shape needs 4`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4,5]}]}`, 400, `input "x" has more elements in "data" than its shape's 4`)
	f(ew, `{"inputs":[{"data":[1,2,3],"name":"x","shape":[1,4],"datatype":"FP32"}]}`, 400, `input "x" has 3 elements in "data" but its shape needs 4`)
	f(ew, `{"inputs":[{"data":[1,2,3,4,5],"name":"x","shape":[1,4],"datatype":"FP32"}]}`, 400, `input "x" has more elements in "data" than its shape's 4`)
	f(ew, `{"inputs":[{"name":"x","shape":[0,4],"datatype":"FP32","data":[1]}]}`, 400, `has more elements in "data" than its shape's 0`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":1}]}`, 400, `needs 4 elements, more than its "data" can hold`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,"abc",4]}]}`, 400, `input "x": element 2: expected a number, found the string "abc"`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,"Inf",4]}]}`, 400, `expected a number, found the string "Inf"`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,null,4]}]}`, 400, `element 2: expected a number for FP32, found "null`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,true,4]}]}`, 400, `element 2: expected a number for FP32`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,{},4]}]}`, 400, `element 2: expected a number for FP32`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[01,2,3,4]}]}`, 400, `element 0: expected a number for FP32`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[+1,2,3,4]}]}`, 400, `element 0: expected a number for FP32`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[.5,2,3,4]}]}`, 400, `element 0: expected a number for FP32`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1.,2,3,4]}]}`, 400, `element 0: expected a number for FP32`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1e,2,3,4]}]}`, 400, `element 0: expected a number for FP32`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[-NaN,2,3,4]}]}`, 400, `element 0: expected a number for FP32`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[nan,2,3,4]}]}`, 400, `element 0: expected a number for FP32`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1 2,3,4]}]}`, 400, `expected ',' or ']' in tensor data`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,1e39]}]}`, 400, `input "x": element 3: 1e39 overflows FP32`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,-3.5e38]}]}`, 400, `-3.5e38 overflows FP32`)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,340282356779733661637539395458142568448]}]}`, 400, `overflows FP32`)
	f("dtypes_float", `{"inputs":[{"name":"f16","shape":[0],"datatype":"FP16","data":[]},{"name":"f32","shape":[0],"datatype":"FP32","data":[]},{"name":"f64","shape":[1],"datatype":"FP64","data":[1e309]}]}`, 400, `input "f64": element 0: 1e309 overflows FP64`)
	f("dtypes_float", `{"inputs":[{"name":"f16","shape":[2],"datatype":"FP16","data":[1,70000]},{"name":"f32","shape":[0],"datatype":"FP32","data":[]},{"name":"f64","shape":[0],"datatype":"FP64","data":[]}]}`, 400, `input "f16": element 1: 70000 overflows FP16`)
	f("dtypes_float", `{"inputs":[{"name":"f16","shape":[1],"datatype":"FP16","data":[-65520]},{"name":"f32","shape":[0],"datatype":"FP32","data":[]},{"name":"f64","shape":[0],"datatype":"FP64","data":[]}]}`, 400, `overflows FP16`)

	// Integers must be integers that fit.
	ints := func(input, datatype, data string) string {
		var parts []string
		for _, in := range intInputs {
			if in.name == input {
				parts = append(parts, `{"name":"`+in.name+`","shape":[1],"datatype":"`+datatype+`","data":`+data+`}`)
			} else {
				parts = append(parts, `{"name":"`+in.name+`","shape":[0],"datatype":"`+in.datatype+`","data":[]}`)
			}
		}
		return `{"inputs":[` + strings.Join(parts, ",") + `]}`
	}
	di := "dtypes_int"
	f(di, ints("i32", "INT32", "[1.5]"), 400, `input "i32": element 0: 1.5 is not an integer that INT32 can hold`)
	f(di, ints("i32", "INT32", "[1e2]"), 400, `1e2 is not an integer that INT32 can hold`)
	f(di, ints("i32", "INT32", "[NaN]"), 400, `NaN is not an integer that INT32 can hold`)
	f(di, ints("i32", "INT32", "[Infinity]"), 400, `Infinity is not an integer that INT32 can hold`)
	f(di, ints("i32", "INT32", "[-Infinity]"), 400, `-Infinity is not an integer that INT32 can hold`)
	f(di, ints("i32", "INT32", `["5"]`), 400, `expected an integer for INT32`)
	f(di, ints("i32", "INT32", "[2147483648]"), 400, `2147483648 is out of range for INT32`)
	f(di, ints("i32", "INT32", "[-2147483649]"), 400, `-2147483649 is out of range for INT32`)
	f(di, ints("i8", "INT8", "[128]"), 400, `128 is out of range for INT8`)
	f(di, ints("i8", "INT8", "[-129]"), 400, `-129 is out of range for INT8`)
	f(di, ints("i16", "INT16", "[32768]"), 400, `32768 is out of range for INT16`)
	f(di, ints("i64", "INT64", "[9223372036854775808]"), 400, `9223372036854775808 is out of range for INT64`)
	f(di, ints("i64", "INT64", "[-9223372036854775809]"), 400, `-9223372036854775809 is not an integer that INT64 can hold`)
	f(di, ints("u8", "UINT8", "[300]"), 400, `input "u8": element 0: 300 is out of range for UINT8`)
	f(di, ints("u8", "UINT8", "[256]"), 400, `256 is out of range for UINT8`)
	f(di, ints("u16", "UINT16", "[-1]"), 400, `input "u16": element 0: -1 is negative, and UINT16 is unsigned`)
	f(di, ints("u32", "UINT32", "[4294967296]"), 400, `4294967296 is out of range for UINT32`)
	f(di, ints("u64", "UINT64", "[18446744073709551616]"), 400, `18446744073709551616 is not an integer that UINT64 can hold`)
	f(di, ints("u64", "UINT64", "[-18446744073709551615]"), 400, `is not an integer that UINT64 can hold`)
	f(di, ints("u64", "UINT64", "[true]"), 400, `expected an integer for UINT64`)
	f(di, ints("u8", "INT8", "[1]"), 400, `input "u8" must be UINT8, got INT8`)

	// BOOL and BYTES.
	misc := func(flags, text string) string {
		return `{"inputs":[{"name":"flags","shape":[1],"datatype":"BOOL","data":` + flags + `},{"name":"text","shape":[1],"datatype":"BYTES","data":` + text + `}]}`
	}
	dm := "dtypes_misc"
	f(dm, misc(`["yes"]`, `["a"]`), 400, `input "flags": element 0: expected true or false for BOOL`)
	f(dm, misc(`[1]`, `["a"]`), 400, `expected true or false for BOOL`)
	f(dm, misc(`[tru]`, `["a"]`), 400, `expected true or false`)
	f(dm, misc(`[True]`, `["a"]`), 400, `expected true or false for BOOL`)
	f(dm, misc(`[true]`, `[5]`), 400, `input "text": element 0: expected a string for BYTES`)
	f(dm, misc(`[true]`, `[null]`), 400, `expected a string for BYTES`)
	f(dm, misc(`[true]`, `["a\xb"]`), 400, `invalid escape '\x'`)
	f(dm, misc(`[true]`, `["\u00zz"]`), 400, `invalid \u escape`)
	f(dm, misc(`[true]`, `["unterminated]}]}`), 400, "unterminated string")
	f(dm, misc(`[true]`, `["a","b"]`), 400, `input "text" has more elements in "data" than its shape's 1`)

	// Outputs against the model.
	f(ew, `{"inputs":[`+goodX+`],"outputs":[{"name":"z"}]}`, 400, `model elementwise has no output "z"; its outputs are "y"`)
	f(ew, `{"inputs":[`+goodX+`],"outputs":[{"name":"y"},{"name":"y"}]}`, 400, `output "y" is requested twice`)
	f("multi_output", `{"outputs":[{"name":"label"},{"name":"Label"}],"inputs":[{"name":"x","shape":[1,5],"datatype":"FP32","data":[1,2,3,4,5]}]}`, 400, `model multi_output has no output "Label"`)

	// Nesting bombs: the depth is bounded wherever nesting can appear.
	deep := strings.Repeat("[", 100000)
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":`+deep+`]}]}`, 400, "data nested deeper than the largest rank")
	f(ew, `{"inputs":[{"data":`+deep+`,"name":"x","shape":[1,4],"datatype":"FP32"}]}`, 400, "nesting deeper than 64")
	f(ew, `{"parameters":{"a":`+deep+`},"inputs":[`+goodX+`]}`, 400, "nesting deeper than 64")
	f(ew, `{"parameters":`+strings.Repeat(`{"a":`, 100000)+`}`, 400, "nesting deeper than 64")
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","parameters":{"p":`+deep+`}}]}`, 400, "nesting deeper than 64")
	f(ew, `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[[[[[[[[[[[[[[[[[[[[1,2,3,4]]]]]]]]]]]]]]]]]]]]}]}`, 400, "data nested deeper than the largest rank")
	f(ew, `{"inputs":[{"data":[[[1,2,3,4]`, 400, "unterminated array")
}

// TestBadShapeProducts multiplies dimensions whose product overflows int64
// on models with two dynamic dimensions: the element limit must still catch
// them with a 400, before anything is allocated or run.
func TestBadShapeProducts(t *testing.T) {
	// f sends shape with no data to model (whose input x has datatype).
	f := func(model, datatype, shape string, msg string) {
		t.Helper()
		r := testSrv.post(t, "/v2/models/"+model+"/infer", `{"inputs":[{"name":"x","shape":`+shape+`,"datatype":"`+datatype+`","data":[]}]}`)
		expectError(t, r, 400, msg)
		testSrv.checkGood(t)
	}
	f("dynamic2d", "FP32", "[1099511627776,1099511627776]", "has more than 67108864 elements")
	f("dynamic2d", "FP32", "[67108864,2]", "has more than 67108864 elements")
	f("dynamic2d", "FP32", "[4096,1099511627776]", "has more than 67108864 elements")
	// 2^26 * 2^37 = 2^63 wraps to a negative count, 2^26 * 2^38 = 2^64
	// to 0.
	f("dynamic2d", "FP32", "[67108864,137438953472]", "has more than 67108864 elements")
	f("dynamic2d", "FP32", "[67108864,274877906944]", "has more than 67108864 elements")

	// A zero dimension makes any other dimension harmless.
	resp := testSrv.infer(t, "dynamic2d", `{"inputs":[{"name":"x","shape":[0,1099511627776],"datatype":"FP32","data":[]}]}`)
	checkOutputs(t, resp.Outputs, `[{"name":"y","datatype":"FP32","shape":[0,1099511627776],"data":[]}]`)
	resp = testSrv.infer(t, "dynamic2d_u8", `{"inputs":[{"name":"x","shape":[2,3],"datatype":"UINT8","data":[[1,2,3],[4,5,255]]}]}`)
	checkOutputs(t, resp.Outputs, `[{"name":"y","datatype":"UINT8","shape":[2,3],"data":[1,2,3,4,5,255]}]`)
}

// TestBadShapeProductOneByteType: 2^26 * (2^37+1) wraps to a negative
// element count that stays negative in bytes for a one-byte type.
func TestBadShapeProductOneByteType(t *testing.T) {
	r := testSrv.post(t, "/v2/models/dynamic2d_u8/infer", `{"inputs":[{"name":"x","shape":[67108864,137438953473],"datatype":"UINT8","data":[]}]}`)
	expectError(t, r, 400, "has more than 67108864 elements")
	testSrv.checkGood(t)
}

// TestBadRoutes covers endpoints, methods and headers.
func TestBadRoutes(t *testing.T) {
	good := `{"inputs":[` + goodX + `]}`
	// f sends a request and expects status with an error naming msg;
	// allow is the Allow header a 405 must carry.
	f := func(method, path string, header map[string]string, body string, status int, msg, allow string) {
		t.Helper()
		r := testSrv.do(t, method, path, header, body)
		expectError(t, r, status, msg)
		if got := r.header.Get("Allow"); got != allow {
			t.Errorf("%s %s: Allow %q, want %q", method, path, got, allow)
		}
		testSrv.checkGood(t)
	}
	f("POST", "/v2/models/nope/infer", nil, good, 404, `model not found: "nope" is not in the model repository`, "")
	f("GET", "/v2/models/nope", nil, "", 404, `"nope" is not in the model repository`, "")
	f("GET", "/v2/models/nope/ready", nil, "", 404, `"nope" is not in the model repository`, "")
	f("POST", "/v2/models/elementwise/versions/9/infer", nil, good, 404, "version not found: model elementwise has no version 9", "")
	f("GET", "/v2/models/elementwise/versions/9", nil, "", 404, "model elementwise has no version 9", "")
	f("POST", "/v2/models/elementwise/versions/abc/infer", nil, good, 404, `model elementwise has no version "abc" (versions are positive integers)`, "")
	f("POST", "/v2/models/elementwise/versions/0/infer", nil, good, 404, `model elementwise has no version "0"`, "")
	f("POST", "/v2/models/elementwise/versions/-1/infer", nil, good, 404, `has no version "-1"`, "")
	f("POST", "/v2/models/elementwise/versions/99999999999999999999/infer", nil, good, 404, `has no version "99999999999999999999"`, "")
	f("GET", "/v2/models/elementwise/infer", nil, "", 405, "method GET is not allowed on /v2/models/elementwise/infer; use POST", "POST")
	f("PUT", "/v2/models/elementwise/infer", nil, good, 405, "method PUT is not allowed", "POST")
	f("POST", "/v2/health/live", nil, "", 405, "method POST is not allowed on /v2/health/live; use GET", "GET")
	f("POST", "/v2/health/ready", nil, "", 405, "method POST is not allowed", "GET")
	f("POST", "/v2", nil, "", 405, "method POST is not allowed", "GET")
	f("DELETE", "/v2/models/elementwise", nil, "", 405, "method DELETE is not allowed", "GET")
	f("POST", "/v2/models/elementwise/ready", nil, "", 405, "method POST is not allowed", "GET")
	f("PUT", "/v2/repository/index", nil, "", 405, "method PUT is not allowed", "GET, POST")
	f("GET", "/v2/nope", nil, "", 404, "no such endpoint /v2/nope", "")
	f("GET", "/v2/models", nil, "", 404, "no such endpoint /v2/models", "")
	f("GET", "/v1/models/elementwise", nil, "", 404, "infergate serves the Open Inference Protocol under /v2", "")
	f("GET", "/", nil, "", 404, "no such endpoint /", "")
	f("POST", "/v2/models/elementwise/predict", nil, good, 404, "a model has /infer, /ready, /feedback and its metadata", "")
	f("POST", "/v2/models/elementwise/versions/1/infer/x", nil, good, 404, "no such endpoint", "")
	f("POST", "/v2/models/elementwise/infer", map[string]string{"Inference-Header-Content-Length": "42"}, good, 400,
		"the binary tensor extension (Inference-Header-Content-Length) is not supported", "")
	f("POST", "/v2/models/elementwise/infer", map[string]string{"Content-Encoding": "gzip"}, good, 400,
		"Content-Encoding gzip is not supported; send the body uncompressed", "")
	f("POST", "/v2/models/elementwise/infer", map[string]string{"Content-Encoding": "br"}, good, 400, "Content-Encoding br is not supported", "")
	f("POST", "/v2/models/nope/infer", map[string]string{"Content-Encoding": "gzip"}, good, 404, `"nope" is not in the model repository`, "")

	// Content-Encoding identity is no encoding at all.
	r := testSrv.do(t, "POST", "/v2/models/elementwise/infer", map[string]string{"Content-Encoding": "identity"}, good)
	if r.status != http.StatusOK {
		t.Errorf("Content-Encoding identity: %d %s", r.status, r.body)
	}
}

// TestLimits runs a gateway with small limits: a body over
// MaxRequestBodySize gets 413, a tensor over MaxTensorElements 400.
func TestLimits(t *testing.T) {
	ts := newServer(t, Config{MaxRequestBodySize: 1024, MaxTensorElements: 8}, testRepo)
	// f posts body and expects status with msg.
	f := func(body string, status int, msg string) {
		t.Helper()
		r := ts.post(t, "/v2/models/elementwise/infer", body)
		expectError(t, r, status, msg)
		ts.checkGood(t)
	}
	big := `{"id":"` + strings.Repeat("a", 4096) + `","inputs":[` + goodX + `]}`
	f(big, 413, "request body exceeds 1024 bytes (raise --max-request-body)")
	f(`{"inputs":[{"name":"x","shape":[3,4],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9,10,11,12]}]}`, 400,
		`input "x" shape [3,4] has more than 8 elements, the gateway's limit (raise --max-tensor-elements)`)
	f(`{"inputs":[{"name":"x","shape":[1000000,4],"datatype":"FP32","data":[]}]}`, 400, "has more than 8 elements")
	f(`{"inputs":[{"data":[1,2,3,4,5,6,7,8,9,10,11,12],"name":"x","shape":[3,4],"datatype":"FP32"}]}`, 400, "has more than 8 elements")
	// At the limits exactly, requests pass.
	at := `{"id":"` + strings.Repeat("b", 1024-len(`{"id":"","inputs":[]}`)-len(goodX)) + `","inputs":[` + goodX + `]}`
	if len(at) != 1024 {
		t.Fatalf("body of %d bytes", len(at))
	}
	ts.infer(t, "elementwise", at)
	ts.infer(t, "elementwise", `{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[1,2,3,4,5,6,7,8]}]}`)
	f(big, 413, "request body exceeds 1024 bytes")
}
