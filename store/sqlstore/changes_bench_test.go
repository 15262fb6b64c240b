package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/portcullis/portcullis/store"
	"github.com/portcullis/portcullis/store/sqlstore"
)

// The writes that the change log rides on: a revocation (a new one each
// time, so each is logged) and a rotation. cpu-ns/op is this process's CPU
// time (getrusage); on PostgreSQL srv-cpu-ns/op is the CPU time of the one
// backend process serving the store's one connection (/proc schedstat),
// where the triggers run. Wall time means little on a shared machine.

func BenchmarkRevokeLogged(b *testing.B) {
	forEachB(b, func(b *testing.B, be backend) {
		ctx := context.Background()
		st, meter := meteredStore(b, be)
		i := 0
		meter.start(b)
		for b.Loop() {
			i++
			if err := st.Revoke(ctx, "jti-"+strconv.Itoa(i), farFuture); err != nil {
				b.Fatal(err)
			}
		}
		meter.report(b)
	})
}

func BenchmarkUpdateClientLogged(b *testing.B) {
	forEachB(b, func(b *testing.B, be backend) {
		ctx := context.Background()
		st, meter := meteredStore(b, be)
		c := &store.Client{
			ID: "3f2a9c0d1e", SecretHash: make([]byte, 32), Name: "reports",
			Scopes: []string{"read", "write"}, Audiences: []string{"https://api.example.com"},
			Generation: 1, CreatedAt: now, UpdatedAt: now, Metadata: map[string]string{"team": "ops"},
		}
		if err := st.CreateClient(ctx, c); err != nil {
			b.Fatal(err)
		}
		meter.start(b)
		for b.Loop() {
			c.Generation++
			if err := st.UpdateClient(ctx, c, c.Generation-1); err != nil {
				b.Fatal(err)
			}
		}
		meter.report(b)
	})
}

// A meter reads this process's CPU time and, on PostgreSQL, that of the
// backend behind the store's connection.
type meter struct {
	cpu, srv int64
	backend  int
}

// meteredStore opens a migrated store on one connection, and its meter.
func meteredStore(b *testing.B, be backend) (*sqlstore.Store, *meter) {
	b.Helper()
	db := be.open(b)
	db.SetMaxOpenConns(1)
	st, err := sqlstore.Open(db, be.dialect)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	m := &meter{}
	if be.name == "postgres" {
		if err := db.QueryRow("SELECT pg_backend_pid()").Scan(&m.backend); err != nil {
			b.Fatal(err)
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/schedstat", m.backend)); err != nil {
			m.backend = 0 // the server runs elsewhere
		}
	}
	return st, m
}

func (m *meter) start(b *testing.B) {
	b.ResetTimer()
	m.cpu, m.srv = cpuTime(), m.server()
}

func (m *meter) report(b *testing.B) {
	b.ReportMetric(float64(cpuTime()-m.cpu)/float64(b.N), "cpu-ns/op")
	if m.backend != 0 {
		b.ReportMetric(float64(m.server()-m.srv)/float64(b.N), "srv-cpu-ns/op")
	}
}

// server is the backend's time on CPU in ns (schedstat's first field).
func (m *meter) server() int64 {
	if m.backend == 0 {
		return 0
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", m.backend))
	if err != nil {
		return 0
	}
	ns, _ := strconv.ParseInt(strings.Fields(string(raw))[0], 10, 64)
	return ns
}

func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
