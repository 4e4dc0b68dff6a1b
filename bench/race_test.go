//go:build race

package bench

// raceBuild: the race detector slows every memory access several times,
// so timing checks widen their tolerance (STYLE: timing-sensitive checks
// are made out of -race builds).
const raceBuild = true
