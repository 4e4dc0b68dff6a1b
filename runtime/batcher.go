package runtime

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Batcher coalesces inferences that arrive together on one session into a
// single run, stacked along dimension 0, and hands each request its own
// rows of the outputs.
//
// It is work-conserving: a request that finds the session idle runs at
// once instead of waiting for company (Triton's dynamic batcher waits up to
// max_queue_delay); batches form only from requests that queue while a run
// is under way. The caller that finds no run in progress leads: it takes
// what queued (on a single P, after yielding once so that runnable
// goroutines can queue), runs it, and hands leadership to the first
// request still waiting. Followers block on a channel of
// their own, so nothing here allocates per request.
type Batcher struct {
	s        *Session
	maxBatch int
	// OnRun, when set, is told the size of every run: the requests it
	// served and their rows. It is called by the leader, outside locks.
	OnRun func(requests, rows int)

	mu      sync.Mutex
	queue   []*Call
	leading bool
	// batch is the leader's working list; only the current leader uses it.
	batch []*Call
}

// batchState is the part of a Call that the batcher uses.
type batchState struct {
	done chan struct{}
	lead bool
	err  error
	// parent is the batch run whose outputs this call reads, rows
	// [rowStart, rowStart+rows); nil when the call ran alone.
	parent   *Call
	rowStart int
	rows     int
	// refs counts the members still reading a batch call's outputs.
	refs atomic.Int32
	// started is when the run that served the call began.
	started time.Time
}

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

// NewBatcher batches runs on s of up to maxBatch rows. The caller has
// checked Batchable.
func NewBatcher(s *Session, maxBatch int) *Batcher {
	return &Batcher{s: s, maxBatch: maxBatch}
}

// Run runs c, alone or stacked with other calls, and returns when c's
// outputs are readable.
func (b *Batcher) Run(c *Call) error {
	if err := c.checkBound(); err != nil {
		return err
	}
	if len(c.sel) == 0 {
		for o := range c.s.Outputs {
			c.sel = append(c.sel, o)
		}
	}
	c.b.rows = int(c.ins[0].shape[0])
	if c.b.rows > b.maxBatch || c.b.rows == 0 || !sameFirstDims(c) {
		// Too big to share a run, empty, or inputs whose first
		// dimensions differ (rows are not aligned across inputs): alone.
		c.b.started = time.Now()
		err := c.Run()
		if b.OnRun != nil {
			b.OnRun(1, c.b.rows)
		}
		return err
	}
	b.mu.Lock()
	if !b.leading {
		b.leading = true
		b.mu.Unlock()
		b.lead(c)
		return c.b.err
	}
	b.queue = append(b.queue, c)
	b.mu.Unlock()
	<-c.b.done
	if c.b.lead {
		c.b.lead = false
		b.lead(c)
	}
	return c.b.err
}

// lead runs one batch that starts with first, then passes leadership on.
func (b *Batcher) lead(first *Call) {
	b.mu.Lock()
	if len(b.queue) <= 1 && goruntime.GOMAXPROCS(0) == 1 {
		// On one P a run holds the only P, so requests can never queue
		// behind it: yield once to let the goroutines that are runnable
		// now (requests read off other connections) reach the queue
		// before the batch is cut. With nothing runnable this returns at
		// once. With more Ps requests queue during runs by themselves,
		// and a yield would only wake an idle P (microseconds on a VM).
		b.mu.Unlock()
		goruntime.Gosched()
		b.mu.Lock()
	}
	batch := append(b.batch[:0], first)
	rows := first.b.rows
	kept := b.queue[:0]
	for _, c := range b.queue {
		switch {
		case c == first:
		case rows+c.b.rows <= b.maxBatch && sameTrailingShapes(first, c):
			batch = append(batch, c)
			rows += c.b.rows
		default:
			kept = append(kept, c)
		}
	}
	clear(b.queue[len(kept):])
	b.queue = kept
	b.mu.Unlock()

	err := b.runBatch(batch, rows)
	if b.OnRun != nil {
		b.OnRun(len(batch), rows)
	}
	for _, c := range batch {
		c.b.err = err
	}
	for _, c := range batch[1:] {
		c.b.done <- struct{}{}
	}
	// Done with batch before leadership passes: the next leader reuses
	// its memory.
	clear(batch)
	b.batch = batch[:0]

	b.mu.Lock()
	var next *Call
	if len(b.queue) > 0 {
		next = b.queue[0]
	} else {
		b.leading = false
	}
	b.mu.Unlock()
	if next != nil {
		next.b.lead = true
		next.b.done <- struct{}{}
	}
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

func (b *Batcher) runBatch(batch []*Call, rows int) error {
	start := time.Now()
	for _, c := range batch {
		c.b.started = start
	}
	if len(batch) == 1 {
		return batch[0].Run()
	}
	s := b.s
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
	if err := bc.Run(); err != nil {
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

// Started is when the run that served this call began: the end of its
// time in the queue.
func (c *Call) Started() time.Time { return c.b.started }
