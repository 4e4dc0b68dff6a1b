package monitor

import (
	"encoding/binary"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rt "github.com/infergate/infergate/runtime"
)

func ringTap(slots int) *Tap {
	return newTap(1, []string{"1"}, []tensorSpec{{name: "x", max: 8}}, 1, slots, 8)
}

func idSample(id []byte, data []byte) *Sample {
	return &Sample{RequestID: id, Version: "1", Inputs: []Tensor{{Name: "x", DataType: rt.INT64, Shape: []int64{1}, Data: data}}}
}

// Many producers and one consumer: every accepted sample arrives once and
// intact, every refused one is counted, and nobody blocks; with the
// consumer taking one slot at a time, and taking batches as the
// aggregator's drain does (published, at, releaseN); and with producers
// pushing batched runs as spans (PushRun), whose members are published
// only through their first slot.
func TestRingManyProducers(t *testing.T) {
	t.Run("one at a time", func(t *testing.T) { testRingManyProducers(t, 1, false) })
	t.Run("batches", func(t *testing.T) { testRingManyProducers(t, drainBatch, false) })
	t.Run("spans", func(t *testing.T) { testRingManyProducers(t, drainBatch, true) })
	t.Run("spans one at a time", func(t *testing.T) { testRingManyProducers(t, 1, true) })
}

func testRingManyProducers(t *testing.T, batch int, spans bool) {
	tap := ringTap(256)
	const producers, each = 16, 5000
	var accepted atomic.Uint64
	stop := make(chan struct{})
	seen := make(map[uint64]int)
	consumed := make(chan int)
	go func() {
		n := 0
		for {
			// Read stop before the pass: a pass that finds nothing only
			// proves the ring drained if it began after every producer
			// returned. One that began earlier may have met the head slot
			// claimed but not yet published, with the ring full behind it.
			stopped := false
			select {
			case <-stop:
				stopped = true
			default:
			}
			got := 0
			for _, r := range tap.stripes {
				for k := r.published(batch); k > 0; k = r.published(batch) {
					for i := range k {
						s, pos := r.at(i)
						switch {
						case s.span < 0:
							continue // read with its span's first slot
						case s.span > 1:
							meta, data := r.spanView(pos, int(s.span))
							if meta[0].n != 8*s.span {
								t.Errorf("a span of %d holds %d bytes", s.span, meta[0].n)
								continue
							}
							for j := range uint64(s.span) {
								m := &r.slots[(pos+j)&r.mask]
								v := binary.LittleEndian.Uint64(data[8*j:])
								if m.idHash != hashID([]byte(strconv.FormatUint(v, 10))) || m.rows != 1 || (j > 0 && m.span != -1) {
									t.Errorf("span member %d holds %d with a foreign id hash or rows %d", j, v, m.rows)
								}
								seen[v]++
							}
						default:
							meta, data := r.view(pos)
							v := binary.LittleEndian.Uint64(data[:8])
							if meta[0].n != 8 || s.idHash != hashID([]byte(strconv.FormatUint(v, 10))) {
								t.Errorf("slot holds %d with a foreign id hash", v)
							}
							seen[v]++
						}
					}
					if k > batch && k-batch >= maxSpan {
						t.Errorf("published(%d) = %d: past max by more than a span", batch, k)
					}
					r.releaseN(k)
					got += k
				}
			}
			n += got
			if got == 0 {
				if stopped {
					consumed <- n
					return
				}
				runtime.Gosched()
			}
		}
	}()
	var wg sync.WaitGroup
	for p := range producers {
		if spans {
			wg.Go(func() { pushSpans(t, tap, p*each, each) })
			continue
		}
		wg.Go(func() {
			var data [8]byte
			for i := range each {
				v := uint64(p*each + i)
				binary.LittleEndian.PutUint64(data[:], v)
				if tap.Push(idSample(strconv.AppendUint(nil, v, 10), data[:])) {
					accepted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	n := <-consumed
	full, _, _ := tap.Dropped()
	if spans {
		// PushRun counts the members it dropped, not those it took.
		accepted.Store(producers*each - full)
	}
	t.Logf("%d accepted, %d dropped full", accepted.Load(), full)
	if uint64(n) != accepted.Load() || accepted.Load()+full != producers*each {
		t.Fatalf("consumed %d, accepted %d, dropped %d, pushed %d", n, accepted.Load(), full, producers*each)
	}
	for v, k := range seen {
		if k != 1 {
			t.Fatalf("sample %d consumed %d times", v, k)
		}
	}
}

// pushSpans pushes the values from first to first+n as batched runs of 1
// to 40 one-row members (PushRun).
func pushSpans(t *testing.T, tap *Tap, first, n int) {
	var ms []Member
	var data []byte
	for i := 0; i < n; {
		k := min(1+(first+i)%40, n-i)
		ms, data = ms[:0], data[:0]
		for j := range k {
			v := uint64(first + i + j)
			data = binary.LittleEndian.AppendUint64(data, v)
			ms = append(ms, Member{RequestID: strconv.AppendUint(nil, v, 10), Rows: 1, Sampled: true})
		}
		run := &Sample{Version: "1", Inputs: []Tensor{{Name: "x", DataType: rt.INT64, Shape: []int64{int64(k)}, Data: data}}}
		if got := tap.PushRun(run, ms); got != k {
			t.Errorf("PushRun dealt with %d members of %d", got, k)
		}
		i += k
	}
}

// A full ring refuses at once and counts the drop.
func TestRingFull(t *testing.T) {
	tap := ringTap(64)
	data := make([]byte, 8)
	ok := 0
	start := time.Now()
	for i := range 100 {
		if tap.Push(idSample([]byte(strconv.Itoa(i)), data)) {
			ok++
		}
	}
	if time.Since(start) > time.Second {
		t.Fatal("pushing to a full ring took over a second")
	}
	full, _, _ := tap.Dropped()
	if ok != 64 || full != 36 {
		t.Fatalf("accepted %d, dropped %d; want 64 and 36", ok, full)
	}
	// Freed slots are reused.
	r := tap.stripes[0]
	r.releaseN(1)
	if !tap.Push(idSample([]byte("again"), data)) {
		t.Fatal("a freed slot was not reused")
	}
}

func TestPushZeroAllocs(t *testing.T) {
	tap := newTap(1, []string{"1"}, []tensorSpec{{name: "input", max: 120}, {name: "probabilities", output: true, max: 8}}, 1, 1<<16, 128)
	s := newStream(9).next()
	if n := testing.AllocsPerRun(1000, func() { tap.Push(s) }); n != 0 {
		t.Fatalf("Push allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { tap.Sampled(s.RequestID) }); n != 0 {
		t.Fatalf("Sampled allocates %v times", n)
	}
}
