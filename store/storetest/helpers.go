package storetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// base is the instant every test counts from: in the future (see the package
// doc) and already at millisecond precision, so that backends storing
// milliseconds return it exactly.
var base = time.Date(2030, time.March, 4, 5, 6, 7, 890_000_000, time.UTC)

// at returns base+d.
func at(d time.Duration) time.Time { return base.Add(d) }

// hashOf returns a realistic token hash: hex SHA-256 of label.
func hashOf(label string) string {
	sum := sha256.Sum256([]byte(label))
	return hex.EncodeToString(sum[:])
}

// binary returns n bytes covering every byte value, NUL included, so that a
// backend that passes bytes through a text encoding shows it.
func binary(n int, salt byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i) ^ salt
	}
	return b
}

// oddKeys are keys that no test stores, holding bytes a text column may
// refuse (NUL, invalid UTF-8). Request input reaches lookups as it came
// (a client id, a login), so a lookup by such a key must answer "not
// found", not fail as if the store were down.
var oddKeys = []string{"client-full\x00", "\x00", "\xff\xfe", "caf\xe9"}

// wantErr fails t unless errors.Is(err, want); want nil means success.
func wantErr(t *testing.T, err, want error, format string, args ...any) {
	t.Helper()
	if errors.Is(err, want) {
		return
	}
	what := fmt.Sprintf(format, args...)
	if want == nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
	t.Fatalf("%s: got error %v, want %v", what, err, want)
}

// same reports whether two instants are equal to within a millisecond; a
// zero time equals only a zero time.
func same(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() && b.IsZero()
	}
	d := a.UTC().Sub(b.UTC())
	return -time.Millisecond <= d && d <= time.Millisecond
}

// diff collects the fields in which a record differs from what was expected.
// nil and empty slices and maps are equal (slices.Equal, maps.Equal and
// bytes.Equal compare lengths and elements only).
type diff []string

func (d *diff) add(field string, got, want any) {
	*d = append(*d, fmt.Sprintf("%s: got %v, want %v", field, got, want))
}

func (d *diff) str(field, got, want string) {
	if got != want {
		d.add(field, fmt.Sprintf("%q", got), fmt.Sprintf("%q", want))
	}
}

func (d *diff) strs(field string, got, want []string) {
	if !slices.Equal(got, want) {
		d.add(field, fmt.Sprintf("%q", got), fmt.Sprintf("%q", want))
	}
}

func (d *diff) bytes(field string, got, want []byte) {
	if !bytes.Equal(got, want) {
		d.add(field, fmt.Sprintf("%d bytes %x…", len(got), head(got)), fmt.Sprintf("%d bytes %x…", len(want), head(want)))
	}
}

func head(b []byte) []byte { return b[:min(len(b), 16)] }

func (d *diff) int(field string, got, want int64) {
	if got != want {
		d.add(field, got, want)
	}
}

func (d *diff) bool(field string, got, want bool) {
	if got != want {
		d.add(field, got, want)
	}
}

func (d *diff) time(field string, got, want time.Time) {
	if !same(got, want) {
		d.add(field, got.UTC().Format(time.RFC3339Nano), want.UTC().Format(time.RFC3339Nano))
	}
}

func (d *diff) meta(field string, got, want map[string]string) {
	if !maps.Equal(got, want) {
		d.add(field, got, want)
	}
}

func (d diff) report(t *testing.T, what string) {
	t.Helper()
	if len(d) > 0 {
		t.Errorf("%s differs from what was stored:\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

func checkClient(t *testing.T, what string, got, want *store.Client) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil client", what)
	}
	var d diff
	d.str("ID", got.ID, want.ID)
	d.bytes("SecretHash", got.SecretHash, want.SecretHash)
	d.str("Name", got.Name, want.Name)
	d.str("OwnerAccount", got.OwnerAccount, want.OwnerAccount)
	d.strs("Scopes", got.Scopes, want.Scopes)
	d.strs("Audiences", got.Audiences, want.Audiences)
	d.int("Generation", got.Generation, want.Generation)
	d.bool("Disabled", got.Disabled, want.Disabled)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	d.meta("Metadata", got.Metadata, want.Metadata)
	d.report(t, what)
}

func checkAccount(t *testing.T, what string, got, want *store.Account) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil account", what)
	}
	var d diff
	d.str("ID", got.ID, want.ID)
	d.str("Username", got.Username, want.Username)
	d.str("Email", got.Email, want.Email)
	d.str("PasswordHash", got.PasswordHash, want.PasswordHash)
	d.strs("Roles", got.Roles, want.Roles)
	d.int("Generation", got.Generation, want.Generation)
	d.bool("Disabled", got.Disabled, want.Disabled)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	d.report(t, what)
}

