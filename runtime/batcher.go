package runtime

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Batcher coalesces inferences that arrive together on a model version
// into single runs, stacked along dimension 0, and hands each request its
// own rows of the outputs.
//
// It is work-conserving: a request that finds an instance idle runs at
// once instead of waiting for company (Triton's dynamic batcher waits up to
// max_queue_delay, which is available here too but off by default);
// batches form from requests that queue while every instance is busy. The
// caller that finds an idle instance leads: it takes what queued (on a
// single P, after yielding once so that runnable goroutines can queue),
// runs it, and hands the instance to the first request still waiting.
// Followers block on a channel of their own, so nothing here allocates
// per request.
//
// The queue is bounded (a full queue refuses at once, or, for a request of
// higher priority than some queued, sheds the newest of the lowest
// priority instead), ordered by priority then arrival, and a request whose
// deadline passes while it waits is dropped before it costs compute.
type Batcher struct {
	sessions []*Session
	o        BatchOptions
	// OnRun, when set, is told the size of every run: the requests it
	// served and their rows. It is called by the leader, outside locks.
	OnRun func(requests, rows int)
	// Abandoned, when set, is asked about requests that waited in the
	// queue longer than abandonCheckAfter whether their client is gone;
	// those are dropped before the run.
	Abandoned func(c *Call) bool
	// OnBatch, when set, is handed the members of every stacked batch
	// whose run succeeded, by its leader, before they wake: each member
	// reads its own rows (InputView, Output) as it will after Run. The
	// gateway's drift tap pushes a batch's samples here in one go, rather
	// than each member pushing its own. It runs outside locks, on the
	// leader's goroutine, and must not keep the calls.
	OnBatch func(members []*Call)

	mu sync.Mutex
	// contended counts down from contendedRuns after a run that shared
	// or left a queue. With several Ps, leaders yield for company only
	// while it is positive, or on every probeEvery-th run to notice load
	// starting: on a VM the yield wakes an idle P, microseconds a lone
	// client should not pay on every request.
	contended int
	probe     uint32
	queues    [][]*Call // by priority, highest first
	queued    int
	idle      []*Session
	expired   []*Call
	// waiting holds the leaders waiting for company (max_queue_delay),
	// which a request that completes their batch wakes.
	waiting []*Call
	// batch is a leader's working list; leaders take one from spare.
	spare [][]*Call

	rejected, timedOut, abandoned, displaced atomic.Uint64
	// perRequest is a moving average of a run's time over the requests
	// it served, in nanoseconds, for RetryAfter.
	perRequest atomic.Int64
}

const (
	contendedRuns = 64
	probeEvery    = 8
)

// abandonCheckAfter is how long a request waits before its client's
// connection is checked: checking costs a system call, and a request
// served within a millisecond is not worth saving.
const abandonCheckAfter = time.Millisecond

// BatchOptions are a batching version's knobs, named as Triton names them.
type BatchOptions struct {
	// MaxBatch is the most rows one run stacks.
	MaxBatch int
	// MaxQueue bounds the requests waiting; 0 means unbounded (bounded
	// only by connections).
	MaxQueue int
	// MaxQueueDelay, when positive, makes a leader whose batch is short of
	// MaxBatch (or of the largest preferred size) wait up to that long for
	// more requests before it runs, less when they fill the batch, while
	// the version is under load (see lead); a lone client never waits.
	// Zero: work-conserving.
	MaxQueueDelay time.Duration
	// Preferred batch sizes: when more rows wait than the largest
	// preferred size that fits, a run stops at that size.
	Preferred []int
	// Timeout is how long a request may wait in the queue, unless it
	// sets its own; 0 means no limit.
	Timeout time.Duration
	// PriorityLevels is the number of priorities, 1 (highest) to N;
	// 0 means 1.
	PriorityLevels int
	// DefaultPriority is given to requests that name none; 0 means the
	// lowest.
	DefaultPriority int
	// Solo makes the batcher only a queue, for a version that does not
	// batch (no max_batch_size, or a model without a dynamic first
	// dimension): every run serves one request as it came, and Slots
	// runs go at once. It still bounds the waiting, orders it by priority
	// and drops requests whose timeout passed or whose client left, the
	// admission control such a model would otherwise go without.
	Solo bool
	// Slots is how many runs go at once, spread over the sessions in
	// turn; 0, or fewer than the sessions, means one per session (a
	// batching version's rule: one batch per session at a time).
	Slots int
}

