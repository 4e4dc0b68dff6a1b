package runtime

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/infergate/infergate/configs/demomodels"
)

// openGraph encodes g, loads it in a fresh session and closes the session
// at cleanup.
func openGraph(t testing.TB, g *demomodels.Graph) *Session {
	t.Helper()
	s := openGraphNoClose(t, g)
	t.Cleanup(s.Close)
	return s
}

// openGraphNoClose is openGraph for tests that may leave calls stuck in a
// broken batcher, where Close would wait for ever.
func openGraphNoClose(t testing.TB, g *demomodels.Graph) *Session {
	t.Helper()
	b, err := g.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), g.Name+".onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := testEnv(t).NewSession(path, SessionOptions{})
	if err != nil {
		t.Fatalf("NewSession(%s): %v", g.Name, err)
	}
	return s
}

// identityGraph is y = Identity(x) with x and y of type dt and shape dims.
func identityGraph(name string, dt demomodels.DataType, dims ...int64) *demomodels.Graph {
	g := demomodels.NewGraph(name)
	g.Input("x", dt, dims...)
	g.AddNode("Identity", []string{"x"}, []string{"y"})
	g.Output("y", dt, dims...)
	return g
}

// affineDynGraph is elementwise's y = 2x + 1 with shape [-1,-1], so
// requests may differ in their trailing dimension.
func affineDynGraph() *demomodels.Graph {
	g := demomodels.NewGraph("affine_dyn")
	g.Input("x", demomodels.Float, -1, -1)
	two := g.AddInitializer(demomodels.Scalar("two", float32(2)))
	one := g.AddInitializer(demomodels.Scalar("one", float32(1)))
	g.AddNode("Mul", []string{"x", two}, []string{"x2"})
	g.AddNode("Add", []string{"x2", one}, []string{"y"})
	g.Output("y", demomodels.Float, -1, -1)
	return g
}

// batchReq is one request's inputs (and output selection), kept in Go
// memory so it can be bound to any number of calls.
type batchReq struct {
	dts    []DataType
	shapes [][]int64
	data   [][]byte
	sel    []int
}

func elementsOf(shape []int64) int {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	return n
}

func (r *batchReq) bind(c *Call) {
	for i := range r.data {
		copy(c.Input(i, r.dts[i], r.shapes[i], elementsOf(r.shapes[i])), r.data[i])
	}
	for _, o := range r.sel {
		c.SelectOutput(o)
	}
}

// floatReq is a one-input FP32 request of the given shape.
func floatReq(shape []int64, x []float32) *batchReq {
	d := make([]byte, 4*len(x))
	putFloat32s(d, x)
	return &batchReq{dts: []DataType{FP32}, shapes: [][]int64{shape}, data: [][]byte{d}}
}

// batchRes is a copy of what a finished call returned.
type batchRes struct {
	sel    []int
	infos  []*TensorInfo
	dts    []DataType
	shapes [][]int64
	elems  []int
	data   [][]byte
}

func collect(c *Call) batchRes {
	r := batchRes{sel: slices.Clone(c.Selected())}
	for k := range r.sel {
		o := c.Output(k)
		r.infos = append(r.infos, o.Info)
		r.dts = append(r.dts, o.DataType)
		r.shapes = append(r.shapes, slices.Clone(o.Shape))
		r.elems = append(r.elems, o.Elements)
		r.data = append(r.data, bytes.Clone(o.Data))
	}
	return r
}

// solo runs r alone with Call.Run, bypassing any batcher.
func solo(s *Session, r *batchReq) (batchRes, error) {
	c, err := s.AcquireCall()
	if err != nil {
		return batchRes{}, err
	}
	defer s.ReleaseCall(c)
	r.bind(c)
	if err := c.Run(); err != nil {
		return batchRes{}, err
	}
	return collect(c), nil
}

func mustSolo(t testing.TB, s *Session, r *batchReq) batchRes {
	t.Helper()
	res, err := solo(s, r)
	if err != nil {
		t.Fatalf("solo run: %v", err)
	}
	return res
}

// compareRes checks got against want element by element. FP32 outputs may
// differ by tol times the tensor's largest magnitude when tol > 0; exact
// reports whether every byte matched.
func compareRes(got, want batchRes, tol float64) (exact bool, err error) {
	if !slices.Equal(got.sel, want.sel) {
		return false, fmt.Errorf("selected outputs %v, want %v", got.sel, want.sel)
	}
	exact = true
	for k := range want.sel {
		name := want.infos[k].Name
		if got.infos[k] != want.infos[k] || got.dts[k] != want.dts[k] || !slices.Equal(got.shapes[k], want.shapes[k]) || got.elems[k] != want.elems[k] {
			return false, fmt.Errorf("output %d is %s %s %v (%d elements), want %s %s %v (%d elements)",
				k, got.infos[k].Name, got.dts[k], got.shapes[k], got.elems[k], name, want.dts[k], want.shapes[k], want.elems[k])
		}
		g, w := got.data[k], want.data[k]
		if bytes.Equal(g, w) {
			continue
		}
		exact = false
		if len(g) != len(w) {
			return false, fmt.Errorf("output %s holds %d bytes, want %d", name, len(g), len(w))
		}
		if tol == 0 || want.dts[k] != FP32 {
			size := want.dts[k].Size()
			for e := 0; e < len(w); e += size {
				if !bytes.Equal(g[e:e+size], w[e:e+size]) {
					return false, fmt.Errorf("output %s element %d (of shape %v) is % x, want % x", name, e/size, want.shapes[k], g[e:e+size], w[e:e+size])
				}
			}
		}
		// A matrix product summed in another order (another batch size
		// can pick another kernel) is off by a fraction of the terms'
		// magnitude, not of the result's: measure against the tensor's
		// largest value, so results near zero are judged fairly.
		gf, wf := float32s(g), float32s(w)
		scale := 0.0
		for _, v := range wf {
			if !math.IsInf(float64(v), 0) {
				scale = max(scale, math.Abs(float64(v)))
			}
		}
		for e := range wf {
			a, b := float64(gf[e]), float64(wf[e])
			if a != b && math.Abs(a-b) > tol*scale || math.IsNaN(a) != math.IsNaN(b) {
				return false, fmt.Errorf("output %s element %d is %v, want %v (beyond %g of the largest magnitude %v)", name, e, gf[e], wf[e], tol, scale)
			}
		}
	}
	return exact, nil
}

// batchRun is what OnRun reported for one run.
type batchRun struct{ requests, rows int }

// batchGate hooks a batcher's OnRun to record every run and, while armed,
// to park the leader inside OnRun. The batcher then stays leading, so every
// call submitted meanwhile queues; letting the leader go hands the queue to
// the next leader, which stacks it. That makes batches deterministic.
type batchGate struct {
	b       *Batcher
	armed   atomic.Bool
	parked  chan struct{}
	release chan struct{}
	mu      sync.Mutex
	runs    []batchRun
}

func newBatchGate(b *Batcher) *batchGate {
	g := &batchGate{b: b, parked: make(chan struct{}), release: make(chan struct{})}
	b.OnRun = func(requests, rows int) {
		g.mu.Lock()
		g.runs = append(g.runs, batchRun{requests, rows})
		g.mu.Unlock()
		if g.armed.CompareAndSwap(true, false) {
			g.parked <- struct{}{}
			<-g.release
		}
	}
	return g
}

