// Command endpoint-server serves one of the bench's token endpoints on
// 127.0.0.1, so that a load generator such as wrk can measure it over
// loopback. It only ever listens on the loopback address, and exits by
// itself after -lifetime so that a forgotten server does not linger.
//
// # Usage
//
//	endpoint-server -impl portcullis-es256 -port 8181
//	endpoint-server -list    # the setups it knows
//	endpoint-server -impl portcullis-eddsa -store postgres
//
// With -store other than memory, a Portcullis setup runs over a fresh store
// of that backend (see bench/internal/benchstore): a PostgreSQL schema, a
// MySQL database or a Redis key prefix of its own on the server that
// PORTCULLIS_TEST_POSTGRES, _MYSQL or _REDIS names, or a SQLite file in a
// temporary directory, removed when the server exits.
//
// When it is ready it prints one line:
//
//	ready <impl> http://127.0.0.1:<port><path> <Authorization header value>
//
// and every request with that Authorization header, POSTed to that URL with
// the body "grant_type=client_credentials&scope=read" (form encoded), gets a
// token. run.sh reads the line to drive wrk. On exit (SIGINT, SIGTERM or
// -lifetime) it prints
//
//	served <requests> cpu-ns <user+sys CPU time of the process> cpu-ns/req <ratio>
//
// the server's CPU time per request, which a shared machine moves far less
// than wrk's requests per second.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/bench/internal/benchstore"
	"github.com/portcullis/portcullis/bench/internal/endpoints"
	"github.com/portcullis/portcullis/internal/cputime"
	"github.com/portcullis/portcullis/internal/token"
)

func main() {
	impl := flag.String("impl", "portcullis-es256", "setup to serve: "+strings.Join(endpoints.Names, ", "))
	port := flag.Int("port", 8181, "TCP port on 127.0.0.1")
	lifetime := flag.Duration("lifetime", 5*time.Minute, "exit after this long")
	list := flag.Bool("list", false, "print the setups, one a line, and exit")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the serving to this file")
	storeName := flag.String("store", "memory", "store of a portcullis setup: "+strings.Join(benchstore.Names, ", "))
	headerTimeout := flag.Duration("header-timeout", 5*time.Second, "the server's ReadHeaderTimeout; 0 for none (cgserve.sh: under valgrind a connection may wait longer than 5 s for its turn)")
	flag.Parse()
	if *list {
		fmt.Println(strings.Join(endpoints.Names, "\n"))
		return
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if err := run(*impl, *storeName, *port, *lifetime, *headerTimeout); err != nil {
		log.Fatal(err)
	}
}

func run(impl, storeName string, port int, lifetime, headerTimeout time.Duration) (err error) {
	if port <= 0 || port > 65535 {
		return fmt.Errorf("invalid -port %d", port)
	}
	e, closeStore, err := endpoint(impl, storeName)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := closeStore(); cerr != nil && err == nil {
			err = fmt.Errorf("removing the %s store: %w", storeName, cerr)
		}
	}()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	var served atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		e.Handler.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: headerTimeout}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, lifetime)
	defer cancel()
	go func() {
		<-ctx.Done()
		shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		srv.Shutdown(shutdown)
	}()
	cpu := cputime.Start()
	fmt.Printf("ready %s http://%s%s %s\n", e.Name, ln.Addr(), e.Path, e.Authorization())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if d, ok := cpu.Since(); ok {
		n := served.Load()
		fmt.Printf("served %d cpu-ns %d cpu-ns/req %.0f\n", n, d.Nanoseconds(), float64(d.Nanoseconds())/float64(max(n, 1)))
	}
	return nil
}

// endpoint builds impl, over a fresh store of the named backend for a
// Portcullis setup, and returns it with the function that removes the
// store.
func endpoint(impl, storeName string) (*endpoints.Endpoint, func() error, error) {
	if storeName == "memory" {
		e, err := endpoints.New(impl)
		return e, func() error { return nil }, err
	}
	alg, ok := map[string]string{
		"portcullis-es256": token.ES256, "portcullis-eddsa": token.EdDSA, "portcullis-hs256": token.HS256,
	}[impl]
	if !ok {
		return nil, nil, fmt.Errorf("-store %s needs a portcullis setup, not %s", storeName, impl)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, closeStore, err := benchstore.Open(ctx, storeName)
	if err != nil {
		return nil, nil, err
	}
	e, err := endpoints.PortcullisOn(impl+"@"+storeName, st, alg)
	if err != nil {
		return nil, nil, errors.Join(err, closeStore())
	}
	return e, closeStore, nil
}
