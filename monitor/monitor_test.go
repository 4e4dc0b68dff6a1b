package monitor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	rt "github.com/infergate/infergate/runtime"
)

const fraudFeatures = 30

// fraudSpec is a fraud-like model: 30 FP32 features in, two class scores
// out.
func fraudSpec(dir string) VersionSpec {
	return VersionSpec{
		Version: "1", Dir: dir,
		Inputs:  []rt.TensorInfo{{Name: "input", DataType: rt.FP32, Shape: []int64{-1, fraudFeatures}}},
		Outputs: []rt.TensorInfo{{Name: "probabilities", DataType: rt.FP32, Shape: []int64{-1, 2}}},
	}
}

// stream makes fraud-like samples: features N(0,1) (plus a shift per
// feature), and a "model" that says fraud when feature 0 is high.
type stream struct {
	r      *rand.Rand
	shift  [fraudFeatures]float64
	in     [fraudFeatures * 4]byte
	out    [8]byte
	x      [fraudFeatures]float64
	s      Sample
	n      int
	prefix string
}

func newStream(seed uint64) *stream {
	g := &stream{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), prefix: "req-"}
	g.s = Sample{
		Version: "1",
		Inputs:  []Tensor{{Name: "input", DataType: rt.FP32, Shape: []int64{1, fraudFeatures}, Data: g.in[:]}},
		Outputs: []Tensor{{Name: "probabilities", DataType: rt.FP32, Shape: []int64{1, 2}, Data: g.out[:]}},
	}
	return g
}

func (g *stream) next() *Sample {
	for j := range fraudFeatures {
		g.x[j] = g.r.NormFloat64() + g.shift[j]
		binary.LittleEndian.PutUint32(g.in[4*j:], math.Float32bits(float32(g.x[j])))
	}
	p := 1 / (1 + math.Exp(-3*g.x[0]))
	binary.LittleEndian.PutUint32(g.out[0:], math.Float32bits(float32(1-p)))
	binary.LittleEndian.PutUint32(g.out[4:], math.Float32bits(float32(p)))
	g.n++
	g.s.Latency = time.Duration(50+g.r.IntN(100)) * time.Microsecond
	g.s.RequestID = strconv.AppendInt([]byte(g.prefix), int64(g.n), 10)
	return &g.s
}

// push pushes n samples, waiting for the aggregator when the ring fills so
// no sample is lost, and returns after the aggregator folded them all.
func push(t *testing.T, m *Monitor, tap *Tap, g *stream, n int) {
	t.Helper()
	for range n {
		s := g.next()
		for !tap.Push(s) {
			m.Flush("fraud")
		}
	}
	m.Flush("fraud")
}

// pushFolded pushes the stream's next sample, waiting for room, and
// returns it once the aggregator has folded it, so a label may follow.
func pushFolded(m *Monitor, tap *Tap, g *stream) *Sample {
	s := g.next()
	for !tap.Push(s) {
		m.Flush("fraud")
	}
	m.Flush("fraud")
	return s
}

// pushOrdered pushes n samples one at a time, each folded before the
// next: with several stripes the aggregator drains in stripe order, and a
// test whose assertions hang on which samples form the reference (and
// its transform) must not depend on the scheduler.
func pushOrdered(t *testing.T, m *Monitor, tap *Tap, g *stream, n int) {
	t.Helper()
	for range n {
		if !tap.Push(g.next()) {
			t.Fatal("push refused")
		}
		m.Flush("fraud")
	}
}

func newFraud(t *testing.T, cfg Config) (*Monitor, *Tap) {
	t.Helper()
	m := New("", nil)
	t.Cleanup(m.Close)
	if cfg.SampleRate == 0 {
		cfg.SampleRate = 1
	}
	tap, err := m.AddModel("fraud", cfg, []VersionSpec{fraudSpec("")})
	if err != nil {
		t.Fatal(err)
	}
	return m, tap
}

func report(t *testing.T, m *Monitor) VersionReport {
	t.Helper()
	r, ok := m.Drift("fraud")
	if !ok || len(r.Versions) != 1 {
		t.Fatalf("Drift(fraud) = %+v, %v", r, ok)
	}
	return r.Versions[0]
}

