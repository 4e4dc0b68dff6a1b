package runtime

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The queue's policies: bound, priority order, timeouts, abandoned
// clients, preferred sizes and instances. Each parks a leader with the
// batch gate so that what queues, and in what order, is known.

func elementwiseReq(rows int, base float32) *batchReq {
	x := make([]float32, 4*rows)
	for k := range x {
		x[k] = base + float32(k)
	}
	return floatReq([]int64{int64(rows), 4}, x)
}

func TestQueueFullRefusesAtOnce(t *testing.T) {
	s := openDemo(t, "elementwise")
	b := NewBatcherWith([]*Session{s}, BatchOptions{MaxBatch: 8, MaxQueue: 2})
	g := newBatchGate(b)
	plug := acquire(t, s, elementwiseReq(1, 0))
	plugDone := g.park(t, plug)
	var waiting []chan error
	var calls []*Call
	for i := range 2 {
		c := acquire(t, s, elementwiseReq(1, float32(10*i)))
		calls = append(calls, c)
		done := make(chan error, 1)
		go func() { done <- b.Run(c) }()
		waiting = append(waiting, done)
		g.waitQueued(t, i+1)
	}
	extra := acquire(t, s, elementwiseReq(1, 99))
	start := time.Now()
	if err := b.Run(extra); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third call: %v, want ErrQueueFull", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a full queue took %v to refuse", d)
	}
	if full, _, _, _ := b.Refused(); full != 1 {
		t.Errorf("Refused reports %d full, want 1", full)
	}
	s.ReleaseCall(extra)
	g.release <- struct{}{}
	if err := <-plugDone; err != nil {
		t.Fatal(err)
	}
	for i, done := range waiting {
		if err := <-done; err != nil {
			t.Errorf("queued call %d: %v", i, err)
		}
	}
	for _, c := range append(calls, plug) {
		s.ReleaseCall(c)
	}
}

