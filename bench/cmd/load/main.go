// Command load sends exactly -n requests to one loopback URL over -c
// keep-alive connections and fails if any answer is not 2xx. Unlike wrk,
// whose runs last a time, it sends a count: cgserve.sh zeroes a server's
// instruction counters under callgrind, runs load, and divides what the
// counters gained by the count.
//
//	load -n 2000 -c 32 -H "Authorization: Bearer …" http://127.0.0.1:18181/v1/things
//	load -n 2000 -c 32 -X POST -d 'grant_type=client_credentials' \
//	     -H "Authorization: Basic …" -H "Content-Type: application/x-www-form-urlencoded" URL
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	n := flag.Int("n", 1000, "requests to send in all")
	c := flag.Int("c", 32, "connections, each sending its share one after another")
	method := flag.String("X", http.MethodGet, "request method")
	body := flag.String("d", "", "request body")
	var hs headers
	flag.Var(&hs, "H", `a request header, "Name: value" (repeatable)`)
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: load [flags] URL")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *method, *body, hs, *n, *c); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(rawURL, method, body string, hs headers, n, c int) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	// Loopback only: this is a measuring tool, not a load generator to
	// point at someone else's server.
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing non-loopback URL %s", rawURL)
	}
	if n <= 0 || c <= 0 {
		return errors.New("-n and -c must be positive")
	}
	header := http.Header{}
	for _, h := range hs {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("header %q is not Name: value", h)
		}
		header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	client := &http.Client{
		Timeout:   time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c, DisableCompression: true},
	}
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range min(c, n) {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && failed.Load() == nil {
				if err := send(client, method, u.String(), body, header); err != nil {
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

func send(client *http.Client, method, rawURL, body string, header http.Header) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
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
