package monitor

import (
	"encoding/binary"
	"math"
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"

	rt "github.com/infergate/infergate/runtime"
)

// Tensor is a view of one request or response tensor. Push copies what it
// keeps, so the caller may reuse Data as soon as Push returns.
type Tensor struct {
	Name     string
	DataType rt.DataType
	Shape    []int64
	Data     []byte // little-endian elements, as on the wire
}

// Sample is one served request as the gateway saw it: views of its inputs
// and outputs, the version that served it, and how long it took.
type Sample struct {
	RequestID []byte
	Version   string
	Latency   time.Duration
	Inputs    []Tensor
	Outputs   []Tensor
}

// Why a sample was dropped; each reason has its own counter.
const (
	dropFull     = iota // the ring was full: the aggregator fell behind
	dropTooLarge        // a tensor exceeded its slot region (more rows than the slot holds)
	dropInvalid         // unknown version, too many tensors, rank above maxRank
	numDrops
)

var dropReasons = [numDrops]string{"full", "too_large", "invalid"}

// paddedCounter sits alone on its cache line: drops are counted by every
// request thread, and sharing a line with the ring's tail would slow both.
type paddedCounter struct {
	atomic.Uint64
	_ [56]byte
}

// tensorSpec is a tensor the tap copies; max is the most bytes of it a
// slot holds (see regionBytes), and the slot's data is the sum of them.
type tensorSpec struct {
	name   string
	output bool
	max    int
}

// Tap is a model's entry to the monitor, held by the gateway's request
// path. All its methods are safe for concurrent use; Push never blocks.
type Tap struct {
	threshold uint64 // sampled when hash(id) < threshold
	all       bool   // sample_rate 1: no hash needed
	versions  []string
	specs     []tensorSpec // inputs first, then outputs
	nInputs   int

	stripes    []*ring
	stripeMask uint64
	slotBytes  int

	closed atomic.Bool
	// parked is set by the aggregator when it sleeps for want of
	// samples; the first producer to find it set wakes it. A busy
	// aggregator polls instead, so producers never pay for a wake-up
	// while traffic flows.
	parked atomic.Bool
	wake   chan struct{}

	drops [numDrops]paddedCounter
}

// newTap builds the rings. slotsTotal is split over stripes, one per
// processor rounded up to a power of two, so concurrent requests rarely
// contend on the same tail.
func newTap(rate float64, versions []string, specs []tensorSpec, nInputs, slotsTotal, dataBytes int) *Tap {
	t := &Tap{versions: versions, specs: specs, nInputs: nInputs, slotBytes: dataBytes, wake: make(chan struct{}, 1)}
	switch {
	case rate >= 1:
		t.all, t.threshold = true, ^uint64(0)
	case rate > 0:
		t.threshold = uint64(rate * (1 << 64))
	}
	stripes := 1
	for stripes < runtime.GOMAXPROCS(0) && slotsTotal/(stripes*2) >= 64 {
		stripes *= 2
	}
	t.stripeMask = uint64(stripes - 1)
	for range stripes {
		t.stripes = append(t.stripes, newRing(slotsTotal/stripes, len(specs), dataBytes))
	}
	return t
}

// Sampled reports whether the request with this id is to be pushed. The
// choice is a fixed hash of the id, the same in every replica and every
// release, so replicas sample the same requests and a late label's id
// tells whether its prediction was kept.
func (t *Tap) Sampled(requestID []byte) bool {
	if t == nil || t.threshold == 0 {
		return false
	}
	return t.all || hashID(requestID) < t.threshold
}

// Push copies a sampled request into the ring. It never blocks and never
// allocates: when the ring is full, or the sample is larger than a slot,
// the sample is dropped, counted, and false returned. Element conversion
// to float64 happens in the aggregator, off the request path; Push only
// moves bytes.
func (t *Tap) Push(s *Sample) bool {
	if t == nil || t.closed.Load() {
		return false
	}
	v := t.versionIndex(s.Version)
	if v < 0 || len(s.Inputs)+len(s.Outputs) > maxTensors {
		t.drops[dropInvalid].Add(1)
		return false
	}
	if t.plain(s) {
		return t.pushPlain(s, v)
	}
	return t.pushGeneral(s, v)
}

