package demomodels

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Versions written into every model. IR 8 and opset 17 are old enough for
// any ONNX Runtime the gateway is likely to meet, and new enough for every
// operator the demo models use in its current form. BatchDimParam is the
// dim_param written for a symbolic leading axis, so that inputs and outputs
// of one model share a batch size in shape inference.
const (
	IRVersion       = 8
	DefaultOpset    = 17
	ProducerName    = "infergate-demomodels"
	ProducerVersion = "1"
	BatchDimParam   = "batch"
)

// DataType is an ONNX TensorProto.DataType element type.
type DataType int32

// Element types, numbered as in onnx.proto.
const (
	Float   DataType = 1
	Uint8   DataType = 2
	Int8    DataType = 3
	Uint16  DataType = 4
	Int16   DataType = 5
	Int32   DataType = 6
	Int64   DataType = 7
	String  DataType = 8
	Bool    DataType = 9
	Float16 DataType = 10
	Double  DataType = 11
	Uint32  DataType = 12
	Uint64  DataType = 13
)

var dataTypeNames = map[DataType]string{
	Float: "FLOAT", Uint8: "UINT8", Int8: "INT8", Uint16: "UINT16",
	Int16: "INT16", Int32: "INT32", Int64: "INT64", String: "STRING",
	Bool: "BOOL", Float16: "FLOAT16", Double: "DOUBLE", Uint32: "UINT32",
	Uint64: "UINT64",
}

func (t DataType) String() string {
	if s, ok := dataTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("DataType(%d)", int32(t))
}

// Size is the width in bytes of one element in raw_data, or 0 for types
// that cannot be stored there (STRING) or that this writer does not know.
func (t DataType) Size() int {
	switch t {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16:
		return 2
	case Float, Int32, Uint32:
		return 4
	case Int64, Double, Uint64:
		return 8
	}
	return 0
}

// Tensor is a constant: a graph initializer or the value of a Constant
// node. Numeric data lives in Raw (little endian, as raw_data requires);
// string data lives in Strings because ONNX forbids raw_data for strings.
type Tensor struct {
	Name    string
	Type    DataType
	Dims    []int64 // empty means a scalar (rank 0)
	Raw     []byte
	Strings [][]byte
}

// Element lists the Go types that map one-to-one onto an ONNX element type.
// FLOAT16 is missing because Go has no half type; use Float16Tensor.
type Element interface {
	int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64 |
		float32 | float64 | bool
}

// NewTensor encodes values as raw_data, deriving the ONNX type from T.
// Mismatches between dims and len(values) are reported by Graph.Encode,
// so model definitions can stay free of error plumbing.
func NewTensor[T Element](name string, dims []int64, values []T) Tensor {
	t := Tensor{Name: name, Dims: dims}
	var zero T
	t.Raw = make([]byte, 0, len(values)*binary.Size(zero))
	le := binary.LittleEndian
	switch v := any(values).(type) {
	case []int8:
		t.Type = Int8
		for _, x := range v {
			t.Raw = append(t.Raw, byte(x))
		}
	case []uint8:
		t.Type = Uint8
		t.Raw = append([]byte(nil), v...)
	case []bool:
		t.Type = Bool
		for _, x := range v {
			b := byte(0)
			if x {
				b = 1
			}
			t.Raw = append(t.Raw, b)
		}
	case []int16:
		t.Type = Int16
		for _, x := range v {
			t.Raw = le.AppendUint16(t.Raw, uint16(x))
		}
	case []uint16:
		t.Type = Uint16
		for _, x := range v {
			t.Raw = le.AppendUint16(t.Raw, x)
		}
	case []int32:
		t.Type = Int32
		for _, x := range v {
			t.Raw = le.AppendUint32(t.Raw, uint32(x))
		}
	case []uint32:
		t.Type = Uint32
		for _, x := range v {
			t.Raw = le.AppendUint32(t.Raw, x)
		}
	case []float32:
		t.Type = Float
		for _, x := range v {
			t.Raw = le.AppendUint32(t.Raw, math.Float32bits(x))
		}
	case []int64:
		t.Type = Int64
		for _, x := range v {
			t.Raw = le.AppendUint64(t.Raw, uint64(x))
		}
	case []uint64:
		t.Type = Uint64
		for _, x := range v {
			t.Raw = le.AppendUint64(t.Raw, x)
		}
	case []float64:
		t.Type = Double
		for _, x := range v {
			t.Raw = le.AppendUint64(t.Raw, math.Float64bits(x))
		}
	}
	return t
}