// A shift of half a standard deviation in one of 30 features is flagged
// in the first window that sees it, for that feature only, and raises the
// data alarm within 2,000 samples.
func TestDriftOneFeature(t *testing.T) {
	const window = 500
	m, tap := newFraud(t, Config{WindowSize: window, ReferenceSize: 1000})
	g := newStream(1)
	pushOrdered(t, m, tap, g, 1000+2*window) // reference, then two clean windows
	v := report(t, m)
	if !v.Reference.Complete || v.Window == nil || v.Window.DataDrift || v.DataAlarm.Active {
		t.Fatalf("before the shift: %+v", v)
	}
	const drifted = 7
	g.shift[drifted] = 0.5
	for seen := window; ; seen += window {
		pushOrdered(t, m, tap, g, window)
		v = report(t, m)
		for _, f := range v.Window.Features {
			if want := f.Name == "input["+strconv.Itoa(drifted)+"]"; f.Drifted != want {
				t.Fatalf("after %d shifted samples, feature %s drifted=%v (psi %.3f js %.3f ks %.3f p %.2g)", seen, f.Name, f.Drifted, f.PSI, f.JS, f.KS, f.KSPValue)
			}
		}
		if v.DataAlarm.Active {
			t.Logf("alarm after %d shifted samples", seen)
			break
		}
		if seen >= 2000 {
			t.Fatalf("no data alarm after %d shifted samples: %+v", seen, v.DataAlarm)
		}
	}
	if v.PredictionAlarm.Active {
		t.Fatal("prediction alarm raised though the model only reads feature 0")
	}
}

// Two hundred windows of the reference distribution raise at most two
// false alarms.
func TestDriftNoFalseAlarms(t *testing.T) {
	const window, windows = 500, 200
	m, tap := newFraud(t, Config{WindowSize: window, ReferenceSize: 1000})
	g := newStream(2)
	push(t, m, tap, g, 1000)
	flagged := 0
	for range windows {
		push(t, m, tap, g, window)
		if report(t, m).Window.DataDrift {
			flagged++
		}
	}
	v := report(t, m)
	if v.Window.ID != windows-1 {
		t.Fatalf("last window id %d, want %d", v.Window.ID, windows-1)
	}
	t.Logf("%d of %d windows flagged, %d data alarms, %d prediction alarms", flagged, windows, v.DataAlarm.Raised, v.PredictionAlarm.Raised)
	if v.DataAlarm.Raised+v.PredictionAlarm.Raised > 2 {
		t.Fatalf("%d false alarms in %d clean windows", v.DataAlarm.Raised+v.PredictionAlarm.Raised, windows)
	}
}

// When the relationship between inputs and labels flips for half the
// inputs, the concept alarm rises while the inputs stay undrifted.
func TestConceptDrift(t *testing.T) {
	const fw = 200
	m, tap := newFraud(t, Config{WindowSize: 500, ReferenceSize: 500, FeedbackWindow: fw})
	g := newStream(3)
	label := func(flip bool) {
		s := pushFolded(m, tap, g)
		// The truth: fraud when feature 0 is high, with 5% noise; after
		// the flip, inverted whenever feature 1 is positive.
		y := 0.0
		if g.x[0] > 0 {
			y = 1
		}
		if g.r.Float64() < 0.05 || (flip && g.x[1] > 0) {
			y = 1 - y
		}
		if err := m.Feedback("fraud", s.RequestID, y); err != nil {
			t.Fatal(err)
		}
	}
	for range fw + 3*fw {
		label(false)
	}
	v := report(t, m)
	if v.ConceptAlarm.Active || v.Concept.Reference == nil || *v.Concept.Reference < 0.9 {
		t.Fatalf("before the flip: %+v", v.Concept)
	}
	for range 3 * fw {
		label(true)
	}
	v = report(t, m)
	if !v.ConceptAlarm.Active {
		t.Fatalf("no concept alarm after the flip: %+v %+v", v.Concept, v.ConceptAlarm)
	}
	if v.DataAlarm.Active || v.DataAlarm.Raised > 0 || v.PredictionAlarm.Raised > 0 {
		t.Fatalf("input or prediction drift alarm on unchanged inputs: %+v %+v", v.DataAlarm, v.PredictionAlarm)
	}
	t.Logf("accuracy %.3f -> %.3f", *v.Concept.Reference, *v.Concept.Current)
	r, _ := m.Drift("fraud")
	if r.Labels.Joined != 7*fw || r.Labels.Unmatched != 0 {
		t.Fatalf("labels %+v, want %d joined", r.Labels, 7*fw)
	}
}

