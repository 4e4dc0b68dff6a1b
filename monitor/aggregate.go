package monitor

import (
	"encoding/binary"
	"log/slog"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	rt "github.com/infergate/infergate/runtime"
)

// tabularTensor is an input whose columns a reference file covers.
type tabularTensor struct {
	name  string
	width int
}

// version is one model version's drift state. Everything but the fields
// marked otherwise belongs to the model's aggregator goroutine.
type version struct {
	name  string
	grid  *grid
	index int32

	folds          []fold
	stages         []stage // one a fold; unused (empty) for foldChannels
	features       []feature
	cats           []categorical
	tabular        []int // features a reference file gives, in file column order
	tabularTensors []tabularTensor
	pred           int // predNone, predArgmax, predValue
	predFold       int

	// Reference learnt from served rows: refRows of refTarget so far.
	refRows, refTarget int
	refSource          string
	refFingerprint     string

	window   uint64
	winRows  int
	winStart time.Time

	scratch []float64
	// latency sketches the current window's request latencies, in
	// microseconds (raw, not standardized: relative error is what
	// latency wants); latencies stages them, as a stage does rows.
	latency   *sketch
	latencies []float32

	// folded counts samples; sampled and openRows publish it and
	// winRows to Drift once per drained batch rather than per sample.
	folded   uint64
	sampled  atomic.Uint64
	openRows atomic.Int64

	// Guarded by model.mu: what Drift reads. last points into results:
	// closeWindow fills the other one, then swaps them under the lock.
	// Drift copies the result under the lock, so nothing outside it
	// holds the one being refilled, and closing a window allocates
	// nothing (before, 6.8 KB in 10 allocations, the monitored gateway's
	// only garbage: a collection every few seconds at 64 connections).
	last       *windowResult
	results    [2]windowResult
	dataAlarm  Alarm
	predAlarm  Alarm
	concept    concept
	refReadyAt time.Time
}

// windowResult is a closed window's comparison, unchanged while it is
// version.last.
type windowResult struct {
	ID          uint64
	Start, End  time.Time
	Rows        int
	LatencyP50  time.Duration
	LatencyP99  time.Duration
	Inputs      []FeatureDrift
	Outputs     []FeatureDrift
	DataDrift   bool
	PredDrift   bool
	judgedData  bool
	judgedPreds bool
}

// maxVersions is how many versions of one model the monitor follows: the
// prediction table keeps a version index in 16 bits.
const maxVersions = 1 << 16

// prediction is what a sampled request predicted, kept to join its label.
type prediction struct {
	version int32
	value   float64 // class index (argmax or rounded) or regression value
}

// model is one model's monitor: its tap, its versions and the aggregator
// that owns them.
type model struct {
	name string
	cfg  Config
	task string
	tap  *Tap
	log  *slog.Logger
	dir  string // persistence folder, "" for none

	versions []*version
	th       thresholds

	mu    sync.Mutex // guards the versions' report fields
	preds *predictions
	// keepsPredictions: some version has a prediction to keep, so drain
	// touches the table ahead of fold. touched sinks those loads, which
	// the compiler would otherwise drop.
	keepsPredictions bool
	touched          uint32
	// kept holds the predictions of the batch being folded, nkept of
	// them; drain adds them to preds together (see predictions.addAll).
	kept  [drainBatch]keptPrediction
	nkept int
	// members holds the members of the sample being folded, and part the
	// descriptors of a span's members up to a window's end (foldSpan).
	members [maxSpan]member
	part    [maxTensors]slotTensor
	joined  atomic.Uint64
	missed  atomic.Uint64
	// conceptDirty is set by Feedback when a concept reference completes;
	// the aggregator persists it.
	conceptDirty atomic.Bool

	// busy: samples are arriving, at busyYieldRate a second or more by
	// the last measured rate, or the last drain found some and the
	// aggregator has not parked since; the aggregator's yields then
	// sleep, so that the scheduler polls the network, and otherwise only
	// Gosched (see yieldToRequests). Only the aggregator touches it.
	busy bool

	stop  chan struct{}
	flush chan chan struct{}
	done  chan struct{}
	now   time.Time
}

