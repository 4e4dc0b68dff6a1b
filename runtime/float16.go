package runtime

import "math"

// Float16 conversions follow IEEE 754 binary16 with round-to-nearest-even,
// the rounding numpy and ONNX Runtime's own Cast use, so a value that a
// client sends as FP16 arrives bit for bit as numpy.float16 would store it.

// Float32ToFloat16 rounds f to the nearest binary16 value. It reports false
// when a finite f is too large for binary16 (it would become infinity), so
// the caller can refuse it instead of silently changing the request.
func Float32ToFloat16(f float32) (uint16, bool) {
	return Float64ToFloat16(float64(f)) // exact widening, one rounding
}

// Float64ToFloat16 rounds f to the nearest binary16 value, as
// numpy.float16(f) does; false means a finite f overflows binary16.
func Float64ToFloat16(f float64) (uint16, bool) {
	b := math.Float64bits(f)
	sign := uint16(b>>48) & 0x8000
	exp := int64(b>>52) & 0x7ff
	mant := b & (1<<52 - 1)
	if exp == 0x7ff { // Inf or NaN
		if mant != 0 {
			return sign | 0x7e00, true
		}
		return sign | 0x7c00, true
	}
	e := exp - 1023 + 15
	if e >= 0x1f {
		return sign | 0x7c00, false
	}
	if e <= 0 {
		// Subnormal binary16 (or zero): shift the implicit bit in and round.
		if e < -10 {
			return sign, true
		}
		m := mant | 1<<52
		shift := uint64(43 - e)
		half := uint64(1) << (shift - 1)
		rest := m & (uint64(1)<<shift - 1)
		r := m >> shift
		if rest > half || (rest == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r), true
	}
	r := uint64(e)<<10 | mant>>42
	rest := mant & (1<<42 - 1)
	if rest > 1<<41 || (rest == 1<<41 && r&1 == 1) {
		r++ // may carry into the exponent, which is still correct rounding
	}
	if r >= 0x7c00 {
		return sign | 0x7c00, false
	}
	return sign | uint16(r), true
}

// Float16ToFloat32 widens a binary16 value exactly.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Normalise the subnormal.
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}
