package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.yaml.in/yaml/v3"

	"github.com/infergate/infergate/monitor"
	"github.com/infergate/infergate/runtime"
)

// The drift monitor's wiring: each model's `monitor:` section of
// config.yaml, the tap on the request path, ground-truth labels in, and
// the drift report out on the metrics listener.

// MonitorConfig decodes a model's `monitor:` section strictly (an unknown
// key is an error that names it), with defaults applied. A model without
// the section is not monitored (SampleRate 0).
func MonitorConfig(m *runtime.Model) (monitor.Config, error) {
	var cfg monitor.Config
	node := &m.Config.Monitor
	if node.Kind == 0 {
		return cfg, nil
	}
	// yaml.v3 decodes a Node without KnownFields; a round trip through
	// bytes gives the strict decoder the rest of config.yaml gets.
	b, err := yaml.Marshal(node)
	if err == nil {
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		err = dec.Decode(&cfg)
	}
	if err != nil {
		return cfg, fmt.Errorf("config.yaml: monitor: %w", err)
	}
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config.yaml: monitor: %w", err)
	}
	return cfg, nil
}

// CheckMonitorConfigs validates every model's `monitor:` section before
// the repository loads: a model whose section is wrong is reported
// UNAVAILABLE with the reason, like any other bad config.yaml, and the
// other models serve.
func CheckMonitorConfigs(repo *runtime.Repository) {
	for _, name := range repo.Names {
		m := repo.Models[name]
		if m.Err != nil {
			continue
		}
		if _, err := MonitorConfig(m); err != nil {
			m.Err = err
			m.Versions = nil
		}
	}
}

// startMonitoring hands each monitored model's ready versions to the
// monitor and keeps the tap of each version for the request path. A model
// the monitor cannot follow (a broken reference file, say) serves
// unmonitored, with the reason logged: drift detection must never take a
// model out of service.
func (s *Server) startMonitoring() {
	mon := s.cfg.Monitor
	repo := s.router.Repository()
	for _, name := range repo.Names {
		m := repo.Models[name]
		if m.Err != nil {
			continue
		}
		cfg, err := MonitorConfig(m)
		if err != nil || cfg.SampleRate == 0 {
			continue
		}
		var specs []monitor.VersionSpec
		var ready []*runtime.Version
		for _, v := range m.Versions {
			if st, _ := v.State(); st != runtime.Ready {
				continue
			}
			ready = append(ready, v)
			specs = append(specs, monitor.VersionSpec{Version: v.Label, Dir: filepath.Dir(v.Path), Inputs: v.Inputs, Outputs: v.Outputs})
		}
		if len(specs) == 0 {
			continue
		}
		tap, err := mon.AddModel(name, cfg, specs)
		if err != nil {
			s.log.Error("model serves without drift monitoring", "model", name, "reason", err)
			continue
		}
		for _, v := range ready {
			if sv := s.versions[v]; sv != nil {
				sv.tap = tap
				// Wired by the first server, as OnRun is.
				if b := v.Batcher; b != nil && b.Stacks() && b.OnBatch == nil {
					b.OnBatch = func(members []*runtime.Call) { s.tapBatch(tap, v, members) }
				}
			}
		}
		s.log.Info("drift monitoring on", "model", name, "sample_rate", cfg.SampleRate, "window_size", cfg.WindowSize, "alarm_windows", cfg.AlarmWindows)
	}
}

// requestIDs names the requests of monitored models that came without an
// id, so their sampling is decided like any other's and their labels can
// come back: the id is returned in the response, as OIP v2 allows.
//
// An id is the process's start time, the connection's number and the
// request's number on that connection, all of which fasthttp already
// keeps: no counter shared by every request, whose atomic increment
// would bounce one cache line between all the cores serving requests
// (and, on one core, is a full barrier that waits for the request's
// pending stores). Only a request without a connection (a handler called
// in process) draws from the shared counter. The numbers are written in
// hex, which strconv formats with shifts: in base 36, its divisions took
// 38 ns a request in the fraud model's profile.
type requestIDs struct {
	prefix []byte // "ig-<process start, base 36>-"
	next   atomic.Uint64
}

func newRequestIDs() *requestIDs {
	r := &requestIDs{}
	r.prefix = strconv.AppendInt([]byte("ig-"), time.Now().UnixNano(), 36)
	r.prefix = append(r.prefix, '-')
	return r
}

// appendNext appends a fresh id for the request-th request of connection
// conn to dst (the request's own buffer); conn 0 means none.
func (r *requestIDs) appendNext(dst []byte, conn, request uint64) []byte {
	dst = append(dst, r.prefix...)
	if conn == 0 {
		return appendHex(append(dst, "0-"...), r.next.Add(1))
	}
	dst = appendHex(dst, conn)
	dst = append(dst, '-')
	return appendHex(dst, request)
}