// Scalar is a rank-0 tensor, the usual operand for broadcasting constants.
func Scalar[T Element](name string, v T) Tensor {
	return NewTensor(name, nil, []T{v})
}

// Float16Tensor takes IEEE 754 half-precision bit patterns, since Go has no
// native half type to derive them from.
func Float16Tensor(name string, dims []int64, bits []uint16) Tensor {
	t := NewTensor(name, dims, bits)
	t.Type = Float16
	return t
}

// StringTensor builds a STRING tensor, stored in string_data.
func StringTensor(name string, dims []int64, values []string) Tensor {
	t := Tensor{Name: name, Type: String, Dims: dims}
	for _, s := range values {
		t.Strings = append(t.Strings, []byte(s))
	}
	return t
}

func (t Tensor) numElements() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

func (t Tensor) validate() error {
	for _, d := range t.Dims {
		if d < 0 {
			return fmt.Errorf("tensor %q: negative dim %d", t.Name, d)
		}
	}
	n := t.numElements()
	if t.Type == String {
		if t.Raw != nil {
			return fmt.Errorf("tensor %q: STRING data must not use raw_data", t.Name)
		}
		if int64(len(t.Strings)) != n {
			return fmt.Errorf("tensor %q: dims %v need %d strings, have %d", t.Name, t.Dims, n, len(t.Strings))
		}
		return nil
	}
	size := t.Type.Size()
	if size == 0 {
		return fmt.Errorf("tensor %q: unsupported element type %v", t.Name, t.Type)
	}
	if t.Strings != nil {
		return fmt.Errorf("tensor %q: %v data cannot be stored as strings", t.Name, t.Type)
	}
	if int64(len(t.Raw)) != n*int64(size) {
		return fmt.Errorf("tensor %q: dims %v of %v need %d bytes, have %d", t.Name, t.Dims, t.Type, n*int64(size), len(t.Raw))
	}
	return nil
}

// AttrType is an ONNX AttributeProto.AttributeType.
type AttrType int32

// Attribute kinds, numbered as in onnx.proto.
const (
	AttrTypeFloat   AttrType = 1
	AttrTypeInt     AttrType = 2
	AttrTypeString  AttrType = 3
	AttrTypeTensor  AttrType = 4
	AttrTypeFloats  AttrType = 6
	AttrTypeInts    AttrType = 7
	AttrTypeStrings AttrType = 8
)

// Attribute is one node attribute. Build it with the Attr* constructors,
// which set Type so the discriminator always matches the populated field.
type Attribute struct {
	Name    string
	Type    AttrType
	F       float32
	I       int64
	S       []byte
	T       *Tensor
	Floats  []float32
	Ints    []int64
	Strings [][]byte
}

// AttrFloat makes a FLOAT attribute.
func AttrFloat(name string, v float32) Attribute {
	return Attribute{Name: name, Type: AttrTypeFloat, F: v}
}

// AttrInt makes an INT attribute, also used for enum-like options such as
// Cast's "to" (pass a DataType).
func AttrInt(name string, v int64) Attribute {
	return Attribute{Name: name, Type: AttrTypeInt, I: v}
}

// AttrString makes a STRING attribute.
func AttrString(name, v string) Attribute {
	return Attribute{Name: name, Type: AttrTypeString, S: []byte(v)}
}

