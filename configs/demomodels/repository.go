package demomodels

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ModelPath is where WriteRepository puts a model: the Triton-style
// <repository>/<name>/<version>/model.onnx layout the gateway loads from.
func ModelPath(dir, name string) string {
	return filepath.Join(dir, name, "1", "model.onnx")
}

// WriteRepository materializes every demo model under dir. Existing files
// are left alone unless overwrite is set, so a running gateway's repository
// can be topped up without touching models it may have mapped. Each file
// appears atomically (temp file + rename): a concurrent loader sees either
// the old model or the complete new one, never a truncated protobuf.
func WriteRepository(dir string, overwrite bool) error {
	for _, name := range Names() {
		path := ModelPath(dir, name)
		if !overwrite {
			_, err := os.Stat(path)
			if err == nil {
				continue
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("demomodels: %w", err)
			}
		}
		b, err := Model(name)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(path, b); err != nil {
			return fmt.Errorf("demomodels: write %s: %w", name, err)
		}
	}
	return writeReferences(dir, overwrite)
}

func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// The temp file must live in the target directory: rename is only
	// atomic within one filesystem.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
