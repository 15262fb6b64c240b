package issuer_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
)

type feedPage struct {
	Changes []struct {
		Seq        int64  `json:"seq"`
		Kind       string `json:"kind"`
		ID         string `json:"id"`
		Generation *int64 `json:"generation"`
		At         int64  `json:"at"`
		Exp        int64  `json:"exp"`
	} `json:"changes"`
	Cursor int64 `json:"cursor"`
	More   bool  `json:"more"`
	Resync bool  `json:"resync"`
}

// feed reads the change feed with GET and HTTP Basic.
func (e *env) feed(id, secret, query string) (*httpResult, *feedPage) {
	e.t.Helper()
	r := result(e.do(req{method: http.MethodGet, path: "/oauth/changes?" + query, ct: "-",
		header: map[string]string{"Authorization": basic(id, secret)}}))
	if r.code != http.StatusOK {
		return r, nil
	}
	var p feedPage
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		e.t.Fatalf("feed %s: %v", r.body, err)
	}
	return r, &p
}

func TestChangesAuth(t *testing.T) {
	e := newEnv(t, false, nil)
	rs, rsSecret := e.client(issuer.ClientSpec{IntrospectAny: true})
	plain, plainSecret := e.client(issuer.ClientSpec{})

	if r, p := e.feed(rs, rsSecret, "after=0"); p == nil || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("resource server: %d %s %v", r.code, r.body, r.header)
	}
	for _, tc := range []struct {
		name         string
		r            req
		code         int
		errCode      string
		wantInHeader string
	}{
		{"unauthenticated", req{method: "GET", path: "/oauth/changes", ct: "-"}, 401, "invalid_client", ""},
		{"wrong secret", req{method: "GET", path: "/oauth/changes", ct: "-", header: map[string]string{"Authorization": basic(rs, "nope")}}, 401, "invalid_client", ""},
		{"not a resource server", req{method: "GET", path: "/oauth/changes", ct: "-", header: map[string]string{"Authorization": basic(plain, plainSecret)}}, 403, "unauthorized_client", ""},
		{"secret in the URL", req{method: "GET", path: "/oauth/changes?client_id=" + rs + "&client_secret=" + rsSecret, ct: "-"}, 400, "invalid_request", ""},
		{"junk after", req{method: "GET", path: "/oauth/changes?after=x", ct: "-", header: map[string]string{"Authorization": basic(rs, rsSecret)}}, 400, "invalid_request", ""},
		{"negative after", req{method: "GET", path: "/oauth/changes?after=-1", ct: "-", header: map[string]string{"Authorization": basic(rs, rsSecret)}}, 400, "invalid_request", ""},
		{"signed after", req{method: "GET", path: "/oauth/changes?after=%2B1", ct: "-", header: map[string]string{"Authorization": basic(rs, rsSecret)}}, 400, "invalid_request", ""},
		{"zero limit", req{method: "GET", path: "/oauth/changes?limit=0", ct: "-", header: map[string]string{"Authorization": basic(rs, rsSecret)}}, 400, "invalid_request", ""},
		{"limit too large", req{method: "GET", path: fmt.Sprintf("/oauth/changes?limit=%d", issuer.MaxChangesLimit+1), ct: "-", header: map[string]string{"Authorization": basic(rs, rsSecret)}}, 400, "invalid_request", ""},
		{"repeated after", req{method: "GET", path: "/oauth/changes?after=1&after=2", ct: "-", header: map[string]string{"Authorization": basic(rs, rsSecret)}}, 400, "invalid_request", ""},
		{"huge after", req{method: "GET", path: "/oauth/changes?after=99999999999999999999999", ct: "-", header: map[string]string{"Authorization": basic(rs, rsSecret)}}, 400, "invalid_request", ""},
		{"PUT", req{method: "PUT", path: "/oauth/changes", ct: "-", header: map[string]string{"Authorization": basic(rs, rsSecret)}}, 405, "invalid_request", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := result(e.do(tc.r))
			if r.code != tc.code || !strings.Contains(r.body, `"error":"`+tc.errCode+`"`) {
				t.Errorf("%d %s, want %d %s", r.code, r.body, tc.code, tc.errCode)
			}
			if strings.Contains(r.body, `"changes"`) {
				t.Errorf("refused request got changes: %s", r.body)
			}
		})
	}
	// POST with client_secret_post, the cursor in the body.
	r := result(e.do(req{path: "/oauth/changes", body: form("client_id", rs, "client_secret", rsSecret, "after", "0", "limit", "5")}))
	if r.code != 200 || !strings.Contains(r.body, `"cursor":`) {
		t.Errorf("POST: %d %s", r.code, r.body)
	}
	// POST with a query is refused like at the other endpoints.
	r = result(e.do(req{path: "/oauth/changes?after=0", body: form("client_id", rs, "client_secret", rsSecret)}))
	if r.code != 400 {
		t.Errorf("POST with a query: %d %s", r.code, r.body)
	}
}