// AttrTensor makes a TENSOR attribute, as the Constant operator needs.
func AttrTensor(name string, t Tensor) Attribute {
	return Attribute{Name: name, Type: AttrTypeTensor, T: &t}
}

// AttrFloats makes a FLOATS attribute.
func AttrFloats(name string, v ...float32) Attribute {
	return Attribute{Name: name, Type: AttrTypeFloats, Floats: v}
}

// AttrInts makes an INTS attribute (kernel_shape, pads, strides, ...).
func AttrInts(name string, v ...int64) Attribute {
	return Attribute{Name: name, Type: AttrTypeInts, Ints: v}
}

// AttrStrings makes a STRINGS attribute.
func AttrStrings(name string, v ...string) Attribute {
	a := Attribute{Name: name, Type: AttrTypeStrings}
	for _, s := range v {
		a.Strings = append(a.Strings, []byte(s))
	}
	return a
}

// Node is one operator application. Domain is empty for the default ONNX
// domain, the only one the graph imports.
type Node struct {
	Name    string
	OpType  string
	Domain  string
	Inputs  []string
	Outputs []string
	Attrs   []Attribute
}

// ValueInfo declares a graph input or output. A Dims entry of -1 is a
// symbolic dimension, written as dim_param so runtimes report it as dynamic;
// DimParams optionally names those per axis (default: "batch" on axis 0,
// "<name>_dim<i>" elsewhere). Empty Dims declares a scalar, not an unknown
// shape: the shape field is always written.
type ValueInfo struct {
	Name      string
	Type      DataType
	Dims      []int64
	DimParams []string
}

// KeyValue is one metadata_props entry; a slice keeps the order stable.
type KeyValue struct {
	Key, Value string
}

// Graph accumulates a single-graph model. It is append-only and checked as
// a whole by Encode, which keeps model definitions short and linear.
type Graph struct {
	Name         string
	Doc          string
	OpsetVersion int64 // 0 means DefaultOpset
	Metadata     []KeyValue

	Inputs       []ValueInfo
	Outputs      []ValueInfo
	Initializers []Tensor
	Nodes        []Node
}

// NewGraph starts an empty graph; name becomes the GraphProto name.
func NewGraph(name string) *Graph {
	return &Graph{Name: name}
}

// Input declares a graph input. dims of -1 are symbolic.
func (g *Graph) Input(name string, t DataType, dims ...int64) {
	g.Inputs = append(g.Inputs, ValueInfo{Name: name, Type: t, Dims: dims})
}

// Output declares a graph output. dims of -1 are symbolic.
func (g *Graph) Output(name string, t DataType, dims ...int64) {
	g.Outputs = append(g.Outputs, ValueInfo{Name: name, Type: t, Dims: dims})
}

// AddInitializer stores a constant tensor under t.Name and returns that
// name, so it can be passed straight to AddNode.
func (g *Graph) AddInitializer(t Tensor) string {
	g.Initializers = append(g.Initializers, t)
	return t.Name
}

// AddNode appends an operator in the default domain. Nodes must be added in
// topological order; the node name is derived from its position so that
// repeated builds stay byte-identical.
func (g *Graph) AddNode(op string, inputs, outputs []string, attrs ...Attribute) {
	g.Nodes = append(g.Nodes, Node{
		Name:    fmt.Sprintf("%s_%d", op, len(g.Nodes)),
		OpType:  op,
		Inputs:  inputs,
		Outputs: outputs,
		Attrs:   attrs,
	})
}

