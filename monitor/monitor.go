package monitor

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	rt "github.com/infergate/infergate/runtime"
)

// Monitor watches the models of one gateway for drift: one tap, ring and
// aggregator goroutine per model, sketches per version and feature.
type Monitor struct {
	dataDir string
	log     *slog.Logger
	grid    *grid

	mu     sync.Mutex
	models map[string]*model
	closed bool
}

// VersionSpec describes one served version to the monitor: its tensors
// (from the loaded session) and its folder, which may ship a reference.
type VersionSpec struct {
	Version         string
	Dir             string
	Inputs, Outputs []rt.TensorInfo
}

// maxRingBytes bounds one model's ring: slots are preallocated, and an
// image model's slots are large.
const maxRingBytes = 64 << 20

// New returns a monitor that persists reference profiles under dataDir
// ("" keeps nothing). It starts nothing: AddModel starts each model's
// aggregator.
func New(dataDir string, log *slog.Logger) *Monitor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Monitor{dataDir: dataDir, log: log, grid: newGrid(), models: map[string]*model{}}
}

// AddModel starts monitoring a model and returns the tap its request path
// pushes to. Called again for a loaded model (a reload), it stops the old
// aggregator, persists its references, and replaces it; the old tap then
// drops everything. A zero SampleRate stops monitoring the model and
// returns a nil tap, whose methods are valid and do nothing.
func (m *Monitor) AddModel(name string, cfg Config, versions []VersionSpec) (*Tap, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("model %q: %w", name, err)
	}
	if cfg.SampleRate == 0 {
		m.RemoveModel(name)
		return nil, nil
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("model %q: no versions to monitor", name)
	}
	if len(versions) > maxVersions {
		return nil, fmt.Errorf("model %q: %d versions loaded; the monitor follows at most %d at once", name, len(versions), maxVersions)
	}
	a, err := m.newModel(name, cfg, versions)
	if err != nil {
		return nil, fmt.Errorf("model %q: %w", name, err)
	}
	// Stop the old aggregator first, so what it learnt is persisted,
	// then let the new one read it back; the old tap drops meanwhile.
	if old := m.model(name); old != nil {
		old.shutdown()
		for _, v := range a.versions {
			a.restoreVersion(v)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("monitor is closed")
	}
	if old := m.models[name]; old != nil {
		defer old.shutdown() // a concurrent AddModel raced us
	}
	m.models[name] = a
	go a.run()
	return a.tap, nil
}

