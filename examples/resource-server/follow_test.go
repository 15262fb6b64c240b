package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/issuer"
)

// syncBuffer collects a subprocess's output.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFollowInOwnProcess builds this server and runs it in its own process,
// following the change feed of an issuer it shares nothing with; it
// rotates the client's secret ten times, and revokes ten tokens (RFC 7009),
// and measures how long the old token goes on being accepted. The only
// timing bound is a liveness one: refused within ten poll intervals.
// PORTCULLIS_FEED_POLL sets the poll interval (default 500ms, so that the
// test is short; the figures in the README are of the default 2s).
func TestFollowInOwnProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a subprocess")
	}
	poll := 500 * time.Millisecond
	if s := os.Getenv("PORTCULLIS_FEED_POLL"); s != "" {
		var err error
		if poll, err = time.ParseDuration(s); err != nil {
			t.Fatal(err)
		}
	}
	ti := startIssuer(t, nil)
	ctx := context.Background()
	rs, rsSecret, err := ti.iss.CreateClient(ctx, issuer.ClientSpec{Name: "resource server", IntrospectAny: true})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	bin := filepath.Join(dir, "resource-server")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "-addr", addr, "-issuer", ti.url, "-follow-client", rs.ID, "-poll", poll.String())
	cmd.Env = append(os.Environ(), "FOLLOW_CLIENT_SECRET="+rsSecret)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("resource server output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	liveness := 10 * poll

	// waitFor calls whoami with tok until it answers code, and returns how
	// long that took.
	waitFor := func(tok string, code int, what string) time.Duration {
		t.Helper()
		start := time.Now()
		deadline := start.Add(max(liveness, 10*time.Second))
		for {
			got, _ := whoamiCode(base, tok)
			if got == code {
				return time.Since(start)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still %d after %s, want %d", what, got, time.Since(start), code)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	tok, err := ti.credentials().Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(tok.AccessToken, http.StatusOK, "the server up, caught up with the feed")
	// The server prints its banner before it listens, but exec copies its
	// output through a pipe in a goroutine of its own, which may deliver
	// the banner after the first answer: wait for it, a while.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), "change feed is followed"); {
		if time.Now().After(deadline) {
			t.Errorf("the server does not say it follows the feed:\n%s", out.String())
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	var rotations, revocations []time.Duration
	for i := range 10 {
		tok, err := ti.credentials().Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(tok.AccessToken, http.StatusOK, "a fresh token")
		// Spread the changes over the poll interval.
		time.Sleep(poll * time.Duration(i) / 10)
		secret, err := ti.iss.RotateClient(ctx, ti.id)
		if err != nil {
			t.Fatal(err)
		}
		ti.secret = secret
		d := waitFor(tok.AccessToken, http.StatusUnauthorized, fmt.Sprintf("rotation %d", i))
		if d > liveness {
			t.Errorf("rotation %d took %s to reach the server, more than %s", i, d, liveness)
		}
		rotations = append(rotations, d)
	}
	for i := range 10 {
		tok, err := ti.credentials().Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(tok.AccessToken, http.StatusOK, "a fresh token")
		time.Sleep(poll * time.Duration(i) / 10)
		revoke(t, ti, tok.AccessToken)
		d := waitFor(tok.AccessToken, http.StatusUnauthorized, fmt.Sprintf("revocation %d", i))
		if d > liveness {
			t.Errorf("revocation %d took %s to reach the server, more than %s", i, d, liveness)
		}
		revocations = append(revocations, d)
	}
	report := func(what string, ds []time.Duration) {
		slices.Sort(ds)
		t.Logf("%s reached the resource server (poll %s): median %s, max %s, min %s over %d",
			what, poll, ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond), ds[0].Round(time.Millisecond), len(ds))
	}
	report("rotation", rotations)
	report("revocation (RFC 7009)", revocations)
}

func whoamiCode(base, tok string) (int, error) {
	req, _ := http.NewRequest("GET", base+"/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func revoke(t *testing.T, ti *testIssuer, tok string) {
	t.Helper()
	resp, err := http.PostForm(ti.url+ti.iss.Paths().Revocation, url.Values{"token": {tok}, "client_id": {ti.id}, "client_secret": {ti.secret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
}
