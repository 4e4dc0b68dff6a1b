package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	goruntime "runtime"
)

// State is where a model version stands, named as Triton's repository
// index names it so dashboards built for Triton read it unchanged.
type State int32

const (
	Loading State = iota
	Ready
	Unavailable
)

func (s State) String() string {
	switch s {
	case Loading:
		return "LOADING"
	case Ready:
		return "READY"
	}
	return "UNAVAILABLE"
}

// Version is one loaded (or failed) version of a model.
type Version struct {
	Model  string
	Number int64
	// Label is Number in decimal, made once so responses need not format it.
	Label string
	Path  string
	// Inputs and Outputs are what requests are checked against: the ONNX
	// file's declarations narrowed by config.yaml.
	Inputs  []TensorInfo
	Outputs []TensorInfo
	// Provider is the execution provider the session runs on.
	Provider string
	// Session is the first instance; Sessions all of them.
	Session  *Session
	Sessions []*Session
	// Batcher stacks concurrent requests into one run, or, for a version
	// that does not batch, queues them (a Solo batcher); nil until the
	// version loads.
	Batcher  *Batcher
	LoadTime time.Duration
	// WarmUpErr says why warming up failed; the version serves anyway.
	WarmUpErr error

	state  atomic.Int32
	reason atomic.Pointer[string]
}

// Run runs a bound call on this version through its batcher, which every
// loaded version has (calls come from its sessions, so it is loaded).
func (v *Version) Run(c *Call) error {
	return v.Batcher.Run(c)
}

// State reports whether the version serves, and why not.
func (v *Version) State() (State, string) {
	st := State(v.state.Load())
	if r := v.reason.Load(); r != nil {
		return st, *r
	}
	return st, ""
}

func (v *Version) fail(err error) {
	msg := err.Error()
	v.reason.Store(&msg)
	v.state.Store(int32(Unavailable))
}

// Model is one folder of the repository.
type Model struct {
	Name   string
	Config ModelConfig
	// Versions are sorted by number, ascending.
	Versions []*Version
	// Err is set when the folder itself is unusable (a bad config.yaml, no
	// version folder); the model then has no versions.
	Err error
}

// Version returns the numbered version, or nil.
func (m *Model) Version(n int64) *Version {
	for _, v := range m.Versions {
		if v.Number == n {
			return v
		}
	}
	return nil
}

// Repository is a Triton-like model repository:
// <dir>/<model>/config.yaml and <dir>/<model>/<version>/model.onnx.
type Repository struct {
	Dir    string
	Models map[string]*Model
	// Names lists the models in sorted order for stable indexes.
	Names []string
}

// ScanRepository reads the repository's layout and configs without
// loading any session. A model whose folder is unusable is kept with its
// reason, so the index can say what is wrong with it.
func ScanRepository(dir string) (*Repository, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("model repository: %w", err)
	}
	r := &Repository{Dir: dir, Models: map[string]*Model{}}
	for _, e := range entries {
		if !e.IsDir() || e.Name()[0] == '.' {
			continue
		}
		m := scanModel(dir, e.Name())
		r.Models[m.Name] = m
		r.Names = append(r.Names, m.Name)
	}
	slices.Sort(r.Names)
	return r, nil
}

func scanModel(dir, name string) *Model {
	m := &Model{Name: name}
	mdir := filepath.Join(dir, name)
	for _, c := range []byte(name) {
		if c < 0x20 || c == 0x7f || c == '"' || c == '\\' {
			m.Err = fmt.Errorf("model folder name %q has control characters, quotes or backslashes; rename it", name)
			return m
		}
	}
	cfg, err := ReadModelConfig(filepath.Join(mdir, "config.yaml"))
	if err == nil && cfg.Name != "" && cfg.Name != name {
		err = fmt.Errorf("config.yaml names the model %q but its folder is %q", cfg.Name, name)
	} else if err != nil {
		err = fmt.Errorf("config.yaml: %w", err)
	}
	if err != nil {
		m.Err = err
		return m
	}
	m.Config = cfg
	entries, err := os.ReadDir(mdir)
	if err != nil {
		m.Err = err
		return m
	}
	var numbers []int64
	for _, e := range entries {
		// Only canonical decimals up to 18 digits name versions: "01"
		// would otherwise alias "1", and the router reads at most 18.
		n, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || n <= 0 || !e.IsDir() || len(e.Name()) > 18 || strconv.FormatInt(n, 10) != e.Name() {
			continue
		}
		if len(cfg.Versions) > 0 && !slices.Contains(cfg.Versions, n) {
			continue
		}
		numbers = append(numbers, n)
	}
	for _, want := range cfg.Versions {
		if !slices.Contains(numbers, want) {
			numbers = append(numbers, want) // reported as unavailable below
		}
	}
	slices.Sort(numbers)
	if len(numbers) == 0 {
		m.Err = fmt.Errorf("no version folder (%s/<number>/model.onnx) found", mdir)
		return m
	}
	for _, n := range numbers {
		v := &Version{
			Model:  name,
			Number: n,
			Label:  strconv.FormatInt(n, 10),
			Path:   filepath.Join(mdir, strconv.FormatInt(n, 10), "model.onnx"),
		}
		m.Versions = append(m.Versions, v)
	}
	return m
}

