//go:build !amd64

package monitor

// cdfGaps takes none of the positions where there is no vector kernel:
// compareNumeric's Go loop does them all.
func cdfGaps(_, _ []float64, _ []uint32, sc int64, _, _ float64) (n int, scOut int64, w, ks float64) {
	return 0, sc, 0, 0
}
