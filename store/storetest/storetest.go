// Package storetest is the conformance suite that every [store.Store]
// backend must pass.
//
// # Use
//
// A backend's test hands [Run] a function that builds a fresh, isolated store
// for one subtest (its own schema, database or key prefix) and registers its
// clean-up with t.Cleanup:
//
//	func TestConformance(t *testing.T) {
//		dsn := testenv.Require(t, testenv.Postgres)
//		storetest.Run(t, func(t *testing.T) store.Store {
//			db := openFreshSchema(t, dsn) // drops the schema in t.Cleanup
//			s, err := mystore.Open(db)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// newStore is called once per subtest, so no subtest sees another's data, and
// the subtests run one after another. The per-role runners ([RunClients],
// [RunKeys], …) run one role alone, for a store that composes roles from
// several places.
//
// # What is checked
//
// The contract written in package store, by role: the sentinel errors
// (checked with errors.Is, so backends may wrap them), that records are
// copies both ways, that every field round-trips, compare-and-swap updates,
// uniqueness, expiry and revocation decided by the now argument, and
// ordering, including that a listing of an owner's clients follows every
// create, update and delete. Subtests have stable names such as "Clients/CreateGet" and
// "RefreshTokens/ConcurrentConsume", so that a failure can be rerun with
// -run.
//
// Round-trips compare nil and empty slices and maps as equal, and times as
// instants (whatever their location) to within a millisecond, because SQL
// backends store micro- or milliseconds. A zero time must come back zero.
// All times are fixed dates in 2030, so that backends which hand expiry to
// the server (Redis key TTLs) never see a record expire while a test runs.
// The suite does not pin the instant of expiry itself (whether a record
// expiring at T is still valid at exactly T): it checks a second either side.
//
// # Concurrency
//
// Every backend must pass the concurrency cases; none may be skipped. Sixteen
// goroutines, released together, consume one refresh token (exactly one
// succeeds, the rest see [store.ErrTokenReused]), update one client or
// account expecting the same generation (exactly one succeeds, the rest see
// [store.ErrConflict]), move one client to sixteen different owners (only
// the winner's owner lists it), and create the same client, account username or
// email, or key sequence number (exactly one succeeds, the rest see
// [store.ErrAlreadyExists]); a rate limiter's concurrent hits hand out every
// count exactly once, and a refresh exchanger's concurrent exchanges (and
// rotations and consumes) of one token let exactly one through. Run them
// with -race.
//
// # Optional capabilities
//
// [Run] first builds one store to find which of [store.Sweeper],
// [store.RateLimiter], [store.RateCounter], [store.Watcher],
// [store.Pinger], [store.Lister], [store.Nonces], [store.ChangeLog] and
// [store.RefreshExchanger] it implements, logs them, and runs
// [RunSweeper], [RunRateLimiter], [RunRateCounter] (with a RateLimiter),
// [RunWatcher], [RunLister], [RunNonces], [RunChangeLog] and
// [RunRefreshExchanger] only for those, and calls Ping ("Pinger/Ping") if
// the store is a Pinger. Called directly, those runners fail when the
// store lacks the capability.
//
// Time is passed as an argument everywhere; nothing sleeps. The one wait is
// the watcher's: an event must arrive within [WatchTimeout], a liveness bound
// rather than a timing assertion. (RunChangeLog's trim case also waits a few
// milliseconds, because TrimChanges reads the backend's own clock.)
package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// WatchTimeout bounds how long [RunWatcher] waits for an event before it
// declares the watcher dead. It is generous because it only separates
// "delivered" from "never delivered" on a loaded machine.
const WatchTimeout = 5 * time.Second

// workers is how many goroutines each concurrency case releases at once.
const workers = 16

