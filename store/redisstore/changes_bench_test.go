package redisstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/store"
)

// The writes that the change log rides on: a revocation (a new one each
// time, so each is logged) and a rotation, on one server and by the
// Cluster's path (the change, then the append) on one server. cpu-ns/op is
// this process's CPU time (getrusage); srv-cpu-ns/op that of the Redis
// server's main thread (/proc schedstat), when it runs on this machine: a
// server of your own, as others' commands count too. Wall time means little
// on a shared machine.

func BenchmarkRevokeLogged(b *testing.B) {
	forEachPath(b, func(b *testing.B, s *Store, m *srvMeter) {
		ctx := context.Background()
		exp := time.Now().Add(time.Hour)
		i := 0
		m.start(b)
		for b.Loop() {
			i++
			if err := s.Revoke(ctx, "jti-"+strconv.Itoa(i), exp); err != nil {
				b.Fatal(err)
			}
		}
		m.report(b)
	})
}

func BenchmarkUpdateClientLogged(b *testing.B) {
	forEachPath(b, func(b *testing.B, s *Store, m *srvMeter) {
		ctx := context.Background()
		now := time.Now().UTC()
		c := &store.Client{
			ID: "3f2a9c0d1e", SecretHash: make([]byte, 32), Name: "reports",
			Scopes: []string{"read", "write"}, Audiences: []string{"https://api.example.com"},
			Generation: 1, CreatedAt: now, UpdatedAt: now, Metadata: map[string]string{"team": "ops"},
		}
		if err := s.CreateClient(ctx, c); err != nil {
			b.Fatal(err)
		}
		m.start(b)
		for b.Loop() {
			c.Generation++
			if err := s.UpdateClient(ctx, c, c.Generation-1); err != nil {
				b.Fatal(err)
			}
		}
		m.report(b)
	})
}

func forEachPath(b *testing.B, f func(b *testing.B, s *Store, m *srvMeter)) {
	for _, oneServer := range []bool{true, false} {
		name := "one_server"
		if !oneServer {
			name = "cluster_path"
		}
		b.Run(name, func(b *testing.B) {
			s, rdb := fresh(b)
			s.oneServer = oneServer
			m := &srvMeter{}
			info, err := rdb.Info(context.Background(), "server").Result()
			if err != nil {
				b.Fatal(err)
			}
			for line := range strings.Lines(info) {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
					m.pid, _ = strconv.Atoi(v)
				}
			}
			if _, err := os.Stat(m.path()); err != nil {
				m.pid = 0
			}
			f(b, s, m)
		})
	}
}

type srvMeter struct {
	pid      int
	cpu, srv int64
}

func (m *srvMeter) path() string { return fmt.Sprintf("/proc/%d/task/%d/schedstat", m.pid, m.pid) }

func (m *srvMeter) server() int64 {
	raw, err := os.ReadFile(m.path())
	if m.pid == 0 || err != nil {
		return 0
	}
	ns, _ := strconv.ParseInt(strings.Fields(string(raw))[0], 10, 64)
	return ns
}

func (m *srvMeter) start(b *testing.B) {
	b.ResetTimer()
	m.cpu, m.srv = cpuTime(), m.server()
}

func (m *srvMeter) report(b *testing.B) {
	b.ReportMetric(float64(cpuTime()-m.cpu)/float64(b.N), "cpu-ns/op")
	if m.pid != 0 {
		b.ReportMetric(float64(m.server()-m.srv)/float64(b.N), "srv-cpu-ns/op")
	}
}

func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