// These are the reasons a request is refused without running.
var (
	ErrQueueFull    = errors.New("the model's queue is full")
	ErrQueueTimeout = errors.New("the request's timeout passed while it waited in the queue")
	ErrAbandoned    = errors.New("the client went away while the request waited")
	// ErrDisplaced is ErrQueueFull for a queued request that a request of
	// higher priority displaced (see Batcher.displace).
	ErrDisplaced = fmt.Errorf("%w: a request of higher priority took its place", ErrQueueFull)
)

// batchState is the part of a Call that the batcher uses.
type batchState struct {
	done chan struct{}
	lead bool
	// alone marks a call that no other may join: a solo queue's, or one
	// that cannot be stacked (see Run).
	alone bool
	sess  *Session
	err   error
	// parent is the batch run whose outputs this call reads, rows
	// [rowStart, rowStart+rows); nil when the call ran alone.
	parent   *Call
	rowStart int
	rows     int
	// refs counts the members still reading a batch call's outputs.
	refs atomic.Int32
	// started is when the run that served the call began.
	started time.Time
	// priority is 1 (highest) .. levels, 0 for the default; timeout 0
	// for the default. enqueued and deadline are set when it queues.
	priority int
	timeout  time.Duration
	enqueued time.Time
	deadline time.Time
	// Tag is the caller's: the gateway keeps its request context here so
	// Abandoned can find the connection.
	tag any
	// company times a leader's wait for company (max_queue_delay); kept
	// with the pooled call, like done.
	company *time.Timer
}

// reset forgets one request's batching state (its error, rows, timeout,
// deadline, priority and tag) so the pooled call starts the next request
// clean; the call's own channel and batch refcount are kept.
func (st *batchState) reset() {
	done, company := st.done, st.company
	st.refs.Store(0)
	*st = batchState{done: done, company: company}
}

// SetPriority sets the request's priority, 1 being the highest; 0 leaves
// the model's default.
func (c *Call) SetPriority(p int) { c.b.priority = p }

// SetTimeout sets how long the request may wait in the queue; 0 leaves
// the model's default.
func (c *Call) SetTimeout(d time.Duration) { c.b.timeout = d }

// SetTag attaches a caller's value to the call, for Abandoned.
func (c *Call) SetTag(v any) { c.b.tag = v }

// Tag returns what SetTag attached.
func (c *Call) Tag() any { return c.b.tag }

// Batchable reports why inputs and outputs cannot be stacked along
// dimension 0, or nil if they can.
func Batchable(inputs, outputs []TensorInfo) error {
	check := func(kind string, infos []TensorInfo) error {
		for _, t := range infos {
			if len(t.Shape) == 0 || t.Shape[0] != -1 {
				return fmt.Errorf("%s %q has shape %v: dynamic batching needs a dynamic first dimension (-1)", kind, t.Name, t.Shape)
			}
			if t.DataType == BYTES {
				return fmt.Errorf("%s %q is BYTES, which is not batched", kind, t.Name)
			}
		}
		return nil
	}
	if len(inputs) == 0 {
		return errors.New("a model without inputs has nothing to batch")
	}
	if err := check("input", inputs); err != nil {
		return err
	}
	return check("output", outputs)
}

// NewBatcher batches runs on s of up to maxBatch rows, with the other
// knobs at their defaults. The caller has checked Batchable.
func NewBatcher(s *Session, maxBatch int) *Batcher {
	return NewBatcherWith([]*Session{s}, BatchOptions{MaxBatch: maxBatch})
}

