package monitor

import (
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/infergate/infergate/runtime"
)

// The ring is after Dmitry Vyukov's bounded MPMC queue ("Bounded MPMC
// queue", 1024cores.net), used with one consumer: a producer claims a
// position with one compare-and-swap on the tail and publishes by storing
// position+1 in the slot's sequence, which the consumer waits for. Vyukov's
// producer learns that its slot is free from the slot's own sequence,
// which means a load from a line nobody has touched for a lap of the ring:
// a cache miss on every push (0.7% of the fraud model's serving core, the
// tap's largest cost). Here the consumer publishes how far it has freed,
// once per drained batch, on a line of its own that stays in cache; a
// producer compares its position with that and only stores to its slot's
// lines, which the processor's store buffer absorbs. A producer that finds
// the ring full reports it at once, so the request path never waits, and
// nothing is allocated after the ring is made: each slot owns a buffer
// sized for the model's tensors.
//
// Unlike ristretto's ring stripes (a sync.Pool of per-P batches handed off
// through a channel), slots here are the samples themselves, so a sample
// is copied once, straight into memory the aggregator reads; contention on
// the tail is spread by striping rings over the request id's hash (see
// Tap), which keeps the hand-off free of sync.Pool, whose contents the GC
// may drop.

// maxRank is the highest tensor rank a slot records (video, [N, C, T, H,
// W]); a tensor of higher rank is dropped, counted as invalid. It keeps a
// slot's tensor descriptor at 32 bytes.
const maxRank = 5

// maxTensors bounds the tensors one sample may carry to the monitor; it
// sizes a stack array on the request path.
const maxTensors = 32

// slotTensor describes one tensor copied into a slot: 32 bytes, so the
// descriptors of a two-tensor model share one cache line. Dimensions are
// int32: no served tensor has a dimension of two billion.
type slotTensor struct {
	off   int32 // where its bytes start in the slot's data
	n     int32 // bytes present; 0 = the sample did not carry it
	rank  uint8
	dtype runtime.DataType
	shape [maxRank]int32
}

// slot is one preallocated sample's header, a cache line to itself so
// producers filling neighbouring slots do not contend. Its tensors'
// descriptors and bytes live in the ring's meta and data arrays, at the
// slot's index: slots that follow each other in the ring follow each
// other in memory, which the hardware prefetcher rewards.
//
// A batch's samples may share one data region over consecutive slots (see
// Tap.PushRun): span is then the number of slots on the first, whose
// descriptors give every member's rows together and whose sequence
// publishes them all, and -1 on the others, which carry only their
// member's id, latency and rows, and keep whatever sequence an earlier lap
// left them. A sample of its own has span 0.
type slot struct {
	seq     atomic.Uint64
	version int32
	span    int32
	idHash  uint64
	latency time.Duration
	rows    int32 // the member's rows, in a span
	_       [28]byte
}

// maxSpan bounds the members of one span, so that the aggregator's
// per-member bookkeeping (model.members) is a fixed array.
const maxSpan = 64

// ring is one stripe: a bounded queue of slots, many producers, one
// consumer.
type ring struct {
	// Read-only after newRing, read by every producer.
	mask      uint64
	slots     []slot
	nspecs    int
	slotBytes int
	meta      []slotTensor // nspecs per slot
	// data holds each slot's tensors back to back, packed rather than at
	// fixed regions, so a one-row sample touches as few cache lines as
	// its bytes need.
	data []byte

	// tail is written by every producer, freed by the consumer once per
	// drained batch: each on a cache line of its own, or every claim
	// would evict the line producers read the fields above from.
	_    [64]byte
	tail atomic.Uint64
	_    [56]byte
	// freed is the consumer's head: every position below it has been
	// consumed and is free for a producer to claim. Only the consumer
	// writes it.
	freed atomic.Uint64
	_     [56]byte
}

func newRing(size int, specs int, dataBytes int) *ring {
	r := &ring{
		mask: uint64(size - 1), slots: make([]slot, size),
		nspecs: specs, slotBytes: dataBytes,
		meta: make([]slotTensor, size*specs),
		data: make([]byte, size*dataBytes),
	}
	// A slot's sequence starts at 0, which no position publishes (a
	// published slot holds its position plus one).
	return r
}

// view returns the tensor descriptors and data of the slot at position
// pos.
func (r *ring) view(pos uint64) ([]slotTensor, []byte) {
	i := int(pos & r.mask)
	return r.meta[i*r.nspecs : (i+1)*r.nspecs : (i+1)*r.nspecs], r.data[i*r.slotBytes : (i+1)*r.slotBytes : (i+1)*r.slotBytes]
}

