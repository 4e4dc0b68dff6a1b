package runtime

/*
#include <stdlib.h>
#include <string.h>
#include "ort.h"
*/
import "C"

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"unsafe"
)

var errSessionClosed = errors.New("the model version is unloading")

// maxKeptBuffer caps the C memory a pooled Call keeps between inferences:
// one 100 MB request must not pin 100 MB per idle Call forever.
const maxKeptBuffer = 4 << 20

// Call is one inference's worth of memory, reused across inferences.
//
// Inputs are decoded straight into C memory that ONNX Runtime reads in
// place, and outputs are read in place from the memory ONNX Runtime
// allocated, so a request's tensors are never copied between Go and C and
// no Go pointer crosses into C (cgo's pointer rules hold trivially).
type Call struct {
	s *Session
	// mem is the C side: nin ig_tensor, nout ig_output, nout name pointers.
	mem   *callMem
	ins   []C.ig_tensor
	outs  []C.ig_output
	names []*C.char
	bound []bool
	// sel lists the outputs asked for, in the order they are returned.
	sel      []int
	outShape [][]int64
	// perRow[k] is output k's elements per row, set when the call ran a
	// batch, so that each member's Output divides nothing (a 64-bit
	// division, twice a monitored request).
	perRow []int
	ran    bool
	b      batchState
}

// callMem owns the C allocations of a Call. It is separate from Call so a
// cleanup can free it when the pool drops the Call, without reviving Call.
type callMem struct {
	ins   *C.ig_tensor
	outs  *C.ig_output
	names **C.char
	nin   int
	bufs  []cbuf // data per input, then string offsets per input
	strs  []stringOut
}

type cbuf struct {
	p   unsafe.Pointer
	cap int
}

type stringOut struct {
	blob    cbuf
	offsets cbuf
}

func (m *callMem) free() {
	C.free(unsafe.Pointer(m.ins))
	C.free(unsafe.Pointer(m.outs))
	C.free(unsafe.Pointer(m.names))
	for _, b := range m.bufs {
		C.free(b.p)
	}
	for _, so := range m.strs {
		C.free(so.blob.p)
		C.free(so.offsets.p)
	}
}

func newCall(s *Session) *Call {
	nin, nout := max(len(s.Inputs), 1), max(len(s.Outputs), 1)
	m := &callMem{
		ins:   (*C.ig_tensor)(C.calloc(C.size_t(nin), C.sizeof_ig_tensor)),
		outs:  (*C.ig_output)(C.calloc(C.size_t(nout), C.sizeof_ig_output)),
		names: (**C.char)(C.calloc(C.size_t(nout), C.size_t(unsafe.Sizeof((*C.char)(nil))))),
		nin:   len(s.Inputs),
		bufs:  make([]cbuf, 2*len(s.Inputs)),
		strs:  make([]stringOut, len(s.Outputs)),
	}
	c := &Call{
		s:        s,
		mem:      m,
		ins:      unsafe.Slice(m.ins, nin)[:len(s.Inputs)],
		outs:     unsafe.Slice(m.outs, nout),
		names:    unsafe.Slice(m.names, nout),
		bound:    make([]bool, len(s.Inputs)),
		sel:      make([]int, 0, len(s.Outputs)),
		outShape: make([][]int64, len(s.Outputs)),
		perRow:   make([]int, len(s.Outputs)),
	}
	c.b.done = make(chan struct{}, 1)
	for i := range c.outShape {
		c.outShape[i] = make([]int64, 0, C.IG_MAX_RANK)
	}
	goruntime.AddCleanup(c, func(m *callMem) { m.free() }, m)
	return c
}

// grow makes b hold at least n bytes. At least one byte is always
// allocated: ONNX Runtime wants a real pointer even for empty tensors.
func (b *cbuf) grow(n int) unsafe.Pointer {
	if n < 16 {
		n = 16
	}
	if b.cap < n {
		C.free(b.p)
		b.p = C.malloc(C.size_t(n))
		if b.p == nil {
			panic("infergate: out of C memory")
		}
		b.cap = n
	}
	return b.p
}

func (b *cbuf) shrink() {
	if b.cap > maxKeptBuffer {
		C.free(b.p)
		b.p, b.cap = nil, 0
	}
}

