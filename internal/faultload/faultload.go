// Package faultload drives two issuer replicas, each with a guarded route,
// under a mixed load while a [faultproxy.Proxy] between them and their
// shared store pauses, delays and cuts the connections, and counts how
// often the invariants a client relies on were broken:
//
//   - no response is a 5xx other than 503;
//   - no refresh token that the server acknowledged (handed out in a 200)
//     is refused when first presented, unless the test itself revoked its
//     family (RFC 7009 revocation, or rotating the client);
//   - no rotation is committed but answered as a failure: a client that
//     repeats a rotation answered 503 (or not at all) with the same
//     Idempotency-Key, until an answer settles it, either gets the new
//     secret or keeps the old one working; and the secret a client holds is
//     never refused;
//   - no token is accepted after its rotation or revocation was answered
//     200, beyond the documented delay (Config.StateTTL);
//   - no request outlives its client's timeout: the server answers, if only
//     503, before the client gives up.
//
// The fifth invariant of the fault tests, no goroutine left behind, is the
// caller's to check once it has closed the stores and the proxy (see
// [GoroutinesLeft]).
//
// Each worker owns one client and does, at random, client credentials and
// refresh grants, guarded calls with live and dead tokens, rotations at the
// credentials endpoint and RFC 7009 revocations, against either replica.
// Owning its client, a worker knows what the server must answer. The e2e
// fault test (e2e/faults_test.go) runs it briefly in CI; bench/cmd/soak runs
// it for minutes.
package faultload

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/adapters/httpauth"
	"github.com/portcullis/portcullis/internal/faultproxy"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
)

// An Invariant is a property the run checks; a [Report] counts its
// violations.
type Invariant string

// The invariants, in the order reports print them.
const (
	Only503          Invariant = "5xx other than 503"
	RefreshKept      Invariant = "acknowledged refresh token refused without reuse"
	RotationAnswered Invariant = "rotation committed but answered as a failure"
	StaleRefused     Invariant = "token accepted after rotation or revocation beyond StateTTL"
	WithinDeadline   Invariant = "request past its deadline"
)

// Invariants lists every invariant a run counts.
var Invariants = []Invariant{Only503, RefreshKept, RotationAnswered, StaleRefused, WithinDeadline}

// A Fault is what the proxy does during a [Step].
type Fault int

const (
	None  Fault = iota // forward normally
	Pause              // hold every byte (faultproxy.Proxy.Pause)
	Delay              // hold every chunk for Step.Delay each way
	Cut                // reset every connection, and new ones (faultproxy.Proxy.Cut)
)

func (f Fault) String() string {
	return [...]string{"none", "pause", "delay", "cut"}[f]
}

// A Step of a fault schedule.
type Step struct {
	Fault Fault
	For   time.Duration
	Delay time.Duration // for Fault Delay: how long each chunk is held, each way
}

// DefaultSchedule is a 12 s cycle with normal service between faults:
//
//   - a 3.4 s pause: longer than go-redis' default 3 s read timeout, so
//     that its commands time out and are sent again, and shorter than the
//     client's timeout, so that a server that waits answers in time;
//   - 1.5 s in which every round trip takes 3.2 s (past that read timeout
//     again);
//   - a 5.4 s pause: longer than the default client timeout, so that only a
//     server that bounds its store calls answers in time;
//   - a 0.5 s cut.
var DefaultSchedule = []Step{
	{Fault: None, For: 200 * time.Millisecond},
	{Fault: Pause, For: 3400 * time.Millisecond},
	{Fault: None, For: 400 * time.Millisecond},
	{Fault: Delay, For: 1500 * time.Millisecond, Delay: 1600 * time.Millisecond},
	{Fault: None, For: 300 * time.Millisecond},
	{Fault: Pause, For: 5400 * time.Millisecond},
	{Fault: None, For: 300 * time.Millisecond},
	{Fault: Cut, For: 500 * time.Millisecond},
	{Fault: None, For: 200 * time.Millisecond},
}

// DefaultClientTimeout is Config.ClientTimeout's default.
const DefaultClientTimeout = 5 * time.Second

