package otelauth_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis/portcullis/adapters/otelauth"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store/memory"
)

// env is an issuer, a guard and the telemetry of both, recorded in memory.
type env struct {
	tel    *otelauth.Telemetry
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	iss    *issuer.Issuer
	guard  *middleware.Guard
	h      http.Handler // the issuer's endpoints, traced
	id     string
	secret string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	e.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(e.spans))
	var err error
	e.tel, err = otelauth.New(otelauth.Config{
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(e.reader)),
		TracerProvider: e.tp,
		Propagator:     propagation.TraceContext{},
	})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	e.iss, err = issuer.New(issuer.Config{
		Issuer: "https://issuer.test", Store: e.tel.Store(memory.New()), Scopes: []string{"read"},
		Logger: log, Hooks: issuer.JoinHooks(issuer.LogHooks(log), e.tel.Hooks()),
	})
	if err != nil {
		t.Fatal(err)
	}
	client, secret, err := e.iss.CreateClient(context.Background(), issuer.ClientSpec{Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	e.id, e.secret = client.ID, secret
	e.guard, err = middleware.New(middleware.Config{Verifier: e.iss.Verifier(), Scopes: []string{"read"}, Logger: log, Observe: e.tel.Observe})
	if err != nil {
		t.Fatal(err)
	}
	e.h = e.tel.Handler(e.iss)
	return e
}

// token asks the token endpoint with the client's id and secret, and
// returns the status and the access token.
func (e *env) token(t testing.TB, secret string, header http.Header) (int, string) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}
	r := httptest.NewRequest("POST", e.iss.Paths().Token, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		r.Header[k] = v
	}
	r.SetBasicAuth(e.id, secret)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	var body struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(w.Body).Decode(&body)
	return w.Code, body.AccessToken
}

// collect reads every metric.
func (e *env) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := e.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// count is the value of a counter, or the count of a histogram, summed
// over the data points whose attributes include attrs.
func count(t *testing.T, rm metricdata.ResourceMetrics, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	var n int64
	found := false
	match := func(set attribute.Set) bool {
		for _, kv := range attrs {
			if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
				return false
			}
		}
		return true
	}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != otelauth.ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, otelauth.ScopeName)
		}
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			found = true
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					if match(dp.Attributes) {
						n += dp.Value
					}
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					if match(dp.Attributes) {
						n += int64(dp.Count)
					}
				}
			default:
				t.Fatalf("%s is a %T", name, m.Data)
			}
		}
	}
	if !found {
		t.Errorf("no metric %s", name)
	}
	return n
}