// takeRuns returns the runs recorded so far and forgets them.
func (g *batchGate) takeRuns() []batchRun {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.runs
	g.runs = nil
	return r
}

func (g *batchGate) queued() int {
	g.b.mu.Lock()
	defer g.b.mu.Unlock()
	return g.b.queued
}

// waitQueued waits until n calls wait in the batcher's queue.
func (g *batchGate) waitQueued(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for g.queued() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued after 10s, want %d", g.queued(), n)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// park runs plug through the batcher and returns once its leader is
// parked in OnRun; the returned channel yields plug's Run error.
func (g *batchGate) park(t testing.TB, plug *Call) <-chan error {
	t.Helper()
	g.armed.Store(true)
	done := make(chan error, 1)
	go func() { done <- g.b.Run(plug) }()
	select {
	case <-g.parked:
	case <-time.After(10 * time.Second):
		t.Fatal("the plug's leader never reached OnRun")
	}
	return done
}

// stack parks a leader with plug, queues calls in order, lets the leader go
// and waits for every call. Each call's Run error (or recovered panic) is
// returned; a call still running after 10s fails the test.
func (g *batchGate) stack(t testing.TB, plug *Call, calls []*Call) []error {
	t.Helper()
	errs, stuck := g.stackWithin(t, plug, calls, 10*time.Second)
	if len(stuck) > 0 {
		t.Fatalf("calls %v never returned (errors %v)", stuck, errs)
	}
	return errs
}

// acquireAll gets a call bound to each request, in order.
func acquireAll(t testing.TB, s *Session, reqs []*batchReq) []*Call {
	t.Helper()
	calls := make([]*Call, len(reqs))
	for i, r := range reqs {
		calls[i] = acquire(t, s, r)
	}
	return calls
}

func (g *batchGate) stackWithin(t testing.TB, plug *Call, calls []*Call, wait time.Duration) (errs []error, stuck []int) {
	t.Helper()
	plugDone := g.park(t, plug)
	errs = make([]error, len(calls))
	done := make([]chan struct{}, len(calls))
	var finished atomic.Int64
	for i, c := range calls {
		done[i] = make(chan struct{})
		go func() {
			defer close(done[i])
			defer finished.Add(1)
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("panic: %v", r)
				}
			}()
			errs[i] = g.b.Run(c)
		}()
		// A call the batcher runs at once, not queueing it, counts too.
		deadline := time.Now().Add(10 * time.Second)
		for g.queued()+int(finished.Load()) < i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("call %d neither queued nor finished in 10s", i)
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
	g.release <- struct{}{}
	if err := <-plugDone; err != nil {
		t.Fatalf("plug: %v", err)
	}
	deadline := time.After(wait)
	for i := range calls {
		select {
		case <-done[i]:
		case <-deadline:
			stuck = append(stuck, i)
		}
	}
	return errs, stuck
}

// acquire gets a call bound to r.
func acquire(t testing.TB, s *Session, r *batchReq) *Call {
	t.Helper()
	c, err := s.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	r.bind(c)
	return c
}

// rowTag identifies row `row` of request i of goroutine g; it stays below
// 2^15 so it is exact in every type it is written as.
func rowTag(g, i, row int) int { return (g*64+i)*16 + row }

// propModel is one model of the property test.
type propModel struct {
	name     string
	s        *Session
	requests int // per goroutine
	gen      func(rng *rand.Rand, g, i, rows int) *batchReq
	// own checks, from the request alone, that res answers r (tags,
	// identity, y = 2x+1); nil when only the solo comparison can tell.
	own func(r *batchReq, res batchRes, g, i int) error
	tol float64
}

func randomFloats(rng *rand.Rand, n int, limit float64) []float32 {
	x := make([]float32, n)
	for k := range x {
		x[k] = float32((2*rng.Float64() - 1) * limit)
	}
	return x
}

func elementwiseProp(t *testing.T) propModel {
	return propModel{
		name:     "elementwise",
		s:        openDemo(t, "elementwise"),
		requests: 40,
		gen: func(rng *rand.Rand, g, i, rows int) *batchReq {
			x := make([]float32, 4*rows)
			for row := range rows {
				x[4*row] = float32(rowTag(g, i, row))
				for k := 1; k < 4; k++ {
					x[4*row+k] = float32(rowTag(g, i, row)) + 0.25*float32(rng.IntN(4)) - float32(rng.IntN(3)*1000)
				}
			}
			return floatReq([]int64{int64(rows), 4}, x)
		},
		own: func(r *batchReq, res batchRes, g, i int) error {
			x, y := float32s(r.data[0]), float32s(res.data[0])
			if len(y) != len(x) {
				return fmt.Errorf("%d outputs for %d inputs", len(y), len(x))
			}
			for e := range x {
				if y[e] != 2*x[e]+1 {
					if e%4 == 0 {
						tag := int((y[e] - 1) / 2)
						return fmt.Errorf("row %d holds request %d/%d row %d", e/4, tag/16/64, tag/16%64, tag%16)
					}
					return fmt.Errorf("y[%d] = %v for x = %v", e, y[e], x[e])
				}
			}
			return nil
		},
	}
}

func identityProp(t *testing.T, dt DataType) propModel {
	size := dt.Size()
	return propModel{
		name:     "identity_" + dt.String(),
		s:        openGraph(t, identityGraph("identity_"+dt.String(), demomodels.DataType(dt), -1, 3)),
		requests: 16,
		gen: func(rng *rand.Rand, g, i, rows int) *batchReq {
			d := make([]byte, rows*3*size)
			for k := range d {
				d[k] = byte(rng.Uint32())
				if dt == BOOL {
					d[k] &= 1
				}
			}
			for row := range rows {
				tag := rowTag(g, i, row)
				e := d[row*3*size:]
				switch dt {
				case INT32:
					binary.LittleEndian.PutUint32(e, uint32(tag))
				case INT64, UINT64:
					binary.LittleEndian.PutUint64(e, uint64(tag))
				case FP64:
					binary.LittleEndian.PutUint64(e, math.Float64bits(float64(tag)+0.5))
				case FP16:
					// tag's low 11 bits are exact in half precision.
					h, _ := Float32ToFloat16(float32(tag % 2048))
					binary.LittleEndian.PutUint16(e, h)
				}
			}
			return &batchReq{dts: []DataType{dt}, shapes: [][]int64{{int64(rows), 3}}, data: [][]byte{d}}
		},
		own: func(r *batchReq, res batchRes, g, i int) error {
			if !bytes.Equal(res.data[0], r.data[0]) {
				var tags []int
				for row := 0; 3*size*row < len(res.data[0]); row++ {
					e := res.data[0][row*3*size:]
					switch dt {
					case INT32:
						tags = append(tags, int(int32(binary.LittleEndian.Uint32(e))))
					case INT64, UINT64:
						tags = append(tags, int(binary.LittleEndian.Uint64(e)))
					case FP64:
						tags = append(tags, int(math.Float64frombits(binary.LittleEndian.Uint64(e))))
					}
				}
				return fmt.Errorf("identity output % x differs from the input % x (row tags %v, own rows start at %d)", res.data[0], r.data[0], tags, rowTag(g, i, 0))
			}
			return nil
		},
	}
}

func floatModelProp(t *testing.T, name string, requests, width int, limit float64) propModel {
	return propModel{
		name:     name,
		s:        openDemo(t, name),
		requests: requests,
		gen: func(rng *rand.Rand, g, i, rows int) *batchReq {
			x := randomFloats(rng, rows*width, limit)
			x[0] = float32(rowTag(g, i, 0)) / 32768 // distinct per request
			return floatReq([]int64{int64(rows), int64(width)}, x)
		},
		tol: 1e-6,
	}
}

