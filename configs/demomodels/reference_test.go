package demomodels

import (
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestFraudReference checks the shipped reference sample: a header and
// 2,000 rows of 30 finite numbers, standardised, identical on every call,
// and written by WriteRepository next to the fraud model.
func TestFraudReference(t *testing.T) {
	b := FraudReferenceCSV()
	if !bytes.Equal(b, FraudReferenceCSV()) {
		t.Fatal("two calls gave different samples")
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2001 || len(recs[0]) != FraudFeatures || recs[0][0] != "f0" {
		t.Fatalf("%d records, header %v", len(recs), recs[0])
	}
	var sum, sq float64
	for _, rec := range recs[1:] {
		for _, f := range rec {
			v, err := strconv.ParseFloat(f, 32)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("value %q: %v", f, err)
			}
			sum += v
			sq += v * v
		}
	}
	n := float64(2000 * FraudFeatures)
	if mean, sd := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n)); math.Abs(mean) > 0.05 || math.Abs(sd-1) > 0.05 {
		t.Errorf("mean %v, sd %v; want standardised features", mean, sd)
	}
	shifted := FraudRows(1, 2000, map[int]float64{3: 1})
	plain := FraudRows(1, 2000, nil)
	if d := shifted[7][3] - plain[7][3]; math.Abs(float64(d)-1) > 1e-5 || shifted[7][4] != plain[7][4] {
		t.Errorf("shift moved feature 3 by %v and feature 4 by %v", d, shifted[7][4]-plain[7][4])
	}

	dir := t.TempDir()
	if err := WriteRepository(dir, false); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "fraud", "1", "reference.csv"))
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("WriteRepository's reference.csv: %v (equal %v)", err, bytes.Equal(got, b))
	}
}