// NewBatcherWith batches runs on a version's instances: sessions of one
// model file, each running one batch at a time. Calls are acquired from
// the first.
func NewBatcherWith(sessions []*Session, o BatchOptions) *Batcher {
	if o.PriorityLevels <= 0 {
		o.PriorityLevels = 1
	}
	if o.DefaultPriority <= 0 || o.DefaultPriority > o.PriorityLevels {
		o.DefaultPriority = o.PriorityLevels
	}
	b := &Batcher{sessions: sessions, o: o, queues: make([][]*Call, o.PriorityLevels)}
	for i := range b.slots() {
		b.idle = append(b.idle, sessions[i%len(sessions)])
	}
	return b
}

// slots is how many runs go at once: Slots, but at least one per session.
func (b *Batcher) slots() int { return max(b.o.Slots, len(b.sessions)) }

// learnServiceTime folds one run, of d serving n requests, into the
// moving average of a request's share of a run (weight 1/8). Leaders
// that finish together may overwrite each other's update; the average
// only sizes Retry-After.
func (b *Batcher) learnServiceTime(d time.Duration, n int) {
	per := int64(d) / int64(n)
	old := b.perRequest.Load()
	if old == 0 {
		b.perRequest.Store(per)
		return
	}
	b.perRequest.Store(old + (per-old)/8)
}

// RetryAfter is how long a refused client should wait before trying
// again: about the time the queue, as full as it is now, takes to drain
// at the recent pace, in whole seconds from 1 to 300 (HTTP's Retry-After
// counts seconds). A fixed second would invite a storm of retries
// against a model whose queue takes minutes, and hold back clients of
// one that drains in milliseconds no more than a second does.
func (b *Batcher) RetryAfter() time.Duration {
	drain := time.Duration(int64(b.Queued()) * b.perRequest.Load() / int64(b.slots()))
	secs := min(max((drain+time.Second-1)/time.Second, 1), 300)
	return secs * time.Second
}

// Stacks reports whether runs stack requests (false for a Solo queue).
func (b *Batcher) Stacks() bool { return !b.o.Solo }

// Queued returns how many requests wait.
func (b *Batcher) Queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.queued
}

// Refused returns how many requests were refused because the queue was
// full, dropped because their timeout passed, dropped because their
// client went away, and taken out of a full queue for a request of higher
// priority.
func (b *Batcher) Refused() (full, timedOut, abandoned, displaced uint64) {
	return b.rejected.Load(), b.timedOut.Load(), b.abandoned.Load(), b.displaced.Load()
}

// Run runs c, alone or stacked with other calls, and returns when c's
// outputs are readable or c was refused (ErrQueueFull, ErrQueueTimeout,
// ErrAbandoned, or ErrDisplaced while it waited in a full queue).
func (b *Batcher) Run(c *Call) error {
	if err := c.ready(); err != nil {
		return err
	}
	if b.o.Solo {
		// One request a run, whatever its shape (a rank-0 input, or no
		// input at all, has no rows to count).
		c.b.rows, c.b.alone = 1, true
	} else if c.b.rows = int(c.ins[0].shape[0]); c.b.rows > b.o.MaxBatch || c.b.rows == 0 || !sameFirstDims(c) {
		// Too big to share a run, empty, or inputs whose first
		// dimensions differ (rows are not aligned across inputs): it
		// queues like any request, within the bound, the priorities and
		// the slots, and runs alone.
		c.b.alone = true
	}
	prio := c.b.priority
	if prio <= 0 || prio > b.o.PriorityLevels {
		prio = b.o.DefaultPriority
	}
	b.mu.Lock()
	if len(b.idle) > 0 {
		// An instance is idle, so nothing waits (instances go idle only
		// when the queue is empty): run now, taking along anything that
		// queues meanwhile.
		sess := b.idle[len(b.idle)-1]
		b.idle = b.idle[:len(b.idle)-1]
		b.mu.Unlock()
		b.lead(c, sess)
		return c.b.err
	}
	var displaced *Call
	if b.o.MaxQueue > 0 && b.queued >= b.o.MaxQueue {
		if displaced = b.displace(prio); displaced == nil {
			b.mu.Unlock()
			b.rejected.Add(1)
			return ErrQueueFull
		}
	}
	timeout := c.b.timeout
	if timeout <= 0 {
		timeout = b.o.Timeout
	}
	if timeout > 0 || b.Abandoned != nil {
		c.b.enqueued = time.Now()
		if timeout > 0 {
			c.b.deadline = c.b.enqueued.Add(timeout)
		}
	}
	b.queues[prio-1] = append(b.queues[prio-1], c)
	b.queued++
	if len(b.waiting) > 0 && !c.b.alone {
		b.wakeFilled()
	}
	b.mu.Unlock()
	if displaced != nil {
		displaced.b.done <- struct{}{}
	}
	<-c.b.done
	if c.b.lead {
		c.b.lead = false
		b.lead(c, c.b.sess)
	}
	return c.b.err
}

