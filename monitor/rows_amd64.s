#include "textflag.h"
#include "go_asm.h"
#include "positions_amd64.h"

// func rowPositions8(ps *uint16, src *byte, rows, rowBytes, nv int, center, inv *float32, lohi *int32, k *laneConsts, vecBytes int)
//
// positions8's arithmetic on rows rather than a column: each row of
// rowBytes at src is nv vectors of eight float32s, the first nv-1 at
// 32-byte steps and the last the row's final 32 bytes, and vector v is
// transformed with its own lanes' centers and inverse scales
// (center[8v:8v+8], inv[8v:8v+8]). Row r's eight positions of vector v go
// to ps at byte r*16 + v*vecBytes, as uint16s (positions number under
// 2,800), zeroPos for NaN and the infinities, so that counting them needs
// no branch: lohi[16nv:24nv] counts them a lane, for the counting to take
// back. lohi[:8nv] keeps every lane's smallest position but theirs,
// unsigned (they are -1 there, which never wins), and lohi[8nv:16nv] its
// largest, signed (the same).
TEXT ·rowPositions8(SB), NOSPLIT, $0-80
	MOVQ src+8(FP), SI
	MOVQ rows+16(FP), R8
	MOVQ rowBytes+24(FP), R9
	MOVQ nv+32(FP), R15
	SHLQ $5, R15                               // nv*32: a row's lanes in bytes
	MOVQ center+40(FP), R11
	MOVQ inv+48(FP), R12
	MOVQ lohi+56(FP), R13
	LEAQ (R13)(R15*1), R10                     // the largest positions
	MOVQ k+64(FP), DX
	LEAQ -32(R9), R14                          // the last vector's offset in a row
	LANE_CONSTS
	TESTQ R8, R8
	JLE done

row:
	MOVQ ps+0(FP), DI                   // this row's first vector's positions
	XORQ BX, BX                         // this vector's lanes, in bytes

vector:
	LEAQ 32(BX), CX
	CMPQ CX, R15
	JEQ last
	VMOVUPS (SI)(BX*1), Y0
	JMP loaded

last:
	VMOVUPS (SI)(R14*1), Y0

loaded:
	VSUBPS (R11)(BX*1), Y0, Y0
	VMULPS (R12)(BX*1), Y0, Y0          // b: the transformed value's bits
	POSITIONS8                          // Y9: positions; Y3: NaN and infinities; Y7: zeroPos
	VPOR Y3, Y9, Y4                     // NaN and infinities: -1 for the bounds,
	VPBLENDVB Y3, Y7, Y9, Y9            // zeroPos for the counts
	VEXTRACTI128 $1, Y9, X6
	VPACKUSDW X6, X9, X6                // the eight as uint16s
	VMOVDQU X6, (DI)
	VPMINUD (R13)(BX*1), Y4, Y5
	VMOVDQU Y5, (R13)(BX*1)
	VPMAXSD (R10)(BX*1), Y4, Y5
	VMOVDQU Y5, (R10)(BX*1)
	LEAQ (R10)(R15*1), CX               // the lanes' NaN and infinity counts
	VMOVDQU (CX)(BX*1), Y5
	VPSUBD Y3, Y5, Y5                   // the mask is -1 where they are
	VMOVDQU Y5, (CX)(BX*1)
	ADDQ vecBytes+72(FP), DI            // the next vector's positions of this row
	ADDQ $32, BX
	CMPQ BX, R15
	JLT vector
	ADDQ $16, ps+0(FP)                  // the next row's
	ADDQ R9, SI
	DECQ R8
	JNZ row

done:
	VZEROUPPER
	RET
