// Package e2e holds Portcullis' end-to-end tests; it has no API.
//
// The tests run real servers (httptest) with the issuer's endpoints and a
// guarded route, and drive them with golang.org/x/oauth2 as any Go client
// would, over every store backend: the in-memory store always, PostgreSQL,
// MySQL/MariaDB, Redis and a Redis Cluster when their PORTCULLIS_TEST_*
// variable is set (see internal/testenv), and SQLite in a temporary file.
//
// # What they cover
//
//   - client credentials with each of x/oauth2's auth styles, and the exact
//     bytes it sends (form body, HTTP Basic with form-encoded id and secret);
//   - rotation (the credentials endpoint and Issuer.RotateClient) and RFC 7009
//     revocation, each followed by the guard refusing the old token;
//   - replicas: two issuers and two guards over one store, where a token of
//     one verifies at the other and a rotation or revocation at one is refused
//     at the other within the documented delay (Config.StateTTL, or at once
//     with a store that pushes events); and concurrent first starts, which
//     must agree on a single signing key;
//   - equal cost: the token endpoint takes as long to refuse an unknown
//     client id as a wrong secret, compared over 1,500 interleaved pairs
//     per backend (skipped under -race; .ci/run runs it without);
//   - faults (faults_test.go): two replicas under a mixed load while a
//     fault proxy between them and PostgreSQL or Redis pauses, delays and
//     cuts the connections, counting the invariants of internal/faultload
//     and the goroutines left;
//   - the embedding example of README.md, which must match the code here
//     and build as a program of its own, in a module that requires this one
//     through the README's require and replace lines;
//   - the Dockerfile, whose build stage the tests reproduce (no Docker
//     engine needed) to check that the binary it builds is static.
//
// # Running
//
//	go test -race ./e2e
//	PORTCULLIS_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	PORTCULLIS_TEST_MYSQL='root@tcp(127.0.0.1:3306)/test' \
//	PORTCULLIS_TEST_REDIS='redis://127.0.0.1:6379/0' go test -race ./e2e
//
// Each test works on a fresh schema (PostgreSQL), database (MySQL), key
// prefix (Redis) or file (SQLite) and removes it afterwards.
package e2e
