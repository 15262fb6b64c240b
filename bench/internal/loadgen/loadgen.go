// Package loadgen sends an exact number of HTTP requests to a loopback URL
// over a fixed number of keep-alive connections, and fails on any answer
// that is not 2xx. cmd/load and cmd/cpuab share it, so that every server
// they compare is driven by the same client code.
//
// It counts requests rather than running for a time (as wrk does): a
// caller that reads a server's counters around Run divides what they
// gained by the count.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNotLoopback is returned for a URL whose host is not a loopback
// address: this is a measuring tool, not a load generator to point at
// someone else's server.
var ErrNotLoopback = errors.New("loadgen: not a loopback URL")

// Target is the request sent, the same every time.
type Target struct {
	URL    string
	Method string // default GET
	Body   string
	Header http.Header
}

// NewClient returns a client that keeps up to c connections open to one
// host and reuses them: run after run on one client, no connection is set
// up again while the server keeps them.
func NewClient(c int) *http.Client {
	return &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c, DisableCompression: true},
	}
}

// Run sends exactly n requests to t over c connections of client, each
// connection sending its share one after another, and returns the first
// error (a transport error or a status outside 2xx). Give it a client
// from NewClient(c).
func Run(ctx context.Context, client *http.Client, t Target, n, c int) error {
	u, err := url.Parse(t.URL)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %s", ErrNotLoopback, t.URL)
	}
	if n <= 0 || c <= 0 {
		return errors.New("loadgen: n and c must be positive")
	}
	method := t.Method
	if method == "" {
		method = http.MethodGet
	}
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range min(c, n) {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && failed.Load() == nil {
				if err := send(ctx, client, method, u.String(), t.Body, t.Header); err != nil {
					failed.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return err
	}
	return nil
}

func send(ctx context.Context, client *http.Client, method, rawURL, body string, header http.Header) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return err
	}
	req.Header = header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Read to the end, so that the connection is reused.
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: status %d", method, rawURL, resp.StatusCode)
	}
	return nil
}
