package monitor

import (
	"math/rand/v2"
	goruntime "runtime"

	rt "github.com/infergate/infergate/runtime"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestSpansFoldAsSamples: batched runs pushed as spans (PushRun) leave
// the monitor in the state that pushing each sampled request alone leaves:
// the same counts in every sketch (reference, window, classes, latency),
// the same windows judged, the same samples counted, and each request's
// own prediction kept under its own id. Runs of 1 to 150 requests (spans
// split at maxSpan), a tenth of them not sampled, some of 2 or 3 rows and
// a few of 4, more than a slot holds (PushRun stops there, and the rest
// go one by one), in a small ring whose end spans stop at.
func TestSpansFoldAsSamples(t *testing.T) {
	cfg := Config{SampleRate: 1, SlotRows: 3, BufferSize: 512, ReferenceSize: 300, WindowSize: 400}.WithDefaults()
	// One stripe, so that the aggregator folds in the order pushed: with
	// several, a drain takes each stripe in turn, and windows would cut
	// the stream elsewhere.
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(1))
	newFraud := func() *model {
		a, err := New("", nil).newModel("fraud", cfg, []VersionSpec{fraudSpec("")})
		if err != nil {
			t.Fatal(err)
		}
		a.now = time.Now()
		return a
	}
	one, together := newFraud(), newFraud()
	base := samples(6000)
	r := rand.New(rand.NewPCG(7, 8))
	type request struct {
		s       *Sample
		sampled bool
	}
	var reqs []request
	for i := 0; i < len(base); {
		rows := 1
		switch r.IntN(40) {
		case 0, 1, 2, 3:
			rows = 2 + r.IntN(2)
		case 4:
			rows = 4
		}
		rows = min(rows, len(base)-i)
		s := *base[i]
		s.RequestID = []byte("r" + strconv.Itoa(len(reqs)))
		in, out := s.Inputs[0], s.Outputs[0]
		in.Data, out.Data = nil, nil
		for _, x := range base[i : i+rows] {
			in.Data = append(in.Data, x.Inputs[0].Data...)
			out.Data = append(out.Data, x.Outputs[0].Data...)
		}
		in.Shape, out.Shape = []int64{int64(rows), fraudFeatures}, []int64{int64(rows), 2}
		s.Inputs, s.Outputs = []Tensor{in}, []Tensor{out}
		reqs = append(reqs, request{&s, r.IntN(10) != 0})
		i += rows
	}
	spans, sampled := 0, 0
	for i := 0; i < len(reqs); {
		n := min(1+r.IntN(150), len(reqs)-i)
		batch := reqs[i : i+n]
		for _, q := range batch {
			if q.sampled {
				sampled++
				if !one.tap.Push(q.s) {
					t.Fatal("a push was refused")
				}
			}
		}
		one.drainAll()
		// The run: every member's rows stacked, as the batcher ran them.
		run := &Sample{Version: "1", Inputs: []Tensor{{Name: "input", DataType: rt.FP32}}, Outputs: []Tensor{{Name: "probabilities", DataType: rt.FP32}}}
		var ms []Member
		rows := 0
		for _, q := range batch {
			run.Inputs[0].Data = append(run.Inputs[0].Data, q.s.Inputs[0].Data...)
			run.Outputs[0].Data = append(run.Outputs[0].Data, q.s.Outputs[0].Data...)
			rows += int(q.s.Inputs[0].Shape[0])
			ms = append(ms, Member{RequestID: q.s.RequestID, Latency: q.s.Latency, Rows: int(q.s.Inputs[0].Shape[0]), Sampled: q.sampled})
		}
		run.Inputs[0].Shape, run.Outputs[0].Shape = []int64{int64(rows), fraudFeatures}, []int64{int64(rows), 2}
		tail := together.tap.stripes[0].tail.Load()
		taken := together.tap.PushRun(run, ms)
		for _, q := range batch[taken:] {
			if q.sampled && !together.tap.Push(q.s) {
				t.Fatal("a push was refused")
			}
		}
		if together.tap.stripes[0].slots[tail&together.tap.stripes[0].mask].span > 1 {
			spans++
		}
		together.drainAll()
		if va, vb := one.versions[0], together.versions[0]; va.window != vb.window || va.winRows != vb.winRows || va.refRows != vb.refRows {
			t.Fatalf("after the run at %d of %d requests: alone, window %d of %d rows, reference %d rows; as spans %d, %d, %d", i, n, va.window, va.winRows, va.refRows, vb.window, vb.winRows, vb.refRows)
		}
		i += n
	}
	if spans == 0 {
		t.Fatal("no batch went as a span")
	}
	t.Logf("%d requests, %d sampled, %d runs began with a span", len(reqs), sampled, spans)
	va, vb := one.versions[0], together.versions[0]
	if va.folded != vb.folded || va.folded != uint64(sampled) || va.window != vb.window || va.winRows != vb.winRows || va.window == 0 {
		t.Fatalf("alone: %d samples, window %d with %d rows; as spans: %d, %d, %d", va.folded, va.window, va.winRows, vb.folded, vb.window, vb.winRows)
	}
	same := func(what string, x, y *sketch) {
		if !slices.Equal(x.cnt, y.cnt) || x.n != y.n || x.nonFinite != y.nonFinite {
			t.Errorf("%s: sketches differ (%v against %v values)", what, x.n, y.n)
		}
	}
	for i := range va.features {
		same(va.features[i].name+" reference", va.features[i].ref, vb.features[i].ref)
		same(va.features[i].name+" window", va.features[i].cur, vb.features[i].cur)
	}
	for i := range va.cats {
		if !slices.Equal(va.cats[i].ref, vb.cats[i].ref) || !slices.Equal(va.cats[i].cur, vb.cats[i].cur) {
			t.Errorf("%s: class counts differ", va.cats[i].name)
		}
	}
	same("latency", va.latency, vb.latency)
	if va.last == nil || vb.last == nil || va.last.ID != vb.last.ID || va.last.Rows != vb.last.Rows || va.last.LatencyP99 != vb.last.LatencyP99 {
		t.Errorf("last windows differ: %+v against %+v", va.last, vb.last)
	}
	for _, q := range reqs {
		h := hashID(q.s.RequestID)
		pa, oka := one.preds.peek(h)
		pb, okb := together.preds.peek(h)
		if oka != q.sampled || okb != q.sampled || pa != pb {
			t.Fatalf("request %s (sampled %v): prediction %v (%v) alone, %v (%v) in a span", q.s.RequestID, q.sampled, pa, oka, pb, okb)
		}
	}
}
