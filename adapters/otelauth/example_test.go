package otelauth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/portcullis/portcullis/adapters/otelauth"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
)

func Example() {
	ctx := context.Background()
	// The application owns the SDK: here an in-memory reader; in
	// production a Prometheus or OTLP exporter (see the quickstart's
	// -metrics flag).
	reader := sdkmetric.NewManualReader()
	tel, err := otelauth.New(otelauth.Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	if err != nil {
		panic(err)
	}

	iss, err := issuer.New(issuer.Config{
		Issuer: "https://api.example.com",
		Store:  tel.Store(memory.New()), // times every store call
		Hooks:  tel.Hooks(),             // or issuer.JoinHooks(issuer.LogHooks(nil), tel.Hooks())
	})
	if err != nil {
		panic(err)
	}
	guard, err := middleware.New(middleware.Config{Verifier: iss.Verifier(), Observe: tel.Observe})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", tel.Handler(iss)) // a span and a duration per endpoint
	mux.Handle("GET /v1/things", guard.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))

	client, secret, err := iss.CreateClient(ctx, issuer.ClientSpec{Name: "app"})
	if err != nil {
		panic(err)
	}
	r := httptest.NewRequest("POST", iss.Paths().Token, strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(client.ID, secret)
	mux.ServeHTTP(httptest.NewRecorder(), r)
	r = httptest.NewRequest("GET", "/v1/things", nil)
	mux.ServeHTTP(httptest.NewRecorder(), r) // no token: refused

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		panic(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
			for _, dp := range sum.DataPoints {
				fmt.Println(m.Name, dp.Attributes.Encoded(attribute.DefaultEncoder()), dp.Value)
			}
		}
	}
	// Output:
	// portcullis.tokens.issued grant_type=client_credentials,kind=client 1
	// portcullis.credentials.changes action=created,subject=client 1
	// portcullis.signing_keys.created algorithm=ES256,rotation=false 1
	// portcullis.guard.verifications cached=false,result=no_token 1
}
