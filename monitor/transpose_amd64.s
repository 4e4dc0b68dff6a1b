#include "textflag.h"

// func transpose8(dst *float32, dstStride uintptr, src *byte, srcStride uintptr)
//
// Copies an 8x8 block of 32-bit values from eight rows at src, srcStride
// bytes apart, to eight columns at dst, dstStride bytes apart: column j
// of the block gets element j of every row. The values are moved as bits:
// unpacks, shuffles and lane permutes, no arithmetic.
TEXT ·transpose8(SB), NOSPLIT, $0-32
	MOVQ src+16(FP), SI
	MOVQ srcStride+24(FP), BX
	VMOVUPS (SI), Y0
	ADDQ BX, SI
	VMOVUPS (SI), Y1
	ADDQ BX, SI
	VMOVUPS (SI), Y2
	ADDQ BX, SI
	VMOVUPS (SI), Y3
	ADDQ BX, SI
	VMOVUPS (SI), Y4
	ADDQ BX, SI
	VMOVUPS (SI), Y5
	ADDQ BX, SI
	VMOVUPS (SI), Y6
	ADDQ BX, SI
	VMOVUPS (SI), Y7

	// Rows i and i+1 interleaved, in each 128-bit lane:
	// Y8 = r0[0] r1[0] r0[1] r1[1] | r0[4] r1[4] r0[5] r1[5], Y9 the rest.
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15

	// Four rows of one column in each lane: Y0 = column 0 of rows 0-3 |
	// column 4 of rows 0-3, Y1 columns 1 and 5, Y2 2 and 6, Y3 3 and 7;
	// Y4-Y7 the same for rows 4-7.
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y14, Y12, Y4
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7

	// Whole columns: the low lanes of rows 0-3 and 4-7 for columns 0-3,
	// the high lanes for columns 4-7.
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y15

	MOVQ dst+0(FP), DI
	MOVQ dstStride+8(FP), BX
	VMOVUPS Y8, (DI)
	ADDQ BX, DI
	VMOVUPS Y9, (DI)
	ADDQ BX, DI
	VMOVUPS Y10, (DI)
	ADDQ BX, DI
	VMOVUPS Y11, (DI)
	ADDQ BX, DI
	VMOVUPS Y12, (DI)
	ADDQ BX, DI
	VMOVUPS Y13, (DI)
	ADDQ BX, DI
	VMOVUPS Y14, (DI)
	ADDQ BX, DI
	VMOVUPS Y15, (DI)
	VZEROUPPER
	RET
