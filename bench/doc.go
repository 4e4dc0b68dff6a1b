// Package bench is infergate's load generator and capacity planner. It
// drives any Open Inference Protocol v2 REST endpoint (infergate, Triton,
// KServe, MLServer) and answers the planner's question: how many requests per
// second does this model take on this machine within a latency objective, with
// which gateway settings, and how many replicas does a target rate need.
//
// The pieces, one file each:
//
//   - load.go drives a target: closed loop (N clients, each waiting for its
//     answer) or open loop (requests at scheduled times, schedule.go), in
//     measurement windows repeated until they agree (stability);
//   - conn.go is the HTTP/1.1 client: one keep-alive connection per client,
//     requests built once, answers parsed only for status and length;
//   - result.go keeps latencies in HDR histograms and errors by kind;
//   - request.go reads request bodies from files or synthesizes them from
//     the model's metadata;
//   - metrics.go reads an infergate's own phase histograms, so a report can
//     split the client's latency into queue and compute;
//   - search.go finds the highest rate whose p99 meets an objective;
//   - sweep.go starts infergate itself with each combination of batching
//     and instance settings and searches each;
//   - report.go and html.go write the table, JSON and HTML reports.
//
// Open-loop latency is measured from each request's intended send time, not
// from when it was sent: a generator that waits for a stalled server before
// sending its next request hides the stall (coordinated omission, Gil Tene's
// term; wrk2 and vegeta correct it the same way).
package bench
