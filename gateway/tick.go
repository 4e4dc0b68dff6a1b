package gateway

import (
	"sync/atomic"
	"time"
)

// schedulerTick is a goroutine that wakes every Config.SchedulerTick
// (default 1 ms) while requests arrive, and parks when they stop.
//
// It does no work; its wake-ups change how the Go scheduler spends a busy
// process's time. On this project's 2-core VM (a Firecracker guest with
// page-table isolation, where one system call costs about a microsecond),
// a gateway pinned to one core spent 0.39 context switches a request
// serving the batched MLP at 64 connections, with sysmon polling every
// 20 µs (0.15 nanosleeps a request) and handing the processor between
// threads around each ONNX Runtime call (0.075 futex calls a request);
// with the tick running, 0.014 context switches, 0.006 nanosleeps and no
// futex calls a request (`perf stat -e context-switches,syscalls:...`).
// Throughput, each gateway alone on CPU 0 under wrk on CPU 1, alternating:
// the MLP 13.2-14.9k req/s without the tick, 17.8-19.4k with it (six
// rounds each, every round ahead); the fraud model, whose runs are a few
// microseconds, no change beyond noise. Measured side by side with an
// unticked gateway on the fraud model (which bench/README.md shows to be a
// biased setup), a tick of 100 µs did what 1 ms did, 10 ms less, and a
// timer that never fires nothing: the wake-ups, not a pending timer.
// bench/README.md has the commands.
//
// What changes is sysmon's state. sysmon takes a processor from a thread
// in a system call or cgo call only when two of its passes in a row find
// the same call, and it passes every 20 µs after it last took one, backing
// off to 10 ms when it finds nothing. A 0.5 ms model run is therefore
// taken over at every run once sysmon polls fast, and hardly ever once it
// has backed off; both states sustain themselves. The nanosleep counts
// above are the two states (about 2,600 a second against 100, sysmon's
// 10 ms). Without the tick something keeps resetting sysmon to 20 µs: most
// likely its wake from the deep sleep it takes while every processor is
// idle, which a returning cgo call triggers (exitsyscall's notewakeup)
// and which, with a timer due within a millisecond, ends by itself
// instead. That last step is inferred from the runtime's source, not
// measured.
//
// An idle gateway does not pay for it: after idleTicks ticks without a
// request the goroutine parks until the next request wakes it.
type schedulerTick struct {
	every time.Duration
	// active is set by requests and cleared by each tick: a request
	// writes it only when it finds it clear, so at most once a tick, and
	// otherwise only reads a line every core keeps shared.
	active atomic.Bool
	parked atomic.Bool
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

// idleTicks is how many ticks without a request the goroutine waits
// before it parks: 100 ms at the default tick.
const idleTicks = 100

func newSchedulerTick(every time.Duration) *schedulerTick {
	return &schedulerTick{every: every, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// touch records a request, waking the goroutine if it parked.
func (t *schedulerTick) touch() {
	if t == nil || t.active.Load() {
		return
	}
	t.active.Store(true)
	if t.parked.Load() && t.parked.CompareAndSwap(true, false) {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

func (t *schedulerTick) run() {
	defer close(t.done)
	tk := time.NewTicker(t.every)
	defer tk.Stop()
	idle := 0
	for {
		select {
		case <-tk.C:
		case <-t.stop:
			return
		}
		if t.active.Swap(false) {
			idle = 0
			continue
		}
		if idle++; idle < idleTicks {
			continue
		}
		// Park. Setting the flag and then looking again closes the race
		// with a request that set active before it saw the flag.
		tk.Stop()
		t.parked.Store(true)
		if !t.active.Load() {
			select {
			case <-t.wake:
			case <-t.stop:
				return
			}
		}
		t.parked.Store(false)
		idle = 0
		tk.Reset(t.every)
	}
}

// close stops the goroutine and waits for it.
func (t *schedulerTick) close() {
	if t == nil {
		return
	}
	close(t.stop)
	<-t.done
}
