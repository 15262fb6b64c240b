package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/token"
)

// FollowConfig makes a [JWKSVerifier] follow the issuer's change feed (a
// Portcullis extension, served by the issuer at Paths.Changes), so that
// credential rotations, deletions and revocations reach a resource server
// that shares nothing with the issuer within PollInterval, instead of when
// the tokens expire. ClientID and ClientSecret are required: a client the
// issuer made with ClientSpec.IntrospectAny (a resource server). The zero
// value of every other field is a safe default.
//
// # What it refuses
//
// The verifier polls the feed with a cursor and remembers, until they
// stop mattering (the feed says when, as an exp per change):
//   - revoked token ids (RFC 7009 revocations of access tokens) and revoked
//     refresh families ("family:<id>"; tokens carry the family as fam);
//   - per client and per account, the generation its credentials moved to
//     (a secret rotation, a disable or a password change bumps it): a token
//     whose gen is below it is refused, as the [LocalVerifier] refuses a
//     token of any other generation than the current one;
//   - deletions: every token of a deleted client, or of a deleted account
//     (its own and its clients'), issued up to the deletion (plus Leeway)
//     is refused, whatever its generation.
//
// It cannot see that the account owning a client was disabled while the
// client lives on (the feed says that the account changed, not how): a
// client token of such an account passes until it expires, where a
// LocalVerifier refuses it.
//
// # Failing closed
//
// Until the first poll has replayed the retained log (it starts in
// [NewJWKSVerifier], which waits for it up to the HTTP client's timeout),
// every Verify is [ErrUnavailable] (503 through a [Guard]). So is every
// Verify once no poll has succeeded for MaxStale: the verifier would
// otherwise accept tokens revoked meanwhile. It recovers by itself when the
// issuer answers again. A feed that says resync (the verifier fell behind
// the issuer's retention, or the issuer's log was replaced) drops all it
// remembered and every cached verification, and replays from where the
// issuer says.
//
// # Memory
//
// An entry is forgotten at its exp (plus Leeway). At most MaxEntries are
// held: a feed that would take more is not read further until entries
// expire, and meanwhile every Verify is ErrUnavailable, since a change not
// read may be a revocation. The issuer keeps changes for the longest token
// lifetime plus Leeway plus 10 minutes, so the bound is the number of
// changes in that time.
type FollowConfig struct {
	// URL of the change feed. Default Issuer + "/oauth/changes", where the
	// Portcullis issuer serves it (its metadata names it
	// portcullis_changes_endpoint). It must be https, or http to a
	// loopback address: the client's secret is sent with every poll.
	// Redirects are never followed.
	URL string
	// ClientID and ClientSecret of a resource-server client, sent with
	// HTTP Basic. Required.
	ClientID, ClientSecret string
	// PollInterval is the time between polls, and so about the longest a
	// rotation or revocation takes to reach the verifier. Default 2s.
	PollInterval time.Duration
	// MaxStale is how long the verifier accepts tokens without a successful
	// poll; past it, it fails closed (see above). Default 1m; at least
	// twice PollInterval.
	MaxStale time.Duration
	// PageSize is how many changes one poll asks for (the issuer allows at
	// most 1000); more are read at once in further pages. Default 500.
	PageSize int
	// MaxEntries bounds what the verifier remembers (see above). Default
	// 100000.
	MaxEntries int
	// MaxResponseBytes bounds one page of the feed. Default 1 MiB.
	MaxResponseBytes int64
}

// Defaults of FollowConfig.
const (
	defaultPollInterval = 2 * time.Second
	defaultMaxStale     = time.Minute
	defaultPageSize     = 500
	maxPageSize         = 1000
	defaultMaxEntries   = 100_000
	// maxPagesPerPoll bounds the pages one poll reads in a row, so that a
	// feed that always says more cannot keep the poller from its timer
	// (and from noticing ctx) for ever.
	maxPagesPerPoll = 1000
	// followSweepEvery is how often expired entries are looked for.
	followSweepEvery = 10 * time.Second
)

// Errors of the follower, wrapped in ErrUnavailable by Verify.
var (
	errNotCaughtUp = errors.New("not yet caught up with the issuer's change feed")
	errStale       = errors.New("the issuer's change feed has not been read for too long")
	errFollowFull  = errors.New("too many changes to remember (FollowConfig.MaxEntries)")
)

