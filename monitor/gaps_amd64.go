package monitor

// compareNumeric's pass over the reference's positions is computed four
// positions at a time with AVX2 where the processor has it: the window's
// running count as an in-register prefix sum of four counts plus a
// carried total, its CDF, the gap to the reference's, the gap's maximum
// (KS, exactly as the Go loop has it) and the gaps times the steps
// (Wasserstein, summed in four lanes, so equal to the Go loop's to the
// rounding of a different order; TestCDFGaps). Alternated with the Go
// loop's build on this machine's EPYC: BenchmarkCompareNumeric (about 850
// positions) 1.31 to 0.90 µs, the rest of it now the PSI and JS
// logarithms; BenchmarkWindowClose 46.8 to 34.4 µs.

// gapsAVX2 is cdfGaps's kernel; n is a positive multiple of 4.
//
//go:noescape
func gapsAVX2(cdf, steps *float64, cnt *uint32, n int, sc, inc float64) (scOut, w, ks float64)

// cdfGaps takes the running count sc over the leading positions of cdf
// (a multiple of 4 of them, as many as it can): it returns how many it
// took, the count after them, and the gaps' weighted sum and maximum
// there. It takes none without AVX2, or for counts that float64 sums or
// the kernel's int32 loads could get wrong (total is the window's count,
// which bounds them).
func cdfGaps(cdf, steps []float64, cnt []uint32, sc int64, inc, total float64) (n int, scOut int64, w, ks float64) {
	n = len(cdf) &^ 3
	if !hasAVX2 || n == 0 || total >= 1<<31 {
		return 0, sc, 0, 0
	}
	steps, cnt = steps[:n], cnt[:n]
	s, w, ks := gapsAVX2(&cdf[0], &steps[0], &cnt[0], n, float64(sc), inc)
	return n, int64(s), w, ks
}