// Input prepares input i with the given type and shape and returns its
// data buffer, sized for the shape, for the caller to fill. The caller has
// already checked the shape; elements is its product.
func (c *Call) Input(i int, dt DataType, shape []int64, elements int) []byte {
	t := &c.ins[i]
	c.setShape(t, dt, shape)
	n := elements * dt.Size()
	p := c.mem.bufs[i].grow(n)
	t.data = p
	t.bytes = C.size_t(n)
	t.blob = nil
	t.offsets = nil
	t.nstrings = 0
	c.bound[i] = true
	return unsafe.Slice((*byte)(p), n)
}

// InputStrings sets input i to a BYTES tensor whose elements are
// blob[offsets[k]:offsets[k+1]]; len(offsets) is the element count plus
// one. The bytes are copied, so blob may be reused once this returns.
func (c *Call) InputStrings(i int, shape []int64, blob []byte, offsets []int) {
	t := &c.ins[i]
	c.setShape(t, BYTES, shape)
	n := len(offsets) - 1
	p := c.mem.bufs[i].grow(len(blob))
	if len(blob) > 0 {
		C.memcpy(p, unsafe.Pointer(&blob[0]), C.size_t(len(blob)))
	}
	op := c.mem.bufs[c.mem.nin+i].grow((n + 1) * int(unsafe.Sizeof(C.size_t(0))))
	ov := unsafe.Slice((*C.size_t)(op), n+1)
	for k, o := range offsets {
		ov[k] = C.size_t(o)
	}
	t.data = nil
	t.bytes = 0
	t.blob = (*C.char)(p)
	t.offsets = (*C.size_t)(op)
	t.nstrings = C.size_t(n)
	c.bound[i] = true
}

// InputView returns bound input i as the model reads it: its type, shape
// and bytes, all views valid until the Call is released or the input is
// bound again; data is nil for BYTES and for an unbound input. The
// monitor's tap copies sampled requests from here rather than from the
// JSON, which the decoder has already turned into these bytes.
func (c *Call) InputView(i int) (dt DataType, shape []int64, data []byte) {
	t := &c.ins[i]
	// A view of the C descriptor's dimensions, not a copy: copying them
	// into a slice of the Call's own touched two cold lines a monitored
	// request (a fifth of tapRequest in the fraud gateway's profile).
	// int64_t is int64, and the descriptor lives as long as the Call.
	shape = unsafe.Slice((*int64)(unsafe.Pointer(&t.shape[0])), int(t.rank))
	dt = DataType(t.elem_type)
	if c.bound[i] && dt != BYTES && t.data != nil {
		data = unsafe.Slice((*byte)(t.data), int(t.bytes))
	}
	return dt, shape, data
}

func (c *Call) setShape(t *C.ig_tensor, dt DataType, shape []int64) {
	t.elem_type = C.int(dt)
	t.rank = C.size_t(len(shape))
	for d, v := range shape {
		t.shape[d] = C.int64_t(v)
	}
}

// SelectOutput asks for output index o; outputs come back in the order
// selected. With no selection, Run returns every output.
func (c *Call) SelectOutput(o int) {
	c.sel = append(c.sel, o)
}

// Selected returns the output indices the last Run produced, in order.
func (c *Call) Selected() []int { return c.sel }

// Run executes the model on the bound inputs: one cgo call that wraps the
// inputs, runs the session and describes the outputs.
func (c *Call) Run() error {
	return c.runOn(c.s)
}

// runOn runs the call on sess, an instance of the same model as the
// session the call was acquired from (same names, same order).
func (c *Call) runOn(sess *Session) error {
	if err := c.ready(); err != nil {
		return err
	}
	allNames := unsafe.Slice(sess.outNames, max(len(sess.Outputs), 1))
	for k, o := range c.sel {
		c.names[k] = allNames[o]
	}
	var ins *C.ig_tensor
	if len(c.ins) > 0 {
		ins = &c.ins[0]
	}
	err := cErr(C.ig_run(sess.c, nil, sess.inNames, ins, C.size_t(len(c.ins)),
		&c.names[0], &c.outs[0], C.size_t(len(c.sel))))
	if err != nil {
		return err
	}
	c.ran = true
	return nil
}

