package gateway

import (
	"context"
	"testing"
	"time"
)

// A Stop right after Start must stop: fasthttp closes only the listeners
// its Serve has registered, and Serve runs on a goroutine that may not have
// got there yet (before Stop closed the listeners itself, a server test hung
// one run in six).
func TestStopRightAfterStart(t *testing.T) {
	for range 50 {
		ts, err := startServer(Config{}, testRepo)
		if err != nil {
			t.Fatal(err)
		}
		stopped := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stopped <- ts.srv.Stop(ctx)
		}()
		select {
		case <-stopped:
		case <-time.After(15 * time.Second):
			t.Fatal("Stop right after Start did not return")
		}
	}
}
