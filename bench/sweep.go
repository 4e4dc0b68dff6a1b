package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
)

// Sweep searches the capacity of an infergate that the harness starts
// itself, once per combination of the model's batching and instance
// settings, and recommends the one that serves the most per core.
type Sweep struct {
	// Binary is the infergate executable (the harness's own, normally).
	Binary string
	// Repository is the model repository; only Model is served, from a
	// temporary copy whose files are links to the originals.
	Repository string
	Model      string
	// The values swept for each config.yaml key (runtime/config.go's
	// names). An empty list leaves the key as the repository has it.
	// max_batch_size 0 turns batching off, and is tried once, without
	// max_queue_delay or the config's preferred_batch_sizes (which mean
	// nothing without batching, and runtime/config.go refuses there).
	MaxBatchSize  []int64
	MaxQueueDelay []int64 // microseconds
	Instances     []int64
	IntraOp       []int64
	// ServerCPUs pins each server with taskset -c (e.g. "0" or "0-3"); its
	// size is the cores a configuration is charged for. Empty: no pinning,
	// and every core of the machine is charged.
	ServerCPUs string
	// TargetRate, when positive, is the rate the recommendation sizes
	// replicas for.
	TargetRate float64
	// Synth makes the request bodies from the first server's metadata
	// unless Bodies are given.
	Bodies [][]byte
	Synth  Synth
	// Search is each configuration's capacity search.
	Search Search
	// Log, when set, hears each configuration as it starts and ends.
	Log func(string)
	// Ready bounds a server's start (model loading and warm-up). Default 2 min.
	Ready time.Duration
}

// SweepPoint is one configuration's outcome.
type SweepPoint struct {
	// Config is the config.yaml keys the sweep set.
	Config  map[string]int64 `json:"config"`
	Cores   int              `json:"cores"`
	MaxRate float64          `json:"max_rate"`
	PerCore float64          `json:"per_core"`
	Search  *SearchResult    `json:"search,omitempty"`
	Err     string           `json:"error,omitempty"`
}

// Recommendation is the sweep's answer.
type Recommendation struct {
	Config     map[string]int64 `json:"config"`
	MaxRate    float64          `json:"max_rate"`
	PerCore    float64          `json:"per_core"`
	Cores      int              `json:"cores"`
	TargetRate float64          `json:"target_rate,omitempty"`
	// Replicas is how many servers like this one the target rate needs,
	// each run at its searched maximum (so no headroom beyond the search's
	// precision: add your own for failover).
	Replicas int `json:"replicas,omitempty"`
}

// SweepResult is every configuration and the recommendation.
type SweepResult struct {
	Points         []SweepPoint    `json:"points"`
	Recommendation *Recommendation `json:"recommendation,omitempty"`
}

// sweepKeys are the swept config.yaml keys, in report order.
var sweepKeys = []string{"max_batch_size", "max_queue_delay", "instances", "intra_op_threads"}

