package faultproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/faultproxy"
)

// echoServer answers every line with the same line, until t ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// start returns a proxy to a new echo server, closed when t ends.
func start(t *testing.T) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

type conn struct {
	net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, p *faultproxy.Proxy) *conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{c, bufio.NewReader(c)}
}

// roundTrip sends line and reads the echo, waiting at most wait.
func (c *conn) roundTrip(line string, wait time.Duration) (string, error) {
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	return c.read(wait)
}

func (c *conn) read(wait time.Duration) (string, error) {
	c.SetReadDeadline(time.Now().Add(wait))
	s, err := c.r.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

// long bounds waits that only a failing test reaches.
const long = 10 * time.Second

func TestForward(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	for _, line := range []string{"one", "two", strings.Repeat("x", 100<<10)} {
		if got, err := c.roundTrip(line, long); err != nil || got != line {
			t.Fatalf("echo of %d bytes: %d bytes, %v", len(line), len(got), err)
		}
	}
	if s := p.Stats(); s.Accepted != 1 || s.Reset != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestPause: nothing goes through while paused, on an open connection or a
// new one, and everything held arrives, in order, on Resume.
func TestPause(t *testing.T) {
	p := start(t)
	open := dial(t, p)
	if _, err := open.roundTrip("warm", long); err != nil {
		t.Fatal(err)
	}
	p.Pause()
	fresh := dial(t, p)
	for _, c := range []*conn{open, fresh} {
		io.WriteString(c, "a\nb\n")
		if got, err := c.read(200 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read while paused: %q, %v; want a timeout", got, err)
		}
	}
	p.Resume()
	for _, c := range []*conn{open, fresh} {
		for _, want := range []string{"a", "b"} {
			if got, err := c.read(long); err != nil || got != want {
				t.Fatalf("after Resume: %q, %v; want %q", got, err, want)
			}
		}
	}
}

// TestPauseOutlivesSender: bytes sent before the sender gave up and closed
// its connection still reach the server on Resume, as a command whose
// reply timed out still runs on a real server.
func TestPauseOutlivesSender(t *testing.T) {
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	got := make(chan string, 1)
	go func() {
		c, err := target.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	p, err := faultproxy.New(target.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Pause()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "INCR counter\n")
	c.Close()
	time.Sleep(50 * time.Millisecond) // let the proxy read it and see the close
	select {
	case s := <-got:
		t.Fatalf("the server got %q while paused", s)
	default:
	}
	p.Resume()
	select {
	case s := <-got:
		if s != "INCR counter\n" {
			t.Fatalf("the server got %q", s)
		}
	case <-time.After(long):
		t.Fatal("held bytes never reached the server")
	}
}

// TestDelay: a round trip takes at least twice the delay (each way), and
// Resume releases held chunks at once.
func TestDelay(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	const d = 150 * time.Millisecond
	p.Delay(d)
	began := time.Now()
	if got, err := c.roundTrip("slow", long); err != nil || got != "slow" {
		t.Fatalf("delayed echo: %q, %v", got, err)
	}
	if took := time.Since(began); took < 2*d {
		t.Errorf("round trip took %v with a delay of %v each way", took, d)
	}
	// A read timeout shorter than the delay expires, as a client's would.
	if _, err := c.roundTrip("late", d/2); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read within less than the delay: %v, want a timeout", err)
	}
	p.Delay(time.Hour)
	io.WriteString(c, "held\n")
	time.AfterFunc(50*time.Millisecond, p.Resume)
	for _, want := range []string{"late", "held"} {
		if got, err := c.read(long); err != nil || got != want {
			t.Fatalf("after Resume: %q, %v; want %q", got, err, want)
		}
	}
}

// TestCut: open connections are reset, new ones too while the cut lasts,
// and after Resume connections work again.
func TestCut(t *testing.T) {
	p := start(t)
	open := dial(t, p)
	if _, err := open.roundTrip("before", long); err != nil {
		t.Fatal(err)
	}
	p.Cut(time.Hour)
	if got, err := open.read(long); err == nil {
		t.Fatalf("read on a cut connection: %q", got)
	}
	// The handshake completes in the kernel, then the proxy accepts and
	// resets. On a busy machine the reset can land before the dialer has
	// looked at its socket, and Dial itself reports it: that is a refusal
	// too.
	if during, err := net.Dial("tcp", p.Addr()); err == nil {
		c := &conn{during, bufio.NewReader(during)}
		got, err := c.roundTrip("during", long)
		during.Close()
		if err == nil {
			t.Fatalf("a connection made during the cut answered %q", got)
		}
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("dial during the cut: %v, want a reset", err)
	}
	p.Resume()
	after := dial(t, p)
	if got, err := after.roundTrip("after", long); err != nil || got != "after" {
		t.Fatalf("after Resume: %q, %v", got, err)
	}
	if s := p.Stats(); s.Reset != 2 {
		t.Errorf("stats %+v, want 2 resets", s)
	}
}

// TestCutEnds: a cut ends by itself after its duration.
func TestCutEnds(t *testing.T) {
	p := start(t)
	p.Cut(50 * time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	c := dial(t, p)
	if got, err := c.roundTrip("back", long); err != nil || got != "back" {
		t.Fatalf("after the cut: %q, %v", got, err)
	}
}

// TestCloseLeavesNothing: Close ends every goroutine of the proxy, even
// with connections held by a pause.
func TestCloseLeavesNothing(t *testing.T) {
	target := echoServer(t)
	p, err := faultproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	var conns []*conn
	for range 3 {
		conns = append(conns, dial(t, p))
	}
	for _, c := range conns {
		if _, err := c.roundTrip("x", long); err != nil {
			t.Fatal(err)
		}
	}
	p.Pause()
	for _, c := range conns {
		io.WriteString(c, "held\n")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		if _, err := c.read(long); err == nil {
			t.Fatal("a connection survived Close")
		}
		c.Close()
	}
	// Close waited for the proxy's goroutines: none may be left.
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	if strings.Contains(stacks, "faultproxy.(*Proxy)") {
		t.Fatalf("goroutines of the proxy left after Close:\n%s", stacks)
	}
	if _, err := net.Dial("tcp", p.Addr()); err == nil {
		t.Error("the proxy still accepts after Close")
	}
}
