package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infergate/infergate/configs/demomodels"
)

// TestExampleRequests sends every request in configs/requests, the ones
// the README's curl loop sends, and checks that each demo model answers
// with every output it declares; a demo model without an example fails.
func TestExampleRequests(t *testing.T) {
	files, err := filepath.Glob("../configs/requests/*.json")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, file := range files {
		model := strings.TrimSuffix(filepath.Base(file), ".json")
		have[model] = true
		body, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		resp := testSrv.infer(t, model, string(body))
		if resp.ModelName != model || resp.ModelVersion != "1" {
			t.Errorf("%s: answered as %s version %s", model, resp.ModelName, resp.ModelVersion)
		}
		v := testRepo.Models[model].Versions[0]
		if len(resp.Outputs) != len(v.Outputs) {
			t.Errorf("%s: %d outputs, the model has %d", model, len(resp.Outputs), len(v.Outputs))
		}
		for _, o := range resp.Outputs {
			if len(o.Data) == 0 && o.Shape != nil {
				n := int64(1)
				for _, d := range o.Shape {
					n *= d
				}
				if n != 0 {
					t.Errorf("%s: output %s has shape %v but no data", model, o.Name, o.Shape)
				}
			}
		}
	}
	for _, name := range demomodels.Names() {
		if !have[name] {
			t.Errorf("demo model %s has no example request in configs/requests", name)
		}
	}
}