// Config configures a [Run]. Stores and Proxy are required.
type Config struct {
	// Stores are the two replicas' own handles on one store, both
	// connected through Proxy. Run closes neither.
	Stores [2]store.Store
	// Proxy sits between Stores and the database server.
	Proxy *faultproxy.Proxy
	// Workers is the number of concurrent clients. Default 12.
	Workers int
	// Duration of the load. Default 12s, one cycle of DefaultSchedule.
	Duration time.Duration
	// Schedule of faults, repeated for Duration. Default DefaultSchedule.
	Schedule []Step
	// ClientTimeout bounds every HTTP request, as a client's timeout
	// would; a request that reaches it is past its deadline. Default
	// DefaultClientTimeout.
	ClientTimeout time.Duration
	// StateTTL of both replicas: the documented delay after which another
	// replica must refuse a rotated or revoked token. Default 1s.
	StateTTL time.Duration
	// Issuer adjusts each replica's issuer.Config. Default: none.
	Issuer func(*issuer.Config)
	// Logger receives the replicas' logs. Default: discarded.
	Logger *slog.Logger
	// Logf receives progress and each violation as it happens. Default:
	// none.
	Logf func(format string, args ...any)
}

// Report is what a run counted.
type Report struct {
	Duration time.Duration
	Workers  int
	// Requests is the number of HTTP requests sent.
	Requests int
	// Outcomes counts answers by operation, then by status ("200",
	// "503", "401 invalid_client", "timeout" …).
	Outcomes map[string]map[string]int
	// Faults counts the steps applied, by fault.
	Faults map[string]int
	// Proxy is what the proxy did.
	Proxy faultproxy.Stats
	// Violations counts, for every invariant, the times it was broken.
	Violations map[Invariant]int
	// Notes counts events that break no invariant but are worth a look:
	// a live token refused, a rotation whose outcome never became known.
	Notes map[string]int
	// Examples describes the first violations of each invariant.
	Examples []string
}

// Failed reports whether any invariant was broken.
func (r *Report) Failed() bool {
	for _, n := range r.Violations {
		if n > 0 {
			return true
		}
	}
	return false
}

// String prints the report: the invariant counts first, then the load.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d workers for %v, %d requests; faults %s; proxy accepted %d connections, reset %d\n",
		r.Workers, r.Duration.Round(time.Millisecond), r.Requests, formatCounts(r.Faults), r.Proxy.Accepted, r.Proxy.Reset)
	for _, inv := range Invariants {
		fmt.Fprintf(&b, "  %-62s %d\n", inv+":", r.Violations[inv])
	}
	ops := make([]string, 0, len(r.Outcomes))
	for op := range r.Outcomes {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		fmt.Fprintf(&b, "  %-16s %s\n", op, formatCounts(r.Outcomes[op]))
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(&b, "  notes: %s\n", formatCounts(r.Notes))
	}
	for _, e := range r.Examples {
		fmt.Fprintf(&b, "  ! %s\n", e)
	}
	return b.String()
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// examplesPer bounds the examples kept per invariant.
const examplesPer = 5

// Run builds the replicas, runs the load and the faults for
// cfg.Duration, then, with the proxy resumed and StateTTL passed, checks
// every token and secret the workers still hold, and returns the counts.
// It closes everything it started before it returns; the stores and the
// proxy stay the caller's.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Stores[0] == nil || cfg.Stores[1] == nil || cfg.Proxy == nil {
		return nil, errors.New("faultload: Stores and Proxy are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 12
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 12 * time.Second
	}
	if len(cfg.Schedule) == 0 {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.ClientTimeout <= 0 {
		cfg.ClientTimeout = DefaultClientTimeout
	}
	if cfg.StateTTL <= 0 {
		cfg.StateTTL = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	r := &runner{
		cfg: cfg,
		report: &Report{
			Workers:    cfg.Workers,
			Outcomes:   map[string]map[string]int{},
			Faults:     map[string]int{},
			Violations: map[Invariant]int{},
			Notes:      map[string]int{},
		},
		transport: &http.Transport{MaxIdleConnsPerHost: 2 * cfg.Workers},
	}
	for _, inv := range Invariants {
		r.report.Violations[inv] = 0
	}
	r.client = &http.Client{Timeout: cfg.ClientTimeout, Transport: r.transport}
	defer r.transport.CloseIdleConnections()

	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	for i, st := range cfg.Stores {
		rep, err := newReplica(cfg, st)
		if err != nil {
			return nil, fmt.Errorf("faultload: replica %d: %w", i, err)
		}
		defer rep.srv.Close()
		if _, err := rep.iss.Watch(watchCtx); err != nil {
			return nil, fmt.Errorf("faultload: replica %d: watch: %w", i, err)
		}
		r.replicas[i] = rep
	}

	workers := make([]*worker, cfg.Workers)
	for i := range workers {
		w := &worker{r: r, n: i, rng: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))}
		if err := w.newClient(ctx); err != nil {
			return nil, fmt.Errorf("faultload: create client: %w", err)
		}
		workers[i] = w
	}

	began := time.Now()
	r.began = began
	loadCtx, stopLoad := context.WithTimeout(ctx, cfg.Duration)
	defer stopLoad()
	// Resolving the outcome of a failed rotation may go on after the load
	// stops, with the proxy resumed, but not for ever.
	r.hardStop = began.Add(cfg.Duration + 4*cfg.ClientTimeout)
	var wg sync.WaitGroup
	wg.Go(func() { r.runFaults(loadCtx) })
	for _, w := range workers {
		wg.Go(func() {
			for loadCtx.Err() == nil {
				w.step()
			}
		})
	}
	wg.Wait()
	r.report.Duration = time.Since(began)
	cfg.Proxy.Resume()

	// Every rotation and revocation the workers saw answered is now at
	// least StateTTL old, once this has passed: every dead token must be
	// refused, every secret held must work, and every refresh token held
	// and never presented must refresh.
	select {
	case <-time.After(cfg.StateTTL):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for _, w := range workers {
		wg.Go(w.final)
	}
	wg.Wait()
	r.report.Proxy = cfg.Proxy.Stats()
	return r.report, nil
}

