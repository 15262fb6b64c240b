// Package depcheck holds only a test: it keeps framework, Redis, SQL
// driver and OpenTelemetry dependencies out of the packages every user
// imports (OpenTelemetry only in adapters/otelauth, and only its API),
// keeps the arrows between the core packages pointing one way, keeps the
// client library (tokensource) free of everything but the standard library
// and x/oauth2, and keeps test-only packages such as internal/tokentest out
// of non-test code.
package depcheck
