package otelauth

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/memory"
	"github.com/portcullis/portcullis/store/storetest"
)

// fakeCalls records which fake capability was called.
type fakeCalls struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeCalls) call(name string) {
	f.mu.Lock()
	f.calls = append(f.calls, name)
	f.mu.Unlock()
}

var errFake = errors.New("fake capability failed")

type fakeSweeper struct{ f *fakeCalls }

func (s fakeSweeper) Sweep(context.Context, time.Time) (int64, error) {
	s.f.call("Sweep")
	return 7, nil
}

type fakePinger struct{ f *fakeCalls }

func (s fakePinger) Ping(context.Context) error {
	s.f.call("Ping")
	return errFake
}

type fakeWatcher struct{ f *fakeCalls }

func (s fakeWatcher) Watch(context.Context, func(store.Event)) error {
	s.f.call("Watch")
	return nil
}

type fakeRateLimiter struct{ f *fakeCalls }

func (s fakeRateLimiter) Hit(context.Context, string, time.Duration, time.Time) (int64, time.Time, error) {
	s.f.call("Hit")
	return 3, time.Unix(1, 0), nil
}

func (s fakeRateLimiter) Count(context.Context, string, time.Duration, time.Time) (int64, time.Time, error) {
	s.f.call("Count")
	return 2, time.Unix(1, 0), nil
}

type fakeLister struct{ f *fakeCalls }

func (s fakeLister) ListClients(context.Context, string, int) ([]*store.Client, error) {
	s.f.call("ListClients")
	return []*store.Client{{ID: "c"}}, nil
}

func (s fakeLister) ListAccounts(context.Context, string, int) ([]*store.Account, error) {
	s.f.call("ListAccounts")
	return nil, store.ErrNotFound
}

type fakeNonces struct{ f *fakeCalls }

func (s fakeNonces) UseNonce(context.Context, string, time.Time, time.Time) error {
	s.f.call("UseNonce")
	return store.ErrAlreadyExists
}

type fakeChangeLog struct{ f *fakeCalls }

func (s fakeChangeLog) Changes(context.Context, int64, int) ([]store.Change, int64, error) {
	s.f.call("Changes")
	return []store.Change{{Seq: 5}}, 4, nil
}

func (s fakeChangeLog) TrimChanges(context.Context, time.Duration) (int64, error) {
	s.f.call("TrimChanges")
	return 0, errFake
}

type fakeRefreshExchanger struct{ f *fakeCalls }

func (s fakeRefreshExchanger) ExchangeRefreshToken(context.Context, *store.RefreshExchange) (*store.RefreshToken, error) {
	s.f.call("ExchangeRefreshToken")
	return nil, store.ErrNotFound
}

type fakeStartChecker struct{ f *fakeCalls }

func (s fakeStartChecker) CheckStart(context.Context) ([]string, error) {
	s.f.call("CheckStart")
	return []string{"w"}, nil
}

func newTestTelemetry(t testing.TB) (*Telemetry, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	tel, err := New(Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	if err != nil {
		t.Fatal(err)
	}
	return tel, reader
}

// storeCalls returns how many calls of each operation and result were
// recorded, as "operation result".
func storeCalls(t *testing.T, reader *sdkmetric.ManualReader) map[string]uint64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "portcullis.store.duration" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				op, _ := dp.Attributes.Value(keyOperation)
				res, _ := dp.Attributes.Value(keyResult)
				got[op.AsString()+" "+res.AsString()] += dp.Count
			}
		}
	}
	return got
}