// RunSweep runs the sweep. An error is returned only when nothing could be
// measured at all; a configuration that fails to start is reported in its
// point and the sweep goes on.
func RunSweep(ctx context.Context, sw Sweep) (SweepResult, error) {
	var out SweepResult
	if sw.Binary == "" || sw.Repository == "" || sw.Model == "" {
		return out, errors.New("a sweep needs the infergate binary, a model repository and a model")
	}
	if fi, err := os.Stat(filepath.Join(sw.Repository, sw.Model)); err != nil || !fi.IsDir() {
		return out, fmt.Errorf("model %q is not a folder of repository %s", sw.Model, sw.Repository)
	}
	cores := runtime.NumCPU()
	if sw.ServerCPUs != "" {
		n, err := countCPUs(sw.ServerCPUs)
		if err != nil {
			return out, err
		}
		cores = n
	}
	if sw.Ready <= 0 {
		sw.Ready = 2 * time.Minute
	}
	for _, cfg := range sw.combinations() {
		if ctx.Err() != nil {
			break
		}
		p := SweepPoint{Config: cfg, Cores: cores}
		if sw.Log != nil {
			sw.Log("sweep: " + describe(cfg))
		}
		sr, err := sw.one(ctx, cfg)
		if err != nil {
			p.Err = err.Error()
		}
		if sr != nil {
			p.Search = sr
			p.MaxRate = sr.MaxRate
			p.PerCore = sr.MaxRate / float64(cores)
		}
		if sw.Log != nil {
			sw.Log(fmt.Sprintf("sweep: %s: %.0f req/s within p99 %s %s", describe(cfg), p.MaxRate, fmtDur(sw.Search.SLOP99), p.Err))
		}
		out.Points = append(out.Points, p)
	}
	var best *SweepPoint
	for i := range out.Points {
		if p := &out.Points[i]; p.MaxRate > 0 && (best == nil || p.PerCore > best.PerCore) {
			best = p
		}
	}
	if best == nil {
		return out, errors.New("no configuration met the objective: see each one's steps and errors")
	}
	rec := &Recommendation{Config: best.Config, MaxRate: best.MaxRate, PerCore: best.PerCore, Cores: best.Cores, TargetRate: sw.TargetRate}
	if sw.TargetRate > 0 {
		rec.Replicas = int(math.Ceil(sw.TargetRate / best.MaxRate))
	}
	out.Recommendation = rec
	return out, nil
}

// combinations is the product of the swept values, in sweepKeys order.
func (sw *Sweep) combinations() []map[string]int64 {
	axes := [][]int64{sw.MaxBatchSize, sw.MaxQueueDelay, sw.Instances, sw.IntraOp}
	combos := []map[string]int64{{}}
	for a, vals := range axes {
		if len(vals) == 0 {
			continue
		}
		var next []map[string]int64
		for _, c := range combos {
			for i, v := range vals {
				if b, ok := c["max_batch_size"]; ok && b == 0 && sweepKeys[a] == "max_queue_delay" {
					// Without batching nothing stacks, so there is no
					// delay to sweep, and a config that sets one is
					// refused: one combination, without the key.
					if i == 0 {
						next = append(next, c)
					}
					continue
				}
				n := make(map[string]int64, len(c)+1)
				for k, x := range c {
					n[k] = x
				}
				n[sweepKeys[a]] = v
				next = append(next, n)
			}
		}
		combos = next
	}
	return combos
}

func describe(cfg map[string]int64) string {
	var parts []string
	for _, k := range sweepKeys {
		if v, ok := cfg[k]; ok {
			parts = append(parts, k+"="+strconv.FormatInt(v, 10))
		}
	}
	if len(parts) == 0 {
		return "the repository's config"
	}
	return strings.Join(parts, " ")
}

// one starts a server with cfg, searches it and stops it.
func (sw *Sweep) one(ctx context.Context, cfg map[string]int64) (*SearchResult, error) {
	dir, err := os.MkdirTemp("", "infergate-sweep-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := writeRepository(filepath.Join(sw.Repository, sw.Model), filepath.Join(dir, sw.Model), cfg); err != nil {
		return nil, err
	}
	srv, err := startServer(ctx, sw.Binary, dir, sw.ServerCPUs, sw.Ready)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	if sw.Bodies == nil {
		meta, err := FetchMetadata(srv.url, sw.Model, "", 10*time.Second)
		if err != nil {
			return nil, err
		}
		if sw.Bodies, err = Synthesize(meta, sw.Synth); err != nil {
			return nil, err
		}
	}
	s := sw.Search
	s.Load.Metrics = &MetricsSource{URL: srv.metrics, Model: sw.Model}
	tg := Target{URL: srv.url, Model: sw.Model, Bodies: sw.Bodies}
	sr, err := RunSearch(ctx, tg, s)
	if err == nil && !srv.alive() {
		err = fmt.Errorf("the server exited during the search: %s", srv.stderr.String())
	}
	return &sr, err
}

