#include "textflag.h"

// func gapsAVX2(cdf, steps *float64, cnt *uint32, n int, sc, inc float64) (scOut, w, ks float64)
//
// compareNumeric's pass over the reference's positions, four a step (see
// cdfGaps). n is a positive multiple of 4; counts are below 2^31.
TEXT ·gapsAVX2(SB), NOSPLIT, $0-72
	MOVQ cdf+0(FP), SI
	MOVQ steps+8(FP), DI
	MOVQ cnt+16(FP), BX
	MOVQ n+24(FP), CX
	VBROADCASTSD sc+32(FP), Y0  // the running count, in every lane
	VBROADCASTSD inc+40(FP), Y1
	VXORPD Y2, Y2, Y2           // Wasserstein's partial sums
	VXORPD Y3, Y3, Y3           // KS's partial maxima (gaps are >= 0)
	MOVQ $0x7fffffffffffffff, AX
	MOVQ AX, X4
	VPBROADCASTQ X4, Y4         // every bit but the sign
	VXORPD Y5, Y5, Y5

loop:
	VCVTDQ2PD (BX), Y6          // four counts
	VPERMPD $0x90, Y6, Y7       // [c0 c0 c1 c2]
	VBLENDPD $1, Y5, Y7, Y7     // [0 c0 c1 c2]
	VADDPD Y7, Y6, Y6
	VPERM2F128 $0x08, Y6, Y6, Y7 // [0 0 s0 s1]
	VADDPD Y7, Y6, Y6           // the four's running counts from 0
	VPERMPD $0xff, Y6, Y7       // their total, in every lane
	VADDPD Y0, Y6, Y6           // running counts
	VADDPD Y7, Y0, Y0
	VMULPD Y1, Y6, Y6           // the window's CDF
	VMOVUPD (SI), Y7
	VSUBPD Y6, Y7, Y7
	VANDPD Y4, Y7, Y7           // the gap
	VMAXPD Y3, Y7, Y3
	VMULPD (DI), Y7, Y7
	VADDPD Y7, Y2, Y2
	ADDQ $16, BX
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $4, CX
	JG loop

	VEXTRACTF128 $1, Y2, X7
	VADDPD X7, X2, X2
	VPERMILPD $1, X2, X7
	VADDSD X7, X2, X2
	VEXTRACTF128 $1, Y3, X7
	VMAXPD X7, X3, X3
	VPERMILPD $1, X3, X7
	VMAXSD X7, X3, X3
	VMOVSD X0, scOut+48(FP)
	VMOVSD X2, w+56(FP)
	VMOVSD X3, ks+64(FP)
	VZEROUPPER
	RET