// Validate catches the mistakes ONNX Runtime would otherwise report only at
// load time, with far less context: undefined or reassigned value names,
// tensors whose data does not match their dims, malformed declarations.
func (g *Graph) Validate() error {
	var errs []error
	defined := map[string]string{}
	define := func(name, what string) {
		if name == "" {
			errs = append(errs, fmt.Errorf("%s has an empty name", what))
			return
		}
		if prev, ok := defined[name]; ok {
			errs = append(errs, fmt.Errorf("%q defined twice (%s and %s)", name, prev, what))
			return
		}
		defined[name] = what
	}
	checkInfo := func(v ValueInfo, what string) {
		if v.Type.Size() == 0 && v.Type != String {
			errs = append(errs, fmt.Errorf("%s %q: unsupported element type %v", what, v.Name, v.Type))
		}
		for i, d := range v.Dims {
			if d < -1 {
				errs = append(errs, fmt.Errorf("%s %q: dim %d is %d; use -1 for symbolic", what, v.Name, i, d))
			}
		}
		if len(v.DimParams) > len(v.Dims) {
			errs = append(errs, fmt.Errorf("%s %q: more dim params than dims", what, v.Name))
		}
	}
	for _, in := range g.Inputs {
		checkInfo(in, "input")
		define(in.Name, "graph input")
	}
	for _, t := range g.Initializers {
		if err := t.validate(); err != nil {
			errs = append(errs, err)
		}
		define(t.Name, "initializer")
	}
	for _, n := range g.Nodes {
		if n.OpType == "" {
			errs = append(errs, fmt.Errorf("node %q has no op type", n.Name))
		}
		for _, in := range n.Inputs {
			// An empty name is how ONNX skips an optional input.
			if _, ok := defined[in]; in != "" && !ok {
				errs = append(errs, fmt.Errorf("node %q reads %q before it is defined", n.Name, in))
			}
		}
		for _, a := range n.Attrs {
			if a.Name == "" {
				errs = append(errs, fmt.Errorf("node %q has an unnamed attribute", n.Name))
			}
			if a.Type == AttrTypeTensor {
				if a.T == nil {
					errs = append(errs, fmt.Errorf("node %q attribute %q: nil tensor", n.Name, a.Name))
				} else if err := a.T.validate(); err != nil {
					errs = append(errs, fmt.Errorf("node %q attribute %q: %w", n.Name, a.Name, err))
				}
			}
		}
		for _, out := range n.Outputs {
			if out != "" {
				define(out, "output of node "+n.Name)
			}
		}
	}
	if len(g.Outputs) == 0 {
		errs = append(errs, errors.New("graph has no outputs"))
	}
	seen := map[string]bool{}
	for _, out := range g.Outputs {
		checkInfo(out, "output")
		if _, ok := defined[out.Name]; !ok {
			errs = append(errs, fmt.Errorf("graph output %q is never produced", out.Name))
		}
		if seen[out.Name] {
			errs = append(errs, fmt.Errorf("graph output %q declared twice", out.Name))
		}
		seen[out.Name] = true
	}
	if len(errs) > 0 {
		return fmt.Errorf("graph %q: %w", g.Name, errors.Join(errs...))
	}
	return nil
}

// Encode validates the graph and serializes it as a complete ModelProto,
// ready to be written to a .onnx file.
func (g *Graph) Encode() ([]byte, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	opset := g.OpsetVersion
	if opset == 0 {
		opset = DefaultOpset
	}
	// Fields are written in field-number order, as protoc-generated code
	// does, so the files compare cleanly with ones saved by the onnx package.
	var b []byte
	b = appendVarintField(b, 1, IRVersion)
	b = appendStringField(b, 2, ProducerName)
	b = appendStringField(b, 3, ProducerVersion)
	b = appendVarintField(b, 5, 1) // model_version
	if g.Doc != "" {
		b = appendStringField(b, 6, g.Doc)
	}
	b = appendMessageField(b, 7, g.encodeGraph())
	var op []byte
	op = appendStringField(op, 1, "")
	op = appendVarintField(op, 2, uint64(opset))
	b = appendMessageField(b, 8, op)
	for _, kv := range g.Metadata {
		var e []byte
		e = appendStringField(e, 1, kv.Key)
		e = appendStringField(e, 2, kv.Value)
		b = appendMessageField(b, 14, e)
	}
	return b, nil
}