// pushGeneral is Push for any sample: tensors found by name, in any
// order, some missing, or more rows than their regions hold.
func (t *Tap) pushGeneral(s *Sample, v int) bool {
	// Resolve and check every tensor before claiming a slot: a claimed
	// slot must be published, so refusing must come first.
	var idx [maxTensors]int8
	n, size := 0, 0
	for j := range s.Inputs {
		k, why := t.check(false, j, &s.Inputs[j])
		if why >= 0 {
			t.drops[why].Add(1)
			return false
		}
		if k >= 0 {
			size += clipped(&s.Inputs[j], t.specs[k].max)
		}
		idx[n] = int8(k)
		n++
	}
	for j := range s.Outputs {
		k, why := t.check(true, j, &s.Outputs[j])
		if why >= 0 {
			t.drops[why].Add(1)
			return false
		}
		if k >= 0 {
			size += clipped(&s.Outputs[j], t.specs[k].max)
		}
		idx[n] = int8(k)
		n++
	}
	if size > t.slotBytes {
		t.drops[dropTooLarge].Add(1)
		return false
	}
	r, sl, pos, ok := t.claim(s, v)
	if !ok {
		return false
	}
	meta, data := r.view(pos)
	for k := range meta {
		meta[k].n = 0
	}
	n, off := 0, 0
	for j := range s.Inputs {
		off = t.copyTensor(meta, data, int(idx[n]), off, &s.Inputs[j])
		n++
	}
	for j := range s.Outputs {
		off = t.copyTensor(meta, data, int(idx[n]), off, &s.Outputs[j])
		n++
	}
	t.publish(r, sl, pos)
	return true
}

// plain reports whether s is the usual sample, which the gateway sends:
// every input and output the monitor follows, in the specs' order, each
// whole within its region and of a valid shape, together within a slot.
// Such a sample needs none of the general path's name lookups, clipping
// or per-tensor bookkeeping, which were a sixth of a push.
func (t *Tap) plain(s *Sample) bool {
	if len(s.Inputs) != t.nInputs || len(s.Inputs)+len(s.Outputs) != len(t.specs) {
		return false
	}
	size := 0
	for k := range t.specs {
		x, sp := t.tensorAt(s, k), &t.specs[k]
		if x.Name != sp.name || len(x.Shape) > maxRank || len(x.Data) > sp.max || !dimsFit(x.Shape) {
			return false
		}
		size += len(x.Data)
	}
	return size <= t.slotBytes
}

// tensorAt is the tensor of s in spec k's place, in a plain sample.
func (t *Tap) tensorAt(s *Sample, k int) *Tensor {
	if k < t.nInputs {
		return &s.Inputs[k]
	}
	return &s.Outputs[k-t.nInputs]
}

// dimsFit reports whether every dimension fits a slot's int32 (negative
// ones do not).
func dimsFit(shape []int64) bool {
	for _, d := range shape {
		if uint64(d) > math.MaxInt32 {
			return false
		}
	}
	return true
}

// pushPlain is Push for a sample plain accepted: the same slot as
// pushGeneral's (TestPushPlainMatchesGeneral), in fewer steps.
func (t *Tap) pushPlain(s *Sample, v int) bool {
	r, sl, pos, ok := t.claim(s, v)
	if !ok {
		return false
	}
	meta, data := r.view(pos)
	off := 0
	for k := range meta {
		x := t.tensorAt(s, k)
		st := &meta[k]
		st.off = int32(off)
		st.n = int32(copy(data[off:], x.Data))
		st.dtype = x.DataType
		st.rank = uint8(len(x.Shape))
		for i, d := range x.Shape {
			st.shape[i] = int32(d)
		}
		off += len(x.Data)
	}
	t.publish(r, sl, pos)
	return true
}

