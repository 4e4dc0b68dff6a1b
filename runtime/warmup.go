package runtime

import (
	"fmt"
	"slices"
)

// warmUp runs each instance once per batch size it will see (1, every
// preferred size and the largest batch) on zero-filled inputs, before the
// version reports ready: ONNX Runtime allocates its arenas and picks its
// kernels on first use, and the first users must not pay for it. Dynamic
// dimensions other than the batch are given size 1. A model that rejects
// those inputs (one whose dims must agree in ways the file does not say)
// still serves; the error is only reported.
func (v *Version) warmUp(cfg ModelConfig) error {
	sizes := []int{1}
	if cfg.MaxBatchSize > 0 {
		sizes = append(sizes, cfg.PreferredBatchSizes...)
		sizes = append(sizes, cfg.MaxBatchSize)
	}
	slices.Sort(sizes)
	sizes = slices.Compact(sizes)
	for _, sess := range v.Sessions {
		for _, n := range sizes {
			if err := warmRun(v, sess, n); err != nil {
				return fmt.Errorf("warm-up at batch size %d: %w", n, err)
			}
		}
	}
	return nil
}

func warmRun(v *Version, sess *Session, batch int) error {
	c, err := v.Session.AcquireCall()
	if err != nil {
		return err
	}
	defer v.Session.ReleaseCall(c)
	var shape []int64
	for i, in := range v.Inputs {
		shape = append(shape[:0], in.Shape...)
		n := 1
		for d := range shape {
			if shape[d] < 0 {
				shape[d] = 1
				if d == 0 {
					shape[d] = int64(batch)
				}
			}
			n *= int(shape[d])
		}
		if in.DataType == BYTES {
			c.InputStrings(i, shape, nil, make([]int, n+1))
			continue
		}
		clear(c.Input(i, in.DataType, shape, n))
	}
	return c.runOn(sess)
}
