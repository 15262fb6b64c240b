package loadgen_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/portcullis/portcullis/bench/internal/loadgen"
)

// TestExactCount checks that both clients send exactly n requests, with
// the header, and reuse their connections: Raw its c, net/http's client
// at most c.
func TestExactCount(t *testing.T) {
	var served, conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer x" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		served.Add(1)
		w.Write([]byte("hello"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	target := loadgen.Target{URL: srv.URL + "/x", Header: http.Header{"Authorization": {"Bearer x"}}}
	ctx := context.Background()

	if err := loadgen.Run(ctx, loadgen.NewClient(4), target, 101, 4); err != nil {
		t.Fatal(err)
	}
	// net/http's client dials when it has no idle connection, so a
	// connection done before another sender starts is reused: at most 4.
	httpConns := conns.Load()
	if httpConns < 1 || httpConns > 4 {
		t.Errorf("net/http's client opened %d connections, want 1 to 4", httpConns)
	}
	raw, err := loadgen.DialRaw(ctx, target, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for range 2 {
		if err := raw.Run(ctx, 101); err != nil {
			t.Fatal(err)
		}
	}
	if got := served.Load(); got != 303 {
		t.Errorf("served %d requests, want 303", got)
	}
	if got := conns.Load() - httpConns; got != 4 {
		t.Errorf("Raw opened %d connections, want 4", got)
	}
}

// TestRawRefuses checks that a Raw run fails on a status outside 2xx and
// on a body it cannot frame.
func TestRawRefuses(t *testing.T) {
	ctx := context.Background()
	for name, h := range map[string]http.HandlerFunc{
		"401": func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) },
		"chunked": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("a"))
			w.(http.Flusher).Flush()
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(h)
			defer srv.Close()
			raw, err := loadgen.DialRaw(ctx, loadgen.Target{URL: srv.URL}, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			err = raw.Run(ctx, 1)
			if err == nil {
				t.Fatal("no error")
			}
			if name == "chunked" && !errors.Is(err, loadgen.ErrUnsupported) {
				t.Errorf("got %v, want ErrUnsupported", err)
			}
		})
	}
	if _, err := loadgen.DialRaw(ctx, loadgen.Target{URL: "http://192.0.2.1/"}, 1); !errors.Is(err, loadgen.ErrNotLoopback) {
		t.Errorf("non-loopback: got %v", err)
	}
}
