package gateway

import (
	"testing"
	"time"
)

// waitFor polls cond for up to two seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting until %s", what)
}

// The tick parks once requests stop and a request wakes it; close stops it
// parked or running.
func TestSchedulerTickParksAndWakes(t *testing.T) {
	tk := newSchedulerTick(100 * time.Microsecond)
	go tk.run()
	tk.touch()
	waitFor(t, "the tick parks without requests", tk.parked.Load)
	tk.touch()
	waitFor(t, "a request wakes the tick", func() bool { return !tk.parked.Load() })
	// Requests keep it awake: with one every tick, it never parks.
	for range 3 * idleTicks {
		tk.touch()
		time.Sleep(100 * time.Microsecond)
		if tk.parked.Load() {
			t.Fatal("the tick parked while requests kept arriving")
		}
	}
	tk.close()

	parked := newSchedulerTick(100 * time.Microsecond)
	go parked.run()
	waitFor(t, "a fresh tick parks", parked.parked.Load)
	parked.close()

	var off *schedulerTick // SchedulerTick < 0
	off.touch()
	off.close()
}

// A served gateway runs the tick from Start to Stop (none with a negative
// SchedulerTick), and a request wakes it from parking.
func TestServerSchedulerTick(t *testing.T) {
	for _, every := range []time.Duration{0, -1} {
		ts := newServer(t, Config{SchedulerTick: every}, testRepo)
		tk := ts.srv.tick
		if (tk != nil) != (every == 0) {
			t.Fatalf("SchedulerTick %v: tick running %v", every, tk != nil)
		}
		if tk == nil {
			continue
		}
		waitFor(t, "the served tick parks without requests", tk.parked.Load)
		if r := ts.get(t, "/v2/health/live"); r.status != 200 {
			t.Fatalf("live: %d", r.status)
		}
		waitFor(t, "a request wakes the served tick", func() bool { return !tk.parked.Load() })
		ts.stop()
		select {
		case <-tk.done:
		default:
			t.Fatal("Stop left the tick running")
		}
	}
}