// subjectFloor is what the feed said of one client or account.
type subjectFloor struct {
	gen    int64 // its latest generation, when hasGen
	hasGen bool
	// deleted: unix seconds of its latest deletion, 0 if none; tokens
	// issued up to then (plus leeway) are refused.
	deleted int64
	forget  time.Time
}

// follower polls the change feed and answers whether a principal is still
// good by what it has read.
type follower struct {
	cfg    FollowConfig
	client *http.Client
	log    *slog.Logger
	now    func() time.Time
	leeway time.Duration
	cache  *tokenCache // the verifier's; nil when it has none
	done   chan struct{}

	mu        sync.RWMutex
	cursor    int64
	ready     bool      // a poll reached the end of the log
	lastOK    time.Time // the last successful page
	full      bool      // MaxEntries reached: the feed is not read further
	revoked   map[string]time.Time
	clients   map[string]*subjectFloor
	accounts  map[string]*subjectFloor
	nextSweep time.Time
	failing   bool // the last poll failed (logged once per outage)
}

// newFollower checks cfg and fills in its defaults.
func newFollower(cfg FollowConfig, issuer string, httpClient *http.Client, log *slog.Logger, now func() time.Time, leeway time.Duration, cache *tokenCache) (*follower, error) {
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("middleware: FollowConfig.ClientID and ClientSecret are required")
	}
	if cfg.URL == "" {
		cfg.URL = strings.TrimSuffix(issuer, "/") + "/oauth/changes"
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || !(u.Scheme == "https" || (u.Scheme == "http" && loopback(u.Hostname()))) {
		return nil, fmt.Errorf("middleware: FollowConfig.URL %q must be an absolute https URL (or http to a loopback address) without a query", cfg.URL)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = defaultPollInterval
	}
	if cfg.MaxStale <= 0 {
		cfg.MaxStale = max(defaultMaxStale, 2*cfg.PollInterval)
	}
	if cfg.MaxStale < 2*cfg.PollInterval {
		return nil, errors.New("middleware: FollowConfig.MaxStale must be at least twice PollInterval")
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = defaultPageSize
	}
	cfg.PageSize = min(cfg.PageSize, maxPageSize)
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = defaultMaxEntries
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 1 << 20
	}
	client, _ := limitedClient(httpClient, cfg.MaxResponseBytes)
	// The request carries the client's secret: it goes where it was told,
	// and nowhere else.
	client.CheckRedirect = func(*http.Request, []*http.Request) error {
		return errors.New("the change feed redirected; redirects are not followed")
	}
	return &follower{
		cfg: cfg, client: client, log: log, now: now, leeway: leeway, cache: cache,
		done:    make(chan struct{}),
		revoked: map[string]time.Time{}, clients: map[string]*subjectFloor{}, accounts: map[string]*subjectFloor{},
	}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// run polls until ctx is done; the first poll has been made by the caller.
func (f *follower) run(ctx context.Context) {
	defer close(f.done)
	t := time.NewTimer(f.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.poll(ctx)
		t.Reset(f.cfg.PollInterval)
	}
}

// poll reads pages until the feed has no more (or a page fails).
func (f *follower) poll(ctx context.Context) {
	for range maxPagesPerPoll {
		more, err := f.pollPage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			f.mu.Lock()
			first := !f.failing
			f.failing = true
			f.mu.Unlock()
			if first {
				f.log.ErrorContext(ctx, "portcullis: cannot read the issuer's change feed; tokens are refused (503) if it stays unreadable for MaxStale",
					slog.String("url", f.cfg.URL), slog.Duration("max_stale", f.cfg.MaxStale), slog.Any("err", err))
			}
			return
		}
		f.mu.Lock()
		if f.failing {
			f.failing = false
			f.log.InfoContext(ctx, "portcullis: reading the issuer's change feed again", slog.String("url", f.cfg.URL))
		}
		f.mu.Unlock()
		if !more {
			return
		}
	}
}

// feedPage is the issuer's answer (see issuer's changesPage).
type feedPage struct {
	Changes []struct {
		Seq        int64  `json:"seq"`
		Kind       string `json:"kind"`
		ID         string `json:"id"`
		Generation *int64 `json:"generation"`
		At         int64  `json:"at"`
		Exp        int64  `json:"exp"`
	} `json:"changes"`
	Cursor *int64 `json:"cursor"`
	More   bool   `json:"more"`
	Resync bool   `json:"resync"`
}

