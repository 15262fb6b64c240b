package issuer_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/issuer"
)

// rotateAt posts to the credentials endpoint with a bearer token and, when
// key is not empty, an Idempotency-Key; it returns the result and the new
// secret of a 200.
func (e *env) rotateAt(tok, key string) (*httpResult, string) {
	e.t.Helper()
	h := map[string]string{"Authorization": "Bearer " + tok}
	if key != "" {
		h[issuer.IdempotencyKeyHeader] = key
	}
	r := result(e.do(req{path: issuer.DefaultCredentialsPath, ct: "-", header: h}))
	var creds struct {
		ClientSecret string `json:"client_secret"`
	}
	if r.code == 200 {
		if err := json.Unmarshal([]byte(r.body), &creds); err != nil || creds.ClientSecret == "" {
			e.t.Fatalf("rotation answered %s", r.body)
		}
	}
	return r, creds.ClientSecret
}

// tokenCode is the status of a client_credentials request.
func (e *env) tokenCode(id, secret string) int {
	return e.do(req{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": basic(id, secret)}}).Code
}

func (e *env) generation(id string) int64 {
	e.t.Helper()
	c, err := e.st.GetClient(e.t.Context(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c.Generation
}

// Off by default: the path is unknown (404), as any path the issuer does
// not serve, and a valid token changes nothing.
func TestSelfRotationOffByDefault(t *testing.T) {
	e := newEnv(t, false, nil)
	id, secret := e.client(issuer.ClientSpec{})
	tok := e.getToken(id, secret).AccessToken
	gen := e.generation(id)
	if r, _ := e.rotateAt(tok, "k1"); r.code != http.StatusNotFound {
		t.Errorf("self-rotation by default: %d %s, want 404", r.code, r.body)
	}
	if e.generation(id) != gen || e.tokenCode(id, secret) != 200 {
		t.Error("a request to the disabled endpoint changed the client")
	}
	if p := e.iss.Paths().Credentials; p != "-" {
		t.Errorf("Paths().Credentials = %q, want -", p)
	}
}

func TestSelfRotationIdempotencyKey(t *testing.T) {
	for _, f := range []issuer.Format{issuer.FormatJWT, issuer.FormatOpaque} {
		t.Run(string(f), func(t *testing.T) {
			e := newEnv(t, false, func(c *issuer.Config) { selfRotation(c); c.Format = f })
			id, secret := e.client(issuer.ClientSpec{})
			gen := e.generation(id)
			t1 := e.getToken(id, secret).AccessToken

			r, s1 := e.rotateAt(t1, "key-1")
			if r.code != 200 || r.header.Get("Idempotent-Replayed") != "" {
				t.Fatalf("first rotation: %d %v %s", r.code, r.header, r.body)
			}
			// The answer was lost; the client retries the same request.
			for range 2 {
				r, again := e.rotateAt(t1, "key-1")
				if r.code != 200 || again != s1 || r.header.Get("Idempotent-Replayed") != "true" || r.header.Get("Cache-Control") != "no-store" {
					t.Fatalf("retry: %d %v %s, want the same secret", r.code, r.header, r.body)
				}
			}
			// Rotated once: the old secret is dead, the new one lives.
			if g := e.generation(id); g != gen+1 {
				t.Errorf("generation %d after one rotation and two retries, want %d", g, gen+1)
			}
			if e.tokenCode(id, secret) != 401 || e.tokenCode(id, s1) != 200 {
				t.Error("after the retries the old secret must be dead and the new one alive")
			}
			// The same token with another key is another request, made with a
			// dead token.
			if r, _ := e.rotateAt(t1, "key-2"); r.code != 401 {
				t.Errorf("dead token, other key: %d, want 401", r.code)
			}
			if r, _ := e.rotateAt(t1, ""); r.code != 401 {
				t.Errorf("dead token, no key: %d, want 401", r.code)
			}
			// A new token and another key rotate again; so does the first
			// key with the new token (the key is scoped to the request).
			t2 := e.getToken(id, s1).AccessToken
			r, s2 := e.rotateAt(t2, "key-2")
			if r.code != 200 || s2 == s1 || r.header.Get("Idempotent-Replayed") != "" {
				t.Fatalf("other key: %d %s", r.code, r.body)
			}
			t3 := e.getToken(id, s2).AccessToken
			r, s3 := e.rotateAt(t3, "key-1")
			if r.code != 200 || s3 == s2 || s3 == s1 {
				t.Fatalf("first key, new token: %d %s", r.code, r.body)
			}
			if g := e.generation(id); g != gen+3 {
				t.Errorf("generation %d after three rotations, want %d", g, gen+3)
			}
			// Only the latest rotation can be replayed.
			if r, _ := e.rotateAt(t1, "key-1"); r.code != 401 {
				t.Errorf("replay of a superseded rotation: %d, want 401", r.code)
			}
			if r, again := e.rotateAt(t3, "key-1"); r.code != 200 || again != s3 {
				t.Errorf("replay of the latest rotation: %d %s", r.code, r.body)
			}

			// Nothing at rest gives the secret away: the record holds neither
			// the secret, nor the token, nor the key.
			c, _ := e.st.GetClient(t.Context(), id)
			rec := c.Metadata["portcullis.rotation"]
			if rec == "" || strings.Contains(rec, s3) || strings.Contains(rec, t3) || strings.Contains(rec, "key-1") {
				t.Errorf("rotation record %q", rec)
			}

			// Past the window the replay is refused: the token is dead.
			e.clock.Advance(5*time.Minute + time.Second)
			if r, _ := e.rotateAt(t3, "key-1"); r.code != 401 {
				t.Errorf("replay after the window: %d, want 401", r.code)
			}
		})
	}
}

// Two clients using the same Idempotency-Key rotate each their own.
func TestSelfRotationKeysPerClient(t *testing.T) {
	e := newEnv(t, false, selfRotation)
	a, aSecret := e.client(issuer.ClientSpec{})
	b, bSecret := e.client(issuer.ClientSpec{})
	ta, tb := e.getToken(a, aSecret).AccessToken, e.getToken(b, bSecret).AccessToken
	_, sa := e.rotateAt(ta, "shared")
	r, sb := e.rotateAt(tb, "shared")
	if r.code != 200 || sb == "" || sb == sa || r.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("second client, same key: %d %s", r.code, r.body)
	}
	var body struct {
		ClientID string `json:"client_id"`
	}
	json.Unmarshal([]byte(r.body), &body)
	if body.ClientID != b || e.tokenCode(a, sa) != 200 || e.tokenCode(b, sb) != 200 {
		t.Errorf("client %q, a and b must each have their own new secret", body.ClientID)
	}
}

// The same request sent several times at once rotates once, and every
// copy gets the winner's secret.
func TestSelfRotationConcurrentRetries(t *testing.T) {
	e := newEnv(t, false, selfRotation)
	id, secret := e.client(issuer.ClientSpec{})
	gen := e.generation(id)
	tok := e.getToken(id, secret).AccessToken
	const n = 4
	secrets := make([]string, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() { _, secrets[k] = e.rotateAt(tok, "same") })
	}
	wg.Wait()
	if slices.Contains(secrets, "") || len(slices.Compact(slices.Clone(secrets))) != 1 {
		t.Errorf("concurrent retries got %q, want one secret %d times", secrets, n)
	}
	if g := e.generation(id); g != gen+1 {
		t.Errorf("generation %d, want %d", g, gen+1)
	}
}

func TestSelfRotationBadIdempotencyKey(t *testing.T) {
	e := newEnv(t, false, selfRotation)
	id, secret := e.client(issuer.ClientSpec{})
	tok := e.getToken(id, secret).AccessToken
	for name, key := range map[string]string{
		"too long":  strings.Repeat("k", 256),
		"control":   "a\x01b",
		"non-ASCII": "clé",
	} {
		r, _ := e.rotateAt(tok, key)
		if r.code != 400 || !strings.Contains(r.body, "invalid_request") {
			t.Errorf("%s: %d %s", name, r.code, r.body)
		}
	}
	hr, _ := http.NewRequest(http.MethodPost, issuer.DefaultCredentialsPath, nil)
	hr.Header.Set("Authorization", "Bearer "+tok)
	hr.Header.Add(issuer.IdempotencyKeyHeader, "a")
	hr.Header.Add(issuer.IdempotencyKeyHeader, "b")
	rec := httptest.NewRecorder()
	e.iss.Handler().ServeHTTP(rec, hr)
	if rec.Code != 400 {
		t.Errorf("two keys: %d", rec.Code)
	}
	if e.tokenCode(id, secret) != 200 {
		t.Error("a refused request rotated the client")
	}
}

// A negative window turns retries off: the key is ignored.
func TestSelfRotationRetriesOff(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) { selfRotation(c); c.RotationRetryWindow = -1 })
	id, secret := e.client(issuer.ClientSpec{})
	tok := e.getToken(id, secret).AccessToken
	if r, _ := e.rotateAt(tok, "k"); r.code != 200 {
		t.Fatalf("rotation: %d", r.code)
	}
	if r, _ := e.rotateAt(tok, "k"); r.code != 401 {
		t.Errorf("retry with retries off: %d, want 401", r.code)
	}
	c, _ := e.st.GetClient(t.Context(), id)
	if _, ok := c.Metadata["portcullis.rotation"]; ok {
		t.Error("a record was stored with retries off")
	}
}
