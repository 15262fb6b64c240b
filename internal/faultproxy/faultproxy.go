// Package faultproxy is a TCP proxy that injects network faults between a
// program and a server it depends on, for fault tests: it listens on a free
// loopback port and forwards every connection to a target address, and on
// command it holds the bytes in flight ([Proxy.Pause]), delays them
// ([Proxy.Delay]), or cuts every connection and resets new ones
// ([Proxy.Cut]), until [Proxy.Resume].
//
// It knows nothing of the protocol it carries: a PostgreSQL or Redis client
// pointed at [Proxy.Addr] sees a server that stalls, answers late or drops
// its connections, as it would over a real network. Bytes held by a pause
// or a delay are delivered, in order, when it ends, even if the side that
// sent them has given up in the meantime: a command whose reply timed out
// still runs on the server, as it may in production.
//
// Only tests and test programs use it.
package faultproxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// Stats counts what a proxy did.
type Stats struct {
	Accepted int // connections accepted and forwarded
	Reset    int // connections reset: cut while open, or accepted during a cut
}

// Proxy forwards TCP connections from a loopback port to a target. Its
// methods are safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string
	ctx    context.Context // done when the proxy is closed
	stop   context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever the mode changes
	paused   bool
	delay    time.Duration
	cutUntil time.Time
	links    map[*link]struct{}
	closed   bool
	stats    Stats
}

// link is one proxied connection: the client's side and the target's.
type link struct {
	client, server net.Conn
	done           chan struct{} // closed when the link is killed
	once           sync.Once
}

// kill closes both sides; with reset, the client's side with a TCP RST.
func (l *link) kill(reset bool) {
	l.once.Do(func() {
		close(l.done)
		if reset {
			resetConn(l.client)
		}
		l.client.Close()
		if l.server != nil {
			l.server.Close()
		}
	})
}

// resetConn makes Close send a RST rather than a FIN.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
}

// New starts a proxy on a free port of 127.0.0.1 that forwards to target
// (host:port). Close it when done.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	p := &Proxy{
		ln:      ln,
		target:  target,
		ctx:     ctx,
		stop:    stop,
		changed: make(chan struct{}),
		links:   map[*link]struct{}{},
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's address, host:port on 127.0.0.1.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Pause holds every byte in flight, both ways, on every connection, open
// or new, until Resume. Connections stay open and new ones are accepted.
func (p *Proxy) Pause() {
	p.set(func() { p.paused = true })
}

// Delay holds every chunk of bytes for d after the proxy read it, both
// ways, until Resume: a request and its reply take at least 2d longer.
// Chunks read before the call are held too, counting from when they were
// read.
func (p *Proxy) Delay(d time.Duration) {
	p.set(func() { p.delay = d })
}

// Cut resets every open connection, and for d (or until Resume) accepts
// new ones only to reset them at once, as a server that went away would.
// Bytes held by a pause or delay are dropped with their connection.
func (p *Proxy) Cut(d time.Duration) {
	p.mu.Lock()
	p.cutUntil = time.Now().Add(d)
	links := p.takeLinks()
	p.stats.Reset += len(links)
	p.mu.Unlock()
	for _, l := range links {
		l.kill(true)
	}
}

// Resume ends any pause, delay or cut: held bytes go on at once.
func (p *Proxy) Resume() {
	p.set(func() {
		p.paused, p.delay, p.cutUntil = false, 0, time.Time{}
	})
}

// Stats reports what the proxy has done so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Close stops listening, closes every connection and returns once every
// goroutine of the proxy has ended.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	links := p.takeLinks()
	p.mu.Unlock()
	p.stop()
	err := p.ln.Close()
	for _, l := range links {
		l.kill(false)
	}
	p.wg.Wait()
	return err
}

// set changes the mode under the lock and wakes every held chunk to look
// at it again.
func (p *Proxy) set(change func()) {
	p.mu.Lock()
	change()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// takeLinks empties the set of links and returns them; p.mu is held.
func (p *Proxy) takeLinks() []*link {
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	clear(p.links)
	return links
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: try again shortly.
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		l := &link{client: c, done: make(chan struct{})}
		p.mu.Lock()
		switch {
		case p.closed:
			p.mu.Unlock()
			c.Close()
			return
		case time.Now().Before(p.cutUntil):
			p.stats.Reset++
			p.mu.Unlock()
			l.kill(true)
			continue
		}
		p.stats.Accepted++
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(l)
	}
}

// serve dials the target for l and copies both ways until either side
// closes or the link is killed.
func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	defer p.forget(l)
	d := net.Dialer{Timeout: 10 * time.Second}
	server, err := d.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		l.kill(true)
		return
	}
	p.mu.Lock()
	_, live := p.links[l] // not cut or closed while dialling
	if live {
		l.server = server
	}
	p.mu.Unlock()
	if !live {
		server.Close()
		l.kill(true)
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(l, server, l.client) })
	p.pipe(l, l.client, server)
	wg.Wait()
}

// forget removes l from the set of open links and closes it.
func (p *Proxy) forget(l *link) {
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
	l.kill(false)
}

// pipe copies src to dst, holding each chunk as the mode says. When either
// side fails or closes, it kills the whole link, so that the other
// direction ends too.
func (p *Proxy) pipe(l *link, dst, src net.Conn) {
	defer l.kill(false)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.hold(l, time.Now()) {
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// hold waits until a chunk read at readAt may go on: not while paused, and
// not before readAt plus the delay. It returns false if the link was
// killed meanwhile.
func (p *Proxy) hold(l *link, readAt time.Time) bool {
	for {
		p.mu.Lock()
		paused, delay, changed := p.paused, p.delay, p.changed
		p.mu.Unlock()
		var release <-chan time.Time
		var timer *time.Timer
		if !paused {
			wait := time.Until(readAt.Add(delay))
			if wait <= 0 {
				return true
			}
			timer = time.NewTimer(wait)
			release = timer.C
		}
		select {
		case <-l.done:
			stopTimer(timer)
			return false
		case <-changed:
			stopTimer(timer)
		case <-release:
			return true
		}
	}
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}
