//go:build !amd64

package monitor

// transposeRows stages nothing where there is no vector kernel: addFP32's
// Go loop stages every row.
func (st *stage) transposeRows([]byte) int { return 0 }