// Below busyRate requests a second the aggregator parks whenever the
// rings are empty, and the producer that next publishes wakes it
// (Tap.announce): it then folds each request's sample right after the
// request, while the processor is awake for it anyway, and the gateway
// idles between requests as an unmonitored one does. Napping a
// millisecond instead (the first design) woke an idle processor a
// thousand times a second: at 4,000 req/s the monitored gateway's core
// took 0.235 timer interrupts a request napping, 0.043 parked, the
// unmonitored one's 0.035-0.042, at the same CPU a request (bench/README.md,
// fourteenth session). From busyRate on, waking it for every sample would
// cost more than its drains: it naps (napLength), and the producers never
// pay for a wake-up.
//
// The rate that decides is the requests' (the samples' over the sample
// rate), since a wake-up is paid on the processor the requests keep busy.
// Deciding by the samples' (until the seventeenth session), a gateway at
// 40,000 req/s sampling one in ten parked, and its aggregator was woken
// 4,000 times a second on a processor 80% busy: p99 +17.8%, +42.4% and
// +28.9% over the unmonitored gateway's in three runs of RATE=40000
// bench/monitor-cost-builds.sh.
//
// The rate is measured over rateSpan or more of drains, naps and parks:
// long enough that a burst of requests after a stall does not pass for a
// busy gateway, short enough that when traffic stops the aggregator parks
// within one span and a nap, and an idle gateway does not wake but for
// the tick.
const busyRate = 16000

// rateSpan is the shortest time the aggregator measures the rate over.
const rateSpan = 10 * time.Millisecond

// napSamples is how many samples a nap waits for (napLength). Between
// drains the serving code evicts the sketches' lines from the core's
// caches and the next drain reloads them, so the cost falls with the
// number of drains; a drain's steps still yield to requests every
// drainBatch samples.
const napSamples = 384

// napLength is how long the aggregator naps, at rate samples a second:
// until napSamples samples, or a quarter of the ring's slots if fewer,
// have come, within 1 to 16 ms. The first design waited for a quarter
// ring within 1 to 4 ms, which drained 160 samples at a time at 40,000
// req/s sampling every request (the fraud model on one core); with this
// length the monitored gateway's server CPU a request rose 3.9% and 3.2%
// over the unmonitored one's where the first design's rose 5.9% and 2.8%
// (RATE=40000 DURATION=4s bench/monitor-cost-builds.sh, each build
// against itself, two runs; 2.7% and 4.3% against 5.5% and 6.0% in two
// runs the session before): about a point less, within the noise of
// single runs. 4 ms had measured better than 1 at 64 connections
// (throughput +1.2%, +1.0%, -0.1% and +1.9% in four runs), where this
// makes 4.8 ms and measured alike. Sampling one in ten at 40,000 req/s
// (4,000 samples a second, so 16 ms naps), the server CPU a request rose
// 1.9%, 2.5% and 1.0% over the build's unmonitored gateway in three runs,
// where parking (the sample rate deciding) rose -0.3%, 1.7% and 1.6%,
// and 4 ms naps 4.4% in one: napping there costs about a point more than
// parking. What it buys is the worst p99: parked, +17.8%, +42.4% and
// +28.9% in three runs of seven over two sessions (the others -1.5% to
// +2.2%); napping with these naps, at most +10.1% in five (-6.0% to
// +10.1%).
func napLength(rate float64, slots int) time.Duration {
	d := time.Duration(float64(min(slots/4, napSamples)) / rate * float64(time.Second))
	return min(max(d, time.Millisecond), 16*time.Millisecond)
}

// busyYieldRate is the sample rate, per second, from which the
// aggregator's yields sleep rather than Gosched (see yieldToRequests): a
// request a millisecond or more often.
const busyYieldRate = 1000

// tick is how often a parked aggregator wakes to close windows by time
// and persist references.
const tick = time.Second

