package gateway

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/infergate/infergate/runtime"
)

// TestFloatParsingMatchesStrconv checks the one-pass float parser against
// strconv.ParseFloat on numbers written every way clients write them:
// shortest float32 and float64 forms, fixed precision, exponents, long
// mantissas, subnormals and values near float32 midpoints.
func TestFloatParsingMatchesStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	var inputs []string
	for range 200000 {
		f32 := math.Float32frombits(r.Uint32())
		f64 := math.Float64frombits(r.Uint64())
		if !math.IsNaN(float64(f32)) && !math.IsInf(float64(f32), 0) {
			inputs = append(inputs, strconv.FormatFloat(float64(f32), 'g', -1, 32))
		}
		if !math.IsNaN(f64) && !math.IsInf(f64, 0) {
			inputs = append(inputs, strconv.FormatFloat(f64, 'g', -1, 64))
		}
		u := r.Float64()*2 - 1
		inputs = append(inputs,
			strconv.FormatFloat(u, 'f', r.IntN(12), 64),
			strconv.FormatFloat(u*1e6, 'e', r.IntN(17), 64),
			strconv.FormatFloat(float64(float32(u)), 'g', -1, 64),
			strconv.FormatInt(r.Int64N(1<<60)-1<<59, 10),
		)
		// A decimal exactly between two adjacent float32 values.
		a := float32(u)
		mid := (float64(a) + float64(math.Nextafter32(a, 2))) / 2
		inputs = append(inputs, strconv.FormatFloat(mid, 'g', -1, 64))
		// Short decimals a float64 ulp or two from that midpoint: the FP32
		// fast path's multiply may round them to its other side.
		inputs = append(inputs, strconv.FormatFloat(mid, 'e', 14, 64), strconv.FormatFloat(mid, 'e', 15, 64))
	}
	inputs = append(inputs, "0", "-0", "0.0", "1e-45", "1.4e-45", "1e-46", "3.4028235e38", "3.4028234e38",
		"1.17549435e-38", "1.1754942e-38", "123456789012345678901234567890", "0.000000000000000000000000001",
		"9007199254740993", "16777217", "1e22", "1e23", "4.9406564584124654e-324")
	// Each number alone and as an element followed by more of the body,
	// and long runs of digits.
	inputs = append(inputs, "0.123456789", "12345678", "123456789012345678", "1234567890123456789",
		"12345678901234567890", "0.0000000012345678", "-0.000000001", "99999999.99999999", "1.00000000000000000001")
	for _, in := range inputs {
		for _, tail := range []string{"", ",0.5]}]}"} {
			for _, dt := range []runtime.DataType{runtime.FP32, runtime.FP64} {
				checkFloat(t, in, tail, dt)
			}
		}
	}
	// Not JSON numbers: refused, with or without bytes after them.
	for _, in := range []string{"00.5", "-00", "01", "1.", ".5", "-", "1e", "1e+", "--1", "1.e5"} {
		for _, tail := range []string{"", ",0.5]}]}"} {
			p := &tensorParser{s: scanner{b: []byte(in + tail)}, dt: runtime.FP32, n: 1, out: make([]byte, 8)}
			if err := p.float(); err == nil && p.s.i == len(in) {
				t.Fatalf("%q accepted as a number", in)
			}
		}
	}
}

// checkFloat parses in followed by tail and compares the value with
// strconv's and the cursor with the number's end.
func checkFloat(t *testing.T, in, tail string, dt runtime.DataType) {
	t.Helper()
	bits := 32
	if dt == runtime.FP64 {
		bits = 64
	}
	want, err := strconv.ParseFloat(in, bits)
	if err != nil && !math.IsInf(want, 0) && want != 0 && math.Abs(want) > 1e-300 {
		t.Fatalf("strconv %q: %v", in, err)
	}
	if math.IsInf(want, 0) {
		return // overflow is an error for us; tested elsewhere
	}
	p := &tensorParser{s: scanner{b: []byte(in + tail)}, dt: dt, n: 1, out: make([]byte, 8)}
	if err := p.float(); err != nil {
		t.Fatalf("%s %q: %v", dt, in, err)
	}
	var got float64
	if dt == runtime.FP32 {
		got = float64(math.Float32frombits(uint32(p.out[0]) | uint32(p.out[1])<<8 | uint32(p.out[2])<<16 | uint32(p.out[3])<<24))
		want = float64(float32(want))
	} else {
		got = math.Float64frombits(uint64(p.out[0]) | uint64(p.out[1])<<8 | uint64(p.out[2])<<16 | uint64(p.out[3])<<24 |
			uint64(p.out[4])<<32 | uint64(p.out[5])<<40 | uint64(p.out[6])<<48 | uint64(p.out[7])<<56)
	}
	if math.Float64bits(got) != math.Float64bits(want) {
		t.Fatalf("%s %q: got %v (%#x), strconv gives %v (%#x)", dt, in, got, math.Float64bits(got), want, math.Float64bits(want))
	}
	if p.s.i != len(in) {
		t.Fatalf("%s %q: cursor at %d, want %d", dt, in, p.s.i, len(in))
	}
}

