package gateway

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infergate/infergate/configs/demomodels"
	"github.com/infergate/infergate/runtime"
)

// TestInferBatchedOverHTTP sends concurrent requests of 1 to 3 rows to
// the elementwise demo model, which batches (max_batch_size 64), and checks
// that every response carries exactly its own rows, computed right.
func TestInferBatchedOverHTTP(t *testing.T) {
	before := batchRuns(t)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 40 {
				rows := 1 + (g+i)%3
				var data, want []string
				for r := range rows {
					for c := range 4 {
						// Values unique to (goroutine, request, row, column).
						v := float32(g*10000 + i*100 + r*10 + c)
						data = append(data, strconv.FormatFloat(float64(v), 'g', -1, 32))
						want = append(want, strconv.FormatFloat(float64(2*v+1), 'g', -1, 32))
					}
				}
				body := fmt.Sprintf(`{"id":"%d-%d","inputs":[{"name":"x","shape":[%d,4],"datatype":"FP32","data":[%s]}]}`,
					g, i, rows, strings.Join(data, ","))
				resp, err := testSrv.client.Post(testSrv.base+"/v2/models/elementwise/infer", "application/json", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("status %d: %v %s", resp.StatusCode, err, b)
					return
				}
				wantBody := fmt.Sprintf(`{"model_name":"elementwise","model_version":"1","id":"%d-%d","outputs":[{"name":"y","datatype":"FP32","shape":[%d,4],"data":[%s]}]}`,
					g, i, rows, strings.Join(want, ","))
				if string(b) != wantBody {
					t.Errorf("got  %s\nwant %s", b, wantBody)
					return
				}
			}
		})
	}
	wg.Wait()
	after := batchRuns(t)
	t.Logf("640 requests served in %.0f runs (%.0f requests)", after[1]-before[1], after[0]-before[0])
	if after[0]-before[0] != 640 {
		t.Errorf("batch metrics counted %.0f requests, want 640", after[0]-before[0])
	}
}

var batchSeries = regexp.MustCompile(`(?m)^infergate_batch_requests_(sum|count)\{model="elementwise",version="1"\} (\S+)$`)

