package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/examples/internal/demotest"
)

const (
	demoID     = "demo:chi/1"
	demoSecret = "s3cret+with/odd%chars & spaces"
)

func TestServer(t *testing.T) {
	s := demotest.Start(t, run, "-addr", "127.0.0.1:0", "-client-id", demoID, "-client-secret", demoSecret)
	for _, want := range []string{demoID, demoSecret, "curl -s -u 'demo%3Achi%2F1:", s.URL + "/oauth/token", s.URL + "/v1/whoami"} {
		if !strings.Contains(s.Output(), want) {
			t.Errorf("output lacks %q:\n%s", want, s.Output())
		}
	}
	demotest.CheckIssuer(t, s.URL, demoID, demoSecret)
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-client-secret", "x"},
		{"-nope"},
		{"extra"},
		{"-addr", "256.0.0.1:http"},
	} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
