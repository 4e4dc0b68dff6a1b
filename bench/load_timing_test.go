package bench

import (
	"context"
	"testing"
	"time"
)

// The send path, end to end over loopback against a server that answers at
// once: one closed-loop client sending b.N requests. Setup (the client, the
// histograms) is paid once per run, so B/op and allocs/op tend to zero as
// b.N grows when the path itself allocates nothing:
//
//	go test -run '^$' -bench SendPath -benchmem ./bench/
func BenchmarkSendPath(b *testing.B) {
	t := &testing.T{}
	url := serve(t, fixedService(0))
	tg := target(url)
	// Warm the connection and the pools.
	if _, err := Run(context.Background(), tg, Load{Concurrency: 1, Requests: 1000}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	res, err := Run(context.Background(), tg, Load{Concurrency: 1, Requests: int64(b.N), Window: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	if res.OK < int64(b.N) {
		b.Fatalf("%d OK of %d", res.OK, b.N)
	}
}
