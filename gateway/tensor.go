package gateway

import (
	"encoding/binary"
	"math"
	"strconv"
	"unsafe"

	"github.com/infergate/infergate/runtime"
)

// tensorParser reads the "data" of one input straight into the tensor's
// memory, flattening nested arrays in row-major order. It checks every
// token: the first pass only found where the array ends.
type tensorParser struct {
	s     scanner
	dt    runtime.DataType
	out   []byte // element storage, little endian
	n     int    // elements expected
	count int    // elements read
	// blob and offsets collect BYTES elements.
	blob    []byte
	offsets []int
	name    []byte
}

func (p *tensorParser) fail(msg string) error {
	return badRequest("input \"" + string(p.name) + "\": element " + strconv.Itoa(p.count) + ": " + msg)
}

// parseValue reads one data value. A bare scalar is accepted as a
// one-element tensor, which is what rank-0 inputs carry.
func (p *tensorParser) parseValue() error {
	if p.s.peek() == '[' {
		if err := p.array(0); err != nil {
			return err
		}
	} else if err := p.element(); err != nil {
		return err
	}
	if p.count != p.n {
		return badRequest("input \"" + string(p.name) + "\" has " + strconv.Itoa(p.count) +
			" elements in \"data\" but its shape needs " + strconv.Itoa(p.n))
	}
	return nil
}

func (p *tensorParser) array(depth int) error {
	if depth > 17 {
		return p.s.errf("data nested deeper than the largest rank")
	}
	p.s.i++ // '['
	if p.s.peek() == ']' {
		p.s.i++
		return nil
	}
	for {
		var err error
		if p.s.peek() == '[' {
			err = p.array(depth + 1)
		} else if !p.fp32Run() {
			err = p.element()
		}
		if err != nil {
			return err
		}
		switch p.s.peek() {
		case ',':
			p.s.i++
			if p.s.peek() == ']' {
				return p.s.errf("trailing comma in tensor data")
			}
		case ']':
			p.s.i++
			return nil
		default:
			return p.s.errf("expected ',' or ']' in tensor data, found %s", p.s.found())
		}
	}
}

// fp32Run reads a run of FP32 elements written as plain numbers with
// bare commas between them, the usual form of a row of features, keeping
// the cursor in registers instead of going through array's separator
// switch and three whitespace skips per element: most of the MLP
// request's decode time is its 256 numbers. It leaves the cursor after
// the last number it took, before its separator, and stops at anything
// else (whitespace, a nested array, a number scanFloat does not cover,
// one element too many), which array and element then handle. It reports
// whether it took any element.
func (p *tensorParser) fp32Run() bool {
	if p.dt != runtime.FP32 {
		return false
	}
	p.s.ws()
	b, i, k, n, out := p.s.b, p.s.i, p.count, p.n, p.out
	for k < n {
		f, end, ok := scanFloat(b, i, true)
		if !ok {
			break
		}
		binary.LittleEndian.PutUint32(out[4*k:], math.Float32bits(float32(f)))
		k++
		p.s.i = end
		if end+1 >= len(b) || b[end] != ',' || (b[end+1]-'0' > 9 && b[end+1] != '-') {
			break
		}
		i = end + 1
	}
	taken := k > p.count
	p.count = k
	return taken
}

func (p *tensorParser) element() error {
	if p.count >= p.n {
		return badRequest("input \"" + string(p.name) + "\" has more elements in \"data\" than its shape's " + strconv.Itoa(p.n))
	}
	var err error
	switch p.dt {
	case runtime.FP32, runtime.FP64, runtime.FP16:
		err = p.float()
	case runtime.BOOL:
		err = p.boolean()
	case runtime.BYTES:
		err = p.bytes()
	default:
		err = p.integer()
	}
	if err != nil {
		return err
	}
	p.count++
	return nil
}