// propStats summarises one property run.
type propStats struct {
	runs, maxRequests, multi int
	requests, rows           int
	exact, inexact           int // compared outputs, bit-exact or not
}

// runProperty sends requests of 1..8 rows from goroutines goroutines through
// a batcher of max batch 64 and compares each result with the same request
// run alone.
func runProperty(t *testing.T, m propModel, goroutines int, seed uint64) propStats {
	t.Helper()
	reqs := make([][]*batchReq, goroutines)
	refs := make([][]batchRes, goroutines)
	wantRows := 0
	for g := range goroutines {
		rng := rand.New(rand.NewPCG(seed, uint64(g)))
		for i := range m.requests {
			r := m.gen(rng, g, i, 1+rng.IntN(8))
			wantRows += int(r.shapes[0][0])
			reqs[g] = append(reqs[g], r)
			ref := mustSolo(t, m.s, r)
			if m.own != nil {
				if err := m.own(r, ref, g, i); err != nil {
					t.Fatalf("%s: solo run of request %d/%d: %v", m.name, g, i, err)
				}
			}
			refs[g] = append(refs[g], ref)
		}
	}

	b := NewBatcher(m.s, 64)
	var mu sync.Mutex
	var st propStats
	b.OnRun = func(requests, rows int) {
		mu.Lock()
		st.runs++
		st.requests += requests
		st.rows += rows
		st.maxRequests = max(st.maxRequests, requests)
		if requests > 1 {
			st.multi++
		}
		mu.Unlock()
	}
	var exact, inexact atomic.Int64
	errs := make(chan error, goroutines)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for i, r := range reqs[g] {
				err := func() error {
					c, err := m.s.AcquireCall()
					if err != nil {
						return err
					}
					defer m.s.ReleaseCall(c)
					r.bind(c)
					if err := b.Run(c); err != nil {
						return err
					}
					got := collect(c)
					ok, err := compareRes(got, refs[g][i], m.tol)
					if err != nil {
						return fmt.Errorf("batched result differs from the solo run: %w", err)
					}
					if m.own != nil {
						if err := m.own(r, got, g, i); err != nil {
							return err
						}
					}
					if ok {
						exact.Add(1)
					} else {
						inexact.Add(1)
					}
					return nil
				}()
				if err != nil {
					errs <- fmt.Errorf("%s: goroutine %d request %d (%d rows): %w", m.name, g, i, r.shapes[0][0], err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st.exact, st.inexact = int(exact.Load()), int(inexact.Load())
	if st.requests != goroutines*m.requests || st.rows != wantRows {
		t.Errorf("%s: OnRun saw %d requests and %d rows, want %d and %d", m.name, st.requests, st.rows, goroutines*m.requests, wantRows)
	}
	return st
}

// TestBatcherMatchesSoloRuns is the property test: requests stacked by the
// batcher get exactly (bit for bit where the model allows) what they get
// alone, and only their own rows.
func TestBatcherMatchesSoloRuns(t *testing.T) {
	const goroutines = 32
	models := []func(*testing.T) propModel{
		elementwiseProp,
		func(t *testing.T) propModel { return floatModelProp(t, "fraud", 16, 30, 3) },
		func(t *testing.T) propModel { return floatModelProp(t, "mlp", 6, 256, 1) },
	}
	for _, dt := range []DataType{INT8, INT32, INT64, UINT8, UINT64, FP64, FP16, BOOL} {
		models = append(models, func(t *testing.T) propModel { return identityProp(t, dt) })
	}
	var total propStats
	for k, mk := range models {
		m := mk(t)
		t.Run(m.name, func(t *testing.T) {
			st := runProperty(t, m, goroutines, uint64(1000+k))
			t.Logf("%d requests in %d runs; %d runs served >1 request, the largest %d; outputs bit-exact %d, within tolerance only %d",
				st.requests, st.runs, st.multi, st.maxRequests, st.exact, st.inexact)
			if m.tol > 0 && st.inexact == 0 {
				t.Logf("%s: every batched output is bit-identical to its solo run", m.name)
			}
			total.runs += st.runs
			total.requests += st.requests
			total.multi += st.multi
			total.maxRequests = max(total.maxRequests, st.maxRequests)
		})
	}
	if total.multi == 0 {
		t.Errorf("no run served more than one request (%d requests in %d runs): nothing was batched", total.requests, total.runs)
	}
}

// TestBatcherBatchesUnderLoad checks that concurrent requests are in fact
// stacked, at several GOMAXPROCS settings, and that the leader hands
// OnBatch the members of every stacked batch, and only of those, before
// they wake, each reading its own input and its own rows of the output,
// as the drift tap needs.
func TestBatcherBatchesUnderLoad(t *testing.T) {
	s := openDemo(t, "elementwise")
	procsList := []int{1, 2}
	if n := goruntime.NumCPU(); n > 2 {
		procsList = append(procsList, n)
	}
	for _, procs := range procsList {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(procs))
			b := NewBatcher(s, 64)
			const goroutines, iterations = 32, 50
			var mu sync.Mutex
			hist := map[int]int{}
			b.OnRun = func(requests, rows int) {
				mu.Lock()
				hist[requests]++
				mu.Unlock()
			}
			handed := 0
			seen := map[int]bool{} // tags OnBatch saw
			b.OnBatch = func(members []*Call) {
				mu.Lock()
				defer mu.Unlock()
				handed += len(members)
				for _, c := range members {
					tag := c.Tag().(int)
					seen[tag] = true
					_, shape, data := c.InputView(0)
					x, y := float32s(data), float32s(c.Output(0).Data)
					if !slices.Equal(shape, []int64{1, 4}) || len(x) != 4 || x[0] != float32(tag/iterations) || x[1] != float32(tag%iterations) {
						t.Errorf("member %d reads input %v of shape %v", tag, x, shape)
					}
					if len(y) != 4 || y[0] != 2*x[0]+1 || y[1] != 2*x[1]+1 {
						t.Errorf("member %d reads output %v for input %v", tag, y, x)
					}
					if bc, row, rows := c.Batch(); bc == nil || rows != 1 || !slices.Equal(float32s(bc.Output(0).Data)[4*row:4*row+4], y) {
						t.Errorf("member %d: Batch() gives row %d of %d in %p", tag, row, rows, bc)
					}
				}
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					<-start
					for i := range iterations {
						c, err := s.AcquireCall()
						if err != nil {
							t.Error(err)
							return
						}
						x := [4]float32{float32(g), float32(i), 1, -1}
						putFloat32s(c.Input(0, FP32, []int64{1, 4}, 4), x[:])
						c.SetTag(g*iterations + i)
						err = b.Run(c)
						if err == nil {
							if y := float32s(c.Output(0).Data); len(y) != 4 || y[0] != 2*x[0]+1 || y[1] != 2*x[1]+1 {
								err = fmt.Errorf("y = %v for x = %v", y, x)
							}
						}
						s.ReleaseCall(c)
						if err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			close(start)
			wg.Wait()
			runs, multi, served := 0, 0, 0
			for req, n := range hist {
				runs += n
				served += req * n
				if req > 1 {
					multi += n
				}
			}
			t.Logf("%d requests in %d runs, %d of them batched; runs by requests served: %v", served, runs, multi, hist)
			if served != goroutines*iterations {
				t.Errorf("OnRun accounted for %d requests, want %d", served, goroutines*iterations)
			}
			if multi == 0 {
				t.Errorf("no run served more than one request: %v", hist)
			}
			if stacked := served - hist[1]; handed != stacked || len(seen) != handed {
				t.Errorf("OnBatch was handed %d members (%d distinct); stacked runs served %d requests", handed, len(seen), stacked)
			}
		})
	}
}

// TestBatcherStacksInOrder pins down which queued calls a leader takes:
// same trailing shape, in queue order, up to max batch rows.
func TestBatcherStacksInOrder(t *testing.T) {
	s := openDemo(t, "elementwise")
	b := NewBatcher(s, 8)
	g := newBatchGate(b)
	mk := func(rows int, base float32) *batchReq {
		x := make([]float32, 4*rows)
		for k := range x {
			x[k] = base + float32(k)
		}
		return floatReq([]int64{int64(rows), 4}, x)
	}
	// 3+5 fill the batch; 1 does not fit and runs next with 2; 8 alone.
	reqs := []*batchReq{mk(3, 100), mk(5, 200), mk(1, 300), mk(2, 400), mk(8, 500)}
	calls := acquireAll(t, s, reqs)
	plug := acquire(t, s, mk(1, 0))
	errs := g.stack(t, plug, calls)
	want := []batchRun{{1, 1}, {2, 8}, {2, 3}, {1, 8}}
	if runs := g.takeRuns(); !slices.Equal(runs, want) {
		t.Errorf("runs (requests, rows) = %v, want %v", runs, want)
	}
	for i, c := range calls {
		if errs[i] != nil {
			t.Errorf("call %d: %v", i, errs[i])
			continue
		}
		if _, err := compareRes(collect(c), mustSolo(t, s, reqs[i]), 0); err != nil {
			t.Errorf("call %d: %v", i, err)
		}
		if !c.Started().After(plug.Started()) {
			t.Errorf("call %d started at %v, not after the plug's run at %v", i, c.Started(), plug.Started())
		}
	}
	if calls[0].b.parent == nil || calls[0].b.parent != calls[1].b.parent || calls[2].b.parent != calls[3].b.parent || calls[4].b.parent != nil {
		t.Errorf("batch parents %p %p %p %p %p, want [0,1] and [2,3] shared, 4 alone",
			calls[0].b.parent, calls[1].b.parent, calls[2].b.parent, calls[3].b.parent, calls[4].b.parent)
	}
	if calls[0].Started() != calls[1].Started() {
		t.Errorf("members of one batch started at %v and %v", calls[0].Started(), calls[1].Started())
	}
	for _, c := range append(calls, plug) {
		s.ReleaseCall(c)
	}
}

// TestBatcherMixedShapes: calls whose trailing dimensions differ are never
// stacked, oversized and empty calls queue and run alone, and all are
// correct.
func TestBatcherMixedShapes(t *testing.T) {
	s := openGraph(t, affineDynGraph())
	mk := func(rows, width int, base float32) *batchReq {
		x := make([]float32, rows*width)
		for k := range x {
			x[k] = base + float32(k)*0.5
		}
		return floatReq([]int64{int64(rows), int64(width)}, x)
	}
	check := func(t *testing.T, name string, c *Call, r *batchReq) {
		t.Helper()
		got := collect(c)
		if _, err := compareRes(got, mustSolo(t, s, r), 0); err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		x, y := float32s(r.data[0]), float32s(got.data[0])
		for e := range x {
			if y[e] != 2*x[e]+1 {
				t.Errorf("%s: y[%d] = %v for x = %v", name, e, y[e], x[e])
				return
			}
		}
	}

	t.Run("deterministic", func(t *testing.T) {
		b := NewBatcher(s, 8)
		g := newBatchGate(b)
		// A [2,3] B [1,5] C [3,3] D [1,5] E [4,5] F [4,3]: A+C (5 rows),
		// then B+D+E (6 rows), then F (A+C+F would be 9 rows).
		reqs := []*batchReq{mk(2, 3, 0), mk(1, 5, 100), mk(3, 3, 200), mk(1, 5, 300), mk(4, 5, 400), mk(4, 3, 500)}
		calls := acquireAll(t, s, reqs)
		plug := acquire(t, s, mk(1, 7, -1))
		errs := g.stack(t, plug, calls)
		want := []batchRun{{1, 1}, {2, 5}, {3, 6}, {1, 4}}
		if runs := g.takeRuns(); !slices.Equal(runs, want) {
			t.Errorf("runs (requests, rows) = %v, want %v", runs, want)
		}
		for i, c := range calls {
			if errs[i] != nil {
				t.Errorf("call %c: %v", 'A'+i, errs[i])
				continue
			}
			check(t, fmt.Sprintf("call %c", 'A'+i), c, reqs[i])
		}
		p := func(i int) *Call { return calls[i].b.parent }
		if p(0) == nil || p(0) != p(2) || p(1) == nil || p(1) != p(3) || p(1) != p(4) || p(0) == p(1) || p(5) != nil {
			t.Errorf("batch parents A..F = %p %p %p %p %p %p, want A=C, B=D=E, F alone", p(0), p(1), p(2), p(3), p(4), p(5))
		}
		for _, c := range append(calls, plug) {
			s.ReleaseCall(c)
		}
	})

	t.Run("oversized and empty queue and run alone", func(t *testing.T) {
		b := NewBatcher(s, 8)
		g := newBatchGate(b)
		plug := acquire(t, s, mk(1, 3, 0))
		plugDone := g.park(t, plug)
		// The batcher is busy (its leader is parked): these queue like
		// any request, each behind a stackable one of the same width that
		// must not join it.
		reqs := []*batchReq{mk(9, 3, 10), mk(1, 3, 11), mk(64, 3, 20), mk(0, 3, 0), mk(0, 5, 0), mk(9, 4, 30)}
		calls := acquireAll(t, s, reqs)
		dones := make([]chan error, len(calls))
		for i, c := range calls {
			dones[i] = make(chan error, 1)
			go func() { dones[i] <- b.Run(c) }()
			g.waitQueued(t, i+1)
		}
		g.release <- struct{}{}
		if err := <-plugDone; err != nil {
			t.Fatal(err)
		}
		for i, c := range calls {
			r := reqs[i]
			if err := <-dones[i]; err != nil {
				t.Errorf("%v: %v", r.shapes[0], err)
				continue
			}
			check(t, fmt.Sprint(r.shapes[0]), c, r)
			if c.b.parent != nil && i != 1 {
				t.Errorf("%v ran in a batch", r.shapes[0])
			}
			if out := c.Output(0); out.Elements != elementsOf(r.shapes[0]) || !slices.Equal(out.Shape, r.shapes[0]) {
				t.Errorf("%v: output shape %v, %d elements", r.shapes[0], out.Shape, out.Elements)
			}
		}
		for _, c := range append(calls, plug) {
			s.ReleaseCall(c)
		}
		// Each ran alone, in the order they queued, after the plug: a
		// run of one request apiece.
		if runs := g.takeRuns(); !slices.Equal(runs, []batchRun{{1, 1}, {1, 9}, {1, 1}, {1, 64}, {1, 0}, {1, 0}, {1, 9}}) {
			t.Errorf("runs = %v; oversized and empty calls should each run alone, in their turn", runs)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		b := NewBatcher(s, 8)
		var mu sync.Mutex
		var runs []batchRun
		b.OnRun = func(requests, rows int) {
			mu.Lock()
			runs = append(runs, batchRun{requests, rows})
			mu.Unlock()
		}
		const goroutines, iterations = 32, 30
		var batchedReqs, batchedRows atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for gi := range goroutines {
			wg.Go(func() {
				<-start
				rng := rand.New(rand.NewPCG(7, uint64(gi)))
				for i := range iterations {
					rows := rng.IntN(11) // 0..10: some empty, some over max batch
					width := []int{1, 2, 3, 5}[rng.IntN(4)]
					r := mk(rows, width, float32(rowTag(gi, i, 0)))
					c, err := s.AcquireCall()
					if err != nil {
						t.Error(err)
						return
					}
					r.bind(c)
					err = b.Run(c)
					if err == nil {
						x, y := float32s(r.data[0]), float32s(c.Output(0).Data)
						if out := c.Output(0); !slices.Equal(out.Shape, r.shapes[0]) || len(y) != len(x) {
							err = fmt.Errorf("output shape %v for input %v", out.Shape, r.shapes[0])
						}
						for e := range min(len(x), len(y)) {
							if y[e] != 2*x[e]+1 {
								err = fmt.Errorf("y[%d] = %v for x = %v", e, y[e], x[e])
								break
							}
						}
					}
					s.ReleaseCall(c)
					if err != nil {
						t.Errorf("goroutine %d request %d %v: %v", gi, i, r.shapes[0], err)
						return
					}
					// OnRun sees every run, solo runs included.
					batchedReqs.Add(1)
					batchedRows.Add(int64(rows))
				}
			})
		}
		close(start)
		wg.Wait()
		var reqs, rows, multi int
		for _, r := range runs {
			reqs += r.requests
			rows += r.rows
			if r.rows > 8 && r.requests > 1 {
				t.Errorf("a shared run of %d rows exceeds max batch 8", r.rows)
			}
			if r.requests > 1 {
				multi++
			}
		}
		if int64(reqs) != batchedReqs.Load() || int64(rows) != batchedRows.Load() {
			t.Errorf("OnRun saw %d requests, %d rows; want %d, %d", reqs, rows, batchedReqs.Load(), batchedRows.Load())
		}
		t.Logf("%d runs, %d of them of several requests", len(runs), multi)
	})
}

func TestBatchable(t *testing.T) {
	for _, name := range []string{"elementwise", "fraud", "mlp", "cnn", "multi_output"} {
		s := openDemo(t, name)
		if err := Batchable(s.Inputs, s.Outputs); err != nil {
			t.Errorf("Batchable(%s) = %v, want nil", name, err)
		}
	}
	for name, want := range map[string]string{
		"dtypes_misc": `"text" is BYTES`,
		"scalar":      `input "x" has shape []`,
		"constant":    "without inputs",
	} {
		s := openDemo(t, name)
		if err := Batchable(s.Inputs, s.Outputs); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Batchable(%s) = %v, want an error containing %q", name, err, want)
		}
	}
	ok := TensorInfo{"x", FP32, []int64{-1, 4}}
	for _, tc := range []struct {
		ins, outs []TensorInfo
		want      string
	}{
		{[]TensorInfo{ok}, []TensorInfo{{"y", FP32, []int64{-1}}}, ""},
		{[]TensorInfo{ok, {"z", BOOL, []int64{-1, 2, 2}}}, []TensorInfo{{"y", INT64, []int64{-1, -1}}}, ""},
		{[]TensorInfo{ok}, nil, ""},
		{nil, []TensorInfo{{"y", FP32, []int64{-1}}}, "without inputs"},
		{[]TensorInfo{{"x", FP32, []int64{8, 4}}}, []TensorInfo{ok}, `input "x" has shape [8 4]`},
		{[]TensorInfo{{"x", FP32, []int64{4, -1}}}, []TensorInfo{ok}, `input "x" has shape [4 -1]`},
		{[]TensorInfo{{"x", FP32, []int64{}}}, []TensorInfo{ok}, `input "x" has shape []`},
		{[]TensorInfo{ok, {"s", BYTES, []int64{-1, 1}}}, []TensorInfo{ok}, `input "s" is BYTES`},
		{[]TensorInfo{ok}, []TensorInfo{ok, {"s", BYTES, []int64{-1}}}, `output "s" is BYTES`},
		{[]TensorInfo{ok}, []TensorInfo{{"y", FP32, []int64{}}}, `output "y" has shape []`},
		{[]TensorInfo{ok}, []TensorInfo{ok, {"y", FP32, []int64{2, 3}}}, `output "y" has shape [2 3]`},
		{[]TensorInfo{ok}, []TensorInfo{{"y", FP32, []int64{1, -1}}}, `output "y" has shape [1 -1]`},
	} {
		err := Batchable(tc.ins, tc.outs)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Batchable(%v, %v) = %v, want nil", tc.ins, tc.outs, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Batchable(%v, %v) = %v, want an error containing %q", tc.ins, tc.outs, err, tc.want)
		}
	}
}