// claim reserves the next free slot, or reports the ring full. It loops
// only when another producer won the same position, which means that
// producer made progress: the queue is lock-free, never blocking.
func (r *ring) claim() (*slot, uint64, bool) {
	for {
		pos := r.tail.Load()
		freed := r.freed.Load()
		switch {
		case pos < freed:
			continue // pos is stale: others claimed and the consumer freed past it
		case pos-freed > r.mask:
			return nil, 0, false // the consumer has not freed it: full
		}
		if r.tail.CompareAndSwap(pos, pos+1) {
			return &r.slots[pos&r.mask], pos, true
		}
	}
}

// spanView is view for a span of n slots from pos: the first slot's
// descriptors and the n slots' data, which claimN made contiguous.
func (r *ring) spanView(pos uint64, n int) ([]slotTensor, []byte) {
	i := int(pos & r.mask)
	return r.meta[i*r.nspecs : (i+1)*r.nspecs : (i+1)*r.nspecs], r.data[i*r.slotBytes : (i+n)*r.slotBytes : (i+n)*r.slotBytes]
}

// claimN reserves up to n consecutive slots from the tail, as many as
// are free and not past the ring's end, so that their data regions follow
// one another in memory. It returns the first's position and how many it
// took (0 when the ring is full).
func (r *ring) claimN(n int) (uint64, int) {
	for {
		pos := r.tail.Load()
		freed := r.freed.Load()
		if pos < freed {
			continue // stale, as in claim
		}
		k := min(uint64(n), r.mask+1-min(pos-freed, r.mask+1), r.mask+1-pos&r.mask)
		if k == 0 {
			return 0, 0
		}
		if r.tail.CompareAndSwap(pos, pos+k) {
			return pos, int(k)
		}
	}
}

// warm prefetches the lines of the slot at position pos, the one the next
// push most likely claims. A slot's lines were last touched a lap of the
// ring ago, so a push that writes them cold waits at its publishing store
// (Go's atomic stores are full barriers on amd64) for every line to
// arrive: about 70 ns a push in the fraud model's profile. Asked for one
// request ahead, they arrive while the gateway does other work.
func (r *ring) warm(pos uint64) {
	i := int(pos & r.mask)
	prefetchLines(unsafe.Pointer(&r.slots[i]), 1)
	if r.nspecs > 0 {
		m := unsafe.Pointer(&r.meta[i*r.nspecs])
		prefetchLines(m, lines(m, r.nspecs*int(unsafe.Sizeof(slotTensor{}))))
	}
	if r.slotBytes > 0 {
		d := unsafe.Pointer(&r.data[i*r.slotBytes])
		prefetchLines(d, min(lines(d, r.slotBytes), maxWarmLines))
	}
}

// maxWarmLines bounds the data lines warm asks for: a slot of an image's
// worth of bytes is copied long enough for its own stores to wait less.
const maxWarmLines = 8

// lines is how many cache lines the n bytes at p touch.
func lines(p unsafe.Pointer, n int) int {
	off := int(uintptr(p) & 63)
	return (off + n + 63) / 64
}

// publish hands a claimed slot to the consumer.
func (s *slot) publish(pos uint64) { s.seq.Store(pos + 1) }

// next returns the oldest published slot, or nil when there is none.
// Consumer only.
func (r *ring) next() *slot {
	head := r.freed.Load()
	s := &r.slots[head&r.mask]
	if s.seq.Load() != head+1 {
		return nil
	}
	return s
}

// published counts the published slots from the head, up to max, and
// past max to the end of a span that starts before it. A span's members
// carry no sequence of their own: its first slot, published last, speaks
// for all of them (see Tap.pushSpan). Consumer only.
func (r *ring) published(max int) int {
	head := r.freed.Load()
	i := 0
	for i < max {
		pos := head + uint64(i)
		s := &r.slots[pos&r.mask]
		if s.seq.Load() != pos+1 {
			return i
		}
		n := 1
		// claimN makes no span longer than maxSpan or past the ring's
		// end; the check keeps a corrupt slot from counting past it.
		if s.span > 1 && s.span <= maxSpan && int(pos&r.mask)+int(s.span) <= len(r.slots) {
			n = int(s.span)
		}
		i += n
	}
	return i
}

// at returns the slot at position head+i, which published counted.
// Consumer only.
func (r *ring) at(i int) (*slot, uint64) {
	pos := r.freed.Load() + uint64(i)
	return &r.slots[pos&r.mask], pos
}

// releaseN frees the n slots from the head, oldest first. Consumer only.
func (r *ring) releaseN(n int) {
	r.freed.Store(r.freed.Load() + uint64(n))
}
