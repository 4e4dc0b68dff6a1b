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
// aggregator's drain does (published, at, releaseN).
func TestRingManyProducers(t *testing.T) {
	t.Run("one at a time", func(t *testing.T) { testRingManyProducers(t, 1) })
	t.Run("batches", func(t *testing.T) { testRingManyProducers(t, drainBatch) })
}

func testRingManyProducers(t *testing.T, batch int) {
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
						meta, data := r.view(pos)
						v := binary.LittleEndian.Uint64(data[:8])
						if meta[0].n != 8 || s.idHash != hashID([]byte(strconv.FormatUint(v, 10))) {
							t.Errorf("slot holds %d with a foreign id hash", v)
						}
						seen[v]++
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