// displace makes room in a full queue for a request of priority prio by
// taking out the newest request of the lowest priority below it, which is
// refused with ErrDisplaced; nil when every queued request has prio or a
// higher priority. A full queue thus sheds its least important work
// first: with one bound for all levels, a flood of low-priority requests
// would otherwise refuse every high-priority one (Triton's answer, a
// max_queue_size per level, leaves the split to guesswork). The newest
// goes because it has waited least. The caller holds b.mu.
func (b *Batcher) displace(prio int) *Call {
	for p := len(b.queues) - 1; p > prio-1; p-- {
		q := b.queues[p]
		if len(q) == 0 {
			continue
		}
		c := q[len(q)-1]
		q[len(q)-1] = nil
		b.queues[p] = q[:len(q)-1]
		b.queued--
		c.b.err = ErrDisplaced
		b.displaced.Add(1)
		return c
	}
	return nil
}

// lead runs one batch that starts with first (unless first itself must
// be dropped) on sess, then passes sess on.
func (b *Batcher) lead(first *Call, sess *Session) {
	b.mu.Lock()
	b.probe++
	if !first.b.alone && b.queued == 0 && (b.contended > 0 || b.probe%probeEvery == 0 || goruntime.GOMAXPROCS(0) == 1) {
		// Let the goroutines that are runnable now (requests read off
		// other connections) reach the queue before the batch is cut. On
		// one P this is the only way requests meet, since a run holds the
		// P; there it is cheap, and with nothing runnable it returns at
		// once. With more Ps, runnable goroutines may sit in this P's
		// run queue while the others sleep, so the same holds under load.
		b.mu.Unlock()
		goruntime.Gosched()
		b.mu.Lock()
	}
	// Wait for company only under load (contended: a recent run had
	// company or left a queue). A lone client's request runs at once, as
	// without a delay: nobody would come, and the wait would be all it
	// gained (Triton's lone requests wait out max_queue_delay).
	if d := b.o.MaxQueueDelay; d > 0 && b.contended > 0 && !first.b.alone && first.b.rows+b.queuedRows() < b.target() {
		b.waitForCompany(first, d)
	}
	var batch []*Call
	if n := len(b.spare); n > 0 {
		batch = b.spare[n-1][:0]
		b.spare = b.spare[:n-1]
	}
	batch, rows := b.cut(batch, first)
	if len(batch) > 1 || b.queued > 0 {
		b.contended = contendedRuns
	} else if b.contended > 0 {
		b.contended--
	}
	dropped := b.expired
	b.expired = nil
	b.mu.Unlock()

	for _, c := range dropped {
		if c != first {
			c.b.done <- struct{}{}
		}
	}
	clear(dropped)
	var err error
	if len(batch) > 0 {
		err = b.runBatch(batch, rows, sess)
		b.learnServiceTime(time.Since(batch[0].b.started), len(batch))
		if b.OnRun != nil {
			b.OnRun(len(batch), rows)
		}
		if err == nil && len(batch) > 1 && b.OnBatch != nil {
			b.OnBatch(batch)
		}
	}
	for _, c := range batch {
		c.b.err = err
		if c != first {
			c.b.done <- struct{}{}
		}
	}
	clear(batch)

	b.mu.Lock()
	b.spare = append(b.spare, batch[:0])
	if dropped != nil {
		b.expired = dropped[:0]
	}
	var next *Call
	for p := range b.queues {
		if q := b.queues[p]; len(q) > 0 {
			next = q[0]
			copy(q, q[1:])
			q[len(q)-1] = nil
			b.queues[p] = q[:len(q)-1]
			b.queued--
			break
		}
	}
	if next == nil {
		b.idle = append(b.idle, sess)
	}
	b.mu.Unlock()
	if next != nil {
		next.b.lead = true
		next.b.sess = sess
		next.b.done <- struct{}{}
	}
}

