package monitor

import (
	"encoding/binary"
	"math"
)

// A batch's rows arrive row after row and are staged column after column
// (see stage): staged a value at a time, a row of the fraud model's 30
// features is 30 stores to 30 lines, 1.4 ns a value, the stage's whole
// cost in the gateway's profile. Where the processor has AVX2, a span's
// rows are staged eight at a time instead, as 8x8 blocks turned around in
// registers (transpose8): eight loads and eight stores of 32 bytes for 64
// values. The values move as bits, so the stage holds what the Go loop
// would have put there (TestStageTranspose).

// transpose8 is transposeRows' kernel: see transpose_amd64.s.
//
//go:noescape
func transpose8(dst *float32, dstStride uintptr, src *byte, srcStride uintptr)

// transposeRows stages the leading rows of raw (little-endian float32s,
// width a row) in blocks of eight, as many as there are and the stage has
// room for, and returns how many it staged: none without AVX2, for a fold
// narrower than a block, or for fewer than eight rows. It does not count a
// full stage: its caller does.
func (st *stage) transposeRows(raw []byte) int {
	w := st.width
	rows := min(len(raw)/(4*w), st.capRows-st.rows) &^ 7
	if !hasAVX2 || w < 8 || rows == 0 {
		return 0
	}
	cols, stride, k, rowBytes := st.cols, st.capRows, st.rows, 4*w
	// The last value read and the last written: every block's lies within.
	_ = raw[rows*rowBytes-1]
	_ = cols[(w-1)*stride+k+rows-1]
	for b := 0; b < rows; b += 8 {
		src := raw[b*rowBytes : (b+8)*rowBytes]
		c := 0
		for ; c+8 <= w; c += 8 {
			transpose8(&cols[c*stride+k+b], uintptr(4*stride), &src[4*c], uintptr(rowBytes))
		}
		// The block's last w%8 columns, a value at a time.
		for ; c < w; c++ {
			col := cols[c*stride+k+b : c*stride+k+b+8]
			for i := range col {
				col[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[i*rowBytes+4*c:]))
			}
		}
	}
	st.rows += rows
	return rows
}
