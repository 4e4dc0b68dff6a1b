package demomodels

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// FraudFeatures are the fraud model's 30 input features.
const FraudFeatures = 30

// FraudRows draws n rows of the fraud model's inputs as its traffic looks
// in the demo: standardised features, each N(0, 1), with shift[k]
// standard deviations added to feature k. The same seed gives the same
// rows on every platform, so the demo's drift alarm is reproducible.
func FraudRows(seed uint64, n int, shift map[int]float64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 0x5eed_f4a0d))
	rows := make([][]float32, n)
	for i := range rows {
		row := make([]float32, FraudFeatures)
		for k := range row {
			row[k] = float32(r.NormFloat64() + shift[k])
		}
		rows[i] = row
	}
	return rows
}

// FraudReferenceCSV is the reference sample shipped next to the fraud
// model (reference.csv): 2,000 undrifted rows with a header naming the
// features f0..f29, from which the monitor builds the version's
// reference profile.
func FraudReferenceCSV() []byte {
	var b []byte
	for k := range FraudFeatures {
		if k > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "f%d", k)
	}
	b = append(b, '\n')
	for _, row := range FraudRows(1, 2000, nil) {
		for k, v := range row {
			if k > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
		}
		b = append(b, '\n')
	}
	return b
}

// writeReferences writes the reference samples of the demo models that
// ship one, next to their model.onnx.
func writeReferences(dir string, overwrite bool) error {
	path := filepath.Join(dir, "fraud", "1", "reference.csv")
	if !overwrite {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
	}
	if err := writeFileAtomic(path, FraudReferenceCSV()); err != nil {
		return fmt.Errorf("demomodels: write %s: %w", path, err)
	}
	return nil
}
