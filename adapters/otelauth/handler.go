package otelauth

import (
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis/portcullis/issuer"
)

// Handler returns iss.Handler() with a span and a duration for each
// request, named for the endpoint it reaches ("POST /token"); a request
// for no endpoint is the endpoint "unknown". Mount it where you would
// mount iss.Handler().
func (t *Telemetry) Handler(iss *issuer.Issuer) http.Handler {
	routes := iss.Routes()
	byPath := make(map[string]*endpoint, len(routes))
	var subtrees []issuer.Route
	for _, rt := range routes {
		byPath[rt.Path] = t.newEndpoint(rt)
		if rt.Subtree {
			subtrees = append(subtrees, rt)
		}
	}
	unknown := &endpoint{t: t, name: "unknown", route: ""}
	next := iss.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The issuer's own routing, read only to name the request.
		e := byPath[r.URL.Path]
		for _, rt := range subtrees {
			if e != nil {
				break
			}
			if rest, ok := strings.CutPrefix(r.URL.Path, rt.Path+"/"); ok && rest != "" {
				e = byPath[rt.Path]
			}
		}
		if e == nil {
			e = unknown
		}
		e.serve(w, r, next)
	})
}

// Routes returns routes (from iss.Routes()) with each handler traced and
// timed as Handler does, for routers that mount the endpoints one by one:
//
//	for _, rt := range tel.Routes(iss.Routes()) {
//		mux.Handle(rt.Path, rt.Handler)
//		if rt.Subtree {
//			mux.Handle(rt.Path+"/", rt.Handler)
//		}
//	}
func (t *Telemetry) Routes(routes []issuer.Route) []issuer.Route {
	out := make([]issuer.Route, len(routes))
	for i, rt := range routes {
		e, next := t.newEndpoint(rt), rt.Handler
		rt.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.serve(w, r, next) })
		out[i] = rt
	}
	return out
}

// endpoint is what a request to one issuer endpoint is measured as.
type endpoint struct {
	t     *Telemetry
	name  string // the Route's Name, a metric attribute
	route string // its path template, for the span's name and http.route
}

func (t *Telemetry) newEndpoint(rt issuer.Route) *endpoint {
	route := rt.Path
	if rt.Subtree {
		route += "/{id}"
	}
	return &endpoint{t: t, name: rt.Name, route: route}
}

// methods are the request methods a span is named with; any other is
// _OTHER (semantic conventions), so that a caller cannot mint span names.
var methods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

func (e *endpoint) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	start := time.Now()
	ctx := r.Context()
	kind := trace.SpanKindInternal // under the application's own server span
	if !trace.SpanContextFromContext(ctx).IsValid() {
		ctx = e.t.propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
		kind = trace.SpanKindServer
	}
	method := semconv.HTTPRequestMethodOther
	name := "HTTP"
	if methods[r.Method] {
		method = semconv.HTTPRequestMethodKey.String(r.Method)
		name = r.Method
	}
	if e.route != "" {
		name += " " + e.route
	}
	ctx, span := e.t.tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithTimestamp(start),
		trace.WithAttributes(method, semconv.URLPath(r.URL.Path), spanEndpoint.String(e.name)))
	if e.route != "" {
		span.SetAttributes(semconv.HTTPRoute(e.route))
	}
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		status := rec.status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http answers 200
		}
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.End()
		e.t.issuerDuration.Record(ctx, seconds(start),
			metric.WithAttributes(keyEndpoint.String(e.name), keyStatusCode.Int(status)))
	}()
	next.ServeHTTP(rec, r.WithContext(ctx))
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 { // 1xx are interim
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer's other methods
// (Flush, deadlines).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
