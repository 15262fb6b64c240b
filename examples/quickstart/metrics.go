package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/portcullis/portcullis/adapters/httpauth"
	"github.com/portcullis/portcullis/adapters/otelauth"
	"github.com/portcullis/portcullis/examples/internal/demo"
	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/middleware"
	"github.com/portcullis/portcullis/store"
)

// observability is what -metrics adds to the server: the OpenTelemetry
// adapter's hooks, guard observer, store wrapper and endpoint wrappers,
// exported in Prometheus text format. Its zero value, without -metrics,
// adds nothing.
type observability struct {
	tel     *otelauth.Telemetry
	scrape  http.Handler // the Prometheus scrape endpoint
	at      string       // -metrics: a path of -addr, or an address of its own
	closing func(context.Context) error
}

// newObservability sets up -metrics at (empty: off): an OpenTelemetry
// meter provider whose reader is the Prometheus exporter, on a registry
// of its own (no global state) that also carries the Go runtime's metrics.
// Traces are not exported: the quickstart has nowhere to send them.
func newObservability(at string) (observability, error) {
	if at == "" {
		return observability{}, nil
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return observability{}, err
	}
	// Without scope labels: every series is this one adapter's.
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return observability{}, fmt.Errorf("-metrics: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	tel, err := otelauth.New(otelauth.Config{MeterProvider: mp, TracerProvider: noop.NewTracerProvider()})
	if err != nil {
		return observability{}, err
	}
	return observability{
		tel:     tel,
		scrape:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		at:      at,
		closing: mp.Shutdown,
	}, nil
}

// store returns st timed, with -metrics.
func (o observability) store(st store.Store) store.Store {
	if o.tel == nil {
		return st
	}
	return o.tel.Store(st)
}

// hooks returns the issuer hooks that count tokens, failures and the rest.
func (o observability) hooks() issuer.Hooks {
	if o.tel == nil {
		return issuer.Hooks{}
	}
	return o.tel.Hooks()
}

// observe is the guards' Config.Observe: verifications by result and cache.
func (o observability) observe() func(context.Context, middleware.Outcome) {
	if o.tel == nil {
		return nil
	}
	return o.tel.Observe
}

// mount mounts the issuer's endpoints on mux, each timed with -metrics, and
// the scrape endpoint when it is a path of -addr.
func (o observability) mount(mux *http.ServeMux, iss *issuer.Issuer) {
	if o.tel == nil {
		httpauth.Mount(mux, iss)
		return
	}
	for _, rt := range o.tel.Routes(iss.Routes()) { // httpauth.Mount, with each route timed
		mux.Handle(rt.Path, rt.Handler)
		if rt.Subtree {
			mux.Handle(rt.Path+"/", rt.Handler)
		}
	}
	if strings.HasPrefix(o.at, "/") {
		mux.Handle("GET "+o.at, o.scrape)
	}
}

// serve starts the scrape endpoint's own server when -metrics is an
// address, until ctx is done, and prints where to scrape. base is the
// quickstart's URL, for a path of -addr.
func (o observability) serve(ctx context.Context, base string, stdout io.Writer, log *slog.Logger) (stop func(), err error) {
	if o.tel == nil {
		return func() {}, nil
	}
	url := base + o.at
	var srv *http.Server
	if !strings.HasPrefix(o.at, "/") {
		// An address of its own keeps the metrics off the public port.
		ln, err := net.Listen("tcp", o.at)
		if err != nil {
			return nil, fmt.Errorf("-metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", o.scrape)
		srv = demo.NewServer(mux, log)
		go func() {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "err", err)
			}
		}()
		url = "http://" + ln.Addr().String() + "/metrics"
	}
	fmt.Fprintf(stdout, "\nMetrics (Prometheus text format), e.g. the tokens issued:\n\n  curl -s %s | grep ^portcullis_tokens_issued\n\n", url)
	return func() {
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if srv != nil {
			srv.Shutdown(shutCtx)
		}
		o.closing(shutCtx)
	}, nil
}