func (g *Graph) encodeGraph() []byte {
	var b []byte
	for _, n := range g.Nodes {
		b = appendMessageField(b, 1, encodeNode(n))
	}
	b = appendStringField(b, 2, g.Name)
	for _, t := range g.Initializers {
		b = appendMessageField(b, 5, encodeTensor(t))
	}
	if g.Doc != "" {
		b = appendStringField(b, 10, g.Doc)
	}
	for _, v := range g.Inputs {
		b = appendMessageField(b, 11, encodeValueInfo(v))
	}
	for _, v := range g.Outputs {
		b = appendMessageField(b, 12, encodeValueInfo(v))
	}
	return b
}

func encodeNode(n Node) []byte {
	var b []byte
	for _, s := range n.Inputs {
		b = appendStringField(b, 1, s)
	}
	for _, s := range n.Outputs {
		b = appendStringField(b, 2, s)
	}
	if n.Name != "" {
		b = appendStringField(b, 3, n.Name)
	}
	b = appendStringField(b, 4, n.OpType)
	for _, a := range n.Attrs {
		b = appendMessageField(b, 5, encodeAttribute(a))
	}
	if n.Domain != "" {
		b = appendStringField(b, 7, n.Domain)
	}
	return b
}

func encodeAttribute(a Attribute) []byte {
	var b []byte
	b = appendStringField(b, 1, a.Name)
	switch a.Type {
	case AttrTypeFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case AttrTypeInt:
		b = appendVarintField(b, 3, uint64(a.I))
	case AttrTypeString:
		b = appendBytesField(b, 4, a.S)
	case AttrTypeTensor:
		b = appendMessageField(b, 5, encodeTensor(*a.T))
	case AttrTypeFloats:
		// onnx.proto is proto2 without [packed=true] here, so each element
		// gets its own tag, matching what the reference serializer emits.
		for _, f := range a.Floats {
			b = protowire.AppendTag(b, 7, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, math.Float32bits(f))
		}
	case AttrTypeInts:
		for _, i := range a.Ints {
			b = appendVarintField(b, 8, uint64(i))
		}
	case AttrTypeStrings:
		for _, s := range a.Strings {
			b = appendBytesField(b, 9, s)
		}
	}
	return appendVarintField(b, 20, uint64(a.Type))
}

func encodeTensor(t Tensor) []byte {
	var b []byte
	for _, d := range t.Dims {
		b = appendVarintField(b, 1, uint64(d))
	}
	b = appendVarintField(b, 2, uint64(t.Type))
	for _, s := range t.Strings {
		b = appendBytesField(b, 6, s)
	}
	if t.Name != "" {
		b = appendStringField(b, 8, t.Name)
	}
	if t.Type != String {
		b = appendBytesField(b, 9, t.Raw)
	}
	return b
}

func encodeValueInfo(v ValueInfo) []byte {
	var shape []byte
	for i, d := range v.Dims {
		var dim []byte
		if d < 0 {
			dim = appendStringField(dim, 2, dimParam(v, i))
		} else {
			dim = appendVarintField(dim, 1, uint64(d))
		}
		shape = appendMessageField(shape, 1, dim)
	}
	var tensorType []byte
	tensorType = appendVarintField(tensorType, 1, uint64(v.Type))
	tensorType = appendMessageField(tensorType, 2, shape) // present even when empty: rank 0
	var typ []byte
	typ = appendMessageField(typ, 1, tensorType)

	var b []byte
	b = appendStringField(b, 1, v.Name)
	return appendMessageField(b, 2, typ)
}

func dimParam(v ValueInfo, axis int) string {
	if axis < len(v.DimParams) && v.DimParams[axis] != "" {
		return v.DimParams[axis]
	}
	if axis == 0 {
		return BatchDimParam
	}
	return fmt.Sprintf("%s_dim%d", v.Name, axis)
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendStringField(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytesField(b []byte, num protowire.Number, p []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, p)
}

func appendMessageField(b []byte, num protowire.Number, msg []byte) []byte {
	return appendBytesField(b, num, msg)
}
