// Package bench will hold infergate's load generator and capacity planner,
// usable against any OIP v2 endpoint. Until it exists, the project's HTTP
// figures come from bench/run.sh (wrk against the gateway and against
// bench/baseline, a trivial fasthttp server), and its in-process figures
// from the Benchmark functions in each package; bench/README.md lists
// every figure with the command that reproduces it.
package bench