// TestFP32RunsMatchStrconv checks the FP32 run reader where its runs end:
// data arrays whose elements mix numbers it takes with numbers it leaves
// to strconv (long mantissas, float32 midpoints, large exponents), bare
// commas with commas set off by spaces and newlines, and flat with nested
// rows. Every element must equal strconv's float32 and the element count
// must be checked whatever form the array takes.
func TestFP32RunsMatchStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	element := func() string {
		u := r.Float64()*2 - 1
		switch r.IntN(8) {
		case 0:
			return strconv.FormatFloat(u*1e25, 'e', 24, 64) // long mantissa
		case 1:
			a := float32(u) // a float32 midpoint
			return strconv.FormatFloat((float64(a)+float64(math.Nextafter32(a, 2)))/2, 'g', -1, 64)
		case 2:
			return strconv.FormatFloat(u*1e-30, 'g', -1, 32) // exponent beyond 10^22
		case 3:
			return strconv.Itoa(r.IntN(2001) - 1000)
		case 4:
			return strconv.FormatFloat(float64(float32(u)), 'g', -1, 32)
		default:
			return strconv.FormatFloat(u, 'f', 3, 64)
		}
	}
	separators := []string{",", ",", ",", ", ", " ,", ",\n  ", "\t,\t"}
	for trial := range 3000 {
		rows, cols := 1+r.IntN(3), 1+r.IntN(40)
		var body []byte
		var want []float32
		nested := rows > 1 || r.IntN(2) == 0
		body = append(body, '[')
		for row := range rows {
			if row > 0 {
				body = append(body, separators[r.IntN(len(separators))]...)
			}
			if nested {
				body = append(body, '[')
			}
			for col := range cols {
				if col > 0 {
					body = append(body, separators[r.IntN(len(separators))]...)
				}
				s := element()
				f, err := strconv.ParseFloat(s, 32)
				if err != nil {
					t.Fatalf("strconv %q: %v", s, err)
				}
				want = append(want, float32(f))
				body = append(body, s...)
			}
			if nested {
				body = append(body, ']')
			}
		}
		body = append(body, ']')
		n := len(want)
		p := &tensorParser{s: scanner{b: append(body, "}]}"...)}, dt: runtime.FP32, n: n, out: make([]byte, 4*n)}
		if err := p.parseValue(); err != nil {
			t.Fatalf("trial %d: %s: %v", trial, body, err)
		}
		if p.s.i != len(body) {
			t.Fatalf("trial %d: cursor at %d, want %d: %s", trial, p.s.i, len(body), body)
		}
		for k, w := range want {
			if got := math.Float32frombits(binary.LittleEndian.Uint32(p.out[4*k:])); math.Float32bits(got) != math.Float32bits(w) {
				t.Fatalf("trial %d: element %d is %v, strconv gives %v: %s", trial, k, got, w, body)
			}
		}
		// One element fewer or more than the data holds is refused.
		for _, m := range []int{n - 1, n + 1} {
			if m == 0 {
				continue
			}
			p := &tensorParser{s: scanner{b: body}, dt: runtime.FP32, n: m, out: make([]byte, 4*m)}
			if err := p.parseValue(); err == nil {
				t.Fatalf("trial %d: %d elements accepted for a shape of %d: %s", trial, n, m, body)
			}
		}
	}
	// Separators the run reader must not take as its own.
	for _, in := range []string{"[1,2,]", "[1,,2]", "[1 2]", "[1,-]", "[1,2", "[1,2,", "[1,-x]", "[1,2]]"} {
		p := &tensorParser{s: scanner{b: []byte(in)}, dt: runtime.FP32, n: 2, out: make([]byte, 8)}
		err := p.parseValue()
		if err == nil && p.s.i == len(in) {
			t.Errorf("%q accepted as two FP32 elements", in)
		}
	}
}