// TestQueueFullShedsLowestPriority fills a queue with requests of the
// lowest priority and of a middle one: a request of the middle priority
// displaces the newest lowest one, a request of the lowest priority is
// refused itself, and a request of the highest displaces the newest
// lowest again; once the lowest are gone, the middle ones are.
func TestQueueFullShedsLowestPriority(t *testing.T) {
	s := openDemo(t, "elementwise")
	b := NewBatcherWith([]*Session{s}, BatchOptions{MaxBatch: 1, MaxQueue: 3, PriorityLevels: 3})
	g := newBatchGate(b)
	plug := acquire(t, s, elementwiseReq(1, 0))
	plugDone := g.park(t, plug)
	type queued struct {
		c    *Call
		done chan error
	}
	enqueue := func(prio int, base float32) queued {
		q := queued{acquire(t, s, elementwiseReq(1, base)), make(chan error, 1)}
		q.c.SetPriority(prio)
		go func() { q.done <- b.Run(q.c) }()
		return q
	}
	low1 := enqueue(3, 10)
	g.waitQueued(t, 1)
	low2 := enqueue(3, 20)
	g.waitQueued(t, 2)
	mid1 := enqueue(2, 30)
	g.waitQueued(t, 3)

	// Full: the same lowest priority is refused at once...
	lowLate := acquire(t, s, elementwiseReq(1, 40))
	lowLate.SetPriority(3)
	if err := b.Run(lowLate); !errors.Is(err, ErrQueueFull) || errors.Is(err, ErrDisplaced) {
		t.Fatalf("a lowest-priority call into a full queue: %v, want ErrQueueFull", err)
	}
	// ... a middle one takes the newest lowest one's place ...
	mid2 := enqueue(2, 50)
	select {
	case err := <-low2.done:
		if !errors.Is(err, ErrDisplaced) || !errors.Is(err, ErrQueueFull) {
			t.Fatalf("the newest lowest-priority call: %v, want ErrDisplaced (an ErrQueueFull)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no queued call was displaced for a higher-priority one")
	}
	g.waitQueued(t, 3)
	// ... and so does a highest one, taking the last lowest one.
	high := enqueue(1, 60)
	select {
	case err := <-low1.done:
		if !errors.Is(err, ErrDisplaced) {
			t.Fatalf("the remaining lowest-priority call: %v, want ErrDisplaced", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no queued call was displaced for the highest-priority one")
	}
	g.waitQueued(t, 3)
	// The middle ones are now the lowest: one more middle is refused.
	midLate := acquire(t, s, elementwiseReq(1, 70))
	midLate.SetPriority(2)
	if err := b.Run(midLate); !errors.Is(err, ErrQueueFull) || errors.Is(err, ErrDisplaced) {
		t.Fatalf("a middle-priority call into a queue of middle and higher ones: %v, want ErrQueueFull", err)
	}
	if full, _, _, displaced := b.Refused(); full != 2 || displaced != 2 {
		t.Errorf("Refused reports %d full and %d displaced, want 2 and 2", full, displaced)
	}

	g.release <- struct{}{}
	if err := <-plugDone; err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]queued{"high": high, "mid1": mid1, "mid2": mid2} {
		if err := <-q.done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if !high.c.Started().Before(mid1.c.Started()) || !mid1.c.Started().Before(mid2.c.Started()) {
		t.Error("the survivors did not run highest priority first, then in arrival order")
	}
	// The displaced calls did not run: the plug and the three survivors did.
	if runs := g.takeRuns(); len(runs) != 4 {
		t.Errorf("%d runs, want 4 (the plug and the three survivors)", len(runs))
	}
	for _, c := range []*Call{plug, low1.c, low2.c, mid1.c, mid2.c, high.c, lowLate, midLate} {
		s.ReleaseCall(c)
	}
}

func TestQueuePriorityOrder(t *testing.T) {
	s := openDemo(t, "elementwise")
	// max batch 1: every run serves one request, so the runs' order is
	// the queue's order.
	b := NewBatcherWith([]*Session{s}, BatchOptions{MaxBatch: 1, PriorityLevels: 3})
	g := newBatchGate(b)
	prios := []int{3, 0, 2, 1, 3, 1} // 0: the default, the lowest (3)
	reqs := make([]*batchReq, len(prios))
	calls := make([]*Call, len(prios))
	for i, p := range prios {
		reqs[i] = elementwiseReq(1, float32(100*(i+1)))
		calls[i] = acquire(t, s, reqs[i])
		calls[i].SetPriority(p)
	}
	plug := acquire(t, s, elementwiseReq(1, 0))
	errs := g.stack(t, plug, calls)
	for i := range calls {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
	}
	// Sort call indexes by start time; priorities must be 1,1,2,3,3,3 with
	// arrival order kept within a priority.
	idx := []int{0, 1, 2, 3, 4, 5}
	slices.SortFunc(idx, func(a, b int) int { return calls[a].Started().Compare(calls[b].Started()) })
	want := []int{3, 5, 2, 0, 1, 4}
	if !slices.Equal(idx, want) {
		t.Errorf("run order %v, want %v (priority 1 first, FIFO within a priority)", idx, want)
	}
	for _, c := range append(calls, plug) {
		s.ReleaseCall(c)
	}
}

func TestQueueTimeoutDropsBeforeCompute(t *testing.T) {
	s := openDemo(t, "elementwise")
	b := NewBatcherWith([]*Session{s}, BatchOptions{MaxBatch: 8, Timeout: 20 * time.Millisecond})
	g := newBatchGate(b)
	late := acquire(t, s, elementwiseReq(1, 10))
	own := acquire(t, s, elementwiseReq(1, 20))
	own.SetTimeout(time.Hour) // its own timeout beats the model's
	plug := acquire(t, s, elementwiseReq(1, 0))
	plugDone := g.park(t, plug)
	lateDone, ownDone := make(chan error, 1), make(chan error, 1)
	go func() { lateDone <- b.Run(late) }()
	g.waitQueued(t, 1)
	go func() { ownDone <- b.Run(own) }()
	g.waitQueued(t, 2)
	time.Sleep(40 * time.Millisecond)
	g.release <- struct{}{}
	if err := <-plugDone; err != nil {
		t.Fatal(err)
	}
	if err := <-lateDone; !errors.Is(err, ErrQueueTimeout) {
		t.Errorf("late call: %v, want ErrQueueTimeout", err)
	}
	if err := <-ownDone; err != nil {
		t.Errorf("call with its own timeout: %v", err)
	}
	if _, timedOut, _, _ := b.Refused(); timedOut != 1 {
		t.Errorf("Refused reports %d timed out, want 1", timedOut)
	}
	runs := g.takeRuns()
	if !slices.Equal(runs, []batchRun{{1, 1}, {1, 1}}) {
		t.Errorf("runs %v: the timed-out call must not run", runs)
	}
	for _, c := range []*Call{late, own, plug} {
		s.ReleaseCall(c)
	}
}

func TestQueueAbandonedAfterWait(t *testing.T) {
	s := openDemo(t, "elementwise")
	b := NewBatcherWith([]*Session{s}, BatchOptions{MaxBatch: 8})
	g := newBatchGate(b)
	b.Abandoned = func(c *Call) bool { return c.Tag() == "gone" }
	gone := acquire(t, s, elementwiseReq(1, 10))
	gone.SetTag("gone")
	plug := acquire(t, s, elementwiseReq(1, 0))
	plugDone := g.park(t, plug)
	done := make(chan error, 1)
	go func() { done <- b.Run(gone) }()
	g.waitQueued(t, 1)
	time.Sleep(3 * abandonCheckAfter)
	g.release <- struct{}{}
	if err := <-plugDone; err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrAbandoned) {
		t.Fatalf("abandoned call: %v, want ErrAbandoned", err)
	}
	if _, _, a, _ := b.Refused(); a != 1 {
		t.Errorf("Refused reports %d abandoned, want 1", a)
	}
	if runs := g.takeRuns(); !slices.Equal(runs, []batchRun{{1, 1}}) {
		t.Errorf("runs %v: the abandoned call must not run", runs)
	}
	s.ReleaseCall(gone)
	s.ReleaseCall(plug)
}

// checkAgainstSolo requires every call to have succeeded with exactly what
// its request gives run alone, then releases the calls and the plug.
func checkAgainstSolo(t *testing.T, s *Session, reqs []*batchReq, calls []*Call, errs []error, plug *Call) {
	t.Helper()
	for i, c := range calls {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if _, err := compareRes(collect(c), mustSolo(t, s, reqs[i]), 0); err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	for _, c := range append(calls, plug) {
		s.ReleaseCall(c)
	}
}

func TestQueuePreferredBatchSize(t *testing.T) {
	s := openDemo(t, "elementwise")
	b := NewBatcherWith([]*Session{s}, BatchOptions{MaxBatch: 16, Preferred: []int{4, 8}})
	g := newBatchGate(b)
	var calls []*Call
	var reqs []*batchReq
	for i := range 10 { // 10 one-row requests: a run of 8, then 2
		reqs = append(reqs, elementwiseReq(1, float32(10*i)))
		calls = append(calls, acquire(t, s, reqs[i]))
	}
	plug := acquire(t, s, elementwiseReq(1, 0))
	errs := g.stack(t, plug, calls)
	if runs := g.takeRuns(); !slices.Equal(runs, []batchRun{{1, 1}, {8, 8}, {2, 2}}) {
		t.Errorf("runs %v, want the plug, then 8 (preferred), then 2", runs)
	}
	checkAgainstSolo(t, s, reqs, calls, errs, plug)
}

// TestQueuePreferredIgnoresLoneCalls: a waiting call that will run alone
// (here more rows than a batch takes) does not count toward the rows that
// pick a preferred size: three one-row calls with an oversized one behind
// them run as the preferred 2 and then 1, not as 3 toward a preferred 4
// that only the oversized call's rows would reach.
func TestQueuePreferredIgnoresLoneCalls(t *testing.T) {
	s := openDemo(t, "elementwise")
	b := NewBatcherWith([]*Session{s}, BatchOptions{MaxBatch: 8, Preferred: []int{2, 4}, PriorityLevels: 2})
	g := newBatchGate(b)
	reqs := []*batchReq{elementwiseReq(1, 10), elementwiseReq(1, 20), elementwiseReq(1, 30), elementwiseReq(16, 40)}
	calls := acquireAll(t, s, reqs)
	calls[3].SetPriority(2) // behind the others, so it still waits when they are cut
	for _, c := range calls[:3] {
		c.SetPriority(1)
	}
	plug := acquire(t, s, elementwiseReq(1, 0))
	errs := g.stack(t, plug, calls)
	if runs := g.takeRuns(); !slices.Equal(runs, []batchRun{{1, 1}, {2, 2}, {1, 1}, {1, 16}}) {
		t.Errorf("runs %v, want the plug, the preferred 2, then 1, then the oversized call alone", runs)
	}
	checkAgainstSolo(t, s, reqs, calls, errs, plug)
}

func TestQueueInstancesRunInParallel(t *testing.T) {
	s1 := openDemo(t, "elementwise")
	s2 := openDemo(t, "elementwise")
	b := NewBatcherWith([]*Session{s1, s2}, BatchOptions{MaxBatch: 8})
	g := newBatchGate(b)
	plug := acquire(t, s1, elementwiseReq(1, 0))
	plugDone := g.park(t, plug) // instance one is busy
	// Instance two is idle: this call runs at once instead of queueing.
	c := acquire(t, s1, elementwiseReq(2, 50))
	done := make(chan error, 1)
	go func() { done <- b.Run(c) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second instance did not take the call while the first was busy")
	}
	if _, err := compareRes(collect(c), mustSolo(t, s1, elementwiseReq(2, 50)), 0); err != nil {
		t.Error(err)
	}
	g.release <- struct{}{}
	if err := <-plugDone; err != nil {
		t.Fatal(err)
	}
	s1.ReleaseCall(c)
	s1.ReleaseCall(plug)
}

// TestReusedCallForgetsScheduling: a pooled call must not carry the
// previous request's timeout, deadline, priority or tag into the next one:
// a fresh lone request must never be dropped for an old deadline.
func TestReusedCallForgetsScheduling(t *testing.T) {
	s := openDemo(t, "elementwise")
	b := NewBatcherWith([]*Session{s}, BatchOptions{MaxBatch: 8, PriorityLevels: 2})
	g := newBatchGate(b)
	plug := acquire(t, s, elementwiseReq(1, 0))
	plugDone := g.park(t, plug)
	c := acquire(t, s, elementwiseReq(1, 10))
	c.SetTimeout(time.Nanosecond)
	c.SetPriority(1)
	c.SetTag("old request")
	done := make(chan error, 1)
	go func() { done <- b.Run(c) }()
	g.waitQueued(t, 1)
	time.Sleep(time.Millisecond)
	g.release <- struct{}{}
	if err := <-plugDone; err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrQueueTimeout) {
		t.Fatalf("first use: %v, want ErrQueueTimeout", err)
	}
	s.ReleaseCall(c)
	s.ReleaseCall(plug)

	// Pools may hand back any call; check every call the pool gives.
	for range 8 {
		c := acquire(t, s, elementwiseReq(1, 20))
		defer s.ReleaseCall(c)
		if c.b.timeout != 0 || !c.b.deadline.IsZero() || !c.b.enqueued.IsZero() || c.b.priority != 0 || c.Tag() != nil {
			t.Fatalf("reused call keeps timeout %v deadline %v enqueued %v priority %d tag %v",
				c.b.timeout, c.b.deadline, c.b.enqueued, c.b.priority, c.Tag())
		}
		if err := b.Run(c); err != nil {
			t.Fatalf("fresh request on a reused call: %v", err)
		}
	}
}

// TestSoloQueue is the queue of a version that does not batch: every run
// serves one request even when many wait, in priority then arrival
// order; the bound, the timeout and the displacement hold as they do for
// batches; and inputs with no rows to count (rank 0, or none at all) run
// through it.
func TestSoloQueue(t *testing.T) {
	s := openDemo(t, "elementwise")
	b := NewBatcherWith([]*Session{s}, BatchOptions{Solo: true, Slots: 1, MaxQueue: 4, PriorityLevels: 2,
		Timeout: time.Hour})
	if b.Stacks() {
		t.Fatal("a solo queue reports that it stacks")
	}
	g := newBatchGate(b)
	plug := acquire(t, s, elementwiseReq(1, 0))
	plugDone := g.park(t, plug)
	prios := []int{2, 2, 1, 2}
	calls := make([]*Call, len(prios))
	done := make([]chan error, len(prios))
	for i, p := range prios {
		calls[i] = acquire(t, s, elementwiseReq(1+i%2, float32(100*(i+1))))
		calls[i].SetPriority(p)
		if i == 3 {
			calls[i].SetTimeout(time.Millisecond)
		}
		done[i] = make(chan error, 1)
		go func() { done[i] <- b.Run(calls[i]) }()
		g.waitQueued(t, i+1)
	}
	extra := acquire(t, s, elementwiseReq(1, 9))
	extra.SetPriority(2)
	if err := b.Run(extra); !errors.Is(err, ErrQueueFull) || errors.Is(err, ErrDisplaced) {
		t.Fatalf("a call into a full solo queue: %v, want ErrQueueFull", err)
	}
	time.Sleep(5 * time.Millisecond) // past call 3's timeout
	g.release <- struct{}{}
	if err := <-plugDone; err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := <-done[i]; err != nil {
			t.Errorf("call %d: %v", i, err)
			continue
		}
		// y = 2x + 1 on each of the call's own rows.
		x := float32(100 * (i + 1))
		y := float32s(calls[i].Output(0).Data)
		if len(y) != 4*(1+i%2) || y[0] != 2*x+1 || y[len(y)-1] != 2*(x+float32(len(y)-1))+1 {
			t.Errorf("call %d: y = %v", i, y)
		}
	}
	if err := <-done[3]; !errors.Is(err, ErrQueueTimeout) {
		t.Errorf("call 3, past its timeout: %v, want ErrQueueTimeout", err)
	}
	if runs := g.takeRuns(); !slices.Equal(runs, []batchRun{{1, 1}, {1, 1}, {1, 1}, {1, 1}}) {
		t.Errorf("runs %v, want the plug and three more, one request each", runs)
	}
	if !calls[2].Started().Before(calls[0].Started()) || !calls[0].Started().Before(calls[1].Started()) {
		t.Error("a solo queue did not run priority 1 first, then in arrival order")
	}
	for _, c := range append(calls, plug, extra) {
		s.ReleaseCall(c)
	}

	// Rank-0 and input-less models: a call with no rows still queues and
	// runs once.
	scalar := openDemo(t, "scalar")
	bs := NewBatcherWith([]*Session{scalar}, BatchOptions{Solo: true})
	c := acquire(t, scalar, floatReq([]int64{}, []float32{2}))
	if err := bs.Run(c); err != nil {
		t.Fatalf("scalar through a solo queue: %v", err)
	}
	if y := float32s(c.Output(0).Data); len(y) != 1 {
		t.Errorf("scalar: y = %v", y)
	}
	scalar.ReleaseCall(c)
	constant := openDemo(t, "constant")
	bc := NewBatcherWith([]*Session{constant}, BatchOptions{Solo: true})
	cc, err := constant.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	if err := bc.Run(cc); err != nil {
		t.Fatalf("a model without inputs through a solo queue: %v", err)
	}
	constant.ReleaseCall(cc)
}

// TestSoloQueueSlots: with two slots on one session, a second request runs
// while the first is held in its run; with both held, a third waits in
// the queue until one ends.
func TestSoloQueueSlots(t *testing.T) {
	s := openDemo(t, "elementwise")
	b := NewBatcherWith([]*Session{s}, BatchOptions{Solo: true, Slots: 2})
	g := newBatchGate(b)
	first := acquire(t, s, elementwiseReq(1, 0))
	firstDone := g.park(t, first)
	second := acquire(t, s, elementwiseReq(1, 1))
	if err := b.Run(second); err != nil {
		t.Fatalf("the second slot, the first held: %v", err)
	}
	secondDone := g.park(t, second) // now both slots are held
	third := acquire(t, s, elementwiseReq(1, 2))
	thirdDone := make(chan error, 1)
	go func() { thirdDone <- b.Run(third) }()
	g.waitQueued(t, 1)
	select {
	case err := <-thirdDone:
		t.Fatalf("a third call ran with both slots held: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	g.release <- struct{}{}
	g.release <- struct{}{}
	for _, done := range []<-chan error{firstDone, secondDone, thirdDone} {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	for _, c := range []*Call{first, second, third} {
		s.ReleaseCall(c)
	}
}

// TestRetryAfter: a refused client is told about how long the queue, as
// full as it is, takes to drain at the runs' recent pace, in whole
// seconds from 1 to 300.
func TestRetryAfter(t *testing.T) {
	s := openDemo(t, "elementwise")
	b := NewBatcherWith([]*Session{s}, BatchOptions{Solo: true, Slots: 2})
	if got := b.RetryAfter(); got != time.Second {
		t.Errorf("nothing learned, nothing queued: %v, want 1s", got)
	}
	// Runs of 4 s serving 2 requests each: 2 s a request; the average
	// moves an eighth of the way to each new run.
	b.learnServiceTime(4*time.Second, 2)
	b.learnServiceTime(4*time.Second, 2)
	if got := time.Duration(b.perRequest.Load()); got != 2*time.Second {
		t.Fatalf("per request %v, want 2s", got)
	}
	b.learnServiceTime(10*time.Second, 1)
	if got := time.Duration(b.perRequest.Load()); got != 3*time.Second {
		t.Fatalf("per request %v after a 10 s run, want 3s", got)
	}
	b.mu.Lock()
	b.queued = 5 // 5 requests at 3 s over 2 slots: 7.5 s
	b.mu.Unlock()
	if got := b.RetryAfter(); got != 8*time.Second {
		t.Errorf("5 queued: %v, want 8s", got)
	}
	b.mu.Lock()
	b.queued = 1000
	b.mu.Unlock()
	if got := b.RetryAfter(); got != 300*time.Second {
		t.Errorf("1000 queued: %v, want the 300s cap", got)
	}
	b.mu.Lock()
	b.queued = 0
	b.mu.Unlock()
	// A real run teaches it a real pace: far under a second.
	c := acquire(t, s, elementwiseReq(1, 1))
	b.perRequest.Store(0)
	if err := b.Run(c); err != nil {
		t.Fatal(err)
	}
	if per := time.Duration(b.perRequest.Load()); per <= 0 || per > time.Second {
		t.Errorf("a run of the elementwise model: %v a request", per)
	}
	s.ReleaseCall(c)
}

// TestQueueUnderContention sends requests of random priorities, some with
// timeouts too short to survive the queue, from many goroutines into small
// queues, stacking and solo: every request either gets its own rows,
// computed right, or one of the queue's refusals, nothing hangs, and the
// refusal counters add up to the refusals the callers saw.
func TestQueueUnderContention(t *testing.T) {
	s := openDemo(t, "elementwise")
	for name, o := range map[string]BatchOptions{
		"stacking": {MaxBatch: 4, MaxQueue: 6, PriorityLevels: 3},
		// Leaders waiting for company (max_queue_delay) while others
		// queue, time out, displace and refill: the wake-ups must reach
		// only waiting leaders and never linger in a pooled call.
		"stacking with a delay": {MaxBatch: 16, MaxQueue: 6, PriorityLevels: 3, MaxQueueDelay: 200 * time.Microsecond, Preferred: []int{4, 16}},
		"solo":                  {Solo: true, Slots: 2, MaxQueue: 6, PriorityLevels: 3},
	} {
		t.Run(name, func(t *testing.T) {
			b := NewBatcherWith([]*Session{s}, o)
			const goroutines, iterations = 24, 40
			var ok, full, displaced, timedOut atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for gi := range goroutines {
				wg.Go(func() {
					<-start
					rng := rand.New(rand.NewPCG(11, uint64(gi)))
					for i := range iterations {
						rows := 1 + rng.IntN(6) // some over the stacking queue's 4
						r := elementwiseReq(rows, float32(rowTag(gi, i, 0)))
						c, err := s.AcquireCall() // not acquire: no t.Fatal off the test's goroutine
						if err != nil {
							t.Error(err)
							return
						}
						r.bind(c)
						c.SetPriority(rng.IntN(4)) // 0: the default
						if rng.IntN(5) == 0 {
							c.SetTimeout(time.Duration(1+rng.IntN(50)) * time.Microsecond)
						}
						err = b.Run(c)
						switch {
						case err == nil:
							x, y := float32s(r.data[0]), float32s(c.Output(0).Data)
							if len(y) != len(x) {
								t.Errorf("goroutine %d request %d: %d outputs for %d inputs", gi, i, len(y), len(x))
							}
							for e := range min(len(x), len(y)) {
								if y[e] != 2*x[e]+1 {
									t.Errorf("goroutine %d request %d: y[%d] = %v for x = %v", gi, i, e, y[e], x[e])
									break
								}
							}
							ok.Add(1)
						case errors.Is(err, ErrDisplaced):
							displaced.Add(1)
						case errors.Is(err, ErrQueueFull):
							full.Add(1)
						case errors.Is(err, ErrQueueTimeout):
							timedOut.Add(1)
						default:
							t.Errorf("goroutine %d request %d: %v", gi, i, err)
						}
						s.ReleaseCall(c)
					}
				})
			}
			close(start)
			finished := make(chan struct{})
			go func() { wg.Wait(); close(finished) }()
			select {
			case <-finished:
			case <-time.After(60 * time.Second):
				t.Fatal("requests still waiting after 60s")
			}
			gotFull, gotTimedOut, _, gotDisplaced := b.Refused()
			if gotFull != uint64(full.Load()) || gotDisplaced != uint64(displaced.Load()) || gotTimedOut != uint64(timedOut.Load()) {
				t.Errorf("counters: %d full, %d displaced, %d timed out; callers saw %d, %d, %d",
					gotFull, gotDisplaced, gotTimedOut, full.Load(), displaced.Load(), timedOut.Load())
			}
			if n := ok.Load() + full.Load() + displaced.Load() + timedOut.Load(); n != goroutines*iterations {
				t.Errorf("%d outcomes for %d requests", n, goroutines*iterations)
			}
			if q := b.Queued(); q != 0 {
				t.Errorf("%d still queued", q)
			}
			t.Logf("%d served, %d refused (full), %d displaced, %d timed out", ok.Load(), full.Load(), displaced.Load(), timedOut.Load())
		})
	}
}

// leadWithCompanyWait runs calls[0] as a leader that waits for company,
// then the others one by one, each once the one before is queued; it
// returns the calls' errors and how long all took.
func leadWithCompanyWait(t *testing.T, b *Batcher, calls []*Call) ([]error, time.Duration) {
	t.Helper()
	start := time.Now()
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	run := func(i int) {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = b.Run(calls[i]) }()
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(50 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waited 10s for %s", what)
			}
		}
	}
	b.mu.Lock()
	b.contended = contendedRuns // under load: leaders wait for company
	b.mu.Unlock()
	run(0)
	waitFor("the leader to wait for company", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.waiting) == 1 })
	for i := 1; i < len(calls); i++ {
		run(i)
		if i < len(calls)-1 {
			waitFor("a call to queue", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.queued == i })
		}
	}
	wg.Wait()
	return errs, time.Since(start)
}

