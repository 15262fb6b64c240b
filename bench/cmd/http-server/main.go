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
//	http-server -framework chi -cpuprofile /tmp/chi.pprof
//	http-server -framework chi -spin 1.2us  # plain, plus 1.2 µs of busy work
//	http-server -framework chi -port 0      # any free port (cmd/cpuab starts its servers so)
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
	"runtime/pprof"
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
	port := flag.Int("port", 8182, "TCP port on 127.0.0.1; 0 for any free one (the ready line names it)")
	lifetime := flag.Duration("lifetime", 5*time.Minute, "exit after this long")
	list := flag.Bool("list", false, "print the setups (framework/mode), one a line, and exit")
	spin := flag.Duration("spin", 0, "a control: spin this long on every request before the route (calibrated at start), so that plain+spin shows what any added per-request work costs over loopback, guard or not")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the serving (from ready to exit) to this file")
	headerTimeout := flag.Duration("header-timeout", 5*time.Second, "the server's ReadHeaderTimeout; 0 for none (cgserve.sh: under valgrind a connection may wait longer than 5 s for its turn)")
	flag.Parse()
	if *list {
		for _, fw := range routes.Frameworks {
			for _, m := range routes.Modes {
				fmt.Println(fw + "/" + m)
			}
		}
		return
	}
	if err := run(*framework, *guarded, *port, *lifetime, *spin, *headerTimeout, *cpuprofile); err != nil {
		log.Fatal(err)
	}
}

func run(framework string, guarded bool, port int, lifetime, spin, headerTimeout time.Duration, cpuprofile string) error {
	if port < 0 || port > 65535 {
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
	rounds := spinRounds(spin)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if rounds > 0 {
			spinSink.Add(busy(rounds))
		}
		rt.Handler.ServeHTTP(w, r)
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
	if cpuprofile != "" {
		// Started before the CPU meter and stopped after it: the profiler's
		// own cost (a signal every 10 ms) is counted in cpu-ns/req alike for
		// plain and guarded.
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
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

// spinSink keeps busy's result alive, so the compiler cannot drop the loop.
var spinSink atomic.Uint64

// busy is CPU work without memory traffic or allocation: rounds of a
// multiply-xorshift.
func busy(rounds int) uint64 {
	x := uint64(rounds) | 1
	for range rounds {
		x ^= x >> 29
		x *= 0xbf58476d1ce4e5b9
	}
	return x
}

// spinRounds returns how many rounds of busy take d of CPU on this
// machine: the best of several timings, so a loaded machine does not
// shrink the count.
func spinRounds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	const probe = 1 << 20
	best := time.Duration(1<<63 - 1)
	for range 5 {
		t := time.Now()
		spinSink.Add(busy(probe))
		best = min(best, time.Since(t))
	}
	return max(1, int(float64(probe)*float64(d)/float64(best)))
}
