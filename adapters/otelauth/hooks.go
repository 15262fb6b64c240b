package otelauth

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis/portcullis/issuer"
)

// Hooks returns issuer hooks that count what the issuer does (see the
// package's metrics) and record it on the request's span when it is
// recording. Pass them as issuer.Config.Hooks, or combine them with others
// (an audit log) through issuer.JoinHooks.
func (t *Telemetry) Hooks() issuer.Hooks {
	return issuer.Hooks{
		TokenIssued:   t.tokenIssued,
		AuthFailed:    t.authFailed,
		Credentials:   t.credentialsChanged,
		TokenRevoked:  t.tokenRevoked,
		RefreshReused: t.refreshWasReused,
		Login:         t.login,
		SigningKey:    t.signingKey,
	}
}

func (t *Telemetry) tokenIssued(ctx context.Context, e issuer.TokenIssued) {
	t.tokensIssued.Add(ctx, 1, metric.WithAttributes(keyKind.String(e.Kind), keyGrantType.String(e.GrantType)))
	if span, ok := recording(ctx); ok {
		span.AddEvent("portcullis.token_issued", trace.WithAttributes(
			spanKind.String(e.Kind), spanGrantType.String(e.GrantType), spanSubject.String(e.Subject),
			spanClientID.String(e.ClientID), spanAccountID.String(e.AccountID), spanTokenID.String(e.TokenID),
			attribute.Bool("portcullis.refresh", e.Refresh)))
	}
}

func (t *Telemetry) authFailed(ctx context.Context, e issuer.AuthFailed) {
	t.authFailures.Add(ctx, 1, metric.WithAttributes(keySubject.String(e.Subject), keyReason.String(e.Reason)))
	if span, ok := recording(ctx); ok {
		// The presented id may be anything a caller typed: it goes on the
		// span, never into a metric attribute.
		span.AddEvent("portcullis.auth_failed", trace.WithAttributes(
			spanSubject.String(e.Subject), spanReason.String(e.Reason), attribute.String("portcullis.presented_id", e.ID)))
	}
}

func (t *Telemetry) credentialsChanged(ctx context.Context, e issuer.CredentialsChanged) {
	t.credentials.Add(ctx, 1, metric.WithAttributes(keySubject.String(e.Subject), keyAction.String(e.Action)))
	if span, ok := recording(ctx); ok {
		span.AddEvent("portcullis.credentials_"+e.Action, trace.WithAttributes(
			spanSubject.String(e.Subject), attribute.String("portcullis.id", e.ID)))
	}
}

func (t *Telemetry) tokenRevoked(ctx context.Context, e issuer.TokenRevoked) {
	typ := "access"
	if e.FamilyID != "" {
		typ = "refresh"
	}
	t.revoked.Add(ctx, 1, metric.WithAttributes(keyTokenType.String(typ)))
	if span, ok := recording(ctx); ok {
		span.AddEvent("portcullis.token_revoked", trace.WithAttributes(
			spanClientID.String(e.ClientID), spanTokenID.String(e.TokenID), attribute.String("portcullis.family_id", e.FamilyID)))
	}
}

func (t *Telemetry) refreshWasReused(ctx context.Context, e issuer.RefreshReused) {
	t.refreshReused.Add(ctx, 1, t.noAttrs.add...)
	if span, ok := recording(ctx); ok {
		span.AddEvent("portcullis.refresh_reused", trace.WithAttributes(
			spanClientID.String(e.ClientID), attribute.String("portcullis.family_id", e.FamilyID)))
	}
}

func (t *Telemetry) login(ctx context.Context, e issuer.Login) {
	t.logins.Add(ctx, 1, t.noAttrs.add...)
	if span, ok := recording(ctx); ok {
		span.AddEvent("portcullis.login", trace.WithAttributes(spanAccountID.String(e.AccountID)))
	}
}

func (t *Telemetry) signingKey(ctx context.Context, e issuer.SigningKeyCreated) {
	t.signingKeys.Add(ctx, 1, metric.WithAttributes(keyAlgorithm.String(e.Algorithm), keyRotation.Bool(e.Rotation)))
}
