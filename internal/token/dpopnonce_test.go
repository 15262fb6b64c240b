package token_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/token"
)

var nonceSecret = []byte("0123456789abcdef0123456789abcdef")

func newNonces(t *testing.T, secret []byte, label string) *token.DPoPNonces {
	t.Helper()
	n, err := token.NewDPoPNonces(secret, label, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDPoPNonces(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC) // mid-window
	n := newNonces(t, nonceSecret, token.NonceAuthorizationServer)
	cur := n.Current(now)
	if len(cur) != 32 || strings.ContainsAny(cur, "=+/ \"\\") {
		t.Fatalf("nonce %q: want 32 base64url characters (RFC 9449 NQCHAR)", cur)
	}
	if again := n.Current(now.Add(20 * time.Second)); again != cur {
		t.Errorf("same window, another nonce: %q, %q", cur, again)
	}
	if next := n.Current(now.Add(time.Minute)); next == cur {
		t.Error("the next window has the same nonce")
	}
	// Another replica with the same secret agrees, without talking.
	if other := newNonces(t, nonceSecret, token.NonceAuthorizationServer); other.Current(now) != cur {
		t.Error("two instances with one secret disagree")
	}

	for name, c := range map[string]struct {
		at    time.Time
		renew bool
	}{
		"its window":      {now, false},
		"the next window": {now.Add(time.Minute), true},
		"clock behind":    {now.Add(-35 * time.Second), false}, // within the leeway of the window before
	} {
		renew, err := n.Check(cur, c.at, 10*time.Second)
		if err != nil || renew != c.renew {
			t.Errorf("%s: renew %v, err %v; want renew %v", name, renew, err, c.renew)
		}
	}
	if _, err := n.Check(cur, now.Add(-35*time.Second), 0); !errors.Is(err, token.ErrDPoPNonce) {
		t.Errorf("a nonce of the next window without leeway: %v", err)
	}

	forge := func(mod func(raw []byte)) string {
		raw, _ := base64.RawURLEncoding.DecodeString(cur)
		mod(raw)
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	refused := map[string]struct {
		nonce string
		at    time.Time
	}{
		"missing":             {"", now},
		"stale":               {cur, now.Add(2 * time.Minute)},
		"forged tag":          {forge(func(raw []byte) { raw[len(raw)-1] ^= 1 }), now},
		"window moved ahead":  {forge(func(raw []byte) { raw[7]++ }), now.Add(time.Minute)},
		"far future window":   {forge(func(raw []byte) { raw[0] = 0x7f }), now},
		"negative window":     {forge(func(raw []byte) { raw[0] = 0xff }), now},
		"another secret":      {newNonces(t, []byte("another secret, just as long as..."), token.NonceAuthorizationServer).Current(now), now},
		"a resource server's": {newNonces(t, nonceSecret, token.NonceResourceServer).Current(now), now},
		"too short":           {cur[:31], now},
		"too long":            {cur + "A", now},
		"not base64url":       {strings.Repeat("*", 32), now},
		"padding":             {cur[:30] + "==", now},
		"non-ASCII":           {strings.Repeat("é", 16), now},
	}
	for name, c := range refused {
		if renew, err := n.Check(c.nonce, c.at, 10*time.Second); !errors.Is(err, token.ErrDPoPNonce) || renew {
			t.Errorf("%s: renew %v, err %v; want ErrDPoPNonce", name, renew, err)
		}
	}

	if _, err := token.NewDPoPNonces(nonceSecret[:31], token.NonceResourceServer, time.Minute); err == nil {
		t.Error("a 31-byte secret was accepted")
	}
	if _, err := token.NewDPoPNonces(nonceSecret, token.NonceResourceServer, time.Millisecond); err == nil {
		t.Error("a 1 ms window was accepted")
	}
}

func FuzzDPoPNonceCheck(f *testing.F) {
	n, _ := token.NewDPoPNonces(nonceSecret, token.NonceResourceServer, time.Minute)
	now := time.Unix(1_800_000_000, 0)
	f.Add(n.Current(now))
	f.Add("")
	f.Add(strings.Repeat("A", 32))
	f.Fuzz(func(t *testing.T, nonce string) {
		if _, err := n.Check(nonce, now, time.Second); err == nil && nonce != n.Current(now) && nonce != n.Current(now.Add(-time.Minute)) {
			t.Errorf("accepted %q", nonce)
		}
	})
}

// TestDPoPProofNonce: a proof otherwise good but without a live nonce is
// refused with ErrDPoPNonce, not ErrDPoPProof, so that the server answers
// use_dpop_nonce; a bad proof stays a bad proof whatever its nonce.
func TestDPoPProofNonce(t *testing.T) {
	now := time.Unix(1_800_000_030, 0)
	n := newNonces(t, nonceSecret, token.NonceResourceServer)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := k.PublicKey.ECDH()
	raw := pub.Bytes()
	b64 := base64.RawURLEncoding.EncodeToString
	proof := func(method string, nonce any) string {
		c := jwt.MapClaims{"jti": rand.Text(), "htm": method, "htu": "https://api.test/x", "iat": now.Unix()}
		if nonce != nil {
			c["nonce"] = nonce
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
		tok.Header["typ"] = token.DPoPType
		tok.Header["jwk"] = map[string]string{"kty": "EC", "crv": "P-256", "x": b64(raw[1:33]), "y": b64(raw[33:])}
		s, err := tok.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	check := token.DPoPCheck{Method: "GET", URL: "https://api.test/x", Now: now, MaxAge: time.Minute, Leeway: 5 * time.Second, Nonces: n}

	p, err := token.VerifyDPoPProof(proof("GET", n.Current(now)), check)
	if err != nil || p.RenewNonce {
		t.Fatalf("live nonce: %v, %+v", err, p)
	}
	later := check
	later.Now = now.Add(time.Minute)
	if p, err := token.VerifyDPoPProof(proof("GET", n.Current(now)), later); err != nil || !p.RenewNonce {
		t.Errorf("nonce of the previous window: %v, %+v; want accepted with RenewNonce", err, p)
	}
	for name, nonce := range map[string]any{
		"no nonce":    nil,
		"empty":       "",
		"stale":       n.Current(now.Add(-2 * time.Minute)),
		"forged":      strings.Repeat("A", 32),
		"other role":  newNonces(t, nonceSecret, token.NonceAuthorizationServer).Current(now),
		"other nonce": newNonces(t, []byte("yet another secret of 32+ bytes!!"), token.NonceResourceServer).Current(now),
	} {
		_, err := token.VerifyDPoPProof(proof("GET", nonce), check)
		if !errors.Is(err, token.ErrDPoPNonce) || errors.Is(err, token.ErrDPoPProof) {
			t.Errorf("%s: %v; want ErrDPoPNonce alone", name, err)
		}
	}
	for name, pr := range map[string]string{
		"wrong method, live nonce": proof("POST", n.Current(now)),
		"wrong method, no nonce":   proof("POST", nil),
		"numeric nonce":            proof("GET", 12345),
	} {
		if _, err := token.VerifyDPoPProof(pr, check); !errors.Is(err, token.ErrDPoPProof) || errors.Is(err, token.ErrDPoPNonce) {
			t.Errorf("%s: %v; want ErrDPoPProof alone", name, err)
		}
	}
	// Without Nonces, a nonce is neither needed nor looked at.
	check.Nonces = nil
	if _, err := token.VerifyDPoPProof(proof("GET", "whatever"), check); err != nil {
		t.Errorf("unsolicited nonce: %v", err)
	}
}