func TestFeedbackErrors(t *testing.T) {
	m, tap := newFraud(t, Config{SampleRate: 0.5, FeedbackCapacity: 4})
	f := func(id string, label float64, want error) {
		t.Helper()
		err := m.Feedback("fraud", []byte(id), label)
		if !errors.Is(err, want) {
			t.Fatalf("Feedback(%q, %v) = %v, want %v", id, label, err, want)
		}
		if err != nil && !strings.Contains(err.Error(), id) {
			t.Fatalf("error %q does not name the request", err)
		}
	}
	g := newStream(4)
	var sampled []string
	var unsampled string
	for len(sampled) < 40 || unsampled == "" {
		s := g.next()
		if !tap.Sampled(s.RequestID) {
			unsampled = string(s.RequestID)
			continue
		}
		if !tap.Push(s) {
			t.Fatal("push refused")
		}
		// One at a time: stripes drain in any order, and the test
		// needs the predictions kept in push order.
		m.Flush("fraud")
		sampled = append(sampled, string(s.RequestID))
	}
	if err := m.Feedback("nope", []byte("x"), 1); !errors.Is(err, ErrUnknownModel) {
		t.Fatalf("unknown model: %v", err)
	}
	f(unsampled, 1, ErrNotSampled)
	last := sampled[len(sampled)-1]
	// Capacity 4 keeps 8 entries: the twelfth prediction from the end was
	// evicted, recently enough to be remembered.
	f(sampled[len(sampled)-12], 1, ErrExpired)
	f(last, 0.5, ErrBadLabel)
	f(last, 1, nil)
	f(last, 1, ErrUnknownRequest) // labelled already
	for i := 0; ; i++ {
		id := "never-" + strconv.Itoa(i)
		if tap.Sampled([]byte(id)) {
			f(id, 1, ErrUnknownRequest)
			break
		}
	}
	r, _ := m.Drift("fraud")
	if r.Labels.Joined != 1 || r.Labels.Unmatched != 4 {
		t.Fatalf("labels %+v, want 1 joined, 4 unmatched", r.Labels)
	}
}

// Sampling is a function of the id alone: two taps agree, and the rate is
// honoured.
func TestSampled(t *testing.T) {
	a := newTap(0.25, []string{"1"}, []tensorSpec{{name: "x", max: 4}}, 1, 64, 4)
	b := newTap(0.25, []string{"1"}, []tensorSpec{{name: "x", max: 4}}, 1, 64, 4)
	n := 0
	for i := range 100000 {
		id := []byte("request-" + strconv.Itoa(i))
		if a.Sampled(id) != b.Sampled(id) {
			t.Fatalf("taps disagree on %q", id)
		}
		if a.Sampled(id) {
			n++
		}
	}
	if n < 24000 || n > 26000 {
		t.Fatalf("sampled %d of 100000 at rate 0.25", n)
	}
	var nilTap *Tap
	if nilTap.Sampled([]byte("x")) || nilTap.Push(&Sample{}) {
		t.Fatal("a nil tap sampled")
	}
	if newTap(0, []string{"1"}, nil, 0, 64, 4).Sampled([]byte("x")) {
		t.Fatal("rate 0 sampled")
	}
}

// Bad samples are refused and counted, never panic.
func TestPushBadSamples(t *testing.T) {
	m, tap := newFraud(t, Config{})
	g := newStream(5)
	f := func(mutate func(s *Sample), ok bool) {
		t.Helper()
		s := *g.next()
		s.Inputs = append([]Tensor(nil), s.Inputs...)
		mutate(&s)
		if got := tap.Push(&s); got != ok {
			t.Fatalf("Push = %v, want %v", got, ok)
		}
	}
	f(func(s *Sample) {}, true)
	f(func(s *Sample) { s.Version = "9" }, false)
	f(func(s *Sample) { s.Inputs[0].Data = make([]byte, 4*fraudFeatures*9) }, false)            // 9 rows: more than a slot holds
	f(func(s *Sample) { s.Inputs[0].Shape = []int64{1, 1, 1, 1, 1, 1, 1, 30} }, false)          // rank 8
	f(func(s *Sample) { s.Inputs[0].Data = s.Inputs[0].Data[:7] }, true)                        // ragged: folded as 0 rows
	f(func(s *Sample) { s.Inputs[0].Name = "other" }, true)                                     // not followed
	f(func(s *Sample) { s.Inputs[0].Data = bytes.Repeat([]byte{0xff}, 4*fraudFeatures) }, true) // NaNs
	f(func(s *Sample) { s.Inputs = make([]Tensor, 40) }, false)
	m.Flush("fraud")
	full, large, invalid := tap.Dropped()
	if full != 0 || large != 1 || invalid != 3 {
		t.Fatalf("drops full %d too_large %d invalid %d, want 0 1 3", full, large, invalid)
	}
	if v := report(t, m); v.Sampled != 4 {
		t.Fatalf("sampled %d, want 4", v.Sampled)
	}
}

