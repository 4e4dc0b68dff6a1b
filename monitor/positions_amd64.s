#include "textflag.h"
#include "go_asm.h"
#include "positions_amd64.h"

// func positions8(ps *int32, xs *float32, n int, center, inv float32, k *laneConsts)
//
// positions for float32 values transformed in float32 arithmetic, eight a
// step: the same arithmetic as positionsF32, lane by lane (see
// laneConsts). n is a multiple of 8.
TEXT ·positions8(SB), NOSPLIT, $0-40
	MOVQ ps+0(FP), DI
	MOVQ xs+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ k+32(FP), DX
	VBROADCASTSS center+24(FP), Y15
	VBROADCASTSS inv+28(FP), Y14
	LANE_CONSTS
	TESTQ CX, CX
	JLE done

loop:
	VMOVUPS (SI), Y0
	VSUBPS Y15, Y0, Y0
	VMULPS Y14, Y0, Y0                  // b: the transformed value's bits
	POSITIONS8                          // Y9: positions; Y3: NaN and infinities; Y7: zeroPos
	VPOR Y3, Y9, Y9                     // NaN and infinities: -1
	VMOVDQU Y9, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JG loop

done:
	VZEROUPPER
	RET
