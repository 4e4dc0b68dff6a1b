package gateway

import (
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infergate/infergate/monitor"
)

// requestError is a client mistake: it becomes a 400 whose message names
// the problem.
type requestError struct {
	msg string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(msg string) error { return &requestError{msg: msg} }

// inferRequest is a decoded OIP v2 inference request. It records where
// things are in the body rather than copying them; the body must outlive
// it. Pooled: its slices keep their capacity between requests.
type inferRequest struct {
	id    []byte
	hasID bool
	// madeID: id was made up here (prepareTap), so it is plain ASCII and
	// is written without looking for characters to escape.
	madeID  bool
	inputs  []inputSpec
	outputs [][]byte
	// dims backs every input's shape, so shapes cost no allocation each.
	dims []int64
	// priority and timeout (µs) come from the request's parameters; 0
	// leaves the model's defaults.
	priority int64
	timeout  int64
	// idBuf holds an id the gateway made for a monitored request that came
	// without one; sample is what the monitor's tap copies. Both keep
	// their capacity in the pool.
	idBuf  []byte
	sample monitor.Sample
	// ctx is the request's context, for the batcher's Abandoned check
	// (the call's tag is the request). start is when the request began,
	// sampled whether the tap takes it, and tapped is set by the leader of
	// the batch that served it once it pushed the request's sample (see
	// Server.tapBatch), so the request does not push it again.
	ctx     *fasthttp.RequestCtx
	start   time.Duration
	sampled bool
	tapped  bool
	// target, when set by prepare, lets decode parse an input's data
	// straight into the tensor as soon as it has seen the input's name,
	// datatype and shape (the order every client library writes), so the
	// largest part of the body is read once instead of twice.
	target bindTarget
}

type inputSpec struct {
	name     []byte
	datatype []byte
	dimStart int
	dimEnd   int
	hasShape bool
	// data is the raw JSON of the "data" member, kept when it could not
	// be parsed in the first pass.
	data []byte
	// bound is set once the data has been parsed into the call.
	bound bool
}

func (r *inferRequest) shape(in *inputSpec) []int64 {
	return r.dims[in.dimStart:in.dimEnd]
}

var requestPool = sync.Pool{New: func() any { return &inferRequest{} }}

func acquireRequest() *inferRequest { return requestPool.Get().(*inferRequest) }

func releaseRequest(r *inferRequest) {
	r.id = nil
	r.hasID, r.madeID = false, false
	clear(r.inputs) // drop references into the body
	r.inputs = r.inputs[:0]
	clear(r.outputs)
	r.outputs = r.outputs[:0]
	r.dims = r.dims[:0]
	r.target = bindTarget{}
	r.priority, r.timeout = 0, 0
	r.idBuf = r.idBuf[:0]
	r.ctx, r.start, r.sampled, r.tapped = nil, 0, false, false
	requestPool.Put(r)
}

// decode parses an OIP v2 inference request body:
//
//	{"id": "...", "parameters": {...},
//	 "inputs": [{"name": "...", "shape": [..], "datatype": "FP32", "parameters": {...}, "data": [..]}],
//	 "outputs": [{"name": "...", "parameters": {...}}]}
//
// Unknown members are errors that name them: a misspelt "input" must not
// turn into a confusing "missing input". Strings are unescaped in place, so
// body is modified.
func (r *inferRequest) decode(body []byte) error {
	s := scanner{b: body}
	if s.peek() == 0 {
		return badRequest("request body is empty; expected a JSON object with \"inputs\"")
	}
	var seen uint8
	const seenID, seenParams, seenInputs, seenOutputs = 1, 2, 4, 8
	err := s.object("the request object", func(key []byte) error {
		var bit uint8
		var err error
		switch string(key) {
		case "id":
			bit = seenID
			if s.peek() != '"' {
				return badRequest("\"id\" must be a string")
			}
			r.id, err = s.str()
			r.hasID = true
		case "parameters":
			bit = seenParams
			if s.peek() != '{' {
				return badRequest("\"parameters\" must be an object")
			}
			err = r.decodeParameters(&s)
		case "inputs":
			bit = seenInputs
			if s.peek() != '[' {
				return badRequest("\"inputs\" must be an array of tensors")
			}
			err = s.array(`"inputs"`, func() error { return r.decodeInput(&s) })
		case "outputs":
			bit = seenOutputs
			if s.peek() != '[' {
				return badRequest(`"outputs" must be an array of {"name": ...} objects`)
			}
			err = s.array(`"outputs"`, func() error { return r.decodeOutput(&s) })
		default:
			return badRequest("unknown member \"" + string(key) + "\" in inference request; expected id, parameters, inputs, outputs")
		}
		if err != nil {
			return err
		}
		if seen&bit != 0 {
			return badRequest("member \"" + string(key) + "\" appears twice")
		}
		seen |= bit
		return nil
	})
	if err != nil {
		return err
	}
	if s.peek() != 0 {
		return s.errf("unexpected data after the request object: %s", s.found())
	}
	if seen&seenInputs == 0 {
		return badRequest("request has no \"inputs\"")
	}
	return nil
}

// decodeParameters reads the request's parameters. Two steer scheduling,
// named as Triton names them: "priority" (1 is the highest) and "timeout"
// (microseconds a request may wait in the queue). Others are accepted and
// ignored.
func (r *inferRequest) decodeParameters(s *scanner) error {
	return s.object("\"parameters\"", func(key []byte) error {
		var dst *int64
		switch string(key) {
		case "priority":
			dst = &r.priority
		case "timeout":
			dst = &r.timeout
		default:
			return s.skip(2)
		}
		tok, err := s.number()
		if err != nil {
			return badRequest("parameter \"" + string(key) + "\" must be a non-negative integer")
		}
		v, ok := parseInt(tok)
		if !ok || v < 0 {
			return badRequest("parameter \"" + string(key) + "\" must be a non-negative integer, not " + string(tok))
		}
		*dst = v
		return nil
	})
}

func (r *inferRequest) decodeInput(s *scanner) error {
	if s.peek() != '{' {
		return badRequest(`each element of "inputs" must be an object with name, shape, datatype and data`)
	}
	r.inputs = append(r.inputs, inputSpec{})
	in := &r.inputs[len(r.inputs)-1]
	var hasName, hasType, hasData bool
	err := s.object("an input", func(key []byte) error {
		var err error
		switch string(key) {
		case "name":
			if hasName {
				return badRequest(`an input has "name" twice`)
			}
			if s.peek() != '"' {
				return badRequest(`input "name" must be a string`)
			}
			in.name, err = s.str()
			hasName = true
		case "datatype":
			if hasType {
				return badRequest(`an input has "datatype" twice`)
			}
			if s.peek() != '"' {
				return badRequest(`input "datatype" must be a string such as "FP32"`)
			}
			in.datatype, err = s.str()
			hasType = true
		case "shape":
			if in.hasShape {
				return badRequest(`an input has "shape" twice`)
			}
			err = r.decodeShape(s, in)
		case "parameters":
			if s.peek() != '{' {
				return badRequest(`input "parameters" must be an object`)
			}
			err = s.skip(1)
		case "data":
			if hasData {
				return badRequest(`an input has "data" twice`)
			}
			hasData = true
			if r.target.v != nil && hasName && hasType && in.hasShape {
				return r.bindInput(in, s)
			}
			// Kept raw for bind: nothing in it may be unescaped yet,
			// or bind would unescape it a second time.
			s.ws()
			start := s.i
			switch s.peek() {
			case '[':
				err = s.skipArray()
			case '"':
				err = s.skipString()
			default:
				err = s.skip(1)
			}
			in.data = s.b[start:s.i]
		default:
			return badRequest("unknown member \"" + string(key) + "\" in an input; expected name, shape, datatype, parameters, data")
		}
		return err
	})
	if err != nil {
		return err
	}
	switch {
	case !hasName:
		return badRequest(`an input has no "name"`)
	case !hasType:
		return badRequest("input \"" + string(in.name) + "\" has no \"datatype\"")
	case !in.hasShape:
		return badRequest("input \"" + string(in.name) + "\" has no \"shape\"")
	case !hasData:
		return badRequest("input \"" + string(in.name) + "\" has no \"data\" (the binary tensor extension is not supported)")
	}
	for k := range r.inputs[:len(r.inputs)-1] {
		if string(r.inputs[k].name) == string(in.name) {
			return badRequest("input \"" + string(in.name) + "\" appears twice")
		}
	}
	return nil
}

// maxDim bounds a single dimension so that products of dimensions cannot
// overflow before they are compared with the data.
const maxDim = 1 << 40

func (r *inferRequest) decodeShape(s *scanner, in *inputSpec) error {
	if s.peek() != '[' {
		return badRequest(`input "shape" must be an array of non-negative integers`)
	}
	s.i++
	in.hasShape = true
	in.dimStart = len(r.dims)
	if s.peek() == ']' {
		s.i++
		in.dimEnd = len(r.dims)
		return nil
	}
	for {
		tok, err := s.number()
		if err != nil {
			return badRequest(`input "shape" must be an array of non-negative integers`)
		}
		v, ok := parseInt(tok)
		if !ok {
			return badRequest("input shape has " + string(tok) + ", which is not an integer")
		}
		if v < 0 {
			return badRequest("input shape has the negative dimension " + string(tok))
		}
		if v > maxDim {
			return badRequest("input shape has the dimension " + string(tok) + ", which is absurdly large")
		}
		if len(r.dims)-in.dimStart >= 16 {
			return badRequest("input shape has more than 16 dimensions")
		}
		r.dims = append(r.dims, v)
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			in.dimEnd = len(r.dims)
			return nil
		default:
			return s.errf("expected ',' or ']' in a shape, found %s", s.found())
		}
	}
}