// TestBatcherSelectOutput: members of one batch each get exactly the
// outputs they selected, in their order.
func TestBatcherSelectOutput(t *testing.T) {
	s := openDemo(t, "multi_output")
	mk := func(rows int, rng *rand.Rand, sel []int) *batchReq {
		r := floatReq([]int64{int64(rows), 5}, randomFloats(rng, 5*rows, 4))
		r.sel = sel
		return r
	}
	check := func(t *testing.T, name string, c *Call, r *batchReq) {
		t.Helper()
		want := r.sel
		if len(want) == 0 {
			want = []int{0, 1, 2}
		}
		got := collect(c)
		if !slices.Equal(got.sel, want) {
			t.Errorf("%s: Selected() = %v, want %v", name, got.sel, want)
			return
		}
		for k, o := range want {
			if got.infos[k] != &s.Outputs[o] || got.dts[k] != s.Outputs[o].DataType {
				t.Errorf("%s: Output(%d) is %s %s, want %s", name, k, got.infos[k].Name, got.dts[k], s.Outputs[o].Name)
			}
		}
		ref, err := solo(s, r)
		if err != nil {
			t.Errorf("%s: solo run: %v", name, err)
			return
		}
		if _, err := compareRes(got, ref, 0); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	t.Run("one batch", func(t *testing.T) {
		b := NewBatcher(s, 64)
		g := newBatchGate(b)
		sels := [][]int{{2, 0}, {1}, nil, {0, 1, 2}, {2}, {1, 2, 0}, {0}}
		reqs := make([]*batchReq, len(sels))
		calls := make([]*Call, len(sels))
		for i, sel := range sels {
			reqs[i] = mk(1+i%3, rng, sel)
			calls[i] = acquire(t, s, reqs[i])
		}
		plug := acquire(t, s, mk(1, rng, []int{1}))
		errs := g.stack(t, plug, calls)
		if runs := g.takeRuns(); len(runs) != 2 || runs[1].requests != len(sels) {
			t.Errorf("runs = %v, want the plug then all %d calls in one", runs, len(sels))
		}
		for i, c := range calls {
			if errs[i] != nil {
				t.Errorf("call %d: %v", i, errs[i])
				continue
			}
			check(t, fmt.Sprintf("call %d selecting %v", i, sels[i]), c, reqs[i])
		}
		for _, c := range append(calls, plug) {
			s.ReleaseCall(c)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		b := NewBatcher(s, 64)
		sels := [][]int{{2, 0}, {1}, nil, {0, 1, 2}, {2}, {1, 2, 0}, {0}, {2, 1}}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for gi := range 16 {
			wg.Go(func() {
				<-start
				rng := rand.New(rand.NewPCG(5, uint64(gi)))
				for i := range 20 {
					r := mk(1+rng.IntN(8), rng, sels[(gi+i)%len(sels)])
					c, err := s.AcquireCall()
					if err != nil {
						t.Error(err)
						return
					}
					r.bind(c)
					if err := b.Run(c); err != nil {
						t.Error(err)
					} else {
						check(t, fmt.Sprintf("goroutine %d request %d selecting %v", gi, i, r.sel), c, r)
					}
					s.ReleaseCall(c)
				}
			})
		}
		close(start)
		wg.Wait()
	})
}

func TestBatcherUnboundInput(t *testing.T) {
	s := openDemo(t, "elementwise")
	b := NewBatcher(s, 8)
	g := newBatchGate(b)
	c, err := s.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Run(c); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("Batcher.Run with no input = %v; want an error naming \"x\"", err)
	}
	s.ReleaseCall(c)

	// While the batcher is busy, an unbound call fails at once instead of
	// queueing, and does not disturb the batch that forms.
	plug := acquire(t, s, floatReq([]int64{1, 4}, []float32{1, 2, 3, 4}))
	plugDone := g.park(t, plug)
	c, err = s.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Run(c); err == nil {
		t.Error("Batcher.Run with no input while busy: no error")
	}
	s.ReleaseCall(c)
	if n := g.queued(); n != 0 {
		t.Errorf("%d calls queued after an unbound call", n)
	}
	g.release <- struct{}{}
	if err := <-plugDone; err != nil {
		t.Fatal(err)
	}
	s.ReleaseCall(plug)
	for range 3 {
		c := acquire(t, s, floatReq([]int64{1, 4}, []float32{1, 2, 3, 4}))
		if err := b.Run(c); err != nil {
			t.Fatal(err)
		}
		if y := float32s(c.Output(0).Data); !slices.Equal(y, []float32{3, 5, 7, 9}) {
			t.Errorf("y = %v after an unbound call", y)
		}
		s.ReleaseCall(c)
	}

	// A model with several inputs names the one missing.
	m := openDemo(t, "dtypes_float")
	mb := NewBatcher(m, 8)
	c, err = m.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	c.Input(m.InputIndex([]byte("f16")), FP16, []int64{1}, 1)
	c.Input(m.InputIndex([]byte("f64")), FP64, []int64{1}, 1)
	if err := mb.Run(c); err == nil || !strings.Contains(err.Error(), `"f32"`) {
		t.Errorf("Batcher.Run without f32 = %v; want an error naming \"f32\"", err)
	}
	m.ReleaseCall(c)
}

// TestBatcherBatchError: when a stacked run fails (here the model does not
// keep dimension 0 as the batch), every member gets the error, and the
// batcher and its pooled calls stay usable.
func TestBatcherBatchError(t *testing.T) {
	g := demomodels.NewGraph("transpose")
	g.Input("x", demomodels.Float, -1, -1)
	g.AddNode("Transpose", []string{"x"}, []string{"y"})
	g.Output("y", demomodels.Float, -1, -1)
	// Closed by hand: if a member never returns, Close would wait for ever.
	s := openGraphNoClose(t, g)
	if err := Batchable(s.Inputs, s.Outputs); err != nil {
		t.Fatalf("Batchable: %v", err)
	}
	b := NewBatcher(s, 8)
	gate := newBatchGate(b)
	reqs := []*batchReq{
		floatReq([]int64{1, 3}, []float32{1, 2, 3}),
		floatReq([]int64{1, 3}, []float32{4, 5, 6}),
	}
	for round := range 3 {
		calls := []*Call{acquire(t, s, reqs[0]), acquire(t, s, reqs[1])}
		plug := acquire(t, s, reqs[0])
		errs, stuck := gate.stackWithin(t, plug, calls, 2*time.Second)
		if len(stuck) > 0 {
			// The session is left open: its batcher is wedged.
			t.Fatalf("round %d: calls %v never returned; errors %v", round, stuck, errs)
		}
		for i, err := range errs {
			if err == nil || !strings.Contains(err.Error(), "does not keep dimension 0") {
				t.Errorf("round %d call %d: %v; want the batch's error", round, i, err)
			}
		}
		for _, c := range append(calls, plug) {
			s.ReleaseCall(c)
		}
		// Alone, each works.
		for _, r := range reqs {
			c := acquire(t, s, r)
			if err := b.Run(c); err != nil {
				t.Fatalf("alone: %v", err)
			}
			if out := c.Output(0); !slices.Equal(out.Shape, []int64{3, 1}) || !slices.Equal(float32s(out.Data), float32s(r.data[0])) {
				t.Errorf("alone: %v %v", out.Shape, float32s(out.Data))
			}
			s.ReleaseCall(c)
		}
	}
	s.Close()
}

// TestBatcherCloseWaits: Close waits for calls that are queued or stacked,
// which still complete correctly.
func TestBatcherCloseWaits(t *testing.T) {
	s, err := testEnv(t).NewSession(writeDemoModel(t, t.TempDir(), "elementwise"), SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := NewBatcher(s, 64)
	g := newBatchGate(b)
	one := func(base float32) *batchReq {
		return floatReq([]int64{2, 4}, []float32{base, base + 1, base + 2, base + 3, base + 4, base + 5, base + 6, base + 7})
	}
	plug := acquire(t, s, one(0))
	plugDone := g.park(t, plug)
	reqs := []*batchReq{one(10), one(20), one(30)}
	calls := make([]*Call, len(reqs))
	done := make(chan int, len(reqs))
	for i, r := range reqs {
		calls[i] = acquire(t, s, r)
		go func() {
			if err := b.Run(calls[i]); err != nil {
				t.Errorf("call %d: %v", i, err)
			}
			done <- i
		}()
		g.waitQueued(t, i+1)
	}
	closed := startClose(t, s, "with calls queued")
	g.release <- struct{}{}
	if err := <-plugDone; err != nil {
		t.Fatal(err)
	}
	for range reqs {
		<-done
	}
	for i, c := range calls {
		if c.b.parent == nil || c.b.parent != calls[0].b.parent {
			t.Errorf("call %d was not stacked with call 0", i)
		}
		x, y := float32s(reqs[i].data[0]), float32s(c.Output(0).Data)
		for e := range x {
			if y[e] != 2*x[e]+1 {
				t.Errorf("call %d: y[%d] = %v for x = %v", i, e, y[e], x[e])
			}
		}
	}
	for _, c := range append([]*Call{plug}, calls[:2]...) {
		s.ReleaseCall(c)
	}
	select {
	case <-closed:
		t.Fatal("Close returned while a batch member was unreleased")
	case <-time.After(50 * time.Millisecond):
	}
	// The last member still reads the shared outputs.
	if y := float32s(calls[2].Output(0).Data); y[0] != 61 {
		t.Errorf("last member's y[0] = %v, want 61", y[0])
	}
	s.ReleaseCall(calls[2])
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after every call was released")
	}
}

// TestBatcherCloseUnderLoad closes a session while goroutines keep sending
// through its batcher.
func TestBatcherCloseUnderLoad(t *testing.T) {
	s, err := testEnv(t).NewSession(writeDemoModel(t, t.TempDir(), "elementwise"), SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := NewBatcher(s, 16)
	var served atomic.Int64
	var wg sync.WaitGroup
	for gi := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				c, err := s.AcquireCall()
				if err == errSessionClosed {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				x := []float32{float32(gi), float32(i), 1, 2}
				putFloat32s(c.Input(0, FP32, []int64{1, 4}, 4), x)
				err = b.Run(c)
				if err == nil {
					if y := float32s(c.Output(0).Data); y[0] != 2*x[0]+1 || y[1] != 2*x[1]+1 {
						err = fmt.Errorf("y = %v for x = %v", y, x)
					}
				}
				s.ReleaseCall(c)
				if err != nil {
					t.Error(err)
					return
				}
				served.Add(1)
			}
		})
	}
	for served.Load() < 200 {
		time.Sleep(time.Millisecond)
	}
	s.Close()
	wg.Wait()
	s.Close()
}