// appendHex appends v in lowercase hex, as strconv.AppendUint(dst, v, 16)
// does, without its general base loop (10 ns a made-up id in the fraud
// gateway's profile).
func appendHex(dst []byte, v uint64) []byte {
	var b [16]byte
	i := len(b)
	for {
		i--
		b[i] = hexDigits[v&0xf]
		v >>= 4
		if v == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

// prepareTap names a monitored request that came without an id and
// decides whether it is sampled, before it runs: the leader of the batch
// that serves it may push its sample (tapBatch).
func (s *Server) prepareTap(ctx *fasthttp.RequestCtx, tap *monitor.Tap, req *inferRequest, start time.Duration) {
	if len(req.id) == 0 {
		req.idBuf = s.ids.appendNext(req.idBuf[:0], ctx.ConnID(), ctx.ConnRequestNum())
		req.id, req.hasID, req.madeID = req.idBuf, true, true
	}
	req.start, req.sampled = start, tap.Sampled(req.id)
}

// fillSample points the request's sample at the call's inputs and outputs
// (views, which the tap copies): no allocation once the pooled request has
// grown its slices.
func (req *inferRequest) fillSample(v *runtime.Version, call *runtime.Call, latency time.Duration) *monitor.Sample {
	smp := &req.sample
	smp.RequestID, smp.Latency = req.id, latency
	fillViews(smp, v, call)
	return smp
}

// fillViews sets smp's version and its tensors to views of the call's
// inputs and outputs (those with data: not BYTES).
func fillViews(smp *monitor.Sample, v *runtime.Version, call *runtime.Call) {
	smp.Version = v.Label
	smp.Inputs, smp.Outputs = smp.Inputs[:0], smp.Outputs[:0]
	for i := range v.Inputs {
		dt, shape, data := call.InputView(i)
		if data == nil {
			continue
		}
		smp.Inputs = append(smp.Inputs, monitor.Tensor{Name: v.Inputs[i].Name, DataType: dt, Shape: shape, Data: data})
	}
	for k, idx := range call.Selected() {
		o := call.Output(k)
		if o.Data == nil {
			continue
		}
		smp.Outputs = append(smp.Outputs, monitor.Tensor{Name: v.Outputs[idx].Name, DataType: o.DataType, Shape: o.Shape, Data: o.Data})
	}
}

// clearSample drops a sample's views into its call.
func clearSample(smp *monitor.Sample) {
	clear(smp.Inputs)
	clear(smp.Outputs)
	smp.RequestID = nil
}

// runTap is tapBatch's pooled scratch: the batch's tensors as one sample,
// and its members.
type runTap struct {
	run     monitor.Sample
	members []monitor.Member
}

// tapBatch pushes the sampled members of a stacked batch, on the leader's
// goroutine before the members wake (runtime.Batcher's OnBatch), straight
// from the batch's stacked inputs and outputs (Tap.PushRun): one claim of
// ring slots and one copy of each tensor for the batch, instead of a
// sample built, checked and pushed for every request. A member's latency
// is taken at the end of the run, which for a member pushing its own
// sample would be its wake-up a little later. Members PushRun leaves (more
// rows than a slot holds, or a run it cannot take) are pushed as samples
// of their own.
func (s *Server) tapBatch(tap *monitor.Tap, v *runtime.Version, members []*runtime.Call) {
	now := time.Since(s.epoch)
	scratch := s.runTaps.Get().(*runTap)
	bc, _, _ := members[0].Batch()
	run := &scratch.run
	if bc != nil {
		fillViews(run, v, bc)
	}
	// Every member is dealt with here, by PushRun or one by one below:
	// none pushes its own sample after it wakes.
	ms := scratch.members[:0]
	for _, c := range members {
		_, _, rows := c.Batch()
		m := monitor.Member{Rows: rows}
		if req, ok := c.Tag().(*inferRequest); ok {
			m.RequestID, m.Latency, m.Sampled = req.id, now-req.start, req.sampled
			req.tapped = true
		}
		ms = append(ms, m)
	}
	taken := 0
	if bc != nil {
		taken = tap.PushRun(run, ms)
	}
	for i, c := range members[taken:] {
		if ms[taken+i].Sampled {
			req := c.Tag().(*inferRequest)
			tap.Push(req.fillSample(v, c, ms[taken+i].Latency))
			clearSample(&req.sample)
		}
	}
	clearSample(run)
	clear(ms)
	scratch.members = ms[:0]
	s.runTaps.Put(scratch)
}

// feedbackLabel is one ground-truth label: the id of the request it
// belongs to, and the true class index (classification) or value
// (regression).
type feedbackLabel struct {
	ID    *string  `json:"id"`
	Label *float64 `json:"label"`
}

// feedbackResult answers POST /v2/models/{m}/feedback.
type feedbackResult struct {
	Accepted int      `json:"accepted"`
	Rejected int      `json:"rejected"`
	Errors   []string `json:"errors,omitempty"`
}

// maxFeedbackErrors bounds the messages in one answer; the counts say the
// rest.
const maxFeedbackErrors = 10

// serveFeedback takes late ground truth for a monitored model:
// {"id": "tx-42", "label": 1} or {"labels": [{"id": ..., "label": ...}, ...]}.
// One label that cannot be joined is an error status; in a list, each is
// counted and the first few reasons returned.
func (s *Server) serveFeedback(ctx *fasthttp.RequestCtx, model []byte) {
	mon := s.cfg.Monitor
	if mon == nil {
		writeError(ctx, fasthttp.StatusNotFound, "drift monitoring is off in this server")
		return
	}
	if _, err := s.router.Model(model); err != nil {
		writeError(ctx, routeStatus(err), err.Error())
		return
	}
	var body struct {
		feedbackLabel
		Labels []feedbackLabel `json:"labels"`
	}
	dec := json.NewDecoder(bytes.NewReader(ctx.PostBody()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "feedback must be {\"id\": \"...\", \"label\": <number>} or {\"labels\": [...]}: "+err.Error())
		return
	}
	if dec.More() {
		writeError(ctx, fasthttp.StatusBadRequest, "feedback: trailing data after the JSON object")
		return
	}
	single := body.Labels == nil
	labels := body.Labels
	if single {
		labels = []feedbackLabel{body.feedbackLabel}
	} else if body.ID != nil || body.Label != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "feedback: send either one label (id, label) or a list (labels), not both")
		return
	}
	var res feedbackResult
	status := fasthttp.StatusOK
	for i, l := range labels {
		var err error
		switch {
		case l.ID == nil || *l.ID == "":
			err = fmt.Errorf("label %d has no id (the id of the inference request it belongs to)", i)
		case l.Label == nil:
			err = fmt.Errorf("label %d (request %q) has no label", i, *l.ID)
		default:
			err = mon.Feedback(string(model), []byte(*l.ID), *l.Label)
		}
		if err == nil {
			res.Accepted++
			continue
		}
		res.Rejected++
		if len(res.Errors) < maxFeedbackErrors {
			res.Errors = append(res.Errors, err.Error())
		}
		if single {
			status = feedbackStatus(err)
		}
	}
	if single && status != fasthttp.StatusOK {
		writeError(ctx, status, res.Errors[0])
		return
	}
	b, _ := json.Marshal(res)
	ctx.SetContentType(contentJSON)
	ctx.SetBody(b)
}

