// Package router decides which model version serves a request. Today that
// is an explicit version pin or the model's default version; weighted
// splits, sticky keys, shadows and rollouts grow here, apart from any wire
// format.
package router

import (
	"errors"
	"fmt"

	"github.com/infergate/infergate/runtime"
)

// These classify why a request found no version; callers map them to
// protocol statuses (404, 503) with errors.Is.
var (
	ErrModelNotFound   = errors.New("model not found")
	ErrVersionNotFound = errors.New("version not found")
	ErrNotReady        = errors.New("not ready")
)

// Router resolves model and version names against a repository.
type Router struct {
	repo *runtime.Repository
}

// New returns a router over repo.
func New(repo *runtime.Repository) *Router {
	return &Router{repo: repo}
}

// Repository returns the repository the router serves.
func (r *Router) Repository() *runtime.Repository { return r.repo }

// Model returns the named model or an error wrapping ErrModelNotFound.
// The name arrives as bytes from a request path; the map lookup does not
// copy it.
func (r *Router) Model(name []byte) (*runtime.Model, error) {
	m := r.repo.Models[string(name)]
	if m == nil {
		return nil, fmt.Errorf("%w: %q is not in the model repository", ErrModelNotFound, name)
	}
	return m, nil
}

// Version resolves a version of m: the numbered one when version is not
// empty, else the model's default (config.yaml's default_version, or the
// highest ready version). It does not check readiness; see Pick.
func (r *Router) Version(m *runtime.Model, version []byte) (*runtime.Version, error) {
	if m.Err != nil {
		return nil, fmt.Errorf("%w: model %s is unavailable: %v", ErrNotReady, m.Name, m.Err)
	}
	if len(version) > 0 {
		n, ok := parseVersion(version)
		if !ok {
			return nil, fmt.Errorf("%w: model %s has no version %q (versions are positive integers)", ErrVersionNotFound, m.Name, version)
		}
		v := m.Version(n)
		if v == nil {
			return nil, fmt.Errorf("%w: model %s has no version %d", ErrVersionNotFound, m.Name, n)
		}
		return v, nil
	}
	if d := m.Config.DefaultVersion; d > 0 {
		if v := m.Version(d); v != nil {
			return v, nil
		}
		return nil, fmt.Errorf("%w: model %s's default_version %d is not in the repository", ErrNotReady, m.Name, d)
	}
	for i := len(m.Versions) - 1; i >= 0; i-- {
		if st, _ := m.Versions[i].State(); st == runtime.Ready {
			return m.Versions[i], nil
		}
	}
	v := m.Versions[len(m.Versions)-1]
	return v, nil
}

// Pick resolves the version that serves an inference and checks that it
// is ready.
func (r *Router) Pick(model, version []byte) (*runtime.Version, error) {
	m, err := r.Model(model)
	if err != nil {
		return nil, err
	}
	v, err := r.Version(m, version)
	if err != nil {
		return nil, err
	}
	if st, why := v.State(); st != runtime.Ready {
		return nil, fmt.Errorf("%w: model %s version %d is %s: %s", ErrNotReady, v.Model, v.Number, st, why)
	}
	return v, nil
}

// parseVersion reads a positive decimal without the allocation a
// strconv call on a converted string would cost on every pinned request.
func parseVersion(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n > 0
}
