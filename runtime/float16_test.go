package runtime

import (
	"math"
	"sort"
	"testing"
)

// halfValue is the exact value of the binary16 bit pattern h (h < 0x7c00,
// i.e. positive and finite), computed in float64 from the IEEE 754
// definition without looking at any float32 bits.
func halfValue(h uint16) float64 {
	exp := int(h >> 10)
	mant := float64(h & 0x3ff)
	if exp == 0 {
		return math.Ldexp(mant, -24)
	}
	return math.Ldexp(1+mant/1024, exp-15)
}

// halfTable holds halfValue for 0..0x7bff and, at index 0x7c00, 65536: the
// value binary16 would have next if its exponent did not run out. Rounding
// to it (ties go there too, as 0x7c00 has an even significand) is exactly
// IEEE 754's overflow rule for round to nearest even.
var halfTable = func() []float64 {
	t := make([]float64, 0x7c01)
	for h := range uint16(0x7c00) {
		t[h] = halfValue(h)
	}
	t[0x7c00] = 65536
	return t
}()

// refFloat32ToFloat16 is an independent reference for Float32ToFloat16:
// it finds the nearest entry of halfTable in float64 arithmetic, ties to
// the even bit pattern.
func refFloat32ToFloat16(f float32) (uint16, bool) {
	var sign uint16
	if math.Signbit(float64(f)) {
		sign = 0x8000
	}
	x := math.Abs(float64(f))
	switch {
	case math.IsNaN(x):
		return sign | 0x7e00, true
	case math.IsInf(x, 0):
		return sign | 0x7c00, true
	}
	i := sort.SearchFloat64s(halfTable, x) // first entry >= x
	var h uint16
	switch {
	case i >= len(halfTable):
		h = 0x7c00
	case halfTable[i] == x:
		h = uint16(i)
	default:
		lo, hi := uint16(i-1), uint16(i)
		// Every midpoint here is exact in float64: the entries carry at
		// most 11 significant bits.
		mid := (halfTable[lo] + halfTable[hi]) / 2
		switch {
		case x < mid:
			h = lo
		case x > mid:
			h = hi
		case lo&1 == 0:
			h = lo
		default:
			h = hi
		}
	}
	if h == 0x7c00 {
		return sign | h, false
	}
	return sign | h, true
}

func TestFloat16ToFloat32AllPatterns(t *testing.T) {
	for i := range 1 << 16 {
		h := uint16(i)
		f := Float16ToFloat32(h)
		neg := h&0x8000 != 0
		if math.Signbit(float64(f)) != neg {
			t.Fatalf("Float16ToFloat32(%#04x) = %v: sign lost", h, f)
		}
		exp, mant := h>>10&0x1f, h&0x3ff
		switch {
		case exp == 0x1f && mant != 0:
			if !math.IsNaN(float64(f)) {
				t.Fatalf("Float16ToFloat32(%#04x) = %v, want NaN", h, f)
			}
		case exp == 0x1f:
			if !math.IsInf(float64(f), 0) {
				t.Fatalf("Float16ToFloat32(%#04x) = %v, want Inf", h, f)
			}
		default:
			want := halfValue(h &^ 0x8000)
			if neg {
				want = -want
			}
			if float64(f) != want {
				t.Fatalf("Float16ToFloat32(%#04x) = %v, want %v", h, f, want)
			}
		}

		back, ok := Float32ToFloat16(f)
		if !ok {
			t.Fatalf("Float32ToFloat16(Float16ToFloat32(%#04x) = %v) reported overflow", h, f)
		}
		if exp == 0x1f && mant != 0 {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 || back&0x8000 != h&0x8000 {
				t.Fatalf("NaN %#04x came back as %#04x, want a NaN with the same sign", h, back)
			}
			continue
		}
		if back != h {
			t.Fatalf("%#04x -> %v -> %#04x, want the same bits back", h, f, back)
		}
	}
}

