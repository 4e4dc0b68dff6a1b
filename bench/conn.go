package bench

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"time"
)

// conn is one keep-alive HTTP/1.1 connection, owned by one worker. The
// request's bytes are built once per body (appendRequest) and written as
// they are; the answer is parsed only as far as its status and its end.
// This is the whole client: a general one (fasthttp.HostClient was the
// first) also manages a connection pool, header objects and per-request
// buffers, work a one-core generator spends on every request.
type conn struct {
	addr    string
	timeout time.Duration
	c       net.Conn
	br      *bufio.Reader
	// deadline is the connection's current read/write deadline. Setting
	// it moves two runtime timers, so it is moved only when it has fallen
	// more than 1/64 of the timeout behind now+timeout: a request then
	// times out after between 63/64 of the timeout and the timeout.
	deadline time.Time
	// reused is set once the connection has carried a full exchange: a
	// failure on it before any byte of the next answer is the server
	// having closed an idle connection, and is retried once on a new one.
	reused bool
}

// errMalformed: the answer is not HTTP/1.x as this client reads it.
var errMalformed = errors.New("malformed HTTP response")

func newConn(addr string, timeout time.Duration) *conn {
	return &conn{addr: addr, timeout: timeout}
}

// appendRequest writes a POST of body to path, complete with headers.
func appendRequest(dst []byte, host, path string, body []byte) []byte {
	dst = append(dst, "POST "...)
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}

// do sends req at now and reads the answer, returning its status code.
func (c *conn) do(req []byte, now time.Time) (int, error) {
	code, err, fresh := c.try(req, now)
	if err != nil && !fresh {
		code, err, _ = c.try(req, now)
	}
	return code, err
}

// try makes one attempt. fresh is false when the attempt failed on a reused
// connection before any byte of the answer arrived (worth one retry).
func (c *conn) try(req []byte, now time.Time) (code int, err error, fresh bool) {
	if c.c == nil {
		nc, err := net.DialTimeout("tcp", c.addr, c.timeout)
		if err != nil {
			return 0, err, true
		}
		c.c = nc
		if c.br == nil {
			c.br = bufio.NewReaderSize(nc, 16<<10)
		} else {
			c.br.Reset(nc)
		}
		c.reused = false
		c.deadline = time.Time{}
	}
	wasReused := c.reused
	if want := now.Add(c.timeout); want.Sub(c.deadline) > c.timeout/64 {
		if err := c.c.SetDeadline(want); err != nil {
			c.close()
			return 0, err, !wasReused
		}
		c.deadline = want
	}
	if _, err := c.c.Write(req); err != nil {
		c.close()
		return 0, err, !wasReused
	}
	code, keep, started, err := c.read()
	if err != nil {
		c.close()
		return 0, err, !wasReused || started
	}
	if !keep {
		c.close()
	} else {
		c.reused = true
	}
	return code, nil, true
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// read reads one answer: its status, whether the connection stays open,
// and whether any of it arrived (for the retry rule).
func (c *conn) read() (code int, keep, started bool, err error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, false, len(line) > 0, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, false, true, errMalformed
	}
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return 0, false, true, errMalformed
		}
		code = code*10 + int(d-'0')
	}
	keep = line[7] == '1' // HTTP/1.1 keeps the connection unless told otherwise
	length, chunked := int64(-1), false
	for {
		line, err = c.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A header longer than the buffer: not one this client reads.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = c.br.ReadSlice('\n')
			}
			if err != nil {
				return code, false, true, err
			}
			continue
		}
		if err != nil {
			return code, false, true, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return code, false, true, errMalformed
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, perr := strconv.ParseInt(string(value), 10, 64) // no allocation: the conversion does not escape
			if perr != nil || n < 0 {
				return code, false, true, errMalformed
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				keep = false
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				keep = true
			}
		}
	}
	switch {
	case code < 200 || code == 204 || code == 304:
		return code, keep, true, nil
	case chunked:
		return code, keep, true, c.discardChunked()
	case length >= 0:
		_, err = c.br.Discard(int(length))
		return code, keep, true, err
	}
	// No length: the body runs to the connection's end.
	_, err = io.Copy(io.Discard, c.br)
	return code, false, true, err
}

func (c *conn) discardChunked() error {
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return errMalformed
		}
		if size == 0 {
			// Trailers, then the blank line.
			for {
				line, err := c.br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := c.br.Discard(int(size)); err != nil {
			return err
		}
		if _, err := c.br.ReadSlice('\n'); err != nil {
			return err
		}
	}
}