// ready checks every input is bound and, when no output was selected,
// selects them all.
func (c *Call) ready() error {
	if err := c.checkBound(); err != nil {
		return err
	}
	if len(c.sel) == 0 {
		for o := range c.s.Outputs {
			c.sel = append(c.sel, o)
		}
	}
	return nil
}

func (c *Call) checkBound() error {
	for i, ok := range c.bound {
		if !ok {
			return fmt.Errorf("input %q is not set", c.s.Inputs[i].Name)
		}
	}
	return nil
}

// Output is a read-only view of one output of a finished Run. Data points
// into ONNX Runtime's memory and is valid until the Call is released.
type Output struct {
	Info     *TensorInfo
	DataType DataType
	Shape    []int64
	// Elements is the product of Shape.
	Elements int
	// Data holds the elements of numeric and boolean tensors, little
	// endian, row major; nil for BYTES.
	Data []byte
}

// Output returns the k-th produced output (k indexes Selected()).
func (c *Call) Output(k int) Output {
	idx := c.sel[k]
	if p := c.b.parent; p != nil {
		// A member of a batch: its rows of the batch's output. The batch
		// computed every output, in order, so output idx sits at idx.
		// Several members read p at once; nothing of p is written here.
		o := &p.outs[idx]
		dt := DataType(o.elem_type)
		perRow := p.perRow[idx]
		shape := append(c.outShape[idx][:0], int64(c.b.rows))
		for d := 1; d < int(o.rank); d++ {
			shape = append(shape, int64(o.shape[d]))
		}
		c.outShape[idx] = shape
		n := c.b.rows * perRow
		out := Output{Info: &c.s.Outputs[idx], DataType: dt, Shape: shape, Elements: n}
		if n > 0 && o.data != nil {
			size := dt.Size()
			all := unsafe.Slice((*byte)(o.data), int(o.count)*size)
			out.Data = all[c.b.rowStart*perRow*size : (c.b.rowStart*perRow+n)*size]
		}
		return out
	}
	o := &c.outs[k]
	// A view of the C descriptor's dimensions, as InputView's.
	shape := unsafe.Slice((*int64)(unsafe.Pointer(&o.shape[0])), int(o.rank))
	dt := DataType(o.elem_type)
	out := Output{Info: &c.s.Outputs[idx], DataType: dt, Shape: shape, Elements: int(o.count)}
	if dt != BYTES && o.count > 0 && o.data != nil {
		out.Data = unsafe.Slice((*byte)(o.data), int(o.count)*dt.Size())
	}
	return out
}

// OutputStrings returns the elements of the k-th produced output, a BYTES
// tensor, as a blob and count+1 offsets into it; both are valid until the
// Call is released.
func (c *Call) OutputStrings(k int) (blob []byte, offsets []uint64, err error) {
	if c.b.parent != nil {
		return nil, nil, errors.New("BYTES outputs are not batched")
	}
	o := &c.outs[k]
	var n C.size_t
	if err := cErr(C.ig_string_length(o.value, &n)); err != nil {
		return nil, nil, err
	}
	so := &c.mem.strs[c.sel[k]]
	bp := so.blob.grow(int(n))
	count := int(o.count)
	op := so.offsets.grow((count + 1) * 8)
	if err := cErr(C.ig_string_content(o.value, (*C.char)(bp), n, (*C.size_t)(op), C.size_t(count))); err != nil {
		return nil, nil, err
	}
	return unsafe.Slice((*byte)(bp), int(n)), unsafe.Slice((*uint64)(op), count+1), nil
}

func (c *Call) reset() {
	if c.b.parent != nil {
		c.releaseMember()
	}
	c.b.reset()
	if c.ran {
		C.ig_release_outputs(&c.outs[0], C.size_t(len(c.sel)))
		c.ran = false
	}
	c.sel = c.sel[:0]
	for i := range c.bound {
		c.bound[i] = false
	}
	for i := range c.mem.bufs {
		c.mem.bufs[i].shrink()
	}
	for i := range c.mem.strs {
		c.mem.strs[i].blob.shrink()
		c.mem.strs[i].offsets.shrink()
	}
}
