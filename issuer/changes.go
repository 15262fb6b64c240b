package issuer

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/store"
)

var changesEndpoint = endpoint{
	name:        "changes",
	path:        func(p *Paths) *string { return &p.Changes },
	defaultPath: "/oauth/changes",
	// Config.Store, not i.store: the per-call deadline wrapper hides the
	// optional capabilities.
	available: func(i *Issuer) bool { _, ok := i.cfg.Store.(store.ChangeLog); return ok },
	serve:     func(i *Issuer) http.HandlerFunc { return i.serveChanges },
	describe:  func(_ *Issuer, m *document, url string) { m.add("portcullis_changes_endpoint", url) },
}

// Bounds of a change feed page.
const (
	// DefaultChangesLimit is the page size when the request names none.
	DefaultChangesLimit = 100
	// MaxChangesLimit is the largest page a request may ask for.
	MaxChangesLimit = 1000
)

// changeRetentionMargin is what the change log keeps beyond the longest
// token lifetime and the leeway: room for the clocks of the store, the
// issuer and the resource servers to disagree, and for a resource server
// that was briefly down to catch up without a resync.
const changeRetentionMargin = 10 * time.Minute

// changesPage is the change feed's answer.
type changesPage struct {
	Changes []changeEntry `json:"changes"`
	// Cursor is what to send as after next: the Seq of the last change
	// in the page, or after itself when there is none; on resync, where
	// to restart from.
	Cursor int64 `json:"cursor"`
	// More: another page is waiting; ask again at once.
	More bool `json:"more"`
	// Resync: the cursor is older than the retained log (or belongs to
	// no log this issuer knows): drop everything derived from the feed
	// and read on from Cursor.
	Resync bool `json:"resync,omitempty"`
}

type changeEntry struct {
	Seq  int64           `json:"seq"`
	Kind store.EventKind `json:"kind"`
	ID   string          `json:"id"`
	// Generation is the client's or account's new generation, -1 when it
	// was deleted; absent for a revocation.
	Generation *int64 `json:"generation,omitempty"`
	// At is when the change was recorded (unix seconds, the store's
	// clock).
	At int64 `json:"at"`
	// Expires (unix seconds) is when the entry stops mattering: for a
	// revocation, when the revoked token could no longer be presented;
	// for a client or account change, when the last token issued before it
	// has expired (At + the longest token lifetime + Leeway).
	Expires int64 `json:"exp"`
}

// serveChanges serves the change feed: the changes of the store's
// [store.ChangeLog] after a cursor, to resource servers that verify tokens
// through the JWKS and share nothing else with the issuer (see
// middleware.FollowConfig). It is a Portcullis extension, described in the
// package documentation ("Change feed").
//
// GET ?after=<seq>&limit=<n> with HTTP Basic, or POST with after, limit
// and the client's credentials in the body (client_secret_post and
// private_key_jwt as well): authenticated and throttled as introspection
// is, and only for clients made with ClientSpec.IntrospectAny.
func (i *Issuer) serveChanges(w http.ResponseWriter, r *http.Request) {
	noStore(w.Header())
	now := i.cfg.Now()
	page, e := i.changesRequest(w, r, now)
	if e != nil {
		i.oauthError(w, r, e)
		return
	}
	body, _ := json.Marshal(page) // our own values: cannot fail
	writeJSONBytes(w, http.StatusOK, body)
}

// changesRequest authenticates the caller, reads the cursor and the limit
// and reads the page.
func (i *Issuer) changesRequest(w http.ResponseWriter, r *http.Request, now time.Time) (*changesPage, *Error) {
	var p map[string]string
	switch r.Method {
	case http.MethodGet:
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, ErrInvalidRequest.WithDescription("malformed query").WithCause(err)
		}
		p = make(map[string]string, len(q))
		for k, v := range q {
			switch {
			case k == "client_secret" || k == "client_assertion" || k == "client_assertion_type":
				// Secrets in a URL end up in logs (RFC 6749 §2.3.1).
				return nil, ErrInvalidRequest.WithDescription("credentials must not be sent in the URL; use HTTP Basic or POST")
			case len(v) != 1:
				return nil, ErrInvalidRequest.WithDescription("a parameter is repeated")
			}
			p[k] = v[0]
		}
		// Only HTTP Basic: the query holds no credentials.
		c, e := i.authCaller(r, map[string]string{"client_id": p["client_id"]}, now)
		if e != nil {
			return nil, e
		}
		return i.changesFor(r.Context(), c, p)
	case http.MethodPost:
		if e := i.checkPost(w, r); e != nil {
			return nil, e
		}
		p, err := ReadParams(r)
		if err != nil {
			return nil, asError(err)
		}
		c, e := i.authCaller(r, p, now)
		if e != nil {
			return nil, e
		}
		return i.changesFor(r.Context(), c, p)
	}
	w.Header().Set("Allow", "GET, POST")
	return nil, ErrInvalidRequest.WithStatus(http.StatusMethodNotAllowed).WithDescription("the method must be GET or POST")
}