// TestQueueDelayWaitsForCompany: with max_queue_delay, a request that
// finds the session idle waits for others before it runs, and one that
// comes during the wait joins its run.
func TestQueueDelayWaitsForCompany(t *testing.T) {
	s := openDemo(t, "elementwise")
	b := NewBatcherWith([]*Session{s}, BatchOptions{MaxBatch: 4, MaxQueueDelay: 300 * time.Millisecond})
	g := newBatchGate(b)
	reqs := []*batchReq{elementwiseReq(1, 10), elementwiseReq(2, 20)}
	calls := acquireAll(t, s, reqs)
	errs, took := leadWithCompanyWait(t, b, calls)
	if runs := g.takeRuns(); !slices.Equal(runs, []batchRun{{2, 3}}) {
		t.Errorf("runs %v, want one of both requests (3 rows)", runs)
	}
	if took < 300*time.Millisecond {
		t.Errorf("a batch short of 4 rows ran after %v, before max_queue_delay", took)
	}
	checkAgainstSolo(t, s, reqs, calls, errs, acquire(t, s, elementwiseReq(1, 0)))
}

// TestQueueDelayEndsWhenBatchFills: the wait for company ends as soon as
// the queued rows complete the batch (max_batch_size, or the largest
// preferred size), as Triton's does; it does not sleep out the delay.
func TestQueueDelayEndsWhenBatchFills(t *testing.T) {
	for _, o := range []BatchOptions{
		{MaxBatch: 4, MaxQueueDelay: time.Minute},
		{MaxBatch: 16, Preferred: []int{2, 4}, MaxQueueDelay: time.Minute},
	} {
		s := openDemo(t, "elementwise")
		b := NewBatcherWith([]*Session{s}, o)
		g := newBatchGate(b)
		reqs := []*batchReq{elementwiseReq(1, 10), elementwiseReq(1, 20), elementwiseReq(2, 30)}
		calls := acquireAll(t, s, reqs)
		errs, took := leadWithCompanyWait(t, b, calls)
		if runs := g.takeRuns(); !slices.Equal(runs, []batchRun{{3, 4}}) {
			t.Errorf("%+v: runs %v, want one run of the 4 rows", o, runs)
		}
		if took > 20*time.Second {
			t.Errorf("%+v: a full batch waited %v for company", o, took)
		}
		checkAgainstSolo(t, s, reqs, calls, errs, acquire(t, s, elementwiseReq(1, 0)))
		// The leader's call, pooled again, must not keep a stale wake.
		c := calls[0]
		if c.b.company == nil {
			t.Fatal("the leader's call kept no timer")
		}
		select {
		case <-c.b.done:
			t.Fatal("a wake was left in the leader's done")
		default:
		}
	}
}

