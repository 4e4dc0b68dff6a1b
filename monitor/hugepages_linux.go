package monitor

import (
	goruntime "runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The prediction table is megabytes written at random, one line per
// sampled request. On 4 KiB pages nearly every one of those writes also
// misses the TLB, and on a virtual machine a TLB miss is a nested page
// walk: in the fraud gateway at 64 connections, sampling every request
// cost 6.3% of throughput with the table on ordinary pages, 4.5% with a
// table small enough to stay cached, 4.4% with the system's transparent
// huge pages set to "always", and 3.8-4.6% with the table on huge pages
// of its own (bench/README.md, eleventh session). Most systems leave them
// at "madvise", where only memory that asks gets them, and Go's heap does
// not ask; so the monitor maps the table itself and asks. (The ring and
// the stages on huge pages too measured no better.)

// hugePageBytes is the huge page size on x86-64 and arm64 with 4 KiB base
// pages, the only one a mapping of ours is aligned to.
const hugePageBytes = 2 << 20

// minHugeBytes is the smallest table worth a huge page: below it the
// rounding would waste more than the table uses.
const minHugeBytes = 1 << 20

// hugeSlice returns n zero values of T in memory of its own, backed by
// huge pages where the kernel grants them, and faulted in now rather than
// on the serving path. The memory is unmapped once owner is unreachable,
// so the slice must live only in owner (and in frames where owner is
// live). T must hold no pointers: the garbage collector does not scan this
// memory. Small tables, and any the kernel refuses to map, come from Go's
// heap instead.
func hugeSlice[T, O any](owner *O, n int) []T {
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	if size < minHugeBytes {
		return make([]T, n)
	}
	size = (size + hugePageBytes - 1) &^ (hugePageBytes - 1)
	// Map a huge page more than needed, so that an aligned run fits, and
	// give back the ends.
	p, err := unix.MmapPtr(-1, 0, nil, uintptr(size+hugePageBytes), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return make([]T, n)
	}
	skip := (hugePageBytes - uintptr(p)%hugePageBytes) % hugePageBytes
	if skip > 0 {
		_ = unix.MunmapPtr(p, skip)
	}
	if tail := hugePageBytes - skip; tail > 0 {
		_ = unix.MunmapPtr(unsafe.Add(p, skip+uintptr(size)), tail)
	}
	mem := unsafe.Slice((*byte)(unsafe.Add(p, skip)), size)
	// Refused (THP off in this kernel, or set to never): ordinary pages,
	// still faulted in below.
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
	for i := 0; i < size; i += 4096 {
		mem[i] = 0
	}
	goruntime.AddCleanup(owner, func(b []byte) { _ = unix.MunmapPtr(unsafe.Pointer(&b[0]), uintptr(len(b))) }, mem)
	return unsafe.Slice((*T)(unsafe.Pointer(&mem[0])), n)
}
