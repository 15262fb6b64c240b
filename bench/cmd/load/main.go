// Command load sends exactly -n requests to one loopback URL over -c
// keep-alive connections and fails if any answer is not 2xx. Unlike wrk,
// whose runs last a time, it sends a count: cgserve.sh zeroes a server's
// instruction counters under callgrind, runs load, and divides what the
// counters gained by the count. The client is internal/loadgen, which
// cmd/cpuab uses too.
//
//	load -n 2000 -c 32 -H "Authorization: Bearer …" http://127.0.0.1:18181/v1/things
//	load -n 2000 -c 32 -X POST -d 'grant_type=client_credentials' \
//	     -H "Authorization: Basic …" -H "Content-Type: application/x-www-form-urlencoded" URL
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/portcullis/portcullis/bench/internal/loadgen"
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
	header := http.Header{}
	for _, h := range hs {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("header %q is not Name: value", h)
		}
		header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	t := loadgen.Target{URL: rawURL, Method: method, Body: body, Header: header}
	return loadgen.Run(context.Background(), loadgen.NewClient(c), t, n, c)
}
