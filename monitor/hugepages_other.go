//go:build !linux

package monitor

// hugeSlice is make where the monitor does not map huge pages itself (see
// hugepages_linux.go).
func hugeSlice[T, O any](_ *O, n int) []T { return make([]T, n) }
