package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// RunNonces checks [store.Nonces]: an id is used once until it expires,
// exactly once under concurrency, and bad arguments record nothing.
func RunNonces(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	run(t, newStore, "Once", testNonceOnce)
	run(t, newStore, "Expiry", testNonceExpiry)
	run(t, newStore, "Invalid", testNonceInvalid)
	run(t, newStore, "Concurrent", testNonceConcurrent)
	if _, ok := mustStore(t, newStore).(store.Sweeper); ok {
		run(t, newStore, "Sweep", testNonceSweep)
	}
}

func testNonceOnce(t *testing.T, s store.Store) {
	n := capability[store.Nonces](t, s, "Nonces")
	ctx := t.Context()
	until := at(5 * time.Minute)
	wantErr(t, n.UseNonce(ctx, "assertion:c1:j1", until, base), nil, "first use")
	wantErr(t, n.UseNonce(ctx, "assertion:c1:j1", until, at(time.Minute)), store.ErrAlreadyExists, "second use")
	// A later expiry does not make a used id usable again.
	wantErr(t, n.UseNonce(ctx, "assertion:c1:j1", at(time.Hour), at(2*time.Minute)), store.ErrAlreadyExists, "second use, later expiry")
	// Ids are exact: case, prefix and suffix are other ids.
	for _, other := range []string{"assertion:c1:J1", "assertion:c1:j", "assertion:c1:j1 ", "dpop:c1:j1"} {
		wantErr(t, n.UseNonce(ctx, other, until, base), nil, "use of %q", other)
	}
	long := strings.Repeat("n", store.MaxNonceLen)
	wantErr(t, n.UseNonce(ctx, long, until, base), nil, "id of MaxNonceLen bytes")
	wantErr(t, n.UseNonce(ctx, long, until, base), store.ErrAlreadyExists, "id of MaxNonceLen bytes again")
}

func testNonceExpiry(t *testing.T, s store.Store) {
	n := capability[store.Nonces](t, s, "Nonces")
	ctx := t.Context()
	until := at(time.Minute)
	wantErr(t, n.UseNonce(ctx, "jti", until, base), nil, "first use")
	wantErr(t, n.UseNonce(ctx, "jti", at(2*time.Minute), until.Add(-time.Millisecond)), store.ErrAlreadyExists, "a millisecond before expiry")
	// At its expiry the record is gone: the id is recorded afresh, and is
	// then used again until the new expiry.
	wantErr(t, n.UseNonce(ctx, "jti", at(2*time.Minute), until), nil, "at expiry")
	wantErr(t, n.UseNonce(ctx, "jti", at(3*time.Minute), at(90*time.Second)), store.ErrAlreadyExists, "after the fresh record")
}

func testNonceInvalid(t *testing.T, s store.Store) {
	n := capability[store.Nonces](t, s, "Nonces")
	ctx := t.Context()
	until := at(time.Minute)
	wantInvalid(t, n.UseNonce(ctx, "", until, base), "empty id")
	wantInvalid(t, n.UseNonce(ctx, strings.Repeat("n", store.MaxNonceLen+1), until, base), "overlong id")
	wantInvalid(t, n.UseNonce(ctx, "zero-expiry", time.Time{}, base), "zero expiry")
	wantInvalid(t, n.UseNonce(ctx, "zero-now", until, time.Time{}), "zero now")
	// Nothing was recorded by the refused calls.
	wantErr(t, n.UseNonce(ctx, "zero-expiry", until, base), nil, "id of a refused call")
	wantErr(t, n.UseNonce(ctx, "zero-now", until, base), nil, "id of a refused call")
}

func testNonceConcurrent(t *testing.T, s store.Store) {
	n := capability[store.Nonces](t, s, "Nonces")
	ctx := t.Context()
	errs := race(workers, func(int) error { return n.UseNonce(ctx, "raced", at(time.Minute), base) })
	exactlyOne(t, "concurrent UseNonce", errs, store.ErrAlreadyExists)
	// Distinct ids never block each other.
	errs = race(workers, func(i int) error { return n.UseNonce(ctx, fmt.Sprintf("distinct-%d", i), at(time.Minute), base) })
	for i, err := range errs {
		wantErr(t, err, nil, "distinct id %d", i)
	}
}

func testNonceSweep(t *testing.T, s store.Store) {
	n := capability[store.Nonces](t, s, "Nonces")
	sw := capability[store.Sweeper](t, s, "Sweeper")
	ctx := t.Context()
	wantErr(t, n.UseNonce(ctx, "old", at(time.Minute), base), nil, "old")
	wantErr(t, n.UseNonce(ctx, "live", at(time.Hour), base), nil, "live")
	got, err := sw.Sweep(ctx, at(2*time.Minute))
	wantErr(t, err, nil, "Sweep")
	if got != 1 {
		t.Errorf("Sweep deleted %d records, want 1 (the expired nonce)", got)
	}
	wantErr(t, n.UseNonce(ctx, "live", at(time.Hour), at(3*time.Minute)), store.ErrAlreadyExists, "live nonce after Sweep")
	wantErr(t, n.UseNonce(ctx, "old", at(time.Hour), at(3*time.Minute)), nil, "swept nonce")
}