// newModel builds the model's state: tensor specs, rings, layouts and
// references. Nothing runs yet.
func (m *Monitor) newModel(name string, cfg Config, specs []VersionSpec) (*model, error) {
	task := cfg.Task
	if task == "" {
		task = guessTask(specs[0].Outputs)
	}
	a := &model{
		name: name, cfg: cfg, task: task, log: m.log, dir: m.dataDir,
		th:    thresholds{psi: cfg.PSIThreshold, js: cfg.JSThreshold, alpha: cfg.KSAlpha},
		stop:  make(chan struct{}),
		flush: make(chan chan struct{}, pendingFlushes),
		done:  make(chan struct{}),
	}
	// Tap specs: every numeric tensor of any version, by name and role,
	// with the largest region any version needs.
	var tspecs []tensorSpec
	var nInputs int
	for _, output := range []bool{false, true} {
		for _, vs := range specs {
			ts := vs.Inputs
			if output {
				ts = vs.Outputs
			}
			for _, t := range ts {
				if !monitored(t) {
					continue
				}
				k := slices.IndexFunc(tspecs, func(s tensorSpec) bool { return s.name == t.Name && s.output == output })
				if k < 0 {
					tspecs = append(tspecs, tensorSpec{name: t.Name, output: output})
					k = len(tspecs) - 1
				}
				tspecs[k].max = max(tspecs[k].max, regionBytes(t, cfg.SlotRows))
			}
		}
		if !output {
			nInputs = len(tspecs)
		}
	}
	if len(tspecs) == 0 {
		return nil, errors.New("no numeric inputs or outputs to monitor")
	}
	if len(tspecs) > maxTensors {
		return nil, fmt.Errorf("%d tensors; the monitor follows at most %d", len(tspecs), maxTensors)
	}
	slotBytes, maxRegion := 0, 0
	for i := range tspecs {
		slotBytes += tspecs[i].max
		maxRegion = max(maxRegion, tspecs[i].max)
	}
	slots := cfg.BufferSize
	for slots > 2 && slots*slotBytes > maxRingBytes {
		slots /= 2
	}
	if slots < cfg.BufferSize {
		m.log.Warn("monitor: ring shrunk to fit 64 MiB", "model", name, "buffer_size", cfg.BufferSize, "slots", slots, "slot_bytes", slotBytes)
	}
	names := make([]string, len(specs))
	for i, vs := range specs {
		names[i] = vs.Version
	}
	a.tap = newTap(cfg.SampleRate, names, tspecs, nInputs, slots, slotBytes)
	specIndex := func(n string, output bool) int {
		return slices.IndexFunc(tspecs, func(s tensorSpec) bool { return s.name == n && s.output == output })
	}
	for i, vs := range specs {
		v := &version{name: vs.Version, grid: m.grid, index: int32(i), refTarget: cfg.ReferenceSize, predFold: -1}
		for _, w := range v.layout(vs, task, specIndex) {
			m.log.Warn("monitor: "+w, "model", name, "version", vs.Version)
		}
		v.scratch = make([]float64, 0, maxRegion)
		v.latency = newSketch(m.grid)
		v.latencies = make([]float32, 0, latencyStage)
		path, err := findReference(vs.Dir)
		if err != nil {
			return nil, err
		}
		if path != "" {
			fp, header, err := v.loadReferenceFile(path)
			if err != nil {
				return nil, err
			}
			v.refFingerprint, v.refSource = fp, path
			if len(header) == len(v.tabular) {
				for j, fi := range v.tabular {
					if header[j] != "" {
						v.features[fi].name = header[j]
					}
				}
			}
			for _, fi := range v.tabular {
				v.features[fi].setReady()
			}
		}
		a.versions = append(a.versions, v)
		a.keepsPredictions = a.keepsPredictions || v.pred != predNone
		a.restoreVersion(v)
	}
	// Twice the entries: a set-associative table keeps about 80% of its
	// last n inserts at size n, and nearly all of them at 2n.
	a.preds = newPredictions(2 * cfg.FeedbackCapacity)
	return a, nil
}

// restoreVersion loads what was persisted for v and notes whether its
// reference is complete.
func (a *model) restoreVersion(v *version) {
	a.restore(v)
	if v.allReady() && v.refReadyAt.IsZero() {
		v.refRows = v.refTarget
		v.refReadyAt = time.Now()
	}
}

func (v *version) allReady() bool {
	for i := range v.features {
		if !v.features[i].ready {
			return false
		}
	}
	for i := range v.cats {
		if !v.cats[i].ready {
			return false
		}
	}
	return true
}

// shutdown stops the aggregator, waits for it, and persists references.
// The tap refuses further samples. It is safe to call twice.
func (a *model) shutdown() {
	if !a.tap.closed.CompareAndSwap(false, true) {
		<-a.done
		return
	}
	close(a.stop)
	a.tap.poke()
	<-a.done
	for _, v := range a.versions {
		a.persist(v)
	}
}

// RemoveModel stops monitoring a model (on unload).
func (m *Monitor) RemoveModel(name string) {
	m.mu.Lock()
	a := m.models[name]
	delete(m.models, name)
	m.mu.Unlock()
	if a != nil {
		a.shutdown()
	}
}

// Close stops every aggregator and persists references. It is safe to
// call twice.
func (m *Monitor) Close() {
	m.mu.Lock()
	m.closed = true
	models := m.models
	m.models = map[string]*model{}
	m.mu.Unlock()
	for _, a := range models {
		a.shutdown()
	}
}

// Models returns the monitored models' names, sorted.
func (m *Monitor) Models() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.models))
	for n := range m.models {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Flush waits until the model's aggregator has folded every sample pushed
// before the call, so a label sent right after its prediction finds it.
// It returns false for a model not monitored.
func (m *Monitor) Flush(name string) bool {
	a := m.model(name)
	if a == nil {
		return false
	}
	done := make(chan struct{})
	select {
	case a.flush <- done:
	case <-a.done:
		return false
	}
	a.tap.poke()
	select {
	case <-done:
		return true
	case <-a.done:
		return false
	}
}

// pendingFlushes is how many Flush calls may wait for the aggregator at
// once before more block to queue: a parked aggregator learns of them
// from a poke (see model.run), so they must be queued before it looks.
const pendingFlushes = 16

func (m *Monitor) model(name string) *model {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.models[name]
}