func TestIssuerMetricsAndSpans(t *testing.T) {
	e := newEnv(t)
	// A caller that traces: the endpoint's span continues its trace.
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	h := http.Header{}
	propagation.TraceContext{}.Inject(trace.ContextWithRemoteSpanContext(context.Background(), parent), propagation.HeaderCarrier(h))
	if code, tok := e.token(t, e.secret, h); code != http.StatusOK || tok == "" {
		t.Fatalf("token endpoint: %d", code)
	}
	if code, _ := e.token(t, "wrong", nil); code != http.StatusUnauthorized {
		t.Fatalf("token endpoint with a wrong secret: %d, want 401", code)
	}

	rm := e.collect(t)
	if n := count(t, rm, "portcullis.tokens.issued", attribute.String("kind", "client"), attribute.String("grant_type", "client_credentials")); n != 1 {
		t.Errorf("tokens issued = %d, want 1", n)
	}
	if n := count(t, rm, "portcullis.auth.failures", attribute.String("subject", "client"), attribute.String("reason", issuer.ReasonWrongSecret)); n != 1 {
		t.Errorf("auth failures (wrong secret) = %d, want 1", n)
	}
	if n := count(t, rm, "portcullis.credentials.changes", attribute.String("subject", "client"), attribute.String("action", "created")); n != 1 {
		t.Errorf("credentials created = %d, want 1", n)
	}
	if n := count(t, rm, "portcullis.signing_keys.created", attribute.Bool("rotation", false)); n != 1 {
		t.Errorf("signing keys created = %d, want 1", n)
	}
	if n := count(t, rm, "portcullis.issuer.duration", attribute.String("endpoint", "token"), attribute.Int("status_code", 200)); n != 1 {
		t.Errorf("token requests answered 200 = %d, want 1", n)
	}
	if n := count(t, rm, "portcullis.issuer.duration", attribute.String("endpoint", "token"), attribute.Int("status_code", 401)); n != 1 {
		t.Errorf("token requests answered 401 = %d, want 1", n)
	}
	if n := count(t, rm, "portcullis.store.duration", attribute.String("operation", "GetClient"), attribute.String("result", "ok")); n < 2 {
		t.Errorf("GetClient calls = %d, want at least the two token requests'", n)
	}

	spans := e.spans.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want one per token request", len(spans))
	}
	ok, failed := spans[0], spans[1]
	tokenPath := e.iss.Paths().Token
	for _, s := range spans {
		if s.Name() != "POST "+tokenPath || s.SpanKind() != trace.SpanKindServer {
			t.Errorf("span %q kind %v, want POST %s, server", s.Name(), s.SpanKind(), tokenPath)
		}
	}
	if ok.Parent().SpanID() != parent.SpanID() || ok.SpanContext().TraceID() != parent.TraceID() {
		t.Errorf("span parent %v, want the caller's %v", ok.Parent(), parent)
	}
	if failed.Parent().IsValid() {
		t.Errorf("an untraced request's span has parent %v", failed.Parent())
	}
	wantAttr(t, ok.Attributes(), "http.response.status_code", attribute.IntValue(200))
	wantAttr(t, ok.Attributes(), "http.route", attribute.StringValue(tokenPath))
	wantAttr(t, ok.Attributes(), "portcullis.endpoint", attribute.StringValue("token"))
	wantAttr(t, failed.Attributes(), "http.response.status_code", attribute.IntValue(401))
	wantEvent(t, ok, "portcullis.token_issued", "portcullis.client_id", attribute.StringValue(e.id))
	wantEvent(t, failed, "portcullis.auth_failed", "portcullis.reason", attribute.StringValue(issuer.ReasonWrongSecret))
}