// Inputs of rank 3 and more become per-channel moments.
func TestChannelFeatures(t *testing.T) {
	m := New("", nil)
	defer m.Close()
	spec := VersionSpec{Version: "1",
		Inputs:  []rt.TensorInfo{{Name: "image", DataType: rt.FP16, Shape: []int64{-1, 3, 4, 4}}},
		Outputs: []rt.TensorInfo{{Name: "score", DataType: rt.FP64, Shape: []int64{-1}}},
	}
	tap, err := m.AddModel("img", Config{SampleRate: 1, ReferenceSize: 10, WindowSize: 10}, []VersionSpec{spec})
	if err != nil {
		t.Fatal(err)
	}
	img := make([]byte, 2*3*16)
	score := make([]byte, 8)
	r := rand.New(rand.NewPCG(6, 6))
	for i := range 30 {
		for k := range 3 * 16 {
			h, _ := rt.Float32ToFloat16(float32(k/16) + float32(r.Float64()))
			binary.LittleEndian.PutUint16(img[2*k:], h)
		}
		binary.LittleEndian.PutUint64(score, math.Float64bits(r.Float64()))
		s := &Sample{RequestID: []byte(strconv.Itoa(i)), Version: "1",
			Inputs:  []Tensor{{Name: "image", DataType: rt.FP16, Shape: []int64{1, 3, 4, 4}, Data: img}},
			Outputs: []Tensor{{Name: "score", DataType: rt.FP64, Shape: []int64{1}, Data: score}},
		}
		if !tap.Push(s) {
			t.Fatal("push refused")
		}
	}
	m.Flush("img")
	rep, _ := m.Drift("img")
	w := rep.Versions[0].Window
	if rep.Task != TaskRegression || w == nil || len(w.Features) != 12 || len(w.Predictions) != 1 {
		t.Fatalf("report %+v", rep)
	}
	if w.Features[4].Name != "image[1].mean" || w.Predictions[0].Name != "score" {
		t.Fatalf("feature names %q, %q", w.Features[4].Name, w.Predictions[0].Name)
	}
}

func TestDriftMetrics(t *testing.T) {
	m, tap := newFraud(t, Config{WindowSize: 100, ReferenceSize: 100})
	pushOrdered(t, m, tap, newStream(7), 200)
	var b bytes.Buffer
	m.WritePrometheus(&b)
	for _, want := range []string{
		`infergate_drift_psi{model="fraud",version="1",feature="input[29]",kind="input"} `,
		`infergate_drift_ks_p_value{model="fraud",version="1",feature="probabilities[1]",kind="output"} `,
		`infergate_drift_js_distance{model="fraud",version="1",feature="probabilities.class",kind="output"} `,
		`infergate_drift_alarm{model="fraud",version="1",kind="data"} 0`,
		`infergate_drift_window{model="fraud",version="1"} 0`,
		`infergate_monitor_sampled_total{model="fraud",version="1"} 200`,
		`infergate_monitor_dropped_total{model="fraud",reason="full"} 0`,
		`infergate_drift_feature_drifted{model="fraud",version="1",feature="input[0]",kind="input"} 0`,
		`infergate_monitor_latency_seconds{model="fraud",version="1",quantile="0.99"} 0.0001`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("exposition lacks %q:\n%s", want, b.String())
		}
	}
	if quoteLabel("a\"b\\c\nd é") != `"a\"b\\c\nd é"` {
		t.Fatalf("quoteLabel = %s", quoteLabel("a\"b\\c\nd é"))
	}
}

