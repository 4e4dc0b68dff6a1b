package gateway

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/infergate/infergate/runtime"
)

// bindTarget is what inputs are bound to: a version's session call.
type bindTarget struct {
	v           *runtime.Version
	call        *runtime.Call
	tp          *tensorParser
	maxElements int64
}

// prepare lets the next decode bind inputs as it reads them.
func (r *inferRequest) prepare(v *runtime.Version, call *runtime.Call, maxElements int64, tp *tensorParser) {
	r.target = bindTarget{v: v, call: call, tp: tp, maxElements: maxElements}
}

// bind checks the decoded request against the version's inputs and
// outputs, and parses into the call each input's data that decode could
// not parse on its way. Everything a client can get wrong is caught here
// or in bindInput, with a message that names it, before ONNX Runtime sees
// anything.
func (r *inferRequest) bind(v *runtime.Version, call *runtime.Call, maxElements int64, tp *tensorParser) error {
	r.prepare(v, call, maxElements, tp)
	sess := v.Session
	for k := range r.inputs {
		in := &r.inputs[k]
		if in.bound {
			continue
		}
		s := scanner{b: in.data}
		if err := r.bindInput(in, &s); err != nil {
			return err
		}
		if s.peek() != 0 {
			return s.errf("unexpected data after the tensor data")
		}
	}
	if len(r.inputs) != len(v.Inputs) {
		var missing []string
		for _, info := range v.Inputs {
			found := false
			for k := range r.inputs {
				if string(r.inputs[k].name) == info.Name {
					found = true
				}
			}
			if !found {
				missing = append(missing, strconv.Quote(info.Name))
			}
		}
		return badRequest(fmt.Sprintf("model %s needs input %s, which the request lacks", v.Model, strings.Join(missing, ", ")))
	}
	for _, name := range r.outputs {
		o := sess.OutputIndex(name)
		if o < 0 {
			return badRequest(fmt.Sprintf("model %s has no output %q; its outputs are %s", v.Model, name, tensorNames(v.Outputs)))
		}
		call.SelectOutput(o)
	}
	return nil
}

// bindInput checks one input against the model and parses its data, which
// starts at s's cursor, into the call; s is left after the data.
func (r *inferRequest) bindInput(in *inputSpec, s *scanner) error {
	t := &r.target
	v := t.v
	i := v.Session.InputIndex(in.name)
	if i < 0 {
		return badRequest(fmt.Sprintf("model %s has no input %q; its inputs are %s", v.Model, in.name, tensorNames(v.Inputs)))
	}
	info := &v.Inputs[i]
	dt := runtime.ParseDataType(in.datatype)
	if dt == runtime.Invalid {
		return badRequest(fmt.Sprintf("input %q has datatype %q, which is not one of BOOL UINT8 UINT16 UINT32 UINT64 INT8 INT16 INT32 INT64 FP16 FP32 FP64 BYTES", in.name, in.datatype))
	}
	if dt != info.DataType {
		return badRequest(fmt.Sprintf("input %q must be %s, got %s", in.name, info.DataType, dt))
	}
	shape := r.shape(in)
	n, err := checkShape(info, shape, t.maxElements)
	if err != nil {
		return err
	}
	// Each element takes at least two bytes of JSON ("0," or "\"\""), so
	// a shape that claims more than the rest of the body can hold is
	// refused before its memory is allocated.
	if room := int64(len(s.b) - s.i); int64(n) > room/2+1 {
		return badRequest(fmt.Sprintf("input %q shape %s needs %d elements, more than its \"data\" can hold", in.name, formatShape(shape), n))
	}
	tp := t.tp
	tp.s = *s
	tp.dt = dt
	tp.n = n
	tp.count = 0
	tp.name = in.name
	if dt == runtime.BYTES {
		tp.blob = tp.blob[:0]
		tp.offsets = append(tp.offsets[:0], 0)
		tp.out = nil
		if err := tp.parseValue(); err != nil {
			return err
		}
		t.call.InputStrings(i, shape, tp.blob, tp.offsets)
	} else {
		tp.out = t.call.Input(i, dt, shape, n)
		if err := tp.parseValue(); err != nil {
			return err
		}
	}
	s.i = tp.s.i
	in.bound = true
	return nil
}

// checkShape compares a request's shape with the model's (-1 matches any
// size) and returns the element count, refusing counts over maxElements
// without ever forming a product that could overflow.
func checkShape(info *runtime.TensorInfo, shape []int64, maxElements int64) (int, error) {
	if len(shape) != len(info.Shape) {
		return 0, badRequest(fmt.Sprintf("input %q must have rank %d, shape %s; got shape %s",
			info.Name, len(info.Shape), formatShape(info.Shape), formatShape(shape)))
	}
	zero := false
	for d, size := range shape {
		if want := info.Shape[d]; want >= 0 && size != want {
			return 0, badRequest(fmt.Sprintf("input %q must have shape %s; got %s (dimension %d is %d, not %d)",
				info.Name, formatShape(info.Shape), formatShape(shape), d, size, want))
		}
		zero = zero || size == 0
	}
	if zero {
		return 0, nil
	}
	n := int64(1)
	for _, size := range shape {
		if n > maxElements/size {
			return 0, badRequest(fmt.Sprintf("input %q shape %s has more than %d elements, the gateway's limit (raise --max-tensor-elements)",
				info.Name, formatShape(shape), maxElements))
		}
		n *= size
	}
	return int(n), nil
}

func formatShape(shape []int64) string {
	b := []byte{'['}
	for i, d := range shape {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, d, 10)
	}
	return string(append(b, ']'))
}

func tensorNames(infos []runtime.TensorInfo) string {
	names := make([]string, len(infos))
	for i, info := range infos {
		names[i] = strconv.Quote(info.Name)
	}
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}
