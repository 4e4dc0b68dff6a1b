//go:build !amd64

package monitor

// laneConsts holds nothing where there is no vector kernel.
type laneConsts struct{}

func (*laneConsts) init(*grid) {}

// positions32 is positions for a staged column of float32s, transformed
// in float32 arithmetic (see positionsF32).
func (g *grid) positions32(ps []int32, xs []float32, center, inv float64) {
	positionsF32(g, ps, xs, float32(center), float32(inv))
}
