package storetest_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
	"github.com/portcullis/portcullis/store/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return memory.New() })
}

// A suite that cannot fail proves nothing. Each mutant below is the memory
// store with one bug a real backend could have; the suite, run on it in a
// child process, must fail, and in the subtest that names the bug.
var mutants = map[string]struct {
	wrap     func(*memory.Store) store.Store
	wantFail string
}{
	"shared-records": {
		func(s *memory.Store) store.Store { return &sharedClients{Store: s, seen: map[string]*store.Client{}} },
		"Clients/Copies",
	},
	"racy-consume": {
		func(s *memory.Store) store.Store { return racyConsume{s} },
		"RefreshTokens/ConcurrentConsume",
	},
	"ignores-now": {
		func(s *memory.Store) store.Store { return ignoresNow{s} },
		"AccessTokens/Expiry",
	},
	"second-precision": {
		func(s *memory.Store) store.Store { return secondPrecision{s} },
		"Keys/CreateList",
	},
	"case-insensitive-logins": {
		func(s *memory.Store) store.Store { return caseInsensitive{s} },
		"Accounts/ExactMatch",
	},
	"ignores-list-limit": {
		func(s *memory.Store) store.Store { return ignoresLimit{s} },
		"Clients/ListLimit",
	},
	"owner-prefix-match": {
		func(s *memory.Store) store.Store { return &ownerIndex{Store: s, prefix: true} },
		"Clients/ListByOwner",
	},
	"stale-owner-index": {
		func(s *memory.Store) store.Store { return &ownerIndex{Store: s} },
		"Clients/ListMoves",
	},
	"racy-exchange": {
		func(s *memory.Store) store.Store { return racyExchange{s} },
		"RefreshExchanger/ConcurrentExchange",
	},
	"exchange-ignores-scopes": {
		func(s *memory.Store) store.Store { return ignoresScopes{s} },
		"RefreshExchanger/ExchangeScopes",
	},
	"legacy-family-without-end": {
		func(s *memory.Store) store.Store { return legacyNoEnd{s} },
		"RefreshExchanger/ExchangeLegacyFamilyStart",
	},
}

const mutantEnv = "STORETEST_MUTANT"

func TestSuiteCatchesBugs(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("inside a mutant run")
	}
	for name, m := range mutants {
		t.Run(name, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestMutant$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), mutantEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a store with bug %q:\n%s", name, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestMutant/"+m.wantFail+" ") {
				t.Fatalf("bug %q did not fail %s:\n%s", name, m.wantFail, out)
			}
		})
	}
}

// TestMutant runs the suite on the mutant named by STORETEST_MUTANT; it is
// a helper of TestSuiteCatchesBugs and skips on its own.
func TestMutant(t *testing.T) {
	m, ok := mutants[os.Getenv(mutantEnv)]
	if !ok {
		t.Skip("run by TestSuiteCatchesBugs")
	}
	storetest.Run(t, func(t *testing.T) store.Store { return m.wrap(memory.New()) })
}

// TestWithoutCapabilities runs the suite on a store that hides every
// optional capability (an interface embedded in a struct promotes only the
// interface's methods): Run must run no runner of a capability it lacks,
// since those runners fail a store without theirs.
func TestWithoutCapabilities(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return struct{ store.Store }{memory.New()} })
}

// sharedClients hands every caller the same record for an id, as a cache
// without copies would.
type sharedClients struct {
	*memory.Store
	mu   sync.Mutex
	seen map[string]*store.Client
}

func (s *sharedClients) GetClient(ctx context.Context, id string) (*store.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.seen[id]; ok {
		return c, nil
	}
	c, err := s.Store.GetClient(ctx, id)
	if err == nil {
		s.seen[id] = c
	}
	return c, err
}

// racyConsume reads, then writes: a check-then-act without a transaction.
type racyConsume struct{ *memory.Store }

func (s racyConsume) ConsumeRefreshToken(ctx context.Context, hash string, now time.Time) (*store.RefreshToken, error) {
	t, err := s.GetRefreshToken(ctx, hash, now)
	if err != nil {
		return nil, err
	}
	if !t.UsedAt.IsZero() {
		return t, store.ErrTokenReused
	}
	time.Sleep(time.Millisecond) // the window a network round trip opens
	_, _ = s.Store.ConsumeRefreshToken(ctx, hash, now)
	t.UsedAt = now
	return t, nil
}

// ignoresNow checks access-token expiry against the wrong clock.
type ignoresNow struct{ *memory.Store }

func (s ignoresNow) GetAccessToken(ctx context.Context, hash string, _ time.Time) (*store.AccessToken, error) {
	return s.Store.GetAccessToken(ctx, hash, time.Time{})
}

