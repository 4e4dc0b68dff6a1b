package runtime

import "strconv"

// DataType is a tensor element type. Its values are ONNX's
// TensorProto.DataType numbers, so converting to and from ONNX Runtime costs
// nothing; its names are the Open Inference Protocol's, so the wire sees
// what Triton and KServe clients expect.
type DataType uint8

// The element types that OIP v2 names and ONNX Runtime's CPU provider runs.
const (
	Invalid DataType = 0
	FP32    DataType = 1
	UINT8   DataType = 2
	INT8    DataType = 3
	UINT16  DataType = 4
	INT16   DataType = 5
	INT32   DataType = 6
	INT64   DataType = 7
	BYTES   DataType = 8 // ONNX string tensors
	BOOL    DataType = 9
	FP16    DataType = 10
	FP64    DataType = 11
	UINT32  DataType = 12
	UINT64  DataType = 13
	BF16    DataType = 16
)

var dataTypeNames = [...]string{
	Invalid: "INVALID",
	FP32:    "FP32",
	UINT8:   "UINT8",
	INT8:    "INT8",
	UINT16:  "UINT16",
	INT16:   "INT16",
	INT32:   "INT32",
	INT64:   "INT64",
	BYTES:   "BYTES",
	BOOL:    "BOOL",
	FP16:    "FP16",
	FP64:    "FP64",
	UINT32:  "UINT32",
	UINT64:  "UINT64",
	14:      "COMPLEX64",
	15:      "COMPLEX128",
	BF16:    "BF16",
}

var dataTypeSizes = [...]int{
	FP32: 4, UINT8: 1, INT8: 1, UINT16: 2, INT16: 2, INT32: 4, INT64: 8,
	BOOL: 1, FP16: 2, FP64: 8, UINT32: 4, UINT64: 8, BF16: 2,
}

// String returns the OIP v2 name ("FP32", "BYTES", ...).
func (t DataType) String() string {
	if int(t) < len(dataTypeNames) && dataTypeNames[t] != "" {
		return dataTypeNames[t]
	}
	return "ONNX_TYPE_" + strconv.Itoa(int(t))
}

// Size is the width of one element in bytes; 0 for BYTES, whose elements
// vary, and for types we do not serve.
func (t DataType) Size() int {
	if int(t) < len(dataTypeSizes) {
		return dataTypeSizes[t]
	}
	return 0
}

// Served reports whether requests may carry this type. BF16 is left out
// because OIP v2 JSON has no agreed encoding for it and ONNX Runtime's CPU
// provider implements few kernels for it.
func (t DataType) Served() bool {
	return t != Invalid && t != BF16 && t != 14 && t != 15 && int(t) < len(dataTypeNames)
}

// ParseDataType maps an OIP v2 datatype name to its DataType. The name is a
// byte slice because it comes straight from a request body; the switch
// compiles to comparisons without converting it to a string.
func ParseDataType(name []byte) DataType {
	switch string(name) {
	case "FP32":
		return FP32
	case "FP64":
		return FP64
	case "FP16":
		return FP16
	case "INT64":
		return INT64
	case "INT32":
		return INT32
	case "INT16":
		return INT16
	case "INT8":
		return INT8
	case "UINT64":
		return UINT64
	case "UINT32":
		return UINT32
	case "UINT16":
		return UINT16
	case "UINT8":
		return UINT8
	case "BOOL":
		return BOOL
	case "BYTES":
		return BYTES
	}
	return Invalid
}