// TestBatcherReleaseOrder: members of a batch release in any order; the
// shared batch call lives until the last one and is freed exactly once.
func TestBatcherReleaseOrder(t *testing.T) {
	s := openDemo(t, "elementwise")
	b := NewBatcher(s, 64)
	g := newBatchGate(b)
	rng := rand.New(rand.NewPCG(11, 12))
	iterations := 1000
	if testing.Short() {
		iterations = 200
	}
	plugReq := floatReq([]int64{1, 4}, []float32{0, 0, 0, 0})
	for it := range iterations {
		n := 2 + rng.IntN(4)
		reqs := make([]*batchReq, n)
		calls := make([]*Call, n)
		for i := range n {
			rows := 1 + rng.IntN(4)
			x := make([]float32, 4*rows)
			for k := range x {
				x[k] = float32(it*100+i*10) + float32(k)*0.25
			}
			reqs[i] = floatReq([]int64{int64(rows), 4}, x)
			calls[i] = acquire(t, s, reqs[i])
		}
		plug := acquire(t, s, plugReq)
		errs := g.stack(t, plug, calls)
		s.ReleaseCall(plug)
		parent := calls[0].b.parent
		if parent == nil {
			t.Fatalf("iteration %d: call 0 was not stacked", it)
		}
		if got := parent.b.refs.Load(); got != int32(n) {
			t.Fatalf("iteration %d: batch refs = %d, want %d", it, got, n)
		}
		checkCall := func(i int) {
			t.Helper()
			if errs[i] != nil {
				t.Fatalf("iteration %d call %d: %v", it, i, errs[i])
			}
			if calls[i].b.parent != parent {
				t.Fatalf("iteration %d: call %d has parent %p, want %p", it, i, calls[i].b.parent, parent)
			}
			x, y := float32s(reqs[i].data[0]), float32s(calls[i].Output(0).Data)
			if len(y) != len(x) {
				t.Fatalf("iteration %d call %d: %d outputs for %d inputs", it, i, len(y), len(x))
			}
			for e := range x {
				if y[e] != 2*x[e]+1 {
					t.Fatalf("iteration %d call %d: y[%d] = %v for x = %v", it, i, e, y[e], x[e])
				}
			}
		}
		for i := range n {
			checkCall(i)
		}
		order := rng.Perm(n)
		if it%2 == 0 {
			// One at a time: after each release the others still read
			// their rows, and the batch call is not yet freed.
			for k, i := range order {
				s.ReleaseCall(calls[i])
				left := int32(n - k - 1)
				if got := parent.b.refs.Load(); got != left {
					t.Fatalf("iteration %d: refs = %d after %d releases, want %d", it, got, k+1, left)
				}
				if left > 0 && !parent.ran {
					t.Fatalf("iteration %d: batch call freed with %d members left", it, left)
				}
				for _, j := range order[k+1:] {
					checkCall(j)
				}
			}
		} else {
			// All at once, from their own goroutines.
			var wg sync.WaitGroup
			for _, i := range order {
				wg.Go(func() {
					for range (it*7 + i*3) % 5 {
						goruntime.Gosched()
					}
					s.ReleaseCall(calls[i])
				})
			}
			wg.Wait()
		}
		if got := parent.b.refs.Load(); got != 0 || parent.ran || parent.b.parent != nil {
			t.Fatalf("iteration %d: after every release the batch call has refs %d, ran %v", it, got, parent.ran)
		}
	}
}

