package issuer_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/issuer"
	"github.com/portcullis/portcullis/store/memory"
)

// checkedStore is a memory store whose CheckStart answers as told.
type checkedStore struct {
	*memory.Store
	warnings []string
	err      error
}

func (s checkedStore) CheckStart(context.Context) ([]string, error) { return s.warnings, s.err }

// TestStartChecker: New refuses a store whose CheckStart fails (a Redis
// that may evict keys) and logs its warnings.
func TestStartChecker(t *testing.T) {
	errEvict := errors.New("may evict")
	if _, err := issuer.New(issuer.Config{Issuer: testIssuer, Store: checkedStore{Store: memory.New(), err: errEvict}}); !errors.Is(err, errEvict) {
		t.Errorf("New over a failing check: %v", err)
	}
	var log bytes.Buffer
	_, err := issuer.New(issuer.Config{Issuer: testIssuer, Store: checkedStore{Store: memory.New(), warnings: []string{"policy is volatile-lru"}},
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil || !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "volatile-lru") {
		t.Errorf("New over a warning check: %v; log %s", err, log.String())
	}
}