func TestFloat32ToFloat16Values(t *testing.T) {
	f := func(in float32, want uint16, wantOK bool) {
		t.Helper()
		got, ok := Float32ToFloat16(in)
		if got != want || ok != wantOK {
			t.Errorf("Float32ToFloat16(%v [%#08x]) = %#04x, %v; want %#04x, %v",
				in, math.Float32bits(in), got, ok, want, wantOK)
		}
	}
	p2 := func(e int) float32 { return float32(math.Ldexp(1, e)) }

	f(0, 0x0000, true)
	f(float32(math.Copysign(0, -1)), 0x8000, true)
	f(1, 0x3c00, true)
	f(-2, 0xc000, true)
	f(0.5, 0x3800, true)
	f(0.1, 0x2e66, true)
	f(1.0/3, 0x3555, true)
	f(3.140625, 0x4248, true)

	// The top of the range: 65504 is the largest finite value, and
	// anything below the midpoint 65520 rounds down to it.
	f(65504, 0x7bff, true)
	f(-65504, 0xfbff, true)
	f(65519.99, 0x7bff, true)
	f(math.Nextafter32(65520, 0), 0x7bff, true)
	f(65520, 0x7c00, false)
	f(-65520, 0xfc00, false)
	f(65536, 0x7c00, false)
	f(1e10, 0x7c00, false)
	f(math.MaxFloat32, 0x7c00, false)
	f(-math.MaxFloat32, 0xfc00, false)

	// Infinities and NaN are not overflow.
	f(float32(math.Inf(1)), 0x7c00, true)
	f(float32(math.Inf(-1)), 0xfc00, true)
	f(float32(math.NaN()), 0x7e00, true)
	f(math.Float32frombits(0xffc00001), 0xfe00, true)
	f(math.Float32frombits(0x7f800001), 0x7e00, true)

	// Rounding to nearest even in the normal range: 1 + 2^-11 is halfway
	// between 1 and the next half (0x3c01); the tie goes to the even 0x3c00.
	f(1+p2(-11), 0x3c00, true)
	f(math.Nextafter32(1+p2(-11), 2), 0x3c01, true)
	f(1+3*p2(-11), 0x3c02, true) // tie between 0x3c01 and 0x3c02: even wins
	f(math.Nextafter32(1+3*p2(-11), 0), 0x3c01, true)
	// 2047.5 -> 2048 (carry into the exponent).
	f(2047.5, 0x6800, true)
	f(2047, 0x67ff, true)
	// The mantissa carry all the way from 0x3bff to 0x3c00.
	f(1-p2(-12), 0x3c00, true)
	f(math.Nextafter32(1-p2(-12), 0), 0x3bff, true)

	// Normal/subnormal boundary: 2^-14 is the smallest normal half.
	f(p2(-14), 0x0400, true)
	f(p2(-14)-p2(-24), 0x03ff, true)
	f(p2(-14)-p2(-25), 0x0400, true) // tie between 0x03ff and 0x0400: even wins
	f(math.Nextafter32(p2(-14)-p2(-25), 0), 0x03ff, true)

	// Subnormals.
	f(p2(-24), 0x0001, true)
	f(-p2(-24), 0x8001, true)
	f(p2(-25), 0x0000, true)  // tie between 0 and 2^-24: even (0) wins
	f(-p2(-25), 0x8000, true) // keeps the sign
	f(math.Nextafter32(p2(-25), 1), 0x0001, true)
	f(3*p2(-26), 0x0001, true)
	f(3*p2(-25), 0x0002, true) // tie between 1 and 2: even wins
	f(5*p2(-25), 0x0002, true) // tie between 2 and 3: even wins
	f(7*p2(-25), 0x0004, true) // tie between 3 and 4: even wins
	f(p2(-26), 0x0000, true)
	f(p2(-100), 0x0000, true)
	f(math.SmallestNonzeroFloat32, 0x0000, true)
	f(-math.SmallestNonzeroFloat32, 0x8000, true)
	f(math.Float32frombits(0x007fffff), 0x0000, true) // largest float32 subnormal
}

func TestFloat32ToFloat16MatchesReference(t *testing.T) {
	checked := 0
	check := func(in float32) {
		t.Helper()
		checked++
		got, ok := Float32ToFloat16(in)
		want, wantOK := refFloat32ToFloat16(in)
		if math.IsNaN(float64(in)) {
			if got&0x7c00 != 0x7c00 || got&0x3ff == 0 || got&0x8000 != want&0x8000 || !ok {
				t.Fatalf("Float32ToFloat16(NaN %#08x) = %#04x, %v; want a NaN with the same sign", math.Float32bits(in), got, ok)
			}
			return
		}
		if got != want || ok != wantOK {
			t.Fatalf("Float32ToFloat16(%v [%#08x]) = %#04x, %v; the reference says %#04x, %v",
				in, math.Float32bits(in), got, ok, want, wantOK)
		}
	}

	// A prime stride over every float32 bit pattern: both signs, every
	// exponent, NaNs, infinities and float32 subnormals.
	for b := uint64(0); b < 1<<32; b += 7919 {
		check(math.Float32frombits(uint32(b)))
	}
	check(math.Float32frombits(0xffffffff))

	// Each halfway point between neighbouring halves (including the one
	// between 65504 and the overflow threshold) and the float32s on either
	// side of it, with both signs.
	for h := range 0x7c00 {
		mid := float32((halfTable[h] + halfTable[h+1]) / 2)
		for _, v := range []float32{mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, float32(math.Inf(1)))} {
			check(v)
			check(-v)
		}
		// The half itself and its float32 neighbours.
		v := float32(halfTable[h])
		for _, w := range []float32{v, math.Nextafter32(v, 0), math.Nextafter32(v, float32(math.Inf(1)))} {
			check(w)
			check(-w)
		}
	}

	// Around the subnormal boundaries, at float32 resolution.
	for _, e := range []int{-14, -24, -25, -26} {
		base := math.Float32bits(float32(math.Ldexp(1, e)))
		for d := uint32(0); d < 4096; d++ {
			check(math.Float32frombits(base + d))
			check(math.Float32frombits(base - d))
		}
	}
	if checked < 700_000 {
		t.Fatalf("only %d values checked", checked)
	}
}
