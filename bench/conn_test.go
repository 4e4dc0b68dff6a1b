package bench

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestConnRead(t *testing.T) {
	f := func(answer string, wantCode int, wantKeep bool, wantErr error) {
		t.Helper()
		c := &conn{br: bufio.NewReader(strings.NewReader(answer + "NEXT"))}
		code, keep, _, err := c.read()
		if code != wantCode || keep != wantKeep || !errors.Is(err, wantErr) {
			t.Errorf("%.80q: code %d keep %v err %v", answer, code, keep, err)
		}
		if err == nil && keep {
			// The answer was consumed exactly: the next one starts here.
			if rest, _ := c.br.Peek(4); string(rest) != "NEXT" {
				t.Errorf("%.80q: left %q", answer, rest)
			}
		}
	}
	f("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, true, nil)
	f("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\nRetry-After: 1\r\n\r\n{}", 503, true, nil)
	f("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nTrailer: 1\r\n\r\n", 200, true, nil)
	f("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 200, false, nil)
	f("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 200, false, nil)
	f("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 200, true, nil)
	f("HTTP/1.1 204 No Content\r\n\r\n", 204, true, nil)
	f("HTTP/1.1 200 OK\r\n\r\nto the end", 200, false, nil)
	f("HTTP/1.1 200 OK\r\nX-Long: "+strings.Repeat("a", 40000)+"\r\nContent-Length: 1\r\n\r\nx", 200, true, nil)
	f("SSH-2.0-OpenSSH\r\n", 0, false, errMalformed)
	f("HTTP/1.1 2x0 OK\r\n\r\n", 0, false, errMalformed)
	f("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 200, false, errMalformed)
	f("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", 200, false, errMalformed)
	f("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 200, true, errMalformed)
}

func FuzzConnRead(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &conn{br: bufio.NewReader(bytes.NewReader(b))}
		c.read()
	})
}

// A server that closes each connection after one answer, as a server
// dropping idle keep-alive connections does: the client retries on a
// new connection instead of counting an error.
func TestConnRetriesClosedKeepAlive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				c.Read(buf)
				// Claims keep-alive, then closes.
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"))
			}()
		}
	}()
	c := newConn(ln.Addr().String(), time.Second)
	defer c.close()
	req := appendRequest(nil, "h", "/v2/models/m/infer", []byte("{}"))
	for i := range 5 {
		time.Sleep(10 * time.Millisecond) // let the close arrive
		if code, err := c.do(req, time.Now()); err != nil || code != 200 {
			t.Fatalf("request %d: %d %v", i, code, err)
		}
	}
}

func TestAppendRequest(t *testing.T) {
	got := string(appendRequest(nil, "127.0.0.1:8000", "/v2/models/m/infer", []byte(`{"a":1}`)))
	want := "POST /v2/models/m/infer HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
	if got != want {
		t.Errorf("got %q", got)
	}
}

// The send path allocates nothing per request (STYLE: pool what the hot
// path allocates, and prove it). The in-process test server's own
// allocations, if any, would count too, so zero is zero for both.
func TestConnDoAllocs(t *testing.T) {
	if raceBuild {
		t.Skip("the race detector allocates")
	}
	url := serve(t, fixedService(0))
	c := newConn(strings.TrimPrefix(url, "http://"), time.Second)
	defer c.close()
	req := appendRequest(nil, "h", "/v2/models/m/infer", []byte("{}"))
	c.do(req, time.Now()) // dial
	if n := testing.AllocsPerRun(2000, func() {
		if code, err := c.do(req, time.Now()); err != nil || code != 200 {
			t.Fatal(code, err)
		}
	}); n != 0 {
		t.Errorf("%.2f allocations per request", n)
	}
}