func TestGuardMetricsAndSpans(t *testing.T) {
	e := newEnv(t)
	_, tok := e.token(t, e.secret, nil)
	e.spans.Reset()
	api := e.guard.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tracer := e.tp.Tracer("test")
	call := func(auth string, traced bool) int {
		r := httptest.NewRequest("GET", "/v1/things", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if traced {
			ctx, span := tracer.Start(r.Context(), "GET /v1/things")
			defer span.End()
			r = r.WithContext(ctx)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		return w.Code
	}
	for i, c := range []struct {
		auth   string
		traced bool
		status int
	}{
		{"Bearer " + tok, true, 200}, // first sight
		{"Bearer " + tok, true, 200}, // cached
		{"Bearer " + tok, false, 200},
		{"", true, 401},
		{"Bearer nonsense", false, 401},
	} {
		if got := call(c.auth, c.traced); got != c.status {
			t.Fatalf("request %d: %d, want %d", i, got, c.status)
		}
	}

	rm := e.collect(t)
	for _, c := range []struct {
		result string
		cached bool
		want   int64
	}{
		{middleware.ResultAccepted, false, 1},
		{middleware.ResultAccepted, true, 2},
		{middleware.ResultNoToken, false, 1},
		{middleware.ResultInvalidToken, false, 1},
	} {
		attrs := []attribute.KeyValue{attribute.String("result", c.result), attribute.Bool("cached", c.cached)}
		if n := count(t, rm, "portcullis.guard.verifications", attrs...); n != c.want {
			t.Errorf("verifications %s cached=%v = %d, want %d", c.result, c.cached, n, c.want)
		}
	}
	if n := count(t, rm, "portcullis.guard.verifications"); n != 5 {
		t.Errorf("verifications = %d, want 5", n)
	}

	// Only the traced requests have a guard span, each the child of the
	// request's span.
	var guards []sdktrace.ReadOnlySpan
	parents := map[trace.SpanID]bool{}
	for _, s := range e.spans.Ended() {
		if s.Name() == "portcullis.guard" {
			guards = append(guards, s)
		} else {
			parents[s.SpanContext().SpanID()] = true
		}
	}
	if len(guards) != 3 {
		t.Fatalf("%d guard spans, want 3 (one per traced request)", len(guards))
	}
	for i, s := range guards {
		if !parents[s.Parent().SpanID()] {
			t.Errorf("guard span %d is not a child of its request's span", i)
		}
		if !s.StartTime().Before(s.EndTime()) && !s.StartTime().Equal(s.EndTime()) {
			t.Errorf("guard span %d ends before it starts", i)
		}
	}
	wantAttr(t, guards[0].Attributes(), "portcullis.cached", attribute.BoolValue(false))
	wantAttr(t, guards[0].Attributes(), "portcullis.client_id", attribute.StringValue(e.id))
	wantAttr(t, guards[1].Attributes(), "portcullis.cached", attribute.BoolValue(true))
	wantAttr(t, guards[2].Attributes(), "portcullis.result", attribute.StringValue(middleware.ResultNoToken))
}

// Routes names each route's span for its endpoint, and a subtree route for
// its template.
func TestRoutes(t *testing.T) {
	e := newEnv(t)
	routes := e.tel.Routes(e.iss.Routes())
	if len(routes) != len(e.iss.Routes()) {
		t.Fatalf("%d routes, want %d", len(routes), len(e.iss.Routes()))
	}
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.Path, rt.Handler)
		if rt.Subtree {
			mux.Handle(rt.Path+"/", rt.Handler)
		}
	}
	paths := e.iss.Paths()
	for _, c := range []struct{ method, path, span string }{
		{"GET", paths.JWKS, "GET " + paths.JWKS},
		{"DELETE", paths.AccountKeys + "/abc", "DELETE " + paths.AccountKeys + "/{id}"},
		{"BREW", paths.Token, "HTTP " + paths.Token},
	} {
		e.spans.Reset()
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(c.method, c.path, nil))
		spans := e.spans.Ended()
		if len(spans) != 1 || spans[0].Name() != c.span {
			names := []string{}
			for _, s := range spans {
				names = append(names, s.Name())
			}
			t.Errorf("%s %s: spans %q, want %q", c.method, c.path, names, c.span)
		}
	}
	// Handler names a request for no endpoint "unknown".
	e.spans.Reset()
	e.h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/nowhere", nil))
	if spans := e.spans.Ended(); len(spans) != 1 || spans[0].Name() != "GET" {
		t.Errorf("spans for an unknown path: %v", spans)
	} else {
		wantAttr(t, spans[0].Attributes(), "portcullis.endpoint", attribute.StringValue("unknown"))
		wantAttr(t, spans[0].Attributes(), "http.response.status_code", attribute.IntValue(404))
	}
}

func wantAttr(t *testing.T, attrs []attribute.KeyValue, key string, want attribute.Value) {
	t.Helper()
	for _, kv := range attrs {
		if string(kv.Key) == key {
			if kv.Value != want {
				t.Errorf("%s = %v, want %v", key, kv.Value.Emit(), want.Emit())
			}
			return
		}
	}
	t.Errorf("no attribute %s in %v", key, attrs)
}

func wantEvent(t *testing.T, s sdktrace.ReadOnlySpan, name, key string, want attribute.Value) {
	t.Helper()
	for _, ev := range s.Events() {
		if ev.Name == name {
			wantAttr(t, ev.Attributes, key, want)
			return
		}
	}
	t.Errorf("span %q has no event %s", s.Name(), name)
}

// Under the application's own server span (otelhttp around the mux), the
// endpoint's span is its child, of kind internal, whatever the headers say.
func TestHandlerUnderServerSpan(t *testing.T) {
	e := newEnv(t)
	ctx, outer := e.tp.Tracer("test").Start(context.Background(), "POST", trace.WithSpanKind(trace.SpanKindServer))
	r := httptest.NewRequest("POST", e.iss.Paths().Token, nil).WithContext(ctx)
	r.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	e.h.ServeHTTP(httptest.NewRecorder(), r)
	outer.End()
	spans := e.spans.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	inner := spans[0]
	if inner.SpanKind() != trace.SpanKindInternal || inner.Parent().SpanID() != outer.SpanContext().SpanID() {
		t.Errorf("endpoint span: kind %v, parent %v; want internal under %v", inner.SpanKind(), inner.Parent().SpanID(), outer.SpanContext().SpanID())
	}
}