// feedbackStatus maps a refused label to a status: a model that is not
// monitored (409), no prediction kept for the id (404), a prediction that
// aged out (410), or a bad label (400).
func feedbackStatus(err error) int {
	switch {
	case errors.Is(err, monitor.ErrUnknownModel):
		return fasthttp.StatusConflict
	case errors.Is(err, monitor.ErrExpired):
		return fasthttp.StatusGone
	case errors.Is(err, monitor.ErrNotSampled), errors.Is(err, monitor.ErrUnknownRequest):
		return fasthttp.StatusNotFound
	}
	return fasthttp.StatusBadRequest
}

// serveDrift writes the drift report of one model, or of every monitored
// model, on the metrics listener (operators' network, not the public
// port).
func (s *Server) serveDrift(ctx *fasthttp.RequestCtx, model string) {
	mon := s.cfg.Monitor
	if mon == nil {
		writeError(ctx, fasthttp.StatusNotFound, "drift monitoring is off in this server")
		return
	}
	var v any
	if model == "" {
		reports := []monitor.Report{}
		for _, name := range mon.Models() {
			if r, ok := mon.Drift(name); ok {
				reports = append(reports, r)
			}
		}
		v = reports
	} else {
		r, ok := mon.Drift(model)
		if !ok {
			writeError(ctx, fasthttp.StatusNotFound, fmt.Sprintf("model %q is not monitored (not loaded, or its monitor.sample_rate is 0)", model))
			return
		}
		v = r
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeError(ctx, fasthttp.StatusInternalServerError, "drift report: "+err.Error())
		return
	}
	ctx.SetContentType(contentJSON)
	ctx.SetBody(b)
}