// secondPrecision stores key times in whole seconds, like a careless column
// type.
type secondPrecision struct{ *memory.Store }

func (s secondPrecision) CreateKey(ctx context.Context, k *store.SigningKey) error {
	c := *k
	c.CreatedAt = c.CreatedAt.Truncate(time.Second)
	return s.Store.CreateKey(ctx, &c)
}

// caseInsensitive looks logins up like a case-insensitive collation.
type caseInsensitive struct{ *memory.Store }

func (s caseInsensitive) FindAccount(ctx context.Context, login string) (*store.Account, error) {
	if a, err := s.Store.FindAccount(ctx, strings.ToLower(login)); err == nil {
		return a, nil
	}
	return s.Store.FindAccount(ctx, login)
}

// ignoresLimit lists as many clients as it can whatever the limit asked.
type ignoresLimit struct{ *memory.Store }

func (s ignoresLimit) ListClientsByOwner(ctx context.Context, owner string, limit int) ([]*store.Client, error) {
	if limit >= 1 && limit <= store.MaxListLimit {
		limit = store.MaxListLimit
	}
	return s.Store.ListClientsByOwner(ctx, owner, limit)
}

// ownerIndex keeps its own owner index, written only by CreateClient, as a
// backend that forgets to update it in UpdateClient and DeleteClient would;
// with prefix set it also matches owners like a LIKE 'owner%' query.
type ownerIndex struct {
	*memory.Store
	prefix bool
	mu     sync.Mutex
	owners map[string]string // client id → owner at creation
}

func (s *ownerIndex) CreateClient(ctx context.Context, c *store.Client) error {
	if err := s.Store.CreateClient(ctx, c); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owners == nil {
		s.owners = map[string]string{}
	}
	s.owners[c.ID] = c.OwnerAccount
	return nil
}

func (s *ownerIndex) ListClientsByOwner(ctx context.Context, owner string, limit int) ([]*store.Client, error) {
	if _, err := s.Store.ListClientsByOwner(ctx, owner, limit); err != nil {
		return nil, err // the argument checks are not this bug
	}
	s.mu.Lock()
	var ids []string
	for id, o := range s.owners {
		if o == owner || s.prefix && strings.HasPrefix(o, owner) {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	var cs []*store.Client
	for _, id := range ids {
		if c, err := s.GetClient(ctx, id); err == nil {
			cs = append(cs, c)
		}
	}
	slices.SortFunc(cs, func(a, b *store.Client) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return cs[:min(limit, len(cs))], nil
}

// racyExchange reads and checks, then stores the successor and consumes
// the token in two more steps, without a transaction.
type racyExchange struct{ *memory.Store }

func (s racyExchange) ExchangeRefreshToken(ctx context.Context, x *store.RefreshExchange) (*store.RefreshToken, error) {
	t, err := s.GetRefreshToken(ctx, x.Hash, x.Now)
	if err != nil || !t.UsedAt.IsZero() || !x.Matches(t) {
		return nil, store.ErrNotFound
	}
	time.Sleep(time.Millisecond) // the window a network round trip opens
	if err := s.CreateRefreshToken(ctx, x.Successor(t)); err != nil {
		return nil, err
	}
	_, _ = s.ConsumeRefreshToken(ctx, x.Hash, x.Now)
	t.UsedAt, t.ReplacedBy = x.Now, x.Next
	return t, nil
}

// ignoresScopes exchanges a token whatever scopes the client has left,
// as a backend that forgets the scope condition would.
type ignoresScopes struct{ *memory.Store }

func (s ignoresScopes) ExchangeRefreshToken(ctx context.Context, x *store.RefreshExchange) (*store.RefreshToken, error) {
	y := *x
	if t, err := s.GetRefreshToken(ctx, x.Hash, x.Now); err == nil {
		y.Scopes = t.Scopes
	}
	return s.Store.ExchangeRefreshToken(ctx, &y)
}

// legacyNoEnd gives a family without a recorded start no end, as a
// backend comparing a NULL FamilyIssuedAt would.
type legacyNoEnd struct{ *memory.Store }

func (s legacyNoEnd) ExchangeRefreshToken(ctx context.Context, x *store.RefreshExchange) (*store.RefreshToken, error) {
	y := *x
	if t, err := s.GetRefreshToken(ctx, x.Hash, x.Now); err == nil && t.FamilyIssuedAt.IsZero() {
		y.MaxFamilyLifetime = 0
	}
	return s.Store.ExchangeRefreshToken(ctx, &y)
}