func (r *inferRequest) decodeOutput(s *scanner) error {
	if s.peek() != '{' {
		return badRequest(`each element of "outputs" must be an object with a "name"`)
	}
	var name []byte
	hasName := false
	err := s.object("a requested output", func(key []byte) error {
		var err error
		switch string(key) {
		case "name":
			if s.peek() != '"' {
				return badRequest(`output "name" must be a string`)
			}
			name, err = s.str()
			hasName = true
		case "parameters":
			if s.peek() != '{' {
				return badRequest(`output "parameters" must be an object`)
			}
			err = s.skip(1)
		default:
			return badRequest("unknown member \"" + string(key) + "\" in a requested output; expected name, parameters")
		}
		return err
	})
	if err != nil {
		return err
	}
	if !hasName {
		return badRequest(`a requested output has no "name"`)
	}
	for _, prev := range r.outputs {
		if string(prev) == string(name) {
			return badRequest("output \"" + string(name) + "\" is requested twice")
		}
	}
	r.outputs = append(r.outputs, name)
	return nil
}

// parseInt reads a JSON integer token; fractions, exponents and
// non-finite literals are not integers.
func parseInt(tok []byte) (int64, bool) {
	neg := false
	if len(tok) > 0 && tok[0] == '-' {
		neg = true
		tok = tok[1:]
	}
	u, ok := parseUint(tok)
	if !ok {
		return 0, false
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

// parseUint reads digits only, failing on overflow.
func parseUint(tok []byte) (uint64, bool) {
	if len(tok) == 0 {
		return 0, false
	}
	var u uint64
	for _, c := range tok {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if u > (1<<64-1-d)/10 {
			return 0, false
		}
		u = u*10 + d
	}
	return u, true
}
