package monitor

import (
	"encoding/json"
	goruntime "runtime"
	"slices"
	"testing"
	"time"

	rt "github.com/infergate/infergate/runtime"
)

func TestAlarm(t *testing.T) {
	var a Alarm
	t0 := time.Unix(1000, 0)
	f := func(drifted, active bool, raised int) {
		t.Helper()
		a.observe(drifted, 3, t0)
		t0 = t0.Add(time.Minute)
		if a.Active != active || a.Raised != raised {
			t.Fatalf("after %v: %+v, want active %v raised %d", drifted, a, active, raised)
		}
	}
	f(true, false, 0)
	f(true, false, 0)
	f(false, false, 0) // a clean window resets the streak
	f(true, false, 0)
	f(true, false, 0)
	f(true, true, 1) // K = 3 in a row
	if a.Since != time.Unix(1000, 0).Add(5*time.Minute) {
		t.Fatalf("since %v", a.Since)
	}
	f(false, true, 1)
	f(true, true, 1)
	f(false, true, 1)
	f(false, true, 1)
	f(false, false, 1) // K clean in a row clear it
	f(true, false, 1)
}

// Windows close by count, and by time once they hold min(100,
// window_size) rows.
func TestWindowByTime(t *testing.T) {
	m := New("", nil)
	a, err := m.newModel("fraud", Config{SampleRate: 1, ReferenceSize: 100, WindowSize: 1000, WindowDuration: Duration(time.Minute)}.WithDefaults(), []VersionSpec{fraudSpec("")})
	if err != nil {
		t.Fatal(err)
	}
	g := newStream(15)
	push := func(n int) {
		for range n {
			if !a.tap.Push(g.next()) {
				t.Fatal("push refused")
			}
			a.drain()
		}
	}
	start := time.Unix(2000, 0)
	a.now = start
	push(100) // the reference
	v := a.versions[0]
	if !v.features[0].ready || v.winStart != start {
		t.Fatalf("reference not complete or window not started: %v %v", v.features[0].ready, v.winStart)
	}
	push(50)
	a.now = start.Add(2 * time.Minute)
	a.closeByTime()
	if v.last != nil {
		t.Fatal("a window of 50 rows closed by time")
	}
	push(60)
	a.closeByTime()
	if v.last == nil || v.last.Rows != 110 || v.last.ID != 0 {
		t.Fatalf("window closed by time: %+v", v.last)
	}
	push(999)
	if v.last.ID != 0 {
		t.Fatal("window closed early")
	}
	push(1)
	if v.last.ID != 1 || v.last.Rows != 1000 {
		t.Fatalf("window closed by count: %+v", v.last)
	}
	m.models["fraud"] = a // for Drift
	r, _ := m.Drift("fraud")
	if _, err := json.Marshal(r); err != nil {
		t.Fatalf("the report does not encode as JSON: %v", err)
	}
}

// Each version has its own layout, reference and windows.
func TestVersions(t *testing.T) {
	m := New("", nil)
	defer m.Close()
	v2 := VersionSpec{Version: "2",
		Inputs:  []rt.TensorInfo{{Name: "input", DataType: rt.FP32, Shape: []int64{-1, 31}}},
		Outputs: []rt.TensorInfo{{Name: "probabilities", DataType: rt.FP32, Shape: []int64{-1, 2}}},
	}
	tap, err := m.AddModel("fraud", Config{SampleRate: 1, ReferenceSize: 10, WindowSize: 10}, []VersionSpec{fraudSpec(""), v2})
	if err != nil {
		t.Fatal(err)
	}
	g := newStream(16)
	in31 := make([]byte, 31*4)
	for range 20 {
		s := g.next()
		tap.Push(s)
		s2 := *s
		s2.Version = "2"
		s2.Inputs = []Tensor{{Name: "input", DataType: rt.FP32, Shape: []int64{1, 31}, Data: in31}}
		if !tap.Push(&s2) {
			t.Fatal("version 2 refused")
		}
	}
	m.Flush("fraud")
	r, _ := m.Drift("fraud")
	if len(r.Versions) != 2 || r.Versions[0].Window == nil || r.Versions[1].Window == nil ||
		len(r.Versions[0].Window.Features) != 30 || len(r.Versions[1].Window.Features) != 31 {
		t.Fatalf("versions: %+v", r.Versions)
	}
}

// Closing a window fills whichever of the version's two results Drift is
// not reading and then swaps them: once both exist, a close allocates
// nothing, and the result published before stays as it was.
func TestWindowCloseAllocatesNothing(t *testing.T) {
	a, fs := learnedFraudModel(t)
	v := a.versions[0]
	var before, after goruntime.MemStats
	for i := range 6 {
		for j := range a.cfg.WindowSize - 1 {
			f := fs[(i*a.cfg.WindowSize+j)%len(fs)]
			a.fold(f.s, f.meta, f.data)
		}
		v.flush(false)
		prev := v.last
		var kept windowResult
		if prev != nil {
			kept = *prev
			kept.Inputs = append([]FeatureDrift(nil), prev.Inputs...)
		}
		goruntime.ReadMemStats(&before)
		a.closeWindow(v)
		goruntime.ReadMemStats(&after)
		if v.last == nil || v.last == prev || len(v.last.Inputs) != fraudFeatures || v.last.ID != uint64(i) {
			t.Fatalf("close %d: last %p (before %p), %+v", i, v.last, prev, v.last)
		}
		if prev != nil && (prev.ID != kept.ID || !slices.Equal(prev.Inputs, kept.Inputs)) {
			t.Fatalf("close %d rewrote the result it replaced", i)
		}
		if n := after.Mallocs - before.Mallocs; i >= 2 && n != 0 {
			t.Errorf("close %d: %d allocations", i, n)
		}
	}
}

// Drift reads the last window's result while the aggregator closes
// windows (under -race, a reader of the result being refilled is caught).
func TestDriftWhileWindowsClose(t *testing.T) {
	m, tap := newFraud(t, Config{ReferenceSize: 100, WindowSize: 100})
	done := make(chan struct{})
	go func() {
		defer close(done)
		g := newStream(21)
		for range 3000 {
			for !tap.Push(g.next()) {
				goruntime.Gosched()
			}
		}
	}()
	windows := uint64(0)
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		r := report(t, m)
		if w := r.Window; w != nil {
			if len(w.Features) != fraudFeatures || w.Rows < 100 || w.ID < windows {
				t.Fatalf("window %+v after %d", w, windows)
			}
			windows = w.ID
		}
	}
	m.Flush("fraud")
	if w := report(t, m).Window; w == nil || w.ID < 20 {
		t.Fatalf("windows closed: %+v", w)
	}
}
