//go:build !amd64

package monitor

// rowLanes holds nothing where there is no vector kernel.
type rowLanes struct{}

// countRows counts nothing where there is no vector kernel: every row is
// staged.
func (st *stage) countRows([]feature, []byte, bool) int { return 0 }

// count has nothing to count.
func (*rowLanes) count([]feature) {}