// run is the aggregator: it drains the rings, folds samples, closes
// windows, and exits when stop closes.
//
// Parked, it waits on the tap's wake channel alone, which producers,
// Flush, shutdown and the ticker (tickParked) all poke: a receive on one
// channel, where a select over the wake, the ticker, flush and stop cost
// 0.35 µs a request at 4,000 req/s in the server's profile (on lines gone
// cold since the last request, and a ticker's channel also enters and
// leaves the timer heap each time a select blocks on it). Flushes and
// stop are therefore looked for after every wake (calls).
func (a *model) run() {
	defer close(a.done)
	nap := time.NewTimer(time.Millisecond)
	defer nap.Stop()
	go a.tickParked()
	slots := a.tap.Capacity()
	a.now = time.Now()
	lastTime := a.now
	// rate is the sample rate measured last, over rateSpan or more; found
	// counts the samples drained since since. napRate is busyRate
	// requests a second in samples.
	found, since, rate := 0, a.now, 0.0
	napRate := busyRate * a.cfg.SampleRate
	for {
		n := a.drain()
		a.now = time.Now()
		if a.now.Sub(lastTime) >= 100*time.Millisecond {
			a.closeByTime()
			lastTime = a.now
			if a.conceptDirty.CompareAndSwap(true, false) {
				for _, v := range a.versions {
					a.persist(v)
				}
			}
		}
		if a.calls() {
			return
		}
		found += n
		if d := a.now.Sub(since); d >= rateSpan {
			rate = float64(found) / d.Seconds()
			found, since = 0, a.now
		}
		a.busy = n > 0 || rate >= busyYieldRate
		if rate >= napRate {
			if n > 0 {
				continue
			}
			nap.Reset(napLength(rate, slots))
			select {
			case <-nap.C:
			case f := <-a.flush:
				a.drainAll()
				close(f)
			case <-a.stop:
				return
			}
			continue
		}
		// Park, even right after a drain that found samples: at this rate
		// the next is most likely a request away, and pending looks again.
		// Setting the flag and then looking closes the race with a
		// producer that published before seeing the flag.
		a.busy = rate >= busyYieldRate // what wakes it may be a lone sample
		a.tap.parked.Store(true)
		if a.pending() {
			a.tap.parked.Store(false)
			continue
		}
		<-a.tap.wake
		a.tap.parked.Store(false)
		// The wake readied this goroutine to run next on the producer's
		// processor, ahead of the requests already runnable there: the
		// members of a batch its leader has just woken, or requests the
		// network poller found. Gosched puts it behind them, so it folds
		// when they have answered. At 4,000 req/s on one core, the time
		// requests spent runnable while the aggregator ran, traced
		// (bench/aggregator-trace.sh): 1.66 and 1.81 µs a request parked
		// in a four-case select, 1.54 and 1.07 on the one channel without
		// this Gosched, 0.18-0.22 with it.
		runtime.Gosched()
	}
}

// calls serves the flushes asked for (Monitor.Flush queues them, then
// pokes the wake channel) and reports whether shutdown asked the
// aggregator to stop. Each look is a non-blocking receive from one
// channel, which takes no lock while the channel is empty.
func (a *model) calls() (stop bool) {
	for {
		select {
		case f := <-a.flush:
			a.drainAll()
			close(f)
		default:
			select {
			case <-a.stop:
				return true
			default:
				return false
			}
		}
	}
}

// tickParked wakes the aggregator every tick, so that a parked one closes
// windows by time and persists references on an idle gateway.
func (a *model) tickParked() {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			a.tap.poke()
		case <-a.stop:
			return
		}
	}
}

// pending reports whether any ring has a published sample.
func (a *model) pending() bool {
	for _, r := range a.tap.stripes {
		if r.next() != nil {
			return true
		}
	}
	return false
}