var errNotResourceServer = ErrUnauthorizedClient.WithStatus(http.StatusForbidden).
	WithDescription("only a resource server client (made with IntrospectAny) may read the change feed")

// changesFor reads the page that the authenticated client c asks for.
func (i *Issuer) changesFor(ctx context.Context, c *store.Client, p map[string]string) (*changesPage, *Error) {
	if c.Metadata[MetaIntrospect] != "any" {
		return nil, errNotResourceServer
	}
	after, e := intParam(p, "after", 0, 0, 1<<62)
	if e != nil {
		return nil, e
	}
	limit, e := intParam(p, "limit", DefaultChangesLimit, 1, MaxChangesLimit)
	if e != nil {
		return nil, e
	}
	page, err := i.readChanges(ctx, after, int(limit))
	if err != nil {
		return nil, i.unavailable(ctx, "read changes", err)
	}
	return page, nil
}

// intParam reads the integer parameter name, def when absent, and refuses
// one that is not a decimal integer from lo to hi.
func intParam(p map[string]string, name string, def, lo, hi int64) (int64, *Error) {
	s, ok := p[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi || !digits(s) || (len(s) > 1 && s[0] == '0') {
		return 0, ErrInvalidRequest.WithDescription(name + " must be an integer from " + strconv.FormatInt(lo, 10) + " to " + strconv.FormatInt(hi, 10))
	}
	return n, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// readChanges reads the page after the cursor. It also checks that the
// cursor is one this log handed out: it reads from after-1, so that the
// change at after comes first, unless that change was trimmed (after is
// at or below trimmed) or after is 0. A cursor the log does not hold (the
// store was replaced, an in-memory issuer restarted, or the reader was
// handed a cursor from elsewhere) would otherwise wait for changes that
// will never come; it is told to resync, like one that fell behind.
func (i *Issuer) readChanges(ctx context.Context, after int64, limit int) (*changesPage, error) {
	log, _ := changeLog(i.cfg.Store, i.cfg.StoreTimeout) // the route exists only if there is one
	// One more for the change at after, one more to tell whether more wait.
	changes, trimmed, err := log.Changes(ctx, max(after-1, 0), limit+2)
	if err != nil {
		return nil, err
	}
	if after < trimmed {
		return &changesPage{Changes: []changeEntry{}, Cursor: trimmed, Resync: true}, nil
	}
	if after > trimmed && after > 0 {
		if len(changes) == 0 || changes[0].Seq != after {
			return &changesPage{Changes: []changeEntry{}, Cursor: trimmed, Resync: true}, nil
		}
	}
	if len(changes) > 0 && changes[0].Seq <= after {
		changes = changes[1:]
	}
	page := &changesPage{Changes: make([]changeEntry, 0, min(len(changes), limit)), Cursor: after}
	if len(changes) > limit {
		changes, page.More = changes[:limit], true
	}
	forget := maxTTL(i.kinds) + i.verifier.Leeway()
	for _, c := range changes {
		e := changeEntry{Seq: c.Seq, Kind: c.Kind, ID: c.ID, At: c.At.Unix()}
		switch c.Kind {
		case store.EventRevoked:
			e.Expires = c.ExpiresAt.Unix()
		default:
			gen := c.Generation
			e.Generation = &gen
			e.Expires = c.At.Add(forget).Unix() + 1 // rounded up
		}
		page.Changes = append(page.Changes, e)
		page.Cursor = c.Seq
	}
	return page, nil
}

// changeRetention is how long the change log keeps a change: past the
// exp of every token issued before it (the longest lifetime of any kind,
// plus Leeway), so that a resource server that replays the log learns of
// every change that still matters, plus a margin for clocks.
func (i *Issuer) changeRetention() time.Duration {
	return maxTTL(i.kinds) + i.verifier.Leeway() + changeRetentionMargin
}

// trimChanges trims the change log to changeRetention, when the store
// keeps one.
func (i *Issuer) trimChanges(ctx context.Context) (int64, error) {
	log, ok := changeLog(i.cfg.Store, i.cfg.StoreTimeout)
	if !ok {
		return 0, nil
	}
	return log.TrimChanges(ctx, i.changeRetention())
}
