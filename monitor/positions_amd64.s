#include "textflag.h"
#include "go_asm.h"

// func positionsAVX2(ps *int32, xs *float32, n int, center, inv float64, k *laneConsts)
//
// positions for float32 values, four a step: the same arithmetic as the
// Go loop, lane by lane (see positions and laneConsts). n is a multiple
// of 4.
TEXT ·positionsAVX2(SB), NOSPLIT, $0-48
	MOVQ ps+0(FP), DI
	MOVQ xs+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ k+40(FP), DX
	VBROADCASTSD center+24(FP), Y15
	VBROADCASTSD inv+32(FP), Y14
	VPBROADCASTQ laneConsts_zeroM1(DX), Y13 // zeroBits - 1
	VPBROADCASTQ laneConsts_maxFinite(DX), Y12 // the largest finite float's bits
	VPBROADCASTQ laneConsts_abs(DX), Y11 // every bit but the sign
	MOVQ laneConsts_cells(DX), AX       // &cells[0]
	VPXOR Y7, Y7, Y7                    // zero
	TESTQ CX, CX
	JLE done

loop:
	VCVTPS2PD (SI), Y0
	VSUBPD Y15, Y0, Y0
	VMULPD Y14, Y0, Y0                  // b: the transformed value's bits
	VPAND Y11, Y0, Y1                   // a: its magnitude's
	VPCMPGTQ Y13, Y1, Y2                // a >= zeroBits
	VPCMPGTQ Y12, Y1, Y3                // a beyond the finite: NaN or an infinity
	VPSRLQ $const_cellShift, Y1, Y4
	VPSUBQ laneConsts_cell0(DX), Y4, Y4 // c: the cell
	VMOVDQU laneConsts_ncells(DX), Y5
	VPCMPGTQ Y4, Y5, Y5                 // c < len(cells)
	VPAND Y2, Y5, Y6                    // gather only cells that exist
	VPXOR Y8, Y8, Y8
	VPGATHERQQ Y6, (AX)(Y4*8), Y8       // e = cells[c]
	VPSRLQ $const_cellSplitBits, Y8, Y9 // the cell's first slot
	VPAND laneConsts_splitMask(DX), Y8, Y8 // its split
	VPSUBQ laneConsts_one(DX), Y8, Y8   // split - 1
	VPAND laneConsts_offsetMask(DX), Y1, Y10 // the offset in the cell
	VPSUBQ Y10, Y8, Y8
	VPSRLQ $63, Y8, Y8                  // offset >= split
	VPADDQ Y8, Y9, Y9
	VMOVDQU laneConsts_top(DX), Y10
	VPBLENDVB Y5, Y9, Y10, Y9           // beyond the table: the top slot
	VPADDQ laneConsts_one(DX), Y9, Y9   // k = slot + 1
	VPCMPGTQ Y0, Y7, Y6                 // negative
	VPSUBQ Y9, Y7, Y10
	VPBLENDVB Y6, Y10, Y9, Y9           // -k if negative
	VMOVDQU laneConsts_zero(DX), Y10    // zeroPos
	VPADDQ Y10, Y9, Y9
	VPBLENDVB Y2, Y9, Y10, Y9           // below zeroBits: zeroPos
	VPOR Y3, Y9, Y9                     // NaN and infinities: -1
	VPSHUFD $0x08, Y9, Y9               // each lane's low words to the bottom
	VPERMQ $0x08, Y9, Y9
	VMOVDQU X9, (DI)
	ADDQ $16, SI
	ADDQ $16, DI
	SUBQ $4, CX
	JG loop

done:
	VZEROUPPER
	RET
