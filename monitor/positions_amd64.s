#include "textflag.h"
#include "go_asm.h"

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
	VPBROADCASTD laneConsts_zeroM1(DX), Y13    // zeroBits - 1
	VPBROADCASTD laneConsts_maxFinite(DX), Y12 // the largest finite float32's bits
	VPBROADCASTD laneConsts_abs(DX), Y11       // every bit but the sign
	VPBROADCASTD laneConsts_cell0(DX), Y10     // the first cell's number
	MOVQ laneConsts_cells(DX), AX              // &cells[0]
	TESTQ CX, CX
	JLE done

loop:
	VMOVUPS (SI), Y0
	VSUBPS Y15, Y0, Y0
	VMULPS Y14, Y0, Y0                  // b: the transformed value's bits
	VPAND Y11, Y0, Y1                   // a: its magnitude's
	VPCMPGTD Y13, Y1, Y2                // a >= zeroBits
	VPCMPGTD Y12, Y1, Y3                // a beyond the finite: NaN or an infinity
	VPSRLD $const_cellShift32, Y1, Y4
	VPSUBD Y10, Y4, Y4                  // c: the cell (negative only below zeroBits)
	VMOVDQU laneConsts_ncells(DX), Y5
	VPCMPGTD Y4, Y5, Y5                 // c < len(cells)
	VPAND Y2, Y5, Y6                    // gather only cells that exist
	VPXOR Y8, Y8, Y8
	VPGATHERDD Y6, (AX)(Y4*4), Y8       // e = cells[c]
	VPSRLD $const_cellSplitBits32, Y8, Y9 // the cell's first slot
	VPAND laneConsts_splitMask(DX), Y8, Y8 // its split
	VPSUBD laneConsts_one(DX), Y8, Y8   // split - 1
	VPAND laneConsts_offsetMask(DX), Y1, Y7 // the offset in the cell
	VPSUBD Y7, Y8, Y8
	VPSRLD $31, Y8, Y8                  // offset >= split
	VPADDD Y8, Y9, Y9
	VMOVDQU laneConsts_top(DX), Y7
	VPBLENDVB Y5, Y9, Y7, Y9            // beyond the table: the top slot
	VPADDD laneConsts_one(DX), Y9, Y9   // k = slot + 1
	VPSRAD $31, Y0, Y6                  // all ones where negative
	VPXOR Y6, Y9, Y9
	VPSUBD Y6, Y9, Y9                   // -k if negative
	VMOVDQU laneConsts_zero(DX), Y7     // zeroPos
	VPADDD Y7, Y9, Y9
	VPBLENDVB Y2, Y9, Y7, Y9            // below zeroBits: zeroPos
	VPOR Y3, Y9, Y9                     // NaN and infinities: -1
	VMOVDQU Y9, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JG loop

done:
	VZEROUPPER
	RET