func TestChangesPages(t *testing.T) {
	e := newEnv(t, false, nil)
	ctx := t.Context()
	rs, rsSecret := e.client(issuer.ClientSpec{IntrospectAny: true})
	a, aSecret := e.client(issuer.ClientSpec{})
	c, err := e.st.GetClient(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	gen0 := c.Generation
	secret, err := e.iss.RotateClient(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	_ = aSecret
	tok := e.getToken(a, secret)
	if r := result(e.do(req{path: "/oauth/revoke", body: form("token", tok.AccessToken), header: map[string]string{"Authorization": basic(a, secret)}})); r.code != 200 {
		t.Fatalf("revoke: %d %s", r.code, r.body)
	}
	if err := e.iss.DeleteClient(ctx, a); err != nil {
		t.Fatal(err)
	}
	_, p := e.feed(rs, rsSecret, "")
	if p == nil || len(p.Changes) < 3 || p.More {
		t.Fatalf("feed: %+v", p)
	}
	kinds := ""
	for _, c := range p.Changes {
		kinds += c.Kind + " "
		if c.Exp < c.At {
			t.Errorf("change %d expires %d before it was made %d", c.Seq, c.Exp, c.At)
		}
	}
	last := p.Changes[len(p.Changes)-1]
	first := p.Changes[0]
	if !strings.HasPrefix(kinds, "client ") || !strings.Contains(kinds, "revoked ") || last.Kind != "client" ||
		last.Generation == nil || *last.Generation != -1 || first.Generation == nil || *first.Generation != gen0+1 {
		t.Errorf("changes %s: first %+v last %+v", kinds, first, last)
	}
	if p.Cursor != last.Seq {
		t.Errorf("cursor %d, want %d", p.Cursor, last.Seq)
	}
	// A client change is kept until the last token made before it expired:
	// at + the longest TTL of any kind (the account kind's 12h) + leeway.
	if d := time.Duration(first.Exp-first.At) * time.Second; d < 12*time.Hour || d > 12*time.Hour+2*time.Minute {
		t.Errorf("client change kept %s", d)
	}

	// Pages: one change at a time, the cursor moving on.
	var seqs []int64
	cursor := int64(0)
	for range 10 {
		_, p := e.feed(rs, rsSecret, fmt.Sprintf("after=%d&limit=1", cursor))
		if p == nil {
			t.Fatal("page refused")
		}
		for _, c := range p.Changes {
			seqs = append(seqs, c.Seq)
		}
		cursor = p.Cursor
		if !p.More {
			break
		}
	}
	if len(seqs) != len(p.Changes) || seqs[len(seqs)-1] != last.Seq {
		t.Errorf("paged seqs %v, want %d ending at %d", seqs, len(p.Changes), last.Seq)
	}
	// At the end: nothing, same cursor.
	if _, p := e.feed(rs, rsSecret, fmt.Sprintf("after=%d", cursor)); p == nil || len(p.Changes) != 0 || p.Cursor != cursor || p.More || p.Resync {
		t.Errorf("at the end: %+v", p)
	}
	// A cursor this log never handed out (an issuer restarted over a new
	// memory store): resync from the start.
	if _, p := e.feed(rs, rsSecret, fmt.Sprintf("after=%d", cursor+50)); p == nil || !p.Resync || p.Cursor != 0 || len(p.Changes) != 0 {
		t.Errorf("unknown cursor: %+v", p)
	}
}

// TestChangesResync: a reader whose cursor fell below what was trimmed
// is told to resync, from the trimmed position; Sweep trims by the
// retention (the longest TTL + leeway + a margin), not before.
func TestChangesResync(t *testing.T) {
	st := memory.New()
	e := newEnv(t, false, func(c *issuer.Config) { c.Store = st })
	ctx := t.Context()
	rs, rsSecret := e.client(issuer.ClientSpec{IntrospectAny: true})
	for range 3 {
		a, _ := e.client(issuer.ClientSpec{})
		if err := e.iss.DisableClient(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.iss.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, p := e.feed(rs, rsSecret, "after=0"); p == nil || len(p.Changes) != 3 {
		t.Fatalf("Sweep trimmed recent changes: %+v", p)
	}
	// Trim everything (as the sweep does, much later).
	time.Sleep(2 * time.Millisecond)
	if n, err := store.ChangeLog(st).TrimChanges(ctx, time.Millisecond); err != nil || n != 3 {
		t.Fatalf("trim: %d %v", n, err)
	}
	_, p := e.feed(rs, rsSecret, "after=1")
	if p == nil || !p.Resync || p.Cursor != 3 || len(p.Changes) != 0 {
		t.Fatalf("behind the trimmed log: %+v", p)
	}
	if _, p := e.feed(rs, rsSecret, "after=3"); p == nil || p.Resync || len(p.Changes) != 0 || p.Cursor != 3 {
		t.Errorf("at the trimmed position: %+v", p)
	}
	a, _ := e.client(issuer.ClientSpec{})
	if err := e.iss.DisableClient(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, p := e.feed(rs, rsSecret, "after=3"); p == nil || p.Resync || len(p.Changes) != 1 || p.Changes[0].Seq != 4 || p.Changes[0].ID != a {
		t.Errorf("after the trimmed position: %+v", p)
	}
}

// TestChangesOff: no endpoint without a change log, or with "-".
func TestChangesOff(t *testing.T) {
	e := newEnv(t, true, nil) // faultStore hides the memory store's capabilities
	if e.iss.Paths().Changes != "-" {
		t.Errorf("a store without a change log: path %q", e.iss.Paths().Changes)
	}
	if r := e.do(req{method: "GET", path: "/oauth/changes", ct: "-"}); r.Code != 404 {
		t.Errorf("%d", r.Code)
	}
	e = newEnv(t, false, func(c *issuer.Config) { c.Paths.Changes = "-" })
	if r := e.do(req{method: "GET", path: "/oauth/changes", ct: "-"}); r.Code != 404 {
		t.Errorf("turned off: %d", r.Code)
	}
}