func (d *diff) grant(got, want store.Grant) {
	d.str("Kind", got.Kind, want.Kind)
	d.str("Subject", got.Subject, want.Subject)
	d.str("ClientID", got.ClientID, want.ClientID)
	d.str("AccountID", got.AccountID, want.AccountID)
	d.strs("Scopes", got.Scopes, want.Scopes)
	d.strs("Audience", got.Audience, want.Audience)
	d.int("Generation", got.Generation, want.Generation)
	d.time("IssuedAt", got.IssuedAt, want.IssuedAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}

func checkRefresh(t *testing.T, what string, got, want *store.RefreshToken) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil refresh token", what)
	}
	var d diff
	d.str("Hash", got.Hash, want.Hash)
	d.str("FamilyID", got.FamilyID, want.FamilyID)
	d.grant(got.Grant, want.Grant)
	d.time("UsedAt", got.UsedAt, want.UsedAt)
	d.str("ReplacedBy", got.ReplacedBy, want.ReplacedBy)
	d.time("FamilyIssuedAt", got.FamilyIssuedAt, want.FamilyIssuedAt)
	d.report(t, what)
}

func checkAccess(t *testing.T, what string, got, want *store.AccessToken) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil access token", what)
	}
	var d diff
	d.str("Hash", got.Hash, want.Hash)
	d.str("ID", got.ID, want.ID)
	d.str("FamilyID", got.FamilyID, want.FamilyID)
	d.grant(got.Grant, want.Grant)
	d.report(t, what)
}

func checkKey(t *testing.T, what string, got, want *store.SigningKey) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil key", what)
	}
	var d diff
	d.str("ID", got.ID, want.ID)
	d.int("Seq", got.Seq, want.Seq)
	d.str("Algorithm", got.Algorithm, want.Algorithm)
	d.bytes("Private", got.Private, want.Private)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.time("ActiveAt", got.ActiveAt, want.ActiveAt)
	d.time("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	d.report(t, what)
}

// checkKeys compares a whole ListKeys result, order included.
func checkKeys(t *testing.T, what string, got, want []*store.SigningKey) {
	t.Helper()
	ids := func(ks []*store.SigningKey) []string {
		var s []string
		for _, k := range ks {
			if k == nil {
				s = append(s, "<nil>")
				continue
			}
			s = append(s, fmt.Sprintf("%s(seq %d)", k.ID, k.Seq))
		}
		return s
	}
	if len(got) != len(want) {
		t.Fatalf("%s: got keys %v, want %v", what, ids(got), ids(want))
	}
	for i := range want {
		checkKey(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i])
	}
}

// race runs f(i) on n goroutines released together and returns their errors
// by index. Records f wants to keep it stores itself, by index.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	for i := range n {
		ready.Add(1)
		done.Go(func() {
			ready.Done()
			<-start
			errs[i] = f(i)
		})
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

// exactlyOne checks that exactly one of errs is nil and every other one is
// loser, and returns the winner's index.
func exactlyOne(t *testing.T, what string, errs []error, loser error) int {
	t.Helper()
	return exactlyOneEach(t, what, errs, slices.Repeat([]error{loser}, len(errs)))
}

// wantInvalid fails t unless err reports a caller's mistake (a zero time
// where the contract requires one): non-nil and none of the store's
// sentinels, so that a caller cannot take it for an answer about the record
// ("not found", "reused") and files it with the failures it must log.
func wantInvalid(t *testing.T, err error, format string, args ...any) {
	t.Helper()
	what := fmt.Sprintf(format, args...)
	if err == nil {
		t.Fatalf("%s: succeeded, want an error", what)
	}
	for _, s := range []error{store.ErrNotFound, store.ErrAlreadyExists, store.ErrConflict, store.ErrTokenReused} {
		if errors.Is(err, s) {
			t.Fatalf("%s: got %v, want an error that is none of the store's sentinels", what, err)
		}
	}
}