func TestAddModelReplaceRemove(t *testing.T) {
	m, old := newFraud(t, Config{})
	tap, err := m.AddModel("fraud", Config{SampleRate: 1}, []VersionSpec{fraudSpec("")})
	if err != nil {
		t.Fatal(err)
	}
	if old.Push(newStream(8).next()) {
		t.Fatal("the replaced tap still accepts samples")
	}
	if !tap.Push(newStream(8).next()) {
		t.Fatal("the new tap refuses samples")
	}
	if got := m.Models(); len(got) != 1 || got[0] != "fraud" {
		t.Fatalf("Models() = %v", got)
	}
	if tap, err := m.AddModel("fraud", Config{}, []VersionSpec{fraudSpec("")}); tap != nil || err != nil {
		t.Fatalf("sample_rate 0: %v, %v", tap, err)
	}
	if _, ok := m.Drift("fraud"); ok {
		t.Fatal("a model with sample_rate 0 is monitored")
	}
	if _, err := m.AddModel("x", Config{SampleRate: 2}, []VersionSpec{fraudSpec("")}); err == nil || !strings.Contains(err.Error(), "monitor.sample_rate") {
		t.Fatalf("sample_rate 2: %v", err)
	}
	m.Close()
	m.Close()
}

// Below busyRate the aggregator parks when the rings are empty, and the
// next push wakes it: each sample is folded without a Flush, well before
// the tick that would otherwise fold it, and the aggregator parks again.
func TestParkedAggregatorWakes(t *testing.T) {
	m, tap := newFraud(t, Config{})
	g := newStream(7)
	within := func(what string, ok func() bool) {
		t.Helper()
		for start := time.Now(); !ok(); time.Sleep(100 * time.Microsecond) {
			if time.Since(start) > tick/2 {
				t.Fatal(what)
			}
		}
	}
	within("the idle aggregator did not park", tap.parked.Load)
	for i := range uint64(3) {
		if !tap.Push(g.next()) {
			t.Fatal("push refused")
		}
		within("a sample was not folded within half a tick of its push", func() bool { return report(t, m).Sampled == i+1 })
		within("the aggregator did not park again", tap.parked.Load)
	}
}

// The aggregator parks or naps by the request rate, the samples' over the
// sample rate: 500 samples a second park it when they are every request,
// and keep it napping when they are a thousandth of them (500,000 req/s),
// where waking it for every sample would be paid on a busy processor.
func TestNapByRequestRate(t *testing.T) {
	parkedAtPush := func(sampleRate float64) (parked, pushes int) {
		_, tap := newFraud(t, Config{SampleRate: sampleRate})
		g := newStream(11)
		for i := range 150 {
			// The first 25 let the aggregator measure a rate (rateSpan).
			if i >= 25 && tap.parked.Load() {
				parked++
			}
			if !tap.Push(g.next()) {
				t.Fatal("push refused")
			}
			time.Sleep(2 * time.Millisecond)
		}
		return parked, 125
	}
	if parked, n := parkedAtPush(1); parked < n/2 {
		t.Errorf("every request sampled at 500 a second: parked at %d of %d pushes, want most", parked, n)
	}
	if parked, n := parkedAtPush(0.001); parked > n/4 {
		t.Errorf("a thousandth sampled at 500 samples a second: parked at %d of %d pushes, want few", parked, n)
	}
}

// A busy aggregator naps until napSamples samples, or a quarter of the
// ring, have come, within 1 to 16 ms.
func TestNapLength(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		rate  float64
		slots int
		want  time.Duration
	}{
		{busyRate, 4096, 16 * ms}, // busyRate, every request sampled: napSamples take 24 ms
		{4000, 4096, 16 * ms},     // a tenth sampled at 40,000 req/s: 96 ms
		{48000, 4096, 8 * ms},
		{96000, 4096, 4 * ms},
		{4e6, 4096, ms},    // 0.096 ms
		{2000, 64, 8 * ms}, // a tiny ring: a quarter of it is 16 slots
		{35000, 64, ms},    // 0.46 ms
	} {
		if got := napLength(c.rate, c.slots); got != c.want {
			t.Errorf("napLength(%v, %d) = %v, want %v", c.rate, c.slots, got, c.want)
		}
	}
}