// target is the batch size a delayed leader waits for.
func (b *Batcher) target() int {
	if n := len(b.o.Preferred); n > 0 {
		return b.o.Preferred[n-1]
	}
	return b.o.MaxBatch
}

// waitForCompany holds a leader whose batch is short for up to d, b.mu
// held on entry and on return, as Triton's max_queue_delay does: the wait
// ends early when the queued rows complete the batch (the largest
// preferred size, or max_batch_size), since waiting longer only delays a
// run that can grow no more.
func (b *Batcher) waitForCompany(first *Call, d time.Duration) {
	st := &first.b
	if st.company == nil {
		st.company = time.NewTimer(d)
	} else {
		st.company.Reset(d)
	}
	b.waiting = append(b.waiting, first)
	b.mu.Unlock()
	select {
	case <-st.done: // wakeFilled: the batch is complete
	case <-st.company.C:
	}
	b.mu.Lock()
	st.company.Stop()
	if i := slices.Index(b.waiting, first); i >= 0 {
		b.waiting = slices.Delete(b.waiting, i, i+1)
	}
	// A wake sent as the timer fired stays in done; drop it, or the call
	// would take it for its own completion the next time it queues. No
	// other can come: wakes are sent under b.mu to calls in b.waiting.
	select {
	case <-st.done:
	default:
	}
}

// wakeFilled wakes the first leader waiting for company if the queued
// rows now complete its batch. The caller holds b.mu.
func (b *Batcher) wakeFilled() {
	w := b.waiting[0]
	if w.b.rows+b.queuedRows() < b.target() {
		return
	}
	b.waiting = slices.Delete(b.waiting, 0, 1)
	select {
	case w.b.done <- struct{}{}:
	default: // already signalled: it wakes either way
	}
}

// queuedRows counts the rows waiting that a batch could take: calls that
// run alone are left out, so that they neither make a leader stop at a
// larger preferred size nor cut short its wait for company.
func (b *Batcher) queuedRows() int {
	rows := 0
	for _, q := range b.queues {
		for _, c := range q {
			if !c.b.alone {
				rows += c.b.rows
			}
		}
	}
	return rows
}

// cut takes first and the queued calls that fit with it, highest priority
// first and in arrival order within a priority, into batch. Calls whose
// deadline passed or whose client left go to b.expired with their error;
// first may be among them, and then the batch starts with the next call.
// The caller holds b.mu.
func (b *Batcher) cut(batch []*Call, first *Call) ([]*Call, int) {
	var now time.Time
	limit := b.o.MaxBatch
	if len(b.o.Preferred) > 0 {
		// Stop at the largest preferred size that the waiting rows reach.
		avail := first.b.rows + b.queuedRows()
		for _, p := range b.o.Preferred {
			if p <= avail && p <= b.o.MaxBatch {
				limit = p
			}
		}
	}
	rows := 0
	consider := func(c *Call) bool { // reports whether c was taken or dropped
		if !c.b.enqueued.IsZero() {
			if now.IsZero() {
				now = time.Now()
			}
			if !c.b.deadline.IsZero() && now.After(c.b.deadline) {
				c.b.err = ErrQueueTimeout
				b.timedOut.Add(1)
				b.expired = append(b.expired, c)
				return true
			}
			if b.Abandoned != nil && now.Sub(c.b.enqueued) > abandonCheckAfter && b.Abandoned(c) {
				c.b.err = ErrAbandoned
				b.abandoned.Add(1)
				b.expired = append(b.expired, c)
				return true
			}
		}
		if len(batch) == 0 || (!c.b.alone && rows+c.b.rows <= limit && sameTrailingShapes(batch[0], c)) {
			batch = append(batch, c)
			rows += c.b.rows
			return true
		}
		return false
	}
	consider(first)
	// A run that starts with a call that runs alone is full: the calls
	// after it wait as they are, looked at (deadline, client) when they
	// reach the front.
	full := func() bool { return len(batch) > 0 && batch[0].b.alone }
	for p := range b.queues {
		if full() {
			break
		}
		q := b.queues[p]
		kept := q[:0]
		for i, c := range q {
			if full() {
				kept = append(kept, q[i:]...)
				break
			}
			if !consider(c) {
				kept = append(kept, c)
			}
		}
		b.queued -= len(q) - len(kept)
		clear(q[len(kept):])
		b.queues[p] = kept
	}
	return batch, rows
}

