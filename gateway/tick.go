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
// Throughput, gateways side by side on CPU 0 under wrk on CPU 1: the
// fraud model with monitoring off +9.4% (15 rounds, every round ahead),
// the MLP about 1.5x (10 rounds, every round ahead). A tick of 100 µs
// measured as 1 ms did, 10 ms gave +3.4%, and a timer that never fires
// nothing: it is the periodic wake-up, not a pending timer, that helps.
// bench/README.md has the commands.
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
