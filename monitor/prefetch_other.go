//go:build !amd64

package monitor

import "unsafe"

// prefetchLines is a no-op where there is no prefetch instruction
// wrapped: the ring only loses its head start on cold slots.
func prefetchLines(unsafe.Pointer, int) {}
