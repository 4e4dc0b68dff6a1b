package monitor

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Concept drift: the inputs may look as they always did while the world
// that labels them changed. It shows only once ground truth arrives, late,
// through Feedback. The aggregator keeps each sampled request's prediction
// in a bounded table keyed by the request id's hash (predictions.go, off
// the request path);
// Feedback joins a label to it and scores the version on tumbling windows
// of FeedbackWindow labels: accuracy (argmax == label) for classification,
// mean absolute error for regression. The first window is the reference.

// Errors Feedback wraps, so the gateway can map them to statuses.
var (
	ErrUnknownModel = errors.New("model is not monitored")
	// ErrNotSampled: the id hashes outside the sample rate, so no
	// prediction was kept. Not the caller's fault; nothing to retry.
	ErrNotSampled = errors.New("request was not sampled")
	// ErrExpired: the prediction was kept but evicted by newer ones
	// before its label came; raise feedback_capacity to keep more.
	ErrExpired = errors.New("prediction expired")
	// ErrUnknownRequest: no prediction with this id: never served, its
	// sample was dropped, or it was already labelled.
	ErrUnknownRequest = errors.New("no prediction for request")
	// ErrBadLabel: not a class index of the model, or not a number.
	ErrBadLabel = errors.New("invalid label")
)

// concept is one version's label scores. Guarded by model.mu.
type concept struct {
	refSum, refN float64
	refReady     bool
	curSum, curN float64
	// Last is the last closed window's accuracy or MAE.
	last, lastN float64
	windows     uint64
	alarm       Alarm
}

// Feedback joins a late label to the prediction of a sampled request:
// for classification, the true class index; for regression, the true
// value. It fails for an unknown model, an id that was not sampled, a
// prediction that expired, or one never seen; the error says which and
// wraps the matching Err value.
func (m *Monitor) Feedback(model string, requestID []byte, label float64) error {
	a := m.model(model)
	if a == nil {
		return fmt.Errorf("%w: %q (not loaded, or its monitor.sample_rate is 0)", ErrUnknownModel, model)
	}
	if math.IsNaN(label) || math.IsInf(label, 0) {
		return fmt.Errorf("%w: %v for request %q is not a number", ErrBadLabel, label, requestID)
	}
	h := hashID(requestID)
	p, ok := a.preds.peek(h)
	if !ok {
		a.missed.Add(1)
		switch {
		case !a.tap.Sampled(requestID):
			return fmt.Errorf("%w: %q (model %q samples %g of requests, chosen by id)", ErrNotSampled, requestID, model, a.cfg.SampleRate)
		case a.preds.expired(h):
			return fmt.Errorf("%w: %q: model %q keeps the last %d sampled predictions; raise monitor.feedback_capacity to wait longer for labels", ErrExpired, requestID, model, a.cfg.FeedbackCapacity)
		}
		return fmt.Errorf("%w: %q in model %q: never served, its sample was dropped, or it already has a label", ErrUnknownRequest, requestID, model)
	}
	var x float64
	if a.task == TaskClassification {
		if label != math.Trunc(label) || label < 0 {
			return fmt.Errorf("%w: %v for request %q is not a class index of classification model %q", ErrBadLabel, label, requestID, model)
		}
		if math.Round(p.value) == label {
			x = 1
		}
	} else {
		x = math.Abs(p.value - label)
	}
	if !a.preds.remove(h) {
		// Another Feedback for the same id won the race.
		return fmt.Errorf("%w: %q in model %q: it already has a label", ErrUnknownRequest, requestID, model)
	}
	a.joined.Add(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	v := a.versions[p.version]
	c := &v.concept
	w := float64(a.cfg.FeedbackWindow)
	if !c.refReady {
		c.refSum += x
		c.refN++
		if c.refN >= w {
			c.refReady = true
			a.conceptDirty.Store(true)
		}
		return nil
	}
	c.curSum += x
	c.curN++
	if c.curN >= w {
		c.last, c.lastN = c.curSum/c.curN, c.curN
		c.curSum, c.curN = 0, 0
		c.windows++
		c.alarm.observe(a.conceptDrifted(c), a.cfg.AlarmWindows, time.Now())
	}
	return nil
}

// conceptDrifted compares the last closed label window with the reference.
func (a *model) conceptDrifted(c *concept) bool {
	ref := c.refSum / c.refN
	if a.task == TaskClassification {
		return c.last < ref-a.cfg.ConceptMargin
	}
	return c.last > ref*(1+a.cfg.ConceptMargin)
}
