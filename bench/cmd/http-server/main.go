// Command http-server serves one of the bench's HTTP-level routes (package
// routes: net/http, chi or gin, plain or guarded by Portcullis) on
// 127.0.0.1, so that wrk can compare plain and guarded over loopback. It
// only ever listens on the loopback address, and exits by itself after
// -lifetime.
//
// # Usage
//
//	http-server -framework gin -guarded -port 8182
//	http-server -list    # the setups, framework/mode, one a line
//
// When it is ready it prints one line:
//
//	ready <framework/mode> http://127.0.0.1:<port><path> <Authorization header value>
//
// and on exit (SIGINT, SIGTERM or -lifetime) one more:
//
//	served <requests> cpu-ns <user+sys CPU time of the process> cpu-ns/req <ratio>
//
// so that run.sh can put the server's CPU time per request next to wrk's
// requests per second: on a shared machine the former moves far less.
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
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/bench/internal/routes"
	"github.com/portcullis/portcullis/internal/cputime"
)

func main() {
	framework := flag.String("framework", "nethttp", "framework: "+strings.Join(routes.Frameworks, ", "))
	guarded := flag.Bool("guarded", false, "guard the route with Portcullis")
	port := flag.Int("port", 8182, "TCP port on 127.0.0.1")
	lifetime := flag.Duration("lifetime", 5*time.Minute, "exit after this long")
	list := flag.Bool("list", false, "print the setups (framework/mode), one a line, and exit")
	flag.Parse()
	if *list {
		for _, fw := range routes.Frameworks {
			for _, m := range routes.Modes {
				fmt.Println(fw + "/" + m)
			}
		}
		return
	}
	if err := run(*framework, *guarded, *port, *lifetime); err != nil {
		log.Fatal(err)
	}
}

func run(framework string, guarded bool, port int, lifetime time.Duration) error {
	if port <= 0 || port > 65535 {
		return fmt.Errorf("invalid -port %d", port)
	}
	s, err := routes.NewSetup()
	if err != nil {
		return err
	}
	rt, err := s.Route(framework, guarded)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	// Counted the same way for plain and guarded: one atomic add.
	var served atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		rt.Handler.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
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
	fmt.Printf("ready %s http://%s%s %s\n", rt.Name, ln.Addr(), routes.Path, rt.Authorization)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if d, ok := cpu.Since(); ok {
		n := served.Load()
		fmt.Printf("served %d cpu-ns %d cpu-ns/req %.0f\n", n, d.Nanoseconds(), float64(d.Nanoseconds())/float64(max(n, 1)))
	}
	return nil
}