func (p *tensorParser) float() error {
	f, ok := p.fastFloat()
	if !ok {
		var err error
		if f, err = p.slowFloat(); err != nil {
			return err
		}
	}
	k := p.count
	switch p.dt {
	case runtime.FP32:
		binary.LittleEndian.PutUint32(p.out[4*k:], math.Float32bits(float32(f)))
	case runtime.FP64:
		binary.LittleEndian.PutUint64(p.out[8*k:], math.Float64bits(f))
	case runtime.FP16:
		h, ok := runtime.Float64ToFloat16(f)
		if !ok {
			return p.fail(strconv.FormatFloat(f, 'g', -1, 64) + " overflows FP16 (largest finite value 65504)")
		}
		binary.LittleEndian.PutUint16(p.out[2*k:], h)
	}
	return nil
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// pow10f holds the nearest float64s to 10^-22 .. 10^22, for FP32's fast
// path: 1/10^k is one correctly rounded divide of exact operands.
var pow10f = func() (t [45]float64) {
	for k, p := range pow10 {
		t[22+k], t[22-k] = p, 1/p
	}
	return t
}()

// fastFloat reads the number at the cursor when scanFloat covers it,
// leaving the cursor unmoved when it does not.
func (p *tensorParser) fastFloat() (float64, bool) {
	p.s.ws()
	f, end, ok := scanFloat(p.s.b, p.s.i, p.dt == runtime.FP32)
	if ok {
		p.s.i = end
	}
	return f, ok
}

// scanFloat scans and converts the plain decimal number at b[i] in one
// pass, for the common case that Clinger's fast path covers ("How to Read
// Floating Point Numbers Accurately", 1990): a mantissa of at most 2^53
// and a power of ten of at most 22 in magnitude are both exact in float64,
// so one multiply or divide gives the correctly rounded float64. FP32
// needs less: a float64 within a few ulps of the exact value, rounded to
// float32, unless a float32 midpoint lies that close (see below). Every
// case it does not cover returns false, and strconv decides; end is where
// the number ends.
func scanFloat(b []byte, i int, fp32 bool) (f float64, end int, ok bool) {
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	var mant uint64
	exp := 0
	intStart := i
	for ; i < len(b) && b[i]-'0' <= 9; i++ {
		mant = mant*10 + uint64(b[i]-'0')
	}
	digits := i - intStart
	if digits == 0 || (b[intStart] == '0' && digits > 1) {
		return 0, 0, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		fracStart := i
		for ; i < len(b) && b[i]-'0' <= 9; i++ {
			mant = mant*10 + uint64(b[i]-'0')
		}
		if i == fracStart {
			return 0, 0, false
		}
		digits += i - fracStart
		exp -= i - fracStart
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		expStart := i
		e := 0
		for ; i < len(b) && b[i]-'0' <= 9; i++ {
			if e < 10000 {
				e = e*10 + int(b[i]-'0')
			}
		}
		if i == expStart {
			return 0, 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if digits > 19 || mant > 1<<53 || exp < -22 || exp > 22 {
		return 0, 0, false
	}
	f = float64(mant)
	if fp32 {
		// A multiply by the nearest float64 to 10^exp lands within two
		// float64 ulps of the exact value, which rounds to the same
		// float32 unless a float32 midpoint (low 29 bits 1<<28) is that
		// near: those, and values outside float32's normal range, go to
		// strconv. A multiply instead of a divide: the divide was a fifth
		// of this function's time.
		f *= pow10f[exp+22]
		if f != 0 && (f < 0x1p-126 || f > math.MaxFloat32 || uint64(math.Float64bits(f)&(1<<29-1)-(1<<28-4)) <= 8) {
			return 0, 0, false
		}
	} else if exp < 0 {
		f /= pow10[-exp]
	} else {
		f *= pow10[exp]
	}
	if neg {
		f = -f
	}
	return f, i, true
}

// slowFloat handles what fastFloat does not: long mantissas, large
// exponents, float32 ties, the NaN and Infinity literals, and errors.
func (p *tensorParser) slowFloat() (float64, error) {
	tok, err := p.floatToken()
	if err != nil {
		return 0, err
	}
	// FP16 is read as float64 and rounded once more, as numpy.float16
	// does with a Python float.
	bits := 64
	if p.dt == runtime.FP32 {
		bits = 32
	}
	f, perr := strconv.ParseFloat(unsafe.String(unsafe.SliceData(tok), len(tok)), bits)
	if perr != nil {
		if ne, ok := perr.(*strconv.NumError); ok && ne.Err == strconv.ErrRange && !math.IsInf(f, 0) {
			// Underflow to zero or a subnormal is rounding, not an error.
			perr = nil
		}
	}
	if perr != nil || (math.IsInf(f, 0) && !isInfLiteral(tok)) {
		return 0, p.fail(string(tok) + " overflows " + p.dt.String())
	}
	return f, nil
}

// floatToken reads a number, or one of "NaN", "Infinity", "-Infinity" in
// quotes for clients whose JSON library cannot write the bare literals.
func (p *tensorParser) floatToken() ([]byte, error) {
	if p.s.peek() == '"' {
		str, err := p.s.str()
		if err != nil {
			return nil, err
		}
		switch string(str) {
		case "NaN", "Infinity", "-Infinity", "nan", "inf", "-inf":
			return str, nil
		}
		return nil, p.fail("expected a number, found the string \"" + string(str) + "\"")
	}
	tok, err := p.s.number()
	if err != nil {
		return nil, p.fail("expected a number for " + p.dt.String() + ", found " + p.s.found())
	}
	return tok, nil
}

func isInfLiteral(tok []byte) bool {
	switch string(tok) {
	case "Infinity", "-Infinity", "inf", "-inf":
		return true
	}
	return false
}

// integer reads an integer and checks it fits the tensor's type: 300 is
// not a UINT8 and 1.5 is not an INT32, and neither is silently changed.
func (p *tensorParser) integer() error {
	tok, err := p.s.number()
	if err != nil {
		return p.fail("expected an integer for " + p.dt.String() + ", found " + p.s.found())
	}
	k := p.count
	if tok[0] == '-' {
		v, ok := parseInt(tok)
		if !ok {
			return p.fail(string(tok) + " is not an integer that " + p.dt.String() + " can hold")
		}
		switch p.dt {
		case runtime.INT8:
			if v < math.MinInt8 {
				return p.rangeErr(tok)
			}
			p.out[k] = byte(int8(v))
		case runtime.INT16:
			if v < math.MinInt16 {
				return p.rangeErr(tok)
			}
			binary.LittleEndian.PutUint16(p.out[2*k:], uint16(int16(v)))
		case runtime.INT32:
			if v < math.MinInt32 {
				return p.rangeErr(tok)
			}
			binary.LittleEndian.PutUint32(p.out[4*k:], uint32(int32(v)))
		case runtime.INT64:
			binary.LittleEndian.PutUint64(p.out[8*k:], uint64(v))
		default:
			if v == 0 { // "-0" is zero
				return p.putUint(k, 0, tok)
			}
			return p.fail(string(tok) + " is negative, and " + p.dt.String() + " is unsigned")
		}
		return nil
	}
	u, ok := parseUint(tok)
	if !ok {
		return p.fail(string(tok) + " is not an integer that " + p.dt.String() + " can hold")
	}
	return p.putUint(k, u, tok)
}

func (p *tensorParser) putUint(k int, u uint64, tok []byte) error {
	var limit uint64
	switch p.dt {
	case runtime.INT8:
		limit = math.MaxInt8
	case runtime.INT16:
		limit = math.MaxInt16
	case runtime.INT32:
		limit = math.MaxInt32
	case runtime.INT64:
		limit = math.MaxInt64
	case runtime.UINT8:
		limit = math.MaxUint8
	case runtime.UINT16:
		limit = math.MaxUint16
	case runtime.UINT32:
		limit = math.MaxUint32
	default:
		limit = math.MaxUint64
	}
	if u > limit {
		return p.rangeErr(tok)
	}
	switch p.dt.Size() {
	case 1:
		p.out[k] = byte(u)
	case 2:
		binary.LittleEndian.PutUint16(p.out[2*k:], uint16(u))
	case 4:
		binary.LittleEndian.PutUint32(p.out[4*k:], uint32(u))
	default:
		binary.LittleEndian.PutUint64(p.out[8*k:], u)
	}
	return nil
}

func (p *tensorParser) rangeErr(tok []byte) error {
	return p.fail(string(tok) + " is out of range for " + p.dt.String())
}

func (p *tensorParser) boolean() error {
	s := &p.s
	switch s.peek() {
	case 't':
		if err := s.literal("true"); err != nil {
			return p.fail("expected true or false")
		}
		p.out[p.count] = 1
		return nil
	case 'f':
		if err := s.literal("false"); err != nil {
			return p.fail("expected true or false")
		}
		p.out[p.count] = 0
		return nil
	}
	return p.fail("expected true or false for BOOL, found " + s.found())
}

func (p *tensorParser) bytes() error {
	if p.s.peek() != '"' {
		return p.fail("expected a string for BYTES, found " + p.s.found())
	}
	str, err := p.s.str()
	if err != nil {
		return err
	}
	p.blob = append(p.blob, str...)
	p.offsets = append(p.offsets, len(p.blob))
	return nil
}
