package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/portcullis/portcullis/examples/internal/demotest"
)

// scrape returns the Prometheus text at url.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: %d %s\n%s", url, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return string(b)
}

// wantSeries checks that the scrape has the series (name and labels, in
// the exporter's order) with the value.
func wantSeries(t *testing.T, text, series, value string) {
	t.Helper()
	if !strings.Contains(text, "\n"+series+" "+value+"\n") {
		var have []string
		name, _, _ := strings.Cut(series, "{")
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, name) {
				have = append(have, line)
			}
		}
		t.Errorf("no %s %s in the scrape; %s series:\n%s", series, value, name, strings.Join(have, "\n"))
	}
}

// TestMetrics: with -metrics /metrics, a scrape after a token request shows
// the token issued, and the guard's verifications by cache.
func TestMetrics(t *testing.T) {
	s := start(t, "-addr", "127.0.0.1:0", "-client-id", demoID, "-client-secret", demoSecret, "-metrics", "/metrics")
	if !strings.Contains(s.Output(), "curl -s "+s.URL+"/metrics | grep ^portcullis_tokens_issued") {
		t.Errorf("the scrape command is not printed:\n%s", s.Output())
	}
	before := scrape(t, s.URL+"/metrics")
	if strings.Contains(before, "portcullis_tokens_issued_total{") {
		t.Errorf("tokens issued before any token request:\n%s", before)
	}
	tok := getToken(t, clientCredentials(s, demoID, demoSecret))
	for range 2 {
		if code, _ := demotest.Whoami(t, s.URL, tok); code != http.StatusOK {
			t.Fatalf("whoami: %d", code)
		}
	}
	cc := clientCredentials(s, demoID, "wrong")
	cc.AuthStyle = oauth2.AuthStyleInHeader // one try, not one per style
	if _, err := cc.Token(t.Context()); err == nil {
		t.Fatal("a wrong secret got a token")
	}

	text := scrape(t, s.URL+"/metrics")
	wantSeries(t, text, `portcullis_tokens_issued_total{grant_type="client_credentials",kind="client"}`, "1")
	wantSeries(t, text, `portcullis_auth_failures_total{reason="wrong_secret",subject="client"}`, "1")
	wantSeries(t, text, `portcullis_guard_verifications_total{cached="false",result="accepted"}`, "1")
	wantSeries(t, text, `portcullis_guard_verifications_total{cached="true",result="accepted"}`, "1")
	wantSeries(t, text, `portcullis_issuer_duration_seconds_count{endpoint="token",status_code="200"}`, "1")
	if !regexp.MustCompile(`\nportcullis_store_duration_seconds_count\{operation="GetClient",result="ok"\} [1-9]`).MatchString(text) {
		t.Errorf("no GetClient store call in the scrape")
	}
	if !strings.Contains(text, "\ngo_goroutines ") {
		t.Errorf("no Go runtime metrics in the scrape")
	}
}

// With an address, the metrics have a listener of their own and stay off
// the API's.
func TestMetricsAddress(t *testing.T) {
	s := start(t, "-addr", "127.0.0.1:0", "-client-id", demoID, "-client-secret", demoSecret, "-metrics", "127.0.0.1:0")
	m := regexp.MustCompile(`curl -s (http://127\.0\.0\.1:\d+/metrics) \|`).FindStringSubmatch(s.Output())
	if m == nil {
		t.Fatalf("no scrape URL printed:\n%s", s.Output())
	}
	getToken(t, clientCredentials(s, demoID, demoSecret))
	wantSeries(t, scrape(t, m[1]), `portcullis_tokens_issued_total{grant_type="client_credentials",kind="client"}`, "1")
	if resp, err := http.Get(s.URL + "/metrics"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the API's address: %d, want 404", resp.StatusCode)
	}
}
