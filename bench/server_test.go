package bench

// Test servers on loopback: fixed service time, a one-off stall, fixed
// status codes, a listener that never answers, and a port with nothing
// behind it.

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// serve starts a fasthttp server with handler on 127.0.0.1 and returns
// its base URL; it stops when the test ends.
func serve(t *testing.T, handler fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: handler, NoDefaultServerHeader: true, Concurrency: 1 << 16}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// sleepPrecise sleeps d to within the machine's wake-up latency: Go's
// timer sleeps up to a millisecond long on a quiet process, which is 10% of
// the service time the tests check to 5%.
func sleepPrecise(d time.Duration) {
	until := time.Now().Add(d)
	if d > 2*time.Millisecond {
		time.Sleep(d - 2*time.Millisecond)
	}
	if r := time.Until(until); r > 0 {
		ts := unix.NsecToTimespec(int64(r))
		unix.Nanosleep(&ts, nil)
	}
}

var okBody = []byte(`{"model_name":"m","outputs":[{"name":"y","datatype":"FP32","shape":[1],"data":[1]}]}`)

// fixedService answers every request after d: each connection is served
// by its own goroutine, one request at a time, so N connections are N
// servers of service time d.
func fixedService(d time.Duration) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		sleepPrecise(d)
		ctx.SetContentType("application/json")
		ctx.SetBody(okBody)
	}
}

// stallOnce answers after a millisecond (so a closed loop does not spin
// the test machine's cores), except that from `after` past its first
// request it stalls for `stall`: every request that arrives in that span
// is held until its end, as a server paused by a GC or a page fault storm.
func stallOnce(after, stall time.Duration) fasthttp.RequestHandler {
	var once sync.Once
	var from time.Time
	return func(ctx *fasthttp.RequestCtx) {
		now := time.Now()
		once.Do(func() { from = now.Add(after) })
		if end := from.Add(stall); now.After(from) && now.Before(end) {
			time.Sleep(time.Until(end))
		} else {
			time.Sleep(time.Millisecond)
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(okBody)
	}
}

func status(code int) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetStatusCode(code)
		ctx.SetBodyString(`{"error":"overloaded"}`)
	}
}

// deadPort is a loopback address with nothing listening.
func deadPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// silent accepts connections and never answers.
func silent(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + ln.Addr().String()
}

func target(url string) Target {
	return Target{URL: url, Model: "m", Bodies: [][]byte{[]byte(`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}`)}}
}
