package bench

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Schedule is an open-loop arrival process: when each request is meant to
// leave, whatever happened to the ones before it.
type Schedule struct {
	// Rate is requests per second (the starting rate of a ramp).
	Rate float64
	// RampTo, when positive, makes the rate grow linearly from Rate to
	// RampTo over RampOver, then stay there.
	RampTo   float64
	RampOver time.Duration
	// Poisson draws exponential gaps (a Poisson process of mean Rate), as
	// many independent clients would; otherwise gaps are exactly 1/Rate.
	// Constant gaps measure the server alone; Poisson adds the bursts real
	// traffic brings, and with them queueing.
	Poisson bool
	// Seed fixes the Poisson draws, so two runs offer the same arrivals.
	Seed uint64
}

func (s Schedule) validate() error {
	if !(s.Rate > 0) || s.Rate > 1e7 {
		return fmt.Errorf("rate %g: give a rate between 0 and 10,000,000 requests per second", s.Rate)
	}
	if s.RampTo < 0 || s.RampTo > 1e7 {
		return fmt.Errorf("ramp target rate %g is out of range", s.RampTo)
	}
	if s.RampTo > 0 && s.RampOver <= 0 {
		return fmt.Errorf("a ramp needs a positive duration")
	}
	return nil
}

// rateAt is the intended rate at offset t from the start of the schedule.
func (s Schedule) rateAt(t time.Duration) float64 {
	if s.RampTo <= 0 || t <= 0 {
		return s.Rate
	}
	f := min(float64(t)/float64(s.RampOver), 1)
	return s.Rate + (s.RampTo-s.Rate)*f
}

// clock hands out intended send times in order. Every open-loop worker
// takes its next one under a lock: one uncontended lock per request costs
// tens of nanoseconds, and it lets Poisson gaps and ramps be generated in
// sequence instead of precomputed, with no goroutine in between whose
// scheduling would delay every request.
type clock struct {
	mu    sync.Mutex
	s     Schedule
	start time.Time
	// rampStart shifts the ramp so it begins after the warm-up.
	rampStart time.Duration
	next      float64 // ns after start, kept in float so 1/rate never drifts by rounding
	rng       *rand.Rand
}

func newClock(s Schedule, start time.Time, rampStart time.Duration) *clock {
	return &clock{s: s, start: start, rampStart: rampStart, rng: rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))}
}

// take returns the next intended send time.
func (c *clock) take() time.Time {
	c.mu.Lock()
	at := c.next
	gap := 1e9 / c.s.rateAt(time.Duration(at)-c.rampStart)
	if c.s.Poisson {
		gap *= c.rng.ExpFloat64()
	}
	c.next += gap
	c.mu.Unlock()
	return c.start.Add(time.Duration(at))
}

// peek returns the next intended send time without taking it.
func (c *clock) peek() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.start.Add(time.Duration(c.next))
}