// Every combination of optional capabilities comes out of the wrapper as
// it went in, each capability timed and reaching the wrapped store.
func TestStoreCapabilities(t *testing.T) {
	ctx := context.Background()
	for mask := range 1 << len(capabilityNames) {
		tel, reader := newTestTelemetry(t)
		f := &fakeCalls{}
		// The struct hides memory.Store's own capabilities.
		w := tel.Store(fakeWith(mask, struct{ store.Store }{memory.New()}, f))
		var want []string
		for i, name := range capabilityNames {
			has := mask&(1<<i) != 0
			var ok bool
			switch name {
			case "Sweeper":
				var s store.Sweeper
				if s, ok = w.(store.Sweeper); ok {
					if n, err := s.Sweep(ctx, time.Now()); n != 7 || err != nil {
						t.Errorf("mask %d: Sweep = %d, %v", mask, n, err)
					}
					want = append(want, "Sweep ok")
				}
			case "Pinger":
				var s store.Pinger
				if s, ok = w.(store.Pinger); ok {
					if err := s.Ping(ctx); err != errFake {
						t.Errorf("mask %d: Ping = %v, want the store's error unchanged", mask, err)
					}
					want = append(want, "Ping error")
				}
			case "Watcher":
				var s store.Watcher
				if s, ok = w.(store.Watcher); ok {
					if err := s.Watch(ctx, func(store.Event) {}); err != nil {
						t.Errorf("mask %d: Watch = %v", mask, err)
					}
					want = append(want, "Watch ok")
				}
			case "RateLimiter":
				var s store.RateLimiter
				if s, ok = w.(store.RateLimiter); ok {
					if n, reset, err := s.Hit(ctx, "k", time.Minute, time.Now()); n != 3 || !reset.Equal(time.Unix(1, 0)) || err != nil {
						t.Errorf("mask %d: Hit = %d, %v, %v", mask, n, reset, err)
					}
					if n, _, err := s.Count(ctx, "k", time.Minute, time.Now()); n != 2 || err != nil {
						t.Errorf("mask %d: Count = %d, %v", mask, n, err)
					}
					want = append(want, "Hit ok", "Count ok")
				}
			case "Lister":
				var s store.Lister
				if s, ok = w.(store.Lister); ok {
					if cs, err := s.ListClients(ctx, "", 10); len(cs) != 1 || err != nil {
						t.Errorf("mask %d: ListClients = %v, %v", mask, cs, err)
					}
					if _, err := s.ListAccounts(ctx, "", 10); !errors.Is(err, store.ErrNotFound) {
						t.Errorf("mask %d: ListAccounts = %v", mask, err)
					}
					want = append(want, "ListClients ok", "ListAccounts not_found")
				}
			case "StartChecker":
				var s store.StartChecker
				if s, ok = w.(store.StartChecker); ok {
					if warnings, err := s.CheckStart(ctx); len(warnings) != 1 || err != nil {
						t.Errorf("mask %d: CheckStart = %v, %v", mask, warnings, err)
					}
					want = append(want, "CheckStart ok")
				}
			case "Nonces":
				var s store.Nonces
				if s, ok = w.(store.Nonces); ok {
					if err := s.UseNonce(ctx, "n", time.Now(), time.Now()); !errors.Is(err, store.ErrAlreadyExists) {
						t.Errorf("mask %d: UseNonce = %v", mask, err)
					}
					want = append(want, "UseNonce already_exists")
				}
			case "ChangeLog":
				var s store.ChangeLog
				if s, ok = w.(store.ChangeLog); ok {
					if cs, trimmed, err := s.Changes(ctx, 3, 10); len(cs) != 1 || cs[0].Seq != 5 || trimmed != 4 || err != nil {
						t.Errorf("mask %d: Changes = %v, %d, %v", mask, cs, trimmed, err)
					}
					if _, err := s.TrimChanges(ctx, time.Hour); err != errFake {
						t.Errorf("mask %d: TrimChanges = %v, want the store's error unchanged", mask, err)
					}
					want = append(want, "Changes ok", "TrimChanges error")
				}
			case "RefreshExchanger":
				var s store.RefreshExchanger
				if s, ok = w.(store.RefreshExchanger); ok {
					if _, err := s.ExchangeRefreshToken(ctx, &store.RefreshExchange{}); !errors.Is(err, store.ErrNotFound) {
						t.Errorf("mask %d: ExchangeRefreshToken = %v", mask, err)
					}
					want = append(want, "ExchangeRefreshToken not_found")
				}
			default:
				t.Fatalf("capability %s has no case here", name)
			}
			if ok != has {
				t.Errorf("mask %d: wrapped store is a %s: %v, want %v", mask, name, ok, has)
			}
		}
		got := storeCalls(t, reader)
		for _, w := range want {
			if got[w] != 1 {
				t.Errorf("mask %d: %q recorded %d times, want 1 (all: %v)", mask, w, got[w], got)
			}
		}
		if len(f.calls) != len(want) {
			t.Errorf("mask %d: the fake saw %v, want one call for each of %v", mask, f.calls, want)
		}
	}
}