// replica is one issuer with its guarded route, served over HTTP.
type replica struct {
	iss *issuer.Issuer
	srv *httptest.Server
}

// guardedPath is the replicas' protected route.
const guardedPath = "/v1/whoami"

func newReplica(cfg Config, st store.Store) (*replica, error) {
	icfg := issuer.Config{
		Issuer:  "https://auth.faults.example",
		Store:   st,
		Scopes:  []string{"read", "write"},
		Refresh: issuer.RefreshConfig{Enabled: true},
		// Self-rotation, which the workers use.
		Paths:    issuer.Paths{Credentials: "/oauth/credentials"},
		StateTTL: cfg.StateTTL,
		Logger:   cfg.Logger,
	}
	if cfg.Issuer != nil {
		cfg.Issuer(&icfg)
	}
	iss, err := issuer.New(icfg)
	if err != nil {
		return nil, err
	}
	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Scopes: []string{"read"}, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	httpauth.Mount(mux, iss)
	mux.Handle("GET "+guardedPath, httpauth.Protect(guard, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})))
	return &replica{iss: iss, srv: httptest.NewServer(mux)}, nil
}

type runner struct {
	cfg       Config
	began     time.Time
	replicas  [2]*replica
	client    *http.Client
	transport *http.Transport
	hardStop  time.Time

	mu     sync.Mutex
	report *Report
}

// runFaults applies the schedule, cycling, until ctx is done.
func (r *runner) runFaults(ctx context.Context) {
	p := r.cfg.Proxy
	defer p.Resume()
	for {
		for _, s := range r.cfg.Schedule {
			p.Resume()
			switch s.Fault {
			case Pause:
				p.Pause()
			case Delay:
				p.Delay(s.Delay)
			case Cut:
				p.Cut(s.For)
			}
			if s.Fault != None {
				r.mu.Lock()
				r.report.Faults[s.Fault.String()]++
				r.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.For):
			}
		}
	}
}

func (r *runner) violate(inv Invariant, format string, args ...any) {
	msg := fmt.Sprintf("at %v: ", time.Since(r.began).Round(time.Millisecond)) + fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.report.Violations[inv]++
	if r.report.Violations[inv] <= examplesPer {
		r.report.Examples = append(r.report.Examples, string(inv)+": "+msg)
	}
	r.mu.Unlock()
	r.cfg.Logf("VIOLATION %s: %s", inv, msg)
}

func (r *runner) note(what string) {
	r.mu.Lock()
	r.report.Notes[what]++
	r.mu.Unlock()
}

// answer is what one HTTP request got.
type answer struct {
	status  int    // 0 when no response came
	timeout bool   // the client's timeout expired
	code    string // the OAuth error code, or the error of WWW-Authenticate
	body    map[string]any
	sentAt  time.Time
	err     error
}

func (a answer) String() string {
	switch {
	case a.timeout:
		return "timeout"
	case a.status == 0:
		return "no answer"
	case a.code != "":
		return fmt.Sprintf("%d %s", a.status, a.code)
	}
	return fmt.Sprint(a.status)
}

