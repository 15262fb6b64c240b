package tokensource

import (
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestJitter: the renewal falls between RefreshBefore and RefreshBefore +
// Jitter before expiry, spread rather than fixed, and never before half
// the token's life.
func TestJitter(t *testing.T) {
	s, err := New(Config{TokenURL: "https://x.example/token", ClientID: "id", ClientSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	seen := map[time.Time]bool{}
	for range 200 {
		e := s.entry(&answer{tok: &oauth2.Token{Expiry: exp}, lifetime: time.Hour})
		early := exp.Sub(e.renewAt)
		if early < time.Minute || early > time.Minute+30*time.Second {
			t.Fatalf("renewal %v before expiry", early)
		}
		if exp.Sub(e.staleAt) != 10*time.Second {
			t.Fatalf("stale %v before expiry", exp.Sub(e.staleAt))
		}
		seen[e.renewAt] = true
	}
	if len(seen) < 100 {
		t.Errorf("%d distinct renewal times in 200", len(seen))
	}
	e := s.entry(&answer{tok: &oauth2.Token{Expiry: exp}, lifetime: 20 * time.Second})
	if exp.Sub(e.renewAt) != 10*time.Second || exp.Sub(e.staleAt) != 5*time.Second {
		t.Errorf("a 20 s token: renewed %v and stale %v before expiry", exp.Sub(e.renewAt), exp.Sub(e.staleAt))
	}
}

// TestBackoff: it doubles with each failure in a row, with jitter in its
// upper half, up to a minute.
func TestBackoff(t *testing.T) {
	s, err := New(Config{TokenURL: "https://x.example/token", ClientID: "id", ClientSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute} {
		s.failures = n + 1
		for range 20 {
			if d := s.backoff(nil); d < want/2 || d > want {
				t.Fatalf("failure %d: backoff %v, want %v to %v", n+1, d, want/2, want)
			}
		}
	}
	s.failures = 1
	if d := s.backoff(&Error{RetryAfter: time.Hour}); d != maxRetryAfter {
		t.Errorf("Retry-After of an hour: %v", d)
	}
}
