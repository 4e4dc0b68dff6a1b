package monitor

import "unsafe"

// prefetchLines asks the processor for the n cache lines from p on, and
// returns without waiting for them: PREFETCHT0, which Go has no intrinsic
// for. A plain load would do the same but hold up every instruction after
// it until the line came; a prefetch is a hint, so it reads nothing the
// race detector or the memory model could object to.
//
//go:noescape
func prefetchLines(p unsafe.Pointer, n int)
