package gateway

import (
	"errors"
	"syscall"

	"github.com/infergate/infergate/runtime"
)

// clientGone reports whether the client of a queued request has closed
// its connection, so the batcher can drop the request before it costs
// compute. fasthttp does not read a connection while its handler runs, so
// this peeks at the socket: end of stream means the client left.
func clientGone(c *runtime.Call) bool {
	req, ok := c.Tag().(*inferRequest)
	if !ok || req.ctx == nil {
		return false
	}
	sc, ok := req.ctx.Conn().(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	gone := false
	var buf [1]byte
	_ = raw.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		gone = n == 0 && err == nil || (err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR))
	})
	return gone
}