// ok is a 200 or 204.
func (a answer) ok() bool { return a.status == http.StatusOK || a.status == http.StatusNoContent }

// unavailable is an answer that says nothing about the outcome: 503, a
// timeout, or no response.
func (a answer) unavailable() bool {
	return a.status == 0 || a.status == http.StatusServiceUnavailable
}

// do sends req, reads its answer and counts it under op, checking the
// 5xx and deadline invariants.
func (r *runner) do(op string, req *http.Request) answer {
	a := answer{sentAt: time.Now()}
	resp, err := r.client.Do(req)
	if err == nil {
		defer resp.Body.Close()
		a.status = resp.StatusCode
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		err = rerr
		if len(body) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			json.Unmarshal(body, &a.body)
		}
		if c, ok := a.body["error"].(string); ok {
			a.code = c
		} else if ch := resp.Header.Get("WWW-Authenticate"); ch != "" {
			if _, rest, ok := strings.Cut(ch, `error="`); ok {
				a.code, _, _ = strings.Cut(rest, `"`)
			}
		}
	}
	if err != nil {
		a.err = err
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			a.timeout = true
			a.status = 0
		}
	}
	r.mu.Lock()
	r.report.Requests++
	if r.report.Outcomes[op] == nil {
		r.report.Outcomes[op] = map[string]int{}
	}
	r.report.Outcomes[op][a.String()]++
	r.mu.Unlock()
	switch {
	case a.timeout:
		r.violate(WithinDeadline, "%s sent at %v: no answer within the client's timeout of %v",
			op, a.sentAt.Sub(r.began).Round(time.Millisecond), r.cfg.ClientTimeout)
	case a.err != nil && a.status == 0:
		r.note("transport error")
		r.cfg.Logf("%s: %v", op, a.err)
	case a.status >= 500 && a.status != http.StatusServiceUnavailable:
		r.violate(Only503, "%s answered %d %v", op, a.status, a.body)
	}
	return a
}

// The most a worker holds of each.
const (
	maxLive    = 6
	maxDead    = 6
	maxFamiles = 3
)

// worker is one client of the load; it owns its client, so it knows what
// every answer should be.
type worker struct {
	r   *runner
	n   int
	rng *rand.Rand

	id, secret string          // "" when lost: a new client is made
	rotation   string          // the last failed rotation's answer, if any
	live       []*accessToken  // tokens that must be accepted
	dead       []*accessToken  // tokens refused from deadAt + StateTTL
	refresh    []*refreshToken // the newest of each family held
}

type accessToken struct {
	raw    string
	deadAt time.Time // when the rotation or revocation was answered
	why    string
}

type refreshToken struct {
	raw       string
	presented bool // sent before, with no answer that settled it
	// retried: an earlier token of the family was sent again after an
	// answer that settled nothing, and the server took the retry (200).
	// Such a family is still the server's to keep; the flag only says
	// which case a violation is.
	retried bool
}

func (w *worker) replica() *replica { return w.r.replicas[w.rng.IntN(2)] }

// newClient makes a new client for the worker, at the store directly.
func (w *worker) newClient(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, w.r.cfg.ClientTimeout)
	defer cancel()
	c, secret, err := w.r.replicas[0].iss.CreateClient(ctx, issuer.ClientSpec{Name: fmt.Sprintf("worker %d", w.n)})
	if err != nil {
		return err
	}
	w.id, w.secret = c.ID, secret
	w.live, w.refresh = nil, nil
	return nil
}

// step does one operation at random.
func (w *worker) step() {
	if w.id == "" {
		if err := w.newClient(context.Background()); err != nil {
			time.Sleep(50 * time.Millisecond)
		}
		return
	}
	if len(w.live) == 0 {
		w.clientCredentials()
		return
	}
	switch x := w.rng.IntN(100); {
	case x < 15:
		w.clientCredentials()
	case x < 45 && len(w.refresh) > 0:
		w.refreshGrant(w.refresh[w.rng.IntN(len(w.refresh))])
	case x < 55 && len(w.dead) > 0:
		w.call(w.dead[w.rng.IntN(len(w.dead))], w.replica())
	case x < 80:
		w.call(w.live[w.rng.IntN(len(w.live))], w.replica())
	case x < 88:
		w.rotate(w.live[w.rng.IntN(len(w.live))])
	case x < 96:
		w.revokeAccess(w.live[w.rng.IntN(len(w.live))])
	default:
		if len(w.refresh) > 0 {
			w.revokeRefresh(w.refresh[w.rng.IntN(len(w.refresh))])
		}
	}
}