// pollPage reads and applies one page and reports whether more wait.
func (f *follower) pollPage(ctx context.Context) (bool, error) {
	f.mu.RLock()
	cursor := f.cursor
	full := f.full
	f.mu.RUnlock()
	if full {
		// Make room first; until there is, stay where we are.
		f.sweep(f.now(), true)
		f.mu.RLock()
		full = f.full
		f.mu.RUnlock()
		if full {
			return false, errFollowFull
		}
	}
	page, err := f.fetch(ctx, cursor)
	if err != nil {
		return false, err
	}
	now := f.now()
	if page.Resync {
		f.resync(ctx, *page.Cursor, now)
		return true, nil // read on from the new cursor at once
	}
	// Check the whole page before applying any of it.
	last := cursor
	for _, c := range page.Changes {
		if c.Seq <= last {
			return false, fmt.Errorf("change %d out of order after %d", c.Seq, last)
		}
		last = c.Seq
		switch c.Kind {
		case "revoked":
			if c.ID == "" {
				return false, errors.New("a revocation without an id")
			}
		case "client", "account":
			if c.ID == "" || c.Generation == nil || *c.Generation < -1 {
				return false, fmt.Errorf("a %s change without an id or a generation", c.Kind)
			}
		default:
			// An issuer newer than this verifier may publish kinds it does
			// not know; they concern nothing it checks.
		}
	}
	if *page.Cursor < last {
		return false, fmt.Errorf("cursor %d is behind the changes it follows", *page.Cursor)
	}
	stopped := f.apply(page, now)
	if stopped {
		return false, errFollowFull
	}
	return page.More, nil
}

// fetch reads the page after cursor.
func (f *follower) fetch(ctx context.Context, cursor int64) (*feedPage, error) {
	u := f.cfg.URL + "?after=" + strconv.FormatInt(cursor, 10) + "&limit=" + strconv.Itoa(f.cfg.PageSize)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	// RFC 6749 §2.3.1: each form-encoded, then Basic.
	req.SetBasicAuth(url.QueryEscape(f.cfg.ClientID), url.QueryEscape(f.cfg.ClientSecret))
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the change feed: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		json.Unmarshal(body, &e)
		return nil, fmt.Errorf("the change feed answered %d %s %s", resp.StatusCode, e.Error, e.Description)
	}
	var page feedPage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("decoding the change feed: %w", err)
	}
	if page.Cursor == nil || *page.Cursor < 0 {
		return nil, errors.New("the change feed's answer has no cursor")
	}
	return &page, nil
}

// resync drops everything derived from the feed and restarts from cursor.
func (f *follower) resync(ctx context.Context, cursor int64, now time.Time) {
	f.mu.Lock()
	f.cursor = cursor
	clear(f.revoked)
	clear(f.clients)
	clear(f.accounts)
	f.full = false
	f.lastOK = now
	// Not ready until the replay from the new cursor reaches the end.
	f.ready = false
	f.mu.Unlock()
	if f.cache != nil {
		f.cache.flush()
	}
	f.log.WarnContext(ctx, "portcullis: the issuer's change feed said resync; replaying it", slog.String("url", f.cfg.URL), slog.Int64("cursor", cursor))
}

