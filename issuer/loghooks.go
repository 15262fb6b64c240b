package issuer

import (
	"context"
	"log/slog"
)

// LogHooks returns Hooks that write an audit log through logger (slog's
// default logger when nil): every lifecycle event at info level, each
// token issued at debug level (one line per token is a lot at volume), and
// a reused refresh token at warn level, since it means the token was
// copied. Records carry ids, names and reasons, never a secret, password
// or token: hooks never receive one.
//
// The messages begin "portcullis:", and each record has an "event"
// attribute, stable for filters and alerts:
//
//	client.created client.rotated client.disabled client.enabled client.deleted
//	account.created account.rotated account.disabled account.enabled account.deleted
//	auth.failed (subject, id, reason, address)   login (account_id, address)
//	token.issued (debug)   token.revoked   refresh.reused (warn)
//	signing_key.created    signing_key.rotated
//
// To log and do something else too (metrics), combine them with
// [JoinHooks].
func LogHooks(logger *slog.Logger) Hooks {
	if logger == nil {
		logger = slog.Default()
	}
	return Hooks{
		TokenIssued: func(ctx context.Context, e TokenIssued) {
			if !logger.Enabled(ctx, slog.LevelDebug) {
				return // the hot path pays for nothing it does not log
			}
			logger.LogAttrs(ctx, slog.LevelDebug, "portcullis: token issued",
				slog.String("event", "token.issued"),
				slog.String("kind", e.Kind), slog.String("grant_type", e.GrantType),
				slog.String("subject", e.Subject), slog.String("client_id", e.ClientID),
				slog.String("account_id", e.AccountID), slog.Any("scopes", e.Scopes),
				slog.String("token_id", e.TokenID), slog.String("format", string(e.Format)),
				slog.Time("expires_at", e.ExpiresAt), slog.Bool("refresh", e.Refresh))
		},
		AuthFailed: func(ctx context.Context, e AuthFailed) {
			logger.LogAttrs(ctx, slog.LevelInfo, "portcullis: authentication failed",
				slog.String("event", "auth.failed"), slog.String("subject", e.Subject),
				slog.String("id", e.ID), slog.String("reason", e.Reason), slog.String("address", e.Address))
		},
		Credentials: func(ctx context.Context, e CredentialsChanged) {
			attrs := []slog.Attr{slog.String("event", e.Subject+"."+e.Action), slog.String("id", e.ID)}
			if e.OwnerAccount != "" {
				attrs = append(attrs, slog.String("owner_account", e.OwnerAccount))
			}
			logger.LogAttrs(ctx, slog.LevelInfo, "portcullis: "+e.Subject+" "+e.Action, attrs...)
		},
		TokenRevoked: func(ctx context.Context, e TokenRevoked) {
			logger.LogAttrs(ctx, slog.LevelInfo, "portcullis: token revoked",
				slog.String("event", "token.revoked"), slog.String("client_id", e.ClientID),
				slog.String("token_id", e.TokenID), slog.String("family_id", e.FamilyID))
		},
		RefreshReused: func(ctx context.Context, e RefreshReused) {
			logger.LogAttrs(ctx, slog.LevelWarn, "portcullis: used refresh token presented again; its family is revoked",
				slog.String("event", "refresh.reused"), slog.String("client_id", e.ClientID),
				slog.String("family_id", e.FamilyID))
		},
		Login: func(ctx context.Context, e Login) {
			logger.LogAttrs(ctx, slog.LevelInfo, "portcullis: account logged in",
				slog.String("event", "login"), slog.String("account_id", e.AccountID),
				slog.String("address", e.Address))
		},
		SigningKey: func(ctx context.Context, e SigningKeyCreated) {
			event, msg := "signing_key.created", "portcullis: signing key created"
			if e.Rotation {
				event, msg = "signing_key.rotated", "portcullis: signing key rotated; the new key signs from active_at"
			}
			logger.LogAttrs(ctx, slog.LevelInfo, msg,
				slog.String("event", event), slog.String("kid", e.KeyID),
				slog.String("algorithm", e.Algorithm), slog.Int64("seq", e.Seq),
				slog.Time("active_at", e.ActiveAt))
		},
	}
}

// JoinHooks returns Hooks that call each of hs in turn for every event,
// skipping the hooks they leave unset: to log with [LogHooks] and count
// with a metrics package at once.
func JoinHooks(hs ...Hooks) Hooks {
	var j Hooks
	for _, h := range hs {
		j.TokenIssued = join(j.TokenIssued, h.TokenIssued)
		j.AuthFailed = join(j.AuthFailed, h.AuthFailed)
		j.Credentials = join(j.Credentials, h.Credentials)
		j.TokenRevoked = join(j.TokenRevoked, h.TokenRevoked)
		j.RefreshReused = join(j.RefreshReused, h.RefreshReused)
		j.Login = join(j.Login, h.Login)
		j.SigningKey = join(j.SigningKey, h.SigningKey)
	}
	return j
}

// join chains two hooks of one event; either may be nil.
func join[E any](a, b func(context.Context, E)) func(context.Context, E) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(ctx context.Context, e E) {
		a(ctx, e)
		b(ctx, e)
	}
}
