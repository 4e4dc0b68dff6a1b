package gateway

import (
	"net"
	"time"
)

// The REST listener's timeouts, kept by the connections themselves rather
// than by fasthttp. fasthttp moves a keep-alive connection's deadlines
// three times a request (the idle wait, the request's read, the
// response's write), each a time.Now and a runtime timer update that reads
// the clock twice more: about 17 clock reads a request, and 3-4% of a
// fraud request's CPU (bench/README.md, ninth session). Here each read and
// write reads the monotonic clock once and moves its deadline only when
// the deadline has fallen more than the slack behind where it should be,
// or must come sooner: on a busy connection, about once a second.
//
// The meaning is fasthttp's: IdleTimeout bounds a keep-alive connection's
// wait for its next request's first bytes, ReadTimeout the reading of the
// rest of it (and all of a new connection's first request), WriteTimeout
// the writing of the response. A deadline may fire up to the slack early
// (a sixteenth of the shortest timeout, at most a second), never late.

// timedListener hands out connections that keep their own deadlines.
type timedListener struct {
	*net.TCPListener
	read, write, idle time.Duration
	slack             time.Duration
	epoch             time.Time // deadlines are kept as nanoseconds since
}

func newTimedListener(ln *net.TCPListener, read, write, idle time.Duration) *timedListener {
	slack := min(read, write, idle, 16*time.Second) / 16
	return &timedListener{TCPListener: ln, read: read, write: write, idle: idle, slack: slack, epoch: time.Now()}
}

func (l *timedListener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	// A new connection's first request must arrive whole within
	// ReadTimeout of the accept, as fasthttp has it: a client that opens
	// connections and sends nothing holds each for that long, not for
	// IdleTimeout.
	return &timedConn{TCPConn: c, l: l, reading: true, started: max(1, l.now())}, nil
}

// now is the monotonic clock since the listener's epoch: one clock read
// (time.Since takes the monotonic fast path), where time.Now takes two.
func (l *timedListener) now() int64 { return int64(time.Since(l.epoch)) }

// timedConn is one connection. fasthttp reads and writes a connection
// from its serving goroutine only, so the fields need no lock; a queued
// request's client-gone check (clientGone) uses the socket, not them.
type timedConn struct {
	*net.TCPConn
	l *timedListener
	// readBy and writeBy are the deadlines in force, in nanoseconds since
	// the epoch; 0 when none is.
	readBy, writeBy int64
	// reading is set when a read has returned a request's first bytes and
	// its response is not written yet, and on a new connection; started
	// is when ReadTimeout started (the accept, or a request's second
	// read), 0 before.
	reading bool
	started int64
	// responding is set from a response's first write to the next read:
	// the writes between share the deadline the first one set.
	responding bool
}

// due reports whether a deadline in force (0: none) must move to want:
// when it comes later than want (the wait must end sooner), or more than
// the slack before it.
func (c *timedConn) due(by, want int64) bool {
	return by == 0 || by > want || want-by > int64(c.l.slack)
}

func (c *timedConn) Read(p []byte) (int, error) {
	now := c.l.now()
	want := now + int64(c.l.idle)
	if c.reading {
		// Most requests arrive in one read; only one that needs more
		// starts ReadTimeout, at its second read.
		if c.started == 0 {
			c.started = now
		}
		want = c.started + int64(c.l.read)
	}
	if c.due(c.readBy, want) {
		if err := c.TCPConn.SetReadDeadline(c.l.epoch.Add(time.Duration(want))); err != nil {
			return 0, err
		}
		c.readBy = want
	}
	c.responding = false
	n, err := c.TCPConn.Read(p)
	if n > 0 {
		c.reading = true
	}
	return n, err
}

func (c *timedConn) Write(p []byte) (int, error) {
	// WriteTimeout bounds a whole response, however many writes it takes
	// (a client reading a large one slowly must not hold it forever):
	// only its first write sets the deadline.
	if !c.responding {
		c.responding = true
		want := c.l.now() + int64(c.l.write)
		if c.due(c.writeBy, want) {
			if err := c.TCPConn.SetWriteDeadline(c.l.epoch.Add(time.Duration(want))); err != nil {
				return 0, err
			}
			c.writeBy = want
		}
	}
	// A response is going out: the request it answers has been read, and
	// the next read waits for a new one. An interim response (100
	// Continue, which fasthttp flushes alone before reading a request's
	// body) answers nothing yet.
	if !interim(p) {
		c.reading, c.started = false, 0
	}
	return c.TCPConn.Write(p)
}

// interim reports whether p starts an HTTP/1.1 1xx response.
func interim(p []byte) bool { return len(p) >= 10 && string(p[:10]) == "HTTP/1.1 1" }

// The deadline setters keep the bookkeeping true when someone else (a
// handler through fasthttp) moves a deadline: the next read or write
// then sets its own again.

func (c *timedConn) SetReadDeadline(t time.Time) error {
	c.readBy = 0
	return c.TCPConn.SetReadDeadline(t)
}

func (c *timedConn) SetWriteDeadline(t time.Time) error {
	c.writeBy = 0
	return c.TCPConn.SetWriteDeadline(t)
}

func (c *timedConn) SetDeadline(t time.Time) error {
	c.readBy, c.writeBy = 0, 0
	return c.TCPConn.SetDeadline(t)
}