// Member is one request of a batched run, for PushRun: its id, latency
// and rows (in the run's order), and whether it is sampled.
type Member struct {
	RequestID []byte
	Latency   time.Duration
	Rows      int
	Sampled   bool
}

// PushRun pushes the sampled members of one batched run straight from the
// run's stacked tensors (run: every input and output of the batch, the
// members' rows one after another, as ONNX Runtime ran them) into spans of
// consecutive slots (see slot), up to maxSpan members each. A span's first
// slot describes its members' rows stacked, its data is the span's data
// regions together, and each slot carries its member's id, latency and
// rows; the aggregator folds a span in one go. Where a request pushed its
// own sample, the gateway built the sample's views, and the tap claimed,
// described and published a slot, for every request.
//
// It returns how many members, from the first, it dealt with: pushed, not
// sampled, or dropped and counted because the ring was full. It stops
// before a member with more rows than a slot holds, and takes nothing from
// a run that does not have the plain layout (every followed tensor, in
// order, the members' rows adding up in each): the caller pushes the rest
// as samples of their own, which the general path clips or drops.
func (t *Tap) PushRun(run *Sample, ms []Member) int {
	if t == nil || t.closed.Load() {
		return len(ms)
	}
	v := t.versionIndex(run.Version)
	if v < 0 || len(run.Inputs) != t.nInputs || len(run.Inputs)+len(run.Outputs) != len(t.specs) {
		return 0
	}
	total := 0
	for _, m := range ms {
		total += m.Rows
	}
	// Each tensor's bytes a row, and a member's bytes in a slot.
	var rowBytes [maxTensors]int
	memberBytes := 0
	for k := range t.specs {
		x := t.tensorAt(run, k)
		if x.Name != t.specs[k].name || len(x.Shape) == 0 || len(x.Shape) > maxRank || x.Shape[0] != int64(total) || total == 0 ||
			!dimsFit(x.Shape) || len(x.Data)%total != 0 {
			return 0
		}
		rowBytes[k] = len(x.Data) / total
		if rowBytes[k] > t.specs[k].max {
			return 0
		}
		memberBytes += rowBytes[k]
	}
	done, row := 0, 0 // members dealt with, and the first row of ms[done]
	for done < len(ms) {
		// The next span: up to maxSpan sampled members from done, each
		// within a slot.
		first := done
		for first < len(ms) && !ms[first].Sampled {
			row += ms[first].Rows
			first++
		}
		if first == len(ms) {
			return len(ms)
		}
		n, last := 0, first
		for last < len(ms) && n < maxSpan {
			m := &ms[last]
			if m.Sampled {
				if m.Rows*memberBytes > t.slotBytes || m.Rows <= 0 {
					break
				}
				n++
			}
			last++
		}
		if n == 0 {
			return first // ms[first] does not fit a slot
		}
		h0 := hashID(ms[first].RequestID)
		r := t.stripes[h0&t.stripeMask]
		if pos, k := r.claimN(n); k == 0 {
			for _, m := range ms[first:last] {
				if m.Sampled {
					t.drops[dropFull].Add(1)
				}
			}
		} else {
			// The ring gave k slots of n: the span is the first k sampled
			// members.
			if k < n {
				last = first
				for seen := 0; seen < k; last++ {
					if ms[last].Sampled {
						seen++
					}
				}
			}
			t.pushSpan(r, pos, k, int32(v), h0, run, ms[first:last], row, &rowBytes)
		}
		for _, m := range ms[first:last] {
			row += m.Rows
		}
		done = last
	}
	return done
}

