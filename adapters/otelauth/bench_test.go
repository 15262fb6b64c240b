package otelauth_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/portcullis/portcullis/adapters/otelauth"
	"github.com/portcullis/portcullis/middleware"
)

// BenchmarkGuardTelemetry is a guard's cached request (the issuer's
// verifier, a token seen before) without an observer, with the
// OpenTelemetry SDK's metrics, and with a span too, under a recording
// request span: what observing costs on the hottest path. Compare with
// middleware's BenchmarkGuard/ES256/cached.
func BenchmarkGuardTelemetry(b *testing.B) {
	e := newEnv(b)
	_, tok := e.token(b, e.secret, nil)
	if tok == "" {
		b.Fatal("no token")
	}
	for _, mode := range []string{"none", "metrics", "metrics+span"} {
		b.Run(mode, func(b *testing.B) {
			cfg := middleware.Config{Verifier: e.iss.Verifier(), Scopes: []string{"read"}, Logger: slog.New(slog.DiscardHandler)}
			ctx := context.Background()
			if mode != "none" {
				// Spans are sampled and recorded, then dropped: no processor.
				tp := sdktrace.NewTracerProvider()
				tel, err := otelauth.New(otelauth.Config{
					MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())),
					TracerProvider: tp,
				})
				if err != nil {
					b.Fatal(err)
				}
				cfg.Observe = tel.Observe
				if mode == "metrics+span" {
					c, s := tp.Tracer("bench").Start(ctx, "request")
					defer s.End()
					ctx = c
				}
			}
			g, err := middleware.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/v1/things", nil).WithContext(ctx)
			r.Header.Set("Authorization", "Bearer "+tok)
			if _, err := g.Authenticate(r); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.Authenticate(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
