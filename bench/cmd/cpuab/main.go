// Command cpuab measures what a request costs the server's CPU, user and
// kernel time alike, for a route plain and guarded by Portcullis, with the
// two measured in alternation so that a change in the machine's load hits
// both alike (issue 10, item 2: guarded ≥ 0.97× plain in requests/s).
//
// For each framework it starts one cmd/http-server per setup (plain,
// guarded, and with -spin a third, plain plus that much busy work per
// request: the control) on free loopback ports, warms each up, then runs
// -r rounds. In each round every server in turn gets -prime uncounted
// requests, then exactly -n counted ones over -c keep-alive connections,
// sent from this process by the same client code for every server
// (internal/loadgen: by default its Raw client, pre-built request bytes
// on connections dialled once, which costs about a third of the CPU a
// request of net/http's client, -client http; any answer not 2xx stops
// the run). The order flips from round to round (two setups: AB BA BA AB
// …; three: every permutation in six rounds), so that a drift of the load
// within a round falls on each setup first as often as last.
//
// Around each block the server's CPU time is read from
// /proc/<pid>/task/*/schedstat: the scheduler's run time of every thread,
// in nanoseconds, which counts the time in system calls (the socket reads
// and writes, and the loopback delivery the kernel does in their context),
// the handler, the garbage collector and the Go scheduler alike. Where
// schedstat is missing it falls back to /proc/<pid>/stat's utime + stime,
// in 10 ms ticks.
//
// By default (-pin, on a machine with two CPUs or more) this process runs
// on CPU 0 and every server on CPU 1 with GOMAXPROCS=1: the server has a
// core that the load generator does not take, and is kept busy (the
// server-busy column, its CPU time over the block's wall time, is then
// close to 1). That matters: a server that keeps going idle pays for
// every sleep and wake-up, so its CPU per request falls as its work per
// request rises (unpinned, on the 2-core VM, the 1.2 µs spin control came
// out 7–9 µs cheaper a request than plain with GOMAXPROCS=1).
//
// # Usage
//
//	go run ./cmd/cpuab                              # all frameworks, 15 rounds × 20 000 requests
//	go run ./cmd/cpuab -frameworks gin -n 3000 -r 3 # a short look at one
//	go run ./cmd/cpuab -spin 1.2us                  # with the control
//	go run ./cmd/cpuab -pin=false                   # servers and load on all cores
//	go run ./cmd/cpuab -server /tmp/http-server     # a binary built beforehand
//
// (from bench/: without -server it builds cmd/http-server with go build).
//
// # Output
//
// One line per block (framework, setup, round, the server's cpu-ns/req,
// the block's requests/s, this process's own cpu-ns/req and server-busy),
// then per framework the median and range over rounds of each setup's
// cpu-ns/req and the within-round ratios plain ÷ guarded (and plain ÷
// spin, next to what the spin should give: plain ÷ (plain + spin)), each
// round's, their median and their min–max.
//
// The ratio is of server CPU: plain_cpu ÷ guarded_cpu. Pinned, with the
// server busy, it is the requests/s ratio of a server that has a core to
// itself. Where the load generator shares the server's cores (-pin=false),
// each request also costs the generator's CPU, the same for both setups
// (the load-cpu column), so the requests/s ratio when CPU-bound is (plain +
// load) ÷ (guarded + load): the printed ratio is then a lower bound of it.
//
// What it does not see: the time a thread that exited during a block ran
// in it (flagged "thread exited"; Go seldom ends threads), and, on a VM
// whose host takes the CPU without telling the guest (this one reports no
// steal time), the time taken counted as the server's run time: noise,
// which the interleaving spreads over the setups alike.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/bench/internal/loadgen"
	"github.com/portcullis/portcullis/bench/internal/routes"
	"github.com/portcullis/portcullis/internal/cputime"
)

type config struct {
	frameworks []string
	n, r, c    int
	warmup     int
	prime      int
	spin       time.Duration
	settle     time.Duration
	server     string
	gomaxprocs int
	client     string
	serverCPUs string
	pin        bool
}

