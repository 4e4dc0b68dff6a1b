package main

import (
	"os"
	"strings"
	"syscall"
)

// sysmonSetting is what serve adds to GODEBUG: a scheduler trace every
// 2^31-1 ms (24.8 days, the largest period). The runtime counts the period
// from the machine's boot (CLOCK_MONOTONIC), so it prints nothing on a
// machine up less than that, and on one up longer a single SCHED line at
// start, then one every 24.8 days. Its use is a side effect: while
// schedtrace is set, the runtime's sysmon thread never takes its deep
// sleep.
//
// Why that matters: sysmon takes the processor from a thread that is in a
// cgo call when two of its passes in a row find the same call. It passes
// every 20 µs after it last took one, backing off to 10 ms when it finds
// nothing, so a 0.5 ms ONNX Runtime batch is either taken at every run
// (fast passes) or almost never (backed off); both states keep
// themselves. Out of its deep sleep, which it takes whenever every
// processor is idle, sysmon is woken by the next returning cgo call and
// restarts at 20 µs passes. Serving the MLP at 64 connections on one core
// of this project's VM (system calls cost about 1 µs there), that meant
// 0.35 context switches, 0.14 nanosleeps and 0.07 futex calls a request
// and 18.7k req/s; with this setting 0.008, 0.004 and none, and 24.9k
// (`perf stat`, bench/README.md, sixth session). An idle gateway pays
// sysmon's 10 ms passes instead of sleeping.
//
// That the deep sleep is the cause was read from the runtime's source and
// confirmed by this setting, which changes nothing else that matters here.
// A goroutine woken every millisecond while requests arrived, the first
// remedy, kept sysmon out of deep sleep too, but only while requests
// arrived and at the cost of its own wake-ups; with this setting it made
// no difference (bench/README.md, seventh session) and was removed.
//
// What it can cost: a sysmon that never sleeps polls every 20 µs for
// about a millisecond after each processor it takes from a call, and on a
// core it shares with the model those wake-ups interrupt the run. Calls
// back to back with nothing else to do keep it there: the runtime
// package's RawMLP benchmark loop, given this setting, fell from 71k to
// 41k samples/s on one core. A gateway does other work between runs, and
// no loss showed there: one client sending the cnn demo 160 rows at a
// time (12-27 ms runs) p50 -3%, the MLP 64 rows (1 ms) +23% req/s, the
// cnn at 16 clients +1%; and after long runs in the middle of the MLP's
// load the gateway went straight back to its speed (bench/README.md,
// seventh session).
const sysmonSetting = "schedtrace=2147483647"

// keepSysmonAwake re-executes the process with sysmonSetting in GODEBUG,
// which the runtime reads only at start. A GODEBUG that already sets
// schedtrace (GODEBUG=schedtrace=0 restores Go's default) is left as it
// is, as is a process that cannot find its executable; then it returns
// and serving goes on without the setting.
func keepSysmonAwake() {
	godebug := os.Getenv("GODEBUG")
	if strings.Contains(godebug, "schedtrace=") {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	if godebug != "" {
		godebug += ","
	}
	syscall.Exec(exe, os.Args, withGodebug(os.Environ(), godebug+sysmonSetting)) // returns only on failure
}

// withGodebug returns environ with its GODEBUG entries replaced by one.
// Appending instead would not do: the runtime and os.Getenv read the
// first GODEBUG in the environment, so the new process would not see the
// setting and would execute itself again, forever.
func withGodebug(environ []string, godebug string) []string {
	env := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "GODEBUG=") {
			env = append(env, kv)
		}
	}
	return append(env, "GODEBUG="+godebug)
}
