package gateway

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
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