// Run runs every role runner, then the runners of the optional capabilities
// the store implements, each as a subtest.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	var caps capabilities
	probed := false
	t.Run("Capabilities", func(t *testing.T) {
		probed = true
		caps = probe(mustStore(t, newStore))
		t.Logf("optional capabilities: %s", caps)
	})
	if !probed {
		// -run left "Capabilities" out, as a rerun of one failure
		// (-run 'X/RefreshExchanger/ConcurrentExchange') does: probe here,
		// or that rerun would silently run nothing.
		caps = probe(mustStore(t, newStore))
	}
	t.Run("Clients", func(t *testing.T) { RunClients(t, newStore) })
	t.Run("Accounts", func(t *testing.T) { RunAccounts(t, newStore) })
	t.Run("RefreshTokens", func(t *testing.T) { RunRefreshTokens(t, newStore) })
	t.Run("AccessTokens", func(t *testing.T) { RunAccessTokens(t, newStore) })
	t.Run("Revocations", func(t *testing.T) { RunRevocations(t, newStore) })
	t.Run("Keys", func(t *testing.T) { RunKeys(t, newStore) })
	if caps.sweeper {
		t.Run("Sweeper", func(t *testing.T) { RunSweeper(t, newStore) })
	}
	if caps.rateLimiter {
		t.Run("RateLimiter", func(t *testing.T) { RunRateLimiter(t, newStore) })
	}
	if caps.rateLimiter && caps.rateCounter {
		t.Run("RateCounter", func(t *testing.T) { RunRateCounter(t, newStore) })
	}
	if caps.watcher {
		t.Run("Watcher", func(t *testing.T) { RunWatcher(t, newStore) })
	}
	if caps.pinger {
		t.Run("Pinger", func(t *testing.T) { runPinger(t, newStore) })
	}
	if caps.lister {
		t.Run("Lister", func(t *testing.T) { RunLister(t, newStore) })
	}
	if caps.nonces {
		t.Run("Nonces", func(t *testing.T) { RunNonces(t, newStore) })
	}
	if caps.changeLog {
		t.Run("ChangeLog", func(t *testing.T) { RunChangeLog(t, newStore) })
	}
	if caps.refreshExchanger {
		t.Run("RefreshExchanger", func(t *testing.T) { RunRefreshExchanger(t, newStore) })
	}
}

type capabilities struct {
	sweeper, rateLimiter, rateCounter, watcher, pinger, lister, nonces, changeLog, refreshExchanger bool
}

func probe(s store.Store) capabilities {
	var c capabilities
	_, c.sweeper = s.(store.Sweeper)
	_, c.rateLimiter = s.(store.RateLimiter)
	_, c.rateCounter = s.(store.RateCounter)
	_, c.watcher = s.(store.Watcher)
	_, c.pinger = s.(store.Pinger)
	_, c.lister = s.(store.Lister)
	_, c.nonces = s.(store.Nonces)
	_, c.changeLog = s.(store.ChangeLog)
	_, c.refreshExchanger = s.(store.RefreshExchanger)
	return c
}

func (c capabilities) String() string {
	var names []string
	for _, n := range []struct {
		ok   bool
		name string
	}{{c.sweeper, "Sweeper"}, {c.rateLimiter, "RateLimiter"}, {c.rateCounter, "RateCounter"}, {c.watcher, "Watcher"}, {c.pinger, "Pinger"}, {c.lister, "Lister"}, {c.nonces, "Nonces"}, {c.changeLog, "ChangeLog"}, {c.refreshExchanger, "RefreshExchanger"}} {
		if n.ok {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// mustStore builds a store for t and fails t if the factory returns nil.
func mustStore(t *testing.T, newStore func(t *testing.T) store.Store) store.Store {
	t.Helper()
	s := newStore(t)
	if s == nil {
		t.Fatal("storetest: newStore returned nil")
	}
	return s
}

// run runs f as the subtest name with a fresh store.
func run(t *testing.T, newStore func(t *testing.T) store.Store, name string, f func(t *testing.T, s store.Store)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		f(t, mustStore(t, newStore))
	})
}

// capability returns s as a T, or fails t: a runner called directly claims
// that the store has the capability.
func capability[T any](t *testing.T, s store.Store, name string) T {
	t.Helper()
	c, ok := s.(T)
	if !ok {
		t.Fatalf("storetest: %T does not implement store.%s", s, name)
	}
	return c
}