// tokenRequest posts form to a replica's token or revocation endpoint,
// authenticated with the worker's client id and secret.
func (w *worker) tokenRequest(op, path string, form url.Values, secret string) answer {
	rep := w.replica()
	req, _ := http.NewRequest(http.MethodPost, rep.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(w.id), url.QueryEscape(secret))
	return w.r.do(op, req)
}

// took handles the access and refresh tokens of a 200 from the token
// endpoint; a refresh token replaces old, when given, in its family.
func (w *worker) took(a answer, old *refreshToken) {
	if at, _ := a.body["access_token"].(string); at != "" {
		w.live = append(w.live, &accessToken{raw: at})
		if len(w.live) > maxLive {
			w.live = w.live[1:]
		}
	}
	rt, _ := a.body["refresh_token"].(string)
	retried := false
	if old != nil {
		retried = old.retried || old.presented
		w.dropRefresh(old)
	}
	if rt != "" {
		w.refresh = append(w.refresh, &refreshToken{raw: rt, retried: retried})
		if len(w.refresh) > maxFamiles {
			w.refresh = w.refresh[1:]
		}
	}
}

func (w *worker) dropRefresh(rt *refreshToken) {
	w.refresh = slices.DeleteFunc(w.refresh, func(x *refreshToken) bool { return x == rt })
}

func (w *worker) dropLive(t *accessToken) {
	w.live = slices.DeleteFunc(w.live, func(x *accessToken) bool { return x == t })
}

// kill moves t from the live tokens to the dead ones.
func (w *worker) kill(t *accessToken, at time.Time, why string) {
	w.dropLive(t)
	t.deadAt, t.why = at, why
	w.dead = append(w.dead, t)
	if len(w.dead) > maxDead {
		w.dead = w.dead[1:]
	}
}

// secretRefused handles invalid_client for the secret the worker holds:
// since only this worker rotates its client, the server committed a
// rotation it answered as a failure (or committed it after answering).
func (w *worker) secretRefused(op string, a answer) {
	w.r.violate(RotationAnswered, "%s: the secret of client %s, which no rotation answered 200 changed, was refused: %s (last failed rotation: %s)",
		op, w.id, a, cmp.Or(w.rotation, "none"))
	w.id, w.secret, w.rotation = "", "", ""
}

func (w *worker) clientCredentials() {
	a := w.tokenRequest("client_credentials", w.r.replicas[0].iss.Paths().Token,
		url.Values{"grant_type": {"client_credentials"}}, w.secret)
	switch {
	case a.ok():
		w.took(a, nil)
	case a.code == "invalid_client":
		w.secretRefused("client_credentials", a)
	}
}

func (w *worker) refreshGrant(rt *refreshToken) {
	before := rt.presented
	a := w.tokenRequest("refresh_token", w.r.replicas[0].iss.Paths().Token,
		url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt.raw}}, w.secret)
	switch {
	case a.ok():
		w.took(a, rt)
	case a.code == "invalid_client":
		w.secretRefused("refresh_token", a)
	case a.code == "invalid_grant":
		if !before {
			how := "no token of its family was ever sent twice"
			if rt.retried {
				how = "an earlier token of its family was sent again after an unsettled answer, and the retry was answered 200"
			}
			w.r.violate(RefreshKept, "refresh token of client %s refused at its first use (%s): %s", w.id, how, a)
		}
		w.dropRefresh(rt)
	case a.unavailable():
		// Keep it: a client would try again, and if the server did
		// consume it, the retry is a reuse that may be refused.
		rt.presented = true
	default:
		w.r.note("refresh " + a.String())
		w.dropRefresh(rt)
	}
}

// call presents t to rep's guarded route.
func (w *worker) call(t *accessToken, rep *replica) {
	req, _ := http.NewRequest(http.MethodGet, rep.srv.URL+guardedPath, nil)
	req.Header.Set("Authorization", "Bearer "+t.raw)
	a := w.r.do("guarded", req)
	switch {
	case a.ok() && !t.deadAt.IsZero() && a.sentAt.After(t.deadAt.Add(w.r.cfg.StateTTL)):
		w.r.violate(StaleRefused, "token of client %s accepted %v after its %s was answered (StateTTL %v)",
			w.id, a.sentAt.Sub(t.deadAt).Round(time.Millisecond), t.why, w.r.cfg.StateTTL)
	case a.status == http.StatusUnauthorized && t.deadAt.IsZero():
		w.r.note("live token refused")
		w.dropLive(t)
	}
}