// pushSpan copies the rows of the sampled members of ms (the first of
// them at row of the run, its id's hash h0) into the span of k slots at
// pos, each tensor's rows together, describes them in the first slot,
// gives every slot its member's id, latency and rows, and publishes the
// span. Rows of members next to each other in the run are copied
// together.
func (t *Tap) pushSpan(r *ring, pos uint64, k int, v int32, h0 uint64, run *Sample, ms []Member, row int, rowBytes *[maxTensors]int) {
	meta, data := r.spanView(pos, k)
	off := 0
	for j := range meta {
		x := t.tensorAt(run, j)
		st := &meta[j]
		st.off = int32(off)
		rb := rowBytes[j]
		rows := 0
		from, to := -1, -1 // the rows being gathered, [from, to)
		at := row
		for i := range ms {
			m := &ms[i]
			if m.Sampled {
				if at != to {
					if from >= 0 {
						off += copy(data[off:], x.Data[from*rb:to*rb])
					}
					from = at
				}
				to = at + m.Rows
				rows += m.Rows
			}
			at += m.Rows
		}
		if from >= 0 {
			off += copy(data[off:], x.Data[from*rb:to*rb])
		}
		st.n = int32(off) - st.off
		st.dtype = x.DataType
		st.rank = uint8(len(x.Shape))
		st.shape[0] = int32(rows)
		for i, d := range x.Shape[1:] {
			st.shape[i+1] = int32(d)
		}
	}
	// Only the first slot is published, and last: once the aggregator
	// sees it, it may read them all (ring.published). A publication is an
	// atomic store, on amd64 a full barrier that waits for the stores
	// before it, the span's cold lines among them; one for each member
	// waited k times where once does.
	j := k
	for i := len(ms) - 1; i >= 0; i-- {
		m := &ms[i]
		if !m.Sampled {
			continue
		}
		j--
		p := pos + uint64(j)
		sl := &r.slots[p&r.mask]
		sl.version, sl.span, sl.idHash, sl.latency, sl.rows = v, -1, h0, m.Latency, int32(m.Rows)
		if j == 0 {
			sl.span = int32(k)
			sl.publish(p)
		} else {
			sl.idHash = hashID(m.RequestID)
		}
	}
	t.announce(r, pos+uint64(k))
}

// versionIndex is the index of version among the tap's, or -1.
func (t *Tap) versionIndex(version string) int {
	for i, name := range t.versions {
		if name == version {
			return i
		}
	}
	return -1
}

// claim takes a ring slot for s, on the stripe of its id's hash, and
// fills its header; false, counted, when that ring is full.
func (t *Tap) claim(s *Sample, v int) (r *ring, sl *slot, pos uint64, ok bool) {
	h := hashID(s.RequestID)
	r = t.stripes[h&t.stripeMask]
	if sl, pos, ok = r.claim(); !ok {
		t.drops[dropFull].Add(1)
		return nil, nil, 0, false
	}
	sl.version, sl.span, sl.idHash, sl.latency = int32(v), 0, h, s.Latency
	return r, sl, pos, true
}

// publish hands a filled slot to the aggregator, warms the next one, and
// wakes the aggregator if it sleeps for want of samples (rare under
// traffic, so that is a call of its own).
func (t *Tap) publish(r *ring, sl *slot, pos uint64) {
	sl.publish(pos)
	t.announce(r, pos+1)
}

// announce follows a publication: it warms the slot at next, the one the
// next push most likely claims, and wakes the aggregator if it sleeps.
func (t *Tap) announce(r *ring, next uint64) {
	r.warm(next)
	if t.parked.Load() {
		t.wakeAggregator()
	}
}

func (t *Tap) wakeAggregator() {
	if t.parked.CompareAndSwap(true, false) {
		t.poke()
	}
}

// poke leaves a wake-up for the aggregator, parked or not: a spare one
// only costs it a look at empty rings.
func (t *Tap) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// check finds the spec of the j-th input (or output) and whether it fits;
// why is a drop reason, or -1. A tensor the monitor does not follow (a
// string tensor, an unknown name) gets k = -1 and is skipped.
func (t *Tap) check(output bool, j int, x *Tensor) (k, why int) {
	base, n := 0, t.nInputs
	if output {
		base, n = t.nInputs, len(t.specs)-t.nInputs
	}
	k = -1
	if j < n && t.specs[base+j].name == x.Name {
		k = base + j
	} else {
		for i := base; i < base+n; i++ {
			if t.specs[i].name == x.Name {
				k = i
				break
			}
		}
	}
	switch {
	case k < 0:
		return -1, -1
	case len(x.Shape) > maxRank:
		return -1, dropInvalid
	case len(x.Data) > t.specs[k].max && fittingRows(x, t.specs[k].max) == 0:
		return -1, dropTooLarge
	}
	if !dimsFit(x.Shape) {
		return -1, dropInvalid
	}
	return k, -1
}