// apply records a checked page; it reports whether it stopped short for
// want of room (MaxEntries), having applied what fitted.
func (f *follower) apply(page *feedPage, now time.Time) (stopped bool) {
	var revoked []string
	var subjects []func(*Principal) bool
	f.mu.Lock()
	for _, c := range page.Changes {
		forget := time.Unix(c.Exp, 0).Add(f.leeway)
		var m map[string]*subjectFloor
		switch c.Kind {
		case "revoked":
			if _, ok := f.revoked[c.ID]; !ok && f.size() >= f.cfg.MaxEntries {
				stopped = true
			} else if !now.After(forget) {
				if old, ok := f.revoked[c.ID]; !ok || forget.After(old) {
					f.revoked[c.ID] = forget
				}
				revoked = append(revoked, c.ID)
			}
		case "client":
			m = f.clients
		case "account":
			m = f.accounts
		}
		if stopped {
			break
		}
		if m != nil && !now.After(forget) {
			s := m[c.ID]
			if s == nil {
				if f.size() >= f.cfg.MaxEntries {
					stopped = true
					break
				}
				s = &subjectFloor{}
				m[c.ID] = s
			}
			if *c.Generation == -1 {
				s.deleted = max(s.deleted, c.At)
				// A client made again under the id starts at a random
				// generation: the old one says nothing of it.
				s.hasGen = false
			} else if !s.hasGen || *c.Generation > s.gen {
				// Never lower a floor: on a Redis Cluster two changes
				// to one record may reach the log out of order.
				s.gen, s.hasGen = *c.Generation, true
			}
			if forget.After(s.forget) {
				s.forget = forget
			}
			id, account := c.ID, c.Kind == "account"
			subjects = append(subjects, func(p *Principal) bool {
				if account {
					return p.AccountID == id
				}
				return p.ClientID == id
			})
		}
		f.cursor = c.Seq
	}
	if !stopped {
		f.cursor = max(f.cursor, *page.Cursor)
		if !page.More {
			f.ready = true
		}
	}
	f.full = stopped
	f.lastOK = now
	f.mu.Unlock()
	if stopped {
		f.log.Error("portcullis: too many changes to remember; tokens are refused (503) until some expire",
			slog.Int("max_entries", f.cfg.MaxEntries))
	}
	// Drop the cached verifications the changes concern; Verify also asks
	// check on every cache hit, so this only frees memory early.
	if f.cache != nil {
		for _, id := range revoked {
			f.cache.forget(id)
		}
		if len(subjects) > 0 {
			f.cache.forgetWhere(func(p *Principal) bool {
				for _, match := range subjects {
					if match(p) {
						return true
					}
				}
				return false
			})
		}
	}
	f.sweep(now, false)
	return stopped
}

// size is how many entries are held. Callers hold f.mu.
func (f *follower) size() int { return len(f.revoked) + len(f.clients) + len(f.accounts) }

// sweep forgets the entries past their time, every followSweepEvery (or
// now, when force is set).
func (f *follower) sweep(now time.Time, force bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !force && now.Before(f.nextSweep) {
		return
	}
	f.nextSweep = now.Add(followSweepEvery)
	for id, t := range f.revoked {
		if now.After(t) {
			delete(f.revoked, id)
		}
	}
	for _, m := range []map[string]*subjectFloor{f.clients, f.accounts} {
		for id, s := range m {
			if now.After(s.forget) {
				delete(m, id)
			}
		}
	}
	if f.full && f.size() < f.cfg.MaxEntries {
		f.full = false
	}
}

// check refuses p if the feed revoked it or its credentials moved on, and
// fails closed while the feed is not caught up or has not been read for
// MaxStale.
func (f *follower) check(p *Principal, now time.Time) error {
	select {
	case <-f.done:
		return unavailable("the change feed is no longer followed (the verifier was closed)")
	default:
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	switch {
	case !f.ready:
		return unavailable("%w", errNotCaughtUp)
	case f.full:
		return unavailable("%w", errFollowFull)
	case now.Sub(f.lastOK) > f.cfg.MaxStale:
		return unavailable("%w (since %s)", errStale, f.lastOK.Format(time.RFC3339))
	}
	if t, ok := f.revoked[p.TokenID]; ok && !now.After(t) {
		return invalid("revoked")
	}
	if p.FamilyID != "" {
		if t, ok := f.revoked[token.FamilyRevocationID(p.FamilyID)]; ok && !now.After(t) {
			return invalid("refresh family revoked")
		}
	}
	iat := p.IssuedAt.Unix()
	dead := func(s *subjectFloor, withGen bool) error {
		switch {
		case s == nil || now.After(s.forget):
			return nil
		case s.deleted != 0 && (p.IssuedAt.IsZero() || iat <= s.deleted+int64(f.leeway/time.Second)):
			return invalid("client or account no longer exists")
		case withGen && s.hasGen && p.Generation < s.gen:
			return invalid("credentials were rotated")
		}
		return nil
	}
	switch {
	case p.ClientID != "":
		if err := dead(f.clients[p.ClientID], true); err != nil {
			return err
		}
		if p.AccountID != "" {
			return dead(f.accounts[p.AccountID], false)
		}
	case p.AccountID != "":
		return dead(f.accounts[p.AccountID], true)
	}
	return nil
}
