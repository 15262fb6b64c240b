package otelauth

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis/portcullis/middleware"
)

// guardResults are the results a guard reports, in the order of
// Telemetry.guardOpts.
var guardResults = [...]string{
	middleware.ResultAccepted,
	middleware.ResultNoToken,
	middleware.ResultInvalidRequest,
	middleware.ResultInvalidToken,
	middleware.ResultInsufficientScope,
	middleware.ResultUnavailable,
}

func guardResultIndex(result string) int {
	for i, r := range guardResults {
		if r == result {
			return i
		}
	}
	return -1
}

// Observe records a guard's outcome: it is a middleware.Config.Observe.
// It counts the request by result and by whether the verifier's cache
// answered and, when the request's span is recording, adds a
// "portcullis.guard" span under it.
//
// It records no duration: on a cached token the guard takes about a
// microsecond, and a histogram would cost a measurable part of it (the
// request's own latency is the HTTP server's metric); the span has it.
//
//	guard, err := middleware.New(middleware.Config{Verifier: v, Observe: tel.Observe})
//
// A guard made with Require or WithKinds from an observed guard is
// observed too.
func (t *Telemetry) Observe(ctx context.Context, o middleware.Outcome) {
	result := o.Result()
	var add []metric.AddOption
	if i := guardResultIndex(result); i >= 0 {
		c := 0
		if o.Cached {
			c = 1
		}
		add = t.guardOpts[i][c].add
	} else {
		// A custom verifier's own error code: rare, so made on the spot.
		add = optsFor(keyResult.String(result), keyCached.Bool(o.Cached)).add
	}
	t.verifications.Add(ctx, 1, add...)

	if !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	end := time.Now()
	_, span := t.tracer.Start(ctx, "portcullis.guard", trace.WithTimestamp(o.Start),
		trace.WithAttributes(spanResult.String(result), spanCached.Bool(o.Cached)))
	if p := o.Principal; p != nil {
		span.SetAttributes(spanKind.String(p.Kind), spanSubject.String(p.Subject))
		if p.ClientID != "" {
			span.SetAttributes(spanClientID.String(p.ClientID))
		}
		if p.AccountID != "" {
			span.SetAttributes(spanAccountID.String(p.AccountID))
		}
	}
	if result == middleware.ResultUnavailable {
		// The one refusal that is the server's failure, not the caller's.
		span.SetStatus(codes.Error, "the token could not be checked")
		span.RecordError(o.Err)
	}
	span.End(trace.WithTimestamp(end))
}
