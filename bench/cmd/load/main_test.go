package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// load sends exactly n requests, with the given method, body and headers,
// and fails on the first answer that is not 2xx.
func TestRunSendsExactlyN(t *testing.T) {
	var served atomic.Int64
	var bad atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || string(body) != "a=b" || r.Header.Get("Authorization") != "Bearer x" {
			bad.Store(r.Method + " " + string(body) + " " + r.Header.Get("Authorization"))
		}
	}))
	defer srv.Close()
	if err := run(srv.URL, http.MethodPost, "a=b", headers{"Authorization: Bearer x"}, 137, 8); err != nil {
		t.Fatal(err)
	}
	if n := served.Load(); n != 137 {
		t.Errorf("served %d requests, want 137", n)
	}
	if v := bad.Load(); v != nil {
		t.Errorf("request arrived as %q", v)
	}
}

func TestRunFailsOnNon2xx(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	if err := run(srv.URL, http.MethodGet, "", nil, 10, 2); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want a 401 failure", err)
	}
}

func TestRunRefusesNonLoopback(t *testing.T) {
	if err := run("http://192.0.2.1:80/", http.MethodGet, "", nil, 1, 1); err == nil || !strings.Contains(err.Error(), "not a loopback URL") {
		t.Fatalf("err = %v, want a refusal", err)
	}
}
