package issuer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

// pingStore is a real memory store whose Ping fails on demand.
type pingStore struct {
	store.Store
	down atomic.Bool
}

func (p *pingStore) Ping(ctx context.Context) error {
	if p.down.Load() {
		return errors.New("connection refused to db.internal:5432")
	}
	return ctx.Err()
}

func probe(t *testing.T, h http.Handler, method string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, "/probe", nil))
	return w
}

func TestHealth(t *testing.T) {
	st := &pingStore{Store: memory.New()}
	var logs bytes.Buffer
	iss, err := issuer.New(issuer.Config{Issuer: testIssuer, Store: st,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	live, ready := iss.LivenessHandler(), iss.ReadinessHandler()

	for _, h := range []http.Handler{live, ready} {
		w := probe(t, h, http.MethodGet)
		if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"status":"ok"}` {
			t.Fatalf("GET: %d %q, want 200 ok", w.Code, w.Body)
		}
		if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", w.Header())
		}
		if w := probe(t, h, http.MethodHead); w.Code != http.StatusOK || w.Body.Len() != 0 {
			t.Errorf("HEAD: %d with %d bytes, want 200 and no body", w.Code, w.Body.Len())
		}
		if w := probe(t, h, http.MethodPost); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d, want 405", w.Code)
		}
	}
	if err := iss.Ready(t.Context()); err != nil {
		t.Fatalf("Ready: %v", err)
	}

	// The store goes down: not ready, the cause logged and not shown;
	// still alive, so that the orchestrator does not restart the replica.
	st.down.Store(true)
	if err := iss.Ready(t.Context()); !errors.Is(err, issuer.ErrNotReady) {
		t.Fatalf("Ready with the store down: %v, want ErrNotReady", err)
	}
	w := probe(t, ready, http.MethodGet)
	if w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "db.internal") {
		t.Fatalf("readiness with the store down: %d %q, want 503 without the cause", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "db.internal") {
		t.Errorf("the cause was not logged: %q", logs.String())
	}
	if w := probe(t, live, http.MethodGet); w.Code != http.StatusOK {
		t.Errorf("liveness with the store down: %d, want 200", w.Code)
	}

	st.down.Store(false)
	if w := probe(t, ready, http.MethodGet); w.Code != http.StatusOK {
		t.Errorf("readiness after recovery: %d, want 200", w.Code)
	}
}

// A cancelled probe is not ready: the check never outlives its request.
func TestReadyCancelled(t *testing.T) {
	iss, err := issuer.New(issuer.Config{Issuer: testIssuer, Store: memory.New(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := iss.Ready(ctx); !errors.Is(err, issuer.ErrNotReady) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Ready with a cancelled context: %v", err)
	}
}

func ExampleIssuer_ReadinessHandler() {
	iss, err := issuer.New(issuer.Config{Issuer: "https://auth.example.com", Store: memory.New()})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", iss.Handler())
	// Kubernetes: livenessProbe on /healthz, readinessProbe on /readyz.
	// Liveness checks nothing but the process, so that a database outage
	// takes replicas out of the load balancer instead of restarting them.
	mux.Handle("GET /healthz", iss.LivenessHandler())
	mux.Handle("GET /readyz", iss.ReadinessHandler())

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	fmt.Print(w.Code, " ", w.Body)
	// Output: 200 {"status":"ok"}
}
