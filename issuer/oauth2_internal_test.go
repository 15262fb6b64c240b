package issuer

import (
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"
)

// TestOAuth2TokenResponseJSON checks the hand-written token response
// against what encoding/json makes of RFC 6749 §5.1's fields, optional
// ones left out, odd characters escaped alike.
func TestOAuth2TokenResponseJSON(t *testing.T) {
	type rfc6749 struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int64  `json:"expires_in"`
		RefreshToken string `json:"refresh_token,omitempty"`
		Scope        string `json:"scope,omitempty"`
	}
	for _, resp := range []TokenResponse{
		{AccessToken: "eyJ.eyJ.sig", TokenType: "Bearer", ExpiresIn: 3600, RefreshToken: "pcr_x", Scope: "read write"},
		{AccessToken: "a", TokenType: "Bearer"},
		{AccessToken: "a<b>&\"\\\u2028\xff", TokenType: "Bearer", ExpiresIn: -1, Scope: "é\t"},
	} {
		w := httptest.NewRecorder()
		OAuth2{}.WriteTokenResponse(w, nil, &resp)
		want, err := json.Marshal(rfc6749{resp.AccessToken, resp.TokenType, resp.ExpiresIn, resp.RefreshToken, resp.Scope})
		if err != nil {
			t.Fatal(err)
		}
		if got := w.Body.String(); got != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
		if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" ||
			w.Header().Get("Content-Length") != strconv.Itoa(len(want)) {
			t.Errorf("status %d, header %v", w.Code, w.Header())
		}
	}
}