func main() {
	var cfg config
	fws := flag.String("frameworks", strings.Join(routes.Frameworks, ","), "frameworks to measure, comma-separated: "+strings.Join(routes.Frameworks, ", "))
	flag.IntVar(&cfg.n, "n", 20000, "requests per block (one server, one round)")
	flag.IntVar(&cfg.r, "r", 15, "rounds")
	flag.IntVar(&cfg.c, "c", 32, "keep-alive connections per server")
	flag.IntVar(&cfg.warmup, "warmup", 2000, "requests to each server before the first round")
	flag.IntVar(&cfg.prime, "prime", 500, "requests to a server right before each of its blocks, not counted: the block then starts with the server's caches as warm as it ends (the first server of a round had cost 1–2 µs a request more)")
	flag.DurationVar(&cfg.spin, "spin", 0, "also measure the control: plain plus this much busy work per request (http-server -spin)")
	flag.DurationVar(&cfg.settle, "settle", 20*time.Millisecond, "pause after a block before its server's CPU time is read, so that the last answers' work is in it")
	flag.StringVar(&cfg.server, "server", "", "cmd/http-server binary (default: go build it into a temporary directory)")
	flag.IntVar(&cfg.gomaxprocs, "gomaxprocs", 0, "GOMAXPROCS of the servers (0: Go's default)")
	flag.BoolVar(&cfg.pin, "pin", runtime.NumCPU() >= 2, "run this process on CPU 0 and each server on CPU 1 with GOMAXPROCS 1 (default where there are two CPUs; -server-cpus and -gomaxprocs override its server side)")
	flag.StringVar(&cfg.serverCPUs, "server-cpus", "", "run the servers on these CPUs only (taskset -c LIST)")
	flag.StringVar(&cfg.client, "client", "raw", "load client: raw (pre-built request bytes on kept connections, the cheapest) or http (net/http's client, as cmd/load)")
	flag.Parse()
	for f := range strings.SplitSeq(*fws, ",") {
		if f = strings.TrimSpace(f); f != "" {
			cfg.frameworks = append(cfg.frameworks, f)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, cfg config) error {
	if cfg.n <= 0 || cfg.r <= 0 || cfg.c <= 0 || cfg.warmup < 0 || cfg.prime < 0 || cfg.spin < 0 {
		return errors.New("-n, -r, -c must be positive, -warmup, -prime and -spin not negative")
	}
	if cfg.client != "raw" && cfg.client != "http" {
		return fmt.Errorf("-client %q: raw or http", cfg.client)
	}
	if cfg.pin {
		if err := pinSelf(0); err != nil {
			return err
		}
		if cfg.serverCPUs == "" {
			cfg.serverCPUs = "1"
		}
		if cfg.gomaxprocs == 0 {
			cfg.gomaxprocs = 1
		}
	}
	if len(cfg.frameworks) == 0 {
		return errors.New("no framework")
	}
	for _, f := range cfg.frameworks {
		if !slices.Contains(routes.Frameworks, f) {
			return fmt.Errorf("unknown framework %q (have %s)", f, strings.Join(routes.Frameworks, ", "))
		}
	}
	if cfg.server == "" {
		dir, err := os.MkdirTemp("", "cpuab")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.server = filepath.Join(dir, "http-server")
		build := exec.CommandContext(ctx, "go", "build", "-o", cfg.server, "github.com/portcullis/portcullis/bench/cmd/http-server")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building cmd/http-server (run from bench/, or give -server): %w", err)
		}
	}
	fmt.Printf("# cpuab: %d rounds × %d requests over %d connections (%s client), warm-up %d, prime %d, spin %v, server CPUs %q, GOMAXPROCS %d; load average %s\n",
		cfg.r, cfg.n, cfg.c, cfg.client, cfg.warmup, cfg.prime, cfg.spin, cfg.serverCPUs, cfg.gomaxprocs, loadavg())
	for _, fw := range cfg.frameworks {
		if err := measure(ctx, cfg, fw); err != nil {
			return fmt.Errorf("%s: %w", fw, err)
		}
	}
	fmt.Printf("# load average at the end %s; CPU times from %s\n", loadavg(), source)
	return nil
}

// server is one running http-server.
type server struct {
	setup  string // plain, guarded or spin
	cmd    *exec.Cmd
	pid    int
	target loadgen.Target
	client *http.Client // -client http
	raw    *loadgen.Raw // -client raw, dialled after the first requests
	served chan string  // its last line ("served …"), once it has exited
	cpu    []float64    // ns per request, by round
}

// start runs the server and waits for its ready line.
func start(ctx context.Context, cfg config, fw, setup string) (*server, error) {
	args := []string{"-framework", fw, "-port", "0", "-lifetime", "24h"}
	switch setup {
	case "guarded":
		args = append(args, "-guarded")
	case "spin":
		args = append(args, "-spin", cfg.spin.String())
	}
	cmd := exec.Command(cfg.server, args...)
	if cfg.serverCPUs != "" {
		// taskset execs the server: the pid stays the server's.
		cmd = exec.Command("taskset", append([]string{"-c", cfg.serverCPUs, cfg.server}, args...)...)
	}
	cmd.Stderr = os.Stderr
	if cfg.gomaxprocs > 0 {
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(cfg.gomaxprocs))
	}
	dieWithParent(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{setup: setup, cmd: cmd, pid: cmd.Process.Pid, served: make(chan string, 1)}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var last string
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "ready ") {
				ready <- line
			} else {
				last = line
			}
		}
		io.Copy(io.Discard, out)
		s.served <- last
		close(ready)
	}()
	select {
	case line, ok := <-ready:
		f := strings.Fields(line)
		if !ok || len(f) < 4 {
			s.stop()
			return nil, fmt.Errorf("%s did not start", setup)
		}
		// f: ready <framework/mode> <url> <Authorization value…>
		h := http.Header{}
		h.Set("Authorization", strings.Join(f[3:], " "))
		s.target = loadgen.Target{URL: f[2], Header: h}
		if cfg.client == "http" {
			s.client = loadgen.NewClient(cfg.c)
		}
		return s, nil
	case <-time.After(time.Minute):
		s.stop()
		return nil, fmt.Errorf("%s: no ready line within a minute", setup)
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

// send sends exactly n requests over the server's c connections.
func (s *server) send(ctx context.Context, n, c int) error {
	if s.raw != nil {
		return s.raw.Run(ctx, n)
	}
	return loadgen.Run(ctx, s.client, s.target, n, c)
}

// stop ends the server and returns its last line.
func (s *server) stop() string {
	if s.raw != nil {
		s.raw.Close()
	}
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	// The output is read to its end before Wait, which closes the pipe.
	var last string
	select {
	case last = <-s.served:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
	}
	s.cmd.Wait()
	return last
}

func measure(ctx context.Context, cfg config, fw string) error {
	setups := []string{"plain", "guarded"}
	if cfg.spin > 0 {
		setups = append(setups, "spin")
	}
	var servers []*server
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for _, setup := range setups {
		s, err := start(ctx, cfg, fw, setup)
		if err != nil {
			return err
		}
		servers = append(servers, s)
	}
	// The first requests on one connection: the token's first sight then
	// holds up no other connection; then enough for the heap and the
	// connections to settle.
	for _, s := range servers {
		if err := loadgen.Run(ctx, loadgen.NewClient(1), s.target, 20, 1); err != nil {
			return fmt.Errorf("%s warm-up: %w", s.setup, err)
		}
		if s.client == nil {
			raw, err := loadgen.DialRaw(ctx, s.target, cfg.c)
			if err != nil {
				return fmt.Errorf("%s: %w", s.setup, err)
			}
			s.raw = raw
		}
		if cfg.warmup > 0 {
			if err := s.send(ctx, cfg.warmup, cfg.c); err != nil {
				return fmt.Errorf("%s warm-up: %w", s.setup, err)
			}
		}
	}
	for r := range cfg.r {
		for _, i := range order(len(servers), r) {
			s := servers[i]
			if cfg.prime > 0 {
				if err := s.send(ctx, cfg.prime, cfg.c); err != nil {
					return fmt.Errorf("%s round %d: %w", s.setup, r+1, err)
				}
			}
			before, err := readCPU(s.pid)
			if err != nil {
				return err
			}
			self := cputime.Start()
			t0 := time.Now()
			if err := s.send(ctx, cfg.n, cfg.c); err != nil {
				return fmt.Errorf("%s round %d: %w", s.setup, r+1, err)
			}
			wall := time.Since(t0)
			own, _ := self.Since()
			// Let the server finish the last answers' work (and go back to
			// waiting) before its time is read.
			time.Sleep(cfg.settle)
			after, err := readCPU(s.pid)
			if err != nil {
				return err
			}
			d, lost := after.since(before)
			perReq := float64(d.Nanoseconds()) / float64(cfg.n)
			s.cpu = append(s.cpu, perReq)
			note := ""
			if lost {
				note = "  (thread exited: CPU time missing)"
			}
			fmt.Printf("%-8s %-8s round %2d  cpu-ns/req %7.0f  req/s %7.0f  load-cpu-ns/req %6.0f  server-busy %.2f%s\n",
				fw, s.setup, r+1, perReq, float64(cfg.n)/wall.Seconds(), float64(own.Nanoseconds())/float64(cfg.n), float64(d)/float64(wall), note)
		}
	}
	want := 20 + cfg.warmup + cfg.r*(cfg.prime+cfg.n)
	cpu := map[string][]float64{}
	for _, s := range servers {
		cpu[s.setup] = s.cpu
		last := s.stop()
		// Nothing else may have sent it requests.
		if f := strings.Fields(last); len(f) < 2 || f[0] != "served" || f[1] != strconv.Itoa(want) {
			fmt.Printf("# %s %s: expected \"served %d …\", the server said %q\n", fw, s.setup, want, last)
		}
	}
	servers = nil
	summarize(cfg, fw, setups, cpu)
	return nil
}

// order is the order of k servers in round r: forward and backward in
// turn, the start moving by one every two rounds (k = 2: AB BA BA AB; k = 3:
// all six permutations in six rounds).
func order(k, r int) []int {
	idx := make([]int, k)
	for i := range idx {
		idx[i] = (i + r/2) % k
	}
	if r%2 == 1 {
		slices.Reverse(idx)
	}
	return idx
}