// writeRepository mirrors a model folder into dst, files as symbolic links
// (model files can be gigabytes) and folders as real folders (the
// repository scan only takes real ones as versions), with config.yaml
// rewritten with cfg's keys.
func writeRepository(src, dst string, cfg map[string]int64) error {
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case rel == "config.yaml":
			return nil
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		return os.Symlink(abs, target)
	})
	if err != nil {
		return err
	}
	b, err := editConfig(filepath.Join(src, "config.yaml"), cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dst, "config.yaml"), b, 0o644)
}

// editConfig sets keys of a config.yaml, keeping its other keys and
// comments. A missing file starts empty.
func editConfig(path string, cfg map[string]int64) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s is not a mapping of keys to values", path)
	}
	for _, k := range sweepKeys {
		v, ok := cfg[k]
		if !ok {
			continue
		}
		val := strconv.FormatInt(v, 10)
		found := false
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == k {
				m.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: val}
				found = true
			}
		}
		if !found {
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k},
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: val})
		}
	}
	if b, ok := cfg["max_batch_size"]; ok && b == 0 {
		// Batching off: the keys about stacking would be refused.
		kept := m.Content[:0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if !stackingKeys[m.Content[i].Value] {
				kept = append(kept, m.Content[i], m.Content[i+1])
			}
		}
		m.Content = kept
	}
	return yaml.Marshal(&doc)
}

// stackingKeys are the config.yaml keys about stacking requests, which
// runtime/config.go refuses without max_batch_size.
var stackingKeys = map[string]bool{"max_queue_delay": true, "preferred_batch_sizes": true}

// countCPUs counts a taskset CPU list: "0", "0-3", "0,2,4-5".
func countCPUs(list string) (int, error) {
	n := 0
	for part := range strings.SplitSeq(list, ",") {
		a, b, isRange := strings.Cut(strings.TrimSpace(part), "-")
		lo, err1 := strconv.Atoi(a)
		hi, err2 := lo, error(nil)
		if isRange {
			hi, err2 = strconv.Atoi(b)
		}
		if err1 != nil || err2 != nil || lo < 0 || hi < lo {
			return 0, fmt.Errorf("server CPUs %q: want a taskset list such as 0 or 0-3 or 0,2", list)
		}
		n += hi - lo + 1
	}
	return n, nil
}

// server is an infergate the sweep started.
type server struct {
	cmd     *exec.Cmd
	url     string
	metrics string
	stderr  *tail
	exited  chan struct{}
}

// freePorts asks the kernel for n free loopback ports. They are released
// before the server binds them, so another process could take one in
// between; the server then fails to start and the sweep says so.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func startServer(ctx context.Context, bin, repo, cpus string, ready time.Duration) (*server, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	args := []string{bin, "serve", "--model-repository", repo, "--http-address", "127.0.0.1",
		"--http-port", strconv.Itoa(ports[0]), "--metrics-port", strconv.Itoa(ports[1]),
		"--grpc-port", strconv.Itoa(ports[2]), "--log-level", "warn"}
	if cpus != "" {
		tp, err := exec.LookPath("taskset")
		if err != nil {
			return nil, errors.New("-server-cpus needs taskset (util-linux)")
		}
		args = append([]string{tp, "-c", cpus}, args...)
	}
	s := &server{
		cmd:     exec.Command(args[0], args[1:]...),
		url:     "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		metrics: "http://127.0.0.1:" + strconv.Itoa(ports[1]) + "/metrics",
		stderr:  &tail{max: 4096},
		exited:  make(chan struct{}),
	}
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(ready)
	for {
		if _, err := get(s.url+"/v2/health/ready", time.Second); err == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("infergate serve exited before it was ready: %s", s.stderr.String())
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("infergate serve was not ready after %s: %s", ready, s.stderr.String())
		}
	}
}

func (s *server) alive() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop asks the server to drain (SIGTERM) and kills it if it has not
// exited after 30 s.
func (s *server) stop() {
	if !s.alive() {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// tail keeps the last max bytes written to it: a server's last words.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	t.mu.Unlock()
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return "(no output)"
	}
	return s
}
