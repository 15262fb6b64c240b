package issuer_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
)

func TestCreateClient(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) {
		c.Scopes = []string{"read", "write"}
		c.Audience = []string{"https://api.example.com", "https://billing.example.com"}
	})
	c, secret, err := e.iss.CreateClient(t.Context(), issuer.ClientSpec{
		Name: "svc", Scopes: []string{"read"}, Audiences: []string{"https://billing.example.com"},
		Metadata: map[string]string{"team": "a"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ID) != 32 {
		t.Errorf("generated id %q, want 32 hex characters", c.ID)
	}
	if _, err := hex.DecodeString(c.ID); err != nil {
		t.Errorf("generated id %q is not hex", c.ID)
	}
	if !token.WellFormed(secret, token.PrefixClientSecret) {
		t.Errorf("generated secret %q is not a well-formed pcs_ secret", secret)
	}
	stored, err := e.st.GetClient(t.Context(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	plain := sha256.Sum256([]byte(secret))
	if !bytes.Equal(stored.SecretHash, plain[:]) || bytes.Contains(stored.SecretHash, []byte(secret)) {
		t.Errorf("stored secret hash %x, want SHA-256 of the secret", stored.SecretHash)
	}
	if stored.Name != "svc" || stored.Generation != c.Generation || stored.Disabled || !stored.CreatedAt.Equal(epoch) || stored.Metadata["team"] != "a" {
		t.Errorf("stored client %+v", stored)
	}
	// The token names the client's audience only.
	tr := e.getToken(c.ID, secret)
	p, err := e.iss.Verifier().Verify(t.Context(), tr.AccessToken)
	if err != nil || len(p.Audience) != 1 || p.Audience[0] != "https://billing.example.com" || tr.Scope != "read" {
		t.Errorf("principal %+v (%v), scope %q", p, err, tr.Scope)
	}

	if _, _, err := e.iss.CreateClient(t.Context(), issuer.ClientSpec{ID: c.ID}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("duplicate id: %v, want store.ErrAlreadyExists", err)
	}
	for name, spec := range map[string]issuer.ClientSpec{
		"space in id":        {ID: "a b"},
		"unknown scope":      {Scopes: []string{"admin"}},
		"bad scope":          {Scopes: []string{`a"b`}},
		"unknown audience":   {Audiences: []string{"https://elsewhere"}},
		"unknown grant":      {GrantTypes: []string{"password"}},
		"reserved metadata":  {Metadata: map[string]string{issuer.MetaIntrospect: "any"}},
		"overlong id":        {ID: string(bytes.Repeat([]byte("a"), 256))},
		"overlong secret":    {Secret: string(bytes.Repeat([]byte("a"), 1025))},
		"control char in id": {ID: "a\x01"},
	} {
		if _, _, err := e.iss.CreateClient(t.Context(), spec); !errors.Is(err, issuer.ErrInvalidClientSpec) {
			t.Errorf("%s: %v, want ErrInvalidClientSpec", name, err)
		}
	}
}

func TestPepper(t *testing.T) {
	e := newEnv(t, false, func(c *issuer.Config) { c.Pepper = []byte("pepper") })
	id, secret := e.client(issuer.ClientSpec{})
	stored, _ := e.st.GetClient(t.Context(), id)
	plain := sha256.Sum256([]byte(secret))
	if bytes.Equal(stored.SecretHash, plain[:]) || !bytes.Equal(stored.SecretHash, token.NewHasher([]byte("pepper")).Sum(secret)) {
		t.Errorf("stored hash %x is not the peppered HMAC", stored.SecretHash)
	}
	e.getToken(id, secret)
}

// TestRotationEndToEnd: a token issued before a rotation is refused by the
// issuer's own Verifier at once, the old secret stops working and the new
// one works.
func TestRotationEndToEnd(t *testing.T) {
	for _, f := range []issuer.Format{issuer.FormatJWT, issuer.FormatOpaque} {
		t.Run(string(f), func(t *testing.T) {
			e := newEnv(t, false, func(c *issuer.Config) { c.Format = f })
			id, secret := e.client(issuer.ClientSpec{})
			old := e.getToken(id, secret)
			p0, err := e.iss.Verifier().Verify(t.Context(), old.AccessToken)
			if err != nil {
				t.Fatalf("fresh token: %v", err)
			}
			newSecret, err := e.iss.RotateClient(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if newSecret == secret || !token.WellFormed(newSecret, token.PrefixClientSecret) {
				t.Errorf("new secret %q", newSecret)
			}
			if _, err := e.iss.Verifier().Verify(t.Context(), old.AccessToken); !errors.Is(err, middleware.ErrInvalidToken) {
				t.Errorf("token issued before rotation: %v, want ErrInvalidToken", err)
			}
			rec := e.do(req{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": basic(id, secret)}})
			if rec.Code != 401 {
				t.Errorf("old secret: %d, want 401", rec.Code)
			}
			fresh := e.getToken(id, newSecret)
			p, err := e.iss.Verifier().Verify(t.Context(), fresh.AccessToken)
			if err != nil || p.Generation != p0.Generation+1 {
				t.Errorf("token after rotation: %+v, %v", p, err)
			}
		})
	}
}

func TestDisableEnableDelete(t *testing.T) {
	e := newEnv(t, false, nil)
	ctx := t.Context()
	id, secret := e.client(issuer.ClientSpec{})
	before := e.getToken(id, secret)
	if err := e.iss.DisableClient(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.iss.Verifier().Verify(ctx, before.AccessToken); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Errorf("token of a disabled client: %v", err)
	}
	if rec := e.do(req{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": basic(id, secret)}}); rec.Code != 401 {
		t.Errorf("disabled client authenticated: %d", rec.Code)
	}
	if err := e.iss.EnableClient(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.iss.Verifier().Verify(ctx, before.AccessToken); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Errorf("re-enabling resurrected an old token: %v", err)
	}
	after := e.getToken(id, secret)
	if _, err := e.iss.Verifier().Verify(ctx, after.AccessToken); err != nil {
		t.Errorf("token after re-enabling: %v", err)
	}
	if err := e.iss.DeleteClient(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.iss.Verifier().Verify(ctx, after.AccessToken); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Errorf("token of a deleted client: %v", err)
	}
	for name, err := range map[string]error{
		"rotate":  func() error { _, err := e.iss.RotateClient(ctx, id); return err }(),
		"disable": e.iss.DisableClient(ctx, id),
		"enable":  e.iss.EnableClient(ctx, id),
		"delete":  e.iss.DeleteClient(ctx, id),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of a deleted client: %v, want store.ErrNotFound", name, err)
		}
	}
}

// TestConcurrentRotation: concurrent rotations all land (compare-and-swap
// with retry), each bumping the generation once, and only the secret of
// the last one works.
func TestConcurrentRotation(t *testing.T) {
	e := newEnv(t, false, nil)
	id, _ := e.client(issuer.ClientSpec{})
	c0, _ := e.st.GetClient(t.Context(), id)
	const n = 4
	var wg sync.WaitGroup
	secrets := make([]string, n)
	errs := make([]error, n)
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			secrets[k], errs[k] = e.iss.RotateClient(t.Context(), id)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, store.ErrConflict) {
			t.Errorf("rotation failed: %v", err)
		}
	}
	c, _ := e.st.GetClient(t.Context(), id)
	if c.Generation != c0.Generation+int64(ok) || ok == 0 {
		t.Errorf("generation %d after %d successful rotations", c.Generation, ok)
	}
	works := 0
	for k, s := range secrets {
		if errs[k] == nil && e.iss.Hasher().Equal(s, c.SecretHash) {
			works++
		}
	}
	if works != 1 {
		t.Errorf("%d of the returned secrets match the stored hash, want exactly 1", works)
	}
}

func TestRotateStoreFailure(t *testing.T) {
	e := newEnv(t, true, nil)
	id, secret := e.client(issuer.ClientSpec{})
	e.fault.set("UpdateClient", errInjected)
	if _, err := e.iss.RotateClient(t.Context(), id); !errors.Is(err, errInjected) {
		t.Errorf("RotateClient: %v, want the store's error", err)
	}
	e.fault.set("UpdateClient", nil)
	e.getToken(id, secret) // nothing changed
}

func TestSetClientSecret(t *testing.T) {
	e := newEnv(t, false, nil)
	id, secret := e.client(issuer.ClientSpec{})
	c0, _ := e.st.GetClient(t.Context(), id)
	old := e.getToken(id, secret)
	if err := e.iss.SetClientSecret(t.Context(), id, "chosen by the client"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.iss.Verifier().Verify(t.Context(), old.AccessToken); !errors.Is(err, middleware.ErrInvalidToken) {
		t.Errorf("token issued before the new secret: %v, want ErrInvalidToken", err)
	}
	if rec := e.do(req{body: form("grant_type", "client_credentials"), header: map[string]string{"Authorization": basic(id, secret)}}); rec.Code != 401 {
		t.Errorf("old secret: %d, want 401", rec.Code)
	}
	p, err := e.iss.Verifier().Verify(t.Context(), e.getToken(id, "chosen by the client").AccessToken)
	if err != nil || p.Generation != c0.Generation+1 {
		t.Errorf("token with the new secret: %+v, %v", p, err)
	}
	for _, bad := range []string{"", strings.Repeat("x", 1025)} {
		if err := e.iss.SetClientSecret(t.Context(), id, bad); !errors.Is(err, issuer.ErrInvalidClientSpec) {
			t.Errorf("secret of %d bytes: %v, want ErrInvalidClientSpec", len(bad), err)
		}
	}
	if err := e.iss.SetClientSecret(t.Context(), "nobody", "s"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown client: %v, want store.ErrNotFound", err)
	}
}

// TestRecreatedClientDoesNotInheritTokens: deleting a client and creating
// one with the same id (ids are often chosen names) must not bring back the
// old client's tokens, access or refresh, although both start afresh.
func TestRecreatedClientDoesNotInheritTokens(t *testing.T) {
	for _, f := range []issuer.Format{issuer.FormatJWT, issuer.FormatOpaque} {
		t.Run(string(f), func(t *testing.T) {
			e := refreshEnv(t, func(c *issuer.Config) { c.Format = f })
			ctx := t.Context()
			id, secret := e.client(issuer.ClientSpec{ID: "billing"})
			old := e.getToken(id, secret)
			if err := e.iss.DeleteClient(ctx, id); err != nil {
				t.Fatal(err)
			}
			_, newSecret := e.client(issuer.ClientSpec{ID: "billing"})
			if _, err := e.iss.Verifier().Verify(ctx, old.AccessToken); !errors.Is(err, middleware.ErrInvalidToken) {
				t.Errorf("access token of the deleted client: %v, want ErrInvalidToken", err)
			}
			wantResponse(t, e.refresh(id, newSecret, old.RefreshToken), 400, noStoreJSON, badRefresh)
			r := e.do(req{path: "/oauth/introspect", body: form("token", old.AccessToken),
				header: map[string]string{"Authorization": basic(id, newSecret)}})
			wantResponse(t, r, 200, noStoreJSON, `{"active":false}`)
			// The new client's own tokens work.
			fresh := e.getToken(id, newSecret)
			if _, err := e.iss.Verifier().Verify(ctx, fresh.AccessToken); err != nil {
				t.Errorf("new client's token: %v", err)
			}
			e.refresh(id, newSecret, fresh.RefreshToken).token(t)
		})
	}
}
