package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// liveRequest is a small request any repository answers.
const liveRequest = "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"

// dialTimed opens a raw connection to the gateway.
func dialTimed(t *testing.T, ts *testServer) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", ts.srv.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// roundTrip sends one request on c and reads its response.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, req string) *http.Response {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// closedWithin waits for the server to close c and returns how long that
// took; the test fails if it takes longer than limit.
func closedWithin(t *testing.T, c net.Conn, br *bufio.Reader, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, br)
	waited := time.Since(start)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server kept the connection open for over %v", limit)
	}
	return waited
}

// TestConnectionTimeouts holds the REST listener's connections to
// fasthttp's meaning of the three timeouts, which the listener now keeps
// itself (deadline.go): the idle wait between keep-alive requests, the
// whole of a new connection's first request, and the rest of a request
// after its first bytes.
func TestConnectionTimeouts(t *testing.T) {
	const read, idle = 400 * time.Millisecond, 1200 * time.Millisecond
	ts := newServer(t, Config{ReadTimeout: read, WriteTimeout: read, IdleTimeout: idle}, testRepo)

	t.Run("busy keep-alive stays open", func(t *testing.T) {
		// Requests 50 ms apart for three idle timeouts: each request
		// moves the idle wait on, however seldom the deadline moves.
		c, br := dialTimed(t, ts)
		for end := time.Now().Add(3 * idle); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if resp := roundTrip(t, c, br, liveRequest); resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
	})

	t.Run("idle keep-alive closed after IdleTimeout", func(t *testing.T) {
		c, br := dialTimed(t, ts)
		roundTrip(t, c, br, liveRequest)
		waited := closedWithin(t, c, br, 3*idle)
		if waited < idle-idle/8 {
			t.Fatalf("closed after %v of idleness; IdleTimeout is %v", waited, idle)
		}
		t.Logf("closed after %v idle", waited)
	})

	t.Run("silent new connection closed after ReadTimeout", func(t *testing.T) {
		c, br := dialTimed(t, ts)
		waited := closedWithin(t, c, br, idle)
		if waited < read-read/8 {
			t.Fatalf("closed after %v; ReadTimeout is %v", waited, read)
		}
		t.Logf("closed after %v", waited)
	})

	t.Run("trickled request cut at ReadTimeout", func(t *testing.T) {
		// A keep-alive request whose header comes a byte every 20 ms
		// never lets a read wait long, but must end within ReadTimeout
		// of its first bytes (measured here from its second byte).
		c, br := dialTimed(t, ts)
		roundTrip(t, c, br, liveRequest)
		done := make(chan struct{})
		defer close(done)
		go func() {
			req := "GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 1000)
			for i := range len(req) {
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := io.WriteString(c, req[i:i+1]); err != nil {
					return
				}
			}
		}()
		waited := closedWithin(t, c, br, idle)
		if waited < read-read/8 {
			t.Fatalf("cut after %v; ReadTimeout is %v", waited, read)
		}
		t.Logf("cut after %v", waited)
	})
}

// TestContinueBodyCutAtReadTimeout: after a 100 Continue, a request's
// body is still the request's, awaited under ReadTimeout, not under a new
// idle wait.
func TestContinueBodyCutAtReadTimeout(t *testing.T) {
	const read, idle = 400 * time.Millisecond, 1200 * time.Millisecond
	ts := newServer(t, Config{ReadTimeout: read, WriteTimeout: read, IdleTimeout: idle}, testRepo)
	c, br := dialTimed(t, ts)
	roundTrip(t, c, br, liveRequest)
	io.WriteString(c, "POST /v2/models/elementwise/infer HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("no 100 Continue: %q, %v", line, err)
	}
	// The body never comes.
	waited := closedWithin(t, c, br, (read+idle)/2)
	t.Logf("closed %v after the 100 Continue", waited)
}

// timedPair returns both ends of a loopback connection whose server end
// came from a timedListener with these timeouts; the test closes them.
func timedPair(t *testing.T, read, write, idle time.Duration) (client, server net.Conn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	tl := newTimedListener(ln, read, write, idle)
	t.Cleanup(func() { tl.Close() })
	if client, err = net.Dial("tcp", tl.Addr().String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if server, err = tl.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// TestTimedConnWriteDeadline: a client that stops reading holds a write
// for WriteTimeout, then the write fails.
func TestTimedConnWriteDeadline(t *testing.T) {
	const write = 300 * time.Millisecond
	_, server := timedPair(t, time.Minute, write, time.Minute)
	var err error
	chunk := make([]byte, 1<<16)
	var start time.Time
	for {
		// The socket buffers fill first; the write that blocks then
		// waits for the deadline.
		before := time.Now()
		if _, err = server.Write(chunk); err != nil {
			start = before
			break
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write failed with %v, want a deadline", err)
	}
	if waited := time.Since(start); waited > write+time.Second {
		t.Fatalf("the blocked write failed after %v; WriteTimeout is %v", waited, write)
	}
}

// TestTimedConnWriteTimeoutBoundsResponse: a client that reads a large
// response slowly, so that every write makes progress, still has the
// whole response cut at WriteTimeout, as fasthttp's deadline per response
// did; a deadline per write would let it hold the connection for as long
// as it keeps reading.
func TestTimedConnWriteTimeoutBoundsResponse(t *testing.T) {
	const write = 300 * time.Millisecond
	client, server := timedPair(t, time.Minute, write, time.Minute)
	var err error
	go func() { // at most 32 MB/s: a 64 MB response takes at least 2 s
		buf := make([]byte, 64<<10)
		for {
			if _, err := client.Read(buf); err != nil {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	chunk := make([]byte, 64<<10)
	start := time.Now()
	for range 1024 {
		if _, err = server.Write(chunk); err != nil {
			break
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a 64 MB response to a slow reader ended with %v after %v, want the write deadline", err, time.Since(start))
	}
	if waited := time.Since(start); waited > write+time.Second {
		t.Fatalf("the response was cut after %v; WriteTimeout is %v", waited, write)
	}
}

// TestTimedConnMovesDeadlinesSeldom is the point of deadline.go: a
// keep-alive connection's requests in quick succession leave its
// deadlines where the first one put them.
func TestTimedConnMovesDeadlinesSeldom(t *testing.T) {
	client, server := timedPair(t, time.Minute, time.Minute, 5*time.Minute)
	c := server.(*timedConn)
	tl := c.l
	buf := make([]byte, 64)
	moves := 0
	var readBy, writeBy int64
	start := time.Now()
	for range 200 {
		if _, err := client.Write([]byte("request")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("response")); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Read(buf); err != nil {
			t.Fatal(err)
		}
		if c.readBy != readBy || c.writeBy != writeBy {
			moves++
			readBy, writeBy = c.readBy, c.writeBy
		}
	}
	// The first read (ReadTimeout from the accept), the first idle wait
	// and the first write set theirs; a second's slack passes only on a
	// very slow machine, once.
	if limit := 3 + int(time.Since(start)/tl.slack); moves > limit {
		t.Fatalf("deadlines moved %d times in 200 requests (at most %d expected)", moves, limit)
	}
	t.Logf("deadlines moved %d times in 200 requests", moves)
}