// drainBatch is how many samples drain takes from a stripe at a time: it
// first touches their prediction buckets, then folds them. The table is
// megabytes and each insert lands on a cold line, whose miss (and, on a
// virtual machine, nested page walk) cost about 0.4 µs one at a time in
// the server's profile; touched together, the misses overlap. drain
// yields the processor after each batch, so a batch is also the longest a
// request sharing the aggregator's core waits for it: 32 samples, about
// 16 µs. In process (BenchmarkServeInferFraudMonitor, -cpu 1, sampling
// every request) the handler's p99 was 52 µs when a drain ran through
// without yielding, 28-40 with batches of 64 and 19-25 with 32, at the
// same time per request. Over HTTP the yield must also let the scheduler
// poll the network (see yieldToRequests).
const drainBatch = 32

// yieldToRequests lets the requests that share the aggregator's processor
// run between its steps (drain's batches, a stage's columns, a window's
// comparisons). runtime.Gosched is not enough over HTTP: it puts the
// aggregator on the global run queue, which the scheduler takes before
// it polls the network, so a request whose socket became readable waited
// for the whole of a window's close or a stage's count. After a few
// hundred milliseconds at a low rate those run on cold lines, and at
// 4,000 req/s they raised the monitored gateway's p99 by 17.5% over the
// unmonitored one's (bench/README.md, eleventh session). A short sleep
// parks the aggregator, so the scheduler polls the network before it
// resumes: p99 -1.9% and +3.9% in two runs of the same measurement, but
// +16.3% and +7.1% in two later ones (twelfth session), whose single
// rounds' ratios ran from 0.4 to 4. Measured since with the two gateways
// alternated every two seconds (bench/monitor-cost-ab.sh): p99 +1.6%
// (pooled pairs) and +3.8% (rounds), where an A/A gave -0.7% and -0.1%
// (bench/README.md, thirteenth session), though the same build measured
// +10.1% and +3.7% on another day (fourteenth session). At 64 connections it costs no
// throughput (an A/B of the two yields: -0.2%), since under load the poll
// finds work at once. But on an idle processor
// the sleep lasts about a millisecond, since the scheduler's blocking
// poll waits in whole milliseconds: a Flush of a full ring took 128 ms,
// and the benchmarks, whose folds no request waits for, measured mostly
// sleep: BenchmarkWindowClose 4.3 ms where its comparisons take 35 µs,
// BenchmarkAggregate 9.8 µs a sample against 0.17. So the sleep is for a
// busy aggregator (model.busy); when no sample has come for a while,
// nobody is likely to be waiting, and Gosched, which returns at once when
// nobody is, lets anyone who is run.
//
// The sleep is 50 µs, not 1: on one core under load the aggregator's
// steps then spread over several of the batcher's runs rather than
// following each other within one, so a drain of a hundred samples or a
// window's close (40 µs) delays many requests a little rather than a few
// by all of it, and the tail moves less. At 64 connections
// (bench/monitor-cost-ab.sh, 8 pairs x 10 rounds, pooled pairs / rounds):
// p99 +8.9% / +6.3% sleeping 1 µs (ca0cbc8), +4.4% / +5.3% and +4.0% /
// +7.5% in two runs sleeping 50; throughput -5.4% / -4.4% against -3.8%
// / -3.8% and -4.1% / -4.1%. Nothing waits for a busy aggregator's step
// to end but its own samples.
func yieldToRequests(busy bool) {
	if busy {
		time.Sleep(50 * time.Microsecond)
		return
	}
	runtime.Gosched()
}