// rotate rotates the worker's secret at the credentials endpoint with t,
// as a retry-safe client does: an answer that settles nothing (503, a
// timeout) is followed by the same request, with the same Idempotency-Key,
// until one does. A 200 gives the new secret (the first or a replayed
// one); any other answer means that no rotation happened, so the old
// secret must still work.
func (w *worker) rotate(t *accessToken) {
	key := fmt.Sprintf("%016x%016x", w.rng.Uint64(), w.rng.Uint64())
	var a, first answer
	for tries := 0; ; tries++ {
		rep := w.replica()
		req, _ := http.NewRequest(http.MethodPost, rep.srv.URL+rep.iss.Paths().Credentials, nil)
		req.Header.Set("Authorization", "Bearer "+t.raw)
		req.Header.Set("Idempotency-Key", key)
		op := "rotate"
		if tries > 0 {
			op = "rotate again"
		}
		a = w.r.do(op, req)
		if tries == 0 {
			first = a
		}
		if !a.unavailable() || !time.Now().Before(w.r.hardStop) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if a.ok() {
		secret, _ := a.body["client_secret"].(string)
		if secret == "" {
			w.r.note("rotation without a secret")
			return
		}
		now := time.Now()
		for _, l := range slices.Clone(w.live) {
			w.kill(l, now, "rotation")
		}
		w.refresh = nil // dead too, by the test's own action
		w.secret, w.rotation = secret, ""
		return
	}
	if a.status == http.StatusUnauthorized && first.status == http.StatusUnauthorized {
		w.r.note("live token refused")
	}
	w.dropLive(t) // refused, or perhaps dead: it proves nothing from now on
	w.rotation = fmt.Sprintf("%s at %v, then %s", first, first.sentAt.Sub(w.r.began).Round(time.Millisecond), a)
	w.checkSecret("after rotation")
}

// checkSecret asks for a token with the secret held until an answer
// settles whether it still works; it must (after a failed rotation: the
// rotation did not happen).
func (w *worker) checkSecret(op string) {
	for time.Now().Before(w.r.hardStop) {
		a := w.tokenRequest(op, w.r.replicas[0].iss.Paths().Token,
			url.Values{"grant_type": {"client_credentials"}}, w.secret)
		switch {
		case a.ok():
			w.took(a, nil)
			return
		case a.code == "invalid_client":
			w.secretRefused(op, a)
			return
		case !a.unavailable():
			w.r.note(op + " " + a.String())
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.r.note("rotation outcome unknown")
}

func (w *worker) revokeAccess(t *accessToken) {
	a := w.tokenRequest("revoke access", w.r.replicas[0].iss.Paths().Revocation,
		url.Values{"token": {t.raw}, "token_type_hint": {"access_token"}}, w.secret)
	switch {
	case a.ok():
		w.kill(t, time.Now(), "revocation")
	case a.code == "invalid_client":
		w.secretRefused("revoke access", a)
	default:
		// Perhaps revoked: it proves nothing either way from now on.
		w.dropLive(t)
	}
}

func (w *worker) revokeRefresh(rt *refreshToken) {
	a := w.tokenRequest("revoke refresh", w.r.replicas[0].iss.Paths().Revocation,
		url.Values{"token": {rt.raw}, "token_type_hint": {"refresh_token"}}, w.secret)
	if a.code == "invalid_client" {
		w.secretRefused("revoke refresh", a)
		return
	}
	// Revoked by the test itself, or perhaps revoked: never used again.
	w.dropRefresh(rt)
}

// final checks, with the faults over and StateTTL passed, every dead token
// at both replicas, the secret, and every refresh token held.
func (w *worker) final() {
	for _, t := range w.dead {
		for _, rep := range w.r.replicas {
			w.call(t, rep)
		}
	}
	if w.id == "" {
		return
	}
	w.checkSecret("final secret") // no rotation committed late
	if w.id == "" {
		return
	}
	for _, rt := range slices.Clone(w.refresh) {
		w.refreshGrant(rt)
	}
}

// GoroutinesLeft waits up to settle for the number of goroutines to fall
// to baseline and returns how many are left above it, with every
// goroutine's stack when some are.
func GoroutinesLeft(baseline int, settle time.Duration) (int, string) {
	deadline := time.Now().Add(settle)
	for {
		n := runtime.NumGoroutine() - baseline
		if n <= 0 {
			return 0, ""
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			return n, string(buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