// copyTensor copies x to the slot's data at off and returns the offset
// after it.
func (t *Tap) copyTensor(meta []slotTensor, data []byte, k, off int, x *Tensor) int {
	if k < 0 {
		return off
	}
	st := &meta[k]
	st.off = int32(off)
	n := clipped(x, t.specs[k].max)
	st.n = int32(copy(data[off:], x.Data[:n]))
	st.dtype = x.DataType
	st.rank = uint8(len(x.Shape))
	for i, d := range x.Shape {
		st.shape[i] = int32(d)
	}
	if n < len(x.Data) {
		st.shape[0] = int32(n / (len(x.Data) / int(x.Shape[0])))
	}
	return off + int(st.n)
}

// clipped is how many bytes of x the tap copies: all of them, or, for a
// request of more rows than its region holds (max bytes), its first rows.
// Every tensor of a sample is sized for the same rows (Config.SlotRows),
// so inputs and outputs are cut alike.
func clipped(x *Tensor, max int) int {
	if len(x.Data) <= max {
		return len(x.Data)
	}
	return fittingRows(x, max) * (len(x.Data) / int(x.Shape[0]))
}

// fittingRows is how many whole rows (along dimension 0) of x fit in max
// bytes; zero when x cannot be cut so (rank 0, one row, or data that does
// not divide into its rows).
func fittingRows(x *Tensor, max int) int {
	if len(x.Shape) == 0 || x.Shape[0] <= 1 {
		return 0
	}
	rows := int(x.Shape[0])
	rowBytes := len(x.Data) / rows
	if rowBytes == 0 || rowBytes*rows != len(x.Data) {
		return 0
	}
	return max / rowBytes
}

// Capacity is the number of ring slots, over all stripes.
func (t *Tap) Capacity() int {
	n := 0
	for _, r := range t.stripes {
		n += len(r.slots)
	}
	return n
}

// Dropped returns the samples dropped so far, by reason.
func (t *Tap) Dropped() (full, tooLarge, invalid uint64) {
	return t.drops[dropFull].Load(), t.drops[dropTooLarge].Load(), t.drops[dropInvalid].Load()
}

// hashID is a fixed 64-bit hash of a request id, after wyhash (Wang Yi's,
// v4, for inputs of any length: 16 bytes per 64x64->128-bit multiply, no
// third lane), about 5 ns for a 36-byte UUID. It decides sampling and keys
// the prediction store, so it must never change between releases:
// replicas of different versions must keep agreeing on which requests are
// sampled.
func hashID(b []byte) uint64 {
	const s0, s1, s2 = 0xa0761d6478bd642f, 0xe7037ed1a0b428db, 0x8ebc6af09c88c6e3
	mix := func(a, b uint64) uint64 {
		hi, lo := bits.Mul64(a, b)
		return hi ^ lo
	}
	n := uint64(len(b))
	seed := mix(s0, s1)
	for len(b) > 16 {
		seed = mix(binary.LittleEndian.Uint64(b)^s1, binary.LittleEndian.Uint64(b[8:])^seed)
		b = b[16:]
	}
	var x, y uint64
	switch k := len(b); {
	case k >= 8:
		x, y = binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[k-8:])
	case k >= 4:
		x, y = uint64(binary.LittleEndian.Uint32(b)), uint64(binary.LittleEndian.Uint32(b[k-4:]))
	case k > 0:
		x = uint64(b[0])<<16 | uint64(b[k>>1])<<8 | uint64(b[k-1])
	}
	return mix(s2^n, mix(x^s1, y^seed))
}
