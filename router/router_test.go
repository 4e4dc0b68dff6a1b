package router

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infergate/infergate/configs/demomodels"
	"github.com/infergate/infergate/runtime"
)

// testRouter builds and loads this repository:
//
//	pair      versions 1 (good) and 2 (corrupt)
//	latest    versions 1 and 3, both good
//	pinned    versions 1, 2, 3, all good, default_version: 2
//	gone      default_version: 5, which does not exist
//	pinbad    versions 1 (good) and 2 (corrupt), default_version: 2
//	allbad    version 1 only, corrupt
//	broken    a config.yaml with an unknown key
func testRouter(t *testing.T) *Router {
	t.Helper()
	dir := t.TempDir()
	good, err := demomodels.Model("scalar")
	if err != nil {
		t.Fatal(err)
	}
	write := func(rel string, content []byte) {
		t.Helper()
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	corrupt := []byte("not an ONNX model")
	write("pair/1/model.onnx", good)
	write("pair/2/model.onnx", corrupt)
	write("latest/1/model.onnx", good)
	write("latest/3/model.onnx", good)
	for _, v := range []string{"1", "2", "3"} {
		write("pinned/"+v+"/model.onnx", good)
	}
	write("pinned/config.yaml", []byte("default_version: 2\n"))
	write("gone/1/model.onnx", good)
	write("gone/config.yaml", []byte("default_version: 5\n"))
	write("pinbad/1/model.onnx", good)
	write("pinbad/2/model.onnx", corrupt)
	write("pinbad/config.yaml", []byte("default_version: 2\n"))
	write("allbad/1/model.onnx", corrupt)
	write("broken/1/model.onnx", good)
	write("broken/config.yaml", []byte("default_versoin: 1\n"))

	repo, err := runtime.ScanRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	env, err := runtime.NewEnvironment("")
	if err != nil {
		t.Fatal(err)
	}
	repo.Load(env, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(func() {
		repo.Close()
		env.Close()
	})
	return New(repo)
}

func TestPick(t *testing.T) {
	r := testRouter(t)
	// f picks model/version; want is the version number it must resolve
	// to, or 0 with the error class and substrings the error must carry.
	f := func(model, version string, want int64, wantErr error, wantMsg ...string) {
		t.Helper()
		v, err := r.Pick([]byte(model), []byte(version))
		if want != 0 {
			if err != nil {
				t.Errorf("Pick(%q, %q): %v; want version %d", model, version, err, want)
				return
			}
			if v.Model != model || v.Number != want {
				t.Errorf("Pick(%q, %q) = %s version %d; want version %d", model, version, v.Model, v.Number, want)
			}
			if st, why := v.State(); st != runtime.Ready {
				t.Errorf("Pick(%q, %q) returned a version that is %s: %s", model, version, st, why)
			}
			return
		}
		if err == nil {
			t.Errorf("Pick(%q, %q) = version %d; want an error (%v)", model, version, v.Number, wantErr)
			return
		}
		if v != nil {
			t.Errorf("Pick(%q, %q) returned version %d along with error %v", model, version, v.Number, err)
		}
		if !errors.Is(err, wantErr) {
			t.Errorf("Pick(%q, %q) = %v; want errors.Is %v", model, version, err, wantErr)
		}
		for _, other := range []error{ErrModelNotFound, ErrVersionNotFound, ErrNotReady} {
			if other != wantErr && errors.Is(err, other) {
				t.Errorf("Pick(%q, %q) = %v; it also matches %v", model, version, err, other)
			}
		}
		for _, w := range wantMsg {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Pick(%q, %q) = %v; want it to mention %q", model, version, err, w)
			}
		}
	}

	// Explicit versions.
	f("pair", "1", 1, nil)
	f("latest", "1", 1, nil)
	f("latest", "3", 3, nil)
	f("pinned", "1", 1, nil)
	f("pinned", "3", 3, nil)
	f("latest", "003", 3, nil)

	// Defaults: the highest ready version, or default_version.
	f("pair", "", 1, nil)
	f("latest", "", 3, nil)
	f("pinned", "", 2, nil)
	f("gone", "1", 1, nil)
	f("pinbad", "1", 1, nil)

	// Unknown models.
	f("nope", "", 0, ErrModelNotFound, `"nope"`)
	f("nope", "1", 0, ErrModelNotFound, `"nope"`)
	f("", "", 0, ErrModelNotFound)
	f("Pair", "1", 0, ErrModelNotFound, `"Pair"`)

	// Unknown or malformed versions.
	f("latest", "2", 0, ErrVersionNotFound, "latest", "2")
	f("latest", "4", 0, ErrVersionNotFound, "latest", "4")
	f("pair", "abc", 0, ErrVersionNotFound, `"abc"`)
	f("pair", "0", 0, ErrVersionNotFound, `"0"`)
	f("pair", "-1", 0, ErrVersionNotFound, `"-1"`)
	f("pair", "+1", 0, ErrVersionNotFound)
	f("pair", "1.0", 0, ErrVersionNotFound)
	f("pair", " 1", 0, ErrVersionNotFound)
	f("pair", "1 ", 0, ErrVersionNotFound)
	f("pair", "99999999999999999999", 0, ErrVersionNotFound)
	f("pair", "999999999999999999", 0, ErrVersionNotFound, "999999999999999999")

	// Versions that exist but do not serve.
	f("pair", "2", 0, ErrNotReady, "pair", "version 2", "UNAVAILABLE")
	f("allbad", "1", 0, ErrNotReady, "allbad", "UNAVAILABLE")
	f("allbad", "", 0, ErrNotReady, "allbad", "UNAVAILABLE")
	f("pinbad", "", 0, ErrNotReady, "pinbad", "version 2")
	f("gone", "", 0, ErrNotReady, "gone", "default_version 5")
	f("broken", "", 0, ErrNotReady, "broken", "default_versoin")
	f("broken", "1", 0, ErrNotReady, "broken")
	f("broken", "abc", 0, ErrNotReady, "broken")
}

func TestModelAndVersion(t *testing.T) {
	r := testRouter(t)
	if r.Repository() == nil {
		t.Fatal("Repository() is nil")
	}
	m, err := r.Model([]byte("pair"))
	if err != nil || m.Name != "pair" || m != r.Repository().Models["pair"] {
		t.Fatalf("Model(pair) = %v, %v", m, err)
	}
	if _, err := r.Model([]byte("missing")); !errors.Is(err, ErrModelNotFound) {
		t.Fatalf("Model(missing) = %v", err)
	}
	// Version resolves without checking readiness: Pick does that.
	v, err := r.Version(m, []byte("2"))
	if err != nil || v.Number != 2 {
		t.Fatalf("Version(pair, 2) = %v, %v; want the unavailable version 2", v, err)
	}
	allbad, err := r.Model([]byte("allbad"))
	if err != nil {
		t.Fatal(err)
	}
	// With no ready version, the default is the highest one, so Pick can
	// say why it does not serve.
	v, err = r.Version(allbad, nil)
	if err != nil || v.Number != 1 {
		t.Fatalf("Version(allbad, default) = %v, %v", v, err)
	}
}

func TestPickAllocations(t *testing.T) {
	r := testRouter(t)
	f := func(model, version string) {
		t.Helper()
		mb, vb := []byte(model), []byte(version)
		if _, err := r.Pick(mb, vb); err != nil {
			t.Fatalf("Pick(%q, %q): %v", model, version, err)
		}
		if n := testing.AllocsPerRun(1000, func() {
			if _, err := r.Pick(mb, vb); err != nil {
				panic(err)
			}
		}); n != 0 {
			t.Errorf("Pick(%q, %q) allocates %v times per call, want 0", model, version, n)
		}
	}
	f("pair", "1")
	f("pair", "")
	f("latest", "")
	f("latest", "3")
	f("pinned", "")
	f("pinned", "2")
}

func TestParseVersion(t *testing.T) {
	f := func(in string, want int64, wantOK bool) {
		t.Helper()
		got, ok := parseVersion([]byte(in))
		if ok != wantOK || (ok && got != want) {
			t.Errorf("parseVersion(%q) = %d, %v; want %d, %v", in, got, ok, want, wantOK)
		}
	}
	f("1", 1, true)
	f("2", 2, true)
	f("42", 42, true)
	f("10", 10, true)
	f("007", 7, true)
	f("999999999999999999", 999999999999999999, true) // 18 digits: the most accepted
	f("000000000000000001", 1, true)

	f("", 0, false)
	f("0", 0, false)
	f("00", 0, false)
	f("000000000000000000", 0, false)
	f("-1", 0, false)
	f("+1", 0, false)
	f("-0", 0, false)
	f("abc", 0, false)
	f("1a", 0, false)
	f("a1", 0, false)
	f("1.0", 0, false)
	f("1e3", 0, false)
	f("0x10", 0, false)
	f(" 1", 0, false)
	f("1 ", 0, false)
	f("1\x00", 0, false)
	f("１", 0, false) // a full-width digit is not a version
	f("1000000000000000000", 0, false)
	f("9223372036854775807", 0, false)
	f("99999999999999999999", 0, false)
	f("18446744073709551617", 0, false)
}
