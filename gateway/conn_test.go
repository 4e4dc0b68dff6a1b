package gateway

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// loopbackPair is a TCP connection over loopback, both ends, closed when
// the test ends.
func loopbackPair(tb testing.TB) (client, server net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { server.Close() })
	return client, server
}

// TestClientGone checks the socket peek that lets the batcher drop a
// queued request whose client left: false while the client is connected
// (with or without bytes waiting), true once it has closed.
func TestClientGone(t *testing.T) {
	client, server := loopbackPair(t)

	var ctx fasthttp.RequestCtx
	ctx.Init2(server, nil, false)
	sess := testRepo.Models["elementwise"].Versions[0].Session
	call, err := sess.AcquireCall()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.ReleaseCall(call)
	call.SetTag(&inferRequest{ctx: &ctx})

	if clientGone(call) {
		t.Fatal("a connected, silent client reads as gone")
	}
	if _, err := client.Write([]byte("GET / HTTP/1.1\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if clientGone(call) {
		t.Fatal("a client with a pipelined request waiting reads as gone")
	}
	// Drain what it sent, so only the end of stream is left to see.
	buf := make([]byte, 64)
	server.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := server.Read(buf); err != nil {
		t.Fatal(err)
	}
	client.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !clientGone(call) {
		if time.Now().After(deadline) {
			t.Fatal("a closed client never read as gone")
		}
		time.Sleep(5 * time.Millisecond)
	}
	call.SetTag("not a request")
	if clientGone(call) {
		t.Fatal("a call without a request context reads as gone")
	}
}

// BenchmarkSocketReadEmpty prices the system call every keep-alive request
// ends with: after its response, the connection's goroutine reads again,
// finds nothing (EAGAIN) and parks in the network poller, which Go's
// edge-triggered poller requires. Getppid, the cheapest system call, is
// beside it for scale.
//
//	taskset -c 0 go test -run '^$' -bench SocketReadEmpty -cpu 1 ./gateway/
func BenchmarkSocketReadEmpty(b *testing.B) {
	_, server := loopbackPair(b)
	raw, err := server.(*net.TCPConn).SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	var buf [4096]byte
	b.Run("read=EAGAIN", func(b *testing.B) {
		raw.Control(func(fd uintptr) {
			for b.Loop() {
				if _, err := syscall.Read(int(fd), buf[:]); err != syscall.EAGAIN {
					b.Fatalf("read: %v, want EAGAIN", err)
				}
			}
		})
	})
	b.Run("getppid", func(b *testing.B) {
		for b.Loop() {
			syscall.Getppid()
		}
	})
}