// batchRuns reads the elementwise model's batch histogram: requests (sum)
// and runs (count).
func batchRuns(t *testing.T) [2]float64 {
	t.Helper()
	resp, err := http.Get(testSrv.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out [2]float64
	for _, m := range batchSeries.FindAllStringSubmatch(string(b), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		if m[1] == "sum" {
			out[0] = v
		} else {
			out[1] = v
		}
	}
	return out
}

// TestInferSchedulingParameters: priority and timeout parameters are
// accepted on a batching model and on one that does not batch.
func TestInferSchedulingParameters(t *testing.T) {
	for _, model := range []string{"elementwise", "scalar"} {
		body := `{"parameters":{"priority":1,"timeout":5000000,"other":{"x":[1]}},"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`
		if model == "scalar" {
			body = `{"parameters":{"priority":2,"timeout":100},"inputs":[{"name":"x","shape":[],"datatype":"FP32","data":[1]}]}`
		}
		testSrv.infer(t, model, body)
	}
}

// TestQueueFullOverHTTP holds every run slot of a model, batching or
// not, and fills its queue of three over HTTP: a request of the lowest
// priority is refused at once with 503 and Retry-After, one of the
// highest takes the newest lowest one's place (which is answered 503 at
// once, saying why), one whose timeout passes while it waits is answered
// 504 without running, and the rest is served once the runs end. The
// refusals show in infergate_queue_refused_total.
func TestQueueFullOverHTTP(t *testing.T) {
	for name, cfg := range map[string]string{
		"batching":     "max_batch_size: 8\nmax_queue_size: 3\npriority_levels: 2\ninstances: 1\n",
		"not batching": "max_queue_size: 3\npriority_levels: 2\ninstances: 1\n",
	} {
		t.Run(name, func(t *testing.T) { testQueueFullOverHTTP(t, cfg) })
	}
}

func testQueueFullOverHTTP(t *testing.T, cfg string) {
	dir := t.TempDir()
	onnx, err := demomodels.Model("elementwise")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeModel(dir, "elementwise", "1", onnx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "elementwise", "config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	repo, err := runtime.ScanRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	repo.Load(testEnv, testLog)
	t.Cleanup(repo.Close) // after the server stops
	b := repo.Models["elementwise"].Versions[0].Batcher
	// The first run parks until released, holding the one slot.
	parked, release := make(chan struct{}), make(chan struct{})
	var first sync.Once
	ts, err := startServerWith(Config{}, repo, func() {
		observe := b.OnRun // New's, or nil where runs do not stack
		b.OnRun = func(requests, rows int) {
			if observe != nil {
				observe(requests, rows)
			}
			first.Do(func() {
				close(parked)
				<-release
			})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ts.stop)

	body := func(prio int, x float32) string {
		return fmt.Sprintf(`{"parameters":{"priority":%d},"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[%g,0,0,0]}]}`, prio, x)
	}
	post := func(body string) <-chan reply {
		out := make(chan reply, 1)
		go func() { // not ts.post: no t.Fatal off the test's goroutine
			resp, err := ts.client.Post(ts.base+"/v2/models/elementwise/infer", contentJSON, strings.NewReader(body))
			if err != nil {
				t.Error(err)
				out <- reply{}
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Error(err)
			}
			out <- reply{status: resp.StatusCode, header: resp.Header, body: b}
		}()
		return out
	}
	send := func(prio int, x float32) <-chan reply { return post(body(prio, x)) }
	waitQueued := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); b.Queued() != n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d requests queued after 10s, want %d", b.Queued(), n)
			}
		}
	}
	plug := send(2, 1)
	select {
	case <-parked:
	case <-time.After(10 * time.Second):
		t.Fatal("the first request never ran")
	}
	low1 := send(2, 2)
	waitQueued(1)
	low2 := send(2, 3)
	waitQueued(2)
	// Priority 1 (so nothing displaces it), 20 ms to wait.
	timed := post(`{"parameters":{"priority":1,"timeout":20000},"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[9,0,0,0]}]}`)
	waitQueued(3)

	r := ts.post(t, "/v2/models/elementwise/infer", body(2, 4))
	expectError(t, r, 503, "the model's queue is full")
	if got := r.header.Get("Retry-After"); got != "1" {
		t.Errorf("a full queue's 503 has Retry-After %q, want 1", got)
	}
	high := send(1, 5)
	select {
	case r := <-low2:
		expectError(t, r, 503, "a request of higher priority took its place")
		if got := r.header.Get("Retry-After"); got != "1" {
			t.Errorf("a displaced request's 503 has Retry-After %q, want 1", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the highest-priority request displaced nothing")
	}
	waitQueued(3)
	time.Sleep(40 * time.Millisecond)
	close(release)
	expectError(t, <-timed, 504, "the request's timeout passed while it waited in the queue")
	for name, c := range map[string]struct {
		r <-chan reply
		y float32
	}{"plug": {plug, 3}, "low1": {low1, 5}, "high": {high, 11}} {
		r := <-c.r
		if r.status != 200 {
			t.Errorf("%s: status %d %s", name, r.status, r.body)
			continue
		}
		checkOutputs(t, decodeResponse(t, r.body).Outputs,
			fmt.Sprintf(`[{"name":"y","datatype":"FP32","shape":[1,4],"data":[%g,1,1,1]}]`, c.y))
	}
	resp, err := http.Get(ts.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`infergate_queue_refused_total{model="elementwise",version="1",reason="queue_full"} 1`,
		`infergate_queue_refused_total{model="elementwise",version="1",reason="displaced"} 1`,
		`infergate_queue_refused_total{model="elementwise",version="1",reason="timeout"} 1`,
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