// TestPushPlainMatchesGeneral: the fast path for the usual sample fills
// a slot exactly as the general path does, for samples of every row count
// a slot holds, empty and rank-0 tensors included, and it takes only
// samples the general path would take whole.
func TestPushPlainMatchesGeneral(t *testing.T) {
	const rows = 4
	specs := []tensorSpec{{name: "input", max: 4 * fraudFeatures * rows}, {name: "probabilities", output: true, max: 8 * rows}}
	slotBytes := specs[0].max + specs[1].max
	plainTap := newTap(1, []string{"1", "2"}, specs, 1, 64, slotBytes)
	generalTap := newTap(1, []string{"1", "2"}, specs, 1, 64, slotBytes)
	r := rand.New(rand.NewPCG(9, 9))
	bytesOf := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	var cases []Sample
	for n := range rows + 1 {
		cases = append(cases, Sample{
			RequestID: []byte("req-" + strconv.Itoa(n)), Version: strconv.Itoa(1 + n%2), Latency: time.Duration(n),
			Inputs:  []Tensor{{Name: "input", DataType: rt.FP32, Shape: []int64{int64(n), fraudFeatures}, Data: bytesOf(4 * fraudFeatures * n)}},
			Outputs: []Tensor{{Name: "probabilities", DataType: rt.FP16, Shape: []int64{int64(n), 2}, Data: bytesOf(4 * n)}},
		})
	}
	cases = append(cases,
		Sample{RequestID: []byte("scalar"), Version: "1",
			Inputs:  []Tensor{{Name: "input", DataType: rt.FP32, Shape: nil, Data: bytesOf(4)}},
			Outputs: []Tensor{{Name: "probabilities", DataType: rt.FP32, Shape: []int64{2}, Data: bytesOf(8)}}},
		Sample{RequestID: []byte("rank5"), Version: "2",
			Inputs:  []Tensor{{Name: "input", DataType: rt.UINT8, Shape: []int64{1, 2, 3, 4, 5}, Data: bytesOf(120)}},
			Outputs: []Tensor{{Name: "probabilities", DataType: rt.FP32, Shape: []int64{1, 2}, Data: nil}}},
	)
	for i := range cases {
		s := &cases[i]
		if !plainTap.plain(s) {
			t.Fatalf("case %d (%s) not taken as plain", i, s.RequestID)
		}
		v, _ := strconv.Atoi(s.Version)
		if !plainTap.pushPlain(s, v-1) || !generalTap.pushGeneral(s, v-1) {
			t.Fatalf("case %d refused", i)
		}
		pr, gr := plainTap.stripes[0], generalTap.stripes[0]
		pos := pr.tail.Load() - 1
		ps, gs := &pr.slots[pos&pr.mask], &gr.slots[pos&gr.mask]
		if ps.version != gs.version || ps.idHash != gs.idHash || ps.latency != gs.latency || ps.seq.Load() != gs.seq.Load() {
			t.Fatalf("case %d: slot headers differ: %+v against %+v", i, ps, gs)
		}
		pm, pd := pr.view(pos)
		gm, gd := gr.view(pos)
		for k := range pm {
			a, b := pm[k], gm[k]
			if a.off != b.off || a.n != b.n || a.rank != b.rank || a.dtype != b.dtype || !slices.Equal(a.shape[:a.rank], b.shape[:b.rank]) {
				t.Fatalf("case %d tensor %d: %+v against %+v", i, k, a, b)
			}
			if !bytes.Equal(pd[a.off:a.off+a.n], gd[b.off:b.off+b.n]) {
				t.Fatalf("case %d tensor %d: bytes differ", i, k)
			}
		}
	}
	// What the general path clips, drops or looks up by name is not plain.
	base := cases[1]
	for name, mutate := range map[string]func(s *Sample){
		"rows beyond the slot": func(s *Sample) { s.Inputs[0].Data = make([]byte, 4*fraudFeatures*(rows+1)) },
		"rank 6":               func(s *Sample) { s.Inputs[0].Shape = []int64{1, 1, 1, 1, 1, 30} },
		"negative dimension":   func(s *Sample) { s.Inputs[0].Shape = []int64{-1, 30} },
		"outputs first":        func(s *Sample) { s.Inputs, s.Outputs = s.Outputs, s.Inputs },
		"an extra input":       func(s *Sample) { s.Inputs = append(s.Inputs, Tensor{Name: "text"}) },
		"no outputs":           func(s *Sample) { s.Outputs = nil },
	} {
		s := base
		s.Inputs = append([]Tensor(nil), base.Inputs...)
		s.Outputs = append([]Tensor(nil), base.Outputs...)
		mutate(&s)
		if plainTap.plain(&s) {
			t.Errorf("%s: taken as plain", name)
		}
	}
}
