package gateway

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/infergate/infergate/configs/demomodels"
	"github.com/infergate/infergate/monitor"
	"github.com/infergate/infergate/runtime"
)

// monitoredRepository writes a repository where fraud is monitored with
// its shipped reference and small windows, elementwise is not monitored,
// and two models have a bad `monitor:` section.
func monitoredRepository(t *testing.T) *runtime.Repository {
	return repositoryWith(t, map[string]string{
		"fraud":       "monitor:\n  sample_rate: 1\n  window_size: 500\n  reference_size: 200\n  alarm_windows: 2\n",
		"elementwise": "max_batch_size: 8\n",
		"mlp":         "monitor:\n  sample_rat: 1\n",
		"cnn":         "monitor:\n  sample_rate: 2\n",
	})
}

// repositoryWith writes the demo repository with the given models'
// config.yaml, checks the monitor sections and loads it.
func repositoryWith(t *testing.T, configs map[string]string) *runtime.Repository {
	t.Helper()
	dir := t.TempDir()
	if err := demomodels.WriteRepository(dir, false); err != nil {
		t.Fatal(err)
	}
	for model, cfg := range configs {
		if err := os.WriteFile(filepath.Join(dir, model, "config.yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repo, err := runtime.ScanRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	CheckMonitorConfigs(repo)
	repo.Load(testEnv, testLog)
	t.Cleanup(repo.Close)
	return repo
}

// fraudBody is a one-row fraud request with the given id (none if empty).
func fraudBody(id string, row []float32) string {
	body := tensorsRequest([]tensor{f32Tensor("features", []int64{1, int64(len(row))}, row)})
	if id == "" {
		return body
	}
	return fmt.Sprintf(`{"id":%q,`, id) + body[1:]
}

// TestMonitorEndToEnd serves the monitored fraud model over HTTP: undrifted
// traffic raises no alarm; traffic with one feature shifted by 1.5
// standard deviations raises the data-drift alarm on that feature alone,
// in the JSON report and the metrics; labels come back by request id,
// including ids the gateway made up.
func TestMonitorEndToEnd(t *testing.T) {
	repo := monitoredRepository(t)
	mon := monitor.New(t.TempDir(), testLog)
	t.Cleanup(mon.Close)
	ts := newServer(t, Config{Monitor: mon}, repo)

	for _, bad := range []struct{ model, want string }{
		{"mlp", "sample_rat"},
		{"cnn", "sample_rate"},
	} {
		expectError(t, ts.post(t, "/v2/models/"+bad.model+"/infer", `{"inputs":[]}`), 503, bad.want)
	}

	send := func(prefix string, rows [][]float32) {
		t.Helper()
		for i, row := range rows {
			r := ts.post(t, "/v2/models/fraud/infer", fraudBody(fmt.Sprintf("%s-%d", prefix, i), row))
			if r.status != 200 {
				t.Fatalf("%s %d: %d %s", prefix, i, r.status, r.body)
			}
		}
		if !mon.Flush("fraud") {
			t.Fatal("fraud is not monitored")
		}
	}
	report := func() monitor.Report {
		t.Helper()
		r := ts.doURL(t, "GET", ts.metrics+"/v2/models/fraud/drift", nil, "")
		if r.status != 200 {
			t.Fatalf("drift report: %d %s", r.status, r.body)
		}
		var rep monitor.Report
		if err := json.Unmarshal(r.body, &rep); err != nil {
			t.Fatalf("drift report %s: %v", truncate(string(r.body)), err)
		}
		if len(rep.Versions) != 1 {
			t.Fatalf("report has %d versions", len(rep.Versions))
		}
		return rep
	}

	// The first 200 rows complete the predictions' reference; 1,000 more
	// fill two windows with nothing drifted.
	send("plain", demomodels.FraudRows(11, 1200, nil))
	rep := report()
	v := rep.Versions[0]
	if !v.Reference.Complete || !strings.HasSuffix(v.Reference.File, "reference.csv") || v.Sampled != 1200 {
		t.Fatalf("after undrifted traffic: reference %+v, sampled %d", v.Reference, v.Sampled)
	}
	if v.DataAlarm.Active || v.PredictionAlarm.Active {
		t.Fatalf("alarm on undrifted traffic: data %+v prediction %+v", v.DataAlarm, v.PredictionAlarm)
	}

	send("shifted", demomodels.FraudRows(12, 1000, map[int]float64{3: 1.5}))
	v = report().Versions[0]
	if !v.DataAlarm.Active || v.Window == nil {
		t.Fatalf("no data-drift alarm after shifted traffic: %+v, window %+v", v.DataAlarm, v.Window)
	}
	var flagged []string
	for _, f := range v.Window.Features {
		if f.Drifted && strings.HasPrefix(f.Name, "f") {
			flagged = append(flagged, f.Name)
		}
	}
	if len(flagged) != 1 || flagged[0] != "f3" {
		t.Errorf("features flagged %v; want [f3]", flagged)
	}
	metrics := string(ts.doURL(t, "GET", ts.metrics+"/metrics", nil, "").body)
	for _, want := range []string{
		`infergate_drift_alarm{model="fraud",version="1",kind="data"} 1`,
		`infergate_drift_feature_drifted{model="fraud",version="1",feature="f3",kind="input"} 1`,
		`infergate_drift_feature_drifted{model="fraud",version="1",feature="f4",kind="input"} 0`,
		`infergate_requests_total{`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	all := ts.doURL(t, "GET", ts.metrics+"/drift", nil, "")
	if all.status != 200 || !strings.Contains(string(all.body), `"model": "fraud"`) {
		t.Errorf("/drift: %d %s", all.status, truncate(string(all.body)))
	}
	expectError(t, ts.doURL(t, "GET", ts.metrics+"/v2/models/elementwise/drift", nil, ""), 404, "not monitored")
	expectError(t, ts.doURL(t, "GET", ts.metrics+"/v2/models/fraud/nope", nil, ""), 404, "/drift")

	// Labels, by the ids the client gave.
	if r := ts.post(t, "/v2/models/fraud/feedback", `{"id":"plain-0","label":1}`); r.status != 200 || !strings.Contains(string(r.body), `"accepted":1`) {
		t.Errorf("feedback: %d %s", r.status, r.body)
	}
	expectError(t, ts.post(t, "/v2/models/fraud/feedback", `{"id":"plain-0","label":1}`), 404, "already")
	expectError(t, ts.post(t, "/v2/models/fraud/feedback", `{"id":"never-sent","label":0}`), 404, "never-sent")
	expectError(t, ts.post(t, "/v2/models/fraud/feedback", `{"id":"plain-1","label":1.5}`), 400, "class index")
	expectError(t, ts.post(t, "/v2/models/fraud/feedback", `{"id":"plain-1"}`), 400, "no label")
	expectError(t, ts.post(t, "/v2/models/fraud/feedback", `{"label":1}`), 400, "no id")
	expectError(t, ts.post(t, "/v2/models/fraud/feedback", `{"id":"plain-1","label":1,"extra":2}`), 400, "extra")
	expectError(t, ts.post(t, "/v2/models/fraud/feedback", `{"id":`), 400, "feedback must be")
	expectError(t, ts.post(t, "/v2/models/fraud/feedback", `{"id":"plain-1","label":1} {}`), 400, "trailing")
	expectError(t, ts.post(t, "/v2/models/fraud/feedback", `{"id":"plain-1","label":1,"labels":[]}`), 400, "either")
	expectError(t, ts.post(t, "/v2/models/elementwise/feedback", `{"id":"x","label":1}`), 409, "not monitored")
	expectError(t, ts.post(t, "/v2/models/nosuch/feedback", `{"id":"x","label":1}`), 404, "nosuch")
	expectError(t, ts.get(t, "/v2/models/fraud/feedback"), 405, "")
	r := ts.post(t, "/v2/models/fraud/feedback", `{"labels":[{"id":"plain-1","label":0},{"id":"plain-2","label":1},{"id":"nope","label":1},{"label":1}]}`)
	var res feedbackResult
	if err := json.Unmarshal(r.body, &res); err != nil || r.status != 200 || res.Accepted != 2 || res.Rejected != 2 || len(res.Errors) != 2 {
		t.Errorf("list of labels: %d %s (%v)", r.status, r.body, err)
	}

	// A request without an id gets one, in the response, and its label
	// finds it.
	resp := ts.infer(t, "fraud", fraudBody("", demomodels.FraudRows(13, 1, nil)[0]))
	if resp.ID == nil || !strings.HasPrefix(*resp.ID, "ig-") {
		t.Fatalf("response id %v; want one made by the gateway", resp.ID)
	}
	mon.Flush("fraud")
	if r := ts.post(t, "/v2/models/fraud/feedback", fmt.Sprintf(`{"id":%q,"label":0}`, *resp.ID)); r.status != 200 {
		t.Errorf("feedback for a generated id: %d %s", r.status, r.body)
	}
	// An unmonitored model's responses keep to what the client sent.
	if out := ts.infer(t, "elementwise", `{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}`); out.ID != nil {
		t.Errorf("unmonitored response has id %q", *out.ID)
	}
	ts.checkGood(t)
}

// TestMonitorBatchedRequests: concurrent requests to a batched, monitored
// model are each sampled once, with their own outputs, under their own id
// (given or made up), whether the leader of their batch pushed them
// (Server.tapBatch) or they ran alone: every label comes back joined, and
// labels equal to the served predictions give an accuracy of exactly 1.
func TestMonitorBatchedRequests(t *testing.T) {
	repo := repositoryWith(t, map[string]string{
		"fraud": "max_batch_size: 64\nmonitor:\n  sample_rate: 1\n  reference_size: 200\n  feedback_window: 400\n",
	})
	mon := monitor.New(t.TempDir(), testLog)
	t.Cleanup(mon.Close)
	ts := newServer(t, Config{Monitor: mon}, repo)

	const goroutines, each = 16, 40
	rows := demomodels.FraudRows(21, goroutines*each, nil)
	type served struct {
		id    string
		class int
	}
	results := make([][]served, goroutines)
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				id := ""
				if i%2 == 0 {
					id = fmt.Sprintf("g%d-%d", g, i) // the others get one made up
				}
				resp, err := ts.client.Post(ts.base+"/v2/models/fraud/infer", "application/json", strings.NewReader(fraudBody(id, rows[g*each+i])))
				if err != nil {
					errs <- err
					return
				}
				var out inferResponse
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || out.ID == nil || (id != "" && *out.ID != id) || len(out.Outputs) != 1 || len(out.Outputs[0].Data) != 2 {
					errs <- fmt.Errorf("request %q: status %d, %+v, %v", id, resp.StatusCode, out, err)
					return
				}
				p0, _ := out.Outputs[0].Data[0].(float64)
				p1, _ := out.Outputs[0].Data[1].(float64)
				class := 0
				if p1 > p0 {
					class = 1
				}
				results[g] = append(results[g], served{*out.ID, class})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	metrics := string(ts.doURL(t, "GET", ts.metrics+"/metrics", nil, "").body)
	var sum, count float64
	for _, line := range strings.Split(metrics, "\n") {
		fmt.Sscanf(line, `infergate_batch_requests_sum{model="fraud",version="1"} %g`, &sum)
		fmt.Sscanf(line, `infergate_batch_requests_count{model="fraud",version="1"} %g`, &count)
	}
	if !(sum > count) {
		t.Fatalf("%v requests in %v runs: nothing was batched, so no leader pushed a batch", sum, count)
	}
	t.Logf("%v requests in %v runs", sum, count)
	mon.Flush("fraud")
	rep, _ := mon.Drift("fraud")
	if v := rep.Versions[0]; v.Sampled != goroutines*each || rep.Dropped.Full+rep.Dropped.TooLarge+rep.Dropped.Invalid != 0 {
		t.Fatalf("sampled %d of %d requests, dropped %+v", v.Sampled, goroutines*each, rep.Dropped)
	}
	var labels []string
	for _, rs := range results {
		for _, r := range rs {
			labels = append(labels, fmt.Sprintf(`{"id":%q,"label":%d}`, r.id, r.class))
		}
	}
	r := ts.post(t, "/v2/models/fraud/feedback", `{"labels":[`+strings.Join(labels, ",")+`]}`)
	var res feedbackResult
	if err := json.Unmarshal(r.body, &res); err != nil || r.status != 200 || res.Accepted != goroutines*each {
		t.Fatalf("labels for every request: %d %s (%v)", r.status, truncate(string(r.body)), err)
	}
	rep, _ = mon.Drift("fraud")
	if c := rep.Versions[0].Concept; c.Reference == nil || *c.Reference != 1 {
		t.Errorf("labels equal to the served predictions: accuracy %+v, want a reference of exactly 1", c)
	}
}

// TestMonitorConfigErrors names the key and the fix for bad `monitor:`
// sections, before anything loads.
func TestMonitorConfigErrors(t *testing.T) {
	repo := monitoredRepository(t)
	for model, want := range map[string]string{
		"mlp": "field sample_rat not found",
		"cnn": "sample_rate",
	} {
		m := repo.Models[model]
		if m.Err == nil || !strings.Contains(m.Err.Error(), want) || !strings.Contains(m.Err.Error(), "config.yaml: monitor") {
			t.Errorf("%s: error %v; want one naming %q", model, m.Err, want)
		}
	}
	for _, model := range []string{"fraud", "elementwise"} {
		if err := repo.Models[model].Err; err != nil {
			t.Errorf("%s: %v", model, err)
		}
	}
	cfg, err := MonitorConfig(repo.Models["fraud"])
	if err != nil || cfg.SampleRate != 1 || cfg.WindowSize != 500 || cfg.PSIThreshold != 0.1 {
		t.Errorf("fraud's monitor config %+v, %v", cfg, err)
	}
}

// TestRequestIDs checks that made-up ids are distinct across connections,
// requests on one connection, and requests with no connection at all.
func TestRequestIDs(t *testing.T) {
	ids := newRequestIDs()
	seen := map[string]bool{}
	for conn := range uint64(40) {
		for req := uint64(1); req <= 40; req++ {
			id := string(ids.appendNext(nil, conn, req))
			if seen[id] || !strings.HasPrefix(id, "ig-") {
				t.Fatalf("id %q made twice, or without the prefix", id)
			}
			seen[id] = true
		}
	}
	for _, v := range []uint64{0, 1, 9, 10, 15, 16, 255, 0xdeadbeef, 1<<63 + 5, ^uint64(0)} {
		if got, want := string(appendHex([]byte("x"), v)), "x"+strconv.FormatUint(v, 16); got != want {
			t.Errorf("appendHex(%d) = %q, want %q", v, got, want)
		}
	}
}
