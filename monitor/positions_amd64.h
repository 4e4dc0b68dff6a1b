// The positions arithmetic that positions8 (positions_amd64.s) and
// rowPositions8 (rows_amd64.s) share: positionsF32's, lane by lane in
// 32-bit integers (see laneConsts). Both include go_asm.h first.

// LANE_CONSTS loads what POSITIONS8 reads from registers, from the
// *laneConsts in DX: Y13 zeroBits - 1, Y12 the largest finite float32's
// bits, Y11 every bit but the sign, Y10 the first cell's number, AX
// &cells[0].
#define LANE_CONSTS \
	VPBROADCASTD laneConsts_zeroM1(DX), Y13; \
	VPBROADCASTD laneConsts_maxFinite(DX), Y12; \
	VPBROADCASTD laneConsts_abs(DX), Y11; \
	VPBROADCASTD laneConsts_cell0(DX), Y10; \
	MOVQ laneConsts_cells(DX), AX

// POSITIONS8 turns Y0, eight transformed values (b, their bits), into
// their positions in Y9, but for NaN and the infinities, whose lanes Y3
// marks (all ones) and the caller settles; it leaves zeroPos in Y7 and
// clobbers Y1-Y8. Step by step:
//   - Y1 = a, the magnitude's bits (b without its sign);
//   - Y2 = a >= zeroBits; Y3 = a beyond the finite;
//   - Y4 = c, the cell (a >> cellShift32, less the first cell's number;
//     negative only below zeroBits); Y5 = c < len(cells);
//   - Y8 = e = cells[c], gathered only where the cell exists (Y2 and Y5);
//   - Y9 = the cell's first slot (e >> cellSplitBits32), plus one where
//     the offset in the cell (a's low bits) is at or past its split
//     ((split - 1 - offset) >> 31), or the top slot beyond the table;
//   - k = slot + 1, negated where b is negative (xor with the sign's
//     mask, then subtract it), plus zeroPos; zeroPos below zeroBits.
#define POSITIONS8 \
	VPAND Y11, Y0, Y1; \
	VPCMPGTD Y13, Y1, Y2; \
	VPCMPGTD Y12, Y1, Y3; \
	VPSRLD $const_cellShift32, Y1, Y4; \
	VPSUBD Y10, Y4, Y4; \
	VMOVDQU laneConsts_ncells(DX), Y5; \
	VPCMPGTD Y4, Y5, Y5; \
	VPAND Y2, Y5, Y6; \
	VPXOR Y8, Y8, Y8; \
	VPGATHERDD Y6, (AX)(Y4*4), Y8; \
	VPSRLD $const_cellSplitBits32, Y8, Y9; \
	VPAND laneConsts_splitMask(DX), Y8, Y8; \
	VPSUBD laneConsts_one(DX), Y8, Y8; \
	VPAND laneConsts_offsetMask(DX), Y1, Y7; \
	VPSUBD Y7, Y8, Y8; \
	VPSRLD $31, Y8, Y8; \
	VPADDD Y8, Y9, Y9; \
	VMOVDQU laneConsts_top(DX), Y7; \
	VPBLENDVB Y5, Y9, Y7, Y9; \
	VPADDD laneConsts_one(DX), Y9, Y9; \
	VPSRAD $31, Y0, Y6; \
	VPXOR Y6, Y9, Y9; \
	VPSUBD Y6, Y9, Y9; \
	VMOVDQU laneConsts_zero(DX), Y7; \
	VPADDD Y7, Y9, Y9; \
	VPBLENDVB Y2, Y9, Y7, Y9