// Load creates a session for every version, a few at a time. A version
// that fails is marked unavailable with the reason and the others carry
// on: one corrupt file must not take the gateway down.
func (r *Repository) Load(env *Environment, log *slog.Logger) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, name := range r.Names {
		m := r.Models[name]
		if m.Err != nil {
			log.Error("model unavailable", "model", name, "reason", m.Err)
			continue
		}
		for _, v := range m.Versions {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if err := loadVersion(env, m.Config, v); err != nil {
					v.fail(err)
					log.Error("model version unavailable", "model", m.Name, "version", v.Number, "reason", err)
					return
				}
				if why := v.Session.FallbackReason; why != "" {
					log.Warn("CUDA unavailable, model version runs on CPU", "model", m.Name, "version", v.Number,
						"execution_provider", m.Config.Requested(), "reason", why)
				}
				if v.WarmUpErr != nil {
					log.Warn("model version warm-up failed; serving anyway", "model", m.Name, "version", v.Number, "err", v.WarmUpErr)
				}
				log.Info("model version ready", "model", m.Name, "version", v.Number,
					"provider", v.Provider, "inputs", len(v.Inputs), "outputs", len(v.Outputs),
					"load_time", v.LoadTime.Round(time.Millisecond))
			}()
		}
	}
	wg.Wait()
}

func loadVersion(env *Environment, cfg ModelConfig, v *Version) error {
	start := time.Now()
	if _, err := os.Stat(v.Path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s is missing", v.Path)
		}
		return err
	}
	level, _ := cfg.optimizationLevel()
	opts := SessionOptions{
		IntraOpThreads:    cfg.IntraOpThreads,
		InterOpThreads:    cfg.InterOpThreads,
		GraphOptimization: level,
	}
	instances := cfg.Instances
	if instances == 0 {
		instances = 1
		if cfg.MaxBatchSize > 0 {
			instances = max(1, goruntime.GOMAXPROCS(0)/8)
		}
	}
	var sessions []*Session
	closeAll := func() {
		for _, s := range sessions {
			s.Close()
		}
	}
	for range instances {
		s, provider, err := env.NewSessionFor(v.Path, opts, cfg.ProviderConfig)
		if err != nil {
			closeAll()
			return fmt.Errorf("ONNX Runtime cannot load %s: %w", v.Path, err)
		}
		sessions = append(sessions, s)
		v.Provider = provider
	}
	s := sessions[0]
	ins, err := applyDeclared("input", s.Inputs, cfg.Inputs)
	if err == nil {
		v.Outputs, err = applyDeclared("output", s.Outputs, cfg.Outputs)
	}
	if err != nil {
		closeAll()
		return err
	}
	maxQueue := cfg.MaxQueueSize
	if maxQueue == 0 {
		maxQueue = 1024
	}
	o := BatchOptions{
		MaxQueue:        maxQueue,
		Timeout:         time.Duration(cfg.Timeout) * time.Microsecond,
		PriorityLevels:  cfg.PriorityLevels,
		DefaultPriority: cfg.DefaultPriority,
	}
	if cfg.MaxBatchSize > 0 {
		if err := Batchable(ins, v.Outputs); err != nil {
			closeAll()
			return fmt.Errorf("max_batch_size is %d but %w", cfg.MaxBatchSize, err)
		}
		o.MaxBatch = cfg.MaxBatchSize
		o.MaxQueueDelay = time.Duration(cfg.MaxQueueDelay) * time.Microsecond
		o.Preferred = cfg.PreferredBatchSizes
	} else {
		// Not batching: runs go one request each. With instances set,
		// one run per session at a time, as Triton's instance count
		// means; without, one session takes as many runs at once as the
		// process has cores (ONNX Runtime sessions take concurrent runs,
		// each with one intra-op thread unless configured otherwise).
		// More wait in the queue, bounded and in priority order, rather
		// than in goroutines that oversubscribe the cores.
		o.Solo = true
		o.Slots = cfg.Instances
		if o.Slots == 0 {
			o.Slots = goruntime.GOMAXPROCS(0)
		}
	}
	v.Batcher = NewBatcherWith(sessions, o)
	v.Inputs = ins
	v.Session = s
	v.Sessions = sessions
	if err := v.warmUp(cfg); err != nil {
		v.WarmUpErr = err
	}
	v.LoadTime = time.Since(start)
	v.state.Store(int32(Ready))
	return nil
}

// Ready reports whether every model version is ready, and if not the
// first reason found.
func (r *Repository) Ready() (bool, string) {
	for _, name := range r.Names {
		m := r.Models[name]
		if m.Err != nil {
			return false, fmt.Sprintf("model %s: %v", name, m.Err)
		}
		for _, v := range m.Versions {
			if st, why := v.State(); st != Ready {
				return false, fmt.Sprintf("model %s version %d is %s: %s", name, v.Number, st, why)
			}
		}
	}
	return true, ""
}

// Close frees every session, waiting for the inferences in flight.
func (r *Repository) Close() {
	for _, m := range r.Models {
		for _, v := range m.Versions {
			for _, s := range v.Sessions {
				s.Close()
			}
		}
	}
}
