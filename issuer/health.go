package issuer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/store"
)

// ReadinessTimeout bounds the checks of one readiness probe, whatever the
// request's own deadline: a probe that hangs on a dead store would tie up
// the orchestrator's probe budget and hide the answer it needs.
const ReadinessTimeout = 2 * time.Second

// ErrNotReady is wrapped by every error [Issuer.Ready] returns.
var ErrNotReady = errors.New("issuer: not ready")

// Ready reports whether the issuer can serve tokens now: the store answers
// a ping (when it implements [store.Pinger]; the memory, SQL and Redis
// stores all do) and a signing key is loaded. Its error wraps ErrNotReady
// and the cause, for logs; it holds no secret, but it may name a host, so
// [Issuer.ReadinessHandler] does not show it to the caller.
func (i *Issuer) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ReadinessTimeout)
	defer cancel()
	if p, ok := i.cfg.Store.(store.Pinger); ok {
		if err := p.Ping(ctx); err != nil {
			return fmt.Errorf("%w: store: %w", ErrNotReady, err)
		}
	}
	ks, err := i.keys.KeySet(ctx)
	if err != nil {
		return fmt.Errorf("%w: signing keys: %w", ErrNotReady, err)
	}
	if ks == nil || ks.SigningKey() == nil {
		return fmt.Errorf("%w: no signing key", ErrNotReady)
	}
	return nil
}

// LivenessHandler answers GET and HEAD with 200 {"status":"ok"} as long as
// the process can serve HTTP at all. It checks no dependency on purpose:
// an orchestrator restarts a container whose liveness probe fails, and
// restarting every replica because the database is down only makes things
// worse. Mount it on a path of your own, such as /healthz or /livez.
func (i *Issuer) LivenessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !getOrHead(w, r) {
			return
		}
		writeHealth(w, r, http.StatusOK, `{"status":"ok"}`)
	})
}

// ReadinessHandler answers GET and HEAD with 200 {"status":"ok"} when
// [Issuer.Ready] succeeds, and with 503 {"status":"unavailable"} when it
// fails, logging the cause at warn level (Config.Logger): an orchestrator
// then stops sending traffic to this replica until it is ready again. Each
// probe pings the store once, bounded by [ReadinessTimeout]. Mount it on a
// path of your own, such as /readyz.
func (i *Issuer) ReadinessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !getOrHead(w, r) {
			return
		}
		if err := i.Ready(r.Context()); err != nil {
			i.log.WarnContext(r.Context(), "issuer: readiness check failed", "err", err)
			writeHealth(w, r, http.StatusServiceUnavailable, `{"status":"unavailable"}`)
			return
		}
		writeHealth(w, r, http.StatusOK, `{"status":"ok"}`)
	})
}

func writeHealth(w http.ResponseWriter, r *http.Request, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write([]byte(body + "\n"))
	}
}
