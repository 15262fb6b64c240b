package token_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/portcullis/portcullis/internal/token"
	"github.com/portcullis/portcullis/store/memory"
)

// A resource server sharing the issuer's store reads the issuer's keys and
// never writes one: until the issuer has created a key, its verifier
// answers "unavailable".
func ExampleNewKeyReader() {
	ctx := context.Background()
	st := memory.New() // in production, the issuer's PostgreSQL, MySQL or Redis

	reader, err := token.NewKeyReader(ctx, token.KeyReaderConfig{Keys: st})
	if err != nil {
		panic(err)
	}
	_, err = reader.KeySet(ctx)
	fmt.Println("before the issuer starts:", errors.Is(err, token.ErrNoKeys))

	// The issuer starts and creates its first key.
	if _, err := token.NewKeyManager(ctx, token.KeyManagerConfig{Keys: st, Algorithm: token.EdDSA}); err != nil {
		panic(err)
	}
	ks, err := reader.Refresh(ctx) // or wait for MinRefreshInterval
	if err != nil {
		panic(err)
	}
	fmt.Println("after:", ks.Methods(), "can sign:", ks.SigningKey() != nil)
	// Output:
	// before the issuer starts: true
	// after: [EdDSA] can sign: false
}
