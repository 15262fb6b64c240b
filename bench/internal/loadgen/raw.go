package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrUnsupported is returned by a Raw run when an answer is framed in a
// way Raw does not read (no Content-Length, chunked, or Connection: close).
var ErrUnsupported = errors.New("loadgen: answer not framed by Content-Length on a kept connection")

// Raw is a cheaper client than net/http's, for a server whose CPU is
// measured on the same cores as the client: c connections, dialled once,
// each writing one pre-built HTTP/1.1 request and reading its answer, one
// after another. It reads only the status line and the headers that frame
// the body. net/http's client hands each request between goroutines and
// allocates several objects; on loopback it spends more CPU a request
// than the server it loads.
type Raw struct {
	req   []byte
	conns []*rawConn
}

type rawConn struct {
	c  net.Conn
	rd *bufio.Reader
}

// DialRaw opens c connections to t's host. Body is not supported.
func DialRaw(ctx context.Context, t Target, c int) (*Raw, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%w: %s", ErrNotLoopback, t.URL)
	}
	if c <= 0 {
		return nil, errors.New("loadgen: c must be positive")
	}
	if t.Body != "" {
		return nil, errors.New("loadgen: Raw sends no body")
	}
	method := t.Method
	if method == "" {
		method = http.MethodGet
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, u.RequestURI(), u.Host)
	if err := t.Header.Write(&b); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	r := &Raw{req: b.Bytes()}
	var d net.Dialer
	for range c {
		conn, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.conns = append(r.conns, &rawConn{c: conn, rd: bufio.NewReaderSize(conn, 4096)})
	}
	return r, nil
}

// Close closes the connections.
func (r *Raw) Close() {
	for _, c := range r.conns {
		c.c.Close()
	}
}

// Run sends exactly n requests over the connections and returns the first
// error; after an error the connections are not to be used again.
func (r *Raw) Run(ctx context.Context, n int) error {
	if n <= 0 {
		return errors.New("loadgen: n must be positive")
	}
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for _, c := range r.conns[:min(len(r.conns), n)] {
		wg.Go(func() {
			if dl, ok := ctx.Deadline(); ok {
				c.c.SetDeadline(dl)
			} else {
				c.c.SetDeadline(time.Now().Add(time.Minute))
			}
			for next.Add(1) <= int64(n) && failed.Load() == nil {
				if err := c.roundTrip(r.req); err != nil {
					failed.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	return ctx.Err()
}

var (
	prefixLength   = []byte("content-length:")
	prefixEncoding = []byte("transfer-encoding:")
	prefixConn     = []byte("connection:")
)

func (c *rawConn) roundTrip(req []byte) error {
	if _, err := c.c.Write(req); err != nil {
		return err
	}
	line, err := c.rd.ReadSlice('\n')
	if err != nil {
		return err
	}
	// "HTTP/1.1 204 …"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[9] != '2' {
		return fmt.Errorf("loadgen: answer %q", bytes.TrimSpace(line))
	}
	length := -1
	for {
		line, err := c.rd.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 { // the blank line
			break
		}
		switch {
		case hasPrefixFold(line, prefixLength):
			v := bytes.TrimSpace(line[len(prefixLength):])
			if length, err = strconv.Atoi(string(v)); err != nil {
				return fmt.Errorf("loadgen: Content-Length %q", v)
			}
		case hasPrefixFold(line, prefixEncoding), hasPrefixFold(line, prefixConn) && bytes.Contains(bytes.ToLower(line), []byte("close")):
			return fmt.Errorf("%w: %q", ErrUnsupported, bytes.TrimSpace(line))
		}
	}
	if length < 0 {
		return ErrUnsupported
	}
	_, err = c.rd.Discard(length)
	return err
}

func hasPrefixFold(b, prefix []byte) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], prefix)
}