// TestBatcherRunAllocs: a request through the batcher, like one through
// Call.Run, allocates nothing (checked without -race only: the race
// detector allocates on its own).
func TestBatcherRunAllocs(t *testing.T) {
	s := openDemo(t, "elementwise")
	b := NewBatcher(s, 64)
	var runs atomic.Int64
	b.OnRun = func(int, int) { runs.Add(1) }
	x := []float32{1, 2, 3, 4}
	shape := []int64{1, 4}
	measure := func(run func(*Call) error) float64 {
		once := func() {
			c, err := s.AcquireCall()
			if err != nil {
				t.Fatal(err)
			}
			putFloat32s(c.Input(0, FP32, shape, 4), x)
			if err := run(c); err != nil {
				t.Fatal(err)
			}
			if c.Output(0).Elements != 4 {
				t.Fatal("wrong output")
			}
			s.ReleaseCall(c)
		}
		once()
		return testing.AllocsPerRun(200, once)
	}
	plain := measure((*Call).Run)
	batched := measure(b.Run)
	if runs.Load() == 0 {
		t.Fatal("the batcher never ran")
	}
	if raceEnabled() {
		// The race detector's own allocations vary from run to run.
		t.Logf("with -race: Batcher.Run allocates %v times per request, Call.Run %v", batched, plain)
		return
	}
	if batched != 0 || plain != 0 {
		t.Errorf("Batcher.Run allocates %v times per request, Call.Run %v; want 0", batched, plain)
	}
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// TestBatcherLeaderHandoff: with few callers the queue often empties, so
// leadership is often dropped by one leader and taken by a newcomer. Each
// request must still get its own rows, and leaders must not share state
// (run with -race).
func TestBatcherLeaderHandoff(t *testing.T) {
	s := openDemo(t, "elementwise")
	b := NewBatcher(s, 64)
	var runs, multi atomic.Int64
	b.OnRun = func(requests, rows int) {
		runs.Add(1)
		if requests > 1 {
			multi.Add(1)
		}
	}
	const goroutines, iterations = 4, 1500
	var wg sync.WaitGroup
	start := make(chan struct{})
	for gi := range goroutines {
		wg.Go(func() {
			<-start
			for i := range iterations {
				rows := 1 + (gi+i)%3
				x := make([]float32, 4*rows)
				for k := range x {
					x[k] = float32(gi*100000 + i*10 + k)
				}
				c, err := s.AcquireCall()
				if err != nil {
					t.Error(err)
					return
				}
				putFloat32s(c.Input(0, FP32, []int64{int64(rows), 4}, len(x)), x)
				err = b.Run(c)
				if err == nil {
					y := float32s(c.Output(0).Data)
					if len(y) != len(x) {
						err = fmt.Errorf("%d outputs for %d inputs", len(y), len(x))
					}
					for e := range min(len(x), len(y)) {
						if y[e] != 2*x[e]+1 {
							err = fmt.Errorf("y[%d] = %v for x = %v", e, y[e], x[e])
							break
						}
					}
				}
				s.ReleaseCall(c)
				if err != nil {
					t.Errorf("goroutine %d request %d: %v", gi, i, err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	t.Logf("%d requests in %d runs, %d of several requests", goroutines*iterations, runs.Load(), multi.Load())
}

// TestBatcherInputsWithIndependentFirstDims: Batchable accepts a model whose
// inputs each have their own dynamic length (dtypes_int: i8, i16, ... are
// unrelated vectors), and the batcher takes the row count from input 0
// alone. Stacking two such requests must not mix their data.
func TestBatcherInputsWithIndependentFirstDims(t *testing.T) {
	// Per input: lengths of request A and B. i8 (input 0) gives the rows.
	cases := []struct {
		name string
		a, b [8]int
	}{
		// Totals agree (3 and 3): the batch runs, and rows spill between
		// the two requests.
		{"rows spill", [8]int{2, 1, 1, 1, 1, 1, 1, 1}, [8]int{1, 2, 2, 2, 2, 2, 2, 2}},
		// A's i16 has more elements than the batch's rows: the copy into
		// the batch's input overruns it.
		{"overrun", [8]int{1, 3, 3, 3, 3, 3, 3, 3}, [8]int{1, 1, 1, 1, 1, 1, 1, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Not closed at cleanup: a wedged batcher would make Close
			// wait for ever.
			s, err := testEnv(t).NewSession(writeDemoModel(t, t.TempDir(), "dtypes_int"), SessionOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := Batchable(s.Inputs, s.Outputs); err != nil {
				t.Logf("Batchable(dtypes_int) = %v", err)
				s.Close()
				return // refusing such models is a fine fix
			}
			mk := func(lens [8]int, base byte) *batchReq {
				r := &batchReq{}
				for i, in := range s.Inputs {
					size := in.DataType.Size()
					d := make([]byte, lens[i]*size)
					for k := range d {
						d[k] = base + byte(16*i+k)
					}
					r.dts = append(r.dts, in.DataType)
					r.shapes = append(r.shapes, []int64{int64(lens[i])})
					r.data = append(r.data, d)
				}
				return r
			}
			reqs := []*batchReq{mk(tc.a, 0x10), mk(tc.b, 0x80)}
			refs := []batchRes{mustSolo(t, s, reqs[0]), mustSolo(t, s, reqs[1])}
			batcher := NewBatcher(s, 8)
			gate := newBatchGate(batcher)
			calls := []*Call{acquire(t, s, reqs[0]), acquire(t, s, reqs[1])}
			plug := acquire(t, s, mk([8]int{1, 1, 1, 1, 1, 1, 1, 1}, 0))
			errs, stuck := gate.stackWithin(t, plug, calls, 2*time.Second)
			if len(stuck) > 0 {
				// The session is left open: its batcher is wedged.
				t.Fatalf("calls %v never returned (errors %v)", stuck, errs)
			}
			defer func() {
				for _, c := range append(calls, plug) {
					s.ReleaseCall(c)
				}
				s.Close()
			}()
			for i, c := range calls {
				name := string(rune('A' + i))
				if errs[i] != nil {
					t.Errorf("request %s: Batcher.Run: %v; alone it succeeds", name, errs[i])
					continue
				}
				if _, err := compareRes(collect(c), refs[i], 0); err != nil {
					t.Errorf("request %s (input lengths %v): batched result differs from its solo run: %v", name, reqs[i].shapes, err)
				}
			}
			t.Logf("runs: %v", gate.takeRuns())
		})
	}
}

// TestRepositoryMaxBatchSize: max_batch_size in config.yaml gives a version
// a batcher when the model can be batched, and makes it unavailable, with
// the reason, when it cannot.
func TestRepositoryMaxBatchSize(t *testing.T) {
	b := newRepoBuilder(t)
	b.model("batched", "1", "elementwise")
	b.config("batched", "max_batch_size: 8\n")
	b.model("plain", "1", "elementwise")
	b.model("multi", "1", "multi_output")
	b.config("multi", "max_batch_size: 16\n")
	b.model("strings", "1", "dtypes_misc")
	b.config("strings", "max_batch_size: 4\n")
	b.model("scalar", "1", "scalar")
	b.config("scalar", "max_batch_size: 2\n")
	b.model("constant", "1", "constant")
	b.config("constant", "max_batch_size: 2\n")
	// A config that fixes the first dimension leaves nothing to stack.
	b.model("fixed", "1", "elementwise")
	b.config("fixed", "max_batch_size: 8\ninputs:\n- name: x\n  shape: [8, -1]\n")
	r, _ := b.load()

	for name, maxBatch := range map[string]int{"batched": 8, "multi": 16} {
		v := r.Models[name].Version(1)
		if st, why := v.State(); st != Ready {
			t.Errorf("%s is %s: %s", name, st, why)
			continue
		}
		if v.Batcher == nil || v.Batcher.o.MaxBatch != maxBatch || v.Batcher.sessions[0] != v.Session {
			t.Errorf("%s: Batcher = %+v, want one of max batch %d on its session", name, v.Batcher, maxBatch)
		}
	}
	// Without max_batch_size the version queues without stacking, as
	// many runs at once as the process has cores.
	if v := r.Models["plain"].Version(1); v.Batcher == nil || v.Batcher.Stacks() || len(v.Batcher.idle) != goruntime.GOMAXPROCS(0) {
		t.Errorf("plain: Batcher = %+v, want a solo queue with %d slots", v.Batcher, goruntime.GOMAXPROCS(0))
	}
	for name, want := range map[string]string{
		"strings":  `max_batch_size is 4 but input "text" is BYTES`,
		"scalar":   `max_batch_size is 2 but input "x" has shape []`,
		"constant": "max_batch_size is 2 but a model without inputs",
		"fixed":    `max_batch_size is 8 but input "x" has shape [8 4]`,
	} {
		v := r.Models[name].Version(1)
		st, why := v.State()
		if st != Unavailable || !strings.Contains(why, want) {
			t.Errorf("%s is %s (%q), want unavailable because %q", name, st, why, want)
		}
		if v.Session != nil || v.Batcher != nil {
			t.Errorf("%s: unavailable but holds a session or batcher", name)
		}
	}

	// Version.Run goes through the batcher, stacking or not, and stamps
	// Started.
	for _, name := range []string{"batched", "plain"} {
		v := r.Models[name].Version(1)
		var runs atomic.Int64
		if v.Batcher != nil {
			v.Batcher.OnRun = func(int, int) { runs.Add(1) }
		}
		var wg sync.WaitGroup
		for gi := range 8 {
			wg.Go(func() {
				for i := range 20 {
					c, err := v.Session.AcquireCall()
					if err != nil {
						t.Error(err)
						return
					}
					x := []float32{float32(gi), float32(i), 0.5, -3}
					putFloat32s(c.Input(0, FP32, []int64{1, 4}, 4), x)
					before := time.Now()
					err = v.Run(c)
					if err == nil {
						if y := float32s(c.Output(0).Data); y[0] != 2*x[0]+1 || y[1] != 2*x[1]+1 || y[3] != -5 {
							err = fmt.Errorf("y = %v for x = %v", y, x)
						} else if c.Started().Before(before) || c.Started().After(time.Now()) {
							err = fmt.Errorf("Started() = %v, outside the call to Run", c.Started())
						}
					}
					v.Session.ReleaseCall(c)
					if err != nil {
						t.Errorf("%s: %v", name, err)
						return
					}
				}
			})
		}
		wg.Wait()
		if runs.Load() == 0 {
			t.Errorf("%s: Version.Run bypassed the batcher", name)
		}
	}
}