// Every optional capability that package store declares is one the
// wrapper knows: a new one would otherwise be hidden from the issuer by
// every wrapped store. Capabilities are the interfaces of package store
// that Store does not embed.
func TestStoreCapabilitiesComplete(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "store", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("store sources: %v %v", files, err)
	}
	var ifaces []string
	var roles []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok || !ts.Name.IsExported() {
				return true
			}
			it, ok := ts.Type.(*ast.InterfaceType)
			if !ok {
				return true
			}
			ifaces = append(ifaces, ts.Name.Name)
			if ts.Name.Name == "Store" {
				for _, m := range it.Methods.List {
					if id, ok := m.Type.(*ast.Ident); ok && len(m.Names) == 0 {
						roles = append(roles, id.Name)
					}
				}
			}
			return true
		})
	}
	if len(roles) == 0 {
		t.Fatal("found no roles embedded in store.Store")
	}
	var caps []string
	for _, name := range ifaces {
		// RateCounter extends RateLimiter, whose timed wrapper always
		// has CountMany (TestRateCounterForwarded), so it takes no bit.
		if name != "Store" && name != "RateCounter" && !slices.Contains(roles, name) {
			caps = append(caps, name)
		}
	}
	slices.Sort(caps)
	known := slices.Sorted(slices.Values(capabilityNames))
	if !slices.Equal(caps, known) {
		t.Errorf("package store's optional capabilities are %v; the wrapper knows %v: add the new one to gen_capabilities.go and store.go, then go generate", caps, known)
	}
}

// The wrapped memory store passes the conformance suite: it changes no
// answer, and keeps the capabilities that the suite checks.
func TestStoreConformance(t *testing.T) {
	tel, reader := newTestTelemetry(t)
	storetest.Run(t, func(t *testing.T) store.Store { return tel.Store(memory.New()) })
	got := storeCalls(t, reader)
	for _, want := range []string{"CreateClient ok", "GetClient not_found", "ConsumeRefreshToken token_reused", "UpdateClient conflict", "CreateClient already_exists", "Sweep ok", "Hit ok"} {
		if got[want] == 0 {
			t.Errorf("no %q recorded (all: %v)", want, got)
		}
	}
}

// rateLimiterOnly is a memory store whose only capability is RateLimiter.
type rateLimiterOnly struct {
	store.Store
	store.RateLimiter
}

// The wrapper's rate limiter offers store.RateCounter whatever it wraps:
// one timed CountMany when the store has it, else one timed Count a key,
// with the same answers.
func TestRateCounterForwarded(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	for _, withCounter := range []bool{true, false} {
		tel, reader := newTestTelemetry(t)
		m := memory.New()
		var inner store.Store = rateLimiterOnly{m, m}
		if withCounter {
			inner = m
		}
		w := tel.Store(inner)
		rc, ok := w.(store.RateCounter)
		if !ok {
			t.Fatalf("withCounter %v: the wrapper is not a store.RateCounter", withCounter)
		}
		if _, _, err := m.Hit(ctx, "a", time.Minute, now); err != nil {
			t.Fatal(err)
		}
		got, _, err := rc.CountMany(ctx, []string{"a", "b"}, time.Minute, now)
		if err != nil || !slices.Equal(got, []int64{1, 0}) {
			t.Errorf("withCounter %v: CountMany = %v, %v; want [1 0]", withCounter, got, err)
		}
		calls := storeCalls(t, reader)
		want := map[string]uint64{"Count ok": 2}
		if withCounter {
			want = map[string]uint64{"CountMany ok": 1}
		}
		if !maps.Equal(calls, want) {
			t.Errorf("withCounter %v: timed calls %v, want %v", withCounter, calls, want)
		}
	}
}
