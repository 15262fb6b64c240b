package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/examples/internal/demotest"
)

// TestSlowAndIdleConnections floods the quickstart as an attacker would
// (issue 9): connections that never finish their headers, bodies promised
// and half sent, bodies trickled a byte at a time, and idle keep-alive
// connections. The server runs with its timeouts shortened to a second (the
// real ones are checked to be set); every connection must be closed by the
// server well within a generous bound, the server must keep answering
// meanwhile, and afterwards its descriptors and goroutines must be back
// near where they started. Counts, not timings, are asserted.
func TestSlowAndIdleConnections(t *testing.T) {
	const (
		perKind = 75          // × 4 kinds: 300 connections
		timeout = time.Second // every server timeout, shortened
		trickle = 200 * time.Millisecond
		bound   = 30 * time.Second // generous: each must be closed by then
	)
	real := make(chan [5]int64, 1)
	s := demotest.Start(t, func(ctx context.Context, args []string, stdout io.Writer) error {
		return runServer(ctx, args, stdout, func(srv *http.Server) {
			real <- [5]int64{int64(srv.ReadHeaderTimeout), int64(srv.ReadTimeout), int64(srv.WriteTimeout),
				int64(srv.IdleTimeout), int64(srv.MaxHeaderBytes)}
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout = timeout, timeout, timeout, timeout
		})
	}, "-addr", "127.0.0.1:0")
	for i, v := range <-real {
		if v <= 0 {
			t.Errorf("the quickstart's server lacks limit %d (header, read, write, idle timeouts, header bytes): %v", i, v)
		}
	}
	addr := strings.TrimPrefix(s.URL, "http://")
	baseFDs, baseGoroutines := openFDs(t), runtime.NumGoroutine()

	const body = "grant_type=client_credentials&scope=read"
	post := "POST /oauth/token HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", 2*len(body))
	kinds := map[string]func(c net.Conn, r *bufio.Reader) error{
		// Headers begun and never finished (slowloris).
		"headers": func(c net.Conn, _ *bufio.Reader) error {
			_, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n")
			return err
		},
		// Half the promised body, then nothing.
		"half body": func(c net.Conn, _ *bufio.Reader) error {
			_, err := io.WriteString(c, post+body)
			return err
		},
		// The body a byte at a time, for as long as the server listens.
		"trickle": func(c net.Conn, _ *bufio.Reader) error {
			if _, err := io.WriteString(c, post); err != nil {
				return err
			}
			go func() {
				for {
					time.Sleep(trickle)
					if _, err := c.Write([]byte{'a'}); err != nil {
						return
					}
				}
			}()
			return nil
		},
		// One request answered, then an idle keep-alive connection.
		"idle": func(c net.Conn, r *bufio.Reader) error {
			if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
				return err
			}
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Close {
				return fmt.Errorf("GET /healthz: %d, close %v", resp.StatusCode, resp.Close)
			}
			return nil
		},
	}

	var closed, open atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 5 {
			failures = append(failures, fmt.Sprintf(f, a...))
		}
	}
	for kind, start := range kinds {
		for range perKind {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			r := bufio.NewReader(c)
			if err := start(c, r); err != nil {
				c.Close()
				t.Fatalf("%s: %v", kind, err)
			}
			open.Add(1)
			wg.Go(func() {
				defer c.Close()
				// Whatever the server answers (a 400 or 408, or nothing), it
				// must then close: read until it does, or the bound passes.
				c.SetReadDeadline(time.Now().Add(bound))
				_, err := io.Copy(io.Discard, r)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					fail("%s: still open after %v", kind, bound)
					return
				}
				closed.Add(1)
			})
		}
	}
	// Meanwhile the server answers as usual.
	resp, err := http.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatalf("during the flood: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("during the flood: %d", resp.StatusCode)
	}
	wg.Wait()
	if n := closed.Load(); n != open.Load() {
		t.Errorf("the server closed %d of %d slow or idle connections within %v: %v", n, open.Load(), bound, failures)
	}

	// Closed on both ends, the connections leave no descriptor and no
	// goroutine behind (a few may still be on their way out).
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(bound)
	for {
		fds, gs := openFDs(t), runtime.NumGoroutine()
		if fds <= baseFDs+10 && gs <= baseGoroutines+10 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after the flood: %d descriptors (%d before), %d goroutines (%d before)", fds, baseFDs, gs, baseGoroutines)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents)
}