// sameFirstDims reports whether every input of c has the same first
// dimension, the rows that stacking aligns.
func sameFirstDims(c *Call) bool {
	for i := range c.ins {
		if c.ins[i].shape[0] != c.ins[0].shape[0] {
			return false
		}
	}
	return true
}

// sameTrailingShapes reports whether two calls' inputs differ at most in
// dimension 0: only those can be stacked.
func sameTrailingShapes(a, c *Call) bool {
	for i := range a.ins {
		x, y := &a.ins[i], &c.ins[i]
		if x.rank != y.rank {
			return false
		}
		for d := 1; d < int(x.rank); d++ {
			if x.shape[d] != y.shape[d] {
				return false
			}
		}
	}
	return true
}

func (b *Batcher) runBatch(batch []*Call, rows int, sess *Session) error {
	start := time.Now()
	for _, c := range batch {
		c.b.started = start
	}
	if len(batch) == 1 {
		return batch[0].runOn(sess)
	}
	s := b.sessions[0]
	bc := s.calls.Get().(*Call)
	first := batch[0]
	var shape [16]int64
	for i := range first.ins {
		t := &first.ins[i]
		rank := int(t.rank)
		for d := 0; d < rank; d++ {
			shape[d] = int64(t.shape[d])
		}
		shape[0] = int64(rows)
		dt := DataType(t.elem_type)
		perRow := 1
		for d := 1; d < rank; d++ {
			perRow *= int(shape[d])
		}
		dst := bc.Input(i, dt, shape[:rank], rows*perRow)
		off := 0
		for _, c := range batch {
			n := int(c.ins[i].bytes)
			copy(dst[off:off+n], unsafe.Slice((*byte)(c.ins[i].data), n))
			off += n
		}
	}
	if err := bc.runOn(sess); err != nil {
		bc.reset()
		s.calls.Put(bc)
		return err
	}
	for k := range bc.sel {
		if o := &bc.outs[k]; o.rank == 0 || int(o.shape[0]) != rows {
			err := fmt.Errorf("output %q of a batch of %d rows has shape %v: the model does not keep dimension 0 as the batch", s.Outputs[bc.sel[k]].Name, rows, bc.Output(k).Shape)
			bc.reset()
			s.calls.Put(bc)
			return err
		}
		bc.perRow[k] = int(bc.outs[k].count) / rows
	}
	bc.b.refs.Store(int32(len(batch)))
	row := 0
	for _, c := range batch {
		c.b.parent = bc
		c.b.rowStart = row
		row += c.b.rows
	}
	return nil
}

// releaseMember lets go of a batch call once its last member is done.
func (c *Call) releaseMember() {
	bc := c.b.parent
	c.b.parent = nil
	if bc.b.refs.Add(-1) == 0 {
		bc.reset()
		bc.s.calls.Put(bc)
	}
}

// Batch returns the stacked call whose outputs a member of a batch reads,
// and the member's first row and rows in it; nil when the call ran alone.
// The drift tap copies a batch's rows from it (Batcher.OnBatch).
func (c *Call) Batch() (batch *Call, rowStart, rows int) {
	return c.b.parent, c.b.rowStart, c.b.rows
}

// Started is when the run that served this call began: the end of its
// time in the queue.
func (c *Call) Started() time.Time { return c.b.started }