// drain folds up to 1024 samples from every stripe (a span that starts
// before the 1024th is folded whole) and returns how many.
func (a *model) drain() int {
	n := 0
	var touched uint32
	for _, r := range a.tap.stripes {
		for range 1024 / drainBatch {
			k := r.published(drainBatch)
			if k == 0 {
				break
			}
			if a.keepsPredictions {
				for i := range k {
					s, pos := r.at(i)
					switch {
					case s.span < 0:
						// Touched with its span's first slot.
					case s.span > 1 && int(s.span) <= maxSpan:
						for j := range uint64(s.span) {
							touched += a.preds.touch(r.slots[(pos+j)&r.mask].idHash)
						}
					default:
						touched += a.preds.touch(s.idHash)
					}
				}
			}
			for i := range k {
				s, pos := r.at(i)
				switch {
				case s.span < 0:
					// A span's member: folded with the span's first slot.
				case s.span > 1:
					a.foldSpan(r, s, pos)
				default:
					meta, data := r.view(pos)
					a.fold(s, meta, data)
				}
			}
			a.keepPredictions()
			r.releaseN(k)
			n += k
			if k < drainBatch {
				break
			}
			// Let the requests this goroutine shares a processor with run
			// between batches: on one core, a drain of a few hundred
			// samples would otherwise hold each of them up for all of it.
			yieldToRequests(a.busy)
		}
	}
	a.touched = touched
	if n > 0 {
		for _, v := range a.versions {
			v.sampled.Store(v.folded)
			v.openRows.Store(int64(v.winRows))
		}
	}
	return n
}

// keepPredictions adds the predictions fold has kept to the table.
func (a *model) keepPredictions() {
	if a.nkept > 0 {
		a.preds.addAll(a.kept[:a.nkept])
		a.nkept = 0
	}
}

// drainAll folds every published sample and counts every staged row, so
// that what was pushed before it is in the sketches.
func (a *model) drainAll() {
	for a.drain() > 0 {
	}
	for _, v := range a.versions {
		v.flush(a.busy)
	}
	a.now = time.Now()
}

// member is one request's share of a folded sample: a span holds a
// batch's (see slot), a sample of its own one, whose rows are all of it.
type member struct {
	idHash  uint64
	latency time.Duration
	rows    int
}

// fold adds one sample of its own to its version's sketches.
func (a *model) fold(s *slot, meta []slotTensor, data []byte) {
	a.members[0] = member{s.idHash, s.latency, math.MaxInt}
	a.foldMembers(s, meta, data, a.members[:1])
}

// foldSpan folds the span whose first slot, at pos, is s: its members'
// rows at once, each member's latency and prediction its own. Where the
// reference completes or the window closes within the span, it folds the
// members up to that point first, so that windows hold the rows they
// would have held had each member been pushed alone (TestSpansFoldAsSamples).
func (a *model) foldSpan(r *ring, s *slot, pos uint64) {
	n := int(s.span)
	if n > maxSpan || int(pos&r.mask)+n > len(r.slots) || s.version < 0 || int(s.version) >= len(a.versions) {
		return // not a span PushRun makes
	}
	v := a.versions[s.version]
	for i := range n {
		m := &r.slots[(pos+uint64(i))&r.mask]
		a.members[i] = member{m.idHash, m.latency, int(m.rows)}
	}
	meta, data := r.spanView(pos, n)
	ms := a.members[:n]
	done := 0 // rows of the members folded so far
	for len(ms) > 0 {
		room := a.cfg.WindowSize - v.winRows
		if v.refRows < v.refTarget {
			room = v.refTarget - v.refRows
		}
		k, rows := 0, 0
		for k < len(ms) {
			rows += ms[k].rows
			k++
			if rows >= room {
				break
			}
		}
		part := meta
		if k < len(ms) || done > 0 {
			// The members' rows, from done, in every tensor.
			part = a.part[:len(meta)]
			for j, st := range meta {
				part[j] = st
				if st.n == 0 || st.shape[0] <= 0 {
					continue
				}
				rowBytes := st.n / st.shape[0]
				part[j].off = st.off + int32(done)*rowBytes
				part[j].n = int32(rows) * rowBytes
				part[j].shape[0] = int32(rows)
			}
		}
		a.foldMembers(s, part, data, ms[:k])
		ms = ms[k:]
		done += rows
	}
}

