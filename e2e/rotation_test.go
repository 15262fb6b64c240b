package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/issuer"
)

// TestRotation rotates a client's credentials, once at the credentials
// endpoint with its own token and once with Issuer.RotateClient: the guard
// refuses every token issued before, at once (the issuer tells its own
// verifier), the old secret is refused and the new one works.
func TestRotation(t *testing.T) {
	for _, via := range []string{"endpoint", "RotateClient"} {
		t.Run(via, func(t *testing.T) {
			s := newServer(t, freshMemory(t)(), nil, selfRotation)
			id, oldSecret := s.client(t, issuer.ClientSpec{})
			old := s.token(t, id, oldSecret)
			other := s.token(t, id, oldSecret)
			// Both tokens are now in the guard's cache of verified tokens:
			// rotation must reach it too.
			s.mustAccept(t, old, id)
			s.mustAccept(t, other, id)

			var newSecret string
			if via == "endpoint" {
				newSecret, _ = rotateAtEndpoint(t, s, old, id, "")
				// The token that asked for the rotation is spent too.
				req, _ := http.NewRequest("POST", s.srv.URL+s.iss.Paths().Credentials, nil)
				req.Header.Set("Authorization", "Bearer "+old)
				resp, err := s.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("second rotation with the old token: %d, want 401", resp.StatusCode)
				}
			} else {
				var err error
				if newSecret, err = s.iss.RotateClient(context.Background(), id); err != nil {
					t.Fatal(err)
				}
			}
			if newSecret == oldSecret || !token.WellFormed(newSecret, token.PrefixClientSecret) {
				t.Fatalf("new secret %q", newSecret)
			}

			s.mustRefuse(t, old, "token issued before the rotation")
			s.mustRefuse(t, other, "other token issued before the rotation")
			if _, err := s.cc(id, oldSecret, oauth2.AuthStyleInHeader).Token(context.Background()); !invalidClient(err) {
				t.Errorf("old secret: %v, want invalid_client", err)
			}
			s.mustAccept(t, s.token(t, id, newSecret), id)
		})
	}
}

// selfRotation enables the credentials endpoint, off by default.
func selfRotation(c *issuer.Config) { c.Paths.Credentials = issuer.DefaultCredentialsPath }

// rotateAtEndpoint rotates the client's credentials with its own token (and
// key as its Idempotency-Key, when set) and returns the new secret and
// whether the answer was a replay.
func rotateAtEndpoint(t *testing.T, s *server, tok, id, key string) (string, bool) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.srv.URL+s.iss.Paths().Credentials, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if key != "" {
		req.Header.Set(issuer.IdempotencyKeyHeader, key)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("rotation: %d %v", resp.StatusCode, err)
	}
	if body.ClientID != id {
		t.Errorf("rotated client %q, want %q", body.ClientID, id)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q on a response with a secret", cc)
	}
	return body.ClientSecret, resp.Header.Get("Idempotent-Replayed") == "true"
}

// TestRotationRetryAcrossReplicas rotates at one replica with an
// Idempotency-Key and retries the same request at another, on every
// backend: the record is in the store, so the retry gets the same secret
// and the client is rotated once.
func TestRotationRetryAcrossReplicas(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		open := b.fresh(t)
		r1 := newServer(t, open(), nil, selfRotation)
		r2 := newServer(t, open(), nil, selfRotation)
		id, oldSecret := r1.client(t, issuer.ClientSpec{})
		tok := r1.token(t, id, oldSecret)
		secret, replayed := rotateAtEndpoint(t, r1, tok, id, "retry-1")
		if replayed {
			t.Error("the first rotation was answered as a replay")
		}
		again, replayed := rotateAtEndpoint(t, r2, tok, id, "retry-1")
		if again != secret || !replayed {
			t.Fatalf("retry at the other replica got another secret (replayed %v)", replayed)
		}
		if _, err := r2.cc(id, oldSecret, oauth2.AuthStyleInHeader).Token(context.Background()); !invalidClient(err) {
			t.Errorf("old secret: %v, want invalid_client", err)
		}
		r2.mustAccept(t, r2.token(t, id, secret), id)
	})
}

// TestRevocation revokes an access token with RFC 7009: the guard refuses
// it at once, while another token of the same client still works.
func TestRevocation(t *testing.T) {
	s := newServer(t, freshMemory(t)(), nil)
	id, secret := s.client(t, issuer.ClientSpec{})
	tok, kept := s.token(t, id, secret), s.token(t, id, secret)
	s.mustAccept(t, tok, id) // cached by the guard's verifier
	s.revoke(t, id, secret, tok)
	s.mustRefuse(t, tok, "revoked token")
	s.mustAccept(t, kept, id)

	// Another client cannot revoke this client's token (and is still
	// answered 200, as RFC 7009 §2.2 asks).
	id2, secret2 := s.client(t, issuer.ClientSpec{})
	s.revoke(t, id2, secret2, kept)
	s.mustAccept(t, kept, id)
}
