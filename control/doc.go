// Package control will own infergate's control plane: the control API on
// 127.0.0.1:8003 behind a bearer token, the model registry and its bbolt
// store, rollouts, retraining orders and their delivery, and the audit
// log. It drives router, runtime and monitor, and is not built yet: the
// data plane (gateway) serves a repository read at start-up.
package control