// foldMembers adds a sample's rows to its version's sketches, and each
// member's latency and predicted value (of its first row).
func (a *model) foldMembers(s *slot, meta []slotTensor, data []byte, members []member) {
	if s.version < 0 || int(s.version) >= len(a.versions) {
		return
	}
	v := a.versions[s.version]
	v.folded += uint64(len(members))
	for _, m := range members {
		if m.latency > 0 {
			v.stageLatency(float32(float64(m.latency) / float64(time.Microsecond)))
		}
	}
	rows := 0
	for fi := range v.folds {
		f := &v.folds[fi]
		st := &meta[f.spec]
		if st.n == 0 {
			continue
		}
		raw := data[st.off : st.off+st.n]
		var r int
		if st.dtype == rt.FP32 && f.kind != foldChannels {
			// The usual tensors: staged from their bytes, not decoded
			// first.
			r = a.foldFP32(v, fi, raw, members)
		} else {
			r = a.foldDecoded(v, fi, st, raw, members)
		}
		if rows == 0 {
			rows = r
		}
	}
	if v.refRows < v.refTarget {
		v.refRows += rows
		if v.refRows >= v.refTarget {
			// This sample's rows went to the reference: the first
			// window starts with the next sample.
			a.finishServedReference(v)
			return
		}
	}
	v.winRows += rows
	if v.winRows >= a.cfg.WindowSize {
		a.closeWindow(v)
	}
}

// foldFP32 folds an FP32 tensor of columns or classes from its bytes, as
// foldDecoded would after decoding it, and returns its rows.
func (a *model) foldFP32(v *version, fi int, raw []byte, members []member) int {
	f := &v.folds[fi]
	w := f.width
	r := len(raw) / (4 * w)
	raw = raw[:4*r*w]
	v.stages[fi].addFP32(v.features[f.first:f.first+w], raw, a.busy)
	if f.kind == foldClasses {
		c := &v.cats[f.cat]
		for i := range r {
			c.sink[argmax32(raw[4*i*w:4*(i+1)*w])]++
		}
	}
	if fi == v.predFold {
		next := 0
		for _, m := range members {
			if next >= r {
				break
			}
			if m.rows <= 0 {
				continue
			}
			x := raw[4*next*w : 4*(next+1)*w]
			predicted := float64(math.Float32frombits(binary.LittleEndian.Uint32(x)))
			if v.pred == predArgmax {
				predicted = float64(argmax32(x))
			}
			a.keep(m.idHash, v.index, predicted)
			next += min(m.rows, r-next)
		}
	}
	return r
}

// argmax32 is argmax over little-endian float32s.
func argmax32(b []byte) int {
	best, bx := 0, math.Float32frombits(binary.LittleEndian.Uint32(b))
	for i := 4; i+4 <= len(b); i += 4 {
		if x := math.Float32frombits(binary.LittleEndian.Uint32(b[i:])); x > bx {
			best, bx = i/4, x
		}
	}
	return best
}

// foldDecoded folds a tensor that is decoded to float64 first, as many
// rows at a time as the version's scratch holds, and keeps the members'
// predictions if it is the predicted output. It returns the rows.
func (a *model) foldDecoded(v *version, fi int, st *slotTensor, raw []byte, members []member) int {
	f := &v.folds[fi]
	size := st.dtype.Size()
	if size == 0 {
		return 0
	}
	rowElems := f.width
	if f.kind == foldChannels {
		if st.rank < 3 || int(st.shape[1]) != f.width {
			return 0
		}
		for _, d := range st.shape[2:st.rank] {
			rowElems *= int(d)
		}
		if rowElems <= 0 || int(st.shape[0])*rowElems*size != len(raw) {
			return 0
		}
	}
	total := len(raw) / (rowElems * size)
	chunk := cap(v.scratch) / rowElems
	if chunk == 0 {
		return 0
	}
	// next is the first row of members[mi], whose prediction is taken
	// when the chunk holding that row is decoded.
	mi, next := 0, 0
	for row := 0; row < total; {
		k := min(chunk, total-row)
		vals := decode(v.scratch, raw[row*rowElems*size:(row+k)*rowElems*size], st.dtype)
		switch f.kind {
		case foldColumns, foldClasses:
			v.stages[fi].add(v.features[f.first:f.first+f.width], vals, a.busy)
			if f.kind == foldClasses {
				c := &v.cats[f.cat]
				for i := range k {
					c.sink[argmax(vals[i*f.width:(i+1)*f.width])]++
				}
			}
			for fi == v.predFold && mi < len(members) && next < row+k {
				if m := members[mi]; m.rows > 0 {
					x := vals[(next-row)*f.width : (next-row+1)*f.width]
					predicted := x[0]
					if v.pred == predArgmax {
						predicted = float64(argmax(x))
					}
					a.keep(m.idHash, v.index, predicted)
					next += min(m.rows, total-next)
				}
				mi++
			}
		case foldChannels:
			a.foldChannels(v, f, vals, k, rowElems/f.width)
		}
		row += k
	}
	return total
}