// TestQueueDelaySkippedForLoneClient: a lone client's requests never wait
// out max_queue_delay, however long it is: with no recent company, a
// request that finds the session idle runs at once. The wait comes back
// with load.
func TestQueueDelaySkippedForLoneClient(t *testing.T) {
	s := openDemo(t, "elementwise")
	// Short enough that the test fails in 20 s rather than hangs when
	// lone requests do wait; far longer than a lone run.
	b := NewBatcherWith([]*Session{s}, BatchOptions{MaxBatch: 4, MaxQueueDelay: time.Second})
	g := newBatchGate(b)
	start := time.Now()
	for i := range 20 {
		req := elementwiseReq(1, float32(i))
		c := acquire(t, s, req)
		if err := b.Run(c); err != nil {
			t.Fatal(err)
		}
		if _, err := compareRes(collect(c), mustSolo(t, s, req), 0); err != nil {
			t.Fatal(err)
		}
		s.ReleaseCall(c)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("20 lone requests took %v: they waited for company", took)
	}
	if runs := g.takeRuns(); len(runs) != 20 {
		t.Fatalf("%d runs, want 20 alone", len(runs))
	}
	b.mu.Lock()
	contended := b.contended
	b.mu.Unlock()
	if contended != 0 {
		t.Fatalf("a lone client left contended at %d", contended)
	}
}
