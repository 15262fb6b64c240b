package middleware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/middleware"
)

// documentTransport answers every request with one JWKS document, without
// a network.
type documentTransport []byte

func (d documentTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(d)),
		ContentLength: int64(len(d)),
		Request:       r,
	}, nil
}

// FuzzJWKSDocument serves arbitrary JWKS documents to a JWKSVerifier and
// verifies tokens with it: never a panic, a token signed by a key the
// document cannot hold (one made at run time, under a kid the seeds
// publish) is always refused, and one signed by a published key passes
// when the document is exactly the published one.
func FuzzJWKSDocument(f *testing.F) {
	const issuer = "https://issuer.fuzz.test"
	// No RSA key: generating two in every fuzzing worker, under coverage
	// instrumentation, takes longer than CI fuzzes. The RSA seed below
	// still sends the fuzzer down jwkset's and pinKeys' RSA paths.
	var keys []*token.Key
	for _, alg := range []string{token.ES256, token.EdDSA} {
		keys = append(keys, remoteKey(f, alg, "k-"+alg))
	}
	doc := func(extra ...map[string]any) []byte {
		var d struct {
			Keys []any `json:"keys"`
		}
		d.Keys = []any{}
		for _, k := range keys {
			jwk, _ := k.JWK()
			d.Keys = append(d.Keys, jwk)
		}
		for _, e := range extra {
			d.Keys = append(d.Keys, e)
		}
		b, err := json.Marshal(d)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	published := doc()
	f.Add(published)
	f.Add(doc(map[string]any{"kty": "oct", "kid": "hmac", "alg": "HS256", "k": "c2VjcmV0"}))
	f.Add(doc(map[string]any{"kty": "EC", "kid": "k-ES256", "crv": "P-256", "alg": "ES256", "x": "AA", "y": "AA"}))
	f.Add(doc(map[string]any{"kty": "RSA", "kid": "small", "alg": "RS256", "n": "AQAB", "e": "AQAB"}))
	f.Add(doc(map[string]any{"kty": "OKP", "kid": "noalg", "crv": "Ed25519", "x": strings.Repeat("A", 43)}))
	f.Add([]byte(`{"keys":[{"kid":"a","use":"enc"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`{"keys":[null,1,"x",[]]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))

	var good, forged []string
	for _, k := range keys {
		good = append(good, remoteToken(f, k, issuer))
		// Same kid and alg, other material: the document cannot hold it.
		forged = append(forged, remoteToken(f, remoteKey(f, k.Algorithm, k.ID), issuer))
	}
	f.Fuzz(func(t *testing.T, document []byte) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		v, err := middleware.NewJWKSVerifier(ctx, middleware.JWKSConfig{
			Issuer:             issuer,
			HTTPClient:         &http.Client{Transport: documentTransport(document), Timeout: 50 * time.Millisecond},
			RefreshInterval:    time.Hour,
			MinRefreshInterval: time.Hour,
			CacheSize:          -1,
			Logger:             discardLog(),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range forged {
			if p, err := v.Verify(ctx, raw); err == nil {
				t.Fatalf("a token signed by a key the document cannot hold passed: %+v", p)
			}
		}
		for _, raw := range good {
			p, err := v.Verify(ctx, raw)
			switch {
			case err == nil && (p == nil || p.ClientID != "c1"):
				t.Fatalf("accepted with principal %+v", p)
			case err != nil && bytes.Equal(document, published):
				t.Fatalf("a token of a published key was refused: %v", err)
			}
		}
	})
}