// keep adds a member's prediction to the batch that drain adds to the
// table.
func (a *model) keep(idHash uint64, version int32, predicted float64) {
	if a.nkept == len(a.kept) {
		a.keepPredictions()
	}
	a.kept[a.nkept] = keptPrediction{idHash, prediction{version: version, value: predicted}}
	a.nkept++
}

// foldChannels adds the per-channel moments of rows rows, each of width
// channels of inner values.
func (a *model) foldChannels(v *version, f *fold, vals []float64, rows, inner int) {
	for r := range rows {
		for c := range f.width {
			xs := vals[(r*f.width+c)*inner : (r*f.width+c+1)*inner]
			var sum, sq float64
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, x := range xs {
				sum += x
				sq += x * x
				lo, hi = min(lo, x), max(hi, x)
			}
			mean := sum / float64(inner)
			sd := math.Sqrt(max(0, sq/float64(inner)-mean*mean))
			fs := v.features[f.first+4*c : f.first+4*c+4]
			fs[0].add(mean)
			fs[1].add(sd)
			fs[2].add(lo)
			fs[3].add(hi)
		}
	}
}

func argmax(xs []float64) int {
	best := 0
	for i, x := range xs {
		if x > xs[best] {
			best = i
		}
	}
	return best
}

// decode converts little-endian elements to float64 into dst's storage.
// dst is sized at AddModel for the largest region, so this never grows it.
func decode(dst []float64, b []byte, dt rt.DataType) []float64 {
	size := dt.Size()
	if size == 0 {
		return dst[:0]
	}
	n := min(len(b)/size, cap(dst))
	dst = dst[:n]
	switch dt {
	case rt.FP32:
		for i := range dst {
			dst[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		}
	case rt.FP64:
		for i := range dst {
			dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	case rt.FP16:
		for i := range dst {
			dst[i] = float64(rt.Float16ToFloat32(binary.LittleEndian.Uint16(b[2*i:])))
		}
	case rt.BF16:
		for i := range dst {
			dst[i] = float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16))
		}
	case rt.INT8:
		for i := range dst {
			dst[i] = float64(int8(b[i]))
		}
	case rt.UINT8, rt.BOOL:
		for i := range dst {
			dst[i] = float64(b[i])
		}
	case rt.INT16:
		for i := range dst {
			dst[i] = float64(int16(binary.LittleEndian.Uint16(b[2*i:])))
		}
	case rt.UINT16:
		for i := range dst {
			dst[i] = float64(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case rt.INT32:
		for i := range dst {
			dst[i] = float64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
	case rt.UINT32:
		for i := range dst {
			dst[i] = float64(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case rt.INT64:
		for i := range dst {
			dst[i] = float64(int64(binary.LittleEndian.Uint64(b[8*i:])))
		}
	case rt.UINT64:
		for i := range dst {
			dst[i] = float64(binary.LittleEndian.Uint64(b[8*i:]))
		}
	default:
		return dst[:0]
	}
	return dst
}

// finishServedReference freezes the reference of every feature that was
// learning from served rows, and persists it.
func (a *model) finishServedReference(v *version) {
	v.flush(a.busy) // staged rows belong to the reference
	for i := range v.features {
		if !v.features[i].ready {
			v.features[i].setReady()
		}
	}
	for i := range v.cats {
		if !v.cats[i].ready {
			v.cats[i].setReady()
		}
	}
	a.mu.Lock()
	v.refReadyAt = a.now
	a.mu.Unlock()
	// The window that was open while the reference filled compared only
	// file-backed features; start a fresh one so every feature's first
	// window is whole.
	a.resetWindow(v)
	a.persist(v)
}

func (a *model) resetWindow(v *version) {
	// A feature still learning its reference stages into it: count those
	// before the window's counts are cleared.
	v.flush(a.busy)
	for i := range v.features {
		v.features[i].cur.clear()
	}
	for i := range v.cats {
		clear(v.cats[i].cur)
	}
	v.latency.clear()
	v.winRows, v.winStart = 0, a.now
}

// closeByTime closes windows whose duration has passed, if they have
// enough rows to judge.
func (a *model) closeByTime() {
	d := time.Duration(a.cfg.WindowDuration)
	for _, v := range a.versions {
		if v.winStart.IsZero() {
			v.winStart = a.now
		}
		if a.now.Sub(v.winStart) >= d && v.winRows >= minWindowRows(a.cfg.WindowSize) {
			a.closeWindow(v)
		}
	}
}

// compareYield is how many features closeWindow compares between yields:
// about 8 µs (BenchmarkCompareNumeric, 0.9 µs a feature).
const compareYield = 8

// closeWindow compares the current window with the reference, updates
// the alarms, and starts the next window.
func (a *model) closeWindow(v *version) {
	v.flush(a.busy)
	res := &v.results[0]
	if res == v.last {
		res = &v.results[1]
	}
	*res = windowResult{ID: v.window, Start: v.winStart, End: a.now, Rows: v.winRows,
		Inputs: res.Inputs[:0], Outputs: res.Outputs[:0]}
	if v.latency.n > 0 {
		res.LatencyP50 = time.Duration(v.latency.quantile(0.5) * float64(time.Microsecond))
		res.LatencyP99 = time.Duration(v.latency.quantile(0.99) * float64(time.Microsecond))
	}
	var tin, tout int
	for i := range v.features {
		f := &v.features[i]
		if f.ready && f.cur.n > 0 {
			if f.output {
				tout++
			} else {
				tin++
			}
		}
	}
	compared := 0
	for i := range v.features {
		f := &v.features[i]
		if !f.ready || f.cur.n == 0 {
			continue
		}
		if compared++; compared%compareYield == 0 {
			// As drain and stage.count do: on one core, the requests
			// this goroutine shares a processor with wait for no more
			// than about 10 µs of it.
			yieldToRequests(a.busy)
		}
		d := FeatureDrift{Name: f.name}
		tests := tin
		if f.output {
			tests = tout
		}
		compareNumeric(&d, f.refSum, f.cur, tests, a.th)
		d.Wasserstein *= f.scale
		if f.output {
			res.Outputs = append(res.Outputs, d)
			res.PredDrift = res.PredDrift || d.Drifted
			res.judgedPreds = true
		} else {
			res.Inputs = append(res.Inputs, d)
			res.DataDrift = res.DataDrift || d.Drifted
			res.judgedData = true
		}
	}
	for i := range v.cats {
		c := &v.cats[i]
		if !c.ready {
			continue
		}
		d := FeatureDrift{Name: c.name}
		compareCategorical(&d, c.ref, c.cur, a.th)
		if d.Current > 0 {
			res.Outputs = append(res.Outputs, d)
			res.PredDrift = res.PredDrift || d.Drifted
			res.judgedPreds = true
		}
	}
	if !res.judgedData && !res.judgedPreds {
		// Nothing had a reference yet: not a window anyone can read.
		a.resetWindow(v)
		return
	}
	a.mu.Lock()
	v.last = res
	if res.judgedData {
		v.dataAlarm.observe(res.DataDrift, a.cfg.AlarmWindows, a.now)
	}
	if res.judgedPreds {
		v.predAlarm.observe(res.PredDrift, a.cfg.AlarmWindows, a.now)
	}
	a.mu.Unlock()
	v.window++
	a.resetWindow(v)
}
